/* SPDX-License-Identifier: Apache-2.0 */
/* digest.c - digest grammar and EVP hashing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "daemon/digest.h"

struct hasher {
	EVP_MD_CTX *ctx;     /* running hash */
	enum digest_alg alg; /* which algorithm */
};

static const char *const alg_names[] = {"sha256", "sha512"};
static const size_t alg_hex[] = {64, 128};

const char *digest_alg_name(enum digest_alg alg)
{
	return alg_names[alg];
}

size_t digest_hex_len(enum digest_alg alg)
{
	return alg_hex[alg];
}

static bool is_alg_component(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alg_separator(char c)
{
	return c == '+' || c == '.' || c == '_' || c == '-';
}

static bool is_encoded(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '=' || c == '_' || c == '-';
}

int digest_parse(struct digest *out, const char *s, size_t len,
                 struct err *err)
{
	const char *colon = memchr(s, ':', len);
	size_t alen, elen, i;
	bool prev_sep = true;

	if (!colon)
		return err_set(err, ERR_INVALID, "digest has no algorithm");
	alen = (size_t)(colon - s);
	elen = len - alen - 1;
	if (alen == 0 || elen == 0 || elen > 1024)
		return err_set(err, ERR_INVALID, "malformed digest");
	for (i = 0; i < alen; i++) {
		if (is_alg_component(s[i])) {
			prev_sep = false;
		} else if (is_alg_separator(s[i]) && !prev_sep) {
			prev_sep = true;
		} else {
			return err_set(err, ERR_INVALID,
			               "malformed digest algorithm");
		}
	}
	if (prev_sep)
		return err_set(err, ERR_INVALID, "malformed digest algorithm");
	for (i = 0; i < elen; i++)
		if (!is_encoded(colon[1 + i]))
			return err_set(err, ERR_INVALID,
			               "malformed digest encoding");
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		if (strlen(alg_names[a]) != alen ||
		    memcmp(s, alg_names[a], alen) != 0)
			continue;
		if (elen != alg_hex[a])
			return err_set(err, ERR_INVALID,
			               "%s digest must have %zu hex digits",
			               alg_names[a], alg_hex[a]);
		for (i = 0; i < elen; i++) {
			char c = colon[1 + i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return err_set(err, ERR_INVALID,
				               "%s digest must be lowercase hex",
				               alg_names[a]);
		}
		out->alg = (enum digest_alg)a;
		memcpy(out->hex, colon + 1, elen);
		out->hex[elen] = '\0';
		return 0;
	}
	return err_set(err, ERR_NOT_FOUND, "unsupported digest algorithm");
}

void digest_format(const struct digest *d, char out[DIGEST_STR_MAX])
{
	size_t n = strlen(alg_names[d->alg]);

	memcpy(out, alg_names[d->alg], n);
	out[n] = ':';
	memcpy(out + n + 1, d->hex, alg_hex[d->alg] + 1);
}

bool digest_equal(const struct digest *a, const struct digest *b)
{
	return a->alg == b->alg && strcmp(a->hex, b->hex) == 0;
}

static const EVP_MD *alg_md(enum digest_alg alg)
{
	/* EVP_get_digestbyname is slow; the static getters are not. */
	return alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

struct hasher *hasher_new(enum digest_alg alg)
{
	struct hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, alg_md(alg), NULL) != 1) {
		hasher_free(h);
		return NULL;
	}
	return h;
}

void hasher_update(struct hasher *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

void hasher_copy(struct hasher *dst, const struct hasher *src)
{
	EVP_MD_CTX_copy_ex(dst->ctx, src->ctx);
}

void hasher_final(struct hasher *h, struct digest *out)
{
	static const char hexdig[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	out->alg = h->alg;
	for (unsigned int i = 0; i < n; i++) {
		out->hex[2 * i] = hexdig[md[i] >> 4];
		out->hex[2 * i + 1] = hexdig[md[i] & 15];
	}
	out->hex[2 * n] = '\0';
}

void hasher_free(struct hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int digest_buffer(enum digest_alg alg, const void *buf, size_t len,
                  struct digest *out, struct err *err)
{
	struct hasher *h = hasher_new(alg);

	if (!h)
		return err_set(err, ERR_NOMEM, "cannot start hash");
	hasher_update(h, buf, len);
	hasher_final(h, out);
	hasher_free(h);
	return 0;
}

int digest_fd(enum digest_alg alg, int fd, struct digest *out,
              struct err *err)
{
	enum { CHUNK = 1 << 20 };
	struct hasher *h = NULL;
	char *buf = NULL;
	off_t off = 0;
	ssize_t n;
	int ret = -1;

	h = hasher_new(alg);
	buf = malloc(CHUNK);
	if (!h || !buf) {
		err_set(err, ERR_NOMEM, "cannot start hash");
		goto out;
	}
	for (;;) {
		n = pread(fd, buf, CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set_errno(err, errno, "cannot read for hashing");
			goto out;
		}
		if (n == 0)
			break;
		hasher_update(h, buf, (size_t)n);
		off += n;
	}
	hasher_final(h, out);
	ret = 0;
out:
	free(buf);
	hasher_free(h);
	return ret;
}
