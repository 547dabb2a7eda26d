/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gql_intro.c - introspection (spec 4): the __Schema, __Type, __Field,
 * __InputValue, __EnumValue and __Directive types, described by the same
 * tables as any schema and answered by resolvers over the compiled
 * schema.
 *
 * A __Type's value is {"name": N} for a named type, or {"kind": "LIST" |
 * "NON_NULL", "ofType": T} for a wrapper; its fields are computed from
 * the schema on demand, so a query may follow types as deep as it likes
 * (within the depth limit). Fields, arguments and enum values are plain
 * JSON objects read by the default resolver.
 */
#include <string.h>

#include "search/graphql_int.h"

static const struct gql_arg_def deprecated_args[] = {
	{"includeDeprecated", "Boolean", "false", NULL},
	{NULL, NULL, NULL, NULL},
};

static json_t *type_kind(const struct gql_call *call, struct err *err);
static json_t *type_description(const struct gql_call *call, struct err *err);
static json_t *type_fields(const struct gql_call *call, struct err *err);
static json_t *type_interfaces(const struct gql_call *call, struct err *err);
static json_t *type_enum_values(const struct gql_call *call, struct err *err);
static json_t *type_input_fields(const struct gql_call *call, struct err *err);
static json_t *schema_types(const struct gql_call *call, struct err *err);
static json_t *schema_query_type(const struct gql_call *call, struct err *err);
static json_t *schema_directives(const struct gql_call *call, struct err *err);

static const struct gql_field_def schema_fields[] = {
	{"description", "String", NULL, NULL, NULL},
	{"types", "[__Type!]!", NULL, schema_types, NULL},
	{"queryType", "__Type!", NULL, schema_query_type, NULL},
	{"mutationType", "__Type", NULL, NULL, NULL},
	{"subscriptionType", "__Type", NULL, NULL, NULL},
	{"directives", "[__Directive!]!", NULL, schema_directives, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def type_fields_def[] = {
	{"kind", "__TypeKind!", NULL, type_kind, NULL},
	{"name", "String", NULL, NULL, NULL},
	{"description", "String", NULL, type_description, NULL},
	{"specifiedByURL", "String", NULL, NULL, NULL},
	{"fields", "[__Field!]", deprecated_args, type_fields, NULL},
	{"interfaces", "[__Type!]", NULL, type_interfaces, NULL},
	{"possibleTypes", "[__Type!]", NULL, NULL, NULL},
	{"enumValues", "[__EnumValue!]", deprecated_args, type_enum_values,
         NULL},
	{"inputFields", "[__InputValue!]", NULL, type_input_fields, NULL},
	{"ofType", "__Type", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def field_fields[] = {
	{"name", "String!", NULL, NULL, NULL},
	{"description", "String", NULL, NULL, NULL},
	{"args", "[__InputValue!]!", deprecated_args, NULL, NULL},
	{"type", "__Type!", NULL, NULL, NULL},
	{"isDeprecated", "Boolean!", NULL, NULL, NULL},
	{"deprecationReason", "String", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def input_value_fields[] = {
	{"name", "String!", NULL, NULL, NULL},
	{"description", "String", NULL, NULL, NULL},
	{"type", "__Type!", NULL, NULL, NULL},
	{"defaultValue", "String", NULL, NULL, NULL},
	{"isDeprecated", "Boolean!", NULL, NULL, NULL},
	{"deprecationReason", "String", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def enum_value_fields[] = {
	{"name", "String!", NULL, NULL, NULL},
	{"description", "String", NULL, NULL, NULL},
	{"isDeprecated", "Boolean!", NULL, NULL, NULL},
	{"deprecationReason", "String", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const struct gql_field_def directive_fields[] = {
	{"name", "String!", NULL, NULL, NULL},
	{"description", "String", NULL, NULL, NULL},
	{"locations", "[__DirectiveLocation!]!", NULL, NULL, NULL},
	{"args", "[__InputValue!]!", NULL, NULL, NULL},
	{"isRepeatable", "Boolean!", NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static const char *const type_kinds[] = {
	"SCALAR",       "OBJECT", "INTERFACE", "UNION", "ENUM",
	"INPUT_OBJECT", "LIST",   "NON_NULL",  NULL,
};

static const char *const directive_locations[] = {
	"QUERY",
	"MUTATION",
	"SUBSCRIPTION",
	"FIELD",
	"FRAGMENT_DEFINITION",
	"FRAGMENT_SPREAD",
	"INLINE_FRAGMENT",
	"VARIABLE_DEFINITION",
	"SCHEMA",
	"SCALAR",
	"OBJECT",
	"FIELD_DEFINITION",
	"ARGUMENT_DEFINITION",
	"INTERFACE",
	"UNION",
	"ENUM",
	"ENUM_VALUE",
	"INPUT_OBJECT",
	"INPUT_FIELD_DEFINITION",
	NULL,
};

const struct gql_type_def gql_intro_types[] = {
	{GQL_OBJECT, "__Schema", NULL, schema_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "__Type", NULL, type_fields_def, NULL, NULL, NULL},
	{GQL_OBJECT, "__Field", NULL, field_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "__InputValue", NULL, input_value_fields, NULL, NULL,
         NULL},
	{GQL_OBJECT, "__EnumValue", NULL, enum_value_fields, NULL, NULL, NULL},
	{GQL_OBJECT, "__Directive", NULL, directive_fields, NULL, NULL, NULL},
	{GQL_ENUM, "__TypeKind", NULL, NULL, NULL, type_kinds, NULL},
	{GQL_ENUM, "__DirectiveLocation", NULL, NULL, NULL, directive_locations,
         NULL},
	{0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static json_t *nomem(struct err *err)
{
	err_set(err, ERR_NOMEM, "out of memory");
	return NULL;
}

static json_t *or_nomem(json_t *v, struct err *err)
{
	return v ? v : nomem(err);
}

/* The value of a __Type for @t. */
static json_t *tref_json(const struct tref *t)
{
	json_t *of;

	if (t->kind == TREF_NAMED)
		return json_pack("{s:s}", "name", t->name);
	if (!(of = tref_json(t->of)))
		return NULL;
	return json_pack("{s:s, s:o}", "kind",
	                 t->kind == TREF_LIST ? "LIST" : "NON_NULL", "ofType",
	                 of);
}

static json_t *input_value_json(const struct sarg *a)
{
	return json_pack("{s:s, s:s?, s:o, s:s?, s:b, s:n}", "name",
	                 a->def->name, "description", a->def->description,
	                 "type", tref_json(a->type), "defaultValue",
	                 a->def->def, "isDeprecated", 0, "deprecationReason");
}

static json_t *input_values_json(const struct sarg *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, input_value_json(&a[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *field_json(const struct sfield *f)
{
	return json_pack("{s:s, s:s?, s:o, s:o, s:b, s:n}", "name", f->name,
	                 "description", f->def->description, "args",
	                 input_values_json(f->args, f->nargs), "type",
	                 tref_json(f->type), "isDeprecated", 0,
	                 "deprecationReason");
}

/* The named type a __Type value stands for, or NULL for a wrapper. */
static const struct stype *parent_type(const struct gql_call *call)
{
	const char *name =
		json_string_value(json_object_get(call->parent, "name"));

	return name ? schema_type(call->schema, name) : NULL;
}

static json_t *type_kind(const struct gql_call *call, struct err *err)
{
	static const char *const kinds[] = {"SCALAR", "OBJECT", "ENUM",
	                                    "INPUT_OBJECT"};
	const struct stype *t = parent_type(call);
	json_t *k = json_object_get(call->parent, "kind");

	if (k)
		return json_incref(k);
	if (!t) {
		err_set(err, ERR_INTERNAL, "introspection of an unknown type");
		return NULL;
	}
	return or_nomem(json_string(kinds[t->kind]), err);
}

static json_t *type_description(const struct gql_call *call, struct err *err)
{
	const struct stype *t = parent_type(call);

	if (!t || !t->description)
		return json_null();
	return or_nomem(json_string(t->description), err);
}

static json_t *type_fields(const struct gql_call *call, struct err *err)
{
	const struct stype *t = parent_type(call);
	json_t *arr;

	if (!t || t->kind != GQL_OBJECT)
		return json_null();
	if (!(arr = json_array()))
		return nomem(err);
	for (size_t i = 0; i < t->nfields; i++)
		if (json_array_append_new(arr, field_json(&t->fields[i])) < 0) {
			json_decref(arr);
			return nomem(err);
		}
	return arr;
}

static json_t *type_interfaces(const struct gql_call *call, struct err *err)
{
	const struct stype *t = parent_type(call);

	if (!t || t->kind != GQL_OBJECT)
		return json_null();
	return or_nomem(json_array(), err);
}

static json_t *type_enum_values(const struct gql_call *call, struct err *err)
{
	const struct stype *t = parent_type(call);
	json_t *arr;

	if (!t || t->kind != GQL_ENUM)
		return json_null();
	if (!(arr = json_array()))
		return nomem(err);
	for (size_t i = 0; t->def->enum_values[i]; i++)
		if (json_array_append_new(
			    arr, json_pack("{s:s, s:n, s:b, s:n}", "name",
		                           t->def->enum_values[i],
		                           "description", "isDeprecated", 0,
		                           "deprecationReason")) < 0) {
			json_decref(arr);
			return nomem(err);
		}
	return arr;
}

static json_t *type_input_fields(const struct gql_call *call, struct err *err)
{
	const struct stype *t = parent_type(call);

	if (!t || t->kind != GQL_INPUT_OBJECT)
		return json_null();
	return or_nomem(input_values_json(t->inputs, t->ninputs), err);
}

static json_t *schema_types(const struct gql_call *call, struct err *err)
{
	const struct gql_schema *s = call->schema;
	json_t *arr = json_array();

	if (!arr)
		return nomem(err);
	for (size_t i = 0; i < s->ntypes; i++)
		if (json_array_append_new(
			    arr, json_pack("{s:s}", "name", s->types[i].name)) <
		    0) {
			json_decref(arr);
			return nomem(err);
		}
	return arr;
}

static json_t *schema_query_type(const struct gql_call *call, struct err *err)
{
	return or_nomem(json_pack("{s:s}", "name", call->schema->query->name),
	                err);
}

static json_t *directive_json(const char *name, const char *desc)
{
	return json_pack("{s:s, s:s, s:[sss], s:[{s:s, s:s, s:{s:s, s:{s:s}}, "
	                 "s:n, s:b, s:n}], s:b}",
	                 "name", name, "description", desc, "locations",
	                 "FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "args",
	                 "name", "if", "description",
	                 !strcmp(name, "skip") ? "Skipped when true."
	                                       : "Included when true.",
	                 "type", "kind", "NON_NULL", "ofType", "name",
	                 "Boolean", "defaultValue", "isDeprecated", 0,
	                 "deprecationReason", "isRepeatable", 0);
}

static json_t *schema_directives(const struct gql_call *call, struct err *err)
{
	json_t *r;

	(void)call;
	r = json_pack("[oo]",
	              directive_json("include",
	                             "Directs the executor to include this "
	                             "field or fragment only when the `if` "
	                             "argument is true."),
	              directive_json("skip",
	                             "Directs the executor to skip this field "
	                             "or fragment when the `if` argument is "
	                             "true."));
	return or_nomem(r, err);
}

json_t *gql_intro_schema(const struct gql_call *call, struct err *err)
{
	(void)call;
	return or_nomem(json_object(), err);
}

json_t *gql_intro_type(const struct gql_call *call, struct err *err)
{
	const char *name =
		json_string_value(json_object_get(call->args, "name"));

	if (!name || !schema_type(call->schema, name))
		return json_null();
	return or_nomem(json_pack("{s:s}", "name", name), err);
}
