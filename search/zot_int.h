/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zot_int.h - what the files of zot's search API share: the schema tables
 * (zot_schema.c) and the query resolvers they name (zot.c).
 */
#ifndef DRAY_ZOT_INT_H
#define DRAY_ZOT_INT_H

#include "search/graphql.h"

/* zot's schema, ended by a NULL name; its query root is "Query". */
extern const struct gql_type_def zot_types[];

/* The resolvers of the query root's fields. */
json_t *zq_cve(const struct gql_call *call, struct err *err);
json_t *zq_image_list_for_digest(const struct gql_call *call, struct err *err);
json_t *zq_repo_list(const struct gql_call *call, struct err *err);
json_t *zq_image_list(const struct gql_call *call, struct err *err);
json_t *zq_expanded(const struct gql_call *call, struct err *err);
json_t *zq_global(const struct gql_call *call, struct err *err);
json_t *zq_derived(const struct gql_call *call, struct err *err);
json_t *zq_base(const struct gql_call *call, struct err *err);
json_t *zq_image(const struct gql_call *call, struct err *err);
json_t *zq_referrers(const struct gql_call *call, struct err *err);
json_t *zq_user_repos(const struct gql_call *call, struct err *err);

#endif
