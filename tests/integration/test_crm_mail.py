"""The CRM's mail (issue 11), end to end: standingd on a test clock runs notify_command
[standingd-mail, --conf, CONF] against the real SMTP server of the notification tests
(tests/tools/smtpd.py); every message is parsed with Python's email package.

- A standing order with `reminders: [{before: 3 days, task: "Call {contact} about the
  {delivery_date} delivery"}]` of a customer whose salesperson (salespeople:) writes
  Finnish: three days before the delivery the task's e-mail reaches the salesperson's
  address, in Finnish (template task-due), with the task text (the delivery date in
  Finnish), To the salesperson by name, no Reply-To.
- E-mail interactions: the order confirmation mailed to the customer's contact appears
  in Crm.ListInteractions as one `email` interaction with the message's exact Subject
  and Message-ID, after its delivery was confirmed; while the SMTP server cannot be
  reached (the event pending, retried) none appears; the salesperson's mails (the task's,
  an order put on hold) log none. `standingctl history acme --json` shows the same.
- The protocol line itself, from a hand-written notify_command: `ID sent: <MESSAGE-ID>
  SUBJECT` with a control character and invalid UTF-8 in the Subject is logged cleaned;
  a `sent:` line without <MESSAGE-ID> is a delivery (not retried) with no interaction,
  and standingd logs it.

The daemon's clock runs ten times real speed, so the mailer's backoff (10 s, 20 s ...
of daemon time) passes in seconds."""
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import unittest
from datetime import datetime, timedelta, timezone

from harness import Env, STANDINGCTL, STANDINGD_MAIL
from test_mail import Smtpd, ctl, free_port
from varlink import Connection

SRCDIR = os.path.abspath(os.environ.get("SRCDIR", "."))

# harness's salespeople: sanna {name: Sanna Myyjä, email: sales@lumen.example, language: fi}
MAIL = """\
notify_command: [{mailer}, --conf, {conf}]
notify_timeout: 20 seconds
mail:
  from: "Lumen Oy <orders@lumen.example>"
  smtp: "{url}"
"""

ORDERS = """\
customers:
  - id: acme
    name: ACME Oy
    language: fi
    timezone: Europe/Helsinki
    salesperson: sanna
    account: {number: ACC-1001, credit_limit: "5000.00 EUR"}
    contacts:
      - {name: Pekka Puro, role: warehouse, email: pekka@acme.example}
      - {name: Liisa Laine, role: purchasing, email: liisa@acme.example, phone: "+358 40 555 0101"}
standing_orders:
  - id: weekly
    customer: acme
    supplier: lumen
    ship_to: {name: ACME varasto, street: Teollisuuskatu 1, postcode: "00510", city: Helsinki, country: FI}
    lines:
      - {sku: BULB-60W, quantity: 100, unit_price: "0.85 EUR"}
    payment: account
    schedule: {every: 1 week, start: 2026-12-07, at: "08:00", timezone: Europe/Helsinki, lead_time: 1 day}
    reminders:
      - {before: 3 days, task: "Call {contact} about the {delivery_date} delivery"}
"""

ORDER = """\
customer: acme
supplier: lumen
ship_to: {{name: ACME varasto, street: Teollisuuskatu 1, postcode: "00510", city: Helsinki, country: FI}}
lines:
  - {{sku: BULB-60W, quantity: {qty}, unit_price: "0.85 EUR"}}
payment: account
delivery: 2026-12-20
"""

# a notify_command of someone else's: the first event's mail "went" with a Subject
# holding a control character and a byte that is not UTF-8; the second's line has
# no <MESSAGE-ID>
NOTIFY = r"""import json, sys
for line in sys.stdin:
    ev = json.loads(line)
    n = ev["seq"]
    if n == 1:
        sys.stdout.buffer.write(("%s sent: <m-1@x.example> Order %s \x01 " % (ev["id"], ev["order"]["order"])).encode()
                                + b"\xff\n")
    else:
        sys.stdout.write("%s sent: m-%d@x.example Order\n" % (ev["id"], n))
"""

# the first delivery: Monday 2026-12-07 08:00 in Helsinki; its reminder 72 hours before
DELIVERY = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
REMINDER = DELIVERY - timedelta(days=3)
SPEED = 10


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def body_lines(m):
    """The body's lines, runs of ASCII spaces as one (the templates' alignment)."""
    text = m.get_body(preferencelist=("plain",)).get_content()
    return [re.sub(r" +", " ", line).strip(" ") for line in text.splitlines()]


class CrmMail(unittest.TestCase):
    def setUp(self):
        self.smtpd = Smtpd()
        self.addCleanup(self.smtpd.close)
        self.e = Env()
        self.addCleanup(self.e.close)
        self.p = None
        self.down = f"smtp://127.0.0.1:{free_port()}"   # nothing listens there
        self.mail(self.down)
        shutil.copytree(os.path.join(SRCDIR, "conf", "templates"), os.path.join(self.e.conf, "templates"))
        self.e.write("orders.d/acme.yaml", ORDERS)

    def tearDown(self):
        if self.p is not None and self.p.poll() is None:
            self.e.stop(self.p)

    def mail(self, url):
        """standingd.yaml's mail: relay; standingd-mail reads it on each batch."""
        self.e.configure(MAIL.format(mailer=STANDINGD_MAIL, conf=self.e.conf, url=url))

    def call(self, method, params=None, more=False):
        with Connection(self.e.socket) as c:
            return c.call("io.standingd." + method, params or {}, more=more)

    def interactions(self):
        replies = self.call("Crm.ListInteractions", {"customer": "acme"}, more=True)
        return [i for r in replies for i in r["interactions"]]

    def outbox(self):
        return self.call("Ops.ListOutbox", {})["events"]

    def now(self):
        return datetime.fromisoformat(self.call("Now")["now"].replace("Z", "+00:00"))

    def place(self, qty):
        path = os.path.join(self.e.dir, f"order-{qty}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ORDER.format(qty=qty))
        out = json.loads(ctl(self.e, "place-order", path, "--json"))
        return out["order"] if isinstance(out.get("order"), str) else out["order"]["order"]

    def messages(self, rcpt):
        return [(env, m) for env, m in self.smtpd.messages() if env["rcpt_tos"] == [rcpt]]

    def test_task_mail_and_email_interactions(self):
        self.p = self.e.start_ready(f"{iso(REMINDER - timedelta(seconds=20))},{SPEED}")
        # the confirmation of a one-time order, while the relay cannot be reached
        number = self.place(100)
        # the reminder's task comes due; its e-mail cannot go either
        def both_failed():
            evs = {e["type"]: e for e in self.outbox()}
            ok = all(t in evs and evs[t]["attempts"] >= 1 for t in ("order.created", "task.due"))
            return evs if ok else None
        evs = self.e.wait_for(both_failed, timeout=30, what="both events failing")
        self.assertRegex(evs["order.created"]["last_error"], r"^smtp://127\.0\.0\.1:\d+: Failed to connect")
        self.assertEqual(self.smtpd.messages(), [])
        # not delivered: not in the customer's log
        self.assertEqual(self.interactions(), [])

        # the relay comes back: both go out with their next attempt
        self.mail(self.smtpd.url)
        self.e.wait_for(lambda: self.call("Ops.Status")["outbox_pending"] == 0, timeout=60, what="nothing pending")
        after = self.now()

        # the task's e-mail: to the salesperson, in Finnish
        tasks = self.messages("sales@lumen.example")
        self.assertEqual(len(tasks), 1, [(e["rcpt_tos"], str(m["Subject"])) for e, m in self.smtpd.messages()])
        env, m = tasks[0]
        text = "Call Liisa Laine about the maanantai 7. joulukuuta 2026 delivery"
        self.assertEqual(str(m["Subject"]), f"Tehtävä: {text}")
        self.assertEqual(str(m["To"]), "Sanna Myyjä <sales@lumen.example>")
        self.assertIsNone(m["Reply-To"])
        self.assertEqual(str(m["From"]), "Lumen Oy <orders@lumen.example>")
        self.assertEqual(m["Content-Language"], "fi")
        self.assertEqual(env["mail_from"], "orders@lumen.example")
        self.assertEqual(body_lines(m), [
            "Hei Sanna Myyjä,",
            "",
            "Sinulle on tehtävä:",
            "",
            text,
            "",
            "Määräaika: perjantai 4. joulukuuta 2026 klo 8.00",
            "Asiakas: ACME Oy",
            "Asiakastili: ACC-1001",
            "Yhteyshenkilö: Liisa Laine",
            "Puhelin: +358 40 555 0101",
            "Sähköposti: liisa@acme.example",
            "Kestotilaus: weekly",
            "Toimitus: maanantai 7. joulukuuta 2026 klo 8.00",
            "",
            "Kun tehtävä on tehty, merkitse se tehdyksi: standingctl done T-00000001",
            "",
            "Lumen Oy, tilausjärjestelmä",
        ])

        # the confirmation: to the purchasing contact, Reply-To the salesperson's address
        confs = self.messages("liisa@acme.example")
        self.assertEqual(len(confs), 1)
        env, c = confs[0]
        self.assertEqual(str(c["Subject"]), f"Tilausvahvistus {number}")
        self.assertEqual(str(c["To"]), "Liisa Laine <liisa@acme.example>")
        self.assertEqual(str(c["Reply-To"]), "sales@lumen.example")
        self.assertEqual(self.messages("pekka@acme.example"), [])

        # exactly one e-mail interaction: the confirmation, with its Subject and Message-ID
        got = self.interactions()
        self.assertEqual(len(got), 1, got)
        i = got[0]
        self.assertEqual({k: i[k] for k in ("customer", "kind", "contact", "summary", "author", "message_id")},
                         {"customer": "acme", "kind": "email", "contact": None,
                          "summary": f"Tilausvahvistus {number}", "author": "standingd",
                          "message_id": str(c["Message-ID"])})
        self.assertRegex(i["message_id"], r"^<[0-9a-f]{16}-1@standingd\.lumen\.example>$")
        # logged when the delivery was recorded: after the failed attempts, by now
        at = datetime.fromisoformat(i["at"].replace("Z", "+00:00"))
        self.assertGreater(at, REMINDER)
        self.assertLessEqual(at, after)

        # an order put on hold: its mail goes to the salesperson, and logs nothing
        held = self.place(10000)   # 8 500 EUR: past the credit limit of 5 000
        self.e.wait_for(lambda: [m for e, m in self.messages("sales@lumen.example")
                                 if str(m["Subject"]) == f"Pidossa: tilaus {held} (ACME Oy)"],
                        timeout=30, what="the on-hold mail")
        self.e.wait_for(lambda: self.call("Ops.Status")["outbox_pending"] == 0, timeout=60, what="nothing pending")
        self.assertEqual(self.interactions(), got)
        # nothing more to the customer: an order put on hold is the salesperson's business
        self.assertEqual([str(m["Message-ID"]) for e, m in self.messages("liisa@acme.example")], [i["message_id"]])
        # standingctl's view of the log is the same
        r = subprocess.run([STANDINGCTL, "history", "acme", "--json"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, STANDINGD_SOCKET=self.e.socket))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(x) for x in r.stdout.splitlines()], got)
        log = self.e.log(self.p)
        self.assertNotIn("not in the protocol", log)
        self.assertNotIn("Sanitizer", log)

    def test_sent_lines_from_another_command(self):
        cmd = os.path.join(self.e.dir, "notify.py")
        with open(cmd, "w") as f:
            f.write(NOTIFY)
        os.chmod(cmd, 0o755)
        self.e.configure(f"notify_command: [{sys.executable}, {cmd}]\n")
        self.p = self.e.start_ready(f"{iso(REMINDER - timedelta(days=1))},{SPEED}")
        first = self.place(100)
        self.e.wait_for(lambda: self.call("Ops.Status")["outbox_pending"] == 0, timeout=30, what="the first")
        self.place(200)
        self.e.wait_for(lambda: self.call("Ops.Status")["outbox_pending"] == 0, timeout=30, what="the second")
        got = self.interactions()
        self.assertEqual([(i["kind"], i["summary"], i["message_id"]) for i in got],
                         [("email", f"Order {first} ? ?", "<m-1@x.example>")])
        self.assertEqual(self.call("Ops.Status")["outbox_parked"], 0)
        log = self.e.log(self.p)
        self.assertIn("printed a sent: line without <MESSAGE-ID> (delivered, not logged): \"", log)
        self.assertEqual(log.count("without <MESSAGE-ID>"), 1, log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
