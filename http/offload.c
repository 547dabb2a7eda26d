/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offload.c - a few worker threads for the slow steps of a request
 * (a bcrypt or LDAP check of credentials not in the cache), so that the
 * listener thread that took the request serves its other connections
 * meanwhile. One FIFO of jobs, bounded; the caller of a job that does
 * not fit runs it inline, as if there were no pool.
 */
#define LOG_MODULE "http"
#include <pthread.h>
#include <stdlib.h>

#include "http/http_int.h"

struct offload {
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* a job was queued, or stopping */
	struct offload_job *head, *tail; /* queued, not yet taken */
	size_t queued, max_queued;
	bool stopping;
	unsigned n_threads; /* started */
	pthread_t threads[];
};

static void *worker_main(void *arg)
{
	struct offload *o = arg;
	struct offload_job *job;

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

struct offload *offload_new(unsigned workers, size_t max_queued,
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
