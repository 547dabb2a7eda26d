# SPDX-License-Identifier: Apache-2.0
# lib/http.sh - the curl wrapper: every response's status, headers and body in files.
# Sourced by lib.sh; not run on its own.

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
	case $target in # abs_url, without a subshell
	http://* | https://*) url=$target ;;
	/*) url=$URL$target ;;
	*) url=$URL/$target ;;
	esac
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
	# In bash alone: called for most responses, where a pipeline of
	# processes costs more than the request itself on a loaded machine.
	local want=${1,,} line k v val= found=0 ws=$' \t'
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line//$'\r'/}
		case $line in
		HTTP/*)
			found=0 val=
			continue
			;;
		*:*) ;;
		*) continue ;;
		esac
		k=${line%%:*}
		[ "${k,,}" = "$want" ] || continue
		v=${line#*:}
		v=${v#"${v%%[!$ws]*}"}
		v=${v%"${v##*[!$ws]}"}
		if ((found)); then
			val="$val, $v"
		else
			val=$v
			found=1
		fi
	done <"$RESP/headers"
	((found)) || return 1
	printf '%s\n' "$val"
}

body() {
	cat "$RESP/body"
}

# jq over the last body.
bjq() {
	jq "$@" <"$RESP/body"
}


# tags_of REPO: its tags over HTTP, sorted and space-separated, or
# NONE:<status> when the tag list is not 200.
tags_of() {
	req GET "/v2/$1/tags/list"
	if [ "$STATUS" = 200 ]; then
		bjq -r '.tags // [] | sort | join(" ")'
	else
		echo "NONE:$STATUS"
	fi
}

# served_again [FD...]: close the FDs (connections held open), then GET
# /v2/ until it is answered 200 (the server sees the closes a moment
# later; at most 50 tries), and assert that it was.
served_again() {
	local i fd
	for fd in "$@"; do
		exec {fd}>&-
	done
	for ((i = 0; i < 50; i++)); do
		REQ_TIMEOUT=5 req GET /v2/
		[ "$STATUS" != 200 ] || break
		sleep 0.2
	done
	assert_status 200
}

# req_each METHOD OUT [curl args...] <TARGETS: many requests from one curl
# process (one connection), for checks over hundreds of targets where a
# process per request costs more than the request: for each target line
# ("/v2/..." or an absolute URL), in order, a line "STATUS|DIGEST|LENGTH"
# in OUT: the status (000 on a transport failure), Docker-Content-Digest
# and Content-Length ("" when absent). Warning headers are checked as
# check_warnings does. The caller asserts on the lines.
req_each() {
	local method=$1 out=$2 t n=0 st dg len w cfg=$WORK/tmp/req_each.cfg
	shift 2
	local args=(-s --path-as-is --max-time "${REQ_TIMEOUT:-120}" -H "Expect:")
	if [ "$method" = HEAD ]; then
		args+=(-I)
	else
		args+=(-X "$method")
	fi
	while IFS= read -r t; do
		case $t in
		*\"* | *\\*) fail "req_each: quote or backslash in '$t'" ;;
		/*) t=$URL$t ;;
		esac
		printf 'url = "%s"\noutput = "/dev/null"\n' "$t"
		n=$((n + 1))
	done >"$cfg"
	printf 'curl %s -K %q # %d requests\n' "$(printf '%q ' "${args[@]}" "$@")" \
		"$cfg" "$n" >>"$WORK/requests.log"
	curl "${args[@]}" "$@" -K "$cfg" \
		-w '%{http_code}|%header{docker-content-digest}|%header{content-length}|%header{warning}\n' \
		>"$out.raw" 2>"$RESP/curl.err" || true
	[ "$(wc -l <"$out.raw")" -eq "$n" ] ||
		fail "req_each: $n requests, $(wc -l <"$out.raw") answers"
	while IFS='|' read -r st dg len w; do
		w=${w//$'\r'/}
		if [ -n "$w" ]; then
			[ "${#w}" -le 4096 ] || fail "Warning header over 4096 bytes"
			[[ "$w" =~ ^299\ -\ \"([^\"\\]|\\.)*\"(,\ 299\ -\ \"([^\"\\]|\\.)*\")*$ ]] ||
				fail "Warning header malformed: $w"
		fi
		printf '%s|%s|%s\n' "$st" "${dg//$'\r'/}" "${len//$'\r'/}"
	done <"$out.raw" >"$out"
}

# assert_manifests_each FILE WHAT [curl args...]: FILE holds lines "REPO
# REF DIGEST"; a HEAD of each manifest REPO:REF (all from one curl,
# req_each) is answered 200 with Docker-Content-Digest DIGEST.
assert_manifests_each() {
	local file=$1 what=$2 repo ref d st dg _
	shift 2
	req_each HEAD "$WORK/tmp/manifests_each" "$@" < <(
		while read -r repo ref d; do
			printf '/v2/%s/manifests/%s\n' "$repo" "$ref"
		done <"$file"
	)
	while read -r repo ref d && IFS='|' read -r st dg _ <&5; do
		assert_eq 200 "$st" "$what: HEAD $repo:$ref"
		assert_eq "$d" "$dg" "$what: Docker-Content-Digest of $repo:$ref"
	done <"$file" 5<"$WORK/tmp/manifests_each"
}
