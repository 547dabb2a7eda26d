/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.c - repository policies: the longest matching glob decides.
 */
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

bool access_allows(const struct access *a, const char *repo,
                   enum access_action action)
{
	const struct access_rule *best = NULL;

	if (!a || !a->on)
		return true;
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct access_rule *r = &a->rules[i];

		if ((!best || strlen(r->glob) > strlen(best->glob)) &&
		    ref_glob_match(r->glob, repo))
			best = r;
	}
	return best && (best->actions & action);
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
