/* SPDX-License-Identifier: Apache-2.0 */
/*
 * range.h - the two byte-range headers dray reads: Range on blob GETs
 * (RFC 9110, one range) and Content-Range on chunked upload PATCHes
 * (distribution-spec: "<start>-<end>", inclusive).
 */
#ifndef DRAY_RANGE_H
#define DRAY_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"

enum range_result {
	RANGE_NONE,          /* no usable range: serve the whole blob */
	RANGE_OK,            /* serve [*start, *end] */
	RANGE_UNSATISFIABLE, /* answer 416 */
};

/*
 * Interpret a Range header @hdr (may be NULL) against a blob of @size
 * bytes. Syntactically invalid or multi-range headers are RANGE_NONE, as
 * RFC 9110 lets a server ignore them.
 */
enum range_result range_parse(const char *hdr, uint64_t size, uint64_t *start,
                              uint64_t *end);

/*
 * Parse a Content-Range "<start>-<end>" (RFC 9110's leading "bytes " and a trailing
 * "/<total>" or "/ *" (any total) are accepted) into inclusive bounds. ERR_INVALID.
 */
MUST_CHECK int content_range_parse(const char *hdr, uint64_t *start,
                                   uint64_t *end, struct err *err);

#endif
