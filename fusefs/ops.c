/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the FUSE low-level operations over the store's view.
 *
 * Node ids map to paths relative to the storage root; a node lives while
 * the kernel holds lookups on it (forget). A rename re-keys the node it
 * moves (the kernel's entry for the new name is that node), and a name
 * removed or renamed over lets go of its node, so a later file of that
 * name is a new node. The node id stays internal: st_ino is the stored
 * file's, so hard links between repositories show. Blobs never change, so their
 * attributes are cached for an hour and their pages kept across opens;
 * everything else (index.json, directories) is not cached, so a push over
 * HTTP shows at the next look. Reads are spliced from the layout file.
 */
#define _GNU_SOURCE /* umount2 flags, O_ACCMODE */
#define LOG_MODULE  "fuse"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/hmap.h"
#include "fusefs/fusefs.h"
#include "index/store.h"

#define BLOB_TTL      3600.0
#define BLOB_ATTR_TTL 1.0
/*
 * index.json and directories change: HTTP changes reach the kernel as
 * invalidations at once (notifier()); this bounds how long an edit made
 * on the disk behind dray's back can stay unseen.
 */
#define META_TTL 10.0

struct node {
	uint64_t ino;     /* node id the kernel knows */
	uint64_t lookups; /* kernel references; protected by fs->lock */
	char *path;       /* relative to the root, "" for the root; replaced
	                     by a rename, so read under fs->lock (node_path) */
	unsigned readers; /* files open for reading; protected by fs->lock */
	int fd;           /* while readers: a dup of one's descriptor, so an
	                     fstat() answers once the name is gone; else -1 */
};

struct rfs {
	struct store *st;        /* what is shown */
	struct rfs_opts opts;    /* as started (mountpoint copied) */
	char *mountpoint;        /* absolute */
	struct fuse_session *se; /* the session */
	pthread_t thread;        /* runs the session loop */
	bool running;            /* thread started */
	pthread_mutex_t lock;    /* protects the tables */
	struct hmap *by_path;    /* path -> node */
	struct hmap *by_ino;     /* decimal ino -> node */
	uint64_t next_ino;       /* protected by lock */
	struct node *root;       /* ino 1 */
	struct hmap *writing;    /* path -> struct open_file being written;
	                            protected by lock */
	pthread_t notifier;      /* sends the kernel invalidations */
	bool notifying;          /* notifier started */
	pthread_mutex_t qlock;   /* protects queue and qstop */
	pthread_cond_t qcond;    /* queue grew or qstop set */
	struct strvec queue;     /* paths the store changed */
	bool qstop;              /* the notifier should end */
	struct open_file *files; /* open files the kernel holds; protected
	                            by lock (freed at stop if never released) */
	bool unmounted;          /* rfs_unmount() ran */
	struct hmap *refused;    /* path -> why its last close or rename
	                            was refused (malloc()ed text), for
	                            user.dray.status; protected by lock */
};

/* Writes to one file answered before they are applied, at most. */
#define WRITES_AHEAD 2

/* The I/O size a file being written asks for (the largest FUSE write). */
#define WRITE_BLKSIZE (1 << 20)

/*
 * An open file: a layout file to read, or a private copy being written.
 *
 * A WRITE is answered before its bytes are hashed and stored, so that
 * the writer's next write() travels to us while we hash this one. Each
 * write takes a ticket when it arrives and is applied in ticket order;
 * the first failure is kept and returned by close(), which waits for
 * every ticket (a write's error is the commit's, which is final only
 * at close anyway).
 */
struct open_file {
	int fd;                        /* reading: the layout file, else -1 */
	struct fs_writer *w;           /* writing: the staged copy, else NULL */
	pthread_mutex_t wlock;         /* writing: protects the fields below */
	pthread_cond_t wcond;          /* a ticket was served */
	uint64_t tickets;              /* writes taken */
	uint64_t served;               /* writes applied */
	int werr;                      /* first write error, an errno */
	_Atomic uint64_t size;         /* end of the furthest write taken */
	struct open_file *prev, *next; /* in fs->files; protected by fs->lock */
	char path[];                   /* relative path */
};

/* A directory listing taken at opendir. */
struct dirlist {
	struct strvec names; /* entries */
};

static int errno_for(const struct err *err)
{
	return err_errno(err);
}

static void node_free(struct node *n)
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
static void node_hold(struct rfs *fs, fuse_ino_t ino, int fd)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_find(fs, ino);
	if (n && n->readers++ == 0)
		n->fd = dup(fd); /* -1 only shows the name's fate */
	pthread_mutex_unlock(&fs->lock);
}

static void node_release(struct rfs *fs, fuse_ino_t ino)
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
static bool node_fstat(struct rfs *fs, fuse_ino_t ino, struct stat *sb)
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
static int node_path(struct rfs *fs, fuse_ino_t ino, char *out)
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
static void node_unkey(struct rfs *fs, const char *path)
{
	hmap_del(fs->by_path, path);
}

/* The node for @path with one more lookup, made if new. */
static struct node *node_ref(struct rfs *fs, const char *path)
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
static int node_rename(struct rfs *fs, const char *from, const char *to)
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

static void node_forget(struct rfs *fs, fuse_ino_t ino, uint64_t count)
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

/* Refusals remembered for user.dray.status, at most (then one goes). */
#define REFUSED_MAX 256

static int first_key(const char *key, void *val, void *arg)
{
	(void)val;
	snprintf(arg, PATH_MAX, "%s", key);
	return 1;
}

/*
 * Remember why writing @path was refused at close or rename (@why): the
 * shell ignores close()'s error, user.dray.status tells it.
 */
static void refusal_set(struct rfs *fs, const char *path, const char *why)
{
	char *text = NULL, key[PATH_MAX];

	if (asprintf(&text, "refused: %s\n", why) < 0)
		return; /* out of memory: the log has it */
	pthread_mutex_lock(&fs->lock);
	free(hmap_del(fs->refused, path));
	if (hmap_count(fs->refused) >= REFUSED_MAX &&
	    hmap_each(fs->refused, first_key, key))
		free(hmap_del(fs->refused, key));
	if (hmap_put(fs->refused, path, text) == 0)
		text = NULL;
	pthread_mutex_unlock(&fs->lock);
	free(text);
}

/* @path was written, or is gone: its last refusal no longer holds. */
static void refusal_clear(struct rfs *fs, const char *path)
{
	pthread_mutex_lock(&fs->lock);
	free(hmap_del(fs->refused, path));
	pthread_mutex_unlock(&fs->lock);
}

/*
 * What the kernel is told of node @nodeid, whose file @sb describes: the
 * stored file's inode number (a file being written, which has none yet,
 * gets one apart from any on disk), and the owner and modes configured.
 */
static void show_attr(const struct rfs *fs, struct stat *sb, uint64_t nodeid)
{
	if (!sb->st_ino)
		sb->st_ino = (ino_t)(nodeid | UINT64_C(1) << 63);
	if (fs->opts.uid >= 0)
		sb->st_uid = (uid_t)fs->opts.uid;
	if (fs->opts.gid >= 0)
		sb->st_gid = (gid_t)fs->opts.gid;
	/* A read-only mount says so in the modes too. */
	if (fs->opts.read_only)
		sb->st_mode &= (mode_t)~0222;
}

/*
 * A layout file being rewritten is still that file to its writer (vim
 * compares the inode number it opened with the name's): its number,
 * owner and mode stay what they were.
 */
static void keep_identity(struct rfs *fs, const char *path, struct stat *sb)
{
	struct err ignored = ERR_INIT;
	struct stat old;

	if (store_fs_stat(fs->st, path, &old, &ignored) < 0)
		return; /* a new file: show_attr() numbers it */
	sb->st_dev = old.st_dev;
	sb->st_ino = old.st_ino;
	sb->st_mode = old.st_mode;
	sb->st_uid = old.st_uid;
	sb->st_gid = old.st_gid;
}

/*
 * stat(2) of @path as the mount shows it: a file being written is its
 * staged copy, which is nowhere in the layout yet.
 */
static int view_stat(struct rfs *fs, const char *path, struct stat *sb,
                     struct err *err)
{
	struct open_file *of;
	uint64_t size = 0;

	pthread_mutex_lock(&fs->lock);
	of = hmap_get(fs->writing, path);
	if (of)
		size = atomic_load(&of->size);
	pthread_mutex_unlock(&fs->lock);
	if (!of)
		return store_fs_stat(fs->st, path, sb, err);
	/* A temporary is its staged file, which may lag the writes taken. */
	if (store_fs_is_staged(fs->st, path) &&
	    store_fs_stat(fs->st, path, sb, err) == 0) {
		if ((uint64_t)sb->st_size < size)
			sb->st_size = (off_t)size;
		return 0;
	}
	*err = ERR_INIT;
	memset(sb, 0, sizeof(*sb)); /* st_ino 0: show_attr() gives one */
	sb->st_mode = S_IFREG | 0644;
	sb->st_nlink = 1;
	sb->st_size = (off_t)size;
	/* cp sizes its writes by this: fewer, larger round trips. */
	sb->st_blksize = WRITE_BLKSIZE;
	sb->st_uid = getuid();
	sb->st_gid = getgid();
	clock_gettime(CLOCK_REALTIME, &sb->st_mtim);
	sb->st_ctim = sb->st_atim = sb->st_mtim;
	keep_identity(fs, path, sb);
	return 0;
}

/*
 * A blob's content never changes, but its link count does when another
 * repository links it: its name and pages are kept long, its attributes
 * briefly.
 */
static double attr_ttl_for(const char *path)
{
	return store_fs_is_blob(path) ? BLOB_ATTR_TTL : META_TTL;
}

static double ttl_for(const char *path)
{
	return store_fs_is_blob(path) ? BLOB_TTL : META_TTL;
}

/*
 * The view path of @name in directory @parent into @out (PATH_MAX).
 * Returns 0 or the errno to reply with.
 */
static int child_path(struct rfs *fs, fuse_ino_t parent, const char *name,
                      char *out)
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

static void on_change(void *arg, const char *rel);

/* Writes refused by a read-only mount: reply EROFS and return true. */
static bool refuse_read_only(struct rfs *fs, fuse_req_t req)
{
	if (fs->opts.read_only)
		fuse_reply_err(req, EROFS);
	return fs->opts.read_only;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e = {0};
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	struct node *n;
	int rc = child_path(fs, parent, name, path);

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (view_stat(fs, path, &e.attr, &err) < 0) {
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	n = node_ref(fs, path);
	if (!n) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	show_attr(fs, &e.attr, n->ino);
	e.ino = n->ino;
	e.entry_timeout = ttl_for(path);
	e.attr_timeout = attr_ttl_for(path);
	if (fuse_reply_entry(req, &e) != 0)
		node_forget(fs, n->ino, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(fuse_req_userdata(req), forgets[i].ino,
		            forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct open_file *of =
		fi ? (struct open_file *)(uintptr_t)fi->fh : NULL;
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	struct stat sb;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	/*
	 * A reader's file is the one it opened, even once deleted from the
	 * layout (over HTTP): asked for an open file, or for a node whose
	 * name is gone while a reader holds it (fstat(2) comes without one).
	 */
	if (of && of->fd >= 0) {
		if (fstat(of->fd, &sb) < 0) {
			fuse_reply_err(req, errno);
			return;
		}
	} else if (view_stat(fs, path, &sb, &err) < 0 &&
	           (err.code != ERR_NOT_FOUND || !node_fstat(fs, ino, &sb))) {
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	show_attr(fs, &sb, ino);
	fuse_reply_attr(req, &sb, attr_ttl_for(path));
}

static int writes_drain(struct open_file *of);

/* Apply what @to_set asks of @attr to staged @path (not a layout file). */
static int set_staged(struct rfs *fs, const char *path, const struct stat *attr,
                      int to_set, struct err *err)
{
	struct fs_attr a = {0};

	if (to_set & FUSE_SET_ATTR_MODE)
		a.set |= FS_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		a.set |= FS_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		a.set |= FS_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		a.set |= FS_SET_SIZE;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))
		a.set |= FS_SET_TIMES;
	a.mode = attr->st_mode;
	a.uid = attr->st_uid;
	a.gid = attr->st_gid;
	a.size = (uint64_t)attr->st_size;
	a.times[0] = attr->st_atim;
	a.times[1] = attr->st_mtim;
	if (!(to_set & FUSE_SET_ATTR_ATIME))
		a.times[0].tv_nsec = UTIME_OMIT;
	else if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		a.times[0].tv_nsec = UTIME_NOW;
	if (!(to_set & FUSE_SET_ATTR_MTIME))
		a.times[1].tv_nsec = UTIME_OMIT;
	else if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		a.times[1].tv_nsec = UTIME_NOW;
	return store_fs_set_staged(fs->st, path, &a, err);
}

/* ftruncate(2) of @of, a file being written. */
static int truncate_write(struct open_file *of, uint64_t size, struct err *err)
{
	int e = writes_drain(of);

	if (e)
		return err_set_errno(err, e, "an earlier write failed");
	if (store_fs_truncate(of->w, size, err) < 0)
		return -1;
	atomic_store(&of->size, size);
	return 0;
}

/*
 * chmod, chown, truncate and utimes. A staged name (NOTES, a temporary)
 * takes them as any file does. A layout file's owner and modes are
 * dray's: a change is refused with EPERM, and asking for what is shown
 * succeeds (cp -a, rsync -a); setting its times is accepted and does
 * nothing (touch, cp -p: its times are when dray stored it). Truncation
 * applies to a file being written (a blob only to empty it), else only
 * to the size it has.
 */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                       int to_set, struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct open_file *of =
		fi ? (struct open_file *)(uintptr_t)fi->fh : NULL;
	bool writing = of && of->w;
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	struct stat now;
	int e;

	if (refuse_read_only(fs, req))
		return;
	e = node_path(fs, ino, path);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	if (store_fs_is_staged(fs->st, path)) {
		if (writing && (to_set & FUSE_SET_ATTR_SIZE)) {
			if (truncate_write(of, (uint64_t)attr->st_size, &err) <
			    0)
				goto refuse;
			to_set &= ~FUSE_SET_ATTR_SIZE;
		}
		if (set_staged(fs, path, attr, to_set, &err) < 0)
			goto refuse;
		op_getattr(req, ino, fi);
		return;
	}
	if (view_stat(fs, path, &now, &err) < 0)
		goto refuse;
	show_attr(fs, &now, ino);
	if (((to_set & FUSE_SET_ATTR_MODE) &&
	     (attr->st_mode & 07777) != (now.st_mode & 07777)) ||
	    ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != now.st_uid) ||
	    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != now.st_gid)) {
		log_debug("%s: owner and modes of layout files are dray's",
		          path);
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (writing) {
			if (truncate_write(of, (uint64_t)attr->st_size, &err) <
			    0)
				goto refuse;
		} else if (attr->st_size != now.st_size) {
			fuse_reply_err(req, EPERM);
			return;
		}
	}
	op_getattr(req, ino, fi);
	return;
refuse:
	log_debug("%s: setattr: %s", path, err.msg);
	fuse_reply_err(req, errno_for(&err));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	struct dirlist *dl;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	dl = calloc(1, sizeof(*dl));
	if (!dl) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (store_fs_list(fs->st, path, &dl->names, &err) < 0) {
		strvec_release(&dl->names);
		free(dl);
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)dl;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	struct dirlist *dl = (struct dirlist *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 1 is ".", 2 "..", 3 + i entry i. */
	for (off_t i = off; i < (off_t)dl->names.n + 2; i++) {
		struct stat sb = {0};
		const char *name = i == 0 ? "." : i == 1 ? ".." : NULL;
		size_t need;

		if (!name)
			name = dl->names.v[i - 2];
		/* glibc's readdir() skips entries whose inode is 0; the real
		 * number comes with the lookup that follows. */
		sb.st_ino = (ino_t)i + 2;
		need = fuse_add_direntry(req, buf + used, size - used, name,
		                         &sb, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
	struct dirlist *dl = (struct dirlist *)(uintptr_t)fi->fh;

	(void)ino;
	strvec_release(&dl->names);
	free(dl);
	fuse_reply_err(req, 0);
}

static struct open_file *open_file_new(const char *path)
{
	size_t len = strlen(path);
	struct open_file *of = calloc(1, sizeof(*of) + len + 1);

	if (of) {
		of->fd = -1;
		pthread_mutex_init(&of->wlock, NULL);
		pthread_cond_init(&of->wcond, NULL);
		memcpy(of->path, path, len + 1);
	}
	return of;
}

static void open_file_free(struct open_file *of)
{
	if (of->fd >= 0)
		close(of->fd);
	pthread_cond_destroy(&of->wcond);
	pthread_mutex_destroy(&of->wlock);
	free(of);
}

/* The kernel holds @of from now (fi->fh): listed until its release. */
static void files_add(struct rfs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->lock);
	of->prev = NULL;
	of->next = fs->files;
	if (fs->files)
		fs->files->prev = of;
	fs->files = of;
	pthread_mutex_unlock(&fs->lock);
}

static void files_del(struct rfs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->lock);
	if (of->prev)
		of->prev->next = of->next;
	else
		fs->files = of->next;
	if (of->next)
		of->next->prev = of->prev;
	pthread_mutex_unlock(&fs->lock);
}

/* Wait until every write taken is applied; the first error, or 0. */
static int writes_drain(struct open_file *of)
{
	int e;

	pthread_mutex_lock(&of->wlock);
	while (of->served != of->tickets)
		pthread_cond_wait(&of->wcond, &of->wlock);
	e = of->werr;
	pthread_mutex_unlock(&of->wlock);
	return e;
}

/*
 * Start a private copy of @path, empty or (@keep) holding what the name
 * holds now; registers it for view_stat().
 */
static struct open_file *start_write(struct rfs *fs, const char *path,
                                     bool keep, struct err *err)
{
	struct open_file *of = open_file_new(path);

	if (!of) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	of->w = keep ? store_fs_edit(fs->st, path, err)
	             : store_fs_create(fs->st, path, err);
	if (!of->w) {
		open_file_free(of);
		return NULL;
	}
	atomic_store(&of->size, store_fs_written(of->w));
	pthread_mutex_lock(&fs->lock);
	if (hmap_put(fs->writing, path, of) < 0) {
		pthread_mutex_unlock(&fs->lock);
		store_fs_writer_free(of->w);
		open_file_free(of);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_unlock(&fs->lock);
	return of;
}

static void end_write(struct rfs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->lock);
	if (hmap_get(fs->writing, of->path) == of)
		hmap_del(fs->writing, of->path);
	pthread_mutex_unlock(&fs->lock);
}

static bool wants_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	struct open_file *of;
	char path[PATH_MAX];
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	/* Appending to a blob's content can never match its name. */
	if (wants_write(fi) && (fi->flags & O_APPEND) &&
	    !(fi->flags & O_TRUNC) && store_fs_is_blob(path) &&
	    !store_fs_is_staged(fs->st, path)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (wants_write(fi)) {
		/*
		 * A rewrite is a new private copy, judged at close; without
		 * O_TRUNC it starts as a copy of what the name holds.
		 */
		of = fs->opts.read_only
		             ? NULL
		             : start_write(fs, path, !(fi->flags & O_TRUNC),
		                           &err);
		if (!of) {
			fuse_reply_err(req, fs->opts.read_only
			                            ? EROFS
			                            : errno_for(&err));
			return;
		}
		fi->direct_io = 1;
	} else {
		of = open_file_new(path);
		if (!of) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		if (store_fs_open(fs->st, path, &of->fd, &err) < 0) {
			open_file_free(of);
			fuse_reply_err(req, errno_for(&err));
			return;
		}
		/* Blob pages stay valid forever; index.json is read afresh. */
		fi->keep_cache = store_fs_is_blob(path);
		fi->direct_io = !fi->keep_cache;
		node_hold(fs, ino, of->fd);
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	files_add(fs, of);
	if (fuse_reply_open(req, fi) != 0) {
		files_del(fs, of);
		if (of->w) {
			end_write(fs, of);
			store_fs_writer_free(of->w);
		} else {
			node_release(fs, ino);
		}
		open_file_free(of);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e = {0};
	struct err err = ERR_INIT;
	struct open_file *of;
	char path[PATH_MAX];
	struct node *n;
	int rc;

	(void)mode;
	if (refuse_read_only(fs, req))
		return;
	rc = child_path(fs, parent, name, path);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	of = start_write(fs, path, false, &err);
	if (!of) {
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	n = node_ref(fs, path);
	if (!n || view_stat(fs, path, &e.attr, &err) < 0) {
		end_write(fs, of);
		store_fs_writer_free(of->w);
		open_file_free(of);
		if (n)
			node_forget(fs, n->ino, 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	show_attr(fs, &e.attr, n->ino);
	e.ino = n->ino;
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->direct_io = 1;
	files_add(fs, of);
	if (fuse_reply_create(req, &e, fi) != 0) {
		files_del(fs, of);
		end_write(fs, of);
		store_fs_writer_free(of->w);
		open_file_free(of);
		node_forget(fs, n->ino, 1);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	if (of->fd < 0) { /* being written: nothing to read back yet */
		fuse_reply_err(req, EBADF);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = of->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct err err = ERR_INIT;
	uint64_t ticket, end = (uint64_t)off + size;
	int e;

	(void)ino;
	if (!of->w) {
		fuse_reply_err(req, EBADF);
		return;
	}
	/* Refused at once: no content of that size can match the name. */
	if (end > store_fs_limit(of->w)) {
		char why[160];

		snprintf(why, sizeof(why),
		         "a write up to byte %" PRIu64 " is past the %" PRIu64
		         " bytes of the content this name names",
		         end, store_fs_limit(of->w));
		refusal_set(fuse_req_userdata(req), of->path, why);
		pthread_mutex_lock(&of->wlock);
		if (!of->werr)
			of->werr = EFBIG;
		pthread_mutex_unlock(&of->wlock);
		fuse_reply_err(req, EFBIG);
		return;
	}
	pthread_mutex_lock(&of->wlock);
	e = of->werr;
	ticket = of->tickets;
	of->tickets += !e;
	/* Answered ahead by at most this much: the writer waits, not the
	 * mount's other users for parked threads. */
	while (!e && ticket - of->served > WRITES_AHEAD)
		pthread_cond_wait(&of->wcond, &of->wlock);
	pthread_mutex_unlock(&of->wlock);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	for (uint64_t cur = atomic_load(&of->size); end > cur;)
		if (atomic_compare_exchange_weak(&of->size, &cur, end))
			break;
	fuse_reply_write(req, size);
	/* @buf is ours until we return: apply it in its turn. */
	pthread_mutex_lock(&of->wlock);
	while (of->served != ticket)
		pthread_cond_wait(&of->wcond, &of->wlock);
	e = of->werr;
	pthread_mutex_unlock(&of->wlock);
	if (!e && store_fs_write(of->w, buf, size, (uint64_t)off, &err) < 0) {
		log_warn("%s: %s", of->path, err.msg);
		e = errno_for(&err);
	}
	pthread_mutex_lock(&of->wlock);
	if (e && !of->werr)
		of->werr = e;
	of->served++;
	pthread_cond_broadcast(&of->wcond);
	pthread_mutex_unlock(&of->wlock);
}

/*
 * close(2): the verification point. Its error reaches the writer (cp
 * reports it); a RELEASE error would be lost.
 */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	int e;

	(void)ino;
	if (!of->w) {
		fuse_reply_err(req, 0);
		return;
	}
	e = writes_drain(of);
	if (e) {
		if (e != EFBIG) /* op_write() said why */
			refusal_set(fs, of->path, strerror(e));
		end_write(fs, of);
		fuse_reply_err(req, e);
		return;
	}
	if (store_fs_commit(of->w, &err) < 0) {
		log_warn("%s: refused: %s", of->path, err.msg);
		refusal_set(fs, of->path, err.msg);
		end_write(fs, of);
		fuse_reply_err(req, err.code == ERR_INVALID ? EBADMSG
		                                            : errno_for(&err));
		return;
	}
	refusal_clear(fs, of->path);
	end_write(fs, of);
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct rfs *fs = fuse_req_userdata(req);

	if (of->w) {
		struct err err = ERR_INIT;

		/* No flush came (rare): commit anyway, logging a refusal. */
		if (writes_drain(of) == 0 && store_fs_commit(of->w, &err) < 0)
			log_debug("%s: %s", of->path, err.msg);
		end_write(fs, of);
		store_fs_writer_free(of->w);
	} else {
		node_release(fs, ino);
	}
	files_del(fs, of);
	open_file_free(of);
	fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	int e;

	if (refuse_read_only(fs, req))
		return;
	e = child_path(fs, parent, name, path);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	if (store_fs_mkdir(fs->st, path, mode, &err) < 0) {
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	op_lookup(req, parent, name);
}

/*
 * unlink(2) and rmdir(2): @rm (named @what in the log) removes @name of
 * @parent. rmdir answers the system's errno first: ENOTEMPTY is what
 * rm -r and rmdir expect to hear.
 */
static void remove_child(fuse_req_t req, fuse_ino_t parent, const char *name,
                         int (*rm)(struct store *st, const char *rel,
                                   struct err *err),
                         const char *what, bool sys_first)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	int e;

	if (refuse_read_only(fs, req))
		return;
	e = child_path(fs, parent, name, path);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	if (rm(fs->st, path, &err) < 0) {
		log_debug("%s %s: %s", what, path, err.msg);
		fuse_reply_err(req, sys_first && err.sys_errno
		                            ? err.sys_errno
		                            : errno_for(&err));
		return;
	}
	pthread_mutex_lock(&fs->lock);
	node_unkey(fs, path);
	pthread_mutex_unlock(&fs->lock);
	refusal_clear(fs, path);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_child(req, parent, name, store_fs_unlink, "rm", false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_child(req, parent, name, store_fs_rmdir, "rmdir", true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
	struct rfs *fs = fuse_req_userdata(req);
	char from[PATH_MAX], to[PATH_MAX];
	struct err err = ERR_INIT;
	int e;

	if (refuse_read_only(fs, req))
		return;
	if (flags) { /* RENAME_NOREPLACE, RENAME_EXCHANGE */
		fuse_reply_err(req, EINVAL);
		return;
	}
	e = child_path(fs, parent, name, from);
	if (!e)
		e = child_path(fs, newparent, newname, to);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	/* The rename is the verification point for a temporary. */
	if (store_fs_rename(fs->st, from, to, &err) < 0) {
		log_warn("mv %s %s: refused: %s", from, to, err.msg);
		if (err.code == ERR_INVALID || err.code == ERR_TOO_LARGE)
			refusal_set(fs, to, err.msg);
		fuse_reply_err(req, err.code == ERR_INVALID ? EBADMSG
		                                            : errno_for(&err));
		return;
	}
	refusal_clear(fs, from);
	refusal_clear(fs, to);
	/* Done in the store: a node left unkeyed is only a new node id. */
	if (node_rename(fs, from, to))
		log_warn("mv %s %s: out of memory for the node table", from,
		         to);
	/*
	 * Both names change meaning: what the kernel keeps of them (the
	 * temporary's size for a pending index.json) goes.
	 */
	on_change(fs, from);
	on_change(fs, to);
	fuse_reply_err(req, 0);
}

/* df: the figures of the file system the storage is on. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	struct statvfs sv;

	(void)ino;
	if (store_fs_statfs(fs->st, &sv, &err) < 0) {
		fuse_reply_err(req, errno_for(&err));
		return;
	}
	fuse_reply_statfs(req, &sv);
}

/* The one extended attribute: a repository's state, for the admin. */
#define STATUS_XATTR "user.dray.status"

/* Answer a getxattr or listxattr that gave room for @size bytes. */
static void reply_xattr(fuse_req_t req, size_t size, const char *data,
                        size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, len);
}

struct refusals_ctx {
	const char *dir; /* the directory asked about */
	FILE *f;         /* its status text */
};

/* Add the refusal of @key, if it is in c->dir, to the status. */
static int refusal_under(const char *key, void *val, void *arg)
{
	struct refusals_ctx *c = arg;
	size_t n = strlen(c->dir);

	if (!strncmp(key, c->dir, n) && key[n] == '/')
		fprintf(c->f, "%s: %s", key + n + 1, (const char *)val);
	return 0;
}

/*
 * The user.dray.status of @path into @out (malloc()ed, @len bytes): a
 * repository's state and the refusals of names in it, or a file's last
 * refusal. ERR_NOT_FOUND when there is nothing to say.
 */
static int status_text(struct rfs *fs, const char *path, char **out,
                       size_t *len, struct err *err)
{
	struct refusals_ctx c = {path, NULL};
	char *text = NULL;
	size_t tlen = 0;
	const char *why;
	int ret = -1;

	if (store_fs_status(fs->st, path, &text, &tlen, err) < 0) {
		if (err->code != ERR_NOT_FOUND)
			return -1;
		*err = ERR_INIT;
		pthread_mutex_lock(&fs->lock);
		why = hmap_get(fs->refused, path);
		*out = why ? strdup(why) : NULL;
		pthread_mutex_unlock(&fs->lock);
		if (!why)
			return err_set(err, ERR_NOT_FOUND, "nothing to say");
		if (!*out)
			return err_set(err, ERR_NOMEM, "out of memory");
		*len = strlen(*out);
		return 0;
	}
	c.f = open_memstream(out, len);
	if (!c.f) {
		free(text);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	fwrite(text, 1, tlen, c.f);
	pthread_mutex_lock(&fs->lock);
	hmap_each(fs->refused, refusal_under, &c);
	pthread_mutex_unlock(&fs->lock);
	if (fclose(c.f) == 0)
		ret = 0;
	else
		err_set(err, ERR_NOMEM, "out of memory");
	free(text);
	return ret;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                        size_t size)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	size_t len = 0;
	char *text;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	if (strcmp(name, STATUS_XATTR) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (status_text(fs, path, &text, &len, &err) < 0) {
		fuse_reply_err(req, err.code == ERR_NOT_FOUND
		                            ? ENODATA
		                            : errno_for(&err));
		return;
	}
	reply_xattr(req, size, text, len);
	free(text);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs *fs = fuse_req_userdata(req);
	char path[PATH_MAX];
	bool refused;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	refused = hmap_get(fs->refused, path) != NULL;
	pthread_mutex_unlock(&fs->lock);
	if (refused || store_fs_is_repo(fs->st, path))
		reply_xattr(req, size, STATUS_XATTR, sizeof(STATUS_XATTR));
	else
		reply_xattr(req, size, "", 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.setattr = op_setattr,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

/* The store's change hook: only queue (it may run under store locks). */
static void on_change(void *arg, const char *rel)
{
	struct rfs *fs = arg;

	pthread_mutex_lock(&fs->qlock);
	if (strvec_push(&fs->queue, rel) == 0)
		pthread_cond_signal(&fs->qcond);
	pthread_mutex_unlock(&fs->qlock);
}

static void invalidate(struct rfs *fs, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];
	struct node *p, *n;
	uint64_t pino = 0, ino = 0;

	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0,
	         rel);
	pthread_mutex_lock(&fs->lock);
	p = *parent ? hmap_get(fs->by_path, parent) : fs->root;
	n = hmap_get(fs->by_path, rel);
	if (p)
		pino = p->ino;
	if (n)
		ino = n->ino;
	pthread_mutex_unlock(&fs->lock);
	/*
	 * Unknown to the kernel: nothing cached to drop (errors ignored).
	 * A blob only ever goes away: dropping its name is enough, and
	 * keeping its inode's attributes lets a reader that has it open
	 * finish (a refreshed getattr would find no file).
	 */
	if (ino && !store_fs_is_blob(rel))
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	if (pino) {
		const char *name = slash ? slash + 1 : rel;

		fuse_lowlevel_notify_inval_entry(fs->se, pino, name,
		                                 strlen(name));
	}
}

/*
 * Invalidations go from this thread, never from a FUSE handler: the
 * kernel may wait on the handler's own request, which would deadlock.
 */
static void *notifier(void *arg)
{
	struct rfs *fs = arg;

	for (;;) {
		struct strvec work;

		pthread_mutex_lock(&fs->qlock);
		while (!fs->queue.n && !fs->qstop)
			pthread_cond_wait(&fs->qcond, &fs->qlock);
		if (fs->qstop) {
			pthread_mutex_unlock(&fs->qlock);
			return NULL;
		}
		work = fs->queue;
		fs->queue = (struct strvec){0};
		pthread_mutex_unlock(&fs->qlock);
		for (size_t i = 0; i < work.n; i++)
			invalidate(fs, work.v[i]);
		strvec_release(&work);
	}
}

static void *loop(void *arg)
{
	struct rfs *fs = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	if (!cfg) {
		log_err("cannot configure the fuse loop");
		return NULL;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 8);
	if (fuse_session_loop_mt(fs->se, cfg) != 0)
		log_debug("fuse loop ended");
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static int free_node(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	node_free(val);
	return 0;
}

static int free_text(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	free(val);
	return 0;
}

static void rfs_free(struct rfs *fs)
{
	if (fs->refused)
		hmap_each(fs->refused, free_text, NULL);
	hmap_free(fs->refused);
	if (fs->by_ino)
		hmap_each(fs->by_ino, free_node, NULL);
	hmap_free(fs->by_ino);
	hmap_free(fs->by_path);
	hmap_free(fs->writing);
	node_free(fs->root);
	pthread_mutex_destroy(&fs->lock);
	strvec_release(&fs->queue);
	pthread_cond_destroy(&fs->qcond);
	pthread_mutex_destroy(&fs->qlock);
	free(fs->mountpoint);
	free(fs);
}

/* Make @mnt usable: created if missing, a stale mount cleared. */
static int prepare_mountpoint(const char *mnt, struct err *err)
{
	struct stat sb;

	if (stat(mnt, &sb) < 0 && errno == ENOTCONN) {
		/* A crashed dray left its mount: detach it. */
		log_warn("clearing the stale mount at '%s'", mnt);
		if (umount2(mnt, MNT_DETACH) < 0)
			return err_set_errno(err, errno,
			                     "cannot clear stale mount '%s'",
			                     mnt);
	}
	return fs_mkdir_p(mnt, 0755, err);
}

struct rfs *rfs_start(struct store *st, const struct rfs_opts *opts,
                      struct err *err)
{
	struct rfs *fs = calloc(1, sizeof(*fs));
	char *argv[4] = {"dray", "-o", NULL, NULL};
	char optstr[128];
	struct fuse_args args;

	if (!fs) {
		err_set(err, ERR_NOMEM, "cannot start the mount");
		return NULL;
	}
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->qlock, NULL);
	pthread_cond_init(&fs->qcond, NULL);
	fs->st = st;
	fs->opts = *opts;
	fs->next_ino = FUSE_ROOT_ID + 1;
	fs->by_path = hmap_new();
	fs->by_ino = hmap_new();
	fs->writing = hmap_new();
	fs->refused = hmap_new();
	fs->root = calloc(1, sizeof(*fs->root));
	if (fs->root) {
		fs->root->fd = -1;
		fs->root->path = strdup("");
	}
	if (!fs->by_path || !fs->by_ino || !fs->writing || !fs->refused ||
	    !fs->root || !fs->root->path) {
		err_set(err, ERR_NOMEM, "cannot start the mount");
		goto fail;
	}
	fs->root->ino = FUSE_ROOT_ID;
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		err_set_errno(err, errno, "FUSE is not available (/dev/fuse)");
		goto fail;
	}
	if (prepare_mountpoint(opts->mountpoint, err) < 0)
		goto fail;
	/* Edits that waited for content when dray stopped wait again. */
	if (store_fs_restore(st, err) < 0)
		goto fail;
	fs->mountpoint = realpath(opts->mountpoint, NULL);
	if (!fs->mountpoint) {
		err_set_errno(err, errno, "cannot resolve '%s'",
		              opts->mountpoint);
		goto fail;
	}
	fs->opts.mountpoint = fs->mountpoint;
	/*
	 * Other users get in only with the kernel checking the modes and
	 * owners shown (the daemon itself could do anything for them).
	 */
	snprintf(optstr, sizeof(optstr), "%sfsname=dray,subtype=dray%s",
	         opts->read_only ? "ro," : "",
	         opts->allow_other ? ",allow_other,default_permissions" : "");
	argv[2] = optstr;
	args = (struct fuse_args)FUSE_ARGS_INIT(3, argv);
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args); /* libfuse may have grown them */
	if (!fs->se) {
		err_set(err, ERR_IO, "cannot create the fuse session");
		goto fail;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
		err_set(err, ERR_IO, "cannot mount at '%s'", fs->mountpoint);
		goto fail;
	}
	if (pthread_create(&fs->thread, NULL, loop, fs) != 0) {
		fuse_session_unmount(fs->se);
		err_set(err, ERR_IO, "cannot start the fuse thread");
		goto fail;
	}
	fs->running = true;
	if (pthread_create(&fs->notifier, NULL, notifier, fs) == 0) {
		fs->notifying = true;
		store_set_watch(st, on_change, fs);
	} else {
		log_warn("no cache invalidation thread: HTTP changes show "
		         "in the mount after %.0f s",
		         META_TTL);
	}
	return fs;
fail:
	if (fs->se)
		fuse_session_destroy(fs->se);
	rfs_free(fs);
	return NULL;
}

void rfs_unmount(struct rfs *fs)
{
	int root;

	if (!fs || fs->unmounted)
		return;
	fs->unmounted = true;
	/*
	 * The notifier first, while the workers still answer: an
	 * invalidation can wait for a request in flight. Changes queued
	 * from now on are dropped with the queue.
	 */
	if (fs->notifying) {
		pthread_mutex_lock(&fs->qlock);
		fs->qstop = true;
		pthread_cond_signal(&fs->qcond);
		pthread_mutex_unlock(&fs->qlock);
		pthread_join(fs->notifier, NULL);
		fs->notifying = false;
	}
	/* A way into the mount that outlives its name, for the wake-up. */
	root = open(fs->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fuse_session_exit(fs->se);
	/* Detached: the mountpoint is a plain directory from here on. */
	fuse_session_unmount(fs->se);
	/*
	 * The workers see the exit only after a request; while a client
	 * holds a file open in the detached mount the connection lives and
	 * none comes. One lookup (never cached: a dot name at the top is
	 * nowhere in the view) ends the loop; once its threads are gone the
	 * connection is closed and any client still in it gets ENOTCONN.
	 */
	if (root >= 0) {
		struct stat sb;

		if (fs->running)
			(void)fstatat(root, ".dray-stop", &sb,
			              AT_SYMLINK_NOFOLLOW);
		close(root);
	}
	if (fs->running)
		pthread_join(fs->thread, NULL);
	fs->running = false;
}

void rfs_stop(struct rfs *fs)
{
	if (!fs)
		return;
	store_set_watch(fs->st, NULL, NULL);
	rfs_unmount(fs);
	fuse_session_destroy(fs->se);
	/* Files the kernel never released (the mount went first). */
	while (fs->files) {
		struct open_file *of = fs->files;

		fs->files = of->next;
		if (of->w) {
			end_write(fs, of);
			store_fs_writer_free(of->w);
		}
		open_file_free(of);
	}
	rfs_free(fs);
}
