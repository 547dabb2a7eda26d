/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync_int.h - the upstream client (client.c), private to sync/.
 *
 * One struct upstream per registry URL. It owns a libcurl share (the
 * connection and DNS caches, so sequential and concurrent requests reuse
 * connections) and the bearer tokens it was given, each kept until it
 * expires. Thread-safe.
 */
#ifndef DRAY_SYNC_INT_H
#define DRAY_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/digest.h"
#include "daemon/err.h"
#include "sync/sync.h"

struct upstream;

/* The manifest media types asked of upstream (index/store.h's MT_*). */
#define SYNC_ACCEPT                                               \
	MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST \
			", " MT_DOCKER_LIST

/* Receives the body of a 200 answer, piece by piece; -1 stops it. */
typedef int (*up_sink_fn)(void *arg, const void *buf, size_t len,
                          struct err *err);

/* A body kept in memory (up_sink_mem()), NUL-terminated; free(p). */
struct up_mem {
	char *p;  /* the bytes, or NULL */
	size_t n; /* how many */
};
int up_sink_mem(void *arg, const void *buf, size_t len, struct err *err);

/* What an answer said besides its body. */
struct up_resp {
	long status;                     /* final HTTP status */
	char content_type[256];          /* media type, parameters cut */
	char digest[DIGEST_STR_MAX + 8]; /* Docker-Content-Digest, or "" */
	uint64_t length;                 /* body bytes received */
	char link[1024];                 /* Link header, or "" */
	int64_t expected; /* a 200's Content-Length, -1: none; set before
	                     the sink's first call */
};

/*
 * A client of registry @url (scheme://host[:port], no path), with the
 * TLS, retry and timeout settings of @r and Basic credentials @user and
 * @pass (NULL: anonymous). Each request sent adds one to *@counter.
 * Once *@stop (atomic) is nonzero, transfers under way end with
 * ERR_BUSY and failures are not retried.
 */
struct upstream *up_new(const char *url, const struct sync_registry *r,
                        const char *user, const char *pass, uint64_t *counter,
                        const int *stop, struct err *err);
void up_free(struct upstream *u);
/* The URL it was made with. */
const char *up_url(const struct upstream *u);

/*
 * GET /v2/@repo/@kind/@ref (kind "manifests" or "blobs") with @accept
 * (NULL: none) and hand the body of a 200 to @sink, at most @max bytes
 * (0: no limit). Answers 401 by authenticating as the challenge asks
 * (Basic, or a bearer token from its realm) and retrying once; retries
 * a failed connection or a 5xx up to maxRetries times. Returns 0 on
 * 200, or -1: ERR_NOT_FOUND (404), ERR_DENIED (401/403), ERR_TOO_LARGE
 * (over @max), ERR_IO (transport, other status), or the sink's error.
 */
int up_get(struct upstream *u, const char *repo, const char *kind,
           const char *ref, const char *accept, uint64_t max, up_sink_fn sink,
           void *arg, struct up_resp *resp, struct err *err);

/*
 * HEAD (@head) or GET of @path ("/v2/...", with any query) as up_get()
 * does it, authenticating for repository @repo (the token's scope and
 * cache key; "_catalog" for the catalog). A HEAD hands nothing to @sink.
 * Returns and fails as up_get().
 */
int up_request(struct upstream *u, bool head, const char *path,
               const char *repo, const char *accept, uint64_t max,
               up_sink_fn sink, void *arg, struct up_resp *resp,
               struct err *err);

/*
 * HEAD /v2/@repo/@kind/@ref: as up_get() without a body, with the whole
 * request (connect included) bounded by @timeout_ms and never retried,
 * for a quick check (resp->digest is Docker-Content-Digest, if sent).
 */
int up_head(struct upstream *u, const char *repo, const char *kind,
            const char *ref, const char *accept, uint64_t timeout_ms,
            struct up_resp *resp, struct err *err);

/* One-time process setup of libcurl (idempotent, thread-safe). */
int up_global_init(struct err *err);

/*
 * What periodic.c uses of sync.c. Registry @reg is an index into the
 * configuration's registries, @url into its urls.
 */
struct store *sync_store(struct sync *s);
const struct sync_cfg *sync_config(const struct sync *s);
struct upstream *sync_upstream(struct sync *s, size_t reg, size_t url);
/* @s (NULL: "") without the characters of @set at its ends: *@n from *@b. */
void sync_trim(const char *s, const char *set, const char **b, size_t *n);
/* sync_stop() was called. */
bool sync_stopping(const struct sync *s);
/*
 * Manifest @ref of upstream repository @remote of registry @reg stored in
 * local @repo with what it references, unless it is here already; joins
 * a transfer of the same under way. Fails as sync_manifest().
 */
int sync_ensure_manifest(struct sync *s, size_t reg, const char *repo,
                         const char *remote, const char *ref, struct err *err);

/*
 * The referrers of @dstr in upstream repository @remote of @u, every
 * page of them (Link rel="next" followed), as one JSON object whose
 * "manifests" lists {"digest": ...} for each, into @out (free(p)).
 * Fails as up_request() (ERR_NOT_FOUND: no referrers API), ERR_INVALID
 * (a page that is no list), ERR_NOMEM.
 */
int sync_referrers_pages(struct upstream *u, const char *remote,
                         const char *dstr, struct up_mem *out, struct err *err);

/*
 * What client @u did: requests sent by result (UP_OK: 2xx, UP_NOT_FOUND:
 * 404, UP_DENIED: 401 or 403, UP_ERROR: a transport failure or any
 * other status; a 401 answered by authenticating counts once as
 * denied), and the body bytes received.
 */
enum { UP_OK, UP_NOT_FOUND, UP_DENIED, UP_ERROR, UP_RESULTS };
void up_counts(struct upstream *u, uint64_t results[UP_RESULTS],
               uint64_t *bytes);

/*
 * On-demand fetches (sync_manifest(), sync_blob() and sync_job_run(),
 * sync_referrers()) by kind and result, for the metrics.
 */
enum { SYNC_OD_MANIFEST, SYNC_OD_BLOB, SYNC_OD_REFERRERS, SYNC_OD_KINDS };
enum { SYNC_OD_OK, SYNC_OD_NOT_FOUND, SYNC_OD_ERROR, SYNC_OD_RESULTS };
void sync_ondemand_counts(struct sync *s,
                          uint64_t out[SYNC_OD_KINDS][SYNC_OD_RESULTS]);

#endif
