/* SPDX-License-Identifier: Apache-2.0 */
/* progress.c - the offline commands' progress line and its formatting. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/err.h"
#include "daemon/progress.h"

#define LINE_MAX_BYTES 512 /* longest line drawn */

struct progress {
	int fd;                  /* where to */
	enum progress_mode mode; /* how */
	const char *title;       /* "scrub" */
	uint64_t (*now)(void);   /* the clock, in ms */
	uint64_t start;          /* now() at progress_new() */
	uint64_t last_draw;      /* now() at the last tty draw */
	bool drawn;              /* a tty line is shown */
	bool started;            /* the first update came */
	uint64_t next_step;      /* plain: the tenth (or step) to print at */
};

/* Append to @buf at *@n, keeping it terminated and within @size. */
static void add(char *buf, size_t size, size_t *n, const char *fmt, ...)
	PRINTF(4, 5);

static void add(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int m;

	if (*n + 1 >= size)
		return;
	va_start(ap, fmt);
	m = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (m > 0)
		*n += (size_t)m < size - *n ? (size_t)m : size - *n - 1;
}

size_t progress_fmt_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB",
	                                    "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t n = 0, u = 0;

	if (bytes < 1024) {
		add(buf, size, &n, "%llu B", (unsigned long long)bytes);
		return n;
	}
	v /= 1024;
	/* 1023.96 KiB would print as 1024.0 KiB: move up first. */
	while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	add(buf, size, &n, "%.1f %s", v, units[u]);
	return n;
}

size_t progress_fmt_time(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000;
	size_t n = 0;

	if (ms < 10000)
		add(buf, size, &n, "%llu.%llu s", (unsigned long long)s,
		    (unsigned long long)(ms % 1000 / 100));
	else if (s < 60)
		add(buf, size, &n, "%llu s", (unsigned long long)s);
	else if (s < 3600)
		add(buf, size, &n, "%llum%02llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		add(buf, size, &n, "%lluh%02llum",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	return n;
}

/* ", <rate>" of @count bytes (or items of @unit) in @ms; nothing at 0. */
static void add_rate(char *buf, size_t size, size_t *n, uint64_t count,
                     const char *unit, uint64_t ms)
{
	char b[32];

	if (!ms || !count)
		return;
	if (!unit) {
		progress_fmt_bytes(
			(uint64_t)((double)count * 1000 / (double)ms), b,
			sizeof(b));
		add(buf, size, n, ", %s/s", b);
	} else {
		add(buf, size, n, ", %.1f %s/s",
		    (double)count * 1000 / (double)ms, unit);
	}
}

/* Per cent done: of the bytes when their total is known, else of items. */
static unsigned percent(const struct progress_state *s)
{
	uint64_t done = s->bytes_total ? s->bytes : s->done;
	uint64_t total = s->bytes_total ? s->bytes_total : s->total;

	if (!total)
		return 0;
	if (done >= total)
		return 100;
	return (unsigned)((double)done * 100 / (double)total);
}

size_t progress_fmt_line(const char *title, const struct progress_state *s,
                         uint64_t ms, char *buf, size_t size)
{
	const char *unit = s->unit ? s->unit : "items";
	char b[32], bt[32];
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	if (s->total)
		add(buf, size, &n, "%s: %llu/%llu %s (%u%%)", title,
		    (unsigned long long)s->done, (unsigned long long)s->total,
		    unit, percent(s));
	else
		add(buf, size, &n, "%s: %llu %s", title,
		    (unsigned long long)s->done, unit);
	if (s->bytes || s->bytes_total) {
		progress_fmt_bytes(s->bytes, b, sizeof(b));
		if (s->bytes_total) {
			progress_fmt_bytes(s->bytes_total, bt, sizeof(bt));
			add(buf, size, &n, ", %s of %s", b, bt);
		} else {
			add(buf, size, &n, ", %s", b);
		}
		add_rate(buf, size, &n, s->bytes, NULL, ms);
	} else {
		add_rate(buf, size, &n, s->done, unit, ms);
	}
	return n;
}

size_t progress_fmt_took(uint64_t bytes, uint64_t ms, char *buf, size_t size)
{
	char b[32], t[32];
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	progress_fmt_bytes(bytes, b, sizeof(b));
	progress_fmt_time(ms, t, sizeof(t));
	add(buf, size, &n, "%s in %s", b, t);
	add_rate(buf, size, &n, bytes, NULL, ms);
	return n;
}

enum progress_mode progress_mode_of(int fd)
{
	return isatty(fd) ? PROGRESS_TTY : PROGRESS_PLAIN;
}

struct progress *progress_new(int fd, enum progress_mode mode,
                              const char *title)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = fd;
	p->mode = mode;
	p->title = title;
	p->now = clock_mono_ms;
	p->start = p->now();
	return p;
}

void progress_set_clock(struct progress *p, uint64_t (*now_ms)(void))
{
	p->now = now_ms;
	p->start = p->now();
}

uint64_t progress_elapsed_ms(const struct progress *p)
{
	return p ? p->now() - p->start : 0;
}

/* One write(2), so the line never mixes with a log line. */
static void put(const struct progress *p, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(p->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a display is not worth failing for */
		buf += n;
		len -= (size_t)n;
	}
}

/* The terminal's width, 80 when it cannot tell. */
static size_t columns(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 20)
		return 80;
	return ws.ws_col;
}

static void draw_tty(struct progress *p, const struct progress_state *s,
                     uint64_t now)
{
	char line[LINE_MAX_BYTES + 8];
	size_t n, width = columns(p->fd) - 1;

	line[0] = '\r';
	n = 1 + progress_fmt_line(p->title, s, now - p->start, line + 1,
	                          LINE_MAX_BYTES);
	if (n > width + 1) /* a wrapped line could not be rewritten */
		n = width + 1;
	/* Clear what a longer line left, then park at the start. */
	memcpy(line + n, "\033[K\r", 4);
	put(p, line, n + 4);
	p->drawn = true;
	p->last_draw = now;
}

/* Plain: the step reached (tenths, or PROGRESS_PLAIN_STEP items). */
static uint64_t step_of(const struct progress_state *s)
{
	if (s->total || s->bytes_total)
		return percent(s) / 10;
	return s->done / PROGRESS_PLAIN_STEP;
}

static void draw_plain(struct progress *p, const struct progress_state *s,
                       uint64_t now)
{
	char line[LINE_MAX_BYTES + 1];
	size_t n;

	n = progress_fmt_line(p->title, s, now - p->start, line,
	                      LINE_MAX_BYTES);
	line[n++] = '\n';
	put(p, line, n);
}

void progress_update(struct progress *p, const struct progress_state *s)
{
	uint64_t now, step;

	if (!p || p->mode == PROGRESS_OFF)
		return;
	now = p->now();
	if (p->mode == PROGRESS_TTY) {
		if (!p->drawn || now - p->last_draw >= PROGRESS_TTY_MS)
			draw_tty(p, s, now);
		return;
	}
	step = step_of(s);
	if (p->started && step < p->next_step)
		return;
	p->started = true;
	p->next_step = step + 1;
	draw_plain(p, s, now);
}

void progress_clear(struct progress *p)
{
	if (!p || !p->drawn)
		return;
	put(p, "\r\033[K", 4);
	p->drawn = false;
}

void progress_free(struct progress *p)
{
	progress_clear(p);
	free(p);
}
