#!/usr/bin/env python3
"""Parallel forking to two contacts of one AOR (RFC 3261 16.6-16.7, 16.10).

Ring of 4, proxy.record_route on. bob registers two contacts, each from
its own sipp (own port, own Call-ID), through two different nodes:

  bob-A  answers: INVITE -> 180, 200 (after 200 ms)        (uas_call.xml)
  bob-B  only rings: INVITE -> 180; then it must get CANCEL,
         answer it 200 and the INVITE 487, and get the ACK   (uas_ring_cancel.xml)

A sipp UAC (alice) calls sip:bob@example.com through a node that does not
own bob's key, CALLS times. For every call:
  - both contacts receive the INVITE (the owner forks to both);
  - the caller gets bob-A's 200 and completes ACK/BYE (call succeeds);
  - bob-B receives a CANCEL for the same branch as its INVITE (from the
    owner), answers 200 and 487, and receives the ACK for the 487;
  - the caller never sees the 487 (the proxy absorbs it once a 2xx went
    upstream).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header

CALLS = 3


def branch_of(text):
    m = re.search(r"branch=([^;,\s]+)", header(text, "Via") or "")
    return m.group(1) if m else None


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    config = {"proxy": {"record_route": True}}
    with ringlib.Cluster(args.sippeer, "forking", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 4, config=config)
        owner = sipplib.owner_of(ring, "sip:bob@example.com")
        others = [n for n in ring if n is not owner]
        log(f"ring of 4 up; bob's key is owned by {owner.name}")
        port_a, port_b, port_alice = ringlib.free_port(), ringlib.free_port(), ringlib.free_port()
        ph.register("bob-A", "bob", others[0], port_a)
        ph.register("bob-B", "bob", others[1], port_b)
        code, lk = sipplib.lookup(others[2], "sip:bob@example.com")
        bindings = lk.get("bindings", []) if isinstance(lk, dict) else []
        for p in (port_a, port_b):
            check(any(f"sip:bob@127.0.0.1:{p}>" in b for b in bindings),
                  f"/lookup of bob after two registrations: {code} {lk}; contact port {p} missing")
        check(len(bindings) == 2, f"/lookup of bob: {len(bindings)} bindings {bindings}, expected 2")
        log(f"bob has two contacts: ports {port_a} (answers) and {port_b} (only rings)")

        uas_a = ph.sipp("bob-A-uas", "uas_call.xml", None, port=port_a, calls=CALLS, timeout=30)
        uas_b = ph.sipp("bob-B-uas", "uas_ring_cancel.xml", None, port=port_b, calls=CALLS, timeout=30)
        time.sleep(0.3)
        check(uas_a.alive() and uas_b.alive(), f"a UAS exited at once\n{uas_a.tail()}\n{uas_b.tail()}")
        caller = others[2]
        uac = ph.sipp("alice-uac", "uac_call.xml", caller, port=port_alice, calls=CALLS, rate=2, timeout=30)
        took = uac.expect_all(CALLS, 35, f"{CALLS} forked calls alice -> bob through {caller.name}")
        log(f"{CALLS} calls through {caller.name}: all answered by bob-A and completed ({took:.1f} s)")
        uas_a.expect_all(CALLS, 10, "bob-A answering every forked call")

        problems = []
        try:
            uas_b.expect_all(CALLS, 10, "bob-B: INVITE, 180, CANCEL, 200, 487, ACK for every call")
        except ringlib.TestFailure as e:
            problems.append(str(e))

        got_a = uas_a.received()
        got_b = uas_b.received()
        inv_a = [m for m in got_a if m.startswith("INVITE ")]
        inv_b = [m for m in got_b if m.startswith("INVITE ")]
        cancels = [m for m in got_b if m.startswith("CANCEL ")]
        acks_b = [m for m in got_b if m.startswith("ACK ")]
        calls_a = {header(m, "Call-ID") for m in inv_a}
        calls_b = {header(m, "Call-ID") for m in inv_b}
        if len(calls_a) != CALLS or calls_a != calls_b:
            problems.append(f"the forks: bob-A got INVITEs of {len(calls_a)} calls, bob-B of {len(calls_b)}; "
                            f"both must get all {CALLS} (A only: {calls_a - calls_b}, B only: {calls_b - calls_a})")
        inv_branch = {header(m, "Call-ID"): branch_of(m) for m in inv_b}
        for c in cancels:
            cid = header(c, "Call-ID")
            if branch_of(c) != inv_branch.get(cid):
                problems.append(f"CANCEL for call {cid}: branch {branch_of(c)}, its INVITE's {inv_branch.get(cid)}")
            if not (header(c, "Via") or "").startswith(f"SIP/2.0/UDP {owner.address};"):
                problems.append(f"CANCEL for call {cid} came from {header(c, 'Via')}, not from the owner {owner.address}")
        if len({header(c, "Call-ID") for c in cancels}) != CALLS:
            problems.append(f"bob-B received CANCELs for {len({header(c, 'Call-ID') for c in cancels})} calls, "
                            f"expected {CALLS}")
        sent_b = uas_b.messages()
        n487 = len(re.findall(r"message sent \(\d+ bytes\):\s*\n\s*SIP/2\.0 487 ", sent_b))
        if n487 < CALLS:
            problems.append(f"bob-B sent {n487} 487s, expected {CALLS}")
        if len({header(a, "Call-ID") for a in acks_b}) != CALLS:
            problems.append(f"bob-B received ACKs (for its 487) in {len(acks_b)} calls, expected {CALLS}")
        seen_by_caller = [sipplib.status_line(m) for m in uac.received() if m.startswith("SIP/2.0 487")]
        if seen_by_caller:
            problems.append(f"the caller received {seen_by_caller}: the 487 of a canceled fork must not go upstream")
        if not problems:
            log(f"every call forked to both contacts; bob-B got {len(cancels)} CANCELs from {owner.name} "
                f"(same branch as its INVITE), answered 487 and got the ACK; the caller saw no 487")
        for n in ring:
            check(n.alive(), f"{n.name} died")
        if problems:
            raise ringlib.TestFailure("\n".join(problems))


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
