/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ui.c - the web UI's files (extensions.ui), built into the binary from
 * ui/ by ui/embed.cmake.
 *
 * The pages run in the browser and ask the search and distribution APIs
 * for everything, with the caller's credentials: serving the files needs
 * no login and reveals nothing. Every response carries a strict
 * Content-Security-Policy (scripts, styles and requests from this origin
 * only, no inline code, no framing, Trusted Types) and an ETag from the file's
 * content; browsers revalidate (no-cache) and get 304 while the binary is the
 * same.
 */
#include <string.h>

#include "http/http_int.h"

/*
 * Trusted Types: the browser refuses any string where HTML or a script
 * URL would be parsed (innerHTML and the like), so a slip in app.js
 * cannot turn what the registry returns into markup.
 */
#define UI_CSP                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; "   \
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'; "                \
	"require-trusted-types-for 'script'; trusted-types 'none'"

const struct ui_asset *ui_find(const char *url)
{
	if (strcmp(url, "/") == 0)
		url = "/ui/index.html";
	for (size_t i = 0; i < ui_n_assets; i++)
		if (strcmp(ui_assets[i].path, url) == 0)
			return &ui_assets[i];
	return NULL;
}

/* Does If-None-Match @inm ("*", or a list of tags) name @etag? */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = inm;

	if (strcmp(inm, "*") == 0)
		return true;
	while ((p = strstr(p, etag))) {
		/* A whole tag, W/ or not: the quotes are part of @etag. */
		if (p[n] == '\0' || p[n] == ',' || p[n] == ' ')
			return true;
		p++;
	}
	return false;
}

int h_ui(struct http_req *req, struct err *err)
{
	const struct ui_asset *a = ui_find(req->url);
	const char *inm = req_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);

	if (!a) /* routed here only for a file that exists */
		return err_set(err, ERR_NOT_FOUND, "no such file");
	reply_hdr(req, MHD_HTTP_HEADER_ETAG, a->etag);
	reply_hdr(req, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	reply_hdr(req, "Content-Security-Policy", UI_CSP);
	reply_hdr(req, "Referrer-Policy", "no-referrer");
	/* No window shared with another origin's pages (X-Content-Type-Options
	 * is on every reply: reply.c). */
	reply_hdr(req, "Cross-Origin-Opener-Policy", "same-origin");
	if (inm && etag_matches(inm, a->etag))
		return reply_buf(req, MHD_HTTP_NOT_MODIFIED, NULL, "", 0, false,
		                 err);
	return reply_buf(req, MHD_HTTP_OK, a->ctype, a->data, a->len, false,
	                 err);
}
