#!/bin/bash
# tls-https.sh - http.tls.cert/key: HTTPS only. A config whose key does not
# match its certificate, or whose key is missing, is refused by `dray
# verify` and by startup. Served: curl pushes and pulls with --cacert;
# plain HTTP to the port gets no HTTP back; TLS 1.2 and 1.3 with AEAD
# suites only; skopeo copies up and down trusting the CA from a
# --dest-cert-dir / --src-cert-dir. SIGHUP swaps the certificate: a
# connection opened before it goes on serving, a new handshake shows the
# new serial; a bad certificate on SIGHUP keeps the current one.
. "$(dirname "$0")/../lib.sh"
require_dray
need_mkimage

T=$WORK/tls
tls_ca ca test-ca
tls_ca other other-ca
tls_cert srv1 127.0.0.1 ca 0x1001 server
tls_cert srv2 127.0.0.1 ca 0x1002 server

# --- refusals before serving
tls_config "$T/srv1.crt" "$T/srv2.key"
rc=0
"$DRAY_BIN" verify "$CFG" >/dev/null 2>"$WORK/tmp/verify.err" || rc=$?
assert_eq 2 "$rc" "dray verify exit status, key of another certificate"
assert_true "verify says the key does not match" \
	grep -q "does not match certificate" "$WORK/tmp/verify.err"
rc=0
"$DRAY_BIN" serve "$CFG" --port-file "$PORTFILE" >/dev/null 2>&1 || rc=$?
assert_ne 0 "$rc" "serve exit status, key of another certificate"
assert_true "startup log says the key does not match" \
	grep -q "does not match certificate" "$DAEMON_LOG"
assert_true "no port file: nothing was served" test ! -e "$PORTFILE"
tls_config "$T/srv1.crt" "$T/missing.key"
rc=0
"$DRAY_BIN" verify "$CFG" >/dev/null 2>"$WORK/tmp/verify.err" || rc=$?
assert_eq 2 "$rc" "dray verify exit status, missing key file"
assert_true "verify names http.tls.key" grep -q "http.tls.key" "$WORK/tmp/verify.err"

# --- HTTPS (blobs over 16 KiB go out in 64 KiB pieces, Range too); the
# files the daemon reads are replaced by rename later
cp "$T/srv1.crt" "$T/live.crt"
cp "$T/srv1.key" "$T/live.key"
tls_config "$T/live.crt" "$T/live.key"
"$DRAY_BIN" verify "$CFG" >/dev/null
dray_start
tls_curlrc
req GET /v2/
assert_status 200
push_image tls/app v1 2 70000
req GET "/v2/tls/app/blobs/${IMG_LAYERS[1]}"
assert_status 200
assert_body_file "$IMG_DIR/layer1"
req GET "/v2/tls/app/blobs/${IMG_LAYERS[1]}" -H 'Range: bytes=1000-68999'
assert_status 206
slice "$IMG_DIR/layer1" 1000 68000 >"$WORK/tmp/range"
assert_body_file "$WORK/tmp/range"
req GET /v2/tls/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200
assert_body_file "$IMG_DIR/manifest.json"

# --- no clear text on the TLS port
req GET "http://127.0.0.1:$PORT/v2/"
assert_eq 000 "$STATUS" "plain HTTP request to the TLS port"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&4
timeout 30 cat <&4 >"$WORK/tmp/plain.out" || true
exec 4<&-
assert_refused "an HTTP answer in clear text" grep -qa 'HTTP/' "$WORK/tmp/plain.out"

# --- protocols and suites
assert_true "TLS 1.3" tls_handshake_ok -tls1_3
assert_true "TLS 1.2 with ECDHE and AES-GCM" tls_handshake_ok -tls1_2 \
	-cipher ECDHE-ECDSA-AES128-GCM-SHA256
assert_refused "TLS 1.1" tls_handshake_ok -tls1_1 \
	-cipher 'DEFAULT:@SECLEVEL=0'
assert_refused "TLS 1.2 with a CBC suite" tls_handshake_ok -tls1_2 \
	-cipher ECDHE-ECDSA-AES128-SHA
assert_eq 1001 "$(tls_serial)" "serial before the reload"

# --- skopeo verifies the server against a cert dir holding the CA
mkdir -p "$WORK/certs"
cp "$T/ca.crt" "$WORK/certs/ca.crt"
tls_skopeo_round_trip "$WORK/certs" tls/sk 31 "$WORK/tmp"

# --- SIGHUP: a connection opened before the reload goes on
mkfifo "$WORK/tmp/in"
exec 3<>"$WORK/tmp/in"
# (not bg: an asynchronous command's stdin would be /dev/null)
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.crt" \
	-ign_eof <"$WORK/tmp/in" >"$WORK/tmp/old.out" 2>"$WORK/tmp/old.err" &
BG_PIDS+=($!)
printf 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
tls_wait_count "$WORK/tmp/old.out" 'HTTP/1.1 200' 1 "first answer on the old connection"
assert_eq serial=1001 "$(openssl x509 -noout -serial <"$WORK/tmp/old.out")" \
	"the old connection's certificate"
cp "$T/srv2.crt" "$T/new.crt"
cp "$T/srv2.key" "$T/new.key"
mv "$T/new.key" "$T/live.key"
mv "$T/new.crt" "$T/live.crt"
mark=$(log_mark)
kill -HUP "$DRAY_PID"
wait_log "$mark" 'certificate reloaded: serial 1002' "reload on SIGHUP"
assert_eq 1002 "$(tls_serial)" "serial of a new handshake after the reload"
printf 'GET /v2/_catalog HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
tls_wait_count "$WORK/tmp/old.out" 'HTTP/1.1 200' 2 "answer on the old connection after the reload"
assert_true "the old connection got the catalog" grep -q '"tls/app"' "$WORK/tmp/old.out"
kill "${BG_PIDS[-1]}"
exec 3>&-
req GET "/v2/tls/app/blobs/${IMG_LAYERS[0]}"
assert_status 200
assert_body_file "$IMG_DIR/layer0"

# --- a bad certificate on SIGHUP: the current one stays
cp "$T/srv1.crt" "$T/new.crt"
mv "$T/new.crt" "$T/live.crt" # srv1's certificate with srv2's key
mark=$(log_mark)
kill -HUP "$DRAY_PID"
wait_log "$mark" 'reload failed, keeping the previous certificate: .*does not match' \
	"failed reload on SIGHUP"
assert_alive "after a failed reload"
assert_eq 1002 "$(tls_serial)" "serial after a failed reload"
req GET /v2/tls/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200

dray_stop
pass
