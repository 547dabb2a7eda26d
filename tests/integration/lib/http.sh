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
