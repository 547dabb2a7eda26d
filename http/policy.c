/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy.c - what SIGHUP may replace in a running server: the repository
 * policies and the authentication in force, as one immutable version
 * (daemon/live.h). A request takes the version current when it arrives
 * and keeps it to the end, so it is judged by one whole configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/jwt.h"
#include "daemon/live.h"
#include "http/http_int.h"

static void pol_free(void *obj)
{
	struct http_pol *p = obj;

	auth_free(p->auth);
	jwt_key_free(p->bearer);
	free(p->realm);
	free(p->bearer_realm);
	free(p->bearer_service);
	live_put(p->keep);
	free(p);
}

/* strdup() of @s, NULL staying NULL; false when out of memory. */
static bool dup_opt(char **out, const char *s)
{
	*out = s ? strdup(s) : NULL;
	return !s || *out;
}

struct live_ref *http_policy_new(const struct http_opts *o,
                                 struct live_ref *keep, struct err *err)
{
	struct http_pol *p = calloc(1, sizeof(*p));

	if (!p) {
		live_put(keep);
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	p->keep = keep;
	p->access = o->access;
	p->fail_delay_ms = o->fail_delay_ms;
	if (!dup_opt(&p->realm, o->realm) ||
	    !dup_opt(&p->bearer_realm, o->bearer_realm) ||
	    !dup_opt(&p->bearer_service, o->bearer_service)) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (o->htpasswd_path || o->ldap) {
		struct auth_opts ao = {.htpasswd_path = o->htpasswd_path,
		                       .ldap = o->ldap};

		p->auth = auth_new(&ao, err);
		if (!p->auth)
			goto fail;
	}
	if (o->bearer_cert) {
		p->bearer = jwt_key_load(o->bearer_cert, err);
		if (!p->bearer)
			goto fail;
	}
	return live_ref_new(p, pol_free, err);
fail:
	pol_free(p);
	return NULL;
}

void http_policy_publish(struct http_server *srv, struct live_ref *pol)
{
	live_publish(srv->pol, pol);
}

void http_pol_take(struct http_req *req)
{
	req->pol = live_get(req->srv->pol, &req->pol_ref);
}
