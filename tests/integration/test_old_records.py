"""A store written before issue 12's compact records (issue 12, target 3): the orders
a daemon made (a standing order's backlog, one-time orders, a shipped one, a paid
prepaid one: orders, events, pending entries, ledger entries, schedule states)
are rewritten by tests/tools/old_records as the JSON records the code before
wrote (and the orders' shared parts dropped). standingctl reads that store offline
exactly as it read the compact one, verify passes, the daemon opens it (adding
what it lacks) and every reply about the old orders is the same, byte for byte;
what it writes from then on is compact, and old and new records live side by side.
Before issue 12 nothing was compact: the first old_records run counts each family
compact (it would count 0 of each there)."""
import json
import os
import subprocess
import unittest

from harness import DaemonTest, Env, CUSTOMERS, STANDINGCTL, standing_order

OLD_RECORDS = os.environ.get("OLD_RECORDS", "build/tests/old_records")
CLOCK = "2026-11-25T00:00:00Z,0.000001"

ORDER_YAML = """\
customer: {customer}
supplier: lumen
ship_to: {{name: "Verkkokauppa Äö", street: Katu 1, postcode: "00510", city: Helsinki, country: FI}}
lines:
  - {{sku: BULB-60W, quantity: 10, unit_price: "4.00 EUR"}}
  - {{sku: "LAMPPU-Ø", quantity: 3, unit_price: "19.90 EUR"}}
payment: {payment}
delivery: 2026-12-20
"""


class OldRecords(DaemonTest):
    def setUp(self):
        self.e = Env()
        self.addCleanup(self.e.close)
        self.e.orders_file("so.yaml", [
            standing_order("acme-bulbs", {"every": "1 day", "at": "06:00", "start": "2026-11-21",
                                          "timezone": "Europe/Helsinki"}),
            standing_order("kaffe-beans", {"every": "1 day", "at": "07:00", "start": "2026-11-23"},
                           customer="kaffe", supplier="nordkaffe", sku="KAFFE-1KG", qty=20, price="150 NOK"),
        ])

    def start(self):
        p = self.e.start_ready(CLOCK)
        self.addCleanup(lambda: self.e.stop(p) if p.poll() is None else None)
        return p

    def ctl(self, *args):
        """(exit code, stdout, stderr) over the socket or offline"""
        env = dict(os.environ, STANDINGD_SOCKET=self.e.socket)
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=60, env=env)
        return r.returncode, r.stdout, r.stderr

    def ok(self, *args):
        code, out, err = self.ctl(*args)
        self.assertEqual((code, err), (0, ""), args)
        return out

    def place(self, payment, customer="acme"):
        path = os.path.join(self.e.dir, f"{payment}-{customer}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ORDER_YAML.format(payment=payment, customer=customer))
        return json.loads(self.ok("place-order", path, "--json").splitlines()[0])["order"]

    def offline(self):
        return {"orders": self.ok("orders", "--state", self.e.state, "--json"),
                "verify": self.ctl("verify", "--state", self.e.state)}

    def online(self, numbers):
        seen = {"orders": self.ok("orders", "--json"), "accounts": self.ok("account", "acme") + self.ok("account", "kaffe"),
                "ledger": self.ok("ledger", "acme") + self.ok("ledger", "kaffe"),
                "outbox": self.ok("outbox", "--json")}
        for n in numbers:
            seen[n] = self.ok("order", n)
        return seen

    def old_records(self):
        r = subprocess.run([OLD_RECORDS, self.e.state], capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        return r.stdout.strip()

    def test_old_store_reads_the_same(self):
        p = self.start()
        self.e.wait_for(lambda: len(self.e.orders()) == 6, what="the backlog: 4 + 2 orders")
        account = self.place("account")
        prepaid = self.place("prepaid")
        self.ok("pay", prepaid, "99.70 EUR", "pankki 1234")
        shipped = json.loads(self.ok("orders", "--json").splitlines()[0])["order"]
        self.ok("ship", shipped, "--carrier", "posti", "--tracking", "JJFI6123")
        orders = [json.loads(l) for l in self.ok("orders", "--json").splitlines()]
        numbers = [o["order"] for o in orders]
        self.assertEqual(len(numbers), 8)
        self.assertIn(account, numbers)
        self.assertIn(prepaid, numbers)
        before = self.online(numbers)
        self.assertEqual(self.e.stop(p), 0)
        offline_before = self.offline()
        self.assertEqual(offline_before["verify"][0], 0, offline_before["verify"])

        # every record of the families compact (the events other than order.created are
        # JSON still: awaiting_payment, confirmed, shipped), then as the old code wrote it
        self.assertEqual(self.old_records(), "orders 8/8 events 8/11 pending 11/11 parked 0/0 ledger 9/9 sched 2/2")
        self.assertEqual(self.old_records(), "orders 0/8 events 0/11 pending 0/11 parked 0/0 ledger 0/9 sched 0/2")
        self.assertEqual(self.offline(), offline_before)

        # the daemon opens it (read-write: adds what it lacks) and answers as before
        p = self.start()
        self.assertEqual(self.online(numbers), before)
        # what it writes now is compact, beside the old records
        shipped2 = numbers[1]
        self.ok("ship", shipped2, "--carrier", "posti", "--tracking", "JJFI6124")
        added = self.place("account")
        after = self.online(numbers)
        self.assertNotEqual(after[shipped2], before[shipped2])
        for n in numbers:
            if n != shipped2:
                self.assertEqual(after[n], before[n], n)
        self.assertEqual(self.e.stop(p), 0)
        self.assertEqual(self.ctl("verify", "--state", self.e.state)[0], 0)
        self.assertEqual(self.old_records(), "orders 2/9 events 1/13 pending 2/13 parked 0/0 ledger 1/10 sched 0/2")
        self.assertIn(added, self.ok("orders", "--state", self.e.state, "--json"))


if __name__ == "__main__":
    unittest.main()
