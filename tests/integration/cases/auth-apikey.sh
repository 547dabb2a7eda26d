#!/bin/bash
# auth-apikey.sh - http.auth.apikey (zot's API keys) beside htpasswd and
# accessControl, driven by curl and skopeo:
#   "team/**"  alice everything; the group devs (dan) read
# Checks: a logged-in user creates a key (POST /zot/auth/apikey, 201, the
# key once, "zak_..."), lists its keys (GET: never the key), revokes one
# (DELETE ?id=); anonymous callers get the 401 challenge, callers that
# came with a key 403; skopeo pushes and pulls with the key as the Basic
# password, with the user's rights and groups (dan's key reads team/**,
# cannot push); another user's key id cannot be revoked; only a hash is
# stored; the keys survive a restart; a revoked key is refused at the
# next request, though it was just used (and Basic logins are cached);
# an expired key is refused (the age clock moved past its expiry);
# bounds: a long label, a bad date, a body over 8 KiB; mgmt says apikey.
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.apikey"
need_htpasswd
need_mkimage

USERS=$WORK/cfg/htpasswd
HTTP_EXTRA="  auth:
    htpasswd:
      path: $USERS
    apikey: true
  accessControl:
    groups:
      devs: {users: [dan]}
    repositories:
      \"team/**\":
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
          - {groups: [devs], actions: [read]}"
htpasswd_users "$USERS" alice:pw-alice dan:pw-dan
test_clock_on
dray_config_ext "$CFG"
dray_start
H=127.0.0.1:$PORT
IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 1 --layer-size 30000 --seed 17)

# mk_key USER:PASSWORD JSON: create a key; its text in KEY, id in KEY_ID.
mk_key() {
	req POST /zot/auth/apikey -u "$1" -H 'Content-Type: application/json' \
		--data-binary "$2"
	assert_status 201
	KEY=$(jq -r .apiKey "$RESP/body")
	KEY_ID=$(jq -r .uuid "$RESP/body")
	[[ "$KEY" =~ ^zak_[0-9a-f]{64}$ ]] || fail "not a key: '$KEY'"
}

# --- who may manage keys
req POST /zot/auth/apikey --data-binary '{"label":"x"}'
assert_error 401 UNAUTHORIZED
assert_header_present WWW-Authenticate
req GET /zot/auth/apikey
assert_error 401 UNAUTHORIZED
req GET /zot/auth/apikey -u alice:wrong
assert_error 401 UNAUTHORIZED

# --- create, list
mk_key alice:pw-alice '{"label":"ci push","scopes":["team/app"],"expirationDate":""}'
ALICE_KEY=$KEY ALICE_ID=$KEY_ID
assert_eq "ci push" "$(jq -r .label "$RESP/body")" "label"
assert_eq '["team/app"]' "$(jq -c .scopes "$RESP/body")" "scopes"
assert_eq "0001-01-01T00:00:00Z" "$(jq -r .expirationDate "$RESP/body")" "no expiry"
assert_eq false "$(jq -r .isExpired "$RESP/body")" "isExpired"
mk_key dan:pw-dan '{"label":"dan"}'
DAN_KEY=$KEY DAN_ID=$KEY_ID
assert_eq null "$(jq -c .scopes "$RESP/body")" "no scopes (zot: null)"
req GET /zot/auth/apikey -u alice:pw-alice
assert_status 200
assert_eq "[\"$ALICE_ID\"]" "$(jq -c '[.apiKeys[].uuid]' "$RESP/body")" "alice's keys"
assert_true "a listing showed a key" bash -c "! grep -q 'zak_' '$RESP/body'"
assert_true "the key reached the log" bash -c "! grep -q '${ALICE_KEY#zak_}' '$DAEMON_LOG'"
assert_true "the key is stored" bash -c "! grep -rq '${ALICE_KEY#zak_}' '$WORK/data/.dray/apikeys.json'"
assert_eq 2 "$(jq '.keys | length' "$WORK/data/.dray/apikeys.json")" "stored keys"

# --- a key is the user's password, with the user's rights
req GET /v2/ -u "alice:$ALICE_KEY"
assert_status 200
req GET /v2/ -u "dan:$ALICE_KEY"
assert_error 401 UNAUTHORIZED
req POST /zot/auth/apikey -u "alice:$ALICE_KEY" --data-binary '{}'
assert_error 403 DENIED
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	--dest-creds "alice:$ALICE_KEY" "oci:$IMG:v1" "docker://$H/team/app:v1"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	--src-creds "dan:$DAN_KEY" "docker://$H/team/app:v1" "oci:$WORK/tmp/dan:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/dan" v1)" "dan's pull with a key"
req POST /v2/team/app/blobs/uploads/ -u "dan:$DAN_KEY"
assert_error 403 DENIED
req GET /zot/auth/apikey -u alice:pw-alice
assert_ne "0001-01-01T00:00:00Z" "$(jq -r '.apiKeys[0].lastUsed' "$RESP/body")" "lastUsed"

# --- revoking: only one's own, and at once
req DELETE "/zot/auth/apikey?id=$ALICE_ID" -u dan:pw-dan
assert_error 404 NAME_UNKNOWN
req DELETE /zot/auth/apikey -u alice:pw-alice
assert_error 400 UNSUPPORTED
for i in 1 2 3; do
	req GET /v2/team/app/tags/list -u "alice:$ALICE_KEY"
	assert_status 200
done
req DELETE "/zot/auth/apikey?id=$ALICE_ID" -u alice:pw-alice
assert_status 200
req GET /v2/team/app/tags/list -u "alice:$ALICE_KEY"
assert_error 401 UNAUTHORIZED
req GET /zot/auth/apikey -u alice:pw-alice
assert_eq '[]' "$(jq -c .apiKeys "$RESP/body")" "alice's keys after revoking"

# --- bounds and bad input
req POST /zot/auth/apikey -u alice:pw-alice --data-binary "{\"label\":\"$(head -c 300 /dev/zero | tr '\0' a)\"}"
assert_error 400 UNSUPPORTED
req POST /zot/auth/apikey -u alice:pw-alice --data-binary '{"expirationDate":"tomorrow"}'
assert_error 400 UNSUPPORTED
req POST /zot/auth/apikey -u alice:pw-alice --data-binary '{"expirationDate":"2001-01-01T00:00:00Z"}'
assert_error 400 UNSUPPORTED
req POST /zot/auth/apikey -u alice:pw-alice --data-binary "{\"label\":\"$(head -c 9000 /dev/zero | tr '\0' a)\"}"
assert_error 413 SIZE_INVALID

# --- mgmt says which methods are on
req GET /v2/_zot/ext/mgmt
assert_status 200
assert_eq '{"htpasswd":{},"apikey":true}' "$(jq -c .http.auth "$RESP/body")" "mgmt auth"

# --- expiry, by the age clock; restart keeps the keys
exp=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
mk_key alice:pw-alice "{\"label\":\"short\",\"expirationDate\":\"$exp\"}"
SHORT_KEY=$KEY
req GET /v2/ -u "alice:$SHORT_KEY"
assert_status 200
dray_stop
dray_start
req GET /v2/team/app/tags/list -u "dan:$DAN_KEY"
assert_status 200
req GET /v2/ -u "alice:$SHORT_KEY"
assert_status 200
clock_advance 7200
req GET /v2/ -u "alice:$SHORT_KEY"
assert_error 401 UNAUTHORIZED
req GET /zot/auth/apikey -u alice:pw-alice
assert_eq true "$(jq -r '.apiKeys[0].isExpired' "$RESP/body")" "isExpired after expiry"
dray_stop
pass
