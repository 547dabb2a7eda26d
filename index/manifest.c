/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manifest.c - manifests: validation, storage, tags, deletion, referrers.
 *
 * The bytes a client pushed are stored as they are and hashed as they are;
 * jansson is only used to read them, never to re-serialise one. Summaries
 * (struct msum) of manifests are cached by digest: content-addressed data
 * never changes, so the cache cannot go stale.
 */
#define LOG_MODULE "index"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/access.h"
#include "daemon/fsutil.h"
#include "daemon/live.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store_int.h"

void msum_free(struct msum *m)
{
	if (!m)
		return;
	free(m->artifact_type);
	free(m->annotations);
	free(m->refs);
	free(m);
}

/* Check a descriptor; store its digest in *d. */
static int check_descriptor(json_t *desc, const char *what, struct digest *d,
                            struct err *err)
{
	json_t *mt = json_object_get(desc, "mediaType");
	json_t *dg = json_object_get(desc, "digest");
	json_t *sz = json_object_get(desc, "size");
	struct err derr = ERR_INIT;

	if (!json_is_object(desc))
		return err_set(err, ERR_INVALID, "%s is not a descriptor",
		               what);
	if (!json_is_string(mt) || json_string_length(mt) == 0 ||
	    json_string_length(mt) >= STORE_MEDIA_TYPE_MAX)
		return err_set(err, ERR_INVALID, "%s has no valid mediaType",
		               what);
	if (!json_is_string(dg) ||
	    digest_parse(d, json_string_value(dg), json_string_length(dg),
	                 &derr) < 0)
		return err_set(err, ERR_INVALID, "%s has no valid digest: %s",
		               what, dg ? derr.msg : "missing");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return err_set(err, ERR_INVALID, "%s has no valid size", what);
	return 0;
}

static int add_ref(struct msum *m, const struct digest *d, struct err *err)
{
	struct digest *refs = realloc(m->refs, (m->nrefs + 1) * sizeof(*refs));

	if (!refs)
		return err_set(err, ERR_NOMEM, "cannot parse manifest");
	m->refs = refs;
	m->refs[m->nrefs++] = *d;
	return 0;
}

/* A layer that lives elsewhere (it has urls) need not be pushed. */
static bool is_foreign(json_t *desc)
{
	return json_array_size(json_object_get(desc, "urls")) > 0;
}

/*
 * Parse and validate manifest @body. @content_type (may be NULL) is the
 * type the client declared. Returns a new summary or NULL with
 * ERR_INVALID or ERR_NOMEM.
 */
struct msum *msum_parse(const char *body, size_t len, const char *content_type,
                        struct err *err)
{
	struct msum *m = calloc(1, sizeof(*m));
	json_t *root = NULL, *field, *desc;
	json_error_t jerr;
	const char *mt = NULL;
	struct digest d;
	char what[48];
	size_t i;

	if (!m) {
		err_set(err, ERR_NOMEM, "cannot parse manifest");
		return NULL;
	}
	m->size = len;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		err_set(err, ERR_INVALID, "manifest is not valid JSON: %s",
		        jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		err_set(err, ERR_INVALID, "manifest is not a JSON object");
		goto fail;
	}
	field = json_object_get(root, "schemaVersion");
	if (!json_is_integer(field) || json_integer_value(field) != 2) {
		err_set(err, ERR_INVALID, "schemaVersion must be 2");
		goto fail;
	}
	field = json_object_get(root, "mediaType");
	if (field && !json_is_string(field)) {
		err_set(err, ERR_INVALID, "mediaType must be a string");
		goto fail;
	}
	mt = json_string_value(field);
	if (mt && content_type && *content_type &&
	    strcmp(mt, content_type) != 0) {
		err_set(err, ERR_INVALID,
		        "mediaType '%s' does not match Content-Type '%s'", mt,
		        content_type);
		goto fail;
	}
	if (!mt && content_type && *content_type)
		mt = content_type;
	if (!mt) /* the image-spec lets mediaType out: go by structure */
		mt = json_object_get(root, "manifests") ? MT_OCI_INDEX
		                                        : MT_OCI_MANIFEST;
	if (!store_mt_is_manifest(mt)) {
		err_set(err, ERR_INVALID, "unsupported manifest type '%.64s'",
		        mt);
		goto fail;
	}
	snprintf(m->media_type, sizeof(m->media_type), "%s", mt);
	m->is_index = store_mt_is_index(mt);

	field = json_object_get(root, "artifactType");
	if (field && (!json_is_string(field) || !json_string_length(field))) {
		err_set(err, ERR_INVALID, "artifactType must be a string");
		goto fail;
	}
	if (field && !(m->artifact_type = strdup(json_string_value(field))))
		goto nomem;

	if (!m->is_index) {
		desc = json_object_get(root, "config");
		if (check_descriptor(desc, "config", &d, err) < 0 ||
		    add_ref(m, &d, err) < 0)
			goto fail;
		if (!m->artifact_type &&
		    !(m->artifact_type = strdup(json_string_value(
			      json_object_get(desc, "mediaType")))))
			goto nomem;
		field = json_object_get(root, "layers");
		if (!json_is_array(field)) {
			err_set(err, ERR_INVALID, "layers must be an array");
			goto fail;
		}
		json_array_foreach(field, i, desc)
		{
			snprintf(what, sizeof(what), "layers[%zu]", i);
			if (check_descriptor(desc, what, &d, err) < 0)
				goto fail;
			if (!is_foreign(desc) && add_ref(m, &d, err) < 0)
				goto fail;
		}
	} else {
		field = json_object_get(root, "manifests");
		if (!json_is_array(field)) {
			err_set(err, ERR_INVALID, "manifests must be an array");
			goto fail;
		}
		json_array_foreach(field, i, desc)
		{
			snprintf(what, sizeof(what), "manifests[%zu]", i);
			if (check_descriptor(desc, what, &d, err) < 0 ||
			    add_ref(m, &d, err) < 0)
				goto fail;
		}
	}

	desc = json_object_get(root, "subject");
	if (desc) {
		if (check_descriptor(desc, "subject", &m->subject, err) < 0)
			goto fail;
		m->has_subject = true;
	}
	field = json_object_get(root, "annotations");
	if (field && !json_is_object(field)) {
		err_set(err, ERR_INVALID, "annotations must be an object");
		goto fail;
	}
	if (field && json_object_size(field) &&
	    !(m->annotations = json_dumps(field, JSON_COMPACT)))
		goto nomem;
	json_decref(root);
	return m;
nomem:
	err_set(err, ERR_NOMEM, "cannot parse manifest");
fail:
	json_decref(root);
	msum_free(m);
	return NULL;
}

/* Unlink cached @m from the LRU list. Under st->lock. */
static void lru_unlink(struct store *st, struct msum *m)
{
	if (m->newer)
		m->newer->older = m->older;
	else
		st->msum_newest = m->older;
	if (m->older)
		m->older->newer = m->newer;
	else
		st->msum_oldest = m->newer;
	m->newer = m->older = NULL;
}

/* Put cached @m first in the LRU list. Under st->lock. */
static void lru_push(struct store *st, struct msum *m)
{
	m->older = st->msum_newest;
	m->newer = NULL;
	if (st->msum_newest)
		st->msum_newest->newer = m;
	st->msum_newest = m;
	if (!st->msum_oldest)
		st->msum_oldest = m;
}

/* Drop one reference to @m; free it after the last. Under st->lock. */
static void unref_locked(struct msum *m)
{
	if (--m->users == 0)
		msum_free(m);
}

/* Evict the least recently used until the cache has room for one more. */
static void evict_locked(struct store *st)
{
	size_t max = st->opts.msum_cache_max ? st->opts.msum_cache_max
	                                     : MSUM_CACHE_MAX;

	while (st->msum_oldest && hmap_count(st->msums) >= max) {
		struct msum *old = st->msum_oldest;

		lru_unlink(st, old);
		hmap_del(st->msums, old->key);
		old->cached = false;
		unref_locked(old);
	}
}

/*
 * Cache @m (new, unshared) under @d, or take the summary already cached;
 * returns a reference for the caller either way. When the map cannot grow
 * @m is handed out uncached: a miss later only costs a re-read.
 */
static const struct msum *msum_cache(struct store *st, const struct digest *d,
                                     struct msum *m)
{
	struct msum *old;

	digest_format(d, m->key);
	m->users = 1;
	pthread_mutex_lock(&st->lock);
	old = hmap_get(st->msums, m->key);
	if (old) {
		old->users++;
		lru_unlink(st, old);
		lru_push(st, old);
		pthread_mutex_unlock(&st->lock);
		msum_free(m);
		return old;
	}
	evict_locked(st);
	if (hmap_put(st->msums, m->key, m) == 0) {
		m->cached = true;
		m->users++;
		lru_push(st, m);
	}
	pthread_mutex_unlock(&st->lock);
	return m;
}

void msum_put(struct store *st, const struct msum *cm)
{
	/* Only the bookkeeping changes; the summary itself stays as built. */
	struct msum *m = (struct msum *)(uintptr_t)cm;

	if (!m)
		return;
	pthread_mutex_lock(&st->lock);
	unref_locked(m);
	pthread_mutex_unlock(&st->lock);
}

const struct msum *msum_get(struct store *st, const char *repo,
                            const struct digest *d, struct err *err)
{
	char key[DIGEST_STR_MAX], path[PATH_MAX];
	struct msum *m;
	struct digest actual;
	char *buf = NULL;
	size_t len;

	digest_format(d, key);
	pthread_mutex_lock(&st->lock);
	m = hmap_get(st->msums, key);
	if (m) {
		m->users++;
		lru_unlink(st, m);
		lru_push(st, m);
	}
	pthread_mutex_unlock(&st->lock);
	if (m)
		return m;
	if (blob_path(st, repo, d, path, sizeof(path), err) < 0)
		return NULL;
	if (fs_read_file(path, STORE_MANIFEST_MAX, &buf, &len, err) < 0) {
		if (err->code != ERR_NOMEM)
			err->code = ERR_NOT_FOUND;
		return NULL;
	}
	/* Only content that hashes to its name is believed. */
	if (digest_buffer(d->alg, buf, len, &actual, err) < 0 ||
	    !digest_equal(&actual, d)) {
		free(buf);
		err_set(err, ERR_NOT_FOUND, "manifest unknown");
		return NULL;
	}
	m = msum_parse(buf, len, NULL, err);
	free(buf);
	if (!m) {
		if (err->code != ERR_NOMEM)
			err->code = ERR_NOT_FOUND;
		return NULL;
	}
	return msum_cache(st, d, m);
}

/* Position of the first index.json entry with digest @d, or -1. */
static long find_digest(json_t *mans, const struct digest *d)
{
	char key[DIGEST_STR_MAX];
	json_t *e;
	size_t i;

	digest_format(d, key);
	json_array_foreach(mans, i, e)
	{
		const char *ds = json_string_value(json_object_get(e, "digest"));

		if (ds && strcmp(ds, key) == 0)
			return (long)i;
	}
	return -1;
}

/* Fill @out from index.json entry @e; ERR_NOT_FOUND if it is unusable. */
static int desc_from_entry(json_t *e, struct manifest_desc *out,
                           struct err *err)
{
	json_t *mt = json_object_get(e, "mediaType");
	json_t *sz = json_object_get(e, "size");
	const char *ds = json_string_value(json_object_get(e, "digest"));

	if (!ds || digest_parse(&out->digest, ds, strlen(ds), err) < 0 ||
	    !json_is_integer(sz) || json_integer_value(sz) < 0)
		return err_set(err, ERR_NOT_FOUND, "manifest unknown");
	out->size = (uint64_t)json_integer_value(sz);
	snprintf(out->media_type, sizeof(out->media_type), "%s",
	         json_is_string(mt) ? json_string_value(mt) : MT_OCI_MANIFEST);
	return 0;
}

static int read_manifest(struct store *st, const char *repo,
                         struct manifest_desc *desc, char **body,
                         struct err *err)
{
	char path[PATH_MAX];
	size_t len;

	if (blob_path(st, repo, &desc->digest, path, sizeof(path), err) < 0)
		return -1;
	if (fs_read_file(path, STORE_MANIFEST_MAX, body, &len, err) < 0) {
		if (err->code == ERR_TOO_LARGE)
			err->code = ERR_NOT_FOUND;
		return -1;
	}
	desc->size = len;
	return 0;
}

int store_manifest_get(struct store *st, const char *repo, const char *ref,
                       struct manifest_desc *out, char **body,
                       struct err *err)
{
	struct repo *r;
	long at;
	int ret = -1;

	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	repo_lock_read(st, r);
	if (repo_load(st, r, err) < 0)
		goto out;
	json_t *mans = json_object_get(r->index, "manifests");
	if (!ref_is_digest(ref)) {
		if (idx_tag_get(st, repo, ref, out, err) < 0)
			goto out;
	} else {
		if (digest_parse(&out->digest, ref, strlen(ref), err) < 0)
			goto out;
		at = find_digest(mans, &out->digest);
		if (at >= 0) {
			if (desc_from_entry(json_array_get(mans, (size_t)at),
			                    out, err) < 0)
				goto out;
		} else {
			/* A child of an index is a manifest too. */
			const struct msum *m;
			uint64_t size;

			if (store_blob_stat(st, repo, &out->digest, &size,
			                    err) < 0) {
				err_set(err, ERR_NOT_FOUND, "manifest unknown");
				goto out;
			}
			m = msum_get(st, repo, &out->digest, err);
			if (!m)
				goto out;
			snprintf(out->media_type, sizeof(out->media_type),
			         "%s", m->media_type);
			out->size = m->size;
			msum_put(st, m);
		}
	}
	ret = 0;
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	/*
	 * The file of a manifest never changes: read it without the lock.
	 * A delete racing with this read makes it a 404, as it would be a
	 * moment later anyway.
	 */
	if (ret == 0 && body) {
		if (read_manifest(st, repo, out, body, err) < 0) {
			if (err->code == ERR_NOT_FOUND)
				err_set(err, ERR_NOT_FOUND, "manifest unknown");
			return -1;
		}
		pull_note(st, repo, &out->digest);
	}
	return ret;
}

/* Check that every blob @m references is in @repo with the right size. */
static int check_refs(struct store *st, const char *repo, const struct msum *m,
                      struct err *err)
{
	char dstr[DIGEST_STR_MAX];

	for (size_t i = 0; i < m->nrefs; i++) {
		uint64_t size;

		if (store_blob_stat(st, repo, &m->refs[i], &size, err) < 0) {
			digest_format(&m->refs[i], dstr);
			err_set(err, ERR_NOT_FOUND,
			        "%s %s is not in repository '%s'",
			        m->is_index ? "manifest" : "blob", dstr, repo);
			return err_oci(err, OCI_MANIFEST_BLOB_UNKNOWN);
		}
	}
	return 0;
}

static json_t *new_entry(const struct msum *m, const struct digest *d,
                         const char *tag)
{
	char dstr[DIGEST_STR_MAX];
	json_t *e;

	digest_format(d, dstr);
	e = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest",
	              dstr, "size", (json_int_t)m->size);
	if (e && tag &&
	    json_object_set_new(e, "annotations",
	                        json_pack("{s:s}", ANN_REF_NAME, tag)) < 0) {
		json_decref(e);
		e = NULL;
	}
	return e;
}

/*
 * Point @tag at @d in a copy of index @mans. A manifest that loses its
 * last tag stays as an untagged entry: it is still reachable by digest.
 */
static int set_tag(json_t *mans, const struct msum *m, const struct digest *d,
                   const char *tag)
{
	json_t *e, *orphan = NULL;
	size_t i = 0;

	while ((e = json_array_get(mans, i))) {
		const char *t = entry_tag(e);
		const char *ds = json_string_value(json_object_get(e, "digest"));
		char dstr[DIGEST_STR_MAX];

		digest_format(d, dstr);
		if ((t && strcmp(t, tag) == 0) ||
		    (!t && ds && strcmp(ds, dstr) == 0)) {
			if (t && ds && strcmp(ds, dstr) != 0) {
				json_decref(orphan);
				orphan = json_deep_copy(e);
				json_object_del(orphan, "annotations");
			}
			json_array_remove(mans, i);
			continue;
		}
		i++;
	}
	if (orphan) {
		const char *ods =
			json_string_value(json_object_get(orphan, "digest"));
		bool still = false;

		json_array_foreach(mans, i, e)
		{
			const char *ds =
				json_string_value(json_object_get(e, "digest"));
			still = still || (ds && ods && strcmp(ds, ods) == 0);
		}
		if (!still && json_array_append(mans, orphan) < 0) {
			json_decref(orphan);
			return -1;
		}
		json_decref(orphan);
	}
	return json_array_append_new(mans, new_entry(m, d, tag));
}

/* Does object @o have a member @name (any value, as zot checks keys)? */
static bool has_key(json_t *o, const char *name)
{
	return json_is_object(o) && json_object_get(o, name);
}

/*
 * Read config @desc of @repo into *@cfg (NULL when it is no JSON: no
 * labels then) and point *@labels at its config.Labels, or NULL.
 */
static int config_labels(struct store *st, const char *repo, json_t *desc,
                         json_t **cfg, json_t **labels, struct err *err)
{
	char path[PATH_MAX], *text = NULL;
	const char *ds = json_string_value(json_object_get(desc, "digest"));
	struct digest d;
	size_t len;

	if (!ds || digest_parse(&d, ds, strlen(ds), err) < 0 ||
	    blob_path(st, repo, &d, path, sizeof(path), err) < 0 ||
	    fs_read_file(path, STORE_MANIFEST_MAX, &text, &len, err) < 0) {
		err_prefix(err, "lint: the manifest's config is unreadable");
		return -1;
	}
	*cfg = json_loadb(text, len, 0, NULL);
	free(text);
	*labels = json_object_get(json_object_get(*cfg, "config"), "Labels");
	return 0;
}

int store_lint(struct store *st, const char *repo, const char *body, size_t len,
               struct err *err)
{
	struct live_ref *ref;
	const struct store_rules *r = rules_get(st, &ref);
	json_t *root = json_loadb(body, len, 0, NULL), *ann, *labels = NULL;
	json_t *cfg = NULL;
	bool looked = false;
	char *missing = NULL;
	size_t mlen = 0, n = 0;
	FILE *f = NULL;
	int ret = 0;

	/* Only image manifests are linted, as zot does; indexes pass. */
	if (!r->n_lint || !json_is_object(root) ||
	    json_object_get(root, "manifests") ||
	    !json_is_object(json_object_get(root, "config")))
		goto out;
	ann = json_object_get(root, "annotations");
	for (size_t i = 0; i < r->n_lint; i++) {
		if (has_key(ann, r->lint[i]))
			continue;
		/* zot looks at the config's labels only when one is missing. */
		if (!looked) {
			looked = true;
			ret = config_labels(st, repo,
			                    json_object_get(root, "config"),
			                    &cfg, &labels, err);
			if (ret < 0)
				goto out;
		}
		if (has_key(labels, r->lint[i]))
			continue;
		if (!f && !(f = open_memstream(&missing, &mlen))) {
			ret = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		fprintf(f, "%s%s", n++ ? ", " : "", r->lint[i]);
	}
	if (f && fclose(f) != 0) {
		f = NULL;
		ret = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	f = NULL;
	if (n) {
		err_set(err, ERR_INVALID,
		        "manifest lacks mandatory annotation%s: %s "
		        "(extensions.lint)",
		        n > 1 ? "s" : "", missing);
		ret = err_oci(err, OCI_MANIFEST_INVALID);
	}
out:
	if (f)
		fclose(f);
	free(missing);
	json_decref(cfg);
	json_decref(root);
	live_put(ref);
	return ret;
}

/* Is zot's detectManifestCollision in force on @repo (for the mount)? */
static bool detect_collision(struct store *st, const char *repo)
{
	struct live_ref *ref;
	const struct access *a = rules_get(st, &ref)->access;
	bool on = a && a->on &&
	          access_allows(a, NULL, repo, ACCESS_DETECT_COLLISION);

	live_put(ref);
	return on;
}

int store_manifest_check(const char *body, size_t len,
                         const char *content_type, struct err *err)
{
	struct msum *m = msum_parse(body, len, content_type, err);

	if (!m)
		return err_oci(err, OCI_MANIFEST_INVALID);
	msum_free(m);
	return 0;
}

int store_manifest_put(struct store *st, const char *repo, const char *ref,
                       const char *content_type, const char *body, size_t len,
                       struct manifest_put_result *res, struct err *err)
{
	return store_manifest_put_as(st, repo, ref, content_type, body, len,
	                             NULL, res, err);
}

int store_manifest_put_as(struct store *st, const char *repo, const char *ref,
                          const char *content_type, const char *body,
                          size_t len, const char *user,
                          struct manifest_put_result *res, struct err *err)
{
	char path[PATH_MAX];
	struct msum *parsed = NULL;
	const struct msum *m = NULL;
	json_t *index = NULL, *mans;
	struct repo *r = NULL;
	bool by_digest = ref_is_digest(ref);
	struct digest want;
	int ret = -1;

	if (ref_name_check(repo, err) < 0)
		return err_oci(err, OCI_NAME_INVALID);
	if (len > STORE_MANIFEST_MAX) {
		err_set(err, ERR_TOO_LARGE, "manifest larger than %u bytes",
		        STORE_MANIFEST_MAX);
		return err_oci(err, OCI_SIZE_INVALID);
	}
	if (by_digest && digest_parse(&want, ref, strlen(ref), err) < 0)
		return err_oci(err, OCI_DIGEST_INVALID);
	if (!by_digest && ref_tag_check(ref, err) < 0)
		return err_oci(err, OCI_MANIFEST_INVALID);
	parsed = msum_parse(body, len, content_type, err);
	if (!parsed)
		return err_oci(err, OCI_MANIFEST_INVALID);
	if (digest_buffer(by_digest ? want.alg : DIGEST_SHA256, body, len,
	                  &res->digest, err) < 0) {
		err_oci(err, OCI_MANIFEST_INVALID);
		goto out;
	}
	if (by_digest && !digest_equal(&want, &res->digest)) {
		err_set(err, ERR_INVALID, "manifest does not hash to %s", ref);
		err_oci(err, OCI_DIGEST_INVALID);
		goto out;
	}
	res->has_subject = parsed->has_subject;
	res->subject = parsed->subject;

	r = repo_ref(st, repo, err);
	if (!r)
		goto out;
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		goto out;
	}
	if (check_refs(st, repo, parsed, err) < 0 ||
	    store_lint(st, repo, body, len, err) < 0)
		goto out_unlock;
	if (repo_create(st, repo, err) < 0 || repo_load(st, r, err) < 0 ||
	    repo_blob_dir(st, repo, res->digest.alg, err) < 0 ||
	    blob_path(st, repo, &res->digest, path, sizeof(path), err) < 0)
		goto out_unlock;
	if (access(path, F_OK) == 0) {
		if (blob_renew(path, err) < 0)
			goto out_unlock;
	} else {
		char tmp[PATH_MAX];
		int rc;

		if (fs_write_temp(st->tmpdir, body, len, tmp, err) < 0)
			goto out_unlock;
		rc = blob_store(st, repo, tmp, &res->digest, true, err);
		unlink(tmp);
		if (rc < 0)
			goto out_unlock;
	}
	m = msum_cache(st, &res->digest, parsed);
	parsed = NULL;

	index = json_deep_copy(r->index);
	mans = json_object_get(index, "manifests");
	if (!index || !mans) {
		err_set(err, ERR_NOMEM, "cannot update index.json");
		goto out_unlock;
	}
	if (by_digest) {
		if (find_digest(mans, &res->digest) < 0 &&
		    json_array_append_new(mans,
		                          new_entry(m, &res->digest, NULL)) < 0) {
			err_set(err, ERR_NOMEM, "cannot update index.json");
			goto out_unlock;
		}
	} else if (set_tag(mans, m, &res->digest, ref) < 0) {
		err_set(err, ERR_NOMEM, "cannot update index.json");
		goto out_unlock;
	}
	ret = repo_save(st, r, index, err);
	index = NULL;
	if (ret == 0) {
		struct err e2 = ERR_INIT;

		/* Search's PushTimestamp and PushedBy: not worth a failure. */
		if (idx_pushed(st, repo, &res->digest, user, &e2) < 0)
			log_warn("push of %s not recorded: %s", repo, e2.msg);
	}
out_unlock:
	repo_unlock(st, r);
	repo_unref(st, r);
out:
	msum_put(st, m);
	json_decref(index);
	msum_free(parsed);
	return ret;
}

/*
 * Is @d a child of an index listed in @mans? An entry that cannot be read
 * might be one: it counts as yes, so its blob is left for GC to judge.
 */
static bool is_child(struct store *st, const char *repo, json_t *mans,
                     const struct digest *d)
{
	bool child = false;
	json_t *e;
	size_t i;

	json_array_foreach(mans, i, e)
	{
		struct err ignored = ERR_INIT;
		struct digest md;
		const struct msum *m;

		if (!entry_digest(e, &md))
			return true;
		m = msum_get(st, repo, &md, &ignored);
		if (!m)
			return true;
		for (size_t j = 0; m->is_index && j < m->nrefs; j++)
			child = child || digest_equal(&m->refs[j], d);
		msum_put(st, m);
		if (child)
			return true;
	}
	return false;
}

int store_manifest_delete(struct store *st, const char *repo,
                          const char *ref, struct err *err)
{
	char path[PATH_MAX], dstr[DIGEST_STR_MAX];
	json_t *index = NULL, *mans, *e;
	struct repo *r;
	struct digest d;
	bool by_digest = ref_is_digest(ref);
	size_t i = 0, found = 0;
	int ret = -1;

	if (by_digest && digest_parse(&d, ref, strlen(ref), err) < 0)
		return -1;
	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		return -1;
	}
	if (repo_load(st, r, err) < 0)
		goto out;
	index = json_deep_copy(r->index);
	mans = json_object_get(index, "manifests");
	if (!index || !mans) {
		err_set(err, ERR_NOMEM, "cannot update index.json");
		goto out;
	}
	if (by_digest)
		digest_format(&d, dstr);
	while ((e = json_array_get(mans, i))) {
		const char *t = entry_tag(e);
		const char *ds = json_string_value(json_object_get(e, "digest"));

		if (by_digest ? (ds && strcmp(ds, dstr) == 0)
		              : (t && strcmp(t, ref) == 0)) {
			if (!by_digest && ds)
				snprintf(dstr, sizeof(dstr), "%s", ds);
			found++;
			json_array_remove(mans, i);
			continue;
		}
		i++;
	}
	if (!found) {
		err_set(err, ERR_NOT_FOUND, "manifest unknown");
		goto out;
	}
	/* zot's detectManifestCollision: one reference, one entry. */
	if (found > 1 && detect_collision(st, repo)) {
		err_set(err, ERR_EXISTS,
		        "%zu index.json entries match '%s' "
		        "(detectManifestCollision)",
		        found, ref);
		goto out;
	}
	if (!by_digest) {
		/* The manifest stays, reachable by digest, until deleted. */
		struct err ignored = ERR_INIT;

		if (digest_parse(&d, dstr, strlen(dstr), &ignored) == 0 &&
		    find_digest(mans, &d) < 0) {
			const struct msum *m = msum_get(st, repo, &d, &ignored);
			int rc = m ? json_array_append_new(
					     mans, new_entry(m, &d, NULL))
			           : 0;

			msum_put(st, m);
			if (rc < 0) {
				err_set(err, ERR_NOMEM, "cannot update index");
				goto out;
			}
		}
	}
	ret = repo_save(st, r, index, err);
	index = NULL;
	if (ret < 0 || !by_digest)
		goto out;
	/* index.json no longer names it: now the blob may go. */
	if (!is_child(st, repo, json_object_get(r->index, "manifests"), &d) &&
	    blob_path(st, repo, &d, path, sizeof(path), err) == 0 &&
	    unlink(path) == 0) {
		store_blob_changed(st, repo, &d);
		if (fs_fsync_parent(path, err) < 0 ||
		    idx_blob_removed(st, repo, &d, err) < 0)
			ret = -1;
	}
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	json_decref(index);
	return ret;
}

int store_referrers(struct store *st, const char *repo,
                    const struct digest *subject, const char *artifact_type,
                    char **json, size_t *len, struct err *err)
{
	json_t *out = NULL;
	struct repo *r;
	int ret = -1;

	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	out = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType",
	                MT_OCI_INDEX, "manifests");
	if (!out) {
		repo_unref(st, r);
		return err_set(err, ERR_NOMEM, "cannot list referrers");
	}
	repo_lock_read(st, r);
	if (repo_load(st, r, err) < 0 ||
	    idx_referrers(st, repo, subject, artifact_type,
	                  json_object_get(out, "manifests"), err) < 0)
		goto out;
	*json = json_dumps(out, JSON_COMPACT);
	if (!*json) {
		err_set(err, ERR_NOMEM, "cannot list referrers");
		goto out;
	}
	*len = strlen(*json);
	ret = 0;
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	json_decref(out);
	return ret;
}
