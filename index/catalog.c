/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - the repository list on a tree several nodes share. Each
 * node's list lives in its own RocksDB index, and nothing tells it what
 * the others create or withdraw: a node that does either rewrites the
 * marker <root>/.dray/repos.changed (a new file by rename, so its inode
 * changes), and store_catalog() stats it at most once per recheck
 * interval, asking for a background reconcile when it changed. One round
 * trip per interval for the whole catalog, and a walk of the tree only
 * after a change.
 */
#define LOG_MODULE "store"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "index/store_int.h"

static int marker_path(const struct store *st, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/.dray/repos.changed", st->root);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

void catalog_changed(struct store *st)
{
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	if (!st->shared || marker_path(st, path, sizeof(path)) < 0)
		return;
	/* Not fatal: the other nodes' periodic reconcile sees it later. */
	if (fs_write_atomic(st->tmpdir, path, "1\n", 2, &err) < 0)
		log_warn("other nodes not told of a new repository: %s",
		         err.msg);
}

int catalog_recheck(struct store *st)
{
	uint64_t now = clock_mono_ms(), seen = 0;
	char path[PATH_MAX];
	struct stat sb;
	int changed;

	if (!st->shared)
		return 0;
	pthread_mutex_lock(&st->rc_lock);
	if (st->cat_checked_ms &&
	    now - st->cat_checked_ms < st->opts.recheck_ms) {
		pthread_mutex_unlock(&st->rc_lock);
		return -1;
	}
	st->cat_checked_ms = now;
	pthread_mutex_unlock(&st->rc_lock);
	if (marker_path(st, path, sizeof(path)) == 0 && stat(path, &sb) == 0)
		seen = (uint64_t)sb.st_ino * 1000003u ^
		       clock_ts_ns(&sb.st_mtim);
	pthread_mutex_lock(&st->rc_lock);
	changed = seen != st->cat_seen;
	st->cat_seen = seen;
	/* reconcile_if_root_changed() then asks for a reconcile. */
	if (changed)
		st->root_mtime_ns = 0;
	pthread_mutex_unlock(&st->rc_lock);
	return changed;
}
