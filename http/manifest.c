/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manifest.c - GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>.
 *
 * A PUT body is collected in memory up to STORE_MANIFEST_MAX; a declared
 * Content-Length over it is refused before any byte is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "search/zot.h"

/* ERR_NOT_FOUND means NAME_UNKNOWN when the repository itself is absent. */
static int not_found(struct http_req *req, struct err *err)
{
	if (err->code == ERR_NOT_FOUND &&
	    !store_repo_exists(req->srv->st, req->name))
		err_oci(err, OCI_NAME_UNKNOWN);
	return -1;
}

static void digest_header(struct http_req *req, const struct digest *d)
{
	char dstr[DIGEST_STR_MAX];

	digest_format(d, dstr);
	reply_hdr(req, "Docker-Content-Digest", dstr);
	req->digest = *d; /* for the access log and the audit trail */
	req->has_digest = true;
}

/* Validate a digest reference early, so it fails as DIGEST_INVALID. */
static int check_ref(struct http_req *req, struct err *err)
{
	struct digest d;

	if (ref_is_digest(req->ref))
		return req_digest(req->ref, &d, err);
	if (ref_tag_check(req->ref, err) < 0)
		return err_oci(err, OCI_MANIFEST_INVALID);
	return 0;
}

int h_manifest_get(struct http_req *req, struct err *err)
{
	bool head = strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
	struct manifest_desc desc;
	char *body = NULL;
	int rc;

	/*
	 * A reference no manifest can have (a malformed digest, a name no
	 * tag can have) names none: "not found" is 404 (end-3).
	 */
	if (check_ref(req, err) < 0)
		return err_oci(err, OCI_MANIFEST_UNKNOWN);
	rc = pull_manifest(req, &desc, head ? NULL : &body, err);
	if (rc == HTTP_PENDING)
		return rc;
	if (rc < 0)
		return not_found(req, err);
	digest_header(req, &desc.digest);
	if (head)
		return reply_sized_empty(req, MHD_HTTP_OK, desc.media_type,
		                         desc.size, err);
	/* A download in zot's search answers (DownloadCount). */
	zsearch_pulled(req->srv->opts.search, req->name, &desc.digest);
	return reply_buf(req, MHD_HTTP_OK, desc.media_type, body, desc.size,
	                 true, err);
}

int h_manifest_put_begin(struct http_req *req, struct err *err)
{
	const char *cl = req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (check_ref(req, err) < 0)
		return -1;
	if (cl && strtoull(cl, NULL, 10) > STORE_MANIFEST_MAX)
		return err_set(err, ERR_TOO_LARGE,
		               "manifest larger than %u bytes",
		               STORE_MANIFEST_MAX);
	return 0;
}

int h_manifest_put_body(struct http_req *req, const char *buf, size_t len,
                        struct err *err)
{
	if (req->len + len > STORE_MANIFEST_MAX)
		return err_set(err, ERR_TOO_LARGE,
		               "manifest larger than %u bytes",
		               STORE_MANIFEST_MAX);
	return req_body_append(req, buf, len, err);
}

/*
 * Would this PUT point an existing tag at other content (zot: update)?
 * When that cannot be told, it is taken to.
 */
static bool moves_a_tag(struct http_req *req)
{
	struct err e = ERR_INIT;
	struct manifest_desc cur;
	struct digest d;

	if (ref_is_digest(req->ref))
		return false;
	if (store_manifest_get(req->srv->st, req->name, req->ref, &cur, NULL,
	                       &e) < 0)
		return e.code != ERR_NOT_FOUND;
	if (digest_buffer(cur.digest.alg, req->buf ? req->buf : "", req->len,
	                  &d, &e) < 0)
		return true;
	return !digest_equal(&cur.digest, &d);
}

int h_manifest_put_end(struct http_req *req, struct err *err)
{
	const char *hdr = req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	char ctype[STORE_MEDIA_TYPE_MAX];
	struct manifest_put_result res;
	char dstr[DIGEST_STR_MAX];

	/* Parameters ("; charset=utf-8") are not part of the media type. */
	snprintf(ctype, sizeof(ctype), "%.*s",
	         hdr ? (int)strcspn(hdr, "; \t") : 0, hdr ? hdr : "");
	if (moves_a_tag(req) && http_denied(req, req->name, ACCESS_UPDATE, err))
		return -1;
	if (store_manifest_put_as(req->srv->st, req->name, req->ref, ctype,
	                          req->buf ? req->buf : "", req->len,
	                          req->who.user, &res, err) < 0)
		return -1;
	digest_format(&res.digest, dstr);
	digest_header(req, &res.digest);
	reply_hdr_location(req, "/v2/%s/manifests/%s", req->name, dstr);
	if (res.has_subject) {
		digest_format(&res.subject, dstr);
		reply_hdr(req, "OCI-Subject", dstr);
	}
	return reply_buf(req, MHD_HTTP_CREATED, NULL, "", 0, false, err);
}

int h_manifest_delete(struct http_req *req, struct err *err)
{
	if (check_ref(req, err) < 0)
		return -1;
	/*
	 * ERR_EXISTS (detectManifestCollision: the reference matches
	 * several entries) is a deletion not allowed: 405 (zot: 409, which
	 * the spec does not list for end-9).
	 */
	if (store_manifest_delete(req->srv->st, req->name, req->ref, err) < 0)
		return not_found(req, err);
	return reply_buf(req, MHD_HTTP_ACCEPTED, NULL, "", 0, false, err);
}
