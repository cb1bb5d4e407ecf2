#!/usr/bin/env python3
"""Calls and MESSAGEs through a ring of 4 (proxy.record_route on).

"Node 1" and "node 4" are two nodes that do not own bob's key (chosen
once the ring is up), so that bob's REGISTER and every call cross the ring.

1. Calls: a sipp UAS registers bob (Contact its own port) through node 4;
   a sipp UAC registers alice through node 1 and places 20 calls to
   sip:bob@example.com through node 1 at 10 calls/s: INVITE, 100/180
   (optional), 200, ACK, BYE, 200. All 20 must succeed on both sides
   (the UAC's and the UAS's SuccessfulCall counters), and the 200 of each
   INVITE must carry a Record-Route naming the node that forked it (the
   owner of bob's key), from which bob then got every BYE.
2. MESSAGE: the UAC sends a MESSAGE with a text body to sip:bob@example.com
   through node 1; bob (a sipp UAS on his registered port) must receive it
   with the body intact (its scenario checks the body) and answer 200, and
   the UAC must get that 200.
3. Refusals, with a raw UDP phone through node 1:
   INVITE to an unregistered user      -> 404 "User not found on P2P/SIP"
   INVITE with Max-Forwards: 0         -> 483 (RFC 3261 16.3 step 3)
   INVITE with Proxy-Require: foo      -> 420 with Unsupported: foo (16.3 step 5)
   and each final answer is ACKed.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

CALLS = 20
RATE = 10


def calls(cl, ph, nodes, owner):
    n1, n4 = nodes[0], nodes[3]
    bob_port, alice_port = ringlib.free_port(), ringlib.free_port()
    ph.register("bob", "bob", n4, bob_port)
    code, body = sipplib.lookup(n1, "sip:bob@example.com")
    check(code == 200 and any(f"sip:bob@127.0.0.1:{bob_port}" in b for b in body.get("bindings", [])),
          f"/lookup of bob after registering: {code} {body}")
    log(f"bob registered through {n4.name} from port {bob_port}")
    ph.register("alice", "alice", n1, alice_port)

    uas = ph.sipp("bob-uas", "uas_call.xml", None, port=bob_port, calls=CALLS, timeout=40)
    time.sleep(0.3)  # let the UAS bind its port
    check(uas.alive(), f"bob's UAS exited at once\n{uas.tail()}")
    uac = ph.sipp("alice-uac", "uac_call.xml", n1, port=alice_port, service="bob", calls=CALLS, rate=RATE,
                  timeout=40)
    took = uac.expect_all(CALLS, 45, f"{CALLS} calls alice -> bob through n1")
    uas.expect_all(CALLS, 10, f"bob's side of {CALLS} calls")
    log(f"{CALLS} calls at {RATE}/s through n1: all succeeded on both sides ({took:.1f} s)")

    # The dialog's route set: the owner's Record-Route, and the BYEs came that way.
    got = uac.received()
    oks = [m for m in got if m.startswith("SIP/2.0 200") and "INVITE" in (header(m, "CSeq") or "")]
    check(len(oks) >= CALLS, f"the UAC's log shows {len(oks)} 200s to INVITE, expected {CALLS}")
    want_rr = f"<sip:{owner.address};lr>"
    bad = [header(m, "Record-Route") for m in oks if header(m, "Record-Route") != want_rr]
    check(not bad, f"200s to INVITE with Record-Route {bad[:3]} instead of {want_rr}")
    byes = [m for m in uas.received() if m.startswith("BYE ")]
    check(len(byes) == CALLS, f"bob received {len(byes)} BYEs, expected {CALLS}")
    astray = [header(m, "Via") for m in byes if not (header(m, "Via") or "").startswith(f"SIP/2.0/UDP {owner.address};")]
    check(not astray, f"BYEs that did not come from the owner {owner.name} ({owner.address}): top Via {astray[:3]}")
    return bob_port, alice_port


def message(cl, ph, nodes, bob_port, alice_port):
    n1 = nodes[0]
    uas = ph.sipp("bob-msg", "uas_message.xml", None, port=bob_port, calls=1, timeout=15)
    time.sleep(0.3)
    uac = ph.sipp("alice-msg", "uac_message.xml", n1, port=alice_port, service="bob", calls=1, timeout=15)
    uac.expect_all(1, 20, "MESSAGE alice -> bob through n1 (200 expected)")
    uas.expect_all(1, 10, "bob receiving the MESSAGE (body checked by the scenario)")
    msgs = [m for m in uas.received() if m.startswith("MESSAGE ")]
    check(len(msgs) == 1, f"bob received {len(msgs)} MESSAGEs, expected 1")
    text = sipplib.body_of(msgs[0]).strip()
    check(text.startswith("hello bob from the ring, message "), f"bob's MESSAGE body is {text!r}")
    log(f"MESSAGE delivered: bob got {text!r} and the UAC got 200")


def refusals(cl, ph, nodes):
    n1 = nodes[0]
    p = ph.raw_phone("alice")

    def invite(user, extra="", max_forwards=70):
        return p.request("INVITE", f"sip:{user}@example.com", to=f"<sip:{user}@example.com>",
                         extra=extra, max_forwards=max_forwards,
                         body="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                              "m=audio 9 RTP/AVP 0\r\n", content_type="application/sdp")

    problems = []
    _, final = p.transact(n1, invite("nobody"), timeout=5)
    if final is None:
        problems.append("INVITE to sip:nobody@example.com: no final answer in 5 s, expected 404")
    elif status_line(final) != "SIP/2.0 404 User not found on P2P/SIP":
        problems.append(f"INVITE to sip:nobody@example.com: {status_line(final)!r}, "
                        f"expected 'SIP/2.0 404 User not found on P2P/SIP'")
    else:
        log(f"INVITE to an unknown user: {status_line(final)}")

    _, final = p.transact(n1, invite("bob", max_forwards=0), timeout=5)
    if final is None or ringlib.status_code(final) != 483:
        problems.append(f"INVITE with Max-Forwards: 0: {status_line(final) if final else 'no answer'}, "
                        f"expected 483")
    else:
        log(f"INVITE with Max-Forwards: 0: {status_line(final)}")

    _, final = p.transact(n1, invite("bob", extra="Proxy-Require: foo"), timeout=5)
    if final is None or ringlib.status_code(final) != 420:
        problems.append(f"INVITE with Proxy-Require: foo: {status_line(final) if final else 'no answer'}, "
                        f"expected 420")
    elif (header(final, "Unsupported") or "").replace(" ", "") != "foo":
        problems.append(f"INVITE with Proxy-Require: foo: 420 with Unsupported "
                        f"{header(final, 'Unsupported')!r}, expected 'foo'")
    else:
        log(f"INVITE with Proxy-Require: foo: {status_line(final)}, Unsupported: {header(final, 'Unsupported')}")
    return problems


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    config = {"proxy": {"record_route": True}}
    with ringlib.Cluster(args.sippeer, "proxy-calls", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 4, config=config)
        # "node 1" and "node 4" of the scenario are two nodes that do not
        # own bob's key, so that his REGISTER and every call cross the ring.
        owner = sipplib.owner_of(ring, "sip:bob@example.com")
        others = [n for n in ring if n is not owner]
        nodes = [others[0], owner, others[1], others[2]]
        log(f"ring of 4 up (record_route on); bob's key is owned by {owner.name}; "
            f"node 1 = {nodes[0].name}, node 4 = {nodes[3].name}")
        bob_port, alice_port = calls(cl, ph, nodes, owner)
        message(cl, ph, nodes, bob_port, alice_port)
        problems = refusals(cl, ph, nodes)
        for n in nodes:
            check(n.alive(), f"{n.name} died")
        if problems:
            raise ringlib.TestFailure("\n".join(problems))


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
