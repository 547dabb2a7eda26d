# SPDX-License-Identifier: Apache-2.0
# lib/metrics.sh - the monitoring side: dray's Prometheus exposition,
# promtool, and a real prometheus server started, queried and stopped by PID.
# Sourced by lib.sh; not run on its own.

# scrape [PATH]: GET the exposition (default /metrics) into $WORK/tmp/metrics.txt.
scrape() {
	req GET "${1:-/metrics}"
	assert_status 200
	cp "$RESP/body" "$WORK/tmp/metrics.txt"
}

# metric_value SERIES: the value of the sample SERIES, written as dray
# renders it ('zot_repo_uploads_total{repo="a"}'), from the last scrape;
# empty if there is none.
metric_value() {
	awk -v s="$1" '$1 == s { print $2 }' "$WORK/tmp/metrics.txt"
}

# promtool_check FILE: promtool parses FILE without error. Its lint may
# object only to zot's own names (camelCase labels in zot_info and
# zot_storage_lock_latency_seconds, the gauge zot_scheduler_workers_total),
# which zot's dashboards need as they are; anything else fails.
promtool_check() {
	local rc=0 out=$WORK/tmp/promtool.out
	command -v promtool >/dev/null ||
		fail "promtool is missing (contrib/install-deps.sh --test)"
	promtool check metrics <"$1" >"$out" 2>&1 || rc=$?
	ASSERTS=$((ASSERTS + 1))
	case $rc in
	0) return 0 ;;
	3) # lint findings only: each must be a known zot name
		if grep -v -e "^zot_info label names should be written in 'snake_case' not 'camelCase'$" \
			-e "^zot_storage_lock_latency_seconds label names should be written in 'snake_case' not 'camelCase'$" \
			-e '^zot_scheduler_workers_total non-counter metrics should not have "_total" suffix$' \
			"$out" | grep -q .; then
			fail "promtool lint: $(cat "$out")"
		fi
		;;
	*) fail "promtool check metrics failed ($rc): $(cat "$out")" ;;
	esac
}

# prom_start TARGET_PORT METRICS_PATH: a prometheus server scraping
# 127.0.0.1:TARGET_PORT every second, its data in $WORK/prom; sets
# PROM_PID and PROM_URL once it answers /-/ready.
prom_start() {
	local try i p
	command -v prometheus >/dev/null ||
		fail "prometheus is missing (contrib/install-deps.sh --test)"
	mkdir -p "$WORK/prom"
	cat >"$WORK/cfg/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dray
    metrics_path: $2
    static_configs:
      - targets: ['127.0.0.1:$1']
EOC
	for ((try = 0; try < 5; try++)); do
		p=$((20000 + RANDOM % 30000))
		port_in_use "$p" && continue
		prometheus --config.file="$WORK/cfg/prometheus.yml" \
			--storage.tsdb.path="$WORK/prom" \
			--web.listen-address="127.0.0.1:$p" \
			>>"$WORK/logs/prometheus.log" 2>&1 &
		PROM_PID=$!
		BG_PIDS+=("$PROM_PID")
		for ((i = 0; i < 600; i++)); do
			if curl -sf -o /dev/null --max-time 1 \
				"http://127.0.0.1:$p/-/ready"; then
				PROM_URL=http://127.0.0.1:$p
				return 0
			fi
			kill -0 "$PROM_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$PROM_PID"
	done
	fail "could not start prometheus (logs/prometheus.log)"
}

# prom_query QUERY: the value of the first sample the instant query
# QUERY returns, or empty.
prom_query() {
	curl -sS --max-time 10 "$PROM_URL/api/v1/query" \
		--data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'
}

# prom_wait QUERY WANT: wait (up to 120 s) until QUERY gives WANT.
prom_wait() {
	local i v=
	for ((i = 0; i < 1200; i++)); do
		v=$(prom_query "$1")
		[ "$v" = "$2" ] && break
		kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
		sleep 0.1
	done
	assert_eq "$2" "$v" "prometheus: $1"
}

# prom_stop: SIGTERM to PROM_PID, then wait for it.
prom_stop() {
	stop_pid "$PROM_PID"
	PROM_PID=
}
