#!/bin/bash
# http-drain.sh - shutdown is not held hostage by a stalled client. With a
# chunk PATCH that sent half its body and stopped, and another that keeps
# sending slowly, SIGTERM drops the stalled one at once (its connection
# closes; the log says why; no request is left in flight when the drain
# ends) while the moving one completes (202) during http.drainTimeout; the
# daemon then exits 0. Both sessions are parked, so after a restart the
# completed chunk is there and the upload finishes with the right digest,
# and the stalled session reports the offset it reached.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's drain"

HTTP_EXTRA='  drainTimeout: 60s'
dray_start_cfg
REPO=drain/app
BOUND=120

mkblob "$WORK/tmp/half" 200000
mkblob "$WORK/tmp/slow" 1000000
SLOW_D=$(digest_of "$WORK/tmp/slow")

# busy LOC: the session at LOC is held by a request (its status is
# refused as in use).
busy() {
	req GET "$1"
	[ "$STATUS" = 429 ]
}
wait_busy() {
	local t0=$SECONDS
	until busy "$1"; do
		[ $((SECONDS - t0)) -lt "$BOUND" ] || fail "$2 never started"
		sleep 0.1
	done
}

# The stalled PATCH: headers and half the body, then nothing.
upload_open "$REPO"
HALF_LOC=$LOC
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
{
	printf 'PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n' \
		"$HALF_LOC"
	head -c 100000 "$WORK/tmp/half"
} >&5
wait_busy "$HALF_LOC" "the stalled PATCH"

# The moving PATCH: 1 MB at 100 KB/s.
upload_open "$REPO"
SLOW_LOC=$LOC
slow_patch() {
	curl -sS --max-time "$BOUND" -H 'Expect:' -X PATCH --limit-rate 100k \
		-H 'Content-Type: application/octet-stream' \
		--data-binary "@$WORK/tmp/slow" -o /dev/null -w '%{http_code}' \
		"$URL$SLOW_LOC" >"$WORK/tmp/slow.status" 2>"$WORK/tmp/slow.err" ||
		true
}
bg slow_patch
SLOW_PID=$!
wait_busy "$SLOW_LOC" "the moving PATCH"

# SIGTERM; wait (bounded, generously) for the daemon to exit.
T0=$(date +%s%N)
kill -TERM "$DRAY_PID"
RC=0
for ((i = 0; i < BOUND * 10; i++)); do
	kill -0 "$DRAY_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$DRAY_PID" 2>/dev/null && fail "daemon still running $BOUND s after SIGTERM"
wait "$DRAY_PID" || RC=$?
T1=$(date +%s%N)
DRAY_PID=
assert_eq 0 "$RC" "exit status after SIGTERM"
note "exited $(((T1 - T0) / 1000000)) ms after SIGTERM (drainTimeout 60 s)"

# The stalled client sees its connection closed.
assert_true "the stalled PATCH's connection was closed" \
	timeout 10 cat <&5 >/dev/null
exec 5<&-
assert_true "the stalled request was dropped for the shutdown" \
	grep -q 'shutting down, request body stalled' "$DAEMON_LOG"
# Dropped at once: before the moving PATCH (10 s of sending) was answered.
DROP_LINE=$(grep -n 'shutting down, request body stalled' "$DAEMON_LOG" | head -1 | cut -d: -f1)
DONE_LINE=$(grep -n "PATCH ${SLOW_LOC%%\?*} 202" "$DAEMON_LOG" | head -1 | cut -d: -f1)
assert_true "the stalled request was dropped (log line $DROP_LINE) before the moving one was answered (line $DONE_LINE)" \
	test "${DROP_LINE:-0}" -gt 0 -a "${DROP_LINE:-0}" -lt "${DONE_LINE:-0}"
ms_of() { # the time of day of log line N, in ms
	sed -n "$1p" "$DAEMON_LOG" | awk '{ split($1, a, "T"); split(a[2], b, ":");
		printf "%d", (b[1] * 3600 + b[2] * 60 + b[3]) * 1000 }'
}
SIG_LINE=$(grep -n 'signal 15' "$DAEMON_LOG" | head -1 | cut -d: -f1)
note "stalled PATCH dropped $(($(ms_of "$DROP_LINE") - $(ms_of "$SIG_LINE"))) ms after SIGTERM"
assert_true "no request was left in flight" \
	bash -c "! grep -q 'still in flight' '$DAEMON_LOG'"
wait "$SLOW_PID" 2>/dev/null || true
assert_eq 202 "$(cat "$WORK/tmp/slow.status")" "the moving PATCH completed during the drain ($(cat "$WORK/tmp/slow.err"))"

# Both sessions were parked: the moving one finishes after a restart.
dray_start
req PUT "$(with_query "$(abs_url "$SLOW_LOC")" "digest=$SLOW_D")"
assert_status 201
req GET "/v2/$REPO/blobs/$SLOW_D"
assert_status 200
assert_body_file "$WORK/tmp/slow"
req GET "$HALF_LOC"
assert_status 204
assert_header_match Range '^0-[0-9]+$'
dray_stop
pass
