/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blob.c - GET/HEAD/DELETE /v2/<name>/blobs/<digest>. GET of more than
 * 16 KiB is zero-copy:
 * MHD sends the layout file with sendfile, honouring one Range.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http/http_int.h"
#include "http/range.h"

static int blob_not_found(struct http_req *req, struct err *err)
{
	if (err->code == ERR_NOT_FOUND &&
	    !store_repo_exists(req->srv->st, req->name))
		err_oci(err, OCI_NAME_UNKNOWN);
	return -1;
}

int h_blob_get(struct http_req *req, struct err *err)
{
	bool head = strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
	uint64_t size, start = 0, end = 0;
	struct digest d;
	char dstr[DIGEST_STR_MAX];
	int fd = -1, rc;

	/* A malformed digest names no blob: "not found" is 404 (end-2). */
	if (req_digest(req->ref, &d, err) < 0)
		return err_oci(err, OCI_BLOB_UNKNOWN);
	digest_format(&d, dstr);
	if (head) {
		if (store_blob_stat(req->srv->st, req->name, &d, &size, err) <
		    0)
			return blob_not_found(req, err);
		reply_hdr(req, "Docker-Content-Digest", dstr);
		reply_hdr(req, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
		return reply_sized_empty(req, MHD_HTTP_OK,
		                         "application/octet-stream", size, err);
	}
	/* A whole blob streams while it arrives; a range waits for it. */
	if (req_header(req, MHD_HTTP_HEADER_RANGE))
		rc = pull_blob(req, &d, &fd, &size, err);
	else
		rc = pull_blob_stream(req, &d, &fd, &size, err);
	if (rc == HTTP_PENDING)
		return rc;
	if (rc < 0)
		return blob_not_found(req, err);
	if (fd < 0) /* streaming */
		return 0;
	reply_hdr(req, "Docker-Content-Digest", dstr);
	switch (range_parse(req_header(req, MHD_HTTP_HEADER_RANGE), size,
	                    &start, &end)) {
	case RANGE_NONE:
		return reply_fd(req, MHD_HTTP_OK, fd, 0, size, size, err);
	case RANGE_OK:
		return reply_fd(req, MHD_HTTP_PARTIAL_CONTENT, fd, start,
		                end - start + 1, size, err);
	case RANGE_UNSATISFIABLE:
		break;
	}
	close(fd);
	snprintf(dstr, sizeof(dstr), "bytes */%llu", (unsigned long long)size);
	req->nhdrs = 0;
	reply_hdr(req, MHD_HTTP_HEADER_CONTENT_RANGE, dstr);
	err_set(err, ERR_RANGE, "range not satisfiable");
	return err_oci(err, OCI_BLOB_UNKNOWN);
}

int h_blob_delete(struct http_req *req, struct err *err)
{
	struct digest d;

	if (req_digest(req->ref, &d, err) < 0)
		return -1;
	/*
	 * Still referenced (ERR_EXISTS): the spec lists 202, 404 and 405
	 * (deletion not allowed) for this endpoint, so 405 DENIED with a
	 * body that says why, as zot answers.
	 */
	if (store_blob_delete(req->srv->st, req->name, &d, err) < 0)
		return blob_not_found(req, err);
	return reply_buf(req, MHD_HTTP_ACCEPTED, NULL, "", 0, false, err);
}
