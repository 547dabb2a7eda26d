#!/bin/bash
# sync-ondemand.sh - zot's sync extension, on demand, against Debian's
# docker-registry as the upstream: skopeo pulls through dray an image
# (and an image index) that only the upstream has; the copies are
# bit-identical and stored in dray's layout, and serve again with the
# upstream stopped. A tag the upstream lacks is 404 MANIFEST_UNKNOWN; a
# tag the content filter leaves out is never asked upstream. A manifest is
# answered before its blobs are here (sync-early.sh): an upstream with
# wrong bytes for a layer fails the layer's GET and stores nothing. Content
# mapping: destination with and without stripPrefix. An upstream with
# htpasswd Basic auth through credentialsFile. The upstream killed: a
# clear 404 naming it, nothing partial in the layout, and the same pull
# works once it is back; the upstream serving wrong bytes for a layer:
# refused, nothing kept, and the pull works once they are right. 20 concurrent GETs of one missing blob make one
# upstream transfer.
. "$(dirname "$0")/../lib.sh"
need_mkimage
need_htpasswd

SRC=$WORK/tmp/src
D1=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 200000 --seed 31)
D2=$("$MKIMAGE" "$SRC" v2 --layers 1 --layer-size 100000 --seed 32)
DI=$("$MKIMAGE" "$SRC" multi --index --layers 2 --layer-size 50000 --seed 33)
DB=$("$MKIMAGE" "$SRC" big --layers 1 --layer-size 2000000 --seed 34)

upstream_start open
htpasswd -Bbc "$WORK/cfg/up.htpasswd" mirror s3cret 2>/dev/null
upstream_start locked "$WORK/cfg/up.htpasswd"
up_push open "$SRC" v1 "lib/app:v1"
up_put open "$SRC" "$D2" lib/app v2
up_put open "$SRC" "$DI" lib/app multi
up_put open "$SRC" "$DB" lib/app big
up_put open "$SRC" "$D1" src/team/app v1
up_put locked "$SRC" "$D1" priv/app v1 -u mirror:s3cret

cat >"$WORK/cfg/creds.json" <<EOF2
{"$(up_host locked)": {"username": "mirror", "password": "s3cret"}}
EOF2
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url open)"]
        onDemand: true
        tlsVerify: false
        content:
          - prefix: "lib/**"
            tags: {excludeRegex: "^skip"}
          - prefix: "/src/team/**"
            destination: /mirror
            stripPrefix: true
          - prefix: "lib/**"
            destination: /copy
      - urls: ["$(up_url locked)"]
        onDemand: true
        pollInterval: 6h
        maxRetries: 1
        retryDelay: 10ms
        content:
          - prefix: "priv/**"
EOF2
"$DRAY_BIN" verify "$CFG" >/dev/null
dray_start
H=127.0.0.1:$PORT

pull() { # pull REPO:TAG DIR: skopeo from dray into an OCI layout
	timeout 60 skopeo --command-timeout 50s copy --quiet --all --preserve-digests \
		--src-tls-verify=false "docker://$H/$1" "oci:$2:${1##*:}" \
		>>"$WORK/logs/skopeo.log" 2>&1 ||
		fail "skopeo pull of $1 through dray failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
}
# same_blobs DIR: every blob skopeo wrote is byte-identical to the source's
same_blobs() {
	local f n=0
	for f in "$1"/blobs/sha256/*; do
		assert_true "blob $(basename "$f") identical" \
			cmp -s "$f" "$SRC/blobs/sha256/$(basename "$f")"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no blobs in $1"
}
tag_digest() { # tag_digest LAYOUTDIR TAG
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}

# --- pull-through of an image and an index, bit-identical
pull lib/app:v1 "$WORK/tmp/p1"
assert_eq "$D1" "$(tag_digest "$WORK/tmp/p1" v1)" "pulled digest of v1"
same_blobs "$WORK/tmp/p1"
assert_eq "$D1" "$(tag_digest "$WORK/data/lib/app" v1)" "v1 stored in dray's layout"
check_layout "$WORK/data/lib/app"
req GET /v2/lib/app/manifests/multi -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$DI"
assert_content_type "$MT_OCI_INDEX"
assert_body_file "$SRC/blobs/sha256/${DI#sha256:}"
for m in $(jq -r '.manifests[].digest' "$SRC/blobs/sha256/${DI#sha256:}"); do
	req HEAD "/v2/lib/app/manifests/$m" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
done

# --- a tag the upstream lacks; one the content filter leaves out
req GET /v2/lib/app/manifests/nope -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
before=$(up_requests open "GET /v2/lib/app/manifests/skip1")
req GET /v2/lib/app/manifests/skip1 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
assert_eq "$before" "$(up_requests open "GET /v2/lib/app/manifests/skip1")" "filtered tag not asked upstream"
# a repository no content maps is not asked either
req GET /v2/other/app/manifests/v1
assert_status 404
assert_eq 0 "$(up_requests open "GET /v2/other/")" "unmapped repository not asked upstream"

# --- destination + stripPrefix, destination alone
pull mirror/app:v1 "$WORK/tmp/p2"
assert_eq "$D1" "$(tag_digest "$WORK/tmp/p2" v1)" "mirror/app from src/team/app"
assert_eq "$D1" "$(tag_digest "$WORK/data/mirror/app" v1)" "stored as mirror/app"
pull copy/lib/app:v1 "$WORK/tmp/p3"
assert_eq "$D1" "$(tag_digest "$WORK/data/copy/lib/app" v1)" "copy/lib/app from lib/app"
assert_true "src/team/app asked upstream" [ "$(up_requests open "GET /v2/src/team/app/manifests/v1")" -ge 1 ]

# --- Basic auth from credentialsFile
pull priv/app:v1 "$WORK/tmp/p4"
assert_eq "$D1" "$(tag_digest "$WORK/tmp/p4" v1)" "pulled through the locked upstream"
same_blobs "$WORK/tmp/p4"

# --- 20 concurrent GETs of one missing blob: one upstream transfer
LAYER=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${DB#sha256:}")
pids=()
for i in $(seq 1 20); do
	curl -s -o "$WORK/tmp/c$i" -w '%{http_code}' "$URL/v2/lib/app/blobs/$LAYER" \
		>"$WORK/tmp/c$i.status" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in $(seq 1 20); do
	assert_eq 200 "$(cat "$WORK/tmp/c$i.status")" "concurrent GET $i"
	assert_true "concurrent GET $i bytes" cmp -s "$WORK/tmp/c$i" "$SRC/blobs/sha256/${LAYER#sha256:}"
done
assert_eq 1 "$(up_requests open "GET /v2/lib/app/blobs/$LAYER")" "upstream transfers of the blob"

# --- upstream down: what is here still serves; what is not is a clear
# 404 and leaves nothing behind; back up, the pull works (below)
upstream_stop open
pull lib/app:v1 "$WORK/tmp/p5"
assert_eq "$D1" "$(tag_digest "$WORK/tmp/p5" v1)" "v1 with the upstream down"
req GET /v2/lib/app/manifests/v2 -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
assert_true "the error names the upstream" grep -q "$(up_host open)" "$RESP/body"
assert_eq "" "$(tag_digest "$WORK/data/lib/app" v2)" "no v2 tag after the failure"
check_layout "$WORK/data/lib/app"
V2L=$(jq -r '.layers[0].digest' "$SRC/blobs/sha256/${D2#sha256:}")
assert_true "no v2 layer after the failure" [ ! -e "$WORK/data/lib/app/blobs/sha256/${V2L#sha256:}" ]
assert_eq 0 "$(find "$WORK/data/.dray/uploads" -type f | wc -l)" "no upload left staged"
upstream_start open

# --- the upstream answers wrong bytes (one byte of the layer flipped in
# its store, same length): refused, nothing kept; repaired, it works
DATA=$WORK/up/open/root/docker/registry/v2/blobs/sha256/${V2L:7:2}/${V2L#sha256:}/data
[ -f "$DATA" ] || fail "no upstream blob file at $DATA"
cp "$DATA" "$WORK/tmp/v2layer"
printf 'X' | dd of="$DATA" bs=1 seek=1000 conv=notrunc status=none
# The manifest itself is right: answered before its blobs come; the
# layer's wrong bytes then keep it from being stored.
M=$(log_mark)
req GET /v2/lib/app/manifests/v2 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_header Docker-Content-Digest "$D2"
wait_log "$M" "manifest $D2 of lib/app not synced: .*wrong bytes" "the background store of v2 refused"
assert_eq "" "$(tag_digest "$WORK/data/lib/app" v2)" "no v2 tag after wrong bytes"
assert_true "no v2 layer after wrong bytes" [ ! -e "$WORK/data/lib/app/blobs/sha256/${V2L#sha256:}" ]
assert_eq 0 "$(find "$WORK/data/.dray/uploads" -type f | wc -l)" "no upload left staged"
req GET "/v2/lib/app/blobs/$V2L"
assert_error 404 BLOB_UNKNOWN
assert_true "the error says wrong bytes" grep -q "wrong bytes" "$RESP/body"
cp "$WORK/tmp/v2layer" "$DATA"
pull lib/app:v2 "$WORK/tmp/p6"
assert_eq "$D2" "$(tag_digest "$WORK/tmp/p6" v2)" "v2 once the upstream is back"
same_blobs "$WORK/tmp/p6"

# --- a bad regex or a missing credentials file stops verify and serve
sed "s|creds.json|missing.json|" "$CFG" >"$WORK/cfg/bad1.yaml"
assert_true "verify refuses a missing credentials file" \
	bash -c "! '$DRAY_BIN' verify '$WORK/cfg/bad1.yaml' 2>'$WORK/tmp/v1.err'"
assert_true "...naming it" grep -q "missing.json" "$WORK/tmp/v1.err"
sed 's|"^skip"|"(skip"|' "$CFG" >"$WORK/cfg/bad2.yaml"
assert_true "verify refuses a bad regex" \
	bash -c "! '$DRAY_BIN' verify '$WORK/cfg/bad2.yaml' 2>/dev/null"
assert_true "serve refuses a bad regex" \
	bash -c "! '$DRAY_BIN' serve '$WORK/cfg/bad2.yaml' >/dev/null 2>&1"

dray_stop
pass "pull-through from docker-registry: bit-identical, stored, mapped, Basic auth, 20 GETs one transfer, upstream down and back, wrong bytes refused"
