/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_searchidx.c - what search keeps in the index (index/idx.c's S, N, D
 * and W tables): manifest and repository summaries follow pushes,
 * deletes, GC and a rebuild; pull counts and pushers survive a restart
 * and a rebuild, and go with their manifest.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include <jansson.h>

#include "tests/unit/storelib.h"
#include "search/zot.h"
#include "index/kv.h"
#include "index/store_int.h"

/* The S record of @ref's manifest in @repo (NULL: none). */
static json_t *manifest_rec(struct test_fixture *f, const char *repo,
                            const struct digest *d)
{
	struct err err = ERR_INIT;
	char dstr[DIGEST_STR_MAX], *text = NULL;
	size_t len;
	json_t *v;

	digest_format(d, dstr);
	if (store_search_manifest(f->st, repo, dstr, &text, &len, &err) < 0) {
		assert_int_equal(err.code, ERR_NOT_FOUND);
		return NULL;
	}
	v = json_loadb(text, len, 0, NULL);
	free(text);
	assert_non_null(v);
	return v;
}

/* Add @rec, the record in memory, to @arg: name -> {t, signed, pulls}. */
static int add_repo(const struct store_srepo *rec, void *arg)
{
	json_t *plats = json_array();
	const char *p = rec->plats;

	for (size_t i = 0; i < rec->nplats; i++) {
		const char *arch = p + strlen(p) + 1;

		json_array_append_new(plats, json_pack("{s:s, s:s}", "Os", p,
		                                       "Arch", arch));
		p = arch + strlen(arch) + 1;
	}
	return json_object_set_new(
		arg, rec->name,
		json_pack("{s:I, s:b, s:I, s:o}", "t", (json_int_t)rec->t,
	                  "signed", rec->is_signed, "pulls",
	                  (json_int_t)rec->pulls, "plats", plats));
}

/*
 * Every repository's N record (repository -> record, "pulls" added from
 * memory), checked against the records in memory: the same
 * repositories, the same ranking fields.
 */
static json_t *repo_recs(struct test_fixture *f)
{
	struct err err = ERR_INIT;
	json_t *mem = json_object(), *all = json_object(), *m;
	const char *name;

	assert_int_equal(store_search_repos(f->st, add_repo, mem, &err), 0);
	json_object_foreach(mem, name, m)
	{
		json_t *rec = NULL;

		assert_int_equal(store_search_repo(f->st, name, &rec, &err), 0);
		for (int i = 0; i < 3; i++) {
			const char *k = i == 0 ? "t" : i == 1 ? "signed" : "plats";

			if (!json_equal(json_object_get(rec, k),
			                json_object_get(m, k)))
				fail_msg("%s: %s is %s in the index, %s in memory",
				         name, k,
				         json_dumps(json_object_get(rec, k),
				                    JSON_ENCODE_ANY),
				         json_dumps(json_object_get(m, k),
				                    JSON_ENCODE_ANY));
		}
		json_object_set(rec, "pulls", json_object_get(m, "pulls"));
		json_object_set_new(all, name, rec);
	}
	json_decref(mem);
	return all;
}

/* @repo has no N record, in memory or in the index. */
static void assert_no_repo_rec(struct test_fixture *f, const char *repo)
{
	struct err err = ERR_INIT;
	json_t *rec = NULL, *all = repo_recs(f);

	assert_null(json_object_get(all, repo));
	assert_int_equal(store_search_repo(f->st, repo, &rec, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	json_decref(all);
}

/* An image whose config says @os/@arch, created at @created. */
static void make_platform_image(struct test_fixture *f, const char *repo,
                                const char *os, const char *arch,
                                const char *created, struct image *im)
{
	char cfg[512], cdig[DIGEST_STR_MAX], ldig[DIGEST_STR_MAX];
	struct digest c;
	int n;

	snprintf(cfg, sizeof(cfg),
	         "{\"os\":\"%s\",\"architecture\":\"%s\",\"created\":\"%s\","
	         "\"config\":{\"Labels\":{\"org.opencontainers.image."
	         "vendor\":\"V\"}},\"history\":[{\"created_by\":\"ADD x\"}]}",
	         os, arch, created);
	c = push_blob(f, repo, cfg);
	im->config = c;
	im->layer = push_blob(f, repo, "shared layer");
	digest_format(&c, cdig);
	digest_format(&im->layer, ldig);
	n = snprintf(im->body, sizeof(im->body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
	             "\"mediaType\":\"" MT_LAYER
	             "\",\"digest\":\"%s\",\"size\":12}]}",
	             cdig, strlen(cfg), ldig);
	assert_true(n > 0 && (size_t)n < sizeof(im->body));
	im->len = (size_t)n;
	im->digest = digest_of(DIGEST_SHA256, im->body, im->len);
}

static void reopen(struct test_fixture *f, bool rebuild)
{
	struct store_opts o = {.rebuild_index = rebuild};
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open_with(f->root, &o, &err);
	if (!f->st)
		fail_msg("reopen: %s", err.msg);
}

static void assert_member(json_t *v, const char *key, const char *want)
{
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	json_t *got = json_object_get(v, key);

	if (!got || !json_equal(got, w)) {
		char *s = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;

		fail_msg("%s is %s, not %s", key, s ? s : "(absent)", want);
	}
	json_decref(w);
}

/* The pulls of @repo's record in memory are @want. */
static void assert_repo_pulls(struct test_fixture *f, const char *repo,
                              const char *want)
{
	json_t *all = repo_recs(f);

	assert_member(json_object_get(all, repo), "pulls", want);
	json_decref(all);
}

static void test_summaries_follow_push_delete_gc(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct gc_opts o = {0};
	struct gc_report rep = {0};
	struct image a, b;
	json_t *rec, *repos;

	make_platform_image(f, "s/r", "linux", "amd64", "2024-01-01T00:00:00Z",
	                    &a);
	put_image(f, "s/r", "1", &a);
	make_platform_image(f, "s/r", "linux", "arm64", "2024-02-01T00:00:00Z",
	                    &b);
	put_image(f, "s/r", "2", &b);

	rec = manifest_rec(f, "s/r", &a.digest);
	assert_non_null(rec);
	assert_member(rec, "plat", "{\"Os\":\"linux\",\"Arch\":\"amd64\"}");
	assert_true(json_integer_value(json_object_get(rec, "size")) ==
	            (json_int_t)a.len);
	json_decref(rec);
	rec = manifest_rec(f, "s/r", &b.digest);
	assert_true(json_integer_value(json_object_get(rec, "size")) ==
	            (json_int_t)b.len);
	assert_member(json_object_get(rec, "c"), "history",
	              "[{\"created_by\":\"ADD x\"}]");
	json_decref(rec);
	repos = repo_recs(f);
	rec = json_object_get(repos, "s/r");
	assert_member(rec, "n", "2");
	assert_true(json_integer_value(json_object_get(rec, "t")) ==
	            store_time_ns("2024-02-01T00:00:00Z"));
	assert_int_equal(json_array_size(json_object_get(rec, "plats")), 2);
	json_decref(repos);

	/* Untagged, the newest goes from the repository's summary. */
	assert_int_equal(store_manifest_delete(f->st, "s/r", "2", &err), 0);
	repos = repo_recs(f);
	rec = json_object_get(repos, "s/r");
	assert_member(rec, "n", "1");
	assert_true(json_integer_value(json_object_get(rec, "t")) ==
	            store_time_ns("2024-01-01T00:00:00Z"));
	json_decref(repos);
	rec = manifest_rec(f, "s/r", &b.digest);
	assert_non_null(rec); /* still in index.json, untagged */
	json_decref(rec);

	/* GC takes the untagged manifest and its summary. */
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.manifests, 1);
	assert_null(manifest_rec(f, "s/r", &b.digest));
	rec = manifest_rec(f, "s/r", &a.digest);
	assert_non_null(rec);
	json_decref(rec);

	/* The last tag gone: no image, no repository summary. */
	assert_int_equal(store_manifest_delete(f->st, "s/r", "1", &err), 0);
	assert_no_repo_rec(f, "s/r");
}

static void test_summaries_rebuilt(void **state)
{
	struct test_fixture *f = *state;
	struct image a;
	json_t *rec, *repos;
	char child[DIGEST_STR_MAX];
	struct digest idx;

	make_platform_image(f, "s/i", "linux", "arm64", "2024-03-01T00:00:00Z",
	                    &a);
	put_image(f, "s/i", NULL, &a);
	digest_format(&a.digest, child);
	put_index_of(f, "s/i", "multi", &a, &idx);

	reopen(f, true);
	rec = manifest_rec(f, "s/i", &idx);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(rec, "kids"), 0)),
	                    child);
	json_decref(rec);
	rec = manifest_rec(f, "s/i", &a.digest);
	assert_non_null(rec);
	assert_member(rec, "plat", "{\"Os\":\"linux\",\"Arch\":\"arm64\"}");
	json_decref(rec);
	repos = repo_recs(f);
	rec = json_object_get(repos, "s/i");
	assert_member(rec, "n", "1");
	assert_member(rec, "plats", "[{\"Os\":\"linux\",\"Arch\":\"arm64\"}]");
	assert_true(json_integer_value(json_object_get(rec, "t")) ==
	            store_time_ns("2024-03-01T00:00:00Z"));
	json_decref(repos);
}

/* How many last-pull records (table P) the index holds. */
static size_t retention_pulled(struct test_fixture *f)
{
	struct err ignored = ERR_INIT;
	struct kv_iter *it = kv_iter_new(f->st->kv, "P", 1, NULL, 0);
	const char *k, *v;
	size_t klen, vlen, n = 0;

	assert_non_null(it);
	while (kv_iter_next(it, &k, &klen, &v, &vlen, &ignored) > 0)
		n++;
	kv_iter_free(it);
	return n;
}

static void test_pulls_and_pushes_survive(void **state)
{
	struct test_fixture *f = *state;
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	struct image a;
	struct zsearch *zs;
	char dstr[DIGEST_STR_MAX], user[64];
	uint64_t count, last, ms;

	make_platform_image(f, "s/p", "linux", "amd64", "2024-01-01T00:00:00Z",
	                    &a);
	assert_int_equal(store_manifest_put_as(f->st, "s/p", "1",
	                                       MT_OCI_MANIFEST, a.body, a.len,
	                                       "alice", &res, &err),
	                 0);
	digest_format(&a.digest, dstr);
	/* A second push of the same manifest keeps the first pusher. */
	assert_int_equal(store_manifest_put_as(f->st, "s/p", "again",
	                                       MT_OCI_MANIFEST, a.body, a.len,
	                                       NULL, &res, &err),
	                 0);
	zs = zsearch_new(f->st, 1000, &err);
	assert_non_null(zs);
	for (int i = 0; i < 3; i++)
		zsearch_pulled(zs, "s/p", &a.digest);
	/* Batched: nothing written yet. */
	store_pulls_get(f->st, "s/p", dstr, &count, &last);
	assert_true(count == 0);
	zsearch_free(zs); /* at stop: written */
	store_pulls_get(f->st, "s/p", dstr, &count, &last);
	assert_true(count == 3);
	assert_true(last > 0);
	assert_repo_pulls(f, "s/p", "3");

	/* Retention's last pull (P): written by a pull of the manifest. */
	{
		struct manifest_desc md;
		char *body = NULL;

		assert_int_equal(store_manifest_get(f->st, "s/p", "1", &md,
		                                    &body, &err),
		                 0);
		free(body);
		assert_int_equal(pull_flush(f->st, &err), 0);
	}
	assert_true(retention_pulled(f) > 0);

	reopen(f, false);
	store_pulls_get(f->st, "s/p", dstr, &count, &last);
	assert_true(count == 3);
	assert_repo_pulls(f, "s/p", "3"); /* loaded from the D table */
	reopen(f, true);
	store_pulls_get(f->st, "s/p", dstr, &count, &last);
	assert_true(count == 3);
	/* A lost pull time would let pulledWithin delete a pulled tag. */
	assert_true(retention_pulled(f) > 0);
	assert_true(store_pulls_repo(f->st, "s/p") == 3);
	assert_repo_pulls(f, "s/p", "3"); /* counted again at the rebuild */
	assert_int_equal(
		store_pushed_get(f->st, "s/p", dstr, &ms, user, sizeof(user)),
		0);
	assert_string_equal(user, "alice");
	assert_true(ms > 0);

	/* They go with the manifest. */
	assert_int_equal(store_manifest_delete(f->st, "s/p", dstr, &err), 0);
	store_pulls_get(f->st, "s/p", dstr, &count, &last);
	assert_true(count == 0);
	assert_true(retention_pulled(f) == 0);
	assert_no_repo_rec(f, "s/p");
	assert_int_equal(
		store_pushed_get(f->st, "s/p", dstr, &ms, user, sizeof(user)),
		-1);
}

/*
 * Pulls noted before their manifest was deleted and written after it
 * (search's batch, retention's pull times) do not bring its records back.
 */
static void test_pulls_of_a_deleted_manifest_are_dropped(void **state)
{
	struct test_fixture *f = *state;
	struct manifest_put_result res;
	struct manifest_desc md;
	struct err err = ERR_INIT;
	struct image a;
	struct zsearch *zs;
	char dstr[DIGEST_STR_MAX], *body = NULL;
	uint64_t count, last;

	make_platform_image(f, "s/d", "linux", "amd64", "2024-01-01T00:00:00Z",
	                    &a);
	assert_int_equal(store_manifest_put(f->st, "s/d", "1", MT_OCI_MANIFEST,
	                                    a.body, a.len, &res, &err),
	                 0);
	digest_format(&a.digest, dstr);
	zs = zsearch_new(f->st, 1000, &err);
	assert_non_null(zs);
	zsearch_pulled(zs, "s/d", &a.digest);
	assert_int_equal(
		store_manifest_get(f->st, "s/d", "1", &md, &body, &err), 0);
	free(body);
	assert_int_equal(store_manifest_delete(f->st, "s/d", dstr, &err), 0);
	zsearch_free(zs); /* writes the batched pull */
	assert_int_equal(pull_flush(f->st, &err), 0);
	store_pulls_get(f->st, "s/d", dstr, &count, &last);
	assert_true(count == 0);
	assert_true(store_pulls_repo(f->st, "s/d") == 0);
	assert_true(retention_pulled(f) == 0);
}

/* A layout written behind dray's back: summarised, no push recorded. */
static void test_layout_copied_in(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct image a;
	char dstr[DIGEST_STR_MAX], user[64], path[PATH_MAX];
	uint64_t ms;
	json_t *rec;

	make_platform_image(f, "s/c", "linux", "amd64", "2024-01-01T00:00:00Z",
	                    &a);
	put_image(f, "s/c", "1", &a);
	digest_format(&a.digest, dstr);
	/* Forget the push as an index of an older dray would not know it. */
	reopen(f, true);
	assert_int_equal(
		store_pushed_get(f->st, "s/c", dstr, &ms, user, sizeof(user)),
		0);
	assert_int_equal(store_manifest_delete(f->st, "s/c", dstr, &err), 0);
	/* Put the manifest back by hand and make the index notice. */
	blob_file(f, "s/c", &a.digest, path);
	write_file(path, a.body, a.len);
	path_of(f, path, "s/c/index.json");
	{
		char idx[1024];
		int n = snprintf(idx, sizeof(idx),
		                 "{\"schemaVersion\":2,\"manifests\":[{"
		                 "\"mediaType\":\"" MT_OCI_MANIFEST
		                 "\",\"digest\":\"%s\",\"size\":%zu,"
		                 "\"annotations\":{\"org.opencontainers."
		                 "image.ref.name\":\"1\"}}]}",
		                 dstr, a.len);

		write_file(path, idx, (size_t)n);
	}
	assert_int_equal(store_reconcile(f->st, &err), 0);
	rec = manifest_rec(f, "s/c", &a.digest);
	assert_non_null(rec);
	assert_true(json_integer_value(json_object_get(rec, "mtime")) > 0);
	json_decref(rec);
	assert_int_equal(
		store_pushed_get(f->st, "s/c", dstr, &ms, user, sizeof(user)),
		-1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(test_summaries_follow_push_delete_gc),
		TF(test_summaries_rebuilt),
		TF(test_pulls_and_pushes_survive),
		TF(test_pulls_of_a_deleted_manifest_are_dropped),
		TF(test_layout_copied_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
