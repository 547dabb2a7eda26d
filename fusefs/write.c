/* SPDX-License-Identifier: Apache-2.0 */
/*
 * write.c - files being written: a private copy per open file, write
 * tickets applied in order, and close(2) as the commit.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/opstat.h"
#include "fusefs/ops_int.h"

/* Wait until every write taken is applied; the first error, or 0. */
int writes_drain(struct open_file *of)
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
struct open_file *start_write(struct rfs *fs, const char *path, bool keep,
                              struct err *err)
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

void end_write(struct rfs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->lock);
	if (hmap_get(fs->writing, of->path) == of)
		hmap_del(fs->writing, of->path);
	pthread_mutex_unlock(&fs->lock);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
              off_t off, struct fuse_file_info *fi)
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
	opstat_mount_bytes(true, size);
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
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	bool publishes;
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
		count_commit(of->path, false);
		end_write(fs, of);
		fuse_reply_err(req, e);
		return;
	}
	publishes = store_fs_publishes(of->w);
	if (store_fs_commit(of->w, &err) < 0) {
		log_warn("%s: refused: %s", of->path, err.msg);
		if (publishes)
			mount_audit(req, "mount.publish", of->path, NULL, &err);
		refusal_set(fs, of->path, err.msg);
		count_commit(of->path, false);
		end_write(fs, of);
		fuse_reply_err(req, err.code == ERR_INVALID ? EBADMSG
		                                            : errno_for(&err));
		return;
	}
	refusal_clear(fs, of->path);
	if (publishes)
		mount_audit(req, "mount.publish", of->path, NULL, NULL);
	count_commit(of->path, true);
	end_write(fs, of);
	fuse_reply_err(req, 0);
}

/*
 * fsync(2): the writes answered ahead are waited for and their error, if
 * any, is the answer (as a local file system reports a failed writeback
 * here); then the store makes durable what is the file's already.
 */
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
              struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct err err = ERR_INIT;
	int e;

	(void)ino;
	if (!of->w) { /* read only: nothing of this open file to keep */
		fuse_reply_err(req, 0);
		return;
	}
	e = writes_drain(of);
	if (!e && store_fs_sync(of->w, datasync != 0, &err) < 0) {
		log_warn("%s: %s", of->path, err.msg);
		e = errno_for(&err);
	}
	fuse_reply_err(req, e);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	int e = node_path(fs, ino, path);

	(void)datasync;
	(void)fi;
	if (!e && store_fs_syncdir(fs->st, path, &err) < 0)
		e = errno_for(&err);
	fuse_reply_err(req, e);
}
