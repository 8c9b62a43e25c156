"""The compiled set kept in the store (issue 12 target 2, doc/store.md): a restart
with unchanged files unpacks the stored compiled definitions instead of reading
and validating the YAML, and says so ("definitions: N files unchanged, M read");
a file changed while the daemon was stopped is read again and its change applied
exactly, also when its size and mtime were restored (the content hash tells);
a damaged compiled record, one of another version or a manifest of another
version, a changed standingd.yaml or changed TZif files of the zones in use fall
back to the YAML with a log line, and the daemon runs exactly as before; kill -9 during a first start and during a reload, then a restart, gives
exactly what a clean start gives; `standingctl diff` and `standingd --check`
still work.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import time
import unittest

from harness import CUSTOMERS, STANDINGD, DaemonTest, standing_order
from varlink import Connection

CSET = os.environ.get("CSET", "build/tests/cset")
VERSION = subprocess.run([STANDINGD, "--version"], capture_output=True, text=True).stdout.split()[-1]
WEEKLY = {"every": "1 week", "start": "2027-01-04"}
CLOCK1 = "2027-01-04T12:00:00Z,1"   # every standing order's first week is due
CLOCK2 = "2027-01-11T12:00:00Z,1"   # and its second


def definitions(log):
    """The start's "definitions:" lines, in order (without the time it took)."""
    return [re.sub(r" \(\d+ ms\)$", "", ln) for ln in re.findall(r"definitions: .*", log)]


def orders_of(e):
    """(standing order, delivery, quantities) of every order, sorted."""
    return sorted((o["standing_order"], o["delivery"], tuple(ln["quantity"] for ln in o["lines"]))
                  for o in e.orders())


def forecast(e):
    with Connection(e.socket) as c:
        return c.call("io.standingd.Ops.Forecast", {"from": "2027-01-01", "to": "2027-03-01"})["occurrences"]


class Compiled(DaemonTest):
    def files(self, e, qty_b=1000, n_extra=0):
        e.orders_file("a.yaml", [standing_order("a1", WEEKLY), standing_order("a2", WEEKLY, qty=5)])
        e.write("orders.d/b.yaml", "standing_orders:\n" + standing_order("b1", WEEKLY, qty=qty_b) +
                standing_order("b2", WEEKLY, customer="kaffe", supplier="nordkaffe", price="9.50 NOK"))
        e.write("orders.d/c.yaml", "standing_orders:\n" + standing_order("c1", WEEKLY, qty=3))
        for i in range(n_extra):
            e.write(f"orders.d/x{i:02d}.yaml", "standing_orders:\n" + "".join(
                standing_order(f"x{i}-{k}", WEEKLY, qty=k + 1) for k in range(20)))

    def run_until(self, e, clock, n_orders):
        p = e.start_ready(clock)
        e.wait_for(lambda: len(e.orders()) >= n_orders, what=f"{n_orders} orders")
        time.sleep(0.2)
        return p

    def test_restart_unchanged_then_changed_while_stopped(self):
        e = self.env()
        self.files(e)
        p = self.run_until(e, CLOCK1, 5)
        self.assertEqual(definitions(e.log(p)), ["definitions: 0 files unchanged, 3 read"])
        self.assertEqual(e.stop(p), 0)
        first = orders_of(e)
        self.assertEqual(len(first), 5)

        # unchanged: the stored compiled set, not the YAML
        p = self.run_until(e, CLOCK1, 5)
        self.assertEqual(definitions(e.log(p)), ["definitions: 3 files unchanged, 0 read"])
        before = forecast(e)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(orders_of(e), first)

        # b.yaml edited while stopped: the same size, its mtime put back
        b = os.path.join(e.conf, "orders.d", "b.yaml")
        st = os.stat(b)
        with open(b, encoding="utf-8") as f:
            text = f.read()
        with open(b, "w", encoding="utf-8") as f:   # in place: the same inode
            f.write(text.replace("quantity: 1000", "quantity: 2000", 1))
        os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
        st2 = os.stat(b)
        self.assertEqual((st2.st_size, st2.st_mtime_ns, st2.st_ino), (st.st_size, st.st_mtime_ns, st.st_ino))
        self.assertIn("changed  b1:", e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout)

        p = self.run_until(e, CLOCK2, 10)
        self.assertEqual(definitions(e.log(p)), ["definitions: 2 files unchanged, 1 read"])
        after = forecast(e)
        self.assertEqual(e.stop(p), 0)
        want = sorted(first + [("a1", "2027-01-11T00:00:00+02:00", (1000,)),
                               ("a2", "2027-01-11T00:00:00+02:00", (5,)),
                               ("b1", "2027-01-11T00:00:00+02:00", (2000,)),
                               ("b2", "2027-01-11T00:00:00+01:00", (1000,)),
                               ("c1", "2027-01-11T00:00:00+02:00", (3,))])
        self.assertEqual(orders_of(e), want)
        # the forecast changed in b1's quantity only
        self.assertEqual([o for o in after if o["standing_order"] != "b1"],
                         [o for o in before if o["standing_order"] != "b1"])
        self.assertEqual({ln["quantity"] for o in after if o["standing_order"] == "b1" for ln in o["lines"]}, {2000})
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")

        # and that is what the next restart unpacks
        p = self.run_until(e, CLOCK2, 10)
        self.assertEqual(definitions(e.log(p)), ["definitions: 3 files unchanged, 0 read"])
        self.assertEqual(forecast(e), after)
        self.assertEqual(e.stop(p), 0)
        e.ctl("verify", "--state", e.state)
        r = subprocess.run([STANDINGD, "--check", "--conf", e.conf], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout), (0, "OK: 2 customers, 5 standing orders\n"))

    def test_damaged_or_other_version_falls_back(self):
        e = self.env()
        self.files(e)
        p = self.run_until(e, CLOCK1, 5)
        ref = forecast(e)
        self.assertEqual(e.stop(p), 0)
        first = orders_of(e)

        def cset(*args):
            subprocess.run([CSET, e.state, *args], check=True)

        cases = [
            (("flip", "orders.d/b.yaml"), [
                "definitions: the compiled record of orders.d/b.yaml is damaged: read from its YAML (1 files so)",
                "definitions: 2 files unchanged, 1 read"]),
            (("version", "orders.d/c.yaml"), [
                "definitions: the compiled record of orders.d/c.yaml is of another version: read from its YAML (1 files so)",
                "definitions: 2 files unchanged, 1 read"]),
            (("version",), [
                "definitions: the stored compiled definitions are of another version: reading every file",
                "definitions: 0 files unchanged, 3 read"]),
            # compiled by another version of standingd: it may read the YAML otherwise
            (("program", "standingd 0.0.1"), [
                "definitions: they were compiled by standingd 0.0.1, this is standingd " + VERSION + ": reading every file",
                "definitions: 0 files unchanged, 3 read"]),
            (("flip", "orders.d/a.yaml"), [
                "definitions: the compiled record of orders.d/a.yaml is damaged: read from its YAML (1 files so)",
                "definitions: 2 files unchanged, 1 read"]),
        ]
        for args, lines in cases:
            with self.subTest(args=args):
                cset(*args)
                p = self.run_until(e, CLOCK1, 5)
                self.assertEqual(definitions(e.log(p)), lines)
                self.assertEqual(forecast(e), ref)
                self.assertEqual(e.stop(p), 0)
                self.assertEqual(orders_of(e), first)
                e.ctl("verify", "--state", e.state)
                # the fallback wrote the records again: the next restart unpacks them all
                p = self.run_until(e, CLOCK1, 5)
                self.assertEqual(definitions(e.log(p)), ["definitions: 3 files unchanged, 0 read"])
                self.assertEqual(e.stop(p), 0)

    def test_last_good_kept_across_a_fallback_start_on_an_older_store(self):
        # A store written before the compiled records (every orders file's bytes, no
        # compiled set), a broken file at the first start (the fallback), the file
        # fixed and reloaded: the reload stores the files compiled, and the unchanged
        # ones' records must be written too, named by their hash and size (a review
        # found a.yaml left with neither bytes nor record: diff failed, the next
        # broken start had no last good set)
        e = self.env()
        e.orders_file("a.yaml", [standing_order("a1", WEEKLY)])
        e.write("orders.d/b.yaml", "standing_orders:\n" + standing_order("b1", WEEKLY, qty=3))
        p = self.run_until(e, CLOCK1, 2)
        ref = forecast(e)
        self.assertEqual(e.stop(p), 0)
        subprocess.run([CSET, e.state, "bytes", e.conf], check=True)
        e.write("orders.d/b.yaml", "standing_orders: [[[\n")
        p = e.start_ready(CLOCK1)
        e.wait_for(lambda: "running on the last good version" in e.log(p), what="fallback")
        self.assertEqual(forecast(e), ref)
        e.write("orders.d/b.yaml", "standing_orders:\n" + standing_order("b1", WEEKLY, qty=4))
        with Connection(e.socket) as c:
            self.assertEqual(c.call("io.standingd.Ops.Reload"), {"customers": 2, "standing_orders": 2})
        fixed = forecast(e)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")
        e.write("orders.d/b.yaml", "standing_orders: [[[\n")
        p = e.start_ready(CLOCK1)
        e.wait_for(lambda: "running on the last good version" in e.log(p), what="fallback")
        self.assertEqual(forecast(e), fixed)
        self.assertEqual(e.stop(p), 0)

    def test_sources_stored_once_last_good_from_records(self):
        # The store keeps no second copy of the orders files' bytes: their compiled
        # records are the last good set (standingd.yaml's bytes are kept). The
        # fallback at a broken start and `standingctl diff` unpack the records; a
        # damaged record is read from its YAML when that file is unchanged, else
        # the start fails with a clear line (never a crash).
        e = self.env()
        self.files(e)
        with open(os.path.join(e.conf, "orders.d", "c.yaml"), "a", encoding="utf-8") as f:
            f.write("# ORDERS-FILE-MARKER-7d1c\n")
        with open(os.path.join(e.conf, "standingd.yaml"), "a", encoding="utf-8") as f:
            f.write("# CONFIG-FILE-MARKER-7d1c\n")
        p = self.run_until(e, CLOCK1, 5)
        ref = forecast(e)
        self.assertEqual(e.stop(p), 0)
        first = orders_of(e)
        with open(os.path.join(e.state, "data.mdb"), "rb") as f:
            mdb = f.read()
        # (booleans: a failure should not print the whole map)
        self.assertFalse(b"ORDERS-FILE-MARKER-7d1c" in mdb, "an orders file's bytes are in data.mdb")
        self.assertTrue(b"CONFIG-FILE-MARKER-7d1c" in mdb, "standingd.yaml's bytes are not in data.mdb")
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")
        e.write("orders.d/c.yaml", "standing_orders:\n" + standing_order("c1", WEEKLY, qty=3) +
                standing_order("c2", WEEKLY, qty=4))
        out = e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout.splitlines()
        self.assertEqual(len(out), 1, out)
        self.assertTrue(out[0].startswith("added    c2: next "), out)

        # b.yaml broken at start: the last good set from the records, exactly
        e.write("orders.d/c.yaml", "standing_orders:\n" + standing_order("c1", WEEKLY, qty=3))
        good_b = open(os.path.join(e.conf, "orders.d", "b.yaml"), encoding="utf-8").read()
        e.write("orders.d/b.yaml", "standing_orders: [\n")
        p = e.start_ready(CLOCK1)
        e.wait_for(lambda: "running on the last good version" in e.log(p), what="fallback")
        self.assertEqual(forecast(e), ref)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(orders_of(e), first)

        # a's record damaged too: a.yaml is unchanged, so it is read from its YAML
        subprocess.run([CSET, e.state, "flip", "orders.d/a.yaml"], check=True)
        p = e.start_ready(CLOCK1)
        e.wait_for(lambda: "running on the last good version" in e.log(p), what="fallback")
        self.assertEqual(forecast(e), ref)
        self.assertEqual(e.stop(p), 0)
        # standingctl diff has no YAML to fall back on for it
        r = e.ctl("diff", "--conf", e.conf, "--state", e.state, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot read the applied definitions from " + e.state + ": Bad message", r.stderr)

        # b's record damaged while b.yaml is broken: no last good set
        e.write("orders.d/b.yaml", good_b)
        p = self.run_until(e, CLOCK1, 5)   # writes the records again
        self.assertEqual(e.stop(p), 0)
        e.write("orders.d/b.yaml", "standing_orders: [\n")
        subprocess.run([CSET, e.state, "flip", "orders.d/b.yaml"], check=True)
        p = e.start(CLOCK1)
        self.assertEqual(p.wait(timeout=20), 1, e.log(p))
        self.assertIn("the last good definitions in the store no longer load: "
                      "their compiled records are damaged or of another version", e.log(p))
        self.assertEqual(orders_of(e), first)

    def test_config_or_zones_changed_while_stopped(self):
        e = self.env()
        tzdir = os.path.join(e.dir, "zoneinfo")
        os.makedirs(os.path.join(tzdir, "Europe"))
        for z in ("UTC", "Europe/Helsinki", "Europe/Oslo"):
            shutil.copy(os.path.join("/usr/share/zoneinfo", z), os.path.join(tzdir, z))
        env = {"TZDIR": tzdir}
        self.files(e)

        def run():
            p = e.start_ready(CLOCK1, extra_env=env)
            e.wait_for(lambda: len(e.orders()) >= 5, what="5 orders")
            fc = forecast(e)
            self.assertEqual(e.stop(p), 0)
            return definitions(e.log(p)), fc

        first, ref = run()
        self.assertEqual(first, ["definitions: 0 files unchanged, 3 read"])
        self.assertEqual(run(), (["definitions: 3 files unchanged, 0 read"], ref))
        # standingd.yaml's bytes changed (a comment): every file read again, the same set
        with open(os.path.join(e.conf, "standingd.yaml"), "a", encoding="utf-8") as f:
            f.write("# a comment\n")
        self.assertEqual(run(), (["definitions: standingd.yaml changed: reading every file",
                                  "definitions: 0 files unchanged, 3 read"], ref))
        self.assertEqual(run(), (["definitions: 3 files unchanged, 0 read"], ref))
        # a zone's TZif file changed (Oslo's rules are Berlin's since 1980: the same
        # forecast): every file read again
        shutil.copy("/usr/share/zoneinfo/Europe/Berlin", os.path.join(tzdir, "Europe/Oslo"))
        self.assertEqual(run(), (["definitions: the time zone data changed: reading every file",
                                  "definitions: 0 files unchanged, 3 read"], ref))
        self.assertEqual(run(), (["definitions: 3 files unchanged, 0 read"], ref))
        e.ctl("verify", "--state", e.state)

    def test_kill9_during_first_start_and_reload(self):
        # the reference: clean starts on the same files, in a state of their own
        ref = self.env()
        self.files(ref, n_extra=30)
        p = self.run_until(ref, CLOCK1, 605)
        ref_fc1 = forecast(ref)
        self.assertEqual(ref.stop(p), 0)
        ref_orders1 = orders_of(ref)
        self.files(ref, qty_b=7, n_extra=25)   # five files gone, b.yaml changed
        for k in range(25, 30):
            os.unlink(os.path.join(ref.conf, "orders.d", f"x{k:02d}.yaml"))
        p = self.run_until(ref, CLOCK1, 605)
        ref_fc2 = forecast(ref)
        self.assertEqual(ref.stop(p), 0)

        e = self.env()
        self.files(e, n_extra=30)
        rnd = random.Random(12)
        # kill -9 at moments through the first start
        for delay in [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4] + [rnd.uniform(0, 0.5) for _ in range(5)]:
            p = e.start(CLOCK1)
            time.sleep(delay)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            r = e.ctl("verify", "--state", e.state, check=False)
            self.assertIn(r.returncode, (0, 3), r.stderr)   # 3: killed before the store existed
        p = self.run_until(e, CLOCK1, 605)
        self.assertEqual(forecast(e), ref_fc1)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(orders_of(e), ref_orders1)
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")
        e.ctl("verify", "--state", e.state)

        # kill -9 at moments through a reload of changed files
        for i in range(1, 7):
            p = self.run_until(e, CLOCK1, 605)
            for k in range(25, 30):
                path = os.path.join(e.conf, "orders.d", f"x{k:02d}.yaml")
                if os.path.exists(path):
                    os.unlink(path)
            self.files_b(e, 7)
            os.kill(p.pid, signal.SIGHUP)
            time.sleep(0.01 * i)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            e.ctl("verify", "--state", e.state)
            self.files(e, n_extra=30)   # back to the first files for the next round
        self.files(e, qty_b=7, n_extra=25)
        for k in range(25, 30):
            os.unlink(os.path.join(e.conf, "orders.d", f"x{k:02d}.yaml"))
        p = self.run_until(e, CLOCK1, 605)
        self.assertEqual(forecast(e), ref_fc2)
        self.assertEqual(e.stop(p), 0)
        self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")
        e.ctl("verify", "--state", e.state)
        p = self.run_until(e, CLOCK1, 605)
        self.assertEqual(definitions(e.log(p)), ["definitions: 28 files unchanged, 0 read"])
        self.assertEqual(forecast(e), ref_fc2)
        self.assertEqual(e.stop(p), 0)

    @staticmethod
    def files_b(e, qty):
        e.write("orders.d/b.yaml", "standing_orders:\n" + standing_order("b1", WEEKLY, qty=qty) +
                standing_order("b2", WEEKLY, customer="kaffe", supplier="nordkaffe", price="9.50 NOK"))


if __name__ == "__main__":
    unittest.main()
