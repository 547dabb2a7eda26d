/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c - unit tests for daemon/config.c.
 *
 * config.c is included rather than linked, with its allocations routed
 * through a wrapper that can fail the nth one, so the out-of-memory test
 * reaches every error path of the parser (curl's torture mode). libyaml's
 * own allocations are not failed: it calls malloc from its shared library.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include <yaml.h>

static long alloc_countdown = -1; /* fail when it reaches 0; -1: never */
static bool alloc_failed;         /* an allocation was failed */

static bool fail_now(void)
{
	if (alloc_countdown < 0)
		return false;
	if (alloc_countdown-- > 0)
		return false;
	alloc_failed = true;
	return true;
}

static void *oom_malloc(size_t n)
{
	return fail_now() ? NULL : malloc(n);
}

static void *oom_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : calloc(n, size);
}

static void *oom_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : realloc(p, n);
}

static char *oom_strdup(const char *s)
{
	return fail_now() ? NULL : strdup(s);
}

/* Every system header config.c uses is in already, so only its code sees
 * these. */
#undef malloc
#undef calloc
#undef realloc
#undef strdup
#define malloc(n)     oom_malloc(n)
#define calloc(n, s)  oom_calloc(n, s)
#define realloc(p, n) oom_realloc(p, n)
#define strdup(s)     oom_strdup(s)
#include "daemon/config.c"
#undef malloc
#undef calloc
#undef realloc
#undef strdup

#define NAME "test.yaml"

struct fixture {
	char dir[64]; /* this test's mkdtemp directory */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (test_mkdtemp(f->dir, sizeof(f->dir), "config") < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rm_tree(f->dir);
	free(f);
	return 0;
}

/* Write @len bytes of @text to @name in the fixture's directory. */
static void write_file(const struct fixture *f, const char *name,
                       const char *text, size_t len, char *path, size_t size)
{
	FILE *fp;

	snprintf(path, size, "%s/%s", f->dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static struct cfg *parse(const char *text, struct err *err)
{
	return cfg_parse(text, strlen(text), NAME, err);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

/*
 * @text must fail with ERR_INVALID and a message holding @where (the
 * "file:line:col" or "file:line" prefix) and @what (the key, or the
 * problem).
 */
static void assert_invalid(const char *text, const char *where,
                           const char *what)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = parse(text, &err);

	if (cfg) {
		cfg_free(cfg);
		fail_msg("parsed, but should not have: %s", text);
	}
	assert_int_equal(err.code, ERR_INVALID);
	assert_contains(err.msg, where);
	assert_contains(err.msg, what);
}

static void assert_str(const char *got, const char *want)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* Every field of @a and @b is the same. */
static void assert_cfg_equal(const struct cfg *a, const struct cfg *b)
{
	assert_str(a->dist_spec_version, b->dist_spec_version);
	assert_str(a->http.address, b->http.address);
	assert_int_equal(a->http.port, b->http.port);
	assert_str(a->http.realm, b->http.realm);
	assert_str(a->http.external_url, b->http.external_url);
	assert_str(a->http.tls_cert, b->http.tls_cert);
	assert_str(a->http.tls_key, b->http.tls_key);
	assert_str(a->http.tls_cacert, b->http.tls_cacert);
	assert_str(a->storage.root_directory, b->storage.root_directory);
	assert_int_equal(a->storage.dedupe, b->storage.dedupe);
	assert_int_equal(a->storage.gc, b->storage.gc);
	assert_int_equal(a->storage.gc_delay_ms, b->storage.gc_delay_ms);
	assert_int_equal(a->storage.gc_interval_ms, b->storage.gc_interval_ms);
	assert_int_equal(a->storage.commit, b->storage.commit);
	assert_int_equal(a->log.level, b->log.level);
	assert_str(a->log.output, b->log.output);
	assert_str(a->log.audit, b->log.audit);
	assert_int_equal(a->extensions.scrub_enable,
	                 b->extensions.scrub_enable);
	assert_int_equal(a->extensions.scrub_interval_ms,
	                 b->extensions.scrub_interval_ms);
	assert_str(a->fuse.mountpoint, b->fuse.mountpoint);
	assert_int_equal(a->fuse.read_only, b->fuse.read_only);
	assert_int_equal(a->fuse.allow_other, b->fuse.allow_other);
	assert_int_equal(a->fuse.uid, b->fuse.uid);
	assert_int_equal(a->fuse.gid, b->fuse.gid);
	assert_int_equal(a->n_unsupported, b->n_unsupported);
	for (size_t i = 0; i < a->n_unsupported; i++)
		assert_string_equal(a->unsupported[i], b->unsupported[i]);
}

static const char full_yaml[] = "# every key dray implements\n"
				"distSpecVersion: 1.1.1\n"
				"http:\n"
				"  address: 0.0.0.0\n"
				"  port: 8080\n"
				"  realm: dray\n"
				"  externalUrl: https://registry.example.com\n"
				"  tls:\n"
				"    cert: /etc/dray/server.crt\n"
				"    key: /etc/dray/server.key\n"
				"    cacert: /etc/dray/ca.crt\n"
				"storage:\n"
				"  rootDirectory: /var/lib/dray\n"
				"  dedupe: false\n"
				"  gc: true\n"
				"  gcDelay: 2h\n"
				"  gcInterval: 1h30m\n"
				"  commit: true\n"
				"log:\n"
				"  level: debug\n"
				"  output: /var/log/dray.log\n"
				"  audit: /var/log/dray-audit.log\n"
				"extensions:\n"
				"  scrub:\n"
				"    enable: true\n"
				"    interval: 12h\n"
				"fuse:\n"
				"  mountpoint: /mnt/dray\n"
				"  readOnly: true\n"
				"  allowOther: true\n"
				"  uid: 1000\n"
				"  gid: 100\n";

/* The same configuration as zot writes it: JSON, tabs, quoted port. */
static const char full_json[] =
	"{\n"
	"\t\"distSpecVersion\": \"1.1.1\",\n"
	"\t\"http\": {\n"
	"\t\t\"address\": \"0.0.0.0\",\n"
	"\t\t\"port\": \"8080\",\n"
	"\t\t\"realm\": \"dray\",\n"
	"\t\t\"externalUrl\": \"https://registry.example.com\",\n"
	"\t\t\"tls\": {\"cert\":\"/etc/dray/server.crt\","
	"\"key\":\"/etc/dray/server.key\",\"cacert\":\"/etc/dray/ca.crt\"}\n"
	"\t},\n"
	"\t\"storage\": {\n"
	"\t\t\"rootDirectory\": \"/var/lib/dray\",\n"
	"\t\t\"dedupe\": false,\n"
	"\t\t\"gc\": true,\n"
	"\t\t\"gcDelay\": \"2h\",\n"
	"\t\t\"gcInterval\": \"1h30m\",\n"
	"\t\t\"commit\": true\n"
	"\t},\n"
	"\t\"log\": {\n"
	"\t\t\"level\": \"debug\",\n"
	"\t\t\"output\": \"/var/log/dray.log\",\n"
	"\t\t\"audit\": \"/var/log/dray-audit.log\"\n"
	"\t},\n"
	"\t\"extensions\": {\n"
	"\t\t\"scrub\": {\"enable\": true, \"interval\": \"12h\"}\n"
	"\t},\n"
	"\t\"fuse\": {\n"
	"\t\t\"mountpoint\": \"/mnt/dray\",\n"
	"\t\t\"readOnly\": true,\n"
	"\t\t\"allowOther\": true,\n"
	"\t\t\"uid\": 1000,\n"
	"\t\t\"gid\": 100\n"
	"\t}\n"
	"}\n";

/* Keys of zot that dray does not implement, at lines 4, 10, 15, 19. */
static const char zot_yaml[] = "distSpecVersion: 1.1.0\n"
			       "storage:\n"
			       "  rootDirectory: /srv/dray\n"
			       "  subPaths:\n"
			       "    /a:\n"
			       "      rootDirectory: /srv/a\n"
			       "      anything: [1, 2, {deep: true}]\n"
			       "http:\n"
			       "  port: \"5000\"\n"
			       "  auth:\n"
			       "    openid:\n"
			       "      providers: {oidc: {issuer: x}}\n"
			       "    failDelay: 1\n"
			       "extensions:\n"
			       "  sync:\n"
			       "    enable: true\n"
			       "    registries:\n"
			       "      - urls: [https://example.com]\n"
			       "scheduler:\n"
			       "  numWorkers: 4\n";

static void test_no_file_gives_the_embedded_default(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = cfg_load(NULL, &err);
	assert_non_null(cfg);
	assert_int_equal(err.code, ERR_OK);
	assert_string_equal(cfg->dist_spec_version, "1.1.0");
	assert_string_equal(cfg->http.address, "127.0.0.1");
	assert_int_equal(cfg->http.port, 5000);
	assert_null(cfg->http.realm);
	assert_null(cfg->http.external_url);
	assert_null(cfg->http.tls_cert);
	assert_null(cfg->http.tls_key);
	assert_null(cfg->http.tls_cacert);
	assert_string_equal(cfg->storage.root_directory, "./dray-data");
	assert_true(cfg->storage.dedupe);
	assert_true(cfg->storage.gc);
	assert_int_equal(cfg->storage.gc_delay_ms, 3600 * 1000);
	assert_int_equal(cfg->storage.gc_interval_ms, 24 * 3600 * 1000);
	assert_false(cfg->storage.commit);
	assert_int_equal(cfg->log.level, LOG_INFO);
	assert_null(cfg->log.output);
	assert_null(cfg->log.audit);
	assert_false(cfg->extensions.scrub_enable);
	assert_int_equal(cfg->extensions.scrub_interval_ms, 24 * 3600 * 1000);
	assert_string_equal(cfg->fuse.mountpoint, "./dray-mnt");
	assert_false(cfg->fuse.read_only);
	assert_false(cfg->fuse.allow_other);
	assert_int_equal(cfg->fuse.uid, -1);
	assert_int_equal(cfg->fuse.gid, -1);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
}

static void test_a_minimal_file_gets_the_defaults(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg, *def;

	(void)state;
	/* The embedded default adds only a mount beside the data. */
	cfg = parse("storage:\n  rootDirectory: ./dray-data\n"
	            "fuse:\n  mountpoint: ./dray-mnt\n",
	            &err);
	assert_non_null(cfg);
	def = cfg_load(NULL, &err);
	assert_non_null(def);
	assert_cfg_equal(cfg, def);
	cfg_free(def);
	cfg_free(cfg);
}

static void test_full_yaml_fills_every_field(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse(full_yaml, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->dist_spec_version, "1.1.1");
	assert_string_equal(cfg->http.address, "0.0.0.0");
	assert_int_equal(cfg->http.port, 8080);
	assert_string_equal(cfg->http.realm, "dray");
	assert_string_equal(cfg->http.external_url,
	                    "https://registry.example.com");
	assert_string_equal(cfg->http.tls_cert, "/etc/dray/server.crt");
	assert_string_equal(cfg->http.tls_key, "/etc/dray/server.key");
	assert_string_equal(cfg->http.tls_cacert, "/etc/dray/ca.crt");
	assert_string_equal(cfg->storage.root_directory, "/var/lib/dray");
	assert_false(cfg->storage.dedupe);
	assert_true(cfg->storage.gc);
	assert_int_equal(cfg->storage.gc_delay_ms, 2 * 3600 * 1000);
	assert_int_equal(cfg->storage.gc_interval_ms, 90 * 60 * 1000);
	assert_true(cfg->storage.commit);
	assert_int_equal(cfg->log.level, LOG_DEBUG);
	assert_string_equal(cfg->log.output, "/var/log/dray.log");
	assert_string_equal(cfg->log.audit, "/var/log/dray-audit.log");
	assert_true(cfg->extensions.scrub_enable);
	assert_int_equal(cfg->extensions.scrub_interval_ms, 12 * 3600 * 1000);
	assert_string_equal(cfg->fuse.mountpoint, "/mnt/dray");
	assert_true(cfg->fuse.read_only);
	assert_true(cfg->fuse.allow_other);
	assert_int_equal(cfg->fuse.uid, 1000);
	assert_int_equal(cfg->fuse.gid, 100);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
}

static void test_equivalent_json_gives_the_same_config(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *y, *j;

	(void)state;
	y = parse(full_yaml, &err);
	assert_non_null(y);
	j = cfg_parse(full_json, strlen(full_json), "test.json", &err);
	if (!j)
		fail_msg("%s", err.msg);
	assert_cfg_equal(y, j);
	cfg_free(j);
	cfg_free(y);
}

static void test_anchors_and_aliases_are_resolved(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage:\n"
	            "  rootDirectory: &root /srv/dray\n"
	            "  gcDelay: &d 3h\n"
	            "  gcInterval: *d\n"
	            "fuse:\n"
	            "  mountpoint: *root\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->fuse.mountpoint, "/srv/dray");
	assert_int_equal(cfg->storage.gc_interval_ms, 3 * 3600 * 1000);
	cfg_free(cfg);
	assert_invalid("storage:\n  rootDirectory: *nowhere\n",
	               NAME ":2:", "undefined alias");
}

static void test_port_may_be_an_integer_or_a_string(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "http:\n  port: \"8080\"\n",
	            &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.port, 8080);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\nhttp: {port: 0}\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.port, 0);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\nhttp: {port: 65535}\n",
	            &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.port, 65535);
	cfg_free(cfg);
}

static void test_port_out_of_range_is_invalid(void **state)
{
	(void)state;
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: 65536\n",
	               NAME ":3:9:", "http.port: expected an integer 0..65535");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: \"-1\"\n",
	               NAME ":3:9:", "http.port");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: http\n",
	               NAME ":3:9:", "http.port");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: 80.5\n",
	               NAME ":3:9:", "http.port");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: 99999999999999999999999\n",
	               NAME ":3:9:", "http.port");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n"
	               "  port: [5000]\n",
	               NAME ":3:9:", "http.port");
}

static void test_unknown_top_level_key_names_key_and_line(void **state)
{
	(void)state;
	assert_invalid("storage:\n"
	               "  rootDirectory: /d\n"
	               "htpp:\n"
	               "  port: 5000\n",
	               NAME ":3:1:", "htpp: unknown key");
}

static void test_unknown_nested_key_names_its_dotted_path(void **state)
{
	(void)state;
	assert_invalid("storage:\n"
	               "  rootDirectory: /d\n"
	               "http:\n"
	               "  tls:\n"
	               "    cert: /c\n"
	               "    certificate: /c\n",
	               NAME ":6:5:", "http.tls.certificate: unknown key");
	assert_invalid("{\"storage\": {\"rootDirectory\": \"/d\",\n"
	               " \"gcdelay\": \"1h\", \"gcWhen\": \"1h\"}}\n",
	               NAME ":2:19:", "storage.gcWhen: unknown key");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "extensions:\n"
	               "  scrub:\n"
	               "    enabled: true\n",
	               NAME ":4:5:", "extensions.scrub.enabled: unknown key");
}

static void test_zot_spellings_are_accepted_other_cases_are_not(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	/* All lowercase, as zot's own examples/config-example.yaml. */
	cfg = parse("distspecversion: 1.1.1\n"
	            "storage:\n"
	            "  rootdirectory: /d\n"
	            "  gcdelay: 3h\n"
	            "http:\n"
	            "  externalurl: https://a\n"
	            "  tls: {cacert: /ca}\n"
	            "fuse: {readonly: true}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->storage.root_directory, "/d");
	assert_int_equal(cfg->storage.gc_delay_ms, 3 * 3600 * 1000);
	assert_string_equal(cfg->http.external_url, "https://a");
	assert_string_equal(cfg->http.tls_cacert, "/ca");
	assert_true(cfg->fuse.read_only);
	cfg_free(cfg);

	/* Canonical and folded-capitals forms, as `zot schema` lists them. */
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "http: {externalURL: https://b, tls: {caCert: /ca}}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->http.external_url, "https://b");
	assert_string_equal(cfg->http.tls_cacert, "/ca");
	cfg_free(cfg);

	assert_invalid("storage:\n  RootDirectory: /d\n",
	               NAME ":2:3:", "storage.RootDirectory: unknown key");
	assert_invalid("Storage:\n  rootDirectory: /d\n",
	               NAME ":1:1:", "Storage: unknown key");
}

static void test_unsupported_zot_keys_are_recorded_with_path(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse(zot_yaml, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->http.port, 5000);
	assert_string_equal(cfg->storage.root_directory, "/srv/dray");
	/* extensions.sync is implemented (tests/unit/test_sync.c). */
	assert_int_equal(cfg->n_unsupported, 3);
	assert_string_equal(cfg->unsupported[0], "storage.subPaths (line 4)");
	assert_string_equal(cfg->unsupported[1], "http.auth.openid (line 11)");
	assert_string_equal(cfg->unsupported[2], "scheduler (line 19)");
	cfg_free(cfg);
}

static void test_every_unsupported_zot_section_is_accepted(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("goVersion: go1.22\n"
	            "commit: abc\n"
	            "releaseTag: v2\n"
	            "binaryType: full\n"
	            "storage:\n"
	            "  rootDirectory: /d\n"
	            "  maxRepos: 10\n"
	            "  remoteCache: false\n"
	            "  redirectBlobURL: true\n"
	            "  gcTimeWindow: 01:00-08:00\n"
	            "  retention: {dryRun: true, policies: []}\n"
	            "  storageDriver: {name: s3}\n"
	            "  cacheDriver: {name: redis}\n"
	            "  subPaths: {}\n"
	            "  fastRestart: true\n"
	            "http:\n"
	            "  allowOrigin: '*'\n"
	            "  readTimeout: 30s\n"
	            "  writeTimeout: 30s\n"
	            "  auth: {failDelay: 5}\n"
	            "  accessControl: {}\n"
	            "  ratelimit: {rate: 10}\n"
	            "  compat: [docker2s2]\n"
	            "extensions:\n"
	            "  search: {enable: true}\n"
	            "  sync: {enable: false}\n"
	            "  metrics: {}\n"
	            "  lint: {}\n"
	            "  ui: {}\n"
	            "  mgmt: {}\n"
	            "  apikey: {}\n"
	            "  trust: {cosign: true}\n"
	            "  events: {}\n"
	            "scheduler: {numWorkers: 2}\n"
	            "cluster: {members: [a, b]}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	/* storage.retention, http.accessControl are implemented. */
	/* So are http.readTimeout, http.writeTimeout, http.auth.failDelay. */
	/* And extensions.metrics, extensions.mgmt, extensions.lint,
	   extensions.sync, extensions.events, extensions.search and
	   extensions.ui. */
	assert_int_equal(cfg->n_unsupported, 19);
	assert_true(cfg->storage.retention.dry_run);
	assert_int_equal(cfg->http.read_timeout_ms, 30000);
	assert_int_equal(cfg->http.write_timeout_ms, 30000);
	assert_string_equal(cfg->unsupported[0], "goVersion (line 1)");
	assert_string_equal(cfg->unsupported[6], "storage.redirectBlobURL "
	                                         "(line 9)");
	assert_string_equal(cfg->unsupported[15],
	                    "extensions.apikey (line 31)");
	assert_string_equal(cfg->unsupported[18], "cluster (line 35)");
	cfg_free(cfg);
}

static void test_go_durations_parse_to_milliseconds(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
		{"0", 0},
		{"1h", 3600000},
		{"24h", 86400000},
		{"1h30m", 5400000},
		{"90s", 90000},
		{"500ms", 500},
		{"2h45m0.5s", 9900500},
		{"2h45m", 9900000},
		{"1.5h", 5400000},
		{".5s", 500},
		{"5.s", 5000},
		{"1m0s", 60000},
		{"1500us", 1},
		{"1500\xc2\xb5s", 1},
		{"2000\xce\xbcs", 2},
		{"999999ns", 0},
		{"3000000ns", 3},
		{"0s", 0},
		{"2562047h", UINT64_C(2562047) * 3600000},
	};
	static const char *const bad[] = {
		"",         "1",   "10",    "h",      "1x",
		"-1s",      "+1s", "1h-1m", ".s",     "1 h",
		"2562048h", "s1",  "1hh",   "1.2.3s", "1H",
		"1sec",     " 1s", "1s ",   "1d",     "99999999999999999999s",
	};
	uint64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 12345;
		if (cfg_duration_parse(ok[i].s, &ms) < 0)
			fail_msg("'%s' should parse", ok[i].s);
		if (ms != ok[i].ms)
			fail_msg("'%s' gave %llu, not %llu", ok[i].s,
			         (unsigned long long)ms,
			         (unsigned long long)ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		if (cfg_duration_parse(bad[i], &ms) == 0)
			fail_msg("'%s' should not parse", bad[i]);
		assert_int_equal(ms, 12345);
	}
}

static void test_bad_duration_in_a_file_names_key_and_line(void **state)
{
	(void)state;
	assert_invalid(
		"storage:\n"
		"  rootDirectory: /d\n"
		"  gcDelay: 1 day\n",
		NAME ":3:12:", "storage.gcDelay: expected a Go duration");
	assert_invalid("storage:\n"
	               "  rootDirectory: /d\n"
	               "  gcInterval: 3600\n",
	               NAME ":3:15:", "storage.gcInterval");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "extensions:\n"
	               "  scrub:\n"
	               "    interval: {h: 1}\n",
	               NAME ":4:15:", "extensions.scrub.interval");
}

static void test_booleans_are_true_or_false_only(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage:\n"
	            "  rootDirectory: /d\n"
	            "  dedupe: \"false\"\n"
	            "  commit: 'true'\n",
	            &err);
	assert_non_null(cfg);
	assert_false(cfg->storage.dedupe);
	assert_true(cfg->storage.commit);
	cfg_free(cfg);
	assert_invalid("storage:\n"
	               "  rootDirectory: /d\n"
	               "  dedupe: yes\n",
	               NAME ":3:11:",
	               "storage.dedupe: expected true or false, got 'yes'");
	assert_invalid("storage:\n"
	               "  rootDirectory: /d\n"
	               "  gc: 1\n",
	               NAME ":3:7:", "storage.gc");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "fuse:\n"
	               "  readOnly: TRUE\n",
	               NAME ":3:13:", "fuse.readOnly");
}

static void test_bad_log_level_is_invalid(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\nlog: {level: warn}\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->log.level, LOG_WARN);
	cfg_free(cfg);
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "log:\n"
	               "  level: loud\n",
	               NAME ":3:10:",
	               "log.level: expected error, warn, info or debug");
}

static void test_missing_root_directory_is_invalid(void **state)
{
	(void)state;
	assert_invalid(
		"http:\n  port: 5000\nstorage:\n  dedupe: true\n",
		NAME ":4:3:", "storage.rootDirectory: required key missing");
	assert_invalid("http:\n  port: 5000\n", NAME ":1:1:",
	               "storage.rootDirectory: required key missing");
	assert_invalid("storage:\n  rootDirectory:\n", NAME ":",
	               "storage.rootDirectory: required key missing");
	assert_invalid("storage:\n  rootDirectory: \"\"\n", NAME ":2:18:",
	               "storage.rootDirectory: expected a non-empty string");
}

static void test_dist_spec_version_must_be_1_x_y(void **state)
{
	static const char *const ok[] = {
		"1.0.0", "1.0.1", "1.1.0", "1.1.1", "1.2.0", "1.1.0-rc.4",
	};
	static const char *const bad[] = {
		"2.0.0", "1.0",    "v1.1.0", "1.1.0.0", "\"\"",
		"1.a.0", "1.1.0-", "0.1.0",  "11.0.0",  "1..0",
	};
	char text[128];
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text),
		         "storage: {rootDirectory: /d}\n"
		         "distSpecVersion: %s\n",
		         ok[i]);
		cfg = parse(text, &err);
		if (!cfg)
			fail_msg("%s: %s", ok[i], err.msg);
		assert_string_equal(cfg->dist_spec_version, ok[i]);
		cfg_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "storage: {rootDirectory: /d}\n"
		         "distSpecVersion: %s\n",
		         bad[i]);
		assert_invalid(text, NAME ":2:18:",
		               "distSpecVersion: expected a version 1.x.y");
	}
}

static void test_duplicate_key_is_invalid(void **state)
{
	(void)state;
	assert_invalid(
		"storage:\n"
		"  rootDirectory: /a\n"
		"  rootDirectory: /b\n",
		NAME ":3:3:",
		"storage.rootDirectory: duplicate key (first on line 2)");
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "http: {port: 1}\n"
	               "http: {port: 2}\n",
	               NAME ":3:1:", "http: duplicate key (first on line 2)");
	/* Two spellings of one key are one key twice. */
	assert_invalid("storage:\n"
	               "  rootDirectory: /a\n"
	               "  rootdirectory: /b\n",
	               NAME ":3:3:", "storage.rootdirectory: duplicate key");
	/* Unsupported keys too. */
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "http:\n"
	               "  auth: {}\n"
	               "  auth: {}\n",
	               NAME ":4:3:", "http.auth: duplicate key");
}

static void test_yaml_syntax_error_gives_the_line(void **state)
{
	(void)state;
	assert_invalid("storage:\n"
	               "  rootDirectory: /a\n"
	               "http:\n"
	               "  port: [5000\n"
	               "log: {}\n",
	               NAME ":5:", "did not find expected ',' or ']'");
	assert_invalid("storage:\n"
	               "  rootDirectory: /a\n"
	               "   gc: true\n",
	               NAME ":3:", "mapping values are not allowed");
	assert_invalid("{\"storage\": {\"rootDirectory\": \"/a\",}\n",
	               NAME ":2:", "did not find expected");
	/* Invalid UTF-8 is reported by libyaml's reader, at a byte offset. */
	assert_invalid("storage:\n  rootDirectory: /\xff\n",
	               NAME ":2:19:", "invalid");
}

static void test_non_mapping_top_level_is_invalid(void **state)
{
	(void)state;
	assert_invalid("- storage\n- http\n",
	               NAME ":1:1:", "expected a mapping at the top level");
	assert_invalid("42\n", NAME ":1:1:", "expected a mapping");
	assert_invalid("\n\n\"storage\"\n", NAME ":3:1:", "expected a mapping");
}

static void test_section_of_the_wrong_type_is_invalid(void **state)
{
	(void)state;
	assert_invalid("storage: {rootDirectory: /a}\nhttp: 5000\n",
	               NAME ":2:7:", "http: expected a mapping");
	assert_invalid("storage:\n  - rootDirectory: /a\n",
	               NAME ":2:3:", "storage: expected a mapping");
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "http: {tls: [cert, key]}\n",
	               NAME ":2:13:", "http.tls: expected a mapping");
	assert_invalid("storage: {rootDirectory: [/a]}\n", NAME ":1:26:",
	               "storage.rootDirectory: expected a non-empty string");
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "http: {realm: {a: b}}\n",
	               NAME ":2:15:", "http.realm: expected a string");
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "? [http]\n"
	               ": {}\n",
	               NAME ":2:3:", "expected a scalar key");
}

static void test_null_values_keep_their_defaults(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage:\n"
	            "  rootDirectory: /d\n"
	            "  gcDelay:\n"
	            "http:\n"
	            "  port: ~\n"
	            "  address: null\n"
	            "log:\n"
	            "extensions:\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->storage.gc_delay_ms, 3600 * 1000);
	assert_int_equal(cfg->http.port, 5000);
	assert_string_equal(cfg->http.address, "127.0.0.1");
	assert_int_equal(cfg->log.level, LOG_INFO);
	assert_false(cfg->extensions.scrub_enable);
	cfg_free(cfg);
}

static void test_naming_the_scrub_section_enables_scrubbing(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions:\n"
	            "  scrub:\n"
	            "    interval: 2h\n",
	            &err);
	assert_non_null(cfg);
	assert_true(cfg->extensions.scrub_enable);
	assert_int_equal(cfg->extensions.scrub_interval_ms, 2 * 3600 * 1000);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions: {scrub: {enable: false}}\n",
	            &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.scrub_enable);
	cfg_free(cfg);
}

static void test_fuse_section_fills_the_mount_options(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "fuse:\n"
	            "  mountpoint: /mnt/registry\n"
	            "  readOnly: true\n"
	            "  allowOther: false\n"
	            "  uid: 0\n"
	            "  gid: \"4294967294\"\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->fuse.mountpoint, "/mnt/registry");
	assert_true(cfg->fuse.read_only);
	assert_false(cfg->fuse.allow_other);
	assert_int_equal(cfg->fuse.uid, 0);
	assert_int_equal(cfg->fuse.gid, INT64_C(4294967294));
	cfg_free(cfg);

	cfg = parse("storage: {rootDirectory: /d}\nfuse: {uid: -1}\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->fuse.uid, -1);
	cfg_free(cfg);

	assert_invalid("storage: {rootDirectory: /d}\n"
	               "fuse:\n"
	               "  uid: 4294967295\n",
	               NAME ":3:8:", "fuse.uid: expected an id");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "fuse:\n"
	               "  gid: -2\n",
	               NAME ":3:8:", "fuse.gid");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "fuse:\n"
	               "  mountpoint: ''\n",
	               NAME ":3:15:", "fuse.mountpoint");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "fuse:\n"
	               "  debug: true\n",
	               NAME ":3:3:", "fuse.debug: unknown key");
}

static void test_empty_file_is_invalid(void **state)
{
	(void)state;
	assert_invalid("", NAME ":1:1:", "empty configuration");
	assert_invalid("# nothing but a comment\n\n",
	               NAME ":1:1:", "empty configuration");
}

static void test_second_yaml_document_is_invalid(void **state)
{
	(void)state;
	assert_invalid("storage: {rootDirectory: /a}\n"
	               "---\n"
	               "storage: {rootDirectory: /b}\n",
	               NAME ":3:1:", "expected a single YAML document");
}

static void
test_control_characters_in_keys_do_not_reach_the_message(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /a}\n\"a\\nb\\0c\": 1\n", &err);
	assert_null(cfg);
	assert_int_equal(err.code, ERR_INVALID);
	assert_contains(err.msg, NAME ":2:1: a?b?c: unknown key");
	cfg = parse("storage: {rootDirectory: \"/a\\0b\"}\n", &err);
	assert_null(cfg);
	assert_int_equal(err.code, ERR_INVALID);
	assert_contains(err.msg, "storage.rootDirectory");
}

static void test_config_file_is_read_from_disk(void **state)
{
	static const char bad[] = "storage:\n  rootDirectory: /d\n  gc: 2\n";
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct cfg *cfg;

	write_file(f, "config.json", full_json, strlen(full_json), path,
	           sizeof(path));
	cfg = cfg_load(path, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->storage.root_directory, "/var/lib/dray");
	cfg_free(cfg);

	write_file(f, "bad.yaml", bad, strlen(bad), path, sizeof(path));
	cfg = cfg_load(path, &err);
	assert_null(cfg);
	assert_int_equal(err.code, ERR_INVALID);
	assert_contains(err.msg, path);
	assert_contains(err.msg, "bad.yaml:3:7: storage.gc");
}

static void test_missing_file_is_not_found(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	snprintf(path, sizeof(path), "%s/absent.yaml", f->dir);
	assert_null(cfg_load(path, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_contains(err.msg, path);
}

static void test_directory_as_config_file_is_an_io_error(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;

	assert_null(cfg_load(f->dir, &err));
	assert_int_equal(err.code, ERR_IO);
	assert_contains(err.msg, f->dir);
}

static void test_file_over_one_mib_is_too_large(void **state)
{
	static const char head[] = "storage: {rootDirectory: /d}\n#";
	struct fixture *f = *state;
	const size_t max = 1024 * 1024;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct cfg *cfg;
	char *text;

	/* Exactly 1 MiB loads: a config, then one long comment line. */
	text = malloc(max + 1);
	assert_non_null(text);
	memset(text, 'x', max + 1);
	memcpy(text, head, strlen(head));
	text[max - 1] = '\n';
	write_file(f, "max.yaml", text, max, path, sizeof(path));
	cfg = cfg_load(path, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	cfg_free(cfg);

	text[max - 1] = 'x';
	text[max] = '\n';
	write_file(f, "big.yaml", text, max + 1, path, sizeof(path));
	free(text);
	assert_null(cfg_load(path, &err));
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_contains(err.msg, path);
}

/*
 * Fail the 1st, 2nd, ... allocation of config.c until one run needs no
 * failure: every run must fail cleanly with ERR_NOMEM (LSan checks that
 * nothing leaks) or succeed.
 */
static void run_out_of_memory(struct cfg *(*fn)(const char *, struct err *),
                              const char *arg)
{
	long n;

	for (n = 0;; n++) {
		struct err err = ERR_INIT;
		struct cfg *cfg;

		alloc_countdown = n;
		alloc_failed = false;
		cfg = fn(arg, &err);
		alloc_countdown = -1;
		if (!alloc_failed) {
			if (!cfg)
				fail_msg("failed without a failed allocation: "
				         "%s",
				         err.msg);
			cfg_free(cfg);
			break;
		}
		if (cfg)
			fail_msg("allocation %ld failed, yet cfg was made", n);
		assert_int_equal(err.code, ERR_NOMEM);
	}
	/* The config makes a few dozen allocations; all were tried. */
	assert_true(n > 10);
}

static struct cfg *parse_text(const char *text, struct err *err)
{
	return parse(text, err);
}

static struct cfg *load_path(const char *path, struct err *err)
{
	return cfg_load(path, err);
}

static void test_out_of_memory_at_any_allocation_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	run_out_of_memory(parse_text, full_yaml);
	run_out_of_memory(parse_text, zot_yaml);
	write_file(f, "config.yaml", zot_yaml, strlen(zot_yaml), path,
	           sizeof(path));
	run_out_of_memory(load_path, path);
}

static void test_retention_policies_are_read_with_zot_defaults(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage:\n"
	            "  rootDirectory: /d\n"
	            "  retention:\n"
	            "    delay: 2h\n"
	            "    policies:\n"
	            "      - repositories: [\"infra/*\", \"prod/**\"]\n"
	            "        deleteReferrers: true\n"
	            "        keepTags:\n"
	            "          - patterns: [\"v2.*\", \".*-prod\"]\n"
	            "            mostRecentlyPushedCount: 5\n"
	            "          - pushedWithin: 720h\n"
	            "      - repositories: [\"**\"]\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_false(cfg->storage.retention.dry_run);
	assert_int_equal(cfg->storage.retention.delay_ms, 2 * 3600 * 1000);
	assert_int_equal(cfg->storage.retention.n_policies, 2);
	const struct store_policy *p = &cfg->storage.retention.policies[0];
	assert_int_equal(p->n_repositories, 2);
	assert_string_equal(p->repositories[1], "prod/**");
	assert_true(p->delete_referrers);
	assert_true(p->delete_untagged);
	assert_int_equal(p->n_keep_tags, 2);
	assert_int_equal(p->keep_tags[0].n_patterns, 2);
	assert_int_equal(p->keep_tags[0].pushed_count, 5);
	assert_int_equal(p->keep_tags[0].pulled_count, -1);
	assert_int_equal(p->keep_tags[1].pushed_within_ms,
	                 720ULL * 3600 * 1000);
	p = &cfg->storage.retention.policies[1];
	assert_false(p->delete_referrers);
	assert_int_equal(p->n_keep_tags, 0);
	cfg_free(cfg);
}

static void test_retention_errors_name_key_and_line(void **state)
{
	static const char *const bad_docs[] = {
		"storage: {rootDirectory: /d, retention: {policies: "
		"[{repositories: [a], keepTags: [{patterns: [\"v(\"]}]}]}}\n",
		"storage: {rootDirectory: /d, retention: {polices: []}}\n",
		"storage: {rootDirectory: /d, retention: {policies: "
		"[{deleteUntagged: true}]}}\n",
		"storage: {rootDirectory: /d, retention: {delay: soon}}\n",
		"storage: {rootDirectory: /d, retention: {policies: "
		"[{repositories: [a], keepTags: "
		"[{mostRecentlyPushedCount: -1}]}]}}\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		struct err err = ERR_INIT;

		assert_null(parse(bad_docs[i], &err));
		assert_int_equal(err.code, ERR_INVALID);
		assert_non_null(strstr(err.msg, "storage.retention"));
		assert_non_null(strstr(err.msg, ":1:"));
	}
}

static void test_access_control_reads_anonymous_policies(void **state)
{
	struct err err = ERR_INIT;
	const struct access *a;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "http:\n"
	            "  accessControl:\n"
	            "    repositories:\n"
	            "      '**': {anonymousPolicy: [read]}\n"
	            "      'tmp/**':\n"
	            "        anonymousPolicy: [read, create, update, delete]\n"
	            "      'infra/*':\n"
	            "        defaultPolicy: [read]\n"
	            "        policies: [{users: [bob], actions: [read]}]\n"
	            "    adminPolicy: {users: [admin], actions: [read]}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	a = &cfg->http.access;
	assert_true(a->on);
	assert_int_equal(a->n_rules, 3);
	assert_string_equal(a->rules[1].glob, "tmp/**");
	assert_int_equal(a->rules[1].actions, ACCESS_READ | ACCESS_CREATE |
	                                              ACCESS_UPDATE |
	                                              ACCESS_DELETE);
	/* Policies for users are read too (test_auth.c decides them). */
	assert_int_equal(cfg->n_unsupported, 0);
	assert_int_equal(a->rules[2].default_actions, ACCESS_READ);
	assert_int_equal(a->rules[2].n_policies, 1);
	assert_string_equal(a->rules[2].policies[0].users[0], "bob");
	assert_string_equal(a->admin.users[0], "admin");
	/* The longest matching glob decides; no match allows nothing. */
	assert_true(access_allows(a, NULL, "app", ACCESS_READ));
	assert_false(access_allows(a, NULL, "app", ACCESS_CREATE));
	assert_true(access_allows(a, NULL, "tmp/a/b", ACCESS_DELETE));
	assert_false(access_allows(a, NULL, "infra/x", ACCESS_READ));
	assert_true(access_allows(a, NULL, "infra/x/y", ACCESS_READ));
	assert_false(access_allows(a, NULL, "infra/x/y", ACCESS_DELETE));
	cfg_free(cfg);

	/* Without the section everything is allowed; with an empty
	 * repositories map nothing is. */
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_true(access_allows(&cfg->http.access, NULL, "x", ACCESS_DELETE));
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "http: {accessControl: {repositories: {}}}\n",
	            &err);
	assert_non_null(cfg);
	assert_false(access_allows(&cfg->http.access, NULL, "x", ACCESS_READ));
	cfg_free(cfg);
}

static void test_access_control_errors_name_key_and_line(void **state)
{
	static const char *const bad_docs[] = {
		"http: {accessControl: {repositories: {'**': "
		"{anonymousPolicy: [read, push]}}}}\n",
		"http: {accessControl: {repositories: {'**': "
		"{anonymousPolicy: read}}}}\n",
		"http: {accessControl: {repositories: [a]}}\n",
		"http: {accessControl: {repositories: {'a*b*c*d*e*f*g*h*i*j': "
		"{anonymousPolicy: [read]}}}}\n",
		"http: {accessControl: {repositories: {'**': "
		"{anonymusPolicy: [read]}}}}\n",
		"http: {accessControl: {repositories: {'{prod,rel}/**': "
		"{anonymousPolicy: [read]}}}}\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		struct err err = ERR_INIT;
		char doc[256];

		snprintf(doc, sizeof(doc), "storage: {rootDirectory: /d}\n%s",
		         bad_docs[i]);
		assert_null(parse(doc, &err));
		assert_int_equal(err.code, ERR_INVALID);
		assert_contains(err.msg, "http.accessControl");
		assert_contains(err.msg, ":2:");
	}
}

static void test_http_connection_keys_read_with_defaults(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.read_header_timeout_ms, 10000);
	assert_int_equal(cfg->http.read_timeout_ms, 30000);
	assert_int_equal(cfg->http.write_timeout_ms, 30000);
	assert_int_equal(cfg->http.idle_timeout_ms, 60000);
	assert_int_equal(cfg->http.drain_timeout_ms, 10000);
	assert_int_equal(cfg->http.max_connections, 1000);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "http: {readHeaderTimeout: 2s, readTimeout: 1m, "
	            "writeTimeout: 500ms, idleTimeout: 5s, drainTimeout: 1h, "
	            "maxConnections: 40}\n",
	            &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.read_header_timeout_ms, 2000);
	assert_int_equal(cfg->http.read_timeout_ms, 60000);
	assert_int_equal(cfg->http.write_timeout_ms, 500);
	assert_int_equal(cfg->http.idle_timeout_ms, 5000);
	assert_int_equal(cfg->http.drain_timeout_ms, 3600000);
	assert_int_equal(cfg->http.max_connections, 40);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http: {maxConnections: 70000}\n",
	               NAME ":2:", "http.maxConnections");
}

static void test_http_connections_per_client_read_with_default(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.max_connections_per_client, 512);
	cfg_free(cfg);
	cfg = parse(
		"storage: {rootDirectory: /d}\n"
		"http: {maxConnections: 3000, maxConnectionsPerClient: 8}\n",
		&err);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.max_connections, 3000);
	assert_int_equal(cfg->http.max_connections_per_client, 8);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http: {maxConnectionsPerClient: -1}\n",
	               NAME ":2:", "http.maxConnectionsPerClient");
}

/*
 * extensions.search (zot's SearchConfig): the section turns search on
 * unless enable says false; cve is accepted and reported unsupported (no
 * scanner is packaged); any other key is an error.
 */
static void test_search_section_turns_search_on(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.search_enable);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions:\n"
	            "  search:\n"
	            "    cve: {updateInterval: 2h}\n",
	            &err);
	assert_non_null(cfg);
	assert_true(cfg->extensions.search_enable);
	assert_int_equal(cfg->n_unsupported, 1);
	assert_string_equal(cfg->unsupported[0],
	                    "extensions.search.cve (line 4)");
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions: {search: {enable: false}}\n",
	            &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.search_enable);
	cfg_free(cfg);
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "extensions:\n"
	               "  search:\n"
	               "    enabled: true\n",
	               NAME ":4:5:", "extensions.search.enabled: unknown key");
}

/* extensions.ui: off unless enable is true (as zot); other keys refused. */
static void test_ui_needs_enable(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\n", &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.ui_enable);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions: {ui: {}}\n",
	            &err);
	assert_non_null(cfg);
	assert_false(cfg->extensions.ui_enable);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
	cfg = parse("storage: {rootDirectory: /d}\n"
	            "extensions: {ui: {enable: true}}\n",
	            &err);
	assert_non_null(cfg);
	assert_true(cfg->extensions.ui_enable);
	cfg_free(cfg);
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "extensions:\n"
	               "  ui:\n"
	               "    theme: dark\n",
	               NAME ":4:5:", "extensions.ui.theme: unknown key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_retention_policies_are_read_with_zot_defaults),
		cmocka_unit_test(test_retention_errors_name_key_and_line),
		cmocka_unit_test(test_access_control_reads_anonymous_policies),
		cmocka_unit_test(test_access_control_errors_name_key_and_line),
		cmocka_unit_test(test_no_file_gives_the_embedded_default),
		cmocka_unit_test(test_a_minimal_file_gets_the_defaults),
		cmocka_unit_test(test_full_yaml_fills_every_field),
		cmocka_unit_test(test_equivalent_json_gives_the_same_config),
		cmocka_unit_test(test_anchors_and_aliases_are_resolved),
		cmocka_unit_test(test_port_may_be_an_integer_or_a_string),
		cmocka_unit_test(test_port_out_of_range_is_invalid),
		cmocka_unit_test(test_unknown_top_level_key_names_key_and_line),
		cmocka_unit_test(test_unknown_nested_key_names_its_dotted_path),
		cmocka_unit_test(
			test_zot_spellings_are_accepted_other_cases_are_not),
		cmocka_unit_test(
			test_unsupported_zot_keys_are_recorded_with_path),
		cmocka_unit_test(
			test_every_unsupported_zot_section_is_accepted),
		cmocka_unit_test(test_go_durations_parse_to_milliseconds),
		cmocka_unit_test(
			test_bad_duration_in_a_file_names_key_and_line),
		cmocka_unit_test(test_booleans_are_true_or_false_only),
		cmocka_unit_test(test_bad_log_level_is_invalid),
		cmocka_unit_test(test_missing_root_directory_is_invalid),
		cmocka_unit_test(test_dist_spec_version_must_be_1_x_y),
		cmocka_unit_test(test_duplicate_key_is_invalid),
		cmocka_unit_test(test_yaml_syntax_error_gives_the_line),
		cmocka_unit_test(test_non_mapping_top_level_is_invalid),
		cmocka_unit_test(test_section_of_the_wrong_type_is_invalid),
		cmocka_unit_test(test_null_values_keep_their_defaults),
		cmocka_unit_test(
			test_naming_the_scrub_section_enables_scrubbing),
		cmocka_unit_test(test_fuse_section_fills_the_mount_options),
		cmocka_unit_test(test_empty_file_is_invalid),
		cmocka_unit_test(test_second_yaml_document_is_invalid),
		cmocka_unit_test(
			test_control_characters_in_keys_do_not_reach_the_message),
		cmocka_unit_test_setup_teardown(
			test_config_file_is_read_from_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_not_found,
	                                        setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_directory_as_config_file_is_an_io_error, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_file_over_one_mib_is_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_out_of_memory_at_any_allocation_fails_cleanly,
			setup, teardown),
		cmocka_unit_test(test_http_connection_keys_read_with_defaults),
		cmocka_unit_test(
			test_http_connections_per_client_read_with_default),
		cmocka_unit_test(test_search_section_turns_search_on),
		cmocka_unit_test(test_ui_needs_enable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
