/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_exec.c - execution of a validated query (spec section 6): fields
 * are collected per response key (fragments and @skip/@include applied,
 * same keys merged), resolved through the schema's callbacks and
 * completed against their types. A field error is recorded with its
 * path and nulls the nearest nullable position above it (6.4.4).
 *
 * Every collected selection and every completed value counts against
 * max_work, so a document that fans out (aliases, fragments, big lists)
 * stops with one error instead of exhausting the machine.
 */
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "search/graphql_int.h"

struct fref {
	struct sel *sel;
	struct fref *next;
};

/* The fields of one response key, in document order. */
struct group {
	const char *key;  /* alias or name */
	const char *name; /* the field */
	struct fref *fields, **tail;
	struct group *next;
	bool conflict; /* fields of other names share the key */
	/* the merged sub-selections, collected once for every list item */
	const struct stype *sub_type; /* the type they were collected for */
	struct group *sub;
};

struct path {
	const char *key; /* or NULL for a list index */
	size_t idx;      /* list index when !key */
	const struct path *up;
};

/* What gql_call.fields points to. */
struct callsel {
	struct exec *ex;
	const struct group *g;
};

static void out_of_memory(struct exec *ex)
{
	ex->stop = true;
	ex->over = false;
	err_set(ex->err, ERR_NOMEM, "out of memory");
}

static void add_error(struct exec *ex, const char *msg, struct gql_loc loc,
                      const struct path *p)
{
	json_t *e = gql_error_json(msg, loc), *path = json_array(), *seg;

	if (!e || !path)
		goto oom;
	for (; p; p = p->up) {
		seg = p->key ? json_string(p->key)
		             : json_integer((json_int_t)p->idx);
		if (!seg || json_array_insert_new(path, 0, seg) < 0)
			goto oom;
	}
	if (json_object_set_new(e, "path", path) < 0) {
		path = NULL; /* freed by jansson */
		goto oom;
	}
	if (json_array_append_new(ex->errors, e) < 0)
		goto oom_freed;
	return;
oom:
	json_decref(e);
	json_decref(path);
oom_freed:
	out_of_memory(ex);
}

/* Count one step; false once the budget is spent (recorded once). */
static bool spend(struct exec *ex, struct gql_loc loc)
{
	char msg[96];
	json_t *e;

	if (ex->stop)
		return false;
	if (++ex->work <= ex->lim.max_work)
		return true;
	snprintf(msg, sizeof(msg),
	         "Query needs too much work (more than %u steps).",
	         ex->lim.max_work);
	ex->over = true;
	ex->stop = true;
	e = gql_error_json(msg, loc);
	if (!e || json_array_append_new(ex->errors, e) < 0)
		out_of_memory(ex);
	return false;
}

static void *xalloc(struct exec *ex, size_t n)
{
	void *p = arena_alloc(&ex->d->arena, n);

	if (!p)
		out_of_memory(ex);
	return p;
}

static bool directive_if(const struct exec *ex, const struct gval *v)
{
	if (v->kind == GV_VAR)
		return json_is_true(json_object_get(ex->vars, v->str));
	return v->kind == GV_BOOL && v->b;
}

/* @skip and @include (spec 3.13.1, 3.13.2). */
static bool included(const struct exec *ex, const struct gdir *d)
{
	for (; d; d = d->next) {
		bool cond = directive_if(ex, d->args);

		if (!strcmp(d->name, "skip") ? cond : !cond)
			return false;
	}
	return true;
}

static bool gval_equal(const struct gval *a, const struct gval *b);

static size_t gval_count(const struct gval *v)
{
	size_t n = 0;

	for (; v; v = v->next)
		n++;
	return n;
}

static bool items_equal(const struct gval *a, const struct gval *b)
{
	for (; a && b; a = a->next, b = b->next)
		if (!gval_equal(a, b))
			return false;
	return !a && !b;
}

/* Arguments or object fields: the same names with the same values. */
static bool fields_equal(const struct gval *a, const struct gval *b)
{
	const struct gval *y;

	if (gval_count(a) != gval_count(b))
		return false;
	for (; a; a = a->next) {
		for (y = b; y && strcmp(a->name, y->name); y = y->next)
			;
		if (!y || !gval_equal(a, y))
			return false;
	}
	return true;
}

static bool gval_equal(const struct gval *a, const struct gval *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case GV_BOOL:
		return a->b == b->b;
	case GV_NULL:
		return true;
	case GV_LIST:
		return items_equal(a->items, b->items);
	case GV_OBJECT:
		return fields_equal(a->items, b->items);
	default:
		return !strcmp(a->str, b->str);
	}
}

static int add_field(struct exec *ex, struct group **head, struct sel *s)
{
	const char *key = s->alias ? s->alias : s->name;
	struct group *g, **link = head;
	struct fref *f = xalloc(ex, sizeof(*f));

	if (!f)
		return -1;
	f->sel = s;
	for (g = *head; g; link = &g->next, g = g->next)
		if (!strcmp(g->key, key))
			break;
	if (!g) {
		if (!(g = xalloc(ex, sizeof(*g))))
			return -1;
		g->key = key;
		g->name = s->name;
		g->tail = &g->fields;
		*link = g;
	} else if (strcmp(g->name, s->name) ||
	           !fields_equal(g->fields->sel->args, s->args)) {
		/* Spec 5.3.2: they cannot merge into one answer. */
		g->conflict = true;
	}
	*g->tail = f;
	g->tail = &f->next;
	return 0;
}

/* CollectFields (spec 6.3.2) into *head; fragments once per ex->gen. */
static int collect(struct exec *ex, const struct stype *t, struct sel *s,
                   struct group **head)
{
	struct frag *f;

	for (; s; s = s->next) {
		if (!spend(ex, s->loc))
			return -1;
		if (!included(ex, s->dirs))
			continue;
		if (s->kind == SEL_FIELD) {
			if (add_field(ex, head, s) < 0)
				return -1;
			continue;
		}
		if (s->kind == SEL_INLINE) {
			if ((!s->cond || !strcmp(s->cond, t->name)) &&
			    collect(ex, t, s->sub, head) < 0)
				return -1;
			continue;
		}
		f = doc_frag(ex->d, s->name);
		if (!f || f->mark == ex->gen || strcmp(f->cond, t->name))
			continue;
		f->mark = ex->gen;
		if (collect(ex, t, f->sel, head) < 0)
			return -1;
	}
	return 0;
}

/* The sub-selections of every field of @g, merged (spec 6.4.3). */
static int collect_sub(struct exec *ex, const struct stype *t,
                       const struct group *g, struct group **head)
{
	*head = NULL;
	ex->gen++;
	for (const struct fref *f = g->fields; f; f = f->next)
		if (collect(ex, t, f->sel->sub, head) < 0)
			return -1;
	return 0;
}

PRINTF(4, 5)
static json_t *field_error(struct exec *ex, const struct group *g,
                           const struct path *p, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	add_error(ex, msg, g->fields->sel->loc, p);
	return NULL;
}

static json_t *serialize_int(json_t *v)
{
	double d;

	if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
	    json_integer_value(v) <= INT32_MAX)
		return json_incref(v);
	if (!json_is_real(v))
		return NULL;
	d = json_real_value(v);
	if (!(d >= INT32_MIN && d <= INT32_MAX) || d != (double)(int32_t)d)
		return NULL;
	return json_integer((json_int_t)d);
}

static json_t *serialize_string(json_t *v)
{
	char buf[32];

	if (json_is_string(v))
		return json_incref(v);
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
		return json_string(buf);
	}
	if (json_is_boolean(v))
		return json_string(json_is_true(v) ? "true" : "false");
	return NULL;
}

/* Output coercion of a leaf (spec 3.5, 3.9); NULL if @v does not fit. */
static json_t *serialize(const struct stype *t, json_t *v)
{
	const char *n = t->name;

	if (t->kind == GQL_ENUM)
		return json_is_string(v) &&
		                       stype_has_value(t, json_string_value(v))
		               ? json_incref(v)
		               : NULL;
	if (!t->builtin)
		return json_incref(v);
	if (!strcmp(n, "Int"))
		return serialize_int(v);
	if (!strcmp(n, "Float"))
		return json_is_number(v) ? json_incref(v) : NULL;
	if (!strcmp(n, "Boolean"))
		return json_is_boolean(v) ? json_incref(v) : NULL;
	if (!strcmp(n, "ID") && json_is_boolean(v))
		return NULL;
	return serialize_string(v);
}

static json_t *execute_fields(struct exec *ex, const struct stype *t,
                              json_t *parent, struct group *groups,
                              const struct path *p);

static json_t *complete(struct exec *ex, const struct tref *t, struct group *g,
                        json_t *v, const struct path *p);

static json_t *complete_list(struct exec *ex, const struct tref *t,
                             struct group *g, json_t *v, const struct path *p)
{
	json_t *out, *item, *c;
	size_t i;

	if (!json_is_array(v))
		return field_error(
			ex, g, p, "Expected a list for field \"%s\".", g->name);
	if (!(out = json_array()))
		goto oom;
	json_array_foreach(v, i, item)
	{
		struct path ip = {NULL, i, p};

		c = complete(ex, t->of, g, item, &ip);
		if (!c && (ex->stop || t->of->kind == TREF_NON_NULL))
			goto fail;
		if (json_array_append_new(out, c ? c : json_null()) < 0)
			goto oom;
	}
	return out;
oom:
	out_of_memory(ex);
fail:
	json_decref(out);
	return NULL;
}

/* CompleteValue (spec 6.4.3); NULL when an error was raised. */
static json_t *complete(struct exec *ex, const struct tref *t, struct group *g,
                        json_t *v, const struct path *p)
{
	const struct stype *nt;
	json_t *c;

	if (!spend(ex, g->fields->sel->loc))
		return NULL;
	if (t->kind == TREF_NON_NULL) {
		c = complete(ex, t->of, g, v, p);
		if (c && json_is_null(c)) {
			json_decref(c);
			return field_error(
				ex, g, p,
				"Cannot return null for non-nullable "
				"field \"%s\".",
				g->name);
		}
		return c;
	}
	if (json_is_null(v))
		return json_null();
	if (t->kind == TREF_LIST)
		return complete_list(ex, t, g, v, p);
	nt = t->named;
	if (stype_is_leaf(nt)) {
		c = serialize(nt, v);
		if (!c)
			return field_error(ex, g, p,
			                   "%s cannot represent the value of "
			                   "field \"%s\".",
			                   nt->name, g->name);
		return c;
	}
	if (g->sub_type != nt) {
		if (collect_sub(ex, nt, g, &g->sub) < 0)
			return NULL;
		g->sub_type = nt;
	}
	return execute_fields(ex, nt, v, g->sub, p);
}

/*
 * The coerced arguments of field @s (a new reference). They depend on
 * the document and the variables only, so they are coerced once per
 * request and shared by every object the field is resolved on.
 */
static int args_of(struct exec *ex, const struct sfield *f, struct sel *s,
                   json_t **out, struct err *err)
{
	if (!s->args_cache) {
		if (coerce_args(f->args, f->nargs, s->args, ex->vars, out,
		                err) < 0)
			return -1;
		if (json_array_append(ex->keep, *out) < 0) {
			json_decref(*out);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
		s->args_cache = *out;
		return 0;
	}
	*out = json_incref(s->args_cache);
	return 0;
}

static json_t *resolve(struct exec *ex, const struct stype *t,
                       const struct sfield *f, json_t *parent,
                       const struct group *g, const struct path *p)
{
	struct callsel cs = {ex, g};
	struct gql_call call = {.schema = ex->s,
	                        .ctx = ex->ctx,
	                        .parent = parent,
	                        .type = t->name,
	                        .field = f->name,
	                        .fields = &cs};
	struct err err = ERR_INIT;
	json_t *v;

	if (args_of(ex, f, g->fields->sel, &call.args, &err) < 0)
		goto fail;
	if (!f->def->resolve) {
		v = json_object_get(parent, f->name);
		v = v ? json_incref(v) : json_null();
	} else {
		v = f->def->resolve(&call, &err);
	}
	json_decref(call.args);
	if (v)
		return v;
	if (!err.code)
		err_set(&err, ERR_INTERNAL, "resolver failed without an error");
fail:
	if (err.code == ERR_NOMEM) {
		ex->stop = true;
		*ex->err = err;
		return NULL;
	}
	/* Never show the text of a server-side failure (STYLE.md 3). */
	if (err.code == ERR_IO || err.code == ERR_INTERNAL)
		snprintf(err.msg, sizeof(err.msg), "internal error");
	return field_error(ex, g, p, "%s", err.msg);
}

/* ExecuteField (spec 6.4.2); NULL only when the null must propagate. */
static json_t *execute_field(struct exec *ex, const struct stype *t,
                             json_t *parent, struct group *g,
                             const struct path *p)
{
	const struct sfield *f;
	json_t *v, *c = NULL;

	if (!strcmp(g->name, "__typename") && !g->conflict) {
		if (!(c = json_string(t->name)))
			out_of_memory(ex);
		return c;
	}
	f = schema_field(ex->s, t, g->name);
	if (!f || g->conflict) {
		field_error(ex, g, p,
		            "Fields \"%s\" conflict because they differ in "
		            "field or arguments; use different aliases.",
		            g->key);
		return ex->stop ? NULL : json_null();
	}
	v = resolve(ex, t, f, parent, g, p);
	if (v) {
		c = complete(ex, f->type, g, v, p);
		json_decref(v);
	}
	if (!c && !ex->stop && f->type->kind != TREF_NON_NULL)
		c = json_null();
	return c;
}

static json_t *execute_fields(struct exec *ex, const struct stype *t,
                              json_t *parent, struct group *groups,
                              const struct path *p)
{
	json_t *out = json_object(), *v;

	if (!out)
		goto oom;
	for (struct group *g = groups; g; g = g->next) {
		struct path fp = {g->key, 0, p};

		v = execute_field(ex, t, parent, g, &fp);
		if (!v)
			goto fail;
		if (json_object_set_new(out, g->key, v) < 0)
			goto oom;
	}
	return out;
oom:
	out_of_memory(ex);
fail:
	json_decref(out);
	return NULL;
}

/*
 * Root fields (other than introspection's) a query may ask, once merged.
 * A root resolver may do the whole request's work (zot's walk every
 * repository), so 1,000 aliases of one, within max_selections and
 * costing little max_work to complete, would do that work 1,000 times.
 */
#define ROOT_FIELDS_MAX 32

/* Refuse a query over ROOT_FIELDS_MAX root fields (the request fails). */
static bool roots_within_limit(struct exec *ex, const struct group *g)
{
	char msg[96];
	json_t *e;
	unsigned n = 0;

	for (; g; g = g->next) {
		if (!strncmp(g->name, "__", 2) || ++n <= ROOT_FIELDS_MAX)
			continue;
		snprintf(msg, sizeof(msg),
		         "Query asks too many root fields (more than %u).",
		         ROOT_FIELDS_MAX);
		ex->over = true;
		ex->stop = true;
		e = gql_error_json(msg, g->fields->sel->loc);
		if (!e || json_array_append_new(ex->errors, e) < 0)
			out_of_memory(ex);
		return false;
	}
	return true;
}

json_t *exec_query(struct exec *ex, const struct op *o)
{
	struct group *groups = NULL;
	for (struct frag *f = ex->d->frags; f; f = f->next)
		f->mark = 0;
	ex->gen = 1;
	if (collect(ex, ex->s->query, o->sel, &groups) < 0 ||
	    !roots_within_limit(ex, groups))
		return NULL;
	return execute_fields(ex, ex->s->query, ex->root, groups, NULL);
}

/* Whether @sels (with fragments) select @name; work-bounded. */
static bool sels_have(struct exec *ex, const struct sel *s, const char *name)
{
	for (; s; s = s->next) {
		if (!spend(ex, s->loc))
			return false;
		if (s->kind == SEL_FIELD && !strcmp(s->name, name))
			return true;
		if (s->kind == SEL_INLINE && sels_have(ex, s->sub, name))
			return true;
		if (s->kind == SEL_SPREAD) {
			struct frag *f = doc_frag(ex->d, s->name);

			if (f && sels_have(ex, f->sel, name))
				return true;
		}
	}
	return false;
}

bool gql_call_selects(const struct gql_call *call, const char *name)
{
	const struct callsel *cs = call->fields;

	if (!cs)
		return false;
	for (const struct fref *f = cs->g->fields; f; f = f->next)
		if (sels_have(cs->ex, f->sel->sub, name))
			return true;
	return false;
}
