#!/usr/bin/env python3
"""A ring hop silent to a relayed REGISTER is probed, not dropped.

Ring of 3 (overlay.request_timeout_ms 1000). carol registers through a
node that does not own her key (the edge); the edge relays her REGISTER
to the owner without a transaction (stateless_relay.cpp) and watches for
the answer (HopWatch). An iptables rule on loopback drops the owner's
200s for carol to the edge, and nothing else: the owner is alive and
answers everything else, the ring's own REGISTERs and the probe among
them.

After 4 request timeouts of silence the edge must ask the ring to probe
the hop (Node::check_peer: sippeer_peer_checks_total grows, and the log
says so), the owner answers the probe, and nobody is marked dead
(sippeer_failures_detected_total stays 0 on every node; every successor
list keeps all three). Until 2026-12-06 that silence alone marked the
live owner dead. Once the rule is gone, carol's next REGISTER gets its
200 through the same edge.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import subprocess
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import is_final

REQUEST_TIMEOUT_MS = 1000
USER = "carolprobe"


def drop_rule(owner, edge):
    """iptables arguments matching the owner's 200s for carol to the edge."""
    return ["OUTPUT", "-o", "lo", "-p", "udp", "--sport", str(owner.sip_port), "--dport", str(edge.sip_port),
            "-m", "string", "--string", "SIP/2.0 200", "--algo", "bm",
            "-m", "string", "--string", f"{USER}@", "--algo", "bm", "-j", "DROP"]


def iptables(*args):
    r = subprocess.run(["iptables", *args], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, f"iptables {' '.join(args)}: {r.stderr.strip()}")


def body(args):
    ringlib.require_root("dropping one node's answers with iptables")
    config = {"overlay": {"request_timeout_ms": REQUEST_TIMEOUT_MS},
              "sip": {"transaction_lifetime_ms": 8 * REQUEST_TIMEOUT_MS + 2000},
              "proxy": {"p2p_domains": [sipplib.DOMAIN]}}
    with ringlib.Cluster(args.sippeer, "register-probe", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config, log_level="info")
        ringlib.wait_consistent(ring, 10, what="a ring of 3 with its fingers")
        owner = sipplib.owner_of(ring, f"sip:{USER}@{sipplib.DOMAIN}")
        # In a ring of 3 either other node routes straight to the owner.
        edge = next(n for n in ring if n is not owner)
        carol = ph.raw_phone(USER)

        def register(n):
            reg = carol.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:{USER}@{sipplib.DOMAIN}>",
                                call_id=f"reg-{USER}-{carol.port}", cseq=n, extra="Expires: 600")
            return carol.transact(edge, reg, timeout=1.0)[1]

        final = register(1)
        check(final is not None and final.startswith("SIP/2.0 200"), f"carol's first REGISTER: {final!r}")
        log(f"carol's key is owned by {owner.name}; she registers through {edge.name}")

        checks_before = ringlib.metric(edge, "sippeer_peer_checks_total")
        rule = drop_rule(owner, edge)
        iptables("-A", *rule)
        try:
            final = register(2)
            check(final is None or not is_final(final), f"the dropped 200 reached carol: {final!r}")
            # The hop watch's 4 request timeouts, the probe, and some slack.
            ringlib.wait_until(lambda: ringlib.metric(edge, "sippeer_peer_checks_total") > checks_before,
                               4 * REQUEST_TIMEOUT_MS / 1000 + 4, what=f"{edge.name} to probe its silent hop")
            time.sleep(2 * REQUEST_TIMEOUT_MS / 1000)  # the probe's answer, or its timeout
        finally:
            iptables("-D", *rule)
        check("answered no relayed REGISTER in time; asking the ring to probe it" in edge.log(),
              f"{edge.name} did not log the silent hop")
        ringlib.check_nobody_marked_dead(ring, "for one lost answer")
        log(f"{edge.name} probed {owner.name} after carol's REGISTER went unanswered; nobody was marked dead")

        final = register(3)
        check(final is not None and final.startswith("SIP/2.0 200"), f"carol's REGISTER after the rule: {final!r}")
        log(f"with the rule gone, carol's next REGISTER got its 200 through {edge.name}")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
