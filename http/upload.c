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
		err_set(err, ERR_INVALID, "digest parameter missing");
		return err_oci(err, OCI_DIGEST_INVALID);
	}
	if (req_digest(s, &req->digest, err) < 0)
		return -1;
	req->has_digest = true;
	return 0;
}

/* Commit the session to req->digest, mapping a mismatch to 400. */
static int commit(struct http_req *req, struct err *err)
{
	if (store_upload_commit(req->up, &req->digest, err) < 0)
		return err->code == ERR_INVALID
		               ? err_oci(err, OCI_DIGEST_INVALID)
		               : -1;
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

/*
 * ?digest-algorithm= (end-4c) names the algorithm the client will close
 * the upload with. dray hashes with whichever the closing digest names,
 * so only an algorithm it does not have is refused: "uses an unsupported
 * algorithm ... SHOULD respond with ... 400".
 */
static int check_algorithm(struct http_req *req, struct err *err)
{
	const char *alg = req_arg(req, "digest-algorithm");

	if (!alg || !*alg || strcmp(alg, digest_alg_name(DIGEST_SHA256)) == 0 ||
	    strcmp(alg, digest_alg_name(DIGEST_SHA512)) == 0)
		return 0;
	err_set(err, ERR_INVALID, "unsupported digest algorithm '%.64s'", alg);
	return err_oci(err, OCI_DIGEST_INVALID);
}

int h_upload_post_begin(struct http_req *req, struct err *err)
{
	const char *mount = req_arg(req, "mount");
	const char *from = req_arg(req, "from");
	char id[STORE_UPLOAD_ID_MAX];
	struct digest d;

	/*
	 * "If a registry ... is unable to mount the requested blob, it
	 * SHOULD return a 202" (end-11): a malformed digest, no or a hidden
	 * `from`, a blob `from` lacks all fall back to an ordinary session.
	 * A source the policy hides is as good as absent.
	 */
	if (mount && *mount) {
		struct err merr = ERR_INIT;

		if (digest_parse(&d, mount, strlen(mount), &merr) == 0 &&
		    from && *from && http_allows(req, from, ACCESS_READ) &&
		    store_blob_mount(req->srv->st, req->name, from, &d,
		                     &merr) == 0) {
			req->has_digest = true;
			req->digest = d;
			return 0; /* answered 201 at the end */
		}
	}
	if (digest_arg(req, false, err) < 0 || check_algorithm(req, err) < 0)
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
		err_set(err, ERR_INVALID, "unexpected body");
		return err_oci(err, OCI_BLOB_UPLOAD_INVALID);
	}
	if (req->has_range &&
	    store_upload_offset(req->up) + len > req->range_end + 1)
		return err_set(err, ERR_RANGE,
		               "body longer than its Content-Range");
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
	/* A body without ?digest= is the session's first chunk. */
	session_headers(req, req->ref, store_upload_offset(req->up));
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
		err->code = ERR_RANGE; /* no range we could satisfy */
		return -1;
	}
	offset = store_upload_offset(req->up);
	if (start != offset) {
		snprintf(range, sizeof(range), "0-%llu",
		         (unsigned long long)(offset ? offset - 1 : 0));
		reply_hdr_location(req, "/v2/%s/blobs/uploads/%s", req->name,
		                   req->ref);
		reply_hdr(req, MHD_HTTP_HEADER_RANGE, range);
		return err_set(err, ERR_RANGE,
		               "chunk starts at %llu, upload is at %llu",
		               (unsigned long long)start,
		               (unsigned long long)offset);
	}
	/* A chunk is its range: anything else is 416 (end-5). */
	if (cl && strtoull(cl, NULL, 10) != end - start + 1)
		return err_set(err, ERR_RANGE,
		               "Content-Length does not match Content-Range");
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
	if (req->has_range && offset != req->range_end + 1)
		return err_set(err, ERR_RANGE,
		               "body shorter than its Content-Range");
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
	    store_upload_offset(req->up) != req->range_end + 1)
		return err_set(err, ERR_RANGE,
		               "body shorter than its Content-Range");
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
