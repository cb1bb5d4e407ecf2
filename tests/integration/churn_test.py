#!/usr/bin/env python3
"""Churn under load (issue 16): real daemons on loopback.

An 8-node ring (stabilization every second, k = 3 replicas). 2,000 users
register through n1 with sipp; one sipp UAS answers for all of them (they
all registered its port). Two sipp UACs make steady traffic to random
users: MESSAGEs through n1 at 20/s and calls (INVITE to BYE) through n2
at 4/s. n1 and n2 are the phones' own nodes and stay up; the others churn:

  steady   15 s of traffic on the whole ring: >= 99% succeed.
  kill     3 of the 8 nodes (37%) get kill -9 at once. No traffic is
           counted for 2 stabilization intervals (the failover window).
  churn    then, for a minute of traffic, a node joins or leaves (SIGTERM,
           graceful) every 5 s, never fewer than 5 up: >= 99% of the
           MESSAGEs and calls succeed.
  after    the ring is exact (every node's predecessor and successor list
           true for the nodes up), and every one of the 2,000 bindings is
           still found (each had 4 copies, so a live one, when 3 died).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import random
import threading
import time

import ringlib
import sipplib
from ringlib import check, log

USERS = 2000
STABILIZE_MS = 1000
MSG_RATE, CALL_RATE = 20, 4
STEADY_S, CHURN_S, CHURN_EVERY_S = 15, 60, 5
MIN_SHARE = 0.99


def traffic(ph, nodes, csv, seconds, tag):
    """Starts the two UACs for `seconds` of traffic; returns them."""
    extra = ("-inf", csv)
    m = ph.sipp(f"{tag}-msg", "churn_message.xml", nodes[0], calls=MSG_RATE * seconds, rate=MSG_RATE,
                timeout=seconds + 30, extra=extra)
    c = ph.sipp(f"{tag}-call", "churn_call.xml", nodes[1], calls=CALL_RATE * seconds, rate=CALL_RATE,
                timeout=seconds + 30, extra=extra)
    return m, c


def finish(uacs, seconds, what):
    """Waits for the UACs; checks and returns (ok, failed) summed."""
    total_ok = total_failed = 0
    parts = []
    for u in uacs:
        u.wait(seconds + 40)
        ok, failed = u.counts()
        total_ok, total_failed = total_ok + ok, total_failed + failed
        parts.append(f"{u.name}: {ok} ok, {failed} failed")
    share = total_ok / max(1, total_ok + total_failed)
    log(f"{what}: {total_ok} of {total_ok + total_failed} requests succeeded ({share:.2%}); " + "; ".join(parts))
    check(share >= MIN_SHARE, f"{what}: only {share:.2%} of the requests succeeded (at least {MIN_SHARE:.0%} must)\n"
                              + "\n".join(u.tail(1500) for u in uacs))
    return total_ok, total_failed


def body(args):
    rnd = random.Random(16)
    # Record-Route: sipp's UAS sends every answer of a call to where the
    # INVITE came from, so the BYE must come the same way (the owner).
    cfg = {"limits": {"per_source_rate": 0}, "proxy": {"record_route": True}}
    with ringlib.Cluster(args.sippeer, name="sippeer-churn") as cl, sipplib.Phones(cl) as ph:
        nodes = sipplib.start_ring(cl, 8, config=cfg, stabilize_ms=STABILIZE_MS, log_level="info")
        csv = sipplib.users_csv(os.path.join(cl.dir, "users.csv"), "c", USERS, "RANDOM")
        reg_csv = sipplib.users_csv(os.path.join(cl.dir, "users-seq.csv"), "c", USERS)

        port = ringlib.free_port()
        reg = ph.sipp("register", "churn_register.xml", nodes[0], port=port, calls=USERS, rate=400,
                      timeout=60, extra=("-inf", reg_csv))
        reg.expect_all(USERS, 70, f"registering {USERS} users through n1")
        log(f"{USERS} users registered through n1, contact port {port}")
        uas = ph.sipp("uas", "churn_uas.xml", None, port=port, calls=10 ** 6, timeout=600)
        time.sleep(0.5)
        check(uas.alive(), f"the phones' UAS exited at once\n{uas.tail()}")

        # ---- steady
        finish(traffic(ph, nodes, csv, STEADY_S, "steady"), STEADY_S, f"steady, ring of 8 ({STEADY_S} s)")

        # ---- kill -9 of 3 nodes at once
        victims = rnd.sample(nodes[2:], 3)
        for v in victims:
            v.signal(9)
        for v in victims:
            v.exit_code = v.proc.wait(timeout=5)
        live = [n for n in nodes if n not in victims]
        log(f"kill -9 of {', '.join(v.name for v in victims)} at once; "
            f"{2 * STABILIZE_MS / 1000:.0f} s of failover window")
        time.sleep(2 * STABILIZE_MS / 1000)

        # ---- churn under traffic
        uacs = traffic(ph, nodes, csv, CHURN_S, "churn")
        events, joined, t_end = [], 0, time.monotonic() + CHURN_S
        while time.monotonic() + CHURN_EVERY_S < t_end:
            time.sleep(CHURN_EVERY_S)
            leavers = [n for n in live if n not in nodes[:2]]
            if len(events) % 2 == 0 or len(live) <= 5:
                joined += 1
                n = cl.add(f"j{joined}", bootstrap=[nodes[0]], config=cfg, stabilize_ms=STABILIZE_MS,
                           log_level="info")
                n.wait_joined(15)
                live.append(n)
                events.append(f"+{n.name}")
            else:
                n = rnd.choice(leavers)
                code = n.stop(grace=10)
                check(code == 0, f"{n.name} exited with {code} on SIGTERM")
                live.remove(n)
                events.append(f"-{n.name}")
        log(f"churn: {' '.join(events)} (every {CHURN_EVERY_S} s); {len(live)} nodes up")
        finish(uacs, CHURN_S, f"churn ({CHURN_S} s)")

        # ---- the ring and the bindings afterwards
        took = ringlib.wait_consistent(live, 3 * STABILIZE_MS / 1000 + 5, what=f"an exact ring of {len(live)}",
                                       parts=("predecessor", "successors"))
        log(f"the ring of {len(live)} is exact ({took:.1f} s after the traffic ended)")
        lost = []
        for i in range(USERS):
            aor = f"sip:c{i:05d}@{sipplib.DOMAIN}"
            code, j = sipplib.lookup(live[i % len(live)], aor)
            found = j.get("bindings", []) if isinstance(j, dict) else []
            if code != 200 or not any(f"127.0.0.1:{port}" in b for b in found):
                lost.append(f"{aor}: {code} {found}")
        check(not lost, f"{len(lost)} of {USERS} bindings lost: {lost[:5]}")
        log(f"all {USERS} bindings found, looked up through every node up")
        uas.stop()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
