/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - timestamped lines, one write(2) each, as text or JSON; and the
 * audit trail.
 *
 * Lines are built in a buffer of LINE_MAX_BYTES on the stack: each string
 * is cut to what still fits, at a whole character or escape, so a line is
 * always complete and valid, however long or strange its input. The file
 * descriptors never change number after log_open(): log_reopen() puts
 * the new file in place with dup3(), which is atomic, so a writer in
 * another thread writes each line whole to one file or the other.
 */
#define _GNU_SOURCE /* dup3 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

#define LINE_MAX_BYTES  8192 /* one line, at most */
#define MSG_MAX_BYTES   4096 /* one message before escaping, at most */
#define LINE_RESERVE    4    /* kept for the closing "}\n */
#define FIELD_MAX_BYTES 2048 /* one field's value, escaped, at most */

static int log_fd = 2;
static int audit_fd = -1;
static char log_path[4096];   /* log_fd's file, "" for stderr */
static char audit_path[4096]; /* audit_fd's file */
static enum log_level log_min = LOG_INFO;
static enum log_format log_format = LOG_FORMAT_AUTO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = {
		{"error", LOG_ERROR},  {"warn", LOG_WARN},
		{"warning", LOG_WARN}, {"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(s, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "auto") == 0)
		*out = LOG_FORMAT_AUTO;
	else
		return -1;
	return 0;
}

static int open_append(const char *path, struct err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return err_set_errno(err, errno, "cannot open log '%s'", path);
	return fd;
}

/* Remember @path in @buf (@size bytes); ERR_INVALID if too long. */
static int keep_path(char *buf, size_t size, const char *path, struct err *err)
{
	if (snprintf(buf, size, "%s", path) >= (int)size)
		return err_set(err, ERR_INVALID,
		               "log path too long: '%.64s...'", path);
	return 0;
}

int log_open(const char *path, enum log_level level, struct err *err)
{
	char kept[sizeof(log_path)];
	int fd;

	log_min = level;
	if (!path || !*path || strcmp(path, "stderr") == 0)
		return 0;
	if (keep_path(kept, sizeof(kept), path, err) < 0)
		return -1;
	fd = open_append(path, err);
	if (fd < 0)
		return -1;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	memcpy(log_path, kept, sizeof(log_path));
	return 0;
}

void log_set_format(enum log_format format)
{
	log_format = format;
}

int log_audit_open(const char *path, struct err *err)
{
	char kept[sizeof(audit_path)];
	int fd;

	if (!path || !*path)
		return 0;
	if (keep_path(kept, sizeof(kept), path, err) < 0)
		return -1;
	fd = open_append(path, err);
	if (fd < 0) {
		err_prefix(err, "log.audit");
		return -1;
	}
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = fd;
	memcpy(audit_path, kept, sizeof(audit_path));
	return 0;
}

/* Put a new open file description of @path at descriptor @fd. */
static int reopen_at(int fd, const char *path, struct err *err)
{
	int nfd = open_append(path, err);
	int ret = 0;

	if (nfd < 0)
		return -1;
	if (dup3(nfd, fd, O_CLOEXEC) < 0)
		ret = err_set_errno(err, errno, "cannot reopen log '%s'", path);
	close(nfd);
	return ret;
}

void log_reopen(void)
{
	struct err err = ERR_INIT;

	if (log_fd > 2 && reopen_at(log_fd, log_path, &err) < 0)
		log_write(LOG_ERROR, "log", "%s; still writing to the old file",
		          err.msg);
	err = ERR_INIT;
	if (audit_fd >= 0 && reopen_at(audit_fd, audit_path, &err) < 0)
		log_write(LOG_ERROR, "log", "%s; still writing to the old file",
		          err.msg);
	log_write(LOG_INFO, "log", "log files reopened");
}

void log_close(void)
{
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	log_path[0] = '\0';
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
	audit_path[0] = '\0';
}

bool log_enabled(enum log_level level)
{
	return level <= log_min;
}

bool log_audit_on(void)
{
	return audit_fd >= 0;
}

/* A line being built; LINE_RESERVE bytes past ->cap stay free. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len; /* bytes in buf */
	size_t cap; /* what the content may use */
};

static void line_init(struct line *l)
{
	l->len = 0;
	l->cap = sizeof(l->buf) - LINE_RESERVE;
}

static bool fits(const struct line *l, size_t n)
{
	return l->len + n <= l->cap;
}

/* Append @n bytes of @s if they fit; false if not (nothing appended). */
static bool put(struct line *l, const char *s, size_t n)
{
	if (!fits(l, n))
		return false;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/*
 * Length of the well-formed UTF-8 sequence at @s (@n bytes left): 1..4,
 * or 0 if the bytes there are not one (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Append @s escaped: for JSON (@json, without the quotes) or for a text
 * line. Stops at the first piece that does not fit, leaving @more bytes
 * free besides. Valid UTF-8 is copied; control bytes are escaped; an
 * invalid byte becomes U+FFFD in JSON, \xNN in text.
 */
static void put_escaped(struct line *l, const char *s, bool json, size_t more)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;

	l->cap -= more;
	while (i < n) {
		char esc[8];
		size_t k = utf8_len(u + i, n - i);
		const char *piece = esc;
		size_t plen;

		if (k > 1 || (k == 1 && u[i] >= 0x20 && u[i] != 0x7f &&
		              (!json || (u[i] != '"' && u[i] != '\\')))) {
			piece = s + i;
			plen = k;
		} else if (k == 1 && json) {
			static const char short_esc[] =
				"\"\"\\\\\bb\ff\nn\rr\tt";
			const char *e = NULL;

			for (size_t j = 0; j + 1 < sizeof(short_esc); j += 2)
				if (short_esc[j] == (char)u[i])
					e = short_esc + j + 1;
			if (e)
				plen = (size_t)snprintf(esc, sizeof(esc),
				                        "\\%c", *e);
			else
				plen = (size_t)snprintf(esc, sizeof(esc),
				                        "\\u%04x", u[i]);
			k = 1;
		} else if (json) { /* not UTF-8 */
			plen = (size_t)snprintf(esc, sizeof(esc), "\\ufffd");
			k = 1;
		} else {
			plen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x",
			                        u[i]);
			k = 1;
		}
		if (!put(l, piece, plen))
			break;
		i += k;
	}
	l->cap += more;
}

/* ,"key": for field @key, if the key and @more bytes after it fit. */
static bool put_key(struct line *l, const char *key, size_t more)
{
	if (!fits(l, strlen(key) + 4 + more))
		return false;
	if (l->len > 1)
		put(l, ",", 1);
	put(l, "\"", 1);
	puts_(l, key);
	put(l, "\":", 2);
	return true;
}

/*
 * A string field, cut to fit and to @limit bytes (escaped); "" when only
 * the quotes fit.
 */
static void put_str_max(struct line *l, const char *key, const char *val,
                        size_t limit)
{
	size_t cap = l->cap;

	if (!val || !put_key(l, key, 2))
		return;
	put(l, "\"", 1);
	if (limit + 1 < l->cap - l->len)
		l->cap = l->len + limit + 1;
	put_escaped(l, val, true, 1);
	l->cap = cap;
	put(l, "\"", 1);
}

/* A field: at most FIELD_MAX_BYTES, so the ones after it fit too. */
static void put_str(struct line *l, const char *key, const char *val)
{
	put_str_max(l, key, val, FIELD_MAX_BYTES);
}

static void put_num(struct line *l, const char *key, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	if (put_key(l, key, (size_t)n))
		put(l, num, (size_t)n);
}

/* Now, as RFC 3339 in UTC with milliseconds. */
static void timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* strftime: no field can widen past its digits here. */
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, size - n, ".%03uZ",
	         (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* Finish @l (a JSON object if @json) and write it to @fd, whole. */
static void emit(int fd, struct line *l, bool json)
{
	size_t off = 0;

	if (json)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	while (off < l->len) {
		ssize_t w = write(fd, l->buf + off, l->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static bool json_out(void)
{
	return log_format == LOG_FORMAT_JSON ||
	       (log_format == LOG_FORMAT_AUTO && log_fd > 2);
}

static void vlog(enum log_level level, const char *module,
                 const struct log_field *f, size_t n, const char *fmt,
                 va_list ap)
{
	struct line l;
	char msg[MSG_MAX_BYTES], ts[40];
	bool json = json_out();

	timestamp(ts, sizeof(ts));
	vsnprintf(msg, sizeof(msg), fmt, ap);
	line_init(&l);
	if (!json) {
		char head[128];
		int hn = snprintf(head, sizeof(head), "%s %s %s: ", ts,
		                  level_names[level], module);

		put(&l, head, (size_t)hn);
		put_escaped(&l, msg, false, 0);
		emit(log_fd, &l, false);
		return;
	}
	put(&l, "{", 1);
	put_str(&l, "time", ts);
	put_str(&l, "level", level_names[level]);
	put_str(&l, "module", module);
	for (size_t i = 0; i < n; i++) {
		if (f[i].is_str)
			put_str(&l, f[i].key, f[i].str);
		else
			put_num(&l, f[i].key, f[i].num);
	}
	put_str_max(&l, "message", msg, sizeof(l.buf));
	emit(log_fd, &l, true);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, module, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, const char *module,
                const struct log_field *f, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, module, f, n, fmt, ap);
	va_end(ap);
}

void log_audit(const struct audit_rec *a)
{
	struct line l;
	char ts[40];

	if (audit_fd < 0)
		return;
	timestamp(ts, sizeof(ts));
	line_init(&l);
	put(&l, "{", 1);
	put_str(&l, "time", ts);
	put_str(&l, "level", "info");
	put_str(&l, "action", a->action);
	put_str(&l, "subject", a->subject ? a->subject : "anonymous");
	put_str(&l, "clientIP", a->client);
	if (a->uid >= 0)
		put_num(&l, "uid", a->uid);
	put_str(&l, "repository", a->repository);
	put_str(&l, "reference", a->reference);
	put_str(&l, "digest", a->digest);
	put_str(&l, "object", a->object);
	put_str(&l, "source", a->source);
	if (a->status)
		put_num(&l, "status", a->status);
	put_str(&l, "outcome", a->ok ? "success" : "failure");
	put_str(&l, "error", a->error);
	put_str(&l, "message", "audit");
	emit(audit_fd, &l, true);
}
