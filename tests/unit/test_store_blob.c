/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_blob.c - unit tests for index/store.h: opening a store,
 * upload sessions and blobs, and the limits on them, through its public
 * API only. Each test opens a store in its own mkdtemp directory
 * (storelib.h has the shared helpers).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include <jansson.h>

#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store.h"
#include "tests/unit/storelib.h"

/* ---- opening ---- */

static void test_open_creates_internal_directory(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX];
	struct stat sb;

	path_of(f, path, ".dray");
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* Nothing else: no repository yet. */
	assert_int_equal(count_entries(f->root), 1);
}

static void test_open_creates_missing_root(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX], dray[PATH_MAX];
	struct err err = ERR_INIT;
	struct store *st;

	path_of(f, path, "new/root");
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(err.code, ERR_OK);
	path_of(f, dray, "new/root/.dray");
	assert_true(exists(dray));
	store_close(st);
	store_close(NULL);
}

static void test_open_on_a_file_fails(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	path_of(f, path, "file");
	write_file(path, "x", 1);
	assert_null(store_open(path, &err));
	assert_int_equal(err.code, ERR_EXISTS);
}

static void test_reopened_store_serves_what_was_stored(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image im;

	make_image(f, "alpine", "layer", "", &im);
	put_image(f, "alpine", "3.20", &im);
	store_close(f->st);
	f->st = store_open(f->root, &err);
	assert_non_null(f->st);
	assert_manifest(f, "alpine", "3.20", im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
}

/* ---- uploads and blobs ---- */

static void test_committed_upload_is_readable_as_blob(void **state)
{
	struct test_fixture *f = *state;
	static const char text[] = "hello, layout";
	char id[STORE_UPLOAD_ID_MAX], buf[64];
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, text, sizeof(text) - 1);
	struct upload *u;
	uint64_t size = 0;
	int fd = -1;

	assert_false(store_repo_exists(f->st, "app"));
	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	assert_true(id[0] != '\0');
	assert_true(strnlen(id, STORE_UPLOAD_ID_MAX) < STORE_UPLOAD_ID_MAX);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_offset(u), 0);
	assert_int_equal(store_upload_append(u, text, 5, &err), 0);
	assert_int_equal(store_upload_offset(u), 5);
	store_upload_put(u);
	/* A later request resumes where the first stopped. */
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_offset(u), 5);
	assert_int_equal(
		store_upload_append(u, text + 5, sizeof(text) - 6, &err), 0);
	assert_int_equal(store_upload_commit(u, &d, &err), 0);
	assert_int_equal(err.code, ERR_OK);

	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), 0);
	assert_int_equal(size, sizeof(text) - 1);
	assert_int_equal(store_blob_open(f->st, "app", &d, &fd, &size, &err),
	                 0);
	assert_int_equal(size, sizeof(text) - 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)size);
	assert_memory_equal(buf, text, size);
	close(fd);
	assert_true(store_repo_exists(f->st, "app"));
	/* The session is over. */
	assert_null(store_upload_get(f->st, "app", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

/* Push @len patterned bytes in pieces of uneven sizes; the digest. */
static struct digest push_in_pieces(struct test_fixture *f, const char *repo,
                                    unsigned char *data, size_t len,
                                    enum digest_alg alg)
{
	static const size_t piece[] = {1, 4097, (1u << 20) + 3, 65536};
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;
	struct digest d;
	size_t off = 0;

	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	d = digest_of(alg, data, len);
	assert_int_equal(store_upload_start(f->st, repo, id, &err), 0);
	for (size_t k = 0; off < len; k++) {
		size_t n = piece[k % 4] < len - off ? piece[k % 4] : len - off;

		/* Each piece is its own request, as a chunked push sends. */
		u = store_upload_get(f->st, repo, id, &err);
		assert_non_null(u);
		assert_int_equal(store_upload_offset(u), off);
		assert_int_equal(store_upload_append(u, data + off, n, &err),
		                 0);
		off += n;
		if (off < len)
			store_upload_put(u);
	}
	if (store_upload_commit(u, &d, &err) < 0)
		fail_msg("commit: %s", err.msg);
	return d;
}

static void assert_blob_is(struct test_fixture *f, const char *repo,
                           const struct digest *d, const unsigned char *data,
                           size_t len)
{
	struct err err = ERR_INIT;
	unsigned char *back = malloc(len + 1);
	uint64_t size = 0;
	size_t got = 0;
	ssize_t n;
	int fd = -1;

	assert_non_null(back);
	assert_int_equal(store_blob_open(f->st, repo, d, &fd, &size, &err), 0);
	assert_int_equal(size, len);
	while ((n = read(fd, back + got, len + 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	assert_int_equal(got, len);
	assert_memory_equal(back, data, len);
	free(back);
}

/*
 * Large uploads go to disk in aligned blocks (O_DIRECT, AIO) and the
 * file is grown ahead of them: whatever the piece sizes, the blob holds
 * exactly the bytes sent, with the size sent.
 */
static void test_large_upload_in_uneven_pieces(void **state)
{
	struct test_fixture *f = *state;
	size_t len = (5u << 20) + 4099;
	unsigned char *data = malloc(len);
	struct digest d;

	assert_non_null(data);
	d = push_in_pieces(f, "big", data, len, DIGEST_SHA256);
	assert_blob_is(f, "big", &d, data, len);
	/* Exactly one block, and a sha512 digest (hashed from the file). */
	d = push_in_pieces(f, "big", data, 1u << 20, DIGEST_SHA512);
	assert_blob_is(f, "big", &d, data, 1u << 20);
	d = push_in_pieces(f, "big", data, (2u << 20) + 1, DIGEST_SHA512);
	assert_blob_is(f, "big", &d, data, (2u << 20) + 1);
	free(data);
}

/* Where O_DIRECT is refused, uploads go through the page cache. */
static void test_large_upload_through_the_page_cache(void **state)
{
	struct test_fixture *f = *state, buffered = {0};
	struct store_opts o = {.buffered_uploads = true};
	size_t len = (3u << 20) + 5;
	unsigned char *data = malloc(len);
	struct err err = ERR_INIT;
	struct digest d;

	assert_non_null(data);
	/* A second store on the same root: the first one is closed. */
	store_close(f->st);
	f->st = NULL;
	memcpy(buffered.root, f->root, sizeof(buffered.root));
	buffered.st = store_open_with(buffered.root, &o, &err);
	if (!buffered.st)
		fail_msg("store_open_with: %s", err.msg);
	d = push_in_pieces(&buffered, "big", data, len, DIGEST_SHA256);
	assert_blob_is(&buffered, "big", &d, data, len);
	d = push_in_pieces(&buffered, "big", data, len - 9, DIGEST_SHA512);
	assert_blob_is(&buffered, "big", &d, data, len - 9);
	f->st = buffered.st;
	free(data);
}

static void test_commit_with_wrong_digest_stores_nothing(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX], path[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest wrong = digest_of(DIGEST_SHA256, "other", 5);
	struct digest right = digest_of(DIGEST_SHA256, "payload", 7);
	struct digest whole = digest_of(DIGEST_SHA256, "payload!", 8);
	struct upload *u;
	uint64_t size;

	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, "payload", 7, &err), 0);
	assert_int_equal(store_upload_commit(u, &wrong, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);

	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "app", &wrong, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "app", &right, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(store_repo_exists(f->st, "app"));
	path_of(f, path, ".dray/blobs/sha256");
	assert_int_equal(count_entries(path), 0);

	/* The session stays, still taken, at the same offset. */
	assert_int_equal(store_upload_offset(u), 7);
	assert_int_equal(store_upload_append(u, "!", 1, &err), 0);
	/* A sha512 reference is checked too. */
	err = ERR_INIT;
	wrong = digest_of(DIGEST_SHA512, "payload", 7);
	assert_int_equal(store_upload_commit(u, &wrong, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_upload_commit(u, &whole, &err), 0);
	assert_int_equal(store_blob_stat(f->st, "app", &whole, &size, &err), 0);
	assert_int_equal(size, 8);
}

static void test_sha512_commit_stores_under_sha512(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	uint64_t size;
	char *buf;
	size_t len;

	d = push_blob_alg(f, "app", "five hundred and twelve", 23,
	                  DIGEST_SHA512);
	assert_int_equal(d.alg, DIGEST_SHA512);
	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), 0);
	assert_int_equal(size, 23);
	blob_file(f, "app", &d, path);
	assert_non_null(strstr(path, "/blobs/sha512/"));
	buf = slurp(path, &len);
	assert_int_equal(len, 23);
	assert_memory_equal(buf, "five hundred and twelve", 23);
	free(buf);
}

static void test_two_uploads_of_same_content_end_as_one_file(void **state)
{
	struct test_fixture *f = *state;
	char id1[STORE_UPLOAD_ID_MAX], id2[STORE_UPLOAD_ID_MAX];
	char dir[PATH_MAX], path[PATH_MAX], cas[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, "same", 4);
	struct upload *u1, *u2;

	assert_int_equal(store_upload_start(f->st, "app", id1, &err), 0);
	assert_int_equal(store_upload_start(f->st, "app", id2, &err), 0);
	assert_string_not_equal(id1, id2);
	u1 = store_upload_get(f->st, "app", id1, &err);
	u2 = store_upload_get(f->st, "app", id2, &err);
	assert_non_null(u1);
	assert_non_null(u2);
	assert_int_equal(store_upload_append(u1, "same", 4, &err), 0);
	assert_int_equal(store_upload_append(u2, "same", 4, &err), 0);
	assert_int_equal(store_upload_commit(u1, &d, &err), 0);
	assert_int_equal(store_upload_commit(u2, &d, &err), 0);
	assert_int_equal(err.code, ERR_OK);

	path_of(f, dir, "app/blobs/sha256");
	assert_int_equal(count_entries(dir), 1);
	path_of(f, dir, ".dray/blobs/sha256");
	assert_int_equal(count_entries(dir), 1);
	path_of(f, dir, ".dray/uploads");
	assert_int_equal(count_entries(dir), 0);
	/* With dedupe (the default) it is the content store's copy. */
	blob_file(f, "app", &d, path);
	path_of(f, cas, ".dray/blobs/sha256/%s", d.hex);
	assert_int_equal(inode_of(path), inode_of(cas));
}

static void test_same_content_in_two_repositories_is_one_inode(void **state)
{
	struct test_fixture *f = *state;
	char a[PATH_MAX], b[PATH_MAX];
	struct digest da, db;

	da = push_blob(f, "one", "shared layer");
	db = push_blob(f, "two/nested", "shared layer");
	assert_true(digest_equal(&da, &db));
	blob_file(f, "one", &da, a);
	blob_file(f, "two/nested", &db, b);
	assert_int_equal(inode_of(a), inode_of(b));
}

static void test_upload_into_invalid_repository_is_refused(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX], dir[PATH_MAX];
	struct err err = ERR_INIT;

	assert_int_equal(store_upload_start(f->st, "Bad/Name", id, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_upload_start(f->st, "../escape", id, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_upload_start(f->st, "a/blobs", id, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	path_of(f, dir, ".dray/uploads");
	assert_int_equal(count_entries(dir), 0);
}

static void test_upload_get_of_unknown_id_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;

	assert_null(store_upload_get(f->st, "app", "0123456789abcdef", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_null(store_upload_get(f->st, "app", "", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* A real id, asked for through another repository. */
	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	err = ERR_INIT;
	assert_null(store_upload_get(f->st, "other", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	store_upload_put(NULL);
}

static void test_upload_taken_twice_is_busy(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u, *again;

	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_null(store_upload_get(f->st, "app", id, &err));
	assert_int_equal(err.code, ERR_BUSY);
	store_upload_put(u);
	err = ERR_INIT;
	again = store_upload_get(f->st, "app", id, &err);
	assert_ptr_equal(again, u);
	assert_int_equal(err.code, ERR_OK);
	store_upload_cancel(again);
}

static void test_cancel_removes_staging_file(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX], dir[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, "data", 4);
	struct upload *u;
	uint64_t size;

	path_of(f, dir, ".dray/uploads");
	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	assert_int_equal(count_entries(dir), 1);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, "data", 4, &err), 0);
	store_upload_cancel(u);
	assert_int_equal(count_entries(dir), 0);
	assert_null(store_upload_get(f->st, "app", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	store_upload_cancel(NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void test_expire_removes_only_idle_sessions(void **state)
{
	struct test_fixture *f = *state;
	char idle[STORE_UPLOAD_ID_MAX], taken[STORE_UPLOAD_ID_MAX];
	char dir[PATH_MAX];
	struct err err = ERR_INIT;
	struct upload *u, *v;

	path_of(f, dir, ".dray/uploads");
	assert_int_equal(store_upload_start(f->st, "app", idle, &err), 0);
	assert_int_equal(store_upload_start(f->st, "app", taken, &err), 0);
	u = store_upload_get(f->st, "app", taken, &err);
	assert_non_null(u);
	/* Nothing has been idle for a minute. */
	assert_int_equal(store_upload_expire(f->st, 60 * 1000), 0);
	sleep_ms(30);
	/* The idle one goes; the one a request holds stays. */
	assert_int_equal(store_upload_expire(f->st, 10), 1);
	assert_int_equal(count_entries(dir), 1);
	assert_null(store_upload_get(f->st, "app", idle, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	store_upload_put(u);
	/* Giving it back counts as use. */
	assert_int_equal(store_upload_expire(f->st, 10000), 0);
	err = ERR_INIT;
	v = store_upload_get(f->st, "app", taken, &err);
	assert_ptr_equal(v, u);
	store_upload_put(v);
}

static void
test_expire_with_idle_time_beyond_uptime_keeps_sessions(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	/*
	 * A fresh session has not been idle for 2^62 ms (nor for a week,
	 * which is longer than a recently booted host's monotonic clock).
	 */
	assert_int_equal(store_upload_expire(f->st, 1ULL << 62), 0);
	assert_int_equal(store_upload_expire(f->st, 7 * 24 * 3600 * 1000ULL),
	                 0);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	store_upload_put(u);
}

/*
 * A clean close parks the open sessions; the next open resumes them where
 * they stopped, and the commit checks the whole content. A record that
 * no longer matches its staging file (a crash after a resume) is dropped.
 */
static void test_close_parks_uploads_and_open_resumes_them(void **state)
{
	struct test_fixture *f = *state;
	static const char text[] = "partial, then the rest";
	char id1[STORE_UPLOAD_ID_MAX], id2[STORE_UPLOAD_ID_MAX];
	char dir[PATH_MAX], path[PATH_MAX];
	struct digest d = digest_of(DIGEST_SHA256, text, sizeof(text) - 1);
	struct digest wrong = digest_of(DIGEST_SHA256, "partial", 7);
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(f->st, "app", id1, &err), 0);
	assert_int_equal(store_upload_start(f->st, "app", id2, &err), 0);
	u = store_upload_get(f->st, "app", id1, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, text, 7, &err), 0);
	store_upload_put(u);
	path_of(f, dir, ".dray/uploads");
	assert_int_equal(count_entries(dir), 2);
	store_close(f->st);
	f->st = NULL;
	/* Each staging file, and a record of it. */
	assert_int_equal(count_entries(dir), 4);
	f->st = store_open(f->root, &err);
	assert_non_null(f->st);
	assert_int_equal(count_entries(dir), 2);
	u = store_upload_get(f->st, "app", id1, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_offset(u), 7);
	assert_int_equal(
		store_upload_append(u, text + 7, sizeof(text) - 8, &err), 0);
	/* The rehash at commit sees what the file holds. */
	assert_int_equal(store_upload_commit(u, &wrong, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_upload_commit(u, &d, &err), 0);
	assert_blob_is(f, "app", &d, (const unsigned char *)text,
	               sizeof(text) - 1);
	u = store_upload_get(f->st, "app", id2, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_offset(u), 0);
	store_upload_put(u);

	/* id2's record says 0 bytes; its file now holds more. */
	store_close(f->st);
	f->st = NULL;
	path_of(f, path, ".dray/uploads/%s", id2);
	write_file(path, "grew after the record", 21);
	f->st = store_open(f->root, &err);
	assert_non_null(f->st);
	assert_null(store_upload_get(f->st, "app", id2, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(count_entries(dir), 0);
}

/* The idle time of a parked session spans the restart: GC still ends it. */
static void test_parked_uploads_keep_their_idle_time(void **state)
{
	struct test_fixture *f = *state;
	struct timespec wait = {1, 200 * 1000 * 1000};
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(f->st, "app", id, &err), 0);
	u = store_upload_get(f->st, "app", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, "abandoned", 9, &err), 0);
	store_upload_put(u);
	nanosleep(&wait, NULL);
	store_close(f->st);
	f->st = store_open(f->root, &err);
	assert_non_null(f->st);
	assert_int_equal(store_upload_expire(f->st, 60000), 0);
	assert_int_equal(store_upload_expire(f->st, 1000), 1);
	assert_null(store_upload_get(f->st, "app", id, &err));
}

static void test_reopen_clears_orphaned_staging_files(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX], dir[PATH_MAX];
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = NULL;
	path_of(f, path, ".dray/uploads/0123456789abcdef0123456789abcdef");
	write_file(path, "left by a crash", 15);
	path_of(f, path, ".dray/tmp/atomic.abcdef");
	write_file(path, "half", 4);
	f->st = store_open(f->root, &err);
	assert_non_null(f->st);
	path_of(f, dir, ".dray/uploads");
	assert_int_equal(count_entries(dir), 0);
	path_of(f, dir, ".dray/tmp");
	assert_int_equal(count_entries(dir), 0);
}

static void test_blob_stat_of_unknown_blob_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, "nope", 4);
	uint64_t size;
	int fd;

	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_open(f->st, "app", &d, &fd, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	push_blob(f, "app", "something else");
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "../x", &d, &size, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_blob_mount_links_the_same_inode(void **state)
{
	struct test_fixture *f = *state;
	char src[PATH_MAX], dst[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	uint64_t size;

	d = push_blob(f, "from", "mounted content");
	assert_false(store_repo_exists(f->st, "to/here"));
	assert_int_equal(store_blob_mount(f->st, "to/here", "from", &d, &err),
	                 0);
	assert_int_equal(err.code, ERR_OK);
	assert_true(store_repo_exists(f->st, "to/here"));
	assert_int_equal(store_blob_stat(f->st, "to/here", &d, &size, &err), 0);
	assert_int_equal(size, strlen("mounted content"));
	blob_file(f, "from", &d, src);
	blob_file(f, "to/here", &d, dst);
	assert_int_equal(inode_of(src), inode_of(dst));
	/* Mounting again is fine. */
	assert_int_equal(store_blob_mount(f->st, "to/here", "from", &d, &err),
	                 0);
}

static void test_blob_mount_of_missing_blob_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct digest d = digest_of(DIGEST_SHA256, "absent", 6);

	push_blob(f, "from", "present");
	assert_int_equal(store_blob_mount(f->st, "to", "from", &d, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_mount(f->st, "to", "nowhere", &d, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(store_repo_exists(f->st, "to"));
	err = ERR_INIT;
	assert_int_equal(store_blob_mount(f->st, "to", "From", &d, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_blob_adopt_links_from_a_holder(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct digest d, absent = digest_of(DIGEST_SHA256, "absent", 6);
	char src[PATH_MAX];
	uint64_t size;

	d = push_blob(f, "from", "adopted content");
	assert_int_equal(store_blob_adopt(f->st, "to", &d, &err), 0);
	assert_int_equal(store_blob_stat(f->st, "to", &d, &size, &err), 0);
	assert_int_equal(size, strlen("adopted content"));
	/* Nobody holds it: not found, and no repository made. */
	assert_int_equal(store_blob_adopt(f->st, "other", &absent, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(store_repo_exists(f->st, "other"));
	/* A file gone behind the index's back is not taken on its word. */
	err = ERR_INIT;
	blob_file(f, "from", &d, src);
	assert_int_equal(unlink(src), 0);
	blob_file(f, "to", &d, src);
	assert_int_equal(unlink(src), 0);
	assert_int_equal(store_blob_adopt(f->st, "third", &d, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void test_delete_of_referenced_blob_is_refused(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image im;
	uint64_t size;

	make_image(f, "app", "layer bytes", "", &im);
	put_image(f, "app", "v1", &im);
	assert_int_equal(store_blob_delete(f->st, "app", &im.layer, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
	err = ERR_INIT;
	assert_int_equal(store_blob_delete(f->st, "app", &im.config, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
	assert_int_equal(store_blob_stat(f->st, "app", &im.layer, &size, &err),
	                 0);
	/* Untagged, the manifest still references it. */
	assert_int_equal(store_manifest_delete(f->st, "app", "v1", &err), 0);
	assert_int_equal(store_blob_delete(f->st, "app", &im.layer, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
}

static void test_delete_of_unreferenced_blob_removes_it(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct digest d, keep;
	uint64_t size;

	d = push_blob(f, "app", "loose");
	keep = push_blob(f, "other", "loose");
	assert_int_equal(store_blob_delete(f->st, "app", &d, &err), 0);
	assert_int_equal(store_blob_stat(f->st, "app", &d, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* Only from that repository. */
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "other", &keep, &size, &err),
	                 0);
	assert_int_equal(store_blob_delete(f->st, "app", &d, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_delete(f->st, "nothing", &d, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void reopen_with(struct test_fixture *f, const struct store_opts *opts)
{
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open_with(f->root, opts, &err);
	if (!f->st)
		fail_msg("reopen: %s", err.msg);
}

static void
test_upload_sessions_are_capped_in_all_and_per_repository(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts opts = {
		.dedupe = true, .max_uploads = 3, .max_uploads_per_repo = 2};
	char a1[STORE_UPLOAD_ID_MAX], a2[STORE_UPLOAD_ID_MAX];
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	reopen_with(f, &opts);
	assert_int_equal(store_upload_start(f->st, "a", a1, &err), 0);
	assert_int_equal(store_upload_start(f->st, "a", a2, &err), 0);
	assert_int_equal(store_upload_start(f->st, "a", id, &err), -1);
	assert_int_equal(err.code, ERR_BUSY);
	err = ERR_INIT;
	assert_int_equal(store_upload_start(f->st, "b", id, &err), 0);
	assert_int_equal(store_upload_start(f->st, "c", id, &err), -1);
	assert_int_equal(err.code, ERR_BUSY);
	err = ERR_INIT;
	/* An ended session gives its place back, to its repository too. */
	u = store_upload_get(f->st, "a", a1, &err);
	assert_non_null(u);
	store_upload_cancel(u);
	assert_int_equal(store_upload_start(f->st, "a", id, &err), 0);
	assert_int_equal(store_upload_start(f->st, "c", id, &err), -1);
	assert_int_equal(err.code, ERR_BUSY);
	/* A session over its place is refused at the next start too. */
	opts.max_uploads = 2;
	reopen_with(f, &opts);
	err = ERR_INIT;
	assert_int_equal(store_upload_start(f->st, "d", id, &err), -1);
	assert_int_equal(err.code, ERR_BUSY);
}

/* How many descriptors this process has open. */
static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void
test_upload_session_holds_no_descriptor_between_requests(void **state)
{
	struct test_fixture *f = *state;
	static char big[3u << 20];
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	struct upload *u;
	size_t before = open_fds();

	memset(big, 'x', sizeof(big));
	d = digest_of(DIGEST_SHA256, big, sizeof(big));
	assert_int_equal(store_upload_start(f->st, "fds", id, &err), 0);
	assert_int_equal(open_fds(), before);
	/* Three requests of 1 MiB + 1, 1 MiB - 1 and 1 MiB bytes. */
	for (size_t off = 0, i = 0; i < 3; i++) {
		size_t n = (1u << 20) + (i == 0) - (i == 1);

		u = store_upload_get(f->st, "fds", id, &err);
		assert_non_null(u);
		assert_int_equal(store_upload_offset(u), off);
		assert_int_equal(store_upload_append(u, big + off, n, &err), 0);
		off += n;
		if (i == 2)
			break;
		store_upload_put(u);
		assert_int_equal(open_fds(), before);
	}
	assert_int_equal(store_upload_commit(u, &d, &err), 0);
	assert_int_equal(open_fds(), before);
	assert_int_equal(err.code, ERR_OK);
}

static void test_upload_past_max_blob_size_is_too_large(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts opts = {.dedupe = true, .max_blob_size = 10};
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	reopen_with(f, &opts);
	assert_int_equal(store_upload_start(f->st, "big", id, &err), 0);
	u = store_upload_get(f->st, "big", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_room(u, 10, &err), 0);
	assert_int_equal(store_upload_room(u, 11, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	err = ERR_INIT;
	assert_int_equal(store_upload_append(u, "12345678", 8, &err), 0);
	assert_int_equal(store_upload_append(u, "abc", 3, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_int_equal(store_upload_offset(u), 8);
	err = ERR_INIT;
	assert_int_equal(store_upload_append(u, "ab", 2, &err), 0);
	store_upload_cancel(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(test_open_creates_internal_directory),
		TF(test_open_creates_missing_root),
		TF(test_open_on_a_file_fails),
		TF(test_reopened_store_serves_what_was_stored),
		TF(test_committed_upload_is_readable_as_blob),
		TF(test_large_upload_in_uneven_pieces),
		TF(test_large_upload_through_the_page_cache),
		TF(test_commit_with_wrong_digest_stores_nothing),
		TF(test_sha512_commit_stores_under_sha512),
		TF(test_two_uploads_of_same_content_end_as_one_file),
		TF(test_same_content_in_two_repositories_is_one_inode),
		TF(test_upload_into_invalid_repository_is_refused),
		TF(test_upload_get_of_unknown_id_is_not_found),
		TF(test_upload_taken_twice_is_busy),
		TF(test_cancel_removes_staging_file),
		TF(test_expire_removes_only_idle_sessions),
		TF(test_expire_with_idle_time_beyond_uptime_keeps_sessions),
		TF(test_close_parks_uploads_and_open_resumes_them),
		TF(test_parked_uploads_keep_their_idle_time),
		TF(test_reopen_clears_orphaned_staging_files),
		TF(test_blob_stat_of_unknown_blob_is_not_found),
		TF(test_blob_mount_links_the_same_inode),
		TF(test_blob_mount_of_missing_blob_is_not_found),
		TF(test_blob_adopt_links_from_a_holder),
		TF(test_delete_of_referenced_blob_is_refused),
		TF(test_delete_of_unreferenced_blob_removes_it),
		TF(test_upload_sessions_are_capped_in_all_and_per_repository),
		TF(test_upload_session_holds_no_descriptor_between_requests),
		TF(test_upload_past_max_blob_size_is_too_large),
	};
	struct err err = ERR_INIT;

	/*
	 * The store logs each reconcile at info, and warns about the index
	 * of every new store; keep the output to errors.
	 */
	if (log_open(NULL, LOG_ERROR, &err) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
