/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c - open files: open, create, read (spliced from the layout
 * file) and release.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/opstat.h"
#include "fusefs/ops_int.h"

struct open_file *open_file_new(const char *path)
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

void open_file_free(struct open_file *of)
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

static bool wants_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
		if (opstat_on()) { /* reads are counted up to its end */
			struct stat sb;

			if (fstat(of->fd, &sb) == 0)
				atomic_store(&of->size, (uint64_t)sb.st_size);
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

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e = {0};
	struct err err = ERR_INIT;
	struct open_file *of;
	char path[PATH_MAX];
	struct node *n;

	(void)mode;
	if (!writable_child(fs, req, parent, name, path))
		return;
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

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct rfs *fs = fuse_req_userdata(req);

	if (of->w) {
		struct err err = ERR_INIT;

		/* No flush came (rare): commit anyway, logging a refusal. */
		if (writes_drain(of) == 0) {
			bool publishes = store_fs_publishes(of->w);

			if (store_fs_commit(of->w, &err) < 0)
				log_debug("%s: %s", of->path, err.msg);
			if (publishes)
				mount_audit(req, "mount.publish", of->path,
				            NULL, &err);
		}
		end_write(fs, of);
		store_fs_writer_free(of->w);
	} else {
		node_release(fs, ino);
	}
	files_del(fs, of);
	open_file_free(of);
	fuse_reply_err(req, 0);
}
