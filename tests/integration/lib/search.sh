# SPDX-License-Identifier: Apache-2.0
# lib/search.sh - zot's GraphQL search API (extensions.search): queries
# sent as zui and zli send them, and their answers checked against the
# schema dray publishes by python3-graphql-core. Sourced by lib.sh.

# gql QUERY: GET /v2/_zot/ext/search?query=QUERY (URL-encoded), as zui
# sends it; 200 expected. The query and answer are kept for gql_verify
# (not with GQL_INVALID=1: a query meant to fail validation).
gql() {
	req GET "/v2/_zot/ext/search" -G --data-urlencode "query=$1"
	assert_status 200
	[ -n "${GQL_INVALID:-}" ] || gql_keep "$1"
}

# gql_post QUERY [VARIABLES-JSON]: the same as a POST of a JSON body.
gql_post() {
	local body
	body=$(jq -cn --arg q "$1" --argjson v "${2:-null}" \
		'{query: $q, variables: $v}')
	req POST "/v2/_zot/ext/search" -H 'Content-Type: application/json' \
		--data-binary "$body"
	assert_status 200
	gql_keep "$1" "${2:-null}"
}

gql_keep() {
	local n
	mkdir -p "$WORK/gql"
	n=$(find "$WORK/gql" -name '*.q' | wc -l)
	printf '%s' "$1" >"$WORK/gql/$n.q"
	printf '%s' "${2:-null}" >"$WORK/gql/$n.vars"
	cp "$RESP/body" "$WORK/gql/$n.json"
}

# gql_verify: the schema from dray's introspection must build,
# every kept query must validate against it,
# and every answer's data must have the shape its query asks for
# (executing the query over the answer itself gives the answer back,
# with non-null fields non-null). One python3 run for all of them.
gql_verify() {
	python3 - "$WORK/gql" "$URL" <<'PY' || fail "graphql-core found problems (above)"
import glob, json, os, sys, urllib.parse, urllib.request
from graphql import (build_client_schema, parse, validate, execute,
                     GraphQLScalarType, get_introspection_query)
d = sys.argv[1]
# The schema as dray publishes it: introspection, asked anonymously.
url = sys.argv[2] + "/v2/_zot/ext/search?" + urllib.parse.urlencode(
    {"query": get_introspection_query()})
intro = json.load(urllib.request.urlopen(url))
json.dump(intro, open(os.path.join(d, "intro.json"), "w"))
if intro.get("errors"):
    sys.exit("introspection failed: %s" % intro["errors"])
schema = build_client_schema(intro["data"])
for t in schema.type_map.values():
    if isinstance(t, GraphQLScalarType) and t.name == "Time":
        t.serialize = lambda v: v
bad = 0
def plain(root, info, **args):
    key = info.path.key
    return root.get(key) if isinstance(root, dict) else None
for q in sorted(glob.glob(os.path.join(d, "*.q")), key=lambda p: int(os.path.basename(p)[:-2])):
    text = open(q).read()
    ans = json.load(open(q[:-2] + ".json"))
    errs = validate(schema, parse(text))
    if errs:
        bad += 1
        print("%s: invalid query: %s\n%s" % (q, errs, text))
        continue
    data = ans.get("data")
    if data is None:
        continue
    variables = json.load(open(q[:-2] + ".vars"))
    got = execute(schema, parse(text), root_value=data,
                  variable_values=variables, field_resolver=plain)
    if got.errors or got.data != data:
        bad += 1
        print("%s: answer does not fit the query: %s\n%s\n%s" %
              (q, got.errors, json.dumps(data)[:2000], text))
print("graphql-core: %d queries checked, %d bad" %
      (len(glob.glob(os.path.join(d, "*.q"))), bad))
sys.exit(1 if bad else 0)
PY
}

# gql_is JQ JSON MESSAGE: jq's JQ of the last answer is JSON (compared
# with sorted keys, so member order does not matter; list order does).
gql_is() {
	local got want
	ASSERTS=$((ASSERTS + 1))
	got=$(jq -cS "$1" "$RESP/body" 2>&1) || fail "$3: the answer is not JSON: $(body)"
	want=$(jq -cS . <<<"$2") || fail "$3: bad expected JSON '$2'"
	[ "$got" = "$want" ] || fail "$3: $1 is $got, not $want"
}
