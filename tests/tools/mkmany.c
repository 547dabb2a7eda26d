/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkmany.c - write many small OCI image layouts at once, for tests that
 * need more manifests than HTTP pushes could bring in quickly.
 *
 * usage: mkmany ROOT REPOS PER GARBAGE KEEP-LIST GONE-LIST
 *
 * Writes ROOT/many/rNNN for NNN in [0, REPOS). Each repository holds PER
 * tagged images (tag tN; each its own config, one layer shared by the
 * repository) and GARBAGE untagged images plus GARBAGE loose blobs, all
 * unique to it. KEEP-LIST gets one "<hex>  <path>" line (sha256sum -c
 * format, paths relative to ROOT) for every blob a tagged image needs;
 * GONE-LIST the path of every blob that only garbage uses. Deterministic.
 * Files are written without fsync: a test's scratch data.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/digest.h"
#include "daemon/fsutil.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define REF_NAME    "org.opencontainers.image.ref.name"

/* A blob written: its digest and size, for descriptors. */
struct blob {
	struct digest d; /* its digest */
	size_t size;     /* its length */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkmany: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void write_file(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* Write @buf as a blob of layout @dir (relative @rel); listed in @list. */
static struct blob put_blob(const char *dir, const char *rel, const char *buf,
                            size_t len, FILE *list, bool keep)
{
	char path[4096];
	struct err err = ERR_INIT;
	struct blob b = {.size = len};

	if (digest_buffer(DIGEST_SHA256, buf, len, &b.d, &err) < 0)
		die("%s", err.msg);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, b.d.hex);
	write_file(path, buf, len);
	if (keep)
		fprintf(list, "%s  %s/blobs/sha256/%s\n", b.d.hex, rel,
		        b.d.hex);
	else
		fprintf(list, "%s/blobs/sha256/%s\n", rel, b.d.hex);
	return b;
}

/* A manifest naming @cfg and @layer, made unique by @note. */
static int manifest_text(char *out, size_t outsz, const struct blob *cfg,
                         const struct blob *layer, const char *note)
{
	return snprintf(out, outsz,
	                "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST
	                "\",\"config\":{\"mediaType\":\"" MT_CONFIG
	                "\",\"digest\":\"sha256:%s\",\"size\":%zu},"
	                "\"layers\":[{\"mediaType\":\"" MT_LAYER
	                "\",\"digest\":\"sha256:%s\",\"size\":%zu}],"
	                "\"annotations\":{\"note\":\"%s\"}}",
	                cfg->d.hex, cfg->size, layer->d.hex, layer->size, note);
}

/* Append an index.json entry for manifest @m (tagged @tag unless NULL). */
static void add_entry(FILE *idx, bool *first, const struct blob *m,
                      const char *tag)
{
	fprintf(idx,
	        "%s{\"mediaType\":\"" MT_MANIFEST
	        "\",\"digest\":\"sha256:%s\",\"size\":%zu",
	        *first ? "" : ",", m->d.hex, m->size);
	if (tag)
		fprintf(idx, ",\"annotations\":{\"" REF_NAME "\":\"%s\"}", tag);
	fputc('}', idx);
	*first = false;
}

/* One image: config, manifest; listed in @list; its entry in @idx. */
static void image(const char *dir, const char *rel, const struct blob *layer,
                  const char *name, const char *tag, FILE *idx, bool *first,
                  FILE *list)
{
	char cfg[256], man[1024];
	struct blob c, m;
	int n;

	n = snprintf(cfg, sizeof(cfg),
	             "{\"architecture\":\"amd64\",\"os\":\"linux\","
	             "\"config\":{\"Labels\":{\"image\":\"%s\"}}}",
	             name);
	c = put_blob(dir, rel, cfg, (size_t)n, list, tag != NULL);
	n = manifest_text(man, sizeof(man), &c, layer, name);
	m = put_blob(dir, rel, man, (size_t)n, list, tag != NULL);
	add_entry(idx, first, &m, tag);
}

static void repo(const char *root, unsigned r, unsigned per, unsigned garbage,
                 FILE *keep, FILE *gone)
{
	char rel[64], dir[4096], path[4200], final[4200], name[96], tag[32];
	char buf[128];
	struct err err = ERR_INIT;
	struct blob layer, glayer;
	bool first = true;
	FILE *idx;
	int n;

	snprintf(rel, sizeof(rel), "many/r%03u", r);
	snprintf(dir, sizeof(dir), "%s/%s/blobs/sha256", root, rel);
	if (fs_mkdir_p(dir, 0755, &err) < 0)
		die("%s", err.msg);
	snprintf(dir, sizeof(dir), "%s/%s", root, rel);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	snprintf(path, sizeof(path), "%s/index.json.tmp", dir);
	idx = fopen(path, "w");
	if (!idx)
		die("cannot write %s: %s", path, strerror(errno));
	fputs("{\"schemaVersion\":2,\"manifests\":[", idx);
	n = snprintf(buf, sizeof(buf), "layer of repository %u", r);
	layer = put_blob(dir, rel, buf, (size_t)n, keep, true);
	n = snprintf(buf, sizeof(buf), "garbage layer of repository %u", r);
	glayer = put_blob(dir, rel, buf, (size_t)n, gone, false);
	for (unsigned i = 0; i < per; i++) {
		snprintf(name, sizeof(name), "r%u-t%u", r, i);
		snprintf(tag, sizeof(tag), "t%u", i);
		image(dir, rel, &layer, name, tag, idx, &first, keep);
	}
	for (unsigned i = 0; i < garbage; i++) {
		snprintf(name, sizeof(name), "r%u-untagged%u", r, i);
		image(dir, rel, &glayer, name, NULL, idx, &first, gone);
		n = snprintf(buf, sizeof(buf), "loose blob %u of %u", i, r);
		put_blob(dir, rel, buf, (size_t)n, gone, false);
	}
	fputs("]}\n", idx);
	if (fclose(idx) != 0)
		die("cannot write %s", path);
	snprintf(final, sizeof(final), "%s/index.json", dir);
	if (rename(path, final) < 0)
		die("cannot rename %s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
	unsigned repos, per, garbage;
	FILE *keep, *gone;

	if (argc != 7)
		die("usage: mkmany ROOT REPOS PER GARBAGE KEEP-LIST GONE-LIST");
	repos = (unsigned)strtoul(argv[2], NULL, 10);
	per = (unsigned)strtoul(argv[3], NULL, 10);
	garbage = (unsigned)strtoul(argv[4], NULL, 10);
	keep = fopen(argv[5], "w");
	gone = fopen(argv[6], "w");
	if (!keep || !gone)
		die("cannot write the lists: %s", strerror(errno));
	for (unsigned r = 0; r < repos; r++)
		repo(argv[1], r, per, garbage, keep, gone);
	if (fclose(keep) != 0 || fclose(gone) != 0)
		die("cannot write the lists");
	return 0;
}
