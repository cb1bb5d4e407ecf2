#!/usr/bin/env python3
"""User aliases (issue 17, report 5.6): a binding whose contact is another
AOR of the ring is looked up in the ring, not in DNS, with loop
protection.

Ring of 3, proxy.p2p_domains [example.com], proxy.lookup parallel (so a
contact that went to DNS would fail: the tests' resolver refuses at once).

1. alice registers her phone (a raw UDP socket). Two aliases register
   Contact: <sip:alice@example.com>: one whose key another node owns (the
   request crosses the ring a second time, to alice's registrar) and one
   whose key alice's registrar owns too (it forks to alice's phone
   itself). A MESSAGE from carol to each reaches alice's phone with the
   alias's Request-URI replaced by alice's contact; carol gets the 200.
2. A loop: dan's contact is erin's AOR and erin's is dan's. A MESSAGE to
   dan gets a final error (no hang), and every node is alive.
3. kill -9 of the first alias's registrar: once the ring has healed, a
   MESSAGE to that alias still reaches alice (the alias binding's replica).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

CONFIG = {"proxy": {"p2p_domains": ["example.com"]}, "overlay": {"request_timeout_ms": 600}}


def register(phone, node, user, contact=True):
    req = phone.request("REGISTER", "sip:example.com", to=f"<sip:{user}@example.com>",
                        frm=f"<sip:{user}@example.com>", extra="Expires: 600", contact=contact)
    _, final = phone.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"registering {user} through {node.name}: {final}")


def message_reaches(sender, node, to_user, receiver, text):
    """carol's MESSAGE to to_user reaches `receiver`, which answers 200;
    returns the request as received."""
    req = sender.request("MESSAGE", f"sip:{to_user}@example.com", to=f"<sip:{to_user}@example.com>", body=text)
    sender.send(node, req)
    got = receiver.recv(5, lambda m: m.startswith("MESSAGE ") and text in m)
    check(got is not None, f"the MESSAGE to {to_user} did not reach alice's phone")
    receiver.reply_to(got, None, 200, "OK")
    final = sender.recv(5, lambda m: m.startswith("SIP/2.0 ") and int(m.split()[1]) >= 200 and
                        "MESSAGE" in (header(m, "CSeq") or ""))
    check(final and status_line(final) == "SIP/2.0 200 OK", f"carol's MESSAGE to {to_user} got {final}")
    return got


def body(args):
    with ringlib.Cluster(args.sippeer, "alias", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 3, config=CONFIG, stabilize_ms=300, log_level="info")
        alice_owner = sipplib.owner_of(nodes, "sip:alice@example.com")
        names = [f"alias{i}" for i in range(60)]
        far = next(n for n in names if sipplib.owner_of(nodes, f"sip:{n}@example.com") is not alice_owner)
        near = next(n for n in names if sipplib.owner_of(nodes, f"sip:{n}@example.com") is alice_owner)
        far_owner = sipplib.owner_of(nodes, f"sip:{far}@example.com")
        entry = next(n for n in nodes if n is not far_owner and n is not alice_owner) \
            if len({far_owner.name, alice_owner.name}) == 2 else nodes[0]
        log(f"alice's registrar {alice_owner.name}; {far} owned by {far_owner.name}, {near} by "
            f"{alice_owner.name}; carol enters at {entry.name}")

        # ---- 1. aliases
        alice = phones.raw_phone("alice")
        register(alice, entry, "alice")
        other = phones.raw_phone("x")
        for name in (far, near):
            register(other, entry, name, contact="<sip:alice@example.com>")
        carol = phones.raw_phone("carol")
        for name in (far, near):
            got = message_reaches(carol, entry, name, alice, f"hello {name}")
            check(got.split(" ", 2)[1].startswith(f"sip:alice@{alice.address}"),
                  f"the MESSAGE to {name} reached alice with Request-URI {got.split(' ', 2)[1]}")
        # Entering at alice's registrar: the request leaves it for the
        # alias's registrar and comes back retargeted (a spiral, not a loop).
        message_reaches(carol, alice_owner, far, alice, f"spiral {far}")
        log(f"MESSAGEs to {far} (across the ring to alice's registrar) and {near} (forked by alice's "
            f"registrar itself) reached alice's phone; carol got 200s; entering at alice's registrar, the "
            f"request to {far} spiralled back through it")

        # ---- 2. a loop
        register(other, entry, "dan", contact="<sip:erin@example.com>")
        register(other, entry, "erin", contact="<sip:dan@example.com>")
        req = carol.request("MESSAGE", "sip:dan@example.com", to="<sip:dan@example.com>", body="round and round")
        t0 = time.monotonic()
        _, final = carol.transact(entry, req, timeout=10)
        check(final is not None and not status_line(final).startswith("SIP/2.0 2"),
              f"a MESSAGE to dan (dan -> erin -> dan) was answered {final}")
        for n in nodes:
            check(n.alive(), f"{n.name} died on the alias loop")
        log(f"alias loop dan -> erin -> dan: {status_line(final)} after {time.monotonic() - t0:.2f} s; nodes alive")

        # ---- 3. the alias's registrar dies
        time.sleep(0.5)
        far_owner.kill9()
        survivors = [n for n in nodes if n is not far_owner]
        ringlib.wait_consistent(survivors, 10, what="the ring without the alias's registrar",
                                parts=("predecessor", "successors"))
        if alice_owner is far_owner:
            register(alice, survivors[0], "alice")
        message_reaches(carol, survivors[0], far, alice, f"after the kill {far}")
        log(f"kill -9 of {far_owner.name}: a MESSAGE to {far} still reaches alice")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
