/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sync.c - the sync extension's pure parts: extensions.sync as
 * cfg_parse() reads it (zot's schema, errors at their line), the
 * content mapping (prefix, destination, stripPrefix as zot maps them),
 * the tag filters, and the WWW-Authenticate challenge parser.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/config.h"
#include "sync/sync.h"
#include "tests/unit/testlib.h"

#define NAME "sync.yaml"

static struct cfg *parse(const char *text, struct err *err)
{
	return cfg_parse(text, strlen(text), NAME, err);
}

/* @text fails with ERR_INVALID and a message holding @want. */
static void assert_refused(const char *text, const char *want)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = parse(text, &err);

	if (cfg)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.code, ERR_INVALID);
	if (!strstr(err.msg, want))
		fail_msg("'%s' does not say '%s'", err.msg, want);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static const char head[] = "storage: {rootDirectory: /d}\n"
			   "extensions:\n"
			   "  sync:\n";

static void test_full_zot_sync_section_is_read(void **state)
{
	char dir[128], creds[160], text[2048];
	struct err err = ERR_INIT;
	const struct sync_registry *r;
	struct cfg *cfg;

	(void)state;
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "sync"), 0);
	snprintf(creds, sizeof(creds), "%s/creds.json", dir);
	write_file(creds, "{\"up.example:5000\": {\"username\": \"u\", "
	                  "\"password\": \"p\"}}");
	snprintf(text, sizeof(text),
	         "%s"
	         "    enable: true\n"
	         "    credentialsFile: %s\n"
	         "    downloadDir: /tmp/dl\n"
	         "    registries:\n"
	         "      - urls: [http://up.example:5000, https://b.example]\n"
	         "        onDemand: true\n"
	         "        pollInterval: 6h\n"
	         "        tlsVerify: false\n"
	         "        certDir: /certs\n"
	         "        maxRetries: 3\n"
	         "        retryDelay: 5m\n"
	         "        onlySigned: false\n"
	         "        preserveDigest: true\n"
	         "        syncTimeout: 10m\n"
	         "        maxRetryDelay: 10m\n"
	         "        content:\n"
	         "          - prefix: /repo1/**\n"
	         "            destination: /local\n"
	         "            stripPrefix: true\n"
	         "            tags: {regex: '^4\\.', excludeRegex: rc, "
	         "semver: true}\n"
	         "          - prefix: other\n"
	         "      - urls: [https://c.example]\n",
	         head, creds);
	cfg = parse(text, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_true(cfg->extensions.sync.enable);
	assert_string_equal(cfg->extensions.sync.credentials_file, creds);
	assert_string_equal(cfg->extensions.sync.download_dir, "/tmp/dl");
	assert_int_equal(cfg->extensions.sync.n_registries, 2);
	r = &cfg->extensions.sync.registries[0];
	assert_int_equal(r->n_urls, 2);
	assert_string_equal(r->urls[1], "https://b.example");
	assert_true(r->on_demand);
	assert_int_equal(r->poll_interval_ms, 6 * 3600 * 1000);
	assert_false(r->tls_verify);
	assert_string_equal(r->cert_dir, "/certs");
	assert_int_equal(r->max_retries, 3);
	assert_int_equal(r->retry_delay_ms, 300000);
	assert_true(r->preserve_digest);
	assert_int_equal(r->sync_timeout_ms, 600000);
	assert_int_equal(r->n_content, 2);
	assert_string_equal(r->content[0].prefix, "/repo1/**");
	assert_string_equal(r->content[0].destination, "/local");
	assert_true(r->content[0].strip_prefix);
	assert_string_equal(r->content[0].tags_regex, "^4\\.");
	assert_string_equal(r->content[0].tags_exclude, "rc");
	assert_true(r->content[0].tags_semver);
	assert_null(r->content[1].destination);
	/* Defaults of the second registry. */
	r = &cfg->extensions.sync.registries[1];
	assert_true(r->tls_verify);
	assert_false(r->on_demand);
	assert_int_equal(r->n_content, 0);
	/* maxRetryDelay is zot's and not run here. */
	assert_int_equal(cfg->n_unsupported, 1);
	assert_string_equal(cfg->unsupported[0],
	                    "extensions.sync.registries.maxRetryDelay "
	                    "(line 18)");
	cfg_free(cfg);
	unlink(creds);
	rmdir(dir);
}

static void test_no_section_leaves_sync_off(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.sync.enable);
	cfg_free(cfg);
	cfg = parse(
		"storage: {rootDirectory: /d}\n"
		"extensions: {sync: {enable: false, credentialsFile: /no}}\n",
		&err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_false(cfg->extensions.sync.enable);
	cfg_free(cfg);
}

static void test_bad_sync_values_are_errors_at_their_line(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        onDemand: yes\n",
	         head);
	assert_refused(text, NAME ":6:19: extensions.sync.registries.onDemand: "
	                          "expected true or false");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        bogus: 1\n",
	         head);
	assert_refused(text, "extensions.sync.registries.bogus: unknown key");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        content:\n"
	         "          - prefix: a\n"
	         "            tags: {regex: '(x'}\n",
	         head);
	assert_refused(text, NAME ":8:27: extensions.sync.registries.content."
	                          "tags.regex: invalid regular expression");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        content:\n"
	         "          - prefix: a\n"
	         "            tags: {excludeRegex: '+['}\n",
	         head);
	assert_refused(text, "invalid regular expression");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - onDemand: true\n",
	         head);
	assert_refused(text, "a registry needs urls");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [ftp://a]\n",
	         head);
	assert_refused(text, "'ftp://a' is not an http:// or https:// URL");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        content: [{destination: /x}]\n",
	         head);
	assert_refused(text, "content needs a prefix");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        onDemand: true\n"
	         "        onlySigned: true\n",
	         head);
	assert_refused(text, "onlySigned is not supported yet with onDemand");
	snprintf(text, sizeof(text),
	         "%s    registries:\n"
	         "      - urls: [http://a]\n"
	         "        maxRetries: -1\n",
	         head);
	assert_refused(text, "expected a count 0..100");
	snprintf(text, sizeof(text),
	         "%s    credentialsFile: /nonexistent/c.json\n", head);
	assert_refused(text, NAME ":4:5: extensions.sync: cannot read "
	                          "credentials file '/nonexistent/c.json'");
	/* A FIFO (no writer: open() would block) is refused at once. */
	char dir[128], fifo[160];

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "sync"), 0);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof(text), "%s    credentialsFile: %s\n", head, fifo);
	assert_refused(text, "cannot read credentials file");
	unlink(fifo);
	rmdir(dir);
}

static void test_malformed_credentials_files_are_refused(void **state)
{
	static const char *const bad[] = {
		"{\"h\": {\"username\": \"u\"}}",
		"[1]",
		"{\"h\": {\"username\": \"u\", \"password\": 1}}",
		"{\"h\": {\"username\": \"u\", \"password\": \"p\", \"x\": 1}}",
		"{\"h\": ",
	};
	char dir[128], path[160], text[512];

	(void)state;
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "sync"), 0);
	snprintf(path, sizeof(path), "%s/c.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i]);
		snprintf(text, sizeof(text), "%s    credentialsFile: %s\n",
		         head, path);
		assert_refused(text, "credentials file");
	}
	unlink(path);
	rmdir(dir);
}

static void test_content_maps_local_names_as_zot_does(void **state)
{
	static const struct {
		const char *prefix, *dest;
		bool strip;
		const char *local, *remote; /* NULL: not mapped */
	} cases[] = {
		/* No destination: the same name, if the glob takes it. */
		{"lib/**", NULL, false, "lib/app", "lib/app"},
		{"lib/**", NULL, false, "lib/a/b", "lib/a/b"},
		{"lib/**", NULL, false, "other/app", NULL},
		{"/lib/*", NULL, false, "lib/app", "lib/app"},
		{"lib/*", NULL, false, "lib/a/b", NULL},
		{"alpine", NULL, false, "alpine", "alpine"},
		/* Destination, prefix kept. */
		{"keep/**", "/copy", false, "copy/keep/app", "keep/app"},
		{"keep/**", "/copy", false, "keep/app", NULL},
		{"keep/**", "copy/", false, "copy/other/app", NULL},
		/* Destination, prefix stripped. */
		{"/src/team/**", "/mirror", true, "mirror/app", "src/team/app"},
		{"/src/team/**", "/mirror", true, "mirror/a/b", "src/team/a/b"},
		{"/src/team/**", "/mirror", true, "src/team/app", NULL},
		{"repo1/repo", "/repo", true, "repo", "repo1/repo"},
		{"repo1/repo", "/repo", true, "repo/x", NULL},
		{"library/*", "/", true, "alpine", "library/alpine"},
		/* Stripped to the root. */
		{"docker.io/**", NULL, true, "busybox", "docker.io/busybox"},
	};
	char out[300];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sync_content c = {
			.prefix = (char *)cases[i].prefix,
			.destination = (char *)cases[i].dest,
			.strip_prefix = cases[i].strip,
		};
		bool got = sync_map_local(&c, cases[i].local, out, sizeof(out));

		if (got != (cases[i].remote != NULL))
			fail_msg("case %zu: %s -> %s, expected %s", i,
			         cases[i].local, got ? out : "(none)",
			         cases[i].remote ? cases[i].remote : "(none)");
		if (got)
			assert_string_equal(out, cases[i].remote);
	}
	/* No content: every name is itself. */
	assert_true(sync_map_local(NULL, "a/b", out, sizeof(out)));
	assert_string_equal(out, "a/b");
	/* A result that does not fit is no mapping. */
	assert_false(sync_map_local(NULL, "a/b", out, 3));
}

static void test_tag_filters(void **state)
{
	struct sync_content c = {.prefix = (char *)"**"};

	(void)state;
	assert_true(sync_tag_allowed(NULL, "anything"));
	assert_true(sync_tag_allowed(&c, "latest"));
	c.tags_regex = (char *)"^4\\.";
	assert_true(sync_tag_allowed(&c, "4.1"));
	assert_false(sync_tag_allowed(&c, "3.9"));
	c.tags_exclude = (char *)"rc";
	assert_false(sync_tag_allowed(&c, "4.1-rc1"));
	c.tags_regex = NULL;
	c.tags_exclude = NULL;
	c.tags_semver = true;
	assert_true(sync_tag_allowed(&c, "1.2.3"));
	assert_false(sync_tag_allowed(&c, "latest"));

	assert_true(sync_is_semver("1"));
	assert_true(sync_is_semver("v1.2"));
	assert_true(sync_is_semver("1.2.3-rc.1+build.5"));
	assert_true(sync_is_semver("1.2.3+meta"));
	assert_false(sync_is_semver(""));
	assert_false(sync_is_semver("v"));
	assert_false(sync_is_semver("1."));
	assert_false(sync_is_semver("1.2.3.4"));
	assert_false(sync_is_semver("1.2.3-"));
	assert_false(sync_is_semver("1.2.3-a..b"));
	assert_false(sync_is_semver("latest"));
}

static void test_challenges_parse(void **state)
{
	struct sync_challenge ch;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(
		sync_challenge_parse(
			"Bearer realm=\"https://auth.example/token\","
			"service=\"registry.example\",scope=\"repository:a/b:"
			"pull\",error=\"invalid_token\"",
			&ch, &err),
		0);
	assert_int_equal(ch.scheme, SYNC_AUTH_BEARER);
	assert_string_equal(ch.realm, "https://auth.example/token");
	assert_string_equal(ch.service, "registry.example");
	assert_string_equal(ch.scope, "repository:a/b:pull");

	assert_int_equal(sync_challenge_parse("Basic realm=\"x y\"", &ch, &err),
	                 0);
	assert_int_equal(ch.scheme, SYNC_AUTH_BASIC);
	assert_string_equal(ch.realm, "x y");
	assert_int_equal(sync_challenge_parse("basic", &ch, &err), 0);
	assert_int_equal(ch.scheme, SYNC_AUTH_BASIC);
	/* Tokens unquoted, blanks around '=' and ',', escapes in quotes. */
	assert_int_equal(sync_challenge_parse("BEARER  realm = http://t/x , "
	                                      "service=s,scope=\"a\\\"b\"",
	                                      &ch, &err),
	                 0);
	assert_string_equal(ch.realm, "http://t/x");
	assert_string_equal(ch.service, "s");
	assert_string_equal(ch.scope, "a\"b");
	/* Only the first of several challenges counts. */
	assert_int_equal(
		sync_challenge_parse("Bearer realm=\"r\", Basic realm=\"b\"",
	                             &ch, &err),
		0);
	assert_int_equal(ch.scheme, SYNC_AUTH_BEARER);
	assert_string_equal(ch.realm, "r");

	static const char *const bad[] = {
		"",
		"Negotiate abc",
		"Bearer realm=\"unterminated",
		"Bearer =x",
		"Bearer realm=",
		"Bearer realm=\"a\" junk",
		"Bearerrealm=x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = ERR_INIT;
		if (sync_challenge_parse(bad[i], &ch, &err) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(err.code, ERR_INVALID);
	}
	assert_int_equal(sync_challenge_parse(NULL, &ch, &err), -1);

	/* A realm longer than kept is refused, not cut. */
	char aaa[601], longer[700];
	memset(aaa, 'a', 600);
	aaa[600] = '\0';
	snprintf(longer, sizeof(longer), "Bearer realm=\"%s\"", aaa);
	err = ERR_INIT;
	assert_int_equal(sync_challenge_parse(longer, &ch, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_zot_sync_section_is_read),
		cmocka_unit_test(test_no_section_leaves_sync_off),
		cmocka_unit_test(test_bad_sync_values_are_errors_at_their_line),
		cmocka_unit_test(test_malformed_credentials_files_are_refused),
		cmocka_unit_test(test_content_maps_local_names_as_zot_does),
		cmocka_unit_test(test_tag_filters),
		cmocka_unit_test(test_challenges_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
