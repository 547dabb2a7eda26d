/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cas.c - the content store (<root>/.dray/cas with dedupe): one copy
 * of each content, entered only once it hashed to its name, hard-linked
 * into the repositories that hold it; and the memory of store copies
 * already verified (cas_known), so a copy is hashed once, not per link.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "index/store_int.h"

/* Path of copy @n of @d in the content store: <hex>, <hex>.1, ... */
int cas_path(const struct store *st, const struct digest *d, unsigned n,
             char *out, size_t outsz, struct err *err)
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

int cas_borrow(struct store *st, const struct digest *d, const char *path,
               struct err *err)
{
	char first[PATH_MAX];
	struct stat sb;

	if (cas_path(st, d, 0, first, sizeof(first), err) < 0)
		return -1;
	if (stat(first, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    !cas_is_known(st, &sb))
		return 0;
	if (link(first, path) == 0)
		return 1;
	if (errno == ENOENT || errno == EMLINK)
		return 0;
	return err_set_errno(err, errno, "cannot link '%s'", first);
}

int cas_trusted(struct store *st, const char *path, const struct digest *d,
                struct err *err)
{
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0)
		return err_set_errno(err, errno, "cannot stat '%s'", path);
	if (cas_is_known(st, &sb))
		return 1;
	rc = blob_verify_stat(path, d, &sb, err);
	if (rc == 1)
		cas_verified(st, path, &sb);
	return rc;
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
