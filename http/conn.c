/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn.c - what libmicrohttpd does not do for a connection: time limits on
 * slow clients, and a lingering close after an early refusal.
 *
 * Every connection gets a struct http_conn when MHD accepts it. The request
 * life cycle (server.c, reply.c) moves it between phases; one watch thread
 * reads each socket's TCP_INFO byte counters every tick and drops a
 * connection (shutdown(SHUT_RDWR), which MHD sees as the client leaving)
 * whose phase has not moved for too long: headers begun but not complete
 * within readHeaderTimeout, a body that has received nothing for
 * readTimeout, a response the client has acknowledged nothing of for
 * writeTimeout. MHD's own timeout, which any byte resets, bounds idle
 * keep-alive connections.
 *
 * Lingering close (nginx's lingering_close): a request refused on its
 * headers is answered at once, and MHD then closes the socket with the
 * body still arriving. Closing a socket with unread data makes the kernel
 * send RST, which can reach the client before it has read the answer: it
 * sees "broken pipe" or "connection reset" instead of 413. MHD 0.9.75 calls
 * MHD_CONNECTION_NOTIFY_CLOSED after it has sent the answer and shut down
 * its write side (MHD_connection_mark_closed_) but before it closes the
 * descriptor (cleanup_connection), so a dup() taken there keeps the socket
 * open past MHD's close(). The watch thread reads and discards from the
 * dup until the client closes, or for at most LINGER_MS (LINGER_IDLE_MS
 * without a byte, LINGER_BYTES in all), then closes it. Reading the small
 * bodies and answering after them instead would keep the connection, but
 * the refusal of a 10 GB Content-Length must not wait for 10 GB, so the
 * lingering close is needed anyway; one mechanism serves every refusal.
 *
 * Thread-safety: the list of connections and of lingering sockets is
 * protected by watch->lock. A connection's phase is written by the MHD
 * thread serving it and read by the watch thread (atomics); everything
 * else in struct http_conn belongs to the watch thread. MHD closes the
 * descriptor only after NOTIFY_CLOSED, which unlinks the connection under
 * the lock, so the watch thread never shuts down a reused descriptor.
 */
#define LOG_MODULE "http"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with the byte counters */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/log.h"
#include "http/http_int.h"

#define TICK_MS        250
#define LINGER_MS      30000         /* whole linger, as nginx */
#define LINGER_IDLE_MS 5000          /* without a byte, as nginx */
#define LINGER_BYTES   (64ull << 20) /* discarded per socket */
#define LINGER_MAX     256           /* lingering sockets at once */
/* During a drain a body must move at least this often to be waited for. */
#define DRAIN_STALL_MS 2000

struct lingerer {
	struct lingerer *next; /* in watch->lingers */
	int fd;                /* our dup of the client socket */
	uint64_t start_ms;     /* when MHD let go of it */
	uint64_t last_ms;      /* last byte read */
	uint64_t bytes;        /* discarded so far */
	bool done;             /* EOF, error or a bound: close it */
};

struct http_conn {
	struct http_conn *prev, *next; /* in watch->conns */
	int fd;                        /* MHD's socket, borrowed */
	int phase;                     /* enum conn_phase, atomic */
	unsigned gen;                  /* bumped with each phase, atomic */
	bool linger;                   /* refused with its body unread */
	/* The watch thread's own view. */
	unsigned seen_gen; /* gen at the last look */
	bool started;      /* idle: the next request has begun */
	bool dropped;      /* shut down by the watch */
	uint64_t rx, tx;   /* TCP_INFO at the last progress */
	uint64_t since_ms; /* last progress, or phase start */
};

struct conn_watch {
	pthread_mutex_t lock;     /* protects conns, lingers, n_lingers */
	struct http_conn *conns;  /* every open connection */
	struct lingerer *lingers; /* sockets being drained */
	unsigned n_lingers;       /* length of lingers */
	int ep;                   /* epoll set of the lingering sockets */
	int stop;                 /* ask the thread to end, atomic */
	int draining;             /* http_stop began, atomic */
	bool has_thread;          /* thread was started */
	pthread_t thread;         /* the watch thread */
	uint64_t header_ms;       /* readHeaderTimeout */
	uint64_t read_ms;         /* readTimeout */
	uint64_t write_ms;        /* writeTimeout */
};

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void conn_phase(struct MHD_Connection *conn, enum conn_phase phase)
{
	struct http_conn *c = conn_of(conn);

	if (!c)
		return;
	__atomic_store_n(&c->phase, (int)phase, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->gen, 1, __ATOMIC_RELEASE);
}

void conn_linger(struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);

	if (c) /* read only in NOTIFY_CLOSED, on this same thread */
		c->linger = true;
}

/* Start lingering on a dup of @c's socket; watch->lock held. */
static void linger_add(struct conn_watch *w, struct http_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	struct lingerer *l;
	int fd;

	if (w->n_lingers >= LINGER_MAX || w->ep < 0) {
		log_debug("fd=%d: too many lingering sockets", c->fd);
		return; /* MHD's close resets it, as before */
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return;
	fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		free(l);
		return;
	}
	/* MHD has shut down its side already; make sure of it. */
	shutdown(fd, SHUT_WR);
	l->fd = fd;
	l->start_ms = l->last_ms = clock_mono_ms();
	ev.data.ptr = l;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(l);
		return;
	}
	l->next = w->lingers;
	w->lingers = l;
	w->n_lingers++;
}

/*
 * Data the server never read is waiting: MHD answered an error of its own
 * (a header too large, a malformed request) with the request unread, and
 * closing now would reset the connection before the client reads it.
 */
static bool has_unread(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
	struct conn_watch *w = cls;
	struct http_conn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
		                             MHD_CONNECTION_INFO_CONNECTION_FD);
		c = calloc(1, sizeof(*c));
		if (!c || !ci) { /* unwatched: only MHD's idle timeout */
			free(c);
			return;
		}
		c->fd = ci->connect_fd;
		c->phase = CONN_IDLE;
		c->gen = 1; /* the watch takes its first look */
		pthread_mutex_lock(&w->lock);
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		pthread_mutex_unlock(&w->lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&w->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!c->dropped && (c->linger || has_unread(c->fd)))
		linger_add(w, c);
	pthread_mutex_unlock(&w->lock);
	free(c);
	*socket_context = NULL;
}

/* Read and discard what is there; done at EOF, an error or the bound. */
static void linger_read(struct lingerer *l, uint64_t now)
{
	static char sink[65536]; /* written by the watch thread only */

	for (;;) {
		ssize_t n = recv(l->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n > 0) {
			l->bytes += (uint64_t)n;
			l->last_ms = now;
			if (l->bytes > LINGER_BYTES) {
				l->done = true;
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		l->done = true; /* EOF or an error */
		return;
	}
}

/* Close the lingering sockets that are done or past a bound; lock held. */
static void linger_reap(struct conn_watch *w, uint64_t now, bool all)
{
	struct lingerer **pp = &w->lingers, *l;

	while ((l = *pp)) {
		if (!all && !l->done && now - l->start_ms < LINGER_MS &&
		    now - l->last_ms < LINGER_IDLE_MS) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		log_debug("linger fd=%d: %llu bytes discarded in %llu ms%s",
		          l->fd, (unsigned long long)l->bytes,
		          (unsigned long long)(now - l->start_ms),
		          l->done ? "" : " (bound reached)");
		epoll_ctl(w->ep, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
		free(l);
		w->n_lingers--;
	}
}

static void drop(struct http_conn *c, const char *why, uint64_t ms)
{
	c->dropped = true;
	shutdown(c->fd, SHUT_RDWR);
	log_info("connection fd=%d closed: %s for %llu ms", c->fd, why,
	         (unsigned long long)ms);
}

/* One look at @c: progress resets its clock, a stall past its bound
 * drops it. Lock held. */
static void check(struct conn_watch *w, struct http_conn *c, uint64_t now,
                  bool draining)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	unsigned gen = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
	int phase = __atomic_load_n(&c->phase, __ATOMIC_RELAXED);
	uint64_t rx, tx, stalled, bound;

	if (c->dropped)
		return;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	rx = ti.tcpi_bytes_received;
	tx = ti.tcpi_bytes_acked;
	if (gen != c->seen_gen) { /* a new phase: its clock starts now */
		c->seen_gen = gen;
		c->started = false;
		c->rx = rx;
		c->tx = tx;
		c->since_ms = now;
		return;
	}
	switch (phase) {
	case CONN_IDLE:
		/* Bytes while idle are the next request's headers. */
		if (!c->started && rx != c->rx) {
			c->started = true;
			c->since_ms = now;
		}
		if (c->started && now - c->since_ms > w->header_ms)
			drop(c, "request headers incomplete",
			     now - c->since_ms);
		return;
	case CONN_BODY:
		/*
		 * Bytes waiting in the kernel mean dray is the slow side (a
		 * handler writing to a slow disk): not the client's stall.
		 */
		if (has_unread(c->fd))
			c->since_ms = now;
		if (rx != c->rx) {
			c->rx = rx;
			c->since_ms = now;
			return;
		}
		stalled = now - c->since_ms;
		bound = w->read_ms;
		if (draining && bound > DRAIN_STALL_MS)
			bound = DRAIN_STALL_MS;
		if (stalled > bound)
			drop(c,
			     draining ? "shutting down, request body stalled"
			              : "request body stalled",
			     stalled);
		return;
	case CONN_REPLY:
		if (tx != c->tx) {
			c->tx = tx;
			c->since_ms = now;
			return;
		}
		if (now - c->since_ms > w->write_ms)
			drop(c, "response not read", now - c->since_ms);
		return;
	case CONN_WORK: /* dray's turn, not the client's */
		return;
	}
}

static void *watch_main(void *arg)
{
	struct conn_watch *w = arg;
	struct epoll_event evs[64];
	uint64_t last_tick = 0;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(w->ep, evs, 64, TICK_MS);
		uint64_t now;
		bool draining;

		pthread_mutex_lock(&w->lock);
		/* Read under the lock: a linger added meanwhile is not newer.
		 */
		now = clock_mono_ms();
		for (int i = 0; i < n; i++)
			linger_read(evs[i].data.ptr, now);
		if (n > 0 || now - last_tick >= TICK_MS)
			linger_reap(w, now, false);
		if (now - last_tick >= TICK_MS) {
			last_tick = now;
			draining =
				__atomic_load_n(&w->draining, __ATOMIC_RELAXED);
			for (struct http_conn *c = w->conns; c; c = c->next)
				check(w, c, now, draining);
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

struct conn_watch *conn_watch_new(const struct http_opts *opts, struct err *err)
{
	struct conn_watch *w = calloc(1, sizeof(*w));

	if (!w) {
		err_set(err, ERR_NOMEM, "cannot allocate connection watch");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->header_ms = opts->header_timeout_ms;
	w->read_ms = opts->read_timeout_ms;
	w->write_ms = opts->write_timeout_ms;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0) {
		err_set_errno(err, errno, "cannot create an epoll set");
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		err_set(err, ERR_IO, "cannot start the connection watch");
		goto fail;
	}
	w->has_thread = true;
	return w;
fail:
	conn_watch_free(w);
	return NULL;
}

void conn_watch_drain(struct conn_watch *w)
{
	if (w)
		__atomic_store_n(&w->draining, 1, __ATOMIC_RELAXED);
}

void conn_watch_free(struct conn_watch *w)
{
	if (!w)
		return;
	if (w->has_thread) {
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		pthread_join(w->thread, NULL);
	}
	/* MHD has stopped, so every connection has been notified closed. */
	pthread_mutex_lock(&w->lock);
	linger_reap(w, clock_mono_ms(), true);
	pthread_mutex_unlock(&w->lock);
	if (w->ep >= 0)
		close(w->ep);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
