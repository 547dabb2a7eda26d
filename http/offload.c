/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offload.c - a few worker threads for the slow steps of a request
 * (a bcrypt or LDAP check of credentials not in the cache), so that the
 * listener thread that took the request serves its other connections
 * meanwhile. One FIFO of jobs, bounded; the caller of a job that does
 * not fit runs it inline, as if there were no pool. On top of it, the
 * connection jobs: the hand-over between a worker and the request whose
 * connection it holds suspended.
 */
#define LOG_MODULE "http"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daemon/log.h"
#include "http/http_int.h"

struct offload {
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* a job was queued, or stopping */
	struct offload_job *head, *tail; /* queued, not yet taken */
	size_t queued, max_queued;
	bool stopping;
	int nice;           /* added to each worker's nice value */
	unsigned n_threads; /* started */
	pthread_t threads[];
};

static void *worker_main(void *arg)
{
	struct offload *o = arg;
	struct offload_job *job;
	id_t tid = (id_t)syscall(SYS_gettid);
	int cur;

	/* Linux: a thread's own nice value (by its id). Lower priority
	   only, which needs no privilege; best effort. */
	errno = 0;
	cur = getpriority(PRIO_PROCESS, tid);
	if (o->nice && errno == 0 &&
	    setpriority(PRIO_PROCESS, tid, cur + o->nice) < 0)
		log_debug("offload worker: nice %+d not set: %s", o->nice,
		          strerror(errno));
	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (!o->head && !o->stopping)
			pthread_cond_wait(&o->cond, &o->lock);
		if (!o->head) /* stopping, and nothing queued */
			break;
		job = o->head;
		o->head = job->next;
		if (!o->head)
			o->tail = NULL;
		o->queued--;
		pthread_mutex_unlock(&o->lock);
		job->run(job);
		job->done(job, true);
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

struct offload *offload_new(unsigned workers, size_t max_queued, int nice,
                            struct err *err)
{
	struct offload *o;
	int rc;

	o = calloc(1, sizeof(*o) + workers * sizeof(o->threads[0]));
	if (!o) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	o->max_queued = max_queued;
	o->nice = nice;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	for (unsigned i = 0; i < workers; i++) {
		rc = pthread_create(&o->threads[i], NULL, worker_main, o);
		if (rc != 0) {
			err_set_errno(err, rc,
			              "cannot start an offload thread");
			offload_stop(o);
			offload_free(o);
			return NULL;
		}
		o->n_threads++;
	}
	return o;
}

bool offload_submit(struct offload *o, struct offload_job *job)
{
	if (!o)
		return false;
	pthread_mutex_lock(&o->lock);
	if (o->stopping || o->queued >= o->max_queued || !o->n_threads) {
		pthread_mutex_unlock(&o->lock);
		return false;
	}
	/* Before a worker can see it, so never done before it is queued. */
	if (job->queued)
		job->queued(job);
	job->next = NULL;
	if (o->tail)
		o->tail->next = job;
	else
		o->head = job;
	o->tail = job;
	o->queued++;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	return true;
}

void offload_stop(struct offload *o)
{
	struct offload_job *job, *next;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	job = o->head;
	o->head = o->tail = NULL;
	o->queued = 0;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	/* Jobs not started are not run: their callers answer without. */
	for (; job; job = next) {
		next = job->next;
		job->done(job, false);
	}
	for (unsigned i = 0; i < o->n_threads; i++)
		pthread_join(o->threads[i], NULL);
	o->n_threads = 0;
}

void offload_free(struct offload *o)
{
	if (!o)
		return;
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* Guards the hand-over between conn_job_drop() and the workers. */
static pthread_mutex_t hand_lock = PTHREAD_MUTEX_INITIALIZER;

static void job_queued(struct offload_job *base)
{
	struct conn_job *job = (struct conn_job *)base;

	conn_phase(job->conn, CONN_WORK);
	MHD_suspend_connection(job->conn);
}

static void job_run(struct offload_job *base)
{
	struct conn_job *job = (struct conn_job *)base;

	job->work(job);
}

static void job_done(struct offload_job *base, bool ran)
{
	struct conn_job *job = (struct conn_job *)base;
	bool orphan;

	pthread_mutex_lock(&hand_lock);
	job->ran = ran;
	job->finished = true;
	orphan = job->orphan;
	/* Under the lock: req_free() cannot come, and MHD free the
	   connection, meanwhile. */
	if (!orphan)
		MHD_resume_connection(job->conn);
	pthread_mutex_unlock(&hand_lock);
	if (orphan)
		job->release(job);
}

bool conn_job_submit(struct offload *o, struct conn_job *job)
{
	job->base = (struct offload_job){job_queued, job_run, job_done, NULL};
	job->ran = job->finished = job->orphan = false;
	return offload_submit(o, &job->base);
}

bool conn_job_pending(struct conn_job *job)
{
	bool pending;

	pthread_mutex_lock(&hand_lock);
	pending = !job->finished;
	pthread_mutex_unlock(&hand_lock);
	return pending;
}

void conn_job_drop(struct conn_job *job)
{
	bool finished;

	pthread_mutex_lock(&hand_lock);
	finished = job->finished;
	job->orphan = true;
	pthread_mutex_unlock(&hand_lock);
	if (finished)
		job->release(job);
}
