/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64.h - the one table of base64 digits (RFC 4648), for the decoders
 * of Basic credentials (http/auth.c, standard alphabet, padded) and of
 * JWTs (daemon/jwt.c, URL alphabet, unpadded), which differ only in
 * their padding rules.
 */
#ifndef DRAY_BASE64_H
#define DRAY_BASE64_H

#include <stdbool.h>

/*
 * The 6-bit value of digit @c, or -1: '+' and '/' are 62 and 63 in the
 * standard alphabet, '-' and '_' in the URL one (@url).
 */
static inline int base64_digit(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

#endif
