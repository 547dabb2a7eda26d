/* SPDX-License-Identifier: Apache-2.0 */
/*
 * badupstream.c - a registry that misbehaves, as an upstream for the
 * sync tests: what it does wrong is chosen by the first path segment of
 * the repository asked for.
 *
 *   /v2/                          200 {}
 *   /v2/wrong/.../blobs/D         200, bytes that do not hash to D
 *   /v2/lying/.../manifests/R     200, a well-formed image manifest with a
 *                                 Docker-Content-Digest it does not have
 *   /v2/huge/.../manifests/R      200, 5 MiB (over any manifest cap)
 *   /v2/invalid/.../manifests/R   200, JSON that is no valid manifest
 *                                 (schemaVersion 1)
 *   /v2/loop/...                  302 to the same URL, for ever
 *   /v2/paged/.../referrers/D     two referrers, one per page: the first
 *                                 page's Link rel="next" names the
 *                                 second (?page=2); their manifests
 *                                 (by digest, subject sha256:aaa...a)
 *                                 and their config blob {}
 *   anything else                 404
 *
 * usage: badupstream --port-file FILE
 *
 * Listens on 127.0.0.1, port 0; the port goes to FILE (one line, written
 * whole by a rename) once it accepts connections. Stops on SIGTERM or
 * SIGINT. Logs one line per request on stderr: "METHOD URL STATUS".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "tests/tools/portfile.h"

#define HUGE_LEN (5u << 20)

static const char manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":"
	"\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
	"\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
	"\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61c"
	"aaff8a\",\"size\":2},\"layers\":[]}";

static char *huge;

/* The referrers /v2/paged/ lists, a page each, and their digests. */
#define PAGED_SUBJECT                                                         \
	"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaa"
#define PAGED_MANIFEST(p)                                                      \
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."      \
	"manifest.v1+json\",\"artifactType\":\"application/vnd.example.sig\"," \
	"\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","     \
	"\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8"  \
	"310c060f61caaff8a\",\"size\":2},\"layers\":[],\"subject\":{"          \
	"\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","        \
	"\"digest\":\"" PAGED_SUBJECT "\",\"size\":2},\"annotations\":{"       \
	"\"page\":\"" p "\"}}"
static const char *const paged[2] = {PAGED_MANIFEST("1"), PAGED_MANIFEST("2")};
static const char *const paged_digest[2] = {
	"sha256:"
	"50e3b9b4185d2cb39f28a3d6ae0bda4a11c1bcb29df1561604f98a4d44b75a0a",
	"sha256:"
	"9ebe326403503548f9218db66ecb9942192bb82324ae7f65f0d9d19d1bc11242",
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *type, const void *body, size_t len,
                              const char *hname, const char *hval)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (hname)
		MHD_add_response_header(r, hname, hval);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool is(const char *url, const char *repo_head, const char *kind)
{
	size_t n = strlen(repo_head);

	return strncmp(url + 4, repo_head, n) == 0 && url[4 + n] == '/' &&
	       (!kind || strstr(url, kind));
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url,
                             unsigned *status)
{
	static const char wrong[] = "these are not the bytes you asked for\n";

	if (strncmp(url, "/v2/", 4) != 0)
		goto none;
	if (!url[4]) {
		*status = 200;
		return answer(c, 200, "application/json", "{}", 2, NULL, NULL);
	}
	if (is(url, "wrong", "/blobs/")) {
		*status = 200;
		return answer(c, 200, "application/octet-stream", wrong,
		              sizeof(wrong) - 1, NULL, NULL);
	}
	if (is(url, "lying", "/manifests/")) {
		*status = 200;
		return answer(
			c, 200, "application/vnd.oci.image.manifest.v1+json",
			manifest, sizeof(manifest) - 1, "Docker-Content-Digest",
			"sha256:00000000000000000000000000000000000000000"
			"00000000000000000000000");
	}
	if (is(url, "invalid", "/manifests/")) {
		static const char v1[] = "{\"schemaVersion\":1,\"name\":"
					 "\"invalid/app\",\"tag\":\"v1\"}";

		*status = 200;
		return answer(c, 200,
		              "application/vnd.oci.image.manifest.v1+json", v1,
		              sizeof(v1) - 1, NULL, NULL);
	}
	if (is(url, "huge", "/manifests/")) {
		*status = 200;
		return answer(c, 200,
		              "application/vnd.oci.image.manifest.v1+json",
		              huge, HUGE_LEN, NULL, NULL);
	}
	if (is(url, "paged", "/referrers/")) {
		static char body[2][512];
		const char *page = MHD_lookup_connection_value(
			c, MHD_GET_ARGUMENT_KIND, "page");
		int i = page && strcmp(page, "2") == 0;
		char link[512];

		snprintf(body[i], sizeof(body[i]),
		         "{\"schemaVersion\":2,\"mediaType\":\"application/"
		         "vnd.oci.image.index.v1+json\",\"manifests\":[{"
		         "\"mediaType\":\"application/vnd.oci.image.manifest."
		         "v1+json\",\"artifactType\":\"application/vnd.example."
		         "sig\",\"digest\":\"%s\",\"size\":%zu}]}",
		         paged_digest[i], strlen(paged[i]));
		snprintf(link, sizeof(link), "<%s?page=2>; rel=\"next\"", url);
		*status = 200;
		return answer(c, 200, "application/vnd.oci.image.index.v1+json",
		              body[i], strlen(body[i]), i ? NULL : "Link",
		              link);
	}
	for (int i = 0; i < 2; i++)
		if (is(url, "paged", "/manifests/") &&
		    strstr(url, paged_digest[i])) {
			*status = 200;
			return answer(
				c, 200,
				"application/vnd.oci.image.manifest.v1+json",
				paged[i], strlen(paged[i]),
				"Docker-Content-Digest", paged_digest[i]);
		}
	if (is(url, "paged",
	       "/blobs/sha256:44136fa355b3678a1146ad16f7e8649e"
	       "94fb4fc21fe77e8310c060f61caaff8a")) {
		*status = 200;
		return answer(c, 200, "application/octet-stream", "{}", 2, NULL,
		              NULL);
	}
	if (is(url, "loop", NULL)) {
		*status = 302;
		return answer(c, 302, NULL, "", 0, "Location", url);
	}
none:
	*status = 404;
	return answer(c, 404, "application/json", "{\"errors\":[]}", 13, NULL,
	              NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
	unsigned status = 0;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload;
	if (!*state) { /* headers only so far */
		*state = c;
		return MHD_YES;
	}
	*upload_len = 0;
	ret = route(c, url, &status);
	fprintf(stderr, "%s %s %u\n", method, url, status);
	return ret;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	if (argc != 3 || strcmp(argv[1], "--port-file") != 0) {
		fprintf(stderr, "usage: badupstream --port-file FILE\n");
		return 2;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	huge = malloc(HUGE_LEN);
	if (!huge)
		return 1;
	memset(huge, ' ', HUGE_LEN);
	huge[0] = '{';
	huge[HUGE_LEN - 1] = '}';
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "badupstream: cannot start the server\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port_file_write("badupstream", argv[2], info->port);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	free(huge);
	return 0;
}
