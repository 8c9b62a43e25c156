"""Client quotas on the socket and definition files that cannot be read.

The quota tests run hostile clients as unprivileged users created for the test
(sd-test-quota: no role; sd-test-quota-sup: a supplier's user), in child processes
that setuid() to them, while the test itself (root, an ops caller) checks that it
is never locked out, that the daemon's memory stays bounded by the reply caps and
is given back, and that Status keeps answering within 1 s (StatusWatch).
The file tests make orders.d hold a FIFO, a socket, a directory, a file over
16 MiB, a symlink loop; they need no users."""
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import unittest

from harness import DaemonTest, Env, StatusWatch, standing_order, STANDINGD, STANDINGCTL
from varlink import Connection, VarlinkError

HOSTILE = "sd-test-quota"          # a user with no role: may only introspect
SUPPLIER = "sd-test-quota-sup"     # listed as lumen's user

MIB = 1 << 20
TOTAL_CAP = 256 * MIB              # the total of queued reply bytes (README, Limits)
# RSS allowances, documented in the README's Limits: beside the capped reply bytes the
# daemon holds each connection's read buffer and the reply being built.
DURING_SLACK = 64 * MIB
AFTER_TOLERANCE = 24 * MIB

# A client driven over stdin/stdout, one JSON command and one JSON answer per line.
CLIENT = r'''
import json, socket, sys, time
path = sys.argv[1]
conns = []          # [socket, state]; state: "open", "closed" or the error reply

def state(i):
    s, st = conns[i]
    if st != "open":
        return st
    s.setblocking(False)
    try:
        data = s.recv(4096)
        if not data:
            st = "closed"
        else:
            msg = json.loads(data.split(b"\0")[0])
            st = msg.get("error", "reply")
            st = f"{st} {json.dumps(msg.get('parameters', {}), sort_keys=True)}"
    except BlockingIOError:
        pass
    except (ConnectionResetError, BrokenPipeError):
        st = "closed"
    conns[i][1] = st
    return st

for line in sys.stdin:
    cmd = json.loads(line)
    out = None
    if cmd[0] == "open":
        for _ in range(cmd[1]):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            conns.append([s, "open"])
        out = len(conns)
    elif cmd[0] == "states":
        time.sleep(cmd[1])
        out = [state(i) for i in range(len(conns))]
    elif cmd[0] == "drained":
        # read what is there: "closed" when the daemon closed the connection
        out = []
        for s, st in conns:
            s.setblocking(False)
            try:
                while True:
                    if not s.recv(1 << 20):
                        st = "closed"
                        break
            except BlockingIOError:
                pass
            except OSError:
                st = "closed"
            out.append(st)
    elif cmd[0] == "call":
        s = conns[cmd[1]][0]
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(json.dumps({"method": cmd[2], "parameters": cmd[3]}).encode() + b"\0")
        buf = b""
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        out = json.loads(buf.split(b"\0")[0]) if buf else None
    elif cmd[0] == "flood":
        # pipeline requests on every open connection and never read a reply
        _, per_conn, method, params, seconds = cmd
        req = json.dumps({"method": method, "parameters": params}).encode() + b"\0"
        data = memoryview(req * per_conn)
        off = {i: 0 for i in range(len(conns)) if conns[i][1] == "open"}
        for i in off:
            conns[i][0].setblocking(False)
        total = 0
        end = time.monotonic() + seconds
        while off and time.monotonic() < end:
            progress = False
            for i in list(off):
                try:
                    n = conns[i][0].send(data[off[i]:off[i] + 65536])
                except BlockingIOError:
                    continue
                except OSError:
                    del off[i]
                    continue
                progress = True
                off[i] += n
                total += n
                if off[i] >= len(data):
                    del off[i]
            if not progress:
                time.sleep(0.01)
        out = total // len(req)
    elif cmd[0] == "close":
        for s, _ in conns:
            s.close()
        conns.clear()
        out = 0
    print(json.dumps(out), flush=True)
'''


def ensure_user(name):
    try:
        grp.getgrnam("standingd")
    except KeyError:
        # the socket's group; other tests use it too, so it is left in place
        subprocess.run(["groupadd", "--system", "standingd"], check=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "-G", "standingd", name], check=True)


class Client:
    """A CLIENT child process running as user."""

    def __init__(self, test, user, sock):
        pw = pwd.getpwnam(user)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        self.p = subprocess.Popen([python, "-c", CLIENT, sock], user=user, group=pw.pw_gid,
                                  extra_groups=os.getgrouplist(user, pw.pw_gid),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        test.addCleanup(self.stop)

    def do(self, *cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"client {cmd} died with {self.p.wait()}")
        return json.loads(line)

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def under_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def slack(asan):
    # redzones and the (small, see Quotas.start) quarantine under ASan
    return 2 * DURING_SLACK if asan else DURING_SLACK


def too_many(limit):
    return f'io.standingd.TooManyConnections {{"limit": {limit}}}'


@unittest.skipUnless(os.geteuid() == 0, "needs root to create the test users")
class Quotas(DaemonTest):
    @classmethod
    def setUpClass(cls):
        for u in (HOSTILE, SUPPLIER):
            ensure_user(u)

    @classmethod
    def tearDownClass(cls):
        for u in (HOSTILE, SUPPLIER):
            subprocess.run(["userdel", u], check=False, capture_output=True)

    def start(self, extra_config="", orders=None):
        e = self.env()
        os.chmod(e.dir, 0o755)
        path = os.path.join(e.conf, "standingd.yaml")
        with open(path) as f:
            text = f.read().replace("users: [lumen]", f"users: [{SUPPLIER}]")
        e.write("standingd.yaml", text + extra_config)
        e.orders_file("a.yaml", orders or [
            standing_order("bulbs", {"every": "1 week", "start": "2026-12-01", "at": '"06:00"'})])
        # under ASan, a small quarantine: freed memory is not held for reuse checks
        asan = os.environ.get("ASAN_OPTIONS")
        p = e.start("2026-11-25T00:00:00Z,1",
                    extra_env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=16"})
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        return e, p

    def root_status(self, e):
        t0 = time.monotonic()
        with Connection(e.socket, timeout=5) as c:
            n = c.call("io.standingd.Ops.Status")["standing_orders"]
        return n, time.monotonic() - t0

    def test_idle_flood_of_one_user_leaves_room_for_root(self):
        # defaults: max_connections 128, max_connections_per_user a quarter of it
        e, p = self.start()
        hostile = Client(self, HOSTILE, e.socket)
        self.assertEqual(hostile.do("open", 128), 128)
        time.sleep(1.0)
        n, took = self.root_status(e)
        self.assertEqual(n, 1)
        self.assertLess(took, 1.0)
        print(f"\nroot's Status with 128 hostile idle connections: {took * 1000:.1f} ms", file=sys.stderr)
        states = hostile.do("states", 0)
        self.assertEqual(states.count("open"), 32, states)
        self.assertEqual(states[32:], [too_many(32)] * 96)
        # ops are not held to the per-user limit
        root = [Connection(e.socket) for _ in range(40)]
        for c in root:
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 1)
            c.close()
        # the accepted ones may introspect, nothing else
        self.assertIn("interfaces", hostile.do("call", 0, "org.varlink.service.GetInfo", {})["parameters"])
        self.assertEqual(hostile.do("call", 1, "io.standingd.Ops.Status", {})["error"],
                         "io.standingd.PermissionDenied")
        self.assertIn(f"refusing a connection from pid {hostile.p.pid} ({HOSTILE}): its user has 32 connections "
                      "open (max_connections_per_user)", e.log(p))
        hostile.stop()
        self.assertEqual(e.stop(p), 0)

    def test_full_server_makes_room_for_ops_then_roles_never_for_the_role_less(self):
        e, p = self.start("max_connections: 8\nmax_connections_per_user: 6\n")
        hostile = Client(self, HOSTILE, e.socket)
        supplier = Client(self, SUPPLIER, e.socket)
        self.assertEqual(hostile.do("open", 7), 7)
        states = hostile.do("states", 0.5)
        self.assertEqual(states, ["open"] * 6 + [too_many(6)])
        self.assertEqual(supplier.do("open", 2), 2)
        self.assertEqual(supplier.do("states", 0.3), ["open"] * 2)
        # full (8): root pushes out the role-less client silent the longest
        n, took = self.root_status(e)
        self.assertEqual(n, 1)
        self.assertLess(took, 1.0)
        self.assertEqual(hostile.do("states", 0.3)[:2], ["closed", "open"])
        # root has left (7 open); a supplier's user fills the 8th place, then its
        # next connection pushes out the role-less client silent the longest
        self.assertEqual(supplier.do("open", 1), 3)
        self.assertEqual(hostile.do("states", 0.3)[:2], ["closed", "open"])
        self.assertEqual(supplier.do("open", 1), 4)
        self.assertEqual(supplier.do("states", 0.3), ["open"] * 4)
        r = supplier.do("call", 3, "io.standingd.Supplier.ListUpcoming", {"from": "2026-12-01", "to": "2027-01-01"})
        self.assertEqual(len(r["parameters"]["shipments"]), 5)
        self.assertEqual(hostile.do("states", 0.3)[:3], ["closed", "closed", "open"])
        # a role-less newcomer pushes out no one
        hostile.do("open", 1)
        self.assertEqual(hostile.do("states", 0.3), ["closed", "closed"] + ["open"] * 4 + [too_many(6), too_many(8)])
        log = e.log(p)
        self.assertIn(f"to make room for pid {supplier.p.pid} ({SUPPLIER}): 8 connections open", log)
        self.assertIn(f"refusing a connection from pid {hostile.p.pid} ({HOSTILE}): 8 connections open", log)
        hostile.stop()
        supplier.stop()
        self.assertEqual(e.stop(p), 0)

    def test_clients_that_never_read_cannot_exhaust_memory(self):
        # an hourly standing order: a 3-month ListUpcoming is 2,160 shipments, 0.9 MB
        # (built in about 35 ms; larger replies hold the loop longer, an issue of their own)
        e, p = self.start(orders=[
            standing_order("bulbs", {"every": "1 hour", "start": "2026-12-01"})])
        asan = under_asan(p.pid)
        time.sleep(0.5)
        before = rss(p.pid)
        hostile = Client(self, HOSTILE, e.socket)
        supplier = Client(self, SUPPLIER, e.socket)
        peak = [before]

        def sample():
            peak[0] = max(peak[0], rss(p.pid))

        with StatusWatch(e.socket) as w:
            self.assertEqual(hostile.do("open", 120), 120)
            accepted = hostile.do("states", 0.5).count("open")
            self.assertEqual(supplier.do("open", 32), 32)
            sample()
            # 32 x 4.7 MB of introspection replies (3 kB each) and 32 x 12 x 0.9 MB of
            # shipments asked for: far over the total cap, never read
            hostile.do("flood", 1500, "org.varlink.service.GetInterfaceDescription",
                       {"interface": "io.standingd.Orders"}, 8)
            sample()
            supplier.do("flood", 12, "io.standingd.Supplier.ListUpcoming", {"from": "2027-01-01", "to": "2027-04-01"}, 8)
            for _ in range(40):
                sample()
                time.sleep(0.1)
            during = peak[0]
            hostile.do("close")
            supplier.do("close")
            hostile.stop()
            supplier.stop()
            after = rss(p.pid)
            end = time.monotonic() + 10
            while time.monotonic() < end and after > before + AFTER_TOLERANCE:
                time.sleep(0.2)
                after = rss(p.pid)
        print(f"\nRSS before / peak during / after the never-read attack: {before / MIB:.1f} / "
              f"{during / MIB:.1f} / {after / MIB:.1f} MiB; slowest Status {w.worst() * 1000:.0f} ms"
              f"{' (ASan)' if asan else ''}", file=sys.stderr)
        self.assertLess(during - before, TOTAL_CAP + slack(asan))
        if not asan:   # the sanitizer's allocator keeps what it was given
            self.assertLess(after - before, AFTER_TOLERANCE)
        w.assert_responsive(self, min_calls=20)
        # the attack was real: replies were held, up to the back-pressure mark
        self.assertGreater(during - before, TOTAL_CAP // 4)
        self.assertEqual(accepted, 32)   # max_connections_per_user: a quarter of 128
        with Connection(e.socket) as c:
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 1)
        self.assertEqual(e.stop(p), 0)

    def test_total_reply_cap_drops_the_role_less_first(self):
        e, p = self.start("max_reply_queue: 4 MiB\nmax_reply_queue_total: 8 MiB\n", orders=[
            standing_order("bulbs", {"every": "1 hour", "start": "2026-12-01"})])
        before = rss(p.pid)
        hostile = Client(self, HOSTILE, e.socket)
        supplier = Client(self, SUPPLIER, e.socket)
        peak = before
        with StatusWatch(e.socket) as w:
            self.assertEqual(hostile.do("open", 16), 16)
            self.assertEqual(supplier.do("open", 16), 16)
            # the role-less clients hold their share: back-pressure stops them at half the cap
            hostile.do("flood", 1500, "org.varlink.service.GetInterfaceDescription",
                       {"interface": "io.standingd.Orders"}, 3)
            e.wait_for(lambda: rss(p.pid) > before + 2 * MIB, what="the role-less clients' replies held")
            time.sleep(1)
            # 16 x 4 shipment lists of 0.9 MB each do not fit beside them: under
            # back-pressure each client gets one, still more than the cap
            supplier.do("flood", 4, "io.standingd.Supplier.ListUpcoming", {"from": "2027-01-01", "to": "2027-04-01"}, 5)

            def supplier_dropped():
                nonlocal peak
                peak = max(peak, rss(p.pid))
                return f"({SUPPLIER}): it does not read its replies" in e.log(p)
            e.wait_for(supplier_dropped, timeout=60, what="a supplier's client dropped")
            for _ in range(5):
                peak = max(peak, rss(p.pid))
                time.sleep(0.1)
        w.assert_responsive(self, min_calls=10)
        # role-less clients go first: the first to be dropped is one of them
        drops = [line for line in e.log(p).splitlines() if "it does not read its replies" in line]
        self.assertRegex(drops[0], rf"dropping client pid {hostile.p.pid} \({HOSTILE}\): it does not read its "
                                   r"replies \(\d+ bytes queued, \d+ for all clients\)")
        self.assertIn("closed", hostile.do("drained"))
        self.assertIn("closed", supplier.do("drained"))
        self.assertLess(peak - before, 8 * MIB + slack(under_asan(p.pid)))
        print(f"\nRSS before / peak with an 8 MiB total cap: {before / MIB:.1f} / {peak / MIB:.1f} MiB", file=sys.stderr)
        self.assertEqual(e.stop(p), 0)


def check(conf):
    """(standingd --check, standingctl check), each as (exit status, stdout)."""
    out = []
    for cmd in ([STANDINGD, "--check", "--conf", conf], [STANDINGCTL, "check", "--conf", conf]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        out.append((r.returncode, r.stdout))
    return out


class UnreadableFiles(DaemonTest):
    def conf(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("bulbs", {"every": "1 week", "start": "2026-12-01"})])
        return e

    def assert_check(self, e, message):
        self.assertEqual(check(e.conf), [(1, message + "\n")] * 2)

    def test_check_names_each_unreadable_file(self):
        e = self.conf()
        od = os.path.join(e.conf, "orders.d")
        os.mkfifo(os.path.join(od, "x.yaml"))
        self.assert_check(e, "orders.d/x.yaml: not a regular file")
        os.unlink(os.path.join(od, "x.yaml"))

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(od, "s.yaml"))
        s.close()
        self.assert_check(e, "orders.d/s.yaml: not a regular file")
        os.unlink(os.path.join(od, "s.yaml"))

        os.mkdir(os.path.join(od, "d.yaml"))
        self.assert_check(e, "orders.d/d.yaml: not a regular file")
        os.rmdir(os.path.join(od, "d.yaml"))

        with open(os.path.join(od, "big.yaml"), "w") as f:
            f.write("# " + "x" * (16 * MIB - 2) + "\n")     # 16 MiB + 1 byte
        self.assert_check(e, "orders.d/big.yaml: larger than 16 MiB")
        os.unlink(os.path.join(od, "big.yaml"))

        os.symlink("loop.yaml", os.path.join(od, "loop.yaml"))
        self.assert_check(e, "orders.d/loop.yaml: too many levels of symbolic links (a loop?)")
        os.unlink(os.path.join(od, "loop.yaml"))

        os.rename(od, od + ".off")
        with open(od, "w") as f:
            f.write("standing_orders: []\n")
        self.assert_check(e, "orders.d: not a directory")
        os.unlink(od)
        os.rename(od + ".off", od)

        os.rename(os.path.join(e.conf, "standingd.yaml"), os.path.join(e.conf, "standingd.yaml.off"))
        self.assert_check(e, "standingd.yaml: no such file or directory")
        os.rename(os.path.join(e.conf, "standingd.yaml.off"), os.path.join(e.conf, "standingd.yaml"))

        self.assertEqual(check(e.conf), [(0, "OK: 2 customers, 1 standing orders\n")] * 2)

    def test_key_with_a_nul_is_shown_escaped(self):
        e = self.conf()
        e.write("orders.d/b.yaml", 'customers:\n  - {id: nul, name: N, "id\\0x": 1, nmae: M}\n')
        out = ('orders.d/b.yaml:2:24: unknown key "id\\x00x"\n'
               'orders.d/b.yaml:2:36: unknown key "nmae" (did you mean "name"?)\n')
        self.assertEqual(check(e.conf), [(1, out)] * 2)

    def test_fifo_appearing_while_running_does_not_freeze_the_daemon(self):
        e = self.conf()
        p = e.start("2026-11-25T00:00:00Z,1")
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        with StatusWatch(e.socket) as w:
            time.sleep(0.3)
            os.mkfifo(os.path.join(e.conf, "orders.d", "x.yaml"))
            e.wait_for(lambda: "failed: keeping the last good definitions" in e.log(p), timeout=10,
                       what="the reload to fail")
            time.sleep(0.5)
        w.assert_responsive(self, min_calls=5)
        self.assertIn("orders.d/x.yaml: not a regular file", e.log(p))
        with Connection(e.socket) as c:
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 1)
            with self.assertRaises(VarlinkError) as ex:
                c.call("io.standingd.Ops.Reload")
            self.assertEqual(ex.exception.error, "io.standingd.Ops.InvalidDefinitions")
            self.assertEqual(ex.exception.parameters, {"errors": ["orders.d/x.yaml: not a regular file"]})
        self.assertEqual(e.stop(p), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
