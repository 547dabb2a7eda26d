/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics-cost.c - what http/metrics.c adds to one request, measured
 * alone: the calls the completion hook makes for a manifest GET
 * (metrics_request and metrics_download for a known repository), by 1, 2
 * and 4 threads at once; then the repository lock taken uncontended with
 * metrics off and on (daemon/opstat.h's opstat_lock, as repo_lock calls
 * it) and the counting of one mount read. Prints the CPU time per call in
 * nanoseconds
 * (CPU time, not wall time: on a busy machine the threads wait for a core
 * without counting). Built and run by metrics.sh against the Release
 * libraries.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/opstat.h"
#include "http/metrics.h"

#define CALLS 2000000

static struct metrics *m;

static void *work(void *arg)
{
	const char *repo = arg;

	for (int i = 0; i < CALLS; i++) {
		metrics_request(m, "GET", 200, 120, repo);
		metrics_download(m, repo);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void lock_once(void)
{
	opstat_lock(&lock);
	pthread_mutex_unlock(&lock);
}

static void mount_read(void)
{
	opstat_mount_op(OPSTAT_READ);
	opstat_mount_bytes(false, 4096);
}

/* CPU ns per call of @fn, by one thread. */
static double per_call(void (*fn)(void))
{
	double t0 = now();

	for (int i = 0; i < CALLS; i++)
		fn();
	return (now() - t0) * 1e9 / CALLS;
}

int main(void)
{
	static char *repos[] = {"bench/small", "bench/other", "team/a", "b"};
	struct metrics_info info = {"0", NULL, "-metrics", "1.1.0", "/"};
	struct err err = ERR_INIT;

	m = metrics_new(&info, &err);
	if (!m) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (int n = 1; n <= 4; n *= 2) {
		pthread_t t[4];
		double t0 = now();

		for (int i = 0; i < n; i++)
			pthread_create(&t[i], NULL, work, repos[i]);
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		printf("%d %.1f\n", n, (now() - t0) * 1e9 / CALLS / n);
	}
	metrics_free(m);
	/* The repository lock taken (uncontended) and one mount read. */
	printf("lock-off %.1f\n", per_call(lock_once));
	m = metrics_new(&info, &err);
	if (!m)
		return 1;
	printf("lock-on %.1f\n", per_call(lock_once));
	printf("mount-read-on %.1f\n", per_call(mount_read));
	metrics_free(m);
	return 0;
}
