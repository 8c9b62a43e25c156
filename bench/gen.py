#!/usr/bin/env python3
"""gen.py: N generated standing orders with issue 12's realistic mix, deterministic
(seeded), for bench/run and for trying the daemon at scale by hand.

  gen.py yaml DIR [--n N] [--seed S]      a config directory: DIR/standingd.yaml and
                                          DIR/orders.d/fNNN.yaml (100 files per 100,000
                                          standing orders, at least one file, at most
                                          1,000 standing orders per file... scaled)
  gen.py place SOCKET [--n N] [--seed S] [--first K]
                                          PlaceStandingOrder over the Varlink socket of
                                          a daemon started on such a directory: N more
                                          standing orders (ids api-..., the same mix,
                                          customers of the YAML); prints "N placed in S s"
  gen.py json [--n N] [--seed S]          the PlaceStandingOrder calls, one JSON per line
  gen.py yaml DIR --book socket [--n N]   the book bench/run's socket row uses (the one
                                          issue 12's 87 calls/s were measured on, from the
                                          former bench/run.sh): 3 suppliers, 40 customers in
                                          4 zones, 8 schedule forms in turn, daily ones among
                                          them, in one file

The mix (of each standing order, drawn from one random.Random(seed)):
  60% every 1-3 months (day 1-28 or a "2nd tue" weekday), 20% every 1-2 weeks on
  given weekdays, 10% cron, 10% yearly or the last day of every month;
  zones Europe/Helsinki, Europe/Riga, Europe/Oslo, Asia/Ho_Chi_Minh, UTC;
  customers (10 per file) with salespeople, 6 suppliers; 1-3 lines each.
Starts lie in 2026-12-01 .. 2027-02-28, so a daemon on the test clock
2026-12-01T00:00:00Z has little backlog; its first week has deliveries of every form.
Python stdlib only.
"""
import argparse
import datetime
import json
import os
import random
import socket
import sys
import time

ZONES = ["Europe/Helsinki", "Europe/Riga", "Europe/Oslo", "Asia/Ho_Chi_Minh", "UTC"]
SUPPLIERS = [("lumen", "Lumen Oy"), ("baltic-paper", "Baltijas Papīrs SIA"),
             ("nordkaffe", "Nordkaffe AS"), ("saigon-tea", "Saigon Tea Co"),
             ("fjord-fish", "Fjord Fisk AS"), ("riga-bread", "Rīgas Maize")]
SALESPEOPLE = [("sanna", "Sanna Myyjä", "fi"), ("linh", "Trần Thị Linh", "vi"),
               ("ola", "Ola Nordmann", "nb"), ("janis", "Jānis Bērziņš", "lv")]
CITIES = {"Europe/Helsinki": ("Helsinki", "FI", "00510"), "Europe/Riga": ("Riga", "LV", "LV-1050"),
          "Europe/Oslo": ("Oslo", "NO", "0150"), "Asia/Ho_Chi_Minh": ("Ho Chi Minh City", "VN", "700000"),
          "UTC": ("London", "GB", "EC1A 1BB")}
SKUS = ["BULB-60W", "PAPER-A4", "COFFEE-1KG", "TEA-GREEN", "SALMON-5KG", "RYE-BREAD", "LED-9W"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PER_FILE = 1000
CUSTOMERS_PER_FILE = 10
START = datetime.date(2026, 12, 1)


def n_files(n):
    return max(1, (n + PER_FILE - 1) // PER_FILE)


def schedule(r):
    """One schedule: a dict of the YAML/JSON keys, in a stable order."""
    start = START + datetime.timedelta(days=r.randrange(90))
    at = "%02d:%02d" % (r.randrange(5, 15), r.choice([0, 15, 30, 45]))
    lead = r.choice(["1 day", "2 days", "3 days", "1 week", "12 hours"])
    x = r.random()
    if x < 0.60:
        s = {"every": "%d month%s" % ((k := r.randint(1, 3)), "s" if k > 1 else "")}
        if r.random() < 0.8:
            s["day"] = r.randint(1, 28)
        else:
            s["weekday"] = "%s %s" % (r.choice(["1st", "2nd", "3rd", "4th", "last"]), r.choice(DAYS[:5]))
    elif x < 0.80:
        s = {"every": "%d week%s" % ((k := r.randint(1, 2)), "s" if k > 1 else ""),
             "on": sorted(r.sample(range(7), r.randint(1, 3)))}
        s["on"] = [DAYS[d] for d in s["on"]]
    elif x < 0.90:
        s = {"cron": r.choice(["30 3 * * 1", "0 6 * * 1-5", "15 4 1,15 * *", "0 5 * * sat",
                               "45 2 */10 * *", "0 7 1 * *"])}
        s["start"] = start.isoformat()
        s["lead_time"] = lead
        return s
    elif x < 0.95:
        s = {"every": "1 year"}
    else:
        s = {"every": "1 month", "day": "last"}
    s["start"] = start.isoformat()
    s["at"] = at
    s["lead_time"] = lead
    if r.random() < 0.3:
        s["timezone"] = r.choice(ZONES)
    if r.random() < 0.1:
        s["count"] = r.randint(4, 24)
    return s


def standing_order(r, so_id, customer, zone):
    city, country, postcode = CITIES[zone]
    lines = [{"sku": r.choice(SKUS), "quantity": r.randint(1, 500) * 10,
              "unit_price": "%d.%02d EUR" % (r.randint(0, 40), r.randrange(100))}
             for _ in range(r.randint(1, 3))]
    return {"id": so_id, "customer": customer, "supplier": r.choice(SUPPLIERS)[0],
            "ship_to": {"name": "Varasto %s" % customer, "street": "Teollisuuskatu %d" % r.randint(1, 99),
                        "postcode": postcode, "city": city, "country": country},
            "lines": lines, "payment": "account", "schedule": schedule(r)}


def yscalar(v):
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(yscalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (k, yscalar(x)) for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


def so_yaml(so):
    out = ["  - id: %s\n    customer: %s\n    supplier: %s\n" % (so["id"], so["customer"], so["supplier"]),
           "    ship_to: %s\n" % yscalar(so["ship_to"]), "    lines:\n"]
    out += ["      - %s\n" % yscalar(line) for line in so["lines"]]
    out.append("    payment: account\n    schedule:\n")
    out += ["      %s: %s\n" % (k, yscalar(v)) for k, v in so["schedule"].items()]
    return "".join(out)


def customer_id(f, c):
    return "c%04d-%d" % (f, c)


def customer_zone(f, c):
    return ZONES[(f * CUSTOMERS_PER_FILE + c) % len(ZONES)]


def write_yaml(d, n, seed):
    os.makedirs(os.path.join(d, "orders.d"), exist_ok=True)
    with open(os.path.join(d, "standingd.yaml"), "w") as f:
        f.write("timezone: Europe/Helsinki\ncatch_up: all\nmax_catch_up: 100\nsuppliers:\n")
        for sid, name in SUPPLIERS:
            f.write("  - {id: %s, name: %s, users: [%s]}\n" % (sid, json.dumps(name, ensure_ascii=False),
                                                                 sid.replace("-", "")))
        f.write("salespeople:\n")
        for sid, name, lang in SALESPEOPLE:
            f.write("  - {id: %s, name: %s, email: %s@example.com, language: %s, users: [s-%s]}\n"
                    % (sid, json.dumps(name, ensure_ascii=False), sid, lang, sid))
    files = n_files(n)
    r = random.Random(seed)
    done = 0
    for fi in range(files):
        k = (n - done) // (files - fi)
        out = ["customers:\n"]
        for c in range(CUSTOMERS_PER_FILE):
            out.append("  - id: %s\n    name: Customer %d-%d\n    timezone: %s\n    salesperson: %s\n"
                       "    account: {number: ACC-%05d, credit_limit: \"50000.00 EUR\"}\n"
                       % (customer_id(fi, c), fi, c, customer_zone(fi, c), SALESPEOPLE[c % 4][0],
                          fi * CUSTOMERS_PER_FILE + c))
        out.append("standing_orders:\n" if k else "standing_orders: []\n")
        for i in range(k):
            c = r.randrange(CUSTOMERS_PER_FILE)
            out.append(so_yaml(standing_order(r, "so-%04d-%04d" % (fi, i), customer_id(fi, c),
                                              customer_zone(fi, c))))
        with open(os.path.join(d, "orders.d", "f%04d.yaml" % fi), "w") as f:
            f.write("".join(out))
        done += k


SOCKET_FORMS = [
    "      every: 1 week\n      start: 2026-12-03\n      at: \"07:00\"\n      lead_time: 2 days",
    "      every: 2 weeks\n      on: [mon, thu]\n      start: 2026-11-30\n      at: \"09:30\"\n      lead_time: 1 day",
    "      every: 1 month\n      day: last\n      start: 2026-11-30\n      at: \"14:00\"\n      lead_time: 2 days",
    "      every: 3 months\n      weekday: 2nd tue\n      start: 2026-12-01\n      at: \"10:00\"\n"
    "      lead_time: 1 week\n      count: 8",
    "      cron: \"30 3 * * 0\"\n      start: 2026-11-23\n      lead_time: 12 hours",
    "      every: 2 months\n      day: 15\n      start: 2026-12-15\n      at: \"08:00\"\n      lead_time: 3 days\n"
    "      skip: [2027-02-15]",
    "      every: 3 days\n      start: 2026-12-02\n      at: \"05:45\"\n      until: 2027-12-31",
    "      every: 1 day\n      start: 2026-12-01\n      at: \"06:00\"\n      lead_time: 1 day",
]


def write_socket_book(d, n):
    """The former bench/run.sh's book, byte for byte but the header comment."""
    os.makedirs(os.path.join(d, "orders.d"), exist_ok=True)
    sup = SUPPLIERS[:3]
    with open(os.path.join(d, "standingd.yaml"), "w") as f:
        f.write("timezone: Europe/Helsinki\ncatch_up: all\nmax_catch_up: 100\nsuppliers:\n")
        for sid, name in sup:
            f.write("  - id: %s\n    name: %s\n    users: [%s]\n" % (sid, name, sid.replace("-", "")))
    zones = ZONES[:4]
    out = ["customers:\n"]
    for z in range(4):
        for c in range(10):
            out.append("  - id: c%d-%d\n    name: Customer %d-%d\n    timezone: %s\n"
                       "    account: {number: ACC-%d%02d, credit_limit: \"50000.00 EUR\"}\n" % (z, c, z, c, zones[z], z, c))
    out.append("standing_orders:\n")
    for i in range(n):
        out.append("  - id: so-%05d\n    customer: c%d-%d\n    supplier: %s\n" % (i, i % 4, i // 4 % 10, sup[i % 3][0]))
        out.append("    ship_to: {name: Varasto, street: Teollisuuskatu 1, postcode: \"00510\", city: Helsinki, "
                   "country: FI}\n")
        out.append("    lines:\n      - {sku: BULB-60W, quantity: 1000, unit_price: \"0.85 EUR\"}\n")
        out.append("    payment: account\n    schedule:\n%s\n" % SOCKET_FORMS[i % len(SOCKET_FORMS)])
    with open(os.path.join(d, "orders.d", "bench.yaml"), "w") as f:
        f.write("".join(out))


def api_definitions(n, seed, customers_files, first=0):
    """PlaceStandingOrder definitions for customers of a YAML set of customers_files files."""
    r = random.Random(seed + 1)
    for i in range(first, first + n):
        fi, c = r.randrange(customers_files), r.randrange(CUSTOMERS_PER_FILE)
        yield standing_order(r, "api-%07d" % i, customer_id(fi, c), customer_zone(fi, c))


def call(so):
    return {"method": "io.standingd.Orders.PlaceStandingOrder", "parameters": {"definition": so}}


def place(sock_path, n, seed, first, files):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    buf = b""
    t0 = time.monotonic()
    for so in api_definitions(n, seed, files, first):
        s.sendall(json.dumps(call(so), ensure_ascii=False).encode() + b"\0")
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("gen.py: the daemon closed the socket")
            buf += chunk
        reply, buf = buf.split(b"\0", 1)
        if b'"error"' in reply:
            sys.exit("gen.py: %s: %s" % (so["id"], reply.decode(errors="replace")))
    dt = time.monotonic() - t0
    s.close()
    print("%d placed in %.3f s" % (n, dt))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["yaml", "place", "json"])
    ap.add_argument("target", nargs="?", help="yaml: the directory; place: the socket")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--first", type=int, default=0, help="place/json: the first api- id's number")
    ap.add_argument("--book", choices=["mix", "socket"], default="mix", help="yaml: which book")
    ap.add_argument("--files", type=int, default=1, help="place/json: customers of this many YAML files")
    a = ap.parse_args()
    if a.mode in ("yaml", "place") and not a.target:
        ap.error("%s needs a %s" % (a.mode, "directory" if a.mode == "yaml" else "socket"))
    if a.mode == "yaml" and a.book == "socket":
        write_socket_book(a.target, a.n)
    elif a.mode == "yaml":
        write_yaml(a.target, a.n, a.seed)
    elif a.mode == "place":
        place(a.target, a.n, a.seed, a.first, a.files)
    else:
        for so in api_definitions(a.n, a.seed, a.files, a.first):
            print(json.dumps(call(so), ensure_ascii=False))


if __name__ == "__main__":
    main()
