#!/usr/bin/env python3
"""Multicast discovery (report 3.3.2) between two daemons in a network
namespace of the test's own (root only; CI runs as root).

Neither node gets --bootstrap or --no-multicast. The second one sends
REGISTER sip:224.0.1.75, a ring member answers 302 with its unicast
address, and the second joins through it: its /status says
"discovery": "multicast" and the ring of two is consistent.

Two cases, each in a fresh namespace:
  1. the first node is started with -N, as the first node of a planned
     deployment (-N means "do not look for a ring", not "be invisible");
  2. the first node is started without -N: it finds nobody within
     discovery.multicast_timeout_ms and starts a ring of its own.
  3. a merge: A starts alone; later a ring of two (B1 with -N, B2 through
     B1) comes up without hearing of A. At A's next rediscovery
     (discovery.rediscover_s) its multicast REGISTER is answered by B1
     with a 302 saying "ring-size=2", and A moves into the bigger ring:
     its discovery becomes "merge" and the ring of three is consistent.
  4. overlay.secret (issue 14): A and B hold the key, C none, D another
     key. B joins A's ring by multicast; C and D send their multicast
     REGISTERs too but nobody answers them (A logs why, once each), so
     they start rings of their own; A and B list neither.
All are run and reported before the test fails.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import ringlib
from ringlib import check, log

PROBE_MS = 1000      # the second node's wait for a 302
FIRST_PROBE_MS = 300  # case 2: the first node's (unanswered) probe
STABILIZE_MS = 300


def run_case(args, new_ring):
    label = "first node with -N" if new_ring else "first node without -N"
    with ringlib.Netns("sippeer-mc") as ns, \
            ringlib.Cluster(args.sippeer, "multicast", keep=args.keep) as cl:
        a = cl.add("A", new_ring=new_ring, multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS,
                   config={"discovery": {"multicast_timeout_ms": FIRST_PROBE_MS}})
        a.wait_joined(timeout=FIRST_PROBE_MS / 1000 + 10)
        st = a.status()
        # -N does not look for a ring; without it A looked and nobody answered.
        want = "none" if new_ring else "alone"
        check(st["discovery"] == want, f"{label}: A's discovery is {st['discovery']!r}, expected {want!r}")
        b = cl.add("B", multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS,
                   config={"discovery": {"multicast_timeout_ms": PROBE_MS}})
        st, took = b.wait_joined(timeout=PROBE_MS / 1000 + 10)
        if st["discovery"] != "multicast":
            cl.failed = True
            raise ringlib.TestFailure(
                f"{label}: B did not join through multicast: its discovery is {st['discovery']!r} "
                f"(A at {a.address} never answered its REGISTER sip:224.0.1.75)")
        log(f"{label}: B joined through multicast in {took:.2f} s")
        check("answered the multicast REGISTER" in b.log(), f"{label}: B's log does not name the answer")
        check("302 to " + b.address in a.log(), f"{label}: A's log does not show the 302 to B")
        took = ringlib.wait_consistent([a, b], 3 * STABILIZE_MS / 1000 + 2, what=f"ring of two ({label})")
        log(f"{label}: ring of two consistent {took:.2f} s later")


def run_merge_case(args):
    with ringlib.Netns("sippeer-mc") as ns, \
            ringlib.Cluster(args.sippeer, "multicast-merge", keep=args.keep) as cl:
        cfg = {"discovery": {"multicast_timeout_ms": FIRST_PROBE_MS, "rediscover_s": 10}}
        a = cl.add("A", multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS, config=cfg)
        a.wait_joined(timeout=FIRST_PROBE_MS / 1000 + 10)
        b1 = cl.add("B1", new_ring=True, multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS)
        b1.wait_joined()
        # B2 neither sends nor hears multicast: it must not join A's ring.
        b2 = cl.add("B2", bootstrap=[b1], netns=ns.name, stabilize_ms=STABILIZE_MS)
        b2.wait_joined()
        ringlib.wait_consistent([b1, b2], 3 * STABILIZE_MS / 1000 + 2, what="ring {B1, B2}")
        check(a.status()["successors"][0]["uri"].find(a.address) >= 0, "A is not alone before the merge")
        took = ringlib.wait_consistent([a, b1, b2], 10 + 15, what="one ring of three after A's rediscovery")
        st = a.status()
        check(st["discovery"] == "merge", f"merge: A's discovery is {st['discovery']!r}, expected 'merge'")
        check("ring-size=2" in b1.log() or "302 to " + a.address in b1.log(), "merge: B1 never answered A")
        log(f"merge: A moved into ring {{B1, B2}} by multicast; consistent {took:.1f} s after B was up")


def run_secret_case(args):
    with ringlib.Netns("sippeer-mc") as ns, \
            ringlib.Cluster(args.sippeer, "multicast-secret", keep=args.keep) as cl:
        def cfg(secret):
            c = {"discovery": {"multicast_timeout_ms": PROBE_MS}}
            if secret:
                c["overlay"] = {"secret": secret}
            return c
        a = cl.add("A", new_ring=True, multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS, config=cfg("k-ring"))
        a.wait_joined()
        b = cl.add("B", multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS, config=cfg("k-ring"))
        st, _ = b.wait_joined(timeout=PROBE_MS / 1000 + 10)
        check(st["discovery"] == "multicast", f"secret: B (with the key) did not join by multicast: {st['discovery']!r}")
        c = cl.add("C", multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS, config=cfg(None))
        d = cl.add("D", multicast=True, netns=ns.name, stabilize_ms=STABILIZE_MS, config=cfg("k-other"))
        for n in (c, d):
            st, _ = n.wait_joined(timeout=PROBE_MS / 1000 + 10)
            check(st["discovery"] == "alone", f"secret: {n.name} should be alone, is {st['discovery']!r}")
        ringlib.wait_consistent([a, b], 3 * STABILIZE_MS / 1000 + 2, what="ring {A, B} with the key")
        outsiders = {c.address, d.address}
        for n in (a, b):
            st = n.status()
            known = {ringlib.uri_address(x["uri"]) for x in st["successors"]}
            check(not (known & outsiders), f"secret: {n.name} lists {known & outsiders}")
        check(f"not answering {c.address}: no P2P-Auth" in a.log(), "secret: A did not log why C got no answer")
        check(f"not answering {d.address}: wrong MAC" in a.log(), "secret: A did not log why D got no answer")
        log("secret: B joined by multicast with the key; C (no key) and D (another key) got no answer")


def body(args):
    ringlib.require_root("multicast_test (creates a network namespace)")
    failures = []
    for case in (lambda: run_case(args, False), lambda: run_case(args, True), lambda: run_merge_case(args),
                 lambda: run_secret_case(args)):
        try:
            case()
        except ringlib.TestFailure as e:
            print(f"case failed: {e}", flush=True)
            failures.append(str(e))
    if failures:
        raise ringlib.TestFailure("; ".join(failures))


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
