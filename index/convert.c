/* SPDX-License-Identifier: Apache-2.0 */
/*
 * convert.c - turning dedupe on or off for a store that already has data.
 *
 * On: a blob file that is not the content store's inode is replaced by a
 * link to it (entering it into the store first if the store lacks it),
 * once its content has hashed to its name.
 * Off: a blob file shared with the content store is replaced by a private
 * copy; the store's copies then have no links left and GC frees them.
 * Either way the repository file is swapped by rename(2) from .dray/tmp,
 * so a reader sees the old or the new inode, never a missing file.
 */
#define _GNU_SOURCE /* mkostemp */
#define LOG_MODULE  "dedupe"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "index/store_int.h"

/* Attempts at one file whose content store copy keeps changing. */
#define LINK_TRIES 4

/*
 * Under @r's lock: swap @path (the file @a hashed to @d) for a link to
 * the content store's copy (@seen, as surveyed). 1 converted, 0 left as it
 * is, 2 the store's copy changed since the survey (nothing done).
 */
static int link_locked(struct store *st, struct repo *r, const char *path,
                       const struct stat *a, const struct digest *d,
                       const struct cas_seen *seen, struct err *err)
{
	char tmp[PATH_MAX];
	struct stat now, b;
	int rc, ret = -1;

	if (snprintf(tmp, sizeof(tmp), "%s/dedupe.%s", st->tmpdir, d->hex) >=
	    (int)sizeof(tmp))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (repo_lock(st, r, err) < 0)
		return -1;
	/* Still wanted and still the file hashed: else the next pass. */
	if (stat(path, &now) < 0 || !blob_unchanged(a, &now)) {
		ret = 0;
		goto out;
	}
	unlink(tmp);
	rc = cas_link(st, path, d, tmp, seen, err);
	if (rc != 0) {
		ret = rc < 0 ? -1 : 2;
		goto out;
	}
	/* @path itself entered the store: rename(2) would do nothing. */
	if (stat(tmp, &b) == 0 && b.st_ino == a->st_ino &&
	    b.st_dev == a->st_dev) {
		unlink(tmp);
		ret = 1;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		err_set_errno(err, errno, "cannot replace '%s'", path);
		goto out;
	}
	ret = 1;
out:
	repo_unlock(st, r);
	return ret;
}

/*
 * Make @path (blob @d of @r) a link to the content store's copy. Its
 * content is hashed first, and so is the store's copy, both outside @r's
 * lock: a file that does not hash to its name neither enters the store nor
 * is replaced; it is reported and left for scrub to report again. Under
 * the lock the file must still be the one hashed, and the store's copy the
 * one surveyed (else it is surveyed again). Returns 1 when converted, 0
 * when left as it was.
 */
static int to_link(struct store *st, struct repo *r, const char *path,
                   const struct digest *d, struct err *err)
{
	char cas[PATH_MAX];
	struct cas_seen seen;
	struct stat a, b;
	int ok, rc = 2;

	if (snprintf(cas, sizeof(cas), "%s/%s/%s", st->casdir,
	             digest_alg_name(d->alg), d->hex) >= (int)sizeof(cas))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (stat(path, &a) < 0)
		return err_set_errno(err, errno, "cannot stat '%s'", path);
	if (stat(cas, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return 0;
	ok = blob_verify_stat(path, d, &a, err);
	if (ok < 0)
		return -1;
	if (!ok) {
		log_err("'%s' does not hash to its name: not deduplicated",
		        path);
		return 0;
	}
	test_hold("dedupe", path);
	for (int n = 0; rc == 2 && n < LINK_TRIES; n++) {
		if (cas_survey(st, d, &seen, err) < 0)
			return -1;
		rc = link_locked(st, r, path, &a, d, &seen, err);
	}
	if (rc == 2) {
		log_info("'%s': the content store's copy keeps changing; left "
		         "for the next pass",
		         path);
		rc = 0;
	}
	return rc;
}

/*
 * Give @path (a blob of @r) a private copy of its content: copied outside
 * @r's lock, swapped in under it if the file is still the one copied.
 */
static int to_copy(struct store *st, struct repo *r, const char *path,
                   struct err *err)
{
	char tmp[PATH_MAX];
	struct stat a, now;
	int ret = -1;

	if (stat(path, &a) < 0)
		return err_set_errno(err, errno, "cannot stat '%s'", path);
	if (fs_copy_to_temp(path, st->tmpdir, tmp, err) < 0)
		return -1;
	test_hold("dedupe", path);
	if (repo_lock(st, r, err) < 0) {
		unlink(tmp);
		return -1;
	}
	if (stat(path, &now) < 0 || !blob_unchanged(&a, &now)) {
		ret = 0; /* changed meanwhile: the next pass looks again */
	} else if (rename(tmp, path) < 0) {
		err_set_errno(err, errno, "cannot replace '%s'", path);
	} else {
		ret = 1;
	}
	repo_unlock(st, r);
	if (ret != 1)
		unlink(tmp);
	return ret;
}

/* What convert_one() works with. */
struct convert_ctx {
	struct store *st;         /* the store */
	struct repo *r;           /* whose blobs */
	size_t *n;                /* files converted */
	struct err *err;          /* the caller's */
	bool (*yield)(void *arg); /* true: stop (a shutdown), or NULL */
	void *arg;                /* for yield */
	bool stopped;             /* yield said stop */
};

static int convert_one(const struct blob_file *bf, void *arg)
{
	struct convert_ctx *c = arg;
	int rc;

	/* Asked before each file: a repository may hold thousands of
	 * blobs, and a shutdown must not wait for all of them. */
	if (c->yield && c->yield(c->arg)) {
		c->stopped = true;
		return 1;
	}
	if (dedupe_on(c->st))
		rc = to_link(c->st, c->r, bf->path, &bf->digest, c->err);
	else if (bf->sb->st_nlink > 1)
		rc = to_copy(c->st, c->r, bf->path, c->err);
	else
		rc = 0;
	if (rc < 0)
		return -1;
	*c->n += (size_t)rc;
	return 0;
}

/*
 * Convert the blobs of @repo. Its lock is taken per file and only for the
 * swap: hashing and copying whole blobs happen outside it, so manifest
 * requests on the repository do not wait behind them. 1 when @yield
 * stopped it.
 */
static int convert_repo(struct store *st, const char *repo,
                        bool (*yield)(void *arg), void *arg, size_t *n,
                        struct err *err)
{
	struct repo *r = repo_ref(st, repo, err);
	struct convert_ctx c = {st, r, n, err, yield, arg, false};
	int ret;

	if (!r)
		return -1;
	ret = repo_each_blob(st, repo, convert_one, &c) ? -1 : 0;
	repo_unref(st, r);
	return c.stopped ? 1 : ret;
}

int store_dedupe_convert(struct store *st, bool (*yield)(void *arg), void *arg,
                         size_t *converted, struct err *err)
{
	struct strvec repos = {0};
	int ret = -1;

	*converted = 0;
	if (store_walk(st, &repos, err) < 0)
		goto out;
	for (size_t i = 0; i < repos.n; i++) {
		int rc = convert_repo(st, repos.v[i], yield, arg, converted,
		                      err);

		if (rc > 0)
			break;
		if (rc < 0) {
			log_warn("cannot convert '%s': %s", repos.v[i],
			         err->msg);
			*err = ERR_INIT;
		}
	}
	ret = 0;
out:
	strvec_release(&repos);
	return ret;
}
