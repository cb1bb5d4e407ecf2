#!/usr/bin/env python3
"""How old phones route in-dialog requests, through a ring of 3 (issue 4:
"Loose routing and old phones", "BYE sent to the outbound proxy"). Phones
are hand-written UDP (sipplib.RawPhone), so every header is the test's.
One case per run (--case NAME; CTest runs each as interop.routing.NAME):

  strict_route  proxy.record_route on. alice calls bob through node A;
                bob's key is owned by node O, which Record-Routes
                <sip:O;lr>. alice then behaves as an RFC 2543 strict
                router: ACK and BYE go to O with the Request-URI set to
                that Record-Route value and Route: <bob's contact>
                (RFC 3261 16.4: the node must see its own value in the
                Request-URI, take the LAST Route as the Request-URI and
                forward). bob must get the ACK and the BYE with his
                contact as Request-URI and no Route; alice gets the 200.
  bye_no_rr     proxy.record_route off. alice calls bob through node A;
                A is not bob's key owner, so the INVITE crosses the ring.
                alice sends the ACK and BYE to A anyway (its outbound
                proxy), Request-URI = bob's contact (has a port, is not A),
                no Route (report 4.2): A sends them straight to bob; bob
                answers the BYE, alice gets the 200.
  cancel_2543   an INVITE whose Via has NO branch (RFC 2543), then a CANCEL
                with the same Via, Request-URI, Call-ID, From tag and CSeq
                number: it must be matched to the INVITE's transaction (RFC
                3261 17.2.3), answered 200, and cancel the branch: bob gets
                a CANCEL, answers 487, alice gets the 487.
  benotify_off  proxy.accept_proxy_require: [] (the default [ms-benotify] is
                exercised by legacy_test.py's messenger5 runs): a SUBSCRIBE
                with Proxy-Require: ms-benotify now gets 420 Bad Extension
                with Unsupported: ms-benotify, and bob gets nothing; after the
                nodes' files are set back to [ms-benotify] and SIGHUPed,
                the same SUBSCRIBE reaches bob and alice gets his 200.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import signal
import time

import interoplib
from interoplib import check
import ringlib
import sipplib
from ringlib import log
from sipplib import header, headers, status_line

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
CASES = {}


def case(name, rr, config=None):
    def wrap(fn):
        CASES[name] = (fn, rr, config or {})
        return fn
    return wrap


def is_req(method):
    return lambda m: m.startswith(method + " ")


def register(phone, node, user):
    text = phone.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:{user}@{sipplib.DOMAIN}>",
                         frm=f"<sip:{user}@{sipplib.DOMAIN}>", extra="Expires: 3600")
    _, final = phone.transact(node, text)
    check(final and final.startswith("SIP/2.0 200"), f"REGISTER {user} through {node.name}: "
                                                     f"{status_line(final) if final else 'no answer'}")


def invite_and_answer(alice, bob, entry, *, branch=None):
    """alice INVITEs bob through entry, bob answers 200; returns (the
    INVITE alice sent, the INVITE bob got, the 200 alice got)."""
    inv = alice.request("INVITE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                        body=SDP, content_type="application/sdp", branch=branch)
    alice.send(entry, inv)
    got = bob.recv(5, is_req("INVITE"))
    check(got is not None, f"bob got no INVITE within 5 s (sent through {entry.name})")
    bob.reply_to(got, None, 200, "OK", to_tag="bobtag", body=SDP)
    ok = alice.recv(5, lambda m: m.startswith("SIP/2.0 200"))
    check(ok is not None, "alice got no 200 for her INVITE within 5 s")
    return inv, got, ok


def in_dialog(alice, method, ruri, ok, cseq, routes=()):
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/UDP {alice.address};branch={alice.new_branch()}",
             "Max-Forwards: 70",
             f"From: {header(ok, 'From', 'f')}",
             f"To: {header(ok, 'To', 't')}",
             f"Call-ID: {header(ok, 'Call-ID', 'i')}",
             f"CSeq: {cseq} {method}"]
    lines += [f"Route: {r}" for r in routes]
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def bye_through(alice, bob, to, text):
    """Sends an in-dialog BYE to `to`; bob must get it and answer 200,
    which must reach alice. Returns the BYE bob got."""
    alice.send(to, text)
    got = bob.recv(5, is_req("BYE"))
    check(got is not None, f"bob got no BYE within 5 s; alice sent:\n{text}")
    bob.reply_to(got, None, 200, "OK")
    ok = alice.recv(5, lambda m: m.startswith("SIP/2.0 200") and "BYE" in (header(m, "CSeq") or ""))
    check(ok is not None, "alice got no 200 for her BYE within 5 s")
    return got


@case("strict_route", rr=True)
def strict_route(cl, ph, nodes):
    alice, bob = ph.raw_phone("alice"), ph.raw_phone("bob")
    owner = interoplib.owner(nodes, "bob")
    entry = interoplib.other_than(nodes, owner)
    register(bob, entry, "bob")
    inv, got, ok = invite_and_answer(alice, bob, entry)
    rr = headers(ok, "Record-Route")
    want = f"<sip:{owner.address};lr>"
    check(rr == [want], f"the 200 alice got has Record-Route {rr}, expected [{want}] (the owner's)")
    contact = header(ok, "Contact", "m").strip("<>").split(">")[0]
    # RFC 2543 strict routing: the first route is the Request-URI, the
    # rest of the route set and the remote target follow as Route.
    strict_ruri = want.strip("<>")
    ack = in_dialog(alice, "ACK", strict_ruri, ok, 1, routes=[f"<{contact}>"])
    alice.send(owner, ack)
    got_ack = bob.recv(5, is_req("ACK"))
    check(got_ack is not None, f"bob got no ACK; alice sent (strict routing) to {owner.name}:\n{ack}")
    check(got_ack.startswith(f"ACK {contact} SIP/2.0") and not headers(got_ack, "Route"),
          f"the ACK bob got should have his contact as Request-URI and no Route:\n{got_ack}")
    bye = in_dialog(alice, "BYE", strict_ruri, ok, 2, routes=[f"<{contact}>"])
    got_bye = bye_through(alice, bob, owner, bye)
    check(got_bye.startswith(f"BYE {contact} SIP/2.0") and not headers(got_bye, "Route"),
          f"the BYE bob got should have his contact as Request-URI and no Route:\n{got_bye}")
    log(f"strict routing: ACK/BYE {strict_ruri} with Route <{contact}> sent to {owner.name} arrived at bob as "
        f"'{got_bye.splitlines()[0]}'; 200 back to alice")


@case("bye_no_rr", rr=False)
def bye_no_rr(cl, ph, nodes):
    alice, bob = ph.raw_phone("alice"), ph.raw_phone("bob")
    owner = interoplib.owner(nodes, "bob")
    entry = interoplib.other_than(nodes, owner)
    register(bob, owner, "bob")
    inv, got, ok = invite_and_answer(alice, bob, entry)
    check(not headers(ok, "Record-Route"), f"record_route is off, yet the 200 has {headers(ok, 'Record-Route')}")
    contact = header(ok, "Contact", "m").strip("<>").split(">")[0]
    alice.send(entry, in_dialog(alice, "ACK", contact, ok, 1))
    check(bob.recv(5, is_req("ACK")) is not None, f"bob got no ACK sent to {entry.name} for his contact")
    got_bye = bye_through(alice, bob, entry, in_dialog(alice, "BYE", contact, ok, 2))
    check(got_bye.startswith(f"BYE {contact} SIP/2.0"), f"bob's BYE:\n{got_bye}")
    vias = headers(got_bye, "Via") + headers(got_bye, "v")
    check(len(vias) == 2 and entry.address in vias[0], f"the BYE should come through {entry.name} only: {vias}")
    log(f"BYE {contact} (no Record-Route) sent to the outbound proxy {entry.name} went straight to bob "
        f"(Vias: {entry.name}, alice); 200 back to alice")


@case("cancel_2543", rr=False)
def cancel_2543(cl, ph, nodes):
    alice, bob = ph.raw_phone("alice"), ph.raw_phone("bob")
    owner = interoplib.owner(nodes, "bob")
    entry = interoplib.other_than(nodes, owner)
    register(bob, owner, "bob")
    inv = alice.request("INVITE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                        body=SDP, content_type="application/sdp")
    # RFC 2543: no branch at all.
    via = f"Via: SIP/2.0/UDP {alice.address}"
    inv = "\r\n".join(via if ln.startswith("Via:") else ln for ln in inv.split("\r\n"))
    alice.send(entry, inv)
    got = bob.recv(5, is_req("INVITE"))
    check(got is not None, "bob got no INVITE (its Via had no branch) within 5 s")
    bob.reply_to(got, None, 180, "Ringing", to_tag="bobtag")
    ring = alice.recv(5, lambda m: m.startswith("SIP/2.0 180"))
    check(ring is not None, "alice got no 180 within 5 s")
    lines = [f"CANCEL sip:bob@{sipplib.DOMAIN} SIP/2.0", via, "Max-Forwards: 70",
             f"From: {header(inv, 'From')}", f"To: {header(inv, 'To')}", f"Call-ID: {header(inv, 'Call-ID')}",
             f"CSeq: {header(inv, 'CSeq').split()[0]} CANCEL", "Content-Length: 0"]
    alice.send(entry, "\r\n".join(lines) + "\r\n\r\n")
    ok = alice.recv(5, lambda m: m.startswith("SIP/2.0 ") and "CANCEL" in (header(m, "CSeq") or ""))
    check(ok is not None and ok.startswith("SIP/2.0 200"),
          f"the branchless CANCEL got {status_line(ok) if ok else 'no answer'}, expected 200 (matched to the INVITE)")
    c = bob.recv(5, is_req("CANCEL"))
    check(c is not None, "the CANCEL was answered but bob's branch was not cancelled (no CANCEL reached bob)")
    bob.reply_to(c, None, 200, "OK")
    bob.reply_to(got, None, 487, "Request Terminated", to_tag="bobtag")
    final = alice.recv(5, lambda m: m.startswith("SIP/2.0 487"))
    check(final is not None, "alice got no 487 for her cancelled INVITE within 5 s")
    alice.send(entry, alice.ack_for(inv, final))
    log(f"INVITE and CANCEL without Via branch through {entry.name}: CANCEL 200, bob's branch cancelled, "
        f"alice got {status_line(final)}")


@case("benotify_off", rr=False, config={"accept_proxy_require": []})
def benotify_off(cl, ph, nodes):
    alice, bob = ph.raw_phone("alice"), ph.raw_phone("bob")
    owner = interoplib.owner(nodes, "bob")
    entry = interoplib.other_than(nodes, owner)
    register(bob, owner, "bob")
    sub = alice.request("SUBSCRIBE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                        extra="Event: presence\nSupported: ms-benotify\nProxy-Require: ms-benotify")
    _, final = alice.transact(entry, sub)
    check(final is not None and final.startswith("SIP/2.0 420") and header(final, "Unsupported") == "ms-benotify",
          f"SUBSCRIBE with Proxy-Require: ms-benotify and accept_proxy_require []: "
          f"{status_line(final) if final else 'no answer'}, Unsupported {header(final, 'Unsupported') if final else None}")
    check(bob.recv(0.5, is_req("SUBSCRIBE")) is None, "bob got the SUBSCRIBE although the node answered 420")
    log(f"accept_proxy_require []: SUBSCRIBE with Proxy-Require: ms-benotify -> {status_line(final)}, "
        f"Unsupported: {header(final, 'Unsupported')}")
    # Back to [ms-benotify] with SIGHUP: the same SUBSCRIBE now reaches bob.
    # (Every node checks Proxy-Require, the owner too: reload them all.)
    for n in nodes:
        with open(os.path.join(cl.dir, f"{n.name}.yaml"), "w") as f:
            f.write(ringlib.yaml_text({"proxy": {"record_route": False, "accept_proxy_require": ["ms-benotify"]}}))
        n.signal(signal.SIGHUP)
    for n in nodes:
        ringlib.wait_until(lambda: "applied: proxy.accept_proxy_require" in n.log(), 10,
                           what=f"{n.name} to log proxy.accept_proxy_require as reloaded")
    sub = alice.request("SUBSCRIBE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                        extra="Event: presence\nSupported: ms-benotify\nProxy-Require: ms-benotify")
    alice.send(entry, sub)
    got = bob.recv(5, is_req("SUBSCRIBE"))
    check(got is not None and header(got, "Proxy-Require") == "ms-benotify",
          f"after SIGHUP with [ms-benotify] the SUBSCRIBE should reach bob with its Proxy-Require: {got}")
    bob.reply_to(got, None, 200, "OK", to_tag="sub")
    ok = alice.recv(5, lambda m: m.startswith("SIP/2.0 200"))
    check(ok is not None, "alice got no 200 for the SUBSCRIBE after the reload")
    log("after SIGHUP with accept_proxy_require [ms-benotify]: the SUBSCRIBE reached bob, 200 back")


def run_case(args, name):
    fn, rr, extra = CASES[name]
    with ringlib.Cluster(args.sippeer, f"routing-{name}", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        nodes = sipplib.start_ring(cl, 3, config={"proxy": dict({"record_route": rr}, **extra)})
        fn(cl, ph, nodes)
        for n in nodes:
            check(n.alive(), f"{n.name} died")


def body(args):
    names = [args.case] if args.case else list(CASES)
    for n in names:
        check(n in CASES, f"unknown case {n!r}; cases: {', '.join(CASES)}")
    for n in names:
        log(f"--- {n}")
        run_case(args, n)


def extra_args(ap):
    ap.add_argument("--case", help=f"one of {', '.join(CASES)}")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args)
