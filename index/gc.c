/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gc.c - garbage collection, one repository at a time.
 *
 * The planner (gc_plan) is pure: given a repository's index.json entries
 * and the manifests' summaries, it marks what is kept. Kept are tagged
 * manifests, the children of kept indexes, and referrers of kept
 * manifests, to a fixpoint. Untagged manifests left unmarked go if they
 * are older than the delay; then blobs that no remaining manifest names
 * go if they are older than the delay. Age is the inode's ctime, which a
 * link or an upload commit renews, so a blob pushed but not yet named by a
 * manifest is safe for the whole delay. Marking is fail-safe: a manifest
 * that could keep something but cannot be read stops the repository's
 * pass before anything is removed.
 */
#define _GNU_SOURCE /* nftw */
#define LOG_MODULE  "gc"
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "index/lease.h"
#include "index/store_int.h"

/* One index.json entry as the planner sees it. */
struct gc_entry {
	struct digest digest; /* the manifest */
	bool tagged;          /* it carries a tag */
	bool pinned;          /* kept whatever the planner says */
	const struct msum *m; /* its summary (a reference) */
	bool keep;            /* out: kept */
};

static bool marked(const struct gc_entry *e, size_t n, const struct digest *d)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].keep && digest_equal(&e[i].digest, d))
			return true;
	return false;
}

/* Mark in @e what is kept. Every entry has its summary. */
static void gc_plan(struct gc_entry *e, size_t n)
{
	bool changed = true;

	for (size_t i = 0; i < n; i++)
		e[i].keep = e[i].tagged || e[i].pinned;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (e[i].keep)
				continue;
			/* A referrer of something kept is kept. */
			if (e[i].m->has_subject &&
			    marked(e, n, &e[i].m->subject)) {
				e[i].keep = changed = true;
				continue;
			}
			/* A child of a kept index is kept. */
			for (size_t j = 0; j < n && !e[i].keep; j++) {
				if (!e[j].keep || !e[j].m->is_index)
					continue;
				for (size_t k = 0; k < e[j].m->nrefs; k++)
					if (digest_equal(&e[j].m->refs[k],
					                 &e[i].digest)) {
						e[i].keep = changed = true;
						break;
					}
			}
		}
	}
}

/* True if the file at @path changed (ctime) less than @delay_ms ago. */
static bool is_young(const char *path, uint64_t delay_ms)
{
	struct stat sb;
	uint64_t ct;

	if (stat(path, &sb) < 0)
		return true; /* cannot tell: leave it */
	ct = clock_ts_ms(&sb.st_ctim);
	return clock_age_wall_of(ct) + delay_ms > clock_age_wall_ms();
}

/* Deepest nesting of indexes that marking follows. */
#define GC_DEPTH_MAX 8

/* Values in the mark set: a blob kept, or a manifest kept and followed. */
#define MARK_BLOB ((void *)1)
#define MARK_TREE ((void *)2)

/*
 * Add @d and everything it names to @set, following indexes down to
 * children that index.json does not list (as in multi-platform layouts).
 * Fails (ERR_NOT_FOUND, ERR_INVALID, ERR_NOMEM) when a manifest of the
 * tree cannot be read or nests deeper than GC_DEPTH_MAX: what it names is
 * then unknown, so nothing may be swept.
 */
static int mark_tree(struct store *st, const char *repo, struct hmap *set,
                     const struct digest *d, int depth, struct err *err)
{
	char key[DIGEST_STR_MAX];
	const struct msum *m;
	int ret = -1;

	digest_format(d, key);
	if (hmap_get(set, key) == MARK_TREE)
		return 0;
	if (depth > GC_DEPTH_MAX)
		return err_set(err, ERR_INVALID,
		               "manifest %s nests indexes deeper than %d", key,
		               GC_DEPTH_MAX);
	if (hmap_put(set, key, MARK_TREE) < 0)
		return err_set(err, ERR_NOMEM, "cannot plan gc");
	m = msum_get(st, repo, d, err);
	if (!m) {
		err_prefix(err, "cannot read manifest %s", key);
		return -1;
	}
	for (size_t k = 0; k < m->nrefs; k++) {
		if (m->is_index) {
			if (mark_tree(st, repo, set, &m->refs[k], depth + 1,
			              err) < 0)
				goto out;
			continue;
		}
		digest_format(&m->refs[k], key);
		if (!hmap_get(set, key) && hmap_put(set, key, MARK_BLOB) < 0) {
			err_set(err, ERR_NOMEM, "cannot plan gc");
			goto out;
		}
	}
	ret = 0;
out:
	msum_put(st, m);
	return ret;
}

/* What sweep_one() works with. */
struct sweep_ctx {
	struct store *st;           /* the store */
	struct repo *r;             /* whose blobs; its lock is held */
	struct hmap *set;           /* digests to keep */
	const struct gc_opts *opts; /* delay, dry run */
	struct gc_report *rep;      /* counts */
	struct err *err;            /* the caller's */
};

void gc_audit(const char *action, const char *repo, const char *ref,
              const struct digest *d, const struct err *err)
{
	char dstr[DIGEST_STR_MAX];
	bool ok = !err || err->code == ERR_OK;

	if (!log_audit_on())
		return;
	if (d)
		digest_format(d, dstr);
	log_audit(&(struct audit_rec){
		.action = action,
		.subject = "gc",
		.client = "gc",
		.uid = -1,
		.repository = repo,
		.reference = ref,
		.digest = d ? dstr : NULL,
		.ok = ok,
		.error = ok ? NULL : err->msg,
	});
}

/* Remove one blob file unless it is kept or young. */
static int sweep_one(const struct blob_file *bf, void *arg)
{
	struct sweep_ctx *c = arg;
	int ret;

	if (hmap_get(c->set, bf->dstr) || is_young(bf->path, c->opts->delay_ms))
		return 0;
	log_debug("%s%s: blob %s is unreferenced",
	          c->opts->dry_run ? "dry run: " : "", c->r->name, bf->dstr);
	c->rep->blobs++;
	if (c->opts->dry_run)
		return 0;
	if (unlink(bf->path) < 0 && errno != ENOENT) {
		err_set_errno(c->err, errno, "cannot remove '%s'", bf->path);
		gc_audit("gc.blob", c->r->name, NULL, &bf->digest, c->err);
		return -1;
	}
	store_blob_changed(c->st, c->r->name, &bf->digest);
	ret = idx_blob_removed(c->st, c->r->name, &bf->digest, c->err);
	gc_audit("gc.blob", c->r->name, NULL, &bf->digest,
	         ret < 0 ? c->err : NULL);
	return ret;
}

/*
 * The set of digests the kept entries of @e name, through every level of
 * index, or NULL (with @err) when that cannot be known for sure.
 */
static struct hmap *mark_kept(struct store *st, struct repo *r,
                              const struct gc_entry *e, size_t n,
                              struct err *err)
{
	struct hmap *set = hmap_new();

	if (!set) {
		err_set(err, ERR_NOMEM, "cannot plan gc");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (e[i].keep &&
		    mark_tree(st, r->name, set, &e[i].digest, 0, err) < 0) {
			hmap_free(set);
			return NULL;
		}
	return set;
}

/* A copy of @r's index.json listing only the kept entries of @e. */
static json_t *index_kept(struct repo *r, const struct gc_entry *e, size_t n,
                          struct err *err)
{
	json_t *mans = json_object_get(r->index, "manifests");
	json_t *index = json_deep_copy(r->index), *kept = json_array();

	if (!index || !kept)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (e[i].keep &&
		    json_array_append(kept, json_array_get(mans, i)) < 0)
			goto nomem;
	if (json_object_set_new(index, "manifests", kept) < 0) {
		kept = NULL; /* consumed even on failure */
		goto nomem;
	}
	return index;
nomem:
	json_decref(kept);
	json_decref(index);
	err_set(err, ERR_NOMEM, "cannot plan gc");
	return NULL;
}

/* Release the summaries held by @e. */
static void entries_free(struct store *st, struct gc_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		msum_put(st, e[i].m);
	free(e);
}

/*
 * Read the summaries of @r's manifests (and of the children of its
 * indexes) before @r's lock is taken: reading and hashing every manifest
 * file, at idle I/O priority, would otherwise happen with the lock held,
 * and manifest requests on @r would wait behind it. Only a warm-up of the
 * cache: what fails here is met again, and judged, under the lock; a
 * repository with more manifests than the cache holds is not warmed.
 */
static void warm_summaries(struct store *st, struct repo *r)
{
	size_t room = st->opts.msum_cache_max ? st->opts.msum_cache_max
	                                      : MSUM_CACHE_MAX;
	struct err ignored = ERR_INIT;
	struct digest *ds = NULL;
	json_t *entry;
	size_t n = 0, i;

	repo_lock_read(st, r);
	if (repo_load(st, r, &ignored) == 0) {
		json_t *mans = json_object_get(r->index, "manifests");

		/* More than half the cache would be evicted before use. */
		if (json_array_size(mans) <= room / 2)
			ds = calloc(json_array_size(mans) + 1, sizeof(*ds));
		json_array_foreach(mans, i, entry)
		{
			if (ds && entry_digest(entry, &ds[n]))
				n++;
		}
	}
	repo_unlock(st, r);
	for (i = 0; i < n; i++) {
		const struct msum *m = msum_get(st, r->name, &ds[i], &ignored);

		for (size_t k = 0; m && m->is_index && k < m->nrefs; k++)
			msum_put(st,
			         msum_get(st, r->name, &m->refs[k], &ignored));
		msum_put(st, m);
	}
	if (n)
		test_hold("gc", r->name);
	free(ds);
}

/*
 * Plan, then change. Every manifest that could keep something must be read
 * before anything is removed: one that cannot (a missing or corrupt blob,
 * an index entry without a digest, indexes nested too deep) fails the
 * repository's pass with nothing removed, since what it names is unknown.
 */
int store_gc_repo(struct store *st, const char *repo,
                  const struct gc_opts *opts, struct gc_report *rep,
                  struct err *err)
{
	struct gc_entry *e = NULL;
	json_t *mans, *entry, *index = NULL;
	const struct store_policy *pol;
	uint64_t untagged_delay = opts->delay_ms;
	struct hmap *set = NULL;
	struct repo *r;
	size_t n = 0, i, removed = 0;
	int ret = -1;

	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	warm_summaries(st, r);
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		return -1;
	}
	if (repo_load(st, r, err) < 0)
		goto out;
	pol = opts->retention ? retention_policy(opts->retention, repo) : NULL;
	if (pol) {
		if (retention_apply(st, r, pol,
		                    opts->dry_run || opts->retention->dry_run,
		                    &rep->tags, err) < 0)
			goto out;
		/* zot's retention.delay governs untagged manifests. */
		untagged_delay = opts->retention->delay_ms;
	}
	mans = json_object_get(r->index, "manifests");
	n = json_array_size(mans);
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e) {
		err_set(err, ERR_NOMEM, "cannot plan gc");
		goto out;
	}
	json_array_foreach(mans, i, entry)
	{
		char ds[DIGEST_STR_MAX];

		if (!entry_digest(entry, &e[i].digest)) {
			err_set(err, ERR_INVALID,
			        "index.json entry %zu has no valid digest", i);
			goto out_refused;
		}
		e[i].tagged = entry_tag(entry) != NULL;
		e[i].m = msum_get(st, repo, &e[i].digest, err);
		if (!e[i].m) {
			digest_format(&e[i].digest, ds);
			err_prefix(err, "cannot read manifest %s", ds);
			goto out_refused;
		}
		/* Policies can spare untagged manifests and orphan
		 * referrers. */
		e[i].pinned = pol &&
		              (!pol->delete_untagged ||
		               (!pol->delete_referrers && e[i].m->has_subject));
	}
	gc_plan(e, n);
	/* Young untagged manifests stay too (a push may be in progress). */
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (!e[i].keep &&
		    (blob_path(st, repo, &e[i].digest, path, sizeof(path),
		               err) < 0 ||
		     is_young(path, untagged_delay)))
			e[i].keep = true;
		if (!e[i].keep)
			removed++;
	}
	set = mark_kept(st, r, e, n, err);
	if (!set)
		goto out_refused;
	if (removed && !opts->dry_run && !(pol && opts->retention->dry_run)) {
		int saved;

		index = index_kept(r, e, n, err);
		/* index.json first: then nothing names the blobs we drop. */
		saved = index ? repo_save(st, r, index, err) : -1;
		index = NULL;
		for (i = 0; i < n; i++)
			if (!e[i].keep)
				gc_audit("gc.manifest", repo, NULL,
				         &e[i].digest, saved < 0 ? err : NULL);
		if (saved < 0)
			goto out;
	}
	rep->manifests += removed;
	if (removed)
		log_info("%s%s: %zu unreferenced manifests",
		         opts->dry_run ? "dry run: " : "", repo, removed);
	struct sweep_ctx c = {st, r, set, opts, rep, err};

	ret = repo_each_blob(st, r->name, sweep_one, &c) ? -1 : 0;
	goto out;
out_refused:
	/* The repository exists; what it holds is damaged or unreadable. */
	if (err->code == ERR_NOT_FOUND || err->code == ERR_INVALID)
		err->code = ERR_IO;
	err_prefix(err, "nothing removed from '%s'", repo);
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	hmap_free(set);
	json_decref(index);
	entries_free(st, e, n);
	return ret;
}

/*
 * Remove content store copies that no repository links any more. A link
 * count alone decides nothing (another node may link the copy right
 * after it was read): a copy also has to be older than the delay by
 * ctime, which every link(2) to it renews. And a copy removed as another
 * node links it loses no data: the repository's link keeps the inode,
 * and cas_link() meets ENOENT by entering its own copy.
 */
static int sweep_store(struct store *st, const struct gc_opts *opts,
                       struct gc_report *rep, struct err *err)
{
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		char dir[PATH_MAX], path[PATH_MAX];
		struct dirent *de;
		DIR *d;

		if (snprintf(dir, sizeof(dir), "%s/%s", st->casdir,
		             digest_alg_name((enum digest_alg)a)) >=
		    (int)sizeof(dir))
			continue;
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			struct stat sb;

			if (de->d_name[0] == '.' ||
			    snprintf(path, sizeof(path), "%s/%s", dir,
			             de->d_name) >= (int)sizeof(path) ||
			    stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) ||
			    sb.st_nlink > 1 || is_young(path, opts->delay_ms))
				continue;
			rep->store_blobs++;
			rep->bytes += (uint64_t)sb.st_size;
			if (!opts->dry_run && unlink(path) < 0 &&
			    errno != ENOENT) {
				closedir(d);
				return err_set_errno(err, errno,
				                     "cannot remove '%s'", path);
			}
		}
		closedir(d);
	}
	return 0;
}

/* What sweep_lock() works with. */
struct locks_ctx {
	struct store *st;
	size_t root_len; /* of "<root>/.dray/locks/" */
	struct gc_report *rep;
};

/*
 * Remove the lock file of a repository that is gone: only while holding
 * it, and only if the repository's directory is still missing then.
 * lock_path() makes a node that waited on the removed file take the new
 * one instead.
 */
static _Thread_local struct locks_ctx *locks_at;

static int sweep_lock(const char *path, const struct stat *sb, int type,
                      struct FTW *ftw)
{
	struct locks_ctx *c = locks_at;
	char name[PATH_MAX], dir[PATH_MAX];
	struct err ignored = ERR_INIT;
	size_t len = strlen(path);
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode) || len <= c->root_len + 5 ||
	    strcmp(path + len - 5, ".lock"))
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)(len - c->root_len - 5),
	         path + c->root_len);
	if (snprintf(dir, sizeof(dir), "%s/%s", c->st->root, name) >=
	            (int)sizeof(dir) ||
	    access(dir, F_OK) == 0)
		return 0;
	fd = lock_path(path, false, &ignored);
	if (fd < 0)
		return 0; /* in use: the next pass */
	if (access(dir, F_OK) < 0 && errno == ENOENT && unlink(path) == 0) {
		log_debug("lock file of '%s', which is gone, removed", name);
		c->rep->locks++;
	}
	close(fd);
	return 0;
}

/* The upkeep of a shared tree that the GC lease holder does. */
static void sweep_shared(struct store *st, const struct gc_opts *opts,
                         struct gc_report *rep)
{
	char dir[PATH_MAX];
	struct err err = ERR_INIT;
	struct locks_ctx c = {st, 0, rep};
	int n;

	if (!st->shared || opts->dry_run)
		return;
	n = snprintf(dir, sizeof(dir), "%s/.dray/locks/", st->root);
	if (n > 0 && n < (int)sizeof(dir)) {
		c.root_len = (size_t)n;
		locks_at = &c;
		if (nftw(dir, sweep_lock, 16, FTW_PHYS) < 0 && errno != ENOENT)
			log_warn("lock files: %s", strerror(errno));
		locks_at = NULL;
	}
	n = sweep_dead_nodes(st, opts->delay_ms, &err);
	if (n < 0)
		log_warn("staging of nodes that are gone: %s", err.msg);
	else
		rep->nodes += (size_t)n;
}

int store_gc(struct store *st, const struct gc_opts *opts,
             bool (*yield)(void *arg), void *arg, struct gc_report *rep,
             struct err *err)
{
	struct strvec repos = {0};
	int ret = -1, held;

	/* One node of those sharing the tree collects (lease.h). */
	held = store_lease_take(st, STORE_LEASE_GC, err);
	if (held <= 0) {
		rep->skipped = held == 0;
		if (held < 0)
			return -1;
		log_debug("gc: another node holds the lease");
		/* Sessions open on this node are its own to end. */
		if (!opts->dry_run)
			rep->uploads += store_upload_expire(st, opts->delay_ms);
		return 0;
	}
	/* Retention reads pull times from the index. */
	if (pull_flush(st, err) < 0 || store_walk(st, &repos, err) < 0)
		goto out;
	progress_note(opts->progress, "repositories", 0, repos.n, 0, 0);
	for (size_t i = 0; i < repos.n; i++) {
		if (yield && yield(arg)) {
			ret = 0;
			goto out;
		}
		if (store_gc_repo(st, repos.v[i], opts, rep, err) < 0) {
			/* One bad repository does not stop the others. */
			log_warn("gc of '%s' failed: %s", repos.v[i], err->msg);
			*err = ERR_INIT;
		}
		progress_note(opts->progress, "repositories", i + 1, repos.n,
		              rep->bytes, 0);
	}
	if (sweep_store(st, opts, rep, err) < 0)
		goto out;
	progress_note(opts->progress, "repositories", repos.n, repos.n,
	              rep->bytes, 0);
	if (!opts->dry_run)
		rep->uploads += store_upload_expire(st, opts->delay_ms);
	sweep_shared(st, opts, rep);
	ret = 0;
out:
	strvec_release(&repos);
	return ret;
}
