"""kill -9 at random moments while standingd works through a large backlog; after
every restart nothing is duplicated and, at the end, nothing is missing.

STANDINGD_CRASH_ITERATIONS (default 100) sets the number of kills;
STANDINGD_CRASH_SEED the random seed (printed)."""
import os
import random
import signal
import time
import unittest

from harness import DaemonTest, standing_order

ITERATIONS = int(os.environ.get("STANDINGD_CRASH_ITERATIONS", "100"))


class Crash(DaemonTest):
    def test_kill9_during_backlog(self):
        seed = int(os.environ.get("STANDINGD_CRASH_SEED", str(int(time.time()))))
        print(f"seed {seed}, {ITERATIONS} iterations")
        rnd = random.Random(seed)
        e = self.env(catch_up="all", max_catch_up=1000000)
        until = {"until": "2026-06-30", "start": "2026-01-01"}
        e.orders_file("a.yaml", [
            standing_order("hourly", {"every": "1 hour", **until}),
            standing_order("half-hourly", {"every": "30 minutes", **until}),
            standing_order("daily", {"every": "1 day", "at": '"07:15"', **until}),
            standing_order("cron", {"cron": '"*/20 8-17 * * mon-fri"', **until}),
        ])
        expected = sorted((i["standing_order"], i["delivery"]) for i in e.forecast("2025-12-01", "2026-08-01"))
        self.assertGreater(len(expected), 10000)
        kills_mid_work = 0
        for i in range(ITERATIONS):
            p = e.start("2026-08-01T00:00:00Z,1", log=os.path.join(e.dir, "crash.log"))
            # a random moment once it is working (start-up time varies, e.g. under ASan)
            e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
            time.sleep(rnd.uniform(0.0, 0.02))
            if p.poll() is not None:
                self.fail(f"iteration {i}: standingd exited {p.returncode}: {e.log(p)}")
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            e.procs.remove(p)
            r = e.ctl("verify", "--state", e.state, check=False)
            if r.returncode == 3:   # killed before the store existed
                continue
            self.assertEqual(r.returncode, 0, f"iteration {i}: {r.stdout}")
            n = len(e.ctl("orders", "--state", e.state, "--json").stdout.splitlines())
            if 0 < n < len(expected):
                kills_mid_work += 1
        print(f"{kills_mid_work} of {ITERATIONS} kills landed while the backlog was being created")
        p = e.start("2026-08-01T00:00:00Z,1")
        e.wait_for(lambda: len(e.orders()) >= len(expected), timeout=120, what="the whole backlog")
        self.assertEqual(e.stop(p), 0)
        orders = e.orders()
        self.assertEqual(sorted((o["standing_order"], o["delivery"]) for o in orders), expected)
        self.assertEqual(len({o["order"] for o in orders}), len(orders))
        e.ctl("verify", "--state", e.state)
        self.assertGreater(kills_mid_work, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
