"""standingd-mail (issue 10): the outbox's events as e-mail, end to end.

SmtpEndToEnd: standingd on a test clock runs notify_command [standingd-mail, --conf,
CONF] against a real SMTP server (Debian's aiosmtpd, tests/tools/smtpd.py, run by
/usr/bin/python3 on a free loopback port). An account order of a Finnish customer,
a prepaid one of a Vietnamese customer and a shipped one of a Norwegian customer
arrive as mail; every message is parsed with Python's email package and its
envelope, headers, decoded Subject and body are checked exactly. A fourth customer's
address is refused with 550: that event alone is parked.

Direct: standingd-mail run by hand on expanded events that a standingd handed to a
recording notify_command: sendmail and Maildir modes, the protocol's lines for
malformed events, a deferred recipient holding its order's later events, an
unreachable relay, credentials, STARTTLS required, and configuration errors."""
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Env, STANDINGCTL, STANDINGD_MAIL
from varlink import Connection

SRCDIR = os.path.abspath(os.environ.get("SRCDIR", "."))
SMTPD = os.path.join(SRCDIR, "tests", "tools", "smtpd.py")
DEBIAN_PYTHON = "/usr/bin/python3"

# the clock barely moves: every order is placed at the start
CLOCK = "2026-12-01T08:00:00Z,0.000001"
CLOCK_LATER = "2026-12-01T09:00:00Z,0.000001"

FROM = "Lumen Oy <orders@lumen.example>"

# harness's config (state_dir, socket, suppliers ...) and the mail keys
MAIL_CONFIG = """\
notify_command: [{mailer}, --conf, {conf}]
notify_timeout: 20 seconds
mail:
  from: "{mail_from}"
{mail}
carriers:
  - {{id: posti, name: Posti, tracking_url: "https://www.posti.fi/fi/seuranta#/lahetys/{{tracking}}"}}
  - {{id: posten, name: Posten, tracking_url: "https://sporing.posten.no/sporing/{{tracking}}"}}
  - {{id: vnpost, name: VNPost, tracking_url: "https://www.vnpost.vn/tra-cuu-hanh-trinh/buu-pham?key={{tracking}}"}}
"""

CUSTOMERS = """\
customers:
  - id: aakkonen
    name: Ääkkönen Oy
    language: fi
    timezone: Europe/Helsinki
    salesperson: myynti
    vat: "25.5%"
    account: {number: ACC-1001, credit_limit: "50000.00 EUR"}
    contacts:
      - {name: Jyrki Äänismaa, role: warehouse, email: jyrki@aakkonen.example}
      - {name: Aino Ääkkönen, role: purchasing, email: aino@aakkonen.example}
  - id: anh-sang
    name: Công ty TNHH Ánh Sáng
    language: vi
    timezone: Asia/Ho_Chi_Minh
    salesperson: sanna
    contacts:
      - {name: Nguyễn Thị Hương, role: purchasing, email: huong@anhsang.example}
  - id: nordlys
    name: Nordlys Kafé Tromsø AS
    language: nb
    timezone: Europe/Oslo
    salesperson: salg
    account: {number: ACC-3001, credit_limit: "120000 NOK"}
    contacts:
      - {name: Kari Nordmann, role: purchasing, email: kari@nordlys.example}
  - id: gone
    name: Gone Ltd
    language: en
    timezone: Europe/London
    salesperson: sanna
    account: {number: ACC-9001}
    contacts:
      - {name: Nobody, role: purchasing, email: nobody@refused.example}
"""

ORDER = """\
customer: {customer}
supplier: {supplier}
ship_to: {ship_to}
lines:
{lines}
payment: {payment}
delivery: {delivery}
"""

ORDERS = {
    "fi": dict(customer="aakkonen", supplier="lumen", payment="account", delivery="2026-12-20",
               ship_to='{name: Ääkkönen varasto, street: Teollisuuskatu 1, postcode: "00510", city: Helsinki, '
                       'country: FI}',
               lines='  - {sku: BULB-60W, quantity: 1000, unit_price: "0.85 EUR"}'),
    "vi": dict(customer="anh-sang", supplier="lumen", payment="prepaid", delivery="2026-12-20",
               ship_to='{name: Kho Ánh Sáng, street: 12 Nguyễn Huệ, postcode: "700000", '
                       'city: Thành phố Hồ Chí Minh, country: VN}',
               lines='  - {sku: LED-PANEL-40W, quantity: 2, unit_price: "425000 VND"}'),
    "nb": dict(customer="nordlys", supplier="nordkaffe", payment="account", delivery="2026-12-20",
               ship_to='{name: Nordlys Kafé, street: Storgata 12, postcode: "9008", city: Tromsø, country: "NO"}',
               lines='  - {sku: KAFFE-1KG, quantity: 60, unit_price: "189.00 NOK"}'),
    "en": dict(customer="gone", supplier="lumen", payment="account", delivery="2026-12-20",
               ship_to='{name: Gone, street: 1 High Street, postcode: "SW1A 1AA", city: London, country: GB}',
               lines='  - {sku: BULB-60W, quantity: 10, unit_price: "0.85 EUR"}'),
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Smtpd:
    """tests/tools/smtpd.py on a free loopback port; stopped by pid."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="standingd-smtpd-")
        self.p = subprocess.Popen([DEBIAN_PYTHON, SMTPD, "--dir", self.dir, *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        m = re.fullmatch(r"PORT (\d+)\n", line)
        if not m:
            self.close()
            raise AssertionError(f"smtpd.py did not start: {line!r}")
        self.port = int(m.group(1))
        self.url = f"smtp://127.0.0.1:{self.port}"

    def messages(self):
        """[(envelope dict, email.message.EmailMessage)] in arrival order."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    env = json.load(f)
                with open(os.path.join(self.dir, name[:-5] + ".eml"), "rb") as f:
                    raw = f.read()
                env["raw"] = raw
                out.append((env, email.message_from_bytes(raw, policy=email.policy.default)))
        return out

    def close(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.p.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def setup_env(e, mail, notify=None, templates=True):
    """e's standingd.yaml with notify_command and mail:, the project's templates."""
    notify = notify or f"[{STANDINGD_MAIL}, --conf, {e.conf}]"
    extra = MAIL_CONFIG.format(mailer=STANDINGD_MAIL, conf=e.conf, mail_from=FROM, mail=mail)
    e.configure(re.sub(r"^notify_command: .*$", lambda m: "notify_command: " + notify, extra, flags=re.M))
    if templates:
        shutil.copytree(os.path.join(SRCDIR, "conf", "templates"), os.path.join(e.conf, "templates"))
    e.write("orders.d/customers.yaml", CUSTOMERS)


def ctl(e, *args):
    env = dict(os.environ, STANDINGD_SOCKET=e.socket)
    r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError(f"standingctl {' '.join(args)}: {r.returncode} {r.stderr}{r.stdout}")
    return r.stdout


def place(e, lang):
    path = os.path.join(e.dir, f"order-{lang}.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(ORDER.format(**ORDERS[lang]))
    out = json.loads(ctl(e, "place-order", path, "--json"))
    return out["order"] if isinstance(out.get("order"), str) else out["order"]["order"]


def status(e):
    with Connection(e.socket) as c:
        return c.call("io.standingd.Ops.Status")


def start(e, clock=CLOCK):
    return e.start_ready(clock)


def body_text(msg):
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content()


class SmtpEndToEnd(unittest.TestCase):
    """One daemon, four orders, one SMTP server: the messages are checked one by one."""

    @classmethod
    def setUpClass(cls):
        cls.smtpd = Smtpd("--refuse", "nobody@refused.example")
        cls.e = Env()
        try:
            # First with a notify_command that fails: the orders are placed and the
            # Norwegian one shipped while nothing is delivered ...
            setup_env(cls.e, f'  smtp: "{cls.smtpd.url}"', notify="['/bin/sh', '-c', 'exit 1']")
            p = start(cls.e)
            cls.numbers = {lang: place(cls.e, lang) for lang in ("fi", "vi", "nb", "en")}
            ctl(cls.e, "ship", cls.numbers["nb"], "--carrier", "posten", "--tracking", "370123456789")
            cls.e.stop(p)
            # ... then standingd-mail, an hour later: the pending events survived the
            # restart, and the shipped order's order.created still confirms it.
            setup_env(cls.e, f'  smtp: "{cls.smtpd.url}"', templates=False)
            cls.p = start(cls.e, CLOCK_LATER)
            # fi, vi, nb confirmation, nb shipping; en refused. A message is on disk
            # before the server's 250, so before standingd-mail names its event.
            cls.e.wait_for(lambda: status(cls.e).get("outbox_pending") == 0, timeout=30, what="nothing pending")
            cls.status = status(cls.e)
            cls.msgs = cls.smtpd.messages()
            cls.log = cls.e.log(cls.p)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        p = getattr(cls, "p", None)
        if p is not None and p.poll() is None:
            cls.e.stop(p)
        cls.e.close()
        cls.smtpd.close()

    def by_rcpt(self, rcpt):
        got = [(env, m) for env, m in self.msgs if env["rcpt_tos"] == [rcpt]]
        return got

    def common(self, env, m, rcpt, to, reply_to, lang, seq):
        """What every message has: envelope, From, To, Reply-To, language, MIME, the
        Message-ID of the store's seq-th event."""
        self.assertEqual(str(m["Reply-To"]), reply_to)
        self.assertEqual(m["Content-Language"], lang)
        self.assertEqual(str(m["Message-ID"]), self.message_id(seq))
        self.assertEqual(env["mail_from"], "orders@lumen.example")
        self.assertEqual(env["helo"], socket.gethostname())   # EHLO names this host
        self.assertEqual(env["rcpt_tos"], [rcpt])
        self.assertEqual(str(m["From"]), FROM)
        self.assertEqual(str(m["To"]), to)
        self.assertEqual(m.get_content_type(), "text/plain")
        self.assertEqual(m.get_content_charset(), "utf-8")
        self.assertEqual(m["Content-Transfer-Encoding"], "quoted-printable")
        self.assertEqual(m["MIME-Version"], "1.0")
        self.assertIsNotNone(m["Date"].datetime)
        # RFC 2047 / ASCII only on the wire: headers are 7-bit
        # on the wire all 7-bit: RFC 2047 headers, a quoted-printable body, CRLF line ends
        self.assertTrue(all(b < 0x80 for b in env["raw"]), env["raw"][:400])
        self.assertNotIn(b"\n", env["raw"].replace(b"\r\n", b""))

    def test_counts_and_parked(self):
        self.assertEqual(len(self.msgs), 4, [(e["rcpt_tos"], str(m["Subject"])) for e, m in self.msgs])
        self.assertEqual(self.status["outbox_pending"], 0)
        self.assertEqual(self.status["outbox_parked"], 1)
        self.assertEqual(self.by_rcpt("nobody@refused.example"), [])
        self.assertIn("550 5.1.1 <nobody@refused.example>: Recipient address rejected: User unknown", self.log)
        self.assertNotIn("Sanitizer", self.log)       # the mailer's standard error is in the log
        self.assertNotIn("runtime error", self.log)

    def one(self, rcpt, subject):
        got = [(env, m) for env, m in self.msgs if env["rcpt_tos"] == [rcpt] and str(m["Subject"]) == subject]
        self.assertEqual(len(got), 1, [(e["rcpt_tos"], str(m["Subject"])) for e, m in self.msgs])
        return got[0]

    def lines(self, m):
        """The body's lines, runs of ASCII spaces as one (the templates' alignment);
        ICU's no-break spaces (U+00A0, U+202F) stay as they are."""
        return [re.sub(r" +", " ", l).strip(" ") for l in body_text(m).splitlines()]

    def message_id(self, seq):
        """The Message-ID of the seq-th event of this store: INSTANCE-SEQ@standingd. plus From's domain."""
        instance = {re.match(r"<([0-9a-f]{16})-", str(m["Message-ID"])).group(1) for e, m in self.msgs}
        self.assertEqual(len(instance), 1, instance)
        return f"<{instance.pop()}-{seq}@standingd.lumen.example>"

    def test_finnish_account_order_confirmation(self):
        n = self.numbers["fi"]
        env, m = self.one("aino@aakkonen.example", f"Tilausvahvistus {n}")
        # to the contact with role purchasing, not the first contact
        self.common(env, m, "aino@aakkonen.example", "Aino Ääkkönen <aino@aakkonen.example>",
                    "myynti@lumen.example", "fi", 1)   # the store's first event
        self.assertIn(b"To: =?UTF-8?", env["raw"])   # Ääkkönen, RFC 2047
        body = self.lines(m)
        self.assertEqual(body[0], "Hei Aino Ääkkönen,")
        for line in (f"Tilausnumero: {n}",
                     "Asiakas: Ääkkönen Oy",
                     "BULB-60W: 1\u00a0000 × 0,85\u00a0€ = 850,00\u00a0€",
                     "Veroton yhteensä: 850,00\u00a0€",
                     "ALV: 216,75\u00a0€ (25,5\u00a0%)",
                     "Yhteensä: 1\u00a0066,75\u00a0€",
                     "Toimitus: sunnuntai 20. joulukuuta 2026 klo 0.00",
                     "Teollisuuskatu 1",
                     "00510 Helsinki",
                     "Suomi"):
            self.assertIn(line, body)

    def test_vietnamese_prepaid_payment_request(self):
        n = self.numbers["vi"]
        env, m = self.one("huong@anhsang.example", f"Yêu cầu thanh toán đơn hàng {n}")
        # order.created (2) of a prepaid order sends nothing; its order.awaiting_payment (3) this
        self.common(env, m, "huong@anhsang.example", "Nguyễn Thị Hương <huong@anhsang.example>",
                    "sales@lumen.example", "vi", 3)
        self.assertIn(b"Subject: =?UTF-8?", env["raw"])
        body = self.lines(m)
        self.assertEqual(body[0], "Kính gửi Nguyễn Thị Hương,")
        for line in ("Số tiền cần thanh toán: 850.000\u00a0₫",
                     "Mã tham chiếu: RF19000000021",       # ISO 11649 from SO-00000002-1
                     "Hạn thanh toán: 4 tháng 12, 2026, lúc 15:00",   # 3 days after 08:00Z, in Ho Chi Minh City
                     "LED-PANEL-40W: 2 × 425.000\u00a0₫ = 850.000\u00a0₫",
                     "Tổng cộng: 850.000\u00a0₫",
                     "Dự kiến giao hàng: Chủ Nhật, 20 tháng 12, 2026, lúc 00:00",
                     "12 Nguyễn Huệ",
                     "700000 Thành phố Hồ Chí Minh",
                     "Việt Nam"):
            self.assertIn(line, body)

    def test_norwegian_confirmation_and_shipping_confirmation(self):
        n = self.numbers["nb"]
        env, m = self.one("kari@nordlys.example", f"Ordrebekreftelse {n}")
        # shipped before its order.created went out: that still confirms it
        self.common(env, m, "kari@nordlys.example", "Kari Nordmann <kari@nordlys.example>",
                    "salg@nordkaffe.example", "nb", 4)
        body = self.lines(m)
        for line in (f"Ordrenummer: {n}",
                     "Kunde: Nordlys Kafé Tromsø AS",
                     "KAFFE-1KG: 60 × kr\u00a0189,00 = kr\u00a011\u00a0340,00",
                     "Totalt: kr\u00a011\u00a0340,00",
                     "Levering: søndag 20. desember 2026 kl. 00:00",
                     "9008 Tromsø",
                     "Norge"):
            self.assertIn(line, body)

        env, m = self.one("kari@nordlys.example", f"Ordre {n} er sendt")
        self.common(env, m, "kari@nordlys.example", "Kari Nordmann <kari@nordlys.example>",
                    "salg@nordkaffe.example", "nb", 6)
        body = self.lines(m)
        for line in (f"Ordre {n} ble sendt 1. desember 2026.",
                     "Transportør: Posten",                 # carriers: posten's name
                     "Sporingsnummer: 370123456789",
                     "Spor sendingen: https://sporing.posten.no/sporing/370123456789",
                     "Planlagt levering: søndag 20. desember 2026"):
            self.assertIn(line, body)
        # the confirmation went out before the shipping confirmation
        order = [str(m["Subject"]) for e, m in self.msgs if e["rcpt_tos"] == ["kari@nordlys.example"]]
        self.assertEqual(order, [f"Ordrebekreftelse {n}", f"Ordre {n} er sendt"])


CAPTURE = "['/bin/sh', '-c', 'cat >> \"$0\"', '{path}']"


class Direct(unittest.TestCase):
    """standingd-mail run by hand on the expanded events a standingd handed out."""

    @classmethod
    def setUpClass(cls):
        e = Env()
        try:
            path = os.path.join(e.dir, "events.jsonl")
            setup_env(e, '  maildir: mail', notify=CAPTURE.format(path=path))
            p = start(e)
            numbers = {lang: place(e, lang) for lang in ("fi", "vi", "nb")}
            ctl(e, "ship", numbers["nb"], "--carrier", "posten", "--tracking", "370123456789")

            def events():
                if not os.path.exists(path):
                    return None
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                return lines if len(lines) >= 5 else None
            lines = e.wait_for(events, timeout=30, what="five events")
            e.stop(p)
        finally:
            e.close()
        cls.lines = {}
        for line in lines:
            ev = json.loads(line)
            cls.lines[(ev["customer"]["id"], ev["type"])] = line
        cls.ids = {k: json.loads(v)["id"] for k, v in cls.lines.items()}
        assert sorted(cls.lines) == [("aakkonen", "order.created"), ("anh-sang", "order.awaiting_payment"),
                                     ("anh-sang", "order.created"), ("nordlys", "order.created"),
                                     ("nordlys", "order.shipped")], sorted(cls.lines)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="standingd-mail-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.conf = os.path.join(self.dir, "conf")
        os.mkdir(self.conf)
        shutil.copytree(os.path.join(SRCDIR, "conf", "templates"), os.path.join(self.conf, "templates"))

    def config(self, mail, mail_from=FROM):
        with open(os.path.join(self.conf, "standingd.yaml"), "w", encoding="utf-8") as f:
            f.write(f"timezone: Europe/Helsinki\nmail:\n  from: \"{mail_from}\"\n{mail}")

    def smtpd(self, *args):
        s = Smtpd(*args)
        self.addCleanup(s.close)
        return s

    def run_mailer(self, *keys, raw=None, env=None, args=None):
        """(exit status, stdout lines, stderr) of standingd-mail fed these events."""
        text = raw if raw is not None else "".join(self.lines[k] + "\n" for k in keys)
        r = subprocess.run([STANDINGD_MAIL, *(args if args is not None else ["--conf", self.conf])],
                           input=text.encode(), capture_output=True, timeout=60,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout.decode().splitlines(), r.stderr.decode()

    SUBJECTS = {("aakkonen", "order.created"): "Tilausvahvistus {}",
                ("anh-sang", "order.awaiting_payment"): "Yêu cầu thanh toán đơn hàng {}",
                ("nordlys", "order.created"): "Ordrebekreftelse {}", ("nordlys", "order.shipped"): "Ordre {} er sendt"}

    def sent(self, key):
        """The line for a mail submitted to the customer's contact (doc/crm.md):
        `ID sent: <MESSAGE-ID> SUBJECT`, the Subject as rendered."""
        i = self.ids[key]
        order = json.loads(self.lines[key])["order"]["order"]
        return f"{i} sent: <{i}@standingd.lumen.example> {self.SUBJECTS[key].format(order)}"

    FI = ("aakkonen", "order.created")
    VI = ("anh-sang", "order.awaiting_payment")
    VI0 = ("anh-sang", "order.created")
    NB = ("nordlys", "order.created")
    NB_SHIPPED = ("nordlys", "order.shipped")

    def test_sendmail(self):
        rec = os.path.join(self.dir, "rec")
        fake = os.path.join(self.dir, "sendmail")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nprintf "%s\\n" "$@" > "$REC.args"\ncat > "$REC.msg"\n'
                    'exit "$(cat "$REC.code" 2>/dev/null || echo 0)"\n')
        os.chmod(fake, 0o755)
        self.config(f"  sendmail: {fake}\n")
        env = {"REC": rec}
        self.assertEqual(self.run_mailer(self.FI, env=env), (0, [self.sent(self.FI)], ""))
        with open(rec + ".args") as f:
            self.assertEqual(f.read().splitlines(), ["-i", "-f", "orders@lumen.example", "--", "aino@aakkonen.example"])
        with open(rec + ".msg", "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\r", raw)   # local mail: LF line ends
        m = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(str(m["To"]), "Aino Ääkkönen <aino@aakkonen.example>")
        self.assertEqual(str(m["Message-ID"]), f"<{self.ids[self.FI]}@standingd.lumen.example>")
        # EX_NOUSER and EX_DATAERR: this recipient or message, for good; anything else: retry
        for code, kind, what in ((67, "permanent", "exited 67 (EX_NOUSER: no such recipient)"),
                                 (65, "permanent", "exited 65 (EX_DATAERR: message refused)"),
                                 (75, "temporary", "exited 75")):
            with open(rec + ".code", "w") as f:
                f.write(str(code))
            self.assertEqual(self.run_mailer(self.FI, env=env),
                             (0, [f"{self.ids[self.FI]} {kind}: {fake} {what}"],
                              f"standingd-mail: {self.ids[self.FI]} to aino@aakkonen.example not delivered "
                              f"({kind}): {fake} {what}\n"))
        # a program that is not there: temporary, the reason named
        self.config(f"  sendmail: {self.dir}/no-such-sendmail\n")
        rc, out, err = self.run_mailer(self.FI)
        self.assertEqual((rc, out), (0, [f"{self.ids[self.FI]} temporary: cannot run {self.dir}/no-such-sendmail: "
                                         "No such file or directory"]))

    def test_each_line_is_flushed_at_once(self):
        # standingd counts the lines printed before it kills a batch that hangs
        fake = os.path.join(self.dir, "sendmail")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\ncat > /dev/null\n[ "$5" = kari@nordlys.example ] && exec sleep 60\nexit 0\n')
        os.chmod(fake, 0o755)
        self.config(f"  sendmail: {fake}\n")
        p = subprocess.Popen([STANDINGD_MAIL, "--conf", self.conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             start_new_session=True)
        try:
            p.stdin.write((self.lines[self.FI] + "\n" + self.lines[self.NB] + "\n").encode())
            p.stdin.close()
            import select
            ready, _, _ = select.select([p.stdout], [], [], 20)
            self.assertTrue(ready, "nothing printed while the second message hangs")
            self.assertEqual(p.stdout.readline().decode(), self.sent(self.FI) + "\n")
            self.assertIsNone(p.poll())
        finally:
            os.killpg(p.pid, signal.SIGKILL)   # the mailer and its sendmail, as standingd does
            p.wait()
            p.stdout.close()

    def test_maildir(self):
        # relative to the config directory; created with cur/ new/ tmp/
        self.config("  maildir: mail\n")
        # the prepaid order's order.created sends nothing: a plain id
        self.assertEqual(self.run_mailer(self.FI, self.VI0, self.VI),
                         (0, [self.sent(self.FI), self.ids[self.VI0], self.sent(self.VI)], ""))
        md = os.path.join(self.conf, "mail")
        self.assertEqual(sorted(os.listdir(md)), ["cur", "new", "tmp"])
        names = sorted(os.listdir(os.path.join(md, "new")))
        # one file per message, named after its Message-ID (order.created of a prepaid order sends none)
        self.assertEqual(names, sorted([f"{self.ids[self.FI]}@standingd.lumen.example", f"{self.ids[self.VI]}@standingd.lumen.example"]))
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
        with open(os.path.join(md, "new", f"{self.ids[self.FI]}@standingd.lumen.example"), "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\r", raw)
        m = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(str(m["Message-ID"]), f"<{self.ids[self.FI]}@standingd.lumen.example>")
        # a retry (the same events again) writes no second file, also once a reader moved it to cur/
        os.rename(os.path.join(md, "new", names[0]), os.path.join(md, "cur", names[0] + ":2,S"))
        self.assertEqual(self.run_mailer(self.FI, self.VI),
                         (0, [self.sent(self.FI), self.sent(self.VI)], ""))
        self.assertEqual(os.listdir(os.path.join(md, "new")), [names[1]])
        self.assertEqual(os.listdir(os.path.join(md, "cur")), [names[0] + ":2,S"])

    def test_malformed_lines(self):
        self.config("  maildir: mail\n")
        raw = ('{"id": "0123456789abcdef-7", "type": "order.crea\n'   # cut: the id is still read
               'not json at all\n'
               '\n'
               '{"type": "order.created"}\n'
               '{"id": "0123456789abcdef-8", "type": "order.shipped"}\n'
               + self.lines[self.FI] + "\n")
        rc, out, err = self.run_mailer(raw=raw)
        self.assertEqual(rc, 0)
        self.assertEqual(out[0], "0123456789abcdef-7 permanent: malformed event")
        self.assertRegex(out[1], r"^0123456789abcdef-8 permanent: malformed event: .+")
        self.assertEqual(out[2:], [self.sent(self.FI)])
        self.assertIn("standingd-mail: line 1: malformed event 0123456789abcdef-7: ", err)
        self.assertIn("standingd-mail: line 2: malformed event: ", err)
        self.assertIn("standingd-mail: line 4: an event without a usable \"id\", not handled", err)

    def test_overlong_line(self):
        # more than 8 MiB: not read, but its id is, and the next line is handled
        self.config("  maildir: mail\n")
        raw = '{"id": "0123456789abcdef-9", "pad": "' + "x" * (9 << 20) + '"}\n' + self.lines[self.FI] + "\n"
        self.assertEqual(self.run_mailer(raw=raw), (0, [
            "0123456789abcdef-9 permanent: malformed event: longer than 8 MiB", self.sent(self.FI)],
            "standingd-mail: line 1: malformed event 0123456789abcdef-9: longer than 8 MiB\n"))

    def test_deferred_recipient_holds_its_order(self):
        s = self.smtpd("--defer", "kari@nordlys.example")
        self.config(f'  smtp: "{s.url}"\n')
        rc, out, err = self.run_mailer(self.NB, self.FI, self.NB_SHIPPED)
        self.assertEqual((rc, out), (0, [
            f"{self.ids[self.NB]} temporary: {s.url}: RCPT refused: 451 4.3.0 <kari@nordlys.example>: "
            "Temporary lookup failure",
            self.sent(self.FI),
            f"{self.ids[self.NB_SHIPPED]} temporary: an earlier event of this order was not delivered",
        ]), err)
        self.assertEqual([e["rcpt_tos"] for e, m in s.messages()], [["aino@aakkonen.example"]])

    def test_refused_recipient_is_permanent_and_does_not_hold_the_rest(self):
        s = self.smtpd("--refuse", "kari@nordlys.example")
        self.config(f'  smtp: "{s.url}"\n')
        rc, out, err = self.run_mailer(self.NB, self.FI, self.VI)
        self.assertEqual((rc, out), (0, [
            f"{self.ids[self.NB]} permanent: 550 5.1.1 <kari@nordlys.example>: Recipient address rejected: "
            "User unknown",
            self.sent(self.FI),
            self.sent(self.VI),
        ]), err)
        # one connection for the batch: both messages came from the same client port
        msgs = s.messages()
        self.assertEqual([e["rcpt_tos"] for e, m in msgs], [["aino@aakkonen.example"], ["huong@anhsang.example"]])
        self.assertEqual(len({tuple(e["peer"]) for e, m in msgs}), 1)

    def test_unreachable_relay(self):
        url = f"smtp://127.0.0.1:{free_port()}"
        self.config(f'  smtp: "{url}"\n')
        t = time.monotonic()
        rc, out, err = self.run_mailer(self.FI, self.VI, self.NB)
        self.assertLess(time.monotonic() - t, 10)
        self.assertEqual(rc, 0)
        self.assertEqual(len(out), 3, out)
        self.assertRegex(out[0], rf"^{self.ids[self.FI]} temporary: {url}: Failed to connect to 127\.0\.0\.1 port "
                                 rf"\d+ after \d+ ms: (Connection refused|Couldn't connect to server)$")
        why = out[0].split(" temporary: ", 1)[1]
        self.assertEqual(out[1:], [f"{self.ids[self.VI]} temporary: not tried: {why}",
                                   f"{self.ids[self.NB]} temporary: not tried: {why}"])

    def test_credentials(self):
        s = self.smtpd("--auth", "lumen:s3cret pass")
        cred = os.path.join(self.conf, "smtp-credentials")
        with open(cred, "w") as f:
            f.write("lumen:s3cret pass\n")
        os.chmod(cred, 0o640)
        self.config(f'  smtp: "{s.url}"\n  credentials: smtp-credentials\n')
        self.assertEqual(self.run_mailer(self.FI)[:2], (0, [self.sent(self.FI)]))
        self.assertEqual([e["auth"] for e, m in s.messages()], ["lumen"])
        # a wrong password: the relay's configuration, not this message's fault: retried
        with open(cred, "w") as f:
            f.write("lumen:wrong\n")
        rc, out, err = self.run_mailer(self.FI)
        self.assertEqual((rc, len(out)), (0, 1))
        self.assertRegex(out[0], rf"^{self.ids[self.FI]} temporary: {s.url}: AUTH refused: 535 ")
        # readable by others: refused before any event is named
        os.chmod(cred, 0o644)
        self.assertEqual(self.run_mailer(self.FI), (1, [], (
            f"standingd-mail: credentials {cred}: readable or writable by others (mode 0644); chmod o-rwx it\n")))

    def test_starttls_required(self):
        s = self.smtpd()
        self.config(f'  smtp: "{s.url}"\n  starttls: true\n')
        rc, out, err = self.run_mailer(self.FI, self.NB)
        self.assertEqual(rc, 0)
        self.assertEqual(out, [f"{self.ids[self.FI]} temporary: {s.url}: STARTTLS not supported.",
                               f"{self.ids[self.NB]} temporary: not tried: {s.url}: STARTTLS not supported."])
        self.assertEqual(s.messages(), [])

    def test_configuration_errors_name_no_event(self):
        # no mail: at all
        with open(os.path.join(self.conf, "standingd.yaml"), "w") as f:
            f.write("timezone: Europe/Helsinki\n")
        self.assertEqual(self.run_mailer(self.FI), (1, [], (
            f"standingd-mail: {self.conf}/standingd.yaml has no mail: (from, and smtp, sendmail or maildir): "
            "nothing to send with\n")))
        # a template missing: every event is retried
        self.config("  maildir: mail\n")
        os.unlink(os.path.join(self.conf, "templates", "en", "order-confirmation.txt"))
        rc, out, err = self.run_mailer(self.FI)
        self.assertEqual((rc, out), (1, []))
        self.assertIn(f"standingd-mail: {self.conf}/templates/en/order-confirmation.txt", err)
        # usage
        rc, out, err = self.run_mailer(self.FI, args=["--bogus"])
        self.assertEqual((rc, out), (1, []))
        self.assertIn("Usage: standingd-mail [--conf DIR]", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
