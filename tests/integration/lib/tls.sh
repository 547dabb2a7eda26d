# SPDX-License-Identifier: Apache-2.0
# lib/tls.sh - certificates made with openssl, a dray config with http.tls,
# curl and openssl s_client against the HTTPS listener.
# Sourced by lib.sh; not run on its own. Files live in $WORK/tls.

# tls_ca NAME CN: a CA, NAME.crt and NAME.key (EC P-256: quick to make).
tls_ca() {
	mkdir -p "$WORK/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj "/CN=$2" -keyout "$WORK/tls/$1.key" \
		-out "$WORK/tls/$1.crt" 2>>"$WORK/logs/openssl.log" ||
		fail "openssl: cannot make CA $1"
}

# tls_cert NAME CN CA SERIAL server|client: NAME.crt and NAME.key signed by
# CA; a server certificate is for IP 127.0.0.1, a client one for clientAuth.
tls_cert() {
	local d=$WORK/tls ext
	case $5 in
	server) ext='subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth' ;;
	client) ext='extendedKeyUsage=clientAuth' ;;
	*) fail "tls_cert: kind '$5'" ;;
	esac
	printf '%s\n' "$ext" >"$d/$1.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.csr" \
		2>>"$WORK/logs/openssl.log" &&
		openssl x509 -req -in "$d/$1.csr" -CA "$d/$3.crt" \
			-CAkey "$d/$3.key" -set_serial "$4" -days 2 \
			-extfile "$d/$1.ext" -out "$d/$1.crt" \
			2>>"$WORK/logs/openssl.log" ||
		fail "openssl: cannot make certificate $1"
}

# tls_config CERT KEY [CACERT]: the case's config (dray_config) with an
# http.tls section naming those files.
tls_config() {
	dray_config
	{
		printf '  tls:\n    cert: %s\n    key: %s\n' "$1" "$2"
		[ -z "${3:-}" ] || printf '    cacert: %s\n' "$3"
	} >"$WORK/cfg/tls.yaml"
	sed -i "/^  port: 0\$/r $WORK/cfg/tls.yaml" "$CFG"
}

# tls_curlrc [curl options...]: every curl of the case (req, push_image,
# ...) trusts the test CA ($WORK/tls/ca.crt) plus the given options, and
# $URL becomes https.
tls_curlrc() {
	local o
	export CURL_HOME=$WORK/cfg
	printf 'cacert = "%s"\n' "$WORK/tls/ca.crt" >"$CURL_HOME/.curlrc"
	for o in "$@"; do
		printf '%s\n' "$o" >>"$CURL_HOME/.curlrc"
	done
	URL=https://127.0.0.1:$PORT
}

# tls_serial [s_client options...]: the serial of the certificate a new
# handshake with the daemon shows ("1001"), or "" if the handshake fails.
tls_serial() {
	timeout 900 openssl s_client -connect "127.0.0.1:$PORT" \
		-CAfile "$WORK/tls/ca.crt" "$@" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# tls_handshake_ok [s_client options...]: a handshake with those options
# agrees on a cipher and verifies the server certificate.
tls_handshake_ok() {
	timeout 900 openssl s_client -connect "127.0.0.1:$PORT" \
		-CAfile "$WORK/tls/ca.crt" -verify_return_error "$@" \
		</dev/null >"$WORK/tmp/s_client.out" 2>&1 &&
		grep -q '^New, TLSv1\.[23], Cipher is ' "$WORK/tmp/s_client.out" &&
		grep -q 'Verify return code: 0 (ok)' "$WORK/tmp/s_client.out"
}

# tls_wait_count FILE PATTERN N WHAT: wait (up to 60 s) until PATTERN
# (grep -E) occurs N times in FILE.
tls_wait_count() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -aoE "$2" "$1" 2>/dev/null | wc -l)" -ge "$3" ] && return 0
		sleep 0.1
	done
	fail "$4: $3 lines matching '$2' not in $1 after 60 s"
}

# assert_refused MSG CMD...: CMD (a client talking to the daemon) fails.
assert_refused() {
	local msg=$1
	shift
	ASSERTS=$((ASSERTS + 1))
	! "$@" || fail "$msg: it succeeded"
}

# tls_skopeo_round_trip CERTDIR REPO SEED REFUSED_DIR: skopeo copies a
# mkimage layout (in $SRC, digest in $D1) to REPO:v1 and back, verifying
# the server (and showing a client certificate) from CERTDIR; digests
# preserved. With REFUSED_DIR as its cert dir, skopeo gets nothing.
tls_skopeo_round_trip() {
	local dir=$1 ref=docker://127.0.0.1:$PORT/$2:v1
	SRC=$WORK/tmp/src
	D1=$("$MKIMAGE" "$SRC" v1 --layers 2 --layer-size 50000 --seed "$3")
	skopeo_ok copy --quiet --preserve-digests --dest-cert-dir "$dir" \
		"oci:$SRC:v1" "$ref"
	skopeo_ok copy --quiet --preserve-digests --src-cert-dir "$dir" \
		"$ref" "oci:$WORK/tmp/back:v1"
	assert_eq "$D1" "$(jq -r '.manifests[0].digest' "$WORK/tmp/back/index.json")" \
		"digest after the round trip with cert dir $dir"
	assert_refused "skopeo with cert dir $4" timeout 900 skopeo \
		--command-timeout 850s inspect --cert-dir "$4" "$ref" 2>/dev/null
}
