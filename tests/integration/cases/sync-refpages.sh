#!/bin/bash
# sync-refpages.sh - referrers on demand read every page of an upstream's
# referrers list: tests/tools/badupstream lists one referrer of
# sha256:aaa...a per page, the first page's Link rel="next" naming the
# second. A GET of the referrers here brings both (with their config
# blob) and lists both.
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"

SUBJ=sha256:$(printf 'a%.0s' {1..64})
P1=sha256:50e3b9b4185d2cb39f28a3d6ae0bda4a11c1bcb29df1561604f98a4d44b75a0a
P2=sha256:9ebe326403503548f9218db66ecb9942192bb82324ae7f65f0d9d19d1bc11242
badupstream_start bad
echo '{}' >"$WORK/cfg/creds.json"
sync_config "$WORK/cfg/creds.json"
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url bad)"]
        onDemand: true
        content: [{prefix: "paged/**"}]
EOF2
dray_start

req GET "/v2/paged/app/referrers/$SUBJ"
assert_status 200
assert_eq "$(printf '%s\n%s' "$P1" "$P2")" "$(bjq -r '.manifests[].digest' | sort)" \
	"both pages' referrers listed here"
for d in "$P1" "$P2"; do
	assert_true "$d stored" [ -s "$WORK/data/paged/app/blobs/sha256/${d#sha256:}" ]
done
assert_true "the second page was asked for" \
	[ "$(grep -c "GET /v2/paged/app/referrers/$SUBJ 200" "$WORK/up/bad/log")" -ge 2 ]
pass "referrers on demand: both pages of the upstream's list brought and listed"
