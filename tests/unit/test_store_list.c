/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_list.c - unit tests for index/store.h: tags, the catalog,
 * and layouts changed behind the store's back, through its public API
 * only. Each test opens a store in its own mkdtemp directory (storelib.h
 * has the shared helpers).
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

/* Reopen @f's store with @opts. */

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(test_tags_are_sorted_and_paginated),
		TF(test_tags_of_unknown_repository_is_not_found),
		TF(test_catalog_is_sorted_paginated_and_skips_non_layouts),
		TF(test_directory_without_oci_layout_is_no_repository),
		TF(test_catalog_of_empty_store_is_empty),
		TF(test_catalog_lists_repository_created_by_blob_upload),
		TF(test_repo_exists_only_for_layouts),
		TF(test_index_json_edited_behind_store_is_noticed),
		TF(test_hand_made_layout_is_served),
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
