/* SPDX-License-Identifier: Apache-2.0 */
/*
 * progress.h - the progress display of the offline commands (gc, scrub,
 * fsck, import): items done of total, bytes, rate.
 *
 * On a terminal it is one line, rewritten in place (\r, at most every
 * PROGRESS_TTY_MS, checked against the monotonic clock) and erased at the
 * end, with the cursor left at its start, so a log line written meanwhile
 * replaces it. Elsewhere (a pipe, a file, a journal) it is plain lines: one
 * at the start and one each time another tenth of the work is done (every
 * PROGRESS_PLAIN_STEP items when the total is not known). Not thread-safe:
 * one thread updates a display.
 */
#ifndef DRAY_PROGRESS_H
#define DRAY_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define PROGRESS_TTY_MS     100  /* least time between two redraws */
#define PROGRESS_PLAIN_STEP 1000 /* items per plain line, total unknown */

enum progress_mode {
	PROGRESS_OFF,   /* nothing shown */
	PROGRESS_PLAIN, /* whole lines */
	PROGRESS_TTY,   /* one line rewritten in place */
};

/* Where an operation stands, as index/'s store_progress says it. */
struct progress_state {
	const char *unit;     /* what done and total count: "blobs" */
	uint64_t done;        /* items finished */
	uint64_t total;       /* items in all; 0: not known */
	uint64_t bytes;       /* bytes so far */
	uint64_t bytes_total; /* bytes in all; 0: not known */
};

struct progress; /* opaque */

/* PROGRESS_TTY if @fd is a terminal, else PROGRESS_PLAIN. */
enum progress_mode progress_mode_of(int fd);

/*
 * A display on @fd in @mode; @title ("scrub") starts each line and is
 * borrowed for the display's life. The clock starts now. NULL when out of
 * memory (the callers then show nothing).
 */
struct progress *progress_new(int fd, enum progress_mode mode,
                              const char *title);

/* Tests: read the time from @now_ms instead of the monotonic clock. */
void progress_set_clock(struct progress *p, uint64_t (*now_ms)(void));

/* The operation now stands at @s; redraw if it is time. Accepts NULL. */
void progress_update(struct progress *p, const struct progress_state *s);

/*
 * Erase the terminal line now, before other output goes to the terminal;
 * the next update draws it again. Accepts NULL.
 */
void progress_clear(struct progress *p);

/* Milliseconds since progress_new(). */
uint64_t progress_elapsed_ms(const struct progress *p);

/* Erase the terminal line, if one is shown, and free @p. Accepts NULL. */
void progress_free(struct progress *p);

/*
 * The formatting, for the display and the summaries. Each writes a NUL
 * terminated text into @buf (@size bytes, truncated to fit) and returns
 * its length.
 */

/* @bytes in binary units: "0 B", "1023 B", "1.5 KiB", "12.0 GiB". */
size_t progress_fmt_bytes(uint64_t bytes, char *buf, size_t size);

/* A duration: "0.4 s", "12 s", "3m05s", "2h10m". */
size_t progress_fmt_time(uint64_t ms, char *buf, size_t size);

/*
 * The display's line for @s after @ms, without \r or \n: "scrub: 120/4000
 * blobs (3%), 1.2 GiB, 240.0 MiB/s". The rate is of bytes when there are
 * any, else of items, and left out while @ms is 0.
 */
size_t progress_fmt_line(const char *title, const struct progress_state *s,
                         uint64_t ms, char *buf, size_t size);

/* How much and how fast, for a summary: "1.2 GiB in 5.0 s, 240.0 MiB/s". */
size_t progress_fmt_took(uint64_t bytes, uint64_t ms, char *buf, size_t size);

#endif
