#!/usr/bin/env python3
"""The worst loop step of standingd on the hostile schedules of issue 7.

For each case: a fresh state directory, the example config (conf/) on a frozen test
clock (2027-01-01T00:00:30Z, speed 1e-6), the hostile schedule brought in while the
loop runs (a YAML file plus Ops.Reload, or Orders.PlaceStandingOrder), a few seconds
for the catch-up to be worked off, then Ops.Status's max_loop_step_ms: the longest
single loop iteration outside its poll, measured by the daemon itself. Prints
Markdown table rows (for the README); no pass/fail, the budget is 50 ms.

usage: bench/hostile.py [BUILD_DIR]   (default build-bench, as bench/run)
"""
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import api_standing_order as api_order  # noqa: E402
from varlink import Connection  # noqa: E402

CLOCK = "2027-01-01T00:00:30Z,0.000001"


def yaml_order(oid, schedule):
    return ("standing_orders:\n"
            f"  - id: {oid}\n    customer: acme\n    supplier: lumen\n"
            "    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
            "    lines:\n      - {sku: BULB-60W, quantity: 10, unit_price: \"0.85 EUR\"}\n"
            f"    payment: account\n    schedule: {schedule}\n")


SKIP = [(datetime.date(2027, 1, 1) + datetime.timedelta(days=i)).isoformat() for i in range(20000)]

CASES = [
    ("example config only", None, None),
    ("cron \"0 * * * *\" without start (YAML + Reload)", "yaml", '{cron: "0 * * * *"}'),
    ("cron \"@yearly\" without start (PlaceStandingOrder)", "api", {"cron": "@yearly"}),
    ("cron \"* * * * *\", start 2026-12-01, count 1e9 (PlaceStandingOrder)", "api",
     {"cron": "* * * * *", "start": "2026-12-01", "count": 1000000000}),
    ("every 1 minute from 1970, catch_up all (YAML + Reload)", "yaml",
     "{every: 1 minute, start: 1970-01-01, timezone: UTC}"),
    ("every 1 minute, paused, from 1970 (YAML + Reload)", "yaml",
     "{every: 1 minute, start: 1970-01-01, paused: true}"),
    ("every 1 minute, 20,000 skip dates (PlaceStandingOrder, then 2 Reloads)", "api+reload",
     {"every": "1 minute", "start": "2027-01-01", "skip": SKIP}),
]


def run_case(build, how, what):
    tmp = tempfile.mkdtemp(prefix="standingd-hostile-")
    conf = os.path.join(tmp, "conf")
    shutil.copytree(os.path.join(ROOT, "conf"), conf)
    sock = os.path.join(tmp, "sd.sock")
    log = open(os.path.join(tmp, "log"), "w")
    p = subprocess.Popen([os.path.join(build, "daemon", "standingd"), "--conf", conf, "--state",
                          os.path.join(tmp, "state"), "--socket", sock, "--test-clock", CLOCK],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        time.sleep(0.3)
        t0 = time.monotonic()
        with Connection(sock, timeout=120) as c:
            if how == "yaml":
                with open(os.path.join(conf, "orders.d", "zz-hostile.yaml"), "w") as f:
                    f.write(yaml_order("hostile", what))
                c.call("io.standingd.Ops.Reload")
            elif how in ("api", "api+reload"):
                c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": api_order("hostile", what)})
                if how == "api+reload":
                    c.call("io.standingd.Ops.Reload")
                    c.call("io.standingd.Ops.Reload")
            took = time.monotonic() - t0
            time.sleep(2)   # catch-up batches, one per loop turn
            st = c.call("io.standingd.Ops.Status")
        return st["max_loop_step_ms"], st["orders"], took
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-bench")
    for name, how, what in CASES:
        step, orders, took = run_case(build, how, what)
        print(f"| worst loop step: {name} | {step:.1f} ms ({orders} orders; change answered in {took * 1000:.0f} ms) |")


if __name__ == "__main__":
    main()
