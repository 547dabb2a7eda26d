#!/bin/bash
# auth-ldap-tls.sh - http.auth.ldap over TLS, against a slapd with a
# certificate from the case's own CA: StartTLS (insecure + startTLS)
# verified with caCert, and LDAPS (zot's default without insecure) with
# skipVerify; LDAPS with neither a trusted CA nor skipVerify is refused
# (401), so an unverified server is never taken for the directory.
. "$(dirname "$0")/../lib.sh"
require_dray "http.auth.ldap"
need_slapd

CREDS=$WORK/cfg/ldap-credentials.json
tls_ca ca "dray test CA"
tls_cert ldap 127.0.0.1 ca 1001 server
ldap_tls ldap
ldap_start
ldap_base
ldap_searcher searcher pw-searcher
ldap_credentials "$CREDS" "$LDAP_DN" pw-searcher
ldap_user alice pw-alice
ldap_commit

# ldap_config PORT KEY-LINES: dray's config with http.auth.ldap on PORT.
ldap_config() {
	HTTP_EXTRA="  auth:
    ldap:
      credentialsFile: $CREDS
      address: 127.0.0.1
      port: $1
      baseDN: ou=people,$LDAP_SUFFIX
      userAttribute: uid
$2"
	dray_config_ext "$CFG"
}

# --- StartTLS, the server verified against caCert
ldap_config "$LDAP_PORT" "      insecure: true
      startTLS: true
      caCert: $WORK/tls/ca.crt"
dray_start
req GET /v2/ -u alice:pw-alice
assert_status 200
req GET /v2/ -u alice:wrong
assert_error 401 UNAUTHORIZED
dray_stop

# --- LDAPS with skipVerify: no CA needed
ldap_config "$LDAPS_PORT" "      skipVerify: true"
dray_start
req GET /v2/ -u alice:pw-alice
assert_status 200
dray_stop

# --- LDAPS, the server's certificate from a CA nobody trusts: refused
ldap_config "$LDAPS_PORT" ""
dray_start
req GET /v2/ -u alice:pw-alice
assert_error 401 UNAUTHORIZED
assert_true "the refused server was not logged" grep -q "LDAP.*refused" "$DAEMON_LOG"
dray_stop
ldap_stop
pass
