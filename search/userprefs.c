/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userprefs.c - starred and bookmarked repositories, one file per user in
 * <root>/.dray/userprefs (see userprefs.h).
 *
 * In memory: up->users maps each user to a struct uentry (its two lists
 * as JSON objects used as sets, and what its file looked like when read:
 * inode, size, mtime), up->stars maps each starred repository to its
 * count. Both under up->lock. A read calls rescan(), which at most every
 * recheck_ms stats the directory and, if it changed (or its mtime is too
 * recent to trust, or a minute passed), lists it, stats each file and
 * reads the changed ones, so that what other nodes wrote is seen; counts
 * follow each user's change. A toggle takes the user's stripe mutex, then the
 * OFD lock of the user's byte of the lock file, reads the file, writes the new
 * one and only then takes up->lock to publish it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/hmap.h"
#include "daemon/testhold.h"
#include "search/userprefs.h"

#define UP_DIR           ".dray/userprefs"
#define UP_USERS_DEFAULT 4096
#define UP_REPOS_DEFAULT 1000
#define UP_FILE_DEFAULT  (256u << 10)
#define UP_RECHECK_MS    1000
#define UP_FULL_MS       60000 /* a full rescan at least this often */
#define UP_RACY_NS                                   \
	(5 * 1000000000ll) /* a directory mtime this \
	                     recent is not trusted */
#define UP_STRIPES  16
#define UP_NAME_MAX 240 /* longest escaped user name (NAME_MAX 255) */

static const char *const list_key[] = {"starred", "bookmarked"};

/* One user's preferences as last read. */
struct uentry {
	json_t *set[2];  /* enum userprefs_kind -> {repo: true} */
	ino_t ino;       /* the file read */
	off_t size;      /* its size */
	int64_t mtim_ns; /* its mtime */
	unsigned seen;   /* the rescan that last found it */
};

struct userprefs {
	char dir[PATH_MAX];      /* <root>/.dray/userprefs */
	char lockpath[PATH_MAX]; /* its lock file */
	struct userprefs_opts o;
	pthread_mutex_t stripe[UP_STRIPES]; /* toggles, by user hash */
	pthread_mutex_t lock;               /* protects what follows */
	struct hmap *users;                 /* user -> struct uentry */
	struct hmap *stars;                 /* repo -> count (uintptr_t) */
	uint64_t scanned_ms;                /* last re-check (mono) */
	uint64_t full_ms;                   /* last full rescan (mono) */
	int64_t dir_mtim_ns;                /* the directory's, then */
	bool scanned;                       /* one rescan was done */
	unsigned gen;                       /* rescan generation */
};

static uint64_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* @user as a file name (without ".json") into @out; -1 if too long. */
static int escape_user(const char *user, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const char *p = user; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		            c == '@' || c == '+' || (c == '.' && p != user);

		if (n + 3 > UP_NAME_MAX)
			return -1;
		if (keep) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The user a file @name ("<escaped>.json") is for, into @out; -1: none. */
static int unescape_file(const char *name, char *out, size_t max)
{
	size_t len = strlen(name), n = 0;
	char want[UP_NAME_MAX + 1];

	if (len <= 5 || strcmp(name + len - 5, ".json") != 0)
		return -1;
	len -= 5;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (n + 1 >= max)
			return -1;
		if (name[i] != '%') {
			out[n++] = name[i];
			continue;
		}
		if (i + 2 >= len || (hi = hexval(name[i + 1])) < 0 ||
		    (lo = hexval(name[i + 2])) < 0)
			return -1;
		out[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[n] = '\0';
	/* Only the one spelling escape_user() writes names the user. */
	if (memchr(out, '\0', n) || escape_user(out, want) < 0 ||
	    strlen(want) != len || memcmp(want, name, len) != 0)
		return -1;
	return 0;
}

static void entry_free(struct uentry *e)
{
	if (!e)
		return;
	json_decref(e->set[0]);
	json_decref(e->set[1]);
	free(e);
}

static void free_entry(void *val)
{
	entry_free(val);
}

/*
 * Parse a user's file (@buf, @len) into a new entry, each list at most
 * @max repositories. NULL with ERR_IO (not what we write) or ERR_NOMEM.
 */
static struct uentry *parse(const char *path, const char *buf, size_t len,
                            size_t max, struct err *err)
{
	struct uentry *e = calloc(1, sizeof(*e));
	json_t *doc = json_loadb(buf, len, 0, NULL);
	int ret = -1;

	if (!e || !(e->set[0] = json_object()) ||
	    !(e->set[1] = json_object())) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!json_is_object(doc)) {
		err_set(err, ERR_IO, "'%s' is damaged: not a JSON object",
		        path);
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		json_t *list = json_object_get(doc, list_key[k]), *v;
		size_t i;

		if (list &&
		    (!json_is_array(list) || json_array_size(list) > max)) {
			err_set(err, ERR_IO,
			        "'%s' is damaged: '%s' is not a list of at "
			        "most %zu names",
			        path, list_key[k], max);
			goto out;
		}
		json_array_foreach(list, i, v)
		{
			const char *s = json_string_value(v);

			if (!s || !*s) {
				err_set(err, ERR_IO,
				        "'%s' is damaged: a name is not a "
				        "string",
				        path);
				goto out;
			}
			if (json_object_set_new(e->set[k], s, json_true()) <
			    0) {
				err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	ret = 0;
out:
	json_decref(doc);
	if (ret < 0) {
		entry_free(e);
		return NULL;
	}
	return e;
}

/* Read @path into a new entry; ERR_NOT_FOUND when there is no file. */
static struct uentry *load(struct userprefs *up, const char *path,
                           struct err *err)
{
	struct uentry *e = NULL;
	struct stat sb;
	char *buf = NULL;
	size_t len;
	int fd;

	/* The stat that is remembered is of the file that is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err_set_errno(err, errno, "cannot open '%s'", path);
		if (errno == ENOENT)
			err->code = ERR_NOT_FOUND;
		return NULL;
	}
	if (fstat(fd, &sb) < 0) {
		err_set_errno(err, errno, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > up->o.max_file) {
		err_set(err, ERR_IO,
		        "'%s' is damaged: not a file of at most %zu bytes",
		        path, up->o.max_file);
		goto out;
	}
	if (fs_read_file(path, up->o.max_file, &buf, &len, err) < 0)
		goto out;
	e = parse(path, buf, len, up->o.max_repos, err);
	if (e) {
		e->ino = sb.st_ino;
		e->size = sb.st_size;
		e->mtim_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
		             sb.st_mtim.tv_nsec;
	}
out:
	free(buf);
	close(fd);
	return e;
}

static bool same_file(const struct uentry *e, const struct stat *sb)
{
	return e->ino == sb->st_ino && e->size == sb->st_size &&
	       e->mtim_ns == (int64_t)sb->st_mtim.tv_sec * 1000000000 +
	                             sb->st_mtim.tv_nsec;
}

/* Add @delta to the star count of each repository in @set. Under lock. */
static int count_stars(struct userprefs *up, json_t *set, int delta)
{
	const char *repo;
	json_t *v;

	json_object_foreach(set, repo, v)
	{
		uintptr_t n = (uintptr_t)hmap_get(up->stars, repo);

		n = delta > 0 ? n + 1 : (n ? n - 1 : 0);
		if (!n)
			hmap_del(up->stars, repo);
		else if (hmap_put(up->stars, repo, (void *)n) < 0)
			return -1;
	}
	return 0;
}

/*
 * Make @e (taken; NULL: the user has no file) what is held for @user,
 * counting its stars instead of the old entry's. Under up->lock. -1 when
 * out of memory (counts may then be off until the next change).
 */
static int publish(struct userprefs *up, const char *user, struct uentry *e)
{
	struct uentry *old = hmap_get(up->users, user);
	int ret = 0;

	if (old && count_stars(up, old->set[USERPREFS_STAR], -1) < 0)
		ret = -1;
	if (e) {
		e->seen = up->gen;
		if (hmap_put(up->users, user, e) < 0) {
			entry_free(e);
			e = NULL;
			hmap_del(up->users, user);
			ret = -1;
		}
	} else {
		hmap_del(up->users, user);
	}
	entry_free(old);
	if (e && count_stars(up, e->set[USERPREFS_STAR], 1) < 0)
		ret = -1;
	return ret;
}

struct gone {
	struct userprefs *up;
	char **users; /* users no longer found, to remove */
	size_t n;
};

static int find_gone(const char *user, void *val, void *arg)
{
	struct gone *g = arg;
	struct uentry *e = val;

	if (e->seen != g->up->gen && g->users)
		g->users[g->n++] = strdup(user);
	return 0;
}

/*
 * What other nodes (or people) changed: stat every file, read those
 * that changed, forget users whose file is gone. At most once per
 * recheck_ms unless @force. Under up->lock. Files that cannot be read
 * keep what was held.
 */
static void rescan(struct userprefs *up, bool force)
{
	uint64_t now = clock_mono_ms();
	struct gone g = {.up = up};
	struct dirent *de;
	DIR *d;

	struct stat ds;
	int64_t dm;

	if (!force && up->scanned && now - up->scanned_ms < up->o.recheck_ms)
		return;
	if (stat(up->dir, &ds) < 0)
		return;
	/*
	 * A file is only ever renamed into the directory, which changes its
	 * mtime: while that is the one seen at the last full rescan, nothing
	 * changed. Unless it is recent (two renames in one timestamp tick,
	 * or another node's clock a little off), and at least once a minute
	 * in any case.
	 */
	dm = (int64_t)ds.st_mtim.tv_sec * 1000000000 + ds.st_mtim.tv_nsec;
	if (!force && up->scanned && dm == up->dir_mtim_ns &&
	    now - up->full_ms < UP_FULL_MS &&
	    (int64_t)clock_wall_ms() * 1000000 - dm > UP_RACY_NS) {
		up->scanned_ms = now;
		return;
	}
	d = opendir(up->dir);
	if (!d)
		return;
	up->dir_mtim_ns = dm;
	up->full_ms = now;
	up->gen++;
	while ((de = readdir(d))) {
		char user[UP_NAME_MAX + 1], path[PATH_MAX];
		struct err err = ERR_INIT;
		struct uentry *e;
		struct stat sb;

		if (unescape_file(de->d_name, user, sizeof(user)) < 0 ||
		    snprintf(path, sizeof(path), "%s/%s", up->dir,
		             de->d_name) >= (int)sizeof(path))
			continue;
		e = hmap_get(up->users, user);
		if (stat(path, &sb) < 0)
			continue;
		if (e && same_file(e, &sb)) {
			e->seen = up->gen;
			continue;
		}
		if (!e && hmap_count(up->users) >= up->o.max_users)
			continue;
		e = load(up, path, &err);
		if (!e) {
			if ((e = hmap_get(up->users, user)))
				e->seen = up->gen; /* damaged: keep it */
			continue;
		}
		(void)publish(up, user, e);
	}
	closedir(d);
	g.users = calloc(hmap_count(up->users) + 1, sizeof(char *));
	hmap_each(up->users, find_gone, &g);
	for (size_t i = 0; i < g.n; i++) {
		if (g.users[i])
			(void)publish(up, g.users[i], NULL);
		free(g.users[i]);
	}
	free(g.users);
	up->scanned = true;
	up->scanned_ms = now;
}

/*
 * Remove what a crash left between a temporary file and its rename: a
 * temporary older than an hour (a younger one may be another node's
 * write under way). Nothing here can fail; what stays is only space.
 */
static void remove_stale_temps(const struct userprefs *up)
{
	time_t before = time(NULL) - 3600;
	struct dirent *de;
	struct stat sb;
	DIR *d = opendir(up->dir);

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "atomic.", 7) == 0 &&
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		            0 &&
		    S_ISREG(sb.st_mode) && sb.st_mtime < before)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
}

struct userprefs *userprefs_open(const char *root,
                                 const struct userprefs_opts *opts,
                                 struct err *err)
{
	struct userprefs *up = calloc(1, sizeof(*up));
	int fd;

	if (!up) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&up->lock, NULL);
	for (int i = 0; i < UP_STRIPES; i++)
		pthread_mutex_init(&up->stripe[i], NULL);
	if (opts)
		up->o = *opts;
	else
		up->o.recheck_ms = UP_RECHECK_MS;
	if (!up->o.max_users)
		up->o.max_users = UP_USERS_DEFAULT;
	if (!up->o.max_repos)
		up->o.max_repos = UP_REPOS_DEFAULT;
	if (!up->o.max_file)
		up->o.max_file = UP_FILE_DEFAULT;
	up->users = hmap_new();
	up->stars = hmap_new();
	if (!up->users || !up->stars) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (snprintf(up->dir, sizeof(up->dir), "%s/" UP_DIR, root) >=
	            (int)sizeof(up->dir) ||
	    snprintf(up->lockpath, sizeof(up->lockpath), "%s/lock", up->dir) >=
	            (int)sizeof(up->lockpath)) {
		err_set(err, ERR_INVALID, "path too long: '%s'", root);
		goto fail;
	}
	if (fs_mkdir_p(up->dir, 0755, err) < 0)
		goto fail;
	fd = open(up->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set_errno(err, errno, "cannot open '%s'", up->lockpath);
		goto fail;
	}
	close(fd);
	remove_stale_temps(up);
	rescan(up, true);
	return up;
fail:
	userprefs_close(up);
	return NULL;
}

void userprefs_close(struct userprefs *up)
{
	if (!up)
		return;
	hmap_free_with(up->users, free_entry);
	hmap_free(up->stars);
	for (int i = 0; i < UP_STRIPES; i++)
		pthread_mutex_destroy(&up->stripe[i]);
	pthread_mutex_destroy(&up->lock);
	free(up);
}

/* Lock @user's byte of the lock file across nodes: the fd, or -1. */
static int lock_user(struct userprefs *up, const char *user, struct err *err)
{
	struct flock fl = {.l_type = F_WRLCK,
	                   .l_whence = SEEK_SET,
	                   .l_start = (off_t)(hash_of(user) & 0x7fffffff),
	                   .l_len = 1};
	int fd = open(up->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'",
		                     up->lockpath);
	while (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
		if (errno == EINTR)
			continue;
		err_set_errno(err, errno, "cannot lock '%s'", up->lockpath);
		close(fd);
		return -1;
	}
	return fd;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in @set, sorted: a new array, or NULL when out of memory. */
static json_t *sorted_names(json_t *set)
{
	size_t n = json_object_size(set), i = 0;
	const char **v = calloc(n + 1, sizeof(*v));
	json_t *out = json_array(), *val;
	const char *repo;

	if (!v || !out)
		goto fail;
	json_object_foreach(set, repo, val) v[i++] = repo;
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++)
		if (json_array_append_new(out, json_string(v[i])) < 0)
			goto fail;
	free(v);
	return out;
fail:
	free(v);
	json_decref(out);
	return NULL;
}

/* The new file's text for @e: sorted lists. NULL when out of memory. */
static char *serialize(const struct uentry *e)
{
	json_t *doc = json_object();
	char *s = NULL;

	if (!doc)
		return NULL;
	for (int k = 0; k < 2; k++) {
		json_t *list = sorted_names(e->set[k]);

		if (!list || json_object_set_new(doc, list_key[k], list) < 0)
			goto out;
	}
	s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
out:
	json_decref(doc);
	return s;
}

/* Toggle under the user's locks: the file is read, changed, replaced. */
static int toggle_locked(struct userprefs *up, const char *user,
                         const char *esc, enum userprefs_kind kind,
                         const char *repo, bool *on, struct err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct uentry *e = NULL;
	struct stat sb;
	char *text = NULL;
	bool added;
	int ret = -1;

	if (snprintf(path, sizeof(path), "%s/%s.json", up->dir, esc) >=
	    (int)sizeof(path))
		return err_set(err, ERR_INVALID, "path too long");
	e = load(up, path, err);
	if (!e && err->code != ERR_NOT_FOUND)
		return -1;
	if (!e) {
		size_t n;

		*err = ERR_INIT;
		pthread_mutex_lock(&up->lock);
		rescan(up, false);
		n = hmap_count(up->users);
		pthread_mutex_unlock(&up->lock);
		if (n >= up->o.max_users)
			return err_set(err, ERR_TOO_LARGE,
			               "no preferences for a new user: %zu "
			               "users have them, the most kept",
			               up->o.max_users);
		if (!(e = parse(path, "{}", 2, 0, err)))
			return -1;
	}
	added = !json_object_get(e->set[kind], repo);
	if (added && json_object_size(e->set[kind]) >= up->o.max_repos) {
		err_set(err, ERR_TOO_LARGE,
		        "user '%s' has %zu repositories %s, the most kept",
		        user, up->o.max_repos,
		        kind == USERPREFS_STAR ? "starred" : "bookmarked");
		goto out;
	}
	if ((added ? json_object_set_new(e->set[kind], repo, json_true())
	           : json_object_del(e->set[kind], repo)) < 0 ||
	    !(text = serialize(e))) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (strlen(text) > up->o.max_file) {
		err_set(err, ERR_TOO_LARGE,
		        "the preferences of user '%s' would be larger than "
		        "%zu bytes",
		        user, up->o.max_file);
		goto out;
	}
	if (fs_write_temp(up->dir, text, strlen(text), tmp, err) < 0)
		goto out;
	test_hold("userprefs-rename", tmp);
	if (rename(tmp, path) < 0) {
		err_set_errno(err, errno, "cannot rename to '%s'", path);
		unlink(tmp);
		goto out;
	}
	if (fs_fsync_parent(path, err) < 0 || stat(path, &sb) < 0) {
		if (err->code == ERR_OK)
			err_set_errno(err, errno, "cannot stat '%s'", path);
		goto out;
	}
	e->ino = sb.st_ino;
	e->size = sb.st_size;
	e->mtim_ns =
		(int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	pthread_mutex_lock(&up->lock);
	(void)publish(up, user, e);
	pthread_mutex_unlock(&up->lock);
	e = NULL;
	if (on)
		*on = added;
	ret = 0;
out:
	free(text);
	entry_free(e);
	return ret;
}

int userprefs_toggle(struct userprefs *up, const char *user,
                     enum userprefs_kind kind, const char *repo, bool *on,
                     struct err *err)
{
	char esc[UP_NAME_MAX + 1];
	pthread_mutex_t *m;
	int fd, ret;

	if (!user || !*user)
		return err_set(err, ERR_INVALID, "no user");
	if (!repo || !*repo)
		return err_set(err, ERR_INVALID, "no repository");
	if (escape_user(user, esc) < 0)
		return err_set(err, ERR_TOO_LARGE,
		               "user name too long to keep preferences for");
	m = &up->stripe[hash_of(user) % UP_STRIPES];
	pthread_mutex_lock(m);
	fd = lock_user(up, user, err);
	ret = fd < 0 ? -1 : toggle_locked(up, user, esc, kind, repo, on, err);
	if (fd >= 0)
		close(fd); /* releases the OFD lock */
	pthread_mutex_unlock(m);
	return ret;
}

/* The entry of @user, re-checked. Under up->lock; NULL: none. */
static struct uentry *entry_of(struct userprefs *up, const char *user)
{
	rescan(up, false);
	return user && *user ? hmap_get(up->users, user) : NULL;
}

json_t *userprefs_list(struct userprefs *up, const char *user,
                       enum userprefs_kind kind, struct err *err)
{
	struct uentry *e;
	json_t *out;

	pthread_mutex_lock(&up->lock);
	e = entry_of(up, user);
	out = e ? sorted_names(e->set[kind]) : json_array();
	pthread_mutex_unlock(&up->lock);
	if (!out)
		err_set(err, ERR_NOMEM, "out of memory");
	return out;
}

bool userprefs_has(struct userprefs *up, const char *user,
                   enum userprefs_kind kind, const char *repo)
{
	struct uentry *e;
	bool has;

	pthread_mutex_lock(&up->lock);
	e = entry_of(up, user);
	has = e && json_object_get(e->set[kind], repo);
	pthread_mutex_unlock(&up->lock);
	return has;
}

uint64_t userprefs_stars(struct userprefs *up, const char *repo)
{
	uint64_t n;

	pthread_mutex_lock(&up->lock);
	rescan(up, false);
	n = (uintptr_t)hmap_get(up->stars, repo);
	pthread_mutex_unlock(&up->lock);
	return n;
}

int userprefs_summary(struct userprefs *up, const char *user, const char *repo,
                      json_t *summary)
{
	json_t *count;
	struct uentry *e;
	bool star, mark;
	uint64_t n;

	pthread_mutex_lock(&up->lock);
	e = entry_of(up, user);
	star = e && json_object_get(e->set[USERPREFS_STAR], repo);
	mark = e && json_object_get(e->set[USERPREFS_BOOKMARK], repo);
	n = (uintptr_t)hmap_get(up->stars, repo);
	pthread_mutex_unlock(&up->lock);
	count = json_integer((json_int_t)n);
	if (!count || json_object_set_new(summary, "StarCount", count) < 0 ||
	    json_object_set_new(summary, "IsStarred", json_boolean(star)) < 0 ||
	    json_object_set_new(summary, "IsBookmarked", json_boolean(mark)) <
	            0)
		return -1;
	return 0;
}
