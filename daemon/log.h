/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - one line per event, to stderr or a file; and the audit trail.
 *
 * Each line is written with a single write(2), so lines from many threads
 * never interleave. A file that defines LOG_MODULE before including this
 * header gets its name in every line. The level is set once at startup.
 *
 * Two formats: text ("<time> <level> <module>: <message>", for a person at
 * a terminal) and JSON (one object per line, as zot writes: "time" (RFC
 * 3339, UTC, milliseconds), "level", "module", the line's fields, and
 * "message" last). Text lines carry the message only, so a message must
 * say what a person needs; fields are for log pipelines. Control bytes
 * and invalid UTF-8 never reach a line raw: JSON escapes them (invalid
 * bytes become U+FFFD), text shows them as \xNN.
 *
 * The audit trail (log.audit) is a file of its own: one JSON object per
 * change, written before the change is acknowledged.
 *
 * log_reopen() (SIGHUP) reopens both files under their names, for
 * logrotate: a line is written either to the old file or to the new one.
 */
#ifndef DRAY_LOG_H
#define DRAY_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/err.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log.format: AUTO is JSON to a file, text to stderr. */
enum log_format { LOG_FORMAT_AUTO = 0, LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

#ifndef LOG_MODULE
#define LOG_MODULE "dray"
#endif

/* Parse "error", "warn"/"warning", "info", "debug". Returns 0 or -1. */
MUST_CHECK int log_level_parse(const char *s, enum log_level *out);

/* Parse "json", "text" (and "auto"). Returns 0 or -1. */
MUST_CHECK int log_format_parse(const char *s, enum log_format *out);

/*
 * Send the log to @path (appending; NULL or "" or "stderr" for stderr) at
 * @level. Not thread-safe: call before any thread logs. Fails with ERR_IO.
 */
MUST_CHECK int log_open(const char *path, enum log_level level,
                        struct err *err);

/* Choose the format (default AUTO). Call before any thread logs. */
void log_set_format(enum log_format format);

/*
 * Record changes in the audit file @path (appending; NULL or "": no
 * audit). Not thread-safe, like log_open(). Fails with ERR_IO.
 */
MUST_CHECK int log_audit_open(const char *path, struct err *err);

/*
 * Reopen the log and audit files under the names they were opened with
 * (SIGHUP after logrotate renamed them). Thread-safe: other threads keep
 * writing meanwhile, each line into the old file or into the new one. A
 * file that cannot be reopened stays as it was, and the log says why.
 */
void log_reopen(void);

/* Close the files opened by log_open() and log_audit_open(). */
void log_close(void);

bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
	PRINTF(3, 4);

/* A structured field of a line: a string (NULL: left out) or a number. */
struct log_field {
	const char *key; /* a JSON key, plain ASCII */
	bool is_str;     /* ->str, else ->num */
	const char *str;
	long long num;
};

#define LOG_STR(k, v) \
	((struct log_field){.key = (k), .is_str = true, .str = (v)})
#define LOG_NUM(k, v) ((struct log_field){.key = (k), .num = (long long)(v)})

/* log_write() with @n fields @f (JSON only; text shows the message). */
void log_fields(enum log_level level, const char *module,
                const struct log_field *f, size_t n, const char *fmt, ...)
	PRINTF(5, 6);

/* One change, for the audit trail. Strings NULL are left out. */
struct audit_rec {
	const char *action;     /* "manifest.push", "gc.blob", ... */
	const char *subject;    /* who: a user name; NULL: "anonymous" */
	const char *client;     /* from where: "ip:port", "mount", "gc" */
	long long uid;          /* the mount's caller, or -1 */
	const char *repository; /* which repository */
	const char *reference;  /* tag or digest as the caller named it */
	const char *digest;     /* the content's digest */
	const char *object;     /* the HTTP path or the path in the mount */
	const char *source;     /* a rename's old path */
	unsigned status;        /* the HTTP status, or 0 */
	bool ok;                /* the outcome: done, or refused/failed */
	const char *error;      /* why not, or NULL */
};

/* Whether log_audit() writes anywhere. */
bool log_audit_on(void);

/*
 * Append @a to the audit file as one JSON line; returns once write(2)
 * has taken it. Without an audit file, nothing. Thread-safe.
 */
void log_audit(const struct audit_rec *a);

#define log_err(...)   log_write(LOG_ERROR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, LOG_MODULE, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, LOG_MODULE, __VA_ARGS__)

#endif
