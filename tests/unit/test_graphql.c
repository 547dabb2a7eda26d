/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_graphql.c - the GraphQL executor (search/graphql.h) against a toy
 * schema shaped like zot's search API: repositories with images, a
 * paginated list taking a PageInput, an echo of every argument kind, and
 * fields that fail, to cover parsing, validation, execution, errors,
 * introspection, the SDL printer and hostile input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "search/graphql.h"

/* The toy data: repositories with images, as plain JSON. */
static const char repos_json[] =
	"["
	"{\"Name\":\"nginx\",\"Size\":300,\"Starred\":true,\"Images\":["
	"{\"Tag\":\"1.25\",\"Digest\":\"sha256:n1\",\"Size\":100},"
	"{\"Tag\":\"1.26\",\"Digest\":\"sha256:n2\",\"Size\":100},"
	"{\"Tag\":\"latest\",\"Digest\":\"sha256:n2\",\"Size\":100}]},"
	"{\"Name\":\"alpine\",\"Size\":20,\"Starred\":false,\"Images\":["
	"{\"Tag\":\"3.19\",\"Digest\":\"sha256:a1\",\"Size\":10},"
	"{\"Tag\":\"3.20\",\"Digest\":\"sha256:a2\",\"Size\":10}]},"
	"{\"Name\":\"busybox\",\"Size\":5,\"Images\":["
	"{\"Tag\":\"1\",\"Digest\":\"sha256:b1\",\"Size\":5}]}"
	"]";

static json_t *repos;
static int page_selected = -1; /* did the last RepoList ask for Page? */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(
		json_string_value(json_object_get(*(json_t **)a, "Name")),
		json_string_value(json_object_get(*(json_t **)b, "Name")));
}

/* RepoList(requestedPage): sort, then offset and limit, as zot pages. */
static json_t *repo_list(const struct gql_call *call, struct err *err)
{
	json_t *page = json_object_get(call->args, "requestedPage");
	json_t *limit = json_object_get(page, "limit");
	const char *sort = json_string_value(json_object_get(page, "sortBy"));
	json_int_t off = json_integer_value(json_object_get(page, "offset"));
	json_t *sorted[8], *results = json_array();
	size_t n = json_array_size(repos), i;

	page_selected = gql_call_selects(call, "Page");
	if (off < 0)
		return err_set(err, ERR_INVALID, "negative offset"), NULL;
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(repos, i);
	if (sort && strcmp(sort, "RELEVANCE"))
		qsort(sorted, n, sizeof(sorted[0]), cmp_name);
	if (sort && !strcmp(sort, "ALPHABETIC_DSC"))
		for (i = 0; i < n / 2; i++) {
			json_t *t = sorted[i];

			sorted[i] = sorted[n - 1 - i];
			sorted[n - 1 - i] = t;
		}
	for (i = (size_t)off; i < n; i++) {
		if (json_is_integer(limit) &&
		    json_array_size(results) >=
		            (size_t)json_integer_value(limit))
			break;
		json_array_append(results, sorted[i]);
	}
	return json_pack("{s:{s:I, s:I}, s:o}", "Page", "TotalCount",
	                 (json_int_t)n, "ItemCount",
	                 (json_int_t)json_array_size(results), "Results",
	                 results);
}

static json_t *repo(const struct gql_call *call, struct err *err)
{
	const char *name =
		json_string_value(json_object_get(call->args, "name"));
	size_t i;
	json_t *r;

	(void)err;
	json_array_foreach(repos, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "Name")),
		            name))
			return json_deep_copy(r); /* shared by threads */
	}
	return json_null();
}

/* The coerced arguments, as the resolver sees them. */
static json_t *echo(const struct gql_call *call, struct err *err)
{
	char *s = json_dumps(call->args, JSON_SORT_KEYS | JSON_COMPACT);
	json_t *r;

	(void)err;
	r = json_string(s);
	free(s);
	return r;
}

static json_t *failing(const struct gql_call *call, struct err *err)
{
	if (call->ctx)
		err_set(err, ERR_NOT_FOUND, "no such thing: %s",
		        (char *)call->ctx);
	else
		err_set(err, ERR_NOT_FOUND, "no such thing");
	return NULL;
}

static json_t *fail_io(const struct gql_call *call, struct err *err)
{
	(void)call;
	err_set(err, ERR_IO, "cannot read /secret/path");
	return NULL;
}

static json_t *whoami(const struct gql_call *call, struct err *err)
{
	(void)err;
	return json_string(call->ctx ? call->ctx : "anonymous");
}

static json_t *numbers(const struct gql_call *call, struct err *err)
{
	json_int_t n = json_integer_value(json_object_get(call->args, "n"));
	json_t *a = json_array();

	(void)err;
	for (json_int_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(i));
	return a;
}

static json_t *self(const struct gql_call *call, struct err *err)
{
	(void)err;
	return json_incref(call->parent);
}

static json_t *wrong_type(const struct gql_call *call, struct err *err)
{
	(void)call;
	(void)err;
	return json_string("not a number");
}

/* Time: an RFC 3339 date-time, checked loosely (a 'T' in a string). */
static int time_check(const json_t *v, struct err *err)
{
	if (!json_is_string(v) || !strchr(json_string_value(v), 'T'))
		return err_set(err, ERR_INVALID, "not a time");
	return 0;
}

static const struct gql_arg_def page_input[] = {
	{"limit", "Int", NULL, "how many at most"},
	{"offset", "Int", "0", NULL},
	{"sortBy", "SortCriteria", "ALPHABETIC_ASC", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def filter_input[] = {
	{"Names", "[String!]", NULL, NULL},
	{"Page", "PageInput", "{limit: 2}", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def repo_list_args[] = {
	{"requestedPage", "PageInput", "{}", NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def repo_args[] = {
	{"name", "String!", NULL, "the repository"},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def echo_args[] = {
	{"i", "Int", NULL, NULL},       {"f", "Float", NULL, NULL},
	{"s", "String", NULL, NULL},    {"b", "Boolean", NULL, NULL},
	{"id", "ID", NULL, NULL},       {"e", "SortCriteria", NULL, NULL},
	{"l", "[Int!]", NULL, NULL},    {"ll", "[[String]]", NULL, NULL},
	{"p", "PageInput", NULL, NULL}, {"fi", "Filter", NULL, NULL},
	{"t", "Time", NULL, NULL},      {"d", "String", "\"dflt\"", NULL},
	{"r", "Int!", "7", NULL},       {NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def numbers_args[] = {
	{"n", "Int!", NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_field_def query_fields[] = {
	{"RepoList", "PaginatedRepos!", repo_list_args, repo_list,
         "Repositories, a page at a time."},
	{"Repo", "Repo", repo_args, repo, NULL},
	{"Echo", "String", echo_args, echo, NULL},
	{"Fail", "String", NULL, failing, NULL},
	{"FailIO", "String", NULL, fail_io, NULL},
	{"FailNonNull", "String!", NULL, failing, NULL},
	{"Whoami", "String", NULL, whoami, NULL},
	{"Numbers", "[Int!]!", numbers_args, numbers, NULL},
	{"WrongType", "Int", NULL, wrong_type, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def paginated_fields[] = {
	{"Page", "PageInfo", NULL, NULL, NULL},
	{"Results", "[Repo!]!", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def page_info_fields[] = {
	{"TotalCount", "Int!", NULL, NULL, NULL},
	{"ItemCount", "Int!", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def repo_fields[] = {
	{"Name", "String!", NULL, NULL, NULL},
	{"Size", "Int", NULL, NULL, NULL},
	{"Starred", "Boolean", NULL, NULL, NULL},
	{"Images", "[Image!]", NULL, NULL, NULL},
	{"Broken", "Image!", NULL, failing, "always fails"},
	{"Missing", "String!", NULL, NULL, NULL},
	{"Self", "Repo", NULL, self, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def image_fields[] = {
	{"Tag", "String!", NULL, NULL, NULL},
	{"Digest", "ID", NULL, NULL, NULL},
	{"Size", "Int", NULL, NULL, NULL},
	{"Vendor", "String!", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const char *const sort_values[] = {
	"RELEVANCE", "UPDATE_TIME", "ALPHABETIC_ASC", "ALPHABETIC_DSC", NULL};

static const struct gql_type_def toy_types[] = {
	{GQL_OBJECT, "Query", NULL, query_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "PaginatedRepos", NULL, paginated_fields, NULL, NULL,
         NULL},
	{GQL_OBJECT, "PageInfo", NULL, page_info_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "Repo", "A repository.\nWith images.", repo_fields, NULL,
         NULL, NULL},
	{GQL_OBJECT, "Image", NULL, image_fields, NULL, NULL, NULL},
	{GQL_INPUT_OBJECT, "PageInput", NULL, NULL, page_input, NULL, NULL},
	{GQL_INPUT_OBJECT, "Filter", NULL, NULL, filter_input, NULL, NULL},
	{GQL_ENUM, "SortCriteria", NULL, NULL, NULL, sort_values, NULL},
	{GQL_SCALAR, "Time", "A date and time.", NULL, NULL, NULL, time_check},
	{0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static struct gql_schema *schema;

static int setup(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	repos = json_loads(repos_json, 0, NULL);
	schema = gql_schema_new(toy_types, "Query", &err);
	if (!schema)
		fprintf(stderr, "schema: %s\n", err.msg);
	return repos && schema ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	gql_schema_free(schema);
	json_decref(repos);
	return 0;
}

/* Execute @query with @vars (JSON text or NULL) and @lim. */
static json_t *run_full(const char *query, size_t len, const char *vars,
                        const char *opname, void *ctx,
                        const struct gql_limits *lim)
{
	struct gql_request req = {
		.query = query, .len = len, .operation = opname, .ctx = ctx};
	struct err err = ERR_INIT;
	json_t *r;

	if (vars) {
		req.variables = json_loads(vars, 0, NULL);
		assert_non_null(req.variables);
	}
	r = gql_execute(schema, &req, lim, &err);
	json_decref(req.variables);
	if (!r)
		fprintf(stderr, "gql_execute: %s\n", err.msg);
	assert_non_null(r);
	return r;
}

static json_t *run(const char *query, const char *vars)
{
	return run_full(query, strlen(query), vars, NULL, NULL, NULL);
}

/* Assert @got equals the JSON text @want (object key order ignored). */
static void expect_json(json_t *got, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);

	if (!w)
		fail_msg("bad expectation: %s", want);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT);

		fprintf(stderr, "want: %s\ngot:  %s\n", want, g);
		free(g);
		json_decref(w);
		fail();
	}
	json_decref(w);
}

/* Run @query and compare the whole response. */
static void expect_response(const char *query, const char *vars,
                            const char *want)
{
	json_t *r = run(query, vars);

	expect_json(r, want);
	json_decref(r);
}

/*
 * The response is {"errors": [one]} without "data" (a request error)
 * whose message contains @msg, at @line:@col.
 */
static void expect_request_error(json_t *r, const char *msg, int line, int col)
{
	json_t *errors = json_object_get(r, "errors"),
	       *e = json_array_get(errors, 0);
	json_t *loc = json_array_get(json_object_get(e, "locations"), 0);
	const char *m = json_string_value(json_object_get(e, "message"));

	if (!m || !strstr(m, msg) || json_object_get(r, "data")) {
		char *g = json_dumps(r, JSON_COMPACT);

		fprintf(stderr, "want error '%s'\ngot: %s\n", msg, g);
		free(g);
		fail();
	}
	assert_int_equal(json_array_size(errors), 1);
	if ((line &&
	     json_integer_value(json_object_get(loc, "line")) != line) ||
	    (col && json_integer_value(json_object_get(loc, "column")) != col))
		fprintf(stderr, "location of '%s'\n", m);
	if (line) {
		assert_int_equal(
			json_integer_value(json_object_get(loc, "line")), line);
	}
	if (col) {
		assert_int_equal(
			json_integer_value(json_object_get(loc, "column")),
			col);
	}
}

static void expect_error(const char *query, const char *vars, const char *msg,
                         int line, int col)
{
	json_t *r = run(query, vars);

	expect_request_error(r, msg, line, col);
	json_decref(r);
}

static void test_shorthand_query_with_aliases_and_lists(void **state)
{
	(void)state;
	expect_response("{ Repo(name: \"alpine\") { Name n2: Name Size "
	                "Images { Tag tag: Digest } } }",
	                NULL,
	                "{\"data\":{\"Repo\":{\"Name\":\"alpine\",\"n2\":"
	                "\"alpine\",\"Size\":20,\"Images\":[{\"Tag\":\"3.19\","
	                "\"tag\":\"sha256:a1\"},{\"Tag\":\"3.20\",\"tag\":"
	                "\"sha256:a2\"}]}}}");
	expect_response("query { a: Repo(name: \"busybox\") { Name } b: "
	                "Repo(name: \"none\") { Name } }",
	                NULL,
	                "{\"data\":{\"a\":{\"Name\":\"busybox\"},\"b\":null}}");
}

static void test_response_keys_keep_query_order(void **state)
{
	json_t *r;
	char *s;

	(void)state;
	r = run("{ Repo(name: \"nginx\") { Size Name Starred } }", NULL);
	s = json_dumps(r, JSON_COMPACT);
	assert_string_equal(s, "{\"data\":{\"Repo\":{\"Size\":300,\"Name\":"
	                       "\"nginx\",\"Starred\":true}}}");
	free(s);
	json_decref(r);
}

static void test_list_resolver_answers_pages(void **state)
{
	(void)state;
	expect_response("query P($p: PageInput) { RepoList(requestedPage: $p) "
	                "{ Page { TotalCount ItemCount } Results { Name } } }",
	                "{\"p\":{\"limit\":2,\"offset\":1}}",
	                "{\"data\":{\"RepoList\":{\"Page\":{\"TotalCount\":3,"
	                "\"ItemCount\":2},\"Results\":[{\"Name\":\"busybox\"},"
	                "{\"Name\":\"nginx\"}]}}}");
	assert_int_equal(page_selected, 1);
	expect_response("{ RepoList(requestedPage: {sortBy: ALPHABETIC_DSC, "
	                "limit: 1}) { Results { Name } } }",
	                NULL,
	                "{\"data\":{\"RepoList\":{\"Results\":[{\"Name\":"
	                "\"nginx\"}]}}}");
	assert_int_equal(page_selected, 0);
	/* The argument's default {} gets the input fields' defaults. */
	expect_response("{ RepoList { Results { Name } } }", NULL,
	                "{\"data\":{\"RepoList\":{\"Results\":[{\"Name\":"
	                "\"alpine\"},{\"Name\":\"busybox\"},{\"Name\":"
	                "\"nginx\"}]}}}");
	/* A fragment asking for Page counts as asking for it. */
	expect_response(
		"{ RepoList { ...P } } fragment P on PaginatedRepos "
		"{ Page { ItemCount } }",
		NULL, "{\"data\":{\"RepoList\":{\"Page\":{\"ItemCount\":3}}}}");
	assert_int_equal(page_selected, 1);
}

static void test_arguments_of_every_value_kind(void **state)
{
	(void)state;
	expect_response(
		"{ Echo(i: -42, f: 1.5e2, s: \"a\\\"b\\\\\\/\\n\\u00e9\\ud83d"
		"\\ude00\", b: true, id: 7, e: RELEVANCE, l: [1, 2,, 3], "
		"ll: [[\"x\", null], []], p: {limit: 3, sortBy: UPDATE_TIME}, "
		"t: \"2024-01-01T00:00:00Z\") }",
		NULL,
		"{\"data\":{\"Echo\":\"{\\\"b\\\":true,\\\"d\\\":\\\"dflt\\\","
		"\\\"e\\\":\\\"RELEVANCE\\\",\\\"f\\\":150.0,\\\"i\\\":-42,"
		"\\\"id\\\":\\\"7\\\",\\\"l\\\":[1,2,3],\\\"ll\\\":[[\\\"x\\\","
		"null],[]],\\\"p\\\":{\\\"limit\\\":3,\\\"offset\\\":0,"
		"\\\"sortBy\\\":\\\"UPDATE_TIME\\\"},\\\"r\\\":7,\\\"s\\\":"
		"\\\"a\\\\\\\"b\\\\\\\\/\\\\n\\u00e9\\ud83d\\ude00\\\","
		"\\\"t\\\":\\\"2024-01-01T00:00:00Z\\\"}\"}}");
	/* null, a list of one given as a value, nested input defaults */
	expect_response("{ Echo(s: null, l: 5, fi: {Names: \"x\"}, r: 1) }",
	                NULL,
	                "{\"data\":{\"Echo\":\"{\\\"d\\\":\\\"dflt\\\","
	                "\\\"fi\\\":{\\\"Names\\\":[\\\"x\\\"],\\\"Page\\\":{"
	                "\\\"limit\\\":2,\\\"offset\\\":0,\\\"sortBy\\\":"
	                "\\\"ALPHABETIC_ASC\\\"}},\\\"l\\\":[5],\\\"r\\\":1,"
	                "\\\"s\\\":null}\"}}");
}

static void test_block_strings_are_dedented(void **state)
{
	(void)state;
	expect_response("{ Echo(s: \"\"\"\n\n    hello\n      world\n    "
	                "say \\\"\"\" \"x\"\n\n  \"\"\") }",
	                NULL,
	                "{\"data\":{\"Echo\":\"{\\\"d\\\":\\\"dflt\\\","
	                "\\\"r\\\":7,\\\"s\\\":\\\"hello\\\\n  world\\\\nsay "
	                "\\\\\\\"\\\\\\\"\\\\\\\" \\\\\\\"x\\\\\\\"\\\"}\"}}");
	/* CRLF and CR end lines too, in block strings and for locations. */
	expect_response("{\r\n Echo(s: \"\"\"\r\n  a\r  b\r\n\"\"\") }", NULL,
	                "{\"data\":{\"Echo\":\"{\\\"d\\\":\\\"dflt\\\","
	                "\\\"r\\\":7,\\\"s\\\":\\\"a\\\\nb\\\"}\"}}");
	expect_error("{\r\n Echo(s: \"\"\"\r\n  a\r  b\r\n\"\"\") @bad }", NULL,
	             "Unknown directive \"@bad\"", 5, 6);
}

static void test_comments_commas_and_bom_are_ignored(void **state)
{
	(void)state;
	expect_response(
		"\xef\xbb\xbf# a comment\n{,Repo(name:\"busybox\",),"
		"{Name,# trailing\r\nSize}}",
		NULL,
		"{\"data\":{\"Repo\":{\"Name\":\"busybox\",\"Size\":5}}}");
}

static void test_variables_are_coerced_with_defaults(void **state)
{
	(void)state;
	expect_response(
		"query Q($n: String! = \"alpine\", $i: Int, $l: [Int!], "
		"$t: Time) { Repo(name: $n) { Name } Echo(i: $i, l: $l, "
		"t: $t, id: $n) }",
		"{\"i\":3.0,\"l\":4,\"t\":\"1999-01-01T00:00:00Z\"}",
		"{\"data\":{\"Repo\":{\"Name\":\"alpine\"},\"Echo\":"
		"\"{\\\"d\\\":\\\"dflt\\\",\\\"i\\\":3,\\\"id\\\":"
		"\\\"alpine\\\",\\\"l\\\":[4],\\\"r\\\":7,\\\"t\\\":"
		"\\\"1999-01-01T00:00:00Z\\\"}\"}}");
	/* An absent variable leaves the argument to its default. */
	expect_response("query Q($r: Int) { Echo(r: $r) }", "{}",
	                "{\"data\":{\"Echo\":\"{\\\"d\\\":\\\"dflt\\\","
	                "\\\"r\\\":7}\"}}");
}

static void test_bad_variables_are_request_errors(void **state)
{
	(void)state;
	expect_error("query Q($i: Int) { Echo(i: $i) }", "{\"i\":\"x\"}",
	             "Variable \"$i\"", 1, 9);
	expect_error("query Q($i: Int) { Echo(i: $i) }", "{\"i\":4294967296}",
	             "Variable \"$i\"", 1, 9);
	expect_error("query Q($n: String!) { Repo(name: $n) { Name } }", "{}",
	             "was not provided", 1, 9);
	expect_error("query Q($n: String!) { Repo(name: $n) { Name } }",
	             "{\"n\":null}", "Variable \"$n\"", 1, 9);
	expect_error("query Q($p: PageInput) { RepoList(requestedPage: $p) "
	             "{ Page { ItemCount } } }",
	             "{\"p\":{\"nope\":1}}", "\"nope\" is not defined", 1, 9);
	expect_error("query Q($e: SortCriteria) { Echo(e: $e) }",
	             "{\"e\":\"SIDEWAYS\"}", "Variable \"$e\"", 1, 9);
	expect_error("query Q($t: Time) { Echo(t: $t) }", "{\"t\":\"noon\"}",
	             "not a time", 1, 9);
	expect_error("query Q($x: Repo) { Echo }", NULL, "non-input type", 1,
	             9);
	expect_error("query Q($x: Int, $x: Int) { Echo }", NULL,
	             "only one variable", 1, 18);
	expect_error("{ Echo(i: $nope) }", NULL, "\"$nope\" is not defined", 1,
	             8);
}

static void test_literals_of_the_wrong_type_are_errors(void **state)
{
	(void)state;
	expect_error("{ Echo(i: \"1\") }", NULL, "Expected type \"Int\"", 1, 8);
	expect_error("{ Echo(i: 2147483648) }", NULL, "out of range", 1, 8);
	expect_error("{ Echo(f: true) }", NULL, "Float", 1, 8);
	expect_error("{ Echo(e: \"RELEVANCE\") }", NULL, "SortCriteria", 1, 8);
	expect_error("{ Echo(l: [1, null]) }", NULL, "Int!", 1, 8);
	expect_error("{ Echo(r: null) }", NULL, "Int!", 1, 8);
	expect_error("{ Echo(p: {limit: 1, limit: 2}) }", NULL,
	             "only one input field", 1, 8);
	expect_error("{ Echo(t: \"noon\") }", NULL, "not a time", 1, 8);
}

static void test_fragments_and_merging(void **state)
{
	(void)state;
	expect_response(
		"query { Repo(name: \"nginx\") { ...R Images { Size } ... on "
		"Repo { Size } ... { Starred } } } fragment R on Repo { Name "
		"Images { Tag ...I } } fragment I on Image { Digest }",
		NULL,
		"{\"data\":{\"Repo\":{\"Name\":\"nginx\",\"Images\":[{\"Tag\":"
		"\"1.25\",\"Digest\":\"sha256:n1\",\"Size\":100},{\"Tag\":"
		"\"1.26\",\"Digest\":\"sha256:n2\",\"Size\":100},{\"Tag\":"
		"\"latest\",\"Digest\":\"sha256:n2\",\"Size\":100}],\"Size\":"
		"300,\"Starred\":true}}}");
}

static void test_skip_and_include(void **state)
{
	(void)state;
	expect_response("query Q($yes: Boolean!) { Repo(name: \"alpine\") { "
	                "Name @skip(if: true) Size @include(if: $yes) "
	                "Starred @include(if: false) ... @skip(if: $yes) { "
	                "Images { Tag } } } }",
	                "{\"yes\":true}",
	                "{\"data\":{\"Repo\":{\"Size\":20}}}");
	expect_error("{ Repo(name: \"alpine\") { Name @deprecated } }", NULL,
	             "Unknown directive \"@deprecated\"", 1, 31);
	expect_error("{ Echo @skip }", NULL, "exactly one argument", 1, 8);
	expect_error("{ Echo @skip(if: 1) }", NULL, "\"Boolean\"", 1, 14);
	expect_error("query @skip(if: true) { Echo }", NULL, "on an operation",
	             1, 7);
}

static void test_typename(void **state)
{
	(void)state;
	expect_response("{ __typename Repo(name: \"busybox\") { t: __typename "
	                "Images { __typename } } }",
	                NULL,
	                "{\"data\":{\"__typename\":\"Query\",\"Repo\":{\"t\":"
	                "\"Repo\",\"Images\":[{\"__typename\":\"Image\"}]}}}");
}

static void test_field_errors_have_paths_and_propagate_nulls(void **state)
{
	(void)state;
	/* A nullable field that fails is null, with its error. */
	expect_response("{ Whoami Fail }", NULL,
	                "{\"data\":{\"Whoami\":\"anonymous\",\"Fail\":null},"
	                "\"errors\":[{\"message\":\"no such thing\","
	                "\"locations\":[{\"line\":1,\"column\":10}],\"path\":"
	                "[\"Fail\"]}]}");
	/* A non-null field nulls its parent, up to the nearest nullable. */
	expect_response("{ Repo(name: \"alpine\") { Name Broken { Tag } } }",
	                NULL,
	                "{\"data\":{\"Repo\":null},\"errors\":[{\"message\":"
	                "\"no such thing\",\"locations\":[{\"line\":1,"
	                "\"column\":31}],\"path\":[\"Repo\",\"Broken\"]}]}");
	/* Inside a list of non-null items the whole list goes. */
	expect_response("{ Repo(name: \"busybox\") {\n Images { Vendor } } }",
	                NULL,
	                "{\"data\":{\"Repo\":{\"Images\":null}},\"errors\":[{"
	                "\"message\":\"Cannot return null for non-nullable "
	                "field \\\"Vendor\\\".\",\"locations\":[{\"line\":2,"
	                "\"column\":11}],\"path\":[\"Repo\",\"Images\",0,"
	                "\"Vendor\"]}]}");
	/* Up to the root, data is null. */
	expect_response("{ Whoami FailNonNull }", NULL,
	                "{\"data\":null,\"errors\":[{\"message\":\"no such "
	                "thing\",\"locations\":[{\"line\":1,\"column\":10}],"
	                "\"path\":[\"FailNonNull\"]}]}");
	/* A value of the wrong type, a server error's text withheld. */
	expect_response("{ WrongType FailIO }", NULL,
	                "{\"data\":{\"WrongType\":null,\"FailIO\":null},"
	                "\"errors\":[{\"message\":\"Int cannot represent the "
	                "value of field \\\"WrongType\\\".\",\"locations\":[{"
	                "\"line\":1,\"column\":3}],\"path\":[\"WrongType\"]},"
	                "{\"message\":\"internal error\",\"locations\":[{"
	                "\"line\":1,\"column\":13}],\"path\":[\"FailIO\"]}]}");
}

static void test_resolvers_get_the_request_context(void **state)
{
	json_t *r;

	(void)state;
	r = run_full("{ Whoami }", 10, NULL, NULL, "alice", NULL);
	expect_json(r, "{\"data\":{\"Whoami\":\"alice\"}}");
	json_decref(r);
}

static void test_messages_stay_valid_utf8(void **state)
{
	char ctx[512] = "x", *p = ctx + 1;
	const char *m;
	json_t *r;

	(void)state;
	/* The resolver's message is cut inside a two-byte character. */
	for (int i = 0; i < 150; i++)
		p += sprintf(p, "\xc3\xa9");
	r = run_full("{ Fail }", 8, NULL, NULL, ctx, NULL);
	m = json_string_value(json_object_get(
		json_array_get(json_object_get(r, "errors"), 0), "message"));
	assert_non_null(m);
	assert_int_equal(strncmp(m, "no such thing: x\xc3\xa9", 18), 0);
	assert_int_equal(strlen(m), 254);
	json_decref(r);
	/* An operation name that is not UTF-8 at all. */
	r = run_full("query A { Whoami }", 18, NULL, "\xff\xfe", NULL, NULL);
	expect_request_error(r, "Unknown operation named \"", 1, 1);
	json_decref(r);
}

static void test_operations_are_picked_by_name(void **state)
{
	json_t *r;
	const char *doc = "query A { a: Whoami } query B { b: Whoami } "
			  "mutation M { Add } subscription S { ...F } "
			  "fragment F on Query { Whoami }";

	(void)state;
	r = run_full(doc, strlen(doc), NULL, "B", NULL, NULL);
	expect_json(r, "{\"data\":{\"b\":\"anonymous\"}}");
	json_decref(r);
	r = run_full(doc, strlen(doc), NULL, NULL, NULL, NULL);
	expect_request_error(r, "Must provide operation name", 1, 23);
	json_decref(r);
	r = run_full(doc, strlen(doc), NULL, "C", NULL, NULL);
	expect_request_error(r, "Unknown operation named \"C\"", 1, 1);
	json_decref(r);
	r = run_full(doc, strlen(doc), NULL, "M", NULL, NULL);
	expect_request_error(r, "not mutations", 1, 45);
	json_decref(r);
	r = run_full(doc, strlen(doc), NULL, "S", NULL, NULL);
	expect_request_error(r, "not subscriptions", 1, 64);
	json_decref(r);
	expect_error("{ Whoami } query A { Whoami }", NULL,
	             "anonymous operation must be the only", 1, 1);
	expect_error("query A { Whoami } query A { Whoami }", NULL,
	             "only one operation named \"A\"", 1, 20);
}

static void test_invalid_documents_are_rejected(void **state)
{
	(void)state;
	expect_error("{ Nope }", NULL,
	             "Cannot query field \"Nope\" on type \"Query\"", 1, 3);
	expect_error("{ Repo(name: \"x\", nope: 1) { Name } }", NULL,
	             "Unknown argument \"nope\" on field \"Query.Repo\"", 1,
	             19);
	expect_error("{ Repo(name: \"x\", name: \"y\") { Name } }", NULL,
	             "only one argument named \"name\"", 1, 19);
	expect_error("{ Repo { Name } }", NULL,
	             "argument \"name\" of type \"String!\" is required", 1, 3);
	expect_error("{ Whoami { x } }", NULL, "must not have a selection", 1,
	             3);
	expect_error("{ Repo(name: \"x\") }", NULL,
	             "must have a selection of subfields", 1, 3);
	expect_error("{ ...F }", NULL, "Unknown fragment \"F\"", 1, 3);
	expect_error("{ ...F } fragment F on Query { ...G } fragment G on "
	             "Query { ...F }",
	             NULL, "Cannot spread fragment \"F\" within itself", 1, 61);
	expect_error("{ Whoami } fragment F on Query { Whoami }", NULL,
	             "Fragment \"F\" is never used", 1, 12);
	expect_error("{ ...F } fragment F on Query { Whoami } fragment F on "
	             "Query { Echo }",
	             NULL, "only one fragment named \"F\"", 1, 41);
	expect_error(
		"{ Repo(name: \"x\") { ...F } } fragment F on Image { Tag }",
		NULL, "cannot be spread here", 1, 21);
	expect_error("{ ... on Nope { Whoami } }", NULL,
	             "Unknown type \"Nope\"", 1, 3);
	expect_error("{ ...F } fragment F on SortCriteria { Whoami }", NULL,
	             "non composite type", 1, 10);
	expect_error("{ __typename { x } }", NULL, "takes no arguments", 1, 3);
}

static void test_conflicting_fields_of_one_key_are_field_errors(void **state)
{
	(void)state;
	expect_response("{ Repo(name: \"alpine\") { x: Name x: Size } }", NULL,
	                "{\"data\":{\"Repo\":{\"x\":null}},\"errors\":[{"
	                "\"message\":\"Fields \\\"x\\\" conflict because they "
	                "differ in field or arguments; use different "
	                "aliases.\",\"locations\":[{\"line\":1,\"column\":26}],"
	                "\"path\":[\"Repo\",\"x\"]}]}");
	/* The same field with other arguments cannot merge either. */
	expect_response(
		"{ Echo(i: 1) Echo(i: 2) e: Echo(p: {limit: 1, offset: 2}, "
		"l: [1]) e: Echo(l: [1], p: {offset: 2, limit: 1}) }",
		NULL,
		"{\"data\":{\"Echo\":null,\"e\":\"{\\\"d\\\":"
		"\\\"dflt\\\",\\\"l\\\":[1],\\\"p\\\":{\\\"limit"
		"\\\":1,\\\"offset\\\":2,\\\"sortBy\\\":\\\""
		"ALPHABETIC_ASC\\\"},\\\"r\\\":7}\"},\"errors\":[{"
		"\"message\":\"Fields \\\"Echo\\\" conflict because "
		"they differ in field or arguments; use different "
		"aliases.\",\"locations\":[{\"line\":1,\"column\":3}],"
		"\"path\":[\"Echo\"]}]}");
}

static void test_syntax_errors_have_locations(void **state)
{
	(void)state;
	expect_error("", NULL, "Expected definition, found <EOF>", 1, 1);
	expect_error("{ Repo(name: \"x) { Name } }", NULL,
	             "Unterminated string", 1, 28);
	expect_error("{ Echo(s: \"\"\"abc\n", NULL, "Unterminated string", 2,
	             1);
	expect_error("{\n  Echo(s: \"\\q\") }", NULL,
	             "Invalid character escape", 2, 12);
	expect_error("{ Echo(s: \"\\u12\") }", NULL, "Invalid Unicode escape",
	             1, 12);
	expect_error("{ Echo(s: \"\\ud800\") }", NULL, "lone surrogate", 1, 12);
	expect_error("{ Echo(s: \"\\u0000\") }", NULL, "\\u0000", 1, 12);
	expect_error("{ Echo(i: 0123) }", NULL, "unexpected digit after 0", 1,
	             12);
	expect_error("{ Echo(i: 12abc) }", NULL, "Invalid number", 1, 13);
	expect_error("{ Echo(f: 1.) }", NULL, "Invalid number", 1, 13);
	expect_error("{ Echo(f: 1.5.1) }", NULL, "Invalid number", 1, 14);
	expect_error("{ Echo(f: 1e) }", NULL, "Invalid number", 1, 13);
	expect_error("{ Echo }}", NULL, "Expected operation, found \"}\"", 1,
	             9);
	expect_error("{ Echo(s: $) }", NULL, "Expected Name", 1, 12);
	expect_error("{ Echo() }", NULL, "Expected Name, found \")\"", 1, 8);
	expect_error("{ }", NULL, "Expected Name, found \"}\"", 1, 3);
	expect_error("{ Echo ? }", NULL, "Unexpected character \"?\"", 1, 8);
	expect_error("{ Echo .. }", NULL, "Unexpected \".\"", 1, 8);
	expect_error("fragment on on Query { Echo }", NULL,
	             "Expected fragment name", 1, 10);
	expect_error("query Q($v: Int = $w) { Echo }", NULL,
	             "Expected constant value", 1, 19);
	expect_error("type Repo { Name: String }", NULL,
	             "Expected operation, found \"type\"", 1, 1);
	expect_error("{ Echo(s: \"caf\xc3\xa9\") ? }", NULL,
	             "Unexpected character", 1, 19);
}

static void test_invalid_source_text_is_rejected(void **state)
{
	json_t *r;

	(void)state;
	expect_error("{ Echo(s: \"\xff\") }", NULL, "Invalid UTF-8", 1, 12);
	expect_error("{ Echo(s: \"\xc0\xaf\") }", NULL, "Invalid UTF-8", 1, 12);
	expect_error("{ Echo(s: \"\xed\xa0\x80\") }", NULL, "Invalid UTF-8", 1,
	             12);
	expect_error("{ Echo(s: \"\xe2\x82\") }", NULL, "Invalid UTF-8", 1, 12);
	expect_error("{\n Echo(s: \"\x01\") }", NULL,
	             "Invalid character U+0001", 2, 11);
	r = run_full("{ Echo(s: \"a\0b\") }", 18, NULL, NULL, NULL, NULL);
	expect_request_error(r, "Invalid character U+0000", 1, 13);
	json_decref(r);
}

/* A string of @n copies of @s between @pre and @post. */
static char *repeat(const char *pre, const char *s, size_t n, const char *mid,
                    const char *post)
{
	size_t len = strlen(pre) + n * strlen(s) + strlen(mid) +
	             n * strlen(post) + 1;
	char *buf = malloc(len), *p = buf;

	assert_non_null(buf);
	p += sprintf(p, "%s", pre);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s", s);
	p += sprintf(p, "%s", mid);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s", post);
	return buf;
}

static void test_hostile_documents_get_errors(void **state)
{
	struct gql_limits lim = {.max_bytes = 1 << 20};
	char *q, *p;
	json_t *r;

	(void)state;
	/* Deeply nested selections, values and types: no stack overflow. */
	q = repeat("", "{Repo(name:\"x\")", 20000, "", "}");
	r = run_full(q, strlen(q), NULL, NULL, NULL, &lim);
	expect_request_error(r, "nested too deeply", 1, 0);
	json_decref(r);
	free(q);
	q = repeat("{Echo(l:", "[", 20000, "1", "]");
	r = run_full(q, strlen(q), NULL, NULL, NULL, &lim);
	expect_request_error(r, "nested too deeply", 0, 0);
	json_decref(r);
	free(q);
	q = repeat("query Q($v:", "[", 20000, "Int", "]");
	r = run_full(q, strlen(q), NULL, NULL, NULL, &lim);
	expect_request_error(r, "nested too deeply", 0, 0);
	json_decref(r);
	free(q);
	/* Alias fan-out. */
	q = malloc(5000 * 16);
	assert_non_null(q);
	p = q + sprintf(q, "{");
	for (int i = 0; i < 5000; i++)
		p += sprintf(p, "a%d:Whoami ", i);
	sprintf(p, "}");
	r = run_full(q, strlen(q), NULL, NULL, NULL, &lim);
	expect_request_error(r, "too many selections", 0, 0);
	json_decref(r);
	free(q);
	/* A long chain of fragments, each spreading the next. */
	q = malloc(64 * 40);
	assert_non_null(q);
	p = q + sprintf(q, "{ ...F0 }");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, " fragment F%d on Query { ...F%d }", i, i + 1);
	sprintf(p, " fragment F40 on Query { Whoami }");
	expect_error(q, NULL, "Fragments are nested too deeply", 0, 0);
	free(q);
	/* Over the size limit. */
	q = repeat("{", " ", 70000, "Whoami}", "");
	expect_error(q, NULL, "too large", 1, 1);
	free(q);
}

static void test_fan_out_through_fragments_runs_out_of_work(void **state)
{
	struct gql_limits lim = {.max_work = 20000, .max_depth = 64};
	char doc[4096], *p = doc;
	json_t *r;
	const char *m;

	(void)state;
	/* F0 asks F1 under two keys, F1 asks F2 under two, ...: 2^24. */
	p += sprintf(p, "{ Repo(name: \"alpine\") { ...F0 } }");
	for (int i = 0; i < 24; i++)
		p += sprintf(p,
		             " fragment F%d on Repo { a: Self { ...F%d } b: "
		             "Self { ...F%d } }",
		             i, i + 1, i + 1);
	p += sprintf(p, " fragment F24 on Repo { Name }");
	r = run_full(doc, (size_t)(p - doc), NULL, NULL, NULL, &lim);
	assert_true(json_is_null(json_object_get(r, "data")));
	m = json_string_value(json_object_get(
		json_array_get(json_object_get(r, "errors"), 0), "message"));
	assert_non_null(m);
	assert_non_null(strstr(m, "too much work"));
	json_decref(r);
	/* A big list counts as well. */
	r = run_full("{ a: Numbers(n: 30000) }", 24, NULL, NULL, NULL, &lim);
	assert_true(json_is_null(json_object_get(r, "data")));
	m = json_string_value(json_object_get(
		json_array_get(json_object_get(r, "errors"), 0), "message"));
	assert_non_null(m);
	assert_non_null(strstr(m, "too much work"));
	json_decref(r);
	/* Within the budget it all runs. */
	r = run_full("{ a: Numbers(n: 3) }", 20, NULL, NULL, NULL, &lim);
	expect_json(r, "{\"data\":{\"a\":[0,1,2]}}");
	json_decref(r);
}

/* Aliases of a root field: each would run its resolver's whole walk. */
static void test_root_fields_are_bounded(void **state)
{
	char q[40 * 16], *p;
	json_t *r;

	(void)state;
	p = q + sprintf(q, "{__typename ");
	for (int i = 0; i < 32; i++)
		p += sprintf(p, "a%d:Whoami ", i);
	sprintf(p, "}");
	r = run_full(q, strlen(q), NULL, NULL, NULL, NULL);
	assert_non_null(json_object_get(json_object_get(r, "data"), "a31"));
	assert_null(json_object_get(r, "errors"));
	json_decref(r);
	sprintf(p, "a32:Whoami}");
	r = run_full(q, strlen(q), NULL, NULL, NULL, NULL);
	assert_true(json_is_null(json_object_get(r, "data")));
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r, "errors"), 0),
			"message")),
		"Query asks too many root fields (more than 32).");
	json_decref(r);
}

static void test_introspection_answers_generic_tools(void **state)
{
	(void)state;
	expect_response(
		"{ __schema { queryType { name } mutationType { name } "
		"directives { name locations args { name type { kind ofType { "
		"name } } } } } }",
		NULL,
		"{\"data\":{\"__schema\":{\"queryType\":{\"name\":\"Query\"},"
		"\"mutationType\":null,\"directives\":[{\"name\":\"include\","
		"\"locations\":[\"FIELD\",\"FRAGMENT_SPREAD\","
		"\"INLINE_FRAGMENT\"],\"args\":[{\"name\":\"if\",\"type\":{"
		"\"kind\":\"NON_NULL\",\"ofType\":{\"name\":\"Boolean\"}}}]},"
		"{\"name\":\"skip\",\"locations\":[\"FIELD\","
		"\"FRAGMENT_SPREAD\",\"INLINE_FRAGMENT\"],\"args\":[{\"name\":"
		"\"if\",\"type\":{\"kind\":\"NON_NULL\",\"ofType\":{\"name\":"
		"\"Boolean\"}}}]}]}}}");
	expect_response(
		"{ __type(name: \"Repo\") { kind name description fields { "
		"name type { kind name ofType { kind name ofType { kind name } "
		"} } } } }",
		NULL,
		"{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"name\":\"Repo\","
		"\"description\":\"A repository.\\nWith images.\",\"fields\":["
		"{\"name\":\"Name\",\"type\":{\"kind\":\"NON_NULL\",\"name\":"
		"null,\"ofType\":{\"kind\":\"SCALAR\",\"name\":\"String\","
		"\"ofType\":null}}},{\"name\":\"Size\",\"type\":{\"kind\":"
		"\"SCALAR\",\"name\":\"Int\",\"ofType\":null}},{\"name\":"
		"\"Starred\",\"type\":{\"kind\":\"SCALAR\",\"name\":"
		"\"Boolean\",\"ofType\":null}},{\"name\":\"Images\",\"type\":"
		"{\"kind\":\"LIST\",\"name\":null,\"ofType\":{\"kind\":"
		"\"NON_NULL\",\"name\":null,\"ofType\":{\"kind\":\"OBJECT\","
		"\"name\":\"Image\"}}}},{\"name\":\"Broken\",\"type\":{"
		"\"kind\":\"NON_NULL\",\"name\":null,\"ofType\":{\"kind\":"
		"\"OBJECT\",\"name\":\"Image\",\"ofType\":null}}},{\"name\":"
		"\"Missing\",\"type\":{\"kind\":\"NON_NULL\",\"name\":null,"
		"\"ofType\":{\"kind\":\"SCALAR\",\"name\":\"String\","
		"\"ofType\":null}}},{\"name\":\"Self\",\"type\":{"
		"\"kind\":\"OBJECT\",\"name\":\"Repo\",\"ofType\":null}}]}}}");
	expect_response(
		"{ e: __type(name: \"SortCriteria\") { kind enumValues { name "
		"isDeprecated } fields { name } inputFields { name } } "
		"i: __type(name: \"PageInput\") { kind inputFields { name "
		"defaultValue description type { name } } enumValues { name } "
		"} q: __type(name: \"Query\") { fields { name args { name "
		"defaultValue } } } n: __type(name: \"Nope\") { name } }",
		NULL,
		"{\"data\":{\"e\":{\"kind\":\"ENUM\",\"enumValues\":[{\"name\":"
		"\"RELEVANCE\",\"isDeprecated\":false},{\"name\":"
		"\"UPDATE_TIME\",\"isDeprecated\":false},{\"name\":"
		"\"ALPHABETIC_ASC\",\"isDeprecated\":false},{\"name\":"
		"\"ALPHABETIC_DSC\",\"isDeprecated\":false}],\"fields\":null,"
		"\"inputFields\":null},\"i\":{\"kind\":\"INPUT_OBJECT\","
		"\"inputFields\":[{\"name\":\"limit\",\"defaultValue\":null,"
		"\"description\":\"how many at most\",\"type\":{\"name\":"
		"\"Int\"}},{\"name\":\"offset\",\"defaultValue\":\"0\","
		"\"description\":null,\"type\":{\"name\":\"Int\"}},{\"name\":"
		"\"sortBy\",\"defaultValue\":\"ALPHABETIC_ASC\","
		"\"description\":null,\"type\":{\"name\":\"SortCriteria\"}}],"
		"\"enumValues\":null},\"q\":{\"fields\":[{\"name\":"
		"\"RepoList\",\"args\":[{\"name\":\"requestedPage\","
		"\"defaultValue\":\"{}\"}]},{\"name\":\"Repo\",\"args\":[{"
		"\"name\":\"name\",\"defaultValue\":null}]},{\"name\":\"Echo\","
		"\"args\":[{\"name\":\"i\",\"defaultValue\":null},{\"name\":"
		"\"f\",\"defaultValue\":null},{\"name\":\"s\","
		"\"defaultValue\":null},{\"name\":\"b\",\"defaultValue\":null},"
		"{\"name\":\"id\",\"defaultValue\":null},{\"name\":\"e\","
		"\"defaultValue\":null},{\"name\":\"l\",\"defaultValue\":null},"
		"{\"name\":\"ll\",\"defaultValue\":null},{\"name\":\"p\","
		"\"defaultValue\":null},{\"name\":\"fi\",\"defaultValue\":"
		"null},{\"name\":\"t\",\"defaultValue\":null},{\"name\":\"d\","
		"\"defaultValue\":\"\\\"dflt\\\"\"},{\"name\":\"r\","
		"\"defaultValue\":\"7\"}]},{\"name\":\"Fail\",\"args\":[]},{"
		"\"name\":\"FailIO\",\"args\":[]},{\"name\":\"FailNonNull\","
		"\"args\":[]},{\"name\":\"Whoami\",\"args\":[]},{\"name\":"
		"\"Numbers\",\"args\":[{\"name\":\"n\",\"defaultValue\":null}]"
		"},{\"name\":\"WrongType\",\"args\":[]}]},\"n\":null}}");
}

static void test_introspection_lists_every_type(void **state)
{
	json_t *r, *types;
	const char *want[] = {
		"Int",         "Float",       "String",
		"Boolean",     "ID",          "Query",
		"Repo",        "PageInput",   "SortCriteria",
		"Time",        "__Schema",    "__Type",
		"__TypeKind",  "__Field",     "__InputValue",
		"__EnumValue", "__Directive", "__DirectiveLocation"};
	size_t i, j;

	(void)state;
	r = run("{ __schema { types { name kind } } }", NULL);
	types = json_object_get(
		json_object_get(json_object_get(r, "data"), "__schema"),
		"types");
	assert_int_equal(json_array_size(types), 22);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (j = 0; j < json_array_size(types); j++)
			if (!strcmp(json_string_value(json_object_get(
					    json_array_get(types, j), "name")),
			            want[i]))
				break;
		if (j == json_array_size(types))
			fail_msg("type %s missing", want[i]);
	}
	json_decref(r);
}

static void test_sdl_prints_the_schema(void **state)
{
	struct err err = ERR_INIT;
	char *sdl;

	(void)state;
	sdl = gql_schema_sdl(schema, &err);
	assert_non_null(sdl);
	assert_non_null(strstr(
		sdl, "type Query {\n  \"\"\"\n  Repositories, a page at a "
		     "time.\n  \"\"\"\n  RepoList(requestedPage: PageInput = "
		     "{}): PaginatedRepos!\n  Repo(\n    \"\"\"\n    the "
		     "repository\n    \"\"\"\n    name: String!\n  ): "
		     "Repo\n  Echo(i: Int, f: Float,"));
	assert_non_null(strstr(sdl, "\"\"\"\nA repository.\nWith images.\n"
	                            "\"\"\"\ntype Repo {\n  Name: String!\n"));
	assert_non_null(strstr(sdl, "input PageInput {\n  \"\"\"\n  how many "
	                            "at most\n  \"\"\"\n  limit: Int\n  "
	                            "offset: Int = 0\n  sortBy: SortCriteria "
	                            "= ALPHABETIC_ASC\n}\n"));
	assert_non_null(strstr(sdl, "enum SortCriteria {\n  RELEVANCE\n"));
	assert_non_null(strstr(sdl, "scalar Time\n"));
	assert_null(strstr(sdl, "__"));
	assert_null(strstr(sdl, "scalar Int"));
	free(sdl);
}

static void test_bad_schema_tables_are_refused(void **state)
{
	static const struct gql_field_def bad_type[] = {
		{"x", "Nope", NULL, NULL, NULL},
		{NULL, NULL, NULL, NULL, NULL},
	};
	static const struct gql_arg_def bad_default_args[] = {
		{"n", "Int", "\"seven\"", NULL},
		{NULL, NULL, NULL, NULL},
	};
	static const struct gql_field_def bad_default[] = {
		{"x", "Int", bad_default_args, NULL, NULL},
		{NULL, NULL, NULL, NULL, NULL},
	};
	static const struct gql_arg_def output_args[] = {
		{"q", "Q", NULL, NULL},
		{NULL, NULL, NULL, NULL},
	};
	static const struct gql_field_def output_arg[] = {
		{"x", "Int", output_args, NULL, NULL},
		{NULL, NULL, NULL, NULL, NULL},
	};
	static const struct gql_field_def bad_syntax[] = {
		{"x", "[Int", NULL, NULL, NULL},
		{NULL, NULL, NULL, NULL, NULL},
	};
	const struct gql_field_def *cases[] = {bad_type, bad_default,
	                                       output_arg, bad_syntax};
	const char *msgs[] = {"unknown type 'Nope'", "Expected type \"Int\"",
	                      "'Q' is not an input type", "Expected \"]\""};
	struct gql_type_def t[] = {
		{GQL_OBJECT, "Q", NULL, NULL, NULL, NULL, NULL},
		{0, NULL, NULL, NULL, NULL, NULL, NULL},
	};
	struct gql_type_def dup[] = {
		{GQL_OBJECT, "Q", NULL, bad_type, NULL, NULL, NULL},
		{GQL_SCALAR, "String", NULL, NULL, NULL, NULL, NULL},
		{0, NULL, NULL, NULL, NULL, NULL, NULL},
	};
	struct err err;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		err = ERR_INIT;
		t[0].fields = cases[i];
		assert_null(gql_schema_new(t, "Q", &err));
		assert_int_equal(err.code, ERR_INVALID);
		if (!strstr(err.msg, msgs[i]))
			fail_msg("case %zu: %s", i, err.msg);
	}
	err = ERR_INIT;
	assert_null(gql_schema_new(dup, "Q", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "duplicate type 'String'"));
	err = ERR_INIT;
	t[0].fields = query_fields;
	assert_null(gql_schema_new(toy_types, "Repox", &err));
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_variables_must_be_an_object(void **state)
{
	struct gql_request req = {.query = "{ Whoami }", .len = 10};
	struct err err = ERR_INIT;
	json_t *r;

	(void)state;
	req.variables = json_array();
	r = gql_execute(schema, &req, NULL, &err);
	expect_request_error(r, "Variables must be an object", 1, 1);
	json_decref(r);
	json_decref(req.variables);
}

/*
 * graphql-core (python3-graphql-core), the reference implementation's
 * port, checks our SDL, then runs its own introspection query through
 * our executor and rebuilds the schema from the answer: both must print
 * the same, and the test queries must validate against it.
 */
static const char core_script[] =
	"import json, sys\n"
	"from graphql import (build_schema, build_client_schema, parse,\n"
	"    print_schema, validate, get_introspection_query)\n"
	"d = sys.argv[1]\n"
	"if sys.argv[2] == 'query':\n"
	"    open(d + '/q', 'w').write(get_introspection_query(True))\n"
	"    sys.exit(0)\n"
	"sdl = build_schema(open(d + '/sdl').read())\n"
	"got = json.load(open(d + '/intro'))\n"
	"assert 'errors' not in got, got['errors']\n"
	"client = build_client_schema(got['data'])\n"
	"a, b = print_schema(sdl), print_schema(client)\n"
	"assert a == b, a + '\\n----\\n' + b\n"
	"for q in open(d + '/queries').read().split('\\n\\n'):\n"
	"    errs = validate(sdl, parse(q))\n"
	"    assert not errs, (q, errs)\n";

static char core_dir[64];

static void core_write(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", core_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *core_read(const char *name)
{
	char path[128], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", core_dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void core_run(const char *mode)
{
	char cmd[256];

	core_write("check.py", core_script);
	snprintf(cmd, sizeof(cmd), "python3 %s/check.py %s %s", core_dir,
	         core_dir, mode);
	assert_int_equal(system(cmd), 0);
}

static void test_graphql_core_accepts_sdl_and_introspection(void **state)
{
	const char *names[] = {"check.py", "q", "sdl", "intro", "queries"};
	struct err err = ERR_INIT;
	char *sdl, *q, *intro, path[128];
	json_t *r;

	(void)state;
	snprintf(core_dir, sizeof(core_dir), "/tmp/dray-test-graphql.XXXXXX");
	assert_non_null(mkdtemp(core_dir));
	core_run("query");
	q = core_read("q");
	r = run(q, NULL);
	intro = json_dumps(r, JSON_INDENT(1));
	assert_non_null(intro);
	core_write("intro", intro);
	sdl = gql_schema_sdl(schema, &err);
	assert_non_null(sdl);
	core_write("sdl", sdl);
	core_write("queries",
	           "query P($p: PageInput) { RepoList(requestedPage: $p) { "
	           "Page { TotalCount } Results { Name ...R } } }\n"
	           "fragment R on Repo { Images { Tag Digest } Self { Name } }"
	           "\n\n{ Echo(i: 1, f: 2.5, l: [1], e: RELEVANCE, p: {limit: "
	           "1}, t: \"T\", fi: {Names: [\"a\"]}) Whoami }");
	core_run("check");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", core_dir, names[i]);
		unlink(path);
	}
	rmdir(core_dir);
	free(sdl);
	free(intro);
	free(q);
	json_decref(r);
}

/* One thread's share of the concurrent test: the same answer each time. */
static void *run_many(void *arg)
{
	static const char q[] = "{ Echo(fi: {Names: \"a\"}) Repo(name: "
				"\"nginx\") { Name Images { Tag } } "
				"__type(name: \"PageInput\") { inputFields { "
				"name defaultValue } } }";
	struct gql_request req = {.query = q, .len = sizeof(q) - 1};
	json_t *first = NULL, *r;
	struct err err;
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 200; i++) {
		err = ERR_INIT;
		r = gql_execute(schema, &req, NULL, &err);
		if (!r || json_object_get(r, "errors") ||
		    (first && !json_equal(first, r)))
			bad++;
		if (!first)
			first = r;
		else
			json_decref(r);
	}
	json_decref(first);
	return (void *)bad;
}

static void test_one_schema_serves_many_threads(void **state)
{
	pthread_t t[4];
	void *bad;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, run_many, NULL),
		                 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

/* jansson's allocator failing on the nth call (curl's torture mode). */
static long countdown = -1;

static void *failing_malloc(size_t n)
{
	if (countdown >= 0 && countdown-- == 0)
		return NULL;
	return malloc(n);
}

static void test_out_of_memory_fails_cleanly(void **state)
{
	const char *q = "query Q($p: PageInput) { RepoList(requestedPage: $p) "
			"{ Page { TotalCount } Results { Name Images { Tag } "
			"} } __type(name: \"Repo\") { fields { name type { "
			"name } } } }";
	struct gql_request req = {.query = q, .len = strlen(q)};
	struct err err;
	json_t *r = NULL;
	bool done;
	long n;

	(void)state;
	req.variables = json_loads("{\"p\":{\"limit\":2}}", 0, NULL);
	json_set_alloc_funcs(failing_malloc, free);
	for (n = 0; n < 100000; n++) {
		err = ERR_INIT;
		countdown = n;
		r = gql_execute(schema, &req, NULL, &err);
		done = countdown >= 0; /* no allocation was failed */
		countdown = -1;
		if (done)
			break;
		if (!r)
			assert_int_equal(err.code, ERR_NOMEM);
		json_decref(r);
		r = NULL;
	}
	json_set_alloc_funcs(malloc, free);
	assert_non_null(r);
	assert_null(json_object_get(r, "errors"));
	assert_true(n > 10);
	json_decref(r);
	json_decref(req.variables);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shorthand_query_with_aliases_and_lists),
		cmocka_unit_test(test_response_keys_keep_query_order),
		cmocka_unit_test(test_list_resolver_answers_pages),
		cmocka_unit_test(test_arguments_of_every_value_kind),
		cmocka_unit_test(test_block_strings_are_dedented),
		cmocka_unit_test(test_comments_commas_and_bom_are_ignored),
		cmocka_unit_test(test_variables_are_coerced_with_defaults),
		cmocka_unit_test(test_bad_variables_are_request_errors),
		cmocka_unit_test(test_literals_of_the_wrong_type_are_errors),
		cmocka_unit_test(test_fragments_and_merging),
		cmocka_unit_test(test_skip_and_include),
		cmocka_unit_test(test_typename),
		cmocka_unit_test(
			test_field_errors_have_paths_and_propagate_nulls),
		cmocka_unit_test(test_resolvers_get_the_request_context),
		cmocka_unit_test(test_operations_are_picked_by_name),
		cmocka_unit_test(test_messages_stay_valid_utf8),
		cmocka_unit_test(test_invalid_documents_are_rejected),
		cmocka_unit_test(
			test_conflicting_fields_of_one_key_are_field_errors),
		cmocka_unit_test(test_syntax_errors_have_locations),
		cmocka_unit_test(test_invalid_source_text_is_rejected),
		cmocka_unit_test(test_hostile_documents_get_errors),
		cmocka_unit_test(
			test_fan_out_through_fragments_runs_out_of_work),
		cmocka_unit_test(test_root_fields_are_bounded),
		cmocka_unit_test(test_introspection_answers_generic_tools),
		cmocka_unit_test(test_introspection_lists_every_type),
		cmocka_unit_test(test_sdl_prints_the_schema),
		cmocka_unit_test(
			test_graphql_core_accepts_sdl_and_introspection),
		cmocka_unit_test(test_bad_schema_tables_are_refused),
		cmocka_unit_test(test_variables_must_be_an_object),
		cmocka_unit_test(test_one_schema_serves_many_threads),
		cmocka_unit_test(test_out_of_memory_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
