/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventsink.c - an HTTP sink for the events tests: every POST is answered
 * 200 and appended to a file as one JSON line, {"headers": {...}, "body":
 * ...}, with the request's ce-* headers, Content-Type, Authorization and
 * x-* headers (names in lower case) and the body parsed as JSON (or as a
 * string when it is not JSON).
 *
 * usage: eventsink --out FILE --port-file FILE [--port N]
 *
 * Listens on 127.0.0.1 port N (0, the default: any free one; the same
 * port again after a restart with --port); the port goes to the port file
 * (written whole by a rename) once it accepts connections. Stops on
 * SIGTERM or SIGINT.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "daemon/fsutil.h"

#define BODY_MAX (1u << 20)

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;

/* One request's body as it arrives. */
struct req {
	char *buf;
	size_t len;
};

static enum MHD_Result keep_header(void *arg, enum MHD_ValueKind kind,
                                   const char *name, const char *value)
{
	json_t *headers = arg;
	char lower[256];
	size_t i;

	(void)kind;
	for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z'
		                          ? name[i] - 'A' + 'a'
		                          : name[i]);
	lower[i] = '\0';
	if (!strncmp(lower, "ce-", 3) || !strncmp(lower, "x-", 2) ||
	    !strcmp(lower, "content-type") || !strcmp(lower, "authorization"))
		json_object_set_new(headers, lower, json_string(value));
	return MHD_YES;
}

/* Append the request to the output file as one line. */
static void record(struct MHD_Connection *c, const struct req *r)
{
	json_t *line = json_object(), *headers = json_object(), *body;
	char *text;

	MHD_get_connection_values(c, MHD_HEADER_KIND, keep_header, headers);
	body = json_loadb(r->buf ? r->buf : "", r->len, 0, NULL);
	if (!body)
		body = json_stringn(r->buf ? r->buf : "", r->len);
	json_object_set_new(line, "headers", headers);
	json_object_set_new(line, "body", body);
	text = json_dumps(line, JSON_COMPACT);
	pthread_mutex_lock(&out_lock);
	if (text) {
		fprintf(out, "%s\n", text);
		fflush(out);
	}
	pthread_mutex_unlock(&out_lock);
	free(text);
	json_decref(line);
}

static enum MHD_Result handle(void *arg, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *size, void **state)
{
	struct req *r = *state;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)arg;
	(void)url;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*state = r;
		return MHD_YES;
	}
	if (*size) {
		char *grown;

		if (r->len + *size > BODY_MAX)
			return MHD_NO;
		grown = realloc(r->buf, r->len + *size);
		if (!grown)
			return MHD_NO;
		memcpy(grown + r->len, data, *size);
		r->buf = grown;
		r->len += *size;
		*size = 0;
		return MHD_YES;
	}
	if (!strcmp(method, "POST"))
		record(c, r);
	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void done(void *arg, struct MHD_Connection *c, void **state,
                 enum MHD_RequestTerminationCode code)
{
	struct req *r = *state;

	(void)arg;
	(void)c;
	(void)code;
	if (r)
		free(r->buf);
	free(r);
	*state = NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: eventsink --out FILE --port-file FILE "
	                "[--port N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out_path = NULL, *port_file = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;
	char dir[PATH_MAX], text[16], *slash;
	struct err err = ERR_INIT;
	unsigned long port = 0;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--out"))
			out_path = argv[i + 1];
		else if (!strcmp(argv[i], "--port-file"))
			port_file = argv[i + 1];
		else if (!strcmp(argv[i], "--port"))
			port = strtoul(argv[i + 1], NULL, 10);
		else
			usage();
	}
	if (!out_path || !port_file || port > 65535)
		usage();
	out = fopen(out_path, "a");
	if (!out) {
		fprintf(stderr, "eventsink: cannot open '%s': %s\n", out_path,
		        strerror(errno));
		return 1;
	}
	/* Block the stop signals before MHD starts its thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
		MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "eventsink: cannot listen on port %lu\n", port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(dir, sizeof(dir), "%s", port_file);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(text, sizeof(text), "%u\n", info->port);
	if (fs_write_atomic(dir, port_file, text, strlen(text), &err) < 0) {
		fprintf(stderr, "eventsink: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr, "eventsink: listening on 127.0.0.1:%u\n", info->port);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	fclose(out);
	return 0;
}
