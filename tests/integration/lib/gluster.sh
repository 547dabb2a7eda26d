# SPDX-License-Identifier: Apache-2.0
# lib/gluster.sh - a replicated GlusterFS volume on loopback, mounted once
# per node, and several dray nodes serving it (the cluster-*.sh cases).
# Sourced by lib.sh; not run on its own.
#
# The volume is the one issue 14 measured: two bricks in the case's work
# dir (replica 2, created with force), the client caches off
# (stat-prefetch, quick-read, open-behind, flush-behind; strict-o-direct
# on) and every mount with attribute-, entry- and negative-timeout 0. Its
# glusterd runs by hand as root (no systemd) with its state, run and log
# directories in the work dir, listening on 127.0.0.2 only. Bricks and
# clients find glusterd on port 24007 whatever it listens on, so one
# volume exists on the machine at a time: gluster_up holds a lock file
# until the case ends. Everything it started (glusterd, the bricks, the
# self-heal daemon, the fuse clients) has the case's gluster dir on its
# command line, and gluster_down ends those processes by PID.

GL_DIR=$WORK/gluster
GL_HOST=127.0.0.2
GL_VOL=dray
GL_MNT=()
GL_CLIENT_PIDS=()
GL_GLUSTERD_PID=
GL_LOCK_FD=

# need_gluster: skip (77) only where a volume genuinely cannot come up
# (not root, no /dev/fuse); missing programs are a broken install.
need_gluster() {
	if [ "$(id -u)" -ne 0 ]; then
		log "SKIP $CASE_NAME: glusterd needs root"
		exit 77
	fi
	need_fuse
	local p
	for p in glusterd gluster glusterfs; do
		command -v "$p" >/dev/null ||
			fail "$p is missing (contrib/install-deps.sh --test installs glusterfs-server and glusterfs-client)"
	done
}

gl_cli() {
	gluster --mode=script --glusterd-sock="$GL_DIR/run/glusterd.socket" "$@"
}

gl_now() {
	printf '%s' "${EPOCHREALTIME/,/.}"
}

# gl_since T0: seconds since T0 (a gl_now value), 2 decimals.
gl_since() {
	awk -v a="$1" -v b="$(gl_now)" 'BEGIN { printf "%.2f", b - a }'
}

gl_is_mounted() {
	awk -v m="$1" '$2 == m && $3 == "fuse.glusterfs" { f = 1 } END { exit !f }' \
		/proc/mounts
}

# Bricks of $GL_VOL that glusterd reports online.
gl_bricks_online() {
	gl_cli volume status "$GL_VOL" --xml 2>/dev/null | awk -v h="$GL_HOST" '
		/<node>/ { host = ""; st = "" }
		/<hostname>/ { gsub(/.*<hostname>|<\/hostname>.*/, ""); host = $0 }
		/<status>/ { gsub(/.*<status>|<\/status>.*/, ""); st = $0 }
		/<\/node>/ { if (host == h && st == "1") n++ }
		END { print n + 0 }'
}

# gluster_up N: the volume, started, and mounted N times at
# $GL_DIR/mnt1..N (GL_MNT[1..N]). Logs how long bring-up took.
gluster_up() {
	local n=$1 i t0 tp lockf=/run/lock/dray-it-gluster.lock
	need_gluster
	[ -d /run/lock ] || lockf=/tmp/dray-it-gluster.lock
	trap gluster_on_exit EXIT
	mkdir -p "$GL_DIR/state" "$GL_DIR/run" "$GL_DIR/log" \
		"$GL_DIR/brick1" "$GL_DIR/brick2"
	# Wait for any other case's volume to be gone (no time limit: a hang
	# is ctest's timeout).
	exec {GL_LOCK_FD}>"$lockf"
	t0=$(gl_now)
	flock "$GL_LOCK_FD"
	log "gluster: waited $(gl_since "$t0") s for another case's volume to go"
	t0=$(gl_now)
	! port_in_use 24007 || fail "something already listens on port 24007 (a system glusterd?)"
	cat >"$GL_DIR/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $GL_DIR/state
    option run-directory $GL_DIR/run
    option logging-directory $GL_DIR/log
    option glusterd-sockfile $GL_DIR/run/glusterd.socket
    option transport-type socket
    option transport.socket.bind-address $GL_HOST
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
	# At every start glusterd runs geo-replication's Python helper some
	# 20 times (13 s on a loaded 2-core machine). No case uses
	# geo-replication: in a mount namespace of its own, glusterd (and the
	# bricks it starts) see a stand-in that only answers --version.
	printf '#!/bin/sh\n[ "$1" != --version ] || echo "gsyncd.py 4.0.0"\n' \
		>"$GL_DIR/gsyncd"
	chmod +x "$GL_DIR/gsyncd"
	local gsyncd
	for gsyncd in /usr/lib/*/glusterfs/gsyncd /usr/libexec/glusterfs/gsyncd; do
		[ -x "$gsyncd" ] && break
	done
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" &&
		shift 2 && exec "$@"' sh "$GL_DIR/gsyncd" "$gsyncd" \
		glusterd -N -f "$GL_DIR/glusterd.vol" -l "$GL_DIR/log/glusterd.log" \
		-p "$GL_DIR/run/glusterd.pid" >>"$GL_DIR/log/glusterd.out" 2>&1 &
	GL_GLUSTERD_PID=$!
	until gl_cli pool list >/dev/null 2>&1; do
		kill -0 "$GL_GLUSTERD_PID" 2>/dev/null ||
			fail "glusterd exited during startup: $(tail -n 5 "$GL_DIR/log/glusterd.log")"
		sleep 0.1
	done
	tp="glusterd $(gl_since "$t0")"
	gl_cli volume create "$GL_VOL" replica 2 "$GL_HOST:$GL_DIR/brick1" \
		"$GL_HOST:$GL_DIR/brick2" force >>"$GL_DIR/log/cli.log" 2>&1 ||
		fail "gluster volume create failed: $(tail -n 3 "$GL_DIR/log/cli.log")"
	gl_cli volume set "$GL_VOL" performance.stat-prefetch off \
		performance.quick-read off performance.open-behind off \
		performance.flush-behind off performance.strict-o-direct on \
		>>"$GL_DIR/log/cli.log" 2>&1 ||
		fail "gluster volume set failed: $(tail -n 3 "$GL_DIR/log/cli.log")"
	tp="$tp, create+set $(gl_since "$t0")"
	gl_cli volume start "$GL_VOL" >>"$GL_DIR/log/cli.log" 2>&1 ||
		fail "gluster volume start failed: $(tail -n 3 "$GL_DIR/log/cli.log")"
	until [ "$(gl_bricks_online)" -ge 2 ]; do
		kill -0 "$GL_GLUSTERD_PID" 2>/dev/null || fail "glusterd exited"
		sleep 0.1
	done
	tp="$tp, bricks online $(gl_since "$t0")"
	for ((i = 1; i <= n; i++)); do
		GL_MNT[i]=$GL_DIR/mnt$i
		mkdir -p "${GL_MNT[i]}"
		glusterfs -N --volfile-server="$GL_HOST" --volfile-id="$GL_VOL" \
			--attribute-timeout=0 --entry-timeout=0 --negative-timeout=0 \
			-l "$GL_DIR/log/mnt$i.log" "${GL_MNT[i]}" \
			>>"$GL_DIR/log/mnt$i.out" 2>&1 &
		GL_CLIENT_PIDS[i]=$!
	done
	for ((i = 1; i <= n; i++)); do
		until gl_is_mounted "${GL_MNT[i]}" && stat "${GL_MNT[i]}/." >/dev/null 2>&1; do
			kill -0 "${GL_CLIENT_PIDS[i]}" 2>/dev/null ||
				fail "gluster client $i exited: $(tail -n 5 "$GL_DIR/log/mnt$i.log")"
			sleep 0.05
		done
	done
	log "gluster: volume up and mounted $n times in $(gl_since "$t0") s ($tp)"
}

# The PIDs of the processes gluster_up started: every one names $GL_DIR
# on its command line (glusterd's volfile, a brick's path, a pid file, a
# mount point), and no other process does.
gl_pids() {
	local f pid
	for f in $(grep -laF -- "$GL_DIR/" /proc/[0-9]*/cmdline 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] || echo "$pid"
	done
}

# gl_end_pids PID...: SIGTERM, up to 5 s for each to go, then SIGKILL.
gl_end_pids() {
	local p i
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for p in "$@"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# gluster_down: unmount every mount, end the clients, bricks, self-heal
# daemon and glusterd, remove the brick sockets glusterd put in
# /var/run/gluster, and release the lock. Logs how long it took.
gluster_down() {
	local t0 i m socks=() pids
	[ -n "$GL_GLUSTERD_PID" ] || [ ${#GL_CLIENT_PIDS[@]} -gt 0 ] || return 0
	t0=$(gl_now)
	for i in "${!GL_MNT[@]}"; do
		m=${GL_MNT[i]}
		gl_is_mounted "$m" && umount "$m" 2>/dev/null
	done
	gl_end_pids "${GL_CLIENT_PIDS[@]}"
	for m in "${GL_MNT[@]}"; do
		gl_is_mounted "$m" && umount -l "$m" 2>/dev/null
	done
	pids=$(gl_pids)
	for i in $pids; do
		# Brick and daemon sockets: "-S /var/run/gluster/<hash>.socket".
		m=$(tr '\0' '\n' <"/proc/$i/cmdline" 2>/dev/null | grep -A1 -x -- -S | tail -n +2)
		[ -z "$m" ] || socks+=("$m")
	done
	# shellcheck disable=SC2086
	gl_end_pids $pids
	[ ${#socks[@]} -eq 0 ] || rm -f "${socks[@]}"
	GL_GLUSTERD_PID=
	GL_CLIENT_PIDS=()
	[ -z "$GL_LOCK_FD" ] || exec {GL_LOCK_FD}>&-
	GL_LOCK_FD=
	log "gluster: torn down in $(gl_since "$t0") s"
}

# The EXIT handler of a gluster case: stop every node, take the volume
# down, then lib.sh's own handler (which removes the work dir: never
# while a mount is in it).
gluster_on_exit() {
	local rc=$? i
	trap - ERR
	set +e
	[ -z "${NODE_CUR:-}" ] || NODE_PID[NODE_CUR]=$DRAY_PID
	for i in "${!NODE_PID[@]}"; do
		[ -z "${NODE_PID[i]}" ] || stop_pid "${NODE_PID[i]}"
		if [ "$rc" -ne 0 ] && [ "$i" != "${NODE_CUR:-}" ] &&
			[ -s "$WORK/logs/node$i.log" ]; then
			log "--- tail of node $i's log:"
			tail -n 15 "$WORK/logs/node$i.log" | cut -c1-300 >&2
		fi
	done
	NODE_PID=()
	DRAY_PID=
	nginx_down
	gluster_down
	(exit "$rc")
	on_exit
}

# --- dray nodes on the volume ---------------------------------------------
# Node I serves ${GL_MNT[I]}/tree (the one shared tree) with its own
# config, port, logs and index directory. node_use I makes node I the one
# that lib.sh's helpers (req, dray_stop, wait_log, ...) talk to.
NODE_PID=()
NODE_URL=()
NODE_PORT=()
NODE_CUR=

node_use() {
	local i=$1
	[ -z "$NODE_CUR" ] || NODE_PID[NODE_CUR]=$DRAY_PID
	NODE_CUR=$i
	CFG=$WORK/cfg/node$i.yaml
	PORTFILE=$WORK/cfg/port$i
	DAEMON_LOG=$WORK/logs/node$i.log
	DAEMON_ERR=$WORK/logs/node$i.stderr.log
	DRAY_PID=${NODE_PID[i]:-}
	URL=${NODE_URL[i]:-}
	PORT=${NODE_PORT[i]:-}
}

# node_start I [STORAGE_LINE...]: start node I on mount I (its config
# written anew, the extra storage lines and $NODE_EXTRA added) and make it
# current.
node_start() {
	local i=$1
	shift
	node_use "$i"
	mkdir -p "${GL_MNT[i]}/tree" "$WORK/node$i"
	{
		printf 'distSpecVersion: 1.1.0\nhttp:\n  address: 127.0.0.1\n  port: 0\n'
		printf 'storage:\n  rootDirectory: %s\n' "${GL_MNT[i]}/tree"
		[ $# -eq 0 ] || printf '  %s\n' "$@"
		printf 'log:\n  level: debug\n  output: %s\n' "$DAEMON_LOG"
		# Further top-level YAML for every node (e.g. extensions).
		[ -z "${NODE_EXTRA:-}" ] || printf '%s\n' "$NODE_EXTRA"
	} >"$CFG"
	dray_start
	NODE_PID[i]=$DRAY_PID
	NODE_URL[i]=$URL
	NODE_PORT[i]=$PORT
}

# NODE_WAIT_MAX: the bound, in seconds, of node_wait. A node looks at a
# repository's index.json again within a second (storage recheck); the
# bound is far above that, for a loaded machine, and only turns a hang
# into a failure that says what was awaited.
NODE_WAIT_MAX=120

# node_wait WHAT CMD...: run CMD (requests to the current node) until it
# succeeds; logs how long that took, as WHAT (no tighter bound asserted:
# a loaded machine is slow).
node_wait() {
	local what=$1 t0 end=$((SECONDS + NODE_WAIT_MAX))
	shift
	t0=$(gl_now)
	until "$@"; do
		assert_alive "node $NODE_CUR, waiting for $what"
		[ "$SECONDS" -lt "$end" ] ||
			fail "node $NODE_CUR: still no $what after $NODE_WAIT_MAX s"
		sleep 0.05
	done
	log "  node $NODE_CUR: $what after $(gl_since "$t0") s"
}

# get_is STATUS TARGET: GET TARGET (a manifest: every manifest type
# accepted) is answered STATUS.
get_is() {
	req GET "$2" -H "Accept: $ACCEPT_MANIFESTS" && [ "$STATUS" = "$1" ]
}

# node_wait_get STATUS TARGET WHAT: node_wait until GET TARGET (a
# manifest) is answered STATUS. By tag, that answer comes from the node's
# current look at index.json. By digest it need not: a node answers a
# manifest's digest from its file whether or not the index.json it last
# read lists it (a child of an index is a manifest too), and a deleted one
# is a 404 once its file is gone. What a node says about the tags or
# referrers of a change by digest is awaited as such (node_wait).
node_wait_get() {
	node_wait "$3" get_is "$1" "$2"
}

# node_restart I: start node I again (after node_kill or a stop) on the
# port it had, so that the balancer's configuration still names it.
node_restart() {
	local i=$1
	node_use "$i"
	[ -z "$DRAY_PID" ] || fail "node_restart $i: node $i is running"
	sed -i "s/^  port: .*/  port: ${NODE_PORT[i]}/" "$CFG"
	dray_start
	NODE_PID[i]=$DRAY_PID
	[ "$PORT" = "${NODE_PORT[i]}" ] ||
		fail "node $i came back on port $PORT, not ${NODE_PORT[i]}"
}

# node_kill I: SIGKILL node I (no clean shutdown: locks, sessions and
# staging files left as a crash leaves them).
node_kill() {
	local i=$1 pid=${NODE_PID[$1]}
	[ -n "$pid" ] || fail "node_kill $i: node $i is not running"
	[ "$NODE_CUR" != "$i" ] || DRAY_PID=
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	NODE_PID[i]=
}

# --- nginx round robin in front of the nodes --------------------------------
# The balancer runs contrib/cluster/nginx.conf itself (the deployment
# guide's file), with only the node addresses, its listen address, and its
# paths (pid, logs, temp dirs) replaced by the case's. It runs as root in
# the foreground (daemon off) and is stopped by PID.
NGX_DIR=$WORK/nginx
NGX_PID=
LB_URL=
LB_PORT=

need_nginx() {
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
		fail "nginx is missing (contrib/install-deps.sh --test installs it)"
}

# nginx_up N: the balancer, round robin over nodes 1..N, on a free
# loopback port (LB_URL, LB_PORT); its access log names the node
# (up=127.0.0.1:PORT) that answered each request.
nginx_up() {
	local n=$1 i try p ngx sub=()
	need_nginx
	ngx=$(command -v nginx || echo /usr/sbin/nginx)
	mkdir -p "$NGX_DIR/tmp"
	for ((i = 1; i <= 3; i++)); do
		if ((i <= n)); then
			sub+=(-e "s/server node$i\.example:5000/server 127.0.0.1:${NODE_PORT[i]}/")
		else
			sub+=(-e "/server node$i\.example:5000/d")
		fi
	done
	for ((try = 0; try < 10; try++)); do
		p=$((20000 + RANDOM % 30000))
		port_in_use "$p" && continue
		sed -e "s|^user .*|user root;|" \
			-e "s|^pid .*|pid $NGX_DIR/nginx.pid;|" \
			-e "s|/var/log/nginx/dray-|$NGX_DIR/|" \
			-e "s|/var/lib/nginx/|$NGX_DIR/tmp/|" \
			-e "s|^\(\s*\)listen 5000;|\1listen 127.0.0.1:$p;|" \
			"${sub[@]}" "$DRAY_SRC/contrib/cluster/nginx.conf" >"$NGX_DIR/nginx.conf"
		! grep -q 'example:5000\|listen 5000' "$NGX_DIR/nginx.conf" ||
			fail "nginx_up: contrib/cluster/nginx.conf no longer has the lines the case replaces"
		: >"$NGX_DIR/error.log"
		# Without the volume's lock: a balancer left behind must not
		# hold up every other case's volume.
		"$ngx" -p "$NGX_DIR" -c "$NGX_DIR/nginx.conf" -g 'daemon off;' \
			>>"$NGX_DIR/stderr.log" 2>&1 {GL_LOCK_FD}>&- &
		NGX_PID=$!
		until curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$p/v2/"; do
			kill -0 "$NGX_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$NGX_PID" 2>/dev/null; then
			LB_PORT=$p
			LB_URL=http://127.0.0.1:$p
			log "nginx: round robin over $n nodes at $LB_URL"
			return 0
		fi
		wait "$NGX_PID" 2>/dev/null || true
		NGX_PID=
		grep -q 'Address already in use' "$NGX_DIR/error.log" "$NGX_DIR/stderr.log" ||
			fail "nginx did not start: $(tail -n 5 "$NGX_DIR/stderr.log" "$NGX_DIR/error.log")"
	done
	fail "nginx_up: no free port in 10 tries"
}

nginx_down() {
	[ -n "$NGX_PID" ] || return 0
	stop_pid "$NGX_PID"
	NGX_PID=
}

# lb_use: lib.sh's helpers (req, push_image, ...) talk to the balancer;
# the current node (for assert_alive, logs) stays what it was.
lb_use() {
	URL=$LB_URL
	PORT=$LB_PORT
}

# lb_nodes_since LINE: the distinct nodes (upstream ports) that answered
# the requests the balancer logged after access-log line LINE.
lb_nodes_since() {
	tail -n "+$(($1 + 1))" "$NGX_DIR/access.log" |
		grep -o 'up=[0-9.:, ]*' | grep -o ':[0-9]*' | sort -u | tr -d ':' | xargs
}

lb_log_lines() {
	wc -l <"$NGX_DIR/access.log"
}

# cluster_up N: the volume mounted N times, node I on mount I with its own
# index directory ($WORK/nodeI) and port, and nginx round robin in front;
# helpers then talk to the balancer (lb_use).
cluster_up() {
	local n=$1 i
	gluster_up "$n"
	for ((i = 1; i <= n; i++)); do
		node_start "$i" "indexDirectory: $WORK/node$i"
	done
	nginx_up "$n"
	lb_use
}

# node_start_mount I DIR [STORAGE_LINE...]: node_start with the node's
# FUSE mount at DIR, cleared at exit even when the node could not
# unmount it.
NODE_MNT=()
node_start_mount() {
	local i=$1 dir=$2
	shift 2
	NODE_MNT[i]=$dir
	mkdir -p "$dir"
	trap gluster_mount_on_exit EXIT
	# The last storage line carries the top-level fuse section.
	node_start "$i" "$@" "dedupe: true
fuse:
  mountpoint: $dir"
	MNT=$dir wait_mounted
}

gluster_mount_on_exit() {
	local rc=$? m
	set +e
	for m in "${NODE_MNT[@]}"; do
		MNT=$m mount_clear
	done
	(exit "$rc")
	gluster_on_exit
}
