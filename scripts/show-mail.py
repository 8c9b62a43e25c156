#!/usr/bin/env python3
"""The demo's Maildir, for a person: one line per message (To, Subject, decoded),
then in full the messages that name ORDER (its confirmation, its shipping
confirmation), as a mail program shows them.

    python3 scripts/show-mail.py MAILDIR [ORDER]"""
import email
import email.policy
import os
import sys


def main():
    maildir = sys.argv[1]
    order = sys.argv[2] if len(sys.argv) > 2 else None
    new = os.path.join(maildir, "new")
    names = sorted(os.listdir(new), key=lambda n: (os.stat(os.path.join(new, n)).st_mtime_ns, n)) \
        if os.path.isdir(new) else []
    msgs = []
    for name in names:
        with open(os.path.join(new, name), "rb") as f:
            msgs.append(email.message_from_binary_file(f, policy=email.policy.default))
    if not msgs:
        print("(no e-mail)")
        return 0
    width = max(len(str(m["To"])) for m in msgs)
    for m in msgs:
        print(f"{str(m['To']):<{width}}  {m['Subject']}")
    print(f"({len(msgs)} messages)")
    if order:
        for m in msgs:
            body = m.get_body(preferencelist=("plain",)).get_content()
            if order in str(m["Subject"]) or order in body:
                print()
                print("-" * 72)
                for h in ("Message-ID", "Date", "From", "Reply-To", "To", "Subject"):
                    if m[h] is not None:
                        print(f"{h}: {m[h]}")
                print()
                print(body.rstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
