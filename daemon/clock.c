/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.c - the clocks, and the test offset file that shifts the age
 * clocks. Its steps are cached with the identity of the file they came
 * from, so a caller in a loop (GC stats every blob) costs one stat(2).
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

/* Most steps an offset file may list; a longer one is malformed. */
#define STEPS_MAX 64
/* Longest offset file read. */
#define FILE_MAX 4096

/* The offset file's path; empty when no test clock is in use. */
static char test_path[PATH_MAX];
static pthread_once_t test_once = PTHREAD_ONCE_INIT;

/* One line of the offset file. */
struct step {
	uint64_t since_ms; /* in force after this wall-clock time */
	int64_t offset_ms; /* how far the age clocks run ahead */
};

/* The steps read last, and the file they came from. */
static struct {
	pthread_mutex_t lock;
	bool valid;                  /* protected by lock: fields below set */
	struct stat seen;            /* protected by lock: the file read */
	struct step step[STEPS_MAX]; /* protected by lock: its lines */
	size_t n;                    /* protected by lock: how many */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

uint64_t clock_ts_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

uint64_t clock_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static uint64_t ms_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return clock_ts_ms(&ts);
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

/* Parse one decimal integer at *p, moving *p past it. */
static bool parse_int(char **p, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(*p, &end, 10);
	if (end == *p || errno)
		return false;
	*p = end;
	return true;
}

/* Parse the offset file's text @buf into cache.step; false if malformed. */
static bool parse_steps(char *buf)
{
	char *p = buf;
	size_t n = 0;

	while (*p) {
		long long a, b;
		bool two;

		if (n == STEPS_MAX || !parse_int(&p, &a))
			return false;
		two = *p == ' ';
		if (two && !parse_int(&p, &b))
			return false;
		if (*p != '\n' && *p != '\0')
			return false;
		p += *p == '\n';
		if (!two) { /* "<offset>": since the epoch */
			b = a;
			a = 0;
		}
		if (a < 0 || b > INT64_MAX / 1000 || b < INT64_MIN / 1000 ||
		    (n && (uint64_t)a < cache.step[n - 1].since_ms))
			return false;
		cache.step[n].since_ms = (uint64_t)a;
		cache.step[n].offset_ms = (int64_t)b * 1000;
		n++;
	}
	cache.n = n;
	return true;
}

/* Bring the cache up to date with the file; call with cache.lock held. */
static void refresh(const char *path)
{
	char buf[FILE_MAX];
	struct stat sb;
	ssize_t len;
	int fd;

	if (stat(path, &sb) < 0) {
		cache.valid = false;
		return;
	}
	if (cache.valid && same_file(&sb, &cache.seen))
		return;
	/* The identity cached is the one of the file actually read. */
	cache.valid = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = fstat(fd, &sb) == 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	close(fd);
	if (len < 0 || len == (ssize_t)sizeof(buf) - 1)
		return;
	buf[len] = '\0';
	/* Half written, perhaps: read it again next time. */
	if (!parse_steps(buf))
		return;
	cache.valid = true;
	cache.seen = sb;
}

/* The test offset in force at wall-clock time @t: 0 without a file. */
static int64_t offset_at(uint64_t t)
{
	const char *path = clock_test_file();
	int64_t ms = 0;

	if (!path)
		return 0;
	pthread_mutex_lock(&cache.lock);
	refresh(path);
	for (size_t i = 0; cache.valid && i < cache.n; i++) {
		if (cache.step[i].since_ms >= t && cache.step[i].since_ms)
			break;
		ms = cache.step[i].offset_ms;
	}
	pthread_mutex_unlock(&cache.lock);
	return ms;
}

static uint64_t shift(uint64_t t, int64_t off)
{
	if (off < 0 && (uint64_t)-off > t)
		return 0;
	return t + (uint64_t)off;
}

uint64_t clock_age_wall_ms(void)
{
	uint64_t now = clock_wall_ms();

	return shift(now, offset_at(now));
}

uint64_t clock_age_wall_of(uint64_t wall_ms)
{
	return shift(wall_ms, offset_at(wall_ms));
}

uint64_t clock_age_mono_ms(void)
{
	return shift(clock_mono_ms(), offset_at(clock_wall_ms()));
}

uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return clock_ts_ns(&ts);
}
