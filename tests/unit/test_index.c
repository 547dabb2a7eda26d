/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_index.c - unit tests for the RocksDB content index (index/idx.c,
 * index/check.c) through the public store API: the layouts are the truth,
 * so the catalog, tag lists, tag resolution and referrers answer the same
 * after the index is rebuilt (rebuild_index, a deleted or corrupt index
 * directory), and store_fsck() reports exactly the disagreements that
 * edits made behind the store's back cause.
 *
 * Each test gets its own mkdtemp root holding a few repositories.
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
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "index/store.h"

#define ART_SIG  "application/vnd.test.signature"
#define ART_SBOM "application/vnd.test.sbom"
#define SNAP_MAX 16384

struct fixture {
	char dir[64];     /* this test's mkdtemp directory, the store root */
	struct store *st; /* the store, open on dir (NULL when closed) */
	struct digest v1; /* alpha:v1, the subject of the referrers */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->st = test_store_open(f->dir, sizeof(f->dir), "index");
	if (!f->st) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	test_rm_tree(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f, const struct store_opts *o)
{
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open_with(f->dir, o, &err);
	if (!f->st)
		fail_msg("store_open_with: %s", err.msg);
}

static void blob_put(struct store *st, const char *repo, const char *data,
                     struct digest *d)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(digest_buffer(DIGEST_SHA256, data, strlen(data), d,
	                               &err),
	                 0);
	assert_int_equal(store_upload_start(st, repo, id, &err), 0);
	u = store_upload_get(st, repo, id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, data, strlen(data), &err), 0);
	assert_int_equal(store_upload_commit(u, d, &err), 0);
}

static void man_put(struct store *st, const char *repo, const char *tag,
                    const char *mt, const char *body, struct digest *out)
{
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	char ref[DIGEST_STR_MAX];
	struct digest d;

	assert_int_equal(digest_buffer(DIGEST_SHA256, body, strlen(body), &d,
	                               &err),
	                 0);
	digest_format(&d, ref);
	if (store_manifest_put(st, repo, tag ? tag : ref, mt, body,
	                       strlen(body), &res, &err) < 0)
		fail_msg("manifest put %s:%s: %s", repo, tag ? tag : ref,
		         err.msg);
	if (out)
		*out = d;
}

/*
 * Push an image made from @seed into @repo under @tag (NULL: by digest),
 * with optional @artifact_type and @subject (a manifest of @subject_len
 * bytes). Returns its digest in @out, its length in *len.
 */
static void image(struct store *st, const char *repo, const char *seed,
                  const char *tag, const char *artifact_type,
                  const struct digest *subject, size_t subject_len,
                  struct digest *out, size_t *len)
{
	char cfg[128], layer[128], body[4096], extra[1024] = "";
	char cs[DIGEST_STR_MAX], ls[DIGEST_STR_MAX];
	struct digest c, l;
	int n;

	snprintf(cfg, sizeof(cfg), "{\"seed\":\"%s\"}", seed);
	snprintf(layer, sizeof(layer), "layer of %s", seed);
	blob_put(st, repo, cfg, &c);
	blob_put(st, repo, layer, &l);
	digest_format(&c, cs);
	digest_format(&l, ls);
	if (subject) {
		char ss[DIGEST_STR_MAX];

		digest_format(subject, ss);
		snprintf(extra, sizeof(extra),
		         ",\"artifactType\":\"%s\",\"subject\":{\"mediaType\":"
		         "\"%s\",\"digest\":\"%s\",\"size\":%zu},"
		         "\"annotations\":{\"org.example.seed\":\"%s\"}",
		         artifact_type, MT_OCI_MANIFEST, ss, subject_len, seed);
	}
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
	             "\"mediaType\":\"application/vnd.oci.image.config.v1+"
	             "json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
	             "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
	             "\"digest\":\"%s\",\"size\":%zu}]%s}",
	             MT_OCI_MANIFEST, cs, strlen(cfg), ls, strlen(layer), extra);
	assert_true(n > 0 && (size_t)n < (int)sizeof(body));
	man_put(st, repo, tag, MT_OCI_MANIFEST, body, out);
	if (len)
		*len = (size_t)n;
}

/*
 * The fixture's repositories: alpha (tags v1 v2 latest, two referrers of
 * v1), beta/nested (tag x), gamma (untagged only), delta (tags 1.0 1.1).
 */
static void populate(struct fixture *f)
{
	struct digest d;
	size_t v1len;

	image(f->st, "alpha", "a1", "v1", NULL, NULL, 0, &f->v1, &v1len);
	image(f->st, "alpha", "a2", "v2", NULL, NULL, 0, &d, NULL);
	image(f->st, "alpha", "a2", "latest", NULL, NULL, 0, &d, NULL);
	image(f->st, "alpha", "sig", NULL, ART_SIG, &f->v1, v1len, &d, NULL);
	image(f->st, "alpha", "sbom", NULL, ART_SBOM, &f->v1, v1len, &d, NULL);
	image(f->st, "beta/nested", "b", "x", NULL, NULL, 0, &d, NULL);
	image(f->st, "gamma", "g", NULL, NULL, NULL, 0, &d, NULL);
	image(f->st, "delta", "d0", "1.0", NULL, NULL, 0, &d, NULL);
	image(f->st, "delta", "d1", "1.1", NULL, NULL, 0, &d, NULL);
}

/* Append to a snapshot buffer. */
static void snap_add(char *snap, const char *fmt, ...) PRINTF(2, 3);

static void snap_add(char *snap, const char *fmt, ...)
{
	size_t used = strlen(snap);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(snap + used, SNAP_MAX - used, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < SNAP_MAX - used);
}

/*
 * Every answer the index gives about the fixture's repositories, as text:
 * the catalog (whole and one page at a time), each repository's tags
 * (whole and paged), what each tag resolves to, and the referrers of
 * alpha:v1 (all, and filtered by artifact type).
 */
static void snapshot(struct fixture *f, char *snap)
{
	struct strvec repos = {0};
	struct err err = ERR_INIT;
	bool more;

	snap[0] = '\0';
	assert_int_equal(store_catalog(f->st, NULL, 1000, &repos, &more, &err),
	                 0);
	assert_false(more);
	snap_add(snap, "catalog:");
	for (size_t i = 0; i < repos.n; i++)
		snap_add(snap, " %s", repos.v[i]);
	snap_add(snap, "\npages:");
	{
		char last[256] = "";

		for (int page = 0; page < 20; page++) {
			struct strvec pv = {0};

			assert_int_equal(store_catalog(f->st,
			                               page ? last : NULL, 2,
			                               &pv, &more, &err),
			                 0);
			snap_add(snap, " [");
			for (size_t i = 0; i < pv.n; i++)
				snap_add(snap, "%s%s", i ? "," : "", pv.v[i]);
			snap_add(snap, "]%s", more ? "+" : "");
			if (pv.n)
				snprintf(last, sizeof(last), "%s",
				         pv.v[pv.n - 1]);
			strvec_release(&pv);
			if (!more)
				break;
		}
	}
	snap_add(snap, "\n");
	for (size_t i = 0; i < repos.n; i++) {
		struct strvec tags = {0}, page = {0};

		assert_int_equal(store_tags(f->st, repos.v[i], NULL, 1000,
		                            &tags, &more, &err),
		                 0);
		snap_add(snap, "%s tags:", repos.v[i]);
		for (size_t k = 0; k < tags.n; k++) {
			struct manifest_desc md;
			char ds[DIGEST_STR_MAX];

			assert_int_equal(store_manifest_get(f->st, repos.v[i],
			                                    tags.v[k], &md,
			                                    NULL, &err),
			                 0);
			digest_format(&md.digest, ds);
			snap_add(snap, " %s=%s/%s/%llu", tags.v[k], ds,
			         md.media_type, (unsigned long long)md.size);
		}
		assert_int_equal(store_tags(f->st, repos.v[i], NULL, 1, &page,
		                            &more, &err),
		                 0);
		snap_add(snap, " first:%s%s\n", page.n ? page.v[0] : "-",
		         more ? "+" : "");
		strvec_release(&page);
		strvec_release(&tags);
	}
	{
		const char *filters[] = {NULL, ART_SIG, ART_SBOM, "none/such"};

		for (size_t i = 0; i < 4; i++) {
			char *json = NULL;
			size_t len;

			assert_int_equal(store_referrers(f->st, "alpha", &f->v1,
			                                 filters[i], &json,
			                                 &len, &err),
			                 0);
			snap_add(snap, "referrers %s: %s\n",
			         filters[i] ? filters[i] : "*", json);
			free(json);
		}
	}
	strvec_release(&repos);
}

static void index_dir(const struct fixture *f, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/.dray/index", f->dir);
}

/* Problems store_fsck() reported, one per line. */
struct problems {
	char text[8192]; /* the lines */
	size_t n;        /* how many */
};

static void collect(void *arg, const char *problem)
{
	struct problems *p = arg;
	size_t used = strlen(p->text);

	snprintf(p->text + used, sizeof(p->text) - used, "%s\n", problem);
	p->n++;
}

static void fsck(struct fixture *f, struct problems *p,
                 struct check_report *rep)
{
	struct err err = ERR_INIT;

	memset(p, 0, sizeof(*p));
	if (store_fsck(f->st, collect, p, NULL, rep, &err) < 0)
		fail_msg("store_fsck: %s", err.msg);
	assert_int_equal(rep->problems, p->n);
}

/* Write @text as @repo's index.json behind the store's back. */
static void write_index_json(const struct fixture *f, const char *repo,
                             const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s/index.json", f->dir, repo);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* alpha's index.json with one more tag, "added", naming alpha:v1. */
static void add_tag_by_hand(const struct fixture *f)
{
	char path[PATH_MAX], *text = NULL, *out, *end, ds[DIGEST_STR_MAX];
	struct manifest_desc md;
	struct err err = ERR_INIT;
	size_t len, cap;
	int n;

	assert_int_equal(store_manifest_get(f->st, "alpha", "v1", &md, NULL,
	                                    &err),
	                 0);
	snprintf(path, sizeof(path), "%s/alpha/index.json", f->dir);
	assert_int_equal(fs_read_file(path, 1 << 20, &text, &len, &err), 0);
	/* ...]} -> ...,{new entry}]} */
	end = strrchr(text, ']');
	assert_non_null(end);
	digest_format(&md.digest, ds);
	cap = len + 1024;
	out = malloc(cap);
	assert_non_null(out);
	n = snprintf(out, cap,
	             "%.*s,{\"mediaType\":\"%s\",\"digest\":\"%s\","
	             "\"size\":%llu,\"annotations\":{\"org.opencontainers."
	             "image.ref.name\":\"added\"}}%s",
	             (int)(end - text), text, md.media_type, ds,
	             (unsigned long long)md.size, end);
	assert_true(n > 0 && (size_t)n < cap);
	write_index_json(f, "alpha", out);
	free(text);
	free(out);
}

static void test_answers_are_identical_after_a_rebuild_of_the_index(
	void **state)
{
	struct fixture *f = *state;
	struct store_opts o = {.dedupe = true, .rebuild_index = true};
	char *before = calloc(1, SNAP_MAX), *after = calloc(1, SNAP_MAX);

	assert_non_null(before);
	assert_non_null(after);
	populate(f);
	snapshot(f, before);
	/* The snapshot saw what was pushed. */
	assert_non_null(strstr(before, "catalog: alpha beta/nested delta "
	                               "gamma\n"));
	assert_non_null(strstr(before, "alpha tags: latest="));
	assert_non_null(strstr(before, ART_SIG));
	assert_non_null(strstr(before, ART_SBOM));

	reopen(f, &o);
	snapshot(f, after);

	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_answers_are_identical_after_the_index_directory_is_deleted(
	void **state)
{
	struct fixture *f = *state;
	char *before = calloc(1, SNAP_MAX), *after = calloc(1, SNAP_MAX);
	char dir[PATH_MAX];
	struct err err = ERR_INIT;

	assert_non_null(before);
	assert_non_null(after);
	populate(f);
	snapshot(f, before);
	store_close(f->st);
	f->st = NULL;
	index_dir(f, dir, sizeof(dir));
	assert_int_equal(fs_remove_tree(dir, &err), 0);

	reopen(f, NULL);
	snapshot(f, after);

	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_a_corrupt_index_directory_is_rebuilt_at_open(void **state)
{
	struct fixture *f = *state;
	char *before = calloc(1, SNAP_MAX), *after = calloc(1, SNAP_MAX);
	char dir[PATH_MAX], path[PATH_MAX + 512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(before);
	assert_non_null(after);
	populate(f);
	snapshot(f, before);
	store_close(f->st);
	f->st = NULL;
	/* Garbage over every file of the database. */
	index_dir(f, dir, sizeof(dir));
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		FILE *fp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fp = fopen(path, "w");
		if (!fp)
			continue;
		fputs("not a rocksdb file\n", fp);
		fclose(fp);
		n++;
	}
	closedir(d);
	assert_true(n > 0);

	reopen(f, NULL);
	snapshot(f, after);

	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_fsck_of_a_consistent_store_reports_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = {.dedupe = true, .no_reconcile = true};
	struct check_report rep;
	struct problems p;

	populate(f);
	fsck(f, &p, &rep);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(rep.checked, 4);

	reopen(f, &o);
	fsck(f, &p, &rep);
	if (rep.problems)
		fail_msg("fsck found problems:\n%s", p.text);
	assert_int_equal(rep.checked, 4);

	/* A rebuilt index agrees as well. */
	o = (struct store_opts){.dedupe = true, .rebuild_index = true};
	reopen(f, &o);
	o = (struct store_opts){.dedupe = true, .no_reconcile = true};
	reopen(f, &o);
	fsck(f, &p, &rep);
	assert_int_equal(rep.problems, 0);
}

static void test_fsck_reports_an_index_json_written_behind_the_stores_back(
	void **state)
{
	struct fixture *f = *state;
	struct store_opts o = {.dedupe = true, .no_reconcile = true};
	struct check_report rep;
	struct problems p;
	struct strvec tags = {0};
	struct err err = ERR_INIT;
	bool more;

	populate(f);
	add_tag_by_hand(f);
	store_close(f->st);
	f->st = NULL;

	reopen(f, &o);
	fsck(f, &p, &rep);
	assert_true(rep.problems >= 1);
	if (!strstr(p.text, "alpha"))
		fail_msg("no problem names 'alpha':\n%s", p.text);
	assert_null(strstr(p.text, "delta"));
	assert_null(strstr(p.text, "gamma"));

	/* A normal open re-reads the layout: the new tag is served. */
	reopen(f, NULL);
	assert_int_equal(store_tags(f->st, "alpha", NULL, 100, &tags, &more,
	                            &err),
	                 0);
	assert_int_equal(tags.n, 4);
	assert_string_equal(tags.v[0], "added");
	strvec_release(&tags);
	{
		struct manifest_desc md;

		assert_int_equal(store_manifest_get(f->st, "alpha", "added",
		                                    &md, NULL, &err),
		                 0);
		assert_true(digest_equal(&md.digest, &f->v1));
	}
	/* ...and then the index agrees again. */
	reopen(f, &o);
	fsck(f, &p, &rep);
	if (rep.problems)
		fail_msg("fsck after reconcile found problems:\n%s", p.text);
}

static void test_fsck_reports_a_tag_removed_by_hand(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = {.dedupe = true, .no_reconcile = true};
	struct check_report rep;
	struct problems p;

	populate(f);
	store_close(f->st);
	f->st = NULL;
	/* delta loses both tags: an empty layout. */
	write_index_json(f, "delta",
	                 "{\"schemaVersion\":2,\"manifests\":[]}");

	reopen(f, &o);
	fsck(f, &p, &rep);
	assert_true(rep.problems >= 1);
	if (!strstr(p.text, "delta"))
		fail_msg("no problem names 'delta':\n%s", p.text);
	assert_null(strstr(p.text, "alpha"));
}

static void test_fsck_reports_a_repository_removed_by_hand(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = {.dedupe = true, .no_reconcile = true};
	struct check_report rep;
	struct problems p;
	struct strvec repos = {0};
	struct err err = ERR_INIT;
	char dir[PATH_MAX];
	bool more;

	populate(f);
	store_close(f->st);
	f->st = NULL;
	snprintf(dir, sizeof(dir), "%s/beta", f->dir);
	assert_int_equal(fs_remove_tree(dir, &err), 0);

	reopen(f, &o);
	fsck(f, &p, &rep);
	assert_int_equal(rep.checked, 3);
	assert_true(rep.problems >= 1);
	if (!strstr(p.text, "beta/nested"))
		fail_msg("no problem names 'beta/nested':\n%s", p.text);

	/* Reconciling drops it from the catalog. */
	reopen(f, NULL);
	assert_int_equal(store_catalog(f->st, NULL, 100, &repos, &more, &err),
	                 0);
	assert_int_equal(repos.n, 3);
	assert_string_equal(repos.v[0], "alpha");
	assert_string_equal(repos.v[1], "delta");
	assert_string_equal(repos.v[2], "gamma");
	strvec_release(&repos);
}

static void test_a_reopen_without_changes_answers_the_same(void **state)
{
	struct fixture *f = *state;
	char *before = calloc(1, SNAP_MAX), *after = calloc(1, SNAP_MAX);

	assert_non_null(before);
	assert_non_null(after);
	populate(f);
	snapshot(f, before);
	reopen(f, NULL);
	snapshot(f, after);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_tags_of_an_unknown_repository_are_not_found(void **state)
{
	struct fixture *f = *state;
	struct strvec tags = {0};
	struct err err = ERR_INIT;
	bool more;

	populate(f);
	assert_int_equal(store_tags(f->st, "no/such", NULL, 10, &tags, &more,
	                            &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(tags.n, 0);
}

int main(void)
{
	struct err err = ERR_INIT;
	const struct CMUnitTest tests[] = {
#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		TF(test_answers_are_identical_after_a_rebuild_of_the_index),
		TF(test_answers_are_identical_after_the_index_directory_is_deleted),
		TF(test_a_corrupt_index_directory_is_rebuilt_at_open),
		TF(test_a_reopen_without_changes_answers_the_same),
		TF(test_fsck_of_a_consistent_store_reports_nothing),
		TF(test_fsck_reports_an_index_json_written_behind_the_stores_back),
		TF(test_fsck_reports_a_tag_removed_by_hand),
		TF(test_fsck_reports_a_repository_removed_by_hand),
		TF(test_tags_of_an_unknown_repository_are_not_found),
#undef TF
	};

	if (log_open(NULL, LOG_ERROR, &err) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
