/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsview.c - the storage tree as the mount shows it: the layouts, and
 * nothing of dray's own state. fusefs/ reads through these functions only.
 */
#define _GNU_SOURCE /* d_type */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon/access.h"
#include "daemon/fsutil.h"
#include "daemon/live.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store_int.h"

/*
 * What the mount holds under names that are not layout files (NOTES, an
 * editor's swap file, `jq > tmp`, umoci's .umoci-* directories) lives
 * in <root>/.dray/stage, at the same path as in the view: durable across
 * restarts, never served over HTTP, and judged only when renamed onto a
 * layout file. A name with a component that starts with a dot, below a
 * repository, is a staging directory or lies inside one.
 */
#define STAGE_DIR ".dray/stage"

/*
 * An index.json written into a live repository that waits for content
 * is kept in <root>/.dray/pending/<repo>/index.json until it lands or is
 * dropped, so a restart does not lose it (store_fs_restore()).
 */
#define PENDING_DIR ".dray/pending"

/* 0 if policy @a lets the mount do @action on @repo; else EACCES. */
static int allowed(const struct access *a, const char *repo,
                   enum access_action action, struct err *err)
{
	if (access_allows(a, NULL, repo, action))
		return 0;
	return err_set_errno(err, EACCES,
	                     "%s on repository '%s' is not allowed "
	                     "(http.accessControl)",
	                     access_action_name(action), repo);
}

/* The same with the policy in force. */
static int check_access(struct store *st, const char *repo,
                        enum access_action action, struct err *err)
{
	struct live_ref *ref;
	int ret = allowed(rules_get(st, &ref)->access, repo, action, err);

	live_put(ref);
	return ret;
}

/* Is @rel a well-formed path that can be in the view? */
static int rel_check(const char *rel, struct err *err)
{
	const char *p = rel;

	/* Dot entries at the top are dray's (.dray): not in the view. */
	if (rel[0] == '.')
		return err_set(err, ERR_NOT_FOUND, "not in the view");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(err, ERR_INVALID, "malformed path");
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* Is @rel a path inside the view? Fills the absolute path into @out. */
static int view_path(const struct store *st, const char *rel, char *out,
                     size_t outsz, struct err *err)
{
	if (rel_check(rel, err) < 0)
		return -1;
	if (snprintf(out, outsz, "%s%s%s", st->root, *rel ? "/" : "", rel) >=
	    (int)outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/* Where @rel is staged (PATH_MAX into @out): .dray/stage/<rel>. */
static int stage_path(const struct store *st, const char *rel, char *out,
                      struct err *err)
{
	if (rel_check(rel, err) < 0)
		return -1;
	if (snprintf(out, PATH_MAX, "%s/" STAGE_DIR "%s%s", st->root,
	             *rel ? "/" : "", rel) >= PATH_MAX)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/*
 * The first component of @rel that starts with a dot, or NULL. Below a
 * repository it names a staging directory (or a hidden temporary file).
 */
static const char *hidden_part(const char *rel)
{
	const char *p = rel;

	for (;;) {
		if (*p == '.')
			return p;
		p = strchr(p, '/');
		if (!p)
			return NULL;
		p++;
	}
}

/* Does @rel lie only in the stage (in or at a staging directory)? */
static bool stage_only(const char *rel)
{
	const char *h = hidden_part(rel);

	return h && h > rel;
}

/* The staging file of temporary @rel into @out, if it is one. */
static bool temp_path(struct store *st, const char *rel, char *out)
{
	struct err ignored = ERR_INIT;
	struct stat sb;

	return stage_path(st, rel, out, &ignored) == 0 &&
	       lstat(out, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool store_fs_is_staged(struct store *st, const char *rel)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	struct stat sb;

	return temp_path(st, rel, path) ||
	       (stage_only(rel) && store_fs_stat(st, rel, &sb, &ignored) == 0);
}

int store_fs_set_staged(struct store *st, const char *rel,
                        const struct fs_attr *a, struct err *err)
{
	char path[PATH_MAX];

	if (!store_fs_is_staged(st, rel))
		return err_set(err, ERR_NOT_FOUND, "'%s' is not staged", rel);
	if (stage_path(st, rel, path, err) < 0)
		return -1;
	if ((a->set & FS_SET_MODE) && chmod(path, a->mode & 07777) < 0)
		return err_set_errno(err, errno, "cannot chmod '%s'", rel);
	if ((a->set & (FS_SET_UID | FS_SET_GID)) &&
	    lchown(path, a->set & FS_SET_UID ? a->uid : (uid_t)-1,
	           a->set & FS_SET_GID ? a->gid : (gid_t)-1) < 0)
		return err_set_errno(err, errno, "cannot chown '%s'", rel);
	if ((a->set & FS_SET_SIZE) && truncate(path, (off_t)a->size) < 0)
		return err_set_errno(err, errno, "cannot truncate '%s'", rel);
	if ((a->set & FS_SET_TIMES) &&
	    utimensat(AT_FDCWD, path, a->times, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set_errno(err, errno, "cannot set times of '%s'",
		                     rel);
	return 0;
}

/* Make the directories above @path, a path in .dray. */
static int stage_parent(char *path, struct err *err)
{
	char *slash = strrchr(path, '/');
	int ret;

	*slash = '\0';
	ret = fs_mkdir_p(path, 0755, err);
	*slash = '/';
	return ret;
}

/*
 * After @rel left the stage: remove the directories above it that only
 * held staged names (a staging directory stays until rmdir).
 */
static void stage_prune(struct store *st, const char *rel)
{
	struct err ignored = ERR_INIT;
	char dir[PATH_MAX], path[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", rel);
	while ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		if (stage_only(dir) ||
		    stage_path(st, dir, path, &ignored) < 0 || rmdir(path) < 0)
			return;
	}
}

/*
 * Is @rel the oci-layout of a repository whose copy through the mount
 * completed before the copy's own oci-layout came? dray wrote one to
 * publish it; the mount shows none until the copy's arrives, which cp
 * creates with O_EXCL (EEXIST otherwise).
 */
static bool layout_hidden(struct store *st, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char name[REF_NAME_MAX + 1];
	struct repo *r;
	bool hidden;

	if (!slash || strcmp(slash + 1, "oci-layout") ||
	    (size_t)(slash - rel) > REF_NAME_MAX)
		return false;
	memcpy(name, rel, (size_t)(slash - rel));
	name[slash - rel] = '\0';
	pthread_mutex_lock(&st->lock);
	r = hmap_get(st->repos, name);
	hidden = r && r->layout_hidden;
	pthread_mutex_unlock(&st->lock);
	return hidden;
}

/* Show @r's oci-layout again (the copy's came, or the copy is over). */
static void layout_show(struct store *st, struct repo *r)
{
	bool was;

	pthread_mutex_lock(&st->lock);
	was = r->layout_hidden;
	r->layout_hidden = false;
	pthread_mutex_unlock(&st->lock);
	if (was)
		store_changed(st, r->name, "oci-layout");
}

int store_fs_stat(struct store *st, const char *rel, struct stat *sb,
                  struct err *err)
{
	char path[PATH_MAX];

	if (temp_path(st, rel, path)) {
		if (stat(path, sb) < 0)
			return err_set_errno(err, errno, "cannot stat");
		return 0;
	}
	if (stage_only(rel)) {
		/* A staging directory. */
		if (stage_path(st, rel, path, err) < 0)
			return -1;
		if (lstat(path, sb) < 0)
			return err_set_errno(err, errno, "cannot stat");
		if (!S_ISDIR(sb->st_mode))
			return err_set(err, ERR_NOT_FOUND, "not in the view");
		return 0;
	}
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (layout_hidden(st, rel))
		return err_set(err, ERR_NOT_FOUND, "not in the view yet");
	if (lstat(path, sb) < 0)
		return err_set_errno(err, errno, "cannot stat");
	if (!S_ISREG(sb->st_mode) && !S_ISDIR(sb->st_mode))
		return err_set(err, ERR_NOT_FOUND, "not in the view");
	return 0;
}

/*
 * Add what the stage holds in directory @rel to @out: staged files and
 * staging directories (its other directories mirror the layout's own).
 * With @all (@rel is itself staged), every entry.
 */
static int list_stage(struct store *st, const char *rel, bool all,
                      struct strvec *out, struct err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	if (!*rel || stage_path(st, rel, path, err) < 0)
		return *rel ? -1 : 0;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT && !all)
			return 0;
		return err_set_errno(err, errno, "cannot list");
	}
	while ((de = readdir(d))) {
		bool dir = de->d_type == DT_DIR;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat sb;

			dir = fstatat(dirfd(d), de->d_name, &sb,
			              AT_SYMLINK_NOFOLLOW) == 0 &&
			      S_ISDIR(sb.st_mode);
		}
		if (!all && dir && de->d_name[0] != '.')
			continue;
		if (strvec_push(out, de->d_name) < 0) {
			ret = err_set(err, ERR_NOMEM, "cannot list");
			break;
		}
	}
	closedir(d);
	return ret;
}

int store_fs_list(struct store *st, const char *rel, struct strvec *out,
                  struct err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t first;
	bool hide;
	DIR *d;
	int ret = 0;

	if (stage_only(rel))
		return list_stage(st, rel, true, out, err);
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	hide = snprintf(path, sizeof(path), "%s/oci-layout", rel) <
	               (int)sizeof(path) &&
	       layout_hidden(st, path);
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	d = opendir(path);
	if (!d)
		return err_set_errno(err, errno, "cannot list");
	first = out->n;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (!*rel || !strcmp(de->d_name, ".") ||
		     !strcmp(de->d_name, "..")))
			continue;
		if (hide && !strcmp(de->d_name, "oci-layout"))
			continue;
		if (strvec_push(out, de->d_name) < 0) {
			ret = err_set(err, ERR_NOMEM, "cannot list");
			break;
		}
		/*
		 * oci-layout first: `rm -r` removes in listing order, and
		 * its removal withdraws the repository from HTTP at once,
		 * after which the rest goes as plain files.
		 */
		if (!strcmp(de->d_name, "oci-layout") && out->n - 1 > first) {
			char *t = out->v[first];

			out->v[first] = out->v[out->n - 1];
			out->v[out->n - 1] = t;
		}
	}
	closedir(d);
	if (ret == 0)
		ret = list_stage(st, rel, false, out, err);
	return ret;
}

int store_fs_open(struct store *st, const char *rel, int *fd, struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	int f;

	if (!temp_path(st, rel, path) &&
	    view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (layout_hidden(st, rel))
		return err_set(err, ERR_NOT_FOUND, "not in the view yet");
	f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return err_set_errno(err, errno, "cannot open");
	if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return err_set(err, ERR_NOT_FOUND, "not a file");
	}
	*fd = f;
	return 0;
}

uint64_t store_fs_recheck_ms(const struct store *st)
{
	return st->shared ? st->opts.recheck_ms : 0;
}

bool store_fs_is_blob(const char *rel)
{
	return strstr(rel, "/blobs/sha256/") || strstr(rel, "/blobs/sha512/");
}

/* ------------------------------------------------------------ writing */

enum wkind { W_BLOB, W_INDEX, W_LAYOUT, W_TEMP };

struct fs_writer {
	struct store *st;            /* the store */
	enum wkind kind;             /* what is being written */
	char repo[REF_NAME_MAX + 1]; /* the repository (directory) */
	struct digest digest;        /* W_BLOB: the name */
	struct upload *up;           /* W_BLOB: staging, hashed */
	char *buf;                   /* W_INDEX, W_LAYOUT: the bytes */
	size_t len, cap;             /* their length and allocation */
	uint64_t size;               /* bytes written (the file's size) */
	char rel[PATH_MAX];          /* W_TEMP: its name in the view */
	int fd;                      /* W_TEMP: its staging file */
	bool done;                   /* committed: no more writes */
	bool untouched;              /* store_fs_edit(): nothing written
	                                over the copy yet, nothing to judge */
	uint64_t limit;              /* W_BLOB: the size its digest has
	                                where the store knows it; else
	                                UINT64_MAX */
};

#define FS_TEXT_MAX (64u << 20) /* index.json, oci-layout */

/* Is the name after @slash, in blobs directory @b, a digest? */
static bool blob_name(const char *b, const char *slash, struct fs_writer *w)
{
	struct err ignored = ERR_INIT;
	char dstr[DIGEST_STR_MAX + 8];

	return snprintf(dstr, sizeof(dstr), "%.*s:%s", (int)(slash - (b + 7)),
	                b + 7, slash + 1) < (int)sizeof(dstr) &&
	       digest_parse(&w->digest, dstr, strlen(dstr), &ignored) == 0;
}

/* Split @rel into repository and kind. */
static int classify(const char *rel, struct fs_writer *w, struct err *err)
{
	const char *slash = strrchr(rel, '/'), *b, *h = hidden_part(rel);
	size_t n;

	if (!slash || h == rel)
		return err_set(err, ERR_DENIED,
		               "only layout files can be written here");
	b = strstr(rel, "/blobs/");
	if (h && h < slash) {
		/* In a staging directory: a temporary, whatever its name. */
		n = (size_t)(h - 1 - rel);
		if (b && b < h)
			n = (size_t)(b - rel);
		w->kind = W_TEMP;
	} else if (b && strchr(b + 7, '/') == slash && blob_name(b, slash, w)) {
		n = (size_t)(b - rel);
		w->kind = W_BLOB;
	} else if (!strcmp(slash + 1, "index.json")) {
		n = (size_t)(slash - rel);
		w->kind = W_INDEX;
	} else if (!strcmp(slash + 1, "oci-layout")) {
		n = (size_t)(slash - rel);
		w->kind = W_LAYOUT;
	} else {
		/* Anything else in a repository's directory is a temporary. */
		n = (size_t)(slash - rel);
		if (b && b < slash)
			n = (size_t)(b - rel);
		w->kind = W_TEMP;
	}
	if (n > REF_NAME_MAX)
		return err_set(err, ERR_INVALID, "repository name too long");
	memcpy(w->repo, rel, n);
	w->repo[n] = '\0';
	return ref_name_check(w->repo, err);
}

/*
 * Open a new staging file for temporary @rel, replacing what the name
 * held (a reader that has the old one open keeps it). Returns its fd.
 */
static int stage_create(struct store *st, const char *rel, struct err *err)
{
	char path[PATH_MAX];
	int fd = -1;

	if (stage_path(st, rel, path, err) < 0)
		return -1;
	/* ENOENT: a stage_prune() took the directory meanwhile. */
	for (int tries = 0; fd < 0 && tries < 3; tries++) {
		if (stage_parent(path, err) < 0)
			return -1;
		if (unlink(path) < 0 && errno != ENOENT)
			break;
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 && errno != ENOENT)
			break;
	}
	if (fd < 0)
		return err_set_errno(err, errno, "cannot stage '%s'", rel);
	return fd;
}

/*
 * The size content named @d has, where the store holds it (in @repo or
 * in the content store); UINT64_MAX when unknown.
 */
static uint64_t known_size(struct store *st, const char *repo,
                           const struct digest *d)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	struct stat sb;
	uint64_t size;

	if (store_blob_stat(st, repo, d, &size, &ignored) == 0)
		return size;
	if (snprintf(path, sizeof(path), "%s/%s/%s", st->casdir,
	             digest_alg_name(d->alg), d->hex) < (int)sizeof(path) &&
	    stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		return (uint64_t)sb.st_size;
	return UINT64_MAX;
}

struct fs_writer *store_fs_create(struct store *st, const char *rel,
                                  struct err *err)
{
	struct fs_writer *w = calloc(1, sizeof(*w));
	char id[STORE_UPLOAD_ID_MAX];

	if (!w) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->st = st;
	if (classify(rel, w, err) < 0 ||
	    check_access(st, w->repo, ACCESS_CREATE, err) < 0)
		goto fail;
	w->fd = -1;
	if (w->kind == W_TEMP) {
		snprintf(w->rel, sizeof(w->rel), "%s", rel);
		w->fd = stage_create(st, rel, err);
		if (w->fd < 0)
			goto fail;
		return w;
	}
	if (w->kind == W_BLOB) {
		if (store_upload_start(st, w->repo, id, err) < 0)
			goto fail;
		w->up = store_upload_get(st, w->repo, id, err);
		if (!w->up)
			goto fail;
		upload_no_layout(w->up);
		upload_borrow(w->up, &w->digest);
		w->limit = known_size(st, w->repo, &w->digest);
	}
	return w;
fail:
	store_fs_writer_free(w);
	return NULL;
}

int store_fs_write(struct fs_writer *w, const void *buf, size_t len,
                   uint64_t off, struct err *err)
{
	if (w->done)
		return err_set(err, ERR_INVALID, "file already closed");
	if (off + len > store_fs_limit(w))
		return err_set_errno(err, EFBIG,
		                     "content named %s:%s has %" PRIu64
		                     " bytes: a write up to byte %" PRIu64
		                     " cannot match its name",
		                     digest_alg_name(w->digest.alg),
		                     w->digest.hex, w->limit, off + len);
	w->untouched = false;
	if (w->kind == W_TEMP) {
		if (fs_pwrite_all(w->fd, buf, len, off, err) < 0)
			return -1;
	} else if (w->kind == W_BLOB) {
		if (upload_write_at(w->up, buf, len, off, err) < 0)
			return -1;
	} else {
		if (off + len > FS_TEXT_MAX)
			return err_set_errno(err, EFBIG,
			                     "index.json and oci-layout hold "
			                     "at most %u MiB",
			                     FS_TEXT_MAX >> 20);
		if (off + len > w->cap) {
			size_t cap = w->cap ? w->cap : 4096;
			char *p;

			while (cap < off + len)
				cap *= 2;
			p = realloc(w->buf, cap);
			if (!p)
				return err_set(err, ERR_NOMEM, "out of memory");
			memset(p + w->cap, 0, cap - w->cap);
			w->buf = p;
			w->cap = cap;
		}
		memcpy(w->buf + off, buf, len);
		if (off + len > w->len)
			w->len = off + len;
	}
	if (off + len > w->size)
		w->size = off + len;
	return 0;
}

uint64_t store_fs_written(const struct fs_writer *w)
{
	return w->size;
}

int store_fs_truncate(struct fs_writer *w, uint64_t size, struct err *err)
{
	char id[STORE_UPLOAD_ID_MAX];

	if (w->done)
		return err_set(err, ERR_INVALID, "file already closed");
	if (size == w->size)
		return 0;
	switch (w->kind) {
	case W_TEMP:
		if (ftruncate(w->fd, (off_t)size) < 0)
			return err_set_errno(err, errno, "cannot truncate");
		break;
	case W_BLOB:
		/* Hashed as it comes: it can only start again. */
		if (size != 0)
			return err_set_errno(err, EPERM,
			                     "a blob being written can only be "
			                     "emptied");
		if (store_upload_start(w->st, w->repo, id, err) < 0)
			return -1;
		store_upload_cancel(w->up);
		w->up = store_upload_get(w->st, w->repo, id, err);
		if (!w->up)
			return -1;
		upload_no_layout(w->up);
		upload_borrow(w->up, &w->digest);
		break;
	default:
		if (size > w->len) {
			char zero = 0;

			/* Grown with zeros, as ftruncate(2) does. */
			if (store_fs_write(w, &zero, 1, size - 1, err) < 0)
				return -1;
		}
		w->len = (size_t)size;
		break;
	}
	w->untouched = false;
	w->size = size;
	return 0;
}

uint64_t store_fs_limit(const struct fs_writer *w)
{
	return w->kind == W_BLOB ? w->limit : UINT64_MAX;
}

/* Name @d in @missing, if there is a list. */
static void list_missing(struct strvec *missing, const struct digest *d)
{
	char ds[DIGEST_STR_MAX];

	if (!missing)
		return;
	digest_format(d, ds);
	/* Out of memory the list comes out short; the counts stay right. */
	if (strvec_push(missing, ds) < 0)
		return;
}

/*
 * How many blobs @repo lacks of @d and all it names (through indexes),
 * each listed in @missing when that is not NULL. A manifest that is
 * present but unreadable counts as missing: nothing can be served.
 */
static size_t missing_in_tree(struct store *st, const char *repo,
                              const struct digest *d, int depth,
                              struct strvec *missing)
{
	struct err ignored = ERR_INIT;
	const struct msum *m;
	uint64_t size;
	size_t n = 0;

	if (depth > 8 || store_blob_stat(st, repo, d, &size, &ignored) < 0)
		goto lacks;
	m = msum_get(st, repo, d, &ignored);
	if (!m)
		goto lacks;
	for (size_t i = 0; i < m->nrefs && (missing || !n); i++) {
		if (m->is_index) {
			n += missing_in_tree(st, repo, &m->refs[i], depth + 1,
			                     missing);
		} else if (store_blob_stat(st, repo, &m->refs[i], &size,
		                           &ignored) < 0) {
			list_missing(missing, &m->refs[i]);
			n++;
		}
	}
	msum_put(st, m);
	return n;
lacks:
	list_missing(missing, d);
	return 1;
}

/* Parse index.json text; NULL with ERR_INVALID when it is none. */
static json_t *parse_index(const char *buf, size_t len, struct err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr), *e;
	size_t i;

	if (!j)
		goto bad;
	if (!json_is_object(j) ||
	    !json_is_array(json_object_get(j, "manifests")))
		goto bad;
	json_array_foreach(json_object_get(j, "manifests"), i, e)
	{
		struct digest d;

		if (!entry_digest(e, &d))
			goto bad;
	}
	return j;
bad:
	json_decref(j);
	err_set(err, ERR_INVALID, "index.json is not a valid image index%s%s",
	        j ? "" : ": ", j ? "" : jerr.text);
	return NULL;
}

/* What index @j names and @repo lacks, into @missing (may be NULL). */
static size_t index_missing(struct store *st, const char *repo, json_t *j,
                            struct strvec *missing)
{
	size_t n = 0;
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(j, "manifests"), i, e)
	{
		struct digest d;

		if (!entry_digest(e, &d))
			return n + 1; /* parse_index() let none such through */
		n += missing_in_tree(st, repo, &d, 0, missing);
		if (n && !missing)
			break;
	}
	return n;
}

static bool index_complete(struct store *st, const char *repo, json_t *j)
{
	return index_missing(st, repo, j, NULL) == 0;
}

static bool has_file(struct store *st, const char *repo, const char *name)
{
	char path[PATH_MAX];
	struct err ignored = ERR_INIT;

	return repo_path(st, repo, name, path, sizeof(path), &ignored) == 0 &&
	       access(path, F_OK) == 0;
}

/* Where @repo's waiting index.json is kept (PATH_MAX into @out). */
static int pending_path(const struct store *st, const char *repo, char *out,
                        struct err *err)
{
	if (snprintf(out, PATH_MAX, "%s/" PENDING_DIR "/%s/index.json",
	             st->root, repo) >= PATH_MAX)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/* Forget @r's waiting index.json, if any. */
static void pending_drop(struct store *st, const char *repo)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX], top[PATH_MAX];
	struct pending *p;
	char *slash;

	pthread_mutex_lock(&st->lock);
	p = hmap_del(st->pending, repo);
	pthread_mutex_unlock(&st->lock);
	if (!p)
		return;
	free(p->buf);
	free(p);
	/* Its durable copy, and the directories that only held it. */
	if (pending_path(st, repo, path, &ignored) < 0 || unlink(path) < 0)
		return;
	snprintf(top, sizeof(top), "%s/" PENDING_DIR, st->root);
	while ((slash = strrchr(path, '/')) && slash > path + strlen(top)) {
		*slash = '\0';
		if (rmdir(path) < 0)
			break;
	}
}

/*
 * Keep @buf as @repo's waiting index.json: durable before close()
 * answers, so a restart finds it (store_fs_restore()).
 */
static int pending_keep(struct store *st, const char *repo, const char *buf,
                        size_t len, struct err *err)
{
	char path[PATH_MAX];

	if (pending_path(st, repo, path, err) < 0 ||
	    stage_parent(path, err) < 0)
		return -1;
	return fs_write_atomic(st->tmpdir, path, buf, len, err);
}

/*
 * What replacing @r's index.json by @buf needs of the policy, beyond
 * create: delete for a tag that goes, update for one that moves.
 */
static int check_index_change(struct store *st, struct repo *r, const char *buf,
                              size_t len, struct err *err)
{
	json_t *next = NULL, *e;
	struct hmap *tags = NULL;
	unsigned need = 0;
	size_t i;
	int ret = 0;
	struct live_ref *ref;
	const struct access *pol = rules_get(st, &ref)->access;

	if (!pol || !pol->on)
		goto out;
	if (repo_load(st, r, err) < 0) {
		ret = -1;
		goto out;
	}
	next = parse_index(buf, len, err);
	tags = hmap_new();
	if (!next || !tags) {
		ret = next ? err_set(err, ERR_NOMEM, "out of memory") : -1;
		goto out;
	}
	json_array_foreach(json_object_get(next, "manifests"), i, e)
	{
		const char *tag = entry_tag(e);

		if (tag && hmap_put(tags, tag, e) < 0) {
			ret = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		const char *tag = entry_tag(e);
		struct digest a, b;
		json_t *now;

		if (!tag)
			continue;
		now = hmap_get(tags, tag);
		if (!now)
			need |= ACCESS_DELETE;
		else if (!entry_digest(e, &a) || !entry_digest(now, &b) ||
		         !digest_equal(&a, &b))
			need |= ACCESS_UPDATE;
	}
	if ((need & ACCESS_DELETE) &&
	    allowed(pol, r->name, ACCESS_DELETE, err) < 0)
		ret = -1;
	else if ((need & ACCESS_UPDATE) &&
	         allowed(pol, r->name, ACCESS_UPDATE, err) < 0)
		ret = -1;
out:
	live_put(ref);
	hmap_free(tags);
	json_decref(next);
	return ret;
}

/* End what layout_keep() kept for @repo: its own oci-layout shows. */
static void layout_drop(struct store *st, const char *repo)
{
	char rel[REF_NAME_MAX + sizeof("/oci-layout")], path[PATH_MAX];
	struct err ignored = ERR_INIT;

	snprintf(rel, sizeof(rel), "%s/oci-layout", repo);
	if (stage_path(st, rel, path, &ignored) == 0 && unlink(path) == 0) {
		stage_prune(st, rel);
		store_changed(st, repo, "oci-layout");
	}
}

/*
 * The oci-layout a copy wrote before its layout was complete: kept as a
 * temporary of @rel holding @len bytes @buf, so the writer can stat it,
 * set its times (shutil.copytree, cp -a) and read it back; not in the
 * repository's directory, where it would publish what is not complete.
 * layout_drop() ends it when dray writes its own.
 */
static int layout_keep(struct store *st, const char *rel, const char *buf,
                       size_t len, struct err *err)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	int fd = stage_create(st, rel, err);
	int ret;

	if (fd < 0)
		return -1;
	ret = fs_pwrite_all(fd, buf, len, 0, err);
	close(fd);
	if (ret < 0 && stage_path(st, rel, path, &ignored) == 0) {
		unlink(path);
		stage_prune(st, rel);
	}
	return ret;
}

/* Lint manifest @d of @repo and, through indexes, what it names. */
static int lint_tree(struct store *st, const char *repo, const struct digest *d,
                     int depth, struct err *err)
{
	char path[PATH_MAX], *text = NULL;
	const struct msum *m;
	size_t len;
	int ret = 0;

	if (depth > 8)
		return 0;
	m = msum_get(st, repo, d, err);
	if (!m)
		return -1;
	if (m->is_index) {
		for (size_t i = 0; ret == 0 && i < m->nrefs; i++)
			ret = lint_tree(st, repo, &m->refs[i], depth + 1, err);
	} else if (blob_path(st, repo, d, path, sizeof(path), err) < 0 ||
	           fs_read_file(path, STORE_MANIFEST_MAX, &text, &len, err) <
	                   0 ||
	           store_lint(st, repo, text, len, err) < 0) {
		ret = -1;
	}
	free(text);
	msum_put(st, m);
	return ret;
}

/* Is @d listed in the published index of @r (NULL: none yet)? */
static bool published(const struct repo *r, const struct digest *d)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(r->index, "manifests"), i, e)
	{
		struct digest have;

		if (entry_digest(e, &have) && digest_equal(&have, d))
			return true;
	}
	return false;
}

/*
 * What complete index @j adds to @r must pass extensions.lint, as a push
 * over HTTP must (store_lint()). ERR_INVALID says what is missing.
 */
static int index_lint(struct store *st, struct repo *r, json_t *j,
                      struct err *err)
{
	struct live_ref *ref;
	bool on = rules_get(st, &ref)->n_lint > 0;
	json_t *e;
	size_t i;

	live_put(ref);
	if (!on)
		return 0;
	if (repo_has_layout(st, r->name) && repo_load(st, r, err) < 0)
		return -1;
	json_array_foreach(json_object_get(j, "manifests"), i, e)
	{
		struct digest d;

		if (entry_digest(e, &d) && !published(r, &d) &&
		    lint_tree(st, r->name, &d, 0, err) < 0)
			return -1;
	}
	return 0;
}

/* Remember why @r's last index.json was not published, for its status. */
static void set_dropped(struct repo *r, const char *why)
{
	free(r->dropped);
	r->dropped = why ? strdup(why) : NULL;
}

/*
 * Publish what is ready in @repo. Caller holds its lock. A live
 * repository takes its pending index.json once complete; a directory
 * being copied in becomes a repository once its index.json is.
 */
static int settle(struct store *st, struct repo *r, struct err *err)
{
	char path[PATH_MAX];
	struct pending *p;
	json_t *j = NULL;
	char *text = NULL;
	size_t len;
	int ret = 0;

	pthread_mutex_lock(&st->lock);
	p = hmap_get(st->pending, r->name);
	pthread_mutex_unlock(&st->lock);
	if (repo_has_layout(st, r->name)) {
		if (!p)
			return 0;
		j = parse_index(p->buf, p->len, err);
		if (!j || !index_complete(st, r->name, j))
			goto out;
		/* Tags may have moved since (HTTP): judged again or dropped */
		if (check_index_change(st, r, p->buf, p->len, err) < 0) {
			log_warn("%s: index.json written through the mount "
			         "dropped: %s",
			         r->name, err->msg);
			set_dropped(r, err->msg);
			*err = ERR_INIT;
			pending_drop(st, r->name);
			goto out;
		}
		/* Refused as a push would be; the writer hears it too. */
		if (index_lint(st, r, j, err) < 0) {
			log_warn("%s: index.json written through the mount "
			         "refused: %s",
			         r->name, err->msg);
			set_dropped(r, err->msg);
			pending_drop(st, r->name);
			ret = -1;
			goto out;
		}
		/* Published as HTTP publishes: the same write and index. */
		ret = repo_save_text(st, r, p->buf, p->len, j, err);
		j = NULL; /* taken */
		if (ret == 0)
			pending_drop(st, r->name);
		goto out;
	}
	if (repo_path(st, r->name, "index.json", path, sizeof(path), err) < 0 ||
	    fs_read_file(path, FS_TEXT_MAX, &text, &len, err) < 0) {
		*err = ERR_INIT; /* no index.json yet: nothing to settle */
		goto out;
	}
	j = parse_index(text, len, err);
	if (!j || !index_complete(st, r->name, j)) {
		*err = ERR_INIT;
		goto out;
	}
	if (index_lint(st, r, j, err) < 0) {
		log_warn("%s: layout copied into the mount refused: %s",
		         r->name, err->msg);
		set_dropped(r, err->msg);
		ret = -1;
		goto out;
	}
	set_dropped(r, NULL);
	/* A new repository: all of it is new, once the marker is there. */
	store_notify(st, r->name, NULL, j);
	if (repo_write_marker(st, r->name, err) < 0) {
		store_notify_end(st, false);
		ret = -1;
		goto out;
	}
	store_notify_end(st, true);
	/* The copy's own oci-layout may still come (cp: O_EXCL). */
	pthread_mutex_lock(&st->lock);
	r->layout_hidden = !r->layout_came;
	pthread_mutex_unlock(&st->lock);
	r->layout_came = false;
	layout_drop(st, r->name);
	ret = repo_load(st, r, err);
out:
	json_decref(j);
	free(text);
	return ret;
}

/* At most this many missing blobs are named in a status. */
#define STATUS_MISSING_MAX 50

static void status_missing(FILE *f, const struct strvec *missing)
{
	for (size_t i = 0; i < missing->n && i < STATUS_MISSING_MAX; i++)
		fprintf(f, "missing: %s\n", missing->v[i]);
	if (missing->n > STATUS_MISSING_MAX)
		fprintf(f, "missing: ... and %zu more\n",
		        missing->n - STATUS_MISSING_MAX);
}

/* The status of repository @r into @f; caller holds its lock. */
static void status_of(struct store *st, struct repo *r, FILE *f)
{
	struct strvec missing = {0};
	struct err e = ERR_INIT;
	char path[PATH_MAX];
	struct pending *p;
	char *text = NULL;
	json_t *j = NULL;
	size_t len, n;

	if (repo_has_layout(st, r->name)) {
		fputs("state: published\n", f);
		pthread_mutex_lock(&st->lock);
		p = hmap_get(st->pending, r->name);
		j = p ? parse_index(p->buf, p->len, &e) : NULL;
		pthread_mutex_unlock(&st->lock);
		if (j) {
			n = index_missing(st, r->name, j, &missing);
			fprintf(f,
			        "pending: a new index.json waits for %zu "
			        "blob(s)\n",
			        n);
			status_missing(f, &missing);
		} else if (r->dropped) {
			fprintf(f,
			        "dropped: the last index.json written here, "
			        "when its content arrived: %s\n",
			        r->dropped);
		}
		goto out;
	}
	fputs("state: incomplete (not served over HTTP)\n", f);
	if (r->dropped)
		fprintf(f, "refused: %s\n", r->dropped);
	if (repo_path(st, r->name, "index.json", path, sizeof(path), &e) < 0 ||
	    fs_read_file(path, FS_TEXT_MAX, &text, &len, &e) < 0) {
		fputs("waiting: index.json\n", f);
		goto out;
	}
	j = parse_index(text, len, &e);
	if (!j) {
		fprintf(f, "invalid: %s\n", e.msg);
		goto out;
	}
	n = index_missing(st, r->name, j, &missing);
	fprintf(f, "waiting: %zu blob(s) that index.json names\n", n);
	status_missing(f, &missing);
out:
	json_decref(j);
	free(text);
	strvec_release(&missing);
}

bool store_fs_is_repo(struct store *st, const char *rel)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	struct stat sb;

	/* A directory that holds any part of a layout. */
	return *rel && view_path(st, rel, path, sizeof(path), &ignored) == 0 &&
	       stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	       (repo_has_layout(st, rel) || has_file(st, rel, "index.json") ||
	        has_file(st, rel, "blobs"));
}

int store_fs_status(struct store *st, const char *rel, char **out,
                    size_t *outlen, struct err *err)
{
	struct repo *r;
	FILE *f;

	*out = NULL;
	if (!store_fs_is_repo(st, rel))
		return err_set(err, ERR_NOT_FOUND, "not a repository");
	r = repo_ref(st, rel, err);
	if (!r)
		return -1;
	f = open_memstream(out, outlen);
	if (!f) {
		repo_unref(st, r);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	repo_lock_read(st, r);
	status_of(st, r, f);
	repo_unlock(st, r);
	repo_unref(st, r);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* Make @p @repo's waiting index.json (taking it, also on failure). */
static int pending_put(struct store *st, const char *repo, struct pending *p,
                       struct err *err)
{
	struct pending *old;

	pthread_mutex_lock(&st->lock);
	old = hmap_get(st->pending, repo);
	if (hmap_put(st->pending, repo, p) < 0) {
		pthread_mutex_unlock(&st->lock);
		free(p->buf);
		free(p);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	pthread_mutex_unlock(&st->lock);
	if (old) {
		free(old->buf);
		free(old);
	}
	return 0;
}

/* Commit index.json bytes (caller holds the repository's lock). */
static int commit_index(struct fs_writer *w, struct repo *r, struct err *err)
{
	struct store *st = w->st;
	char path[PATH_MAX];
	struct pending *p;
	json_t *j = parse_index(w->buf ? w->buf : "", w->len, err);

	if (!j)
		return -1;
	json_decref(j);
	if (!repo_has_layout(st, w->repo)) {
		/* Being copied in: invisible until settle() says so. */
		if (repo_path(st, w->repo, "index.json", path, sizeof(path),
		              err) < 0 ||
		    fs_write_atomic(st->tmpdir, path, w->buf, w->len, err) < 0)
			return -1;
		store_changed(st, w->repo, "index.json");
		return settle(st, r, err);
	}
	/* Live: the new index.json waits for what it names. */
	if (check_index_change(st, r, w->buf ? w->buf : "", w->len, err) < 0)
		return -1;
	if (pending_keep(st, w->repo, w->buf ? w->buf : "", w->len, err) < 0)
		return -1;
	free(r->dropped);
	r->dropped = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, ERR_NOMEM, "out of memory");
	p->buf = w->buf;
	p->len = w->len;
	w->buf = NULL;
	if (pending_put(st, w->repo, p, err) < 0)
		return -1;
	return settle(st, r, err);
}

static int do_commit(struct fs_writer *w, struct err *err)
{
	struct repo *r;
	int ret;

	if (w->kind == W_TEMP)
		return 0; /* judged when renamed onto a layout file */
	if (w->kind == W_BLOB) {
		if (store_upload_commit(w->up, &w->digest, err) < 0)
			return -1;
		w->up = NULL; /* released by the commit */
	} else if (w->kind == W_LAYOUT) {
		json_t *j = json_loadb(w->buf ? w->buf : "", w->len, 0, NULL);
		bool ok = json_is_string(
			json_object_get(j, "imageLayoutVersion"));

		json_decref(j);
		if (!ok)
			return err_set(
				err, ERR_INVALID,
				"oci-layout must name imageLayoutVersion");
		/* dray writes its own when the layout is complete. */
	}
	r = repo_ref(w->st, w->repo, err);
	if (!r)
		return -1;
	if (repo_lock(w->st, r, err) < 0) {
		repo_unref(w->st, r);
		return -1;
	}
	if (w->kind == W_LAYOUT) {
		/* Published already: the mount shows dray's from now on. */
		r->layout_came = !repo_has_layout(w->st, w->repo);
		layout_show(w->st, r);
		if (r->layout_came) {
			char rel[REF_NAME_MAX + sizeof("/oci-layout")];

			snprintf(rel, sizeof(rel), "%s/oci-layout", w->repo);
			/* Not kept: seen only once published, as before. */
			if (layout_keep(w->st, rel, w->buf ? w->buf : "",
			                w->len, err) < 0)
				log_warn("%s: %s", rel, err->msg);
			*err = ERR_INIT;
			store_changed(w->st, w->repo, "oci-layout");
		}
	}
	ret = w->kind == W_INDEX ? commit_index(w, r, err)
	                         : settle(w->st, r, err);
	repo_unlock(w->st, r);
	repo_unref(w->st, r);
	return ret;
}

/*
 * FLUSH comes at every close(), also of a dup()ed descriptor whose twin
 * keeps writing (`cmd > file` in a shell): a refusal therefore leaves the
 * copy open for more writes, and only a success is final.
 */
int store_fs_commit(struct fs_writer *w, struct err *err)
{
	if (w->done || w->untouched)
		return 0;
	if (do_commit(w, err) < 0)
		return -1;
	w->done = w->kind != W_TEMP;
	return 0;
}

int store_fs_sync(struct fs_writer *w, bool datasync, struct err *err)
{
	if (w->kind != W_TEMP || w->fd < 0)
		return 0;
	if ((datasync ? fdatasync(w->fd) : fsync(w->fd)) < 0)
		return err_set_errno(err, errno, "cannot fsync '%s'", w->rel);
	return 0;
}

int store_fs_syncdir(struct store *st, const char *rel, struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	bool found = false;

	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		found = true;
		if (fs_fsync_dir(path, err) < 0)
			return -1;
	}
	if (stage_path(st, rel, path, err) < 0)
		return -1;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		found = true;
		if (fs_fsync_dir(path, err) < 0)
			return -1;
	}
	if (!found)
		return err_set(err, ERR_NOT_FOUND, "no directory '%s'", rel);
	return 0;
}

bool store_fs_publishes(const struct fs_writer *w)
{
	return !w->done && !w->untouched && w->kind != W_TEMP;
}

void store_fs_writer_free(struct fs_writer *w)
{
	if (!w)
		return;
	if (w->up)
		store_upload_cancel(w->up);
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w);
}

int store_fs_mkdir(struct store *st, const char *rel, mode_t mode,
                   struct err *err)
{
	char path[PATH_MAX], name[REF_NAME_MAX + 1];
	const char *b = strstr(rel, "/blobs"), *h = hidden_part(rel);
	size_t n = b ? (size_t)(b - rel) : strlen(rel);

	/* A staging directory counts for the repository above it. */
	if (h && h > rel && (!b || h < b))
		n = (size_t)(h - 1 - rel);
	/* <repo>, <repo>/blobs or <repo>/blobs/<alg>. */
	if (n > REF_NAME_MAX)
		return err_set(err, ERR_INVALID, "name too long");
	memcpy(name, rel, n);
	name[n] = '\0';
	if (ref_name_check(name, err) < 0 ||
	    check_access(st, name, ACCESS_CREATE, err) < 0)
		return -1;
	if (stage_only(rel)) {
		if (stage_path(st, rel, path, err) < 0 ||
		    stage_parent(path, err) < 0)
			return -1;
		if (mkdir(path, mode & 07777) < 0)
			return err_set_errno(err, errno, "cannot create");
		return 0;
	}
	if (b && strcmp(b, "/blobs") && strcmp(b, "/blobs/sha256") &&
	    strcmp(b, "/blobs/sha512"))
		return err_set(err, ERR_DENIED, "not a layout directory");
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (mkdir(path, 0755) < 0)
		return err_set_errno(err, errno, "cannot create");
	return 0;
}

/* Feed what @fd holds (named @what) into @w, a chunk at a time. */
static int copy_fd_into(int fd, const char *what, struct fs_writer *w,
                        struct err *err)
{
	enum { CHUNK = 1 << 20 };
	char *buf = malloc(CHUNK);
	uint64_t off = 0;
	int ret = -1;

	if (!buf)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set_errno(err, errno, "cannot read '%s'", what);
			goto out;
		}
		if (n == 0)
			break;
		if (store_fs_write(w, buf, (size_t)n, off, err) < 0)
			goto out;
		off += (uint64_t)n;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

/* Feed the staging file @path into @w. */
static int copy_into(const char *path, struct fs_writer *w, struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return err_set_errno(err, errno, "cannot read '%s'", path);
	ret = copy_fd_into(fd, path, w, err);
	close(fd);
	return ret;
}

struct fs_writer *store_fs_edit(struct store *st, const char *rel,
                                struct err *err)
{
	struct fs_writer *w = NULL;
	int fd = -1;

	/* Opened first: a temporary's old staging file goes at create. */
	if (store_fs_open(st, rel, &fd, err) < 0)
		return NULL;
	w = store_fs_create(st, rel, err);
	if (w && copy_fd_into(fd, rel, w, err) < 0) {
		store_fs_writer_free(w);
		w = NULL;
	}
	/* A close before any write (dd's dup2 of it) changes nothing. */
	if (w)
		w->untouched = true;
	close(fd);
	return w;
}

int store_fs_statfs(struct store *st, struct statvfs *out, struct err *err)
{
	if (statvfs(st->root, out) < 0)
		return err_set_errno(err, errno, "cannot statfs '%s'",
		                     st->root);
	return 0;
}

/* rename(2) within the stage: a temporary or a staging directory. */
static int stage_rename(struct store *st, const char *from, const char *to,
                        struct err *err)
{
	char src[PATH_MAX], dst[PATH_MAX];
	int rc = -1;

	if (stage_path(st, from, src, err) < 0 ||
	    stage_path(st, to, dst, err) < 0)
		return -1;
	/* ENOENT: a stage_prune() took the directory meanwhile. */
	for (int tries = 0; rc < 0 && tries < 3; tries++) {
		if (stage_parent(dst, err) < 0)
			return -1;
		rc = rename(src, dst);
		if (rc < 0 && errno != ENOENT)
			break;
	}
	if (rc < 0)
		return err_set_errno(err, errno, "cannot rename '%s'", from);
	stage_prune(st, from);
	return 0;
}

int store_fs_rename(struct store *st, const char *from, const char *to,
                    struct err *err)
{
	struct fs_writer probe = {0}, *w = NULL;
	char path[PATH_MAX];
	int ret = -1;

	if (!temp_path(st, from, path)) {
		struct stat sb;

		/* A staging directory moves within the stage. */
		if (stage_only(from) && stage_only(to) &&
		    store_fs_stat(st, from, &sb, err) == 0)
			return stage_rename(st, from, to, err);
		return err_set(err, ERR_DENIED,
		               "only a temporary file can be renamed");
	}
	if (classify(to, &probe, err) < 0 ||
	    check_access(st, probe.repo, ACCESS_CREATE, err) < 0)
		return -1;
	if (probe.kind == W_TEMP)
		return stage_rename(st, from, to, err);
	/*
	 * The new name is written as if copied there, then judged. A
	 * refusal leaves the temporary where it was, as a failed rename(2)
	 * does.
	 */
	w = store_fs_create(st, to, err);
	if (!w || copy_into(path, w, err) < 0 || store_fs_commit(w, err) < 0)
		goto out;
	if (unlink(path) < 0)
		log_warn("cannot remove staged '%s': %s", from,
		         strerror(errno));
	stage_prune(st, from);
	ret = 0;
out:
	store_fs_writer_free(w);
	return ret;
}

/*
 * Remove @rel of @r, a directory that is no live repository (a copy
 * stopped half way, or a withdrawn repository): a plain file removal.
 * Caller holds r->lock, so a settle() cannot publish it meanwhile.
 */
static int unlink_plain(struct store *st, struct repo *r,
                        const struct fs_writer *w, const char *rel,
                        struct err *err)
{
	char path[PATH_MAX];

	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (unlink(path) < 0)
		return err_set_errno(err, errno, "cannot remove '%s'", rel);
	if (fs_fsync_parent(path, err) < 0)
		return -1;
	if (w->kind == W_INDEX)
		pending_drop(st, r->name);
	if (w->kind != W_BLOB)
		return 0;
	/* A blob placed in it was indexed (blob_place()). */
	return idx_blob_removed(st, r->name, &w->digest, err);
}

/*
 * rm of a live repository's oci-layout: the repository leaves HTTP at
 * once (repo_load() needs the file) and the mount keeps its files as a
 * plain directory, to be removed or completed. Caller holds r->lock and
 * brings the index up to date after releasing it.
 */
static int withdraw(struct store *st, struct repo *r, struct err *err)
{
	char path[PATH_MAX];
	struct err ignored = ERR_INIT;

	if (repo_path(st, r->name, "oci-layout", path, sizeof(path), err) < 0)
		return -1;
	if (unlink(path) < 0)
		return err_set_errno(err, errno, "cannot remove '%s'", path);
	pending_drop(st, r->name);
	layout_show(st, r);
	if (fs_fsync_parent(path, err) < 0)
		return -1;
	catalog_changed(st);
	/* The cached index.json goes: the repository is unknown now. */
	r->loaded = false;
	if (repo_load(st, r, &ignored) == 0)
		return err_set(err, ERR_INTERNAL, "'%s' still loads", r->name);
	store_changed(st, r->name, "index.json");
	return 0;
}

/* The removals of a directory that is not a live repository. */
static int unlink_other(struct store *st, const struct fs_writer *w,
                        const char *rel, struct err *err)
{
	struct repo *r = repo_ref(st, w->repo, err);
	bool live, gone = false;
	int ret = -1;

	if (!r)
		return -1;
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		return -1;
	}
	live = repo_has_layout(st, w->repo);
	/* A removal ends the copy: `rm -r` needs to see oci-layout. */
	if (live)
		layout_show(st, r);
	if (!live) {
		ret = unlink_plain(st, r, w, rel, err);
	} else if (w->kind == W_LAYOUT) {
		ret = withdraw(st, r, err);
		gone = ret == 0;
	} else {
		ret = 1; /* live: the caller decides */
	}
	repo_unlock(st, r);
	repo_unref(st, r);
	/* The index forgets the repository (without holding its lock). */
	if (gone && idx_repo_gone(st, w->repo, err) < 0)
		return -1;
	return ret;
}

int store_fs_unlink(struct store *st, const char *rel, struct err *err)
{
	struct fs_writer w = {0};
	char path[PATH_MAX];
	int rc;

	if (temp_path(st, rel, path)) {
		if (unlink(path) < 0)
			return err_set_errno(err, errno, "cannot remove '%s'",
			                     rel);
		stage_prune(st, rel);
		return 0;
	}
	char dstr[DIGEST_STR_MAX];
	struct manifest_desc desc;

	if (classify(rel, &w, err) < 0 ||
	    check_access(st, w.repo, ACCESS_DELETE, err) < 0)
		return -1;
	rc = unlink_other(st, &w, rel, err);
	if (rc <= 0)
		return rc;
	if (w.kind != W_BLOB)
		return err_set(err, ERR_DENIED,
		               "delete tags over HTTP, edit index.json or "
		               "remove oci-layout to withdraw the repository");
	digest_format(&w.digest, dstr);
	/* A manifest index.json lists: the manifest and its tags go. */
	if (store_manifest_get(st, w.repo, dstr, &desc, NULL, err) == 0 &&
	    store_manifest_delete(st, w.repo, dstr, err) == 0)
		return 0;
	*err = ERR_INIT;
	return store_blob_delete(st, w.repo, &w.digest, err);
}

int store_fs_rmdir(struct store *st, const char *rel, struct err *err)
{
	char path[PATH_MAX], staged[PATH_MAX];

	if (!*rel)
		return err_set(err, ERR_DENIED, "the root stays");
	if (stage_path(st, rel, staged, err) < 0)
		return -1;
	if (stage_only(rel)) {
		if (rmdir(staged) < 0)
			return err_set_errno(err, errno, "cannot remove '%s'",
			                     rel);
		stage_prune(st, rel);
		return 0;
	}
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	/* What the stage holds there shows in the directory too. */
	if (rmdir(staged) < 0 && errno != ENOENT)
		return err_set_errno(err, errno == EEXIST ? ENOTEMPTY : errno,
		                     "cannot remove '%s'", rel);
	/* A live repository is never empty: its oci-layout goes first. */
	if (rmdir(path) < 0)
		return err_set_errno(err, errno, "cannot remove '%s'", rel);
	stage_prune(st, rel);
	return fs_fsync_parent(path, err);
}

/* Take back @repo's waiting index.json kept at @path, then settle it. */
static int restore_one(struct store *st, const char *repo, const char *path,
                       struct err *err)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct repo *r;
	int ret;

	if (!p)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (fs_read_file(path, FS_TEXT_MAX, &p->buf, &p->len, err) < 0) {
		free(p);
		return -1;
	}
	if (pending_put(st, repo, p, err) < 0)
		return -1;
	r = repo_ref(st, repo, err);
	if (!r)
		return -1;
	if (repo_lock(st, r, err) < 0) {
		repo_unref(st, r);
		return -1;
	}
	/* Withdrawn or deleted meanwhile: it has nothing to wait for. */
	if (!has_file(st, repo, "oci-layout")) {
		pending_drop(st, repo);
		ret = 0;
	} else {
		ret = settle(st, r, err);
		/* Refused by lint: dropped, its status says why. */
		if (ret < 0 && err->code == ERR_INVALID) {
			*err = ERR_INIT;
			ret = 0;
		}
	}
	repo_unlock(st, r);
	repo_unref(st, r);
	return ret;
}

/* Restore every waiting index.json under @dir (repository @repo). */
static int restore_dir(struct store *st, char *dir, const char *repo,
                       struct err *err)
{
	size_t dlen = strlen(dir), rlen = strlen(repo);
	struct dirent *de;
	int ret = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT || errno == ENOTDIR
		               ? 0
		               : err_set_errno(err, errno, "cannot list '%s'",
		                               dir);
	while (ret == 0 && (de = readdir(d))) {
		char sub[REF_NAME_MAX + 1];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(dir + dlen, PATH_MAX - dlen, "/%s", de->d_name) >=
		            (int)(PATH_MAX - dlen) ||
		    snprintf(sub, sizeof(sub), "%s%s%s", repo, rlen ? "/" : "",
		             de->d_name) >= (int)sizeof(sub)) {
			dir[dlen] = '\0';
			continue; /* pending_keep() never wrote such a name */
		}
		if (!strcmp(de->d_name, "index.json") && rlen)
			ret = restore_one(st, repo, dir, err);
		else if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
			ret = restore_dir(st, dir, sub, err);
		dir[dlen] = '\0';
	}
	closedir(d);
	return ret;
}

int store_fs_restore(struct store *st, struct err *err)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s/" PENDING_DIR, st->root) >=
	    (int)sizeof(dir))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return restore_dir(st, dir, "", err);
}
