/* SPDX-License-Identifier: Apache-2.0 */
/*
 * graphql.h - a GraphQL executor of dray's own (spec of October 2021):
 * parses executable documents, validates them against a schema described
 * by C tables, and executes queries through resolver callbacks, with
 * jansson values in and out.
 *
 * The schema is built once from static tables (gql_schema_new()) and is
 * immutable afterwards, so one schema serves every thread; gql_execute()
 * keeps all of its state on the request. Only queries run: mutations and
 * subscriptions parse, and are refused at execution. Object types only:
 * no interfaces or unions. Directives: @skip and @include. Validation
 * leaves a variable's type against where it is used to execution, which
 * coerces the value again there (a mismatch is a field error).
 *
 * Malformed, hostile or oversized requests never fail the call: they get
 * a response {"errors":[{"message", "locations"}]} as the spec says.
 */
#ifndef DRAY_GRAPHQL_H
#define DRAY_GRAPHQL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/err.h"

struct gql_schema; /* opaque */

/* The kind of a schema type (the introspection __TypeKind). */
enum gql_kind {
	GQL_SCALAR,
	GQL_OBJECT,
	GQL_ENUM,
	GQL_INPUT_OBJECT,
};

/*
 * What a resolver is called with; everything is borrowed for the call
 * and must not be modified (the arguments of a field are coerced once
 * and shared by every object it is resolved on).
 */
struct gql_call {
	const struct gql_schema *schema; /* the schema being executed */
	void *ctx;          /* the request's context (gql_request.ctx) */
	json_t *parent;     /* the parent object's value */
	json_t *args;       /* the coerced arguments, an object */
	const char *type;   /* the parent type's name */
	const char *field;  /* the field's name (not its alias) */
	const void *fields; /* the merged selections (gql_call_selects) */
};

/*
 * A field's resolver: returns a new reference to the field's value
 * (json_null() for null), or NULL with @err set. The error becomes a
 * GraphQL field error with err->msg as its message (so it must not hold
 * secrets) and the field's path; the field is null. A value for an
 * object type is the parent of that object's fields; one for a list is
 * a JSON array. Must be thread-safe when requests run in parallel, and
 * so must not hand out a reference to a value other threads also use:
 * jansson's json_incref() reads the count unlocked (return a copy).
 */
typedef json_t *(*gql_resolve_fn)(const struct gql_call *call, struct err *err);

/*
 * A custom scalar's input check: 0 if @value (a JSON string, number or
 * boolean) is a valid value of the scalar, else -1 with ERR_INVALID.
 */
typedef int (*gql_scalar_check_fn)(const json_t *value, struct err *err);

/*
 * An argument of a field, or a field of an input object. Types are
 * written as in SDL: "Int", "[String!]!". Defaults as GraphQL literals.
 */
struct gql_arg_def {
	const char *name;        /* NULL ends a list */
	const char *type;        /* an input type, SDL notation */
	const char *def;         /* default value literal, or NULL */
	const char *description; /* or NULL */
};

/* A field of an object type. */
struct gql_field_def {
	const char *name;               /* NULL ends a list */
	const char *type;               /* an output type, SDL notation */
	const struct gql_arg_def *args; /* NULL-name-terminated, or NULL */
	gql_resolve_fn resolve;         /* NULL: the parent's member @name */
	const char *description;        /* or NULL */
};

/* One type of the schema. */
struct gql_type_def {
	enum gql_kind kind;
	const char *name;        /* NULL ends the table */
	const char *description; /* or NULL */
	/* GQL_OBJECT: its fields, NULL-name-terminated */
	const struct gql_field_def *fields;
	/* GQL_INPUT_OBJECT: its fields, NULL-name-terminated */
	const struct gql_arg_def *input_fields;
	/* GQL_ENUM: its values, NULL-terminated */
	const char *const *enum_values;
	/* GQL_SCALAR: input check; NULL accepts any non-null leaf value */
	gql_scalar_check_fn check;
};

/*
 * Limits on a request; 0 in a field means its default below. Besides
 * these, fragments may spread each other at most 32 levels deep.
 */
struct gql_limits {
	size_t max_bytes;        /* document size (64 KiB) */
	unsigned max_depth;      /* nesting of selections and values (16) */
	unsigned max_selections; /* fields and fragments in it (1,000) */
	unsigned max_work;       /* fields collected and values completed
	                          * while executing (1,000,000) */
};

/* One request. */
struct gql_request {
	const char *query;     /* the document, not NUL-terminated */
	size_t len;            /* its length in bytes */
	json_t *variables;     /* an object, or NULL */
	const char *operation; /* operationName, or NULL */
	void *ctx;             /* handed to every resolver */
};

/*
 * Build a schema from @types (ended by a NULL name), whose query root is
 * the object type named @query. The tables are borrowed for the life of
 * the schema. The built-in scalars (Int, Float, String, Boolean, ID) and
 * the introspection types are added. Returns the schema, or NULL with
 * ERR_INVALID (a duplicate or unknown type name, a bad type string,
 * an output type where an input is needed or the reverse, a default
 * that does not fit its type) or ERR_NOMEM.
 */
MUST_CHECK struct gql_schema *gql_schema_new(const struct gql_type_def *types,
                                             const char *query,
                                             struct err *err);

/* Release @s. Accepts NULL. */
void gql_schema_free(struct gql_schema *s);

/*
 * The schema in SDL (without the built-in scalars and introspection
 * types), a NUL-terminated string the caller frees, or NULL with
 * ERR_NOMEM.
 */
MUST_CHECK char *gql_schema_sdl(const struct gql_schema *s, struct err *err);

/*
 * Parse, validate and execute @req against @s with @lim (NULL for the
 * defaults). Returns the response (a new reference): {"data": ...} with
 * "errors" when fields failed, or {"errors": [...]} alone when the
 * request could not run (syntax, validation, variables, limits). Returns
 * NULL only with ERR_NOMEM (out of memory) or ERR_INTERNAL.
 */
MUST_CHECK json_t *gql_execute(const struct gql_schema *s,
                               const struct gql_request *req,
                               const struct gql_limits *lim, struct err *err);

/*
 * Whether the selection of the field being resolved (@call) asks for
 * its sub-field @name (directly, through fragments or in a merged
 * field), so a resolver can skip work nobody asked for. Cannot fail.
 */
bool gql_call_selects(const struct gql_call *call, const char *name);

#endif
