"""Long lists are built in steps (issue 7: no loop step over 50 ms on any input that
validation accepts). The largest lists the socket accepts (20,000 items: ListUpcoming,
Ops.Forecast, Orders.ListOrders) are asked for by several clients at once, each as
one reply and streamed with "more", while Status is called every 100 ms: every
Status is answered within 1 s, the daemon's own longest loop step stays under the
budget, and each list has exactly its 20,000 items, the same in both forms, the
shipments exactly the forecast's occurrences."""
import datetime
import threading
import time
import unittest

from harness import DaemonTest, StatusWatch, standing_order
from varlink import Connection, VarlinkError

LIMIT = 20000
# The daemon's budget for one loop step (doc/decisions.md). Under ASan everything
# runs 2-4 times slower, so only the plain build is held to the budget itself; the
# sanitized one is held to a bound that a 20,000-item list built in one step
# (several hundred ms there) still breaks. The bound holds the step's CPU time on
# the loop's thread (max_loop_step_cpu_ms): its wall time (max_loop_step_ms, printed)
# also counts the time the kernel gave other processes, and CI's machines are shared.
BUDGET_MS = 50.0
ASAN_BUDGET_MS = 150.0

WINDOW = {"from": "2027-04-01", "to": "2027-04-11"}   # 10 days, no DST change in Helsinki


def under_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def book():
    """20,000 created orders (backlog: half-hourly, count 20000, all due at start)
    and 2,000 occurrences a day from 2027-04-01 (1440 + 480 + 80): 20,000 in WINDOW."""
    return [
        standing_order("backlog", {"every": "30 minutes", "start": "2026-01-01", "count": LIMIT}),
        standing_order("m01", {"every": "1 minute", "start": "2027-04-01"}),
        standing_order("m03", {"every": "3 minutes", "start": "2027-04-01"}),
        standing_order("m18", {"every": "18 minutes", "start": "2027-04-01"}),
    ]


CALLS = [
    ("io.standingd.Supplier.ListUpcoming", WINDOW, "shipments"),
    ("io.standingd.Ops.Forecast", WINDOW, "occurrences"),
    ("io.standingd.Orders.ListOrders", {"standing_order": "backlog"}, "orders"),
]


class SlicesTest(DaemonTest):
    def setUp(self):
        self.e = self.env(catch_up="all", max_catch_up=1000000)
        self.e.orders_file("book.yaml", book())
        self.p = self.e.start("2027-03-01T00:00:00Z,1")
        self.addCleanup(self.stop)
        self.e.wait_for(self.answers, timeout=20, what="the socket")
        self.e.wait_for(lambda: self.status()["orders"] >= LIMIT, timeout=120, what="the backlog created")
        # a fresh daemon on the same store: its longest step is not the catch-up's
        self.assertEqual(self.e.stop(self.p, timeout=30), 0)
        self.p = self.e.start("2027-03-01T00:00:10Z,1")
        self.e.wait_for(self.answers, timeout=20, what="the socket")

    def stop(self):
        if self.p.poll() is None:
            self.assertEqual(self.e.stop(self.p, timeout=30), 0)

    def answers(self):
        try:
            return self.status()
        except OSError:
            return None

    def status(self):
        with Connection(self.e.socket, timeout=10) as c:
            return c.call("io.standingd.Ops.Status")

    def test_largest_lists_in_steps(self):
        before = self.status()
        self.assertEqual(before["orders"], LIMIT)
        results, errors = {}, []

        def client(method, params, key, more):
            try:
                with Connection(self.e.socket, timeout=120) as c:
                    r = c.call(method, params, more=more)
                results[(method, more)] = r
            except Exception as ex:  # noqa: BLE001 - reported below
                errors.append(f"{method} more={more}: {type(ex).__name__}: {ex}")

        # two rounds of all six at once: 12 lists of 20,000, one connection each
        t0 = time.monotonic()
        with StatusWatch(self.e.socket) as w:
            for _ in range(2):
                threads = [threading.Thread(target=client, args=(m, p, k, more))
                           for m, p, k in CALLS for more in (False, True)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        took = time.monotonic() - t0
        self.assertEqual(errors, [])
        # every call ends within the limit (1 s), so the watcher made at least one a
        # second throughout (half of one every 100 ms failed under a busy machine's load)
        w.assert_responsive(self, min_calls=max(1, int(took / w.limit) - 1))
        after = self.status()
        asan = under_asan(self.p.pid)
        print(f"\n12 lists of 20,000 in {took:.1f} s; worst Status {w.worst() * 1000:.0f} ms over "
              f"{len(w.latencies)} calls; max_loop_step_ms {before['max_loop_step_ms']:.1f} before the lists, "
              f"{after['max_loop_step_ms']:.1f} after (CPU {after['max_loop_step_cpu_ms']:.1f})"
              f"{' (ASan)' if asan else ''}")
        self.assertLess(after["max_loop_step_cpu_ms"], ASAN_BUDGET_MS if asan else BUDGET_MS)
        self.assertGreater(after["max_loop_step_cpu_ms"], 0.0)

        for method, _, key in CALLS:
            single = results[(method, False)][key]
            parts = results[(method, True)]
            # exactly the limit; streamed in parts of 100, the last one ends the stream
            self.assertEqual(len(single), LIMIT, method)
            self.assertEqual([len(p[key]) for p in parts], [100] * (LIMIT // 100), method)
            self.assertEqual([x for p in parts for x in p[key]], single, method)

        shipments = results[("io.standingd.Supplier.ListUpcoming", False)]["shipments"]
        forecast = results[("io.standingd.Ops.Forecast", False)]["occurrences"]
        self.assertEqual([(s["standing_order"], s["delivery"]) for s in shipments],
                         [(o["standing_order"], o["delivery"]) for o in forecast])
        self.assertEqual({s["status"] for s in shipments}, {"projected"})
        self.assertEqual(shipments[0]["delivery"], "2027-04-01T00:00:00+03:00")
        self.assertEqual(shipments[-1]["delivery"], "2027-04-10T23:59:00+03:00")
        self.assertEqual(sum(1 for o in forecast if o["standing_order"] == "m01"), 14400)
        orders = results[("io.standingd.Orders.ListOrders", False)]["orders"]
        self.assertEqual(orders[0]["delivery"], "2026-01-01T00:00:00+02:00")
        self.assertEqual(len({o["order"] for o in orders}), LIMIT)
        due = [datetime.datetime.fromisoformat(o["delivery"]) for o in orders]
        self.assertEqual(due, sorted(due))

        # one item more is refused, as before
        for method, err in [("io.standingd.Supplier.ListUpcoming", "io.standingd.Supplier.TooManyShipments"),
                            ("io.standingd.Ops.Forecast", "io.standingd.Ops.TooManyOccurrences")]:
            with Connection(self.e.socket, timeout=60) as c, self.assertRaises(VarlinkError) as cm:
                c.call(method, {"from": "2027-04-01", "to": "2027-04-12"}, more=True)
            self.assertEqual((cm.exception.error, cm.exception.parameters), (err, {"limit": LIMIT}))

    def test_one_connection_in_order(self):
        """A connection's requests are answered in order: a Status sent right after a
        long list (pipelined) comes after the list's last part."""
        with Connection(self.e.socket, timeout=120) as c:
            c.send({"method": "io.standingd.Ops.Forecast", "parameters": WINDOW, "more": True})
            c.send({"method": "io.standingd.Ops.Status", "parameters": {}})
            n = 0
            while True:
                r = c.recv()
                self.assertNotIn("error", r)
                n += len(r["parameters"].get("occurrences", []))
                if not r.get("continues"):
                    break
            self.assertEqual(n, LIMIT)
            self.assertIn("max_loop_step_ms", c.recv()["parameters"])

    def test_reload_during_a_list(self):
        """Definitions replaced while lists are built: every list is complete and
        answers for one set of definitions (the old or the new), never a mix, and
        the daemon survives (the old set is freed)."""
        results, errors = [], []

        def client():
            try:
                with Connection(self.e.socket, timeout=120) as c:
                    results.append(c.call("io.standingd.Supplier.ListUpcoming", WINDOW)["shipments"])
            except Exception as ex:  # noqa: BLE001
                errors.append(f"{type(ex).__name__}: {ex}")

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        # m18 removed: 19,200 shipments under the new definitions
        self.e.orders_file("book.yaml", book()[:3])
        with Connection(self.e.socket, timeout=60) as c:
            self.assertEqual(c.call("io.standingd.Ops.Reload")["standing_orders"], 3)
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for shipments in results:
            self.assertIn(len(shipments), (LIMIT, LIMIT - 800))
            self.assertEqual(len(shipments), len({(s["standing_order"], s["delivery"]) for s in shipments}))
        with Connection(self.e.socket, timeout=60) as c:
            self.assertEqual(len(c.call("io.standingd.Supplier.ListUpcoming", WINDOW)["shipments"]), LIMIT - 800)


if __name__ == "__main__":
    unittest.main()
