#!/bin/bash
# api-referrers.sh - "Listing Referrers" (end-12a, end-12b) and "Pushing
# Manifests with Subject": OCI-Subject on PUT, subject may not exist yet,
# the referrers index (Content-Type, artifactType taken from the manifest
# or its config mediaType, omitted for an index without one, annotations
# copied, size/digest/mediaType right), artifactType filtering with
# OCI-Filters-Applied, empty lists instead of 404, 400 on a bad digest,
# per-repository scope, removal on delete, and the same answers after a
# restart with dray's internal index removed (DESIGN invariant 2).
# Distribution 2.8 has no referrers API: this case fails against it.
. "$(dirname "$0")/../lib.sh"

dray_start
REPO=ref/app

push_image "$REPO" v1 1 2000
S=$MANIFEST_DIGEST
SSIZE=$(filesize "$IMG_DIR/manifest.json")
SUBJ=$(jq -cn --arg d "$S" --argjson s "$SSIZE" --arg mt "$MT_OCI_MANIFEST" \
	'{mediaType: $mt, digest: $d, size: $s}')
printf '{}' >"$WORK/tmp/empty.json"
push_blob "$REPO" "$WORK/tmp/empty.json"
assert_eq "$EMPTY_DIGEST" "$BLOB_DIGEST" "digest of the empty descriptor"
EMPTY=$(desc "$MT_OCI_EMPTY" "$WORK/tmp/empty.json")

# A1: artifact manifest with artifactType, empty config, one sbom layer.
printf '{"spdxVersion":"SPDX-2.3","name":"x"}' >"$WORK/tmp/sbom.json"
push_blob "$REPO" "$WORK/tmp/sbom.json"
mkmanifest "$WORK/tmp/a1" "$EMPTY" "$(desc application/spdx+json "$WORK/tmp/sbom.json")" -- \
	"$(jq -cn --argjson s "$SUBJ" '{artifactType: "application/vnd.example.sbom.v1",
		subject: $s, annotations: {"org.opencontainers.image.created":
		"2024-01-01T14:42:55Z", "org.example.sbom.format": "json"}}')"
A1=$(digest_of "$WORK/tmp/a1")
push_manifest "$REPO" "$A1" "$WORK/tmp/a1" "$MT_OCI_MANIFEST"
assert_header OCI-Subject "$S"

# A2: no artifactType: the referrers entry takes the config's mediaType.
printf '{"sig":"abcd"}' >"$WORK/tmp/sigcfg.json"
push_blob "$REPO" "$WORK/tmp/sigcfg.json"
mkmanifest "$WORK/tmp/a2" "$(desc application/vnd.example.sig.config.v1+json "$WORK/tmp/sigcfg.json")" \
	"$EMPTY" -- "$(jq -cn --argjson s "$SUBJ" '{subject: $s,
		annotations: {"org.example.signature.fingerprint": "abcd"}}')"
A2=$(digest_of "$WORK/tmp/a2")
push_manifest "$REPO" sig "$WORK/tmp/a2" "$MT_OCI_MANIFEST"
assert_header OCI-Subject "$S"

# A3: an index with artifactType and a subject.
A1DESC=$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/a1")
jq -cnj --argjson s "$SUBJ" --argjson m "$A1DESC" --arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, artifactType: "application/vnd.example.bundle.v1",
	  manifests: [$m], subject: $s, annotations: {"org.example.kind": "bundle"}}' \
	>"$WORK/tmp/a3"
A3=$(digest_of "$WORK/tmp/a3")
push_manifest "$REPO" "$A3" "$WORK/tmp/a3" "$MT_OCI_INDEX"
if dray_only "OCI-Subject on an index with subject (contract)"; then
	assert_header OCI-Subject "$S"
fi

# A4: an index without artifactType: the entry has no artifactType.
jq -cnj --argjson s "$SUBJ" --argjson m "$A1DESC" --arg mt "$MT_OCI_INDEX" \
	'{schemaVersion: 2, mediaType: $mt, manifests: [$m], subject: $s,
	  annotations: {"org.example.kind": "plain-index"}}' >"$WORK/tmp/a4"
A4=$(digest_of "$WORK/tmp/a4")
push_manifest "$REPO" "$A4" "$WORK/tmp/a4" "$MT_OCI_INDEX"

# expected_entry FILE MEDIATYPE ARTIFACTTYPE|"" -> the descriptor JSON
expected_entry() {
	jq -cn --arg mt "$2" --arg d "$(digest_of "$1")" --argjson s "$(filesize "$1")" \
		--arg at "$3" --argjson ann "$(jq -c '.annotations // {}' "$1")" \
		'{mediaType: $mt, digest: $d, size: $s} + (if $at == "" then {} else {artifactType: $at} end)
		 + {annotations: $ann}'
}
E1=$(expected_entry "$WORK/tmp/a1" "$MT_OCI_MANIFEST" application/vnd.example.sbom.v1)
E2=$(expected_entry "$WORK/tmp/a2" "$MT_OCI_MANIFEST" application/vnd.example.sig.config.v1+json)
E3=$(expected_entry "$WORK/tmp/a3" "$MT_OCI_INDEX" application/vnd.example.bundle.v1)
E4=$(expected_entry "$WORK/tmp/a4" "$MT_OCI_INDEX" "")

# check_referrers DIGEST EXPECTED-ENTRY... : the referrers response holds
# exactly these descriptors (any order; extra fields such as platform are
# tolerated, the listed ones must match exactly).
check_referrers_body() {
	local want
	want=$(printf '%s\n' "$@" | jq -sc 'sort_by(.digest)')
	assert_content_type "$MT_OCI_INDEX"
	assert_json '.schemaVersion == 2' "schemaVersion 2"
	assert_json ".mediaType == \"$MT_OCI_INDEX\"" "mediaType is the image index"
	assert_json '.manifests | type == "array"' "manifests is a list"
	assert_json "([.manifests[] | {mediaType, digest, size}
		+ (if has(\"artifactType\") then {artifactType} else {} end)
		+ {annotations: (.annotations // {})}] | sort_by(.digest)) == $want" \
		"referrers descriptors"
}

req GET "/v2/$REPO/referrers/$S"
assert_status 200
check_referrers_body "$E1" "$E2" "$E3" "$E4"
assert_json '[.manifests[] | select(.digest == "'"$A4"'") | has("artifactType")] == [false]' \
	"artifactType omitted for an index without one"

# --- filtering
req GET "/v2/$REPO/referrers/$S?artifactType=application/vnd.example.sbom.v1"
assert_status 200
assert_header OCI-Filters-Applied artifactType
check_referrers_body "$E1"
req GET "/v2/$REPO/referrers/$S?artifactType=application/vnd.example.sig.config.v1%2Bjson"
assert_status 200
assert_header OCI-Filters-Applied artifactType
check_referrers_body "$E2"
req GET "/v2/$REPO/referrers/$S?artifactType=application/vnd.example.none"
assert_status 200
assert_header OCI-Filters-Applied artifactType
check_referrers_body

# --- no referrers: an empty list, never 404
req GET "/v2/$REPO/referrers/$A1"
assert_status 200
check_referrers_body
req GET "/v2/$REPO/referrers/sha256:$(printf '%064d' 7)"
assert_status 200
check_referrers_body

# --- the subject may be pushed after its referrer
push_image ref/later base 1 1500
mkblob "$WORK/tmp/later-layer" 900
push_blob ref/later "$WORK/tmp/later-layer"
mkconfig "$WORK/tmp/later-config" "$WORK/tmp/later-layer"
push_blob ref/later "$WORK/tmp/later-config"
mkmanifest "$WORK/tmp/later-subject" "$(desc "$MT_OCI_CONFIG" "$WORK/tmp/later-config")" \
	"$(desc "$MT_OCI_LAYER" "$WORK/tmp/later-layer")"
LS=$(digest_of "$WORK/tmp/later-subject")
push_blob ref/later "$WORK/tmp/empty.json"
mkmanifest "$WORK/tmp/a5" "$EMPTY" "$EMPTY" -- "$(jq -cn \
	--argjson s "$(desc "$MT_OCI_MANIFEST" "$WORK/tmp/later-subject")" \
	'{artifactType: "application/vnd.example.early", subject: $s}')"
A5=$(digest_of "$WORK/tmp/a5")
push_manifest ref/later "$A5" "$WORK/tmp/a5" "$MT_OCI_MANIFEST"
assert_header OCI-Subject "$LS"
E5=$(expected_entry "$WORK/tmp/a5" "$MT_OCI_MANIFEST" application/vnd.example.early)
req GET "/v2/ref/later/referrers/$LS"
assert_status 200
check_referrers_body "$E5"
push_manifest ref/later later "$WORK/tmp/later-subject" "$MT_OCI_MANIFEST"
req GET "/v2/ref/later/referrers/$LS"
assert_status 200
check_referrers_body "$E5"

# --- referrers are per repository
req GET "/v2/ref/later/referrers/$S"
assert_status 200
check_referrers_body

# --- a malformed digest is a 400
for bad in sha256:xyz notadigest "sha256:$(printf '%063d' 0)"; do
	req GET "/v2/$REPO/referrers/$bad"
	assert_status 400
done

# --- deleting a referrer removes it from the list
req DELETE "/v2/$REPO/manifests/$A2"
assert_status 202
req GET "/v2/$REPO/referrers/$S"
assert_status 200
check_referrers_body "$E1" "$E3" "$E4"

# --- the same answers after a restart, and after losing the internal
# index (the layouts are the source of truth)
dray_stop
dray_start
req GET "/v2/$REPO/referrers/$S"
assert_status 200
check_referrers_body "$E1" "$E3" "$E4"
if dray_only "rebuild from layouts"; then
	dray_stop
	check_layout "$WORK/data/$REPO"
	check_layout "$WORK/data/ref/later"
	# Untagged manifests are recorded in index.json, or a rebuild from
	# the layout could not find them.
	for d in "$A1" "$A3" "$A4"; do
		assert_eq 1 "$(jq --arg d "$d" '[.manifests[] | select(.digest == $d)] | length' \
			"$WORK/data/$REPO/index.json")" "index.json lists untagged manifest $d"
	done
	rm -rf "$WORK/data/.dray"
	dray_start
	req GET "/v2/$REPO/referrers/$S"
	assert_status 200
	check_referrers_body "$E1" "$E3" "$E4"
	req GET "/v2/$REPO/referrers/$S?artifactType=application/vnd.example.bundle.v1"
	assert_status 200
	assert_header OCI-Filters-Applied artifactType
	check_referrers_body "$E3"
	req GET "/v2/ref/later/referrers/$LS"
	assert_status 200
	check_referrers_body "$E5"
fi

dray_stop
pass
