/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - the counters behind extensions.metrics, rendered in the
 * Prometheus text format with zot's metric names, types and labels (zot's
 * pkg/extensions/monitoring), plus dray's own under dray_.
 *
 * Counting is lock-free and allocates nothing once a repository has been
 * seen: request counters live in per-thread shards of relaxed atomics, and
 * repositories in a fixed open-addressing table of METRICS_REPOS_MAX
 * names. Requests for repositories past that bound count under the
 * label repo="_other" (no repository can have that name). All functions
 * are thread-safe; counting functions accept a NULL @m and do nothing.
 */
#ifndef DRAY_METRICS_H
#define DRAY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/err.h"

struct store;
struct metrics;

/* Repositories given series of their own; the rest share "_other". */
#define METRICS_REPOS_MAX 10000
/* The label of repositories past METRICS_REPOS_MAX. */
#define METRICS_REPO_OTHER "_other"

/* What zot_info and dray_build_info say; strings are copied. */
struct metrics_info {
	const char *version;           /* dray's version */
	const char *commit;            /* source commit, or NULL */
	const char *binary_type;       /* the extensions on, "-metrics-mgmt" */
	const char *dist_spec_version; /* distSpecVersion */
	const char *root;              /* storage root, for sizes */
};

/* New, empty counters. ERR_NOMEM. */
MUST_CHECK struct metrics *metrics_new(const struct metrics_info *info,
                                       struct err *err);

/* Accepts NULL. */
void metrics_free(struct metrics *m);

/*
 * One HTTP request completed: @method, its @status, how long it took, and
 * the repository its path names (NULL: none; zot's repo="N/A").
 */
void metrics_request(struct metrics *m, const char *method, unsigned status,
                     uint64_t latency_us, const char *repo);

/* A manifest of @repo was served (zot_repo_downloads_total). */
void metrics_download(struct metrics *m, const char *repo);

/* A manifest was stored in @repo (zot_repo_uploads_total). */
void metrics_upload(struct metrics *m, const char *repo);

/* @repo's content changed: its size is measured again at the next scrape. */
void metrics_repo_changed(struct metrics *m, const char *repo);

/* What one garbage collection pass did. */
struct metrics_gc {
	bool failed;      /* the pass ended in an error */
	uint64_t ms;      /* how long it took */
	size_t manifests; /* manifests removed */
	size_t blobs;     /* repository blobs removed */
	size_t uploads;   /* upload sessions dropped */
	uint64_t bytes;   /* bytes freed */
};

void metrics_gc_pass(struct metrics *m, const struct metrics_gc *gc);

/*
 * Background task @name (a string that lives as long as @m) ran for @ms
 * (zot_scheduler_workers_tasks_duration_seconds). Up to 8 names.
 */
void metrics_task(struct metrics *m, const char *name, uint64_t ms);

/*
 * The exposition, in a new buffer for free(): every counter, the sizes of
 * repositories that changed since the last call (measured now, from the
 * layouts under the storage root), and, when @st is not NULL, on the first
 * call the sizes of all repositories @st lists, and @inflight (requests
 * being served). ERR_NOMEM.
 */
MUST_CHECK int metrics_render(struct metrics *m, struct store *st, int inflight,
                              char **out, size_t *len, struct err *err);

/* The authentication methods on, as zot's mgmt answer shows them. */
struct mgmt_auth {
	bool htpasswd;              /* http.auth.htpasswd */
	bool ldap;                  /* http.auth.ldap */
	bool apikey;                /* http.auth.apikey */
	const char *bearer_realm;   /* http.auth.bearer's realm, NULL: off */
	const char *bearer_service; /* and its service */
};

/*
 * The JSON zot's mgmt extension answers (its StrippedConfig): for
 * free(), or NULL when memory is short. "http": {"auth": ...} lists the
 * methods of @auth (NULL: none) as zot does: "htpasswd": {} for any
 * Basic login against a password (htpasswd or LDAP; zot never names its
 * LDAP server), "bearer": {"realm", "service"}, "apikey": true; without
 * any, "http" is {}.
 */
char *metrics_mgmt_json(const struct metrics_info *info,
                        const struct mgmt_auth *auth);

/*
 * Series of a module above http/ (the events queue): @fn writes whole
 * families to @f at the end of each exposition, called one render at a
 * time. Set before the server starts; NULL: none.
 */
void metrics_set_extra(struct metrics *m, void (*fn)(FILE *f, void *arg),
                       void *arg);

/*
 * Another such writer (@fn with @arg), after the one metrics_set_extra()
 * set; up to METRICS_MORE_MAX, each called in the order added. Before
 * the server starts. ERR_INVALID past the limit.
 */
#define METRICS_MORE_MAX 4
MUST_CHECK int metrics_add_extra(struct metrics *m,
                                 void (*fn)(FILE *f, void *arg), void *arg,
                                 struct err *err);

#endif
