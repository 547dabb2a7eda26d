/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_coerce.c - input coercion (spec 3.5 scalars, 3.9 enums, 3.10 input
 * objects, 3.11 lists, 3.12 non-null): of variables given as JSON, and of
 * literals in the document (arguments, defaults). Both give the JSON value
 * a resolver sees, already of the declared type; a variable's value is
 * coerced again where it is used, so resolvers can trust their arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/graphql_int.h"

static int nomem(struct err *err)
{
	return err_set(err, ERR_NOMEM, "out of memory");
}

static int type_error(const struct tref *t, const char *found, struct err *err)
{
	char buf[128];

	tref_format(t, buf, sizeof(buf));
	return err_set(err, ERR_INVALID, "Expected type \"%s\", found %s.", buf,
	               found);
}

static int check_custom(const struct stype *t, json_t *v, json_t **out,
                        struct err *err)
{
	if (t->def->check && t->def->check(v, err) < 0)
		return -1;
	*out = json_incref(v);
	return 0;
}

/* A JSON scalar into the named scalar or enum @t. */
static int json_leaf(const struct tref *tr, const struct stype *t, json_t *in,
                     json_t **out, struct err *err)
{
	const char *n = t->name;
	double d;

	if (t->kind == GQL_ENUM) {
		if (!json_is_string(in) ||
		    !stype_has_value(t, json_string_value(in)))
			return type_error(tr, "a value not in the enum", err);
		*out = json_incref(in);
		return 0;
	}
	if (!t->builtin)
		return json_is_object(in) || json_is_array(in)
		               ? type_error(tr, "a non-scalar", err)
		               : check_custom(t, in, out, err);
	if (!strcmp(n, "Int")) {
		if (json_is_real(in)) {
			d = json_real_value(in);
			if (!(d >= INT32_MIN && d <= INT32_MAX) ||
			    d != (double)(int32_t)d)
				return type_error(tr, "a non-integer", err);
			*out = json_integer((json_int_t)d);
		} else if (json_is_integer(in) &&
		           json_integer_value(in) >= INT32_MIN &&
		           json_integer_value(in) <= INT32_MAX) {
			*out = json_incref(in);
		} else {
			return type_error(tr, "a non-32-bit integer", err);
		}
	} else if (!strcmp(n, "Float")) {
		if (!json_is_number(in))
			return type_error(tr, "a non-number", err);
		*out = json_real(json_number_value(in));
	} else if (!strcmp(n, "Boolean")) {
		if (!json_is_boolean(in))
			return type_error(tr, "a non-boolean", err);
		*out = json_incref(in);
	} else if (!strcmp(n, "ID") && json_is_integer(in)) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(in));
		*out = json_string(buf);
	} else {
		/* String, and ID given as a string */
		if (!json_is_string(in))
			return type_error(tr, "a non-string", err);
		*out = json_incref(in);
	}
	return *out ? 0 : nomem(err);
}

static int json_input_object(const struct stype *t, json_t *in, json_t **out,
                             struct err *err);

int coerce_json(const struct tref *t, json_t *in, json_t **out, struct err *err)
{
	json_t *item, *c;
	size_t i;

	*out = NULL;
	if (t->kind == TREF_NON_NULL) {
		if (!in || json_is_null(in))
			return type_error(t, "null", err);
		return coerce_json(t->of, in, out, err);
	}
	if (!in)
		return 0;
	if (json_is_null(in)) {
		*out = json_null();
		return 0;
	}
	if (t->kind == TREF_LIST && !json_is_array(in)) {
		/* A single value stands for a list of one (spec 3.11). */
		if (coerce_json(t->of, in, &c, err) < 0)
			return -1;
		*out = json_array();
		if (!*out || json_array_append_new(*out, c) < 0)
			return json_decref(*out), json_decref(c), nomem(err);
		return 0;
	}
	if (t->kind == TREF_LIST) {
		if (!(*out = json_array()))
			return nomem(err);
		json_array_foreach(in, i, item)
		{
			if (coerce_json(t->of, item, &c, err) < 0)
				goto fail;
			if (json_array_append_new(*out, c ? c : json_null()) <
			    0)
				goto fail_nomem;
		}
		return 0;
	}
	if (t->named->kind == GQL_INPUT_OBJECT)
		return json_input_object(t->named, in, out, err);
	return json_leaf(t, t->named, in, out, err);
fail_nomem:
	nomem(err);
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}

/* Set @key of @obj to the default of @a, or fail if it is required. */
static int fill_default(const struct sarg *a, json_t *obj, const char *what,
                        struct err *err)
{
	char buf[128];

	if (json_object_get(obj, a->def->name))
		return 0;
	/*
	 * A copy: the schema is shared by threads, and jansson's
	 * json_incref() reads the count unlocked before its atomic add.
	 */
	if (a->def_value)
		return json_object_set_new(obj, a->def->name,
		                           json_deep_copy(a->def_value)) < 0
		               ? nomem(err)
		               : 0;
	if (a->type->kind != TREF_NON_NULL)
		return 0;
	tref_format(a->type, buf, sizeof(buf));
	return err_set(err, ERR_INVALID,
	               "%s \"%s\" of required type \"%s\" was not provided.",
	               what, a->def->name, buf);
}

/* Finish input object *out of @t: its defaults, or drop it on failure. */
static int input_done(const struct stype *t, json_t **out, int ret,
                      struct err *err)
{
	for (size_t i = 0; ret == 0 && i < t->ninputs; i++)
		ret = fill_default(&t->inputs[i], *out, "Field", err);
	if (ret < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return ret;
}

static const struct sarg *input_field(const struct stype *t, const char *n)
{
	for (size_t i = 0; i < t->ninputs; i++)
		if (!strcmp(t->inputs[i].def->name, n))
			return &t->inputs[i];
	return NULL;
}

static int json_input_object(const struct stype *t, json_t *in, json_t **out,
                             struct err *err)
{
	const struct sarg *a;
	const char *key;
	json_t *v, *c;

	if (!json_is_object(in))
		return err_set(err, ERR_INVALID,
		               "Expected type \"%s\" to be an object.",
		               t->name);
	if (!(*out = json_object()))
		return nomem(err);
	json_object_foreach(in, key, v)
	{
		if (!(a = input_field(t, key))) {
			err_set(err, ERR_INVALID,
			        "Field \"%s\" is not defined by type \"%s\".",
			        key, t->name);
			goto fail;
		}
		if (coerce_json(a->type, v, &c, err) < 0)
			goto fail;
		if (json_object_set_new(*out, key, c) < 0) {
			nomem(err);
			goto fail;
		}
	}
	return input_done(t, out, 0, err);
fail:
	return input_done(t, out, -1, err);
}

/* An Int or Float literal's text into a JSON number. */
static int literal_number(const struct tref *tr, const struct stype *t,
                          const struct gval *v, json_t **out, struct err *err)
{
	long long ll;
	double d;
	char *end;

	errno = 0;
	if (v->kind == GV_INT && strcmp(t->name, "Float")) {
		ll = strtoll(v->str, &end, 10);
		if (errno || (!strcmp(t->name, "Int") &&
		              (ll < INT32_MIN || ll > INT32_MAX)))
			return type_error(tr, "an integer out of range", err);
		*out = strcmp(t->name, "ID") ? json_integer(ll)
		                             : json_string(v->str);
	} else {
		d = strtod(v->str, &end);
		if (errno || !isfinite(d))
			return type_error(tr, "a number out of range", err);
		*out = json_real(d);
	}
	return *out ? 0 : nomem(err);
}

static bool literal_fits(const struct stype *t, const struct gval *v)
{
	const char *n = t->name;

	if (t->kind == GQL_ENUM)
		return v->kind == GV_ENUM && stype_has_value(t, v->str);
	if (!t->builtin)
		return v->kind == GV_STRING || v->kind == GV_INT ||
		       v->kind == GV_FLOAT || v->kind == GV_BOOL;
	if (!strcmp(n, "Int"))
		return v->kind == GV_INT;
	if (!strcmp(n, "Float"))
		return v->kind == GV_INT || v->kind == GV_FLOAT;
	if (!strcmp(n, "Boolean"))
		return v->kind == GV_BOOL;
	if (!strcmp(n, "ID"))
		return v->kind == GV_STRING || v->kind == GV_INT;
	return v->kind == GV_STRING;
}

static int literal_leaf(const struct tref *tr, const struct stype *t,
                        const struct gval *v, json_t **out, struct err *err)
{
	json_t *j;
	int ret;

	if (!literal_fits(t, v))
		return type_error(tr, "a literal of another type", err);
	if (v->kind == GV_INT || v->kind == GV_FLOAT)
		ret = literal_number(tr, t, v, &j, err);
	else if (v->kind == GV_BOOL)
		ret = (j = json_boolean(v->b)) ? 0 : nomem(err);
	else
		ret = (j = json_string(v->str)) ? 0 : nomem(err);
	if (ret < 0)
		return -1;
	if (t->kind == GQL_SCALAR && !t->builtin) {
		ret = check_custom(t, j, out, err);
		json_decref(j);
		return ret;
	}
	*out = j;
	return 0;
}

/* A variable the request did not give: the field or argument is absent. */
static bool absent_var(const struct gval *v, json_t *vars)
{
	return v->kind == GV_VAR && vars && !json_object_get(vars, v->str);
}

static int literal_input_object(const struct stype *t, const struct gval *v,
                                json_t *vars, json_t **out, struct err *err)
{
	const struct gval *f;
	const struct sarg *a;
	json_t *c;

	if (v->kind != GV_OBJECT)
		return err_set(err, ERR_INVALID,
		               "Expected type \"%s\" to be an object.",
		               t->name);
	if (!(*out = json_object()))
		return nomem(err);
	for (f = v->items; f; f = f->next) {
		if (!(a = input_field(t, f->name))) {
			err_set(err, ERR_INVALID,
			        "Field \"%s\" is not defined by type \"%s\".",
			        f->name, t->name);
			goto fail;
		}
		if (absent_var(f, vars))
			continue;
		if (json_object_get(*out, f->name)) {
			err_set(err, ERR_INVALID,
			        "There can be only one input field named "
			        "\"%s\".",
			        f->name);
			goto fail;
		}
		if (coerce_literal(a->type, f, vars, &c, err) < 0)
			goto fail;
		if (c && json_object_set_new(*out, f->name, c) < 0) {
			nomem(err);
			goto fail;
		}
	}
	return input_done(t, out, 0, err);
fail:
	return input_done(t, out, -1, err);
}

static int literal_var(const struct tref *t, const struct gval *v, json_t *vars,
                       json_t **out, struct err *err)
{
	json_t *x;

	if (!vars) {
		/* Only checking the literal: variables are checked apart. */
		*out = json_null();
		return 0;
	}
	x = json_object_get(vars, v->str);
	if (!x && t->kind == TREF_NON_NULL)
		return err_set(err, ERR_INVALID,
		               "Variable \"$%s\" of a required type was not "
		               "provided.",
		               v->str);
	return coerce_json(t, x, out, err);
}

static int literal_list(const struct tref *t, const struct gval *v,
                        json_t *vars, json_t **out, struct err *err)
{
	const struct gval *item;
	json_t *c;

	if (!(*out = json_array()))
		return nomem(err);
	for (item = v->items; item; item = item->next) {
		if (coerce_literal(t->of, item, vars, &c, err) < 0)
			goto fail;
		if (json_array_append_new(*out, c ? c : json_null()) < 0) {
			nomem(err);
			goto fail;
		}
	}
	return 0;
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}

int coerce_literal(const struct tref *t, const struct gval *v, json_t *vars,
                   json_t **out, struct err *err)
{
	json_t *c;

	*out = NULL;
	if (v->kind == GV_VAR)
		return literal_var(t, v, vars, out, err);
	if (t->kind == TREF_NON_NULL) {
		if (v->kind == GV_NULL)
			return type_error(t, "null", err);
		return coerce_literal(t->of, v, vars, out, err);
	}
	if (v->kind == GV_NULL) {
		*out = json_null();
		return 0;
	}
	if (t->kind == TREF_LIST && v->kind == GV_LIST)
		return literal_list(t, v, vars, out, err);
	if (t->kind == TREF_LIST) {
		if (coerce_literal(t->of, v, vars, &c, err) < 0)
			return -1;
		*out = json_array();
		if (!*out || json_array_append_new(*out, c ? c : json_null()))
			return json_decref(*out), nomem(err);
		return 0;
	}
	if (t->named->kind == GQL_INPUT_OBJECT)
		return literal_input_object(t->named, v, vars, out, err);
	return literal_leaf(t, t->named, v, out, err);
}

static const struct gval *find_arg(const struct gval *args, const char *name)
{
	for (; args; args = args->next)
		if (!strcmp(args->name, name))
			return args;
	return NULL;
}

int coerce_args(const struct sarg *defs, size_t n, const struct gval *args,
                json_t *vars, json_t **out, struct err *err)
{
	const struct gval *v;
	json_t *c;

	if (!(*out = json_object()))
		return nomem(err);
	for (size_t i = 0; i < n; i++) {
		v = find_arg(args, defs[i].def->name);
		if (!v || absent_var(v, vars))
			goto dflt;
		if (coerce_literal(defs[i].type, v, vars, &c, err) < 0) {
			err_prefix(err, "Argument \"%s\"", defs[i].def->name);
			goto fail;
		}
		if (c && json_object_set_new(*out, defs[i].def->name, c) < 0) {
			nomem(err);
			goto fail;
		}
	dflt:
		if (fill_default(&defs[i], *out, "Argument", err) < 0)
			goto fail;
	}
	return 0;
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}
