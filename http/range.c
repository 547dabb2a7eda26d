/* SPDX-License-Identifier: Apache-2.0 */
/* range.c - Range and Content-Range parsing. */
#include <string.h>

#include "http/range.h"

/* Parse decimal digits at *p into *out; false on none or overflow. */
static bool parse_u64(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	/* Byte offsets must fit off_t. */
	if (v > (uint64_t)INT64_MAX)
		return false;
	*p = s;
	*out = v;
	return true;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

enum range_result range_parse(const char *hdr, uint64_t size, uint64_t *start,
                              uint64_t *end)
{
	const char *p;
	uint64_t a, b;

	if (!hdr)
		return RANGE_NONE;
	p = skip_ws(hdr);
	if (strncmp(p, "bytes=", 6) != 0)
		return RANGE_NONE;
	p = skip_ws(p + 6);
	if (strchr(p, ','))
		return RANGE_NONE;
	if (*p == '-') { /* suffix: the last N bytes */
		p++;
		if (!parse_u64(&p, &b) || *skip_ws(p))
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return RANGE_OK;
	}
	if (!parse_u64(&p, &a) || *p++ != '-')
		return RANGE_NONE;
	if (*skip_ws(p) == '\0') {
		b = UINT64_MAX;
	} else if (!parse_u64(&p, &b) || *skip_ws(p) || b < a) {
		return RANGE_NONE;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*start = a;
	*end = b >= size ? size - 1 : b;
	return RANGE_OK;
}

int content_range_parse(const char *hdr, uint64_t *start, uint64_t *end,
                        struct err *err)
{
	const char *p = skip_ws(hdr);
	uint64_t a, b, total;

	if (strncmp(p, "bytes ", 6) == 0)
		p = skip_ws(p + 6);
	if (!parse_u64(&p, &a) || *p++ != '-' || !parse_u64(&p, &b))
		return err_set(err, ERR_INVALID,
		               "Content-Range must be <start>-<end>");
	if (*p == '/') {
		p++;
		if (*p == '*')
			p++;
		else if (!parse_u64(&p, &total) || total <= b)
			return err_set(err, ERR_INVALID,
			               "bad total in Content-Range");
	}
	if (*skip_ws(p) != '\0' || b < a)
		return err_set(err, ERR_INVALID,
		               "Content-Range must be <start>-<end>");
	*start = a;
	*end = b;
	return 0;
}
