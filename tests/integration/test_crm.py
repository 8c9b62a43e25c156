"""The CRM over the socket (issue 11, doc/crm.md): the sales role (a salesperson's
Unix user reads customers and orders and keeps the log, may not ship or reload; a
supplier may not read the CRM; a web shop signs customers up), the interaction log
(ordering, streaming with "more"), PlaceCustomer (a standing order for it at once,
kept across a restart, DefinedInFile for a YAML customer, idempotent), and
standingctl's CRM commands, their exact output.

Before issue 11 there was no io.standingd.Crm (InterfaceNotFound for every call
here), and a salesperson's user was a stranger (PermissionDenied for the reads)."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import unittest

from harness import CUSTOMERS, DaemonTest, STANDINGCTL, standing_order
from varlink import Connection, VarlinkError
import test_socket as ts

HERE = os.path.dirname(os.path.abspath(__file__))
# the clock barely moves: everything happens at 2026-12-01T08:00:00Z
CLOCK = "2026-12-01T08:00:00Z,0.000001"
SALES, SUPPLIER, SHOP = "sd-test-sales", "sd-test-lumen", "sd-test-shop"

ACME_CONTACTS = CUSTOMERS.replace(
    "    account: {number: ACC-1001",
    "    contacts:\n"
    "      - {name: Aino Virtanen, role: purchasing, email: aino@acme.example, phone: \"+358 40 123 4567\"}\n"
    "    account: {number: ACC-1001")
BULBS = standing_order("bulbs", {"every": "1 week", "start": "2026-12-07", "at": '"06:00"', "lead_time": "7 days"})
ADDRESS = {"name": "Web Oy", "street": "Katu 1", "postcode": "00100", "city": "Helsinki", "country": "FI"}
WEB = {"id": "web-1", "name": "Web Oy", "language": "fi", "timezone": "Europe/Helsinki", "salesperson": "sanna",
       "contacts": [{"name": "Outi Ostaja", "role": "purchasing", "email": "outi@web.example"}]}


def web_standing_order():
    return {"id": "web-so", "customer": "web-1", "supplier": "lumen", "ship_to": ADDRESS,
            "lines": [{"sku": "LAMP", "quantity": 2, "unit_price": "12.00 EUR"}], "payment": "prepaid",
            "schedule": {"every": "1 week", "start": "2026-12-08", "at": "09:00"}}


def call(sock, method, params=None):
    """("ok", parameters) or ("error", name, parameters), on a connection of its own."""
    with Connection(sock) as c:
        try:
            return ("ok", c.call(method, params or {}))
        except VarlinkError as e:
            return ("error", e.error, e.parameters)


class Crm(DaemonTest):
    def setUp(self):
        self.e = self.env()
        os.chmod(self.e.dir, 0o755)
        path = os.path.join(self.e.conf, "standingd.yaml")
        with open(path) as f:
            text = f.read().replace("users: [sanna]", f"users: [{SALES}]").replace("users: [lumen]", f"users: [{SUPPLIER}]")
        with open(path, "w") as f:
            f.write(text + f"shop_users: [{SHOP}]\n")
        self.e.write("orders.d/a.yaml", ACME_CONTACTS + "standing_orders:\n" + BULBS)

    def start(self):
        return ts.start(self, self.e, CLOCK)

    def ctl(self, *args):
        r = subprocess.run([STANDINGCTL, *args, "--socket", self.e.socket], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def as_user(self, user, calls):
        """The calls (method, params) made as user, on one connection: ok or error each."""
        with open(os.path.join(HERE, "varlink.py")) as f:
            client = f.read()
        pw = pwd.getpwnam(user)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        r = subprocess.run([python, "-c", ts.RUN_AS.format(client=client), self.e.socket, json.dumps(calls)],
                           user=user, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root to create test users")
    def test_sales_role(self):
        for u in (SALES, SUPPLIER, SHOP):
            ts.ensure_user(u, ["standingd"])
        self.start()
        self.e.wait_for(lambda: len(self.e.orders()) >= 1, what="bulbs' first order")
        number = self.e.orders()[0]["order"]
        get = ("io.standingd.Crm.GetCustomer", {"customer": "acme"})
        log = ("io.standingd.Crm.LogInteraction", {"customer": "acme", "kind": "visit", "contact": "Aino Virtanen",
                                                   "summary": "Showed the LED panels"})
        tasks = ("io.standingd.Crm.ListTasks", {"mine": True})
        orders = ("io.standingd.Orders.ListOrders", {"customer": "acme"})
        order = ("io.standingd.Orders.GetOrder", {"order": number})
        account = ("io.standingd.Orders.GetAccount", {"customer": "acme"})
        ship = ("io.standingd.Supplier.MarkShipped", {"order": number, "carrier": "Posti", "tracking": "JJFI1"})
        reload_ = ("io.standingd.Ops.Reload", {})
        cancel = ("io.standingd.Orders.CancelOrder", {"order": number, "reason": "no"})
        place = ("io.standingd.Crm.PlaceCustomer", {"definition": WEB})
        sales = self.as_user(SALES, [get, log, tasks, orders, order, account, ship, reload_, cancel, place])
        self.assertEqual(sales[0]["ok"]["customer"]["salesperson"],
                         {"id": "sanna", "name": "Sanna Myyjä", "email": "sales@lumen.example", "language": "fi"})
        self.assertEqual(sales[1]["ok"]["interaction"],
                         {"customer": "acme", "at": "2026-12-01T08:00:00Z", "seq": 1, "kind": "visit",
                          "contact": "Aino Virtanen", "summary": "Showed the LED panels", "author": f"sales:{SALES}",
                          "message_id": None})
        self.assertEqual(sales[2], {"ok": {"tasks": []}})
        self.assertEqual([o["order"] for o in sales[3]["ok"]["orders"]], [number])
        self.assertEqual(sales[4]["ok"]["order"]["order"], number)
        self.assertEqual(sales[5]["ok"]["account"]["account"], "ACC-1001")
        # may not ship, reload, change an order, nor sign customers up
        self.assertEqual([x.get("error") for x in sales[6:]], ["io.standingd.PermissionDenied"] * 4)
        self.assertEqual(self.e.orders()[0]["status"], "confirmed")
        # a supplier may not read the CRM (nor log in it); it still ships
        sup = self.as_user(SUPPLIER, [get, log, tasks, ("io.standingd.Crm.ListCustomers", {}), ship])
        self.assertEqual([x.get("error") for x in sup[:4]], ["io.standingd.PermissionDenied"] * 4)
        self.assertEqual(sup[4]["ok"]["order"]["status"], "shipped")
        # the shop signs a customer up, and reads no profile
        shop = self.as_user(SHOP, [place, get])
        self.assertEqual(shop, [{"ok": {"customer": "web-1"}}, {"error": "io.standingd.PermissionDenied"}])
        # what was refused did not happen: one interaction, the salesperson's
        got = call(self.e.socket, "io.standingd.Crm.ListInteractions", {"customer": "acme"})
        self.assertEqual([i["author"] for i in got[1]["interactions"]], [f"sales:{SALES}"])
        # standingctl as the salesperson: the sentence for a refusal names the user
        r = subprocess.run(["runuser", "-u", SALES, "--", STANDINGCTL, "reload", "--socket", self.e.socket],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (1, "", f"standingctl: permission denied: user {SALES} may not call Ops.Reload\n"))
        r = subprocess.run(["runuser", "-u", SALES, "--", STANDINGCTL, "tasks", "--mine", "--socket", self.e.socket],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "TASK  DUE (UTC)  STATUS  ASSIGNEE  CUSTOMER  KIND  TEXT\n", ""))

    def test_interaction_log(self):
        self.start()
        s = self.e.socket
        # logged out of order: listed by at, then by seq (the order of logging)
        ats = ["2026-11-30T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-30T10:00:00Z", "2026-11-25T12:00:00+02:00"]
        for n, at in enumerate(ats):
            got = call(s, "io.standingd.Crm.LogInteraction",
                       {"customer": "acme", "kind": "call", "summary": f"call {n}", "at": at})
            self.assertEqual(got[0], "ok", got)
        got = call(s, "io.standingd.Crm.ListInteractions", {"customer": "acme"})
        self.assertEqual([(i["summary"], i["at"], i["seq"]) for i in got[1]["interactions"]],
                         [("call 1", "2026-11-20T10:00:00Z", 2), ("call 3", "2026-11-25T10:00:00Z", 4),
                          ("call 0", "2026-11-30T10:00:00Z", 1), ("call 2", "2026-11-30T10:00:00Z", 3)])
        # a window: [from, to), dates at midnight in the customer's zone (Helsinki, +02:00)
        got = call(s, "io.standingd.Crm.ListInteractions", {"customer": "acme", "from": "2026-11-25", "to": "2026-11-30"})
        self.assertEqual([i["summary"] for i in got[1]["interactions"]], ["call 3"])
        # refused: the future, an unknown kind, a control character, an unknown customer
        self.assertEqual(call(s, "io.standingd.Crm.LogInteraction",
                              {"customer": "acme", "kind": "call", "summary": "x", "at": "2026-12-02T00:00:00Z"}),
                         ("error", "org.varlink.service.InvalidParameter", {"parameter": "at"}))
        self.assertEqual(call(s, "io.standingd.Crm.LogInteraction", {"customer": "acme", "kind": "fax", "summary": "x"}),
                         ("error", "org.varlink.service.InvalidParameter", {"parameter": "kind"}))
        self.assertEqual(call(s, "io.standingd.Crm.LogInteraction",
                              {"customer": "acme", "kind": "note", "summary": "\x1b]0;owned\x07"}),
                         ("error", "org.varlink.service.InvalidParameter", {"parameter": "summary"}))
        self.assertEqual(call(s, "io.standingd.Crm.LogInteraction", {"customer": "nope", "kind": "note", "summary": "x"}),
                         ("error", "io.standingd.Crm.CustomerNotFound", {"customer": "nope"}))
        # 250 more: with "more" in replies of 100, 100, 54, in order; the profile has the last 20
        with Connection(s) as c:
            for n in range(250):
                c.call("io.standingd.Crm.LogInteraction", {"customer": "acme", "kind": "note", "summary": f"n{n}"})
            replies = c.call("io.standingd.Crm.ListInteractions", {"customer": "acme"}, more=True)
            self.assertEqual([len(r["interactions"]) for r in replies], [100, 100, 54])
            seqs = [i["seq"] for r in replies for i in r["interactions"]]
            self.assertEqual(seqs, [2, 4, 1, 3] + list(range(5, 255)))
            last = c.call("io.standingd.Crm.GetCustomer", {"customer": "acme"})["customer"]["interactions"]
            self.assertEqual([i["summary"] for i in last], [f"n{n}" for n in range(249, 229, -1)])
            # without "more": one reply with all of them
            self.assertEqual(len(c.call("io.standingd.Crm.ListInteractions", {"customer": "acme"})["interactions"]), 254)

    def test_place_customer(self):
        p = self.start()
        s = self.e.socket
        # validated like a YAML customer: field paths
        bad = dict(WEB, salesperson="bob", language="se")
        self.assertEqual(call(s, "io.standingd.Crm.PlaceCustomer", {"definition": bad}),
                         ("error", "io.standingd.Crm.InvalidDefinition", {"errors": [
                             {"field": "language", "message": 'expected one of en, fi, lv, nb, vi, got "se"'},
                             {"field": "salesperson",
                              "message": 'unknown salesperson "bob"; defined: sanna, myynti, salg'}]}))
        self.assertEqual(call(s, "io.standingd.Crm.PlaceCustomer", {"definition": dict(WEB, id="acme")}),
                         ("error", "io.standingd.Crm.DefinedInFile",
                          {"customer": "acme", "file": "orders.d/a.yaml", "line": 2}))
        # a standing order may not name it before it exists...
        got = call(s, "io.standingd.Orders.PlaceStandingOrder", {"definition": web_standing_order()})
        self.assertEqual(got, ("error", "io.standingd.Orders.InvalidDefinition",
                               {"errors": [{"field": "customer", "message": 'unknown customer "web-1"'}]}))
        # ...and may once it does; idempotent with a key
        place = {"definition": WEB, "idempotency_key": "signup-1"}
        self.assertEqual(call(s, "io.standingd.Crm.PlaceCustomer", place), ("ok", {"customer": "web-1"}))
        self.assertEqual(call(s, "io.standingd.Crm.PlaceCustomer", place), ("ok", {"customer": "web-1"}))
        self.assertEqual(call(s, "io.standingd.Crm.PlaceCustomer",
                              {"definition": dict(WEB, name="Other Oy"), "idempotency_key": "signup-1"}),
                         ("error", "io.standingd.Orders.IdempotencyKeyReused", {"idempotency_key": "signup-1"}))
        got = call(s, "io.standingd.Orders.PlaceStandingOrder", {"definition": web_standing_order()})
        self.assertEqual(got, ("ok", {"standing_order": "web-so", "next_delivery": "2026-12-08T09:00:00+02:00"}))
        # kept across a restart, as API standing orders are
        self.e.stop(p)
        self.start()
        got = call(s, "io.standingd.Crm.GetCustomer", {"customer": "web-1"})[1]["customer"]
        self.assertEqual((got["name"], got["source"], got["salesperson"]["id"], got["contacts"]),
                         ("Web Oy", "api", "sanna",
                          [{"name": "Outi Ostaja", "role": "purchasing", "email": "outi@web.example", "phone": None}]))
        self.assertEqual(got["standing_orders"], [{"id": "web-so", "supplier": "lumen", "source": "api",
                                                   "paused": False, "next_delivery": "2026-12-08T09:00:00+02:00"}])
        # a YAML file that defines it too is refused on reload; the running set stays
        self.e.write("orders.d/b.yaml", "customers:\n  - {id: web-1, name: Twice Oy}\n")
        got = call(s, "io.standingd.Ops.Reload")
        self.assertEqual(got[:2], ("error", "io.standingd.Ops.InvalidDefinitions"))
        self.assertIn('duplicate customer id "web-1"', " ".join(got[2]["errors"]))
        self.assertEqual(call(s, "io.standingd.Crm.GetCustomer", {"customer": "web-1"})[1]["customer"]["name"], "Web Oy")

    def test_salesperson_removed(self):
        """A reload that drops a salesperson a customer names is refused (the files
        are checked again even though only standingd.yaml changed)."""
        self.start()
        path = os.path.join(self.e.conf, "standingd.yaml")
        with open(path) as f:
            text = f.read()
        sanna = [l for l in text.splitlines(True) if "id: sanna" in l]
        self.assertEqual(len(sanna), 1)
        with open(path, "w") as f:
            f.write(text.replace(sanna[0], ""))
        self.assertEqual(call(self.e.socket, "io.standingd.Ops.Reload"),
                         ("error", "io.standingd.Ops.InvalidDefinitions",
                          {"errors": ['orders.d/a.yaml:6:18: unknown salesperson "sanna"; defined: myynti, salg']}))
        got = call(self.e.socket, "io.standingd.Crm.GetCustomer", {"customer": "acme"})
        self.assertEqual(got[1]["customer"]["salesperson"]["id"], "sanna")
        # one no customer names goes
        with open(path, "w") as f:
            f.write(text.replace([l for l in text.splitlines(True) if "id: myynti" in l][0], ""))
        self.assertEqual(call(self.e.socket, "io.standingd.Ops.Reload"), ("ok", {"customers": 2, "standing_orders": 1}))

    def test_standingctl(self):
        self.start()
        self.assertEqual(self.ctl("customers"), (0,
            "ID     NAME                       LANGUAGE  TIMEZONE         SALESPERSON  SOURCE\n"
            "acme   ACME Oy                    fi        Europe/Helsinki  sanna        orders.d/a.yaml:2\n"
            "kaffe  Kaffebrenneriet Tromsø AS  nb        Europe/Oslo      -            orders.d/a.yaml:10\n", ""))
        self.assertEqual(self.ctl("log", "acme", "call", "Confirmed the January order", "--contact", "Aino Virtanen"),
                         (0, "logged call with acme at 2026-12-01T08:00:00Z\n", ""))
        self.assertEqual(self.ctl("log", "acme", "fax", "x"),
                         (1, "", "standingctl: the daemon refused kind fax: not one of visit, call, email, meeting, note\n"))
        self.assertEqual(self.ctl("log", "acme", "call"), (2, "", "standingctl: log: standingctl log CUSTOMER KIND SUMMARY "
                         "[--contact NAME] (KIND: visit, call, email, meeting or note)\nTry 'standingctl --help'.\n"))
        got = call(self.e.socket, "io.standingd.Crm.AddTask",
                   {"customer": "acme", "due": "2026-12-03T08:00:00Z", "text": "Call Aino back"})
        self.assertEqual(got[1]["task"]["id"], "T-00000001")
        self.assertEqual(self.ctl("customer", "acme"), (0,
            "ACME Oy (acme)\n"
            "language      fi\n"
            "timezone      Europe/Helsinki\n"
            "salesperson   Sanna Myyjä <sales@lumen.example> (sanna)\n"
            "defined in    orders.d/a.yaml:2\n"
            "account       ACC-1001, credit limit 50000.00 EUR, balance 850.00 EUR\n"
            "\n"
            "Contacts\n"
            "NAME           ROLE        EMAIL              PHONE\n"
            "Aino Virtanen  purchasing  aino@acme.example  +358 40 123 4567\n"
            "\n"
            "Standing orders\n"
            "STANDING ORDER  SUPPLIER  NEXT DELIVERY              SOURCE\n"
            "bulbs           lumen     2026-12-14T06:00:00+02:00  orders.d/a.yaml:16\n"
            "\n"
            "Open orders\n"
            "ORDER          STANDING ORDER  CUSTOMER  DELIVERY                   STATUS     TOTAL       DUE  TRACKING\n"
            "SO-00000001-3  bulbs           acme      2026-12-07T06:00:00+02:00  confirmed  850.00 EUR  -    \n"
            "\n"
            "Open tasks\n"
            "TASK        DUE (UTC)             STATUS  ASSIGNEE  CUSTOMER  KIND    TEXT\n"
            "T-00000001  2026-12-03T08:00:00Z  open    sanna     acme      manual  Call Aino back\n"
            "\n"
            "Last interactions\n"
            "AT (UTC)              KIND  CONTACT        AUTHOR    SUMMARY\n"
            "2026-12-01T08:00:00Z  call  Aino Virtanen  ops:root  Confirmed the January order\n", ""))
        self.assertEqual(self.ctl("snooze", "T-00000001", "2026-12-04T08:00:00Z"),
                         (0, "task T-00000001 due 2026-12-04T08:00:00Z\n", ""))
        self.assertEqual(self.ctl("snooze", "T-00000001", "2026-11-04T08:00:00Z"),
                         (1, "", "standingctl: the daemon refused until 2026-11-04T08:00:00Z: not an instant after now "
                          "(2027-01-05T08:00:00Z)\n"))
        self.assertEqual(self.ctl("tasks"), (0,
            "TASK        DUE (UTC)             STATUS  ASSIGNEE  CUSTOMER  KIND    TEXT\n"
            "T-00000001  2026-12-04T08:00:00Z  open    sanna     acme      manual  Call Aino back\n", ""))
        self.assertEqual(self.ctl("tasks", "--mine"), (1, "", "standingctl: the daemon refused --mine: your user is no "
                                                       "salesperson's (users: of salespeople: in standingd.yaml)\n"))
        self.assertEqual(self.ctl("done", "T-00000001", "Aino ordered"), (0, "task T-00000001 done\n", ""))
        self.assertEqual(self.ctl("done", "T-00000001"),
                         (1, "", "standingctl: task T-00000001 is done: only an open task can be done or snoozed\n"))
        self.assertEqual(self.ctl("done", "T-00000009"), (1, "", "standingctl: task T-00000009 was not found\n"))
        self.assertEqual(self.ctl("tasks"), (0, "TASK  DUE (UTC)  STATUS  ASSIGNEE  CUSTOMER  KIND  TEXT\n", ""))
        self.assertEqual(self.ctl("tasks", "--all"), (0,
            "TASK        DUE (UTC)             STATUS  ASSIGNEE  CUSTOMER  KIND    TEXT\n"
            "T-00000001  2026-12-04T08:00:00Z  done    sanna     acme      manual  Call Aino back\n", ""))
        # done's note is logged
        self.assertEqual(self.ctl("history", "acme"), (0,
            "AT (UTC)              KIND  CONTACT        AUTHOR    SUMMARY\n"
            "2026-12-01T08:00:00Z  call  Aino Virtanen  ops:root  Confirmed the January order\n"
            "2026-12-01T08:00:00Z  note  -              ops:root  Aino ordered\n", ""))
        code, out, err = self.ctl("history", "acme", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual([json.loads(l)["seq"] for l in out.splitlines()], [1, 2])
        code, out, err = self.ctl("customer", "acme", "--json")
        self.assertEqual(json.loads(out)["open_tasks"], [])
        self.assertEqual(self.ctl("customer", "nope"), (1, "", "standingctl: customer nope was not found\n"))


if __name__ == "__main__":
    unittest.main()
