/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload_io.c - the writer of upload staging files. Where the file
 * system allows it the file is written with O_DIRECT, in aligned 1 MiB
 * blocks gathered in memory: the data goes to the disk as it comes,
 * without a copy into the page cache, so the fsync at commit has almost
 * nothing left to write (on the machines we measured, buffered writes
 * plus fsync ran at a sixth of the speed). A full block is written by
 * Linux AIO while the next one fills, so the disk and the hashing overlap.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "daemon/fsutil.h"
#include "index/store_int.h"

/* An AIO context from the pool or a new one; 0 if none can be had. */
static aio_context_t aio_get(struct store *st)
{
	aio_context_t ctx = 0;

	pthread_mutex_lock(&st->aio_lock);
	if (st->aio_n)
		ctx = st->aio_pool[--st->aio_n];
	pthread_mutex_unlock(&st->aio_lock);
	if (!ctx && syscall(SYS_io_setup, 1, &ctx) < 0)
		ctx = 0;
	return ctx;
}

/* Give back @ctx, which has nothing in flight. */
void aio_put(struct store *st, aio_context_t ctx)
{
	pthread_mutex_lock(&st->aio_lock);
	if (st->aio_n < STORE_AIO_POOL) {
		st->aio_pool[st->aio_n++] = ctx;
		ctx = 0;
	}
	pthread_mutex_unlock(&st->aio_lock);
	if (ctx)
		syscall(SYS_io_destroy, ctx);
}

void blob_aio_drain(struct store *st)
{
	while (st->aio_n)
		syscall(SYS_io_destroy, st->aio_pool[--st->aio_n]);
}

/* Take O_DIRECT off @u's file: from here on it goes through the cache. */
static int direct_off(struct upload *u)
{
	int fl = fcntl(u->fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(u->fd, F_SETFL, fl & ~O_DIRECT);
}

/*
 * Write @b (a whole block) at @off in place; a file system that took
 * O_DIRECT at open but refuses it for writes gets the page cache.
 */
static int block_write(struct upload *u, const unsigned char *b, uint64_t off,
                       struct err *err)
{
	if (fs_pwrite_all(u->fd, b, UPLOAD_BLOCK, off, err) == 0)
		return 0;
	if (err->sys_errno == EINVAL && direct_off(u) == 0) {
		*err = ERR_INIT;
		if (fs_pwrite_all(u->fd, b, UPLOAD_BLOCK, off, err) == 0)
			return 0;
	}
	u->werr = err->sys_errno ? err->sys_errno : EIO;
	return -1;
}

/* Wait for the block in flight, if any; a failed one is kept in werr. */
int aio_reap(struct upload *u, struct err *err)
{
	const unsigned char *b = u->blocks + (u->cur ^ 1) * UPLOAD_BLOCK;
	struct io_event ev;
	long n;

	if (!u->inflight)
		return 0;
	do
		n = syscall(SYS_io_getevents, u->aio, 1L, 1L, &ev, NULL);
	while (n < 0 && errno == EINTR);
	u->inflight = false;
	if (n != 1) {
		u->aio_lost = true;
		u->werr = n < 0 ? errno : EIO;
	} else if (ev.res == -EINVAL) {
		return block_write(u, b, u->inflight_off, err);
	} else if (ev.res != (int64_t)UPLOAD_BLOCK) {
		u->werr = ev.res < 0 ? (int)-ev.res : EIO;
	}
	if (u->werr)
		return err_set_errno(err, u->werr, "cannot write upload");
	return 0;
}

/*
 * Write what the block holds and leave direct mode, so that the file on
 * disk is all that was received: before a commit, a rehash or a write
 * out of order. What follows goes through the page cache.
 */
int upload_settle(struct upload *u, struct err *err)
{
	if (u->werr) /* a block is missing from the file */
		return err_set_errno(err, u->werr, "cannot write upload");
	if (!u->direct)
		return 0;
	if (aio_reap(u, err) < 0)
		return -1;
	if (direct_off(u) < 0 ||
	    (u->grown && ftruncate(u->fd, (off_t)u->offset) < 0)) {
		u->werr = errno;
		return err_set_errno(err, errno, "cannot write upload");
	}
	if (u->held && fs_pwrite_all(u->fd, u->blocks + u->cur * UPLOAD_BLOCK,
	                             u->held, u->offset - u->held, err) < 0) {
		u->werr = err->sys_errno ? err->sys_errno : EIO;
		return -1;
	}
	u->direct = false;
	u->held = 0;
	u->flushed = u->offset;
	free(u->blocks);
	u->blocks = NULL;
	return 0;
}

/* Send the full block to the disk and start filling the other one. */
static int block_out(struct upload *u, struct err *err)
{
	unsigned char *b = u->blocks + u->cur * UPLOAD_BLOCK;
	struct iocb cb = {
		.aio_fildes = (uint32_t)u->fd,
		.aio_lio_opcode = IOCB_CMD_PWRITE,
		.aio_buf = (uint64_t)(uintptr_t)b,
		.aio_nbytes = UPLOAD_BLOCK,
		.aio_offset = (int64_t)(u->offset - UPLOAD_BLOCK),
	};
	struct iocb *list[1] = {&cb};
	long n;

	/* Without an AIO context (aio-max-nr reached) blocks are in place. */
	if (!u->aio && !u->grown)
		u->aio = aio_get(u->st);
	if (u->aio && aio_reap(u, err) < 0)
		return -1;
	if (u->aio && u->offset > u->grown) {
		if (ftruncate(u->fd, (off_t)(u->offset + UPLOAD_GROW)) == 0)
			u->grown = u->offset + UPLOAD_GROW;
	}
	/* Not taken (EAGAIN included): written in place instead. */
	n = u->aio ? syscall(SYS_io_submit, u->aio, 1L, list) : 0;
	if (n != 1) {
		if (block_write(u, b, (uint64_t)cb.aio_offset, err) < 0)
			return -1;
	} else {
		u->inflight = true;
		u->inflight_off = (uint64_t)cb.aio_offset;
		u->cur ^= 1;
	}
	u->held = 0;
	return 0;
}

/* Gather @len bytes into the blocks, sending each out as it fills. */
int append_direct(struct upload *u, const unsigned char *buf, size_t len,
                  struct err *err)
{
	if (!u->blocks) {
		void *p;

		if (posix_memalign(&p, UPLOAD_ALIGN, 2 * UPLOAD_BLOCK) != 0)
			return err_set(err, ERR_NOMEM, "cannot buffer upload");
		u->blocks = p;
	}
	while (len) {
		size_t n = UPLOAD_BLOCK - u->held;

		/* Nothing of this call is taken before the block has room. */
		if (!n) {
			if (block_out(u, err) < 0)
				return -1;
			n = UPLOAD_BLOCK;
		}
		n = n < len ? n : len;
		memcpy(u->blocks + u->cur * UPLOAD_BLOCK + u->held, buf, n);
		hasher_update(u->sha256, buf, n);
		u->held += n;
		u->offset += n;
		buf += n;
		len -= n;
	}
	return 0;
}
