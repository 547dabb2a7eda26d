#!/bin/bash
# sync-referrers.sh - referrers on demand: GET /v2/<name>/referrers/<d>
# in a repository an onDemand registry maps asks the upstream's
# referrers API when nothing here refers to <d>, or once per
# tagRecheckInterval, stores the manifests it lists (and their blobs),
# then answers from here. Upstreams: another dray process (Distribution
# 2.8 has no referrers API), and Debian's docker-registry, whose 404 is
# no error.
#   - lib/** (1h): the first GET (the subject not even here) brings the
#     upstream's referrer, stored with its blobs; a referrer added
#     upstream is not asked for within the hour; artifactType filters
#     what is here.
#   - fast/** (1ms): the referrer added upstream shows on the next GET.
#   - dist/** (docker-registry): 404 upstream, an empty list here.
#   - the upstream down: what is here answers, the failure logged once.
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"

upstream_dray_start ref </dev/null
upstream_start dist
printf '{}' >"$WORK/tmp/empty.json"

# artifact REPO NAME TYPE: push to $URL an artifact of TYPE referring to
# $SUBJ, its one layer NAME's JSON; sets ART (digest) and ART_LAYER
artifact() {
	printf '{"name":"%s"}' "$2" >"$WORK/tmp/$2.json"
	push_blob "$1" "$WORK/tmp/$2.json"
	ART_LAYER=$BLOB_DIGEST
	mkmanifest "$WORK/tmp/$2.man" "$(desc "$MT_OCI_EMPTY" "$WORK/tmp/empty.json")" \
		"$(desc application/json "$WORK/tmp/$2.json")" -- \
		"$(jq -cn --argjson s "$SUBJ" --arg t "$3" '{artifactType: $t, subject: $s}')"
	ART=$(digest_of "$WORK/tmp/$2.man")
	push_manifest "$1" "$ART" "$WORK/tmp/$2.man" "$MT_OCI_MANIFEST"
}
declare -A S SBJ SBOM SBOML SIG
URL=$(up_url ref)
for r in lib fast; do
	push_image $r/app v1 1 2000
	push_blob $r/app "$WORK/tmp/empty.json"
	S[$r]=$MANIFEST_DIGEST
	SBJ[$r]=$(desc "$MT_OCI_MANIFEST" "$IMG_DIR/manifest.json")
	SUBJ=${SBJ[$r]} artifact $r/app sbom-$r application/vnd.example.sbom.v1
	SBOM[$r]=$ART
	SBOML[$r]=$ART_LAYER
done

echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url ref)"]
        onDemand: true
        tagRecheckInterval: 1h
        content: [{prefix: "lib/**"}]
      - urls: ["$(up_url ref)"]
        onDemand: true
        tagRecheckInterval: 1ms
        content: [{prefix: "fast/**"}]
      - urls: ["$(up_url dist)"]
        onDemand: true
        content: [{prefix: "dist/**"}]
EOF2
dray_start

# referrers REPO DIGEST [QUERY]: GET the referrers through dray, 200;
# prints the digests listed, sorted, on one line
referrers() {
	req GET "/v2/$1/referrers/$2${3:+?$3}"
	assert_status 200
	assert_content_type "$MT_OCI_INDEX"
	bjq -r '[.manifests[].digest] | sort | join(" ")'
}
asked() { up_settled ref "GET /v2/$1/referrers/"; }

# --- nothing here (not even the subject): asked, stored, answered
assert_eq "${SBOM[lib]}" "$(referrers lib/app "${S[lib]}")" "lib/app: the upstream's referrer"
assert_eq "application/vnd.example.sbom.v1" "$(bjq -r '.manifests[0].artifactType')" "its artifactType"
for f in "${SBOM[lib]}" "${SBOML[lib]}" "$EMPTY_DIGEST"; do
	assert_true "$f stored in lib/app" [ -f "$WORK/data/lib/app/blobs/sha256/${f#sha256:}" ]
done
check_layout "$WORK/data/lib/app"
assert_eq "${SBOM[fast]}" "$(referrers fast/app "${S[fast]}")" "fast/app: the upstream's referrer"
assert_eq 1 "$(asked lib/app)" "lib/app referrers asked once"

# --- a second referrer upstream
HERE=$URL
URL=$(up_url ref)
for r in lib fast; do
	SUBJ=${SBJ[$r]} artifact $r/app sig-$r application/vnd.example.sig.v1
	SIG[$r]=$ART
done
URL=$HERE
assert_eq "${SBOM[lib]}" "$(referrers lib/app "${S[lib]}")" "lib/app within the hour: what is here"
assert_eq "" "$(referrers lib/app "${S[lib]}" artifactType=application/vnd.example.sig.v1)" "filtered here"
assert_eq "${SBOM[lib]}" "$(referrers lib/app "${S[lib]}" artifactType=application/vnd.example.sbom.v1)" "filtered here (sbom)"
assert_eq 1 "$(asked lib/app)" "lib/app not asked again within the hour"
want=$(printf '%s\n' "${SBOM[fast]}" "${SIG[fast]}" | sort | tr '\n' ' ')
assert_eq "${want% }" "$(referrers fast/app "${S[fast]}")" "fast/app: the new referrer after the interval"
assert_eq 2 "$(asked fast/app)" "fast/app asked twice"
assert_true "the new referrer is stored" [ -f "$WORK/data/fast/app/blobs/sha256/${SIG[fast]#sha256:}" ]

# --- an upstream without the referrers API: its 404 is no error
M=$(log_mark)
assert_eq "" "$(referrers dist/app "${S[lib]}")" "dist/app: none"
assert_eq 1 "$(up_settled dist "GET /v2/dist/app/referrers/")" "docker-registry asked"
assert_true "docker-registry 2.8 has no referrers API (404)" \
	grep -Eq "\"GET /v2/dist/app/referrers/[^\"]*\" 404 " "$WORK/up/dist/log"
assert_true "no warning for a 404" bash -c "! tail -n +$((M + 1)) '$DAEMON_LOG' | grep -q 'cannot ask'"

# --- the upstream down: what is here answers
upstream_stop ref
M=$(log_mark)
assert_eq "${want% }" "$(referrers fast/app "${S[fast]}")" "fast/app with the upstream down"
assert_eq "${want% }" "$(referrers fast/app "${S[fast]}")" "fast/app with the upstream down, again"
assert_eq "" "$(referrers lib/app "$EMPTY_DIGEST")" "nothing here, upstream down: none"
assert_eq 1 "$(tail -n +$((M + 1)) "$DAEMON_LOG" | grep -c "cannot ask for the referrers of fast/app@${S[fast]}")" \
	"the failure logged once"

dray_stop
pass "referrers on demand: asked when none here or once per interval, stored with their blobs, filtered here; 404 upstream is none; upstream down: what is here"
