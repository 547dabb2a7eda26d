/* SPDX-License-Identifier: Apache-2.0 */
/*
 * graphql.c - one GraphQL request from text to response: parse,
 * validate, pick the operation, coerce its variables (spec 6.1, 6.2),
 * execute it, and shape the response (spec 7.1).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "search/graphql_int.h"

json_t *gql_error_json(const char *msg, struct gql_loc loc)
{
	return json_pack("{s:s%, s:[{s:I, s:I}]}", "message", msg,
	                 gql_utf8_prefix(msg, strlen(msg)), "locations", "line",
	                 (json_int_t)loc.line, "column", (json_int_t)loc.col);
}

/* {"errors": [error]}: the request could not run. */
static json_t *request_error(const struct gql_error *e, struct err *err)
{
	json_t *r;

	if (e->oom) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	r = json_pack("{s:[o]}", "errors", gql_error_json(e->msg, e->loc));
	if (!r)
		err_set(err, ERR_NOMEM, "out of memory");
	return r;
}

PRINTF(3, 4)
static int req_fail(struct gql_error *e, struct gql_loc loc, const char *fmt,
                    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->loc = loc;
	return -1;
}

/* GetOperation (spec 6.1). */
static int pick_op(const struct doc *d, const char *name, const struct op **o,
                   struct gql_error *e)
{
	const struct op *it;

	if (!name) {
		if (d->ops && d->ops->next)
			return req_fail(e, d->ops->next->loc,
			                "Must provide operation name if query "
			                "contains multiple operations.");
		if (!d->ops)
			return req_fail(e, (struct gql_loc){1, 1},
			                "Must provide an operation.");
		*o = d->ops;
		return 0;
	}
	for (it = d->ops; it; it = it->next)
		if (it->name && !strcmp(it->name, name))
			break;
	if (!it)
		return req_fail(e, (struct gql_loc){1, 1},
		                "Unknown operation named \"%.200s\".", name);
	*o = it;
	return 0;
}

/* CoerceVariableValues (spec 6.1.2) into a new object *out. */
static int coerce_vars(const struct op *o, json_t *given, json_t **out,
                       struct gql_error *e)
{
	struct err err = ERR_INIT;
	json_t *c, *in;

	if (!(*out = json_object()))
		goto oom;
	for (const struct vardef *v = o->vars; v; v = v->next) {
		in = json_object_get(given, v->name);
		if (in)
			(void)coerce_json(v->type, in, &c, &err);
		else if (v->def)
			(void)coerce_literal(v->type, v->def, NULL, &c, &err);
		else if (v->type->kind == TREF_NON_NULL)
			err_set(&err, ERR_INVALID,
			        "Variable of required type was not provided.");
		else
			continue;
		if (err.code == ERR_NOMEM)
			goto oom;
		if (err.code)
			return req_fail(e, v->loc, "Variable \"$%s\": %s",
			                v->name, err.msg);
		if (c && json_object_set_new(*out, v->name, c) < 0)
			goto oom;
	}
	return 0;
oom:
	e->oom = true;
	return -1;
}

/* The response for a document that parsed and validated. */
static json_t *run(const struct gql_schema *s, struct doc *d,
                   const struct gql_request *req, struct gql_limits lim,
                   struct err *err)
{
	struct exec ex = {
		.s = s, .d = d, .ctx = req->ctx, .lim = lim, .err = err};
	struct gql_error e = {0};
	const struct op *o = NULL;
	json_t *r = NULL, *data = NULL;

	if (pick_op(d, req->operation, &o, &e) < 0)
		return request_error(&e, err);
	if (o->kind != OP_QUERY) {
		req_fail(&e, o->loc, "Only queries are supported, not %s.",
		         o->kind == OP_MUTATION ? "mutations"
		                                : "subscriptions");
		return request_error(&e, err);
	}
	if (coerce_vars(o, req->variables, &ex.vars, &e) < 0) {
		json_decref(ex.vars);
		return request_error(&e, err);
	}
	ex.errors = json_array();
	ex.keep = json_array();
	ex.root = json_object();
	if (!ex.errors || !ex.keep || !ex.root) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	data = exec_query(&ex, o);
	if (ex.stop && !ex.over)
		goto out; /* out of memory: err is set */
	if (ex.over) {
		json_decref(data);
		data = NULL;
	}
	r = json_object();
	if (!r ||
	    json_object_set_new(r, "data", data ? data : json_null()) < 0 ||
	    (json_array_size(ex.errors) &&
	     json_object_set(r, "errors", ex.errors) < 0)) {
		if (!r)
			json_decref(data);
		json_decref(r);
		r = NULL;
		err_set(err, ERR_NOMEM, "out of memory");
	}
	data = NULL; /* r has it */
out:
	json_decref(data);
	json_decref(ex.errors);
	json_decref(ex.keep);
	json_decref(ex.vars);
	json_decref(ex.root);
	return r;
}

json_t *gql_execute(const struct gql_schema *s, const struct gql_request *req,
                    const struct gql_limits *lim, struct err *err)
{
	struct gql_limits l = gql_limits_fill(lim);
	struct doc d = {0};
	struct gql_error e;
	json_t *r;

	if (req->variables && !json_is_object(req->variables)) {
		e = (struct gql_error){.loc = {1, 1}};
		snprintf(e.msg, sizeof(e.msg), "Variables must be an object.");
		r = request_error(&e, err);
	} else if (gql_parse(&d, req->query, req->len, &l, &e) < 0 ||
	           gql_validate(s, &d, &l, &e) < 0) {
		r = request_error(&e, err);
	} else {
		r = run(s, &d, req, l, err);
	}
	doc_release(&d);
	return r;
}
