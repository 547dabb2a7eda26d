/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testhold.h - a pause point for tests, so that a test can act while a
 * long step (hashing or copying a whole blob) is under way, by waiting for
 * an event instead of guessing a time.
 *
 * Only when the environment variable DRAY_TEST_HOLD is "<point>:<file>":
 * test_hold(<point>, what) logs "test hold: <point> at <what>, waiting for
 * '<file>'" and returns once <file> exists; at once if it exists already.
 * Every other call returns at once. Thread-safe; nothing here can fail.
 */
#ifndef DRAY_TESTHOLD_H
#define DRAY_TESTHOLD_H

/* Pause at @point (a short name) while working on @what (a path). */
void test_hold(const char *point, const char *what);

/* The point DRAY_TEST_HOLD names, or NULL when there is none. */
const char *test_hold_point(void);

#endif
