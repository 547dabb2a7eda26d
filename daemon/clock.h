/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - the process's clocks, in milliseconds: monotonic, wall, and the
 * two "age" clocks that every decision by age reads (GC delay, retention,
 * upload idle time).
 *
 * The age clocks are the real ones, except in tests: when the environment
 * variable DRAY_TEST_CLOCK_FILE names a file, its content (an integer
 * number of seconds) is added to them, so a test moves time forward by
 * rewriting the file instead of sleeping. The file is re-read when it
 * changes (inode, size, mtime or ctime); a missing or malformed file
 * counts as 0. All functions are thread-safe and cannot fail.
 */
#ifndef DRAY_CLOCK_H
#define DRAY_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: for timeouts and durations. */
uint64_t clock_mono_ms(void);

/* CLOCK_REALTIME: for what is shown or stored as a date. */
uint64_t clock_wall_ms(void);

/* The wall clock plus the test offset: compare with file times. */
uint64_t clock_age_wall_ms(void);

/* The monotonic clock plus the test offset: measure idle time. */
uint64_t clock_age_mono_ms(void);

/* The test offset file in use (DRAY_TEST_CLOCK_FILE), or NULL. */
const char *clock_test_file(void);

#endif
