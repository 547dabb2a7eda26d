/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload.c - upload sessions: start, take and give back, writes in
 * order (hashed as they come) or out of order, commit, cancel, expiry.
 *
 * A session holds its file open (and the blocks) only while a request
 * has it taken: between requests it is a few hundred bytes and a name,
 * and how many there are is capped (store_opts), so clients that open
 * sessions and walk away cannot run the process out of descriptors.
 * Commit verifies the digest, fsyncs, and hands the file to
 * blob_store_locked() (blob.c).
 */
#define _GNU_SOURCE /* sync_file_range */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <openssl/rand.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store_int.h"

void upload_free(struct upload *u)
{
	if (!u)
		return;
	if (u->aio) {
		struct err ignored = ERR_INIT;

		(void)aio_reap(u, &ignored);
		/* io_destroy() waits for what may still be in flight. */
		if (u->aio_lost)
			syscall(SYS_io_destroy, u->aio);
		else
			aio_put(u->st, u->aio);
	}
	if (u->fd >= 0)
		close(u->fd);
	free(u->blocks);
	hasher_free(u->sha256);
	free(u->repo);
	free(u);
}

int staging_path(const struct upload *u, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s", u->st->updir, u->id);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Open @u's staging file into u->fd. It goes direct (see the top) when
 * allowed and the upload stands at an aligned offset, as direct blocks
 * must start at one; otherwise through the page cache.
 */
static int upload_open(struct upload *u, int flags, struct err *err)
{
	char path[PATH_MAX];

	if (staging_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	/* A borrowed copy is the content store's: never opened to write. */
	u->fd = open(path,
	             (u->borrowed ? O_RDONLY : O_RDWR) | O_CLOEXEC | flags,
	             0644);
	if (u->fd < 0)
		return err_set_errno(err, errno, "cannot open upload");
	u->direct = false;
	/* Some file systems refuse O_DIRECT: those are written through the
	 * page cache, as are all with buffered_uploads, and a shared tree,
	 * where the file must hold every byte counted at each release (the
	 * next request may be another node's) and a network file system may
	 * fail a direct write only at fsync. */
	if (!u->st->opts.buffered_uploads && !u->st->shared && !u->scattered &&
	    !u->borrowed && u->offset % UPLOAD_ALIGN == 0) {
		int fl = fcntl(u->fd, F_GETFL);

		u->direct =
			fl >= 0 && fcntl(u->fd, F_SETFL, fl | O_DIRECT) == 0;
	}
	return 0;
}

/* Count a session of @repo in; ERR_BUSY past a cap. Under st->lock. */
int count_in(struct store *st, const char *repo, struct err *err)
{
	uintptr_t n = (uintptr_t)hmap_get(st->up_repos, repo);
	size_t cap = st->opts.max_uploads_per_repo;

	if (st->opts.max_uploads &&
	    hmap_count(st->uploads) >= st->opts.max_uploads)
		return err_set(err, ERR_BUSY, "too many upload sessions (%zu)",
		               st->opts.max_uploads);
	if (cap && n >= cap)
		return err_set(err, ERR_BUSY,
		               "too many upload sessions for '%s' (%zu)", repo,
		               cap);
	if (hmap_put(st->up_repos, repo, (void *)(n + 1)) < 0)
		return err_set(err, ERR_NOMEM, "cannot start upload");
	return 0;
}

/* Undo count_in(). Under st->lock. */
void count_out(struct store *st, const char *repo)
{
	uintptr_t n = (uintptr_t)hmap_get(st->up_repos, repo);

	/* Replacing the value of a key present allocates nothing. */
	if (n <= 1)
		hmap_del(st->up_repos, repo);
	else if (hmap_put(st->up_repos, repo, (void *)(n - 1)) < 0)
		assert(!"hmap_put() failed on a key present");
}

int store_upload_start(struct store *st, const char *repo,
                       char id[STORE_UPLOAD_ID_MAX], struct err *err)
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char rnd[UPLOAD_ID_LEN / 2];
	struct upload *u;
	size_t pruned;
	int rc;

	if (ref_name_check(repo, err) < 0)
		return -1;
	u = calloc(1, sizeof(*u));
	if (!u)
		return err_set(err, ERR_NOMEM, "cannot start upload");
	u->fd = -1;
	u->st = st;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		err_set(err, ERR_INTERNAL, "no randomness for upload id");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		u->id[2 * i] = hexdig[rnd[i] >> 4];
		u->id[2 * i + 1] = hexdig[rnd[i] & 15];
	}
	u->repo = strdup(repo);
	u->sha256 = hasher_new(DIGEST_SHA256);
	if (!u->repo || !u->sha256) {
		err_set(err, ERR_NOMEM, "cannot start upload");
		goto fail;
	}
	/* The place is taken before the file is made: no file past a cap. */
	pthread_mutex_lock(&st->lock);
	rc = count_in(st, repo, err);
	if (rc < 0 && st->shared) {
		/* Sessions other nodes ended still count here: drop them. */
		pthread_mutex_unlock(&st->lock);
		pruned = shared_upload_prune(st);
		pthread_mutex_lock(&st->lock);
		if (pruned)
			rc = count_in(st, repo, err);
	}
	if (rc < 0) {
		pthread_mutex_unlock(&st->lock);
		goto fail;
	}
	if (hmap_put(st->uploads, u->id, u) < 0) {
		count_out(st, repo);
		pthread_mutex_unlock(&st->lock);
		err_set(err, ERR_NOMEM, "cannot start upload");
		goto fail;
	}
	u->busy = true; /* nobody knows the id yet */
	pthread_mutex_unlock(&st->lock);
	if (upload_open(u, O_CREAT | O_EXCL, err) < 0 ||
	    (st->shared && shared_upload_record(u, err) < 0)) {
		upload_end(u);
		return -1;
	}
	if (st->shared)
		shared_upload_seen(u);
	close(u->fd);
	u->fd = -1;
	store_upload_put(u);
	memcpy(id, u->id, STORE_UPLOAD_ID_MAX);
	return 0;
fail:
	upload_free(u);
	return -1;
}

struct upload *store_upload_get(struct store *st, const char *repo,
                                const char *id, struct err *err)
{
	struct upload *u;
	bool known;

	pthread_mutex_lock(&st->lock);
	u = hmap_get(st->uploads, id);
	known = u != NULL;
	if (!u || strcmp(u->repo, repo) != 0) {
		u = NULL;
		err_set(err, ERR_NOT_FOUND, "upload unknown");
	} else if (u->busy) {
		u = NULL;
		err_set(err, ERR_BUSY, "upload in use by another request");
	} else {
		u->busy = true;
	}
	pthread_mutex_unlock(&st->lock);
	/* On a shared tree the session may be another node's. */
	if (!known && st->shared) {
		*err = ERR_INIT;
		u = shared_upload_adopt(st, repo, id, err);
	}
	if (!u)
		return NULL;
	if (upload_open(u, 0, err) < 0 ||
	    (st->shared && shared_upload_lock(u, err) < 0)) {
		/* Gone: committed or cancelled, here or by another node. */
		if (st->shared &&
		    (err->code == ERR_NOT_FOUND || err->sys_errno == ENOENT)) {
			*err = ERR_INIT;
			err_set(err, ERR_NOT_FOUND, "upload unknown");
			upload_end(u);
		} else {
			store_upload_put(u);
		}
		return NULL;
	}
	return u;
}

/*
 * Hold nothing between requests: what the blocks hold goes to the file (a
 * failure is kept in werr, for the next request to report), the AIO
 * context goes back to the pool, the file is closed and the blocks are
 * freed.
 */
void upload_release(struct upload *u)
{
	if (u->fd >= 0) {
		struct err ignored = ERR_INIT;

		if (upload_settle(u, &ignored) < 0 && !u->werr)
			u->werr = ignored.sys_errno ? ignored.sys_errno : EIO;
		if (u->aio) {
			/* After a failure a block may still be in flight. */
			(void)aio_reap(u, &ignored);
			if (u->aio_lost)
				syscall(SYS_io_destroy, u->aio);
			else
				aio_put(u->st, u->aio);
			u->aio = 0;
			u->aio_lost = false;
		}
		u->grown = 0;
		if (u->st->shared && !u->adopted)
			shared_upload_seen(u);
		close(u->fd); /* on a shared tree: its lock goes */
		u->fd = -1;
	}
	free(u->blocks);
	u->blocks = NULL;
	u->held = 0;
}

void store_upload_put(struct upload *u)
{
	if (!u)
		return;
	upload_release(u);
	if (u->adopted) { /* the tree keeps it; another node started it */
		upload_free(u);
		return;
	}
	pthread_mutex_lock(&u->st->lock);
	u->busy = false;
	u->last_ms = clock_age_mono_ms();
	u->idle_before_ms = 0;
	pthread_mutex_unlock(&u->st->lock);
}

uint64_t store_upload_offset(const struct upload *u)
{
	return u->offset;
}

void upload_no_layout(struct upload *u)
{
	u->no_layout = true;
}

int store_upload_room(const struct upload *u, uint64_t end, struct err *err)
{
	uint64_t max = u->st->opts.max_blob_size;

	if (max && end > max)
		return err_set(
			err, ERR_TOO_LARGE,
			"blob larger than %llu bytes (storage.maxBlobSize)",
			(unsigned long long)max);
	return 0;
}

/* "<updir>/<id>.<what>": a file that becomes @u's staging file. */
static int staging_temp(const struct upload *u, const char *what, char *out,
                        size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s.%s", u->st->updir, u->id, what);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

void upload_borrow(struct upload *u, const struct digest *d)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct err err = ERR_INIT;
	int fd;

	/* On a shared tree the file must hold the bytes (see upload_open). */
	if (u->st->shared || !dedupe_on(u->st) || d->alg != DIGEST_SHA256 ||
	    u->offset || u->scattered || u->borrowed || u->fd < 0 ||
	    staging_path(u, path, sizeof(path)) < 0 ||
	    staging_temp(u, "borrow", tmp, sizeof(tmp)) < 0)
		return;
	if (cas_borrow(u->st, d, tmp, &err) != 1) {
		if (err.code)
			log_warn("upload %s: %s", u->id, err.msg);
		return;
	}
	/* The empty staging file is replaced; a leftover goes at start. */
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || rename(tmp, path) < 0) {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return;
	}
	close(u->fd);
	u->fd = fd;
	u->direct = false;
	u->borrowed = true;
}

/*
 * Before a write out of order to borrowed @u: a private staging file
 * holding the u->offset bytes received, which are the store copy's first
 * bytes if they hashed the same. ERR_INVALID when they did not: no
 * content that starts with them can match the name.
 */
static int upload_unborrow(struct upload *u, struct err *err)
{
	enum { CHUNK = 1 << 20 };
	char path[PATH_MAX], tmp[PATH_MAX];
	struct hasher *h = hasher_new(DIGEST_SHA256), *got = NULL;
	struct digest a, b;
	char *buf = malloc(CHUNK);
	int fd = -1, ret = -1;

	if (staging_path(u, path, sizeof(path)) < 0 ||
	    staging_temp(u, "own", tmp, sizeof(tmp)) < 0) {
		err_set(err, ERR_TOO_LARGE, "path too long");
		goto out;
	}
	got = hasher_new(DIGEST_SHA256);
	if (!h || !got || !buf) {
		err_set(err, ERR_NOMEM, "cannot copy upload");
		goto out;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set_errno(err, errno, "cannot open upload");
		goto out;
	}
	for (uint64_t off = 0; off < u->offset;) {
		size_t want = u->offset - off < CHUNK ? u->offset - off : CHUNK;
		ssize_t n = pread(u->fd, buf, want, (off_t)off);

		if (n <= 0) {
			err_set_errno(err, n < 0 ? errno : EIO,
			              "cannot read the content store's copy");
			goto out;
		}
		if (fs_pwrite_all(fd, buf, (size_t)n, off, err) < 0)
			goto out;
		hasher_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	hasher_final(h, &a);
	hasher_copy(got, u->sha256);
	hasher_final(got, &b);
	if (!digest_equal(&a, &b)) {
		err_set(err, ERR_INVALID,
		        "the bytes written differ from the content this name "
		        "names");
		goto out;
	}
	if (rename(tmp, path) < 0) {
		err_set_errno(err, errno, "cannot replace upload");
		goto out;
	}
	close(u->fd);
	u->fd = fd;
	fd = -1;
	u->borrowed = false;
	u->flushed = 0;
	ret = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(buf);
	hasher_free(got);
	hasher_free(h);
	return ret;
}

int upload_write_at(struct upload *u, const void *buf, size_t len, uint64_t off,
                    struct err *err)
{
	if (store_upload_room(u, off + len, err) < 0)
		return -1;
	if (off == u->offset && !u->scattered)
		return store_upload_append(u, buf, len, err);
	/* Out of order: the running hash is lost, commit re-reads. */
	if (u->borrowed && upload_unborrow(u, err) < 0)
		return -1;
	if (upload_settle(u, err) < 0)
		return -1;
	u->scattered = true;
	if (fs_pwrite_all(u->fd, buf, len, off, err) < 0)
		return -1;
	if (off + len > u->offset)
		u->offset = off + len;
	return 0;
}

int store_upload_append(struct upload *u, const void *buf, size_t len,
                        struct err *err)
{
	if (u->werr)
		return err_set_errno(err, u->werr, "cannot write upload");
	if (store_upload_room(u, u->offset + len, err) < 0)
		return -1;
	if (u->borrowed) { /* the store holds them: hashed, not written */
		hasher_update(u->sha256, buf, len);
		u->offset += len;
		return 0;
	}
	if (u->direct)
		return append_direct(u, buf, len, err);
	if (fs_pwrite_all(u->fd, buf, len, u->offset, err) < 0)
		return -1;
	/* Only bytes that reached the file count, so a retry can resume. */
	hasher_update(u->sha256, buf, len);
	u->offset += len;
	/*
	 * Start writeback as the data comes, so the fsync at commit finds
	 * little left to do (it was most of a large push's time).
	 */
	if (u->offset - u->flushed >= UPLOAD_WRITEBACK) {
		if (sync_file_range(u->fd, (off_t)u->flushed,
		                    (off_t)(u->offset - u->flushed),
		                    SYNC_FILE_RANGE_WRITE) == 0)
			u->flushed = u->offset;
	}
	return 0;
}

/* Remove @u from the table and the disk; @u must be taken. */
void upload_end(struct upload *u)
{
	char path[PATH_MAX];

	if (u->st->uploads) {
		pthread_mutex_lock(&u->st->lock);
		if (hmap_get(u->st->uploads, u->id) == u &&
		    hmap_del(u->st->uploads, u->id))
			count_out(u->st, u->repo);
		pthread_mutex_unlock(&u->st->lock);
	}
	/* On a shared tree, still under the session's lock (u->fd open). */
	if (u->st->shared)
		shared_upload_unrecord(u);
	if (staging_path(u, path, sizeof(path)) == 0)
		unlink(path);
	upload_free(u);
}

/* The digest of what was received, without ending the running hash. */
static int upload_digest(struct upload *u, enum digest_alg alg,
                         struct digest *out, struct err *err)
{
	struct hasher *copy;

	if (alg != DIGEST_SHA256 || u->scattered) {
		if (upload_settle(u, err) < 0)
			return -1;
		return digest_fd(alg, u->fd, out, err);
	}
	copy = hasher_new(DIGEST_SHA256);
	if (!copy)
		return err_set(err, ERR_NOMEM, "cannot hash upload");
	hasher_copy(copy, u->sha256);
	hasher_final(copy, out);
	hasher_free(copy);
	return 0;
}

int store_upload_commit(struct upload *u, const struct digest *d,
                        struct err *err)
{
	char path[PATH_MAX], got[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
	struct digest actual;

	if (upload_digest(u, d->alg, &actual, err) < 0)
		return -1;
	if (!digest_equal(&actual, d)) {
		digest_format(&actual, got);
		digest_format(d, want);
		return err_set(err, ERR_INVALID, "content hashes to %s, not %s",
		               got, want);
	}
	if (upload_settle(u, err) < 0)
		return -1;
	if (!u->borrowed && fsync(u->fd) < 0)
		return err_set_errno(err, errno, "cannot sync upload");
	if (staging_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	/* The bytes hashed to @d; the copy they stand for must as well. */
	if (u->borrowed) {
		int ok = cas_trusted(u->st, path, d, err);

		if (ok < 0)
			return -1;
		if (!ok)
			return err_set(err, ERR_IO,
			               "the content store's copy of %s changed "
			               "during the write",
			               d->hex);
	}
	if (blob_store_locked(u->st, u->repo, path, d, true, !u->no_layout,
	                      err) < 0)
		return -1;
	upload_end(u);
	return 0;
}

void store_upload_cancel(struct upload *u)
{
	if (u)
		upload_end(u);
}

int store_upload_follow(struct upload *u, struct err *err)
{
	char path[PATH_MAX];
	int fd;

	if (u->borrowed)
		return err_set(err, ERR_INVALID,
		               "a borrowed upload has no bytes of its own");
	if (upload_settle(u, err) < 0)
		return -1;
	if (staging_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno, "cannot open upload");
	return fd;
}

struct expire_ctx {
	uint64_t now;      /* clock_age_mono_ms() */
	uint64_t idle_ms;  /* sessions idle longer than this go */
	struct strvec ids; /* ids found idle */
};

static int find_idle(const char *key, void *val, void *arg)
{
	struct expire_ctx *c = arg;
	struct upload *u = val;

	/* Idle since the last use, plus before a restart, if resumed. */
	if (!u->busy && c->now - u->last_ms + u->idle_before_ms > c->idle_ms)
		return strvec_push(&c->ids, key) < 0;
	return 0;
}

size_t store_upload_expire(struct store *st, uint64_t idle_ms)
{
	struct expire_ctx c = {.now = clock_age_mono_ms(), .idle_ms = idle_ms};
	size_t n = 0;

	/*
	 * Whichever node sweeps: idle is judged by the files' times. Then
	 * the sessions whose files are gone leave this node's memory: not
	 * expiries of their own (the sweep counted those it removed).
	 */
	if (st->shared) {
		n = shared_upload_sweep(st, idle_ms);
		(void)shared_upload_prune(st);
		return n;
	}

	pthread_mutex_lock(&st->lock);
	hmap_each(st->uploads, find_idle, &c);
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; i < c.ids.n; i++) {
		struct err ignored = ERR_INIT;
		struct upload *u;

		pthread_mutex_lock(&st->lock);
		u = hmap_get(st->uploads, c.ids.v[i]);
		u = u && !u->busy ? u : NULL;
		if (u)
			u->busy = true;
		pthread_mutex_unlock(&st->lock);
		(void)ignored;
		if (u) {
			upload_end(u);
			n++;
		}
	}
	strvec_release(&c.ids);
	return n;
}
