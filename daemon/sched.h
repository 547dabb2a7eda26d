/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched.h - the background scheduler: one thread, at idle CPU and I/O
 * priority, running periodic tasks (GC, scrub, reconcile) one at a time,
 * so background work never competes with requests for more than itself.
 */
#ifndef DRAY_SCHED_H
#define DRAY_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"

struct sched;

struct sched_task {
	const char *name;     /* for the log */
	uint64_t interval_ms; /* run every this often (0: never) */
	uint64_t first_ms;    /* first run this long after start */
	/* The work. It should call sched_stopping() between steps. */
	void (*run)(struct sched *s, void *arg);
	void *arg;            /* passed to run */
};

/* Start running @tasks (copied, n <= 8). ERR_NOMEM, ERR_IO. */
MUST_CHECK struct sched *sched_start(const struct sched_task *tasks, int n,
                                     struct err *err);

/* True once sched_stop() was called: a task should return soon. */
bool sched_stopping(struct sched *s);

/*
 * Run task @name every @interval_ms from now on (0: never), the next time
 * @next_ms from now (SIGHUP changed storage.gcInterval, say). A task
 * running meanwhile finishes first. Unknown names change nothing.
 */
void sched_set(struct sched *s, const char *name, uint64_t interval_ms,
               uint64_t next_ms);

/* Stop the thread (waiting for a running task to return). Accepts NULL. */
void sched_stop(struct sched *s);

#endif
