/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - unit tests for daemon/log.h: JSON lines are valid JSON
 * (jansson parses them, strictly) whatever the message and field values
 * hold: quotes, backslashes, newlines, control bytes, DEL, valid UTF-8 as
 * it is, invalid UTF-8 (stray, overlong, surrogate, cut short) as U+FFFD;
 * an oversized message or field is cut at a whole character, the line
 * still complete; text lines show control and invalid bytes as \xNN and
 * stay one line; the audit file gets one JSON object per record; reopen
 * after a rename (logrotate) puts later lines in a new file and loses
 * none; log.format is accepted by the configuration loader.
 *
 * The log is process-wide state: each test opens its files in its own
 * directory and closes them (log_close) in its teardown.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/unit/testlib.h"

#include "daemon/config.h"
#include "daemon/log.h"

struct fixture {
	char dir[64];         /* the test's directory */
	char log[PATH_MAX];   /* <dir>/dray.log */
	char audit[PATH_MAX]; /* <dir>/audit.log */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_mkdtemp(f->dir, sizeof(f->dir), "log") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->log, sizeof(f->log), "%s/dray.log", f->dir);
	snprintf(f->audit, sizeof(f->audit), "%s/audit.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;

	log_close();
	log_set_format(LOG_FORMAT_AUTO);
	assert_int_equal(log_open(NULL, LOG_INFO, &err), 0);
	test_rm_tree(f->dir);
	free(f);
	return 0;
}

/* The whole of file @path (NUL-terminated; caller frees). */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return buf;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* Parse the only line of @path strictly; the caller decrefs. */
static json_t *only_line(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	json_error_t jerr;
	json_t *obj;

	assert_int_equal(count_lines(text), 1);
	assert_true(len > 0 && text[len - 1] == '\n');
	obj = json_loadb(text, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		fail_msg("not JSON (%s): %s", jerr.text, text);
	assert_true(json_is_object(obj));
	free(text);
	return obj;
}

static const char *str_of(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s)
		fail_msg("no string \"%s\"", key);
	return s;
}

static void open_json(const struct fixture *f, enum log_level level)
{
	struct err err = ERR_INIT;

	log_set_format(LOG_FORMAT_JSON);
	assert_int_equal(log_open(f->log, level, &err), 0);
}

/* Everything a message should not carry raw, and what JSON makes of it. */
static const char nasty[] = "q\"b\\n\nr\rt\tc\x01\x1f"
			    "d\x7f"
			    "e\xc3\xa9"        /* é */
			    "\xe2\x82\xac"     /* € */
			    "\xf0\x9f\x98\x80" /* U+1F600 */
			    "x\xff"            /* never UTF-8 */
			    "o\xc0\xaf"        /* overlong '/' */
			    "s\xed\xa0\x80"    /* a surrogate */
			    "c\xe2\x82";       /* cut short */
static const char nasty_decoded[] = "q\"b\\n\nr\rt\tc\x01\x1f"
				    "d\x7f"
				    "e\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				    "x\xef\xbf\xbd"
				    "o\xef\xbf\xbd\xef\xbf\xbd"
				    "s\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				    "c\xef\xbf\xbd\xef\xbf\xbd";

static void test_json_escapes_message_and_fields(void **state)
{
	struct fixture *f = *state;
	json_t *obj;

	open_json(f, LOG_INFO);
	const struct log_field fields[] = {
		LOG_STR("repository", nasty),
		LOG_NUM("statusCode", 201),
		LOG_NUM("negative", -5),
		LOG_STR("absent", NULL),
	};
	log_fields(LOG_INFO, "test", fields, 4, "m=%s", nasty);
	log_close();

	obj = only_line(f->log);
	assert_string_equal(str_of(obj, "level"), "info");
	assert_string_equal(str_of(obj, "module"), "test");
	assert_string_equal(str_of(obj, "repository"), nasty_decoded);
	assert_true(strncmp(str_of(obj, "message"), "m=", 2) == 0);
	assert_string_equal(str_of(obj, "message") + 2, nasty_decoded);
	assert_int_equal(json_integer_value(json_object_get(obj, "statusCode")),
	                 201);
	assert_int_equal(json_integer_value(json_object_get(obj, "negative")),
	                 -5);
	assert_null(json_object_get(obj, "absent"));
	/* RFC 3339, UTC, milliseconds: 2026-01-02T03:04:05.678Z */
	assert_int_equal(strlen(str_of(obj, "time")), 24);
	assert_int_equal(str_of(obj, "time")[10], 'T');
	assert_int_equal(str_of(obj, "time")[19], '.');
	assert_int_equal(str_of(obj, "time")[23], 'Z');
	json_decref(obj);
}

/* Oversized: cut at a whole character or escape, the line still JSON. */
static void test_json_long_values_are_cut_whole(void **state)
{
	struct fixture *f = *state;
	size_t big = 20000, len;
	char *quotes = malloc(big + 1), *euro = malloc(3 * big + 1), *text;
	json_t *obj;

	assert_non_null(quotes);
	assert_non_null(euro);
	memset(quotes, '"', big);
	quotes[big] = '\0';
	for (size_t i = 0; i < big; i++)
		memcpy(euro + 3 * i, "\xe2\x82\xac", 3);
	euro[3 * big] = '\0';

	open_json(f, LOG_INFO);
	const struct log_field fields[] = {
		LOG_STR("path", euro),
		LOG_NUM("statusCode", 404),
	};
	log_fields(LOG_INFO, "test", fields, 2, "%s", quotes);
	log_close();

	text = slurp(f->log, &len);
	assert_true(len <= 8192);
	free(text);
	obj = only_line(f->log);
	/* Whole euro signs only, then the number, then some quotes. */
	assert_true(strlen(str_of(obj, "path")) % 3 == 0);
	assert_true(strlen(str_of(obj, "path")) > 1000);
	assert_int_equal(json_integer_value(json_object_get(obj, "statusCode")),
	                 404);
	for (const char *m = str_of(obj, "message"); *m; m++)
		assert_int_equal(*m, '"');
	json_decref(obj);
	free(quotes);
	free(euro);
}

static void test_text_shows_bytes_and_stays_one_line(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char *text;

	log_set_format(LOG_FORMAT_TEXT);
	assert_int_equal(log_open(f->log, LOG_DEBUG, &err), 0);
	log_write(LOG_WARN, "test", "a\nb\x01\xff\"c\xc3\xa9");
	log_debug("second");
	log_close();

	text = slurp(f->log, NULL);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(
		strstr(text, " warn test: a\\x0ab\\x01\\xff\"c\xc3\xa9\n"));
	assert_non_null(strstr(text, " debug dray: second\n"));
	free(text);
}

/* AUTO: JSON to a file; the level filters. */
static void test_auto_is_json_for_a_file(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	json_t *obj;

	log_set_format(LOG_FORMAT_AUTO);
	assert_int_equal(log_open(f->log, LOG_INFO, &err), 0);
	log_debug("filtered out");
	log_err("kept");
	log_close();
	obj = only_line(f->log);
	assert_string_equal(str_of(obj, "level"), "error");
	assert_string_equal(str_of(obj, "message"), "kept");
	json_decref(obj);
}

static void test_audit_record(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	json_t *obj;

	assert_false(log_audit_on());
	assert_int_equal(log_audit_open(f->audit, &err), 0);
	assert_true(log_audit_on());
	log_audit(&(struct audit_rec){.action = "manifest.tag",
	                              .client = "127.0.0.1:4000",
	                              .uid = -1,
	                              .repository = "a/b",
	                              .reference = "v\"1\n",
	                              .status = 201,
	                              .ok = true});
	log_close();
	assert_false(log_audit_on());

	obj = only_line(f->audit);
	assert_string_equal(str_of(obj, "action"), "manifest.tag");
	assert_string_equal(str_of(obj, "subject"), "anonymous");
	assert_string_equal(str_of(obj, "clientIP"), "127.0.0.1:4000");
	assert_string_equal(str_of(obj, "repository"), "a/b");
	assert_string_equal(str_of(obj, "reference"), "v\"1\n");
	assert_string_equal(str_of(obj, "outcome"), "success");
	assert_int_equal(json_integer_value(json_object_get(obj, "status")),
	                 201);
	assert_null(json_object_get(obj, "uid"));
	assert_null(json_object_get(obj, "digest"));
	assert_null(json_object_get(obj, "error"));
	json_decref(obj);
}

/* logrotate: rename, reopen; each line in one file, none lost. */
static void test_reopen_after_rename(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char old_log[PATH_MAX + 8], old_audit[PATH_MAX + 8];
	struct audit_rec a = {.action = "blob.delete", .uid = -1, .ok = true};
	char *text;

	snprintf(old_log, sizeof(old_log), "%s.1", f->log);
	snprintf(old_audit, sizeof(old_audit), "%s.1", f->audit);
	open_json(f, LOG_INFO);
	assert_int_equal(log_audit_open(f->audit, &err), 0);
	log_info("before 1");
	log_info("before 2");
	log_audit(&a);
	assert_int_equal(rename(f->log, old_log), 0);
	assert_int_equal(rename(f->audit, old_audit), 0);
	log_info("between"); /* still the old file */
	log_reopen();
	log_info("after");
	log_audit(&a);
	log_close();

	text = slurp(old_log, NULL);
	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "\"message\":\"between\""));
	free(text);
	text = slurp(f->log, NULL);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "\"message\":\"log files reopened\""));
	assert_non_null(strstr(text, "\"message\":\"after\""));
	free(text);
	text = slurp(old_audit, NULL);
	assert_int_equal(count_lines(text), 1);
	free(text);
	text = slurp(f->audit, NULL);
	assert_int_equal(count_lines(text), 1);
	free(text);
}

static void test_config_accepts_log_format(void **state)
{
	struct fixture *f = *state;
	static const char *const texts[] = {"json", "text", "auto"};
	static const enum log_format want[] = {LOG_FORMAT_JSON, LOG_FORMAT_TEXT,
	                                       LOG_FORMAT_AUTO};
	char path[PATH_MAX + 16], yaml[3 * PATH_MAX + 256];
	struct err err = ERR_INIT;
	struct cfg *cfg;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/config.yaml", f->dir);
	for (size_t i = 0; i < 4; i++) {
		snprintf(yaml, sizeof(yaml),
		         "storage:\n  rootDirectory: %s/data\nlog:\n"
		         "  output: %s\n  audit: %s\n  format: %s\n",
		         f->dir, f->log, f->audit, i < 3 ? texts[i] : "xml");
		fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(yaml, fp);
		fclose(fp);
		err = ERR_INIT;
		cfg = cfg_load(path, &err);
		if (i == 3) {
			assert_null(cfg);
			assert_non_null(strstr(err.msg, "log.format"));
			continue;
		}
		if (!cfg)
			fail_msg("%s: %s", texts[i], err.msg);
		assert_int_equal(cfg->log.format, want[i]);
		assert_string_equal(cfg->log.audit, f->audit);
		cfg_free(cfg);
	}
	cfg = cfg_load(NULL, &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->log.format, LOG_FORMAT_AUTO);
	cfg_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_json_escapes_message_and_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_json_long_values_are_cut_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_text_shows_bytes_and_stays_one_line, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_auto_is_json_for_a_file,
	                                        setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_record, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_config_accepts_log_format,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
