/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - zot's configuration schema, read with libyaml into struct cfg.
 *
 * The file is loaded as one libyaml document (so anchors and aliases work,
 * and JSON is just YAML flow syntax) and walked against static key tables.
 * Each table entry names a key of zot's schema as zot spells it, its type,
 * where it lands in struct cfg and its default. Sections dray implements are
 * walked key by key; keys zot has and dray does not are recorded in
 * cfg->unsupported and their values skipped unread, which also bounds the
 * walk to the depth of the tables whatever the document holds.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon/config.h"
#include "daemon/jwt.h"
#include "http/http.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CFG_FILE_MAX (1024 * 1024) /* bytes read from a config file */
#define CFG_KEYS_MAX 32            /* entries in one key table */
#define CFG_NAME_MAX 32            /* length of a canonical key name */
#define CFG_PATH_MAX 160           /* dotted path kept for messages */

const char cfg_default_yaml[] =
	"# dray's built-in configuration, used when no file is given.\n"
	"distSpecVersion: 1.1.0\n"
	"http:\n"
	"  address: 127.0.0.1\n"
	"  port: 5000\n"
	"storage:\n"
	"  rootDirectory: ./dray-data\n"
	"  dedupe: true\n"
	"  gc: true\n"
	"log:\n"
	"  level: info\n"
	"fuse:\n"
	"  mountpoint: ./dray-mnt\n";

enum kind {
	K_SECTION,     /* a mapping of the keys in ->sub */
	K_UNSUPPORTED, /* zot's, not dray's: recorded, value not read */
	K_STRING,      /* any scalar: char * */
	K_PATH,        /* a non-empty scalar: char * */
	K_BOOL,        /* true or false: bool */
	K_PORT,        /* 0..65535, integer or string: int */
	K_DURATION,    /* a Go duration: uint64_t milliseconds */
	K_LEVEL,       /* a log level: enum log_level */
	K_VERSION,     /* "1.x.y[-pre]": char * */
	K_ID,          /* uid or gid, -1 for none: int64_t */
	K_RETENTION,   /* storage.retention: parse_retention() */
	K_ACCESS,      /* http.accessControl: parse_access() */
	K_COUNT,       /* a count or size, 0..2^63-1: uint64_t */
	K_ROUTE,       /* a clean absolute URL path, not / or /v2: char * */
	K_LOG_FORMAT,  /* json, text or auto: enum log_format */
	K_IDATTRS,     /* http.auth.mtls.identityAttributes: a list */
	K_STRINGS,     /* a list of strings: struct cfg_strings */
	K_SYNC,        /* extensions.sync: parse_sync() */
	K_EVENTS,      /* extensions.events: parse_events() */
};

/* What a value of each kind should have looked like, for messages. */
static const char *const expected[] = {
	[K_SECTION] = "expected a mapping",
	[K_UNSUPPORTED] = "",
	[K_STRING] = "expected a string",
	[K_PATH] = "expected a non-empty string",
	[K_BOOL] = "expected true or false",
	[K_PORT] = "expected an integer 0..65535",
	[K_DURATION] = "expected a Go duration such as 90s or 1h30m",
	[K_LEVEL] = "expected error, warn, info or debug",
	[K_VERSION] = "expected a version 1.x.y",
	[K_ID] = "expected an id 0..4294967294, or -1",
	[K_RETENTION] = "expected a mapping",
	[K_ACCESS] = "expected a mapping",
	[K_COUNT] = "expected an integer 0..9223372036854775807",
	[K_ROUTE] = "expected a clean absolute path, not / and not under /v2",
	[K_LOG_FORMAT] = "expected json, text or auto",
	[K_IDATTRS] = "expected a list of CommonName, Subject, Email, URI, DNS",
	[K_STRINGS] = "expected a list of strings",
	[K_SYNC] = "expected a mapping",
	[K_EVENTS] = "expected a mapping",
};

struct key {
	const char *name;      /* zot's canonical (lowerCamelCase) spelling */
	enum kind kind;        /* how the value is read */
	size_t off;            /* value kinds: the field in struct cfg */
	const char *def;       /* default, as YAML text, or NULL: zero */
	const char *def_in;    /* default once the enclosing section appears,
	                          or NULL: same as ->def */
	const struct key *sub; /* K_SECTION: the keys inside */
	size_t n_sub;          /* K_SECTION: how many */
};

/*
 * Offset of field @f of struct cfg, which must have type @T: a table entry
 * pointing at a field of the wrong type does not compile.
 */
#define FIELD(f, T) _Generic(((struct cfg *)0)->f, T : offsetof(struct cfg, f))

/* clang-format would lay these initializers out as blocks. */
/* clang-format off */
#define VALUE(n, k, f, T, d, din)                                      \
	{ .name = (n), .kind = (k), .off = FIELD(f, T), .def = (d),    \
	  .def_in = (din) }
#define SECTION(n, t)                                                  \
	{ .name = (n), .kind = K_SECTION, .sub = (t), .n_sub = ARRAY_SIZE(t) }
#define ZOT_ONLY(n) { .name = (n), .kind = K_UNSUPPORTED }
/* clang-format on */

#define STRING(n, f, d)   VALUE(n, K_STRING, f, char *, d, NULL)
#define PATH(n, f)        VALUE(n, K_PATH, f, char *, NULL, NULL)
#define BOOL(n, f, d)     VALUE(n, K_BOOL, f, bool, d, NULL)
#define DURATION(n, f, d) VALUE(n, K_DURATION, f, uint64_t, d, NULL)
#define ID(n, f)          VALUE(n, K_ID, f, int64_t, "-1", NULL)
#define VERSION(n, f, d)  VALUE(n, K_VERSION, f, char *, d, NULL)
#define COUNT(n, f, d)    VALUE(n, K_COUNT, f, uint64_t, d, NULL)

/*
 * The tables follow zot's Go structs (pkg/api/config, pkg/extensions/config)
 * key for key, so any key zot would accept is at worst unsupported here.
 */
static const struct key tls_keys[] = {
	STRING("cert", http.tls_cert, NULL),
	STRING("key", http.tls_key, NULL),
	STRING("caCert", http.tls_cacert, NULL),
};

static const struct key htpasswd_keys[] = {
	PATH("path", http.htpasswd_path),
};

static const struct key bearer_keys[] = {
	STRING("realm", http.bearer_realm, NULL),
	STRING("service", http.bearer_service, NULL),
	PATH("cert", http.bearer_cert),
	ZOT_ONLY("awsSecretsManager"),
	ZOT_ONLY("oidc"),
	ZOT_ONLY("upstreamTokenEndpoint"),
};

static const struct key ldap_keys[] = {
	STRING("address", http.ldap.address, NULL),
	VALUE("port", K_PORT, http.ldap.port, int, "0", NULL),
	BOOL("insecure", http.ldap.insecure, "false"),
	BOOL("startTLS", http.ldap.start_tls, "false"),
	BOOL("skipVerify", http.ldap.skip_verify, "false"),
	BOOL("subtreeSearch", http.ldap.subtree_search, "false"),
	STRING("baseDN", http.ldap.base_dn, NULL),
	STRING("userAttribute", http.ldap.user_attribute, NULL),
	STRING("userGroupAttribute", http.ldap.user_group_attribute, NULL),
	STRING("userFilter", http.ldap.user_filter, NULL),
	PATH("credentialsFile", http.ldap.credentials_file),
	PATH("caCert", http.ldap.cacert),
};

static const struct key mtls_keys[] = {
	{.name = "identityAttributes", .kind = K_IDATTRS},
	STRING("uriSanPattern", http.mtls_uri_pattern, NULL),
	COUNT("uriSanIndex", http.mtls_uri_index, "0"),
	COUNT("dnsSanIndex", http.mtls_dns_index, "0"),
	COUNT("emailSanIndex", http.mtls_email_index, "0"),
};

static const struct key auth_keys[] = {
	COUNT("failDelay", http.fail_delay_s, "0"),
	SECTION("htpasswd", htpasswd_keys),
	SECTION("ldap", ldap_keys),
	SECTION("bearer", bearer_keys),
	ZOT_ONLY("openid"),
	BOOL("apikey", http.apikey, "false"),
	ZOT_ONLY("sessionKeysFile"),
	ZOT_ONLY("sessionHashKey"),
	ZOT_ONLY("sessionEncryptKey"),
	ZOT_ONLY("sessionDriver"),
	ZOT_ONLY("secureSession"),
	SECTION("mtls", mtls_keys),
};

static const struct key http_keys[] = {
	STRING("address", http.address, "127.0.0.1"),
	STRING("externalURL", http.external_url, NULL),
	VALUE("port", K_PORT, http.port, int, "5000", NULL),
	ZOT_ONLY("allowOrigin"),
	DURATION("readTimeout", http.read_timeout_ms, "30s"),
	DURATION("writeTimeout", http.write_timeout_ms, "30s"),
	SECTION("tls", tls_keys),
	SECTION("auth", auth_keys),
	{.name = "accessControl", .kind = K_ACCESS},
	STRING("realm", http.realm, NULL),
	ZOT_ONLY("ratelimit"),
	ZOT_ONLY("compat"),
	/* dray's own, in zot's style. */
	DURATION("readHeaderTimeout", http.read_header_timeout_ms, "10s"),
	DURATION("idleTimeout", http.idle_timeout_ms, "60s"),
	DURATION("drainTimeout", http.drain_timeout_ms, "10s"),
	VALUE("maxConnections", K_PORT, http.max_connections, int, "1000",
              NULL),
	VALUE("maxConnectionsPerClient", K_PORT, http.max_connections_per_client,
	      int, "512", NULL),
};

static const struct key storage_keys[] = {
	PATH("rootDirectory", storage.root_directory),
	ZOT_ONLY("maxRepos"),
	BOOL("dedupe", storage.dedupe, "true"),
	ZOT_ONLY("remoteCache"),
	ZOT_ONLY("redirectBlobURL"),
	BOOL("gc", storage.gc, "true"),
	BOOL("commit", storage.commit, "false"),
	DURATION("gcDelay", storage.gc_delay_ms, "1h"),
	DURATION("gcInterval", storage.gc_interval_ms, "24h"),
	ZOT_ONLY("gcTimeWindow"),
	{.name = "retention", .kind = K_RETENTION},
	ZOT_ONLY("storageDriver"),
	ZOT_ONLY("cacheDriver"),
	ZOT_ONLY("subPaths"),
	ZOT_ONLY("fastRestart"),
	/* dray's own: bounds on what clients may hold (0: none). */
	COUNT("maxUploadSessions", storage.max_upload_sessions, "1024"),
	COUNT("maxUploadSessionsPerRepo", storage.max_upload_sessions_per_repo,
              "128"),
	COUNT("maxBlobSize", storage.max_blob_size, "0"),
	/* dray's own: what one node of several keeps to itself. */
	PATH("indexDirectory", storage.index_directory),
};

static const struct key log_keys[] = {
	VALUE("level", K_LEVEL, log.level, enum log_level, "info", NULL),
	STRING("output", log.output, NULL),
	STRING("audit", log.audit, NULL),
	/* dray's own: zot always writes JSON. */
	VALUE("format", K_LOG_FORMAT, log.format, enum log_format, "auto",
	      NULL),
};

static const struct key scrub_keys[] = {
	/* As in zot, naming the scrub section turns scrubbing on. */
	VALUE("enable", K_BOOL, extensions.scrub_enable, bool, "false", "true"),
	DURATION("interval", extensions.scrub_interval_ms, "24h"),
};

static const struct key prometheus_keys[] = {
	VALUE("path", K_ROUTE, extensions.metrics_path, char *, "/metrics",
	      NULL),
};

static const struct key metrics_keys[] = {
	/* As in zot, naming the metrics section turns metrics on. */
	VALUE("enable", K_BOOL, extensions.metrics_enable, bool, "false",
	      "true"),
	SECTION("prometheus", prometheus_keys),
};

static const struct key mgmt_keys[] = {
	/* zot serves mgmt whenever it is built in; so does dray by default. */
	BOOL("enable", extensions.mgmt_enable, "true"),
};

/* clang-format off */
static const struct key lint_keys[] = {
	/* As in zot, naming the lint section turns lint on. */
	VALUE("enable", K_BOOL, extensions.lint_enable, bool, "false", "true"),
	VALUE("mandatoryAnnotations", K_STRINGS, extensions.lint_annotations,
	      struct cfg_strings, NULL, NULL),
};
/* clang-format on */

static const struct key search_keys[] = {
	/* As in zot, naming the search section turns search on. */
	VALUE("enable", K_BOOL, extensions.search_enable, bool, "false",
	      "true"),
	/* No vulnerability scanner is packaged: accepted, warned about. */
	ZOT_ONLY("cve"),
};

static const struct key ui_keys[] = {
	BOOL("enable", extensions.ui_enable, "false"),
};

static const struct key extensions_keys[] = {
	SECTION("search", search_keys),  {.name = "sync", .kind = K_SYNC},
	SECTION("metrics", metrics_keys), SECTION("scrub", scrub_keys),
	SECTION("lint", lint_keys), SECTION("ui", ui_keys),
	SECTION("mgmt", mgmt_keys),    ZOT_ONLY("apiKey"),
	ZOT_ONLY("trust"),   {.name = "events", .kind = K_EVENTS},
};

/* dray's own section. */
static const struct key fuse_keys[] = {
	PATH("mountpoint", fuse.mountpoint),
	BOOL("readOnly", fuse.read_only, "false"),
	BOOL("allowOther", fuse.allow_other, "false"),
	ID("uid", fuse.uid),
	ID("gid", fuse.gid),
};

static const struct key top_keys[] = {
	VERSION("distSpecVersion", dist_spec_version, "1.1.0"),
	ZOT_ONLY("goVersion"),
	ZOT_ONLY("commit"),
	ZOT_ONLY("releaseTag"),
	ZOT_ONLY("binaryType"),
	SECTION("storage", storage_keys),
	SECTION("http", http_keys),
	SECTION("log", log_keys),
	SECTION("extensions", extensions_keys),
	ZOT_ONLY("scheduler"),
	ZOT_ONLY("cluster"),
	SECTION("fuse", fuse_keys),
};

/* walk() tracks the keys of one mapping in an array of this size. */
_Static_assert(ARRAY_SIZE(top_keys) <= CFG_KEYS_MAX, "top_keys");
_Static_assert(ARRAY_SIZE(http_keys) <= CFG_KEYS_MAX, "http_keys");
_Static_assert(ARRAY_SIZE(storage_keys) <= CFG_KEYS_MAX, "storage_keys");
_Static_assert(ARRAY_SIZE(extensions_keys) <= CFG_KEYS_MAX, "extensions");
_Static_assert(ARRAY_SIZE(fuse_keys) <= CFG_KEYS_MAX, "fuse_keys");
_Static_assert(ARRAY_SIZE(auth_keys) <= CFG_KEYS_MAX, "auth_keys");

enum conv { CONV_OK, CONV_BAD, CONV_NOMEM };

struct ctx {
	yaml_document_t *doc; /* the loaded document */
	const char *name;     /* the file's name, for messages */
	struct cfg *cfg;      /* being filled */
	struct err *err;      /* the caller's */
};

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static char to_lower(char c)
{
	return is_upper(c) ? (char)(c - 'A' + 'a') : c;
}

/*
 * Does the key @s (@len bytes) spell @canon? zot's loader (and its `zot
 * schema`) takes a key as spelled canonically, all in lowercase
 * ("rootdirectory", used in zot's own YAML example), or with runs of
 * capitals folded after their first ("externalUrl"). Nothing else matches.
 */
static bool key_is(const char *canon, const char *s, size_t len)
{
	char lower[CFG_NAME_MAX], folded[CFG_NAME_MAX];
	size_t n = strlen(canon), i;

	assert(n < CFG_NAME_MAX);
	if (len != n)
		return false;
	if (memcmp(s, canon, n) == 0)
		return true;
	for (i = 0; i < n; i++) {
		lower[i] = to_lower(canon[i]);
		folded[i] = canon[i];
		if (i > 0 && is_upper(canon[i]) && is_upper(canon[i - 1]))
			folded[i] = lower[i];
	}
	return memcmp(s, lower, n) == 0 || memcmp(s, folded, n) == 0;
}

static const struct key *lookup(const struct key *keys, size_t n, const char *s,
                                size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (key_is(keys[i].name, s, len))
			return &keys[i];
	return NULL;
}

/*
 * Copy at most @max bytes of @s into @dst for a message, replacing control
 * characters so that a key or value from the file cannot break a log line.
 */
static void clean(char *dst, size_t size, const char *s, size_t len, size_t max)
{
	size_t i, n = len < max ? len : max;

	assert(size > 0);
	if (n > size - 1)
		n = size - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
}

/* @parent.@key into @dst, truncated to fit: it only ever feeds messages. */
static void join(char *dst, size_t size, const char *parent, const char *key,
                 size_t len)
{
	int n = 0;

	if (parent[0])
		n = snprintf(dst, size, "%s.", parent);
	if (n < 0 || (size_t)n >= size)
		return;
	clean(dst + n, size - (size_t)n, key, len, len);
}

static int bad(struct ctx *c, const yaml_node_t *node, const char *path,
               const char *fmt, ...) PRINTF(4, 5);
static int walk(struct ctx *c, const yaml_node_t *map, const struct key *keys,
                size_t n, const char *path);

/* Fail with ERR_INVALID "file:line:col: path: what" at @node. */
static int bad(struct ctx *c, const yaml_node_t *node, const char *path,
               const char *fmt, ...)
{
	char what[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(c->err, ERR_INVALID, "%s:%zu:%zu: %s%s%s", c->name,
	               node->start_mark.line + 1, node->start_mark.column + 1,
	               path, path[0] ? ": " : "", what);
}

static int nomem(struct err *err)
{
	return err_set(err, ERR_NOMEM, "out of memory");
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* YAML's null, which as in zot leaves a key at its default. */
static bool is_null(const yaml_node_t *node)
{
	const char *s;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar(node);
	return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Parse the decimal digits of @s into *out, if it fits below @max. */
static bool parse_digits(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* "1.<minor>.<patch>", with an optional "-<prerelease>" as in "1.1.0-rc.4". */
static bool is_version(const char *s)
{
	size_t n;

	if (strncmp(s, "1.", 2) != 0)
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		n = strspn(s, "0123456789");
		if (n == 0)
			return false;
		s += n;
		if (part == 0 && *s++ != '.')
			return false;
	}
	if (*s == '\0')
		return true;
	if (*s++ != '-' || *s == '\0')
		return false;
	return s[strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-")] == '\0';
}

static enum conv store_string(char **field, const char *s)
{
	char *dup = strdup(s);

	if (!dup)
		return CONV_NOMEM;
	free(*field);
	*field = dup;
	return CONV_OK;
}

/*
 * A path zot takes for extensions.metrics.prometheus.path: absolute and
 * unchanged by path.Clean, and neither "/" nor "/v2" (nor, in dray, under
 * /v2/, where it would hide a repository).
 */
static bool is_route(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '/' || n == 1 || s[n - 1] == '/' || strstr(s, "//") ||
	    strstr(s, "/./") || strstr(s, "/../"))
		return false;
	if ((n >= 2 && !strcmp(s + n - 2, "/.")) ||
	    (n >= 3 && !strcmp(s + n - 3, "/..")))
		return false;
	return strcmp(s, "/v2") != 0 && strncmp(s, "/v2/", 4) != 0;
}

/*
 * Store @s, the text of a scalar (@len bytes, NUL-terminated), as the value
 * of @k in @cfg. Booleans, ports and ids are accepted quoted or not, since
 * zot's JSON examples quote the port.
 */
static enum conv convert(struct cfg *cfg, const struct key *k, const char *s,
                         size_t len)
{
	void *field = (char *)cfg + k->off;
	uint64_t v;

	/* libyaml passes "\0" escapes through; C strings cannot hold them. */
	if (strlen(s) != len)
		return CONV_BAD;
	switch (k->kind) {
	case K_PATH:
	case K_STRING:
		if (k->kind == K_PATH && len == 0)
			return CONV_BAD;
		return store_string(field, s);
	case K_VERSION:
		if (!is_version(s))
			return CONV_BAD;
		return store_string(field, s);
	case K_BOOL:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return CONV_BAD;
		*(bool *)field = s[0] == 't';
		return CONV_OK;
	case K_PORT:
		if (!parse_digits(s, 65535, &v))
			return CONV_BAD;
		*(int *)field = (int)v;
		return CONV_OK;
	case K_DURATION:
		if (cfg_duration_parse(s, field) < 0)
			return CONV_BAD;
		return CONV_OK;
	case K_LEVEL:
		if (log_level_parse(s, field) < 0)
			return CONV_BAD;
		return CONV_OK;
	case K_ID:
		if (!strcmp(s, "-1")) {
			*(int64_t *)field = -1;
			return CONV_OK;
		}
		if (!parse_digits(s, UINT32_MAX - 1, &v))
			return CONV_BAD;
		*(int64_t *)field = (int64_t)v;
		return CONV_OK;
	case K_COUNT:
		if (!parse_digits(s, INT64_MAX, &v))
			return CONV_BAD;
		*(uint64_t *)field = v;
		return CONV_OK;
	case K_ROUTE:
		if (!is_route(s))
			return CONV_BAD;
		return store_string(field, s);
	case K_LOG_FORMAT:
		if (log_format_parse(s, field) < 0)
			return CONV_BAD;
		return CONV_OK;
	case K_SECTION:
	case K_UNSUPPORTED:
	case K_RETENTION:
	case K_ACCESS:
	case K_IDATTRS:
	case K_STRINGS:
	case K_SYNC:
	case K_EVENTS:
		break;
	}
	assert(!"convert() called on a section");
	return CONV_BAD;
}

/* Apply the defaults of @keys and the sections below them. */
static int set_defaults(struct cfg *cfg, const struct key *keys, size_t n,
                        struct err *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct key *k = &keys[i];
		enum conv r;

		if (k->kind == K_SECTION &&
		    set_defaults(cfg, k->sub, k->n_sub, err) < 0)
			return -1;
		if (!k->def)
			continue;
		r = convert(cfg, k, k->def, strlen(k->def));
		if (r == CONV_NOMEM)
			return nomem(err);
		/* The tables are ours: a bad default is a bug. */
		assert(r == CONV_OK);
	}
	return 0;
}

static int note_unsupported(struct ctx *c, const char *path,
                            const yaml_node_t *key)
{
	struct cfg *cfg = c->cfg;
	char **list, buf[CFG_PATH_MAX + 32];

	list = realloc(cfg->unsupported,
	               (cfg->n_unsupported + 1) * sizeof(*list));
	if (!list)
		return nomem(c->err);
	cfg->unsupported = list;
	snprintf(buf, sizeof(buf), "%s (line %zu)", path,
	         key->start_mark.line + 1);
	list[cfg->n_unsupported] = strdup(buf);
	if (!list[cfg->n_unsupported])
		return nomem(c->err);
	cfg->n_unsupported++;
	return 0;
}

/* Read @value, a scalar, as the value of @k named @path. */
static int value(struct ctx *c, const struct key *k, const yaml_node_t *value,
                 const char *path)
{
	char shown[48];
	enum conv r;

	if (is_null(value))
		return 0;
	if (value->type != YAML_SCALAR_NODE)
		return bad(c, value, path, "%s", expected[k->kind]);
	r = convert(c->cfg, k, scalar(value), value->data.scalar.length);
	if (r == CONV_NOMEM)
		return nomem(c->err);
	if (r == CONV_OK)
		return 0;
	clean(shown, sizeof(shown), scalar(value), value->data.scalar.length,
	      40);
	return bad(c, value, path, "%s, got '%s%s'", expected[k->kind], shown,
	           value->data.scalar.length > 40 ? "..." : "");
}

/*
 * storage.retention is lists of mappings, which the key tables do not
 * describe; it is read here, with the same rules: unknown or duplicate
 * keys and bad values are errors at their line.
 */

/* Iterate the pairs of mapping @map: @fn gets each key's name. */
static int each_pair(struct ctx *c, const yaml_node_t *map, const char *path,
                     const char *const *names, size_t n_names,
                     int (*fn)(struct ctx *c, size_t which,
                               const yaml_node_t *v, const char *path,
                               void *arg),
                     void *arg)
{
	bool seen[16] = {0};
	yaml_node_pair_t *pair;
	char child[CFG_PATH_MAX];

	assert(n_names <= ARRAY_SIZE(seen));
	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return bad(c, map, path, "expected a mapping");
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		size_t i;

		if (kn->type != YAML_SCALAR_NODE)
			return bad(c, kn, path, "expected a scalar key");
		join(child, sizeof(child), path, scalar(kn),
		     kn->data.scalar.length);
		for (i = 0; i < n_names; i++)
			if (key_is(names[i], scalar(kn),
			           kn->data.scalar.length))
				break;
		if (i == n_names)
			return bad(c, kn, child, "unknown key");
		if (seen[i])
			return bad(c, kn, child, "duplicate key");
		seen[i] = true;
		if (!is_null(vn) && fn(c, i, vn, child, arg) < 0)
			return -1;
	}
	return 0;
}

static int want_scalar(struct ctx *c, const yaml_node_t *v, const char *path,
                       const char *what)
{
	if (v->type != YAML_SCALAR_NODE ||
	    strlen(scalar(v)) != v->data.scalar.length)
		return bad(c, v, path, "%s", what);
	return 0;
}

static int get_bool(struct ctx *c, const yaml_node_t *v, const char *path,
                    bool *out)
{
	if (want_scalar(c, v, path, expected[K_BOOL]) < 0)
		return -1;
	if (strcmp(scalar(v), "true") && strcmp(scalar(v), "false"))
		return bad(c, v, path, "%s", expected[K_BOOL]);
	*out = scalar(v)[0] == 't';
	return 0;
}

static int get_duration(struct ctx *c, const yaml_node_t *v, const char *path,
                        uint64_t *out)
{
	if (want_scalar(c, v, path, expected[K_DURATION]) < 0 ||
	    cfg_duration_parse(scalar(v), out) < 0)
		return bad(c, v, path, "%s", expected[K_DURATION]);
	return 0;
}

/* A sequence of strings; with @regex set, each must compile. */
static int get_strings(struct ctx *c, const yaml_node_t *v, const char *path,
                       bool regex, char ***out, size_t *n)
{
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of strings");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		char **grown;
		regex_t re;

		if (want_scalar(c, item, path, "expected a string") < 0)
			return -1;
		if (regex) {
			if (regcomp(&re, scalar(item), REG_EXTENDED | REG_NOSUB))
				return bad(c, item, path,
				           "invalid regular expression");
			regfree(&re);
		}
		grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (!grown)
			return nomem(c->err);
		*out = grown;
		(*out)[*n] = strdup(scalar(item));
		if (!(*out)[*n])
			return nomem(c->err);
		(*n)++;
	}
	return 0;
}

static int keep_field(struct ctx *c, size_t which, const yaml_node_t *v,
                      const char *path, void *arg)
{
	struct store_keep_tags *k = arg;
	uint64_t count;

	switch (which) {
	case 0:
		return get_strings(c, v, path, true, &k->patterns,
		                   &k->n_patterns);
	case 1:
		return get_duration(c, v, path, &k->pulled_within_ms);
	case 2:
		return get_duration(c, v, path, &k->pushed_within_ms);
	default:
		if (want_scalar(c, v, path, "expected a count") < 0 ||
		    !parse_digits(scalar(v), INT32_MAX, &count))
			return bad(c, v, path, "expected a count");
		*(which == 3 ? &k->pushed_count : &k->pulled_count) =
			(int64_t)count;
		return 0;
	}
}

/* Stars a repository glob may have (ref_glob_match recurses at each). */
#define GLOB_STARS_MAX 8

/* Is @glob a usable repository glob (ref_glob_match)? */
static bool glob_ok(const char *glob)
{
	size_t stars = 0;

	for (const char *p = glob; *p; p++)
		stars += *p == '*';
	return *glob && stars <= GLOB_STARS_MAX && !strpbrk(glob, "{}[]\\");
}

static int policy_field(struct ctx *c, size_t which, const yaml_node_t *v,
                        const char *path, void *arg)
{
	static const char *const keep_names[] = {
		"patterns", "pulledWithin", "pushedWithin",
		"mostRecentlyPushedCount", "mostRecentlyPulledCount"};
	struct store_policy *p = arg;
	yaml_node_item_t *it;

	switch (which) {
	case 0:
		if (get_strings(c, v, path, false, &p->repositories,
		                &p->n_repositories) < 0)
			return -1;
		for (size_t i = 0; i < p->n_repositories; i++)
			if (!glob_ok(p->repositories[i]))
				return bad(c, v, path,
				           "expected repository globs with at "
				           "most %d stars and no braces, classes "
				           "or escapes",
				           GLOB_STARS_MAX);
		return 0;
	case 1:
		return get_bool(c, v, path, &p->delete_referrers);
	case 2:
		return get_bool(c, v, path, &p->delete_untagged);
	default:
		break;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of mappings");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		struct store_keep_tags *grown;

		grown = realloc(p->keep_tags,
		                (p->n_keep_tags + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		p->keep_tags = grown;
		grown[p->n_keep_tags] = (struct store_keep_tags){
			.pushed_count = -1, .pulled_count = -1};
		p->n_keep_tags++;
		if (each_pair(c, yaml_document_get_node(c->doc, *it), path,
		              keep_names, ARRAY_SIZE(keep_names), keep_field,
		              &grown[p->n_keep_tags - 1]) < 0)
			return -1;
	}
	return 0;
}

static int retention_field(struct ctx *c, size_t which, const yaml_node_t *v,
                           const char *path, void *arg)
{
	static const char *const policy_names[] = {
		"repositories", "deleteReferrers", "deleteUntagged",
		"keepTags"};
	struct cfg *cfg = arg;
	yaml_node_item_t *it;

	if (which == 0)
		return get_bool(c, v, path, &cfg->storage.retention.dry_run);
	if (which == 1)
		return get_duration(c, v, path,
		                    &cfg->storage.retention.delay_ms);
	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of mappings");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *pn = yaml_document_get_node(c->doc, *it);
		struct store_policy *grown;
		size_t n = cfg->storage.retention.n_policies;

		grown = realloc(cfg->storage.retention.policies,
		                (n + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		cfg->storage.retention.policies = grown;
		grown[n] = (struct store_policy){.delete_untagged = true};
		cfg->storage.retention.n_policies++;
		if (each_pair(c, pn, path, policy_names,
		              ARRAY_SIZE(policy_names), policy_field,
		              &grown[n]) < 0)
			return -1;
		if (!grown[n].n_repositories)
			return bad(c, pn, path,
			           "a policy needs a repositories list");
	}
	return 0;
}

static int parse_retention(struct ctx *c, const yaml_node_t *map,
                           const char *path)
{
	static const char *const names[] = {"dryRun", "delay", "policies"};

	return each_pair(c, map, path, names, ARRAY_SIZE(names),
	                 retention_field, c->cfg);
}

/*
 * Read the pairs of @map against @keys, noting in @first_line[i] the line
 * of the key that matched @keys[i].
 */
/* A list of actions into *@out (enum access_action bits). */
static int get_actions(struct ctx *c, const yaml_node_t *v, const char *path,
                       unsigned *out)
{
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of actions");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		unsigned a;

		if (want_scalar(c, item, path, "expected an action") < 0)
			return -1;
		a = access_action_parse(scalar(item));
		if (!a)
			return bad(c, item, path,
			           "unknown action '%s' (read, create, update, "
			           "delete, detectManifestCollision)",
			           scalar(item));
		*out |= a;
	}
	return 0;
}

/* {users, groups, actions}: a policy, adminPolicy. */
static int policy_pair(struct ctx *c, size_t which, const yaml_node_t *v,
                       const char *path, void *arg)
{
	struct access_policy *p = arg;

	if (which == 0)
		return get_strings(c, v, path, false, &p->users, &p->n_users);
	if (which == 1)
		return get_strings(c, v, path, false, &p->groups, &p->n_groups);
	return get_actions(c, v, path, &p->actions);
}

static const char *const access_policy_names[] = {"users", "groups", "actions"};

static int rule_field(struct ctx *c, size_t which, const yaml_node_t *v,
                      const char *path, void *arg)
{
	struct access_rule *r = arg;
	yaml_node_item_t *it;

	if (which == 0)
		return get_actions(c, v, path, &r->actions);
	if (which == 1)
		return get_actions(c, v, path, &r->default_actions);
	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of policies");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		struct access_policy *grown;

		grown = realloc(r->policies,
		                (r->n_policies + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		r->policies = grown;
		grown[r->n_policies++] = (struct access_policy){0};
		if (each_pair(c, yaml_document_get_node(c->doc, *it), path,
		              access_policy_names,
		              ARRAY_SIZE(access_policy_names), policy_pair,
		              &grown[r->n_policies - 1]) < 0)
			return -1;
	}
	return 0;
}

static int repositories(struct ctx *c, const yaml_node_t *v, const char *path)
{
	static const char *const rule_names[] = {"anonymousPolicy",
	                                         "defaultPolicy", "policies"};
	struct access *a = &c->cfg->http.access;
	char child[CFG_PATH_MAX];
	yaml_node_pair_t *pair;

	if (v->type != YAML_MAPPING_NODE)
		return bad(c, v, path,
		           "expected a mapping of repository globs");
	for (pair = v->data.mapping.pairs.start;
	     pair < v->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		struct access_rule *grown;
		const char *glob;

		if (want_scalar(c, kn, path, "expected a repository glob") < 0)
			return -1;
		glob = scalar(kn);
		join(child, sizeof(child), path, glob, kn->data.scalar.length);
		if (!glob_ok(glob))
			return bad(c, kn, child,
			           "expected a repository glob with at most "
			           "%d stars and no braces, classes or escapes",
			           GLOB_STARS_MAX);
		for (size_t i = 0; i < a->n_rules; i++)
			if (strcmp(a->rules[i].glob, glob) == 0)
				return bad(c, kn, child, "duplicate key");
		grown = realloc(a->rules, (a->n_rules + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		a->rules = grown;
		grown[a->n_rules] = (struct access_rule){.glob = strdup(glob)};
		if (!grown[a->n_rules].glob)
			return nomem(c->err);
		a->n_rules++;
		if (each_pair(c, vn, child, rule_names, ARRAY_SIZE(rule_names),
		              rule_field, &grown[a->n_rules - 1]) < 0)
			return -1;
	}
	return 0;
}

/* accessControl.groups: name -> {users}. */
static int groups(struct ctx *c, const yaml_node_t *v, const char *path)
{
	static const char *const group_names[] = {"users"};
	struct access *a = &c->cfg->http.access;
	char child[CFG_PATH_MAX];
	yaml_node_pair_t *pair;

	if (v->type != YAML_MAPPING_NODE)
		return bad(c, v, path, "expected a mapping of group names");
	for (pair = v->data.mapping.pairs.start;
	     pair < v->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		struct access_group *grown;
		struct access_policy users = {0};
		int ret;

		if (want_scalar(c, kn, path, "expected a group name") < 0)
			return -1;
		join(child, sizeof(child), path, scalar(kn),
		     kn->data.scalar.length);
		for (size_t i = 0; i < a->n_groups; i++)
			if (strcmp(a->groups[i].name, scalar(kn)) == 0)
				return bad(c, kn, child, "duplicate key");
		grown = realloc(a->groups, (a->n_groups + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		a->groups = grown;
		grown[a->n_groups] =
			(struct access_group){.name = strdup(scalar(kn))};
		if (!grown[a->n_groups].name)
			return nomem(c->err);
		ret = each_pair(c, vn, child, group_names,
		                ARRAY_SIZE(group_names), policy_pair, &users);
		grown[a->n_groups].users = users.users;
		grown[a->n_groups].n_users = users.n_users;
		a->n_groups++;
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int access_field(struct ctx *c, size_t which, const yaml_node_t *v,
                        const char *path, void *arg)
{
	static const char *const metrics_names[] = {"users"};
	struct access *a = &c->cfg->http.access;
	struct access_policy metrics = {0};
	int ret;

	(void)arg;
	switch (which) {
	case 0:
		return repositories(c, v, path);
	case 1:
		return groups(c, v, path);
	case 2:
		return each_pair(c, v, path, access_policy_names,
		                 ARRAY_SIZE(access_policy_names), policy_pair,
		                 &a->admin);
	default:
		ret = each_pair(c, v, path, metrics_names,
		                ARRAY_SIZE(metrics_names), policy_pair,
		                &metrics);
		a->metrics_users = metrics.users;
		a->n_metrics_users = metrics.n_users;
		return ret;
	}
}

static const yaml_node_t *find(yaml_document_t *doc, const yaml_node_t *map,
                               const char *name);

/* The http.auth.ldap mapping of @root, or NULL (absent or null). */
static const yaml_node_t *ldap_section(yaml_document_t *doc,
                                       const yaml_node_t *root)
{
	static const char *const path[] = {"http", "auth", "ldap"};
	const yaml_node_t *n = root;

	for (size_t i = 0; n && i < ARRAY_SIZE(path); i++)
		n = find(doc, n, path[i]);
	return n && n->type == YAML_MAPPING_NODE ? n : NULL;
}

/*
 * http.accessControl. Present, it governs (zot's IsAuthzEnabled). A
 * policy naming a group nobody defined would quietly grant nothing, or
 * be a typo that grants the wrong thing: refused.
 */
static int parse_access(struct ctx *c, const yaml_node_t *map, const char *path)
{
	static const char *const names[] = {"repositories", "groups",
	                                    "adminPolicy", "metrics"};
	const char *group, *where;

	if (each_pair(c, map, path, names, ARRAY_SIZE(names), access_field,
	              NULL) < 0)
		return -1;
	if (is_null(map))
		return 0;
	c->cfg->http.access.on = true;
	group = access_unknown_group(&c->cfg->http.access, &where);
	/* With LDAP, groups also come from the directory (memberOf). */
	if (group && !ldap_section(c->doc, yaml_document_get_root_node(c->doc)))
		return bad(c, map, path,
		           "a policy of '%s' names group '%s', which "
		           "accessControl.groups does not define",
		           where, group);
	return 0;
}

/* http.auth.mtls.identityAttributes: names zot knows, in order. */
static int parse_idattrs(struct ctx *c, const yaml_node_t *v, const char *path)
{
	struct cfg *cfg = c->cfg;

	if (is_null(v))
		return 0;
	if (get_strings(c, v, path, false, &cfg->http.mtls_attrs,
	                &cfg->http.n_mtls_attrs) < 0)
		return -1;
	for (size_t i = 0; i < cfg->http.n_mtls_attrs; i++)
		if (!http_mtls_attr_known(cfg->http.mtls_attrs[i]))
			return bad(c, v, path, "%s, got '%.40s'",
			           expected[K_IDATTRS],
			           cfg->http.mtls_attrs[i]);
	return 0;
}

/*
 * extensions.sync (zot's sync.Config): lists of mappings, read like
 * storage.retention. Keys zot has and dray does not run are recorded as
 * unsupported.
 */
static int get_string(struct ctx *c, const yaml_node_t *v, const char *path,
                      char **out)
{
	if (want_scalar(c, v, path, "expected a string") < 0)
		return -1;
	free(*out);
	*out = strdup(scalar(v));
	return *out ? 0 : nomem(c->err);
}

static int get_regex(struct ctx *c, const yaml_node_t *v, const char *path,
                     char **out)
{
	regex_t re;

	if (get_string(c, v, path, out) < 0)
		return -1;
	if (regcomp(&re, *out, REG_EXTENDED | REG_NOSUB))
		return bad(c, v, path, "invalid regular expression");
	regfree(&re);
	return 0;
}

static int sync_tags_field(struct ctx *c, size_t which, const yaml_node_t *v,
                           const char *path, void *arg)
{
	struct sync_content *ct = arg;

	if (which == 0)
		return get_regex(c, v, path, &ct->tags_regex);
	if (which == 1)
		return get_regex(c, v, path, &ct->tags_exclude);
	return get_bool(c, v, path, &ct->tags_semver);
}

static int sync_content_field(struct ctx *c, size_t which, const yaml_node_t *v,
                              const char *path, void *arg)
{
	static const char *const tags_names[] = {"regex", "excludeRegex",
	                                         "semver"};
	struct sync_content *ct = arg;

	switch (which) {
	case 0:
		if (get_string(c, v, path, &ct->prefix) < 0)
			return -1;
		if (!glob_ok(ct->prefix[0] == '/' ? ct->prefix + 1
		                                  : ct->prefix))
			return bad(c, v, path,
			           "expected a repository glob with at most "
			           "%d stars and no braces, classes or escapes",
			           GLOB_STARS_MAX);
		return 0;
	case 1:
		return each_pair(c, v, path, tags_names, ARRAY_SIZE(tags_names),
		                 sync_tags_field, ct);
	case 2:
		return get_string(c, v, path, &ct->destination);
	case 3:
		return get_bool(c, v, path, &ct->strip_prefix);
	default:
		return note_unsupported(c, path, v);
	}
}

static int sync_registry_field(struct ctx *c, size_t which,
                               const yaml_node_t *v, const char *path,
                               void *arg)
{
	static const char *const content_names[] = {
		"prefix", "tags", "destination", "stripPrefix", "platforms"};
	struct sync_registry *r = arg;
	yaml_node_item_t *it;
	uint64_t n;

	switch (which) {
	case 0:
		return get_strings(c, v, path, false, &r->urls, &r->n_urls);
	case 1:
		return get_duration(c, v, path, &r->poll_interval_ms);
	case 3:
		return get_bool(c, v, path, &r->tls_verify);
	case 4:
		return get_bool(c, v, path, &r->on_demand);
	case 5:
		return get_string(c, v, path, &r->cert_dir);
	case 6:
		if (want_scalar(c, v, path, "expected a count") < 0 ||
		    !parse_digits(scalar(v), 100, &n))
			return bad(c, v, path, "expected a count 0..100");
		r->max_retries = n;
		return 0;
	case 7:
		return get_duration(c, v, path, &r->retry_delay_ms);
	case 8:
		return get_bool(c, v, path, &r->only_signed);
	case 9:
		return get_bool(c, v, path, &r->preserve_digest);
	case 10:
		return get_duration(c, v, path, &r->sync_timeout_ms);
	case 15: /* dray's own */
		return get_duration(c, v, path, &r->tag_recheck_ms);
	case 2:
		break;
	default:
		return note_unsupported(c, path, v);
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of mappings");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *cn = yaml_document_get_node(c->doc, *it);
		struct sync_content *grown;

		grown = realloc(r->content,
		                (r->n_content + 1) * sizeof(*grown));
		if (!grown)
			return nomem(c->err);
		r->content = grown;
		grown[r->n_content++] = (struct sync_content){0};
		if (each_pair(c, cn, path, content_names,
		              ARRAY_SIZE(content_names), sync_content_field,
		              &grown[r->n_content - 1]) < 0)
			return -1;
		if (!grown[r->n_content - 1].prefix)
			return bad(c, cn, path, "content needs a prefix");
	}
	return 0;
}

static int sync_registry(struct ctx *c, size_t which, const yaml_node_t *v,
                         const char *path, void *arg)
{
	static const char *const reg_names[] = {"urls",
	                                        "pollInterval",
	                                        "content",
	                                        "tlsVerify",
	                                        "onDemand",
	                                        "certDir",
	                                        "maxRetries",
	                                        "retryDelay",
	                                        "onlySigned",
	                                        "preserveDigest",
	                                        "syncTimeout",
	                                        "maxRetryDelay",
	                                        "syncLegacyCosignTags",
	                                        "credentialHelper",
	                                        "oauth2CredentialHelper",
	                                        "tagRecheckInterval"};
	struct sync_cfg *sc = arg;
	struct sync_registry *grown;
	size_t n = sc->n_registries;

	(void)which;
	grown = realloc(sc->registries, (n + 1) * sizeof(*grown));
	if (!grown)
		return nomem(c->err);
	sc->registries = grown;
	grown[n] = (struct sync_registry){
		.tls_verify = true, .tag_recheck_ms = SYNC_TAG_RECHECK_DEF_MS};
	sc->n_registries++;
	if (each_pair(c, v, path, reg_names, ARRAY_SIZE(reg_names),
	              sync_registry_field, &grown[n]) < 0)
		return -1;
	if (!grown[n].n_urls)
		return bad(c, v, path, "a registry needs urls");
	return 0;
}

/* A list of mappings: @fn gets each, with @which -1. */
static int each_item(struct ctx *c, const yaml_node_t *v, const char *path,
                     int (*fn)(struct ctx *c, size_t which,
                               const yaml_node_t *v, const char *path,
                               void *arg),
                     void *arg)
{
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE)
		return bad(c, v, path, "expected a list of mappings");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++)
		if (fn(c, (size_t)-1, yaml_document_get_node(c->doc, *it), path,
		       arg) < 0)
			return -1;
	return 0;
}

static int sync_field(struct ctx *c, size_t which, const yaml_node_t *v,
                      const char *path, void *arg)
{
	struct sync_cfg *sc = arg;

	if (which == 0)
		return get_bool(c, v, path, &sc->enable);
	if (which == 1)
		return get_string(c, v, path, &sc->credentials_file);
	if (which == 2)
		return get_string(c, v, path, &sc->download_dir);
	return each_item(c, v, path, sync_registry, sc);
}

/* extensions.sync, then what it names: URLs, the credentials file. */
static int parse_sync(struct ctx *c, const yaml_node_t *map, const char *path)
{
	static const char *const names[] = {"enable", "credentialsFile",
	                                    "downloadDir", "registries"};
	struct sync_cfg *sc = &c->cfg->extensions.sync;
	struct err e = ERR_INIT;

	sc->enable = true; /* as in zot, naming the section turns it on */
	if (each_pair(c, map, path, names, ARRAY_SIZE(names), sync_field, sc) <
	    0)
		return -1;
	if (!sc->enable || sync_cfg_check(sc, &e) == 0)
		return 0;
	if (e.code == ERR_NOMEM)
		return nomem(c->err);
	return bad(c, map, path, "%s", e.msg);
}

/*
 * extensions.events (zot's events.Config): a list of sink mappings, read
 * like extensions.sync; a sink's headers are a mapping of any names.
 */
static int event_headers(struct ctx *c, const yaml_node_t *map,
                         const char *path, struct events_sink_cfg *s)
{
	yaml_node_pair_t *pair;

	if (map->type != YAML_MAPPING_NODE)
		return bad(c, map, path, "expected a mapping");
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		size_t n = s->n_headers;
		char **names, **values;

		if (want_scalar(c, kn, path, "expected a header name") < 0 ||
		    want_scalar(c, vn, path, "expected a string") < 0)
			return -1;
		names = realloc(s->header_names, (n + 1) * sizeof(*names));
		if (names)
			s->header_names = names;
		values = realloc(s->header_values, (n + 1) * sizeof(*values));
		if (values)
			s->header_values = values;
		if (!names || !values)
			return nomem(c->err);
		names[n] = strdup(scalar(kn));
		values[n] = strdup(scalar(vn));
		s->n_headers++;
		if (!names[n] || !values[n])
			return nomem(c->err);
	}
	return 0;
}

static int event_creds_field(struct ctx *c, size_t which, const yaml_node_t *v,
                             const char *path, void *arg)
{
	struct events_sink_cfg *s = arg;
	char **fields[] = {&s->username, &s->password, &s->token,
	                   &s->credentials_file};

	return get_string(c, v, path, fields[which]);
}

static int event_sink_field(struct ctx *c, size_t which, const yaml_node_t *v,
                            const char *path, void *arg)
{
	static const char *const cred_names[] = {"username", "password",
	                                         "token", "file"};
	struct events_sink_cfg *s = arg;

	switch (which) {
	case 0:
		return get_string(c, v, path, &s->type);
	case 1:
		return get_string(c, v, path, &s->address);
	case 2:
		return get_duration(c, v, path, &s->timeout_ms);
	case 3:
		return event_headers(c, v, path, s);
	case 4:
		return each_pair(c, v, path, cred_names, ARRAY_SIZE(cred_names),
		                 event_creds_field, s);
	default:
		return note_unsupported(c, path, v);
	}
}

static int event_sink(struct ctx *c, size_t which, const yaml_node_t *v,
                      const char *path, void *arg)
{
	static const char *const sink_names[] = {
		"type",        "address", "timeout", "headers",
		"credentials", "channel", "proxy",   "tls"};
	struct events_cfg *ec = arg;
	struct events_sink_cfg *grown;
	size_t n = ec->n_sinks;

	(void)which;
	grown = realloc(ec->sinks, (n + 1) * sizeof(*grown));
	if (!grown)
		return nomem(c->err);
	ec->sinks = grown;
	grown[n] = (struct events_sink_cfg){0};
	ec->n_sinks++;
	return each_pair(c, v, path, sink_names, ARRAY_SIZE(sink_names),
	                 event_sink_field, &grown[n]);
}

static int events_field(struct ctx *c, size_t which, const yaml_node_t *v,
                        const char *path, void *arg)
{
	struct events_cfg *ec = arg;

	switch (which) {
	case 0:
		return get_bool(c, v, path, &ec->enable);
	case 2:
		return get_string(c, v, path, &ec->source);
	case 3:
		return get_string(c, v, path, &ec->type_prefix);
	case 4:
		return get_duration(c, v, path, &ec->retry_delay_ms);
	case 5:
		return get_duration(c, v, path, &ec->max_retry_delay_ms);
	case 6:
		if (want_scalar(c, v, path, expected[K_COUNT]) < 0 ||
		    !parse_digits(scalar(v), INT64_MAX, &ec->max_queued))
			return bad(c, v, path, "%s", expected[K_COUNT]);
		return 0;
	default:
		return each_item(c, v, path, event_sink, ec);
	}
}

/* extensions.events, then what it names: the sinks' credentials files. */
static int parse_events(struct ctx *c, const yaml_node_t *map, const char *path)
{
	/* zot's keys, then dray's own bounds on its queue. */
	static const char *const names[] = {
		"enable",     "sinks",         "source",   "typePrefix",
		"retryDelay", "maxRetryDelay", "maxQueued"};
	struct events_cfg *ec = &c->cfg->extensions.events;
	struct err e = ERR_INIT;

	ec->enable = true; /* as in zot, naming the section turns it on */
	if (each_pair(c, map, path, names, ARRAY_SIZE(names), events_field,
	              ec) < 0)
		return -1;
	if (!ec->enable || events_cfg_check(ec, &e) == 0)
		return 0;
	if (e.code == ERR_NOMEM)
		return nomem(c->err);
	return bad(c, map, path, "%s", e.msg);
}

static int pairs(struct ctx *c, const yaml_node_t *map, const struct key *keys,
                 size_t n, const char *path, size_t *first_line)
{
	char child[CFG_PATH_MAX];
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		const struct key *k;
		size_t i;

		if (kn->type != YAML_SCALAR_NODE)
			return bad(c, kn, path, "expected a scalar key");
		join(child, sizeof(child), path, scalar(kn),
		     kn->data.scalar.length);
		k = lookup(keys, n, scalar(kn), kn->data.scalar.length);
		if (!k)
			return bad(c, kn, child, "unknown key");
		i = (size_t)(k - keys);
		if (first_line[i])
			return bad(c, kn, child,
			           "duplicate key (first on line %zu)",
			           first_line[i]);
		first_line[i] = kn->start_mark.line + 1;

		if (k->kind == K_UNSUPPORTED) {
			if (note_unsupported(c, child, kn) < 0)
				return -1;
		} else if (k->kind == K_SECTION) {
			if (walk(c, vn, k->sub, k->n_sub, child) < 0)
				return -1;
		} else if (k->kind == K_RETENTION) {
			if (parse_retention(c, vn, child) < 0)
				return -1;
		} else if (k->kind == K_ACCESS) {
			if (parse_access(c, vn, child) < 0)
				return -1;
		} else if (k->kind == K_IDATTRS) {
			if (parse_idattrs(c, vn, child) < 0)
				return -1;
		} else if (k->kind == K_STRINGS) {
			struct cfg_strings *l =
				(void *)((char *)c->cfg + k->off);

			if (!is_null(vn) &&
			    get_strings(c, vn, child, false, &l->v, &l->n) < 0)
				return -1;
		} else if (k->kind == K_SYNC) {
			if (parse_sync(c, vn, child) < 0)
				return -1;
		} else if (k->kind == K_EVENTS) {
			if (parse_events(c, vn, child) < 0)
				return -1;
		} else if (value(c, k, vn, child) < 0) {
			return -1;
		}
	}
	return 0;
}

/*
 * Walk @map, the section @path (null reads as empty), against @keys.
 * Mappings are only entered through a K_SECTION entry, so the recursion is
 * as deep as the tables, however deep the document.
 */
static int walk(struct ctx *c, const yaml_node_t *map, const struct key *keys,
                size_t n, const char *path)
{
	size_t first_line[CFG_KEYS_MAX] = {0}; /* 0: not seen */
	enum conv r;

	assert(n <= CFG_KEYS_MAX);
	if (!is_null(map)) {
		if (map->type != YAML_MAPPING_NODE)
			return bad(c, map, path, "%s", expected[K_SECTION]);
		if (pairs(c, map, keys, n, path, first_line) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].def_in || first_line[i])
			continue;
		r = convert(c->cfg, &keys[i], keys[i].def_in,
		            strlen(keys[i].def_in));
		if (r == CONV_NOMEM)
			return nomem(c->err);
		assert(r == CONV_OK);
	}
	return 0;
}

/* The value node of key @name in @map, or NULL. */
static const yaml_node_t *find(yaml_document_t *doc, const yaml_node_t *map,
                               const char *name)
{
	yaml_node_pair_t *pair;

	if (map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(doc, pair->key);

		if (kn->type == YAML_SCALAR_NODE &&
		    key_is(name, scalar(kn), kn->data.scalar.length))
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}

/* Translate the failure of @p, which was reading @text, into @err. */
static int yaml_failed(const yaml_parser_t *p, const char *name,
                       const char *text, size_t len, struct err *err)
{
	size_t line = p->problem_mark.line + 1,
	       col = p->problem_mark.column + 1;
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_MEMORY_ERROR)
		return nomem(err);
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset rather than a mark. */
		line = 1;
		col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			col++;
			if (text[i] == '\n') {
				line++;
				col = 1;
			}
		}
	}
	if (p->context)
		return err_set(err, ERR_INVALID, "%s:%zu:%zu: %s %s (line %zu)",
		               name, line, col, problem, p->context,
		               p->context_mark.line + 1);
	return err_set(err, ERR_INVALID, "%s:%zu:%zu: %s", name, line, col,
	               problem);
}

/*
 * http.auth.bearer, when the section is there, needs realm, service and a
 * cert holding a key the verifier can use: a registry that can verify no
 * token must not start (a half-configured auth section could otherwise
 * end up letting clients in some other way).
 */
static int check_bearer(struct ctx *c, const yaml_node_t *root)
{
	static const char *const path[] = {"http", "auth", "bearer"};
	const struct cfg *cfg = c->cfg;
	const yaml_node_t *n = root, *at;
	struct err kerr = ERR_INIT;
	struct jwt_key *key;
	char *challenge;

	for (size_t i = 0; i < ARRAY_SIZE(path); i++) {
		n = find(c->doc, n, path[i]);
		if (!n)
			return 0;
	}
	if (!cfg->http.bearer_realm || !cfg->http.bearer_service ||
	    !cfg->http.bearer_cert)
		return bad(c, n, "http.auth.bearer",
		           "realm, service and cert are all required");
	challenge = jwt_challenge_new(cfg->http.bearer_realm,
	                              cfg->http.bearer_service, NULL, 0, false,
	                              &kerr);
	free(challenge);
	if (!challenge && kerr.code == ERR_NOMEM)
		return nomem(c->err);
	if (!challenge)
		return bad(c, n, "http.auth.bearer", "%s", kerr.msg);
	key = jwt_key_load(cfg->http.bearer_cert, &kerr);
	jwt_key_free(key);
	if (!key && kerr.code == ERR_NOMEM)
		return nomem(c->err);
	at = find(c->doc, n, "cert");
	if (!key)
		return bad(c, at ? at : n, "http.auth.bearer.cert", "%s",
		           kerr.msg);
	return 0;
}

/*
 * http.auth.ldap, when the section is there, needs address, baseDN,
 * userAttribute and credentialsFile: without them nobody could log in,
 * or the search would run where the administrator did not mean.
 */
static int check_ldap(struct ctx *c, const yaml_node_t *root)
{
	const yaml_node_t *n = ldap_section(c->doc, root);
	const struct cfg *cfg = c->cfg;

	if (!n)
		return 0;
	c->cfg->http.ldap.on = true;
	if (!cfg->http.ldap.address || !*cfg->http.ldap.address ||
	    !cfg->http.ldap.base_dn || !cfg->http.ldap.user_attribute ||
	    !*cfg->http.ldap.user_attribute || !cfg->http.ldap.credentials_file)
		return bad(c, n, "http.auth.ldap",
		           "address, baseDN, userAttribute and credentialsFile "
		           "are all required");
	return 0;
}

/*
 * http.auth.mtls: only with mutual TLS (as zot), SAN indexes that fit,
 * a uriSanPattern that compiles (POSIX ERE) with a group.
 */
static int check_mtls(struct ctx *c, const yaml_node_t *root)
{
	const struct cfg *cfg = c->cfg;
	const char *pat = cfg->http.mtls_uri_pattern;
	const yaml_node_t *n = find(c->doc, root, "http");
	bool group = false;
	regex_t re;

	n = n ? find(c->doc, n, "auth") : NULL;
	n = n ? find(c->doc, n, "mtls") : NULL;
	if (!n)
		return 0;
	if (!cfg->http.tls_cacert)
		return bad(c, n, "http.auth.mtls",
		           "needs mutual TLS (http.tls.cacert)");
	if (cfg->http.mtls_uri_index > 255 || cfg->http.mtls_dns_index > 255 ||
	    cfg->http.mtls_email_index > 255)
		return bad(c, n, "http.auth.mtls", "a SAN index is 0..255");
	if (!pat)
		return 0;
	if (regcomp(&re, pat, REG_EXTENDED) == 0) {
		group = re.re_nsub >= 1;
		regfree(&re);
	}
	if (group)
		return 0;
	return bad(c, n, "http.auth.mtls.uriSanPattern",
	           "expected a regular expression (POSIX ERE) with a group");
}

/* Fill @cfg from the document @doc read from @name. */
static int fill(struct cfg *cfg, yaml_document_t *doc, const char *name,
                struct err *err)
{
	struct ctx c = {.doc = doc, .name = name, .cfg = cfg, .err = err};
	const yaml_node_t *root, *storage;

	root = yaml_document_get_root_node(doc);
	if (!root)
		return err_set(err, ERR_INVALID, "%s:1:1: empty configuration",
		               name);
	if (root->type != YAML_MAPPING_NODE)
		return bad(&c, root, "", "expected a mapping at the top level");
	if (walk(&c, root, top_keys, ARRAY_SIZE(top_keys), "") < 0)
		return -1;
	if (check_bearer(&c, root) < 0 || check_mtls(&c, root) < 0)
		return -1;
	if (check_ldap(&c, root) < 0)
		return -1;
	if (!cfg->storage.root_directory) {
		storage = find(doc, root, "storage");
		return bad(&c, storage ? storage : root,
		           "storage.rootDirectory", "required key missing");
	}
	return 0;
}

struct cfg *cfg_parse(const char *text, size_t len, const char *name,
                      struct err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	const yaml_node_t *node;
	struct cfg *cfg = NULL;
	bool have_doc = false;
	int ret = -1;

	if (!yaml_parser_initialize(&parser)) {
		nomem(err);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_failed(&parser, name, text, len, err);
		goto out;
	}
	have_doc = true;

	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(&parser, &extra)) {
		yaml_failed(&parser, name, text, len, err);
		goto out;
	}
	node = yaml_document_get_root_node(&extra);
	if (node)
		err_set(err, ERR_INVALID,
		        "%s:%zu:%zu: expected a single YAML document", name,
		        node->start_mark.line + 1, node->start_mark.column + 1);
	yaml_document_delete(&extra);
	if (node)
		goto out;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		nomem(err);
		goto out;
	}
	if (set_defaults(cfg, top_keys, ARRAY_SIZE(top_keys), err) < 0)
		goto out;
	cfg->storage.retention.delay_ms = 24 * 3600 * 1000ULL; /* zot's */
	if (fill(cfg, &doc, name, err) < 0)
		goto out;
	ret = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret < 0) {
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Read all of @path, up to CFG_FILE_MAX bytes, into a new *out. */
static int slurp(const char *path, char **out, size_t *out_len, struct err *err)
{
	size_t len = 0, cap = 4096;
	char *buf = NULL, *grown;
	int fd, ret = -1;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	buf = malloc(cap);
	if (!buf) {
		nomem(err);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* Room for one byte too many tells a big file. */
			cap = cap * 2 > CFG_FILE_MAX + 1 ? CFG_FILE_MAX + 1
			                                 : cap * 2;
			grown = realloc(buf, cap);
			if (!grown) {
				nomem(err);
				goto out;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set_errno(err, errno, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CFG_FILE_MAX) {
			err_set(err, ERR_TOO_LARGE,
			        "'%s' is larger than %d bytes", path,
			        CFG_FILE_MAX);
			goto out;
		}
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

struct cfg *cfg_load(const char *path, struct err *err)
{
	struct cfg *cfg;
	char *text = NULL;
	size_t len = 0;

	if (!path)
		return cfg_parse(cfg_default_yaml, strlen(cfg_default_yaml),
		                 "<default>", err);
	if (slurp(path, &text, &len, err) < 0)
		return NULL;
	cfg = cfg_parse(text, len, path, err);
	free(text);
	/* Authentication whose users cannot be read must not start. */
	if (cfg && cfg->http.htpasswd_path &&
	    access(cfg->http.htpasswd_path, R_OK) < 0) {
		err_set(err, ERR_INVALID,
		        "%s: http.auth.htpasswd.path: cannot read '%s': %s",
		        path, cfg->http.htpasswd_path, strerror(errno));
		cfg_free(cfg);
		return NULL;
	}
	if (cfg && cfg->http.ldap.credentials_file &&
	    access(cfg->http.ldap.credentials_file, R_OK) < 0) {
		err_set(err, ERR_INVALID,
		        "%s: http.auth.ldap.credentialsFile: cannot read '%s': "
		        "%s",
		        path, cfg->http.ldap.credentials_file, strerror(errno));
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

/* One unit of a Go duration, and its length in nanoseconds. */
static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{"ns", 1},
	{"us", 1000},
	{"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
	{"\xce\xbcs", 1000}, /* U+03BC Greek mu, which Go also takes */
	{"ms", 1000000},
	{"s", 1000000000},
	{"m", UINT64_C(60) * 1000000000},
	{"h", UINT64_C(3600) * 1000000000},
};

int cfg_duration_parse(const char *s, uint64_t *ms)
{
	/* As in Go, the total must fit an int64 of nanoseconds. */
	const uint64_t max = INT64_MAX;
	uint64_t total = 0;

	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return -1;
	while (*s) {
		uint64_t whole = 0, frac = 0, part, unit = 0;
		double scale = 1;
		size_t digits = 0, n, i;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (whole > (max - (uint64_t)(*s - '0')) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			/* Digits past what a uint64_t holds cannot matter. */
			for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
				if (frac > (UINT64_MAX - 9) / 10)
					continue;
				frac = frac * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (digits == 0)
			return -1;
		n = strcspn(s, ".0123456789");
		for (i = 0; i < ARRAY_SIZE(units); i++) {
			if (strlen(units[i].name) == n &&
			    !strncmp(s, units[i].name, n)) {
				unit = units[i].ns;
				break;
			}
		}
		if (!unit)
			return -1;
		s += n;
		if (whole > max / unit)
			return -1;
		part = whole * unit;
		part += (uint64_t)((double)frac * ((double)unit / scale));
		if (part > max || total > max - part)
			return -1;
		total += part;
	}
	*ms = total / 1000000;
	return 0;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->dist_spec_version);
	free(cfg->http.address);
	free(cfg->http.realm);
	free(cfg->http.external_url);
	free(cfg->http.tls_cert);
	free(cfg->http.tls_key);
	free(cfg->http.tls_cacert);
	for (size_t i = 0; i < cfg->http.n_mtls_attrs; i++)
		free(cfg->http.mtls_attrs[i]);
	free(cfg->http.mtls_attrs);
	free(cfg->http.mtls_uri_pattern);
	free(cfg->http.bearer_realm);
	free(cfg->http.bearer_service);
	free(cfg->http.bearer_cert);
	free(cfg->storage.root_directory);
	free(cfg->storage.index_directory);
	free(cfg->log.output);
	free(cfg->log.audit);
	free(cfg->fuse.mountpoint);
	free(cfg->extensions.metrics_path);
	sync_cfg_release(&cfg->extensions.sync);
	events_cfg_release(&cfg->extensions.events);
	for (size_t i = 0; i < cfg->storage.retention.n_policies; i++) {
		struct store_policy *p = &cfg->storage.retention.policies[i];

		for (size_t j = 0; j < p->n_repositories; j++)
			free(p->repositories[j]);
		free(p->repositories);
		for (size_t j = 0; j < p->n_keep_tags; j++) {
			for (size_t k = 0; k < p->keep_tags[j].n_patterns; k++)
				free(p->keep_tags[j].patterns[k]);
			free(p->keep_tags[j].patterns);
		}
		free(p->keep_tags);
	}
	free(cfg->storage.retention.policies);
	access_release(&cfg->http.access);
	for (size_t i = 0; i < cfg->extensions.lint_annotations.n; i++)
		free(cfg->extensions.lint_annotations.v[i]);
	free(cfg->extensions.lint_annotations.v);
	free(cfg->http.htpasswd_path);
	free(cfg->http.ldap.address);
	free(cfg->http.ldap.base_dn);
	free(cfg->http.ldap.user_attribute);
	free(cfg->http.ldap.user_group_attribute);
	free(cfg->http.ldap.user_filter);
	free(cfg->http.ldap.credentials_file);
	free(cfg->http.ldap.cacert);
	for (size_t i = 0; i < cfg->n_unsupported; i++)
		free(cfg->unsupported[i]);
	free(cfg->unsupported);
	free(cfg);
}
