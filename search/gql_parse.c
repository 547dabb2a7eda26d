/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_parse.c - lexer and recursive-descent parser of GraphQL executable
 * documents (spec October 2021, sections 2 and appendix B), into the
 * tree of graphql_int.h allocated from the document's arena.
 *
 * The source is checked to be UTF-8 without control characters first.
 * Every recursion is bounded by the depth limit and the size of the
 * document by max_bytes, so no input can exhaust the stack. The first
 * error stops the parse and is reported with its line and column.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/graphql_int.h"

#define ARENA_BLOCK 8192

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t al = sizeof(max_align_t), size;
	void *p;

	n = (n + al - 1) / al * al;
	if (!b || b->size - b->used < n) {
		size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void arena_release(struct arena *a)
{
	struct arena_block *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

void doc_release(struct doc *d)
{
	arena_release(&d->arena);
	d->ops = NULL;
	d->frags = NULL;
}

struct frag *doc_frag(const struct doc *d, const char *name)
{
	for (struct frag *f = d->frags; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

struct gql_limits gql_limits_fill(const struct gql_limits *lim)
{
	struct gql_limits l = lim ? *lim : (struct gql_limits){0};

	if (!l.max_bytes)
		l.max_bytes = 64 * 1024;
	if (!l.max_depth)
		l.max_depth = 16;
	if (!l.max_selections)
		l.max_selections = 1000;
	if (!l.max_work)
		l.max_work = 1000000;
	return l;
}

enum tok_kind {
	T_EOF,
	T_PUNCT, /* one of ! $ & ( ) ... : = @ [ ] { | } */
	T_NAME,
	T_INT,
	T_FLOAT,
	T_STRING,
	T_BLOCK_STRING,
};

struct tok {
	enum tok_kind kind;
	const char *start; /* in the source */
	size_t len;
	char *val; /* T_STRING, T_BLOCK_STRING: decoded value */
	struct gql_loc loc;
};

struct parser {
	const char *src, *end;
	const char *pos;        /* the lexer's position */
	const char *line_start; /* of the line pos is on */
	const char *col_at;     /* here()'s last position on that line */
	unsigned col;           /* the column of col_at */
	unsigned line;
	struct tok tok; /* the current token */
	struct arena *arena;
	struct gql_limits lim;
	unsigned depth; /* current nesting */
	unsigned nsel;  /* selections so far */
	struct gql_error *e;
	bool failed;
};

PRINTF(3, 4)
static int fail_at(struct parser *p, struct gql_loc loc, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(p->e->msg, sizeof(p->e->msg), fmt, ap);
	va_end(ap);
	p->e->loc = loc;
	return -1;
}

/*
 * The location of @at, on the current line. Columns count characters,
 * and are counted on from the last call, so that locating every token
 * of a long line costs linear time, not quadratic.
 */
static struct gql_loc here(struct parser *p, const char *at)
{
	if (p->col_at < p->line_start || p->col_at > at) {
		p->col_at = p->line_start;
		p->col = 1;
	}
	for (; p->col_at < at; p->col_at++)
		if (((unsigned char)*p->col_at & 0xc0) != 0x80)
			p->col++;
	return (struct gql_loc){p->line, p->col};
}

static int oom(struct parser *p)
{
	fail_at(p, p->tok.loc, "out of memory");
	p->e->oom = true;
	return -1;
}

static void *alloc(struct parser *p, size_t n)
{
	void *m = arena_alloc(p->arena, n);

	if (!m)
		oom(p);
	return m;
}

/* Length of the UTF-8 sequence at @s (before @end), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

size_t gql_utf8_prefix(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s, *end = u + n;
	size_t i = 0, len;

	while (i < n && (len = utf8_len(u + i, end)))
		i += len;
	return i;
}

/* Spec 2.1.1: UTF-8 with no control characters but tab, LF and CR. */
static int check_source(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->src;
	const unsigned char *end = (const unsigned char *)p->end;
	size_t n;

	while (s < end) {
		if (*s == '\n') {
			p->line++;
			p->line_start = (const char *)s + 1;
		} else if (*s == '\r' && !(s + 1 < end && s[1] == '\n')) {
			p->line++;
			p->line_start = (const char *)s + 1;
		}
		if (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
			return fail_at(
				p, here(p, (const char *)s),
				"Syntax Error: Invalid character U+%04X.", *s);
		n = utf8_len(s, end);
		if (!n)
			return fail_at(p, here(p, (const char *)s),
			               "Syntax Error: Invalid UTF-8.");
		s += n;
	}
	p->line = 1;
	p->line_start = p->src;
	return 0;
}

static void newline(struct parser *p)
{
	if (*p->pos == '\r' && p->pos + 1 < p->end && p->pos[1] == '\n')
		p->pos++;
	p->pos++;
	p->line++;
	p->line_start = p->pos;
}

/* Skip ignored tokens: whitespace, line terminators, commas, comments. */
static void skip_ignored(struct parser *p)
{
	while (p->pos < p->end) {
		unsigned char c = (unsigned char)*p->pos;

		if (c == '\n' || c == '\r') {
			newline(p);
		} else if (c == ' ' || c == '\t' || c == ',') {
			p->pos++;
		} else if (c == 0xef && p->end - p->pos >= 3 &&
		           !memcmp(p->pos, "\xef\xbb\xbf", 3)) {
			p->pos += 3; /* the byte order mark */
		} else if (c == '#') {
			while (p->pos < p->end && *p->pos != '\n' &&
			       *p->pos != '\r')
				p->pos++;
		} else {
			break;
		}
	}
}

static bool is_name_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(int c)
{
	return is_name_start(c) || is_digit(c);
}

static const char *digits(const char *s, const char *end)
{
	while (s < end && is_digit(*s))
		s++;
	return s;
}

/* IntValue or FloatValue (spec 2.9.1, 2.9.2). */
static int lex_number(struct parser *p)
{
	const char *s = p->pos, *end = p->end, *d;
	bool is_float = false;

	if (*s == '-')
		s++;
	d = digits(s, end);
	if (d == s)
		goto bad;
	if (*s == '0' && d - s > 1)
		return fail_at(p, here(p, s + 1),
		               "Syntax Error: Invalid number, unexpected digit "
		               "after 0.");
	s = d;
	if (s < end && *s == '.') {
		is_float = true;
		d = digits(s + 1, end);
		s++;
		if (d == s)
			goto bad;
		s = d;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		is_float = true;
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			s++;
		d = digits(s, end);
		if (d == s)
			goto bad;
		s = d;
	}
	if (s < end && (*s == '.' || is_name_start(*s)))
		goto bad;
	p->tok.kind = is_float ? T_FLOAT : T_INT;
	p->tok.len = (size_t)(s - p->pos);
	p->pos = s;
	return 0;
bad:
	return fail_at(p, here(p, s < end ? s : end),
	               "Syntax Error: Invalid number.");
}

static int hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at @s into *cp; -1 if they are not. */
static int hex4(const char *s, const char *end, uint32_t *cp)
{
	*cp = 0;
	if (end - s < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);

		if (h < 0)
			return -1;
		*cp = *cp << 4 | (uint32_t)h;
	}
	return 0;
}

static size_t utf8_put(char *out, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A \u escape at @s (pointing at 'u'); *n: bytes consumed after '\'. */
static int lex_unicode(struct parser *p, const char *s, uint32_t *cp, size_t *n)
{
	uint32_t lo;

	if (hex4(s + 1, p->end, cp) < 0)
		return fail_at(
			p, here(p, s - 1),
			"Syntax Error: Invalid Unicode escape sequence.");
	*n = 5;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		goto lone;
	if (*cp >= 0xd800 && *cp <= 0xdbff) {
		if (p->end - s < 11 || s[5] != '\\' || s[6] != 'u' ||
		    hex4(s + 7, p->end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			goto lone;
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		*n = 11;
	}
	if (*cp == 0)
		return fail_at(p, here(p, s - 1),
		               "Syntax Error: \\u0000 is not supported.");
	return 0;
lone:
	return fail_at(p, here(p, s - 1),
	               "Syntax Error: Invalid Unicode escape sequence: "
	               "lone surrogate.");
}

static int lex_escape(struct parser *p, const char **sp, char *out,
                      size_t *olen)
{
	const char *s = *sp + 1; /* past the backslash */
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *c;
	uint32_t cp;
	size_t n;

	if (s >= p->end)
		return fail_at(p, here(p, *sp),
		               "Syntax Error: Unterminated "
		               "string.");
	c = strchr(from, *s);
	if (*s && c) {
		out[(*olen)++] = to[c - from];
		*sp = s + 1;
		return 0;
	}
	if (*s != 'u')
		return fail_at(p, here(p, *sp),
		               "Syntax Error: Invalid character escape "
		               "sequence.");
	if (lex_unicode(p, s, &cp, &n) < 0)
		return -1;
	*olen += utf8_put(out + *olen, cp);
	*sp = *sp + 1 + n;
	return 0;
}

/* A "..." string (spec 2.9.4); the value is never longer than the text. */
static int lex_string(struct parser *p)
{
	const char *s = p->pos + 1;
	char *out = alloc(p, (size_t)(p->end - p->pos));
	size_t olen = 0;

	if (!out)
		return -1;
	while (s < p->end && *s != '"') {
		if (*s == '\n' || *s == '\r')
			break;
		if (*s == '\\') {
			if (lex_escape(p, &s, out, &olen) < 0)
				return -1;
			continue;
		}
		out[olen++] = *s++;
	}
	if (s >= p->end || *s != '"')
		return fail_at(p, here(p, s),
		               "Syntax Error: Unterminated "
		               "string.");
	out[olen] = '\0';
	p->tok.kind = T_STRING;
	p->tok.val = out;
	p->tok.len = (size_t)(s + 1 - p->pos);
	p->pos = s + 1;
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static size_t indent(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* The next line of @s (len @n) from *off: its start and length. */
static bool next_line(const char *s, size_t n, size_t *off, size_t *start,
                      size_t *len)
{
	size_t i = *off;

	if (i > n)
		return false;
	*start = i;
	while (i < n && s[i] != '\n' && s[i] != '\r')
		i++;
	*len = i - *start;
	if (i < n && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
		i++;
	*off = i + 1;
	return true;
}

/* The common indentation of lines after the first (BlockStringValue). */
static size_t common_indent(const char *raw, size_t n)
{
	size_t off = 0, start, len, ci = SIZE_MAX, first = 1;

	while (next_line(raw, n, &off, &start, &len)) {
		size_t ind = indent(raw + start, len);

		if (!first && ind < len && ind < ci)
			ci = ind;
		first = 0;
	}
	return ci == SIZE_MAX ? 0 : ci;
}

/* Spec 2.9.4 BlockStringValue(): dedent, drop blank first/last lines. */
static char *block_value(struct parser *p, const char *raw, size_t n)
{
	size_t ci = common_indent(raw, n), off = 0, start, len, olen = 0;
	size_t lines = 0, first = SIZE_MAX, last = 0, i = 0;
	char *out = alloc(p, n + 1);

	if (!out)
		return NULL;
	while (next_line(raw, n, &off, &start, &len)) {
		size_t skip = lines ? (ci < len ? ci : len) : 0;

		if (!blank(raw + start + skip, len - skip)) {
			if (first == SIZE_MAX)
				first = lines;
			last = lines;
		}
		lines++;
	}
	off = 0;
	while (first != SIZE_MAX && next_line(raw, n, &off, &start, &len)) {
		size_t skip = i ? (ci < len ? ci : len) : 0;

		if (i >= first && i <= last) {
			if (i > first)
				out[olen++] = '\n';
			memcpy(out + olen, raw + start + skip, len - skip);
			olen += len - skip;
		}
		i++;
	}
	out[olen] = '\0';
	return out;
}

/* A """...""" block string; \""" is its only escape. */
static int lex_block_string(struct parser *p)
{
	const char *s = p->pos + 3;
	char *raw = alloc(p, (size_t)(p->end - p->pos));
	size_t rlen = 0;

	if (!raw)
		return -1;
	for (;;) {
		if (s >= p->end)
			return fail_at(p, here(p, p->end),
			               "Syntax Error: Unterminated string.");
		if (p->end - s >= 3 && !memcmp(s, "\"\"\"", 3))
			break;
		if (p->end - s >= 4 && !memcmp(s, "\\\"\"\"", 4)) {
			memcpy(raw + rlen, "\"\"\"", 3);
			rlen += 3;
			s += 4;
			continue;
		}
		if (*s == '\n' || *s == '\r') {
			/* Line terminators become \n; the lexer counts lines.
			 */
			raw[rlen++] = '\n';
			p->pos = s;
			newline(p);
			s = p->pos;
			continue;
		}
		raw[rlen++] = *s++;
	}
	p->tok.val = block_value(p, raw, rlen);
	if (!p->tok.val)
		return -1;
	p->tok.kind = T_BLOCK_STRING;
	p->pos = s + 3;
	return 0;
}

static int lex_punct(struct parser *p)
{
	const char *s = p->pos;

	if (*s == '.') {
		if (p->end - s < 3 || s[1] != '.' || s[2] != '.')
			return fail_at(p, p->tok.loc,
			               "Syntax Error: Unexpected \".\".");
		p->tok.len = 3;
	} else if (strchr("!$&()=:@[]{}|", *s)) {
		p->tok.len = 1;
	} else {
		return fail_at(p, p->tok.loc,
		               "Syntax Error: Unexpected character \"%c\".",
		               *s);
	}
	p->tok.kind = T_PUNCT;
	p->pos += p->tok.len;
	return 0;
}

/* Read the next token into p->tok. */
static int advance(struct parser *p)
{
	const char *s;

	if (p->failed)
		return -1;
	skip_ignored(p);
	s = p->pos;
	p->tok = (struct tok){.start = s, .loc = here(p, s)};
	if (s >= p->end) {
		p->tok.kind = T_EOF;
		return 0;
	}
	if (is_name_start(*s)) {
		while (p->pos < p->end && is_name_char(*p->pos))
			p->pos++;
		p->tok.kind = T_NAME;
		p->tok.len = (size_t)(p->pos - s);
		return 0;
	}
	if (*s == '-' || is_digit(*s))
		return lex_number(p);
	if (*s == '"') {
		if (p->end - s >= 3 && s[1] == '"' && s[2] == '"')
			return lex_block_string(p);
		return lex_string(p);
	}
	if ((unsigned char)*s >= 0x80)
		return fail_at(p, p->tok.loc,
		               "Syntax Error: Unexpected character.");
	return lex_punct(p);
}

static bool at_punct(const struct parser *p, const char *punct)
{
	return p->tok.kind == T_PUNCT && p->tok.len == strlen(punct) &&
	       !memcmp(p->tok.start, punct, p->tok.len);
}

static bool at_name(const struct parser *p, const char *name)
{
	return p->tok.kind == T_NAME && p->tok.len == strlen(name) &&
	       !memcmp(p->tok.start, name, p->tok.len);
}

static int unexpected(struct parser *p, const char *expected)
{
	int n = p->tok.len > 40 ? 40 : (int)p->tok.len;

	if (p->tok.kind == T_EOF)
		return fail_at(p, p->tok.loc,
		               "Syntax Error: Expected %s, found <EOF>.",
		               expected);
	if (p->tok.kind == T_STRING || p->tok.kind == T_BLOCK_STRING)
		return fail_at(p, p->tok.loc,
		               "Syntax Error: Expected %s, found String.",
		               expected);
	return fail_at(p, p->tok.loc,
	               "Syntax Error: Expected %s, found \"%.*s\".", expected,
	               n, p->tok.start);
}

static int expect(struct parser *p, const char *punct)
{
	char what[8];

	if (at_punct(p, punct))
		return advance(p);
	snprintf(what, sizeof(what), "\"%s\"", punct);
	return unexpected(p, what);
}

static const char *name(struct parser *p)
{
	char *n;

	if (p->tok.kind != T_NAME) {
		unexpected(p, "Name");
		return NULL;
	}
	n = alloc(p, p->tok.len + 1);
	if (!n)
		return NULL;
	memcpy(n, p->tok.start, p->tok.len);
	if (advance(p) < 0)
		return NULL;
	return n;
}

static int enter(struct parser *p)
{
	if (++p->depth > p->lim.max_depth)
		return fail_at(
			p, p->tok.loc,
			"Query is nested too deeply (more than %u levels).",
			p->lim.max_depth);
	return 0;
}

static struct tref *parse_type(struct parser *p)
{
	struct tref *t = alloc(p, sizeof(*t)), *nn;

	if (!t || enter(p) < 0)
		return NULL;
	t->loc = p->tok.loc;
	if (at_punct(p, "[")) {
		t->kind = TREF_LIST;
		if (advance(p) < 0 || !(t->of = parse_type(p)) ||
		    expect(p, "]") < 0)
			return NULL;
	} else {
		t->kind = TREF_NAMED;
		if (!(t->name = name(p)))
			return NULL;
	}
	p->depth--;
	if (!at_punct(p, "!"))
		return t;
	nn = alloc(p, sizeof(*nn));
	if (!nn || advance(p) < 0)
		return NULL;
	nn->kind = TREF_NON_NULL;
	nn->of = t;
	nn->loc = t->loc;
	return nn;
}

static struct gval *parse_value(struct parser *p, bool is_const);

/* [v v ...] or {name: v ...} after the opening bracket. */
static int parse_compound(struct parser *p, struct gval *v, bool is_const)
{
	const char *close = v->kind == GV_LIST ? "]" : "}";
	struct gval **tail = &v->items, *item;
	const char *n = NULL;

	if (enter(p) < 0 || advance(p) < 0)
		return -1;
	while (!at_punct(p, close)) {
		if (v->kind == GV_OBJECT) {
			struct gql_loc loc = p->tok.loc;

			if (!(n = name(p)) || expect(p, ":") < 0)
				return -1;
			if (!(item = parse_value(p, is_const)))
				return -1;
			item->name = n;
			item->loc = loc;
		} else if (!(item = parse_value(p, is_const))) {
			return -1;
		}
		*tail = item;
		tail = &item->next;
	}
	p->depth--;
	return advance(p);
}

static int parse_scalar_value(struct parser *p, struct gval *v)
{
	switch (p->tok.kind) {
	case T_INT:
	case T_FLOAT:
		v->kind = p->tok.kind == T_INT ? GV_INT : GV_FLOAT;
		v->str = arena_strndup(p->arena, p->tok.start, p->tok.len);
		if (!v->str)
			return oom(p);
		break;
	case T_STRING:
	case T_BLOCK_STRING:
		v->kind = GV_STRING;
		v->str = p->tok.val;
		break;
	case T_NAME:
		if (at_name(p, "true") || at_name(p, "false")) {
			v->kind = GV_BOOL;
			v->b = at_name(p, "true");
		} else if (at_name(p, "null")) {
			v->kind = GV_NULL;
		} else {
			v->kind = GV_ENUM;
			return (v->str = name(p)) ? 0 : -1;
		}
		break;
	default:
		return unexpected(p, "value");
	}
	return advance(p);
}

static struct gval *parse_value(struct parser *p, bool is_const)
{
	struct gval *v = alloc(p, sizeof(*v));

	if (!v)
		return NULL;
	v->loc = p->tok.loc;
	if (at_punct(p, "$")) {
		if (is_const) {
			unexpected(p, "constant value");
			return NULL;
		}
		v->kind = GV_VAR;
		if (advance(p) < 0 || !(v->str = name(p)))
			return NULL;
		return v;
	}
	if (at_punct(p, "[") || at_punct(p, "{")) {
		v->kind = at_punct(p, "[") ? GV_LIST : GV_OBJECT;
		return parse_compound(p, v, is_const) < 0 ? NULL : v;
	}
	if (p->tok.kind == T_PUNCT) {
		unexpected(p, "value");
		return NULL;
	}
	return parse_scalar_value(p, v) < 0 ? NULL : v;
}

/* (name: value ...), or nothing; the result may be NULL on success. */
static int parse_args(struct parser *p, struct gval **out, bool is_const)
{
	struct gval **tail = out, *v;
	struct gql_loc loc;
	const char *n;

	*out = NULL;
	if (!at_punct(p, "("))
		return 0;
	if (advance(p) < 0)
		return -1;
	if (at_punct(p, ")"))
		return unexpected(p, "Name");
	while (!at_punct(p, ")")) {
		loc = p->tok.loc;
		if (!(n = name(p)) || expect(p, ":") < 0 ||
		    !(v = parse_value(p, is_const)))
			return -1;
		v->name = n;
		v->loc = loc;
		*tail = v;
		tail = &v->next;
	}
	return advance(p);
}

static int parse_directives(struct parser *p, struct gdir **out, bool is_const)
{
	struct gdir **tail = out, *d;

	*out = NULL;
	while (at_punct(p, "@")) {
		if (!(d = alloc(p, sizeof(*d))))
			return -1;
		d->loc = p->tok.loc;
		if (advance(p) < 0 || !(d->name = name(p)) ||
		    parse_args(p, &d->args, is_const) < 0)
			return -1;
		*tail = d;
		tail = &d->next;
	}
	return 0;
}

static struct sel *parse_selection_set(struct parser *p);

static int count_selection(struct parser *p)
{
	if (++p->nsel > p->lim.max_selections)
		return fail_at(p, p->tok.loc,
		               "Query has too many selections (more than %u).",
		               p->lim.max_selections);
	return 0;
}

/* ...Name or ... on Type { } or ... @dir { }, after the "...". */
static int parse_fragment_sel(struct parser *p, struct sel *s)
{
	if (p->tok.kind == T_NAME && !at_name(p, "on")) {
		s->kind = SEL_SPREAD;
		if (!(s->name = name(p)))
			return -1;
		return parse_directives(p, &s->dirs, false);
	}
	s->kind = SEL_INLINE;
	if (at_name(p, "on") && (advance(p) < 0 || !(s->cond = name(p))))
		return -1;
	if (parse_directives(p, &s->dirs, false) < 0)
		return -1;
	return (s->sub = parse_selection_set(p)) ? 0 : -1;
}

static struct sel *parse_selection(struct parser *p)
{
	struct sel *s = alloc(p, sizeof(*s));
	const char *n;

	if (!s || count_selection(p) < 0)
		return NULL;
	s->loc = p->tok.loc;
	if (at_punct(p, "...")) {
		if (advance(p) < 0 || parse_fragment_sel(p, s) < 0)
			return NULL;
		return s;
	}
	s->kind = SEL_FIELD;
	if (!(n = name(p)))
		return NULL;
	if (at_punct(p, ":")) {
		s->alias = n;
		if (advance(p) < 0 || !(n = name(p)))
			return NULL;
	}
	s->name = n;
	if (parse_args(p, &s->args, false) < 0 ||
	    parse_directives(p, &s->dirs, false) < 0)
		return NULL;
	if (at_punct(p, "{") && !(s->sub = parse_selection_set(p)))
		return NULL;
	return s;
}

static struct sel *parse_selection_set(struct parser *p)
{
	struct sel *head = NULL, **tail = &head, *s;

	if (enter(p) < 0 || expect(p, "{") < 0)
		return NULL;
	if (at_punct(p, "}")) {
		unexpected(p, "Name");
		return NULL;
	}
	while (!at_punct(p, "}")) {
		if (!(s = parse_selection(p)))
			return NULL;
		*tail = s;
		tail = &s->next;
	}
	p->depth--;
	return advance(p) < 0 ? NULL : head;
}

static int parse_vardefs(struct parser *p, struct vardef **out)
{
	struct vardef **tail = out, *v;

	*out = NULL;
	if (!at_punct(p, "("))
		return 0;
	if (advance(p) < 0)
		return -1;
	if (at_punct(p, ")"))
		return unexpected(p, "\"$\"");
	while (!at_punct(p, ")")) {
		if (!(v = alloc(p, sizeof(*v))))
			return -1;
		v->loc = p->tok.loc;
		if (expect(p, "$") < 0 || !(v->name = name(p)) ||
		    expect(p, ":") < 0 || !(v->type = parse_type(p)))
			return -1;
		if (at_punct(p, "=") &&
		    (advance(p) < 0 || !(v->def = parse_value(p, true))))
			return -1;
		if (at_punct(p, "@"))
			return fail_at(p, p->tok.loc,
			               "Directives on variables are not "
			               "supported.");
		*tail = v;
		tail = &v->next;
	}
	return advance(p);
}

static struct op *parse_operation(struct parser *p)
{
	struct op *o = alloc(p, sizeof(*o));

	if (!o)
		return NULL;
	o->loc = p->tok.loc;
	if (at_punct(p, "{"))
		return (o->sel = parse_selection_set(p)) ? o : NULL;
	if (at_name(p, "query"))
		o->kind = OP_QUERY;
	else if (at_name(p, "mutation"))
		o->kind = OP_MUTATION;
	else if (at_name(p, "subscription"))
		o->kind = OP_SUBSCRIPTION;
	else
		return unexpected(p, "operation"), NULL;
	if (advance(p) < 0)
		return NULL;
	if (p->tok.kind == T_NAME && !(o->name = name(p)))
		return NULL;
	if (parse_vardefs(p, &o->vars) < 0 ||
	    parse_directives(p, &o->dirs, false) < 0 ||
	    !(o->sel = parse_selection_set(p)))
		return NULL;
	return o;
}

static struct frag *parse_fragment(struct parser *p)
{
	struct frag *f = alloc(p, sizeof(*f));

	if (!f)
		return NULL;
	f->loc = p->tok.loc;
	f->depth = -1;
	if (advance(p) < 0)
		return NULL;
	if (at_name(p, "on")) {
		unexpected(p, "fragment name");
		return NULL;
	}
	if (!(f->name = name(p)))
		return NULL;
	if (!at_name(p, "on")) {
		unexpected(p, "\"on\"");
		return NULL;
	}
	if (advance(p) < 0 || !(f->cond = name(p)) ||
	    parse_directives(p, &f->dirs, false) < 0 ||
	    !(f->sel = parse_selection_set(p)))
		return NULL;
	return f;
}

static int parse_document(struct parser *p, struct doc *d)
{
	struct op **otail = &d->ops, *o;
	struct frag **ftail = &d->frags, *f;

	if (advance(p) < 0)
		return -1;
	if (p->tok.kind == T_EOF)
		return unexpected(p, "definition");
	while (p->tok.kind != T_EOF) {
		if (at_name(p, "fragment")) {
			if (!(f = parse_fragment(p)))
				return -1;
			*ftail = f;
			ftail = &f->next;
			continue;
		}
		if (!(o = parse_operation(p)))
			return -1;
		*otail = o;
		otail = &o->next;
	}
	return 0;
}

static void parser_init(struct parser *p, struct arena *a, const char *src,
                        size_t len, const struct gql_limits *lim,
                        struct gql_error *e)
{
	*p = (struct parser){.src = src,
	                     .end = src + len,
	                     .pos = src,
	                     .line_start = src,
	                     .line = 1,
	                     .arena = a,
	                     .lim = gql_limits_fill(lim),
	                     .e = e};
	memset(e, 0, sizeof(*e));
}

int gql_parse(struct doc *d, const char *src, size_t len,
              const struct gql_limits *lim, struct gql_error *e)
{
	struct parser p;

	parser_init(&p, &d->arena, src, len, lim, e);
	if (len > p.lim.max_bytes)
		return fail_at(&p, (struct gql_loc){1, 1},
		               "Query is too large (more than %zu bytes).",
		               p.lim.max_bytes);
	if (check_source(&p) < 0)
		return -1;
	return parse_document(&p, d);
}

struct tref *gql_parse_type(struct arena *a, const char *src,
                            struct gql_error *e)
{
	struct parser p;
	struct tref *t;

	parser_init(&p, a, src, strlen(src), NULL, e);
	if (check_source(&p) < 0 || advance(&p) < 0 || !(t = parse_type(&p)))
		return NULL;
	if (p.tok.kind != T_EOF)
		return unexpected(&p, "<EOF>"), NULL;
	return t;
}

struct gval *gql_parse_value(struct arena *a, const char *src,
                             struct gql_error *e)
{
	struct parser p;
	struct gval *v;

	parser_init(&p, a, src, strlen(src), NULL, e);
	if (check_source(&p) < 0 || advance(&p) < 0 ||
	    !(v = parse_value(&p, true)))
		return NULL;
	if (p.tok.kind != T_EOF)
		return unexpected(&p, "<EOF>"), NULL;
	return v;
}
