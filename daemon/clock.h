/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - the process's clocks, in milliseconds: monotonic, wall, and the
 * "age" clocks that every decision by age reads (GC delay, retention,
 * upload idle time).
 *
 * The age clocks are the real ones, except in tests: when the environment
 * variable DRAY_TEST_CLOCK_FILE names a file, the age clocks run ahead of
 * real time by the offsets it lists, so a test moves time forward by
 * rewriting the file instead of sleeping. Each line is "<since> <offset>":
 * from wall-clock time <since> (ms since the epoch, exclusive) on, the age
 * clocks are <offset> seconds ahead; lines come in ascending <since>; a
 * line "<offset>" alone applies since the epoch. Because the offset in
 * force at each moment is known, a time the kernel stamped (a file's
 * ctime) maps onto the age clock too: clock_age_wall_of(). The file is
 * re-read when it changes (inode, size, mtime or ctime); a missing or
 * malformed file means no offset. Thread-safe; nothing here can fail.
 */
#ifndef DRAY_CLOCK_H
#define DRAY_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: for timeouts and durations. */
uint64_t clock_mono_ms(void);

/* CLOCK_REALTIME: for what is shown or stored as a date. */
uint64_t clock_wall_ms(void);

/* The wall clock plus the test offset: "now" for decisions by age. */
uint64_t clock_age_wall_ms(void);

/*
 * Wall-clock time @wall_ms (a file's ctime, say) on the age clock, i.e.
 * plus the test offset that was in force then. Compare the result with
 * clock_age_wall_ms().
 */
uint64_t clock_age_wall_of(uint64_t wall_ms);

/* The monotonic clock plus the test offset: measure idle time. */
uint64_t clock_age_mono_ms(void);

/* The test offset file in use (DRAY_TEST_CLOCK_FILE), or NULL. */
const char *clock_test_file(void);

/*
 * A struct timespec (a file's mtime or ctime, say) in milliseconds or in
 * nanoseconds: the one conversion of each.
 */
struct timespec;
uint64_t clock_ts_ms(const struct timespec *ts);
uint64_t clock_ts_ns(const struct timespec *ts);

/* CLOCK_MONOTONIC in nanoseconds: for short waits (lock latency). */
uint64_t clock_mono_ns(void);

#endif
