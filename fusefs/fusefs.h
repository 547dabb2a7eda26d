/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fusefs.h - the storage tree mounted as a directory (libfuse3, low-level
 * API), in the process that serves HTTP. The mount shows the layouts as
 * they are: `ls`, `cat`, `jq`, `sha256sum` and `tar` work on them, and
 * `cp -r` of an OCI layout into it publishes it: each file is a private
 * copy until close() verifies it (index/store.h, "Writing through the
 * mount").
 */
#ifndef DRAY_FUSEFS_H
#define DRAY_FUSEFS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"

struct store;
struct rfs;

struct rfs_opts {
	const char *mountpoint; /* absolute or relative; created if missing */
	bool allow_other;       /* let other users in (allow_other) */
	bool read_only;         /* refuse every change (EROFS) */
	int64_t uid;            /* owner shown, -1: as on disk */
	int64_t gid;            /* group shown, -1: as on disk */
};

/*
 * Mount @st at opts->mountpoint and serve it from threads of its own. A
 * stale mount a crash left there is cleared first. ERR_IO (no /dev/fuse,
 * mount refused), ERR_INVALID (bad mountpoint). @st must outlive it.
 */
MUST_CHECK struct rfs *rfs_start(struct store *st, const struct rfs_opts *opts,
                                 struct err *err);

/*
 * Unmount now (the mountpoint is a plain directory when this returns;
 * clients still inside get ENOTCONN) and end the mount's threads, even
 * while clients hold files open in it. The store's change hook stays
 * valid until rfs_stop(). Accepts NULL; a second call does nothing.
 */
void rfs_unmount(struct rfs *fs);

/* Unmount (if rfs_unmount() has not) and free. Accepts NULL. */
void rfs_stop(struct rfs *fs);

#endif
