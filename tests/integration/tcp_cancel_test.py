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

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header


def call_and_cancel(ph, node, bob, together, n):
    alice = ph.raw_phone("alice")
    invite = alice.request("INVITE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                           call_id=f"tcpcancel{n}x{alice.port}@127.0.0.1")
    invite = invite if "\r\n" in invite else invite.replace("\n", "\r\n")
    alice.send(node, invite)
    got = bob.recv(5)
    check(got is not None and got.startswith("INVITE "), f"bob's phone got {got!r}, expected the INVITE")
    bob.send(node, bob.answer(got, 180, "Ringing", to_tag="bob1"))
    ringing = alice.recv(3, lambda m: m.startswith("SIP/2.0 180"))
    check(ringing is not None, "alice never heard bob ring")
    cancel = "\r\n".join([f"CANCEL sip:bob@{sipplib.DOMAIN} SIP/2.0", f"Via: {header(invite, 'Via')}",
                          "Max-Forwards: 70", f"From: {header(invite, 'From')}", f"To: {header(invite, 'To')}",
                          f"Call-ID: {header(invite, 'Call-ID')}", "CSeq: 1 CANCEL",
                          "Content-Length: 0"]) + "\r\n\r\n"
    alice.send(node, cancel)
    c = bob.recv(5)
    check(c is not None and c.startswith("CANCEL "), f"bob's phone got {c!r}, expected the CANCEL")
    ok = bob.answer(c, 200, "OK", to_tag="bob1")
    terminated = bob.answer(got, 487, "Request Terminated", to_tag="bob1")
    if together:
        bob.send(node, ok + terminated)
    else:
        bob.send(node, ok)
        time.sleep(0.05)
        bob.send(node, terminated)
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
        bob = sipplib.TcpPhone("bob", node)
        try:
            reg = bob.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                              call_id=f"tcpreg{bob.port}@127.0.0.1", extra="Expires: 600")
            _, final = bob.transact(node, reg)
            check(final is not None and final.startswith("SIP/2.0 200"), f"bob's REGISTER over TCP: {final!r}")
            call_and_cancel(ph, node, bob, False, 1)
            call_and_cancel(ph, node, bob, True, 2)
            ringlib.wait_until(lambda: ringlib.metric(node, "sippeer_proxy_transactions") == 0, 5,
                               what="the node's proxy transactions back to 0")
            log("no proxy transaction left")
        finally:
            bob.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
