/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_graphql.c - GraphQL requests (search/graphql.h) against a small
 * schema with a recursive type, lists, an input object, an enum and a
 * custom scalar.
 *
 * Input: the document, optionally followed by "\n#vars:" and the
 * variables as JSON. Invariants: every request gets a response (the
 * harness never runs out of memory), which is an object with "data" or
 * a non-empty "errors" of messages with locations; the arguments a
 * resolver sees have their declared types; and the response serialises.
 */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>

#include "search/graphql.h"
#include "tests/fuzz/fuzz.h"

/* Echo's arguments: each has the JSON type its GraphQL type promises. */
static json_t *echo(const struct gql_call *call, struct err *err)
{
	json_t *a = call->args, *v;
	char *s;

	(void)err;
	v = json_object_get(a, "i");
	fuzz_check(!v || json_is_null(v) || json_is_integer(v));
	v = json_object_get(a, "f");
	fuzz_check(!v || json_is_null(v) || json_is_real(v));
	v = json_object_get(a, "s");
	fuzz_check(!v || json_is_null(v) || json_is_string(v));
	v = json_object_get(a, "l");
	fuzz_check(!v || json_is_null(v) || json_is_array(v));
	v = json_object_get(a, "p");
	fuzz_check(!v || json_is_null(v) ||
	           json_is_integer(json_object_get(v, "offset")));
	fuzz_check(json_is_integer(json_object_get(a, "r")));
	s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	fuzz_check(s);
	v = json_string(s);
	free(s);
	return v;
}

static json_t *node(const struct gql_call *call, struct err *err)
{
	json_int_t n = json_integer_value(json_object_get(call->args, "n"));

	(void)err;
	return json_pack("{s:I, s:s}", "id", n, "name", "node");
}

static json_t *children(const struct gql_call *call, struct err *err)
{
	json_int_t id = json_integer_value(json_object_get(call->parent, "id"));
	json_t *page = json_object_get(call->args, "page");
	json_int_t limit = json_integer_value(json_object_get(page, "limit"));
	json_t *a = json_array();

	if (limit < 0) {
		json_decref(a);
		err_set(err, ERR_INVALID, "negative limit");
		return NULL;
	}
	for (json_int_t i = 0; i < limit && i < 4; i++)
		json_array_append_new(a,
		                      json_pack("{s:I, s:s}", "id", id * 4 + i,
		                                "name", "child"));
	return a;
}

static json_t *boom(const struct gql_call *call, struct err *err)
{
	(void)call;
	err_set(err, ERR_NOT_FOUND, "boom");
	return NULL;
}

static const struct gql_arg_def page_input[] = {
	{"limit", "Int", "2", NULL},
	{"offset", "Int", "0", NULL},
	{"sortBy", "Sort", "ASC", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def echo_args[] = {
	{"i", "Int", NULL, NULL},      {"f", "Float", NULL, NULL},
	{"s", "String", NULL, NULL},   {"b", "Boolean", NULL, NULL},
	{"id", "ID", NULL, NULL},      {"e", "Sort", NULL, NULL},
	{"l", "[[Int!]]", NULL, NULL}, {"p", "Page", NULL, NULL},
	{"t", "Time", NULL, NULL},     {"r", "Int!", "1", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def node_args[] = {
	{"n", "Int!", NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def children_args[] = {
	{"page", "Page", "{}", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_field_def query_fields[] = {
	{"echo", "String", echo_args, echo, NULL},
	{"node", "Node!", node_args, node, NULL},
	{"boom", "String!", NULL, boom, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def node_fields[] = {
	{"id", "ID!", NULL, NULL, NULL},
	{"name", "String", NULL, NULL, NULL},
	{"missing", "Int!", NULL, NULL, NULL},
	{"children", "[Node!]", children_args, children, NULL},
	{"boom", "Node", NULL, boom, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const char *const sort_values[] = {"ASC", "DESC", NULL};

static const struct gql_type_def types[] = {
	{GQL_OBJECT, "Query", NULL, query_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "Node", "A node.", node_fields, NULL, NULL, NULL},
	{GQL_INPUT_OBJECT, "Page", NULL, NULL, page_input, NULL, NULL},
	{GQL_ENUM, "Sort", NULL, NULL, NULL, sort_values, NULL},
	{GQL_SCALAR, "Time", NULL, NULL, NULL, NULL, NULL},
	{0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static void check_response(json_t *r)
{
	json_t *errors = json_object_get(r, "errors"), *e;
	char *s;
	size_t i;

	fuzz_check(json_is_object(r));
	fuzz_check(json_object_get(r, "data") || json_array_size(errors));
	json_array_foreach(errors, i, e)
	{
		fuzz_check(json_is_string(json_object_get(e, "message")));
		fuzz_check(json_array_size(json_object_get(e, "locations")));
	}
	s = json_dumps(r, JSON_COMPACT);
	fuzz_check(s);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gql_schema *schema;
	static const char mark[] = "\n#vars:";
	struct gql_limits lim = {.max_work = 100000};
	struct gql_request req = {.query = (const char *)data, .len = size};
	struct err err = ERR_INIT;
	const uint8_t *v;
	json_t *r;

	if (!schema) {
		schema = gql_schema_new(types, "Query", &err);
		fuzz_check(schema);
	}
	v = memmem(data, size, mark, sizeof(mark) - 1);
	if (v) {
		req.len = (size_t)(v - data);
		v += sizeof(mark) - 1;
		req.variables = json_loadb((const char *)v,
		                           size - (size_t)(v - data), 0, NULL);
	}
	r = gql_execute(schema, &req, &lim, &err);
	fuzz_check(r);
	check_response(r);
	json_decref(r);
	json_decref(req.variables);
	return 0;
}
