/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_range.c - unit tests for http/range.c: the Range header of blob
 * GETs (RFC 9110 section 14) and the Content-Range of chunked uploads.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/range.h"

/* Sentinel the parsers must leave alone when they return no range. */
#define UNTOUCHED 0xdeadbeefULL

static void assert_range(const char *hdr, uint64_t size, uint64_t start,
                         uint64_t end)
{
	uint64_t s = UNTOUCHED, e = UNTOUCHED;
	enum range_result r = range_parse(hdr, size, &s, &e);

	if (r != RANGE_OK)
		fail_msg("'%s' of %llu bytes: result %d, want RANGE_OK",
		         hdr ? hdr : "(null)", (unsigned long long)size, r);
	if (s != start || e != end)
		fail_msg("'%s' of %llu bytes: [%llu, %llu], want [%llu, %llu]",
		         hdr, (unsigned long long)size, (unsigned long long)s,
		         (unsigned long long)e, (unsigned long long)start,
		         (unsigned long long)end);
}

static void assert_result(const char *hdr, uint64_t size,
                          enum range_result want)
{
	uint64_t s = UNTOUCHED, e = UNTOUCHED;
	enum range_result r = range_parse(hdr, size, &s, &e);

	if (r != want)
		fail_msg("'%s' of %llu bytes: result %d, want %d",
		         hdr ? hdr : "(null)", (unsigned long long)size, r,
		         want);
	assert_int_equal(s, UNTOUCHED);
	assert_int_equal(e, UNTOUCHED);
}

static void test_no_header_serves_whole_blob(void **state)
{
	(void)state;
	assert_result(NULL, 100, RANGE_NONE);
	assert_result("", 100, RANGE_NONE);
}

static void test_first_byte_range(void **state)
{
	(void)state;
	assert_range("bytes=0-0", 100, 0, 0);
	assert_range("bytes=0-99", 100, 0, 99);
	assert_range("bytes=10-19", 100, 10, 19);
	assert_range("bytes=99-99", 100, 99, 99);
	assert_range("bytes=0-0", 1, 0, 0);
}

static void test_end_past_size_is_clamped(void **state)
{
	(void)state;
	assert_range("bytes=0-1000", 100, 0, 99);
	assert_range("bytes=50-100", 100, 50, 99);
}

static void test_open_ended_range_runs_to_last_byte(void **state)
{
	(void)state;
	assert_range("bytes=0-", 100, 0, 99);
	assert_range("bytes=42-", 100, 42, 99);
	assert_range("bytes=99-", 100, 99, 99);
}

static void test_suffix_range_is_last_bytes(void **state)
{
	(void)state;
	assert_range("bytes=-1", 100, 99, 99);
	assert_range("bytes=-10", 100, 90, 99);
	assert_range("bytes=-100", 100, 0, 99);
}

static void test_suffix_larger_than_size_is_whole_blob(void **state)
{
	(void)state;
	assert_range("bytes=-101", 100, 0, 99);
	assert_range("bytes=-9223372036854775807", 100, 0, 99);
}

static void test_zero_suffix_is_unsatisfiable(void **state)
{
	(void)state;
	assert_result("bytes=-0", 100, RANGE_UNSATISFIABLE);
}

static void test_start_at_or_beyond_size_is_unsatisfiable(void **state)
{
	(void)state;
	assert_result("bytes=100-", 100, RANGE_UNSATISFIABLE);
	assert_result("bytes=100-200", 100, RANGE_UNSATISFIABLE);
	assert_result("bytes=1000-1001", 100, RANGE_UNSATISFIABLE);
}

static void test_empty_blob_has_no_satisfiable_range(void **state)
{
	(void)state;
	assert_result("bytes=0-0", 0, RANGE_UNSATISFIABLE);
	assert_result("bytes=0-", 0, RANGE_UNSATISFIABLE);
	/* Never RANGE_OK: there is no last byte to end at. */
	assert_result("bytes=-5", 0, RANGE_UNSATISFIABLE);
	assert_result(NULL, 0, RANGE_NONE);
}

static void test_multiple_ranges_are_ignored(void **state)
{
	(void)state;
	assert_result("bytes=0-1,5-6", 100, RANGE_NONE);
	assert_result("bytes=0-1, 5-6", 100, RANGE_NONE);
	assert_result("bytes=-1,0-0", 100, RANGE_NONE);
	assert_result("bytes=500-600,0-1", 100, RANGE_NONE);
}

static void test_garbage_is_ignored(void **state)
{
	static const char *const bad[] = {
		"bytes",       "bytes=",     "bytes=-",    "bytes=--1",
		"bytes=a-b",   "bytes=1-a",  "bytes=1",    "bytes=1-2x",
		"bytes=1x-2",  "bytes=+1-2", "bytes=1-+2", "bytes=0x10-20",
		"bytes=1.5-2", "items=0-1",  "bytes 0-1",  "bytes:0-1",
		"0-1",         "=0-1",       "bytes=-1-2", "bytes=- 1",
		"bytes=1 -2",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_result(bad[i], 100, RANGE_NONE);
}

static void test_whitespace_around_the_range_is_allowed(void **state)
{
	(void)state;
	assert_range(" bytes=1-2", 100, 1, 2);
	assert_range("bytes= 1-2", 100, 1, 2);
	assert_range("bytes=1-2 ", 100, 1, 2);
	assert_range("bytes=5- ", 100, 5, 99);
	assert_range("bytes=-5\t", 100, 95, 99);
}

static void test_end_before_start_is_ignored(void **state)
{
	(void)state;
	assert_result("bytes=5-4", 100, RANGE_NONE);
	assert_result("bytes=99-0", 100, RANGE_NONE);
	/* Even when the start is beyond the size. */
	assert_result("bytes=500-400", 100, RANGE_NONE);
}

static void test_huge_numbers_are_ignored(void **state)
{
	(void)state;
	assert_result("bytes=99999999999999999999-", 100, RANGE_NONE);
	assert_result("bytes=0-99999999999999999999", 100, RANGE_NONE);
	assert_result("bytes=-99999999999999999999", 100, RANGE_NONE);
	assert_result("bytes=18446744073709551615-", 100, RANGE_NONE);
	assert_result("bytes=18446744073709551616-", 100, RANGE_NONE);
	assert_result("bytes=0-184467440737095516160", 100, RANGE_NONE);
	/* Past INT64_MAX: offsets must fit off_t. */
	assert_result("bytes=0-9223372036854775808", 100, RANGE_NONE);
	assert_result("bytes=-9223372036854775808", 100, RANGE_NONE);
}

static void test_largest_offset_is_accepted(void **state)
{
	(void)state;
	assert_range("bytes=0-9223372036854775807", 100, 0, 99);
	assert_result("bytes=9223372036854775807-", 100, RANGE_UNSATISFIABLE);
	/* Leading zeros are digits like any other. */
	assert_range("bytes=000000000000000000000000000001-2", 100, 1, 2);
}

/* ---- Content-Range ---- */

static void assert_content_range(const char *hdr, uint64_t start, uint64_t end)
{
	uint64_t s = UNTOUCHED, e = UNTOUCHED;
	struct err err = ERR_INIT;

	if (content_range_parse(hdr, &s, &e, &err) != 0)
		fail_msg("'%s' rejected: %s", hdr, err.msg);
	assert_int_equal(err.code, ERR_OK);
	if (s != start || e != end)
		fail_msg("'%s': [%llu, %llu], want [%llu, %llu]", hdr,
		         (unsigned long long)s, (unsigned long long)e,
		         (unsigned long long)start, (unsigned long long)end);
}

static void assert_content_range_bad(const char *hdr)
{
	uint64_t s = UNTOUCHED, e = UNTOUCHED;
	struct err err = ERR_INIT;

	if (content_range_parse(hdr, &s, &e, &err) == 0)
		fail_msg("'%s' accepted as [%llu, %llu]", hdr,
		         (unsigned long long)s, (unsigned long long)e);
	assert_int_equal(err.code, ERR_INVALID);
	assert_int_equal(s, UNTOUCHED);
	assert_int_equal(e, UNTOUCHED);
}

static void test_content_range_plain_form(void **state)
{
	(void)state;
	assert_content_range("0-99", 0, 99);
	assert_content_range("0-0", 0, 0);
	assert_content_range("100-199", 100, 199);
	assert_content_range(" 5-6 ", 5, 6);
}

static void test_content_range_rfc_form_with_total(void **state)
{
	(void)state;
	assert_content_range("bytes 0-99/100", 0, 99);
	assert_content_range("bytes 0-99/1000", 0, 99);
	assert_content_range("0-99/100", 0, 99);
}

static void test_content_range_with_unknown_total(void **state)
{
	(void)state;
	assert_content_range("bytes 0-99/*", 0, 99);
	assert_content_range("10-19/*", 10, 19);
}

static void test_content_range_total_must_cover_end(void **state)
{
	(void)state;
	assert_content_range_bad("bytes 0-99/99");
	assert_content_range_bad("bytes 0-99/0");
	assert_content_range_bad("bytes 0-99/");
	assert_content_range_bad("bytes 0-99/x");
	assert_content_range_bad("bytes 0-99/*x");
	assert_content_range_bad("bytes 0-99/**");
}

static void test_content_range_negative_start_is_invalid(void **state)
{
	(void)state;
	assert_content_range_bad("-1-5");
	assert_content_range_bad("bytes -1-5");
	assert_content_range_bad("0--5");
}

static void test_content_range_end_before_start_is_invalid(void **state)
{
	(void)state;
	assert_content_range_bad("5-1");
	assert_content_range_bad("bytes 100-99/200");
}

static void test_content_range_overflow_is_invalid(void **state)
{
	(void)state;
	assert_content_range_bad("0-99999999999999999999");
	assert_content_range_bad("99999999999999999999-99999999999999999999");
	assert_content_range_bad("0-18446744073709551615");
	assert_content_range_bad("0-9223372036854775808");
	assert_content_range_bad("0-99/99999999999999999999");
	assert_content_range("0-9223372036854775806/9223372036854775807", 0,
	                     9223372036854775806ULL);
}

static void test_content_range_trailing_garbage_is_invalid(void **state)
{
	(void)state;
	assert_content_range_bad("0-99x");
	assert_content_range_bad("0-99 x");
	assert_content_range_bad("0-99/100 x");
	assert_content_range_bad("0-99,100-199");
	assert_content_range_bad("0-99\n");
}

static void test_content_range_empty_or_partial_is_invalid(void **state)
{
	(void)state;
	assert_content_range_bad("");
	assert_content_range_bad(" ");
	assert_content_range_bad("bytes ");
	assert_content_range_bad("0");
	assert_content_range_bad("0-");
	assert_content_range_bad("-");
	assert_content_range_bad("-5");
	assert_content_range_bad("bytes=0-5");
	assert_content_range_bad("a-b");
	assert_content_range_bad("+0-5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_header_serves_whole_blob),
		cmocka_unit_test(test_first_byte_range),
		cmocka_unit_test(test_end_past_size_is_clamped),
		cmocka_unit_test(test_open_ended_range_runs_to_last_byte),
		cmocka_unit_test(test_suffix_range_is_last_bytes),
		cmocka_unit_test(test_suffix_larger_than_size_is_whole_blob),
		cmocka_unit_test(test_zero_suffix_is_unsatisfiable),
		cmocka_unit_test(test_start_at_or_beyond_size_is_unsatisfiable),
		cmocka_unit_test(test_empty_blob_has_no_satisfiable_range),
		cmocka_unit_test(test_multiple_ranges_are_ignored),
		cmocka_unit_test(test_garbage_is_ignored),
		cmocka_unit_test(test_whitespace_around_the_range_is_allowed),
		cmocka_unit_test(test_end_before_start_is_ignored),
		cmocka_unit_test(test_huge_numbers_are_ignored),
		cmocka_unit_test(test_largest_offset_is_accepted),
		cmocka_unit_test(test_content_range_plain_form),
		cmocka_unit_test(test_content_range_rfc_form_with_total),
		cmocka_unit_test(test_content_range_with_unknown_total),
		cmocka_unit_test(test_content_range_total_must_cover_end),
		cmocka_unit_test(test_content_range_negative_start_is_invalid),
		cmocka_unit_test(
			test_content_range_end_before_start_is_invalid),
		cmocka_unit_test(test_content_range_overflow_is_invalid),
		cmocka_unit_test(
			test_content_range_trailing_garbage_is_invalid),
		cmocka_unit_test(
			test_content_range_empty_or_partial_is_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
