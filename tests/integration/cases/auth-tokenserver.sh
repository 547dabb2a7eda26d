#!/bin/bash
# auth-tokenserver.sh - the bearer tests' own token server
# (tests/tools/tokenserver): the tokens it signs, RS256 with a certificate
# and ES256, verify with dray's verifier (daemon/jwt.c, through
# tests/tools/jwtcheck) and grant exactly the asked scopes its rules
# allow; wrong credentials get 401 with a Basic challenge, another service
# 400; a token for another service, or one already expired, is refused.
# No dray daemon: its request path does not check tokens yet.
. "$(dirname "$0")/../lib.sh"
require_dray "dray's token verifier"

SVC=dray.test
token_keypair rs rsa
token_keypair ec ec
CRT=$WORK/cfg/rs.crt

tokenserver_start rs "$SVC" --user alice:s3cret --user bob:hunter2 \
	--allow 'alice:library/*:pull,push' --allow 'bob:library/alpine:pull' \
	--allow '*:public/**:pull'

# alice: pull and push under library/, pull on public/, nothing else.
token_get "$SVC" -u alice:s3cret -- repository:library/alpine:pull,push,delete \
	repository:public/x:pull repository:secret:pull
assert_status 200
assert_json '.token == .access_token and .expires_in == 300 and
	(.issued_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))' "token answer"
token_check "$CRT" "$SVC" library/alpine public/x secret ||
	fail "alice's token: $TOKEN_CHECK"
assert_eq $'sub=alice\nlibrary/alpine=read,create,update\npublic/x=read\nsecret=none' \
	"$TOKEN_CHECK" "what alice's token grants"

# bob: only pull on library/alpine, though he asks for more.
token_get "$SVC" -u bob:hunter2 -- repository:library/alpine:pull,push \
	repository:library/busybox:pull
assert_status 200
token_check "$CRT" "$SVC" library/alpine library/busybox ||
	fail "bob's token: $TOKEN_CHECK"
assert_eq $'sub=bob\nlibrary/alpine=read\nlibrary/busybox=none' \
	"$TOKEN_CHECK" "what bob's token grants"

# Anonymous: what '*' allows; a scope naming a/../b gets nothing.
token_get "$SVC" -- repository:public/a/b:pull,push repository:a/../b:pull
assert_status 200
assert_json '(.token | split(".") | length) == 3' "anonymous token"
token_check "$CRT" "$SVC" public/a/b || fail "anonymous: $TOKEN_CHECK"
assert_eq $'sub=\npublic/a/b=read' "$TOKEN_CHECK" "anonymous grants"
assert_eq 0 "$(printf '%s' "$TOKEN" | cut -d. -f2 | tr _- /+ |
	base64 -d 2>/dev/null | grep -c '\.\.' || true)" "no a/../b in the claims"

# Refusals: wrong password, unknown user, another service.
token_get "$SVC" -u alice:wrong -- repository:library/alpine:pull
assert_status 401
assert_eq 'Basic realm="tokenserver"' "$(hdr WWW-Authenticate)" "challenge"
token_get "$SVC" -u mallory:s3cret -- repository:library/alpine:pull
assert_status 401
token_get other.service -u alice:s3cret -- repository:library/alpine:pull
assert_status 400

# dray refuses a valid token of this server for another service...
token_get "$SVC" -u alice:s3cret -- repository:library/alpine:pull
assert_status 200
if token_check "$CRT" another.service library/alpine; then
	fail "token accepted for another service: $TOKEN_CHECK"
fi
assert_true "refused as denied: $TOKEN_CHECK" \
	grep -q 'for another service (denied)' <<<"$TOKEN_CHECK"
# ... and one verified with another key.
if token_check "$WORK/cfg/ec.crt" "$SVC" library/alpine; then
	fail "token accepted under another key: $TOKEN_CHECK"
fi
tokenserver_stop

# ES256, with tokens already expired: the clock is skewed back an hour.
tokenserver_start ec "$SVC" --user alice:s3cret \
	--allow 'alice:library/*:pull' --skew -3600
token_get "$SVC" -u alice:s3cret -- repository:library/alpine:pull
assert_status 200
assert_eq ES256 "$(printf '%s' "$TOKEN" | cut -d. -f1 | tr _- /+ |
	{ base64 -d 2>/dev/null || true; } | jq -r .alg)" "alg of the EC server"
if token_check "$WORK/cfg/ec.crt" "$SVC" library/alpine; then
	fail "expired token accepted: $TOKEN_CHECK"
fi
assert_true "refused as expired: $TOKEN_CHECK" \
	grep -q 'token expired' <<<"$TOKEN_CHECK"
tokenserver_stop

# ES256 in time: accepted.
tokenserver_start ec "$SVC" --user alice:s3cret --allow 'alice:library/*:pull'
token_get "$SVC" -u alice:s3cret -- repository:library/alpine:pull
token_check "$WORK/cfg/ec.crt" "$SVC" library/alpine ||
	fail "ES256 token: $TOKEN_CHECK"
assert_eq $'sub=alice\nlibrary/alpine=read' "$TOKEN_CHECK" "ES256 grants"
tokenserver_stop

pass
