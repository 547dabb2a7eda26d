/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_manifest.c - unit tests for index/store.h: manifests and
 * referrers, through its public API only. Each test opens a store in its
 * own mkdtemp directory (storelib.h has the shared helpers).
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
#include "index/store_int.h"
#include "tests/unit/storelib.h"

/* ---- the repository cache ---- */

/*
 * Past opts.repo_cache the table of parsed index.json files stops
 * growing, and every repository still answers (parsed again).
 */
static void test_repo_cache_is_bounded(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts o = {.repo_cache = 4};
	struct err err = ERR_INIT;
	struct image im[12];
	char repo[32];

	store_close(f->st);
	f->st = store_open_with(f->root, &o, &err);
	assert_non_null(f->st);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 12; i++) {
			snprintf(repo, sizeof(repo), "cache/r%02d", i);
			if (!round) {
				make_image(f, repo, repo, "", &im[i]);
				put_image(f, repo, "v1", &im[i]);
			}
			assert_manifest(f, repo, "v1", im[i].body, im[i].len,
			                &im[i].digest, MT_OCI_MANIFEST);
			assert_true(hmap_count(f->st->repos) <= 4 + 1);
		}
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
	                 ERR_NOT_FOUND, OCI_MANIFEST_BLOB_UNKNOWN);
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
	                 good.len, ERR_NOT_FOUND, OCI_MANIFEST_BLOB_UNKNOWN);
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
		                 ERR_INVALID, OCI_MANIFEST_INVALID);

	/* The body says one type, the Content-Type another. */
	assert_put_fails(f, "app", "v2", MT_DOCKER_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);
	assert_put_fails(f, "app", "v2", MT_OCI_INDEX, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);

	/* A media type dray does not know, declared either way. */
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":"
	             "\"application/vnd.example+json\",\"config\":{"
	             "\"mediaType\":\"" MT_CONFIG "\",\"digest\":\"%s\","
	             "\"size\":2},\"layers\":[]}",
	             cfg);
	assert_put_fails(f, "app", "v2", NULL, body, (size_t)n, ERR_INVALID,
	                 OCI_MANIFEST_INVALID);
	assert_put_fails(f, "app", "v2", "application/vnd.example+json", body,
	                 (size_t)n, ERR_INVALID, OCI_MANIFEST_INVALID);
	n = snprintf(
		body, sizeof(body),
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_CONFIG
		"\",\"digest\":\"%s\",\"size\":2},\"layers\":[]}",
		cfg);
	assert_put_fails(f, "app", "v2", "text/plain", body, (size_t)n,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);

	/* Broken descriptors. */
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		n = subst(body, sizeof(body), broken[i], "@CFG@", cfg);
		assert_put_fails(f, "app", "v2", MT_OCI_MANIFEST, body,
		                 (size_t)n, ERR_INVALID, OCI_MANIFEST_INVALID);
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
	                 ERR_INVALID, OCI_DIGEST_INVALID);
	other = digest_of(DIGEST_SHA512, im.body, im.len);
	other.hex[0] = other.hex[0] == '0' ? '1' : '0';
	digest_format(&other, dstr);
	assert_put_fails(f, "app", dstr, MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_DIGEST_INVALID);
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
	                 ERR_TOO_LARGE, OCI_SIZE_INVALID);
	assert_false(store_repo_exists(f->st, "app"));
	free(body);
}

static void test_manifest_put_with_bad_name_is_refused(void **state)
{
	struct test_fixture *f = *state;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	assert_put_fails(f, "App", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_NAME_INVALID);
	assert_put_fails(f, "a//b", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_NAME_INVALID);
	assert_put_fails(f, "app/blobs", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_NAME_INVALID);
	assert_false(store_repo_exists(f->st, "App"));
}

static void test_manifest_put_with_bad_reference_is_refused(void **state)
{
	struct test_fixture *f = *state;
	char tag[REF_TAG_MAX + 2];
	struct image im;

	make_image(f, "app", "layer", "", &im);
	/*
	 * A bad tag is MANIFEST_INVALID, as http/manifest.c's own
	 * check_ref() answers it; NAME_INVALID is for the repository name.
	 */
	assert_put_fails(f, "app", ".v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);
	memset(tag, 't', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	assert_put_fails(f, "app", tag, MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);
	/* A malformed digest reference. */
	assert_put_fails(f, "app", "sha256:zz", MT_OCI_MANIFEST, im.body,
	                 im.len, ERR_INVALID, OCI_DIGEST_INVALID);
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
	                 ERR_NOT_FOUND, OCI_MANIFEST_BLOB_UNKNOWN);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
		TF(test_referrers_lists_manifests_with_subject),
		TF(test_referrers_filter_by_artifact_type),
		TF(test_referrer_without_artifact_type_uses_config_type),
		TF(test_deleted_referrer_is_no_longer_listed),
		TF(test_repo_cache_is_bounded),
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
