/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.c - locks on files in a shared tree: the one way such a lock is
 * taken (lock_path), leases (lease.h), and each node's liveness file,
 * <root>/.dray/nodes/<id>.alive, locked by its node for as long as its
 * store is open, so that the GC lease holder can tell a dead node's
 * staging (<root>/.dray/tmp/<id>) from a live one's.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#define LOG_MODULE  "lease"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "index/lease.h"
#include "index/store_int.h"

/* A lock file is opened and locked at most this often before giving up. */
#define LOCK_TRIES 64

static int open_creating(char *path, struct err *err)
{
	char *slash;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 && errno == ENOENT) {
		slash = strrchr(path, '/');
		*slash = '\0';
		if (fs_mkdir_p(path, 0755, err) < 0) {
			*slash = '/';
			return -1;
		}
		*slash = '/';
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	return fd;
}

/*
 * A lock file may be removed by the node that holds it (a deleted
 * repository's, a dead node's liveness file): a node that opened the old
 * file and waited holds a lock on a file nobody else will open, while a
 * third node creates a new one and locks that. So a lock counts only
 * when the file locked is still the one at @path; otherwise it is let go
 * and taken again on the new file.
 */
int lock_path(const char *path, bool wait, struct err *err)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char p[PATH_MAX];
	struct stat a, b;
	int fd;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	for (int n = 0; n < LOCK_TRIES; n++) {
		fd = open_creating(p, err);
		if (fd < 0)
			return -1;
		while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			close(fd);
			if (!wait && (e == EAGAIN || e == EACCES))
				return err_set(err, ERR_BUSY,
				               "'%s' is locked elsewhere",
				               path);
			return err_set_errno(err, e, "cannot lock '%s'", path);
		}
		if (fstat(fd, &a) == 0 && stat(p, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd); /* removed or replaced while we waited */
	}
	return err_set(err, ERR_BUSY, "'%s' keeps being replaced", path);
}

int lease_init(struct store *st, struct err *err)
{
	st->alive_fd = -1;
	pthread_mutex_init(&st->lease_lock, NULL);
	st->leases = hmap_new();
	if (!st->leases)
		return err_set(err, ERR_NOMEM, "cannot allocate store");
	return 0;
}

static int close_lease(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	close((int)(intptr_t)val - 1);
	return 0;
}

void lease_close(struct store *st)
{
	if (st->leases) {
		hmap_each(st->leases, close_lease, NULL);
		hmap_free(st->leases);
		st->leases = NULL;
		pthread_mutex_destroy(&st->lease_lock);
	}
	if (st->alive_fd >= 0)
		close(st->alive_fd);
	st->alive_fd = -1;
}

static bool lease_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 && name[0] != '.' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

int store_lease_take(struct store *st, const char *name, struct err *err)
{
	char path[PATH_MAX];
	int fd, ret = 1;

	if (!lease_name_ok(name))
		return err_set(err, ERR_INVALID, "bad lease name '%s'", name);
	if (!st->shared)
		return 1;
	if (snprintf(path, sizeof(path), "%s/.dray/leases/%s", st->root,
	             name) >= (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	pthread_mutex_lock(&st->lease_lock);
	if (hmap_get(st->leases, name))
		goto out;
	fd = lock_path(path, false, err);
	if (fd < 0) {
		ret = -1;
		if (err->code == ERR_BUSY) {
			*err = ERR_INIT;
			ret = 0;
			atomic_fetch_add(strcmp(name, STORE_LEASE_GC) == 0
			                         ? &st->gc_skips
			                         : &st->other_skips,
			                 1);
		}
		goto out;
	}
	if (hmap_put(st->leases, name, (void *)(intptr_t)(fd + 1)) < 0) {
		close(fd);
		ret = err_set(err, ERR_NOMEM, "cannot hold lease");
		goto out;
	}
	log_info("this node (%s) holds the %s lease", st->node_id, name);
out:
	pthread_mutex_unlock(&st->lease_lock);
	return ret;
}

void store_lease_drop(struct store *st, const char *name)
{
	void *v;

	if (!st->shared)
		return;
	pthread_mutex_lock(&st->lease_lock);
	v = hmap_del(st->leases, name);
	pthread_mutex_unlock(&st->lease_lock);
	if (v) {
		close((int)(intptr_t)v - 1);
		log_info("this node (%s) let the %s lease go", st->node_id,
		         name);
	}
}

const char *store_node_id(const struct store *st)
{
	return st->shared && st->node_id[0] ? st->node_id : NULL;
}

void store_lease_stats(struct store *st, struct store_lease_stats *out)
{
	*out = (struct store_lease_stats){
		.gc_skips = atomic_load(&st->gc_skips),
		.other_skips = atomic_load(&st->other_skips),
		.nodes_swept = atomic_load(&st->nodes_swept),
	};
	if (!st->shared) {
		out->gc_held = true;
		return;
	}
	pthread_mutex_lock(&st->lease_lock);
	out->gc_held = hmap_get(st->leases, STORE_LEASE_GC) != NULL;
	pthread_mutex_unlock(&st->lease_lock);
}

static int alive_path(const struct store *st, const char *id, char *out,
                      struct err *err)
{
	if (snprintf(out, PATH_MAX, "%s/.dray/nodes/%s.alive", st->root, id) >=
	    PATH_MAX)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/*
 * Before this node touches its staging: lock its liveness file for the
 * store's lifetime. Waits while the GC lease holder sweeps the staging of
 * this node's previous life.
 */
int node_alive(struct store *st, struct err *err)
{
	char path[PATH_MAX];

	if (alive_path(st, st->node_id, path, err) < 0)
		return -1;
	st->alive_fd = lock_path(path, true, err);
	return st->alive_fd < 0 ? -1 : 0;
}

/* Is @name a node id (16 lowercase hex digits)? */
static bool is_node_id(const char *name)
{
	return strlen(name) == 16 && strspn(name, "0123456789abcdef") == 16;
}

/*
 * Remove what is older than @delay_ms (by ctime) in @dir; true when
 * nothing is left in it.
 */
static bool sweep_dir(const char *dir, uint64_t delay_ms)
{
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while ((de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(path) ||
		    lstat(path, &sb) < 0 ||
		    clock_age_wall_of(clock_ts_ms(&sb.st_ctim)) + delay_ms >
		            clock_age_wall_ms() ||
		    fs_remove_tree(path, &ignored) < 0) {
			empty = false;
			continue;
		}
		log_debug("removed '%s' of a node that is gone", path);
	}
	closedir(d);
	return empty;
}

int sweep_dead_nodes(struct store *st, uint64_t delay_ms, struct err *err)
{
	char dir[PATH_MAX], path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	int swept = 0;
	DIR *d;

	if (!st->shared)
		return 0;
	if (snprintf(dir, sizeof(dir), "%s/.dray/tmp", st->root) >=
	    (int)sizeof(dir))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct err busy = ERR_INIT;
		int fd;

		if (!is_node_id(de->d_name) ||
		    !strcmp(de->d_name, st->node_id) ||
		    alive_path(st, de->d_name, path, err) < 0 ||
		    snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(sub))
			continue;
		fd = lock_path(path, false, &busy);
		if (fd < 0)
			continue; /* alive (or cannot tell): left alone */
		/* Its node cannot start while we hold this. */
		if (sweep_dir(sub, delay_ms) && rmdir(sub) == 0) {
			unlink(path);
			swept++;
			log_info("staging of node %s, which is gone, removed",
			         de->d_name);
		}
		close(fd);
	}
	closedir(d);
	atomic_fetch_add(&st->nodes_swept, (uint64_t)swept);
	return swept;
}
