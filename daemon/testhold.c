/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testhold.c - DRAY_TEST_HOLD, read once. The file is looked for every
 * 10 ms: a test waits for the log line, not for this period.
 */
#define LOG_MODULE "test"
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/testhold.h"

/* Longest point name. */
#define POINT_MAX 32

static char hold_point[POINT_MAX];
static char hold_file[PATH_MAX];
static pthread_once_t hold_once = PTHREAD_ONCE_INIT;

static void hold_init(void)
{
	const char *v = getenv("DRAY_TEST_HOLD"), *colon;
	size_t n;

	colon = v ? strchr(v, ':') : NULL;
	if (!colon)
		return;
	n = (size_t)(colon - v);
	if (n == 0 || n >= sizeof(hold_point) ||
	    strlen(colon + 1) >= sizeof(hold_file) || !colon[1])
		return;
	memcpy(hold_point, v, n);
	hold_point[n] = '\0';
	strcpy(hold_file, colon + 1);
}

const char *test_hold_point(void)
{
	pthread_once(&hold_once, hold_init);
	return hold_point[0] ? hold_point : NULL;
}

void test_hold(const char *point, const char *what)
{
	const struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	const char *p = test_hold_point();

	if (!p || strcmp(p, point) != 0 || access(hold_file, F_OK) == 0)
		return;
	log_warn("test hold: %s at %s, waiting for '%s'", point, what,
	         hold_file);
	while (access(hold_file, F_OK) != 0)
		nanosleep(&tick, NULL);
	log_warn("test hold: %s at %s released", point, what);
}
