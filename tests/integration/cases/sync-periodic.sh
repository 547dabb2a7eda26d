#!/bin/bash
# sync-periodic.sh - zot's sync extension, periodic (pollInterval): with
# Debian's docker-registry as one upstream and another dray as a second
# (Distribution 2.8 has no referrers API: its 404 is no failure and ends
# the asking for the run; the dray upstream serves one), every run lists the catalogs (paged two at a time
# by DRAY_TEST_SYNC_PAGE, following Link), and brings every tag the
# content filters let through under its local name (destination,
# stripPrefix), with the referrers of each. Checked: each allowed tag is
# here with the upstream's digest, excluded tags and unmatched
# repositories are not, the referrer came with its blobs, a later run
# transfers nothing (no blob or manifest GET upstream, "0 mirrored"), a
# tag moved upstream is followed by the next run, and SIGTERM stops the
# daemon cleanly between runs, and in the middle of one after the step
# under way.
. "$(dirname "$0")/../lib.sh"
need_mkimage

SRC=$WORK/tmp/src
A1=$("$MKIMAGE" "$SRC" a1 --layers 1 --layer-size 20000 --seed 41)
A2=$("$MKIMAGE" "$SRC" a2 --layers 1 --layer-size 20000 --seed 42)
A3=$("$MKIMAGE" "$SRC" a3 --layers 1 --layer-size 20000 --seed 43)
B1=$("$MKIMAGE" "$SRC" b1 --index --layers 1 --layer-size 20000 --seed 44)
G1=$("$MKIMAGE" "$SRC" g1 --layers 1 --layer-size 20000 --seed 45)
S1=$("$MKIMAGE" "$SRC" s1 --layers 1 --layer-size 20000 --seed 46)

# refmanifest SUBJECT SEED: a signature-like artifact manifest naming
# SUBJECT (a manifest of $SRC), written into $SRC's blobs; its digest.
refmanifest() {
	local subj=$1 sig=$WORK/tmp/sig-$2 empty m=$WORK/tmp/ref-$2 d
	printf '{}' >"$WORK/tmp/empty"
	empty=$(digest_of "$WORK/tmp/empty")
	cp "$WORK/tmp/empty" "$SRC/blobs/sha256/${empty#sha256:}"
	mkblob "$sig" 300 "$2"
	cp "$sig" "$SRC/blobs/sha256/$(sha256sum <"$sig" | cut -d' ' -f1)"
	mkmanifest "$m" \
		"$(jq -cn --arg d "$empty" '{mediaType: "application/vnd.oci.empty.v1+json", digest: $d, size: 2}')" \
		"$(desc application/vnd.example.sig "$sig")" -- \
		"$(jq -cn --arg d "$subj" --argjson s "$(filesize "$SRC/blobs/sha256/${subj#sha256:}")" \
			'{artifactType: "application/vnd.example.sig",
			  subject: {mediaType: "application/vnd.oci.image.manifest.v1+json",
			            digest: $d, size: $s}}')"
	d=$(digest_of "$m")
	cp "$m" "$SRC/blobs/sha256/${d#sha256:}"
	echo "$d"
}
RA=$(refmanifest "$A1" 47)
RS=$(refmanifest "$S1" 48)
# a multi-platform index whose first child is signed, not the index
M1=$("$MKIMAGE" "$SRC" m1 --index --layers 1 --layer-size 20000 --seed 50)
M1C=$(jq -r '.manifests[0].digest' "$SRC/blobs/sha256/${M1#sha256:}")
RM=$(refmanifest "$M1C" 51)

upstream_start dist
for t in v1:$A1 v2:$A2 dev:$A3; do up_put dist "$SRC" "${t#*:}" lib/alpha "${t%%:*}"; done
up_put dist "$SRC" "$RA" lib/alpha "$RA" # Distribution 2.8 takes it, lists no referrers
up_put dist "$SRC" "$B1" lib/beta v1
up_tag dist "$SRC" "$B1" lib/beta v1.1
up_tag dist "$SRC" "$B1" lib/beta test-1
up_put dist "$SRC" "$G1" src/team/gamma v1
up_tag dist "$SRC" "$G1" src/team/gamma v2
up_put dist "$SRC" "$G1" other/skipped v1
upstream_dray_start second </dev/null
up_put second "$SRC" "$S1" signed/app v1
up_put second "$SRC" "$RS" signed/app "$RS"
up_put second "$SRC" "$M1" signed/multi v1
up_put second "$SRC" "$RM" signed/multi "$RM"

sync_config "$WORK/cfg/none.json"
echo '{}' >"$WORK/cfg/none.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url dist)"]
        pollInterval: 1s
        onDemand: false
        content:
          - prefix: "lib/**"
            tags: {regex: "^v", excludeRegex: "^test"}
          - prefix: "/src/team/**"
            destination: /mirror
            stripPrefix: true
      - urls: ["$(up_url second)"]
        pollInterval: 1s
        content:
          - prefix: "signed/*"
EOF2
"$DRAY_BIN" verify "$CFG" >/dev/null
export DRAY_TEST_SYNC_PAGE=2
mark=$(log_mark)
dray_start
wait_log "$mark" "sync run done" "first mirror run"
first=$(tail -n +"$((mark + 1))" "$DAEMON_LOG" | grep -m1 "sync run done")
note "${first#*sync run done: }"
assert_true "first run: 5 repositories, none failed" grep -q '5 repositories (0 failed)' <<<"$first"
assert_true "first run: 8 tags mirrored, none failed" grep -q 'tags: 8 mirrored, 0 here already, 0 failed' <<<"$first"
assert_true "first run: 2 referrers, none failed" grep -q '2 referrers (0 failed)' <<<"$first"
assert_true "the catalog was read in pages of 2" [ "$(up_requests dist "GET /v2/_catalog\\?last=")" -ge 1 ]

# every allowed tag, with the upstream's digest; nothing else
here() { # here REPO TAG: the digest dray serves for REPO:TAG
	req HEAD "/v2/$1/manifests/$2" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
	hdr Docker-Content-Digest
}
assert_eq "$A1" "$(here lib/alpha v1)" "lib/alpha:v1"
assert_eq "$A2" "$(here lib/alpha v2)" "lib/alpha:v2"
assert_eq "$B1" "$(here lib/beta v1)" "lib/beta:v1 (an index)"
assert_eq "$B1" "$(here lib/beta v1.1)" "lib/beta:v1.1"
assert_eq "$G1" "$(here mirror/gamma v1)" "mirror/gamma:v1 from src/team/gamma"
assert_eq "$G1" "$(here mirror/gamma v2)" "mirror/gamma:v2 from src/team/gamma"
assert_eq "$S1" "$(here signed/app v1)" "signed/app:v1 from the dray upstream"
assert_eq "$(printf 'v1\nv2')" "$(layout_tags "$WORK/data/lib/alpha")" "lib/alpha: dev left out (regex)"
assert_eq "$(printf 'v1\nv1.1')" "$(layout_tags "$WORK/data/lib/beta")" "lib/beta: test-1 left out (excludeRegex)"
assert_true "other/skipped not mirrored" [ ! -e "$WORK/data/other" ]
assert_true "src/team/gamma only as mirror/gamma" [ ! -e "$WORK/data/src" ]
check_layout "$WORK/data/lib/beta"
for m in $(jq -r '.manifests[].digest' "$SRC/blobs/sha256/${B1#sha256:}"); do
	req HEAD "/v2/lib/beta/manifests/$m" -H "Accept: $ACCEPT_MANIFESTS"
	assert_status 200
done
# the referrer from the dray upstream, its blobs with it; none from 2.8
req GET "/v2/signed/app/referrers/$S1"
assert_status 200
assert_eq "$RS" "$(bjq -r '.manifests[].digest')" "signed/app:v1's referrer mirrored"
for b in $(jq -r '.config.digest, .layers[].digest' "$SRC/blobs/sha256/${RS#sha256:}"); do
	req HEAD "/v2/signed/app/blobs/$b"
	assert_status 200
done
# the referrer of the index's child, not of the index
assert_true "signed/multi's child's referrer stored" [ -s "$WORK/data/signed/multi/blobs/sha256/${RM#sha256:}" ]
req GET "/v2/signed/multi/referrers/$M1C"
assert_status 200
assert_eq "$RM" "$(bjq -r '.manifests[].digest')" "signed/multi:v1's child's referrer listed"
assert_true "2.8 was asked for referrers (404)" [ "$(up_requests dist "GET /v2/lib/alpha/referrers/")" -ge 1 ]
req HEAD "/v2/lib/alpha/manifests/$RA" -H "Accept: $ACCEPT_MANIFESTS"
assert_status 404

# a later run transfers nothing
blobs=$(up_requests dist "GET /v2/[^ ]*/blobs/")
gets=$(up_requests dist "GET /v2/[^ ]*/manifests/")
mark=$(log_mark)
wait_log "$mark" "sync run done" "second mirror run"
again=$(tail -n +"$((mark + 1))" "$DAEMON_LOG" | grep -m1 "sync run done")
assert_true "later run: nothing mirrored" grep -q 'tags: 0 mirrored, 8 here already, 0 failed' <<<"$again"
assert_true "later run: nothing stored" grep -q '0 referrers (0 failed); 0 manifests, 0 blobs stored' <<<"$again"
assert_eq "$blobs" "$(up_requests dist "GET /v2/[^ ]*/blobs/")" "no blob GET upstream in a later run"
assert_eq "$gets" "$(up_requests dist "GET /v2/[^ ]*/manifests/")" "no manifest GET upstream in a later run"
# 2.8's 404 to the referrers API ends the asking for the run: one per run
refs=$(up_requests dist "GET /v2/[^ ]*/referrers/")
runs=$(grep -c "sync run done" "$DAEMON_LOG")
assert_true "one referrers GET per run to 2.8 ($refs in $runs runs)" [ "$refs" -le "$((runs + 1))" ]

# a tag moved upstream is followed
up_tag dist "$SRC" "$A3" lib/alpha v2
mark=$(log_mark)
wait_log "$mark" "sync run done: .*tags: 1 mirrored" "the run after lib/alpha:v2 moved"
assert_eq "$A3" "$(here lib/alpha v2)" "lib/alpha:v2 follows upstream"
assert_eq "$A1" "$(here lib/alpha v1)" "lib/alpha:v1 unchanged"
check_layout "$WORK/data/lib/alpha"

dray_stop

# SIGTERM in the middle of a run: it ends after the step under way (a
# blob of lib/alpha:v3, held by DRAY_TEST_HOLD), before the next
# repository, and the daemon exits 0
A4=$("$MKIMAGE" "$SRC" a4 --layers 1 --layer-size 20000 --seed 49)
up_put dist "$SRC" "$A4" lib/alpha v3
export DRAY_TEST_HOLD="syncbody:$WORK/tmp/go"
mark=$(log_mark)
dray_start
wait_log "$mark" "test hold: syncbody" "a blob of lib/alpha:v3 under way"
kill -TERM "$DRAY_PID"
wait_log "$mark" "shutting down" "SIGTERM taken"
touch "$WORK/tmp/go"
pid=$DRAY_PID rc=0
wait "$pid" || rc=$?
DRAY_PID=
assert_eq 0 "$rc" "exit status after SIGTERM in a run"
stopped=$(tail -n +"$((mark + 1))" "$DAEMON_LOG" | grep -m1 "sync run " || true)
assert_true "the run stopped before the other repositories: $stopped" \
	grep -Eq "sync run stopped: [0-3] repositories" <<<"$stopped"
pass "5 repositories mirrored every 1 s from 2 upstreams (filters, destination, referrers); a later run transfers nothing; a moved tag followed"
