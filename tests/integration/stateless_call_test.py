#!/usr/bin/env python3
"""A call to a callee with one binding crosses its owner without a
transaction (adaptor/proxy/stateless_relay.cpp), and is still a whole SIP
call: CANCEL, 487 and ACK find the callee's INVITE transaction.

Ring of 2, proxy.record_route off (the default), example.com a ring
domain (proxy.p2p_domains: no DNS half, whose fork is stateful). Raw UDP phones: bob
registers one contact; alice calls sip:bob@example.com twice, once through
the node that owns bob's key (the owner's hop alone) and once through the
other node (a stateless ring hop first, then the owner's). In each call:

  - bob receives the INVITE with the owner's stateless branch
    (z9hG4bK.sr...), and his 180 reaches alice;
  - alice's CANCEL reaches bob with the INVITE's branch and Request-URI
    (RFC 3261 9.1), his 200 for it and his 487 reach alice;
  - alice's ACK for the 487 reaches bob with the INVITE's branch again;
  - the answers reach alice with her Via alone, each node on the way
    having sent them on from its own socket (FastReply::forward_answer,
    sippeer_sip_udp_forwarded_answers_total), not through nta;
  - afterwards neither node watches a relayed request any more
    (sippeer_sip_stateless_relays_in_flight 0): the 487 ended the watches;
  - and each node sent the INVITE and the CANCEL on from its own socket
    with its Via (FastReply::relay_request,
    sippeer_sip_udp_relayed_requests_total), not through nta.
A third call is answered 200 by bob; alice gets the 200, and a CANCEL
sent after it is answered 481 by the node (nothing left to cancel). Its
BYE, sent to the node with bob's contact as Request-URI, reaches bob with
a stateless branch too (relay_direct), and his 200 reaches alice.

With --record-route (proxy.record_route on, integration.stateless_call_rr)
the same holds, and the owner stays in the dialog without a transaction:
bob's INVITE and alice's 200 carry one Record-Route, the owner's, and the
BYE, sent with that Route, reaches bob through the owner.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, headers, status_line

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 9 RTP/AVP 0\r\n")


def top_branch(text):
    via = (headers(text, "Via") + headers(text, "v"))[0]
    m = re.search(r"branch=([^;\s]+)", via)
    return m.group(1) if m else None


def request_uri(text):
    return text.split("\r\n", 1)[0].split(" ")[1]


def register(phone, node):
    req = phone.request("REGISTER", "sip:example.com", to=f"<sip:{phone.user}@example.com>", extra="Expires: 600")
    _, final = phone.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"{phone.user} registering through {node.name}: {final}")


def cancel_for(invite):
    """The CANCEL of an INVITE (RFC 3261 9.1): its Request-URI, top Via,
    From, To, Call-ID and CSeq number."""
    return "\r\n".join([
        f"CANCEL {request_uri(invite)} SIP/2.0",
        f"Via: {header(invite, 'Via')}",
        "Max-Forwards: 70",
        f"From: {header(invite, 'From')}",
        f"To: {header(invite, 'To')}",
        f"Call-ID: {header(invite, 'Call-ID')}",
        f"CSeq: {header(invite, 'CSeq').split()[0]} CANCEL",
        "Content-Length: 0"]) + "\r\n\r\n"


def final_for(phone, method, call_id, timeout=5):
    return phone.recv(timeout, lambda m: m.startswith("SIP/2.0 ") and sipplib.is_final(m) and
                      header(m, "Call-ID", "i") == call_id and method in (header(m, "CSeq") or ""))


def relays_in_flight(node):
    return int(ringlib.metric(node, "sippeer_sip_stateless_relays_in_flight"))


def forwarded(node):
    """Answers the node sent on by their next Via from its own socket
    (FastReply::forward_answer), not through nta."""
    return int(ringlib.metric(node, "sippeer_sip_udp_forwarded_answers_total"))


def relayed(node):
    """Requests the node relayed statelessly from its own socket
    (FastReply::relay_request), not through nta."""
    return int(ringlib.metric(node, "sippeer_sip_udp_relayed_requests_total"))


def only_callers_via(answer, invite, what):
    """Each relay took its own Via out: alice's answer carries her Via alone."""
    vias = [v for h in headers(answer, "Via") + headers(answer, "v") for v in h.split(",")]
    check(len(vias) == 1 and top_branch(invite) in vias[0],
          f"{what} reached alice with Vias {vias}: expected only her own")


def record_routes(text):
    return [r for h in headers(text, "Record-Route") for r in h.split(",")]


def owners_record_route(text, owner, what):
    """With proxy.record_route: the owner's own Record-Route, and no
    other (ring hops add none)."""
    rr = record_routes(text)
    check(len(rr) == 1 and f"sip:{owner.address};lr" in rr[0],
          f"{what} has Record-Route {rr}: expected the owner's <sip:{owner.address};lr> alone")


def canceled_call(alice, bob, entry, owner, rr=False):
    before = {n.name: forwarded(n) for n in (entry, owner)}
    before_relayed = {n.name: relayed(n) for n in (entry, owner)}
    invite = alice.request("INVITE", "sip:bob@example.com", to="<sip:bob@example.com>", body=SDP,
                           content_type="application/sdp")
    call_id = header(invite, "Call-ID")
    alice.send(entry, invite)
    got = bob.recv(5, lambda m: m.startswith("INVITE ") and header(m, "Call-ID", "i") == call_id)
    check(got, f"bob received no INVITE through {entry.name}")
    branch = top_branch(got)
    check(branch and branch.startswith("z9hG4bK.sr"),
          f"bob's INVITE came with branch {branch}: not the owner's stateless relay")
    check(owner.address in headers(got, "Via")[0] if headers(got, "Via") else False,
          f"bob's INVITE's top Via is {headers(got, 'Via')[:1]}, not the owner {owner.address}")
    if rr:
        owners_record_route(got, owner, "bob's INVITE")
    else:
        check(not record_routes(got), f"bob's INVITE has Record-Route {record_routes(got)} with proxy.record_route off")
    if entry is not owner:
        vias = headers(got, "Via")
        check(len(vias) >= 2 and entry.address in vias[1] and "branch=z9hG4bK.sr" in vias[1],
              f"bob's INVITE's second Via is {vias[1:2]}: not {entry.name}'s stateless ring hop")
    bob.reply_to(got, owner.address, 180, "Ringing", to_tag="bobtag")
    ring = alice.recv(5, lambda m: m.startswith("SIP/2.0 180") and header(m, "Call-ID", "i") == call_id)
    check(ring, f"alice got no 180 through {entry.name}")
    only_callers_via(ring, invite, "the 180")

    alice.send(entry, cancel_for(invite))
    got_cancel = bob.recv(5, lambda m: m.startswith("CANCEL ") and header(m, "Call-ID", "i") == call_id)
    check(got_cancel, f"bob received no CANCEL through {entry.name}")
    check(top_branch(got_cancel) == branch,
          f"bob's CANCEL has branch {top_branch(got_cancel)}, its INVITE had {branch}")
    check(request_uri(got_cancel) == request_uri(got),
          f"bob's CANCEL has Request-URI {request_uri(got_cancel)}, its INVITE had {request_uri(got)}")
    bob.reply_to(got_cancel, owner.address, 200, "OK", to_tag="bobtag")
    bob.reply_to(got, owner.address, 487, "Request Terminated", to_tag="bobtag")
    ok = final_for(alice, "CANCEL", call_id)
    check(ok and ringlib.status_code(ok) == 200, f"alice's CANCEL through {entry.name}: {ok and status_line(ok)}")
    final = final_for(alice, "INVITE", call_id)
    check(final and ringlib.status_code(final) == 487, f"alice's INVITE through {entry.name}: "
                                                        f"{final and status_line(final)}, expected 487")
    only_callers_via(ok, invite, "the CANCEL's 200")
    only_callers_via(final, invite, "the 487")
    # The 180, the CANCEL's 200 and the 487, at each node on the way back.
    for n in {entry.name: entry, owner.name: owner}.values():
        got_fwd = forwarded(n) - before[n.name]
        check(got_fwd >= 3, f"{n.name} sent on {got_fwd} answer(s) from its own socket, expected the 180, "
                            f"the CANCEL's 200 and the 487")
    # The INVITE and the CANCEL, at each node on the way there.
    for n in {entry.name: entry, owner.name: owner}.values():
        got_rel = relayed(n) - before_relayed[n.name]
        check(got_rel >= 2, f"{n.name} relayed {got_rel} request(s) from its own socket, expected the INVITE "
                            f"and the CANCEL")
    alice.send(entry, alice.ack_for(invite, final))
    ack = bob.recv(5, lambda m: m.startswith("ACK ") and header(m, "Call-ID", "i") == call_id)
    check(ack, f"bob received no ACK for the 487 through {entry.name}")
    check(top_branch(ack) == branch, f"bob's ACK has branch {top_branch(ack)}, its INVITE had {branch}")
    nodes = {entry.name: entry, owner.name: owner}
    for n in nodes.values():
        ringlib.wait_until(lambda: relays_in_flight(n) == 0, 5, interval=0.2,
                           what=f"{n.name} to watch no relayed request after the 487")
    log(f"through {entry.name}: INVITE (branch {branch}), 180, CANCEL and ACK with the INVITE's branch, "
        f"200 and 487 back; nothing left in flight at {' and '.join(nodes)}")


def answered_call(alice, bob, owner, rr=False):
    invite = alice.request("INVITE", "sip:bob@example.com", to="<sip:bob@example.com>", body=SDP,
                           content_type="application/sdp")
    call_id = header(invite, "Call-ID")
    alice.send(owner, invite)
    got = bob.recv(5, lambda m: m.startswith("INVITE ") and header(m, "Call-ID", "i") == call_id)
    check(got, "bob received no INVITE for the answered call")
    bob.reply_to(got, owner.address, 200, "OK", to_tag="bobtag2", body=SDP)
    final = final_for(alice, "INVITE", call_id)
    check(final and ringlib.status_code(final) == 200, f"the answered call: {final and status_line(final)}")
    if rr:
        owners_record_route(got, owner, "bob's INVITE")
        owners_record_route(final, owner, "alice's 200")
    alice.send(owner, cancel_for(invite))
    late = final_for(alice, "CANCEL", call_id)
    check(late and ringlib.status_code(late) == 481, f"a CANCEL after the 200: {late and status_line(late)}, "
                                                      f"expected 481")
    stray = bob.recv(1, lambda m: m.startswith("CANCEL "))
    check(stray is None, "bob received a CANCEL for a call he had answered")
    # The BYE goes to the node with bob's contact as Request-URI: without
    # Record-Route as the bench's sipp and old phones send it, with it by
    # the Route the 200's Record-Route made (RFC 3261 12.1.2).
    bye = alice.request("BYE", f"sip:bob@{bob.address}", to=f"{header(final, 'To', 't')}",
                        frm=header(invite, "From"), from_tag="", call_id=call_id, cseq=2, contact=False,
                        extra=f"Route: {record_routes(final)[0].strip()}" if rr else "")
    alice.send(owner, bye)
    got_bye = bob.recv(5, lambda m: m.startswith("BYE ") and header(m, "Call-ID", "i") == call_id)
    check(got_bye, "bob received no BYE")
    check(not headers(got_bye, "Route"), f"bob's BYE still has Route {headers(got_bye, 'Route')}: the owner "
                                          f"did not take its own out")
    check((top_branch(got_bye) or "").startswith("z9hG4bK.sr"),
          f"bob's BYE came with branch {top_branch(got_bye)}: not relayed statelessly")
    bob.reply_to(got_bye, owner.address, 200, "OK")
    done = final_for(alice, "BYE", call_id)
    check(done and ringlib.status_code(done) == 200, f"alice's BYE: {done and status_line(done)}")
    ringlib.wait_until(lambda: relays_in_flight(owner) == 0, 5, interval=0.2,
                       what=f"{owner.name} to watch no relayed request after the BYE's 200")
    log("answered call: 200 reached alice; a CANCEL after it got 481 and never reached bob; "
        "the BYE crossed the node statelessly and its 200 came back")


def body(args):
    with ringlib.Cluster(args.sippeer, "stateless-call", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        rr = args.record_route
        ring = sipplib.start_ring(cl, 2, config={"proxy": {"p2p_domains": ["example.com"], "record_route": rr}})
        owner = sipplib.owner_of(ring, "sip:bob@example.com")
        other = next(n for n in ring if n is not owner)
        bob, alice = ph.raw_phone("bob"), ph.raw_phone("alice")
        register(bob, owner)
        log(f"bob registered at {owner.name}, which owns his key")
        canceled_call(alice, bob, owner, owner, rr)
        canceled_call(alice, bob, other, owner, rr)
        answered_call(alice, bob, owner, rr)
        time.sleep(0.2)
        for n in ring:
            check(n.alive(), f"{n.name} died")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args=lambda ap: ap.add_argument(
        "--record-route", action="store_true", help="proxy.record_route on"))
