/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - dray's configuration: zot's schema, written in YAML (or JSON).
 *
 * cfg_load() turns the file into one immutable struct cfg; nothing else in
 * dray sees YAML. Keys that zot's schema has but dray does not implement yet
 * are accepted and listed in cfg->unsupported so the daemon can warn about
 * each one; keys in no schema, and bad values, are errors that name the key
 * and its line:column. With no file, an embedded default is used.
 */
#ifndef DRAY_CONFIG_H
#define DRAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/access.h"
#include "daemon/err.h"
#include "daemon/log.h"
#include "index/store.h"
#include "sync/sync.h"
#include "events/events.h"

/* The YAML text of the embedded default configuration. */
extern const char cfg_default_yaml[];

/* A list of strings from the file. */
struct cfg_strings {
	char **v;
	size_t n;
};

struct cfg {
	char *dist_spec_version; /* distSpecVersion, default "1.1.0" */
	struct {
		char *address;      /* http.address, default "127.0.0.1" */
		int port;           /* http.port (int or string), 0..65535;
		                       default 5000; 0 picks a free port */
		char *realm;        /* http.realm, or NULL */
		char *external_url; /* http.externalUrl, or NULL */
		char *tls_cert;     /* http.tls.cert, or NULL */
		char *tls_key;      /* http.tls.key, or NULL */
		char *tls_cacert;   /* http.tls.cacert, or NULL */
		struct access access; /* http.accessControl */
		char *htpasswd_path;  /* http.auth.htpasswd.path, or NULL */
		uint64_t fail_delay_s; /* http.auth.failDelay, seconds */
		/* http.auth.bearer: the token server's realm (its URL), the
		   service tokens must name as aud, and the PEM certificate or
		   public key that verifies them; all NULL without the
		   section, all set (and the key usable) with it */
		char *bearer_realm;
		char *bearer_service;
		char *bearer_cert;
		bool apikey; /* http.auth.apikey, default false */
		/* http.auth.mtls: the client certificate's identity is the
		   first of these attributes it has (NULL: CommonName); the
		   nth SAN of a kind; a URI SAN's first group of the pattern */
		char **mtls_attrs;
		size_t n_mtls_attrs;
		char *mtls_uri_pattern;
		uint64_t mtls_uri_index;
		uint64_t mtls_dns_index;
		uint64_t mtls_email_index;
		/* http.readTimeout: longest a request body may stand still */
		uint64_t read_timeout_ms;
		/* http.writeTimeout: longest a response may go unread */
		uint64_t write_timeout_ms;
		/* http.readHeaderTimeout: begun headers must complete */
		uint64_t read_header_timeout_ms;
		/* http.idleTimeout: an idle keep-alive connection */
		uint64_t idle_timeout_ms;
		/* http.drainTimeout: SIGTERM's wait for requests in flight */
		uint64_t drain_timeout_ms;
		/* http.maxConnections, 0..65535 (0: the server's default) */
		int max_connections;
		/* http.maxConnectionsPerClient: open connections from one
		   client address, 0..65535 (0: the server's default) */
		int max_connections_per_client;
		/* http.auth.ldap (zot's LDAPConfig); @on with the section */
		struct {
			bool on;              /* the section is there */
			char *address;        /* server host, required */
			int port;             /* 0: 389, or 636 for LDAPS */
			bool insecure;        /* plain LDAP, else LDAPS */
			bool start_tls;       /* with insecure: StartTLS */
			bool skip_verify;     /* no server cert check */
			bool subtree_search;  /* whole subtree, not one level */
			char *base_dn;        /* where users are, required */
			char *user_attribute; /* login name, required */
			char *user_group_attribute; /* groups, or NULL */
			char *user_filter;          /* extra filter, or NULL */
			char *credentials_file;     /* {bindDN, bindPassword} */
			char *cacert; /* CA file for TLS, or NULL */
		} ldap;
	} http;
	struct {
		char *root_directory; /* storage.rootDirectory (required in a
		                         file; default "./dray-data") */
		bool dedupe;          /* storage.dedupe, default true */
		bool gc;              /* storage.gc, default true */
		uint64_t gc_delay_ms; /* storage.gcDelay, Go duration, 1h */
		uint64_t gc_interval_ms; /* storage.gcInterval, 24h */
		bool commit;             /* storage.commit, default false */
		struct store_retention retention; /* storage.retention */
		uint64_t max_upload_sessions;   /* storage.maxUploadSessions,
		                                   1024; 0: no limit */
		uint64_t max_upload_sessions_per_repo; /* ...PerRepo, 128 */
		uint64_t max_blob_size; /* storage.maxBlobSize, bytes; 0 */
		char *index_directory;  /* storage.indexDirectory: this
		                           node's own state, or NULL for
		                           <rootDirectory>/.dray */
	} storage;
	struct {
		enum log_level level; /* log.level, default LOG_INFO */
		char *output;         /* log.output, or NULL for stderr */
		char *audit;          /* log.audit, or NULL */
		enum log_format format; /* log.format (dray's), AUTO */
	} log;
	struct {
		bool scrub_enable;          /* extensions.scrub.enable; default
		                               false, true if the section is
		                               there (as in zot) */
		uint64_t scrub_interval_ms; /* extensions.scrub.interval, 24h */
		bool metrics_enable; /* extensions.metrics.enable; as scrub */
		char *metrics_path;  /* ...metrics.prometheus.path, /metrics */
		bool mgmt_enable;    /* extensions.mgmt.enable, default true */
		bool lint_enable;    /* extensions.lint.enable; as scrub */
		/* extensions.lint.mandatoryAnnotations */
		struct cfg_strings lint_annotations;
		/* extensions.sync; .enable false without the section. The
		   credentials file, URLs and regexes are checked at load. */
		struct sync_cfg sync;
		/* extensions.events; .enable false without the section */
		struct events_cfg events;
		/* extensions.search.enable; as scrub */
		bool search_enable;
		bool ui_enable; /* extensions.ui.enable, default false */
	} extensions;
	struct {
		char *mountpoint; /* fuse.mountpoint, or NULL: no mount */
		bool read_only;   /* fuse.readOnly, default false */
		bool allow_other; /* fuse.allowOther, default false */
		int64_t uid;      /* fuse.uid: owner shown, -1 = the daemon's */
		int64_t gid;      /* fuse.gid: group shown, -1 = the daemon's */
	} fuse;
	/*
	 * Keys of zot's schema accepted but not implemented, as dotted paths
	 * with their position ("http.auth (line 7)"); the caller warns.
	 */
	char **unsupported;
	size_t n_unsupported;
};

/*
 * Read and validate the configuration file @path (YAML or JSON); NULL
 * means the embedded default. Returns a new cfg for cfg_free(), or NULL
 * with ERR_NOT_FOUND/ERR_IO (unreadable file) or ERR_INVALID, whose
 * message names the file, line and column and the key ("config.yaml:4:3:
 * http.port: expected an integer 0..65535").
 */
MUST_CHECK struct cfg *cfg_load(const char *path, struct err *err);

/* The same for text in memory; @name is used in messages. */
MUST_CHECK struct cfg *cfg_parse(const char *text, size_t len,
                                 const char *name, struct err *err);

/* Parse a Go duration ("90s", "1h30m", "500ms", "0"). Returns 0 or -1. */
MUST_CHECK int cfg_duration_parse(const char *s, uint64_t *ms);

/* Free @cfg. Accepts NULL. */
void cfg_free(struct cfg *cfg);

#endif
