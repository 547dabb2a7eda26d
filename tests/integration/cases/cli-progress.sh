#!/bin/bash
# cli-progress.sh - the command line a person uses: dray gc, scrub, fsck
# and import show their progress on a terminal (script(1)'s pty) as one
# line rewritten in place (\r, ESC[K: items done of total, bytes) and end
# with a one-line summary (items, bytes, time); without a terminal, plain
# lines and no \r; -q shows none. Every command's --help (and dray help
# COMMAND) exits 0 and lists its options, every option the source parses
# is documented and accepted, an unknown option exits 2 naming it.
# cmake --install into a DESTDIR installs bin/dray and
# share/man/man1/dray.1, which groff and man render without a warning.
. "$(dirname "$0")/../lib.sh"
require_dray "the dray command line"
need_mkimage

CR=$'\r'
ESC=$'\033'

"$MKIMAGE" "$WORK/tmp/img" v1 --layers 3 --layer-size 300000 --seed 71 >/dev/null
"$MKIMAGE" "$WORK/tmp/img" v2 --layers 2 --layer-size 2000 --seed 72 >/dev/null
dray_config

# assert_tty_progress TITLE UNIT: $TTY_OUT has TITLE's line drawn in place.
assert_tty_progress() {
	assert_true "dray $1 drew no progress line on the terminal: $(cat -v <<<"$TTY_OUT")" \
		grep -Eq "${CR}$1: [0-9]+/[0-9]+ $2 \([0-9]+%\)[^$CR]*${ESC}\[K${CR}" <<<"$TTY_OUT"
	assert_true "dray $1 did not erase its line before the summary" \
		grep -q "${CR}${ESC}\[K" <<<"$TTY_OUT"
}

# assert_plain_progress TITLE UNIT: $CLI_OUT has TITLE's plain lines.
assert_plain_progress() {
	assert_true "dray $1 printed no plain progress line: $CLI_OUT" \
		grep -Eq "^$1: [0-9]+/[0-9]+ $2 \([0-9]+%\)" <<<"$CLI_OUT"
	assert_true "dray $1 wrote the last line: $CLI_OUT" \
		grep -Eq "^$1: ([0-9]+)/\1 $2 \(100%\)" <<<"$CLI_OUT"
	assert_true "dray $1 wrote a \\r or an escape without a terminal" \
		bash -c '! grep -q "[$1$2]" <<<"$3"' _ "$CR" "$ESC" "$CLI_OUT"
}

# --- import: on a terminal, then plain, then quiet
dray_tty import "$WORK/tmp/img" tty/app --config "$CFG"
assert_cli_rc 0 "import on a terminal"
assert_tty_progress import descriptors
assert_true "import's line has bytes of a total" \
	grep -Eq "import: [0-9]+/[0-9]+ descriptors \([0-9]+%\), [0-9.]+ [KM]?i?B of [0-9.]+ [KM]iB" <<<"$TTY_OUT"
assert_true "import's summary (items, bytes, time): $(cat -v <<<"$TTY_OUT")" \
	grep -Eq "imported .* into tty/app: 2 manifests, [0-9]+ blobs stored, 0 already present; [0-9.]+ [KM]iB in [0-9.]+ s" <<<"$TTY_OUT"
dray_cli import "$WORK/tmp/img" plain/app --config "$CFG"
assert_cli_rc 0 "import without a terminal"
assert_plain_progress import descriptors
dray_cli import "$WORK/tmp/img" quiet/app:v2 --config "$CFG" -q
assert_cli_rc 0 "import -q"
assert_true "import -q showed progress: $CLI_OUT" \
	bash -c '! grep -q "^import: " <<<"$1"' _ "$CLI_OUT"
assert_true "import -q left out the summary" grep -q "^imported " <<<"$CLI_OUT"

# --- scrub, fsck, gc: the same, each with its summary
dray_tty scrub "$CFG"
assert_cli_rc 0 "scrub on a terminal"
assert_tty_progress scrub blobs
assert_true "scrub's summary: $(cat -v <<<"$TTY_OUT")" \
	grep -Eq "scrub: [1-9][0-9]* blobs checked, 0 problems; [0-9.]+ [KM]iB in [0-9.]+ s" <<<"$TTY_OUT"
dray_cli scrub "$CFG"
assert_plain_progress scrub blobs

dray_tty fsck "$CFG"
assert_cli_rc 0 "fsck on a terminal"
assert_tty_progress fsck repositories
assert_true "fsck's summary: $(cat -v <<<"$TTY_OUT")" \
	grep -Eq "fsck: 3 repositories checked, 0 disagreements in [0-9.]+ s" <<<"$TTY_OUT"
dray_cli fsck "$CFG"
assert_plain_progress fsck repositories

# Every manifest is tagged: a pass (dry or not) removes nothing.
dray_tty gc "$CFG" --dry-run
assert_cli_rc 0 "gc on a terminal"
assert_tty_progress gc repositories
assert_true "gc's summary: $(cat -v <<<"$TTY_OUT")" \
	grep -Eq "gc \(dry run\): 3 repositories in [0-9.]+ s, would remove 0 tags, 0 manifests, 0 blobs, 0 store copies \(0 B\), 0 uploads" <<<"$TTY_OUT"
dray_cli gc "$CFG"
assert_cli_rc 0 "gc"
assert_plain_progress gc repositories
assert_true "gc's summary: $CLI_OUT" \
	grep -Eq "^gc: 3 repositories in [0-9.]+ s, removed [0-9]+ tags" <<<"$CLI_OUT"

# --- help: every command, every option
dray_cli --help
assert_cli_rc 0 "dray --help"
HELP=$CLI_OUT
CMDS=$(sed -n '/^commands:/,/^$/p' <<<"$HELP" | awk 'NF && !/^commands:/ {print $1}')
assert_eq "serve verify gc scrub fsck import sync config version help" "$(echo $CMDS)" \
	"the commands dray --help lists"
ALL_HELP=$HELP
for c in $CMDS; do
	dray_cli "$c" --help
	assert_cli_rc 0 "dray $c --help"
	assert_true "dray $c --help has no usage line: $CLI_OUT" grep -q "^usage: dray $c" <<<"$CLI_OUT"
	assert_true "dray $c --help has no exit status" grep -q "^exit status:" <<<"$CLI_OUT"
	H=$CLI_OUT
	ALL_HELP+=$'\n'$H
	# The options it documents are the ones it accepts: all at once.
	ARGS=()
	while read -r opt val; do
		[ "$opt" = --help ] || ARGS+=("$opt" ${val:+x})
	done < <(sed -n '/^options:/,/^$/p' <<<"$H" | grep -oE -- '--[a-z-]+( [A-Z_]+)?')
	if [ "${#ARGS[@]}" -gt 0 ]; then
		dray_cli "$c" "${ARGS[@]}" --help
		assert_cli_rc 0 "dray $c ${ARGS[*]} --help (documented, so accepted)"
	fi
done
# One parser serves every command: an unknown option is named, exit 2.
for c in serve gc import; do
	dray_cli "$c" --no-such-option
	assert_cli_rc 2 "dray $c --no-such-option"
	assert_true "the unknown option is not named: $CLI_OUT" \
		grep -q "dray $c: unknown option '--no-such-option'" <<<"$CLI_OUT"
done
# Every option the source parses is documented somewhere.
OPTS=$(grep -oE '"--[a-z][a-z-]*"' "$DRAY_SRC/daemon/main.c" | tr -d '"' | sort -u)
assert_true "no options found in daemon/main.c" [ -n "$OPTS" ]
for o in $OPTS; do
	assert_true "option $o of daemon/main.c is in no --help" \
		grep -qe "$o\b" <<<"$ALL_HELP"
done
# dray help COMMAND is COMMAND --help.
dray_cli help gc
assert_cli_rc 0 "dray help gc"
H=$CLI_OUT
dray_cli gc --help
assert_eq "$H" "$CLI_OUT" "dray help gc and dray gc --help"
dray_cli help no-such-command
assert_cli_rc 2 "dray help no-such-command"
dray_cli --no-such-option
assert_cli_rc 2 "dray --no-such-option"
dray_cli gc
assert_cli_rc 2 "dray gc without CONFIG"
dray_cli serve --port-file
assert_cli_rc 2 "dray serve --port-file without FILE"
assert_true "the missing value is not named: $CLI_OUT" grep -q -- "--port-file' needs a value" <<<"$CLI_OUT"

# --- cmake --install: the binary and the man page, which renders cleanly
DEST=$WORK/tmp/dest
DESTDIR=$DEST cmake --install "$DRAY_BUILD" --prefix /usr/local >"$WORK/logs/install.log" 2>&1 ||
	fail "cmake --install failed: $(tail -n 5 "$WORK/logs/install.log")"
assert_true "bin/dray not installed" [ -x "$DEST/usr/local/bin/dray" ]
MAN=$DEST/usr/local/share/man/man1/dray.1
assert_true "share/man/man1/dray.1 not installed" [ -s "$MAN" ]
GROFF=$(groff -man -ww -z "$MAN" 2>&1) || fail "groff failed on dray.1: $GROFF"
assert_eq "" "$GROFF" "groff -man -ww warnings"
MANERR=$(MANWIDTH=80 man -l "$MAN" 2>&1 >/dev/null)
assert_eq "" "$MANERR" "man -l warnings"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION SIGNALS FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	assert_true "dray.1 has no section $s" grep -q "^\.SH \"\?$s\"\?$" "$MAN"
done
# The page names every command and option too.
for o in $OPTS $CMDS; do
	assert_true "dray.1 does not name $o" grep -qe "$(sed 's/-/\\\\-/g' <<<"$o")" "$MAN"
done
pass
