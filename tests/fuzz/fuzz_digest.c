/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_digest.c - digest_parse() on raw bytes (daemon/digest.c).
 *
 * The input is passed with its exact length and no terminator, so a read
 * past @len is an ASan report. Invariant: a parsed digest formats to a
 * string that parses back to the same digest.
 */
#include "daemon/digest.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	char text[DIGEST_STR_MAX];
	struct digest d, again;

	if (digest_parse(&d, (const char *)data, size, &err) < 0) {
		fuzz_check(err.code == ERR_INVALID ||
		           err.code == ERR_NOT_FOUND);
		return 0;
	}
	fuzz_check(strlen(d.hex) == digest_hex_len(d.alg));
	digest_format(&d, text);
	fuzz_check(strlen(text) == size && memcmp(text, data, size) == 0);
	fuzz_check(digest_parse(&again, text, strlen(text), &err) == 0);
	fuzz_check(digest_equal(&d, &again));
	return 0;
}
