/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.c - the clocks, and the test offset file that shifts the age
 * clocks. The offset is cached with the identity of the file it came from,
 * so a caller in a loop (GC stats every blob) costs one stat(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/clock.h"

/* The offset file's path; empty when no test clock is in use. */
static char test_path[PATH_MAX];
static pthread_once_t test_once = PTHREAD_ONCE_INIT;

/* The last offset read, and the file it came from. */
static struct {
	pthread_mutex_t lock;
	bool valid;        /* protected by lock: the fields below are set */
	struct stat seen;  /* protected by lock: the file read last */
	int64_t offset_ms; /* protected by lock: what it said */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t ms_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

uint64_t clock_wall_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}

static void test_init(void)
{
	const char *p = getenv("DRAY_TEST_CLOCK_FILE");
	size_t n = p ? strlen(p) : 0;

	if (n && n < sizeof(test_path))
		memcpy(test_path, p, n + 1);
}

const char *clock_test_file(void)
{
	pthread_once(&test_once, test_init);
	return test_path[0] ? test_path : NULL;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Parse "[-]<seconds>[\n]" from @fd into *ms; false if it is not that. */
static bool read_offset(int fd, int64_t *ms)
{
	char buf[32], *end;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	long long s;

	if (n <= 0)
		return false;
	buf[n] = '\0';
	errno = 0;
	s = strtoll(buf, &end, 10);
	if (end == buf || errno || (*end && strcmp(end, "\n") != 0) ||
	    s > INT64_MAX / 1000 || s < INT64_MIN / 1000)
		return false;
	*ms = (int64_t)s * 1000;
	return true;
}

/* The current test offset in ms: 0 without a (readable, valid) file. */
static int64_t test_offset_ms(void)
{
	const char *path = clock_test_file();
	struct stat sb;
	int64_t ms = 0;
	int fd = -1;

	if (!path || stat(path, &sb) < 0)
		return 0;
	pthread_mutex_lock(&cache.lock);
	if (cache.valid && same_file(&sb, &cache.seen)) {
		ms = cache.offset_ms;
		goto out;
	}
	/* Changed since the last read: the identity cached is the one of
	 * the file actually read. */
	cache.valid = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !read_offset(fd, &ms)) {
		ms = 0; /* half written, perhaps: read it again next time */
		goto out;
	}
	cache.valid = true;
	cache.seen = sb;
	cache.offset_ms = ms;
out:
	pthread_mutex_unlock(&cache.lock);
	if (fd >= 0)
		close(fd);
	return ms;
}

static uint64_t shifted(uint64_t t)
{
	int64_t off = test_offset_ms();

	if (off < 0 && (uint64_t)-off > t)
		return 0;
	return t + (uint64_t)off;
}

uint64_t clock_age_wall_ms(void)
{
	return shifted(clock_wall_ms());
}

uint64_t clock_age_mono_ms(void)
{
	return shifted(clock_mono_ms());
}
