/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt.h - bearer tokens of the docker token protocol: verify a JWT (compact
 * JWS, RFC 7515/7519) against the token server's public key, read what its
 * `access` claim grants, and build the WWW-Authenticate challenge.
 *
 * Only asymmetric signatures are accepted (RS256, RS384, RS512, ES256,
 * ES384), and only with a key of the matching type: "none", HS* and PS* are
 * refused whatever the key, so a token MACed with the public key as its
 * secret never passes. exp is required; nbf and iat may not lie in the
 * future beyond JWT_LEEWAY_S; aud must be (or contain) the service. A key
 * and a verified token are immutable, so threads may share them.
 */
#ifndef DRAY_JWT_H
#define DRAY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"

#define JWT_TOKEN_MAX 8192 /* bytes of a compact token */
#define JWT_LEEWAY_S  60   /* clock skew allowed on nbf and iat, seconds */

struct jwt_key; /* opaque: a public key, RSA or EC P-256/P-384 */

/* One entry of the token's `access` claim. */
struct jwt_access {
	char *type;     /* "repository", "registry"... */
	char *name;     /* "library/alpine"; compared byte for byte */
	char **actions; /* "pull", "push", "delete", "*"... as given */
	size_t n_actions;
};

/* What a verified token says. */
struct jwt_claims {
	char *subject;             /* sub, or "" when absent */
	int64_t exp;               /* expiry, seconds since the epoch */
	struct jwt_access *access; /* the access claim, in token order */
	size_t n_access;
};

/*
 * Read the public key of the PEM file @path: an X.509 certificate (the
 * key it certifies; its dates are not checked, as zot does not) or a bare
 * public key ("BEGIN PUBLIC KEY"). Returns a key for jwt_key_free(), or
 * NULL with ERR_NOT_FOUND/ERR_IO/ERR_DENIED (cannot read @path),
 * ERR_TOO_LARGE (over 64 KiB), ERR_INVALID (not a regular file, no
 * certificate or public key in it, or a key no algorithm here uses: RSA
 * under 2048 bits, EC other than P-256/P-384) or ERR_NOMEM.
 */
MUST_CHECK struct jwt_key *jwt_key_load(const char *path, struct err *err);

/* The same from @len bytes of PEM text in memory. */
MUST_CHECK struct jwt_key *jwt_key_parse(const char *pem, size_t len,
                                         struct err *err);

/* Release @key. Accepts NULL. */
void jwt_key_free(struct jwt_key *key);

/*
 * Verify the compact token @token (@len bytes, no "Bearer " prefix) with
 * @key, for the service @service, at time @now (seconds since the epoch).
 * Returns the claims for jwt_claims_free(), or NULL with:
 * ERR_TOO_LARGE (over JWT_TOKEN_MAX bytes); ERR_INVALID (not three
 * base64url parts, not strict base64url, a header or payload that is not
 * a JSON object, a claim of the wrong type); ERR_DENIED (an algorithm
 * refused or not matching the key, a "crit" header, a bad signature,
 * expired, not yet valid, no exp, no aud or aud not naming @service);
 * ERR_NOMEM. Whatever the code, the token grants nothing: answer 401.
 * The message never contains the token.
 */
MUST_CHECK struct jwt_claims *jwt_verify(const struct jwt_key *key,
                                         const char *token, size_t len,
                                         const char *service, int64_t now,
                                         struct err *err);

/* Release @claims. Accepts NULL. */
void jwt_claims_free(struct jwt_claims *claims);

/*
 * The enum access_action bits that @claims grant on repository @repo, in
 * *@actions (0 when none): the union over every access entry of type
 * "repository" whose name is exactly @repo, with docker's actions mapped
 * as zot maps them: pull -> read, push -> create and update, delete ->
 * delete. Other actions ("*" included, as in zot) grant nothing. Returns
 * 0, or -1 with ERR_INVALID when @repo is not a valid repository name
 * (ref_name_check: this refuses `a/../b`).
 */
MUST_CHECK int jwt_repo_actions(const struct jwt_claims *claims,
                                const char *repo, unsigned *actions,
                                struct err *err);

/*
 * The value of a WWW-Authenticate header asking for a token:
 * Bearer realm="@realm",service="@service",scope="repository:@repo:ACTS"
 * where ACTS names docker's actions covering @actions (enum access_action
 * bits: read -> pull, create or update -> push, delete -> delete, in that
 * order), then ,error="insufficient_scope" when @insufficient (a valid
 * token came but lacks the scope). With @repo NULL there is no scope (the
 * /v2/ check). Realm and service are quoted-strings with '"' and '\'
 * escaped. Returns a new string for free(), or NULL with ERR_INVALID
 * (a control character in @realm or @service, @repo not a valid name, or
 * @actions naming none of docker's actions) or ERR_NOMEM.
 */
MUST_CHECK char *jwt_challenge_new(const char *realm, const char *service,
                                   const char *repo, unsigned actions,
                                   bool insufficient, struct err *err);

#endif
