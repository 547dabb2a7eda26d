/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_query.c - the query strings of the list APIs: ?n= (http/list.c
 * page_size_parse()), ?last= on the catalog and tag lists and
 * ?artifactType= on the referrers API, run against a store holding one
 * repository with tags and a referrer.
 *
 * Input: "<n>\n<last>\n<artifactType>". Invariants: a page is never
 * longer than asked, lists are sorted and after ?last=, and the
 * referrers answer is a JSON image index.
 */
#include <jansson.h>

#include "http/http_int.h"
#include "tests/fuzz/fuzz.h"

#define REPO "fz/app"

static const char config[] = "{}";
static struct digest subject;

static void push(struct store *st, const char *ref, const char *ctype,
                 const char *body, struct digest *out)
{
	struct manifest_put_result res;
	struct err err = ERR_INIT;

	if (store_manifest_put(st, REPO, ref, ctype, body, strlen(body), &res,
	                       &err) < 0) {
		fprintf(stderr, "cannot push %s: %s\n", ref, err.msg);
		abort();
	}
	if (out)
		*out = res.digest;
}

/* REPO with tags t0..t9 on one image, and an artifact referring to it. */
static struct store *setup(void)
{
	static struct store *st;
	char id[STORE_UPLOAD_ID_MAX], body[1024], hex[DIGEST_STR_MAX];
	struct err err = ERR_INIT;
	struct upload *u;
	struct digest cd;

	if (st)
		return st;
	st = fuzz_store();
	if (digest_buffer(DIGEST_SHA256, config, 2, &cd, &err) < 0 ||
	    store_upload_start(st, REPO, id, &err) < 0 ||
	    !(u = store_upload_get(st, REPO, id, &err)) ||
	    store_upload_append(u, config, 2, &err) < 0 ||
	    store_upload_commit(u, &cd, &err) < 0) {
		fprintf(stderr, "cannot push config: %s\n", err.msg);
		abort();
	}
	digest_format(&cd, hex);
	snprintf(body, sizeof(body),
	         "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	         "\",\"config\":{\"mediaType\":\"application/"
	         "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":2},"
	         "\"layers\":[]}",
	         hex);
	for (int i = 0; i < 10; i++) {
		char tag[8];

		snprintf(tag, sizeof(tag), "t%d", i);
		push(st, tag, MT_OCI_MANIFEST, body, &subject);
	}
	digest_format(&subject, hex);
	snprintf(body, sizeof(body),
	         "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
	         "\",\"artifactType\":\"application/x-fuzz\",\"config\":{"
	         "\"mediaType\":\"application/vnd.oci.empty.v1+json\","
	         "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21"
	         "fe77e8310c060f61caaff8a\",\"size\":2},\"layers\":[],"
	         "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST
	         "\",\"digest\":\"%s\",\"size\":%zu}}",
	         hex, strlen(body));
	push(st, "sig", MT_OCI_MANIFEST, body, NULL);
	return st;
}

static void check_page(const struct strvec *sv, size_t n, const char *last)
{
	fuzz_check(sv->n <= n);
	for (size_t i = 0; i < sv->n; i++) {
		if (last)
			fuzz_check(strcmp(sv->v[i], last) > 0);
		if (i)
			fuzz_check(strcmp(sv->v[i - 1], sv->v[i]) < 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st = setup();
	struct err err = ERR_INIT;
	struct strvec sv = {0};
	char *s = fuzz_str(data, size), *rest, *nstr, *last, *type, *json;
	json_t *j;
	bool more;
	size_t n, len;

	if (!s)
		return 0;
	rest = s;
	nstr = fuzz_field(&rest);
	last = fuzz_field(&rest);
	type = fuzz_field(&rest);
	if (!*last)
		last = NULL;
	if (page_size_parse(nstr, &n, &err) < 0) {
		fuzz_check(err.code == ERR_INVALID);
		n = 3;
	}
	err = ERR_INIT;
	if (store_tags(st, REPO, last, n, &sv, &more, &err) == 0)
		check_page(&sv, n, last);
	strvec_release(&sv);
	err = ERR_INIT;
	if (store_catalog(st, last, n, &sv, &more, &err) == 0)
		check_page(&sv, n, last);
	strvec_release(&sv);
	err = ERR_INIT;
	if (store_referrers(st, REPO, &subject, *type ? type : NULL, &json,
	                    &len, &err) == 0) {
		j = json_loadb(json, len, 0, NULL);
		fuzz_check(json_is_array(json_object_get(j, "manifests")));
		json_decref(j);
		free(json);
	}
	free(s);
	return 0;
}
