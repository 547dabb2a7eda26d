/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_catalog.c - unit tests for the catalog and the reconcile behind it
 * (index/store.c, index/idx.c): a repository dray creates is listed at
 * once; a layout placed under the root by hand is listed after one
 * background reconcile, however many requests see the change, and no
 * request waits for it. Also the one answer to "which media types are
 * manifests".
 *
 * Each test gets its own mkdtemp root. Waits are for events (the
 * reconcile's state), never for a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "index/store.h"

/* Concurrent catalog requests in the one-reconcile test. */
#define N_REQ 16

static int setup(void **state)
{
	return test_fixture_setup(state, "catalog");
}

static int teardown(void **state)
{
	return test_fixture_teardown(state);
}

/* Write @text to <root>/@rel. */
static void put_file(const struct test_fixture *f, const char *rel,
                     const char *text)
{
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	assert_true(snprintf(path, sizeof(path), "%s/%s", f->root, rel) <
	            (int)sizeof(path));
	if (fs_write_atomic(f->root, path, text, strlen(text), &err) < 0)
		fail_msg("cannot write '%s': %s", path, err.msg);
}

/* A layout under <root>/@name, placed by hand as cp -r would. */
static void drop_layout(const struct test_fixture *f, const char *name)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct err err = ERR_INIT;

	assert_true(snprintf(path, sizeof(path), "%s/%s/blobs/sha256", f->root,
	                     name) < (int)sizeof(path));
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	snprintf(rel, sizeof(rel), "%s/index.json", name);
	put_file(f, rel, "{\"schemaVersion\":2,\"manifests\":[]}");
	snprintf(rel, sizeof(rel), "%s/oci-layout", name);
	put_file(f, rel, "{\"imageLayoutVersion\":\"1.0.0\"}");
}

/* Push blob @text into @repo as HTTP does (creating the repository). */
static void push_blob(struct test_fixture *f, const char *repo,
                      const char *text)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;
	struct digest d;

	assert_int_equal(
		digest_buffer(DIGEST_SHA256, text, strlen(text), &d, &err), 0);
	if (store_upload_start(f->st, repo, id, &err) < 0)
		fail_msg("upload_start '%s': %s", repo, err.msg);
	u = store_upload_get(f->st, repo, id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, text, strlen(text), &err), 0);
	if (store_upload_commit(u, &d, &err) < 0)
		fail_msg("commit into '%s': %s", repo, err.msg);
}

/* The whole catalog, joined by spaces, into @out. */
static void catalog(struct store *st, char *out, size_t n)
{
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	size_t off = 0;
	bool more;

	if (store_catalog(st, NULL, 1000, &sv, &more, &err) < 0)
		fail_msg("store_catalog: %s", err.msg);
	assert_false(more);
	out[0] = '\0';
	for (size_t i = 0; i < sv.n; i++) {
		int w = snprintf(out + off, n - off, "%s%s", i ? " " : "",
		                 sv.v[i]);

		assert_true(w > 0 && (size_t)w < n - off);
		off += (size_t)w;
	}
	strvec_release(&sv);
}

/* Wait until no background reconcile is asked for or running. */
static void wait_idle(struct store *st, struct store_reconcile_stats *out)
{
	const struct timespec ms = {0, 1000000};

	for (;;) {
		store_reconcile_stats(st, out);
		if (!out->busy)
			return;
		nanosleep(&ms, NULL);
	}
}

/* One catalog request of the concurrent test. */
struct req {
	struct store *st;         /* the store asked */
	pthread_barrier_t *start; /* all ask at once */
	char list[1024];          /* the answer, space-separated */
	int rc;                   /* store_catalog()'s result */
	enum err_code code;       /* its error */
};

static void *ask(void *arg)
{
	struct req *q = arg;
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	size_t off = 0;
	bool more;

	pthread_barrier_wait(q->start);
	q->rc = store_catalog(q->st, NULL, 1000, &sv, &more, &err);
	q->code = err.code;
	q->list[0] = '\0';
	for (size_t i = 0; q->rc == 0 && i < sv.n; i++) {
		int w = snprintf(q->list + off, sizeof(q->list) - off, "%s%s",
		                 i ? " " : "", sv.v[i]);

		if (w < 0 || (size_t)w >= sizeof(q->list) - off)
			break;
		off += (size_t)w;
	}
	strvec_release(&sv);
	return NULL;
}

/*
 * A plain directory <root>/team, seen by the reconcile it asks for: what
 * is pushed below it leaves the root's mtime be. The stats after in @out.
 */
static void plain_team_dir(struct test_fixture *f,
                           struct store_reconcile_stats *out)
{
	char path[PATH_MAX], list[1024];
	struct err err = ERR_INIT;

	snprintf(path, sizeof(path), "%s/team", f->root);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "");
	wait_idle(f->st, out);
}

static void test_a_pushed_repository_is_listed_without_a_reconcile(void **state)
{
	struct test_fixture *f = *state;
	struct store_reconcile_stats before, after;
	char list[1024];

	plain_team_dir(f, &before);
	push_blob(f, "team/app", "a");
	push_blob(f, "team/app/nested", "b");
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "team/app team/app/nested");
	/* The answer came from the index, not from a walk. */
	store_reconcile_stats(f->st, &after);
	assert_int_equal(after.queued, before.queued);
	assert_int_equal(after.runs, before.runs);
}

/*
 * The file DRAY_TEST_HOLD names ("reconcile:<hold_file>"): while it is
 * missing, a background reconcile stops before it walks. It exists
 * except inside the test that holds one.
 */
static char hold_dir[] = "/tmp/dray-catalog-hold.XXXXXX";
static char hold_file[PATH_MAX];

static void hold_release(void)
{
	int fd = open(hold_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
}

static void
test_concurrent_requests_after_a_root_change_reconcile_once(void **state)
{
	struct test_fixture *f = *state;
	struct store_reconcile_stats base, st;
	char list[1024];
	pthread_t th[N_REQ];
	struct req q[N_REQ];
	pthread_barrier_t start;

	push_blob(f, "pushed", "a");
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "pushed");
	wait_idle(f->st, &base); /* what the push's new directory asked for */

	assert_int_equal(unlink(hold_file), 0); /* the next reconcile waits */
	drop_layout(f, "dropped");
	drop_layout(f, "held");
	/*
	 * Answered at once: the reconcile this asks for waits at its hold
	 * point until the test releases it, so a request that waited for the
	 * walk would never return.
	 */
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "pushed");

	assert_int_equal(pthread_barrier_init(&start, NULL, N_REQ), 0);
	for (int i = 0; i < N_REQ; i++) {
		q[i] = (struct req){.st = f->st, .start = &start};
		assert_int_equal(pthread_create(&th[i], NULL, ask, &q[i]), 0);
	}
	for (int i = 0; i < N_REQ; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < N_REQ; i++) {
		assert_int_equal(q[i].rc, 0);
		assert_int_equal(q[i].code, ERR_OK);
		/* The last complete state: the walk has not begun. */
		if (strcmp(q[i].list, "pushed") != 0)
			fail_msg("request %d listed '%s'", i, q[i].list);
	}
	/* All answered while the one reconcile waits; none asked again. */
	store_reconcile_stats(f->st, &st);
	assert_int_equal(st.queued, base.queued + 1);
	assert_int_equal(st.runs, base.runs);
	assert_true(st.busy);

	/* Let the reconcile go on: both layouts are listed after it. */
	hold_release();
	wait_idle(f->st, &st);
	assert_int_equal(st.queued, base.queued + 1);
	assert_int_equal(st.runs, base.runs + 1);
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "dropped held pushed");
	store_reconcile_stats(f->st, &st);
	assert_int_equal(st.queued, base.queued + 1);
	assert_false(st.busy);
}

static void test_a_layout_removed_by_hand_leaves_after_a_reconcile(void **state)
{
	struct test_fixture *f = *state;
	struct store_reconcile_stats st;
	char path[PATH_MAX], list[1024];
	struct err err = ERR_INIT;

	push_blob(f, "kept", "a");
	push_blob(f, "gone", "b");
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "gone kept");
	wait_idle(f->st, &st);
	snprintf(path, sizeof(path), "%s/gone", f->root);
	assert_int_equal(fs_remove_tree(path, &err), 0);
	assert_false(store_repo_exists(f->st, "gone"));
	catalog(f->st, list, sizeof(list)); /* asks for the reconcile */
	wait_idle(f->st, &st);
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "kept");
}

static void test_a_withdrawal_through_the_mount_walks_nothing(void **state)
{
	struct test_fixture *f = *state;
	struct store_reconcile_stats before, after;
	char list[1024];
	struct err err = ERR_INIT;

	plain_team_dir(f, &before);
	push_blob(f, "team/app", "a");
	push_blob(f, "team/web", "b");
	/* rm of oci-layout withdraws the repository from HTTP at once. */
	assert_int_equal(store_fs_unlink(f->st, "team/app/oci-layout", &err),
	                 0);
	catalog(f->st, list, sizeof(list));
	assert_string_equal(list, "team/web");
	store_reconcile_stats(f->st, &after);
	assert_int_equal(after.runs, before.runs);
	assert_int_equal(after.queued, before.queued);
}

static void test_close_ends_a_background_reconcile(void **state)
{
	struct test_fixture *f = *state;
	char list[1024];

	for (int i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "hand%02d", i);
		drop_layout(f, name);
	}
	catalog(f->st, list, sizeof(list)); /* asks for it */
	store_close(f->st);                 /* may stop it half way */
	f->st = store_open(f->root, &(struct err){.code = ERR_OK});
	assert_non_null(f->st);
	/* The reconcile at open saw everything. */
	catalog(f->st, list, sizeof(list));
	assert_non_null(strstr(list, "hand00 "));
	assert_non_null(strstr(list, " hand49"));
}

static void test_the_manifest_media_types_have_one_answer(void **state)
{
	(void)state;
	assert_true(store_mt_is_image(MT_OCI_MANIFEST));
	assert_true(store_mt_is_image(MT_DOCKER_MANIFEST));
	assert_false(store_mt_is_image(MT_OCI_INDEX));
	assert_true(store_mt_is_index(MT_OCI_INDEX));
	assert_true(store_mt_is_index(MT_DOCKER_LIST));
	assert_false(store_mt_is_index(MT_DOCKER_MANIFEST));
	assert_true(store_mt_is_manifest(MT_DOCKER_LIST));
	assert_true(store_mt_is_manifest(MT_OCI_MANIFEST));
	assert_false(store_mt_is_manifest("application/json"));
	assert_false(store_mt_is_manifest(""));
	assert_false(store_mt_is_manifest(NULL));
	assert_false(store_mt_is_index(NULL));
	assert_false(store_mt_is_image(NULL));
}

int main(void)
{
	char hold_env[PATH_MAX + 16];
	int rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_a_pushed_repository_is_listed_without_a_reconcile,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_concurrent_requests_after_a_root_change_reconcile_once,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_layout_removed_by_hand_leaves_after_a_reconcile,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_withdrawal_through_the_mount_walks_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_close_ends_a_background_reconcile, setup,
			teardown),
		cmocka_unit_test(test_the_manifest_media_types_have_one_answer),
	};

	if (!mkdtemp(hold_dir))
		return 1;
	snprintf(hold_file, sizeof(hold_file), "%s/go", hold_dir);
	hold_release();
	/* Read once, at the first hold point: before any store opens. */
	snprintf(hold_env, sizeof(hold_env), "reconcile:%s", hold_file);
	setenv("DRAY_TEST_HOLD", hold_env, 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(hold_file);
	rmdir(hold_dir);
	return rc;
}
