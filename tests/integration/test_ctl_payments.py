"""standingctl's commands for the order's life and the money (issue 9): place-order,
cancel, pay, pay-account, hold, release, account, ledger, --idempotency-key, the
tables' status and amount due, against the running daemon on a (stopped) test
clock, with their exact output and exit codes."""
import json
import os
import subprocess
import unittest

from harness import DaemonTest, Env, CUSTOMERS, STANDINGCTL

# the clock barely moves: every instant printed is the start
CLOCK = "2026-11-25T00:00:00Z,0.000001"
T0 = "2026-11-25T00:00:00Z"

# verkko: VAT 25.5 %, no account (prepaid only)
MORE_CUSTOMERS = """\
  - id: verkko
    name: Verkko Oy
    language: fi
    timezone: Europe/Helsinki
    vat: "25.5%"
"""

ORDER_YAML = """\
customer: {customer}
supplier: {supplier}
ship_to: {{name: X, street: Katu 1, postcode: "00510", city: Helsinki, country: FI}}
lines:
  - {{sku: {sku}, quantity: {qty}, unit_price: "{price}"}}
payment: {payment}
delivery: 2026-12-20
"""

EMPTY = "ORDER  STANDING ORDER  CUSTOMER  DELIVERY  STATUS  TOTAL  DUE  TRACKING"   # no order placed


class Payments(DaemonTest):
    def setUp(self):
        self.e = Env()
        self.addCleanup(self.e.close)
        self.e.write("orders.d/customers.yaml", CUSTOMERS + MORE_CUSTOMERS)
        p = self.e.start(CLOCK)
        self.e.wait_for(lambda: "started" in self.e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), self.e.log(p))
        self.addCleanup(lambda: self.e.stop(p) if p.poll() is None else None)

    def ctl(self, *args):
        """(exit code, stdout lines without trailing blanks, stderr)"""
        env = dict(os.environ, STANDINGD_SOCKET=self.e.socket)
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=60, env=env)
        return r.returncode, [l.rstrip() for l in r.stdout.splitlines()], r.stderr

    def order_file(self, name, customer="acme", supplier="lumen", sku="BULB-60W", qty=1000, price="40.00 EUR",
                   payment="account", text=None):
        path = os.path.join(self.e.dir, name)
        with open(path, "w") as f:
            f.write(text if text is not None else ORDER_YAML.format(customer=customer, supplier=supplier, sku=sku,
                                                                    qty=qty, price=price, payment=payment))
        return path

    def test_account_order_on_hold_release_and_cancel(self):
        ok = self.ctl("place-order", self.order_file("o1.yaml"))
        self.assertEqual(ok, (0, [
            "ORDER          STANDING ORDER  CUSTOMER  DELIVERY                   STATUS     TOTAL         DUE  TRACKING",
            "SO-00000001-3  -               acme      2026-12-20T00:00:00+02:00  confirmed  40000.00 EUR  -",
            "",
            "AT (UTC)              BY        STATUS     REASON",
            f"{T0}  ops:root  confirmed",
        ], ""))
        # 40,000 + 15,000 is past acme's 50,000 EUR limit: on hold, not charged
        self.assertEqual(self.ctl("place-order", self.order_file("o2.yaml", price="15.00 EUR")), (0, [
            "ORDER          STANDING ORDER  CUSTOMER  DELIVERY                   STATUS   TOTAL         DUE  TRACKING",
            "SO-00000002-1  -               acme      2026-12-20T00:00:00+02:00  on_hold  15000.00 EUR  -",
            "",
            "AT (UTC)              BY        STATUS   REASON",
            f"{T0}  ops:root  on_hold  credit limit 50000.00 EUR: balance 40000.00 + order 15000.00",
        ], ""))
        self.assertEqual(self.ctl("release", "SO-00000002-1"), (1, [], (
            "standingctl: order SO-00000002-1 stays on hold: its total 15000.00 EUR would take the balance "
            "40000.00 EUR past the credit limit 50000.00 EUR\n")))
        self.assertEqual(self.ctl("ship", "SO-00000002-1", "--carrier", "Posti", "--tracking", "JJ1"), (1, [], (
            "standingctl: order SO-00000002-1 is on hold, not confirmed: it cannot be shipped yet\n")))
        # a payment brings the balance down; the release then charges and confirms
        self.assertEqual(self.ctl("pay-account", "acme", "10000.00 EUR", "BANK-1"), (0, [
            "SEQ  AT (UTC)              KIND     ORDER  REFERENCE  AMOUNT        BALANCE",
            f"2    {T0}  payment  -      BANK-1     10000.00 EUR  30000.00 EUR",
        ], ""))
        code, out, err = self.ctl("release", "SO-00000002-1")
        self.assertEqual((code, out[1], out[-1], err), (
            0, "SO-00000002-1  -               acme      2026-12-20T00:00:00+02:00  confirmed  15000.00 EUR  -",
            f"{T0}  ops:root  confirmed  released", ""))
        self.assertEqual(self.ctl("account", "acme"), (0, [
            "customer      acme",
            "account       ACC-1001",
            "credit limit  50000.00 EUR",
            "balance       45000.00 EUR",
            "open orders   none",
            "",
            "SEQ  AT (UTC)              KIND     ORDER          REFERENCE  AMOUNT        BALANCE",
            f"1    {T0}  charge   SO-00000001-3  -          40000.00 EUR  40000.00 EUR",
            f"2    {T0}  payment  -              BANK-1     10000.00 EUR  30000.00 EUR",
            f"3    {T0}  charge   SO-00000002-1  -          15000.00 EUR  45000.00 EUR",
        ], ""))
        # cancelled: a credit entry, nothing deleted; a cancelled order is not shipped
        code, out, err = self.ctl("cancel", "SO-00000001-3", "--reason", "customer changed plans")
        self.assertEqual((code, out[1], out[-1], err), (
            0, "SO-00000001-3  -               acme      2026-12-20T00:00:00+02:00  cancelled  40000.00 EUR  -",
            f"{T0}  ops:root  cancelled  customer changed plans", ""))
        self.assertEqual(self.ctl("ship", "SO-00000001-3", "--carrier", "Posti", "--tracking", "JJ1"),
                         (1, [], "standingctl: order SO-00000001-3 is cancelled: it cannot be shipped\n"))
        self.assertEqual(self.ctl("ledger", "acme")[1][-1],
                         f"4    {T0}  credit   SO-00000001-3  -          40000.00 EUR  5000.00 EUR")
        # hold with a reason: it is the last line of the order's history
        code, out, err = self.ctl("hold", "SO-00000002-1", "--reason", "address check")
        self.assertEqual((code, out[-1], err), (0, f"{T0}  ops:root  on_hold    address check", ""))
        code, out, err = self.ctl("account", "acme")
        self.assertEqual((code, out[4], err), (0, "open orders   SO-00000002-1", ""))
        # --json: the account as the daemon sends it
        code, out, err = self.ctl("account", "acme", "--json")
        acc = json.loads(out[0])
        self.assertEqual((code, len(out), acc["customer"], acc["balances"], acc["open_orders"], err),
                         (0, 1, "acme", [{"amount": "-10000.00", "currency": "EUR"}], ["SO-00000002-1"], ""))
        code, out, err = self.ctl("ledger", "acme", "--json")
        self.assertEqual((code, [json.loads(l)["kind"] for l in out], err),
                         (0, ["charge", "payment", "charge", "credit", "credit"], ""))

    def test_prepaid_order_paid_exactly_then_refunded(self):
        path = self.order_file("o.json", text=json.dumps({
            "customer": "kaffe", "supplier": "nordkaffe", "payment": "prepaid", "delivery": "2026-12-20",
            "ship_to": {"name": "X", "street": "Katu 1", "postcode": "9008", "city": "Tromsø", "country": "NO"},
            "lines": [{"sku": "KAFFE-1KG", "quantity": 60, "unit_price": "189.00", "currency": "NOK"}]}, indent=1))
        due = ["ORDER          STANDING ORDER  CUSTOMER  DELIVERY                   STATUS            TOTAL         DUE           TRACKING",
               "SO-00000001-3  -               kaffe     2026-12-20T00:00:00+01:00  awaiting_payment  11340.00 NOK  11340.00 NOK",
               "awaiting payment of 11340.00 NOK with reference RF41000000013",
               "",
               "AT (UTC)              BY        STATUS            REASON",
               f"{T0}  ops:root  awaiting_payment"]
        self.assertEqual(self.ctl("place-order", path), (0, due, ""))
        self.assertEqual(self.ctl("order", "SO-00000001-3"), (0, due, ""))
        self.assertEqual(self.ctl("orders")[1][:2], due[:2])
        # offline, from the store: the same DUE
        self.assertEqual(self.ctl("orders", "--state", self.e.state)[1][1].split(), [
            "SO-00000001-3", "-", "kaffe", "2026-12-20T00:00:00+01:00", T0, "awaiting_payment",
            "11340.00", "NOK", "11340.00", "NOK"])
        self.assertEqual(self.ctl("ship", "SO-00000001-3", "--carrier", "Posti", "--tracking", "JJ1"), (1, [], (
            "standingctl: order SO-00000001-3 is awaiting payment, not confirmed: it cannot be shipped yet\n")))
        self.assertEqual(self.ctl("pay", "SO-00000001-3", "11000.00 NOK", "REF-1"), (1, [], (
            "standingctl: order SO-00000001-3 awaits exactly 11340.00 NOK, not 11000.00 NOK\n")))
        # AMOUNT in two words is the same
        code, out, err = self.ctl("pay", "SO-00000001-3", "11340", "NOK", "REF-1")
        self.assertEqual((code, out[1], out[-1], err), (
            0, "SO-00000001-3  -               kaffe     2026-12-20T00:00:00+01:00  confirmed  11340.00 NOK  -",
            f"{T0}  ops:root  confirmed         paid", ""))
        self.assertEqual(self.ctl("pay", "SO-00000001-3", "11340.00 NOK", "REF-1"),
                         (1, [], "standingctl: order SO-00000001-3 is confirmed, not awaiting payment\n"))
        code, out, err = self.ctl("cancel", "SO-00000001-3", "--json")
        o = json.loads(out[0])
        self.assertEqual((code, o["status"], o["history"][-1]["reason"] if "history" in o else o["transitions"][-1]["reason"]),
                         (0, "cancelled", "cancelled with standingctl"))
        self.assertEqual(self.ctl("account", "kaffe"), (0, [
            "customer      kaffe",
            "account       ACC-3007",
            "credit limit  120000.00 NOK",
            "balance       0.00 NOK",
            "open orders   none",
            "",
            "SEQ  AT (UTC)              KIND     ORDER          REFERENCE  AMOUNT        BALANCE",
            f"1    {T0}  charge   SO-00000001-3  -          11340.00 NOK  11340.00 NOK",
            f"2    {T0}  payment  SO-00000001-3  REF-1      11340.00 NOK  0.00 NOK",
            f"3    {T0}  credit   SO-00000001-3  -          11340.00 NOK  -11340.00 NOK",
            f"4    {T0}  refund   SO-00000001-3  REF-1      11340.00 NOK  0.00 NOK",
        ], ""))

    def test_vat_rounded_half_away_from_zero(self):
        # 3 x 0.99 = 2.97 net; 25.5 % of it is 0.75735 -> 0.76; gross 3.73
        path = self.order_file("v.yaml", customer="verkko", sku="CABLE", qty=3, price="0.99 EUR", payment="prepaid")
        code, out, err = self.ctl("place-order", path, "--json")
        o = json.loads(out[0])
        self.assertEqual((code, o["net"], o["vat_rate"], o["vat"], o["gross"], o["total"], o["amount_due"], err), (
            0, {"amount": "2.97", "currency": "EUR"}, "25.5%", {"amount": "0.76", "currency": "EUR"},
            {"amount": "3.73", "currency": "EUR"}, {"amount": "3.73", "currency": "EUR"},
            {"amount": "3.73", "currency": "EUR"}, ""))
        self.assertEqual(self.ctl("orders")[1][1],
                         "SO-00000001-3  -               verkko    2026-12-20T00:00:00+02:00  awaiting_payment  "
                         "3.73 EUR  3.73 EUR")
        self.assertEqual(self.ctl("pay-account", "verkko", "1.00 EUR", "X"),
                         (1, [], "standingctl: customer verkko has no account\n"))
        self.assertEqual(self.ctl("account", "nobody"), (1, [], "standingctl: customer nobody was not found\n"))

    def test_idempotency_key(self):
        one = self.order_file("o1.yaml")
        first = self.ctl("place-order", one, "--idempotency-key", "shop-4711")
        self.assertEqual(first[0], 0, first)
        self.assertEqual(self.ctl("place-order", one, "--idempotency-key", "shop-4711"), first)
        self.assertEqual(self.ctl("place-order", self.order_file("o2.yaml", qty=999), "--idempotency-key", "shop-4711"),
                         (1, [], "standingctl: idempotency key shop-4711 was used before with other parameters: "
                                 "nothing was done\n"))
        self.assertEqual([l.split()[0] for l in self.ctl("orders")[1][1:]], ["SO-00000001-3"])

    def test_order_file_errors_at_file_line_col(self):
        bad = self.order_file("bad.yaml", text=ORDER_YAML.format(customer="acme", supplier="lumen", sku="B", qty=-3,
                                                                 price="0.85 EUR", payment="account"))
        self.assertEqual(self.ctl("place-order", bad), (1, [], (
            f"{bad}:5:24: lines[0].quantity: expected a positive integer\n"
            f"standingctl: {bad}: the daemon refused the order\n")))
        unknown = self.order_file("unknown.yaml", text="customer: acme\ncolour: red\n")
        self.assertEqual(self.ctl("place-order", unknown), (1, [], (
            f"{unknown}:2:1: unknown key 'colour' (an order has customer, supplier, ship_to, lines, payment, delivery)\n")))
        broken = self.order_file("broken.yaml", text="customer: acme\nlines: [\n")
        code, out, err = self.ctl("place-order", broken)
        self.assertEqual((code, out, err.startswith(f"{broken}:3:1: ")), (1, [], True), err)
        self.assertEqual(self.ctl("place-order", self.order_file("list.yaml", text="- 1\n")), (1, [], (
            f"{self.e.dir}/list.yaml:1:1: expected an order: a mapping with customer, supplier, ship_to, lines, "
            "payment, delivery\n")))
        # JSON and YAML both: positions (compact JSON too)
        compact = self.order_file("compact.json", text=json.dumps({
            "customer": "acme", "supplier": "lumen", "payment": "account", "delivery": "2026-12-20",
            "ship_to": {"name": "X", "street": "K", "city": "H", "country": "FI"},
            "lines": [{"sku": "B", "quantity": 0, "unit_price": "1.00 EUR"}]}, separators=(",", ":")))
        self.assertEqual(self.ctl("place-order", compact), (1, [], (
            f"{compact}:1:176: lines[0].quantity: expected a positive integer\n"
            f"standingctl: {compact}: the daemon refused the order\n")))
        # JSON that libyaml does not read (an escaped surrogate pair): read as JSON, its
        # field errors named without a position
        emoji = self.order_file("emoji.json", text=json.dumps({
            "customer": "acme", "supplier": "lumen", "payment": "account", "delivery": "2026-12-20",
            "ship_to": {"name": "Caf\u00e9 \U0001F600", "street": "K", "city": "H", "country": "FI"},
            "lines": [{"sku": "B", "quantity": 0, "unit_price": "1.00 EUR"}]}))
        self.assertEqual(self.ctl("place-order", emoji), (1, [], (
            f"{emoji}: lines[0].quantity: expected a positive integer\n"
            f"standingctl: {emoji}: the daemon refused the order\n")))
        self.assertEqual(self.ctl("place-order", os.path.join(self.e.dir, "missing.yaml")),
                         (3, [], f"standingctl: cannot read {self.e.dir}/missing.yaml: No such file or directory\n"))
        self.assertEqual(self.ctl("orders")[1], [EMPTY])

    def test_usage_errors_exit_2(self):
        cases = [
            (["place-order"], "standingctl: place-order: which file? standingctl place-order FILE (YAML or JSON, - for standard input)\n"),
            (["cancel"], "standingctl: cancel: which order? standingctl cancel ORDER [--reason TEXT]\n"),
            (["hold"], "standingctl: hold: which order? standingctl hold ORDER [--reason TEXT]\n"),
            (["release"], "standingctl: release: which order? standingctl release ORDER\n"),
            (["release", "SO-00000001-3", "--reason", "x"], "standingctl: release: --reason is for cancel and hold\n"),
            (["pay", "SO-00000001-3", "850.00 EUR"],
             "standingctl: pay: expected ORDER AMOUNT REFERENCE (AMOUNT like \"850.00 EUR\")\n"),
            (["pay", "SO-00000001-3", "850.001 EUR", "R"],
             "standingctl: pay: AMOUNT 850.001 EUR: too many decimals for the currency (like \"850.00 EUR\")\n"),
            (["pay-account", "acme"],
             "standingctl: pay-account: expected CUSTOMER AMOUNT REFERENCE (AMOUNT like \"850.00 EUR\")\n"),
            (["account"], "standingctl: account: which customer? standingctl account CUSTOMER\n"),
            (["account", "acme", "kaffe"], "standingctl: unexpected argument 'kaffe'\n"),
            (["ledger", "acme", "--from", "2026-02-30"],
             "standingctl: --from 2026-02-30: not a date (expected YYYY-MM-DD, or an instant like 2027-01-01T00:00:00Z)\n"),
        ]
        for args, err in cases:
            code, out, e = self.ctl(*args)
            help_line = "" if args[0] == "ledger" else "Try 'standingctl --help'.\n"
            self.assertEqual((code, out, e), (2, [], err + help_line), args)
        self.assertEqual(self.ctl("orders")[1], [EMPTY])


if __name__ == "__main__":
    unittest.main(verbosity=2)
