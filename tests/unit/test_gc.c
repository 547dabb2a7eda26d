/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_gc.c - unit tests for garbage collection (index/gc.c) through the
 * public store API: what store_gc_repo() keeps (tagged manifests, the
 * children of a kept index, referrers of a kept manifest and everything
 * they name), what it removes (untagged manifests nothing refers to and
 * blobs no remaining manifest names, once older than the delay), dry runs,
 * and store_gc()'s sweep of the content store and of idle uploads.
 *
 * Each test gets a fresh store in its own mkdtemp directory.
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
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "index/store.h"

#define HOUR_MS (3600u * 1000u)

/* An image: a config and one layer, and the manifest text naming them. */
struct img {
	struct digest config;   /* config blob */
	struct digest layer;    /* layer blob */
	struct digest manifest; /* digest of body */
	char body[4096];        /* the manifest */
	size_t len;             /* its length */
};

static int setup(void **state)
{
	return test_fixture_setup(state, "gc");
}

static int teardown(void **state)
{
	return test_fixture_teardown(state);
}

/* Upload @data into @repo through an upload session; its digest in @d. */
static void blob_put(struct store *st, const char *repo, const char *data,
                     struct digest *d)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(
		digest_buffer(DIGEST_SHA256, data, strlen(data), d, &err), 0);
	assert_int_equal(store_upload_start(st, repo, id, &err), 0);
	u = store_upload_get(st, repo, id, &err);
	assert_non_null(u);
	assert_int_equal(store_upload_append(u, data, strlen(data), &err), 0);
	assert_int_equal(store_upload_commit(u, d, &err), 0);
}

/* A descriptor as JSON text into @out. */
static void desc_json(char *out, size_t outsz, const char *mt,
                      const struct digest *d, size_t size)
{
	char ds[DIGEST_STR_MAX];

	digest_format(d, ds);
	snprintf(out, outsz,
	         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", mt,
	         ds, size);
}

/*
 * Upload a config and a layer made from @seed into @repo and build (not
 * put) the manifest naming them; @extra (may be NULL) is more JSON
 * members, e.g. "\"subject\":{...}".
 */
static void img_make(struct store *st, const char *repo, const char *seed,
                     const char *extra, struct img *im)
{
	char cfg[256], layer[256], cdesc[512], ldesc[512];
	struct err err = ERR_INIT;
	int n;

	snprintf(cfg, sizeof(cfg),
	         "{\"architecture\":\"amd64\",\"os\":"
	         "\"linux\",\"seed\":\"%s\"}",
	         seed);
	snprintf(layer, sizeof(layer), "layer bytes of %s", seed);
	blob_put(st, repo, cfg, &im->config);
	blob_put(st, repo, layer, &im->layer);
	desc_json(cdesc, sizeof(cdesc),
	          "application/vnd.oci.image.config.v1+json", &im->config,
	          strlen(cfg));
	desc_json(ldesc, sizeof(ldesc),
	          "application/vnd.oci.image.layer.v1.tar", &im->layer,
	          strlen(layer));
	n = snprintf(im->body, sizeof(im->body),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
	             "\"layers\":[%s]%s%s}",
	             MT_OCI_MANIFEST, cdesc, ldesc, extra ? "," : "",
	             extra ? extra : "");
	assert_true(n > 0 && (size_t)n < sizeof(im->body));
	im->len = (size_t)n;
	assert_int_equal(digest_buffer(DIGEST_SHA256, im->body, im->len,
	                               &im->manifest, &err),
	                 0);
}

/* Put manifest @body into @repo under @tag, or by digest when NULL. */
static void man_put(struct store *st, const char *repo, const char *tag,
                    const char *mt, const char *body, size_t len,
                    struct digest *out)
{
	struct manifest_put_result res;
	struct err err = ERR_INIT;
	char ref[DIGEST_STR_MAX];
	struct digest d;

	assert_int_equal(digest_buffer(DIGEST_SHA256, body, len, &d, &err), 0);
	digest_format(&d, ref);
	if (store_manifest_put(st, repo, tag ? tag : ref, mt, body, len, &res,
	                       &err) < 0)
		fail_msg("manifest put %s:%s: %s", repo, tag ? tag : ref,
		         err.msg);
	assert_true(digest_equal(&res.digest, &d));
	if (out)
		*out = d;
}

/* An image put under @tag (NULL: by digest). */
static void img_push(struct store *st, const char *repo, const char *seed,
                     const char *tag, const char *extra, struct img *im)
{
	img_make(st, repo, seed, extra, im);
	man_put(st, repo, tag, MT_OCI_MANIFEST, im->body, im->len, NULL);
}

/* "\"subject\":<descriptor of @im's manifest>" into @out. */
static void subject_of(const struct img *im, char *out, size_t outsz)
{
	char d[512];

	desc_json(d, sizeof(d), MT_OCI_MANIFEST, &im->manifest, im->len);
	snprintf(out, outsz, "\"subject\":%s", d);
}

static bool has_blob(struct store *st, const char *repo, const struct digest *d)
{
	struct err err = ERR_INIT;
	uint64_t size;

	if (store_blob_stat(st, repo, d, &size, &err) == 0)
		return true;
	assert_int_equal(err.code, ERR_NOT_FOUND);
	return false;
}

/* @d resolves as a manifest of @repo (listed, or a child of an index). */
static bool has_manifest(struct store *st, const char *repo,
                         const struct digest *d)
{
	struct manifest_desc md;
	struct err err = ERR_INIT;
	char ref[DIGEST_STR_MAX];

	digest_format(d, ref);
	if (store_manifest_get(st, repo, ref, &md, NULL, &err) == 0)
		return true;
	assert_int_equal(err.code, ERR_NOT_FOUND);
	return false;
}

static bool has_tag(struct store *st, const char *repo, const char *tag,
                    const struct digest *want)
{
	struct manifest_desc md;
	struct err err = ERR_INIT;

	if (store_manifest_get(st, repo, tag, &md, NULL, &err) < 0) {
		assert_int_equal(err.code, ERR_NOT_FOUND);
		return false;
	}
	return digest_equal(&md.digest, want);
}

/* The content store's copy of @d. */
static void cas_file(const struct test_fixture *f, const struct digest *d,
                     char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/.dray/blobs/%s/%s", f->root,
	         digest_alg_name(d->alg), d->hex);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static size_t count_files(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void gc_repo(struct store *st, const char *repo, uint64_t delay_ms,
                    bool dry, struct gc_report *rep)
{
	struct gc_opts o = {.delay_ms = delay_ms, .dry_run = dry};
	struct err err = ERR_INIT;

	*rep = (struct gc_report){0};
	if (store_gc_repo(st, repo, &o, rep, &err) < 0)
		fail_msg("store_gc_repo %s: %s", repo, err.msg);
}

static void
test_untagged_manifest_and_its_blobs_go_with_delay_zero(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct img im;

	img_push(f->st, "gc/a", "untagged", NULL, NULL, &im);
	assert_true(has_manifest(f->st, "gc/a", &im.manifest));

	gc_repo(f->st, "gc/a", 0, false, &rep);

	assert_int_equal(rep.manifests, 1);
	/* config, layer and the manifest's own blob */
	assert_int_equal(rep.blobs, 3);
	assert_int_equal(rep.tags, 0);
	assert_false(has_manifest(f->st, "gc/a", &im.manifest));
	assert_false(has_blob(f->st, "gc/a", &im.manifest));
	assert_false(has_blob(f->st, "gc/a", &im.config));
	assert_false(has_blob(f->st, "gc/a", &im.layer));
	/* The repository itself stays, a valid (empty) layout. */
	assert_true(store_repo_exists(f->st, "gc/a"));
}

static void
test_a_manifest_untagged_by_a_tag_move_goes_the_tagged_stays(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct img old, cur;

	img_push(f->st, "gc/a", "old", "v1", NULL, &old);
	img_push(f->st, "gc/a", "new", "v1", NULL, &cur);
	/* The old one is still there, untagged, by digest. */
	assert_true(has_manifest(f->st, "gc/a", &old.manifest));

	gc_repo(f->st, "gc/a", 0, false, &rep);

	assert_int_equal(rep.manifests, 1);
	assert_int_equal(rep.blobs, 3);
	assert_false(has_manifest(f->st, "gc/a", &old.manifest));
	assert_false(has_blob(f->st, "gc/a", &old.layer));
	assert_true(has_tag(f->st, "gc/a", "v1", &cur.manifest));
	assert_true(has_blob(f->st, "gc/a", &cur.manifest));
	assert_true(has_blob(f->st, "gc/a", &cur.config));
	assert_true(has_blob(f->st, "gc/a", &cur.layer));
}

static void test_a_tagged_manifest_and_its_blobs_are_kept(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct img im;

	img_push(f->st, "gc/a", "tagged", "v1", NULL, &im);

	gc_repo(f->st, "gc/a", 0, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_int_equal(rep.blobs, 0);
	assert_true(has_tag(f->st, "gc/a", "v1", &im.manifest));
	assert_true(has_blob(f->st, "gc/a", &im.manifest));
	assert_true(has_blob(f->st, "gc/a", &im.config));
	assert_true(has_blob(f->st, "gc/a", &im.layer));
}

static void test_the_children_of_a_tagged_index_are_kept(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], d1[512], d2[512];
	struct digest idx;
	struct gc_report rep;
	struct img c1, c2, stray;
	int n;

	/* Children pushed by digest (untagged), then the index by tag. */
	img_push(f->st, "gc/multi", "amd64", NULL, NULL, &c1);
	img_push(f->st, "gc/multi", "arm64", NULL, NULL, &c2);
	img_push(f->st, "gc/multi", "stray", NULL, NULL, &stray);
	desc_json(d1, sizeof(d1), MT_OCI_MANIFEST, &c1.manifest, c1.len);
	desc_json(d2, sizeof(d2), MT_OCI_MANIFEST, &c2.manifest, c2.len);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\","
	             "\"manifests\":[%s,%s]}",
	             MT_OCI_INDEX, d1, d2);
	man_put(f->st, "gc/multi", "latest", MT_OCI_INDEX, body, (size_t)n,
	        &idx);

	gc_repo(f->st, "gc/multi", 0, false, &rep);

	assert_int_equal(rep.manifests, 1); /* the stray image only */
	assert_int_equal(rep.blobs, 3);
	assert_true(has_tag(f->st, "gc/multi", "latest", &idx));
	assert_true(has_blob(f->st, "gc/multi", &idx));
	for (int i = 0; i < 2; i++) {
		const struct img *c = i ? &c2 : &c1;

		assert_true(has_manifest(f->st, "gc/multi", &c->manifest));
		assert_true(has_blob(f->st, "gc/multi", &c->manifest));
		assert_true(has_blob(f->st, "gc/multi", &c->config));
		assert_true(has_blob(f->st, "gc/multi", &c->layer));
	}
	assert_false(has_manifest(f->st, "gc/multi", &stray.manifest));
	assert_false(has_blob(f->st, "gc/multi", &stray.layer));
}

static void
test_a_referrer_of_a_kept_manifest_is_kept_an_orphan_goes(void **state)
{
	struct test_fixture *f = *state;
	char subj[1024];
	struct gc_report rep;
	struct img base, gone, sig, orphan, sigsig;

	img_push(f->st, "gc/r", "base", "v1", NULL, &base);
	img_push(f->st, "gc/r", "gone", NULL, NULL, &gone);
	subject_of(&base, subj, sizeof(subj));
	img_push(f->st, "gc/r", "signature", NULL, subj, &sig);
	/* A referrer of a referrer of a kept manifest: kept too. */
	subject_of(&sig, subj, sizeof(subj));
	img_push(f->st, "gc/r", "sig-of-sig", NULL, subj, &sigsig);
	/* A referrer of an untagged manifest that goes: goes with it. */
	subject_of(&gone, subj, sizeof(subj));
	img_push(f->st, "gc/r", "orphan", NULL, subj, &orphan);

	gc_repo(f->st, "gc/r", 0, false, &rep);

	assert_int_equal(rep.manifests, 2);
	assert_int_equal(rep.blobs, 6);
	assert_true(has_tag(f->st, "gc/r", "v1", &base.manifest));
	assert_true(has_manifest(f->st, "gc/r", &sig.manifest));
	assert_true(has_blob(f->st, "gc/r", &sig.config));
	assert_true(has_blob(f->st, "gc/r", &sig.layer));
	assert_true(has_manifest(f->st, "gc/r", &sigsig.manifest));
	assert_true(has_blob(f->st, "gc/r", &sigsig.layer));
	assert_false(has_manifest(f->st, "gc/r", &gone.manifest));
	assert_false(has_manifest(f->st, "gc/r", &orphan.manifest));
	assert_false(has_blob(f->st, "gc/r", &orphan.layer));
}

static void test_an_unreferenced_blob_goes_one_still_named_stays(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct digest loose;
	struct img im;

	img_push(f->st, "gc/a", "kept", "v1", NULL, &im);
	blob_put(f->st, "gc/a", "nobody names me", &loose);

	gc_repo(f->st, "gc/a", 0, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_int_equal(rep.blobs, 1);
	assert_false(has_blob(f->st, "gc/a", &loose));
	assert_true(has_blob(f->st, "gc/a", &im.layer));
}

static void test_a_referrer_of_a_child_of_a_tagged_index_is_kept(void **state)
{
	struct test_fixture *f = *state;
	char body[2048], d1[512], subj[1024];
	struct digest idx;
	struct gc_report rep;
	struct img child, sig;
	int n;

	img_push(f->st, "gc/multi", "amd64", NULL, NULL, &child);
	desc_json(d1, sizeof(d1), MT_OCI_MANIFEST, &child.manifest, child.len);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\","
	             "\"manifests\":[%s]}",
	             MT_OCI_INDEX, d1);
	man_put(f->st, "gc/multi", "latest", MT_OCI_INDEX, body, (size_t)n,
	        &idx);
	/* A signature of the platform manifest, not of the index. */
	subject_of(&child, subj, sizeof(subj));
	img_push(f->st, "gc/multi", "platform-signature", NULL, subj, &sig);

	gc_repo(f->st, "gc/multi", 0, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_int_equal(rep.blobs, 0);
	assert_true(has_manifest(f->st, "gc/multi", &sig.manifest));
	assert_true(has_blob(f->st, "gc/multi", &sig.layer));
	assert_true(has_manifest(f->st, "gc/multi", &child.manifest));
}

static void
test_a_blob_uploaded_again_is_safe_for_the_delay_from_then(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct digest d, again;

	blob_put(f->st, "gc/a", "pushed twice", &d);
	sleep_ms(1200);
	/* The client pushes it again (say, a retried push) and is told 201;
	 * it may now take up to the delay to put the manifest. */
	blob_put(f->st, "gc/a", "pushed twice", &again);
	assert_true(digest_equal(&d, &again));

	gc_repo(f->st, "gc/a", 1000, false, &rep);

	assert_int_equal(rep.blobs, 0);
	assert_true(has_blob(f->st, "gc/a", &d));
}

static void
test_a_manifest_put_again_by_digest_is_safe_for_the_delay(void **state)
{
	struct test_fixture *f = *state;
	struct gc_report rep;
	struct img im;

	img_push(f->st, "gc/a", "put twice", NULL, NULL, &im);
	sleep_ms(1200);
	/* Put again by digest, as a client pushing an index's children
	 * does before it puts the index. */
	man_put(f->st, "gc/a", NULL, MT_OCI_MANIFEST, im.body, im.len, NULL);

	gc_repo(f->st, "gc/a", 1000, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_true(has_manifest(f->st, "gc/a", &im.manifest));
	assert_true(has_blob(f->st, "gc/a", &im.layer));
}

static void test_a_delay_of_an_hour_keeps_everything_fresh(void **state)
{
	struct test_fixture *f = *state;
	char subj[1024];
	struct gc_report rep;
	struct digest loose;
	struct img untagged, orphan;

	img_push(f->st, "gc/a", "untagged", NULL, NULL, &untagged);
	subject_of(&untagged, subj, sizeof(subj));
	img_push(f->st, "gc/a", "orphan", NULL, subj, &orphan);
	blob_put(f->st, "gc/a", "loose blob", &loose);

	gc_repo(f->st, "gc/a", HOUR_MS, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_int_equal(rep.blobs, 0);
	assert_true(has_manifest(f->st, "gc/a", &untagged.manifest));
	assert_true(has_blob(f->st, "gc/a", &untagged.layer));
	assert_true(has_manifest(f->st, "gc/a", &orphan.manifest));
	assert_true(has_blob(f->st, "gc/a", &loose));

	/* A second later, a delay of one second no longer protects them. */
	sleep_ms(1100);
	gc_repo(f->st, "gc/a", 1000, false, &rep);
	assert_int_equal(rep.manifests, 2);
	assert_int_equal(rep.blobs, 7);
	assert_false(has_blob(f->st, "gc/a", &loose));
}

static void
test_a_dry_run_counts_what_a_real_run_removes_and_changes_nothing(void **state)
{
	struct test_fixture *f = *state;
	char idx[PATH_MAX], *before = NULL, *after = NULL;
	size_t blen, alen;
	struct err err = ERR_INIT;
	struct gc_report dry, real;
	struct digest loose;
	struct img kept, untagged;

	img_push(f->st, "gc/a", "kept", "v1", NULL, &kept);
	img_push(f->st, "gc/a", "untagged", NULL, NULL, &untagged);
	blob_put(f->st, "gc/a", "loose blob", &loose);
	snprintf(idx, sizeof(idx), "%s/gc/a/index.json", f->root);
	assert_int_equal(fs_read_file(idx, 1 << 20, &before, &blen, &err), 0);

	gc_repo(f->st, "gc/a", 0, true, &dry);

	assert_int_equal(dry.manifests, 1);
	assert_int_equal(dry.blobs, 4);
	assert_int_equal(fs_read_file(idx, 1 << 20, &after, &alen, &err), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_true(has_manifest(f->st, "gc/a", &untagged.manifest));
	assert_true(has_blob(f->st, "gc/a", &untagged.manifest));
	assert_true(has_blob(f->st, "gc/a", &untagged.layer));
	assert_true(has_blob(f->st, "gc/a", &loose));

	/* The whole-store dry run touches nothing either. */
	{
		struct gc_opts o = {.delay_ms = 0, .dry_run = true};
		struct gc_report all = {0};
		char cas[PATH_MAX];

		assert_int_equal(store_gc(f->st, &o, NULL, NULL, &all, &err),
		                 0);
		assert_int_equal(all.manifests, 1);
		assert_int_equal(all.blobs, 4);
		cas_file(f, &loose, cas, sizeof(cas));
		assert_true(exists(cas));
		assert_true(has_blob(f->st, "gc/a", &loose));
	}

	gc_repo(f->st, "gc/a", 0, false, &real);
	assert_int_equal(real.manifests, dry.manifests);
	assert_int_equal(real.blobs, dry.blobs);
	assert_false(has_blob(f->st, "gc/a", &loose));
	free(before);
	free(after);
}

static void test_store_gc_removes_store_copies_nothing_links(void **state)
{
	struct test_fixture *f = *state;
	char cas_loose[PATH_MAX], cas_del[PATH_MAX], cas_layer[PATH_MAX];
	struct gc_opts o = {.delay_ms = 0};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct digest loose, del;
	struct img shared;
	struct stat sb;

	/* One image in two repositories: one store copy, three links. */
	img_push(f->st, "gc/a", "shared", "v1", NULL, &shared);
	img_push(f->st, "gc/b", "shared", "v1", NULL, &shared);
	cas_file(f, &shared.layer, cas_layer, sizeof(cas_layer));
	assert_int_equal(stat(cas_layer, &sb), 0);
	assert_int_equal(sb.st_nlink, 3);
	/* A blob deleted from its only repository: the store copy is left. */
	blob_put(f->st, "gc/b", "deleted by the client", &del);
	assert_int_equal(store_blob_delete(f->st, "gc/b", &del, &err), 0);
	cas_file(f, &del, cas_del, sizeof(cas_del));
	assert_int_equal(stat(cas_del, &sb), 0);
	assert_int_equal(sb.st_nlink, 1);
	/* A blob nobody names: its repository link and then its copy go. */
	blob_put(f->st, "gc/a", "loose blob", &loose);
	cas_file(f, &loose, cas_loose, sizeof(cas_loose));

	/* Deleting the blob from one repository leaves the other intact. */
	assert_int_equal(store_manifest_delete(f->st, "gc/a", "v1", &err), 0);
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);

	assert_int_equal(rep.manifests, 1); /* gc/a's manifest, untagged */
	assert_int_equal(rep.blobs, 4);     /* it, its 2 blobs, loose */
	assert_int_equal(rep.store_blobs, 2);
	assert_int_equal(rep.bytes, strlen("deleted by the client") +
	                                    strlen("loose blob"));
	assert_false(exists(cas_del));
	assert_false(exists(cas_loose));
	assert_false(has_blob(f->st, "gc/a", &shared.layer));
	assert_true(has_blob(f->st, "gc/b", &shared.layer));
	assert_int_equal(stat(cas_layer, &sb), 0);
	assert_int_equal(sb.st_nlink, 2);
	assert_true(has_tag(f->st, "gc/b", "v1", &shared.manifest));

	/* Nothing left to do: a second pass removes nothing. */
	rep = (struct gc_report){0};
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.manifests + rep.blobs + rep.store_blobs, 0);
}

static void test_store_gc_keeps_young_store_copies(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = HOUR_MS};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	char cas[PATH_MAX];
	struct digest del;

	blob_put(f->st, "gc/a", "deleted by the client", &del);
	assert_int_equal(store_blob_delete(f->st, "gc/a", &del, &err), 0);
	cas_file(f, &del, cas, sizeof(cas));

	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);

	assert_int_equal(rep.store_blobs, 0);
	assert_true(exists(cas));
}

static bool stop_now(void *arg)
{
	int *calls = arg;

	return ++*calls > 1;
}

static void test_store_gc_stops_when_yield_says_so(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = 0};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct digest a, b;
	int calls = 0;

	blob_put(f->st, "gc/a", "loose in a", &a);
	blob_put(f->st, "gc/b", "loose in b", &b);

	assert_int_equal(store_gc(f->st, &o, stop_now, &calls, &rep, &err), 0);

	assert_int_equal(calls, 2);
	assert_int_equal(rep.blobs, 1); /* only the first repository */
	assert_true(has_blob(f->st, "gc/a", &a) != has_blob(f->st, "gc/b", &b));
}

static void
test_store_gc_drops_upload_sessions_idle_past_the_delay(void **state)
{
	struct test_fixture *f = *state;
	char id[STORE_UPLOAD_ID_MAX];
	struct gc_opts o = {.delay_ms = HOUR_MS};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct upload *u;

	assert_int_equal(store_upload_start(f->st, "gc/up", id, &err), 0);
	sleep_ms(50);
	/*
	 * A session idle for 50 ms outlives a delay of an hour, and one of
	 * ten years (longer than the machine has been up: the cutoff must
	 * not wrap around).
	 */
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	o.delay_ms = 10ull * 365 * 24 * HOUR_MS;
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.uploads, 0);
	u = store_upload_get(f->st, "gc/up", id, &err);
	assert_non_null(u);
	store_upload_put(u);

	sleep_ms(50);
	o.delay_ms = 10;
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.uploads, 1);
	assert_null(store_upload_get(f->st, "gc/up", id, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	/* Its staging file went with it. */
	{
		char updir[PATH_MAX];

		snprintf(updir, sizeof(updir), "%s/.dray/uploads", f->root);
		assert_int_equal(count_files(updir), 0);
	}
}

/* Close the fixture's store and open it again with @opts. */
static void reopen(struct test_fixture *f, const struct store_opts *opts)
{
	struct err err = ERR_INIT;

	store_close(f->st);
	f->st = store_open_with(f->root, opts, &err);
	if (!f->st)
		fail_msg("store_open_with: %s", err.msg);
}

static void
test_a_full_summary_cache_neither_fails_a_put_nor_loses_blobs(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts opts = {.dedupe = true, .msum_cache_max = 3};
	struct img keep[3], other[4];
	struct gc_report rep;
	char seed[32];

	for (int i = 0; i < 3; i++) {
		snprintf(seed, sizeof(seed), "keep%d", i);
		img_push(f->st, "gc/keep", seed, seed, NULL, &keep[i]);
	}
	/* A fresh process whose cache others fill first. */
	reopen(f, &opts);
	for (int i = 0; i < 3; i++) {
		snprintf(seed, sizeof(seed), "other%d", i);
		img_push(f->st, "gc/other", seed, seed, NULL, &other[i]);
	}

	gc_repo(f->st, "gc/keep", 0, false, &rep);

	assert_int_equal(rep.manifests, 0);
	assert_int_equal(rep.blobs, 0);
	for (int i = 0; i < 3; i++) {
		snprintf(seed, sizeof(seed), "keep%d", i);
		assert_true(has_tag(f->st, "gc/keep", seed, &keep[i].manifest));
		assert_true(has_blob(f->st, "gc/keep", &keep[i].config));
		assert_true(has_blob(f->st, "gc/keep", &keep[i].layer));
	}
	/* One more than the cache holds. */
	img_push(f->st, "gc/other", "other3", "other3", NULL, &other[3]);
	gc_repo(f->st, "gc/other", 0, false, &rep);
	assert_int_equal(rep.blobs, 0);
	for (int i = 0; i < 4; i++)
		assert_true(has_blob(f->st, "gc/other", &other[i].layer));
}

/* Push an index naming @child (of type @mt) by digest; its digest out. */
static void index_over(struct store *st, const char *repo,
                       const struct digest *child, const char *mt, size_t len,
                       const char *tag, struct digest *out, size_t *outlen)
{
	char body[1024], d[512];
	int n;

	desc_json(d, sizeof(d), mt, child, len);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"%s\","
	             "\"manifests\":[%s]}",
	             MT_OCI_INDEX, d);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	man_put(st, repo, tag, MT_OCI_INDEX, body, (size_t)n, out);
	*outlen = (size_t)n;
}

/*
 * An image under @levels nested indexes, the top one tagged "top", and an
 * index.json that lists the top alone; a stray blob beside them.
 */
static void push_nested(struct test_fixture *f, int levels, struct img *im,
                        struct digest *top, struct digest *stray)
{
	char path[PATH_MAX], body[1024], ds[DIGEST_STR_MAX];
	struct err err = ERR_INIT;
	struct digest cur;
	const char *mt = MT_OCI_MANIFEST;
	size_t len;
	int n;

	img_push(f->st, "gc/deep", "deep", NULL, NULL, im);
	cur = im->manifest;
	len = im->len;
	for (int i = 0; i < levels; i++) {
		index_over(f->st, "gc/deep", &cur, mt, len,
		           i == levels - 1 ? "top" : NULL, &cur, &len);
		mt = MT_OCI_INDEX;
	}
	*top = cur;
	blob_put(f->st, "gc/deep", "a stray blob", stray);
	digest_format(top, ds);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
	             "\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
	             "{\"org.opencontainers.image.ref.name\":\"top\"}}]}",
	             MT_OCI_INDEX, ds, len);
	snprintf(path, sizeof(path), "%s/gc/deep/index.json", f->root);
	assert_int_equal(fs_write_atomic(f->root, path, body, (size_t)n, &err),
	                 0);
}

static void
test_nested_indexes_are_followed_while_the_cache_evicts(void **state)
{
	struct test_fixture *f = *state;
	struct store_opts opts = {.dedupe = true, .msum_cache_max = 1};
	struct digest top, stray;
	struct gc_report rep;
	struct img im;

	reopen(f, &opts);
	push_nested(f, 4, &im, &top, &stray);

	gc_repo(f->st, "gc/deep", 0, false, &rep);

	assert_int_equal(rep.blobs, 1);
	assert_false(has_blob(f->st, "gc/deep", &stray));
	assert_true(has_tag(f->st, "gc/deep", "top", &top));
	assert_true(has_blob(f->st, "gc/deep", &im.manifest));
	assert_true(has_blob(f->st, "gc/deep", &im.config));
	assert_true(has_blob(f->st, "gc/deep", &im.layer));
}

static void test_indexes_nested_too_deep_make_gc_remove_nothing(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = 0};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct digest top, stray;
	struct img im;

	push_nested(f, 11, &im, &top, &stray);

	assert_int_equal(store_gc_repo(f->st, "gc/deep", &o, &rep, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_non_null(strstr(err.msg, "nothing removed"));
	assert_int_equal(rep.blobs, 0);
	assert_true(has_blob(f->st, "gc/deep", &stray));
	assert_true(has_blob(f->st, "gc/deep", &im.config));
	assert_true(has_blob(f->st, "gc/deep", &im.layer));
}

static void
test_an_unreadable_kept_manifest_makes_gc_remove_nothing(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = 0};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct digest stray;
	struct img a, b, old;
	char path[PATH_MAX];
	FILE *fp;

	img_push(f->st, "gc/bad", "a", "a", NULL, &a);
	img_push(f->st, "gc/bad", "old", NULL, NULL, &old);
	blob_put(f->st, "gc/bad", "a stray blob", &stray);
	/* A fresh process: no summary cached. Then b's manifest rots. */
	img_push(f->st, "gc/bad", "b", "b", NULL, &b);
	reopen(f, NULL);
	snprintf(path, sizeof(path), "%s/gc/bad/blobs/sha256/%s", f->root,
	         b.manifest.hex);
	assert_int_equal(unlink(path), 0); /* break any store link */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"not\":\"the manifest\"}", fp);
	fclose(fp);

	assert_int_equal(store_gc_repo(f->st, "gc/bad", &o, &rep, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_non_null(strstr(err.msg, b.manifest.hex));
	assert_int_equal(rep.blobs + rep.manifests, 0);
	assert_true(has_blob(f->st, "gc/bad", &b.config));
	assert_true(has_blob(f->st, "gc/bad", &b.layer));
	assert_true(has_blob(f->st, "gc/bad", &stray));
	assert_true(has_manifest(f->st, "gc/bad", &old.manifest));
	assert_true(has_blob(f->st, "gc/bad", &old.layer));
	assert_true(has_blob(f->st, "gc/bad", &a.layer));
}

static void test_gc_of_an_unknown_repository_is_not_found(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = 0};
	struct gc_report rep = {0};
	struct err err = ERR_INIT;

	assert_int_equal(store_gc_repo(f->st, "no/such/repo", &o, &rep, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_gc_repo(f->st, "Bad//Name", &o, &rep, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

int main(void)
{
	struct err err = ERR_INIT;
	const struct CMUnitTest tests[] = {
#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		TF(test_untagged_manifest_and_its_blobs_go_with_delay_zero),
		TF(test_a_manifest_untagged_by_a_tag_move_goes_the_tagged_stays),
		TF(test_a_tagged_manifest_and_its_blobs_are_kept),
		TF(test_the_children_of_a_tagged_index_are_kept),
		TF(test_a_referrer_of_a_kept_manifest_is_kept_an_orphan_goes),
		TF(test_a_referrer_of_a_child_of_a_tagged_index_is_kept),
		TF(test_an_unreferenced_blob_goes_one_still_named_stays),
		TF(test_a_blob_uploaded_again_is_safe_for_the_delay_from_then),
		TF(test_a_manifest_put_again_by_digest_is_safe_for_the_delay),
		TF(test_a_delay_of_an_hour_keeps_everything_fresh),
		TF(test_a_dry_run_counts_what_a_real_run_removes_and_changes_nothing),
		TF(test_store_gc_removes_store_copies_nothing_links),
		TF(test_store_gc_keeps_young_store_copies),
		TF(test_store_gc_stops_when_yield_says_so),
		TF(test_store_gc_drops_upload_sessions_idle_past_the_delay),
		TF(test_gc_of_an_unknown_repository_is_not_found),
		TF(test_a_full_summary_cache_neither_fails_a_put_nor_loses_blobs),
		TF(test_nested_indexes_are_followed_while_the_cache_evicts),
		TF(test_indexes_nested_too_deep_make_gc_remove_nothing),
		TF(test_an_unreadable_kept_manifest_makes_gc_remove_nothing),
#undef TF
	};

	if (log_open(NULL, LOG_ERROR, &err) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
