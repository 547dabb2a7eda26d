#!/bin/bash
# http-framing.sh - a request whose body length two headers give is
# refused before its body is read, and its connection closed, so the bytes
# after it are never taken as a request of their own (request smuggling:
# a proxy in front may frame the body one way and dray the other).
#   - two Content-Length headers that differ (0 and N, 5 and 6);
#   - Content-Length beside Transfer-Encoding: chunked;
# each answers 400 SIZE_INVALID with Connection: close, and the request
# hidden in the body (a DELETE of a tag) never reaches the daemon: the
# tag is still there and the access log has no such request. The same
# length twice is one length, and one Content-Length with pipelined
# requests after it is served as before.
. "$(dirname "$0")/../lib.sh"
require_dray

dray_start
push_image framing/app v1 1 1000
M=$MANIFEST_DIGEST
HIDDEN="DELETE /v2/framing/app/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n"

# raw NAME BYTES: send BYTES (printf escapes) on one connection and read
# until the daemon closes it (timeout: it never did); the answer lands in
# $WORK/tmp/NAME.
raw() {
	local name=$1 rc=0
	log "  $name"
	printf '%s\n' "printf '$2' | (raw connection to $URL)" >>"$WORK/requests.log"
	{
		exec 3<>"/dev/tcp/127.0.0.1/$PORT"
		# shellcheck disable=SC2059 # the bytes are the format on purpose
		printf "$2" >&3
		timeout 60 cat <&3 >"$WORK/tmp/$name" || rc=$?
		exec 3>&-
	}
	[ "$rc" = 0 ] || fail "$name: the connection was not closed by the daemon (timeout $rc)"
}

# refused NAME: the answer in $WORK/tmp/NAME is one 400 SIZE_INVALID that
# closes the connection, and nothing else.
refused() {
	local f=$WORK/tmp/$1
	# A body ends without a newline: the next answer would follow on its line.
	assert_eq 1 "$(grep -o 'HTTP/1.1 [0-9]* ' "$f" | wc -l)" "$1: one answer on the connection"
	assert_true "$1: 400 ($(head -n 1 "$f"))" grep -q '^HTTP/1.1 400 ' "$f"
	assert_true "$1: Connection: close" grep -qi '^Connection: close' "$f"
	assert_true "$1: SIZE_INVALID body" grep -q '"code":"SIZE_INVALID"' "$f"
}

body="hello"
raw two-lengths "POST /v2/framing/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${#HIDDEN}\r\n\r\n$HIDDEN"
refused two-lengths
raw lengths-differ "POST /v2/framing/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n$body$HIDDEN"
refused lengths-differ
raw length-and-chunked "POST /v2/framing/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$HIDDEN"
refused length-and-chunked

# The hidden DELETE never ran.
req HEAD /v2/framing/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_header Docker-Content-Digest "$M"
assert_true "no DELETE reached the daemon" \
	bash -c "! grep -q '\"method\":\"DELETE\"' '$DAEMON_LOG'"

# The same length twice is one length (RFC 9110, 8.6): served, and the
# connection stays open for the next request.
raw same-length-twice "POST /v2/framing/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
assert_eq "202 200" "$(grep -o 'HTTP/1.1 [0-9]* ' "$WORK/tmp/same-length-twice" | cut -d' ' -f2 | xargs)" \
	"the same length twice, then a request"

# One Content-Length, then two pipelined requests: all three answered.
raw pipelined "POST /v2/framing/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/framing/app/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
assert_eq "202 200 200" "$(grep -o 'HTTP/1.1 [0-9]* ' "$WORK/tmp/pipelined" | cut -d' ' -f2 | xargs)" \
	"three pipelined answers"
assert_alive "after the framing checks"
pass
