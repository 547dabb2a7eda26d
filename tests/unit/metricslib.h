/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metricslib.h - what the metrics unit tests share: reading one sample
 * out of an exposition. Header only.
 */
#ifndef DRAY_METRICSLIB_H
#define DRAY_METRICSLIB_H

#include <stdlib.h>
#include <string.h>

/* The value of the sample @series in @text, or -1 if it has none. */
static inline double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

#endif
