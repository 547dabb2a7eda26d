/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.c - zot's GraphQL search API at /v2/_zot/ext/search
 * (extensions.search): GET ?query=&variables=&operationName=, or POST
 * of {"query", "variables", "operationName"}, answered in GraphQL's
 * response format by search/zot.h, showing only repositories the caller
 * may read. Also /v2/_oci/ext/discover, where zli looks for it.
 *
 * A query runs on the search pool (srv->searches, niced), its connection
 * suspended meanwhile, so that a slow one never holds a listener thread
 * that registry requests wait on; when the pool's queue is full it runs
 * here, as offload.c's callers do. The job reads the caller's rights
 * through the request: MHD neither closes nor times out a suspended
 * connection, and the server joins the pool's workers before it stops
 * MHD, so the request outlives the work.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

#include <jansson.h>

#include "http/http_int.h"
#include "search/zot.h"

/* Largest POST body: the document (64 KiB at most) and its variables. */
#define SEARCH_BODY_MAX (256u << 10)

static bool caller_may(void *arg, const char *repo, unsigned action)
{
	return http_allows(arg, repo, action);
}

/* A request that cannot run: 400 with a GraphQL error. */
static int bad_request(struct http_req *req, const char *msg, struct err *err)
{
	return reply_json(req, MHD_HTTP_BAD_REQUEST,
	                  json_pack("{s:[{s:s}]}", "errors", "message", msg),
	                  err);
}

/* A query on the search pool: a connection job (offload.c). */
struct search_job {
	struct conn_job base; /* first */
	struct http_req *req; /* whose rights (see the top) */
	char *query;
	json_t *vars; /* an object or NULL */
	char *op;     /* or NULL */
	json_t *out;  /* the answer, or NULL with err */
	struct err err;
};

static void job_release(struct conn_job *base)
{
	struct search_job *job = (struct search_job *)base;

	free(job->query);
	free(job->op);
	json_decref(job->vars);
	json_decref(job->out);
	free(job);
}

static void job_work(struct conn_job *base)
{
	struct search_job *job = (struct search_job *)base;
	struct zsearch_who who = {
		.may = caller_may, .arg = job->req, .user = job->req->who.user};

	job->out = zsearch_run(job->req->srv->opts.search, job->query,
	                       strlen(job->query), job->vars, job->op, &who,
	                       &job->err);
}

bool search_pending(const struct http_req *req)
{
	return req->search_job && conn_job_pending(&req->search_job->base);
}

void search_drop(struct http_req *req)
{
	if (!req->search_job)
		return;
	conn_job_drop(&req->search_job->base);
	req->search_job = NULL;
}

/* The answer of the job that ran for @req (resumed): reply. */
static int finish(struct http_req *req, struct err *err)
{
	struct search_job *job = req->search_job;
	json_t *out = job->out;
	int ret;

	req->search_job = NULL;
	job->out = NULL;
	if (!job->base.ran)
		ret = err_set(err, ERR_BUSY, "shutting down: not searched");
	else if (!out)
		ret = (*err = job->err, -1);
	else
		ret = reply_json(req, MHD_HTTP_OK, out, err);
	job_release(&job->base);
	return ret;
}

static int run(struct http_req *req, const char *query, json_t *vars,
               const char *op, struct err *err)
{
	struct search_job *job;

	if (!query)
		return bad_request(req, "no query given", err);
	if (vars && !json_is_object(vars) && !json_is_null(vars))
		return bad_request(req, "variables must be an object", err);
	job = calloc(1, sizeof(*job));
	if (!job || !(job->query = strdup(query)) ||
	    (op && !(job->op = strdup(op)))) {
		if (job)
			job_release(&job->base);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	job->base.conn = req->conn;
	job->base.work = job_work;
	job->base.release = job_release;
	job->req = req;
	job->vars = json_is_object(vars) ? json_incref(vars) : NULL;
	job->err = ERR_INIT;
	req->search_job = job;
	if (req->srv->searches &&
	    conn_job_submit(req->srv->searches, &job->base)) {
		log_debug("req=%llu: search offloaded",
		          (unsigned long long)req->id);
		return HTTP_PENDING;
	}
	job_work(&job->base); /* no pool, or it is full: here */
	job->base.ran = true;
	return finish(req, err);
}

int h_search_get(struct http_req *req, struct err *err)
{
	const char *v = req_arg(req, "variables");
	json_t *vars = NULL;
	int ret;

	if (req->search_job) /* resumed */
		return finish(req, err);
	if (v && *v && !(vars = json_loads(v, 0, NULL)))
		return bad_request(req, "variables are not JSON", err);
	ret = run(req, req_arg(req, "query"), vars,
	          req_arg(req, "operationName"), err);
	json_decref(vars);
	return ret;
}

int h_search_post_body(struct http_req *req, const char *buf, size_t len,
                       struct err *err)
{
	if (req->len + len > SEARCH_BODY_MAX)
		return err_set(err, ERR_TOO_LARGE,
		               "search request larger than %u bytes",
		               SEARCH_BODY_MAX);
	return req_body_append(req, buf, len, err);
}

int h_search_post_end(struct http_req *req, struct err *err)
{
	json_t *body;
	int ret;

	if (req->search_job) /* resumed */
		return finish(req, err);
	body = json_loadb(req->buf ? req->buf : "", req->len, 0, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		return bad_request(req, "the body is not a JSON object", err);
	}
	ret = run(req, json_string_value(json_object_get(body, "query")),
	          json_object_get(body, "variables"),
	          json_string_value(json_object_get(body, "operationName")),
	          err);
	json_decref(body);
	return ret;
}

/*
 * The distribution-spec's extension list, as zot answers it (routed
 * only with search on: it is the one extension listed).
 */
int h_discover(struct http_req *req, struct err *err)
{
	json_t *exts = json_array();
	json_t *ends = json_pack("[s]", "/v2/_zot/ext/search");

	/* zot lists the userprefs endpoint after search when it is on. */
	if (ends && req->srv->opts.userprefs)
		json_array_append_new(ends,
		                      json_string("/v2/_zot/ext/userprefs"));
	if (exts && ends)
		json_array_append_new(
			exts,
			json_pack("{s:s, s:s, s:s, s:O}", "name", "_zot", "url",
		                  "https://github.com/project-zot/zot/blob/"
		                  "main/pkg/extensions/_zot.md",
		                  "description", "zot registry extensions",
		                  "endpoints", ends));
	json_decref(ends);
	return reply_json(req, MHD_HTTP_OK,
	                  exts ? json_pack("{s:o}", "extensions", exts) : NULL,
	                  err);
}
