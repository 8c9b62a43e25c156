"""Delivery of the outbox by notify_command (issue 10, doc/notify.md), against the real
daemon with fake commands: small /usr/bin/python3 scripts written by the test that
append what they received (each event's id, type, order and attempt) to a record file,
one line per run, then behave as the test needs. The daemon runs on a test clock a
hundred times faster than real time, so the backoff (10 s, 20 s ... on the daemon's
clock) passes in a tenth of a second; notify_timeout is real time (2 s here).

- a command that fails twice then succeeds: three runs with the same events at
  attempts 1, 2, 3, each event delivered once; one log line per failed run and its
  standard error in the log; with no notify_command nothing runs and Status shows
  the events pending;
- one that hangs is killed after notify_timeout with its process group (a grandchild
  it started is dead too) and the batch is retried; Status answers throughout;
- one that names only some ids gets the others again, and only those;
- kill -9 of the daemon with a batch in flight loses nothing: after restart the same
  events (same ids, same attempt) are handed out again; SIGTERM kills the command in
  flight, keeps what it named, and leaves the rest pending;
- a command that always fails parks the events after notify_max_attempts (3); Status
  and `standingctl outbox --parked` show them; `standingctl outbox --retry-all`
  delivers them once the command works;
- "ID permanent: TEXT" parks that event only, with TEXT as its last error;
- events of one order go out in order: order.shipped (appended while order.created is
  in flight) waits until order.created is delivered, even when its first attempt failed;
- a reload while a batch runs: that batch ends with the old command, the retry goes
  to the new one;
- notify_parallel: 3 runs three batches at once (100, 100 and 1 of 201 events);
- a notify_command that cannot be started fails its batch (logged as an error) and
  parks the events after notify_max_attempts;
- the command gets its three pipes and no other descriptor of standingd's (the
  listening socket, the store's data file);
- a command that exits leaving a child that holds its stdout open is done 1 s after
  its exit, not at notify_timeout; the child is left alone.
"""
import json
import os
import re
import signal
import subprocess
import time
import unittest

from harness import DaemonTest, StatusWatch, STANDINGCTL, CUSTOMERS
from varlink import Connection

START = "2026-12-01T08:00:00Z"
FAST = ",100"
ADDRESS = {"name": "Varasto", "street": "Teollisuuskatu 1", "postcode": "00510", "city": "Helsinki", "country": "FI"}

# What every fake command does first: read the whole batch, record it, then the test's part.
FAKE = r'''#!/usr/bin/python3
import json, os, sys, time
rec = sys.argv[1]
events = [json.loads(l) for l in sys.stdin if l.strip()]
run = (sum(1 for _ in open(rec)) if os.path.exists(rec) else 0) + 1
ids = [e["id"] for e in events]
with open(rec, "a") as f:
    f.write(json.dumps({"run": run, "pid": os.getpid(), "cmd": sys.argv[0],
                        "events": [[e["id"], e["type"], (e.get("order") or {}).get("order"), e["attempt"]]
                                   for e in events]}) + "\n")


def wait_for_file(path):
    for _ in range(3000):
        if os.path.exists(path):
            return
        time.sleep(0.01)
'''


def gone(pid):
    """True when pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class Notify(DaemonTest):
    def setUp(self):
        self.e = self.env()
        self.e.write("orders.d/customers.yaml", CUSTOMERS + "standing_orders: []\n")
        self.cmd = os.path.join(self.e.dir, "notify.py")
        self.rec = os.path.join(self.e.dir, "record.jsonl")
        self.p = None
        self.addCleanup(self.kill_commands)

    def kill_commands(self):
        """A failed test may leave a hanging command: its group, by pid, if it is still ours."""
        for r in self.runs():
            try:
                with open(f"/proc/{r['pid']}/cmdline", "rb") as f:
                    if r["cmd"].encode() in f.read():
                        os.killpg(r["pid"], signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass

    # ---- the daemon ----

    def command(self, body, timeout=2, max_attempts=20, configure=True):
        with open(self.cmd, "w") as f:
            f.write(FAKE + body)
        os.chmod(self.cmd, 0o755)
        if configure:
            self.use_command(timeout, max_attempts)

    def use_command(self, timeout=2, max_attempts=20, extra=""):
        self.e.configure(f"notify_command: [{self.cmd}, {self.rec}]\nnotify_timeout: {timeout} seconds\n"
                         f"notify_max_attempts: {max_attempts}\n" + extra)

    def start(self, **kw):
        self.p = self.e.start_ready(START + FAST, **kw)
        return self.p

    def reload(self):
        before = self.e.log(self.p).count("reloaded (")
        os.kill(self.p.pid, signal.SIGHUP)
        self.e.wait_for(lambda: self.e.log(self.p).count("reloaded (") > before, what="reload")

    def call(self, method, params=None):
        with Connection(self.e.socket) as c:
            return c.call("io.standingd." + method, params or {})

    def place(self, n=1):
        """n account orders of acme (each an order.created event); their numbers."""
        with Connection(self.e.socket) as c:
            return [c.call("io.standingd.Orders.PlaceOrder", {
                "customer": "acme", "supplier": "lumen", "ship_to": ADDRESS,
                "lines": [{"sku": "BULB", "quantity": 10 + i % 10, "unit_price": "1.00", "currency": "EUR"}],
                "payment": "account", "delivery": "2027-01-15"})["order"]["order"] for i in range(n)]

    def status(self):
        s = self.call("Ops.Status")
        return s["outbox_pending"], s["outbox_parked"]

    def settled(self, pending=0, parked=0):
        self.e.wait_for(lambda: self.status() == (pending, parked), what=f"{pending} pending, {parked} parked")

    def ctl(self, *args):
        env = dict(os.environ, STANDINGD_SOCKET=self.e.socket)
        return subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, env=env, timeout=60)

    # ---- what the command saw ----

    def runs(self):
        if not os.path.exists(self.rec):
            return []
        with open(self.rec) as f:
            return [json.loads(x) for x in f]

    def batches(self):
        """Each run's events as (id, type, order, attempt) tuples."""
        return [[tuple(x) for x in r["events"]] for r in self.runs()]

    def attempts(self, event_id):
        """The attempt numbers event_id was handed out with, run after run."""
        return [x[3] for batch in self.batches() for x in batch if x[0] == event_id]

    def wait_runs(self, n):
        return self.e.wait_for(lambda: len(self.runs()) >= n and self.runs(), what=f"{n} runs of the command")

    def created(self, orders):
        """The order.created events of orders, in order, as the first run saw them."""
        first = self.batches()[0]
        got = [x for x in first if x[1] == "order.created"]
        self.assertEqual([x[2] for x in got], orders)
        for x in got:
            self.assertRegex(x[0], r"^[0-9a-f]{16}-[0-9]+$")
        self.assertEqual(len({x[0] for x in got}), len(got))
        return got

    def log_lines(self, pattern):
        return [x for x in self.e.log(self.p).splitlines() if re.search(pattern, x)]

    # ---- the cases ----

    def test_fails_twice_then_succeeds(self):
        # each event fails twice (jitter is per event: two events may back off apart)
        self.command("""
for e in events:
    if e["attempt"] >= 3:
        print(e["id"])
if any(e["attempt"] < 3 for e in events):
    sys.stderr.write("smtp relay down\\n")
    sys.exit(1)
""", configure=False)
        self.start()
        orders = self.place(2)
        # no notify_command: nothing runs, the events stay pending
        time.sleep(1)
        self.assertEqual(self.status(), (2, 0))
        self.assertEqual(self.runs(), [])
        self.use_command()
        self.reload()
        self.settled()
        time.sleep(0.5)
        ev = self.created(orders)
        self.assertEqual(self.batches()[0], [x[:3] + (1,) for x in ev])
        # every event handed out three times, at attempts 1, 2, 3, and never again
        for x in ev:
            self.assertEqual(self.attempts(x[0]), [1, 2, 3], x)
        runs = self.runs()
        failing = [r for r in runs if any(x[3] < 3 for x in r["events"])]
        self.assertEqual(self.log_lines("notify_command .*: exit status"),
                         [f"standingd: warning: notify_command {self.cmd}: exit status 1; "
                          f"{sum(x[3] == 3 for x in r['events'])} delivered, "
                          f"{sum(x[3] < 3 for x in r['events'])} failed, 0 parked" for r in failing])
        self.assertEqual(self.log_lines("smtp relay down"),
                         [f"standingd: warning: notify_command {self.cmd} (pid {r['pid']}): smtp relay down"
                          for r in failing])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_hang_is_killed_and_retried(self):
        self.command("""
if run == 1:
    import subprocess
    g = subprocess.Popen(["/bin/sleep", "300"])
    with open(rec + ".grandchild", "w") as f:
        f.write(str(g.pid))
    time.sleep(300)
""", timeout=2)
        self.start()
        with StatusWatch(self.e.socket) as w:
            orders = self.place(1)
            self.wait_runs(1)
            t0 = time.monotonic()
            self.e.wait_for(lambda: os.path.exists(self.rec + ".grandchild"), what="the grandchild")
            with open(self.rec + ".grandchild") as f:
                grandchild = int(f.read())
            self.assertFalse(gone(grandchild))
            self.wait_runs(2)
            waited = time.monotonic() - t0
            self.settled()
        w.assert_responsive(self, min_calls=10)
        # killed after notify_timeout (2 s of real time), retried after the backoff
        self.assertGreater(waited, 1.9)
        self.assertLess(waited, 6)
        first = self.runs()[0]["pid"]
        self.e.wait_for(lambda: gone(first) and gone(grandchild), timeout=5, what="the process group gone")
        ev = self.created(orders)
        self.assertEqual(self.batches(), [[(i, t, o, k) for (i, t, o, _) in ev] for k in (1, 2)])
        self.assertEqual(self.log_lines("notify_command .*: timed out"),
                         [f"standingd: warning: notify_command {self.cmd}: timed out after 2 s, killed; "
                          "0 delivered, 1 failed, 0 parked"])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_names_only_some(self):
        self.start()
        orders = self.place(3)
        self.command("""
if run == 1:
    print(ids[0])
""")
        self.reload()
        self.settled()
        time.sleep(0.5)
        (a, b, c) = ev = self.created(orders)
        batches = self.batches()
        self.assertEqual(batches[0], [x[:3] + (1,) for x in ev])
        # the other two again (each once, at its second attempt; two orders, so in the
        # order their own backoff jitter makes them due), and never the first
        later = [x for batch in batches[1:] for x in batch]
        self.assertEqual(sorted(later), [b[:3] + (2,), c[:3] + (2,)])
        self.assertEqual(self.log_lines("notify_command .*: exit status"),
                         [f"standingd: warning: notify_command {self.cmd}: exit status 0; 1 delivered, 2 failed, 0 parked"])
        self.assertEqual(self.e.stop(self.p), 0)

    def hang_after_first(self, n):
        """n orders placed, then a command whose first run names the first id and hangs."""
        self.start()
        orders = self.place(n)
        self.command("""
if run == 1:
    print(ids[0], flush=True)
    open(rec + ".printed", "w").close()
    time.sleep(300)
""")
        self.reload()
        self.e.wait_for(lambda: os.path.exists(self.rec + ".printed"), what="the first id printed")
        time.sleep(0.3)   # the daemon has read that line
        return orders

    def test_kill9_loses_nothing(self):
        orders = self.hang_after_first(4)
        self.assertEqual(self.e.stop(self.p, signal.SIGKILL), -signal.SIGKILL)
        child = self.runs()[0]["pid"]
        self.assertFalse(gone(child))          # its own session: kill -9 of the daemon does not reach it
        os.killpg(child, signal.SIGKILL)       # the test stops what it started, by pid
        self.start()
        self.settled()
        time.sleep(0.5)
        ev = self.created(orders)
        # nothing was recorded: the same events, same ids, still at attempt 1
        self.assertEqual(self.batches(), [[x[:3] + (1,) for x in ev]] * 2)
        self.assertEqual(self.e.stop(self.p), 0)

    def test_sigterm_keeps_what_was_named(self):
        orders = self.hang_after_first(3)
        t0 = time.monotonic()
        self.assertEqual(self.e.stop(self.p), 0)
        self.assertLess(time.monotonic() - t0, 2)
        child = self.runs()[0]["pid"]
        self.e.wait_for(lambda: gone(child), timeout=5, what="the command killed on stop")
        self.assertEqual(self.log_lines("did not close cleanly"), [])   # every handle of the batch closed
        self.assertEqual(self.log_lines("killed on stop"),
                         [f"standingd: info: notify_command {self.cmd} (pid {child}) killed on stop; "
                          "2 of its 3 events stay pending"])
        self.start()
        self.settled()
        time.sleep(0.5)
        a, b, c = self.created(orders)
        # the first was named before the stop: not handed out again; the others with no attempt counted
        self.assertEqual(self.batches(), [[x[:3] + (1,) for x in (a, b, c)], [x[:3] + (1,) for x in (b, c)]])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_parks_after_max_attempts_and_retry_all(self):
        self.start()
        orders = self.place(2)
        self.command("""
if not os.path.exists(rec + ".fixed"):
    sys.exit(1)
""", max_attempts=3)
        self.reload()
        self.settled(0, 2)
        time.sleep(0.5)
        ev = self.created(orders)
        self.assertEqual(self.batches()[0], [x[:3] + (1,) for x in ev])
        for x in ev:
            self.assertEqual(self.attempts(x[0]), [1, 2, 3], x)
        parked_order = [x[0] for batch in self.batches() for x in batch if x[3] == 3]
        self.assertEqual(self.log_lines("parked after"),
                         [f"standingd: warning: event {i} (order.created) parked after 3 attempts: exit status 1"
                          for i in parked_order])
        self.assertEqual(self.log_lines("notify_command .*: exit status"),
                         [f"standingd: warning: notify_command {self.cmd}: exit status 1; 0 delivered, "
                          f"{sum(x[3] < 3 for x in b)} failed, {sum(x[3] == 3 for x in b)} parked"
                          for b in self.batches()])
        n = len(self.batches())
        r = self.ctl("outbox", "--parked")
        self.assertEqual(r.returncode, 0, r.stderr)
        for x in ev:
            self.assertIn(x[0], r.stdout)
        open(self.rec + ".fixed", "w").close()
        r = self.ctl("outbox", "--retry-all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.settled()
        time.sleep(0.5)
        # a fresh attempt count: attempt 1 again, both in one batch (both due at once)
        self.assertEqual(self.batches()[n:], [[x[:3] + (1,) for x in ev]])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_permanent_parks_that_event_only(self):
        self.start()
        orders = self.place(2)
        self.command("""
print(ids[0] + " permanent: 550 5.1.1 <kari@acme.example>: no such user")
for i in ids[1:]:
    print(i)
""")
        self.reload()
        self.settled(0, 1)
        time.sleep(0.5)
        a, b = self.created(orders)
        self.assertEqual(self.batches(), [[a[:3] + (1,), b[:3] + (1,)]])
        parked = self.call("Ops.ListOutbox", {"parked": True})["events"]
        self.assertEqual([(x["id"], x["attempts"], x["last_error"], x["parked"]) for x in parked],
                         [(a[0], 1, "550 5.1.1 <kari@acme.example>: no such user", True)])
        self.assertEqual(self.log_lines("parked after"),
                         [f"standingd: warning: event {a[0]} (order.created) parked after 1 attempt: "
                          "550 5.1.1 <kari@acme.example>: no such user"])
        self.assertEqual(self.e.stop(self.p), 0)

    def held_first_run(self):
        """One order; a command whose first run holds its batch until release(), then
        fails it (exit 1), and which delivers everything after. Returns the order."""
        self.command("""
if run == 1:
    open(rec + ".started", "w").close()
    wait_for_file(rec + ".go")
    sys.exit(1)
""")
        self.start()
        [order] = self.place(1)
        self.e.wait_for(lambda: os.path.exists(self.rec + ".started"), what="the first run")
        return order

    def release(self):
        open(self.rec + ".go", "w").close()

    def test_order_of_one_order(self):
        order = self.held_first_run()
        # order.shipped is appended while order.created is in flight
        self.call("Supplier.MarkShipped", {"order": order, "carrier": "Posti", "tracking": "JJFI6400"})
        self.release()
        self.settled()
        time.sleep(0.5)
        batches = self.batches()
        [created] = self.created([order])
        # one event per order in a batch: order.shipped only after order.created was delivered
        self.assertEqual(len(batches), 3, batches)
        [shipped] = batches[2]
        self.assertRegex(shipped[0], r"^[0-9a-f]{16}-[0-9]+$")
        self.assertEqual(batches, [[created[:3] + (1,)], [created[:3] + (2,)], [(shipped[0], "order.shipped", order, 1)]])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_parallel_batches(self):
        self.start()
        orders = self.place(201)
        # each run waits (at most 10 s) until three runs are in flight at once; runs at
        # once append to the record in any order (and may count the same `run`)
        self.command("""
open(rec + ".running-" + str(os.getpid()), "w").close()
for _ in range(1000):
    if sum(".running-" in f for f in os.listdir(os.path.dirname(rec))) >= 3:
        with open(rec + ".together", "a") as f:
            f.write(str(os.getpid()) + "\\n")
        break
    time.sleep(0.01)
""", configure=False)
        self.use_command(timeout=20, extra="notify_parallel: 3\n")
        self.reload()
        self.settled()
        time.sleep(0.5)
        batches = sorted(self.batches(), key=lambda b: int(b[0][0].split("-")[1]))
        # three batches at once: the 100 oldest, the next 100, the last one; each event once
        self.assertEqual([len(b) for b in batches], [100, 100, 1])
        self.assertEqual([x[2] for b in batches for x in b], orders)
        self.assertEqual({x[3] for b in batches for x in b}, {1})
        with open(self.rec + ".together") as f:
            self.assertEqual(sorted(f.read().split()), sorted(str(r["pid"]) for r in self.runs()))
        self.assertEqual(self.e.stop(self.p), 0)

    def test_command_missing(self):
        self.start()
        self.place(1)
        missing = os.path.join(self.e.dir, "no-such-command")
        self.e.configure(f"notify_command: {missing}\nnotify_max_attempts: 2\n")   # a string: one program
        self.reload()
        self.settled(0, 1)
        [ev] = self.call("Ops.ListOutbox", {"parked": True})["events"]
        why = f"cannot run {missing}: no such file or directory"
        self.assertEqual((ev["attempts"], ev["last_error"]), (2, why))
        self.assertEqual(self.log_lines(r"notify_command|parked"),
                         [f"standingd: error: notify_command {missing}: {why}; 0 delivered, 1 failed, 0 parked",
                          f"standingd: warning: event {ev['id']} (order.created) parked after 2 attempts: {why}",
                          f"standingd: error: notify_command {missing}: {why}; 0 delivered, 0 failed, 1 parked"])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_command_gets_no_listener(self):
        # socket-activated (the listener is fd 3) and with the store open: the command
        # gets its three pipes and none of standingd's files (LMDB opens data.mdb inheritable)
        self.start(wrap=["systemd-socket-activate", "-l", self.e.socket])
        self.assertIn("listening on the socket passed by systemd", self.e.log(self.p))
        self.command("""
fds = {}
for fd in sorted(int(x) for x in os.listdir("/proc/self/fd")):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
with open(rec + ".fds", "w") as f:
    json.dump(fds, f)
""")
        self.reload()
        self.place(1)
        self.settled()
        with open(self.rec + ".fds") as f:
            fds = json.load(f)
        # stdin, stdout, stderr (libuv's socket pairs) and nothing else of standingd's
        self.assertEqual(sorted(fds), ["0", "1", "2"], fds)
        self.assertEqual(self.e.stop(self.p), 0)

    def test_exit_leaving_a_child_holding_stdout(self):
        self.command("""
import subprocess
g = subprocess.Popen(["/bin/sleep", "30"])   # inherits stdout and stderr
with open(rec + ".child", "w") as f:
    f.write(str(g.pid))
for i in ids:
    print(i)
""", timeout=20)
        self.start()
        self.place(1)
        self.wait_runs(1)
        t0 = time.monotonic()
        self.settled()
        waited = time.monotonic() - t0
        with open(self.rec + ".child") as f:
            child = int(f.read())
        self.addCleanup(lambda: gone(child) or os.kill(child, signal.SIGKILL))
        # not held until notify_timeout by the pipes the child keeps open: 1 s after the
        # exit the batch is done, delivered as printed; the child is left alone
        self.assertGreater(waited, 0.8)
        self.assertLess(waited, 5)
        self.assertFalse(gone(child))
        self.assertEqual(len(self.runs()), 1)
        self.assertEqual(self.log_lines("notify_command"), [])
        self.assertEqual(self.e.stop(self.p), 0)

    def test_reload_takes_the_new_command_for_the_next_batch(self):
        order = self.held_first_run()
        first = self.cmd
        self.cmd = os.path.join(self.e.dir, "second.py")
        self.command("")     # the second delivers everything; configured while the first runs
        self.reload()
        self.release()
        self.settled()
        time.sleep(0.5)
        # one record file, both commands appended to it: the batch in flight ended with
        # the first command, the retry went to the second
        self.assertEqual([(r["cmd"], r["events"][0][2], r["events"][0][3]) for r in self.runs()],
                         [(first, order, 1), (self.cmd, order, 2)])
        self.assertEqual(self.log_lines("notify_command .*: exit status"),
                         [f"standingd: warning: notify_command {first}: exit status 1; 0 delivered, 1 failed, 0 parked"])
        self.assertEqual(self.e.stop(self.p), 0)


if __name__ == "__main__":
    unittest.main()
