/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_zot.c - zot's search API over a store (search/zot.h): answers
 * built from images pushed through the store, the caller's rights,
 * zot's repository ranking and time order (static helpers, tested by
 * including zot.c), and the image cache when it holds one manifest.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <pthread.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include <jansson.h>

#include "tests/unit/storelib.h"
#include "search/zot.c"

static void test_rank_is_zots(void **state)
{
	(void)state;
	assert_int_equal(rank_repo("pub/alpine", "pub/alpine"), 0);
	assert_int_equal(rank_repo("alp", "pub/alpine"), 1);
	assert_int_equal(rank_repo("pine", "pub/alpine"), 3);
	assert_int_equal(rank_repo("pub", "pub/alpine"), 10);
	assert_int_equal(rank_repo("foo/bar/epo", "foo/bar/baz/repo"), 2);
	assert_int_equal(rank_repo("foo/bar/b", "foo/bar/baz/repo"), 10);
	assert_int_equal(rank_repo("bar/ba", "foo/bar/baz/repo"), 500);
	assert_int_equal(rank_repo("/alp/", "pub/alpine"), 1);
	assert_int_equal(rank_repo("", "pub/alpine"), 1);
	assert_int_equal(rank_repo("a/b/c", "a/b"), -1);
	assert_int_equal(rank_repo("nginx", "pub/alpine"), -1);
}

static void test_times_order_across_offsets(void **state)
{
	(void)state;
	assert_true(store_time_ns("1970-01-01T00:00:01Z") == 1000000000);
	assert_true(store_time_ns("2024-01-01T10:00:00+01:00") ==
	            store_time_ns("2024-01-01T09:00:00Z"));
	assert_true(store_time_ns("2024-01-01T09:00:00.5Z") ==
	            store_time_ns("2024-01-01T09:00:00Z") + 500000000);
	assert_true(store_time_ns("2000-03-01T00:00:00Z") ==
	            store_time_ns("2000-02-28T00:00:00Z") +
	                    2 * 86400LL * 1000000000);
	assert_true(store_time_ns("not a time") == 0);
	assert_true(store_time_ns(NULL) == 0);
}

/* The caller of these tests: reads everything but "priv/..." */
static bool not_priv(void *arg, const char *repo, unsigned action)
{
	(void)arg;
	return strncmp(repo, "priv/", 5) != 0 &&
	       (action == ACCESS_READ || !strcmp(repo, "pub/b"));
}

/* Run @q for @who (NULL: with every right, an administrator say). */
static json_t *run_as(struct zsearch *zs, const char *q,
                      const struct zsearch_who *who)
{
	struct err err = ERR_INIT;
	json_t *out = zsearch_run(zs, q, strlen(q), NULL, NULL, who, &err);

	if (!out)
		fail_msg("%s", err.msg);
	return out;
}

static json_t *run_query(struct zsearch *zs, const char *q)
{
	struct zsearch_who who = {.may = not_priv};

	return run_as(zs, q, &who);
}

/* The answer's member at @path (a JSON pointer of sorts: "a.b.0.c"). */
static json_t *at(json_t *v, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v;
	     tok = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10))
		                     : json_object_get(v, tok);
	return v;
}

static void assert_at(json_t *v, const char *path, const char *want)
{
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	json_t *got = at(v, path);

	assert_non_null(w);
	if (!got || !json_equal(got, w)) {
		char *s = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;

		fail_msg("%s is %s, not %s", path, s ? s : "(absent)", want);
	}
	json_decref(w);
}

static void test_queries_answer_from_the_store(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a1, a2, b1, p1;
	struct zsearch *zs;
	json_t *r;

	make_image(f, "pub/a", "layer-a1",
	           ",\"annotations\":{\"org.opencontainers.image.vendor\":"
	           "\"V\",\"org.label-schema.description\":\"old\"}",
	           &a1);
	put_image(f, "pub/a", "1", &a1);
	make_image(f, "pub/a", "layer-a2", "", &a2);
	put_image(f, "pub/a", "2", &a2);
	make_image(f, "pub/b", "layer-b1", "", &b1);
	put_image(f, "pub/b", "x", &b1);
	make_image(f, "priv/p", "layer-p1", "", &p1);
	put_image(f, "priv/p", "y", &p1);
	/* One manifest cached at a time: every answer survives misses. */
	zs = zsearch_new(f->st, 1, &err);
	assert_non_null(zs);

	r = run_query(zs, "{ImageList(repo: \"pub/a\", requestedPage: "
	                  "{sortBy: ALPHABETIC_DSC}) {Page {TotalCount "
	                  "ItemCount} Results {Tag Vendor Description Size "
	                  "IsDeletable Manifests {Layers {Size}}}}}");
	assert_at(r, "data.ImageList.Page",
	          "{\"TotalCount\":2,\"ItemCount\":2}");
	assert_at(r, "data.ImageList.Results.0.Tag", "\"2\"");
	assert_at(r, "data.ImageList.Results.1.Vendor", "\"V\"");
	assert_at(r, "data.ImageList.Results.1.Description", "\"old\"");
	assert_at(r, "data.ImageList.Results.1.Manifests.0.Layers",
	          "[{\"Size\":\"8\"}]");
	assert_at(r, "data.ImageList.Results.1.IsDeletable", "false");
	/* manifest + "{}" + the layer */
	{
		char want[32];

		snprintf(want, sizeof(want), "\"%zu\"", a1.len + 2 + 8);
		assert_at(r, "data.ImageList.Results.1.Size", want);
	}
	json_decref(r);

	r = run_query(zs, "{GlobalSearch(query: \"\", requestedPage: {limit: "
	                  "1, offset: 1, sortBy: ALPHABETIC_ASC}) {Page "
	                  "{TotalCount ItemCount} Repos {Name Vendors} Images "
	                  "{Tag}}}");
	assert_at(r, "data.GlobalSearch.Page",
	          "{\"TotalCount\":2,\"ItemCount\":1}");
	assert_at(r, "data.GlobalSearch.Repos",
	          "[{\"Name\":\"pub/b\",\"Vendors\":[]}]");
	assert_at(r, "data.GlobalSearch.Images", "[]");
	json_decref(r);

	r = run_query(zs, "{ImageList(repo: \"\") {Results {RepoName Tag "
	                  "IsDeletable}}}");
	assert_at(
		r, "data.ImageList.Results",
		"[{\"RepoName\":\"pub/a\",\"Tag\":\"1\",\"IsDeletable\":false},"
		"{\"RepoName\":\"pub/a\",\"Tag\":\"2\",\"IsDeletable\":false},"
		"{\"RepoName\":\"pub/b\",\"Tag\":\"x\",\"IsDeletable\":true}]");
	json_decref(r);

	/* Hidden and absent are one answer. */
	r = run_query(zs, "{Image(image: \"priv/p:y\") {Tag}}");
	assert_at(r, "data", "null");
	assert_at(r, "errors.0.message", "\"repository 'priv/p' not found\"");
	json_decref(r);
	r = run_query(zs, "{Image(image: \"pub/nope:y\") {Tag}}");
	assert_at(r, "errors.0.message", "\"repository 'pub/nope' not found\"");
	json_decref(r);

	r = run_query(zs, "{ImageList(repo: \"pub/a\", requestedPage: "
	                  "{sortBy: SEVERITY}) {Results {Tag}}}");
	assert_at(r, "errors.0.message",
	          "\"sorting images by 'SEVERITY' is not supported\"");
	json_decref(r);
	zsearch_free(zs);
}

static void test_pulls_count_per_repository(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a;
	struct zsearch *zs;
	json_t *r;

	make_image(f, "pub/a", "layer", "", &a);
	put_image(f, "pub/a", "1", &a);
	make_image(f, "pub/b", "layer", "", &a);
	put_image(f, "pub/b", "1", &a);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	zsearch_pulled(zs, "pub/a", &a.digest);
	zsearch_pulled(zs, "pub/a", &a.digest);
	zsearch_pulled(zs, "pub/b", &a.digest);
	r = run_query(zs, "{RepoListWithNewestImage(requestedPage: {sortBy: "
	                  "DOWNLOADS}) {Results {Name DownloadCount "
	                  "NewestImage {DownloadCount LastPullTimestamp}}}}");
	assert_at(r, "data.RepoListWithNewestImage.Results.0.Name",
	          "\"pub/a\"");
	assert_at(r, "data.RepoListWithNewestImage.Results.0.DownloadCount",
	          "2");
	assert_at(r, "data.RepoListWithNewestImage.Results.1.DownloadCount",
	          "1");
	assert_true(json_is_string(at(r, "data.RepoListWithNewestImage."
	                                 "Results.0.NewestImage."
	                                 "LastPullTimestamp")));
	json_decref(r);
	zsearch_free(zs);
}

static void test_cve_queries_say_no_scanner(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct zsearch *zs = zsearch_new(f->st, 0, &err);
	json_t *r;

	assert_non_null(zs);
	r = run_query(zs, "{ImageListForCVE(id: \"CVE-1\") {Results {Tag}}}");
	assert_at(r, "data", "null");
	assert_at(r, "errors.0.message",
	          "\"CVE scanning is not supported: dray packages no "
	          "scanner\"");
	json_decref(r);
	zsearch_free(zs);
}

/*
 * zot-review.md 1 and 2: an image is looked up in the repository named,
 * never found through another one (a digest read there first, or a tag
 * after '@').
 */
static void test_images_stay_in_their_repository(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image p, b;
	struct zsearch *zs;
	char q[512], dstr[DIGEST_STR_MAX];
	json_t *r;

	make_image(f, "priv/p", "secret layer",
	           ",\"annotations\":{\"org.opencontainers.image.vendor\":"
	           "\"SECRET\"}",
	           &p);
	put_image(f, "priv/p", "y", &p);
	make_image(f, "pub/b", "layer-b", "", &b);
	put_image(f, "pub/b", "x", &b);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	digest_format(&p.digest, dstr);
	/* Someone who may read priv/p looks at it first. */
	snprintf(q, sizeof(q), "{Image(image: \"priv/p@%s\") {Vendor}}", dstr);
	r = run_as(zs, q, NULL);
	assert_at(r, "data.Image.Vendor", "\"SECRET\"");
	json_decref(r);
	snprintf(q, sizeof(q), "{Image(image: \"pub/b@%s\") {RepoName Vendor}}",
	         dstr);
	r = run_query(zs, q);
	assert_at(r, "data", "null");
	json_decref(r);
	r = run_as(zs, "{Image(image: \"priv/p@y\") {Vendor}}", NULL);
	assert_at(r, "errors.0.message", "\"image 'priv/p@y' not found\"");
	json_decref(r);
	r = run_query(zs, "{Image(image: \"pub/b@y\") {Vendor}}");
	assert_at(r, "errors.0.message", "\"image 'pub/b@y' not found\"");
	json_decref(r);
	zsearch_free(zs);
}

/* zot-review.md 3: ExpandedRepoInfo of a hidden and of an absent name. */
static void test_expanded_hides_existence(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct zsearch *zs;
	struct image p;
	json_t *hidden, *absent;

	make_image(f, "priv/p", "layer-p", "", &p);
	put_image(f, "priv/p", "y", &p);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	hidden = run_query(zs, "{ExpandedRepoInfo(repo: \"priv/p\") {Summary "
	                       "{Name}}}");
	absent = run_query(zs, "{ExpandedRepoInfo(repo: \"pub/nope\") "
	                       "{Summary {Name}}}");
	assert_true(json_equal(hidden, absent));
	assert_at(hidden, "data.ExpandedRepoInfo.Summary", "null");
	json_decref(hidden);
	json_decref(absent);
	zsearch_free(zs);
}

/*
 * zot-review.md 4 and 7: a config created after 2262 is a time (no
 * overflow), and ImageListForDigest finds a part of a digest (zot's
 * strings.Contains).
 */
static void test_odd_manifests(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	char cfg[DIGEST_STR_MAX], lay[DIGEST_STR_MAX], body[1024], q[256];
	const char *conf = "{\"created\":\"9999-12-31T23:59:59Z\"}";
	struct manifest_put_result res;
	struct digest c, l;
	struct zsearch *zs;
	json_t *r;
	int n;

	assert_true(store_time_ns("9999-12-31T23:59:59Z") == INT64_MAX);
	assert_true(store_time_ns("0001-01-01T00:00:00Z") == INT64_MIN);
	assert_true(store_time_ns("2024-13-01T00:00:00Z") == 0);
	c = push_blob(f, "pub/odd", conf);
	l = push_blob(f, "pub/odd", "a layer");
	digest_format(&c, cfg);
	digest_format(&l, lay);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":7}]}",
	             cfg, strlen(conf), lay);
	put_ok(f, "pub/odd", "far", MT_OCI_MANIFEST, body, (size_t)n, &res);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	r = run_query(zs,
	              "{ImageList(repo: \"pub/odd\", requestedPage: "
	              "{sortBy: UPDATE_TIME}) {Results {Tag LastUpdated}}}");
	assert_at(r, "data.ImageList.Results",
	          "[{\"Tag\":\"far\",\"LastUpdated\":"
	          "\"9999-12-31T23:59:59Z\"}]");
	json_decref(r);
	/* The hex part of the layer's digest, without "sha256:". */
	snprintf(q, sizeof(q),
	         "{ImageListForDigest(id: \"%.20s\") {Results {Tag}}}",
	         lay + 7);
	r = run_query(zs, q);
	assert_at(r, "data.ImageListForDigest.Results", "[{\"Tag\":\"far\"}]");
	json_decref(r);
	zsearch_free(zs);
}

/* repo_quick() and repo_built() of @repo must give the same summary. */
static void assert_quick_is_built(struct zsearch *zs, const char *repo)
{
	struct zreq zr = {.zs = zs};
	struct err err = ERR_INIT;
	json_t *a = json_array(), *b = json_array();
	struct zrepo rp;

	assert_int_equal(repo_load_tags(zs, repo, &rp, &err), 0);
	assert_int_equal(repo_quick(&zr, &rp, 3, a, &err), 0);
	assert_int_equal(repo_built(&zr, &rp, 3, b, &err), 0);
	repo_release(&rp);
	if (!json_equal(a, b)) {
		char *x = json_dumps(a, JSON_SORT_KEYS);
		char *y = json_dumps(b, JSON_SORT_KEYS);

		fail_msg("%s: quick %s\nbuilt %s", repo, x, y);
	}
	json_decref(a);
	json_decref(b);
}

/*
 * A repository's summary from its record (sizes, platforms, vendors,
 * the newest image, downloads) is the one built from all its images:
 * tags of one digest, an index whose images give the vendor, labels,
 * a signature tag, an untagged manifest; after pulls and a delete.
 */
static void test_quick_summary_is_the_built_one(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a, b, c, sig;
	char sigtag[DIGEST_STR_MAX + 8], dstr[DIGEST_STR_MAX];
	struct zsearch *zs;

	make_cfg_image(f, "q/r",
	               "{\"created\":\"2024-01-01T00:00:00Z\",\"os\":\"linux\","
	               "\"architecture\":\"amd64\",\"config\":{\"Labels\":"
	               "{\"org.label-schema.vendor\":\"L\"}}}",
	               "layer-a", "", &a);
	put_image(f, "q/r", "1", &a);
	put_image(f, "q/r", "same", &a);
	make_cfg_image(f, "q/r",
	               "{\"created\":\"2024-03-01T00:00:00Z\",\"os\":\"linux\","
	               "\"architecture\":\"arm\",\"variant\":\"v7\"}",
	               "layer-b",
	               ",\"annotations\":{\"org.opencontainers.image.vendor\":"
	               "\"V\"}",
	               &b);
	put_image(f, "q/r", NULL, &b);
	make_cfg_image(f, "q/r", "{\"created\":\"2024-02-01T00:00:00Z\"}",
	               "layer-a", "", &c);
	put_image(f, "q/r", "2", &c);
	put_index_of(f, "q/r", "multi", &b, NULL);
	digest_format(&a.digest, dstr);
	snprintf(sigtag, sizeof(sigtag), "sha256-%s.sig", dstr + 7);
	make_image(f, "q/r", "a signature", "", &sig);
	put_image(f, "q/r", sigtag, &sig);
	make_image(f, "q/r", "untagged", "", &sig);
	put_image(f, "q/r", NULL, &sig);

	zs = zsearch_new(f->st, 1, &err);
	assert_non_null(zs);
	assert_quick_is_built(zs, "q/r");
	zsearch_pulled(zs, "q/r", &a.digest);
	zsearch_pulled(zs, "q/r", &c.digest);
	zsearch_pulled(zs, "q/r", &sig.digest);
	assert_quick_is_built(zs, "q/r");
	assert_int_equal(store_manifest_delete(f->st, "q/r", "multi", &err),
	                 0);
	assert_quick_is_built(zs, "q/r");
	zsearch_free(zs);
	/* Loaded again from the index: the same. */
	store_close(f->st);
	f->st = store_open_with(f->root, &(struct store_opts){0}, &err);
	assert_non_null(f->st);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	assert_quick_is_built(zs, "q/r");
	/* A push after the reopen changes the record kept in the index. */
	put_image(f, "q/r", "3", &b);
	assert_quick_is_built(zs, "q/r");
	zsearch_free(zs);
	/* Rebuilt: the records are made again from the layout. */
	store_close(f->st);
	f->st = store_open_with(f->root,
	                        &(struct store_opts){.rebuild_index = true},
	                        &err);
	assert_non_null(f->st);
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	assert_quick_is_built(zs, "q/r");
	zsearch_free(zs);
}

/* The names of the repositories of GlobalSearch @text's page. */
static json_t *page_names(struct zsearch *zs, const char *text,
                          const char *sort, int limit, int offset,
                          json_int_t *total)
{
	char q[512];
	json_t *r, *names = json_array(), *e;
	size_t i;

	snprintf(q, sizeof(q),
	         "{GlobalSearch(query: \"%s\", requestedPage: {limit: %d, "
	         "offset: %d, sortBy: %s}) {Page {TotalCount} Repos {Name}}}",
	         text, limit, offset, sort);
	r = run_query(zs, q);
	*total = json_integer_value(at(r, "data.GlobalSearch.Page.TotalCount"));
	json_array_foreach(at(r, "data.GlobalSearch.Repos"), i, e)
		json_array_append(names, json_object_get(e, "Name"));
	json_decref(r);
	return names;
}

/*
 * A page keeps only the best offset + limit repositories while ranking
 * them all: past that bound, each page is the slice of the whole list.
 */
static void test_pages_past_the_kept_bound(void **state)
{
	static const char *const sorts[] = {"RELEVANCE", "ALPHABETIC_ASC",
	                                    "ALPHABETIC_DSC", "UPDATE_TIME",
	                                    "DOWNLOADS"};
	static const int offs[] = {0, 3, 17, 34, 36, 50};
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct zsearch *zs;

	for (int i = 0; i < 36; i++) {
		char repo[32], layer[32], cfg[96];
		struct image im;

		snprintf(repo, sizeof(repo), "pub/r%c%d", 'a' + i % 7, i);
		snprintf(layer, sizeof(layer), "layer %d", i);
		snprintf(cfg, sizeof(cfg),
		         "{\"created\":\"2024-01-%02dT00:00:00Z\"}", 1 + i % 5);
		make_cfg_image(f, repo, cfg, layer, "", &im);
		put_image(f, repo, "1", &im);
	}
	zs = zsearch_new(f->st, 0, &err);
	assert_non_null(zs);
	for (int i = 0; i < 36; i += 4) {
		char repo[32];
		struct image im;

		snprintf(repo, sizeof(repo), "pub/r%c%d", 'a' + i % 7, i);
		for (int k = 0; k < i % 3 + 1; k++) {
			struct manifest_desc d;

			assert_int_equal(store_manifest_get(f->st, repo, "1",
			                                    &d, NULL, &err),
			                 0);
			im.digest = d.digest;
			zsearch_pulled(zs, repo, &im.digest);
		}
	}
	for (size_t s = 0; s < sizeof(sorts) / sizeof(sorts[0]); s++) {
		json_int_t total, t2;
		json_t *all = page_names(zs, "r", sorts[s], 0, 0, &total);

		assert_int_equal(total, 36);
		assert_int_equal(json_array_size(all), 36);
		for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
			json_t *pg = page_names(zs, "r", sorts[s], 4, offs[o],
			                        &t2);

			assert_int_equal(t2, total);
			for (int k = 0; k < 4 && offs[o] + k < 36; k++)
				if (!json_equal(json_array_get(pg, (size_t)k),
				                json_array_get(all,
				                               (size_t)(offs[o] +
				                                        k))))
					fail_msg("%s offset %d: item %d differs",
					         sorts[s], offs[o], k);
			assert_int_equal(json_array_size(pg),
			                 offs[o] >= 36 ? 0
			                 : offs[o] + 4 > 36
			                         ? (size_t)(36 - offs[o])
			                         : 4);
			json_decref(pg);
		}
		json_decref(all);
	}
	zsearch_free(zs);
}

/* The SDL has zot's types and fields with zot's types and nullability. */
static void test_sdl_has_zots_types(void **state)
{
	static const char *const lines[] = {
		"scalar Time\n",
		"type ImageSummary {\n",
		"  Referrers: [Referrer]\n",
		"  Annotations: [Annotation]!\n",
		"  TotalCount: Int!\n",
		"  Results: [RepoSummary!]!\n",
		"  Platform: Platform\n",
		"input PageInput {\n",
		"  sortBy: SortCriteria\n",
		"input Filter {\n",
		"  Os: [String]\n",
		"input ImageInput {\n",
		"  Repo: String!\n",
		"enum SortCriteria {\n  RELEVANCE\n  UPDATE_TIME\n  "
		"ALPHABETIC_ASC\n  ALPHABETIC_DSC\n  SEVERITY\n  STARS\n  "
		"DOWNLOADS\n}",
		"): PaginatedReposResult!\n",
		"): RepoInfo!\n",
		"): [Referrer]!\n",
		"): ImageSummary!\n",
		"): CVEResultForImage!\n",
	};
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct zsearch *zs = zsearch_new(f->st, 0, &err);
	char *sdl;

	assert_non_null(zs);
	sdl = zsearch_sdl(zs, &err);
	assert_non_null(sdl);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (!strstr(sdl, lines[i]))
			fail_msg("the SDL lacks '%s'", lines[i]);
	free(sdl);
	zsearch_free(zs);
}

/* What each thread of the concurrency test does. */
struct racer {
	struct zsearch *zs; /* shared */
	int ok;             /* answers with the two images */
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct zsearch_who who = {.may = not_priv};
	static const char q[] = "{ImageList(repo: \"\") {Results {Tag "
				"Manifests {Layers {Digest}}}}}";

	for (int i = 0; i < 20; i++) {
		struct err err = ERR_INIT;
		json_t *out = zsearch_run(r->zs, q, strlen(q), NULL, NULL, &who,
		                          &err);

		r->ok +=
			json_array_size(at(out, "data.ImageList.Results")) == 2;
		json_decref(out);
	}
	return NULL;
}

/*
 * Four threads query one zsearch whose cache holds one manifest, so
 * they evict what the others read (TSan's CI job runs this).
 */
static void test_threads_share_one_cache(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct racer r[4];
	pthread_t t[4];
	struct image a, b;
	struct zsearch *zs;

	make_image(f, "pub/a", "layer-a", "", &a);
	put_image(f, "pub/a", "1", &a);
	make_image(f, "pub/b", "layer-b", "", &b);
	put_image(f, "pub/b", "1", &b);
	zs = zsearch_new(f->st, 1, &err);
	assert_non_null(zs);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.zs = zs};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].ok, 20);
	}
	zsearch_free(zs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank_is_zots),
		cmocka_unit_test(test_times_order_across_offsets),
		TF(test_queries_answer_from_the_store),
		TF(test_pulls_count_per_repository),
		TF(test_cve_queries_say_no_scanner),
		TF(test_threads_share_one_cache),
		TF(test_sdl_has_zots_types),
		TF(test_images_stay_in_their_repository),
		TF(test_expanded_hides_existence),
		TF(test_odd_manifests),
		TF(test_quick_summary_is_the_built_one),
		TF(test_pages_past_the_kept_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
