/* SPDX-License-Identifier: Apache-2.0 */
/* err.c - filling struct err. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/err.h"

static void vfill(struct err *err, enum err_code code, int errnum,
                  const char *fmt, va_list ap) PRINTF(4, 0);

static void vfill(struct err *err, enum err_code code, int errnum,
                  const char *fmt, va_list ap)
{
	int n;

	err->code = code;
	err->oci = OCI_NONE;
	err->sys_errno = errnum;
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s",
		         strerror(errnum));
}

int err_set(struct err *err, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfill(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int err_set_errno(struct err *err, int errnum, const char *fmt, ...)
{
	enum err_code code = ERR_IO;
	va_list ap;

	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
		code = ERR_NOT_FOUND;
		break;
	case ENOMEM:
		code = ERR_NOMEM;
		break;
	case EEXIST:
	case ENOTEMPTY:
		code = ERR_EXISTS;
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		code = ERR_DENIED;
		break;
	case EFBIG:
	case ENAMETOOLONG:
		code = ERR_TOO_LARGE;
		break;
	case EINVAL:
		code = ERR_INVALID;
		break;
	case EAGAIN:
	case EBUSY:
		code = ERR_BUSY;
		break;
	}
	va_start(ap, fmt);
	vfill(err, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

void err_prefix(struct err *err, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	int n;

	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n + 2 < sizeof(err->msg)) {
		size_t room = sizeof(err->msg) - (size_t)n - 3;
		size_t olen = strnlen(old, sizeof(old) - 1);

		if (olen > room)
			olen = room;
		memcpy(err->msg + n, ": ", 2);
		memcpy(err->msg + n + 2, old, olen);
		err->msg[(size_t)n + 2 + olen] = '\0';
	}
}

const char *err_code_name(enum err_code code)
{
	static const char *const names[] = {
		[ERR_OK] = "ok",
		[ERR_INVALID] = "invalid",
		[ERR_NOT_FOUND] = "not_found",
		[ERR_EXISTS] = "exists",
		[ERR_DENIED] = "denied",
		[ERR_TOO_LARGE] = "too_large",
		[ERR_BUSY] = "busy",
		[ERR_IO] = "io",
		[ERR_NOMEM] = "nomem",
		[ERR_INTERNAL] = "internal",
		[ERR_RANGE] = "range",
		[ERR_UNSUPPORTED] = "unsupported",
	};

	if ((unsigned)code >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[code];
}

int err_oci(struct err *err, enum oci_code oci)
{
	err->oci = oci;
	return -1;
}

const char *oci_code_name(enum oci_code oci)
{
	static const char *const names[] = {
		[OCI_NONE] = NULL,
		[OCI_BLOB_UNKNOWN] = "BLOB_UNKNOWN",
		[OCI_BLOB_UPLOAD_INVALID] = "BLOB_UPLOAD_INVALID",
		[OCI_BLOB_UPLOAD_UNKNOWN] = "BLOB_UPLOAD_UNKNOWN",
		[OCI_DIGEST_INVALID] = "DIGEST_INVALID",
		[OCI_MANIFEST_BLOB_UNKNOWN] = "MANIFEST_BLOB_UNKNOWN",
		[OCI_MANIFEST_INVALID] = "MANIFEST_INVALID",
		[OCI_MANIFEST_UNKNOWN] = "MANIFEST_UNKNOWN",
		[OCI_NAME_INVALID] = "NAME_INVALID",
		[OCI_NAME_UNKNOWN] = "NAME_UNKNOWN",
		[OCI_SIZE_INVALID] = "SIZE_INVALID",
		[OCI_UNAUTHORIZED] = "UNAUTHORIZED",
		[OCI_DENIED] = "DENIED",
		[OCI_UNSUPPORTED] = "UNSUPPORTED",
		[OCI_TOOMANYREQUESTS] = "TOOMANYREQUESTS",
	};

	if ((unsigned)oci >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[oci];
}

int err_errno(const struct err *err)
{
	switch (err->code) {
	case ERR_OK:
		return 0;
	case ERR_NOT_FOUND:
		return ENOENT;
	case ERR_INVALID:
	case ERR_RANGE:
		return EINVAL;
	case ERR_DENIED: /* EACCES: a policy; EPERM: the layout's rules */
		return err->sys_errno ? err->sys_errno : EPERM;
	case ERR_NOMEM:
		return ENOMEM;
	case ERR_TOO_LARGE: /* EFBIG: past what can match a blob's name */
		return err->sys_errno ? err->sys_errno : ENAMETOOLONG;
	case ERR_BUSY:
		return EBUSY;
	case ERR_EXISTS:
		return EBUSY; /* a manifest still needs it */
	case ERR_UNSUPPORTED:
		return EOPNOTSUPP;
	case ERR_IO:
	case ERR_INTERNAL:
		break;
	}
	return err->sys_errno ? err->sys_errno : EIO;
}

int err_exit_code(const struct err *err)
{
	return err->code == ERR_OK ? 0 : 1;
}
