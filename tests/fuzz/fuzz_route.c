/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_route.c - URL paths to routes (http/route.c route_parse()).
 *
 * Input: the decoded path. Invariants: a route with a repository has a
 * valid name; routes that need a reference have a non-empty one.
 */
#include <string.h>

#include "http/http_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req *req;
	struct err err = ERR_INIT, check = ERR_INIT;
	char *url = fuzz_str(data, size);

	if (!url)
		return 0;
	/* On the heap, so ASan sees writes past its arrays. */
	req = calloc(1, sizeof(*req));
	if (!req)
		abort();
	req->url = url;
	if (route_parse(req, &err) < 0) {
		fuzz_check(err.code == ERR_INVALID ||
		           err.code == ERR_NOT_FOUND);
		goto out;
	}
	fuzz_check(req->kind != RT_NONE);
	/* Every route under /v2/<name>/ names a valid repository. */
	if (route_names_repo(req->kind))
		fuzz_check(ref_name_check(req->name, &check) == 0);
	else
		fuzz_check(req->name[0] == '\0');
	if (req->kind == RT_MANIFEST || req->kind == RT_BLOB ||
	    req->kind == RT_REFERRERS)
		fuzz_check(req->ref[0] != '\0');
	/*
	 * An upload id too long to hold names no session: it is routed to
	 * the upload with no id, and answered 404 BLOB_UPLOAD_UNKNOWN.
	 */
	if (req->kind == RT_UPLOAD && req->ref[0] == '\0')
		fuzz_check(strlen(strstr(url, "/blobs/uploads/") +
		                  strlen("/blobs/uploads/")) >=
		           sizeof(req->ref));
	fuzz_check(memchr(req->ref, '\0', sizeof(req->ref)));
out:
	free(req);
	free(url);
	return 0;
}
