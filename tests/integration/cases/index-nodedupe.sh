#!/bin/bash
# index-nodedupe.sh - storage.dedupe: false: the same image pushed into
# three repositories is stored three times (different inodes, one link
# each, nothing in the content store, `du` grows by three images); a
# cross-repository mount makes a copy; deleting from one repository leaves
# the others intact. Then the conversions the issue asks for: restarting
# with dedupe on turns the copies into links to one content store copy
# (in the background; the case waits for its log line), and off again
# restores copies, with every image pullable throughout.
. "$(dirname "$0")/../lib.sh"
require_dray "inodes in the storage root"
need_mkimage

SRC=$WORK/tmp/src
D=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 300000 --seed 41)
MAN=$SRC/blobs/sha256/${D#sha256:}
BLOBS=($(jq -r '.config.digest, .layers[].digest' "$MAN") "$D")
LAYER0=$(jq -r '.layers[0].digest' "$MAN")
IMG_SIZE=$(($(jq '[.config.size, .layers[].size] | add' "$MAN") + $(filesize "$MAN")))
REPOS=(nd/a nd/b nd/c)
du_root() {
	sync
	du -sb "$WORK/data" | cut -f1
}
store_files() {
	find "$WORK/data/.dray/blobs" -type f | wc -l
}

dray_start_cfg "dedupe: false"
DU0=$(du_root)
for r in "${REPOS[@]}"; do
	push_layout "$r" v1 "$SRC"
done
DU3=$(du_root)
log "  du: empty $DU0, after 3 pushes $DU3 (image $IMG_SIZE bytes)"
assert_true "three pushes stored three copies (+$((DU3 - DU0)) bytes)" \
	[ $((DU3 - DU0)) -ge $((3 * IMG_SIZE)) ]

# --- each repository has its own copy
for b in "${BLOBS[@]}"; do
	inos=()
	for r in "${REPOS[@]}"; do
		f=$(repo_blob_file "$r" "$b")
		assert_true "$r holds $b" [ -f "$f" ]
		assert_eq 1 "$(nlinks_of "$f")" "link count of $b in $r"
		inos+=("$(inode_of "$f")")
	done
	assert_eq 3 "$(printf '%s\n' "${inos[@]}" | sort -u | wc -l)" \
		"distinct inodes of $b in ${REPOS[*]} (got ${inos[*]})"
done
assert_eq 0 "$(store_files)" "files in the content store with dedupe off"

# --- a cross-repository mount copies
req POST "/v2/nd/d/blobs/uploads/?mount=$LAYER0&from=nd/a"
assert_status 201
f=$(repo_blob_file nd/d "$LAYER0")
assert_true "the mounted layer is in nd/d" [ -f "$f" ]
assert_ne "$(inode_of "$(repo_blob_file nd/a "$LAYER0")")" "$(inode_of "$f")" \
	"inode of the mounted layer (dedupe off: a copy)"
assert_eq 1 "$(nlinks_of "$f")" "link count of the mounted copy"
assert_true "the mounted copy is intact" cmp -s "$f" "$SRC/blobs/sha256/${LAYER0#sha256:}"

# --- deleting from one repository leaves the others intact
req DELETE "/v2/nd/b/manifests/$D"
assert_status 202
req DELETE "/v2/nd/b/blobs/$LAYER0"
assert_status 202
req HEAD "/v2/nd/b/blobs/$LAYER0"
assert_status 404
pull_verify nd/a v1
pull_verify nd/c v1
req GET "/v2/nd/d/blobs/$LAYER0"
assert_status 200
assert_body_digest "$LAYER0"
dray_stop

# --- dedupe turned on for this root: the copies become links
MARK=$(log_mark)
dray_start_cfg "dedupe: true"
wait_log "$MARK" 'dedupe on: [0-9]+ blobs converted' "the conversion to links"
for b in "${BLOBS[@]}"; do
	sf=$(store_blob_file "$b")
	assert_true "with dedupe on, the content store holds $b" [ -f "$sf" ]
	for r in nd/a nd/c; do
		assert_eq "$(inode_of "$sf")" "$(inode_of "$(repo_blob_file "$r" "$b")")" \
			"inode of $b in $r after turning dedupe on"
	done
done
assert_eq "$(inode_of "$(store_blob_file "$LAYER0")")" "$(inode_of "$(repo_blob_file nd/d "$LAYER0")")" \
	"inode of the mounted layer after turning dedupe on"
assert_eq 4 "$(nlinks_of "$(store_blob_file "$LAYER0")")" "links of the layer (store, nd/a, nd/c, nd/d)"
pull_verify nd/a v1
pull_verify nd/c v1
check_all_layouts "$WORK/data" >/dev/null
dray_stop

# --- and off again: copies of their own
MARK=$(log_mark)
dray_start_cfg "dedupe: false"
wait_log "$MARK" 'dedupe off: [0-9]+ blobs converted' "the conversion to copies"
for b in "${BLOBS[@]}"; do
	ia=$(inode_of "$(repo_blob_file nd/a "$b")")
	ic=$(inode_of "$(repo_blob_file nd/c "$b")")
	assert_ne "$ia" "$ic" "inodes of $b in nd/a and nd/c after turning dedupe off"
	assert_eq 1 "$(nlinks_of "$(repo_blob_file nd/a "$b")")" "links of $b in nd/a after turning dedupe off"
done
pull_verify nd/a v1
pull_verify nd/c v1
check_all_layouts "$WORK/data" >/dev/null
dray_stop
pass
