#!/bin/bash
# cli.sh - the command line: `dray verify CONFIG` exits 0 for a valid file
# and 2 for an invalid one, naming the key and its line (unknown keys, bad
# values, malformed YAML, a JSON config); `--version` and `--help` exit 0;
# an unknown subcommand exits non-zero with a message; `serve` refuses an
# invalid config without writing a port file; the embedded default config
# (`dray config`) verifies.
. "$(dirname "$0")/../lib.sh"
require_dray "the dray command line"

OUT=$WORK/tmp/out
ERR=$WORK/tmp/err

# run_dray EXPECTED-STATUS ARGS...: run with a time bound, capture output.
run_dray() {
	local want=$1 rc=0
	shift
	timeout 900 "$DRAY_BIN" "$@" >"$OUT" 2>"$ERR" || rc=$?
	ASSERTS=$((ASSERTS + 1))
	case $want in
	nonzero) [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
		fail "dray $* exited $rc, expected non-zero (stderr: $(head -c 300 "$ERR"))" ;;
	*) [ "$rc" -eq "$want" ] ||
		fail "dray $* exited $rc, expected $want (stderr: $(head -c 300 "$ERR"))" ;;
	esac
}

# The message names the key and the line: assert_msg KEY LINE
assert_msg() {
	ASSERTS=$((ASSERTS + 1))
	grep -q -- "$1" "$ERR" || fail "message does not name '$1': $(head -c 300 "$ERR")"
	grep -Eq "(^|[^0-9])$2([^0-9]|$)" "$ERR" || fail "message does not name line $2: $(head -c 300 "$ERR")"
}

# --- --version, --help
run_dray 0 --version
assert_true "--version prints a version" grep -Eq '[0-9]+\.[0-9]+' "$OUT"
run_dray 0 --help
assert_true "--help mentions serve" grep -q serve "$OUT" "$ERR"
assert_true "--help mentions verify" grep -q verify "$OUT" "$ERR"

# --- unknown subcommand / option
run_dray nonzero frobnicate
assert_true "unknown command is reported" grep -qi 'frobnicate' "$ERR"
run_dray nonzero --no-such-option
assert_true "unknown option is reported" [ -s "$ERR" ]

# --- verify: valid configs
dray_config
run_dray 0 verify "$CFG"
cat >"$WORK/cfg/ok.json" <<EOF
{"distSpecVersion": "1.1.0",
 "http": {"address": "127.0.0.1", "port": 0},
 "storage": {"rootDirectory": "$WORK/data"},
 "log": {"level": "info"}}
EOF
run_dray 0 verify "$WORK/cfg/ok.json"
run_dray 0 config
cp "$OUT" "$WORK/cfg/default.yaml"
run_dray 0 verify "$WORK/cfg/default.yaml"
# The example shipped to operators is valid and needs no warning.
run_dray 0 verify "$IT_DIR/../../contrib/dray.yaml"
assert_true "contrib/dray.yaml gave warnings: $(cat "$ERR")" test ! -s "$ERR"

# --- verify: invalid configs (status 2, key and line named)
bad() { # bad NAME KEY LINE <<YAML
	cat >"$WORK/cfg/$1.yaml"
	run_dray 2 verify "$WORK/cfg/$1.yaml"
	assert_msg "$2" "$3"
}
bad unknown-key bogus 5 <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: 0
  bogus: 1
storage:
  rootDirectory: $WORK/data
EOF
bad unknown-section nosuchsection 4 <<EOF
distSpecVersion: 1.1.0
storage:
  rootDirectory: $WORK/data
nosuchsection:
  x: 1
EOF
bad port-not-number port 4 <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: abc
storage:
  rootDirectory: $WORK/data
EOF
bad port-range port 4 <<EOF
distSpecVersion: 1.1.0
http:
  address: 127.0.0.1
  port: 70000
storage:
  rootDirectory: $WORK/data
EOF
bad log-level level 6 <<EOF
distSpecVersion: 1.1.0
storage:
  rootDirectory: $WORK/data
log:
  output: $WORK/logs/x.log
  level: loudest
EOF
bad section-not-map http 2 <<EOF
distSpecVersion: 1.1.0
http: 5000
storage:
  rootDirectory: $WORK/data
EOF

# Malformed YAML: status 2 and a line number.
printf 'distSpecVersion: 1.1.0\nhttp:\n  address: [127.0.0.1\n  port: 0\n' >"$WORK/cfg/malformed.yaml"
run_dray 2 verify "$WORK/cfg/malformed.yaml"
assert_true "malformed YAML message has a line number" grep -Eq '[0-9]' "$ERR"
# Malformed JSON.
printf '{"http": {"port": 0,}}' >"$WORK/cfg/malformed.json"
run_dray 2 verify "$WORK/cfg/malformed.json"
# A missing file, and no argument at all.
run_dray nonzero verify "$WORK/cfg/does-not-exist.yaml"
assert_true "missing file is reported" grep -q 'does-not-exist' "$ERR"
run_dray nonzero verify

# --- serve refuses an invalid config: exits non-zero, writes no port file
rm -f "$PORTFILE"
run_dray nonzero serve "$WORK/cfg/unknown-key.yaml" --port-file "$PORTFILE"
assert_true "no port file for a refused config" [ ! -s "$PORTFILE" ]
assert_msg bogus 5

# --- and serves with a valid one (the port file contract)
dray_start
req GET /v2/
assert_status 200
dray_stop
pass
