# SPDX-License-Identifier: Apache-2.0
# lib/layout.sh - checking OCI image layouts on disk.
# Sourced by lib.sh; not run on its own.

# check_layout DIR: DIR is a valid OCI image layout: oci-layout says
# 1.0.0, index.json parses, every descriptor reachable from it (manifests,
# indexes, configs, layers; subjects are not followed) names a blob that
# exists, has that size and hashes to its name; every file in blobs/
# hashes to its name; no stray files (staging) sit in the layout.
# Prints nothing; fails the case with the first problem.
declare -A LAYOUT_SEEN
check_layout() {
	local dir=$1 f alg name bad
	[ -f "$dir/oci-layout" ] || fail "layout $dir: no oci-layout file"
	jq -e '.imageLayoutVersion == "1.0.0"' "$dir/oci-layout" >/dev/null 2>&1 ||
		fail "layout $dir: oci-layout is not {\"imageLayoutVersion\":\"1.0.0\"}"
	[ -f "$dir/index.json" ] || fail "layout $dir: no index.json"
	jq -e '.schemaVersion == 2 and (.manifests | type == "array")' \
		"$dir/index.json" >/dev/null 2>&1 ||
		fail "layout $dir: index.json does not parse as an image index"
	for f in "$dir"/blobs/*; do
		alg=$(basename "$f")
		case $alg in
		sha256 | sha512) ;;
		*) fail "layout $dir: unexpected entry blobs/$alg" ;;
		esac
		[ -z "$(find "$f" -mindepth 1 ! -type f)" ] ||
			fail "layout $dir: blobs/$alg holds something that is not a file"
		# One hashing process per directory; names must equal hashes.
		bad=$(cd "$f" && find . -maxdepth 1 -type f -printf '%f\0' |
			xargs -0 -r "${alg}sum" -- | awk '{ n = $2; sub(/^\*/, "", n);
				if ($1 != n) { print n; exit } }')
		[ -z "$bad" ] || fail "layout $dir: blobs/$alg/$bad does not hash to its name"
	done
	for f in "$dir"/* "$dir"/.[!.]*; do
		name=$(basename "$f")
		case $name in
		oci-layout | index.json | blobs) continue ;;
		esac
		# Nested repositories are directories holding their own layout.
		if [ -d "$f" ]; then
			continue
		fi
		fail "layout $dir: stray file '$name' (staging must live outside layouts)"
	done
	LAYOUT_SEEN=()
	check_descs "$dir" "$(jq -r '.manifests[] | [.mediaType // "", .digest, .size] | @tsv' \
		"$dir/index.json")" 0
	ASSERTS=$((ASSERTS + 1))
}

# check_descs LAYOUT TSV DEPTH: TSV lines "mediaType digest size"; follow
# manifests and indexes recursively, each blob checked once. One level at a
# time, with one stat and one jq per kind for the whole level: a layout may
# hold hundreds of manifests.
check_descs() {
	local dir=$1 tsv=$2 depth=$3 mt dg sz f got i=0 out
	local files=() sizes=() digs=() idx=() man=()
	[ "$depth" -lt 8 ] || fail "layout $dir: descriptors nest deeper than 8"
	while IFS=$'\t' read -r mt dg sz; do
		[ -n "$dg" ] || continue
		[ -z "${LAYOUT_SEEN[$dg]:-}" ] || continue
		LAYOUT_SEEN[$dg]=1
		[[ "$dg" =~ ^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$ ]] ||
			fail "layout $dir: malformed digest '$dg' in a descriptor"
		f=$dir/blobs/${dg%%:*}/${dg#*:}
		[ -f "$f" ] || fail "layout $dir: descriptor $dg ($mt) has no blob"
		files+=("$f")
		sizes+=("$sz")
		digs+=("$dg")
		case $mt in
		"$MT_OCI_INDEX" | "$MT_DOCKER_LIST") idx+=("$f") ;;
		"$MT_OCI_MANIFEST" | "$MT_DOCKER_MANIFEST") man+=("$f") ;;
		esac
	done <<<"$tsv"
	[ "${#files[@]}" -gt 0 ] || return 0
	while read -r got; do
		[ "$got" = "${sizes[i]}" ] ||
			fail "layout $dir: blob ${digs[i]} has size $got, descriptor says ${sizes[i]}"
		i=$((i + 1))
	done < <(stat -c %s -- "${files[@]}")
	[ "$i" -eq "${#files[@]}" ] ||
		fail "layout $dir: stat gave the size of $i of ${#files[@]} blobs"
	if [ "${#idx[@]}" -gt 0 ]; then
		out=$(descs_of '.manifests[]?' "${idx[@]}")
		check_descs "$dir" "$out" $((depth + 1))
	fi
	if [ "${#man[@]}" -gt 0 ]; then
		out=$(descs_of '(.config // empty), .layers[]?' "${man[@]}")
		check_descs "$dir" "$out" $((depth + 1))
	fi
}

# descs_of FILTER FILE...: the descriptors FILTER picks from each JSON
# FILE, as check_descs's TSV lines; one jq for all of them, or one per
# file if that one fails (a blob that is not JSON hides none after it).
descs_of() {
	local filter="$1 | [.mediaType // \"\", .digest, .size] | @tsv" f
	shift
	jq -r "$filter" "$@" 2>/dev/null && return 0
	for f in "$@"; do
		jq -r "$filter" "$f" 2>/dev/null || true
	done
}

# Every repository under ROOT (a directory with oci-layout, outside .dray)
# is a valid layout. Prints the repository names, sorted.
check_all_layouts() {
	local root=$1 d
	while IFS= read -r d; do
		check_layout "$d"
		printf '%s\n' "${d#"$root"/}"
	done < <(find "$root" -path "$root/.dray" -prune -o -name oci-layout \
		-type f -printf '%h\n' | sort)
	# index.json without oci-layout would be a half-made layout.
	while IFS= read -r d; do
		[ -f "$d/oci-layout" ] || fail "$d has index.json but no oci-layout"
	done < <(find "$root" -path "$root/.dray" -prune -o -name index.json \
		-type f -printf '%h\n')
}

# Tags recorded in a layout's index.json, sorted.
layout_tags() {
	jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' \
		"$1/index.json" | sort
}

# layout_tag_digest DIR TAG: the digest TAG names in layout DIR's index.json.
layout_tag_digest() {
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$1/index.json"
}

# follow_pages TARGET KEY OUT [MAX]: GET TARGET and each Link rel="next"
# page after it; append every element of the array at KEY (".tags",
# ".repositories") to OUT, one per line. Sets LINK_PAGES; fails after MAX
# pages or on a malformed Link header.
follow_pages() {
	local target=$1 key=$2 out=$3 max=${4:-50} link
	LINK_PAGES=0
	: >"$out"
	while :; do
		req GET "$target"
		assert_status 200
		assert_json "($key | type == \"array\") or $key == null" "$key is a list"
		bjq -r "($key // [])[]" >>"$out"
		LINK_PAGES=$((LINK_PAGES + 1))
		[ "$LINK_PAGES" -le "$max" ] || fail "more than $max pages of $key"
		link=$(hdr Link) || break
		[[ "$link" =~ ^\<([^>]+)\>\;[[:space:]]*rel=\"?next\"?$ ]] ||
			fail "Link header '$link' is not '<url>; rel=\"next\"'"
		target=${BASH_REMATCH[1]}
	done
}

need_mkimage() {
	[ -x "$MKIMAGE" ] || fail "mkimage not built at $MKIMAGE (set DRAY_BUILD)"
}

