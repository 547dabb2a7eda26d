/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pull.c - reads that fall through to the sync extension: a manifest or
 * blob that is not here, in a repository an onDemand registry maps, is
 * fetched upstream (sync/sync.h), then read again. Fetch-then-serve: the
 * answer starts once the whole object is stored.
 */
#include "http/http_int.h"
#include "sync/sync.h"

/* Should the miss in @err be tried upstream? */
static bool wants(struct http_req *req, const struct err *err)
{
	return err->code == ERR_NOT_FOUND && req->srv->opts.sync &&
	       sync_wants(req->srv->opts.sync, req->name);
}

/*
 * An upstream failure is a miss, said with its reason: 404 @oci with
 * the message (upstream down, refused, wrong bytes, too large), except
 * what the client may retry (429) or what failed here (5xx).
 */
static int failed(struct err *err, enum oci_code oci)
{
	switch (err->code) {
	case ERR_BUSY:
	case ERR_NOMEM:
	case ERR_INTERNAL:
		return -1;
	default:
		err->code = ERR_NOT_FOUND;
		return err_oci(err, oci);
	}
}

int pull_manifest(struct http_req *req, struct manifest_desc *desc, char **body,
                  struct err *err)
{
	struct store *st = req->srv->st;

	if (store_manifest_get(st, req->name, req->ref, desc, body, err) == 0)
		return 0;
	if (!wants(req, err))
		return -1;
	*err = ERR_INIT;
	if (sync_manifest(req->srv->opts.sync, req->name, req->ref, err) < 0)
		return failed(err, OCI_MANIFEST_UNKNOWN);
	return store_manifest_get(st, req->name, req->ref, desc, body, err);
}

int pull_blob(struct http_req *req, const struct digest *d, int *fd,
              uint64_t *size, struct err *err)
{
	struct store *st = req->srv->st;

	if (store_blob_open(st, req->name, d, fd, size, err) == 0)
		return 0;
	if (!wants(req, err))
		return -1;
	*err = ERR_INIT;
	if (sync_blob(req->srv->opts.sync, req->name, d, err) < 0)
		return failed(err, OCI_BLOB_UNKNOWN);
	return store_blob_open(st, req->name, d, fd, size, err);
}
