/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt.c - verify docker-protocol bearer tokens with OpenSSL's libcrypto.
 *
 * The token is taken apart in the order that exposes the least: size,
 * three base64url parts, the header (whose alg must fit the key), then
 * the signature over the first two parts as sent; only a token whose
 * signature holds has its payload parsed. JWS ECDSA signatures are the
 * raw r||s pair (RFC 7518 3.4), which is turned into the DER OpenSSL
 * verifies.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/base64.h"
#include "daemon/access.h"
#include "daemon/fsutil.h"
#include "daemon/jwt.h"
#include "daemon/ref.h"

#define KEY_FILE_MAX  (64 * 1024) /* bytes read from a key or cert file */
#define RSA_BITS_MIN  2048
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum key_type { KEY_RSA, KEY_EC256, KEY_EC384 };

struct jwt_key {
	EVP_PKEY *pkey;     /* the public key */
	enum key_type type; /* which algorithms may use it */
};

/* One algorithm this verifier accepts. */
struct alg {
	const char *name;   /* the header's alg */
	enum key_type type; /* the key it needs */
	const char *md;     /* digest name for EVP_get_digestbyname */
	size_t ec_half;     /* ECDSA: bytes of r (and of s); 0 for RSA */
};

static const struct alg algs[] = {
	{"RS256", KEY_RSA, "SHA256", 0},    {"RS384", KEY_RSA, "SHA384", 0},
	{"RS512", KEY_RSA, "SHA512", 0},    {"ES256", KEY_EC256, "SHA256", 32},
	{"ES384", KEY_EC384, "SHA384", 48},
};

static int nomem(struct err *err)
{
	return err_set(err, ERR_NOMEM, "out of memory");
}

static struct jwt_key *key_of(EVP_PKEY *pkey, struct err *err)
{
	struct jwt_key *key;
	char group[64];
	size_t glen = 0;

	key = calloc(1, sizeof(*key));
	if (!key) {
		nomem(err);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	key->pkey = pkey;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) < RSA_BITS_MIN) {
			err_set(err, ERR_INVALID,
			        "RSA key of %d bits, under %d",
			        EVP_PKEY_get_bits(pkey), RSA_BITS_MIN);
			goto fail;
		}
		key->type = KEY_RSA;
		return key;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(
			    pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
			    sizeof(group), &glen)) {
			err_set(err, ERR_INVALID,
			        "EC key without a named curve");
			goto fail;
		}
		if (!strcmp(group, SN_X9_62_prime256v1)) {
			key->type = KEY_EC256;
			return key;
		}
		if (!strcmp(group, SN_secp384r1)) {
			key->type = KEY_EC384;
			return key;
		}
		err_set(err, ERR_INVALID,
		        "EC key on curve '%s', not P-256 or P-384", group);
		goto fail;
	default:
		err_set(err, ERR_INVALID, "key is neither RSA nor EC");
		goto fail;
	}
fail:
	jwt_key_free(key);
	return NULL;
}

struct jwt_key *jwt_key_parse(const char *pem, size_t len, struct err *err)
{
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	BIO *bio;

	if (len > INT_MAX)
		len = INT_MAX;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		nomem(err);
		return NULL;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (cert) {
		pkey = X509_get_pubkey(cert);
		X509_free(cert);
	} else if (BIO_reset(bio) == 1) {
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	/* A failed attempt leaves OpenSSL's per-thread error queue filled. */
	ERR_clear_error();
	if (!pkey) {
		err_set(err, ERR_INVALID,
		        "no PEM certificate or public key found");
		return NULL;
	}
	return key_of(pkey, err);
}

struct jwt_key *jwt_key_load(const char *path, struct err *err)
{
	struct jwt_key *key;
	struct stat st;
	char *buf;
	size_t len;

	/* Not a FIFO or a device: reading one could block startup. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		err_set(err, ERR_INVALID, "'%s' is not a regular file", path);
		return NULL;
	}
	if (fs_read_file(path, KEY_FILE_MAX, &buf, &len, err) < 0)
		return NULL;
	key = jwt_key_parse(buf, len, err);
	if (!key)
		err_prefix(err, "'%s'", path);
	free(buf);
	return key;
}

void jwt_key_free(struct jwt_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

/*
 * Decode @len bytes of unpadded base64url into a new *@out of *@out_len
 * bytes (plus a NUL, for JSON). Strict: only the URL alphabet, no '=',
 * no length of 1 mod 4, and the unused low bits of the last character
 * zero, so each byte string has exactly one encoding.
 */
static int b64url_decode(const char *s, size_t len, unsigned char **out,
                         size_t *out_len, const char *what, struct err *err)
{
	unsigned char *buf;
	unsigned acc = 0;
	size_t n = 0, bits = 0;

	if (len % 4 == 1)
		return err_set(err, ERR_INVALID,
		               "%s: base64url of impossible length", what);
	buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return nomem(err);
	for (size_t i = 0; i < len; i++) {
		int v = base64_digit((unsigned char)s[i], true);

		if (v < 0) {
			free(buf);
			return err_set(err, ERR_INVALID, "%s: not base64url",
			               what);
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1)) {
		free(buf);
		return err_set(err, ERR_INVALID,
		               "%s: base64url with trailing bits", what);
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

/* Parse @len bytes of JSON that must be an object. */
static json_t *json_object_of(const unsigned char *s, size_t len,
                              const char *what, struct err *err)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb((const char *)s, len, JSON_REJECT_DUPLICATES, &jerr);
	/* jansson leaves the text empty when its lexer cannot start (no
	 * memory) and says so in the code for later failures. */
	if (!j && (json_error_code(&jerr) == json_error_out_of_memory ||
	           !jerr.text[0])) {
		nomem(err);
		return NULL;
	}
	if (!j) {
		/* jerr.text quotes the input: keep the token out of logs. */
		err_set(err, ERR_INVALID, "%s: not JSON (column %d)", what,
		        jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, ERR_INVALID, "%s: not a JSON object", what);
		return NULL;
	}
	return j;
}

/* The algorithm the header names, if this verifier takes it with @key. */
static const struct alg *header_alg(const json_t *hdr,
                                    const struct jwt_key *key, struct err *err)
{
	const char *name = json_string_value(json_object_get(hdr, "alg"));

	if (!name) {
		err_set(err, ERR_INVALID, "token header has no alg string");
		return NULL;
	}
	/* Extensions we would have to understand: refuse (RFC 7515 4.1.11). */
	if (json_object_get(hdr, "crit")) {
		err_set(err, ERR_DENIED, "token header has crit");
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		if (strcmp(algs[i].name, name) != 0)
			continue;
		if (algs[i].type != key->type) {
			err_set(err, ERR_DENIED,
			        "token alg does not fit the configured key");
			return NULL;
		}
		return &algs[i];
	}
	err_set(err, ERR_DENIED,
	        "token alg refused (only RS256, RS384, "
	        "RS512, ES256 and ES384 are accepted)");
	return NULL;
}

/* Turn a JWS r||s signature into a new DER ECDSA-Sig-Value. */
static int ecdsa_der(const unsigned char *sig, size_t len, size_t half,
                     unsigned char **der, size_t *der_len, struct err *err)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int n, ret = -1;

	*der = NULL;
	if (len != 2 * half)
		return err_set(err, ERR_DENIED, "bad token signature length");
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, (int)half, NULL);
	s = BN_bin2bn(sig + half, (int)half, NULL);
	if (!es || !r || !s) {
		nomem(err);
		goto out;
	}
	ECDSA_SIG_set0(es, r, s); /* es owns them now */
	r = s = NULL;
	n = i2d_ECDSA_SIG(es, der);
	if (n <= 0) {
		nomem(err);
		goto out;
	}
	*der_len = (size_t)n;
	ret = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}

/* Does @sig sign @msg under @key with @alg? */
static int check_signature(const struct jwt_key *key, const struct alg *alg,
                           const char *msg, size_t msg_len,
                           const unsigned char *sig, size_t sig_len,
                           struct err *err)
{
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md;
	int ret = -1;

	if (alg->ec_half) {
		if (ecdsa_der(sig, sig_len, alg->ec_half, &der, &sig_len, err) <
		    0)
			return -1;
		sig = der;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
		return err_set(err, ERR_DENIED, "bad token signature length");
	}
	md = EVP_get_digestbyname(alg->md);
	ctx = EVP_MD_CTX_new();
	if (!md || !ctx) {
		nomem(err);
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->pkey) != 1 ||
	    EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg,
	                     msg_len) != 1) {
		ERR_clear_error();
		err_set(err, ERR_DENIED, "bad token signature");
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ret;
}

/*
 * A NumericDate claim @name into *@t; *@t untouched when absent. Go's
 * token servers may write it as a float: its whole seconds count
 * (truncated toward zero).
 */
static int numeric_date(const json_t *claims, const char *name, int64_t *t,
                        struct err *err)
{
	const json_t *v = json_object_get(claims, name);
	double d;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*t = json_integer_value(v);
		return 0;
	}
	d = json_is_real(v) ? json_real_value(v) : 0;
	if (!json_is_real(v) || !(d > -9.2e18 && d < 9.2e18))
		return err_set(err, ERR_INVALID, "token claim %s is not a date",
		               name);
	*t = (int64_t)d;
	return 0;
}

/* Check exp, nbf and iat against @now. */
static int check_times(const json_t *claims, int64_t now, int64_t *exp,
                       struct err *err)
{
	int64_t nbf = INT64_MIN, iat = INT64_MIN;

	*exp = INT64_MIN;
	if (numeric_date(claims, "exp", exp, err) < 0 ||
	    numeric_date(claims, "nbf", &nbf, err) < 0 ||
	    numeric_date(claims, "iat", &iat, err) < 0)
		return -1;
	if (!json_object_get(claims, "exp"))
		return err_set(err, ERR_DENIED, "token has no exp");
	if (now >= *exp)
		return err_set(err, ERR_DENIED, "token expired");
	if (nbf != INT64_MIN && nbf > now && nbf - now > JWT_LEEWAY_S)
		return err_set(err, ERR_DENIED, "token not valid yet (nbf)");
	if (iat != INT64_MIN && iat > now && iat - now > JWT_LEEWAY_S)
		return err_set(err, ERR_DENIED, "token issued in the future");
	return 0;
}

/* aud must be @service, or an array holding it (RFC 7519 4.1.3). */
static int check_audience(const json_t *claims, const char *service,
                          struct err *err)
{
	const json_t *aud = json_object_get(claims, "aud"), *v;
	size_t i;

	if (json_is_string(aud)) {
		if (!strcmp(json_string_value(aud), service))
			return 0;
	} else if (json_is_array(aud)) {
		json_array_foreach(aud, i, v)
		{
			if (!json_is_string(v))
				return err_set(err, ERR_INVALID,
				               "token aud holds a non-string");
			if (!strcmp(json_string_value(v), service))
				return 0;
		}
	} else if (aud) {
		return err_set(err, ERR_INVALID, "token aud is not a string");
	} else {
		return err_set(err, ERR_DENIED, "token has no aud");
	}
	return err_set(err, ERR_DENIED, "token is for another service");
}

/* A new copy of JSON string @v into *@out. */
static int str_of(const json_t *v, char **out, struct err *err)
{
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID,
		               "token access entry is malformed");
	*out = strdup(json_string_value(v));
	return *out ? 0 : nomem(err);
}

/* Fill @a from one element of the access claim. */
static int access_entry(const json_t *e, struct jwt_access *a, struct err *err)
{
	const json_t *acts = json_object_get(e, "actions"), *v;
	size_t i;

	if (!json_is_object(e) || !json_is_array(acts))
		return err_set(err, ERR_INVALID,
		               "token access entry is malformed");
	if (str_of(json_object_get(e, "type"), &a->type, err) < 0 ||
	    str_of(json_object_get(e, "name"), &a->name, err) < 0)
		return -1;
	a->actions = calloc(json_array_size(acts) + 1, sizeof(char *));
	if (!a->actions)
		return nomem(err);
	json_array_foreach(acts, i, v)
	{
		if (str_of(v, &a->actions[i], err) < 0)
			return -1;
		a->n_actions++;
	}
	return 0;
}

static int read_claims(const json_t *j, struct jwt_claims *c, struct err *err)
{
	const json_t *sub = json_object_get(j, "sub"),
		     *acc = json_object_get(j, "access"), *e;
	size_t i;

	if (sub && !json_is_string(sub))
		return err_set(err, ERR_INVALID, "token sub is not a string");
	c->subject = strdup(sub ? json_string_value(sub) : "");
	if (!c->subject)
		return nomem(err);
	if (!acc || json_is_null(acc))
		return 0;
	if (!json_is_array(acc))
		return err_set(err, ERR_INVALID,
		               "token access is not an array");
	c->access = calloc(json_array_size(acc) + 1, sizeof(*c->access));
	if (!c->access)
		return nomem(err);
	json_array_foreach(acc, i, e)
	{
		c->n_access++;
		if (access_entry(e, &c->access[i], err) < 0)
			return -1;
	}
	return 0;
}

struct jwt_claims *jwt_verify(const struct jwt_key *key, const char *token,
                              size_t len, const char *service, int64_t now,
                              struct err *err)
{
	unsigned char *hdr_raw = NULL, *pay_raw = NULL, *sig = NULL;
	size_t hdr_len, pay_len, sig_len;
	const char *dot1, *dot2;
	json_t *hdr = NULL, *pay = NULL;
	struct jwt_claims *c = NULL;
	const struct alg *alg;
	int ret = -1;

	if (len > JWT_TOKEN_MAX) {
		err_set(err, ERR_TOO_LARGE, "token longer than %d bytes",
		        JWT_TOKEN_MAX);
		return NULL;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))
	            : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
		err_set(err, ERR_INVALID, "token is not three dotted parts");
		return NULL;
	}
	if (b64url_decode(token, (size_t)(dot1 - token), &hdr_raw, &hdr_len,
	                  "token header", err) < 0 ||
	    b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pay_raw,
	                  &pay_len, "token payload", err) < 0 ||
	    b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig,
	                  &sig_len, "token signature", err) < 0)
		goto out;
	hdr = json_object_of(hdr_raw, hdr_len, "token header", err);
	if (!hdr)
		goto out;
	alg = header_alg(hdr, key, err);
	if (!alg)
		goto out;
	if (check_signature(key, alg, token, (size_t)(dot2 - token), sig,
	                    sig_len, err) < 0)
		goto out;
	pay = json_object_of(pay_raw, pay_len, "token payload", err);
	if (!pay)
		goto out;
	c = calloc(1, sizeof(*c));
	if (!c) {
		nomem(err);
		goto out;
	}
	if (check_times(pay, now, &c->exp, err) < 0 ||
	    check_audience(pay, service, err) < 0 ||
	    read_claims(pay, c, err) < 0)
		goto out;
	ret = 0;
out:
	json_decref(hdr);
	json_decref(pay);
	free(hdr_raw);
	free(pay_raw);
	free(sig);
	if (ret < 0) {
		jwt_claims_free(c);
		return NULL;
	}
	return c;
}

void jwt_claims_free(struct jwt_claims *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_access; i++) {
		struct jwt_access *a = &c->access[i];

		free(a->type);
		free(a->name);
		for (size_t j = 0; j < a->n_actions; j++)
			free(a->actions[j]);
		free(a->actions);
	}
	free(c->access);
	free(c->subject);
	free(c);
}

/* docker's action names and what each grants, as zot reads them. */
static const struct {
	const char *name;
	unsigned actions;
} docker_actions[] = {
	{"pull", ACCESS_READ},
	{"push", ACCESS_CREATE | ACCESS_UPDATE},
	{"delete", ACCESS_DELETE},
};

int jwt_repo_actions(const struct jwt_claims *c, const char *repo,
                     unsigned *actions, struct err *err)
{
	unsigned got = 0;

	if (ref_name_check(repo, err) < 0)
		return -1;
	for (size_t i = 0; i < c->n_access; i++) {
		const struct jwt_access *a = &c->access[i];

		if (strcmp(a->type, "repository") != 0 ||
		    strcmp(a->name, repo) != 0)
			continue;
		for (size_t j = 0; j < a->n_actions; j++)
			for (size_t k = 0; k < ARRAY_SIZE(docker_actions); k++)
				if (!strcmp(a->actions[j],
				            docker_actions[k].name))
					got |= docker_actions[k].actions;
	}
	*actions = got;
	return 0;
}

/* Append @s as the body of a quoted-string (RFC 9110 5.6.4). */
static int put_quoted(char *buf, size_t *n, const char *s, const char *what,
                      struct err *err)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			return err_set(err, ERR_INVALID,
			               "%s holds a control character", what);
		if (ch == '"' || ch == '\\')
			buf[(*n)++] = '\\';
		buf[(*n)++] = (char)ch;
	}
	return 0;
}

static void put(char *buf, size_t *n, const char *s)
{
	size_t l = strlen(s);

	memcpy(buf + *n, s, l);
	*n += l;
}

char *jwt_challenge_new(const char *realm, const char *service,
                        const char *repo, unsigned actions, bool insufficient,
                        struct err *err)
{
	const char *sep = "";
	size_t n = 0, cap;
	char *buf;

	if (repo && ref_name_check(repo, err) < 0)
		return NULL;
	if (repo && !(actions & (ACCESS_READ | ACCESS_CREATE | ACCESS_UPDATE |
	                         ACCESS_DELETE))) {
		err_set(err, ERR_INVALID, "challenge names no docker action");
		return NULL;
	}
	/* Escaping at most doubles realm and service. */
	cap = 2 * strlen(realm) + 2 * strlen(service) +
	      (repo ? strlen(repo) : 0) + 160;
	buf = malloc(cap);
	if (!buf) {
		nomem(err);
		return NULL;
	}
	put(buf, &n, "Bearer realm=\"");
	if (put_quoted(buf, &n, realm, "realm", err) < 0)
		goto fail;
	put(buf, &n, "\",service=\"");
	if (put_quoted(buf, &n, service, "service", err) < 0)
		goto fail;
	put(buf, &n, "\"");
	if (repo) {
		put(buf, &n, ",scope=\"repository:");
		put(buf, &n, repo);
		put(buf, &n, ":");
		for (size_t k = 0; k < ARRAY_SIZE(docker_actions); k++) {
			if (!(actions & docker_actions[k].actions))
				continue;
			put(buf, &n, sep);
			put(buf, &n, docker_actions[k].name);
			sep = ",";
		}
		put(buf, &n, "\"");
	}
	if (insufficient)
		put(buf, &n, ",error=\"insufficient_scope\"");
	buf[n] = '\0';
	return buf;
fail:
	free(buf);
	return NULL;
}
