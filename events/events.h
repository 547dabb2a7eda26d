/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.h - zot's events extension: CloudEvents 1.0 about images pushed,
 * tagged, deleted or synced, sent to HTTP sinks in binary content mode.
 *
 * Each event is written to a spool directory per sink under the root's
 * .dray/events/ (write, fsync, rename) before the change it announces is
 * published, as <seq>.pending, renamed <seq>.json once it is, and sent by one
 * background thread with libcurl, oldest first per sink. An event leaves the
 * spool only once its sink answered 2xx: delivery is at least once, across
 * restarts. A failed send is retried after a delay that doubles from retryDelay
 * up to maxRetryDelay. Past maxQueued events for one sink the oldest is dropped
 * (logged and counted). Thread-safe.
 */
#ifndef DRAY_EVENTS_H
#define DRAY_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/err.h"

/* One sink of extensions.events.sinks (zot's SinkConfig). */
struct events_sink_cfg {
	char *type;           /* "http", the only type dray sends to */
	char *address;        /* the URL events are POSTed to */
	uint64_t timeout_ms;  /* one delivery's limit; 0: 30 s, as zot */
	char **header_names;  /* headers: extra request headers */
	char **header_values; /* ... their values */
	size_t n_headers;
	char *username;         /* credentials.username: Basic auth */
	char *password;         /* credentials.password */
	char *token;            /* credentials.token: Bearer auth */
	char *credentials_file; /* credentials.file: JSON with the above */
};

/* extensions.events (zot's events.Config, plus dray's queue bounds). */
struct events_cfg {
	bool enable;                   /* naming the section turns it on */
	struct events_sink_cfg *sinks; /* sinks */
	size_t n_sinks;
	char *source;      /* CloudEvents source; NULL: "zotregistry.dev" */
	char *type_prefix; /* types are <prefix>.image.updated; NULL:
	                      "zotregistry" */
	uint64_t retry_delay_ms;     /* retryDelay: first retry, 1 s */
	uint64_t max_retry_delay_ms; /* maxRetryDelay: cap, 5 min */
	uint64_t max_queued;         /* maxQueued per sink, 10000 */
};

/*
 * Check @c and fill in what it names: defaults for zero fields, the
 * username/password/token of each sink's credentials file. ERR_INVALID
 * (no address, a type other than http, an unreadable or malformed
 * credentials file), ERR_NOMEM.
 */
MUST_CHECK int events_cfg_check(struct events_cfg *c, struct err *err);

/* Free what @c holds (not @c). Accepts NULL. */
void events_cfg_release(struct events_cfg *c);

/* The delay before retry number @attempt (1 = the first). */
uint64_t events_backoff_ms(const struct events_cfg *c, unsigned attempt);

struct events; /* opaque */

/*
 * Open the spool under @root/.dray/events for the sinks of @c (borrowed
 * until events_close()), loading what an earlier run left undelivered.
 * Nothing is sent before events_start(). ERR_IO, ERR_NOMEM.
 */
MUST_CHECK struct events *events_open(const struct events_cfg *c,
                                      const char *root, struct err *err);

/* Start the delivery thread. ERR_INTERNAL (no thread, no libcurl). */
MUST_CHECK int events_start(struct events *ev, struct err *err);

/*
 * Stop the delivery thread (a send in flight is abandoned within a
 * fraction of a second: it stays spooled) and free @ev. Accepts NULL.
 */
void events_close(struct events *ev);

/* What happened to an image. */
enum events_kind {
	EVENTS_IMAGE_UPDATED, /* pushed, tagged or synced */
	EVENTS_IMAGE_DELETED, /* a tag or a manifest deleted */
};

/*
 * Spool one event for every sink, as pending: the image @reference (a tag,
 * or the digest) of @repo is about to be @digest of @media_type (NULL:
 * none), or about to go. Call it before the change is published, then
 * events_settle() from the same thread once it is (or is not): an event
 * is sent only for a change that was published, and a crash between the
 * two leaves it pending for events_recover() to judge. Never waits for a
 * sink. ERR_IO, ERR_NOMEM.
 */
MUST_CHECK int events_post(struct events *ev, enum events_kind kind,
                           const char *repo, const char *reference,
                           const char *digest, const char *media_type,
                           struct err *err);

/*
 * The change this thread's events_post() calls since its last settle
 * announced was @published (the events are queued for sending) or not
 * (they are dropped). Cannot fail: an event that cannot be queued now
 * stays spooled for the next start.
 */
void events_settle(struct events *ev, bool published);

/* Did the change an event announces happen (is it true now)? */
typedef bool (*events_verify_fn)(void *arg, enum events_kind kind,
                                 const char *repo, const char *reference,
                                 const char *digest);

/*
 * Judge the events a crash left pending with @fn: those whose change is
 * true now are queued, the others dropped. Call it after events_open()
 * once the store can answer, before events_start(). ERR_IO, ERR_NOMEM.
 */
MUST_CHECK int events_recover(struct events *ev, events_verify_fn fn, void *arg,
                              struct err *err);

/* Counters since events_open(), summed over the sinks. */
struct events_stats {
	uint64_t queued;    /* events waiting now (loaded ones included) */
	uint64_t posted;    /* events_post() calls that spooled one */
	uint64_t delivered; /* sends a sink answered 2xx */
	uint64_t failed;    /* sends that failed (each retried later) */
	uint64_t dropped;   /* oldest dropped past maxQueued */
};

/* Fill @out. Cannot fail. */
void events_stats(struct events *ev, struct events_stats *out);

/*
 * Write the counters as Prometheus families (dray_events_*) to @f; @arg
 * is the struct events. For metrics_set_extra().
 */
void events_metrics(FILE *f, void *arg);

#endif
