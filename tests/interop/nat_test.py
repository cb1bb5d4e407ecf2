#!/usr/bin/env python3
"""A phone behind a NAT (root only; CI runs as root).

Three network namespaces of the test's own, joined by veth pairs:

  phone   192.168.77.2/24, default route via the router: the phone
          (sipp running xlite2_*.xml, X-Lite 2.0 with ;rport, as real
          X-Lite users behind home routers were)
  router  192.168.77.1 and 198.51.100.1, forwarding, iptables MASQUERADE
          out of its public side: a NAT
  server  198.51.100.2/24: a ring of three sippeer nodes and an ordinary
          phone (extension 2001, plain sipp) on that address

The phone REGISTERs through node A with its private address in Via and
Contact; its key is owned by another node. Checks:
 1. the phone gets the 200 (sent to received/rport, i.e. the NAT's
    mapping), whose Via shows received=198.51.100.1 and rport;
 2. /lookup holds its private contact together with the flow A named in a
    Path (p2p-path, proxy_flow.cpp) - without it the owner would send
    INVITEs to 192.168.77.2, which nothing in the server namespace routes;
 3. 2001 calls the phone: the INVITE crosses the ring to the owner, which
    sends it to A, which sends it down the NAT mapping; the phone answers
    and both sides complete the call (ACK, BYE, 200);
 4. the phone calls 2001 and hangs up: both sides complete the call.
Every sipp run must exit 0 with its call successful.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import subprocess

import interoplib
from interoplib import check, first, received, scenario
import ringlib
import sipplib
from ringlib import log
from sipplib import header

PHONE_IP, GW_IP, NAT_IP, SERVER_IP = "192.168.77.2", "192.168.77.1", "198.51.100.1", "198.51.100.2"


def run(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        raise ringlib.TestFailure(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


class NatLab:
    """phone -- router (MASQUERADE) -- server, each a namespace; deleted on exit."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.phone, self.router, self.server = (f"sippeer-nat{tag}-{x}" for x in ("phone", "router", "server"))
        self.made = []

    def ns(self, name, *cmd):
        return run("ip", "netns", "exec", name, *cmd)

    def __enter__(self):
        ringlib.require_root("nat_test (creates network namespaces and a NAT)")
        for n in (self.phone, self.router, self.server):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)  # a leftover
            run("ip", "netns", "add", n)
            self.made.append(n)
            self.ns(n, "ip", "link", "set", "lo", "up")
        tag = os.getpid() % 100000
        for a, b, ns_a, ns_b in ((f"np{tag}", f"nr{tag}", self.phone, self.router),
                                 (f"ns{tag}", f"nu{tag}", self.server, self.router)):
            run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            run("ip", "link", "set", a, "netns", ns_a)
            run("ip", "link", "set", b, "netns", ns_b)
        self.ns(self.phone, "ip", "addr", "add", f"{PHONE_IP}/24", "dev", f"np{tag}")
        self.ns(self.phone, "ip", "link", "set", f"np{tag}", "up")
        self.ns(self.phone, "ip", "route", "add", "default", "via", GW_IP)
        self.ns(self.router, "ip", "addr", "add", f"{GW_IP}/24", "dev", f"nr{tag}")
        self.ns(self.router, "ip", "addr", "add", f"{NAT_IP}/24", "dev", f"nu{tag}")
        self.ns(self.router, "ip", "link", "set", f"nr{tag}", "up")
        self.ns(self.router, "ip", "link", "set", f"nu{tag}", "up")
        self.ns(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ns(self.router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", f"nu{tag}", "-j", "MASQUERADE")
        self.ns(self.server, "ip", "addr", "add", f"{SERVER_IP}/24", "dev", f"ns{tag}")
        self.ns(self.server, "ip", "link", "set", f"ns{tag}", "up")
        # The server side has no route to the private network: only the
        # NAT's mappings lead back to the phone.
        return self

    def __exit__(self, *exc):
        for n in reversed(self.made):
            r = subprocess.run(["ip", "netns", "del", n], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"could not delete netns {n}: {r.stderr.strip()}", file=sys.stderr)
        return False


def lookup(node, aor):
    return ringlib.http_get(node.listen, node.admin_port, f"/lookup?aor={aor}", timeout=5, netns=node.netns)


def owner(nodes, user):
    code, body = lookup(nodes[0], f"sip:{user}@{sipplib.DOMAIN}")
    check(isinstance(body, dict) and body.get("node"), f"/lookup of {user}: {code} {body}")
    return next(n for n in nodes if n.status()["node"]["id"] == body["node"]["id"])


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    with NatLab() as lab, ringlib.Cluster(args.sippeer, "nat", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        cfg = {"proxy": {"record_route": True}}
        common = dict(listen=SERVER_IP, netns=lab.server, stabilize_ms=500, log_level="debug", config=cfg)
        nodes = [cl.add("n1", new_ring=True, **common)]
        nodes[0].wait_joined()
        for i in (2, 3):
            nodes.append(cl.add(f"n{i}", bootstrap=[nodes[0]], **common))
        for n in nodes[1:]:
            n.wait_joined()
        ringlib.wait_consistent(nodes, 15, what="a ring of 3 in the server namespace",
                                parts=("predecessor", "successors"))
        user = "3001"
        owner_l = owner(nodes, user)
        entry = next(n for n in nodes if n is not owner_l)
        peer = next(str(x) for x in range(2001, 2100) if owner(nodes, str(x)) is not owner_l)
        owner_p = owner(nodes, peer)
        entry_p = next(n for n in nodes if n is not owner_p)
        log(f"phone {user} at {PHONE_IP} behind the NAT {NAT_IP} uses {entry.name} (key at {owner_l.name}); "
            f"peer {peer} at {SERVER_IP} uses {entry_p.name} (key at {owner_p.name})")
        inside = dict(local_ip=PHONE_IP, netns=lab.phone)
        outside = dict(local_ip=SERVER_IP, netns=lab.server)
        pl, pp = ringlib.free_port(), ringlib.free_port()

        reg = ph.sipp("phone-register", scenario("xlite2_register.xml"), entry, port=pl, service=user, **inside)
        reg.expect_all(1, 20, f"the phone behind the NAT registering through {entry.name}")
        ok = first(received(reg), "SIP/2.0 200")
        via = header(ok, "Via", "v") or ""
        check(f"received={NAT_IP}" in via and re.search(r";rport=\d+", via),
              f"the 200's Via {via!r} should say received={NAT_IP};rport=<mapped port>")
        log(f"REGISTER from {PHONE_IP}:{pl} through the NAT: the phone got {ok.splitlines()[0]}; Via {via}")
        code, lk = lookup(nodes[0], f"sip:{user}@{sipplib.DOMAIN}")
        b = lk.get("bindings", []) if isinstance(lk, dict) else []
        check(code == 200 and any(f"{PHONE_IP}:{pl}" in x for x in b), f"/lookup of the phone: {code} {lk}")
        log(f"/lookup: {b}")
        stored = ringlib.http_get(owner_l.listen, owner_l.admin_port, "/registrations", netns=owner_l.netns)[1]
        check(f"f~udp~{NAT_IP}~" in str(stored) and f"@{entry.address}" in str(stored),
              f"the owner's record has no flow through {entry.name} to {NAT_IP}: {stored}")
        log(f"the owner {owner_l.name} stores the phone with Path <sip:f~udp~{NAT_IP}~...@{entry.address};lr>")

        ph.sipp("peer-register", "register.xml", entry_p, port=pp, service=peer, **outside).expect_all(
            1, 20, f"{peer} registering")

        # The peer calls the phone behind the NAT.
        answer = ph.sipp("phone-answer", scenario("xlite2_answer.xml"), None, port=pl, service=user, **inside)
        call = ph.sipp("peer-call", "uac_call.xml", entry_p, port=pp, service=user, keys={"caller": peer}, **outside)
        call.expect_all(1, 30, f"{peer} calling the phone behind the NAT")
        answer.expect_all(1, 30, "the phone behind the NAT answering")
        inv = first(received(answer), "INVITE ")
        log(f"{peer} -> phone: {inv.splitlines()[0]} reached it through {entry.name} and the NAT; "
            f"call answered, ACKed, hung up")

        # The phone calls the peer and hangs up.
        callee = ph.sipp("peer-answer", "uas_call.xml", None, port=pp, service="bob", **outside)
        call = ph.sipp("phone-call", scenario("xlite2_call.xml"), entry, port=pl, service=peer,
                       keys={"caller": user}, **inside)
        call.expect_all(1, 30, "the phone behind the NAT calling the peer")
        callee.expect_all(1, 30, f"{peer} answering the phone behind the NAT")
        log(f"phone -> {peer}: call set up and hung up through the NAT")
        for n in nodes:
            check(n.alive(), f"{n.name} died")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
