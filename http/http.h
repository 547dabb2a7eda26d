/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - the OCI Distribution API v1.1 over libmicrohttpd.
 *
 * One server per process, serving one store. Requests run on MHD's epoll
 * thread pool; every read and change goes through index/store.h.
 */
#ifndef DRAY_HTTP_H
#define DRAY_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/access.h"
#include "daemon/err.h"

struct store;
struct http_server;
struct ldap_opts;
struct sync;
struct zsearch;
struct userprefs;

struct http_opts {
	const char *address;       /* listen address (IPv4, IPv6 or name) */
	int port;                  /* TCP port; 0 picks a free one */
	unsigned threads;          /* MHD thread pool size, 0 = 2 */
	unsigned max_conns;        /* connection limit, 0 = 1000 */
	unsigned max_conns_per_ip; /* per client address, 0 = 512 */
	unsigned idle_timeout_s;   /* idle connection timeout, 0 = 60 */
	unsigned drain_timeout_s;  /* shutdown wait for in-flight, 0 = 10 */
	/* Headers begun must be complete within this, 0 = 10 s. */
	unsigned header_timeout_ms;
	/* Longest a request body may receive nothing, 0 = 30 s. */
	unsigned read_timeout_ms;
	/* Longest a response may have nothing read, 0 = 30 s. */
	unsigned write_timeout_ms;
	const struct access *access; /* repository policies, NULL: none */
	const char *htpasswd_path;   /* Basic authentication, NULL: none */
	const char *realm;           /* WWW-Authenticate realm, NULL: "dray" */
	unsigned fail_delay_ms;      /* refused logins answered after this */
	/* http.auth.bearer: tokens from @bearer_realm for @bearer_service,
	   verified with the key in @bearer_cert; NULL: no tokens */
	const char *bearer_realm;
	const char *bearer_service;
	const char *bearer_cert;
	/* extensions.metrics: counters to keep, NULL: none (no endpoint). */
	struct metrics *metrics;
	const char *metrics_path; /* where they are served, "/metrics" */
	/* extensions.mgmt: GET /v2/_zot/ext/mgmt answers this JSON. */
	const char *mgmt_json; /* NULL: no such endpoint */
	/* PEM files. With cert and key the listener speaks HTTPS only. */
	const char *tls_cert;   /* certificate chain, or NULL */
	const char *tls_key;    /* its private key, or NULL */
	const char *tls_cacert; /* client CA: mutual TLS; NULL: none */
	/* http.auth.ldap (checked by http/ldap.c), NULL: none */
	const struct ldap_opts *ldap;
	/* http.auth.apikey: the key table (index/apikey.h), NULL: off */
	struct apikeys *apikeys;
	/* http.auth.mtls: the client certificate's identity is the first
	   of these attributes it has (none given: CommonName) */
	const char *const *mtls_attrs;
	size_t n_mtls_attrs;
	const char *mtls_uri_pattern; /* a URI SAN's part: the first group */
	unsigned mtls_uri_index;      /* which URI SAN (0: the first) */
	unsigned mtls_dns_index;      /* which DNS name SAN */
	unsigned mtls_email_index;    /* which email SAN */
	/* extensions.sync: misses fetched upstream; NULL: none. */
	struct sync *sync;
	/* extensions.search: zot's search API (search/zot.h); NULL: off. */
	struct zsearch *search;
	/* extensions.ui: the web UI at / and /ui/ (http/ui.c) */
	bool ui;
	/* Stars and bookmarks (search/userprefs.h): zot serves them when
	   search and ui are both on; NULL: off. */
	struct userprefs *userprefs;
};

/*
 * Listen and serve @st in background threads. @st must outlive the server.
 * Fails with ERR_IO (cannot bind), ERR_INVALID (bad address, or an
 * htpasswd file that does not load) or ERR_NOT_FOUND (no htpasswd file).
 */
MUST_CHECK struct http_server *http_start(const struct http_opts *opts,
                                          struct store *st, struct err *err);

/*
 * Check that the TLS files of @opts can be read and used: both or neither
 * of cert and key, the key matches the certificate, the CA file holds a
 * certificate. 0 when TLS is off. ERR_INVALID, ERR_NOT_FOUND, ERR_IO.
 */
MUST_CHECK int http_tls_check(const struct http_opts *opts, struct err *err);

/*
 * Re-read the TLS certificate, key and client CA (SIGHUP). New handshakes
 * get them; open connections keep the ones they began with. On failure
 * (as http_tls_check()) the previous ones stay in use. 0 when TLS is off.
 */
MUST_CHECK int http_tls_reload(struct http_server *srv, struct err *err);

/*
 * Is @name an identity attribute of http.auth.mtls.identityAttributes
 * (zot's: CommonName or CN, Subject or DN, Email or RFC822Name, URI or
 * URL, DNSName or DNS; in any case, spaces around ignored)?
 */
bool http_mtls_attr_known(const char *name);

struct live_ref;

/*
 * SIGHUP: a version of the policies and authentication of @opts (access,
 * htpasswd_path, realm, fail_delay_ms, bearer_*), the htpasswd file and
 * the bearer key loaded. @keep (taken, may be NULL) is a reference that
 * keeps what @opts->access points into alive as long as the version is
 * used. NULL with the errors of http_start() for those files.
 */
MUST_CHECK struct live_ref *http_policy_new(const struct http_opts *opts,
                                            struct live_ref *keep,
                                            struct err *err);

/* Requests arriving from now on are judged by @pol (taken). */
void http_policy_publish(struct http_server *srv, struct live_ref *pol);

/* The TCP port actually bound. */
int http_port(const struct http_server *srv);

/*
 * Stop accepting, let in-flight requests finish (bounded by
 * drain_timeout_s), then stop. A request whose body stands still for 2 s
 * (or read_timeout_ms if shorter) meanwhile is dropped rather than
 * waited for. Accepts NULL.
 */
void http_stop(struct http_server *srv);

/*
 * /readyz answers 200 only between http_set_ready(srv, true) (the index
 * is reconciled and the mount, if any, is up) and the start of shutdown:
 * http_set_ready(srv, false) or http_stop(). /livez always answers 200,
 * /startupz once http_start() has returned.
 */
void http_set_ready(struct http_server *srv, bool ready);

#endif
