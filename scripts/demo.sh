#!/bin/sh
# The demo: build standingd, run it on the example config in conf/ under an
# accelerated test clock (about a week of virtual time per second), then list the
# repeat orders it created, and the e-mails standingd-mail wrote for them (a Maildir:
# the demo's copy of conf/ says mail: maildir:). No root needed (except to install
# missing packages).
#   DEMO_SECONDS=30  how long the daemon runs
#   DEMO_START=2026-11-25T00:00:00Z  where the virtual clock starts
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

state=run/demo-state
conf=run/demo-conf
maildir=run/demo-mail
rm -rf "$state" "$conf" "$maildir"
mkdir -p run
# conf/ as installed would mail through the local MTA; the demo's copy runs the
# mailer from this build and writes a Maildir instead.
cp -R conf "$conf"
here=$(pwd)
sed -i -e "s|^notify_command: .*|notify_command: [\"$here/build/daemon/standingd-mail\", --conf, \"$here/$conf\"]|" \
	-e "s|^  smtp: .*|  maildir: \"$here/$maildir\"|" "$conf/standingd.yaml"
seconds=${DEMO_SECONDS:-30}
start=${DEMO_START:-2026-11-25T00:00:00Z}

echo "== standingd --check =="
build/daemon/standingd --check --conf "$conf"
echo
echo "== standingd on conf/ (mail: maildir: $maildir) for ${seconds}s, virtual clock from $start at 604800x =="
build/daemon/standingd --conf "$conf" --state "$state" --socket run/demo.sock \
	--test-clock "$start,604800" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
half=$((seconds / 2))
sleep "$half"
echo
echo "== meanwhile, over the socket: standingctl status; standingctl upcoming --supplier lumen =="
build/daemon/standingctl status --socket run/demo.sock 2>&1 || true
build/daemon/standingctl upcoming --socket run/demo.sock --supplier lumen --from 2027-01-01 --to 2027-04-01 2>&1 || true
echo
echo "== and the money: standingctl account acme (charged on account, within its credit limit) =="
build/daemon/standingctl account acme --socket run/demo.sock 2>&1 || true
echo
echo "== lumen ships acme's latest order: standingctl ship NUMBER --carrier posti --tracking JJFI64000012345678 =="
shipped=$(build/daemon/standingctl orders --socket run/demo.sock --json 2>/dev/null |
	python3 -c 'import json, sys
print(([o["order"] for o in map(json.loads, sys.stdin) if o["customer"] == "acme" and o["status"] == "confirmed"] or [""])[-1])' || true)
if [ -n "$shipped" ]; then
	build/daemon/standingctl ship "$shipped" --carrier posti --tracking JJFI64000012345678 --socket run/demo.sock 2>&1 || true
else
	echo "(no confirmed acme order yet)"
fi
echo
echo "== the salesperson's view: standingctl customer acme; standingctl tasks (reminders, holds, overdue payments) =="
build/daemon/standingctl log acme call "Aino confirmed the February bulbs" --contact "Aino Virtanen" --socket run/demo.sock 2>&1 || true
build/daemon/standingctl customer acme --socket run/demo.sock 2>&1 || true
echo
build/daemon/standingctl tasks --socket run/demo.sock 2>&1 | head -n 15 || true
echo
sleep "$((seconds - half))"
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT INT TERM
echo
echo "== standingctl orders --state $state =="
build/daemon/standingctl orders --state "$state"
echo
echo "== standingctl verify --state $state =="
build/daemon/standingctl verify --state "$state"
echo
echo "== the e-mails standingd-mail wrote ($maildir/new): To, Subject; then the shipped order's two in full =="
python3 scripts/show-mail.py "$maildir" ${shipped:+"$shipped"}
