/* SPDX-License-Identifier: Apache-2.0 */
/*
 * periodic.c - mirroring: pollInterval's periodic runs and dray sync.
 *
 * A run first lists the catalogs of the registries it covers (each page
 * named by the previous one's Link rel="next"), so that it knows how many
 * repositories there are, then mirrors them one at a time: the tag list,
 * then per tag a HEAD for the upstream digest, compared with the local
 * tag's. A tag that differs comes through sync.c's on-demand machinery
 * (single flight, verified, stored like a push; what is here is not
 * fetched again): by tag when it is new here, by digest and then tagged
 * when it moved; its referrers (and an index's, those of each manifest
 * it lists) come the same way (an upstream that
 * answers 404 to the referrers API has none, and is not asked again in
 * the run). Every failure is logged and counted, and the run goes on.
 * The caller's should_stop() is asked between steps (a step ends with
 * the transfer under way). With onlySigned, a tag new or moved upstream
 * comes only if its manifest has a signature there (cosign's tag
 * sha256-<hex>.sig, or a cosign or notation signature referrer).
 * sync_metrics() renders what runs and the upstream clients did;
 * sync_mirror_update() applies SIGHUP's pollIntervals.
 *
 * DRAY_TEST_SYNC_PAGE (tests only) sets the n= of the list requests, so
 * a few repositories make several pages.
 */
#define LOG_MODULE "sync"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "daemon/clock.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/lease.h"
#include "index/store.h"
#include "sync/sync_int.h"

#define MIRROR_PAGE      100     /* n= of a catalog or tag list request */
#define MIRROR_PAGES_MAX 100000  /* pages of one list: a loop otherwise */
#define MIRROR_LIST_MAX  4194304 /* bytes of one page */
#define MIRROR_PATH_MAX  1024    /* a request path with its query */

/* How a run ended (dray_sync_runs_total's result). */
enum { RUN_OK, RUN_FAILED, RUN_STOPPED, RUN_RESULTS };

struct sync_mirror {
	struct sync *s;             /* what it mirrors with */
	const struct sync_cfg *cfg; /* @s's configuration */
	uint64_t *ran_ms;           /* per registry: last run began (monotonic),
	                               0: never; atomic */
	uint64_t *poll_ms;          /* per registry: pollInterval in force
	                               (SIGHUP changes it), atomic */
	unsigned page;              /* n= of list requests */
	pthread_mutex_t lock;       /* protects what follows (metrics) */
	struct sync_run_stats total;  /* what every run did */
	uint64_t runs[RUN_RESULTS];   /* runs ended, by result */
	uint64_t last_ms;             /* how long the last one took */
	uint64_t last_end, last_good; /* wall ms it ended, ended ok; 0 */
};

/* One upstream repository to mirror in a run. */
struct job {
	size_t reg;                    /* registry index */
	size_t url;                    /* the URL whose catalog named it */
	const struct sync_content *c;  /* its content entry, or NULL */
	char remote[REF_NAME_MAX + 1]; /* upstream name */
	char local[REF_NAME_MAX + 1];  /* local name */
};

/* A run under way. */
struct run {
	struct sync_mirror *m;         /* the mirror */
	const struct sync_run_opts *o; /* how */
	struct sync_run_stats st;      /* what it did */
	struct job *jobs;              /* the repositories */
	size_t n_jobs, cap_jobs;       /* how many, allocated */
	struct upstream **refless;     /* answered 404 to referrers */
	size_t n_refless;              /* how many */
};

/* Pure helpers. */

bool sync_content_of(const struct sync_registry *r, const char *remote,
                     const struct sync_content **c)
{
	*c = NULL;
	if (!r->n_content)
		return true;
	for (size_t i = 0; i < r->n_content; i++) {
		const char *p = r->content[i].prefix;

		if (ref_glob_match(p[0] == '/' ? p + 1 : p, remote)) {
			*c = &r->content[i];
			return true;
		}
	}
	return false;
}

bool sync_map_remote(const struct sync_content *c, const char *remote,
                     char *out, size_t size)
{
	const char *rem, *dest, *pfx;
	size_t nrem, ndest, npfx;
	int n;

	sync_trim(remote, "/", &rem, &nrem);
	if (c) {
		sync_trim(c->destination, "/", &dest, &ndest);
		if (c->strip_prefix) {
			/* zot's TrimPrefix of the prefix without its stars */
			sync_trim(c->prefix, "/*", &pfx, &npfx);
			if (nrem >= npfx && strncmp(rem, pfx, npfx) == 0) {
				rem += npfx;
				nrem -= npfx;
			}
			while (nrem && *rem == '/') {
				rem++;
				nrem--;
			}
		}
	} else {
		dest = "";
		ndest = 0;
	}
	n = snprintf(out, size, "%.*s%s%.*s", (int)ndest, dest,
	             ndest && nrem ? "/" : "", (int)nrem, rem);
	return n > 0 && (size_t)n < size;
}

/* Does rel value @v (@n bytes, space-separated types) include "next"? */
static bool rel_has_next(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start;

		while (i < n && v[i] == ' ')
			i++;
		start = i;
		while (i < n && v[i] != ' ')
			i++;
		if (i - start == 4 && strncasecmp(v + start, "next", 4) == 0)
			return true;
	}
	return false;
}

/* The target @t (@n bytes) as a /v2/ path into @out. */
static bool link_path(const char *t, size_t n, char *out, size_t size)
{
	const char *scheme = memchr(t, ':', n);

	if (scheme && n > (size_t)(scheme - t) + 3 && scheme[1] == '/' &&
	    scheme[2] == '/') {
		const char *path =
			memchr(scheme + 3, '/', n - (size_t)(scheme + 3 - t));

		if (!path)
			return false;
		n -= (size_t)(path - t);
		t = path;
	}
	if (n < 4 || strncmp(t, "/v2/", 4) != 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return false;
	memcpy(out, t, n);
	out[n] = '\0';
	return true;
}

bool sync_link_next(const char *link, char *out, size_t size)
{
	const char *p = link ? link : "";

	/* link-value = "<" URI-Reference ">" *( ";" link-param ), ... */
	for (;;) {
		const char *t, *end;
		bool next = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p != '<')
			return false;
		t = p + 1;
		end = strchr(t, '>');
		if (!end)
			return false;
		p = end + 1;
		while (*p && *p != ',') {
			const char *name, *v;
			size_t nname, nv;

			while (*p == ' ' || *p == '\t' || *p == ';')
				p++;
			name = p;
			while (*p && !strchr("=;, \t", *p))
				p++;
			nname = (size_t)(p - name);
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p != '=')
				continue;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '"') {
				v = ++p;
				while (*p && *p != '"')
					p++;
				nv = (size_t)(p - v);
				if (*p)
					p++;
			} else {
				v = p;
				while (*p && !strchr(";, \t", *p))
					p++;
				nv = (size_t)(p - v);
			}
			if (nname == 3 && strncasecmp(name, "rel", 3) == 0 &&
			    rel_has_next(v, nv))
				next = true;
		}
		if (next)
			return link_path(t, (size_t)(end - t), out, size);
	}
}

int sync_list_page(const char *body, size_t len, const char *key,
                   struct strvec *out, struct err *err)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL), *arr, *item;
	size_t i;
	int ret = -1;

	if (!json_is_object(doc)) {
		err_set(err, ERR_INVALID, "upstream list is not a JSON object");
		goto out;
	}
	arr = json_object_get(doc, key);
	if (arr && !json_is_null(arr) && !json_is_array(arr)) {
		err_set(err, ERR_INVALID, "upstream list's %s is no array",
		        key);
		goto out;
	}
	json_array_foreach(arr, i, item)
	{
		const char *v = json_is_object(item)
		                        ? json_string_value(json_object_get(
						  item, "digest"))
		                        : json_string_value(item);

		if (!v) {
			err_set(err, ERR_INVALID,
			        "upstream list's %s holds a bad element", key);
			goto out;
		}
		if (strvec_push(out, v) < 0) {
			err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(doc);
	return ret;
}

/* The mirror. */

struct sync_mirror *sync_mirror_new(struct sync *s, struct err *err)
{
	struct sync_mirror *m = calloc(1, sizeof(*m));
	const char *page = getenv("DRAY_TEST_SYNC_PAGE");

	if (!m)
		goto nomem;
	pthread_mutex_init(&m->lock, NULL);
	m->s = s;
	m->cfg = sync_config(s);
	m->ran_ms = calloc(m->cfg->n_registries ? m->cfg->n_registries : 1,
	                   sizeof(*m->ran_ms));
	m->poll_ms = calloc(m->cfg->n_registries ? m->cfg->n_registries : 1,
	                    sizeof(*m->poll_ms));
	if (!m->ran_ms || !m->poll_ms)
		goto nomem;
	for (size_t i = 0; i < m->cfg->n_registries; i++)
		m->poll_ms[i] = m->cfg->registries[i].poll_interval_ms;
	m->page = MIRROR_PAGE;
	if (page && strtoul(page, NULL, 10) > 0 &&
	    strtoul(page, NULL, 10) <= 1000)
		m->page = (unsigned)strtoul(page, NULL, 10);
	return m;
nomem:
	sync_mirror_free(m);
	err_set(err, ERR_NOMEM, "out of memory");
	return NULL;
}

void sync_mirror_free(struct sync_mirror *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->ran_ms);
	free(m->poll_ms);
	free(m);
}

/* Did a registry poll at the start (is there a sync task)? */
static bool polled_at_start(const struct sync_mirror *m)
{
	for (size_t i = 0; i < m->cfg->n_registries; i++)
		if (m->cfg->registries[i].poll_interval_ms)
			return true;
	return false;
}

/* Registry @i's pollInterval in force. */
static uint64_t poll_of(const struct sync_mirror *m, size_t i)
{
	return __atomic_load_n(&m->poll_ms[i], __ATOMIC_RELAXED);
}

uint64_t sync_mirror_interval(const struct sync_mirror *m)
{
	uint64_t min = 0;

	for (size_t i = 0; m && i < m->cfg->n_registries; i++) {
		uint64_t p = poll_of(m, i);

		if (p && (!min || p < min))
			min = p;
	}
	return min;
}

static bool run_stopping(const struct run *r)
{
	if (!r)
		return false; /* on demand: ended by the client's stop */
	return sync_stopping(r->m->s) ||
	       (r->o->should_stop && r->o->should_stop(r->o->arg));
}

/*
 * The "artifactType" of each object of array @key of JSON object @body
 * ("" for none), appended to @out: as many as sync_list_page() adds.
 */
static int list_page_types(const char *body, size_t len, const char *key,
                           struct strvec *out, struct err *err)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL), *item;
	size_t i;
	int ret = 0;

	json_array_foreach(json_object_get(doc, key), i, item)
	{
		const char *t = json_string_value(
			json_object_get(item, "artifactType"));

		if (strvec_push(out, t ? t : "") < 0) {
			ret = err_set(err, ERR_NOMEM, "out of memory");
			break;
		}
	}
	json_decref(doc);
	return ret;
}

/*
 * GET @path of @u and each Link rel="next" page after it, adding the
 * elements of @key to @out (and with @types, their artifactTypes to
 * it). Authenticates for @repo. @r NULL: not in a run (nothing asks it
 * to stop but sync_stop()).
 */
static int list_all(struct run *r, struct upstream *u, const char *path,
                    const char *repo, const char *accept, const char *key,
                    struct strvec *out, struct strvec *types, struct err *err)
{
	char next[MIRROR_PATH_MAX];

	if (snprintf(next, sizeof(next), "%s", path) >= (int)sizeof(next))
		return err_set(err, ERR_INVALID, "upstream path too long");
	for (unsigned pages = 0;; pages++) {
		struct up_mem mem = {0};
		struct up_resp resp;
		size_t had = out->n;
		int rc;

		if (pages == MIRROR_PAGES_MAX)
			return err_set(err, ERR_INVALID,
			               "upstream %s: more than %d pages of %s",
			               up_url(u), MIRROR_PAGES_MAX, path);
		if (pages && run_stopping(r))
			return err_set(err, ERR_BUSY, "stopped");
		rc = up_request(u, false, next, repo, accept, MIRROR_LIST_MAX,
		                up_sink_mem, &mem, &resp, err);
		if (rc == 0)
			rc = sync_list_page(mem.p, mem.n, key, out, err);
		if (rc == 0 && types)
			rc = list_page_types(mem.p, mem.n, key, types, err);
		free(mem.p);
		if (rc < 0)
			return -1;
		/* A page that adds nothing ends it, whatever Link says. */
		if (out->n == had ||
		    !sync_link_next(resp.link, next, sizeof(next)))
			return 0;
	}
}

static int add_job(struct run *r, const struct job *j)
{
	if (r->n_jobs == r->cap_jobs) {
		size_t cap = r->cap_jobs ? 2 * r->cap_jobs : 16;
		struct job *grown = realloc(r->jobs, cap * sizeof(*grown));

		if (!grown)
			return -1;
		r->jobs = grown;
		r->cap_jobs = cap;
	}
	r->jobs[r->n_jobs++] = *j;
	return 0;
}

/* The repositories of registry @reg that its content maps, as jobs. */
static int list_registry(struct run *r, size_t reg, struct err *err)
{
	const struct sync_registry *cfg = &r->m->cfg->registries[reg];
	struct strvec names = {0};
	struct err last = ERR_INIT;
	char path[64];
	size_t url;
	int ret = -1;

	snprintf(path, sizeof(path), "/v2/_catalog?n=%u", r->m->page);
	for (url = 0; url < cfg->n_urls; url++) {
		struct err e = ERR_INIT;

		strvec_release(&names);
		if (list_all(r, sync_upstream(r->m->s, reg, url), path,
		             "_catalog", NULL, "repositories", &names, NULL,
		             &e) == 0)
			break;
		if (e.code == ERR_BUSY) {
			*err = e;
			goto out;
		}
		log_warn("sync: cannot list the catalog of %s: %s",
		         cfg->urls[url], e.msg);
		last = e;
	}
	if (url == cfg->n_urls) {
		*err = last;
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		struct job j = {.reg = reg, .url = url};
		struct err e = ERR_INIT;

		if (!sync_content_of(cfg, names.v[i], &j.c))
			continue;
		if (ref_name_check(names.v[i], &e) < 0 ||
		    snprintf(j.remote, sizeof(j.remote), "%s", names.v[i]) >=
		            (int)sizeof(j.remote) ||
		    !sync_map_remote(j.c, names.v[i], j.local,
		                     sizeof(j.local)) ||
		    ref_name_check(j.local, &e) < 0) {
			log_warn("sync: %s: upstream repository '%s' has no "
			         "valid local name",
			         cfg->urls[url], names.v[i]);
			r->st.repos_failed++;
			continue;
		}
		if (add_job(r, &j) < 0) {
			err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	strvec_release(&names);
	return ret;
}

/*
 * A registry with the referrers API never answers it 404 (distribution
 * spec): one that did has none, and is not asked again in this run.
 */
static bool has_referrers_api(const struct run *r, const struct upstream *u)
{
	for (size_t i = 0; i < r->n_refless; i++)
		if (r->refless[i] == u)
			return false;
	return true;
}

static void no_referrers_api(struct run *r, struct upstream *u)
{
	struct upstream **grown =
		realloc(r->refless, (r->n_refless + 1) * sizeof(*grown));

	log_info("sync: %s answers 404 to the referrers API: no referrers "
	         "are mirrored from it in this run",
	         up_url(u));
	if (!grown)
		return; /* asked again next time: slower, not wrong */
	r->refless = grown;
	r->refless[r->n_refless++] = u;
}

/* The referrers of @dstr upstream, brought here. */
static void mirror_referrers(struct run *r, const struct job *j,
                             const char *dstr)
{
	struct upstream *u = sync_upstream(r->m->s, j->reg, j->url);
	struct store *st = sync_store(r->m->s);
	struct strvec refs = {0};
	char path[MIRROR_PATH_MAX];
	struct err e = ERR_INIT;

	if (!has_referrers_api(r, u))
		return;
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", j->remote, dstr);
	if (list_all(r, u, path, j->remote, MT_OCI_INDEX, "manifests", &refs,
	             NULL, &e) < 0) {
		if (e.code == ERR_NOT_FOUND)
			no_referrers_api(r, u);
		else if (e.code != ERR_BUSY) {
			log_warn("sync: cannot list the referrers of %s@%s: %s",
			         j->remote, dstr, e.msg);
			r->st.referrers_failed++;
		}
		goto out;
	}
	for (size_t i = 0; i < refs.n && !run_stopping(r); i++) {
		struct manifest_desc desc;

		e = ERR_INIT;
		if (!ref_is_digest(refs.v[i])) {
			log_warn("sync: a referrer of %s@%s has a bad digest",
			         j->remote, dstr);
			r->st.referrers_failed++;
			continue;
		}
		if (store_manifest_get(st, j->local, refs.v[i], &desc, NULL,
		                       &e) == 0)
			continue;
		e = ERR_INIT;
		if (sync_ensure_manifest(r->m->s, j->reg, j->local, j->remote,
		                         refs.v[i], &e) < 0) {
			log_warn("sync: cannot mirror referrer %s of %s@%s: %s",
			         refs.v[i], j->remote, dstr, e.msg);
			r->st.referrers_failed++;
			continue;
		}
		r->st.referrers++;
	}
out:
	strvec_release(&refs);
}

/*
 * The referrers of manifest @dstr here, and when it is an index, those
 * of each manifest it lists (a multi-platform image is signed per
 * platform as often as whole).
 */
static void mirror_referrers_all(struct run *r, const struct job *j,
                                 const char *dstr)
{
	struct store *st = sync_store(r->m->s);
	struct manifest_desc desc;
	struct err e = ERR_INIT;
	char *body = NULL;
	json_t *doc, *item;
	size_t i;

	mirror_referrers(r, j, dstr);
	if (!has_referrers_api(r, sync_upstream(r->m->s, j->reg, j->url)) ||
	    store_manifest_get(st, j->local, dstr, &desc, &body, &e) < 0)
		return;
	doc = json_loads(body, 0, NULL);
	free(body);
	json_array_foreach(json_object_get(doc, "manifests"), i, item)
	{
		const char *child =
			json_string_value(json_object_get(item, "digest"));

		if (run_stopping(r))
			break;
		if (child && ref_is_digest(child))
			mirror_referrers(r, j, child);
	}
	json_decref(doc);
}

/* Is @tag one of cosign's, sha256-<hex>[.sig|.att|.sbom]? */
static bool cosign_tag(const char *tag)
{
	size_t n = strspn(tag + (strncmp(tag, "sha256-", 7) ? 0 : 7),
	                  "0123456789abcdef");
	const char *rest = tag + 7 + n;

	return strncmp(tag, "sha256-", 7) == 0 && n == 64 &&
	       (!*rest || strcmp(rest, ".sig") == 0 ||
	        strcmp(rest, ".att") == 0 || strcmp(rest, ".sbom") == 0);
}

/*
 * onlySigned: has manifest @dstr of @j a signature upstream, cosign's
 * tag sha256-<hex>.sig or a referrer whose artifactType is a cosign or
 * notation signature's? Not knowing counts as no.
 */
static bool is_signed(struct run *r, const struct job *j, const char *dstr)
{
	static const char *const sig_types[] = {
		"application/vnd.dev.cosign.artifact.sig.v1+json",
		"application/vnd.cncf.notary.signature",
	};
	struct upstream *u = sync_upstream(r->m->s, j->reg, j->url);
	struct strvec refs = {0}, types = {0};
	const char *hex = strchr(dstr, ':');
	char path[MIRROR_PATH_MAX];
	struct err e = ERR_INIT;
	struct up_resp resp;
	bool yes = false;

	if (!hex)
		return false;
	snprintf(path, sizeof(path), "/v2/%s/manifests/%.*s-%s.sig", j->remote,
	         (int)(hex - dstr), dstr, hex + 1);
	if (up_request(u, true, path, j->remote, SYNC_ACCEPT, 0, up_sink_mem,
	               NULL, &resp, &e) == 0)
		return true;
	if (!has_referrers_api(r, u))
		return false;
	e = ERR_INIT;
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", j->remote, dstr);
	if (list_all(r, u, path, j->remote, MT_OCI_INDEX, "manifests", &refs,
	             &types, &e) < 0) {
		if (e.code == ERR_NOT_FOUND)
			no_referrers_api(r, u);
		goto out;
	}
	for (size_t i = 0; i < types.n && !yes; i++)
		for (size_t k = 0; k < sizeof(sig_types) / sizeof(*sig_types);
		     k++)
			if (strcmp(types.v[i], sig_types[k]) == 0)
				yes = true;
out:
	strvec_release(&refs);
	strvec_release(&types);
	return yes;
}

/* Local tag @tag of @repo points at manifest @dstr (stored already). */
static int retag(struct store *st, const char *repo, const char *tag,
                 const char *dstr, struct err *err)
{
	struct manifest_put_result res;
	struct manifest_desc desc;
	char *body = NULL;
	int ret;

	if (store_manifest_get(st, repo, dstr, &desc, &body, err) < 0)
		return -1;
	ret = store_manifest_put(st, repo, tag, desc.media_type, body,
	                         (size_t)desc.size, &res, err);
	free(body);
	return ret;
}

/* Tag @tag of @j here as upstream has it: counts what it did. */
static void mirror_tag(struct run *r, const struct job *j, const char *tag)
{
	struct upstream *u = sync_upstream(r->m->s, j->reg, j->url);
	struct store *st = sync_store(r->m->s);
	char path[MIRROR_PATH_MAX],
		here[DIGEST_STR_MAX + 8]; /* as resp.digest */
	struct manifest_desc desc;
	struct up_resp resp;
	struct err e = ERR_INIT;
	bool moved = false;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", j->remote, tag);
	if (up_request(u, true, path, j->remote, SYNC_ACCEPT, 0, up_sink_mem,
	               NULL, &resp, &e) < 0)
		goto fail;
	if (!ref_is_digest(resp.digest)) {
		err_set(&e, ERR_INVALID,
		        "upstream %s gave no Docker-Content-Digest", up_url(u));
		goto fail;
	}
	if (store_manifest_get(st, j->local, tag, &desc, NULL, &e) == 0) {
		digest_format(&desc.digest, here);
		if (strcmp(here, resp.digest) == 0) {
			r->st.tags_skipped++;
			mirror_referrers_all(r, j, resp.digest);
			return;
		}
		moved = true;
	}
	if (r->m->cfg->registries[j->reg].only_signed && !cosign_tag(tag) &&
	    !is_signed(r, j, resp.digest)) {
		log_info("sync: %s:%s (%s) has no signature upstream: left "
		         "out (onlySigned)",
		         j->remote, tag, resp.digest);
		r->st.tags_unsigned++;
		return;
	}
	e = ERR_INIT;
	/*
	 * A tag new here whose manifest is not: fetched by tag, so that it
	 * is stored tagged at once (one index.json rewrite, not two).
	 * Otherwise by digest (nothing fetched when it is here), then the
	 * tag is pointed at it.
	 */
	if (!moved && store_manifest_get(st, j->local, resp.digest, &desc, NULL,
	                                 &e) < 0) {
		e = ERR_INIT;
		if (sync_ensure_manifest(r->m->s, j->reg, j->local, j->remote,
		                         tag, &e) < 0 ||
		    store_manifest_get(st, j->local, tag, &desc, NULL, &e) < 0)
			goto fail;
		/* What GET gave, if the tag moved upstream since HEAD. */
		digest_format(&desc.digest, here);
	} else {
		e = ERR_INIT;
		if (sync_ensure_manifest(r->m->s, j->reg, j->local, j->remote,
		                         resp.digest, &e) < 0 ||
		    retag(st, j->local, tag, resp.digest, &e) < 0)
			goto fail;
		snprintf(here, sizeof(here), "%s", resp.digest);
	}
	log_info("sync: mirrored %s:%s as %s:%s (%s)", j->remote, tag, j->local,
	         tag, here);
	r->st.tags_mirrored++;
	mirror_referrers_all(r, j, here);
	return;
fail:
	if (e.code == ERR_BUSY && run_stopping(r))
		return; /* ended by the stop, not failed */
	log_warn("sync: cannot mirror %s:%s as %s:%s: %s", j->remote, tag,
	         j->local, tag, e.msg);
	r->st.tags_failed++;
}

/* Every tag of @j's repository that the filters let through. */
static void mirror_repo(struct run *r, const struct job *j)
{
	struct upstream *u = sync_upstream(r->m->s, j->reg, j->url);
	struct strvec tags = {0};
	char path[MIRROR_PATH_MAX];
	struct err e = ERR_INIT;

	snprintf(path, sizeof(path), "/v2/%s/tags/list?n=%u", j->remote,
	         r->m->page);
	if (list_all(r, u, path, j->remote, NULL, "tags", &tags, NULL, &e) <
	    0) {
		if (e.code != ERR_BUSY) {
			log_warn("sync: cannot list the tags of %s at %s: %s",
			         j->remote, up_url(u), e.msg);
			r->st.repos_failed++;
		}
		goto out;
	}
	for (size_t i = 0; i < tags.n && !run_stopping(r); i++) {
		e = ERR_INIT;
		if (!sync_tag_allowed(j->c, tags.v[i]))
			continue;
		if (ref_tag_check(tags.v[i], &e) < 0) {
			log_warn("sync: %s: upstream tag '%s' is invalid",
			         j->remote, tags.v[i]);
			r->st.tags_failed++;
			continue;
		}
		mirror_tag(r, j, tags.v[i]);
	}
	r->st.repos++;
out:
	strvec_release(&tags);
}

static void add_stats(struct sync_run_stats *to,
                      const struct sync_run_stats *from)
{
	to->runs += from->runs;
	to->repos += from->repos;
	to->repos_failed += from->repos_failed;
	to->tags_mirrored += from->tags_mirrored;
	to->tags_skipped += from->tags_skipped;
	to->tags_failed += from->tags_failed;
	to->referrers += from->referrers;
	to->referrers_failed += from->referrers_failed;
	to->tags_unsigned += from->tags_unsigned;
}

/* Run @st ended (@stopped: before its end), begun at @t0: for metrics. */
static void ran(struct sync_mirror *m, const struct sync_run_stats *st,
                bool stopped, uint64_t t0)
{
	bool failed =
		st->repos_failed || st->tags_failed || st->referrers_failed;

	pthread_mutex_lock(&m->lock);
	add_stats(&m->total, st);
	m->runs[stopped ? RUN_STOPPED : failed ? RUN_FAILED : RUN_OK]++;
	m->last_ms = clock_mono_ms() - t0;
	m->last_end = clock_wall_ms();
	if (!stopped && !failed)
		m->last_good = m->last_end;
	pthread_mutex_unlock(&m->lock);
}

/*
 * On a tree several nodes share, one node at a time polls a registry:
 * the one holding its lease, "sync-" and the start of the sha256 of its
 * first URL (lease.h). 1 this node polls it, 0 another does, -1 failed.
 */
static int registry_lease(struct sync_mirror *m,
                          const struct sync_registry *reg)
{
	char name[sizeof("sync-") + 16];
	struct err e = ERR_INIT;
	struct store *st = sync_store(m->s);
	struct digest d;
	int held;

	if (!st)
		return 1; /* no store: nothing is shared */
	if (digest_buffer(DIGEST_SHA256, reg->urls[0], strlen(reg->urls[0]), &d,
	                  &e) < 0) {
		log_warn("sync: registry %s: %s", reg->urls[0], e.msg);
		return -1;
	}
	snprintf(name, sizeof(name), "sync-%.16s", d.hex);
	held = store_lease_take(st, name, &e);
	if (held < 0)
		log_warn("sync: registry %s: %s", reg->urls[0], e.msg);
	else if (!held)
		log_debug("sync: registry %s: another node polls it",
		          reg->urls[0]);
	return held;
}

int sync_mirror_run(struct sync_mirror *m, const struct sync_run_opts *o,
                    struct sync_run_stats *out, struct err *err)
{
	struct run r = {.m = m, .o = o};
	struct sync_stats before, after;
	uint64_t t0 = clock_mono_ms();
	bool stopped = false;
	int ret = -1;

	sync_stats(m->s, &before);
	for (size_t i = 0; i < m->cfg->n_registries; i++) {
		const struct sync_registry *reg = &m->cfg->registries[i];
		uint64_t poll = poll_of(m, i);
		struct err e = ERR_INIT;

		uint64_t ran = __atomic_load_n(&m->ran_ms[i], __ATOMIC_RELAXED);

		if (!o->all && (!poll || (ran && ran + poll > t0)))
			continue;
		if (!o->all)
			__atomic_store_n(&m->ran_ms[i], t0, __ATOMIC_RELAXED);
		if (!o->all && registry_lease(m, reg) <= 0)
			continue;
		if (run_stopping(&r)) {
			stopped = true;
			break;
		}
		if (list_registry(&r, i, &e) == 0)
			continue;
		if (e.code == ERR_NOMEM) {
			*err = e;
			goto out;
		}
		if (e.code == ERR_BUSY) {
			stopped = true;
			break;
		}
		log_warn("sync: registry %s: %s", reg->urls[0], e.msg);
		r.st.repos_failed++;
	}
	if (o->progress)
		o->progress(o->arg, 0, r.n_jobs);
	for (size_t i = 0; i < r.n_jobs && !stopped; i++) {
		if (run_stopping(&r)) {
			stopped = true;
			break;
		}
		mirror_repo(&r, &r.jobs[i]);
		if (o->progress)
			o->progress(o->arg, i + 1, r.n_jobs);
	}
	stopped = stopped || run_stopping(&r);
	if (!stopped)
		r.st.runs = 1;
	sync_stats(m->s, &after);
	log_info("sync run %s: %llu repositories (%llu failed), tags: %llu "
	         "mirrored, %llu here already, %llu failed, %llu unsigned "
	         "left out; %llu referrers "
	         "(%llu failed); %llu manifests, %llu blobs stored, %llu "
	         "upstream requests in %llu ms",
	         stopped ? "stopped" : "done", (unsigned long long)r.st.repos,
	         (unsigned long long)r.st.repos_failed,
	         (unsigned long long)r.st.tags_mirrored,
	         (unsigned long long)r.st.tags_skipped,
	         (unsigned long long)r.st.tags_failed,
	         (unsigned long long)r.st.tags_unsigned,
	         (unsigned long long)r.st.referrers,
	         (unsigned long long)r.st.referrers_failed,
	         (unsigned long long)(after.manifests - before.manifests),
	         (unsigned long long)(after.blobs - before.blobs),
	         (unsigned long long)(after.upstream_requests -
	                              before.upstream_requests),
	         (unsigned long long)(clock_mono_ms() - t0));
	add_stats(out, &r.st);
	ran(m, &r.st, stopped, t0);
	if (stopped) {
		err_set(err, ERR_BUSY, "sync run stopped");
		goto out;
	}
	ret = 0;
out:
	free(r.jobs);
	free(r.refless);
	return ret;
}

int sync_referrers_pages(struct upstream *u, const char *remote,
                         const char *dstr, struct up_mem *out, struct err *err)
{
	struct strvec refs = {0};
	char path[MIRROR_PATH_MAX];
	json_t *doc = json_object(), *arr = json_array();
	int ret = -1;

	*out = (struct up_mem){0};
	if (snprintf(path, sizeof(path), "/v2/%s/referrers/%s", remote, dstr) >=
	    (int)sizeof(path)) {
		err_set(err, ERR_INVALID, "upstream path too long");
		goto out;
	}
	if (list_all(NULL, u, path, remote, MT_OCI_INDEX, "manifests", &refs,
	             NULL, err) < 0)
		goto out;
	if (!doc || !arr || json_object_set(doc, "manifests", arr) < 0)
		goto nomem;
	for (size_t i = 0; i < refs.n; i++)
		if (json_array_append_new(
			    arr, json_pack("{s:s}", "digest", refs.v[i])) < 0)
			goto nomem;
	out->p = json_dumps(doc, JSON_COMPACT);
	if (!out->p)
		goto nomem;
	out->n = strlen(out->p);
	ret = 0;
	goto out;
nomem:
	err_set(err, ERR_NOMEM, "out of memory");
out:
	json_decref(arr);
	json_decref(doc);
	strvec_release(&refs);
	return ret;
}

/* Metrics. */

static void family(FILE *f, const char *name, const char *type,
                   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Counter family @name, one series per label @key="@v[i]", @n of them. */
static void by(FILE *f, const char *name, const char *help, const char *key,
               size_t n, const char *const *v, const uint64_t *val)
{
	family(f, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s{%s=\"%s\"} %" PRIu64 "\n", name, key, v[i],
		        val[i]);
}

/* Milliseconds @ms as seconds. */
static void secs(FILE *f, const char *name, uint64_t ms)
{
	fprintf(f, "%s %" PRIu64 ".%03" PRIu64 "\n", name, ms / 1000,
	        ms % 1000);
}

/* The requests and bytes of every upstream client, by registry and URL. */
static void render_upstreams(FILE *f, struct sync_mirror *m)
{
	static const char *const result[UP_RESULTS] = {"ok", "not_found",
	                                               "denied", "error"};
	const struct sync_cfg *c = m->cfg;
	uint64_t n[UP_RESULTS], bytes;

	family(f, "dray_sync_upstream_requests_total", "counter",
	       "HTTP requests sent to each upstream URL, by result (ok: 2xx, "
	       "not_found: 404, denied: 401/403, error: any other answer or "
	       "none)");
	for (size_t i = 0; i < c->n_registries; i++)
		for (size_t j = 0; j < c->registries[i].n_urls; j++) {
			up_counts(sync_upstream(m->s, i, j), n, &bytes);
			for (int k = 0; k < UP_RESULTS; k++)
				fprintf(f,
				        "dray_sync_upstream_requests_total{"
				        "registry=\"%zu\",url=\"%zu\","
				        "result=\"%s\"} %" PRIu64 "\n",
				        i, j, result[k], n[k]);
		}
	family(f, "dray_sync_upstream_bytes_total", "counter",
	       "Body bytes received from each upstream URL");
	for (size_t i = 0; i < c->n_registries; i++)
		for (size_t j = 0; j < c->registries[i].n_urls; j++) {
			up_counts(sync_upstream(m->s, i, j), n, &bytes);
			fprintf(f,
			        "dray_sync_upstream_bytes_total{registry=\"%"
			        "zu\","
			        "url=\"%zu\"} %" PRIu64 "\n",
			        i, j, bytes);
		}
}

/* On-demand fetches and what the module stored. */
static void render_ondemand(FILE *f, struct sync_mirror *m)
{
	static const char *const kind[SYNC_OD_KINDS] = {"manifest", "blob",
	                                                "referrers"};
	static const char *const result[SYNC_OD_RESULTS] = {"ok", "not_found",
	                                                    "error"};
	uint64_t od[SYNC_OD_KINDS][SYNC_OD_RESULTS];
	struct sync_stats st;

	sync_ondemand_counts(m->s, od);
	sync_stats(m->s, &st);
	family(f, "dray_sync_ondemand_total", "counter",
	       "On-demand fetches (a client asked for what is not here), by "
	       "kind and result");
	for (int k = 0; k < SYNC_OD_KINDS; k++)
		for (int r = 0; r < SYNC_OD_RESULTS; r++)
			fprintf(f,
			        "dray_sync_ondemand_total{kind=\"%s\","
			        "result=\"%s\"} %" PRIu64 "\n",
			        kind[k], result[r], od[k][r]);
	by(f, "dray_sync_stored_total",
	   "Manifests and blobs stored from upstreams", "kind", 2,
	   (const char *const[]){"manifest", "blob"},
	   (const uint64_t[]){st.manifests, st.blobs});
	family(f, "dray_sync_shared_total", "counter",
	       "Requests that joined an upstream transfer under way");
	fprintf(f, "dray_sync_shared_total %" PRIu64 "\n", st.shared);
}

/* What mirror runs did. */
static void render_runs(FILE *f, struct sync_mirror *m)
{
	static const char *const result[RUN_RESULTS] = {"ok", "failed",
	                                                "stopped"};
	struct sync_run_stats t;
	uint64_t runs[RUN_RESULTS], last_ms, last_end, last_good;

	pthread_mutex_lock(&m->lock);
	t = m->total;
	memcpy(runs, m->runs, sizeof(runs));
	last_ms = m->last_ms;
	last_end = m->last_end;
	last_good = m->last_good;
	pthread_mutex_unlock(&m->lock);
	by(f, "dray_sync_runs_total",
	   "Mirror runs ended (ok; failed: something could not be mirrored; "
	   "stopped: by shutdown)",
	   "result", RUN_RESULTS, result, runs);
	by(f, "dray_sync_tags_total",
	   "Tags seen by mirror runs: mirrored (new or moved), skipped (here "
	   "already), failed, unsigned (left out by onlySigned)",
	   "result", 4,
	   (const char *const[]){"mirrored", "skipped", "failed", "unsigned"},
	   (const uint64_t[]){t.tags_mirrored, t.tags_skipped, t.tags_failed,
	                      t.tags_unsigned});
	by(f, "dray_sync_referrers_total",
	   "Referrer manifests mirrored by runs, and failures", "result", 2,
	   (const char *const[]){"mirrored", "failed"},
	   (const uint64_t[]){t.referrers, t.referrers_failed});
	by(f, "dray_sync_repositories_total",
	   "Upstream repositories mirrored by runs, and those whose catalog "
	   "or tag list could not be read",
	   "result", 2, (const char *const[]){"ok", "failed"},
	   (const uint64_t[]){t.repos, t.repos_failed});
	family(f, "dray_sync_last_run_duration_seconds", "gauge",
	       "How long the last mirror run took (0: none yet)");
	secs(f, "dray_sync_last_run_duration_seconds", last_ms);
	family(f, "dray_sync_last_run_timestamp_seconds", "gauge",
	       "When the last mirror run ended, Unix time (0: none yet)");
	secs(f, "dray_sync_last_run_timestamp_seconds", last_end);
	family(f, "dray_sync_last_success_timestamp_seconds", "gauge",
	       "When the last mirror run that failed nothing ended, Unix "
	       "time (0: none yet)");
	secs(f, "dray_sync_last_success_timestamp_seconds", last_good);
}

void sync_metrics(FILE *f, void *mirror)
{
	render_upstreams(f, mirror);
	render_ondemand(f, mirror);
	render_runs(f, mirror);
}

/* Reload. */

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool content_same(const struct sync_content *a,
                         const struct sync_content *b)
{
	return str_same(a->prefix, b->prefix) &&
	       str_same(a->tags_regex, b->tags_regex) &&
	       str_same(a->tags_exclude, b->tags_exclude) &&
	       a->tags_semver == b->tags_semver &&
	       str_same(a->destination, b->destination) &&
	       a->strip_prefix == b->strip_prefix;
}

/* The first key of registry @a that @b sets otherwise (pollInterval
 * aside), or NULL. */
static const char *registry_diff(const struct sync_registry *a,
                                 const struct sync_registry *b)
{
	if (a->n_urls != b->n_urls)
		return "urls";
	for (size_t i = 0; i < a->n_urls; i++)
		if (!str_same(a->urls[i], b->urls[i]))
			return "urls";
	if (a->n_content != b->n_content)
		return "content";
	for (size_t i = 0; i < a->n_content; i++)
		if (!content_same(&a->content[i], &b->content[i]))
			return "content";
	if (a->on_demand != b->on_demand)
		return "onDemand";
	if (a->tls_verify != b->tls_verify)
		return "tlsVerify";
	if (!str_same(a->cert_dir, b->cert_dir))
		return "certDir";
	if (a->max_retries != b->max_retries)
		return "maxRetries";
	if (a->retry_delay_ms != b->retry_delay_ms)
		return "retryDelay";
	if (a->only_signed != b->only_signed)
		return "onlySigned";
	if (a->preserve_digest != b->preserve_digest)
		return "preserveDigest";
	if (a->sync_timeout_ms != b->sync_timeout_ms)
		return "syncTimeout";
	if (a->tag_recheck_ms != b->tag_recheck_ms)
		return "tagRecheckInterval";
	return NULL;
}

bool sync_mirror_update(struct sync_mirror *m, const struct sync_cfg *c,
                        char *what, size_t size)
{
	const struct sync_cfg *run = m->cfg;
	bool polled = polled_at_start(m), changed = false;
	const char *key;

	what[0] = '\0';
	if (run->enable != c->enable) {
		snprintf(what, size, "extensions.sync.enable");
		return false;
	}
	if (!str_same(run->credentials_file, c->credentials_file))
		snprintf(what, size, "extensions.sync.credentialsFile");
	else if (!str_same(run->download_dir, c->download_dir))
		snprintf(what, size, "extensions.sync.downloadDir");
	if (run->n_registries != c->n_registries) {
		snprintf(what, size,
		         "extensions.sync.registries (%zu now, %zu "
		         "in force)",
		         c->n_registries, run->n_registries);
		return false;
	}
	for (size_t i = 0; i < c->n_registries; i++) {
		uint64_t p = c->registries[i].poll_interval_ms;

		key = registry_diff(&run->registries[i], &c->registries[i]);
		if (key && !what[0])
			snprintf(what, size,
			         "extensions.sync.registries[%zu].%s", i, key);
		if (p == poll_of(m, i))
			continue;
		if (p && !polled) {
			/* no sync task was started: none to reschedule */
			if (!what[0])
				snprintf(what, size,
				         "extensions.sync.registries[%zu]."
				         "pollInterval (no registry polled at "
				         "start)",
				         i);
			continue;
		}
		__atomic_store_n(&m->poll_ms[i], p, __ATOMIC_RELAXED);
		log_info("extensions.sync.registries[%zu].pollInterval is "
		         "%llu ms now",
		         i, (unsigned long long)p);
		changed = true;
	}
	return changed;
}

uint64_t sync_mirror_next_ms(const struct sync_mirror *m)
{
	uint64_t now = clock_mono_ms(), next = 0;
	bool any = false;

	for (size_t i = 0; i < m->cfg->n_registries; i++) {
		uint64_t p = poll_of(m, i),
			 ran = __atomic_load_n(&m->ran_ms[i], __ATOMIC_RELAXED);
		uint64_t in = !ran || ran + p <= now ? 0 : ran + p - now;

		if (p && (!any || in < next)) {
			next = in;
			any = true;
		}
	}
	return next;
}
