#!/usr/bin/env python3
"""The layering of lib/ (doc/architecture.md), checked on every test run:
- a file in lib/LAYER/ includes only headers of its own layer or of layers listed
  before it in LAYERS, by root-relative path ("lib/store/store.h");
- nothing in lib/ includes libuv, libsystemd or anything under daemon/ or tests/;
- every project include anywhere is root-relative (no bare "store.h").
- orders, their events, skip records and ledger entries are written only by lib/sales
  (the store's writers store_order_create, store_order_update, store_outbox_append,
  store_skip_record, store_ledger_append and store_payment_due_set are called nowhere
  else in lib/ or daemon/).
Prints each violation as FILE:LINE: message and exits 1 when there is any."""
import os
import re
import sys

LAYERS = ["base", "time", "model", "defs", "mail", "store", "sales", "sched", "varlink", "api"]
FORBIDDEN_IN_LIB = ("uv.h", "systemd/")
SALES_ONLY = re.compile(r"\b(store_order_create|store_order_update|store_outbox_append|store_skip_record|"
                        r"store_ledger_append|store_payment_due_set|store_outq_put|store_outq_del|"
                        r"store_task_create|store_task_update|store_taskq_put|store_taskq_del|"
                        r"store_reminder_put|store_interaction_append)\s*\(")

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
include = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
problems = []
for top in ("lib", "daemon", "tests", "bench"):
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            parts = rel.split(os.sep)
            layer = parts[1] if parts[0] == "lib" and len(parts) > 2 else None
            writer_ok = parts[0] not in ("lib", "daemon") or layer in ("store", "sales")
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    w = None if writer_ok else SALES_ONLY.search(line)
                    if w:
                        problems.append(f"{rel}:{n}: {w.group(1)} outside lib/sales (the only writer of orders and events)")
                    m = include.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    where = f"{rel}:{n}"
                    if kind == "<":
                        if layer and target.startswith(FORBIDDEN_IN_LIB):
                            problems.append(f"{where}: lib/ must not include <{target}> (no event loop, no systemd)")
                        continue
                    if target == "config.h":
                        continue
                    if "/" not in target:
                        problems.append(f'{where}: include "{target}" by its root-relative path')
                        continue
                    if layer is None:
                        continue
                    tparts = target.split("/")
                    if tparts[0] != "lib":
                        problems.append(f'{where}: lib/ must not include "{target}"')
                    elif tparts[1] not in LAYERS:
                        problems.append(f'{where}: "{target}" is in no known layer')
                    elif LAYERS.index(tparts[1]) > LAYERS.index(layer):
                        problems.append(f'{where}: layer {layer} must not include "{target}" (layer {tparts[1]} is above it)')
for p in problems:
    print(p)
print(f"{len(problems)} layering problems" if problems else "layers: OK")
sys.exit(1 if problems else 0)
