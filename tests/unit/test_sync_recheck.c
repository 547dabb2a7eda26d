/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sync_recheck.c - re-checking mirrored tags: tagRecheckInterval
 * as cfg_parse() reads it (default 5m, 0: never), and which tags
 * sync_recheck_due() calls due: the first onDemand registry mapping the
 * repository decides, a tag is due once per interval, and the check
 * times kept are bounded (past SYNC_CHECKS_MAX the oldest is forgotten).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/config.h"
#include "sync/sync.h"

static struct cfg *parse(const char *text)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = cfg_parse(text, strlen(text), "t.yaml", &err);

	if (!cfg)
		fail_msg("refused: %s", err.msg);
	return cfg;
}

static const char conf[] =
	"storage: {rootDirectory: /d}\n"
	"extensions:\n"
	"  sync:\n"
	"    registries:\n"
	"      - urls: [\"http://127.0.0.1:1\"]\n"
	"        onDemand: true\n"
	"        content: [{prefix: \"dflt/**\"}]\n"
	"      - urls: [\"http://127.0.0.1:1\"]\n"
	"        onDemand: true\n"
	"        tagRecheckInterval: 1h\n"
	"        content: [{prefix: \"hour/**\", tags: {regex: \"^v\"}}]\n"
	"      - urls: [\"http://127.0.0.1:1\"]\n"
	"        onDemand: true\n"
	"        tagRecheckInterval: 0s\n"
	"        content: [{prefix: \"never/**\"}]\n"
	"      - urls: [\"http://127.0.0.1:1\"]\n"
	"        tagRecheckInterval: 1h\n"
	"        content: [{prefix: \"periodic/**\"}]\n";

static void test_interval_is_read_with_its_default(void **state)
{
	struct cfg *cfg = parse(conf);
	const struct sync_registry *r = cfg->extensions.sync.registries;

	(void)state;
	assert_int_equal(r[0].tag_recheck_ms, 5 * 60 * 1000);
	assert_int_equal(r[1].tag_recheck_ms, 3600 * 1000);
	assert_int_equal(r[2].tag_recheck_ms, 0);
	cfg_free(cfg);
}

static void test_bad_interval_is_refused(void **state)
{
	static const char bad[] = "storage: {rootDirectory: /d}\n"
				  "extensions:\n"
				  "  sync:\n"
				  "    registries:\n"
				  "      - urls: [\"http://h\"]\n"
				  "        tagRecheckInterval: soon\n";
	struct err err = ERR_INIT;

	(void)state;
	assert_null(cfg_parse(bad, strlen(bad), "t.yaml", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "tagRecheckInterval"));
}

static void test_a_tag_is_due_once_per_interval(void **state)
{
	struct cfg *cfg = parse(conf);
	struct err err = ERR_INIT;
	struct sync *s = sync_new(&cfg->extensions.sync, NULL, &err);

	(void)state;
	assert_non_null(s);
	assert_true(sync_recheck_due(s, "hour/app", "v1"));
	assert_false(sync_recheck_due(s, "hour/app", "v1"));
	assert_true(sync_recheck_due(s, "hour/app", "v2"));
	assert_true(sync_recheck_due(s, "dflt/app", "v1"));
	assert_false(sync_recheck_due(s, "dflt/app", "v1"));
	/* a digest, a tag the filter leaves out, interval 0, no onDemand,
	 * a repository no registry maps: never */
	assert_false(sync_recheck_due(s, "hour/app",
	                              "sha256:"
	                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
	                              "649b934ca495991b7852b855"));
	assert_false(sync_recheck_due(s, "hour/app", "latest"));
	assert_false(sync_recheck_due(s, "never/app", "v1"));
	assert_false(sync_recheck_due(s, "periodic/app", "v1"));
	assert_false(sync_recheck_due(s, "other/app", "v1"));
	sync_free(s);
	cfg_free(cfg);
}

static void test_past_the_bound_the_oldest_check_is_forgotten(void **state)
{
	struct cfg *cfg = parse(conf);
	struct err err = ERR_INIT;
	struct sync *s = sync_new(&cfg->extensions.sync, NULL, &err);
	char tag[32];

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < SYNC_CHECKS_MAX; i++) {
		snprintf(tag, sizeof(tag), "v%d", i);
		assert_true(sync_recheck_due(s, "hour/app", tag));
	}
	assert_false(sync_recheck_due(s, "hour/app", "v0"));
	/* one more: v0, checked first, is forgotten, so due again */
	assert_true(sync_recheck_due(s, "hour/app", "vnew"));
	assert_true(sync_recheck_due(s, "hour/app", "v0"));
	/* ...which forgot v1; the rest are remembered */
	assert_true(sync_recheck_due(s, "hour/app", "v1"));
	assert_false(sync_recheck_due(s, "hour/app", "v3"));
	assert_false(sync_recheck_due(s, "hour/app", "vnew"));
	assert_false(sync_recheck_due(s, "hour/app", "v0"));
	sync_free(s);
	cfg_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_is_read_with_its_default),
		cmocka_unit_test(test_bad_interval_is_refused),
		cmocka_unit_test(test_a_tag_is_due_once_per_interval),
		cmocka_unit_test(
			test_past_the_bound_the_oldest_check_is_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
