/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwtcheck.c - verify one bearer token with daemon/jwt.c, for the
 * integration tests of the token server.
 *
 * usage: jwtcheck CERT SERVICE REPO... < TOKEN
 *
 * Reads the token from stdin (one line), verifies it against the public
 * key of CERT for SERVICE at the current time, and prints "sub=<subject>"
 * then, per REPO, "<repo>=<actions>" with the access actions the token
 * grants there (comma-separated zot names, or "none"). Exits 1 with the
 * reason on stderr when the token is refused, 2 on a usage error.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/access.h"
#include "daemon/jwt.h"

int main(int argc, char **argv)
{
	static char tok[JWT_TOKEN_MAX + 2];
	struct err err = ERR_INIT;
	struct jwt_claims *c = NULL;
	struct jwt_key *key;
	size_t len;
	int ret = 1;

	if (argc < 3) {
		fprintf(stderr,
		        "usage: jwtcheck CERT SERVICE REPO... < TOKEN\n");
		return 2;
	}
	key = jwt_key_load(argv[1], &err);
	if (!key)
		goto out;
	len = fread(tok, 1, sizeof(tok) - 1, stdin);
	while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
		len--;
	c = jwt_verify(key, tok, len, argv[2], (int64_t)time(NULL), &err);
	if (!c)
		goto out;
	printf("sub=%s\n", c->subject);
	for (int i = 3; i < argc; i++) {
		const char *sep = "";
		unsigned acts;

		if (jwt_repo_actions(c, argv[i], &acts, &err) < 0)
			goto out;
		printf("%s=", argv[i]);
		for (unsigned bit = 1; bit <= ACCESS_DETECT_COLLISION;
		     bit <<= 1)
			if (acts & bit) {
				printf("%s%s", sep, access_action_name(bit));
				sep = ",";
			}
		printf("%s\n", acts ? "" : "none");
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "jwtcheck: %s (%s)\n", err.msg,
		        err_code_name(err.code));
	jwt_claims_free(c);
	jwt_key_free(key);
	return ret;
}
