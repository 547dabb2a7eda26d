#!/bin/bash
# crash-kill9.sh - DESIGN invariants 1, 3 and 5 under SIGKILL: while
# several slow (rate-limited) 8 MiB blob uploads (POST+PUT, single POST,
# chunked PATCH) and tight loops of manifest PUTs, tag moves and small
# blob pushes are in flight, the daemon is killed with SIGKILL; after a
# restart every repository directory is a valid OCI layout (index.json
# parses; every blob it reaches exists, has its size and hashes to its
# name; no staging files inside layouts), every push that was answered
# before the kill is intact, interrupted uploads left nothing under their
# digest, every listed tag resolves to a manifest whose blobs exist, and
# the same blobs can be pushed again. Two rounds: the kill comes once the
# writers have had 10 (then 40) manifest PUTs and small pushes answered,
# while the 8 MiB uploads, which take seconds each, are in flight.
. "$(dirname "$0")/../lib.sh"

dray_start
CR=$WORK/tmp/crash
mkdir -p "$CR"
BIG=$((8 << 20))

# --- content pushed and answered before any kill
push_image crash/done1 v1 2 500000
DONE1_DIR=$IMG_DIR
DONE1=$MANIFEST_DIGEST
push_image crash/done2 v1 1 300000
DONE2_DIR=$IMG_DIR
DONE2=$MANIFEST_DIGEST
push_image crash/tags base 1 1000
BASE=$(cat "$IMG_DIR/manifest.json")
for i in 0 1 2 3 4 5 6; do
	mkblob "$CR/big$i" "$BIG" "big$i"
done

# Where slow upload ID goes: two into repositories that hold images.
SLOW_REPOS=(crash/slow0 crash/slow1 crash/done1 crash/slow3 crash/slow4 crash/slow5 crash/done2)

# slow_upload ID MODE REPO FILE: a rate-limited upload; writes its final
# status to $CR/slow.ID.
slow_upload() {
	local id=$1 mode=$2 repo=$3 f=$4 d loc st=000
	d=$(digest_of "$f")
	if [ "$mode" = post ]; then
		st=$(curl -s --max-time 300 --limit-rate 2M -X POST -H 'Expect:' \
			-H 'Content-Type: application/octet-stream' --data-binary "@$f" \
			-o /dev/null -w '%{http_code}' "$URL/v2/$repo/blobs/uploads/?digest=$d") || st=000
		echo "$st" >"$CR/slow.$id"
		return
	fi
	loc=$(curl -s --max-time 120 -X POST -H 'Content-Length: 0' -D - -o /dev/null \
		"$URL/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in /*) loc=$URL$loc ;; esac
	if [ "$mode" = chunked ]; then
		st=$(curl -s --max-time 300 --limit-rate 2M -X PATCH -H 'Expect:' \
			-H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((BIG - 1))" \
			--data-binary "@$f" -o /dev/null -w '%{http_code}' "$loc") || st=000
	else
		case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
		st=$(curl -s --max-time 300 --limit-rate 2M -X PUT -H 'Expect:' \
			-H 'Content-Type: application/octet-stream' --data-binary "@$f" \
			-o /dev/null -w '%{http_code}' "$loc") || st=000
	fi
	echo "$st" >"$CR/slow.$id"
}

# manifest_writer ID: PUT distinct manifests to tags w<ID>-<n> as fast as
# possible; "<tag> <digest>" goes to $CR/ok.ID once answered 201.
manifest_writer() {
	local id=$1 i st f d
	for ((i = 0; i < 2000; i++)); do
		f=$CR/m.$id.$i
		printf '%s' "${BASE%\}},\"annotations\":{\"w\":\"$id-$i\"}}" >"$f"
		d=$(digest_of "$f")
		st=$(curl -s --max-time 120 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
			--data-binary "@$f" -o /dev/null -w '%{http_code}' \
			"$URL/v2/crash/tags/manifests/w$id-$i") || break
		[ "$st" = 201 ] || break
		echo "w$id-$i $d" >>"$CR/ok.$id"
	done
}

# mover: re-point tag "moving" again and again; every attempt is logged
# before it is sent.
mover() {
	local i f
	for ((i = 0; i < 2000; i++)); do
		f=$CR/mv.$i
		printf '%s' "${BASE%\}},\"annotations\":{\"mv\":\"$i\"}}" >"$f"
		digest_of "$f" >>"$CR/moving.attempts"
		echo >>"$CR/moving.attempts"
		curl -s --max-time 120 -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
			--data-binary "@$f" -o /dev/null "$URL/v2/crash/tags/manifests/moving" || break
	done
}

# blob_writer: small monolithic pushes; "<digest>" logged once 201.
blob_writer() {
	local i st f d loc
	for ((i = 0; i < 2000; i++)); do
		f=$CR/small.$i
		head -c $((1000 + i)) "$CR/big0" >"$f"
		printf '%d' "$i" >>"$f"
		d=$(digest_of "$f")
		loc=$(curl -s --max-time 120 -X POST -H 'Content-Length: 0' -D - -o /dev/null \
			"$URL/v2/crash/small/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p') || break
		[ -n "$loc" ] || break
		case $loc in /*) loc=$URL$loc ;; esac
		case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
		st=$(curl -s --max-time 120 -X PUT -H 'Content-Type: application/octet-stream' \
			--data-binary "@$f" -o /dev/null -w '%{http_code}' "$loc") || break
		[ "$st" = 201 ] || break
		echo "$d $f" >>"$CR/small.ok"
	done
}

# verify_after_restart: the checks listed at the top.
verify_after_restart() {
	local repo t d f line n=0 st len n1
	if dray_only "every repository is a valid layout after SIGKILL"; then
		check_all_layouts "$WORK/data" >"$CR/repos"
		assert_true "layouts found" [ -s "$CR/repos" ]
	fi
	# Pushes answered before the kill.
	req GET /v2/crash/done1/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_file "$DONE1_DIR/manifest.json"
	req GET /v2/crash/done2/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
	assert_body_file "$DONE2_DIR/manifest.json"
	for f in "$DONE1_DIR"/layer* "$DONE1_DIR/config.json"; do
		req GET "/v2/crash/done1/blobs/$(digest_of "$f")"
		assert_status 200
		assert_body_file "$f"
	done
	# Hundreds of them: one curl for all (req_each).
	# The list is named outside the ok.* glob: cat expands that glob while
	# the other side of the pipe may already have created the list.
	cat /dev/null "$CR"/ok.* | sed 's|^|crash/tags |' >"$CR/answered.all"
	assert_manifests_each "$CR/answered.all" "manifest PUT answered before the kill" \
		-H "Accept: $MT_OCI_MANIFEST"
	n=$(wc -l <"$CR/answered.all")
	if [ -s "$CR/small.ok" ]; then
		req_each HEAD "$CR/small.heads" < <(sed 's|^\([^ ]*\) .*|/v2/crash/small/blobs/\1|' "$CR/small.ok")
		cut -d' ' -f2 "$CR/small.ok" | xargs stat -c %s >"$CR/small.sizes"
		while read -r d f && IFS='|' read -r st t len <&5 && read -r n1 <&6; do
			assert_eq 200 "$st" "HEAD of small blob $d answered before the kill"
			assert_eq "$n1" "$len" "Content-Length of small blob $d"
		done <"$CR/small.ok" 5<"$CR/small.heads" 6<"$CR/small.sizes"
		# The last one answered is intact byte for byte.
		read -r d f < <(tail -n 1 "$CR/small.ok")
		req GET "/v2/crash/small/blobs/$d"
		assert_body_file "$f"
	fi
	# "moving" names one of the manifests that were sent to it.
	req GET /v2/crash/tags/manifests/moving -H "Accept: $MT_OCI_MANIFEST"
	if [ "$STATUS" = 200 ]; then
		assert_true "tag 'moving' names a manifest that was pushed to it" \
			grep -qx "$(hdr Docker-Content-Digest)" "$CR/moving.attempts"
		assert_body_digest "$(hdr Docker-Content-Digest)"
	else
		assert_status 404 # only if no PUT of it ever completed
	fi
	# Interrupted uploads left nothing under their digest; answered ones
	# are complete.
	[ "$(cat "$CR"/slow.* 2>/dev/null | grep -c 201)" -lt 7 ] ||
		note "every slow upload finished before the kill: the timing did not exercise them"
	for i in 0 1 2 3 4 5 6; do
		d=$(digest_of "$CR/big$i")
		req HEAD "/v2/${SLOW_REPOS[i]}/blobs/$d"
		if [ "$(cat "$CR/slow.$i" 2>/dev/null)" = 201 ]; then
			assert_status 200
			assert_content_length "$BIG"
		elif [ "$STATUS" = 200 ]; then
			# Committed, its 201 lost in the kill: then complete.
			assert_content_length "$BIG"
		else
			assert_status 404
		fi
	done
	# Every tag of every repository resolves, and its blobs exist.
	req GET /v2/_catalog
	if [ "$STATUS" = 200 ]; then
		bjq -r '.repositories[]' >"$CR/catalog"
	else
		printf '%s\n' crash/done1 crash/done2 crash/tags >"$CR/catalog"
	fi
	while read -r repo; do
		req GET "/v2/$repo/tags/list"
		# A repository holding only blobs may count as unknown.
		[ "$STATUS" != 404 ] || continue
		assert_status 200
		bjq -r '(.tags // [])[]' >"$CR/tags"
		while read -r t; do
			req GET "/v2/$repo/manifests/$t" -H "Accept: $ACCEPT_MANIFESTS"
			assert_status 200
			assert_body_digest "$(hdr Docker-Content-Digest)"
			for d in $(bjq -r '(.config.digest // empty), (.layers[]?.digest)'); do
				req HEAD "/v2/$repo/blobs/$d"
				assert_status 200
			done
		done < <(sort "$CR/tags" | awk 'NR % 25 == 1 || /^(v1|base|moving)$/')
	done <"$CR/catalog"
	log "  verified $n manifest PUTs answered before the kill"
}

# answered: manifest PUTs and small blob pushes answered so far (the
# smaller of the two counts).
answered() {
	local m s
	m=$(cat "$CR"/ok.* 2>/dev/null | wc -l)
	s=$(cat "$CR/small.ok" 2>/dev/null | wc -l)
	echo $((m < s ? m : s))
}

round() { # round N: SIGKILL once N of each kind of push were answered
	local i
	rm -f "$CR"/ok.* "$CR"/slow.* "$CR/small.ok" "$CR/moving.attempts"
	BG_PIDS=()
	bg slow_upload 0 mono "${SLOW_REPOS[0]}" "$CR/big0"
	bg slow_upload 1 mono "${SLOW_REPOS[1]}" "$CR/big1"
	bg slow_upload 2 mono "${SLOW_REPOS[2]}" "$CR/big2"
	bg slow_upload 3 post "${SLOW_REPOS[3]}" "$CR/big3"
	bg slow_upload 4 post "${SLOW_REPOS[4]}" "$CR/big4"
	bg slow_upload 5 chunked "${SLOW_REPOS[5]}" "$CR/big5"
	bg slow_upload 6 chunked "${SLOW_REPOS[6]}" "$CR/big6"
	bg manifest_writer 0
	bg manifest_writer 1
	bg mover
	bg blob_writer
	for ((i = 0; i < 1200; i++)); do
		[ "$(answered)" -ge "$1" ] && break
		sleep 0.1
	done
	[ "$(answered)" -ge "$1" ] ||
		fail "the writers had only $(answered) pushes answered after 120 s"
	assert_alive "under load before the kill"
	dray_kill9
	for i in "${BG_PIDS[@]}"; do
		wait "$i" 2>/dev/null || true
	done
	BG_PIDS=()
	dray_start
	verify_after_restart
}

round 10
round 40

# The interrupted blobs can be pushed again, and read back intact.
push_blob crash/slow0 "$CR/big0"
req GET "/v2/crash/slow0/blobs/$(digest_of "$CR/big0")"
assert_status 200
assert_body_file "$CR/big0"
if dray_only "final layout check"; then
	check_all_layouts "$WORK/data" >/dev/null
fi
dray_stop
pass
