/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.h - the one error pattern of dray.
 *
 * A fallible function returns -1 (or NULL) and fills the caller's struct err;
 * success leaves it untouched. The error is set once, where the context is
 * known, and logged once, at a boundary (HTTP dispatcher, FUSE op, main).
 */
#ifndef DRAY_ERR_H
#define DRAY_ERR_H

#define ERR_MSG_MAX 256

enum err_code {
	ERR_OK = 0,
	ERR_INVALID,     /* malformed input: digest, name, manifest, YAML */
	ERR_NOT_FOUND,   /* unknown repository, tag, manifest or blob */
	ERR_EXISTS,      /* the operation would overwrite something */
	ERR_DENIED,      /* authentication, authorization, permissions */
	ERR_TOO_LARGE,   /* input exceeded a configured limit */
	ERR_BUSY,        /* retryable: lock held, shutting down */
	ERR_IO,          /* filesystem or RocksDB failure */
	ERR_NOMEM,       /* an allocation failed */
	ERR_INTERNAL,    /* a broken invariant, i.e. a bug */
	ERR_RANGE,       /* a byte range or offset that does not fit the data */
	ERR_UNSUPPORTED, /* not an operation this object supports */
};

/*
 * The distribution-spec's error codes ("Error Codes", code-1..code-14),
 * for the error body an HTTP client gets. Set where the meaning is known
 * (a handler, or the store); OCI_NONE lets the HTTP boundary pick the
 * code its route gives to the err_code. The HTTP status, the mount's
 * errno and the CLI's exit code are each decided in one function from
 * these fields: http_status_for() (http/), err_errno() and
 * err_exit_code() below.
 */
enum oci_code {
	OCI_NONE = 0,
	OCI_BLOB_UNKNOWN,
	OCI_BLOB_UPLOAD_INVALID,
	OCI_BLOB_UPLOAD_UNKNOWN,
	OCI_DIGEST_INVALID,
	OCI_MANIFEST_BLOB_UNKNOWN,
	OCI_MANIFEST_INVALID,
	OCI_MANIFEST_UNKNOWN,
	OCI_NAME_INVALID,
	OCI_NAME_UNKNOWN,
	OCI_SIZE_INVALID,
	OCI_UNAUTHORIZED,
	OCI_DENIED,
	OCI_UNSUPPORTED,
	OCI_TOOMANYREQUESTS,
};

struct err {
	enum err_code code;    /* ERR_OK until something failed */
	enum oci_code oci;     /* the spec's code for it, or OCI_NONE */
	int sys_errno;         /* errno at the failing call, or 0 */
	char msg[ERR_MSG_MAX]; /* "cannot open '/x'": lowercase, no period */
};

#define ERR_INIT ((struct err){.code = ERR_OK})

/* On every fallible public function: ignoring its result is a bug. */
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Fill *err and return -1, so callers can write `return err_set(...)`.
 * The OCI code is reset to OCI_NONE.
 */
int err_set(struct err *err, enum err_code code, const char *fmt, ...)
	PRINTF(3, 4);

/*
 * Like err_set(), with the code from @errnum (ENOENT, ENOTDIR: NOT_FOUND;
 * ENOMEM: NOMEM; EEXIST, ENOTEMPTY: EXISTS; EACCES, EPERM, EROFS: DENIED;
 * EFBIG, ENAMETOOLONG: TOO_LARGE; EINVAL: INVALID; EAGAIN, EBUSY: BUSY;
 * anything else, ENOSPC included: IO), appending strerror(@errnum).
 */
int err_set_errno(struct err *err, int errnum, const char *fmt, ...)
	PRINTF(3, 4);

/* Put "<prefix>: " in front of the message already in @err. */
void err_prefix(struct err *err, const char *fmt, ...) PRINTF(2, 3);

/* A stable lowercase name for @code ("not_found"). */
const char *err_code_name(enum err_code code);

/* Give the error already in @err the spec's @oci code; returns -1. */
int err_oci(struct err *err, enum oci_code oci);

/* The spec's spelling of @oci ("BLOB_UNKNOWN"); NULL for OCI_NONE. */
const char *oci_code_name(enum oci_code oci);

/*
 * The errno a file system operation answers for @err (the mount): the
 * recorded errno where the code leaves it open (ERR_DENIED: EACCES from a
 * policy or EPERM from the layout's rules; ERR_IO), else one per code.
 */
int err_errno(const struct err *err);

/*
 * The exit status of a command line operation that failed with @err: 0
 * for ERR_OK, 1 for every failure (2 is the usage error, which is no
 * struct err).
 */
int err_exit_code(const struct err *err);

#endif
