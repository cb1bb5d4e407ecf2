#!/usr/bin/env python3
"""A node whose id is taken (report 3.13): it gets 600, does not join, says
so in its log and /status, and serves its phones through the existing node
as outbound proxy: a REGISTER sent to it is stored in the ring."""

import socket
import sys
import time
sys.dont_write_bytecode = True

import ringlib
from ringlib import check, log

BITS = 8


def register(node, user, contact_port):
    """A plain UDP REGISTER for sip:<user>@example.com; returns the status line."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    lport = s.getsockname()[1]
    msg = (f"REGISTER sip:example.com SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKdup{time.time_ns()}\r\n"
           f"Max-Forwards: 70\r\n"
           f"From: <sip:{user}@example.com>;tag=dup1\r\n"
           f"To: <sip:{user}@example.com>\r\n"
           f"Call-ID: dup-{time.time_ns()}@127.0.0.1\r\n"
           f"CSeq: 1 REGISTER\r\n"
           f"Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\n"
           f"Expires: 600\r\nContent-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), ("127.0.0.1", node.sip_port))
    deadline = time.time() + 5
    while time.time() < deadline:
        data = s.recv(65535).decode(errors="replace")
        line = data.split("\r\n", 1)[0]
        if not line.startswith("SIP/2.0 1"):
            return line
    return None


def body(args):
    with ringlib.Cluster(args.sippeer, "duplicate", keep=args.keep) as cl:
        common = dict(id_bits=BITS, stabilize_ms=300)
        a = cl.add("a", new_ring=True, node_id=42, **common)
        a.wait_joined()
        b = cl.add("b", node_id=42, bootstrap=[a], **common)
        b.wait_up()

        def refused():
            st = b.status()
            return st if st["state"] == "duplicate" else None
        st, _ = ringlib.wait_until(refused, 5, what="node b to learn its id is taken")
        check(st["duplicate_of"]["uri"] == f"sip:42@{a.address};node",
              f"b: duplicate_of {st['duplicate_of']}")
        check("is taken by" in b.log(), "b: the log does not say that its id is taken")
        check(a.status()["successors"][0]["uri"] == f"sip:42@{a.address};node",
              "a: the duplicate must not have joined a's ring")

        line = register(b, "carol", 6299)
        check(line == "SIP/2.0 200 OK", f"REGISTER through the duplicate node: {line!r}")
        code, body_json = ringlib.http_get("127.0.0.1", a.admin_port, "/lookup?aor=sip:carol@example.com")
        check(code == 200 and "sip:carol@127.0.0.1:6299" in str(body_json),
              f"carol's binding at the existing node: {code} {body_json}")
        log("the duplicate node refused to join and proxied its phone's REGISTER to the existing node")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
