/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.c - scrub (re-hash what is stored) and fsck (compare the index
 * with the layouts). Both only read and report; neither repairs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/ref.h"
#include "index/kv.h"
#include "index/store_int.h"

static void report(store_report_fn fn, void *arg, struct check_report *rep,
                   const char *fmt, ...) PRINTF(4, 5);

static void report(store_report_fn fn, void *arg, struct check_report *rep,
                   const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rep->problems++;
	if (fn)
		fn(arg, line);
}

/* Where a scrub stands: files looked at of all, bytes hashed. */
struct scrub_progress {
	const struct store_progress_cb *cb;
	uint64_t done, total, bytes;
};

static void scrub_note(const struct scrub_progress *pr)
{
	progress_note(pr->cb, "blobs", pr->done, pr->total, pr->bytes, 0);
}

/* The names in @dir that scrub_dir() looks at, for the total. */
static uint64_t count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Hash every file of @dir (named by hex digest of @alg) once per inode. */
static int scrub_dir(const char *dir, const char *label, enum digest_alg alg,
                     struct hmap *seen, store_report_fn fn, void *arg,
                     struct scrub_progress *pr, struct check_report *rep,
                     struct err *err)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX], ikey[48], name[DIGEST_STR_MAX + 256];
		struct err e2 = ERR_INIT;
		struct digest want, got;
		struct stat sb;
		char *dot;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		scrub_note(pr); /* what is done before this one */
		pr->done++;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(path) ||
		    stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		/* Content store copies past a link limit are <hex>.<n>. */
		snprintf(name, sizeof(name), "%s:%s", digest_alg_name(alg),
		         de->d_name);
		dot = strchr(name, '.');
		if (dot)
			*dot = '\0';
		if (digest_parse(&want, name, strlen(name), &e2) < 0) {
			report(fn, arg, rep, "%s/%s: not a blob name", label,
			       de->d_name);
			continue;
		}
		snprintf(ikey, sizeof(ikey), "%llu:%llu",
		         (unsigned long long)sb.st_dev,
		         (unsigned long long)sb.st_ino);
		if (hmap_get(seen, ikey))
			continue; /* a hard link of a file already checked */
		if (hmap_put(seen, ikey, (void *)1) < 0) {
			closedir(d);
			return err_set(err, ERR_NOMEM, "cannot scrub");
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || digest_fd(alg, fd, &got, &e2) < 0) {
			report(fn, arg, rep, "%s/%s: unreadable: %s", label,
			       de->d_name, fd < 0 ? strerror(errno) : e2.msg);
		} else if (!digest_equal(&want, &got)) {
			char gs[DIGEST_STR_MAX];

			digest_format(&got, gs);
			report(fn, arg, rep, "%s/%s: content hashes to %s",
			       label, de->d_name, gs);
		}
		if (fd >= 0)
			close(fd);
		rep->checked++;
		pr->bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return 0;
}

/* Report references of @repo's manifests to blobs it does not hold. */
static void scrub_refs(struct store *st, const char *repo, store_report_fn fn,
                       void *arg, struct check_report *rep)
{
	struct err e2 = ERR_INIT;
	struct repo *r = repo_ref(st, repo, &e2);
	json_t *e;
	size_t i;

	if (!r)
		return;
	repo_lock_read(st, r);
	if (repo_load(st, r, &e2) < 0) {
		report(fn, arg, rep, "%s: %s", repo, e2.msg);
		goto out;
	}
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		const char *ds = json_string_value(json_object_get(e, "digest"));
		const struct msum *m;
		struct digest d;
		uint64_t size;

		e2 = ERR_INIT;
		if (!ds || digest_parse(&d, ds, strlen(ds), &e2) < 0) {
			report(fn, arg, rep, "%s: index.json entry %zu has no "
			       "valid digest", repo, i);
			continue;
		}
		if (store_blob_stat(st, repo, &d, &size, &e2) < 0) {
			report(fn, arg, rep, "%s: manifest %s is missing", repo,
			       ds);
			continue;
		}
		m = msum_get(st, repo, &d, &e2);
		for (size_t k = 0; m && k < m->nrefs; k++) {
			char rs[DIGEST_STR_MAX];

			if (store_blob_stat(st, repo, &m->refs[k], &size, &e2) ==
			    0)
				continue;
			digest_format(&m->refs[k], rs);
			report(fn, arg, rep, "%s: %s names missing blob %s",
			       repo, ds, rs);
		}
		msum_put(st, m);
	}
out:
	repo_unlock(st, r);
	repo_unref(st, r);
}

/*
 * The directory of @alg's blobs of repository @i of @repos, or with @i
 * past the last, of the content store, and its name in reports. -1 when
 * the path is too long.
 */
static int blob_dir(const struct store *st, const struct strvec *repos,
                    size_t i, enum digest_alg alg, char *dir, char *label)
{
	const char *name = digest_alg_name(alg);

	if (i == repos->n) {
		snprintf(label, PATH_MAX, ".dray/blobs/%s", name);
		return snprintf(dir, PATH_MAX, "%s/%s", st->casdir, name) >=
		                       PATH_MAX
		               ? -1
		               : 0;
	}
	snprintf(label, PATH_MAX, "%s/blobs/%s", repos->v[i], name);
	return snprintf(dir, PATH_MAX, "%s/%s/blobs/%s", st->root, repos->v[i],
	                name) >= PATH_MAX
	               ? -1
	               : 0;
}

int store_scrub(struct store *st, store_report_fn fn, void *arg,
                const struct store_progress_cb *progress,
                struct check_report *rep, struct err *err)
{
	struct strvec repos = {0};
	struct hmap *seen = hmap_new();
	struct scrub_progress pr = {progress, 0, 0, 0};
	char dir[PATH_MAX], label[PATH_MAX];
	int ret = -1;

	*rep = (struct check_report){0};
	if (!seen)
		return err_set(err, ERR_NOMEM, "cannot scrub");
	if (store_walk(st, &repos, err) < 0)
		goto out;
	/* Every repository's blobs, then the content store's. */
	for (size_t i = 0; progress && i <= repos.n; i++)
		for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++)
			if (blob_dir(st, &repos, i, (enum digest_alg)a, dir,
			             label) == 0)
				pr.total += count_dir(dir);
	for (size_t i = 0; i <= repos.n; i++) {
		for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
			if (blob_dir(st, &repos, i, (enum digest_alg)a, dir,
			             label) < 0)
				continue;
			if (scrub_dir(dir, label, (enum digest_alg)a, seen, fn,
			              arg, &pr, rep, err) < 0)
				goto out;
		}
		if (i < repos.n)
			scrub_refs(st, repos.v[i], fn, arg, rep);
	}
	pr.total = pr.done; /* files may have come or gone meanwhile */
	scrub_note(&pr);
	ret = 0;
out:
	hmap_free(seen);
	strvec_release(&repos);
	return ret;
}

int store_fsck(struct store *st, store_report_fn fn, void *arg,
               const struct store_progress_cb *progress,
               struct check_report *rep, struct err *err)
{
	struct strvec repos = {0}, listed = {0};
	int ret = -1;

	*rep = (struct check_report){0};
	if (store_walk(st, &repos, err) < 0)
		goto out;
	for (size_t i = 0; i < repos.n; i++) {
		struct err e2 = ERR_INIT;
		struct repo *r = repo_ref(st, repos.v[i], &e2);
		struct strvec tags = {0}, want = {0};
		bool more;
		json_t *e;
		size_t k;

		progress_note(progress, "repositories", i, repos.n, 0, 0);
		rep->checked++;
		if (!r)
			continue;
		if (repo_lock(st, r, &e2) < 0) {
			report(fn, arg, rep, "%s: %s", repos.v[i], e2.msg);
			repo_unref(st, r);
			continue;
		}
		if (repo_load(st, r, &e2) < 0) {
			report(fn, arg, rep, "%s: %s", repos.v[i], e2.msg);
			repo_unlock(st, r);
			repo_unref(st, r);
			continue;
		}
		if (r->stale)
			report(fn, arg, rep,
			       "%s: index.json changed since it was indexed",
			       repos.v[i]);
		json_array_foreach(json_object_get(r->index, "manifests"), k, e)
		{
			const char *t = entry_tag(e);
			struct err ig = ERR_INIT;
			struct manifest_desc desc;

			if (!t || ref_tag_check(t, &ig) < 0)
				continue;
			if (strvec_push(&want, t) < 0)
				break;
			if (idx_tag_get(st, repos.v[i], t, &desc, &ig) < 0)
				report(fn, arg, rep,
				       "%s: tag %s is not in the index",
				       repos.v[i], t);
		}
		if (idx_tags(st, repos.v[i], NULL, SIZE_MAX, &tags, &more,
		             &e2) == 0) {
			for (k = 0; k < tags.n; k++) {
				bool found = false;

				for (size_t j = 0; j < want.n && !found; j++)
					found = strcmp(want.v[j], tags.v[k]) ==
					        0;
				if (!found)
					report(fn, arg, rep,
					       "%s: the index has tag %s, "
					       "index.json does not",
					       repos.v[i], tags.v[k]);
			}
		}
		repo_unlock(st, r);
		repo_unref(st, r);
		strvec_release(&tags);
		strvec_release(&want);
	}
	progress_note(progress, "repositories", repos.n, repos.n, 0, 0);
	/* Repositories the index lists that the disk does not have. */
	{
		bool more;

		if (idx_catalog(st, NULL, SIZE_MAX, &listed, &more, err) < 0)
			goto out;
		for (size_t i = 0; i < listed.n; i++) {
			bool found = false;

			for (size_t j = 0; j < repos.n && !found; j++)
				found = strcmp(listed.v[i], repos.v[j]) == 0;
			if (!found)
				report(fn, arg, rep,
				       "%s: in the index, not on disk",
				       listed.v[i]);
		}
		for (size_t j = 0; j < repos.n; j++) {
			bool found = false;

			for (size_t i = 0; i < listed.n && !found; i++)
				found = strcmp(listed.v[i], repos.v[j]) == 0;
			if (!found)
				report(fn, arg, rep,
				       "%s: on disk, not in the index",
				       repos.v[j]);
		}
	}
	ret = 0;
out:
	strvec_release(&listed);
	strvec_release(&repos);
	return ret;
}
