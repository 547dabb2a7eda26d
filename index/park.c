/* SPDX-License-Identifier: Apache-2.0 */
/*
 * park.c - upload sessions kept across a restart: parked at close (a
 * record beside the staging file), resumed at the next open.
 */
#define _GNU_SOURCE /* syncfs */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "daemon/ref.h"
#include "index/store_int.h"

/* "<updir>/<id>.park": where a parked session's record lives. */
static int park_path(const struct store *st, const char *id, char *out,
                     size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s.park", st->updir, id);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Write @u's record without syncing it: upload_park_sync() makes every
 * record and staging file durable at once, as a sync each made stopping
 * with a thousand sessions take seconds. A record torn by a crash before
 * that fails to parse, and its session is dropped as after any crash.
 */
void upload_park(struct upload *u)
{
	char path[PATH_MAX], tmp[PATH_MAX], text[REF_NAME_MAX + 64];
	struct err err = ERR_INIT;
	/* Its last use on the wall clock, so idle time spans restarts. */
	uint64_t used = clock_age_wall_ms() -
	                (clock_age_mono_ms() - u->last_ms) - u->idle_before_ms;
	int n = snprintf(text, sizeof(text), "%s\n%llu\n%llu\n", u->repo,
	                 (unsigned long long)u->offset,
	                 (unsigned long long)used);
	int fd, ret = -1;

	/* On a shared tree the session is in the tree already. */
	if (u->st->shared && !u->no_layout) {
		upload_release(u);
		upload_free(u);
		return;
	}
	/* A mount writer's upload ends with its file. */
	if (u->no_layout || n < 0 || (size_t)n >= sizeof(text))
		goto out;
	upload_release(u);
	if (u->werr || park_path(u->st, u->id, path, sizeof(path)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		goto out;
	/* Not a session's name: the next start removes a leftover. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	ret = fs_write_all(fd, text, (size_t)n, &err);
	if (close(fd) < 0 || (ret == 0 && rename(tmp, path) < 0))
		ret = -1;
	if (ret < 0)
		unlink(tmp);
out:
	if (ret < 0)
		upload_end(u);
	else
		upload_free(u);
}

void upload_park_sync(struct store *st)
{
	int fd = open(st->updir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0)
		log_warn("parked upload sessions not synced: %s",
		         strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Bring back the session @id parked by the last close; false if none. */
static bool restore_one(struct store *st, const char *id)
{
	char path[PATH_MAX], *text = NULL, *nl, *end;
	struct err err = ERR_INIT;
	unsigned long long off, used;
	struct upload *u = NULL;
	struct stat sb;
	size_t len;

	if (strspn(id, "0123456789abcdef") != UPLOAD_ID_LEN ||
	    strlen(id) != UPLOAD_ID_LEN ||
	    park_path(st, id, path, sizeof(path)) < 0 ||
	    fs_read_file(path, REF_NAME_MAX + 64, &text, &len, &err) < 0)
		goto fail;
	/* "<repo>\n<offset>\n<last use, wall-clock ms>\n", nothing else. */
	nl = memchr(text, '\n', len);
	if (!nl || nl[1] < '0' || nl[1] > '9')
		goto fail;
	off = strtoull(nl + 1, &end, 10);
	if (*end != '\n' || end[1] < '0' || end[1] > '9')
		goto fail;
	used = strtoull(end + 1, &end, 10);
	if (*end != '\n' || end + 1 != text + len)
		goto fail;
	*nl = '\0';
	u = calloc(1, sizeof(*u));
	if (!u || ref_name_check(text, &err) < 0)
		goto fail;
	u->st = st;
	u->fd = -1;
	memcpy(u->id, id, UPLOAD_ID_LEN + 1);
	u->repo = strdup(text);
	u->sha256 = hasher_new(DIGEST_SHA256);
	if (!u->repo || !u->sha256 || staging_path(u, path, sizeof(path)) < 0)
		goto fail;
	/* Through the page cache, from where it stopped; the running hash
	 * is gone, so the commit hashes the file (as for scattered writes). */
	if (stat(path, &sb) < 0 || (uint64_t)sb.st_size != off)
		goto fail;
	u->offset = u->flushed = off;
	u->scattered = true;
	u->last_ms = clock_age_mono_ms();
	u->idle_before_ms =
		clock_age_wall_ms() > used ? clock_age_wall_ms() - used : 0;
	/* Caps lowered since the stop leave the rest out. */
	if (count_in(st, u->repo, &err) < 0)
		goto fail;
	if (hmap_put(st->uploads, u->id, u) < 0) {
		count_out(st, u->repo);
		goto fail;
	}
	free(text);
	return true;
fail:
	upload_free(u);
	free(text);
	return false;
}

int upload_restore_all(struct store *st, struct err *err)
{
	struct dirent *de;
	size_t restored = 0;
	DIR *d;

	if (fs_mkdir_p(st->updir, 0755, err) < 0)
		return -1;
	/* Shared: sessions live in the tree, swept by age (upload_shared.c). */
	if (st->shared)
		return 0;
	d = opendir(st->updir);
	if (!d)
		return err_set_errno(err, errno, "cannot read '%s'", st->updir);
	while ((de = readdir(d))) {
		char id[STORE_UPLOAD_ID_MAX], path[PATH_MAX];
		size_t n = strlen(de->d_name);

		if (n != UPLOAD_ID_LEN + 5 ||
		    strcmp(de->d_name + n - 5, ".park") != 0)
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		restored += restore_one(st, id);
		if (park_path(st, id, path, sizeof(path)) == 0)
			unlink(path);
	}
	/* Whatever no session owns is left over from a crash. */
	rewinddir(d);
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' || hmap_get(st->uploads, de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", st->updir,
		             de->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	if (restored)
		log_info("store: %zu upload session(s) resumed", restored);
	return 0;
}
