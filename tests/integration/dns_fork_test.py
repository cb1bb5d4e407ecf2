#!/usr/bin/env python3
"""DNS + P2P parallel forking (report 3.5.2), against real servers.

Fixture (dnsfixture.py, ctest lock dns_fixture): dnsmasq on 127.0.0.1:5353
serving example.test (NAPTR SIP+D2U -> SRV _sip._udp -> sip.example.test
127.0.0.1:5090), Kamailio on 127.0.0.1:5090 as example.test's registrar
and proxy, and a ring of 3 sippeer nodes whose dns.resolv_conf names
dnsmasq. Phones are sipp. Every case also counts dnsmasq's query log:
exactly one NAPTR lookup per call, so nodes downstream of the first never
resolve again.

Cases (--case):
  call_out     carol is registered at Kamailio only; alice, registered in
               the ring, calls sip:carol@example.test through her node, and
               the call completes through Kamailio (the INVITE there carries
               the "DNS lookup done" Reason).
  both         a user registered both in the ring and at Kamailio: the first
               200 wins and the other branch gets CANCEL (and answers 487),
               once with the Kamailio side answering and once with the ring
               side answering. The caller never sees the 487.
  no_dns       nodns.test has no DNS records: the ring alone answers. The
               verdict is kept for dns.negative_ttl_s (2 s here): a second
               call asks no DNS and its INVITE crosses the caller's node
               with no transaction; a call after the 2 s asks DNS again.
  nobody       nobody anywhere (example.test: Kamailio 404, ring 404;
               nodns.test: NXDOMAIN, ring 404; blackhole.test: a server
               that never answers, ring 404): a final 404 within the DNS
               timeout plus a ring lookup.
  points_back  ring.test's SRV names a ring node, and a user's domain is the
               caller's node's own address: each call completes through
               the ring, the callee gets exactly one INVITE, no 482.
  resolution   RFC 3263's other paths: a domain with SRV but no NAPTR, and
               a name with a port (a contact address: nta resolves it, one A
               query through dns.resolv_conf); both calls complete through
               Kamailio.
  modes        p2p-only never asks DNS (a Kamailio-only user is 404);
               dns-first reaches a user in both at Kamailio only, and falls
               back to the ring when Kamailio says 404; p2p-first reaches a
               ring user with no DNS query and falls back to DNS when the
               ring says 404.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import dnsfixture
import ringlib
import sipplib
from ringlib import check, log
from sipplib import header

DNS_TIMEOUT_MS = 2000
MARKER = "P2P-SIP"
EXAMPLE_RECORDS = [
    "naptr-record=example.test,10,100,S,SIP+D2U,,_sip._udp.example.test",
    f"srv-host=_sip._udp.example.test,sip.example.test,{dnsfixture.KAMAILIO_PORT},0,0",
    "host-record=sip.example.test,127.0.0.1",
]


class World:
    """The ring, dnsmasq, Kamailio and the phones of one case."""

    def __init__(self, cl, ph):
        self.cl, self.ph = cl, ph
        self.procs = []
        self.dns = self.kam = None

    def start(self, extra_records=(), node_config=None):
        cl = self.cl
        self.resolv = dnsfixture.resolv_conf(cl.dir)
        # Record-Route on: sipp answers an in-dialog request to where the
        # INVITE came from, so the BYE must take the INVITE's path.
        config = {"dns": {"resolv_conf": self.resolv, "timeout_ms": DNS_TIMEOUT_MS},
                  "proxy": {"record_route": True}}
        for k, v in (node_config or {}).items():
            config.setdefault(k, {}).update(v)
        self.config = config
        self.ring = sipplib.start_ring(cl, 3, config=config)
        records = list(EXAMPLE_RECORDS) + [r(self) if callable(r) else r for r in extra_records]
        self.dns = dnsfixture.Dnsmasq(cl.dir, records)
        self.procs.append(self.dns)
        self.kam = dnsfixture.Kamailio(cl.dir)
        self.procs.append(self.kam)

    def hole_port(self):
        """A UDP port that takes SIP and never answers (a dead server)."""
        import socket
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hole.bind((ringlib.LOCALHOST, 0))
        return self.hole.getsockname()[1]

    def stop(self):
        for p in self.procs:
            p.stop()
        if getattr(self, "hole", None):
            self.hole.close()

    def dump(self):
        for p in self.procs:
            print(f"\n===== {p.name} output =====\n{p.output()[-6000:]}", file=sys.stderr)
        if self.dns:
            print(f"\n===== dnsmasq query log =====\n{self.dns.log()[-4000:]}", file=sys.stderr)

    def register(self, name, user, domain, target, port):
        target = target if isinstance(target, ringlib.Node) else target.address
        s = self.ph.sipp(f"{name}-register", "register.xml", target, port=port, service=user,
                         keys={"expires": 3600, "domain": domain}, timeout=10)
        s.expect_all(1, 15, f"registering {user}@{domain} from port {port} through {ringlib.address_of(target)}")

    def uas(self, name, scenario, port, calls=1):
        s = self.ph.sipp(name, scenario, None, port=port, calls=calls, timeout=30)
        time.sleep(0.2)
        check(s.alive(), f"UAS {name} exited at once\n{s.tail()}")
        return s

    def call(self, name, node, user, domain, calls=1):
        return self.ph.sipp(name, "uac_call.xml", node, port=ringlib.free_port(), service=user, calls=calls,
                            keys={"domain": domain, "caller": "alice"}, timeout=20)

    def naptr(self, domain):
        return self.dns.queries("NAPTR", domain)

    def lookups_now(self, domain, want, what):
        """Exactly `want` NAPTR queries for domain so far (polled: the log
        is written as queries arrive)."""
        try:
            ringlib.wait_until(lambda: self.naptr(domain) == want, 2, what=f"{want} NAPTR lookups of {domain}")
        except ringlib.TestFailure:
            pass
        got = self.naptr(domain)
        check(got == want, f"{what}: dnsmasq logged {got} NAPTR lookups of {domain}, expected exactly {want} "
                           f"(one per call, at the caller's node only)\n{self.dns.log()[-3000:]}")


def invites(sipp):
    return [m for m in sipp.received() if m.startswith("INVITE ")]


def cancels(sipp):
    return [m for m in sipp.received() if m.startswith("CANCEL ")]


def sent_487(sipp):
    return len(re.findall(r"message sent \(\d+ bytes\):\s*\n\s*SIP/2\.0 487 ", sipp.messages()))


# ----------------------------------------------------------------- cases


def case_call_out(w):
    n1 = w.ring[0]
    w.register("alice", "alice", "example.test", n1, ringlib.free_port())
    carol_port = ringlib.free_port()
    w.register("carol", "carol", "example.test", w.kam, carol_port)
    before = w.naptr("example.test")
    carol = w.uas("carol-uas", "uas_call.xml", carol_port)
    uac = w.call("alice-uac", n1, "carol", "example.test")
    took = uac.expect_all(1, 25, "alice -> carol@example.test through the ring node, answered via Kamailio")
    carol.expect_all(1, 10, "carol answering")
    inv = invites(carol)
    check(len(inv) == 1, f"carol received {len(inv)} INVITEs, expected 1")
    vias = sipplib.headers(inv[0], "Via")
    check(any(f"127.0.0.1:{dnsfixture.KAMAILIO_PORT}" in v for v in vias),
          f"carol's INVITE did not pass Kamailio: Via {vias}")
    check(any(n1.address in v for v in vias), f"carol's INVITE did not come from {n1.name} ({n1.address}): Via {vias}")
    reason = header(inv[0], "Reason") or ""
    check(MARKER in reason, f"the INVITE that reached Kamailio lacks the marker: Reason {reason!r}")
    w.lookups_now("example.test", before + 1, "one call to carol")
    log(f"alice -> carol@example.test: completed through Kamailio in {took:.1f} s; "
        f"INVITE carried 'Reason: {reason}'; one NAPTR lookup")


def case_both(w):
    n1, n2 = w.ring[0], w.ring[1]
    w.register("alice", "alice", "example.test", n1, ringlib.free_port())
    # dave: Kamailio's contact answers, the ring's only rings.
    # erin: the ring's contact answers, Kamailio's only rings.
    ports = {k: ringlib.free_port() for k in ("dave-k", "dave-r", "erin-k", "erin-r")}
    w.register("dave-k", "dave", "example.test", w.kam, ports["dave-k"])
    w.register("dave-r", "dave", "example.test", n2, ports["dave-r"])
    w.register("erin-k", "erin", "example.test", w.kam, ports["erin-k"])
    w.register("erin-r", "erin", "example.test", n2, ports["erin-r"])
    before = w.naptr("example.test")
    problems = []
    for user, winner, loser, via in (("dave", "dave-k", "dave-r", "DNS (Kamailio)"),
                                     ("erin", "erin-r", "erin-k", "the ring")):
        win = w.uas(f"{winner}-uas", "uas_call.xml", ports[winner])
        lose = w.uas(f"{loser}-uas", "uas_ring_cancel.xml", ports[loser])
        uac = w.call(f"alice-{user}", n1, user, "example.test")
        uac.expect_all(1, 25, f"alice -> {user}@example.test (answered through {via})")
        win.expect_all(1, 10, f"{winner} answering")
        try:
            lose.expect_all(1, 10, f"{loser}: INVITE, 180, CANCEL, 200, 487, ACK")
        except ringlib.TestFailure as e:
            problems.append(str(e))
        for name, s in ((winner, win), (loser, lose)):
            if len(invites(s)) != 1:
                problems.append(f"{name} received {len(invites(s))} INVITEs, expected 1")
        c = cancels(lose)
        if len(c) != 1:
            problems.append(f"{loser} (the losing branch) received {len(c)} CANCELs, expected 1")
        elif invites(lose) and header(c[0], "Call-ID") != header(invites(lose)[0], "Call-ID"):
            problems.append(f"{loser}'s CANCEL is for another call")
        if sent_487(lose) < 1:
            problems.append(f"{loser} sent no 487 for its canceled INVITE")
        seen = [sipplib.status_line(m) for m in uac.received() if m.startswith("SIP/2.0 487")]
        if seen:
            problems.append(f"the caller of {user} received {seen}")
        if not problems:
            log(f"{user}: the 200 came through {via}; {loser} got INVITE, CANCEL (same call), sent 487")
    if problems:
        raise ringlib.TestFailure("\n".join(problems))
    w.lookups_now("example.test", before + 2, "two calls")
    log("two forked calls, one NAPTR lookup each")


def case_no_dns(w):
    n1, n3 = w.ring[0], w.ring[2]
    frank_port = ringlib.free_port()
    w.register("frank", "frank", "nodns.test", n3, frank_port)
    frank = w.uas("frank-uas", "uas_call.xml", frank_port)
    t0 = time.monotonic()
    uac = w.call("alice-frank", n1, "frank", "nodns.test")
    uac.expect_all(1, 25, "alice -> frank@nodns.test (no DNS records; the ring answers)")
    took = time.monotonic() - t0
    frank.expect_all(1, 10, "frank answering")
    w.lookups_now("nodns.test", 1, "one call to nodns.test")
    log(f"frank@nodns.test reached through the ring alone ({took:.1f} s incl. sipp start); NXDOMAIN ignored")
    check("calls to it go through the ring alone" in n1.log(),
          f"{n1.name} did not log that it remembers nodns.test has no server:\n{n1.log()[-3000:]}")

    # The verdict holds: the next call is the ring's alone, relayed with no
    # transaction at the caller's node (a 2-s TTL, set in CASES).
    relayed = ringlib.metric(n1, "sippeer_sip_stateless_relays_total")
    t_verdict = time.monotonic()
    frank = w.uas("frank-uas-2", "uas_call.xml", frank_port)
    uac = w.call("alice-frank-2", n1, "frank", "nodns.test")
    uac.expect_all(1, 25, "alice -> frank@nodns.test again, while the verdict holds")
    frank.expect_all(1, 10, "frank answering the second call")
    check(time.monotonic() - t_verdict < 2.0, "the second call took longer than the verdict's 2 s; cannot tell")
    w.lookups_now("nodns.test", 1, "a second call while the verdict holds")
    check(ringlib.metric(n1, "sippeer_sip_stateless_relays_total") > relayed,
          f"{n1.name} relayed no request of the second call statelessly")
    log("a second call to nodns.test asked no DNS and crossed the caller's node statelessly")

    # Past the TTL, DNS is asked again.
    time.sleep(max(0.0, t_verdict + 2.2 - time.monotonic()))
    frank = w.uas("frank-uas-3", "uas_call.xml", frank_port)
    uac = w.call("alice-frank-3", n1, "frank", "nodns.test")
    uac.expect_all(1, 25, "alice -> frank@nodns.test after the verdict ended")
    frank.expect_all(1, 10, "frank answering the third call")
    w.lookups_now("nodns.test", 2, "a call after dns.negative_ttl_s")
    log("after dns.negative_ttl_s a call to nodns.test asked DNS again")


def case_nobody(w):
    n1 = w.ring[0]
    budget = DNS_TIMEOUT_MS / 1000 + 2.0  # DNS timeout plus a ring lookup (with a generous margin)
    phone = w.ph.raw_phone("zed")
    for domain in ("example.test", "nodns.test", "blackhole.test"):
        uri = f"sip:nobody@{domain}"
        text = phone.request("INVITE", uri, to=f"<{uri}>")
        t0 = time.monotonic()
        prov, final = phone.transact(n1, text, timeout=budget + 10)
        took = time.monotonic() - t0
        check(final is not None, f"INVITE {uri}: no final answer in {budget + 10:.0f} s (provisionals "
                                 f"{[sipplib.status_line(p) for p in prov]})")
        code = sipplib.status_line(final)
        check(code.startswith("SIP/2.0 404") or code.startswith("SIP/2.0 480"),
              f"INVITE {uri}: final {code!r}, expected 404 (or 480)")
        check(took <= budget, f"INVITE {uri}: final after {took:.2f} s, more than {budget:.1f} s "
                              f"(DNS timeout {DNS_TIMEOUT_MS} ms plus a ring lookup)")
        if domain == "blackhole.test":
            check(took >= DNS_TIMEOUT_MS / 1000 - 0.1,
                  f"INVITE {uri}: final after {took:.2f} s, before the DNS timeout: the dead server was not waited for")
        log(f"INVITE {uri}: {code} after {took * 1000:.0f} ms")
    w.lookups_now("blackhole.test", 1, "one call to nobody@blackhole.test")
    w.lookups_now("example.test", 1, "one call to nobody@example.test")
    w.lookups_now("nodns.test", 1, "one call to nobody@nodns.test")


def case_points_back(w):
    n1, n2 = w.ring[0], w.ring[1]
    grace_port = ringlib.free_port()
    w.register("grace", "grace", "ring.test", n2, grace_port)
    grace = w.uas("grace-uas", "uas_call.xml", grace_port)
    uac = w.call("alice-grace", n1, "grace", "ring.test")
    uac.expect_all(1, 25, "alice -> grace@ring.test, whose SRV names a ring node")
    grace.expect_all(1, 10, "grace answering")
    check(len(invites(grace)) == 1, f"grace received {len(invites(grace))} INVITEs, expected exactly 1")
    bad = [sipplib.status_line(m) for m in uac.received() if m.startswith("SIP/2.0 482")]
    check(not bad, f"the caller saw {bad}")
    for n in w.ring:
        check("482" not in "".join(ln for ln in n.log().splitlines() if "proxy: 482" in ln),
              f"{n.name} answered 482 to a request of this call:\n{n.log()[-3000:]}")
    check(w.naptr("ring.test") == 1, f"{w.naptr('ring.test')} NAPTR lookups of ring.test, expected 1")
    check(any("points back into the ring" in n.log() for n in w.ring[:1]),
          f"{n1.name} did not log that DNS points back into the ring")
    log(f"grace@ring.test: DNS names {n2.name} ({n2.address}); {n1.name} took the ring's answer; "
        f"one INVITE at grace, no 482")
    # A phone that uses its node as its domain: sip:judy@<n1's address>.
    # RFC 3263 takes the numeric host and port as they are: this node.
    judy_port = ringlib.free_port()
    w.register("judy", "judy", n1.address, n2, judy_port)
    judy = w.uas("judy-uas", "uas_call.xml", judy_port)
    points = n1.log().count("points back into the ring")
    uac = w.call("alice-judy", n1, "judy", n1.address)
    uac.expect_all(1, 25, f"alice -> judy@{n1.address} (the node's own address)")
    judy.expect_all(1, 10, "judy answering")
    check(len(invites(judy)) == 1, f"judy received {len(invites(judy))} INVITEs, expected exactly 1")
    check(n1.log().count("points back into the ring") == points + 1,
          f"{n1.name} did not log that sip:judy@{n1.address} points back at itself")
    log(f"judy@{n1.address}: the DNS target is {n1.name} itself; the ring answered, one INVITE at judy")


def case_modes(w):
    n1 = w.ring[0]
    only = w.cl.add("p2p-only", bootstrap=[n1], config=dict(w.config, proxy={"lookup": "p2p-only", "record_route": True}),
                    stabilize_ms=500, log_level="debug")
    dnsfirst = w.cl.add("dns-first", bootstrap=[n1], config=dict(w.config, proxy={"lookup": "dns-first", "record_route": True}),
                        stabilize_ms=500, log_level="debug")
    p2pfirst = w.cl.add("p2p-first", bootstrap=[n1], config=dict(w.config, proxy={"lookup": "p2p-first", "record_route": True}),
                        stabilize_ms=500, log_level="debug")
    for n in (only, dnsfirst, p2pfirst):
        n.wait_joined()
    ringlib.wait_consistent(w.ring + [only, dnsfirst, p2pfirst], 15, what="a ring of 6",
                            parts=("predecessor", "successors"))
    ports = {k: ringlib.free_port() for k in ("carol-k", "hank-k", "hank-r", "ivan-r")}
    w.register("carol-k", "carol", "example.test", w.kam, ports["carol-k"])   # Kamailio only
    w.register("hank-k", "hank", "example.test", w.kam, ports["hank-k"])      # both
    w.register("hank-r", "hank", "example.test", n1, ports["hank-r"])
    w.register("ivan-r", "ivan", "example.test", n1, ports["ivan-r"])         # ring only
    phone = w.ph.raw_phone("zed")

    # p2p-only: no DNS at all; a Kamailio-only user is not found.
    before = w.naptr("example.test")
    text = phone.request("INVITE", "sip:carol@example.test", to="<sip:carol@example.test>")
    _, final = phone.transact(only, text, timeout=10)
    check(final is not None and sipplib.status_line(final).startswith("SIP/2.0 404"),
          f"p2p-only: carol (Kamailio only) answered {final and sipplib.status_line(final)!r}, expected 404")
    w.lookups_now("example.test", before, "p2p-only")
    log(f"p2p-only: carol@example.test -> {sipplib.status_line(final)}, no DNS query")

    # dns-first: hank (both) is reached at Kamailio; the ring is never asked.
    hk = w.uas("hank-k-uas", "uas_call.xml", ports["hank-k"])
    hr = w.uas("hank-r-uas", "uas_call.xml", ports["hank-r"])
    w.call("dnsfirst-hank", dnsfirst, "hank", "example.test").expect_all(1, 25, "dns-first: alice -> hank")
    hk.expect_all(1, 10, "hank at Kamailio answering")
    check(not invites(hr), f"dns-first: hank's ring contact got {len(invites(hr))} INVITEs, expected none")
    hr.stop()
    # dns-first: ivan is unknown to Kamailio (404), so the ring is asked.
    iv = w.uas("ivan-r-uas", "uas_call.xml", ports["ivan-r"])
    w.call("dnsfirst-ivan", dnsfirst, "ivan", "example.test").expect_all(1, 25, "dns-first: alice -> ivan (ring only)")
    iv.expect_all(1, 10, "ivan answering after Kamailio's 404")
    w.lookups_now("example.test", before + 2, "dns-first, two calls")
    log("dns-first: hank (both) answered at Kamailio with no ring INVITE; ivan (ring only) reached after "
        "Kamailio's 404")

    # p2p-first: ivan (ring) with no DNS query; carol (Kamailio only) after the ring's 404.
    iv2 = w.uas("ivan-r-uas2", "uas_call.xml", ports["ivan-r"])
    w.call("p2pfirst-ivan", p2pfirst, "ivan", "example.test").expect_all(1, 25, "p2p-first: alice -> ivan")
    iv2.expect_all(1, 10, "ivan answering")
    w.lookups_now("example.test", before + 2, "p2p-first call to a ring user")
    ca = w.uas("carol-k-uas", "uas_call.xml", ports["carol-k"])
    w.call("p2pfirst-carol", p2pfirst, "carol", "example.test").expect_all(1, 25, "p2p-first: alice -> carol")
    ca.expect_all(1, 10, "carol answering after the ring's 404")
    w.lookups_now("example.test", before + 3, "p2p-first call to a Kamailio user")
    log("p2p-first: ivan (ring) reached with no DNS query; carol (Kamailio only) after the ring's 404")


def case_resolution(w):
    """RFC 3263's other paths: SRV without NAPTR (the fork's resolver), and a
    name with a port, which is a contact address: sent straight there, nta
    resolving it (A only) with the same dns.resolv_conf."""
    n1 = w.ring[0]
    carol_port = ringlib.free_port()
    w.register("carol", "carol", "example.test", w.kam, carol_port)  # Kamailio keys by user name only
    carol = w.uas("carol-uas", "uas_call.xml", carol_port, calls=2)
    w.call("alice-srvonly", n1, "carol", "srvonly.test").expect_all(
        1, 25, "alice -> carol@srvonly.test (no NAPTR; SRV _sip._udp names Kamailio)")
    w.call("alice-aonly", n1, "carol", f"aonly.test:{dnsfixture.KAMAILIO_PORT}").expect_all(
        1, 25, f"alice -> carol@aonly.test:{dnsfixture.KAMAILIO_PORT} (a name with a port: A only)")
    carol.expect_all(2, 10, "carol answering both calls")
    counts = {(t, d): w.dns.queries(t, d) for t, d in (("NAPTR", "srvonly.test"), ("SRV", "_sip._udp.srvonly.test"),
                                                        ("A", "sip.srvonly.test"), ("NAPTR", "aonly.test"),
                                                        ("SRV", "_sip._udp.aonly.test"), ("A", "aonly.test"))}
    want = {("NAPTR", "srvonly.test"): 1, ("SRV", "_sip._udp.srvonly.test"): 1, ("A", "sip.srvonly.test"): 1,
            ("NAPTR", "aonly.test"): 0, ("SRV", "_sip._udp.aonly.test"): 0, ("A", "aonly.test"): 1}
    check(counts == want, f"queries {counts}, expected {want}\n{w.dns.log()[-3000:]}")
    log("srvonly.test: NAPTR (none), SRV, A -> Kamailio; aonly.test:5090 (a contact address, resolved by nta "
        "through dns.resolv_conf): one A query only; both calls completed")


CASES = {
    "call_out": (case_call_out, {}),
    "both": (case_both, {}),
    "no_dns": (case_no_dns, {"node_config": {"dns": {"negative_ttl_s": 2}}}),
    "nobody": (case_nobody, {"extra_records": [
        "naptr-record=blackhole.test,10,100,S,SIP+D2U,,_sip._udp.blackhole.test",
        lambda w: f"srv-host=_sip._udp.blackhole.test,hole.blackhole.test,{w.hole_port()},0,0",
        "host-record=hole.blackhole.test,127.0.0.1",
    ]}),
    "points_back": (case_points_back, {"extra_records": [
        "naptr-record=ring.test,10,100,S,SIP+D2U,,_sip._udp.ring.test",
        lambda w: f"srv-host=_sip._udp.ring.test,node.ring.test,{w.ring[1].sip_port},0,0",
        "host-record=node.ring.test,127.0.0.1",
    ]}),
    "modes": (case_modes, {}),
    "resolution": (case_resolution, {"extra_records": [
        f"srv-host=_sip._udp.srvonly.test,sip.srvonly.test,{dnsfixture.KAMAILIO_PORT},0,0",
        "host-record=sip.srvonly.test,127.0.0.1",
        "host-record=aonly.test,127.0.0.1",
    ]}),
}


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    fn, kw = CASES[args.case]
    with ringlib.Cluster(args.sippeer, f"dnsfork-{args.case}", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        w = World(cl, ph)
        try:
            w.start(**kw)
            log(f"ring of 3, dnsmasq on :{dnsfixture.DNS_PORT}, Kamailio on :{dnsfixture.KAMAILIO_PORT}")
            fn(w)
            for n in cl.nodes:
                check(n.alive(), f"{n.name} died")
        except BaseException:
            w.dump()
            raise
        finally:
            w.stop()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args=lambda ap: ap.add_argument("--case", required=True,
                                                                          choices=sorted(CASES)))
