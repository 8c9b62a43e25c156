#!/usr/bin/python3
"""A real SMTP server for the integration tests: Debian's python3-aiosmtpd, run by
Debian's /usr/bin/python3 (the package installs there).

    /usr/bin/python3 smtpd.py --dir DIR [--refuse ADDR]... [--defer ADDR]... [--auth USER:PASSWORD]

Listens on a free loopback port and prints `PORT N` on standard output once it
accepts connections. Each message it accepts becomes DIR/NNNN.eml (the data as
received, after dot-unstuffing) and DIR/NNNN.json ({"mail_from", "rcpt_tos",
"peer", "helo", "auth"}), the JSON written last. RCPT TO an address given with --refuse is
answered 550, one given with --defer 451. With --auth the server advertises AUTH
(PLAIN, LOGIN; without TLS, loopback only) and requires it. Runs until SIGTERM."""
import argparse
import asyncio
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Handler:
    def __init__(self, outdir, refuse, defer):
        self.dir = outdir
        self.refuse = {a.lower() for a in refuse}
        self.defer = {a.lower() for a in defer}
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.defer:
            return f"451 4.3.0 <{address}>: Temporary lookup failure"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.dir, f"{self.n:04d}")
        data = envelope.original_content if envelope.original_content is not None else envelope.content
        with open(base + ".eml", "wb") as f:
            f.write(data)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "peer": list(session.peer)[:2], "helo": session.host_name,
                "auth": session.login_data.decode() if session.authenticated else None}
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: queued"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--refuse", action="append", default=[])
    ap.add_argument("--defer", action="append", default=[])
    ap.add_argument("--auth")
    a = ap.parse_args()
    handler = Handler(a.dir, a.refuse, a.defer)
    kw = {}
    if a.auth:
        user, password = a.auth.split(":", 1)
        kw = dict(authenticator=authenticator(user, password), auth_required=True, auth_require_tls=False)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test", **kw), host="127.0.0.1", port=0))
    port = server.sockets[0].getsockname()[1]
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print(f"PORT {port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
