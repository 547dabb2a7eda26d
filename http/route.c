/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route.c - URL paths to routes, and the table of handlers.
 *
 * Repository names contain '/', so a path is read from its end: the last
 * "/manifests/<ref>", "/blobs/<digest>", "/blobs/uploads/[<id>]",
 * "/referrers/<digest>" or "/tags/list" whose tail has no '/' wins, and
 * everything between "/v2/" and it is the name.
 */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"

#define GET    MHD_HTTP_METHOD_GET
#define HEAD   MHD_HTTP_METHOD_HEAD
#define PUT    MHD_HTTP_METHOD_PUT
#define POST   MHD_HTTP_METHOD_POST
#define PATCH  MHD_HTTP_METHOD_PATCH
#define DELETE MHD_HTTP_METHOD_DELETE
/* What each route needs of the repository's policy. */
#define READ    ACCESS_READ
#define CREATE  ACCESS_CREATE
#define DELETE_ ACCESS_DELETE

#define BLOB_UNKNOWN        OCI_BLOB_UNKNOWN
#define BLOB_UPLOAD_INVALID OCI_BLOB_UPLOAD_INVALID
#define BLOB_UPLOAD_UNKNOWN OCI_BLOB_UPLOAD_UNKNOWN
#define DIGEST_INVALID      OCI_DIGEST_INVALID
#define MANIFEST_INVALID    OCI_MANIFEST_INVALID
#define MANIFEST_UNKNOWN    OCI_MANIFEST_UNKNOWN
#define NAME_UNKNOWN        OCI_NAME_UNKNOWN
#define UNSUPPORTED         OCI_UNSUPPORTED
#define NONE                OCI_NONE

/*
 * Each row gives the OCI codes an unqualified ERR_NOT_FOUND and
 * ERR_INVALID get on that route; the status follows from the code
 * (http_status_for), never from the row.
 */
static const struct handler handlers[] = {
	{RT_BASE, GET, NULL, NULL, h_base, NONE, NONE, 0},
	{RT_BASE, HEAD, NULL, NULL, h_base, NONE, NONE, 0},
	/* The spec has no pagination error code: UNSUPPORTED is nearest. */
	{RT_CATALOG, GET, NULL, NULL, h_catalog, NONE, UNSUPPORTED, 0},
	{RT_CATALOG, HEAD, NULL, NULL, h_catalog, NONE, UNSUPPORTED, 0},
	{RT_TAGS, GET, NULL, NULL, h_tags, NAME_UNKNOWN, UNSUPPORTED, READ},
	{RT_TAGS, HEAD, NULL, NULL, h_tags, NAME_UNKNOWN, UNSUPPORTED, READ},
	{RT_MANIFEST, GET, NULL, NULL, h_manifest_get, MANIFEST_UNKNOWN,
         MANIFEST_INVALID, READ},
	{RT_MANIFEST, HEAD, NULL, NULL, h_manifest_get, MANIFEST_UNKNOWN,
         MANIFEST_INVALID, READ},
	{RT_MANIFEST, PUT, h_manifest_put_begin, h_manifest_put_body,
         h_manifest_put_end, NAME_UNKNOWN, MANIFEST_INVALID, CREATE},
	{RT_MANIFEST, DELETE, NULL, NULL, h_manifest_delete, MANIFEST_UNKNOWN,
         MANIFEST_INVALID, DELETE_},
	{RT_BLOB, GET, NULL, NULL, h_blob_get, BLOB_UNKNOWN, DIGEST_INVALID,
         READ},
	{RT_BLOB, HEAD, NULL, NULL, h_blob_get, BLOB_UNKNOWN, DIGEST_INVALID,
         READ},
	{RT_BLOB, DELETE, NULL, NULL, h_blob_delete, BLOB_UNKNOWN,
         DIGEST_INVALID, DELETE_},
	{RT_UPLOADS, POST, h_upload_post_begin, h_upload_body,
         h_upload_post_end, BLOB_UNKNOWN, DIGEST_INVALID, CREATE},
	{RT_UPLOAD, GET, NULL, NULL, h_upload_get, BLOB_UPLOAD_UNKNOWN,
         BLOB_UPLOAD_INVALID, CREATE},
	{RT_UPLOAD, PATCH, h_upload_patch_begin, h_upload_body,
         h_upload_patch_end, BLOB_UPLOAD_UNKNOWN, BLOB_UPLOAD_INVALID, CREATE},
	{RT_UPLOAD, PUT, h_upload_put_begin, h_upload_body, h_upload_put_end,
         BLOB_UPLOAD_UNKNOWN, DIGEST_INVALID, CREATE},
	{RT_UPLOAD, DELETE, NULL, NULL, h_upload_delete, BLOB_UPLOAD_UNKNOWN,
         BLOB_UPLOAD_INVALID, CREATE},
	{RT_REFERRERS, GET, NULL, NULL, h_referrers, MANIFEST_UNKNOWN,
         DIGEST_INVALID, READ},
	{RT_REFERRERS, HEAD, NULL, NULL, h_referrers, MANIFEST_UNKNOWN,
         DIGEST_INVALID, READ},
	/* Operations: open to all, as in zot (no repository policy). */
	{RT_LIVEZ, GET, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_LIVEZ, HEAD, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_READYZ, GET, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_READYZ, HEAD, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_STARTUPZ, GET, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_STARTUPZ, HEAD, NULL, NULL, h_health, NONE, NONE, 0},
	{RT_METRICS, GET, NULL, NULL, h_metrics, NONE, NONE, 0},
	{RT_MGMT, GET, NULL, NULL, h_mgmt, NONE, NONE, 0},
	/* API keys: the caller's own; the handlers check the login. */
	{RT_APIKEY, POST, h_apikey_post_begin, h_apikey_post_body,
         h_apikey_post_end, NONE, NONE, 0},
	{RT_APIKEY, GET, NULL, NULL, h_apikey_get, NONE, NONE, 0},
	{RT_APIKEY, DELETE, NULL, NULL, h_apikey_delete, NONE, NONE, 0},
	/* Search: open to all; answers show what the caller may read. */
	{RT_SEARCH, GET, NULL, NULL, h_search_get, NONE, NONE, 0},
	{RT_SEARCH, POST, NULL, h_search_post_body, h_search_post_end, NONE,
         NONE, 0},
	{RT_DISCOVER, GET, NULL, NULL, h_discover, NONE, NONE, 0},
	/* The web UI's files: open to all; its API requests are checked. */
	{RT_UI, GET, NULL, NULL, h_ui, NONE, NONE, 0},
	{RT_UI, HEAD, NULL, NULL, h_ui, NONE, NONE, 0},
	/* Stars and bookmarks: the handler checks the login and the read. */
	{RT_USERPREFS, PUT, NULL, NULL, h_userprefs_put, NONE, NONE, 0},
};

bool route_names_repo(enum route_kind kind)
{
	return kind >= RT_TAGS && kind <= RT_REFERRERS;
}

const struct handler *route_handler(enum route_kind kind, const char *method,
                                    bool *other_methods)
{
	*other_methods = false;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].kind != kind)
			continue;
		if (strcmp(handlers[i].method, method) == 0)
			return &handlers[i];
		*other_methods = true;
	}
	return NULL;
}

void route_allow(enum route_kind kind, const char *except, char *buf,
                 size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		int n;

		if (handlers[i].kind != kind ||
		    (except && strcmp(handlers[i].method, except) == 0))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
		             handlers[i].method);
		if (n < 0 || (size_t)n >= size - len) {
			buf[len] = '\0'; /* no half method name */
			break;
		}
		len += (size_t)n;
	}
}

/* Find the last "@mid" in @path (after @from) whose tail has no '/'. */
static const char *find_tail(const char *from, const char *mid)
{
	const char *hit = NULL, *p = from;
	size_t n = strlen(mid);

	while ((p = strstr(p, mid))) {
		if (!strchr(p + n, '/'))
			hit = p;
		p++;
	}
	return hit;
}

static int set_name(struct http_req *req, const char *start, const char *end,
                    struct err *err)
{
	size_t n = (size_t)(end - start);

	if (n == 0 || n > REF_NAME_MAX)
		return err_set(err, ERR_INVALID, "invalid repository name");
	memcpy(req->name, start, n);
	req->name[n] = '\0';
	return ref_name_check(req->name, err);
}

static int set_ref(struct http_req *req, const char *s, struct err *err)
{
	size_t n = strlen(s);

	if (n >= sizeof(req->ref))
		return err_set(err, ERR_INVALID, "reference too long");
	memcpy(req->ref, s, n + 1);
	return 0;
}

/* The operations endpoints: 0 if req->url is one (req->kind set). */
static int route_ops(struct http_req *req)
{
	static const struct {
		const char *path;
		enum route_kind kind;
	} probes[] = {
		{"/livez", RT_LIVEZ},
		{"/readyz", RT_READYZ},
		{"/startupz", RT_STARTUPZ},
	};
	const struct http_opts *o = req->srv ? &req->srv->opts : NULL;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (strcmp(req->url, probes[i].path) == 0) {
			req->kind = probes[i].kind;
			return 0;
		}
	if (o && o->metrics && strcmp(req->url, o->metrics_path) == 0) {
		req->kind = RT_METRICS;
		return 0;
	}
	if (o && o->mgmt_json && strcmp(req->url, "/v2/_zot/ext/mgmt") == 0) {
		req->kind = RT_MGMT;
		return 0;
	}
	if (o && o->apikeys && strcmp(req->url, "/zot/auth/apikey") == 0) {
		req->kind = RT_APIKEY;
		return 0;
	}
	if (o && o->search && strcmp(req->url, "/v2/_zot/ext/search") == 0) {
		req->kind = RT_SEARCH;
		return 0;
	}
	if (o && o->search &&
	    strcmp(req->url, "/v2/_oci/ext/discover") == 0) {
		req->kind = RT_DISCOVER;
		return 0;
	}
	if (o && o->userprefs &&
	    strcmp(req->url, "/v2/_zot/ext/userprefs") == 0) {
		req->kind = RT_USERPREFS;
		return 0;
	}
	if (o && o->ui && ui_find(req->url)) {
		req->kind = RT_UI;
		return 0;
	}
	return -1;
}

/*
 * Fill req->kind, name and ref from req->url. ERR_NOT_FOUND for a path
 * that is no route; ERR_INVALID (NAME_INVALID) for a bad name.
 */
int route_parse(struct http_req *req, struct err *err)
{
	static const struct {
		const char *mid;
		enum route_kind kind;
	} tails[] = {
		{"/blobs/uploads/", RT_UPLOAD},
		{"/manifests/", RT_MANIFEST},
		{"/referrers/", RT_REFERRERS},
		{"/blobs/", RT_BLOB},
	};
	const char *url = req->url, *rest, *hit;

	if (route_ops(req) == 0)
		return 0;
	if (strcmp(url, "/v2") == 0 || strcmp(url, "/v2/") == 0) {
		req->kind = RT_BASE;
		return 0;
	}
	if (strncmp(url, "/v2/", 4) != 0)
		return err_set(err, ERR_NOT_FOUND, "no such endpoint");
	rest = url + 4;
	if (strcmp(rest, "_catalog") == 0) {
		req->kind = RT_CATALOG;
		return 0;
	}
	hit = strstr(rest, "/tags/list");
	if (hit && strcmp(hit, "/tags/list") == 0) {
		req->kind = RT_TAGS;
		return set_name(req, rest, hit, err);
	}
	/* "/v2/<name>/blobs/uploads" without the slash (before "/blobs/"
	 * takes "uploads" for a digest). */
	hit = strstr(rest, "/blobs/uploads");
	if (hit && strcmp(hit, "/blobs/uploads") == 0) {
		req->kind = RT_UPLOADS;
		return set_name(req, rest, hit, err);
	}
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		hit = find_tail(rest, tails[i].mid);
		if (!hit)
			continue;
		req->kind = tails[i].kind;
		if (req->kind == RT_UPLOAD && hit[strlen(tails[i].mid)] == '\0')
			req->kind = RT_UPLOADS;
		if (req->kind == RT_UPLOAD) {
			struct err ignored = ERR_INIT;

			/* An id too long to hold names no session. */
			if (set_ref(req, hit + strlen(tails[i].mid), &ignored) <
			    0)
				return set_name(req, rest, hit, err);
		} else if (set_ref(req, hit + strlen(tails[i].mid), err) < 0) {
			return -1;
		}
		if (req->kind != RT_UPLOADS && req->ref[0] == '\0')
			return err_set(err, ERR_NOT_FOUND, "no such endpoint");
		return set_name(req, rest, hit, err);
	}
	/*
	 * An upload id with a '/' in it ("../x") names no session: route it
	 * to the upload so it fails as the unknown session it is.
	 */
	hit = strstr(rest, "/blobs/uploads/");
	if (hit) {
		struct err ignored = ERR_INIT;

		if (set_name(req, rest, hit, &ignored) == 0) {
			req->kind = RT_UPLOAD;
			if (set_ref(req, hit + strlen("/blobs/uploads/"),
			            &ignored) < 0)
				req->ref[0] = '\0'; /* too long: no id either */
			return 0;
		}
	}
	/*
	 * A reference with a '/' in it ("sha256:../x") is no reference, but
	 * the request is still about a blob or manifest: route it there so
	 * it fails as the bad digest or tag it is.
	 */
	for (size_t i = 1; i < sizeof(tails) / sizeof(tails[0]); i++) {
		struct err ignored = ERR_INIT;

		hit = strstr(rest, tails[i].mid);
		if (!hit || set_ref(req, hit + strlen(tails[i].mid), err) < 0)
			continue;
		if (set_name(req, rest, hit, &ignored) < 0)
			continue;
		req->kind = tails[i].kind;
		return 0;
	}
	return err_set(err, ERR_NOT_FOUND, "no such endpoint");
}
