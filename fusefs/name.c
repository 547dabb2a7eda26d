/* SPDX-License-Identifier: Apache-2.0 */
/*
 * name.c - the name space: lookup and forget, directory listings,
 * mkdir, unlink, rmdir and rename.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "fusefs/ops_int.h"

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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
	e.entry_timeout = ttl_for(fs, path);
	e.attr_timeout = attr_ttl_for(fs, path);
	if (fuse_reply_entry(req, &e) != 0)
		node_forget(fs, n->ino, 1);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count,
                     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(fuse_req_userdata(req), forgets[i].ino,
		            forgets[i].nlookup);
	fuse_reply_none(req);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirlist *dl = (struct dirlist *)(uintptr_t)fi->fh;

	(void)ino;
	strvec_release(&dl->names);
	free(dl);
	fuse_reply_err(req, 0);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];

	if (!writable_child(fs, req, parent, name, path))
		return;
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

	if (!writable_child(fs, req, parent, name, path))
		return;
	if (rm(fs->st, path, &err) < 0) {
		log_debug("%s %s: %s", what, path, err.msg);
		if (err.code != ERR_NOT_FOUND)
			mount_audit(req, "mount.delete", path, NULL, &err);
		fuse_reply_err(req, sys_first && err.sys_errno
		                            ? err.sys_errno
		                            : errno_for(&err));
		return;
	}
	pthread_mutex_lock(&fs->lock);
	node_unkey(fs, path);
	pthread_mutex_unlock(&fs->lock);
	refusal_clear(fs, path);
	mount_audit(req, "mount.delete", path, NULL, NULL);
	fuse_reply_err(req, 0);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_child(req, parent, name, store_fs_unlink, "rm", false);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_child(req, parent, name, store_fs_rmdir, "rmdir", true);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
               fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct rfs *fs = fuse_req_userdata(req);
	char from[PATH_MAX], to[PATH_MAX];
	struct err err = ERR_INIT;
	int e;

	if (!writable_child(fs, req, parent, name, from))
		return;
	if (flags) { /* RENAME_NOREPLACE, RENAME_EXCHANGE */
		fuse_reply_err(req, EINVAL);
		return;
	}
	e = child_path(fs, newparent, newname, to);
	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	/* The rename is the verification point for a temporary. */
	if (store_fs_rename(fs->st, from, to, &err) < 0) {
		log_warn("mv %s %s: refused: %s", from, to, err.msg);
		mount_audit(req, "mount.rename", to, from, &err);
		if (err.code == ERR_INVALID || err.code == ERR_TOO_LARGE) {
			refusal_set(fs, to, err.msg);
			count_commit(to, false);
		}
		fuse_reply_err(req, err.code == ERR_INVALID ? EBADMSG
		                                            : errno_for(&err));
		return;
	}
	refusal_clear(fs, from);
	refusal_clear(fs, to);
	count_commit(to, true);
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
	mount_audit(req, "mount.rename", to, from, NULL);
	fuse_reply_err(req, 0);
}
