"""One order, one JSON shape: io.standingd.Orders.GetOrder, `standingctl orders
--json` over the socket and `standingctl orders --json --state DIR` (offline, on
the store) print the same fields with the same values, byte for byte, for orders
of a standing order, a shipped one and a one-time order. Before the order model
(issue 8) the offline output lacked ship_to, carrier, tracking and shipped."""
import json
import os
import subprocess
import unittest

from harness import DaemonTest, standing_order, STANDINGCTL
from varlink import Connection

DAILY = standing_order("daily", {"every": "1 day", "start": "2026-12-01", "at": '"06:00"', "lead_time": "1 day"})
FIELDS = ["order", "standing_order", "customer", "supplier", "ship_to", "lines", "total", "delivery",
          "created", "payment", "status", "late", "carrier", "tracking", "shipped",
          # issue 9: the money and the order's life
          "net", "vat", "vat_rate", "gross", "amount_due", "payment_reference", "paid", "history"]


class OrderModel(DaemonTest):
    def ctl_lines(self, e, *args):
        env = dict(os.environ, STANDINGD_SOCKET=e.socket)
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        return r.stdout.splitlines()

    def test_three_outputs_are_identical(self):
        e = self.env()
        e.orders_file("a.yaml", [DAILY])
        # three occurrences are due (1, 2 and 3 December, created a day ahead)
        p = e.start("2026-12-03T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        e.wait_for(lambda: len(e.orders()) == 3, what="three orders")
        with Connection(e.socket) as c:
            placed = c.call("io.standingd.Orders.PlaceOrder", {
                "customer": "kaffe", "supplier": "nordkaffe",
                "ship_to": {"name": "Kaffebrenneriet", "street": "Storgata 5", "city": "Tromsø", "country": "NO"},
                "lines": [{"sku": "BEANS-1KG", "quantity": 12, "unit_price": "189.50", "currency": "NOK"},
                          {"sku": "FILTER", "quantity": 3, "unit_price": "49", "currency": "NOK"}],
                "payment": "prepaid", "delivery": "2026-12-10"})["order"]
            first = sorted(o["order"] for o in e.orders())[0]
            shipped = c.call("io.standingd.Supplier.MarkShipped",
                             {"order": first, "carrier": "Posti", "tracking": "JJFI6400"})["order"]
            numbers = sorted(o["order"] for o in e.orders())
            self.assertEqual(len(numbers), 4)
            got = {n: c.call("io.standingd.Orders.GetOrder", {"order": n})["order"] for n in numbers}
        e.stop(p)   # the store no longer changes: offline and socket read the same orders

        p = e.start("2026-12-03T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="restart")
        self.assertIsNone(p.poll(), e.log(p))
        socket_lines = self.ctl_lines(e, "orders", "--json")
        offline_lines = self.ctl_lines(e, "orders", "--json", "--state", e.state)
        e.stop(p)

        # the same lines, byte for byte, in the same (delivery) order
        self.assertEqual(offline_lines, socket_lines)
        by_number = {json.loads(line)["order"]: json.loads(line) for line in offline_lines}
        self.assertEqual(sorted(by_number), numbers)
        for n in numbers:
            self.assertEqual(list(by_number[n]), FIELDS, n)
            self.assertEqual(by_number[n], got[n], n)

        # and the values are the order's, not merely equal to one another
        self.assertEqual(got[placed["order"]], placed)
        one = got[placed["order"]]
        self.assertEqual(one["standing_order"], None)
        self.assertEqual(one["ship_to"], {"name": "Kaffebrenneriet", "street": "Storgata 5", "postcode": None,
                                          "city": "Tromsø", "country": "NO"})
        self.assertEqual(one["total"], {"amount": "2421.00", "currency": "NOK"})
        self.assertEqual(one["delivery"], "2026-12-10T00:00:00+01:00")
        self.assertEqual(one["payment"], "prepaid")
        self.assertEqual((one["carrier"], one["tracking"], one["shipped"]), (None, None, None))
        s = got[first]
        self.assertEqual(s, shipped)
        self.assertEqual((s["status"], s["carrier"], s["tracking"]), ("shipped", "Posti", "JJFI6400"))
        self.assertEqual(s["shipped"], s["shipped"][:19] + "Z")
        self.assertEqual(s["ship_to"]["city"], "Helsinki")
        self.assertEqual(s["total"], {"amount": "850.00", "currency": "EUR"})
        self.assertEqual(s["delivery"], "2026-12-01T06:00:00+02:00")
        self.assertEqual(s["lines"], [{"sku": "BULB-60W", "quantity": 1000, "unit_price": "0.85", "currency": "EUR",
                                       "net": "850.00"}])


if __name__ == "__main__":
    unittest.main()
