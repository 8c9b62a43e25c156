"""Salespeople's tasks made by the system (issue 11), against the real daemon on a test clock.

Tasks are read from the store with the read-only tool tests/tools/tasks.c (TASKS), beside
the running daemon. Exact instants throughout:

- a `before: 3 days` reminder's task is due exactly 72 hours (elapsed) before each delivery
  of the standing order, across the change to summer time in Europe/Helsinki (deliveries
  2027-03-26 and 2027-03-30 06:00 local: due 2027-03-23T04:00:00Z and 2027-03-27T03:00:00Z),
  is made at that instant by the engine's timer (the clock runs at real speed: not there a
  second before, there within a second after), once each, across a restart too;
- `after_shipped:` tasks are due exactly that long after MarkShipped: 2 days (made by the
  CRM due run's timer after a restart) and 3 seconds (noticed while the daemon runs);
- an occurrence skipped in advance gets no task, a SkipOccurrence after its task was made
  cancels it, a paused standing order gets none;
- kill -9 in a loop (8 rounds) while an hourly reminder comes due: each occurrence's task
  exactly once, none missing, and `standingctl verify` passes;
- an order put on hold and an overdue prepaid order get their tasks;
- AddTask and SnoozeTask from the socket: the task.due alert is appended at the due
  instant (within a second), by the CRM due run's timer.
"""
import json
import os
import random
import subprocess
import time
import unittest
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from harness import DaemonTest
from varlink import Connection

TASKS = os.environ.get("TASKS", "build/tests/tasks")
OUTBOX = os.environ.get("OUTBOX", "build/tests/outbox")
FROZEN = ",0.001"          # 1 ms of daemon time per real second: now stays where it starts
HEL = ZoneInfo("Europe/Helsinki")

CONFIG = """\
state_dir: {state}
socket: {socket}
timezone: Europe/Helsinki
catch_up: all
max_catch_up: 100
suppliers:
  - {{id: lumen, name: Lumen Oy, users: [lumen]}}
salespeople:
  - {{id: sanna, name: Sanna Myyjä, email: sales@lumen.example, language: fi}}
"""

CUSTOMERS = """\
customers:
  - id: acme
    name: ACME Oy
    language: fi
    timezone: Europe/Helsinki
    salesperson: sanna
    payment_due: 2 hours
    cancel_unpaid_after: 4 hours
    contacts: [{name: Liisa Laine, role: purchasing, email: liisa@acme.example}]
    account: {number: ACC-1001, credit_limit: "50000.00 EUR"}
"""

ADDRESS = {"name": "Varasto", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki", "country": "FI"}
BEFORE = '      - {before: 3 days, task: "Soita {contact}: toimitus {delivery_date}"}\n'


def item(oid, schedule, reminders, paused=False):
    return (f"  - id: {oid}\n"
            "    customer: acme\n"
            "    supplier: lumen\n"
            "    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, country: FI}\n"
            "    lines:\n"
            "      - {sku: BULB-60W, quantity: 10, unit_price: \"0.85 EUR\"}\n"
            "    payment: account\n"
            "    schedule:\n" + "".join(f"      {k}: {v}\n" for k, v in schedule.items()) +
            ("      paused: true\n" if paused else "") +
            "    reminders:\n" + reminders)


# every 4 days from Friday 2027-03-26 06:00 in Helsinki: the 30th is after the change (the 28th)
DST = {"every": "4 days", "start": "2027-03-26", "at": '"06:00"', "timezone": "Europe/Helsinki",
       "lead_time": "1 day"}


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


D1 = datetime(2027, 3, 26, 6, 0, tzinfo=HEL)
D2 = datetime(2027, 3, 30, 6, 0, tzinfo=HEL)
# elapsed time: arithmetic on aware datetimes in one zone is wall time, so in UTC
R1 = D1.astimezone(timezone.utc) - timedelta(days=3)
R2 = D2.astimezone(timezone.utc) - timedelta(days=3)


class Tasks(DaemonTest):
    def setUp(self):
        self.e = self.env()
        self.e.write("standingd.yaml", CONFIG.format(state=self.e.state, socket=self.e.socket))
        self.e.write("orders.d/customers.yaml", CUSTOMERS + "standing_orders: []\n")
        self.p = None

    def orders(self, *items):
        self.e.write("orders.d/so.yaml", "standing_orders:" + ("\n" + "".join(items) if items else " []\n"))

    def start(self, at, speed=FROZEN):
        self.stop()
        self.p = self.e.start_ready(iso(at) + speed)
        return self.p

    def stop(self):
        if self.p is not None:
            self.assertEqual(self.e.stop(self.p), 0, self.e.log(self.p))
            self.p = None

    def call(self, method, params=None):
        with Connection(self.e.socket) as c:
            return c.call("io.standingd." + method, params or {})

    def now(self):
        return parse(self.call("Now")["now"])

    def tasks(self, kind=None, so=None):
        r = subprocess.run([TASKS, self.e.state], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        ts = [json.loads(x) for x in r.stdout.splitlines()]
        return [t for t in ts if (kind is None or t["kind"] == kind) and (so is None or t["standing_order"] == so)]

    def created_at(self, t):
        self.assertEqual(t["history"][0]["action"], "created")
        return parse(t["history"][0]["at"])

    def await_task(self, at, **filt):
        """Waits for the task due at `at` (the clock runs at real speed): absent while
        the daemon's clock is before at, made within a second of it."""
        seen_before = False
        while True:
            ts = [t for t in self.tasks(**filt) if t["due"] == iso(at)]
            if ts:
                break
            if self.now() < at:
                seen_before = True
            self.assertLess(self.now(), at + timedelta(seconds=10), "the task did not come")
            time.sleep(0.05)
        self.assertTrue(seen_before, "started too late to see the task not there yet")
        self.assertEqual(len(ts), 1)
        made = self.created_at(ts[0])
        self.assertGreaterEqual(made, at)
        self.assertLessEqual(made, at + timedelta(seconds=1))
        return ts[0]

    def test_before_exact_across_dst(self):
        self.orders(item("so", DST, BEFORE))
        self.assertEqual((iso(R1), iso(R2)), ("2027-03-23T04:00:00Z", "2027-03-27T03:00:00Z"))
        self.start(R1 - timedelta(seconds=4), ",1")
        t1 = self.await_task(R1, kind="before")
        self.assertEqual((t1["delivery"], t1["standing_order"], t1["customer"], t1["assignee"], t1["status"],
                          t1["order"]), (iso(D1), "so", "acme", "sanna", "open", None))
        self.start(R2 - timedelta(seconds=4), ",1")
        t2 = self.await_task(R2, kind="before")
        self.assertEqual((t2["delivery"], t2["status"]), (iso(D2), "open"))
        # once each, across another restart after both
        self.start(R2 + timedelta(hours=1))
        self.assertEqual([(t["due"], t["delivery"]) for t in self.tasks()],
                         [(iso(R1), iso(D1)), (iso(R2), iso(D2))])
        # what io.standingd.Crm.ListTasks shows is the same
        listed = self.call("Crm.ListTasks", {"status": "all"})["tasks"]
        self.assertEqual([(t["due"], t["delivery"], t["kind"]) for t in listed],
                         [(iso(R1), iso(D1), "before"), (iso(R2), iso(D2), "before")])
        self.e.ctl("verify", "--state", self.e.state)

    def test_after_shipped(self):
        self.orders(item("so", DST, '      - {after_shipped: 2 days, task: "Tarkista tilaus {order}"}\n'
                                    '      - {after_shipped: 3 seconds, task: "Lähetetty {order}"}\n'))
        self.start(D1 - timedelta(hours=20), ",1")   # the order of D1 exists (lead_time 1 day)
        order = self.e.wait_for(lambda: self.e.orders(), what="the order")[0]["order"]
        shipped = self.call("Supplier.MarkShipped", {"order": order, "carrier": "Posti", "tracking": "JJFI1"})["order"]
        at = parse([h for h in shipped["history"] if h["status"] == "shipped"][-1]["at"])
        # written by a socket request while the daemon runs: its due run notices it
        t = self.await_task(at + timedelta(seconds=3), kind="after_shipped")
        self.assertEqual((t["order"], t["standing_order"], t["assignee"], t["delivery"]), (order, "so", "sanna", None))
        self.assertEqual(len(self.tasks(kind="after_shipped")), 1)   # the 2-day one is not due
        self.start(at + timedelta(days=2) - timedelta(seconds=4), ",1")
        t = self.await_task(at + timedelta(days=2), kind="after_shipped")
        self.assertEqual(t["order"], order)
        self.start(at + timedelta(days=3))
        self.assertEqual(sorted(t["due"] for t in self.tasks(kind="after_shipped")),
                         [iso(at + timedelta(seconds=3)), iso(at + timedelta(days=2))])

    def alerts(self, task):
        r = subprocess.run([OUTBOX, self.e.state], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        ev = [json.loads(x) for x in r.stdout.splitlines()]
        return [datetime.fromtimestamp(x["at"], timezone.utc) for x in ev
                if x["type"] == "task.due" and x["payload"]["task"] == task]

    def await_alert(self, task, at, n):
        """The n-th task.due of task is appended at `at` (within a second), not before."""
        while len(self.alerts(task)) < n:
            self.assertLess(self.now(), at + timedelta(seconds=10), "the alert did not come")
            time.sleep(0.05)
        got = self.alerts(task)
        self.assertEqual(len(got), n)
        self.assertGreaterEqual(got[-1], at)
        self.assertLessEqual(got[-1], at + timedelta(seconds=1))

    def test_alerts_of_added_and_snoozed_tasks(self):
        self.orders()
        self.start(datetime(2027, 1, 11, 8, tzinfo=timezone.utc), ",1")
        due = self.now().replace(microsecond=0) + timedelta(seconds=3)
        t = self.call("Crm.AddTask", {"customer": "acme", "due": iso(due), "text": "Soita Liisalle"})["task"]
        self.assertEqual((t["due"], t["kind"], t["assignee"], t["status"]), (iso(due), "manual", "sanna", "open"))
        self.assertEqual(self.alerts(t["id"]), [])   # written by a request: the due run's poll finds it
        self.await_alert(t["id"], due, 1)
        until = self.now().replace(microsecond=0) + timedelta(seconds=3)
        self.call("Crm.SnoozeTask", {"task": t["id"], "until": iso(until)})
        self.await_alert(t["id"], until, 2)

    def test_skipped_and_paused(self):
        self.orders(item("so", DST, BEFORE), item("sk", DST, BEFORE), item("pa", DST, BEFORE, paused=True))
        self.start(datetime(2027, 3, 20, tzinfo=timezone.utc))
        self.call("Orders.SkipOccurrence", {"standing_order": "sk", "delivery": iso(D1)})
        self.start(R1)
        self.assertEqual([(t["standing_order"], t["delivery"]) for t in self.tasks()], [("so", iso(D1))])
        self.start(R2)
        self.assertEqual(sorted((t["standing_order"], t["delivery"], t["status"]) for t in self.tasks()),
                         [("sk", iso(D2), "open"), ("so", iso(D1), "open"), ("so", iso(D2), "open")])
        # skipped after its task was made: the task is cancelled
        self.call("Orders.SkipOccurrence", {"standing_order": "sk", "delivery": iso(D2)})
        sk = self.tasks(so="sk")
        self.assertEqual([(t["delivery"], t["status"]) for t in sk], [(iso(D2), "cancelled")])
        self.assertEqual([(h["action"], h["note"]) for h in sk[0]["history"]][-1], ("cancelled", "occurrence skipped"))
        self.assertEqual(self.tasks(so="pa"), [])
        self.e.ctl("verify", "--state", self.e.state)

    def test_kill9_loop_each_once(self):
        hourly = {"every": "1 hour", "start": "2027-03-01", "timezone": "UTC", "lead_time": "10 minutes"}
        self.orders(item("hourly", hourly, '      - {before: 30 minutes, task: "Soita {customer}"}\n'))
        t0 = datetime(2027, 3, 10, 0, 10, tzinfo=timezone.utc)
        rnd = random.Random(11)
        at = t0
        for _ in range(8):
            p = self.e.start_ready(iso(at) + ",7200")   # two hours a second
            time.sleep(rnd.uniform(0.3, 1.2))
            at = self.now()
            os.kill(p.pid, 9)
            p.wait()
        self.start(at)
        end = self.now()
        got = [t["delivery"] for t in self.tasks(so="hourly")]
        # every occurrence whose reminder instant is in [t0, end], each once, in order
        want, d = [], datetime(2027, 3, 10, 1, tzinfo=timezone.utc)
        while d - timedelta(minutes=30) <= end:
            want.append(iso(d))
            d += timedelta(hours=1)
        self.assertGreater(len(want), 8)
        self.assertEqual(got, want)
        self.e.ctl("verify", "--state", self.e.state)

    def test_on_hold_and_overdue(self):
        self.orders()
        t0 = datetime(2027, 1, 11, 8, tzinfo=timezone.utc)
        self.start(t0)
        line = [{"sku": "BULB", "quantity": 10, "unit_price": "1.00", "currency": "EUR"}]
        held = self.call("Orders.PlaceOrder", {"customer": "acme", "supplier": "lumen", "ship_to": ADDRESS,
                                               "lines": line, "payment": "account", "delivery": "2027-01-20"})["order"]
        self.call("Orders.HoldOrder", {"order": held["order"], "reason": "address check"})
        pre = self.call("Orders.PlaceOrder", {"customer": "acme", "supplier": "lumen", "ship_to": ADDRESS,
                                              "lines": line, "payment": "prepaid", "delivery": "2027-01-20"})["order"]
        self.assertEqual([(t["kind"], t["order"], t["due"]) for t in self.tasks()],
                         [("on_hold", held["order"], iso(t0))])
        self.start(t0 + timedelta(hours=2, seconds=1))   # past payment_due: overdue at start-up
        self.assertEqual(sorted((t["kind"], t["order"], t["assignee"]) for t in self.tasks()),
                         sorted([("on_hold", held["order"], "sanna"), ("payment_overdue", pre["order"], "sanna")]))
        self.e.ctl("verify", "--state", self.e.state)

    def tearDown(self):
        self.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
