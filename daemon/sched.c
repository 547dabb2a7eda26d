/* SPDX-License-Identifier: Apache-2.0 */
/* sched.c - one background thread for periodic tasks. */
#define _GNU_SOURCE /* gettid, ioprio syscalls */
#define LOG_MODULE "sched"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"
#include "daemon/log.h"
#include "daemon/opstat.h"
#include "daemon/sched.h"

#define TASKS_MAX 8
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

struct sched {
	pthread_t thread;                  /* the worker */
	pthread_mutex_t lock;              /* protects stop, interval, next */
	pthread_cond_t wake;               /* signalled by sched_stop() */
	bool stop;                         /* stop requested */
	struct sched_task tasks[TASKS_MAX]; /* what to run */
	uint64_t next[TASKS_MAX];          /* when, monotonic ms */
	int n;                             /* how many tasks */
};

bool sched_stopping(struct sched *s)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *worker(void *arg)
{
	struct sched *s = arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);

	/* Named for ps -L, top -H and strace logs (contrib/bench/cluster.sh
	 * tells background calls from requests' by it). */
	pthread_setname_np(pthread_self(), "dray-sched");
	/* Background work yields to requests, for CPU and for the disk. */
	if (setpriority(PRIO_PROCESS, (id_t)tid, 19) < 0)
		log_debug("cannot lower cpu priority: %s", strerror(errno));
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid,
	            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) < 0)
		log_debug("cannot lower io priority: %s", strerror(errno));
	for (;;) {
		uint64_t now = clock_mono_ms(), wait = UINT64_MAX;
		int due = -1;

		pthread_mutex_lock(&s->lock);
		for (int i = 0; i < s->n; i++) {
			if (!s->tasks[i].interval_ms)
				continue;
			if (s->next[i] <= now) {
				due = i;
				break;
			}
			if (s->next[i] - now < wait)
				wait = s->next[i] - now;
		}
		if (due >= 0) {
			uint64_t t0 = clock_mono_ms();

			/* Not due again unless sched_set() says so meanwhile */
			s->next[due] = UINT64_MAX;
			pthread_mutex_unlock(&s->lock);
			opstat_sched_running(due);
			s->tasks[due].run(s, s->tasks[due].arg);
			log_debug("%s took %llu ms", s->tasks[due].name,
			          (unsigned long long)(clock_mono_ms() - t0));
			pthread_mutex_lock(&s->lock);
			if (s->next[due] == UINT64_MAX)
				s->next[due] = clock_mono_ms() +
				               s->tasks[due].interval_ms;
			opstat_sched_next((unsigned)due,
			                  s->tasks[due].interval_ms != 0,
			                  s->next[due]);
			pthread_mutex_unlock(&s->lock);
			opstat_sched_running(-1);
			if (sched_stopping(s))
				break;
			continue;
		}
		if (!s->stop) {
			struct timespec ts;

			if (wait > 3600 * 1000)
				wait = 3600 * 1000;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		}
		bool stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
	}
	return NULL;
}

struct sched *sched_start(const struct sched_task *tasks, int n,
                          struct err *err)
{
	struct sched *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int rc;

	if (!s) {
		err_set(err, ERR_NOMEM, "cannot start scheduler");
		return NULL;
	}
	if (n > TASKS_MAX)
		n = TASKS_MAX;
	memcpy(s->tasks, tasks, (size_t)n * sizeof(*tasks));
	s->n = n;
	for (int i = 0; i < n; i++) {
		s->next[i] = clock_mono_ms() + tasks[i].first_ms;
		opstat_sched_next((unsigned)i, tasks[i].interval_ms != 0,
		                  s->next[i]);
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	opstat_sched_start((unsigned)n);
	rc = pthread_create(&s->thread, NULL, worker, s);
	if (rc != 0) {
		opstat_sched_start(0);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		err_set_errno(err, rc, "cannot start scheduler");
		return NULL;
	}
	return s;
}

void sched_set(struct sched *s, const char *name, uint64_t interval_ms,
               uint64_t next_ms)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n; i++) {
		if (strcmp(s->tasks[i].name, name) != 0)
			continue;
		s->tasks[i].interval_ms = interval_ms;
		s->next[i] = clock_mono_ms() + next_ms;
		opstat_sched_next((unsigned)i, interval_ms != 0, s->next[i]);
	}
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	opstat_sched_start(0);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
