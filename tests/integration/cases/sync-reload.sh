#!/bin/bash
# sync-reload.sh - SIGHUP applies a changed extensions.sync pollInterval
# (the registry, polled every hour at start, is mirrored again at once
# and then every second, bringing a tag pushed upstream meanwhile); what
# cannot change live (a registry's content, the registries' number) is
# named in a warning and stays as it was.
. "$(dirname "$0")/../lib.sh"
require_dray "the sync extension"

upstream_dray_start up </dev/null
URL=$(up_url up)
push_image lib/app v1 1 3000
V1=$MANIFEST_DIGEST
push_image other/app v1 1 3000

echo '{}' >"$WORK/cfg/creds.json"
# registry POLL [CONTENT]: the config with one registry
registry() {
	sync_config "$WORK/cfg/creds.json"
	cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        pollInterval: $1
        content: [{prefix: "${2:-lib/**}"}]
EOF2
}
registry 1h
mark=$(log_mark)
dray_start
wait_log "$mark" "sync run done" "the mirror run at start"
assert_eq "$V1" "$(layout_tag_digest "$WORK/data/lib/app" v1)" "lib/app:v1 mirrored at start"

URL=$(up_url up)
push_image lib/app v2 1 3000
V2=$MANIFEST_DIGEST
registry 1s "**"
mark=$(log_mark)
dray_reload "applied" "SIGHUP with pollInterval 1s"
wait_log "$mark" "registries\\[0\\]\\.pollInterval is 1000 ms now" "the new pollInterval in force"
wait_log "$mark" "extensions\\.sync\\.registries\\[0\\]\\.content changed but needs a restart" \
	"the content change named"
wait_log "$mark" "sync run done: .*tags: 1 mirrored" "a run after the reload"
assert_eq "$V2" "$(layout_tag_digest "$WORK/data/lib/app" v2)" "lib/app:v2 mirrored after SIGHUP"
assert_true "other/app not mirrored: the content in force is lib/**" [ ! -e "$WORK/data/other" ]
wait_log_n "$mark" "sync run done" 2 "runs every second from now on"

# a registry more: refused as a whole for sync, named
registry 1s
cat >>"$CFG" <<EOF2
      - urls: ["$(up_url up)"]
        content: [{prefix: "other/**"}]
EOF2
dray_reload "applied" "SIGHUP with a registry more"
wait_log "$mark" "extensions\\.sync\\.registries \\(2 now, 1 in force\\) changed but needs a restart" \
	"the registries' number named"
pass "SIGHUP: pollInterval 1h -> 1s applied (a run at once, then every second); content and registries named as needing a restart"
