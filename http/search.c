/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.c - zot's GraphQL search API at /v2/_zot/ext/search
 * (extensions.search): GET ?query=&variables=&operationName=, or POST
 * of {"query", "variables", "operationName"}, answered in GraphQL's
 * response format by search/zot.h, showing only repositories the caller
 * may read. Also /v2/_oci/ext/discover, where zli looks for it.
 */
#include <stdlib.h>
#include <string.h>

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

static int run(struct http_req *req, const char *query, json_t *vars,
               const char *op, struct err *err)
{
	struct zsearch_who who = {
		.may = caller_may, .arg = req, .user = req->who.user};
	json_t *out;

	if (!query)
		return bad_request(req, "no query given", err);
	if (vars && !json_is_object(vars) && !json_is_null(vars))
		return bad_request(req, "variables must be an object", err);
	out = zsearch_run(req->srv->opts.search, query, strlen(query),
	                  json_is_object(vars) ? vars : NULL, op, &who, err);
	if (!out)
		return -1;
	return reply_json(req, MHD_HTTP_OK, out, err);
}

int h_search_get(struct http_req *req, struct err *err)
{
	const char *v = req_arg(req, "variables");
	json_t *vars = NULL;
	int ret;

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
	json_t *body = json_loadb(req->buf ? req->buf : "", req->len, 0, NULL);
	int ret;

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
