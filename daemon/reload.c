/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reload.c - SIGHUP's configuration reload: load, compare, prepare every
 * new version, then publish them all (nothing can fail past that point).
 */
#define LOG_MODULE "reload"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/live.h"
#include "daemon/log.h"
#include "daemon/reload.h"
#include "daemon/sched.h"
#include "http/http.h"
#include "http/ldap.h"
#include "index/store.h"
#include "sync/sync.h"

/* How a restart-only field is compared. */
enum rk_type { RK_STR, RK_SCALAR };

struct rk {
	const char *key; /* zot's name */
	size_t off;      /* the field in struct cfg */
	size_t size;     /* RK_SCALAR: its size */
	enum rk_type type;
};

#define RK_S(k, f)                                    \
	{                                             \
		k, offsetof(struct cfg, f), 0, RK_STR \
	}
#define RK_V(k, f)                                                        \
	{                                                                 \
		k, offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f), \
			RK_SCALAR                                         \
	}

/* Applied only at start: listen sockets, files kept open, the mount. */
static const struct rk restart_only[] = {
	RK_S("distSpecVersion", dist_spec_version),
	RK_S("http.address", http.address),
	RK_V("http.port", http.port),
	RK_S("http.externalUrl", http.external_url),
	RK_S("http.tls.cert", http.tls_cert),
	RK_S("http.tls.key", http.tls_key),
	RK_S("http.tls.caCert", http.tls_cacert),
	RK_V("http.readTimeout", http.read_timeout_ms),
	RK_V("http.writeTimeout", http.write_timeout_ms),
	RK_V("http.readHeaderTimeout", http.read_header_timeout_ms),
	RK_V("http.idleTimeout", http.idle_timeout_ms),
	RK_V("http.drainTimeout", http.drain_timeout_ms),
	RK_V("http.maxConnections", http.max_connections),
	RK_V("http.maxConnectionsPerClient", http.max_connections_per_client),
	RK_S("storage.rootDirectory", storage.root_directory),
	RK_V("storage.commit", storage.commit),
	RK_V("storage.maxUploadSessions", storage.max_upload_sessions),
	RK_V("storage.maxUploadSessionsPerRepo",
             storage.max_upload_sessions_per_repo),
	RK_V("storage.maxBlobSize", storage.max_blob_size),
	RK_S("storage.indexDirectory", storage.index_directory),
	RK_V("log.level", log.level),
	RK_S("log.output", log.output),
	RK_S("log.audit", log.audit),
	RK_V("extensions.scrub.enable", extensions.scrub_enable),
	RK_V("extensions.scrub.interval", extensions.scrub_interval_ms),
	RK_V("extensions.metrics.enable", extensions.metrics_enable),
	RK_S("extensions.metrics.prometheus.path", extensions.metrics_path),
	RK_V("extensions.mgmt.enable", extensions.mgmt_enable),
	RK_S("fuse.mountpoint", fuse.mountpoint),
	RK_V("fuse.readOnly", fuse.read_only),
	RK_V("fuse.allowOther", fuse.allow_other),
	RK_V("fuse.uid", fuse.uid),
	RK_V("fuse.gid", fuse.gid),
	RK_V("extensions.events.enable", extensions.events.enable),
};

static bool same(const struct rk *k, const struct cfg *a, const struct cfg *b)
{
	const char *fa = (const char *)a + k->off;
	const char *fb = (const char *)b + k->off;
	const char *sa, *sb;

	if (k->type == RK_SCALAR)
		return memcmp(fa, fb, k->size) == 0;
	memcpy(&sa, fa, sizeof(sa));
	memcpy(&sb, fb, sizeof(sb));
	return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
}

size_t reload_restart_keys(const struct cfg *old, const struct cfg *new,
                           const char **keys, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(restart_only) / sizeof(*restart_only);
	     i++) {
		if (same(&restart_only[i], old, new))
			continue;
		if (n < max)
			keys[n] = restart_only[i].key;
		n++;
	}
	return n;
}

/* http.auth.ldap of @cfg into @o; false without the section. */
bool reload_ldap_opts(const struct cfg *cfg, struct ldap_opts *o)
{
	*o = (struct ldap_opts){
		.address = cfg->http.ldap.address,
		.port = cfg->http.ldap.port,
		.insecure = cfg->http.ldap.insecure,
		.start_tls = cfg->http.ldap.start_tls,
		.skip_verify = cfg->http.ldap.skip_verify,
		.subtree_search = cfg->http.ldap.subtree_search,
		.base_dn = cfg->http.ldap.base_dn,
		.user_attribute = cfg->http.ldap.user_attribute,
		.group_attribute = cfg->http.ldap.user_group_attribute,
		.user_filter = cfg->http.ldap.user_filter,
		.credentials_file = cfg->http.ldap.credentials_file,
		.cacert = cfg->http.ldap.cacert,
	};
	return cfg->http.ldap.on;
}

void reload_opts(const struct cfg *cfg, struct http_opts *h,
                 struct store_rules *r, struct ldap_opts *ldap)
{
	bool lint = cfg->extensions.lint_enable;

	*r = (struct store_rules){
		&cfg->http.access, cfg->extensions.lint_annotations.v,
		lint ? cfg->extensions.lint_annotations.n : 0};
	h->access = &cfg->http.access;
	h->htpasswd_path = cfg->http.htpasswd_path;
	h->realm = cfg->http.realm;
	/*
	 * zot's failDelay is whole seconds. A waiting answer makes no
	 * progress, so it must stay under writeTimeout (30 s by default).
	 */
	h->fail_delay_ms = cfg->http.fail_delay_s > 20
	                           ? 20000
	                           : (unsigned)cfg->http.fail_delay_s * 1000;
	h->bearer_realm = cfg->http.bearer_realm;
	h->bearer_service = cfg->http.bearer_service;
	h->bearer_cert = cfg->http.bearer_cert;
	h->ldap = reload_ldap_opts(cfg, ldap) ? ldap : NULL;
}

static void cfg_dtor(void *obj)
{
	cfg_free(obj);
}

/* Warn about what changed that only a restart applies. */
static void warn_restart(const struct cfg *old, const struct cfg *new)
{
	const char *keys[sizeof(restart_only) / sizeof(*restart_only)];
	size_t n = reload_restart_keys(old, new, keys,
	                               sizeof(keys) / sizeof(*keys));
	char list[1024] = "";
	size_t used = 0;

	for (size_t i = 0; i < n; i++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s",
		                 i ? ", " : "", keys[i]);

		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	if (n)
		log_warn("%s changed but need%s a restart; the "
		         "running value%s stay%s in force",
		         list, n > 1 ? "" : "s", n > 1 ? "s" : "",
		         n > 1 ? "" : "s");
	for (size_t i = 0; i < new->n_unsupported; i++)
		log_warn("config key %s is not supported yet; ignored",
		         new->unsupported[i]);
}

/* Publish @new's schedule for gc and the dedupe conversion. */
static void reschedule(struct sched *s, const struct cfg *old,
                       const struct cfg *new)
{
	const struct cfg *c = new;

	if (!s)
		return;
	if (old->storage.gc != c->storage.gc ||
	    old->storage.gc_interval_ms != c->storage.gc_interval_ms) {
		sched_set(s, "gc",
		          c->storage.gc ? c->storage.gc_interval_ms : 0,
		          c->storage.gc_interval_ms);
		sched_set(s, "uploads", c->storage.gc ? 0 : 3600 * 1000ULL,
		          3600 * 1000ULL);
	}
	if (old->storage.dedupe != c->storage.dedupe)
		sched_set(s, "dedupe", 24 * 3600 * 1000ULL, 0);
}

/*
 * extensions.sync: each registry's pollInterval applies now; the rest
 * only at a restart, named in a warning.
 */
static void reload_sync(const struct reload *rl, const struct cfg *new)
{
	const struct sync_cfg *c = &new->extensions.sync;
	char what[256];

	if (!rl->mirror) {
		if (c->enable && c->n_registries)
			log_warn("extensions.sync changed but needs a restart "
			         "(it was off at start); it stays off");
		return;
	}
	if (sync_mirror_update(rl->mirror, c, what, sizeof(what)) && rl->sched)
		sched_set(rl->sched, "sync", sync_mirror_interval(rl->mirror),
		          sync_mirror_next_ms(rl->mirror));
	if (what[0])
		log_warn("%s changed but needs a restart; the running value "
		         "stays in force",
		         what);
}

int reload_run(struct reload *rl, struct err *err)
{
	struct live_ref *cur_ref, *new_ref, *rules = NULL, *pol = NULL;
	struct http_opts o = {0};
	struct ldap_opts ldap;
	const struct cfg *cur;
	struct cfg *cfg;
	struct store_rules r;
	int ret = -1;

	if (!rl->path) {
		log_info("no configuration file, nothing to re-read");
		return 0;
	}
	cfg = cfg_load(rl->path, err);
	if (!cfg)
		goto refused;
	new_ref = live_ref_new(cfg, cfg_dtor, err);
	if (!new_ref)
		goto refused;
	/* Everything that can fail, before anything is published. */
	reload_opts(cfg, &o, &r, &ldap);
	rules = store_rules_new(&r, live_hold(new_ref), err);
	if (!rules)
		goto out;
	if (rl->srv) {
		pol = http_policy_new(&o, live_hold(new_ref), err);
		if (!pol)
			goto out;
	}
	cur = live_get(rl->cfg, &cur_ref);
	warn_restart(rl->boot, cfg);
	store_rules_publish(rl->st, rules);
	rules = NULL;
	if (pol)
		http_policy_publish(rl->srv, pol);
	pol = NULL;
	store_set_dedupe(rl->st, cfg->storage.dedupe);
	reschedule(rl->sched, cur, cfg);
	reload_sync(rl, cfg);
	live_put(cur_ref);
	live_publish(rl->cfg, live_hold(new_ref));
	log_info("'%s' applied: gc %s every %llus (delay %llus), "
	         "%zu retention policies, dedupe %s, accessControl %s, "
	         "lint %s",
	         rl->path, cfg->storage.gc ? "on" : "off",
	         (unsigned long long)(cfg->storage.gc_interval_ms / 1000),
	         (unsigned long long)(cfg->storage.gc_delay_ms / 1000),
	         cfg->storage.retention.n_policies,
	         cfg->storage.dedupe ? "on" : "off",
	         cfg->http.access.on ? "on" : "off", r.n_lint ? "on" : "off");
	ret = 0;
out:
	live_put(rules);
	live_put(pol);
	live_put(new_ref);
	if (ret == 0)
		return 0;
refused:
	log_err("'%s' refused, the previous configuration stays in "
	        "force: %s",
	        rl->path, err->msg);
	return -1;
}
