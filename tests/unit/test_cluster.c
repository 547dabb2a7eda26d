/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cluster.c - several nodes on one storage tree (issue 14): what
 * storage.indexDirectory keeps per node, and what stays shared.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testlib.h"
#include "storelib.h"
#include "http/metrics.h"
#include "index/lease.h"

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

/*
 * Nodes @a (rechecking every @a_recheck_ms, 0: the default) and @b on
 * one tree: tag "one" of image @im pushed to "r" through a, then "two"
 * through b; f->st is left at a.
 */
static void one_two(struct test_fixture *f, uint64_t a_recheck_ms,
                    struct store **a, struct store **b, struct image *im)
{
	struct err err = ERR_INIT;

	*a = open_node_with(f, 1, a_recheck_ms, &err);
	assert_non_null(*a);
	*b = open_node(f, 2, &err);
	assert_non_null(*b);
	f->st = *a;
	make_image(f, "r", "layer", "", im);
	put_image(f, "r", "one", im);
	f->st = *b;
	put_image(f, "r", "two", im);
	f->st = *a;
}

/* Two nodes push tags into one repository in turn: none is lost. */
static void test_pushes_from_both_nodes(void **state)
{
	struct test_fixture *f = *state;
	struct store *a, *b;
	struct image im;
	char path[PATH_MAX], *text;
	size_t len;

	one_two(f, 0, &a, &b, &im);
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
 * Tag "three" pushed through node @a after tags "one" and "two": a write
 * re-reads index.json under the lock, so @a then lists all three.
 */
static void three_merges(struct test_fixture *f, struct store *a,
                         const struct image *im)
{
	char tags[256];

	f->st = a;
	put_image(f, "r", "three", im);
	tags_on(f, a, tags, sizeof(tags));
	assert_string_equal(tags, "one three two");
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

	three_merges(f, a, &im);
	f->st = NULL;
	store_close(c);
	store_close(b);
	store_close(a);
}

/*
 * A blob upload to a repository the node has loaded does not reload it:
 * the blob needs nothing of its manifests, and on a shared tree every
 * upload after another node's push re-read index.json and re-indexed the
 * repository. Another node's tag is seen at the next read past
 * recheck_ms, or at the next write, as before; the blob is there at once.
 */
static void test_blob_upload_leaves_loaded_repo(void **state)
{
	struct test_fixture *f = *state;
	struct store *a, *b;
	struct image im;
	struct digest d;
	char tags[256], path[PATH_MAX];

	one_two(f, 3600 * 1000, &a, &b, &im); /* a rechecks hourly */
	d = push_blob(f, "r", "a blob pushed after the other node's tag");
	path_of(f, path, "tree/r/blobs/sha256/%s", d.hex);
	assert_true(exists(path));
	tags_on(f, a, tags, sizeof(tags));
	assert_string_equal(tags, "one"); /* not reloaded by the upload */
	three_merges(f, a, &im);
	f->st = NULL;
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

/* Issue 14's leases, GC on a shared tree and lock files. */

/* A GC pass on @st with a delay of an hour; its report. */
static struct gc_report gc_on(struct store *st)
{
	struct gc_opts o = {.delay_ms = 3600 * 1000};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;

	if (store_gc(st, &o, NULL, NULL, &rep, &err) < 0)
		fail_msg("gc: %s", err.msg);
	return rep;
}

/* The age clock's offset file (daemon/clock.h), set up by main(). */
static char clock_dir[64], clock_file[96];

/*
 * The age clock two hours further ahead for what happens from now on:
 * everything stamped before is past GC's delay of an hour.
 */
static void age_all(void)
{
	static long long ahead;
	char line[64];
	struct timespec ts;
	long long now;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ahead += 7200;
	snprintf(line, sizeof(line), "%lld %lld\n", now, ahead);
	f = fopen(clock_file, "a");
	assert_non_null(f);
	assert_true(fputs(line, f) >= 0);
	assert_int_equal(fclose(f), 0);
	/* A stamp in the same millisecond would count as before. */
	do
		clock_gettime(CLOCK_REALTIME, &ts);
	while ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 <= now);
}

static bool gc_held(struct store *st)
{
	struct store_lease_stats ls;

	store_lease_stats(st, &ls);
	return ls.gc_held;
}

/*
 * One of two nodes holds the GC lease and collects; the other skips its
 * passes (and counts them) until the holder is gone, then collects.
 */
static void test_gc_lease(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store_lease_stats ls;
	struct store *a, *b;
	char path[PATH_MAX];
	struct digest d;

	a = open_node(f, 1, &err);
	b = open_node(f, 2, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(gc_held(a));
	assert_false(gc_on(a).skipped);
	assert_true(gc_held(a));
	assert_true(gc_on(b).skipped);
	assert_true(gc_on(b).skipped);
	assert_false(gc_held(b));
	store_lease_stats(b, &ls);
	assert_int_equal(ls.gc_skips, 2);
	assert_false(gc_on(a).skipped); /* kept between passes */

	f->st = a;
	d = push_blob(f, "r", "nobody names this");
	f->st = NULL;
	blob_file(f, "tree/r", &d, path);
	age_all();
	store_close(a); /* the lease goes with it */
	assert_int_equal(gc_on(b).blobs, 1);
	assert_true(gc_held(b));
	assert_false(exists(path));
	store_close(b);
}

/* Lines of /proc/locks that wait for a lock on inode @ino. */
static bool lock_waiter_on(ino_t ino)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/locks", "r");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		char *tok, *save = NULL;

		if (!strstr(line, "->"))
			continue;
		for (tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			char *last = strrchr(tok, ':');

			if (last && last != tok && strchr(tok, ':') != last &&
			    strtoull(last + 1, NULL, 10) == (uint64_t)ino)
				found = true;
		}
	}
	fclose(f);
	return found;
}

struct deleter {
	struct store *st;
	int done; /* atomic: store_blob_delete() got through the lock */
};

static void *delete_blob(void *arg)
{
	struct deleter *dl = arg;
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, "absent", 6);

	if (store_blob_delete(dl->st, "r", &d, &err) == 0)
		fail_msg("deleted a blob that is not there");
	__atomic_store_n(&dl->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * A repository's lock file removed by the node holding it (a repository
 * deleted) while a node waits on it, and made anew by a third that locks
 * it: the waiter must not take the old file's lock (two holders) but wait
 * for the new file's.
 */
static void test_lock_file_replaced(void **state)
{
	struct test_fixture *f = *state;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct err err = ERR_INIT;
	struct deleter dl = {0};
	struct image im;
	char path[PATH_MAX];
	struct stat old_sb, new_sb;
	pthread_t t;
	int old_fd, new_fd;

	f->st = open_node(f, 1, &err);
	assert_non_null(f->st);
	make_image(f, "r", "layer", "", &im);
	put_image(f, "r", "one", &im);
	path_of(f, path, "tree/.dray/locks/r.lock");
	old_fd = open(path, O_RDWR);
	assert_true(old_fd >= 0);
	assert_int_equal(fcntl(old_fd, F_OFD_SETLK, &fl), 0);
	assert_int_equal(fstat(old_fd, &old_sb), 0);

	dl.st = f->st;
	assert_int_equal(pthread_create(&t, NULL, delete_blob, &dl), 0);
	while (!lock_waiter_on(old_sb.st_ino))
		sched_yield();
	assert_int_equal(unlink(path), 0);           /* the holder deletes it */
	new_fd = open(path, O_RDWR | O_CREAT, 0644); /* a third node */
	assert_true(new_fd >= 0);
	assert_int_equal(fcntl(new_fd, F_OFD_SETLK, &fl), 0);
	assert_int_equal(fstat(new_fd, &new_sb), 0);
	close(old_fd);
	/* Either it got through (on the old file: wrong) or it waits. */
	while (!__atomic_load_n(&dl.done, __ATOMIC_SEQ_CST) &&
	       !lock_waiter_on(new_sb.st_ino))
		sched_yield();
	assert_int_equal(__atomic_load_n(&dl.done, __ATOMIC_SEQ_CST), 0);
	close(new_fd);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(dl.done, 1);
	store_close(f->st);
	f->st = NULL;
}

/*
 * GC removes the lock files of repositories that are gone, and only
 * those; a push to a removed repository's name makes a new one.
 */
static void test_gc_removes_dead_lock_files(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image im;
	char path[PATH_MAX];

	f->st = open_node(f, 1, &err);
	assert_non_null(f->st);
	make_image(f, "keep", "layer", "", &im);
	put_image(f, "keep", "one", &im);
	make_image(f, "gone/sub", "layer", "", &im);
	put_image(f, "gone/sub", "one", &im);
	path_of(f, path, "tree/gone");
	test_rm_tree(path);
	assert_int_equal(gc_on(f->st).locks, 1);
	assert_true(has(f, "tree/.dray/locks/keep.lock"));
	assert_false(has(f, "tree/.dray/locks/gone/sub.lock"));
	make_image(f, "gone/sub", "layer", "", &im);
	put_image(f, "gone/sub", "two", &im);
	assert_true(has(f, "tree/.dray/locks/gone/sub.lock"));
	store_close(f->st);
	f->st = NULL;
}

/*
 * The GC lease holder empties the staging of a node that is gone (its
 * liveness file unlocked), by ctime; a live node's is left alone.
 */
static void test_sweep_dead_node_staging(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b;
	char junk[PATH_MAX], young[PATH_MAX];
	char bdir[PATH_MAX], bid[20];

	a = open_node(f, 1, &err);
	b = open_node(f, 2, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(store_node_id(b));
	snprintf(bid, sizeof(bid), "%s", store_node_id(b));
	path_of(f, bdir, "tree/.dray/tmp/%s", bid);
	path_of(f, junk, "tree/.dray/tmp/%s/junk", bid);
	write_file(junk, "x", 1);
	age_all();
	assert_int_equal(gc_on(a).nodes, 0); /* b lives */
	assert_true(exists(junk));

	store_close(b);
	path_of(f, young, "tree/.dray/tmp/%s/young", bid);
	write_file(young, "y", 1);
	assert_int_equal(gc_on(a).nodes, 0); /* young is kept */
	assert_false(exists(junk));
	assert_true(exists(young));
	assert_int_equal(unlink(young), 0);
	assert_int_equal(gc_on(a).nodes, 1);
	assert_false(exists(bdir));
	path_of(f, junk, "tree/.dray/tmp/%s", store_node_id(a));
	assert_true(exists(junk)); /* its own stays */

	b = open_node(f, 2, &err); /* comes back: its staging too */
	assert_non_null(b);
	assert_true(exists(bdir));
	store_close(b);
	store_close(a);
}

/*
 * A blob that another node has just pushed again is young (its ctime
 * renewed under the repository's lock) and survives the GC that runs
 * before that node's manifest arrives; one GC did remove before the
 * manifest arrived is refused by the manifest's check of its blobs under
 * the lock: no manifest naming a missing blob is ever published.
 */
static void test_gc_spares_blob_other_node_linked(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct store *a, *b;
	char path[PATH_MAX];
	struct image im;

	a = open_node(f, 1, &err);
	b = open_node(f, 2, &err);
	assert_non_null(a);
	assert_non_null(b);
	f->st = a;
	make_image(f, "r", "old layer", "", &im); /* never named */
	age_all();
	f->st = b;
	make_image(f, "r", "old layer", "", &im); /* pushed again on b */
	assert_int_equal(gc_on(a).blobs, 0);
	put_image(f, "r", "one", &im);
	blob_file(f, "tree/r", &im.layer, path);
	assert_true(exists(path));

	f->st = a;
	make_image(f, "r", "another layer", "", &im);
	f->st = NULL;
	age_all();
	assert_int_equal(gc_on(a).blobs, 1); /* "{}" is named by "one" */
	f->st = b;
	assert_put_fails(f, "r", "two", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_NOT_FOUND, OCI_MANIFEST_BLOB_UNKNOWN);
	f->st = NULL;
	store_close(b);
	store_close(a);
}

/*
 * A node that cannot take a repository's lock across nodes changes
 * nothing: the write fails with ERR_IO (a 500 over HTTP, EIO through the
 * mount), where it used to go on under the process's mutex alone.
 */
static void test_write_refused_without_lock(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	char path[PATH_MAX], *text;
	struct image im;
	size_t len;

	f->st = open_node(f, 1, &err);
	assert_non_null(f->st);
	make_image(f, "q/sub", "layer", "", &im);
	path_of(f, path, "tree/.dray/locks/q"); /* no directory: no lock */
	test_rm_tree(path);
	write_file(path, "", 0);
	assert_put_fails(f, "q/sub", "one", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_IO, OCI_NONE);
	path_of(f, path, "tree/q/sub/index.json");
	text = slurp(path, &len);
	assert_null(strstr(text, "\"one\""));
	free(text);
	store_close(f->st);
	f->st = NULL;
}

/* Every dray_ series of a node on a shared tree names the node. */
static void test_metrics_node_label(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct metrics_info mi = {.version = "1", .root = f->root};
	struct metrics *m;
	char want[128], *text, *line, *save = NULL;
	size_t len, n = 0;

	f->st = open_node(f, 1, &err);
	assert_non_null(f->st);
	assert_false(gc_on(f->st).skipped);
	m = metrics_new(&mi, &err);
	assert_non_null(m);
	assert_int_equal(metrics_render(m, f->st, 0, &text, &len, &err), 0);
	snprintf(want, sizeof(want), "dray_gc_lease_held{node=\"%s\"} 1",
	         store_node_id(f->st));
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "{node=\"%s\"", store_node_id(f->st));
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "dray_", 5))
			continue;
		if (!strstr(line, want))
			fail_msg("no node label: %s", line);
		n++;
	}
	assert_true(n > 5);
	free(text);
	metrics_free(m);
	store_close(f->st);
	f->st = NULL;
}

/*
 * A node that leaves GC to the lease holder still ends its own idle
 * upload sessions (they live in its memory, no other node sees them).
 */
static void test_skipping_node_ends_its_idle_uploads(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct store *a, *b;
	struct gc_report rep;

	a = open_node(f, 1, &err);
	b = open_node(f, 2, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(gc_on(a).skipped);
	assert_int_equal(store_upload_start(b, "r", id, &err), 0);
	age_all();
	rep = gc_on(b);
	assert_true(rep.skipped);
	assert_int_equal(rep.uploads, 1);
	assert_null(store_upload_get(b, "r", id, &err));
	store_close(b);
	store_close(a);
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
		cmocka_unit_test_setup_teardown(
			test_blob_upload_leaves_loaded_repo, setup_nodes,
			teardown),
		TF(test_default_layout),
		cmocka_unit_test_setup_teardown(test_gc_lease, setup_nodes,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_lock_file_replaced,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_gc_removes_dead_lock_files,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_dead_node_staging,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(
			test_gc_spares_blob_other_node_linked, setup_nodes,
			teardown),
		cmocka_unit_test_setup_teardown(test_write_refused_without_lock,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_node_label,
	                                        setup_nodes, teardown),
		cmocka_unit_test_setup_teardown(
			test_skipping_node_ends_its_idle_uploads, setup_nodes,
			teardown),
	};

	int failed;

	if (test_clock_file(clock_dir, sizeof(clock_dir), clock_file,
	                    sizeof(clock_file), "cluster-clock") < 0)
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	test_rm_tree(clock_dir);
	return failed;
}
