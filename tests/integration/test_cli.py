"""The command-line contracts: standingd --check and standingctl forecast, on the
example config in conf/ and on broken copies of it."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import STANDINGD, STANDINGCTL, DaemonTest

SRC = os.environ.get("SRCDIR", ".")
CONF = os.path.join(SRC, "conf")


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


class Check(unittest.TestCase):
    def test_example_config_is_ok(self):
        r = run(STANDINGD, "--check", "--conf", CONF)
        self.assertEqual((r.returncode, r.stdout), (0, "OK: 4 customers, 6 standing orders\n"))
        r = run(STANDINGCTL, "check", "--conf", CONF)
        self.assertEqual((r.returncode, r.stdout), (0, "OK: 4 customers, 6 standing orders\n"))

    def test_errors_name_file_line_column(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        conf = os.path.join(d, "conf")
        shutil.copytree(CONF, conf)
        path = os.path.join(conf, "orders.d", "acme.yaml")
        text = open(path, encoding="utf-8").read()
        text = text.replace("every: 2 months", "every: 0 months").replace(
            "      timezone: Europe/Helsinki\n      lead_time: 5 days", "      timezone: Europe/Helsinky\n      lead_time: 5 days")
        open(path, "w", encoding="utf-8").write(text)
        with open(os.path.join(conf, "orders.d", "zz.yaml"), "w") as f:
            f.write("standing_orders:\n  - id: acme-bulbs\n    customer: acne\n")
        r = run(STANDINGD, "--check", "--conf", conf)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines(), [
            "orders.d/acme.yaml:21:14: expected a positive interval",
            'orders.d/acme.yaml:24:17: unknown time zone "Europe/Helsinky"',
            'orders.d/zz.yaml:2:5: missing key "supplier"',
            'orders.d/zz.yaml:2:5: missing key "ship_to"',
            'orders.d/zz.yaml:2:5: missing key "lines"',
            'orders.d/zz.yaml:2:5: missing key "payment"',
            'orders.d/zz.yaml:2:5: missing key "schedule"',
            'orders.d/zz.yaml:2:9: duplicate standing order id "acme-bulbs" (first defined at orders.d/acme.yaml:13:9)',
            'orders.d/zz.yaml:3:15: unknown customer "acne"',
        ])

    def test_order_total_must_fit(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        conf = os.path.join(d, "conf")
        shutil.copytree(CONF, conf)
        with open(os.path.join(conf, "orders.d", "zz.yaml"), "w") as f:
            f.write("standing_orders:\n  - id: x\n    customer: acme\n    supplier: lumen\n"
                    "    ship_to: {name: A, street: B, city: C, country: FI}\n    lines:\n"
                    '      - {sku: A, quantity: 9223372036854775807, unit_price: "0.85 EUR"}\n'
                    "    payment: account\n    schedule: {every: 1 day, start: 2027-01-01}\n")
        r = run(STANDINGD, "--check", "--conf", conf)
        self.assertEqual((r.returncode, r.stdout), (1, "orders.d/zz.yaml:7:28: the order total is out of range\n"))

    def test_usage_errors_exit_2(self):
        for args in [[STANDINGD], [STANDINGD, "--bogus"], [STANDINGD, "--conf", CONF, "--test-clock", "yesterday"],
                     [STANDINGCTL], [STANDINGCTL, "nope"], [STANDINGCTL, "forecast", "--conf", CONF, "--from", "x", "--to", "2027-01-01"],
                     [STANDINGCTL, "forecast", "--conf", CONF, "--from", "2027-01-02", "--to", "2027-01-01"]]:
            r = run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertNotEqual(r.stderr, "")


class Forecast(unittest.TestCase):
    def test_json_contract(self):
        r = run(STANDINGCTL, "forecast", "--conf", CONF, "--from", "2027-01-31", "--to", "2027-02-02", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        # riga-paper's fortnight skips the week of 2027-02-01: not in this window
        self.assertEqual(r.stdout.splitlines(), [
            '{"standing_order": "tromso-coffee", "customer": "kaffe-tromso", "supplier": "nordkaffe", '
            '"delivery": "2027-01-31T03:30:00+01:00", "create_at": "2027-01-30T14:30:00Z", '
            '"lines": [{"sku": "KAFFE-1KG", "quantity": 60, "unit_price": "189.00", "currency": "NOK"}, '
            '{"sku": "FILTER-1X4", "quantity": 10, "unit_price": "24.50", "currency": "NOK"}]}',
            '{"standing_order": "acme-month-end", "customer": "acme", "supplier": "lumen", '
            '"delivery": "2027-01-31T14:00:00+02:00", "create_at": "2027-01-29T12:00:00Z", '
            '"lines": [{"sku": "TUBE-T8-120", "quantity": 200, "unit_price": "3.40", "currency": "EUR"}, '
            '{"sku": "STARTER-S10", "quantity": 200, "unit_price": "0.35", "currency": "EUR"}]}',
            '{"standing_order": "acme-bulbs", "customer": "acme", "supplier": "lumen", '
            '"delivery": "2027-02-01T06:00:00+02:00", "create_at": "2027-01-27T04:00:00Z", '
            '"lines": [{"sku": "BULB-60W", "quantity": 1000, "unit_price": "0.85", "currency": "EUR"}]}',
        ])

    def test_year_sorted_and_table(self):
        r = run(STANDINGCTL, "forecast", "--conf", CONF, "--from", "2027-01-01", "--to", "2028-01-01", "--json")
        items = [json.loads(l) for l in r.stdout.splitlines()]
        keys = [(i["delivery"][:19], i["standing_order"]) for i in items]
        # sorted by instant: compare UTC create order via the delivery with offset
        from datetime import datetime
        inst = [(datetime.fromisoformat(i["delivery"]).timestamp(), i["standing_order"]) for i in items]
        self.assertEqual(inst, sorted(inst))
        per = {}
        for i in items:
            per[i["standing_order"]] = per.get(i["standing_order"], 0) + 1
        # 6 bulbs, 12 month-ends, 52 Sundays, riga fortnightly Mon+Thu until 2027-06-30 (25, counted with
        # Python's datetime), saigon 15th minus one skip, quarterly 2nd Tuesday (count 8 from 2026-12)
        self.assertEqual(per, {"acme-bulbs": 6, "acme-month-end": 12, "tromso-coffee": 52, "riga-paper": 25,
                               "saigon-lamps": 11, "tromso-quarterly": 4})
        self.assertEqual(len(keys), 110)
        t = run(STANDINGCTL, "forecast", "--conf", CONF, "--from", "2027-01-01", "--to", "2028-01-01")
        lines = t.stdout.splitlines()
        self.assertEqual(len(lines), 111)
        self.assertTrue(lines[0].startswith("DELIVERY "))
        # aligned: every row's second column starts where the header's does (code points, not bytes)
        col = lines[0].index("CREATE AT")
        self.assertTrue(all(l[col - 2:col] == "  " and l[col] != " " for l in lines[1:]))


class ErrorSentences(DaemonTest):
    """Every kind of error reply standingctl receives comes out as a sentence with its
    parameters filled in (errtext's table), never as a raw Varlink error name; the
    exit codes are the documented ones (1 refused, 2 usage, 3 unavailable)."""

    def ctl(self, e, *args, user=None):
        env = dict(os.environ, STANDINGD_SOCKET=e.socket)
        ids = {}
        if user:
            import pwd
            pw = pwd.getpwnam(user)
            ids = dict(user=user, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid))
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=60, env=env, **ids)
        return r.returncode, r.stdout, r.stderr

    def test_each_error_is_a_sentence(self):
        from test_socket import socket_env, start
        e = socket_env(self)
        start(self, e, "2026-11-25T00:00:00Z,86400")
        number = e.wait_for(lambda: e.orders(), what="first order")[0]["order"]
        cases = [
            # checked before asking: a usage error
            (["upcoming", "--from", "2027-13-01", "--to", "2027-01-01"], 2,
             "standingctl: --from 2027-13-01: not a date (expected YYYY-MM-DD, or an instant like 2027-01-01T00:00:00Z)\n"),
            (["upcoming", "--from", "2027-01-01", "--to", "tomorrow"], 2,
             "standingctl: --to tomorrow: not a date (expected YYYY-MM-DD, or an instant like 2027-01-01T00:00:00Z)\n"),
            # org.varlink.service.InvalidParameter: the option and the value given
            (["upcoming", "--from", "2026-12-01", "--to", "2028-02-01"], 1,
             "standingctl: the daemon refused --to 2028-02-01: not a date or an instant after --from, at most 400 days after it\n"),
            (["upcoming", "--from", "2026-12-01", "--to", "2026-12-02", "--supplier", "nobody"], 1,
             "standingctl: the daemon refused --supplier nobody: no such supplier\n"),
            (["order", number[:-1] + str((int(number[-1]) + 1) % 10)], 1,
             f"standingctl: the daemon refused order {number[:-1] + str((int(number[-1]) + 1) % 10)}: "
             "not an order number (SO-NNNNNNNN-D, D its check digit)\n"),
            (["ship", number, "--carrier", "Posti", "--tracking", "a\x01b"], 1,
             "standingctl: the daemon refused --tracking a\\x01b: empty, or has a control character\n"),
            # the interfaces' errors
            (["order", "SO-00009999-2"], 1, "standingctl: order SO-00009999-2 was not found\n"),
            (["ship", "SO-00009999-2", "--carrier", "Posti", "--tracking", "JJFI1"], 1,
             "standingctl: order SO-00009999-2 was not found\n"),
        ]
        for args, code, err in cases:
            self.assertEqual(self.ctl(e, *args), (code, "", err), args)
        self.assertEqual(self.ctl(e, "ship", number, "--carrier", "Posti", "--tracking", "JJFI1")[0], 0)
        self.assertEqual(self.ctl(e, "ship", number, "--carrier", "DHL", "--tracking", "X"),
                         (1, "", f"standingctl: order {number} was already shipped with Posti, tracking JJFI1\n"))
        # InvalidDefinitions: every line, then the sentence
        e.write("orders.d/b.yaml", "standing_orders:\n  - id: broken\n    customer: nobody\n")
        code, out, err = self.ctl(e, "reload")
        lines = err.splitlines()
        self.assertEqual((code, out, lines[-1]),
                         (1, "", "standingctl: reload refused: the daemon keeps the last good definitions"))
        self.assertGreaterEqual(len(lines), 2)
        self.assertTrue(all(l.startswith("orders.d/b.yaml:") for l in lines[:-1]), lines)
        # the daemon gone: unavailable
        for p in list(e.procs):
            e.stop(p)
        code, out, err = self.ctl(e, "status")
        self.assertEqual((code, out, err), (3, "", f"standingctl: cannot connect to {e.socket}: "
                                                  "no socket there (is standingd running? --socket or $STANDINGD_SOCKET names another)\n"))

    def test_every_error_has_a_sentence_that_fits_it(self):
        """errtext's table has a row for every error of the IDL and of
        org.varlink.service, and each row's {slots} are parameters that error has."""
        import re
        declared = {}
        for path, prefix in ((os.path.join(SRC, "lib", "api", "api_idl.h"), None),
                             (os.path.join(SRC, "lib", "varlink", "varlink.c"), "org.varlink.service")):
            iface = prefix
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            for line in lines:
                m = re.match(r'^\s*"interface (\S+)\\n"', line)
                if m:
                    iface = m.group(1)
                m = re.match(r'^\s*"error (\w+) \(([^)]*)\)', line)
                if m and iface:
                    declared[iface + "." + m.group(1)] = {p.split(":")[0].strip() for p in m.group(2).split(",") if p.strip()}
        self.assertIn("io.standingd.Orders.WrongAmount", declared)
        self.assertIn("org.varlink.service.InvalidParameter", declared)
        with open(os.path.join(SRC, "daemon", "standingctl", "errtext.c"), encoding="utf-8") as f:
            src = f.read()
        rows = re.findall(r'\{ "([\w.]+)", (?:NULL|"\w+"), (\w+), (NULL|"(?:[^"\\]|\\.)*"), \d \}', src)
        self.assertEqual(sorted(declared), sorted({name for name, _, _ in rows}))
        for name, kind, text in rows:
            slots = {s for s in re.findall(r"\{(\w+)\}", text)}
            self.assertLessEqual(slots, declared[name], name)
            if kind in ("FIELD_ERRORS", "LINES"):
                self.assertIn("errors", declared[name], name)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root to create test users")
    def test_permission_denied_names_user_and_method(self):
        from test_socket import socket_env, start, ensure_user
        ensure_user("sd-test-stranger", ["standingd"])
        e = socket_env(self)
        start(self, e)
        for args, method in [(["status"], "Ops.Status"), (["reload"], "Ops.Reload"),
                             (["orders"], "Orders.ListOrders"), (["standing-orders"], "Ops.ListStandingOrders")]:
            self.assertEqual(self.ctl(e, *args, user="sd-test-stranger"),
                             (1, "", f"standingctl: permission denied: user sd-test-stranger may not call {method}\n"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
