#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cluster-kill: four loops push small images through nginx (round robin
# over three dray nodes on one replicated GlusterFS volume, the balancer
# running contrib/cluster/nginx.conf) while node 2 is killed with SIGKILL
# and then started again. The balancer routes around the dead node: pushes
# go on during the outage. A request in flight on the dying node may come
# back as an error (nginx does not resend a POST or a PATCH, nor a body
# already partly sent); such a push counts as failed, which is fine. Every
# push that was answered 201 must then be served, manifest and blobs, by
# every node, and every repository in the tree must be a valid image
# layout.
#
# Pushes are monolithic (one POST ?digest= per blob, then the manifest
# PUT), so that no upload session spans two requests: what is tested here
# is a node's death, not uploads continuing across nodes (it/cluster-flow).
. "$(dirname "$0")/../lib.sh"
require_dray

cluster_up 3
LOOPS=4
mkdir -p "$WORK/push"

# lb_push_loop N: push ck/wN:iK for K = 1, 2, ... until $WORK/push/stop
# exists; each push answered 201 throughout is a line "TAG MANIFEST BLOB
# CONFIG" in ok.N, each failed one a line in failed.N (the step and the
# status). Plain curl: lib.sh's req keeps one response at a time.
lb_push_loop() {
	local n=$1 k=0 d=$WORK/push/w$1 st step lay cfg man
	mkdir -p "$d"
	while [ ! -e "$WORK/push/stop" ]; do
		k=$((k + 1))
		head -c $((4096 + RANDOM % 8192)) /dev/urandom >"$d/layer"
		printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"w":"%s-%s"}},"rootfs":{"type":"layers","diff_ids":[]}}' \
			"$n" "$k" >"$d/config"
		lay=$(digest_of "$d/layer")
		cfg=$(digest_of "$d/config")
		mkmanifest "$d/manifest" "$(desc "$MT_OCI_CONFIG" "$d/config")" \
			"$(desc "$MT_OCI_LAYER" "$d/layer")"
		man=$(digest_of "$d/manifest")
		for step in layer config manifest; do
			if [ $step = manifest ]; then
				st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
					-X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
					--data-binary "@$d/manifest" \
					"$LB_URL/v2/ck/w$n/manifests/i$k") || st=000
			else
				st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
					-X POST -H 'Content-Type: application/octet-stream' \
					--data-binary "@$d/$step" \
					"$LB_URL/v2/ck/w$n/blobs/uploads/?digest=$([ $step = layer ] && echo "$lay" || echo "$cfg")") ||
					st=000
			fi
			[ "$st" = 201 ] || break
		done
		if [ "$st" = 201 ]; then
			echo "i$k $man $lay $cfg" >>"$WORK/push/ok.$n"
		else
			echo "i$k $step $st" >>"$WORK/push/failed.$n"
		fi
	done
}

# ok_count: pushes answered 201 so far, all loops together.
ok_count() {
	cat "$WORK"/push/ok.* 2>/dev/null | wc -l
}

# wait_ok N WHAT: until N more pushes succeeded than now.
wait_ok() {
	local want=$(($(ok_count) + $1)) t0
	t0=$(gl_now)
	until [ "$(ok_count)" -ge "$want" ]; do
		# Only requests in flight on the dying node may fail.
		[ "$(cat "$WORK"/push/failed.* 2>/dev/null | wc -l)" -le 20 ] ||
			fail "pushes keep failing: $(cat "$WORK"/push/failed.* | tail -n 3 | xargs)"
		for i in 1 3; do
			[ -z "${NODE_PID[i]}" ] || kill -0 "${NODE_PID[i]}" ||
				fail "node $i died while $2"
		done
		sleep 0.05
	done
	log "  $1 pushes $2 in $(gl_since "$t0") s"
}

for ((w = 1; w <= LOOPS; w++)); do
	bg lb_push_loop "$w"
done
wait_ok 4 "before the kill"
node_kill 2
t_kill=$(gl_now)
mark=$(lb_log_lines)
wait_ok 4 "with node 2 dead"
log "  node 2 dead for $(gl_since "$t_kill") s"
node_restart 2
mark=$(lb_log_lines)
wait_ok 4 "after node 2's restart"
# The restarted node takes its share again.
t0=$(gl_now)
until grep -qw "${NODE_PORT[2]}" <<<"$(lb_nodes_since "$mark")"; do
	assert_alive "node 2 after its restart"
	sleep 0.05
done
log "  node 2 back in the rotation after $(gl_since "$t0") s"
touch "$WORK/push/stop"
for p in "${BG_PIDS[@]}"; do
	wait "$p"
done
BG_PIDS=()

oks=$(ok_count)
fails=$(cat "$WORK"/push/failed.* 2>/dev/null | wc -l)
log "  pushes: $oks answered 201, $fails failed:$(cat "$WORK"/push/failed.* 2>/dev/null |
	awk '{ print " " $2 "=" $3 }' | sort | uniq -c | xargs)"

# Every push answered 201 is served by every node, manifest and blobs:
# once a node serves each repository's last push (its look at index.json
# every second), one curl per node HEADs them all.
for ((w = 1; w <= LOOPS; w++)); do
	sed "s|^|ck/w$w |" "$WORK/push/ok.$w"
done | awk '{ print $1, $2, $3 }' >"$WORK/push/manifests"
for ((w = 1; w <= LOOPS; w++)); do
	sed "s|^[^ ]* [^ ]* \([^ ]*\) \([^ ]*\)$|/v2/ck/w$w/blobs/\1\n/v2/ck/w$w/blobs/\2|" \
		"$WORK/push/ok.$w"
done >"$WORK/push/blobs"
for i in 1 2 3; do
	node_use "$i"
	for ((w = 1; w <= LOOPS; w++)); do
		node_wait_get 200 "/v2/ck/w$w/manifests/$(tail -n 1 "$WORK/push/ok.$w" | cut -d' ' -f1)" \
			"ck/w$w's last push"
	done
	assert_manifests_each "$WORK/push/manifests" "node $i"
	req_each HEAD "$WORK/push/blobs.$i" <"$WORK/push/blobs"
	assert_eq "$(cut -d'|' -f1 "$WORK/push/blobs.$i" | sort -u | xargs)" 200 \
		"node $i: HEAD of every blob pushed"
	assert_eq "$(cut -d'|' -f2 "$WORK/push/blobs.$i")" \
		"$(sed 's|.*/||' "$WORK/push/blobs")" "node $i: the blobs' digests"
done
lb_use
last=$(tail -n 1 "$WORK/push/blobs")
req GET "$last"
assert_status 200
assert_body_digest "${last##*/}"

# Every repository's layout is valid (the killed node's staging aside,
# which lives under .dray, outside every layout).
repos=$(check_all_layouts "${GL_MNT[1]}/tree" | xargs)
assert_eq "$repos" "$(seq -f 'ck/w%g' 1 "$LOOPS" | xargs)" "repositories in the tree"

for i in 1 2 3; do
	node_use "$i"
	dray_stop
done
pass
