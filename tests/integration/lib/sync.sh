# SPDX-License-Identifier: Apache-2.0
# lib/sync.sh - upstream registries for the sync-* cases: Debian's
# docker-registry (CNCF Distribution 2.8) on a free loopback port, each
# with its own config, root and log under $WORK/up/NAME/, started and
# stopped by PID. Sourced by lib.sh; not run on its own.

need_upstream() {
	[ -x /usr/bin/docker-registry ] || fail "docker-registry is not installed (contrib/install-deps.sh --test)"
}

# upstream_start NAME [HTPASSWD]: start upstream NAME (again on its old
# port and root if it ran before), with Basic auth from HTPASSWD if given,
# over HTTPS with $WORK/tls/$UP_TLS.crt and .key if UP_TLS is set.
# Its URL is then $(up_url NAME); every request it served is in its log.
upstream_start() {
	local name=$1 htp=${2:-} d=$WORK/up/$1 try i p auth="" tls="" scheme=http
	need_upstream
	mkdir -p "$d/root"
	[ -z "$htp" ] || auth="auth: {htpasswd: {realm: $name, path: $htp}}"
	if [ -n "${UP_TLS:-}" ]; then
		tls=", tls: {certificate: $WORK/tls/$UP_TLS.crt, key: $WORK/tls/$UP_TLS.key}"
		scheme=https
	fi
	echo "$scheme" >"$d/scheme"
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
			http: {addr: "127.0.0.1:$p", secret: dray-sync-test$tls}
			$auth
		CONF
		/usr/bin/docker-registry serve "$d/config.yml" >>"$d/log" 2>&1 &
		echo $! >"$d/pid"
		BG_PIDS+=($!)
		for ((i = 0; i < 100; i++)); do
			# 200, or 401 with auth: either way it answers
			if curl -sk -o /dev/null --max-time 1 "$scheme://127.0.0.1:$p/v2/"; then
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
	local scheme=http
	[ ! -s "$WORK/up/$1/scheme" ] || scheme=$(cat "$WORK/up/$1/scheme")
	echo "$scheme://127.0.0.1:$(cat "$WORK/up/$1/port")"
}

up_host() {
	echo "127.0.0.1:$(cat "$WORK/up/$1/port")"
}

# up_requests NAME REGEX: how many requests in NAME's access log match
# REGEX (matched against the request line, "GET /v2/... HTTP/1.1"; for
# a dray upstream, "METHOD PATH" against its JSON access lines).
up_requests() {
	if [ -f "$WORK/up/$1/dray.yaml" ]; then
		grep -Ec "\"method\":\"${2%% *}\",\"path\":\"${2#* }" \
			"$WORK/up/$1/log" || true
		return
	fi
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

# up_put NAME OCIDIR DIGEST REPO REF [curl args]: put manifest DIGEST of
# the layout (an index's manifests first, then the blobs it names) into
# upstream NAME as REPO:REF with plain curl: quicker than skopeo for the
# cases that need many images upstream.
up_put() {
	local name=$1 src=$2 d=$3 repo=$4 ref=$5 url b mt st loc
	shift 5
	url=$(up_url "$name")
	local m=$src/blobs/sha256/${d#sha256:}
	mt=$(jq -r .mediaType "$m")
	for b in $(jq -r '.manifests[]?.digest' "$m"); do
		up_put "$name" "$src" "$b" "$repo" "$b" "$@"
	done
	for b in $(jq -r '.config.digest // empty, .layers[]?.digest' "$m"); do
		# Distribution has no one-request upload: POST, then PUT.
		loc=$(curl -s -o /dev/null -w '%header{location}' "$@" -X POST \
			-H 'Content-Length: 0' "$url/v2/$repo/blobs/uploads/")
		[ -n "$loc" ] || fail "upstream $name: no upload session in $repo"
		case $loc in /*) loc=$url$loc ;; esac
		case $loc in *\?*) loc=$loc\&digest=$b ;; *) loc=$loc?digest=$b ;; esac
		st=$(curl -s -o /dev/null -w '%{http_code}' "$@" -X PUT \
			-H 'Content-Type: application/octet-stream' \
			--data-binary "@$src/blobs/sha256/${b#sha256:}" "$loc")
		[ "$st" = 201 ] || fail "upstream $name: blob $b into $repo: $st"
	done
	st=$(curl -s -o /dev/null -w '%{http_code}' "$@" -X PUT \
		-H "Content-Type: $mt" --data-binary "@$m" \
		"$url/v2/$repo/manifests/$ref")
	[ "$st" = 201 ] || fail "upstream $name: manifest $d as $repo:$ref: $st"
}

# upstream_dray_start NAME: another dray process as upstream NAME, serving
# $WORK/up/NAME/root; its config is $WORK/up/NAME/dray.yaml with the
# lines on stdin appended under http:. Stop it with upstream_stop.
upstream_dray_start() {
	local name=$1 d=$WORK/up/$1 i p=
	mkdir -p "$d/root"
	{
		cat <<-CONF
			distSpecVersion: 1.1.0
			storage: {rootDirectory: $d/root}
			log: {level: info, output: $d/log}
			http:
			  address: 127.0.0.1
			  port: 0
		CONF
		cat
	} >"$d/dray.yaml"
	rm -f "$d/port"
	"$DRAY_BIN" serve "$d/dray.yaml" --port-file "$d/port.tmp" \
		>>"$d/stdout" 2>&1 &
	echo $! >"$d/pid"
	BG_PIDS+=($!)
	for ((i = 0; i < 600; i++)); do
		if [ -s "$d/port.tmp" ] && [ "$(tail -c 1 "$d/port.tmp")" = "" ]; then
			p=$(tr -d ' \n' <"$d/port.tmp")
			break
		fi
		kill -0 "$(cat "$d/pid")" 2>/dev/null || fail "upstream dray $name exited at startup: $(tail -n 3 "$d/stdout")"
		sleep 0.1
	done
	[ -n "$p" ] || fail "upstream dray $name wrote no port"
	echo "$p" >"$d/port"
}

# sync_config CREDSFILE: the case's dray config with extensions.sync using
# CREDSFILE, up to "registries:"; the case appends the registries.
sync_config() {
	dray_config
	cat >>"$CFG" <<-EOF2
		extensions:
		  sync:
		    credentialsFile: $1
		    registries:
	EOF2
}

# up_tag NAME OCIDIR DIGEST REPO TAG: tag manifest DIGEST of the layout as
# REPO:TAG in upstream NAME, by its manifest alone: what it references
# must be in REPO upstream already (up_put put it there).
up_tag() {
	local m=$2/blobs/sha256/${3#sha256:} st
	st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
		-H "Content-Type: $(jq -r .mediaType "$m")" --data-binary "@$m" \
		"$(up_url "$1")/v2/$4/manifests/$5")
	[ "$st" = 201 ] || fail "upstream $1: manifest $3 as $4:$5: $st"
}

# up_settled NAME REGEX: up_requests once what was sent before is logged:
# a marker request straight to upstream NAME is waited for in its log
# first (the log is written after each answer).
up_settled() {
	local m=/v2/settled-$RANDOM$RANDOM/tags/list i
	curl -s -o /dev/null --max-time 10 "$(up_url "$1")$m" || true
	for ((i = 0; i < 300; i++)); do
		grep -q "$m" "$WORK/up/$1/log" && break
		sleep 0.1
	done
	up_requests "$1" "$2"
}

# badupstream_start NAME: tests/tools/badupstream (an upstream that sends
# wrong bytes, lying digests, huge manifests, redirect loops) as upstream
# NAME; its log (one "METHOD URL STATUS" line per request) in
# $WORK/up/NAME/log. Stop it with upstream_stop.
badupstream_start() {
	local d=$WORK/up/$1 i
	mkdir -p "$d"
	rm -f "$d/port.tmp"
	"$DRAY_BUILD/badupstream" --port-file "$d/port.tmp" 2>>"$d/log" &
	echo $! >"$d/pid"
	BG_PIDS+=($!)
	for ((i = 0; i < 600; i++)); do
		[ -s "$d/port.tmp" ] && break
		kill -0 "$(cat "$d/pid")" 2>/dev/null || fail "badupstream $1 exited at startup"
		sleep 0.1
	done
	[ -s "$d/port.tmp" ] || fail "badupstream $1 wrote no port"
	tr -d ' \n' <"$d/port.tmp" >"$d/port"
}

# slowup_start DIR HOLD RELEASE: start tests/tools/slowup, an upstream
# that serves DIR/<hex> as blob sha256:<hex> and holds the last HOLD
# bytes of each until file RELEASE exists (RELEASE.cut: cuts it
# instead), logging "holding <hex>" to $SLOWUP_LOG. Sets SLOWUP_URL.
SLOWUP=$DRAY_BUILD/slowup
SLOWUP_LOG=$WORK/logs/slowup.log
slowup_start() {
	local pf=$WORK/cfg/slowup.port i p=
	[ -x "$SLOWUP" ] || fail "no slow upstream at $SLOWUP"
	rm -f "$pf"
	"$SLOWUP" --dir "$1" --hold "$2" --release "$3" --port-file "$pf" \
		>>"$SLOWUP_LOG" 2>&1 &
	BG_PIDS+=($!)
	for ((i = 0; i < 600; i++)); do
		if [ -s "$pf" ]; then
			p=$(tr -d ' \n' <"$pf")
			break
		fi
		kill -0 "${BG_PIDS[-1]}" 2>/dev/null || fail "slowup exited at startup"
		sleep 0.1
	done
	[ -n "$p" ] || fail "slowup wrote no port"
	SLOWUP_URL=http://127.0.0.1:$p
}

# wait_file_size FILE BYTES WHAT: wait (up to 120 s) until FILE holds at
# least BYTES bytes.
wait_file_size() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$3: $1 has $(stat -c %s "$1" 2>/dev/null || echo 0) bytes, not $2, after 120 s"
}
