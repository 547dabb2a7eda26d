/* SPDX-License-Identifier: Apache-2.0 */
/*
 * count.c - the mount's figures for the metrics (daemon/opstat.h): each
 * operation the kernel asks for is counted on its way in by a wrapper
 * here, so that one operation calling another inside the mount (mkdir
 * answering with a lookup) counts once; bytes are counted where they
 * move, commits and refusals where close(2) (FLUSH: each close of a file
 * open twice counts) or a rename judges a file. A commit at RELEASE, for
 * a file whose close sent no FLUSH (rare), is not counted.
 */
#include <string.h>

#include "daemon/opstat.h"
#include "fusefs/ops_int.h"

void count_commit(const char *rel, bool ok)
{
	const char *base = strrchr(rel, '/');
	enum opstat_kind kind = OPSTAT_OTHER;

	base = base ? base + 1 : rel;
	if (store_fs_is_blob(rel))
		kind = OPSTAT_BLOB;
	else if (!strcmp(base, "index.json"))
		kind = OPSTAT_INDEX;
	else if (!strcmp(base, "oci-layout"))
		kind = OPSTAT_LAYOUT;
	opstat_mount_commit(kind, ok);
}

void cnt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	opstat_mount_op(OPSTAT_LOOKUP);
	op_lookup(req, parent, name);
}

void cnt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	opstat_mount_op(OPSTAT_GETATTR);
	op_getattr(req, ino, fi);
}

void cnt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	opstat_mount_op(OPSTAT_READDIR);
	op_opendir(req, ino, fi);
}

void cnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	opstat_mount_op(OPSTAT_OPEN);
	op_open(req, ino, fi);
}

void cnt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                mode_t mode, struct fuse_file_info *fi)
{
	opstat_mount_op(OPSTAT_CREATE);
	op_create(req, parent, name, mode, fi);
}

void cnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi)
{
	const struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;

	if (opstat_on()) {
		/* What the reply carries: the kernel asks in whole pages. */
		uint64_t end = atomic_load(&of->size), n = 0;

		if (of->fd >= 0 && (uint64_t)off < end)
			n = end - (uint64_t)off < size ? end - (uint64_t)off
			                               : size;
		opstat_mount_op(OPSTAT_READ);
		opstat_mount_bytes(false, n);
	}
	op_read(req, ino, size, off, fi);
}

void cnt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
               off_t off, struct fuse_file_info *fi)
{
	opstat_mount_op(OPSTAT_WRITE);
	op_write(req, ino, buf, size, off, fi);
}

void cnt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	opstat_mount_op(OPSTAT_MKDIR);
	op_mkdir(req, parent, name, mode);
}

void cnt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	opstat_mount_op(OPSTAT_UNLINK);
	op_unlink(req, parent, name);
}

void cnt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	opstat_mount_op(OPSTAT_RMDIR);
	op_rmdir(req, parent, name);
}

void cnt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	opstat_mount_op(OPSTAT_RENAME);
	op_rename(req, parent, name, newparent, newname, flags);
}
