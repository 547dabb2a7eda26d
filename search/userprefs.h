/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userprefs.h - the users' starred and bookmarked repositories (zot's
 * userprefs extension: StarredRepos, BookmarkedRepos, IsStarred,
 * IsBookmarked, StarCount).
 *
 * Kept in the tree, not in the index, so that they survive restarts and
 * index rebuilds and are shared by every node of a shared tree: one file
 * per user, <root>/.dray/userprefs/<escaped user>.json, holding
 * {"starred": [...], "bookmarked": [...]}. A toggle is serialized per
 * user (a mutex here, an OFD lock on a byte of .dray/userprefs/lock
 * across nodes), reads the file again under the lock and replaces it
 * whole (temporary file, fsync, rename, fsync of the directory).
 *
 * Every user's lists are held in memory (at most opts.max_users users),
 * with a star count per repository built from them; reads re-check the
 * directory at most every opts.recheck_ms (a stat of it; when it changed,
 * a stat per file and a read of the changed ones), so a change made by
 * another node shows here within that time, star counts included. (A
 * file changed in place rather than renamed, by hand, shows within a
 * minute.) A repository that is deleted keeps
 * its stars and bookmarks (as in zot): the search API leaves out what
 * no longer exists, and they show again if it comes back.
 * Thread-safe: one struct userprefs serves every request.
 */
#ifndef DRAY_USERPREFS_H
#define DRAY_USERPREFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/err.h"

struct userprefs; /* opaque */

enum userprefs_kind {
	USERPREFS_STAR,     /* zot's toggleStar: StarredRepos */
	USERPREFS_BOOKMARK, /* zot's toggleBookmark: BookmarkedRepos */
};

/* The bounds; 0 in a size means its default. */
struct userprefs_opts {
	size_t max_users; /* users with preferences, default 4096 */
	size_t max_repos; /* repositories per list and user, default 1000 */
	size_t max_file;  /* bytes of one user's file, default 256 KiB */
	/* Longest a read trusts what it holds, in ms (0: re-check at every
	   read); userprefs_open() with NULL options: 1000. */
	uint64_t recheck_ms;
};

/*
 * The preferences kept under @root (a registry tree; .dray/userprefs is
 * created if missing), with @opts (NULL: defaults). Files that cannot be
 * read or parsed are left out until they can. NULL with ERR_IO or
 * ERR_NOMEM.
 */
MUST_CHECK struct userprefs *userprefs_open(const char *root,
                                            const struct userprefs_opts *opts,
                                            struct err *err);

/* Release @up. Accepts NULL. */
void userprefs_close(struct userprefs *up);

/*
 * Star or bookmark @repo for @user if it is not, or undo it if it is;
 * *@on (may be NULL) tells which. The caller checks that @user may read
 * @repo and that it exists. ERR_INVALID (empty user or repository),
 * ERR_TOO_LARGE (a bound of the options: the message names it),
 * ERR_IO (cannot write; also the user's file is damaged: it is not
 * overwritten), ERR_NOMEM.
 */
MUST_CHECK int userprefs_toggle(struct userprefs *up, const char *user,
                                enum userprefs_kind kind, const char *repo,
                                bool *on, struct err *err);

/*
 * The repositories @user starred or bookmarked, sorted by name: a new
 * JSON array of strings (empty for an anonymous @user, NULL). NULL with
 * ERR_NOMEM.
 */
MUST_CHECK json_t *userprefs_list(struct userprefs *up, const char *user,
                                  enum userprefs_kind kind, struct err *err);

/* Has @user (NULL: anonymous, never) starred or bookmarked @repo? */
bool userprefs_has(struct userprefs *up, const char *user,
                   enum userprefs_kind kind, const char *repo);

/* How many users starred @repo. */
uint64_t userprefs_stars(struct userprefs *up, const char *repo);

/*
 * Set zot's RepoSummary fields StarCount, IsStarred and IsBookmarked of
 * @summary (an object) for @repo as @user (NULL: anonymous) sees it.
 * Returns 0, or -1 when out of memory (then @summary is unchanged).
 */
MUST_CHECK int userprefs_summary(struct userprefs *up, const char *user,
                                 const char *repo, json_t *summary);

#endif
