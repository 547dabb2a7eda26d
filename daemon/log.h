/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - one line per event, to stderr or a file.
 *
 * Each line is written with a single write(2), so lines from many threads
 * never interleave. A file that defines LOG_MODULE before including this
 * header gets its name in every line. The level is set once at startup.
 */
#ifndef DRAY_LOG_H
#define DRAY_LOG_H

#include <stdbool.h>

#include "daemon/err.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

#ifndef LOG_MODULE
#define LOG_MODULE "dray"
#endif

/* Parse "error", "warn"/"warning", "info", "debug". Returns 0 or -1. */
MUST_CHECK int log_level_parse(const char *s, enum log_level *out);

/*
 * Send the log to @path (appending; NULL or "" or "stderr" for stderr) at
 * @level. Not thread-safe: call before any thread logs. Fails with ERR_IO.
 */
MUST_CHECK int log_open(const char *path, enum log_level level,
                        struct err *err);

/* Close a log file opened by log_open(); stderr stays. Accepts no log. */
void log_close(void);

bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
	PRINTF(3, 4);

#define log_err(...)   log_write(LOG_ERROR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, LOG_MODULE, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, LOG_MODULE, __VA_ARGS__)

#endif
