/* SPDX-License-Identifier: Apache-2.0 */
/*
 * graphql_int.h - what the files of the GraphQL module share: the arena
 * the documents and schemas live in, the syntax tree of an executable
 * document (gql_parse.c), the compiled schema (gql_schema.c), input
 * coercion (gql_coerce.c), validation (gql_valid.c), execution
 * (gql_exec.c) and introspection (gql_intro.c).
 */
#ifndef DRAY_GRAPHQL_INT_H
#define DRAY_GRAPHQL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "search/graphql.h"

/* Bump allocator: everything of one document or schema, freed at once. */
struct arena_block {
	struct arena_block *next; /* the block allocated before this one */
	size_t used, size;        /* bytes handed out, bytes in data[] */
	max_align_t data[];       /* the memory */
};

struct arena {
	struct arena_block *head; /* newest block, or NULL */
};

void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_release(struct arena *a);

/* A location in the document, 1-based. */
struct gql_loc {
	unsigned line, col;
};

/* A type reference: Name, [T] or T!. */
enum tref_kind { TREF_NAMED, TREF_LIST, TREF_NON_NULL };

struct tref {
	enum tref_kind kind;
	const char *name;    /* TREF_NAMED */
	struct tref *of;     /* TREF_LIST, TREF_NON_NULL */
	struct gql_loc loc;  /* where it was written */
	struct stype *named; /* TREF_NAMED once resolved, else NULL */
};

enum gval_kind {
	GV_VAR,
	GV_INT,
	GV_FLOAT,
	GV_STRING,
	GV_BOOL,
	GV_NULL,
	GV_ENUM,
	GV_LIST,
	GV_OBJECT,
};

/* A literal value; list items and object fields are chained by next. */
struct gval {
	enum gval_kind kind;
	const char *str;    /* VAR name, INT/FLOAT text, STRING, ENUM */
	bool b;             /* BOOL */
	struct gval *items; /* LIST items, OBJECT fields */
	const char *name;   /* the field's name inside an OBJECT */
	struct gval *next;  /* the next item or field */
	struct gql_loc loc;
};

/* An argument, or a directive; arguments are gvals with a name. */
struct gdir {
	const char *name;
	struct gval *args;
	struct gdir *next;
	struct gql_loc loc;
};

enum sel_kind { SEL_FIELD, SEL_SPREAD, SEL_INLINE };

struct sel {
	enum sel_kind kind;
	const char *alias;  /* FIELD: the response key if aliased */
	const char *name;   /* FIELD: the field; SPREAD: the fragment */
	struct gval *args;  /* FIELD: arguments */
	struct gdir *dirs;  /* directives */
	struct sel *sub;    /* FIELD, INLINE: selection set, or NULL */
	const char *cond;   /* INLINE: type condition, or NULL */
	struct sel *next;   /* the next selection of the set */
	json_t *args_cache; /* FIELD: coerced arguments (gql_exec.c) */
	struct gql_loc loc;
};

struct vardef {
	const char *name;
	struct tref *type;
	struct gval *def; /* default, or NULL */
	struct vardef *next;
	struct gql_loc loc;
};

enum op_kind { OP_QUERY, OP_MUTATION, OP_SUBSCRIPTION };

struct frag {
	const char *name;
	const char *cond; /* type condition */
	struct gdir *dirs;
	struct sel *sel;
	struct frag *next;
	struct gql_loc loc;
	unsigned mark; /* visit generation (validation, execution) */
	int depth;     /* field depth, -1 until computed */
	bool on_stack; /* cycle detection */
	int nest;      /* longest chain of spreads from here */
};

struct op {
	enum op_kind kind;
	const char *name; /* or NULL */
	struct vardef *vars;
	struct gdir *dirs;
	struct sel *sel;
	struct op *next;
	struct gql_loc loc;
};

struct doc {
	struct arena arena; /* owns everything below */
	struct op *ops;
	struct frag *frags;
};

/* A request error: message and location. */
struct gql_error {
	char msg[ERR_MSG_MAX];
	struct gql_loc loc;
	bool oom; /* out of memory, not the request's fault */
};

/* The limits with every 0 replaced by its default. */
struct gql_limits gql_limits_fill(const struct gql_limits *lim);

/*
 * Parse @len bytes of @src into @d (initialised by the caller, released
 * by doc_release() whatever happens). 0, or -1 with @e filled.
 */
int gql_parse(struct doc *d, const char *src, size_t len,
              const struct gql_limits *lim, struct gql_error *e);

/* Parse a whole type reference (schema tables) into @a. */
struct tref *gql_parse_type(struct arena *a, const char *src,
                            struct gql_error *e);

/* Parse a whole constant value (defaults in schema tables) into @a. */
struct gval *gql_parse_value(struct arena *a, const char *src,
                             struct gql_error *e);

void doc_release(struct doc *d);

/* The fragment of @d named @name, or NULL. */
struct frag *doc_frag(const struct doc *d, const char *name);

/* Compiled schema. */
struct sarg {
	const struct gql_arg_def *def;
	struct tref *type;
	json_t *def_value; /* coerced default, or NULL when there is none */
};

struct sfield {
	const struct gql_field_def *def;
	const char *name;
	struct tref *type;
	struct sarg *args;
	size_t nargs;
};

struct stype {
	enum gql_kind kind;
	const char *name;
	const char *description;
	const struct gql_type_def *def;
	struct sfield *fields; /* OBJECT */
	size_t nfields;
	struct sarg *inputs; /* INPUT_OBJECT */
	size_t ninputs;
	bool builtin;       /* a built-in scalar or introspection type */
	bool defaults_done; /* gql_schema_new() compiled its defaults */
};

struct gql_schema {
	struct arena arena;
	struct stype *types;
	size_t ntypes;
	struct stype *query;
	struct sfield meta[2]; /* __schema and __type on the query type */
	struct sarg type_arg;  /* __type(name: String!) */
};

struct stype *schema_type(const struct gql_schema *s, const char *name);
const struct sfield *schema_field(const struct gql_schema *s,
                                  const struct stype *t, const char *name);
const struct sarg *field_arg(const struct sfield *f, const char *name);
bool stype_is_input(const struct stype *t);
/* Whether the enum @t has the value @v. */
bool stype_has_value(const struct stype *t, const char *v);
bool stype_is_leaf(const struct stype *t);
/* The named type under the wrappers of @t. */
struct stype *tref_named(const struct tref *t);
/* @t in SDL notation into @buf. */
void tref_format(const struct tref *t, char *buf, size_t size);

/* The introspection types, appended to every schema. */
extern const struct gql_type_def gql_intro_types[];
json_t *gql_intro_schema(const struct gql_call *call, struct err *err);
json_t *gql_intro_type(const struct gql_call *call, struct err *err);

/*
 * Input coercion (spec 3.5 "Input Coercion"). Returns 0 with *out a new
 * reference (NULL when the value is absent and has no default), or -1
 * with @err (ERR_INVALID, or ERR_NOMEM).
 */
int coerce_json(const struct tref *t, json_t *in, json_t **out,
                struct err *err);
/* @vars: the coerced variables; NULL when only checking a literal. */
int coerce_literal(const struct tref *t, const struct gval *v, json_t *vars,
                   json_t **out, struct err *err);
/* The arguments of @f given @args into a new object *out. */
int coerce_args(const struct sarg *defs, size_t n, const struct gval *args,
                json_t *vars, json_t **out, struct err *err);

/* Validation (spec 5) of @d against @s; 0, or -1 with @e. */
int gql_validate(const struct gql_schema *s, struct doc *d,
                 const struct gql_limits *lim, struct gql_error *e);

/* One execution of an operation. */
struct exec {
	const struct gql_schema *s;
	struct doc *d;  /* the document; its arena holds our lists */
	json_t *vars;   /* coerced variables */
	json_t *root;   /* the query root's value */
	json_t *errors; /* field errors so far */
	json_t *keep;   /* holds every sel->args_cache */
	void *ctx;      /* the request's context */
	struct gql_limits lim;
	unsigned work;   /* steps spent of lim.max_work */
	unsigned gen;    /* frag->mark of the current collection */
	bool stop;       /* unwinding: out of memory or of work */
	bool over;       /* out of work */
	struct err *err; /* ERR_NOMEM when out of memory */
};

/* data for @o, or NULL when it is null (errors in ex->errors). */
json_t *exec_query(struct exec *ex, const struct op *o);

/* The length of the longest valid UTF-8 prefix of @s (@n bytes). */
size_t gql_utf8_prefix(const char *s, size_t n);

/*
 * A new error object {"message", "locations"}; a message that is not
 * valid UTF-8 (a client's string cut by a buffer) is cut before the
 * first bad byte. NULL when out of memory.
 */
json_t *gql_error_json(const char *msg, struct gql_loc loc);

#endif
