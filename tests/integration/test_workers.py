"""Read-only calls answered on worker threads (issue 12, target 4: the socket never
stalls). Many clients read at once (ListUpcoming, ListOrders, GetOrder,
GetCustomer) while reloads and PlaceStandingOrder swap the definitions and the
engine creates orders: every reply is complete and byte for byte the one a single
client got before, and Status is answered within 1 s throughout. A client that
sends requests and never reads its replies is dropped at its cap while the others
are served. A GetCustomer that reads 20,000 standing orders (one step, which held
the loop before the workers) no longer keeps a Status sent after it from being
answered first."""
import json
import socket
import threading
import time
import unittest

from harness import DaemonTest, StatusWatch, standing_order
from varlink import Connection

CLOCK = "2027-03-01T00:00:00Z,1"
# a week far enough ahead that nothing in it is created while the test runs
WINDOW = {"from": "2027-06-01", "to": "2027-06-08", "supplier": "lumen"}
BACKLOG = 200


def book():
    """acme/lumen: a finished backlog of BACKLOG hourly orders (created at start)
    and ten hourly standing orders from May: 1,680 shipments in WINDOW."""
    items = [standing_order("backlog", {"every": "1 hour", "start": "2027-02-20", "count": BACKLOG})]
    items += [standing_order(f"h{i:02d}", {"every": "1 hour", "start": "2027-05-01"}) for i in range(10)]
    return items


def kaffe_order(oid, start="2027-02-25"):
    """A standing order of the other customer and supplier: its orders are created at
    once (catch-up) and change nothing acme's and lumen's readers see."""
    return {"id": oid, "customer": "kaffe", "supplier": "nordkaffe",
            "ship_to": {"name": "Kaffe", "street": "Storgata 1", "postcode": "9008",
                        "city": "Tromsø", "country": "NO"},
            "lines": [{"sku": "BEANS", "quantity": 3, "unit_price": "95.00 NOK"}],
            "payment": "account", "schedule": {"every": "1 day", "start": start}}


def kaffe_yaml(ids):
    return "standing_orders:\n" + "".join(
        standing_order(i, {"every": "1 day", "start": "2027-02-26"}, customer="kaffe", supplier="nordkaffe",
                       sku="CUPS", qty=10, price="4.00 NOK") for i in ids)


class Raw(Connection):
    """varlink.py's connection, its replies' bytes as they came (to compare them
    byte for byte); s is its socket."""

    def __init__(self, path, timeout=30):
        super().__init__(path, timeout)
        self.s = self.sock

    def send(self, method, params):
        super().send({"method": method, "parameters": params})

    recv = Connection.recv_bytes

    def call(self, method, params):
        self.send(method, params)
        return self.recv()


class WorkersTest(DaemonTest):
    def start(self, extra=""):
        e = self.env(catch_up="all", max_catch_up=100000)
        e.configure(extra)
        e.orders_file("book.yaml", book())
        p = e.start_ready(CLOCK)
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        c = Raw(e.socket)
        self.addCleanup(c.close)
        e.wait_for(lambda: json.loads(c.call("io.standingd.Ops.Status", {}))["parameters"]["orders"] >= BACKLOG,
                   what="the backlog created")
        return e, p, c

    def test_concurrent_reads_while_definitions_change(self):
        e, p, c = self.start()
        orders = json.loads(c.call("io.standingd.Orders.ListOrders", {"standing_order": "backlog"}))
        numbers = [o["order"] for o in orders["parameters"]["orders"]]
        self.assertEqual(len(numbers), BACKLOG)
        calls = [("io.standingd.Supplier.ListUpcoming", WINDOW),
                 ("io.standingd.Orders.ListOrders", {"standing_order": "backlog"}),
                 ("io.standingd.Crm.GetCustomer", {"customer": "acme"})]
        calls += [("io.standingd.Orders.GetOrder", {"order": n}) for n in numbers[::40]]
        # the single client's replies, before anything runs at once
        want = {}
        for m, params in calls:
            want[(m, json.dumps(params))] = c.call(m, params)
        shipments = json.loads(want[(calls[0][0], json.dumps(WINDOW))])["parameters"]["shipments"]
        self.assertEqual(len(shipments), 1680)
        self.assertTrue(all(s["status"] == "projected" for s in shipments))

        stop = threading.Event()
        bad, counts, swaps = [], {}, []
        lock = threading.Lock()

        def reader(k):
            r = Raw(e.socket)
            i = k
            try:
                while not stop.is_set():
                    m, params = calls[i % len(calls)]
                    i += 1
                    got = r.call(m, params)
                    with lock:
                        counts[m] = counts.get(m, 0) + 1
                        if got != want[(m, json.dumps(params))]:
                            bad.append((m, params, (got or b"<closed>")[:300]))
                            return
            finally:
                r.close()

        def mutator():
            m = Raw(e.socket)
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    got = json.loads(m.call("io.standingd.Orders.PlaceStandingOrder",
                                            {"definition": kaffe_order(f"k{n:03d}")}))
                    if "error" in got:
                        bad.append(("PlaceStandingOrder", got))
                        return
                    e.write("orders.d/kaffe.yaml", kaffe_yaml([f"y{j}" for j in range(n % 3 + 1)]))
                    got = json.loads(m.call("io.standingd.Ops.Reload", {}))
                    if "error" in got:
                        bad.append(("Reload", got))
                        return
                    swaps.append(n)
                    time.sleep(0.05)
            finally:
                m.close()

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
        threads.append(threading.Thread(target=mutator))
        with StatusWatch(e.socket) as w:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and not bad:
                time.sleep(0.1)
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(bad, [])
        w.assert_responsive(self, min_calls=20)
        self.assertGreaterEqual(len(swaps), 5, "too few swaps of the definitions")
        for m, _ in calls:
            self.assertGreater(counts.get(m, 0), 2, m)
        # the definitions changed and orders were created meanwhile: the readers'
        # snapshot was never mixed with them
        st = json.loads(c.call("io.standingd.Ops.Status", {}))["parameters"]
        self.assertGreater(st["orders"], BACKLOG + len(swaps))
        self.assertEqual(st["standing_orders"], 11 + len(swaps) + (len(swaps) % 3 + 1))
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])

    def test_long_replies_written_by_workers(self):
        # A worker writes a long reply itself for up to 50 ms, then leaves the rest to
        # the loop: a client that reads late, or in small pieces, gets every byte in
        # order; one that hangs up in the middle costs nobody else anything.
        e, p, c = self.start()
        want = c.call("io.standingd.Supplier.ListUpcoming", WINDOW)
        self.assertGreater(len(want), 700000)
        with StatusWatch(e.socket) as w:
            late = Raw(e.socket)
            self.addCleanup(late.close)
            late.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            late.send("io.standingd.Supplier.ListUpcoming", WINDOW)
            late.send("io.standingd.Ops.Status", {})
            gone = Raw(e.socket)
            gone.send("io.standingd.Supplier.ListUpcoming", WINDOW)
            gone.s.recv(1000)
            gone.close()
            time.sleep(0.5)   # the worker has given up waiting for late to read
            for _ in range(3):
                self.assertEqual(c.call("io.standingd.Supplier.ListUpcoming", WINDOW), want)
            got = b""
            while b"\0" not in got:
                chunk = late.s.recv(3000)
                self.assertTrue(chunk)
                got += chunk
            late.buf = got
            self.assertEqual(late.recv(), want)
            self.assertIn(b'"orders"', late.recv())
        w.assert_responsive(self)
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])

    def test_client_that_never_reads(self):
        # replies of ~750 kB: the second one queued unread passes the 1 MiB cap
        e, p, c = self.start("max_reply_queue: 1 MiB\n")
        want = c.call("io.standingd.Supplier.ListUpcoming", WINDOW)
        self.assertGreater(len(want), 700000)
        hog = Raw(e.socket)
        self.addCleanup(hog.close)
        hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(20):
            try:
                hog.send("io.standingd.Supplier.ListUpcoming", WINDOW)
            except OSError:
                break   # dropped already
        results = []
        with StatusWatch(e.socket) as w:
            for _ in range(10):
                results.append(c.call("io.standingd.Supplier.ListUpcoming", WINDOW) == want)
            e.wait_for(lambda: "it does not read its replies" in e.log(p), what="the hog dropped")
        self.assertEqual(results, [True] * 10)
        w.assert_responsive(self)
        self.assertRegex(e.log(p), r"dropping client pid \d+ \(\S+\): it does not read its replies "
                                   r"\(\d+ bytes queued\)")
        # what it was sent ends with the connection closed, at most two replies
        hog.s.settimeout(10)
        n = 0
        while hog.recv() is not None:
            n += 1
        self.assertLessEqual(n, 2)
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])


class MapGrowthTest(DaemonTest):
    """The map must not move under a read transaction, and with workers there is
    nearly always one open. While readers keep four workers busy, the engine fills a
    1 MiB map, a reload raises max_store_size to 4 MiB, and the map still doubles to
    it: the loop lends no transaction while the store wants to grow, the ones out end,
    the map grows, the readers go on."""

    def test_map_grows_under_readers(self):
        e = self.env(max_catch_up=1000000)
        e.configure("max_store_size: 1 MiB\n")
        e.orders_file("a.yaml", [standing_order(f"m{i:02d}", {"every": "1 minute", "start": "2026-12-01"})
                                 for i in range(20)])
        p = e.start("2026-11-30T22:00:00Z,1200")
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        stop = threading.Event()
        bad, counts = [], [0]
        calls = [("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-02T00:00:00Z", "to": "2026-12-02T02:00:00Z"}),
                 ("io.standingd.Orders.ListOrders", {"standing_order": "m00", "from": "2026-12-01",
                                                     "to": "2026-12-01T00:30:00Z"}),
                 ("io.standingd.Crm.GetCustomer", {"customer": "acme"})]

        def reader(k):
            r = Raw(e.socket)
            try:
                while not stop.is_set():
                    m, params = calls[k % len(calls)]
                    got = r.call(m, params)
                    if got is None or b'"error"' in got[:20]:
                        bad.append((m, (got or b"<closed>")[:300]))
                        return
                    counts[0] += 1
            finally:
                r.close()

        # more readers than workers: a call waits whenever one ends, so a transaction
        # is open at every moment unless the loop stops lending them
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(24)]
        with StatusWatch(e.socket) as w:
            for t in threads:
                t.start()
            e.wait_for(lambda: "store full" in e.log(p) or p.poll() is not None or bad, timeout=60,
                       what="the map to fill")
            n1 = counts[0]
            e.configure("max_store_size: 4 MiB\n")
            e.wait_for(lambda: e.log(p).count("store full") >= 2 or p.poll() is not None or bad, timeout=120,
                       what="the larger map to fill")
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(bad, [])
        self.assertIsNone(p.poll(), e.log(p)[-3000:])
        log = e.log(p)
        self.assertIn("store map grown to 2 MiB (max_store_size 4 MiB)", log)
        self.assertIn("store map grown to 4 MiB (max_store_size 4 MiB)", log)
        self.assertGreater(counts[0], n1, "the readers stopped while the map grew")
        w.assert_responsive(self, min_calls=20)
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])
        self.assertEqual(e.ctl("verify", "--state", e.state).stdout, "OK: no violations\n")


class WritesUnderReadersTest(DaemonTest):
    """A write on the loop that meets a full map while workers hold read
    transactions: the store asks the daemon to release them (server_release_readers),
    the map grows and the write succeeds. Before, every writer that does not retry
    failed: an API write with InternalError errno 11, a reload with "cannot store the
    definitions"."""

    def test_writes_and_reloads_while_the_map_grows(self):
        e = self.env()
        e.configure("max_store_size: 1 MiB\n")
        e.orders_file("a.yaml", [standing_order(f"m{i:02d}", {"every": "1 week", "start": "2027-01-04"})
                                 for i in range(20)])
        p = e.start_ready("2027-01-01T00:00:00Z,1")
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        e.configure("max_store_size: 32 MiB\n")
        w = Raw(e.socket)
        self.assertNotIn(b'"error"', w.call("io.standingd.Ops.Reload", {})[:20])
        stop = threading.Event()
        bad = []

        def reader(k):
            r = Raw(e.socket)
            calls = [("io.standingd.Crm.GetCustomer", {"customer": "acme"}),
                     ("io.standingd.Supplier.ListUpcoming", {"from": "2027-01-01", "to": "2027-03-01"})]
            try:
                while not stop.is_set():
                    m, params = calls[k % 2]
                    got = r.call(m, params)
                    if got is None or b'"error"' in got[:20]:
                        bad.append((m, (got or b"<closed>")[:300]))
                        return
            finally:
                r.close()

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        errors, text = [], "x" * 900
        try:
            # about 1.3 MB of tasks: the 1 MiB map grows at least once under the readers
            for n in range(1200):
                got = w.call("io.standingd.Crm.AddTask", {"customer": "acme", "due": "2027-02-01",
                                                          "text": f"{text}{n}"})
                if b'"error"' in got[:20]:
                    errors.append((n, got[:300]))
                    break
                if n % 100 == 99:
                    got = w.call("io.standingd.Ops.Reload", {})
                    if b'"error"' in got[:20]:
                        errors.append((n, got[:300]))
                        break
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        w.close()
        self.assertEqual((errors, bad), ([], []))
        # the daemon logs the size it finds after a write: two doublings within one
        # write (1 to 2 to 4 MiB) are one line
        self.assertRegex(e.log(p), r"store map grown to (2|4|8) MiB \(max_store_size 32 MiB\)")
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])
        self.assertEqual(e.ctl("verify", "--state", e.state).stdout, "OK: no violations\n")


class WorkersEnvTest(DaemonTest):
    def test_status_counts_the_workers(self):
        # Status's workers: the threads STANDINGD_WORKERS asked for (0: all on the
        # loop); idle, none busy and no call waiting
        e = self.env()
        e.configure("")
        for n in (3, 0):
            p = e.start_ready("2027-01-01T00:00:00Z,1", extra_env={"STANDINGD_WORKERS": str(n)})
            r = Raw(e.socket)
            st = json.loads(r.call("io.standingd.Ops.Status", {}))["parameters"]
            r.close()
            self.assertEqual((st["workers"], st["workers_busy"], st["calls_waiting"]), (n, 0, 0))
            self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-2000:])

    def test_a_bad_number_of_workers_stops_the_start(self):
        e = self.env()
        e.configure("")
        for bad in ("abc", "-1", "65", "4x"):
            p = e.start("2027-01-01T00:00:00Z,1", extra_env={"STANDINGD_WORKERS": bad})
            self.assertEqual(p.wait(timeout=30), 1, e.log(p)[-2000:])
            self.assertIn(f"STANDINGD_WORKERS={bad}: expected a number of threads from 0 to 64", e.log(p))


class LongCallTest(DaemonTest):
    """GetCustomer lists every standing order of the customer in one piece of work:
    with 20,000 of them it took tens of ms on the loop, and a Status sent while it
    ran was read only after its reply had begun to go out. On a worker, the Status
    sent after it is answered before that."""
    N = 20000

    def test_status_answered_before_a_long_read(self):
        e = self.env(catch_up="all")
        e.orders_file("big.yaml", [standing_order(f"s{i:05d}", {"every": "1 month", "start": "2028-01-01"})
                                   for i in range(self.N)])
        p = e.start_ready(CLOCK)
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        a, s = Raw(e.socket), Raw(e.socket)
        self.addCleanup(a.close)
        self.addCleanup(s.close)
        one = json.loads(a.call("io.standingd.Crm.GetCustomer", {"customer": "acme"}))
        self.assertEqual(len(one["parameters"]["customer"]["standing_orders"]), self.N)
        first = []
        for _ in range(5):
            a.send("io.standingd.Crm.GetCustomer", {"customer": "acme"})
            time.sleep(0.002)   # the daemon has begun it
            s.send("io.standingd.Ops.Status", {})
            # which comes first: the first byte of GetCustomer's reply, or all of
            # Status's (before the workers, the loop wrote the first before it read
            # the Status at all)
            order = []

            def take(conn, tag):
                if tag == "GetCustomer":
                    conn.s.recv(1, socket.MSG_PEEK)
                    order.append(tag)
                conn.recv()
                if tag == "Status":
                    order.append(tag)
            ts = [threading.Thread(target=take, args=(a, "GetCustomer")),
                  threading.Thread(target=take, args=(s, "Status"))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            first.append(order[0])
        self.assertGreaterEqual(first.count("Status"), 4, first)
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p)[-3000:])


if __name__ == "__main__":
    unittest.main()
