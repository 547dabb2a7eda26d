/* SPDX-License-Identifier: Apache-2.0 */
/*
 * headload.c - a tiny keep-alive HTTP/1.1 load client for the benchmark.
 *
 * wrk and h2load wait for a body after a HEAD response that carries
 * Content-Length, so they hang on HEAD. This client knows that a HEAD
 * response has no body. It also serves for GET: bodies are skipped with
 * recv(MSG_TRUNC), which on TCP discards data in the kernel without
 * copying it, so the client stays cheap on large blob downloads.
 *
 * One thread, N non-blocking connections on one epoll instance, a fixed
 * duration. Understands Content-Length, chunked bodies and
 * "Connection: close" (it reconnects). Prints one line of key=value pairs:
 *
 *   requests=.. rps=.. non2xx=.. errors=.. body_bytes=.. mibps=..
 *   p50_us=.. p99_us=.. seconds=.. cpu_user=.. cpu_sys=..
 *
 * With -i US (the interval at which each connection is meant to send), a
 * response slower than that also counts the requests the connection would
 * have sent while it waited, at the latencies they would have seen
 * (coordinated omission, corrected as HdrHistogram's
 * recordValueWithExpectedInterval does), and requests still unanswered at
 * the end count with their age; the line then ends with
 * "max_us=.. pending=..". So a stall shows in p99, not only in req/s.
 *
 * With -s N (an IPv4 target), connection i is made from 127.0.0.(1 + i % N):
 * every 127/8 address is loopback on Linux, so N source addresses let one
 * client hold more connections than a server's per-address limit.
 *
 * SIGTERM ends the run early; the line is printed as at the end.
 *
 * Build: cc -O2 -o headload headload.c
 * Usage: headload [-m HEAD|GET] [-c CONNS] [-d SECONDS] [-i US] [-s N]
 *                 [-H 'K: v']... URL
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE    65536
#define MAX_CONNS   4096
#define MAX_HEADERS 16
#define MAX_SAMPLES (64u << 20)
#define REQ_MAX     8192

enum state {
	ST_CONNECTING,
	ST_SENDING,
	ST_HEAD,
	ST_BODY,     /* Content-Length bytes left in @left */
	ST_BODY_EOF, /* no length: body runs to connection close */
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CRLF,
	ST_TRAILER,
};

struct conn {
	int fd;
	enum state st;
	size_t sent;
	uint64_t left;
	int status;
	int close_after;
	uint64_t t_start; /* ns, when the request was sent */
	int src;          /* -s: made from 127.0.0.(1 + src) */
	size_t len, off;
	char *req; /* -U: this request, with its own password */
	size_t req_len;
	char buf[BUF_SIZE];
};

static struct {
	uint64_t requests, non2xx, errors, body_bytes, connects;
	uint32_t *lat_us;
	size_t nlat, cap;
} stats;

static struct addrinfo *target;
static char request[REQ_MAX];
static size_t request_len;
static const char *vary_user; /* -U: a new wrong password per request */
static uint64_t vary_n;
static int is_head;
static int epfd;
static uint64_t t_end;
static uint64_t expect_ns; /* -i, in ns; 0: no correction */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "headload: %s: %s\n", msg, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: headload [-m HEAD|GET] [-c CONNS] [-d SECONDS] "
	        "[-i US] [-s N] [-U USER] [-H 'Name: value']... "
	        "http://HOST:PORT/PATH\n");
	exit(2);
}

static void record_latency(uint64_t ns)
{
	if (stats.nlat == stats.cap) {
		size_t ncap = stats.cap ? stats.cap * 2 : 65536;
		uint32_t *p;

		if (ncap > MAX_SAMPLES)
			return;
		p = realloc(stats.lat_us, ncap * sizeof(*p));
		if (!p)
			return;
		stats.lat_us = p;
		stats.cap = ncap;
	}
	stats.lat_us[stats.nlat++] = (uint32_t)(ns / 1000u);
}

/* record_latency(), plus the requests a wait of @ns kept from being sent. */
static void record(uint64_t ns)
{
	record_latency(ns);
	for (uint64_t x = ns; expect_ns && x >= 2 * expect_ns;) {
		x -= expect_ns;
		record_latency(x);
	}
}

static int set_events(struct conn *c, uint32_t ev, int op)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	return epoll_ctl(epfd, op, c->fd, &e);
}

static volatile sig_atomic_t stopped; /* SIGTERM */

static void on_term(int sig)
{
	(void)sig;
	stopped = 1;
}

static int nsrc; /* -s: source addresses 127.0.0.1 .. 127.0.0.nsrc */

/* -s: bind @fd to the connection's own loopback source address. */
static void bind_source(int fd, int src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int one = 1;

	sa.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)src);
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("bind source address");
}

static void conn_open(struct conn *c)
{
	int one = 1;

	c->fd = socket(target->ai_family,
	               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nsrc)
		bind_source(c->fd, c->src);
	c->len = c->off = 0;
	c->sent = 0;
	stats.connects++;
	if (connect(c->fd, target->ai_addr, target->ai_addrlen) == 0) {
		c->st = ST_SENDING;
	} else if (errno == EINPROGRESS) {
		c->st = ST_CONNECTING;
	} else {
		die("connect"); /* loopback refuses at once: server is down */
	}
	if (set_events(c, EPOLLOUT, EPOLL_CTL_ADD))
		die("epoll_ctl");
}

static void conn_reset(struct conn *c, int failed)
{
	if (failed)
		stats.errors++;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (stats.errors > 1000 && stats.requests == 0) {
		fprintf(stderr, "headload: no response after %llu errors\n",
		        (unsigned long long)stats.errors);
		exit(1);
	}
	if (now_ns() < t_end)
		conn_open(c);
}

/* Base64 of @len bytes of @in into @out (NUL-terminated). */
static void b64(const unsigned char *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3, out += 4) {
		out[0] = t[in[i] >> 2];
		out[1] = t[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[2] = t[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		out[3] = t[in[i + 2] & 63];
	}
	if (i < len) {
		out[0] = t[in[i] >> 2];
		out[1] = t[(in[i] & 3) << 4 | (i + 1 < len ? in[i + 1] >> 4 : 0)];
		out[2] = i + 1 < len ? t[(in[i + 1] & 15) << 2] : '=';
		out[3] = '=';
		out += 4;
	}
	*out = '\0';
}

/* -U: the shared request (its blank line left off), then Basic
 * credentials of vary_user with a password never sent before. */
static void vary_request(struct conn *c)
{
	char creds[300], enc[420];
	int n = snprintf(creds, sizeof(creds), "%s:wrong-%llu", vary_user,
	                 (unsigned long long)vary_n++);

	b64((const unsigned char *)creds, (size_t)n, enc);
	n = snprintf(c->req, REQ_MAX, "%.*sAuthorization: Basic %s\r\n\r\n",
	             (int)(request_len - 2), request, enc);
	c->req_len = n > 0 && n < REQ_MAX ? (size_t)n : 0;
}

/* Send (the rest of) the request. Returns -1 on a dead connection. */
static int conn_send(struct conn *c)
{
	const char *req = c->req ? c->req : request;
	size_t len;

	if (c->sent == 0) {
		c->t_start = now_ns();
		if (c->req)
			vary_request(c);
	}
	len = c->req ? c->req_len : request_len;
	while (c->sent < len) {
		ssize_t n = send(c->fd, req + c->sent, len - c->sent,
		                 MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			return set_events(c, EPOLLOUT, EPOLL_CTL_MOD);
		if (n <= 0)
			return -1;
		c->sent += (size_t)n;
	}
	c->st = ST_HEAD;
	c->status = 0;
	c->close_after = 0;
	return set_events(c, EPOLLIN, EPOLL_CTL_MOD);
}

static int header_is(const char *line, size_t n, const char *name,
                     const char **val)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	line += k + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	*val = line;
	return 1;
}

/* Parse the head in buf[off..end); sets the body state. -1 if malformed. */
static int parse_head(struct conn *c, char *end)
{
	char *p = c->buf + c->off;
	char *eol;
	const char *v;
	int have_len = 0, chunked = 0;

	if (end - p < 12 || strncmp(p, "HTTP/1.", 7) != 0)
		return -1;
	c->status = (int)strtol(p + 9, NULL, 10);
	c->left = 0;
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	while (eol && eol < end) {
		char *line = eol + 2;
		size_t n;

		eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		if (!eol || eol == line)
			break;
		n = (size_t)(eol - line);
		if (header_is(line, n, "content-length", &v)) {
			c->left = strtoull(v, NULL, 10);
			have_len = 1;
		} else if (header_is(line, n, "transfer-encoding", &v)) {
			chunked = strncasecmp(v, "chunked", 7) == 0;
		} else if (header_is(line, n, "connection", &v)) {
			c->close_after = strncasecmp(v, "close", 5) == 0;
		}
	}
	if (strncmp(p + 5, "1.0", 3) == 0)
		c->close_after = 1;
	if (is_head || c->status == 204 || c->status == 304 ||
	    (c->status >= 100 && c->status < 200)) {
		c->left = 0;
		c->st = ST_BODY;
	} else if (chunked) {
		c->st = ST_CHUNK_SIZE;
	} else if (have_len) {
		c->st = ST_BODY;
	} else {
		c->st = ST_BODY_EOF;
		c->close_after = 1;
	}
	return 0;
}

/* A response is complete: count it and start the next request. */
static int response_done(struct conn *c)
{
	uint64_t t = now_ns();

	if (c->status >= 100 && c->status < 200) {
		c->st = ST_HEAD; /* interim response, the real one follows */
		return 0;
	}
	if (t <= t_end) {
		stats.requests++;
		if (c->status < 200 || c->status > 299)
			stats.non2xx++;
		record(t - c->t_start);
	}
	if (c->close_after || t >= t_end) {
		c->t_start = 0; /* nothing in flight */
		return 1;
	}
	c->sent = 0;
	c->st = ST_SENDING;
	return conn_send(c) ? -1 : 0;
}

static uint64_t take(struct conn *c, uint64_t want)
{
	size_t have = c->len - c->off;
	uint64_t n = want < have ? want : have;

	c->off += (size_t)n;
	stats.body_bytes += n;
	return n;
}

/*
 * Consume what is buffered. Returns 0 when more input is needed, 1 to close
 * the connection normally, -1 on a protocol error.
 */
static int advance(struct conn *c)
{
	for (;;) {
		char *p = c->buf + c->off, *end = c->buf + c->len, *eol;
		int r;

		switch (c->st) {
		case ST_HEAD:
			eol = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
			if (!eol)
				return c->len == BUF_SIZE && c->off == 0 ? -1
				                                         : 0;
			if (parse_head(c, eol + 2))
				return -1;
			c->off = (size_t)(eol + 4 - c->buf);
			break;
		case ST_BODY:
			c->left -= take(c, c->left);
			if (c->left)
				return 0;
			r = response_done(c);
			if (r)
				return r;
			break;
		case ST_BODY_EOF:
			take(c, UINT64_MAX);
			return 0;
		case ST_CHUNK_SIZE:
			eol = memmem(p, (size_t)(end - p), "\r\n", 2);
			if (!eol)
				return c->len == BUF_SIZE && c->off == 0 ? -1
				                                         : 0;
			c->left = strtoull(p, NULL, 16);
			c->off = (size_t)(eol + 2 - c->buf);
			c->st = c->left ? ST_CHUNK_DATA : ST_TRAILER;
			break;
		case ST_CHUNK_DATA:
			c->left -= take(c, c->left);
			if (c->left)
				return 0;
			c->st = ST_CHUNK_CRLF;
			break;
		case ST_CHUNK_CRLF:
			if (end - p < 2)
				return 0;
			if (p[0] != '\r' || p[1] != '\n')
				return -1;
			c->off += 2;
			c->st = ST_CHUNK_SIZE;
			break;
		case ST_TRAILER:
			eol = memmem(p, (size_t)(end - p), "\r\n", 2);
			if (!eol)
				return 0;
			c->off = (size_t)(eol + 2 - c->buf);
			if (eol == p) {
				r = response_done(c);
				if (r)
					return r;
			}
			break;
		case ST_SENDING:
			return 0; /* request still going out */
		default:
			return -1;
		}
	}
}

static void on_readable(struct conn *c)
{
	for (int i = 0; i < 64; i++) {
		ssize_t n;
		int r;

		if (c->off == c->len) {
			c->off = c->len = 0;
		} else if (c->off > 0 && c->len == BUF_SIZE) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if ((c->st == ST_BODY || c->st == ST_CHUNK_DATA ||
		     c->st == ST_BODY_EOF) &&
		    c->off == c->len && c->left > 0) {
			/* Nothing buffered: let the kernel drop the bytes. */
			size_t want = c->st == ST_BODY_EOF   ? (1u << 30)
			              : c->left > (1u << 30) ? (1u << 30)
			                                     : (size_t)c->left;

			n = recv(c->fd, c->buf, want, MSG_TRUNC);
			if (n > 0) {
				stats.body_bytes += (uint64_t)n;
				if (c->st != ST_BODY_EOF)
					c->left -= (uint64_t)n;
				if (c->left)
					continue;
				r = advance(c);
				goto check;
			}
		} else {
			n = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
			if (n > 0) {
				c->len += (size_t)n;
				r = advance(c);
				goto check;
			}
		}
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0 && c->st == ST_BODY_EOF) {
			c->st = ST_BODY;
			c->left = 0;
			r = advance(c);
			conn_reset(c, r < 0);
			return;
		}
		/* EOF or error in the middle of an exchange. */
		conn_reset(c, 1);
		return;
	check:
		if (r != 0) {
			conn_reset(c, r < 0);
			return;
		}
		if (c->st == ST_SENDING || c->fd < 0)
			return;
	}
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->st == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			conn_reset(c, 1);
			return;
		}
		c->st = ST_SENDING;
	}
	if (c->st == ST_SENDING) {
		if (conn_send(c))
			conn_reset(c, 1);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(c);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint32_t percentile(double q)
{
	size_t i;

	if (!stats.nlat)
		return 0;
	i = (size_t)(q * (double)(stats.nlat - 1));
	return stats.lat_us[i];
}

static int build_request(const char *method, const char *url, char **headers,
                         int nheaders)
{
	char host[256], port[16] = "80";
	const char *h, *slash, *path, *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	size_t n;
	int k;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	h = url + 7;
	slash = strchr(h, '/');
	path = slash ? slash : "/";
	n = slash ? (size_t)(slash - h) : strlen(h);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	colon = strrchr(host, ':');
	if (colon) {
		snprintf(port, sizeof(port), "%s", colon + 1);
		host[colon - host] = '\0';
	}
	if (getaddrinfo(host, port, &hints, &target))
		return -1;
	k = snprintf(request, sizeof(request),
	             "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: headload\r\n",
	             method, path, (int)n, h);
	for (int i = 0; i < nheaders && k > 0 && (size_t)k < sizeof(request);
	     i++)
		k += snprintf(request + k, sizeof(request) - (size_t)k,
		              "%s\r\n", headers[i]);
	if (k > 0 && (size_t)k < sizeof(request))
		k += snprintf(request + k, sizeof(request) - (size_t)k, "\r\n");
	if (k <= 0 || (size_t)k >= sizeof(request))
		return -1;
	request_len = (size_t)k;
	return 0;
}

int main(int argc, char **argv)
{
	const char *method = "HEAD";
	char *headers[MAX_HEADERS];
	int nheaders = 0, nconns = 16, opt;
	double duration = 5.0;
	struct conn *conns;
	struct epoll_event evs[256];
	struct rusage ru;
	uint64_t t0, t1;
	int pending = 0;
	double secs, mib;

	while ((opt = getopt(argc, argv, "m:c:d:i:s:U:H:")) != -1) {
		switch (opt) {
		case 'm':
			method = optarg;
			break;
		case 'c':
			nconns = (int)strtol(optarg, NULL, 10);
			break;
		case 'd':
			duration = strtod(optarg, NULL);
			break;
		case 'i':
			expect_ns = strtoull(optarg, NULL, 10) * 1000u;
			break;
		case 's':
			nsrc = (int)strtol(optarg, NULL, 10);
			break;
		case 'U':
			vary_user = optarg;
			break;
		case 'H':
			if (nheaders == MAX_HEADERS)
				usage();
			headers[nheaders++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || nconns < 1 || nconns > MAX_CONNS ||
	    !(duration > 0 && duration <= 3600) || nsrc < 0 || nsrc > 254)
		usage();
	is_head = strcasecmp(method, "HEAD") == 0;
	if (build_request(method, argv[optind], headers, nheaders)) {
		fprintf(stderr, "headload: bad URL or headers: %s\n",
		        argv[optind]);
		return 2;
	}
	conns = calloc((size_t)nconns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0)
		die("setup");
	for (int i = 0; vary_user && i < nconns; i++)
		if (!(conns[i].req = malloc(REQ_MAX)))
			die("setup");

	sigaction(SIGTERM, &(struct sigaction){.sa_handler = on_term}, NULL);
	t0 = now_ns();
	t_end = t0 + (uint64_t)(duration * 1e9);
	if (nsrc && target->ai_family != AF_INET) {
		fprintf(stderr, "headload: -s needs an IPv4 target\n");
		return 2;
	}
	for (int i = 0; i < nconns; i++) {
		conns[i].src = nsrc ? i % nsrc : 0;
		conn_open(&conns[i]);
	}
	for (;;) {
		uint64_t t = now_ns();
		int n, ms;

		if (stopped)
			t_end = t;
		if (t >= t_end)
			break;
		ms = (int)((t_end - t) / 1000000u) + 1;
		n = epoll_wait(epfd, evs, 256, ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
	}
	t1 = now_ns();
	if (t1 > t_end)
		t1 = t_end;

	/* With -i, what is still unanswered counts with its age. */
	for (int i = 0; expect_ns && i < nconns; i++)
		if (conns[i].st != ST_CONNECTING && conns[i].fd >= 0 &&
		    conns[i].t_start && conns[i].t_start < t1) {
			record(t1 - conns[i].t_start);
			pending++;
		}
	getrusage(RUSAGE_SELF, &ru);
	qsort(stats.lat_us, stats.nlat, sizeof(*stats.lat_us), cmp_u32);
	secs = (double)(t1 - t0) / 1e9;
	mib = (double)stats.body_bytes / (1024.0 * 1024.0);
	printf("requests=%llu rps=%.1f non2xx=%llu errors=%llu "
	       "connects=%llu body_bytes=%llu mibps=%.1f p50_us=%u p99_us=%u "
	       "seconds=%.3f cpu_user=%.3f cpu_sys=%.3f",
	       (unsigned long long)stats.requests,
	       (double)stats.requests / secs, (unsigned long long)stats.non2xx,
	       (unsigned long long)stats.errors,
	       (unsigned long long)stats.connects,
	       (unsigned long long)stats.body_bytes, mib / secs,
	       percentile(0.50), percentile(0.99), secs,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if (expect_ns)
		printf(" max_us=%u pending=%d", percentile(1.0), pending);
	printf("\n");
	return stats.requests ? 0 : 1;
}
