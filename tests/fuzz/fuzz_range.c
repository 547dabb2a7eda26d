/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_range.c - the Range and Content-Range headers (http/range.c).
 *
 * Input: 8 bytes of blob size (little-endian), then the header text.
 * Invariants: a satisfiable Range lies inside the blob; a parsed
 * Content-Range has start <= end.
 */
#include "http/range.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	uint64_t blob = 0, start = 0, end = 0;
	enum range_result r;
	char *hdr;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		blob = blob << 8 | data[i];
	hdr = fuzz_str(data + 8, size - 8);
	if (!hdr)
		return 0;
	r = range_parse(hdr, blob, &start, &end);
	fuzz_check(r == RANGE_NONE || r == RANGE_OK ||
	           r == RANGE_UNSATISFIABLE);
	if (r == RANGE_OK)
		fuzz_check(start <= end && end < blob);
	if (content_range_parse(hdr, &start, &end, &err) == 0)
		fuzz_check(start <= end && end <= (uint64_t)INT64_MAX);
	else
		fuzz_check(err.code == ERR_INVALID);
	free(hdr);
	return 0;
}
