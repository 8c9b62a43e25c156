"""The thin running set (issue 12, target 1): the daemon keeps the standing
orders of its YAML files without their bulk (ship_to, lines) and reads it from
the compiled records in the store when it makes an order or builds a reply. The
same book run by two daemons, one thin (the default) and one resident
(STANDINGD_RESIDENT=1, everything in memory as before), on a frozen test clock:
every reply that shows the bulk (ListStandingOrders, ListUpcoming with created
and projected shipments, Forecast, ListOrders, ListTasks with a reminder's text,
GetCustomer) and `standingctl orders --json` are byte for byte the same, after
the start, after a standing order placed through the API, and after a reload that
changes a customer defined in another file than its standing orders (which links
them again: a thin one from its file read again)."""
import json
import os
import re
import subprocess
import unittest

from harness import DaemonTest
from varlink import Connection, VarlinkError

CSET = os.environ.get("CSET", "build/tests/cset")

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "conf")
# frozen: both daemons see the same "now" for every order and task they make
CLOCK = "2027-03-15T06:00:00Z,0.000001"

CUSTOMER = """\
customers:
  - id: tilaaja
    name: Tilaaja Oy
    language: fi
    timezone: {zone}
    salesperson: sanna
    account: {{number: ACC-9, credit_limit: "900000.00 EUR"}}
    contacts:
      - {{name: Åke Öhman, role: purchasing, email: ake@tilaaja.example}}
"""

THIN = """\
standing_orders:
  - id: daily-remind
    customer: tilaaja
    supplier: lumen
    ship_to: {name: "Tilaaja – varasto", street: Kauppakatu 3 B, postcode: "40100", city: Jyväskylä, country: FI}
    lines:
      - {sku: BULB-60W, quantity: 12, unit_price: "0.85 EUR"}
      - {sku: TUBE-T8-120, quantity: 3, unit_price: "3.40 EUR"}
    payment: account
    schedule: {every: 1 day, start: 2027-03-01, at: "06:00", timezone: UTC}
    reminders:
      - {before: 3 days, task: "Soita {contact}: {delivery_date}, {total}"}
  - id: weekly-plain
    customer: tilaaja
    supplier: lumen
    ship_to: {name: Tilaaja, street: Kauppakatu 3 B, postcode: "40100", city: Jyväskylä, country: FI}
    lines:
      - {sku: "LAMP \\"Ω\\"", quantity: 1, unit_price: "120.00 EUR"}
      - {sku: BULB-60W, quantity: 100, unit_price: "0.85 EUR"}
      - {sku: STARTER-S10, quantity: 7, unit_price: "0.35 EUR"}
    payment: account
    schedule: {every: 1 week, start: 2027-02-01, at: "09:30", lead_time: 2 days}
  - id: hourly-plain
    customer: tilaaja
    supplier: nordkaffe
    ship_to: {name: Kahvila, street: Väinönkatu 1, postcode: "40100", city: Jyväskylä, country: FI}
    lines:
      - {sku: BEANS, quantity: 2, unit_price: "95.00 EUR"}
    payment: account
    schedule: {every: 6 hours, start: 2027-03-10, count: 40}
"""

API_ORDER = {"id": "api-1", "customer": "tilaaja", "supplier": "lumen",
             "ship_to": {"name": "API", "street": "Rajapinta 1", "postcode": "00100", "city": "Helsinki",
                         "country": "FI"},
             "lines": [{"sku": "LAMP", "quantity": 5, "unit_price": "12.00 EUR"}],
             "payment": "account", "schedule": {"every": "3 days", "start": "2027-03-01"}}

CALLS = [
    ("io.standingd.Ops.ListStandingOrders", {}),
    ("io.standingd.Supplier.ListUpcoming", {"from": "2027-03-01", "to": "2027-04-15"}),
    ("io.standingd.Supplier.ListUpcoming", {"from": "2027-03-01", "to": "2027-04-15", "supplier": "nordkaffe"}),
    ("io.standingd.Ops.Forecast", {"from": "2027-03-10", "to": "2027-05-01"}),
    ("io.standingd.Orders.ListOrders", {}),
    ("io.standingd.Crm.ListTasks", {}),
    ("io.standingd.Crm.GetCustomer", {"customer": "tilaaja"}),
    ("io.standingd.Crm.GetCustomer", {"customer": "acme"}),
]


def config(state, sock):
    """The example standingd.yaml, without its mail and notify (nothing is sent)."""
    with open(os.path.join(EXAMPLE, "standingd.yaml"), encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"^(state_dir|socket|notify_command):.*\n", "", text, flags=re.M)
    text = re.sub(r"^mail:\n(  .*\n)+", "", text, flags=re.M)
    return f"state_dir: {state}\nsocket: {sock}\n" + text


class Raw(Connection):
    def call_bytes(self, method, params):
        self.send({"method": method, "parameters": params})
        return self.recv_bytes()


class ThinTest(DaemonTest):
    def book(self, e, zone="Europe/Helsinki"):
        e.write("standingd.yaml", config(e.state, e.socket))
        for name in sorted(os.listdir(os.path.join(EXAMPLE, "orders.d"))):
            with open(os.path.join(EXAMPLE, "orders.d", name), encoding="utf-8") as f:
                e.write("orders.d/" + name, f.read())
        e.write("orders.d/tilaaja.yaml", CUSTOMER.format(zone=zone))
        e.write("orders.d/zz-thin.yaml", THIN)

    def start(self, resident):
        e = self.env()
        self.book(e)
        p = e.start_ready(CLOCK, extra_env={"STANDINGD_RESIDENT": "1" if resident else "0"})
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        c = Raw(e.socket, timeout=30)
        self.addCleanup(c.close)
        return e, p, c

    def settled(self, e, c):
        """Waits until the engine has nothing due at the frozen now; its order count."""
        import json

        def done():
            st = json.loads(c.call_bytes("io.standingd.Ops.Status", {}))["parameters"]
            return st["next_due"] is None or st["next_due"] > "2027-03-15T06:00:01Z"
        e.wait_for(done, what="nothing due")
        return json.loads(c.call_bytes("io.standingd.Ops.Status", {}))["parameters"]["orders"]

    def replies(self, e, c):
        got = [c.call_bytes(m, p) for m, p in CALLS]
        got.append(e.ctl("orders", "--state", e.state, "--json").stdout.encode())
        return got

    def assert_same(self, a, b, what):
        for (m, p), x, y in zip(CALLS + [("standingctl orders --json", {})], a, b):
            self.assertEqual(x, y, f"{what}: {m} {p}")

    def test_thin_and_resident_answer_alike(self):
        import json
        er, pr, cr = self.start(resident=True)
        et, pt, ct = self.start(resident=False)
        n = self.settled(er, cr)
        self.assertEqual(self.settled(et, ct), n)
        self.assertGreater(n, 40)
        a, b = self.replies(er, cr), self.replies(et, ct)
        self.assert_same(a, b, "after the start")
        # the replies hold the bulk: lines, addresses, the reminder's text
        ups = json.loads(a[1])["parameters"]["shipments"]
        plain = [s for s in ups if s["standing_order"] == "weekly-plain"]
        self.assertEqual([s["status"] for s in plain].count("projected") > 0, True)
        self.assertEqual([ln["sku"] for ln in plain[-1]["lines"]], ['LAMP "Ω"', "BULB-60W", "STARTER-S10"])
        self.assertEqual(plain[-1]["ship_to"]["city"], "Jyväskylä")
        created = [s for s in ups if s["standing_order"] == "hourly-plain" and s["status"] != "projected"]
        # every 6 h from 2027-03-10 00:00 Helsinki (03-09 22:00 UTC) through 03-15 04:00 UTC
        self.assertEqual(len(created), 22)
        self.assertEqual(created[0]["ship_to"]["street"], "Väinönkatu 1")
        tasks = json.loads(a[5])["parameters"]["tasks"]
        self.assertEqual([t["text"] for t in tasks if t["standing_order"] == "daily-remind"],
                         ["Soita Åke Öhman: torstai 18. maaliskuuta 2027, 20,40\u00a0€"])

        # a standing order placed through the API (its bulk stays in memory)
        for c in (cr, ct):
            r = json.loads(c.call_bytes("io.standingd.Orders.PlaceStandingOrder", {"definition": API_ORDER}))
            self.assertEqual(r["parameters"]["standing_order"], "api-1", r)
        n = self.settled(er, cr)
        self.assertEqual(self.settled(et, ct), n)
        self.assert_same(self.replies(er, cr), self.replies(et, ct), "after PlaceStandingOrder")

        # the customer changes zone in its own file: the standing orders of
        # zz-thin.yaml (kept, thin) are linked again
        for e, c in ((er, cr), (et, ct)):
            e.write("orders.d/tilaaja.yaml", CUSTOMER.format(zone="Europe/Riga"))
            c.call_bytes("io.standingd.Ops.Reload", {})
        n = self.settled(er, cr)
        self.assertEqual(self.settled(et, ct), n)
        a, b = self.replies(er, cr), self.replies(et, ct)
        self.assert_same(a, b, "after the reload")
        items = {s["id"]: s for s in json.loads(a[0])["parameters"]["standing_orders"]}
        self.assertEqual(items["weekly-plain"]["timezone"], "Europe/Riga")
        self.assertEqual(items["daily-remind"]["timezone"], "UTC")
        for e, p in ((er, pr), (et, pt)):
            self.assertEqual(e.stop(p, timeout=30), 0)
            self.assertNotIn("damaged", e.log(p))


HOURLY = """\
standing_orders:
  - id: hourly
    customer: tilaaja
    supplier: lumen
    ship_to: {name: Tunneittain, street: Kauppakatu 3 B, postcode: "40100", city: Jyväskylä, country: FI}
    lines:
      - {sku: BULB-60W, quantity: 4, unit_price: "0.85 EUR"}
    payment: account
    schedule: {every: 1 hour, start: 2027-03-15, timezone: UTC}
  - id: daily
    customer: tilaaja
    supplier: nordkaffe
    ship_to: {name: Päivittäin, street: Väinönkatu 1, postcode: "40100", city: Jyväskylä, country: FI}
    lines:
      - {sku: BEANS, quantity: 1, unit_price: "95.00 EUR"}
    payment: account
    schedule: {every: 1 day, start: 2027-03-20, timezone: UTC}
"""


class DamagedSectionTest(DaemonTest):
    """One standing order's section of its file's compiled record damaged while the
    daemon runs thin: a list that needs it answers InternalError errno 74 (EBADMSG)
    and the daemon keeps serving; a list that does not need it is answered; when
    its next occurrence comes due the daemon says so, reads the files again
    (rewriting the records) and creates that occurrence, every occurrence exactly
    once."""

    def test_damaged_section(self):
        e = self.env()
        e.write("orders.d/tilaaja.yaml", CUSTOMER.format(zone="Europe/Helsinki"))
        e.write("orders.d/zz.yaml", HOURLY)
        # 06:00 UTC comes 12 s (real) after the start
        p = e.start_ready("2027-03-15T05:58:00Z,10")
        self.addCleanup(lambda: p.poll() is None and e.stop(p, timeout=30))
        c = Connection(e.socket, timeout=30)
        self.addCleanup(c.close)
        e.wait_for(lambda: c.call("io.standingd.Ops.Status")["orders"] == 6, what="00:00-05:00 created")
        r = subprocess.run([CSET, e.state, "section", "orders.d/zz.yaml", "0"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        week = {"from": "2027-03-15T05:00:00Z", "to": "2027-03-15T09:00:00Z"}
        with self.assertRaises(VarlinkError) as cm:
            c.call("io.standingd.Supplier.ListUpcoming", week)
        self.assertEqual((cm.exception.error, cm.exception.parameters),
                         ("io.standingd.InternalError", {"errno": 74}))
        # the other standing order of that file reads (its own section is whole)
        other = c.call("io.standingd.Supplier.ListUpcoming",
                       {"from": "2027-03-20", "to": "2027-03-22", "supplier": "nordkaffe"})["shipments"]
        self.assertEqual([(o["standing_order"], o["delivery"], o["ship_to"]["name"]) for o in other],
                         [("daily", "2027-03-20T00:00:00+00:00", "Päivittäin"),
                          ("daily", "2027-03-21T00:00:00+00:00", "Päivittäin")])
        self.assertEqual(c.call("io.standingd.Ops.Status")["orders"], 6)
        # 06:00 comes due: the damage is found, the files read again, the order made
        e.wait_for(lambda: c.call("io.standingd.Ops.Status")["orders"] == 7, timeout=60, what="06:00 created")
        self.assertIn("the compiled record of orders.d/zz.yaml is damaged at standing order hourly: "
                      "read from its YAML", e.log(p))
        self.assertIn("reloaded (a damaged compiled record)", e.log(p))
        ups = c.call("io.standingd.Supplier.ListUpcoming", week)["shipments"]
        self.assertEqual([(s["delivery"], s["status"]) for s in ups][:3],
                         [("2027-03-15T05:00:00+00:00", "confirmed"), ("2027-03-15T06:00:00+00:00", "confirmed"),
                          ("2027-03-15T07:00:00+00:00", "projected")])
        self.assertEqual(ups[1]["ship_to"]["name"], "Tunneittain")
        orders = [o for o in e.orders() if o["standing_order"] == "hourly"]
        self.assertEqual(sorted(o["delivery"] for o in orders),
                         ["2027-03-15T%02d:00:00+00:00" % h for h in range(7)])
        self.assertEqual(e.stop(p, timeout=30), 0)


if __name__ == "__main__":
    unittest.main()
