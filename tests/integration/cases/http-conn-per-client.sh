#!/bin/bash
# http-conn-per-client.sh - http.maxConnectionsPerClient: one client
# address holds at most that many connections; the ones past it are closed
# unanswered, while another client address (127.0.0.2, also loopback) is
# served as usual, and the first is served again once its connections go.
. "$(dirname "$0")/../lib.sh"
require_dray "http.maxConnectionsPerClient"

CAP=4
N=24
HTTP_EXTRA="  maxConnectionsPerClient: $CAP"
dray_start_cfg

# N connections from 127.0.0.1, all held open.
FDS=()
for ((i = 0; i < N; i++)); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	FDS+=("$fd")
done
# A request on each: the accepted ones answer, the refused ones were
# closed by the server (EOF or reset; the bound only stops a hang).
ok=0
for fd in "${FDS[@]}"; do
	line=$(
		trap '' PIPE
		printf 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' 2>/dev/null 1>&"$fd"
		read -r -t 60 -u "$fd" l 2>/dev/null && printf '%s' "$l"
	) || true
	case $line in
	"HTTP/1.1 200"*) ok=$((ok + 1)) ;;
	"") ;;
	*) fail "unexpected answer on a held connection: $line" ;;
	esac
done
note "$ok of $N connections from 127.0.0.1 answered, maxConnectionsPerClient $CAP"
assert_true "at most $CAP of $N connections from one address answered ($ok)" \
	test "$ok" -le "$CAP"
assert_true "some connection from 127.0.0.1 was answered" test "$ok" -ge 1

# The cap is per client address: 127.0.0.2 is served meanwhile.
req GET /v2/ --interface 127.0.0.2
assert_status 200
assert_alive "with one client at its connection cap"

# Once they are gone, 127.0.0.1 is served again.
served_again "${FDS[@]}"
dray_stop
pass
