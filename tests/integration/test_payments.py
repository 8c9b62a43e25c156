"""Payments and the order's life over the socket (issue 9), against the real daemon.

The daemon runs on a test clock slowed to a crawl (1 ms of its time per real second),
so that its "now" is one exact instant for the whole of a phase and every time in a
reply is exact; a later phase restarts it at a later instant (the prepaid deadlines,
handled at start-up), and one phase lets its clock run (ten minutes a second) so that the
payment timer itself must fire. Exact values throughout:

- an account order within the credit limit is charged and confirmed; one past it is
  on_hold and not charged; ReleaseOrder answers CreditLimitExceeded until a
  RecordAccountPayment brings the balance down, then charges and confirms it;
- a prepaid order awaits payment; a wrong amount is WrongAmount with what is due;
  the exact amount confirms it; an unpaid one gets order.payment_overdue once
  (across restarts too) and is cancelled by "standingd" after cancel_unpaid_after;
- CancelOrder: a credit entry for a charged order, a credit and a refund for a paid
  prepaid one (GetAccount and ListLedger, entry by entry);
- MarkShipped refuses an order that is not confirmed (NotConfirmed with its status);
- VAT: one rounding per order, half away from zero (3 x 0.85 + 0.45 EUR at 25.5%:
  0.77, where rounding each line would give 0.76).
"""
import json
import os
import subprocess
import time
import unittest

from harness import DaemonTest, StatusWatch
from varlink import Connection, VarlinkError

OUTBOX = os.environ.get("OUTBOX", "build/tests/outbox")

START = "2026-12-01T08:00:00Z"
FROZEN = ",0.001"          # 1 ms of daemon time per real second: now stays START

CUSTOMERS = """\
customers:
  - id: acme
    name: ACME Oy
    timezone: Europe/Helsinki
    vat: "25.5%"
    account: {number: ACC-1001, credit_limit: "1000.00 EUR"}
  - id: pho
    name: Phở Sài Gòn
    timezone: Asia/Ho_Chi_Minh
    vat: "10%"
    payment_due: 2 hours
    cancel_unpaid_after: 4 hours
  - id: kauppa
    name: Kauppa Oy
    timezone: Europe/Helsinki
    vat: "25.5%"
standing_orders: []
"""

ADDRESS = {"name": "Varasto", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki", "country": "FI"}


def line(sku, qty, price):
    return {"sku": sku, "quantity": qty, "unit_price": price, "currency": "EUR"}


def eur(amount):
    return {"amount": amount, "currency": "EUR"}


class Payments(DaemonTest):
    def setUp(self):
        self.e = self.env()
        self.e.write("orders.d/customers.yaml", CUSTOMERS)
        self.p = None

    def start(self, clock):
        if self.p is not None:
            self.assertEqual(self.e.stop(self.p), 0)
        self.p = self.e.start_ready(clock)
        return self.p

    def call(self, method, params=None, more=False):
        with Connection(self.e.socket) as c:
            return c.call("io.standingd." + method, params or {}, more=more)

    def refused(self, method, params):
        with self.assertRaises(VarlinkError) as cm:
            self.call(method, params)
        return cm.exception.error, cm.exception.parameters

    def place(self, customer, lines, payment, delivery="2027-01-15"):
        return self.call("Orders.PlaceOrder", {"customer": customer, "supplier": "lumen", "ship_to": ADDRESS,
                                               "lines": lines, "payment": payment, "delivery": delivery})["order"]

    def events(self, kinds=None):
        r = subprocess.run([OUTBOX, self.e.state], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        ev = [json.loads(x) for x in r.stdout.splitlines()]
        return [x for x in ev if kinds is None or x["type"] in kinds]

    def ledger(self, customer, **window):
        return self.call("Orders.ListLedger", dict(customer=customer, **window))["entries"]

    def test_payments(self):
        self.start(START + FROZEN)
        now = START

        # ---- account orders and the credit limit (acme: 1000.00 EUR, VAT 25.5%) ----
        o1 = self.place("acme", [line("BULB", 500, "1.00")], "account")
        self.assertEqual((o1["status"], o1["net"], o1["vat_rate"], o1["vat"], o1["gross"], o1["total"]),
                         ("confirmed", eur("500.00"), "25.5%", eur("127.50"), eur("627.50"), eur("627.50")))
        self.assertEqual(o1["amount_due"], None)
        self.assertEqual(o1["history"], [{"at": now, "by": "ops:root", "status": "confirmed", "reason": None}])
        n1 = o1["order"]
        # 627.50 + 502.00 > 1000.00: on hold, nothing charged
        o2 = self.place("acme", [line("BULB", 400, "1.00")], "account")
        n2 = o2["order"]
        self.assertEqual((o2["status"], o2["gross"]), ("on_hold", eur("502.00")))
        self.assertEqual([t["status"] for t in o2["history"]], ["on_hold"])
        self.assertIn("credit limit", o2["history"][0]["reason"])
        acct = self.call("Orders.GetAccount", {"customer": "acme"})["account"]
        self.assertEqual(acct["balances"], [eur("627.50")])
        self.assertEqual(acct["open_orders"], [n2])
        self.assertEqual(acct["credit_limit"], eur("1000.00"))
        self.assertEqual(acct["account"], "ACC-1001")
        # the ledger has only the first order's charge
        self.assertEqual([(x["kind"], x["order"], x["amount"], x["balance_after"]) for x in self.ledger("acme")],
                         [("charge", n1, eur("627.50"), eur("627.50"))])
        hold_ev = [x["payload"] for x in self.events({"order.on_hold"})]
        self.assertEqual([x["order"] for x in hold_ev], [n2])
        # still past the limit
        self.assertEqual(self.refused("Orders.ReleaseOrder", {"order": n2}),
                         ("io.standingd.Orders.CreditLimitExceeded",
                          {"order": n2, "balance": eur("627.50"), "limit": eur("1000.00"), "total": eur("502.00")}))
        # on hold is not to be shipped
        self.assertEqual(self.refused("Supplier.MarkShipped", {"order": n2, "carrier": "Posti", "tracking": "JJ1"}),
                         ("io.standingd.Supplier.NotConfirmed", {"order": n2, "status": "on_hold"}))
        # the customer pays 300.00 on account: 327.50 + 502.00 fits
        entry = self.call("Orders.RecordAccountPayment", {"customer": "acme", "amount": eur("300.00"),
                                                          "reference": "BANK-2026-1201"})["entry"]
        self.assertEqual((entry["kind"], entry["order"], entry["reference"], entry["amount"], entry["balance_after"]),
                         ("payment", None, "BANK-2026-1201", eur("300.00"), eur("327.50")))
        rel = self.call("Orders.ReleaseOrder", {"order": n2})["order"]
        self.assertEqual(rel["status"], "confirmed")
        self.assertEqual([(t["status"], t["by"]) for t in rel["history"]],
                         [("on_hold", "ops:root"), ("confirmed", "ops:root")])
        self.assertEqual(self.refused("Orders.ReleaseOrder", {"order": n2}),
                         ("io.standingd.Orders.WrongStatus", {"order": n2, "status": "confirmed"}))
        # cancel the first: a credit entry, never a deletion
        can = self.call("Orders.CancelOrder", {"order": n1, "reason": "customer changed its mind"})["order"]
        self.assertEqual(can["status"], "cancelled")
        self.assertEqual(can["history"][-1], {"at": now, "by": "ops:root", "status": "cancelled",
                                                  "reason": "customer changed its mind"})
        got = [(x["seq"], x["at"], x["kind"], x["order"], x["reference"], x["amount"], x["balance_after"])
               for x in self.ledger("acme")]
        self.assertEqual(got, [
            (1, now, "charge", n1, None, eur("627.50"), eur("627.50")),
            (2, now, "payment", None, "BANK-2026-1201", eur("300.00"), eur("327.50")),
            (3, now, "charge", n2, None, eur("502.00"), eur("829.50")),
            (4, now, "credit", n1, None, eur("627.50"), eur("202.00")),
        ])
        acct = self.call("Orders.GetAccount", {"customer": "acme"})["account"]
        self.assertEqual((acct["balances"], acct["open_orders"]), ([eur("202.00")], []))
        self.assertEqual([x["seq"] for x in acct["entries"]], [1, 2, 3, 4])
        # ListLedger: a window that ends before now is empty; with "more", in parts
        self.assertEqual(self.ledger("acme", to="2026-12-01"), [])
        parts = self.call("Orders.ListLedger", {"customer": "acme", "from": "2026-12-01"}, more=True)
        self.assertEqual([x["seq"] for p in parts for x in p["entries"]], [1, 2, 3, 4])
        # a shipped order cannot be cancelled; a confirmed one can be shipped
        self.call("Supplier.MarkShipped", {"order": n2, "carrier": "Posti", "tracking": "JJ2"})
        self.assertEqual(self.refused("Orders.CancelOrder", {"order": n2, "reason": "late"}),
                         ("io.standingd.Orders.WrongStatus", {"order": n2, "status": "shipped"}))
        # an account order in another currency than the limit's is refused at validation
        err, params = self.refused("Orders.PlaceOrder", {
            "customer": "acme", "supplier": "lumen", "ship_to": ADDRESS, "delivery": "2027-01-15",
            "lines": [{"sku": "X", "quantity": 1, "unit_price": "10", "currency": "NOK"}], "payment": "account"})
        self.assertEqual((err, params), ("io.standingd.Orders.InvalidOrder", {"errors": [{
            "field": "lines", "message": 'customer "acme" has its credit limit in EUR: an account order must be '
                                         'in EUR, got NOK'}]}))

        # ---- VAT: one rounding per order, half away from zero (kauppa, prepaid, 25.5%) ----
        v = self.place("kauppa", [line("BULB", 3, "0.85"), line("CLIP", 1, "0.45")], "prepaid")
        self.assertEqual([x["net"] for x in v["lines"]], ["2.55", "0.45"])
        self.assertEqual((v["net"], v["vat"], v["gross"], v["amount_due"]),
                         (eur("3.00"), eur("0.77"), eur("3.77"), eur("3.77")))   # 76.5 cents -> 77
        v = self.place("kauppa", [line("BULB", 3, "0.85")], "prepaid")
        self.assertEqual((v["net"], v["vat"], v["gross"]), (eur("2.55"), eur("0.65"), eur("3.20")))  # 65.025
        v = self.place("kauppa", [line("BULB", 1, "1.00")], "prepaid")
        self.assertEqual((v["net"], v["vat"], v["gross"]), (eur("1.00"), eur("0.26"), eur("1.26")))  # 25.5 -> 26

        # ---- prepaid (pho: VAT 10%, payment due after 2 hours, cancelled after 4) ----
        pa = self.place("pho", [line("PHO", 2, "12.50")], "prepaid")
        npa = pa["order"]
        self.assertEqual((pa["status"], pa["gross"], pa["amount_due"]), ("awaiting_payment", eur("27.50"), eur("27.50")))
        self.assertTrue(pa["payment_reference"].startswith("RF"), pa["payment_reference"])
        waiting = [x["payload"] for x in self.events({"order.awaiting_payment"}) if x["payload"]["order"] == npa]
        self.assertEqual(len(waiting), 1)
        self.assertEqual(self.refused("Supplier.MarkShipped", {"order": npa, "carrier": "Posti", "tracking": "JJ3"}),
                         ("io.standingd.Supplier.NotConfirmed", {"order": npa, "status": "awaiting_payment"}))
        self.assertEqual(self.refused("Orders.RecordPayment", {"order": npa, "amount": eur("27.00"), "reference": "PAY-1"}),
                         ("io.standingd.Orders.WrongAmount", {"order": npa, "due": eur("27.50")}))
        self.assertEqual(self.refused("Orders.RecordPayment", {"order": npa, "amount": {"amount": "27.50", "currency": "NOK"},
                                                               "reference": "PAY-1"}),
                         ("io.standingd.Orders.WrongAmount", {"order": npa, "due": eur("27.50")}))
        paid = self.call("Orders.RecordPayment", {"order": npa, "amount": eur("27.50"), "reference": "PAY-1"})["order"]
        self.assertEqual((paid["status"], paid["amount_due"]), ("confirmed", None))
        self.assertEqual([t["status"] for t in paid["history"]], ["awaiting_payment", "confirmed"])
        self.assertEqual(self.refused("Orders.RecordPayment", {"order": npa, "amount": eur("27.50"), "reference": "PAY-1"}),
                         ("io.standingd.Orders.WrongStatus", {"order": npa, "status": "confirmed"}))
        # a paid prepaid order cancelled: credit and refund; the balance never moved
        self.call("Orders.CancelOrder", {"order": npa, "reason": "out of stock"})
        self.assertEqual([(x["kind"], x["order"], x["amount"], x["balance_after"]) for x in self.ledger("pho")], [
            ("charge", npa, eur("27.50"), eur("27.50")),
            ("payment", npa, eur("27.50"), eur("0.00")),
            ("credit", npa, eur("27.50"), eur("-27.50")),
            ("refund", npa, eur("27.50"), eur("0.00")),
        ])
        self.assertEqual(self.ledger("pho")[1]["reference"], "PAY-1")
        # one left unpaid: overdue at 10:00, cancelled at 12:00
        unpaid = self.place("pho", [line("PHO", 1, "12.50")], "prepaid")["order"]
        self.assertEqual(self.events({"order.payment_overdue"}), [])

        # ---- restarts at later instants: the deadlines that passed meanwhile ----
        self.start("2026-12-01T10:30:00Z" + FROZEN)
        overdue = self.events({"order.payment_overdue"})
        self.assertEqual([x["payload"]["order"] for x in overdue], [unpaid])
        self.assertEqual(self.call("Orders.GetOrder", {"order": unpaid})["order"]["status"], "awaiting_payment")
        self.start("2026-12-01T11:00:00Z" + FROZEN)     # again: still once
        self.assertEqual(len(self.events({"order.payment_overdue"})), 1)
        # now the clock runs (ten minutes a second): the timer cancels it at 12:00
        self.start("2026-12-01T11:50:00Z,600")
        self.e.wait_for(lambda: self.call("Orders.GetOrder", {"order": unpaid})["order"]["status"] == "cancelled",
                        timeout=15, what="the unpaid order cancelled")
        got = self.call("Orders.GetOrder", {"order": unpaid})["order"]
        self.assertEqual([(t["status"], t["by"]) for t in got["history"]],
                         [("awaiting_payment", "ops:root"), ("cancelled", "standingd")])
        # by the timer (the clock started at 11:50), within a few seconds of the deadline
        self.assertTrue("2026-12-01T12:00:00Z" <= got["history"][1]["at"] <= "2026-12-01T12:00:30Z", got["history"])
        self.assertEqual(got["history"][1]["reason"], "unpaid after 4 hours")
        self.assertIn("prepaid orders unpaid: 0 overdue (order.payment_overdue), 1 cancelled", self.e.log(self.p))
        self.assertEqual(len(self.events({"order.payment_overdue"})), 1)
        cancelled = [x["payload"]["order"] for x in self.events({"order.cancelled"})]
        self.assertEqual(cancelled, [n1, npa, unpaid])
        # nothing charged for it, nothing to credit
        self.assertEqual([x["order"] for x in self.ledger("pho")], [npa] * 4)
        self.assertEqual(self.e.stop(self.p), 0)

    def test_backlog_in_slices(self):
        """300 prepaid orders whose deadlines all passed while the daemon was down: at
        start-up they are cancelled 64 per loop turn (five slices: 64 x 4 + 44), each
        told overdue once before its cancellation, and Status is answered throughout."""
        self.start(START + FROZEN)
        with Connection(self.e.socket) as c:
            for _ in range(300):
                c.call("io.standingd.Orders.PlaceOrder", {"customer": "pho", "supplier": "lumen", "ship_to": ADDRESS,
                                                          "lines": [line("PHO", 1, "12.50")], "payment": "prepaid",
                                                          "delivery": "2027-01-15"})
        self.assertEqual(self.e.stop(self.p), 0)
        self.p = None
        self.start("2026-12-02T08:00:00Z" + FROZEN)
        with StatusWatch(self.e.socket, period=0.02) as w:
            self.e.wait_for(lambda: len(self.call("Orders.ListOrders", {"status": "cancelled"})["orders"]) == 300,
                            timeout=30, what="300 cancelled")
        w.assert_responsive(self)
        log = self.e.log(self.p)
        self.assertEqual(log.count("prepaid orders unpaid: 64 overdue (order.payment_overdue), 64 cancelled"), 4, log)
        self.assertEqual(log.count("prepaid orders unpaid: 44 overdue (order.payment_overdue), 44 cancelled"), 1, log)
        self.assertEqual(len(self.events({"order.cancelled"})), 300)
        self.assertEqual(len(self.events({"order.payment_overdue"})), 300)
        self.assertEqual(self.e.stop(self.p), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
