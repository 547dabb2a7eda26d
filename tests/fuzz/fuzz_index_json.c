/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_index_json.c - a repository's index.json as dray loads it: the
 * mount's check of a written index.json (index/fsview.c parse_index()),
 * and the store's load of one found on disk (index/store.c repo_load()
 * with the RocksDB re-index), read back as tags and a manifest.
 *
 * fsview.c is included for its static parse_index(). Input: the file.
 * Invariants: every tag dray lists passes the tag grammar, since the tag
 * list is JSON written without escaping (http/list.c).
 */
#include "index/fsview.c"
#include "tests/fuzz/fuzz.h"

#define REPO "fz/idx"

static struct store *setup(char *path, char *tmp)
{
	static struct store *st;
	struct err err = ERR_INIT;

	st = fuzz_store();
	if (repo_create(st, REPO, &err) < 0) {
		fprintf(stderr, "repo_create: %s\n", err.msg);
		abort();
	}
	snprintf(path, PATH_MAX, "%s/%s/index.json", fuzz_root, REPO);
	snprintf(tmp, PATH_MAX, "%s/index.json.fuzz", fuzz_root);
	return st;
}

/*
 * Replace index.json without fsync: rename gives it a new inode, so the
 * store's cache (inode, size, mtime) always sees the change.
 */
static void put_index(const char *path, const char *tmp, const uint8_t *data,
                      size_t size)
{
	FILE *f = fopen(tmp, "w");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0 ||
	    rename(tmp, path) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX], tmp[PATH_MAX];
	static struct store *st;
	struct err err = ERR_INIT, check = ERR_INIT;
	struct manifest_desc desc;
	struct strvec sv = {0};
	char *copy, *body;
	bool more;
	json_t *j;

	if (!st)
		st = setup(path, tmp);
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	j = parse_index(copy, size, &err);
	if (!j)
		fuzz_check(err.code == ERR_INVALID);
	json_decref(j);
	free(copy);

	put_index(path, tmp, data, size);
	err = ERR_INIT;
	if (store_tags(st, REPO, NULL, SIZE_MAX, &sv, &more, &err) == 0) {
		for (size_t i = 0; i < sv.n; i++)
			fuzz_check(ref_tag_check(sv.v[i], &check) == 0);
	}
	strvec_release(&sv);
	err = ERR_INIT;
	if (store_manifest_get(st, REPO, "latest", &desc, &body, &err) == 0)
		free(body);
	return 0;
}
