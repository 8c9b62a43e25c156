"""The Varlink socket, through an independent raw client (varlink.py): every
method, introspection, each error, the limits, the permission matrix (as root)
and socket activation."""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

from harness import DaemonTest, Env, standing_order, STANDINGD, STANDINGCTL
from varlink import Connection, VarlinkError

HERE = os.path.dirname(os.path.abspath(__file__))

EXTRA_CONFIG = """\
ops_group: sd-test-ops
shop_users: [sd-test-shop]
max_connections: 8
idle_timeout: {idle}
"""


def orders_for_suppliers():
    return [
        standing_order("bulbs", {"every": "2 months", "start": "2026-12-01", "at": '"06:00"', "lead_time": "5 days"}),
        standing_order("coffee", {"every": "1 week", "start": "2026-12-06", "at": '"03:30"', "lead_time": "12 hours"},
                       customer="kaffe", supplier="nordkaffe", sku="KAFFE-1KG", qty=60, price="189.00 NOK"),
    ]


def socket_env(test, suppliers_users=None, idle="60 seconds"):
    e = Env()
    test.addCleanup(e.close)
    os.chmod(e.dir, 0o755)
    with open(os.path.join(e.conf, "standingd.yaml"), "a") as f:
        f.write(EXTRA_CONFIG.format(idle=idle))
    if suppliers_users:
        path = os.path.join(e.conf, "standingd.yaml")
        text = open(path).read()
        text = text.replace("users: [lumen]", f"users: [{suppliers_users[0]}]")
        text = text.replace("users: [nordkaffe]", f"users: [{suppliers_users[1]}]")
        open(path, "w").write(text)
    e.orders_file("a.yaml", orders_for_suppliers())
    return e


def start(test, e, clock="2026-11-25T00:00:00Z,1"):
    p = e.start(clock)
    e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
    test.assertIsNone(p.poll(), e.log(p))
    test.addCleanup(lambda: e.stop(p) if p.poll() is None else None)
    return p


class Introspection(DaemonTest):
    def test_getinfo_and_descriptions(self):
        e = socket_env(self)
        start(self, e)
        with Connection(e.socket) as c:
            info = c.call("org.varlink.service.GetInfo")
            self.assertEqual(info["interfaces"], ["org.varlink.service", "io.standingd", "io.standingd.Supplier",
                                                  "io.standingd.Orders", "io.standingd.Ops", "io.standingd.Crm"])
            self.assertEqual(info["vendor"], "standingd")
            for iface in info["interfaces"]:
                d = c.call("org.varlink.service.GetInterfaceDescription", {"interface": iface})["description"]
                lines = [l for l in d.splitlines() if l and not l.startswith("#")]
                self.assertEqual(lines[0], "interface " + iface)
            d = c.call("org.varlink.service.GetInterfaceDescription", {"interface": "io.standingd.Supplier"})
            self.assertIn("method ListUpcoming(from: string, to: string, supplier: ?string) -> (shipments: []Shipment)",
                          d["description"])
            self.assertIn("error OrderNotFound (order: string)", d["description"])
            with self.assertRaises(VarlinkError) as cm:
                c.call("org.varlink.service.GetInterfaceDescription", {"interface": "io.standingd.Nope"})
            self.assertEqual(cm.exception.error, "org.varlink.service.InterfaceNotFound")
            self.assertEqual(cm.exception.parameters, {"interface": "io.standingd.Nope"})

    def test_protocol_errors(self):
        e = socket_env(self)
        start(self, e)
        with Connection(e.socket) as c:
            for method, err, params in [
                ("io.standingd.Ops.Nope", "org.varlink.service.MethodNotFound", {"method": "io.standingd.Ops.Nope"}),
                ("io.standingd.Nope.Status", "org.varlink.service.InterfaceNotFound", {"interface": "io.standingd.Nope"}),
            ]:
                with self.assertRaises(VarlinkError) as cm:
                    c.call(method)
                self.assertEqual((cm.exception.error, cm.exception.parameters), (err, params))
            with self.assertRaises(VarlinkError) as cm:
                c.call("io.standingd.Ops.Status", {"verbose": True})
            self.assertEqual((cm.exception.error, cm.exception.parameters),
                             ("org.varlink.service.InvalidParameter", {"parameter": "verbose"}))
            # malformed JSON gets an error reply, and the connection goes on
            c.send_raw(b'{"method": "io.standingd.Ops.Status", \0')
            r = c.recv()
            self.assertEqual(r["error"], "org.varlink.service.InvalidParameter")
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 2)
            # oneway: no reply; the next call's reply is the next message
            c.send({"method": "io.standingd.Ops.Status", "oneway": True})
            self.assertEqual(c.call("io.standingd.Ops.Status")["version"], "0.1.0")


class Methods(DaemonTest):
    def setUp(self):
        self.e = socket_env(self)
        self.p = start(self, self.e, "2026-11-25T00:00:00Z,86400")
        # the first bulbs order (create_at 2026-11-26T04:00Z) is created about a second later
        self.e.wait_for(lambda: len(self.e.orders()) >= 1, what="first order")
        self.c = Connection(self.e.socket)
        self.addCleanup(self.c.close)

    def test_list_upcoming_created_and_projected(self):
        r = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-04-02"})
        got = [(s["delivery"], s["status"], s["standing_order"], bool(s["order"])) for s in r["shipments"]
               if s["standing_order"] == "bulbs"]
        self.assertEqual(got, [("2026-12-01T06:00:00+02:00", "confirmed", "bulbs", True),
                               ("2027-02-01T06:00:00+02:00", "projected", "bulbs", False),
                               ("2027-04-01T06:00:00+03:00", "projected", "bulbs", False)])
        s = r["shipments"][0]
        self.assertEqual(s["ship_to"]["city"], "Helsinki")
        self.assertEqual(s["lines"], [{"sku": "BULB-60W", "quantity": 1000, "unit_price": "0.85", "currency": "EUR"}])
        self.assertEqual(s["customer_name"], "ACME Oy")
        deliveries = [x["delivery_utc"] for x in r["shipments"]]
        self.assertEqual(deliveries, sorted(deliveries))
        # streaming with "more": the same shipments, in chunks of at most 100
        big = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-12-31",
                                                                 "supplier": "nordkaffe"}, more=True)
        flat = [s for rep in big for s in rep["shipments"]]
        self.assertEqual(len(flat), 56 - 1 + 1)   # Sundays 2026-12-06 .. 2027-12-26
        self.assertTrue(all(len(rep["shipments"]) <= 100 for rep in big))
        self.assertTrue(all(s["supplier"] == "nordkaffe" for s in flat))
        for bad in [{"from": "2026-13-01", "to": "2027-01-01"}, {"from": "2027-01-01", "to": "2026-01-01"},
                    {"from": "2026-01-01", "to": "2028-01-01"}]:
            with self.assertRaises(VarlinkError) as cm:
                self.c.call("io.standingd.Supplier.ListUpcoming", bad)
            self.assertEqual(cm.exception.error, "org.varlink.service.InvalidParameter")

    def test_standingctl_upcoming_ics_and_json(self):
        env = dict(os.environ, STANDINGD_SOCKET=self.e.socket)
        args = [STANDINGCTL, "upcoming", "--from", "2026-12-01", "--to", "2027-03-01"]
        js = subprocess.run(args + ["--json"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(js.returncode, 0, js.stderr)
        items = [json.loads(l) for l in js.stdout.splitlines()]
        api = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-03-01"})
        self.assertEqual(items, api["shipments"])
        out = subprocess.run(args + ["--ics"], capture_output=True, env=env, timeout=30).stdout
        path = os.path.join(self.e.dir, "ship.ics")
        subprocess.run(args + ["--ics", path], check=True, env=env, timeout=30)
        again = open(path, "rb").read()
        self.assertTrue(out.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"))
        self.assertTrue(out.endswith(b"END:VCALENDAR\r\n"))
        self.assertNotIn(b"\n", out.replace(b"\r\n", b""))           # CRLF only
        self.assertTrue(all(len(l) <= 75 for l in out.split(b"\r\n")))  # folded
        uids = [l for l in out.split(b"\r\n") if l.startswith(b"UID:")]
        self.assertEqual(len(uids), len(items))
        self.assertEqual(len(set(uids)), len(uids))
        self.assertEqual(uids, [l for l in again.split(b"\r\n") if l.startswith(b"UID:")])   # stable
        first = items[0]
        self.assertIn(f"UID:{first['order']}@standingd".encode(), out)
        self.assertIn(b"UID:coffee-20261206T023000Z@standingd", out)

    def test_mark_shipped(self):
        number = self.e.orders()[0]["order"]
        r = self.c.call("io.standingd.Supplier.MarkShipped", {"order": number, "carrier": "Posti", "tracking": "JJFI1"})
        self.assertEqual((r["order"]["status"], r["order"]["carrier"], r["order"]["tracking"]),
                         ("shipped", "Posti", "JJFI1"))
        again = self.c.call("io.standingd.Supplier.MarkShipped", {"order": number, "carrier": "Posti", "tracking": "JJFI1"})
        self.assertEqual(again, r)
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Supplier.MarkShipped", {"order": number, "carrier": "DHL", "tracking": "X"})
        self.assertEqual((cm.exception.error, cm.exception.parameters),
                         ("io.standingd.Supplier.AlreadyShipped", {"order": number, "carrier": "Posti", "tracking": "JJFI1"}))
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Supplier.MarkShipped", {"order": "SO-00009999-2", "carrier": "a", "tracking": "b"})
        self.assertEqual(cm.exception.error, "io.standingd.Supplier.OrderNotFound")
        with self.assertRaises(VarlinkError) as cm:   # wrong check digit
            self.c.call("io.standingd.Supplier.MarkShipped", {"order": number[:-1] + str((int(number[-1]) + 1) % 10),
                                                              "carrier": "a", "tracking": "b"})
        self.assertEqual((cm.exception.error, cm.exception.parameters),
                         ("org.varlink.service.InvalidParameter", {"parameter": "order"}))
        up = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2026-12-02"})
        self.assertEqual([s["status"] for s in up["shipments"] if s["order"] == number], ["shipped"])

    def test_orders_methods(self):
        number = self.e.orders()[0]["order"]
        o = self.c.call("io.standingd.Orders.GetOrder", {"order": number})["order"]
        self.assertEqual((o["standing_order"], o["delivery"], o["total"]),
                         ("bulbs", "2026-12-01T06:00:00+02:00", {"amount": "850.00", "currency": "EUR"}))
        listed = self.c.call("io.standingd.Orders.ListOrders", {"standing_order": "bulbs"})["orders"]
        self.assertEqual([x["order"] for x in listed], [number])
        self.assertEqual(self.c.call("io.standingd.Orders.ListOrders", {"customer": "nobody"})["orders"], [])
        placed = self.c.call("io.standingd.Orders.PlaceOrder", {
            "customer": "acme", "supplier": "lumen", "delivery": "2026-12-20",
            "ship_to": {"name": "ACME", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki",
                        "country": "FI"},
            "lines": [{"sku": "BULB-60W", "quantity": 10, "unit_price": "0.85", "currency": "EUR"}]})["order"]
        self.assertEqual((placed["standing_order"], placed["delivery"], placed["total"]["amount"], placed["payment"]),
                         (None, "2026-12-20T00:00:00+02:00", "8.50", "account"))
        self.assertEqual(self.c.call("io.standingd.Orders.GetOrder", {"order": placed["order"]})["order"], placed)
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.PlaceOrder", {
                "customer": "acme", "supplier": "nobody", "delivery": "2026-12-20", "ship_to": {},
                "lines": [{"sku": "X", "quantity": 0, "unit_price": "0.855 EUR"}]})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.InvalidOrder")
        fields = [(x["field"], x["message"]) for x in cm.exception.parameters["errors"]]
        self.assertIn(("supplier", 'unknown supplier "nobody"'), fields)
        self.assertIn(("lines[0].quantity", "expected a positive integer"), fields)
        self.assertIn(("ship_to", 'missing key "name"'), fields)
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.GetOrder", {"order": "SO-00009999-2"})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.OrderNotFound")

    def test_place_cancel_skip_standing_order(self):
        definition = {"id": "api-lamps", "customer": "acme", "supplier": "lumen",
                      "ship_to": {"name": "ACME", "street": "Teollisuuskatu 1", "postcode": "00510",
                                  "city": "Helsinki", "country": "FI"},
                      "lines": [{"sku": "LAMP", "quantity": 5, "unit_price": "12.00 EUR"}],
                      "payment": "account",
                      "schedule": {"every": "1 month", "day": 15, "start": "2027-01-01", "at": "10:00"}}
        r = self.c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": definition})
        self.assertEqual(r, {"standing_order": "api-lamps", "next_delivery": "2027-01-15T10:00:00+02:00"})
        ids = {s["id"]: s for s in self.c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}
        self.assertEqual(ids["api-lamps"]["source"], "api")
        # diff sees the API's standing orders too: a YAML one with the same id would be refused
        self.assertEqual(self.e.ctl("diff", "--conf", self.e.conf, "--state", self.e.state).stdout, "no changes\n")
        self.e.write("orders.d/b.yaml", "standing_orders:\n" + standing_order(
            "api-lamps", {"every": "1 week", "start": "2027-01-04"}))
        r = self.e.ctl("diff", "--conf", self.e.conf, "--state", self.e.state, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('duplicate standing order id "api-lamps" (first defined at orders.d/b.yaml:2:7)', r.stdout)
        os.unlink(os.path.join(self.e.conf, "orders.d", "b.yaml"))
        # validated exactly like YAML, errors name the field path
        bad = dict(definition, id="api-bad", lines=[{"sku": "LAMP", "quantity": 5, "unit_price": "12.001 EUR"}],
                   schedule={"every": "0 months", "start": "2027-01-01"})
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": bad})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.InvalidDefinition")
        self.assertEqual(cm.exception.parameters["errors"], [
            {"field": "lines[0].unit_price", "message": 'EUR has at most 2 decimals, got "12.001 EUR"'},
            {"field": "schedule.every", "message": "expected a positive interval"}])
        # an id that is no string is refused (it used to be applied, then crash the daemon)
        for bad_id in (5, True, ["x"]):
            with self.assertRaises(VarlinkError) as cm:
                self.c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": dict(definition, id=bad_id)})
            self.assertEqual((cm.exception.error, cm.exception.parameters["errors"]),
                             ("io.standingd.Orders.InvalidDefinition", [{"field": "id", "message": "expected a string"}]))
        self.assertNotIn("5", [s["id"] for s in self.c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]])
        # skip one occurrence: it leaves the upcoming list
        r = self.c.call("io.standingd.Orders.SkipOccurrence", {"standing_order": "api-lamps",
                                                               "delivery": "2027-02-15T10:00:00+02:00"})
        self.assertEqual(r, {"standing_order": "api-lamps", "delivery": "2027-02-15T10:00:00+02:00"})
        up = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2027-01-01", "to": "2027-04-01"})
        self.assertEqual([s["delivery"] for s in up["shipments"] if s["standing_order"] == "api-lamps"],
                         ["2027-01-15T10:00:00+02:00", "2027-03-15T10:00:00+02:00"])
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.SkipOccurrence", {"standing_order": "api-lamps",
                                                               "delivery": "2027-02-16T10:00:00+02:00"})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.NoSuchOccurrence")
        # YAML ones are edited in their file
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.CancelStandingOrder", {"standing_order": "bulbs"})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.DefinedInFile")
        self.assertEqual(cm.exception.parameters["file"], "orders.d/a.yaml")
        self.assertEqual(self.c.call("io.standingd.Orders.CancelStandingOrder", {"standing_order": "api-lamps"}), {})
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Orders.CancelStandingOrder", {"standing_order": "api-lamps"})
        self.assertEqual(cm.exception.error, "io.standingd.Orders.StandingOrderNotFound")

    def test_item_limit(self):
        definition = {"id": "every-minute", "customer": "acme", "supplier": "lumen",
                      "ship_to": {"name": "ACME", "street": "Katu 1", "city": "Helsinki", "country": "FI"},
                      "lines": [{"sku": "TICK", "quantity": 1, "unit_price": "0.01 EUR"}],
                      "payment": "account", "schedule": {"every": "1 minute", "start": "2027-01-01"}}
        self.c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": definition})
        # 14 days of minutes is 20,160 shipments: one more than a call returns...
        for method, err in [("io.standingd.Supplier.ListUpcoming", "io.standingd.Supplier.TooManyShipments"),
                            ("io.standingd.Ops.Forecast", "io.standingd.Ops.TooManyOccurrences")]:
            with self.assertRaises(VarlinkError) as cm:
                self.c.call(method, {"from": "2027-01-01", "to": "2027-01-15"})
            self.assertEqual((cm.exception.error, cm.exception.parameters), (err, {"limit": 20000}))
        # ...and 13 days (18,720 plus the other standing orders' few) is fine
        r = self.c.call("io.standingd.Supplier.ListUpcoming", {"from": "2027-01-01", "to": "2027-01-14"}, more=True)
        self.assertEqual(sum(1 for rep in r for s in rep["shipments"] if s["standing_order"] == "every-minute"),
                         13 * 1440)
        self.assertEqual(self.c.call("io.standingd.Orders.CancelStandingOrder", {"standing_order": "every-minute"}), {})

    def test_api_standing_order_survives_restart(self):
        definition = {"id": "api-keep", "customer": "acme", "supplier": "lumen",
                      "ship_to": {"name": "ACME", "street": "Katu 1", "city": "Helsinki", "country": "FI"},
                      "lines": [{"sku": "LAMP", "quantity": 1, "unit_price": "1.00 EUR"}],
                      "payment": "account", "schedule": {"every": "1 year", "start": "2027-06-01"}}
        self.c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": definition})
        self.c.close()
        self.assertEqual(self.e.stop(self.p), 0)
        p = start(self, self.e)
        with Connection(self.e.socket) as c:
            ids = [s["id"] for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]]
        self.assertIn("api-keep", ids)
        self.assertEqual(self.e.stop(p), 0)

    def test_ops_methods(self):
        st = self.c.call("io.standingd.Ops.Status")
        self.assertEqual((st["customers"], st["standing_orders"], st["active"], st["paused"]), (2, 2, 2, 0))
        self.assertGreaterEqual(st["orders"], 1)
        self.assertEqual(st["outbox_backlog"], st["orders"])
        fc = self.c.call("io.standingd.Ops.Forecast", {"from": "2026-12-01", "to": "2027-03-01"})["occurrences"]
        cli = [json.loads(l) for l in self.e.ctl("forecast", "--conf", self.e.conf, "--from", "2026-12-01",
                                                 "--to", "2027-03-01", "--json").stdout.splitlines()]
        self.assertEqual(fc, cli)
        self.assertEqual(self.c.call("io.standingd.Ops.Reload"), {"customers": 2, "standing_orders": 2})
        self.e.write("orders.d/b.yaml", "standing_orders: 5\n")
        with self.assertRaises(VarlinkError) as cm:
            self.c.call("io.standingd.Ops.Reload")
        self.assertEqual(cm.exception.error, "io.standingd.Ops.InvalidDefinitions")
        self.assertEqual(cm.exception.parameters["errors"], ["orders.d/b.yaml:1:18: expected a list"])
        self.assertEqual(self.c.call("io.standingd.Ops.Status")["standing_orders"], 2)


class SkippedAndPaused(DaemonTest):
    """An occurrence SkipOccurrence skipped, and a paused standing order, are not what
    comes next anywhere: Status's next_due, ListStandingOrders (and standingctl
    standing-orders), Forecast, ListUpcoming all leave them out (issue 8)."""

    def test_skipped_occurrence_and_paused_order_are_not_next(self):
        e = socket_env(self)
        # paused, and due before anything else: create_at 2026-11-25T21:00Z
        e.orders_file("p.yaml", [standing_order("halted", {"every": "1 week", "start": "2026-11-26", "at": '"00:00"',
                                                          "lead_time": "1 hour", "paused": "true"})], customers=False)
        start(self, e)   # test clock 2026-11-25T00:00Z, real speed: nothing comes due meanwhile
        window = {"from": "2026-11-30", "to": "2026-12-08"}
        with Connection(e.socket) as c:
            st = c.call("io.standingd.Ops.Status")
            self.assertEqual((st["active"], st["paused"], st["next_due"], st["next_standing_order"]),
                             (2, 1, "2026-11-26T04:00:00Z", "bulbs"))
            r = c.call("io.standingd.Orders.SkipOccurrence", {"standing_order": "bulbs",
                                                              "delivery": "2026-12-01T06:00:00+02:00"})
            self.assertEqual(r, {"standing_order": "bulbs", "delivery": "2026-12-01T06:00:00+02:00"})
            st = c.call("io.standingd.Ops.Status")
            self.assertEqual((st["next_due"], st["next_standing_order"]), ("2026-12-05T14:30:00Z", "coffee"))
            sos = {s["id"]: s for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}
            self.assertEqual((sos["bulbs"]["next_delivery"], sos["bulbs"]["next_create_at"]),
                             ("2027-02-01T06:00:00+02:00", "2027-01-27T04:00:00Z"))
            self.assertEqual((sos["halted"]["paused"], sos["halted"]["next_delivery"]), (True, None))
            fc = c.call("io.standingd.Ops.Forecast", window)["occurrences"]
            self.assertEqual([(o["standing_order"], o["delivery"]) for o in fc],
                             [("coffee", "2026-12-06T03:30:00+01:00")])
            up = c.call("io.standingd.Supplier.ListUpcoming", window)["shipments"]
            self.assertEqual([(s["standing_order"], s["delivery"]) for s in up],
                             [("coffee", "2026-12-06T03:30:00+01:00")])
        r = subprocess.run([STANDINGCTL, "standing-orders", "--socket", e.socket], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {l.split()[0]: l.split()[3] for l in r.stdout.splitlines()[1:]}
        self.assertEqual(rows, {"bulbs": "2027-02-01T06:00:00+02:00", "coffee": "2026-12-06T03:30:00+01:00",
                                "halted": "-"})   # paused: no next delivery, but not ended

    def test_place_standing_order_names_the_next_that_will_be_created(self):
        """PlaceStandingOrder's next_delivery is ListStandingOrders' next_delivery: not
        an occurrence skipped before the standing order was replaced, none when paused
        (it named both before)."""
        e = socket_env(self)
        start(self, e)   # test clock 2026-11-25T00:00Z, real speed

        def definition(oid, **schedule):
            return {"id": oid, "customer": "acme", "supplier": "lumen",
                    "ship_to": {"name": "ACME", "street": "Katu 1", "city": "Helsinki", "country": "FI"},
                    "lines": [{"sku": "LAMP", "quantity": 1, "unit_price": "1.00 EUR"}], "payment": "account",
                    "schedule": dict({"every": "1 month", "start": "2027-01-05", "at": "10:00"}, **schedule)}
        place = "io.standingd.Orders.PlaceStandingOrder"
        with Connection(e.socket) as c:
            self.assertEqual(c.call(place, {"definition": definition("monthly")}),
                             {"standing_order": "monthly", "next_delivery": "2027-01-05T10:00:00+02:00"})
            c.call("io.standingd.Orders.SkipOccurrence", {"standing_order": "monthly",
                                                          "delivery": "2027-01-05T10:00:00+02:00"})
            self.assertEqual(c.call(place, {"definition": definition("monthly", lead_time="2 days")}),
                             {"standing_order": "monthly", "next_delivery": "2027-02-05T10:00:00+02:00"})
            self.assertEqual(c.call(place, {"definition": definition("stopped", paused=True)}),
                             {"standing_order": "stopped", "next_delivery": None})
            sos = {s["id"]: s for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}
            self.assertEqual((sos["monthly"]["next_delivery"], sos["stopped"]["next_delivery"]),
                             ("2027-02-05T10:00:00+02:00", None))


class PlaceOrderInThePast(DaemonTest):
    def test_delivery_before_now_is_refused(self):
        """A delivery before the daemon's now is a field error; now itself is fine. A
        date is its midnight in the customer's zone (acme: Europe/Helsinki)."""
        e = socket_env(self)
        start(self, e, "2026-11-25T00:00:00Z,0.001")   # now stays 2026-11-25T00:00:00Z
        order = {"customer": "acme", "supplier": "lumen",
                 "ship_to": {"name": "ACME", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki",
                             "country": "FI"},
                 "lines": [{"sku": "BULB-60W", "quantity": 10, "unit_price": "0.85", "currency": "EUR"}]}
        with Connection(e.socket) as c:
            for when in ("2026-11-24T23:59:59Z", "2026-11-25", "2026-11-01T10:00:00+02:00"):
                with self.assertRaises(VarlinkError) as cm:
                    c.call("io.standingd.Orders.PlaceOrder", dict(order, delivery=when))
                self.assertEqual((cm.exception.error, cm.exception.parameters), (
                    "io.standingd.Orders.InvalidOrder",
                    {"errors": [{"field": "delivery", "message": f'"{when}" is in the past (now is 2026-11-25T00:00:00Z)'}]}))
            self.assertEqual(c.call("io.standingd.Orders.ListOrders", {"customer": "acme"})["orders"], [])
            placed = c.call("io.standingd.Orders.PlaceOrder", dict(order, delivery="2026-11-25T00:00:00Z"))["order"]
            self.assertEqual((placed["delivery"], placed["created"]), ("2026-11-25T02:00:00+02:00", "2026-11-25T00:00:00Z"))
            placed = c.call("io.standingd.Orders.PlaceOrder", dict(order, delivery="2026-11-26"))["order"]
            self.assertEqual(placed["delivery"], "2026-11-26T00:00:00+02:00")


class UpcomingDefaultWindow(DaemonTest):
    def test_default_window_is_today_by_the_daemons_clock(self):
        """standingctl upcoming without --from/--to: [today, today + 14 days), today
        being the daemon's date (a test clock years from the host's), in the local
        zone of standingctl ($TZ); the table says which window it shows."""
        e = socket_env(self)
        start(self, e, "2030-06-10T12:00:00Z,0.001")
        with Connection(e.socket) as c:
            self.assertEqual(c.call("io.standingd.Now"), {"now": "2030-06-10T12:00:00Z"})
        env = dict(os.environ, STANDINGD_SOCKET=e.socket, TZ="UTC")
        table = subprocess.run([STANDINGCTL, "upcoming"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(table.returncode, 0, table.stderr)
        lines = table.stdout.splitlines()
        self.assertEqual(lines[0], "Shipments with delivery in [2030-06-10, 2030-06-24) "
                                   "(today by the daemon's clock and 13 more days)")
        self.assertEqual([l.split()[:2] for l in lines[2:]], [["2030-06-16T03:30:00+02:00", "projected"],
                                                              ["2030-06-23T03:30:00+02:00", "projected"]])
        js = subprocess.run([STANDINGCTL, "upcoming", "--json"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual([json.loads(l)["delivery"] for l in js.stdout.splitlines()],
                         ["2030-06-16T03:30:00+02:00", "2030-06-23T03:30:00+02:00"])
        # east of the date line it is already the 11th: the window moves with it
        env["TZ"] = "Pacific/Kiritimati"
        table = subprocess.run([STANDINGCTL, "upcoming", "--to", "2030-06-17"], capture_output=True, text=True,
                               env=env, timeout=30)
        self.assertEqual(table.stdout.splitlines()[0],
                         "Shipments with delivery in [2030-06-11, 2030-06-17) (from today by the daemon's clock)")


class Robustness(DaemonTest):
    def test_garbage_parameters_never_crash(self):
        """Every method with every known key set to values of every type."""
        import random
        seed = int(os.environ.get("STANDINGD_TEST_SEED", "20261123"))
        rnd = random.Random(seed)
        e = socket_env(self)
        p = start(self, e, "2026-11-25T00:00:00Z,86400")
        e.wait_for(lambda: len(e.orders()) >= 1, what="first order")
        number = e.orders()[0]["order"]
        methods = {
            "io.standingd.Supplier.ListUpcoming": ["from", "to", "supplier"],
            "io.standingd.Supplier.MarkShipped": ["order", "carrier", "tracking"],
            "io.standingd.Orders.PlaceStandingOrder": ["definition"],
            "io.standingd.Orders.CancelStandingOrder": ["standing_order"],
            "io.standingd.Orders.SkipOccurrence": ["standing_order", "delivery"],
            "io.standingd.Orders.PlaceOrder": ["customer", "supplier", "ship_to", "lines", "payment", "delivery"],
            "io.standingd.Orders.GetOrder": ["order"],
            "io.standingd.Orders.ListOrders": ["customer", "supplier", "standing_order", "status", "from", "to"],
            "io.standingd.Ops.Status": [],
            "io.standingd.Ops.ListStandingOrders": [],
            "io.standingd.Ops.Forecast": ["from", "to"],
        }
        values = [None, 0, -1, 2**62, 1.5, True, "", "x" * 300, "2026-12-01", "2026-12-01T06:00:00+02:00",
                  "9999-12-31", "0001-01-01", number, "SO-00000001-0", "bulbs", "lumen", "acme", [], [1, "a"],
                  {}, {"id": "z"}, [{"sku": "A", "quantity": "1", "unit_price": 5}], "\u00e4\u0000"]
        calls = 0
        with Connection(e.socket) as c:
            for _ in range(1500):
                method = rnd.choice(list(methods))
                keys = methods[method]
                params = {k: rnd.choice(values) for k in keys if rnd.random() < 0.8}
                if rnd.random() < 0.1:
                    params["unknown"] = 1
                c.send({"method": method, "parameters": params})
                r = c.recv()
                self.assertIsNotNone(r, f"connection closed after {method} {params}")
                self.assertTrue("parameters" in r or "error" in r)
                self.assertNotEqual(r.get("error"), "io.standingd.InternalError", (method, params, r))
                calls += 1
        self.assertIsNone(p.poll())
        self.assertEqual(calls, 1500)


class Limits(DaemonTest):
    def test_oversized_message_refused_and_closed(self):
        e = socket_env(self)
        start(self, e)
        with Connection(e.socket) as c:
            big = b'{"method":"io.standingd.Ops.Status","parameters":{"x":"' + b"a" * (1 << 20) + b'"}}\0'
            try:
                c.send_raw(big)
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = c.recv()
            self.assertEqual(r, {"error": "org.varlink.service.InvalidParameter", "parameters": {"parameter": "<message>"}})
            self.assertIsNone(c.recv())   # closed
        # a message just under the limit is fine (and answered with InvalidParameter for the key)
        with Connection(e.socket) as c:
            with self.assertRaises(VarlinkError) as cm:
                c.call("io.standingd.Ops.Status", {"x": "a" * ((1 << 20) - 100)})
            self.assertEqual(cm.exception.parameters, {"parameter": "x"})

    def test_list_orders_item_limit(self):
        e = Env(catch_up="all", max_catch_up=1000000)
        self.addCleanup(e.close)
        # 438 days of half-hourly orders, all due at start: 21,024 orders
        e.orders_file("a.yaml", [standing_order("half-hourly", {"every": "30 minutes", "start": "2026-01-01",
                                                                "until": "2027-03-14"})])
        start(self, e, "2027-03-16T00:00:00Z,1")
        e.wait_for(lambda: len(e.orders()) >= 21024, timeout=60, what="backlog")
        with Connection(e.socket) as c:
            with self.assertRaises(VarlinkError) as cm:
                c.call("io.standingd.Orders.ListOrders", {"standing_order": "half-hourly"})
            self.assertEqual((cm.exception.error, cm.exception.parameters),
                             ("io.standingd.Orders.TooManyOrders", {"limit": 20000}))
            month = c.call("io.standingd.Orders.ListOrders", {"from": "2026-06-01", "to": "2026-07-01"}, more=True)
            self.assertEqual(sum(len(r["orders"]) for r in month), 30 * 48)

    def test_idle_timeout_and_connection_limit(self):
        e = socket_env(self, idle="2 seconds")
        start(self, e)
        idle = Connection(e.socket)
        t0 = time.monotonic()
        self.assertIsNone(idle.recv())       # closed after idle_timeout: 2 seconds
        self.assertLess(time.monotonic() - t0, 5)
        self.assertGreater(time.monotonic() - t0, 1.5)
        conns = [Connection(e.socket) for _ in range(8)]
        extra = Connection(e.socket)
        # over max_connections, and no one to push out (all ops): told why, closed at once
        self.assertEqual(extra.recv(), {"error": "io.standingd.TooManyConnections", "parameters": {"limit": 8}})
        self.assertIsNone(extra.recv())
        for c in conns:
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 2)
            c.close()
        extra.close()

    def test_half_closed_client_gets_the_whole_reply(self):
        # printf ... | socat - UNIX-CONNECT:... shuts down its sending side after the
        # request; a reply too large for the socket buffer must still arrive whole.
        e = self.env()
        e.orders_file("a.yaml", [standing_order("hourly", {"every": "1 hour", "start": "2027-01-01",
                                                           "lead_time": "1 hour"})])
        start(self, e)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(10)
        s.connect(e.socket)
        s.sendall(json.dumps({"method": "io.standingd.Ops.Forecast",
                              "parameters": {"from": "2027-01-01", "to": "2028-01-01"}}).encode() + b"\0")
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.5)   # the daemon sees EOF while most of the reply is still queued
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        self.assertTrue(buf.endswith(b"\0"), f"reply cut off after {len(buf)} bytes")
        self.assertEqual(len(json.loads(buf[:-1])["parameters"]["occurrences"]), 365 * 24)

    def test_client_gone_before_its_reply_does_not_kill_the_daemon(self):
        # Started from a shell (not systemd), SIGPIPE is not ignored for us.
        e = self.env()
        e.orders_file("a.yaml", [standing_order("hourly", {"every": "1 hour", "start": "2027-01-01"})])
        p = start(self, e)
        req = json.dumps({"method": "io.standingd.Ops.Forecast",
                          "parameters": {"from": "2027-01-01", "to": "2028-01-01"}}).encode() + b"\0"
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(e.socket)
            s.sendall(req)
            s.close()
            time.sleep(0.3)
        self.assertIsNone(p.poll(), e.log(p))
        with Connection(e.socket) as c:
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 1)
        self.assertEqual(e.stop(p), 0)

    def test_slow_reader_does_not_stall_others(self):
        e = socket_env(self)
        p = start(self, e)
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(e.socket)
        slow.setblocking(False)
        req = json.dumps({"method": "io.standingd.Ops.Forecast",
                          "parameters": {"from": "2026-12-01", "to": "2027-12-31"}}).encode() + b"\0"
        sent = 0
        with Connection(e.socket) as fast:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                try:
                    slow.send(req)
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.01)
                except (BrokenPipeError, ConnectionResetError):
                    break
                if sent % 50 == 0:
                    self.assertEqual(fast.call("io.standingd.Ops.Status")["standing_orders"], 2)
            self.assertIn("does not read its replies", e.log(p))
            self.assertEqual(fast.call("io.standingd.Ops.Status")["standing_orders"], 2)
        slow.close()


RUN_AS = """
import json, sys
{client}
c = Connection(sys.argv[1])
out = []
for method, params in json.loads(sys.argv[2]):
    try:
        out.append({{"ok": c.call(method, params)}})
    except VarlinkError as e:
        out.append({{"error": e.error}})
print(json.dumps(out))
"""


def ensure_user(name, groups):
    for g in groups:
        try:
            grp.getgrnam(g)
        except KeyError:
            subprocess.run(["groupadd", "--system", g], check=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    if groups:
        subprocess.run(["usermod", "-a", "-G", ",".join(groups), name], check=True)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root to create test users")
class Permissions(DaemonTest):
    def as_user(self, user, sock, calls):
        client = open(os.path.join(HERE, "varlink.py")).read()
        # the system interpreter: a per-user one (pyenv) is not readable by other users
        pw = pwd.getpwnam(user)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        r = subprocess.run([python, "-c", RUN_AS.format(client=client), sock, json.dumps(calls)],
                           user=user, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_matrix(self):
        for u in ("sd-test-lumen", "sd-test-kaffe", "sd-test-stranger", "sd-test-shop"):
            ensure_user(u, ["standingd"])
        ensure_user("sd-test-opsuser", ["standingd", "sd-test-ops"])
        e = socket_env(self, suppliers_users=["sd-test-lumen", "sd-test-kaffe"])
        start(self, e, "2026-11-25T00:00:00Z,86400")
        e.wait_for(lambda: len(e.orders()) >= 1, what="first order")
        self.assertEqual(grp.getgrgid(os.stat(e.socket).st_gid).gr_name, "standingd")
        self.assertEqual(os.stat(e.socket).st_mode & 0o777, 0o660)
        upcoming = ("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-01-01"})
        status = ("io.standingd.Ops.Status", {})
        reload_ = ("io.standingd.Ops.Reload", {})
        get = ("io.standingd.Orders.GetOrder", {"order": e.orders()[0]["order"]})
        other = ("io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-01-01", "supplier": "nordkaffe"})
        info = ("org.varlink.service.GetInfo", {})
        lumen = self.as_user("sd-test-lumen", e.socket, [upcoming, status, reload_, get, other, info])
        self.assertEqual({s["supplier"] for s in lumen[0]["ok"]["shipments"]}, {"lumen"})
        self.assertEqual(len(lumen[0]["ok"]["shipments"]), 1)
        self.assertEqual([x.get("error") for x in lumen[1:5]], ["io.standingd.PermissionDenied"] * 4)
        self.assertIn("ok", lumen[5])
        kaffe = self.as_user("sd-test-kaffe", e.socket, [upcoming])
        self.assertEqual({s["supplier"] for s in kaffe[0]["ok"]["shipments"]}, {"nordkaffe"})
        self.assertEqual(len(kaffe[0]["ok"]["shipments"]), 4)   # Sundays in December 2026
        account = ("io.standingd.Orders.GetAccount", {"customer": "acme"})
        cancel = ("io.standingd.Orders.CancelOrder", {"order": e.orders()[0]["order"], "reason": "no"})
        stranger = self.as_user("sd-test-stranger", e.socket, [upcoming, status, get, info, account, cancel])
        self.assertEqual([x.get("error") for x in stranger[:3]], ["io.standingd.PermissionDenied"] * 3)
        self.assertIn("ok", stranger[3])
        self.assertEqual([x.get("error") for x in stranger[4:]], ["io.standingd.PermissionDenied"] * 2)
        self.assertEqual([x.get("error") for x in self.as_user("sd-test-lumen", e.socket, [account, cancel])],
                         ["io.standingd.PermissionDenied"] * 2)
        # an order of a YAML standing order is not the shop's (test_shop_reach has the rest)
        shop = self.as_user("sd-test-shop", e.socket, [get, upcoming, status])
        self.assertEqual([x.get("error") for x in shop], ["io.standingd.PermissionDenied"] * 3)
        ops = self.as_user("sd-test-opsuser", e.socket, [upcoming, status, get, account])
        self.assertEqual(len(ops[0]["ok"]["shipments"]), 5)
        self.assertTrue(all("ok" in x for x in ops))
        self.assertEqual(ops[3]["ok"]["account"]["account"], "ACC-1001")

    def test_shop_reach(self):
        """The shop role reaches what shop users placed and nothing else: each
        io.standingd.Orders method against a shop-placed, an ops-placed (API) and a
        YAML-defined target. Refusals are PermissionDenied (ids and numbers are not
        secret: PlaceStandingOrder would reveal an id by its clash anyway)."""
        ensure_user("sd-test-shop", ["standingd"])
        ensure_user("sd-test-opsuser", ["standingd", "sd-test-ops"])
        e = socket_env(self)
        start(self, e, "2026-11-25T00:00:00Z,86400")
        e.wait_for(lambda: len(e.orders()) >= 1, what="first order")
        yaml_order = e.orders()[0]["order"]
        address = {"name": "ACME", "street": "Katu 1", "city": "Helsinki", "country": "FI"}

        def so(oid, start_day, qty=1):
            return {"id": oid, "customer": "acme", "supplier": "lumen", "ship_to": address,
                    "lines": [{"sku": "LAMP", "quantity": qty, "unit_price": "1.00 EUR"}], "payment": "account",
                    "schedule": {"every": "1 month", "start": start_day, "at": "10:00", "lead_time": "2 days"}}

        def one_time(day):
            return ("io.standingd.Orders.PlaceOrder", {"customer": "acme", "supplier": "lumen", "delivery": day,
                    "ship_to": address, "lines": [{"sku": "LAMP", "quantity": 2, "unit_price": "1.00", "currency": "EUR"}]})

        def ok(results):
            for x in results:
                self.assertIn("ok", x, results)
            return [x["ok"] for x in results]

        # ops places one standing order and one order; the shop user the same
        ops = ok(self.as_user("sd-test-opsuser", e.socket, [
            ("io.standingd.Orders.PlaceStandingOrder", {"definition": so("ops-so", "2027-03-01")}), one_time("2027-01-10")]))
        ops_order = ops[1]["order"]["order"]
        shop = ok(self.as_user("sd-test-shop", e.socket, [
            ("io.standingd.Orders.PlaceStandingOrder", {"definition": so("shop-so", "2026-12-03")}), one_time("2027-01-11")]))
        shop_order = shop[1]["order"]["order"]
        # shop-so's first order (create_at 2026-12-01T08:00Z) is created a few seconds on
        e.wait_for(lambda: [o for o in e.orders() if o["standing_order"] == "shop-so"], what="shop-so's order")
        shop_so_order = [o for o in e.orders() if o["standing_order"] == "shop-so"][0]["order"]

        denied = {"error": "io.standingd.PermissionDenied"}
        calls = []
        for target in ("shop-so", "ops-so", "bulbs"):
            calls.append(("io.standingd.Orders.PlaceStandingOrder", {"definition": so(target, "2026-12-03", qty=3)}))
        for target, when in (("shop-so", "2027-02-03T10:00:00+02:00"), ("ops-so", "2027-04-01T10:00:00+03:00"),
                             ("bulbs", "2027-02-01T06:00:00+02:00")):
            calls.append(("io.standingd.Orders.SkipOccurrence", {"standing_order": target, "delivery": when}))
        for number in (shop_order, shop_so_order, ops_order, yaml_order):
            calls.append(("io.standingd.Orders.GetOrder", {"order": number}))
        calls.append(("io.standingd.Orders.ListOrders", {}))
        calls.append(("io.standingd.Orders.ListOrders", {"standing_order": "bulbs"}))
        for target in ("ops-so", "bulbs"):
            calls.append(("io.standingd.Orders.CancelStandingOrder", {"standing_order": target}))
        # issue 9: payments and cancellations reach the same orders; holds and accounts are ops'
        one_eur = {"amount": "1.00", "currency": "EUR"}
        for number in (ops_order, yaml_order):
            calls.append(("io.standingd.Orders.CancelOrder", {"order": number, "reason": "no"}))
            calls.append(("io.standingd.Orders.RecordPayment", {"order": number, "amount": one_eur, "reference": "R"}))
            calls.append(("io.standingd.Orders.ReleaseOrder", {"order": number}))
        calls += [("io.standingd.Orders.HoldOrder", {"order": shop_order}),
                  ("io.standingd.Orders.GetAccount", {"customer": "acme"}),
                  ("io.standingd.Orders.ListLedger", {"customer": "acme"}),
                  ("io.standingd.Orders.RecordAccountPayment", {"customer": "acme", "amount": one_eur, "reference": "R"}),
                  ("io.standingd.Orders.ReleaseOrder", {"order": shop_order}),
                  ("io.standingd.Orders.RecordPayment", {"order": shop_order, "amount": one_eur, "reference": "R"}),
                  ("io.standingd.Orders.CancelOrder", {"order": shop_order, "reason": "changed my mind"})]
        got = self.as_user("sd-test-shop", e.socket, calls)
        self.assertEqual(got[0]["ok"]["standing_order"], "shop-so")   # next_delivery depends on the running clock
        self.assertEqual(got[1:3], [denied, denied])
        self.assertEqual(got[3], {"ok": {"standing_order": "shop-so", "delivery": "2027-02-03T10:00:00+02:00"}})
        self.assertEqual(got[4:6], [denied, denied])
        self.assertEqual([x["ok"]["order"]["order"] for x in got[6:8]], [shop_order, shop_so_order])
        self.assertEqual(got[8:10], [denied, denied])
        self.assertEqual(sorted(o["order"] for o in got[10]["ok"]["orders"]), sorted([shop_order, shop_so_order]))
        self.assertEqual(got[11], {"ok": {"orders": []}})
        self.assertEqual(got[12:14], [denied, denied])
        self.assertEqual(got[14:24], [denied] * 10)
        wrong_status = {"error": "io.standingd.Orders.WrongStatus"}
        self.assertEqual(got[24:26], [wrong_status, wrong_status])   # confirmed: not on hold, not awaiting payment
        self.assertEqual(got[26]["ok"]["order"]["status"], "cancelled")
        self.assertEqual(got[26]["ok"]["order"]["history"][-1]["by"], "shop:sd-test-shop")
        # nothing the shop was refused happened: ops-so and bulbs are as they were,
        # the orders it may not touch are confirmed still, acme's ledger has no payment
        with Connection(e.socket) as c:
            for number in (ops_order, yaml_order):
                self.assertEqual(c.call("io.standingd.Orders.GetOrder", {"order": number})["order"]["status"], "confirmed")
            self.assertNotIn("payment", [x["kind"] for x in c.call("io.standingd.Orders.ListLedger",
                                                                    {"customer": "acme"})["entries"]])
            ids = {s["id"]: s for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}
            self.assertEqual(ids["ops-so"]["next_delivery"], "2027-03-01T10:00:00+02:00")
            self.assertEqual(ids["bulbs"]["source"], "orders.d/a.yaml:14")
            self.assertEqual([ids[i]["placed_by"] for i in ("bulbs", "ops-so", "shop-so")],
                             [None, "ops:sd-test-opsuser", "shop:sd-test-shop"])
            up = c.call("io.standingd.Supplier.ListUpcoming", {"from": "2027-01-31", "to": "2027-04-02"})["shipments"]
            self.assertEqual([(s["standing_order"], s["delivery"]) for s in up if s["standing_order"] != "coffee"],
                             [("bulbs", "2027-02-01T06:00:00+02:00"), ("ops-so", "2027-03-01T10:00:00+02:00"),
                              ("shop-so", "2027-03-03T10:00:00+02:00"),   # 2027-02-03 skipped by the shop
                              ("bulbs", "2027-04-01T06:00:00+03:00"), ("ops-so", "2027-04-01T10:00:00+03:00")])
            # ops reach everything, and replacing shop-so keeps it the shop's
            every = {o["order"] for o in c.call("io.standingd.Orders.ListOrders", {})["orders"]}
            self.assertLessEqual({shop_order, shop_so_order, ops_order, yaml_order}, every)
            c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": so("shop-so", "2027-06-01")})
        got = self.as_user("sd-test-shop", e.socket, [
            ("io.standingd.Orders.CancelStandingOrder", {"standing_order": "shop-so"}),
            ("io.standingd.Orders.GetOrder", {"order": shop_so_order})])
        self.assertEqual(got[0], {"ok": {}})
        # its standing order gone, the order is no longer reachable through it
        self.assertEqual(got[1], denied)


@unittest.skipUnless(shutil.which("systemd-socket-activate"), "systemd-socket-activate not installed")
class SocketActivation(DaemonTest):
    def test_activated_through_systemd_socket_activate(self):
        e = socket_env(self)
        log = open(os.path.join(e.dir, "activated.log"), "w")
        p = subprocess.Popen(["systemd-socket-activate", "-l", e.socket, STANDINGD, "--conf", e.conf,
                              "--state", e.state, "--socket", "/nonexistent/ignored.sock",
                              "--test-clock", "2026-11-25T00:00:00Z,1"], stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def cleanup():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(5)
        self.addCleanup(cleanup)
        e.wait_for(lambda: os.path.exists(e.socket), what="listening socket")
        with Connection(e.socket) as c:       # the first connection starts standingd
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 2)
        text = open(os.path.join(e.dir, "activated.log")).read()
        self.assertIn("listening on the socket passed by systemd", text)
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(5), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
