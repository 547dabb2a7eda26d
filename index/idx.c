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
 *   V                       -> schema version
 * The layouts are the truth: every change to one is followed by the
 * matching index change in one batch, and a change made behind dray's
 * back is found by comparing stat and an xxh3 hash with repo_rec.
 */
#define LOG_MODULE "index"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
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

#define SCHEMA "1"
#define KEY_MAX (2 + REF_NAME_MAX + 2 * DIGEST_STR_MAX + REF_TAG_MAX + 8)

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

struct scan_ctx {
	struct kv_batch *b; /* where the entries go */
	const char *repo;   /* whose blobs */
};

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

/* Queue the K/L/B entries of every blob file of @repo into @b. */
static int scan_blobs(struct store *st, const char *repo, struct kv_batch *b,
                      struct err *err)
{
	char k[KEY_MAX], pre[KEY_MAX];
	struct kv_iter *it;
	const char *ik, *iv;
	size_t iklen, ivlen, plen;
	int rc;

	/* Forget what the repository linked before. */
	plen = prefix(pre, 'K', repo, NULL);
	it = kv_iter_new(st->kv, pre, plen, NULL, 0);
	if (!it)
		return err_set(err, ERR_NOMEM, "cannot scan index");
	while ((rc = kv_iter_next(it, &ik, &iklen, &iv, &ivlen, err)) > 0) {
		char dstr[DIGEST_STR_MAX];
		size_t dl = iklen - plen;

		if (dl >= sizeof(dstr))
			continue;
		memcpy(dstr, ik + plen, dl);
		dstr[dl] = '\0';
		kv_batch_del(b, k, key(k, 'L', dstr, repo, NULL));
	}
	kv_iter_free(it);
	if (rc < 0 || kv_batch_del_prefix(st->kv, b, pre, plen, err) < 0)
		return -1;

	struct scan_ctx c = {b, repo};

	repo_each_blob(st, repo, put_blob, &c);
	return 0;
}

/* Queue the T and F entries for r->index into @b. */
static int index_manifests(struct store *st, struct repo *r,
                           struct kv_batch *b, struct err *err)
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
	return 0;
}

int idx_sync_repo(struct store *st, struct repo *r, bool blobs,
                  struct err *err)
{
	struct kv_batch *b = kv_batch_new();
	struct repo_rec rec = {0};
	char k[KEY_MAX];
	int ret = -1;

	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	r->tags_cached = false;
	strvec_release(&r->tags);
	if (index_manifests(st, r, b, err) < 0)
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
	ret = kv_commit(st->kv, b, err);
out:
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
		                        err) == 0) {
			kv_batch_del(b, k, key(k, 'R', repo, NULL, NULL));
			ret = kv_commit(st->kv, b, err);
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

int idx_open(struct store *st, bool rebuild, struct err *err)
{
	char dir[PATH_MAX], *v = NULL;
	size_t vlen;
	struct err e2 = ERR_INIT;
	bool existed;

	if (snprintf(dir, sizeof(dir), "%s/index", st->nodedir) >=
	    (int)sizeof(dir))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (rebuild && kv_destroy(dir, err) < 0)
		return -1;
	existed = access(dir, F_OK) == 0;
	st->kv = kv_open(dir, &e2);
	if (st->kv && kv_get(st->kv, "V", 1, &v, &vlen, &e2) == 0 &&
	    strcmp(v, SCHEMA) == 0) {
		free(v);
		return 0;
	}
	free(v);
	/* Missing, corrupt or of another schema: rebuild from the layouts. */
	if (!rebuild && existed)
		log_warn("index in '%s' is unusable (%s): rebuilding", dir,
		         e2.msg);
	kv_close(st->kv);
	st->kv = NULL;
	if (kv_destroy(dir, err) < 0) {
		if (fs_remove_tree(dir, err) < 0)
			return -1;
	}
	st->kv = kv_open(dir, err);
	if (!st->kv)
		return -1;
	struct kv_batch *b = kv_batch_new();
	if (!b)
		return err_set(err, ERR_NOMEM, "cannot index");
	kv_batch_put(b, "V", 1, SCHEMA, strlen(SCHEMA));
	int ret = kv_commit(st->kv, b, err);
	kv_batch_free(b);
	return ret;
}

void idx_close(struct store *st)
{
	kv_close(st->kv);
	st->kv = NULL;
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
