/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikey.c - zot's API key endpoints (http.auth.apikey) and the login
 * with a key.
 *
 *   POST   /zot/auth/apikey        {"label", "scopes", "expirationDate"}
 *                                  -> 201, the key's details and, this
 *                                  once, "apiKey": "zak_..."
 *   GET    /zot/auth/apikey        -> 200 {"apiKeys": [details...]}
 *   DELETE /zot/auth/apikey?id=ID  -> 200; 404 if the caller has no such
 *                                  key (zot answers 200 either way)
 *
 * Details are zot's APIKeyDetails: createdAt, expirationDate, isExpired,
 * creatorUa, generatedBy, lastUsed, label, scopes, uuid; times in RFC
 * 3339, Go's zero time for "never". Only a caller that logged in some
 * other way manages keys: anonymous callers get the 401 challenge,
 * callers that came with an API key or a bearer token (which grants at
 * most its scope, where a key would grant all the user's rights) 403.
 *
 * A key is a Basic password: "user:zak_...". It is checked before the
 * other methods and never through the verified-credentials cache, so a
 * revoked or expired key is refused at the next request; a password that
 * only looks like a key falls through to them.
 */
#define LOG_MODULE "http"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon/log.h"
#include "http/http_int.h"
#include "index/apikey.h"

#define BODY_MAX (8 * 1024) /* zot's MaxAPIKeyBodySize */

/* Go's zero time, which zot shows for "never". */
static const char zero_time[] = "0001-01-01T00:00:00Z";

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_of(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* @n digits at *@s as a number; advances *@s. -1 if not digits. */
static int digits(const char **s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

int apikey_time_parse(const char *s, uint64_t *ms)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
	                                 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, off = 0;
	int64_t t;

	y = digits(&s, 4);
	if (y < 1970 || *s++ != '-' || (mo = digits(&s, 2)) < 1 || mo > 12 ||
	    *s++ != '-' || (d = digits(&s, 2)) < 1 ||
	    (unsigned)d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))) ||
	    (*s != 'T' && *s != 't') || (s++, (h = digits(&s, 2)) < 0) ||
	    h > 23 || *s++ != ':' || (mi = digits(&s, 2)) < 0 || mi > 59 ||
	    *s++ != ':' || (sec = digits(&s, 2)) < 0 || sec > 60)
		return -1;
	if (*s == '.') { /* fractions of a second: dropped */
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om;

		if ((oh = digits(&s, 2)) < 0 || oh > 23 || *s++ != ':' ||
		    (om = digits(&s, 2)) < 0 || om > 59)
			return -1;
		off = sign * (oh * 60 + om) * 60;
	} else {
		return -1;
	}
	if (*s)
		return -1;
	t = days_of(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	    sec - off;
	if (t <= 0)
		return -1;
	*ms = (uint64_t)t * 1000;
	return 0;
}

void apikey_time_format(uint64_t ms, char out[APIKEY_TIME_MAX])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm) ||
	    !strftime(out, APIKEY_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, APIKEY_TIME_MAX, "%s", zero_time);
}

bool apikey_login(struct http_req *req, const char *hdr)
{
	struct apikeys *k = req->srv->opts.apikeys;
	char user[AUTH_USER_MAX + 1], pass[AUTH_PASS_MAX + 1];
	struct err err = ERR_INIT;
	char **groups = NULL;
	size_t n = 0;
	bool ok = false;

	if (!k || !hdr || auth_basic_parse(hdr, user, pass, &err) < 0 ||
	    strncmp(pass, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) != 0)
		goto out;
	if (apikeys_check(k, user, pass, &groups, &n, &err) < 0) {
		/* Other methods may still take it for a password. */
		log_debug("req=%llu: %s", (unsigned long long)req->id, err.msg);
		goto out;
	}
	memcpy(req->user, user, sizeof(user));
	free(req->key_groups);
	req->key_groups = groups;
	req->who =
		(struct access_who){req->user, (const char *const *)groups, n};
	req->by_apikey = true;
	ok = true;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	return ok;
}

/*
 * Only a caller that logged in otherwise manages keys. False with @err
 * set to the answer.
 */
static bool may_manage(struct http_req *req, struct err *err)
{
	if (http_login_denied(req, err))
		return false;
	if (req->by_apikey) {
		err_set(err, ERR_DENIED,
		        "API keys are managed after a login with a password, "
		        "not with an API key");
		return false;
	}
	/* A token grants at most its scope; a key would grant the user's
	   every right, for as long as it lives. */
	if (req->claims) {
		err_set(err, ERR_DENIED,
		        "a bearer token cannot manage API keys");
		return false;
	}
	return true;
}

int h_apikey_post_begin(struct http_req *req, struct err *err)
{
	return may_manage(req, err) ? 0 : -1;
}

int h_apikey_post_body(struct http_req *req, const char *buf, size_t len,
                       struct err *err)
{
	char *p;

	if (req->len + len > BODY_MAX)
		return err_set(err, ERR_TOO_LARGE,
		               "API key request larger than %d bytes",
		               BODY_MAX);
	if (!req->buf) {
		req->buf = malloc(BODY_MAX);
		if (!req->buf)
			return err_set(err, ERR_NOMEM, "out of memory");
		req->cap = BODY_MAX;
	}
	p = req->buf + req->len;
	memcpy(p, buf, len);
	req->len += len;
	return 0;
}

/* zot's APIKeyDetails of @info. */
static json_t *details(const struct apikey_info *info)
{
	char created[APIKEY_TIME_MAX], expires[APIKEY_TIME_MAX];
	char used[APIKEY_TIME_MAX];
	/* zot shows a key made without scopes with "scopes": null. */
	json_t *scopes = info->n_scopes ? json_array() : json_null();

	for (size_t i = 0; scopes && i < info->n_scopes; i++)
		json_array_append_new(scopes, json_string(info->scopes[i]));
	apikey_time_format(info->created_ms, created);
	apikey_time_format(info->expires_ms, expires);
	apikey_time_format(info->last_used_ms, used);
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:o, s:s}",
	                 "createdAt", created, "expirationDate", expires,
	                 "isExpired", info->expired, "creatorUa",
	                 info->creator_ua, "generatedBy", "manual", "lastUsed",
	                 used, "label", info->label, "scopes",
	                 scopes ? scopes : json_null(), "uuid", info->id);
}

/* The request body into @n (strings borrowed from @body). */
static int parse_new(json_t *body, struct apikey_new *n, const char **scopes,
                     struct err *err)
{
	json_t *label, *sc, *exp, *s;
	size_t i;

	if (!json_is_object(body))
		return err_set(err, ERR_INVALID,
		               "expected a JSON object with label, scopes and "
		               "expirationDate");
	label = json_object_get(body, "label");
	sc = json_object_get(body, "scopes");
	exp = json_object_get(body, "expirationDate");
	if ((label && !json_is_null(label) && !json_is_string(label)) ||
	    (sc && !json_is_null(sc) && !json_is_array(sc)) ||
	    (exp && !json_is_null(exp) && !json_is_string(exp)))
		return err_set(err, ERR_INVALID,
		               "label and expirationDate are strings, scopes "
		               "an array of strings");
	n->label = json_is_string(label) ? json_string_value(label) : "";
	if (json_is_array(sc)) {
		if (json_array_size(sc) > APIKEY_SCOPES_MAX)
			return err_set(err, ERR_INVALID, "more than %d scopes",
			               APIKEY_SCOPES_MAX);
		json_array_foreach(sc, i, s)
		{
			if (!json_is_string(s))
				return err_set(err, ERR_INVALID,
				               "scopes are strings");
			scopes[n->n_scopes++] = json_string_value(s);
		}
	}
	n->scopes = scopes;
	if (json_is_string(exp) && json_string_length(exp) &&
	    apikey_time_parse(json_string_value(exp), &n->expires_ms) < 0)
		return err_set(err, ERR_INVALID,
		               "expirationDate is not an RFC 3339 time "
		               "(2027-01-31T12:00:00Z)");
	return 0;
}

int h_apikey_post_end(struct http_req *req, struct err *err)
{
	const char *scopes[APIKEY_SCOPES_MAX];
	struct apikey_new n = {
		.user = req->user,
		.groups = req->who.groups,
		.n_groups = req->who.n_groups,
		.creator_ua = req_header(req, MHD_HTTP_HEADER_USER_AGENT)};
	struct apikey_info info;
	char key[APIKEY_TEXT_LEN + 1];
	json_error_t jerr;
	json_t *body, *out;
	int ret = -1;

	body = json_loadb(req->buf ? req->buf : "", req->len,
	                  JSON_REJECT_DUPLICATES, &jerr);
	if (!body)
		return err_set(err, ERR_INVALID, "invalid JSON: %s", jerr.text);
	if (parse_new(body, &n, scopes, err) < 0 ||
	    apikeys_create(req->srv->opts.apikeys, &n, key, &info, err) < 0)
		goto out;
	out = details(&info);
	if (!out || json_object_set_new(out, "apiKey", json_string(key)) < 0) {
		json_decref(out);
		err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	OPENSSL_cleanse(key, sizeof(key));
	log_info("req=%llu: user '%s' created API key '%s'",
	         (unsigned long long)req->id, req->user, info.id);
	ret = reply_json(req, MHD_HTTP_CREATED, out, err);
out:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(body);
	return ret;
}

int h_apikey_get(struct http_req *req, struct err *err)
{
	struct apikey_info *v = NULL;
	json_t *list, *out;
	size_t n = 0;

	if (!may_manage(req, err) ||
	    apikeys_list(req->srv->opts.apikeys, req->user, &v, &n, err) < 0)
		return -1;
	list = json_array();
	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, details(&v[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	free(v);
	out = list ? json_pack("{s:o}", "apiKeys", list) : NULL;
	return reply_json(req, MHD_HTTP_OK, out, err);
}

int h_apikey_delete(struct http_req *req, struct err *err)
{
	const char *id = req_arg(req, "id");

	if (!may_manage(req, err))
		return -1;
	if (!id || !*id)
		return err_set(err, ERR_INVALID, "which key? (?id=<uuid>)");
	if (apikeys_revoke(req->srv->opts.apikeys, req->user, id, err) < 0)
		return -1;
	log_info("req=%llu: user '%s' revoked API key '%.36s'",
	         (unsigned long long)req->id, req->user, id);
	return reply_buf(req, MHD_HTTP_OK, NULL, "", 0, false, err);
}
