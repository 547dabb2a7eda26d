/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_fspath.c - the mount's path classification (index/fsview.c):
 * classify() for files created through the mount, view_path() for
 * everything read, and the read-only calls built on them.
 *
 * fsview.c is included for its static helpers (as tests/unit does with
 * config.c); the library's copy is then never linked in. Input: the path
 * relative to the mount root. Invariants: a created file's repository is
 * a valid name and a prefix of the path; a blob's name is a digest; no
 * path that reaches the file system has a "." or ".." component.
 */
#include "index/fsview.c"
#include "tests/fuzz/fuzz.h"

static void check_components(const char *rel)
{
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");

		fuzz_check(n > 0 && strncmp(p, ".", n) != 0 &&
		           strncmp(p, "..", n) != 0);
		p += n;
		if (*p == '/')
			p++;
	}
}

static void check_classify(const char *rel)
{
	struct fs_writer *w = calloc(1, sizeof(*w));
	struct err err = ERR_INIT, check = ERR_INIT;
	size_t n;

	if (!w)
		abort();
	if (classify(rel, w, &err) < 0) {
		fuzz_check(err.code != ERR_OK);
		goto out;
	}
	n = strlen(w->repo);
	fuzz_check(ref_name_check(w->repo, &check) == 0);
	fuzz_check(strncmp(rel, w->repo, n) == 0 && rel[n] == '/');
	check_components(w->repo);
	if (w->kind == W_BLOB) {
		fuzz_check(strlen(w->digest.hex) ==
		           digest_hex_len(w->digest.alg));
		fuzz_check(store_fs_is_blob(rel));
	}
out:
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st = fuzz_store();
	struct err err = ERR_INIT;
	char *rel = fuzz_str(data, size), path[PATH_MAX], *text;
	struct strvec sv = {0};
	struct stat sb;
	size_t len;

	if (!rel)
		return 0;
	check_classify(rel);
	if (view_path(st, rel, path, sizeof(path), &err) == 0) {
		check_components(rel);
		fuzz_check(strncmp(path, fuzz_root, strlen(fuzz_root)) == 0);
	}
	err = ERR_INIT;
	(void)store_fs_stat(st, rel, &sb, &err);
	err = ERR_INIT;
	if (store_fs_list(st, rel, &sv, &err) == 0)
		strvec_release(&sv);
	err = ERR_INIT;
	if (store_fs_status(st, rel, &text, &len, &err) == 0)
		free(text);
	(void)store_fs_is_repo(st, rel);
	free(rel);
	return 0;
}
