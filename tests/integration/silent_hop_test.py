#!/usr/bin/env python3
"""Silence through a ring hop: a slow phone is not a dead node; a frozen node is.

Ring of 3 (overlay.request_timeout_ms 1000). bob has one phone, which
takes every request and never answers (a phone that vanished without a
trace: its port is still open, so no ICMP error comes back). alice
subscribes to bob's presence through a node that does not own bob's key.
A SUBSCRIBE starts a dialog, so that node relays it with a transaction
and waits for the ring hop to answer; the hop relays it without one, so
no 100 Trying comes back, only silence.

1. Silence from a live hop: the edge must not take the hop for dead. It
   asks the ring to probe the hop (sippeer_peer_checks_total grows); the
   hop answers the probe; nobody is marked dead
   (sippeer_failures_detected_total stays 0) and the ring keeps its three
   members. The SUBSCRIBE reached bob's phone once.
2. Silence from a frozen hop: the owner is stopped (SIGSTOP: its port
   stays open, so no ICMP tells anyone). alice subscribes again. The
   edge's hop timer asks for a probe, the probe goes unanswered, the
   ring marks the owner dead, and the edge reroutes the SUBSCRIBE to the
   node that took over bob's key with the replica: bob's phone gets it
   within a few request timeouts, from that node.

Before the fix, step 1 marked the live hop dead (on each such request),
and step 2 relied on that same verdict.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import signal
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header

REQUEST_TIMEOUT_MS = 1000  # a busy CI machine must not stall a probe past it



def subscribe(alice, node, n):
    ruri = f"sip:bob@{sipplib.DOMAIN}"
    text = alice.request("SUBSCRIBE", ruri, to=f"<{ruri}>", call_id=f"silent{n}x{alice.port}@127.0.0.1",
                         extra="Event: presence\nExpires: 600")
    alice.send(node, text if "\r\n" in text else text.replace("\n", "\r\n"))
    return header(text, "Call-ID")


def body(args):
    config = {"overlay": {"request_timeout_ms": REQUEST_TIMEOUT_MS},
              "sip": {"transaction_lifetime_ms": 8 * REQUEST_TIMEOUT_MS + 2000},
              "proxy": {"p2p_domains": [sipplib.DOMAIN]}}
    with ringlib.Cluster(args.sippeer, "silent-hop", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config)
        ringlib.wait_consistent(ring, 10, what="a ring of 3 with its fingers")
        bob = ph.raw_phone("bob")
        reg = bob.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                          call_id=f"reg-bob-{bob.port}", extra="Expires: 600")
        _, final = bob.transact(ring[0], reg)
        check(final is not None and final.startswith("SIP/2.0 200"), f"registering bob: {final!r}")
        owner = sipplib.owner_of(ring, f"sip:bob@{sipplib.DOMAIN}")
        ids = {n.name: ringlib.id_of(n.status()["node"]) for n in ring}
        model = ringlib.RingModel(list(ids.values()), 160)
        heir_id = model.successor_list(ids[owner.name])[0]
        heir = next(n for n in ring if ids[n.name] == heir_id)
        # The edge: not the owner, and the owner is its next hop towards
        # bob's key (its successor or the owner's predecessor: in a ring
        # of 3, either other node routes straight to the owner).
        edge = next(n for n in ring if n is not owner and n is not heir)
        ringlib.wait_until(lambda: heir.status()["stored"]["replicas"] >= 1, 10,
                           what=f"{heir.name} to hold bob's replica")
        log(f"bob's key is owned by {owner.name}; {heir.name} holds the replica; alice subscribes through "
            f"{edge.name}")
        alice = ph.raw_phone("alice")

        # 1. A live hop, a silent phone behind it.
        checks_before = ringlib.metric(edge, "sippeer_peer_checks_total")
        subscribe(alice, edge, 1)
        got = bob.recv(3, lambda m: m.startswith("SUBSCRIBE "))
        check(got is not None, "bob's phone never received the first SUBSCRIBE")
        time.sleep(6 * REQUEST_TIMEOUT_MS / 1000)  # several hop timeouts of silence
        checks = ringlib.metric(edge, "sippeer_peer_checks_total") - checks_before
        check(checks >= 1, f"{edge.name} probed no hop after {6 * REQUEST_TIMEOUT_MS} ms of silence "
                           "(sippeer_peer_checks_total did not grow)")
        ringlib.check_nobody_marked_dead(ring, "because a phone was silent")
        again = bob.recv(0.5, lambda m: m.startswith("SUBSCRIBE ") and "silent1x" in (header(m, "Call-ID") or ""))
        check(again is None or header(again, "Via") == header(got, "Via"),
              "the SUBSCRIBE reached bob a second time by another path (a reroute)")
        log(f"{edge.name} probed its silent hop {checks:.0f} time(s); nobody was marked dead")

        # 2. A frozen hop: stopped, its port still open.
        owner.signal(signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            subscribe(alice, edge, 2)
            got2 = bob.recv(8 * REQUEST_TIMEOUT_MS / 1000 + 4,
                            lambda m: m.startswith("SUBSCRIBE ") and "silent2x" in (header(m, "Call-ID") or ""))
            took = time.monotonic() - stopped
            check(got2 is not None, f"the SUBSCRIBE through {edge.name} never reached bob with {owner.name} frozen")
            via = header(got2, "Via") or ""
            check(heir.address in via, f"the rerouted SUBSCRIBE came to bob from {via!r}, not from {heir.name} "
                                       f"({heir.address}), which took bob's key over")
            check(ringlib.metric(edge, "sippeer_failures_detected_total") >= 1,
                  f"{edge.name} never marked the frozen {owner.name} dead")
            log(f"with {owner.name} frozen, the SUBSCRIBE reached bob through {heir.name} {took:.2f} s after "
                f"it was sent ({took * 1000 / REQUEST_TIMEOUT_MS:.1f} request timeouts)")
        finally:
            owner.signal(signal.SIGCONT)


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
