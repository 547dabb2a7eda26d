/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_jwt.c - unit tests for daemon/jwt.c: bearer token verification.
 *
 * Keys (RSA 2048, EC P-256 and P-384, and a second RSA key the registry
 * does not trust) are generated when the group starts; tokens are made
 * here with OpenSSL (tests/tools/jwtsign.h), never by the code under
 * test. jwt.c is included rather than linked, with its allocations
 * routed through a wrapper that can fail the nth one, for the
 * out-of-memory test. jansson's are not failed: it reports running out
 * of memory mostly as a syntax error, which refuses the token anyway.
 */
#include <errno.h>
#include <limits.h>
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

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/tools/jwtsign.h"
#include "tests/unit/testlib.h"

#include "tests/unit/oomlib.h"

#define malloc(n)    oom_malloc(n)
#define calloc(n, s) oom_calloc(n, s)
#define strdup(s)    oom_strdup(s)
#include "daemon/jwt.c"
#undef malloc
#undef calloc
#undef strdup

#define SERVICE "dray.test"
#define NOW     INT64_C(1800000000)

static EVP_PKEY *rsa, *ec256, *ec384, *other;     /* private keys */
static struct jwt_key *k_rsa, *k_ec256, *k_ec384; /* their public keys */
static char *rsa_pem, *ec_pem; /* k_rsa's certificate, k_ec256's key */

/* The PEM text @write puts in a memory BIO, as a new string. */
static char *pem_of(int (*write)(BIO *, const void *), const void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_non_null(b);
	assert_int_equal(write(b, obj), 1);
	n = BIO_get_mem_data(b, &data);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(b);
	return s;
}

static int write_pubkey(BIO *b, const void *k)
{
	return PEM_write_bio_PUBKEY(b, (EVP_PKEY *)k);
}

static int write_cert(BIO *b, const void *c)
{
	return PEM_write_bio_X509(b, (X509 *)c);
}

/* A self-signed certificate for @key, as the token server's would be. */
static X509 *self_signed(EVP_PKEY *key)
{
	X509 *c = X509_new();

	assert_non_null(c);
	assert_int_equal(X509_set_version(c, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"token", -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(c, X509_get_subject_name(c)), 1);
	assert_int_equal(X509_set_pubkey(c, key), 1);
	assert_true(X509_sign(c, key, EVP_sha256()) > 0);
	return c;
}

static struct jwt_key *parse(const char *pem)
{
	struct err err = ERR_INIT;
	struct jwt_key *k = jwt_key_parse(pem, strlen(pem), &err);

	if (!k)
		fail_msg("jwt_key_parse: %s", err.msg);
	return k;
}

static int group_setup(void **state)
{
	X509 *cert;
	char *pem;

	(void)state;
	rsa = EVP_RSA_gen(2048);
	other = EVP_RSA_gen(2048);
	ec256 = EVP_EC_gen("P-256");
	ec384 = EVP_EC_gen("P-384");
	if (!rsa || !other || !ec256 || !ec384)
		return -1;
	cert = self_signed(rsa);
	rsa_pem = pem_of(write_cert, cert);
	X509_free(cert);
	ec_pem = pem_of(write_pubkey, ec256);
	k_rsa = parse(rsa_pem);
	k_ec256 = parse(ec_pem);
	pem = pem_of(write_pubkey, ec384);
	k_ec384 = parse(pem);
	free(pem);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	jwt_key_free(k_rsa);
	jwt_key_free(k_ec256);
	jwt_key_free(k_ec384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ec256);
	EVP_PKEY_free(ec384);
	free(rsa_pem);
	free(ec_pem);
	return 0;
}

/* A payload for SERVICE valid at NOW, granting pull,push on alpine. */
#define GOOD_PAYLOAD                                                        \
	"{\"iss\":\"test\",\"sub\":\"alice\",\"aud\":\"" SERVICE "\","      \
	"\"exp\":1800000300,\"nbf\":1799999990,\"iat\":1799999990,"         \
	"\"access\":[{\"type\":\"repository\",\"name\":\"library/alpine\"," \
	"\"actions\":[\"pull\",\"push\"]}]}"

static char *make(EVP_PKEY *key, const char *alg, const char *payload)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	return jws_make(key, alg, hdr, payload);
}

/* Verify @tok with @key at NOW; expect failure with @code and, if @why
 * is not NULL, a message saying @why. */
static void refused_why(const struct jwt_key *key, const char *tok,
                        enum err_code code, const char *why)
{
	struct err err = ERR_INIT;
	struct jwt_claims *c;

	c = jwt_verify(key, tok, strlen(tok), SERVICE, NOW, &err);
	if (c)
		fail_msg("token accepted: %s", tok);
	assert_int_equal(err.code, code);
	if (why && !strstr(err.msg, why))
		fail_msg("refused for '%s', not '%s'", err.msg, why);
	/* Nothing left behind in OpenSSL's error queue for the thread's
	 * next user. */
	assert_int_equal(ERR_peek_error(), 0);
	/* The message never carries the token. */
	if (*tok)
		assert_null(strstr(err.msg, tok));
}

static void refused(const struct jwt_key *key, const char *tok,
                    enum err_code code)
{
	refused_why(key, tok, code, NULL);
}

static struct jwt_claims *accepted(const struct jwt_key *key, const char *tok)
{
	struct err err = ERR_INIT;
	struct jwt_claims *c;

	c = jwt_verify(key, tok, strlen(tok), SERVICE, NOW, &err);
	if (!c)
		fail_msg("token refused: %s", err.msg);
	assert_int_equal(err.code, ERR_OK);
	return c;
}

static unsigned granted(const struct jwt_claims *c, const char *repo)
{
	struct err err = ERR_INIT;
	unsigned a = 0xdead;

	assert_int_equal(jwt_repo_actions(c, repo, &a, &err), 0);
	return a;
}

/* A token of @payload signed by @signer with @alg is refused by @key. */
static void refused_payload(EVP_PKEY *signer, const char *alg,
                            const struct jwt_key *key, const char *payload,
                            enum err_code code)
{
	char *tok = make(signer, alg, payload);

	refused(key, tok, code);
	free(tok);
}

/* The same, accepted by k_rsa. */
static void rsa_accepts(const char *payload)
{
	char *tok = make(rsa, "RS256", payload);

	jwt_claims_free(accepted(k_rsa, tok));
	free(tok);
}

/* A token of @payload, RS256, refused by k_rsa with @code. */
static void rsa_refuses(const char *payload, enum err_code code)
{
	refused_payload(rsa, "RS256", k_rsa, payload, code);
}

static void test_valid_rs256_token_is_accepted(void **state)
{
	char *tok = make(rsa, "RS256", GOOD_PAYLOAD);
	struct jwt_claims *c = accepted(k_rsa, tok);

	(void)state;
	assert_string_equal(c->subject, "alice");
	assert_int_equal(c->exp, 1800000300);
	assert_int_equal(c->n_access, 1);
	assert_string_equal(c->access[0].type, "repository");
	assert_string_equal(c->access[0].name, "library/alpine");
	assert_int_equal(c->access[0].n_actions, 2);
	assert_string_equal(c->access[0].actions[0], "pull");
	assert_string_equal(c->access[0].actions[1], "push");
	assert_int_equal(granted(c, "library/alpine"),
	                 ACCESS_READ | ACCESS_CREATE | ACCESS_UPDATE);
	jwt_claims_free(c);
	free(tok);
}

static void test_valid_es256_token_is_accepted(void **state)
{
	char *tok = make(ec256, "ES256", GOOD_PAYLOAD);
	struct jwt_claims *c = accepted(k_ec256, tok);

	(void)state;
	assert_string_equal(c->subject, "alice");
	assert_int_equal(granted(c, "library/alpine"),
	                 ACCESS_READ | ACCESS_CREATE | ACCESS_UPDATE);
	jwt_claims_free(c);
	free(tok);
}

static void test_rs384_rs512_and_es384_are_accepted(void **state)
{
	char *t1 = make(rsa, "RS384", GOOD_PAYLOAD);
	char *t2 = make(ec384, "ES384", GOOD_PAYLOAD);

	(void)state;
	rsa_accepts(GOOD_PAYLOAD);
	jwt_claims_free(accepted(k_rsa, t1));
	jwt_claims_free(accepted(k_ec384, t2));
	free(t1);
	free(t2);
	t1 = make(rsa, "RS512", GOOD_PAYLOAD);
	jwt_claims_free(accepted(k_rsa, t1));
	free(t1);
}

/* "<b64url(hdr)>.<b64url(payload)>.<sig>" with any signature text. */
static char *assemble(const char *hdr, const char *payload, const char *sig)
{
	char *h = jws_b64url(hdr, strlen(hdr));
	char *p = jws_b64url(payload, strlen(payload));
	size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
	char *t = malloc(n);

	assert_non_null(t);
	snprintf(t, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return t;
}

/* The token of @hdr, @payload and @sig as they are: k_rsa refuses it. */
static void refused_parts(const char *hdr, const char *payload, const char *sig,
                          enum err_code code)
{
	char *tok = assemble(hdr, payload, sig);

	refused(k_rsa, tok, code);
	free(tok);
}

static void test_alg_none_is_refused(void **state)
{
	/* None with the signature of a real RS256 token appended. */
	char *real = make(rsa, "RS256", GOOD_PAYLOAD);
	char *t = assemble("{\"alg\":\"none\"}", GOOD_PAYLOAD, "");

	(void)state;
	refused_parts("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, "",
	              ERR_DENIED);
	refused_parts("{\"alg\":\"None\"}", GOOD_PAYLOAD, "", ERR_DENIED);
	refused_parts("{\"alg\":\"none\"}", GOOD_PAYLOAD,
	              strrchr(real, '.') + 1, ERR_DENIED);
	refused(k_ec256, t, ERR_DENIED);
	free(real);
	free(t);
}

/* A token MACed with HS256, the secret being @secret. */
static char *hs256(const char *secret, const char *payload)
{
	char *input =
		assemble("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, "");
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	char *sig, *tok;
	size_t n;

	input[strlen(input) - 1] = '\0'; /* drop the last '.' */
	assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	                     (const unsigned char *)input, strlen(input), mac,
	                     &mac_len));
	sig = jws_b64url(mac, mac_len);
	n = strlen(input) + strlen(sig) + 2;
	tok = malloc(n);
	assert_non_null(tok);
	snprintf(tok, n, "%s.%s", input, sig);
	free(input);
	free(sig);
	return tok;
}

static void test_hs256_signed_with_the_public_key_is_refused(void **state)
{
	/* The classic key-confusion attack, with every form of the key the
	 * attacker can get: the certificate and the bare public key. */
	char *rsa_pub = pem_of(write_pubkey, rsa);
	char *t1 = hs256(rsa_pem, GOOD_PAYLOAD);
	char *t2 = hs256(rsa_pub, GOOD_PAYLOAD);
	char *t3 = hs256(ec_pem, GOOD_PAYLOAD);

	(void)state;
	refused_why(k_rsa, t1, ERR_DENIED, "alg refused");
	refused_why(k_rsa, t2, ERR_DENIED, "alg refused");
	refused_why(k_ec256, t3, ERR_DENIED, "alg refused");
	free(rsa_pub);
	free(t1);
	free(t2);
	free(t3);
}

static void test_alg_not_matching_the_key_is_refused(void **state)
{
	char *ps = jws_make(rsa, "RS256", "{\"alg\":\"PS256\"}", GOOD_PAYLOAD);
	char *es = make(ec256, "ES256", GOOD_PAYLOAD);

	(void)state;
	/* Refused for the mismatch itself, before any signature check. */
	refused_why(k_rsa, es, ERR_DENIED, "does not fit the configured key");
	free(es);
	refused_payload(rsa, "RS256", k_ec256, GOOD_PAYLOAD, ERR_DENIED);
	refused_payload(ec384, "ES384", k_ec256, GOOD_PAYLOAD, ERR_DENIED);
	refused_payload(ec256, "ES256", k_ec384, GOOD_PAYLOAD, ERR_DENIED);
	refused(k_rsa, ps, ERR_DENIED);
	free(ps);
}

static void test_crit_header_is_refused(void **state)
{
	char *t =
		jws_make(rsa, "RS256", "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}",
	                 GOOD_PAYLOAD);

	(void)state;
	refused(k_rsa, t, ERR_DENIED);
	free(t);
}

static void test_signature_of_another_key_is_refused(void **state)
{
	char *t = make(other, "RS256", GOOD_PAYLOAD);
	char *good = make(ec256, "ES256", GOOD_PAYLOAD);
	char *p, *swapped;

	(void)state;
	refused(k_rsa, t, ERR_DENIED);
	/* A valid ES256 signature moved onto another payload. */
	p = strrchr(good, '.');
	swapped = assemble("{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
	                   "{\"sub\":\"mallory\",\"aud\":\"" SERVICE
	                   "\",\"exp\":1800000300}",
	                   p + 1);
	refused(k_ec256, swapped, ERR_DENIED);
	/* A flipped bit in the signature. */
	p[1] = p[1] == 'A' ? 'B' : 'A';
	refused(k_ec256, good, ERR_DENIED);
	/* A truncated signature. */
	p[5] = '\0';
	refused(k_ec256, good, ERR_DENIED);
	free(t);
	free(good);
	free(swapped);
}

static void test_expired_token_is_refused(void **state)
{
	char *tok;

	(void)state;
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1799996400}", ERR_DENIED);
	/* exp is the first instant the token is no longer valid. */
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800000000}", ERR_DENIED);
	tok = make(rsa, "RS256", "{\"aud\":\"" SERVICE "\"}");
	refused_why(k_rsa, tok, ERR_DENIED, "no exp");
	free(tok);
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":\"tomorrow\"}",
	            ERR_INVALID);
	rsa_accepts("{\"aud\":\"" SERVICE "\",\"exp\":1800000001.5}");
}

static void test_token_not_yet_valid_is_refused(void **state)
{
	(void)state;
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	            "\"nbf\":1800000061}",
	            ERR_DENIED);
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	            "\"iat\":1800000600}",
	            ERR_DENIED);
	/* Within the leeway for clock skew. */
	rsa_accepts("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	            "\"nbf\":1800000060,\"iat\":1800000060}");
}

static void test_token_for_another_service_is_refused(void **state)
{
	(void)state;
	rsa_refuses("{\"aud\":\"other\",\"exp\":1800003600}", ERR_DENIED);
	rsa_refuses("{\"aud\":\"" SERVICE "x\",\"exp\":1800003600}",
	            ERR_DENIED);
	rsa_refuses("{\"exp\":1800003600}", ERR_DENIED);
	rsa_refuses("{\"aud\":[\"a\",\"b\"],\"exp\":1800003600}", ERR_DENIED);
	rsa_refuses("{\"aud\":7,\"exp\":1800003600}", ERR_INVALID);
	rsa_accepts("{\"aud\":[\"a\",\"" SERVICE "\"],\"exp\":1800003600}");
}

static void test_malformed_base64url_is_refused(void **state)
{
	char *good = make(rsa, "RS256", GOOD_PAYLOAD);
	size_t n = strlen(good);
	char *t = malloc(n + 8), *dot = strchr(good, '.');
	struct err err = ERR_INIT;
	unsigned char *raw;
	size_t len;

	(void)state;
	assert_non_null(t);
	/* Standard base64's characters, padding, a space. */
	for (const char *bad = "+/= \n!"; *bad; bad++) {
		memcpy(t, good, n + 1);
		t[(size_t)(dot - good) + 3] = *bad;
		refused(k_rsa, t, ERR_INVALID);
	}
	/* A header of length 1 mod 4. */
	snprintf(t, n + 8, "eyJhb%s", dot);
	refused(k_rsa, t, ERR_INVALID);
	/* Non-zero trailing bits: "e30" is "{}", "e31" would be too. */
	refused(k_rsa, "e31.e30.AAAA", ERR_INVALID);
	assert_int_equal(b64url_decode("e30", 3, &raw, &len, "x", &err), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(raw, "{}", 2);
	free(raw);
	assert_int_equal(b64url_decode("e31", 3, &raw, &len, "x", &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	/* Not three parts. */
	refused(k_rsa, "e30.e30", ERR_INVALID);
	refused(k_rsa, "e30.e30.AAAA.AAAA", ERR_INVALID);
	refused(k_rsa, "", ERR_INVALID);
	refused(k_rsa, "..", ERR_INVALID);
	free(t);
	free(good);
}

static void test_oversized_token_is_refused(void **state)
{
	char payload[JWT_TOKEN_MAX];
	char *tok;

	(void)state;
	/* A validly signed token, only too long. */
	snprintf(payload, sizeof(payload),
	         "{\"aud\":\"" SERVICE "\",\"exp\":1800003600,\"x\":\"%*s\"}",
	         (int)JWT_TOKEN_MAX - 500, "");
	tok = make(rsa, "RS256", payload);
	assert_true(strlen(tok) > JWT_TOKEN_MAX);
	refused(k_rsa, tok, ERR_TOO_LARGE);
	free(tok);
}

static void test_bad_json_is_refused(void **state)
{
	(void)state;
	refused_parts("{\"alg\":\"RS256\"", GOOD_PAYLOAD, "AAAA", ERR_INVALID);
	refused_parts("{\"alg\":\"none\",\"alg\":\"RS256\"}", GOOD_PAYLOAD,
	              "AAAA", ERR_INVALID);
	refused_parts("[\"RS256\"]", GOOD_PAYLOAD, "AAAA", ERR_INVALID);
	refused_parts("{\"typ\":\"JWT\"}", GOOD_PAYLOAD, "AAAA", ERR_INVALID);
	/* Validly signed, so only the payload's JSON is wrong. */
	rsa_refuses("{\"aud\":\"" SERVICE "\",", ERR_INVALID);
	rsa_refuses("{\"aud\":\"x\",\"aud\":\"" SERVICE
	            "\",\"exp\":1800003600}",
	            ERR_INVALID);
	rsa_refuses("[]", ERR_INVALID);
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,\"sub\":7}",
	            ERR_INVALID);
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	            "\"access\":[{\"type\":\"repository\",\"name\":\"a\","
	            "\"actions\":[\"pull\",3]}]}",
	            ERR_INVALID);
	rsa_refuses("{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	            "\"access\":{\"type\":\"repository\"}}",
	            ERR_INVALID);
}

static void test_scope_naming_dot_dot_grants_nothing(void **state)
{
	char *tok = make(rsa, "RS256",
	                 "{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	                 "\"access\":[{\"type\":\"repository\","
	                 "\"name\":\"a/../b\",\"actions\":[\"pull\","
	                 "\"push\",\"delete\"]}]}");
	struct jwt_claims *c = accepted(k_rsa, tok);
	struct err err = ERR_INIT;
	unsigned a = 0;

	(void)state;
	assert_int_equal(jwt_repo_actions(c, "a/../b", &a, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_int_equal(granted(c, "b"), 0);
	assert_int_equal(granted(c, "a/b"), 0);
	assert_int_equal(granted(c, "a"), 0);
	err = ERR_INIT;
	assert_int_equal(jwt_repo_actions(c, "../b", &a, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	jwt_claims_free(c);
	free(tok);
}

static void test_access_for_another_repository_grants_nothing(void **state)
{
	char *tok = make(rsa, "RS256",
	                 "{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	                 "\"access\":["
	                 "{\"type\":\"repository\",\"name\":\"alpine\","
	                 "\"actions\":[\"pull\"]},"
	                 "{\"type\":\"registry\",\"name\":\"busybox\","
	                 "\"actions\":[\"pull\",\"push\"]},"
	                 "{\"type\":\"repository\",\"name\":\"tmp/*\","
	                 "\"actions\":[\"pull\"]}]}");
	struct jwt_claims *c = accepted(k_rsa, tok);

	(void)state;
	assert_int_equal(granted(c, "alpine"), ACCESS_READ);
	assert_int_equal(granted(c, "busybox"), 0);
	assert_int_equal(granted(c, "alpin"), 0);
	assert_int_equal(granted(c, "alpine/x"), 0);
	assert_int_equal(granted(c, "library/alpine"), 0);
	/* Names are exact: no globbing in a token. */
	assert_int_equal(granted(c, "tmp/a"), 0);
	jwt_claims_free(c);
	free(tok);
}

static void test_docker_actions_map_as_zot_maps_them(void **state)
{
	char *tok = make(ec256, "ES256",
	                 "{\"aud\":\"" SERVICE "\",\"exp\":1800003600,"
	                 "\"access\":["
	                 "{\"type\":\"repository\",\"name\":\"p\","
	                 "\"actions\":[\"pull\"]},"
	                 "{\"type\":\"repository\",\"name\":\"u\","
	                 "\"actions\":[\"push\"]},"
	                 "{\"type\":\"repository\",\"name\":\"d\","
	                 "\"actions\":[\"delete\"]},"
	                 "{\"type\":\"repository\",\"name\":\"star\","
	                 "\"actions\":[\"*\",\"PULL\",\"read\"]},"
	                 "{\"type\":\"repository\",\"name\":\"two\","
	                 "\"actions\":[\"pull\"]},"
	                 "{\"type\":\"repository\",\"name\":\"two\","
	                 "\"actions\":[\"delete\"]}]}");
	struct jwt_claims *c = accepted(k_ec256, tok);

	(void)state;
	assert_int_equal(granted(c, "p"), ACCESS_READ);
	assert_int_equal(granted(c, "u"), ACCESS_CREATE | ACCESS_UPDATE);
	assert_int_equal(granted(c, "d"), ACCESS_DELETE);
	assert_int_equal(granted(c, "star"), 0);
	assert_int_equal(granted(c, "two"), ACCESS_READ | ACCESS_DELETE);
	jwt_claims_free(c);
	free(tok);
}

static void test_challenge_names_realm_service_and_scope(void **state)
{
	struct err err = ERR_INIT;
	char *s;

	(void)state;
	s = jwt_challenge_new("https://auth.example/token", "reg", "a/b",
	                      ACCESS_READ | ACCESS_CREATE, false, &err);
	assert_string_equal(s, "Bearer realm=\"https://auth.example/token\","
	                       "service=\"reg\","
	                       "scope=\"repository:a/b:pull,push\"");
	free(s);
	s = jwt_challenge_new("r", "s", "a", ACCESS_DELETE, true, &err);
	assert_string_equal(s, "Bearer realm=\"r\",service=\"s\","
	                       "scope=\"repository:a:delete\","
	                       "error=\"insufficient_scope\"");
	free(s);
	s = jwt_challenge_new("r", "s", "a", ACCESS_UPDATE | ACCESS_READ, false,
	                      &err);
	assert_string_equal(s, "Bearer realm=\"r\",service=\"s\","
	                       "scope=\"repository:a:pull,push\"");
	free(s);
	s = jwt_challenge_new("r", "s", NULL, 0, false, &err);
	assert_string_equal(s, "Bearer realm=\"r\",service=\"s\"");
	free(s);
	s = jwt_challenge_new("a\"b\\c", "x\"", NULL, 0, false, &err);
	assert_string_equal(s,
	                    "Bearer realm=\"a\\\"b\\\\c\",service=\"x\\\"\"");
	free(s);
	assert_int_equal(err.code, ERR_OK);
}

static void test_challenge_refuses_what_it_cannot_quote(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_null(
		jwt_challenge_new("r\r\nX-Evil: 1", "s", NULL, 0, false, &err));
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_null(jwt_challenge_new("r", "s\x7f", NULL, 0, false, &err));
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_null(jwt_challenge_new("r", "s", "a/../b", ACCESS_READ, false,
	                              &err));
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_null(jwt_challenge_new("r", "s", "a\",x=\"y", ACCESS_READ, false,
	                              &err));
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	assert_null(jwt_challenge_new("r", "s", "a", ACCESS_DETECT_COLLISION,
	                              false, &err));
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_key_load_reads_certificates_and_refuses_the_rest(void **st)
{
	char dir[64], path[128];
	struct err err = ERR_INIT;
	struct jwt_key *k;
	EVP_PKEY *small;
	char *pem;
	FILE *f;

	(void)st;
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "jwt"), 0);
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(rsa_pem, f);
	fclose(f);
	k = jwt_key_load(path, &err);
	assert_non_null(k);
	assert_int_equal(k->type, KEY_RSA);
	jwt_key_free(k);

	/* Not a regular file: a directory, a FIFO nobody writes to. */
	assert_null(jwt_key_load(dir, &err));
	assert_int_equal(err.code, ERR_INVALID);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	err = ERR_INIT;
	assert_null(jwt_key_load(path, &err));
	assert_int_equal(err.code, ERR_INVALID);

	err = ERR_INIT;
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	assert_null(jwt_key_load(path, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);

	err = ERR_INIT;
	assert_null(jwt_key_parse("hello", 5, &err));
	assert_int_equal(err.code, ERR_INVALID);

	/* RSA under 2048 bits is refused. */
	err = ERR_INIT;
	small = EVP_RSA_gen(1024);
	assert_non_null(small);
	pem = pem_of(write_pubkey, small);
	assert_null(jwt_key_parse(pem, strlen(pem), &err));
	assert_int_equal(err.code, ERR_INVALID);
	free(pem);
	EVP_PKEY_free(small);
	test_rm_tree(dir);
}

static void test_every_allocation_failure_is_reported(void **state)
{
	char *tok = make(rsa, "RS256", GOOD_PAYLOAD);
	struct jwt_claims *c;
	long n;

	(void)state;
	for (n = 0;; n++) {
		struct err err = ERR_INIT;

		alloc_countdown = n;
		alloc_failed = false;
		c = jwt_verify(k_rsa, tok, strlen(tok), SERVICE, NOW, &err);
		alloc_countdown = -1;
		if (!alloc_failed) {
			assert_non_null(c);
			break;
		}
		if (err.code != ERR_NOMEM)
			fail_msg("allocation %ld: %s", n, err.msg);
	}
	assert_true(n > 5);
	assert_int_equal(granted(c, "library/alpine"),
	                 ACCESS_READ | ACCESS_CREATE | ACCESS_UPDATE);
	jwt_claims_free(c);
	free(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_rs256_token_is_accepted),
		cmocka_unit_test(test_valid_es256_token_is_accepted),
		cmocka_unit_test(test_rs384_rs512_and_es384_are_accepted),
		cmocka_unit_test(test_alg_none_is_refused),
		cmocka_unit_test(
			test_hs256_signed_with_the_public_key_is_refused),
		cmocka_unit_test(test_alg_not_matching_the_key_is_refused),
		cmocka_unit_test(test_crit_header_is_refused),
		cmocka_unit_test(test_signature_of_another_key_is_refused),
		cmocka_unit_test(test_expired_token_is_refused),
		cmocka_unit_test(test_token_not_yet_valid_is_refused),
		cmocka_unit_test(test_token_for_another_service_is_refused),
		cmocka_unit_test(test_malformed_base64url_is_refused),
		cmocka_unit_test(test_oversized_token_is_refused),
		cmocka_unit_test(test_bad_json_is_refused),
		cmocka_unit_test(test_scope_naming_dot_dot_grants_nothing),
		cmocka_unit_test(
			test_access_for_another_repository_grants_nothing),
		cmocka_unit_test(test_docker_actions_map_as_zot_maps_them),
		cmocka_unit_test(test_challenge_names_realm_service_and_scope),
		cmocka_unit_test(test_challenge_refuses_what_it_cannot_quote),
		cmocka_unit_test(
			test_key_load_reads_certificates_and_refuses_the_rest),
		cmocka_unit_test(test_every_allocation_failure_is_reported),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
