"""Helpers for integration tests that start the real standingd.

Every daemon a test starts is stopped by that test, by its pid (never by name).
Paths to the binaries come from the environment that meson's test() sets:
STANDINGD, STANDINGCTL, STANDINGD_MAIL.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest

STANDINGD = os.environ.get("STANDINGD", "build/daemon/standingd")
STANDINGCTL = os.environ.get("STANDINGCTL", "build/daemon/standingctl")
STANDINGD_MAIL = os.environ.get("STANDINGD_MAIL", "build/daemon/standingd-mail")

CONFIG = """\
state_dir: {state}
socket: {socket}
timezone: Europe/Helsinki
catch_up: {catch_up}
max_catch_up: {max_catch_up}
suppliers:
  - id: lumen
    name: Lumen Oy
    users: [lumen]
  - id: nordkaffe
    name: Nordkaffe AS
    users: [nordkaffe]
salespeople:
  - {{id: sanna, name: Sanna Myyjä, email: sales@lumen.example, language: fi, users: [sanna]}}
  - {{id: myynti, name: Myynti Lumen, email: myynti@lumen.example, language: fi}}
  - {{id: salg, name: Salg Nordkaffe, email: salg@nordkaffe.example, language: nb}}
"""

CUSTOMERS = """\
customers:
  - id: acme
    name: ACME Oy
    language: fi
    timezone: Europe/Helsinki
    salesperson: sanna
    account: {number: ACC-1001, credit_limit: "50000.00 EUR"}
  - id: kaffe
    name: Kaffebrenneriet Tromsø AS
    language: nb
    timezone: Europe/Oslo
    account: {number: ACC-3007, credit_limit: "120000 NOK"}
"""


def standing_order(oid, schedule, customer="acme", supplier="lumen", sku="BULB-60W", qty=1000, price="0.85 EUR"):
    """A standing order item in YAML; schedule is a dict of schedule keys."""
    sched = "\n".join(f"      {k}: {v}" for k, v in schedule.items())
    return textwrap.dedent(f"""\
      - id: {oid}
        customer: {customer}
        supplier: {supplier}
        ship_to: {{name: Varasto, street: Teollisuuskatu 1, postcode: "00510", city: Helsinki, country: FI}}
        lines:
          - {{sku: {sku}, quantity: {qty}, unit_price: "{price}"}}
        payment: account
        schedule:
    """) + sched + "\n"


def api_standing_order(oid, schedule):
    """A standing order for Orders.PlaceStandingOrder (acme, lumen); schedule is a dict."""
    return {"id": oid, "customer": "acme", "supplier": "lumen",
            "ship_to": {"name": "ACME", "street": "Teollisuuskatu 1", "postcode": "00510",
                        "city": "Helsinki", "country": "FI"},
            "lines": [{"sku": "LAMP", "quantity": 5, "unit_price": "12.00 EUR"}],
            "payment": "account", "schedule": schedule}


class Env:
    """A temporary config dir + state dir, and the daemons started on it."""

    def __init__(self, catch_up="all", max_catch_up=100):
        self.dir = tempfile.mkdtemp(prefix="standingd-it-")
        self.conf = os.path.join(self.dir, "conf")
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.dir, "sd.sock")
        os.makedirs(os.path.join(self.conf, "orders.d"))
        self.catch_up, self.max_catch_up = catch_up, max_catch_up
        self.configure()
        self.procs = []

    def configure(self, extra=""):
        """(Re)writes standingd.yaml: the test config with extra top-level keys (YAML text) appended."""
        self.write("standingd.yaml", CONFIG.format(state=self.state, socket=self.socket, catch_up=self.catch_up,
                                                   max_catch_up=self.max_catch_up) + extra)

    def write(self, name, text):
        path = os.path.join(self.conf, name)
        tmp = path + ".tmp~"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(tmp, path)

    def orders_file(self, name, items, customers=True):
        """An orders.d file; the test customers are defined in one file only."""
        self.write("orders.d/" + name, (CUSTOMERS if customers else "") + "standing_orders:\n" + "".join(items))

    def start(self, clock, extra_env=None, log=None, wrap=()):
        """Starts standingd on the test clock; returns the Popen. stderr goes to a log file.
        wrap: a command line standingd runs under (systemd-socket-activate ...)."""
        log = log or os.path.join(self.dir, f"standingd-{len(self.procs)}.log")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        if extra_env:
            env.update(extra_env)
        f = open(log, "w")
        p = subprocess.Popen([*wrap, STANDINGD, "--conf", self.conf, "--state", self.state,
                              "--socket", self.socket, "--test-clock", clock],
                             stdout=f, stderr=subprocess.STDOUT, env=env)
        f.close()
        p.log = log
        self.procs.append(p)
        return p

    def start_ready(self, clock, **kw):
        """start(), then wait until the socket answers (fails when the daemon exits first)."""
        p = self.start(clock, **kw)

        def up():
            if p.poll() is not None:
                raise AssertionError(f"standingd exited {p.returncode}: {self.log(p)}")
            return os.path.exists(self.socket) and self.ping()
        self.wait_for(up, what="socket", timeout=20)
        return p

    def ping(self):
        """Whether the daemon answers io.standingd.Now on the socket."""
        from varlink import Connection, VarlinkError
        try:
            with Connection(self.socket, timeout=2) as c:
                c.call("io.standingd.Now")
            return True
        except (OSError, VarlinkError):
            return False

    def stop(self, p, sig=signal.SIGTERM, timeout=5):
        if p.poll() is None:
            os.kill(p.pid, sig)
        return p.wait(timeout=timeout)

    def log(self, p):
        with open(p.log, encoding="utf-8") as f:
            return f.read()

    def ctl(self, *args, check=True):
        r = subprocess.run([STANDINGCTL, *args], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"standingctl {' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
        return r

    def orders(self):
        r = self.ctl("orders", "--state", self.state, "--json", check=False)
        if r.returncode == 3 and "no store there" in r.stderr:
            return []   # the daemon has not created it yet
        if r.returncode != 0:
            raise AssertionError(f"standingctl orders exited {r.returncode}: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines()]

    def forecast(self, frm, to):
        r = self.ctl("forecast", "--conf", self.conf, "--from", frm, "--to", to, "--json")
        return [json.loads(line) for line in r.stdout.splitlines()]

    def wait_for(self, cond, timeout=30, what="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class DaemonTest(unittest.TestCase):
    def env(self, **kw):
        e = Env(**kw)
        self.addCleanup(e.close)
        return e


class StatusWatch:
    """Calls io.standingd.Ops.Status every 100 ms on its own connection (a new one
    after any failure) in a background thread, and records every answer's latency.
    The hostile-input tests use it to prove the loop never stalls: assert_responsive()
    fails when any call took longer than `limit` seconds or got no answer.

        with StatusWatch(e.socket) as w:
            ... do the hostile thing ...
        w.assert_responsive(self)
    """

    def __init__(self, socket_path, period=0.1, limit=1.0):
        import threading
        self.path = socket_path
        self.period = period
        self.limit = limit
        self.latencies = []      # seconds per answered call
        self.failures = []       # (time since start, what went wrong)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self):
        from varlink import Connection
        conn = None
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                if conn is None:
                    conn = Connection(self.path, timeout=self.limit)
                conn.call("io.standingd.Ops.Status")
                self.latencies.append(time.monotonic() - t)
            except Exception as ex:  # noqa: BLE001 - every failure is a finding
                self.failures.append((round(t - self._t0, 2), f"{type(ex).__name__}: {ex}"))
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t)))
        if conn is not None:
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def worst(self):
        return max(self.latencies, default=0.0)

    def assert_responsive(self, test, min_calls=1):
        test.assertFalse(self.failures, f"Status failed or timed out: {self.failures[:5]}")
        test.assertGreaterEqual(len(self.latencies), min_calls, "too few Status calls answered")
        test.assertLess(self.worst(), self.limit, f"slowest Status took {self.worst():.3f} s")
