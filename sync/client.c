/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c - the upstream registry client, over libcurl.
 *
 * Every request is an easy handle attached to the upstream's share, which
 * holds the connection and DNS caches: connections are reused across
 * requests and threads. Authentication follows the distribution spec's
 * token flow: a 401 with a Bearer challenge sends the client to the realm
 * (with the Basic credentials, if any) for a token, which is kept per
 * upstream repository until it expires; a Basic challenge makes the
 * upstream Basic from then on. Redirects are followed (at most
 * UP_REDIRS_MAX, http and https only); credentials never go to another host.
 */
#define LOG_MODULE "sync"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "daemon/clock.h"
#include "daemon/hmap.h"
#include "daemon/log.h"
#include "sync/sync_int.h"

#define UP_REDIRS_MAX     5
#define UP_CONNECT_MS     10000
#define UP_STALL_S        30    /* no byte for this long: give up */
#define UP_TOKEN_MAX      65536 /* token server answer */
#define UP_TOKEN_DEF_S    60    /* expires_in when not given (spec) */
#define UP_TOKENS_MAX     1024  /* tokens kept per upstream */
#define UP_RETRY_WAIT_MAX 5000  /* longest wait between retries, ms */
#define UP_CHALLENGE_MAX  2048

/* A bearer token and when to stop using it. */
struct token {
	char *value;         /* the token */
	uint64_t expires_ms; /* monotonic */
};

struct upstream {
	char *url;                       /* scheme://host[:port] */
	const struct sync_registry *reg; /* settings, borrowed */
	char *user, *pass;               /* Basic credentials, or NULL */
	uint64_t *counter;               /* requests sent, atomic */
	const int *stop;                 /* nonzero: end transfers, atomic */
	CURLSH *share;                   /* connection and DNS caches */
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST]; /* for the share */
	pthread_mutex_t lock;               /* protects what follows */
	struct hmap *tokens;                /* upstream repo -> struct token */
	bool basic;                         /* the upstream asked for Basic */
	char cainfo[PATH_MAX];              /* certDir/ca.crt, or "" */
	char cert[PATH_MAX], key[PATH_MAX]; /* client certificate, or "" */
	uint64_t results[UP_RESULTS];       /* requests by result, atomic */
	uint64_t bytes;                     /* body bytes received, atomic */
};

/* One transfer. */
struct xfer {
	CURL *h;                          /* its handle */
	up_sink_fn sink;                  /* where a 200's body goes */
	void *arg;                        /* the sink's */
	uint64_t max;                     /* body limit, 0: none */
	struct up_resp *resp;             /* filled as headers come */
	struct err sink_err;              /* why the sink or a limit failed */
	char challenge[UP_CHALLENGE_MAX]; /* WWW-Authenticate */
	bool head;                        /* HEAD: no body asked for */
	uint64_t timeout_ms;              /* whole request and connect, 0: as
	                                     the registry says */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int up_global_init(struct err *err)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return err_set(err, ERR_INTERNAL,
		               "cannot initialise libcurl: %s",
		               curl_easy_strerror(global_rc));
	return 0;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access acc,
                       void *arg)
{
	struct upstream *u = arg;

	(void)h;
	(void)acc;
	pthread_mutex_lock(&u->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct upstream *u = arg;

	(void)h;
	pthread_mutex_unlock(&u->share_lock[data]);
}

/* @dir/@name into @out if that file exists, else "". */
static void cert_file(char *out, size_t size, const char *dir, const char *name)
{
	struct stat sb;

	out[0] = '\0';
	if (!dir)
		return;
	if (snprintf(out, size, "%s/%s", dir, name) >= (int)size ||
	    stat(out, &sb) < 0)
		out[0] = '\0';
}

struct upstream *up_new(const char *url, const struct sync_registry *r,
                        const char *user, const char *pass, uint64_t *counter,
                        const int *stop, struct err *err)
{
	struct upstream *u;
	size_t len = strlen(url);

	if (up_global_init(err) < 0)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		goto nomem;
	pthread_mutex_init(&u->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&u->share_lock[i], NULL);
	while (len && url[len - 1] == '/')
		len--;
	u->url = strndup(url, len);
	u->tokens = hmap_new();
	u->share = curl_share_init();
	if (!u->url || !u->tokens || !u->share)
		goto nomem;
	if ((user && !(u->user = strdup(user))) ||
	    (pass && !(u->pass = strdup(pass))))
		goto nomem;
	u->reg = r;
	u->counter = counter;
	u->stop = stop;
	curl_share_setopt(u->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(u->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(u->share, CURLSHOPT_USERDATA, u);
	curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	cert_file(u->cainfo, sizeof(u->cainfo), r->cert_dir, "ca.crt");
	cert_file(u->cert, sizeof(u->cert), r->cert_dir, "client.cert");
	cert_file(u->key, sizeof(u->key), r->cert_dir, "client.key");
	return u;
nomem:
	up_free(u);
	err_set(err, ERR_NOMEM, "out of memory");
	return NULL;
}

static void free_token(void *val)
{
	struct token *t = val;

	free(t->value);
	free(t);
}

void up_free(struct upstream *u)
{
	if (!u)
		return;
	hmap_free_with(u->tokens, free_token);
	if (u->share)
		curl_share_cleanup(u->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&u->share_lock[i]);
	pthread_mutex_destroy(&u->lock);
	free(u->url);
	free(u->user);
	free(u->pass);
	free(u);
}

const char *up_url(const struct upstream *u)
{
	return u->url;
}

/* Copy header value @v (@n bytes, CRLF and blanks trimmed) into @out. */
static void header_value(char *out, size_t size, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
	             v[n - 1] == '\t'))
		n--;
	if (n >= size) /* too long to be a value we use: keep none */
		n = 0;
	memcpy(out, v, n);
	out[n] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static size_t on_header(char *line, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct up_resp *r = x->resp;

	(void)sz;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect): forget the last one's. */
		r->content_type[0] = r->digest[0] = x->challenge[0] = '\0';
		r->link[0] = '\0';
	} else if (header_is(line, n, "Content-Type")) {
		size_t k = strlen("Content-Type:");

		header_value(r->content_type, sizeof(r->content_type), line + k,
		             n - k);
		r->content_type[strcspn(r->content_type, "; \t")] = '\0';
	} else if (header_is(line, n, "Docker-Content-Digest")) {
		size_t k = strlen("Docker-Content-Digest:");

		header_value(r->digest, sizeof(r->digest), line + k, n - k);
	} else if (header_is(line, n, "WWW-Authenticate")) {
		size_t k = strlen("WWW-Authenticate:");

		header_value(x->challenge, sizeof(x->challenge), line + k,
		             n - k);
	} else if (header_is(line, n, "Link")) {
		size_t k = strlen("Link:");

		header_value(r->link, sizeof(r->link), line + k, n - k);
	}
	return n;
}

static size_t on_body(char *buf, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	long status = 0;

	(void)sz;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || !x->sink)
		return n; /* an error page: not kept */
	if (x->max && x->resp->length + n > x->max) {
		err_set(&x->sink_err, ERR_TOO_LARGE,
		        "upstream answer larger than %llu bytes",
		        (unsigned long long)x->max);
		return 0;
	}
	if (x->resp->length == 0) {
		curl_off_t cl = -1;

		if (curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		                      &cl) != CURLE_OK)
			cl = -1;
		x->resp->expected = cl;
	}
	if (x->sink(x->arg, buf, n, &x->sink_err) < 0) {
		if (x->sink_err.code == ERR_OK)
			err_set(&x->sink_err, ERR_INTERNAL, "sink failed");
		return 0;
	}
	x->resp->length += n;
	return n;
}

static bool stopping(const struct upstream *u)
{
	return __atomic_load_n(u->stop, __ATOMIC_RELAXED) != 0;
}

/* libcurl asks during a transfer: nonzero ends it (shutting down). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stopping(arg);
}

/* The options every handle of @u gets. */
static void setup(struct upstream *u, CURL *h)
{
	const struct sync_registry *r = u->reg;

	curl_easy_setopt(h, CURLOPT_SHARE, u->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)UP_REDIRS_MAX);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)UP_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)UP_STALL_S);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, u);
	if (r->sync_timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
		                 (long)(r->sync_timeout_ms > LONG_MAX
		                                ? LONG_MAX
		                                : r->sync_timeout_ms));
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dray/" DRAY_VERSION);
	if (!r->tls_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (u->cainfo[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, u->cainfo);
	if (u->cert[0] && u->key[0]) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, u->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, u->key);
	}
}

int up_sink_mem(void *arg, const void *buf, size_t len, struct err *err)
{
	struct up_mem *m = arg;
	char *p = realloc(m->p, m->n + len + 1);

	if (!p)
		return err_set(err, ERR_NOMEM, "out of memory");
	memcpy(p + m->n, buf, len);
	m->n += len;
	p[m->n] = '\0';
	m->p = p;
	return 0;
}

/* Run @x->h; translate a transport failure into @err. */
static int perform(struct upstream *u, struct xfer *x, const char *url,
                   struct err *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	__atomic_add_fetch(u->counter, 1, __ATOMIC_RELAXED);
	rc = curl_easy_perform(x->h);
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->resp->status);
	__atomic_add_fetch(
		&u->results[rc != CURLE_OK               ? UP_ERROR
	                    : x->resp->status / 100 == 2 ? UP_OK
	                    : x->resp->status == 404     ? UP_NOT_FOUND
	                    : x->resp->status == 401 || x->resp->status == 403
	                            ? UP_DENIED
	                            : UP_ERROR],
		1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&u->bytes, x->resp->length, __ATOMIC_RELAXED);
	if (rc == CURLE_OK)
		return 0;
	if (x->sink_err.code != ERR_OK) {
		*err = x->sink_err;
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return err_set(err, ERR_BUSY,
		               "upstream %s: shutting down, transfer ended",
		               u->url);
	return err_set(err, ERR_IO, "upstream %s: %s", u->url,
	               ebuf[0] ? ebuf : curl_easy_strerror(rc));
}

/* Append @s to @q URL-encoded. */
static int url_param(char *q, size_t size, const char *name, const char *v)
{
	char *enc = curl_easy_escape(NULL, v, 0);
	size_t len = strlen(q);
	int n;

	if (!enc)
		return -1;
	n = snprintf(q + len, size - len, "%s%s=%s", len ? "&" : "", name, enc);
	curl_free(enc);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

/* Store @tok for @repo, valid for @secs. Called with u->lock held. */
static void keep_token(struct upstream *u, const char *repo, const char *tok,
                       uint64_t secs)
{
	struct token *t = hmap_get(u->tokens, repo);

	if (!t) {
		if (hmap_count(u->tokens) >= UP_TOKENS_MAX)
			return; /* not cached: fetched again next time */
		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		if (hmap_put(u->tokens, repo, t) < 0) {
			free(t);
			return;
		}
	}
	free(t->value);
	t->value = strdup(tok);
	/* Renew a little early, so that no request carries a stale one. */
	t->expires_ms = clock_mono_ms() + (secs > 10 ? secs - 5 : secs) * 1000;
}

/* A token for @repo still valid, copied into @out; false if none. */
static bool cached_token(struct upstream *u, const char *repo, char **out)
{
	struct token *t;

	pthread_mutex_lock(&u->lock);
	t = hmap_get(u->tokens, repo);
	*out = NULL;
	if (t && t->value && t->expires_ms > clock_mono_ms())
		*out = strdup(t->value);
	pthread_mutex_unlock(&u->lock);
	return *out != NULL;
}

/* Ask the realm of @ch for a token for @repo; keep it. */
static int fetch_token(struct upstream *u, const char *repo,
                       const struct sync_challenge *ch, char **out,
                       struct err *err)
{
	struct up_mem mem = {0};
	struct up_resp resp = {0};
	struct xfer x = {.sink = up_sink_mem,
	                 .arg = &mem,
	                 .max = UP_TOKEN_MAX,
	                 .resp = &resp};
	char query[2048] = "", url[4096], scope[600];
	json_t *doc = NULL, *tok, *exp;
	json_error_t jerr;
	uint64_t secs = UP_TOKEN_DEF_S;
	int ret = -1;

	if (!ch->realm[0])
		return err_set(err, ERR_DENIED,
		               "upstream %s: bearer challenge without a realm",
		               u->url);
	if (strncmp(ch->realm, "http://", 7) &&
	    strncmp(ch->realm, "https://", 8))
		return err_set(err, ERR_DENIED,
		               "upstream %s: token realm is not http(s)",
		               u->url);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	if ((ch->service[0] &&
	     url_param(query, sizeof(query), "service", ch->service) < 0) ||
	    url_param(query, sizeof(query), "scope",
	              ch->scope[0] ? ch->scope : scope) < 0 ||
	    snprintf(url, sizeof(url), "%s%s%s", ch->realm,
	             strchr(ch->realm, '?') ? "&" : "?",
	             query) >= (int)sizeof(url))
		return err_set(err, ERR_DENIED,
		               "upstream %s: token request too long", u->url);
	x.h = curl_easy_init();
	if (!x.h)
		return err_set(err, ERR_NOMEM, "out of memory");
	setup(u, x.h);
	if (u->user) {
		curl_easy_setopt(x.h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x.h, CURLOPT_USERNAME, u->user);
		curl_easy_setopt(x.h, CURLOPT_PASSWORD, u->pass ? u->pass : "");
	}
	if (perform(u, &x, url, err) < 0)
		goto out;
	if (resp.status != 200) {
		err_set(err, ERR_DENIED,
		        "upstream %s: token server answered %ld", u->url,
		        resp.status);
		goto out;
	}
	doc = json_loadb(mem.p ? mem.p : "", mem.n, 0, &jerr);
	tok = json_object_get(doc, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(doc, "access_token");
	if (!json_is_string(tok) || !json_string_length(tok)) {
		err_set(err, ERR_DENIED,
		        "upstream %s: token server gave no token", u->url);
		goto out;
	}
	exp = json_object_get(doc, "expires_in");
	if (json_is_integer(exp) && json_integer_value(exp) > 0)
		secs = (uint64_t)json_integer_value(exp);
	*out = strdup(json_string_value(tok));
	if (!*out) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&u->lock);
	keep_token(u, repo, *out, secs);
	pthread_mutex_unlock(&u->lock);
	ret = 0;
out:
	json_decref(doc);
	free(mem.p);
	curl_easy_cleanup(x.h);
	return ret;
}

/* One GET of @url, with @token or Basic credentials as @u knows to. */
static int get_once(struct upstream *u, const char *url, const char *accept,
                    const char *token, struct xfer *x, struct err *err)
{
	struct curl_slist *hdrs = NULL, *h2;
	char line[4096];
	int ret = -1;

	x->h = curl_easy_init();
	if (!x->h)
		return err_set(err, ERR_NOMEM, "out of memory");
	setup(u, x->h);
	if (accept) {
		snprintf(line, sizeof(line), "Accept: %s", accept);
		if (!(h2 = curl_slist_append(hdrs, line)))
			goto nomem;
		hdrs = h2;
	}
	if (token) {
		curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(x->h, CURLOPT_XOAUTH2_BEARER, token);
	} else if (u->user && __atomic_load_n(&u->basic, __ATOMIC_RELAXED)) {
		curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->h, CURLOPT_USERNAME, u->user);
		curl_easy_setopt(x->h, CURLOPT_PASSWORD,
		                 u->pass ? u->pass : "");
	}
	if (x->head)
		curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
	if (x->timeout_ms) {
		curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
		curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS,
		                 (long)x->timeout_ms);
	}
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
	ret = perform(u, x, url, err);
	goto out;
nomem:
	err_set(err, ERR_NOMEM, "out of memory");
out:
	curl_easy_cleanup(x->h);
	x->h = NULL;
	curl_slist_free_all(hdrs);
	return ret;
}

/* Wait @ms before a retry, or less once @u is stopping. */
static void wait_ms(const struct upstream *u, uint64_t ms)
{
	while (ms && !stopping(u)) {
		uint64_t step = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)step * 1000000};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= step;
	}
}

/*
 * up_request(), with the whole request bounded by @timeout_ms (0: as the
 * registry says) and then never retried.
 */
static int request(struct upstream *u, bool head, const char *path,
                   const char *repo, const char *accept, uint64_t max,
                   up_sink_fn sink, void *arg, uint64_t timeout_ms,
                   struct up_resp *resp, struct err *err)
{
	struct xfer x;
	struct sync_challenge ch;
	char url[2048], *token = NULL;
	uint64_t tries = 0, wait;
	bool authed = false;
	int ret = -1;

	if (snprintf(url, sizeof(url), "%s%s", u->url, path) >=
	    (int)sizeof(url))
		return err_set(err, ERR_INVALID, "upstream URL too long");
	(void)cached_token(u, repo, &token);
	for (;;) {
		struct err e = ERR_INIT;

		*resp = (struct up_resp){0};
		x = (struct xfer){.sink = sink,
		                  .arg = arg,
		                  .max = max,
		                  .resp = resp,
		                  .head = head,
		                  .timeout_ms = timeout_ms};
		ret = get_once(u, url, accept, token, &x, &e);
		if (ret == 0 && resp->status == 401 && !authed) {
			authed = true;
			if (sync_challenge_parse(x.challenge, &ch, &e) < 0) {
				err_set(err, ERR_DENIED,
				        "upstream %s refused access: %s",
				        u->url, e.msg);
				goto out;
			}
			if (ch.scheme == SYNC_AUTH_BASIC) {
				if (!u->user) {
					err_set(err, ERR_DENIED,
					        "upstream %s wants credentials "
					        "and credentialsFile has none",
					        u->url);
					goto out;
				}
				__atomic_store_n(&u->basic, true,
				                 __ATOMIC_RELAXED);
				continue;
			}
			free(token);
			token = NULL;
			if (fetch_token(u, repo, &ch, &token, err) < 0)
				goto out;
			continue;
		}
		/* Retry only what delivered nothing: the sink is not undone. */
		if (resp->length == 0 && !timeout_ms &&
		    tries < u->reg->max_retries && !stopping(u) &&
		    (ret < 0 ? e.code == ERR_IO : resp->status >= 500)) {
			tries++;
			wait = u->reg->retry_delay_ms << (tries - 1);
			wait_ms(u, wait > UP_RETRY_WAIT_MAX ? UP_RETRY_WAIT_MAX
			                                    : wait);
			continue;
		}
		if (ret < 0) {
			*err = e;
			goto out;
		}
		break;
	}
	switch (resp->status) {
	case 200:
		ret = 0;
		break;
	case 404:
		ret = err_set(err, ERR_NOT_FOUND, "upstream %s has no %s",
		              u->url, path + 4);
		break;
	case 401:
	case 403:
		ret = err_set(err, ERR_DENIED,
		              "upstream %s refused access to %s (%ld)", u->url,
		              repo, resp->status);
		break;
	default:
		ret = err_set(err, ERR_IO, "upstream %s answered %ld for %s",
		              u->url, resp->status, repo);
		break;
	}
out:
	free(token);
	return ret;
}

/* /v2/@repo/@kind/@ref into @path. */
static int item_path(char *path, size_t size, const char *repo,
                     const char *kind, const char *ref, struct err *err)
{
	if (snprintf(path, size, "/v2/%s/%s/%s", repo, kind, ref) >= (int)size)
		return err_set(err, ERR_INVALID, "upstream URL too long");
	return 0;
}

int up_get(struct upstream *u, const char *repo, const char *kind,
           const char *ref, const char *accept, uint64_t max, up_sink_fn sink,
           void *arg, struct up_resp *resp, struct err *err)
{
	char path[1024];

	if (item_path(path, sizeof(path), repo, kind, ref, err) < 0)
		return -1;
	return request(u, false, path, repo, accept, max, sink, arg, 0, resp,
	               err);
}

int up_request(struct upstream *u, bool head, const char *path,
               const char *repo, const char *accept, uint64_t max,
               up_sink_fn sink, void *arg, struct up_resp *resp,
               struct err *err)
{
	return request(u, head, path, repo, accept, max, sink, arg, 0, resp,
	               err);
}

int up_head(struct upstream *u, const char *repo, const char *kind,
            const char *ref, const char *accept, uint64_t timeout_ms,
            struct up_resp *resp, struct err *err)
{
	char path[1024];

	if (item_path(path, sizeof(path), repo, kind, ref, err) < 0)
		return -1;
	return request(u, true, path, repo, accept, 0, NULL, NULL, timeout_ms,
	               resp, err);
}

void up_counts(struct upstream *u, uint64_t results[UP_RESULTS],
               uint64_t *bytes)
{
	for (int i = 0; i < UP_RESULTS; i++)
		results[i] = __atomic_load_n(&u->results[i], __ATOMIC_RELAXED);
	*bytes = __atomic_load_n(&u->bytes, __ATOMIC_RELAXED);
}
