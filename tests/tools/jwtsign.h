/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwtsign.h - make compact JWS tokens with OpenSSL, for the tests' token
 * server and the unit tests of daemon/jwt.c. Header only; test code, so
 * failures abort. Written apart from the verifier on purpose: a test
 * whose tokens came from the code under test would prove little.
 */
#ifndef DRAY_TESTS_JWTSIGN_H
#define DRAY_TESTS_JWTSIGN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

static inline void *jws_need(void *p)
{
	if (!p) {
		fprintf(stderr, "jwtsign: out of memory or OpenSSL failure\n");
		abort();
	}
	return p;
}

/* @n bytes at @p as unpadded base64url, in a new string. */
static inline char *jws_b64url(const void *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789-_";
	const unsigned char *in = p;
	char *out = jws_need(malloc(n / 3 * 4 + 5)), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		             in[i + 2];

		*o++ = tab[v >> 18];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		*o++ = tab[in[i] >> 2];
		*o++ = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = tab[in[i] >> 2];
		*o++ = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
		*o++ = tab[(in[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/*
 * Sign @msg with @key and digest @md ("SHA256"...); an EC signature is
 * returned as JWS wants it, r||s of @ec_half bytes each. New buffer.
 */
static inline unsigned char *jws_sign(EVP_PKEY *key, const char *md,
                                      size_t ec_half, const char *msg,
                                      size_t *len)
{
	EVP_MD_CTX *ctx = jws_need(EVP_MD_CTX_new());
	unsigned char *sig, *raw;
	const unsigned char *p;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;

	if (EVP_DigestSignInit(ctx, NULL, EVP_get_digestbyname(md), NULL,
	                       key) != 1 ||
	    EVP_DigestSign(ctx, NULL, len, (const unsigned char *)msg,
	                   strlen(msg)) != 1)
		jws_need(NULL);
	sig = jws_need(malloc(*len));
	if (EVP_DigestSign(ctx, sig, len, (const unsigned char *)msg,
	                   strlen(msg)) != 1)
		jws_need(NULL);
	EVP_MD_CTX_free(ctx);
	if (!ec_half)
		return sig;
	p = sig;
	es = jws_need(d2i_ECDSA_SIG(NULL, &p, (long)*len));
	ECDSA_SIG_get0(es, &r, &s);
	raw = jws_need(malloc(2 * ec_half));
	if (BN_bn2binpad(r, raw, (int)ec_half) < 0 ||
	    BN_bn2binpad(s, raw + ec_half, (int)ec_half) < 0)
		jws_need(NULL);
	ECDSA_SIG_free(es);
	free(sig);
	*len = 2 * ec_half;
	return raw;
}

/*
 * The compact token of header @hdr and payload @payload (JSON texts)
 * signed with @key by @alg: RS256/384/512 or ES256/384. New string.
 */
static inline char *jws_make(EVP_PKEY *key, const char *alg, const char *hdr,
                             const char *payload)
{
	char *h = jws_b64url(hdr, strlen(hdr));
	char *p = jws_b64url(payload, strlen(payload));
	char *input, *s64, *tok;
	const char *md = !strcmp(alg + 2, "384")   ? "SHA384"
	                 : !strcmp(alg + 2, "512") ? "SHA512"
	                                           : "SHA256";
	size_t ec_half = alg[0] != 'E' ? 0 : !strcmp(alg, "ES384") ? 48 : 32;
	unsigned char *sig;
	size_t n;

	n = strlen(h) + strlen(p) + 2;
	input = jws_need(malloc(n));
	snprintf(input, n, "%s.%s", h, p);
	sig = jws_sign(key, md, ec_half, input, &n);
	s64 = jws_b64url(sig, n);
	n = strlen(input) + strlen(s64) + 2;
	tok = jws_need(malloc(n));
	snprintf(tok, n, "%s.%s", input, s64);
	free(h);
	free(p);
	free(input);
	free(sig);
	free(s64);
	return tok;
}

#endif
