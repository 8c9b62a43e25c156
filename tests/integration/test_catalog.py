"""The daemon's running set is the incremental catalog (lib/sched/catalog): a
change is checked against what is running, with the errors of a whole
validation, and the last good set is stored per file.

Exact errors across files: a customer removed that another file uses, a
duplicate id in another file or placed through the socket, a supplier removed
from standingd.yaml that YAML and API standing orders use. After each refusal
the running set is unchanged; after a restart on a broken file the daemon runs
on the last good set read back from the per-file store, API standing orders
included.
"""
import unittest

from harness import CUSTOMERS, CONFIG, DaemonTest, StatusWatch, api_standing_order, standing_order
from varlink import Connection, VarlinkError

WEEKLY = {"every": "1 week", "start": "2027-01-04"}
A_ID_LINE = CUSTOMERS.count("\n") + 2      # "- id: a1" after the customers and "standing_orders:"


def start(test, e):
    p = e.start("2026-11-25T00:00:00Z,1")
    e.wait_for(lambda: "started" in e.log(p) or p.poll() is not None, what="start")
    test.assertIsNone(p.poll(), e.log(p))
    return p


class Catalog(DaemonTest):
    def refused(self, c, method, params=None):
        with self.assertRaises(VarlinkError) as cm:
            c.call(method, params)
        return cm.exception.error, cm.exception.parameters["errors"]

    def test_changes_against_the_running_set(self):
        e = self.env()
        a = CUSTOMERS + "standing_orders:\n" + standing_order("a1", WEEKLY)
        b = "standing_orders:\n" + standing_order("b1", WEEKLY)
        e.write("orders.d/a.yaml", a)
        e.write("orders.d/b.yaml", b)
        p = start(self, e)
        with Connection(e.socket) as c, StatusWatch(e.socket) as w:
            # one file changed: applied, and stored (diff compares with the store)
            b = "standing_orders:\n" + standing_order("b1", WEEKLY, qty=7)
            e.write("orders.d/b.yaml", b)
            self.assertEqual(c.call("io.standingd.Ops.Reload"), {"customers": 2, "standing_orders": 2})
            self.assertEqual(e.ctl("diff", "--conf", e.conf, "--state", e.state).stdout, "no changes\n")

            # the customers gone from a.yaml: both files' standing orders name an unknown one
            e.write("orders.d/a.yaml", "standing_orders:\n" + standing_order("a1", WEEKLY))
            self.assertEqual(self.refused(c, "io.standingd.Ops.Reload"), ("io.standingd.Ops.InvalidDefinitions", [
                'orders.d/a.yaml:3:13: unknown customer "acme"',
                'orders.d/b.yaml:3:13: unknown customer "acme"']))
            e.write("orders.d/a.yaml", a)

            # an id of a.yaml again in b.yaml
            e.write("orders.d/b.yaml", b + standing_order("a1", WEEKLY))
            self.assertEqual(self.refused(c, "io.standingd.Ops.Reload"), ("io.standingd.Ops.InvalidDefinitions", [
                f'orders.d/b.yaml:12:7: duplicate standing order id "a1" (first defined at orders.d/a.yaml:{A_ID_LINE}:7)']))
            e.write("orders.d/b.yaml", b)

            # placed through the socket: the same checks against the running set
            place = "io.standingd.Orders.PlaceStandingOrder"
            self.assertEqual(self.refused(c, place, {"definition": api_standing_order("a1", WEEKLY)}), (
                "io.standingd.Orders.InvalidDefinition",
                [{"field": "id", "message":
                  f'duplicate standing order id "a1" (first defined at orders.d/a.yaml:{A_ID_LINE}:7)'}]))
            ghost = dict(api_standing_order("w1", WEEKLY), customer="ghost")
            self.assertEqual(self.refused(c, place, {"definition": ghost}), (
                "io.standingd.Orders.InvalidDefinition", [{"field": "customer", "message": 'unknown customer "ghost"'}]))
            self.assertEqual(c.call(place, {"definition": api_standing_order("w1", WEEKLY)})["standing_order"], "w1")
            self.assertEqual(c.call("io.standingd.Ops.Status")["standing_orders"], 3)

            # standingd.yaml without lumen: every standing order that names it, YAML and API
            conf = CONFIG.format(state=e.state, socket=e.socket, catch_up="all", max_catch_up=100)
            e.write("standingd.yaml", conf.replace("  - id: lumen\n    name: Lumen Oy\n    users: [lumen]\n", ""))
            self.assertEqual(self.refused(c, "io.standingd.Ops.Reload"), ("io.standingd.Ops.InvalidDefinitions", [
                'orders.d/a.yaml:16:13: unknown supplier "lumen"',
                'orders.d/b.yaml:4:13: unknown supplier "lumen"',
                'standing_orders[0].supplier: unknown supplier "lumen"']))
            e.write("standingd.yaml", conf)
            self.assertEqual(c.call("io.standingd.Ops.Reload"), {"customers": 2, "standing_orders": 3})
        w.assert_responsive(self, min_calls=1)
        self.assertEqual(e.stop(p), 0)

        # a broken file at start: the last good set, read back file by file
        e.write("orders.d/b.yaml", "standing_orders: [\n")
        p = start(self, e)
        self.assertIn("running on the last good version", e.log(p))
        with Connection(e.socket) as c:
            ids = sorted(s["id"] for s in c.call("io.standingd.Ops.ListStandingOrders")["standing_orders"])
            self.assertEqual(ids, ["a1", "b1", "w1"])
        self.assertEqual(e.stop(p), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
