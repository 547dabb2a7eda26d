/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lockhold.c - long I/O runs outside the repository lock (issue 8
 * item 7): an upload commit that links to the content store's copy of its
 * blob hashes that copy first, and manifest requests on the repository are
 * answered meanwhile; a store copy that changes while it is being hashed
 * is looked at again before anything is linked to it.
 *
 * main() sets DRAY_TEST_HOLD="cas:<dir>/release" and sends the log to
 * <dir>/log before anything runs: the commit then pauses right after
 * hashing the store's copy, logs that it waits, and goes on once
 * <dir>/release exists. Tests wait for that log line, never for a time;
 * the 60 s limit on a manifest request only turns a hang (the old code,
 * which hashed under the lock) into a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
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
#include "daemon/log.h"
#include "index/store.h"

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER  "application/vnd.oci.image.layer.v1.tar"
/* The layer the commit links to the store's copy of. */
#define BIG (4u << 20)
/* Seconds a manifest request may take before it counts as hung. */
#define HANG_S 60

static char hold_dir[64]; /* main()'s directory: the log and release */
static char log_path[PATH_MAX];
static char release[PATH_MAX];

static int setup(void **state)
{
	unlink(release);
	return test_fixture_setup(state, "lockhold");
}

static int teardown(void **state)
{
	unlink(release);
	return test_fixture_teardown(state);
}

static struct digest sha256_of(const void *buf, size_t len)
{
	struct err err = ERR_INIT;
	struct digest d;

	assert_int_equal(digest_buffer(DIGEST_SHA256, buf, len, &d, &err), 0);
	return d;
}

/* @len pseudo-random bytes, the same for the same @seed. */
static unsigned char *make_bytes(size_t len, unsigned seed)
{
	unsigned char *b = malloc(len);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

/* Upload @len bytes of @buf into @repo and commit them: 0 or -1 (@err). */
static int push(struct store *st, const char *repo, const void *buf, size_t len,
                struct err *err)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct digest d = sha256_of(buf, len);
	struct upload *u;

	if (store_upload_start(st, repo, id, err) < 0)
		return -1;
	u = store_upload_get(st, repo, id, err);
	if (!u)
		return -1;
	if (store_upload_append(u, buf, len, err) < 0 ||
	    store_upload_commit(u, &d, err) < 0) {
		store_upload_put(u);
		return -1;
	}
	return 0;
}

static void push_ok(struct store *st, const char *repo, const void *buf,
                    size_t len)
{
	struct err err = ERR_INIT;

	if (push(st, repo, buf, len, &err) < 0)
		fail_msg("push into '%s': %s", repo, err.msg);
}

/* Push a small image (config "{}", one layer @layer) as @repo:v1. */
static void put_image(struct store *st, const char *repo, const char *layer,
                      char *body, size_t bodysz)
{
	char cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	struct digest dc, dl;
	int n;

	push_ok(st, repo, "{}", 2);
	push_ok(st, repo, layer, strlen(layer));
	dc = sha256_of("{}", 2);
	dl = sha256_of(layer, strlen(layer));
	digest_format(&dc, cfg);
	digest_format(&dl, lay);
	n = snprintf(body, bodysz,
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":2},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":%zu}]}",
	             cfg, lay, strlen(layer));
	assert_true(n > 0 && (size_t)n < bodysz);
	if (store_manifest_put(st, repo, "v1", MT_OCI_MANIFEST, body, (size_t)n,
	                       &res, &err) < 0)
		fail_msg("put %s:v1: %s", repo, err.msg);
}

/* How many lines of the log contain @s. */
static size_t log_count(const char *s)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, s))
			n++;
	fclose(f);
	return n;
}

/* Wait until the log has more than @before lines containing @s. */
static void wait_log(const char *s, size_t before)
{
	const struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};

	while (log_count(s) <= before)
		nanosleep(&tick, NULL);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fclose(f);
}

static ino_t inode_of(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return sb.st_ino;
}

/* "<root>/<repo>/blobs/sha256/<hex>" or, with @repo NULL, the store's. */
static void blob_file(const struct test_fixture *f, const char *repo,
                      const struct digest *d, char *out)
{
	int n = repo ? snprintf(out, PATH_MAX, "%s/%s/blobs/sha256/%s", f->root,
	                        repo, d->hex)
	             : snprintf(out, PATH_MAX, "%s/.dray/blobs/sha256/%s",
	                        f->root, d->hex);

	assert_true(n > 0 && n < PATH_MAX);
}

/* A push run on a thread of its own. */
struct bg_push {
	pthread_t thread;
	struct store *st;
	const char *repo;
	const unsigned char *buf;
	size_t len;
	int rc;
	struct err err;
};

static void *bg_push_main(void *arg)
{
	struct bg_push *p = arg;

	p->err = ERR_INIT;
	p->rc = push(p->st, p->repo, p->buf, p->len, &p->err);
	return NULL;
}

/* Manifest GET and PUT of one repository, on a thread of their own. */
struct bg_manifest {
	pthread_t thread;
	struct store *st;
	const char *repo;
	const char *body; /* PUT as tag "during" */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done; /* protected by lock */
	int rc;
	struct err err;
};

static void *bg_manifest_main(void *arg)
{
	struct bg_manifest *m = arg;
	struct manifest_put_result res;
	struct manifest_desc desc;
	char *body = NULL;

	m->err = ERR_INIT;
	m->rc = store_manifest_get(m->st, m->repo, "v1", &desc, &body, &m->err);
	if (m->rc == 0 && strcmp(body, m->body) != 0)
		m->rc = err_set(&m->err, ERR_INTERNAL, "GET gave other bytes");
	free(body);
	if (m->rc == 0)
		m->rc = store_manifest_put(m->st, m->repo, "during",
		                           MT_OCI_MANIFEST, m->body,
		                           strlen(m->body), &res, &m->err);
	pthread_mutex_lock(&m->lock);
	m->done = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/*
 * GET and PUT a manifest of @repo while the commit is paused: true if they
 * were answered within HANG_S seconds (a hang is released before this
 * returns, so that the paused thread and the request can end).
 */
static bool manifest_answers(struct store *st, const char *repo,
                             const char *body)
{
	struct bg_manifest m = {.st = st, .repo = repo, .body = body};
	struct timespec until;
	bool done;

	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	assert_int_equal(pthread_create(&m.thread, NULL, bg_manifest_main, &m),
	                 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HANG_S;
	pthread_mutex_lock(&m.lock);
	while (!m.done &&
	       pthread_cond_timedwait(&m.cond, &m.lock, &until) != ETIMEDOUT)
		;
	done = m.done;
	pthread_mutex_unlock(&m.lock);
	if (!done)
		touch(release); /* the lock is held across the pause */
	pthread_join(m.thread, NULL);
	pthread_cond_destroy(&m.cond);
	pthread_mutex_destroy(&m.lock);
	if (done && m.rc < 0)
		fail_msg("manifest GET/PUT of '%s': %s", repo, m.err.msg);
	return done;
}

/*
 * A layer repository "a" put into the content store is pushed into "b",
 * which holds an image of its own: the commit hashes the store's copy
 * before it takes b's lock, so b's manifests answer while that runs.
 */
static void test_commit_hashes_store_copy_outside_the_lock(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *big = make_bytes(BIG, 1);
	struct digest d = sha256_of(big, BIG);
	struct bg_push p = {.st = f->st, .repo = "b", .buf = big, .len = BIG};
	char body[2048], path[PATH_MAX], cas[PATH_MAX];
	size_t before = log_count("test hold: cas at");

	push_ok(f->st, "a", big, BIG);
	put_image(f->st, "b", "a small layer of b", body, sizeof(body));
	assert_int_equal(pthread_create(&p.thread, NULL, bg_push_main, &p), 0);
	wait_log("test hold: cas at", before);
	assert_true(manifest_answers(f->st, "b", body));
	touch(release);
	pthread_join(p.thread, NULL);
	if (p.rc < 0)
		fail_msg("held push: %s", p.err.msg);
	blob_file(f, "b", &d, path);
	blob_file(f, NULL, &d, cas);
	assert_int_equal(inode_of(path), inode_of(cas));
	free(big);
}

/*
 * The store's copy is replaced by a bad file after it was hashed and
 * before the commit links to it: the commit notices (another inode),
 * hashes it again, replaces the bad copy with its own verified file, and
 * links that. Nothing links the bad file.
 */
static void test_store_copy_changed_after_hashing_is_checked_again(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *big = make_bytes(BIG, 2), *bad = make_bytes(BIG, 3);
	struct digest d = sha256_of(big, BIG), got;
	struct bg_push p = {.st = f->st, .repo = "b", .buf = big, .len = BIG};
	char path[PATH_MAX], cas[PATH_MAX], tmp[PATH_MAX + 8];
	size_t before = log_count("test hold: cas at");
	size_t replaced = log_count("was bad: replaced");
	struct err err = ERR_INIT;
	FILE *out;
	int fd;

	push_ok(f->st, "a", big, BIG);
	blob_file(f, NULL, &d, cas);
	assert_int_equal(pthread_create(&p.thread, NULL, bg_push_main, &p), 0);
	wait_log("test hold: cas at", before);
	/* A bad file of the same size takes the store copy's name. */
	snprintf(tmp, sizeof(tmp), "%s.bad", cas);
	out = fopen(tmp, "w");
	assert_non_null(out);
	assert_int_equal(fwrite(bad, 1, BIG, out), BIG);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(rename(tmp, cas), 0);
	touch(release);
	pthread_join(p.thread, NULL);
	if (p.rc < 0)
		fail_msg("held push: %s", p.err.msg);
	assert_int_equal(log_count("was bad: replaced"), replaced + 1);
	blob_file(f, "b", &d, path);
	assert_int_equal(inode_of(path), inode_of(cas));
	fd = open(cas, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(digest_fd(DIGEST_SHA256, fd, &got, &err), 0);
	close(fd);
	assert_true(digest_equal(&got, &d));
	free(big);
	free(bad);
}

int main(void)
{
	struct err err = ERR_INIT;
	char hold[PATH_MAX + 16];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_commit_hashes_store_copy_outside_the_lock, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_store_copy_changed_after_hashing_is_checked_again,
			setup, teardown),
	};
	int rc;

	if (test_mkdtemp(hold_dir, sizeof(hold_dir), "lockhold-log") < 0)
		return 1;
	snprintf(log_path, sizeof(log_path), "%s/log", hold_dir);
	snprintf(release, sizeof(release), "%s/release", hold_dir);
	snprintf(hold, sizeof(hold), "cas:%s", release);
	setenv("DRAY_TEST_HOLD", hold, 1);
	if (log_open(log_path, LOG_DEBUG, &err) < 0) {
		fprintf(stderr, "log_open: %s\n", err.msg);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_close();
	test_rm_tree(hold_dir);
	return rc;
}
