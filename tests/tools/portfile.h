/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portfile.h - the tools' servers tell the tests their port: one line in
 * a file, written whole (a temporary, then a rename), so a test that
 * sees the file sees all of it. Header only; test code, so a failure
 * exits.
 */
#ifndef DRAY_TESTS_PORTFILE_H
#define DRAY_TESTS_PORTFILE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write @port to @path whole, or exit naming @prog. */
static inline void port_file_write(const char *prog, const char *path,
                                   unsigned port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write '%s': %s\n", prog, path,
		        strerror(errno));
		exit(1);
	}
}

#endif
