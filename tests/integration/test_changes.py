"""Changes of the running set made off the loop (issue 12): PlaceStandingOrder,
CancelStandingOrder, PlaceCustomer and Reload are staged on a thread and committed
on the loop, one at a time, in the order they arrive. Calls sent back to back
without waiting, on one connection or several, get exactly the replies and leave
exactly the set that the same calls made one after another give (a second daemon
on the same files is the oracle); SIGTERM while changes wait or are staged stops
the daemon cleanly and keeps a prefix of them."""
import json
import os
import signal
import time
import unittest

from harness import DaemonTest, api_standing_order, standing_order
from varlink import Connection

CLOCK = "2026-11-25T00:00:00Z,1"
IDLE = standing_order("idle", {"every": "1 month", "start": "2027-06-01", "at": '"06:00"', "lead_time": "1 day"})


def so(oid, day=1, start="2027-01-04", customer="acme"):
    d = api_standing_order(oid, {"every": "1 month", "day": day, "start": start, "at": '07:00'})
    d["customer"] = customer
    return d


def place(oid, **kw):
    return ("io.standingd.Orders.PlaceStandingOrder", {"definition": so(oid, **kw)})


def cancel(oid):
    return ("io.standingd.Orders.CancelStandingOrder", {"standing_order": oid})


# one connection's calls: each depends on the ones before it
SEQUENCE = [
    place("a"),
    place("b", day=15),
    cancel("a"),
    place("a", day=20, start="2027-02-01"),
    place("bad", customer="nobody"),                      # InvalidDefinition
    cancel("zz"),                                         # StandingOrderNotFound
    cancel("idle"),                                       # DefinedInFile
    ("io.standingd.Orders.PlaceStandingOrder", {"definition": so("c", day=3), "idempotency_key": "k-1"}),
    ("io.standingd.Orders.PlaceStandingOrder", {"definition": so("c", day=3), "idempotency_key": "k-1"}),
    ("io.standingd.Crm.PlaceCustomer", {"definition": {
        "id": "neu", "name": "Neu Oy", "timezone": "Europe/Helsinki",
        "account": {"number": "ACC-2001", "credit_limit": "1000.00 EUR"}}}),
    place("d", customer="neu"),                           # needs the customer placed just before
    ("io.standingd.Ops.Reload", None),
    cancel("b"),
    cancel("b"),                                          # gone by now: StandingOrderNotFound
    ("io.standingd.Ops.ListStandingOrders", None),
]


def message(method, params):
    m = {"method": method}
    if params is not None:
        m["parameters"] = params
    return json.dumps(m).encode() + b"\0"


def reply(c):
    r = c.recv()
    return ("error", r["error"], r.get("parameters")) if "error" in r else ("ok", r.get("parameters"))


def one_by_one(sock, calls):
    with Connection(sock, timeout=30) as c:
        out = []
        for method, params in calls:
            c.send_raw(message(method, params))
            out.append(reply(c))
        return out


def back_to_back(sock, calls):
    """Every call sent before the first reply is read."""
    with Connection(sock, timeout=30) as c:
        c.send_raw(b"".join(message(m, p) for m, p in calls))
        return [reply(c) for _ in calls]


def listed(sock):
    with Connection(sock, timeout=30) as c:
        return c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]


class Changes(DaemonTest):
    def daemon(self):
        e = self.env()
        e.orders_file("a.yaml", [IDLE])
        p = e.start_ready(CLOCK)
        return e, p

    def stop_clean(self, e, p):
        self.assertEqual(e.stop(p, timeout=30), 0, e.log(p))
        self.assertIn("stopped", e.log(p))

    def test_one_connection_back_to_back(self):
        e1, p1 = self.daemon()
        e2, p2 = self.daemon()
        want = one_by_one(e1.socket, SEQUENCE)
        got = back_to_back(e2.socket, SEQUENCE)
        # the oracle's replies are the ones the calls must get (spot checks that
        # the sequence does what it says)
        kinds = [w[1] if w[0] == "error" else "ok" for w in want]
        self.assertEqual(kinds, ["ok", "ok", "ok", "ok", "io.standingd.Orders.InvalidDefinition",
                                 "io.standingd.Orders.StandingOrderNotFound", "io.standingd.Orders.DefinedInFile",
                                 "ok", "ok", "ok", "ok", "ok", "ok", "io.standingd.Orders.StandingOrderNotFound",
                                 "ok"])
        self.assertEqual(want[0], ("ok", {"standing_order": "a", "next_delivery": "2027-02-01T07:00:00+02:00"}))
        self.assertEqual(want[3], ("ok", {"standing_order": "a", "next_delivery": "2027-02-20T07:00:00+02:00"}))
        self.assertEqual(want[7], want[8])
        self.assertEqual(want[11], ("ok", {"customers": 3, "standing_orders": 5}))
        self.assertEqual([s["id"] for s in want[14][1]["standing_orders"]], ["a", "c", "d", "idle"])
        self.assertEqual(got, want)
        self.assertEqual(listed(e2.socket), listed(e1.socket))
        self.stop_clean(e1, p1)
        self.stop_clean(e2, p2)

    def test_several_connections(self):
        """Three connections send their own chains at once; a fourth chain crosses
        connections, each call sent once the one before it was read by the daemon
        (so they arrive in that order) but without waiting for replies."""
        e1, p1 = self.daemon()
        e2, p2 = self.daemon()

        def chain(k):
            return [place(f"k{k}-1", day=k), place(f"k{k}-2", day=k + 1), cancel(f"k{k}-1"),
                    place(f"k{k}-1", day=k + 10), cancel(f"k{k}-2"), place(f"k{k}-3", day=k + 2), cancel(f"k{k}-9")]
        cross = [place("x", day=5), cancel("x"), place("x", day=6), place("x", day=7)]
        want = [one_by_one(e1.socket, chain(k)) for k in range(3)]
        want_cross = one_by_one(e1.socket, cross)
        conns = [Connection(e2.socket, timeout=30) for _ in range(3 + len(cross))]
        try:
            for k in range(3):
                conns[k].send_raw(b"".join(message(m, p) for m, p in chain(k)))
            for i, (m, p) in enumerate(cross):
                conns[3 + i].send_raw(message(m, p))
                time.sleep(0.05)
            got = [[reply(conns[k]) for _ in chain(k)] for k in range(3)]
            got_cross = [reply(conns[3 + i]) for i in range(len(cross))]
        finally:
            for c in conns:
                c.close()
        self.assertEqual(got, want)
        self.assertEqual(got_cross, want_cross)
        self.assertEqual(want_cross[3], ("ok", {"standing_order": "x", "next_delivery": "2027-01-07T07:00:00+02:00"}))
        ids = [s["id"] for s in listed(e2.socket)]
        self.assertEqual(ids, ["idle", "k0-1", "k0-3", "k1-1", "k1-3", "k2-1", "k2-3", "x"])
        self.assertEqual(listed(e2.socket), listed(e1.socket))
        self.stop_clean(e1, p1)
        self.stop_clean(e2, p2)

    def test_client_gone_and_sigterm(self):
        """A client that leaves while its change is staged or waiting, then SIGTERM
        with changes queued: the daemon stops cleanly (exit 0), and after a restart
        the API's standing orders are a prefix of those sent, in order."""
        e, p = self.daemon()
        with Connection(e.socket, timeout=30) as c:
            c.send_raw(b"".join(message(*place(f"gone-{i}")) for i in range(5)))
        self.assertEqual(one_by_one(e.socket, [place("after")]),
                         [("ok", {"standing_order": "after", "next_delivery": "2027-02-01T07:00:00+02:00"})])
        sent = [f"q-{i:02d}" for i in range(20)]
        c = Connection(e.socket, timeout=30)
        c.send_raw(b"".join(message(*place(i)) for i in sent))
        time.sleep(0.02)
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0, e.log(p))
        c.close()
        self.assertIn("stopped", e.log(p))
        p = e.start_ready(CLOCK)
        ids = [s["id"] for s in listed(e.socket)]
        gone = [i for i in ids if i.startswith("gone-")]
        self.assertEqual(gone, [f"gone-{i}" for i in range(len(gone))])
        self.assertIn("after", ids)
        q = [i for i in ids if i.startswith("q-")]
        print(f"{len(gone)} of 5 gone-, {len(q)} of {len(sent)} q- applied", flush=True)
        self.assertEqual(q, sent[:len(q)])
        self.stop_clean(e, p)


if __name__ == "__main__":
    unittest.main()
