/* SPDX-License-Identifier: Apache-2.0 */
/*
 * opstat.h - process-wide counters the modules below http/ keep for the
 * metrics (http/metrics.c renders them): the mount's operations and
 * bytes, commits and refusals through it, the wait for a repository's
 * lock, and what the background scheduler is doing.
 *
 * Counting happens only while some metrics object is alive (opstat_enable)
 * and costs one relaxed load otherwise. Counters are relaxed atomics in
 * per-thread shards (no lock, no shared cache line between threads that
 * own different shards); opstat_read() sums them. Thread-safe.
 */
#ifndef DRAY_OPSTAT_H
#define DRAY_OPSTAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Shards of the counters; threads past this many share them. */
#define OPSTAT_SHARDS 8

/* Operations of the mount that are counted. */
enum opstat_op {
	OPSTAT_LOOKUP,
	OPSTAT_GETATTR,
	OPSTAT_OPEN,
	OPSTAT_CREATE,
	OPSTAT_READ,
	OPSTAT_WRITE,
	OPSTAT_READDIR, /* a directory listed (opendir) */
	OPSTAT_MKDIR,
	OPSTAT_UNLINK,
	OPSTAT_RMDIR,
	OPSTAT_RENAME,
	OPSTAT_OPS
};

/* What a commit through the mount published (or was refused for). */
enum opstat_kind {
	OPSTAT_BLOB,   /* blobs/<alg>/<hex> */
	OPSTAT_INDEX,  /* a repository's index.json */
	OPSTAT_LAYOUT, /* its oci-layout */
	OPSTAT_OTHER,  /* anything else: temporaries (judged again when
	                  renamed onto one of the above) */
	OPSTAT_KINDS
};

/* zot's storage lock buckets (seconds), and +Inf. */
#define OPSTAT_LOCK_BUCKETS 10

/* The sums opstat_read() gives. */
struct opstat_snap {
	uint64_t ops[OPSTAT_OPS];           /* mount operations */
	uint64_t read_bytes;                /* bytes read through the mount */
	uint64_t write_bytes;               /* bytes written through it */
	uint64_t commits[OPSTAT_KINDS];     /* files published by close or
	                                       rename */
	uint64_t refusals[OPSTAT_KINDS];    /* ... and refused */
	uint64_t lock[OPSTAT_LOCK_BUCKETS]; /* lock waits by bucket, not
	                                       cumulative */
	uint64_t lock_ns;                   /* their sum */
	/* The scheduler, as now. */
	unsigned sched_workers; /* worker threads running */
	unsigned sched_working; /* of them, running a task */
	unsigned sched_tasks;   /* tasks registered */
	unsigned sched_ready;   /* periodic, due or running */
	unsigned sched_waiting; /* periodic, not due yet */
	unsigned sched_done;    /* never run again (interval 0) */
	unsigned sched_queued;  /* due, waiting for the worker */
};

/* The "le" label of each lock bucket: "0.001" ... "60", "+Inf". */
extern const char *const opstat_lock_le[OPSTAT_LOCK_BUCKETS];

/* Count from now on (nested: counting stops after as many disables). */
void opstat_enable(void);
void opstat_disable(void);

/* Is counting on? */
bool opstat_on(void);

/* The calling thread's shard, 0 .. OPSTAT_SHARDS - 1 (fixed for its life). */
unsigned opstat_shard(void);

/* One mount operation @op asked for (whatever its outcome). */
void opstat_mount_op(enum opstat_op op);

/* @n bytes read through the mount, or (@written) written into it. */
void opstat_mount_bytes(bool written, uint64_t n);

/* A file published through the mount (@ok), or refused, of @kind. */
void opstat_mount_commit(enum opstat_kind kind, bool ok);

/*
 * pthread_mutex_lock(@lock), counting how long the caller waited for it
 * (zot_storage_lock_latency_seconds) while counting is on. The clock is
 * read only when the lock is contended.
 */
void opstat_lock(pthread_mutex_t *lock);

/* The scheduler: @n tasks registered (0: stopped). */
void opstat_sched_start(unsigned n);
/* Task @i runs next at monotonic @next_ms; @periodic false: never again. */
void opstat_sched_next(unsigned i, bool periodic, uint64_t next_ms);
/* Task @i started running (@i < 0: the worker is idle again). */
void opstat_sched_running(int i);

/* Names of the operations and kinds, for labels. */
const char *opstat_op_name(enum opstat_op op);
const char *opstat_kind_name(enum opstat_kind kind);

/* Sum the counters into *out. */
void opstat_read(struct opstat_snap *out);

#endif
