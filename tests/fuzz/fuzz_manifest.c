/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manifest.c - manifest and index JSON (index/manifest.c
 * msum_parse()), as a PUT hands it over.
 *
 * Input: "<Content-Type>\n<body>"; the body keeps its exact length (no
 * terminator). Invariants: an accepted manifest has a media type dray
 * serves, and an index references only manifests.
 */
#include "index/store_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	struct err err = ERR_INIT;
	char *ctype = NULL, *body;
	size_t len = size;
	struct msum *m;

	if (nl) {
		ctype = fuzz_str(data, (size_t)(nl - data));
		if (!ctype)
			return 0;
		len = size - (size_t)(nl + 1 - data);
	}
	/* A copy of exactly @len bytes, so a read past it is reported. */
	body = malloc(len ? len : 1);
	if (!body)
		abort();
	memcpy(body, size - len + data, len);
	m = msum_parse(body, len, ctype, &err);
	if (!m) {
		fuzz_check(err.code == ERR_INVALID || err.code == ERR_NOMEM);
	} else {
		fuzz_check(memchr(m->media_type, '\0', sizeof(m->media_type)));
		fuzz_check(m->is_index ==
		           (strcmp(m->media_type, MT_OCI_INDEX) == 0 ||
		            strcmp(m->media_type, MT_DOCKER_LIST) == 0));
		fuzz_check(m->size == len);
		for (size_t i = 0; i < m->nrefs; i++)
			fuzz_check(strlen(m->refs[i].hex) ==
			           digest_hex_len(m->refs[i].alg));
		msum_free(m);
	}
	free(body);
	free(ctype);
	return 0;
}
