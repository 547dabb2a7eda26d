/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xattr.c - refusals remembered per path, and user.dray.status.
 */
#define _GNU_SOURCE
#define LOG_MODULE "fuse"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "fusefs/ops_int.h"

/* Refusals remembered for user.dray.status, at most (then one goes). */
#define REFUSED_MAX 256

static int first_key(const char *key, void *val, void *arg)
{
	(void)val;
	snprintf(arg, PATH_MAX, "%s", key);
	return 1;
}

/*
 * Remember why writing @path was refused at close or rename (@why): the
 * shell ignores close()'s error, user.dray.status tells it.
 */
void refusal_set(struct rfs *fs, const char *path, const char *why)
{
	char *text = NULL, key[PATH_MAX];

	if (asprintf(&text, "refused: %s\n", why) < 0)
		return; /* out of memory: the log has it */
	pthread_mutex_lock(&fs->lock);
	free(hmap_del(fs->refused, path));
	if (hmap_count(fs->refused) >= REFUSED_MAX &&
	    hmap_each(fs->refused, first_key, key))
		free(hmap_del(fs->refused, key));
	if (hmap_put(fs->refused, path, text) == 0)
		text = NULL;
	pthread_mutex_unlock(&fs->lock);
	free(text);
}

/* @path was written, or is gone: its last refusal no longer holds. */
void refusal_clear(struct rfs *fs, const char *path)
{
	pthread_mutex_lock(&fs->lock);
	free(hmap_del(fs->refused, path));
	pthread_mutex_unlock(&fs->lock);
}

/* The one extended attribute: a repository's state, for the admin. */
#define STATUS_XATTR "user.dray.status"

/* Answer a getxattr or listxattr that gave room for @size bytes. */
static void reply_xattr(fuse_req_t req, size_t size, const char *data,
                        size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, len);
}

struct refusals_ctx {
	const char *dir; /* the directory asked about */
	FILE *f;         /* its status text */
};

/* Add the refusal of @key, if it is in c->dir, to the status. */
static int refusal_under(const char *key, void *val, void *arg)
{
	struct refusals_ctx *c = arg;
	size_t n = strlen(c->dir);

	if (!strncmp(key, c->dir, n) && key[n] == '/')
		fprintf(c->f, "%s: %s", key + n + 1, (const char *)val);
	return 0;
}

/*
 * The user.dray.status of @path into @out (malloc()ed, @len bytes): a
 * repository's state and the refusals of names in it, or a file's last
 * refusal. ERR_NOT_FOUND when there is nothing to say.
 */
static int status_text(struct rfs *fs, const char *path, char **out,
                       size_t *len, struct err *err)
{
	struct refusals_ctx c = {path, NULL};
	char *text = NULL;
	size_t tlen = 0;
	const char *why;
	int ret = -1;

	if (store_fs_status(fs->st, path, &text, &tlen, err) < 0) {
		if (err->code != ERR_NOT_FOUND)
			return -1;
		*err = ERR_INIT;
		pthread_mutex_lock(&fs->lock);
		why = hmap_get(fs->refused, path);
		*out = why ? strdup(why) : NULL;
		pthread_mutex_unlock(&fs->lock);
		if (!why)
			return err_set(err, ERR_NOT_FOUND, "nothing to say");
		if (!*out)
			return err_set(err, ERR_NOMEM, "out of memory");
		*len = strlen(*out);
		return 0;
	}
	c.f = open_memstream(out, len);
	if (!c.f) {
		free(text);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	fwrite(text, 1, tlen, c.f);
	pthread_mutex_lock(&fs->lock);
	hmap_each(fs->refused, refusal_under, &c);
	pthread_mutex_unlock(&fs->lock);
	if (fclose(c.f) == 0)
		ret = 0;
	else
		err_set(err, ERR_NOMEM, "out of memory");
	free(text);
	return ret;
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct rfs *fs = fuse_req_userdata(req);
	struct err err = ERR_INIT;
	char path[PATH_MAX];
	size_t len = 0;
	char *text;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	if (strcmp(name, STATUS_XATTR) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (status_text(fs, path, &text, &len, &err) < 0) {
		fuse_reply_err(req, err.code == ERR_NOT_FOUND
		                            ? ENODATA
		                            : errno_for(&err));
		return;
	}
	reply_xattr(req, size, text, len);
	free(text);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct rfs *fs = fuse_req_userdata(req);
	char path[PATH_MAX];
	bool refused;
	int e = node_path(fs, ino, path);

	if (e) {
		fuse_reply_err(req, e);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	refused = hmap_get(fs->refused, path) != NULL;
	pthread_mutex_unlock(&fs->lock);
	if (refused || store_fs_is_repo(fs->st, path))
		reply_xattr(req, size, STATUS_XATTR, sizeof(STATUS_XATTR));
	else
		reply_xattr(req, size, "", 0);
}
