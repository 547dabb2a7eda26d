/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ui.c - the web UI's built-in files (http/ui.c, ui/embed.cmake):
 * the table the build wrote, what the CSP needs of the files, and the
 * routes with extensions.ui on and off.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/http_int.h"

/* @a's bytes as a string (the generator ends each array with a NUL). */
static const char *text(const struct ui_asset *a)
{
	assert_int_equal(a->data[a->len], 0);
	return (const char *)a->data;
}

static void test_find(void **state)
{
	const struct ui_asset *a;

	(void)state;
	a = ui_find("/");
	assert_non_null(a);
	assert_string_equal(a->path, "/ui/index.html");
	assert_string_equal(a->ctype, "text/html; charset=utf-8");
	assert_ptr_equal(ui_find("/ui/index.html"), a);
	a = ui_find("/ui/app.js");
	assert_non_null(a);
	assert_string_equal(a->ctype, "text/javascript; charset=utf-8");
	assert_non_null(ui_find("/ui/app.css"));
	assert_null(ui_find("/ui/"));
	assert_null(ui_find("/ui"));
	assert_null(ui_find("/index.html"));
	assert_null(ui_find("/ui/app.js/"));
	assert_null(ui_find("/ui/../ui/app.js"));
	assert_null(ui_find("/v2/"));
}

/* Every file: a path under /ui/, a type, a quoted ETag of its own. */
static void test_table(void **state)
{
	(void)state;
	assert_true(ui_n_assets >= 4);
	for (size_t i = 0; i < ui_n_assets; i++) {
		const struct ui_asset *a = &ui_assets[i];

		assert_int_equal(strncmp(a->path, "/ui/", 4), 0);
		assert_true(a->len > 0);
		(void)text(a);
		assert_int_equal(strlen(a->etag), 18);
		assert_true(a->etag[0] == '"' && a->etag[17] == '"');
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(a->etag, ui_assets[j].etag);
	}
}

/*
 * index.html: every /ui/ file it names is built in, and nothing in it
 * is what the CSP refuses (inline scripts, style attributes or
 * elements, anything from another origin).
 */
static void test_index_refs(void **state)
{
	const char *html = text(ui_find("/"));
	const char *p = html;
	int refs = 0;

	(void)state;
	while ((p = strstr(p, "\"/ui/"))) {
		char path[128];
		size_t n = strcspn(p + 1, "\"");

		assert_true(n < sizeof(path));
		memcpy(path, p + 1, n);
		path[n] = '\0';
		if (!ui_find(path))
			fail_msg("index.html names %s, which is not built in",
			         path);
		refs++;
		p += n + 1;
	}
	assert_true(refs >= 3); /* the stylesheet, the script, the icon */
	assert_null(strstr(html, "<script>"));
	assert_null(strstr(html, "style="));
	assert_null(strstr(html, "<style"));
	assert_null(strstr(html, "http://"));
	assert_null(strstr(html, "https://"));
}

/* The script builds the DOM from text only: no HTML from the registry. */
static void test_script_safe(void **state)
{
	const char *js = text(ui_find("/ui/app.js"));

	(void)state;
	assert_null(strstr(js, "innerHTML"));
	assert_null(strstr(js, "outerHTML"));
	assert_null(strstr(js, "insertAdjacentHTML"));
	assert_null(strstr(js, "document.write"));
	assert_null(strstr(js, "eval("));
}

static int route(bool ui, const char *url, enum route_kind *kind)
{
	struct http_server srv = {.opts = {.ui = ui}};
	struct http_req req = {.srv = &srv, .url = url};
	struct err err = ERR_INIT;
	int rc = route_parse(&req, &err);

	*kind = req.kind;
	if (rc < 0)
		assert_int_equal(err.code, ERR_NOT_FOUND);
	return rc;
}

static void test_routes(void **state)
{
	enum route_kind kind;

	(void)state;
	/* Off (the default): / and the files are no endpoints. */
	assert_int_equal(route(false, "/", &kind), -1);
	assert_int_equal(route(false, "/ui/app.js", &kind), -1);
	/* On: the files, and nothing else that was not there before. */
	assert_int_equal(route(true, "/", &kind), 0);
	assert_int_equal(kind, RT_UI);
	assert_int_equal(route(true, "/ui/app.css", &kind), 0);
	assert_int_equal(kind, RT_UI);
	assert_int_equal(route(true, "/ui/nothing.js", &kind), -1);
	assert_int_equal(route(true, "/v2/", &kind), 0);
	assert_int_equal(kind, RT_BASE);
	assert_int_equal(route(true, "/v2/_catalog", &kind), 0);
	assert_int_equal(kind, RT_CATALOG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_index_refs),
		cmocka_unit_test(test_script_safe),
		cmocka_unit_test(test_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
