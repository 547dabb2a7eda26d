/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_schema.c - the schema: compiled from the caller's C tables plus the
 * built-in scalars and the introspection types, checked once (every type
 * string resolves, inputs are input types, outputs output types, defaults
 * fit), then immutable. Also prints it as SDL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/graphql_int.h"

static const struct gql_type_def builtin_scalars[] = {
	{GQL_SCALAR, "Int",
         "The `Int` scalar type represents non-fractional signed whole numeric "
         "values between -2^31 and 2^31-1.",
         NULL, NULL, NULL, NULL},
	{GQL_SCALAR, "Float",
         "The `Float` scalar type represents signed double-precision "
         "fractional values.",
         NULL, NULL, NULL, NULL},
	{GQL_SCALAR, "String",
         "The `String` scalar type represents textual data as UTF-8.", NULL,
         NULL, NULL, NULL},
	{GQL_SCALAR, "Boolean",
         "The `Boolean` scalar type represents `true` "
         "or `false`.",
         NULL, NULL, NULL, NULL},
	{GQL_SCALAR, "ID",
         "The `ID` scalar type represents a unique identifier, serialized as a "
         "String.",
         NULL, NULL, NULL, NULL},
	{0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_arg_def type_args[] = {
	{"name", "String!", NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

static const struct gql_field_def meta_fields[] = {
	{"__schema", "__Schema!", NULL, gql_intro_schema,
         "Access the current type schema of this server."},
	{"__type", "__Type", type_args, gql_intro_type,
         "Request the type information of a single type."},
};

static size_t table_len(const struct gql_type_def *t)
{
	size_t n = 0;

	while (t && t[n].name)
		n++;
	return n;
}

struct stype *schema_type(const struct gql_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ntypes; i++)
		if (!strcmp(s->types[i].name, name))
			return &s->types[i];
	return NULL;
}

const struct sfield *schema_field(const struct gql_schema *s,
                                  const struct stype *t, const char *name)
{
	for (size_t i = 0; i < t->nfields; i++)
		if (!strcmp(t->fields[i].name, name))
			return &t->fields[i];
	if (t == s->query)
		for (size_t i = 0; i < 2; i++)
			if (!strcmp(s->meta[i].name, name))
				return &s->meta[i];
	return NULL;
}

const struct sarg *field_arg(const struct sfield *f, const char *name)
{
	for (size_t i = 0; i < f->nargs; i++)
		if (!strcmp(f->args[i].def->name, name))
			return &f->args[i];
	return NULL;
}

bool stype_has_value(const struct stype *t, const char *v)
{
	for (size_t i = 0; t->def->enum_values[i]; i++)
		if (!strcmp(t->def->enum_values[i], v))
			return true;
	return false;
}

bool stype_is_input(const struct stype *t)
{
	return t->kind != GQL_OBJECT;
}

bool stype_is_leaf(const struct stype *t)
{
	return t->kind == GQL_SCALAR || t->kind == GQL_ENUM;
}

struct stype *tref_named(const struct tref *t)
{
	while (t->kind != TREF_NAMED)
		t = t->of;
	return t->named;
}

void tref_format(const struct tref *t, char *buf, size_t size)
{
	char inner[256];
	int n = 0;

	switch (t->kind) {
	case TREF_NAMED:
		n = snprintf(buf, size, "%s", t->name);
		break;
	case TREF_LIST:
		tref_format(t->of, inner, sizeof(inner));
		n = snprintf(buf, size, "[%s]", inner);
		break;
	case TREF_NON_NULL:
		tref_format(t->of, inner, sizeof(inner));
		n = snprintf(buf, size, "%s!", inner);
		break;
	}
	/* A name too long is cut (snprintf ends it): only messages use it. */
	if (n < 0 && size)
		buf[0] = '\0';
}

/* Parse @src and resolve its named type; @input: must be an input type. */
static struct tref *compile_type(struct gql_schema *s, const char *src,
                                 bool input, const char *where, struct err *err)
{
	struct gql_error e;
	struct tref *t = gql_parse_type(&s->arena, src ? src : "", &e), *n;

	if (!t) {
		err_set(err, e.oom ? ERR_NOMEM : ERR_INVALID,
		        "%s: type '%s': %s", where, src ? src : "", e.msg);
		return NULL;
	}
	for (n = t; n->kind != TREF_NAMED; n = n->of)
		;
	n->named = schema_type(s, n->name);
	if (!n->named) {
		err_set(err, ERR_INVALID, "%s: unknown type '%s'", where,
		        n->name);
		return NULL;
	}
	if (input ? !stype_is_input(n->named)
	          : n->named->kind == GQL_INPUT_OBJECT) {
		err_set(err, ERR_INVALID, "%s: '%s' is not an %s type", where,
		        n->name, input ? "input" : "output");
		return NULL;
	}
	return t;
}

static int compile_args(struct gql_schema *s, const struct gql_arg_def *defs,
                        struct sarg **out, size_t *n, const char *where,
                        struct err *err)
{
	char w[256];
	size_t i;

	for (*n = 0; defs && defs[*n].name; (*n)++)
		;
	*out = *n ? arena_alloc(&s->arena, *n * sizeof(**out)) : NULL;
	if (*n && !*out)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < *n; i++) {
		snprintf(w, sizeof(w), "%s(%s)", where, defs[i].name);
		(*out)[i].def = &defs[i];
		(*out)[i].type = compile_type(s, defs[i].type, true, w, err);
		if (!(*out)[i].type)
			return -1;
	}
	return 0;
}

static int compile_fields(struct gql_schema *s, struct stype *t,
                          struct err *err)
{
	const struct gql_field_def *defs = t->def->fields;
	char w[256];
	size_t i;

	for (t->nfields = 0; defs && defs[t->nfields].name; t->nfields++)
		;
	if (!t->nfields)
		return err_set(err, ERR_INVALID, "type '%s' has no fields",
		               t->name);
	t->fields = arena_alloc(&s->arena, t->nfields * sizeof(*t->fields));
	if (!t->fields)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < t->nfields; i++) {
		struct sfield *f = &t->fields[i];

		snprintf(w, sizeof(w), "%s.%s", t->name, defs[i].name);
		f->def = &defs[i];
		f->name = defs[i].name;
		f->type = compile_type(s, defs[i].type, false, w, err);
		if (!f->type || compile_args(s, defs[i].args, &f->args,
		                             &f->nargs, w, err) < 0)
			return -1;
	}
	return 0;
}

static int compile_type_def(struct gql_schema *s, struct stype *t,
                            struct err *err)
{
	if (t->kind == GQL_OBJECT)
		return compile_fields(s, t, err);
	if (t->kind == GQL_INPUT_OBJECT)
		return compile_args(s, t->def->input_fields, &t->inputs,
		                    &t->ninputs, t->name, err);
	if (t->kind == GQL_ENUM &&
	    !(t->def->enum_values && t->def->enum_values[0]))
		return err_set(err, ERR_INVALID, "enum '%s' has no values",
		               t->name);
	return 0;
}

/* Coerce the default of @a once, so every request reuses it. */
static int compile_default(struct gql_schema *s, struct sarg *a,
                           const char *where, struct err *err)
{
	struct gql_error e;
	struct gval *v;

	if (!a->def->def)
		return 0;
	v = gql_parse_value(&s->arena, a->def->def, &e);
	if (!v)
		return err_set(err, e.oom ? ERR_NOMEM : ERR_INVALID,
		               "%s.%s: default '%s': %s", where, a->def->name,
		               a->def->def, e.msg);
	if (coerce_literal(a->type, v, NULL, &a->def_value, err) < 0) {
		err_prefix(err, "%s.%s: default", where, a->def->name);
		return -1;
	}
	return 0;
}

static int compile_defaults(struct gql_schema *s, struct stype *t,
                            struct err *err);

/*
 * The default of @a, after the defaults of the input type it is of, so
 * that a default like {} gets the fields' own defaults filled in.
 */
static int compile_arg_default(struct gql_schema *s, struct sarg *a,
                               const char *where, struct err *err)
{
	struct stype *nt = tref_named(a->type);

	if (nt->kind == GQL_INPUT_OBJECT && compile_defaults(s, nt, err) < 0)
		return -1;
	return compile_default(s, a, where, err);
}

static int compile_defaults(struct gql_schema *s, struct stype *t,
                            struct err *err)
{
	/* Input types may refer to themselves: visit each once. */
	if (t->defaults_done)
		return 0;
	t->defaults_done = true;
	for (size_t i = 0; i < t->ninputs; i++)
		if (compile_arg_default(s, &t->inputs[i], t->name, err) < 0)
			return -1;
	for (size_t i = 0; i < t->nfields; i++)
		for (size_t j = 0; j < t->fields[i].nargs; j++)
			if (compile_arg_default(s, &t->fields[i].args[j],
			                        t->name, err) < 0)
				return -1;
	return 0;
}

static int add_types(struct gql_schema *s, const struct gql_type_def *defs,
                     bool builtin, struct err *err)
{
	for (size_t i = 0; defs[i].name; i++) {
		struct stype *t = &s->types[s->ntypes];

		if (schema_type(s, defs[i].name))
			return err_set(err, ERR_INVALID, "duplicate type '%s'",
			               defs[i].name);
		t->kind = defs[i].kind;
		t->name = defs[i].name;
		t->description = defs[i].description;
		t->def = &defs[i];
		t->builtin = builtin;
		s->ntypes++;
	}
	return 0;
}

static int compile_meta(struct gql_schema *s, struct err *err)
{
	for (size_t i = 0; i < 2; i++) {
		struct sfield *f = &s->meta[i];

		f->def = &meta_fields[i];
		f->name = meta_fields[i].name;
		f->type = compile_type(s, meta_fields[i].type, false, f->name,
		                       err);
		if (!f->type || compile_args(s, meta_fields[i].args, &f->args,
		                             &f->nargs, f->name, err) < 0)
			return -1;
	}
	return 0;
}

struct gql_schema *gql_schema_new(const struct gql_type_def *types,
                                  const char *query, struct err *err)
{
	size_t n = table_len(builtin_scalars) + table_len(types) +
	           table_len(gql_intro_types);
	struct gql_schema *s = calloc(1, sizeof(*s));

	if (!s) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->types = arena_alloc(&s->arena, n * sizeof(*s->types));
	if (!s->types) {
		err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (add_types(s, builtin_scalars, true, err) < 0 ||
	    add_types(s, types, false, err) < 0 ||
	    add_types(s, gql_intro_types, true, err) < 0)
		goto fail;
	for (size_t i = 0; i < s->ntypes; i++)
		if (compile_type_def(s, &s->types[i], err) < 0)
			goto fail;
	for (size_t i = 0; i < s->ntypes; i++)
		if (compile_defaults(s, &s->types[i], err) < 0)
			goto fail;
	s->query = schema_type(s, query);
	if (!s->query || s->query->kind != GQL_OBJECT) {
		err_set(err, ERR_INVALID, "no object type '%s' for queries",
		        query);
		goto fail;
	}
	if (compile_meta(s, err) < 0)
		goto fail;
	return s;
fail:
	gql_schema_free(s);
	return NULL;
}

static void free_defaults(struct sarg *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(a[i].def_value);
}

void gql_schema_free(struct gql_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntypes; i++) {
		struct stype *t = &s->types[i];

		free_defaults(t->inputs, t->ninputs);
		for (size_t j = 0; j < t->nfields; j++)
			free_defaults(t->fields[j].args, t->fields[j].nargs);
	}
	arena_release(&s->arena);
	free(s);
}

/* A description as a block string, indented by @ind. */
static void print_description(FILE *f, const char *d, const char *ind)
{
	if (!d)
		return;
	fprintf(f, "%s\"\"\"\n%s", ind, ind);
	for (; *d; d++) {
		if (*d == '\n')
			fprintf(f, "\n%s", ind);
		else if (!strncmp(d, "\"\"\"", 3))
			fputs("\\\"", f);
		else
			fputc(*d, f);
	}
	fprintf(f, "\n%s\"\"\"\n", ind);
}

static void print_arg(FILE *f, const struct sarg *a)
{
	char buf[256];

	tref_format(a->type, buf, sizeof(buf));
	fprintf(f, "%s: %s", a->def->name, buf);
	if (a->def->def)
		fprintf(f, " = %s", a->def->def);
}

static void print_args(FILE *f, const struct sarg *a, size_t n)
{
	bool described = false;

	for (size_t i = 0; i < n; i++)
		described = described || a[i].def->description;
	if (!n)
		return;
	fputc('(', f);
	for (size_t i = 0; i < n; i++) {
		if (described) {
			fputc('\n', f);
			print_description(f, a[i].def->description, "    ");
			fputs("    ", f);
		} else if (i) {
			fputs(", ", f);
		}
		print_arg(f, &a[i]);
	}
	fputs(described ? "\n  )" : ")", f);
}

static void print_type(FILE *f, const struct stype *t)
{
	static const char *const kw[] = {"scalar", "type", "enum", "input"};
	char buf[256];

	print_description(f, t->description, "");
	fprintf(f, "%s %s", kw[t->kind], t->name);
	if (t->kind == GQL_SCALAR) {
		fputs("\n\n", f);
		return;
	}
	fputs(" {\n", f);
	for (size_t i = 0; i < t->nfields; i++) {
		print_description(f, t->fields[i].def->description, "  ");
		fprintf(f, "  %s", t->fields[i].name);
		print_args(f, t->fields[i].args, t->fields[i].nargs);
		tref_format(t->fields[i].type, buf, sizeof(buf));
		fprintf(f, ": %s\n", buf);
	}
	for (size_t i = 0; i < t->ninputs; i++) {
		print_description(f, t->inputs[i].def->description, "  ");
		fputs("  ", f);
		print_arg(f, &t->inputs[i]);
		fputc('\n', f);
	}
	for (size_t i = 0; t->kind == GQL_ENUM && t->def->enum_values[i]; i++)
		fprintf(f, "  %s\n", t->def->enum_values[i]);
	fputs("}\n\n", f);
}

char *gql_schema_sdl(const struct gql_schema *s, struct err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		err_set_errno(err, errno, "cannot print the schema");
		return NULL;
	}
	if (strcmp(s->query->name, "Query"))
		fprintf(f, "schema {\n  query: %s\n}\n\n", s->query->name);
	for (size_t i = 0; i < s->ntypes; i++)
		if (!s->types[i].builtin)
			print_type(f, &s->types[i]);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		err_set(err, ERR_NOMEM, "cannot print the schema");
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		err_set(err, ERR_NOMEM, "cannot print the schema");
		return NULL;
	}
	return buf;
}
