/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storelib.h - what the unit tests of index/store.h share: paths and files
 * in a test store, pushing blobs and images, and assertions on manifests,
 * tags and catalog pages. Header only, like testlib.h; include it after
 * cmocka.h and testlib.h.
 */
#ifndef DRAY_STORELIB_H
#define DRAY_STORELIB_H

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

/* cmocka setup and teardown: a store of its own for each test. */
static inline int setup(void **state)
{
	return test_fixture_setup(state, "store");
}

static inline int teardown(void **state)
{
	return test_fixture_teardown(state);
}

#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* "<root>/<fmt...>" into @out (PATH_MAX). */
static inline void path_of(const struct test_fixture *f, char *out,
                           const char *fmt, ...) PRINTF(3, 4);

static inline void path_of(const struct test_fixture *f, char *out,
                           const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	assert_true(vsnprintf(rel, sizeof(rel), fmt, ap) < (int)sizeof(rel));
	va_end(ap);
	assert_true(snprintf(out, PATH_MAX, "%s/%s", f->root, rel) < PATH_MAX);
}

/* The path of blob @d in @repo's layout. */
static inline void blob_file(const struct test_fixture *f, const char *repo,
                             const struct digest *d, char *out)
{
	path_of(f, out, "%s/blobs/%s/%s", repo, digest_alg_name(d->alg),
	        d->hex);
}

static inline bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static inline ino_t inode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

/* Entries of @dir other than "." and ".."; 0 for a missing directory. */
static inline size_t count_entries(const char *dir)
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

static inline void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file @path, NUL-terminated (free()). */
static inline char *slurp(const char *path, size_t *len)
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

static inline struct digest digest_of(enum digest_alg alg, const void *buf,
                                      size_t len)
{
	struct err err = ERR_INIT;
	struct digest d;

	assert_int_equal(digest_buffer(alg, buf, len, &d, &err), 0);
	return d;
}

/* Upload @len bytes of @buf into @repo and commit them; returns the digest. */
static inline struct digest push_blob_alg(struct test_fixture *f,
                                          const char *repo, const void *buf,
                                          size_t len, enum digest_alg alg)
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

static inline struct digest push_blob(struct test_fixture *f, const char *repo,
                                      const char *text)
{
	return push_blob_alg(f, repo, text, strlen(text), DIGEST_SHA256);
}

/* An image manifest, its blobs already pushed. */
struct image {
	struct digest config; /* the config ("{}" from make_image()) */
	struct digest layer;  /* the one layer */
	char body[4096];      /* the manifest's bytes */
	size_t len;           /* their length */
	struct digest digest; /* sha256 of body */
};

/*
 * Push config @cfg (JSON text) and @layer into @repo and build a
 * manifest naming them; @extra (may be "") is spliced in as further
 * top-level members.
 */
static inline void make_cfg_image(struct test_fixture *f, const char *repo,
                                  const char *cfg, const char *layer,
                                  const char *extra, struct image *im)
{
	char cd[DIGEST_STR_MAX], ld[DIGEST_STR_MAX];
	int n;

	im->config = push_blob(f, repo, cfg);
	im->layer = push_blob(f, repo, layer);
	digest_format(&im->config, cd);
	digest_format(&im->layer, ld);
	n = snprintf(im->body, sizeof(im->body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":%zu}]%s}",
	             cd, strlen(cfg), ld, strlen(layer), extra);
	assert_true(n > 0 && (size_t)n < sizeof(im->body));
	im->len = (size_t)n;
	im->digest = digest_of(DIGEST_SHA256, im->body, im->len);
}

/* make_cfg_image() with the empty config "{}". */
static inline void make_image(struct test_fixture *f, const char *repo,
                              const char *layer, const char *extra,
                              struct image *im)
{
	make_cfg_image(f, repo, "{}", layer, extra, im);
}

/* Put @body under @ref of @repo, which must succeed. */
static inline void put_ok(struct test_fixture *f, const char *repo,
                          const char *ref, const char *ctype, const char *body,
                          size_t len, struct manifest_put_result *res)
{
	struct err err = ERR_INIT;

	if (store_manifest_put(f->st, repo, ref, ctype, body, len, res, &err) <
	    0)
		fail_msg("put %s:%s: %s (%s)", repo, ref, err.msg,
		         oci_code_name(err.oci));
	assert_int_equal(err.code, ERR_OK);
}

/* Push @im's manifest as @ref (a tag, or its digest when NULL). */
static inline void put_image(struct test_fixture *f, const char *repo,
                             const char *ref, const struct image *im)
{
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX];

	digest_format(&im->digest, dstr);
	put_ok(f, repo, ref ? ref : dstr, MT_OCI_MANIFEST, im->body, im->len,
	       &res);
	assert_true(digest_equal(&res.digest, &im->digest));
}

/* Push an image index of @child alone as @tag; its digest in @out. */
static inline void put_index_of(struct test_fixture *f, const char *repo,
                                const char *tag, const struct image *child,
                                struct digest *out)
{
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX], body[1024];
	int n;

	digest_format(&child->digest, dstr);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	             "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"digest\":\"%s\",\"size\":%zu}]}",
	             dstr, child->len);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	put_ok(f, repo, tag, MT_OCI_INDEX, body, (size_t)n, &res);
	if (out)
		*out = res.digest;
}

/* @body under @ref of @repo must fail with @code and the spec's @oci. */
static inline void assert_put_fails(struct test_fixture *f, const char *repo,
                                    const char *ref, const char *ctype,
                                    const char *body, size_t len,
                                    enum err_code code, enum oci_code oci)
{
	struct manifest_put_result res;
	struct err err = ERR_INIT;

	if (store_manifest_put(f->st, repo, ref, ctype, body, len, &res,
	                       &err) == 0)
		fail_msg("put %s:%s accepted: %.*s", repo, ref, (int)len, body);
	if (err.code != code || err.oci != oci)
		fail_msg("put %s:%s: %s/%s, want %s/%s (%s)", repo, ref,
		         err_code_name(err.code), oci_code_name(err.oci),
		         err_code_name(code), oci_code_name(oci), err.msg);
}

/* @ref of @repo must resolve to @want with the same bytes and type. */
static inline void assert_manifest(struct test_fixture *f, const char *repo,
                                   const char *ref, const char *body,
                                   size_t len, const struct digest *want,
                                   const char *mt)
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

static inline void assert_no_manifest(struct test_fixture *f, const char *repo,
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
static inline void tags_of(struct test_fixture *f, const char *repo, char *out,
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
static inline void page(struct test_fixture *f, const char *repo,
                        const char *last, size_t n, const char *want,
                        bool want_more)
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
static inline int subst(char *out, size_t outsz, const char *tmpl,
                        const char *key, const char *val)
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

#endif
