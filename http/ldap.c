/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ldap.c - LDAP simple binds and the user search (http.auth.ldap), the
 * only file that speaks libldap.
 *
 * One connection per check: binds change a connection's identity, so a
 * shared one would need a lock held across round trips, and a server that
 * stopped answering would then hold every request behind it. Verified
 * credentials are cached by auth.c, so connections are rare. A check
 * blocks the server thread that runs it; once the server failed to
 * answer, checks fail at once for one timeout's length, so a server that
 * is down or frozen costs a thread one timeout now and then rather than
 * one on every login.
 */
#define LOG_MODULE "ldap"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <ldap.h>
#include <openssl/crypto.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "http/ldap.h"

#define CREDS_FILE_MAX (64 * 1024) /* largest credentials file read */
#define URI_MAX        300

struct ldap_auth {
	struct ldap_opts o; /* as given, strings owned below */
	char *address;      /* o.address */
	char *base_dn;      /* o.base_dn */
	char *user_attr;    /* o.user_attribute */
	char *group_attr;   /* o.group_attribute, or NULL */
	char *user_filter;  /* o.user_filter, or NULL */
	char *cacert;       /* o.cacert, or NULL */
	char *bind_dn;      /* from the credentials file, "" for none */
	char *bind_pw;      /* likewise; cleansed when freed */
	char uri[URI_MAX];  /* ldap://host:port or ldaps://host:port */
	/* Monotonic ms until which checks fail at once, the server having
	   just failed to answer (atomic). */
	uint64_t down_until_ms;
};

int ldap_filter_escape(const char *s, size_t len, char *out, size_t size,
                       struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool special = c == '*' || c == '(' || c == ')' || c == '\\' ||
		               c == '\0';

		if (n + (special ? 3 : 1) >= size)
			return err_set(err, ERR_TOO_LARGE,
			               "LDAP filter value too long");
		if (special) {
			out[n++] = '\\';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	if (size == 0)
		return err_set(err, ERR_TOO_LARGE,
		               "LDAP filter value too long");
	out[n] = '\0';
	return 0;
}

int ldap_user_filter(const struct ldap_opts *o, const char *user, char *out,
                     size_t size, struct err *err)
{
	char value[LDAP_FILTER_MAX];
	bool extra = o->user_filter && *o->user_filter;
	int n;

	if (ldap_filter_escape(user, strlen(user), value, sizeof(value), err) <
	    0)
		return -1;
	if (extra)
		n = snprintf(out, size, "(&(%s=%s)%s)", o->user_attribute,
		             value, o->user_filter);
	else
		n = snprintf(out, size, "(%s=%s)", o->user_attribute, value);
	if (n < 0 || (size_t)n >= size)
		return err_set(err, ERR_TOO_LARGE, "LDAP filter too long");
	return 0;
}

/* "(...)" with balanced parentheses outside escapes: a filter, not junk. */
static bool filter_shaped(const char *f)
{
	int depth = 0;

	if (f[0] != '(')
		return false;
	for (const char *p = f; *p; p++) {
		if (depth == 0 && *p != '(')
			return false;
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
	}
	return depth == 0;
}

/* Read the bind DN and password from @path into owned strings. */
static int creds_load(const char *path, char **dn, char **pw, struct err *err)
{
	json_t *root = NULL, *jdn, *jpw;
	json_error_t jerr;
	char *text = NULL;
	size_t len = 0;
	int ret = -1;

	if (fs_read_file(path, CREDS_FILE_MAX, &text, &len, err) < 0) {
		err_prefix(err, "http.auth.ldap.credentialsFile '%s'", path);
		return -1;
	}
	root = json_loadb(text, len, 0, &jerr);
	jdn = root ? json_object_get(root, "bindDN") : NULL;
	jpw = root ? json_object_get(root, "bindPassword") : NULL;
	/* jansson's messages quote the text: never let them near a log. */
	if (!json_is_string(jdn) || !json_is_string(jpw)) {
		err_set(err, ERR_INVALID,
		        "http.auth.ldap.credentialsFile '%s': expected a JSON "
		        "object with strings bindDN and bindPassword",
		        path);
		goto out;
	}
	if (*json_string_value(jdn) && !*json_string_value(jpw)) {
		err_set(err, ERR_INVALID,
		        "http.auth.ldap.credentialsFile '%s': bindDN without "
		        "bindPassword (an unauthenticated bind)",
		        path);
		goto out;
	}
	if (dn && pw) {
		*dn = strdup(json_string_value(jdn));
		*pw = strdup(json_string_value(jpw));
		if (!*dn || !*pw) {
			err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	if (jpw && json_is_string(jpw))
		OPENSSL_cleanse((char *)json_string_value(jpw),
		                json_string_length(jpw));
	json_decref(root);
	OPENSSL_cleanse(text, len);
	free(text);
	return ret;
}

int ldap_opts_check(const struct ldap_opts *o, struct err *err)
{
	if (!o->address || !*o->address || !o->base_dn || !o->user_attribute ||
	    !*o->user_attribute || !o->credentials_file)
		return err_set(err, ERR_INVALID,
		               "http.auth.ldap: address, baseDN, userAttribute "
		               "and credentialsFile are required");
	if (strpbrk(o->user_attribute, "()=*\\ ") ||
	    (o->group_attribute && strpbrk(o->group_attribute, "()=*\\ ")))
		return err_set(err, ERR_INVALID,
		               "http.auth.ldap: userAttribute and "
		               "userGroupAttribute must be attribute names");
	if (o->user_filter && *o->user_filter && !filter_shaped(o->user_filter))
		return err_set(
			err, ERR_INVALID,
			"http.auth.ldap.userFilter: expected a filter in "
			"parentheses, such as (objectClass=person)");
	if (o->cacert && access(o->cacert, R_OK) < 0)
		return err_set_errno(err, errno,
		                     "http.auth.ldap.caCert: cannot read '%s'",
		                     o->cacert);
	return creds_load(o->credentials_file, NULL, NULL, err);
}

void ldap_auth_free(struct ldap_auth *l)
{
	if (!l)
		return;
	free(l->address);
	free(l->base_dn);
	free(l->user_attr);
	free(l->group_attr);
	free(l->user_filter);
	free(l->cacert);
	free(l->bind_dn);
	if (l->bind_pw) {
		OPENSSL_cleanse(l->bind_pw, strlen(l->bind_pw));
		free(l->bind_pw);
	}
	free(l);
}

/* strdup(@s), NULL staying NULL; false when out of memory. */
static bool dup_opt(char **dst, const char *s)
{
	if (!s || !*s)
		return true;
	*dst = strdup(s);
	return *dst != NULL;
}

struct ldap_auth *ldap_auth_new(const struct ldap_opts *o, struct err *err)
{
	struct ldap_auth *l;
	const char *scheme = o->insecure ? "ldap" : "ldaps";
	bool v6 = strchr(o->address, ':') != NULL;
	int port = o->port ? o->port : o->insecure ? 389 : 636;
	int n;

	if (ldap_opts_check(o, err) < 0)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (creds_load(o->credentials_file, &l->bind_dn, &l->bind_pw, err) < 0)
		goto fail;
	if (!dup_opt(&l->address, o->address) ||
	    !dup_opt(&l->base_dn, o->base_dn ? o->base_dn : "") ||
	    !dup_opt(&l->user_attr, o->user_attribute) ||
	    !dup_opt(&l->group_attr, o->group_attribute) ||
	    !dup_opt(&l->user_filter, o->user_filter) ||
	    !dup_opt(&l->cacert, o->cacert)) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	l->o = *o;
	l->o.address = l->address;
	l->o.base_dn = l->base_dn ? l->base_dn : "";
	l->o.user_attribute = l->user_attr;
	l->o.group_attribute = l->group_attr;
	l->o.user_filter = l->user_filter;
	l->o.cacert = l->cacert;
	l->o.credentials_file = NULL;
	if (!l->o.timeout_ms)
		l->o.timeout_ms = LDAP_TIMEOUT_MS;
	n = snprintf(l->uri, sizeof(l->uri), "%s://%s%s%s:%d", scheme,
	             v6 ? "[" : "", o->address, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(l->uri)) {
		err_set(err, ERR_INVALID, "http.auth.ldap.address too long");
		goto fail;
	}
	return l;
fail:
	ldap_auth_free(l);
	return NULL;
}

/* libldap's result code @rc as our error: negative ones are the client's. */
static int fail(struct err *err, int rc, const char *what)
{
	return err_set(err, rc < 0 ? ERR_IO : ERR_DENIED, "LDAP %s: %s", what,
	               ldap_err2string(rc));
}

/* A handle for l->uri with timeouts and TLS set; NULL with ERR_IO. */
static LDAP *connect_to(const struct ldap_auth *l, struct err *err)
{
	struct timeval tv = {.tv_sec = l->o.timeout_ms / 1000,
	                     .tv_usec = (l->o.timeout_ms % 1000) * 1000};
	int v3 = LDAP_VERSION3, rc, zero = 0;
	int check =
		l->o.skip_verify ? LDAP_OPT_X_TLS_NEVER : LDAP_OPT_X_TLS_DEMAND;
	LDAP *ld = NULL;

	rc = ldap_initialize(&ld, l->uri);
	if (rc != LDAP_SUCCESS) {
		err_set(err, ERR_IO, "LDAP '%s': %s", l->uri,
		        ldap_err2string(rc));
		return NULL;
	}
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) {
		err_set(err, ERR_IO, "LDAP '%s': cannot set options", l->uri);
		goto fail;
	}
	/* This handle's own TLS context: the process-wide defaults (from
	   ldap.conf) must not decide whether the server is verified. */
	if ((!l->o.insecure || l->o.start_tls) &&
	    (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &check) ||
	     (l->cacert &&
	      ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->cacert)) ||
	     ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero))) {
		err_set(err, ERR_IO, "LDAP '%s': cannot set up TLS", l->uri);
		goto fail;
	}
	if (l->o.insecure && l->o.start_tls) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			err_set(err, ERR_IO, "LDAP '%s': StartTLS: %s", l->uri,
			        ldap_err2string(rc));
			goto fail;
		}
	}
	return ld;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

/* Simple bind as @dn with @pw. Returns libldap's code. */
static int bind_as(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = {.bv_len = strlen(pw), .bv_val = (char *)pw};

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	                        NULL);
}

/* Append the printable values of @vals to the packed list *@out. */
static int pack_groups(struct berval **vals, char **out, size_t *len,
                       struct err *err)
{
	size_t n = 0, total = 0;
	char *buf;

	for (size_t i = 0; vals && vals[i]; i++)
		total += vals[i]->bv_len + 1;
	if (total == 0)
		return 0;
	/* More than LDAP_GROUPS_MAX bytes of groups: the rest is left out,
	   which can only take rights away. */
	if (total > LDAP_GROUPS_MAX)
		total = LDAP_GROUPS_MAX;
	buf = malloc(total);
	if (!buf)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; vals[i]; i++) {
		const struct berval *v = vals[i];
		bool ok = v->bv_len > 0 && n + v->bv_len + 1 <= total;

		for (size_t j = 0; ok && j < v->bv_len; j++)
			ok = (unsigned char)v->bv_val[j] >= 0x20 &&
			     v->bv_val[j] != 0x7f;
		if (!ok)
			continue;
		memcpy(buf + n, v->bv_val, v->bv_len);
		n += v->bv_len;
		buf[n++] = '\0';
	}
	if (n == 0) {
		free(buf);
		return 0;
	}
	*out = buf;
	*len = n;
	return 0;
}

int ldap_auth_verify(struct ldap_auth *l, const char *user, const char *pass,
                     char **groups, size_t *len, struct err *err)
{
	char filter[LDAP_FILTER_MAX];
	char *attrs[] = {l->group_attr ? l->group_attr : LDAP_NO_ATTRS, NULL};
	int scope =
		l->o.subtree_search ? LDAP_SCOPE_SUBTREE : LDAP_SCOPE_ONELEVEL;
	struct timeval tv = {.tv_sec = l->o.timeout_ms / 1000,
	                     .tv_usec = (l->o.timeout_ms % 1000) * 1000};
	struct berval **vals = NULL;
	LDAPMessage *res = NULL, *e;
	char *dn = NULL;
	LDAP *ld = NULL;
	int rc = LDAP_SUCCESS, ret = -1;
	bool down;

	*groups = NULL;
	*len = 0;
	if (!pass[0])
		return err_set(err, ERR_DENIED,
		               "LDAP: empty password refused (user '%s')",
		               user);
	if (ldap_user_filter(&l->o, user, filter, sizeof(filter), err) < 0)
		return -1;
	if (clock_mono_ms() <
	    __atomic_load_n(&l->down_until_ms, __ATOMIC_RELAXED))
		return err_set(err, ERR_IO,
		               "LDAP '%s' failed moments ago; not asked again "
		               "yet (user '%s')",
		               l->uri, user);
	ld = connect_to(l, err);
	if (!ld)
		goto out;
	/* No bind at all is an anonymous search (both fields empty). */
	if (l->bind_pw[0]) {
		rc = bind_as(ld, l->bind_dn, l->bind_pw);
		if (rc != LDAP_SUCCESS) {
			/* Our account failing is the server's or the
			   config's fault, not the client's. */
			err_set(err, ERR_IO, "LDAP bind as bindDN '%s': %s",
			        l->bind_dn, ldap_err2string(rc));
			goto out;
		}
	}
	rc = ldap_search_ext_s(ld, l->base_dn, scope, filter, attrs, 0, NULL,
	                       NULL, &tv, 2, &res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		err_set(err, ERR_DENIED,
		        "LDAP: user '%s' matches several "
		        "entries",
		        user);
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		err_set(err, rc == LDAP_NO_SUCH_OBJECT ? ERR_DENIED : ERR_IO,
		        "LDAP search for user '%s': %s", user,
		        ldap_err2string(rc));
		goto out;
	}
	if (ldap_count_entries(ld, res) != 1) {
		err_set(err, ERR_DENIED, "LDAP: no single entry for user '%s'",
		        user);
		goto out;
	}
	e = ldap_first_entry(ld, res);
	dn = e ? ldap_get_dn(ld, e) : NULL;
	/* An empty DN would make the bind below anonymous. */
	if (!dn || !dn[0]) {
		err_set(err, ERR_DENIED, "LDAP: no DN for user '%s'", user);
		goto out;
	}
	if (l->group_attr)
		vals = ldap_get_values_len(ld, e, l->group_attr);
	rc = bind_as(ld, dn, pass);
	if (rc != LDAP_SUCCESS) {
		fail(err, rc, "bind");
		err_prefix(err, "user '%s'", user);
		goto out;
	}
	if (pack_groups(vals, groups, len, err) < 0)
		goto out;
	ret = 0;
out:
	ldap_value_free_len(vals);
	ldap_memfree(dn);
	ldap_msgfree(res);
	/* No connection, or libldap's own (negative) code: the server did
	   not answer. Its answers, errors included, do not pause checks, so
	   a client cannot make others' logins fail with a name it sends. */
	down = ret < 0 && (!ld || rc < 0);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	if (down)
		__atomic_store_n(&l->down_until_ms,
		                 clock_mono_ms() + l->o.timeout_ms,
		                 __ATOMIC_RELAXED);
	return ret;
}
