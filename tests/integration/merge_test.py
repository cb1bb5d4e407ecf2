#!/usr/bin/env python3
"""A small ring that later finds a bigger ring joins it (issue 3,
discovery step 4), and keeps the registrations made while it was apart.

Ring A (2 nodes) starts while ring B is not up yet: A1's only bootstrap
peer is B1's address, which nobody answers, so A1 starts a ring of its
own; A2 joins through A1. A phone registers alice through A1.
Then ring B (3 nodes) starts: B1 with -N, B2 and B3 through B1.

Every discovery.rediscover_s, a node of a small ring sends the discovery
REGISTER to its bootstrap peers; B1 answers with a 302 that says its ring
has 3 nodes, so A's nodes move into B one by one. Checked:
  - the five nodes form one consistent ring;
  - A1 and A2 report discovery "merge";
  - alice's binding, registered in A, is found from B3;
  - B's nodes never moved (a smaller ring's answer does not pull them).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import urllib.parse

import ringlib
from ringlib import check, log

STABILIZE_MS = 300
REDISCOVER_S = 10  # the smallest the schema allows


def body(args):
    config = {
        "overlay": {"request_timeout_ms": 600},
        "discovery": {"rediscover_s": REDISCOVER_S, "multicast_timeout_ms": 500},
    }
    with ringlib.Cluster(args.sippeer, "merge", keep=args.keep) as cl:
        common = dict(stabilize_ms=STABILIZE_MS, config=config)
        b1_port = ringlib.free_port()
        b1_address = f"{ringlib.LOCALHOST}:{b1_port}"

        a1 = cl.add("A1", bootstrap=[b1_address], **common)
        st, _ = a1.wait_joined(timeout=15)
        check(st["discovery"] == "none" or st["successors"][0]["uri"].find(a1.address) >= 0,
              f"A1 should have started alone: {st}")
        a2 = cl.add("A2", bootstrap=[b1_address, a1.address], **common)
        a2.wait_joined(timeout=15)
        ringlib.wait_consistent([a1, a2], 5, what="ring A {A1, A2}")
        log("ring A {A1, A2} is up; B1's address is still silent")

        with ringlib.SipClient() as phone:
            req = phone.register(a1, "<sip:alice@merge.test>", "<sip:alice@merge.test>",
                                 "Contact: <sip:alice@127.0.0.1:7001>\nExpires: 600\n")
            got = phone.exchange(a1, req, wait=3, until_final=True)
            finals = [g for g in got if not g.startswith("SIP/2.0 1")]
            check(finals and ringlib.status_code(finals[0]) == 200, f"REGISTER alice through A1: {got}")
        log("alice registered in ring A")

        b1 = cl.add("B1", new_ring=True, sip_port=b1_port, **common)
        b1.wait_joined()
        b2 = cl.add("B2", bootstrap=[b1], **common)
        b2.wait_joined()
        b3 = cl.add("B3", bootstrap=[b1], **common)
        b3.wait_joined()
        ringlib.wait_consistent([b1, b2, b3], 5, what="ring B {B1, B2, B3}")
        b_ids = {n.name: n.status()["node"]["id"] for n in (b1, b2, b3)}
        log("ring B {B1, B2, B3} is up; waiting for A to move into it")

        everyone = [a1, a2, b1, b2, b3]
        took = ringlib.wait_consistent(everyone, 3 * REDISCOVER_S + 15, what="one ring of five")
        log(f"one consistent ring of five {took:.1f} s after B was up")
        for n in (a1, a2):
            d = n.status()["discovery"]
            check(d == "merge", f"{n.name} reports discovery {d!r}, expected 'merge'")
        for n in (b1, b2, b3):
            st = n.status()
            check(st["node"]["id"] == b_ids[n.name] and st["discovery"] != "merge",
                  f"{n.name} moved although its ring was the bigger one: {st['discovery']}")
            check("ring: moving" not in n.log(), f"{n.name} logged a move")

        aor = urllib.parse.quote("sip:alice@merge.test", safe="")

        def found():
            code, j = ringlib.http_get(ringlib.LOCALHOST, b3.admin_port, f"/lookup?aor={aor}")
            return code == 200 and any("127.0.0.1:7001" in b for b in j.get("bindings", []))
        ringlib.wait_until(found, 10, what="alice's binding found from B3")
        log("alice's binding, registered in ring A, is found from B3")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
