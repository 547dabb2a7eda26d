# SPDX-License-Identifier: Apache-2.0
# lib.sh - shared harness for the black-box integration cases.
#
# Sourced by every tests/integration/cases/<area>-<what>.sh. It gives each
# case a private work dir (cfg/ data/ logs/ resp/), starts and stops the
# daemon by PID, wraps curl so that every response's status, headers and
# body land in files, and offers assertions that, on failure, print the
# assertion, the last request and response, and the daemon log tail, keep
# the work dir and write a repro.sh next to it. A passing case removes its
# work dir and ends with one "PASS <case>: ..." line.
#
# Environment: DRAY_BIN (the daemon), DRAY_BUILD (build dir, for mkimage),
# DRAY_SRC (source dir). DRAY_TEST_TARGET=distribution runs the HTTP cases
# against Debian's docker-registry (CNCF Distribution 2.8) instead, to check
# the tests themselves. In that mode the assertions about dray's on-disk
# layout and CLI are skipped (dray_only, require_dray), and so are the few
# contract points stricter than the spec (each guarded by is_dray with the
# spec's wording beside it); Distribution's deviations from the spec are
# left to fail.

set -Eeuo pipefail
shopt -s nullglob

CASE_NAME=$(basename "$0" .sh)
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DRAY_SRC:=$(cd "$IT_DIR/../.." && pwd)}"
: "${DRAY_BIN:=$DRAY_SRC/build/dray}"
: "${DRAY_BUILD:=$(dirname "$DRAY_BIN")}"
: "${DRAY_TEST_TARGET:=dray}"
MKIMAGE=$DRAY_BUILD/mkimage

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dray-it-$CASE_NAME.XXXXXX")
mkdir -p "$WORK/cfg" "$WORK/data" "$WORK/logs" "$WORK/resp" "$WORK/tmp"
CFG=$WORK/cfg/dray.yaml
PORTFILE=$WORK/cfg/port
RESP=$WORK/resp
DAEMON_LOG=$WORK/logs/dray.log
DAEMON_ERR=$WORK/logs/stderr.log

DRAY_PID=
PORT=
URL=
STATUS=
CURL_RC=0
ASSERTS=0
NOTES=()
BG_PIDS=()
T_START=$SECONDS
FAILED=0
: >"$WORK/requests.log"

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar
MT_OCI_LAYER_GZ=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_EMPTY=application/vnd.oci.empty.v1+json
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER=application/vnd.docker.image.rootfs.diff.tar.gzip
# What a client accepts when it wants any manifest back.
ACCEPT_MANIFESTS="$MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"
# The empty descriptor's blob is the two bytes "{}" (image-spec manifest.md).
EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
# Every error code of distribution-spec v1.1 "Error Codes".
SPEC_ERROR_CODES="BLOB_UNKNOWN BLOB_UPLOAD_INVALID BLOB_UPLOAD_UNKNOWN
DIGEST_INVALID MANIFEST_BLOB_UNKNOWN MANIFEST_INVALID MANIFEST_UNKNOWN
NAME_INVALID NAME_UNKNOWN SIZE_INVALID UNAUTHORIZED DENIED UNSUPPORTED
TOOMANYREQUESTS"
# "Legacy Docker support error codes": clients MAY encounter these.
LEGACY_ERROR_CODES="TAG_INVALID MANIFEST_UNVERIFIED"

# ---------------------------------------------------------------- reporting

log() {
	printf '%s\n' "$*" >&2
}

is_dray() {
	[ "$DRAY_TEST_TARGET" = dray ]
}

# Whole case needs dray itself (CLI, on-disk layout): skip under Distribution.
require_dray() {
	if ! is_dray; then
		log "SKIP $CASE_NAME: needs dray ($*), target is $DRAY_TEST_TARGET"
		exit 77
	fi
}

# Guard for a layout/CLI-specific block: `if dray_only "why"; then ...; fi`.
dray_only() {
	if is_dray; then
		return 0
	fi
	log "  skip ($DRAY_TEST_TARGET): $*"
	return 1
}

# A known, accepted deviation of the reference registry; printed at the end.
note() {
	NOTES+=("$*")
}

# Where in the case file the failing assertion was called from.
call_site() {
	local i
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		if [ "${BASH_SOURCE[$i]}" != "${BASH_SOURCE[0]}" ]; then
			printf '%s:%s' "$(basename "${BASH_SOURCE[$i]}")" \
				"${BASH_LINENO[$((i - 1))]}"
			return
		fi
	done
	printf 'lib.sh'
}

show_last_response() {
	[ -s "$RESP/request" ] || return 0
	log "--- last request: $(cat "$RESP/request")"
	log "--- last response: status $STATUS (curl exit $CURL_RC)"
	if [ -s "$RESP/headers" ]; then
		tr -d '\r' <"$RESP/headers" | sed 's/^/  /' >&2
	fi
	if [ -s "$RESP/body" ]; then
		if head -c 1500 "$RESP/body" | LC_ALL=C grep -q '[^[:print:][:space:]]'; then
			log "--- body ($(wc -c <"$RESP/body") bytes, binary; first 64 as hex):"
			head -c 64 "$RESP/body" | od -An -tx1 >&2
		else
			log "--- body ($(wc -c <"$RESP/body") bytes, first 1500 shown):"
			head -c 1500 "$RESP/body" >&2
			log ""
		fi
	fi
}

show_daemon_logs() {
	local f
	for f in "$DAEMON_LOG" "$DAEMON_ERR"; do
		if [ -s "$f" ]; then
			log "--- tail of $f:"
			tail -n 25 "$f" | cut -c1-300 >&2
		fi
	done
}

write_repro() {
	local r=$WORK/repro.sh
	{
		echo "#!/bin/bash"
		echo "# Re-runs $CASE_NAME with the environment of the failed run. Its"
		echo "# HTTP requests, as curl commands, are in $WORK/requests.log;"
		echo "# the daemon's config is $CFG and its logs are in $WORK/logs."
		printf 'cd %q || exit 1\n' "$PWD"
		printf 'exec env DRAY_BIN=%q DRAY_BUILD=%q DRAY_SRC=%q DRAY_TEST_TARGET=%q bash %q "$@"\n' \
			"$DRAY_BIN" "$DRAY_BUILD" "$DRAY_SRC" "$DRAY_TEST_TARGET" \
			"$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
	} >"$r"
	chmod +x "$r"
}

fail() {
	trap - ERR
	if [ "${BASH_SUBSHELL:-0}" -gt 0 ]; then
		log "FAIL [$CASE_NAME] (in subshell) $(call_site): $*"
		exit 1
	fi
	FAILED=1
	set +e
	# The repro first: the report below may hit a closed pipe.
	write_repro
	log ""
	log "FAIL [$CASE_NAME] $(call_site): $*"
	show_last_response
	show_daemon_logs
	log "--- work dir kept: $WORK (requests as curl commands: requests.log)"
	log "--- repro: bash $WORK/repro.sh"
	exit 1
}

on_err() {
	local rc=$1 line=$2 cmd=$3
	fail "command failed (exit $rc) at line $line: $cmd"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

on_exit() {
	local rc=$? p
	trap - ERR
	set +e
	# A failure whose report was cut short (e.g. by SIGPIPE on a closed
	# output) must still count as one.
	[ "$FAILED" -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$DRAY_PID" ]; then
		stop_pid "$DRAY_PID"
		DRAY_PID=
	fi
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
		rm -rf "$WORK"
	elif [ "$FAILED" -eq 0 ]; then
		log "FAIL [$CASE_NAME]: exited with status $rc"
		show_last_response
		show_daemon_logs
		write_repro
		log "--- work dir kept: $WORK"
	fi
	exit "$rc"
}
trap on_exit EXIT

# End of a passing case: the one summary line.
pass() {
	local n
	for n in "${NOTES[@]}"; do
		printf '  note: %s\n' "$n"
	done
	printf 'PASS %s: %d assertions in %ds (target %s)\n' "$CASE_NAME" \
		"$ASSERTS" "$((SECONDS - T_START))" "$DRAY_TEST_TARGET"
	exit 0
}

# ------------------------------------------------------------------ daemon

# Write the case's config; extra YAML lines may follow on stdin.
dray_config() {
	cat >"$CFG" <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: 0
storage:
  rootDirectory: $WORK/data
log:
  level: debug
  output: $DAEMON_LOG
EOF
}

dist_config() {
	cat >"$WORK/cfg/distribution.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$1
EOF
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

dist_start() {
	local try i p
	for ((try = 0; try < 5; try++)); do
		p=$((20000 + RANDOM % 30000))
		port_in_use "$p" && continue
		dist_config "$p"
		/usr/bin/docker-registry serve "$WORK/cfg/distribution.yml" \
			>>"$DAEMON_LOG" 2>&1 &
		DRAY_PID=$!
		for ((i = 0; i < 100; i++)); do
			if curl -s -o /dev/null --max-time 1 \
				"http://127.0.0.1:$p/v2/"; then
				PORT=$p
				URL=http://127.0.0.1:$PORT
				return 0
			fi
			kill -0 "$DRAY_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$DRAY_PID"
		DRAY_PID=
	done
	fail "could not start docker-registry"
}

# Start the daemon on $WORK/data; sets DRAY_PID, PORT, URL.
dray_start() {
	local i rc=0 p=
	[ -z "$DRAY_PID" ] || fail "dray_start: daemon already running"
	if ! is_dray; then
		dist_start
		return 0
	fi
	[ -x "$DRAY_BIN" ] || fail "DRAY_BIN '$DRAY_BIN' is not executable"
	[ -f "$CFG" ] || dray_config
	rm -f "$PORTFILE"
	"$DRAY_BIN" serve "$CFG" --port-file "$PORTFILE" \
		>>"$WORK/logs/stdout.log" 2>>"$DAEMON_ERR" &
	DRAY_PID=$!
	for ((i = 0; i < 600; i++)); do
		# A whole line: a non-atomic writer may be half way.
		if [ "$(tail -c 1 "$PORTFILE" 2>/dev/null)" = "" ] &&
			[ -s "$PORTFILE" ]; then
			p=$(tr -d ' \n\r' <"$PORTFILE")
			break
		fi
		if ! kill -0 "$DRAY_PID" 2>/dev/null; then
			wait "$DRAY_PID" || rc=$?
			DRAY_PID=
			fail "daemon exited with status $rc during startup"
		fi
		sleep 0.1
	done
	[ -n "$p" ] || fail "no port in $PORTFILE after 60 s"
	[[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 0 ] && [ "$p" -lt 65536 ] ||
		fail "port file holds '$p', not a TCP port"
	PORT=$p
	URL=http://127.0.0.1:$PORT
}

# SIGTERM, wait up to 60 s, and assert a clean exit status 0.
dray_stop() {
	local i rc=0 pid=$DRAY_PID
	[ -n "$pid" ] || fail "dray_stop: no daemon running"
	kill -TERM "$pid"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		DRAY_PID=
		fail "daemon still running 60 s after SIGTERM"
	fi
	wait "$pid" || rc=$?
	DRAY_PID=
	ASSERTS=$((ASSERTS + 1))
	if is_dray; then
		[ "$rc" -eq 0 ] || fail "daemon exit status after SIGTERM is $rc, expected 0"
	fi
}

dray_kill9() {
	[ -n "$DRAY_PID" ] || fail "dray_kill9: no daemon running"
	kill -KILL "$DRAY_PID"
	wait "$DRAY_PID" 2>/dev/null || true
	DRAY_PID=
}

daemon_alive() {
	[ -n "$DRAY_PID" ] && kill -0 "$DRAY_PID" 2>/dev/null
}

assert_alive() {
	ASSERTS=$((ASSERTS + 1))
	daemon_alive || fail "daemon is no longer running ($*)"
}

# Run a background job and remember its PID for cleanup.
bg() {
	"$@" &
	BG_PIDS+=($!)
}

# -------------------------------------------------------------------- HTTP

# A request target as an absolute URL: absolute stays, "/path" gets $URL.
abs_url() {
	case $1 in
	http://* | https://*) printf '%s' "$1" ;;
	/*) printf '%s%s' "$URL" "$1" ;;
	*) printf '%s/%s' "$URL" "$1" ;;
	esac
}

# URL with one more query parameter.
with_query() {
	case $1 in
	*\?*) printf '%s&%s' "$1" "$2" ;;
	*) printf '%s?%s' "$1" "$2" ;;
	esac
}

# req METHOD TARGET [curl args...]: status in $STATUS and $RESP/status,
# headers in $RESP/headers, body in $RESP/body. POST/PUT/PATCH without a
# body send Content-Length: 0. A transport failure gives STATUS=000.
req() {
	local method=$1 target=$2 a has_body=0 url
	shift 2
	url=$(abs_url "$target")
	# REQ_EXPECT=100-continue: wait for the go-ahead before the body.
	local args=(--path-as-is --max-time "${REQ_TIMEOUT:-120}"
		-H "Expect:${REQ_EXPECT:+ $REQ_EXPECT}")
	if [ "$method" = HEAD ]; then
		args+=(-I)
	else
		args+=(-X "$method")
	fi
	for a in "$@"; do
		case $a in
		--data* | -d | -T | --upload-file) has_body=1 ;;
		esac
	done
	case $method in
	POST | PUT | PATCH)
		[ "$has_body" -eq 1 ] || args+=(-H 'Content-Length: 0')
		;;
	esac
	: >"$RESP/body"
	: >"$RESP/headers"
	printf '%s %s\n' "$method" "$url" >"$RESP/request"
	{
		printf 'curl -sS -o /dev/null -D - '
		printf '%q ' "${args[@]}" "$@"
		printf '"$URL"%q\n' "${url#"$URL"}"
	} >>"$WORK/requests.log"
	# curl -I prints the headers to -o as well; HEAD has no body anyway.
	local out=$RESP/body
	[ "$method" != HEAD ] || out=$RESP/head.out
	CURL_RC=0
	STATUS=$(curl -sS -o "$out" -D "$RESP/headers" -w '%{http_code}' \
		"${args[@]}" "$@" "$url" 2>"$RESP/curl.err") || CURL_RC=$?
	[ -n "$STATUS" ] || STATUS=000
	[ "$CURL_RC" -eq 0 ] || STATUS=000
	printf '%s\n' "$STATUS" >"$RESP/status"
}

# Value of response header NAME (case-insensitive); repeated fields are
# joined with ", ". Returns 1 if absent. Only the final response counts.
hdr() {
	tr -d '\r' <"$RESP/headers" | awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		/^HTTP\// { found = 0; val = ""; next }
		{
			i = index($0, ":")
			if (i == 0) next
			k = tolower(substr($0, 1, i - 1))
			if (k != n) next
			v = substr($0, i + 1)
			sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
			val = found ? val ", " v : v
			found = 1
		}
		END { if (found) print val; exit(found ? 0 : 1) }'
}

body() {
	cat "$RESP/body"
}

# jq over the last body.
bjq() {
	jq "$@" <"$RESP/body"
}

# -------------------------------------------------------------- assertions

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
	local bad
	grep -qi '^warning:' "$RESP/headers" || return 0
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

# ------------------------------------------------------------ content

# digest_of FILE [sha256|sha512] -> "alg:hex"
digest_of() {
	local alg=${2:-sha256}
	printf '%s:%s' "$alg" "$("${alg}sum" <"$1" | cut -d' ' -f1)"
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

# --------------------------------------------------------------- layouts

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
# manifests and indexes recursively, each blob checked once.
check_descs() {
	local dir=$1 tsv=$2 depth=$3 mt dg sz f
	[ "$depth" -lt 8 ] || fail "layout $dir: descriptors nest deeper than 8"
	while IFS=$'\t' read -r mt dg sz; do
		[ -n "$dg" ] || continue
		[ -z "${LAYOUT_SEEN[$dg]:-}" ] || continue
		LAYOUT_SEEN[$dg]=1
		[[ "$dg" =~ ^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$ ]] ||
			fail "layout $dir: malformed digest '$dg' in a descriptor"
		f=$dir/blobs/${dg%%:*}/${dg#*:}
		[ -f "$f" ] || fail "layout $dir: descriptor $dg ($mt) has no blob"
		[ "$(stat -c %s "$f")" = "$sz" ] ||
			fail "layout $dir: blob $dg has size $(stat -c %s "$f"), descriptor says $sz"
		case $mt in
		"$MT_OCI_INDEX" | "$MT_DOCKER_LIST")
			check_descs "$dir" "$(jq -r '.manifests[]? | [.mediaType // "", .digest, .size] | @tsv' "$f")" \
				$((depth + 1))
			;;
		"$MT_OCI_MANIFEST" | "$MT_DOCKER_MANIFEST")
			check_descs "$dir" "$(jq -r '((.config // empty), .layers[]?) | [.mediaType // "", .digest, .size] | @tsv' "$f")" \
				$((depth + 1))
			;;
		esac
	done <<<"$tsv"
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

# ------------------------------------ storage config, offline CLI, layouts
# (added for the index/dedup/GC/scrub cases)

# dray_config_ext FILE [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: write a
# config like dray_config's to FILE ($CFG is the daemon's), each
# STORAGE_LINE ("gcDelay: 5s", "dedupe: false") added to the storage
# section, and TOP_LEVEL_YAML (e.g. an extensions: section) appended.
dray_config_ext() {
	local file=$1 top=
	shift
	{
		printf 'distSpecVersion: 1.1.0\nhttp:\n  address: 127.0.0.1\n  port: 0\n'
		# Lines for the http section ("  accessControl: ..."), if any.
		[ -z "${HTTP_EXTRA:-}" ] || printf '%s\n' "$HTTP_EXTRA"
		printf 'storage:\n  rootDirectory: %s\n' "$WORK/data"
		while [ $# -gt 0 ]; do
			if [ "$1" = -- ]; then
				top=${2:-}
				break
			fi
			printf '  %s\n' "$1"
			shift
		done
		printf 'log:\n  level: debug\n  output: %s\n' "$DAEMON_LOG"
		if [ -n "$top" ]; then
			printf '%s\n' "$top"
		fi
	} >"$file"
}

# dray_start_cfg [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: rewrite $CFG with
# dray_config_ext and start the daemon on it.
dray_start_cfg() {
	dray_config_ext "$CFG" "$@"
	dray_start
}

# dray_cli ARGS...: run `$DRAY_BIN ARGS...` (an offline command such as
# gc/scrub/fsck, with its config path among ARGS), stopped after 600 s
# (a hang, not a slow machine);
# stdout+stderr in $CLI_OUT, exit status in $CLI_RC; both logged to
# logs/cli.log.
dray_cli() {
	CLI_RC=0
	CLI_OUT=$(timeout 600 "$DRAY_BIN" "$@" 2>&1) || CLI_RC=$?
	printf '+ dray %s (exit %s)\n%s\n' "$*" "$CLI_RC" "$CLI_OUT" \
		>>"$WORK/logs/cli.log"
}

# assert_cli_rc CODE MESSAGE: the last dray_cli exited with CODE.
assert_cli_rc() {
	ASSERTS=$((ASSERTS + 1))
	[ "$CLI_RC" = "$1" ] ||
		fail "$2: dray exited $CLI_RC, expected $1; output: $(printf '%s' "$CLI_OUT" | tail -n 15)"
}

inode_of() {
	stat -c %i "$1"
}

nlinks_of() {
	stat -c %h "$1"
}

# The file of blob DIGEST in repository REPO of the storage root.
repo_blob_file() {
	printf '%s/%s/blobs/%s/%s' "$WORK/data" "$1" "${2%%:*}" "${2#*:}"
}

# The content store's copy of blob DIGEST.
store_blob_file() {
	printf '%s/.dray/blobs/%s/%s' "$WORK/data" "${1%%:*}" "${1#*:}"
}

# layout_manifest_digest DIR TAG: digest of TAG in layout DIR's index.json.
layout_manifest_digest() {
	jq -r --arg t "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) |
		.digest' "$1/index.json" | head -n 1
}

# push_layout REPO TAG DIR: push image (or one-level image index) TAG of
# OCI layout DIR (e.g. made by mkimage) over HTTP: every blob with
# push_blob, child manifests by digest, then the tagged manifest. Sets
# MANIFEST_DIGEST.
push_layout() {
	local repo=$1 tag=$2 dir=$3 d mt f child cmt
	d=$(layout_manifest_digest "$dir" "$tag")
	[ -n "$d" ] || fail "push_layout: no tag $tag in $dir"
	f=$dir/blobs/${d%%:*}/${d#*:}
	mt=$(jq -r '.mediaType' "$f")
	if [ "$mt" = "$MT_OCI_INDEX" ] || [ "$mt" = "$MT_DOCKER_LIST" ]; then
		for child in $(jq -r '.manifests[].digest' "$f"); do
			local cf=$dir/blobs/${child%%:*}/${child#*:}
			local b
			for b in $(jq -r '.config.digest, .layers[].digest' "$cf"); do
				push_blob "$repo" "$dir/blobs/${b%%:*}/${b#*:}" "$b"
			done
			cmt=$(jq -r '.mediaType' "$cf")
			push_manifest "$repo" "$child" "$cf" "$cmt"
		done
	else
		local b
		for b in $(jq -r '.config.digest, .layers[].digest' "$f"); do
			push_blob "$repo" "$dir/blobs/${b%%:*}/${b#*:}" "$b"
		done
	fi
	push_manifest "$repo" "$tag" "$f" "$mt"
	MANIFEST_DIGEST=$d
}

# pull_verify REPO REF: GET manifest REF of REPO and every blob it names
# (through one level of index), each answered 200 and hashing to its
# digest. Fails the case otherwise.
pull_verify() {
	local repo=$1 ref=$2 d mt man=$WORK/tmp/pull_verify.$$ c
	req GET "/v2/$repo/manifests/$ref" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	d=$(hdr Docker-Content-Digest) || fail "no Docker-Content-Digest for $repo:$ref"
	assert_body_digest "$d"
	cp "$RESP/body" "$man"
	mt=$(jq -r '.mediaType // ""' "$man")
	if [ "$mt" = "$MT_OCI_INDEX" ] || [ "$mt" = "$MT_DOCKER_LIST" ]; then
		for c in $(jq -r '.manifests[].digest' "$man"); do
			pull_verify "$repo" "$c"
		done
		return 0
	fi
	for c in $(jq -r '(.config.digest // empty), (.layers[]?.digest)' "$man"); do
		req GET "/v2/$repo/blobs/$c"
		assert_status 200
		assert_body_digest "$c"
	done
}

# ------------------------------------------------------------------- mount
# (added for the mount-*.sh cases: the storage tree mounted with FUSE by
# the daemon itself)

MNT=$WORK/mnt

# need_fuse: skip (77) only where FUSE genuinely cannot work: no
# /dev/fuse character device or no fusermount3. CI has both, so the mount
# cases run there.
need_fuse() {
	if [ ! -c /dev/fuse ]; then
		log "SKIP $CASE_NAME: no /dev/fuse"
		exit 77
	fi
	command -v fusermount3 >/dev/null ||
		fail "/dev/fuse exists but fusermount3 is missing"
}

is_mounted() {
	awk -v m="$MNT" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' \
		/proc/mounts
}

wait_mounted() {
	local i
	for ((i = 0; i < 600; i++)); do
		is_mounted && return 0
		daemon_alive || fail "daemon exited before mounting $MNT"
		sleep 0.1
	done
	fail "no fuse mount at $MNT after 60 s"
}

# Unmount $MNT by path if anything is mounted there (a dead mount left by
# a SIGKILL included); never by process name.
mount_clear() {
	is_mounted || return 0
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" \
		2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}

# The EXIT handler of a mount case: stop the daemon (it unmounts), clear
# a mount it could not remove, then lib.sh's own handler, which removes
# the work dir (it must not walk into a mount).
mount_on_exit() {
	local rc=$?
	set +e
	if [ -n "$DRAY_PID" ]; then
		stop_pid "$DRAY_PID"
		DRAY_PID=
	fi
	mount_clear
	(exit "$rc")
	on_exit
}

# dray_start_mount [STORAGE_LINE...] [-- TOP_LEVEL_YAML]: the daemon with
# fuse.mountpoint $MNT (plus any extra config, as dray_start_cfg takes),
# started and mounted; sets DRAY_PID, PORT, URL.
dray_start_mount() {
	local top="fuse:
  mountpoint: $MNT" args=()
	trap mount_on_exit EXIT
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			top="$top
$2"
			break
		fi
		args+=("$1")
		shift
	done
	dray_config_ext "$CFG" "${args[@]}" -- "$top"
	dray_start
	wait_mounted
}

# dray_restart_mount: start again on the same config (after a stop or a
# SIGKILL, whose dead mount the daemon must clear itself).
dray_restart_mount() {
	dray_start
	wait_mounted
}

# http_catalog: the repositories HTTP lists, one line, space-separated.
http_catalog() {
	req GET "/v2/_catalog?n=1000"
	assert_status 200
	bjq -r '.repositories // [] | join(" ")'
}

# http_digest REPO REF: the Docker-Content-Digest of manifest REF, or
# "404" (or the status) when there is none.
http_digest() {
	req HEAD "/v2/$1/manifests/$2" -H "Accept: $ACCEPT_MANIFESTS"
	if [ "$STATUS" = 200 ]; then
		hdr Docker-Content-Digest
	else
		printf '%s' "$STATUS"
	fi
}

# blob_names DIR: the blob file names (alg/hex) of layout DIR, sorted.
blob_names() {
	(cd "$1/blobs" && find . -type f -printf '%P\n' | sort)
}

# ------------------------------------------------------ test clock and GC
# Decisions by age (gcDelay, retention, upload idle time) read the age
# clock, which DRAY_TEST_CLOCK_FILE (tests only) runs ahead of real time.
# A case that needs "older than gcDelay" next to "younger than gcDelay"
# sets a long gcDelay, so that nothing ages by real time while it runs,
# and moves the age clock instead of sleeping; a push made after
# clock_advance ages from then on. Every daemon and dray_cli started
# after test_clock_on reads the same file.

# test_clock_on: an age clock (at real time for now) for this case; call
# before starting the daemon.
test_clock_on() {
	export DRAY_TEST_CLOCK_FILE=$WORK/clock
	TEST_CLOCK_S=0
	: >"$DRAY_TEST_CLOCK_FILE"
}

# clock_advance SECONDS: from now on, the age clock runs SECONDS further
# ahead (a step "<now, ms> <total offset, s>" appended to the file, which
# is replaced whole). Returns once file times are past the step, so that
# whatever changes afterwards ages from the new offset.
clock_advance() {
	local since i
	TEST_CLOCK_S=$((TEST_CLOCK_S + $1))
	since=$(date +%s%3N)
	{
		cat "$DRAY_TEST_CLOCK_FILE"
		printf '%s %s\n' "$since" "$TEST_CLOCK_S"
	} >"$DRAY_TEST_CLOCK_FILE.new"
	mv -f "$DRAY_TEST_CLOCK_FILE.new" "$DRAY_TEST_CLOCK_FILE"
	# File times come from a coarser clock, a tick behind at most.
	for ((i = 0; i < 100; i++)); do
		[ "$(date +%s%3N)" -gt $((since + 50)) ] && return 0
		sleep 0.02
	done
	fail "clock_advance: the wall clock did not move"
}

# gc_passes: background GC passes completed so far (one log line each).
gc_passes() {
	grep -c 'gc: [0-9]* tags' "$DAEMON_LOG" || true
}

# gc_wait_passes N WHAT: wait (up to 120 s) until N more GC passes have
# completed. With N >= 2 a whole pass began after the call: it saw every
# change made before it, the age clock's included.
gc_wait_passes() {
	local want=$(($(gc_passes) + $1)) i
	for ((i = 0; i < 1200; i++)); do
		[ "$(gc_passes)" -ge "$want" ] && return 0
		daemon_alive || fail "$2: the daemon exited while waiting for GC"
		sleep 0.1
	done
	fail "$2: $1 more GC passes did not complete in 120 s (log shows $(gc_passes))"
}

# ------------------------------------------------------ resource limits

# proc_rss_kib PID: resident memory of PID in KiB.
proc_rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# proc_fds PID: how many file descriptors PID holds open.
proc_fds() {
	local fds=("/proc/$1/fd"/*)
	printf '%s' "${#fds[@]}"
}

# flood ARGS...: run tests/tools/flood against $PORT; its summary line
# ("requests=.. s2xx=.. s404=.. s429=.. other=.. errors=..") in FLOOD.
flood() {
	FLOOD=$("$DRAY_BUILD/flood" -p "$PORT" "$@") ||
		fail "flood $*: $FLOOD"
}

# flood_count KEY: the value of KEY in the last flood's summary.
flood_count() {
	printf '%s\n' "$FLOOD" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# stop_and_wait SECONDS: SIGTERM the daemon and wait for it to exit,
# at most SECONDS (a generous bound: the load of the machine varies); the
# time taken in STOP_MS. Fails if it is still running then, or exits
# with a status other than 0.
stop_and_wait() {
	local pid=$DRAY_PID rc=0 t0 i
	t0=$(date +%s%N)
	kill -TERM "$pid"
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "still running $1 s after SIGTERM"
	STOP_MS=$((($(date +%s%N) - t0) / 1000000))
	wait "$pid" || rc=$?
	DRAY_PID=
	ASSERTS=$((ASSERTS + 1))
	[ "$rc" -eq 0 ] || fail "exit status after SIGTERM is $rc, expected 0"
}

# need_rsync: rsync is a test dependency (contrib/install-deps.sh --test).
need_rsync() {
	command -v rsync >/dev/null ||
		fail "rsync is missing (contrib/install-deps.sh --test)"
}

# log_mark: how many lines the daemon log has now (for wait_log).
log_mark() {
	if [ -f "$DAEMON_LOG" ]; then
		wc -l <"$DAEMON_LOG"
	else
		echo 0
	fi
}

# wait_log MARK PATTERN WHAT: wait (up to 120 s) until a daemon log line
# after line MARK matches PATTERN (grep -E).
wait_log() {
	local i
	for ((i = 0; i < 1200; i++)); do
		tail -n +"$(($1 + 1))" "$DAEMON_LOG" 2>/dev/null | grep -qE "$2" && return 0
		daemon_alive || fail "$3: the daemon exited"
		sleep 0.1
	done
	fail "$3: no log line matching '$2' in 120 s"
}

# ------------------------------------------------------ mount tool cases
# (the mount-tool-*.sh cases: a real layout published through the mount
# by a real tool, then checked through the mount and over HTTP)

# skopeo_ok ARGS...: run skopeo (no credentials, bounded in time), its
# output logged; fail the case on error.
skopeo_ok() {
	[ -n "${REGISTRY_AUTH_FILE:-}" ] || {
		export REGISTRY_AUTH_FILE=$WORK/cfg/auth.json
		printf '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
	}
	printf '+ skopeo %s\n' "$*" >>"$WORK/logs/skopeo.log"
	timeout 120 skopeo --command-timeout 100s "$@" \
		2>>"$WORK/logs/skopeo.log" ||
		fail "skopeo $* failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
}

# mount_tool_check REPO SRC TAG [TAG...]: layout SRC was copied into
# $MNT/REPO by a tool. Through the mount: SRC's blobs, each hashing to
# its name and showing the stored file's inode; du of the repository
# equal to the storage's; df not zero. Over HTTP: every TAG has SRC's
# manifest digest and its blobs; skopeo inspects the first TAG and pulls
# it whole into an OCI directory, byte for byte SRC's.
mount_tool_check() {
	local repo=$1 src=$2 tag=$3 f h d size avail out=$WORK/tmp/pull.$RANDOM
	shift 2
	assert_eq "$(blob_names "$src")" "$(blob_names "$MNT/$repo")" \
		"$repo: blob files in the mount"
	for f in "$MNT/$repo"/blobs/sha256/*; do
		h=${f##*/}
		assert_eq "$h" "$(sha256sum <"$f" | cut -d' ' -f1)" \
			"$repo: blob $h read through the mount"
		assert_eq "$(inode_of "$WORK/data/$repo/blobs/sha256/$h")" \
			"$(inode_of "$f")" "$repo: inode of blob $h in the mount"
	done
	assert_eq "$(du -sk "$WORK/data/$repo" | cut -f1)" \
		"$(du -sk "$MNT/$repo" | cut -f1)" "$repo: du -sk, storage and mount"
	assert_eq "$(du -sb "$WORK/data/$repo" | cut -f1)" \
		"$(du -sb "$MNT/$repo" | cut -f1)" "$repo: du -sb, storage and mount"
	read -r size avail < <(df -k --output=size,avail "$MNT" | tail -n 1)
	assert_true "$repo: df of the mount shows no size ($size) or room ($avail)" \
		test "$size" -gt 0 -a "$avail" -gt 0
	for tag; do
		d=$(layout_manifest_digest "$src" "$tag")
		assert_eq "$d" "$(http_digest "$repo" "$tag")" "$repo:$tag over HTTP"
		pull_verify "$repo" "$tag"
	done
	tag=$1
	d=$(layout_manifest_digest "$src" "$tag")
	skopeo_ok inspect --tls-verify=false --raw \
		"docker://127.0.0.1:$PORT/$repo:$tag" >"$WORK/tmp/raw.json"
	assert_eq "$d" "$(digest_of "$WORK/tmp/raw.json")" \
		"$repo:$tag skopeo inspect --raw"
	skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
		"docker://127.0.0.1:$PORT/$repo:$tag" "oci:$out:$tag"
	assert_eq "$d" "$(layout_manifest_digest "$out" "$tag")" \
		"$repo:$tag pulled by skopeo"
	for f in "$out"/blobs/sha256/*; do
		assert_true "$repo:$tag: pulled blob ${f##*/} differs" \
			cmp -s "$f" "$src/blobs/sha256/${f##*/}"
	done
	rm -rf "$out"
}
