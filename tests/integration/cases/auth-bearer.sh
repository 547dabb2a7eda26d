#!/bin/bash
# auth-bearer.sh - http.auth.bearer (the docker token protocol) with the
# tests' own token server (tests/tools/tokenserver), driven by curl,
# skopeo and podman:
#   alice: pull and push under library/; anyone: pull on public/**;
#   bob: pull on library/app only.
# Checks: /v2/ and every refused request challenge with
# `Bearer realm=…,service=…[,scope=repository:NAME:pull,push]`; skopeo and
# podman log in through the token server, push and pull; a token grants
# at most its scope (another repository: 401 insufficient_scope); with
# accessControl on, a token grants at most what the policies give its
# subject; refused tokens (another key, another service, expired, alg
# none, HS256 with the public key as the secret, garbage) are 401
# UNAUTHORIZED and never logged; Basic credentials are not taken where
# tokens are; only accessControl.metrics.users read /metrics.
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.bearer"
need_mkimage

SVC=dray.test
token_keypair rs rsa
token_keypair other rsa
tokenserver_start rs "$SVC" --user alice:pw-alice --user bob:pw-bob \
	--allow 'alice:library/**:pull,push' --allow 'bob:library/app:pull' \
	--allow '*:public/**:pull' --allow 'alice:public/**:pull,push'
REALM=$TOKEN_URL
HTTP_EXTRA="  auth:
    bearer:
      realm: $REALM
      service: $SVC
      cert: $WORK/cfg/rs.crt
    apikey: true
  accessControl:
    repositories:
      \"**\":
        defaultPolicy: [read, create, update]
      \"public/**\":
        anonymousPolicy: [read]
        defaultPolicy: [read, create, update]
      \"library/locked\":
        defaultPolicy: [read]
    metrics: {users: [alice]}"
dray_config_ext "$CFG" -- "extensions:
  metrics: {enable: true}"
dray_start
H=127.0.0.1:$PORT
IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 1 --layer-size 30000 --seed 17)

# --- /v2/ challenges with where to get a token
req GET /v2/
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\""

# --- push and pull with tokens, through the clients' own token dance
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	--dest-creds alice:pw-alice "oci:$IMG:v1" "docker://$H/library/app:v1"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	--src-creds bob:pw-bob "docker://$H/library/app:v1" "oci:$WORK/tmp/bob:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/bob" v1)" "bob's pull"
# bob's token never carries push: his push is refused.
rc=0
timeout 900 skopeo --command-timeout 850s copy --quiet --dest-tls-verify=false \
	--dest-creds bob:pw-bob "oci:$IMG:v1" "docker://$H/library/bob:v1" \
	>/dev/null 2>"$WORK/tmp/sk.err" || rc=$?
assert_ne 0 "$rc" "bob pushed"
# Anonymous: the token server gives anyone pull on public/, and so does
# public/**'s anonymousPolicy (a token without a subject is anonymous).
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	--dest-creds alice:pw-alice "oci:$IMG:v1" "docker://$H/public/app:v1"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://$H/public/app:v1" "oci:$WORK/tmp/anon:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/anon" v1)" "anonymous pull"

# --- podman logs in against the registry; the token server does the rest
podman_init
pm login --tls-verify=false -u alice -p pw-alice "$H"
pm pull -q --tls-verify=false "$H/library/app:v1"
pm tag "$H/library/app:v1" "$H/library/pod:v1"
pm push -q --tls-verify=false "$H/library/pod:v1"
pm logout "$H"

# --- what a token grants: its scope, and no more than the policies
token_get "$SVC" -u alice:pw-alice -- repository:library/app:pull
assert_status 200
PULL_APP=$TOKEN
req GET /v2/library/app/manifests/v1 -H "Authorization: Bearer $PULL_APP" \
	-H "Accept: $MT_OCI_MANIFEST"
assert_status 200
# A token cannot mint an API key: it would outgrow the token's scope.
req POST /zot/auth/apikey -H "Authorization: Bearer $PULL_APP" --data-binary '{}'
assert_error 403 DENIED
# Another repository: the client is told which scope to fetch.
req GET /v2/library/pod/manifests/v1 -H "Authorization: Bearer $PULL_APP" \
	-H "Accept: $MT_OCI_MANIFEST"
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\",scope=\"repository:library/pod:pull\",error=\"insufficient_scope\""
req POST /v2/library/app/blobs/uploads/ -H "Authorization: Bearer $PULL_APP"
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\",scope=\"repository:library/app:pull,push\",error=\"insufficient_scope\""
# Anonymous: a challenge with the scope to ask for.
req GET /v2/library/app/tags/list
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\",scope=\"repository:library/app:pull\""
req POST /v2/library/app/blobs/uploads/
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\",scope=\"repository:library/app:pull,push\""
# The token allows a push to library/locked, the policy does not.
token_get "$SVC" -u alice:pw-alice -- repository:library/locked:pull,push
req POST /v2/library/locked/blobs/uploads/ -H "Authorization: Bearer $TOKEN"
assert_error 403 DENIED
token_get "$SVC" -u alice:pw-alice -- repository:library/open:pull,push
req POST /v2/library/open/blobs/uploads/ -H "Authorization: Bearer $TOKEN"
assert_status 202

# --- the metrics: only accessControl.metrics.users read them
req GET /metrics
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\""
req GET /metrics -H "Authorization: Bearer $PULL_APP"
assert_status 200
assert_true "no request counter in the metrics" grep -q '^zot_http_requests_total{' "$RESP/body"
token_get "$SVC" -u bob:pw-bob -- repository:library/app:pull
req GET /metrics -H "Authorization: Bearer $TOKEN"
assert_error 403 DENIED

# --- refused tokens: 401, whatever is wrong with them
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
PAYLOAD=$(cut -d. -f2 <<<"$PULL_APP")
SIG=$(cut -d. -f3 <<<"$PULL_APP")
NONE=$(printf '{"alg":"none","typ":"JWT"}' | b64url).$PAYLOAD.
HS_HEAD=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
HS_SIG=$(printf '%s' "$HS_HEAD.$PAYLOAD" |
	openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$WORK/cfg/rs.crt")" -binary | b64url)
tokenserver_stop
tokenserver_start other "$SVC" --user alice:pw-alice --allow 'alice:library/**:pull'
token_get "$SVC" -u alice:pw-alice -- repository:library/app:pull
OTHER_KEY=$TOKEN
tokenserver_stop
tokenserver_start rs other.service --user alice:pw-alice --allow 'alice:library/**:pull'
token_get other.service -u alice:pw-alice -- repository:library/app:pull
OTHER_SVC=$TOKEN
tokenserver_stop
tokenserver_start rs "$SVC" --skew -3600 --user alice:pw-alice --allow 'alice:library/**:pull'
token_get "$SVC" -u alice:pw-alice -- repository:library/app:pull
EXPIRED=$TOKEN
tokenserver_stop
for bad in "$NONE" "$HS_HEAD.$PAYLOAD.$HS_SIG" "$OTHER_KEY" "$OTHER_SVC" \
	"$EXPIRED" "${PULL_APP%.*}.${SIG:0:20}" "not-a-token"; do
	req GET /v2/library/app/manifests/v1 -H "Authorization: Bearer $bad" \
		-H "Accept: $MT_OCI_MANIFEST"
	assert_error 401 UNAUTHORIZED
	assert_true "a token reached the log" bash -c "! grep -qF -- '${bad:0:40}' '$DAEMON_LOG'"
done
# Passwords are for the token server, not for the registry.
req GET /v2/library/app/manifests/v1 -u alice:pw-alice -H "Accept: $MT_OCI_MANIFEST"
assert_error 401 UNAUTHORIZED
dray_stop
pass
