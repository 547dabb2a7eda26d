/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_errmap.c - one struct err, one answer per boundary: the HTTP status
 * (http_status_for), the OCI code a route gives an unqualified error
 * (http_err_complete), the mount's errno (err_errno) and the CLI's exit
 * status (err_exit_code).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_int.h"

static struct err make(enum err_code code, enum oci_code oci)
{
	struct err e = ERR_INIT;

	err_set(&e, code, "x");
	e.oci = oci;
	return e;
}

static unsigned status(enum err_code code, enum oci_code oci)
{
	struct err e = make(code, oci);

	return http_status_for(&e);
}

static void test_each_err_code_has_its_status(void **state)
{
	(void)state;
	assert_int_equal(status(ERR_INVALID, OCI_NONE), 400);
	assert_int_equal(status(ERR_NOT_FOUND, OCI_NONE), 404);
	assert_int_equal(status(ERR_EXISTS, OCI_DENIED), 405);
	assert_int_equal(status(ERR_UNSUPPORTED, OCI_UNSUPPORTED), 405);
	assert_int_equal(status(ERR_DENIED, OCI_DENIED), 403);
	assert_int_equal(status(ERR_DENIED, OCI_UNAUTHORIZED), 401);
	assert_int_equal(status(ERR_TOO_LARGE, OCI_SIZE_INVALID), 413);
	assert_int_equal(status(ERR_RANGE, OCI_BLOB_UPLOAD_INVALID), 416);
	assert_int_equal(status(ERR_BUSY, OCI_TOOMANYREQUESTS), 429);
	assert_int_equal(status(ERR_IO, OCI_NONE), 500);
	assert_int_equal(status(ERR_INTERNAL, OCI_NONE), 500);
	assert_int_equal(status(ERR_NOMEM, OCI_NONE), 503);
}

static void test_oci_code_picks_400_or_404(void **state)
{
	(void)state;
	/* What names nothing is 404, whatever made it fail. */
	assert_int_equal(status(ERR_INVALID, OCI_BLOB_UNKNOWN), 404);
	assert_int_equal(status(ERR_INVALID, OCI_MANIFEST_UNKNOWN), 404);
	assert_int_equal(status(ERR_INVALID, OCI_NAME_UNKNOWN), 404);
	assert_int_equal(status(ERR_INVALID, OCI_BLOB_UPLOAD_UNKNOWN), 404);
	/* A manifest naming blobs the repository lacks is invalid: 400. */
	assert_int_equal(status(ERR_NOT_FOUND, OCI_MANIFEST_BLOB_UNKNOWN), 400);
	/* An unknown digest algorithm the client sent: 400. */
	assert_int_equal(status(ERR_NOT_FOUND, OCI_DIGEST_INVALID), 400);
	assert_int_equal(status(ERR_INVALID, OCI_NAME_INVALID), 400);
	assert_int_equal(status(ERR_INVALID, OCI_UNSUPPORTED), 400);
}

static void test_server_faults_stay_5xx_whatever_the_oci_code(void **state)
{
	(void)state;
	assert_int_equal(status(ERR_IO, OCI_DIGEST_INVALID), 500);
	assert_int_equal(status(ERR_NOMEM, OCI_BLOB_UNKNOWN), 503);
}

static void test_route_gives_an_unqualified_error_its_code(void **state)
{
	struct http_req req = {0};
	struct err e;
	bool others;

	(void)state;
	req.kind = RT_BLOB;
	req.h = route_handler(RT_BLOB, MHD_HTTP_METHOD_GET, &others);
	assert_non_null(req.h);
	e = make(ERR_NOT_FOUND, OCI_NONE);
	http_err_complete(&req, &e);
	assert_int_equal(e.oci, OCI_BLOB_UNKNOWN);
	e = make(ERR_TOO_LARGE, OCI_NONE);
	http_err_complete(&req, &e);
	assert_int_equal(e.oci, OCI_SIZE_INVALID);
	/* A code set where the meaning was known is kept. */
	e = make(ERR_NOT_FOUND, OCI_NAME_UNKNOWN);
	http_err_complete(&req, &e);
	assert_int_equal(e.oci, OCI_NAME_UNKNOWN);
	/* No route: an unknown path. */
	req.h = NULL;
	e = make(ERR_NOT_FOUND, OCI_NONE);
	http_err_complete(&req, &e);
	assert_int_equal(e.oci, OCI_NAME_UNKNOWN);
	assert_int_equal(http_status_for(&e), 404);
}

static void test_allow_lists_the_routes_methods(void **state)
{
	char buf[64];

	(void)state;
	route_allow(RT_BLOB, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD, DELETE");
	route_allow(RT_BLOB, MHD_HTTP_METHOD_DELETE, buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD");
	route_allow(RT_UPLOADS, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "POST");
	route_allow(RT_MANIFEST, NULL, buf, 12); /* cut at a whole name */
	assert_string_equal(buf, "GET, HEAD");
}

static void test_every_oci_code_has_the_specs_spelling(void **state)
{
	static const char *const spec[] = {
		"BLOB_UNKNOWN",          "BLOB_UPLOAD_INVALID",
		"BLOB_UPLOAD_UNKNOWN",   "DIGEST_INVALID",
		"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID",
		"MANIFEST_UNKNOWN",      "NAME_INVALID",
		"NAME_UNKNOWN",          "SIZE_INVALID",
		"UNAUTHORIZED",          "DENIED",
		"UNSUPPORTED",           "TOOMANYREQUESTS",
	};

	(void)state;
	assert_null(oci_code_name(OCI_NONE));
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		assert_string_equal(oci_code_name((enum oci_code)(i + 1)),
		                    spec[i]);
	assert_null(oci_code_name((enum oci_code)99));
}

static void test_err_set_forgets_an_earlier_oci_code(void **state)
{
	struct err e = make(ERR_INVALID, OCI_DIGEST_INVALID);

	(void)state;
	err_set(&e, ERR_IO, "again");
	assert_int_equal(e.oci, OCI_NONE);
	assert_int_equal(err_oci(&e, OCI_DENIED), -1);
	assert_int_equal(e.oci, OCI_DENIED);
}

static void test_mount_errno_and_exit_code_come_from_the_err(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(err_errno(&e), 0);
	assert_int_equal(err_exit_code(&e), 0);
	e = make(ERR_NOT_FOUND, OCI_NONE);
	assert_int_equal(err_errno(&e), ENOENT);
	assert_int_equal(err_exit_code(&e), 1);
	e = make(ERR_RANGE, OCI_NONE);
	assert_int_equal(err_errno(&e), EINVAL);
	e = make(ERR_UNSUPPORTED, OCI_NONE);
	assert_int_equal(err_errno(&e), EOPNOTSUPP);
	e = make(ERR_EXISTS, OCI_NONE);
	assert_int_equal(err_errno(&e), EBUSY);
	e = make(ERR_DENIED, OCI_NONE);
	assert_int_equal(err_errno(&e), EPERM);
	e.sys_errno = EACCES; /* a policy said no */
	assert_int_equal(err_errno(&e), EACCES);
	e = make(ERR_TOO_LARGE, OCI_NONE);
	assert_int_equal(err_errno(&e), ENAMETOOLONG);
	e.sys_errno = EFBIG; /* a write past what can match a blob's name */
	assert_int_equal(err_errno(&e), EFBIG);
	err_set_errno(&e, ENOSPC, "cannot write");
	assert_int_equal(err_errno(&e), ENOSPC);
	assert_int_equal(err_exit_code(&e), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_err_code_has_its_status),
		cmocka_unit_test(test_oci_code_picks_400_or_404),
		cmocka_unit_test(
			test_server_faults_stay_5xx_whatever_the_oci_code),
		cmocka_unit_test(
			test_route_gives_an_unqualified_error_its_code),
		cmocka_unit_test(test_allow_lists_the_routes_methods),
		cmocka_unit_test(test_every_oci_code_has_the_specs_spelling),
		cmocka_unit_test(test_err_set_forgets_an_earlier_oci_code),
		cmocka_unit_test(
			test_mount_errno_and_exit_code_come_from_the_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
