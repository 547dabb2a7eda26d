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
