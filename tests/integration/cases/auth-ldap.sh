#!/bin/bash
# auth-ldap.sh - http.auth.ldap (zot's keys) against a real slapd, with
# htpasswd beside it, and group policies fed by the users' memberOf:
#   "**"  group cn=pushers (alice, and a user whose uid is we(i)rd*\name)
#         everything; group cn=readers (bob, dave) read; carol (htpasswd)
#         read. accessControl.groups defines none of these groups: with
#         LDAP on, a policy may name groups only the directory knows.
# Checks: a missing or malformed credentials file stops `dray verify` and
# startup; skopeo and curl push as alice and pull as bob, bob's push is
# 403; wrong and empty passwords are 401; user names that would widen an
# unescaped filter (al*, *)(uid=alice) are 401, while the uid with *, (,
# ) and \ logs in as itself; htpasswd is tried first, then LDAP; a pull's
# many requests are verified once (they keep working with slapd stopped,
# from the cache), while credentials not yet verified are refused with
# slapd stopped, and with slapd frozen (connects, never answers) once
# dray's LDAP timeout ends the wait, and accepted once slapd is back (and
# dray's pause after a failed check is over).
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.ldap"
need_slapd
need_htpasswd
need_mkimage

USERS=$WORK/cfg/htpasswd
CREDS=$WORK/cfg/ldap-credentials.json
PUSHERS=cn=pushers,ou=groups,$LDAP_SUFFIX
READERS=cn=readers,ou=groups,$LDAP_SUFFIX
WEIRD='we(i)rd*\name'

ldap_start
ldap_base
ldap_searcher searcher pw-searcher
SEARCHER=$LDAP_DN
ldap_user alice pw-alice
ALICE=$LDAP_DN
ldap_user "$WEIRD" pw-weird
WEIRD_DN=$LDAP_DN
ldap_user bob pw-bob
BOB=$LDAP_DN
ldap_user dave pw-dave
DAVE=$LDAP_DN
ldap_user eve pw-eve
EVE=$LDAP_DN
ldap_group pushers "$ALICE" "$WEIRD_DN"
ldap_group readers "$BOB" "$DAVE" "$EVE"
ldap_commit
htpasswd_users "$USERS" carol:pw-carol

HTTP_EXTRA="  auth:
    htpasswd:
      path: $USERS
    ldap:
      credentialsFile: $CREDS
      address: 127.0.0.1
      port: $LDAP_PORT
      insecure: true
      startTLS: false
      baseDN: ou=people,$LDAP_SUFFIX
      userAttribute: uid
      userGroupAttribute: memberOf
      userFilter: \"(objectClass=inetOrgPerson)\"
      subtreeSearch: true
      skipVerify: false
  accessControl:
    repositories:
      \"**\":
        policies:
          - {groups: [\"$PUSHERS\"], actions: [read, create, update, delete]}
          - {groups: [\"$READERS\"], actions: [read]}
          - {users: [carol], actions: [read]}"
dray_config_ext "$CFG"

# --- a credentials file that is missing or not zot's stops everything
dray_cli verify "$CFG"
assert_cli_rc 2 "verify with no credentials file"
assert_true "verify did not name the file: $CLI_OUT" grep -q "credentialsFile: cannot read '$CREDS'" <<<"$CLI_OUT"
printf '{"bindDN": "%s", "password": "pw-searcher"}\n' "$SEARCHER" >"$CREDS"
dray_cli verify "$CFG"
assert_cli_rc 2 "verify with no bindPassword"
assert_true "verify did not say why: $CLI_OUT" grep -q "expected a JSON object with strings bindDN and bindPassword" <<<"$CLI_OUT"
assert_true "verify printed the password: $CLI_OUT" bash -c "! grep -q pw-searcher <<<\"\$1\"" _ "$CLI_OUT"
rc=0
timeout 60 "$DRAY_BIN" serve "$CFG" >"$WORK/tmp/serve.out" 2>&1 || rc=$?
assert_ne 0 "$rc" "dray served with a broken credentials file"
assert_true "serve did not say why: $(tail -n 3 "$WORK/tmp/serve.out" "$DAEMON_LOG" 2>/dev/null)" \
	grep -qs "bindDN and bindPassword" "$WORK/tmp/serve.out" "$DAEMON_LOG"
ldap_credentials "$CREDS" "$SEARCHER" pw-searcher

dray_start
H=127.0.0.1:$PORT
IMG=$WORK/tmp/img
D1=$("$MKIMAGE" "$IMG" v1 --layers 2 --layer-size 30000 --seed 17)

# --- who gets in
req GET /v2/ -u alice:pw-alice
assert_status 200
req GET /v2/ -u alice:wrong
assert_error 401 UNAUTHORIZED
assert_header WWW-Authenticate 'Basic realm="dray"'
# LDAP takes a simple bind without a password as anonymous: never a login.
req GET /v2/ -u alice:
assert_error 401 UNAUTHORIZED
req GET /v2/ -u nobody:pw-alice
assert_error 401 UNAUTHORIZED
# Unescaped, these filters would find alice, whose password they carry.
for u in 'al*' '*)(uid=alice' '*'; do
	req GET /v2/ -u "$u:pw-alice"
	assert_error 401 UNAUTHORIZED
done
req GET /v2/ -u "$WEIRD:pw-weird"
assert_status 200
req GET /v2/ -u carol:pw-carol
assert_status 200
assert_true "a password reached the log" bash -c "! grep -q 'pw-alice\|pw-searcher\|pw-carol' '$DAEMON_LOG'"

# --- group policies from memberOf: pushers push, readers read
as_user alice:pw-alice
push_layout team/app v1 "$IMG"
as_anonymous
req POST /v2/team/bob/blobs/uploads/ -u bob:pw-bob
assert_error 403 DENIED
req POST /v2/team/carol/blobs/uploads/ -u carol:pw-carol
assert_error 403 DENIED
req GET /v2/team/app/manifests/v1 -u bob:pw-bob -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req GET /v2/team/app/manifests/v1 -u carol:pw-carol -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
req POST /v2/team/weird/blobs/uploads/ -u "$WEIRD:pw-weird"
assert_status 202

skopeo_ok copy --quiet --preserve-digests --dest-tls-verify=false \
	--dest-creds alice:pw-alice "oci:$IMG:v1" "docker://$H/team/sk:v1"
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	--src-creds bob:pw-bob "docker://$H/team/sk:v1" "oci:$WORK/tmp/bob:v1"
assert_eq "$D1" "$(layout_manifest_digest "$WORK/tmp/bob" v1)" "bob's pull"
skopeo_refused "skopeo pushed as bob, a reader" "denied\|unauthorized\|forbidden" \
	copy --quiet --dest-tls-verify=false --dest-creds bob:pw-bob \
	"oci:$IMG:v1" "docker://$H/team/bobs:v1"

# --- slapd stopped: verified credentials stay valid (the cache, so a
# pull does not bind per request); new ones are refused, not let in
ldap_stop
req GET /v2/team/sk/tags/list -u bob:pw-bob
assert_status 200
skopeo_ok copy --quiet --preserve-digests --src-tls-verify=false \
	--src-creds bob:pw-bob "docker://$H/team/sk:v1" "oci:$WORK/tmp/bob2:v1"
req GET /v2/team/sk/tags/list -u dave:pw-dave
assert_error 401 UNAUTHORIZED
req GET /v2/team/sk/tags/list -u bob:wrong
assert_error 401 UNAUTHORIZED
assert_true "the unreachable server was not logged" grep -q "LDAP.*Can't contact LDAP server" "$DAEMON_LOG"
assert_alive "after LDAP went away"

# wait_login USER:PASSWORD: after a failure dray does not ask LDAP again
# for a moment; wait (up to 60 s) until these credentials get in.
wait_login() {
	local i
	for ((i = 0; i < 300; i++)); do
		req GET /v2/ -u "$1"
		[ "$STATUS" != 200 ] || return 0
		sleep 0.2
	done
	fail "${1%%:*} could not log in within 60 s of slapd's return"
}

# --- slapd back: dave gets in
ldap_start
wait_login dave:pw-dave
req GET /v2/team/sk/tags/list -u dave:pw-dave
assert_status 200
assert_eq '["v1"]' "$(jq -c .tags "$RESP/body")" "dave's tags"

# --- slapd frozen: it accepts connections and never answers; dray's
# LDAP timeout ends the wait with a refusal (curl's own limit is 120 s)
kill -STOP "$LDAP_PID"
req GET /v2/ -u eve:pw-eve
kill -CONT "$LDAP_PID"
assert_error 401 UNAUTHORIZED
assert_true "the timeout was not logged" grep -q "LDAP.*Timed out" "$DAEMON_LOG"
wait_login eve:pw-eve
dray_stop
ldap_stop
pass
