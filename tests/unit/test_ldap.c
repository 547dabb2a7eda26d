/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ldap.c - http/ldap.c without a server: the RFC 4515 escaping of
 * user names in the search filter, the credentials file, refusals made
 * before any round trip (empty password, unreachable server), and the
 * http.auth.ldap section of the config (daemon/config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "http/auth.h"
#include "http/ldap.h"
#include "tests/unit/testlib.h"

struct fix {
	char dir[64];   /* this test's mkdtemp directory */
	char creds[96]; /* dir/creds.json */
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f || test_mkdtemp(f->dir, sizeof(f->dir), "ldap") < 0)
		return -1;
	snprintf(f->creds, sizeof(f->creds), "%s/creds.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	test_rm_tree(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Options for a server at 127.0.0.1:@port with the credentials in @f. */
static struct ldap_opts opts_for(const struct fix *f, int port)
{
	return (struct ldap_opts){
		.address = "127.0.0.1",
		.port = port,
		.insecure = true,
		.base_dn = "ou=people,dc=example,dc=org",
		.user_attribute = "uid",
		.group_attribute = "memberOf",
		.credentials_file = f->creds,
		.timeout_ms = 2000,
	};
}

static void test_filter_metacharacters_are_escaped(void **state)
{
	struct err err = ERR_INIT;
	char out[64];

	(void)state;
	assert_int_equal(ldap_filter_escape("*", 1, out, sizeof(out), &err), 0);
	assert_string_equal(out, "\\2a");
	assert_int_equal(
		ldap_filter_escape("a(b)c\\d*", 8, out, sizeof(out), &err), 0);
	assert_string_equal(out, "a\\28b\\29c\\5cd\\2a");
	assert_int_equal(ldap_filter_escape("x\0y", 3, out, sizeof(out), &err),
	                 0);
	assert_string_equal(out, "x\\00y");
	/* Other bytes, UTF-8 included, stay as they are. */
	assert_int_equal(ldap_filter_escape("J\xc3\xb6rg.o-k_1", 11, out,
	                                    sizeof(out), &err),
	                 0);
	assert_string_equal(out, "J\xc3\xb6rg.o-k_1");
	assert_int_equal(err.code, ERR_OK);
}

static void test_filter_escape_refuses_what_does_not_fit(void **state)
{
	struct err err = ERR_INIT;
	char out[4];

	(void)state;
	assert_int_equal(ldap_filter_escape("abc", 3, out, sizeof(out), &err),
	                 0);
	assert_int_equal(ldap_filter_escape("abcd", 4, out, sizeof(out), &err),
	                 -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	err = ERR_INIT;
	assert_int_equal(ldap_filter_escape("a*", 2, out, sizeof(out), &err),
	                 -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
}

static void test_user_filter_wraps_the_escaped_name(void **state)
{
	struct fix *f = *state;
	struct ldap_opts o = opts_for(f, 389);
	struct err err = ERR_INIT;
	char out[LDAP_FILTER_MAX];

	assert_int_equal(ldap_user_filter(&o, "alice", out, sizeof(out), &err),
	                 0);
	assert_string_equal(out, "(uid=alice)");
	/* The injections of the integration test, as the server sees them. */
	assert_int_equal(
		ldap_user_filter(&o, "*)(uid=alice", out, sizeof(out), &err),
		0);
	assert_string_equal(out, "(uid=\\2a\\29\\28uid=alice)");
	o.user_filter = "(objectClass=inetOrgPerson)";
	assert_int_equal(
		ldap_user_filter(&o, "we(i)rd*\\name", out, sizeof(out), &err),
		0);
	assert_string_equal(out, "(&(uid=we\\28i\\29rd\\2a\\5cname)"
	                         "(objectClass=inetOrgPerson))");
}

static void test_credentials_file_must_hold_dn_and_password(void **state)
{
	struct fix *f = *state;
	struct ldap_opts o = opts_for(f, 389);
	struct err err = ERR_INIT;

	/* Missing. */
	assert_int_equal(ldap_opts_check(&o, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, f->creds));
	/* Not JSON; the wrong keys; a DN without a password. */
	write_file(f->creds, "bindDN=cn=x secret-pw\n");
	err = ERR_INIT;
	assert_int_equal(ldap_opts_check(&o, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_null(strstr(err.msg, "secret-pw"));
	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"password\": \"p\"}");
	err = ERR_INIT;
	assert_int_equal(ldap_opts_check(&o, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"bindPassword\": \"\"}");
	err = ERR_INIT;
	assert_int_equal(ldap_opts_check(&o, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "unauthenticated"));
	/* zot's file; both empty is an anonymous search. */
	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"bindPassword\": \"p\"}");
	err = ERR_INIT;
	assert_int_equal(ldap_opts_check(&o, &err), 0);
	write_file(f->creds, "{\"bindDN\": \"\", \"bindPassword\": \"\"}");
	assert_int_equal(ldap_opts_check(&o, &err), 0);
	assert_int_equal(err.code, ERR_OK);
}

static void test_user_filter_must_look_like_a_filter(void **state)
{
	struct fix *f = *state;
	struct ldap_opts o = opts_for(f, 389);
	const char *bad[] = {"objectClass=person", "(a=b", "(a=b))(", "(a=b)x"};
	struct err err = ERR_INIT;

	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"bindPassword\": \"p\"}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.user_filter = bad[i];
		err = ERR_INIT;
		assert_int_equal(ldap_opts_check(&o, &err), -1);
		assert_int_equal(err.code, ERR_INVALID);
	}
	o.user_filter = "(&(objectClass=person)(!(uid=root)))";
	err = ERR_INIT;
	assert_int_equal(ldap_opts_check(&o, &err), 0);
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_empty_password_and_dead_server_are_refused(void **state)
{
	struct fix *f = *state;
	struct ldap_opts o = opts_for(f, closed_port());
	struct err err = ERR_INIT;
	struct ldap_auth *l;
	char *groups = (char *)"untouched";
	size_t len = 7;

	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"bindPassword\": \"p\"}");
	l = ldap_auth_new(&o, &err);
	assert_non_null(l);
	/* Refused before any round trip: nothing listens, yet DENIED. */
	assert_int_equal(ldap_auth_verify(l, "alice", "", &groups, &len, &err),
	                 -1);
	assert_int_equal(err.code, ERR_DENIED);
	assert_null(groups);
	assert_int_equal(len, 0);
	err = ERR_INIT;
	assert_int_equal(
		ldap_auth_verify(l, "alice", "pw", &groups, &len, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_null(strstr(err.msg, "pw"));
	/* Right after, the server is not asked again. */
	err = ERR_INIT;
	assert_int_equal(ldap_auth_verify(l, "bob", "pw2", &groups, &len, &err),
	                 -1);
	assert_int_equal(err.code, ERR_IO);
	assert_non_null(strstr(err.msg, "moments ago"));
	ldap_auth_free(l);
}

static void test_auth_with_ldap_only_refuses_when_unreachable(void **state)
{
	struct fix *f = *state;
	struct ldap_opts o = opts_for(f, closed_port());
	struct auth_opts ao = {.ldap = &o};
	struct auth_groups g = {0};
	struct err err = ERR_INIT;
	char user[AUTH_USER_MAX + 1];
	struct auth *a;

	write_file(f->creds, "{\"bindDN\": \"cn=x\", \"bindPassword\": \"p\"}");
	a = auth_new(&ao, &err);
	assert_non_null(a);
	/* alice:pw */
	assert_int_equal(
		auth_check_groups(a, "Basic YWxpY2U6cHc=", user, &g, &err),
		AUTH_FAILED);
	assert_int_equal(err.code, ERR_DENIED);
	assert_null(g.names);
	/* The same again: a failure is not cached as anything. */
	err = ERR_INIT;
	assert_int_equal(auth_check(a, "Basic YWxpY2U6cHc=", user, &err),
	                 AUTH_FAILED);
	/* No header is anonymous, as with htpasswd. */
	assert_int_equal(auth_check(a, NULL, user, &err), AUTH_ANONYMOUS);
	auth_groups_release(&g);
	auth_free(a);
}

static struct cfg *parse(const char *text, struct err *err)
{
	return cfg_parse(text, strlen(text), "test.yaml", err);
}

static void test_config_reads_zots_ldap_keys(void **state)
{
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	/* zot's examples/config-ldap.json, its keys as spelled there. */
	cfg = parse("{\"storage\": {\"rootDirectory\": \"/d\"},\n"
	            " \"http\": {\"auth\": {\"ldap\": {\n"
	            "  \"credentialsFile\": \"/c.json\",\n"
	            "  \"address\": \"ldap.example.org\", \"port\": 389,\n"
	            "  \"startTLS\": false, \"insecure\": true,\n"
	            "  \"baseDN\": \"ou=Users,dc=example,dc=org\",\n"
	            "  \"userAttribute\": \"uid\",\n"
	            "  \"userGroupAttribute\": \"memberOf\",\n"
	            "  \"userFilter\": \"(objectClass=person)\",\n"
	            "  \"skipVerify\": true, \"subtreeSearch\": true,\n"
	            "  \"cacert\": \"/ca.pem\"},\n"
	            "  \"failDelay\": 5}}}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_true(cfg->http.ldap.on);
	assert_string_equal(cfg->http.ldap.address, "ldap.example.org");
	assert_int_equal(cfg->http.ldap.port, 389);
	assert_true(cfg->http.ldap.insecure);
	assert_false(cfg->http.ldap.start_tls);
	assert_true(cfg->http.ldap.skip_verify);
	assert_true(cfg->http.ldap.subtree_search);
	assert_string_equal(cfg->http.ldap.base_dn,
	                    "ou=Users,dc=example,dc=org");
	assert_string_equal(cfg->http.ldap.user_attribute, "uid");
	assert_string_equal(cfg->http.ldap.user_group_attribute, "memberOf");
	assert_string_equal(cfg->http.ldap.user_filter, "(objectClass=person)");
	assert_string_equal(cfg->http.ldap.credentials_file, "/c.json");
	assert_string_equal(cfg->http.ldap.cacert, "/ca.pem");
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);
}

static void assert_invalid(const char *text, const char *what)
{
	struct err err = ERR_INIT;
	struct cfg *cfg = parse(text, &err);

	if (cfg)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.code, ERR_INVALID);
	if (!strstr(err.msg, what))
		fail_msg("'%s' does not say '%s'", err.msg, what);
}

#define LDAP_OK                                                        \
	"    ldap: {address: h, baseDN: 'dc=x', userAttribute: uid,\n" \
	"           credentialsFile: /c}\n"

static void test_config_ldap_errors(void **state)
{
	(void)state;
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n  auth:\n"
	               "    ldap: {address: h, baseDN: 'dc=x', uid: x,\n"
	               "           userAttribute: uid, credentialsFile: /c}\n",
	               "http.auth.ldap.uid: unknown key");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n  auth:\n"
	               "    ldap: {address: h, userAttribute: uid,\n"
	               "           credentialsFile: /c}\n",
	               "http.auth.ldap: address, baseDN, userAttribute and "
	               "credentialsFile are all required");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n  auth:\n"
	               "    ldap: {address: h, baseDN: 'dc=x', "
	               "userAttribute: uid}\n",
	               "are all required");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n  auth:\n" LDAP_OK "    ldap2: {}\n",
	               "http.auth.ldap2: unknown key");
	assert_invalid("storage: {rootDirectory: /d}\n"
	               "http:\n  auth:\n"
	               "    ldap: {address: h, baseDN: 'dc=x', port: 70000,\n"
	               "           userAttribute: uid, credentialsFile: /c}\n",
	               "http.auth.ldap.port");
}

static void test_unknown_policy_group_is_allowed_only_with_ldap(void **state)
{
	static const char access[] =
		"  accessControl:\n"
		"    repositories:\n"
		"      '**': {policies: [{groups: ['cn=devs,dc=x'],\n"
		"                         actions: [read]}]}\n";
	char text[1024];
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	snprintf(text, sizeof(text), "storage: {rootDirectory: /d}\nhttp:\n%s",
	         access);
	assert_invalid(text, "names group 'cn=devs,dc=x', which "
	                     "accessControl.groups does not define");
	/* accessControl before auth: the order in the file does not matter. */
	snprintf(text, sizeof(text),
	         "storage: {rootDirectory: /d}\nhttp:\n%s  auth:\n" LDAP_OK,
	         access);
	cfg = parse(text, &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_true(cfg->http.ldap.on);
	assert_true(cfg->http.access.on);
	cfg_free(cfg);
}

static void test_ldap_groups_count_like_config_groups(void **state)
{
	const char *groups[] = {"cn=devs,dc=x"};
	struct access_who who = {.user = "alice"};
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("storage: {rootDirectory: /d}\nhttp:\n  auth:\n" LDAP_OK
	            "  accessControl:\n"
	            "    repositories:\n"
	            "      '**': {policies: [{groups: ['cn=devs,dc=x'],\n"
	            "                         actions: [read, create]}]}\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_false(
		access_allows(&cfg->http.access, &who, "a/b", ACCESS_CREATE));
	who.groups = groups;
	who.n_groups = 1;
	assert_true(
		access_allows(&cfg->http.access, &who, "a/b", ACCESS_CREATE));
	assert_false(
		access_allows(&cfg->http.access, &who, "a/b", ACCESS_DELETE));
	cfg_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_metacharacters_are_escaped),
		cmocka_unit_test(test_filter_escape_refuses_what_does_not_fit),
		cmocka_unit_test_setup_teardown(
			test_user_filter_wraps_the_escaped_name, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_credentials_file_must_hold_dn_and_password, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_user_filter_must_look_like_a_filter, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_empty_password_and_dead_server_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_auth_with_ldap_only_refuses_when_unreachable,
			setup, teardown),
		cmocka_unit_test(test_config_reads_zots_ldap_keys),
		cmocka_unit_test(test_config_ldap_errors),
		cmocka_unit_test(
			test_unknown_policy_group_is_allowed_only_with_ldap),
		cmocka_unit_test(test_ldap_groups_count_like_config_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
