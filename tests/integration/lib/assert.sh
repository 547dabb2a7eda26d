# SPDX-License-Identifier: Apache-2.0
# lib/assert.sh - assertions on status, headers, bodies and OCI error bodies.
# Sourced by lib.sh; not run on its own.

assert_eq() {
	ASSERTS=$((ASSERTS + 1))
	[ "$1" = "$2" ] || fail "${3:-values differ}: expected '$1', got '$2'"
}

assert_ne() {
	ASSERTS=$((ASSERTS + 1))
	[ "$1" != "$2" ] || fail "${3:-values equal}: both are '$1'"
}

assert_true() {
	local msg=$1
	shift
	ASSERTS=$((ASSERTS + 1))
	"$@" || fail "$msg"
}

# "Warnings": if present, each Warning header is `299 - "<text>"` (no
# warn-date) and all of them together stay within 4096 bytes. Checked on
# every response whose status is asserted.
check_warnings() {
	local bad l w=0
	# The common case (no Warning) without a process.
	while IFS= read -r l || [ -n "$l" ]; do
		if [[ ${l,,} == warning:* ]]; then
			w=1
			break
		fi
	done <"$RESP/headers"
	((w)) || return 0
	bad=$(tr -d '\r' <"$RESP/headers" | awk '
		/^HTTP\// { total = 0; bad = ""; next }
		tolower($0) ~ /^warning:/ {
			v = substr($0, 9); sub(/^[ \t]+/, "", v)
			total += length(v)
			if (v !~ /^299 - "([^"\\]|\\.)*"$/) bad = v
		}
		END { if (bad != "") print "malformed: " bad; else if (total > 4096) print "over 4096 bytes" }')
	[ -z "$bad" ] || fail "Warning header $bad"
}

# in_range VALUE LOW HIGH: VALUE is a decimal number within [LOW, HIGH].
in_range() {
	[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# assert_status CODE [CODE...]: the last status is one of them.
assert_status() {
	local s
	ASSERTS=$((ASSERTS + 1))
	check_warnings
	for s in "$@"; do
		[ "$STATUS" = "$s" ] && return 0
	done
	local extra=
	[ "$CURL_RC" -eq 0 ] || extra=" (curl: $(head -c 300 "$RESP/curl.err"))"
	fail "expected status $*, got $STATUS$extra"
}

assert_header() {
	local v
	ASSERTS=$((ASSERTS + 1))
	v=$(hdr "$1") || fail "header $1 missing (expected '$2')"
	[ "$v" = "$2" ] || fail "header $1: expected '$2', got '$v'"
}

assert_header_present() {
	ASSERTS=$((ASSERTS + 1))
	hdr "$1" >/dev/null || fail "header $1 missing"
}

assert_header_absent() {
	local v
	ASSERTS=$((ASSERTS + 1))
	if v=$(hdr "$1"); then
		fail "header $1 must be absent, got '$v'"
	fi
}

# assert_header_match NAME ERE
assert_header_match() {
	local v
	ASSERTS=$((ASSERTS + 1))
	v=$(hdr "$1") || fail "header $1 missing (expected /$2/)"
	[[ "$v" =~ $2 ]] || fail "header $1: '$v' does not match /$2/"
}

# Content-Type is exactly TYPE (the spec: no parameters on manifests).
assert_content_type() {
	assert_header Content-Type "$1"
}

assert_content_length() {
	assert_header Content-Length "$1"
}

assert_body_empty() {
	ASSERTS=$((ASSERTS + 1))
	[ ! -s "$RESP/body" ] ||
		fail "body must be empty, has $(wc -c <"$RESP/body") bytes"
}

# The body is byte-identical to FILE.
assert_body_file() {
	ASSERTS=$((ASSERTS + 1))
	cmp -s "$1" "$RESP/body" ||
		fail "body ($(wc -c <"$RESP/body") bytes) differs from $1 ($(wc -c <"$1") bytes)"
}

assert_body_digest() {
	ASSERTS=$((ASSERTS + 1))
	local d
	d=$(digest_of "$RESP/body" "${1%%:*}")
	[ "$d" = "$1" ] || fail "body digest is $d, expected $1"
}

# Docker-Content-Digest names FILE's content under some registered
# algorithm: the spec lets a registry answer with its canonical digest,
# which "MAY differ from the provided digest" (e.g. sha256 for a sha512).
assert_digest_header_of() {
	local v alg
	ASSERTS=$((ASSERTS + 1))
	v=$(hdr Docker-Content-Digest) || fail "header Docker-Content-Digest missing"
	alg=${v%%:*}
	case $alg in
	sha256 | sha512) ;;
	*) fail "Docker-Content-Digest '$v' uses an unexpected algorithm" ;;
	esac
	[ "$(digest_of "$1" "$alg")" = "$v" ] ||
		fail "Docker-Content-Digest '$v' is not the digest of $1"
}

# assert_json JQ-EXPR [MESSAGE]: the body is JSON and the filter is true.
assert_json() {
	ASSERTS=$((ASSERTS + 1))
	jq -e . "$RESP/body" >/dev/null 2>&1 || fail "body is not JSON${2:+ ($2)}"
	jq -e "$1" "$RESP/body" >/dev/null 2>&1 ||
		fail "${2:-body check failed}: jq '$1' is not true"
}

# The spec's error body: {"errors":[{"code":...,"message":...,"detail":...}]}
# where every code is one of the spec's, and one of them is among the
# given CODEs.
assert_json_error_code() {
	local codes c ok=0
	ASSERTS=$((ASSERTS + 1))
	jq -e 'type == "object" and (.errors | type == "array" and length > 0)
		and all(.errors[]; type == "object" and (.code | type == "string")
			and (.message == null or (.message | type == "string")))' \
		"$RESP/body" >/dev/null 2>&1 ||
		fail "error body is not {\"errors\":[{\"code\":...}]} (wanted $*)"
	codes=$(jq -r '.errors[].code' "$RESP/body")
	for c in $codes; do
		[[ " $(echo $SPEC_ERROR_CODES $LEGACY_ERROR_CODES) " == *" $c "* ]] ||
			fail "error code '$c' is not a distribution-spec code"
		local w
		for w in "$@"; do
			[ "$c" = "$w" ] && ok=1
		done
	done
	[ "$ok" -eq 1 ] || fail "error code: expected one of '$*', got '$(echo $codes)'"
}

# status and error code together: assert_error STATUS CODE [CODE...]
assert_error() {
	local st=$1
	shift
	assert_status "$st"
	assert_json_error_code "$@"
}

