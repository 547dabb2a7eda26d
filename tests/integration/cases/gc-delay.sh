#!/bin/bash
# gc-delay.sh - `dray gc CONFIG [--dry-run]` (offline, daemon stopped) and
# storage.gcDelay. A store holds kept content (a tagged image, a tagged
# image index and its untagged children, a referrer of the tagged image
# and their blobs, a layer that another repository's tagged image uses)
# and garbage (an untagged manifest, a referrer of it, loose blobs, a
# repository holding only a loose blob). With gcDelay 1h nothing is old
# enough to go: gc removes nothing. --dry-run with gcDelay 0s
# counts what a real pass removes and changes nothing on disk. gc with
# gcDelay 0s removes exactly the garbage: repository files, index.json
# entries, and the content store copies whose last link went (a copy still
# linked elsewhere stays). With gcDelay 1h a fresh loose blob survives a
# pass and goes in a pass once the age clock (DRAY_TEST_CLOCK_FILE, moved
# instead of sleeping) makes it older than that. Afterwards the daemon
# serves every kept image in full, the referrers API lists only the kept
# referrer, and every layout is valid.
. "$(dirname "$0")/../lib.sh"
require_dray "dray gc and the on-disk layout"
need_mkimage

CFG0=$WORK/cfg/gc0.yaml
dray_config_ext "$CFG0" "gcDelay: 0s"
test_clock_on
dray_start_cfg "gcDelay: 1h"

# push_referrer REPO SUBJECT-FILE NAME: an artifact (empty config, one
# small blob) whose subject is SUBJECT-FILE, pushed by digest. Sets
# REF_DIGEST and REF_BLOB.
push_referrer() {
	local repo=$1 sfile=$2 name=$3 dir=$WORK/tmp/ref-$3
	mkdir -p "$dir"
	printf '{}' >"$dir/empty"
	printf 'artifact %s' "$name" >"$dir/blob"
	push_blob "$repo" "$dir/empty"
	push_blob "$repo" "$dir/blob"
	REF_BLOB=$BLOB_DIGEST
	mkmanifest "$dir/manifest.json" "$(desc "$MT_OCI_EMPTY" "$dir/empty")" \
		"$(desc application/octet-stream "$dir/blob")" -- \
		"$(jq -cn --argjson s "$(desc "$MT_OCI_MANIFEST" "$sfile")" \
			'{artifactType: "application/vnd.example.sig", subject: $s}')"
	REF_DIGEST=$(digest_of "$dir/manifest.json")
	push_manifest "$repo" "$REF_DIGEST" "$dir/manifest.json" "$MT_OCI_MANIFEST"
}

# --- kept content
push_image gc/keep v1 2 3000
T=$MANIFEST_DIGEST
T_BLOBS=("${IMG_LAYERS[@]}" "$IMG_CONFIG" "$T")
T_FILE=$IMG_DIR/manifest.json
SRC=$WORK/tmp/src
"$MKIMAGE" "$SRC" multi --index --layers 2 --layer-size 2000 --seed 61 >/dev/null
push_layout gc/keep multi "$SRC"
MULTI=$MANIFEST_DIGEST
MULTI_BLOBS=("$MULTI")
for c in $(jq -r '.manifests[].digest' "$SRC/blobs/sha256/${MULTI#sha256:}"); do
	MULTI_BLOBS+=("$c" $(jq -r '.config.digest, .layers[].digest' "$SRC/blobs/sha256/${c#sha256:}"))
done
push_referrer gc/keep "$T_FILE" sig-of-v1
R=$REF_DIGEST
R_BLOBS=("$R" "$REF_BLOB" "$EMPTY_DIGEST")
push_image gc/shared v1 1 2500
SHARED=$MANIFEST_DIGEST
SHARED_LAYER=${IMG_LAYERS[0]}
SHARED_LAYER_FILE=$IMG_DIR/layer0

# --- garbage
push_image gc/keep tmp 2 3000
U=$MANIFEST_DIGEST
U_FILE=$IMG_DIR/manifest.json
U_BLOBS=("$U" "$IMG_CONFIG" "${IMG_LAYERS[@]}")
req DELETE /v2/gc/keep/manifests/tmp # untagged, still there by digest
assert_status 202
req GET "/v2/gc/keep/manifests/$U" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
push_referrer gc/keep "$U_FILE" sig-of-untagged
R2=$REF_DIGEST
R2_BLOBS=("$R2" "$REF_BLOB")
mkblob "$WORK/tmp/loose" 4000 loose
push_blob gc/keep "$WORK/tmp/loose"
LOOSE=$BLOB_DIGEST
push_blob gc/keep "$SHARED_LAYER_FILE" # a loose link to a kept layer
mkblob "$WORK/tmp/lonely" 5000 lonely
push_blob gc/gone "$WORK/tmp/lonely"
LONELY=$BLOB_DIGEST
GONE_BLOBS=("${U_BLOBS[@]}" "${R2_BLOBS[@]}" "$LOOSE")
KEEP_BLOBS=("${T_BLOBS[@]}" "${MULTI_BLOBS[@]}" "${R_BLOBS[@]}")
dray_stop

# state: every file of the root but the index database and the lock (it
# holds the PID of the last process to open the store), with inode, link
# count and size, and the content of every index.json.
state() {
	(cd "$WORK/data" && find . \( -path ./.dray/index -o -path ./.dray/lock \) -prune -o -type f \
		-printf '%P %i %n %s\n' | sort &&
		find . -name index.json -not -path './.dray/*' -print0 | sort -z |
		xargs -0 md5sum)
}
# gc_counts: "M manifests, B blobs, S store copies" from dray gc's log.
gc_counts() {
	grep -o '[0-9]* manifests, [0-9]* blobs, [0-9]* store copies' <<<"$CLI_OUT" | tail -n 1
}
S0=$(state)

# --- gcDelay 1h: everything is younger than that
dray_cli gc "$CFG"
assert_cli_rc 0 "gc with gcDelay 1h"
assert_eq "0 manifests, 0 blobs, 0 store copies" "$(gc_counts)" "what gc with gcDelay 1h removed"
assert_eq "$S0" "$(state)" "files after gc with gcDelay 1h"

# --- dry run with gcDelay 0s: counts, changes nothing
dray_cli gc "$CFG0" --dry-run
assert_cli_rc 0 "gc --dry-run"
DRY=$(gc_counts)
assert_true "the dry run reports what it would remove ($DRY)" [ -n "$DRY" ]
assert_eq "2 manifests, 9 blobs" "${DRY%, * store copies}" "what the dry run would remove"
assert_eq "$S0" "$(state)" "files after gc --dry-run"

# --- gcDelay 0s: the garbage goes
dray_cli gc "$CFG0"
assert_cli_rc 0 "gc with gcDelay 0s"
REAL=$(gc_counts)
assert_eq "${DRY%, * store copies}" "${REAL%, * store copies}" "a real pass removes what the dry run counted"
# Store copies: U's 4 blobs, R2 and its blob, the loose blob, the lonely one.
assert_eq "2 manifests, 9 blobs, 8 store copies" "$REAL" "what gc with gcDelay 0s removed"
for b in "${GONE_BLOBS[@]}"; do
	assert_true "garbage blob $b left gc/keep" [ ! -e "$(repo_blob_file gc/keep "$b")" ]
	assert_true "the content store copy of garbage $b went" [ ! -e "$(store_blob_file "$b")" ]
done
for b in "${KEEP_BLOBS[@]}"; do
	assert_true "kept blob $b is in gc/keep" [ -f "$(repo_blob_file gc/keep "$b")" ]
	assert_true "kept blob $b is in the content store" [ -f "$(store_blob_file "$b")" ]
	assert_eq "$(inode_of "$(store_blob_file "$b")")" "$(inode_of "$(repo_blob_file gc/keep "$b")")" \
		"kept blob $b is still a link to the store"
done
assert_true "the loose link to a kept layer left gc/keep" [ ! -e "$(repo_blob_file gc/keep "$SHARED_LAYER")" ]
assert_true "gc/shared keeps its layer" [ -f "$(repo_blob_file gc/shared "$SHARED_LAYER")" ]
assert_eq 2 "$(nlinks_of "$(store_blob_file "$SHARED_LAYER")")" "links of the shared layer (store, gc/shared)"
assert_true "the lonely blob left gc/gone" [ ! -e "$(repo_blob_file gc/gone "$LONELY")" ]
assert_true "the lonely blob's store copy went with its last link" [ ! -e "$(store_blob_file "$LONELY")" ]
assert_true "gc/gone stays a (now empty) layout" [ -f "$WORK/data/gc/gone/index.json" ]
IJ=$WORK/data/gc/keep/index.json
assert_eq "" "$(jq -r --arg u "$U" --arg r "$R2" '.manifests[] | select(.digest == $u or .digest == $r) | .digest' "$IJ")" \
	"index.json no longer lists the untagged manifest and its referrer"
assert_true "index.json still lists the kept referrer" \
	jq -e --arg r "$R" 'any(.manifests[]; .digest == $r)' "$IJ"
assert_eq "multi
v1" "$(layout_tags "$WORK/data/gc/keep")" "tags of gc/keep after gc"
check_all_layouts "$WORK/data" >/dev/null

# A second pass finds nothing.
dray_cli gc "$CFG0"
assert_cli_rc 0 "a second gc"
assert_eq "0 manifests, 0 blobs, 0 store copies" "$(gc_counts)" "what a second pass removed"

# --- the daemon serves what was kept, and not what went
dray_start
pull_verify gc/keep v1
pull_verify gc/keep multi
pull_verify gc/shared v1
req GET "/v2/gc/keep/manifests/$R" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req GET "/v2/gc/keep/referrers/$T"
assert_status 200
assert_json "[.manifests[].digest] == [\"$R\"]" "referrers of v1 after gc"
req GET "/v2/gc/keep/manifests/$U" -H "Accept: $MT_OCI_MANIFEST"
assert_status 404
req GET "/v2/gc/keep/manifests/$R2" -H "Accept: $MT_OCI_MANIFEST"
assert_status 404
req HEAD "/v2/gc/keep/blobs/$LOOSE"
assert_status 404
req HEAD "/v2/gc/gone/blobs/$LONELY"
assert_status 404
req GET /v2/gc/keep/tags/list
assert_status 200
assert_json '.tags | sort == ["multi", "v1"]' "tags after gc"

# --- gcDelay 1h: only what is older than the delay goes
mkblob "$WORK/tmp/fresh" 3000 fresh
push_blob gc/keep "$WORK/tmp/fresh"
FRESH=$BLOB_DIGEST
dray_stop
dray_cli gc "$CFG"
assert_cli_rc 0 "gc with gcDelay 1h, blob just pushed"
assert_true "a blob younger than gcDelay survives ($(gc_counts))" [ -f "$(repo_blob_file gc/keep "$FRESH")" ]
assert_eq "0 manifests, 0 blobs, 0 store copies" "$(gc_counts)" "what gc removed before the delay"
clock_advance 3700
dray_cli gc "$CFG"
assert_cli_rc 0 "gc with gcDelay 1h, blob older than that"
assert_true "a blob older than gcDelay goes" [ ! -e "$(repo_blob_file gc/keep "$FRESH")" ]
# The store copy lost its last link just now: the delay applies to it
# afresh, so it stays; kept blobs too, however old.
assert_true "the fresh blob's store copy, unlinked just now, stays" [ -f "$(store_blob_file "$FRESH")" ]
for b in "${KEEP_BLOBS[@]}"; do
	assert_true "kept blob $b survives gcDelay 1h" [ -f "$(repo_blob_file gc/keep "$b")" ]
done
check_all_layouts "$WORK/data" >/dev/null
dray_start
pull_verify gc/keep v1
pull_verify gc/keep multi
dray_stop
pass
