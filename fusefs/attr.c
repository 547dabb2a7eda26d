/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attr.c - attributes: what stat(2) shows of a file (the stored
 * file's, or a staged copy being written), getattr, setattr and statfs.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "fusefs/ops_int.h"

/*
 * What the kernel is told of node @nodeid, whose file @sb describes: the
 * stored file's inode number (a file being written, which has none yet,
 * gets one apart from any on disk), and the owner and modes configured.
 */
void show_attr(const struct rfs *fs, struct stat *sb, uint64_t nodeid)
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
int view_stat(struct rfs *fs, const char *path, struct stat *sb,
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
double attr_ttl_for(const struct rfs *fs, const char *path)
{
	double t = store_fs_is_blob(path) ? BLOB_ATTR_TTL : META_TTL;

	return fs->ttl_max && t > fs->ttl_max ? fs->ttl_max : t;
}

double ttl_for(const struct rfs *fs, const char *path)
{
	double t = store_fs_is_blob(path) ? BLOB_TTL : META_TTL;

	return fs->ttl_max && t > fs->ttl_max ? fs->ttl_max : t;
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	fuse_reply_attr(req, &sb, attr_ttl_for(fs, path));
}

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
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi)
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

/* df: the figures of the file system the storage is on. */
void op_statfs(fuse_req_t req, fuse_ino_t ino)
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
