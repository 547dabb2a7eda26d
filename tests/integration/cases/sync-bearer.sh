#!/bin/bash
# sync-bearer.sh - pull-through from an upstream that wants bearer tokens:
# another dray process with http.auth.bearer, behind the tests' token
# server. dray follows the 401's challenge to the realm with the
# credentialsFile's user, gets a token, and reuses it until it expires:
# one token for a whole image (manifest and blobs). podman pulls through
# dray from an upstream it never talks to, bit-identical. A repository
# the token server grants nothing on is a 404 that says the upstream
# refused.
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"
need_mkimage

SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 3 --layer-size 100000 --seed 41)

SVC=dray.up
token_keypair rs rsa
tokenserver_start rs "$SVC" --user mirror:s3cret --allow 'mirror:team/**:pull'
# The upstream serves the layout copied into its root.
mkdir -p "$WORK/up/tok/root/team" "$WORK/up/tok/root/secret"
cp -r "$SRC" "$WORK/up/tok/root/team/app"
cp -r "$SRC" "$WORK/up/tok/root/secret/app"
upstream_dray_start tok <<EOF2
  auth:
    bearer: {realm: "$TOKEN_URL", service: $SVC, cert: $WORK/cfg/rs.crt}
  accessControl:
    repositories:
      "**": {defaultPolicy: [read]}
EOF2
UP=$(up_url tok)
curl -s -o /dev/null -w '%{http_code}' "$UP/v2/team/app/manifests/v1" >"$WORK/tmp/st"
assert_eq 401 "$(cat "$WORK/tmp/st")" "the upstream wants a token"

cat >"$WORK/cfg/creds.json" <<EOF2
{"$(up_host tok)": {"username": "mirror", "password": "s3cret"}}
EOF2
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$UP"]
        onDemand: true
EOF2
dray_start
H=127.0.0.1:$PORT
tokens() { grep -c 'scopes asked' "$WORK/logs/tokenserver.log" || true; }

# --- skopeo: bit-identical, one token for the whole image
timeout 60 skopeo --command-timeout 50s copy --quiet --preserve-digests \
	--src-tls-verify=false "docker://$H/team/app:v1" "oci:$WORK/tmp/p1:v1" \
	>>"$WORK/logs/skopeo.log" 2>&1 || fail "skopeo pull failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
assert_eq "$D1" "$(jq -r '.manifests[0].digest' "$WORK/tmp/p1/index.json")" "pulled digest"
for f in "$WORK"/tmp/p1/blobs/sha256/*; do
	assert_true "blob $(basename "$f") identical" cmp -s "$f" "$SRC/blobs/sha256/$(basename "$f")"
done
assert_eq 1 "$(tokens)" "tokens fetched for a manifest and its 4 blobs"
assert_true "the token is the mirror user's" grep -q "user 'mirror'" "$WORK/logs/tokenserver.log"

# --- the upstream refuses: a clear 404
req GET /v2/secret/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404
assert_true "the message says the upstream refused" grep -q "refused" "$RESP/body"
assert_eq 2 "$(tokens)" "one token asked for secret/app, which grants nothing"

# --- podman pulls through dray, from an upstream it never talks to
D2=$("$MKIMAGE" "$SRC" v2 --layers 2 --layer-size 50000 --seed 42)
cp -r "$SRC" "$WORK/up/tok/root/team/pod"
podman_init
pm pull -q --tls-verify=false "$H/team/pod:v2"
assert_eq "$D2" "$("${PM[@]}" image inspect --format '{{.Digest}}' "$H/team/pod:v2")" "podman's digest"
assert_eq "$D2" "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v2") | .digest' "$WORK/data/team/pod/index.json")" "stored in dray"
assert_eq 3 "$(tokens)" "one more token, for the new repository"

dray_stop
upstream_stop tok
pass "bearer token flow against a dray upstream: one token per repository, skopeo and podman bit-identical"
