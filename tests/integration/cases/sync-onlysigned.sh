#!/bin/bash
# sync-onlysigned.sh - zot's onlySigned on a mirror run (dray sync, from
# another dray): a tag comes only if its manifest has a signature
# upstream, cosign's tag sha256-<hex>.sig or a referrer whose
# artifactType is a cosign or notation signature's. cosign's tags come
# too; a tag whose only referrer is an SBOM, and a tag with nothing, are
# left out and counted. (onlySigned with onDemand is refused:
# unit/sync.)
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"

upstream_dray_start up </dev/null
URL=$(up_url up)
printf '{}' >"$WORK/tmp/empty.json"
# artifact NAME TYPE SUBJECT-DESC [TAG]: push to app an artifact of TYPE
# (referring to SUBJECT-DESC, if not "") as TAG or by digest; sets ART
artifact() {
	local extra
	printf '{"name":"%s"}' "$1" >"$WORK/tmp/$1.json"
	push_blob app "$WORK/tmp/$1.json"
	extra=$(jq -cn --arg t "$2" '{artifactType: $t}')
	[ -z "$3" ] || extra=$(jq -cn --argjson s "$3" --arg t "$2" '{artifactType: $t, subject: $s}')
	mkmanifest "$WORK/tmp/$1.man" "$(desc "$MT_OCI_EMPTY" "$WORK/tmp/empty.json")" \
		"$(desc application/json "$WORK/tmp/$1.json")" -- "$extra"
	ART=$(digest_of "$WORK/tmp/$1.man")
	push_manifest app "${4:-$ART}" "$WORK/tmp/$1.man" "$MT_OCI_MANIFEST"
}
declare -A D SUBJ
for t in cosign notation sbomonly unsigned; do
	push_image app $t 1 2000
	D[$t]=$MANIFEST_DIGEST
	SUBJ[$t]=$(desc "$MT_OCI_MANIFEST" "$IMG_DIR/manifest.json")
done
push_blob app "$WORK/tmp/empty.json"
C=${D[cosign]}
artifact csig application/vnd.dev.cosign.artifact.sig.v1+json "" "sha256-${C#sha256:}.sig"
CSIG=$ART
artifact nsig application/vnd.cncf.notary.signature "${SUBJ[notation]}"
artifact sbom application/spdx+json "${SUBJ[sbomonly]}"

echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        onlySigned: true
EOF2
dray_cli sync "$CFG" -q
assert_cli_rc 0 "dray sync with onlySigned"
assert_eq "${D[cosign]}" "$(layout_tag_digest "$WORK/data/app" cosign)" "app:cosign (cosign's tag)"
assert_eq "${D[notation]}" "$(layout_tag_digest "$WORK/data/app" notation)" "app:notation (a notation referrer)"
assert_eq "$CSIG" "$(layout_tag_digest "$WORK/data/app" "sha256-${C#sha256:}.sig")" "cosign's signature tag"
assert_eq "$(printf 'cosign\nnotation\nsha256-%s.sig' "${C#sha256:}")" "$(layout_tags "$WORK/data/app" | sort)" \
	"sbomonly and unsigned left out"
assert_true "counted: $CLI_OUT" grep -q "tags: 3 mirrored, 0 here already, 0 failed, 2 unsigned left out" <<<"$CLI_OUT"
assert_true "summary: $CLI_OUT" grep -Eq "^sync: 1 repositories, 3 tags mirrored, 0 here already, 2 unsigned left out, " <<<"$CLI_OUT"
assert_true "named: $CLI_OUT" grep -q "app:unsigned (${D[unsigned]}) has no signature upstream" <<<"$CLI_OUT"

pass "onlySigned: cosign-tagged and notation-signed tags mirrored, an SBOM-only and an unsigned tag left out"
