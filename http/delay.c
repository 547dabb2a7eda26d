/* SPDX-License-Identifier: Apache-2.0 */
/*
 * delay.c - answers held back for a while without holding a thread:
 * http.auth.failDelay. The request's connection is suspended in MHD and
 * resumed by this module's thread once its time has come; MHD then calls
 * the access handler again, which answers. The delay is one constant, so
 * the connections wait in a FIFO that is also deadline order.
 */
#define LOG_MODULE "http"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/clock.h"
#include "http/http_int.h"

struct held {
	struct MHD_Connection *conn;
	uint64_t due_ms; /* monotonic */
	struct held *next;
};

struct delay {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct held *head, *tail;
	bool stopping;
};

static void *delay_main(void *arg)
{
	struct delay *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct held *h = d->head;
		uint64_t now = clock_mono_ms();

		if (h && (d->stopping || h->due_ms <= now)) {
			d->head = h->next;
			if (!d->head)
				d->tail = NULL;
			pthread_mutex_unlock(&d->lock);
			MHD_resume_connection(h->conn);
			free(h);
			pthread_mutex_lock(&d->lock);
		} else if (d->stopping) {
			break;
		} else if (h) {
			struct timespec ts = {
				.tv_sec = (time_t)(h->due_ms / 1000),
				.tv_nsec = (long)(h->due_ms % 1000) * 1000000};

			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		} else {
			pthread_cond_wait(&d->cond, &d->lock);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct delay *delay_new(struct err *err)
{
	struct delay *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int rc;

	if (!d) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&d->thread, NULL, delay_main, d);
	if (rc != 0) {
		err_set_errno(err, rc, "cannot start the failDelay thread");
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return NULL;
	}
	return d;
}

bool delay_hold(struct delay *d, struct MHD_Connection *conn, uint64_t ms)
{
	struct held *h;

	if (!d)
		return false;
	h = malloc(sizeof(*h));
	if (!h)
		return false; /* answered at once: no worse than no delay */
	*h = (struct held){conn, clock_mono_ms() + ms, NULL};
	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		pthread_mutex_unlock(&d->lock);
		free(h);
		return false;
	}
	/* Suspended before the thread can see it, so never resumed first. */
	MHD_suspend_connection(conn);
	if (d->tail)
		d->tail->next = h;
	else
		d->head = h;
	d->tail = h;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return true;
}

void delay_stop(struct delay *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
}

void delay_free(struct delay *d)
{
	if (!d)
		return;
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
