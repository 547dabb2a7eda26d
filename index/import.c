/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import.c - bringing an OCI image layout into a repository without a
 * mount or a network: `dray import LAYOUT_DIR REPO[:TAG]`.
 *
 * Every blob goes through an upload session and store_upload_commit(), and
 * every manifest through store_manifest_put(), children before parents:
 * the same verification, dedup, locks and index entries as an HTTP push,
 * so a tag appears only once everything it names is stored. Only what the
 * chosen descriptors reach is read; the layout is never written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/fsutil.h"
#include "daemon/ref.h"
#include "index/store_int.h"

#define IMPORT_CHUNK (1u << 20) /* bytes read per upload append */
#define IMPORT_DEPTH 8          /* image indexes nested deeper are refused */

/* One import in progress. */
struct import {
	struct store *st;              /* where to */
	const char *dir;               /* the layout read */
	const char *repo;              /* the repository written */
	struct store_import_stats *rs; /* counts for the caller */
	char *chunk;                   /* IMPORT_CHUNK bytes of buffer */
	const struct store_progress_cb *cb; /* progress, or NULL */
	bool counting; /* only add up total and bytes_total: a dry walk */
	uint64_t done, total, bytes, bytes_total; /* for @cb */
};

static void import_note(const struct import *im)
{
	progress_note(im->cb, "descriptors", im->done, im->total, im->bytes,
	              im->bytes_total);
}

static int layout_file(const struct import *im, const struct digest *d,
                       char *out, size_t outsz, struct err *err)
{
	int n = snprintf(out, outsz, "%s/blobs/%s/%s", im->dir,
	                 digest_alg_name(d->alg), d->hex);

	if (n < 0 || (size_t)n >= outsz)
		return err_set(err, ERR_TOO_LARGE, "path too long");
	return 0;
}

/* Upload blob @d from the layout unless the repository has it already. */
static int import_blob(struct import *im, const struct digest *d,
                       struct err *err)
{
	char path[PATH_MAX], id[STORE_UPLOAD_ID_MAX], dstr[DIGEST_STR_MAX];
	struct upload *u = NULL;
	uint64_t size;
	ssize_t n;
	int fd = -1, ret = -1;

	if (store_blob_stat(im->st, im->repo, d, &size, err) == 0) {
		im->rs->blobs_present++;
		im->bytes += size;
		return 0;
	}
	*err = ERR_INIT;
	if (layout_file(im, d, path, sizeof(path), err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		digest_format(d, dstr);
		return err_set_errno(err, errno, "blob %s missing from '%s'",
		                     dstr, im->dir);
	}
	if (store_upload_start(im->st, im->repo, id, err) < 0)
		goto out;
	u = store_upload_get(im->st, im->repo, id, err);
	if (!u)
		goto out;
	while ((n = read(fd, im->chunk, IMPORT_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set_errno(err, errno, "cannot read '%s'", path);
			goto out;
		}
		if (store_upload_append(u, im->chunk, (size_t)n, err) < 0)
			goto out;
		im->bytes += (uint64_t)n;
		im->rs->bytes += (uint64_t)n;
		import_note(im);
	}
	if (store_upload_commit(u, d, err) < 0) {
		err_prefix(err, "'%s'", path);
		goto out;
	}
	u = NULL; /* the commit released it */
	im->rs->blobs++;
	ret = 0;
out:
	store_upload_cancel(u);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int import_desc(struct import *im, json_t *desc, const char *ref,
                       int depth, struct err *err);

/*
 * Import manifest @d (@mt, its descriptor's media type, may be NULL):
 * what it names first, then the manifest itself under @ref (a tag, or
 * NULL for by digest).
 */
static int import_manifest(struct import *im, const struct digest *d,
                           const char *mt, const char *ref, int depth,
                           struct err *err)
{
	char path[PATH_MAX], dstr[DIGEST_STR_MAX];
	struct manifest_put_result res;
	json_t *j = NULL, *e;
	char *body = NULL;
	size_t len, i;
	int ret = -1;

	if (depth > IMPORT_DEPTH)
		return err_set(err, ERR_INVALID, "image indexes nest too deep");
	if (layout_file(im, d, path, sizeof(path), err) < 0 ||
	    fs_read_file(path, STORE_MANIFEST_MAX, &body, &len, err) < 0)
		goto out;
	j = json_loadb(body, len, 0, NULL);
	if (!json_is_object(j)) {
		err_set(err, ERR_INVALID, "'%s' is not a manifest", path);
		goto out;
	}
	if (!mt)
		mt = json_string_value(json_object_get(j, "mediaType"));
	if (json_is_array(json_object_get(j, "manifests"))) {
		json_array_foreach(json_object_get(j, "manifests"), i, e)
		{
			if (import_desc(im, e, NULL, depth + 1, err) < 0)
				goto out;
		}
	} else {
		if (import_desc(im, json_object_get(j, "config"), NULL,
		                depth + 1, err) < 0)
			goto out;
		json_array_foreach(json_object_get(j, "layers"), i, e)
		{
			/* A foreign layer (urls) lives elsewhere. */
			if (json_array_size(json_object_get(e, "urls")) > 0)
				continue;
			if (import_desc(im, e, NULL, depth + 1, err) < 0)
				goto out;
		}
	}
	if (im->counting) {
		im->bytes_total += len;
		ret = 0;
		goto out;
	}
	digest_format(d, dstr);
	if (store_manifest_put(im->st, im->repo, ref ? ref : dstr, mt, body,
	                       len, &res, err) < 0) {
		err_prefix(err, "manifest %s", dstr);
		goto out;
	}
	if (!digest_equal(&res.digest, d)) {
		/* A tag is stored by its sha256: say so if that differs. */
		err_set(err, ERR_INVALID,
		        "manifest %s is stored under another digest", dstr);
		goto out;
	}
	im->rs->manifests++;
	im->rs->bytes += len;
	im->bytes += len;
	ret = 0;
out:
	json_decref(j);
	free(body);
	return ret;
}

/* Import what descriptor @desc names, under @ref when it is a manifest. */
static int import_desc(struct import *im, json_t *desc, const char *ref,
                       int depth, struct err *err)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	json_int_t size = json_integer_value(json_object_get(desc, "size"));
	bool manifest = ref || store_mt_is_manifest(mt);
	struct digest d;

	if (!json_is_object(desc) || !entry_digest(desc, &d))
		return err_set(err, ERR_INVALID,
		               "a descriptor in '%s' has no valid digest",
		               im->dir);
	if (!manifest && im->counting)
		im->bytes_total += size > 0 ? (uint64_t)size : 0;
	else if ((manifest ? import_manifest(im, &d, mt, ref, depth, err)
	                   : import_blob(im, &d, err)) < 0)
		return -1;
	if (im->counting) {
		im->total++;
		return 0;
	}
	im->done++;
	import_note(im);
	return 0;
}

/*
 * Import the descriptors of index.json's @mans that @tag chooses (see
 * store_import()); *chosen counts them.
 */
static int import_chosen(struct import *im, json_t *mans, const char *tag,
                         size_t *chosen, struct err *err)
{
	json_t *e;
	size_t i;

	*chosen = 0;
	json_array_foreach(mans, i, e)
	{
		const char *name = entry_tag(e);

		/*
		 * With a TAG: the descriptor of that name, or the only one
		 * of a layout that holds one (tagged TAG). Without: each,
		 * under its own name, or by digest when it has none.
		 */
		if (tag && !(name && !strcmp(name, tag)) &&
		    !(json_array_size(mans) == 1))
			continue;
		if (import_desc(im, e, tag ? tag : name, 0, err) < 0)
			return -1;
		(*chosen)++;
		if (tag)
			break;
	}
	return 0;
}

int store_import(struct store *st, const char *dir, const char *repo,
                 const char *tag, const struct store_progress_cb *progress,
                 struct store_import_stats *stats, struct err *err)
{
	struct import im = {.st = st,
	                    .dir = dir,
	                    .repo = repo,
	                    .rs = stats,
	                    .cb = progress};
	struct err ignored = ERR_INIT;
	char path[PATH_MAX];
	json_t *index = NULL, *mans, *layout = NULL;
	char *text = NULL;
	size_t len, chosen = 0;
	int ret = -1;

	*stats = (struct store_import_stats){0};
	if (ref_name_check(repo, err) < 0 ||
	    (tag && ref_tag_check(tag, err) < 0))
		return -1;
	if (snprintf(path, sizeof(path), "%s/oci-layout", dir) >=
	    (int)sizeof(path))
		return err_set(err, ERR_TOO_LARGE, "path too long");
	if (fs_read_file(path, 4096, &text, &len, err) < 0) {
		err_prefix(err, "not an OCI image layout");
		return -1;
	}
	layout = json_loadb(text, len, 0, NULL);
	free(text);
	text = NULL;
	if (!json_is_string(json_object_get(layout, "imageLayoutVersion"))) {
		err_set(err, ERR_INVALID,
		        "'%s' is not an OCI image layout marker", path);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (fs_read_file(path, 64u << 20, &text, &len, err) < 0)
		goto out;
	index = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	mans = json_object_get(index, "manifests");
	if (!json_is_array(mans)) {
		err_set(err, ERR_INVALID, "'%s' is not an image index", path);
		goto out;
	}
	im.chunk = malloc(IMPORT_CHUNK);
	if (!im.chunk) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* A total for the display; a failure here is met again below. */
	im.counting = progress != NULL;
	if (im.counting && import_chosen(&im, mans, tag, &chosen, &ignored) < 0)
		im.total = im.bytes_total = 0;
	im.counting = false;
	import_note(&im);
	if (import_chosen(&im, mans, tag, &chosen, err) < 0)
		goto out;
	if (!chosen && tag) {
		err_set(err, ERR_NOT_FOUND, "no manifest tagged '%s' in '%s'",
		        tag, path);
		goto out;
	}
	ret = 0;
out:
	free(im.chunk);
	free(text);
	json_decref(index);
	json_decref(layout);
	return ret;
}
