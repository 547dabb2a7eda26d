/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lint.c - extensions.lint: its configuration (zot's schema) and the
 * check every manifest commit makes (store_lint()), as zot does it: the
 * manifest's annotations, then its config's labels; indexes pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"
#include "daemon/config.h"
#include "daemon/live.h"

#define NAME "lint.yaml"

static int setup_lint(void **state)
{
	return test_fixture_setup(state, "lint");
}

#define TL(fn) cmocka_unit_test_setup_teardown(fn, setup_lint, teardown)

static struct cfg *parse(const char *text, struct err *err)
{
	return cfg_parse(text, strlen(text), NAME, err);
}

static void test_config_reads_zot_schema(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions:\n"
	            "  lint:\n"
	            "    mandatoryAnnotations: [a.b, c]\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	/* As zot: naming the section turns lint on. */
	assert_true(cfg->extensions.lint_enable);
	assert_int_equal(cfg->extensions.lint_annotations.n, 2);
	assert_string_equal(cfg->extensions.lint_annotations.v[0], "a.b");
	assert_string_equal(cfg->extensions.lint_annotations.v[1], "c");
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);

	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions: {lint: {enable: false, "
	            "mandatoryAnnotations: [x]}}\n",
	            &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.lint_enable);
	cfg_free(cfg);

	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.lint_enable);
	assert_int_equal(cfg->extensions.lint_annotations.n, 0);
	cfg_free(cfg);
}

static void test_config_rejects_bad_values(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_null(parse("storage: {rootDirectory: /d}\n"
	                  "extensions: {lint: {mandatoryAnnotations: x}}\n",
	                  &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(
		strstr(err.msg, "extensions.lint.mandatoryAnnotations"));
	assert_non_null(strstr(err.msg, "expected a list of strings"));
	err = ERR_INIT;
	assert_null(parse("storage: {rootDirectory: /d}\n"
	                  "extensions: {lint: {bogus: 1}}\n",
	                  &err));
	assert_non_null(strstr(err.msg, "extensions.lint.bogus: unknown key"));
}

/* Put @names (@n of them) in force as lint's mandatory annotations. */
static void set_lint(struct test_fixture *f, char *const *names, size_t n)
{
	struct store_rules r = {NULL, names, n};
	struct err err = ERR_INIT;
	struct live_ref *v = store_rules_new(&r, NULL, &err);

	assert_non_null(v);
	store_rules_publish(f->st, v);
}

static char *const want[] = {"org.opencontainers.image.title", "team",
                             "org.opencontainers.image.licenses"};

static void test_missing_annotations_are_named(void **state)
{
	struct test_fixture *f = *state;
	struct image im;
	struct err err = ERR_INIT;

	set_lint(f, want, 3);
	make_image(
		f, "app", "layer",
		",\"annotations\":{\"org.opencontainers.image.title\":\"t\"}",
		&im);
	assert_put_fails(f, "app", "v1", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);
	assert_int_equal(store_lint(f->st, "app", im.body, im.len, &err), -1);
	assert_string_equal(err.msg,
	                    "manifest lacks mandatory annotations: team, "
	                    "org.opencontainers.image.licenses "
	                    "(extensions.lint)");
	/* Nothing of it was published. */
	err = ERR_INIT;
	assert_int_equal(
		store_manifest_get(f->st, "app", "v1", NULL, NULL, &err), -1);
}

static void test_config_labels_count(void **state)
{
	struct test_fixture *f = *state;
	struct digest cd;
	char cds[DIGEST_STR_MAX], body[1024];
	const char *cfg = "{\"config\":{\"Labels\":{\"team\":\"x\","
			  "\"org.opencontainers.image.licenses\":\"MIT\"}}}";
	int n;

	set_lint(f, want, 3);
	/* The title annotated; a config that labels the other two. */
	cd = push_blob(f, "app", cfg);
	digest_format(&cd, cds);
	n = snprintf(body, sizeof(body),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	             "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[],"
	             "\"annotations\":{\"org.opencontainers.image.title\":"
	             "\"t\"}}",
	             cds, strlen(cfg));
	assert_true(n > 0 && (size_t)n < sizeof(body));
	put_ok(f, "app", "v1", MT_OCI_MANIFEST, body, (size_t)n,
	       &(struct manifest_put_result){0});
}

static void test_all_in_manifest_passes_and_indexes_pass(void **state)
{
	struct test_fixture *f = *state;
	struct image im;
	char ds[DIGEST_STR_MAX], idx[1024];
	int n;

	set_lint(f, want, 3);
	make_image(f, "app", "layer",
	           ",\"annotations\":{\"org.opencontainers.image.title\":\"t\","
	           "\"team\":\"\",\"org.opencontainers.image.licenses\":\"\"}",
	           &im);
	put_image(f, "app", "v1", &im);
	/* An index carries none of them: zot lints image manifests only. */
	digest_format(&im.digest, ds);
	n = snprintf(idx, sizeof(idx),
	             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	             "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
	             "\",\"digest\":\"%s\",\"size\":%zu}]}",
	             ds, im.len);
	put_ok(f, "app", "multi", MT_OCI_INDEX, idx, (size_t)n,
	       &(struct manifest_put_result){0});
}

static void test_no_rules_no_check_and_rules_swap(void **state)
{
	struct test_fixture *f = *state;
	struct image im;

	make_image(f, "app", "layer", "", &im);
	put_image(f, "app", "v1", &im); /* no lint configured */
	set_lint(f, want, 1);
	assert_put_fails(f, "app", "v2", MT_OCI_MANIFEST, im.body, im.len,
	                 ERR_INVALID, OCI_MANIFEST_INVALID);
	set_lint(f, want, 0); /* lint off again (SIGHUP) */
	put_image(f, "app", "v2", &im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_reads_zot_schema),
		cmocka_unit_test(test_config_rejects_bad_values),
		TL(test_missing_annotations_are_named),
		TL(test_config_labels_count),
		TL(test_all_in_manifest_passes_and_indexes_pass),
		TL(test_no_rules_no_check_and_rules_swap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
