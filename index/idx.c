/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idx.c - the RocksDB content index: what the layouts hold, for lookups
 * that must not walk the file system.
 *
 * Keys (one byte of table, then fields joined by NUL):
 *   R<repo>                 -> struct repo_rec: what index.json and the
 *                              blob directories looked like when indexed
 *   T<repo>\0<tag>          -> "<digest>\0<mediaType>\0<size>"
 *   F<repo>\0<subject>\0<d> -> referrer descriptor (JSON)
 *   K<repo>\0<digest>       -> "" (the repository links this blob)
 *   L<digest>\0<repo>       -> "" (the same, by blob)
 *   B<digest>               -> "<size>" (the blob's size)
 *   S<repo>\0<digest>       -> what search shows of a manifest (JSON:
 *                              mt, size, mtime, the manifest m, the
 *                              config's facts c, plat, t, kids)
 *   N<repo>                 -> what search ranks a repository by and
 *                              what its summary shows (JSON: n, t,
 *                              signed, plats; size, Platforms, Vendors,
 *                              digests, tag, digest); only for
 *                              repositories with an image
 *   M<repo>                 -> what N is computed from, per manifest with
 *                              an S entry (JSON: digest -> t, plat,
 *                              kids, sig, lu, v, b; see facts_of())
 *   P<repo>\0<digest>       -> last pull, ms (retention.c's; kept)
 *   D<repo>\0<digest>       -> "<pulls>\0<last pull, ms>" (kept)
 *   W<repo>\0<digest>       -> "<push time, ms>\0<user>" (kept)
 *   V                       -> schema version
 * P, D and W are not derived from the layouts: a rebuild keeps them (a
 * lost pull time would let retention's pulledWithin delete a tag pulled
 * yesterday). They go with the manifest (its S entry) or the repository.
 * The ranking fields of N, with each repository's pulls (D), are also
 * kept in memory (struct srch: some 100 bytes a repository), changed
 * with every commit that writes N or D, so a search ranks every
 * repository without reading the index.
 * The layouts are the truth: every change to one is followed by the
 * matching index change in one batch, and a change made behind dray's
 * back is found by comparing stat and an xxh3 hash with repo_rec.
 */
#define LOG_MODULE "index"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/kv.h"
#include "index/store_int.h"

#define SCHEMA  "4"
#define KEY_MAX (2 + REF_NAME_MAX + 2 * DIGEST_STR_MAX + REF_TAG_MAX + 8)

/* One repository with an image: what it is ranked and filtered by. */
struct srec {
	int64_t t;
	uint64_t pulls;
	bool is_signed;
	uint32_t nplats;
	char *plats; /* in the same block, after name */
	char name[];
};

struct srch {
	pthread_rwlock_t lock; /* protects v, n, cap and the records' pulls */
	pthread_mutex_t pull_lock; /* held across a commit and its record
	                              change, so pulls are counted once */
	struct srec **v; /* by name */
	size_t n, cap;
};

static int srch_commit(struct store *st, struct kv_batch *b, const char *name,
                       json_t *nrec, struct err *err);
static void srch_pulls(struct srch *s, const struct store_pull *p, size_t n);
static int srch_load(struct store *st, struct err *err);
static struct srch *srch_new(void);
static void srch_free(struct srch *s);

/* What a repository looked like when it was last indexed. */
struct repo_rec {
	uint64_t dev, ino, size, mtime_ns; /* index.json's stat */
	uint64_t xxh3;                     /* index.json's content hash */
	uint64_t blobs_mtime_ns[2];        /* blobs/sha256, blobs/sha512 */
};

/* Build "<t><a>\0<b>\0<c>" (absent parts left out) into @out. */
static size_t key(char *out, char table, const char *a, const char *b,
                  const char *c)
{
	size_t n = 0;
	const char *parts[3] = {a, b, c};

	out[n++] = table;
	for (int i = 0; i < 3 && parts[i]; i++) {
		size_t l = strlen(parts[i]);

		if (i > 0)
			out[n++] = '\0';
		memcpy(out + n, parts[i], l);
		n += l;
	}
	return n;
}

/* Like key(), with a trailing NUL: the prefix of everything under it. */
static size_t prefix(char *out, char table, const char *a, const char *b)
{
	size_t n = key(out, table, a, b, NULL);

	out[n++] = '\0';
	return n;
}

static void blob_dir_mtimes(struct store *st, const char *repo,
                            uint64_t out[2])
{
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		char path[PATH_MAX];
		struct stat sb;

		out[a] = 0;
		if (snprintf(path, sizeof(path), "%s/%s/blobs/%s", st->root,
		             repo, digest_alg_name((enum digest_alg)a)) <
		            (int)sizeof(path) &&
		    stat(path, &sb) == 0)
			out[a] = clock_ts_ns(&sb.st_mtim);
	}
}

static int get_rec(struct store *st, const char *repo, struct repo_rec *rec,
                   struct err *err)
{
	char k[KEY_MAX], *v = NULL;
	size_t klen = key(k, 'R', repo, NULL, NULL), vlen;

	if (kv_get(st->kv, k, klen, &v, &vlen, err) < 0)
		return -1;
	if (vlen != sizeof(*rec)) {
		free(v);
		return err_set(err, ERR_NOT_FOUND, "stale index record");
	}
	memcpy(rec, v, sizeof(*rec));
	free(v);
	return 0;
}

bool idx_repo_current(struct store *st, const char *repo,
                      const struct stat *sb, uint64_t xxh3)
{
	struct err ignored = ERR_INIT;
	struct repo_rec rec;

	return get_rec(st, repo, &rec, &ignored) == 0 &&
	       rec.dev == (uint64_t)sb->st_dev &&
	       rec.ino == (uint64_t)sb->st_ino &&
	       rec.size == (uint64_t)sb->st_size &&
	       rec.mtime_ns == clock_ts_ns(&sb->st_mtim) && rec.xxh3 == xxh3;
}

/* Marks in scan_ctx.known: a blob the index had, found again or not. */
static char blob_unseen, blob_seen;

struct scan_ctx {
	struct kv_batch *b; /* where the entries go */
	const char *repo;   /* whose blobs */
	struct hmap *known; /* digest -> &blob_unseen / &blob_seen */
};

/* repo_each_blob_new()'s @known: a blob the index has needs no stat. */
static bool blob_known(const char *dstr, void *arg)
{
	struct scan_ctx *c = arg;

	/* Replacing an existing key's value allocates nothing. */
	return hmap_get(c->known, dstr) &&
	       hmap_put(c->known, dstr, &blob_seen) == 0;
}

static int put_blob(const struct blob_file *bf, void *arg)
{
	struct scan_ctx *c = arg;
	char k[KEY_MAX], size[24];

	snprintf(size, sizeof(size), "%" PRIu64, (uint64_t)bf->sb->st_size);
	kv_batch_put(c->b, k, key(k, 'K', c->repo, bf->dstr, NULL), "", 0);
	kv_batch_put(c->b, k, key(k, 'L', bf->dstr, c->repo, NULL), "", 0);
	kv_batch_put(c->b, k, key(k, 'B', bf->dstr, NULL, NULL), size,
	             strlen(size));
	return 0;
}

/* A blob the index had and the directory no longer does: forgotten. */
static int drop_unseen(const char *dstr, void *val, void *arg)
{
	struct scan_ctx *c = arg;
	char k[KEY_MAX];

	if (val == &blob_unseen) {
		kv_batch_del(c->b, k, key(k, 'K', c->repo, dstr, NULL));
		kv_batch_del(c->b, k, key(k, 'L', dstr, c->repo, NULL));
	}
	return 0;
}

/*
 * Queue into @b what changed in @repo's blob files since the index last
 * looked: K/L/B entries for new files (stat()ed), K/L removals for files
 * gone. Files the index already has cost no stat: on a shared file
 * system that is one round trip each, and their content never changes.
 */
static int scan_blobs(struct store *st, const char *repo, struct kv_batch *b,
                      struct err *err)
{
	char pre[KEY_MAX];
	struct scan_ctx c = {b, repo, hmap_new()};
	struct kv_iter *it;
	const char *ik, *iv;
	size_t iklen, ivlen, plen;
	int rc;

	plen = prefix(pre, 'K', repo, NULL);
	it = c.known ? kv_iter_new(st->kv, pre, plen, NULL, 0) : NULL;
	if (!it) {
		hmap_free(c.known);
		return err_set(err, ERR_NOMEM, "cannot scan index");
	}
	while ((rc = kv_iter_next(it, &ik, &iklen, &iv, &ivlen, err)) > 0) {
		char dstr[DIGEST_STR_MAX];
		size_t dl = iklen - plen;

		if (dl >= sizeof(dstr))
			continue;
		memcpy(dstr, ik + plen, dl);
		dstr[dl] = '\0';
		if (hmap_put(c.known, dstr, &blob_unseen) < 0) {
			rc = err_set(err, ERR_NOMEM, "cannot scan index");
			break;
		}
	}
	kv_iter_free(it);
	if (rc == 0) {
		repo_each_blob_new(st, repo, blob_known, put_blob, &c);
		(void)hmap_each(c.known, drop_unseen, &c);
	}
	hmap_free(c.known);
	return rc < 0 ? -1 : 0;
}

/* ---- what search needs (S, N; D and W are kept) -------------------------- */

#define CONFIG_MAX (4u << 20) /* the largest image config summarised */

#define MT_COSIGN_SIG   "application/vnd.dev.cosign.artifact.sig.v1+json"
#define MT_NOTATION_SIG "application/vnd.cncf.notary.signature"

int64_t store_time_ns(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	int64_t days, t, frac = 0;
	const char *p;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
	           &n) != 6 ||
	    n == 0 || y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return 0;
	p = s + n;
	if (*p == '.') {
		int digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits++ < 9)
				frac = frac * 10 + (*p - '0');
		while (digits++ < 9)
			frac *= 10;
	}
	/* Days from the civil date (Howard Hinnant's algorithm). */
	y -= mo <= 2;
	{
		int64_t era = (y >= 0 ? y : y - 399) / 400;
		int64_t yoe = y - era * 400;
		int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = era * 146097 + doe - 719468;
	}
	t = days * 86400 + h * 3600 + mi * 60 + sec;
	if (*p == '+' || *p == '-') {
		int oh = 0, om = 0;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && oh >= 0 &&
		    om >= 0)
			t -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	}
	/* Nanoseconds reach 1677..2262: beyond, the ends (for sorting). */
	if (t >= INT64_MAX / 1000000000)
		return INT64_MAX;
	if (t <= INT64_MIN / 1000000000)
		return INT64_MIN;
	return t * 1000000000 + frac;
}

/* Blob @dstr of @repo as JSON (NULL: absent, over @max, not JSON). */
static json_t *blob_json(struct store *st, const char *repo, const char *dstr,
                         size_t max, uint64_t *mtime_ms)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX], *buf = NULL;
	struct digest d;
	struct stat sb;
	json_t *v = NULL;
	size_t len;

	if (!dstr || digest_parse(&d, dstr, strlen(dstr), &ignored) < 0 ||
	    blob_path(st, repo, &d, path, sizeof(path), &ignored) < 0)
		return NULL;
	if (mtime_ms && stat(path, &sb) == 0)
		*mtime_ms = clock_ts_ns(&sb.st_mtim) / 1000000;
	if (fs_read_file(path, max, &buf, &len, &ignored) == 0)
		v = json_loadb(buf, len, 0, NULL);
	free(buf);
	return v;
}

/* Os and Arch as zot shows them ("arm/v7" with a variant), or NULL. */
static json_t *platform_of(json_t *cfg)
{
	const char *os = json_string_value(json_object_get(cfg, "os"));
	const char *arch =
		json_string_value(json_object_get(cfg, "architecture"));
	const char *variant =
		json_string_value(json_object_get(cfg, "variant"));
	char buf[256];

	if (!os && !arch)
		return NULL;
	if (arch && variant && *variant) {
		snprintf(buf, sizeof(buf), "%s/%s", arch, variant);
		arch = buf;
	}
	return json_pack("{s:s?, s:s?}", "Os", os, "Arch", arch);
}

/* The S record of manifest @dstr of @repo (a new object), or NULL. */
static json_t *search_record(struct store *st, const char *repo,
                             const char *dstr)
{
	uint64_t mtime = 0;
	json_t *m = blob_json(st, repo, dstr, STORE_MANIFEST_MAX, &mtime);
	const char *mt = json_string_value(json_object_get(m, "mediaType"));
	json_t *rec = NULL, *cfg = NULL, *facts, *kids, *d;
	size_t i;

	if (!json_is_object(m))
		goto out;
	if (!mt)
		mt = json_object_get(m, "manifests") ? MT_OCI_INDEX
		                                     : MT_OCI_MANIFEST;
	rec = json_pack("{s:s, s:i, s:I, s:O}", "mt", mt, "size", 0, "mtime",
	                (json_int_t)mtime, "m", m);
	if (!rec)
		goto out;
	{
		/* The manifest's own length, not its re-encoding's. */
		char path[PATH_MAX];
		struct err ignored = ERR_INIT;
		struct digest dg;
		struct stat sb;

		if (digest_parse(&dg, dstr, strlen(dstr), &ignored) == 0 &&
		    blob_path(st, repo, &dg, path, sizeof(path), &ignored) ==
		            0 &&
		    stat(path, &sb) == 0)
			json_object_set_new(rec, "size",
			                    json_integer(sb.st_size));
	}
	if (store_mt_is_index(mt)) {
		kids = json_array();
		json_array_foreach(json_object_get(m, "manifests"), i, d)
		{
			const char *kmt = json_string_value(
				json_object_get(d, "mediaType"));
			json_t *kd = json_object_get(d, "digest");

			/* As zot: only manifests (buildkit caches go). */
			if (json_is_string(kd) &&
			    (!kmt || store_mt_is_manifest(kmt)))
				json_array_append(kids, kd);
		}
		json_object_set_new(rec, "kids", kids);
		goto out;
	}
	cfg = blob_json(st, repo,
	                json_string_value(json_object_get(
				json_object_get(m, "config"), "digest")),
	                CONFIG_MAX, NULL);
	facts = json_pack(
		"{s:O?, s:O?, s:O?, s:O?, s:O?, s:{s:O?}}", "os",
		json_object_get(cfg, "os"), "architecture",
		json_object_get(cfg, "architecture"), "variant",
		json_object_get(cfg, "variant"), "created",
		json_object_get(cfg, "created"), "history",
		json_object_get(cfg, "history"), "config", "Labels",
		json_object_get(json_object_get(cfg, "config"), "Labels"));
	if (facts)
		json_object_set_new(rec, "c", facts);
	d = platform_of(cfg);
	if (d)
		json_object_set_new(rec, "plat", d);
	json_object_set_new(rec, "t",
	                    json_integer(store_time_ns(json_string_value(
				    json_object_get(cfg, "created")))));
out:
	json_decref(cfg);
	json_decref(m);
	return rec;
}

/* The subject of S record @rec if it is a signature (cosign, notation). */
static const char *sig_subject(json_t *rec)
{
	json_t *m = json_object_get(rec, "m");
	const char *at = json_string_value(json_object_get(m, "artifactType"));

	if (!at)
		at = json_string_value(json_object_get(
			json_object_get(m, "config"), "mediaType"));
	if (!at || (strcmp(at, MT_COSIGN_SIG) && strcmp(at, MT_NOTATION_SIG)))
		return NULL;
	return json_string_value(
		json_object_get(json_object_get(m, "subject"), "digest"));
}

/* Is facts record @f a signature? Its subject, or NULL. */
static const char *signed_subject(json_t *f)
{
	return json_string_value(json_object_get(f, "sig"));
}

/* A cosign signature's tag ("sha256-<hex>.sig"): not an image in zot. */
bool store_is_sig_tag(const char *tag)
{
	size_t n = strlen(tag);

	return n == 7 + 64 + 4 && strncmp(tag, "sha256-", 7) == 0 &&
	       strcmp(tag + n - 4, ".sig") == 0;
}

/* Add the platform of record @rec to @plats, once. */
/* Add @p to @list unless an equal one is there. */
static void add_unique(json_t *list, json_t *p)
{
	json_t *q;
	size_t i;

	if (!json_is_object(p))
		return;
	json_array_foreach(list, i, q)
	{
		if (json_equal(p, q))
			return;
	}
	json_array_append(list, p);
}


/*
 * The N record of @r from the S records @have (digest -> record): its
 * images (tags but cosign's signatures), the newest one's time, their
 * platforms, whether one is signed. NULL: no image.
 */
static json_t *repo_search_record(struct repo *r, json_t *have)
{
	json_t *plats = json_array(), *sigs = json_object(), *e, *rec;
	const char *k;
	json_int_t n = 0, newest = 0;
	size_t i;

	if (!plats || !sigs)
		goto fail;
	json_object_foreach(have, k, rec)
	{
		const char *subj = signed_subject(rec);

		if (subj)
			json_object_set_new(sigs, subj, json_true());
	}
	/* cosign's tag "sha256-<hex>.sig" signs "sha256:<hex>". */
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		const char *tag = entry_tag(e);
		char subj[DIGEST_STR_MAX];

		if (!tag || !store_is_sig_tag(tag))
			continue;
		snprintf(subj, sizeof(subj), "sha256:%.64s", tag + 7);
		json_object_set_new(sigs, subj, json_true());
	}
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		const char *tag = entry_tag(e);
		const char *ds =
			json_string_value(json_object_get(e, "digest"));
		json_t *kid, *kids;
		json_int_t t;
		size_t j;

		if (!tag || !ds || store_is_sig_tag(tag) ||
		    !(rec = json_object_get(have, ds)))
			continue;
		n++;
		t = json_integer_value(json_object_get(rec, "t"));
		add_unique(plats, json_object_get(rec, "plat"));
		kids = json_object_get(rec, "kids");
		json_array_foreach(kids, j, kid)
		{
			json_t *kr =
				json_object_get(have, json_string_value(kid));
			json_int_t kt =
				json_integer_value(json_object_get(kr, "t"));

			if (kt > t)
				t = kt;
			add_unique(plats, json_object_get(kr, "plat"));
		}
		if (t > newest)
			newest = t;
	}
	if (!n)
		goto fail;
	{
		bool any = false;

		json_array_foreach(json_object_get(r->index, "manifests"), i, e)
		{
			const char *tag = entry_tag(e);
			const char *ds =
				json_string_value(json_object_get(e, "digest"));

			if (tag && ds && !store_is_sig_tag(tag) &&
			    json_object_get(sigs, ds))
				any = true;
		}
		rec = json_pack("{s:I, s:I, s:O, s:b}", "n", n, "t", newest,
		                "plats", plats, "signed", any);
	}
	json_decref(plats);
	json_decref(sigs);
	return rec;
fail:
	json_decref(plats);
	json_decref(sigs);
	return NULL;
}

/* ---- what a repository's summary shows (N's page fields) -------------- */

/* A size as search shows it: text or a number, 0 for anything else. */
static json_int_t shown_size(json_t *v)
{
	const char *s = json_string_value(v);
	json_int_t n = s ? (json_int_t)strtoull(s, NULL, 10)
	                 : json_integer_value(v);

	return n > 0 ? n : 0;
}

/* A string member of @o, or "". */
static const char *member(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* zot's Vendor from an annotation map, then a label map (may be NULL). */
static const char *vendor_of(json_t *ann, json_t *labels)
{
	static const char *const keys[] = {"org.opencontainers.image.vendor",
	                                   "org.label-schema.vendor"};
	json_t *maps[2] = {ann, labels};

	for (int m = 0; m < 2; m++)
		for (int k = 0; k < 2; k++)
			if (*member(maps[m], keys[k]))
				return member(maps[m], keys[k]);
	return "";
}

/* Append [@d, @size] to @list. */
static void add_blob(json_t *list, const char *d, json_int_t size)
{
	json_array_append_new(list, json_pack("[s, I]", d, size));
}

/*
 * The blobs search counts of S record @rec (of @dstr): an image's
 * manifest, config and layers, an index's own manifest; [digest, size]
 * each, in order.
 */
static json_t *blobs_of(json_t *rec, const char *dstr)
{
	json_t *m = json_object_get(rec, "m"), *l, *out = json_array();
	json_t *cfgd = json_object_get(m, "config");
	const char *cdig = json_string_value(json_object_get(cfgd, "digest"));
	size_t i;

	if (!out)
		return NULL;
	if (json_object_get(rec, "kids")) {
		add_blob(out, dstr,
		         json_integer_value(json_object_get(rec, "size")));
		return out;
	}
	add_blob(out, dstr, shown_size(json_object_get(rec, "size")));
	if (cdig)
		add_blob(out, cdig, shown_size(json_object_get(cfgd, "size")));
	json_array_foreach(json_object_get(m, "layers"), i, l)
	{
		const char *ld = json_string_value(json_object_get(l, "digest"));

		if (ld)
			add_blob(out, ld, shown_size(json_object_get(l, "size")));
	}
	return out;
}

/*
 * What N is computed from, of S record @rec (of @dstr), kept in the
 * repository's M record so that a change reads no S record: "t",
 * "plat", "kids" as in S; "sig" (the signed subject), "lu" (the
 * creation text), "v" (the vendor), "b" (blobs_of()).
 */
static json_t *facts_of(json_t *rec, const char *dstr)
{
	json_t *c = json_object_get(rec, "c");
	const char *created = json_string_value(json_object_get(c, "created"));
	bool idx = json_object_get(rec, "kids") != NULL;
	const char *vendor = vendor_of(
		json_object_get(json_object_get(rec, "m"), "annotations"),
		idx ? NULL
		    : json_object_get(json_object_get(c, "config"), "Labels"));

	return json_pack("{s:O*, s:O*, s:O*, s:s*, s:s*, s:s*, s:o}", "t",
	                 json_object_get(rec, "t"), "plat",
	                 json_object_get(rec, "plat"), "kids",
	                 json_object_get(rec, "kids"), "sig", sig_subject(rec),
	                 "lu", created, "v", *vendor ? vendor : NULL, "b",
	                 blobs_of(rec, dstr));
}

/* Set the blobs of facts @fr in @blobs (digest -> size). */
static void set_blobs(json_t *fr, json_t *blobs)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(fr, "b"), i, e)
		json_object_set(blobs, json_string_value(json_array_get(e, 0)),
		                json_array_get(e, 1));
}

/* What repo_facts() gathers, image by image. */
struct facts {
	json_t *have;    /* digest -> facts_of() */
	json_t *blobs;   /* digest -> size, over every image */
	json_t *plats;   /* the images' platforms, in order */
	json_t *vendors; /* their vendors, once each */
	json_t *digests; /* their digests, once each */
	const char *tag, *digest; /* the newest image */
	int64_t best;
};

/*
 * Add tag @tag's image @dstr (facts @rec) to @f as search's summary of
 * it sees it: its manifests (an index's image manifests), their blobs,
 * platforms and newest creation, its vendor.
 */
static void add_image(struct facts *f, const char *tag, const char *dstr,
                      json_t *rec)
{
	const char *vendor = member(rec, "v"), *newest = NULL;
	json_t *kid;
	int64_t t;
	size_t i;

	set_blobs(rec, f->blobs);
	if (!json_object_get(rec, "kids")) {
		add_unique(f->plats, json_object_get(rec, "plat"));
		newest = json_string_value(json_object_get(rec, "lu"));
	}
	json_array_foreach(json_object_get(rec, "kids"), i, kid)
	{
		const char *kd = json_string_value(kid);
		json_t *kr = kd ? json_object_get(f->have, kd) : NULL;
		const char *lu;

		if (!json_is_object(kr))
			continue;
		if (!*vendor)
			vendor = member(kr, "v");
		if (json_object_get(kr, "kids"))
			continue; /* only image manifests are shown */
		set_blobs(kr, f->blobs);
		add_unique(f->plats, json_object_get(kr, "plat"));
		lu = json_string_value(json_object_get(kr, "lu"));
		if (lu &&
		    (!newest || store_time_ns(lu) > store_time_ns(newest)))
			newest = lu;
	}
	if (*vendor) {
		json_t *v;
		bool seen = false;

		json_array_foreach(f->vendors, i, v) seen |=
			!strcmp(json_string_value(v), vendor);
		if (!seen)
			json_array_append_new(f->vendors, json_string(vendor));
	}
	{
		json_t *d;
		bool seen = false;

		json_array_foreach(f->digests, i, d) seen |=
			!strcmp(json_string_value(d), dstr);
		if (!seen)
			json_array_append_new(f->digests, json_string(dstr));
	}
	t = store_time_ns(newest);
	if (!f->tag || t > f->best) {
		f->tag = tag;
		f->digest = dstr;
		f->best = t;
	}
}

/* An entry of r->index with a tag, as the T table keeps it. */
struct tagged {
	const char *tag, *digest;
	size_t at; /* its place in index.json: the last one wins */
};

static int tagged_cmp(const void *pa, const void *pb)
{
	const struct tagged *a = pa, *b = pb;
	int c = strcmp(a->tag, b->tag);

	return c ? c : a->at < b->at ? -1 : a->at > b->at;
}

/*
 * What search's summary of @r shows beyond N's ranking fields, from the
 * facts @have (digest -> facts_of()), into @rec: "size" (of every blob of its images,
 * once), "Platforms", "Vendors", the newest image ("tag", "digest") and
 * "digests" (its images'), the images taken as search lists them: the
 * T table's tags in order, cosign's signature tags left out.
 */
static int repo_facts(struct repo *r, json_t *have, json_t *rec)
{
	json_t *mans = json_object_get(r->index, "manifests"), *e, *v;
	struct facts f = {.have = have,
	                  .blobs = json_object(),
	                  .plats = json_array(),
	                  .vendors = json_array(),
	                  .digests = json_array()};
	struct tagged *tv = calloc(json_array_size(mans) + 1, sizeof(*tv));
	json_int_t size = 0;
	size_t i, n = 0;
	const char *k;
	int ret = -1;

	if (!tv || !f.blobs || !f.plats || !f.vendors || !f.digests)
		goto out;
	json_array_foreach(mans, i, e)
	{
		struct err ignored = ERR_INIT;
		const char *tag = entry_tag(e);
		const char *ds = json_string_value(json_object_get(e, "digest"));
		struct digest d;

		if (!tag || !ds || !json_is_integer(json_object_get(e, "size")) ||
		    digest_parse(&d, ds, strlen(ds), &ignored) < 0 ||
		    ref_tag_check(tag, &ignored) < 0)
			continue;
		tv[n++] = (struct tagged){tag, ds, i};
	}
	qsort(tv, n, sizeof(*tv), tagged_cmp);
	for (i = 0; i < n; i++) {
		json_t *sr;

		if (i + 1 < n && !strcmp(tv[i].tag, tv[i + 1].tag))
			continue; /* a later entry names the tag again */
		sr = json_object_get(have, tv[i].digest);
		if (store_is_sig_tag(tv[i].tag) || !json_is_object(sr))
			continue;
		add_image(&f, tv[i].tag, tv[i].digest, sr);
	}
	json_object_foreach(f.blobs, k, v) size += json_integer_value(v);
	if (json_object_set_new(rec, "size", json_integer(size)) < 0 ||
	    json_object_set(rec, "Platforms", f.plats) < 0 ||
	    json_object_set(rec, "Vendors", f.vendors) < 0 ||
	    json_object_set(rec, "digests", f.digests) < 0 ||
	    (f.tag && (json_object_set_new(rec, "tag", json_string(f.tag)) < 0 ||
	               json_object_set_new(rec, "digest",
	                                   json_string(f.digest)) < 0)))
		goto out;
	ret = 0;
out:
	free(tv);
	json_decref(f.blobs);
	json_decref(f.plats);
	json_decref(f.vendors);
	json_decref(f.digests);
	return ret;
}

/* Queue the deletion of @dstr's kept entries (P, D, W) in @repo into @b. */
static void drop_kept(struct kv_batch *b, const char *repo, const char *dstr)
{
	char k[KEY_MAX];

	kv_batch_del(b, k, key(k, 'P', repo, dstr, NULL));
	kv_batch_del(b, k, key(k, 'D', repo, dstr, NULL));
	kv_batch_del(b, k, key(k, 'W', repo, dstr, NULL));
}

/* The facts of @repo's manifests kept in its M record, or NULL: none. */
static json_t *kept_facts(struct store *st, const char *repo)
{
	struct err ignored = ERR_INIT;
	char k[KEY_MAX], *v = NULL;
	json_t *have = NULL;
	size_t vlen;

	if (kv_get(st->kv, k, key(k, 'M', repo, NULL, NULL), &v, &vlen,
	           &ignored) == 0)
		have = json_loadb(v, vlen, 0, NULL);
	free(v);
	if (have && !json_is_object(have)) {
		json_decref(have);
		have = NULL;
	}
	return have;
}

/* The facts of @repo's manifests from its S records (a new object). */
static json_t *scan_facts(struct store *st, const char *repo, struct err *err)
{
	char pre[KEY_MAX];
	size_t plen = prefix(pre, 'S', repo, NULL), iklen, ivlen;
	struct kv_iter *it = kv_iter_new(st->kv, pre, plen, NULL, 0);
	json_t *have = json_object();
	const char *ik, *iv;
	int rc;

	if (!it || !have) {
		kv_iter_free(it);
		json_decref(have);
		err_set(err, ERR_NOMEM, "cannot index");
		return NULL;
	}
	while ((rc = kv_iter_next(it, &ik, &iklen, &iv, &ivlen, err)) > 0) {
		char dstr[DIGEST_STR_MAX];
		size_t dl = iklen - plen;
		json_t *rec;

		if (dl >= sizeof(dstr))
			continue;
		memcpy(dstr, ik + plen, dl);
		dstr[dl] = '\0';
		rec = json_loadb(iv, ivlen, 0, NULL);
		if (rec)
			json_object_set_new(have, dstr, facts_of(rec, dstr));
		json_decref(rec);
	}
	kv_iter_free(it);
	if (rc < 0) {
		json_decref(have);
		return NULL;
	}
	return have;
}

/*
 * Queue the S, M and N entries of r->index into @b: the S entries of the
 * manifests it no longer holds go (with their D and W), those of new
 * ones (and of an index's manifests) are built, the rest are kept. N
 * is computed from M (what it needs of each S record), so a push reads
 * one record, not every S record of the repository.
 * *nrec: the N record queued (a new reference), or NULL for none.
 */
static int index_search(struct store *st, struct repo *r, struct kv_batch *b,
                        json_t **nrec, struct err *err)
{
	json_t *want = json_object(), *have = NULL, *e, *rec;
	char k[KEY_MAX];
	const char *ds;
	size_t i;
	int rc = -1;

	if (!want) {
		err_set(err, ERR_NOMEM, "cannot index");
		goto out;
	}
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		ds = json_string_value(json_object_get(e, "digest"));
		if (ds && strlen(ds) < DIGEST_STR_MAX)
			json_object_set_new(want, ds, json_true());
	}
	/* What N is computed from: kept in M, else read from S once. */
	have = kept_facts(st, r->name);
	if (!have && !(have = scan_facts(st, r->name, err)))
		goto out;
	/* New manifests, and the manifests of new indexes. */
	for (;;) {
		bool more = false;
		void *iter;

		for (iter = json_object_iter(want); iter;
		     iter = json_object_iter_next(want, iter)) {
			json_t *kid;
			size_t j;

			ds = json_object_iter_key(iter);
			rec = json_object_get(have, ds);
			if (!rec) {
				json_t *sr = search_record(st, r->name, ds);
				char *text;

				if (!sr)
					continue; /* unreadable: not shown */
				text = json_dumps(sr, JSON_COMPACT);
				rec = facts_of(sr, ds);
				json_decref(sr);
				if (!text || !rec ||
				    json_object_set_new(have, ds, rec) < 0) {
					free(text);
					err_set(err, ERR_NOMEM, "cannot index");
					goto out;
				}
				kv_batch_put(b, k,
				             key(k, 'S', r->name, ds, NULL),
				             text, strlen(text));
				free(text);
			}
			json_array_foreach(json_object_get(rec, "kids"), j, kid)
			{
				const char *kd = json_string_value(kid);

				if (kd && strlen(kd) < DIGEST_STR_MAX &&
				    !json_object_get(want, kd)) {
					json_object_set_new(want, kd,
					                    json_true());
					more = true;
				}
			}
		}
		if (!more)
			break;
	}
	/* Manifests the repository no longer holds. */
	{
		void *iter = json_object_iter(have);

		while (iter) {
			const char *hd = json_object_iter_key(iter);

			iter = json_object_iter_next(have, iter);
			if (json_object_get(want, hd))
				continue;
			kv_batch_del(b, k, key(k, 'S', r->name, hd, NULL));
			drop_kept(b, r->name, hd);
			json_object_del(have, hd);
		}
	}
	if (json_object_size(have)) {
		char *text = json_dumps(have, JSON_COMPACT);

		if (!text) {
			err_set(err, ERR_NOMEM, "cannot index");
			goto out;
		}
		kv_batch_put(b, k, key(k, 'M', r->name, NULL, NULL), text,
		             strlen(text));
		free(text);
	} else {
		kv_batch_del(b, k, key(k, 'M', r->name, NULL, NULL));
	}
	rec = repo_search_record(r, have);
	if (rec) {
		char *text = NULL;

		if (repo_facts(r, have, rec) < 0 ||
		    !(text = json_dumps(rec, JSON_COMPACT))) {
			json_decref(rec);
			err_set(err, ERR_NOMEM, "cannot index");
			goto out;
		}
		kv_batch_put(b, k, key(k, 'N', r->name, NULL, NULL), text,
		             strlen(text));
		free(text);
		*nrec = rec;
	} else {
		kv_batch_del(b, k, key(k, 'N', r->name, NULL, NULL));
	}
	rc = 0;
out:
	json_decref(want);
	json_decref(have);
	return rc;
}

/* Queue the T, F, S and N entries for r->index into @b (*nrec: N's). */
static int index_manifests(struct store *st, struct repo *r,
                           struct kv_batch *b, json_t **nrec, struct err *err)
{
	char k[KEY_MAX], pre[KEY_MAX];
	json_t *e;
	size_t i;

	if (kv_batch_del_prefix(st->kv, b, pre, prefix(pre, 'T', r->name, NULL),
	                        err) < 0 ||
	    kv_batch_del_prefix(st->kv, b, pre, prefix(pre, 'F', r->name, NULL),
	                        err) < 0)
		return -1;
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		struct err ignored = ERR_INIT;
		const char *ds = json_string_value(json_object_get(e, "digest"));
		const char *mt =
			json_string_value(json_object_get(e, "mediaType"));
		const char *tag = entry_tag(e);
		json_t *sz = json_object_get(e, "size");
		const struct msum *m;
		struct digest d;
		char val[DIGEST_STR_MAX + STORE_MEDIA_TYPE_MAX + 32];
		int n;

		if (!ds || digest_parse(&d, ds, strlen(ds), &ignored) < 0 ||
		    !json_is_integer(sz))
			continue;
		if (tag && ref_tag_check(tag, &ignored) == 0) {
			n = snprintf(val, sizeof(val), "%s%c%s%c%" PRId64, ds,
			             0, mt ? mt : MT_OCI_MANIFEST, 0,
			             (int64_t)json_integer_value(sz));
			if (n > 0 && (size_t)n < sizeof(val))
				kv_batch_put(b, k, key(k, 'T', r->name, tag, NULL),
				             val, (size_t)n);
		}
		m = msum_get(st, r->name, &d, &ignored);
		if (m && m->has_subject) {
			char subj[DIGEST_STR_MAX];
			json_t *desc;
			char *text;

			digest_format(&m->subject, subj);
			desc = json_pack("{s:s,s:s,s:I}", "mediaType",
			                 m->media_type, "digest", ds, "size",
			                 (json_int_t)m->size);
			if (desc && m->artifact_type)
				json_object_set_new(
					desc, "artifactType",
					json_string(m->artifact_type));
			if (desc && m->annotations)
				json_object_set_new(
					desc, "annotations",
					json_loads(m->annotations, 0, NULL));
			text = desc ? json_dumps(desc, JSON_COMPACT) : NULL;
			json_decref(desc);
			if (!text) {
				msum_put(st, m);
				return err_set(err, ERR_NOMEM,
				               "cannot index referrer");
			}
			kv_batch_put(b, k, key(k, 'F', r->name, subj, ds), text,
			             strlen(text));
			free(text);
		}
		msum_put(st, m);
	}
	return index_search(st, r, b, nrec, err);
}

int idx_sync_repo(struct store *st, struct repo *r, bool blobs,
                  struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	struct repo_rec rec = {0};
	json_t *nrec = NULL;
	char k[KEY_MAX];
	int ret = -1;

	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	r->tags_cached = false;
	strvec_release(&r->tags);
	if (index_manifests(st, r, b, &nrec, err) < 0)
		goto out;
	if (blobs && scan_blobs(st, r->name, b, err) < 0)
		goto out;
	rec.dev = (uint64_t)r->dev;
	rec.ino = (uint64_t)r->ino;
	rec.size = (uint64_t)r->size;
	rec.mtime_ns = clock_ts_ns(&r->mtime);
	rec.xxh3 = r->xxh3;
	blob_dir_mtimes(st, r->name, rec.blobs_mtime_ns);
	kv_batch_put(b, k, key(k, 'R', r->name, NULL, NULL), (char *)&rec,
	             sizeof(rec));
	ret = srch_commit(st, b, r->name, nrec, err);
out:
	json_decref(nrec);
	kv_batch_free(b);
	return ret;
}

/* Refresh only the blob directory times of @repo's record. */
static void touch_rec(struct store *st, const char *repo, struct kv_batch *b)
{
	struct err ignored = ERR_INIT;
	struct repo_rec rec;
	char k[KEY_MAX];

	if (get_rec(st, repo, &rec, &ignored) < 0)
		return; /* not indexed yet: the next sync scans the blobs */
	blob_dir_mtimes(st, repo, rec.blobs_mtime_ns);
	kv_batch_put(b, k, key(k, 'R', repo, NULL, NULL), (char *)&rec,
	             sizeof(rec));
}

int idx_blob_added(struct store *st, const char *repo, const struct digest *d,
                   uint64_t size, struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	char k[KEY_MAX], dstr[DIGEST_STR_MAX], sz[24];
	int ret;

	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	digest_format(d, dstr);
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	kv_batch_put(b, k, key(k, 'K', repo, dstr, NULL), "", 0);
	kv_batch_put(b, k, key(k, 'L', dstr, repo, NULL), "", 0);
	kv_batch_put(b, k, key(k, 'B', dstr, NULL, NULL), sz, strlen(sz));
	touch_rec(st, repo, b);
	ret = kv_commit(st->kv, b, err);
	kv_batch_free(b);
	return ret;
}

int idx_blob_removed(struct store *st, const char *repo,
                     const struct digest *d, struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	char k[KEY_MAX], dstr[DIGEST_STR_MAX];
	int ret;

	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	digest_format(d, dstr);
	kv_batch_del(b, k, key(k, 'K', repo, dstr, NULL));
	kv_batch_del(b, k, key(k, 'L', dstr, repo, NULL));
	touch_rec(st, repo, b);
	ret = kv_commit(st->kv, b, err);
	kv_batch_free(b);
	return ret;
}

/* Queue the deletion of @repo's S, M, N, P, D and W entries into @b. */
static int drop_search(struct store *st, struct kv_batch *b, const char *repo,
                       struct err *err)
{
	static const char tables[] = "SPDW";
	char k[KEY_MAX], pre[KEY_MAX];

	for (size_t i = 0; i < sizeof(tables) - 1; i++)
		if (kv_batch_del_prefix(st->kv, b, pre,
		                        prefix(pre, tables[i], repo, NULL),
		                        err) < 0)
			return -1;
	kv_batch_del(b, k, key(k, 'N', repo, NULL, NULL));
	kv_batch_del(b, k, key(k, 'M', repo, NULL, NULL));
	return 0;
}

/* Remove everything the index holds about @repo. */
static int drop_repo(struct store *st, const char *repo, struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	char k[KEY_MAX], pre[KEY_MAX];
	int ret = -1;

	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	if (scan_blobs(st, repo, b, err) == 0) {
		/* scan_blobs() re-adds what is on disk; there is none. */
		if (kv_batch_del_prefix(st->kv, b, pre,
		                        prefix(pre, 'K', repo, NULL),
		                        err) == 0 &&
		    kv_batch_del_prefix(st->kv, b, pre,
		                        prefix(pre, 'T', repo, NULL),
		                        err) == 0 &&
		    kv_batch_del_prefix(st->kv, b, pre,
		                        prefix(pre, 'F', repo, NULL),
		                        err) == 0 &&
		    drop_search(st, b, repo, err) == 0) {
			kv_batch_del(b, k, key(k, 'R', repo, NULL, NULL));
			ret = srch_commit(st, b, repo, NULL, err);
		}
	}
	kv_batch_free(b);
	return ret;
}

/* Bring one repository found on disk up to date, if it changed. */
static int reconcile_repo(struct store *st, const char *name,
                          struct idx_stats *stats, struct err *err)
{
	struct err ignored = ERR_INIT;
	struct repo_rec rec;
	uint64_t bm[2];
	struct repo *r;
	bool have, blobs;
	int ret = 0;

	r = repo_ref(st, name, err);
	if (!r)
		return -1;
	repo_lock_read(st, r);
	have = get_rec(st, name, &rec, &ignored) == 0;
	blob_dir_mtimes(st, name, bm);
	blobs = !have || bm[0] != rec.blobs_mtime_ns[0] ||
	        bm[1] != rec.blobs_mtime_ns[1];
	if (repo_load(st, r, err) < 0) {
		/* A corrupt index.json: not served, reported by fsck. */
		log_warn("repository '%s' not indexed: %s", name, err->msg);
		*err = ERR_INIT;
		goto out;
	}
	/* repo_load() re-indexed a changed index.json, blobs included. */
	if (r->indexed_now) {
		stats->changed++;
	} else if (blobs) {
		stats->changed++;
		ret = idx_sync_repo(st, r, true, err);
	}
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	return ret;
}

/*
 * Forget repository @name unless it exists again: under its lock, so a
 * push that created it since the walk is not undone.
 */
static int drop_if_gone(struct store *st, const char *name, bool *dropped,
                        struct err *err)
{
	struct err ignored = ERR_INIT;
	struct repo *r;
	int ret = 0;

	*dropped = true;
	/* No request can name it, so none can bring it back. */
	if (ref_name_check(name, &ignored) < 0)
		return drop_repo(st, name, err);
	*dropped = false;
	r = repo_ref(st, name, err);
	if (!r)
		return -1;
	repo_lock_read(st, r);
	if (!repo_has_layout(st, name)) {
		*dropped = true;
		ret = drop_repo(st, name, err);
	}
	repo_unlock(st, r);
	repo_unref(st, r);
	return ret;
}

int idx_repo_gone(struct store *st, const char *name, struct err *err)
{
	bool dropped;

	return drop_if_gone(st, name, &dropped, err);
}

/* The store is closing: a reconcile stops between repositories. */
static int check_stop(struct store *st, struct err *err)
{
	if (__atomic_load_n(&st->rc_stop, __ATOMIC_RELAXED))
		return err_set(err, ERR_BUSY, "reconcile stopped: closing");
	return 0;
}

int idx_reconcile(struct store *st, struct idx_stats *stats, struct err *err)
{
	struct strvec found = {0};
	struct kv_iter *it;
	const char *k, *v;
	size_t klen, vlen;
	int ret = -1;

	*stats = (struct idx_stats){0};
	if (store_walk(st, &found, err) < 0)
		goto out;
	for (size_t i = 0; i < found.n; i++) {
		stats->repos++;
		if (check_stop(st, err) < 0 ||
		    reconcile_repo(st, found.v[i], stats, err) < 0)
			goto out;
	}
	/* Repositories the index knows but the disk no longer has. */
	it = kv_iter_new(st->kv, "R", 1, NULL, 0);
	if (!it) {
		err_set(err, ERR_NOMEM, "cannot reconcile");
		goto out;
	}
	struct strvec gone = {0};
	int rc;
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		char name[REF_NAME_MAX + 1];

		if (klen - 1 > REF_NAME_MAX)
			continue;
		memcpy(name, k + 1, klen - 1);
		name[klen - 1] = '\0';
		if (!store_repo_exists(st, name) &&
		    strvec_push(&gone, name) < 0) {
			rc = err_set(err, ERR_NOMEM, "cannot reconcile");
			break;
		}
	}
	kv_iter_free(it);
	if (rc < 0) {
		strvec_release(&gone);
		goto out;
	}
	for (size_t i = 0; i < gone.n; i++) {
		bool dropped;

		if (check_stop(st, err) < 0 ||
		    drop_if_gone(st, gone.v[i], &dropped, err) < 0) {
			strvec_release(&gone);
			goto out;
		}
		stats->dropped += dropped;
	}
	strvec_release(&gone);
	ret = 0;
out:
	strvec_release(&found);
	return ret;
}

/* Queue what @kv holds in the kept tables (P, D, W) into @b. */
static void keep_tables(struct kv *kv, struct kv_batch *b)
{
	struct err ignored = ERR_INIT;

	for (const char *t = "PDW"; *t; t++) {
		struct kv_iter *it = kv_iter_new(kv, t, 1, NULL, 0);
		const char *k, *v;
		size_t klen, vlen;

		while (it &&
		       kv_iter_next(it, &k, &klen, &v, &vlen, &ignored) > 0)
			kv_batch_put(b, k, klen, v, vlen);
		kv_iter_free(it);
	}
}

int idx_open(struct store *st, bool rebuild, struct err *err)
{
	char dir[PATH_MAX], *v = NULL;
	size_t vlen;
	struct err e2 = ERR_INIT;
	struct kv_batch *b;
	bool existed;
	int ret = -1;

	if (snprintf(dir, sizeof(dir), "%s/index", st->nodedir) >=
	    (int)sizeof(dir))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (!st->srch && !(st->srch = srch_new()))
		return err_set(err, ERR_NOMEM, "cannot index");
	if (!(b = kv_batch_new()))
		return err_set(err, ERR_NOMEM, "cannot index");
	existed = access(dir, F_OK) == 0;
	st->kv = kv_open(dir, &e2);
	if (!rebuild && st->kv && kv_get(st->kv, "V", 1, &v, &vlen, &e2) == 0 &&
	    strcmp(v, SCHEMA) == 0) {
		free(v);
		kv_batch_free(b);
		return srch_load(st, err);
	}
	free(v);
	/* Missing, corrupt or of another schema: rebuild from the layouts. */
	if (!rebuild && existed)
		log_warn("index in '%s' is unusable (%s): rebuilding", dir,
		         e2.msg);
	/* What the layouts cannot tell survives the rebuild. */
	if (st->kv)
		keep_tables(st->kv, b);
	kv_close(st->kv);
	st->kv = NULL;
	if (kv_destroy(dir, err) < 0) {
		if (fs_remove_tree(dir, err) < 0)
			goto out;
	}
	st->kv = kv_open(dir, err);
	if (!st->kv)
		goto out;
	kv_batch_put(b, "V", 1, SCHEMA, strlen(SCHEMA));
	ret = kv_commit(st->kv, b, err);
out:
	kv_batch_free(b);
	return ret;
}

void idx_close(struct store *st)
{
	kv_close(st->kv);
	st->kv = NULL;
	srch_free(st->srch);
	st->srch = NULL;
}

/* Parse a T value into @out. */
static int parse_tag_val(const char *v, size_t vlen, struct manifest_desc *out,
                         struct err *err)
{
	const char *mt = memchr(v, '\0', vlen);
	const char *sz = mt ? memchr(mt + 1, '\0', vlen - (size_t)(mt + 1 - v))
	                    : NULL;

	if (!mt || !sz ||
	    digest_parse(&out->digest, v, (size_t)(mt - v), err) < 0)
		return err_set(err, ERR_INTERNAL, "corrupt tag record");
	snprintf(out->media_type, sizeof(out->media_type), "%s", mt + 1);
	out->size = strtoull(sz + 1, NULL, 10);
	return 0;
}

int idx_tag_get(struct store *st, const char *repo, const char *tag,
                struct manifest_desc *out, struct err *err)
{
	char k[KEY_MAX], *v = NULL;
	size_t vlen;
	int ret;

	if (kv_get(st->kv, k, key(k, 'T', repo, tag, NULL), &v, &vlen, err) <
	    0) {
		if (err->code == ERR_NOT_FOUND)
			err_set(err, ERR_NOT_FOUND, "manifest unknown");
		return -1;
	}
	ret = parse_tag_val(v, vlen, out, err);
	free(v);
	return ret;
}

/* List the last field of keys under @pre (after @last), @n at most. */
static int list_keys(struct store *st, const char *pre, size_t plen,
                     const char *last, size_t n, struct strvec *out,
                     bool *more, struct err *err)
{
	char after[KEY_MAX];
	size_t alen = 0;
	struct kv_iter *it;
	const char *k, *v;
	size_t klen, vlen;
	int rc;

	*more = false;
	if (last) {
		size_t l = strlen(last);

		if (plen + l > sizeof(after))
			return err_set(err, ERR_INVALID, "bad last");
		memcpy(after, pre, plen);
		memcpy(after + plen, last, l);
		alen = plen + l;
	}
	it = kv_iter_new(st->kv, pre, plen, last ? after : NULL, alen);
	if (!it)
		return err_set(err, ERR_NOMEM, "cannot list");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		char item[REF_NAME_MAX + 1];

		if (klen - plen > REF_NAME_MAX)
			continue;
		if (out->n == n) {
			*more = true;
			break;
		}
		memcpy(item, k + plen, klen - plen);
		item[klen - plen] = '\0';
		if (strvec_push(out, item) < 0) {
			kv_iter_free(it);
			return err_set(err, ERR_NOMEM, "cannot list");
		}
	}
	kv_iter_free(it);
	return rc < 0 ? -1 : 0;
}

int idx_tags(struct store *st, const char *repo, const char *last, size_t n,
             struct strvec *out, bool *more, struct err *err)
{
	char pre[KEY_MAX];

	return list_keys(st, pre, prefix(pre, 'T', repo, NULL), last, n, out,
	                 more, err);
}

int idx_catalog(struct store *st, const char *last, size_t n,
                struct strvec *out, bool *more, struct err *err)
{
	return list_keys(st, "R", 1, last, n, out, more, err);
}

int idx_referrers(struct store *st, const char *repo,
                  const struct digest *subject, const char *artifact_type,
                  json_t *list, struct err *err)
{
	char pre[KEY_MAX], subj[DIGEST_STR_MAX];
	struct kv_iter *it;
	const char *k, *v;
	size_t klen, vlen, plen;
	int rc;

	digest_format(subject, subj);
	plen = prefix(pre, 'F', repo, subj);
	it = kv_iter_new(st->kv, pre, plen, NULL, 0);
	if (!it)
		return err_set(err, ERR_NOMEM, "cannot list referrers");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		json_t *desc = json_loadb(v, vlen, 0, NULL);
		const char *at = json_string_value(
			json_object_get(desc, "artifactType"));

		if (!desc)
			continue;
		if (artifact_type && (!at || strcmp(at, artifact_type) != 0)) {
			json_decref(desc);
			continue;
		}
		json_array_append_new(list, desc);
	}
	kv_iter_free(it);
	return rc < 0 ? -1 : 0;
}

int idx_blob_holders(struct store *st, const struct digest *d, size_t max,
                     struct strvec *out, struct err *err)
{
	char pre[KEY_MAX], dstr[DIGEST_STR_MAX];
	struct kv_iter *it;
	const char *k, *v;
	size_t klen, vlen, plen;
	int rc = 0;

	digest_format(d, dstr);
	plen = prefix(pre, 'L', dstr, NULL);
	it = kv_iter_new(st->kv, pre, plen, NULL, 0);
	if (!it)
		return err_set(err, ERR_NOMEM, "cannot list holders");
	while (out->n < max &&
	       (rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		char name[REF_NAME_MAX + 1];

		if (klen - plen > REF_NAME_MAX)
			continue;
		memcpy(name, k + plen, klen - plen);
		name[klen - plen] = '\0';
		if (strvec_push(out, name) < 0) {
			rc = err_set(err, ERR_NOMEM, "cannot list holders");
			break;
		}
	}
	if (out->n >= max)
		rc = 0;
	kv_iter_free(it);
	return rc < 0 ? -1 : 0;
}
/* ---- search's reads, and the kept tables -------------------------------- */

/*
 * The value of <table><repo>\0<dstr> (a new buffer, free()), checking
 * the lengths first: ERR_NOT_FOUND for names no key can hold, and as
 * kv_get().
 */
static int get_repo_digest(struct store *st, char table, const char *repo,
                           const char *dstr, char **v, size_t *vlen,
                           struct err *err)
{
	char k[KEY_MAX];

	if (strlen(repo) > REF_NAME_MAX || strlen(dstr) >= DIGEST_STR_MAX)
		return err_set(err, ERR_NOT_FOUND, "manifest unknown");
	return kv_get(st->kv, k, key(k, table, repo, dstr, NULL), v, vlen,
	              err);
}

int store_search_manifest(struct store *st, const char *repo, const char *dstr,
                          char **text, size_t *len, struct err *err)
{
	return get_repo_digest(st, 'S', repo, dstr, text, len, err);
}

/* Parse "<a>\0<b>" (the values of D and W). */
static void two_fields(const char *v, size_t vlen, uint64_t *a, const char **b)
{
	const char *nul = memchr(v, '\0', vlen);

	*a = strtoull(v, NULL, 10);
	*b = nul ? nul + 1 : NULL;
}

void store_pulls_get(struct store *st, const char *repo, const char *dstr,
                     uint64_t *count, uint64_t *last_ms)
{
	struct err ignored = ERR_INIT;
	char *v = NULL;
	const char *last;
	size_t vlen;

	*count = *last_ms = 0;
	if (get_repo_digest(st, 'D', repo, dstr, &v, &vlen, &ignored) < 0)
		return;
	two_fields(v, vlen, count, &last);
	if (last)
		*last_ms = strtoull(last, NULL, 10);
	free(v);
}

uint64_t store_pulls_repo(struct store *st, const char *repo)
{
	struct err ignored = ERR_INIT;
	char pre[KEY_MAX];
	struct kv_iter *it;
	const char *k, *v;
	size_t klen, vlen;
	uint64_t total = 0;

	if (strlen(repo) > REF_NAME_MAX)
		return 0;
	it = kv_iter_new(st->kv, pre, prefix(pre, 'D', repo, NULL), NULL, 0);
	if (!it)
		return 0;
	while (kv_iter_next(it, &k, &klen, &v, &vlen, &ignored) > 0)
		total += strtoull(v, NULL, 10);
	kv_iter_free(it);
	return total;
}

bool idx_has_manifest(struct store *st, const char *repo, const char *dstr)
{
	struct err ignored = ERR_INIT;
	char *v = NULL;
	size_t vlen;

	if (get_repo_digest(st, 'S', repo, dstr, &v, &vlen, &ignored) < 0)
		return false;
	free(v);
	return true;
}

int store_pulls_add(struct store *st, const struct store_pull *p, size_t n,
                    struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	struct store_pull *kept = calloc(n ? n : 1, sizeof(*kept));
	size_t m = 0;
	int ret;

	if (!b || !kept) {
		kv_batch_free(b);
		free(kept);
		return err_set(err, ERR_NOMEM, "cannot count pulls");
	}
	/*
	 * Under the lock that srch_commit() holds while it removes a
	 * manifest's records: pulls of a manifest deleted since they were
	 * noted are dropped, or its count would come back with no S entry
	 * to take it away again.
	 */
	pthread_mutex_lock(&st->srch->pull_lock);
	for (size_t i = 0; i < n; i++) {
		char k[KEY_MAX], val[48];
		uint64_t count, last;
		int len;

		if (!idx_has_manifest(st, p[i].repo, p[i].digest))
			continue;
		store_pulls_get(st, p[i].repo, p[i].digest, &count, &last);
		len = snprintf(val, sizeof(val), "%" PRIu64 "%c%" PRIu64,
		               count + p[i].count, 0, p[i].last_ms);
		kv_batch_put(b, k, key(k, 'D', p[i].repo, p[i].digest, NULL),
		             val, (size_t)len);
		kept[m++] = p[i];
	}
	ret = kv_commit(st->kv, b, err);
	if (ret == 0)
		srch_pulls(st->srch, kept, m);
	pthread_mutex_unlock(&st->srch->pull_lock);
	kv_batch_free(b);
	free(kept);
	return ret;
}

int idx_pushed(struct store *st, const char *repo, const struct digest *d,
               const char *user, struct err *err)
{
	char k[KEY_MAX], dstr[DIGEST_STR_MAX], val[48 + 256], *old = NULL;
	struct err e2 = ERR_INIT;
	struct kv_batch *b;
	size_t klen, olen;
	int len, ret;

	digest_format(d, dstr);
	klen = key(k, 'W', repo, dstr, NULL);
	/* The first push is the one shown, as zot keeps it. */
	if (kv_get(st->kv, k, klen, &old, &olen, &e2) == 0) {
		free(old);
		return 0;
	}
	len = snprintf(val, sizeof(val), "%" PRIu64 "%c%s", clock_wall_ms(), 0,
	               user ? user : "");
	if (len < 0 || (size_t)len >= sizeof(val))
		return err_set(err, ERR_TOO_LARGE, "user name too long");
	if (!(b = kv_batch_new()))
		return err_set(err, ERR_NOMEM, "cannot index");
	kv_batch_put(b, k, klen, val, (size_t)len);
	ret = kv_commit(st->kv, b, err);
	kv_batch_free(b);
	return ret;
}

int store_pushed_get(struct store *st, const char *repo, const char *dstr,
                     uint64_t *ms, char *user, size_t usz)
{
	struct err ignored = ERR_INIT;
	char *v = NULL;
	const char *who;
	size_t vlen;

	if (get_repo_digest(st, 'W', repo, dstr, &v, &vlen, &ignored) < 0)
		return -1;
	two_fields(v, vlen, ms, &who);
	snprintf(user, usz, "%s", who ? who : "");
	free(v);
	return 0;
}

/* ---- search's repository records, in memory ------------------------------ */

/* Where @name is, or goes, in srch->v; *found says which. */
static size_t srch_find(const struct srch *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid]->name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A record for @name from its N record @nrec (NULL: out of memory). */
static struct srec *srec_new(const char *name, json_t *nrec)
{
	json_t *plats = json_object_get(nrec, "plats"), *p;
	size_t nl = strlen(name) + 1, pl = 0, i;
	struct srec *r;
	char *w;

	json_array_foreach(plats, i, p) pl += strlen(member(p, "Os")) +
	                                      strlen(member(p, "Arch")) + 2;
	r = malloc(sizeof(*r) + nl + pl);
	if (!r)
		return NULL;
	r->t = json_integer_value(json_object_get(nrec, "t"));
	r->pulls = 0;
	r->is_signed = json_is_true(json_object_get(nrec, "signed"));
	r->nplats = (uint32_t)json_array_size(plats);
	memcpy(r->name, name, nl);
	w = r->plats = r->name + nl;
	json_array_foreach(plats, i, p)
	{
		for (int f = 0; f < 2; f++) {
			const char *v = member(p, f ? "Arch" : "Os");
			size_t l = strlen(v) + 1;

			memcpy(w, v, l);
			w += l;
		}
	}
	return r;
}

/* Put @r in place of @name's record (@r NULL: none); frees the old one. */
static void srch_set(struct srch *s, const char *name, struct srec *r)
{
	struct srec *old = NULL;
	bool found;
	size_t at;

	pthread_rwlock_wrlock(&s->lock);
	at = srch_find(s, name, &found);
	if (found) {
		old = s->v[at];
		if (r) {
			s->v[at] = r;
		} else {
			memmove(s->v + at, s->v + at + 1,
			        (s->n - at - 1) * sizeof(*s->v));
			s->n--;
		}
	} else if (r) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 64;
			struct srec **v = realloc(s->v, cap * sizeof(*v));

			if (!v) {
				pthread_rwlock_unlock(&s->lock);
				log_warn("repository '%s' not searchable: out "
				         "of memory",
				         name);
				free(r);
				return;
			}
			s->v = v;
			s->cap = cap;
		}
		memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
		s->v[at] = r;
		s->n++;
	}
	pthread_rwlock_unlock(&s->lock);
	free(old);
}

/*
 * Commit @b, which writes @name's N record @nrec (NULL: removes it), and
 * make the record in memory match: its pulls counted again from the D
 * table as committed.
 */
static int srch_commit(struct store *st, struct kv_batch *b, const char *name,
                       json_t *nrec, struct err *err)
{
	struct srch *s = st->srch;
	struct srec *r = NULL;
	int ret;

	pthread_mutex_lock(&s->pull_lock);
	ret = kv_commit(st->kv, b, err);
	if (ret == 0) {
		if (nrec && !(r = srec_new(name, nrec)))
			log_warn("repository '%s' not searchable: out of memory",
			         name);
		if (r)
			r->pulls = store_pulls_repo(st, name);
		srch_set(s, name, r);
	}
	pthread_mutex_unlock(&s->pull_lock);
	return ret;
}

/* Load the records from the N and D tables (an index just opened). */
static int srch_load(struct store *st, struct err *err)
{
	struct srch *s = st->srch;
	struct kv_iter *it = kv_iter_new(st->kv, "N", 1, NULL, 0);
	const char *k, *v;
	size_t klen, vlen;
	int rc;

	if (!it)
		return err_set(err, ERR_NOMEM, "cannot load search records");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		char name[REF_NAME_MAX + 1];
		json_t *nrec;
		struct srec *r;

		if (klen - 1 > REF_NAME_MAX)
			continue;
		memcpy(name, k + 1, klen - 1);
		name[klen - 1] = '\0';
		nrec = json_loadb(v, vlen, 0, NULL);
		r = json_is_object(nrec) ? srec_new(name, nrec) : NULL;
		json_decref(nrec);
		if (r)
			srch_set(s, name, r); /* in name order: appended */
	}
	kv_iter_free(it);
	if (rc < 0)
		return -1;
	it = kv_iter_new(st->kv, "D", 1, NULL, 0);
	if (!it)
		return err_set(err, ERR_NOMEM, "cannot load search records");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		const char *nul = memchr(k + 1, '\0', klen - 1);
		char name[REF_NAME_MAX + 1], num[24];
		size_t nl = nul ? (size_t)(nul - k - 1) : 0;
		bool found;
		size_t at;

		if (!nul || nl > REF_NAME_MAX)
			continue;
		memcpy(name, k + 1, nl);
		name[nl] = '\0';
		at = srch_find(s, name, &found);
		if (!found)
			continue;
		nl = vlen < sizeof(num) ? vlen : sizeof(num) - 1;
		memcpy(num, v, nl);
		num[nl] = '\0';
		s->v[at]->pulls += strtoull(num, NULL, 10);
	}
	kv_iter_free(it);
	return rc < 0 ? -1 : 0;
}

/* Count @n pulls just written into the records. */
static void srch_pulls(struct srch *s, const struct store_pull *p, size_t n)
{
	pthread_rwlock_wrlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		bool found;
		size_t at = srch_find(s, p[i].repo, &found);

		if (found)
			s->v[at]->pulls += p[i].count;
	}
	pthread_rwlock_unlock(&s->lock);
}

static struct srch *srch_new(void)
{
	struct srch *s = calloc(1, sizeof(*s));
	pthread_rwlockattr_t attr;

	if (!s)
		return NULL;
	/*
	 * Writers first: a search walks every record under the read lock,
	 * and with overlapping searches glibc's default (readers first)
	 * could keep a push's srch_commit() waiting, pull_lock held, for
	 * as long as searches keep coming. No thread takes the read lock
	 * twice, which writers first would deadlock.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
	                              PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&s->pull_lock, NULL);
	return s;
}

static void srch_free(struct srch *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->pull_lock);
	free(s);
}

int store_search_repos(struct store *st,
                       int (*fn)(const struct store_srepo *rec, void *arg),
                       void *arg, struct err *err)
{
	struct srch *s = st->srch;
	int ret = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct srec *r = s->v[i];
		struct store_srepo view = {.name = r->name,
		                           .t = r->t,
		                           .pulls = r->pulls,
		                           .is_signed = r->is_signed,
		                           .nplats = r->nplats,
		                           .plats = r->plats};

		if (fn(&view, arg) < 0) {
			ret = err_set(err, ERR_NOMEM, "out of memory");
			break;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

int store_search_repo(struct store *st, const char *repo, json_t **rec,
                      struct err *err)
{
	char k[KEY_MAX], *v = NULL;
	size_t vlen;

	if (strlen(repo) > REF_NAME_MAX)
		return err_set(err, ERR_NOT_FOUND, "repository unknown");
	if (kv_get(st->kv, k, key(k, 'N', repo, NULL, NULL), &v, &vlen, err) <
	    0)
		return -1;
	*rec = json_loadb(v, vlen, 0, NULL);
	free(v);
	if (!json_is_object(*rec)) {
		json_decref(*rec);
		*rec = NULL;
		return err_set(err, ERR_NOT_FOUND, "repository unknown");
	}
	return 0;
}

/* Add @repo's T entries to @tags (tag -> digest string). */
static int tags_of(struct store *st, const char *repo, json_t *tags,
                   struct err *err)
{
	char pre[KEY_MAX];
	size_t plen = prefix(pre, 'T', repo, NULL), klen, vlen;
	struct kv_iter *it = kv_iter_new(st->kv, pre, plen, NULL, 0);
	const char *k, *v;
	int rc;

	if (!it)
		return err_set(err, ERR_NOMEM, "cannot list tags");
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) > 0) {
		struct err ignored = ERR_INIT;
		char tag[REF_NAME_MAX + 1], dstr[DIGEST_STR_MAX];
		struct manifest_desc desc;

		if (klen - plen > REF_NAME_MAX ||
		    parse_tag_val(v, vlen, &desc, &ignored) < 0)
			continue;
		memcpy(tag, k + plen, klen - plen);
		tag[klen - plen] = '\0';
		digest_format(&desc.digest, dstr);
		if (json_object_set_new(tags, tag, json_string(dstr)) < 0) {
			rc = err_set(err, ERR_NOMEM, "cannot list tags");
			break;
		}
	}
	kv_iter_free(it);
	return rc < 0 ? -1 : 0;
}

int store_search_tags(struct store *st, const char *repo, json_t **tags,
                      struct err *err)
{
	struct repo *r = repo_ref(st, repo, err);
	int ret = -1;

	if (!r)
		return -1;
	if (!(*tags = json_object())) {
		repo_unref(st, r);
		return err_set(err, ERR_NOMEM, "cannot list tags");
	}
	repo_lock_read(st, r);
	if (repo_load(st, r, err) == 0 && tags_of(st, repo, *tags, err) == 0)
		ret = 0;
	repo_unlock(st, r);
	repo_unref(st, r);
	if (ret < 0) {
		json_decref(*tags);
		*tags = NULL;
	}
	return ret;
}

int store_search_referrers(struct store *st, const char *repo,
                           const char *dstr, json_t *list, struct err *err)
{
	struct digest d;

	if (strlen(repo) > REF_NAME_MAX ||
	    digest_parse(&d, dstr, strlen(dstr), err) < 0)
		return err_set(err, ERR_INVALID, "bad digest");
	return idx_referrers(st, repo, &d, NULL, list, err);
}
