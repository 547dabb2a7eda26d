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
	ERR_INVALID,   /* malformed input: digest, name, manifest, YAML */
	ERR_NOT_FOUND, /* unknown repository, tag, manifest or blob */
	ERR_EXISTS,    /* the operation would overwrite something */
	ERR_DENIED,    /* authentication, authorization, permissions */
	ERR_TOO_LARGE, /* input exceeded a configured limit */
	ERR_BUSY,      /* retryable: lock held, shutting down */
	ERR_IO,        /* filesystem or RocksDB failure */
	ERR_NOMEM,     /* an allocation failed */
	ERR_INTERNAL,  /* a broken invariant, i.e. a bug */
};

struct err {
	enum err_code code;    /* ERR_OK until something failed */
	int sys_errno;         /* errno at the failing call, or 0 */
	char msg[ERR_MSG_MAX]; /* "cannot open '/x'": lowercase, no period */
};

#define ERR_INIT ((struct err){.code = ERR_OK})

/* On every fallible public function: ignoring its result is a bug. */
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Fill *err and return -1, so callers can write `return err_set(...)`. */
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

#endif
