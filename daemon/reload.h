/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reload.h - SIGHUP: re-read the configuration file and apply, without a
 * restart, what zot applies so: storage.gc, gcDelay, gcInterval,
 * retention and dedupe, http.accessControl, http.auth (htpasswd path,
 * failDelay, bearer realm, service and cert), extensions.lint and
 * extensions.sync's pollIntervals (the rest of extensions.sync only at a
 * restart: what changed is named in a warning). Keys
 * that only a restart applies are named in a warning and keep their
 * running values. A file that does not load, or whose htpasswd file or
 * bearer key does not, is refused whole: nothing of it is applied.
 *
 * Every reloadable setting is read through an immutable version swapped
 * atomically (daemon/live.h): the store's rules, the HTTP server's
 * policy, and the configuration the background tasks read.
 */
#ifndef DRAY_RELOAD_H
#define DRAY_RELOAD_H

#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"

#include "http/http.h"
#include "index/store.h"

struct live;
struct sched;
struct sync_mirror;

struct reload {
	const char *path;           /* the configuration file, NULL: none */
	const struct cfg *boot;     /* at start: what restart-only keys keep */
	struct live *cfg;           /* struct cfg in force */
	struct store *st;           /* its rules and dedupe follow */
	struct http_server *srv;    /* its policy follows, or NULL */
	struct sched *sched;        /* gc's and dedupe's schedule, or NULL */
	struct sync_mirror *mirror; /* extensions.sync's, or NULL */
};

/*
 * The keys that differ between @old and @new but apply only at a restart,
 * as zot's dotted names, into @keys (at most @max); returns how many
 * differ (may exceed @max).
 */
size_t reload_restart_keys(const struct cfg *old, const struct cfg *new,
                           const char **keys, size_t max);

/*
 * The reloadable settings of @cfg: the policy fields of @h (access,
 * htpasswd_path, realm, fail_delay_ms, bearer_*, ldap: then @ldap, which
 * must outlive @h's use) and the store's rules @r, pointing into @cfg.
 */
struct ldap_opts;
void reload_opts(const struct cfg *cfg, struct http_opts *h,
                 struct store_rules *r, struct ldap_opts *ldap);
/* http.auth.ldap of @cfg into @o; false without the section. */
bool reload_ldap_opts(const struct cfg *cfg, struct ldap_opts *o);

/*
 * Re-read @rl->path and apply it (logged as "reload: ..."). 0, or -1 with
 * the reason (ERR_INVALID, ERR_NOT_FOUND, ERR_IO, ERR_NOMEM) when it was
 * refused and the previous configuration stays in force, whole.
 */
MUST_CHECK int reload_run(struct reload *rl, struct err *err);

#endif
