/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_challenge.c - the WWW-Authenticate parser of the sync client
 * (sync/sync.c), which reads what an upstream registry sends.
 *
 * Input: the header value. Invariants: it fails with ERR_INVALID or
 * succeeds with ERR_OK untouched; on success the scheme is Basic or
 * Bearer, and realm, service and scope are NUL-terminated within their
 * buffers; the first parse of the same input gives the same answer
 * (no state kept between calls).
 */
#include "sync/sync.h"
#include "tests/fuzz/fuzz.h"

static void check_field(const char *f, size_t size)
{
	fuzz_check(memchr(f, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sync_challenge a, b;
	struct err err = ERR_INIT, err2 = ERR_INIT;
	char *s = fuzz_str(data, size);
	int r;

	if (!s)
		return 0;
	r = sync_challenge_parse(s, &a, &err);
	if (r < 0) {
		fuzz_check(err.code == ERR_INVALID);
	} else {
		fuzz_check(r == 0 && err.code == ERR_OK);
		fuzz_check(a.scheme == SYNC_AUTH_BASIC ||
		           a.scheme == SYNC_AUTH_BEARER);
		check_field(a.realm, sizeof(a.realm));
		check_field(a.service, sizeof(a.service));
		check_field(a.scope, sizeof(a.scope));
	}
	fuzz_check(sync_challenge_parse(s, &b, &err2) == r);
	if (r == 0)
		fuzz_check(memcmp(&a, &b, sizeof(a)) == 0);
	free(s);
	return 0;
}
