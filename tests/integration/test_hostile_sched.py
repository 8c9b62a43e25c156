"""Issue 7, defects 1 and 2: schedules that hung the daemon or backdated orders.

Each test keeps the loop answering Status within 1 s (StatusWatch, every 100 ms),
stops the daemon with SIGTERM (exit 0) and checks that the orders created are
exactly the forecast's occurrences between when the schedule began and now. The
test clock is frozen (speed 1e-6: a millisecond every quarter of an hour), so every
count below is exact."""
import datetime
import os
import time
import unittest

from harness import CUSTOMERS, DaemonTest, StatusWatch, api_standing_order as api_definition, standing_order
from varlink import Connection, VarlinkError

UTC = datetime.timezone.utc
FROZEN = ",0.000001"


def instant(s):
    return datetime.datetime.fromisoformat(s).astimezone(UTC)


def utc(*a):
    return datetime.datetime(*a, tzinfo=UTC)


class HostileSchedules(DaemonTest):
    def start(self, e, clock):
        p = e.start(clock)
        e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, timeout=10, what="start")
        self.assertIsNone(p.poll(), e.log(p))
        self.addCleanup(lambda: e.stop(p) if p.poll() is None else None)
        return p

    def stop(self, e, p):
        self.assertEqual(e.stop(p), 0, e.log(p))

    def orders(self, e):
        """(standing order, delivery instant, late) of every order, by delivery."""
        return sorted((o["standing_order"], instant(o["delivery"]), o["late"]) for o in e.orders())

    def socket_forecast(self, e, frm, to):
        with Connection(e.socket, timeout=10) as c:
            occ = c.call("io.standingd.Ops.Forecast", {"from": frm, "to": to})["occurrences"]
        return sorted((o["standing_order"], instant(o["delivery"])) for o in occ)

    def yaml_forecast(self, e, frm, to):
        return sorted((o["standing_order"], instant(o["delivery"])) for o in e.forecast(frm, to))

    def standing(self, e):
        with Connection(e.socket, timeout=10) as c:
            return {s["id"]: s for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"]}

    def place(self, e, definition):
        with Connection(e.socket, timeout=10) as c:
            return c.call("io.standingd.Orders.PlaceStandingOrder", {"definition": definition})

    # ---- defect 1: cron without start begins when first seen ----

    def restart_and_check_first_seen(self, e):
        """Restarted at 03:00:30: the first-seen time (00:30:30) was kept in the
        store, so 01:00 and 02:00 are caught up (late) and 03:00 is on time; nothing
        from before 00:30:30 is ever created. The orders are exactly the forecast's
        occurrences after first seen up to now; @yearly has none."""
        p = self.start(e, "2027-01-01T03:00:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            e.wait_for(lambda: len(e.orders()) >= 3, timeout=10, what="3 orders")
            time.sleep(0.5)
            forecast = self.socket_forecast(e, "2026-12-31", "2027-01-02")
        w.assert_responsive(self, min_calls=3)
        self.stop(e, p)
        got = self.orders(e)
        want = [(so, d) for so, d in forecast if utc(2027, 1, 1, 0, 30, 30) < d <= utc(2027, 1, 1, 3, 0, 30)]
        self.assertEqual([(so, d) for so, d, _ in got], want)
        self.assertEqual(got, [("hourly", utc(2027, 1, 1, 1), True), ("hourly", utc(2027, 1, 1, 2), True),
                               ("hourly", utc(2027, 1, 1, 3), False)])
        e.ctl("verify", "--state", e.state)

    def test_cron_without_start_yaml(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("hourly", {"cron": '"0 * * * *"', "timezone": "UTC"}),
                                 standing_order("yearly", {"cron": '"@yearly"', "timezone": "UTC"})])
        p = self.start(e, "2027-01-01T00:30:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            time.sleep(1)
            self.assertEqual(self.orders(e), [])   # 00:00 was before it was first seen
            self.assertEqual(self.standing(e)["yearly"]["next_delivery"], "2028-01-01T00:00:00+00:00")
        w.assert_responsive(self, min_calls=5)
        self.stop(e, p)
        self.restart_and_check_first_seen(e)

    def test_cron_without_start_placed_through_the_socket(self):
        e = self.env()
        e.write("orders.d/a.yaml", CUSTOMERS)
        p = self.start(e, "2027-01-01T00:30:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            r = self.place(e, api_definition("hourly", {"cron": "0 * * * *", "timezone": "UTC"}))
            self.assertEqual(r, {"standing_order": "hourly", "next_delivery": "2027-01-01T01:00:00+00:00"})
            r = self.place(e, api_definition("yearly", {"cron": "@yearly", "timezone": "UTC"}))
            self.assertEqual(r, {"standing_order": "yearly", "next_delivery": "2028-01-01T00:00:00+00:00"})
            time.sleep(1)
            self.assertEqual(self.orders(e), [])
        w.assert_responsive(self, min_calls=5)
        self.stop(e, p)
        self.restart_and_check_first_seen(e)

    # ---- defect 2: bounded work ----

    def test_cron_count_billion_through_the_socket(self):
        # every minute from 2026-12-01 00:00 Helsinki (Nov 30 22:00Z), a billion of
        # them; a month later: 44,760 missed, the oldest 44,660 skipped in one
        # summary record, the last 100 created late, 00:00 on time
        e = self.env()
        e.write("orders.d/a.yaml", CUSTOMERS)
        p = self.start(e, "2027-01-01T00:00:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            r = self.place(e, api_definition("minutely", {"cron": "* * * * *", "start": "2026-12-01",
                                                          "count": 1000000000}))
            self.assertEqual(r["standing_order"], "minutely")
            e.wait_for(lambda: len(e.orders()) >= 101, timeout=10, what="101 orders")
            time.sleep(0.5)
            s = self.standing(e)["minutely"]
            forecast = self.socket_forecast(e, "2026-12-31", "2027-01-02")
        w.assert_responsive(self, min_calls=5)
        self.assertEqual((s["created"], s["skipped"]), (101, 44660))
        self.assertEqual(s["next_delivery"], "2027-01-01T02:01:00+02:00")
        self.stop(e, p)
        got = self.orders(e)
        self.assertEqual(len(got), 101)
        self.assertEqual(got[0], ("minutely", utc(2026, 12, 31, 22, 20), True))
        self.assertEqual(got[99], ("minutely", utc(2026, 12, 31, 23, 59), True))
        self.assertEqual(got[100], ("minutely", utc(2027, 1, 1, 0, 0), False))
        self.assertEqual([(so, d) for so, d, _ in got],
                         [(so, d) for so, d in forecast if utc(2026, 12, 31, 22, 20) <= d <= utc(2027, 1, 1, 0, 0, 30)])
        self.assertIn("catch_up: all, beyond max_catch_up 100 (44660 occurrences skipped, up to this one)",
                      e.log(p))

    def test_lead_time_beyond_a_year_is_refused(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("far", {"cron": '"@daily"', "lead_time": "999999999 weeks"})])
        r = e.ctl("check", "--conf", e.conf, check=False)
        self.assertEqual((r.returncode, r.stdout),
                         (1, 'orders.d/a.yaml:23:18: lead_time must be at most a year (366 days), got "999999999 weeks"\n'))
        # through the socket: refused with the field path, the daemon carries on
        e.write("orders.d/a.yaml", CUSTOMERS)
        p = self.start(e, "2027-01-01T00:00:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            with self.assertRaises(VarlinkError) as cm:
                self.place(e, api_definition("far", {"cron": "@daily", "lead_time": "999999999 weeks"}))
            self.assertEqual(cm.exception.error, "io.standingd.Orders.InvalidDefinition")
            self.assertEqual(cm.exception.parameters, {"errors": [{
                "field": "schedule.lead_time",
                "message": 'lead_time must be at most a year (366 days), got "999999999 weeks"'}]})
            time.sleep(0.5)
        w.assert_responsive(self, min_calls=3)
        self.stop(e, p)
        self.assertEqual(self.orders(e), [])

    def test_every_minute_since_1970_is_arithmetic(self):
        e = self.env()
        e.orders_file("a.yaml", [standing_order("ancient", {"every": "1 minute", "start": "0001-01-01"})])
        r = e.ctl("check", "--conf", e.conf, check=False)
        self.assertEqual((r.returncode, r.stdout),
                         (1, 'orders.d/a.yaml:23:14: expected a date from 1970-01-01 to 9999-12-31, got "0001-01-01"\n'))
        # from 1970 (UTC): 29,979,360 missed; 29,979,260 skipped in one record, the
        # last 100 created late (22:20 .. 23:59) and 00:00 on time
        e.orders_file("a.yaml", [standing_order("since-1970", {"every": "1 minute", "start": "1970-01-01",
                                                               "timezone": "UTC"})])
        p = self.start(e, "2027-01-01T00:00:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            e.wait_for(lambda: len(e.orders()) >= 101, timeout=10, what="101 orders")
            time.sleep(0.5)
            s = self.standing(e)["since-1970"]
        w.assert_responsive(self, min_calls=3)
        self.stop(e, p)
        self.assertEqual((s["created"], s["skipped"]), (101, 29979260))
        got = self.orders(e)
        self.assertEqual(len(got), 101)
        self.assertEqual(got[0], ("since-1970", utc(2026, 12, 31, 22, 20), True))
        self.assertEqual(got[99], ("since-1970", utc(2026, 12, 31, 23, 59), True))
        self.assertEqual(got[100], ("since-1970", utc(2027, 1, 1), False))
        forecast = self.yaml_forecast(e, "2026-12-31", "2027-01-02")
        self.assertEqual([(so, d) for so, d, _ in got],
                         [(so, d) for so, d in forecast if utc(2026, 12, 31, 22, 20) <= d <= utc(2027, 1, 1, 0, 0, 30)])
        self.assertIn("occurrence of since-1970 at 2026-12-31T22:19:00+00:00 not created: catch_up: all, "
                      "beyond max_catch_up 100 (29979260 occurrences skipped, up to this one)", e.log(p))

    def test_twenty_thousand_skip_dates_through_the_socket(self):
        # every minute (Helsinki), but 20,000 days from today on skipped: the next
        # delivery is 2081-10-04 00:00, found by jumping the run of dates, not by
        # stepping through 28.8 million minutes
        e = self.env()
        e.orders_file("a.yaml", [standing_order("daily", {"every": "1 day", "start": "2027-01-01",
                                                          "timezone": "UTC"})])
        start = datetime.date(2027, 1, 1)
        skip = [(start + datetime.timedelta(days=i)).isoformat() for i in range(20000)]
        p = self.start(e, "2027-01-01T00:00:30Z" + FROZEN)
        with StatusWatch(e.socket) as w:
            r = self.place(e, api_definition("skipper", {"every": "1 minute", "start": "2027-01-01", "skip": skip}))
            self.assertEqual(r, {"standing_order": "skipper", "next_delivery": "2081-10-04T00:00:00+03:00"})
            with Connection(e.socket, timeout=10) as c:
                c.call("io.standingd.Ops.Reload")
                c.call("io.standingd.Ops.Reload")
            e.wait_for(lambda: len(e.orders()) >= 1, timeout=10, what="the daily order")
            time.sleep(0.5)
            forecast = self.socket_forecast(e, "2026-12-31", "2027-01-03")
            later = self.socket_forecast(e, "2081-10-03", "2081-10-05")
        w.assert_responsive(self, min_calls=5)
        self.stop(e, p)
        later = [d for so, d in later if so == "skipper"]
        self.assertEqual((later[0], later[-1], len(later)), (utc(2081, 10, 3, 21), utc(2081, 10, 4, 20, 59), 1440))
        got = self.orders(e)
        self.assertEqual(got, [("daily", utc(2027, 1, 1), False)])
        self.assertEqual([(so, d) for so, d, _ in got],
                         [(so, d) for so, d in forecast if d <= utc(2027, 1, 1, 0, 0, 30)])


if __name__ == "__main__":
    unittest.main()
