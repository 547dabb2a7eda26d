/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_apikey.c - API keys (index/apikey.h): a key works for its owner
 * only, until revoked or expired; only its hash reaches the disk; the
 * table survives a reopen, refuses what exceeds its bounds, and keeps a
 * key whose revocation could not be written. Also the RFC 3339 times of
 * http/apikey.c and the auth methods in zot's mgmt answer.
 *
 * main() points DRAY_TEST_CLOCK_FILE at a file of its own, so expiry
 * (judged by the age clock) is tested by moving that clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testlib.h"

#include "daemon/clock.h"
#include "http/http_int.h"
#include "http/metrics.h"
#include "index/apikey.h"

static char clock_dir[64], clock_file[PATH_MAX];

static int setup(void **state)
{
	return test_fixture_setup(state, "apikey");
}

static int teardown(void **state)
{
	return test_fixture_teardown(state);
}

/* The age clock runs @s seconds ahead from now on. */
static void clock_ahead(long s)
{
	FILE *f = fopen(clock_file, "w");

	assert_non_null(f);
	fprintf(f, "%ld\n", s);
	assert_int_equal(fclose(f), 0);
}

static struct apikeys *open_keys(struct test_fixture *f)
{
	struct err err = ERR_INIT;
	struct apikeys *k = apikeys_open(f->st, &err);

	if (!k)
		fail_msg("apikeys_open: %s", err.msg);
	return k;
}

/* Create a key for @user (label @label, expiry @exp) into @key. */
static int create(struct apikeys *k, const char *user, const char *label,
                  uint64_t exp, char *key, struct apikey_info *info,
                  struct err *err)
{
	struct apikey_new n = {.user = user, .label = label, .expires_ms = exp};

	return apikeys_create(k, &n, key, info, err);
}

static int check(struct apikeys *k, const char *user, const char *key,
                 struct err *err)
{
	return apikeys_check(k, user, key, NULL, NULL, err);
}

static void test_a_key_works_for_its_owner_only_until_revoked(void **state)
{
	struct test_fixture *f = *state;
	struct apikeys *k = open_keys(f);
	char key[APIKEY_TEXT_LEN + 1], other[APIKEY_TEXT_LEN + 1];
	struct apikey_info info, *list = NULL;
	struct err err = ERR_INIT;
	size_t n = 0;

	assert_int_equal(create(k, "alice", "ci", 0, key, &info, &err), 0);
	assert_int_equal(strlen(key), APIKEY_TEXT_LEN);
	assert_memory_equal(key, "zak_", 4);
	assert_int_equal(strlen(info.id), APIKEY_ID_LEN);
	assert_string_equal(info.label, "ci");
	assert_int_equal(check(k, "alice", key, &err), 0);
	assert_int_equal(check(k, "bob", key, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);

	/* One character off is another key. */
	memcpy(other, key, sizeof(other));
	other[10] = other[10] == 'a' ? 'b' : 'a';
	err = ERR_INIT;
	assert_int_equal(check(k, "alice", other, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);
	err = ERR_INIT;
	assert_int_equal(check(k, "alice", "zak_short", &err), -1);
	assert_int_equal(err.code, ERR_DENIED);

	/* Listed with its last use, never with its key. */
	assert_int_equal(apikeys_list(k, "alice", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, info.id);
	assert_true(list[0].last_used_ms > 0);
	free(list);
	assert_int_equal(apikeys_list(k, "bob", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);

	/* Bob cannot revoke alice's key; alice can, once. */
	err = ERR_INIT;
	assert_int_equal(apikeys_revoke(k, "bob", info.id, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(check(k, "alice", key, &err), 0);
	assert_int_equal(apikeys_revoke(k, "alice", info.id, &err), 0);
	assert_int_equal(check(k, "alice", key, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);
	err = ERR_INIT;
	assert_int_equal(apikeys_revoke(k, "alice", info.id, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	apikeys_close(k);
}

static void test_keys_survive_a_reopen_and_only_hashes_are_kept(void **state)
{
	struct test_fixture *f = *state;
	struct apikeys *k = open_keys(f);
	char key[APIKEY_TEXT_LEN + 1], gone[APIKEY_TEXT_LEN + 1];
	char path[PATH_MAX], *text = NULL, **groups = NULL;
	const char *const g[] = {"devs", "ops"};
	struct apikey_new n = {
		.user = "dan", .groups = g, .n_groups = 2, .label = "x"};
	struct apikey_info info, info2;
	struct err err = ERR_INIT;
	size_t len = 0, ng = 0;

	assert_int_equal(apikeys_create(k, &n, key, &info, &err), 0);
	assert_int_equal(create(k, "dan", "y", 0, gone, &info2, &err), 0);
	assert_int_equal(apikeys_revoke(k, "dan", info2.id, &err), 0);
	apikeys_close(k);

	snprintf(path, sizeof(path), "%s/.dray/apikeys.json", f->root);
	assert_int_equal(fs_read_file(path, 1 << 20, &text, &len, &err), 0);
	assert_null(strstr(text, key + 4));
	assert_null(strstr(text, gone + 4));
	assert_non_null(strstr(text, info.id));
	free(text);

	k = open_keys(f);
	assert_int_equal(apikeys_count(k), 1);
	assert_int_equal(apikeys_check(k, "dan", key, &groups, &ng, &err), 0);
	assert_int_equal(ng, 2);
	assert_string_equal(groups[0], "devs");
	assert_string_equal(groups[1], "ops");
	free(groups);
	assert_int_equal(check(k, "dan", gone, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);
	apikeys_close(k);
}

static void test_an_expired_key_is_refused(void **state)
{
	struct test_fixture *f = *state;
	struct apikeys *k = open_keys(f);
	char key[APIKEY_TEXT_LEN + 1];
	struct apikey_info info, *list = NULL;
	struct err err = ERR_INIT;
	uint64_t now = clock_age_wall_ms();
	size_t n = 0;

	assert_int_equal(
		create(k, "alice", "", now + 3600 * 1000, key, &info, &err), 0);
	assert_int_equal(check(k, "alice", key, &err), 0);
	clock_ahead(7200);
	assert_int_equal(check(k, "alice", key, &err), -1);
	assert_int_equal(err.code, ERR_DENIED);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(apikeys_list(k, "alice", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(list[0].expired);
	free(list);
	clock_ahead(0);
	assert_int_equal(check(k, "alice", key, &err), 0);

	/* An expiry that has passed already is refused at creation. */
	err = ERR_INIT;
	assert_int_equal(create(k, "alice", "", now - 1000, key, &info, &err),
	                 -1);
	assert_int_equal(err.code, ERR_INVALID);
	apikeys_close(k);
}

static void test_bounds_are_kept(void **state)
{
	struct test_fixture *f = *state;
	struct apikeys *k = open_keys(f);
	char key[APIKEY_TEXT_LEN + 1], label[APIKEY_LABEL_MAX + 2];
	const char *scopes[APIKEY_SCOPES_MAX + 1];
	struct apikey_new n = {.user = "alice", .scopes = scopes};
	struct apikey_info info;
	struct err err = ERR_INIT;

	memset(label, 'a', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(create(k, "alice", label, 0, key, &info, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_int_equal(create(k, "alice", "a\nb", 0, key, &info, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	for (size_t i = 0; i <= APIKEY_SCOPES_MAX; i++)
		scopes[i] = "repo";
	n.n_scopes = APIKEY_SCOPES_MAX + 1;
	err = ERR_INIT;
	assert_int_equal(apikeys_create(k, &n, key, &info, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_int_equal(apikeys_count(k), 0);

	for (int i = 0; i < APIKEY_PER_USER_MAX; i++)
		assert_int_equal(create(k, "alice", "", 0, key, &info, &err),
		                 0);
	err = ERR_INIT;
	assert_int_equal(create(k, "alice", "", 0, key, &info, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_int_equal(create(k, "bob", "", 0, key, &info, &err), 0);
	apikeys_close(k);
}

static void test_a_revocation_not_written_keeps_the_key(void **state)
{
	struct test_fixture *f = *state;
	struct apikeys *k = open_keys(f);
	char key[APIKEY_TEXT_LEN + 1], tmp[PATH_MAX], moved[PATH_MAX];
	struct apikey_info info;
	struct err err = ERR_INIT;

	assert_int_equal(create(k, "alice", "", 0, key, &info, &err), 0);
	/* No temporaries can be made: the table cannot be written. */
	snprintf(tmp, sizeof(tmp), "%s/.dray/tmp", f->root);
	snprintf(moved, sizeof(moved), "%s/.dray/tmp.away", f->root);
	assert_int_equal(rename(tmp, moved), 0);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(rmdir(tmp), 0);
	fclose(fopen(tmp, "w"));
	assert_int_equal(apikeys_revoke(k, "alice", info.id, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_int_equal(check(k, "alice", key, &err), 0);
	err = ERR_INIT;
	assert_int_equal(create(k, "alice", "", 0, key, &info, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_int_equal(apikeys_count(k), 1);
	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(rename(moved, tmp), 0);
	apikeys_close(k);
}

static void test_a_corrupt_table_stops_the_open(void **state)
{
	struct test_fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	static const char bad[] = "{\"version\":1,\"keys\":[{\"id\":1}]}";

	snprintf(path, sizeof(path), "%s/.dray/apikeys.json", f->root);
	assert_int_equal(fs_write_atomic(f->root, path, bad, strlen(bad), &err),
	                 0);
	assert_null(apikeys_open(f->st, &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "apikeys.json"));
}

static void test_times_are_rfc3339(void **state)
{
	char out[APIKEY_TIME_MAX];
	uint64_t ms = 0;

	(void)state;
	assert_int_equal(apikey_time_parse("2027-01-31T12:00:00Z", &ms), 0);
	assert_int_equal(ms, 1801396800000ull);
	assert_int_equal(apikey_time_parse("2027-01-31T13:30:00.25+01:30", &ms),
	                 0);
	assert_int_equal(ms, 1801396800000ull);
	assert_int_equal(apikey_time_parse("2028-02-29T00:00:00Z", &ms), 0);
	apikey_time_format(1801396800000ull, out);
	assert_string_equal(out, "2027-01-31T12:00:00Z");
	apikey_time_format(0, out);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
	static const char *const bad[] = {
		"",
		"2027-01-31",
		"2027-01-31T12:00:00",
		"2027-02-29T00:00:00Z",
		"2027-13-01T00:00:00Z",
		"2027-01-31T24:00:00Z",
		"2027-01-31T12:00:00Zjunk",
		"1969-12-31T23:59:59Z",
		"2027-01-31T12:00:00.Z",
		"tomorrow",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (apikey_time_parse(bad[i], &ms) == 0)
			fail_msg("'%s' parsed", bad[i]);
}

static void mgmt_expect(const struct mgmt_auth *a, const char *auth_json)
{
	struct metrics_info mi = {"1.0", NULL, "-mgmt", "1.1.0", "/"};
	char *json = metrics_mgmt_json(&mi, a);
	json_t *root, *http;
	char *got;

	assert_non_null(json);
	root = json_loads(json, 0, NULL);
	assert_non_null(root);
	http = json_object_get(root, "http");
	assert_non_null(http);
	got = json_dumps(json_object_get(http, "auth"),
	                 JSON_COMPACT | JSON_ENCODE_ANY);
	if (!auth_json)
		assert_null(json_object_get(http, "auth"));
	else
		assert_string_equal(got, auth_json);
	assert_string_equal(
		json_string_value(json_object_get(root, "releaseTag")), "v1.0");
	free(got);
	json_decref(root);
	free(json);
}

static void test_mgmt_lists_the_auth_methods_as_zot(void **state)
{
	(void)state;
	mgmt_expect(NULL, NULL);
	mgmt_expect(&(struct mgmt_auth){0}, NULL);
	mgmt_expect(&(struct mgmt_auth){.htpasswd = true}, "{\"htpasswd\":{}}");
	/* zot shows an LDAP login as a password login, and no server. */
	mgmt_expect(&(struct mgmt_auth){.ldap = true}, "{\"htpasswd\":{}}");
	mgmt_expect(&(struct mgmt_auth){.htpasswd = true, .apikey = true},
	            "{\"htpasswd\":{},\"apikey\":true}");
	mgmt_expect(&(struct mgmt_auth){.bearer_realm = "https://t/\"x",
	                                .bearer_service = "reg"},
	            "{\"bearer\":{\"realm\":\"https://t/\\\"x\","
	            "\"service\":\"reg\"}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_a_key_works_for_its_owner_only_until_revoked,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keys_survive_a_reopen_and_only_hashes_are_kept,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_expired_key_is_refused,
	                                        setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds_are_kept, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(
			test_a_revocation_not_written_keeps_the_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_corrupt_table_stops_the_open, setup, teardown),
		cmocka_unit_test(test_times_are_rfc3339),
		cmocka_unit_test(test_mgmt_lists_the_auth_methods_as_zot),
	};
	int ret;

	if (test_clock_file(clock_dir, sizeof(clock_dir), clock_file,
	                    sizeof(clock_file), "apikeyclock") < 0)
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	test_rm_tree(clock_dir);
	return ret;
}
