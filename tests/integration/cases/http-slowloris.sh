#!/bin/bash
# http-slowloris.sh - slow clients cannot hold the server: connections that
# send a request's headers a byte at a time are closed once
# http.readHeaderTimeout has passed (each close is observed as EOF or a
# failed write, within a generous bound), a body that stops arriving is
# closed after http.readTimeout, and normal requests are served while they
# hang on. Connections past http.maxConnections are refused or wait, and
# the daemon serves again once they go.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's http timeouts"

HTTP_EXTRA=$(printf '  readHeaderTimeout: 2s\n  readTimeout: 2s\n  maxConnections: 40')
dray_start_cfg
LOR=$WORK/tmp/loris
mkdir -p "$LOR"
NLORIS=16
BOUND=90 # seconds a slow client keeps going before giving up

# loris I [HEAD]: one connection sending HEAD, then one more header byte
# every 0.3 s. Writes $LOR/res.I: "closed" when the server closed it,
# "open" if it was still open after BOUND s.
loris() {
	local i=$1 head=${2:-'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '}
	local t0=$SECONDS rc
	trap - ERR
	trap '' PIPE
	set +e
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || {
		echo refused >"$LOR/res.$i"
		return
	}
	printf "$head" >&3
	touch "$LOR/open.$i"
	while [ $((SECONDS - t0)) -lt "$BOUND" ]; do
		printf 'a' >&3 2>/dev/null || break
		read -r -t 0.3 -u 3 _
		rc=$?
		[ "$rc" -gt 128 ] || break # EOF, or an answer: it is over
	done
	if [ $((SECONDS - t0)) -lt "$BOUND" ]; then
		echo "closed $((SECONDS - t0))" >"$LOR/res.$i"
	else
		echo open >"$LOR/res.$i"
	fi
}

# stalled: headers and 10 bytes of a 1000-byte monolithic upload, then
# nothing; the server must close it.
stalled() {
	local t0=$SECONDS
	trap - ERR
	set +e
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return
	printf 'POST /v2/slow/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789' \
		"sha256:$(printf '%064d' 0)" >&3
	touch "$LOR/open.stalled"
	timeout "$BOUND" cat <&3 >/dev/null
	echo "closed $((SECONDS - t0))" >"$LOR/res.stalled"
}

# wait_files N GLOB: until N files match (bounded by BOUND s).
wait_files() {
	local n=$1 glob=$2 t0=$SECONDS f
	while :; do
		f=($LOR/$glob)
		[ "${#f[@]}" -lt "$n" ] || return 0
		[ $((SECONDS - t0)) -lt "$BOUND" ] || return 1
		sleep 0.2
	done
}

for ((i = 0; i < NLORIS; i++)); do
	bg loris "$i"
done
bg stalled
wait_files $((NLORIS + 1)) 'open.*' || fail "slow clients could not connect"

# Served while they hang on.
REQ_TIMEOUT=20 req GET /v2/
assert_status 200
mkblob "$WORK/tmp/blob" 300000
push_blob slow/app "$WORK/tmp/blob"
req GET "/v2/slow/app/blobs/$BLOB_DIGEST"
assert_status 200
assert_body_file "$WORK/tmp/blob"

# Every slow client is closed by the server (observed, not timed).
wait_files $((NLORIS + 1)) 'res.*' || true
for ((i = 0; i < NLORIS; i++)); do
	assert_true "slowloris #$i closed by the server ($(cat "$LOR/res.$i" 2>/dev/null))" \
		grep -q '^closed' "$LOR/res.$i"
done
assert_true "stalled body closed by the server" grep -q '^closed' "$LOR/res.stalled"
assert_true "the log says why" grep -q 'request headers incomplete' "$DAEMON_LOG"
assert_true "the log says why (body)" grep -q 'request body stalled' "$DAEMON_LOG"
assert_alive "after the slow clients"

# Past maxConnections: 60 idle connections against a limit of 40. The
# extra ones are refused or wait in the backlog; nothing crashes.
FDS=()
for ((i = 0; i < 60; i++)); do
	if exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; then
		FDS+=("$fd")
	fi
done 2>/dev/null
note "opened ${#FDS[@]} of 60 idle connections against maxConnections 40"
REQ_TIMEOUT=5 req GET /v2/
assert_status 200 000
assert_alive "with the connection limit reached"
# Once they are gone, requests are served again.
served_again "${FDS[@]}"
dray_stop
pass
