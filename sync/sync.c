/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.c - on-demand pull-through: content mapping, the single-flight
 * table, and storing what upstream sends through the store's commit paths.
 *
 * A miss for a manifest or blob of local repository R is looked up in the
 * onDemand registries in order: the first content entry whose pattern
 * matches R (zot's destination/stripPrefix rules) names the upstream
 * repository, and the registry's URLs are tried in order. A manifest is
 * checked against its digest (the reference's, and Docker-Content-Digest),
 * its blobs (and an index's manifests) are brought in first, then it is
 * stored with store_manifest_put(); a blob streams into an upload session
 * and is committed only if it hashes to its digest.
 *
 * Transfers in flight are kept in a table keyed by kind, repository and
 * reference (at most SYNC_FLIGHTS_MAX); a request for something already
 * being fetched waits for that transfer and shares its outcome.
 *
 * A client's manifest miss does not wait for the blobs
 * (sync_manifest_early()): the verified bytes are kept in a small table
 * of pending manifests (SYNC_PENDING_MAX, SYNC_PENDING_BYTES) and
 * answered from there, and a thread of its own per pending manifest
 * brings the blobs (joining the transfers that the client's blob GETs
 * start, or starting them for those to join) and then stores the
 * manifest as above. The store never holds the manifest before its
 * blobs; a failure stores nothing and drops the pending copy.
 */
#define LOG_MODULE "sync"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/hmap.h"
#include "daemon/log.h"
#include "daemon/testhold.h"
#include "daemon/ref.h"
#include "index/store.h"
#include "sync/sync_int.h"

#define SYNC_FLIGHTS_MAX   256   /* transfers in flight at once */
#define SYNC_DEPTH_MAX     2     /* an index of indexes, no deeper */
#define SYNC_CREDS_MAX     65536 /* bytes of a credentials file */
#define BLOB_KEY_MAX       (REF_NAME_MAX + DIGEST_STR_MAX + 8) /* flight key */
#define SYNC_PENDING_MAX   32   /* manifests answered, not stored yet */
#define SYNC_PENDING_BYTES (16u << 20) /* their bytes in all */

/* One configured registry and a client per URL. */
struct sreg {
	const struct sync_registry *cfg; /* its settings */
	struct upstream **ups;           /* one per URL */
};

/* A transfer in flight, and its outcome once done. */
struct flight {
	pthread_cond_t cv; /* signalled when done */
	unsigned refs;     /* the leader, the waiters and the followers */
	bool done;         /* the outcome is in */
	int ret;           /* 0 or -1 */
	struct err err;    /* why, when -1 */
	/* A blob's bytes as they land, for its followers (sync_follow). */
	unsigned attempt;           /* bumped as an upstream answer begins
	                               streaming, or fails */
	int fd;                     /* its staging file, or -1 */
	uint64_t size;              /* its Content-Length */
	uint64_t written;           /* bytes in the file */
	uint64_t woken;             /* written at the last wake */
	struct sync_follow *parked; /* followers waiting for more */
};

/* A reader of a blob transfer (sync_follow()). */
struct sync_follow {
	struct sync *s;
	struct flight *f;         /* holds a reference */
	struct sync_follow *next; /* in f->parked */
	bool parked;              /* in f->parked */
	sync_wake_fn park, wake;  /* the caller's */
	void *arg;                /* theirs */
	unsigned attempt;         /* the answer it streams, 0: none yet */
	int fd;                   /* its own descriptor of that file */
	uint64_t size;            /* that answer's Content-Length */
};

/* A blob transfer to run, handed to the caller of sync_follow(). */
struct sync_job {
	struct sync *s;
	struct flight *f; /* the leader's reference */
	char key[BLOB_KEY_MAX];
	char dstr[DIGEST_STR_MAX];
	char repo[REF_NAME_MAX + 1];
	struct digest d;
};

/*
 * A manifest answered before what it references is here
 * (sync_manifest_early()): its verified bytes, kept until a background
 * thread has brought its blobs and stored it, or failed.
 */
struct pending {
	struct pending *next;         /* in s->pending */
	char repo[REF_NAME_MAX + 1];  /* local repository */
	char tag[REF_NAME_MAX + 1];   /* the tag it was asked by, or "" */
	char dstr[DIGEST_STR_MAX];    /* its digest */
	struct digest digest;         /* the same, parsed */
	char media_type[SYNC_MT_MAX]; /* as it will be stored */
	char *body;                   /* its bytes, NUL-terminated */
	size_t len;                   /* how many */
	char url[512];                /* the upstream it came from */
};

/* The background thread storing a pending manifest. */
struct bg {
	struct bg *next; /* in s->bgs */
	pthread_t thread;
	bool done; /* about to return (under s->lock): join it */
	struct sync *s;
	const struct sreg *r;
	char remote[REF_NAME_MAX + 1];
	struct pending *p; /* in s->pending until the thread ends */
};

struct sync {
	const struct sync_cfg *cfg; /* borrowed */
	struct store *st;           /* where things go */
	struct sreg *regs;          /* cfg->n_registries of them */
	pthread_mutex_t lock;       /* protects flights */
	struct hmap *flights;       /* key -> struct flight */
	uint64_t requests;          /* upstream requests, atomic */
	uint64_t manifests, blobs;  /* stored, atomic */
	uint64_t shared;            /* joined a transfer, atomic */
	int stopping;               /* sync_stop() was called, atomic */
	struct hmap *checks;        /* tag checks by key, under lock */
	struct check *oldest;       /* the check made longest ago, under lock */
	struct check *newest;       /* the last one made, under lock */
	struct pending *pending;    /* manifests not stored yet, under lock */
	size_t n_pending;           /* how many, under lock */
	size_t pending_bytes;       /* their bytes, under lock */
	struct bg *bgs;             /* background threads, under lock */
	uint64_t od[SYNC_OD_KINDS][SYNC_OD_RESULTS]; /* on demand, atomic */
};

/* Configuration. */

static void strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void sync_cfg_release(struct sync_cfg *c)
{
	for (size_t i = 0; i < c->n_registries; i++) {
		struct sync_registry *r = &c->registries[i];

		strs_free(r->urls, r->n_urls);
		free(r->cert_dir);
		for (size_t j = 0; j < r->n_content; j++) {
			free(r->content[j].prefix);
			free(r->content[j].tags_regex);
			free(r->content[j].tags_exclude);
			free(r->content[j].destination);
		}
		free(r->content);
	}
	free(c->registries);
	free(c->credentials_file);
	free(c->download_dir);
	*c = (struct sync_cfg){0};
}

/* The credentials file, parsed: NULL (and @err) if it does not do. */
static json_t *creds_load(const char *path, struct err *err)
{
	json_error_t jerr;
	json_t *doc, *v;
	const char *k;
	char *text = NULL;
	size_t len;

	/* Bounded, and never a FIFO or a device that reads forever. */
	if (fs_read_file(path, SYNC_CREDS_MAX, &text, &len, err) < 0) {
		err_prefix(err, "cannot read credentials file '%s'", path);
		return NULL;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!doc) {
		err_set(err, ERR_INVALID, "credentials file '%s':%d:%d: %s",
		        path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc))
		goto bad;
	json_object_foreach(doc, k, v)
	{
		if (!json_is_object(v) ||
		    !json_is_string(json_object_get(v, "username")) ||
		    !json_is_string(json_object_get(v, "password")) ||
		    json_object_size(v) != 2) {
			err_set(err, ERR_INVALID,
			        "credentials file '%s': '%s' is not "
			        "{\"username\": ..., \"password\": ...}",
			        path, k);
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
bad:
	json_decref(doc);
	err_set(err, ERR_INVALID,
	        "credentials file '%s': expected an object of host[:port] "
	        "keys",
	        path);
	return NULL;
}

static int regex_check(const char *re, const char *what, struct err *err)
{
	regex_t r;

	if (!re)
		return 0;
	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return err_set(err, ERR_INVALID,
		               "extensions.sync: invalid %s '%s'", what, re);
	regfree(&r);
	return 0;
}

static bool url_ok(const char *u)
{
	const char *host = strncmp(u, "http://", 7) == 0    ? u + 7
	                   : strncmp(u, "https://", 8) == 0 ? u + 8
	                                                    : NULL;

	return host && *host && *host != '/' && !strpbrk(host, " \t\r\n?#");
}

int sync_cfg_check(const struct sync_cfg *c, struct err *err)
{
	if (c->credentials_file) {
		json_t *doc = creds_load(c->credentials_file, err);

		if (!doc)
			return -1;
		json_decref(doc);
	}
	for (size_t i = 0; i < c->n_registries; i++) {
		const struct sync_registry *r = &c->registries[i];

		if (!r->n_urls)
			return err_set(err, ERR_INVALID,
			               "extensions.sync.registries[%zu]: urls "
			               "is required",
			               i);
		for (size_t j = 0; j < r->n_urls; j++)
			if (!url_ok(r->urls[j]))
				return err_set(
					err, ERR_INVALID,
					"extensions.sync: '%s' is not an "
					"http:// or https:// URL",
					r->urls[j]);
		if (r->only_signed && r->on_demand)
			return err_set(err, ERR_UNSUPPORTED,
			               "extensions.sync.registries[%zu]: "
			               "onlySigned is not supported yet with "
			               "onDemand",
			               i);
		for (size_t j = 0; j < r->n_content; j++) {
			const struct sync_content *ct = &r->content[j];

			if (!ct->prefix || !*ct->prefix)
				return err_set(err, ERR_INVALID,
				               "extensions.sync: content "
				               "needs a prefix");
			if (regex_check(ct->tags_regex, "tags.regex", err) <
			            0 ||
			    regex_check(ct->tags_exclude, "tags.excludeRegex",
			                err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Content mapping (zot's destination and stripPrefix). */

/* @s with the characters of @set cut from both ends: *@n bytes from *@b. */
static void trim(const char *s, const char *set, const char **b, size_t *n)
{
	size_t len = s ? strlen(s) : 0;

	s = s ? s : "";
	while (len && strchr(set, *s)) {
		s++;
		len--;
	}
	while (len && strchr(set, s[len - 1]))
		len--;
	*b = s;
	*n = len;
}

/*
 * doublestar's SplitPattern: what follows the last '/' before the first
 * meta character of @p (@n bytes); all of it when there is no such '/'.
 */
static const char *glob_tail(const char *p, size_t n)
{
	const char *tail = p;

	for (size_t i = 0; i < n; i++) {
		if (strchr("*?[{", p[i]))
			break;
		if (p[i] == '/')
			tail = p + i + 1;
	}
	return tail;
}

bool sync_map_local(const struct sync_content *c, const char *repo, char *out,
                    size_t size)
{
	char pattern[2 * REF_NAME_MAX + 8], pfx_slash[REF_NAME_MAX + 2];
	const char *dest, *pfx, *local, *meta, *p;
	size_t ndest, npfx, nlocal, np;
	int n;

	trim(repo, "/", &local, &nlocal);
	if (!c) {
		n = snprintf(out, size, "%.*s", (int)nlocal, local);
		return n >= 0 && (size_t)n < size;
	}
	trim(c->prefix, "/", &pfx, &npfx);
	trim(c->destination, "/", &dest, &ndest);
	if (npfx > REF_NAME_MAX)
		return false;
	snprintf(pfx_slash, sizeof(pfx_slash), "%.*s/", (int)npfx, pfx);
	meta = c->strip_prefix ? glob_tail(pfx_slash, strlen(pfx_slash))
	                       : pfx_slash;
	n = snprintf(pattern, sizeof(pattern), "%.*s/%s", (int)ndest, dest,
	             meta);
	if (n < 0 || (size_t)n >= sizeof(pattern))
		return false;
	trim(pattern, "/", &p, &np);
	memmove(pattern, p, np);
	pattern[np] = '\0';
	if (!ref_glob_match(pattern, repo))
		return false;

	/* getRepoSource: take the destination off, put the prefix back. */
	if (nlocal >= ndest && strncmp(local, dest, ndest) == 0) {
		local += ndest;
		nlocal -= ndest;
	}
	while (nlocal && *local == '/') {
		local++;
		nlocal--;
	}
	trim(c->prefix, "/*", &pfx, &npfx);
	if (c->strip_prefix)
		n = snprintf(pattern, sizeof(pattern), "%.*s/%.*s", (int)npfx,
		             pfx, (int)nlocal, local);
	else
		n = snprintf(pattern, sizeof(pattern), "%.*s", (int)nlocal,
		             local);
	if (n < 0 || (size_t)n >= sizeof(pattern))
		return false;
	trim(pattern, "/", &p, &np);
	n = snprintf(out, size, "%.*s", (int)np, p);
	return n >= 0 && (size_t)n < size && np > 0;
}

static bool regex_match(const char *re, const char *s)
{
	regex_t r;
	bool m;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return false; /* sync_cfg_check() refused it already */
	m = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return m;
}

/* Digits, at least one; *@s moves past them. */
static bool digits(const char **s)
{
	const char *p = *s;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p == *s)
		return false;
	*s = p;
	return true;
}

/* Dot-separated non-empty [0-9A-Za-z-] identifiers. */
static bool idents(const char **s)
{
	const char *p = *s;

	for (;;) {
		const char *start = p;

		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		       (*p >= 'A' && *p <= 'Z') || *p == '-')
			p++;
		if (p == start)
			return false;
		if (*p != '.')
			break;
		p++;
	}
	*s = p;
	return true;
}

bool sync_is_semver(const char *tag)
{
	const char *p = tag;

	if (*p == 'v')
		p++;
	if (!digits(&p))
		return false;
	for (int i = 0; i < 2 && *p == '.'; i++) {
		p++;
		if (!digits(&p))
			return false;
	}
	if (*p == '-') {
		p++;
		if (!idents(&p))
			return false;
	}
	if (*p == '+') {
		p++;
		if (!idents(&p))
			return false;
	}
	return *p == '\0';
}

bool sync_tag_allowed(const struct sync_content *c, const char *tag)
{
	if (!c)
		return true;
	if (c->tags_regex && !regex_match(c->tags_regex, tag))
		return false;
	if (c->tags_exclude && regex_match(c->tags_exclude, tag))
		return false;
	return !c->tags_semver || sync_is_semver(tag);
}

/* The WWW-Authenticate parser. */

/* An RFC 7230 token character (never the terminating NUL). */
static bool is_tchar(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int sync_challenge_parse(const char *hdr, struct sync_challenge *out,
                         struct err *err)
{
	const char *p = skip_ws(hdr ? hdr : ""), *name;
	size_t nname;

	*out = (struct sync_challenge){0};
	name = p;
	while (is_tchar(*p))
		p++;
	nname = (size_t)(p - name);
	if (nname == 5 && strncasecmp(name, "basic", 5) == 0)
		out->scheme = SYNC_AUTH_BASIC;
	else if (nname == 6 && strncasecmp(name, "bearer", 6) == 0)
		out->scheme = SYNC_AUTH_BEARER;
	else
		return err_set(err, ERR_INVALID,
		               "no Basic or Bearer challenge");
	if (*p && *p != ' ' && *p != '\t')
		return err_set(err, ERR_INVALID, "malformed challenge");
	for (;;) {
		char *dst = NULL, *end;
		size_t cap = 0;

		p = skip_ws(p);
		while (*p == ',')
			p = skip_ws(p + 1);
		if (!*p)
			return 0;
		name = p;
		while (is_tchar(*p))
			p++;
		nname = (size_t)(p - name);
		if (!nname)
			return err_set(err, ERR_INVALID,
			               "malformed challenge parameter");
		p = skip_ws(p);
		if (*p != '=') /* the next challenge: only the first counts */
			return 0;
		p = skip_ws(p + 1);
		if (nname == 5 && strncasecmp(name, "realm", 5) == 0) {
			dst = out->realm;
			cap = sizeof(out->realm);
		} else if (nname == 7 && strncasecmp(name, "service", 7) == 0) {
			dst = out->service;
			cap = sizeof(out->service);
		} else if (nname == 5 && strncasecmp(name, "scope", 5) == 0) {
			dst = out->scope;
			cap = sizeof(out->scope);
		}
		end = dst ? dst + cap - 1 : NULL;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (dst && dst == end)
					return err_set(
						err, ERR_INVALID,
						"challenge parameter too "
						"long");
				if (dst)
					*dst++ = *p;
			}
			if (*p != '"')
				return err_set(err, ERR_INVALID,
				               "unterminated quoted string");
			p++;
		} else {
			const char *v = p;

			while (is_tchar(*p) || *p == '/' || *p == ':' ||
			       *p == '=')
				p++;
			if (p == v)
				return err_set(err, ERR_INVALID,
				               "empty challenge parameter");
			if (dst && (size_t)(p - v) >= cap)
				return err_set(err, ERR_INVALID,
				               "challenge parameter too long");
			if (dst) {
				memcpy(dst, v, (size_t)(p - v));
				dst += p - v;
			}
		}
		if (dst)
			*dst = '\0';
		p = skip_ws(p);
		if (*p && *p != ',')
			return err_set(err, ERR_INVALID,
			               "malformed challenge parameter");
	}
}

/* The module. */

/* host[:port] of @url, into @out. */
static void url_authority(const char *url, char *out, size_t size)
{
	const char *h = strstr(url, "://");

	h = h ? h + 3 : url;
	snprintf(out, size, "%.*s", (int)strcspn(h, "/"), h);
}

struct sync *sync_new(const struct sync_cfg *c, struct store *st,
                      struct err *err)
{
	struct sync *s;
	json_t *creds = NULL;

	if (sync_cfg_check(c, err) < 0)
		return NULL;
	if (c->credentials_file &&
	    !(creds = creds_load(c->credentials_file, err)))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->cfg = c;
	s->st = st;
	pthread_mutex_init(&s->lock, NULL);
	s->flights = hmap_new();
	s->checks = hmap_new();
	s->regs =
		calloc(c->n_registries ? c->n_registries : 1, sizeof(*s->regs));
	if (!s->flights || !s->checks || !s->regs)
		goto nomem;
	for (size_t i = 0; i < c->n_registries; i++) {
		const struct sync_registry *r = &c->registries[i];

		s->regs[i].cfg = r;
		s->regs[i].ups = calloc(r->n_urls, sizeof(*s->regs[i].ups));
		if (!s->regs[i].ups)
			goto nomem;
		for (size_t j = 0; j < r->n_urls; j++) {
			char auth[512];
			json_t *cr;

			url_authority(r->urls[j], auth, sizeof(auth));
			cr = json_object_get(creds, auth);
			s->regs[i].ups[j] =
				up_new(r->urls[j], r,
			               json_string_value(
					       json_object_get(cr, "username")),
			               json_string_value(
					       json_object_get(cr, "password")),
			               &s->requests, &s->stopping, err);
			if (!s->regs[i].ups[j])
				goto fail;
		}
	}
	json_decref(creds);
	return s;
nomem:
	err_set(err, ERR_NOMEM, "out of memory");
fail:
	json_decref(creds);
	sync_free(s);
	return NULL;
}

void sync_stop(struct sync *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
	log_info("sync stopping: upstream transfers under way end now");
}

static void checks_free(struct sync *s);
static void bg_reap(struct sync *s, bool all);

void sync_free(struct sync *s)
{
	if (!s)
		return;
	/* Background stores end as their transfers do. */
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
	bg_reap(s, true);
	for (size_t i = 0; s->regs && i < s->cfg->n_registries; i++) {
		for (size_t j = 0;
		     s->regs[i].ups && j < s->cfg->registries[i].n_urls; j++)
			up_free(s->regs[i].ups[j]);
		free(s->regs[i].ups);
	}
	free(s->regs);
	hmap_free(s->flights);
	checks_free(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void sync_stats(struct sync *s, struct sync_stats *out)
{
	out->upstream_requests =
		__atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	out->manifests = __atomic_load_n(&s->manifests, __ATOMIC_RELAXED);
	out->blobs = __atomic_load_n(&s->blobs, __ATOMIC_RELAXED);
	out->shared = __atomic_load_n(&s->shared, __ATOMIC_RELAXED);
}

/*
 * The first content entry of @r that maps @repo (NULL content: @r has
 * none, and maps every name), with the upstream name in @remote.
 */
static bool reg_maps(const struct sync_registry *r, const char *repo,
                     const struct sync_content **content, char *remote,
                     size_t size)
{
	struct err e = ERR_INIT;

	*content = NULL;
	if (!r->n_content)
		return sync_map_local(NULL, repo, remote, size) &&
		       ref_name_check(remote, &e) == 0;
	for (size_t i = 0; i < r->n_content; i++)
		if (sync_map_local(&r->content[i], repo, remote, size)) {
			*content = &r->content[i];
			return ref_name_check(remote, &e) == 0;
		}
	return false;
}

bool sync_wants(const struct sync *s, const char *repo)
{
	const struct sync_content *c;
	char remote[REF_NAME_MAX + 1];

	if (!s)
		return false;
	for (size_t i = 0; i < s->cfg->n_registries; i++)
		if (s->cfg->registries[i].on_demand &&
		    reg_maps(&s->cfg->registries[i], repo, &c, remote,
		             sizeof(remote)))
			return true;
	return false;
}

/*
 * Join the transfer @key, or lead it: returns the flight, with *@lead
 * telling which. NULL with ERR_BUSY when the table is full.
 */
static struct flight *flight_join(struct sync *s, const char *key, bool *lead,
                                  struct err *err)
{
	struct flight *f;

	pthread_mutex_lock(&s->lock);
	f = hmap_get(s->flights, key);
	if (f) {
		f->refs++;
		*lead = false;
		__atomic_add_fetch(&s->shared, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->lock);
		return f;
	}
	if (hmap_count(s->flights) >= SYNC_FLIGHTS_MAX) {
		pthread_mutex_unlock(&s->lock);
		err_set(err, ERR_BUSY, "too many upstream transfers at once");
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f || hmap_put(s->flights, key, f) < 0) {
		pthread_mutex_unlock(&s->lock);
		free(f);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_cond_init(&f->cv, NULL);
	f->refs = 1;
	f->fd = -1;
	*lead = true;
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* Resume every parked follower of @f; s->lock held. */
static void wake_all(struct flight *f)
{
	struct sync_follow *r;

	while ((r = f->parked)) {
		f->parked = r->next;
		r->next = NULL;
		r->parked = false;
		r->wake(r->arg);
	}
	f->woken = f->written;
}

/* Drop a reference to @f; s->lock held. */
static void flight_put(struct flight *f)
{
	if (--f->refs)
		return;
	if (f->fd >= 0)
		close(f->fd);
	pthread_cond_destroy(&f->cv);
	free(f);
}

/* Leave @f: the leader records the outcome; the last one out frees it. */
static int flight_leave(struct sync *s, const char *key, struct flight *f,
                        bool lead, int ret, struct err *err)
{
	pthread_mutex_lock(&s->lock);
	if (lead) {
		f->done = true;
		f->ret = ret;
		if (ret < 0)
			f->err = *err;
		hmap_del(s->flights, key);
		pthread_cond_broadcast(&f->cv);
		/* Followers that began have their own descriptors. */
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		wake_all(f);
	} else {
		while (!f->done)
			pthread_cond_wait(&f->cv, &s->lock);
		ret = f->ret;
		if (ret < 0)
			*err = f->err;
	}
	flight_put(f);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Blobs. */

/*
 * An upstream answer of @size bytes begins streaming into the staging
 * file @fd (taken): followers that streamed an earlier one fail, the
 * others may begin.
 */
static void flight_begin(struct sync *s, struct flight *f, int fd,
                         uint64_t size)
{
	pthread_mutex_lock(&s->lock);
	f->attempt++;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->size = size;
	f->written = 0;
	wake_all(f);
	pthread_mutex_unlock(&s->lock);
}

/* @written bytes are in the file: wake followers every so often. */
static void flight_progress(struct sync *s, struct flight *f, uint64_t written)
{
	pthread_mutex_lock(&s->lock);
	f->written = written;
	if (f->fd >= 0 && written - f->woken >= SYNC_WAKE_BYTES)
		wake_all(f);
	pthread_mutex_unlock(&s->lock);
}

/* The answer streaming failed: its followers fail now. */
static void flight_abort(struct sync *s, struct flight *f)
{
	pthread_mutex_lock(&s->lock);
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		f->attempt++;
		wake_all(f);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Where a blob's bytes go: an upload session, watched by a flight. */
struct blob_sink {
	struct sync *s;
	struct flight *f;
	struct upload *u;
	const struct up_resp *resp; /* the answer's headers */
	bool begun;                 /* its first bytes came */
};

static int sink_upload(void *arg, const void *buf, size_t len, struct err *err)
{
	struct blob_sink *k = arg;

	test_hold("syncbody", "a blob's bytes");
	if (!k->begun) {
		k->begun = true;
		/* Without a length followers wait for the stored blob. */
		if (k->resp->expected >= 0) {
			int fd;

			/* No 200 announcing more than the store takes. */
			if (store_upload_room(k->u, (uint64_t)k->resp->expected,
			                      err) < 0)
				return -1;
			fd = store_upload_follow(k->u, err);
			if (fd < 0)
				return -1;
			flight_begin(k->s, k->f, fd,
			             (uint64_t)k->resp->expected);
		}
	}
	if (store_upload_append(k->u, buf, len, err) < 0)
		return -1;
	flight_progress(k->s, k->f, store_upload_offset(k->u));
	return 0;
}

/* Fetch blob @dstr of @remote from @r into @repo, for flight @f. */
static int fetch_blob(struct sync *s, const struct sreg *r, const char *repo,
                      const char *remote, const struct digest *d,
                      const char *dstr, struct flight *f, struct err *err)
{
	char id[STORE_UPLOAD_ID_MAX];
	struct up_resp resp;
	struct err last = ERR_INIT;
	struct upload *u;

	for (size_t i = 0; i < r->cfg->n_urls; i++) {
		struct err e = ERR_INIT;
		struct blob_sink k = {s, f, NULL, &resp, false};

		if (store_upload_start(s->st, repo, id, err) < 0)
			return -1;
		u = store_upload_get(s->st, repo, id, err);
		if (!u)
			return -1;
		k.u = u;
		if (up_get(r->ups[i], remote, "blobs", dstr, NULL, 0,
		           sink_upload, &k, &resp, &e) == 0 &&
		    store_upload_commit(u, d, &e) == 0) {
			__atomic_add_fetch(&s->blobs, 1, __ATOMIC_RELAXED);
			log_info("synced blob %s of %s from %s", dstr, repo,
			         up_url(r->ups[i]));
			return 0;
		}
		store_upload_cancel(u);
		flight_abort(s, f);
		if (e.code == ERR_INVALID)
			err_prefix(&e, "upstream %s sent wrong bytes for %s",
			           up_url(r->ups[i]), dstr);
		/* A 404 is overridden by any more telling failure. */
		if (last.code == ERR_OK || last.code == ERR_NOT_FOUND)
			last = e;
	}
	*err = last;
	return -1;
}

static int flight_key(char *key, size_t size, char kind, const char *repo,
                      const char *ref, struct err *err)
{
	if (snprintf(key, size, "%c\n%s\n%s", kind, repo, ref) >= (int)size)
		return err_set(err, ERR_INVALID, "reference too long");
	return 0;
}

/*
 * Join or lead (*@lead) the transfer of blob @d of @repo, whose key
 * goes to @key (BLOB_KEY_MAX bytes) and digest string to @dstr.
 */
static struct flight *blob_flight(struct sync *s, const char *repo,
                                  const struct digest *d, char *key, char *dstr,
                                  bool *lead, struct err *err)
{
	digest_format(d, dstr);
	if (flight_key(key, BLOB_KEY_MAX, 'b', repo, dstr, err) < 0)
		return NULL;
	return flight_join(s, key, lead, err);
}

/*
 * Does a pending manifest of @repo name blob @dstr? The upstream then
 * has it there, so a client may have it from a copy here.
 */
static bool pending_names(struct sync *s, const char *repo, const char *dstr)
{
	bool named = false;

	pthread_mutex_lock(&s->lock);
	for (struct pending *p = s->pending; p && !named; p = p->next)
		named = strcmp(p->repo, repo) == 0 &&
		        strstr(p->body, dstr) != NULL;
	pthread_mutex_unlock(&s->lock);
	return named;
}

/*
 * Blob @d of @repo here already, or linked in from another repository
 * here that the index says holds it (store_blob_adopt(), which checks its
 * hash): true, or false when upstream must be asked. Only for a blob that
 * a manifest from upstream names (which upstream checked it has): a
 * client's blob GET alone never gets another repository's blob.
 */
static bool have_blob(struct sync *s, const char *repo, const struct digest *d)
{
	struct err e = ERR_INIT;
	uint64_t size;

	if (store_blob_stat(s->st, repo, d, &size, &e) == 0)
		return true;
	e = ERR_INIT;
	if (store_blob_adopt(s->st, repo, d, &e) < 0)
		return false;
	log_info("blob of %s linked from another repository, not fetched",
	         repo);
	return true;
}

/* Blob @d of @repo here, from @r (upstream name @remote). */
static int ensure_blob(struct sync *s, const struct sreg *r, const char *repo,
                       const char *remote, const struct digest *d,
                       struct err *err)
{
	char key[BLOB_KEY_MAX], dstr[DIGEST_STR_MAX];
	struct flight *f;
	bool lead;
	int ret;

	f = blob_flight(s, repo, d, key, dstr, &lead, err);
	if (!f)
		return -1;
	ret = 0;
	/* Someone may have finished it just before we came. */
	if (lead && !have_blob(s, repo, d))
		ret = fetch_blob(s, r, repo, remote, d, dstr, f, err);
	return flight_leave(s, key, f, lead, ret, err);
}

/* Manifests. */

static int ensure_manifest(struct sync *s, const struct sreg *r,
                           const char *repo, const char *remote,
                           const char *ref, int depth, struct err *err);

/* The blob descriptor @item of @remote's manifest, brought here. */
static int ensure_desc(struct sync *s, const struct sreg *r, const char *repo,
                       const char *remote, json_t *item, struct err *err)
{
	const char *ds = json_string_value(json_object_get(item, "digest"));
	struct digest d;

	if (!ds || digest_parse(&d, ds, strlen(ds), err) < 0)
		return err_set(err, ERR_INVALID,
		               "upstream manifest of %s has a bad descriptor",
		               remote);
	return ensure_blob(s, r, repo, remote, &d, err);
}

/* What @doc references, brought here: blobs, or an index's manifests. */
static int ensure_refs(struct sync *s, const struct sreg *r, const char *repo,
                       const char *remote, json_t *doc, int depth,
                       struct err *err)
{
	json_t *item;
	size_t i;

	item = json_object_get(doc, "config");
	if (item && ensure_desc(s, r, repo, remote, item, err) < 0)
		return -1;
	json_array_foreach(json_object_get(doc, "layers"), i, item)
	{
		if (ensure_desc(s, r, repo, remote, item, err) < 0)
			return -1;
	}
	json_array_foreach(json_object_get(doc, "manifests"), i, item)
	{
		const char *ds =
			json_string_value(json_object_get(item, "digest"));

		if (!ds || !ref_is_digest(ds))
			return err_set(err, ERR_INVALID,
			               "upstream index of %s has a bad "
			               "descriptor",
			               remote);
		if (depth >= SYNC_DEPTH_MAX)
			return err_set(err, ERR_INVALID,
			               "upstream index of %s nests too deep",
			               remote);
		if (ensure_manifest(s, r, repo, remote, ds, depth + 1, err) < 0)
			return -1;
	}
	return 0;
}

/* Does @body hash to digest string @want? */
static int check_digest(const char *want, const struct up_mem *m,
                        const char *what, struct err *err)
{
	struct digest w, got;

	if (digest_parse(&w, want, strlen(want), err) < 0 ||
	    digest_buffer(w.alg, m->p ? m->p : "", m->n, &got, err) < 0)
		return err_set(err, ERR_INVALID, "upstream %s is no digest",
		               what);
	if (!digest_equal(&w, &got))
		return err_set(err, ERR_INVALID,
		               "upstream manifest does not match its %s %s",
		               what, want);
	return 0;
}

/*
 * Manifest @ref of @remote from the first URL of @r that has it, checked
 * against its digest (the reference's, and Docker-Content-Digest): the
 * bytes in *@m (free m->p), the answer in *@resp, the URL's index in *@url.
 */
static int fetch_bytes(const struct sreg *r, const char *remote,
                       const char *ref, struct up_mem *m, struct up_resp *resp,
                       size_t *url, struct err *err)
{
	struct err last = ERR_INIT;

	*m = (struct up_mem){0};
	for (size_t i = 0; i < r->cfg->n_urls; i++) {
		struct err e = ERR_INIT;

		free(m->p);
		*m = (struct up_mem){0};
		if (up_get(r->ups[i], remote, "manifests", ref, SYNC_ACCEPT,
		           STORE_MANIFEST_MAX, up_sink_mem, m, resp, &e) == 0 &&
		    (!ref_is_digest(ref) ||
		     check_digest(ref, m, "digest", &e) == 0) &&
		    (!resp->digest[0] ||
		     check_digest(resp->digest, m, "Docker-Content-Digest",
		                  &e) == 0)) {
			*url = i;
			return 0;
		}
		if (e.code == ERR_TOO_LARGE)
			err_oci(&e, OCI_SIZE_INVALID);
		if (last.code == ERR_OK || last.code == ERR_NOT_FOUND)
			last = e;
	}
	free(m->p);
	*m = (struct up_mem){0};
	*err = last;
	return -1;
}

/*
 * Manifest @body (@len bytes, upstream media type @ct) of @remote, as
 * @ref of @repo: what it references brought here, then stored.
 */
static int store_fetched(struct sync *s, const struct sreg *r, const char *repo,
                         const char *remote, const char *ref, int depth,
                         const char *ct, const char *body, size_t len,
                         const char *url, struct err *err)
{
	struct manifest_put_result res;
	json_t *doc;
	int ret = -1;

	doc = json_loadb(body, len, 0, NULL);
	if (!json_is_object(doc)) {
		err_set(err, ERR_INVALID, "upstream manifest of %s is not JSON",
		        remote);
		goto out;
	}
	if (ensure_refs(s, r, repo, remote, doc, depth, err) < 0)
		goto out;
	if (store_manifest_put(s->st, repo, ref,
	                       store_mt_is_manifest(ct) ? ct : NULL, body, len,
	                       &res, err) < 0) {
		err_prefix(err, "upstream manifest %s:%s", remote, ref);
		goto out;
	}
	__atomic_add_fetch(&s->manifests, 1, __ATOMIC_RELAXED);
	log_info("synced manifest %s:%s from %s/%s", repo, ref, url, remote);
	ret = 0;
out:
	json_decref(doc);
	return ret;
}

/* Fetch manifest @ref of @remote from @r, its references, store it. */
static int fetch_manifest(struct sync *s, const struct sreg *r,
                          const char *repo, const char *remote, const char *ref,
                          int depth, struct err *err)
{
	struct up_resp resp;
	struct up_mem m;
	size_t url;
	int ret;

	if (fetch_bytes(r, remote, ref, &m, &resp, &url, err) < 0)
		return -1;
	ret = store_fetched(s, r, repo, remote, ref, depth, resp.content_type,
	                    m.p ? m.p : "", m.n, up_url(r->ups[url]), err);
	free(m.p);
	return ret;
}

static int ensure_manifest(struct sync *s, const struct sreg *r,
                           const char *repo, const char *remote,
                           const char *ref, int depth, struct err *err)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16];
	struct manifest_desc desc;
	struct flight *f;
	bool lead;
	int ret = 0;

	if (flight_key(key, sizeof(key), 'm', repo, ref, err) < 0)
		return -1;
	f = flight_join(s, key, &lead, err);
	if (!f)
		return -1;
	if (lead) {
		struct err e = ERR_INIT;

		if (store_manifest_get(s->st, repo, ref, &desc, NULL, &e) < 0)
			ret = fetch_manifest(s, r, repo, remote, ref, depth,
			                     err);
	}
	return flight_leave(s, key, f, lead, ret, err);
}

static void check_mark(struct sync *s, char kind, const char *repo,
                       const char *ref);

/* Manifests answered before their blobs are here. */

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	free(p->body);
	free(p);
}

/* The pending manifest @ref (a tag or a digest) of @repo; s->lock held. */
static struct pending *pending_find(struct sync *s, const char *repo,
                                    const char *ref)
{
	bool dig = ref_is_digest(ref);

	for (struct pending *p = s->pending; p; p = p->next)
		if (strcmp(p->repo, repo) == 0 &&
		    strcmp(dig ? p->dstr : p->tag, ref) == 0)
			return p;
	return NULL;
}

int sync_pending_get(struct sync *s, const char *repo, const char *ref,
                     struct sync_manifest_copy *out, struct err *err)
{
	struct pending *p;
	int ret = 0;

	*out = (struct sync_manifest_copy){0};
	pthread_mutex_lock(&s->lock);
	p = pending_find(s, repo, ref);
	if (p) {
		out->body = malloc(p->len + 1);
		if (out->body) {
			memcpy(out->body, p->body, p->len);
			out->body[p->len] = '\0';
			out->len = p->len;
			out->digest = p->digest;
			memcpy(out->media_type, p->media_type,
			       sizeof(out->media_type));
			ret = 1;
		} else {
			ret = err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/*
 * A pending manifest of @repo asked as @ref, from fetched @m (taken on
 * success) with answer @resp: its digest as the store will compute it,
 * its media type as the store will keep it. NULL (nothing taken) when
 * it is no JSON object, its media type is not told, or the store would
 * refuse it (store_manifest_check()): the caller then stores it before
 * answering, and so answers the store's error.
 */
static struct pending *pending_new(const char *repo, const char *ref,
                                   struct up_mem *m, const struct up_resp *resp,
                                   const char *url)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct err e = ERR_INIT;
	const char *mt = NULL;
	json_t *doc;

	if (!p)
		return NULL;
	doc = json_loadb(m->p ? m->p : "", m->n, 0, NULL);
	if (store_mt_is_manifest(resp->content_type))
		mt = resp->content_type;
	else if (store_mt_is_manifest(
			 json_string_value(json_object_get(doc, "mediaType"))))
		mt = json_string_value(json_object_get(doc, "mediaType"));
	if (!json_is_object(doc) || !mt ||
	    store_manifest_check(m->p ? m->p : "", m->n,
	                         store_mt_is_manifest(resp->content_type)
	                                 ? resp->content_type
	                                 : NULL,
	                         &e) < 0 ||
	    snprintf(p->media_type, sizeof(p->media_type), "%s", mt) >=
	            (int)sizeof(p->media_type) ||
	    (ref_is_digest(ref) ? digest_parse(&p->digest, ref, strlen(ref), &e)
	                        : digest_buffer(DIGEST_SHA256, m->p ? m->p : "",
	                                        m->n, &p->digest, &e)) < 0) {
		json_decref(doc);
		free(p);
		return NULL;
	}
	json_decref(doc);
	snprintf(p->repo, sizeof(p->repo), "%s", repo);
	if (!ref_is_digest(ref))
		snprintf(p->tag, sizeof(p->tag), "%s", ref);
	digest_format(&p->digest, p->dstr);
	snprintf(p->url, sizeof(p->url), "%s", url);
	p->body = m->p ? m->p : strdup("");
	p->len = m->n;
	m->p = NULL;
	if (!p->body) {
		free(p);
		return NULL;
	}
	return p;
}

/* Join the background threads that have ended (all, with @all). */
static void bg_reap(struct sync *s, bool all)
{
	for (;;) {
		struct bg **pp, *b = NULL;

		pthread_mutex_lock(&s->lock);
		for (pp = &s->bgs; *pp; pp = &(*pp)->next)
			if (all || (*pp)->done) {
				b = *pp;
				*pp = b->next;
				break;
			}
		pthread_mutex_unlock(&s->lock);
		if (!b)
			return;
		pthread_join(b->thread, NULL);
		free(b);
	}
}

/*
 * Store pending manifest b->p: its blobs (an index's manifests) first,
 * then the manifest and its tag. On a failure nothing is stored (blobs
 * that came stay, as after any failed pull); either way the entry goes.
 */
static void *bg_main(void *arg)
{
	struct bg *b = arg;
	struct sync *s = b->s;
	struct pending *p = b->p, **pp;
	struct err e = ERR_INIT;
	int ret;

	ret = store_fetched(s, b->r, p->repo, b->remote,
	                    p->tag[0] ? p->tag : p->dstr, 0, p->media_type,
	                    p->body, p->len, p->url, &e);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	s->n_pending--;
	s->pending_bytes -= p->len;
	b->done = true;
	pthread_mutex_unlock(&s->lock);
	/* Said once it is gone: the next request fetches it again. */
	if (ret < 0)
		log_warn("manifest %s of %s not synced: %s", p->dstr, p->repo,
		         e.msg);
	pending_free(p);
	return NULL;
}

/*
 * Make @p pending and start the thread that stores it (@p is then the
 * thread's). False, with nothing changed, when shutting down or over
 * SYNC_PENDING_MAX or SYNC_PENDING_BYTES.
 */
static bool bg_start(struct sync *s, const struct sreg *r, const char *remote,
                     struct pending *p)
{
	struct bg *b = calloc(1, sizeof(*b));
	bool ok = false;

	bg_reap(s, false);
	if (!b)
		return false;
	b->s = s;
	b->r = r;
	b->p = p;
	snprintf(b->remote, sizeof(b->remote), "%s", remote);
	pthread_mutex_lock(&s->lock);
	if (!sync_stopping(s) && s->n_pending < SYNC_PENDING_MAX &&
	    s->pending_bytes + p->len <= SYNC_PENDING_BYTES &&
	    pthread_create(&b->thread, NULL, bg_main, b) == 0) {
		p->next = s->pending;
		s->pending = p;
		s->n_pending++;
		s->pending_bytes += p->len;
		b->next = s->bgs;
		s->bgs = b;
		ok = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (!ok)
		free(b);
	return ok;
}

/*
 * Leading the early fetch of manifest @ref of @remote at @r: nothing to
 * do when it is stored or pending; else fetched, verified and made
 * pending, or stored at once when it cannot be (no room, no media type).
 */
static int early_lead(struct sync *s, const struct sreg *r, const char *repo,
                      const char *remote, const char *ref, struct err *err)
{
	struct manifest_desc desc;
	struct up_resp resp;
	struct err e = ERR_INIT;
	struct pending *p;
	struct up_mem m;
	size_t url;
	bool have;
	int ret;

	if (store_manifest_get(s->st, repo, ref, &desc, NULL, &e) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	have = pending_find(s, repo, ref) != NULL;
	pthread_mutex_unlock(&s->lock);
	if (have)
		return 0;
	if (fetch_bytes(r, remote, ref, &m, &resp, &url, err) < 0)
		return -1;
	p = pending_new(repo, ref, &m, &resp, up_url(r->ups[url]));
	if (p && bg_start(s, r, remote, p))
		return 0;
	if (p) { /* the bytes back, to store them here */
		m.p = p->body;
		m.n = p->len;
		p->body = NULL;
		pending_free(p);
	}
	ret = store_fetched(s, r, repo, remote, ref, 0, resp.content_type,
	                    m.p ? m.p : "", m.n, up_url(r->ups[url]), err);
	free(m.p);
	return ret;
}

/* sync_manifest_early() at registry @r: 1, 0 or -1 as it. */
static int early_reg(struct sync *s, const struct sreg *r, const char *repo,
                     const char *remote, const char *ref,
                     struct sync_manifest_copy *out, struct err *err)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16];
	struct flight *f;
	bool lead;
	int ret = 0;

	if (flight_key(key, sizeof(key), 'p', repo, ref, err) < 0)
		return -1;
	f = flight_join(s, key, &lead, err);
	if (!f)
		return -1;
	if (lead)
		ret = early_lead(s, r, repo, remote, ref, err);
	if (flight_leave(s, key, f, lead, ret, err) < 0)
		return -1;
	return sync_pending_get(s, repo, ref, out, err);
}

/*
 * The onDemand registries that map @repo are asked in order; the first
 * that has the manifest brings it (@early: answers as
 * sync_manifest_early()). A 404 from one gives way to any more telling
 * failure of another.
 */
static int manifest_regs(struct sync *s, const char *repo, const char *ref,
                         struct sync_manifest_copy *early, struct err *err)
{
	const struct sync_content *c;
	char remote[REF_NAME_MAX + 1];
	struct err last = ERR_INIT;
	bool filtered = false;
	int ret;

	for (size_t i = 0; i < s->cfg->n_registries; i++) {
		struct err e = ERR_INIT;

		if (!s->regs[i].cfg->on_demand ||
		    !reg_maps(s->regs[i].cfg, repo, &c, remote, sizeof(remote)))
			continue;
		if (!ref_is_digest(ref) && !sync_tag_allowed(c, ref)) {
			filtered = true;
			continue;
		}
		ret = early ? early_reg(s, &s->regs[i], repo, remote, ref,
		                        early, &e)
		            : ensure_manifest(s, &s->regs[i], repo, remote, ref,
		                              0, &e);
		if (ret >= 0) {
			if (!ref_is_digest(ref)) /* just asked: checked now */
				check_mark(s, 't', repo, ref);
			return ret;
		}
		if (last.code == ERR_OK || last.code == ERR_NOT_FOUND)
			last = e;
	}
	if (last.code != ERR_OK) {
		*err = last;
		return -1;
	}
	return err_set(err, ERR_NOT_FOUND, "%s:%s %s", repo, ref,
	               filtered ? "is left out by the sync content filters"
	                        : "is not synced from any upstream");
}

/*
 * Blob @d of @repo, for flight @f that this thread leads: the onDemand
 * registries that map @repo are asked in order, as for a manifest.
 */
static int blob_lead(struct sync *s, const char *repo, const struct digest *d,
                     struct flight *f, struct err *err)
{
	const struct sync_content *c;
	char remote[REF_NAME_MAX + 1], dstr[DIGEST_STR_MAX];
	struct err last = ERR_INIT;
	uint64_t size;

	digest_format(d, dstr);
	for (size_t i = 0; i < s->cfg->n_registries; i++) {
		struct err e = ERR_INIT;

		if (!s->regs[i].cfg->on_demand ||
		    !reg_maps(s->regs[i].cfg, repo, &c, remote, sizeof(remote)))
			continue;
		/* Someone may have finished it just before we came; a blob
		 * a pending manifest names may be linked from elsewhere. */
		if (store_blob_stat(s->st, repo, d, &size, &e) == 0 ||
		    (pending_names(s, repo, dstr) && have_blob(s, repo, d)))
			return 0;
		e = ERR_INIT;
		if (fetch_blob(s, &s->regs[i], repo, remote, d, dstr, f, &e) ==
		    0)
			return 0;
		if (last.code == ERR_OK || last.code == ERR_NOT_FOUND)
			last = e;
	}
	if (last.code != ERR_OK) {
		*err = last;
		return -1;
	}
	return err_set(err, ERR_NOT_FOUND, "%s is not synced from any upstream",
	               repo);
}

/* For periodic.c (sync_int.h). */

struct store *sync_store(struct sync *s)
{
	return s->st;
}

const struct sync_cfg *sync_config(const struct sync *s)
{
	return s->cfg;
}

struct upstream *sync_upstream(struct sync *s, size_t reg, size_t url)
{
	return s->regs[reg].ups[url];
}

void sync_trim(const char *s, const char *set, const char **b, size_t *n)
{
	trim(s, set, b, n);
}

bool sync_stopping(const struct sync *s)
{
	return __atomic_load_n(&s->stopping, __ATOMIC_RELAXED) != 0;
}

int sync_ensure_manifest(struct sync *s, size_t reg, const char *repo,
                         const char *remote, const char *ref, struct err *err)
{
	return ensure_manifest(s, &s->regs[reg], repo, remote, ref, 0, err);
}

/* Re-checking mirrored tags. */

/* When a (repository, tag) was last checked upstream. */
struct check {
	struct check *older, *newer; /* in s->oldest..s->newest order */
	uint64_t at_ms;              /* the last check began (monotonic) */
	bool failed;                 /* the last check failed (and said so) */
	char key[];                  /* its key in s->checks */
};

static void checks_free(struct sync *s)
{
	struct check *c, *next;

	for (c = s->oldest; c; c = next) {
		next = c->newer;
		free(c);
	}
	hmap_free(s->checks);
}

static void check_unlink(struct sync *s, struct check *c)
{
	if (c->older)
		c->older->newer = c->newer;
	else
		s->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		s->newest = c->older;
	c->older = c->newer = NULL;
}

/*
 * The check of @key, made the newest and dated @now; created if new,
 * forgetting the oldest past SYNC_CHECKS_MAX. NULL when out of memory.
 * Called with s->lock held.
 */
static struct check *check_touch(struct sync *s, const char *key, uint64_t now)
{
	struct check *c = hmap_get(s->checks, key);
	size_t len = strlen(key);

	if (c) {
		check_unlink(s, c);
	} else {
		if (hmap_count(s->checks) >= SYNC_CHECKS_MAX && s->oldest) {
			struct check *old = s->oldest;

			check_unlink(s, old);
			hmap_del(s->checks, old->key);
			free(old);
		}
		c = calloc(1, sizeof(*c) + len + 1);
		if (!c)
			return NULL;
		memcpy(c->key, key, len + 1);
		if (hmap_put(s->checks, key, c) < 0) {
			free(c);
			return NULL;
		}
	}
	c->at_ms = now;
	c->older = s->newest;
	if (s->newest)
		s->newest->newer = c;
	else
		s->oldest = c;
	s->newest = c;
	return c;
}

/* The key of a check: @kind 't' (tag @ref) or 'R' (referrers of @ref). */
static int check_key(char *key, size_t size, char kind, const char *repo,
                     const char *ref)
{
	struct err e = ERR_INIT;

	return flight_key(key, size, kind, repo, ref, &e);
}

/* @ref of @repo was just asked upstream: checked now. */
static void check_mark(struct sync *s, char kind, const char *repo,
                       const char *ref)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16];

	if (check_key(key, sizeof(key), kind, repo, ref) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	(void)check_touch(s, key, clock_mono_ms());
	pthread_mutex_unlock(&s->lock);
}

/* Is check @key due with @every (0: never)? If so, it is made now. */
static bool check_due(struct sync *s, const char *key, uint64_t every)
{
	uint64_t now = clock_mono_ms();
	struct check *ck;
	bool due;

	if (!every)
		return false;
	pthread_mutex_lock(&s->lock);
	ck = hmap_get(s->checks, key);
	due = !ck || now - ck->at_ms >= every;
	/* Out of memory, no check: better than checking on every request. */
	if (due && !check_touch(s, key, now))
		due = false;
	pthread_mutex_unlock(&s->lock);
	return due;
}

bool sync_recheck_due(struct sync *s, const char *repo, const char *tag)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16];
	char remote[REF_NAME_MAX + 1];
	const struct sync_content *c;
	const struct sync_registry *r = NULL;

	if (!s || ref_is_digest(tag))
		return false;
	for (size_t i = 0; !r && i < s->cfg->n_registries; i++)
		if (s->cfg->registries[i].on_demand &&
		    reg_maps(&s->cfg->registries[i], repo, &c, remote,
		             sizeof(remote)) &&
		    sync_tag_allowed(c, tag))
			r = &s->cfg->registries[i];
	if (!r || check_key(key, sizeof(key), 't', repo, tag) < 0)
		return false;
	return check_due(s, key, r->tag_recheck_ms);
}

/*
 * Check tag @tag of @remote at @r: 0 if it names @have there, or once
 * the manifest it names now is here, under the tag.
 */
static int recheck_reg(struct sync *s, const struct sreg *r, const char *repo,
                       const char *remote, const char *tag, const char *have,
                       struct err *err)
{
	struct err last = ERR_INIT;
	struct up_resp resp;

	for (size_t j = 0; j < r->cfg->n_urls; j++) {
		struct err e = ERR_INIT;

		if (up_head(r->ups[j], remote, "manifests", tag, SYNC_ACCEPT,
		            SYNC_CHECK_TIMEOUT_MS, &resp, &e) < 0) {
			if (last.code == ERR_OK || last.code == ERR_NOT_FOUND)
				last = e;
			continue;
		}
		if (resp.digest[0] && strcmp(resp.digest, have) == 0)
			return 0;
		/* Moved, or no digest said: the manifest itself tells. */
		return fetch_manifest(s, r, repo, remote, tag, 0, err);
	}
	*err = last;
	return -1;
}

/* Say a failed check once, until a check of the same @ref works again. */
static void check_outcome(struct sync *s, char kind, const char *repo,
                          const char *ref, int ret, const struct err *why)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16];
	const char *what =
		kind == 't' ? "re-check" : "ask for the referrers of";
	struct check *ck;
	bool was = false;

	if (check_key(key, sizeof(key), kind, repo, ref) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	ck = hmap_get(s->checks, key);
	if (ck) {
		was = ck->failed;
		ck->failed = ret < 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0 && !was)
		log_warn("cannot %s %s%c%s upstream, serving what is here: %s",
		         what, repo, kind == 't' ? ':' : '@', ref, why->msg);
	else if (ret == 0 && was)
		log_info("%s %s%c%s upstream works again",
		         kind == 't' ? "re-check of"
		                     : "asking for the referrers of",
		         repo, kind == 't' ? ':' : '@', ref);
}

void sync_recheck(struct sync *s, const char *repo, const char *tag)
{
	char have[DIGEST_STR_MAX], now[DIGEST_STR_MAX];
	char remote[REF_NAME_MAX + 1];
	const struct sync_content *c;
	struct manifest_desc desc;
	struct err last = ERR_INIT, e = ERR_INIT;
	int ret = -1;

	if (store_manifest_get(s->st, repo, tag, &desc, NULL, &e) < 0)
		return; /* gone meanwhile: the next request fetches it */
	digest_format(&desc.digest, have);
	for (size_t i = 0; ret < 0 && i < s->cfg->n_registries; i++) {
		const struct sreg *r = &s->regs[i];

		e = ERR_INIT;
		if (!r->cfg->on_demand ||
		    !reg_maps(r->cfg, repo, &c, remote, sizeof(remote)) ||
		    !sync_tag_allowed(c, tag))
			continue;
		ret = recheck_reg(s, r, repo, remote, tag, have, &e);
		if (ret < 0 &&
		    (last.code == ERR_OK || last.code == ERR_NOT_FOUND))
			last = e;
	}
	if (ret < 0 && last.code == ERR_OK)
		return; /* no registry maps it now */
	if (ret == 0 &&
	    store_manifest_get(s->st, repo, tag, &desc, NULL, &e) == 0) {
		digest_format(&desc.digest, now);
		if (strcmp(now, have))
			log_info("tag %s:%s moved upstream: now %s, was %s",
			         repo, tag, now, have);
	}
	check_outcome(s, 't', repo, tag, ret, &last);
}

/* Referrers on demand. */

/* Does anything here refer to @subject in @repo? */
static bool have_referrers(struct sync *s, const char *repo,
                           const struct digest *subject)
{
	struct err e = ERR_INIT;
	char *json = NULL;
	json_t *doc;
	size_t len;
	bool have;

	if (store_referrers(s->st, repo, subject, NULL, &json, &len, &e) < 0)
		return false;
	doc = json_loadb(json, len, 0, NULL);
	have = json_array_size(json_object_get(doc, "manifests")) > 0;
	json_decref(doc);
	free(json);
	return have;
}

bool sync_referrers_due(struct sync *s, const char *repo,
                        const struct digest *subject)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16], dstr[DIGEST_STR_MAX];
	char remote[REF_NAME_MAX + 1];
	const struct sync_content *c;
	const struct sync_registry *r = NULL;

	if (!s)
		return false;
	for (size_t i = 0; !r && i < s->cfg->n_registries; i++)
		if (s->cfg->registries[i].on_demand &&
		    reg_maps(&s->cfg->registries[i], repo, &c, remote,
		             sizeof(remote)))
			r = &s->cfg->registries[i];
	digest_format(subject, dstr);
	if (!r || check_key(key, sizeof(key), 'R', repo, dstr) < 0)
		return false;
	if (!have_referrers(s, repo, subject))
		return true;
	return check_due(s, key, r->tag_recheck_ms);
}

/*
 * Bring here every manifest that the referrers index @m of @remote at @r
 * lists. What one failure leaves out does not stop the others.
 */
static int store_listed(struct sync *s, const struct sreg *r, const char *repo,
                        const char *remote, const struct up_mem *m,
                        struct err *err)
{
	struct err first = ERR_INIT;
	json_t *doc, *item;
	size_t i;

	doc = json_loadb(m->p ? m->p : "", m->n, 0, NULL);
	if (!json_is_array(json_object_get(doc, "manifests"))) {
		json_decref(doc);
		return err_set(err, ERR_INVALID,
		               "upstream referrers of %s are no image index",
		               remote);
	}
	json_array_foreach(json_object_get(doc, "manifests"), i, item)
	{
		const char *ds =
			json_string_value(json_object_get(item, "digest"));
		struct err e = ERR_INIT;

		if (!ds || !ref_is_digest(ds))
			err_set(&e, ERR_INVALID,
			        "upstream referrers of %s list a bad "
			        "descriptor",
			        remote);
		else if (ensure_manifest(s, r, repo, remote, ds, 0, &e) == 0)
			continue;
		if (first.code == ERR_OK)
			first = e;
	}
	json_decref(doc);
	if (first.code != ERR_OK) {
		*err = first;
		return -1;
	}
	return 0;
}

/*
 * Ask the registries that map @repo for the referrers of @dstr: the
 * first URL whose list is brought in whole decides; a 404 (no API) or
 * a failure gives way to the next.
 */
static int ask_referrers(struct sync *s, const char *repo, const char *dstr,
                         struct err *err)
{
	char remote[REF_NAME_MAX + 1];
	const struct sync_content *c;
	struct err last = ERR_INIT;

	for (size_t i = 0; i < s->cfg->n_registries; i++) {
		const struct sreg *r = &s->regs[i];

		if (!r->cfg->on_demand ||
		    !reg_maps(r->cfg, repo, &c, remote, sizeof(remote)))
			continue;
		for (size_t j = 0; j < r->cfg->n_urls; j++) {
			struct up_mem m = {0};
			struct err e = ERR_INIT;
			int rc;

			rc = sync_referrers_pages(r->ups[j], remote, dstr, &m,
			                          &e);
			if (rc == 0)
				rc = store_listed(s, r, repo, remote, &m, &e);
			free(m.p);
			if (rc == 0)
				return 0;
			/* 404: no referrers API (Distribution 2.8), or none */
			if (e.code != ERR_NOT_FOUND && last.code == ERR_OK)
				last = e;
		}
	}
	if (last.code != ERR_OK) {
		*err = last;
		return -1;
	}
	return 0;
}

static int referrers_od(struct sync *s, const char *repo,
                        const struct digest *subject, struct err *err)
{
	char key[REF_NAME_MAX + DIGEST_STR_MAX + 16], dstr[DIGEST_STR_MAX];
	struct flight *f;
	bool lead;
	int ret = 0;

	digest_format(subject, dstr);
	if (flight_key(key, sizeof(key), 'R', repo, dstr, err) < 0)
		return -1;
	f = flight_join(s, key, &lead, err);
	if (!f)
		return -1;
	if (lead) {
		check_mark(s, 'R', repo, dstr);
		ret = ask_referrers(s, repo, dstr, err);
		check_outcome(s, 'R', repo, dstr, ret, err);
	}
	return flight_leave(s, key, f, lead, ret, err);
}

static int blob_od(struct sync *s, const char *repo, const struct digest *d,
                   struct err *err)
{
	char key[BLOB_KEY_MAX], dstr[DIGEST_STR_MAX];
	struct flight *f;
	bool lead;
	int ret = 0;

	f = blob_flight(s, repo, d, key, dstr, &lead, err);
	if (!f)
		return -1;
	if (lead)
		ret = blob_lead(s, repo, d, f, err);
	return flight_leave(s, key, f, lead, ret, err);
}

/* Streaming. */

struct sync_follow *sync_follow(struct sync *s, const char *repo,
                                const struct digest *d, sync_wake_fn park,
                                sync_wake_fn wake, void *arg,
                                struct sync_job **job, struct err *err)
{
	struct sync_follow *r = calloc(1, sizeof(*r));
	struct sync_job *j = calloc(1, sizeof(*j));
	bool lead;

	*job = NULL;
	if (!r || !j) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	r->f = blob_flight(s, repo, d, j->key, j->dstr, &lead, err);
	if (!r->f)
		goto fail;
	r->s = s;
	r->park = park;
	r->wake = wake;
	r->arg = arg;
	r->fd = -1;
	if (!lead) {
		free(j);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	r->f->refs++; /* the leader's is the job's */
	pthread_mutex_unlock(&s->lock);
	j->s = s;
	j->f = r->f;
	snprintf(j->repo, sizeof(j->repo), "%s", repo);
	j->d = *d;
	*job = j;
	return r;
fail:
	free(r);
	free(j);
	return NULL;
}

static int job_run_od(struct sync_job *j, struct err *err)
{
	int ret = blob_lead(j->s, j->repo, &j->d, j->f, err);

	/* No client may be left to say it: the log does. */
	if (ret < 0)
		log_warn("blob %s of %s not synced: %s", j->dstr, j->repo,
		         err->msg);
	ret = flight_leave(j->s, j->key, j->f, true, ret, err);
	free(j);
	return ret;
}

void sync_job_cancel(struct sync_job *j)
{
	struct err e = ERR_INIT;

	err_set(&e, ERR_BUSY, "shutting down: not fetched");
	(void)flight_leave(j->s, j->key, j->f, true, -1, &e);
	free(j);
}

/* Is there more for @r past @pos? Decides, or parks @r; s->lock held. */
static enum sync_follow_state follow_look(struct sync_follow *r, uint64_t pos,
                                          struct sync_view *v)
{
	struct flight *f = r->f;

	if (!r->attempt && !f->done && f->fd >= 0 &&
	    f->size > SYNC_STREAM_MIN) { /* begin */
		int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);

		if (fd < 0) {
			err_set_errno(&v->err, errno,
			              "cannot follow the transfer");
			return SYNC_FAILED;
		}
		r->attempt = f->attempt;
		r->fd = fd;
		r->size = f->size;
	}
	if (!r->attempt && f->done) {
		if (f->ret == 0)
			return SYNC_STORED;
		v->err = f->err;
		return SYNC_FAILED;
	}
	if (r->attempt) {
		if (f->attempt != r->attempt || (f->done && f->ret < 0)) {
			if (f->done)
				v->err = f->err;
			else
				err_set(&v->err, ERR_IO,
				        "the upstream transfer failed");
			return SYNC_FAILED;
		}
		v->fd = r->fd;
		v->size = r->size;
		if (f->done) { /* stored: all of it */
			if (f->written != r->size) {
				err_set(&v->err, ERR_IO,
				        "upstream sent %llu bytes, not %llu",
				        (unsigned long long)f->written,
				        (unsigned long long)r->size);
				return SYNC_FAILED;
			}
			v->readable = r->size;
			return SYNC_READY;
		}
		/* The last byte only once the blob is verified. */
		v->readable = f->written < r->size ? f->written
		              : r->size            ? r->size - 1
		                                   : 0;
		if (v->readable > pos)
			return SYNC_READY;
	}
	r->parked = true;
	r->next = f->parked;
	f->parked = r;
	r->park(r->arg);
	return SYNC_WAIT;
}

enum sync_follow_state sync_follow_poll(struct sync_follow *r, uint64_t pos,
                                        struct sync_view *v)
{
	enum sync_follow_state st;

	*v = (struct sync_view){.fd = -1, .err = ERR_INIT};
	pthread_mutex_lock(&r->s->lock);
	st = follow_look(r, pos, v);
	pthread_mutex_unlock(&r->s->lock);
	return st;
}

void sync_follow_free(struct sync_follow *r)
{
	struct sync_follow **pp;

	if (!r)
		return;
	pthread_mutex_lock(&r->s->lock);
	for (pp = &r->f->parked; r->parked && *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	flight_put(r->f);
	pthread_mutex_unlock(&r->s->lock);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* On-demand fetches counted by kind and result. */

static int od_count(struct sync *s, int kind, int ret, const struct err *err)
{
	int res = ret >= 0                     ? SYNC_OD_OK
	          : err->code == ERR_NOT_FOUND ? SYNC_OD_NOT_FOUND
	                                       : SYNC_OD_ERROR;

	__atomic_add_fetch(&s->od[kind][res], 1, __ATOMIC_RELAXED);
	return ret;
}

int sync_manifest(struct sync *s, const char *repo, const char *ref,
                  struct err *err)
{
	return od_count(s, SYNC_OD_MANIFEST,
	                manifest_regs(s, repo, ref, NULL, err), err);
}

int sync_manifest_early(struct sync *s, const char *repo, const char *ref,
                        struct sync_manifest_copy *out, struct err *err)
{
	*out = (struct sync_manifest_copy){0};
	return od_count(s, SYNC_OD_MANIFEST,
	                manifest_regs(s, repo, ref, out, err), err);
}

int sync_blob(struct sync *s, const char *repo, const struct digest *d,
              struct err *err)
{
	return od_count(s, SYNC_OD_BLOB, blob_od(s, repo, d, err), err);
}

int sync_job_run(struct sync_job *j, struct err *err)
{
	struct sync *s = j->s;

	return od_count(s, SYNC_OD_BLOB, job_run_od(j, err), err);
}

int sync_referrers(struct sync *s, const char *repo,
                   const struct digest *subject, struct err *err)
{
	return od_count(s, SYNC_OD_REFERRERS,
	                referrers_od(s, repo, subject, err), err);
}

void sync_ondemand_counts(struct sync *s,
                          uint64_t out[SYNC_OD_KINDS][SYNC_OD_RESULTS])
{
	for (int k = 0; k < SYNC_OD_KINDS; k++)
		for (int r = 0; r < SYNC_OD_RESULTS; r++)
			out[k][r] =
				__atomic_load_n(&s->od[k][r], __ATOMIC_RELAXED);
}
