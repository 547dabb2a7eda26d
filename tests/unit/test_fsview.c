/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fsview.c - unit tests for the store's mounted view (index/store.h,
 * "The mounted view"): what fusefs/ calls, exercised without FUSE, so they
 * run where /dev/fuse does not exist.
 *
 * Each test opens a store in its own mkdtemp directory and writes layouts
 * through store_fs_create/write/commit the way the mount's handlers do for
 * `cp -r`, checking the result through the store's HTTP-side API.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/digest.h"
#include "daemon/err.h"
#include "index/store.h"

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER  "application/vnd.oci.image.layer.v1.tar"

/* A one-layer image, as the files of an OCI layout hold it. */
struct image {
	char layer[200];     /* the layer's bytes */
	size_t layer_len;    /* their length */
	char config[400];    /* the config JSON */
	char manifest[1024]; /* the manifest JSON */
	char index[1024];    /* an index.json naming the manifest by tag */
	struct digest dl;    /* the layer's digest */
	struct digest dc;    /* the config's digest */
	struct digest dm;    /* the manifest's digest */
};

static int setup(void **state)
{
	return test_fixture_setup(state, "fsview");
}

static int teardown(void **state)
{
	return test_fixture_teardown(state);
}

static void digest_of(const void *buf, size_t len, struct digest *out)
{
	struct err err = ERR_INIT;

	assert_int_equal(digest_buffer(DIGEST_SHA256, buf, len, out, &err), 0);
}

/* Image number @seed, tagged @tag in its index.json. */
static void make_image(struct image *im, int seed, const char *tag)
{
	char dl[DIGEST_STR_MAX], dc[DIGEST_STR_MAX], dm[DIGEST_STR_MAX];

	im->layer_len = (size_t)snprintf(im->layer, sizeof(im->layer),
	                                 "layer %d: some bytes of a tar", seed);
	digest_of(im->layer, im->layer_len, &im->dl);
	digest_format(&im->dl, dl);
	snprintf(im->config, sizeof(im->config),
	         "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
	         "{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
	         dl);
	digest_of(im->config, strlen(im->config), &im->dc);
	digest_format(&im->dc, dc);
	snprintf(im->manifest, sizeof(im->manifest),
	         "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":"
	         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
	         "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
	         "\"size\":%zu}]}",
	         MT_OCI_MANIFEST, MT_CONFIG, dc, strlen(im->config), MT_LAYER,
	         dl, im->layer_len);
	digest_of(im->manifest, strlen(im->manifest), &im->dm);
	digest_format(&im->dm, dm);
	snprintf(im->index, sizeof(im->index),
	         "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
	         "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
	         "\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
	         MT_OCI_MANIFEST, dm, strlen(im->manifest), tag);
}

/* "<repo>/blobs/<alg>/<hex>" into @out (PATH_MAX). */
static void blob_rel(char *out, const char *repo, const struct digest *d)
{
	snprintf(out, PATH_MAX, "%s/blobs/%s/%s", repo, digest_alg_name(d->alg),
	         d->hex);
}

/* Write @rel through the view as one write and a close, like cp. */
static int put(struct store *st, const char *rel, const void *buf, size_t len,
               struct err *err)
{
	struct fs_writer *w = store_fs_create(st, rel, err);
	int ret;

	if (!w)
		return -1;
	ret = store_fs_write(w, buf, len, 0, err);
	if (ret == 0)
		ret = store_fs_commit(w, err);
	store_fs_writer_free(w);
	return ret;
}

/* mkdir @repo, @repo/blobs, @repo/blobs/sha256 through the view. */
static void mkdirs(struct store *st, const char *repo)
{
	char rel[PATH_MAX];
	struct err err = ERR_INIT;

	/* Parents of a nested name first, as mkdir -p makes them. */
	for (const char *s = strchr(repo, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(rel, sizeof(rel), "%.*s", (int)(s - repo), repo);
		if (store_fs_mkdir(st, rel, 0755, &err) < 0) {
			assert_int_equal(err.code, ERR_EXISTS);
			err = ERR_INIT;
		}
	}
	assert_int_equal(store_fs_mkdir(st, repo, 0755, &err), 0);
	snprintf(rel, sizeof(rel), "%s/blobs", repo);
	assert_int_equal(store_fs_mkdir(st, rel, 0755, &err), 0);
	snprintf(rel, sizeof(rel), "%s/blobs/sha256", repo);
	assert_int_equal(store_fs_mkdir(st, rel, 0755, &err), 0);
}

static void put_blob(struct store *st, const char *repo, const struct digest *d,
                     const void *buf, size_t len)
{
	char rel[PATH_MAX];
	struct err err = ERR_INIT;

	blob_rel(rel, repo, d);
	if (put(st, rel, buf, len, &err) < 0)
		fail_msg("writing %s: %s", rel, err.msg);
}

static void put_text(struct store *st, const char *repo, const char *name,
                     const char *text)
{
	char rel[PATH_MAX];
	struct err err = ERR_INIT;

	snprintf(rel, sizeof(rel), "%s/%s", repo, name);
	if (put(st, rel, text, strlen(text), &err) < 0)
		fail_msg("writing %s: %s", rel, err.msg);
}

/* Does @tag of @repo resolve to @d? */
static bool tag_is(struct store *st, const char *repo, const char *tag,
                   const struct digest *d)
{
	struct manifest_desc desc;
	struct err err = ERR_INIT;

	return store_manifest_get(st, repo, tag, &desc, NULL, &err) == 0 &&
	       digest_equal(&desc.digest, d);
}

static bool tag_missing(struct store *st, const char *repo, const char *tag)
{
	struct manifest_desc desc;
	struct err err = ERR_INIT;

	return store_manifest_get(st, repo, tag, &desc, NULL, &err) < 0 &&
	       err.code == ERR_NOT_FOUND;
}

static void test_view_hides_internal_state(void **state)
{
	struct test_fixture *f = *state;
	struct strvec names = {0};
	struct err err = ERR_INIT;
	struct stat sb;

	assert_int_equal(store_fs_stat(f->st, "", &sb, &err), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(store_fs_stat(f->st, ".dray", &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_fs_stat(f->st, ".dray/lock", &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(store_fs_list(f->st, "", &names, &err), 0);
	for (size_t i = 0; i < names.n; i++)
		assert_true(names.v[i][0] != '.');
	strvec_release(&names);
}

static void test_malformed_paths_are_invalid(void **state)
{
	struct test_fixture *f = *state;
	const char *bad[] = {"a/../.dray", "a//b", "a/./b", "a/.."};
	struct stat sb;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err = ERR_INIT;

		assert_int_equal(store_fs_stat(f->st, bad[i], &sb, &err), -1);
		assert_int_equal(err.code, ERR_INVALID);
	}
}

static void
test_layout_copied_index_first_appears_with_its_last_blob(void **state)
{
	struct test_fixture *f = *state;
	struct image im;

	make_image(&im, 1, "v1");
	mkdirs(f->st, "team/app");
	put_text(f->st, "team/app", "index.json", im.index);
	put_text(f->st, "team/app", "oci-layout",
	         "{\"imageLayoutVersion\":\"1.0.0\"}");
	assert_false(store_repo_exists(f->st, "team/app"));
	assert_true(tag_missing(f->st, "team/app", "v1"));
	put_blob(f->st, "team/app", &im.dm, im.manifest, strlen(im.manifest));
	put_blob(f->st, "team/app", &im.dc, im.config, strlen(im.config));
	assert_false(store_repo_exists(f->st, "team/app"));
	assert_true(tag_missing(f->st, "team/app", "v1"));
	put_blob(f->st, "team/app", &im.dl, im.layer, im.layer_len);
	assert_true(store_repo_exists(f->st, "team/app"));
	assert_true(tag_is(f->st, "team/app", "v1", &im.dm));
}

static void
test_blob_not_hashing_to_its_name_is_refused_then_fixed(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct fs_writer *w;
	struct image im;
	char rel[PATH_MAX], wrong[sizeof(im.layer)];
	uint64_t size;

	make_image(&im, 2, "v1");
	mkdirs(f->st, "r");
	blob_rel(rel, "r", &im.dl);
	memcpy(wrong, im.layer, im.layer_len);
	wrong[0] ^= 1;
	w = store_fs_create(f->st, rel, &err);
	assert_non_null(w);
	assert_int_equal(store_fs_write(w, wrong, im.layer_len, 0, &err), 0);
	assert_int_equal(store_fs_commit(w, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "r", &im.dl, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* Still open after a refusal: the right byte makes it right. */
	err = ERR_INIT;
	assert_int_equal(store_fs_write(w, im.layer, 1, 0, &err), 0);
	assert_int_equal(store_fs_commit(w, &err), 0);
	store_fs_writer_free(w);
	assert_int_equal(store_blob_stat(f->st, "r", &im.dl, &size, &err), 0);
	assert_int_equal(size, im.layer_len);
}

static void test_out_of_order_writes_are_verified(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct fs_writer *w;
	struct image im;
	char rel[PATH_MAX];
	size_t half;
	uint64_t size;

	make_image(&im, 3, "v1");
	mkdirs(f->st, "r");
	blob_rel(rel, "r", &im.dl);
	half = im.layer_len / 2;
	w = store_fs_create(f->st, rel, &err);
	assert_non_null(w);
	assert_int_equal(store_fs_write(w, im.layer + half, im.layer_len - half,
	                                half, &err),
	                 0);
	assert_int_equal(store_fs_write(w, im.layer, half, 0, &err), 0);
	assert_int_equal(store_fs_written(w), im.layer_len);
	assert_int_equal(store_fs_commit(w, &err), 0);
	store_fs_writer_free(w);
	assert_int_equal(store_blob_stat(f->st, "r", &im.dl, &size, &err), 0);
}

/*
 * A large blob written in order for a while (its blocks already on
 * disk, one held in memory), then out of order: the file settles to
 * exactly what was written and is judged by its content.
 */
static void test_large_blob_written_in_order_then_out_of_order(void **state)
{
	struct test_fixture *f = *state;
	size_t len = (3u << 20) + 7, a = (5u << 19) + 11, b = (11u << 18) + 5;
	unsigned char *data = malloc(len);
	struct err err = ERR_INIT;
	struct fs_writer *w;
	char rel[PATH_MAX];
	struct digest d;
	uint64_t size;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i % 251);
	digest_of((const char *)data, len, &d);
	mkdirs(f->st, "r");
	blob_rel(rel, "r", &d);
	w = store_fs_create(f->st, rel, &err);
	assert_non_null(w);
	for (size_t off = 0; off < a; off += 131072) {
		size_t n = a - off < 131072 ? a - off : 131072;

		assert_int_equal(store_fs_write(w, data + off, n, off, &err),
		                 0);
	}
	assert_int_equal(store_fs_write(w, data + b, len - b, b, &err), 0);
	assert_int_equal(store_fs_write(w, data + a, b - a, a, &err), 0);
	assert_int_equal(store_fs_written(w), len);
	assert_int_equal(store_fs_commit(w, &err), 0);
	store_fs_writer_free(w);
	assert_int_equal(store_blob_stat(f->st, "r", &d, &size, &err), 0);
	assert_int_equal(size, len);
	free(data);
}

/* Publish image @im as @repo through the view, in layout order. */
static void publish(struct store *st, const char *repo, const struct image *im)
{
	mkdirs(st, repo);
	put_blob(st, repo, &im->dl, im->layer, im->layer_len);
	put_blob(st, repo, &im->dc, im->config, strlen(im->config));
	put_blob(st, repo, &im->dm, im->manifest, strlen(im->manifest));
	put_text(st, repo, "index.json", im->index);
	put_text(st, repo, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
}

static void test_index_json_in_a_live_repository_waits_for_content(void **state)
{
	struct test_fixture *f = *state;
	struct image a, b;

	make_image(&a, 4, "v1");
	make_image(&b, 5, "v2");
	publish(f->st, "live", &a);
	assert_true(tag_is(f->st, "live", "v1", &a.dm));
	/* v2's index.json first: v1 stays until v2's content is there. */
	put_text(f->st, "live", "index.json", b.index);
	assert_true(tag_is(f->st, "live", "v1", &a.dm));
	assert_true(tag_missing(f->st, "live", "v2"));
	put_blob(f->st, "live", &b.dm, b.manifest, strlen(b.manifest));
	put_blob(f->st, "live", &b.dc, b.config, strlen(b.config));
	assert_true(tag_missing(f->st, "live", "v2"));
	put_blob(f->st, "live", &b.dl, b.layer, b.layer_len);
	assert_true(tag_is(f->st, "live", "v2", &b.dm));
	assert_true(tag_missing(f->st, "live", "v1"));
}

static void
test_invalid_index_json_is_refused_and_the_old_one_stays(void **state)
{
	struct test_fixture *f = *state;
	const char *bad[] = {
		"{\"schemaVersion\":2,\"manifests\":[",
		"[]",
		"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:x\"}]"
		"}",
	};
	struct image a;

	make_image(&a, 6, "v1");
	publish(f->st, "r", &a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err err = ERR_INIT;

		assert_int_equal(put(f->st, "r/index.json", bad[i],
		                     strlen(bad[i]), &err),
		                 -1);
		assert_int_equal(err.code, ERR_INVALID);
		assert_true(tag_is(f->st, "r", "v1", &a.dm));
	}
}

static void
test_temporary_renamed_onto_index_json_commits_at_rename(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a, b;
	char rel[PATH_MAX];
	struct stat sb;

	make_image(&a, 7, "v1");
	make_image(&b, 8, "v2");
	publish(f->st, "r", &a);
	put_blob(f->st, "r", &b.dl, b.layer, b.layer_len);
	put_blob(f->st, "r", &b.dc, b.config, strlen(b.config));
	put_blob(f->st, "r", &b.dm, b.manifest, strlen(b.manifest));
	/* A temporary is shown, and changes nothing, until renamed. */
	put_text(f->st, "r", "index.json.tmp", b.index);
	assert_int_equal(store_fs_stat(f->st, "r/index.json.tmp", &sb, &err),
	                 0);
	assert_int_equal(sb.st_size, strlen(b.index));
	assert_true(tag_is(f->st, "r", "v1", &a.dm));
	assert_int_equal(store_fs_rename(f->st, "r/index.json.tmp",
	                                 "r/index.json", &err),
	                 0);
	assert_true(tag_is(f->st, "r", "v2", &b.dm));
	assert_true(tag_missing(f->st, "r", "v1"));
	assert_int_equal(store_fs_stat(f->st, "r/index.json.tmp", &sb, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* Wrong content renamed onto a digest: refused, nothing stored. */
	err = ERR_INIT;
	put_text(f->st, "r", "blobs/sha256/.tmp", "not the layer");
	blob_rel(rel, "r", &a.dl);
	memcpy(rel + strlen(rel) - 4, "0000", 4);
	assert_int_equal(
		store_fs_rename(f->st, "r/blobs/sha256/.tmp", rel, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(store_fs_stat(f->st, rel, &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

static void test_unlink_refuses_a_needed_blob_and_takes_a_manifest(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a;
	char rel[PATH_MAX];
	uint64_t size;

	make_image(&a, 9, "v1");
	publish(f->st, "r", &a);
	blob_rel(rel, "r", &a.dl);
	assert_int_equal(store_fs_unlink(f->st, rel, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "r", &a.dl, &size, &err), 0);
	blob_rel(rel, "r", &a.dm);
	assert_int_equal(store_fs_unlink(f->st, rel, &err), 0);
	assert_true(tag_missing(f->st, "r", "v1"));
	/* Nothing needs the layer now. */
	blob_rel(rel, "r", &a.dl);
	assert_int_equal(store_fs_unlink(f->st, rel, &err), 0);
	assert_int_equal(store_blob_stat(f->st, "r", &a.dl, &size, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

/* rm -r in the order the view lists: oci-layout first. */
static void rm_r(struct store *st, const char *rel)
{
	struct strvec names = {0};
	struct err err = ERR_INIT;
	char sub[PATH_MAX];
	struct stat sb;

	assert_int_equal(store_fs_list(st, rel, &names, &err), 0);
	for (size_t i = 0; i < names.n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", rel, names.v[i]);
		assert_int_equal(store_fs_stat(st, sub, &sb, &err), 0);
		if (S_ISDIR(sb.st_mode))
			rm_r(st, sub);
		else if (store_fs_unlink(st, sub, &err) < 0)
			fail_msg("rm %s: %s", sub, err.msg);
	}
	strvec_release(&names);
	if (store_fs_rmdir(st, rel, &err) < 0)
		fail_msg("rmdir %s: %s", rel, err.msg);
}

static void test_rm_r_withdraws_a_repository_then_removes_it(void **state)
{
	struct test_fixture *f = *state;
	struct strvec names = {0}, repos = {0};
	struct err err = ERR_INIT;
	struct image a;
	struct stat sb;
	bool more;

	make_image(&a, 12, "v1");
	publish(f->st, "team/app", &a);
	publish(f->st, "team/web", &a);
	assert_int_equal(store_fs_list(f->st, "team/app", &names, &err), 0);
	assert_true(names.n >= 3);
	assert_string_equal(names.v[0], "oci-layout");
	strvec_release(&names);
	/* A live repository's index.json alone is not removed. */
	assert_int_equal(store_fs_unlink(f->st, "team/app/index.json", &err),
	                 -1);
	assert_int_equal(err.code, ERR_DENIED);
	err = ERR_INIT;
	/* A directory with files is not empty. */
	assert_int_equal(store_fs_rmdir(f->st, "team/app", &err), -1);
	assert_int_equal(err.sys_errno, ENOTEMPTY);
	err = ERR_INIT;
	/* oci-layout withdraws it from HTTP at once. */
	assert_int_equal(store_fs_unlink(f->st, "team/app/oci-layout", &err),
	                 0);
	assert_false(store_repo_exists(f->st, "team/app"));
	assert_true(tag_missing(f->st, "team/app", "v1"));
	assert_int_equal(store_catalog(f->st, NULL, 10, &repos, &more, &err),
	                 0);
	assert_int_equal(repos.n, 1);
	assert_string_equal(repos.v[0], "team/web");
	strvec_release(&repos);
	rm_r(f->st, "team/app");
	assert_int_equal(store_fs_stat(f->st, "team/app", &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_true(tag_is(f->st, "team/web", "v1", &a.dm));
	assert_int_equal(store_fs_rmdir(f->st, "", &err), -1);
}

static void test_view_writes_and_uploads_share_one_file(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX], a[PATH_MAX], b[PATH_MAX];
	struct err err = ERR_INIT;
	struct upload *u;
	struct image im;
	struct stat sa, sb;

	make_image(&im, 10, "v1");
	publish(f->st, "mounted", &im);
	assert_int_equal(store_upload_start(f->st, "pushed", id, &err), 0);
	u = store_upload_get(f->st, "pushed", id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, im.layer, im.layer_len, &err),
	                 0);
	assert_int_equal(store_upload_commit(u, &im.dl, &err), 0);
	snprintf(a, sizeof(a), "%s/mounted/blobs/sha256/%s", f->root,
	         im.dl.hex);
	snprintf(b, sizeof(b), "%s/pushed/blobs/sha256/%s", f->root, im.dl.hex);
	assert_int_equal(stat(a, &sa), 0);
	assert_int_equal(stat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
}

/* The watch hook's record of what changed. */
struct seen {
	struct strvec rels; /* paths it was called with */
};

static void watch(void *arg, const char *rel)
{
	struct seen *s = arg;

	assert_int_equal(strvec_push(&s->rels, rel), 0);
}

static bool saw(const struct seen *s, const char *rel)
{
	for (size_t i = 0; i < s->rels.n; i++)
		if (!strcmp(s->rels.v[i], rel))
			return true;
	return false;
}

static void test_watch_hears_of_http_changes(void **state)
{
	struct test_fixture *f = *state;
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	struct seen s = {0};
	char rel[PATH_MAX], dm[DIGEST_STR_MAX];
	struct image a;

	make_image(&a, 11, "v1");
	publish(f->st, "r", &a);
	store_set_watch(f->st, watch, &s);
	assert_int_equal(store_manifest_put(f->st, "r", "again",
	                                    MT_OCI_MANIFEST, a.manifest,
	                                    strlen(a.manifest), &res, &err),
	                 0);
	assert_true(saw(&s, "r/index.json"));
	assert_int_equal(store_manifest_delete(f->st, "r", "again", &err), 0);
	digest_format(&a.dm, dm);
	assert_int_equal(store_manifest_delete(f->st, "r", dm, &err), 0);
	assert_int_equal(store_blob_delete(f->st, "r", &a.dl, &err), 0);
	blob_rel(rel, "r", &a.dl);
	assert_true(saw(&s, rel));
	store_set_watch(f->st, NULL, NULL);
	strvec_release(&s.rels);
}

/* Does directory @rel of the view list @name? */
static bool lists(struct store *st, const char *rel, const char *name)
{
	struct strvec names = {0};
	struct err err = ERR_INIT;
	bool found = false;

	assert_int_equal(store_fs_list(st, rel, &names, &err), 0);
	for (size_t i = 0; i < names.n; i++)
		found = found || !strcmp(names.v[i], name);
	strvec_release(&names);
	return found;
}

static void test_oci_layout_after_completion_is_hidden_until_the_copy_writes_it(
	void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image im;
	struct stat sb;

	make_image(&im, 7, "v1");
	mkdirs(f->st, "r");
	put_text(f->st, "r", "index.json", im.index);
	put_blob(f->st, "r", &im.dm, im.manifest, strlen(im.manifest));
	put_blob(f->st, "r", &im.dc, im.config, strlen(im.config));
	put_blob(f->st, "r", &im.dl, im.layer, im.layer_len);
	/* Published for HTTP; the copy has not written its oci-layout. */
	assert_true(tag_is(f->st, "r", "v1", &im.dm));
	assert_int_equal(store_fs_stat(f->st, "r/oci-layout", &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(lists(f->st, "r", "oci-layout"));
	put_text(f->st, "r", "oci-layout",
	         "{\"imageLayoutVersion\":\"1.0.0\"}");
	assert_int_equal(store_fs_stat(f->st, "r/oci-layout", &sb, &err), 0);
	assert_true(lists(f->st, "r", "oci-layout"));
	assert_true(tag_is(f->st, "r", "v1", &im.dm));
}

static void test_edit_starts_from_the_content(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct fs_writer *w;
	struct image im;
	char rel[PATH_MAX], buf[16];
	ssize_t n;
	int fd;

	make_image(&im, 8, "v1");
	mkdirs(f->st, "r");
	put_text(f->st, "r", "notes", "a\n");
	w = store_fs_edit(f->st, "r/notes", &err);
	assert_non_null(w);
	assert_int_equal(store_fs_written(w), 2);
	assert_int_equal(store_fs_write(w, "b\n", 2, 2, &err), 0);
	assert_int_equal(store_fs_commit(w, &err), 0);
	store_fs_writer_free(w);
	assert_int_equal(store_fs_open(f->st, "r/notes", &fd, &err), 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "a\nb\n", 4);
	/* A blob opened and closed unwritten is not judged again... */
	put_blob(f->st, "r", &im.dl, im.layer, im.layer_len);
	blob_rel(rel, "r", &im.dl);
	w = store_fs_edit(f->st, rel, &err);
	assert_non_null(w);
	assert_int_equal(store_fs_written(w), im.layer_len);
	assert_int_equal(store_fs_commit(w, &err), 0);
	/* ...one appended to is refused at the write (no content that
	 * long matches the name)... */
	assert_int_equal(store_fs_limit(w), im.layer_len);
	assert_int_equal(store_fs_write(w, "x", 1, im.layer_len, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_int_equal(err.sys_errno, EFBIG);
	/* ...and one changed within its size no longer hashes to it. */
	err = ERR_INIT;
	assert_int_equal(store_fs_write(w, "x", 1, 0, &err), 0);
	assert_int_equal(store_fs_commit(w, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	store_fs_writer_free(w);
	err = ERR_INIT;
	assert_null(store_fs_edit(f->st, "r/absent", &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

/* Close and open the store again on the same directory: a restart. */
static void reopen(struct test_fixture *f)
{
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open(f->root, &err);
	if (!f->st)
		fail_msg("store_open: %s", err.msg);
}

/* The content of @rel through the view, NUL-terminated, into @buf. */
static void read_rel(struct store *st, const char *rel, char *buf, size_t n)
{
	struct err err = ERR_INIT;
	ssize_t got;
	int fd;

	assert_int_equal(store_fs_open(st, rel, &fd, &err), 0);
	got = read(fd, buf, n - 1);
	close(fd);
	assert_true(got >= 0);
	buf[got] = '\0';
}

static void test_staged_names_survive_a_restart(void **state)
{
	struct test_fixture *f = *state;
	const char *names[] = {"NOTES", "index.json.bak", ".index.json.swp",
	                       "4913", "index.json~"};
	struct err err = ERR_INIT;
	struct image a;
	char rel[PATH_MAX], buf[64];
	struct stat sb;

	make_image(&a, 9, "v1");
	publish(f->st, "r", &a);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_text(f->st, "r", names[i], names[i]);
	reopen(f);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(rel, sizeof(rel), "r/%s", names[i]);
		assert_true(store_fs_is_staged(f->st, rel));
		assert_true(lists(f->st, "r", names[i]));
		read_rel(f->st, rel, buf, sizeof(buf));
		assert_string_equal(buf, names[i]);
	}
	/* Renamed onto index.json after the restart: judged then. */
	put_text(f->st, "r", "index.json.new", a.index);
	reopen(f);
	assert_int_equal(store_fs_rename(f->st, "r/index.json.new",
	                                 "r/index.json", &err),
	                 0);
	assert_true(tag_is(f->st, "r", "v1", &a.dm));
	assert_false(store_fs_is_staged(f->st, "r/index.json.new"));
	/* A refused rename leaves the temporary, as rename(2) would. */
	put_text(f->st, "r", "broken", "{");
	assert_int_equal(
		store_fs_rename(f->st, "r/broken", "r/index.json", &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_true(store_fs_is_staged(f->st, "r/broken"));
	/* Removed: gone from the view and the stage. */
	err = ERR_INIT;
	assert_int_equal(store_fs_unlink(f->st, "r/NOTES", &err), 0);
	assert_int_equal(store_fs_stat(f->st, "r/NOTES", &sb, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(lists(f->st, "r", "NOTES"));
}

static void test_pending_index_json_survives_a_restart(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a, b;

	make_image(&a, 10, "v1");
	make_image(&b, 11, "v2");
	publish(f->st, "live", &a);
	put_text(f->st, "live", "index.json", b.index);
	put_blob(f->st, "live", &b.dm, b.manifest, strlen(b.manifest));
	reopen(f);
	assert_int_equal(store_fs_restore(f->st, &err), 0);
	assert_true(tag_is(f->st, "live", "v1", &a.dm));
	/* The rest arrives after the restart: the edit lands then. */
	put_blob(f->st, "live", &b.dc, b.config, strlen(b.config));
	put_blob(f->st, "live", &b.dl, b.layer, b.layer_len);
	assert_true(tag_is(f->st, "live", "v2", &b.dm));
	assert_true(tag_missing(f->st, "live", "v1"));
	/* Landed: nothing is restored again. */
	reopen(f);
	assert_int_equal(store_fs_restore(f->st, &err), 0);
	assert_true(tag_is(f->st, "live", "v2", &b.dm));
}

static void test_a_dot_directory_in_a_repository_is_staging(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a, b;
	struct stat sb;

	make_image(&a, 12, "v1");
	make_image(&b, 13, "v2");
	publish(f->st, "r", &a);
	/* umoci's way: a temporary directory, files in it, renamed out. */
	assert_int_equal(store_fs_mkdir(f->st, "r/.umoci-1", 0700, &err), 0);
	assert_int_equal(store_fs_stat(f->st, "r/.umoci-1", &sb, &err), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_true(lists(f->st, "r", ".umoci-1"));
	put_text(f->st, "r/.umoci-1", "index.json", "not yet judged");
	assert_true(lists(f->st, "r/.umoci-1", "index.json"));
	assert_true(tag_is(f->st, "r", "v1", &a.dm));
	put_blob(f->st, "r", &b.dm, b.manifest, strlen(b.manifest));
	put_blob(f->st, "r", &b.dc, b.config, strlen(b.config));
	put_blob(f->st, "r", &b.dl, b.layer, b.layer_len);
	put_text(f->st, "r/.umoci-1", "123", b.index);
	reopen(f);
	assert_int_equal(
		store_fs_rename(f->st, "r/.umoci-1/123", "r/index.json", &err),
		0);
	assert_true(tag_is(f->st, "r", "v2", &b.dm));
	/* Not empty yet, then removed. */
	assert_int_equal(store_fs_rmdir(f->st, "r/.umoci-1", &err), -1);
	err = ERR_INIT;
	assert_int_equal(store_fs_unlink(f->st, "r/.umoci-1/index.json", &err),
	                 0);
	assert_int_equal(store_fs_rmdir(f->st, "r/.umoci-1", &err), 0);
	assert_false(lists(f->st, "r", ".umoci-1"));
	/* Other directories in a layout are still no layout's. */
	assert_int_equal(store_fs_mkdir(f->st, "r/blobs/x", 0755, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);
}

static void test_statfs_is_the_storage_file_systems(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct statvfs a, b;

	assert_int_equal(store_fs_statfs(f->st, &a, &err), 0);
	assert_int_equal(statvfs(f->root, &b), 0);
	assert_int_equal(a.f_bsize, b.f_bsize);
	assert_int_equal(a.f_blocks, b.f_blocks);
	assert_int_equal(a.f_files, b.f_files);
	assert_true(a.f_blocks > 0);
}

/* What store_opts.on_change heard (the events extension's hook). */
static char heard_v[8][256];
static unsigned n_heard;

static void hear(void *arg, const struct store_change *c)
{
	(void)arg;
	assert_true(n_heard < 8);
	snprintf(heard_v[n_heard++], sizeof(heard_v[0]), "%s %s %s %s",
	         c->deleted ? "deleted" : "updated", c->repo, c->reference,
	         c->digest);
}

static int setup_heard(void **state)
{
	struct store_opts o = {.dedupe = true, .on_change = hear};
	struct err err = ERR_INIT;
	struct test_fixture *f;

	if (setup(state) < 0)
		return -1;
	f = *state;
	store_close(f->st);
	f->st = store_open_with(f->root, &o, &err);
	n_heard = 0;
	return f->st ? 0 : -1;
}

static void test_publishing_through_the_view_is_reported(void **state)
{
	struct test_fixture *f = *state;
	char want[256], dm[DIGEST_STR_MAX];
	struct image a, b;

	make_image(&a, 7, "v1");
	make_image(&b, 8, "v2");
	publish(f->st, "heard", &a); /* a layout copied in: all of it new */
	digest_format(&a.dm, dm);
	snprintf(want, sizeof(want), "updated heard v1 %s", dm);
	assert_int_equal(n_heard, 1);
	assert_string_equal(heard_v[0], want);
	/* An index.json written over the live one: v1 went, v2 came. */
	put_blob(f->st, "heard", &b.dl, b.layer, b.layer_len);
	put_blob(f->st, "heard", &b.dc, b.config, strlen(b.config));
	put_blob(f->st, "heard", &b.dm, b.manifest, strlen(b.manifest));
	put_text(f->st, "heard", "index.json", b.index);
	assert_int_equal(n_heard, 3);
	digest_format(&b.dm, dm);
	snprintf(want, sizeof(want), "updated heard v2 %s", dm);
	assert_string_equal(heard_v[1], want);
	digest_format(&a.dm, dm);
	snprintf(want, sizeof(want), "deleted heard v1 %s", dm);
	assert_string_equal(heard_v[2], want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_view_hides_internal_state,
	                                        setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_malformed_paths_are_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_layout_copied_index_first_appears_with_its_last_blob,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_blob_not_hashing_to_its_name_is_refused_then_fixed,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_out_of_order_writes_are_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_large_blob_written_in_order_then_out_of_order,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_index_json_in_a_live_repository_waits_for_content,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_staged_names_survive_a_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_pending_index_json_survives_a_restart, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_dot_directory_in_a_repository_is_staging, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_invalid_index_json_is_refused_and_the_old_one_stays,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_temporary_renamed_onto_index_json_commits_at_rename,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_unlink_refuses_a_needed_blob_and_takes_a_manifest,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rm_r_withdraws_a_repository_then_removes_it, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_view_writes_and_uploads_share_one_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_watch_hears_of_http_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_oci_layout_after_completion_is_hidden_until_the_copy_writes_it,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_edit_starts_from_the_content, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_statfs_is_the_storage_file_systems, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_publishing_through_the_view_is_reported,
			setup_heard, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
