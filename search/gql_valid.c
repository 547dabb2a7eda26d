/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_valid.c - validation of a parsed document against the schema (spec
 * section 5): operations and fragments are unique and used, fragments
 * form no cycles and spread where their type fits, every field exists on
 * its type with known arguments of fitting literal values and its
 * required ones given, leaves have no selections and objects have one,
 * variables are declared with input types, and only @skip and @include
 * appear, where they may. The depth of fields through fragments is
 * bounded too. Each fragment is walked once per operation, so a document
 * that spreads fragments exponentially costs linear time here.
 *
 * Not checked (execution copes): unused variables, a variable's type
 * against where it is used, and fields of one response key that cannot
 * merge (gql_exec.c reports those as field errors).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "search/graphql_int.h"

struct vctx {
	const struct gql_schema *s;
	struct doc *d;
	const struct op *op; /* the operation being walked */
	struct gql_limits lim;
	struct gql_error *e;
	unsigned gen;        /* frag->mark for this operation */
	struct tref boolean; /* Boolean! for @skip(if:) and @include(if:) */
	struct tref boolean_named;
};

PRINTF(3, 4)
static int verr(struct vctx *v, struct gql_loc loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->e->msg, sizeof(v->e->msg), fmt, ap);
	va_end(ap);
	v->e->loc = loc;
	return -1;
}

static int from_err(struct vctx *v, struct gql_loc loc, struct err *err)
{
	v->e->oom = err->code == ERR_NOMEM;
	return verr(v, loc, "%s", err->msg);
}

static int check_ops(struct vctx *v)
{
	size_t n = 0;

	for (struct op *o = v->d->ops; o; o = o->next)
		n++;
	for (struct op *o = v->d->ops; o; o = o->next) {
		if (!o->name && n > 1)
			return verr(v, o->loc,
			            "This anonymous operation must be the only "
			            "defined operation.");
		for (struct op *p = o->next; o->name && p; p = p->next)
			if (p->name && !strcmp(o->name, p->name))
				return verr(v, p->loc,
				            "There can be only one operation "
				            "named \"%s\".",
				            o->name);
		if (o->dirs)
			return verr(v, o->dirs->loc,
			            "Directive \"@%s\" may not be used on an "
			            "operation.",
			            o->dirs->name);
	}
	return 0;
}

static int check_frag_defs(struct vctx *v)
{
	const struct stype *t;

	for (struct frag *f = v->d->frags; f; f = f->next) {
		if (doc_frag(v->d, f->name) != f)
			return verr(v, f->loc,
			            "There can be only one fragment named "
			            "\"%s\".",
			            f->name);
		t = schema_type(v->s, f->cond);
		if (!t)
			return verr(v, f->loc, "Unknown type \"%s\".", f->cond);
		if (t->kind != GQL_OBJECT)
			return verr(v, f->loc,
			            "Fragment \"%s\" cannot condition on non "
			            "composite type \"%s\".",
			            f->name, f->cond);
		if (f->dirs)
			return verr(v, f->dirs->loc,
			            "Directive \"@%s\" may not be used on a "
			            "fragment definition.",
			            f->dirs->name);
	}
	return 0;
}

/*
 * Fragments may spread fragments this many levels deep. Together with
 * the parser's depth limit inside each one, it bounds every recursion
 * over the document that follows spreads.
 */
#define FRAG_NEST_MAX 32

static int spreads_acyclic(struct vctx *v, const struct sel *s, int *nest);

/*
 * Check @f and what it spreads for cycles, and compute f->nest, the
 * longest chain of spreads from it (memoised: each fragment is walked
 * once).
 */
static int frag_acyclic(struct vctx *v, struct frag *f, struct gql_loc at,
                        int *nest)
{
	int ret, inner = 0;

	if (f->on_stack)
		return verr(v, at,
		            "Cannot spread fragment \"%s\" within itself.",
		            f->name);
	if (!f->mark) {
		f->on_stack = true;
		ret = spreads_acyclic(v, f->sel, &inner);
		f->on_stack = false;
		if (ret < 0)
			return -1;
		f->mark = 1;
		f->nest = inner + 1;
	}
	if (f->nest > FRAG_NEST_MAX)
		return verr(v, at,
		            "Fragments are nested too deeply (more than %d "
		            "levels).",
		            FRAG_NEST_MAX);
	if (f->nest > *nest)
		*nest = f->nest;
	return 0;
}

/* The spreads under @s; *nest: the longest chain of them. */
static int spreads_acyclic(struct vctx *v, const struct sel *s, int *nest)
{
	struct frag *f;

	for (; s; s = s->next) {
		if (s->kind == SEL_SPREAD) {
			f = doc_frag(v->d, s->name);
			if (!f)
				return verr(v, s->loc,
				            "Unknown fragment \"%s\".",
				            s->name);
			if (frag_acyclic(v, f, s->loc, nest) < 0)
				return -1;
		} else if (s->sub && spreads_acyclic(v, s->sub, nest) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Deepest field nesting under @s, fragments included (memoised). */
static int sel_depth(struct vctx *v, const struct sel *s)
{
	int max = 0, d;
	struct frag *f;

	for (; s; s = s->next) {
		if (s->kind == SEL_FIELD) {
			d = 1 + (s->sub ? sel_depth(v, s->sub) : 0);
		} else if (s->kind == SEL_INLINE) {
			d = sel_depth(v, s->sub);
		} else {
			f = doc_frag(v->d, s->name);
			if (f->depth < 0)
				f->depth = sel_depth(v, f->sel);
			d = f->depth;
		}
		if (d > max)
			max = d;
	}
	return max;
}

static int check_var_refs(struct vctx *v, const struct gval *g)
{
	for (; g; g = g->next) {
		if (g->kind == GV_VAR) {
			const struct vardef *vd = v->op->vars;

			while (vd && strcmp(vd->name, g->str))
				vd = vd->next;
			if (!vd)
				return verr(v, g->loc,
				            "Variable \"$%s\" is not defined.",
				            g->str);
		}
		if (check_var_refs(v, g->items) < 0)
			return -1;
	}
	return 0;
}

/* Whether literal @g fits @t (variables are taken to fit). */
static int check_literal(struct vctx *v, const struct tref *t,
                         const struct gval *g)
{
	struct err err = ERR_INIT;
	json_t *out;

	if (check_var_refs(v, g->kind == GV_VAR ? g : g->items) < 0)
		return -1;
	if (coerce_literal(t, g, NULL, &out, &err) < 0)
		return from_err(v, g->loc, &err);
	json_decref(out);
	return 0;
}

static int check_directives(struct vctx *v, const struct gdir *d)
{
	for (; d; d = d->next) {
		if (strcmp(d->name, "skip") && strcmp(d->name, "include"))
			return verr(v, d->loc, "Unknown directive \"@%s\".",
			            d->name);
		if (!d->args || d->args->next || strcmp(d->args->name, "if"))
			return verr(v, d->loc,
			            "Directive \"@%s\" takes exactly one "
			            "argument \"if\".",
			            d->name);
		if (check_literal(v, &v->boolean, d->args) < 0)
			return -1;
	}
	return 0;
}

static int check_args(struct vctx *v, const struct sfield *f,
                      const struct sel *s, const char *tname)
{
	const struct sarg *a;
	char buf[128];

	for (const struct gval *g = s->args; g; g = g->next) {
		if (!(a = field_arg(f, g->name)))
			return verr(
				v, g->loc,
				"Unknown argument \"%s\" on field \"%s.%s\".",
				g->name, tname, f->name);
		for (const struct gval *h = g->next; h; h = h->next)
			if (!strcmp(h->name, g->name))
				return verr(v, h->loc,
				            "There can be only one argument "
				            "named \"%s\".",
				            g->name);
		if (check_literal(v, a->type, g) < 0)
			return -1;
	}
	for (size_t i = 0; i < f->nargs; i++) {
		a = &f->args[i];
		if (a->type->kind != TREF_NON_NULL || a->def_value)
			continue;
		for (const struct gval *g = s->args; g; g = g->next)
			if (!strcmp(g->name, a->def->name))
				goto given;
		tref_format(a->type, buf, sizeof(buf));
		return verr(v, s->loc,
		            "Field \"%s\" argument \"%s\" of type \"%s\" is "
		            "required, but it was not provided.",
		            f->name, a->def->name, buf);
	given:;
	}
	return 0;
}

static int check_sels(struct vctx *v, const struct stype *t,
                      const struct sel *s);

static int check_field(struct vctx *v, const struct stype *t,
                       const struct sel *s)
{
	const struct sfield *f;
	const struct stype *ft;

	if (!strcmp(s->name, "__typename")) {
		if (s->args || s->sub)
			return verr(v, s->loc,
			            "Field \"__typename\" takes no arguments "
			            "or selections.");
		return 0;
	}
	f = schema_field(v->s, t, s->name);
	if (!f)
		return verr(v, s->loc,
		            "Cannot query field \"%s\" on type \"%s\".",
		            s->name, t->name);
	if (check_args(v, f, s, t->name) < 0)
		return -1;
	ft = tref_named(f->type);
	if (stype_is_leaf(ft) && s->sub)
		return verr(v, s->loc,
		            "Field \"%s\" must not have a selection since type "
		            "\"%s\" has no subfields.",
		            s->name, ft->name);
	if (!stype_is_leaf(ft) && !s->sub)
		return verr(v, s->loc,
		            "Field \"%s\" of type \"%s\" must have a selection "
		            "of subfields.",
		            s->name, ft->name);
	return s->sub ? check_sels(v, ft, s->sub) : 0;
}

static int check_cond(struct vctx *v, const struct stype *t, const char *cond,
                      const char *frag, struct gql_loc loc)
{
	const struct stype *c = schema_type(v->s, cond);

	if (!c)
		return verr(v, loc, "Unknown type \"%s\".", cond);
	if (c->kind != GQL_OBJECT)
		return verr(v, loc,
		            "Fragment cannot condition on non composite type "
		            "\"%s\".",
		            cond);
	if (c != t)
		return verr(
			v, loc,
			"Fragment%s%s%s cannot be spread here as objects of "
			"type \"%s\" can never be of type \"%s\".",
			frag ? " \"" : "", frag ? frag : "", frag ? "\"" : "",
			t->name, c->name);
	return 0;
}

static int check_spread(struct vctx *v, const struct stype *t,
                        const struct sel *s)
{
	struct frag *f = doc_frag(v->d, s->name);

	if (check_cond(v, t, f->cond, f->name, s->loc) < 0)
		return -1;
	if (f->mark == v->gen)
		return 0;
	f->mark = v->gen;
	return check_sels(v, t, f->sel);
}

static int check_sels(struct vctx *v, const struct stype *t,
                      const struct sel *s)
{
	for (; s; s = s->next) {
		if (check_directives(v, s->dirs) < 0)
			return -1;
		if (s->kind == SEL_FIELD && check_field(v, t, s) < 0)
			return -1;
		if (s->kind == SEL_SPREAD && check_spread(v, t, s) < 0)
			return -1;
		if (s->kind == SEL_INLINE &&
		    ((s->cond && check_cond(v, t, s->cond, NULL, s->loc) < 0) ||
		     check_sels(v, t, s->sub) < 0))
			return -1;
	}
	return 0;
}

static struct tref *named_node(struct tref *t)
{
	while (t->kind != TREF_NAMED)
		t = t->of;
	return t;
}

static int check_vardefs(struct vctx *v, const struct op *o)
{
	struct stype *t;
	struct tref *n;

	for (struct vardef *vd = o->vars; vd; vd = vd->next) {
		for (struct vardef *w = vd->next; w; w = w->next)
			if (!strcmp(vd->name, w->name))
				return verr(v, w->loc,
				            "There can be only one variable "
				            "named \"$%s\".",
				            vd->name);
		n = named_node(vd->type);
		t = schema_type(v->s, n->name);
		if (!t || !stype_is_input(t))
			return verr(v, vd->loc,
			            "Variable \"$%s\" cannot be non-input type "
			            "\"%s\".",
			            vd->name, n->name);
		n->named = t;
		if (vd->def && check_literal(v, vd->type, vd->def) < 0)
			return -1;
	}
	return 0;
}

/* Mark the fragments @s spreads (transitively) as used. */
static void mark_used(struct vctx *v, const struct sel *s)
{
	struct frag *f;

	for (; s; s = s->next) {
		if (s->kind != SEL_SPREAD) {
			mark_used(v, s->sub);
			continue;
		}
		f = doc_frag(v->d, s->name);
		if (f->mark == v->gen)
			continue;
		f->mark = v->gen;
		mark_used(v, f->sel);
	}
}

static int check_op(struct vctx *v, const struct op *o)
{
	v->op = o;
	v->gen++;
	if (o->kind != OP_QUERY) {
		/*
		 * The schema has no root type for it, so there is nothing
		 * to check its fields against: execution refuses it.
		 */
		mark_used(v, o->sel);
		return 0;
	}
	if (sel_depth(v, o->sel) > (int)v->lim.max_depth)
		return verr(v, o->loc,
		            "Query is nested too deeply (more than %u levels).",
		            v->lim.max_depth);
	if (check_vardefs(v, o) < 0)
		return -1;
	return check_sels(v, v->s->query, o->sel);
}

int gql_validate(const struct gql_schema *s, struct doc *d,
                 const struct gql_limits *lim, struct gql_error *e)
{
	struct vctx v = {.s = s, .d = d, .lim = gql_limits_fill(lim), .e = e};
	int nest = 0;

	v.boolean_named = (struct tref){.kind = TREF_NAMED, .name = "Boolean"};
	v.boolean_named.named = schema_type(s, "Boolean");
	v.boolean =
		(struct tref){.kind = TREF_NON_NULL, .of = &v.boolean_named};
	if (check_ops(&v) < 0 || check_frag_defs(&v) < 0)
		return -1;
	for (struct frag *f = d->frags; f; f = f->next)
		if (frag_acyclic(&v, f, f->loc, &nest) < 0)
			return -1;
	for (struct op *o = d->ops; o; o = o->next)
		if (spreads_acyclic(&v, o->sel, &nest) < 0)
			return -1;
	/* Marks from the cycle check are 1; operations count from 2. */
	v.gen = 1;
	for (struct op *o = d->ops; o; o = o->next)
		if (check_op(&v, o) < 0)
			return -1;
	for (struct frag *f = d->frags; f; f = f->next)
		if (f->mark < 2)
			return verr(&v, f->loc,
			            "Fragment \"%s\" is never used.", f->name);
	return 0;
}
