#!/usr/bin/env python3
"""Sign-up by e-mail (issue 13, report 5.2): auth.mode email.

A real SMTP server on loopback (aiosmtpd, Debian python3-aiosmtpd) and a
ring of three nodes with auth.mode email, auth.smtp pointing at it and
auth.signups_per_hour 2.

  sign-up    dora's first REGISTER (an unknown AOR) gets 401; a mail reaches
             dora@example.com with her user, realm, a password and the
             address the REGISTER came from; she registers with that
             password -> 200, and a wrong one -> 403.
  once       another unauthenticated REGISTER for dora mails nothing more.
  rate       two more unknown AORs from the same address, owned by the
             same node as dora (the limit is kept per responsible node):
             the first is mailed, the second is not (auth.signups_per_hour
             2), and the node says so in its log.
  kill -9    the node holding dora's credential dies; she still signs in.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import status_line

from auth_test import Phone

DOMAIN = sipplib.DOMAIN


class Mailbox:
    """aiosmtpd on 127.0.0.1:<free port>, keeping every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller  # python3-aiosmtpd (scripts/setup --all)

        self.mails = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.mails.append((envelope.rcpt_tos, envelope.content.decode(errors="replace")))
                return "250 OK"

        self.port = ringlib.free_port()
        self.controller = Controller(Handler(), hostname=ringlib.LOCALHOST, port=self.port)
        self.controller.start()

    def wait(self, count, timeout=10):
        ringlib.wait_until(lambda: len(self.mails) >= count, timeout, what=f"{count} mails")
        return self.mails[count - 1]

    def close(self):
        self.controller.stop()


def password_in(mail):
    m = re.search(r"password:\s+(\S+)", mail)
    check(m, f"no password in the mail:\n{mail}")
    return m.group(1)


def body(args):
    box = Mailbox()
    try:
        cfg = {"auth": {"mode": "email", "smtp": f"{ringlib.LOCALHOST}:{box.port}", "signups_per_hour": 2,
                        "mail_from": "ring@example.com"},
               "overlay": {"secret": "signup-test-key"}, "limits": {"per_source_rate": 0}}
        with ringlib.Cluster(args.sippeer, name="sippeer-signup") as cl, sipplib.Phones(cl) as phones:
            nodes = sipplib.start_ring(cl, 3, config=cfg, log_level="info")
            n1, n2, n3 = nodes

            dora = Phone(phones.raw_phone("dora"), "dora", "unknown yet")
            first, _, _ = dora.register(n2, answer=False)
            check(first and status_line(first).startswith("SIP/2.0 401"), f"dora's first REGISTER: {first}")
            rcpt, mail = box.wait(1)
            check(rcpt == [f"dora@{DOMAIN}"], f"mailed to {rcpt}")
            check(f"sip:dora@{DOMAIN}" in mail and f"realm:    {DOMAIN}" in mail and "user:     dora" in mail,
                  f"the mail does not name the account:\n{mail}")
            check("Someone at 127.0.0.1 signed up" in mail, f"the mail does not name the requester:\n{mail}")
            check("From: <ring@example.com>" in mail, f"auth.mail_from not used:\n{mail}")
            dora.password = password_in(mail)
            _, final, _ = dora.register(n3, password="not-it")
            check(final and status_line(final).startswith("SIP/2.0 403"), f"dora with a wrong password: {final}")
            _, final, _ = dora.register(n1)
            check(final and status_line(final) == "SIP/2.0 200 OK", f"dora with the mailed password: {final}")
            log(f"dora signed up: 401, a mail with her password ({len(dora.password)} characters), then 200")

            first, _, _ = dora.register(n1, answer=False)
            check(first and status_line(first).startswith("SIP/2.0 401"), f"dora again: {first}")
            time.sleep(1)
            check(len(box.mails) == 1, f"{len(box.mails)} mails after dora's second REGISTER")

            # The limit is kept by each AOR's responsible node (the one that
            # mails): two more users whose key dora's owner holds.
            owner = sipplib.owner_of(nodes, f"sip:dora@{DOMAIN}")
            same = [u for u in (f"u{i}" for i in range(1, 200))
                    if sipplib.owner_of(nodes, f"sip:{u}@{DOMAIN}") is owner][:2]
            check(len(same) == 2, "no two users found whose key dora's owner holds")
            for user in same:
                Phone(phones.raw_phone(user), user, "x").register(n2, answer=False)
            box.wait(2)
            time.sleep(1.5)
            check(len(box.mails) == 2, f"{len(box.mails)} mails: the third sign-up from one address was mailed")
            check(any("sign-ups from it this hour" in n.log() for n in nodes), "the refused sign-up was not logged")
            log("a second REGISTER mails nothing; the third sign-up from 127.0.0.1 this hour is refused")

            owner.kill9()
            alive = [n for n in nodes if n is not owner]
            ringlib.wait_consistent(alive, 20, what="the ring without dora's owner",
                                    parts=("predecessor", "successors"))
            _, final, _ = dora.register(alive[0])
            check(final and status_line(final) == "SIP/2.0 200 OK", f"dora after kill -9 of {owner.name}: {final}")
            log(f"kill -9 of {owner.name} (dora's owner): she still signs in")
    finally:
        box.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
