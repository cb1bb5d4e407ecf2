#!/usr/bin/env python3
"""The registration event package, RFC 3680 (issue 17, report 6.1),
served by the user's registrar.

Ring of 3, proxy.p2p_domains [example.com], registrar.min_expires 1 (so a
binding can expire within the test). The watcher and bob are raw UDP
phones (sipplib.RawPhone); every NOTIFY is answered 200 and its reginfo
document checked.

1. The watcher subscribes (Event: reg) to bob, not registered, through a
   node that is not bob's registrar: 202 from the registrar; NOTIFY
   active with a full document, registration state "init", no contact.
2. bob registers (through the third node): a partial NOTIFY, contact
   active/registered. bob refreshes: refreshed. bob removes his binding
   (Expires: 0): unregistered, registration terminated.
3. bob registers with Expires: 2 and sends nothing more: registered, then,
   with no message from anyone, expired.
4. kill -9 of bob's registrar; bob registers again: the successor, which
   holds the subscription's replica, sends a full document in the same
   dialog.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import body_of, header, status_line

CONFIG = {"proxy": {"p2p_domains": ["example.com"]}, "registrar": {"min_expires": 1},
          "overlay": {"request_timeout_ms": 600}}


def next_notify(phone, what, timeout=5):
    m = phone.recv(timeout, lambda t: t.startswith("NOTIFY "))
    check(m is not None, f"the watcher got no NOTIFY ({what})")
    phone.reply_to(m, None, 200, "OK")
    check(header(m, "Event", "o") == "reg" and "application/reginfo+xml" in (header(m, "Content-Type", "c") or ""),
          f"not a reginfo NOTIFY ({what}):\n{m}")
    return m


def doc(m):
    """(document state, registration state, [(contact state, event)], version)."""
    b = body_of(m)
    top = re.search(r'<reginfo [^>]*version="(\d+)" state="(\w+)"', b)
    reg = re.search(r'<registration [^>]*state="(\w+)"', b)
    contacts = re.findall(r'<contact [^>]*state="(\w+)" event="(\w+)"', b)
    check(top and reg, f"not a reginfo document:\n{b}")
    return top.group(2), reg.group(1), contacts, int(top.group(1))


def register(bob, node, expires):
    req = bob.request("REGISTER", "sip:example.com", to="<sip:bob@example.com>", call_id=f"reg-{bob.port}",
                      cseq=register.cseq, extra=f"Expires: {expires}")
    register.cseq += 1
    _, final = bob.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"bob's REGISTER (Expires {expires}): {final}")


register.cseq = 1


def body(args):
    with ringlib.Cluster(args.sippeer, "regevent", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 3, config=CONFIG, stabilize_ms=300, log_level="info")
        owner = sipplib.owner_of(nodes, "sip:bob@example.com")
        others = [n for n in nodes if n is not owner]
        watcher, bob = phones.raw_phone("watcher"), phones.raw_phone("bob")
        versions = []

        # ---- 1. subscribe while bob is not registered
        req = watcher.request("SUBSCRIBE", "sip:bob@example.com", to="<sip:bob@example.com>",
                              extra="Event: reg\nAccept: application/reginfo+xml\nExpires: 600")
        _, final = watcher.transact(others[0], req)
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"SUBSCRIBE Event: reg: {final}")
        n = next_notify(watcher, "initial")
        check((header(n, "Subscription-State") or "").startswith("active"), f"not active:\n{n}")
        state, reg, contacts, v = doc(n)
        versions.append(v)
        check((state, reg, contacts) == ("full", "init", []), f"initial document: {state} {reg} {contacts}")
        call_id = header(req, "Call-ID")
        log(f"reg subscription served by bob's registrar {owner.name}: full document, registration init")

        # ---- 2. register, refresh, unregister
        expect = [(600, "registered", "active", "active"), (900, "refreshed", "active", "active"),
                  (0, "unregistered", "terminated", "terminated")]
        for expires, event, cstate, rstate in expect:
            register(bob, others[1], expires)
            n = next_notify(watcher, event)
            state, reg, contacts, v = doc(n)
            versions.append(v)
            check(state == "partial" and reg == rstate and contacts == [(cstate, event)],
                  f"after REGISTER Expires {expires}: {state} {reg} {contacts}, expected partial {rstate} "
                  f"[({cstate}, {event})]")
            check(header(n, "Call-ID", "i") == call_id, "a NOTIFY outside the subscription's dialog")
        log("REGISTER, refresh and removal each gave a partial NOTIFY: registered, refreshed, unregistered")

        # ---- 3. expiry without any message
        register(bob, others[1], 2)
        state, reg, contacts, v = doc(next_notify(watcher, "registered for 2 s"))
        versions.append(v)
        check(contacts == [("active", "registered")], f"short registration: {contacts}")
        t0 = time.monotonic()
        n = next_notify(watcher, "expiry", timeout=6)
        state, reg, contacts, v = doc(n)
        versions.append(v)
        check(contacts == [("terminated", "expired")] and reg == "terminated",
              f"expiry: {state} {reg} {contacts}")
        check(versions == list(range(len(versions))), f"reginfo versions {versions} are not 0, 1, 2, ...")
        log(f"a 2 s binding expired: partial NOTIFY 'expired' {time.monotonic() - t0:.1f} s after its 200; "
            f"versions {versions}")

        # ---- 4. the registrar dies
        time.sleep(0.5)
        owner.kill9()
        ringlib.wait_consistent(others, 10, what="the ring without bob's registrar",
                                parts=("predecessor", "successors"))
        register(bob, others[1], 600)
        n = next_notify(watcher, "after the failover")
        state, reg, contacts, _ = doc(n)
        check(state == "full" and reg == "active" and contacts == [("active", "registered")],
              f"after the failover: {state} {reg} {contacts}")
        check(header(n, "Call-ID", "i") == call_id, "the new registrar's NOTIFY is not in the watcher's dialog")
        log(f"kill -9 of {owner.name}: the new registrar sent the full state in the same dialog")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
