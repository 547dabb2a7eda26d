/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_auth.c - the Authorization header parser and the htpasswd reader
 * (http/auth.c).
 *
 * Input: a first byte choosing the parser ('f': an htpasswd file,
 * anything else: the header), then its text. Invariants: a parsed
 * header gives a user name of 1..AUTH_USER_MAX bytes with no control
 * character or colon (or both user and password empty, the anonymous
 * ":"), and a password within AUTH_PASS_MAX; a refusal is ERR_INVALID. A
 * parsed file holds no more users than it has lines.
 */
#include "http/auth.h"
#include "tests/fuzz/fuzz.h"

static void header(const uint8_t *data, size_t size)
{
	char user[AUTH_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	struct err err = ERR_INIT;
	char *hdr = fuzz_str(data, size);
	size_t ulen;

	if (!hdr)
		return;
	if (auth_basic_parse(hdr, user, pass, &err) == 0) {
		ulen = strlen(user);
		fuzz_check(ulen <= AUTH_USER_MAX);
		fuzz_check(strlen(pass) <= AUTH_PASS_MAX);
		fuzz_check(ulen > 0 || !pass[0]);
		for (size_t i = 0; i < ulen; i++)
			fuzz_check((unsigned char)user[i] >= 0x20 &&
			           user[i] != 0x7f && user[i] != ':');
	} else {
		fuzz_check(err.code == ERR_INVALID);
	}
	free(hdr);
}

static void file(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	struct htpasswd *h = NULL;
	size_t lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (htpasswd_parse((const char *)data, size, "fuzz", &h, &err) == 0) {
		fuzz_check(htpasswd_count(h) <= lines);
		htpasswd_free(h);
	} else {
		fuzz_check(!h);
		fuzz_check(err.code == ERR_INVALID || err.code == ERR_NOMEM);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 'f')
		file(data + 1, size - 1);
	else
		header(data + 1, size - 1);
	return 0;
}
