/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store.c - unit tests for index/store.h, through its public API only.
 *
 * Each test opens a store in its own mkdtemp directory. Blobs enter it by
 * upload sessions, manifests by store_manifest_put(); the layouts on disk
 * are looked at directly only where the contract speaks of them (inodes of
 * linked blobs, index.json, layouts made or edited behind the store's back).
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

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_EMPTY  "application/vnd.oci.empty.v1+json"
#define MT_LAYER  "application/vnd.oci.image.layer.v1.tar"
#define AT_SBOM   "application/vnd.example.sbom.v1"
#define AT_SIG    "application/vnd.example.signature.v1"

static int setup(void **state)
{
	return test_fixture_setup(state, "store");
}

static int teardown(void **state)
{
	return test_fixture_teardown(state);
}

/* "<root>/<fmt...>" into @out (PATH_MAX). */
static void path_of(const struct test_fixture *f, char *out, const char *fmt,
                    ...) PRINTF(3, 4);

static void path_of(const struct test_fixture *f, char *out, const char *fmt,
                    ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	assert_true(vsnprintf(rel, sizeof(rel), fmt, ap) < (int)sizeof(rel));
	va_end(ap);
	assert_true(snprintf(out, PATH_MAX, "%s/%s", f->root, rel) < PATH_MAX);
}

/* The path of blob @d in @repo's layout. */
static void blob_file(const struct test_fixture *f, const char *repo,
                      const struct digest *d, char *out)
{
	path_of(f, out, "%s/blobs/%s/%s", repo, digest_alg_name(d->alg),
	        d->hex);
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static ino_t inode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

/* Entries of @dir other than "." and ".."; 0 for a missing directory. */
static size_t count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file @path, NUL-terminated (free()). */
static char *slurp(const char *path, size_t *len)
{
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t n;

	if (fs_read_file(path, 64u << 20, &buf, &n, &err) < 0)
		fail_msg("cannot read '%s': %s", path, err.msg);
	if (len)
		*len = n;
	return buf;
}

static struct digest digest_of(enum digest_alg alg, const void *buf, size_t len)
{
	struct err err = ERR_INIT;
	struct digest d;

	assert_int_equal(digest_buffer(alg, buf, len, &d, &err), 0);
	return d;
}

/* Upload @len bytes of @buf into @repo and commit them; returns the digest. */
static struct digest push_blob_alg(struct test_fixture *f, const char *repo,
                                   const void *buf, size_t len,
                                   enum digest_alg alg)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct digest d = digest_of(alg, buf, len);
	struct upload *u;

	if (store_upload_start(f->st, repo, id, &err) < 0)
		fail_msg("upload_start '%s': %s", repo, err.msg);
	u = store_upload_get(f->st, repo, id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, buf, len, &err), 0);
	if (store_upload_commit(u, &d, &err) < 0)
		fail_msg("commit into '%s': %s", repo, err.msg);
	assert_int_equal(err.code, ERR_OK);
	return d;
}

static struct digest push_blob(struct test_fixture *f, const char *repo,
                               const char *text)
{
	return push_blob_alg(f, repo, text, strlen(text), DIGEST_SHA256);
}

/* An image manifest, its blobs already pushed. */
struct image {
	struct digest config; /* the empty config "{}" */
	struct digest layer;  /* the one layer */
	char body[4096];      /* the manifest's bytes */
	size_t len;           /* their length */
	struct digest digest; /* sha256 of body */
};

/*
 * Push "{}" and @layer into @repo and build a manifest naming them; @extra
 * (may be "") is spliced in as further top-level members.
 */
static void make_image(struct test_fixture *f, const char *repo,
                       const char *layer, const char *extra, struct image *im)
{
	char cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX];
	int n;

	im->config = push_blob(f, repo, "{}");
	im->layer = push_blob(f, repo, layer);
	digest_format(&im->config, cfg);
	digest_format(&im->layer, lay);
	n = snprintf(im->body, sizeof(im->body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":2},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":%zu}]%s}",
	             cfg, lay, strlen(layer), extra);
	assert_true(n > 0 && (size_t)n < sizeof(im->body));
	im->len = (size_t)n;
	im->digest = digest_of(DIGEST_SHA256, im->body, im->len);
}

/* Put @body under @ref of @repo, which must succeed. */
static void put_ok(struct test_fixture *f, const char *repo, const char *ref,
                   const char *ctype, const char *body, size_t len,
                   struct manifest_put_result *res)
{
	enum manifest_fault fault = MF_NONE;
	struct err err = ERR_INIT;

	if (store_manifest_put(f->st, repo, ref, ctype, body, len, res, &fault,
	                       &err) < 0)
		fail_msg("put %s:%s: %s (fault %d)", repo, ref, err.msg, fault);
	assert_int_equal(err.code, ERR_OK);
}

/* Push @im's manifest as @ref (a tag, or its digest when NULL). */
static void put_image(struct test_fixture *f, const char *repo, const char *ref,
                      const struct image *im)
{
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX];

	digest_format(&im->digest, dstr);
	put_ok(f, repo, ref ? ref : dstr, MT_OCI_MANIFEST, im->body, im->len,
	       &res);
	assert_true(digest_equal(&res.digest, &im->digest));
}

/* @body under @ref of @repo must fail with @code and @fault. */
static void assert_put_fails(struct test_fixture *f, const char *repo,
                             const char *ref, const char *ctype,
                             const char *body, size_t len, enum err_code code,
                             enum manifest_fault want)
{
	enum manifest_fault fault = MF_NONE;
	struct manifest_put_result res;
	struct err err = ERR_INIT;

	if (store_manifest_put(f->st, repo, ref, ctype, body, len, &res, &fault,
	                       &err) == 0)
		fail_msg("put %s:%s accepted: %.*s", repo, ref, (int)len, body);
	if (err.code != code || fault != want)
		fail_msg("put %s:%s: %s/fault %d, want %s/fault %d (%s)", repo,
		         ref, err_code_name(err.code), fault,
		         err_code_name(code), want, err.msg);
}

/* @ref of @repo must resolve to @want with the same bytes and type. */
static void assert_manifest(struct test_fixture *f, const char *repo,
                            const char *ref, const char *body, size_t len,
                            const struct digest *want, const char *mt)
{
	struct manifest_desc desc;
	struct err err = ERR_INIT;
	char *got = NULL;

	if (store_manifest_get(f->st, repo, ref, &desc, &got, &err) < 0)
		fail_msg("get %s:%s: %s", repo, ref, err.msg);
	assert_true(digest_equal(&desc.digest, want));
	assert_string_equal(desc.media_type, mt);
	assert_int_equal(desc.size, len);
	assert_memory_equal(got, body, len);
	free(got);
	/* Without a body, the same description. */
	memset(&desc, 0, sizeof(desc));
	assert_int_equal(
		store_manifest_get(f->st, repo, ref, &desc, NULL, &err), 0);
	assert_true(digest_equal(&desc.digest, want));
	assert_string_equal(desc.media_type, mt);
	assert_int_equal(desc.size, len);
}

static void assert_no_manifest(struct test_fixture *f, const char *repo,
                               const char *ref)
{
	struct manifest_desc desc;
	struct err err = ERR_INIT;
	char *body = NULL;

	if (store_manifest_get(f->st, repo, ref, &desc, &body, &err) == 0)
		fail_msg("%s:%s still resolves", repo, ref);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_null(body);
}

/* The tags of @repo, all of them, joined by spaces into @out. */
static void tags_of(struct test_fixture *f, const char *repo, char *out,
                    size_t outsz)
{
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	bool more = true;
	size_t n = 0;

	if (store_tags(f->st, repo, NULL, 1000, &sv, &more, &err) < 0)
		fail_msg("tags of '%s': %s", repo, err.msg);
	assert_false(more);
	out[0] = '\0';
	for (size_t i = 0; i < sv.n; i++) {
		n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? " " : "",
		                      sv.v[i]);
		assert_true(n < outsz);
	}
	strvec_release(&sv);
}

/* A page of store_tags() or store_catalog(), joined by spaces. */
static void page(struct test_fixture *f, const char *repo, const char *last,
                 size_t n, const char *want, bool want_more)
{
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	char got[1024];
	size_t len = 0;
	bool more = !want_more;
	int rc;

	rc = repo ? store_tags(f->st, repo, last, n, &sv, &more, &err)
	          : store_catalog(f->st, last, n, &sv, &more, &err);
	if (rc < 0)
		fail_msg("list: %s", err.msg);
	got[0] = '\0';
	for (size_t i = 0; i < sv.n; i++) {
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
		                        i ? " " : "", sv.v[i]);
		assert_true(len < sizeof(got));
	}
	strvec_release(&sv);
	if (strcmp(got, want) != 0 || more != want_more)
		fail_msg("%s after '%s', n=%zu: '%s' more=%d, want '%s' "
		         "more=%d",
		         repo ? repo : "catalog", last ? last : "", n, got,
		         more, want, want_more);
}

/* @tmpl with every @key replaced by @val, into @out; returns the length. */
static int subst(char *out, size_t outsz, const char *tmpl, const char *key,
                 const char *val)
{
	size_t klen = strlen(key), vlen = strlen(val), n = 0;

	while (*tmpl) {
		const char *src = tmpl;
		size_t len = 1;

		if (strncmp(tmpl, key, klen) == 0) {
			src = val;
			len = vlen;
			tmpl += klen;
		} else {
			tmpl++;
		}
		assert_true(n + len < outsz);
		memcpy(out + n, src, len);
		n += len;
	}
	out[n] = '\0';
	return (int)n;
}

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

/* ---- manifests ---- */

static void test_manifest_put_by_tag_then_get_returns_same_bytes(void **state)
{
	struct test_fixture *f = *state;
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX], tags[256];
	struct image im;

	make_image(f, "library/alpine", "alpine rootfs", "", &im);
	put_ok(f, "library/alpine", "3.20", MT_OCI_MANIFEST, im.body, im.len,
	       &res);
	assert_true(digest_equal(&res.digest, &im.digest));
	assert_false(res.has_subject);
	digest_format(&im.digest, dstr);
	assert_manifest(f, "library/alpine", "3.20", im.body, im.len,
	                &im.digest, MT_OCI_MANIFEST);
	assert_manifest(f, "library/alpine", dstr, im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
	tags_of(f, "library/alpine", tags, sizeof(tags));
	assert_string_equal(tags, "3.20");
	/* Putting the same thing again changes nothing. */
	put_ok(f, "library/alpine", "3.20", MT_OCI_MANIFEST, im.body, im.len,
	       &res);
	tags_of(f, "library/alpine", tags, sizeof(tags));
	assert_string_equal(tags, "3.20");
}

static void test_manifest_bytes_are_kept_as_pushed(void **state)
{
	struct test_fixture *f = *state;
	char body[4096], cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct digest dc, dl, dm;
	int n;

	dc = push_blob(f, "app", "{}");
	dl = push_blob(f, "app", "l");
	digest_format(&dc, cfg);
	digest_format(&dl, lay);
	/* Odd spacing, key order and no mediaType: stored byte for byte. */
	n = snprintf(body, sizeof(body),
	             "{\n  \"layers\" : [ {\"size\":1, \"digest\":\"%s\", "
	             "\"mediaType\":\"" MT_LAYER "\"} ],\n"
	             "  \"config\": {\"mediaType\":\"" MT_CONFIG
	             "\",\"size\":2,\"digest\":\"%s\"},\n"
	             "  \"schemaVersion\": 2\n}\n",
	             lay, cfg);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	dm = digest_of(DIGEST_SHA256, body, (size_t)n);
	put_ok(f, "app", "odd", NULL, body, (size_t)n, &res);
	assert_true(digest_equal(&res.digest, &dm));
	assert_manifest(f, "app", "odd", body, (size_t)n, &dm, MT_OCI_MANIFEST);
}

static void test_manifest_put_with_missing_blob_changes_nothing(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX], tags[256];
	struct image good, bad;
	struct err err = ERR_INIT;
	char *before, *after;
	size_t blen, alen;
	uint64_t size;

	make_image(f, "app", "first", "", &good);
	put_image(f, "app", "v1", &good);
	make_image(f, "app", "second", "", &bad);
	/* The layer of @bad disappears before its manifest comes. */
	assert_int_equal(store_blob_delete(f->st, "app", &bad.layer, &err), 0);
	path_of(f, path, "app/index.json");
	before = slurp(path, &blen);

	assert_put_fails(f, "app", "v2", MT_OCI_MANIFEST, bad.body, bad.len,
	                 ERR_NOT_FOUND, MF_BLOB_UNKNOWN);
	after = slurp(path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "v1");
	assert_no_manifest(f, "app", "v2");
	assert_int_equal(
		store_blob_stat(f->st, "app", &bad.digest, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);

	/* Into a repository that does not exist: none is created. */
	assert_put_fails(f, "elsewhere", "v1", MT_OCI_MANIFEST, good.body,
	                 good.len, ERR_NOT_FOUND, MF_BLOB_UNKNOWN);
	assert_false(store_repo_exists(f->st, "elsewhere"));
}

static void test_malformed_manifests_are_invalid(void **state)
{
	static const char *const junk[] = {
		"",
		"{",
		"not json",
		"[]",
		"\"string\"",
		"{}",
		"{\"schemaVersion\":1}",
		"{\"schemaVersion\":\"2\"}",
		"{\"schemaVersion\":3,\"config\":{},\"layers\":[]}",
		"{\"schemaVersion\":2,\"schemaVersion\":2}",
		"{\"schemaVersion\":2,\"mediaType\":7}",
	};
	static const char *const broken[] = {
		/* no config */
		"{\"schemaVersion\":2,\"layers\":[]}",
		/* layers not an array */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":2},\"layers\":{}}",
		/* config without size */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\"},\"layers\":[]}",
		/* negative size */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":-2},\"layers\":[]}",
		/* no mediaType in the config */
		"{\"schemaVersion\":2,\"config\":{\"digest\":\"@CFG@\","
		"\"size\":2},\"layers\":[]}",
		/* a layer with a bad digest */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":2},\"layers\":[{"
		"\"mediaType\":"
		"\"" MT_LAYER "\",\"digest\":\"sha256:XYZ\",\"size\":1}]}",
		/* a subject that is no descriptor */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":2},\"layers\":[],"
		"\"subject\":\"sha256:abc\"}",
		/* annotations that are no object */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":2},\"layers\":[],"
		"\"annotations\":[]}",
		/* an empty artifactType */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"@CFG@\",\"size\":2},\"layers\":[],"
		"\"artifactType\":\"\"}",
	};
	struct test_fixture *f = *state;
	char body[4096], cfg[DIGEST_STR_MAX], path[PATH_MAX];
	struct image im;
	char *before, *after;
	size_t blen, alen;
	int n;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", "v1", &im);
	path_of(f, path, "app/index.json");
	before = slurp(path, &blen);
	digest_format(&im.config, cfg);

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_put_fails(f, "app", "v2", NULL, junk[i], strlen(junk[i]),
		                 ERR_INVALID, MF_INVALID);

	/* The body says one type, the Content-Type another. */
	assert_put_fails(f, "app", "v2", MT_DOCKER_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_INVALID);
	assert_put_fails(f, "app", "v2", MT_OCI_INDEX, im.body, im.len,
	                 ERR_INVALID, MF_INVALID);

	/* A media type dray does not know, declared either way. */
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":"
	             "\"application/vnd.example+json\",\"config\":{"
	             "\"mediaType\":\"" MT_CONFIG "\",\"digest\":\"%s\","
	             "\"size\":2},\"layers\":[]}",
	             cfg);
	assert_put_fails(f, "app", "v2", NULL, body, (size_t)n, ERR_INVALID,
	                 MF_INVALID);
	assert_put_fails(f, "app", "v2", "application/vnd.example+json", body,
	                 (size_t)n, ERR_INVALID, MF_INVALID);
	n = snprintf(
		body, sizeof(body),
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"%s\",\"size\":2},\"layers\":[]}",
		cfg);
	assert_put_fails(f, "app", "v2", "text/plain", body, (size_t)n,
	                 ERR_INVALID, MF_INVALID);

	/* Broken descriptors. */
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		n = subst(body, sizeof(body), broken[i], "@CFG@", cfg);
		assert_put_fails(f, "app", "v2", MT_OCI_MANIFEST, body,
		                 (size_t)n, ERR_INVALID, MF_INVALID);
	}

	after = slurp(path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
	assert_no_manifest(f, "app", "v2");
}

static void test_manifest_put_by_wrong_digest_is_refused(void **state)
{
	struct test_fixture *f = *state;
	char dstr[DIGEST_STR_MAX], tags[256];
	struct digest other = digest_of(DIGEST_SHA256, "x", 1);
	struct image im;

	make_image(f, "app", "layer", "", &im);
	digest_format(&other, dstr);
	assert_put_fails(f, "app", dstr, MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_DIGEST);
	other = digest_of(DIGEST_SHA512, im.body, im.len);
	other.hex[0] = other.hex[0] == '0' ? '1' : '0';
	digest_format(&other, dstr);
	assert_put_fails(f, "app", dstr, MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_DIGEST);
	digest_format(&im.digest, dstr);
	assert_no_manifest(f, "app", dstr);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "");
}

static void test_manifest_put_by_digest_is_untagged(void **state)
{
	struct test_fixture *f = *state;
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX], tags[256];
	struct digest d512;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", NULL, &im);
	digest_format(&im.digest, dstr);
	assert_manifest(f, "app", dstr, im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "");

	/* By a sha512 reference, hashed with sha512. */
	d512 = digest_of(DIGEST_SHA512, im.body, im.len);
	digest_format(&d512, dstr);
	put_ok(f, "app", dstr, MT_OCI_MANIFEST, im.body, im.len, &res);
	assert_true(digest_equal(&res.digest, &d512));
	assert_manifest(f, "app", dstr, im.body, im.len, &d512,
	                MT_OCI_MANIFEST);
}

static void test_oversized_manifest_is_too_large(void **state)
{
	struct test_fixture *f = *state;
	size_t len = STORE_MANIFEST_MAX + 1;
	char *body = malloc(len);

	assert_non_null(body);
	memset(body, ' ', len);
	body[0] = '{';
	body[len - 1] = '}';
	assert_put_fails(f, "app", "big", MT_OCI_MANIFEST, body, len,
	                 ERR_TOO_LARGE, MF_TOO_LARGE);
	assert_false(store_repo_exists(f->st, "app"));
	free(body);
}

static void test_manifest_put_with_bad_name_is_refused(void **state)
{
	struct test_fixture *f = *state;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	assert_put_fails(f, "App", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_NAME);
	assert_put_fails(f, "a//b", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_NAME);
	assert_put_fails(f, "app/blobs", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_NAME);
	assert_false(store_repo_exists(f->st, "App"));
}

static void test_manifest_put_with_bad_reference_is_refused(void **state)
{
	struct test_fixture *f = *state;
	char tag[REF_TAG_MAX + 2];
	struct image im;

	make_image(f, "app", "layer", "", &im);
	/*
	 * A bad tag is MF_INVALID, which http/manifest.c answers with
	 * MANIFEST_INVALID as its own check_ref() does (store.h's comment
	 * on MF_NAME says "bad repository name or tag").
	 */
	assert_put_fails(f, "app", ".v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_INVALID);
	memset(tag, 't', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	assert_put_fails(f, "app", tag, MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, MF_INVALID);
	/* A malformed digest reference. */
	assert_put_fails(f, "app", "sha256:zz", MT_OCI_MANIFEST, im.body,
	                 im.len, ERR_INVALID, MF_DIGEST);
	assert_no_manifest(f, "app", ".v1");
}

static void test_unknown_tag_or_repository_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	char dstr[DIGEST_STR_MAX];
	struct digest d = digest_of(DIGEST_SHA256, "x", 1);
	struct image im;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", "v1", &im);
	assert_no_manifest(f, "app", "v2");
	assert_no_manifest(f, "nothing", "v1");
	digest_format(&d, dstr);
	assert_no_manifest(f, "app", dstr);
	/* A blob that is no manifest is not served as one. */
	digest_format(&im.layer, dstr);
	assert_no_manifest(f, "app", dstr);
}

static void test_tag_move_keeps_old_manifest_reachable(void **state)
{
	struct test_fixture *f = *state;
	char d1[DIGEST_STR_MAX], tags[256];
	struct image one, two;

	make_image(f, "app", "layer one", "", &one);
	make_image(f, "app", "layer two", "", &two);
	put_image(f, "app", "latest", &one);
	put_image(f, "app", "latest", &two);
	assert_manifest(f, "app", "latest", two.body, two.len, &two.digest,
	                MT_OCI_MANIFEST);
	digest_format(&one.digest, d1);
	assert_manifest(f, "app", d1, one.body, one.len, &one.digest,
	                MT_OCI_MANIFEST);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "latest");
	/* And back. */
	put_image(f, "app", "latest", &one);
	assert_manifest(f, "app", "latest", one.body, one.len, &one.digest,
	                MT_OCI_MANIFEST);
}

static void test_delete_by_tag_keeps_manifest_by_digest(void **state)
{
	struct test_fixture *f = *state;
	char dstr[DIGEST_STR_MAX], tags[256];
	struct err err = ERR_INIT;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", "v1", &im);
	put_image(f, "app", "v2", &im);
	assert_int_equal(store_manifest_delete(f->st, "app", "v1", &err), 0);
	assert_no_manifest(f, "app", "v1");
	assert_manifest(f, "app", "v2", im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
	assert_int_equal(store_manifest_delete(f->st, "app", "v2", &err), 0);
	assert_no_manifest(f, "app", "v2");
	digest_format(&im.digest, dstr);
	assert_manifest(f, "app", dstr, im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "");
	assert_int_equal(store_manifest_delete(f->st, "app", "v1", &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void test_delete_by_digest_removes_tags_and_blob(void **state)
{
	struct test_fixture *f = *state;
	char dstr[DIGEST_STR_MAX], tags[256], path[PATH_MAX];
	struct err err = ERR_INIT;
	struct image im, keep;
	uint64_t size;

	make_image(f, "app", "layer", "", &im);
	make_image(f, "app", "kept", "", &keep);
	put_image(f, "app", "v1", &im);
	put_image(f, "app", "v2", &im);
	put_image(f, "app", "other", &keep);
	digest_format(&im.digest, dstr);
	assert_int_equal(store_manifest_delete(f->st, "app", dstr, &err), 0);
	assert_no_manifest(f, "app", dstr);
	assert_no_manifest(f, "app", "v1");
	assert_no_manifest(f, "app", "v2");
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "other");
	assert_int_equal(store_blob_stat(f->st, "app", &im.digest, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	blob_file(f, "app", &im.digest, path);
	assert_false(exists(path));
	/* Its layer is free to go now. */
	assert_int_equal(store_blob_delete(f->st, "app", &im.layer, &err), 0);
	assert_manifest(f, "app", "other", keep.body, keep.len, &keep.digest,
	                MT_OCI_MANIFEST);

	err = ERR_INIT;
	assert_int_equal(store_manifest_delete(f->st, "app", dstr, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_manifest_delete(f->st, "app", "sha256:zz", &err),
	                 -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_manifest_delete(f->st, "none", "v1", &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void test_image_index_needs_its_children(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], dstr[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct digest d;
	struct image child;
	int n;

	make_image(f, "multi", "amd64 layer", "", &child);
	digest_format(&child.digest, dstr);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	             "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{"
	             "\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
	             dstr, child.len);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	assert_put_fails(f, "multi", "v1", MT_OCI_INDEX, body, (size_t)n,
	                 ERR_NOT_FOUND, MF_BLOB_UNKNOWN);
	put_image(f, "multi", NULL, &child);
	put_ok(f, "multi", "v1", MT_OCI_INDEX, body, (size_t)n, &res);
	d = digest_of(DIGEST_SHA256, body, (size_t)n);
	assert_true(digest_equal(&res.digest, &d));
	assert_manifest(f, "multi", "v1", body, (size_t)n, &d, MT_OCI_INDEX);
	assert_manifest(f, "multi", dstr, child.body, child.len, &child.digest,
	                MT_OCI_MANIFEST);
}

static void test_manifest_blob_itself_cannot_be_deleted_as_blob(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", NULL, &im);
	assert_int_equal(store_blob_delete(f->st, "app", &im.digest, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
}

static void test_layer_of_index_child_stays_referenced(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], dstr[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	struct image child;
	uint64_t size;
	int n;

	make_image(f, "multi", "arm64 layer", "", &child);
	put_image(f, "multi", NULL, &child);
	digest_format(&child.digest, dstr);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	             "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"digest\":\"%s\",\"size\":%zu}]}",
	             dstr, child.len);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	put_ok(f, "multi", "v1", MT_OCI_INDEX, body, (size_t)n, &res);
	/*
	 * Deleting the child's own entry keeps its blob: the index still
	 * names it, and through it the layer.
	 */
	assert_int_equal(store_manifest_delete(f->st, "multi", dstr, &err), 0);
	assert_manifest(f, "multi", dstr, child.body, child.len, &child.digest,
	                MT_OCI_MANIFEST);
	assert_int_equal(store_blob_delete(f->st, "multi", &child.layer, &err),
	                 -1);
	assert_int_equal(err.code, ERR_EXISTS);
	err = ERR_INIT;
	assert_int_equal(
		store_blob_stat(f->st, "multi", &child.layer, &size, &err), 0);
}

static void test_foreign_layer_need_not_be_pushed(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct digest dc, dl, dm;
	int n;

	dc = push_blob(f, "win", "{}");
	dl = digest_of(DIGEST_SHA256, "elsewhere", 9);
	digest_format(&dc, cfg);
	digest_format(&dl, lay);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":2},\"layers\":[{"
	             "\"mediaType\":\"application/vnd.oci.image.layer."
	             "nondistributable.v1.tar\",\"digest\":\"%s\","
	             "\"size\":9,\"urls\":[\"https://example.com/l\"]}]}",
	             cfg, lay);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	dm = digest_of(DIGEST_SHA256, body, (size_t)n);
	put_ok(f, "win", "v1", MT_OCI_MANIFEST, body, (size_t)n, &res);
	assert_manifest(f, "win", "v1", body, (size_t)n, &dm, MT_OCI_MANIFEST);
}

static void test_manifest_without_media_type_takes_content_type(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct digest dc, dl, dm;
	int n;

	dc = push_blob(f, "app", "{}");
	dl = push_blob(f, "app", "d");
	digest_format(&dc, cfg);
	digest_format(&dl, lay);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
	             "\"application/vnd.docker.container.image.v1+json\","
	             "\"digest\":\"%s\",\"size\":2},\"layers\":[{"
	             "\"mediaType\":\"application/vnd.docker.image.rootfs."
	             "diff.tar.gzip\",\"digest\":\"%s\",\"size\":1}]}",
	             cfg, lay);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	dm = digest_of(DIGEST_SHA256, body, (size_t)n);
	put_ok(f, "app", "docker", MT_DOCKER_MANIFEST, body, (size_t)n, &res);
	assert_manifest(f, "app", "docker", body, (size_t)n, &dm,
	                MT_DOCKER_MANIFEST);
}

/* ---- tags and catalog ---- */

static void test_tags_are_sorted_and_paginated(void **state)
{
	struct test_fixture *f = *state;
	static const char *const tags[] = {"b", "a", "c", "10", "1", "B"};
	struct image im;

	make_image(f, "app", "layer", "", &im);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		put_image(f, "app", tags[i], &im);
	page(f, "app", NULL, 100, "1 10 B a b c", false);
	page(f, "app", NULL, 6, "1 10 B a b c", false);
	page(f, "app", NULL, 2, "1 10", true);
	page(f, "app", "10", 2, "B a", true);
	page(f, "app", "a", 2, "b c", false);
	page(f, "app", "c", 2, "", false);
	/* @last need not be a tag. */
	page(f, "app", "0", 1, "1", true);
	page(f, "app", "bb", 5, "c", false);
	page(f, "app", NULL, 0, "", true);
}

static void test_tags_of_unknown_repository_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	struct strvec sv = {0};
	struct err err = ERR_INIT;
	bool more;

	assert_int_equal(
		store_tags(f->st, "nothing", NULL, 10, &sv, &more, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_tags(f->st, "Bad", NULL, 10, &sv, &more, &err),
	                 -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_int_equal(sv.n, 0);
	strvec_release(&sv);
}

/* Make a minimal layout by hand at <root>/@rel, optionally without oci-layout.
 */
static void hand_layout(const struct test_fixture *f, const char *rel,
                        bool with_oci_layout)
{
	static const char index[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	path_of(f, path, "%s/blobs/sha256", rel);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	path_of(f, path, "%s/index.json", rel);
	write_file(path, index, sizeof(index) - 1);
	if (with_oci_layout) {
		path_of(f, path, "%s/oci-layout", rel);
		write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	}
}

static void test_catalog_is_sorted_paginated_and_skips_non_layouts(void **state)
{
	struct test_fixture *f = *state;
	static const char *const repos[] = {"z", "a/c",   "b",
	                                    "a", "a/b/c", "a-b"};
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct image im;

	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		make_image(f, repos[i], "layer", "", &im);
		put_image(f, repos[i], "v1", &im);
	}
	/* Things that are no repositories. */
	path_of(f, path, "plain/dir");
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	hand_layout(f, "no-oci-layout", false);
	hand_layout(f, ".hidden", true);
	hand_layout(f, "a/.hidden", true);
	hand_layout(f, "Upper", true);
	hand_layout(f, "q/Upper", true);
	assert_int_equal(store_reconcile(f->st, &err), 0);

	page(f, NULL, NULL, 100, "a a-b a/b/c a/c b z", false);
	page(f, NULL, NULL, 2, "a a-b", true);
	page(f, NULL, "a-b", 2, "a/b/c a/c", true);
	page(f, NULL, "a/c", 2, "b z", false);
	page(f, NULL, "z", 2, "", false);
	page(f, NULL, "a/b", 1, "a/b/c", true);
	assert_false(store_repo_exists(f->st, "plain"));
	assert_false(store_repo_exists(f->st, "plain/dir"));
	assert_false(store_repo_exists(f->st, "a/b"));
	assert_false(store_repo_exists(f->st, "q"));
}

static void test_directory_without_oci_layout_is_no_repository(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;

	hand_layout(f, "half", false);
	assert_int_equal(store_reconcile(f->st, &err), 0);
	page(f, NULL, NULL, 10, "", false);
	/*
	 * repo_create(): oci-layout "is what makes a directory a
	 * repository"; the catalog agrees, store_repo_exists() must too.
	 */
	assert_false(store_repo_exists(f->st, "half"));
}

static void test_catalog_of_empty_store_is_empty(void **state)
{
	struct test_fixture *f = *state;

	page(f, NULL, NULL, 10, "", false);
}

static void test_catalog_lists_repository_created_by_blob_upload(void **state)
{
	struct test_fixture *f = *state;
	struct image im;

	make_image(f, "team", "layer", "", &im);
	put_image(f, "team", "v1", &im);
	page(f, NULL, NULL, 10, "team", false);
	/* A repository that so far holds only a blob is still one. */
	push_blob(f, "team/tool", "blob only");
	assert_true(store_repo_exists(f->st, "team/tool"));
	page(f, NULL, NULL, 10, "team team/tool", false);
}

static void test_repo_exists_only_for_layouts(void **state)
{
	struct test_fixture *f = *state;

	assert_false(store_repo_exists(f->st, "app"));
	push_blob(f, "deep/down/app", "x");
	assert_true(store_repo_exists(f->st, "deep/down/app"));
	assert_false(store_repo_exists(f->st, "deep"));
	assert_false(store_repo_exists(f->st, "deep/down"));
	assert_false(store_repo_exists(f->st, "deep/down/app/blobs"));
	assert_false(store_repo_exists(f->st, "Deep"));
	assert_false(store_repo_exists(f->st, ""));
	assert_false(store_repo_exists(f->st, ".dray"));
	/* A parent can become a repository itself. */
	push_blob(f, "deep", "y");
	assert_true(store_repo_exists(f->st, "deep"));
	assert_true(store_repo_exists(f->st, "deep/down/app"));
}

/* ---- referrers ---- */

/* Parse referrers JSON; returns the manifests array's size. */
static size_t referrers(struct test_fixture *f, const char *repo,
                        const struct digest *subject, const char *at,
                        json_t **out)
{
	struct err err = ERR_INIT;
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0;
	json_t *root, *mans;

	if (store_referrers(f->st, repo, subject, at, &text, &len, &err) < 0)
		fail_msg("referrers: %s", err.msg);
	assert_int_equal(strlen(text), len);
	root = json_loadb(text, len, 0, &jerr);
	if (!root)
		fail_msg("referrers JSON: %s: %s", jerr.text, text);
	free(text);
	assert_int_equal(
		json_integer_value(json_object_get(root, "schemaVersion")), 2);
	assert_string_equal(
		json_string_value(json_object_get(root, "mediaType")),
		MT_OCI_INDEX);
	mans = json_object_get(root, "manifests");
	assert_true(json_is_array(mans));
	*out = root;
	return json_array_size(mans);
}

/* The entry of @root's manifests with digest @d, or NULL. */
static json_t *entry_for(json_t *root, const struct digest *d)
{
	char dstr[DIGEST_STR_MAX];
	json_t *e;
	size_t i;

	digest_format(d, dstr);
	json_array_foreach(json_object_get(root, "manifests"), i, e)
	{
		const char *ds =
			json_string_value(json_object_get(e, "digest"));

		if (ds && strcmp(ds, dstr) == 0)
			return e;
	}
	return NULL;
}

/* Push, by digest, an artifact of type @at about @subject to @repo. */
static void push_referrer(struct test_fixture *f, const char *repo,
                          const struct image *subject, const char *at,
                          const char *payload, struct image *out)
{
	char extra[1024], sdstr[DIGEST_STR_MAX];
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX];
	int n;

	digest_format(&subject->digest, sdstr);
	n = snprintf(extra, sizeof(extra),
	             ",\"artifactType\":\"%s\",\"subject\":{\"mediaType\":"
	             "\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu},"
	             "\"annotations\":{\"org.example.note\":\"%s\"}",
	             at, sdstr, subject->len, payload);
	assert_true(n > 0 && (size_t)n < sizeof(extra));
	make_image(f, repo, payload, extra, out);
	digest_format(&out->digest, dstr);
	put_ok(f, repo, dstr, MT_OCI_MANIFEST, out->body, out->len, &res);
	assert_true(res.has_subject);
	assert_true(digest_equal(&res.subject, &subject->digest));
}

static void test_referrers_lists_manifests_with_subject(void **state)
{
	struct test_fixture *f = *state;
	struct image base, sbom, sig, unrelated;
	json_t *root, *e;

	make_image(f, "app", "base layer", "", &base);
	put_image(f, "app", "v1", &base);
	assert_int_equal(referrers(f, "app", &base.digest, NULL, &root), 0);
	json_decref(root);

	push_referrer(f, "app", &base, AT_SBOM, "sbom", &sbom);
	push_referrer(f, "app", &base, AT_SIG, "sig", &sig);
	make_image(f, "app", "unrelated", "", &unrelated);
	put_image(f, "app", "v2", &unrelated);

	assert_int_equal(referrers(f, "app", &base.digest, NULL, &root), 2);
	e = entry_for(root, &sbom.digest);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "mediaType")),
	                    MT_OCI_MANIFEST);
	assert_string_equal(
		json_string_value(json_object_get(e, "artifactType")), AT_SBOM);
	assert_int_equal(json_integer_value(json_object_get(e, "size")),
	                 sbom.len);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(e, "annotations"), "org.example.note")),
		"sbom");
	e = entry_for(root, &sig.digest);
	assert_non_null(e);
	assert_string_equal(
		json_string_value(json_object_get(e, "artifactType")), AT_SIG);
	assert_null(entry_for(root, &unrelated.digest));
	json_decref(root);

	/* Nothing refers to the referrers themselves. */
	assert_int_equal(referrers(f, "app", &sbom.digest, NULL, &root), 0);
	json_decref(root);
	assert_int_equal(referrers(f, "app", &unrelated.digest, NULL, &root),
	                 0);
	json_decref(root);
	/* Referrers in one repository are not listed for another. */
	push_blob(f, "other", "x");
	assert_int_equal(referrers(f, "other", &base.digest, NULL, &root), 0);
	json_decref(root);
}

static void test_referrers_filter_by_artifact_type(void **state)
{
	struct test_fixture *f = *state;
	struct image base, sbom, sig, sig2;
	json_t *root;

	make_image(f, "app", "base layer", "", &base);
	put_image(f, "app", "v1", &base);
	push_referrer(f, "app", &base, AT_SBOM, "sbom", &sbom);
	push_referrer(f, "app", &base, AT_SIG, "sig", &sig);
	push_referrer(f, "app", &base, AT_SIG, "sig2", &sig2);

	assert_int_equal(referrers(f, "app", &base.digest, AT_SIG, &root), 2);
	assert_non_null(entry_for(root, &sig.digest));
	assert_non_null(entry_for(root, &sig2.digest));
	assert_null(entry_for(root, &sbom.digest));
	json_decref(root);
	assert_int_equal(referrers(f, "app", &base.digest, AT_SBOM, &root), 1);
	assert_non_null(entry_for(root, &sbom.digest));
	json_decref(root);
	assert_int_equal(
		referrers(f, "app", &base.digest, "application/none", &root),
		0);
	json_decref(root);
}

static void test_referrer_without_artifact_type_uses_config_type(void **state)
{
	struct test_fixture *f = *state;
	char extra[512], sdstr[DIGEST_STR_MAX], dstr[DIGEST_STR_MAX];
	struct manifest_put_result res;
	struct image base, ref;
	json_t *root, *e;

	make_image(f, "app", "base layer", "", &base);
	put_image(f, "app", "v1", &base);
	digest_format(&base.digest, sdstr);
	snprintf(extra, sizeof(extra),
	         ",\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST
	         "\",\"digest\":\"%s\",\"size\":%zu}",
	         sdstr, base.len);
	make_image(f, "app", "ref", extra, &ref);
	digest_format(&ref.digest, dstr);
	put_ok(f, "app", dstr, MT_OCI_MANIFEST, ref.body, ref.len, &res);
	assert_int_equal(referrers(f, "app", &base.digest, MT_CONFIG, &root),
	                 1);
	e = entry_for(root, &ref.digest);
	assert_non_null(e);
	assert_string_equal(
		json_string_value(json_object_get(e, "artifactType")),
		MT_CONFIG);
	json_decref(root);
}

static void test_deleted_referrer_is_no_longer_listed(void **state)
{
	struct test_fixture *f = *state;
	char dstr[DIGEST_STR_MAX];
	struct err err = ERR_INIT;
	struct image base, sbom;
	json_t *root;

	make_image(f, "app", "base layer", "", &base);
	put_image(f, "app", "v1", &base);
	push_referrer(f, "app", &base, AT_SBOM, "sbom", &sbom);
	digest_format(&sbom.digest, dstr);
	assert_int_equal(store_manifest_delete(f->st, "app", dstr, &err), 0);
	assert_int_equal(referrers(f, "app", &base.digest, NULL, &root), 0);
	json_decref(root);
}

/* ---- layouts changed behind the store's back ---- */

static void test_index_json_edited_behind_store_is_noticed(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX], tmp[PATH_MAX], tags[256], *text;
	struct image im;
	size_t len, at_i;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", "v1", &im);
	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "v1");

	/* Rename the tag in a new index.json, as another tool would. */
	path_of(f, path, "app/index.json");
	text = slurp(path, &len);
	/* By index: gcc 12 -O2 misreads a pointer into it as dangling. */
	for (at_i = 0; at_i + 4 <= len; at_i++)
		if (memcmp(text + at_i, "\"v1\"", 4) == 0)
			break;
	assert_true(at_i + 4 <= len);
	text[at_i + 2] = '2';
	path_of(f, tmp, "index.json.new");
	write_file(tmp, text, len);
	assert_int_equal(rename(tmp, path), 0);
	free(text);

	tags_of(f, "app", tags, sizeof(tags));
	assert_string_equal(tags, "v2");
	assert_no_manifest(f, "app", "v1");
	assert_manifest(f, "app", "v2", im.body, im.len, &im.digest,
	                MT_OCI_MANIFEST);
}

static void test_hand_made_layout_is_served(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX], index[2048], cfg[DIGEST_STR_MAX],
		lay[DIGEST_STR_MAX], man[DIGEST_STR_MAX], body[2048], tags[64];
	static const char layer[] = "hand-made layer";
	struct err err = ERR_INIT;
	struct digest dc, dl, dm;
	uint64_t size;
	int n;

	dc = digest_of(DIGEST_SHA256, "{}", 2);
	dl = digest_of(DIGEST_SHA256, layer, sizeof(layer) - 1);
	digest_format(&dc, cfg);
	digest_format(&dl, lay);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_EMPTY
	             "\",\"digest\":\"%s\",\"size\":2},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":%zu}]}",
	             cfg, lay, sizeof(layer) - 1);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	dm = digest_of(DIGEST_SHA256, body, (size_t)n);
	digest_format(&dm, man);

	path_of(f, path, "vendor/hand/blobs/sha256");
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	path_of(f, path, "vendor/hand/blobs/sha256/%s", dc.hex);
	write_file(path, "{}", 2);
	path_of(f, path, "vendor/hand/blobs/sha256/%s", dl.hex);
	write_file(path, layer, sizeof(layer) - 1);
	path_of(f, path, "vendor/hand/blobs/sha256/%s", dm.hex);
	write_file(path, body, (size_t)n);
	snprintf(index, sizeof(index),
	         "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
	         "\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%d,"
	         "\"annotations\":{\"org.opencontainers.image.ref.name\":"
	         "\"1.0\"}}]}",
	         man, n);
	path_of(f, path, "vendor/hand/index.json");
	write_file(path, index, strlen(index));
	path_of(f, path, "vendor/hand/oci-layout");
	write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);

	assert_true(store_repo_exists(f->st, "vendor/hand"));
	assert_manifest(f, "vendor/hand", "1.0", body, (size_t)n, &dm,
	                MT_OCI_MANIFEST);
	assert_manifest(f, "vendor/hand", man, body, (size_t)n, &dm,
	                MT_OCI_MANIFEST);
	assert_int_equal(
		store_blob_stat(f->st, "vendor/hand", &dl, &size, &err), 0);
	assert_int_equal(size, sizeof(layer) - 1);
	tags_of(f, "vendor/hand", tags, sizeof(tags));
	assert_string_equal(tags, "1.0");
	/* The store writes into it like into its own. */
	assert_int_equal(
		store_manifest_delete(f->st, "vendor/hand", "1.0", &err), 0);
	assert_no_manifest(f, "vendor/hand", "1.0");
	assert_manifest(f, "vendor/hand", man, body, (size_t)n, &dm,
	                MT_OCI_MANIFEST);
}

#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Reopen @f's store with @opts. */
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
		TF(test_delete_of_referenced_blob_is_refused),
		TF(test_delete_of_unreferenced_blob_removes_it),
		TF(test_manifest_put_by_tag_then_get_returns_same_bytes),
		TF(test_manifest_bytes_are_kept_as_pushed),
		TF(test_manifest_put_with_missing_blob_changes_nothing),
		TF(test_malformed_manifests_are_invalid),
		TF(test_manifest_put_by_wrong_digest_is_refused),
		TF(test_manifest_put_by_digest_is_untagged),
		TF(test_oversized_manifest_is_too_large),
		TF(test_manifest_put_with_bad_name_is_refused),
		TF(test_manifest_put_with_bad_reference_is_refused),
		TF(test_unknown_tag_or_repository_is_not_found),
		TF(test_tag_move_keeps_old_manifest_reachable),
		TF(test_delete_by_tag_keeps_manifest_by_digest),
		TF(test_delete_by_digest_removes_tags_and_blob),
		TF(test_image_index_needs_its_children),
		TF(test_manifest_blob_itself_cannot_be_deleted_as_blob),
		TF(test_layer_of_index_child_stays_referenced),
		TF(test_foreign_layer_need_not_be_pushed),
		TF(test_manifest_without_media_type_takes_content_type),
		TF(test_tags_are_sorted_and_paginated),
		TF(test_tags_of_unknown_repository_is_not_found),
		TF(test_catalog_is_sorted_paginated_and_skips_non_layouts),
		TF(test_directory_without_oci_layout_is_no_repository),
		TF(test_catalog_of_empty_store_is_empty),
		TF(test_catalog_lists_repository_created_by_blob_upload),
		TF(test_repo_exists_only_for_layouts),
		TF(test_referrers_lists_manifests_with_subject),
		TF(test_referrers_filter_by_artifact_type),
		TF(test_referrer_without_artifact_type_uses_config_type),
		TF(test_deleted_referrer_is_no_longer_listed),
		TF(test_index_json_edited_behind_store_is_noticed),
		TF(test_hand_made_layout_is_served),
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
