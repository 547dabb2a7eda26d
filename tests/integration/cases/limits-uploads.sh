#!/bin/bash
# limits-uploads.sh - upload sessions are capped, in all and per
# repository, and hold no descriptor or buffer between their requests.
# 20,000 sessions are opened and abandoned over keep-alive connections:
# the cap's worth get 202, the rest 429 TOOMANYREQUESTS with the spec's
# error body; the daemon's open files and memory stay bounded; a session
# opened before the refusals still completes, and its end frees a place;
# SIGTERM still stops the daemon (parking what is open) promptly.
. "$(dirname "$0")/../lib.sh"
require_dray "storage.maxUploadSessions"

# A small quarantine, so that RSS shows what the daemon keeps rather
# than what ASan holds back of what it freed (no effect without ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8"

dray_config_ext "$CFG" "maxUploadSessions: 1500" \
	"maxUploadSessionsPerRepo: 1000"
sed -i 's/level: debug/level: warn/' "$CFG" # no log line per request
dray_start
push_blob warm/up "$WORK/cfg/dray.yaml" # every code path once
RSS0=$(proc_rss_kib "$DRAY_PID")
FD0=$(proc_fds "$DRAY_PID")

# --- 20,000 sessions into one repository: 1,000 fit, the rest are 429
flood -n 20000 -c 4 -L "$WORK/tmp/loc" -B "$WORK/tmp/429" post flood/a
assert_eq 1000 "$(flood_count s2xx)" "sessions opened in flood/a"
assert_eq 19000 "$(flood_count s429)" "sessions refused in flood/a"
assert_eq 0 "$(flood_count other)" "other answers"
cp "$WORK/tmp/429" "$RESP/body"
assert_json_error_code TOOMANYREQUESTS

# --- another repository: 500 more reach the cap in all
flood -n 1000 -c 4 post flood/b
assert_eq 500 "$(flood_count s2xx)" "sessions opened in flood/b"
assert_eq 500 "$(flood_count s429)" "sessions refused in flood/b"
req POST /v2/flood/c/blobs/uploads/
assert_error 429 TOOMANYREQUESTS

FD1=$(proc_fds "$DRAY_PID")
RSS1=$(proc_rss_kib "$DRAY_PID")
note "1,500 open sessions: fds $FD0 -> $FD1, RSS $((RSS0 / 1024)) -> $((RSS1 / 1024)) MiB"
assert_true "open files with 1,500 sessions: $FD1" [ "$FD1" -lt 200 ]
assert_true "RSS grew by $(((RSS1 - RSS0) / 1024)) MiB for 1,500 sessions" \
	[ $((RSS1 - RSS0)) -lt $((64 * 1024)) ]

# --- a session from before the refusals completes, in chunks
mkblob "$WORK/tmp/blob" 3000000 3
head -c 1000000 "$WORK/tmp/blob" >"$WORK/tmp/part1"
tail -c 2000000 "$WORK/tmp/blob" >"$WORK/tmp/part2"
D=$(digest_of "$WORK/tmp/blob")
LOC=$(tr -d '\r\n' <"$WORK/tmp/loc")
upload_chunk "$WORK/tmp/part1" 0
assert_true "a descriptor is left open after a PATCH" \
	[ "$(proc_fds "$DRAY_PID")" -le "$FD1" ]
req PUT "$(with_query "$(abs_url "$LOC")" "digest=$D")" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$WORK/tmp/part2"
assert_status 201
req GET "/v2/flood/a/blobs/$D"
assert_status 200
assert_body_digest "$D"
# ... and its end made room for one more
upload_open flood/a
req POST /v2/flood/a/blobs/uploads/
assert_error 429 TOOMANYREQUESTS
# ... as does a cancelled one
req DELETE "$(abs_url "$LOC")"
assert_status 204
upload_open flood/a

# --- SIGTERM parks 1,500 sessions and the daemon exits
stop_and_wait 120
note "SIGTERM with 1,500 sessions: exited in $STOP_MS ms"
dray_start
req GET "$(abs_url "$LOC")"
assert_status 204
pass
