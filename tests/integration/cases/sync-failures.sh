#!/bin/bash
# sync-failures.sh - on-demand sync against upstreams that fail:
#   - Debian's docker-registry killed (SIGKILL) in the middle of a 32 MiB
#     blob (a test-only pause point, DRAY_TEST_HOLD=syncbody:<file>, holds
#     the transfer after its first bytes until the upstream is dead):
#     404 naming the upstream, nothing of the blob kept, no
#     upload left; the upstream back, the same GET gets it whole.
#   The repositories are not here before, so the 404s say NAME_UNKNOWN,
#   with the upstream's failure as the message.
#   - tests/tools/badupstream: a blob's bytes that do not hash to its
#     digest, a manifest whose Docker-Content-Digest lies, a manifest over
#     the 4 MiB cap, a redirect loop: each a clear 404 and nothing stored.
#   - docker-registry over HTTPS with a test CA: certDir holding ca.crt
#     works, the system store alone (tlsVerify true) fails saying why,
#     tlsVerify false works.
. "$(dirname "$0")/../lib.sh"
require_dray "test-only pause points in the upstream fetch"
need_mkimage

HOLD=$WORK/tmp/release
SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 1 --layer-size 20000 --seed 61)
DB=$("$MKIMAGE" "$SRC" big --layers 1 --layer-size 33554432 --seed 62)
BIG=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${DB#sha256:}")

tls_ca ca "sync test CA"
tls_cert up "127.0.0.1" ca 1 server
mkdir -p "$WORK/cfg/certs"
cp "$WORK/tls/ca.crt" "$WORK/cfg/certs/ca.crt"

upstream_start up
up_put up "$SRC" "$DB" lib/app big
UP_TLS=up upstream_start sec
for r in ca noca insecure; do
	up_put sec "$SRC" "$D1" $r/app v1 --cacert "$WORK/tls/ca.crt"
done
badupstream_start bad

echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        onDemand: true
        content: [{prefix: "lib/**"}]
      - urls: ["$(up_url bad)"]
        onDemand: true
        content:
          - prefix: "wrong/**"
          - prefix: "lying/**"
          - prefix: "huge/**"
          - prefix: "invalid/**"
          - prefix: "loop/**"
      - urls: ["$(up_url sec)"]
        onDemand: true
        certDir: $WORK/cfg/certs
        content: [{prefix: "ca/**"}]
      - urls: ["$(up_url sec)"]
        onDemand: true
        content: [{prefix: "noca/**"}]
      - urls: ["$(up_url sec)"]
        onDemand: true
        tlsVerify: false
        content: [{prefix: "insecure/**"}]
EOF2
export DRAY_TEST_HOLD="syncbody:$HOLD"
dray_start

# nothing_kept REPO DIGEST WHAT: no blob DIGEST in REPO, no upload staged
nothing_kept() {
	assert_true "$3: no blob in $1" [ ! -e "$WORK/data/$1/blobs/sha256/${2#sha256:}" ]
	assert_eq 0 "$(find "$WORK/data/.dray/uploads" -type f | wc -l)" "$3: no upload left staged"
}

# --- the upstream killed in the middle of a blob
M=$(log_mark)
(
	rc=0
	curl -s -o "$WORK/tmp/big" -w '%{http_code}' "$URL/v2/lib/app/blobs/$BIG" \
		>"$WORK/tmp/big.st" 2>/dev/null || rc=$?
	echo "$rc" >"$WORK/tmp/big.rc"
) &
GET=$!
wait_log "$M" "test hold: syncbody" "the blob's transfer started"
kill -9 "$(cat "$WORK/up/up/pid")"
wait "$(cat "$WORK/up/up/pid")" 2>/dev/null || true
: >"$WORK/up/up/pid"
touch "$HOLD"
wait "$GET" || true
# Streamed: answered 200 as the bytes came, then cut short (curl: 18,
# a partial file), never completed with bytes that did not come.
assert_eq 200 "$(cat "$WORK/tmp/big.st")" "GET of the blob whose upstream died"
assert_eq 18 "$(cat "$WORK/tmp/big.rc")" "curl's exit status for the cut blob"
assert_true "the client got less than the blob" \
	[ "$(stat -c %s "$WORK/tmp/big")" -lt "$(stat -c %s "$SRC/blobs/sha256/${BIG#sha256:}")" ]
wait_log "$M" "not synced: upstream $(up_url up): transfer closed with [0-9]* bytes remaining" \
	"the transfer's failure logged"
wait_log "$M" "req=[0-9]*: blob stream cut after [0-9]* bytes" "the cut stream logged"
nothing_kept lib/app "$BIG" "killed upstream"
req HEAD "/v2/lib/app/blobs/$BIG"
assert_status 404
upstream_start up
curl -s -o "$WORK/tmp/big" -w '%{http_code}' "$URL/v2/lib/app/blobs/$BIG" >"$WORK/tmp/big.st"
assert_eq 200 "$(cat "$WORK/tmp/big.st")" "the blob once the upstream is back"
assert_true "the blob whole" cmp -s "$WORK/tmp/big" "$SRC/blobs/sha256/${BIG#sha256:}"
rm -f "$WORK/tmp/big"

# --- wrong bytes, a lying digest, a huge or invalid manifest, a redirect loop
# A range waits for the stored blob, so it gets the clear error.
req GET "/v2/wrong/app/blobs/$BIG" -H "Range: bytes=0-"
assert_error 404 NAME_UNKNOWN
assert_true "wrong bytes: said" grep -q "wrong bytes" "$RESP/body"
nothing_kept wrong/app "$BIG" "wrong bytes"
req GET /v2/lying/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 NAME_UNKNOWN
assert_true "lying digest: said" grep -q "Docker-Content-Digest" "$RESP/body"
assert_true "lying digest: nothing stored" [ ! -e "$WORK/data/lying/app/index.json" ]
req GET /v2/huge/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 NAME_UNKNOWN
assert_true "huge manifest: said" grep -q "larger than" "$RESP/body"
assert_true "huge manifest: nothing stored" [ ! -e "$WORK/data/huge/app/index.json" ]
# Checked as a push would be before it is answered: never a 200 for
# bytes the store refuses.
req GET /v2/invalid/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 NAME_UNKNOWN
assert_true "invalid manifest: said" grep -q "schemaVersion" "$RESP/body"
assert_true "invalid manifest: nothing stored" [ ! -e "$WORK/data/invalid/app/index.json" ]
req GET "/v2/loop/app/blobs/$BIG"
assert_error 404 NAME_UNKNOWN
assert_true "redirect loop: said" grep -qi "redirect" "$RESP/body"
assert_eq 6 "$(grep -c "GET /v2/loop/app/blobs/$BIG 302" "$WORK/up/bad/log")" \
	"the loop followed 5 redirects, then stopped"
nothing_kept loop/app "$BIG" "redirect loop"
assert_alive

# --- HTTPS with a test CA
req GET /v2/ca/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"
req GET /v2/noca/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 NAME_UNKNOWN
assert_true "unknown CA: said" grep -qi "certificate" "$RESP/body"
assert_true "unknown CA: nothing stored" [ ! -e "$WORK/data/noca/app/index.json" ]
req GET /v2/insecure/app/manifests/v1 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D1"

dray_stop
pass "upstream killed mid-blob, wrong bytes, lying digest, huge manifest, redirect loop: clear 404s, nothing kept; HTTPS with certDir, without (refused), tlsVerify false"
