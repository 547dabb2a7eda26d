#!/bin/bash
# api-base.sh - end-1: GET /v2/ answers 200 with the API version header;
# the daemon starts from inline YAML on port 0, reports its port in the
# port file, and exits 0 on SIGTERM.
. "$(dirname "$0")/../lib.sh"

dray_start

# "If the response is 200 OK, then the registry implements this
# specification." (Determining Support, end-1)
req GET /v2/
assert_status 200
assert_header Docker-Distribution-API-Version registry/2.0
if [ -s "$RESP/body" ]; then
	assert_json 'type == "object"' "/v2/ body, when present, is a JSON object"
fi

req HEAD /v2/
assert_status 200
assert_header Docker-Distribution-API-Version registry/2.0
assert_body_empty

# Unknown API paths are not 200 (and the daemon survives them).
req GET /v2/_nonexistent/endpoint/here
assert_status 404 400 405
req GET /v3/
assert_status 404 400 405
assert_alive "after unknown paths"

# The daemon is stoppable and restartable on the same data directory;
# port 0 gives a fresh port each time.
first_port=$PORT
dray_stop
dray_start
req GET /v2/
assert_status 200
if is_dray; then
	assert_true "port file holds a port different from 0" [ "$PORT" -ne 0 ]
	note "ports: first $first_port, second $PORT"
fi
dray_stop

pass
