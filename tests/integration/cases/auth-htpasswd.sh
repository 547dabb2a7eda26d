#!/bin/bash
# auth-htpasswd.sh - http.auth.htpasswd with http.accessControl (zot's
# schema), driven by curl and skopeo with a file made by `htpasswd -B`:
#   "**"       anonymous read; any user (defaultPolicy) read
#   "team/**"  alice everything; the group devs (dan) read
#   adminPolicy: root everything, everywhere
# podman logs in, pushes and pulls (vfs storage in the work dir).
# Checks: a missing file or an MD5 entry stops startup (and `dray verify`);
# /v2/ challenges an anonymous caller (Basic realm from http.realm), yet
# skopeo pulls anonymously where anonymousPolicy allows; a lacking right
# is 401 with the challenge anonymously, 404 NAME_UNKNOWN for a
# repository a user may not read, 403 DENIED otherwise; the catalog and
# tag lists show only what the caller may read; bad credentials and
# malformed headers are 401; a changed file applies at once, without a
# restart, also to credentials verified (and cached) before.
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.htpasswd"
need_htpasswd
need_mkimage

USERS=$WORK/cfg/htpasswd
HTTP_EXTRA="  realm: dray-test
  auth:
    htpasswd:
      path: $USERS
  accessControl:
    groups:
      devs: {users: [dan]}
    repositories:
      \"**\":
        anonymousPolicy: [read]
        defaultPolicy: [read]
      \"team/**\":
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
          - {groups: [devs], actions: [read]}
    adminPolicy: {users: [root], actions: [read, create, update, delete]}"

# --- startup refuses a missing file, and one that is not all bcrypt
dray_config_ext "$CFG"
dray_cli verify "$CFG"
assert_cli_rc 2 "verify with no htpasswd file"
assert_true "verify did not name the file: $CLI_OUT" grep -q "htpasswd.path: cannot read '$USERS'" <<<"$CLI_OUT"
htpasswd -c -b -m "$USERS" bob md5pw 2>/dev/null
dray_cli verify "$CFG"
assert_cli_rc 2 "verify with an MD5 entry"
assert_true "verify did not name the line: $CLI_OUT" grep -q "$USERS:1: user 'bob': not a bcrypt hash" <<<"$CLI_OUT"
rc=0
timeout 900 "$DRAY_BIN" serve "$CFG" >"$WORK/tmp/serve.out" 2>&1 || rc=$?
assert_ne 0 "$rc" "dray served with an MD5 entry"
assert_true "serve did not say why: $(cat "$WORK/tmp/serve.out" "$DAEMON_LOG" 2>/dev/null | tail -n 3)" \
	grep -qs "not a bcrypt hash" "$WORK/tmp/serve.out" "$DAEMON_LOG"

htpasswd_users "$USERS" alice:pw-alice dan:pw-dan eve:pw-eve root:pw-root
dray_start
H=127.0.0.1:$PORT
IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 1 --layer-size 40000 --seed 91)
M1=$IMG/blobs/sha256/${D1#sha256:}

# --- /v2/: a challenge for anonymous callers, 200 for valid credentials
req GET /v2/
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate 'Basic realm="dray-test"'
req GET /v2/ -u alice:pw-alice
assert_status 200
req GET /v2/ -u alice:wrong
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate 'Basic realm="dray-test"'
assert_true "a password reached the log" bash -c "! grep -q 'pw-alice\|wrong' '$DAEMON_LOG'"
# Malformed headers: a clear refusal, nothing else.
# (Each kind is a unit test, test_auth.c; two over HTTP.)
for h in 'Basic YQBiOnB3' "Basic $(head -c 6000 /dev/zero | tr '\0' A)"; do
	req GET /v2/app/tags/list -H "Authorization: $h"
	assert_error 401 UNAUTHORIZED
done

# --- pushes: anonymous 401; alice under team/**; root anywhere
as_user alice:pw-alice
push_layout team/app v1 "$IMG"
as_anonymous
req POST /v2/app/blobs/uploads/
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate 'Basic realm="dray-test"'
req POST /v2/app/blobs/uploads/ -u alice:pw-alice
assert_error 403 DENIED
as_user root:pw-root
push_layout app v1 "$IMG"
as_anonymous

# --- reads: names a user may not read are unknown to it
req GET /v2/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_error 401 UNAUTHORIZED
req GET /v2/team/app/manifests/v1 -u eve:pw-eve -H "Accept: $MT_OCI_MANIFEST"
assert_error 404 NAME_UNKNOWN
req GET /v2/team/app/tags/list -u eve:pw-eve
assert_error 404 NAME_UNKNOWN
req DELETE "/v2/team/app/manifests/$D1" -u eve:pw-eve
assert_error 404 NAME_UNKNOWN
req GET /v2/team/app/manifests/v1 -u dan:pw-dan -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req DELETE "/v2/team/app/manifests/$D1" -u dan:pw-dan
assert_error 403 DENIED
req PUT /v2/team/app/manifests/v2 -u dan:pw-dan -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$M1"
assert_error 403 DENIED

# --- lists show what the caller may read
req GET /v2/_catalog
assert_status 200
assert_eq '["app"]' "$(jq -c .repositories "$RESP/body")" "anonymous catalog"
req GET /v2/_catalog -u eve:pw-eve
assert_eq '["app"]' "$(jq -c .repositories "$RESP/body")" "eve's catalog"
req GET /v2/_catalog -u dan:pw-dan
assert_eq '["app","team/app"]' "$(jq -c .repositories "$RESP/body")" "dan's catalog"
req GET /v2/team/app/tags/list -u alice:pw-alice
assert_status 200
assert_eq '["v1"]' "$(jq -c .tags "$RESP/body")" "alice's tags"

# --- skopeo: push with --dest-creds, pull with --src-creds, and an
# anonymous pull through /v2/'s challenge
skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	--dest-creds alice:pw-alice "oci:$IMG:v1" "docker://$H/team/sk:v1"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false --src-creds dan:pw-dan \
	"docker://$H/team/sk:v1" "oci:$WORK/tmp/dan:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/dan" v1)" "dan's pull"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	"docker://$H/app:v1" "oci:$WORK/tmp/anon:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/anon" v1)" "anonymous pull"
rc=0
timeout 900 skopeo --command-timeout 850s copy --quiet --dest-tls-verify=false \
	"oci:$IMG:v1" "docker://$H/team/anon:v1" >/dev/null 2>"$WORK/tmp/sk.err" || rc=$?
assert_ne 0 "$rc" "skopeo pushed anonymously"
assert_true "skopeo's refusal: $(tail -n 2 "$WORK/tmp/sk.err")" grep -qi "unauthorized\|authentication required" "$WORK/tmp/sk.err"

# --- podman: login, push, pull; after logout a push is refused, an
# anonymous pull where anonymousPolicy allows is not
podman_init
pm login --tls-verify=false -u alice -p pw-alice "$H"
# A relative path: podman names the image after the path, which must be
# lowercase; it prints the image id.
id=$(cd "$WORK/tmp" && timeout 900 "${PM[@]}" pull -q oci:img:v1 2>>"$WORK/logs/podman.log") ||
	fail "podman pull oci:img:v1 failed: $(tail -n 3 "$WORK/logs/podman.log")"
pm tag "$id" "$H/team/pod:v1"
pm push -q --tls-verify=false "$H/team/pod:v1"
pm rmi -f "$H/team/pod:v1"
pm pull -q --tls-verify=false "$H/team/pod:v1"
pm logout "$H"
rc=0
timeout 900 "${PM[@]}" push -q --tls-verify=false "$H/team/pod:v1" \
	>>"$WORK/logs/podman.log" 2>&1 || rc=$?
assert_ne 0 "$rc" "podman pushed after logout"
pm pull -q --tls-verify=false "$H/app:v1"
req GET /v2/team/pod/tags/list -u alice:pw-alice
assert_eq '["v1"]' "$(jq -c .tags "$RESP/body")" "podman's push"

# --- the file changes: applies at once, to cached credentials too
req GET /v2/ -u alice:pw-alice
assert_status 200
htpasswd_users "$USERS" alice:pw-new dan:pw-dan
req GET /v2/ -u alice:pw-alice
assert_error 401 UNAUTHORIZED
req GET /v2/ -u alice:pw-new
assert_status 200
req GET /v2/ -u eve:pw-eve
assert_error 401 UNAUTHORIZED
assert_true "the re-read was not logged" grep -q "re-read: 2 users" "$DAEMON_LOG"
dray_stop
pass
