/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_int.h - the request object and the handler contract; private to
 * http/.
 *
 * A handler returns 0 once it has queued a response, or -1 with err set;
 * server.c renders errors (reply.c builds every MHD response). Handlers
 * that take a body have three phases: begin (headers only), body (each
 * piece), end (reply). Everything a request owns hangs off struct
 * http_req and is released when MHD reports the request completed.
 */
#ifndef DRAY_HTTP_INT_H
#define DRAY_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <regex.h>

#include <jansson.h>
#include <microhttpd.h>

#include "daemon/access.h"
#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/ref.h"
#include "http/auth.h"
#include "http/http.h"
#include "index/store.h"

struct http_req;

enum route_kind {
	RT_NONE = 0,
	RT_BASE,      /* /v2/ */
	RT_CATALOG,   /* /v2/_catalog */
	RT_TAGS,      /* /v2/<name>/tags/list */
	RT_MANIFEST,  /* /v2/<name>/manifests/<reference> */
	RT_BLOB,      /* /v2/<name>/blobs/<digest> */
	RT_UPLOADS,   /* /v2/<name>/blobs/uploads/ */
	RT_UPLOAD,    /* /v2/<name>/blobs/uploads/<id> */
	RT_REFERRERS, /* /v2/<name>/referrers/<digest> */
	RT_LIVEZ,     /* /livez */
	RT_READYZ,    /* /readyz */
	RT_STARTUPZ,  /* /startupz */
	RT_METRICS,   /* extensions.metrics.prometheus.path */
	RT_MGMT,      /* /v2/_zot/ext/mgmt */
	RT_APIKEY,    /* /zot/auth/apikey (http.auth.apikey) */
	RT_SEARCH,    /* /v2/_zot/ext/search (extensions.search) */
	RT_DISCOVER,  /* /v2/_oci/ext/discover: the extensions served */
	RT_UI,        /* / and /ui/<file> (extensions.ui) */
	RT_USERPREFS, /* /v2/_zot/ext/userprefs (search and ui on) */
};

/* One method of one route. */
struct handler {
	enum route_kind kind; /* which route */
	const char *method;   /* HTTP method */
	/* Headers are in: validate, set up; may reply early (an error). */
	int (*begin)(struct http_req *req, struct err *err);
	/* A piece of the body. */
	int (*body)(struct http_req *req, const char *buf, size_t len,
	            struct err *err);
	/* The whole request is in: reply. */
	int (*end)(struct http_req *req, struct err *err);
	/* The OCI error codes for ERR_NOT_FOUND and ERR_INVALID here. */
	enum oci_code not_found_code;
	enum oci_code invalid_code;
	/* What the repository's policy must allow (enum access_action). */
	unsigned need;
};

/*
 * Threads each have a daemon of their own, all listening on one port with
 * SO_REUSEPORT, so the kernel spreads connections over them (one MHD
 * thread pool leaves them where accept() happened to run).
 */
#define HTTP_LISTENERS_MAX 16

struct conn_watch;
struct http_tls;
struct live;
struct live_ref;

/*
 * policy.c: one version of what SIGHUP may replace (http_policy_new()).
 * Immutable; a request holds the one it began with (req->pol).
 */
struct http_pol {
	const struct access *access; /* repository policies, NULL: none */
	struct auth *auth;           /* Basic authentication, or NULL */
	struct jwt_key *bearer;      /* http.auth.bearer's key, or NULL */
	char *realm;                 /* WWW-Authenticate realm, or NULL */
	char *bearer_realm;          /* the token server, or NULL */
	char *bearer_service;        /* the aud tokens must name, or NULL */
	unsigned fail_delay_ms;      /* refused logins answered after this */
	struct live_ref *keep;       /* keeps @access alive, or NULL */
};

/* Take the policy in force for @req (dropped by req_free()). */
void http_pol_take(struct http_req *req);

struct http_server {
	struct MHD_Daemon *mhd[HTTP_LISTENERS_MAX]; /* one per thread */
	struct conn_watch *watch; /* timeouts and lingering closes */
	unsigned n_mhd;           /* how many started */
	struct store *st;         /* what we serve */
	struct http_opts opts;    /* as started; pol: what reloads */
	struct live *pol;         /* struct http_pol in force */
	struct delay *fail_delay; /* http.auth.failDelay's refusals */
	struct offload *offload;  /* slow steps off the listener threads */
	struct offload *pulls;    /* upstream fetches (sync on demand) */
	struct offload *searches; /* search queries (extensions.search) */
	int port;                 /* bound port */
	uint64_t next_id;         /* request ids, atomic */
	int inflight;             /* requests not completed, atomic */
	int health;               /* HEALTH_* bits, atomic */
	struct http_tls *tls;     /* TLS credentials, NULL: plain HTTP */
};

/* struct http_server's health. */
#define HEALTH_STARTED 1 /* http_start() returned */
#define HEALTH_READY   2 /* http_set_ready(true), not yet stopping */

struct http_req {
	struct http_server *srv;      /* owner */
	struct MHD_Connection *conn;  /* MHD's connection */
	struct auth_job *auth_job;    /* a check under way (who.c) */
	struct pull_job *pull_job;    /* a fetch under way (pull.c) */
	struct search_job *search_job; /* a query under way (search.c) */
	struct pull_stream *stream;   /* a blob to stream (pull.c) */
	uint64_t id;                  /* for the log */
	const char *method;           /* borrowed from MHD */
	const char *url;              /* borrowed from MHD (decoded path) */
	const struct handler *h;      /* the route's handler, or NULL */
	enum route_kind kind;         /* parsed route */
	char name[REF_NAME_MAX + 1];  /* repository */
	char ref[DIGEST_STR_MAX + 8]; /* tag, digest or upload id */
	bool queued;                  /* a response was queued */
	bool failed;                  /* body() failed: route_err says why */
	bool encoded_slash;           /* the raw path had %2F */
	bool delay_due;               /* refused login: answer later */
	unsigned status;              /* status of the response */
	uint64_t start_ms;            /* arrival, monotonic */
	uint64_t body_bytes;          /* body bytes received */
	uint64_t sent_bytes;          /* body size of the response */
	struct err route_err;         /* why routing or the body failed */
	/* The caller: who.user is NULL (anonymous) or points at user. */
	struct access_who who;
	char user[AUTH_USER_MAX + 1];
	struct jwt_claims *claims;  /* the caller's bearer token, or NULL */
	const struct http_pol *pol; /* the policy in force when it came */
	struct live_ref *pol_ref;   /* its reference */
	/* Handler state. */
	struct upload *up;    /* a taken upload session */
	struct digest digest; /* ?digest= or the path's digest */
	bool has_digest;      /* digest is set */
	bool has_range;       /* PATCH with Content-Range */
	uint64_t range_end;   /* its last byte */
	struct {
		const char *name; /* static string */
		char value[512];  /* its value */
	} hdrs[6];                /* headers for the next response */
	int nhdrs;                /* how many */
	char *buf;                /* manifest body */
	size_t len, cap;          /* its length and allocation */
	/*
	 * Mutual TLS: the verified client certificate's identity (its
	 * CommonName, or the attributes of http.auth.mtls), owned; NULL
	 * without mutual TLS or without one. Set before routing
	 * (server.c); who.c makes it the user.
	 */
	char *tls_user;
	/* The caller's groups from LDAP, owned; who.groups points here. */
	struct auth_groups groups;
	const char **group_list; /* pointers into groups.names, owned */
	bool by_apikey;    /* the caller logged in with an API key */
	char **key_groups; /* its groups (who.groups), one block, owned */
};

/*
 * offload.c: a bounded FIFO of jobs run by worker threads. A job is
 * embedded in its owner's struct; offload_submit() calls @queued under
 * the pool's lock before a worker can take the job (there the caller
 * suspends its connection), then a worker calls @run and @done(job,
 * true). offload_submit() is false when the queue is full, the pool is
 * stopping or NULL: the caller runs the job inline. offload_stop()
 * refuses more, calls @done(job, false) for every job not started (in
 * the stopping thread), and joins the workers, so the jobs under way
 * finish first; offload_free() after it. Both accept NULL. Workers run
 * with @nice added to their nice value (Linux, per thread): CPU-bound
 * work that anyone can cause (bcrypt of a wrong password) then yields
 * the CPU to the listener threads.
 */
struct offload_job {
	void (*queued)(struct offload_job *job); /* NULL: nothing */
	void (*run)(struct offload_job *job);
	void (*done)(struct offload_job *job, bool ran);
	struct offload_job *next; /* the pool's */
};
#define OFFLOAD_WORKERS 4
#define OFFLOAD_QUEUE   1024
#define OFFLOAD_NICE    10
/* The pool for upstream fetches (sync on demand): transfers are long. */
#define PULL_WORKERS 8
#define PULL_QUEUE   1024
/* Search queries run here, below the registry's priority. */
#define SEARCH_WORKERS 2
#define SEARCH_QUEUE   256
struct offload;
struct offload *offload_new(unsigned workers, size_t max_queued, int nice,
                            struct err *err);
bool offload_submit(struct offload *o, struct offload_job *job);
void offload_stop(struct offload *o);
void offload_free(struct offload *o);

/*
 * A job that works for a request on a pool while the request's
 * connection is suspended (offload.c). Its owner embeds it first in a
 * struct of copies, so the job never touches the request: req_free() may
 * come first (the client left), and then the worker releases the job
 * and leaves the connection alone. conn_job_submit() queues @job with
 * its connection suspended and in phase CONN_WORK (no client time limit
 * while dray works): true; false: not queued (the caller works inline),
 * @job untouched. Once resumed, MHD calls the access handler again;
 * conn_job_pending() is then false and the owner reads the result
 * (@ran false: the pool stopped before the job ran). conn_job_drop():
 * the request is gone; @release runs now or after the work.
 */
struct conn_job {
	struct offload_job base; /* the pool's; first */
	struct MHD_Connection *conn;
	void (*work)(struct conn_job *job);
	void (*release)(struct conn_job *job); /* frees the owner's struct */
	bool ran;      /* worked; false: the pool stopped first */
	bool finished; /* the result is in */
	bool orphan;   /* the request is gone */
};
bool conn_job_submit(struct offload *o, struct conn_job *job);
bool conn_job_pending(struct conn_job *job);
void conn_job_drop(struct conn_job *job);

/*
 * conn.c: where a connection stands, for its time limits. IDLE: between
 * requests (bytes arriving there are the next request's headers); BODY:
 * the headers are in, the body is being read; REPLY: the request is in,
 * dray handles it and sends the response; WORK: the connection is
 * suspended while a pool works for it (no time limit: the work has its
 * own).
 */
enum conn_phase { CONN_IDLE, CONN_BODY, CONN_REPLY, CONN_WORK };

/* Create the watch and its thread. ERR_NOMEM or ERR_IO. */
struct conn_watch *conn_watch_new(const struct http_opts *opts,
                                  struct err *err);
/* Shutdown began: bodies that stall are no longer waited for. */
void conn_watch_drain(struct conn_watch *w);
/* After every MHD daemon has stopped. Accepts NULL. */
void conn_watch_free(struct conn_watch *w);
/* MHD_OPTION_NOTIFY_CONNECTION callback; @cls is the watch. */
void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code);
/* @conn enters @phase. */
void conn_phase(struct MHD_Connection *conn, enum conn_phase phase);
/* @conn was answered with its request body unread: linger at close. */
void conn_linger(struct MHD_Connection *conn);

/*
 * delay.c: answers held back without a thread (http.auth.failDelay).
 * delay_hold() suspends @conn from its access handler and returns true;
 * @ms later (or when one held before it is due, if that is later) MHD
 * calls the handler again. false: answer now (stopping, or
 * out of memory). delay_stop() resumes all held at once and refuses more
 * (before the daemons stop); delay_free() after they stopped. Both
 * accept NULL.
 */
struct delay;
struct delay *delay_new(struct err *err);
bool delay_hold(struct delay *d, struct MHD_Connection *conn, uint64_t ms);
void delay_stop(struct delay *d);
void delay_free(struct delay *d);

/*
 * tls.c: HTTPS through MHD's GnuTLS. tls_new() returns NULL with @err
 * untouched when @opts has no TLS, NULL with @err set when its files do
 * not do (as http_tls_check()).
 */
extern const char tls_priorities[]; /* MHD_OPTION_HTTPS_PRIORITIES */
/*
 * Mutual TLS identities (http.auth.mtls): tls_ident_init() reads the
 * attributes of @opts (ERR_INVALID: an unknown one, more than
 * TLS_IDENT_MAX, a pattern that does not compile); tls_ident_of() is
 * the identity of the DER certificate @der (owned, printable), or NULL
 * when it has none of them.
 */
#define TLS_IDENT_MAX 8
struct tls_ident {
	unsigned char attrs[TLS_IDENT_MAX];   /* in order, enum in tls.c */
	size_t n;                             /* how many */
	unsigned uri_idx, dns_idx, email_idx; /* which SAN of each kind */
	bool has_re;                          /* re is compiled */
	regex_t re;                           /* uriSanPattern */
};
int tls_ident_init(struct tls_ident *id, const struct http_opts *opts,
                   struct err *err);
void tls_ident_release(struct tls_ident *id);
char *tls_ident_of(const struct tls_ident *id, const void *der, size_t len);
struct http_tls *tls_new(const struct http_opts *opts, struct err *err);
/* After every MHD daemon has stopped. Accepts NULL. */
void tls_free(struct http_tls *tls);
/* PEM for MHD_OPTION_HTTPS_MEM_CERT and _KEY, valid until tls_free(). */
const char *tls_boot_cert(const struct http_tls *tls);
const char *tls_boot_key(const struct http_tls *tls);
/* MHD_OPTION_NOTIFY_CONNECTION with TLS (calls conn_notify); @cls: srv. */
void tls_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                enum MHD_ConnectionNotificationCode code);
/*
 * The client identity on @conn into *user (owned, NULL: none). -1 if
 * mutual TLS is on and @conn has no verified client certificate.
 */
int tls_peer(const struct http_tls *tls, struct MHD_Connection *conn,
             char **user);

/* reply.c: every MHD response is built here. */
int reply_buf(struct http_req *req, unsigned status, const char *ctype,
              const void *buf, size_t len, bool take, struct err *err);
int reply_fd(struct http_req *req, unsigned status, int fd, uint64_t off,
             uint64_t len, uint64_t total, struct err *err);
int reply_sized_empty(struct http_req *req, unsigned status, const char *ctype,
                      uint64_t len, struct err *err);
/*
 * A 200 of @len bytes of application/octet-stream that @read produces
 * as MHD asks for them; @done(@cls) runs when MHD lets go of it (also
 * when this fails).
 */
int reply_stream(struct http_req *req, uint64_t len,
                 MHD_ContentReaderCallback read, void *cls,
                 MHD_ContentReaderFreeCallback done, struct err *err);
/*
 * Append @len bytes of a request body to req->buf (grown as needed);
 * the caller checks its limit first. ERR_NOMEM.
 */
int req_body_append(struct http_req *req, const char *buf, size_t len,
                    struct err *err);
/* A JSON answer: @body (stolen, NULL: out of memory) as compact text. */
int reply_json(struct http_req *req, unsigned status, json_t *body,
               struct err *err);
/* Add a header to the response being built; see reply_hdr_*(). */
void reply_hdr(struct http_req *req, const char *name, const char *value);
void reply_hdr_location(struct http_req *req, const char *fmt, ...)
	PRINTF(2, 3);
/*
 * Give @err the OCI code its route gives its err_code, unless a handler
 * or the store set one already.
 */
void http_err_complete(const struct http_req *req, struct err *err);
/*
 * The HTTP status for @err: the only place one is chosen. The err_code
 * decides it, except that for ERR_INVALID and ERR_NOT_FOUND the OCI code
 * picks between 400 and 404 (an unknown blob, manifest, upload or
 * repository is 404, any other code 400).
 */
unsigned http_status_for(const struct err *err);
/* Render @err (completed) as the spec's error body. */
int reply_error(struct http_req *req, const struct err *err);

/* Query argument @key, or NULL. */
const char *req_arg(struct http_req *req, const char *key);
/* Request header @key, or NULL. */
const char *req_header(struct http_req *req, const char *key);

/* route.c */
int route_parse(struct http_req *req, struct err *err);
/*
 * who.c: find who the caller is (req->who, req->claims). Returns 0, or
 * -1 with @err set to the 401 to answer (bad credentials, or an
 * anonymous /v2/ while authentication is on), its challenge queued.
 */
int http_authenticate(struct http_req *req, struct err *err);
/*
 * A credential check that misses the cache is run on the offload pool:
 * http_authenticate() then returns HTTP_PENDING with the
 * connection suspended. Once MHD calls the access handler again,
 * http_auth_pending() is false and http_auth_finish() gives what
 * http_authenticate() would have.
 */
#define HTTP_PENDING 1
bool http_auth_pending(const struct http_req *req);
int http_auth_finish(struct http_req *req, struct err *err);
/* req_free(): the check under way, if any, is dropped (who.c). */
void http_auth_drop(struct http_req *req);
/*
 * True if the policy of @repo does not allow the caller @action: @err
 * says so as the answer should: 401 UNAUTHORIZED with a challenge to an
 * anonymous caller when authentication is on, 404 NAME_UNKNOWN to a
 * named caller that may not read @repo (names do not leak), else 403
 * DENIED.
 */
bool http_denied(struct http_req *req, const char *repo, unsigned action,
                 struct err *err);
/*
 * True if http.accessControl.metrics.users is given and the caller is not
 * one of them: @err is the 401 (anonymous) or 403 to answer.
 */
bool http_metrics_denied(struct http_req *req, struct err *err);
/*
 * True if the caller is anonymous: @err is the 401 with the challenge
 * (for endpoints that need a login but no repository right).
 */
bool http_login_denied(struct http_req *req, struct err *err);
/* True if the caller may do @action on @repo (no answer prepared). */
bool http_allows(struct http_req *req, const char *repo, unsigned action);

const struct handler *route_handler(enum route_kind kind, const char *method,
                                    bool *other_methods);
/* True for the routes under /v2/<name>/: req->name is a repository's. */
bool route_names_repo(enum route_kind kind);
/*
 * The methods @kind answers, for an Allow header ("GET, HEAD, DELETE"),
 * leaving out @except (NULL: none).
 */
void route_allow(enum route_kind kind, const char *except, char *buf,
                 size_t size);

/* Handlers (manifest.c, blob.c, upload.c, list.c). */
int h_base(struct http_req *req, struct err *err);
int h_catalog(struct http_req *req, struct err *err);
int h_tags(struct http_req *req, struct err *err);
int h_referrers(struct http_req *req, struct err *err);
int h_manifest_get(struct http_req *req, struct err *err);
int h_manifest_put_begin(struct http_req *req, struct err *err);
int h_manifest_put_body(struct http_req *req, const char *buf, size_t len,
                        struct err *err);
int h_manifest_put_end(struct http_req *req, struct err *err);
int h_manifest_delete(struct http_req *req, struct err *err);
int h_blob_get(struct http_req *req, struct err *err);
int h_blob_delete(struct http_req *req, struct err *err);
int h_upload_post_begin(struct http_req *req, struct err *err);
int h_upload_body(struct http_req *req, const char *buf, size_t len,
                  struct err *err);
int h_upload_post_end(struct http_req *req, struct err *err);
int h_upload_get(struct http_req *req, struct err *err);
int h_upload_patch_begin(struct http_req *req, struct err *err);
int h_upload_patch_end(struct http_req *req, struct err *err);
int h_upload_put_begin(struct http_req *req, struct err *err);
int h_upload_put_end(struct http_req *req, struct err *err);
int h_upload_delete(struct http_req *req, struct err *err);

/*
 * apikey.c: zot's API keys (http.auth.apikey). apikey_login() is true
 * when @hdr is Basic credentials whose password is a live API key of
 * its user: req->who, user, by_apikey and key_groups are then set.
 * Times are RFC 3339 (APIKEY_TIME_MAX bytes with the NUL); 0 ms formats
 * as Go's zero time; parsing fails (-1) before 1970 or on any junk.
 */
#define APIKEY_TIME_MAX 32
bool apikey_login(struct http_req *req, const char *hdr);
int apikey_time_parse(const char *s, uint64_t *ms);
void apikey_time_format(uint64_t ms, char out[APIKEY_TIME_MAX]);
int h_apikey_post_begin(struct http_req *req, struct err *err);
int h_apikey_post_body(struct http_req *req, const char *buf, size_t len,
                       struct err *err);
int h_apikey_post_end(struct http_req *req, struct err *err);
int h_apikey_get(struct http_req *req, struct err *err);
int h_apikey_delete(struct http_req *req, struct err *err);

/* search.c: zot's GraphQL search API, and the extensions' discovery. */
int h_search_get(struct http_req *req, struct err *err);
int h_search_post_body(struct http_req *req, const char *buf, size_t len,
                       struct err *err);
int h_search_post_end(struct http_req *req, struct err *err);
/* A query of @req is under way; the request is gone (its query too). */
bool search_pending(const struct http_req *req);
void search_drop(struct http_req *req);
int h_discover(struct http_req *req, struct err *err);
/* userprefs.c: zot's stars and bookmarks (search/userprefs.h). */
int h_userprefs_put(struct http_req *req, struct err *err);

/* metrics.c: the probes, /metrics and mgmt. */
int h_health(struct http_req *req, struct err *err);
int h_metrics(struct http_req *req, struct err *err);
int h_mgmt(struct http_req *req, struct err *err);
/* Count @req, answered, into the server's metrics (none: nothing). */
void http_metrics_count(const struct http_req *req);

/*
 * pull.c: store_manifest_get() and store_blob_open() that, on a miss in
 * a repository the sync extension maps, fetch upstream and read again.
 * HTTP_PENDING: the fetch runs with the connection suspended; the
 * handler returns HTTP_PENDING, and is called again once it is done.
 */
int pull_manifest(struct http_req *req, struct manifest_desc *desc, char **body,
                  struct err *err);
int pull_blob(struct http_req *req, const struct digest *d, int *fd,
              uint64_t *size, struct err *err);
/*
 * A GET of a whole blob: as pull_blob(), but a blob being fetched is
 * streamed to the client while it arrives (sync_follow()): the 200 is
 * queued here as soon as the upstream's length and first bytes are in
 * (0 with *@fd -1: answered). Without a length upstream, or once the
 * blob is stored, *@fd is the stored blob, as pull_blob() gives.
 */
int pull_blob_stream(struct http_req *req, const struct digest *d, int *fd,
                     uint64_t *size, struct err *err);
/* Whether @req's fetch is still under way. */
bool pull_pending(const struct http_req *req);
/* req_free(): the fetch under way, if any, is left to finish alone. */
void pull_drop(struct http_req *req);
/*
 * Before the referrers of @subject in req->name are read: asks upstream
 * when sync_referrers_due() says so. 0 (also when the upstream failed:
 * what is here is served), HTTP_PENDING as above, or -1 with @err for
 * what failed here (ERR_NOMEM, ERR_BUSY, ERR_INTERNAL).
 */
int pull_referrers(struct http_req *req, const struct digest *subject,
                   struct err *err);

/*
 * Parse a digest the client sent; any failure carries DIGEST_INVALID
 * (400), which a read that should answer 404 replaces.
 */
int req_digest(const char *s, struct digest *out, struct err *err);

/*
 * The ?n= of a list (list.c): NULL or "" is no limit (SIZE_MAX), else
 * decimal digits, capped at the largest page. ERR_INVALID.
 */
int page_size_parse(const char *s, size_t *n, struct err *err);

/*
 * ui.c: the web UI's files, built in from ui/ (ui/embed.cmake writes
 * the table). Each is served at its path; index.html also at /.
 */
struct ui_asset {
	const char *path;          /* "/ui/app.js" */
	const char *ctype;         /* its Content-Type */
	const char *etag;          /* quoted, from its content */
	const unsigned char *data; /* its bytes */
	size_t len;                /* how many */
};
extern const struct ui_asset ui_assets[];
extern const size_t ui_n_assets;
/* The asset at @url ("/" is index.html), or NULL. */
const struct ui_asset *ui_find(const char *url);
int h_ui(struct http_req *req, struct err *err);

#endif
