# SPDX-License-Identifier: Apache-2.0
# lib/token.sh - the bearer tests' token server (tests/tools/tokenserver.c):
# keys and certificates made with openssl, the server started on port 0
# and stopped by PID, tokens fetched with curl.
# Sourced by lib.sh; not run on its own.

TOKENSERVER=$DRAY_BUILD/tokenserver
JWTCHECK=$DRAY_BUILD/jwtcheck
TOKEN_PID=
TOKEN_URL=
TOKEN=
TOKEN_CHECK=

# token_keypair NAME rsa|ec: $WORK/cfg/NAME.key (private key) and
# NAME.crt (a self-signed certificate of it, what dray is configured with).
token_keypair() {
	local name=$1 kind=$2 key=$WORK/cfg/$1.key
	case $kind in
	rsa) openssl genrsa -out "$key" 2048 2>/dev/null ;;
	ec) openssl ecparam -name prime256v1 -genkey -noout -out "$key" ;;
	*) fail "token_keypair: kind '$kind' is neither rsa nor ec" ;;
	esac
	openssl req -x509 -new -key "$key" -subj "/CN=$name" -days 1 \
		-out "$WORK/cfg/$name.crt" 2>/dev/null
}

# tokenserver_start KEYNAME SERVICE [tokenserver args...]: start it with
# the private key of KEYNAME; sets TOKEN_PID and TOKEN_URL (the realm).
tokenserver_start() {
	local key=$WORK/cfg/$1.key service=$2 pf=$WORK/cfg/token.port p
	shift 2
	[ -x "$TOKENSERVER" ] || fail "no token server at $TOKENSERVER"
	[ -z "$TOKEN_PID" ] || fail "tokenserver_start: one is running"
	rm -f "$pf"
	"$TOKENSERVER" --key "$key" --service "$service" --port-file "$pf" \
		"$@" 2>>"$WORK/logs/tokenserver.log" &
	TOKEN_PID=$!
	BG_PIDS+=("$TOKEN_PID")
	p=$(wait_port_file "$pf" "$TOKEN_PID" "token server")
	TOKEN_URL=http://127.0.0.1:$p/token
}

tokenserver_stop() {
	[ -n "$TOKEN_PID" ] || fail "tokenserver_stop: none running"
	stop_pid "$TOKEN_PID"
	TOKEN_PID=
}

# token_get SERVICE [curl args...] [-- SCOPE...]: GET the realm; status
# in $STATUS, the answer in $RESP/body, the token in $TOKEN.
token_get() {
	local service=$1 url scope
	shift
	local args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	url=$(with_query "$TOKEN_URL" "service=$service")
	for scope in "$@"; do
		url=$(with_query "$url" "scope=$scope")
	done
	req GET "$url" "${args[@]}"
	TOKEN=
	if [ "$STATUS" = 200 ]; then
		TOKEN=$(bjq -r .token)
	fi
}

# token_check CERT SERVICE REPO...: jwtcheck's verdict on $TOKEN, in
# $TOKEN_CHECK (its stdout and stderr); returns its status.
token_check() {
	local rc=0
	TOKEN_CHECK=$(printf '%s\n' "$TOKEN" | "$JWTCHECK" "$@" 2>&1) || rc=$?
	return "$rc"
}
