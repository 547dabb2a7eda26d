# SPDX-License-Identifier: Apache-2.0
# lib/content.sh - blobs, descriptors, configs and manifests, and pushing them.
# Sourced by lib.sh; not run on its own.

# digest_of FILE [sha256|sha512] -> "alg:hex"
digest_of() {
	local alg=${2:-sha256} h _
	read -r h _ < <("${alg}sum" <"$1") || true # one process, no pipeline
	printf '%s:%s' "$alg" "$h"
}

# Deterministic pseudo-random bytes: mkblob FILE SIZE [SEED]
mkblob() {
	local f=$1 size=$2 seed=${3:-$RANDOM}
	openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:dray-$seed" \
		-in /dev/zero 2>/dev/null | head -c "$size" >"$f" || true
	[ "$(wc -c <"$f")" -eq "$size" ] || fail "mkblob: could not write $size bytes"
}

# slice FILE OFFSET LENGTH: those bytes of FILE on stdout.
slice() {
	dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" \
		bs=65536 status=none
}

filesize() {
	wc -c <"$1" | tr -d ' '
}

# desc MEDIATYPE FILE [alg] -> compact descriptor JSON
desc() {
	jq -cn --arg mt "$1" --arg d "$(digest_of "$2" "${3:-sha256}")" \
		--argjson s "$(filesize "$2")" \
		'{mediaType: $mt, digest: $d, size: $s}'
}

# A small valid image config for the given layer files.
mkconfig() {
	local out=$1 f ids=()
	shift
	for f in "$@"; do
		ids+=("$(digest_of "$f")")
	done
	jq -cnj --arg seed "$RANDOM$RANDOM" --args \
		'{architecture: "amd64", os: "linux",
		  config: {Labels: {"dray.test": $seed}},
		  rootfs: {type: "layers", diff_ids: $ARGS.positional}}' \
		"${ids[@]}" >"$out"
}

# mkmanifest OUT CONFIG_DESC [LAYER_DESC...] [-- EXTRA_JQ_OBJECT]
mkmanifest() {
	local out=$1 cfg=$2
	shift 2
	local layers=() extra='{}'
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			extra=$2
			break
		fi
		layers+=("$1")
		shift
	done
	jq -cnj --argjson c "$cfg" --argjson e "$extra" \
		--argjson l "[$(
			IFS=,
			echo "${layers[*]}"
		)]" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: $c, layers: $l} + $e' >"$out"
}

# push_blob REPO FILE [DIGEST]: POST then PUT ?digest= (the monolithic
# upload every registry must support). Sets BLOB_DIGEST and BLOB_LOCATION.
push_blob() {
	local repo=$1 file=$2 d=${3:-} loc
	[ -n "$d" ] || d=$(digest_of "$file")
	req POST "/v2/$repo/blobs/uploads/"
	assert_status 202
	loc=$(hdr Location) || fail "POST upload: no Location header"
	req PUT "$(with_query "$(abs_url "$loc")" "digest=$d")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$file"
	assert_status 201
	assert_header_present Location
	BLOB_LOCATION=$(hdr Location)
	BLOB_DIGEST=$d
}

# upload_open REPO: POST a new upload session; its Location in LOC.
upload_open() {
	req POST "/v2/$1/blobs/uploads/"
	assert_status 202
	LOC=$(hdr Location)
}

# upload_chunk FILE START: PATCH FILE to session $LOC as the bytes from
# START on (Content-Range); 202, and LOC follows the new Location.
upload_chunk() {
	local n
	n=$(filesize "$1")
	req PATCH "$(abs_url "$LOC")" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $2-$(($2 + n - 1))" --data-binary "@$1"
	assert_status 202
	LOC=$(hdr Location)
}

# push_manifest REPO REF FILE MEDIATYPE: sets MANIFEST_DIGEST.
push_manifest() {
	local repo=$1 ref=$2 file=$3 mt=$4 want
	req PUT "/v2/$repo/manifests/$ref" -H "Content-Type: $mt" \
		--data-binary "@$file"
	assert_status 201
	assert_header_present Location
	case $ref in
	*:*) want=$ref ;;
	*) want=$(digest_of "$file") ;;
	esac
	assert_header Docker-Content-Digest "$want"
	MANIFEST_DIGEST=$want
	MANIFEST_LOCATION=$(hdr Location)
}

# push_image REPO TAG [NLAYERS] [LAYER_SIZE]: config + layers + OCI
# manifest, pushed. Sets IMG_DIR (files: config.json, layerN, manifest.json),
# IMG_LAYERS (digests), IMG_CONFIG (digest), MANIFEST_DIGEST.
push_image() {
	local repo=$1 tag=$2 n=${3:-2} size=${4:-4096} i files=() descs=()
	IMG_DIR=$WORK/img/${repo//\//_}-$tag-$RANDOM
	mkdir -p "$IMG_DIR"
	IMG_LAYERS=()
	for ((i = 0; i < n; i++)); do
		mkblob "$IMG_DIR/layer$i" "$size"
		files+=("$IMG_DIR/layer$i")
		push_blob "$repo" "$IMG_DIR/layer$i"
		IMG_LAYERS+=("$BLOB_DIGEST")
		descs+=("$(desc "$MT_OCI_LAYER" "$IMG_DIR/layer$i")")
	done
	mkconfig "$IMG_DIR/config.json" "${files[@]}"
	push_blob "$repo" "$IMG_DIR/config.json"
	IMG_CONFIG=$BLOB_DIGEST
	mkmanifest "$IMG_DIR/manifest.json" \
		"$(desc "$MT_OCI_CONFIG" "$IMG_DIR/config.json")" "${descs[@]}"
	push_manifest "$repo" "$tag" "$IMG_DIR/manifest.json" "$MT_OCI_MANIFEST"
}

