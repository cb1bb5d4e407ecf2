#!/usr/bin/env python3
"""Kamailio as a neighbouring conventional domain, reached through the
DNS + P2P fork, with real phones on both sides (issue 7's interop suite).

  example.test  a conventional SIP domain: Kamailio 5.6 on 127.0.0.1:5090
                as its registrar and proxy, found by NAPTR/SRV in dnsmasq
                on 127.0.0.1:5353 (tests/integration/dnsfixture.py; the
                ctest lock dns_fixture keeps the fixed ports to one test).
  the ring      3 sippeer nodes whose dns.resolv_conf names that dnsmasq.
  alice         baresip, <sip:alice@example.com>, outbound proxy node A:
                a user of the ring.
  carol         baresip, <sip:carol@example.test>, registered at Kamailio
                (no sippeer anywhere on her side), auto-answer.

1. both register: alice through the ring, carol at Kamailio.
2. alice calls sip:carol@example.test: node A forks to the ring (nobody
   there: 404) and to DNS (NAPTR -> SRV -> Kamailio), Kamailio rings
   carol, she answers, both phones report the call established; alice
   hangs up and both report it closed.
3. alice sends carol a MESSAGE: it arrives through the same fork.
4. dnsmasq logged exactly one NAPTR lookup of example.test per request
   (call and MESSAGE): the nodes downstream never resolved again.
Both phones must exit cleanly.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import shutil
import time

import interoplib  # noqa: F401  (puts tests/integration on sys.path)
import baresip_test
import dnsfixture
import ringlib
import sipplib
from ringlib import check, log

RECORDS = [
    "naptr-record=example.test,10,100,S,SIP+D2U,,_sip._udp.example.test",
    f"srv-host=_sip._udp.example.test,sip.example.test,{dnsfixture.KAMAILIO_PORT},0,0",
    "host-record=sip.example.test,127.0.0.1",
]


def body(args):
    check(shutil.which(baresip_test.BARESIP), "baresip is not installed (apt-get install baresip-core)")
    with ringlib.Cluster(args.sippeer, "interop-kamailio", keep=args.keep) as cl:
        procs, phones = [], []
        try:
            resolv = dnsfixture.resolv_conf(cl.dir)
            config = {"dns": {"resolv_conf": resolv, "timeout_ms": 3000}, "proxy": {"record_route": True}}
            nodes = sipplib.start_ring(cl, 3, config=config)
            dns = dnsfixture.Dnsmasq(cl.dir, RECORDS)
            procs.append(dns)
            kam = dnsfixture.Kamailio(cl.dir)
            procs.append(kam)
            a = nodes[0]

            alice = baresip_test.Baresip(
                cl, "alice", f'<sip:alice@example.com>;outbound="sip:{a.address}";regint=60',
                contacts='"Carol" <sip:carol@example.test>\n')
            phones.append(alice)
            carol = baresip_test.Baresip(
                cl, "carol", f'<sip:carol@example.test>;outbound="sip:{kam.address}";regint=60;answermode=auto')
            phones.append(carol)
            alice.connect()
            carol.connect()
            ringlib.wait_until(lambda: "alice@example.com: {0/UDP/v4} 200 OK" in alice.output(), 15,
                               what="baresip alice to register through the ring")
            ringlib.wait_until(lambda: "carol@example.test: {0/UDP/v4} 200 OK" in carol.output(), 15,
                               what="baresip carol to register at Kamailio")
            log(f"alice registered through {a.name}; carol at Kamailio ({kam.address})")
            naptr0 = dns.queries("NAPTR", "example.test")

            t0 = time.monotonic()
            r = alice.command("dial", "sip:carol@example.test")
            check(r.get("ok"), f"alice: dial refused: {r}")
            alice.wait_event("CALL_ESTABLISHED", 20, since=t0)
            carol.wait_event("CALL_ESTABLISHED", 10, since=t0)
            log(f"alice -> carol@example.test established in {time.monotonic() - t0:.2f} s "
                f"(ring node {a.name} -> DNS -> Kamailio -> carol)")
            time.sleep(0.5)
            t1 = time.monotonic()
            check(alice.command("hangup").get("ok"), "alice: hangup refused")
            alice.wait_event("CALL_CLOSED", 10, since=t1)
            carol.wait_event("CALL_CLOSED", 10, since=t1)
            log(f"alice hung up; carol saw the call closed {time.monotonic() - t1:.2f} s later")

            t2 = time.monotonic()
            text = f"hello carol across domains {os.getpid()}"
            r = alice.command("message", text)
            check(r.get("ok"), f"alice: message refused: {r}")
            ringlib.wait_until(lambda: text in carol.output(), 10, what=f"carol's output to show {text!r}")
            log(f"MESSAGE alice -> carol@example.test delivered in {time.monotonic() - t2:.2f} s")

            def lookups():
                return dns.queries("NAPTR", "example.test") - naptr0
            try:
                ringlib.wait_until(lambda: lookups() == 2, 2, what="two NAPTR lookups")
            except ringlib.TestFailure:
                pass
            check(lookups() == 2, f"dnsmasq logged {lookups()} NAPTR lookups of example.test for one call "
                                  f"and one MESSAGE, expected exactly 2 (at the caller's node only)")
            log("one NAPTR lookup per request, at alice's node only")
            for n in nodes:
                check(n.alive(), f"{n.name} died")
        except ringlib.TestFailure:
            for p in phones:
                print(f"--- baresip {p.name} output:\n{p.output()[-4000:]}", file=sys.stderr)
            for p in procs:
                print(f"--- {p.name} output:\n{p.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            codes = {}
            for p in phones:
                p.stop()
                codes[p.name] = p.proc.returncode
            for p in procs:
                p.stop()
        check(all(c == 0 for c in codes.values()), f"the phones' exit codes: {codes} (expected 0)")
        log(f"both phones exited cleanly: {codes}")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
