/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_park.c - the record a parked upload session leaves for the next
 * start (index/park.c restore_one(), through upload_restore_all()):
 * "<repo>\n<offset>\n<last use ms>\n".
 *
 * Each input is written as the record of one session whose (empty)
 * staging file exists, then the store restores it; a session that comes
 * back is cancelled again. Invariants: the record is consumed, and a
 * restored session stands at offset 0, the staging file's size.
 */
#include <unistd.h>

#include "daemon/hmap.h"
#include "index/store_int.h"
#include "tests/fuzz/fuzz.h"

/* An upload id: 32 hex digits (UPLOAD_ID_LEN in index/store_int.h). */
#define ID "00112233445566778899aabbccddeeff"

static void put_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st = fuzz_store();
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	struct upload *u;

	snprintf(path, sizeof(path), "%s/%s", st->updir, ID);
	put_file(path, NULL, 0);
	snprintf(path, sizeof(path), "%s/%s.park", st->updir, ID);
	put_file(path, data, size);
	if (upload_restore_all(st, &err) < 0) {
		fprintf(stderr, "upload_restore_all: %s\n", err.msg);
		abort();
	}
	fuzz_check(access(path, F_OK) < 0); /* the record is consumed */
	u = hmap_get(st->uploads, ID);
	if (u) {
		fuzz_check(store_upload_offset(u) == 0);
		store_upload_cancel(u);
	}
	return 0;
}
