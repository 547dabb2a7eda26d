/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node.c - the node table: the node ids the kernel knows, each
 * mapped to a path relative to the storage root, with its lookups and
 * the descriptor its readers hold.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "fusefs/ops_int.h"

int errno_for(const struct err *err)
{
	return err_errno(err);
}

void node_free(struct node *n)
{
	if (n) {
		if (n->fd >= 0)
			close(n->fd);
		free(n->path);
	}
	free(n);
}

/* The node @ino, or NULL; caller holds fs->lock. */
static struct node *node_find(struct rfs *fs, fuse_ino_t ino)
{
	char key[24];

	if (ino == FUSE_ROOT_ID)
		return fs->root;
	snprintf(key, sizeof(key), "%" PRIu64, (uint64_t)ino);
	return hmap_get(fs->by_ino, key);
}

/*
 * A reader opened node @ino as @fd: its file stays what the node shows
 * until the last reader closes (node_release()), deleted or not.
 */
void node_hold(struct rfs *fs, fuse_ino_t ino, int fd)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_find(fs, ino);
	if (n && n->readers++ == 0)
		n->fd = dup(fd); /* -1 only shows the name's fate */
	pthread_mutex_unlock(&fs->lock);
}

void node_release(struct rfs *fs, fuse_ino_t ino)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_find(fs, ino);
	if (n && n->readers && --n->readers == 0 && n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	pthread_mutex_unlock(&fs->lock);
}

/* stat(2) of the file a reader of @ino holds; false if none. */
bool node_fstat(struct rfs *fs, fuse_ino_t ino, struct stat *sb)
{
	struct node *n;
	bool ok;

	pthread_mutex_lock(&fs->lock);
	n = node_find(fs, ino);
	ok = n && n->fd >= 0 && fstat(n->fd, sb) == 0;
	pthread_mutex_unlock(&fs->lock);
	return ok;
}

/*
 * The path of node @ino into @out (PATH_MAX), copied under the lock: a
 * rename may replace it meanwhile. Returns 0, or ESTALE for a node the
 * kernel has forgotten.
 */
int node_path(struct rfs *fs, fuse_ino_t ino, char *out)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_find(fs, ino);
	if (n)
		snprintf(out, PATH_MAX, "%s", n->path);
	pthread_mutex_unlock(&fs->lock);
	return n ? 0 : ESTALE;
}

/* Drop @path's claim on its node (fs->lock held); the node lives on. */
void node_unkey(struct rfs *fs, const char *path)
{
	hmap_del(fs->by_path, path);
}

/* The node for @path with one more lookup, made if new. */
struct node *node_ref(struct rfs *fs, const char *path)
{
	char key[24];
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = hmap_get(fs->by_path, path);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n && !(n->path = strdup(path))) {
			free(n);
			n = NULL;
		}
		if (n) {
			n->fd = -1;
			n->ino = fs->next_ino++;
			snprintf(key, sizeof(key), "%" PRIu64, n->ino);
			if (hmap_put(fs->by_path, path, n) < 0 ||
			    hmap_put(fs->by_ino, key, n) < 0) {
				hmap_del(fs->by_path, path);
				node_free(n);
				n = NULL;
			}
		}
	}
	if (n)
		n->lookups++;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/*
 * After rename(@from, @to): the kernel's entry for @to is the node that
 * was @from, so it is keyed by @to now; a node @to had before lets go of
 * the name. Returns 0, or ENOMEM (the node is then unkeyed, and a later
 * lookup of @to makes a new one).
 */
int node_rename(struct rfs *fs, const char *from, const char *to)
{
	struct node *n;
	char *path;
	int e = 0;

	if (!strcmp(from, to))
		return 0;
	path = strdup(to);
	pthread_mutex_lock(&fs->lock);
	node_unkey(fs, to);
	n = hmap_del(fs->by_path, from);
	if (n && path) {
		free(n->path);
		n->path = path;
		path = NULL;
		if (hmap_put(fs->by_path, to, n) < 0)
			e = ENOMEM;
	} else if (n) {
		e = ENOMEM;
	}
	pthread_mutex_unlock(&fs->lock);
	free(path);
	return e;
}

void node_forget(struct rfs *fs, fuse_ino_t ino, uint64_t count)
{
	char key[24];
	struct node *n;

	if (ino == FUSE_ROOT_ID)
		return;
	snprintf(key, sizeof(key), "%" PRIu64, (uint64_t)ino);
	pthread_mutex_lock(&fs->lock);
	n = hmap_get(fs->by_ino, key);
	if (n) {
		n->lookups = n->lookups > count ? n->lookups - count : 0;
		if (!n->lookups) {
			hmap_del(fs->by_ino, key);
			/* A name removed or renamed over is another's now. */
			if (hmap_get(fs->by_path, n->path) == n)
				node_unkey(fs, n->path);
			node_free(n);
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

/*
 * The view path of @name in directory @parent into @out (PATH_MAX).
 * Returns 0 or the errno to reply with.
 */
int child_path(struct rfs *fs, fuse_ino_t parent, const char *name, char *out)
{
	char dir[PATH_MAX];
	int e = node_path(fs, parent, dir);

	if (e)
		return e;
	if (snprintf(out, PATH_MAX, "%s%s%s", dir, *dir ? "/" : "", name) >=
	    PATH_MAX)
		return ENAMETOOLONG;
	return 0;
}

/* Writes refused by a read-only mount: reply EROFS and return true. */
bool refuse_read_only(struct rfs *fs, fuse_req_t req)
{
	if (fs->opts.read_only)
		fuse_reply_err(req, EROFS);
	return fs->opts.read_only;
}

/*
 * The path of @name in @parent (PATH_MAX into @out), to be changed: true,
 * or false having answered the error (a read-only mount, a bad name).
 */
bool writable_child(struct rfs *fs, fuse_req_t req, fuse_ino_t parent,
                    const char *name, char *out)
{
	int e;

	if (refuse_read_only(fs, req))
		return false;
	e = child_path(fs, parent, name, out);
	if (e)
		fuse_reply_err(req, e);
	return !e;
}
