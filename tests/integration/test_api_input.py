"""Input the API and the reload path must refuse, and output that must stay inert:
every reload failure (unreadable files included) reaches Reload's caller as
InvalidDefinitions lines and `standingctl reload` prints them; control characters
are refused in every text field (PlaceOrder, MarkShipped, PlaceStandingOrder,
YAML) and escaped wherever old state still holds them (tables, --json, --ics)."""
import datetime
import json
import os
import shutil
import subprocess
import unittest

from harness import DaemonTest, StatusWatch, standing_order, STANDINGCTL
from varlink import Connection, VarlinkError

PUT_ORDER = os.environ.get("PUT_ORDER", "build/tests/put_order")
ESC, BEL, CR = "\x1b", "\x07", "\r"
ADDRESS = {"name": "ACME", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki", "country": "FI"}
DAILY = standing_order("daily", {"every": "1 day", "start": "2026-12-01", "at": '"06:00"', "lead_time": "1 day"})


def start(test, e, clock="2026-11-25T00:00:00Z,1"):
    p = e.start(clock)
    e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
    test.assertIsNone(p.poll(), e.log(p))
    return p


def keyset(items):
    return sorted((i["standing_order"], i["delivery"]) for i in items)


def ctl(e, *args):
    env = dict(os.environ, STANDINGD_SOCKET=e.socket)
    return subprocess.run([STANDINGCTL, *args], capture_output=True, env=env, timeout=60)


class ReloadErrors(DaemonTest):
    def test_unreadable_files_are_invalid_definitions(self):
        e = self.env()
        e.orders_file("a.yaml", [DAILY])
        # one day a second: an order every second while the reloads fail
        p = start(self, e, "2026-11-25T00:00:00Z,86400")
        conf, orders_d = e.conf, os.path.join(e.conf, "orders.d")

        def big():
            with open(os.path.join(orders_d, "big.yaml"), "wb") as f:
                f.truncate(16 * 1024 * 1024 + 1)
            return lambda: os.unlink(os.path.join(orders_d, "big.yaml"))

        def loop():
            os.symlink("loop.yaml", os.path.join(orders_d, "loop.yaml"))
            return lambda: os.unlink(os.path.join(orders_d, "loop.yaml"))

        def no_config():
            os.rename(os.path.join(conf, "standingd.yaml"), os.path.join(e.dir, "standingd.yaml"))
            return lambda: os.rename(os.path.join(e.dir, "standingd.yaml"), os.path.join(conf, "standingd.yaml"))

        def orders_d_file():
            os.rename(orders_d, os.path.join(e.dir, "orders.d"))
            open(orders_d, "w").close()

            def undo():
                os.unlink(orders_d)
                os.rename(os.path.join(e.dir, "orders.d"), orders_d)
            return undo

        cases = [
            (big, ["orders.d/big.yaml: larger than 16 MiB"]),
            (loop, ["orders.d/loop.yaml: too many levels of symbolic links (a loop?)"]),
            (no_config, ["standingd.yaml: no such file or directory"]),
            (orders_d_file, ["orders.d: not a directory"]),
        ]
        with StatusWatch(e.socket) as w, Connection(e.socket) as c:
            for make, want in cases:
                undo = make()
                try:
                    with self.assertRaises(VarlinkError) as cm:
                        c.call("io.standingd.Ops.Reload")
                    self.assertEqual((cm.exception.error, cm.exception.parameters),
                                     ("io.standingd.Ops.InvalidDefinitions", {"errors": want}), make.__name__)
                    r = ctl(e, "reload")
                    self.assertEqual((r.returncode, r.stdout), (1, b""), make.__name__)
                    self.assertEqual(r.stderr.decode().splitlines(), want + [
                        "standingctl: reload refused: the daemon keeps the last good definitions"])
                    # the last good set runs on: another order is created while the file is broken
                    self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 1)
                    n = len(e.orders())
                    e.wait_for(lambda: len(e.orders()) > n, what=f"an order during {make.__name__}")
                finally:
                    undo()
            self.assertEqual(c.call("io.standingd.Ops.Reload"), {"customers": 2, "standing_orders": 1})
            n = len(e.orders())
            e.wait_for(lambda: len(e.orders()) >= n + 1, what="one more order")
        w.assert_responsive(self, min_calls=10)
        self.assertEqual(e.stop(p), 0)
        orders = e.orders()
        self.assertGreaterEqual(len(orders), 5)
        # exactly what the forecast says, from the first delivery to the day after the last
        last = datetime.date.fromisoformat(max(o["delivery"] for o in orders)[:10])
        to = (last + datetime.timedelta(days=2)).isoformat()
        self.assertEqual(keyset(orders), keyset(e.forecast("2026-11-25", to))[:len(orders)])
        self.assertEqual(orders[0]["delivery"], "2026-12-01T06:00:00+02:00")


def place_order(**over):
    p = {"customer": "acme", "supplier": "lumen", "delivery": "2027-01-20", "ship_to": dict(ADDRESS),
         "lines": [{"sku": "BULB-60W", "quantity": 10, "unit_price": "0.85", "currency": "EUR"}]}
    for k, v in over.items():
        if k.startswith("ship_to."):
            p["ship_to"][k[8:]] = v
        elif k.startswith("line."):
            p["lines"][0][k[5:]] = v
        else:
            p[k] = v
    return p


def definition(**over):
    d = {"id": "api-lamps", "customer": "acme", "supplier": "lumen", "ship_to": dict(ADDRESS),
         "lines": [{"sku": "LAMP", "quantity": 5, "unit_price": "12.00 EUR"}], "payment": "account",
         "schedule": {"every": "1 month", "start": "2027-01-15", "at": "10:00"}}
    for k, v in over.items():
        if k.startswith("ship_to."):
            d["ship_to"][k[8:]] = v
        elif k.startswith("line."):
            d["lines"][0][k[5:]] = v
        elif k.startswith("schedule."):
            d["schedule"][k[9:]] = v
        else:
            d[k] = v
    return d


def msg(cp):
    return f"unexpected control character U+{cp:04X} in string"


class ControlCharacters(DaemonTest):
    def setUp(self):
        self.e = self.env()
        self.e.orders_file("a.yaml", [DAILY])
        self.p = start(self, self.e)
        self.c = Connection(self.e.socket)
        self.addCleanup(self.c.close)

    def refused(self, method, params):
        with self.assertRaises(VarlinkError) as cm:
            self.c.call(method, params)
        return cm.exception.error, cm.exception.parameters

    def test_place_order(self):
        cases = [
            (dict(customer="acme" + ESC), "customer", 0x1b),
            (dict(supplier="lumen" + BEL), "supplier", 0x07),
            (dict(payment="account" + CR), "payment", 0x0d),
            (dict(delivery="2027-01-20" + ESC), "delivery", 0x1b),
            ({"ship_to.name": "ACME" + ESC + "[2J"}, "ship_to.name", 0x1b),
            ({"ship_to.street": "Katu 1" + BEL}, "ship_to.street", 0x07),
            ({"ship_to.postcode": "00510" + CR}, "ship_to.postcode", 0x0d),
            ({"ship_to.city": "Hel\tsinki"}, "ship_to.city", 0x09),
            ({"ship_to.country": "F\x7f"}, "ship_to.country", 0x7f),
            ({"line.sku": "BULB" + "\u009b" + "31m"}, "lines[0].sku", 0x9b),
            ({"line.sku": "BULB\n60W"}, "lines[0].sku", 0x0a),
        ]
        for over, field, cp in cases:
            got = self.refused("io.standingd.Orders.PlaceOrder", place_order(**over))
            self.assertEqual(got, ("io.standingd.Orders.InvalidOrder",
                                   {"errors": [{"field": field, "message": msg(cp)}]}), over)
        # the checks the YAML path makes
        got = self.refused("io.standingd.Orders.PlaceOrder", place_order(**{"ship_to.country": "Finland!!"}))
        self.assertEqual(got, ("io.standingd.Orders.InvalidOrder", {"errors": [
            {"field": "ship_to.country", "message": 'expected a country code like "FI", got "Finland!!"'}]}))
        got = self.refused("io.standingd.Orders.PlaceOrder", place_order(**{"line.unit_price": "0.855"}))
        self.assertEqual(got, ("io.standingd.Orders.InvalidOrder", {"errors": [
            {"field": "lines[0].unit_price", "message": 'EUR has at most 2 decimals, got "0.855 EUR"'}]}))
        self.assertEqual(self.c.call("io.standingd.Orders.ListOrders", {"from": "2027-01-01", "to": "2027-02-01"}),
                         {"orders": []})
        o = self.c.call("io.standingd.Orders.PlaceOrder", place_order(**{"ship_to.name": "Rīga Đà Nẵng €"}))["order"]
        self.assertEqual((o["ship_to"]["name"], o["total"]), ("Rīga Đà Nẵng €", {"amount": "8.50", "currency": "EUR"}))

    def test_mark_shipped(self):
        number = self.c.call("io.standingd.Orders.PlaceOrder", place_order())["order"]["order"]
        for carrier, tracking, field in [("Posti" + ESC + "[2J", "JJFI1", "carrier"), ("Posti", "JJ" + CR, "tracking"),
                                         ("Pos" + BEL + "ti", "JJFI1", "carrier"), ("Posti", "JJ\u0085", "tracking")]:
            got = self.refused("io.standingd.Supplier.MarkShipped",
                               {"order": number, "carrier": carrier, "tracking": tracking})
            self.assertEqual(got, ("org.varlink.service.InvalidParameter", {"parameter": field}))
        self.assertEqual(self.c.call("io.standingd.Orders.GetOrder", {"order": number})["order"]["status"], "confirmed")

    def test_place_standing_order(self):
        cases = [
            (dict(id="api" + ESC), "id", 0x1b),
            (dict(customer="acme" + BEL), "customer", 0x07),
            ({"ship_to.name": "ACME" + ESC}, "ship_to.name", 0x1b),
            ({"ship_to.street": "Katu" + CR + "1"}, "ship_to.street", 0x0d),
            ({"line.sku": "LAMP" + BEL}, "lines[0].sku", 0x07),
            ({"schedule.every": "1 month" + ESC}, "schedule.every", 0x1b),
        ]
        for over, field, cp in cases:
            got = self.refused("io.standingd.Orders.PlaceStandingOrder", {"definition": definition(**over)})
            self.assertEqual(got, ("io.standingd.Orders.InvalidDefinition",
                                   {"errors": [{"field": field, "message": msg(cp)}]}), over)
        self.assertEqual(self.c.call("io.standingd.Ops.Status")["standing_orders"], 1)

    def test_yaml(self):
        # YAML's double-quoted escapes are the way a control character gets in
        self.e.write("orders.d/b.yaml", 'standing_orders:\n' + standing_order(
            "esc", {"every": "1 week", "start": "2027-01-04"}).replace("sku: BULB-60W", 'sku: "BULB\\e[2J"'))
        want = [f"orders.d/b.yaml:7:13: {msg(0x1b)}"]   # the quoted scalar's column
        got = self.refused("io.standingd.Ops.Reload", None)
        self.assertEqual(got, ("io.standingd.Ops.InvalidDefinitions", {"errors": want}))
        r = ctl(self.e, "check", "--conf", self.e.conf)
        self.assertEqual((r.returncode, r.stdout.decode().splitlines()), (1, want))
        self.e.write("orders.d/b.yaml", 'customers:\n  - id: bel\n    name: "Bell\\a Oy"\n')
        got = self.refused("io.standingd.Ops.Reload", None)
        self.assertEqual(got, ("io.standingd.Ops.InvalidDefinitions",
                               {"errors": [f"orders.d/b.yaml:3:11: {msg(0x07)}"]}))


def fold(line):
    """RFC 5545 folding, written independently: lines of at most 75 octets, a
    continuation starts with a space, a UTF-8 sequence is never split."""
    out, cur = [], b""
    for ch in line:
        b = ch.encode()
        if len(cur) + len(b) > 75:
            out.append(cur)
            cur = b" "
        cur += b
    return out + [cur]


class OldState(DaemonTest):
    """An order written before the rule existed, with control characters in its
    text, is shown escaped: tables, --json (jansson's escapes plus DEL and C1) and
    iCalendar (RFC 5545 escapes, folded at 75 octets)."""

    def test_output_is_escaped(self):
        e = self.env()
        e.orders_file("a.yaml", [DAILY])
        name = "Varasto" + ESC + "]0;pwned" + BEL + "; Halli, " + "ä" * 30
        order = {"customer": "acme", "supplier": "lumen",
                 "ship_to": {"name": name, "street": "Katu 1" + CR + "\nB" + "\x7f", "postcode": None,
                             "city": "Hel" + "\u009b" + "31msinki", "country": "FI"},
                 "lines": [{"sku": "BULB" + ESC + "[2J", "quantity": 2, "minor": 85, "currency": "EUR"}],
                 "delivery": 1797048000, "offset": 7200, "zone": "Europe/Helsinki",   # 2026-12-12T06:00+02:00
                 "carrier": "Posti" + ESC + "[31m", "tracking": "JJ" + BEL}
        os.makedirs(e.state, exist_ok=True)
        r = subprocess.run([PUT_ORDER, e.state, json.dumps(order)], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        number = r.stdout.strip()
        p = start(self, e)
        raw = [b"\x1b", b"\x07", b"\r\n", b"\x7f", b"\xc2\x9b"]

        # offline table and the socket's tables
        for args in (["orders", "--state", e.state], ["order", number],
                     ["upcoming", "--from", "2026-12-12", "--to", "2026-12-13"]):
            out = ctl(e, *args)
            self.assertEqual(out.returncode, 0, out.stderr)
            for b in raw + [b"\r"]:
                self.assertNotIn(b, out.stdout, args)
            self.assertIn(number.encode(), out.stdout)
        out = ctl(e, "order", number)
        self.assertEqual(out.stdout.decode().splitlines()[1].split(), [
            number, "-", "acme", "2026-12-12T06:00:00+02:00", "shipped", "1.70", "EUR", "-", "JJ\\x07"])
        out = ctl(e, "upcoming", "--from", "2026-12-12", "--to", "2026-12-13")
        self.assertIn("Hel\\u009b31msinki  2 x BULB\\x1b[2J".encode(), out.stdout)

        # --json: no raw control byte, and the same text once parsed
        out = ctl(e, "order", number, "--json")
        for b in raw + [b"\x0d"]:
            self.assertNotIn(b, out.stdout)
        o = json.loads(out.stdout)
        self.assertEqual((o["ship_to"]["name"], o["ship_to"]["city"], o["carrier"]),
                         (name, order["ship_to"]["city"], order["carrier"]))
        self.assertIn(b'"city":"Hel\\u009b31msinki"', out.stdout)

        # iCalendar: the exact lines of its event
        out = ctl(e, "upcoming", "--from", "2026-12-12", "--to", "2026-12-13", "--ics").stdout
        lines = out.split(b"\r\n")
        ev = lines[lines.index(f"UID:{number}@standingd".encode()):]
        ev = ev[:ev.index(b"END:VEVENT")]
        location = ("LOCATION:Varasto]0\\;pwned\\; Halli\\, " + "ä" * 30 + "\\, Katu 1\\nB\\,  Hel31msinki\\, FI")
        description = ("DESCRIPTION:Status: shipped\\nOrder: " + number +
                       "\\nStanding order: \\nDelivery: 2026-12-12T06:00:00+02:00")
        self.assertEqual([l for l in ev if not l.startswith(b"DTSTAMP:")], [
            f"UID:{number}@standingd".encode(),
            b"DTSTART:20261212T040000Z",
            b"DURATION:PT1H",
            b"SUMMARY:Deliver to ACME Oy: 2 x BULB[2J",
            *fold(location),
            *fold(description),
            b"STATUS:CONFIRMED",
        ])
        # the fold is where RFC 5545 wants it: 75 octets, "ä" never split
        self.assertEqual([len(l) for l in fold(location)], [74, 55])
        self.assertTrue(all(len(l) <= 75 for l in lines))
        for b in [b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b"]:
            self.assertNotIn(b, out)
        self.assertEqual(e.stop(p), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
