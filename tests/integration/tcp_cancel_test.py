#!/usr/bin/env python3
"""A call to a phone on TCP, canceled while it rings, ends with its 487.

One node. bob's phone registers over TCP, so the node keeps a flow to it
(RFC 5626) and relays calls down that connection with a transaction.
alice (UDP) calls bob through the node; bob's phone rings (180); alice
CANCELs. bob's phone answers the CANCEL 200 and the INVITE 487, once in
two TCP segments and once in one (a phone writes them back to back).

alice must get the 200 for her CANCEL and the 487 for her INVITE, and
once she ACKs it the node holds no proxy transaction.

The bug this guards against: over TCP or TLS, Sofia's nta ends a proxy's
INVITE client transaction as soon as it sends the CANCEL, so the phone's
487 matched no transaction and was dropped as a stray answer. alice never
heard how her call ended, and the node's server transaction lingered
until it answered 500 after the transaction lifetime.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import socket
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, headers


class TcpPhone:
    """bob on one TCP connection: Content-Length framing, answers by hand."""

    def __init__(self, node):
        self.sock = socket.create_connection((node.listen, node.sip_port), timeout=5)
        self.port = self.sock.getsockname()[1]
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode())

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", self.buf[:i].decode(errors="replace"))
                end = i + 4 + (int(m.group(1)) if m else 0)
                if len(self.buf) >= end:
                    text, self.buf = self.buf[:end].decode(errors="replace"), self.buf[end:]
                    return text
            left = deadline - time.monotonic()
            check(left > 0, "bob's phone waited in vain for a message on its TCP connection")
            self.sock.settimeout(left)
            self.buf += self.sock.recv(65535)

    @staticmethod
    def answer(request, code, reason):
        lines = [f"SIP/2.0 {code} {reason}"] + [f"Via: {v}" for v in headers(request, "Via")]
        lines += [f"Record-Route: {rr}" for rr in headers(request, "Record-Route")]
        lines += [f"From: {header(request, 'From')}", f"To: {header(request, 'To')};tag=bob1",
                  f"Call-ID: {header(request, 'Call-ID')}", f"CSeq: {header(request, 'CSeq')}",
                  "Content-Length: 0"]
        return "\r\n".join(lines) + "\r\n\r\n"

    def close(self):
        self.sock.close()


def call_and_cancel(ph, node, bob, together, n):
    alice = ph.raw_phone("alice")
    invite = alice.request("INVITE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                           call_id=f"tcpcancel{n}x{alice.port}@127.0.0.1")
    invite = invite if "\r\n" in invite else invite.replace("\n", "\r\n")
    alice.send(node, invite)
    got = bob.recv()
    check(got.startswith("INVITE "), f"bob's phone got {got.splitlines()[0]!r}, expected the INVITE")
    bob.send(bob.answer(got, 180, "Ringing"))
    ringing = alice.recv(3, lambda m: m.startswith("SIP/2.0 180"))
    check(ringing is not None, "alice never heard bob ring")
    cancel = "\r\n".join([f"CANCEL sip:bob@{sipplib.DOMAIN} SIP/2.0", f"Via: {header(invite, 'Via')}",
                          "Max-Forwards: 70", f"From: {header(invite, 'From')}", f"To: {header(invite, 'To')}",
                          f"Call-ID: {header(invite, 'Call-ID')}", "CSeq: 1 CANCEL",
                          "Content-Length: 0"]) + "\r\n\r\n"
    alice.send(node, cancel)
    c = bob.recv()
    check(c.startswith("CANCEL "), f"bob's phone got {c.splitlines()[0]!r}, expected the CANCEL")
    ok, terminated = bob.answer(c, 200, "OK"), bob.answer(got, 487, "Request Terminated")
    if together:
        bob.send(ok + terminated)
    else:
        bob.send(ok)
        time.sleep(0.05)
        bob.send(terminated)
    canceled = alice.recv(3, lambda m: m.startswith("SIP/2.0 200") and "CANCEL" in (header(m, "CSeq") or ""))
    check(canceled is not None, "alice got no 200 for her CANCEL")
    final = alice.recv(3, lambda m: m.startswith("SIP/2.0 ") and "INVITE" in (header(m, "CSeq") or "")
                       and sipplib.is_final(m))
    how = "in one TCP segment" if together else "in two TCP segments"
    check(final is not None and final.startswith("SIP/2.0 487"),
          f"bob's phone answered 200 (CANCEL) and 487 (INVITE) {how}; alice's INVITE ended with {final!r}")
    alice.send(node, alice.ack_for(invite, final))
    log(f"canceled call {n}: bob's 200 and 487 {how}; alice got both")


def body(args):
    config = {"proxy": {"p2p_domains": [sipplib.DOMAIN]}}
    with ringlib.Cluster(args.sippeer, "tcp-cancel", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        node = cl.add("n1", new_ring=True, config=config)
        node.wait_joined()
        bob = TcpPhone(node)
        try:
            contact = f"<sip:bob@127.0.0.1:{bob.port};transport=tcp>"
            bob.send(f"REGISTER sip:{sipplib.DOMAIN} SIP/2.0\r\n"
                     f"Via: SIP/2.0/TCP 127.0.0.1:{bob.port};branch=z9hG4bKtcpreg{bob.port}\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:bob@{sipplib.DOMAIN}>;tag=r{bob.port}\r\n"
                     f"To: <sip:bob@{sipplib.DOMAIN}>\r\nCall-ID: tcpreg{bob.port}@127.0.0.1\r\n"
                     f"CSeq: 1 REGISTER\r\nContact: {contact}\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")
            reg = bob.recv()
            check(reg.startswith("SIP/2.0 200"), f"bob's REGISTER over TCP: {reg.splitlines()[0]!r}")
            call_and_cancel(ph, node, bob, False, 1)
            call_and_cancel(ph, node, bob, True, 2)
            ringlib.wait_until(lambda: ringlib.metric(node, "sippeer_proxy_transactions") == 0, 5,
                               what="the node's proxy transactions back to 0")
            log("no proxy transaction left")
        finally:
            bob.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
