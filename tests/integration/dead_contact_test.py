#!/usr/bin/env python3
"""A call or MESSAGE to a phone that quit without unregistering ends at once.

Ring of 3. bob registers one phone (UDP), then the phone quits without
unregistering: its socket is closed, so its host answers anything sent
there with ICMP port unreachable, while bob's binding lives on until it
expires. alice (UDP) calls bob through a node that does not own his key,
and sends her INVITE again 0.5 s later, as RFC 3261's Timer A does; then
a MESSAGE, sent again the same way (Timer E).

The owner relays both to bob's one binding without a transaction
(stateless_relay.cpp), so only an ICMP error comes back. Before, nobody
turned that into an answer and alice waited for her own Timer B or F
(32 s). Now the owner marks what it relayed there as refused and answers
the next copy: alice must get 480 for the INVITE and 408 for the MESSAGE
(what a fork whose every branch failed gets) within 2.5 s, through the
non-owner node's stateless relay, and her ACK must be absorbed there.
A call to carol, whose phone is up, on the same nodes still rings her.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import is_final

DEADLINE = 2.5  # seconds from the first copy to the final answer


def register(phone, node, user):
    reg = phone.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:{user}@{sipplib.DOMAIN}>",
                        call_id=f"reg-{user}-{phone.port}", extra="Expires: 600")
    phone.send(node, reg if "\r\n" in reg else reg.replace("\n", "\r\n"))
    final = phone.recv(5, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
    check(final is not None and final.startswith("SIP/2.0 200"), f"{user}'s REGISTER: {final!r}")


def send_twice(alice, node, method, body=""):
    """Sends the request, again 0.5 s later, and returns (final, seconds)."""
    text = alice.request(method, f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>", body=body)
    text = text if "\r\n" in text else text.replace("\n", "\r\n")
    t0 = time.monotonic()
    alice.send(node, text)
    final = alice.recv(0.5, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
    if final is None:
        alice.send(node, text)  # Timer A / E
        final = alice.recv(DEADLINE + 1, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
    return text, final, time.monotonic() - t0


def body(args):
    config = {"proxy": {"p2p_domains": [sipplib.DOMAIN]}}
    with ringlib.Cluster(args.sippeer, "dead-contact", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config, log_level="info")
        owner = sipplib.owner_of(ring, f"sip:bob@{sipplib.DOMAIN}")
        edge = next(n for n in ring if n is not owner)
        bob = ph.raw_phone("bob")
        register(bob, edge, "bob")
        carol = ph.raw_phone("carol")
        register(carol, edge, "carol")
        bob.close()
        log(f"bob's only phone quit without unregistering; his key is at {owner.name}, alice calls via {edge.name}")

        alice = ph.raw_phone("alice")
        invite, final, took = send_twice(alice, edge, "INVITE")
        check(final is not None and final.startswith("SIP/2.0 480"),
              f"alice's INVITE to bob's dead phone ended with {final!r} after {took:.2f} s (expected 480)")
        check(took <= DEADLINE, f"alice's INVITE got its 480 only after {took:.2f} s")
        alice.send(edge, alice.ack_for(invite, final))
        log(f"INVITE: {final.splitlines()[0]!r} after {took:.2f} s")
        again = alice.recv(1.0, lambda m: m.startswith("SIP/2.0 "))
        check(again is None, f"after her ACK alice still got {again!r}: the ACK was not absorbed")

        _, final, took = send_twice(alice, edge, "MESSAGE", body="are you there?")
        check(final is not None and final.startswith("SIP/2.0 408"),
              f"alice's MESSAGE to bob's dead phone ended with {final!r} after {took:.2f} s (expected 408)")
        check(took <= DEADLINE, f"alice's MESSAGE got its 408 only after {took:.2f} s")
        log(f"MESSAGE: {final.splitlines()[0]!r} after {took:.2f} s")

        # The refusal was bob's phone's alone: carol's phone, up, still rings.
        call = alice.request("INVITE", f"sip:carol@{sipplib.DOMAIN}", to=f"<sip:carol@{sipplib.DOMAIN}>")
        alice.send(edge, call if "\r\n" in call else call.replace("\n", "\r\n"))
        got = carol.recv(5, lambda m: m.startswith("INVITE "))
        check(got is not None, "carol's phone never got alice's INVITE")
        carol.reply_to(got, None, 486, "Busy Here", to_tag="carol1")
        busy = alice.recv(5, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
        check(busy is not None and busy.startswith("SIP/2.0 486"), f"alice's call to carol ended with {busy!r}")
        log("a call to carol, whose phone is up, still reaches her")
        check("refused" in owner.log(), f"{owner.name} logged no refusal")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
