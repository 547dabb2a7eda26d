/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blob.c - blobs in repositories: stat, open and delete a repository's
 * blob, mount one from another repository, and place verified content
 * (an upload's staging file, a file written through the mount) into a
 * repository: with dedupe a link to the content store's copy (cas.c),
 * else the file itself or a copy. A blob is either absent or complete,
 * and two uploads of the same content end as one file (the second link
 * finds the first and is dropped).
 *
 * The rest of the blob path: upload sessions in upload.c, their staging
 * files' writer in upload_io.c, parking across restarts in park.c.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fsutil.h"
#include "daemon/ref.h"
#include "index/store_int.h"

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
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		return -1;
	}
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
	if (dedupe_on(st)) {
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

/* Repositories store_blob_adopt() tries. */
#define ADOPT_TRIES 8

int store_blob_adopt(struct store *st, const char *repo,
                     const struct digest *d, struct err *err)
{
	struct strvec holders = {0};
	int ret = -1;

	if (ref_name_check(repo, err) < 0 ||
	    idx_blob_holders(st, d, ADOPT_TRIES, &holders, err) < 0)
		return -1;
	for (size_t i = 0; i < holders.n && ret < 0; i++) {
		struct err e = ERR_INIT;

		/* The index may lag a delete: store_blob_mount() checks the
		 * holder's file and its hash. */
		if (strcmp(holders.v[i], repo) != 0 &&
		    store_blob_mount(st, repo, holders.v[i], d, &e) == 0)
			ret = 0;
	}
	if (ret < 0)
		err_set(err, ERR_NOT_FOUND, "no other repository holds %s",
		        d->hex);
	strvec_release(&holders);
	return ret;
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

	return dedupe_on(st) &&
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
int blob_store_locked(struct store *st, const char *repo,
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
		if (repo_lock(st, r, err) < 0) {
			ret = -1;
			break;
		}
		ret = layout ? repo_create(st, repo, err) : 0;
		if (ret == 0)
			ret = place_seen(st, repo, src, d, src_is_private, sp,
			                 err);
		/*
		 * A repository that so far holds only blobs is indexed too.
		 * One this node has loaded is indexed already: a blob needs
		 * nothing of its manifests, so what other nodes changed
		 * there is left to this node's next read of it (on a shared
		 * tree, a reload and a re-index per upload otherwise).
		 */
		if (ret == 0 && layout && !r->loaded)
			ret = repo_load(st, r, err);
		repo_unlock(st, r);
	}
	repo_unref(st, r);
	return ret;
}
