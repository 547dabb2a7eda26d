/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload_shared.c - upload sessions on a tree several nodes serve
 * (storage.indexDirectory set): any request of a session may land on any
 * node, so the session lives in the tree, not in one node's memory.
 *
 * A session is two files in <root>/.dray/uploads: <id>, its bytes (the
 * offset is the file's size: no record to update per chunk, no round
 * trip more), and <id>.info, "<repo>\n", written once by write-fsync-
 * rename when the session starts (its start time is that file's mtime).
 * A request holds an OFD lock on <id> while it has the session taken, so
 * two nodes (or two threads) never write one session at once; after
 * taking it, the name is checked to be still that file (a commit or a
 * cancel elsewhere removed it) and the offset read from its size.
 *
 * The running hash stays per node: OpenSSL's hash state cannot be handed
 * to another node. The node that started a session keeps it in memory
 * with its hash while the file is as it left it (inode, size, mtime);
 * once another node wrote to it (or for a session another node started)
 * the upload is "scattered" and the commit hashes the file instead, one
 * read of the blob. Sessions another node started are taken up from the
 * tree for one request and forgotten after it: memory stays bounded by
 * the sessions a node started (store_opts.max_uploads, per node).
 * Abandoned sessions go by the age of their files (mtime and ctime),
 * swept by whichever node runs the expiry.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/fsutil.h"
#include "daemon/ref.h"
#include "index/store_int.h"

/*
 * How long a request waits for a session another request holds before it
 * answers ERR_BUSY: long enough for the previous request of a sequential
 * client, answered by another node, to let go of it.
 */
#define UPLOAD_LOCK_WAIT_MS 2000

/* "<updir>/<id>.info": the session's record. */
static int info_path(const struct store *st, const char *id, char *out,
                     size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s.info", st->updir, id);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static bool is_upload_id(const char *s)
{
	return strlen(s) == UPLOAD_ID_LEN &&
	       strspn(s, "0123456789abcdef") == UPLOAD_ID_LEN;
}

void shared_upload_seen(struct upload *u)
{
	struct stat sb;

	if (u->fd >= 0 && fstat(u->fd, &sb) == 0) {
		u->seen_ino = sb.st_ino;
		u->seen_size = sb.st_size;
		u->seen_mtime = sb.st_mtim;
	} else {
		u->seen_ino = 0; /* unknown: the next take hashes again */
	}
}

int shared_upload_record(struct upload *u, struct err *err)
{
	char path[PATH_MAX], text[REF_NAME_MAX + 2];
	int n = snprintf(text, sizeof(text), "%s\n", u->repo);

	if (n < 0 || (size_t)n >= sizeof(text) ||
	    info_path(u->st, u->id, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return fs_write_atomic(u->st->tmpdir, path, text, (size_t)n, err);
}

void shared_upload_unrecord(struct upload *u)
{
	char path[PATH_MAX];

	if (info_path(u->st, u->id, path, sizeof(path)) == 0)
		unlink(path);
}

struct upload *shared_upload_adopt(struct store *st, const char *repo,
                                   const char *id, struct err *err)
{
	char path[PATH_MAX], *text = NULL;
	struct err e2 = ERR_INIT;
	struct upload *u = NULL;
	size_t len;

	if (!is_upload_id(id) || info_path(st, id, path, sizeof(path)) < 0 ||
	    fs_read_file(path, REF_NAME_MAX + 2, &text, &len, &e2) < 0 ||
	    len < 2 || text[len - 1] != '\n') {
		if (e2.code && e2.code != ERR_NOT_FOUND) {
			*err = e2;
			goto out;
		}
		err_set(err, ERR_NOT_FOUND, "upload unknown");
		goto out;
	}
	text[len - 1] = '\0';
	if (strcmp(text, repo) != 0) {
		err_set(err, ERR_NOT_FOUND, "upload unknown");
		goto out;
	}
	u = calloc(1, sizeof(*u));
	if (!u || !(u->repo = strdup(repo)) ||
	    !(u->sha256 = hasher_new(DIGEST_SHA256))) {
		upload_free(u);
		u = NULL;
		err_set(err, ERR_NOMEM, "cannot take up upload");
		goto out;
	}
	u->st = st;
	u->fd = -1;
	memcpy(u->id, id, UPLOAD_ID_LEN + 1);
	u->adopted = true;
	u->busy = true;
	u->scattered = true; /* no running hash here: commit reads */
out:
	free(text);
	return u;
}

/* F_OFD_SETLK of all of @fd: 0, or -1 with errno (EAGAIN: held). */
static int try_lock(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	return fcntl(fd, F_OFD_SETLK, &fl);
}

int shared_upload_lock(struct upload *u, struct err *err)
{
	uint64_t t0 = clock_mono_ms();
	char path[PATH_MAX];
	struct stat fsb, sb;

	while (try_lock(u->fd) < 0) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return err_set_errno(err, errno,
			                     "cannot lock upload %s", u->id);
		if (clock_mono_ms() - t0 >= UPLOAD_LOCK_WAIT_MS)
			return err_set(err, ERR_BUSY,
			               "upload in use by another request");
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	/* Committed or cancelled by another node while we waited? */
	if (staging_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (fstat(u->fd, &fsb) < 0)
		return err_set_errno(err, errno, "cannot stat upload");
	if (stat(path, &sb) < 0) {
		if (errno != ENOENT)
			return err_set_errno(err, errno, "cannot stat upload");
		return err_set(err, ERR_NOT_FOUND, "upload unknown");
	}
	if (sb.st_ino != fsb.st_ino || sb.st_dev != fsb.st_dev)
		return err_set(err, ERR_NOT_FOUND, "upload unknown");
	if (u->adopted || u->seen_ino != fsb.st_ino ||
	    u->seen_size != fsb.st_size ||
	    u->seen_mtime.tv_sec != fsb.st_mtim.tv_sec ||
	    u->seen_mtime.tv_nsec != fsb.st_mtim.tv_nsec ||
	    (uint64_t)fsb.st_size != u->offset) {
		/* Written elsewhere: the running hash is no longer it. */
		u->offset = u->flushed = (uint64_t)fsb.st_size;
		u->scattered = true;
	}
	return 0;
}

/* Newest of @sb's mtime and ctime, on the age clock. */
static uint64_t touched_ms(const struct stat *sb)
{
	uint64_t m = clock_ts_ms(&sb->st_mtim), c = clock_ts_ms(&sb->st_ctim);

	return clock_age_wall_of(m > c ? m : c);
}

static bool is_idle(const struct stat *sb, uint64_t now, uint64_t idle_ms)
{
	uint64_t t = touched_ms(sb);

	return now > t && now - t > idle_ms;
}

/*
 * Remove session @id if its file is idle and nobody holds it: under its
 * lock, checked again there (a request may have written just before).
 */
static bool sweep_session(struct store *st, const char *id, uint64_t idle_ms)
{
	char path[PATH_MAX], info[PATH_MAX];
	struct stat sb, fsb;
	bool gone = false;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", st->updir, id) >=
	            (int)sizeof(path) ||
	    info_path(st, id, info, sizeof(info)) < 0)
		return false;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (try_lock(fd) == 0 && fstat(fd, &fsb) == 0 && stat(path, &sb) == 0 &&
	    sb.st_ino == fsb.st_ino &&
	    is_idle(&fsb, clock_age_wall_ms(), idle_ms)) {
		unlink(info);
		gone = unlink(path) == 0;
	}
	close(fd);
	return gone;
}

size_t shared_upload_sweep(struct store *st, uint64_t idle_ms)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(st->updir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX], id[UPLOAD_ID_LEN + 1];
		size_t len = strlen(de->d_name);
		struct stat sb;

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", st->updir,
		             de->d_name) >= (int)sizeof(path) ||
		    lstat(path, &sb) < 0 ||
		    !is_idle(&sb, clock_age_wall_ms(), idle_ms))
			continue;
		if (is_upload_id(de->d_name)) {
			n += sweep_session(st, de->d_name, idle_ms);
			continue;
		}
		/*
		 * A record whose session is gone (a crash between the two
		 * unlinks), or a leftover temporary (.park, .own, .borrow).
		 * A record goes only once its bytes have.
		 */
		if (len == UPLOAD_ID_LEN + 5 &&
		    strcmp(de->d_name + UPLOAD_ID_LEN, ".info") == 0) {
			char data[PATH_MAX];

			memcpy(id, de->d_name, UPLOAD_ID_LEN);
			id[UPLOAD_ID_LEN] = '\0';
			if (snprintf(data, sizeof(data), "%s/%s", st->updir,
			             id) >= (int)sizeof(data) ||
			    access(data, F_OK) == 0)
				continue;
		}
		unlink(path);
	}
	closedir(d);
	return n;
}

static int collect_idle(const char *key, void *val, void *arg)
{
	struct upload *u = val;

	return !u->busy && strvec_push(arg, key) < 0;
}

size_t shared_upload_prune(struct store *st)
{
	struct strvec ids = {0};
	size_t n = 0;

	pthread_mutex_lock(&st->lock);
	if (st->uploads)
		hmap_each(st->uploads, collect_idle, &ids);
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; i < ids.n; i++) {
		char path[PATH_MAX];
		struct upload *u;

		if (snprintf(path, sizeof(path), "%s/%s", st->updir,
		             ids.v[i]) >= (int)sizeof(path) ||
		    access(path, F_OK) == 0 || errno != ENOENT)
			continue;
		pthread_mutex_lock(&st->lock);
		u = hmap_get(st->uploads, ids.v[i]);
		u = u && !u->busy ? u : NULL;
		if (u)
			u->busy = true;
		pthread_mutex_unlock(&st->lock);
		if (u) {
			upload_end(u);
			n++;
		}
	}
	strvec_release(&ids);
	return n;
}
