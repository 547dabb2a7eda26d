/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - opening the store, repositories and their index.json cache,
 * the catalog and tag lists.
 *
 * index.json is re-read only when stat says it changed (device, inode,
 * size or mtime), so a layout edited behind dray's back is noticed at the
 * next request without parsing it on every one. Layouts placed by hand
 * enter the catalog through a reconcile: one at a time, in the background
 * when a catalog request sees the root change (reconciler()).
 */
#define _GNU_SOURCE /* mkdtemp, O_DIRECTORY */
#define LOG_MODULE "store"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/opstat.h"
#include "daemon/ref.h"
#include "daemon/testhold.h"
#include <openssl/rand.h>
#include <xxhash.h>

#include "daemon/live.h"
#include "index/store_int.h"

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	"\",\"manifests\":[]}";

bool store_mt_is_image(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 ||
	              strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

bool store_mt_is_index(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_INDEX) == 0 ||
	              strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool store_mt_is_manifest(const char *mt)
{
	return store_mt_is_image(mt) || store_mt_is_index(mt);
}

static int reconcile(struct store *st, const char *why, bool note_mtime,
                     struct err *err);

int strvec_push(struct strvec *sv, const char *s)
{
	char *copy;

	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			return -1;
		sv->v = v;
		sv->cap = cap;
	}
	copy = strdup(s);
	if (!copy)
		return -1;
	sv->v[sv->n++] = copy;
	return 0;
}

void strvec_release(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	*sv = (struct strvec){0};
}

int repo_path(const struct store *st, const char *repo, const char *sub,
              char *out, size_t outsz, struct err *err)
{
	int n = snprintf(out, outsz, "%s/%s%s%s", st->root, repo,
	                 sub ? "/" : "", sub ? sub : "");

	if (n < 0 || (size_t)n >= outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

int blob_path(const struct store *st, const char *repo,
              const struct digest *d, char *out, size_t outsz,
              struct err *err)
{
	int n = snprintf(out, outsz, "%s/%s/blobs/%s/%s", st->root, repo,
	                 digest_alg_name(d->alg), d->hex);

	if (n < 0 || (size_t)n >= outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

static int clear_dir(const char *path, struct err *err)
{
	if (fs_remove_tree(path, err) < 0)
		return -1;
	return fs_mkdir_p(path, 0755, err);
}

/*
 * One process per storage root (per index directory, where several nodes
 * share the tree): a second one would clear the first one's staging files
 * and fight over the index. The lock goes with the process, so a crash
 * leaves nothing to clean.
 */
static int lock_root(struct store *st, const char *dray_dir, struct err *err)
{
	char path[PATH_MAX], pid[24];
	int n;

	if (snprintf(path, sizeof(path), "%s/lock", dray_dir) >=
	    (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (st->lock_fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)pread(st->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return err_set(
			err, ERR_BUSY,
			"storage '%s' is in use by another dray (pid %s)",
			st->shared ? st->nodedir : st->root,
			pid[0] ? pid : "?");
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) == 0 &&
	    pwrite(st->lock_fd, pid, (size_t)n, 0) != n)
		return err_set_errno(err, errno, "cannot write '%s'", path);
	return 0;
}

/*
 * This node's temporaries on a shared tree: <root>/.dray/tmp/<id>, the id
 * made once and kept in <nodedir>/node-id, so that clearing them at start
 * leaves other nodes' alone.
 */
static int node_tmpdir(struct store *st, struct err *err)
{
	char path[PATH_MAX], *id = NULL;
	unsigned char rnd[8];
	size_t len;
	int ret = -1;
	struct err e2 = ERR_INIT;

	if (snprintf(path, sizeof(path), "%s/node-id", st->nodedir) >=
	    (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");

	if (fs_read_file(path, 64, &id, &len, &e2) < 0) {
		char hex[2 * sizeof(rnd) + 2];

		if (e2.code != ERR_NOT_FOUND) {
			*err = e2;
			return -1;
		}
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return err_set(err, ERR_INTERNAL, "no random bytes");
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		strcat(hex, "\n");
		if (fs_write_atomic(st->nodedir, path, hex, strlen(hex), err) <
		    0)
			return -1;
		hex[2 * sizeof(rnd)] = '\0';
		id = strdup(hex);
		if (!id)
			return err_set(err, ERR_NOMEM, "cannot allocate");
	}
	id[strcspn(id, "\n")] = '\0';
	if (strlen(id) != 2 * sizeof(rnd) ||
	    strspn(id, "0123456789abcdef") != 2 * sizeof(rnd)) {
		err_set(err, ERR_INVALID, "'%s' holds no node id", path);
		goto out;
	}
	if (snprintf(st->tmpdir, sizeof(st->tmpdir), "%s/.dray/tmp/%s",
	             st->root, id) >= (int)sizeof(st->tmpdir)) {
		err_set(err, ERR_TOO_LARGE, "storage root path too long");
		goto out;
	}
	snprintf(st->node_id, sizeof(st->node_id), "%s", id);
	ret = 0;
out:
	free(id);
	return ret;
}

struct store *store_open(const char *root, struct err *err)
{
	return store_open_with(root, NULL, err);
}

struct store *store_open_with(const char *root, const struct store_opts *opts,
                              struct err *err)
{
	struct store *st = calloc(1, sizeof(*st));
	char dir[PATH_MAX];

	if (!st) {
		err_set(err, ERR_NOMEM, "cannot allocate store");
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->aio_lock, NULL);
	pthread_mutex_init(&st->rc_run, NULL);
	pthread_mutex_init(&st->rc_lock, NULL);
	pthread_cond_init(&st->rc_wake, NULL);
	st->lock_fd = -1;
	if (lease_init(st, err) < 0)
		goto fail;
	st->opts = opts ? *opts : (struct store_opts){.dedupe = true};
	st->repos = hmap_new();
	st->uploads = hmap_new();
	st->up_repos = hmap_new();
	st->msums = hmap_new();
	st->pulls = hmap_new();
	st->pending = hmap_new();
	if (!st->repos || !st->uploads || !st->up_repos || !st->msums ||
	    !st->pulls || !st->pending) {
		err_set(err, ERR_NOMEM, "cannot allocate store");
		goto fail;
	}
	if (store_rules_init(st, err) < 0)
		goto fail;
	if (fs_mkdir_p(root, 0755, err) < 0)
		goto fail;
	st->root = realpath(root, NULL);
	if (!st->root) {
		err_set_errno(err, errno, "cannot resolve '%s'", root);
		goto fail;
	}
	if (snprintf(st->tmpdir, sizeof(st->tmpdir), "%s/.dray/tmp",
	             st->root) >= (int)sizeof(st->tmpdir) ||
	    snprintf(st->updir, sizeof(st->updir), "%s/.dray/uploads",
	             st->root) >= (int)sizeof(st->updir) ||
	    snprintf(st->casdir, sizeof(st->casdir), "%s/.dray/blobs",
	             st->root) >= (int)sizeof(st->casdir) - 16 ||
	    snprintf(dir, sizeof(dir), "%s/.dray", st->root) >=
	            (int)sizeof(dir) ||
	    snprintf(st->nodedir, sizeof(st->nodedir), "%s",
	             st->opts.index_dir ? st->opts.index_dir : dir) >=
	            (int)sizeof(st->nodedir)) {
		err_set(err, ERR_TOO_LARGE, "storage root path too long");
		goto fail;
	}
	st->shared = st->opts.index_dir != NULL;
	if (!st->opts.recheck_ms)
		st->opts.recheck_ms = 1000;
	if (!st->opts.repo_cache)
		st->opts.repo_cache = STORE_REPO_CACHE;
	st->opts.index_dir = NULL; /* borrowed: nodedir is the copy */
	if (fs_mkdir_p(dir, 0700, err) < 0 ||
	    fs_mkdir_p(st->nodedir, 0700, err) < 0 ||
	    lock_root(st, st->nodedir, err) < 0 ||
	    (st->shared && node_tmpdir(st, err) < 0) ||
	    (st->shared && node_alive(st, err) < 0))
		goto fail;
	/* Sessions parked by a clean stop resume; other staging is junk. */
	if (clear_dir(st->tmpdir, err) < 0 ||
	    upload_restore_all(st, err) < 0)
		goto fail;
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		if (snprintf(dir, sizeof(dir), "%s/%s", st->casdir,
		             digest_alg_name((enum digest_alg)a)) >=
		            (int)sizeof(dir) ||
		    fs_mkdir_p(dir, 0755, err) < 0)
			goto fail;
	}
	if (idx_open(st, st->opts.rebuild_index, err) < 0 ||
	    (!st->opts.no_reconcile && reconcile(st, "open", true, err) < 0))
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

static int free_repo(const char *key, void *val, void *arg)
{
	struct repo *r = val;

	(void)key;
	(void)arg;
	pthread_mutex_destroy(&r->lock);
	json_decref(r->index);
	strvec_release(&r->tags);
	free(r->dropped);
	free(r->name);
	free(r);
	return 0;
}

static int free_msum(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	msum_free(val);
	return 0;
}

static int free_pending(const char *key, void *val, void *arg)
{
	struct pending *p = val;

	(void)key;
	(void)arg;
	free(p->buf);
	free(p);
	return 0;
}

static int park_upload(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	upload_park(val);
	return 0;
}

/* End the background reconcile, if it was started (at close). */
static void reconciler_stop(struct store *st)
{
	bool started;

	pthread_mutex_lock(&st->rc_lock);
	__atomic_store_n(&st->rc_stop, true, __ATOMIC_RELAXED);
	started = st->rc_started;
	st->rc_started = false;
	pthread_cond_signal(&st->rc_wake);
	pthread_mutex_unlock(&st->rc_lock);
	if (started)
		pthread_join(st->rc_thread, NULL);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	reconciler_stop(st);
	if (st->uploads) {
		/* Parked or ended; upload_end() finds no map to edit. */
		struct hmap *ups = st->uploads;
		st->uploads = NULL;
		hmap_each(ups, park_upload, NULL);
		if (hmap_count(ups))
			upload_park_sync(st);
		hmap_free(ups);
	}
	hmap_free(st->up_repos);
	if (st->repos) {
		hmap_each(st->repos, free_repo, NULL);
		hmap_free(st->repos);
	}
	if (st->msums) {
		hmap_each(st->msums, free_msum, NULL);
		hmap_free(st->msums);
	}
	if (st->pulls) {
		struct err ignored = ERR_INIT;

		if (pull_flush(st, &ignored) < 0)
			log_warn("pull times not saved: %s", ignored.msg);
		hmap_free(st->pulls);
	}
	if (st->pending) {
		hmap_each(st->pending, free_pending, NULL);
		hmap_free(st->pending);
	}
	idx_close(st);
	lease_close(st);
	blob_aio_drain(st);
	pthread_mutex_destroy(&st->aio_lock);
	live_free(st->rules);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->rc_wake);
	pthread_mutex_destroy(&st->rc_lock);
	pthread_mutex_destroy(&st->rc_run);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->root);
	free(st);
}

/* The root's mtime in ns, or 0 when it cannot be read. */
static uint64_t root_mtime(struct store *st)
{
	struct stat sb;

	return stat(st->root, &sb) == 0 ? clock_ts_ns(&sb.st_mtim) : 0;
}

/*
 * Walk the tree and bring the index in line (@why names the cause, for
 * the log). One at a time: the caller holds none of the store's locks.
 * The root's mtime is noted before the walk, so a change during it is
 * either seen by the walk or asks for the next reconcile.
 */
static int reconcile(struct store *st, const char *why, bool note_mtime,
                     struct err *err)
{
	struct idx_stats stats;
	uint64_t t0;
	int ret = -1;

	pthread_mutex_lock(&st->rc_run);
	log_debug("index reconcile started (%s)", why);
	test_hold("reconcile", why);
	t0 = clock_mono_ms();
	if (note_mtime) {
		uint64_t m = root_mtime(st);

		pthread_mutex_lock(&st->rc_lock);
		st->root_mtime_ns = m;
		pthread_mutex_unlock(&st->rc_lock);
	}
	if (idx_reconcile(st, &stats, err) < 0)
		goto out;
	__atomic_add_fetch(&st->rc_runs, 1, __ATOMIC_RELAXED);
	log_info("index reconciled: %zu repositories, %zu re-indexed, %zu "
	         "dropped, %llu ms (%s)",
	         stats.repos, stats.changed, stats.dropped,
	         (unsigned long long)(clock_mono_ms() - t0), why);
	ret = 0;
out:
	pthread_mutex_unlock(&st->rc_run);
	return ret;
}

int store_reconcile(struct store *st, struct err *err)
{
	return reconcile(st, "asked for", true, err);
}

/*
 * The background reconcile: runs each one store_catalog() asked for,
 * never more than one at a time, until store_close(). Requests do not
 * wait for it; they answer from the index as it is.
 */
static void *reconciler(void *arg)
{
	struct store *st = arg;

	pthread_setname_np(pthread_self(), "dray-reconcile");
	pthread_mutex_lock(&st->rc_lock);
	for (;;) {
		struct err err = ERR_INIT;
		int rc;

		while (!st->rc_wanted && !st->rc_stop)
			pthread_cond_wait(&st->rc_wake, &st->rc_lock);
		if (st->rc_stop)
			break;
		st->rc_wanted = false;
		st->rc_running = true;
		pthread_mutex_unlock(&st->rc_lock);
		/* store_catalog() noted the mtime it saw when it asked. */
		rc = reconcile(st, "root changed", false, &err);
		if (rc < 0 && err.code != ERR_BUSY)
			log_err("background reconcile: %s", err.msg);
		pthread_mutex_lock(&st->rc_lock);
		st->rc_running = false;
		/* Failed: the next catalog request asks again. */
		if (rc < 0)
			st->root_mtime_ns = 0;
	}
	st->rc_running = false;
	pthread_mutex_unlock(&st->rc_lock);
	return NULL;
}

/*
 * Ask for a background reconcile if the root changed since the last one
 * was asked for or started: once per change, however many ask.
 */
static void reconcile_if_root_changed(struct store *st)
{
	uint64_t m = root_mtime(st);
	int rc;

	pthread_mutex_lock(&st->rc_lock);
	if (m == st->root_mtime_ns || st->rc_stop)
		goto out;
	if (!st->rc_started) {
		rc = pthread_create(&st->rc_thread, NULL, reconciler, st);
		if (rc != 0) {
			/* The periodic reconcile picks the change up. */
			log_warn("cannot start the background reconcile: %s",
			         strerror(rc));
			goto out;
		}
		st->rc_started = true;
	}
	st->root_mtime_ns = m;
	st->rc_wanted = true;
	st->rc_queued++;
	log_info("index reconcile queued: the storage root changed");
	pthread_cond_signal(&st->rc_wake);
out:
	pthread_mutex_unlock(&st->rc_lock);
}

void store_reconcile_stats(struct store *st, struct store_reconcile_stats *out)
{
	pthread_mutex_lock(&st->rc_lock);
	out->queued = st->rc_queued;
	out->busy = st->rc_wanted || st->rc_running;
	pthread_mutex_unlock(&st->rc_lock);
	out->runs = __atomic_load_n(&st->rc_runs, __ATOMIC_RELAXED);
}

/*
 * The in-memory record of repository @name, created on first use. Holding
 * it does not mean a layout exists.
 */
struct repo *repo_ref(struct store *st, const char *name, struct err *err)
{
	struct repo *r;

	if (ref_name_check(name, err) < 0)
		return NULL;
	pthread_mutex_lock(&st->lock);
	r = hmap_get(st->repos, name);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (r && !(r->name = strdup(name))) {
			free(r);
			r = NULL;
		}
		if (r) {
			pthread_mutex_init(&r->lock, NULL);
			r->lock_fd = -1;
			if (hmap_put(st->repos, name, r) < 0) {
				free_repo(NULL, r, NULL);
				r = NULL;
			}
		}
	}
	if (r)
		r->refs++;
	pthread_mutex_unlock(&st->lock);
	if (!r)
		err_set(err, ERR_NOMEM, "cannot track repository");
	return r;
}

void repo_unref(struct store *st, struct repo *r)
{
	bool drop;

	if (!r)
		return;
	pthread_mutex_lock(&st->lock);
	/*
	 * With no holder left nobody can be inside r->lock, so its fields
	 * can be read here. What is dropped is only a cache: the next
	 * repo_ref() builds it again from the disk. What the mount keeps
	 * here (a note on a dropped index.json, the state of a copy's
	 * oci-layout) is kept, as nothing on disk says it again.
	 */
	drop = --r->refs == 0 && !r->dropped && !r->layout_came &&
	       !r->layout_hidden &&
	       (!r->loaded || hmap_count(st->repos) > st->opts.repo_cache);
	if (drop)
		hmap_del(st->repos, r->name);
	pthread_mutex_unlock(&st->lock);
	if (drop)
		free_repo(NULL, r, NULL);
}

static void repo_forget(struct repo *r)
{
	json_decref(r->index);
	r->index = NULL;
	r->loaded = false;
}

/*
 * Make r->index current, and the index's entries for it too when the file
 * changed since it was indexed. Caller holds r->lock. ERR_NOT_FOUND when
 * the repository has no layout; ERR_IO when its index.json is
 * corrupt.
 */
int repo_load(struct store *st, struct repo *r, struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	json_error_t jerr;
	json_t *idx = NULL;
	char *buf = NULL;
	size_t len;
	int ret = -1;

	r->indexed_now = false;
	if (r->loaded && st->shared && r->lock_fd < 0 &&
	    clock_mono_ms() - r->checked_ms < st->opts.recheck_ms)
		return 0; /* a reader, and checked a moment ago */
	if (repo_path(st, r->name, "index.json", path, sizeof(path), err) < 0)
		return -1;
	r->checked_ms = clock_mono_ms();
	if (stat(path, &sb) < 0) {
		repo_forget(r);
		return err_set_errno(err, errno, "repository '%s'", r->name);
	}
	if (r->loaded && sb.st_dev == r->dev && sb.st_ino == r->ino &&
	    sb.st_size == r->size && sb.st_mtim.tv_sec == r->mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == r->mtime.tv_nsec)
		return 0;
	repo_forget(r);
	if (!repo_has_layout(st, r->name))
		return err_set(err, ERR_NOT_FOUND, "repository '%s' unknown",
		               r->name);
	if (fs_read_file(path, 64u << 20, &buf, &len, err) < 0)
		goto out;
	idx = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!idx || !json_is_object(idx) ||
	    !json_is_array(json_object_get(idx, "manifests"))) {
		/* Broken storage is the server's problem, not the client's. */
		err_set(err, ERR_IO, "repository '%s': bad index.json%s%s",
		        r->name, idx ? "" : ": ", idx ? "" : jerr.text);
		goto out;
	}
	r->index = idx;
	idx = NULL;
	r->dev = sb.st_dev;
	r->ino = sb.st_ino;
	r->size = sb.st_size;
	r->mtime = sb.st_mtim;
	r->xxh3 = XXH3_64bits(buf, len);
	r->loaded = true;
	r->stale = !idx_repo_current(st, r->name, &sb, r->xxh3);
	if (r->stale && !st->opts.no_reconcile) {
		r->stale = false;
		r->indexed_now = true;
		if (idx_sync_repo(st, r, true, err) < 0) {
			repo_forget(r);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(idx);
	free(buf);
	return ret;
}

/*
 * Write @index as r's index.json (atomically) and make it the cached copy;
 * the store steals the reference to @index. Caller holds r->lock.
 */
int repo_save(struct store *st, struct repo *r, json_t *index,
              struct err *err)
{
	char *text = json_dumps(index, JSON_COMPACT);
	int ret;

	if (!text) {
		json_decref(index);
		return err_set(err, ERR_NOMEM, "cannot serialise index.json");
	}
	ret = repo_save_text(st, r, text, strlen(text), index, err);
	free(text);
	return ret;
}

int repo_save_text(struct store *st, struct repo *r, const char *text,
                   size_t len, json_t *index, struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	json_t *before = NULL;
	int ret = -1;

	if (st->opts.on_change) {
		struct err ignored = ERR_INIT;

		/* What it replaces, to tell what changed (none: no layout). */
		if (r->loaded || repo_load(st, r, &ignored) == 0)
			before = json_incref(r->index);
	}
	if (repo_path(st, r->name, "index.json", path, sizeof(path), err) < 0)
		goto out;
	store_notify(st, r->name, before, index);
	test_hold("indexspooled", r->name);
	if (fs_write_atomic(st->tmpdir, path, text, len, err) < 0) {
		store_notify_end(st, false);
		goto out;
	}
	test_hold("indexwritten", r->name);
	store_notify_end(st, true);
	store_changed(st, r->name, "index.json");
	repo_forget(r);
	r->index = index;
	index = NULL;
	if (stat(path, &sb) < 0) {
		/* Written but not cached: the next load re-reads it. */
		repo_forget(r);
		ret = 0;
		goto out;
	}
	r->dev = sb.st_dev;
	r->ino = sb.st_ino;
	r->size = sb.st_size;
	r->mtime = sb.st_mtim;
	r->xxh3 = XXH3_64bits(text, len);
	r->loaded = true;
	if (idx_sync_repo(st, r, false, err) < 0) {
		/* index.json is written; the index catches up on reload. */
		repo_forget(r);
		goto out;
	}
	ret = 0;
out:
	json_decref(before);
	json_decref(index);
	return ret;
}

int repo_write_marker(struct store *st, const char *name, struct err *err)
{
	char path[PATH_MAX];

	if (repo_path(st, name, "oci-layout", path, sizeof(path), err) < 0 ||
	    fs_write_atomic(st->tmpdir, path, oci_layout_json,
	                    strlen(oci_layout_json), err) < 0)
		return -1;
	catalog_changed(st);
	return 0;
}

static int write_file(const char *dir, const char *name, const char *text,
                      struct err *err)
{
	char path[PATH_MAX];
	int fd, ret;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set_errno(err, errno, "cannot create '%s'", path);
	ret = fs_write_all(fd, text, strlen(text), err);
	if (ret == 0 && fsync(fd) < 0)
		ret = err_set_errno(err, errno, "cannot sync '%s'", path);
	close(fd);
	return ret;
}

/* Turn the existing directory @dir into a layout; oci-layout last. */
static int layout_in_place(struct store *st, const char *dir, struct err *err)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/blobs/sha256", dir) >=
	    (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (fs_mkdir_p(path, 0755, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (access(path, F_OK) < 0 &&
	    fs_write_atomic(st->tmpdir, path, empty_index_json,
	                    strlen(empty_index_json), err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	if (access(path, F_OK) < 0 &&
	    fs_write_atomic(st->tmpdir, path, oci_layout_json,
	                    strlen(oci_layout_json), err) < 0)
		return -1;
	return 0;
}

/*
 * Create an empty layout for @name unless one exists. It is assembled in
 * the temporary directory and renamed into place, so the repository
 * directory is a complete layout from the moment it appears. Where the
 * directory exists already (it holds nested repositories), the layout is
 * built inside it with oci-layout written last: that file is what makes
 * a directory a repository.
 */
int repo_create(struct store *st, const char *name, struct err *err)
{
	char final[PATH_MAX], tmp[PATH_MAX], sub[PATH_MAX];
	char *slash;
	int ret = -1;

	if (repo_has_layout(st, name))
		return 0;
	if (repo_path(st, name, NULL, final, sizeof(final), err) < 0)
		return -1;
	if (access(final, F_OK) == 0) {
		if (layout_in_place(st, final, err) < 0)
			return -1;
		catalog_changed(st);
		return 0;
	}
	/* Parents of nested names are plain directories. */
	slash = strrchr(final, '/');
	*slash = '\0';
	if (fs_mkdir_p(final, 0755, err) < 0)
		return -1;
	*slash = '/';
	if (snprintf(tmp, sizeof(tmp), "%s/layout.XXXXXX", st->tmpdir) >=
	    (int)sizeof(tmp))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (!mkdtemp(tmp))
		return err_set_errno(err, errno, "cannot create '%s'", tmp);
	if (chmod(tmp, 0755) < 0) {
		err_set_errno(err, errno, "cannot chmod '%s'", tmp);
		goto out;
	}
	if (snprintf(sub, sizeof(sub), "%s/blobs/sha256", tmp) >=
	    (int)sizeof(sub)) {
		err_set(err, ERR_TOO_LARGE, "path too long");
		goto out;
	}
	if (fs_mkdir_p(sub, 0755, err) < 0 ||
	    write_file(tmp, "oci-layout", oci_layout_json, err) < 0 ||
	    write_file(tmp, "index.json", empty_index_json, err) < 0 ||
	    fs_fsync_dir(tmp, err) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			err_set_errno(err, errno, "cannot create '%s'", final);
			goto out;
		}
		/* Someone made the directory meanwhile: build inside. */
		if (layout_in_place(st, final, err) < 0)
			goto out;
	} else {
		tmp[0] = '\0';
	}
	if (fs_fsync_parent(final, err) < 0)
		goto out;
	catalog_changed(st);
	ret = 0;
out:
	if (tmp[0]) {
		struct err ignored = ERR_INIT;

		if (fs_remove_tree(tmp, &ignored) < 0)
			ignored.code = ERR_OK; /* store_open() clears tmp */
	}
	return ret;
}

/* Make sure <repo>/blobs/<alg> exists (a layout may lack sha512/). */
int repo_blob_dir(struct store *st, const char *repo, enum digest_alg alg,
                  struct err *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s/blobs/%s", st->root, repo,
	                 digest_alg_name(alg));

	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_set_errno(err, errno, "cannot create '%s'", path);
	return 0;
}

bool repo_has_layout(const struct store *st, const char *name)
{
	char path[PATH_MAX];
	struct err ignored = ERR_INIT;

	return repo_path(st, name, "oci-layout", path, sizeof(path),
	                 &ignored) == 0 &&
	       access(path, F_OK) == 0;
}

bool store_repo_exists(struct store *st, const char *repo)
{
	struct err ignored = ERR_INIT;

	return ref_name_check(repo, &ignored) == 0 && repo_has_layout(st, repo);
}

/*
 * On a tree other nodes share (storage.indexDirectory set), the lock is
 * also an OFD lock on the repository's lock file in the tree,
 * "<root>/.dray/locks/<repo>.lock" (lock_path()), so that it holds across
 * nodes; the mutex in front keeps this process's threads in turn (OFD
 * locks belong to an open file, not a thread), and each turn opens the
 * file anew, so that a lock is released by close() and no descriptor
 * stays open per repository. What the lock protects is read again after
 * it is taken: repo_load() stats index.json under it. A node that cannot
 * take it changes nothing: the caller fails with ERR_IO. Readers take
 * repo_lock_read() instead: no round trip to other nodes, and
 * repo_load() checks index.json at most every opts.recheck_ms.
 */
int repo_lock(struct store *st, struct repo *r, struct err *err)
{
	char path[PATH_MAX];

	opstat_lock(&r->lock); /* zot_storage_lock_latency_seconds */
	r->lock_fd = -1;
	if (!st->shared)
		return 0;
	if (snprintf(path, sizeof(path), "%s/.dray/locks/%s.lock", st->root,
	             r->name) >= (int)sizeof(path))
		err_set(err, ERR_TOO_LARGE, "path too long");
	else
		r->lock_fd = lock_path(path, true, err);
	if (r->lock_fd >= 0)
		return 0;
	log_err("repository '%s': no lock across nodes: %s", r->name, err->msg);
	pthread_mutex_unlock(&r->lock);
	err->code = ERR_IO;
	err_prefix(err, "repository '%s' cannot be locked across nodes",
	           r->name);
	return -1;
}

void repo_lock_read(struct store *st, struct repo *r)
{
	(void)st;
	opstat_lock(&r->lock); /* zot_storage_lock_latency_seconds */
	r->lock_fd = -1;
}

void repo_unlock(struct store *st, struct repo *r)
{
	(void)st;
	if (r->lock_fd >= 0) {
		close(r->lock_fd); /* releases the OFD lock */
		r->lock_fd = -1;
	}
	pthread_mutex_unlock(&r->lock);
}

/* Collect the repositories under <root>/@prefix, recursively. */
static int walk(struct store *st, const char *prefix, int depth,
                struct strvec *all, struct err *err)
{
	char dir[PATH_MAX], name[PATH_MAX];
	struct dirent *de;
	bool is_repo;
	DIR *d;
	int ret = 0;

	if (depth > 32)
		return 0;
	if (snprintf(dir, sizeof(dir), "%s%s%s", st->root, *prefix ? "/" : "",
	             prefix) >= (int)sizeof(dir))
		return 0;
	is_repo = *prefix && repo_has_layout(st, prefix);
	if (is_repo) {
		struct err ignored = ERR_INIT;

		if (ref_name_check(prefix, &ignored) == 0 &&
		    strvec_push(all, prefix) < 0)
			return err_set(err, ERR_NOMEM, "cannot list");
	}
	d = opendir(dir);
	if (!d)
		return 0; /* vanished or unreadable: not a repository */
	while (ret == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (is_repo && strcmp(de->d_name, "blobs") == 0)
			continue;
		if (snprintf(name, sizeof(name), "%s%s%s", prefix,
		             *prefix ? "/" : "", de->d_name) >= REF_NAME_MAX + 1)
			continue;
		ret = walk(st, name, depth + 1, all, err);
	}
	closedir(d);
	return ret;
}

void store_set_watch(struct store *st, void (*fn)(void *arg, const char *rel),
                     void *arg)
{
	if (fn)
		st->watch_arg = arg;
	__atomic_store_n(&st->watch, fn, __ATOMIC_RELEASE);
}

void store_changed(struct store *st, const char *repo, const char *sub)
{
	char rel[PATH_MAX];

	void (*fn)(void *, const char *) =
		__atomic_load_n(&st->watch, __ATOMIC_ACQUIRE);

	if (fn && snprintf(rel, sizeof(rel), "%s/%s", repo, sub) <
	                  (int)sizeof(rel))
		fn(st->watch_arg, rel);
}

void store_blob_changed(struct store *st, const char *repo,
                        const struct digest *d)
{
	char sub[DIGEST_STR_MAX + 8];

	snprintf(sub, sizeof(sub), "blobs/%s/%s", digest_alg_name(d->alg),
	         d->hex);
	store_changed(st, repo, sub);
}

int repo_each_blob(struct store *st, const char *repo,
                   int (*fn)(const struct blob_file *bf, void *arg),
                   void *arg)
{
	return repo_each_blob_new(st, repo, NULL, fn, arg);
}

int repo_each_blob_new(struct store *st, const char *repo,
                       bool (*known)(const char *dstr, void *arg),
                       int (*fn)(const struct blob_file *bf, void *arg),
                       void *arg)
{
	int ret = 0;

	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512 && !ret; a++) {
		const char *alg = digest_alg_name((enum digest_alg)a);
		char dir[PATH_MAX], path[PATH_MAX], dstr[DIGEST_STR_MAX];
		struct dirent *de;
		DIR *d;

		if (snprintf(dir, sizeof(dir), "%s/%s/blobs/%s", st->root, repo,
		             alg) >= (int)sizeof(dir))
			continue;
		d = opendir(dir);
		if (!d)
			continue;
		while (!ret && (de = readdir(d))) {
			struct err ignored = ERR_INIT;
			struct blob_file bf = {.dstr = dstr, .path = path};
			struct stat sb;

			if (snprintf(dstr, sizeof(dstr), "%s:%s", alg,
			             de->d_name) >= (int)sizeof(dstr) ||
			    digest_parse(&bf.digest, dstr, strlen(dstr),
			                 &ignored) < 0 ||
			    snprintf(path, sizeof(path), "%s/%s", dir,
			             de->d_name) >= (int)sizeof(path) ||
			    (known && known(dstr, arg)) || stat(path, &sb) < 0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			bf.sb = &sb;
			ret = fn(&bf, arg);
		}
		closedir(d);
	}
	return ret;
}

bool entry_digest(json_t *e, struct digest *out)
{
	struct err ignored = ERR_INIT;
	const char *ds = json_string_value(json_object_get(e, "digest"));

	return ds && digest_parse(out, ds, strlen(ds), &ignored) == 0;
}

const char *entry_tag(json_t *e)
{
	return json_string_value(json_object_get(
		json_object_get(e, "annotations"), ANN_REF_NAME));
}

int store_walk(struct store *st, struct strvec *out, struct err *err)
{
	return walk(st, "", 0, out, err);
}

int store_catalog(struct store *st, const char *last, size_t n,
                  struct strvec *out, bool *more, struct err *err)
{
	/*
	 * A layout copied in at the top level changes the root's mtime;
	 * on a shared tree both that and other nodes' repositories are
	 * checked at most once per recheck interval (catalog.c).
	 */
	if (catalog_recheck(st) >= 0)
		reconcile_if_root_changed(st);
	return idx_catalog(st, last, n, out, more, err);
}

int store_tags(struct store *st, const char *repo, const char *last,
               size_t n, struct strvec *out, bool *more, struct err *err)
{
	struct repo *r;
	int ret = -1;

	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	repo_lock_read(st, r);
	if (repo_load(st, r, err) < 0)
		goto out;
	/* The whole list is read from the index once per index change. */
	if (!r->tags_cached) {
		bool all;

		strvec_release(&r->tags);
		if (idx_tags(st, repo, NULL, SIZE_MAX, &r->tags, &all, err) < 0)
			goto out;
		r->tags_cached = true;
	}
	*more = false;
	for (size_t i = 0; i < r->tags.n; i++) {
		if (last && strcmp(r->tags.v[i], last) <= 0)
			continue;
		if (out->n == n) {
			*more = true;
			break;
		}
		if (strvec_push(out, r->tags.v[i]) < 0) {
			err_set(err, ERR_NOMEM, "cannot list tags");
			goto out;
		}
	}
	ret = 0;
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	return ret;
}

size_t store_upload_count(struct store *st)
{
	size_t n;

	pthread_mutex_lock(&st->lock);
	n = hmap_count(st->uploads);
	pthread_mutex_unlock(&st->lock);
	return n;
}
