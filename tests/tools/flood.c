/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flood.c - many small requests over keep-alive loopback connections, for
 * the resource-limit cases and contrib/bench/limits.sh.
 *
 * Each of -c threads keeps one connection and sends its share of -n
 * requests one after another, reconnecting when the server says
 * "Connection: close" (as dray does on an early refusal). Modes:
 *
 *   post REPO  POST /v2/REPO/blobs/uploads/ with an empty body: sessions
 *              opened and never used again
 *   get        GET /v2/flood/<random>/manifests/latest: a name that
 *              exists nowhere, different each time
 *
 * Prints "requests=N s2xx=.. s404=.. s429=.. other=.. errors=..". With
 * -L FILE the first Location of a 202 goes to FILE; with -B FILE the
 * first 429's body.
 *
 * Usage: flood -p PORT -n N [-c CONNS] [-L FILE] [-B FILE] post REPO | get
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_MAX 65536

struct opts {
	int port;
	unsigned long n;
	unsigned conns;
	const char *mode;
	const char *repo;
	const char *loc_file;
	const char *body_file;
};

struct counts {
	unsigned long s2xx, s404, s429, other, errors;
};

static struct opts o = {.conns = 2};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counts total;
static int saved_loc, saved_body;

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)o.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The value of header @name in @head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;

			v += strspn(v, " \t");
			*len = strcspn(v, "\r\n");
			return v;
		}
	}
	return NULL;
}

static void save_once(int *flag, const char *file, const char *p, size_t len)
{
	FILE *f;

	pthread_mutex_lock(&lock);
	if (!*flag && file && (f = fopen(file, "w"))) {
		fwrite(p, 1, len, f);
		fclose(f);
		*flag = 1;
	}
	pthread_mutex_unlock(&lock);
}

/*
 * Read one response into @buf; its status in *status, whether the server
 * closes in *close_after. -1 on a transport error.
 */
static int read_response(int fd, char *buf, int *status, int *close_after)
{
	size_t have = 0, hlen, vlen, blen = 0;
	const char *v;
	char *end;

	for (;;) {
		ssize_t n = recv(fd, buf + have, BUF_MAX - 1 - have, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (have == BUF_MAX - 1)
			return -1;
	}
	hlen = (size_t)(end - buf) + 4;
	*end = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		return -1;
	v = header(buf, "Content-Length", &vlen);
	if (v)
		blen = strtoul(v, NULL, 10);
	v = header(buf, "Connection", &vlen);
	*close_after = v && strncasecmp(v, "close", 5) == 0;
	if (*status == 202 && (v = header(buf, "Location", &vlen)))
		save_once(&saved_loc, o.loc_file, v, vlen);
	if (hlen + blen > BUF_MAX - 1)
		return -1;
	while (have < hlen + blen) {
		ssize_t n = recv(fd, buf + have, hlen + blen - have, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	if (*status == 429)
		save_once(&saved_body, o.body_file, buf + hlen, blen);
	return 0;
}

static void *worker(void *arg)
{
	unsigned long share = (unsigned long)(uintptr_t)arg;
	struct counts c = {0};
	unsigned seed = (unsigned)(uintptr_t)&c ^ (unsigned)getpid();
	char *buf = malloc(BUF_MAX), req[1024];
	int fd = -1;

	for (unsigned long i = 0; buf && i < share; i++) {
		int status, close_after, len;

		if (strcmp(o.mode, "post") == 0)
			len = snprintf(req, sizeof(req),
			               "POST /v2/%s/blobs/uploads/ HTTP/1.1\r\n"
			               "Host: 127.0.0.1\r\n"
			               "Content-Length: 0\r\n\r\n",
			               o.repo);
		else
			len = snprintf(req, sizeof(req),
			               "GET /v2/flood/%08x%08x/manifests/latest"
			               " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			               (unsigned)rand_r(&seed),
			               (unsigned)rand_r(&seed));
		if (fd < 0 && (fd = dial()) < 0) {
			c.errors++;
			continue;
		}
		if (send_all(fd, req, (size_t)len) < 0 ||
		    read_response(fd, buf, &status, &close_after) < 0) {
			c.errors++;
			close(fd);
			fd = -1;
			continue;
		}
		if (status >= 200 && status < 300)
			c.s2xx++;
		else if (status == 404)
			c.s404++;
		else if (status == 429)
			c.s429++;
		else
			c.other++;
		if (close_after) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	pthread_mutex_lock(&lock);
	total.s2xx += c.s2xx;
	total.s404 += c.s404;
	total.s429 += c.s429;
	total.other += c.other;
	total.errors += c.errors;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: flood -p PORT -n N [-c CONNS] [-L FILE] "
	                "[-B FILE] post REPO | get\n");
	return 2;
}

int main(int argc, char **argv)
{
	pthread_t th[64];
	int opt;

	while ((opt = getopt(argc, argv, "p:n:c:L:B:")) != -1) {
		switch (opt) {
		case 'p':
			o.port = (int)strtol(optarg, NULL, 10);
			break;
		case 'n':
			o.n = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'L':
			o.loc_file = optarg;
			break;
		case 'B':
			o.body_file = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc || o.port <= 0 || !o.conns || o.conns > 64)
		return usage();
	o.mode = argv[optind];
	if (strcmp(o.mode, "post") == 0) {
		if (optind + 1 >= argc)
			return usage();
		o.repo = argv[optind + 1];
	} else if (strcmp(o.mode, "get") != 0) {
		return usage();
	}
	/* Sequential within a thread: POST order is the order of arrival. */
	for (unsigned i = 0; i < o.conns; i++) {
		unsigned long share = o.n / o.conns + (i < o.n % o.conns);

		if (pthread_create(&th[i], NULL, worker,
		                   (void *)(uintptr_t)share) != 0)
			return 1;
	}
	for (unsigned i = 0; i < o.conns; i++)
		pthread_join(th[i], NULL);
	printf("requests=%lu s2xx=%lu s404=%lu s429=%lu other=%lu "
	       "errors=%lu\n",
	       o.n, total.s2xx, total.s404, total.s429, total.other,
	       total.errors);
	return total.errors ? 1 : 0;
}
