/* SPDX-License-Identifier: Apache-2.0 */
/*
 * opstat.c - the process-wide counters of opstat.h: per-thread shards of
 * relaxed atomics, summed when read; the scheduler's state as a few
 * atomics its one worker stores.
 */
#include <string.h>

#include "daemon/clock.h"
#include "daemon/opstat.h"

#define SCHED_TASKS 8

/* One shard's counters; a shard is a whole number of cache lines. */
struct shard {
	uint64_t ops[OPSTAT_OPS];
	uint64_t read_bytes, write_bytes;
	uint64_t commits[OPSTAT_KINDS], refusals[OPSTAT_KINDS];
	uint64_t lock[OPSTAT_LOCK_BUCKETS];
	uint64_t lock_ns;
} __attribute__((aligned(64)));

/* zot's GetStorageLatencyBuckets(), in nanoseconds; the last is +Inf. */
static const uint64_t lock_bound_ns[OPSTAT_LOCK_BUCKETS - 1] = {
	1000000ULL,     10000000ULL,    100000000ULL,
	1000000000ULL,  5000000000ULL,  10000000000ULL,
	15000000000ULL, 30000000000ULL, 60000000000ULL,
};
const char *const opstat_lock_le[OPSTAT_LOCK_BUCKETS] = {
	"0.001", "0.01", "0.1", "1", "5", "10", "15", "30", "60", "+Inf",
};

static const char *const op_names[OPSTAT_OPS] = {
	"lookup",  "getattr", "open",   "create", "read",   "write",
	"readdir", "mkdir",   "unlink", "rmdir",  "rename",
};
static const char *const kind_names[OPSTAT_KINDS] = {
	"blob",
	"index",
	"layout",
	"other",
};

static struct shard shards[OPSTAT_SHARDS];
static unsigned enabled;    /* opstat_enable() not yet disabled */
static unsigned next_shard; /* the shard of the next new thread */

/* The scheduler; each field written by its one worker (or at start). */
static struct {
	unsigned tasks;                /* registered, 0: not running */
	int running;                   /* task running, or -1 */
	bool periodic[SCHED_TASKS];    /* runs again */
	uint64_t next_ms[SCHED_TASKS]; /* when, monotonic */
} sched = {.running = -1};

/* 1 + the calling thread's shard, 0 before its first count. */
static __thread unsigned my_shard;

static void add(uint64_t *p, uint64_t v)
{
	__atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void opstat_enable(void)
{
	__atomic_add_fetch(&enabled, 1, __ATOMIC_RELAXED);
}

void opstat_disable(void)
{
	__atomic_sub_fetch(&enabled, 1, __ATOMIC_RELAXED);
}

bool opstat_on(void)
{
	return __atomic_load_n(&enabled, __ATOMIC_RELAXED) != 0;
}

unsigned opstat_shard(void)
{
	if (!my_shard)
		my_shard = 1 + __atomic_fetch_add(&next_shard, 1,
		                                  __ATOMIC_RELAXED) %
		                       OPSTAT_SHARDS;
	return my_shard - 1;
}

void opstat_mount_op(enum opstat_op op)
{
	if (opstat_on())
		add(&shards[opstat_shard()].ops[op], 1);
}

void opstat_mount_bytes(bool written, uint64_t n)
{
	struct shard *s;

	if (!opstat_on())
		return;
	s = &shards[opstat_shard()];
	add(written ? &s->write_bytes : &s->read_bytes, n);
}

void opstat_mount_commit(enum opstat_kind kind, bool ok)
{
	struct shard *s;

	if (!opstat_on())
		return;
	s = &shards[opstat_shard()];
	add(ok ? &s->commits[kind] : &s->refusals[kind], 1);
}

void opstat_lock(pthread_mutex_t *lock)
{
	struct shard *s;
	uint64_t t0, ns;
	int b = 0;

	if (!opstat_on()) {
		pthread_mutex_lock(lock);
		return;
	}
	s = &shards[opstat_shard()];
	if (pthread_mutex_trylock(lock) == 0) { /* no wait: no clock */
		add(&s->lock[0], 1);
		return;
	}
	t0 = clock_mono_ns();
	pthread_mutex_lock(lock);
	ns = clock_mono_ns() - t0;
	while (b < OPSTAT_LOCK_BUCKETS - 1 && ns > lock_bound_ns[b])
		b++;
	add(&s->lock[b], 1);
	add(&s->lock_ns, ns);
}

void opstat_sched_start(unsigned n)
{
	if (n > SCHED_TASKS)
		n = SCHED_TASKS;
	__atomic_store_n(&sched.running, -1, __ATOMIC_RELAXED);
	__atomic_store_n(&sched.tasks, n, __ATOMIC_RELEASE);
}

void opstat_sched_next(unsigned i, bool periodic, uint64_t next_ms)
{
	if (i >= SCHED_TASKS)
		return;
	__atomic_store_n(&sched.periodic[i], periodic, __ATOMIC_RELAXED);
	__atomic_store_n(&sched.next_ms[i], next_ms, __ATOMIC_RELAXED);
}

void opstat_sched_running(int i)
{
	__atomic_store_n(&sched.running, i, __ATOMIC_RELAXED);
}

const char *opstat_op_name(enum opstat_op op)
{
	return op_names[op];
}

const char *opstat_kind_name(enum opstat_kind kind)
{
	return kind_names[kind];
}

/* The scheduler's figures, as of now. */
static void read_sched(struct opstat_snap *out)
{
	unsigned n = __atomic_load_n(&sched.tasks, __ATOMIC_ACQUIRE);
	int running = __atomic_load_n(&sched.running, __ATOMIC_RELAXED);
	uint64_t now = clock_mono_ms();

	out->sched_workers = n ? 1 : 0;
	out->sched_working = n && running >= 0;
	out->sched_tasks = n;
	for (unsigned i = 0; i < n; i++) {
		bool due = __atomic_load_n(&sched.next_ms[i],
		                           __ATOMIC_RELAXED) <= now;

		if (!__atomic_load_n(&sched.periodic[i], __ATOMIC_RELAXED)) {
			out->sched_done++;
		} else if ((int)i == running) {
			out->sched_ready++;
		} else if (due) {
			out->sched_ready++;
			out->sched_queued++;
		} else {
			out->sched_waiting++;
		}
	}
}

void opstat_read(struct opstat_snap *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < OPSTAT_SHARDS; i++) {
		const struct shard *s = &shards[i];

		for (int k = 0; k < OPSTAT_OPS; k++)
			out->ops[k] += load(&s->ops[k]);
		out->read_bytes += load(&s->read_bytes);
		out->write_bytes += load(&s->write_bytes);
		for (int k = 0; k < OPSTAT_KINDS; k++) {
			out->commits[k] += load(&s->commits[k]);
			out->refusals[k] += load(&s->refusals[k]);
		}
		for (int k = 0; k < OPSTAT_LOCK_BUCKETS; k++)
			out->lock[k] += load(&s->lock[k]);
		out->lock_ns += load(&s->lock_ns);
	}
	read_sched(out);
}
