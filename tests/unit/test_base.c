/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_base.c - unit tests for the base library in daemon/: digests,
 * repository names and tags, the hash map, the file helpers and errors.
 *
 * Everything goes through the public headers. Tests that touch the file
 * system get their own mkdtemp directory from setup().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "daemon/hmap.h"
#include "daemon/ref.h"

/* sha256("") and sha512(""). */
#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA512_EMPTY                                                       \
	"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
	"47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
/* sha256("abc") and sha512("abc"), from FIPS 180-2. */
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA512_ABC                                                         \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

struct fixture {
	char dir[64]; /* this test's mkdtemp directory */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (test_mkdtemp(f->dir, sizeof(f->dir), "base") < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rm_tree(f->dir);
	free(f);
	return 0;
}

/* "<fixture dir>/<name>" into @out (PATH_MAX). */
static void path_in(const struct fixture *f, const char *name, char *out)
{
	assert_true(snprintf(out, PATH_MAX, "%s/%s", f->dir, name) < PATH_MAX);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Entries in @dir other than "." and "..". */
static size_t count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* digest_parse() on a NUL-terminated string. */
static int parse(struct digest *d, const char *s, struct err *err)
{
	return digest_parse(d, s, strlen(s), err);
}

/* @s must fail to parse with @code, leaving the digest untouched. */
static void assert_parse_fails(const char *s, enum err_code code)
{
	struct err err = ERR_INIT;
	struct digest d;

	memset(&d, 0x5a, sizeof(d));
	if (parse(&d, s, &err) == 0)
		fail_msg("'%s' parsed, but should not have", s);
	if (err.code != code)
		fail_msg("'%s': code %s, want %s (%s)", s,
		         err_code_name(err.code), err_code_name(code), err.msg);
	assert_true(err.msg[0] != '\0');
}

/* ---- digest.h ---- */

static void test_sha256_digest_parses(void **state)
{
	struct err err = ERR_INIT;
	struct digest d;

	(void)state;
	assert_int_equal(parse(&d, "sha256:" SHA256_EMPTY, &err), 0);
	assert_int_equal(err.code, ERR_OK);
	assert_int_equal(d.alg, DIGEST_SHA256);
	assert_string_equal(d.hex, SHA256_EMPTY);
}

static void test_sha512_digest_parses(void **state)
{
	struct err err = ERR_INIT;
	struct digest d;

	(void)state;
	assert_int_equal(parse(&d, "sha512:" SHA512_EMPTY, &err), 0);
	assert_int_equal(err.code, ERR_OK);
	assert_int_equal(d.alg, DIGEST_SHA512);
	assert_string_equal(d.hex, SHA512_EMPTY);
}

static void test_digest_parse_reads_only_len_bytes(void **state)
{
	const char *s = "sha256:" SHA256_ABC "trailing junk";
	struct err err = ERR_INIT;
	struct digest d;

	(void)state;
	assert_int_equal(digest_parse(&d, s, 7 + 64, &err), 0);
	assert_string_equal(d.hex, SHA256_ABC);
}

static void test_uppercase_hex_is_invalid(void **state)
{
	char s[] = "sha512:" SHA512_EMPTY;

	(void)state;
	assert_parse_fails("sha256:"
	                   "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934C"
	                   "A495991B7852B855",
	                   ERR_INVALID);
	/* One uppercase digit is enough. */
	assert_parse_fails("sha256:"
	                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	                   "a495991b7852b85A",
	                   ERR_INVALID);
	s[7 + 100] = 'F';
	assert_parse_fails(s, ERR_INVALID);
}

static void test_wrong_hex_length_is_invalid(void **state)
{
	(void)state;
	/* 63 and 65 digits for sha256. */
	assert_parse_fails("sha256:"
	                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	                   "a495991b7852b85",
	                   ERR_INVALID);
	assert_parse_fails("sha256:" SHA256_EMPTY "0", ERR_INVALID);
	/* A sha256-length value labelled sha512, and the reverse. */
	assert_parse_fails("sha512:" SHA256_EMPTY, ERR_INVALID);
	assert_parse_fails("sha256:" SHA512_EMPTY, ERR_INVALID);
}

static void test_hex_digit_outside_a_to_f_is_invalid(void **state)
{
	(void)state;
	assert_parse_fails("sha256:"
	                   "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	                   "a495991b7852b855",
	                   ERR_INVALID);
	/* Valid in the encoded grammar, not as hex. */
	assert_parse_fails("sha256:"
	                   "=3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	                   "a495991b7852b855",
	                   ERR_INVALID);
}

static void test_unknown_well_formed_algorithm_is_not_found(void **state)
{
	(void)state;
	assert_parse_fails("md5:d41d8cd98f00b204e9800998ecf8427e",
	                   ERR_NOT_FOUND);
	assert_parse_fails("sha384:abc", ERR_NOT_FOUND);
	assert_parse_fails("blake3:AbC=_-", ERR_NOT_FOUND);
	/* The image-spec's own examples of separators in the algorithm. */
	assert_parse_fails("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiG"
	                   "Jm564",
	                   ERR_NOT_FOUND);
	assert_parse_fails("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTS"
	                   "PX9Kv46HmX4Gx8",
	                   ERR_NOT_FOUND);
	assert_parse_fails("a.b_c-d+e:x", ERR_NOT_FOUND);
}

static void test_malformed_digest_is_invalid(void **state)
{
	(void)state;
	assert_parse_fails("", ERR_INVALID);
	assert_parse_fails("sha256", ERR_INVALID);
	assert_parse_fails(SHA256_EMPTY, ERR_INVALID);
	assert_parse_fails(":" SHA256_EMPTY, ERR_INVALID);
	assert_parse_fails("sha256:", ERR_INVALID);
	assert_parse_fails(":", ERR_INVALID);
	assert_parse_fails("SHA256:" SHA256_EMPTY, ERR_INVALID);
	assert_parse_fails("sha256 :" SHA256_EMPTY, ERR_INVALID);
	assert_parse_fails("sha256:" SHA256_EMPTY ":", ERR_INVALID);
	assert_parse_fails("sha256:abc def", ERR_INVALID);
	assert_parse_fails("md5:abc/def", ERR_INVALID);
}

static void test_separator_placement_in_algorithm_is_checked(void **state)
{
	(void)state;
	assert_parse_fails("+sha256:abc", ERR_INVALID);
	assert_parse_fails("sha256+:abc", ERR_INVALID);
	assert_parse_fails("sha256++b64u:abc", ERR_INVALID);
	assert_parse_fails("sha256.-b64u:abc", ERR_INVALID);
	assert_parse_fails("-:abc", ERR_INVALID);
	assert_parse_fails("sha256/b64u:abc", ERR_INVALID);
}

static void test_over_long_encoding_is_invalid(void **state)
{
	char s[8 + 1100];

	(void)state;
	memcpy(s, "foo:", 4);
	memset(s + 4, 'a', 1025);
	s[4 + 1025] = '\0';
	assert_parse_fails(s, ERR_INVALID);
	/* 1024 is the limit: still a well-formed, unknown digest. */
	s[4 + 1024] = '\0';
	assert_parse_fails(s, ERR_NOT_FOUND);
}

static void test_embedded_nul_is_invalid(void **state)
{
	const char s[] = "sha256:" SHA256_EMPTY;
	char buf[sizeof(s)];
	struct err err = ERR_INIT;
	struct digest d;

	(void)state;
	memcpy(buf, s, sizeof(s));
	buf[20] = '\0';
	assert_int_equal(digest_parse(&d, buf, sizeof(s) - 1, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	err = ERR_INIT;
	buf[20] = s[20];
	buf[3] = '\0';
	assert_int_equal(digest_parse(&d, buf, sizeof(s) - 1, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_digest_format_round_trips(void **state)
{
	const char *in[] = {"sha256:" SHA256_ABC, "sha512:" SHA512_ABC};
	char out[DIGEST_STR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct err err = ERR_INIT;
		struct digest d, again;

		assert_int_equal(parse(&d, in[i], &err), 0);
		digest_format(&d, out);
		assert_string_equal(out, in[i]);
		assert_int_equal(parse(&again, out, &err), 0);
		assert_true(digest_equal(&d, &again));
	}
	assert_string_equal(digest_alg_name(DIGEST_SHA256), "sha256");
	assert_string_equal(digest_alg_name(DIGEST_SHA512), "sha512");
	assert_int_equal(digest_hex_len(DIGEST_SHA256), 64);
	assert_int_equal(digest_hex_len(DIGEST_SHA512), 128);
}

static void test_digests_of_different_algorithms_differ(void **state)
{
	struct err err = ERR_INIT;
	struct digest a, b;

	(void)state;
	assert_int_equal(parse(&a, "sha256:" SHA256_ABC, &err), 0);
	assert_int_equal(parse(&b, "sha256:" SHA256_EMPTY, &err), 0);
	assert_false(digest_equal(&a, &b));
	assert_int_equal(parse(&b, "sha512:" SHA512_ABC, &err), 0);
	assert_false(digest_equal(&a, &b));
}

static void test_digest_buffer_matches_known_values(void **state)
{
	struct err err = ERR_INIT;
	struct digest d;

	(void)state;
	assert_int_equal(digest_buffer(DIGEST_SHA256, "abc", 3, &d, &err), 0);
	assert_string_equal(d.hex, SHA256_ABC);
	assert_int_equal(digest_buffer(DIGEST_SHA512, "abc", 3, &d, &err), 0);
	assert_int_equal(d.alg, DIGEST_SHA512);
	assert_string_equal(d.hex, SHA512_ABC);
	assert_int_equal(digest_buffer(DIGEST_SHA256, "", 0, &d, &err), 0);
	assert_string_equal(d.hex, SHA256_EMPTY);
	assert_int_equal(err.code, ERR_OK);
}

/* A deterministic, not very regular test pattern. */
static void fill(unsigned char *buf, size_t len)
{
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

static void test_incremental_hash_equals_digest_buffer(void **state)
{
	enum { LEN = 100003 };
	unsigned char *buf = malloc(LEN);

	(void)state;
	assert_non_null(buf);
	fill(buf, LEN);
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		struct err err = ERR_INIT;
		struct digest whole, parts;
		struct hasher *h = hasher_new((enum digest_alg)a);
		size_t off = 0, step = 1;

		assert_non_null(h);
		while (off < LEN) {
			size_t n = step < LEN - off ? step : LEN - off;

			hasher_update(h, buf + off, n);
			off += n;
			step = step * 3 + 1;
		}
		hasher_final(h, &parts);
		hasher_free(h);
		assert_int_equal(digest_buffer((enum digest_alg)a, buf, LEN,
		                               &whole, &err),
		                 0);
		assert_true(digest_equal(&whole, &parts));
		assert_int_equal(strlen(parts.hex),
		                 digest_hex_len((enum digest_alg)a));
	}
	free(buf);
}

static void test_hasher_copy_keeps_both_going(void **state)
{
	struct err err = ERR_INIT;
	struct digest d, want;

	(void)state;
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		enum digest_alg alg = (enum digest_alg)a;
		struct hasher *h = hasher_new(alg);
		struct hasher *snap = hasher_new(alg);

		assert_non_null(h);
		assert_non_null(snap);
		hasher_update(h, "hello ", 6);
		hasher_copy(snap, h);
		/* The copy ends at the prefix... */
		hasher_final(snap, &d);
		assert_int_equal(digest_buffer(alg, "hello ", 6, &want, &err),
		                 0);
		assert_true(digest_equal(&d, &want));
		/* ...and the original goes on as if nothing happened. */
		hasher_update(h, "world", 5);
		hasher_final(h, &d);
		assert_int_equal(
			digest_buffer(alg, "hello world", 11, &want, &err), 0);
		assert_true(digest_equal(&d, &want));
		hasher_free(snap);
		hasher_free(h);
	}
}

static void test_hasher_copy_can_be_fed_further(void **state)
{
	struct err err = ERR_INIT;
	struct digest d, want;
	struct hasher *h = hasher_new(DIGEST_SHA256);
	struct hasher *c = hasher_new(DIGEST_SHA256);

	(void)state;
	assert_non_null(h);
	assert_non_null(c);
	hasher_update(c, "garbage that the copy overwrites", 32);
	hasher_update(h, "ab", 2);
	hasher_copy(c, h);
	hasher_update(c, "c", 1);
	hasher_final(c, &d);
	assert_int_equal(digest_buffer(DIGEST_SHA256, "abc", 3, &want, &err),
	                 0);
	assert_true(digest_equal(&d, &want));
	hasher_free(c);
	hasher_free(h);
	hasher_free(NULL);
}

static void test_digest_fd_hashes_whole_file_from_start(void **state)
{
	struct fixture *f = *state;
	enum { LEN = (3 << 20) + 17 }; /* past several 1 MiB reads */
	unsigned char *buf = malloc(LEN);
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest got, want;
	int fd;

	assert_non_null(buf);
	fill(buf, LEN);
	path_in(f, "blob", path);
	write_file(path, buf, LEN);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* The file position does not matter: it hashes from offset 0. */
	assert_true(lseek(fd, 12345, SEEK_SET) == 12345);
	for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++) {
		assert_int_equal(digest_fd((enum digest_alg)a, fd, &got, &err),
		                 0);
		assert_int_equal(digest_buffer((enum digest_alg)a, buf, LEN,
		                               &want, &err),
		                 0);
		assert_true(digest_equal(&got, &want));
	}
	assert_int_equal(err.code, ERR_OK);
	close(fd);
	free(buf);
}

static void test_digest_fd_of_empty_file_is_empty_digest(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	int fd;

	path_in(f, "empty", path);
	write_file(path, "", 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(digest_fd(DIGEST_SHA512, fd, &d, &err), 0);
	assert_string_equal(d.hex, SHA512_EMPTY);
	close(fd);
}

static void test_digest_fd_of_unreadable_fd_is_io_error(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	struct digest d;
	int fd;

	path_in(f, "wronly", path);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(digest_fd(DIGEST_SHA256, fd, &d, &err), -1);
	assert_int_equal(err.code, ERR_IO);
	assert_int_equal(err.sys_errno, EBADF);
	close(fd);
}

/* ---- ref.h ---- */

static void assert_name_ok(const char *name)
{
	struct err err = ERR_INIT;

	if (ref_name_check(name, &err) != 0)
		fail_msg("'%s' rejected: %s", name, err.msg);
	assert_int_equal(err.code, ERR_OK);
}

static void assert_name_bad(const char *name)
{
	struct err err = ERR_INIT;

	if (ref_name_check(name, &err) == 0)
		fail_msg("'%s' accepted, but should not have been", name);
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_valid_repository_names_are_accepted(void **state)
{
	(void)state;
	assert_name_ok("a");
	assert_name_ok("alpine");
	assert_name_ok("library/alpine");
	assert_name_ok("a/b/c/d/e/f");
	assert_name_ok("0");
	assert_name_ok("9x/8y");
	assert_name_ok("my.repo");
	assert_name_ok("my_repo");
	assert_name_ok("my__repo");
	assert_name_ok("my-repo");
	assert_name_ok("my---repo");
	assert_name_ok("a.b_c__d-e---f/g");
	/* Names that merely contain a reserved word. */
	assert_name_ok("blobs2");
	assert_name_ok("my-blobs");
	assert_name_ok("index.json2");
	assert_name_ok("x/oci-layouts");
}

static void test_invalid_repository_names_are_rejected(void **state)
{
	(void)state;
	assert_name_bad("");
	assert_name_bad("Alpine");
	assert_name_bad("library/Alpine");
	assert_name_bad(".a");
	assert_name_bad("a.");
	assert_name_bad("_a");
	assert_name_bad("a_");
	assert_name_bad("-a");
	assert_name_bad("a-");
	assert_name_bad("a..b");
	assert_name_bad("a.-b");
	assert_name_bad("a-.b");
	assert_name_bad("a___b");
	assert_name_bad("a_-b");
	assert_name_bad("../x");
	assert_name_bad("x/..");
	assert_name_bad("x/./y");
	assert_name_bad(".");
	assert_name_bad("..");
	assert_name_bad("a//b");
	assert_name_bad("/a");
	assert_name_bad("a/");
	assert_name_bad("/");
	assert_name_bad("a b");
	assert_name_bad("a:b");
	assert_name_bad("a@b");
	assert_name_bad("a\\b");
	assert_name_bad(".dray");
	assert_name_bad("a/.dray/b");
}

static void test_reserved_layout_components_are_rejected(void **state)
{
	(void)state;
	assert_name_bad("blobs");
	assert_name_bad("a/blobs");
	assert_name_bad("blobs/a");
	assert_name_bad("a/blobs/b");
	assert_name_bad("index.json");
	assert_name_bad("a/index.json");
	assert_name_bad("oci-layout");
	assert_name_bad("a/oci-layout/b");
}

static void test_repository_name_length_limit_is_255_bytes(void **state)
{
	char name[REF_NAME_MAX + 2];

	(void)state;
	memset(name, 'a', REF_NAME_MAX);
	name[REF_NAME_MAX] = '\0';
	assert_name_ok(name);
	/* Components count with their slashes. */
	for (size_t i = 1; i < REF_NAME_MAX; i += 2)
		name[i] = '/';
	assert_name_ok(name);
	memset(name, 'a', REF_NAME_MAX + 1);
	name[REF_NAME_MAX + 1] = '\0';
	assert_name_bad(name);
}

static void test_tag_grammar_is_enforced(void **state)
{
	static const char *const bad[] = {
		"",    ".a",  "-a",  "a/b",      "a:b",
		"a b", "a@b", "a+b", "\xc3\xa9", "a\n",
	};
	char tag[REF_TAG_MAX + 2];
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(ref_tag_check("latest", &err), 0);
	assert_int_equal(ref_tag_check("v1.2.3-rc.1_build", &err), 0);
	assert_int_equal(ref_tag_check("_x", &err), 0);
	assert_int_equal(ref_tag_check("X", &err), 0);
	assert_int_equal(ref_tag_check("3", &err), 0);
	assert_int_equal(ref_tag_check("a..--__", &err), 0);
	assert_int_equal(err.code, ERR_OK);

	memset(tag, 'a', REF_TAG_MAX);
	tag[REF_TAG_MAX] = '\0';
	assert_int_equal(ref_tag_check(tag, &err), 0);
	tag[REF_TAG_MAX] = 'a';
	tag[REF_TAG_MAX + 1] = '\0';
	assert_int_equal(ref_tag_check(tag, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = ERR_INIT;
		if (ref_tag_check(bad[i], &err) == 0)
			fail_msg("tag '%s' accepted", bad[i]);
		assert_int_equal(err.code, ERR_INVALID);
	}
}

static void test_ref_glob_match_reads_globs_as_zot_does(void **state)
{
	static const struct {
		const char *glob, *name;
		bool match;
	} cases[] = {
		{"**", "a", true},           {"**", "a/b/c", true},
		{"tmp/**", "tmp/a/b", true}, {"tmp/**", "tmpx/a", false},
		{"infra/*", "infra/a", true}, {"infra/*", "infra/a/b", false},
		{"**/a*", "x/ab/a1", true},   {"*/app", "team/app", true},
		{"team**", "team/app", false}, {"team**", "teamx", true},
		{"a/**", "a", true},          {"**/app", "app", true},
		{"a/**/b", "a/b", true},      {"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false}, {"**/x/*", "q/x/y", true},
		{"*/app", "a/b/app", false},  {"a?c", "abc", true},
		{"a?c", "a/c", false},        {"app", "app", true},
		{"app", "app2", false},       {"app*", "app", true},
		{"", "", true},               {"", "a", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ref_glob_match(cases[i].glob, cases[i].name) !=
		    cases[i].match)
			fail_msg("'%s' against '%s': expected %s", cases[i].glob,
			         cases[i].name, cases[i].match ? "a match" : "none");
}

static void test_ref_is_digest_tells_digests_from_tags(void **state)
{
	(void)state;
	assert_true(ref_is_digest("sha256:" SHA256_EMPTY));
	assert_true(ref_is_digest("md5:x"));
	assert_false(ref_is_digest("latest"));
	assert_false(ref_is_digest("sha256"));
	assert_false(ref_is_digest(""));
}

/* ---- hmap.h ---- */

static void test_hmap_put_get_replace_and_del(void **state)
{
	struct hmap *m = hmap_new();
	int one = 1, two = 2, three = 3;
	char key[8] = "alpha";

	(void)state;
	assert_non_null(m);
	assert_null(hmap_get(m, "alpha"));
	assert_int_equal(hmap_count(m), 0);
	assert_int_equal(hmap_put(m, key, &one), 0);
	/* The key was copied. */
	memcpy(key, "omega", 6);
	assert_ptr_equal(hmap_get(m, "alpha"), &one);
	assert_null(hmap_get(m, "omega"));
	assert_int_equal(hmap_put(m, "beta", &two), 0);
	assert_int_equal(hmap_count(m), 2);
	/* Replacing keeps the count. */
	assert_int_equal(hmap_put(m, "alpha", &three), 0);
	assert_int_equal(hmap_count(m), 2);
	assert_ptr_equal(hmap_get(m, "alpha"), &three);
	assert_ptr_equal(hmap_del(m, "alpha"), &three);
	assert_null(hmap_get(m, "alpha"));
	assert_null(hmap_del(m, "alpha"));
	assert_int_equal(hmap_count(m), 1);
	/* The empty key is a key like any other. */
	assert_int_equal(hmap_put(m, "", &one), 0);
	assert_ptr_equal(hmap_get(m, ""), &one);
	assert_ptr_equal(hmap_get(m, "beta"), &two);
	hmap_free(m);
	hmap_free(NULL);
}

static void test_hmap_grows_to_ten_thousand_keys(void **state)
{
	enum { N = 10000 };
	static int vals[N];
	struct hmap *m = hmap_new();
	char key[32];

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < N; i++) {
		vals[i] = i;
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(hmap_put(m, key, &vals[i]), 0);
	}
	assert_int_equal(hmap_count(m), N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_ptr_equal(hmap_get(m, key), &vals[i]);
	}
	/* Delete the odd ones; the even ones must stay. */
	for (int i = 1; i < N; i += 2) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_ptr_equal(hmap_del(m, key), &vals[i]);
	}
	assert_int_equal(hmap_count(m), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		if (i % 2)
			assert_null(hmap_get(m, key));
		else
			assert_ptr_equal(hmap_get(m, key), &vals[i]);
	}
	hmap_free(m);
}

static size_t freed_vals;

static void count_free(void *val)
{
	freed_vals++;
	free(val);
}

/* Every value is handed to the free function once (ASan sees the rest). */
static void test_hmap_free_with_frees_every_value(void **state)
{
	struct hmap *m = hmap_new();
	char key[32];

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(hmap_put(m, key, strdup(key)), 0);
	}
	free(hmap_del(m, "k7"));
	freed_vals = 0;
	hmap_free_with(m, count_free);
	assert_int_equal(freed_vals, 99);
	hmap_free_with(NULL, count_free);
	assert_int_equal(freed_vals, 99);
}

struct each_ctx {
	unsigned char seen[1000]; /* times each value was visited */
	size_t calls;             /* callback invocations */
	size_t stop_after;        /* return non-zero at this call; 0: never */
};

static int each_cb(const char *key, void *val, void *arg)
{
	struct each_ctx *c = arg;
	int i = *(int *)val;
	char want[32];

	snprintf(want, sizeof(want), "k%d", i);
	assert_string_equal(key, want);
	c->seen[i]++;
	c->calls++;
	return c->stop_after && c->calls == c->stop_after ? 42 : 0;
}

static void test_hmap_each_visits_every_entry_once(void **state)
{
	static int vals[1000];
	struct each_ctx c = {0};
	struct hmap *m = hmap_new();
	char key[32];

	(void)state;
	assert_non_null(m);
	assert_int_equal(hmap_each(m, each_cb, &c), 0);
	assert_int_equal(c.calls, 0);
	for (int i = 0; i < 1000; i++) {
		vals[i] = i;
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(hmap_put(m, key, &vals[i]), 0);
	}
	assert_int_equal(hmap_each(m, each_cb, &c), 0);
	assert_int_equal(c.calls, 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(c.seen[i], 1);

	/* A non-zero return stops the walk and is passed back. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 10;
	assert_int_equal(hmap_each(m, each_cb, &c), 42);
	assert_int_equal(c.calls, 10);
	hmap_free(m);
}

/* ---- fsutil.h ---- */

static void test_write_atomic_replaces_and_leaves_no_temporaries(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX], path[PATH_MAX];
	struct err err = ERR_INIT;
	struct stat sb;
	char *buf = NULL;
	size_t len;

	path_in(f, "tmp", tmp);
	path_in(f, "file", path);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(fs_write_atomic(tmp, path, "first", 5, &err), 0);
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "first");
	free(buf);
	assert_int_equal(fs_write_atomic(tmp, path, "2nd", 3, &err), 0);
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "2nd");
	free(buf);
	assert_int_equal(err.code, ERR_OK);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
}

static void test_failed_write_atomic_keeps_target_and_cleans_up(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len;

	path_in(f, "tmp", tmp);
	assert_int_equal(mkdir(tmp, 0700), 0);
	/* The target's directory does not exist: rename fails. */
	path_in(f, "missing/file", path);
	assert_int_equal(fs_write_atomic(tmp, path, "x", 1, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(count_entries(tmp), 0);

	/* The target is a non-empty directory: it stays as it was. */
	err = ERR_INIT;
	path_in(f, "dir", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	path_in(f, "dir/keep", path);
	write_file(path, "kept", 4);
	assert_int_equal(fs_write_atomic(tmp, dir, "x", 1, &err), -1);
	assert_true(err.code != ERR_OK);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "kept");
	free(buf);

	/* No temporary directory at all. */
	err = ERR_INIT;
	path_in(f, "nowhere", tmp);
	path_in(f, "file", path);
	assert_int_equal(fs_write_atomic(tmp, path, "x", 1, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_false(exists(path));
}

static void test_read_file_enforces_its_limit(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len = 99;

	path_in(f, "ten", path);
	write_file(path, "0123456789", 10);
	/* Exactly the limit is fine. */
	assert_int_equal(fs_read_file(path, 10, &buf, &len, &err), 0);
	assert_int_equal(len, 10);
	assert_int_equal(buf[10], '\0');
	assert_memory_equal(buf, "0123456789", 10);
	free(buf);
	buf = NULL;
	len = 99;
	assert_int_equal(fs_read_file(path, 9, &buf, &len, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
	assert_null(buf);
	assert_int_equal(len, 99);
	err = ERR_INIT;
	assert_int_equal(fs_read_file(path, 0, &buf, &len, &err), -1);
	assert_int_equal(err.code, ERR_TOO_LARGE);
}

static void test_read_file_of_empty_file_is_empty_string(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len = 99;

	path_in(f, "empty", path);
	write_file(path, "", 0);
	assert_int_equal(fs_read_file(path, 0, &buf, &len, &err), 0);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_read_file_of_missing_file_is_not_found(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len;

	path_in(f, "nope", path);
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_null(buf);
}

/* A FIFO (or a directory) where a file belongs: refused, never waited on. */
static void test_read_file_refuses_what_is_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len;

	path_in(f, "fifo", path);
	assert_int_equal(mkfifo(path, 0644), 0);
	/* No writer: a blocking open or read would never return. */
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_null(buf);
	path_in(f, "", path);
	err = ERR_INIT;
	assert_int_equal(fs_read_file(path, 100, &buf, &len, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
	assert_null(buf);
}

static void test_mkdir_p_creates_nested_directories(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], sub[PATH_MAX];
	struct err err = ERR_INIT;
	struct stat sb;

	path_in(f, "a/b/c/d", path);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* Again: nothing to do, no error. */
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	/* A trailing slash is fine too. */
	path_in(f, "a/b/e/", sub);
	assert_int_equal(fs_mkdir_p(sub, 0755, &err), 0);
	path_in(f, "a/b/e", sub);
	assert_int_equal(stat(sub, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(err.code, ERR_OK);
}

static void test_mkdir_p_over_a_file_is_exists(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	path_in(f, "file", path);
	write_file(path, "x", 1);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), -1);
	assert_int_equal(err.code, ERR_EXISTS);
}

static void test_mkdir_p_below_a_file_is_exists(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct err err = ERR_INIT;

	path_in(f, "file", path);
	write_file(path, "x", 1);
	path_in(f, "file/sub/dir", path);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), -1);
	/* fsutil.h: "ERR_IO, ERR_EXISTS (a file)". */
	assert_int_equal(err.code, ERR_EXISTS);
}

static void test_mkdir_p_of_empty_path_is_invalid(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(fs_mkdir_p("", 0755, &err), -1);
	assert_int_equal(err.code, ERR_INVALID);
}

static void test_remove_tree_removes_everything_but_link_targets(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], outside[PATH_MAX], link[PATH_MAX];
	struct err err = ERR_INIT;

	path_in(f, "tree/a/b/c", path);
	assert_int_equal(fs_mkdir_p(path, 0755, &err), 0);
	path_in(f, "tree/a/b/c/file", path);
	write_file(path, "x", 1);
	path_in(f, "tree/top", path);
	write_file(path, "y", 1);
	path_in(f, "tree/a/.hidden", path);
	write_file(path, "z", 1);
	/* A symlink to a directory outside: the link goes, not the target. */
	path_in(f, "outside", outside);
	assert_int_equal(mkdir(outside, 0755), 0);
	path_in(f, "outside/precious", path);
	write_file(path, "p", 1);
	path_in(f, "tree/a/link", link);
	assert_int_equal(symlink(outside, link), 0);

	path_in(f, "tree", path);
	assert_int_equal(fs_remove_tree(path, &err), 0);
	assert_false(exists(path));
	path_in(f, "outside/precious", path);
	assert_true(exists(path));
	/* Missing is fine. */
	path_in(f, "tree", path);
	assert_int_equal(fs_remove_tree(path, &err), 0);
	/* A plain file is removed too. */
	assert_int_equal(fs_remove_tree(outside, &err), 0);
	assert_false(exists(outside));
	assert_int_equal(err.code, ERR_OK);
}

static void test_copy_to_temp_copies_content(void **state)
{
	struct fixture *f = *state;
	char src[PATH_MAX], tmp[PATH_MAX], out[PATH_MAX];
	struct err err = ERR_INIT;
	char *buf = NULL;
	size_t len;

	path_in(f, "src", src);
	write_file(src, "content", 7);
	path_in(f, "tmp", tmp);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(fs_copy_to_temp(src, tmp, out, &err), 0);
	assert_int_equal(strncmp(out, tmp, strlen(tmp)), 0);
	assert_int_equal(fs_read_file(out, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "content");
	free(buf);
	assert_int_equal(count_entries(tmp), 1);

	path_in(f, "no-such-src", src);
	assert_int_equal(fs_copy_to_temp(src, tmp, out, &err), -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	assert_int_equal(count_entries(tmp), 1);
}

/* ---- err.h ---- */

static void test_err_set_fills_and_returns_minus_one(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(err_set(&err, ERR_BUSY, "lock '%s' held", "x"), -1);
	assert_int_equal(err.code, ERR_BUSY);
	assert_int_equal(err.sys_errno, 0);
	assert_string_equal(err.msg, "lock 'x' held");
}

static void test_err_set_errno_maps_codes(void **state)
{
	static const struct {
		int errnum;
		enum err_code code;
	} map[] = {
		{ENOENT, ERR_NOT_FOUND}, {ENOTDIR, ERR_NOT_FOUND},
		{ENOMEM, ERR_NOMEM},     {EEXIST, ERR_EXISTS},
		{ENOTEMPTY, ERR_EXISTS}, {EACCES, ERR_DENIED},
		{EPERM, ERR_DENIED},     {EROFS, ERR_DENIED},
		{EFBIG, ERR_TOO_LARGE},  {ENAMETOOLONG, ERR_TOO_LARGE},
		{EINVAL, ERR_INVALID},   {EAGAIN, ERR_BUSY},
		{EBUSY, ERR_BUSY},       {EIO, ERR_IO},
		{ENOSPC, ERR_IO},        {EDQUOT, ERR_IO},
		{EBADF, ERR_IO},         {EXDEV, ERR_IO},
	};
	char want[ERR_MSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct err err = ERR_INIT;

		assert_int_equal(err_set_errno(&err, map[i].errnum,
		                               "cannot open '%s'", "/x"),
		                 -1);
		if (err.code != map[i].code)
			fail_msg("errno %d (%s): %s, want %s", map[i].errnum,
			         strerror(map[i].errnum),
			         err_code_name(err.code),
			         err_code_name(map[i].code));
		assert_int_equal(err.sys_errno, map[i].errnum);
		snprintf(want, sizeof(want), "cannot open '/x': %s",
		         strerror(map[i].errnum));
		assert_string_equal(err.msg, want);
	}
}

static void test_err_prefix_puts_context_in_front(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	err_set(&err, ERR_NOT_FOUND, "tag '%s' not found", "v1");
	err_prefix(&err, "repository '%s'", "alpine");
	assert_string_equal(err.msg, "repository 'alpine': tag 'v1' not found");
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err_prefix(&err, "pull");
	assert_string_equal(err.msg,
	                    "pull: repository 'alpine': tag 'v1' not found");
}

static void assert_terminated(const struct err *err)
{
	assert_non_null(memchr(err->msg, '\0', sizeof(err->msg)));
}

static void test_long_messages_are_truncated_and_terminated(void **state)
{
	char big[1000];
	struct err err = ERR_INIT;

	(void)state;
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	err_set(&err, ERR_INVALID, "%s", big);
	assert_terminated(&err);
	assert_int_equal(strlen(err.msg), ERR_MSG_MAX - 1);

	err = ERR_INIT;
	err_set_errno(&err, ENOENT, "%s", big);
	assert_terminated(&err);
	assert_int_equal(strlen(err.msg), ERR_MSG_MAX - 1);
	assert_int_equal(err.code, ERR_NOT_FOUND);

	/* A message that leaves no room for all of strerror(). */
	err = ERR_INIT;
	err_set_errno(&err, ENOENT, "%.*s", ERR_MSG_MAX - 5, big);
	assert_terminated(&err);
	assert_true(strlen(err.msg) <= ERR_MSG_MAX - 1);
	assert_int_equal(strncmp(err.msg + ERR_MSG_MAX - 5, ": ", 2), 0);

	/* A long old message under a short prefix keeps the prefix. */
	err = ERR_INIT;
	err_set(&err, ERR_IO, "%s", big);
	err_prefix(&err, "ctx");
	assert_terminated(&err);
	assert_true(strlen(err.msg) <= ERR_MSG_MAX - 1);
	assert_int_equal(strncmp(err.msg, "ctx: mmm", 8), 0);

	/* A prefix longer than the buffer. */
	err = ERR_INIT;
	err_set(&err, ERR_IO, "old");
	err_prefix(&err, "%s", big);
	assert_terminated(&err);
	assert_true(strlen(err.msg) <= ERR_MSG_MAX - 1);
	assert_int_equal(err.code, ERR_IO);

	/* Prefixes at every length around the edge. */
	for (int n = ERR_MSG_MAX - 8; n < ERR_MSG_MAX + 2; n++) {
		err = ERR_INIT;
		err_set(&err, ERR_IO, "old message");
		err_prefix(&err, "%.*s", n, big);
		assert_terminated(&err);
		assert_true(strlen(err.msg) <= ERR_MSG_MAX - 1);
		assert_int_equal(strncmp(err.msg, big,
		                         (size_t)n < ERR_MSG_MAX - 1
		                                 ? (size_t)n
		                                 : ERR_MSG_MAX - 1),
		                 0);
	}
}

static void test_err_code_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(err_code_name(ERR_OK), "ok");
	assert_string_equal(err_code_name(ERR_INVALID), "invalid");
	assert_string_equal(err_code_name(ERR_NOT_FOUND), "not_found");
	assert_string_equal(err_code_name(ERR_EXISTS), "exists");
	assert_string_equal(err_code_name(ERR_DENIED), "denied");
	assert_string_equal(err_code_name(ERR_TOO_LARGE), "too_large");
	assert_string_equal(err_code_name(ERR_BUSY), "busy");
	assert_string_equal(err_code_name(ERR_IO), "io");
	assert_string_equal(err_code_name(ERR_NOMEM), "nomem");
	assert_string_equal(err_code_name(ERR_INTERNAL), "internal");
	assert_string_equal(err_code_name((enum err_code)99), "unknown");
}

#define T(fn)  cmocka_unit_test(fn)
#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_sha256_digest_parses),
		T(test_sha512_digest_parses),
		T(test_digest_parse_reads_only_len_bytes),
		T(test_uppercase_hex_is_invalid),
		T(test_wrong_hex_length_is_invalid),
		T(test_hex_digit_outside_a_to_f_is_invalid),
		T(test_unknown_well_formed_algorithm_is_not_found),
		T(test_malformed_digest_is_invalid),
		T(test_separator_placement_in_algorithm_is_checked),
		T(test_over_long_encoding_is_invalid),
		T(test_embedded_nul_is_invalid),
		T(test_digest_format_round_trips),
		T(test_digests_of_different_algorithms_differ),
		T(test_digest_buffer_matches_known_values),
		T(test_incremental_hash_equals_digest_buffer),
		T(test_hasher_copy_keeps_both_going),
		T(test_hasher_copy_can_be_fed_further),
		TF(test_digest_fd_hashes_whole_file_from_start),
		TF(test_digest_fd_of_empty_file_is_empty_digest),
		TF(test_digest_fd_of_unreadable_fd_is_io_error),
		T(test_valid_repository_names_are_accepted),
		T(test_invalid_repository_names_are_rejected),
		T(test_reserved_layout_components_are_rejected),
		T(test_repository_name_length_limit_is_255_bytes),
		T(test_tag_grammar_is_enforced),
		T(test_ref_is_digest_tells_digests_from_tags),
		T(test_ref_glob_match_reads_globs_as_zot_does),
		T(test_hmap_put_get_replace_and_del),
		T(test_hmap_grows_to_ten_thousand_keys),
		T(test_hmap_free_with_frees_every_value),
		T(test_hmap_each_visits_every_entry_once),
		TF(test_write_atomic_replaces_and_leaves_no_temporaries),
		TF(test_failed_write_atomic_keeps_target_and_cleans_up),
		TF(test_read_file_enforces_its_limit),
		TF(test_read_file_of_empty_file_is_empty_string),
		TF(test_read_file_of_missing_file_is_not_found),
		TF(test_read_file_refuses_what_is_not_a_regular_file),
		TF(test_mkdir_p_creates_nested_directories),
		TF(test_mkdir_p_over_a_file_is_exists),
		TF(test_mkdir_p_below_a_file_is_exists),
		T(test_mkdir_p_of_empty_path_is_invalid),
		TF(test_remove_tree_removes_everything_but_link_targets),
		TF(test_copy_to_temp_copies_content),
		T(test_err_set_fills_and_returns_minus_one),
		T(test_err_set_errno_maps_codes),
		T(test_err_prefix_puts_context_in_front),
		T(test_long_messages_are_truncated_and_terminated),
		T(test_err_code_names_are_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
