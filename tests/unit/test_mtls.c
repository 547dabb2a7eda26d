/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_mtls.c - whom a client certificate names (http.auth.mtls, zot's
 * identityAttributes): the first attribute of the list the certificate
 * has, CommonName by default; Subject as RFC 4514 text; the nth Email,
 * URI or DNS name SAN; a URI SAN's first group of uriSanPattern; names in
 * any case; unknown names and bad patterns refused, by the server and by
 * the config. Certificates are made by the openssl command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "daemon/config.h"
#include "http/http_int.h"

static char dir[64];

/* A certificate made by openssl (@subj, SANs @san or NULL), as DER. */
struct der {
	char *buf;
	size_t len;
};

static struct der full, bare;

static int make_cert(const char *name, const char *subj, const char *san,
                     struct der *out)
{
	char cmd[8192], path[512];
	struct err err = ERR_INIT;

	snprintf(path, sizeof(path), "%s/%s.der", dir, name);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt "
	         "ec_paramgen_curve:P-256 -nodes -days 2 -keyout %s/%s.key "
	         "-outform DER -out %s -subj '%s' %s%s%s 2>/dev/null",
	         dir, name, path, subj, san ? "-addext 'subjectAltName=" : "",
	         san ? san : "", san ? "'" : "");
	if (system(cmd) != 0) {
		fprintf(stderr, "openssl failed: %s\n", cmd);
		return -1;
	}
	if (fs_read_file(path, 1 << 20, &out->buf, &out->len, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static char *ident(const struct http_opts *o, const struct der *d)
{
	struct tls_ident id;
	struct err err = ERR_INIT;
	char *user;

	if (tls_ident_init(&id, o, &err) < 0)
		fail_msg("tls_ident_init: %s", err.msg);
	user = tls_ident_of(&id, d->buf, d->len);
	tls_ident_release(&id);
	return user;
}

/* The identity of @d under attributes @attrs (NULL-terminated). */
static void expect(const char *const *attrs, const struct der *d,
                   const char *want)
{
	struct http_opts o = {.mtls_attrs = attrs};
	char *got;

	while (attrs && attrs[o.n_mtls_attrs])
		o.n_mtls_attrs++;
	got = ident(&o, d);
	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
	free(got);
}

static void test_commonname_is_the_default(void **state)
{
	(void)state;
	expect(NULL, &full, "alice");
	expect(NULL, &bare, NULL);
}

static void test_each_attribute_zot_knows(void **state)
{
	(void)state;
	expect((const char *[]){"Subject", NULL}, &full, "O=Acme,CN=alice");
	expect((const char *[]){"DN", NULL}, &bare, "O=Acme");
	expect((const char *[]){"Email", NULL}, &full, "a@example.org");
	expect((const char *[]){"rfc822name", NULL}, &full, "a@example.org");
	expect((const char *[]){"URI", NULL}, &full,
	       "spiffe://example.org/workload/w1");
	expect((const char *[]){"url", NULL}, &full,
	       "spiffe://example.org/workload/w1");
	expect((const char *[]){"DNSName", NULL}, &full, "host1.example.org");
	expect((const char *[]){" cn ", NULL}, &full, "alice");
	expect((const char *[]){"COMMONNAME", NULL}, &full, "alice");
}

static void test_the_first_attribute_found_wins(void **state)
{
	(void)state;
	expect((const char *[]){"Email", "CommonName", NULL}, &full,
	       "a@example.org");
	expect((const char *[]){"Email", "CommonName", NULL}, &bare, NULL);
	expect((const char *[]){"Email", "DNS", "URI", NULL}, &bare,
	       "spiffe://example.org/workload/w9");
	expect((const char *[]){"CommonName", "Subject", NULL}, &bare,
	       "O=Acme");
}

static void test_san_indexes_and_the_uri_pattern(void **state)
{
	const char *uri[] = {"URI", NULL}, *dns[] = {"DNS", NULL};
	struct http_opts o = {.mtls_attrs = uri, .n_mtls_attrs = 1};
	char *got;

	(void)state;
	o.mtls_uri_index = 1;
	got = ident(&o, &full);
	assert_string_equal(got, "https://second.example.org/x");
	free(got);
	o.mtls_uri_index = 2;
	assert_null(ident(&o, &full));
	o = (struct http_opts){
		.mtls_attrs = dns, .n_mtls_attrs = 1, .mtls_dns_index = 1};
	got = ident(&o, &full);
	assert_string_equal(got, "host2.example.org");
	free(got);
	o = (struct http_opts){.mtls_attrs = uri,
	                       .n_mtls_attrs = 1,
	                       .mtls_uri_pattern =
	                               "^spiffe://example.org/workload/(.*)$"};
	got = ident(&o, &full);
	assert_string_equal(got, "w1");
	free(got);
	/* The pattern does not match the second URI: no identity there. */
	o.mtls_uri_index = 1;
	assert_null(ident(&o, &full));
}

static void test_unknown_attributes_and_bad_patterns_are_refused(void **state)
{
	const char *bad[] = {"SerialNumber"}, *uri[] = {"URI"};
	struct http_opts o = {.mtls_attrs = bad, .n_mtls_attrs = 1};
	struct tls_ident id;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(tls_ident_init(&id, &o, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	tls_ident_release(&id);
	o = (struct http_opts){.mtls_attrs = uri,
	                       .n_mtls_attrs = 1,
	                       .mtls_uri_pattern = "spiffe://.*"};
	err = ERR_INIT;
	assert_int_equal(tls_ident_init(&id, &o, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	tls_ident_release(&id);
	assert_false(http_mtls_attr_known("Serial"));
	assert_true(http_mtls_attr_known("dnsName"));
}

static struct cfg *parse(const char *mtls, struct err *err)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "storage:\n  rootDirectory: /tmp/x\nhttp:\n"
	         "  tls: {cert: c.pem, key: k.pem, cacert: ca.pem}\n"
	         "  auth:\n    mtls:\n%s",
	         mtls);
	return cfg_parse(text, strlen(text), "t.yaml", err);
}

static void test_the_config_reads_zots_mtls_keys(void **state)
{
	static const char no_tls[] =
		"storage: {rootDirectory: /x}\n"
		"http: {auth: {mtls: {identityAttributes: [CN]}}}\n";
	struct err err = ERR_INIT;
	struct cfg *cfg;

	(void)state;
	cfg = parse("      identityAttributes: [URI, CommonName]\n"
	            "      uriSanPattern: 'spiffe://x/(.*)'\n"
	            "      uriSanIndex: 1\n      dnsSanIndex: 2\n"
	            "      emailSanIndex: 3\n",
	            &err);
	if (!cfg)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->http.n_mtls_attrs, 2);
	assert_string_equal(cfg->http.mtls_attrs[0], "URI");
	assert_string_equal(cfg->http.mtls_attrs[1], "CommonName");
	assert_string_equal(cfg->http.mtls_uri_pattern, "spiffe://x/(.*)");
	assert_int_equal(cfg->http.mtls_uri_index, 1);
	assert_int_equal(cfg->http.mtls_dns_index, 2);
	assert_int_equal(cfg->http.mtls_email_index, 3);
	assert_int_equal(cfg->n_unsupported, 0);
	cfg_free(cfg);

	assert_null(parse("      identityAttributes: [Serial]\n", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "http.auth.mtls.identityAttributes"));
	assert_non_null(strstr(err.msg, "Serial"));
	err = ERR_INIT;
	assert_null(parse("      uriSanPattern: 'no group'\n", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "uriSanPattern"));
	err = ERR_INIT;
	assert_null(parse("      uriSanIndex: 4294967296\n", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "SAN index"));

	/* Without mutual TLS the section means nothing: refused, as zot. */
	err = ERR_INIT;
	assert_null(cfg_parse(no_tls, strlen(no_tls), "t.yaml", &err));
	assert_int_equal(err.code, ERR_INVALID);
	assert_non_null(strstr(err.msg, "http.tls.cacert"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commonname_is_the_default),
		cmocka_unit_test(test_each_attribute_zot_knows),
		cmocka_unit_test(test_the_first_attribute_found_wins),
		cmocka_unit_test(test_san_indexes_and_the_uri_pattern),
		cmocka_unit_test(
			test_unknown_attributes_and_bad_patterns_are_refused),
		cmocka_unit_test(test_the_config_reads_zots_mtls_keys),
	};
	int ret;

	if (test_mkdtemp(dir, sizeof(dir), "mtls") < 0)
		return 1;
	if (make_cert("full", "/CN=alice/O=Acme",
	              "email:a@example.org,URI:spiffe://example.org/workload/"
	              "w1,URI:https://second.example.org/x,"
	              "DNS:host1.example.org,DNS:host2.example.org",
	              &full) < 0 ||
	    make_cert("bare", "/O=Acme", "URI:spiffe://example.org/workload/w9",
	              &bare) < 0)
		ret = 1;
	else
		ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(full.buf);
	free(bare.buf);
	test_rm_tree(dir);
	return ret;
}
