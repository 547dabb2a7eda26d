/* SPDX-License-Identifier: Apache-2.0 */
/*
 * digest.h - content digests ("sha256:<hex>", "sha512:<hex>") and hashing.
 *
 * Parsing follows the image-spec grammar; only the registered algorithms
 * sha256 and sha512 with lowercase hex are accepted. Hashing uses OpenSSL
 * EVP and is meant to run as bytes arrive, never as a second pass.
 */
#ifndef DRAY_DIGEST_H
#define DRAY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"

enum digest_alg { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 };

#define DIGEST_HEX_MAX 128
#define DIGEST_STR_MAX (7 + DIGEST_HEX_MAX + 1) /* "sha512:" hex NUL */

struct digest {
	enum digest_alg alg;           /* which algorithm */
	char hex[DIGEST_HEX_MAX + 1];  /* lowercase hex, NUL-terminated */
};

/*
 * Parse @len bytes at @s as a digest. Fails with ERR_INVALID (not the
 * digest grammar, or a registered algorithm with the wrong encoding) or
 * ERR_NOT_FOUND (a well-formed digest of an algorithm dray does not know,
 * which the HTTP layer answers with UNSUPPORTED).
 */
MUST_CHECK int digest_parse(struct digest *out, const char *s, size_t len,
                            struct err *err);

/* "sha256:…" into @out. */
void digest_format(const struct digest *d, char out[DIGEST_STR_MAX]);

const char *digest_alg_name(enum digest_alg alg);
size_t digest_hex_len(enum digest_alg alg);
bool digest_equal(const struct digest *a, const struct digest *b);

struct hasher; /* opaque: an EVP context */

/* A new hasher for @alg, or NULL (out of memory). */
struct hasher *hasher_new(enum digest_alg alg);
void hasher_update(struct hasher *h, const void *buf, size_t len);
/* Make @dst continue from @src's state (same algorithm). */
void hasher_copy(struct hasher *dst, const struct hasher *src);
/* The digest of everything fed so far; the hasher may not be fed again. */
void hasher_final(struct hasher *h, struct digest *out);
void hasher_free(struct hasher *h);

/* Digest of a buffer. Fails only with ERR_NOMEM. */
MUST_CHECK int digest_buffer(enum digest_alg alg, const void *buf,
                             size_t len, struct digest *out, struct err *err);

/* Digest of a file's content from offset 0. ERR_IO or ERR_NOMEM. */
MUST_CHECK int digest_fd(enum digest_alg alg, int fd, struct digest *out,
                         struct err *err);

#endif
