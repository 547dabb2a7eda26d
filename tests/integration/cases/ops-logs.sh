#!/bin/bash
# ops-logs.sh - the JSON log, its rotation, and the audit trail (log.audit).
# With log.output a file (log.format unset: JSON there), every line of the
# log is one JSON object that jq parses, with time, level, module and
# message; an access line per request carries requestId, clientIP, method,
# path, statusCode, latency, bodySize, repository, reference, digest and
# username. A request whose path holds a quote, a newline and a byte that
# is not UTF-8 leaves a line that still parses, with the path in it.
# logrotate: with requests running, the log and the audit file are
# renamed and SIGHUP sent; the new files appear, and the requests' access
# lines, old file plus new, are exactly the requests made. The audit trail
# has a line per push, tag, cross-repository mount and delete over HTTP
# (by alice of the htpasswd file, from 127.0.0.1; a refused anonymous
# push as a failure), per delete and publish through the mount (with the
# caller's uid), per push by a bearer token's subject, and per removal of an
# offline GC and of retention. No password, token or Authorization header
# is in any log.
. "$(dirname "$0")/../lib.sh"
require_dray "JSON and audit logs"
need_htpasswd
need_fuse

PW=pw-alice-Zq81Lm
USERS=$WORK/cfg/htpasswd
AUDIT=$WORK/logs/audit.log
htpasswd_users "$USERS" alice:$PW
test_clock_on
trap mount_on_exit EXIT

# write_cfg HTTP_AUTH_YAML: the case's config, with the audit file.
write_cfg() {
	cat >"$CFG" <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: 0
  auth:
$1
  accessControl:
    repositories:
      "**":
        anonymousPolicy: [read]
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
      "mnt/**":
        anonymousPolicy: [read, create, delete]
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
storage:
  rootDirectory: $WORK/data
  retention:
    delay: 1h
    policies:
      - repositories: ["tok/ret"]
        keepTags:
          - patterns: ["^keep"]
log:
  level: debug
  output: $DAEMON_LOG
  audit: $AUDIT
fuse:
  mountpoint: $MNT
EOF
}

# all_json FILE...: every line of each FILE is a JSON object (jq).
all_json() {
	local f lines objs
	for f in "$@"; do
		lines=$(wc -l <"$f")
		objs=$(jq -c 'select(type == "object")' "$f" | wc -l) ||
			fail "$f: jq cannot parse it: $(jq . "$f" 2>&1 >/dev/null | head -2)"
		assert_eq "$lines" "$objs" "JSON objects in $(basename "$f") (one per line)"
	done
}

# audit_has JQ_FILTER WHAT: some audit line (old file or new) matches.
audit_has() {
	local n
	n=$(cat "$AUDIT".1 "$AUDIT" 2>/dev/null | jq -c "select($1)" | wc -l)
	assert_true "$2: no audit line with $1 in $(cat "$AUDIT".1 "$AUDIT" 2>/dev/null | tail -n 5)" \
		test "$n" -ge 1
}

write_cfg "    htpasswd:
      path: $USERS"
dray_start
wait_mounted

# --- pushes as alice: blobs, a manifest by tag, the same by digest, a tag
as_user "alice:$PW"
push_image ops/app v1 1 2048
D1=$MANIFEST_DIGEST
push_manifest ops/app "$D1" "$IMG_DIR/manifest.json" "$MT_OCI_MANIFEST"
push_manifest ops/app v2 "$IMG_DIR/manifest.json" "$MT_OCI_MANIFEST"
mkblob "$WORK/tmp/extra" 1000
push_blob ops/app "$WORK/tmp/extra"
EXTRA=$BLOB_DIGEST
req POST "/v2/ops/other/blobs/uploads/?mount=$EXTRA&from=ops/app"
assert_status 201
mkblob "$WORK/tmp/extra2" 1200
push_blob mnt/x "$WORK/tmp/extra2"
EXTRA2=$BLOB_DIGEST
# Anonymous may read, not push: refused, and audited as such.
as_anonymous
req PUT /v2/ops/app/manifests/v3 -H "Content-Type: $MT_OCI_MANIFEST" \
	--data-binary "@$IMG_DIR/manifest.json"
assert_status 401
as_user "alice:$PW"
# A path no name can have: a quote, a newline, a byte that is not UTF-8.
req GET '/v2/bad%22name%0Aline%FF/tags/list'
assert_status 404

all_json "$DAEMON_LOG"
PUTLINE=$(jq -c "select(.method == \"PUT\" and .path == \"/v2/ops/app/manifests/v1\")" "$DAEMON_LOG")
assert_eq 1 "$(printf '%s\n' "$PUTLINE" | grep -c .)" "access lines of the tag push"
for check in '.level == "info"' '.module == "http"' \
	'.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")' \
	'.statusCode == 201' '.repository == "ops/app"' '.reference == "v1"' \
	".digest == \"$D1\"" '.username == "alice"' \
	'.clientIP | test("^127\\.0\\.0\\.1:[0-9]+$")' '.requestId > 0' \
	'.latency | test("^[0-9]+ms$")' '.bodySize == 0' \
	'.requestBodySize > 0' '.message | test("PUT /v2/ops/app/manifests/v1 201")'; do
	assert_eq true "$(jq "$check" <<<"$PUTLINE")" "access line: $check"
done
BAD=$(jq -c 'select(.path != null and (.path | startswith("/v2/bad\"name\nline")))' "$DAEMON_LOG")
assert_eq 1 "$(printf '%s\n' "$BAD" | grep -c .)" "the odd path's access line"
assert_eq true "$(jq '.statusCode == 404 and (.path | endswith("\ufffd/tags/list"))' <<<"$BAD")" "the odd path, escaped"
assert_eq true "$(jq -s 'map(select(.level == "info" and .module == "main" and (.message | startswith("dray ")))) | length == 1' "$DAEMON_LOG")" \
	"the startup line, as JSON"

# --- logrotate under load: rename both files, SIGHUP; no line lost
STOP=$WORK/tmp/stop-probe
probe_loop() {
	local n=0
	while [ ! -e "$STOP" ]; do
		curl -s -o /dev/null --max-time 30 "$URL/v2/ops/app/tags/list" && n=$((n + 1))
	done
	echo "$n" >"$WORK/tmp/probes"
}
probe_lines() { # FILE: access lines of the probe in it
	jq -c 'select(.path == "/v2/ops/app/tags/list" and .method == "GET")' "$1" 2>/dev/null | grep -c . || true
}
wait_probes() { # FILE N: until FILE holds N probe lines
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(probe_lines "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "fewer than $2 probe lines in $1 after 120 s"
}
as_anonymous
bg probe_loop
PROBE_PID=${BG_PIDS[-1]}
wait_probes "$DAEMON_LOG" 5
mv "$DAEMON_LOG" "$DAEMON_LOG.1"
mv "$AUDIT" "$AUDIT.1"
kill -HUP "$DRAY_PID"
for ((i = 0; i < 1200; i++)); do
	grep -qs 'log files reopened' "$DAEMON_LOG" && break
	sleep 0.1
done
assert_true "no new log after SIGHUP" grep -q 'log files reopened' "$DAEMON_LOG"
wait_probes "$DAEMON_LOG" 5
touch "$STOP"
wait "$PROBE_PID"
MADE=$(cat "$WORK/tmp/probes")
OLD=$(probe_lines "$DAEMON_LOG.1")
NEW=$(probe_lines "$DAEMON_LOG")
assert_eq "$MADE" "$((OLD + NEW))" "probe requests vs their access lines ($OLD before the rotation, $NEW after)"
assert_alive "after SIGHUP"
all_json "$DAEMON_LOG.1" "$DAEMON_LOG"

# --- deletes (audited into the new file): both tags (the manifest stays,
# untagged, for GC), a blob
as_user "alice:$PW"
req DELETE /v2/ops/app/manifests/v2
assert_status 202
req DELETE /v2/ops/app/manifests/v1
assert_status 202
req DELETE "/v2/ops/app/blobs/$EXTRA"
assert_status 202
# ... and one through the mount (anonymous there may delete)
rm "$MNT/mnt/x/blobs/sha256/${EXTRA2#sha256:}"
mkblob "$WORK/tmp/extra3" 900
EXTRA3=$(digest_of "$WORK/tmp/extra3")
cp "$WORK/tmp/extra3" "$MNT/mnt/x/blobs/sha256/${EXTRA3#sha256:}"
assert_true "audit file not reopened" test -s "$AUDIT"
dray_stop

# --- a push with a bearer token: the token's subject is the user
SVC=dray.test
token_keypair rs ec
tokenserver_start rs "$SVC" --user alice:$PW --allow 'alice:tok/**:pull,push,delete'
write_cfg "    bearer:
      realm: $TOKEN_URL
      service: $SVC
      cert: $WORK/cfg/rs.crt"
dray_start
wait_mounted
token_get "$SVC" -u "alice:$PW" -- "repository:tok/app:pull,push,delete" \
	"repository:tok/ret:pull,push"
[ -n "$TOKEN" ] || fail "no token from the token server (status $STATUS)"
as_bearer "$TOKEN"
push_image tok/app v1 1 1024
D2=$MANIFEST_DIGEST
req DELETE "/v2/tok/app/manifests/$D2"
assert_status 202
push_image tok/ret v1 1 512
D3=$MANIFEST_DIGEST
as_anonymous
dray_stop

# --- an offline GC pass, later than gcDelay: removals audited
clock_advance 7200
dray_cli gc "$CFG"
assert_cli_rc 0 "dray gc"

all_json "$AUDIT.1" "$AUDIT"
audit_has '.action == "blob.push" and .subject == "alice" and .repository == "ops/app" and .outcome == "success" and .status == 201 and (.clientIP | startswith("127.0.0.1:"))' "blob push"
audit_has ".action == \"manifest.tag\" and .reference == \"v1\" and .digest == \"$D1\" and .subject == \"alice\"" "tag push"
audit_has ".action == \"manifest.push\" and .reference == \"$D1\" and .digest == \"$D1\"" "push by digest"
audit_has '.action == "manifest.tag" and .reference == "v3" and .subject == "anonymous" and .outcome == "failure" and .status == 401 and (.error | length > 0)' "refused anonymous push"
audit_has ".action == \"blob.mount\" and .repository == \"ops/other\" and .digest == \"$EXTRA\" and .status == 201 and .subject == \"alice\"" "cross-repository mount"
audit_has '.action == "tag.delete" and .reference == "v2" and .subject == "alice" and .status == 202' "tag delete"
audit_has ".action == \"manifest.delete\" and .reference == \"$D2\" and .subject == \"alice\" and .status == 202" "manifest delete"
audit_has ".action == \"blob.delete\" and .reference == \"$EXTRA\" and .outcome == \"success\"" "blob delete"
audit_has ".action == \"mount.delete\" and .clientIP == \"mount\" and .uid == $(id -u) and .repository == \"mnt/x\" and .digest == \"$EXTRA2\"" "delete through the mount"
audit_has ".action == \"mount.publish\" and .clientIP == \"mount\" and .repository == \"mnt/x\" and .digest == \"$EXTRA3\" and .outcome == \"success\"" "a blob written through the mount"
audit_has '.action == "manifest.tag" and .repository == "tok/app" and .subject == "alice" and .outcome == "success"' "push with a bearer token"
audit_has ".action == \"gc.manifest\" and .subject == \"gc\" and .repository == \"ops/app\" and .digest == \"$D1\"" "GC of the manifest"
audit_has '.action == "gc.blob" and .repository == "ops/app" and .outcome == "success"' "GC of its blobs"
audit_has ".action == \"retention.tag\" and .repository == \"tok/ret\" and .reference == \"v1\" and .digest == \"$D3\" and .outcome == \"success\"" "retention's removal of a tag"
audit_has ".action == \"gc.manifest\" and .repository == \"tok/ret\" and .digest == \"$D3\"" "GC of the manifest retention untagged"
# The deletes came after the rotation: in the new file.
assert_true "the deletes are not in the new audit file" grep -q '"tag.delete"' "$AUDIT"
assert_true "a delete after the rotation landed in the old audit file" bash -c "! grep -q '\"tag.delete\"' '$AUDIT.1'"
assert_true "the pushes are not in the old audit file" grep -q '"manifest.push"' "$AUDIT.1"

# --- no secret anywhere
BASIC=$(printf 'alice:%s' "$PW" | base64 -w0)
for secret in "$PW" "$BASIC" "$TOKEN" "${TOKEN##*.}" Authorization; do
	for f in "$DAEMON_LOG.1" "$DAEMON_LOG" "$DAEMON_ERR" "$AUDIT.1" "$AUDIT" "$WORK/logs/cli.log"; do
		assert_true "$(basename "$f") holds a secret (${secret:0:12}...)" \
			bash -c '! grep -qiF -- "$1" "$2"' _ "$secret" "$f"
	done
done
pass
