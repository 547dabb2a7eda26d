/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upload.c - blob uploads: POST (session, monolithic with ?digest=, or
 * cross-repository mount), PATCH chunks, PUT to close, GET status and
 * DELETE. Bodies stream into the store's staging file piece by piece, so
 * memory stays bounded whatever the blob's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "http/range.h"

/* Location, Range and Docker-Upload-UUID of a session in progress. */
static void session_headers(struct http_req *req, const char *id,
                            uint64_t offset)
{
	char range[48];

	reply_hdr_location(req, "/v2/%s/blobs/uploads/%s", req->name, id);
	snprintf(range, sizeof(range), "0-%llu",
	         (unsigned long long)(offset ? offset - 1 : 0));
	reply_hdr(req, MHD_HTTP_HEADER_RANGE, range);
	reply_hdr(req, "Docker-Upload-UUID", id);
}

static int blob_created(struct http_req *req, const struct digest *d,
                        struct err *err)
{
	char dstr[DIGEST_STR_MAX];

	digest_format(d, dstr);
	reply_hdr_location(req, "/v2/%s/blobs/%s", req->name, dstr);
	reply_hdr(req, "Docker-Content-Digest", dstr);
	return reply_buf(req, MHD_HTTP_CREATED, NULL, "", 0, false, err);
}

/* Read ?digest= into req->digest when present. */
static int digest_arg(struct http_req *req, bool required, struct err *err)
{
	const char *s = req_arg(req, "digest");

	if (!s || !*s) {
		if (!required)
			return 0;
		req->err_code = "DIGEST_INVALID";
		return err_set(err, ERR_INVALID, "digest parameter missing");
	}
	if (req_digest(req, s, &req->digest, err) < 0)
		return -1;
	req->has_digest = true;
	return 0;
}

/* Commit the session to req->digest, mapping a mismatch to 400. */
static int commit(struct http_req *req, struct err *err)
{
	if (store_upload_commit(req->up, &req->digest, err) < 0) {
		if (err->code == ERR_INVALID)
			req->err_code = "DIGEST_INVALID";
		return -1;
	}
	req->up = NULL; /* the store released it */
	return blob_created(req, &req->digest, err);
}

static int take_session(struct http_req *req, struct err *err)
{
	req->up = store_upload_get(req->srv->st, req->name, req->ref, err);
	return req->up ? 0 : -1;
}

/*
 * A blob past storage.maxBlobSize ends its session (the staging file
 * goes) and is answered 413 SIZE_INVALID.
 */
static int too_large(struct http_req *req)
{
	store_upload_cancel(req->up);
	req->up = NULL;
	req->err_code = "SIZE_INVALID";
	return -1;
}

/* Refuse a body whose Content-Length says it will not fit, up front. */
static int check_length(struct http_req *req, struct err *err)
{
	const char *cl = req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t len = cl ? strtoull(cl, NULL, 10) : 0;

	if (store_upload_room(req->up, store_upload_offset(req->up) + len,
	                      err) < 0)
		return too_large(req);
	return 0;
}

int h_upload_post_begin(struct http_req *req, struct err *err)
{
	const char *mount = req_arg(req, "mount");
	const char *from = req_arg(req, "from");
	char id[STORE_UPLOAD_ID_MAX];
	struct digest d;

	if (mount && *mount) {
		struct err merr = ERR_INIT;

		if (req_digest(req, mount, &d, err) < 0)
			return -1;
		/* A source the policy hides is as good as absent. */
		if (from && *from &&
		    access_allows(req->srv->opts.access, from, ACCESS_READ) &&
		    store_blob_mount(req->srv->st, req->name, from, &d,
		                     &merr) == 0) {
			req->has_digest = true;
			req->digest = d;
			req->err_status = 0;
			return 0; /* answered 201 at the end */
		}
		/* Not mountable: fall back to an ordinary session (202). */
	}
	if (digest_arg(req, false, err) < 0)
		return -1;
	if (store_upload_start(req->srv->st, req->name, id, err) < 0)
		return -1; /* ERR_BUSY past a cap: 429 TOOMANYREQUESTS */
	memcpy(req->ref, id, sizeof(id));
	if (take_session(req, err) < 0)
		return -1;
	return check_length(req, err);
}

int h_upload_body(struct http_req *req, const char *buf, size_t len,
                  struct err *err)
{
	if (!req->up) { /* a mount POST with a body */
		req->err_code = "BLOB_UPLOAD_INVALID";
		return err_set(err, ERR_INVALID, "unexpected body");
	}
	if (req->has_range &&
	    store_upload_offset(req->up) + len > req->range_end + 1) {
		req->err_code = "BLOB_UPLOAD_INVALID";
		return err_set(err, ERR_INVALID,
		               "body longer than its Content-Range");
	}
	if (store_upload_append(req->up, buf, len, err) < 0)
		return err->code == ERR_TOO_LARGE ? too_large(req) : -1;
	return 0;
}

int h_upload_post_end(struct http_req *req, struct err *err)
{
	if (!req->up) /* mounted */
		return blob_created(req, &req->digest, err);
	if (req->has_digest) /* monolithic */
		return commit(req, err);
	session_headers(req, req->ref, 0);
	return reply_buf(req, MHD_HTTP_ACCEPTED, NULL, "", 0, false, err);
}

int h_upload_get(struct http_req *req, struct err *err)
{
	if (take_session(req, err) < 0)
		return -1;
	session_headers(req, req->ref, store_upload_offset(req->up));
	return reply_buf(req, MHD_HTTP_NO_CONTENT, NULL, "", 0, false, err);
}

/*
 * Check a chunk's Content-Range (if any) against the session: it must
 * start where the upload stands (else 416 with the current Range) and
 * agree with Content-Length.
 */
static int check_chunk(struct http_req *req, struct err *err)
{
	const char *cr = req_header(req, MHD_HTTP_HEADER_CONTENT_RANGE);
	const char *cl = req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t start, end, offset;
	char range[48];

	if (!cr)
		return 0; /* streamed: append whatever comes */
	if (content_range_parse(cr, &start, &end, err) < 0) {
		req->err_status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
		req->err_code = "BLOB_UPLOAD_INVALID";
		return -1;
	}
	offset = store_upload_offset(req->up);
	if (start != offset) {
		snprintf(range, sizeof(range), "0-%llu",
		         (unsigned long long)(offset ? offset - 1 : 0));
		reply_hdr_location(req, "/v2/%s/blobs/uploads/%s", req->name,
		                   req->ref);
		reply_hdr(req, MHD_HTTP_HEADER_RANGE, range);
		req->err_status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
		req->err_code = "BLOB_UPLOAD_INVALID";
		return err_set(err, ERR_INVALID,
		               "chunk starts at %llu, upload is at %llu",
		               (unsigned long long)start,
		               (unsigned long long)offset);
	}
	if (cl && strtoull(cl, NULL, 10) != end - start + 1) {
		req->err_status = MHD_HTTP_BAD_REQUEST;
		req->err_code = "BLOB_UPLOAD_INVALID";
		return err_set(err, ERR_INVALID,
		               "Content-Length does not match Content-Range");
	}
	req->has_range = true;
	req->range_end = end;
	return 0;
}

int h_upload_patch_begin(struct http_req *req, struct err *err)
{
	if (take_session(req, err) < 0 || check_chunk(req, err) < 0)
		return -1;
	return check_length(req, err);
}

int h_upload_patch_end(struct http_req *req, struct err *err)
{
	uint64_t offset;

	offset = store_upload_offset(req->up);
	if (req->has_range && offset != req->range_end + 1) {
		req->err_code = "BLOB_UPLOAD_INVALID";
		req->err_status = MHD_HTTP_BAD_REQUEST;
		return err_set(err, ERR_INVALID,
		               "body shorter than its Content-Range");
	}
	session_headers(req, req->ref, offset);
	return reply_buf(req, MHD_HTTP_ACCEPTED, NULL, "", 0, false, err);
}

int h_upload_put_begin(struct http_req *req, struct err *err)
{
	if (digest_arg(req, true, err) < 0 || take_session(req, err) < 0 ||
	    check_chunk(req, err) < 0)
		return -1;
	return check_length(req, err);
}

int h_upload_put_end(struct http_req *req, struct err *err)
{
	if (req->has_range &&
	    store_upload_offset(req->up) != req->range_end + 1) {
		req->err_code = "BLOB_UPLOAD_INVALID";
		return err_set(err, ERR_INVALID,
		               "body shorter than its Content-Range");
	}
	return commit(req, err);
}

int h_upload_delete(struct http_req *req, struct err *err)
{
	if (take_session(req, err) < 0)
		return -1;
	store_upload_cancel(req->up);
	req->up = NULL;
	return reply_buf(req, MHD_HTTP_NO_CONTENT, NULL, "", 0, false, err);
}
