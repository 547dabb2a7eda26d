/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_jwt.c - bearer tokens (daemon/jwt.c): jwt_verify(),
 * jwt_repo_actions() and jwt_challenge_new().
 *
 * The whole input is verified as a token, which reaches the header and
 * signature checks only (no input forges a signature). To reach the
 * claims too, an input "<header JSON>\n<payload JSON>" is also signed
 * here with the harness's own ES256 key and verified. Invariants: a
 * refused token says why, with one of the documented codes; an accepted
 * one is unexpired, and each of its access entries grants only docker's
 * three actions' bits, and nothing on an invalid name; a challenge built
 * from the input holds no control character and names the scope asked.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "daemon/access.h"
#include "daemon/jwt.h"
#include "tests/fuzz/fuzz.h"
#include "tests/tools/jwtsign.h"

#define SERVICE "fuzz.service"
#define NOW     INT64_C(1800000000)

static EVP_PKEY *priv;
static struct jwt_key *pub;

static void init(void)
{
	struct err err = ERR_INIT;
	BIO *b;
	char *pem;
	long n;

	priv = EVP_EC_gen("P-256");
	b = BIO_new(BIO_s_mem());
	if (!priv || !b || PEM_write_bio_PUBKEY(b, priv) != 1)
		abort();
	n = BIO_get_mem_data(b, &pem);
	pub = jwt_key_parse(pem, (size_t)n, &err);
	BIO_free(b);
	if (!pub)
		abort();
}

static void check(const char *tok, size_t len)
{
	const unsigned all =
		ACCESS_READ | ACCESS_CREATE | ACCESS_UPDATE | ACCESS_DELETE;
	struct err err = ERR_INIT;
	struct jwt_claims *c;

	c = jwt_verify(pub, tok, len, SERVICE, NOW, &err);
	if (!c) {
		fuzz_check(err.msg[0]);
		fuzz_check(err.code == ERR_INVALID || err.code == ERR_DENIED ||
		           err.code == ERR_TOO_LARGE || err.code == ERR_NOMEM);
		return;
	}
	fuzz_check(len <= JWT_TOKEN_MAX && c->exp > NOW && c->subject);
	for (size_t i = 0; i < c->n_access; i++) {
		const struct jwt_access *a = &c->access[i];
		unsigned got = 0;

		fuzz_check(a->type && a->name);
		for (size_t j = 0; j < a->n_actions; j++)
			fuzz_check(a->actions[j]);
		err = ERR_INIT;
		if (jwt_repo_actions(c, a->name, &got, &err) < 0) {
			fuzz_check(err.code == ERR_INVALID);
			continue;
		}
		fuzz_check((got & ~all) == 0);
	}
	jwt_claims_free(c);
}

static void check_challenge(const char *realm, const char *repo)
{
	struct err err = ERR_INIT;
	char *s, *scope;

	s = jwt_challenge_new(realm, SERVICE, repo, ACCESS_READ, true, &err);
	if (!s) {
		fuzz_check(err.code == ERR_INVALID || err.code == ERR_NOMEM);
		return;
	}
	for (const char *p = s; *p; p++)
		fuzz_check((unsigned char)*p >= 0x20 && *p != 0x7f);
	scope = strstr(s, ",scope=\"repository:");
	fuzz_check(scope && !strncmp(scope + 19, repo, strlen(repo)) &&
	           !strcmp(scope + 19 + strlen(repo),
	                   ":pull\",error=\"insufficient_scope\""));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *rest, *hdr, *tok;

	if (!pub)
		init();
	check((const char *)data, size);
	if (!s)
		return 0;
	rest = s;
	hdr = fuzz_field(&rest);
	check_challenge(hdr, rest);
	if (*rest) {
		tok = jws_make(priv, "ES256", hdr, rest);
		check(tok, strlen(tok));
		free(tok);
	}
	free(s);
	return 0;
}
