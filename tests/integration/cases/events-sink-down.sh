#!/bin/bash
# events-sink-down.sh - extensions.events with a real HTTP sink on
# loopback (tests/tools/eventsink): a push reaches it as a CloudEvent in
# binary mode (ce-* headers, zot's type names, the data as the body, the
# sink's headers and Basic credentials), and so does an image that
# on-demand sync brings in from an upstream (Debian's docker-registry). Then the sink goes down: a push,
# a tag of an existing manifest, a tag delete, a push and a delete by
# digest, a SIGTERM restart (which must not wait for the sink), a push
# and a kill -9 restart, and two kill -9 in the middle of a tag's
# publication: after its event is spooled (the tag never appears, nor its
# event) and after the tag is published (its event is sent). Once the sink is back on the same port, every one
# of those events arrives (at least once each), and /metrics counts them.
. "$(dirname "$0")/../lib.sh"
require_dray "extensions.events"
need_mkimage

SRC=$WORK/tmp/src
DS=$("$MKIMAGE" "$SRC" v1 --layers 1 --layer-size 1000 --seed 41)
upstream_start up
up_put up "$SRC" "$DS" up/app v1
eventsink_start
dray_config
cat >>"$CFG" <<EOF
extensions:
  metrics: {enable: true}
  sync:
    registries:
      - urls: ["$(up_url up)"]
        onDemand: true
        tlsVerify: false
        content: [{prefix: "up/**"}]
  events:
    enable: true
    source: dray.test
    retryDelay: 100ms
    maxRetryDelay: 500ms
    sinks:
      - type: http
        address: http://127.0.0.1:$SINK_PORT/events
        timeout: 5s
        headers:
          X-Dray-Test: events-sink-down
        credentials:
          username: hook
          password: s3cret
EOF
dray_start

# --- the sink is up: a push arrives, with everything it should carry.
push_image ev/app v1 1 1000
D1=$MANIFEST_DIGEST
M1=$IMG_DIR/manifest.json
wait_events "updated ev/app v1 $D1"
assert_true "one event: $(cat "$SINK_OUT")" \
	jq -e -s --arg d "$D1" 'length == 1 and (.[0] |
	.headers["ce-type"] == "zotregistry.image.updated" and
	.headers["ce-source"] == "dray.test" and
	.headers["ce-specversion"] == "1.0" and
	(.headers["ce-id"] | test("^[0-9a-f-]{36}$")) and
	(.headers["ce-time"] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) and
	.headers["ce-subject"] == "ev/app" and
	(.headers["content-type"] | startswith("application/json")) and
	.headers["x-dray-test"] == "events-sink-down" and
	.headers.authorization == "Basic aG9vazpzM2NyZXQ=" and
	.body == {name: "ev/app", reference: "v1", digest: $d,
	          mediaType: "application/vnd.oci.image.manifest.v1+json"})' \
	"$SINK_OUT"
# An image synced on demand is an update too.
req GET /v2/up/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
wait_events "updated up/app v1 $DS"

# --- the sink is down: changes are answered all the same.
eventsink_stop
push_image ev/app v2 1 1001
D2=$MANIFEST_DIGEST
push_manifest ev/app latest "$M1" "$MT_OCI_MANIFEST" # a tag of v1
req DELETE /v2/ev/app/manifests/v2
assert_status 202
push_image ev/gone v1 1 1002
D3=$MANIFEST_DIGEST
req DELETE "/v2/ev/gone/manifests/$D3"
assert_status 202
dray_stop # must not hang on the sink
dray_start
push_image ev/other v1 1 1003
D4=$MANIFEST_DIGEST
push_image ev/crash base 1 1004
D5=$MANIFEST_DIGEST
M5=$IMG_DIR/manifest.json
dray_kill9

# put_held TAG: PUT ev/crash's manifest as TAG (run with &: it is held).
put_held() {
	exec curl -s -o /dev/null -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
		--data-binary "@$M5" "$URL/v2/ev/crash/manifests/$1"
}

# kill9_at POINT TAG: kill -9 while tagging TAG is held at POINT.
kill9_at() {
	local m p
	export DRAY_TEST_HOLD="$1:$WORK/tmp/never"
	dray_start
	m=$(log_mark)
	put_held "$2" &
	p=$!
	wait_log "$m" "test hold: $1 at ev/crash" "tag $2 held at $1"
	dray_kill9
	wait "$p" || true
	unset DRAY_TEST_HOLD
}

# --- kill -9 once the event is spooled and before the tag is published:
# the event goes with the change. Then after the tag is published and
# before its event is released: the event is sent after the restart.
kill9_at indexspooled phantom
kill9_at indexwritten kept
dray_start
assert_true "the spool keeps no pending event" \
	bash -c "! find '$WORK/data/.dray/events' -name '*.pending' | grep -q ."
req GET /v2/ev/crash/manifests/phantom -H "Accept: $MT_OCI_MANIFEST"
assert_status 404
req GET /v2/ev/crash/manifests/kept -H "Accept: $MT_OCI_MANIFEST"
assert_status 200

# --- the sink is back on its port: everything arrives.
eventsink_start
wait_events "updated ev/app v2 $D2" "updated ev/app latest $D1" \
	"deleted ev/app v2 $D2" "updated ev/gone v1 $D3" \
	"deleted ev/gone v1 $D3" "updated ev/other v1 $D4" \
	"updated ev/crash base $D5" "updated ev/crash kept $D5"
assert_true "no event for a tag that was never published" \
	bash -c "! grep -q phantom '$SINK_OUT'"
# Each event once here: the sink answered every try it saw.
assert_eq 10 "$(jq -s 'map(.headers["ce-id"]) | unique | length' "$SINK_OUT")" \
	"distinct events"
# The counters since the last start: the eight spooled ones, delivered.
req GET /metrics
assert_status 200
assert_eq "0 8" "$(body | awk '$1 == "dray_events_queued" { q = $2 }
	$1 == "dray_events_delivered_total" { d = $2 } END { print q, d }')" \
	"dray_events_queued and dray_events_delivered_total"
promtool_check "$RESP/body"
dray_stop
assert_eq "" "$(find "$WORK/data/.dray/events" -type f)" \
	"the spool once all is delivered"
eventsink_stop
upstream_stop up
pass "events reach a sink that was down, across a restart and a kill -9"
