/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.h - what each repository allows: zot's http.accessControl.
 *
 * dray has no authentication yet, so every client is anonymous and a
 * repository's anonymousPolicy is what it allows. HTTP checks every
 * action; the mount checks the changes (create, update, delete) but not
 * read: who may look at the mount is the file permissions' business
 * (fuse.allowOther, fuse.uid). The policy of the longest glob that
 * matches the name applies; a name no glob matches allows nothing.
 * Without an accessControl section everything is allowed.
 */
#ifndef DRAY_ACCESS_H
#define DRAY_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

/* zot's actions, as bits. */
enum access_action {
	ACCESS_READ = 1u << 0,   /* pull, list */
	ACCESS_CREATE = 1u << 1, /* push */
	ACCESS_UPDATE = 1u << 2, /* move an existing tag */
	ACCESS_DELETE = 1u << 3, /* delete manifests, tags, blobs */
	ACCESS_DETECT_COLLISION = 1u << 4, /* a delete matching more than one
	                                      index.json entry is refused */
};

/* One http.accessControl.repositories entry. */
struct access_rule {
	char *glob;       /* repository glob (ref_glob_match) */
	unsigned actions; /* its anonymousPolicy, enum access_action bits */
};

struct access {
	bool on;                   /* http.accessControl.repositories given */
	struct access_rule *rules; /* in file order */
	size_t n_rules;
};

/* True if @a lets anyone do @action (one bit) on repository @repo. */
bool access_allows(const struct access *a, const char *repo,
                   enum access_action action);

/* The action named @name in a policy ("read"...), or 0 if none is. */
unsigned access_action_parse(const char *name);

/* zot's name of @action (one bit), for messages. */
const char *access_action_name(enum access_action action);

#endif
