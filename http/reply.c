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

	resp = MHD_create_response_from_buffer(
		len, (void *)buf,
		take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
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
			err_set_errno(err, n < 0 ? errno : EIO, "cannot read blob");
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

int reply_fd(struct http_req *req, unsigned status, int fd, uint64_t off,
             uint64_t len, uint64_t total, struct err *err)
{
	struct MHD_Response *resp;
	char cr[96];

	resp = len <= REPLY_INLINE_MAX ? inline_body(fd, off, len, err)
	                               : MHD_create_response_from_fd_at_offset64(
	                                         len, fd, off);
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
int reply_sized_empty(struct http_req *req, unsigned status,
                      const char *ctype, uint64_t len, struct err *err)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(len, 4096, no_body, NULL,
	                                         NULL);
	if (resp && ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        ctype);
	return queue(req, resp, status, 0, err);
}

unsigned http_status_for(enum err_code code)
{
	switch (code) {
	case ERR_OK:
		return MHD_HTTP_OK;
	case ERR_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case ERR_NOT_FOUND:
		return MHD_HTTP_NOT_FOUND;
	case ERR_EXISTS:
		return MHD_HTTP_CONFLICT;
	case ERR_DENIED:
		return MHD_HTTP_FORBIDDEN;
	case ERR_TOO_LARGE:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case ERR_BUSY:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case ERR_NOMEM:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case ERR_IO:
	case ERR_INTERNAL:
		break;
	}
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static const char *default_code(const struct http_req *req,
                                enum err_code code)
{
	switch (code) {
	case ERR_NOT_FOUND:
		if (req->h && req->h->not_found_code)
			return req->h->not_found_code;
		return "NAME_UNKNOWN";
	case ERR_INVALID:
		if (req->h && req->h->invalid_code)
			return req->h->invalid_code;
		return "UNSUPPORTED";
	case ERR_TOO_LARGE:
		return "SIZE_INVALID";
	case ERR_DENIED:
		return "DENIED";
	case ERR_BUSY:
		return "TOOMANYREQUESTS";
	case ERR_EXISTS:
		return "DENIED";
	default:
		return "UNKNOWN";
	}
}

/* Render @err as the spec's error body; 5xx messages are not echoed. */
int reply_error(struct http_req *req, const struct err *err)
{
	unsigned status = req->err_status ? req->err_status
	                                  : http_status_for(err->code);
	const char *code = req->err_code ? req->err_code
	                                 : default_code(req, err->code);
	const char *msg = status >= 500 ? "internal server error" : err->msg;
	struct err e2 = ERR_INIT;
	json_t *body;
	char *text;

	if (req->err_range)
		reply_hdr(req, MHD_HTTP_HEADER_RANGE, req->err_range);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && req->h == NULL)
		reply_hdr(req, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	body = json_pack("{s:[{s:s,s:s,s:n}]}", "errors", "code", code,
	                 "message", msg, "detail");
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
