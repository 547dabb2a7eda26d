/* SPDX-License-Identifier: Apache-2.0 */
/*
 * slowup.c - an upstream registry that holds the end of every blob, for
 * the streaming tests of the sync extension: it proves that dray passes
 * a blob on while it arrives, without measuring a time.
 *
 * usage: slowup --dir DIR --port-file FILE --hold BYTES --release PATH
 *
 * GET /v2/ answers 200. GET /v2/<name>/blobs/sha256:<hex> answers the
 * file DIR/<hex> (404 when there is none) with its size as
 * Content-Length, sends all but its last BYTES, logs "holding <hex>",
 * and waits: once PATH exists it sends the rest; once PATH.cut exists it
 * closes the connection instead (a truncated transfer). The file's bytes
 * are sent as they are, so a file that does not hash to its name is an
 * upstream that answers wrong bytes. Every request is logged ("GET
 * <path>") on stdout. Listens on 127.0.0.1, port 0; the port goes to
 * FILE (written whole by a rename). One thread per connection, each
 * answered once and closed. Stops on SIGTERM.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static const char *dir, *release;
static uint64_t hold;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* One line "@what @a" on stdout. */
static void say(const char *what, const char *a)
{
	pthread_mutex_lock(&out_lock);
	printf("%s %s\n", what, a);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static bool send_all(int s, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(s, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* Send @n bytes of @fd from @off. */
static bool send_file(int s, int fd, uint64_t off, uint64_t n)
{
	static __thread char buf[65536];

	while (n) {
		size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		ssize_t k = pread(fd, buf, want, (off_t)off);

		if (k <= 0 || !send_all(s, buf, (size_t)k))
			return false;
		off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return true;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Wait for the release: true to send the rest, false to cut. */
static bool wait_release(void)
{
	char cut[4096];
	struct timespec ts = {0, 20 * 1000 * 1000};

	snprintf(cut, sizeof(cut), "%s.cut", release);
	for (;;) {
		if (exists(release))
			return true;
		if (exists(cut))
			return false;
		nanosleep(&ts, NULL);
	}
}

static void answer(int s, const char *path)
{
	char hdr[512], file[4096];
	const char *h = strstr(path, "/blobs/sha256:");
	struct stat st;
	uint64_t first;
	int fd;

	if (strcmp(path, "/v2/") == 0) {
		snprintf(hdr, sizeof(hdr),
		         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		         "Connection: close\r\n\r\n{}");
		send_all(s, hdr, strlen(hdr));
		return;
	}
	if (!h || strchr(h + 14, '/') || strlen(h + 14) > 128)
		goto none;
	snprintf(file, sizeof(file), "%s/%s", dir, h + 14);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto none;
	if (fstat(fd, &st) < 0) {
		close(fd);
		goto none;
	}
	snprintf(hdr, sizeof(hdr),
	         "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	         "Content-Length: %llu\r\nDocker-Content-Digest: sha256:%s\r\n"
	         "Connection: close\r\n\r\n",
	         (unsigned long long)st.st_size, h + 14);
	first = (uint64_t)st.st_size > hold ? (uint64_t)st.st_size - hold : 0;
	if (send_all(s, hdr, strlen(hdr)) && send_file(s, fd, 0, first)) {
		say("holding", h + 14);
		if (wait_release())
			send_file(s, fd, first, (uint64_t)st.st_size - first);
		else
			say("cut", h + 14);
	}
	close(fd);
	return;
none:
	snprintf(hdr, sizeof(hdr),
	         "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	         "Connection: close\r\n\r\n");
	send_all(s, hdr, strlen(hdr));
}

static void *serve(void *arg)
{
	int s = (int)(intptr_t)arg;
	char req[8192], method[16], path[4096];
	size_t n = 0;

	/* The request line and headers; a GET has no body. */
	while (n < sizeof(req) - 1) {
		ssize_t k = recv(s, req + n, sizeof(req) - 1 - n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto out;
		n += (size_t)k;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "%15s %4095s", method, path) != 2)
		goto out;
	say("GET", path);
	answer(s, path);
out:
	shutdown(s, SHUT_WR);
	close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	const char *port_file = NULL;
	char tmp[4096];
	FILE *f;
	int ls, one = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[i + 1];
		else if (strcmp(argv[i], "--hold") == 0)
			hold = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--release") == 0)
			release = argv[i + 1];
	}
	if (!dir || !port_file || !release) {
		fprintf(stderr, "usage: slowup --dir DIR --port-file FILE "
		                "--hold BYTES --release PATH\n");
		return 2;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 64) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) < 0) {
		perror("slowup: listen");
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f) ||
	    rename(tmp, port_file) < 0) {
		perror("slowup: port file");
		return 1;
	}
	for (;;) {
		pthread_t t;
		int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("slowup: accept");
			return 1;
		}
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)s) != 0) {
			close(s);
			continue;
		}
		pthread_detach(t);
	}
}
