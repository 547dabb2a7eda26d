#!/bin/bash
# index-dedup.sh - DESIGN invariant 4 (identical content is stored once)
# with storage.dedupe at its default (true): the same 4-layer image pushed
# into 20 repositories (skopeo for the first two, plain HTTP pushes for the
# rest) grows `du -sb` of the storage root by about one image, not 20; every
# blob of every repository is a hard link to <root>/.dray/blobs/<alg>/<hex>
# (same inode, link count 21); a cross-repository mount POST ends as one
# more link to the same inode; deleting the manifest and then a layer from
# one repository removes only that repository's link, and the other 19
# still serve the layer intact. The same blob pushed into 10 repositories
# concurrently, and sha512 content, end as one inode as well.
. "$(dirname "$0")/../lib.sh"
require_dray "hard links in the storage root"
need_mkimage

NREPOS=20
LAYER_SIZE=1000000
SRC=$WORK/tmp/src
D=$("$MKIMAGE" "$SRC" v1 --layers 4 --layer-size "$LAYER_SIZE" --seed 31)
MAN=$SRC/blobs/sha256/${D#sha256:}
BLOBS=($(jq -r '.config.digest, .layers[].digest' "$MAN"))
LAYER0=$(jq -r '.layers[0].digest' "$MAN")
IMG_SIZE=$(($(jq '[.config.size, .layers[].size] | add' "$MAN") + $(filesize "$MAN")))
log "  image $D: ${#BLOBS[@]} blobs, $IMG_SIZE bytes"

export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
sk() { # sk ARGS...: run skopeo, log its output, fail on error
	printf '+ skopeo %s\n' "$*" >>"$WORK/logs/skopeo.log"
	timeout 900 skopeo --command-timeout 850s "$@" 2>>"$WORK/logs/skopeo.log" ||
		fail "skopeo $* failed; see $WORK/logs/skopeo.log: $(tail -n 3 "$WORK/logs/skopeo.log")"
}
du_root() {
	sync
	du -sb "$WORK/data" | cut -f1
}
repo_name() {
	printf 'dedup/r%02d' "$1"
}

dray_start # the default config: dedupe is on unless turned off
DU0=$(du_root)

# --- the first repository, by a real client
sk copy --quiet --preserve-digests --dest-tls-verify=false \
	"oci:$SRC:v1" "docker://127.0.0.1:$PORT/$(repo_name 1):v1"
DU1=$(du_root)
log "  du: empty root $DU0, after one push $DU1"
assert_true "the first push stores the image ($((DU1 - DU0)) bytes, image $IMG_SIZE)" \
	[ $((DU1 - DU0)) -ge "$IMG_SIZE" ]

# --- 19 more: skopeo once more, then plain HTTP pushes
sk copy --quiet --preserve-digests --dest-tls-verify=false \
	"oci:$SRC:v1" "docker://127.0.0.1:$PORT/$(repo_name 2):v1"
for ((i = 3; i <= NREPOS; i++)); do
	push_layout "$(repo_name "$i")" v1 "$SRC"
	assert_eq "$D" "$MANIFEST_DIGEST" "manifest digest in $(repo_name "$i")"
done
DU20=$(du_root)
log "  du: after $NREPOS pushes $DU20 (+$((DU20 - DU0)); 19 more pushes +$((DU20 - DU1)))"
# 19 more repositories cost metadata only (directories, index.json,
# oci-layout, index records): far less than one more image, let alone 19.
assert_true "du grew by $((DU20 - DU0)) bytes for $NREPOS pushes of a $IMG_SIZE-byte image (expected about one image)" \
	[ $((DU20 - DU0)) -lt $((IMG_SIZE + IMG_SIZE / 2)) ]
assert_true "19 more pushes added $((DU20 - DU1)) bytes (expected metadata only, < $((IMG_SIZE / 4)))" \
	[ $((DU20 - DU1)) -lt $((IMG_SIZE / 4)) ]

# --- one inode per blob: every repository links the content store's copy
for b in "${BLOBS[@]}" "$D"; do
	sf=$(store_blob_file "$b")
	assert_true "content store holds $b" [ -f "$sf" ]
	ino=$(inode_of "$sf")
	for ((i = 1; i <= NREPOS; i++)); do
		f=$(repo_blob_file "$(repo_name "$i")" "$b")
		assert_true "$(repo_name "$i") holds $b" [ -f "$f" ]
		assert_eq "$ino" "$(inode_of "$f")" "inode of $b in $(repo_name "$i") vs .dray/blobs"
	done
	assert_eq $((NREPOS + 1)) "$(nlinks_of "$sf")" "link count of $b"
done
# Nothing else in the content store.
assert_eq $((${#BLOBS[@]} + 1)) "$(find "$WORK/data/.dray/blobs" -type f | wc -l)" \
	"files in the content store"

# --- a cross-repository mount is a link, never a copy
L0_STORE=$(store_blob_file "$LAYER0")
L0_INO=$(inode_of "$L0_STORE")
req POST "/v2/dedup/mounted/blobs/uploads/?mount=$LAYER0&from=$(repo_name 1)"
assert_status 201
assert_header_present Location
f=$(repo_blob_file dedup/mounted "$LAYER0")
assert_true "mounted layer is in dedup/mounted" [ -f "$f" ]
assert_eq "$L0_INO" "$(inode_of "$f")" "inode of the mounted layer"
assert_eq $((NREPOS + 2)) "$(nlinks_of "$L0_STORE")" "link count after the mount"
req GET "/v2/dedup/mounted/blobs/$LAYER0"
assert_status 200
assert_body_file "$SRC/blobs/sha256/${LAYER0#sha256:}"
DU_M1=$(du_root)
assert_true "a mount of a $LAYER_SIZE-byte layer added $((DU_M1 - DU20)) bytes (expected no blob data)" \
	[ $((DU_M1 - DU20)) -lt 100000 ]

# A blob only one repository has, mounted into another.
mkblob "$WORK/tmp/solo" 200000 solo
push_blob dedup/r03 "$WORK/tmp/solo"
SOLO=$BLOB_DIGEST
DU_M2=$(du_root)
req POST "/v2/dedup/mounted/blobs/uploads/?mount=$SOLO&from=dedup/r03"
assert_status 201
assert_eq "$(inode_of "$(store_blob_file "$SOLO")")" \
	"$(inode_of "$(repo_blob_file dedup/mounted "$SOLO")")" "inode of a mounted solo blob"
assert_eq "$(inode_of "$(repo_blob_file dedup/r03 "$SOLO")")" \
	"$(inode_of "$(repo_blob_file dedup/mounted "$SOLO")")" "inode of the solo blob in both repositories"
assert_eq 3 "$(nlinks_of "$(store_blob_file "$SOLO")")" "links of the solo blob"
DU_M3=$(du_root)
assert_true "a mount of a 200000-byte blob added $((DU_M3 - DU_M2)) bytes (expected no blob data)" \
	[ $((DU_M3 - DU_M2)) -lt 100000 ]

# --- the same blob pushed into 10 repositories at once: still one inode
mkblob "$WORK/tmp/par" 300000 parallel
PAR=$(digest_of "$WORK/tmp/par")
par_push() { # par_push REPO: POST + PUT, status into $WORK/tmp/par.<n>
	local loc st
	loc=$(curl -s --max-time 20 -X POST -H 'Content-Length: 0' -D - -o /dev/null \
		"$URL/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in /*) loc=$URL$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$PAR" ;; *) loc="$loc?digest=$PAR" ;; esac
	st=$(curl -s --max-time 20 -X PUT -H 'Content-Type: application/octet-stream' \
		--data-binary "@$WORK/tmp/par" -o /dev/null -w '%{http_code}' "$loc") || st=000
	echo "$st" >"$WORK/tmp/par.${1##*/}"
}
BG_PIDS=()
for ((i = 1; i <= 10; i++)); do
	bg par_push "dedup/par$i"
done
for p in "${BG_PIDS[@]}"; do
	wait "$p" || true
done
BG_PIDS=()
for ((i = 1; i <= 10; i++)); do
	assert_eq 201 "$(cat "$WORK/tmp/par.par$i")" "concurrent push into dedup/par$i"
	assert_eq "$(inode_of "$(store_blob_file "$PAR")")" "$(inode_of "$(repo_blob_file "dedup/par$i" "$PAR")")" \
		"inode of the concurrently pushed blob in dedup/par$i"
done
assert_eq 11 "$(nlinks_of "$(store_blob_file "$PAR")")" "links of the concurrently pushed blob"

# --- sha512 content is deduplicated the same way
mkblob "$WORK/tmp/s512" 100000 sha512
S512=$(digest_of "$WORK/tmp/s512" sha512)
push_blob dedup/r01 "$WORK/tmp/s512" "$S512"
push_blob dedup/r02 "$WORK/tmp/s512" "$S512"
req POST "/v2/dedup/mounted/blobs/uploads/?mount=$S512&from=dedup/r01"
assert_status 201
sf=$(store_blob_file "$S512")
assert_true "the content store holds the sha512 blob at .dray/blobs/sha512" [ -f "$sf" ]
for r in dedup/r01 dedup/r02 dedup/mounted; do
	assert_eq "$(inode_of "$sf")" "$(inode_of "$(repo_blob_file "$r" "$S512")")" "inode of the sha512 blob in $r"
done
assert_eq 4 "$(nlinks_of "$sf")" "links of the sha512 blob"

# --- delete from one repository: the others are untouched
VICTIM=$(repo_name 5)
req DELETE "/v2/$VICTIM/manifests/$D"
assert_status 202
req DELETE "/v2/$VICTIM/blobs/$LAYER0"
assert_status 202
req HEAD "/v2/$VICTIM/blobs/$LAYER0"
assert_status 404
assert_true "$VICTIM's link is gone" [ ! -e "$(repo_blob_file "$VICTIM" "$LAYER0")" ]
assert_true "the content store keeps the layer" [ -f "$L0_STORE" ]
assert_eq "$L0_INO" "$(inode_of "$L0_STORE")" "store copy's inode after the delete"
assert_eq $((NREPOS + 1)) "$(nlinks_of "$L0_STORE")" "link count after one repository deleted the layer"
assert_true "the stored layer is intact" cmp -s "$L0_STORE" "$SRC/blobs/sha256/${LAYER0#sha256:}"
for ((i = 1; i <= NREPOS; i++)); do
	r=$(repo_name "$i")
	[ "$r" != "$VICTIM" ] || continue
	assert_eq "$L0_INO" "$(inode_of "$(repo_blob_file "$r" "$LAYER0")")" "inode of the layer in $r after the delete"
done
for r in "$(repo_name 4)" "$(repo_name 6)" "$(repo_name $NREPOS)"; do
	pull_verify "$r" v1
done
req GET "/v2/dedup/mounted/blobs/$LAYER0"
assert_status 200
assert_body_file "$SRC/blobs/sha256/${LAYER0#sha256:}"

# --- the same after a restart, and every layout is valid
dray_stop
dray_start
pull_verify "$(repo_name 1)" v1
pull_verify "$(repo_name 7)" v1
req HEAD "/v2/$VICTIM/blobs/$LAYER0"
assert_status 404
check_all_layouts "$WORK/data" >"$WORK/tmp/repos"
assert_eq $((NREPOS + 11)) "$(wc -l <"$WORK/tmp/repos")" "repositories on disk"
dray_stop
pass
