#!/usr/bin/env python3
"""Parked subscriptions (issue 17, report 6.1, procedures 6.1 and 6.2).

Ring of 3, proxy.p2p_domains [example.com]. Phones are raw UDP sockets
(sipplib.RawPhone).

1. alice subscribes (Event: presence) to bob, who has no binding, through
   a node that is not bob's registrar: 202 with a To tag, Contact and
   Expires; then a NOTIFY from bob's registrar, Subscription-State:
   pending, with a PIDF document saying closed. alice answers 200.
2. alice refreshes in the dialog (to the Contact of the 202): 200 and a
   NOTIFY pending with a higher CSeq.
3. kill -9 of bob's registrar. Once the ring has healed, bob registers:
   the new registrar (which held the replica) sends alice NOTIFY
   terminated;reason=deactivated. alice subscribes again: the SUBSCRIBE
   now reaches bob's phone, which answers 489 Bad Event (it does not do
   presence): the registrar parks it instead (202, NOTIFY pending).
   Before the SUBSCRIBE, bob's phone gets an OPTIONS probe (report 6.1).
3c. dora's phone answers the probe with an Allow without SUBSCRIBE: alice's
   SUBSCRIBE to dora is parked without reaching the phone; a second
   watcher's is parked with no second probe.
4. alice subscribes to carol (no binding); carol's registrar leaves
   gracefully (SIGTERM): alice gets NOTIFY terminated;reason=deactivated
   from it before it exits.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import body_of, header, status_line

CONFIG = {"proxy": {"p2p_domains": ["example.com"]}, "overlay": {"request_timeout_ms": 600}}


def is_notify(state_prefix):
    return lambda m: m.startswith("NOTIFY ") and (header(m, "Subscription-State") or "").startswith(state_prefix)


def subscribe(phone, node, user, *, call_id=None, from_tag=None, to_tag=None, cseq=1, expires=600, ruri=None):
    to = f"<sip:{user}@example.com>" + (f";tag={to_tag}" if to_tag else "")
    req = phone.request("SUBSCRIBE", ruri or f"sip:{user}@example.com", to=to, call_id=call_id, from_tag=from_tag,
                        cseq=cseq, extra=f"Event: presence\nAccept: application/pidf+xml\nExpires: {expires}")
    _, final = phone.transact(node, req)
    return req, final


def take_notify(phone, pred, what, timeout=5):
    m = phone.recv(timeout, pred)
    check(m is not None, f"alice got no {what}")
    phone.reply_to(m, None, 200, "OK")
    return m


def body(args):
    with ringlib.Cluster(args.sippeer, "presence", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 3, config=CONFIG, stabilize_ms=300, log_level="info")
        owner = sipplib.owner_of(nodes, "sip:bob@example.com")
        others = [n for n in nodes if n is not owner]
        entry = others[0]
        alice = phones.raw_phone("alice")

        # ---- 1. parked
        req, final = subscribe(alice, entry, "bob")
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"alice's SUBSCRIBE to bob: {final}")
        to_tag = re.search(r";tag=([^;\s>]+)", header(final, "To", "t") or "")
        contact = re.search(r"<([^>]+)>", header(final, "Contact", "m") or "")
        check(to_tag and contact and header(final, "Expires"), f"the 202 lacks a To tag, Contact or Expires:\n{final}")
        check(contact.group(1) == f"sip:{owner.address}", f"the 202's Contact {contact.group(1)} is not bob's "
              f"registrar {owner.address}")
        n1 = take_notify(alice, is_notify("pending"), "NOTIFY pending")
        check("application/pidf+xml" in (header(n1, "Content-Type", "c") or "") and
              "<basic>closed</basic>" in body_of(n1) and "sip:bob@example.com" in body_of(n1),
              f"the pending NOTIFY has no offline PIDF:\n{n1}")
        check(header(n1, "Call-ID", "i") == header(req, "Call-ID") and f"tag={to_tag.group(1)}" in header(n1, "From", "f"),
              f"the NOTIFY is not in the SUBSCRIBE's dialog:\n{n1}")
        log(f"SUBSCRIBE to bob (offline) parked at {owner.name}: 202, NOTIFY pending with an offline PIDF")

        # ---- 2. refresh in the dialog
        call_id, from_tag = header(req, "Call-ID"), re.search(r";tag=([^;\s]+)", header(req, "From")).group(1)
        _, final = subscribe(alice, owner, "bob", call_id=call_id, from_tag=from_tag, to_tag=to_tag.group(1), cseq=2,
                             ruri=contact.group(1))
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice's refresh: {final}")
        n2 = take_notify(alice, is_notify("pending"), "NOTIFY after the refresh")
        check(int(header(n2, "CSeq").split()[0]) > int(header(n1, "CSeq").split()[0]), "the NOTIFY CSeq did not grow")
        log("refreshed in the dialog: 200 and another NOTIFY pending")

        # ---- 3. kill -9 of bob's registrar, then bob registers
        time.sleep(1.0)
        owner.kill9()
        ringlib.wait_consistent(others, 10, what="the ring without bob's registrar",
                                parts=("predecessor", "successors"))
        bob = phones.raw_phone("bob")
        reg = bob.request("REGISTER", "sip:example.com", to="<sip:bob@example.com>", extra="Expires: 600")
        _, final = bob.transact(others[1], reg)
        check(final and status_line(final) == "SIP/2.0 200 OK", f"bob's REGISTER: {final}")
        n3 = take_notify(alice, is_notify("terminated"), "NOTIFY terminated after bob registered")
        check("reason=deactivated" in header(n3, "Subscription-State"), f"not deactivated:\n{n3}")
        check(header(n3, "Call-ID", "i") == call_id, "the deactivating NOTIFY is not in alice's dialog")
        req = alice.request("SUBSCRIBE", "sip:bob@example.com", to="<sip:bob@example.com>",
                            extra="Event: presence\nExpires: 600")
        alice.send(entry, req)
        # The registrar asks bob's phone first what it allows (the report's
        # OPTIONS probe); it allows SUBSCRIBE, so the SUBSCRIBE follows.
        probe = bob.recv(5, lambda m: m.startswith("OPTIONS "))
        check(probe is not None, "bob's phone got no OPTIONS probe before the SUBSCRIBE")
        bob.reply_to(probe, None, 200, "OK", extra="Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY")
        sub = bob.recv(5, lambda m: m.startswith("SUBSCRIBE "))
        check(sub is not None, "alice's new SUBSCRIBE did not reach bob's phone")
        log(f"kill -9 of {owner.name}; bob registered: alice's subscription deactivated by the new registrar, "
            f"and her new SUBSCRIBE reached bob's phone")

        # ---- 3b. bob's phone does not do presence (489): the registrar
        # parks the subscription instead of ending it (procedure 6.1).
        bob.reply_to(sub, None, 489, "Bad Event")
        final = alice.recv(5, lambda m: m.startswith("SIP/2.0 ") and int(m.split()[1]) >= 200 and
                           "SUBSCRIBE" in (header(m, "CSeq") or "") and header(m, "Call-ID", "i") == header(req, "Call-ID"))
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"after bob's 489, alice got {final}")
        take_notify(alice, is_notify("pending"), "NOTIFY pending after bob's phone refused the SUBSCRIBE")
        _, final = bob.transact(others[1], bob.request("REGISTER", "sip:example.com", to="<sip:bob@example.com>",
                                                       extra="Expires: 600"))
        check(final and status_line(final) == "SIP/2.0 200 OK", f"bob's refresh: {final}")
        check(alice.recv(1.5, is_notify("terminated")) is None,
              "bob's refresh REGISTER ended the subscription his phone had refused (it would only be refused again)")
        log("bob's phone answered 489 Bad Event: the registrar parked alice's subscription (202, NOTIFY pending); "
            "bob's next REGISTER left it parked")

        # ---- 3c. the OPTIONS probe: dora's phone does not allow SUBSCRIBE
        dora = phones.raw_phone("dora")
        _, final = dora.transact(entry, dora.request("REGISTER", "sip:example.com", to="<sip:dora@example.com>",
                                                     extra="Expires: 600"))
        check(final and status_line(final) == "SIP/2.0 200 OK", f"dora's REGISTER: {final}")
        req, _ = None, None
        alice.send(entry, alice.request("SUBSCRIBE", "sip:dora@example.com", to="<sip:dora@example.com>",
                                        extra="Event: presence\nExpires: 600"))
        probe = dora.recv(5, lambda m: m.startswith("OPTIONS "))
        check(probe is not None, "dora's phone got no OPTIONS probe")
        dora.reply_to(probe, None, 200, "OK", extra="Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE")
        final = alice.recv(5, lambda m: m.startswith("SIP/2.0 ") and int(m.split()[1]) >= 200 and
                           "SUBSCRIBE" in (header(m, "CSeq") or "") and "dora" in (header(m, "To", "t") or ""))
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"alice's SUBSCRIBE to dora: {final}")
        take_notify(alice, lambda m: is_notify("pending")(m) and "dora@" in (header(m, "From", "f") or ""),
                    "NOTIFY pending for dora")
        check(dora.recv(1.0, lambda m: m.startswith("SUBSCRIBE ")) is None,
              "the SUBSCRIBE reached dora's phone though its Allow lacks SUBSCRIBE")
        # A second watcher: the answer is remembered, no second probe.
        watcher = phones.raw_phone("watcher")
        _, final = subscribe(watcher, others[0], "dora")
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"the second SUBSCRIBE to dora: {final}")
        check(dora.recv(1.0, lambda m: m.startswith("OPTIONS ") or m.startswith("SUBSCRIBE ")) is None,
              "dora's phone was probed or subscribed again")
        log("OPTIONS probe: dora's phone allows no SUBSCRIBE, so alice's SUBSCRIBE was parked without reaching it; "
            "a second watcher was parked with no new probe")

        # ---- 4. graceful leave ends parked subscriptions
        carol_owner = sipplib.owner_of(others, "sip:carol@example.com")
        req, final = subscribe(alice, others[0], "carol")
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"alice's SUBSCRIBE to carol: {final}")
        take_notify(alice, is_notify("pending"), "NOTIFY pending for carol")
        code = carol_owner.stop()
        # (It also ends the subscription to bob if it parked that one too.)
        n4 = take_notify(alice, lambda m: is_notify("terminated")(m) and "carol@" in (header(m, "From", "f") or ""),
                         "NOTIFY terminated when carol's registrar left")
        check("reason=deactivated" in header(n4, "Subscription-State") and "carol" in header(n4, "From", "f"),
              f"carol's registrar's leave NOTIFY:\n{n4}")
        log(f"{carol_owner.name} left (exit {code}): alice's subscription to carol ended with reason=deactivated")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
