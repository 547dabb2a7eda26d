/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.h - zot's sync extension: pull-through from upstream registries.
 *
 * daemon/config.c fills struct sync_cfg from extensions.sync (zot's schema;
 * index/ never sees it). sync_new() loads the credentials file and
 * compiles the content filters; http/ then asks sync_manifest() or
 * sync_blob() when a manifest or blob of a repository that a registry's
 * content maps is not here, sync_recheck() when a tag here is due for a
 * check upstream, and sync_referrers() before answering referrers. What comes
 * from upstream enters the store through the same commit paths as a push: blobs
 * through an upload session (every byte hashed, kept only when it hashes to its
 * digest), manifests through store_manifest_put() after their blobs. Concurrent
 * requests for the same missing thing share one upstream transfer. A
 * client's manifest miss is answered from the verified upstream bytes
 * before the blobs are here (sync_manifest_early()); the manifest is
 * stored once they are.
 *
 * All functions are thread-safe, except where their comment says not.
 * Mirroring (periodic.c, below) lists what upstream has and brings every
 * tag the content filters let through by the same on-demand machinery.
 */
#ifndef DRAY_SYNC_H
#define DRAY_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/digest.h"
#include "daemon/err.h"

struct store;
struct sync;

/* extensions.sync.registries[].content[] */
struct sync_content {
	char *prefix;       /* prefix: an upstream repository glob */
	char *tags_regex;   /* tags.regex (POSIX ERE), or NULL */
	char *tags_exclude; /* tags.excludeRegex, or NULL */
	bool tags_semver;   /* tags.semver: only semantic versions */
	char *destination;  /* destination: local namespace, or NULL */
	bool strip_prefix;  /* stripPrefix */
};

/* extensions.sync.registries[] */
struct sync_registry {
	char **urls;                  /* urls: tried in order */
	size_t n_urls;                /* how many */
	bool on_demand;               /* onDemand */
	uint64_t poll_interval_ms;    /* pollInterval (not run yet) */
	bool tls_verify;              /* tlsVerify, default true */
	char *cert_dir;               /* certDir: ca.crt, client.cert/key */
	uint64_t max_retries;         /* maxRetries, default 0 */
	uint64_t retry_delay_ms;      /* retryDelay */
	bool only_signed;             /* onlySigned: mirror runs bring only
	                                 signed images (refused with
	                                 onDemand) */
	bool preserve_digest;         /* preserveDigest (always so here) */
	uint64_t sync_timeout_ms;     /* syncTimeout: whole transfer, 0: none */
	struct sync_content *content; /* content; none: every repository */
	size_t n_content;             /* how many */
	uint64_t tag_recheck_ms;      /* tagRecheckInterval (dray's own):
	                                 SYNC_TAG_RECHECK_DEF_MS, 0: never */
};

/* tagRecheckInterval when not set: 5 minutes. */
#define SYNC_TAG_RECHECK_DEF_MS (5 * 60 * 1000)

/* extensions.sync */
struct sync_cfg {
	bool enable;                      /* enable; default true with the
	                                     section, as in zot */
	char *credentials_file;           /* credentialsFile, or NULL */
	char *download_dir;               /* downloadDir (unused locally) */
	struct sync_registry *registries; /* registries */
	size_t n_registries;              /* how many */
};

/* Free what @c holds (not @c). Accepts a zeroed struct. */
void sync_cfg_release(struct sync_cfg *c);

/*
 * Check what the configuration refers to: the credentials file reads as
 * JSON host[:port] -> {username, password}, every regex compiles, every
 * URL is http:// or https://. 0, or -1 with ERR_INVALID, ERR_NOT_FOUND or
 * ERR_IO (the credentials file), ERR_UNSUPPORTED (onlySigned with
 * onDemand).
 */
MUST_CHECK int sync_cfg_check(const struct sync_cfg *c, struct err *err);

/*
 * Start syncing into @st as @c says (@c and @st must outlive the result).
 * NULL with the errors of sync_cfg_check(), or ERR_NOMEM.
 */
MUST_CHECK struct sync *sync_new(const struct sync_cfg *c, struct store *st,
                                 struct err *err);

/*
 * Shutting down: transfers under way end now (their callers get
 * ERR_BUSY), failures are no longer retried. Accepts NULL.
 */
void sync_stop(struct sync *s);
/* Release @s; no call may be running. Accepts NULL. */
void sync_free(struct sync *s);

/* True if some onDemand registry's content maps local repository @repo. */
bool sync_wants(const struct sync *s, const char *repo);

/*
 * Bring manifest @ref (a tag or a digest) of local repository @repo here
 * from the first upstream that has it, with everything it references
 * (blobs; an index's manifests). Returns 0 once it is stored. ERR_NOT_FOUND
 * (no upstream has it, or content filters leave it out), ERR_INVALID
 * (the upstream's bytes do not match their digest, or are no manifest),
 * ERR_TOO_LARGE (over the manifest cap), ERR_IO (no upstream answered),
 * ERR_DENIED (upstream refused the credentials), ERR_BUSY (too many
 * transfers at once). On failure nothing new is visible.
 */
MUST_CHECK int sync_manifest(struct sync *s, const char *repo, const char *ref,
                             struct err *err);

/*
 * A manifest miss answered before its blobs are here. As sync_manifest(),
 * but once the manifest is fetched and verified, its bytes are kept in
 * memory as pending and a background thread brings what it references
 * (the blobs' transfers are the ones sync_follow() and sync_blob() join)
 * and then stores it, with its tag: until then, nothing of it is in the
 * repository's index.json; if anything fails, nothing is stored and the
 * pending copy goes (the next request fetches again). Returns 1 with
 * *@out a copy of the pending manifest, 0 when it is stored (read it
 * from the store), or -1 as sync_manifest(). With SYNC_PENDING_MAX
 * manifests pending (or their bytes over the cap), or while stopping,
 * it stores first, as sync_manifest() does. sync_stop() ends the
 * background transfers (nothing is stored); sync_free() waits for the
 * threads.
 */
#define SYNC_MT_MAX 256
struct sync_manifest_copy {
	char *body;                   /* its bytes, NUL-terminated: free() */
	size_t len;                   /* how many */
	char media_type[SYNC_MT_MAX]; /* the upstream's, as it is stored */
	struct digest digest;         /* Docker-Content-Digest */
};
MUST_CHECK int sync_manifest_early(struct sync *s, const char *repo,
                                   const char *ref,
                                   struct sync_manifest_copy *out,
                                   struct err *err);

/*
 * Is manifest @ref (a tag or a digest) of @repo pending? 1 with *@out a
 * copy, 0 when not, -1 with ERR_NOMEM. Never asks upstream.
 */
MUST_CHECK int sync_pending_get(struct sync *s, const char *repo,
                                const char *ref, struct sync_manifest_copy *out,
                                struct err *err);

/* The same for blob @d of @repo. */
MUST_CHECK int sync_blob(struct sync *s, const char *repo,
                         const struct digest *d, struct err *err);

/*
 * Re-checking a mirrored tag. True if tag @tag of local repository @repo
 * is due for a check upstream: an onDemand registry maps it (the first
 * one's tagRecheckInterval counts; 0: never) and it was not checked
 * within that interval. When true, the tag counts as checked from now
 * on, so concurrent requests do not check it too; the caller then calls
 * sync_recheck(). The check times are kept in memory, for the
 * SYNC_CHECKS_MAX (repository, tag) pairs checked last.
 */
bool sync_recheck_due(struct sync *s, const char *repo, const char *tag);

/*
 * Ask the upstream which manifest tag @tag of @repo names now (a HEAD,
 * bounded by SYNC_CHECK_TIMEOUT_MS); if it is not the one here, fetch it
 * as sync_manifest() does and move the tag. Never fails the caller: an
 * upstream that is down, slow, refuses or lacks the tag leaves the tag
 * as it is, and is logged once (until a check of the tag succeeds).
 */
void sync_recheck(struct sync *s, const char *repo, const char *tag);

/*
 * Referrers on demand. True if the upstream should be asked for the
 * referrers of @subject in @repo: an onDemand registry maps @repo, and
 * nothing here refers to @subject, or the first such registry's
 * tagRecheckInterval has passed since it was last asked (counted as
 * sync_recheck_due() counts tags, in the same bounded map).
 */
bool sync_referrers_due(struct sync *s, const char *repo,
                        const struct digest *subject);

/*
 * Ask the upstreams that map @repo for the referrers of @subject (the
 * referrers API, every page) and bring each manifest listed here, with
 * its blobs, as sync_manifest() does. An upstream without the API (404)
 * has none. Returns 0, or -1 with the first failure (the errors of
 * sync_manifest()); what was brought before a failure stays. Failures
 * are logged once, as sync_recheck() logs them.
 */
MUST_CHECK int sync_referrers(struct sync *s, const char *repo,
                              const struct digest *subject, struct err *err);

#define SYNC_CHECKS_MAX       4096 /* (repository, tag) check times kept */
#define SYNC_CHECK_TIMEOUT_MS 3000 /* a tag check's HEAD, connect included */

/*
 * Streaming a blob to clients while it arrives.
 *
 * sync_follow() attaches a reader to the transfer of blob @d of @repo
 * under way (the one sync_blob() or a manifest's fetch runs), or starts
 * one: then *@job is set and the caller runs it with sync_job_run() on a
 * thread that may block (or sync_job_cancel() if it never will). NULL
 * with ERR_BUSY (too many transfers) or ERR_NOMEM.
 *
 * sync_follow_poll(@f, @pos, @v) says what the reader may do once it has
 * sent @pos bytes: SYNC_READY: bytes @pos .. v->readable of v->fd
 * (v->size in all, the upstream's Content-Length; a stream never gets
 * its last byte before the blob is verified and stored); SYNC_WAIT:
 * nothing new, and @park(@arg) was called: @wake(@arg) follows once
 * there is (about every SYNC_WAKE_BYTES, and at the end); SYNC_STORED:
 * the transfer ended before this reader began (or the blob is too small
 * to stream), the blob is stored (read it from the store); SYNC_FAILED:
 * the transfer failed (@v->err says why); a reader that had begun must
 * cut its response. @park and @wake run under the module's lock and must
 * not call into it. sync_follow_free() detaches the reader (never while
 * parked).
 */
#define SYNC_WAKE_BYTES (64u << 10)
/*
 * Blobs up to this size are not streamed (their followers get
 * SYNC_STORED or SYNC_FAILED): little time to gain, and a clear error
 * rather than a cut response when upstream sends wrong bytes.
 */
#define SYNC_STREAM_MIN (1u << 20)
struct sync_follow;
struct sync_job;
typedef void (*sync_wake_fn)(void *arg);
enum sync_follow_state { SYNC_READY, SYNC_WAIT, SYNC_STORED, SYNC_FAILED };
struct sync_view {
	int fd;            /* the staging file (the reader's own), or -1 */
	uint64_t size;     /* the blob's size */
	uint64_t readable; /* bytes that may be sent */
	struct err err;    /* SYNC_FAILED: why */
};
MUST_CHECK struct sync_follow *sync_follow(struct sync *s, const char *repo,
                                           const struct digest *d,
                                           sync_wake_fn park, sync_wake_fn wake,
                                           void *arg, struct sync_job **job,
                                           struct err *err);
enum sync_follow_state sync_follow_poll(struct sync_follow *f, uint64_t pos,
                                        struct sync_view *v);
void sync_follow_free(struct sync_follow *f);
/* Run @job (the transfer), then free it: 0 or -1 as sync_blob(). */
int sync_job_run(struct sync_job *job, struct err *err);
/* @job will not run: its readers fail with ERR_BUSY. Frees @job. */
void sync_job_cancel(struct sync_job *job);

/* What the module has done since sync_new(), for tests and metrics. */
struct sync_stats {
	uint64_t upstream_requests; /* HTTP requests sent upstream */
	uint64_t manifests;         /* manifests stored */
	uint64_t blobs;             /* blobs stored */
	uint64_t shared;            /* requests that joined a transfer */
};
void sync_stats(struct sync *s, struct sync_stats *out);

/*
 * Pure helpers, public for the tests.
 *
 * The upstream repository that local @repo comes from under @c (zot's
 * destination/stripPrefix rules), written to @out; false if @c does not
 * map @repo (or the result does not fit). @c NULL maps every name to
 * itself.
 */
bool sync_map_local(const struct sync_content *c, const char *repo, char *out,
                    size_t size);

/* Would @c let tag @tag through (regex, excludeRegex, semver)? */
bool sync_tag_allowed(const struct sync_content *c, const char *tag);

/* A semantic version as zot's semver filter takes it: [v]1[.2[.3]][-p][+m]. */
bool sync_is_semver(const char *tag);

/* A WWW-Authenticate challenge, parsed. */
struct sync_challenge {
	enum { SYNC_AUTH_NONE, SYNC_AUTH_BASIC, SYNC_AUTH_BEARER } scheme;
	char realm[512];   /* realm parameter ("" if none) */
	char service[256]; /* service parameter (bearer) */
	char scope[512];   /* scope parameter (bearer) */
};

/*
 * Parse header value @hdr (RFC 7235: scheme, then comma-separated
 * name=value or name="quoted" parameters). 0, or -1 with ERR_INVALID
 * for a malformed or unknown challenge or a value too long to keep.
 */
MUST_CHECK int sync_challenge_parse(const char *hdr, struct sync_challenge *out,
                                    struct err *err);

/*
 * Mirroring (periodic.c): a run lists each registry's catalog
 * (GET /v2/_catalog, following Link rel="next"), keeps the repositories
 * a content entry matches (all, without content), maps each to its local
 * name (destination, stripPrefix), and brings each tag the filters let
 * through whose upstream digest (HEAD, Docker-Content-Digest) is not the
 * local tag's, with everything it references and its referrers
 * (GET /v2/<name>/referrers/<digest>; a 404 means the upstream has no
 * referrers API, which is then not asked again in the run). What is here
 * with the same digest is not transferred again. One repository, one tag
 * at a time; a failure is logged and counted and the run goes on.
 */
struct sync_mirror;

/* What mirror runs did. */
struct sync_run_stats {
	uint64_t runs;             /* runs finished */
	uint64_t repos;            /* upstream repositories mirrored */
	uint64_t repos_failed;     /* catalogs or tag lists not read */
	uint64_t tags_mirrored;    /* tags brought here or moved */
	uint64_t tags_skipped;     /* here already with upstream's digest */
	uint64_t tags_failed;      /* tags that could not be mirrored */
	uint64_t referrers;        /* referrer manifests stored */
	uint64_t referrers_failed; /* referrer lists or manifests failed */
	uint64_t tags_unsigned;    /* onlySigned: left out, no signature */
};

/* How a run goes. */
struct sync_run_opts {
	bool all; /* every registry (dray sync); else those with a
	             pollInterval whose interval has passed since
	             their last run */
	bool (*should_stop)(void *arg); /* asked between steps; NULL */
	void *arg;                      /* for should_stop and progress */
	/* After listing and after each repository; may be NULL. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
};

/* A mirror of @s's registries (@s outlives it). NULL with ERR_NOMEM. */
MUST_CHECK struct sync_mirror *sync_mirror_new(struct sync *s, struct err *err);
/* Accepts NULL. */
void sync_mirror_free(struct sync_mirror *m);

/* The smallest pollInterval of the registries, 0 when none polls. */
uint64_t sync_mirror_interval(const struct sync_mirror *m);

/*
 * One mirror run as @o says; adds what it did to *@out (zeroed by the
 * caller) and logs one line "sync run done: ..." (or "sync run stopped:
 * ..."). Returns 0, or -1 with ERR_BUSY when it was stopped before the
 * end. Not thread-safe: one run at a time per mirror.
 */
MUST_CHECK int sync_mirror_run(struct sync_mirror *m,
                               const struct sync_run_opts *o,
                               struct sync_run_stats *out, struct err *err);

/* Pure helpers of mirroring, public for the tests. */

/*
 * Does registry @r mirror upstream repository @remote? True with *@c the
 * first content entry whose prefix glob matches it, or NULL when @r has
 * no content (it mirrors everything).
 */
bool sync_content_of(const struct sync_registry *r, const char *remote,
                     const struct sync_content **c);

/*
 * The local name of upstream repository @remote under @c (zot's
 * destination and stripPrefix; @c NULL: the same name), into @out;
 * false if it does not fit or is empty.
 */
bool sync_map_remote(const struct sync_content *c, const char *remote,
                     char *out, size_t size);

/*
 * The target of the rel="next" link of Link header value @link, as a
 * path from "/v2/" on with its query (the host of an absolute URL is
 * dropped: pages come from the same upstream), into @out. False if
 * there is none, or it is no /v2/ path or does not fit.
 */
bool sync_link_next(const char *link, char *out, size_t size);

struct strvec;

/*
 * Append to @out the elements of array @key of JSON object @body (@len
 * bytes): strings, or the "digest" of objects (a referrers index). A
 * missing or null @key adds nothing. ERR_INVALID (not such a JSON
 * object, an element of another kind), ERR_NOMEM.
 */
MUST_CHECK int sync_list_page(const char *body, size_t len, const char *key,
                              struct strvec *out, struct err *err);

#include <stdio.h>

/*
 * The dray_sync_* metric families of @mirror's module (a struct
 * sync_mirror): upstream requests by registry and URL index and result,
 * bytes received, on-demand fetches by kind and result, what runs did
 * and when the last one (and the last fully good one) ended. For
 * metrics_add_extra(); thread-safe.
 */
void sync_metrics(FILE *f, void *mirror);

/*
 * SIGHUP: @c is the configuration file's extensions.sync now. Each
 * registry's pollInterval applies from now on (when @c lists as many
 * registries, and a registry polled at start: the scheduler has a sync
 * task); what else differs from the configuration in force cannot change
 * live: the first such key is named in @what (@size bytes; "" if none)
 * for the caller's warning. True if a pollInterval changed (then
 * reschedule the sync task: sync_mirror_interval(), sync_mirror_next_ms()).
 * One call at a time; a run may be under way.
 */
bool sync_mirror_update(struct sync_mirror *m, const struct sync_cfg *c,
                        char *what, size_t size);

/* How long until a polling registry is due (0: now). */
uint64_t sync_mirror_next_ms(const struct sync_mirror *m);

#endif
