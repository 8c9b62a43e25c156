"""Idempotent requests (issue 9): an idempotency_key on a mutating method makes a
retry return the first reply without doing it again, per caller's user, across a
restart; the same key with other parameters is IdempotencyKeyReused.

Before issue 9 the daemon refused the parameter (InvalidParameter idempotency_key),
and without it the 100 calls below created 100 orders."""
import concurrent.futures
import json
import os
import shutil
import unittest

from harness import DaemonTest, api_standing_order, standing_order
from varlink import Connection, VarlinkError
import test_socket as ts

CLOCK = "2026-11-25T00:00:00Z,1"
ADDRESS = {"name": "ACME Oy", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki", "country": "FI"}
IDLE = standing_order("idle", {"every": "1 month", "start": "2027-06-01", "at": '"06:00"', "lead_time": "1 day"})


def place(key=None, qty=3, delivery="2026-12-10"):
    p = {"customer": "acme", "supplier": "lumen", "ship_to": ADDRESS, "delivery": delivery,
         "lines": [{"sku": "LAMP", "quantity": qty, "unit_price": "12.00", "currency": "EUR"}]}
    if key is not None:
        p["idempotency_key"] = key
    return p


def raw_call(sock, method, params):
    """One call on its own connection: ("ok", parameters) or ("error", name, parameters)."""
    with Connection(sock) as c:
        try:
            return ("ok", c.call(method, params))
        except VarlinkError as e:
            return ("error", e.error, e.parameters)


class Idempotency(DaemonTest):
    def start(self, e):
        return ts.start(self, e, CLOCK)

    def env_with_ops_user(self, ops_group=False):
        e = self.env()
        os.chmod(e.dir, 0o755)
        if ops_group:
            with open(os.path.join(e.conf, "standingd.yaml"), "a") as f:
                f.write("ops_group: sd-test-ops\n")
        e.orders_file("a.yaml", [IDLE])
        return e

    def orders_placed(self, e):
        return [o for o in e.orders() if o["standing_order"] is None]

    def test_place_order_once(self):
        e = self.env_with_ops_user()
        p = self.start(e)
        # 100 connections at once, one key: one order, 100 identical replies
        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            got = list(pool.map(lambda _: raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4711")),
                                range(100)))
        self.assertEqual({g[0] for g in got}, {"ok"}, got[:3])
        first = got[0][1]
        for g in got:
            self.assertEqual(g[1], first)
        number = first["order"]["order"]
        self.assertEqual([o["order"] for o in self.orders_placed(e)], [number])
        self.assertEqual(first["order"]["lines"][0]["quantity"], 3)

        # the same body with the key in another member order: the same parameters
        body = dict(reversed(list(place("web-4711").items())))
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", body), ("ok", first))
        # another body with the key: refused, nothing created
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4711", qty=4)),
                         ("error", "io.standingd.Orders.IdempotencyKeyReused", {"idempotency_key": "web-4711"}))
        # without a key nothing is deduplicated; another key is another order
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place())[0], "ok")
        other = raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4712"))
        self.assertEqual(other[0], "ok")
        self.assertNotEqual(other[1]["order"]["order"], number)
        self.assertEqual(len(self.orders_placed(e)), 3)

        # keys that are not keys
        for bad in ["", "x" * 201, "a\tb", 5]:
            self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place(bad)),
                             ("error", "org.varlink.service.InvalidParameter", {"parameter": "idempotency_key"}))
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("y" * 200))[0], "ok")
        self.assertEqual(len(self.orders_placed(e)), 4)

        # a restart changes nothing: the 101st call gets the first reply, even though
        # the clock has moved past the delivery date (the check comes after the lookup)
        e.stop(p)
        p = e.start("2026-12-20T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="restart")
        self.addCleanup(lambda: e.stop(p) if p.poll() is None else None)
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4711")), ("ok", first))
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4711", qty=4))[1],
                         "io.standingd.Orders.IdempotencyKeyReused")
        self.assertEqual(len(self.orders_placed(e)), 4)
        # a new key now meets the delivery check as any call does
        late = raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("web-4713"))
        self.assertEqual(late[1], "io.standingd.Orders.InvalidOrder")
        # and a refused call stores nothing: the same key with a good body works
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder",
                                  place("web-4713", delivery="2027-01-10"))[0], "ok")
        self.assertEqual(len(self.orders_placed(e)), 5)

    def test_payment_and_cancel_once(self):
        e = self.env_with_ops_user()
        self.start(e)
        placed = raw_call(e.socket, "io.standingd.Orders.PlaceOrder", dict(place(), payment="prepaid"))
        self.assertEqual(placed[0], "ok", placed)
        number = placed[1]["order"]["order"]
        self.assertEqual(placed[1]["order"]["status"], "awaiting_payment")
        pay = {"order": number, "amount": {"amount": "36.00", "currency": "EUR"}, "reference": "RF18 5390 0754 7034",
               "idempotency_key": "pay-1"}
        first = raw_call(e.socket, "io.standingd.Orders.RecordPayment", pay)
        self.assertEqual(first[0], "ok", first)
        self.assertEqual(first[1]["order"]["status"], "confirmed")
        # the retry: the first reply, not WrongStatus, and no second payment
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.RecordPayment", pay), first)
        without = dict(pay)
        del without["idempotency_key"]
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.RecordPayment", without),
                         ("error", "io.standingd.Orders.WrongStatus", {"order": number, "status": "confirmed"}))
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.RecordPayment", dict(pay, reference="other"))[1],
                         "io.standingd.Orders.IdempotencyKeyReused")
        cancel = {"order": number, "reason": "customer asked", "idempotency_key": "cancel-1"}
        cancelled = raw_call(e.socket, "io.standingd.Orders.CancelOrder", cancel)
        self.assertEqual(cancelled[0], "ok", cancelled)
        self.assertEqual(cancelled[1]["order"]["status"], "cancelled")
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.CancelOrder", cancel), cancelled)
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.CancelOrder", dict(cancel, reason="other"))[1],
                         "io.standingd.Orders.IdempotencyKeyReused")
        # one payment and one refund in the ledger, not two of each
        with Connection(e.socket) as c:
            kinds = [x["kind"] for x in c.call("io.standingd.Orders.ListLedger", {"customer": "acme"})["entries"]]
        self.assertEqual(sorted(kinds), sorted(["charge", "payment", "credit", "refund"]))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root to create a test user")
    def test_other_user_is_independent(self):
        ts.ensure_user("sd-test-opsuser", ["standingd", "sd-test-ops"])
        e = self.env_with_ops_user(ops_group=True)
        self.start(e)
        mine = raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("shared-key"))
        self.assertEqual(mine[0], "ok")
        call = ("io.standingd.Orders.PlaceOrder", place("shared-key"))
        theirs = ts.Permissions.as_user(self, "sd-test-opsuser", e.socket, [call, call, ("io.standingd.Orders.PlaceOrder",
                                                                                     place("shared-key", qty=9))])
        self.assertIn("ok", theirs[0], theirs)
        self.assertNotEqual(theirs[0]["ok"]["order"]["order"], mine[1]["order"]["order"])
        self.assertEqual(theirs[1], theirs[0])
        self.assertEqual(theirs[2], {"error": "io.standingd.Orders.IdempotencyKeyReused"})
        self.assertEqual(len(self.orders_placed(e)), 2)
        # root's key is still root's
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceOrder", place("shared-key")), mine)

    def test_place_standing_order_once(self):
        e = self.env_with_ops_user()
        p = self.start(e)
        sched = {"every": "1 month", "start": "2027-01-05", "at": "10:00", "lead_time": "2 days"}
        call = {"definition": api_standing_order("lamps", sched), "idempotency_key": "so-1"}
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            got = list(pool.map(lambda _: raw_call(e.socket, "io.standingd.Orders.PlaceStandingOrder", call),
                                range(20)))
        first = got[0]
        self.assertEqual(first, ("ok", {"standing_order": "lamps", "next_delivery": "2027-01-05T10:00:00+02:00"}))
        self.assertEqual(got, [first] * 20)
        # another definition with the key is refused and changes nothing
        changed = {"definition": api_standing_order("lamps", dict(sched, start="2027-02-05")), "idempotency_key": "so-1"}
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceStandingOrder", changed),
                         ("error", "io.standingd.Orders.IdempotencyKeyReused", {"idempotency_key": "so-1"}))
        with Connection(e.socket) as c:
            listed = {s["id"]: s for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}
        self.assertEqual(listed["lamps"]["next_delivery"], "2027-01-05T10:00:00+02:00")
        # an invalid definition stores no key: the key is free for a valid one
        bad = {"definition": dict(api_standing_order("lamps2", sched), customer="nobody"), "idempotency_key": "so-2"}
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceStandingOrder", bad)[1],
                         "io.standingd.Orders.InvalidDefinition")
        good = {"definition": api_standing_order("lamps2", sched), "idempotency_key": "so-2"}
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceStandingOrder", good)[0], "ok")
        # across a restart, and after the definition was cancelled, the retry gets the
        # first reply and does not place it again
        with Connection(e.socket) as c:
            c.call("io.standingd.Orders.CancelStandingOrder", {"standing_order": "lamps"})
        e.stop(p)
        p = e.start(CLOCK)
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="restart")
        self.addCleanup(lambda: e.stop(p) if p.poll() is None else None)
        self.assertEqual(raw_call(e.socket, "io.standingd.Orders.PlaceStandingOrder", call), first)
        with Connection(e.socket) as c:
            ids = [s["id"] for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]]
        self.assertEqual(sorted(ids), ["idle", "lamps2"])


if __name__ == "__main__":
    unittest.main()
