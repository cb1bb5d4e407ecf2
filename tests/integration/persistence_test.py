#!/usr/bin/env python3
"""Rejoining through the peer cache (report 3.3.2: "Once the node starts up
it caches other peers addresses for subsequent reboots").

A starts a ring (-N); B and C join through A, each with its own state dir.
Once the ring is consistent:
  1. C leaves gracefully (SIGTERM): exit 0, and state_dir/peers lists the
     other two nodes;
  2. A is killed (-9);
  3. C is restarted with the same state dir, the same port (so the same
     id) and --bootstrap pointing at A's dead address, --no-multicast.
     The bootstrap peer does not answer (its address swallows datagrams,
     like a dead host), so C must rejoin through a peer
     from its cache: /status "discovery" == "cache", and the ring {B, C}
     becomes consistent.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import signal
import socket

import ringlib
from ringlib import check, log

STABILIZE_MS = 300
REQUEST_TIMEOUT_MS = 600


def body(args):
    config = {"overlay": {"request_timeout_ms": REQUEST_TIMEOUT_MS}}
    with ringlib.Cluster(args.sippeer, "persistence", keep=args.keep) as cl:
        common = dict(stabilize_ms=STABILIZE_MS, config=config)
        a = cl.add("A", new_ring=True, **common)
        a.wait_joined()
        b = cl.add("B", bootstrap=[a], **common)
        b.wait_joined()
        c = cl.add("C", bootstrap=[a], **common)
        c.wait_joined()
        took = ringlib.wait_consistent([a, b, c], 3 * STABILIZE_MS / 1000 + 2, what="ring {A, B, C}")
        log(f"ring {{A, B, C}} consistent after {took:.2f} s")
        c_id = c.status()["node"]["id"]

        # 1. C leaves and writes its peer cache.
        c.signal(signal.SIGTERM)
        code = c.proc.wait(timeout=3 * REQUEST_TIMEOUT_MS / 1000 + 3)
        check(code == 0, f"C exited with {code} after SIGTERM, expected 0")
        cache = os.path.join(c.state_dir, "peers")
        check(os.path.isfile(cache), f"C left no peer cache at {cache}")
        with open(cache) as f:
            peers = [line.strip() for line in f if line.strip()]
        log(f"C left; its peer cache: {peers}")
        check(b.address in peers, f"C's peer cache {peers} does not list B ({b.address})")
        check(a.address in peers, f"C's peer cache {peers} does not list A ({a.address})")
        check(c.address not in peers, f"C's peer cache {peers} lists C itself")

        # 2. A crashes. A dead host sends no ICMP port-unreachable, so a
        # socket bound to A's address swallows what is sent there: C's
        # request to A must time out (overlay.request_timeout_ms).
        a.kill9()
        black_hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        black_hole.bind((a.listen, a.sip_port))
        log("A killed -9; its address now swallows datagrams")

        # 3. C comes back, told to bootstrap through the dead A.
        args_c = [x for x in c.args]
        i = args_c.index("--bootstrap")
        check(args_c[i + 1] == a.address, "C was started with --bootstrap A")
        check("--no-multicast" in args_c, "C runs without multicast")
        cl.restart(c)
        st, took = c.wait_joined(timeout=4 * REQUEST_TIMEOUT_MS / 1000 + 10)
        log(f"C restarted and joined in {took:.2f} s (discovery {st['discovery']!r})")
        check(st["node"]["id"] == c_id, f"C's id changed across the restart: {c_id} -> {st['node']['id']}")
        check(st["discovery"] == "cache", f"C's discovery is {st['discovery']!r}, expected 'cache'")
        bound = 3 * STABILIZE_MS / 1000 + REQUEST_TIMEOUT_MS / 1000 + 2
        took = ringlib.wait_consistent([b, c], bound, what="ring {B, C}")
        log(f"ring {{B, C}} consistent {took:.2f} s after C joined")
        black_hole.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
