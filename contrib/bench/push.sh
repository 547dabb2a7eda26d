#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# push.sh - the push flows of the benchmark, one curl per HTTP request.
#
#   push.sh single   URL REPO FILE DIGEST    POST ?digest= with the body (201)
#   push.sh mono     URL REPO FILE DIGEST    POST, then PUT ?digest= with body
#   push.sh chunked  URL REPO DIR DIGEST     POST, PATCH each file in DIR (in
#                                            name order) with Content-Range,
#                                            then PUT ?digest= without body
#   push.sh manifest URL REPO FILE TAG       PUT an OCI image manifest
#
# URL is the registry base (http://127.0.0.1:PORT). Bodies are streamed
# from the file (curl -T), never loaded into memory. Exits 0 on the
# expected status, 3 when a single POST got 202 (the server does not take
# monolithic POSTs), 1 otherwise with the response on stderr.
set -euo pipefail

[[ $# -eq 5 ]] || { sed -n '4,16p' "$0" >&2; exit 2; }
mode=$1 base=${2%/} repo=$3 src=$4 arg=$5
tmp=$(mktemp -d "${TMPDIR:-/tmp}/push.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CURL=(curl -sS --max-time 900 -H 'Expect:' -o "$tmp/body" -D "$tmp/head"
	-w '%{http_code}')

fail() {
	echo "push.sh $mode: $1" >&2
	cat "$tmp/head" "$tmp/body" >&2 2>/dev/null || true
	exit "${2:-1}"
}

# Location of the last response, made absolute.
location() {
	local loc
	loc=$(awk 'tolower($1) == "location:" { print $2 }' "$tmp/head" |
		tr -d '\r' | tail -n 1)
	[[ -n $loc ]] || fail "no Location header"
	case $loc in
	http://* | https://*) echo "$loc" ;;
	/*) echo "$base$loc" ;;
	*) echo "$base/$loc" ;;
	esac
}

with_digest() {
	case $1 in
	*\?*) echo "$1&digest=$2" ;;
	*) echo "$1?digest=$2" ;;
	esac
}

start_session() {
	code=$("${CURL[@]}" -X POST -H 'Content-Length: 0' \
		"$base/v2/$repo/blobs/uploads/")
	[[ $code == 202 ]] || fail "POST got $code"
	location
}

case $mode in
single)
	# curl -T would append the file name to a URL ending in '/'.
	code=$("${CURL[@]}" -X POST -T "$src" \
		-H 'Content-Type: application/octet-stream' \
		--request-target "/v2/$repo/blobs/uploads/?digest=$arg" "$base/")
	[[ $code == 202 ]] && fail "server answered 202: no monolithic POST" 3
	[[ $code == 201 ]] || fail "POST got $code"
	;;
mono)
	loc=$(start_session)
	code=$("${CURL[@]}" -X PUT -T "$src" \
		-H 'Content-Type: application/octet-stream' \
		"$(with_digest "$loc" "$arg")")
	[[ $code == 201 ]] || fail "PUT got $code"
	;;
chunked)
	loc=$(start_session)
	off=0 n=0
	for f in "$src"/*; do
		size=$(stat -c %s "$f")
		((size > 0)) || continue
		code=$("${CURL[@]}" -X PATCH -T "$f" \
			-H 'Content-Type: application/octet-stream' \
			-H "Content-Range: $off-$((off + size - 1))" "$loc")
		[[ $code == 202 ]] || fail "PATCH at $off got $code"
		loc=$(location)
		off=$((off + size))
		n=$((n + 1))
		((n <= 100000)) || fail "too many chunks"
	done
	code=$("${CURL[@]}" -X PUT -H 'Content-Length: 0' \
		"$(with_digest "$loc" "$arg")")
	[[ $code == 201 ]] || fail "final PUT got $code"
	;;
manifest)
	code=$("${CURL[@]}" -X PUT -T "$src" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		"$base/v2/$repo/manifests/$arg")
	[[ $code == 201 ]] || fail "PUT manifest got $code"
	;;
*)
	fail "unknown mode" 2
	;;
esac
