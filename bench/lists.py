#!/usr/bin/env python3
"""The worst loop step of standingd while the largest lists the socket accepts are
served, and Status's latency meanwhile.

A book of 20,000 created orders (one half-hourly standing order, count 20000, all due
at start) and 2,000 occurrences a day from 2027-04-01 (every 1, 3 and 18 minutes), so
that ListUpcoming and Ops.Forecast over 2027-04-01..11 and Orders.ListOrders of the
backlog each return exactly 20,000 items (the limit). Then ROUNDS rounds of six
clients at once (each method as one reply and streamed with "more"), while another
client (a process of its own) calls Ops.Status every 20 ms. Prints Markdown table rows (for the README):
Ops.Status's max_loop_step_ms (the longest loop iteration outside its poll, measured
by the daemon; a fresh daemon on the store the backlog was created in, so the
catch-up does not count) before and after the lists, and Status's latency p50/p99/max. No
pass/fail; the budget is 50 ms.

usage: bench/lists.py [BUILD_DIR] [ROUNDS]   (default build-bench, 3)
"""
import multiprocessing
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Env, standing_order  # noqa: E402
from varlink import Connection  # noqa: E402

LIMIT = 20000
WINDOW = {"from": "2027-04-01", "to": "2027-04-11"}
CALLS = [
    ("io.standingd.Supplier.ListUpcoming", WINDOW, "shipments"),
    ("io.standingd.Ops.Forecast", WINDOW, "occurrences"),
    ("io.standingd.Orders.ListOrders", {"standing_order": "backlog"}, "orders"),
]


def book():
    return [
        standing_order("backlog", {"every": "30 minutes", "start": "2026-01-01", "count": LIMIT}),
        standing_order("m01", {"every": "1 minute", "start": "2027-04-01"}),
        standing_order("m03", {"every": "3 minutes", "start": "2027-04-01"}),
        standing_order("m18", {"every": "18 minutes", "start": "2027-04-01"}),
    ]


def status(sock):
    with Connection(sock, timeout=60) as c:
        return c.call("io.standingd.Ops.Status")


def answers(sock):
    try:
        return status(sock)
    except OSError:
        return None


def watch(sock, stop, out):
    """Ops.Status every 20 ms until stop; sends the latencies (s) back."""
    lat = []
    with Connection(sock, timeout=60) as c:
        while not stop.is_set():
            t = time.monotonic()
            c.call("io.standingd.Ops.Status")
            lat.append(time.monotonic() - t)
            stop.wait(max(0.0, 0.02 - (time.monotonic() - t)))
    out.send(lat)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else 0.0


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-bench")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    harness.STANDINGD = os.path.join(build, "daemon", "standingd")
    e = Env(catch_up="all", max_catch_up=1000000)
    e.orders_file("book.yaml", book())
    p = e.start("2027-03-01T00:00:00Z,1")
    try:
        e.wait_for(lambda: answers(e.socket), timeout=20, what="the socket")
        e.wait_for(lambda: status(e.socket)["orders"] >= LIMIT, timeout=300, what="the backlog")
        # a fresh daemon on that store, so that its longest step is not the catch-up's
        e.stop(p, timeout=60)
        p = e.start("2027-03-01T00:00:10Z,1")
        e.wait_for(lambda: answers(e.socket), timeout=20, what="the socket")
        time.sleep(0.5)
        before = status(e.socket)["max_loop_step_ms"]

        stop = multiprocessing.Event()
        got, out = multiprocessing.Pipe(duplex=False)

        counts = {}

        def client(method, params, key, more):
            with Connection(e.socket, timeout=300) as c:
                r = c.call(method, params, more=more)
            counts[(method, more)] = sum(len(x[key]) for x in r) if more else len(r[key])

        # its own process: the list clients' JSON parsing must not delay it (GIL)
        w = multiprocessing.Process(target=watch, args=(e.socket, stop, out))
        w.start()
        t0 = time.monotonic()
        for _ in range(rounds):
            th = [threading.Thread(target=client, args=(m, prm, k, more)) for m, prm, k in CALLS for more in (False, True)]
            for t in th:
                t.start()
            for t in th:
                t.join()
        took = time.monotonic() - t0
        stop.set()
        lat = got.recv()
        w.join()
        after = status(e.socket)["max_loop_step_ms"]
        assert set(counts.values()) == {LIMIT}, counts
        n = rounds * len(CALLS) * 2
        print(f"| worst loop step while {n} lists of 20,000 are served (ListUpcoming, Forecast, ListOrders; "
              f"6 clients at once, one reply and streamed) | {after:.1f} ms (before the lists: {before:.1f} ms) |")
        print(f"| Status latency meanwhile, p50 / p99 / max ({len(lat)} calls) | {pct(lat, 0.5) * 1000:.1f} / "
              f"{pct(lat, 0.99) * 1000:.1f} / {max(lat, default=0) * 1000:.1f} ms |")
        print(f"| time to serve those {n} lists (~{n * 9} MB of JSON) | {took:.1f} s |")
    finally:
        e.stop(p, timeout=60)
        e.close()


if __name__ == "__main__":
    main()
