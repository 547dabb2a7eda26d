/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blob.c - blobs and upload sessions.
 *
 * An upload is a staging file in <root>/.dray/uploads, hashed as bytes
 * arrive. Where the filesystem allows it the file is written with
 * O_DIRECT, in aligned 1 MiB blocks gathered in memory: the data goes
 * to the disk as it comes, without a copy into the page cache, so the
 * fsync at commit has almost nothing left to write (on the machines we
 * measured, buffered writes plus fsync ran at a sixth of the speed).
 * A full block is written by Linux AIO while the next one fills, so the
 * disk and the hashing overlap.
 * A session holds its file open (and the blocks) only while a request
 * has it taken: between requests it is a few hundred bytes and a name,
 * and how many there are is capped (store_opts), so clients that open
 * sessions and walk away cannot run the process out of descriptors.
 * Commit verifies the digest, fsyncs, and links the file into
 * <repo>/blobs/<alg>/<hex>: a blob is either absent or complete, and two
 * uploads of the same content end as one file (the second link finds the
 * first and is dropped).
 */
#define _GNU_SOURCE /* sync_file_range, O_DIRECT */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>
#include <sys/syscall.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "daemon/testhold.h"
#include "index/store_int.h"

/* Bytes between two writeback kicks of a buffered staging file. */
#define UPLOAD_WRITEBACK (8u << 20)
/* An upload id: this many hex digits. */
#define UPLOAD_ID_LEN 32
_Static_assert(UPLOAD_ID_LEN < STORE_UPLOAD_ID_MAX, "upload id");

/* A direct write: its size and the alignment O_DIRECT wants. */
#define UPLOAD_BLOCK (1u << 20)
#define UPLOAD_ALIGN 4096u
/*
 * ext4 makes a direct write that extends the file synchronous, even
 * through AIO: the file is grown ahead of the writes by this much, and
 * cut to its true size when settled.
 */
#define UPLOAD_GROW (64u << 20)

struct upload {
	struct store *st;             /* owner */
	char id[STORE_UPLOAD_ID_MAX]; /* session id, hex */
	char *repo;                   /* repository it is for */
	int fd;                       /* staging file while taken, or -1 */
	uint64_t offset;              /* bytes received */
	bool direct;                  /* fd is O_DIRECT */
	unsigned char *blocks;        /* O_DIRECT: two blocks, or NULL */
	unsigned cur;                 /* the one filling */
	size_t held;                  /* bytes in it */
	aio_context_t aio;            /* 0: blocks are written in place */
	bool inflight;                /* the other block is being written */
	uint64_t inflight_off;        /* where it goes */
	bool aio_lost;                /* io_getevents failed: destroy it */
	uint64_t grown;               /* the file's size, grown ahead */
	int werr;                     /* a block write failed: errno */
	struct hasher *sha256;        /* sha256 of those bytes */
	bool busy;                    /* taken by a request; under st->lock */
	uint64_t last_ms;             /* last use, clock_age_mono_ms() */
	uint64_t idle_before_ms;      /* idle time before the last restart */
	uint64_t flushed;             /* writeback started up to here */
	bool scattered;               /* written out of order: rehash */
	bool no_layout;               /* commit without making a layout */
};

int store_blob_stat(struct store *st, const char *repo,
                    const struct digest *d, uint64_t *size, struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;

	if (ref_name_check(repo, err) < 0 ||
	    blob_path(st, repo, d, path, sizeof(path), err) < 0)
		return -1;
	if (stat(path, &sb) < 0)
		return err_set_errno(err, errno, "blob unknown");
	if (!S_ISREG(sb.st_mode))
		return err_set(err, ERR_NOT_FOUND, "blob unknown");
	*size = (uint64_t)sb.st_size;
	return 0;
}

int store_blob_open(struct store *st, const char *repo,
                    const struct digest *d, int *fd, uint64_t *size,
                    struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	int f;

	if (ref_name_check(repo, err) < 0 ||
	    blob_path(st, repo, d, path, sizeof(path), err) < 0)
		return -1;
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return err_set_errno(err, errno, "blob unknown");
	if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return err_set(err, ERR_NOT_FOUND, "blob unknown");
	}
	*fd = f;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/* Does @m, or a child of @m when it is an index, reference @d? */
static bool msum_names(struct store *st, const char *repo, const struct msum *m,
                       const struct digest *d)
{
	bool hit = false;

	for (size_t j = 0; !hit && j < m->nrefs; j++) {
		struct err ignored = ERR_INIT;
		const struct msum *c;

		hit = digest_equal(&m->refs[j], d);
		if (hit || !m->is_index)
			continue;
		/* An unreadable child might name it: count it as a yes. */
		c = msum_get(st, repo, &m->refs[j], &ignored);
		hit = !c;
		for (size_t k = 0; c && !hit && k < c->nrefs; k++)
			hit = digest_equal(&c->refs[k], d);
		msum_put(st, c);
	}
	return hit;
}

/*
 * Does any manifest of @r (or a child of an index of @r) reference @d? A
 * manifest that cannot be read might: it counts as a yes.
 */
static bool blob_referenced(struct store *st, struct repo *r,
                            const struct digest *d)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		struct err ignored = ERR_INIT;
		struct digest md;
		const struct msum *m;
		bool hit;

		if (!entry_digest(e, &md) || digest_equal(&md, d))
			return true;
		m = msum_get(st, r->name, &md, &ignored);
		hit = !m || msum_names(st, r->name, m, d);
		msum_put(st, m);
		if (hit)
			return true;
	}
	return false;
}

int store_blob_delete(struct store *st, const char *repo,
                      const struct digest *d, struct err *err)
{
	char path[PATH_MAX], dstr[DIGEST_STR_MAX];
	struct repo *r;
	int ret = -1;

	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	repo_lock(st, r);
	if (repo_load(st, r, err) < 0 ||
	    blob_path(st, repo, d, path, sizeof(path), err) < 0)
		goto out;
	if (access(path, F_OK) < 0) {
		err_set_errno(err, errno, "blob unknown");
		goto out;
	}
	if (blob_referenced(st, r, d)) {
		digest_format(d, dstr);
		err_set(err, ERR_EXISTS, "blob %s is referenced by a manifest",
		        dstr);
		goto out;
	}
	if (unlink(path) < 0) {
		err_set_errno(err, errno, "cannot delete blob");
		goto out;
	}
	store_blob_changed(st, repo, d);
	if (fs_fsync_parent(path, err) < 0 ||
	    idx_blob_removed(st, repo, d, err) < 0)
		goto out;
	ret = 0;
out:
	repo_unlock(st, r);
	repo_unref(st, r);
	return ret;
}

/*
 * Content pushed again is as young as the push: GC goes by the inode's
 * ctime, and chmod(2) renews it even when the mode stays the same.
 */
int blob_renew(const char *path, struct err *err)
{
	if (chmod(path, 0644) < 0)
		return err_set_errno(err, errno, "cannot renew '%s'", path);
	return 0;
}

/* blob_store() or blob_place() (no @layout) under @repo's lock. */
static int blob_store_locked(struct store *st, const char *repo,
                             const char *src, const struct digest *d,
                             bool src_is_private, bool layout,
                             struct err *err);

/* Path of copy @n of @d in the content store: <hex>, <hex>.1, ... */
static int cas_path(const struct store *st, const struct digest *d,
                    unsigned n, char *out, size_t outsz, struct err *err)
{
	int len = n ? snprintf(out, outsz, "%s/%s/%s.%u", st->casdir,
	                       digest_alg_name(d->alg), d->hex, n)
	            : snprintf(out, outsz, "%s/%s/%s", st->casdir,
	                       digest_alg_name(d->alg), d->hex);

	if (len < 0 || (size_t)len >= outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/* Make copy @n of @d in the content store from copy 0 (past EMLINK). */
static int cas_add_copy(struct store *st, const char *first, const char *nth,
                        struct err *err)
{
	char tmp[PATH_MAX];
	int ret = 0;

	if (access(nth, F_OK) == 0)
		return 0;
	if (fs_copy_to_temp(first, st->tmpdir, tmp, err) < 0)
		return -1;
	if (link(tmp, nth) < 0 && errno != EEXIST)
		ret = err_set_errno(err, errno, "cannot add store copy");
	unlink(tmp);
	return ret;
}

int blob_verify_stat(const char *path, const struct digest *d, struct stat *sb,
                     struct err *err)
{
	struct digest got;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	rc = sb && fstat(fd, sb) < 0
	             ? err_set_errno(err, errno, "cannot stat '%s'", path)
	             : digest_fd(d->alg, fd, &got, err);
	close(fd);
	if (rc < 0)
		return -1;
	return digest_equal(&got, d) ? 1 : 0;
}

int blob_verify(const char *path, const struct digest *d, struct err *err)
{
	return blob_verify_stat(path, d, NULL, err);
}

bool blob_unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The first of the places in st->cas_known where store copy @sb can be. */
static size_t cas_home(const struct stat *sb)
{
	uint64_t h = ((uint64_t)sb->st_ino ^ ((uint64_t)sb->st_dev << 32)) *
	             0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) % STORE_CAS_KNOWN;
}

static bool cas_is(const struct cas_known *c, const struct stat *sb)
{
	return c->ino == sb->st_ino && c->dev == sb->st_dev;
}

/*
 * Remember store copy @sb as hashing to its name: in its place, or a
 * free one, or (all taken) instead of the first. A copy written over
 * later gets a new mtime (or size), which cas_is_known() tells apart; so
 * does a new file under the name (another inode).
 */
static void cas_known_put(struct store *st, const struct stat *sb)
{
	size_t home = cas_home(sb), at = home;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < STORE_CAS_WAYS; i++) {
		struct cas_known *c =
			&st->cas_known[(home + i) % STORE_CAS_KNOWN];

		if (cas_is(c, sb) || !c->ino) {
			at = (home + i) % STORE_CAS_KNOWN;
			break;
		}
	}
	st->cas_known[at] = (struct cas_known){sb->st_dev, sb->st_ino,
	                                       sb->st_size, sb->st_mtim};
	pthread_mutex_unlock(&st->lock);
}

/* Was store copy @sb verified, and not written since? */
static bool cas_is_known(struct store *st, const struct stat *sb)
{
	size_t home = cas_home(sb);
	struct stat seen = {0};

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < STORE_CAS_WAYS; i++) {
		struct cas_known *c =
			&st->cas_known[(home + i) % STORE_CAS_KNOWN];

		if (cas_is(c, sb)) {
			seen.st_dev = c->dev;
			seen.st_ino = c->ino;
			seen.st_size = c->size;
			seen.st_mtim = c->mtime;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return seen.st_ino && blob_unchanged(&seen, sb);
}

/* @first hashed to its name as @b was: remember it unless it changed. */
static void cas_verified(struct store *st, const char *first,
                         const struct stat *b)
{
	struct stat c;

	log_debug("content store copy '%s' verified", first);
	if (stat(first, &c) == 0 && blob_unchanged(b, &c))
		cas_known_put(st, &c);
}

int cas_survey(struct store *st, const struct digest *d, struct cas_seen *out,
               struct err *err)
{
	char first[PATH_MAX];
	struct err verr = ERR_INIT;
	int rc;

	out->ok = -1;
	if (cas_path(st, d, 0, first, sizeof(first), err) < 0)
		return -1;
	if (stat(first, &out->sb) < 0)
		return 0;
	if (cas_is_known(st, &out->sb)) {
		out->ok = 1;
	} else {
		rc = blob_verify_stat(first, d, &out->sb, &verr);
		if (rc < 0 && verr.code != ERR_NOT_FOUND) {
			*err = verr;
			return -1;
		}
		out->ok = rc; /* -1: collected meanwhile */
		if (rc == 1)
			cas_verified(st, first, &out->sb);
	}
	test_hold("cas", first);
	return 0;
}

/*
 * The store already holds @first for @d, and @src (verified) is to be
 * linked to it: make sure @first is right. A copy that does not hash to
 * its name (entered by hand, or by an older dray that did not check) is
 * reported and replaced by @src; repositories that link it keep their
 * file, for scrub to report. A copy collected meanwhile is left to the
 * caller's retry. With @seen, nothing is hashed here: a copy that is still
 * the file cas_survey() hashed is judged by that, any other makes this
 * return 1 (hash again, outside the lock). Without it, @first is hashed.
 */
static int cas_check(struct store *st, const char *src, const char *first,
                     const struct digest *d, const struct cas_seen *seen,
                     struct err *err)
{
	static atomic_uint seq;
	char tmp[PATH_MAX];
	struct err verr = ERR_INIT;
	struct stat a, b;
	int rc;

	if (stat(src, &a) < 0)
		return err_set_errno(err, errno, "cannot stat '%s'", src);
	if (stat(first, &b) < 0 ||
	    (a.st_ino == b.st_ino && a.st_dev == b.st_dev))
		return 0;
	if (seen && (seen->ok < 0 || !blob_unchanged(&seen->sb, &b)))
		return 1;
	rc = seen                   ? seen->ok
	     : cas_is_known(st, &b) ? 1
	                            : blob_verify(first, d, &verr);
	if (rc < 0 && verr.code != ERR_NOT_FOUND) {
		*err = verr;
		return -1;
	}
	if (rc == 1 && !seen)
		cas_verified(st, first, &b);
	if (rc != 0)
		return 0; /* right, or collected meanwhile */
	log_err("content store copy '%s' was bad: replaced", first);
	if (snprintf(tmp, sizeof(tmp), "%s/cas.%s.%u", st->tmpdir, d->hex,
	             atomic_fetch_add(&seq, 1)) >= (int)sizeof(tmp))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (link(src, tmp) < 0)
		return err_set_errno(err, errno, "cannot link '%s'", src);
	if (rename(tmp, first) < 0) {
		unlink(tmp);
		return err_set_errno(err, errno, "cannot replace '%s'", first);
	}
	cas_known_put(st, &a);
	return 0;
}

/*
 * Link the content store's copy of @d (entering @src, which holds verified
 * content, into the store if it is not there yet) at @dst. A file
 * system's link limit is met by a further copy in the store; a garbage
 * collector racing to remove an unreferenced store copy is met by starting
 * over.
 */
int cas_link(struct store *st, const char *src, const struct digest *d,
             const char *dst, const struct cas_seen *seen, struct err *err)
{
	char first[PATH_MAX], cas[PATH_MAX];
	int rc;

	if (cas_path(st, d, 0, first, sizeof(first), err) < 0)
		return -1;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct stat sb;

		if (link(src, first) < 0) {
			if (errno != EEXIST)
				return err_set_errno(err, errno,
				                     "cannot store blob");
			rc = cas_check(st, src, first, d, seen, err);
			if (rc != 0)
				return rc;
		} else if (stat(first, &sb) == 0) {
			cas_known_put(st, &sb); /* @src is verified */
		}
		for (unsigned n = 0; n < 64; n++) {
			if (cas_path(st, d, n, cas, sizeof(cas), err) < 0)
				return -1;
			if (n > 0 && cas_add_copy(st, first, cas, err) < 0)
				return -1;
			if (link(cas, dst) == 0 || errno == EEXIST)
				return fs_fsync_parent(first, err);
			if (errno == ENOENT)
				break; /* collected under us: again */
			if (errno != EMLINK)
				return err_set_errno(err, errno,
				                     "cannot link blob");
		}
	}
	return err_set(err, ERR_BUSY, "blob store changed under the commit");
}

/*
 * blob_place() with what cas_survey() found (@seen, may be NULL). Returns
 * 1 when the content store's copy changed since @seen was taken.
 */
static int place_seen(struct store *st, const char *repo, const char *src,
                      const struct digest *d, bool src_is_private,
                      const struct cas_seen *seen, struct err *err)
{
	char dst[PATH_MAX], tmp[PATH_MAX];
	struct stat sb;
	int ret;

	if (repo_blob_dir(st, repo, d->alg, err) < 0 ||
	    blob_path(st, repo, d, dst, sizeof(dst), err) < 0)
		return -1;
	if (access(dst, F_OK) == 0)
		return blob_renew(dst, err);
	if (st->opts.dedupe) {
		ret = cas_link(st, src, d, dst, seen, err);
	} else if (src_is_private) {
		ret = link(src, dst) < 0 && errno != EEXIST
		              ? err_set_errno(err, errno, "cannot store blob")
		              : 0;
	} else {
		if (fs_copy_to_temp(src, st->tmpdir, tmp, err) < 0)
			return -1;
		ret = link(tmp, dst) < 0 && errno != EEXIST
		              ? err_set_errno(err, errno, "cannot store blob")
		              : 0;
		unlink(tmp);
	}
	if (ret == 0)
		ret = fs_fsync_parent(dst, err);
	if (ret == 0 && stat(dst, &sb) == 0)
		ret = idx_blob_added(st, repo, d, (uint64_t)sb.st_size, err);
	return ret;
}

/*
 * Make @src (a verified file holding blob @d) blob @d of @repo. With dedupe
 * the repository gets a link to the content store's copy; without it, a
 * link to @src itself when @src is a private file (staging), else a copy.
 * An existing blob is kept: content-addressed files are equal. Caller
 * holds @repo's lock.
 */
int blob_store(struct store *st, const char *repo, const char *src,
               const struct digest *d, bool src_is_private, struct err *err)
{
	if (repo_create(st, repo, err) < 0)
		return -1;
	return blob_place(st, repo, src, d, src_is_private, err);
}

/*
 * blob_store() into a directory that may not be a layout yet (a copy
 * through the mount): only blobs/<alg> is made.
 */
int blob_place(struct store *st, const char *repo, const char *src,
               const struct digest *d, bool src_is_private, struct err *err)
{
	return place_seen(st, repo, src, d, src_is_private, NULL, err);
}

int store_blob_mount(struct store *st, const char *repo, const char *from,
                     const struct digest *d, struct err *err)
{
	char src[PATH_MAX];
	struct stat sb;
	int ok;

	if (ref_name_check(repo, err) < 0 || ref_name_check(from, err) < 0 ||
	    blob_path(st, from, d, src, sizeof(src), err) < 0)
		return -1;
	if (stat(src, &sb) < 0 || !S_ISREG(sb.st_mode))
		return err_set(err, ERR_NOT_FOUND, "blob unknown to '%s'",
		               from);
	/* Another repository's file is only as good as its hash: checked
	 * before the lock is taken. */
	ok = blob_verify(src, d, err);
	if (ok < 0)
		return -1;
	if (!ok)
		return err_set(err, ERR_NOT_FOUND, "'%s' does not hash to %s",
		               from, d->hex);
	return blob_store_locked(st, repo, src, d, false, true, err);
}

/* Surveys of the content store tried before one is made under the lock. */
#define CAS_SURVEYS 4

/*
 * Does linking @d into @repo need the content store's copy hashed? Only
 * with dedupe, when @repo lacks the blob and the store has a copy that is
 * not @src: cas_survey() then hashes it before the lock is taken.
 */
static bool needs_survey(struct store *st, const char *repo, const char *src,
                         const struct digest *d)
{
	char dst[PATH_MAX], first[PATH_MAX];
	struct err ignored = ERR_INIT;
	struct stat a, b;

	return st->opts.dedupe &&
	       blob_path(st, repo, d, dst, sizeof(dst), &ignored) == 0 &&
	       access(dst, F_OK) < 0 &&
	       cas_path(st, d, 0, first, sizeof(first), &ignored) == 0 &&
	       stat(first, &b) == 0 &&
	       (stat(src, &a) < 0 || a.st_ino != b.st_ino ||
	        a.st_dev != b.st_dev);
}

/*
 * The lock is held for the links only: a content store copy to link to is
 * hashed before it is taken, and hashed again (lock dropped) if it changed
 * meanwhile; only after CAS_SURVEYS such changes is it hashed under the
 * lock.
 */
static int blob_store_locked(struct store *st, const char *repo,
                             const char *src, const struct digest *d,
                             bool src_is_private, bool layout,
                             struct err *err)
{
	struct repo *r = repo_ref(st, repo, err);
	struct cas_seen seen, *sp;
	int ret = 1;

	if (!r)
		return -1;
	for (int n = 0; ret == 1; n++) {
		sp = n < CAS_SURVEYS && needs_survey(st, repo, src, d) ? &seen
		                                                       : NULL;
		if (sp && cas_survey(st, d, sp, err) < 0) {
			ret = -1;
			break;
		}
		repo_lock(st, r);
		ret = layout ? repo_create(st, repo, err) : 0;
		if (ret == 0)
			ret = place_seen(st, repo, src, d, src_is_private, sp,
			                 err);
		/* A repository that so far holds only blobs is indexed too. */
		if (ret == 0 && layout)
			ret = repo_load(st, r, err);
		repo_unlock(st, r);
	}
	repo_unref(st, r);
	return ret;
}

/* An AIO context from the pool or a new one; 0 if none can be had. */
static aio_context_t aio_get(struct store *st)
{
	aio_context_t ctx = 0;

	pthread_mutex_lock(&st->aio_lock);
	if (st->aio_n)
		ctx = st->aio_pool[--st->aio_n];
	pthread_mutex_unlock(&st->aio_lock);
	if (!ctx && syscall(SYS_io_setup, 1, &ctx) < 0)
		ctx = 0;
	return ctx;
}

/* Give back @ctx, which has nothing in flight. */
static void aio_put(struct store *st, aio_context_t ctx)
{
	pthread_mutex_lock(&st->aio_lock);
	if (st->aio_n < STORE_AIO_POOL) {
		st->aio_pool[st->aio_n++] = ctx;
		ctx = 0;
	}
	pthread_mutex_unlock(&st->aio_lock);
	if (ctx)
		syscall(SYS_io_destroy, ctx);
}

void blob_aio_drain(struct store *st)
{
	while (st->aio_n)
		syscall(SYS_io_destroy, st->aio_pool[--st->aio_n]);
}

/* Take O_DIRECT off @u's file: from here on it goes through the cache. */
static int direct_off(struct upload *u)
{
	int fl = fcntl(u->fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(u->fd, F_SETFL, fl & ~O_DIRECT);
}

/*
 * Write @b (a whole block) at @off in place; a file system that took
 * O_DIRECT at open but refuses it for writes gets the page cache.
 */
static int block_write(struct upload *u, const unsigned char *b,
                       uint64_t off, struct err *err)
{
	if (fs_pwrite_all(u->fd, b, UPLOAD_BLOCK, off, err) == 0)
		return 0;
	if (err->sys_errno == EINVAL && direct_off(u) == 0) {
		*err = ERR_INIT;
		if (fs_pwrite_all(u->fd, b, UPLOAD_BLOCK, off, err) == 0)
			return 0;
	}
	u->werr = err->sys_errno ? err->sys_errno : EIO;
	return -1;
}

/* Wait for the block in flight, if any; a failed one is kept in werr. */
static int aio_reap(struct upload *u, struct err *err)
{
	const unsigned char *b = u->blocks + (u->cur ^ 1) * UPLOAD_BLOCK;
	struct io_event ev;
	long n;

	if (!u->inflight)
		return 0;
	do
		n = syscall(SYS_io_getevents, u->aio, 1L, 1L, &ev, NULL);
	while (n < 0 && errno == EINTR);
	u->inflight = false;
	if (n != 1) {
		u->aio_lost = true;
		u->werr = n < 0 ? errno : EIO;
	} else if (ev.res == -EINVAL) {
		return block_write(u, b, u->inflight_off, err);
	} else if (ev.res != (int64_t)UPLOAD_BLOCK) {
		u->werr = ev.res < 0 ? (int)-ev.res : EIO;
	}
	if (u->werr)
		return err_set_errno(err, u->werr, "cannot write upload");
	return 0;
}

static void upload_free(struct upload *u)
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

static int staging_path(const struct upload *u, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s", u->st->updir, u->id);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void upload_end(struct upload *u);
static int upload_settle(struct upload *u, struct err *err);

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
	u->fd = open(path, O_RDWR | O_CLOEXEC | flags, 0644);
	if (u->fd < 0)
		return err_set_errno(err, errno, "cannot open upload");
	u->direct = false;
	/* Some file systems refuse O_DIRECT: those are written through the
	 * page cache, as are all with buffered_uploads. */
	if (!u->st->opts.buffered_uploads && !u->scattered &&
	    u->offset % UPLOAD_ALIGN == 0) {
		int fl = fcntl(u->fd, F_GETFL);

		u->direct =
			fl >= 0 && fcntl(u->fd, F_SETFL, fl | O_DIRECT) == 0;
	}
	return 0;
}

/* Count a session of @repo in; ERR_BUSY past a cap. Under st->lock. */
static int count_in(struct store *st, const char *repo, struct err *err)
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
static void count_out(struct store *st, const char *repo)
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
	if (count_in(st, repo, err) < 0) {
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
	if (upload_open(u, O_CREAT | O_EXCL, err) < 0) {
		upload_end(u);
		return -1;
	}
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

	pthread_mutex_lock(&st->lock);
	u = hmap_get(st->uploads, id);
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
	if (u && upload_open(u, 0, err) < 0) {
		store_upload_put(u);
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
static void upload_release(struct upload *u)
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
		close(u->fd);
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

/*
 * Write what the block holds and leave direct mode, so that the file on
 * disk is all that was received: before a commit, a rehash or a write
 * out of order. What follows goes through the page cache.
 */
static int upload_settle(struct upload *u, struct err *err)
{
	if (u->werr) /* a block is missing from the file */
		return err_set_errno(err, u->werr, "cannot write upload");
	if (!u->direct)
		return 0;
	if (aio_reap(u, err) < 0)
		return -1;
	if (direct_off(u) < 0 ||
	    (u->grown && ftruncate(u->fd, (off_t)u->offset) < 0)) {
		u->werr = errno;
		return err_set_errno(err, errno, "cannot write upload");
	}
	if (u->held && fs_pwrite_all(u->fd, u->blocks + u->cur * UPLOAD_BLOCK,
	                         u->held, u->offset - u->held, err) < 0) {
		u->werr = err->sys_errno ? err->sys_errno : EIO;
		return -1;
	}
	u->direct = false;
	u->held = 0;
	u->flushed = u->offset;
	free(u->blocks);
	u->blocks = NULL;
	return 0;
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

int upload_write_at(struct upload *u, const void *buf, size_t len,
                    uint64_t off, struct err *err)
{
	if (store_upload_room(u, off + len, err) < 0)
		return -1;
	if (off == u->offset && !u->scattered)
		return store_upload_append(u, buf, len, err);
	/* Out of order: the running hash is lost, commit re-reads. */
	if (upload_settle(u, err) < 0)
		return -1;
	u->scattered = true;
	if (fs_pwrite_all(u->fd, buf, len, off, err) < 0)
		return -1;
	if (off + len > u->offset)
		u->offset = off + len;
	return 0;
}

/* Send the full block to the disk and start filling the other one. */
static int block_out(struct upload *u, struct err *err)
{
	unsigned char *b = u->blocks + u->cur * UPLOAD_BLOCK;
	struct iocb cb = {
		.aio_fildes = (uint32_t)u->fd,
		.aio_lio_opcode = IOCB_CMD_PWRITE,
		.aio_buf = (uint64_t)(uintptr_t)b,
		.aio_nbytes = UPLOAD_BLOCK,
		.aio_offset = (int64_t)(u->offset - UPLOAD_BLOCK),
	};
	struct iocb *list[1] = {&cb};
	long n;

	/* Without an AIO context (aio-max-nr reached) blocks are in place. */
	if (!u->aio && !u->grown)
		u->aio = aio_get(u->st);
	if (u->aio && aio_reap(u, err) < 0)
		return -1;
	if (u->aio && u->offset > u->grown) {
		if (ftruncate(u->fd, (off_t)(u->offset + UPLOAD_GROW)) == 0)
			u->grown = u->offset + UPLOAD_GROW;
	}
	/* Not taken (EAGAIN included): written in place instead. */
	n = u->aio ? syscall(SYS_io_submit, u->aio, 1L, list) : 0;
	if (n != 1) {
		if (block_write(u, b, (uint64_t)cb.aio_offset, err) < 0)
			return -1;
	} else {
		u->inflight = true;
		u->inflight_off = (uint64_t)cb.aio_offset;
		u->cur ^= 1;
	}
	u->held = 0;
	return 0;
}

/* Gather @len bytes into the blocks, sending each out as it fills. */
static int append_direct(struct upload *u, const unsigned char *buf,
                         size_t len, struct err *err)
{
	if (!u->blocks) {
		void *p;

		if (posix_memalign(&p, UPLOAD_ALIGN, 2 * UPLOAD_BLOCK) != 0)
			return err_set(err, ERR_NOMEM, "cannot buffer upload");
		u->blocks = p;
	}
	while (len) {
		size_t n = UPLOAD_BLOCK - u->held;

		/* Nothing of this call is taken before the block has room. */
		if (!n) {
			if (block_out(u, err) < 0)
				return -1;
			n = UPLOAD_BLOCK;
		}
		n = n < len ? n : len;
		memcpy(u->blocks + u->cur * UPLOAD_BLOCK + u->held, buf, n);
		hasher_update(u->sha256, buf, n);
		u->held += n;
		u->offset += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int store_upload_append(struct upload *u, const void *buf, size_t len,
                        struct err *err)
{
	if (u->werr)
		return err_set_errno(err, u->werr, "cannot write upload");
	if (store_upload_room(u, u->offset + len, err) < 0)
		return -1;
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
static void upload_end(struct upload *u)
{
	char path[PATH_MAX];

	if (u->st->uploads) {
		pthread_mutex_lock(&u->st->lock);
		if (hmap_del(u->st->uploads, u->id))
			count_out(u->st, u->repo);
		pthread_mutex_unlock(&u->st->lock);
	}
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
		return err_set(err, ERR_INVALID,
		               "content hashes to %s, not %s", got, want);
	}
	if (upload_settle(u, err) < 0)
		return -1;
	if (fsync(u->fd) < 0)
		return err_set_errno(err, errno, "cannot sync upload");
	if (staging_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (blob_store_locked(u->st, u->repo, path, d, true, !u->no_layout,
	                      err) < 0)
		return -1;
	upload_end(u);
	return 0;
}

/* "<updir>/<id>.park": where a parked session's record lives. */
static int park_path(const struct store *st, const char *id, char *out,
                     size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s.park", st->updir, id);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Write @u's record without syncing it: upload_park_sync() makes every
 * record and staging file durable at once, as a sync each made stopping
 * with a thousand sessions take seconds. A record torn by a crash before
 * that fails to parse, and its session is dropped as after any crash.
 */
void upload_park(struct upload *u)
{
	char path[PATH_MAX], tmp[PATH_MAX], text[REF_NAME_MAX + 64];
	struct err err = ERR_INIT;
	/* Its last use on the wall clock, so idle time spans restarts. */
	uint64_t used = clock_age_wall_ms() - (clock_age_mono_ms() - u->last_ms) - u->idle_before_ms;
	int n = snprintf(text, sizeof(text), "%s\n%llu\n%llu\n", u->repo,
	                 (unsigned long long)u->offset,
	                 (unsigned long long)used);
	int fd, ret = -1;

	/* A mount writer's upload ends with its file. */
	if (u->no_layout || n < 0 || (size_t)n >= sizeof(text))
		goto out;
	upload_release(u);
	if (u->werr || park_path(u->st, u->id, path, sizeof(path)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		goto out;
	/* Not a session's name: the next start removes a leftover. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	ret = fs_write_all(fd, text, (size_t)n, &err);
	if (close(fd) < 0 || (ret == 0 && rename(tmp, path) < 0))
		ret = -1;
	if (ret < 0)
		unlink(tmp);
out:
	if (ret < 0)
		upload_end(u);
	else
		upload_free(u);
}

void upload_park_sync(struct store *st)
{
	int fd = open(st->updir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0)
		log_warn("parked upload sessions not synced: %s",
		         strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Bring back the session @id parked by the last close; false if none. */
static bool restore_one(struct store *st, const char *id)
{
	char path[PATH_MAX], *text = NULL, *nl, *end;
	struct err err = ERR_INIT;
	unsigned long long off, used;
	struct upload *u = NULL;
	struct stat sb;
	size_t len;

	if (strspn(id, "0123456789abcdef") != UPLOAD_ID_LEN ||
	    strlen(id) != UPLOAD_ID_LEN ||
	    park_path(st, id, path, sizeof(path)) < 0 ||
	    fs_read_file(path, REF_NAME_MAX + 64, &text, &len, &err) < 0)
		goto fail;
	/* "<repo>\n<offset>\n<last use, wall-clock ms>\n", nothing else. */
	nl = memchr(text, '\n', len);
	if (!nl || nl[1] < '0' || nl[1] > '9')
		goto fail;
	off = strtoull(nl + 1, &end, 10);
	if (*end != '\n' || end[1] < '0' || end[1] > '9')
		goto fail;
	used = strtoull(end + 1, &end, 10);
	if (*end != '\n' || end + 1 != text + len)
		goto fail;
	*nl = '\0';
	u = calloc(1, sizeof(*u));
	if (!u || ref_name_check(text, &err) < 0)
		goto fail;
	u->st = st;
	u->fd = -1;
	memcpy(u->id, id, UPLOAD_ID_LEN + 1);
	u->repo = strdup(text);
	u->sha256 = hasher_new(DIGEST_SHA256);
	if (!u->repo || !u->sha256 || staging_path(u, path, sizeof(path)) < 0)
		goto fail;
	/* Through the page cache, from where it stopped; the running hash
	 * is gone, so the commit hashes the file (as for scattered writes). */
	if (stat(path, &sb) < 0 || (uint64_t)sb.st_size != off)
		goto fail;
	u->offset = u->flushed = off;
	u->scattered = true;
	u->last_ms = clock_age_mono_ms();
	u->idle_before_ms = clock_age_wall_ms() > used ? clock_age_wall_ms() - used : 0;
	/* Caps lowered since the stop leave the rest out. */
	if (count_in(st, u->repo, &err) < 0)
		goto fail;
	if (hmap_put(st->uploads, u->id, u) < 0) {
		count_out(st, u->repo);
		goto fail;
	}
	free(text);
	return true;
fail:
	upload_free(u);
	free(text);
	return false;
}

int upload_restore_all(struct store *st, struct err *err)
{
	struct dirent *de;
	size_t restored = 0;
	DIR *d;

	if (fs_mkdir_p(st->updir, 0755, err) < 0)
		return -1;
	d = opendir(st->updir);
	if (!d)
		return err_set_errno(err, errno, "cannot read '%s'", st->updir);
	while ((de = readdir(d))) {
		char id[STORE_UPLOAD_ID_MAX], path[PATH_MAX];
		size_t n = strlen(de->d_name);

		if (n != UPLOAD_ID_LEN + 5 ||
		    strcmp(de->d_name + n - 5, ".park") != 0)
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		restored += restore_one(st, id);
		if (park_path(st, id, path, sizeof(path)) == 0)
			unlink(path);
	}
	/* Whatever no session owns is left over from a crash. */
	rewinddir(d);
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' || hmap_get(st->uploads, de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", st->updir,
		             de->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	if (restored)
		log_info("store: %zu upload session(s) resumed", restored);
	return 0;
}

void store_upload_cancel(struct upload *u)
{
	if (u)
		upload_end(u);
}

struct expire_ctx {
	uint64_t now;         /* clock_age_mono_ms() */
	uint64_t idle_ms;     /* sessions idle longer than this go */
	struct strvec ids;    /* ids found idle */
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
