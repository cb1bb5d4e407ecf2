#!/usr/bin/env python3
"""A MESSAGE forked to two contacts that both answer 200 (RFC 3261 16.7, 17.2.2).

Ring of 3. bob registers two contacts (two sipp UASes that answer every
MESSAGE with 200) through two nodes; alice sends MESSAGES messages to bob
through a third node. The owner forks each to both contacts, so it gets
two 200s for one server transaction. A non-INVITE server transaction
sends one final answer (17.2.2: others are discarded), so for every
message:
  - both contacts receive it;
  - alice gets exactly one 200 (sipp fails the call on a second one,
    which arrives as an unexpected message);
and every node is still alive once the owner's client transactions have
ended (Timer K, T4 = 5 s, after the last answer) and its server
transactions too (Timer J, sip.transaction_lifetime_ms: 5 s here).

This is the regression test of a crash: the owner relayed the second 200
as well, and Sofia's nta (the Debian 2011 snapshot) took that reply's
transport without a reference and released it, so the UDP transport's
reference count sank by one per forked MESSAGE until the transport was
freed and the node died of a segmentation fault five seconds later.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header

MESSAGES = 20


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    config = {"sip": {"transaction_lifetime_ms": 5000}, "overlay": {"request_timeout_ms": 300}}
    with ringlib.Cluster(args.sippeer, "forking-message", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config)
        owner = sipplib.owner_of(ring, "sip:bob@example.com")
        others = [n for n in ring if n is not owner]
        log(f"ring of 3 up; bob's key is owned by {owner.name}")
        port_a, port_b, port_alice = ringlib.free_port(), ringlib.free_port(), ringlib.free_port()
        ph.register("bob-A", "bob", others[0], port_a)
        ph.register("bob-B", "bob", others[1], port_b)
        code, lk = sipplib.lookup(owner, "sip:bob@example.com")
        bindings = lk.get("bindings", []) if isinstance(lk, dict) else []
        check(len(bindings) == 2, f"/lookup of bob: {len(bindings)} bindings {bindings}, expected 2")

        uas_a = ph.sipp("bob-A-uas", "uas_message.xml", None, port=port_a, calls=MESSAGES, timeout=60)
        uas_b = ph.sipp("bob-B-uas", "uas_message.xml", None, port=port_b, calls=MESSAGES, timeout=60)
        time.sleep(0.3)
        check(uas_a.alive() and uas_b.alive(), f"a UAS exited at once\n{uas_a.tail()}\n{uas_b.tail()}")
        sender = others[0]
        uac = ph.sipp("alice-uac", "uac_message.xml", sender, port=port_alice, calls=MESSAGES, rate=10,
                      timeout=60)
        uac.expect_all(MESSAGES, 60, f"{MESSAGES} MESSAGEs alice -> bob through {sender.name}")
        uas_a.expect_all(MESSAGES, 20, "bob-A receiving every forked MESSAGE")
        uas_b.expect_all(MESSAGES, 20, "bob-B receiving every forked MESSAGE")
        log(f"{MESSAGES} MESSAGEs forked by {owner.name} to both of bob's contacts, each answered 200 twice")

        got = [m for m in uac.received() if m.startswith("SIP/2.0 200")]
        per_call = {}
        for m in got:
            per_call[header(m, "Call-ID")] = per_call.get(header(m, "Call-ID"), 0) + 1
        twice = {c: n for c, n in per_call.items() if n > 1}
        check(len(per_call) == MESSAGES and not twice,
              f"alice got 200s for {len(per_call)} of {MESSAGES} MESSAGEs; more than one for {twice}")
        log("alice got exactly one 200 per MESSAGE")

        # Past Timer K of the last branches and Timer J of the last server
        # transactions: the crash came when nta freed them.
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            for n in ring:
                check(n.alive(), f"{n.name} died after the forked MESSAGEs\n{n.log()[-3000:]}")
            time.sleep(0.25)
        for n in ring:
            n.status()  # answers: its loop runs
        log("all 3 nodes alive 7 s after the last MESSAGE")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
