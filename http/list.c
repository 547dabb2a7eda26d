/* SPDX-License-Identifier: Apache-2.0 */
/*
 * list.c - GET /v2/, the catalog, tag lists and the referrers API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/http_int.h"

#define PAGE_MAX 100000

int h_base(struct http_req *req, struct err *err)
{
	return reply_buf(req, MHD_HTTP_OK, "application/json", "{}", 2, false,
	                 err);
}

/* Read ?n= (absent: no limit) and ?last=. ERR_INVALID. */
static int page_args(struct http_req *req, size_t *n, const char **last,
                     struct err *err)
{
	*last = req_arg(req, "last");
	if (*last && !**last)
		*last = NULL;
	return page_size_parse(req_arg(req, "n"), n, err);
}

int page_size_parse(const char *s, size_t *n, struct err *err)
{
	size_t v = 0;

	if (!s || !*s) {
		*n = SIZE_MAX;
		return 0;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > PAGE_MAX)
			return err_set(err, ERR_INVALID,
			               "n must be a number from 0 to %d",
			               PAGE_MAX);
		v = v * 10 + (size_t)(*p - '0');
	}
	*n = v > PAGE_MAX ? PAGE_MAX : v;
	return 0;
}

/*
 * Reply with {"name": @name?, "<key>": [list]} and a Link when more.
 * Written by hand: names and tags come from grammars with no character
 * JSON would escape (ref.h), so no encoder is needed on this hot path.
 */
static int reply_list(struct http_req *req, const char *name, const char *key,
                      const struct strvec *sv, bool more, size_t n,
                      const char *path, struct err *err)
{
	size_t cap = 64 + (name ? strlen(name) : 0), len = 0;
	char *text;

	for (size_t i = 0; i < sv->n; i++)
		cap += strlen(sv->v[i]) + 3;
	text = malloc(cap);
	if (!text)
		return err_set(err, ERR_NOMEM, "cannot build list");
	if (name)
		len += (size_t)snprintf(text, cap, "{\"name\":\"%s\",", name);
	else
		text[len++] = '{';
	len += (size_t)snprintf(text + len, cap - len, "\"%s\":[", key);
	for (size_t i = 0; i < sv->n; i++) {
		size_t l = strlen(sv->v[i]);

		if (i)
			text[len++] = ',';
		text[len++] = '"';
		memcpy(text + len, sv->v[i], l);
		len += l;
		text[len++] = '"';
	}
	text[len++] = ']';
	text[len++] = '}';
	if (more && sv->n) {
		char link[700];

		snprintf(link, sizeof(link), "<%s?n=%zu&last=%s>; rel=\"next\"",
		         path, n, sv->v[sv->n - 1]);
		reply_hdr(req, MHD_HTTP_HEADER_LINK, link);
	}
	return reply_buf(req, MHD_HTTP_OK, "application/json", text, len, true,
	                 err);
}

/*
 * The catalog as the policy lets one read it: pages of @n names are read
 * from @last on and the unreadable dropped, until @n are kept or none
 * are left. *more says whether any name follows the last one kept.
 */
static int readable_catalog(struct http_req *req, const char *last, size_t n,
                            struct strvec *out, bool *more, struct err *err)
{
	char cursor[REF_NAME_MAX + 1] = "";
	int ret = 0;

	*more = true;
	if (last)
		snprintf(cursor, sizeof(cursor), "%s", last);
	while (ret == 0 && *more && out->n < n) {
		struct strvec page = {0};
		size_t i;

		ret = store_catalog(req->srv->st, *cursor ? cursor : NULL, n,
		                    &page, more, err);
		for (i = 0; ret == 0 && i < page.n && out->n < n; i++) {
			if (!http_allows(req, page.v[i], ACCESS_READ))
				continue;
			if (strvec_push(out, page.v[i]) < 0)
				ret = err_set(err, ERR_NOMEM, "cannot list");
		}
		if (i < page.n)
			*more = true; /* stopped inside the page */
		if (i)
			snprintf(cursor, sizeof(cursor), "%s", page.v[i - 1]);
		strvec_release(&page);
	}
	return ret;
}

int h_catalog(struct http_req *req, struct err *err)
{
	const struct access *a = req->pol->access;
	bool filter = (a && a->on) || req->pol->auth;
	struct strvec sv = {0};
	const char *last;
	bool more = false;
	size_t n = 0;
	int ret;

	if (page_args(req, &n, &last, err) < 0)
		return -1;
	/* What the policy does not let one read is not listed. */
	if (filter)
		ret = readable_catalog(req, last, n, &sv, &more, err);
	else
		ret = store_catalog(req->srv->st, last, n, &sv, &more, err);
	if (ret == 0)
		ret = reply_list(req, NULL, "repositories", &sv, more, n,
		                 "/v2/_catalog", err);
	strvec_release(&sv);
	return ret;
}

int h_tags(struct http_req *req, struct err *err)
{
	struct strvec sv = {0};
	char path[REF_NAME_MAX + 32];
	const char *last;
	bool more = false;
	size_t n = 0;
	int ret;

	if (page_args(req, &n, &last, err) < 0)
		return -1;
	ret = store_tags(req->srv->st, req->name, last, n, &sv, &more, err);
	snprintf(path, sizeof(path), "/v2/%s/tags/list", req->name);
	if (ret == 0)
		ret = reply_list(req, req->name, "tags", &sv, more, n, path,
		                 err);
	strvec_release(&sv);
	return ret;
}

int req_digest(const char *s, struct digest *out, struct err *err)
{
	if (digest_parse(out, s, strlen(s), err) == 0)
		return 0;
	/* An unknown algorithm is as unusable as a malformed digest. */
	return err_oci(err, OCI_DIGEST_INVALID);
}

int h_referrers(struct http_req *req, struct err *err)
{
	const char *filter = req_arg(req, "artifactType");
	struct digest d;
	char *json = NULL;
	size_t len;
	int rc;

	if (req_digest(req->ref, &d, err) < 0)
		return -1;
	rc = pull_referrers(req, &d, err); /* sync on demand */
	if (rc != 0)
		return rc;
	if (filter && !*filter)
		filter = NULL;
	if (!store_repo_exists(req->srv->st, req->name)) {
		/* No repository holds no referrers: an empty index. */
		static const char empty[] =
			"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
			"\",\"manifests\":[]}";
		json = strdup(empty);
		len = sizeof(empty) - 1;
		if (!json)
			return err_set(err, ERR_NOMEM, "out of memory");
	} else if (store_referrers(req->srv->st, req->name, &d, filter, &json,
	                           &len, err) < 0) {
		return -1;
	}
	if (filter)
		reply_hdr(req, "OCI-Filters-Applied", "artifactType");
	return reply_buf(req, MHD_HTTP_OK, MT_OCI_INDEX, json, len, true, err);
}
