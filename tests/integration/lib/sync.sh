# SPDX-License-Identifier: Apache-2.0
# lib/sync.sh - upstream registries for the sync-* cases: Debian's
# docker-registry (CNCF Distribution 2.8) on a free loopback port, each
# with its own config, root and log under $WORK/up/NAME/, started and
# stopped by PID. Sourced by lib.sh; not run on its own.

need_upstream() {
	[ -x /usr/bin/docker-registry ] || fail "docker-registry is not installed (contrib/install-deps.sh --test)"
}

# upstream_start NAME [HTPASSWD]: start upstream NAME (again on its old
# port and root if it ran before), with Basic auth from HTPASSWD if given.
# Its URL is then $(up_url NAME); every request it served is in its log.
upstream_start() {
	local name=$1 htp=${2:-} d=$WORK/up/$1 try i p auth=
	need_upstream
	mkdir -p "$d/root"
	[ -z "$htp" ] || auth="auth: {htpasswd: {realm: $name, path: $htp}}"
	for ((try = 0; try < 5; try++)); do
		if [ -s "$d/port" ]; then
			p=$(cat "$d/port")
		else
			p=$((20000 + RANDOM % 30000))
			port_in_use "$p" && continue
		fi
		cat >"$d/config.yml" <<-CONF
			version: 0.1
			log: {level: info, accesslog: {disabled: false}}
			storage:
			  filesystem: {rootdirectory: $d/root}
			  maintenance: {uploadpurging: {enabled: false}}
			http: {addr: "127.0.0.1:$p", secret: dray-sync-test}
			$auth
		CONF
		/usr/bin/docker-registry serve "$d/config.yml" >>"$d/log" 2>&1 &
		echo $! >"$d/pid"
		BG_PIDS+=($!)
		for ((i = 0; i < 100; i++)); do
			# 200, or 401 with auth: either way it answers
			if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/v2/"; then
				echo "$p" >"$d/port"
				return 0
			fi
			kill -0 "$(cat "$d/pid")" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$(cat "$d/pid")"
	done
	fail "could not start upstream $name (see $d/log)"
}

# upstream_stop NAME: stop it by PID (SIGTERM, then SIGKILL).
upstream_stop() {
	local d=$WORK/up/$1
	[ -s "$d/pid" ] || fail "upstream_stop: $1 was never started"
	stop_pid "$(cat "$d/pid")"
	: >"$d/pid"
}

up_url() {
	echo "http://127.0.0.1:$(cat "$WORK/up/$1/port")"
}

up_host() {
	echo "127.0.0.1:$(cat "$WORK/up/$1/port")"
}

# up_requests NAME REGEX: how many requests in NAME's access log match
# REGEX (matched against the request line, "GET /v2/... HTTP/1.1").
up_requests() {
	grep -Ec "\"$2[^\"]* HTTP/[0-9.]+\" [0-9]+ " "$WORK/up/$1/log" || true
}

# up_push NAME OCIDIR TAG REPO:TAG [skopeo args]: copy an image layout into
# upstream NAME, digests preserved.
up_push() {
	local name=$1 src=$2 tag=$3 dst=$4
	shift 4
	timeout 60 skopeo --command-timeout 50s copy --quiet --all --preserve-digests \
		--dest-tls-verify=false "$@" "oci:$src:$tag" \
		"docker://$(up_host "$name")/$dst" >>"$WORK/logs/skopeo.log" 2>&1 ||
		fail "skopeo push of $src:$tag to $name/$dst failed: $(tail -n 3 "$WORK/logs/skopeo.log")"
}
