/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_mount_stored.c - a copy through the mount of content the content
 * store already holds (cp -r of a layout into a second repository): the
 * bytes are hashed against the name and the store's copy is linked, and
 * nothing is written to disk for them (index/store.h, "Writing through the
 * mount"; upload_borrow() in index/upload.c). Exercised through the
 * store's view API, as fusefs/ calls it, without FUSE.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"

/* Bigger than an O_DIRECT block (1 MiB), and not a multiple of one. */
#define CONTENT_LEN ((3u << 20) + 123u)
/* The size of cp's writes through the mount. */
#define CHUNK (1u << 20)

/* Content number @seed, CONTENT_LEN bytes (free()). */
static unsigned char *content(unsigned seed)
{
	unsigned char *buf = malloc(CONTENT_LEN);
	uint32_t x = 2463534242u + seed;

	assert_non_null(buf);
	for (size_t i = 0; i < CONTENT_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	return buf;
}

/* mkdir @repo/blobs/sha256 through the view, as cp -r does. */
static void make_dirs(struct store *st, const char *repo)
{
	static const char *const parts[] = {"", "/blobs", "/blobs/sha256"};
	struct err err = ERR_INIT;
	char rel[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		snprintf(rel, sizeof(rel), "%s%s", repo, parts[i]);
		if (store_fs_mkdir(st, rel, 0755, &err) < 0)
			fail_msg("mkdir %s: %s", rel, err.msg);
	}
}

/* A writer for blob @d of @repo, through the view. */
static struct fs_writer *open_blob(struct store *st, const char *repo,
                                   const struct digest *d)
{
	struct err err = ERR_INIT;
	struct fs_writer *w;
	char rel[PATH_MAX];

	make_dirs(st, repo);
	snprintf(rel, sizeof(rel), "%s/blobs/sha256/%s", repo, d->hex);
	w = store_fs_create(st, rel, &err);
	if (!w)
		fail_msg("create %s: %s", rel, err.msg);
	return w;
}

/* Write chunk @i (CHUNK bytes, or what is left) of @buf into @w. */
static int write_chunk(struct fs_writer *w, const unsigned char *buf, size_t i,
                       struct err *err)
{
	size_t off = i * CHUNK;
	size_t n = CONTENT_LEN - off < CHUNK ? CONTENT_LEN - off : CHUNK;

	return store_fs_write(w, buf + off, n, off, err);
}

/* Chunks of CONTENT_LEN. */
#define CHUNKS ((CONTENT_LEN + CHUNK - 1) / CHUNK)

/* Copy @buf into @repo as cp does (in order), and commit. */
static int copy_in(struct store *st, const char *repo, const unsigned char *buf,
                   const struct digest *d, struct err *err)
{
	struct fs_writer *w = open_blob(st, repo, d);
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < CHUNKS; i++)
		ret = write_chunk(w, buf, i, err);
	if (ret == 0)
		ret = store_fs_commit(w, err);
	store_fs_writer_free(w);
	return ret;
}

/* The content store's copy of @d. */
static void cas_file(const struct test_fixture *f, const struct digest *d,
                     char *out)
{
	path_of(f, out, ".dray/blobs/sha256/%s", d->hex);
}

/* Does the file at @path hash to @d? */
static bool hashes_to(const char *path, const struct digest *d)
{
	struct err err = ERR_INIT;
	struct digest got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(digest_fd(d->alg, fd, &got, &err), 0);
	close(fd);
	return digest_equal(&got, d);
}

/* Is @repo's blob @d the content store's copy (one inode)? */
static bool links_store_copy(const struct test_fixture *f, const char *repo,
                             const struct digest *d)
{
	char cas[PATH_MAX], blob[PATH_MAX];

	cas_file(f, d, cas);
	blob_file(f, repo, d, blob);
	return inode_of(blob) == inode_of(cas);
}

/*
 * Staging files in .dray/uploads that are not the inode @cas: what the
 * copies being written have put on the disk of their own.
 */
static size_t own_staging_files(const struct test_fixture *f, ino_t cas)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	path_of(f, dir, ".dray/uploads");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_ino != cas)
			n++;
	}
	closedir(d);
	return n;
}

/* "one" holds the content: the store has a verified copy. */
static void first_copy(struct test_fixture *f, const unsigned char *buf,
                       struct digest *d)
{
	struct err err = ERR_INIT;

	*d = digest_of(DIGEST_SHA256, buf, CONTENT_LEN);
	if (copy_in(f->st, "one", buf, d, &err) < 0)
		fail_msg("first copy: %s", err.msg);
}

/*
 * The second copy of stored content writes nothing of its own: while it
 * is written, the only staging file is the store's copy; after the
 * commit, the repository links that copy and serves the right bytes.
 */
static void test_second_copy_writes_nothing(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *buf = content(1);
	char cas[PATH_MAX], blob[PATH_MAX];
	struct err err = ERR_INIT;
	struct fs_writer *w;
	struct digest d;
	size_t len;
	char *back;

	first_copy(f, buf, &d);
	cas_file(f, &d, cas);
	w = open_blob(f->st, "two", &d);
	for (size_t i = 0; i < CHUNKS; i++)
		assert_int_equal(write_chunk(w, buf, i, &err), 0);
	assert_int_equal(own_staging_files(f, inode_of(cas)), 0);
	if (store_fs_commit(w, &err) < 0)
		fail_msg("second copy: %s", err.msg);
	store_fs_writer_free(w);
	assert_true(links_store_copy(f, "two", &d));
	blob_file(f, "two", &d, blob);
	back = slurp(blob, &len);
	assert_int_equal(len, CONTENT_LEN);
	assert_memory_equal(back, buf, CONTENT_LEN);
	free(back);
	free(buf);
}

/*
 * Wrong bytes under a stored digest are refused at close, and the store's
 * copy (which the writer's staging file was) is left as it was.
 */
static void test_wrong_bytes_refused_store_intact(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *buf = content(2);
	char cas[PATH_MAX], blob[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;

	first_copy(f, buf, &d);
	buf[CONTENT_LEN - 1] ^= 1;
	assert_int_equal(copy_in(f->st, "bad", buf, &d, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	cas_file(f, &d, cas);
	assert_true(hashes_to(cas, &d));
	blob_file(f, "bad", &d, blob);
	assert_false(exists(blob));
	free(buf);
}

/*
 * Writes out of order: the copy takes a private file holding what came
 * before, and still ends right; a wrong start is refused at the write
 * that leaves the order, as no content beginning so can match the name.
 */
static void test_out_of_order(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *buf = content(3);
	char cas[PATH_MAX];
	struct err err = ERR_INIT;
	struct fs_writer *w;
	struct digest d;

	first_copy(f, buf, &d);
	w = open_blob(f->st, "scattered", &d);
	assert_int_equal(write_chunk(w, buf, 0, &err), 0);
	assert_int_equal(write_chunk(w, buf, 2, &err), 0);
	assert_int_equal(write_chunk(w, buf, 1, &err), 0);
	assert_int_equal(write_chunk(w, buf, 3, &err), 0);
	if (store_fs_commit(w, &err) < 0)
		fail_msg("scattered copy: %s", err.msg);
	store_fs_writer_free(w);
	assert_true(links_store_copy(f, "scattered", &d));

	buf[0] ^= 1;
	w = open_blob(f->st, "wrongstart", &d);
	assert_int_equal(write_chunk(w, buf, 0, &err), 0);
	assert_int_equal(write_chunk(w, buf, 2, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	store_fs_writer_free(w);
	cas_file(f, &d, cas);
	assert_true(hashes_to(cas, &d));
	free(buf);
}

/*
 * After a restart the store's copy is not known to be right: the copy is
 * written as new content is, and the commit checks the store's copy.
 */
static void test_after_restart(void **state)
{
	struct test_fixture *f = *state;
	unsigned char *buf = content(4);
	char blob[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;

	first_copy(f, buf, &d);
	store_close(f->st);
	f->st = store_open(f->root, &err);
	if (!f->st)
		fail_msg("store_open: %s", err.msg);
	if (copy_in(f->st, "later", buf, &d, &err) < 0)
		fail_msg("copy after restart: %s", err.msg);
	assert_true(links_store_copy(f, "later", &d));
	blob_file(f, "later", &d, blob);
	assert_true(hashes_to(blob, &d));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(test_second_copy_writes_nothing),
		TF(test_wrong_bytes_refused_store_intact),
		TF(test_out_of_order),
		TF(test_after_restart),
	};
	struct err err = ERR_INIT;

	/* The store logs reconciles at info: keep the output to errors. */
	if (log_open(NULL, LOG_ERROR, &err) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
