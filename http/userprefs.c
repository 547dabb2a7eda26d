/* SPDX-License-Identifier: Apache-2.0 */
/*
 * userprefs.c - zot's user preferences endpoint,
 * PUT /v2/_zot/ext/userprefs?action=toggleStar|toggleBookmark&repo=<name>
 * (served, as in zot, when both extensions.search and extensions.ui are
 * on), over search/userprefs.h. As zot answers: 200 once toggled; 400
 * without an action, for an unknown one, or without repo; 404 for an
 * empty repo or one that does not exist; 403 for an anonymous caller or
 * one that may not read the repository (asked before whether it exists,
 * so names do not leak). Unlike zot, a bookmark of a repository that does
 * not exist is refused too (zot refuses only the star).
 */
#include <string.h>

#include "http/http_int.h"
#include "index/store.h"
#include "search/userprefs.h"

int h_userprefs_put(struct http_req *req, struct err *err)
{
	const char *action = req_arg(req, "action");
	const char *repo = req_arg(req, "repo");
	enum userprefs_kind kind;

	if (!action)
		return err_set(err, ERR_INVALID, "no action given");
	if (!strcmp(action, "toggleStar"))
		kind = USERPREFS_STAR;
	else if (!strcmp(action, "toggleBookmark"))
		kind = USERPREFS_BOOKMARK;
	else
		return err_set(err, ERR_INVALID,
		               "unknown action: not toggleStar or "
		               "toggleBookmark");
	if (!repo)
		return err_set(err, ERR_INVALID, "no repo given");
	if (!*repo)
		return err_set(err, ERR_NOT_FOUND, "repository '' not found");
	if (!req->who.user)
		return err_set(err, ERR_DENIED,
		               "stars and bookmarks need a login");
	if (!http_allows(req, repo, ACCESS_READ))
		return err_set(err, ERR_DENIED,
		               "user '%s' may not read repository '%s'",
		               req->who.user, repo);
	if (!store_repo_exists(req->srv->st, repo))
		return err_set(err, ERR_NOT_FOUND, "repository '%s' not found",
		               repo);
	if (userprefs_toggle(req->srv->opts.userprefs, req->who.user, kind,
	                     repo, NULL, err) < 0)
		return -1;
	return reply_buf(req, MHD_HTTP_OK, NULL, "", 0, false, err);
}
