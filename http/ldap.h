/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ldap.h - Basic credentials checked against an LDAP directory
 * (http.auth.ldap), with OpenLDAP's libldap: the only file that speaks
 * its API is http/ldap.c.
 *
 * A check binds as the search account (credentialsFile's bindDN and
 * bindPassword), looks the user up under baseDN by userAttribute (and
 * userFilter, if given), then binds as the DN found with the password the
 * client gave. The values of userGroupAttribute (memberOf, say) are the
 * user's groups, as accessControl takes them. Each check opens its own
 * connection, bounded by network and operation timeouts, so a server that
 * is down or slow costs one request its timeout and never holds others;
 * callers keep successes in auth.c's cache. Thread-safe.
 */
#ifndef DRAY_LDAP_H
#define DRAY_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/err.h"

#define LDAP_FILTER_MAX 2048 /* longest search filter built */
#define LDAP_GROUPS_MAX 4096 /* packed group names kept per user */
#define LDAP_TIMEOUT_MS 5000 /* default connect and operation timeout */

/* http.auth.ldap, as zot spells its keys. Strings are borrowed. */
struct ldap_opts {
	const char *address;          /* server host name or address */
	int port;                     /* 0: 389, or 636 for LDAPS */
	bool insecure;                /* zot's: plain LDAP, no LDAPS */
	bool start_tls;               /* with insecure: StartTLS upgrade */
	bool skip_verify;             /* do not verify the server's cert */
	bool subtree_search;          /* whole subtree, else one level */
	const char *base_dn;          /* where users are searched */
	const char *user_attribute;   /* holds the login name ("uid") */
	const char *group_attribute;  /* holds the groups ("memberOf") */
	const char *user_filter;      /* extra filter "(...)", or NULL */
	const char *credentials_file; /* JSON {bindDN, bindPassword} */
	const char *cacert;           /* CA file for TLS, or NULL */
	unsigned timeout_ms;          /* per round trip, 0: LDAP_TIMEOUT_MS */
};

/*
 * Escape @len bytes of @s as an assertion value (RFC 4515 section 3):
 * '*', '(', ')', '\' and NUL become \2a, \28, \29, \5c and \00. Writes a
 * NUL-terminated string to @out (@size bytes). Returns 0, or -1 with
 * ERR_TOO_LARGE when it does not fit.
 */
MUST_CHECK int ldap_filter_escape(const char *s, size_t len, char *out,
                                  size_t size, struct err *err);

/*
 * The search filter for @user: "(<userAttribute>=<escaped user>)", or
 * "(&(<userAttribute>=<escaped user>)<userFilter>)" with a userFilter.
 * 0, or -1 with ERR_TOO_LARGE (longer than LDAP_FILTER_MAX - 1).
 */
MUST_CHECK int ldap_user_filter(const struct ldap_opts *o, const char *user,
                                char *out, size_t size, struct err *err);

/*
 * Check @o as loaded from the config: the credentials file reads and
 * holds a JSON object with string members bindDN and bindPassword (both
 * empty: search anonymously; a DN without a password is refused, since
 * that bind would be unauthenticated), userFilter is a parenthesised
 * filter. 0, or -1 with ERR_INVALID, ERR_NOT_FOUND or ERR_IO naming the
 * file (never its content).
 */
MUST_CHECK int ldap_opts_check(const struct ldap_opts *o, struct err *err);

struct ldap_auth;

/* Check @o (ldap_opts_check) and keep what it needs. ERR_* as that. */
MUST_CHECK struct ldap_auth *ldap_auth_new(const struct ldap_opts *o,
                                           struct err *err);

void ldap_auth_free(struct ldap_auth *l);

/*
 * Is @pass @user's password? On 0, *@groups is the user's groups packed
 * as NUL-terminated names one after another (*@len bytes in all, *@groups
 * NULL and *@len 0 when none), for the caller to free. An empty password
 * is refused before any round trip: LDAP takes a simple bind without one
 * as unauthenticated, a success that proves nothing. -1 with ERR_DENIED
 * (unknown user, several entries, wrong password) or ERR_IO (the server
 * is unreachable, slow past the timeout, or failed), message without the
 * password.
 */
MUST_CHECK int ldap_auth_verify(struct ldap_auth *l, const char *user,
                                const char *pass, char **groups, size_t *len,
                                struct err *err);

#endif
