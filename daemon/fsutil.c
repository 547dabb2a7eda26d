/* SPDX-License-Identifier: Apache-2.0 */
/* fsutil.c - durable writes and small file helpers. */
#define _GNU_SOURCE /* mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fsutil.h"

int fs_mkdir_p(const char *path, mode_t mode, struct err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return err_set(err, ERR_INVALID, "bad directory path");
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST) {
			if (errno == ENOTDIR)
				return err_set(err, ERR_EXISTS,
				               "a file is in the way of '%s'", buf);
			return err_set_errno(err, errno, "cannot create '%s'",
			                     buf);
		}
		*p = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return err_set_errno(err, errno, "cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, ERR_EXISTS, "'%s' is not a directory",
		               path);
	return 0;
}

int fs_fsync_dir(const char *path, struct err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	if (fsync(fd) < 0)
		ret = err_set_errno(err, errno, "cannot fsync '%s'", path);
	close(fd);
	return ret;
}

int fs_fsync_parent(const char *path, struct err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return fs_fsync_dir(".", err);
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return err_set(err, ERR_INVALID, "path too long");
	memcpy(dir, path, n);
	dir[n] = '\0';
	return fs_fsync_dir(dir, err);
}

int fs_write_all(int fd, const void *buf, size_t len, struct err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, errno, "cannot write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_pwrite_all(int fd, const void *buf, size_t len, uint64_t off,
                  struct err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, errno, "cannot write");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_temp(const char *tmpdir, const void *buf, size_t len,
                  char *out, struct err *err)
{
	int fd, ret = -1;

	if (snprintf(out, PATH_MAX, "%s/atomic.XXXXXX", tmpdir) >= PATH_MAX)
		return err_set(err, ERR_INVALID, "path too long");
	fd = mkostemp(out, O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, errno, "cannot create '%s'", out);
	if (fs_write_all(fd, buf, len, err) < 0)
		goto out;
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		err_set_errno(err, errno, "cannot sync '%s'", out);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	if (ret < 0)
		unlink(out);
	return ret;
}

int fs_write_atomic(const char *tmpdir, const char *path, const void *buf,
                    size_t len, struct err *err)
{
	char tmp[PATH_MAX];

	if (fs_write_temp(tmpdir, buf, len, tmp, err) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		err_set_errno(err, errno, "cannot rename to '%s'", path);
		unlink(tmp);
		return -1;
	}
	return fs_fsync_parent(path, err);
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len,
                 struct err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, ret = -1;

	/* O_NONBLOCK: a FIFO put where a file belongs must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		err_set_errno(err, errno, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, ERR_INVALID, "'%s' is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err_set(err, ERR_TOO_LARGE, "'%s' is larger than %zu bytes",
		        path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err_set(err, ERR_NOMEM, "cannot read '%s'", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set_errno(err, errno, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break; /* it shrank: return what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

int fs_copy_to_temp(const char *src, const char *tmpdir, char *out,
                    struct err *err)
{
	struct stat st;
	int in, fd = -1, ret = -1;
	off_t left;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set_errno(err, errno, "cannot open '%s'", src);
	if (fstat(in, &st) < 0) {
		err_set_errno(err, errno, "cannot stat '%s'", src);
		goto out;
	}
	if (snprintf(out, PATH_MAX, "%s/copy.XXXXXX", tmpdir) >= PATH_MAX) {
		err_set(err, ERR_TOO_LARGE, "path too long");
		goto out;
	}
	fd = mkostemp(out, O_CLOEXEC);
	if (fd < 0) {
		err_set_errno(err, errno, "cannot create '%s'", out);
		goto out;
	}
	for (left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, fd, NULL, (size_t)left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set_errno(err, n < 0 ? errno : EIO,
			              "cannot copy '%s'", src);
			goto out;
		}
		left -= n;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		err_set_errno(err, errno, "cannot sync '%s'", out);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0 && fd >= 0)
		unlink(out);
	close(in);
	return ret;
}

int fs_remove_tree(const char *path, struct err *err)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0
		                       : err_set_errno(err, errno,
		                                       "cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set_errno(err, errno, "cannot remove '%s'",
			                     path);
		return 0;
	}
	d = opendir(path);
	if (!d)
		return err_set_errno(err, errno, "cannot open '%s'", path);
	while (ret == 0 && (de = readdir(d))) {
		char sub[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
		    (int)sizeof(sub)) {
			ret = err_set(err, ERR_INVALID, "path too long");
			break;
		}
		ret = fs_remove_tree(sub, err);
	}
	closedir(d);
	if (ret == 0 && rmdir(path) < 0 && errno != ENOENT)
		ret = err_set_errno(err, errno, "cannot remove '%s'", path);
	return ret;
}
