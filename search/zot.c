/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zot.c - the resolvers of zot's search API: images, repositories and
 * referrers built from the store as zot's convert package builds them
 * (pkg/extensions/search/convert), then filtered, sorted and paged as
 * zot's pagination package does.
 *
 * Every answer is a plain JSON value whose members are the schema's
 * fields; members starting with '_' are ours (sort keys, layer lists)
 * and no field reads them. What a manifest says, and what a repository
 * is ranked by, are read from the index (store_search_manifest(),
 * store_search_repos()), so a search reads no file. Pulls are counted in
 * zsearch.pulls (under zsearch.lock) and written to the index in batches.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/access.h"
#include "daemon/clock.h"
#include "daemon/hmap.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "index/store.h"
#include "search/userprefs.h"
#include "search/zot.h"
#include "search/zot_int.h"

#define ZS_BATCH_DEFAULT 1024 /* pulls counted before they are written */
#define ZS_FLUSH_MS      5000 /* ... or when the oldest is this old */
#define ZS_PAGE          1000 /* names asked of the store at once */

#define MT_COSIGN_SIG   "application/vnd.dev.cosign.artifact.sig.v1+json"
#define MT_NOTATION_SIG "application/vnd.cncf.notary.signature"

struct zsearch {
	struct store *st;          /* what is searched */
	struct gql_schema *schema; /* zot's */
	pthread_mutex_t lock;      /* protects pulls, pending, since_ms */
	struct hmap *pulls; /* "repo@digest" -> struct pulls, unwritten */
	size_t pending;     /* pulls counted in it */
	size_t batch;       /* pending pulls before they are written */
	uint64_t since_ms;  /* when the oldest unwritten one came */
	struct userprefs *prefs; /* stars and bookmarks, or NULL */
};

/* The pulls of one manifest of one repository. */
struct pulls {
	uint64_t count;   /* GETs answered 200 */
	uint64_t last_ms; /* the last one, ms since the epoch */
};

/* One request: what every resolver gets as gql_call.ctx. */
struct zreq {
	struct zsearch *zs;            /* the API */
	const struct zsearch_who *who; /* the caller */
};

/* A repository as one request sees it. */
struct zrepo {
	const char *name; /* its name (borrowed) */
	json_t *tags;     /* tag -> digest string, every tag */
};

static struct zreq *req_of(const struct gql_call *call)
{
	return call->ctx;
}

static bool may(const struct zreq *zr, const char *repo, unsigned action)
{
	return !zr->who || !zr->who->may ||
	       zr->who->may(zr->who->arg, repo, action);
}

static json_t *nomem(struct err *err)
{
	err_set(err, ERR_NOMEM, "out of memory");
	return NULL;
}

/* Set @key of @o to @v (stolen); false when out of memory. */
static bool put(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

static json_t *size_str(uint64_t n)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, n);
	return json_string(buf);
}

/* A size as text or a number; 0 for anything else, or below 0. */
static uint64_t size_of(json_t *v)
{
	const char *s = json_string_value(v);

	if (s)
		return strtoull(s, NULL, 10);
	return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* A string member of @o, or "". */
static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* ---- reading the store ------------------------------------------------ */

/* A new reference to @v if it is an object, else to a new empty one. */
static json_t *object_or_empty(json_t *v)
{
	return json_is_object(v) ? json_incref(v) : json_object();
}

/* zot's HistoryDescription of config history entry @h. */
static json_t *history_desc(json_t *h)
{
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:b}", "Created",
	                 json_object_get(h, "created"), "CreatedBy",
	                 json_object_get(h, "created_by"), "Author",
	                 json_object_get(h, "author"), "Comment",
	                 json_object_get(h, "comment"), "EmptyLayer",
	                 json_is_true(json_object_get(h, "empty_layer")));
}

/* zot's layer history: each history entry with the layer it made. */
static json_t *layer_history(json_t *layers, json_t *history)
{
	json_t *out = json_array(), *h, *l;
	size_t i, li = 0;

	if (!out)
		return NULL;
	if (!json_array_size(history)) {
		json_array_foreach(layers, i, l)
		{
			if (json_array_append_new(
				    out, json_pack("{s:O, s:n}", "Layer", l,
			                           "HistoryDescription")) < 0)
				goto fail;
		}
		return out;
	}
	json_array_foreach(history, i, h)
	{
		json_t *desc = history_desc(h), *e;

		if (json_is_true(json_object_get(h, "empty_layer")) ||
		    li >= json_array_size(layers))
			e = json_pack("{s:n, s:o?}", "Layer",
			              "HistoryDescription", desc);
		else
			e = json_pack("{s:O, s:o?}", "Layer",
			              json_array_get(layers, li++),
			              "HistoryDescription", desc);
		if (json_array_append_new(out, e) < 0)
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* What an image manifest says (@rec its record in the index). */
static json_t *image_info(json_t *rec, const char *dstr)
{
	json_t *m = json_object_get(rec, "m"), *cfg = json_object_get(rec, "c");
	const char *mt = str_of(rec, "mt");
	uint64_t msize = size_of(json_object_get(rec, "size"));
	json_t *cfgd = json_object_get(m, "config"), *layers, *ldig, *l;
	const char *cdig = json_string_value(json_object_get(cfgd, "digest"));
	const char *at = json_string_value(json_object_get(m, "artifactType"));
	uint64_t csize = size_of(json_object_get(cfgd, "size"));
	uint64_t total = msize + csize;
	json_t *info = NULL, *blobs, *labels, *hist, *created;
	size_t i;

	layers = json_array();
	ldig = json_array();
	blobs = json_object();
	if (!layers || !ldig || !blobs)
		goto out;
	json_object_set_new(blobs, dstr, json_integer((json_int_t)msize));
	if (cdig)
		json_object_set_new(blobs, cdig,
		                    json_integer((json_int_t)csize));
	json_array_foreach(json_object_get(m, "layers"), i, l)
	{
		json_t *ld = json_object_get(l, "digest");
		uint64_t sz = size_of(json_object_get(l, "size"));

		if (!json_is_string(ld))
			ld = NULL; /* a digest is text, or none */

		total += sz;
		if (json_array_append_new(layers,
		                          json_pack("{s:o, s:O?}", "Size",
		                                    size_str(sz), "Digest",
		                                    ld)) < 0 ||
		    json_array_append(ldig, ld ? ld : json_null()) < 0)
			goto out;
		if (json_is_string(ld))
			json_object_set_new(blobs, json_string_value(ld),
			                    json_integer((json_int_t)sz));
	}
	if (!at)
		at = json_string_value(json_object_get(cfgd, "mediaType"));
	labels = json_object_get(json_object_get(cfg, "config"), "Labels");
	created = json_object_get(cfg, "created");
	hist = layer_history(layers, json_object_get(cfg, "history"));
	info = json_pack(
		"{s:s, s:s, s:s, s:s?, s:o, s:I, s:o, s:o, s:o?, s:O?, s:s?,"
		" s:o, s:o, s:o}",
		"kind", "image", "MediaType", mt, "Digest", dstr,
		"ConfigDigest", cdig, "Size", size_str(total), "_size",
		(json_int_t)total, "Layers", layers, "_layers", ldig, "History",
		hist, "LastUpdated", json_is_string(created) ? created : NULL,
		"ArtifactType", at, "_annotations",
		object_or_empty(json_object_get(m, "annotations")), "_labels",
		object_or_empty(labels), "_blobs", blobs);
	layers = ldig = blobs = NULL; /* taken, or freed by the failure */
	if (info && (json_object_set(info, "Platform",
	                             json_object_get(rec, "plat")
	                                     ? json_object_get(rec, "plat")
	                                     : json_null()) < 0 ||
	             json_object_set(info, "_mtime",
	                             json_object_get(rec, "mtime")) < 0)) {
		json_decref(info);
		info = NULL;
	}
out:
	json_decref(layers);
	json_decref(ldig);
	json_decref(blobs);
	return info;
}

/* What an index says (@rec): its image manifests, its annotations. */
static json_t *index_info(json_t *rec, const char *dstr)
{
	json_t *m = json_object_get(rec, "m");
	json_t *kids = json_object_get(rec, "kids");

	return json_pack("{s:s, s:s, s:s, s:O, s:O, s:O?, s:o, s:O}", "kind",
	                 "index", "MediaType", str_of(rec, "mt"), "Digest",
	                 dstr, "_msize", json_object_get(rec, "size"),
	                 "_children", kids ? kids : json_null(), "ArtifactType",
	                 json_object_get(m, "artifactType"), "_annotations",
	                 object_or_empty(json_object_get(m, "annotations")),
	                 "_mtime", json_object_get(rec, "mtime"));
}

/*
 * What manifest @dstr of @repo says (image_info() or index_info()) from
 * its summary in the index, a new reference the caller owns; NULL when
 * the index has none (gone since it was listed, say).
 */
static json_t *manifest_info(struct zsearch *zs, const char *repo,
                             const char *dstr)
{
	struct err err = ERR_INIT;
	json_t *info = NULL, *rec;
	char *text = NULL;
	size_t len;

	if (!dstr ||
	    store_search_manifest(zs->st, repo, dstr, &text, &len, &err) < 0)
		return NULL;
	rec = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(rec))
		goto out;
	if (json_object_get(rec, "kids"))
		info = index_info(rec, dstr);
	else
		info = image_info(rec, dstr);
out:
	json_decref(rec);
	return info;
}

/* ---- referrers, signatures, pulls --------------------------------------- */

/* zot's Referrer of descriptor @d. */
static json_t *referrer_json(json_t *d)
{
	json_t *anns = json_array(), *v, *r;
	const char *k;

	if (!anns)
		return NULL;
	json_object_foreach(json_object_get(d, "annotations"), k, v)
	{
		if (json_array_append_new(anns, json_pack("{s:s, s:O}", "Key",
		                                          k, "Value", v)) < 0) {
			json_decref(anns);
			return NULL;
		}
	}
	r = json_pack("{s:O?, s:O?, s:O?, s:O?, s:o}", "MediaType",
	              json_object_get(d, "mediaType"), "ArtifactType",
	              json_object_get(d, "artifactType"), "Size",
	              json_object_get(d, "size"), "Digest",
	              json_object_get(d, "digest"), "Annotations", anns);
	return r;
}

/*
 * The referrers of @dstr in @repo as index descriptors (a new array),
 * for a request that loaded @repo already (repo_load_tags()).
 */
static json_t *loaded_referrers(struct zsearch *zs, const char *repo,
                                const char *dstr)
{
	struct err err = ERR_INIT;
	json_t *list = json_array();

	if (list && store_search_referrers(zs->st, repo, dstr, list, &err) < 0) {
		json_decref(list);
		return json_array();
	}
	return list;
}

/* The referrers of @dstr in @repo as index descriptors (a new array). */
static json_t *referrer_descs(struct zsearch *zs, const char *repo,
                              const char *dstr)
{
	struct err err = ERR_INIT;
	struct digest d;
	json_t *list, *out;
	char *text = NULL;
	size_t len;

	if (digest_parse(&d, dstr, strlen(dstr), &err) < 0 ||
	    store_referrers(zs->st, repo, &d, NULL, &text, &len, &err) < 0)
		return json_array();
	list = json_loadb(text, len, 0, NULL);
	free(text);
	out = json_incref(json_object_get(list, "manifests"));
	json_decref(list);
	return json_is_array(out) ? out : json_array();
}

/*
 * Set Referrers, IsSigned and SignatureInfo of @o for manifest @dstr of
 * @rp: signatures are cosign's tag (sha256-<hex>.sig) and referrers of
 * cosign's or notation's artifact type, as zot finds them.
 */
static bool set_refs(struct zsearch *zs, const struct zrepo *rp,
                     const char *dstr, json_t *o)
{
	json_t *descs = loaded_referrers(zs, rp->name, dstr), *d;
	json_t *refs = json_array(), *sigs = json_array();
	char tag[DIGEST_STR_MAX + 8];
	bool ok = false;
	size_t i;

	if (!descs || !refs || !sigs)
		goto out;
	snprintf(tag, sizeof(tag), "%s.sig", dstr);
	if (strncmp(tag, "sha256:", 7) == 0)
		tag[6] = '-';
	if (json_object_get(rp->tags, tag) &&
	    json_array_append_new(sigs,
	                          json_pack("{s:s, s:b, s:s}", "Tool", "cosign",
	                                    "IsTrusted", 0, "Author", "")) < 0)
		goto out;
	json_array_foreach(descs, i, d)
	{
		const char *at = str_of(d, "artifactType");
		const char *tool = !strcmp(at, MT_COSIGN_SIG)     ? "cosign"
		                   : !strcmp(at, MT_NOTATION_SIG) ? "notation"
		                                                  : NULL;

		if (json_array_append_new(refs, referrer_json(d)) < 0)
			goto out;
		if (tool &&
		    json_array_append_new(
			    sigs, json_pack("{s:s, s:b, s:s}", "Tool", tool,
		                            "IsTrusted", 0, "Author", "")) < 0)
			goto out;
	}
	ok = put(o, "IsSigned", json_boolean(json_array_size(sigs) > 0)) &&
	     put(o, "SignatureInfo", json_incref(sigs)) &&
	     put(o, "Referrers", json_incref(refs));
out:
	json_decref(descs);
	json_decref(refs);
	json_decref(sigs);
	return ok;
}

/* @ms since the epoch as RFC 3339 text (to the second, UTC). */
static json_t *time_json(uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* The pulls of @dstr in @repo: those in the index and those in memory. */
static struct pulls pulls_of(struct zsearch *zs, const char *repo,
                             const char *dstr)
{
	char key[1024];
	struct pulls p = {0};
	struct pulls *hit;

	store_pulls_get(zs->st, repo, dstr, &p.count, &p.last_ms);
	snprintf(key, sizeof(key), "%s@%s", repo, dstr);
	pthread_mutex_lock(&zs->lock);
	hit = hmap_get(zs->pulls, key);
	if (hit) {
		p.count += hit->count;
		p.last_ms = hit->last_ms;
	}
	pthread_mutex_unlock(&zs->lock);
	return p;
}

/* Set DownloadCount (and LastPullTimestamp) of @o from the pulls. */
static bool set_pulls(struct zsearch *zs, const char *repo, const char *dstr,
                      json_t *o, bool last)
{
	struct pulls p = pulls_of(zs, repo, dstr);

	if (!put(o, "DownloadCount", json_integer((json_int_t)p.count)))
		return false;
	if (!last)
		return true;
	return put(o, "LastPullTimestamp",
	           p.count ? time_json(p.last_ms) : json_null());
}

/* What write_pulls() gathers. */
struct pull_list {
	struct store_pull *v;
	size_t n;
};

/* "repo@digest": a copy split at the '@' that ends the name. */
static int gather_pull(const char *key, void *val, void *arg)
{
	struct pull_list *l = arg;
	const struct pulls *p = val;
	char *repo = strdup(key), *at = repo ? strrchr(repo, '@') : NULL;

	if (!at) {
		free(repo);
		return -1;
	}
	*at = '\0';
	l->v[l->n++] = (struct store_pull){.repo = repo,
	                                   .digest = at + 1,
	                                   .count = p->count,
	                                   .last_ms = p->last_ms};
	return 0;
}

/*
 * Write the pulls counted in memory to the index, in one batch (caller
 * holds zs->lock). Kept for the next try when the write fails.
 */
static int write_pulls(struct zsearch *zs, struct err *err)
{
	struct pull_list l = {0};
	struct hmap *fresh;
	size_t n = hmap_count(zs->pulls);
	int ret = -1;

	if (!n)
		return 0;
	fresh = hmap_new();
	l.v = calloc(n, sizeof(*l.v));
	if (!fresh || !l.v) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (hmap_each(zs->pulls, gather_pull, &l) != 0) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (store_pulls_add(zs->st, l.v, l.n, err) < 0)
		goto out;
	hmap_free_with(zs->pulls, free);
	zs->pulls = fresh;
	fresh = NULL;
	zs->pending = 0;
	ret = 0;
out:
	for (size_t i = 0; l.v && i < l.n; i++)
		free((char *)l.v[i].repo);
	free(l.v);
	if (fresh)
		hmap_free(fresh);
	return ret;
}

void zsearch_pulled(struct zsearch *zs, const char *repo,
                    const struct digest *d)
{
	char key[1024], dstr[DIGEST_STR_MAX];
	uint64_t now = clock_wall_ms();
	struct pulls *p;

	if (!zs)
		return;
	digest_format(d, dstr);
	snprintf(key, sizeof(key), "%s@%s", repo, dstr);
	pthread_mutex_lock(&zs->lock);
	p = hmap_get(zs->pulls, key);
	if (!p && (p = calloc(1, sizeof(*p))) &&
	    hmap_put(zs->pulls, key, p) < 0) {
		free(p);
		p = NULL;
	}
	if (p) {
		if (!zs->pending++)
			zs->since_ms = now;
		p->count++;
		p->last_ms = now;
	}
	if (zs->pending >= zs->batch || now - zs->since_ms >= ZS_FLUSH_MS) {
		struct err err = ERR_INIT;

		if (write_pulls(zs, &err) < 0)
			log_warn("pull counts not written: %s", err.msg);
	}
	pthread_mutex_unlock(&zs->lock);
}

/* ---- images ------------------------------------------------------------- */

/*
 * Load @name's tags into @rp (release with repo_release()): its layout
 * loaded once, each tag with its digest.
 */
static int repo_load_tags(struct zsearch *zs, const char *name,
                          struct zrepo *rp, struct err *err)
{
	rp->name = name;
	return store_search_tags(zs->st, name, &rp->tags, err);
}

static void repo_release(struct zrepo *rp)
{
	json_decref(rp->tags);
	rp->tags = NULL;
}

/* zot's value of an annotation, or of its label-schema name. */
static const char *ann_value(json_t *map, const char *oci, const char *ls)
{
	const char *v = str_of(map, oci);

	return *v || !ls ? v : str_of(map, ls);
}

static const struct {
	const char *field, *oci, *ls;
} ann_fields[] = {
	{"Description", "org.opencontainers.image.description",
         "org.label-schema.description"},
	{"Licenses", "org.opencontainers.image.licenses",
         "org.label-schema.license"},
	{"Title", "org.opencontainers.image.title", "org.label-schema.name"},
	{"Documentation", "org.opencontainers.image.documentation",
         "org.label-schema.usage"},
	{"Source", "org.opencontainers.image.source",
         "org.label-schema.vcs-url"},
	{"Vendor", "org.opencontainers.image.vendor",
         "org.label-schema.vendor"},
	{"Authors", "org.opencontainers.image.authors", NULL},
	{"Labels", "org.label-schema.labels", NULL},
};

/*
 * The annotation fields of @o from @info's annotations, then its labels
 * (zot's GetAnnotations); fields @o has already (non-empty) are kept.
 */
static bool set_annotations(json_t *o, json_t *info)
{
	json_t *ann = json_object_get(info, "_annotations");
	json_t *labels = json_object_get(info, "_labels");

	for (size_t i = 0; i < sizeof(ann_fields) / sizeof(ann_fields[0]);
	     i++) {
		const char *v;

		if (*str_of(o, ann_fields[i].field))
			continue;
		v = ann_value(ann, ann_fields[i].oci, ann_fields[i].ls);
		if (!*v)
			v = ann_value(labels, ann_fields[i].oci,
			              ann_fields[i].ls);
		if (!put(o, ann_fields[i].field, json_string(v)))
			return false;
	}
	return true;
}

/* The ManifestSummary of image manifest @info in @rp (a new object). */
static json_t *manifest_summary(struct zsearch *zs, const struct zrepo *rp,
                                json_t *info)
{
	static const char *const keep[] = {
		"Digest",   "ConfigDigest", "LastUpdated", "Size",
		"Platform", "Layers",       "History",     "ArtifactType",
		"_layers",  "_size",        "_blobs"};
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(info, keep[i]);

		if (json_object_set(o, keep[i], v ? v : json_null()) < 0)
			goto fail;
	}
	if (!put(o, "Vulnerabilities", json_null()) ||
	    !set_refs(zs, rp, str_of(info, "Digest"), o) ||
	    !set_pulls(zs, rp->name, str_of(info, "Digest"), o, false))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Add the platform of manifest summary @m to @list, once. */
static bool add_platform(json_t *list, json_t *m)
{
	json_t *p = json_object_get(m, "Platform"), *q;
	size_t i;

	if (!json_is_object(p))
		return true;
	json_array_foreach(list, i, q)
	{
		if (json_equal(p, q))
			return true;
	}
	return json_array_append(list, p) == 0;
}

/*
 * Referrers, IsSigned and SignatureInfo of image summary @o: an image
 * manifest's are its manifest summary's (the first of @mans), read once.
 */
static bool same_refs(json_t *o, json_t *info, json_t *mans, struct zsearch *zs,
                      const struct zrepo *rp, const char *dstr)
{
	static const char *const keys[] = {"Referrers", "IsSigned",
	                                   "SignatureInfo"};
	json_t *m = json_array_get(mans, 0);

	if (!strcmp(str_of(info, "kind"), "index") || !m)
		return set_refs(zs, rp, dstr, o);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_set(o, keys[i], json_object_get(m, keys[i])) <
		    0)
			return false;
	return true;
}

/*
 * PushTimestamp and PushedBy of @o, image @dstr of @repo (@info): as
 * recorded at its push, else its file's time and no one (published
 * through the mount, or pushed before dray kept them).
 */
static bool set_pushed(struct zsearch *zs, const char *repo, const char *dstr,
                       json_t *info, json_t *o)
{
	char user[256];
	uint64_t ms;

	if (store_pushed_get(zs->st, repo, dstr, &ms, user, sizeof(user)) == 0)
		return put(o, "PushTimestamp", time_json(ms)) &&
		       put(o, "PushedBy", json_string(user));
	ms = (uint64_t)json_integer_value(json_object_get(info, "_mtime"));
	return put(o, "PushTimestamp", ms ? time_json(ms) : json_null()) &&
	       put(o, "PushedBy", json_null());
}

/*
 * zot's ImageSummary of @tag (naming @dstr) in @rp, with our sort keys:
 * _name (repository, \1, tag), _t (LastUpdated in ns), _platforms. NULL
 * when it cannot be read (gone meanwhile) or out of memory.
 */
static json_t *image_summary(struct zreq *zr, const struct zrepo *rp,
                             const char *tag, const char *dstr)
{
	struct zsearch *zs = zr->zs;
	json_t *info = manifest_info(zs, rp->name, dstr);
	json_t *o = NULL, *mans = json_array(), *plats = json_array();
	json_t *blobs = json_object(), *m;
	const char *newest = NULL;
	uint64_t size = 0;
	char name[1024];
	size_t i;

	if (!info || !mans || !plats || !blobs)
		goto fail;
	if (!strcmp(str_of(info, "kind"), "index")) {
		json_t *kid;

		size = (uint64_t)json_integer_value(
			json_object_get(info, "_msize"));
		json_object_set_new(blobs, dstr,
		                    json_integer((json_int_t)size));
		json_array_foreach(json_object_get(info, "_children"), i, kid)
		{
			json_t *ki = manifest_info(zs, rp->name,
			                           json_string_value(kid));

			if (!ki || strcmp(str_of(ki, "kind"), "image")) {
				json_decref(ki);
				continue;
			}
			m = manifest_summary(zs, rp, ki);
			if (!m || json_array_append_new(mans, m) < 0) {
				json_decref(ki);
				goto fail;
			}
			size += (uint64_t)json_integer_value(
				json_object_get(ki, "_size"));
			json_decref(ki);
		}
	} else {
		m = manifest_summary(zs, rp, info);
		if (!m || json_array_append_new(mans, m) < 0)
			goto fail;
		size = (uint64_t)json_integer_value(
			json_object_get(info, "_size"));
	}
	json_array_foreach(mans, i, m)
	{
		const char *lu =
			json_string_value(json_object_get(m, "LastUpdated"));

		if (lu &&
		    (!newest || store_time_ns(lu) > store_time_ns(newest)))
			newest = lu;
		if (!add_platform(plats, m) ||
		    json_object_update(blobs, json_object_get(m, "_blobs")) < 0)
			goto fail;
	}
	snprintf(name, sizeof(name), "%s\1%s", rp->name, tag);
	o = json_pack("{s:s, s:s, s:s, s:O, s:O, s:o, s:n, s:s?,"
	              " s:I, s:s, s:n, s:b, s:O?, s:O, s:O}",
	              "RepoName", rp->name, "Tag", tag, "Digest", dstr,
	              "MediaType", json_object_get(info, "MediaType"),
	              "Manifests", mans, "Size", size_str(size),
	              "TaggedTimestamp", "LastUpdated", newest, "_t",
	              (json_int_t)store_time_ns(newest), "_name", name,
	              "Vulnerabilities", "IsDeletable",
	              may(zr, rp->name, ACCESS_DELETE), "ArtifactType",
	              json_object_get(info, "ArtifactType"), "_platforms",
	              plats, "_blobs", blobs);
	if (!o || !same_refs(o, info, mans, zs, rp, dstr) ||
	    !set_pushed(zs, rp->name, dstr, info, o) ||
	    !set_pulls(zs, rp->name, dstr, o, true) ||
	    !set_annotations(o, info))
		goto fail;
	/* An index without annotations of its own shows its images'. */
	json_array_foreach(json_object_get(info, "_children"), i, m)
	{
		json_t *ki = manifest_info(zs, rp->name, json_string_value(m));
		bool ok = !ki || set_annotations(o, ki);

		json_decref(ki);
		if (!ok)
			goto fail;
	}
	json_decref(info);
	json_decref(mans);
	json_decref(plats);
	json_decref(blobs);
	return o;
fail:
	json_decref(o);
	json_decref(info);
	json_decref(mans);
	json_decref(plats);
	json_decref(blobs);
	return NULL;
}

/*
 * The images of @rp's tags (cosign signatures left out, as zot keeps
 * them apart), each kept when @keep (may be NULL) says so, appended to
 * @out.
 */
static int repo_images(struct zreq *zr, const struct zrepo *rp,
                       bool (*keep)(json_t *img, void *arg), void *arg,
                       json_t *out, struct err *err)
{
	const char *tag;
	json_t *d;

	json_object_foreach(rp->tags, tag, d)
	{
		json_t *img;

		if (store_is_sig_tag(tag))
			continue;
		img = image_summary(zr, rp, tag, json_string_value(d));
		if (!img)
			continue; /* gone since listed */
		if (keep && !keep(img, arg)) {
			json_decref(img);
			continue;
		}
		if (json_array_append_new(out, img) < 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* What a RepoSummary shows of its images (borrowed). */
struct agg {
	json_t *newest;      /* its newest image's summary, or NULL */
	json_int_t downloads; /* of its images, each digest once */
	json_int_t best;     /* the newest image's time, ns */
	uint64_t size;       /* of its images' blobs, each once */
	json_t *plats;       /* Platforms */
	json_t *vendors;     /* Vendors */
	bool signed_;
};

/* zot's RepoSummary of repository @name from @a; Rank @rank (-1: null). */
static json_t *summary_of(struct zreq *zr, const char *name,
                          const struct agg *a, int rank)
{
	json_t *o = json_pack(
		"{s:s, s:O?, s:o, s:O, s:O, s:O?, s:I, s:i, s:b, s:b,"
		" s:s, s:I, s:b}",
		"Name", name, "LastUpdated",
		a->newest ? json_object_get(a->newest, "LastUpdated") : NULL,
		"Size", size_str(a->size), "Platforms", a->plats, "Vendors",
		a->vendors, "NewestImage", a->newest, "DownloadCount",
		a->downloads, "StarCount", 0, "IsBookmarked", 0, "IsStarred", 0,
		"_name", name, "_t", a->best, "_signed", a->signed_);

	if (o && zr->zs->prefs &&
	    userprefs_summary(zr->zs->prefs, zr->who ? zr->who->user : NULL,
	                      name, o) < 0) {
		json_decref(o);
		o = NULL;
	}
	if (o && !put(o, "Rank", rank < 0 ? json_null() : json_integer(rank))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/*
 * zot's RepoSummary of @rp from its images @imgs (NULL: none); Rank
 * @rank (-1: null). Sort keys _name and _t as for images; _signed.
 */
static json_t *repo_summary(struct zreq *zr, const struct zrepo *rp,
                            json_t *imgs, int rank)
{
	json_t *plats = json_array(), *vendors = json_array();
	json_t *blobs = json_object(), *counted = json_object();
	json_t *newest = NULL, *img, *o = NULL, *v;
	json_int_t downloads = 0, best = 0;
	bool signed_ = false;
	uint64_t size = 0;
	const char *k;
	size_t i, j;

	if (!plats || !vendors || !blobs || !counted)
		goto out;
	json_array_foreach(imgs, i, img)
	{
		json_t *p;
		const char *vendor = str_of(img, "Vendor");
		const char *dig = str_of(img, "Digest");
		json_int_t t = json_integer_value(json_object_get(img, "_t"));

		if (!newest || t > best) {
			newest = img;
			best = t;
		}
		signed_ |= json_is_true(json_object_get(img, "IsSigned"));
		if (!json_object_get(counted, dig)) {
			downloads += json_integer_value(
				json_object_get(img, "DownloadCount"));
			json_object_set_new(counted, dig, json_true());
		}
		json_array_foreach(json_object_get(img, "_platforms"), j, p)
		{
			json_t *q;
			size_t n;
			bool seen = false;

			json_array_foreach(plats, n, q) seen |=
				json_equal(p, q);
			if (!seen && json_array_append(plats, p) < 0)
				goto out;
		}
		if (*vendor) {
			bool seen = false;

			json_array_foreach(vendors, j, v) seen |=
				!strcmp(json_string_value(v), vendor);
			if (!seen && json_array_append_new(
					     vendors, json_string(vendor)) < 0)
				goto out;
		}
		if (json_object_update(blobs, json_object_get(img, "_blobs")) <
		    0)
			goto out;
	}
	json_object_foreach(blobs, k, v) size += size_of(v);
	o = summary_of(zr, rp->name,
	               &(struct agg){newest, downloads, best, size, plats,
	                             vendors, signed_},
	               rank);
out:
	json_decref(plats);
	json_decref(vendors);
	json_decref(blobs);
	json_decref(counted);
	return o;
}

/* ---- filters, sorting, pages -------------------------------------------- */

/* Does @list (a Filter's Os or Arch) allow @v? Empty entries: no filter. */
static bool filter_allows(json_t *list, const char *v)
{
	json_t *e;
	size_t i;
	bool any = false;

	json_array_foreach(list, i, e)
	{
		const char *s = json_string_value(e);

		if (!s || !*s)
			continue;
		any = true;
		if (v && !strcasecmp(s, v))
			return true;
	}
	return !any;
}

/* Does platform @os/@arch pass a Filter's Os (ok[0]) and Arch (ok[1])? */
static void filter_plat(json_t *filter, const char *os, const char *arch,
                        bool ok[2])
{
	ok[0] |= filter_allows(json_object_get(filter, "Os"), os);
	ok[1] |= filter_allows(json_object_get(filter, "Arch"), arch);
}

/*
 * zot's Filter on an image or repository: @ok from filter_plat() over
 * its platforms (starting false), @signed_; @prefs has IsStarred and
 * IsBookmarked (NULL: neither).
 */
static bool filter_rest(json_t *filter, bool ok[2], bool signed_,
                        json_t *prefs)
{
	if (!json_is_object(filter))
		return true;
	filter_plat(filter, NULL, NULL, ok);
	if (!ok[0] || !ok[1])
		return false;
	if (json_is_true(json_object_get(filter, "HasToBeSigned")) && !signed_)
		return false;
	/* As zot: a preference given must be the repository's. */
	for (int n = 0; n < 2; n++) {
		const char *k = n ? "IsStarred" : "IsBookmarked";
		json_t *want = json_object_get(filter, k);

		if (json_is_boolean(want) &&
		    json_is_true(want) !=
		            json_is_true(json_object_get(prefs, k)))
			return false;
	}
	return true;
}

/* zot's Filter on an image with @platforms (summaries' Platform). */
static bool filter_match(json_t *filter, json_t *platforms, bool signed_,
                         json_t *prefs)
{
	bool ok[2] = {false, false};
	json_t *p;
	size_t i;

	json_array_foreach(platforms, i, p)
		filter_plat(filter, str_of(p, "Os"), str_of(p, "Arch"), ok);
	return filter_rest(filter, ok, signed_, prefs);
}

static bool keep_filtered_image(json_t *img, void *arg)
{
	return filter_match(arg, json_object_get(img, "_platforms"),
	                    json_is_true(json_object_get(img, "IsSigned")),
	                    NULL);
}

static int cmp_str(json_t *a, json_t *b, const char *key)
{
	return strcmp(str_of(a, key), str_of(b, key));
}

static int cmp_int(json_t *a, json_t *b, const char *key)
{
	json_int_t x = json_integer_value(json_object_get(a, key));
	json_int_t y = json_integer_value(json_object_get(b, key));

	return x < y ? -1 : x > y;
}

static int by_name(const void *pa, const void *pb)
{
	return cmp_str(*(json_t *const *)pa, *(json_t *const *)pb, "_name");
}

static int by_name_dsc(const void *pa, const void *pb)
{
	return -by_name(pa, pb);
}

/* Newest first; no time last (zot's UPDATE_TIME); then by name. */
static int by_time(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = -cmp_int(a, b, "_t");

	return c ? c : by_name(pa, pb);
}

static int by_downloads(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = -cmp_int(a, b, "DownloadCount");

	return c ? c : by_name(pa, pb);
}

/* The orders of zot's SortCriteria. */
enum order { BY_NAME, BY_NAME_DSC, BY_TIME, BY_DOWNLOADS, BY_RANK, BY_STARS };

/*
 * requestedPage of @call: its order (sortBy, or @def), limit and offset.
 * ERR_INVALID for a negative limit or offset, or an order zot refuses
 * for the kind (repositories with @repos, else images).
 */
static int page_args(const struct gql_call *call, const char *def, bool repos,
                     enum order *ord, json_int_t *limit, json_int_t *off,
                     struct err *err)
{
	json_t *page = json_object_get(call->args, "requestedPage");
	const char *sort = json_string_value(json_object_get(page, "sortBy"));
	static const struct {
		const char *name;
		enum order image, repo; /* BY_STARS for images: refused */
	} orders[] = {
		{"ALPHABETIC_ASC", BY_NAME, BY_NAME},
		{"ALPHABETIC_DSC", BY_NAME_DSC, BY_NAME_DSC},
		{"UPDATE_TIME", BY_TIME, BY_TIME},
		{"DOWNLOADS", BY_DOWNLOADS, BY_DOWNLOADS},
		{"RELEVANCE", BY_NAME, BY_RANK},
		{"STARS", BY_STARS, BY_STARS},
	};

	*limit = json_integer_value(json_object_get(page, "limit"));
	*off = json_integer_value(json_object_get(page, "offset"));
	if (*limit < 0)
		return err_set(err, ERR_INVALID, "limit is negative");
	if (*off < 0)
		return err_set(err, ERR_INVALID, "offset is negative");
	if (!sort)
		sort = def;
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		*ord = repos ? orders[i].repo : orders[i].image;
		if (!strcmp(sort, orders[i].name) &&
		    (repos || *ord != BY_STARS))
			return 0;
	}
	return err_set(err, ERR_INVALID, "sorting %s by '%s' is not supported",
	               repos ? "repos" : "images", sort);
}

/*
 * Sort @list (an array of images) by requestedPage.sortBy (or @def),
 * then cut the page: {Page, Results}. Fails as page_args().
 * (Repositories are ranked as candidates: repo_page().)
 */
static json_t *page_of(const struct gql_call *call, json_t *list,
                       const char *def, struct err *err)
{
	/* Images have no rank or stars: RELEVANCE is by name. */
	static int (*const cmps[])(const void *, const void *) = {
		[BY_NAME] = by_name,   [BY_NAME_DSC] = by_name_dsc,
		[BY_TIME] = by_time,   [BY_DOWNLOADS] = by_downloads,
		[BY_RANK] = by_name,   [BY_STARS] = by_name};
	json_int_t limit, off;
	enum order ord;
	size_t n = json_array_size(list), i;
	json_t **v, *results;

	if (page_args(call, def, false, &ord, &limit, &off, err) < 0)
		return NULL;
	v = malloc((n ? n : 1) * sizeof(*v));
	results = json_array();
	if (!v || !results) {
		free(v);
		json_decref(results);
		return nomem(err);
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(list, i);
	qsort(v, n, sizeof(*v), cmps[ord]);
	for (i = (size_t)off; i < n; i++) {
		if (limit && json_array_size(results) >= (size_t)limit)
			break;
		if (json_array_append(results, v[i]) < 0) {
			free(v);
			json_decref(results);
			return nomem(err);
		}
	}
	free(v);
	return json_pack("{s:{s:I, s:I}, s:o}", "Page", "TotalCount",
	                 (json_int_t)n, "ItemCount",
	                 (json_int_t)json_array_size(results), "Results",
	                 results);
}

/* ---- walking repositories ------------------------------------------------ */

static int rank_repo(const char *text, const char *name);

/*
 * Call @fn for each repository the caller may read whose name matches
 * @query (NULL: every one), in name order, with its tags loaded. Stops
 * at the first failure.
 */
static int each_repo(struct zreq *zr, const char *query,
                     int (*fn)(struct zreq *zr, const struct zrepo *rp,
                               void *arg, struct err *err),
                     void *arg, struct err *err)
{
	struct strvec names = {0};
	char *last = NULL;
	bool more = true;
	int ret = -1;

	while (more) {
		names = (struct strvec){0};
		if (store_catalog(zr->zs->st, last, ZS_PAGE, &names, &more,
		                  err) < 0)
			goto out;
		for (size_t i = 0; i < names.n; i++) {
			struct zrepo rp;
			struct err gone = ERR_INIT;
			int rc;

			/* A name that does not match costs no tag list. */
			if ((query && rank_repo(query, names.v[i]) < 0) ||
			    !may(zr, names.v[i], ACCESS_READ))
				continue;
			if (repo_load_tags(zr->zs, names.v[i], &rp, &gone) <
			    0) {
				if (gone.code == ERR_NOMEM) {
					*err = gone;
					goto out;
				}
				continue; /* deleted since listed */
			}
			rc = fn(zr, &rp, arg, err);
			repo_release(&rp);
			if (rc < 0)
				goto out;
		}
		free(last);
		last = names.n ? strdup(names.v[names.n - 1]) : NULL;
		strvec_release(&names);
		if (!last)
			break;
	}
	ret = 0;
out:
	free(last);
	strvec_release(&names);
	return ret;
}

/* What a walk collecting images or repositories carries. */
struct collect {
	json_t *out;                    /* the list being filled */
	json_t *filter;                 /* a Filter, or NULL */
	const char *query;              /* GlobalSearch's, or NULL */
	bool (*keep)(json_t *, void *); /* an image test, or NULL */
	void *keep_arg;                 /* its argument */
};

static int collect_images(struct zreq *zr, const struct zrepo *rp, void *arg,
                          struct err *err)
{
	struct collect *c = arg;

	return repo_images(zr, rp, c->keep, c->keep_arg, c->out, err);
}

/* ---- repositories ranked from the index ---------------------------------- */

/* A repository as it is ranked, before its page is built. */
struct cand {
	char *name;
	int rank;           /* rank_repo()'s, -1: not searched */
	int64_t t;          /* its newest image's time (ns) */
	uint64_t downloads; /* counted pulls, with DOWNLOADS */
	uint64_t stars;     /* users who starred it, with STARS */
};

/*
 * What a walk over the repositories' records carries: the best @keep
 * candidates so far (0: all) as a heap, the worst on top, while the
 * page is not yet full; then sorted.
 */
struct cands {
	struct zreq *zr;
	const char *query; /* GlobalSearch's, or NULL */
	json_t *filter;    /* a Filter, or NULL */
	json_t *only;      /* names to rank (keys), or NULL: all */
	enum order ord;
	int (*cmp)(const void *, const void *); /* the order's */
	struct cand *v;
	size_t n, cap;
	size_t keep;  /* how many the page needs (offset + limit), 0: all */
	size_t total; /* how many matched */
};

/* The caller's IsStarred and IsBookmarked of @repo, for filter_rest(). */
static json_t *cand_prefs(const struct zreq *zr, const char *repo)
{
	const char *user = zr->who ? zr->who->user : NULL;
	struct userprefs *up = zr->zs->prefs;

	if (!up)
		return NULL;
	return json_pack("{s:b, s:b}", "IsStarred",
	                 userprefs_has(up, user, USERPREFS_STAR, repo),
	                 "IsBookmarked",
	                 userprefs_has(up, user, USERPREFS_BOOKMARK, repo));
}

static int cand_name(const void *pa, const void *pb)
{
	return strcmp(((const struct cand *)pa)->name,
	              ((const struct cand *)pb)->name);
}

static int cand_name_dsc(const void *pa, const void *pb)
{
	return -cand_name(pa, pb);
}

static int cand_time(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t > b->t ? -1 : 1;
	return cand_name(pa, pb);
}

static int cand_downloads(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->downloads != b->downloads)
		return a->downloads > b->downloads ? -1 : 1;
	return cand_name(pa, pb);
}

static int cand_stars(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->stars != b->stars)
		return a->stars > b->stars ? -1 : 1;
	return cand_name(pa, pb);
}

static int cand_rank(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return cand_name(pa, pb);
}

/* Restore the heap c->v (the worst first) below @at. */
static void cands_sift(struct cands *c, size_t at)
{
	for (;;) {
		size_t l = 2 * at + 1, r = l + 1, worst = at;
		struct cand tmp;

		if (l < c->n && c->cmp(&c->v[l], &c->v[worst]) > 0)
			worst = l;
		if (r < c->n && c->cmp(&c->v[r], &c->v[worst]) > 0)
			worst = r;
		if (worst == at)
			return;
		tmp = c->v[at];
		c->v[at] = c->v[worst];
		c->v[worst] = tmp;
		at = worst;
	}
}

/* Keep @cd (its name borrowed) among the c->keep best, or all. */
static int cands_add(struct cands *c, struct cand cd)
{
	size_t at;

	c->total++;
	if (c->keep && c->n == c->keep) {
		/* Full: it replaces the worst kept, if it is better. */
		if (c->cmp(&cd, &c->v[0]) >= 0)
			return 0;
		if (!(cd.name = strdup(cd.name)))
			return -1;
		free(c->v[0].name);
		c->v[0] = cd;
		cands_sift(c, 0);
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct cand *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -1;
		c->v = v;
		c->cap = cap;
	}
	if (!(cd.name = strdup(cd.name)))
		return -1;
	at = c->n++;
	c->v[at] = cd;
	/* Up the heap while worse than its parent (a heap only if keep). */
	while (c->keep && at > 0 && c->cmp(&c->v[at], &c->v[(at - 1) / 2]) > 0) {
		struct cand tmp = c->v[at];

		c->v[at] = c->v[(at - 1) / 2];
		c->v[(at - 1) / 2] = tmp;
		at = (at - 1) / 2;
	}
	return 0;
}

/* Does record @r pass the Filter of @c? */
static bool cand_filtered(const struct cands *c, const struct store_srepo *r)
{
	bool ok[2] = {false, false}, keep;
	const char *p = r->plats;
	json_t *prefs;

	for (size_t i = 0; i < r->nplats; i++) {
		const char *arch = p + strlen(p) + 1;

		filter_plat(c->filter, p, arch, ok);
		p = arch + strlen(arch) + 1;
	}
	prefs = cand_prefs(c->zr, r->name);
	keep = filter_rest(c->filter, ok, r->is_signed, prefs);
	json_decref(prefs);
	return keep;
}

static int add_cand(const struct store_srepo *r, void *arg)
{
	struct cands *c = arg;
	struct cand cd = {.name = (char *)r->name, .rank = -1, .t = r->t};

	if (c->only && !json_object_get(c->only, r->name))
		return 0;
	if (c->query && (cd.rank = rank_repo(c->query, r->name)) < 0)
		return 0;
	if (!may(c->zr, r->name, ACCESS_READ))
		return 0;
	if (c->filter && !cand_filtered(c, r))
		return 0;
	if (c->ord == BY_DOWNLOADS)
		cd.downloads = r->pulls;
	if (c->ord == BY_STARS && c->zr->zs->prefs)
		cd.stars = userprefs_stars(c->zr->zs->prefs, r->name);
	return cands_add(c, cd);
}

/*
 * The summary of @rp (@rank: GlobalSearch's, -1: none) appended to @out,
 * or nothing when it has no image (zot lists only repositories with
 * images). -1 only on error.
 */
static int repo_built(struct zreq *zr, const struct zrepo *rp, int rank,
                      json_t *out, struct err *err)
{
	json_t *imgs = json_array(), *sum = NULL;
	int ret = -1;

	if (!imgs || repo_images(zr, rp, NULL, NULL, imgs, err) < 0)
		goto out;
	ret = 0;
	if (!json_array_size(imgs))
		goto out;
	sum = repo_summary(zr, rp, imgs, rank);
	if (!sum || json_array_append_new(out, sum) < 0)
		ret = -1;
out:
	json_decref(imgs);
	if (ret < 0 && !err->code)
		nomem(err);
	return ret;
}

/*
 * The summary of @rp (@rank as repo_built()) from its record in the
 * index: its newest image's summary built, the rest as the record has
 * it. Falls back to repo_built() when the record does not match the tags
 * (changed since they were read), or there is none.
 */
static int repo_quick(struct zreq *zr, const struct zrepo *rp, int rank,
                      json_t *out, struct err *err)
{
	struct err e2 = ERR_INIT;
	json_t *rec = NULL, *img = NULL, *sum = NULL, *d;
	const char *tag, *dig;
	struct agg a = {0};
	size_t i;
	int ret = -1;

	if (store_search_repo(zr->zs->st, rp->name, &rec, &e2) < 0) {
		if (e2.code == ERR_NOMEM)
			return *err = e2, -1;
		return repo_built(zr, rp, rank, out, err);
	}
	tag = json_string_value(json_object_get(rec, "tag"));
	dig = json_string_value(json_object_get(rec, "digest"));
	if (!tag || !dig ||
	    strcmp(str_of(rp->tags, tag), dig) != 0 ||
	    !(img = image_summary(zr, rp, tag, dig))) {
		json_decref(rec);
		return repo_built(zr, rp, rank, out, err);
	}
	json_array_foreach(json_object_get(rec, "digests"), i, d)
		a.downloads += (json_int_t)pulls_of(zr->zs, rp->name,
		                                    json_string_value(d))
		                       .count;
	a.newest = img;
	a.best = json_integer_value(json_object_get(img, "_t"));
	a.size = size_of(json_object_get(rec, "size"));
	a.plats = json_object_get(rec, "Platforms");
	a.vendors = json_object_get(rec, "Vendors");
	a.signed_ = json_is_true(json_object_get(rec, "signed"));
	if (json_is_array(a.plats) && json_is_array(a.vendors) &&
	    (sum = summary_of(zr, rp->name, &a, rank)) &&
	    json_array_append_new(out, sum) == 0)
		ret = 0;
	else
		nomem(err);
	json_decref(img);
	json_decref(rec);
	return ret;
}

/*
 * A page of repositories ({Page, Results}): ranked, filtered and sorted
 * over their records in memory (store_search_repos()), keeping only the
 * page's best, then built for the page alone. @query: GlobalSearch's
 * text (NULL: every repository, no Rank); @only: the names to rank (an
 * object's keys), or NULL for every one.
 */
/* Candidates kept past a page's end, for repositories gone meanwhile. */
#define PAGE_SPARE 16

static json_t *repo_page(const struct gql_call *call, const char *query,
                         json_t *filter, json_t *only, const char *def,
                         struct err *err)
{
	static int (*const cmps[])(const void *, const void *) = {
		[BY_NAME] = cand_name, [BY_NAME_DSC] = cand_name_dsc,
		[BY_TIME] = cand_time, [BY_DOWNLOADS] = cand_downloads,
		[BY_RANK] = cand_rank, [BY_STARS] = cand_stars};
	struct cands c = {.zr = req_of(call), .query = query, .only = only};
	json_t *results = NULL, *out = NULL;
	json_int_t limit, off;

	c.filter = json_is_object(filter) ? filter : NULL;
	if (page_args(call, def, true, &c.ord, &limit, &off, err) < 0)
		return NULL;
	c.cmp = cmps[c.ord];
	/*
	 * A page of @limit from @off needs the best off + limit, and a few
	 * more: a repository deleted between the ranking and the page's
	 * build is skipped, and the next one takes its place.
	 */
	if (limit && off < (json_int_t)(SIZE_MAX / 4) - limit)
		c.keep = (size_t)(off + limit) + PAGE_SPARE;
	if (c.ord == BY_DOWNLOADS) {
		struct err ignored = ERR_INIT;

		/* Counts still in memory join those in the index. */
		pthread_mutex_lock(&c.zr->zs->lock);
		if (write_pulls(c.zr->zs, &ignored) < 0)
			log_warn("pull counts not written: %s", ignored.msg);
		pthread_mutex_unlock(&c.zr->zs->lock);
	}
	if (store_search_repos(c.zr->zs->st, add_cand, &c, err) < 0)
		goto out;
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), c.cmp);
	if (!(results = json_array())) {
		nomem(err);
		goto out;
	}
	for (size_t i = (size_t)off; i < c.n; i++) {
		struct err gone = ERR_INIT;
		int ret;
		struct zrepo rp;

		if (limit && json_array_size(results) >= (size_t)limit)
			break;
		if (repo_load_tags(c.zr->zs, c.v[i].name, &rp, &gone) < 0) {
			if (gone.code != ERR_NOMEM)
				continue; /* deleted since listed */
			*err = gone;
			goto out;
		}
		ret = repo_quick(c.zr, &rp, c.v[i].rank, results, err);
		repo_release(&rp);
		if (ret < 0)
			goto out;
	}
	out = json_pack("{s:{s:I, s:I}, s:O}", "Page", "TotalCount",
	                (json_int_t)c.total, "ItemCount",
	                (json_int_t)json_array_size(results), "Results",
	                results);
	if (!out)
		nomem(err);
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].name);
	free(c.v);
	json_decref(results);
	return out;
}

/*
 * zot's RankRepoName: how well @text matches repository @name, lower is
 * better; -1 no match.
 */
static int rank_repo(const char *text, const char *name)
{
	char t[1024];
	const char *last_n, *first_end, *hit;
	size_t tl;
	int tparts = 1, nparts = 1;

	while (*text == '/')
		text++;
	tl = strlen(text);
	while (tl && text[tl - 1] == '/')
		tl--;
	if (tl >= sizeof(t))
		return -1;
	memcpy(t, text, tl);
	t[tl] = '\0';
	for (const char *p = t; *p; p++)
		tparts += *p == '/';
	for (const char *p = name; *p; p++)
		nparts += *p == '/';
	if (tparts > nparts)
		return -1;
	if (!strcmp(t, name))
		return 0;
	last_n = strrchr(name, '/');
	last_n = last_n ? last_n + 1 : name;
	if (tparts == 1) {
		char first[1024];
		size_t fl;

		if ((hit = strstr(last_n, t)))
			return (int)(hit - last_n) + 1;
		first_end = strchr(name, '/');
		fl = first_end ? (size_t)(first_end - name) : strlen(name);
		if (fl < sizeof(first)) {
			memcpy(first, name, fl);
			first[fl] = '\0';
			if ((hit = strstr(first, t)))
				return ((int)(hit - first) + 1) * 10;
		}
	} else {
		/* Every directory of @t but the last is @name's, in order. */
		const char *tlast = strrchr(t, '/');
		size_t pl = (size_t)(tlast - t);

		if (!strncmp(name, t, pl) && name[pl] == '/' &&
		    (hit = strstr(last_n, tlast + 1)))
			return (int)(hit - last_n) + 1;
	}
	if (!strncmp(name, t, strlen(t)))
		return 10;
	if ((hit = strstr(name, t)))
		return ((int)(hit - name) + 1) * 100;
	return -1;
}

/* ---- the queries ----------------------------------------------------------
 */

json_t *zq_cve(const struct gql_call *call, struct err *err)
{
	(void)call;
	err_set(err, ERR_INVALID,
	        "CVE scanning is not supported: dray packages no scanner");
	return NULL;
}

/*
 * StarredRepos, BookmarkedRepos: those the caller may read and that have
 * an image, ranked as RepoListWithNewestImage ranks every repository.
 */
json_t *zq_user_repos(const struct gql_call *call, struct err *err)
{
	struct zreq *zr = req_of(call);
	json_t *names, *only, *v, *page = NULL;
	size_t i;

	names = zr->zs->prefs && zr->who
	                ? userprefs_list(zr->zs->prefs, zr->who->user,
	                                 strcmp(call->field, "StarredRepos")
	                                         ? USERPREFS_BOOKMARK
	                                         : USERPREFS_STAR,
	                                 err)
	                : json_array();
	only = json_object();
	if (!names || !only) {
		json_decref(names);
		json_decref(only);
		return err->code ? NULL : nomem(err);
	}
	/* Deleted or no longer readable: left out, kept (as zot). */
	json_array_foreach(names, i, v)
	{
		if (json_is_string(v) &&
		    json_object_set(only, json_string_value(v), json_true()) < 0)
			goto out;
	}
	page = repo_page(call, NULL, NULL, only, "UPDATE_TIME", err);
out:
	if (!page && !err->code)
		nomem(err);
	json_decref(names);
	json_decref(only);
	return page;
}

/* A walk collecting into a new list, then its page. */
static json_t *walk_page(const struct gql_call *call, struct collect *c,
                         int (*fn)(struct zreq *, const struct zrepo *, void *,
                                   struct err *),
                         const char *def, struct err *err)
{
	json_t *page = NULL;

	c->out = json_array();
	if (!c->out)
		return nomem(err);
	if (each_repo(req_of(call), c->query, fn, c, err) == 0)
		page = page_of(call, c->out, def, err);
	json_decref(c->out);
	return page;
}

json_t *zq_repo_list(const struct gql_call *call, struct err *err)
{
	return repo_page(call, NULL, NULL, NULL, "UPDATE_TIME", err);
}

/*
 * Does image @img have a manifest, config or layer digest containing @arg
 * (zot's FilterByDigest: a part of one, "sha256:" or not)?
 */
static bool has_digest(json_t *img, void *arg)
{
	const char *id = arg;
	json_t *m, *l;
	size_t i, j;

	if (strstr(str_of(img, "Digest"), id))
		return true;
	json_array_foreach(json_object_get(img, "Manifests"), i, m)
	{
		if (strstr(str_of(m, "Digest"), id) ||
		    strstr(str_of(m, "ConfigDigest"), id))
			return true;
		json_array_foreach(json_object_get(m, "_layers"), j, l)
		{
			const char *s = json_string_value(l);

			if (s && strstr(s, id))
				return true;
		}
	}
	return false;
}

json_t *zq_image_list_for_digest(const struct gql_call *call, struct err *err)
{
	const char *id = json_string_value(json_object_get(call->args, "id"));
	struct collect c = {.keep = has_digest, .keep_arg = (void *)id};

	if (!id || !*id)
		return err_set(err, ERR_INVALID, "no digest given"), NULL;
	return walk_page(call, &c, collect_images, "RELEVANCE", err);
}

/* Load repository @name for a query naming it: readable and there. */
static int named_repo(struct zreq *zr, const char *name, struct zrepo *rp,
                      struct err *err)
{
	/* One answer for "absent" and "hidden": names do not leak. */
	if (!may(zr, name, ACCESS_READ) ||
	    repo_load_tags(zr->zs, name, rp, err) < 0) {
		if (err->code == ERR_NOMEM)
			return -1;
		*err = ERR_INIT;
		return err_set(err, ERR_NOT_FOUND, "repository '%s' not found",
		               name);
	}
	return 0;
}

json_t *zq_image_list(const struct gql_call *call, struct err *err)
{
	const char *repo =
		json_string_value(json_object_get(call->args, "repo"));
	struct zreq *zr = req_of(call);
	struct collect c = {0};
	struct zrepo rp;
	json_t *page = NULL;

	if (!repo || !*repo)
		return walk_page(call, &c, collect_images, "RELEVANCE", err);
	if (!(c.out = json_array()))
		return nomem(err);
	/* zot answers an empty page for a repository it does not show. */
	if (named_repo(zr, repo, &rp, err) == 0) {
		if (repo_images(zr, &rp, NULL, NULL, c.out, err) == 0)
			page = page_of(call, c.out, "RELEVANCE", err);
		repo_release(&rp);
	} else if (err->code == ERR_NOT_FOUND) {
		*err = ERR_INIT;
		page = page_of(call, c.out, "RELEVANCE", err);
	}
	json_decref(c.out);
	return page;
}

json_t *zq_expanded(const struct gql_call *call, struct err *err)
{
	const char *repo =
		json_string_value(json_object_get(call->args, "repo"));
	struct zreq *zr = req_of(call);
	json_t *imgs = NULL, *sum = NULL, *sorted = NULL, *out = NULL;
	struct zrepo rp = {0};

	/*
	 * zot answers an empty RepoInfo for a repository the caller may not
	 * read but an error for an absent one; here both are empty, so that
	 * hidden names cannot be told from absent ones.
	 */
	if (named_repo(zr, repo, &rp, err) < 0) {
		if (err->code != ERR_NOT_FOUND)
			return NULL;
		*err = ERR_INIT;
		return json_pack("{s:n, s:n}", "Images", "Summary");
	}
	if (!(imgs = json_array()) ||
	    repo_images(zr, &rp, NULL, NULL, imgs, err) < 0)
		goto out;
	if (!(sum = repo_summary(zr, &rp, imgs, -1))) {
		nomem(err);
		goto out;
	}
	/* Newest first, as zot sorts them. */
	{
		struct gql_call by_time_call = *call;
		json_t *args = json_pack("{s:{s:s}}", "requestedPage", "sortBy",
		                         "UPDATE_TIME");

		by_time_call.args = args;
		sorted = args ? page_of(&by_time_call, imgs, "UPDATE_TIME",
		                        err)
		              : nomem(err);
		json_decref(args);
	}
	if (sorted)
		out = json_pack("{s:O, s:O}", "Images",
		                json_object_get(sorted, "Results"), "Summary",
		                sum);
out:
	repo_release(&rp);
	json_decref(imgs);
	json_decref(sum);
	json_decref(sorted);
	return out;
}

json_t *zq_global(const struct gql_call *call, struct err *err)
{
	const char *q = json_string_value(json_object_get(call->args, "query"));
	json_t *filter = json_object_get(call->args, "filter");
	const char *colon = q ? strchr(q, ':') : NULL;
	struct zreq *zr = req_of(call);
	json_t *page = NULL, *out = NULL;

	if (!colon) {
		page = repo_page(call, q ? q : "", filter, NULL, "RELEVANCE",
		                 err);
		if (page)
			out = json_pack("{s:O, s:[], s:O, s:[]}", "Page",
			                json_object_get(page, "Page"), "Images",
			                "Repos",
			                json_object_get(page, "Results"),
			                "Layers");
	} else {
		char repo[1024];
		const char *tag = colon + 1;
		size_t rl = (size_t)(colon - q);
		json_t *imgs = json_array(), *img;
		struct zrepo rp;
		const char *t;
		json_t *d;

		if (!imgs)
			return nomem(err);
		if (strchr(tag, ':') || rl >= sizeof(repo)) {
			json_decref(imgs);
			return err_set(err, ERR_INVALID,
			               "failed to parse search text, invalid "
			               "format"),
			       NULL;
		}
		memcpy(repo, q, rl);
		repo[rl] = '\0';
		if (named_repo(zr, repo, &rp, err) == 0) {
			json_object_foreach(rp.tags, t, d)
			{
				if (store_is_sig_tag(t) ||
				    strncmp(t, tag, strlen(tag)) != 0)
					continue;
				img = image_summary(zr, &rp, t,
				                    json_string_value(d));
				if (img && json_is_object(filter) &&
				    !keep_filtered_image(img, filter)) {
					json_decref(img);
					continue;
				}
				if (img && json_array_append_new(imgs, img) < 0)
					break;
			}
			repo_release(&rp);
		}
		if (err->code == ERR_NOT_FOUND)
			*err = ERR_INIT;
		if (!err->code)
			page = page_of(call, imgs, "RELEVANCE", err);
		if (page)
			out = json_pack("{s:O, s:O, s:[], s:[]}", "Page",
			                json_object_get(page, "Page"), "Images",
			                json_object_get(page, "Results"),
			                "Repos", "Layers");
		json_decref(imgs);
	}
	json_decref(page);
	if (!out && !err->code)
		nomem(err);
	return out;
}

/*
 * Split "repo:tag" (or "repo@digest") @image: the image's summary, NULL
 * with ERR_NOT_FOUND when there is none the caller may see.
 */
static json_t *named_image(struct zreq *zr, const char *image, struct err *err)
{
	const char *sep = image ? strpbrk(image, ":@") : NULL;
	char repo[1024];
	struct zrepo rp;
	json_t *img = NULL, *d;

	if (!sep || (size_t)(sep - image) >= sizeof(repo))
		return err_set(err, ERR_INVALID,
		               "image '%s' is not repository:tag",
		               image ? image : ""),
		       NULL;
	memcpy(repo, image, (size_t)(sep - image));
	repo[sep - image] = '\0';
	if (*sep == '@') {
		struct digest dg;

		/* A digest, nothing else (a tag there would be resolved). */
		if (digest_parse(&dg, sep + 1, strlen(sep + 1), err) < 0) {
			*err = ERR_INIT;
			return err_set(err, ERR_NOT_FOUND,
			               "image '%s' not found", image),
			       NULL;
		}
	}
	if (named_repo(zr, repo, &rp, err) < 0)
		return NULL;
	if (*sep == ':') {
		d = json_object_get(rp.tags, sep + 1);
		if (d)
			img = image_summary(zr, &rp, sep + 1,
			                    json_string_value(d));
	} else {
		const char *t;

		/* By digest: the first tag naming it, else untagged. */
		json_object_foreach(rp.tags, t, d)
		{
			if (!strcmp(json_string_value(d), sep + 1)) {
				img = image_summary(zr, &rp, t, sep + 1);
				break;
			}
		}
		if (!img)
			img = image_summary(zr, &rp, "", sep + 1);
	}
	repo_release(&rp);
	if (!img)
		err_set(err, ERR_NOT_FOUND, "image '%s' not found", image);
	return img;
}

json_t *zq_image(const struct gql_call *call, struct err *err)
{
	return named_image(
		req_of(call),
		json_string_value(json_object_get(call->args, "image")), err);
}

json_t *zq_referrers(const struct gql_call *call, struct err *err)
{
	const char *repo =
		json_string_value(json_object_get(call->args, "repo"));
	const char *dstr =
		json_string_value(json_object_get(call->args, "digest"));
	json_t *types = json_object_get(call->args, "type");
	struct zreq *zr = req_of(call);
	json_t *out, *descs, *d, *t;
	struct digest dig;
	size_t i, j;

	if (!may(zr, repo, ACCESS_READ))
		return json_array();
	if (digest_parse(&dig, dstr, strlen(dstr), err) < 0) {
		*err = ERR_INIT;
		return err_set(err, ERR_INVALID,
		               "bad digest string from request '%s'", dstr),
		       NULL;
	}
	descs = referrer_descs(zr->zs, repo, dstr);
	out = json_array();
	if (!descs || !out) {
		json_decref(descs);
		json_decref(out);
		return nomem(err);
	}
	json_array_foreach(descs, i, d)
	{
		bool want = !json_array_size(types);

		/* zui sends type: "" for any type. */
		json_array_foreach(types, j, t) want |=
			!*json_string_value(t) ||
			!strcmp(json_string_value(t),
		                str_of(d, "artifactType"));
		if (want && json_array_append_new(out, referrer_json(d)) < 0) {
			json_decref(descs);
			json_decref(out);
			return nomem(err);
		}
	}
	json_decref(descs);
	return out;
}

/* The layer lists of the image's manifests (@digest: only that one). */
static json_t *layer_sets(json_t *img, const char *digest)
{
	json_t *sets = json_array(), *m;
	size_t i;

	json_array_foreach(json_object_get(img, "Manifests"), i, m)
	{
		if (digest && strcmp(digest, str_of(m, "Digest")))
			continue;
		json_array_append(sets, json_object_get(m, "_layers"));
	}
	return sets;
}

/* Is @a a strict prefix of @b (lists of layer digests)? */
static bool layers_prefix(json_t *a, json_t *b)
{
	size_t n = json_array_size(a);

	if (!n || n >= json_array_size(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!json_equal(json_array_get(a, i), json_array_get(b, i)))
			return false;
	return true;
}

/* What DerivedImageList and BaseImageList compare with. */
struct lineage {
	json_t *sets;     /* the named image's layer lists */
	const char *self; /* its "repo\1tag": never its own relative */
	bool derived;     /* DerivedImageList, else BaseImageList */
};

static bool related(json_t *img, void *arg)
{
	struct lineage *lg = arg;
	json_t *s, *m;
	size_t i, j;

	if (!strcmp(str_of(img, "_name"), lg->self))
		return false;
	json_array_foreach(lg->sets, i, s)
	{
		json_array_foreach(json_object_get(img, "Manifests"), j, m)
		{
			json_t *l = json_object_get(m, "_layers");

			if (lg->derived ? layers_prefix(s, l)
			                : layers_prefix(l, s))
				return true;
		}
	}
	return false;
}

static json_t *lineage_list(const struct gql_call *call, bool derived,
                            struct err *err)
{
	const char *digest =
		json_string_value(json_object_get(call->args, "digest"));
	struct lineage lg = {.derived = derived};
	struct collect c = {.keep = related, .keep_arg = &lg};
	json_t *img, *page;

	img = named_image(
		req_of(call),
		json_string_value(json_object_get(call->args, "image")), err);
	if (!img)
		return NULL;
	lg.sets = layer_sets(img, digest);
	lg.self = str_of(img, "_name");
	page = lg.sets ? walk_page(call, &c, collect_images, "UPDATE_TIME",
	                           err)
	               : nomem(err);
	json_decref(lg.sets);
	json_decref(img);
	return page;
}

json_t *zq_derived(const struct gql_call *call, struct err *err)
{
	return lineage_list(call, true, err);
}

json_t *zq_base(const struct gql_call *call, struct err *err)
{
	return lineage_list(call, false, err);
}

/* ---- the API --------------------------------------------------------------
 */

struct zsearch *zsearch_new(struct store *st, size_t batch, struct err *err)
{
	struct zsearch *zs = calloc(1, sizeof(*zs));

	if (!zs) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&zs->lock, NULL);
	zs->st = st;
	zs->batch = batch ? batch : ZS_BATCH_DEFAULT;
	zs->pulls = hmap_new();
	if (!zs->pulls) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	zs->schema = gql_schema_new(zot_types, "Query", err);
	if (!zs->schema) {
		if (err->code != ERR_NOMEM)
			err->code = ERR_INTERNAL;
		goto fail;
	}
	return zs;
fail:
	zsearch_free(zs);
	return NULL;
}

void zsearch_free(struct zsearch *zs)
{
	if (!zs)
		return;
	gql_schema_free(zs->schema);
	if (zs->pulls) {
		struct err err = ERR_INIT;

		if (write_pulls(zs, &err) < 0)
			log_warn("pull counts lost: %s", err.msg);
		hmap_free_with(zs->pulls, free);
	}
	pthread_mutex_destroy(&zs->lock);
	free(zs);
}

json_t *zsearch_run(struct zsearch *zs, const char *query, size_t len,
                    json_t *variables, const char *operation,
                    const struct zsearch_who *who, struct err *err)
{
	struct zreq zr = {.zs = zs, .who = who};
	struct gql_request req = {.query = query,
	                          .len = len,
	                          .variables = variables,
	                          .operation = operation,
	                          .ctx = &zr};

	test_hold("search", "query");
	return gql_execute(zs->schema, &req, NULL, err);
}

void zsearch_set_userprefs(struct zsearch *zs, struct userprefs *up)
{
	zs->prefs = up;
}

char *zsearch_sdl(const struct zsearch *zs, struct err *err)
{
	return gql_schema_sdl(zs->schema, err);
}
