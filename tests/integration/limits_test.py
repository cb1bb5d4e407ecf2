#!/usr/bin/env python3
"""Not an open relay, per-source limits and resource bounds (issue 14).

A ring of two nodes on 127.0.0.1 with proxy.allowed_networks [127.0.0.1/32],
so that phones bound to 127.0.0.2..7 are "outside" (another segment, or the
Internet), and 127.0.0.3 plays a foreign SIP server.

  relay         from outside: a MESSAGE to the foreign server's IP -> 403
                and the server sees nothing; to sip:bob@foreign.example
                (a domain, not in the ring) -> 403; an ACK to the foreign
                IP is not forwarded. To alice, a ring user -> delivered.
                From inside, the same MESSAGE to the foreign IP goes there.
  contacts      registrar.max_contacts 2: a REGISTER with three -> 403.
  size          limits.max_message_bytes 2048: a 3000-byte MESSAGE -> 413.
  transactions  limits.per_source_transactions 2: alice (a raw phone) does
                not answer; a third MESSAGE from the same source -> 503.
  records       limits.max_records 100 on a node of its own: 100 users
                register, the 101st -> 503, user 1's refresh -> 200.
  flood         limits.per_source_rate 50: sipp REGISTERs from 127.0.0.5 at
                250/s (5x) for 6 s; meanwhile a phone on 127.0.0.6 registers
                and sends 12 MESSAGEs to alice, all answered 200, and calls
                her (INVITE answered 200); the flood
                got 503s, most of it was dropped, /metrics counts both.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

DOMAIN = sipplib.DOMAIN
RATE = 50


def metric(node, name):
    _, body = ringlib.http_get(ringlib.LOCALHOST, node.admin_port, "/metrics")
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def final_of(phone, node, text, timeout=5):
    _, final = phone.transact(node, text, timeout=timeout)
    return final and status_line(final)


def register(phone, node, user, contacts=None, expires=600):
    extra = f"Expires: {expires}"
    if contacts:
        extra += "\nContact: " + ", ".join(contacts)
    text = phone.request("REGISTER", f"sip:{DOMAIN}", to=f"<sip:{user}@{DOMAIN}>", frm=f"<sip:{user}@{DOMAIN}>",
                         extra=extra, contact=not contacts)
    return final_of(phone, node, text)


def answer_messages(phone, n, timeout, sender=""):
    """Answers up to n MESSAGEs (from `sender`, a user name) 200 as they
    come; returns how many. Retransmissions of earlier ones may wait in
    the socket too: the sender tells them apart."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < n and time.monotonic() < deadline:
        m = phone.recv(max(0.05, deadline - time.monotonic()),
                       lambda t: t.startswith("MESSAGE ") and f"sip:{sender}" in (header(t, "From", "f") or ""))
        if m is None:
            break
        phone.send(header(m, "Via").split()[1].split(";")[0], phone.answer(m, 200, "OK"))
        got += 1
    return got


def body(args):
    cfg = {"proxy": {"allowed_networks": ["127.0.0.1/32"]},
           "registrar": {"max_contacts": 2},
           "limits": {"per_source_rate": RATE, "per_source_transactions": 2, "max_message_bytes": 2048}}
    with ringlib.Cluster(args.sippeer, name="sippeer-limits") as cl, sipplib.Phones(cl) as phones:
        n1, n2 = sipplib.start_ring(cl, 2, config=cfg, log_level="info")
        alice = sipplib.RawPhone("alice")
        phones.raw.append(alice)
        check(register(alice, n1, "alice") == "SIP/2.0 200 OK", "alice could not register")

        # --- relay
        outsider = sipplib.RawPhone("eve", host="127.0.0.2")
        foreign = sipplib.RawPhone("srv", host="127.0.0.3")
        phones.raw += [outsider, foreign]
        to_ip = f"sip:x@{foreign.address}"
        got = final_of(outsider, n1, outsider.request("MESSAGE", to_ip, to=f"<{to_ip}>", body="relay me"))
        check(got == "SIP/2.0 403 Forbidden (not a relay)", f"outside -> foreign IP: {got!r}")
        got = final_of(outsider, n1, outsider.request("MESSAGE", "sip:bob@foreign.example",
                                                      to="<sip:bob@foreign.example>", body="relay me"))
        check(got == "SIP/2.0 403 Forbidden (not a relay)", f"outside -> foreign domain: {got!r}")
        outsider.send(n1, outsider.request("ACK", to_ip, to=f"<{to_ip}>;tag=x", contact=False))
        check(foreign.recv(1.0) is None, "the foreign server got something from the outsider through the node")
        log("outside -> a foreign IP, domain or ACK: 403 / dropped; the foreign server saw nothing")

        outsider.send(n2, outsider.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>", body="hi"))
        check(answer_messages(alice, 1, 5, "eve") == 1, "outside -> alice (a ring user) was not delivered")
        check(outsider.recv(5, lambda m: m.startswith("SIP/2.0 200")), "outside -> alice: no 200")
        with sipplib.RawPhone("carol") as insider:
            insider.send(n1, insider.request("MESSAGE", to_ip, to=f"<{to_ip}>", body="ok from inside"))
            check(answer_messages(foreign, 1, 5, "carol") == 1, "inside -> foreign IP did not reach it")
            check(insider.recv(5, lambda m: m.startswith("SIP/2.0 200")), "inside -> foreign IP: no 200")
        log("outside -> a ring user: delivered; inside -> the foreign IP: delivered")

        # --- contacts and size
        got = register(alice, n1, "dave", contacts=[f"<sip:dave@127.0.0.1:{p}>" for p in (7001, 7002, 7003)])
        check(got == "SIP/2.0 403 Too Many Contacts", f"three contacts with max_contacts 2: {got!r}")
        got = final_of(alice, n1, alice.request("MESSAGE", f"sip:bob@{DOMAIN}", to=f"<sip:bob@{DOMAIN}>",
                                                body="x" * 3000))
        check(got is not None and got.startswith("SIP/2.0 413"), f"3000-byte MESSAGE: {got!r}")
        log("max_contacts: 403 Too Many Contacts; max_message_bytes: 413")

        # --- open transactions per source (alice does not answer)
        pest = sipplib.RawPhone("pest", host="127.0.0.4")
        phones.raw.append(pest)
        for i in range(2):
            pest.send(n1, pest.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>", body=str(i)))
        time.sleep(0.5)
        got = final_of(pest, n1, pest.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>",
                                              body="3rd"), timeout=3)
        check(got is not None and got.startswith("SIP/2.0 503") and "open requests" in got,
              f"third open MESSAGE from one source: {got!r}")
        check(answer_messages(alice, 2, 5, "pest") == 2, "the two open MESSAGEs did not reach alice")
        time.sleep(0.3)
        pest.send(n1, pest.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>", body="4th"))
        check(answer_messages(alice, 1, 5, "pest") == 1, "after the two were answered, a new MESSAGE was not delivered")
        log("per_source_transactions 2: the third open MESSAGE -> 503; once answered, the next goes through")

        # --- records
        small = cl.add("small", new_ring=True, config={"limits": {"max_records": 100, "per_source_rate": 0}})
        small.wait_joined()
        with sipplib.RawPhone("u") as p:
            for i in range(100):
                got = register(p, small, f"user{i}")
                check(got == "SIP/2.0 200 OK", f"user{i}: {got!r}")
            got = register(p, small, "user100")
            check(got is not None and got.startswith("SIP/2.0 503") and "registrar full" in got,
                  f"the 101st AOR: {got!r}")
            check(register(p, small, "user1") == "SIP/2.0 200 OK", "a known user's refresh was refused")
        log("max_records 100: the 101st AOR -> 503 (registrar full); refreshes still 200")

        # --- flood from one source; another phone is unaffected
        flood_calls = RATE * 5 * 6
        flood = phones.sipp("flood", "register.xml", n1, service="flooder", calls=flood_calls, rate=RATE * 5,
                            local_ip="127.0.0.5", timeout=25)
        time.sleep(1.0)
        good = sipplib.RawPhone("good", host="127.0.0.6")
        phones.raw.append(good)
        check(register(good, n1, "good") == "SIP/2.0 200 OK", "a phone on another address could not register")
        ok = 0
        called = False
        for i in range(12):
            good.send(n1, good.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>", body=str(i)))
            answer_messages(alice, 1, 3, "good")
            ok += good.recv(3, lambda m: m.startswith("SIP/2.0 200")) is not None
            time.sleep(0.3)
            if i == 5:
                # and a call: INVITE, alice answers 200, the caller ACKs
                inv = good.request("INVITE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>",
                                   body="v=0\r\n", content_type="application/sdp")
                good.send(n1, inv)
                got = alice.recv(3, lambda m: m.startswith("INVITE ") and "sip:good" in (header(m, "From", "f") or ""))
                check(got is not None, "the INVITE from another address did not reach alice during the flood")
                alice.send(header(got, "Via").split()[1].split(";")[0], alice.answer(got, 200, "OK"))
                ans = good.recv(3, lambda m: m.startswith("SIP/2.0 200") and "INVITE" in (header(m, "CSeq") or ""))
                check(ans is not None, "the caller on another address got no 200 for its INVITE during the flood")
                called = True
        check(ok == 12, f"only {ok} of 12 MESSAGEs from another address got 200 during the flood")
        check(called, "no call was made during the flood")
        flood.wait(60)
        elapsed = time.monotonic() - flood.started
        succeeded, _ = flood.counts()
        refused, dropped = metric(n1, 'sippeer_source_limited_total{verdict="503"}'), \
            metric(n1, 'sippeer_source_limited_total{verdict="dropped"}')
        check(refused and refused > 0 and dropped and dropped > refused,
              f"flood: {refused} answered 503, {dropped} dropped")
        # sipp retransmits what got no answer, so more than the rate gets
        # through in the end, but never more than the bucket lets pass:
        # the rate over the whole run plus one burst.
        bound = RATE * elapsed + 2 * RATE
        check(succeeded <= bound * 1.1, f"flood: {succeeded} REGISTERs served in {elapsed:.1f} s, bound {bound:.0f}")
        check("sends more than 50 requests/s" in n1.log(), "the flood was not logged")
        log(f"flood at {RATE * 5}/s from 127.0.0.5: {succeeded} of {flood_calls} served in {elapsed:.1f} s "
            f"(bound {bound:.0f}), {refused} x 503, "
            f"{dropped} dropped; 12 of 12 MESSAGEs and a call from 127.0.0.6 answered 200")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
