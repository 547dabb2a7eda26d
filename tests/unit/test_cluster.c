/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cluster.c - several nodes on one storage tree (issue 14): what
 * storage.indexDirectory keeps per node, and what stays shared.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testlib.h"
#include "storelib.h"

/* Node @i's index directory in the fixture's root: "<root>/node<i>". */
static void node_dir(const struct test_fixture *f, int i, char *out)
{
	path_of(f, out, "node%d", i);
}

static struct store *open_node_with(const struct test_fixture *f, int i,
                                    uint64_t recheck_ms, struct err *err)
{
	char tree[PATH_MAX], dir[PATH_MAX];
	struct store_opts o = {
		.dedupe = true, .index_dir = dir, .recheck_ms = recheck_ms};

	path_of(f, tree, "tree");
	node_dir(f, i, dir);
	return store_open_with(tree, &o, err);
}

/* Does "<root>/@rel" exist? */
static bool has(const struct test_fixture *f, const char *rel)
{
	char path[PATH_MAX];

	path_of(f, path, "%s", rel);
	return exists(path);
}

static struct store *open_node(const struct test_fixture *f, int i,
                               struct err *err)
{
	return open_node_with(f, i, 0, err);
}

/* cmocka setup: a fixture whose store is closed; the nodes open "tree". */
static int setup_nodes(void **state)
{
	if (setup(state) < 0)
		return -1;
	struct test_fixture *f = *state;
	store_close(f->st);
	f->st = NULL;
	return 0;
}

/* Two nodes open one tree; each keeps its index and lock to itself. */
static void test_two_nodes_one_tree(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b, *again;

	a = open_node(f, 1, &err);
	if (!a)
		fail_msg("node 1: %s", err.msg);
	b = open_node(f, 2, &err);
	if (!b)
		fail_msg("node 2: %s", err.msg);
	assert_true(has(f, "node1/index"));
	assert_true(has(f, "node2/index"));
	assert_false(has(f, "tree/.dray/index"));
	/* Still one process per index directory. */
	again = open_node(f, 1, &err);
	assert_null(again);
	assert_int_equal(err.code, ERR_BUSY);
	store_close(b);
	store_close(a);
}

/*
 * A node starting leaves the other's upload staging and temporaries alone
 * (a lone store clears both as a crash's leftovers).
 */
static void test_start_keeps_others_staging(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b;
	char id[STORE_UPLOAD_ID_MAX], tmp1[PATH_MAX], tmp2[PATH_MAX];
	const char *text = "staged on node 1";
	struct digest d = digest_of(DIGEST_SHA256, text, strlen(text));
	struct upload *u;

	a = open_node(f, 1, &err);
	assert_non_null(a);
	assert_int_equal(store_upload_start(a, "r", id, &err), 0);
	u = store_upload_get(a, "r", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, text, 9, &err), 0);
	store_upload_put(u);
	path_of(f, tmp1, "tree/.dray/tmp");
	assert_int_equal(count_entries(tmp1), 1); /* node 1's own */

	b = open_node(f, 2, &err);
	if (!b)
		fail_msg("node 2: %s", err.msg);
	assert_int_equal(count_entries(tmp1), 2); /* and node 2's */

	u = store_upload_get(a, "r", id, &err);
	assert_non_null(u);
	assert_int_equal(
		store_upload_append(u, text + 9, strlen(text) - 9, &err), 0);
	if (store_upload_commit(u, &d, &err) < 0)
		fail_msg("commit on node 1 after node 2 started: %s", err.msg);
	blob_file(f, "tree/r", &d, tmp2);
	assert_true(exists(tmp2));
	store_close(b);
	store_close(a);

	/* The node id, and so the temporaries' directory, stays. */
	a = open_node(f, 1, &err);
	assert_non_null(a);
	assert_int_equal(count_entries(tmp1), 2);
	store_close(a);
}

/* Two nodes push tags into one repository in turn: none is lost. */
static void test_pushes_from_both_nodes(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b;
	struct image im;
	char path[PATH_MAX], *text;
	size_t len;

	a = open_node(f, 1, &err);
	b = open_node(f, 2, &err);
	assert_non_null(a);
	assert_non_null(b);
	f->st = a;
	make_image(f, "r", "layer", "", &im);
	put_image(f, "r", "one", &im);
	f->st = b;
	put_image(f, "r", "two", &im);
	f->st = a;
	put_image(f, "r", "three", &im);
	f->st = NULL;
	path_of(f, path, "tree/r/index.json");
	text = slurp(path, &len);
	assert_non_null(strstr(text, "\"one\""));
	assert_non_null(strstr(text, "\"two\""));
	assert_non_null(strstr(text, "\"three\""));
	free(text);
	store_close(b);
	store_close(a);
}

struct pusher {
	struct test_fixture *f;
	const struct image *im;
	int done; /* atomic: the put returned */
};

static void *push_tag(void *arg)
{
	struct pusher *p = arg;

	put_image(p->f, "r", "late", p->im);
	__atomic_store_n(&p->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * The repository's lock holds across nodes: while another open file (as
 * another node's) holds an OFD lock on the repository's lock file, a push
 * waits; it goes through once that lock is released.
 */
static void test_lock_across_nodes(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct pusher p = {.f = f};
	struct image im;
	char path[PATH_MAX];
	pthread_t t;
	int fd;

	f->st = open_node(f, 1, &err);
	assert_non_null(f->st);
	make_image(f, "r", "layer", "", &im);
	put_image(f, "r", "first", &im);
	path_of(f, path, "tree/.dray/locks");
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	path_of(f, path, "tree/.dray/locks/r.lock");
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);

	p.im = &im;
	assert_int_equal(pthread_create(&t, NULL, push_tag, &p), 0);
	/*
	 * The push must not get through while the lock is held. A slow
	 * machine may not have got this far anyway: this can miss a broken
	 * lock, never fail a working one.
	 */
	struct timespec ts = {.tv_nsec = 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(__atomic_load_n(&p.done, __ATOMIC_SEQ_CST), 0);
	close(fd); /* releases it */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.done, 1);
	store_close(f->st);
	f->st = NULL;
}

/* The tag list @st serves for "r", in @out. */
static void tags_on(struct test_fixture *f, struct store *st, char *out,
                    size_t n)
{
	struct store *keep = f->st;

	f->st = st;
	tags_of(f, "r", out, n);
	f->st = keep;
}

/*
 * A reader trusts what it checked within recheck_ms: another node's tag
 * is not seen (no stat of index.json per request) until then, or until a
 * write, which checks under the lock across nodes. With the default 1 s
 * it is seen soon after.
 */
static void test_readers_recheck_by_interval(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b, *c;
	struct image im;
	char tags[256];

	a = open_node_with(f, 1, 3600 * 1000, &err); /* an hour */
	b = open_node(f, 2, &err);
	c = open_node(f, 3, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	f->st = a;
	make_image(f, "r", "layer", "", &im);
	put_image(f, "r", "one", &im);
	tags_on(f, a, tags, sizeof(tags));
	assert_string_equal(tags, "one");
	tags_on(f, c, tags, sizeof(tags));
	assert_string_equal(tags, "one");

	f->st = b;
	put_image(f, "r", "two", &im);
	tags_on(f, a, tags, sizeof(tags));
	assert_string_equal(tags, "one"); /* checked a moment ago */
	/* c checks again within its second: no time bound asserted. */
	do
		tags_on(f, c, tags, sizeof(tags));
	while (strcmp(tags, "one") == 0);
	assert_string_equal(tags, "one two");

	f->st = a;
	put_image(f, "r", "three", &im); /* a write re-reads index.json */
	tags_on(f, a, tags, sizeof(tags));
	assert_string_equal(tags, "one three two");
	f->st = NULL;
	store_close(c);
	store_close(b);
	store_close(a);
}

/* Without indexDirectory, everything stays in <root>/.dray as before. */
static void test_default_layout(void **state)
{
	struct test_fixture *f = *state;

	assert_true(has(f, ".dray/index"));
	assert_true(has(f, ".dray/lock"));
	assert_false(has(f, ".dray/node-id"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_nodes_one_tree,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_start_keeps_others_staging,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_pushes_from_both_nodes,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_lock_across_nodes,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(
			test_readers_recheck_by_interval, setup_nodes,
			teardown),
		TF(test_default_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
