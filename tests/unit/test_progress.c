/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_progress.c - unit tests for daemon/progress.h: sizes in binary
 * units, durations, rates and the progress line; on a terminal a line
 * rewritten in place (\r ... ESC[K \r) at most every PROGRESS_TTY_MS of
 * its clock (a fake one here) and erased at the end; elsewhere plain lines
 * at each tenth of the work, or every PROGRESS_PLAIN_STEP items when the
 * total is unknown, never a \r; nothing when off. The mode follows
 * isatty(): a pseudo-terminal is a terminal, a pipe is not.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt() */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/progress.h"

static uint64_t fake_ms;

static uint64_t fake_clock(void)
{
	return fake_ms;
}

static void test_bytes(void **state)
{
	static const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1048575, "1.0 MiB"}, /* not "1024.0 KiB" */
		{10u << 20, "10.0 MiB"},
		{5ull << 30, "5.0 GiB"},
		{3ull << 40, "3.0 TiB"},
		{UINT64_MAX, "16.0 EiB"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = progress_fmt_bytes(cases[i].n, buf, sizeof(buf));

		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
	}
	/* Truncated to the buffer, still terminated. */
	assert_int_equal(progress_fmt_bytes(5ull << 30, buf, 4), 3);
	assert_string_equal(buf, "5.0");
}

static void test_time(void **state)
{
	char buf[32];

	(void)state;
	progress_fmt_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.0 s");
	progress_fmt_time(420, buf, sizeof(buf));
	assert_string_equal(buf, "0.4 s");
	progress_fmt_time(9999, buf, sizeof(buf));
	assert_string_equal(buf, "9.9 s");
	progress_fmt_time(12345, buf, sizeof(buf));
	assert_string_equal(buf, "12 s");
	progress_fmt_time(185000, buf, sizeof(buf));
	assert_string_equal(buf, "3m05s");
	progress_fmt_time(7800000, buf, sizeof(buf));
	assert_string_equal(buf, "2h10m");
}

static void test_line(void **state)
{
	struct progress_state s = {"blobs", 120, 4000, 0, 0};
	char buf[128];

	(void)state;
	/* No rate before any time has passed. */
	progress_fmt_line("scrub", &s, 0, buf, sizeof(buf));
	assert_string_equal(buf, "scrub: 120/4000 blobs (3%)");
	/* Without bytes, the rate is of items. */
	progress_fmt_line("scrub", &s, 2000, buf, sizeof(buf));
	assert_string_equal(buf, "scrub: 120/4000 blobs (3%), 60.0 blobs/s");
	/* With bytes, of bytes. */
	s.bytes = 10u << 20;
	progress_fmt_line("scrub", &s, 2000, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "scrub: 120/4000 blobs (3%), 10.0 MiB, 5.0 MiB/s");
	/* A known byte total: the per cent is of bytes. */
	s = (struct progress_state){"descriptors", 1, 4, 3u << 20, 4u << 20};
	progress_fmt_line("import", &s, 1000, buf, sizeof(buf));
	assert_string_equal(buf, "import: 1/4 descriptors (75%), 3.0 MiB of "
	                         "4.0 MiB, 3.0 MiB/s");
	/* No total: a count. No unit: items. */
	s = (struct progress_state){NULL, 7, 0, 0, 0};
	progress_fmt_line("gc", &s, 0, buf, sizeof(buf));
	assert_string_equal(buf, "gc: 7 items");
	/* Done: 100%, whatever the rounding. */
	s = (struct progress_state){"repositories", 3, 3, 0, 0};
	progress_fmt_line("fsck", &s, 0, buf, sizeof(buf));
	assert_string_equal(buf, "fsck: 3/3 repositories (100%)");
	/* Truncated, terminated. */
	assert_int_equal(progress_fmt_line("fsck", &s, 0, buf, 8), 7);
	assert_string_equal(buf, "fsck: 3");
}

static void test_took(void **state)
{
	char buf[64];

	(void)state;
	progress_fmt_took(3u << 20, 1500, buf, sizeof(buf));
	assert_string_equal(buf, "3.0 MiB in 1.5 s, 2.0 MiB/s");
	progress_fmt_took(0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0 B in 0.0 s");
}

/* A pipe whose read end does not block; fds[1] takes the display. */
static void pipe_open(int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
}

/* What the display wrote so far, in @buf. */
static size_t drain(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t m;

	while (n + 1 < size && (m = read(fd, buf + n, size - n - 1)) > 0)
		n += (size_t)m;
	buf[n] = '\0';
	return n;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (s = strstr(s, what); s; s = strstr(s + 1, what))
		n++;
	return n;
}

static void test_tty(void **state)
{
	struct progress_state s = {"blobs", 0, 10, 0, 0};
	char out[4096];
	struct progress *p;
	int fds[2];

	(void)state;
	pipe_open(fds);
	p = progress_new(fds[1], PROGRESS_TTY, "scrub");
	assert_non_null(p);
	fake_ms = 1000;
	progress_set_clock(p, fake_clock);
	/* The first update draws at once. */
	progress_update(p, &s);
	drain(fds[0], out, sizeof(out));
	assert_string_equal(out, "\rscrub: 0/10 blobs (0%)\033[K\r");
	/* Within PROGRESS_TTY_MS: nothing, however many updates. */
	for (s.done = 1; s.done < 6; s.done++) {
		fake_ms += (PROGRESS_TTY_MS - 1) / 5;
		progress_update(p, &s);
	}
	assert_int_equal(drain(fds[0], out, sizeof(out)), 0);
	/* Then the newest state, with its rate. */
	fake_ms = 1000 + PROGRESS_TTY_MS;
	progress_update(p, &s);
	drain(fds[0], out, sizeof(out));
	assert_string_equal(out,
	                    "\rscrub: 6/10 blobs (60%), 60.0 blobs/s\033[K\r");
	assert_int_equal(progress_elapsed_ms(p), PROGRESS_TTY_MS);
	/* Cleared before other output, drawn again at the next update. */
	progress_clear(p);
	drain(fds[0], out, sizeof(out));
	assert_string_equal(out, "\r\033[K");
	fake_ms += 1;
	progress_update(p, &s);
	drain(fds[0], out, sizeof(out));
	assert_int_equal(count(out, "scrub: 6/10"), 1);
	/* The end erases the line. */
	progress_free(p);
	drain(fds[0], out, sizeof(out));
	assert_string_equal(out, "\r\033[K");
	close(fds[0]);
	close(fds[1]);
}

static void test_tty_width(void **state)
{
	struct progress_state s = {"blobs", 1, 2, 0, 0};
	char out[4096], title[200];
	struct progress *p;
	int fds[2];

	(void)state;
	memset(title, 'x', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	pipe_open(fds);
	p = progress_new(fds[1], PROGRESS_TTY, title);
	progress_update(p, &s);
	/* A pipe has no size: 80 columns, 79 used, so it never wraps. */
	assert_int_equal(drain(fds[0], out, sizeof(out)), 1 + 79 + 4);
	progress_free(p);
	close(fds[0]);
	close(fds[1]);
}

static void test_plain(void **state)
{
	struct progress_state s = {"repositories", 0, 100, 0, 0};
	char out[8192];
	struct progress *p;
	int fds[2];

	(void)state;
	pipe_open(fds);
	p = progress_new(fds[1], PROGRESS_PLAIN, "gc");
	progress_set_clock(p, fake_clock);
	for (s.done = 0; s.done <= 100; s.done++)
		progress_update(p, &s);
	progress_free(p);
	drain(fds[0], out, sizeof(out));
	/* The start, then each tenth: 11 lines, whole, no \r. */
	assert_int_equal(count(out, "\n"), 11);
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "gc: 0/100 repositories (0%)\n"));
	assert_non_null(strstr(out, "gc: 50/100 repositories (50%)\n"));
	assert_non_null(strstr(out, "gc: 100/100 repositories (100%)\n"));
	assert_int_equal(count(out, "(100%)"), 1);

	/* Without a total: every PROGRESS_PLAIN_STEP items. */
	p = progress_new(fds[1], PROGRESS_PLAIN, "scrub");
	s = (struct progress_state){"blobs", 0, 0, 0, 0};
	for (s.done = 0; s.done <= 2 * PROGRESS_PLAIN_STEP + 10; s.done++)
		progress_update(p, &s);
	progress_free(p);
	drain(fds[0], out, sizeof(out));
	assert_int_equal(count(out, "\n"), 3);
	assert_non_null(strstr(out, "scrub: 2000 blobs"));
	close(fds[0]);
	close(fds[1]);
}

static void test_off(void **state)
{
	struct progress_state s = {"blobs", 1, 2, 0, 0};
	char out[64];
	struct progress *p;
	int fds[2];

	(void)state;
	pipe_open(fds);
	p = progress_new(fds[1], PROGRESS_OFF, "scrub");
	progress_update(p, &s);
	progress_clear(p);
	progress_free(p);
	progress_update(NULL, &s); /* accepted */
	progress_free(NULL);
	assert_int_equal(drain(fds[0], out, sizeof(out)), 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_mode(void **state)
{
	int fds[2], pty, tty;

	(void)state;
	pipe_open(fds);
	assert_int_equal(progress_mode_of(fds[1]), PROGRESS_PLAIN);
	close(fds[0]);
	close(fds[1]);
	pty = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(pty >= 0);
	assert_int_equal(grantpt(pty), 0);
	assert_int_equal(unlockpt(pty), 0);
	tty = open(ptsname(pty), O_RDWR | O_NOCTTY);
	assert_true(tty >= 0);
	assert_int_equal(progress_mode_of(tty), PROGRESS_TTY);
	close(tty);
	close(pty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes), cmocka_unit_test(test_time),
		cmocka_unit_test(test_line),  cmocka_unit_test(test_took),
		cmocka_unit_test(test_tty),   cmocka_unit_test(test_tty_width),
		cmocka_unit_test(test_plain), cmocka_unit_test(test_off),
		cmocka_unit_test(test_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
