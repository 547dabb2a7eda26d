/* SPDX-License-Identifier: Apache-2.0 */
/*
 * who.c - who a request comes from, and what it may do.
 *
 * A caller is anonymous, a user whose Basic credentials the htpasswd file
 * vouches for, the owner of an API key sent as the password (apikey.c),
 * the subject of a bearer token that the token server's key verifies
 * (http.auth.bearer), or the identity of the client certificate that
 * mutual TLS verified (http.tls.cacert, http.auth.mtls). A token grants at
 * most its scope: what it allows on a repository is its `access` claim's
 * actions there, and, where accessControl is on, only those the policies also
 * give its subject. Refusals are answered as a client can act on them: a caller
 * that could do better by logging in (anonymous, or a token lacking the
 * scope) gets 401 with the challenge of the method in force; a named
 * caller that may not read the repository gets 404 NAME_UNKNOWN, so names
 * do not leak; anyone else 403 DENIED.
 */
#define LOG_MODULE "http"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "daemon/clock.h"
#include "daemon/jwt.h"
#include "daemon/live.h"
#include "daemon/log.h"
#include "http/http_int.h"

/* Any authentication configured: anonymous callers may be refused. */
static bool auth_on(const struct http_req *req)
{
	return req->pol->auth || req->pol->bearer || req->srv->opts.apikeys;
}

/*
 * Put the WWW-Authenticate challenge on the 401 in @err: Basic, or with
 * bearer tokens configured, where to get a token for @actions on @repo
 * (NULL: no scope, as for /v2/); @insufficient when a valid token lacked
 * them.
 */
static void challenge(struct http_req *req, struct err *err, const char *repo,
                      unsigned actions, bool insufficient)
{
	const struct http_pol *o = req->pol;
	struct err e = ERR_INIT;
	char value[300];
	char *bearer;

	err->code = ERR_DENIED;
	err_oci(err, OCI_UNAUTHORIZED);
	if (!o->bearer) {
		snprintf(value, sizeof(value), "Basic realm=\"%s\"",
		         o->realm && *o->realm ? o->realm : "dray");
		reply_hdr(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, value);
		return;
	}
	bearer = jwt_challenge_new(o->bearer_realm, o->bearer_service, repo,
	                           actions, insufficient, &e);
	if (!bearer) {
		/* The config was checked at start: only a name can fail. */
		log_warn("req=%llu: no challenge: %s",
		         (unsigned long long)req->id, e.msg);
		return;
	}
	reply_hdr(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, bearer);
	free(bearer);
}

/* "Bearer <token>", the scheme in any case. */
static const char *bearer_token(const char *hdr)
{
	if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0)
		return NULL;
	hdr += 7;
	while (*hdr == ' ')
		hdr++;
	return hdr;
}

/* Verify the bearer token @tok; on success the caller is its subject. */
static enum auth_result check_token(struct http_req *req, const char *tok,
                                    struct err *err)
{
	const char *sub;

	req->claims = jwt_verify(req->pol->bearer, tok, strlen(tok),
	                         req->pol->bearer_service,
	                         (int64_t)(clock_wall_ms() / 1000), err);
	if (!req->claims) {
		err_prefix(err, "bearer token refused");
		err->code = ERR_DENIED;
		return AUTH_FAILED;
	}
	sub = req->claims->subject;
	if (strlen(sub) > AUTH_USER_MAX) {
		err_set(err, ERR_DENIED,
		        "bearer token refused: subject too long");
		return AUTH_FAILED;
	}
	memcpy(req->user, sub, strlen(sub) + 1);
	return AUTH_OK;
}

/*
 * Credentials other than a token where only tokens are taken: empty
 * Basic credentials (what skopeo sends after a challenge when it has
 * none) are anonymous, anything else is refused.
 */
static enum auth_result check_not_token(const char *hdr, struct err *err)
{
	char user[AUTH_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	bool empty;

	if (!hdr)
		return AUTH_ANONYMOUS;
	if (auth_basic_parse(hdr, user, pass, err) < 0) {
		err->code = ERR_DENIED;
		return AUTH_FAILED;
	}
	empty = !user[0] && !pass[0];
	OPENSSL_cleanse(pass, sizeof(pass));
	if (empty)
		return AUTH_ANONYMOUS;
	err_set(err, ERR_DENIED,
	        "this registry takes bearer tokens, not passwords");
	return AUTH_FAILED;
}

/* Point req->who at the groups LDAP gave the caller. */
static int who_groups(struct http_req *req, struct err *err)
{
	const struct auth_groups *g = &req->groups;
	size_t n = 0;

	for (size_t i = 0; i < g->len; i++)
		n += g->names[i] == '\0';
	if (!n)
		return 0;
	req->group_list = calloc(n, sizeof(*req->group_list));
	if (!req->group_list)
		return err_set(err, ERR_NOMEM, "out of memory");
	n = 0;
	for (size_t i = 0; i < g->len; i += strlen(g->names + i) + 1)
		req->group_list[n++] = g->names + i;
	req->who.groups = req->group_list;
	req->who.n_groups = n;
	return 0;
}

/*
 * A credential check run on the offload pool, on copies (the header, its
 * own reference to the policy): a connection job (offload.c).
 */
struct auth_job {
	struct conn_job base; /* first */
	struct live_ref *pol_ref; /* keeps auth alive */
	struct auth *auth;
	char hdr[AUTH_HEADER_MAX + 1];
	/* What the check gave. */
	enum auth_result r;
	char user[AUTH_USER_MAX + 1];
	struct auth_groups groups;
	struct err err;
};

static void job_release(struct conn_job *base)
{
	struct auth_job *job = (struct auth_job *)base;

	live_put(job->pol_ref);
	auth_groups_release(&job->groups);
	OPENSSL_cleanse(job->hdr, sizeof(job->hdr));
	free(job);
}

static void job_work(struct conn_job *base)
{
	struct auth_job *job = (struct auth_job *)base;

	job->r = auth_check_groups(job->auth, job->hdr, job->user, &job->groups,
	                           &job->err);
}

/* Run the check of @hdr on the pool: true if it was queued. */
static bool offload_check(struct http_req *req, const char *hdr)
{
	struct auth_job *job;

	if (!req->srv->offload || strlen(hdr) > AUTH_HEADER_MAX)
		return false;
	job = calloc(1, sizeof(*job));
	if (!job)
		return false; /* checked inline: no worse than no pool */
	job->base.conn = req->conn;
	job->base.work = job_work;
	job->base.release = job_release;
	job->auth = req->pol->auth;
	job->pol_ref = live_hold(req->pol_ref);
	job->err = ERR_INIT;
	memcpy(job->hdr, hdr, strlen(hdr) + 1);
	req->auth_job = job;
	if (conn_job_submit(req->srv->offload, &job->base)) {
		log_debug("req=%llu: credential check offloaded",
		          (unsigned long long)req->id);
		return true;
	}
	req->auth_job = NULL;
	job_release(&job->base);
	return false;
}

bool http_auth_pending(const struct http_req *req)
{
	return req->auth_job && conn_job_pending(&req->auth_job->base);
}

void http_auth_drop(struct http_req *req)
{
	if (!req->auth_job)
		return;
	conn_job_drop(&req->auth_job->base);
	req->auth_job = NULL;
}

/* The caller's fate once the check gave @r. */
static int settle(struct http_req *req, enum auth_result r, struct err *err)
{
	const struct http_pol *pol = req->pol;

	if (r == AUTH_OK) {
		/* A token without a subject is the token server's anonymous
		   caller: its scope, and the policies' anonymousPolicy. */
		if (req->user[0])
			req->who.user = req->user;
		return who_groups(req, err);
	}
	/* /v2/ tells an anonymous caller to log in; other requests may be
	   open to anonymous callers. */
	if (r == AUTH_ANONYMOUS && req->kind != RT_BASE)
		return 0;
	if (r == AUTH_ANONYMOUS) {
		err_set(err, ERR_DENIED, "authentication required");
	} else if (pol->fail_delay_ms) {
		req->delay_due = true;
		log_debug("req=%llu: login refused, answered after failDelay",
		          (unsigned long long)req->id);
	}
	challenge(req, err, NULL, 0, false);
	return -1;
}

int http_auth_finish(struct http_req *req, struct err *err)
{
	struct auth_job *job = req->auth_job;
	int ret;

	req->auth_job = NULL;
	if (!job->base.ran) {
		job_release(&job->base);
		return err_set(err, ERR_BUSY,
		               "shutting down: credentials not checked");
	}
	memcpy(req->user, job->user, sizeof(req->user));
	req->groups = job->groups;
	job->groups = (struct auth_groups){0};
	if (job->r == AUTH_FAILED)
		*err = job->err;
	ret = settle(req, job->r, err);
	job_release(&job->base);
	return ret;
}

int http_authenticate(struct http_req *req, struct err *err)
{
	const struct http_pol *pol = req->pol;
	const char *hdr = req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok = bearer_token(hdr);
	enum auth_result r;

	req->who = (struct access_who){0};
	auth_groups_release(&req->groups);
	free(req->group_list);
	req->group_list = NULL;
	/*
	 * Mutual TLS: the client certificate names the caller, unless the
	 * request brings credentials for a method that is on.
	 */
	if (req->tls_user && (!hdr || !auth_on(req)) &&
	    strlen(req->tls_user) <= AUTH_USER_MAX) {
		memcpy(req->user, req->tls_user, strlen(req->tls_user) + 1);
		req->who.user = req->user;
		return 0;
	}
	if (!auth_on(req))
		return 0;
	/* An API key never goes through the cache of verified headers. */
	if (!tok && apikey_login(req, hdr))
		return 0;
	if (tok && pol->bearer)
		r = check_token(req, tok, err);
	else if (!pol->auth)
		r = check_not_token(hdr, err);
	else if (!auth_check_quick(pol->auth, hdr, req->user, &req->groups, &r,
	                           err)) {
		/* A cache miss costs a bcrypt or LDAP check: not here. */
		if (offload_check(req, hdr))
			return HTTP_PENDING;
		r = auth_check_groups(pol->auth, hdr, req->user, &req->groups,
		                      err);
	}
	return settle(req, r, err);
}

/* What the caller's token grants on @repo (all when it has none). */
static unsigned token_grants(const struct http_req *req, const char *repo)
{
	struct err ignored = ERR_INIT;
	unsigned actions = 0;

	if (!req->claims)
		return ~0u;
	if (jwt_repo_actions(req->claims, repo, &actions, &ignored) < 0)
		return 0;
	return actions;
}

bool http_allows(struct http_req *req, const char *repo, unsigned action)
{
	const struct access *a = req->pol->access;

	if (!(token_grants(req, repo) & action))
		return false;
	/* Authentication without policies: logging in is what it takes. */
	if (auth_on(req) && (!a || !a->on))
		return req->who.user != NULL;
	return access_allows(a, &req->who, repo, action);
}

bool http_denied(struct http_req *req, const char *repo, unsigned action,
                 struct err *err)
{
	bool anonymous = !req->who.user;

	if (http_allows(req, repo, action))
		return false;
	/* Ask for pull too: every client looks before it pushes. */
	if (req->claims && !(token_grants(req, repo) & action)) {
		err_set(err, ERR_DENIED,
		        "the bearer token does not grant %s on repository '%s'",
		        access_action_name(action), repo);
		challenge(req, err, repo, action | ACCESS_READ, true);
	} else if (anonymous && auth_on(req)) {
		err_set(err, ERR_DENIED,
		        "%s on repository '%s' needs authentication",
		        access_action_name(action), repo);
		challenge(req, err, repo, action | ACCESS_READ, false);
	} else if (!anonymous && !http_allows(req, repo, ACCESS_READ)) {
		err_set(err, ERR_NOT_FOUND,
		        "repository name not known to registry");
		err_oci(err, OCI_NAME_UNKNOWN);
	} else {
		err_set(err, ERR_DENIED,
		        "%s on repository '%s' is not allowed "
		        "(http.accessControl)",
		        access_action_name(action), repo);
	}
	return true;
}

bool http_login_denied(struct http_req *req, struct err *err)
{
	if (req->who.user)
		return false;
	err_set(err, ERR_DENIED, "this needs a login");
	challenge(req, err, NULL, 0, false);
	return true;
}

bool http_metrics_denied(struct http_req *req, struct err *err)
{
	const struct access *a = req->pol->access;

	/* Without accessControl.metrics.users, the endpoint is open. */
	if (!auth_on(req) || !a || !a->on || !a->n_metrics_users ||
	    access_metrics_allowed(a, &req->who))
		return false;
	if (!req->who.user) {
		err_set(err, ERR_DENIED, "the metrics need authentication");
		challenge(req, err, NULL, 0, false);
	} else {
		err_set(err, ERR_DENIED,
		        "the metrics are not for '%s' "
		        "(http.accessControl.metrics)",
		        req->who.user);
	}
	return true;
}
