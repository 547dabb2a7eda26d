/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reply.c - building and queueing every MHD response, and the OCI error
 * body. Headers a handler adds with reply_hdr() go on the next response.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "http/http_int.h"

/*
 * Retry-After of a 429 (the spec: SHOULD): upload sessions and
 * connections free up as other clients finish, in seconds.
 */
#define HTTP_RETRY_AFTER_S "5"

void reply_hdr(struct http_req *req, const char *name, const char *value)
{
	int n = req->nhdrs;

	if (n >= (int)(sizeof(req->hdrs) / sizeof(req->hdrs[0])))
		return; /* a bug: the table is sized for the worst handler */
	req->hdrs[n].name = name;
	snprintf(req->hdrs[n].value, sizeof(req->hdrs[n].value), "%s", value);
	req->nhdrs++;
}

void reply_hdr_location(struct http_req *req, const char *fmt, ...)
{
	char value[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	reply_hdr(req, MHD_HTTP_HEADER_LOCATION, value);
}

static int queue(struct http_req *req, struct MHD_Response *resp,
                 unsigned status, uint64_t len, struct err *err)
{
	enum MHD_Result r;

	if (!resp)
		return err_set(err, ERR_NOMEM, "cannot create response");
	MHD_add_response_header(resp, "Docker-Distribution-API-Version",
	                        "registry/2.0");
	/* A blob is whatever was pushed: no browser guesses it is HTML. */
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (int i = 0; i < req->nhdrs; i++)
		MHD_add_response_header(resp, req->hdrs[i].name,
		                        req->hdrs[i].value);
	req->nhdrs = 0;
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (r != MHD_YES)
		return err_set(err, ERR_IO, "cannot queue response");
	req->queued = true;
	conn_phase(req->conn, CONN_REPLY);
	req->status = status;
	req->sent_bytes = len;
	return 0;
}

int reply_buf(struct http_req *req, unsigned status, const char *ctype,
              const void *buf, size_t len, bool take, struct err *err)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)buf,
	                                       take ? MHD_RESPMEM_MUST_FREE
	                                            : MHD_RESPMEM_MUST_COPY);
	if (!resp && take)
		free((void *)buf);
	if (resp && ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        ctype);
	return queue(req, resp, status, len, err);
}

/* Send @len bytes of @fd from @off; MHD uses sendfile and closes @fd. */
/*
 * Bodies up to this size are read and sent with the headers, in one
 * sendmsg: sendfile would take a second system call, and a second TCP
 * segment, for a few KiB (a config blob, a small layer).
 */
#define REPLY_INLINE_MAX (16u << 10)

/* A response holding @len bytes of @fd from @off; closes @fd on success. */
static struct MHD_Response *inline_body(int fd, uint64_t off, uint64_t len,
                                        struct err *err)
{
	struct MHD_Response *resp;
	char *buf = malloc(len ? len : 1);
	size_t got = 0;

	if (!buf)
		return NULL;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set_errno(err, n < 0 ? errno : EIO,
			              "cannot read blob");
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return NULL;
	}
	close(fd);
	return resp;
}

/*
 * Under TLS MHD cannot use sendfile, and reads a file response in 4 KiB
 * blocks, each one TLS record and one send(): the blob goes out in
 * TLS_BLOCK pieces instead, which GnuTLS sends as full 16 KiB records.
 */
#define TLS_BLOCK (64u << 10)

struct fd_body {
	int fd;       /* the blob file, owned */
	uint64_t off; /* where the body starts in it */
};

static ssize_t fd_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct fd_body *b = cls;
	ssize_t n;

	do
		n = pread(b->fd, buf, max, (off_t)(b->off + pos));
	while (n < 0 && errno == EINTR);
	/* Shorter than announced, or unreadable: cut the response. */
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void fd_body_free(void *cls)
{
	struct fd_body *b = cls;

	close(b->fd);
	free(b);
}

/* As MHD_create_response_from_fd_at_offset64, in TLS_BLOCK pieces. */
static struct MHD_Response *tls_body(int fd, uint64_t off, uint64_t len)
{
	struct fd_body *b = malloc(sizeof(*b));
	struct MHD_Response *resp;

	if (!b)
		return NULL;
	*b = (struct fd_body){fd, off};
	resp = MHD_create_response_from_callback(len, TLS_BLOCK, fd_body_read,
	                                         b, fd_body_free);
	if (!resp)
		free(b);
	return resp;
}

int reply_stream(struct http_req *req, uint64_t len,
                 MHD_ContentReaderCallback read, void *cls,
                 MHD_ContentReaderFreeCallback done, struct err *err)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(len, TLS_BLOCK, read, cls,
	                                         done);
	if (!resp) {
		done(cls);
		return err_set(err, ERR_NOMEM, "cannot create response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	return queue(req, resp, MHD_HTTP_OK, len, err);
}

int reply_fd(struct http_req *req, unsigned status, int fd, uint64_t off,
             uint64_t len, uint64_t total, struct err *err)
{
	struct MHD_Response *resp;
	char cr[96];

	if (len <= REPLY_INLINE_MAX)
		resp = inline_body(fd, off, len, err);
	else if (req->srv->tls)
		resp = tls_body(fd, off, len);
	else
		resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (!resp) {
		close(fd);
		return err->code ? -1
		                 : err_set(err, ERR_NOMEM,
		                           "cannot create response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu",
		         (unsigned long long)off,
		         (unsigned long long)(off + len - 1),
		         (unsigned long long)total);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
		                        cr);
	}
	return queue(req, resp, status, len, err);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/*
 * A response that announces @len bytes but has none: for HEAD, where MHD
 * sends the headers only, so nothing needs opening or reading.
 */
int reply_sized_empty(struct http_req *req, unsigned status, const char *ctype,
                      uint64_t len, struct err *err)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(len, 4096, no_body, NULL,
	                                         NULL);
	if (resp && ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        ctype);
	return queue(req, resp, status, 0, err);
}

unsigned http_status_for(const struct err *err)
{
	switch (err->code) {
	case ERR_OK:
		return MHD_HTTP_OK;
	case ERR_INVALID:
	case ERR_NOT_FOUND:
		break;
	case ERR_EXISTS:
		/*
		 * The spec lists no 409. What ERR_EXISTS refuses over HTTP is
		 * a deletion of something still needed: "deletion not
		 * allowed", which the spec answers 405 (end-9, end-10).
		 */
	case ERR_UNSUPPORTED:
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	case ERR_DENIED:
		return err->oci == OCI_UNAUTHORIZED ? MHD_HTTP_UNAUTHORIZED
		                                    : MHD_HTTP_FORBIDDEN;
	case ERR_TOO_LARGE:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERR_RANGE:
		return MHD_HTTP_RANGE_NOT_SATISFIABLE;
	case ERR_BUSY:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case ERR_NOMEM:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case ERR_IO:
	case ERR_INTERNAL:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	switch (err->oci) {
	case OCI_NONE:
		return err->code == ERR_NOT_FOUND ? MHD_HTTP_NOT_FOUND
		                                  : MHD_HTTP_BAD_REQUEST;
	case OCI_BLOB_UNKNOWN:
	case OCI_BLOB_UPLOAD_UNKNOWN:
	case OCI_MANIFEST_UNKNOWN:
	case OCI_NAME_UNKNOWN:
		return MHD_HTTP_NOT_FOUND;
	default:
		return MHD_HTTP_BAD_REQUEST;
	}
}

void http_err_complete(const struct http_req *req, struct err *err)
{
	if (err->oci != OCI_NONE)
		return;
	switch (err->code) {
	case ERR_NOT_FOUND:
		err->oci = req->h && req->h->not_found_code
		                   ? req->h->not_found_code
		                   : OCI_NAME_UNKNOWN;
		break;
	case ERR_INVALID:
		err->oci = req->h && req->h->invalid_code ? req->h->invalid_code
		                                          : OCI_UNSUPPORTED;
		break;
	case ERR_TOO_LARGE:
		err->oci = OCI_SIZE_INVALID;
		break;
	case ERR_RANGE:
		err->oci = OCI_BLOB_UPLOAD_INVALID;
		break;
	case ERR_DENIED:
	case ERR_EXISTS:
		err->oci = OCI_DENIED;
		break;
	case ERR_UNSUPPORTED:
		err->oci = OCI_UNSUPPORTED;
		break;
	case ERR_BUSY:
		err->oci = OCI_TOOMANYREQUESTS;
		break;
	default: /* a server error: no spec code says what it is */
		break;
	}
}

/* Render @err as the spec's error body; 5xx messages are not echoed. */
int reply_error(struct http_req *req, const struct err *err)
{
	unsigned status = http_status_for(err);
	const char *code = oci_code_name(err->oci);
	const char *msg = status >= 500 ? "internal server error" : err->msg;
	struct err e2 = ERR_INIT;
	json_t *body;
	char *text;

	if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		char allow[64];

		/*
		 * RFC 9110: the methods the resource does support. A method
		 * the route has but refused here (a delete not allowed) is
		 * not among them.
		 */
		route_allow(req->kind, req->h ? req->method : NULL, allow,
		            sizeof(allow));
		reply_hdr(req, MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		reply_hdr(req, MHD_HTTP_HEADER_RETRY_AFTER, HTTP_RETRY_AFTER_S);
	body = json_pack("{s:[{s:s,s:s,s:n}]}", "errors", "code",
	                 code ? code : "UNKNOWN", "message", msg, "detail");
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return reply_buf(req, status, NULL, "", 0, false, &e2);
	/* MHD leaves the body out itself when the request was HEAD. */
	return reply_buf(req, status, "application/json", text, strlen(text),
	                 true, &e2);
}

const char *req_arg(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
	                                   key);
}

const char *req_header(struct http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, key);
}

int reply_json(struct http_req *req, unsigned status, json_t *body,
               struct err *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text)
		return err_set(err, ERR_NOMEM, "out of memory");
	return reply_buf(req, status, "application/json", text, strlen(text),
	                 true, err);
}

int req_body_append(struct http_req *req, const char *buf, size_t len,
                    struct err *err)
{
	if (req->len + len > req->cap) {
		size_t cap = req->cap ? req->cap : 16384;
		char *p;

		while (cap < req->len + len)
			cap *= 2;
		p = realloc(req->buf, cap);
		if (!p)
			return err_set(err, ERR_NOMEM, "out of memory");
		req->buf = p;
		req->cap = cap;
	}
	memcpy(req->buf + req->len, buf, len);
	req->len += len;
	return 0;
}
