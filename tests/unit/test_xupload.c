/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xupload.c - upload sessions and caches on a tree several nodes
 * share (issue 14): two stores, each with an index directory of its own,
 * on one tree; a session started on one continues, ends or is cancelled
 * on the other, and what one creates reaches the other's catalog.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <spawn.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "testlib.h"
#include "storelib.h"

/* Open node @i ("<root>/node<i>" its index directory) on "<root>/tree". */
static struct store *node(const struct test_fixture *f, int i,
                          struct store_opts o)
{
	char tree[PATH_MAX], dir[PATH_MAX];
	struct err err = ERR_INIT;
	struct store *st;

	path_of(f, tree, "tree");
	path_of(f, dir, "node%d", i);
	o.dedupe = true;
	o.index_dir = dir;
	st = store_open_with(tree, &o, &err);
	if (!st)
		fail_msg("node %d: %s", i, err.msg);
	return st;
}

/* cmocka setup: the fixture's own store is closed; nodes open "tree". */
static int setup_tree(void **state)
{
	struct test_fixture *f;

	if (setup(state) < 0)
		return -1;
	f = *state;
	store_close(f->st);
	f->st = NULL;
	return 0;
}

/* Append @len bytes of @buf to session @id of "r" through @st. */
static void append(struct store *st, const char *id, const void *buf,
                   size_t len)
{
	struct err err = ERR_INIT;
	struct upload *u = store_upload_get(st, "r", id, &err);

	if (!u)
		fail_msg("take %s: %s", id, err.msg);
	if (store_upload_append(u, buf, len, &err) < 0)
		fail_msg("append: %s", err.msg);
	store_upload_put(u);
}

static uint64_t offset_on(struct store *st, const char *id)
{
	struct err err = ERR_INIT;
	struct upload *u = store_upload_get(st, "r", id, &err);
	uint64_t off;

	if (!u)
		fail_msg("take %s: %s", id, err.msg);
	off = store_upload_offset(u);
	store_upload_put(u);
	return off;
}

static void commit_on(struct store *st, const char *id, const void *buf,
                      size_t len)
{
	struct digest d = digest_of(DIGEST_SHA256, buf, len);
	struct err err = ERR_INIT;
	struct upload *u = store_upload_get(st, "r", id, &err);

	if (!u)
		fail_msg("take %s: %s", id, err.msg);
	if (store_upload_commit(u, &d, &err) < 0)
		fail_msg("commit: %s", err.msg);
}

/* Blob @buf is served by @st, whole. */
static void assert_blob(struct store *st, const void *buf, size_t len)
{
	struct digest d = digest_of(DIGEST_SHA256, buf, len);
	struct err err = ERR_INIT;
	uint64_t size;

	if (store_blob_stat(st, "r", &d, &size, &err) < 0)
		fail_msg("blob: %s", err.msg);
	assert_int_equal(size, len);
}

static const char data[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* An upload id's length (index/store_int.h's UPLOAD_ID_LEN). */
#define UPLOAD_ID_CHARS 32

/* Started on node 1, continued and committed on node 2. */
static void test_started_on_one_finished_on_other(void **state)
{
	struct test_fixture *f = *state;
	struct store *a = node(f, 1, (struct store_opts){0});
	struct store *b = node(f, 2, (struct store_opts){0});
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;

	assert_int_equal(store_upload_start(a, "r", id, &err), 0);
	append(a, id, data, 10);
	assert_int_equal(offset_on(b, id), 10);
	append(b, id, data + 10, 5);
	commit_on(b, id, data, 15);
	assert_blob(a, data, 15);
	assert_blob(b, data, 15);
	/* Gone on both, the node that started it included. */
	assert_null(store_upload_get(a, "r", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_null(store_upload_get(b, "r", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(store_upload_count(a), 0);
	store_close(a);
	store_close(b);
}

/*
 * Chunks alternate between the nodes; the node that started the session
 * commits it, its running hash no longer covering the file. Also a
 * wrong digest on the last node is refused and the session stays.
 */
static void test_chunks_alternate(void **state)
{
	struct test_fixture *f = *state;
	struct store *n[2] = {node(f, 1, (struct store_opts){0}),
	                      node(f, 2, (struct store_opts){0})};
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct digest wrong = digest_of(DIGEST_SHA256, "x", 1);
	struct upload *u;

	assert_int_equal(store_upload_start(n[0], "r", id, &err), 0);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(offset_on(n[(i + 1) % 2], id), i * 6);
		append(n[i % 2], id, data + i * 6, 6);
	}
	u = store_upload_get(n[1], "r", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_commit(u, &wrong, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	store_upload_put(u);
	commit_on(n[0], id, data, 36);
	assert_blob(n[1], data, 36);
	store_close(n[0]);
	store_close(n[1]);
}

/* One node holds the session: the other is refused (ERR_BUSY). */
static void test_taken_on_one_busy_on_other(void **state)
{
	struct test_fixture *f = *state;
	struct store *a = node(f, 1, (struct store_opts){0});
	struct store *b = node(f, 2, (struct store_opts){0});
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(a, "r", id, &err), 0);
	u = store_upload_get(a, "r", id, &err);
	assert_non_null(u);
	assert_null(store_upload_get(b, "r", id, &err));
	assert_int_equal(err.code, ERR_BUSY);
	store_upload_put(u);
	/* And the other way round: node 2 holds it, node 1 waits out. */
	u = store_upload_get(b, "r", id, (err = ERR_INIT, &err));
	assert_non_null(u);
	assert_null(store_upload_get(a, "r", id, &err));
	assert_int_equal(err.code, ERR_BUSY);
	store_upload_put(u);
	store_close(a);
	store_close(b);
}

/* Cancelled on the other node: gone for both, the count freed. */
static void test_cancel_on_other(void **state)
{
	struct test_fixture *f = *state;
	struct store *a = node(f, 1, (struct store_opts){0});
	struct store *b = node(f, 2, (struct store_opts){0});
	char id[STORE_UPLOAD_ID_MAX], up[PATH_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(a, "r", id, &err), 0);
	append(a, id, data, 7);
	u = store_upload_get(b, "r", id, &err);
	assert_non_null(u);
	store_upload_cancel(u);
	assert_null(store_upload_get(a, "r", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(store_upload_count(a), 0);
	path_of(f, up, "tree/.dray/uploads");
	assert_int_equal(count_entries(up), 0);
	/* Another repository's name does not reach it either. */
	assert_int_equal(store_upload_start(a, "r", id, (err = ERR_INIT, &err)),
	                 0);
	assert_null(store_upload_get(b, "other", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	store_close(a);
	store_close(b);
}

/*
 * maxUploadSessions holds per node: past it a start is refused, until
 * another node ends one of them; maxBlobSize holds on the node that took
 * a session up.
 */
static void test_limits_past_the_bound(void **state)
{
	struct test_fixture *f = *state;
	struct store *a = node(f, 1, (struct store_opts){.max_uploads = 3});
	struct store *b = node(f, 2, (struct store_opts){.max_blob_size = 20});
	char id[4][STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	for (int i = 0; i < 3; i++)
		assert_int_equal(store_upload_start(a, "r", id[i], &err), 0);
	assert_int_equal(store_upload_start(a, "r", id[3], &err), -1);
	assert_int_equal(err.code, ERR_BUSY);
	assert_int_equal(store_upload_count(a), 3);
	/* Node 2 commits one of node 1's: node 1 may start another. */
	append(b, id[0], data, 4);
	commit_on(b, id[0], data, 4);
	assert_int_equal(
		store_upload_start(a, "r", id[3], (err = ERR_INIT, &err)), 0);
	assert_int_equal(store_upload_count(a), 3);
	/* Node 2's size limit on node 1's session. */
	append(b, id[1], data, 15);
	u = store_upload_get(b, "r", id[1], &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, data, 6, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	store_upload_put(u);
	assert_int_equal(offset_on(a, id[1]), 15);
	store_close(a);
	store_close(b);
}

/* Wait until the wall clock is past a file made now: ages exceed 0 ms. */
static void wait_a_tick(const struct test_fixture *f)
{
	char path[PATH_MAX];
	struct stat sb;
	struct timespec now;

	path_of(f, path, "tick");
	write_file(path, "", 0);
	assert_int_equal(stat(path, &sb), 0);
	do {
		clock_gettime(CLOCK_REALTIME, &now);
	} while (now.tv_sec * 1000 + now.tv_nsec / 1000000 <=
	         sb.st_ctim.tv_sec * 1000 + sb.st_ctim.tv_nsec / 1000000 + 1);
}

/*
 * Expiry by the files' age, on whichever node: an idle session of node 1
 * goes when node 2 sweeps, a session some request holds stays, and node
 * 1 forgets the one swept. Junk a crash left (a record without its
 * session) goes as well.
 */
static void test_expiry_by_file_age(void **state)
{
	struct test_fixture *f = *state;
	struct store *a = node(f, 1, (struct store_opts){0});
	struct store *b = node(f, 2, (struct store_opts){0});
	char idle[STORE_UPLOAD_ID_MAX], held[STORE_UPLOAD_ID_MAX];
	char junk[PATH_MAX], up[PATH_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(a, "r", idle, &err), 0);
	assert_int_equal(store_upload_start(a, "r", held, &err), 0);
	append(a, idle, data, 3);
	path_of(f, junk, "tree/.dray/uploads/%032x.info", 7);
	write_file(junk, "r\n", 2);
	/* Nothing is idle for an hour. */
	assert_int_equal(store_upload_expire(b, 3600 * 1000), 0);
	u = store_upload_get(a, "r", held, &err);
	assert_non_null(u);
	wait_a_tick(f);
	assert_int_equal(store_upload_expire(b, 0), 1);
	assert_false(exists(junk));
	store_upload_put(u);
	assert_null(store_upload_get(a, "r", idle, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(store_upload_count(a), 1);
	path_of(f, up, "tree/.dray/uploads");
	assert_int_equal(count_entries(up), 2); /* held and its record */
	store_close(a);
	store_close(b);
}

/*
 * The node that dies, a process of its own ("test_xupload --crash
 * ROOT", spawned: a fork of this multi-threaded process could not start
 * RocksDB's threads under TSan): node 1 starts a session, writes 10
 * bytes, takes it again for 7 more, prints the id and ends in the middle
 * of that request, nothing released.
 */
static int crash_child(const char *root)
{
	struct test_fixture f = {0};
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct store *a;
	struct upload *u;

	snprintf(f.root, sizeof(f.root), "%s", root);
	a = node(&f, 1, (struct store_opts){0});
	if (store_upload_start(a, "r", id, &err) < 0)
		_exit(1);
	append(a, id, data, 10);
	u = store_upload_get(a, "r", id, &err);
	if (!u || store_upload_append(u, data + 10, 7, &err) < 0 ||
	    printf("%s\n", id) < 0 || fflush(stdout) != 0)
		_exit(1);
	_exit(0);
}

/*
 * Node 1 dies mid-chunk, its session taken (no store_close, no release):
 * node 2 finishes the upload from what reached the file.
 */
static void test_crash_mid_upload_then_other_finishes(void **state)
{
	struct test_fixture *f = *state;
	char *argv[] = {"/proc/self/exe", "--crash", f->root, NULL};
	char id[STORE_UPLOAD_ID_MAX + 1];
	posix_spawn_file_actions_t fa;
	struct store *b;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fds[1], 1), 0);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ),
	                 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	assert_int_equal(read(fds[0], id, UPLOAD_ID_CHARS + 1),
	                 UPLOAD_ID_CHARS + 1);
	id[UPLOAD_ID_CHARS] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	b = node(f, 2, (struct store_opts){0});
	assert_int_equal(offset_on(b, id), 17);
	append(b, id, data + 17, 19);
	commit_on(b, id, data, 36);
	assert_blob(b, data, 36);
	store_close(b);
}

/* Does @st's catalog list @repo? */
static bool listed(struct store *st, const char *repo)
{
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	bool more, found = false;

	if (store_catalog(st, NULL, 1000, &sv, &more, &err) < 0)
		fail_msg("catalog: %s", err.msg);
	for (size_t i = 0; i < sv.n; i++)
		found = found || strcmp(sv.v[i], repo) == 0;
	strvec_release(&sv);
	return found;
}

/* Ask @st's catalog until it lists @repo (@want) or not: the event. */
static void wait_listed(struct store *st, const char *repo, bool want)
{
	while (listed(st, repo) != want)
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
}

/*
 * A repository another node creates below an existing directory (the
 * root's mtime does not change), or withdraws through its mount, reaches
 * this node's catalog after the recheck interval; the mount's cache is
 * bounded by the same interval on a shared tree only.
 */
static void test_catalog_sees_other_nodes_repositories(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts o = {.recheck_ms = 1};
	struct store *a = node(f, 1, o), *b = node(f, 2, o);
	struct test_fixture fa = *f;
	struct err err = ERR_INIT;

	char local[PATH_MAX];
	struct store *c = node(f, 3, (struct store_opts){0});

	/* The mount's bound: the recheck interval, none on a local tree. */
	assert_int_equal(store_fs_recheck_ms(b), 1);
	assert_int_equal(store_fs_recheck_ms(c), 1000);
	store_close(c);
	path_of(f, local, "local");
	c = store_open(local, &err);
	assert_non_null(c);
	assert_int_equal(store_fs_recheck_ms(c), 0);
	store_close(c);
	fa.st = a;
	push_blob(&fa, "ns/one", "one");
	wait_listed(b, "ns/one", true);
	push_blob(&fa, "ns/two", "two");
	wait_listed(b, "ns/two", true);
	assert_int_equal(store_fs_unlink(a, "ns/two/oci-layout", &err), 0);
	wait_listed(b, "ns/two", false);
	assert_true(listed(b, "ns/one"));
	store_close(a);
	store_close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_started_on_one_finished_on_other, setup_tree,
			teardown),
		cmocka_unit_test_setup_teardown(test_chunks_alternate,
	                                        setup_tree, teardown),
		cmocka_unit_test_setup_teardown(test_taken_on_one_busy_on_other,
	                                        setup_tree, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_on_other,
	                                        setup_tree, teardown),
		cmocka_unit_test_setup_teardown(test_limits_past_the_bound,
	                                        setup_tree, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_by_file_age,
	                                        setup_tree, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash_mid_upload_then_other_finishes, setup_tree,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_catalog_sees_other_nodes_repositories, setup_tree,
			teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--crash") == 0)
		return crash_child(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
