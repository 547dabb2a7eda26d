#!/bin/bash
# sync-offload.sh - an on-demand fetch from upstream runs on the pull
# pool with its connection suspended, so the listener thread that took
# the request serves its other connections while the transfer lasts.
# Upstream: Debian's docker-registry. A test-only pause point
# (DRAY_TEST_HOLD=syncfetch:<file>) stops every fetch before it starts
# until <file> exists; syncbody:<file> stops one after its first bytes.
#   - With as many fetches held as there are listener threads, /v2/, a
#     push and a pull of local content are answered while none has been
#     released; released, each held GET gets the upstream's bytes. (These
#     GETs ask for a range, which waits for the stored blob; a GET of a
#     whole blob streams it, sync-stream.sh.)
#   - A client that leaves while its fetch is held: the fetch goes on,
#     the blob is stored, the daemon serves.
#   - SIGTERM with a transfer half way: the transfer is ended, nothing
#     of the blob is kept, and the daemon exits 0.
. "$(dirname "$0")/../lib.sh"
require_dray "test-only pause points in the upstream fetch"
need_mkimage

N=4
HOLD=$WORK/tmp/release
SRC=$WORK/tmp/src
m1=$("$MKIMAGE" "$SRC" v1 --layers 1 --layer-size 3000000 --seed 41)
D2=$("$MKIMAGE" "$SRC" v2 --layers 1 --layer-size 8000000 --seed 42)
L1=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${m1#sha256:}")
C1=$(jq -r '.config.digest' "$SRC/blobs/sha256/${m1#sha256:}")
L2=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${D2#sha256:}")

upstream_start up
up_put up "$SRC" "$m1" lib/app v1
up_put up "$SRC" "$D2" lib/app v2
echo '{}' >"$WORK/cfg/creds.json"
HTTP_EXTRA="  drainTimeout: 1s" dray_config_ext "$CFG" -- "extensions:
  sync:
    credentialsFile: $WORK/cfg/creds.json
    registries:
      - urls: [\"$(up_url up)\"]
        onDemand: true
        content:
          - prefix: \"lib/**\""

# get_blob DIGEST OUT [curl args]: GET blob DIGEST of lib/app through
# dray into OUT, the status into OUT.st; the curl process itself (run it
# with &).
get_blob() {
	exec curl -s -o "$2" -w '%{http_code}' "${@:3}" \
		"$URL/v2/lib/app/blobs/$1" >"$2.st" 2>/dev/null
}

# --- fetches held; the listeners answer meanwhile
export DRAY_TEST_HOLD="syncfetch:$HOLD"
dray_start
M=$(log_mark)
HELD=()
for ((i = 1; i <= N; i++)); do
	get_blob "$L1" "$WORK/tmp/l1.$i" -H 'Range: bytes=0-' &
	HELD+=($!)
done
wait_log_n "$M" "test hold: syncfetch at $L1" "$N" "$N fetches held"
wait_log_n "$M" "upstream fetch offloaded" "$N" "$N fetches offloaded"
req GET /v2/
assert_status 200
push_image local/app v1 2 4096
req GET "/v2/local/app/manifests/v1"
assert_status 200
req GET "/v2/local/app/blobs/${IMG_LAYERS[0]}"
assert_status 200
assert_true "a fetch was released while the others were answered" \
	bash -c "! tail -n +$((M + 1)) '$DAEMON_LOG' | grep -q 'test hold: .* released'"
touch "$HOLD"
wait "${HELD[@]}" || true
for ((i = 1; i <= N; i++)); do
	assert_eq 206 "$(cat "$WORK/tmp/l1.$i.st")" "held GET $i once released"
	assert_true "held GET $i has the upstream's bytes" \
		cmp -s "$WORK/tmp/l1.$i" "$SRC/blobs/sha256/${L1#sha256:}"
done

# --- a client that goes away while its fetch is held
rm -f "$HOLD"
M=$(log_mark)
get_blob "$C1" "$WORK/tmp/gone" &
GONE=$!
wait_log "$M" "test hold: syncfetch at $C1," "the fetch of the config held"
kill "$GONE"
wait "$GONE" 2>/dev/null || true
touch "$HOLD"
wait_log "$M" "synced blob $C1 of lib/app" "the fetch goes on without its client"
req GET "/v2/lib/app/blobs/$C1"
assert_status 200
assert_alive "after a client left during its fetch"
dray_stop

# --- SIGTERM with a transfer half way
HOLD2=$WORK/tmp/release2
export DRAY_TEST_HOLD="syncbody:$HOLD2"
dray_start
M=$(log_mark)
get_blob "$L2" "$WORK/tmp/l2" &
CLIENT=$!
wait_log "$M" "test hold: syncbody at" "the transfer held after its first bytes"
kill -TERM "$DRAY_PID"
wait_log "$M" "sync stopping: upstream transfers under way end now" "shutdown reached the pull pool"
touch "$HOLD2"
RC=0
wait "$DRAY_PID" || RC=$?
DRAY_PID=
assert_eq 0 "$RC" "exit status after SIGTERM with a transfer under way"
wait "$CLIENT" || true
# Streamed: a 200 whose body is cut short, or no 200 at all.
assert_true "the client did not get the blob" \
	bash -c "! cmp -s '$WORK/tmp/l2' '$SRC/blobs/sha256/${L2#sha256:}'"
assert_true "the transfer was ended" \
	grep -q "shutting down, transfer ended" "$DAEMON_LOG"
assert_true "nothing of the blob is kept" \
	test ! -e "$WORK/data/lib/app/blobs/sha256/${L2#sha256:}"
pass
