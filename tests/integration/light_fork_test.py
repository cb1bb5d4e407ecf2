#!/usr/bin/env python3
"""A MESSAGE forked to two phones without transactions (light_fork.cpp).

Ring of 3, sip.transaction_lifetime_ms 5000. Users with two UDP phones
each (raw sockets); alice sends through a node that does not own them,
which relays to the owner statelessly; the owner forks to both phones
and keeps only ForkTable's record (adaptor/proxy/fork_table.h):

1. bob's two phones both get the MESSAGE, each with a branch of its own;
   the first 200 reaches alice, the second does not (RFC 3261 17.2.2).
   alice's copy sent after the answer gets the same 200 (same To tag)
   from the owner's record, and no phone sees that copy.
2. A copy sent while neither phone has answered reaches both again with
   the branches of the first (so their server transactions absorb it);
   then both refuse (486, 480): alice gets one final answer, a 4xx.
3. carol's two phones have quit (their ports answer ICMP): alice's next
   copy, 0.5 s later as Timer E sends it, gets 408 within 2.5 s.
4. dave's two phones are up but never answer: after the branch timeout
   (transaction_lifetime_ms, 5 s) alice's next copy gets 408.
The owners' sippeer_sip_light_forks_total counts one fork per MESSAGE
(a copy is no new fork), and while bob's second fork waits for his
phones the owner holds no proxy transaction for it. bob's first forked
copies left the owner from its own socket with its Via
(FastReply::relay_request, sippeer_sip_udp_relayed_requests_total), not
through nta.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log, metric
from sipplib import header, is_final


def crlf(text):
    return text if "\r\n" in text else text.replace("\n", "\r\n")


def register(phone, node, user):
    reg = phone.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:{user}@{sipplib.DOMAIN}>",
                        call_id=f"reg-{user}-{phone.port}", extra="Expires: 600")
    phone.send(node, crlf(reg))
    final = phone.recv(5, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
    check(final is not None and final.startswith("SIP/2.0 200"), f"{user}'s REGISTER: {final!r}")


def top_branch(request):
    via = (sipplib.headers(request, "Via") + sipplib.headers(request, "v"))[0]
    return re.search(r"branch=([^;\s]+)", via).group(1)


def is_message(m):
    return m.startswith("MESSAGE ")


def final_to(alice, call_id, timeout):
    return alice.recv(timeout, lambda m: m.startswith("SIP/2.0 ") and is_final(m) and
                      header(m, "Call-ID", "i") == call_id)


def body(args):
    config = {"proxy": {"p2p_domains": [sipplib.DOMAIN]},
              "sip": {"transaction_lifetime_ms": 5000}, "overlay": {"request_timeout_ms": 300}}
    with ringlib.Cluster(args.sippeer, "light-fork", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config, log_level="info")
        users = {u: sipplib.owner_of(ring, f"sip:{u}@{sipplib.DOMAIN}") for u in ("bob", "carol", "dave")}
        # An edge that owns none of them, so every MESSAGE crosses a ring hop.
        edge = next((n for n in ring if n not in users.values()), None)
        if edge is None:
            edge = next(n for n in ring if n is not users["bob"])
        phones = {}
        for u in users:
            phones[u] = [ph.raw_phone(u), ph.raw_phone(u)]
            for p in phones[u]:
                register(p, edge, u)
        alice = ph.raw_phone("alice")
        owner = users["bob"]
        before = {n.name: metric(n, "sippeer_sip_light_forks_total") for n in ring}
        log(f"ring of 3 up; bob, carol, dave have two phones each; alice sends through {edge.name}")

        # 1. The first 200 goes up; the second does not; a late copy gets the first again.
        bob1, bob2 = phones["bob"]
        msg = crlf(alice.request("MESSAGE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                                 body="hello, both of you"))
        call_id = header(msg, "Call-ID")
        relayed_before = metric(owner, "sippeer_sip_udp_relayed_requests_total")
        alice.send(edge, msg)
        got1, got2 = bob1.recv(3, is_message), bob2.recv(3, is_message)
        check(got1 is not None and got2 is not None, f"a phone missed the forked MESSAGE: {got1!r} {got2!r}")
        check(top_branch(got1) != top_branch(got2), "both phones got the same Via branch")
        relayed = metric(owner, "sippeer_sip_udp_relayed_requests_total") - relayed_before
        check(relayed >= 2, f"{owner.name} sent {relayed:.0f} of the forked copies from its own socket, expected both")
        bob1.reply_to(got1, None, 200, "OK", to_tag="bob1")
        first = final_to(alice, call_id, 3)
        check(first is not None and first.startswith("SIP/2.0 200") and "bob1" in header(first, "To", "t"),
              f"alice's MESSAGE to bob: {first!r}")
        bob2.reply_to(got2, None, 200, "OK", to_tag="bob2")
        second = final_to(alice, call_id, 1.0)
        check(second is None, f"alice got a second final answer: {second!r}")
        log("the first 200 reached alice, the second did not")
        alice.send(edge, msg)
        again = final_to(alice, call_id, 3)
        check(again is not None and again.startswith("SIP/2.0 200") and "bob1" in header(again, "To", "t"),
              f"alice's late copy got {again!r}, not the first 200 again")
        for p in (bob1, bob2):
            seen = p.recv(0.5, is_message)
            check(seen is None, f"a phone got the copy sent after the answer: {seen!r}")
        log("a copy after the answer got the same 200 from the owner's record; no phone saw it")

        # 2. A copy while nobody has answered goes to both with the first branches.
        msg = crlf(alice.request("MESSAGE", f"sip:bob@{sipplib.DOMAIN}", to=f"<sip:bob@{sipplib.DOMAIN}>",
                                 body="anyone?"))
        call_id = header(msg, "Call-ID")
        alice.send(edge, msg)
        a1, a2 = bob1.recv(3, is_message), bob2.recv(3, is_message)
        check(a1 is not None and a2 is not None, "a phone missed the second MESSAGE")
        alice.send(edge, msg)  # Timer E
        b1, b2 = bob1.recv(3, is_message), bob2.recv(3, is_message)
        check(b1 is not None and b2 is not None, "the retransmission did not reach both phones")
        held = metric(owner, "sippeer_proxy_transactions")
        check(held == 0, f"{owner.name} holds {held:.0f} proxy transaction(s) for a fork waiting on its phones")
        check(top_branch(a1) == top_branch(b1) and top_branch(a2) == top_branch(b2),
              "a retransmission went out with new branches: the phones could not absorb it")
        bob1.reply_to(a1, None, 486, "Busy Here", to_tag="bob1")
        bob2.reply_to(a2, None, 480, "Temporarily Unavailable", to_tag="bob2")
        final = final_to(alice, call_id, 3)
        check(final is not None and final.startswith("SIP/2.0 4"), f"both phones refused; alice got {final!r}")
        extra = final_to(alice, call_id, 1.0)
        check(extra is None, f"alice got a second final answer: {extra!r}")
        log(f"a copy while pending reached both phones on their branches; both refused, alice got {sipplib.status_line(final)!r}")

        # 3. Two phones that quit: ICMP, then 408 at the next copy.
        for p in phones["carol"]:
            p.close()
        msg = crlf(alice.request("MESSAGE", f"sip:carol@{sipplib.DOMAIN}", to=f"<sip:carol@{sipplib.DOMAIN}>",
                                 body="carol?"))
        call_id = header(msg, "Call-ID")
        t0 = time.monotonic()
        alice.send(edge, msg)
        final = final_to(alice, call_id, 0.5)
        if final is None:
            alice.send(edge, msg)
            final = final_to(alice, call_id, 3)
        took = time.monotonic() - t0
        check(final is not None and final.startswith("SIP/2.0 408") and took <= 2.5,
              f"alice's MESSAGE to carol's quit phones: {final!r} after {took:.2f} s (expected 408 within 2.5 s)")
        log(f"both of carol's phones refused (ICMP): 408 after {took:.2f} s")

        # 4. Two silent phones: the branches give up after 5 s.
        msg = crlf(alice.request("MESSAGE", f"sip:dave@{sipplib.DOMAIN}", to=f"<sip:dave@{sipplib.DOMAIN}>",
                                 body="dave?"))
        call_id = header(msg, "Call-ID")
        t0 = time.monotonic()
        interval, final = 0.5, None
        while final is None and time.monotonic() - t0 < 12:
            alice.send(edge, msg)
            final = final_to(alice, call_id, interval)
            interval = min(interval * 2, 4.0)  # Timer E, up to T2
        took = time.monotonic() - t0
        check(final is not None and final.startswith("SIP/2.0 408") and 5 <= took <= 10,
              f"alice's MESSAGE to dave's silent phones: {final!r} after {took:.2f} s (expected 408 after 5-10 s)")
        for p in phones["dave"]:
            check(p.recv(0.1, is_message) is not None, "a silent phone never got dave's MESSAGE")
        log(f"dave's phones never answered: 408 after {took:.2f} s")

        want = {"bob": 2, "carol": 1, "dave": 1}
        for n in set(users.values()):
            got = metric(n, "sippeer_sip_light_forks_total") - before[n.name]
            expect = sum(v for u, v in want.items() if users[u] is n)
            check(got == expect, f"{n.name} made {got:.0f} light forks, expected {expect}")
        log("the owners counted one light fork per MESSAGE")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
