/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikey.h - API keys (zot's http.auth.apikey): secrets a user creates
 * for itself and then sends as its Basic password.
 *
 * A key is "zak_" and 64 hex digits (32 random bytes). Only its SHA-256
 * is kept; the key itself is handed out once, by apikeys_create(). The
 * table lives in <root>/.dray/apikeys.json, replaced by write, fsync,
 * rename at every creation and revocation, so it survives a restart and a
 * crash; it is no part of the RocksDB index (which can be thrown away and
 * rebuilt from the layouts). "Last used" is kept in memory and written
 * with the next change and at close.
 *
 * Bounded: APIKEY_PER_USER_MAX keys per user, APIKEY_TOTAL_MAX in all,
 * expired ones included until revoked. Expiry is judged by the age clock
 * (clock_age_wall_ms(), which tests can move forward). All functions are
 * thread-safe.
 */
#ifndef DRAY_APIKEY_H
#define DRAY_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"

#define APIKEY_PREFIX       "zak_"
#define APIKEY_TEXT_LEN     68 /* "zak_" + 64 hex digits */
#define APIKEY_ID_LEN       36 /* a UUID */
#define APIKEY_LABEL_MAX    256
#define APIKEY_UA_MAX       256 /* the creator's User-Agent, cut */
#define APIKEY_SCOPES_MAX   8   /* scopes per key */
#define APIKEY_SCOPE_MAX    128 /* bytes per scope */
#define APIKEY_GROUPS_MAX   64  /* groups kept with a key */
#define APIKEY_PER_USER_MAX 100
#define APIKEY_TOTAL_MAX    10000
#define APIKEY_USER_MAX     255

struct store;
struct apikeys;

/* What is shown of a key (never the key or its hash). */
struct apikey_info {
	char id[APIKEY_ID_LEN + 1];         /* UUID, names it for revocation */
	char label[APIKEY_LABEL_MAX + 1];   /* the creator's label */
	char creator_ua[APIKEY_UA_MAX + 1]; /* User-Agent that created it */
	char scopes[APIKEY_SCOPES_MAX][APIKEY_SCOPE_MAX + 1]; /* as given */
	size_t n_scopes;                                      /* how many */
	uint64_t created_ms;                                  /* wall clock */
	uint64_t expires_ms;                                  /* 0: never */
	uint64_t last_used_ms;                                /* 0: never */
	int expired; /* past expires_ms now (age clock) */
};

/* What a new key is made of. Strings are borrowed for the call. */
struct apikey_new {
	const char *user;          /* its owner */
	const char *const *groups; /* the owner's groups from its login */
	size_t n_groups;           /* how many (at most APIKEY_GROUPS_MAX) */
	const char *label;         /* at most APIKEY_LABEL_MAX bytes */
	const char *const *scopes; /* kept and shown, not enforced (zot) */
	size_t n_scopes;           /* how many */
	const char *creator_ua;    /* User-Agent, or NULL; cut to fit */
	uint64_t expires_ms;       /* 0: never; else in the future */
};

/*
 * Load the API keys of @st (none yet: an empty table). NULL with ERR_IO,
 * ERR_INVALID (the file does not parse: it names it), ERR_NOMEM.
 */
MUST_CHECK struct apikeys *apikeys_open(struct store *st, struct err *err);

/* Write what changed since the last write (last use) and free. NULL ok. */
void apikeys_close(struct apikeys *k);

/*
 * Create a key for @n->user: its text ("zak_...", NUL-terminated) goes
 * to @key (APIKEY_TEXT_LEN + 1 bytes), its details to @info. The table
 * is durable on return. -1 with ERR_INVALID (a label, scope or group
 * too long, too many scopes, an expiry not in the future),
 * ERR_TOO_LARGE (the user has APIKEY_PER_USER_MAX keys, or the table
 * APIKEY_TOTAL_MAX), ERR_IO (not written; nothing changed), ERR_NOMEM.
 */
MUST_CHECK int apikeys_create(struct apikeys *k, const struct apikey_new *n,
                              char *key, struct apikey_info *info,
                              struct err *err);

/*
 * The keys of @user, oldest first, into a new array (*out, free()) of
 * *n entries. ERR_NOMEM.
 */
MUST_CHECK int apikeys_list(struct apikeys *k, const char *user,
                            struct apikey_info **out, size_t *n,
                            struct err *err);

/*
 * Revoke @user's key @id: refused from this moment on, and durably.
 * ERR_NOT_FOUND (no such key of @user), ERR_IO (not written: the key
 * stays as it was), ERR_NOMEM.
 */
MUST_CHECK int apikeys_revoke(struct apikeys *k, const char *user,
                              const char *id, struct err *err);

/*
 * Is @secret (the whole "zak_..." text) a live key of @user? Returns 0
 * and records the use; with @groups, *groups gets a copy of the groups
 * kept with the key (one block for free(), an array of *n_groups
 * strings; NULL when none). -1 with ERR_DENIED (not a key of @user,
 * revoked, or expired: the message says which, never the key) or
 * ERR_NOMEM. The hash is compared in constant time.
 */
MUST_CHECK int apikeys_check(struct apikeys *k, const char *user,
                             const char *secret, char ***groups,
                             size_t *n_groups, struct err *err);

/* How many keys the table holds. */
size_t apikeys_count(struct apikeys *k);

#endif
