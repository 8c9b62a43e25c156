"""standingd end to end: orders match the forecast, reload, sd_notify, catch-up, clock."""
import json
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import DaemonTest, standing_order, STANDINGD

# Four schedule forms, all ending by 2027-02-28, all created after the clock start.
FORMS = [
    standing_order("weekly", {"every": "1 week", "start": "2026-12-01", "at": '"06:00"', "lead_time": "2 days",
                              "until": "2027-02-28"}),
    standing_order("month-end", {"every": "1 month", "day": "last", "start": "2026-12-01", "at": '"14:00"',
                                 "until": "2027-02-28"}),
    standing_order("coffee", {"cron": '"30 3 * * 0"', "start": "2026-12-01", "until": "2027-02-28",
                              "lead_time": "12 hours"}, customer="kaffe", supplier="nordkaffe",
                   sku="KAFFE-1KG", qty=60, price="189.00 NOK"),
    standing_order("mon-thu", {"every": "2 weeks", "on": "[mon, thu]", "start": "2026-12-01", "at": '"09:30"',
                               "until": "2027-02-28", "lead_time": "1 day"}),
]


def keyset(items):
    return sorted((i["standing_order"], i["delivery"]) for i in items)


class OrdersMatchForecast(DaemonTest):
    def test_orders_equal_forecast(self):
        e = self.env()
        e.orders_file("a.yaml", FORMS)
        expected = keyset(e.forecast("2026-11-01", "2027-04-01"))
        self.assertEqual(len(expected), 13 + 3 + 13 + 13)
        # 3 months of virtual time in about 4 seconds
        p = e.start("2026-11-25T00:00:00Z,2000000")
        e.wait_for(lambda: len(e.orders()) >= len(expected), what=f"{len(expected)} orders")
        time.sleep(0.5)
        self.assertEqual(e.stop(p), 0)
        orders = e.orders()
        self.assertEqual(keyset(orders), expected)
        self.assertTrue(all(o["late"] is False for o in orders))
        # account orders (issue 9): acme's 29 x 850.00 EUR fit its 50000.00 EUR limit; kaffe's
        # 13 x 11340.00 NOK pass its 120000 NOK after the tenth: the last three are on hold
        self.assertEqual({o["status"] for o in orders if o["customer"] == "acme"}, {"confirmed"})
        coffee = sorted((o["delivery"], o["status"]) for o in orders if o["customer"] == "kaffe")
        self.assertEqual([st for _, st in coffee], ["confirmed"] * 10 + ["on_hold"] * 3)
        self.assertEqual(len({o["order"] for o in orders}), len(orders))
        e.ctl("verify", "--state", e.state)
        # a restart creates nothing more
        p = e.start("2027-03-15T00:00:00Z,1000")
        e.wait_for(lambda: "started" in e.log(p), what="start")
        time.sleep(0.3)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(keyset(e.orders()), expected)

    def test_first_orders_exact(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("acme-bulbs", {
            "every": "2 months", "start": "2026-12-01", "at": '"06:00"', "lead_time": "5 days"})])
        p = e.start("2026-11-25T00:00:00Z,5000000")
        e.wait_for(lambda: len(e.orders()) >= 3, what="3 orders")
        self.assertEqual(e.stop(p), 0)
        got = [(o["standing_order"], o["delivery"]) for o in e.orders()[:3]]
        self.assertEqual(got, [("acme-bulbs", "2026-12-01T06:00:00+02:00"),
                               ("acme-bulbs", "2027-02-01T06:00:00+02:00"),
                               ("acme-bulbs", "2027-04-01T06:00:00+03:00")])
        self.assertIn("created: acme-bulbs for ACME Oy, delivery 2026-12-01T06:00:00+02:00", e.log(p))


class Reload(DaemonTest):
    def test_broken_edit_keeps_old_good_edit_applies_removal_deactivates(self):
        e = self.env()
        daily = standing_order("daily", {"every": "1 day", "start": "2026-12-01", "at": '"08:00"'})
        other = standing_order("other", {"every": "1 day", "start": "2026-12-01", "at": '"09:00"'})
        e.orders_file("a.yaml", [daily])
        e.orders_file("b.yaml", [other], customers=False)
        # one virtual day per second
        p = e.start("2026-12-01T00:00:00Z,86400")
        e.wait_for(lambda: "started" in e.log(p), what="start")

        # a broken edit: the daemon logs file:line:col and keeps running on the old set
        broken = standing_order("daily", {"every": "0 days", "start": "2026-12-01", "at": '"08:00"'})
        e.orders_file("a.yaml", [broken])
        e.wait_for(lambda: "failed: keeping the last good definitions" in e.log(p), what="reload failure")
        log = e.log(p)
        self.assertIn("orders.d/a.yaml:22:14: expected a positive interval", log)
        n = len([o for o in e.orders() if o["standing_order"] == "daily"])
        e.wait_for(lambda: len([o for o in e.orders() if o["standing_order"] == "daily"]) > n + 1,
                   what="old definition still creating orders")
        self.assertIsNone(p.poll())

        # a good edit applies: a new standing order appears
        added = standing_order("added", {"every": "1 day", "start": "2026-12-01", "at": '"10:00"'})
        e.orders_file("a.yaml", [daily, added])
        e.wait_for(lambda: any(o["standing_order"] == "added" for o in e.orders()), what="added order")

        # removing a standing order deactivates it; its orders stay
        os.unlink(os.path.join(e.conf, "orders.d", "b.yaml"))
        e.wait_for(lambda: e.log(p).count("reloaded") >= 2, what="second reload")
        before = [o for o in e.orders() if o["standing_order"] == "other"]
        self.assertGreater(len(before), 0)
        n_daily = len([o for o in e.orders() if o["standing_order"] == "daily"])
        e.wait_for(lambda: len([o for o in e.orders() if o["standing_order"] == "daily"]) >= n_daily + 2,
                   what="time to pass")
        self.assertEqual([o for o in e.orders() if o["standing_order"] == "other"], before)
        self.assertEqual(e.stop(p), 0)
        e.ctl("verify", "--state", e.state)

    def test_sighup_and_broken_start_runs_on_last_good(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("daily", {"every": "1 day", "start": "2026-12-01"})])
        p = e.start("2026-12-01T00:00:00Z,86400")
        e.wait_for(lambda: len(e.orders()) >= 1, what="an order")
        self.assertEqual(e.stop(p), 0)
        # broken at start-up: runs on the last good version from the store
        e.write("orders.d/a.yaml", "customers: [\n")
        p = e.start("2026-12-10T00:00:00Z,86400")
        e.wait_for(lambda: "running on the last good version" in e.log(p), what="fallback")
        self.assertIn("orders.d/a.yaml:2:1:", e.log(p))
        n = len(e.orders())
        e.wait_for(lambda: len(e.orders()) > n, what="orders from the last good version")
        self.assertEqual(e.stop(p), 0)


    def test_reload_grows_a_full_map(self):
        # A definition set that no longer fits the map is stored after the store
        # grew the map (up to max_store_size), on reload as for order creation.
        e = self.env()
        daily = standing_order("daily", {"every": "1 day", "start": "2026-12-01", "at": '"08:00"'})
        e.orders_file("a.yaml", [daily])
        with open(os.path.join(e.conf, "standingd.yaml"), encoding="utf-8") as f:
            base = f.read()
        e.write("standingd.yaml", base + "max_store_size: 1 MiB\n")
        big = "# " + "x" * 1000 + "\n"
        p = e.start("2026-12-01T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        e.write("standingd.yaml", base + "max_store_size: 4 MiB\n")
        # the bulk in the compiled record (a comment is not kept: the store holds
        # no orders file's bytes, issue 12)
        e.write("orders.d/b.yaml", big * 1200 + "standing_orders:\n" +
                standing_order("other", {"every": "1 day", "start": "2026-12-01", "at": '"09:00"'},
                               sku="S" * 1200000))
        e.wait_for(lambda: "standing orders" in e.log(p).split("reloaded")[-1] and
                   "store map grown to 2 MiB" in e.log(p), what="a reload that grows the map")
        self.assertIn("store map grown to 2 MiB (max_store_size 4 MiB)", e.log(p))
        self.assertIn("2 standing orders", e.log(p))
        self.assertEqual(e.stop(p), 0)
        # the same at start-up, on a fresh state directory
        e = self.env()
        e.orders_file("a.yaml", [daily])
        e.write("orders.d/b.yaml", big * 1200)
        p = e.start("2026-12-01T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        self.assertEqual(e.stop(p), 0)


class Diff(DaemonTest):
    def test_diff_previews_reload(self):
        e = self.env()
        keep = standing_order("keep", {"every": "1 month", "start": "2026-12-01", "at": '"06:00"'})
        edit = standing_order("edit", {"every": "1 month", "start": "2026-12-01", "at": '"06:00"'})
        gone = standing_order("gone", {"every": "1 week", "start": "2026-12-07"})
        e.orders_file("a.yaml", [keep, edit, gone])
        p = e.start("2026-11-20T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p), what="start")
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")
        edited = standing_order("edit", {"every": "2 months", "start": "2026-12-01", "at": '"06:00"'})
        new = standing_order("new", {"every": "1 year", "start": "2027-02-28", "at": '"12:00"'})
        e.orders_file("a.yaml", [keep, edited, new])
        out = e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout
        self.assertEqual(out,
            "changed  edit:\n"
            "  old next 2026-12-01T06:00:00+02:00, 2027-01-01T06:00:00+02:00, 2027-02-01T06:00:00+02:00\n"
            "  new next 2026-12-01T06:00:00+02:00, 2027-02-01T06:00:00+02:00, 2027-04-01T06:00:00+03:00\n"
            "added    new: next 2027-02-28T12:00:00+02:00, 2028-02-28T12:00:00+02:00, 2029-02-28T12:00:00+02:00\n"
            "removed  gone: will be deactivated (its orders are kept)\n")
        e.write("orders.d/a.yaml", "standing_orders:\n  - id: x\n    shedule: {}\n")
        r = e.ctl("diff", "--conf", e.conf, "--state", e.state, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('orders.d/a.yaml:3:5: unknown key "shedule" (did you mean "schedule"?)', r.stdout)


class Notify(DaemonTest):
    def test_sd_notify_messages(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("daily", {"every": "1 day", "start": "2026-12-01"})])
        path = os.path.join(e.dir, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(10)
        self.addCleanup(s.close)
        p = e.start("2026-12-01T00:00:00Z,1", extra_env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "300000"})
        msgs = []

        def until(word):
            while not any(word in m for m in msgs):
                msgs.append(s.recv(4096).decode())

        until("READY=1")
        until("STATUS=")
        until("WATCHDOG=1")       # WATCHDOG_USEC=300000: pinged every 150 ms
        self.assertTrue(any("STATUS=1 active, 0 paused standing orders" in m for m in msgs), msgs)
        os.kill(p.pid, signal.SIGHUP)
        until("RELOADING=1")
        n = len(msgs)
        until("READY=1")
        self.assertGreaterEqual(len(msgs), n)
        os.kill(p.pid, signal.SIGTERM)
        until("STOPPING=1")
        self.assertEqual(p.wait(timeout=1), 0)

    def test_second_instance_refused(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("daily", {"every": "1 day", "start": "2026-12-01"})])
        p = e.start("2026-12-01T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p), what="start")
        q = e.start("2026-12-01T00:00:00Z,1")
        self.assertEqual(q.wait(timeout=5), 1)
        self.assertIn(f"another standingd (pid {p.pid}) is already running on state directory {e.state}", e.log(q))
        self.assertEqual(e.stop(p), 0)


class Clock(DaemonTest):
    def downtime(self, policy):
        e = self.env(catch_up=policy, max_catch_up=10)
        e.orders_file("a.yaml", [standing_order("weekly", {"every": "1 week", "start": "2026-12-07",
                                                           "at": '"06:00"'})])
        p = e.start("2026-12-01T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p), what="start")
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(e.orders(), [])
        # a year later
        p = e.start("2027-12-01T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p), what="restart")
        time.sleep(0.3)
        self.assertEqual(e.stop(p), 0)
        return e, p

    def test_catch_up_all_capped(self):
        e, p = self.downtime("all")
        orders = e.orders()
        # 52 missed Mondays 2026-12-07 .. 2027-11-29; the 10 most recent are created, late
        self.assertEqual(len(orders), 10)
        self.assertEqual(orders[0]["delivery"], "2027-09-27T06:00:00+03:00")
        self.assertEqual(orders[-1]["delivery"], "2027-11-29T06:00:00+02:00")
        self.assertTrue(all(o["late"] for o in orders))
        self.assertEqual(e.log(p).count("not created: catch_up: all, beyond max_catch_up 10"), 42)

    def test_catch_up_latest(self):
        e, p = self.downtime("latest")
        orders = e.orders()
        self.assertEqual([(o["delivery"], o["late"]) for o in orders], [("2027-11-29T06:00:00+02:00", True)])
        self.assertEqual(e.log(p).count("not created: catch_up: latest"), 51)

    def test_catch_up_none(self):
        e, p = self.downtime("none")
        self.assertEqual(e.orders(), [])
        self.assertEqual(e.log(p).count("not created: catch_up: none"), 52)

    def test_backward_jump_creates_nothing_twice(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("daily", {"every": "1 day", "start": "2026-12-01"})])
        p = e.start("2026-12-01T00:00:00Z,864000")
        e.wait_for(lambda: len(e.orders()) >= 30, what="30 orders")
        self.assertEqual(e.stop(p), 0)
        before = e.orders()
        # the clock is set back weeks: the days up to the watermark come round again
        p = e.start("2026-12-05T00:00:00Z,86400")
        time.sleep(1.5)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(e.orders(), before)
        e.ctl("verify", "--state", e.state)


class Systemd(unittest.TestCase):
    def test_unit_verifies(self):
        import shutil
        import tempfile
        src = os.path.join(os.environ.get("SRCDIR", "."), "systemd")
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        binary = os.path.abspath(STANDINGD)
        for name in ("standingd.service", "standingd.socket"):
            path = os.path.join(src, name)
            with open(path + ".in" if os.path.exists(path + ".in") else path) as f:
                text = f.read().replace("@sbindir@/standingd", binary).replace("@sysconfdir@", "/etc")
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", os.path.join(d, "standingd.service")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
