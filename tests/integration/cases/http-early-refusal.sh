#!/bin/bash
# http-early-refusal.sh - a request refused before its body is read reaches
# the client as that answer, never as a reset: a 5 MiB manifest PUT (413
# SIZE_INVALID, refused on its Content-Length), an 8 MiB blob PUT to an
# unknown upload session (404 BLOB_UPLOAD_UNKNOWN), a monolithic POST with
# a bad digest (400 DIGEST_INVALID), a PUT to a path that is no endpoint
# (404), a refused method with a body (405 UNSUPPORTED) and headers too
# large for libmicrohttpd (431, its own answer), 50 times each over loopback, four at a time, without Expect: 100-continue (so the body
# is on its way when the answer comes). Each one gets its status and OCI
# error body; curl never fails with 55 (send failure) or 56 (receive
# failure). The daemon still serves afterwards.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=early/app
push_image "$REPO" base 1 2000

N=${EARLY_N:-50}
mkblob "$WORK/tmp/big" $((8 * 1024 * 1024))
head -c $((5 * 1024 * 1024)) "$WORK/tmp/big" >"$WORK/tmp/m5"
D=$(digest_of "$WORK/tmp/big")
UNKNOWN=0123456789abcdef0123456789abcdef

# one KIND I METHOD PATH FILE [curl args]: one request; "rc status" and the
# body land in $WORK/tmp/out/KIND.I.{res,body}.
one() {
	local kind=$1 i=$2 method=$3 path=$4 file=$5 rc=0 st
	shift 5
	st=$(curl -sS --max-time 60 -H 'Expect:' -X "$method" \
		-o "$WORK/tmp/out/$kind.$i.body" -w '%{http_code}' \
		--data-binary "@$file" "$@" "$URL$path" \
		2>"$WORK/tmp/out/$kind.$i.err") || rc=$?
	printf '%s %s\n' "$rc" "${st:-000}" >"$WORK/tmp/out/$kind.$i.res"
}

# hammer KIND STATUS CODE METHOD PATH FILE [curl args]: N requests, four
# at a time; every one must answer STATUS with an OCI error body whose
# code is CODE.
hammer() {
	local kind=$1 want=$2 code=$3 i j bad=0 res pids
	shift 3
	mkdir -p "$WORK/tmp/out"
	for ((i = 0; i < N; i += 4)); do
		pids=()
		for ((j = i; j < i + 4 && j < N; j++)); do
			one "$kind" "$j" "$@" &
			pids+=($!)
		done
		wait "${pids[@]}" # not a bare wait: the daemon is a child too
	done
	for ((i = 0; i < N; i++)); do
		res=$(cat "$WORK/tmp/out/$kind.$i.res")
		if [ "$res" != "0 $want" ]; then
			bad=$((bad + 1))
			log "$kind #$i: curl exit/status '$res' ($(head -c 200 \
				"$WORK/tmp/out/$kind.$i.err"))"
			continue
		fi
		[ "$code" != - ] || continue # not dray's answer: no OCI body
		jq -e --arg c "$code" '.errors[0].code == $c' \
			"$WORK/tmp/out/$kind.$i.body" >/dev/null 2>&1 || {
			bad=$((bad + 1))
			log "$kind #$i: body is not an OCI error $code: $(head -c 200 \
				"$WORK/tmp/out/$kind.$i.body")"
		}
	done
	assert_eq 0 "$bad" "$kind: requests of $N without status $want and $code"
}

hammer manifest413 413 SIZE_INVALID PUT "/v2/$REPO/manifests/big" \
	"$WORK/tmp/m5" -H "Content-Type: $MT_OCI_MANIFEST"
hammer upload404 404 BLOB_UPLOAD_UNKNOWN PUT \
	"/v2/$REPO/blobs/uploads/$UNKNOWN?digest=$D" "$WORK/tmp/big" \
	-H 'Content-Type: application/octet-stream'
hammer digest400 400 DIGEST_INVALID POST \
	"/v2/$REPO/blobs/uploads/?digest=sha256:zzz" "$WORK/tmp/big" \
	-H 'Content-Type: application/octet-stream'
hammer noroute404 404 NAME_UNKNOWN PUT "/v2/$REPO/nothing/here" \
	"$WORK/tmp/m5"
hammer method405 405 UNSUPPORTED PATCH "/v2/$REPO/manifests/base" \
	"$WORK/tmp/m5"
# libmicrohttpd's own refusal (431: headers over the connection's memory)
# is answered with the body unread too.
BIGHDR=$(head -c 70000 /dev/zero | tr '\0' 'h')
hammer header431 431 - PUT "/v2/$REPO/manifests/big" "$WORK/tmp/m5" \
	-H "X-Big: $BIGHDR"

# Nothing was created, and the daemon still serves.
req GET "/v2/$REPO/manifests/big" -H "Accept: $ACCEPT_MANIFESTS"
assert_error 404 MANIFEST_UNKNOWN
req GET /v2/
assert_status 200
assert_alive "after the refusals"
dray_stop
pass
