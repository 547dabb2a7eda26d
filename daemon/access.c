/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.c - repository policies: the longest matching glob decides.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/ref.h"

static const struct {
	const char *name;
	enum access_action action;
} actions[] = {
	{"read", ACCESS_READ},
	{"create", ACCESS_CREATE},
	{"update", ACCESS_UPDATE},
	{"delete", ACCESS_DELETE},
	{"detectManifestCollision", ACCESS_DETECT_COLLISION},
};

static bool listed(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Is @who (named) in @group, by accessControl.groups or its own? */
static bool in_group(const struct access *a, const struct access_who *who,
                     const char *group)
{
	for (size_t i = 0; i < who->n_groups; i++)
		if (strcmp(who->groups[i], group) == 0)
			return true;
	for (size_t i = 0; i < a->n_groups; i++)
		if (strcmp(a->groups[i].name, group) == 0 &&
		    listed(a->groups[i].users, a->groups[i].n_users, who->user))
			return true;
	return false;
}

/* Does @p name @who (named), itself or through a group? */
static bool names(const struct access *a, const struct access_policy *p,
                  const struct access_who *who)
{
	if (listed(p->users, p->n_users, who->user))
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (in_group(a, who, p->groups[i]))
			return true;
	return false;
}

bool access_allows(const struct access *a, const struct access_who *who,
                   const char *repo, enum access_action action)
{
	const struct access_rule *best = NULL;
	bool named = who && who->user;

	if (!a || !a->on)
		return true;
	if (named && (a->admin.actions & action) && names(a, &a->admin, who))
		return true;
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct access_rule *r = &a->rules[i];

		if ((!best || strlen(r->glob) > strlen(best->glob)) &&
		    ref_glob_match(r->glob, repo))
			best = r;
	}
	if (!best)
		return false;
	if (!named)
		return best->actions & action;
	if (best->default_actions & action)
		return true;
	for (size_t i = 0; i < best->n_policies; i++)
		if ((best->policies[i].actions & action) &&
		    names(a, &best->policies[i], who))
			return true;
	return false;
}

bool access_metrics_allowed(const struct access *a,
                            const struct access_who *who)
{
	if (!a || !a->on)
		return true;
	return who && who->user &&
	       listed(a->metrics_users, a->n_metrics_users, who->user);
}

static const char *unknown_in(const struct access *a,
                              const struct access_policy *p)
{
	for (size_t i = 0; i < p->n_groups; i++) {
		size_t j = 0;

		while (j < a->n_groups &&
		       strcmp(a->groups[j].name, p->groups[i]))
			j++;
		if (j == a->n_groups)
			return p->groups[i];
	}
	return NULL;
}

const char *access_unknown_group(const struct access *a, const char **where)
{
	const char *g = unknown_in(a, &a->admin);

	*where = "adminPolicy";
	for (size_t i = 0; !g && i < a->n_rules; i++) {
		*where = a->rules[i].glob;
		for (size_t j = 0; !g && j < a->rules[i].n_policies; j++)
			g = unknown_in(a, &a->rules[i].policies[j]);
	}
	return g;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void policy_release(struct access_policy *p)
{
	free_names(p->users, p->n_users);
	free_names(p->groups, p->n_groups);
}

void access_release(struct access *a)
{
	for (size_t i = 0; i < a->n_rules; i++) {
		for (size_t j = 0; j < a->rules[i].n_policies; j++)
			policy_release(&a->rules[i].policies[j]);
		free(a->rules[i].policies);
		free(a->rules[i].glob);
	}
	free(a->rules);
	for (size_t i = 0; i < a->n_groups; i++) {
		free(a->groups[i].name);
		free_names(a->groups[i].users, a->groups[i].n_users);
	}
	free(a->groups);
	policy_release(&a->admin);
	free_names(a->metrics_users, a->n_metrics_users);
	*a = (struct access){0};
}

unsigned access_action_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return actions[i].action;
	return 0;
}

const char *access_action_name(enum access_action action)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (actions[i].action == action)
			return actions[i].name;
	return "?";
}
