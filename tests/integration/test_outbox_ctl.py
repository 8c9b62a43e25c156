"""standingctl outbox and status (issue 10): the pending events as a table and as
JSON, the parked ones, --retry ID / --retry-all and their refusals, and the outbox
lines of standingctl status, against the running daemon on a stopped test clock:
with no notify_command (events stay pending), and with one that fails (each event
parked at its first attempt) until it is fixed; exact output and exit codes."""
import json
import os
import subprocess
import unittest

from harness import DaemonTest, Env, CUSTOMERS, STANDINGCTL
from varlink import Connection

# the clock barely moves: every instant printed is the start
CLOCK = "2026-11-25T00:00:00Z,0.000001"

ORDER_YAML = """\
customer: acme
supplier: lumen
ship_to: {{name: X, street: Katu 1, postcode: "00510", city: Helsinki, country: FI}}
lines:
  - {{sku: BULB-60W, quantity: 10, unit_price: "4.00 EUR"}}
payment: {payment}
delivery: 2026-12-20
"""


class OutboxCtl(DaemonTest):
    def start(self, extra=""):
        self.e = Env()
        self.addCleanup(self.e.close)
        self.e.configure(extra)
        self.e.write("orders.d/customers.yaml", CUSTOMERS)
        p = self.e.start(CLOCK)
        self.e.wait_for(lambda: "started" in self.e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), self.e.log(p))
        self.addCleanup(lambda: self.e.stop(p) if p.poll() is None else None)

    def status(self):
        code, out, err = self.ctl("status", "--json")
        self.assertEqual(code, 0, err)
        return json.loads(out[0])

    def ctl(self, *args):
        """(exit code, stdout lines without trailing blanks, stderr)"""
        env = dict(os.environ, STANDINGD_SOCKET=self.e.socket)
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=60, env=env)
        return r.returncode, [l.rstrip() for l in r.stdout.splitlines()], r.stderr

    def place(self, payment):
        path = os.path.join(self.e.dir, payment + ".yaml")
        with open(path, "w") as f:
            f.write(ORDER_YAML.format(payment=payment))
        code, out, err = self.ctl("place-order", path)
        self.assertEqual(code, 0, err)

    def test_pending_listed_retry_refused(self):
        self.start()
        code, out, err = self.ctl("outbox")
        self.assertEqual((code, out, err), (0, ["ID  TYPE  ORDER  ATTEMPTS  NEXT ATTEMPT  LAST ERROR"], ""))
        self.place("account")    # order.created (confirmed at once)
        self.place("prepaid")    # order.created, order.awaiting_payment
        code, out, err = self.ctl("outbox", "--json")
        self.assertEqual((code, err), (0, ""))
        events = [json.loads(l) for l in out]
        inst = events[0]["id"].split("-")[0]
        self.assertRegex(inst, r"^[0-9a-f]{16}$")
        self.assertEqual(events, [
            {"id": f"{inst}-{n}", "seq": n, "type": t, "at": "2026-11-25T00:00:00Z", "order": o, "customer": "acme",
             "task": None, "attempts": 0, "next_attempt": None, "last_error": None, "parked": False, "parked_at": None}
            for n, t, o in [(1, "order.created", "SO-00000001-3"), (2, "order.created", "SO-00000002-1"),
                            (3, "order.awaiting_payment", "SO-00000002-1")]])
        code, out, err = self.ctl("outbox")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, [
            "ID                  TYPE                    ORDER          ATTEMPTS  NEXT ATTEMPT  LAST ERROR",
            f"{inst}-1  order.created           SO-00000001-3  0         now           -",
            f"{inst}-2  order.created           SO-00000002-1  0         now           -",
            f"{inst}-3  order.awaiting_payment  SO-00000002-1  0         now           -",
        ])
        self.assertEqual(self.ctl("outbox", "--parked"),
                         (0, ["ID  TYPE  ORDER  ATTEMPTS  NEXT ATTEMPT  LAST ERROR"], ""))
        # status: the outbox's three lines (and the backlog, the same number)
        code, out, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        self.assertIn("outbox_backlog            3", out)
        self.assertIn("outbox_pending            3", out)
        self.assertIn("outbox_parked             0", out)
        self.assertIn("outbox_oldest_pending_age 0", out)
        # a real to a tenth, not JSON's 17 digits
        self.assertRegex(next(l for l in out if l.startswith("max_loop_step_ms")), r"^max_loop_step_ms +[0-9]+\.[0-9]$")
        # nothing is parked: a retry finds nothing
        self.assertEqual(self.ctl("outbox", "--retry", f"{inst}-1"),
                         (1, [], f"standingctl: event {inst}-1 is not parked "
                                 "(standingctl outbox --parked lists those that are)\n"))
        self.assertEqual(self.ctl("outbox", "--retry", "nope"),
                         (1, [], "standingctl: event nope is not parked (standingctl outbox --parked lists those that are)\n"))
        self.assertEqual(self.ctl("outbox", "--retry-all"), (0, ["retried 0 events: pending again, due now"], ""))
        self.assertEqual(self.ctl("outbox", "--retry-all", "--json"), (0, ['{"retried":0}'], ""))
        code, out, err = self.ctl("outbox", "--retry", "x", "--retry-all")
        self.assertEqual((code, out), (2, []))
        self.assertEqual(err.splitlines()[0], "standingctl: outbox: --retry ID or --retry-all, not both")
        self.assertEqual(self.ctl("outbox", "extra")[0], 2)

    def test_parked_listed_and_retried(self):
        self.start('notify_command: [/bin/sh, -c, "cat >/dev/null; exit 3"]\nnotify_max_attempts: 1\n')
        self.place("account")    # 1
        self.place("prepaid")    # 2, 3 (3 waits for 2: same order)
        self.e.wait_for(lambda: self.status()["outbox_parked"] == 3, what="three parked")
        st = self.status()
        self.assertEqual((st["outbox_pending"], st["outbox_backlog"], st["outbox_oldest_pending_age"]), (0, 0, None))
        code, out, err = self.ctl("outbox", "--parked", "--json")
        inst = json.loads(out[0])["id"].split("-")[0]
        code, out, err = self.ctl("outbox", "--parked")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, [
            "ID                  TYPE                    ORDER          ATTEMPTS  NEXT ATTEMPT                 LAST ERROR",
            f"{inst}-1  order.created           SO-00000001-3  1         parked 2026-11-25T00:00:00Z  exit status 3",
            f"{inst}-2  order.created           SO-00000002-1  1         parked 2026-11-25T00:00:00Z  exit status 3",
            f"{inst}-3  order.awaiting_payment  SO-00000002-1  1         parked 2026-11-25T00:00:00Z  exit status 3",
        ])
        self.assertEqual(self.ctl("outbox"), (0, ["ID  TYPE  ORDER  ATTEMPTS  NEXT ATTEMPT  LAST ERROR"], ""))
        # the command fixed (reload), one retried by id, then the rest
        self.e.configure('notify_command: [/bin/sh, -c, "cat >/dev/null"]\nnotify_max_attempts: 1\n')
        self.assertEqual(self.ctl("reload")[0], 0)
        self.assertEqual(self.ctl("outbox", "--retry", f"{inst}-2"), (0, ["retried 1 event: pending again, due now"], ""))
        self.e.wait_for(lambda: self.status()["outbox_parked"] == 2 and self.status()["outbox_pending"] == 0,
                        what="event 2 delivered")
        self.assertEqual(self.ctl("outbox", "--retry", f"{inst}-2"),
                         (1, [], f"standingctl: event {inst}-2 is not parked "
                                 "(standingctl outbox --parked lists those that are)\n"))
        self.assertEqual(self.ctl("outbox", "--retry-all"), (0, ["retried 2 events: pending again, due now"], ""))
        self.e.wait_for(lambda: (self.status()["outbox_parked"], self.status()["outbox_pending"]) == (0, 0),
                        what="all delivered")
        self.assertEqual(self.ctl("outbox", "--parked"), (0, ["ID  TYPE  ORDER  ATTEMPTS  NEXT ATTEMPT  LAST ERROR"], ""))

    def test_task_due_labelled_by_task(self):
        """A task.due about no order is listed by its task (task:ID, its ordering key),
        not by its customer; one about an order by the order."""
        self.start()
        self.place("account")    # 1: order.created SO-00000001-3
        with Connection(self.e.socket) as c:
            got = c.call("io.standingd.Crm.AddTask",
                         {"customer": "acme", "due": "2026-11-25T00:00:00Z", "text": "Call Aino"})
        self.assertEqual(got["task"]["id"], "T-00000001")
        code, out, err = self.ctl("outbox", "--json")
        self.assertEqual((code, err), (0, ""))
        events = [json.loads(l) for l in out]
        inst = events[0]["id"].split("-")[0]
        self.assertEqual([(e["type"], e["order"], e["customer"], e["task"]) for e in events],
                         [("order.created", "SO-00000001-3", "acme", None), ("task.due", None, "acme", "T-00000001")])
        self.assertEqual(self.ctl("outbox"), (0, [
            "ID                  TYPE           ORDER            ATTEMPTS  NEXT ATTEMPT  LAST ERROR",
            f"{inst}-1  order.created  SO-00000001-3    0         now           -",
            f"{inst}-2  task.due       task:T-00000001  0         now           -",
        ], ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
