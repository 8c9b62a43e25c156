#!/usr/bin/env bash
# Builds a release tree, runs bench_engine, starts standingd on a generated book of
# standing orders (3 suppliers, 4 zones, mixed schedule forms) under the test clock,
# drives its socket with bench/load, and prints one Markdown table of the figures
# (for the README). No pass/fail: the machines are shared and noisy; compare
# figures from the same run.
#
# Environment: BUILD (default build-bench), BENCH_ORDERS (1000), LOAD_SECONDS (10),
# LOAD_CLIENTS (64). Runs in well under two minutes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
n_orders=${BENCH_ORDERS:-1000}
load_seconds=${LOAD_SECONDS:-10}
load_clients=${LOAD_CLIENTS:-64}

if [ ! -d "$build" ]; then
	meson setup "$build" -Dbuildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null

tmp=$(mktemp -d /tmp/standingd-bench.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- a book of standing orders ----
conf=$tmp/conf
mkdir -p "$conf/orders.d"
cat >"$conf/standingd.yaml" <<EOF
timezone: Europe/Helsinki
catch_up: all
max_catch_up: 100
suppliers:
  - id: lumen
    name: Lumen Oy
    users: [lumen]
  - id: baltic-paper
    name: Baltijas Papīrs SIA
    users: [balticpaper]
  - id: nordkaffe
    name: Nordkaffe AS
    users: [nordkaffe]
EOF

zones=(Europe/Helsinki Europe/Riga Europe/Oslo Asia/Ho_Chi_Minh)
suppliers=(lumen baltic-paper nordkaffe)
# schedule forms (the schedule: body); starts around the test clock's 2026-12-01
forms=(
	$'      every: 1 week\n      start: 2026-12-03\n      at: "07:00"\n      lead_time: 2 days'
	$'      every: 2 weeks\n      on: [mon, thu]\n      start: 2026-11-30\n      at: "09:30"\n      lead_time: 1 day'
	$'      every: 1 month\n      day: last\n      start: 2026-11-30\n      at: "14:00"\n      lead_time: 2 days'
	$'      every: 3 months\n      weekday: 2nd tue\n      start: 2026-12-01\n      at: "10:00"\n      lead_time: 1 week\n      count: 8'
	$'      cron: "30 3 * * 0"\n      start: 2026-11-23\n      lead_time: 12 hours'
	$'      every: 2 months\n      day: 15\n      start: 2026-12-15\n      at: "08:00"\n      lead_time: 3 days\n      skip: [2027-02-15]'
	$'      every: 3 days\n      start: 2026-12-02\n      at: "05:45"\n      until: 2027-12-31'
	$'      every: 1 day\n      start: 2026-12-01\n      at: "06:00"\n      lead_time: 1 day'
)
{
	echo "customers:"
	for z in 0 1 2 3; do
		for c in 0 1 2 3 4 5 6 7 8 9; do
			printf '  - id: c%d-%d\n    name: Customer %d-%d\n    timezone: %s\n    account: {number: ACC-%d%02d, credit_limit: "50000.00 EUR"}\n' \
				"$z" "$c" "$z" "$c" "${zones[$z]}" "$z" "$c"
		done
	done
	echo "standing_orders:"
	for ((i = 0; i < n_orders; i++)); do
		printf '  - id: so-%05d\n    customer: c%d-%d\n    supplier: %s\n' "$i" $((i % 4)) $((i / 4 % 10)) "${suppliers[i % 3]}"
		printf '    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: "00510", city: Helsinki, country: FI}\n'
		printf '    lines:\n      - {sku: BULB-60W, quantity: 1000, unit_price: "0.85 EUR"}\n'
		printf '    payment: account\n    schedule:\n%s\n' "${forms[i % ${#forms[@]}]}"
	done
} >"$conf/orders.d/bench.yaml"
"$build/daemon/standingd" --conf "$conf" --check >/dev/null

# ---- library figures (no daemon running yet, so it has the machine to itself) ----
"$build/bench/bench_engine" >"$tmp/engine.md"
# the worst loop step on issue 7's hostile schedules (a daemon per case)
"$build/bench/hostile_rule" >>"$tmp/engine.md"
# issue 8: a change to a set of 100,000 standing orders, full validation vs the catalog
"$build/bench/bench_catalog" >>"$tmp/engine.md"
python3 "$root/bench/hostile.py" "$build" >"$tmp/hostile.md"
# the worst loop step while the largest accepted lists are served (a daemon of its own)
python3 "$root/bench/lists.py" "$build" >"$tmp/lists.md"

# ---- the daemon under load ----
sock=$tmp/sd.sock
"$build/daemon/standingd" --conf "$conf" --state "$tmp/state" --socket "$sock" \
	--test-clock 2026-12-01T00:00:00Z,1 >"$tmp/standingd.log" 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
	[ -S "$sock" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "standingd exited early:" >&2
		cat "$tmp/standingd.log" >&2
		exit 1
	fi
	sleep 0.1
done
[ -S "$sock" ] || { echo "no socket after 10 s" >&2; cat "$tmp/standingd.log" >&2; exit 1; }
sleep 1   # let the start-up catch-up (occurrences due before 2026-12-01) finish
rss_idle=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")

# a week: what a supplier asks for; all suppliers (ops view), so the replies are large
"$build/bench/load" --socket "$sock" --clients "$load_clients" --duration "$load_seconds" \
	--from 2027-01-04 --to 2027-01-11 >"$tmp/load.md"

rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")

echo "standingd benchmarks, $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -m)), release build"
echo
echo "| measurement | figure |"
echo "| --- | --- |"
cat "$tmp/engine.md"
cat "$tmp/load.md"
cat "$tmp/hostile.md"
cat "$tmp/lists.md"
awk -v n="$n_orders" -v a="$rss_idle" -v b="$rss" -v c="$hwm" 'BEGIN {
	printf "| standingd RSS with %d standing orders: idle / after load / peak (VmHWM) | %.1f / %.1f / %.1f MiB |\n",
		n, a / 1024, b / 1024, c / 1024 }'
