/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - who a request comes from: HTTP Basic credentials checked
 * against an htpasswd file (http.auth.htpasswd.path).
 *
 * Only bcrypt entries ($2y$, $2b$, $2a$, as `htpasswd -B` writes them)
 * are accepted; libcrypt's crypt_r() verifies them. The file is re-read
 * when its inode, size, mtime or ctime changes (checked on each request
 * that carries credentials); a file that no longer parses then lets
 * nobody in until it is fixed, and says why in the log.
 *
 * bcrypt costs tens of milliseconds by design, and clients send their
 * credentials with every request, so a verified Authorization header is
 * remembered in a bounded cache: keyed by HMAC-SHA256 of the whole
 * header under a random per-process key (the password itself is never
 * kept), for a short time, and forgotten when the file changes. Only
 * successes are cached. Passwords never reach a message. Thread-safe.
 *
 * With http.auth.ldap too, a password the htpasswd file does not vouch
 * for is asked of LDAP (http/ldap.h), as zot does; LDAP alone works as
 * well. The groups LDAP gives are cached with the entry.
 */
#ifndef DRAY_AUTH_H
#define DRAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"

#define AUTH_HEADER_MAX   4096 /* longest Authorization header taken */
#define AUTH_USER_MAX     255  /* longest user name */
#define AUTH_PASS_MAX     1024 /* longest password (bcrypt reads 72 bytes) */
#define AUTH_HTPASSWD_MAX (16 * 1024 * 1024) /* largest htpasswd file */

/* A parsed htpasswd file. */
struct htpasswd;

/*
 * Parse @len bytes of htpasswd text; @name is the file's name for
 * messages. Lines are "user:hash"; empty lines and lines starting with
 * '#' are skipped. Returns 0 and a table for htpasswd_free(), or -1 with
 * ERR_INVALID naming the file and line (a hash that is not bcrypt, a
 * malformed line, a duplicate user) or ERR_NOMEM.
 */
MUST_CHECK int htpasswd_parse(const char *text, size_t len, const char *name,
                              struct htpasswd **out, struct err *err);

/* Read and parse the file @path. ERR_NOT_FOUND, ERR_IO, ERR_INVALID. */
MUST_CHECK int htpasswd_load(const char *path, struct htpasswd **out,
                             struct err *err);

/* How many users @h holds. */
size_t htpasswd_count(const struct htpasswd *h);

/*
 * True if @pass is @user's password. An unknown user costs a bcrypt
 * verification as well, so timing does not tell users apart.
 */
bool htpasswd_verify(const struct htpasswd *h, const char *user,
                     const char *pass);

void htpasswd_free(struct htpasswd *h);

/*
 * Parse an Authorization header "Basic <base64 of user:password>" (the
 * scheme in any case). The user name (up to AUTH_USER_MAX bytes, no
 * control characters) goes to @user, the password to @pass, each NUL
 * terminated; both buffers must hold their maximum plus one. An empty
 * user name and password (":", "Basic Og==") is what skopeo and
 * containers/image send when they have no credentials for a registry
 * that challenged them: both come back empty, meaning anonymous (as zot
 * takes it). Returns 0,
 * or -1 with ERR_INVALID saying what is wrong (never echoing the
 * credentials): oversized, another scheme, invalid base64, no colon,
 * an empty or oversized user name, a NUL or control character.
 */
MUST_CHECK int auth_basic_parse(const char *hdr, char *user, char *pass,
                                struct err *err);

struct ldap_opts;

struct auth_opts {
	const char *htpasswd_path; /* htpasswd file, NULL: LDAP only */
	size_t cache_slots;        /* verified headers kept, 0: 4096 */
	uint64_t cache_ttl_ms;     /* how long one is trusted, 0: 60 s */
	/* http.auth.ldap, asked when the file does not vouch; NULL: none */
	const struct ldap_opts *ldap;
};

struct auth;

/*
 * Load the htpasswd file of @opts and check its LDAP settings (the
 * server is not contacted). NULL with ERR_NOT_FOUND, ERR_IO or
 * ERR_INVALID (the message names the file and line), or ERR_NOMEM.
 */
MUST_CHECK struct auth *auth_new(const struct auth_opts *opts, struct err *err);

void auth_free(struct auth *a);

enum auth_result {
	AUTH_ANONYMOUS, /* no Authorization header, or empty credentials */
	AUTH_OK,        /* valid credentials: @user is set */
	AUTH_FAILED,    /* refused: err says why (ERR_DENIED) */
};

/*
 * Check the Authorization header @hdr (NULL: none). On AUTH_OK the user
 * name is copied to @user (AUTH_USER_MAX + 1 bytes). On AUTH_FAILED,
 * @err is ERR_DENIED with OCI_UNAUTHORIZED and a message fit for the
 * client and the log.
 */
enum auth_result auth_check(struct auth *a, const char *hdr, char *user,
                            struct err *err);

/* The groups an authenticator gave a user (LDAP's group attribute). */
struct auth_groups {
	char *names; /* NUL-terminated names one after another, or NULL */
	size_t len;  /* bytes in @names */
};

/*
 * auth_check(), also giving the user's groups on AUTH_OK (empty unless
 * LDAP verified the user), which the caller releases with
 * auth_groups_release() whatever the result.
 */
enum auth_result auth_check_groups(struct auth *a, const char *hdr, char *user,
                                   struct auth_groups *groups, struct err *err);

/*
 * The part of auth_check_groups() that verifies nothing, so is cheap:
 * true, with its result in *r (and @user, @groups, @err as it gives
 * them), when @hdr is absent, malformed, empty credentials or in the
 * cache of verified headers; false when only a bcrypt (or LDAP) check
 * can tell: auth_check_groups() does it, slowly (tens of milliseconds,
 * seconds for LDAP), so callers on an event loop run it elsewhere.
 */
bool auth_check_quick(struct auth *a, const char *hdr, char *user,
                      struct auth_groups *groups, enum auth_result *r,
                      struct err *err);

/* Free what @g holds and empty it. */
void auth_groups_release(struct auth_groups *g);

/* Cache figures, for tests and the bench. */
struct auth_stats {
	uint64_t hits;     /* answered from the cache */
	uint64_t verified; /* bcrypt verifications that succeeded */
	uint64_t failed;   /* refusals */
	uint64_t refused_hits; /* refusals answered from the cache */
	uint64_t reloads;  /* times the file was re-read */
	size_t cached;     /* live entries now */
};

void auth_stats(struct auth *a, struct auth_stats *out);

#endif
