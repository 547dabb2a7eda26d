/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil.h - the few file operations that crash safety rests on.
 *
 * A file enters its final place only complete and durable: written to a
 * temporary name, fsynced, renamed (or linked), and the directory fsynced.
 */
#ifndef DRAY_FSUTIL_H
#define DRAY_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/err.h"

/* Create @path and missing parents with @mode. ERR_IO, ERR_EXISTS (a file). */
MUST_CHECK int fs_mkdir_p(const char *path, mode_t mode, struct err *err);

/* fsync the directory @path. ERR_IO. */
MUST_CHECK int fs_fsync_dir(const char *path, struct err *err);

/* fsync the directory that contains @path. ERR_IO. */
MUST_CHECK int fs_fsync_parent(const char *path, struct err *err);

/*
 * Atomically replace @path with @len bytes of @buf: write a temporary file
 * in @tmpdir (same file system), fsync, rename over @path, fsync @path's
 * directory. On failure @path is unchanged and the temporary is removed.
 */
MUST_CHECK int fs_write_atomic(const char *tmpdir, const char *path,
                               const void *buf, size_t len, struct err *err);

/*
 * Write @len bytes of @buf to a new temporary file in @tmpdir, fsynced;
 * its path goes to @out (PATH_MAX). The caller links or renames it.
 */
MUST_CHECK int fs_write_temp(const char *tmpdir, const void *buf, size_t len,
                             char *out, struct err *err);

/* Write all of @buf to @fd. ERR_IO. */
MUST_CHECK int fs_write_all(int fd, const void *buf, size_t len,
                            struct err *err);

/* Write all of @buf to @fd at offset @off (pwrite). ERR_IO. */
MUST_CHECK int fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off,
                             struct err *err);

/*
 * Read the whole file @path into a new NUL-terminated buffer (*out, freed
 * with free()), at most @max bytes. ERR_NOT_FOUND, ERR_TOO_LARGE, ERR_IO;
 * ERR_INVALID, at once, if @path is not a regular file (a FIFO, a device).
 */
MUST_CHECK int fs_read_file(const char *path, size_t max, char **out,
                            size_t *len, struct err *err);

/*
 * Copy the file @src to a new temporary file in @tmpdir, fsynced; its
 * path is written to @out (PATH_MAX). The caller links or renames it and
 * removes it. ERR_IO, ERR_NOT_FOUND.
 */
MUST_CHECK int fs_copy_to_temp(const char *src, const char *tmpdir,
                               char *out, struct err *err);

/* Remove the tree @path (like rm -rf). Missing is fine. ERR_IO. */
MUST_CHECK int fs_remove_tree(const char *path, struct err *err);

#endif
