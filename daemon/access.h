/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.h - who may do what to each repository: zot's
 * http.accessControl.
 *
 * A caller is a struct access_who: a user name (NULL: anonymous) and the
 * groups an authenticator vouches for. For the repository's longest
 * matching glob, an anonymous caller gets its anonymousPolicy; a named
 * one gets its defaultPolicy plus every policy naming the user or one of
 * its groups (those of accessControl.groups that list the user, and the
 * identity's own). adminPolicy adds its actions on every repository for
 * its users and groups. A name no glob matches allows nothing (but
 * adminPolicy). Without an accessControl section everything is allowed.
 * HTTP checks every action; the mount checks the changes (create,
 * update, delete) as the anonymous caller, never read: who may look at
 * the mount is the file permissions' business (fuse.allowOther,
 * fuse.uid).
 */
#ifndef DRAY_ACCESS_H
#define DRAY_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

/* zot's actions, as bits. */
enum access_action {
	ACCESS_READ = 1u << 0,             /* pull, list */
	ACCESS_CREATE = 1u << 1,           /* push */
	ACCESS_UPDATE = 1u << 2,           /* move an existing tag */
	ACCESS_DELETE = 1u << 3,           /* delete manifests, tags, blobs */
	ACCESS_DETECT_COLLISION = 1u << 4, /* a delete matching more than one
	                                      index.json entry is refused */
};

/*
 * The caller of a request: who authentication found. Strings are
 * borrowed for the duration of the call. NULL where a struct access_who *
 * is taken means anonymous too.
 */
struct access_who {
	const char *user;          /* user name, NULL: anonymous */
	const char *const *groups; /* groups the authenticator gives (LDAP) */
	size_t n_groups;           /* how many */
};

/* One policy: {users, groups, actions}. */
struct access_policy {
	char **users;     /* user names */
	size_t n_users;   /* how many */
	char **groups;    /* group names (accessControl.groups or given) */
	size_t n_groups;  /* how many */
	unsigned actions; /* enum access_action bits */
};

/* One http.accessControl.repositories entry. */
struct access_rule {
	char *glob;                     /* repository glob (ref_glob_match) */
	unsigned actions;               /* anonymousPolicy: action bits */
	unsigned default_actions;       /* defaultPolicy: any named user */
	struct access_policy *policies; /* policies, in file order */
	size_t n_policies;              /* how many */
};

/* One accessControl.groups entry. */
struct access_group {
	char *name;     /* the group */
	char **users;   /* its users */
	size_t n_users; /* how many */
};

struct access {
	bool on;                     /* http.accessControl given */
	struct access_rule *rules;   /* in file order */
	size_t n_rules;              /* how many */
	struct access_group *groups; /* accessControl.groups */
	size_t n_groups;             /* how many */
	struct access_policy admin;  /* accessControl.adminPolicy */
	char **metrics_users;        /* accessControl.metrics.users */
	size_t n_metrics_users;      /* how many */
};

/* True if @a lets @who do @action (one bit) on repository @repo. */
bool access_allows(const struct access *a, const struct access_who *who,
                   const char *repo, enum access_action action);

/* True if @who (named) may read the metrics (accessControl.metrics). */
bool access_metrics_allowed(const struct access *a,
                            const struct access_who *who);

/*
 * The first group a policy names that accessControl.groups does not
 * define, or NULL. *@where is set to the glob of the rule naming it, or
 * to "adminPolicy".
 */
const char *access_unknown_group(const struct access *a, const char **where);

/* Free what @a holds (not @a itself). */
void access_release(struct access *a);

/* The action named @name in a policy ("read"...), or 0 if none is. */
unsigned access_action_parse(const char *name);

/* zot's name of @action (one bit), for messages. */
const char *access_action_name(enum access_action action);

#endif
