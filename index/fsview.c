/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsview.c - the storage tree as the mount shows it: the layouts, and
 * nothing of dray's own state. fusefs/ reads through these functions only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "index/store_int.h"

/* Is @rel a path inside the view? Fills the absolute path into @out. */
static int view_path(const struct store *st, const char *rel, char *out,
                     size_t outsz, struct err *err)
{
	const char *p = rel;

	/* Dot entries at the top are dray's (.dray): not in the view. */
	if (rel[0] == '.')
		return err_set(err, ERR_NOT_FOUND, "not in the view");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(err, ERR_INVALID, "malformed path");
		p += n;
		if (*p == '/')
			p++;
	}
	if (snprintf(out, outsz, "%s%s%s", st->root, *rel ? "/" : "", rel) >=
	    (int)outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

int store_fs_stat(struct store *st, const char *rel, struct stat *sb,
                  struct err *err)
{
	char path[PATH_MAX];

	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	if (lstat(path, sb) < 0)
		return err_set_errno(err, errno, "cannot stat");
	if (!S_ISREG(sb->st_mode) && !S_ISDIR(sb->st_mode))
		return err_set(err, ERR_NOT_FOUND, "not in the view");
	return 0;
}

int store_fs_list(struct store *st, const char *rel, struct strvec *out,
                  struct err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	d = opendir(path);
	if (!d)
		return err_set_errno(err, errno, "cannot list");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (!*rel || !strcmp(de->d_name, ".") ||
		     !strcmp(de->d_name, "..")))
			continue;
		if (strvec_push(out, de->d_name) < 0) {
			ret = err_set(err, ERR_NOMEM, "cannot list");
			break;
		}
	}
	closedir(d);
	return ret;
}

int store_fs_open(struct store *st, const char *rel, int *fd,
                  struct err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	int f;

	if (view_path(st, rel, path, sizeof(path), err) < 0)
		return -1;
	f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return err_set_errno(err, errno, "cannot open");
	if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return err_set(err, ERR_NOT_FOUND, "not a file");
	}
	*fd = f;
	return 0;
}

bool store_fs_is_blob(const char *rel)
{
	return strstr(rel, "/blobs/sha256/") || strstr(rel, "/blobs/sha512/");
}
