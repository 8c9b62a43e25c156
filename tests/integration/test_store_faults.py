"""Store faults (issue 7, defects 3 and 4): a full disk, a full map, and a damaged
data file. The daemon keeps answering, never grows the map past its cap, resumes
when space returns; a truncated or bit-flipped data.mdb is refused by standingd
and standingctl with a message and exit status 1, never a signal, never a fresh
start that would give out confirmation numbers again."""
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

from harness import DaemonTest, StatusWatch, standing_order, STANDINGD, STANDINGCTL
from varlink import Connection

MIB = 1 << 20


def minutely(n):
    return [standing_order(f"m{i:02d}", {"every": "1 minute", "start": "2026-12-01"}) for i in range(n)]


def lmdb_meta(path):
    """(mapsize, last page, page size) from the newer of data.mdb's two meta pages
    (LMDB 0.9, 64-bit: 16-byte page header, then magic, version, address, mapsize,
    two 48-byte db records, last_pg, txnid)."""
    with open(path, "rb") as f:
        data = f.read(2 * 65536)
    metas = []
    for off in (0, struct.unpack_from("<I", data, 16 + 24)[0]):
        magic, _ver, _addr, mapsize = struct.unpack_from("<IIQQ", data, off + 16)
        psize = struct.unpack_from("<I", data, off + 16 + 24)[0]
        last_pg, txnid = struct.unpack_from("<QQ", data, off + 16 + 120)
        assert magic == 0xBEEFC0DE, "not an LMDB data file"
        metas.append((txnid, mapsize, last_pg, psize))
    _, mapsize, last_pg, psize = max(metas)
    return mapsize, last_pg, psize


def keyset(items):
    return sorted((i["standing_order"], i["delivery"]) for i in items)


class Tmpfs:
    def __init__(self, test, path, size):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mounting a tmpfs needs root (the CI runs the tests as root)")
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        self.path = path
        # before the Env's own cleanup (rmtree): cleanups run last-in first-out
        test.addCleanup(lambda: subprocess.run(["umount", "-l", path], check=False))

    def resize(self, size):
        subprocess.run(["mount", "-o", f"remount,size={size}", self.path], check=True)


class Notifications:
    """sd_notify messages, collected by a thread from a datagram socket."""

    def __init__(self, test, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.path = path
        self.msgs = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        test.addCleanup(self.close)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def statuses(self):
        return [line for m in list(self.msgs) for line in m.splitlines() if line.startswith("STATUS=")]


class DiskFull(DaemonTest):
    def test_disk_full_stops_creation_keeps_reads_and_resumes(self):
        e = self.env(max_catch_up=1000000)
        fs = Tmpfs(self, e.state, "1M")
        e.orders_file("a.yaml", minutely(20))
        notes = Notifications(self, os.path.join(e.dir, "notify.sock"))
        # ten minutes of virtual time per second: 200 orders a second until the disk is full
        p = e.start("2026-11-30T22:00:00Z,600", extra_env={"NOTIFY_SOCKET": notes.path})
        t0 = time.monotonic()
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        with StatusWatch(e.socket) as w:
            e.wait_for(lambda: "disk full" in e.log(p) or p.poll() is not None, timeout=60, what="the disk to fill")
            t_full = time.monotonic()
            self.assertIsNone(p.poll(), e.log(p))
            log = e.log(p)
            self.assertIn(f"disk full: cannot write to the store in {e.state} (No space left on device); "
                          "order creation stopped, reads go on; retrying until space returns", log)
            before = e.orders()
            self.assertGreater(len(before), 100)
            # reads go on while the disk is full: a few retries' worth
            time.sleep(4)
            with Connection(e.socket) as c:
                st = c.call("io.standingd.Ops.Status")
                self.assertIn("orders", json.dumps(st))
                got = c.call("io.standingd.Orders.GetOrder", {"order": before[0]["order"]})
                self.assertEqual(got["order"]["order"], before[0]["order"])
                up = c.call("io.standingd.Supplier.ListUpcoming", {"from": "2026-11-30T22:00:00Z", "to": "2026-11-30T23:00:00Z"})
                self.assertGreater(len(up["shipments"]), 0)
            self.assertEqual(len(e.orders()), len(before), "nothing is created while the disk is full")
            # one line for the whole episode, not one per retry
            self.assertEqual(e.log(p).count("disk full:"), 1, e.log(p))
            # the map did not grow: it is the 64 MiB it started at, the data within the tmpfs
            mapsize, last_pg, psize = lmdb_meta(os.path.join(e.state, "data.mdb"))
            self.assertEqual(mapsize, 64 * MIB)
            self.assertLessEqual((last_pg + 1) * psize, 1 * MIB)
            self.assertNotIn("store map grown", e.log(p))
            self.assertRegex(notes.statuses()[-1], r"^STATUS=order creation stopped: disk full; retrying; \d+ orders created$")

            fs.resize("64M")
            t_room = time.monotonic()
            e.wait_for(lambda: "order creation resumed" in e.log(p), timeout=20, what="creation to resume")
            t_resumed = time.monotonic()
            e.wait_for(lambda: len(e.orders()) > len(before) + 200, timeout=30, what="orders after the resume")
        w.assert_responsive(self, min_calls=50)
        self.assertRegex(notes.statuses()[-1], r"^STATUS=20 active, 0 paused standing orders; \d+ orders created; next: ")
        self.assertEqual(e.stop(p), 0)
        print(f"\ndisk full after {t_full - t0:.1f} s with {len(before)} orders; creation resumed "
              f"{t_resumed - t_room:.1f} s after space returned; slowest Status {w.worst() * 1000:.0f} ms",
              file=sys.stderr)
        self.assertEqual(e.ctl("verify", "--state", e.state).stdout, "OK: no violations\n")
        orders = e.orders()
        self.assertEqual(len({o["order"] for o in orders}), len(orders))
        # each standing order has exactly its forecast occurrences up to the last one
        # created (each is a prefix: the catch-up after the outage skipped nothing)
        forecast = e.forecast("2026-12-01", "2026-12-10")
        for so in sorted({o["standing_order"] for o in orders}):
            mine = [o for o in orders if o["standing_order"] == so]
            last = max(o["delivery"] for o in mine)
            want = [f for f in forecast if f["standing_order"] == so and f["delivery"] <= last]
            self.assertEqual(keyset(mine), keyset(want), so)
        self.assertEqual(len({o["standing_order"] for o in orders}), 20)
        mapsize, _, _ = lmdb_meta(os.path.join(e.state, "data.mdb"))
        self.assertEqual(mapsize, 64 * MIB)


class MapFull(DaemonTest):
    def test_map_grows_to_max_store_size_and_no_further(self):
        e = self.env(max_catch_up=1000000)
        conf = os.path.join(e.conf, "standingd.yaml")
        with open(conf, encoding="utf-8") as f:
            base = f.read()
        e.write("standingd.yaml", base + "max_store_size: 1 MiB\n")
        e.orders_file("a.yaml", minutely(20))
        p = e.start("2026-11-30T22:00:00Z,1200")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        with StatusWatch(e.socket) as w:
            e.wait_for(lambda: "store full" in e.log(p) or p.poll() is not None, timeout=60, what="the map to fill")
            self.assertIsNone(p.poll(), e.log(p))
            self.assertIn(f"store full: the map of the store in {e.state} is 1 MiB and may not grow "
                          "(max_store_size 1 MiB); order creation stopped, reads go on; raise max_store_size "
                          "and reload", e.log(p))
            self.assertNotIn("disk full", e.log(p))
            n1 = len(e.orders())
            time.sleep(2)
            self.assertEqual(len(e.orders()), n1)
            self.assertEqual(lmdb_meta(os.path.join(e.state, "data.mdb"))[0], 1 * MIB)
            # a larger cap on reload: the map doubles up to it, then stops again
            e.write("standingd.yaml", base + "max_store_size: 4 MiB\n")
            e.wait_for(lambda: e.log(p).count("store full") >= 2, timeout=60, what="the larger map to fill")
            log = e.log(p)
            self.assertIn("store map grown to 2 MiB (max_store_size 4 MiB)", log)
            self.assertIn("store map grown to 4 MiB (max_store_size 4 MiB)", log)
            self.assertNotIn("grown to 8 MiB", log)
            self.assertIn("is 4 MiB and may not grow (max_store_size 4 MiB)", log)
            self.assertGreater(len(e.orders()), n1)
        w.assert_responsive(self, min_calls=20)
        self.assertEqual(e.stop(p), 0)
        mapsize, last_pg, psize = lmdb_meta(os.path.join(e.state, "data.mdb"))
        self.assertLessEqual(mapsize, 4 * MIB)
        self.assertLessEqual((last_pg + 1) * psize, 4 * MIB)
        self.assertEqual(e.ctl("verify", "--state", e.state).stdout, "OK: no violations\n")

    def test_bad_max_store_size(self):
        e = self.env()
        with open(os.path.join(e.conf, "standingd.yaml"), encoding="utf-8") as f:
            base = f.read()
        e.write("standingd.yaml", base + "max_store_size: 12 parsecs\n")
        r = subprocess.run([STANDINGD, "--check", "--conf", e.conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        line = len(base.splitlines()) + 1
        self.assertIn(f'standingd.yaml:{line}:17: expected a size like "512 MiB" or "8 GiB" (at most 1024 TiB), '
                      'got "12 parsecs"', r.stdout)
        e.write("standingd.yaml", base + "max_store_size: 512 KiB\n")
        r = subprocess.run([STANDINGD, "--check", "--conf", e.conf], capture_output=True, text=True)
        self.assertIn(f"standingd.yaml:{line}:17: expected a size of at least 1 MiB", r.stdout)


class Damaged(DaemonTest):
    """A data file that disagrees with LMDB's meta pages is refused by every program."""

    def setUp(self):
        # Under AddressSanitizer a wild read by LMDB over a damaged page is ASan's own
        # report and exit status 1 (the programs leave SIGSEGV to it, storefault.c);
        # scripts/test.sh's abort_on_error=1 would turn that report into SIGABRT,
        # which is the sanitizer's choice, not the program's.
        opts = os.environ.get("ASAN_OPTIONS")
        if opts and "abort_on_error=1" in opts:
            os.environ["ASAN_OPTIONS"] = opts.replace("abort_on_error=1", "abort_on_error=0")
            self.addCleanup(os.environ.__setitem__, "ASAN_OPTIONS", opts)

    def make_store(self):
        e = self.env()
        e.orders_file("a.yaml", [
            standing_order("daily", {"every": "1 day", "start": "2026-12-01", "at": '"08:00"'}),
            standing_order("hourly", {"every": "1 hour", "start": "2026-12-01"}),
        ])
        p = e.start("2026-11-30T22:00:00Z,86400")
        e.wait_for(lambda: len(e.orders()) >= 150, what="orders")
        self.assertEqual(e.stop(p), 0)
        orders = e.orders()
        data = os.path.join(e.state, "data.mdb")
        saved = os.path.join(e.dir, "data.mdb.saved")
        shutil.copyfile(data, saved)
        return e, data, saved, orders

    def programs(self, e):
        """standingd, standingctl verify, standingctl orders: (name, CompletedProcess)."""
        out = []
        p = e.start("2026-12-08T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start or exit")
        if p.poll() is None:   # it accepted the store: stop it the ordinary way; damage it
            e.stop(p, timeout=10)   # met while running is exit 1 with a message (the callers check)
        out.append(("standingd", subprocess.CompletedProcess(p.args, p.returncode, "", e.log(p))))
        out.append(("verify", e.ctl("verify", "--state", e.state, check=False)))
        out.append(("orders", e.ctl("orders", "--state", e.state, "--json", check=False)))
        return out

    def expect_refused(self, e, why):
        for name, r in self.programs(e):
            with self.subTest(program=name):
                self.assertEqual(r.returncode, 1, f"{name}: {r.stdout}{r.stderr}")
                self.assertIn(why, r.stderr, name)

    def test_truncated_to_zero_and_half(self):
        e, data, saved, orders = self.make_store()
        size = os.path.getsize(data)
        _, last_pg, psize = lmdb_meta(data)
        os.truncate(data, 0)
        self.expect_refused(e, f"{data} is empty (0 bytes), but the store was in use (store.created)")
        self.assertEqual(os.path.getsize(data), 0, "no fresh start over the old state")
        self.assertIn(f"standingd: error: refusing the store in {e.state}: {data} is empty",
                      e.log(e.procs[-1]))
        shutil.copyfile(saved, data)
        os.truncate(data, size // 2)
        self.expect_refused(e, f"{data} is {size // 2} bytes, but its last page ({last_pg}) ends at byte "
                               f"{(last_pg + 1) * psize}: the file was truncated")
        os.unlink(data)
        self.expect_refused(e, f"{data} is missing, but {e.state}/store.created shows the store was in use")
        # the whole file again: the same orders, the same numbers, nothing given out twice
        shutil.copyfile(saved, data)
        self.assertEqual(e.orders(), orders)
        e.ctl("verify", "--state", e.state)

    def test_damaged_page_header(self):
        # the main database's root page claiming more keys than it has
        e, data, saved, orders = self.make_store()
        with open(data, "rb") as f:
            head = f.read(2 * 4096)
        _, _, psize = lmdb_meta(data)
        metas = [struct.unpack_from("<QQ", head, off + 16 + 128)[0:1] + struct.unpack_from("<Q", head, off + 16 + 112)
                 for off in (0, psize)]
        root = max(metas)[1]
        with open(data, "r+b") as f:
            f.seek(root * psize + 12)
            f.write(struct.pack("<H", 0xfff0))
        self.expect_refused(e, f"{data} has lost the store's databases, though the store was in use (store.created)")
        r = e.ctl("verify", "--state", e.state, check=False)
        self.assertEqual(r.stderr, f"standingctl: the store in {e.state} is damaged: {data} has lost the store's "
                                   "databases, though the store was in use (store.created)\n")

    def test_random_bit_flips_never_a_signal(self):
        e, data, saved, orders = self.make_store()
        numbers = {o["order"]: (o["standing_order"], o["delivery"]) for o in orders}
        size = os.path.getsize(data)
        _, last_pg, psize = lmdb_meta(saved)
        rnd = random.Random(20261130)
        outcomes = {}
        for i in range(120):
            shutil.copyfile(saved, data)
            # a third anywhere (mostly inside records), the rest in the page headers
            # and node pointers that LMDB follows without checking
            off = rnd.randrange(size) if i % 3 == 0 else rnd.randrange(2, last_pg + 1) * psize + rnd.randrange(64)
            bit = rnd.randrange(8)
            with open(data, "r+b") as f:
                f.seek(off)
                b = f.read(1)[0]
                f.seek(off)
                f.write(bytes([b ^ (1 << bit)]))
            if i % 6 == 0:
                runs = self.programs(e)
            else:
                runs = [("verify", e.ctl("verify", "--state", e.state, check=False)),
                        ("orders", e.ctl("orders", "--state", e.state, "--json", check=False))]
            for name, r in runs:
                with self.subTest(flip=i, offset=off, bit=bit, program=name):
                    self.assertGreaterEqual(r.returncode, 0, f"{name} died of signal {-r.returncode}")
                    self.assertIn(r.returncode, (0, 1), f"{name}: {r.stderr}")
                    if r.returncode:
                        self.assertTrue(r.stderr.strip() or r.stdout.strip(), f"{name} said nothing")
                outcomes[(name, r.returncode)] = outcomes.get((name, r.returncode), 0) + 1
                if r.returncode and os.environ.get("STORE_FAULTS_VERBOSE"):
                    print(f"flip {i} @{off}.{bit} {name}: {(r.stderr or r.stdout).strip()[-300:]}", file=sys.stderr)
            if i % 6:
                continue
            # whatever standingd did, it started no new numbering: the numbers
            # given out before still name the same occurrences (a flip inside one
            # record may change that one)
            r = e.ctl("orders", "--state", e.state, "--json", check=False)
            if r.returncode == 0:
                after = [json.loads(line) for line in r.stdout.splitlines()]
                same = sum(1 for o in after if numbers.get(o["order"]) == (o["standing_order"], o["delivery"]))
                self.assertGreaterEqual(same, len(numbers) - 1)
                self.assertEqual(len(after), len({o["order"] for o in after}), "a number given out twice")
        print(f"\nbit flips: {sorted(outcomes.items())}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
