/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsview.c - the storage tree as the mount shows it: the layouts, and
 * nothing of dray's own state. fusefs/ reads through these functions only.
 */
#define _GNU_SOURCE /* mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon/access.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store_int.h"

/*
 * A file under another name in a layout directory: an editor's or a
 * tool's temporary, kept in .dray/tmp and shown in the mount until it is
 * renamed onto a layout file (and judged then) or removed.
 */
struct temp {
	char path[PATH_MAX]; /* the staging file */
};

/* 0 if the policy lets the mount do @action on @repo; else EACCES. */
static int check_access(struct store *st, const char *repo,
                        enum access_action action, struct err *err)
{
	if (access_allows(st->opts.access, repo, action))
		return 0;
	return err_set_errno(err, EACCES,
	                     "%s on repository '%s' is not allowed "
	                     "(http.accessControl)",
	                     access_action_name(action), repo);
}

/* Is @rel a path inside the view? Fills the absolute path into @out. */
static int view_path(const struct store *st, const char *rel, char *out,
                     size_t outsz, struct err *err)
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
	if (snprintf(out, outsz, "%s%s%s", st->root, *rel ? "/" : "", rel) >=
	    (int)outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/* The staging file of temporary @rel into @out, if it is one. */
static bool temp_path(struct store *st, const char *rel, char *out)
{
	struct temp *t;

	pthread_mutex_lock(&st->lock);
	t = hmap_get(st->temps, rel);
	if (t)
		memcpy(out, t->path, sizeof(t->path));
	pthread_mutex_unlock(&st->lock);
	return t != NULL;
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

struct list_ctx {
	const char *dir;    /* the directory listed */
	struct strvec *out; /* its names */
};

/* Add temporary @key to the listing if it is in c->dir. */
static int list_temp(const char *key, void *val, void *arg)
{
	struct list_ctx *c = arg;
	const char *slash = strrchr(key, '/');
	size_t n = strlen(c->dir);

	(void)val;
	if (slash && (size_t)(slash - key) == n && !strncmp(key, c->dir, n))
		return strvec_push(c->out, slash + 1) < 0;
	return 0;
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
	if (ret == 0) {
		struct list_ctx c = {rel, out};

		pthread_mutex_lock(&st->lock);
		ret = hmap_each(st->temps, list_temp, &c)
		              ? err_set(err, ERR_NOMEM, "cannot list")
		              : 0;
		pthread_mutex_unlock(&st->lock);
	}
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
	const char *slash = strrchr(rel, '/'), *b;
	size_t n;

	if (!slash)
		return err_set(err, ERR_DENIED,
		               "only layout files can be written here");
	b = strstr(rel, "/blobs/");
	if (b && strchr(b + 7, '/') == slash && blob_name(b, slash, w)) {
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
		struct temp *t = calloc(1, sizeof(*t));
		struct temp *old;

		snprintf(w->rel, sizeof(w->rel), "%s", rel);
		if (!t || snprintf(t->path, sizeof(t->path), "%s/mount.XXXXXX",
		                   st->tmpdir) >= (int)sizeof(t->path)) {
			free(t);
			err_set(err, ERR_NOMEM, "out of memory");
			goto fail;
		}
		w->fd = mkostemp(t->path, O_CLOEXEC);
		if (w->fd < 0) {
			err_set_errno(err, errno, "cannot stage '%s'", rel);
			free(t);
			goto fail;
		}
		pthread_mutex_lock(&st->lock);
		old = hmap_get(st->temps, rel);
		if (hmap_put(st->temps, rel, t) < 0) {
			pthread_mutex_unlock(&st->lock);
			unlink(t->path);
			free(t);
			err_set(err, ERR_NOMEM, "out of memory");
			goto fail;
		}
		pthread_mutex_unlock(&st->lock);
		if (old) {
			unlink(old->path);
			free(old);
		}
		return w;
	}
	if (w->kind == W_BLOB) {
		if (store_upload_start(st, w->repo, id, err) < 0)
			goto fail;
		w->up = store_upload_get(st, w->repo, id, err);
		if (!w->up)
			goto fail;
		upload_no_layout(w->up);
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
	w->untouched = false;
	if (w->kind == W_TEMP) {
		if (fs_pwrite_all(w->fd, buf, len, off, err) < 0)
			return -1;
	} else if (w->kind == W_BLOB) {
		if (upload_write_at(w->up, buf, len, off, err) < 0)
			return -1;
	} else {
		if (off + len > FS_TEXT_MAX)
			return err_set(err, ERR_TOO_LARGE, "file too large");
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

/* Forget @r's waiting index.json, if any. */
static void pending_drop(struct store *st, const char *repo)
{
	struct pending *p;

	pthread_mutex_lock(&st->lock);
	p = hmap_del(st->pending, repo);
	pthread_mutex_unlock(&st->lock);
	if (p) {
		free(p->buf);
		free(p);
	}
}

/*
 * What replacing @r's index.json by @buf needs of the policy, beyond
 * create: delete for a tag that goes, update for one that moves.
 */
static int check_index_change(struct store *st, struct repo *r, const char *buf,
                              size_t len, struct err *err)
{
	json_t *next, *e;
	struct hmap *tags;
	unsigned need = 0;
	size_t i;
	int ret = 0;

	if (!st->opts.access || !st->opts.access->on)
		return 0;
	if (repo_load(st, r, err) < 0)
		return -1;
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
	    check_access(st, r->name, ACCESS_DELETE, err) < 0)
		ret = -1;
	else if ((need & ACCESS_UPDATE) &&
	         check_access(st, r->name, ACCESS_UPDATE, err) < 0)
		ret = -1;
out:
	hmap_free(tags);
	json_decref(next);
	return ret;
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
			free(r->dropped);
			r->dropped = strdup(err->msg);
			*err = ERR_INIT;
			pending_drop(st, r->name);
			goto out;
		}
		if (repo_path(st, r->name, "index.json", path, sizeof(path),
		              err) < 0 ||
		    fs_write_atomic(st->tmpdir, path, p->buf, p->len, err) <
		            0) {
			ret = -1;
			goto out;
		}
		store_changed(st, r->name, "index.json");
		pending_drop(st, r->name);
		ret = repo_load(st, r, err);
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
	if (repo_path(st, r->name, "oci-layout", path, sizeof(path), err) < 0 ||
	    fs_write_atomic(st->tmpdir, path,
	                    "{\"imageLayoutVersion\":\"1.0.0\"}", 30,
	                    err) < 0) {
		ret = -1;
		goto out;
	}
	/* The copy's own oci-layout may still come (cp: O_EXCL). */
	pthread_mutex_lock(&st->lock);
	r->layout_hidden = !r->layout_came;
	pthread_mutex_unlock(&st->lock);
	r->layout_came = false;
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
	repo_lock(st, r);
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

/* Commit index.json bytes (caller holds the repository's lock). */
static int commit_index(struct fs_writer *w, struct repo *r, struct err *err)
{
	struct store *st = w->st;
	char path[PATH_MAX];
	struct pending *p, *old;
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
	free(r->dropped);
	r->dropped = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, ERR_NOMEM, "out of memory");
	p->buf = w->buf;
	p->len = w->len;
	w->buf = NULL;
	pthread_mutex_lock(&st->lock);
	old = hmap_get(st->pending, w->repo);
	if (hmap_put(st->pending, w->repo, p) < 0) {
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
	repo_lock(w->st, r);
	if (w->kind == W_LAYOUT) {
		/* Published already: the mount shows dray's from now on. */
		r->layout_came = !repo_has_layout(w->st, w->repo);
		layout_show(w->st, r);
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

int store_fs_mkdir(struct store *st, const char *rel, struct err *err)
{
	char path[PATH_MAX], name[REF_NAME_MAX + 1];
	const char *b = strstr(rel, "/blobs");
	size_t n = b ? (size_t)(b - rel) : strlen(rel);

	/* <repo>, <repo>/blobs or <repo>/blobs/<alg>. */
	if (n > REF_NAME_MAX)
		return err_set(err, ERR_INVALID, "name too long");
	memcpy(name, rel, n);
	name[n] = '\0';
	if (ref_name_check(name, err) < 0 ||
	    check_access(st, name, ACCESS_CREATE, err) < 0)
		return -1;
	if (b && strcmp(b, "/blobs") && strcmp(b, "/blobs/sha256") &&
	    strcmp(b, "/blobs/sha512"))
		return err_set(err, ERR_DENIED, "not a layout directory");
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (mkdir(path, 0755) < 0)
		return err_set_errno(err, errno, "cannot create");
	return 0;
}

/* Take temporary @rel out of the table; the caller frees it. */
static struct temp *temp_take(struct store *st, const char *rel)
{
	struct temp *t;

	pthread_mutex_lock(&st->lock);
	t = hmap_del(st->temps, rel);
	pthread_mutex_unlock(&st->lock);
	return t;
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

int store_fs_rename(struct store *st, const char *from, const char *to,
                    struct err *err)
{
	struct fs_writer *w = NULL;
	struct temp *t;
	int ret = -1;

	t = temp_take(st, from);
	if (!t)
		return err_set(err, ERR_DENIED,
		               "only a temporary file can be renamed");
	/* The new name is written as if copied there, then judged. */
	w = store_fs_create(st, to, err);
	if (!w)
		goto out;
	if (w->kind == W_TEMP) {
		struct temp *mine = temp_take(st, to);

		/* A temporary renamed to another temporary name. */
		pthread_mutex_lock(&st->lock);
		if (hmap_put(st->temps, to, t) == 0)
			t = NULL;
		pthread_mutex_unlock(&st->lock);
		if (mine) {
			unlink(mine->path);
			free(mine);
		}
		ret = t ? err_set(err, ERR_NOMEM, "out of memory") : 0;
		goto out;
	}
	if (copy_into(t->path, w, err) < 0)
		goto out;
	ret = store_fs_commit(w, err);
out:
	store_fs_writer_free(w);
	if (t) {
		unlink(t->path);
		free(t);
	}
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
	repo_lock(st, r);
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
	struct temp *t = temp_take(st, rel);
	int rc;

	if (t) {
		unlink(t->path);
		free(t);
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

/* Is a temporary @key inside directory c->dir (any depth)? */
static int temp_under(const char *key, void *val, void *arg)
{
	const char *dir = arg;
	size_t n = strlen(dir);

	(void)val;
	return !strncmp(key, dir, n) && key[n] == '/';
}

int store_fs_rmdir(struct store *st, const char *rel, struct err *err)
{
	char path[PATH_MAX];
	int busy;

	if (!*rel)
		return err_set(err, ERR_DENIED, "the root stays");
	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	pthread_mutex_lock(&st->lock);
	busy = hmap_each(st->temps, temp_under, (void *)rel);
	pthread_mutex_unlock(&st->lock);
	if (busy)
		return err_set_errno(err, ENOTEMPTY, "cannot remove '%s'", rel);
	/* A live repository is never empty: its oci-layout goes first. */
	if (rmdir(path) < 0)
		return err_set_errno(err, errno, "cannot remove '%s'", rel);
	return fs_fsync_parent(path, err);
}
