#!/bin/bash
# tls-mtls.sh - http.tls.cacert: mutual TLS. A client without a
# certificate, with one from another CA (even with the same CommonName),
# or with the CA's certificate for servers only, gets no answer; a certificate from the CA gets in and its CommonName is
# the request's identity. curl pushes and pulls; skopeo copies up and down
# with ca.crt, client.cert and client.key in its cert dir, and is refused
# with only ca.crt there; so is podman (pull, then push under a new name),
# its storage in the work dir. SIGHUP re-reads the CA file. The
# CommonName is the user accessControl sees: carol, another client of the
# CA, may read but not push. With http.auth.mtls.identityAttributes
# [Subject, CommonName] the user is the Subject ("CN=alice") instead.
. "$(dirname "$0")/../lib.sh"
require_dray
need_mkimage

T=$WORK/tls
tls_ca ca test-ca
tls_ca other other-ca
tls_cert srv 127.0.0.1 ca 0x1001 server
tls_cert alice alice ca 0x2001 client
tls_cert mallory alice other 0x3001 client
tls_cert bob bob ca 0x2002 server # the CA's, but for servers only
tls_cert carol carol ca 0x2003 client
cp "$T/ca.crt" "$T/clients.crt" # the client CA, replaced later
tls_config "$T/srv.crt" "$T/srv.key" "$T/clients.crt"
# The certificate's CommonName is the user accessControl sees.
cat >"$WORK/cfg/ac.yaml" <<'EOF'
  accessControl:
    repositories:
      "**":
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
        defaultPolicy: [read]
EOF
sed -i "/^  port: 0\$/r $WORK/cfg/ac.yaml" "$CFG"
dray_start
tls_curlrc

# --- refusals: no certificate, another CA's
req GET /v2/
assert_eq 000 "$STATUS" "no client certificate"
req GET /v2/ --cert "$T/mallory.crt" --key "$T/mallory.key"
assert_eq 000 "$STATUS" "a client certificate from another CA"
req GET /v2/ --cert "$T/bob.crt" --key "$T/bob.key"
assert_eq 000 "$STATUS" "a certificate of the CA without clientAuth usage"
assert_refused "a log line naming the other CA's client" \
	grep -q "tls client 'alice'" "$DAEMON_LOG"
assert_refused "a request served without a verified client" \
	grep -q " GET /v2/ 200 " "$DAEMON_LOG"

# --- the CA's client gets in, as alice
tls_curlrc "cert = \"$T/alice.crt\"" "key = \"$T/alice.key\""
mark=$(log_mark)
req GET /v2/
assert_status 200
wait_log "$mark" "req=[0-9]+ tls client 'alice'" "the client's identity"
push_image mtls/app v1 2 5000
req GET "/v2/mtls/app/blobs/${IMG_LAYERS[0]}"
assert_status 200
assert_body_file "$IMG_DIR/layer0"

# --- carol, another client of the CA: read only, by accessControl
req GET "/v2/mtls/app/blobs/${IMG_LAYERS[0]}" --cert "$T/carol.crt" --key "$T/carol.key"
assert_status 200
req POST /v2/mtls/carol/blobs/uploads/ --cert "$T/carol.crt" --key "$T/carol.key"
assert_error 403 DENIED

# --- skopeo: client.cert/client.key beside ca.crt
mkdir -p "$WORK/certs" "$WORK/ca-only"
cp "$T/ca.crt" "$WORK/certs/ca.crt"
cp "$T/ca.crt" "$WORK/ca-only/ca.crt"
cp "$T/alice.crt" "$WORK/certs/client.cert"
cp "$T/alice.key" "$WORK/certs/client.key"
tls_skopeo_round_trip "$WORK/certs" mtls/sk 41 "$WORK/ca-only"

# --- podman, the same cert dirs
podman_init
H=127.0.0.1:$PORT
pm pull --cert-dir "$WORK/certs" "$H/mtls/sk:v1"
pm push --cert-dir "$WORK/certs" "$H/mtls/sk:v1" "$H/mtls/pm:v2"
req GET /v2/mtls/pm/manifests/v2 -H "Accept: $ACCEPT_MANIFESTS"
assert_status 200
assert_eq "$(jq -r .config.digest "$SRC/blobs/sha256/${D1#sha256:}")" \
	"$(bjq -r .config.digest)" "config of the image podman pushed"
assert_refused "podman without a client certificate" timeout 900 \
	"${PM[@]}" pull --cert-dir "$WORK/ca-only" "$H/mtls/pm:v2" \
	>>"$WORK/logs/podman.log" 2>&1

# --- SIGHUP re-reads the client CA too: now only the other CA's client
cp "$T/other.crt" "$T/clients.new"
mv "$T/clients.new" "$T/clients.crt"
mark=$(log_mark)
kill -HUP "$DRAY_PID"
wait_log "$mark" 'certificate reloaded' "reload on SIGHUP"
req GET /v2/
assert_eq 000 "$STATUS" "the first CA's client after the CA changed"
mark=$(log_mark)
req GET /v2/ --cert "$T/mallory.crt" --key "$T/mallory.key"
assert_status 200
wait_log "$mark" "req=[0-9]+ tls client 'alice'" "the other CA's client, now trusted"

# --- http.auth.mtls.identityAttributes: the Subject comes first now, so
# the user is "CN=alice", whom the policy naming alice does not cover
dray_stop
cp "$T/ca.crt" "$T/clients.crt"
printf '  auth:\n    mtls:\n      identityAttributes: [Subject, CommonName]\n' \
	>"$WORK/cfg/mtls.yaml"
sed -i "/^  port: 0\$/r $WORK/cfg/mtls.yaml" "$CFG"
dray_start
tls_curlrc "cert = \"$T/alice.crt\"" "key = \"$T/alice.key\""
mark=$(log_mark)
req GET "/v2/mtls/app/blobs/${IMG_LAYERS[0]}"
assert_status 200
wait_log "$mark" "req=[0-9]+ tls client 'CN=alice'" "the Subject as the identity"
req POST /v2/mtls/subject/blobs/uploads/
assert_error 403 DENIED

dray_stop
pass
