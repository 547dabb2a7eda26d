/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokenserver.c - a small token server of the docker token protocol, for
 * the integration tests: GET /token?service=S&scope=repository:NAME:ACTS
 * answers {"token", "access_token", "expires_in", "issued_at"} with a JWT
 * signed by a key file, granting of the scopes asked what the rules allow
 * the caller. Not for production: users and passwords come on the
 * command line.
 *
 * usage: tokenserver --key KEY.pem --service SERVICE --port-file FILE
 *                    [--alg RS256|RS384|RS512|ES256|ES384] [--ttl SECONDS]
 *                    [--issuer NAME] [--skew SECONDS]
 *                    [--user NAME:PASSWORD]... [--allow WHO:GLOB:ACTIONS]...
 *
 * KEY.pem is a PEM private key (RSA or EC P-256/P-384); the algorithm
 * defaults to RS256 or ES256/ES384 by the key. A caller with Basic
 * credentials must name a --user with that password (else 401); one
 * without is anonymous. --allow grants ACTIONS (a comma list of pull,
 * push, delete, or *) on the repositories GLOB matches (dray's repository
 * globs) to WHO: a user name, or * for anyone, anonymous included.
 * Scopes of other types are granted nothing. --skew moves the times the
 * token states (iat, nbf, exp) by SECONDS, to make expired or not yet
 * valid tokens. Listens on 127.0.0.1, port 0; the port goes to FILE (one
 * line, written whole by a rename) once it accepts connections. Stops on
 * SIGTERM or SIGINT. Logs one line per request on stderr, never a
 * password or a token.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "daemon/ref.h"
#include "tests/tools/jwtsign.h"
#include "tests/tools/portfile.h"

#define MAX_USERS  32
#define MAX_RULES  64
#define MAX_SCOPES 16

struct user {
	const char *name; /* borrowed from argv, cut at the ':' */
	const char *pass;
};

struct rule {
	const char *who;  /* user name or "*" */
	char *glob;       /* repository glob */
	const char *acts; /* "pull,push"... or "*" */
};

static struct {
	EVP_PKEY *key;
	const char *alg;
	const char *service;
	const char *issuer;
	long ttl;
	long skew;
	struct user users[MAX_USERS];
	size_t n_users;
	struct rule rules[MAX_RULES];
	size_t n_rules;
} ts = {.issuer = "dray-test-tokenserver", .ttl = 300};

static void usage(void)
{
	fprintf(stderr,
	        "usage: tokenserver --key KEY.pem --service SERVICE "
	        "--port-file FILE\n"
	        "                   [--alg ALG] [--ttl SECONDS] [--issuer "
	        "NAME] [--skew SECONDS]\n"
	        "                   [--user NAME:PASSWORD]... [--allow "
	        "WHO:GLOB:ACTIONS]...\n");
	exit(2);
}

/* Does the action list @acts (comma-separated, or "*") hold @act? */
static bool list_has(const char *acts, const char *act)
{
	size_t n = strlen(act);

	if (!strcmp(acts, "*"))
		return true;
	for (const char *p = acts; *p;) {
		size_t l = strcspn(p, ",");

		if (l == n && !strncmp(p, act, n))
			return true;
		p += l;
		p += *p == ',';
	}
	return false;
}

/* May @user ("" for anonymous) do @act on repository @name? */
static bool allowed(const char *user, const char *name, const char *act)
{
	for (size_t i = 0; i < ts.n_rules; i++) {
		const struct rule *r = &ts.rules[i];

		if ((!strcmp(r->who, "*") ||
		     (*user && !strcmp(r->who, user))) &&
		    ref_glob_match(r->glob, name) && list_has(r->acts, act))
			return true;
	}
	return false;
}

/* Append to @access the entry one scope string grants @user, if any. */
static void grant(json_t *access, const char *user, const char *scope)
{
	static const char *const acts[] = {"pull", "push", "delete"};
	const char *c1 = strchr(scope, ':'), *c2 = strrchr(scope, ':');
	struct err err = ERR_INIT;
	json_t *granted;
	char name[REF_NAME_MAX + 1];
	size_t n;

	if (!c1 || c1 == c2 || strncmp(scope, "repository:", 11) != 0)
		return;
	n = (size_t)(c2 - c1 - 1);
	if (n > REF_NAME_MAX)
		return;
	memcpy(name, c1 + 1, n);
	name[n] = '\0';
	if (ref_name_check(name, &err) < 0)
		return;
	granted = json_array();
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (list_has(c2 + 1, acts[i]) && allowed(user, name, acts[i]))
			json_array_append_new(granted, json_string(acts[i]));
	if (!json_array_size(granted)) {
		json_decref(granted);
		return;
	}
	json_array_append_new(access,
	                      json_pack("{s:s, s:s, s:o}", "type", "repository",
	                                "name", name, "actions", granted));
}

struct scopes {
	char *s[MAX_SCOPES]; /* each scope asked, split at spaces */
	size_t n;
	const char *service; /* the service parameter, or NULL */
};

static enum MHD_Result arg(void *cls, enum MHD_ValueKind kind, const char *key,
                           const char *value)
{
	struct scopes *sc = cls;

	(void)kind;
	if (!value)
		return MHD_YES;
	if (!strcmp(key, "service"))
		sc->service = value;
	if (strcmp(key, "scope") != 0)
		return MHD_YES;
	for (const char *p = value; *p;) {
		size_t l = strcspn(p, " ");

		if (l && sc->n < MAX_SCOPES)
			sc->s[sc->n++] = strndup(p, l);
		p += l;
		p += *p == ' ';
	}
	return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, bool challenge)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	                                    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (challenge)
		MHD_add_response_header(r, "WWW-Authenticate",
		                        "Basic realm=\"tokenserver\"");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The caller's user name ("" when anonymous), or NULL: bad credentials. */
static char *authenticate(struct MHD_Connection *conn)
{
	char *pass = NULL, *user;
	char *who = NULL;

	if (!MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_AUTHORIZATION))
		return strdup("");
	user = MHD_basic_auth_get_username_password(conn, &pass);
	for (size_t i = 0; user && pass && i < ts.n_users; i++) {
		size_t l = strlen(ts.users[i].pass);

		if (!strcmp(ts.users[i].name, user) && strlen(pass) == l &&
		    CRYPTO_memcmp(ts.users[i].pass, pass, l) == 0)
			who = strdup(user);
	}
	if (pass) {
		OPENSSL_cleanse(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return who;
}

/* A signed token for @user granting @access; its JSON answer. */
static char *issue(const char *user, json_t *access)
{
	char hdr[64], jti[33], issued[32], *payload, *tok, *out;
	unsigned char rnd[16];
	time_t now = time(NULL) + ts.skew;
	struct tm tm;
	json_t *claims, *answer;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", ts.alg);
	claims =
		json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O}", "iss",
	                  ts.issuer, "sub", user, "aud", ts.service, "exp",
	                  (json_int_t)(now + ts.ttl), "nbf", (json_int_t)now,
	                  "iat", (json_int_t)now, "jti", jti, "access", access);
	payload = json_dumps(claims, JSON_COMPACT);
	tok = jws_make(ts.key, ts.alg, hdr, payload);
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	answer = json_pack("{s:s, s:s, s:I, s:s}", "token", tok, "access_token",
	                   tok, "expires_in", (json_int_t)ts.ttl, "issued_at",
	                   issued);
	out = json_dumps(answer, JSON_COMPACT);
	if (!claims || !payload || !answer || !out)
		abort();
	json_decref(claims);
	json_decref(answer);
	free(payload);
	free(tok);
	return out;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
	struct scopes sc = {.n = 0};
	enum MHD_Result ret;
	json_t *access;
	char *user, *body, *names;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	if (strcmp(url, "/token") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND,
		             "{\"errors\":[{\"code\":\"NOT_FOUND\"}]}", false);
	if (strcmp(method, "GET") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		             "{\"errors\":[{\"code\":\"UNSUPPORTED\"}]}",
		             false);
	user = authenticate(conn);
	if (!user) {
		fprintf(stderr, "tokenserver: bad credentials\n");
		return reply(conn, MHD_HTTP_UNAUTHORIZED,
		             "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
		             true);
	}
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, arg, &sc);
	if (!sc.service || strcmp(sc.service, ts.service) != 0) {
		fprintf(stderr, "tokenserver: user '%s': wrong service\n",
		        user);
		ret = reply(conn, MHD_HTTP_BAD_REQUEST,
		            "{\"errors\":[{\"code\":\"INVALID_SERVICE\"}]}",
		            false);
		goto out;
	}
	access = json_array();
	for (size_t i = 0; i < sc.n; i++)
		if (sc.s[i])
			grant(access, user, sc.s[i]);
	names = json_dumps(access, JSON_COMPACT);
	fprintf(stderr, "tokenserver: user '%s': %zu scopes asked, grants %s\n",
	        user, sc.n, names ? names : "?");
	free(names);
	body = issue(user, access);
	json_decref(access);
	ret = reply(conn, MHD_HTTP_OK, body, false);
	free(body);
out:
	for (size_t i = 0; i < sc.n; i++)
		free(sc.s[i]);
	free(user);
	return ret;
}

static void load_key(const char *path, const char *alg)
{
	FILE *f = fopen(path, "r");
	int bits;

	if (!f || !(ts.key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
		fprintf(stderr,
		        "tokenserver: cannot read a private key from "
		        "'%s'\n",
		        path);
		exit(1);
	}
	fclose(f);
	bits = EVP_PKEY_get_bits(ts.key);
	if (!alg)
		alg = EVP_PKEY_get_base_id(ts.key) == EVP_PKEY_RSA ? "RS256"
		      : bits == 384                                ? "ES384"
		                                                   : "ES256";
	ts.alg = alg;
}

int main(int argc, char **argv)
{
	const char *key = NULL, *port_file = NULL, *alg = NULL;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *c;

		if (!v)
			usage();
		i++;
		if (!strcmp(o, "--key")) {
			key = v;
		} else if (!strcmp(o, "--service")) {
			ts.service = v;
		} else if (!strcmp(o, "--port-file")) {
			port_file = v;
		} else if (!strcmp(o, "--alg")) {
			alg = v;
		} else if (!strcmp(o, "--issuer")) {
			ts.issuer = v;
		} else if (!strcmp(o, "--ttl")) {
			ts.ttl = strtol(v, NULL, 10);
		} else if (!strcmp(o, "--skew")) {
			ts.skew = strtol(v, NULL, 10);
		} else if (!strcmp(o, "--user") && ts.n_users < MAX_USERS &&
		           (c = strchr(argv[i], ':'))) {
			*c = '\0';
			ts.users[ts.n_users].name = argv[i];
			ts.users[ts.n_users++].pass = c + 1;
		} else if (!strcmp(o, "--allow") && ts.n_rules < MAX_RULES &&
		           (c = strchr(argv[i], ':')) && strrchr(c, ':') != c) {
			struct rule *r = &ts.rules[ts.n_rules++];

			*c = '\0';
			r->who = argv[i];
			r->glob = c + 1;
			c = strrchr(c + 1, ':');
			*c = '\0';
			r->acts = c + 1;
		} else {
			usage();
		}
	}
	if (!key || !ts.service || !port_file)
		usage();
	load_key(key, alg);

	/* Block the stop signals before MHD starts its thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	{
		struct sockaddr_in sa = {.sin_family = AF_INET};

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		d = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
			NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
			MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	}
	if (!d) {
		fprintf(stderr, "tokenserver: cannot start the server\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port_file_write("tokenserver", port_file, info->port);
	fprintf(stderr, "tokenserver: listening on 127.0.0.1:%u, %s\n",
	        info->port, ts.alg);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	EVP_PKEY_free(ts.key);
	return 0;
}
