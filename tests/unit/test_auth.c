/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth.c - http/auth.c (htpasswd, the Basic header, the cache of
 * verified headers) and the policy decisions of daemon/access.c.
 */
#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "daemon/config.h"
#include "http/auth.h"
#include "tests/unit/testlib.h"

/* A bcrypt hash of @pass, cost 4 (fast), with prefix @prefix ("$2y$"). */
static void make_hash(const char *prefix, const char *pass, char *out)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	assert_non_null(
		crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof(setting)));
	assert_non_null(crypt_r(pass, setting, &cd));
	assert_int_equal(strlen(cd.output), 60);
	strcpy(out, cd.output);
	memcpy(out, prefix, 4); /* $2y$ and $2a$ hash as $2b$ here */
}

/* "Basic base64(@creds)" into @out. */
static void basic(const char *creds, size_t len, char *out)
{
	strcpy(out, "Basic ");
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)creds,
	                (int)len);
}

static void assert_parse_fails(const char *text, const char *want)
{
	struct err err = ERR_INIT;
	struct htpasswd *h = NULL;

	assert_int_equal(htpasswd_parse(text, strlen(text), "users", &h, &err),
	                 -1);
	assert_null(h);
	assert_int_equal(err.code, ERR_INVALID);
	if (!strstr(err.msg, want))
		fail_msg("'%s' lacks '%s'", err.msg, want);
}

static void test_htpasswd_takes_bcrypt_only(void **state)
{
	char y[64], b[64], a[64], text[512];
	struct err err = ERR_INIT;
	struct htpasswd *h = NULL;

	(void)state;
	make_hash("$2y$", "pw-y", y);
	make_hash("$2b$", "pw-b", b);
	make_hash("$2a$", "pw-a", a);
	snprintf(text, sizeof(text), "# users\n\nyuri:%s\r\nbea:%s\nann:%s", y,
	         b, a);
	assert_int_equal(htpasswd_parse(text, strlen(text), "users", &h, &err),
	                 0);
	assert_int_equal(htpasswd_count(h), 3);
	assert_true(htpasswd_verify(h, "yuri", "pw-y"));
	assert_true(htpasswd_verify(h, "bea", "pw-b"));
	assert_true(htpasswd_verify(h, "ann", "pw-a"));
	assert_false(htpasswd_verify(h, "ann", "pw-b"));
	assert_false(htpasswd_verify(h, "ann", ""));
	assert_false(htpasswd_verify(h, "nobody", "pw-a"));
	htpasswd_free(h);

	/* Other hash types are refused, naming file, line and user. */
	assert_parse_fails("\nbob:$apr1$abcdefgh$0123456789abcdefghijkl\n",
	                   "users:2: user 'bob': not a bcrypt hash");
	assert_parse_fails("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
	                   "users:1: user 'bob': not a bcrypt hash");
	assert_parse_fails("bob:abJnggxhB/yWI\n", "not a bcrypt hash");
	assert_parse_fails("bob:plain\n", "not a bcrypt hash");
	/* Malformed bcrypt: cost out of range, short, bad character. */
	snprintf(text, sizeof(text), "x:%.4s03%s\n", b, b + 6);
	assert_parse_fails(text, "users:1: user 'x': not a bcrypt hash");
	snprintf(text, sizeof(text), "x:%.59s\n", b);
	assert_parse_fails(text, "not a bcrypt hash");
	snprintf(text, sizeof(text), "x:%.58s!\n", b);
	assert_parse_fails(text, "not a bcrypt hash");
	/* Other malformed lines. */
	assert_parse_fails("bob\n", "users:1: expected user:hash");
	snprintf(text, sizeof(text), ":%s\n", b);
	assert_parse_fails(text, "users:1: a user name must have");
	snprintf(text, sizeof(text), "a\tb:%s\n", b);
	assert_parse_fails(text, "control character");
	snprintf(text, sizeof(text), "bob:%s\nbob:%s\n", b, y);
	assert_parse_fails(text, "user 'bob' appears twice");
	{
		char nul[] = "bob:x\0y\n";

		assert_int_equal(
			htpasswd_parse(nul, sizeof(nul) - 1, "users", &h, &err),
			-1);
		assert_non_null(strstr(err.msg, "users:1: NUL byte"));
	}
}

static void assert_header_fails(const char *hdr, const char *want)
{
	char user[AUTH_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	struct err err = ERR_INIT;

	assert_int_equal(auth_basic_parse(hdr, user, pass, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	if (!strstr(err.msg, want))
		fail_msg("'%s' lacks '%s'", err.msg, want);
	/* A refusal never shows the credentials. */
	assert_null(strstr(err.msg, "secret"));
}

static void test_basic_header_parse_and_refusals(void **state)
{
	char user[AUTH_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	char hdr[AUTH_HEADER_MAX * 2], creds[AUTH_HEADER_MAX];
	struct err err = ERR_INIT;

	(void)state;
	basic("alice:secret", 12, hdr);
	assert_int_equal(auth_basic_parse(hdr, user, pass, &err), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "secret");
	/* The scheme in any case; the first colon ends the user name. */
	assert_int_equal(
		auth_basic_parse("bAsIc   YTpiOmM=  ", user, pass, &err), 0);
	assert_string_equal(user, "a");
	assert_string_equal(pass, "b:c");
	/* No credentials at all: anonymous, as containers/image sends. */
	assert_int_equal(auth_basic_parse("Basic Og==", user, pass, &err), 0);
	assert_string_equal(user, "");
	assert_string_equal(pass, "");
	basic("alice:", 6, hdr);
	assert_int_equal(auth_basic_parse(hdr, user, pass, &err), 0);
	assert_string_equal(pass, "");

	assert_header_fails("Bearer abc.def.ghi", "unsupported Authorization");
	assert_header_fails("Basic", "unsupported Authorization");
	assert_header_fails("Basicx YTpi", "unsupported Authorization");
	assert_header_fails("Basic ", "invalid base64");
	assert_header_fails("Basic YTpi*", "invalid base64");
	assert_header_fails("Basic YTp", "invalid base64");
	assert_header_fails("Basic YT=i", "invalid base64");
	assert_header_fails("Basic YTpi YTpi", "invalid base64");
	basic("alicesecret", 11, hdr);
	assert_header_fails(hdr, "without user:password");
	basic(":secret", 7, hdr);
	assert_header_fails(hdr, "user name must have");
	basic("al\0ce:secret", 12, hdr);
	assert_header_fails(hdr, "NUL in credentials");
	basic("alice:sec\0ret", 13, hdr);
	assert_header_fails(hdr, "NUL in credentials");
	basic("al\nce:secret", 12, hdr);
	assert_header_fails(hdr, "control character");
	/* Oversized: the header, a user name, a password. */
	memset(hdr, 'A', sizeof(hdr) - 1);
	memcpy(hdr, "Basic ", 6);
	hdr[AUTH_HEADER_MAX + 1] = '\0';
	assert_header_fails(hdr, "longer than");
	memset(creds, 'u', AUTH_USER_MAX + 1);
	memcpy(creds + AUTH_USER_MAX + 1, ":secret", 7);
	basic(creds, AUTH_USER_MAX + 8, hdr);
	assert_header_fails(hdr, "user name must have");
	memcpy(creds, "u:", 2);
	memset(creds + 2, 'p', AUTH_PASS_MAX + 1);
	basic(creds, AUTH_PASS_MAX + 3, hdr);
	assert_header_fails(hdr, "password longer than");
}

struct dir {
	char path[64];
	char file[128];
};

static void write_users(struct dir *d, const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", d->file);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, d->file), 0);
}

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d || test_mkdtemp(d->path, sizeof(d->path), "auth") < 0)
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/htpasswd", d->path);
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;

	test_rm_tree(d->path);
	free(d);
	return 0;
}

static enum auth_result check(struct auth *a, const char *creds, char *user)
{
	char hdr[512];
	struct err err = ERR_INIT;
	enum auth_result r;

	basic(creds, strlen(creds), hdr);
	r = auth_check(a, hdr, user, &err);
	if (r == AUTH_FAILED) {
		assert_int_equal(err.code, ERR_DENIED);
		assert_int_equal(err.oci, OCI_UNAUTHORIZED);
		assert_null(strstr(err.msg, "pw"));
	}
	return r;
}

static void test_cache_is_bounded_and_expires(void **state)
{
	struct dir *d = *state;
	char text[64 * 100], hash[64], user[AUTH_USER_MAX + 1], creds[32];
	struct auth_opts ao = {.htpasswd_path = d->file, .cache_slots = 8};
	struct err err = ERR_INIT;
	struct auth_stats s;
	struct auth *a;
	size_t len = 0;

	text[0] = '\0';
	for (int i = 0; i < 20; i++) {
		snprintf(creds, sizeof(creds), "pw%d", i);
		make_hash("$2y$", creds, hash);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		                        "u%d:%s\n", i, hash);
	}
	write_users(d, text);
	a = auth_new(&ao, &err);
	if (!a)
		fail_msg("%s", err.msg);
	assert_int_equal(auth_check(a, NULL, user, &err), AUTH_ANONYMOUS);
	assert_int_equal(auth_check(a, "Basic Og==", user, &err),
	                 AUTH_ANONYMOUS);
	/* Past its size the cache keeps at most its slots. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 20; i++) {
			snprintf(creds, sizeof(creds), "u%d:pw%d", i, i);
			assert_int_equal(check(a, creds, user), AUTH_OK);
			snprintf(creds, sizeof(creds), "u%d", i);
			assert_string_equal(user, creds);
		}
		auth_stats(a, &s);
		assert_true(s.cached > 0 && s.cached <= 8);
	}
	/*
	 * The second round re-verified what was evicted, no more. Which
	 * headers share a slot depends on the per-process HMAC key, so how
	 * many survived round one is not fixed (none, in about 1 run of 40):
	 * every check is a hit or one verification, never both or neither.
	 */
	assert_true(s.verified >= 20);
	assert_int_equal(s.hits + s.verified, 40);
	/* A hit: the same header again. */
	assert_int_equal(check(a, "u19:pw19", user), AUTH_OK);
	auth_stats(a, &s);
	assert_int_equal(s.hits + s.verified, 41);
	assert_int_equal(check(a, "u19:pw18", user), AUTH_FAILED);
	assert_int_equal(check(a, "nobody:pw18", user), AUTH_FAILED);
	auth_free(a);

	/* A verified header is trusted for the TTL only. */
	ao.cache_slots = 0;
	ao.cache_ttl_ms = 1;
	a = auth_new(&ao, &err);
	assert_non_null(a);
	assert_int_equal(check(a, "u1:pw1", user), AUTH_OK);
	nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	assert_int_equal(check(a, "u1:pw1", user), AUTH_OK);
	auth_stats(a, &s);
	assert_int_equal(s.verified, 2);
	assert_int_equal(s.hits, 0);
	auth_free(a);
}

/* The header of @creds, checked without a verification: *@r. */
static bool quick(struct auth *a, const char *creds, enum auth_result *r)
{
	char hdr[512], user[AUTH_USER_MAX + 1];
	struct auth_groups g = {0};
	struct err err = ERR_INIT;
	bool done;

	basic(creds, strlen(creds), hdr);
	done = auth_check_quick(a, hdr, user, &g, r, &err);
	auth_groups_release(&g);
	return done;
}

static void test_refusals_are_cached_briefly(void **state)
{
	struct dir *d = *state;
	char text[256], hash[64], user[AUTH_USER_MAX + 1];
	struct auth_opts ao = {.htpasswd_path = d->file, .cache_slots = 1};
	struct err err = ERR_INIT;
	struct auth_stats s;
	enum auth_result r;
	struct auth *a;

	make_hash("$2y$", "good", hash);
	snprintf(text, sizeof(text), "ann:%s\n", hash);
	write_users(d, text);
	a = auth_new(&ao, &err);
	assert_non_null(a);
	/* A refused header is answered again without a verification. */
	assert_false(quick(a, "ann:bad", &r));
	assert_int_equal(check(a, "ann:bad", user), AUTH_FAILED);
	assert_true(quick(a, "ann:bad", &r));
	assert_int_equal(r, AUTH_FAILED);
	assert_int_equal(check(a, "ann:bad", user), AUTH_FAILED);
	auth_stats(a, &s);
	assert_int_equal(s.failed, 3);
	assert_int_equal(s.refused_hits, 2);
	assert_int_equal(s.cached, 0); /* refusals are not verified users */
	/* With one slot: a refusal never displaces a verified header. */
	assert_int_equal(check(a, "ann:good", user), AUTH_OK);
	assert_int_equal(check(a, "ann:worse", user), AUTH_FAILED);
	assert_true(quick(a, "ann:good", &r));
	assert_int_equal(r, AUTH_OK);
	assert_false(quick(a, "ann:worse", &r));
	/* A new file forgets refusals: "bad" is now the password. */
	make_hash("$2y$", "bad", hash);
	snprintf(text, sizeof(text), "ann:%s\n", hash);
	write_users(d, text);
	assert_int_equal(check(a, "ann:bad", user), AUTH_OK);
	auth_free(a);

	/* A refusal is kept no longer than the cache's TTL. */
	ao.cache_slots = 0;
	ao.cache_ttl_ms = 1;
	a = auth_new(&ao, &err);
	assert_non_null(a);
	assert_int_equal(check(a, "ann:good", user), AUTH_FAILED);
	nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	assert_false(quick(a, "ann:good", &r));
	auth_free(a);
}

static void test_file_is_reread_when_it_changes(void **state)
{
	struct dir *d = *state;
	char text[256], hash[64], user[AUTH_USER_MAX + 1];
	struct auth_opts ao = {.htpasswd_path = d->file};
	struct err err = ERR_INIT;
	struct auth_stats s;
	struct auth *a;

	/* Missing at start: refused. */
	assert_null(auth_new(&ao, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, d->file));
	/* Not bcrypt at start: refused, naming file and line. */
	write_users(d, "bob:$apr1$abcdefgh$0123456789abcdefghijkl\n");
	assert_null(auth_new(&ao, &err));
	assert_non_null(strstr(err.msg, ":1: user 'bob': not a bcrypt"));

	make_hash("$2y$", "old", hash);
	snprintf(text, sizeof(text), "bob:%s\n", hash);
	write_users(d, text);
	a = auth_new(&ao, &err);
	assert_non_null(a);
	assert_int_equal(check(a, "bob:old", user), AUTH_OK);
	assert_int_equal(check(a, "bob:old", user), AUTH_OK); /* cached */

	/* A new password: the cached header no longer lets bob in. */
	make_hash("$2y$", "new", hash);
	snprintf(text, sizeof(text), "bob:%s\n", hash);
	write_users(d, text);
	assert_int_equal(check(a, "bob:old", user), AUTH_FAILED);
	assert_int_equal(check(a, "bob:new", user), AUTH_OK);
	auth_stats(a, &s);
	assert_int_equal(s.reloads, 1);

	/* A broken file, or none, lets nobody in until fixed. */
	write_users(d, "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
	assert_int_equal(check(a, "bob:new", user), AUTH_FAILED);
	write_users(d, text);
	assert_int_equal(check(a, "bob:new", user), AUTH_OK);
	assert_int_equal(unlink(d->file), 0);
	assert_int_equal(check(a, "bob:new", user), AUTH_FAILED);
	auth_free(a);
}

static struct cfg *policy_cfg(const char *text)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = cfg_parse(text, strlen(text), "test.yaml", &err);

	if (!cfg)
		fail_msg("%s", err.msg);
	return cfg;
}

static const char policies[] =
	"storage: {rootDirectory: /d}\n"
	"http:\n"
	"  accessControl:\n"
	"    groups:\n"
	"      devs: {users: [dan, dora]}\n"
	"      ops: {users: [olga]}\n"
	"    repositories:\n"
	"      '**':\n"
	"        anonymousPolicy: [read]\n"
	"        defaultPolicy: [read, create]\n"
	"      'team/**':\n"
	"        policies:\n"
	"          - {users: [alice], actions: [read, create]}\n"
	"          - {groups: [devs], actions: [read, update]}\n"
	"      'team/secret/**':\n"
	"        policies: [{users: [alice], actions: [read]}]\n"
	"    adminPolicy: {users: [root], groups: [ops],\n"
	"                  actions: [read, create, update, delete]}\n"
	"    metrics: {users: [prom]}\n";

static void test_policy_decisions(void **state)
{
	struct cfg *cfg = policy_cfg(policies);
	const struct access *a = &cfg->http.access;
	const char *ldap_groups[] = {"devs"};
	struct access_who anon = {0}, alice = {.user = "alice"},
			  dan = {.user = "dan"}, eve = {.user = "eve"},
			  root = {.user = "root"}, olga = {.user = "olga"},
			  lg = {.user = "larry",
	                        .groups = ldap_groups,
	                        .n_groups = 1};

	(void)state;
	/* Anonymous: anonymousPolicy of the longest glob only. */
	assert_true(access_allows(a, &anon, "app", ACCESS_READ));
	assert_true(access_allows(a, NULL, "app", ACCESS_READ));
	assert_false(access_allows(a, &anon, "app", ACCESS_CREATE));
	assert_false(access_allows(a, &anon, "team/x", ACCESS_READ));
	/* Named: defaultPolicy, not anonymousPolicy's actions as such. */
	assert_true(access_allows(a, &eve, "app", ACCESS_CREATE));
	assert_false(access_allows(a, &eve, "app", ACCESS_DELETE));
	assert_false(access_allows(a, &eve, "team/x", ACCESS_READ));
	/* User policies; the longest glob wins over a shorter one. */
	assert_true(access_allows(a, &alice, "team/x", ACCESS_CREATE));
	assert_false(access_allows(a, &alice, "team/x", ACCESS_UPDATE));
	assert_true(access_allows(a, &alice, "team/secret/k", ACCESS_READ));
	assert_false(access_allows(a, &alice, "team/secret/k", ACCESS_CREATE));
	/* Groups: from accessControl.groups, or given by the identity. */
	assert_true(access_allows(a, &dan, "team/x", ACCESS_UPDATE));
	assert_false(access_allows(a, &dan, "team/x", ACCESS_CREATE));
	assert_false(access_allows(a, &dan, "team/secret/k", ACCESS_READ));
	assert_true(access_allows(a, &lg, "team/x", ACCESS_UPDATE));
	/* adminPolicy: its actions everywhere, by user or group. */
	assert_true(access_allows(a, &root, "team/secret/k", ACCESS_DELETE));
	assert_true(access_allows(a, &olga, "nowhere", ACCESS_DELETE));
	assert_false(access_allows(a, &root, "x", ACCESS_DETECT_COLLISION));
	/* metrics */
	assert_true(access_metrics_allowed(
		a, &(struct access_who){.user = "prom"}));
	assert_false(access_metrics_allowed(a, &alice));
	assert_false(access_metrics_allowed(a, &anon));
	cfg_free(cfg);

	/* No glob matches: nothing, but for admins. */
	cfg = policy_cfg("storage: {rootDirectory: /d}\n"
	                 "http: {accessControl: {repositories: {'a/*': "
	                 "{defaultPolicy: [read]}}, adminPolicy: {users: "
	                 "[root], actions: [read]}}}\n");
	a = &cfg->http.access;
	assert_false(access_allows(a, &eve, "b", ACCESS_READ));
	assert_true(access_allows(a, &eve, "a/b", ACCESS_READ));
	assert_true(access_allows(a, &root, "b", ACCESS_READ));
	cfg_free(cfg);
}

static void test_unknown_group_stops_the_config(void **state)
{
	static const char text[] = "storage: {rootDirectory: /d}\n"
				   "http:\n"
				   "  accessControl:\n"
				   "    groups: {devs: {users: [dan]}}\n"
				   "    repositories:\n"
				   "      'a/**': {policies: [{groups: [dves], "
				   "actions: [read]}]}\n";
	static const char admin[] =
		"storage: {rootDirectory: /d}\n"
		"http:\n"
		"  accessControl:\n"
		"    adminPolicy: {groups: [ops], actions: [read]}\n";
	struct err err = ERR_INIT;

	(void)state;
	assert_null(cfg_parse(text, strlen(text), "t.yaml", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "t.yaml:4:5: http.accessControl: "
	                                "a policy of 'a/**' names group "
	                                "'dves'"));
	assert_null(cfg_parse(admin, strlen(admin), "t.yaml", &err));
	assert_non_null(strstr(err.msg, "of 'adminPolicy' names group 'ops'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htpasswd_takes_bcrypt_only),
		cmocka_unit_test(test_basic_header_parse_and_refusals),
		cmocka_unit_test_setup_teardown(
			test_cache_is_bounded_and_expires, dir_setup,
			dir_teardown),
		cmocka_unit_test_setup_teardown(
			test_file_is_reread_when_it_changes, dir_setup,
			dir_teardown),
		cmocka_unit_test_setup_teardown(
			test_refusals_are_cached_briefly, dir_setup,
			dir_teardown),
		cmocka_unit_test(test_policy_decisions),
		cmocka_unit_test(test_unknown_group_stops_the_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
