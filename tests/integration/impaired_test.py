#!/usr/bin/env python3
"""Loss and delay (issue 16): a ring of four hosts in network namespaces
(netlab.py; root only) where every packet a host sends is dropped with
probability 5% and otherwise delayed by 50 ms, in both directions (what
`tc netem loss 5% delay 50ms` on every host would do; this kernel has no
netem, see netlab.py).

  calls    alice (host 1) and bob (host 4) register through their own
           nodes with sipp; alice makes 20 calls to bob (INVITE, 180, 200,
           ACK, BYE) through node 1, and sends him 10 MESSAGEs. sipp and
           the nodes retransmit over UDP as RFC 3261 says; at least 90% of
           the calls and of the MESSAGEs must complete.
  lookups  every node looks up alice and bob ten times (GET /lookup, an
           overlay Query through the lossy ring): all 80 answer 200 with
           the right binding.

Known (not fixed, issue 16's note): with loss and delay together (not
with either alone) the nodes mark live peers dead every few seconds: a
ring hop that has not answered an INVITE with 100 within
overlay.request_timeout_ms is taken for dead (proxy_transaction.cpp,
on_hop_timeout), the ring routes around it and a call in flight can end
in 480 or 482. One or two calls in twenty fail that way here; the test
counts the marks and logs them.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import netlab
import ringlib
import sipplib
from ringlib import check, log

STABILIZE_MS = 1000
CALLS = 20
MESSAGES = 10
# Not every call: see "Known" in the module doc.
MIN_SHARE = 0.9
LOSS, DELAY_MS = 5, 50


def body(args):
    with netlab.Lab(4) as lab, ringlib.Cluster(args.sippeer, "impaired") as cl, sipplib.Phones(cl) as ph:
        # proxy.record_route: sipp's UAS sends every answer of a call to
        # where the call's INVITE came from (bob's node), so a BYE sent
        # straight from alice's node would have its 200 go to bob's node,
        # which knows nothing of it. Record-Route keeps the BYE on the
        # INVITE's path.
        nodes = lab.start_ring(cl, stabilize_ms=STABILIZE_MS, config={"proxy": {"record_route": True}})
        lab.impair(LOSS, DELAY_MS)
        log(f"a ring of four hosts; every host now drops {LOSS}% of what it receives and delays what it sends {DELAY_MS} ms")

        def sipp(name, scenario, host, target, **kw):
            return ph.sipp(name, scenario, target, local_ip=lab.ips[host], netns=lab.hosts[host], **kw)

        port = 5070
        for user, host in (("bob", 3), ("alice", 0)):
            s = sipp(f"{user}-register", "register.xml", host, nodes[host], port=port, service=user,
                     keys={"expires": 600}, timeout=20)
            s.expect_all(1, 25, f"registering {user} through h{host + 1} over the lossy network")
        log("alice and bob registered (sipp retransmits what is lost)")

        uas = sipp("bob-uas", "uas_call_lossy.xml", 3, None, port=port, calls=CALLS, timeout=90)
        time.sleep(0.5)
        check(uas.alive(), f"bob's UAS exited at once\n{uas.tail()}")
        t0 = time.monotonic()
        uac = sipp("alice-uac", "uac_call.xml", 0, nodes[0], port=port, service="bob", calls=CALLS, rate=2,
                   timeout=90)
        uac.wait(100)
        ok, failed = uac.counts()
        uas.stop()
        marks = sum(n.log().count("did not answer; marked dead") for n in nodes)
        log(f"{ok} of {CALLS} calls completed in {time.monotonic() - t0:.1f} s; the nodes marked a live peer "
            f"dead {marks} times (see the module doc)")
        check(ok >= CALLS * MIN_SHARE, f"only {ok} of {CALLS} calls completed with {LOSS}% loss and {DELAY_MS} ms "
                                       f"delay (at least {MIN_SHARE:.0%} must)\n{uac.tail()}")

        uas = sipp("bob-msg", "uas_message_lossy.xml", 3, None, port=port, calls=MESSAGES, timeout=60)
        time.sleep(0.5)
        uac = sipp("alice-msg", "uac_message.xml", 0, nodes[0], port=port, service="bob", calls=MESSAGES,
                   rate=2, timeout=60)
        uac.wait(70)
        ok, failed = uac.counts()
        uas.stop()
        log(f"{ok} of {MESSAGES} MESSAGEs delivered and answered")
        check(ok >= MESSAGES * MIN_SHARE, f"only {ok} of {MESSAGES} MESSAGEs delivered\n{uac.tail()}")

        bad, slow = [], 0.0
        for rnd in range(10):
            for n in nodes:
                for user, host in (("alice", 0), ("bob", 3)):
                    t = time.monotonic()
                    code, j = ringlib.http_get(n.listen, n.admin_port, f"/lookup?aor=sip:{user}@{sipplib.DOMAIN}",
                                               timeout=10, netns=n.netns)
                    slow = max(slow, time.monotonic() - t)
                    found = j.get("bindings", []) if isinstance(j, dict) else []
                    if code != 200 or not any(f"{lab.ips[host]}:{port}" in b for b in found):
                        bad.append(f"{user} from {n.name}: {code} {found}")
        check(not bad, f"{len(bad)} of 80 lookups failed over the lossy network: {bad[:5]}")
        log(f"80 lookups from the four nodes: all 200 with the binding (slowest {slow * 1000:.0f} ms)")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
