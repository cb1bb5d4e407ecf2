#!/usr/bin/env python3
"""Offline messages (issue 17): a MESSAGE to a user with no binding is kept
in the ring (202), survives kill -9 of the node that kept it and a restart
of the whole ring, and is delivered in order when the user registers.

Ring of 3, proxy.p2p_domains [example.com], offline.max_per_sender 3.
Phones are raw UDP sockets (sipplib.RawPhone) so that every answer and
every delivered request can be checked field by field.

1. alice sends three MESSAGEs to sip:bob@example.com (not registered)
   through a node that is not bob's registrar: 202 each; the first is sent
   twice (a retransmission): 202 again, kept once. A fourth from alice: 480
   (her share of the mailbox is full); one from carol: 202. A MESSAGE to
   sip:bob@example.org (not a ring domain: its DNS branch may reach him)
   is not kept. The registrar's metrics say 4 kept, 1 refused.
2. kill -9 of bob's registrar, 1 s later (replicas are batched for 20 ms).
3. bob registers through another survivor: 200, then the four MESSAGEs
   arrive in the order they were sent, each with its sender's From, its
   body and a Date; bob answers 200 to each. Registering again brings
   nothing more.
4. carol sends one MESSAGE to dave (not registered); every node is
   stopped and started again with its state dir. dave registers: his
   message arrives; bob registers: nothing (the emptied mailbox's newer
   version wins over the copy the killed node kept on disk).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import body_of, header, status_line

STABILIZE_MS = 300
CONFIG = {"proxy": {"p2p_domains": ["example.com"]},
          "offline": {"max_per_sender": 3},
          "overlay": {"request_timeout_ms": 600}}


def metric(node, name):
    code, text = ringlib.http_get(node.listen, node.admin_port, "/metrics", timeout=5)
    m = re.search(rf"^{name} (\d+)$", text if isinstance(text, str) else "", re.M)
    return int(m.group(1)) if m else None


def message(phone, node, to_user, body, domain="example.com", resend=False):
    req = phone.request("MESSAGE", f"sip:{to_user}@{domain}", to=f"<sip:{to_user}@{domain}>", body=body)
    _, final = phone.transact(node, req)
    if resend:
        _, again = phone.transact(node, req)
        return final, again
    return final


def register(phone, node):
    req = phone.request("REGISTER", "sip:example.com", to=f"<sip:{phone.user}@example.com>", extra="Expires: 600")
    _, final = phone.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"{phone.user} registering through {node.name}: {final}")


def take_messages(phone, n, timeout=10):
    """The next n MESSAGEs the phone receives, each answered 200."""
    got = []
    for _ in range(n):
        m = phone.recv(timeout, lambda t: t.startswith("MESSAGE "))
        check(m is not None, f"{phone.user} got {len(got)} kept MESSAGEs, expected {n}")
        phone.reply_to(m, None, 200, "OK")
        got.append(m)
    return got


def body(args):
    with ringlib.Cluster(args.sippeer, "offline", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 3, config=CONFIG, stabilize_ms=STABILIZE_MS, log_level="info")
        owner = sipplib.owner_of(nodes, "sip:bob@example.com")
        others = [n for n in nodes if n is not owner]
        entry = others[0]
        log(f"bob's registrar is {owner.name}; messages enter at {entry.name}")

        # ---- 1. kept while bob is offline
        alice, carol = phones.raw_phone("alice"), phones.raw_phone("carol")
        sent = [f"note {i} from alice, with a comma; and a semicolon" for i in (1, 2, 3)]
        for i, text in enumerate(sent):
            if i == 0:
                final, again = message(alice, entry, "bob", text, resend=True)
                check(again and status_line(again) == "SIP/2.0 202 Accepted",
                      f"alice's retransmitted MESSAGE: {again}")
            else:
                final = message(alice, entry, "bob", text)
            check(final and status_line(final) == "SIP/2.0 202 Accepted", f"alice's MESSAGE {i + 1}: {final}")
        final = message(alice, entry, "bob", "one too many")
        check(final and status_line(final).startswith("SIP/2.0 480 "), f"alice's fourth MESSAGE: {final}")
        sent.append("carol here: ünïcode too")
        final = message(carol, entry, "bob", sent[-1])
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"carol's MESSAGE: {final}")
        final = message(alice, entry, "bob", "to another domain", domain="example.org")
        check(final and not status_line(final).startswith("SIP/2.0 2"),
              f"a MESSAGE to sip:bob@example.org (no ring domain) was answered {final}")
        check(metric(owner, "sippeer_offline_kept_total") == 4 and
              metric(owner, "sippeer_offline_refused_total") == 1,
              f"{owner.name}: kept {metric(owner, 'sippeer_offline_kept_total')}, refused "
              f"{metric(owner, 'sippeer_offline_refused_total')}; expected 4 and 1")
        log("4 MESSAGEs kept for bob (a retransmission once), alice's fourth refused with 480, "
            "example.org not kept")

        # ---- 2. the registrar dies
        time.sleep(1.0)
        owner.kill9()
        ringlib.wait_consistent(others, 10, what="the ring without bob's registrar",
                                parts=("predecessor", "successors"))
        log(f"kill -9 of {owner.name}; the other two are a ring again")

        # ---- 3. bob registers: the four arrive in order
        bob = phones.raw_phone("bob")
        register(bob, others[1])
        got = take_messages(bob, 4)
        bodies = [body_of(m) for m in got]
        check(bodies == sent, f"bob got {bodies}, expected {sent} in that order")
        for m, who in zip(got, ("alice", "alice", "alice", "carol")):
            frm = header(m, "From", "f") or ""
            check(f"sip:{who}@example.com" in frm, f"a kept MESSAGE's From is {frm!r}, expected {who}'s")
            check(header(m, "Date"), f"a kept MESSAGE has no Date:\n{m}")
            check((header(m, "Content-Type", "c") or "").startswith("text/plain"), f"Content-Type lost:\n{m}")
        check(bob.recv(1.5, lambda t: t.startswith("MESSAGE ")) is None, "bob got a fifth MESSAGE")
        register(bob, others[0])
        check(bob.recv(2, lambda t: t.startswith("MESSAGE ")) is None,
              "bob's second REGISTER brought a delivered message again")
        log("bob registered: 4 MESSAGEs arrived in order with From, Date and body; nothing more after")

        # ---- 4. the whole ring restarts
        final = message(carol, others[0], "dave", "for dave, across a restart")
        check(final and status_line(final) == "SIP/2.0 202 Accepted", f"carol's MESSAGE to dave: {final}")
        time.sleep(1.0)
        for n in others:
            n.stop()
        cl.restart(nodes[0])
        nodes[0].wait_joined()
        for n in nodes[1:]:
            cl.restart(n)
        for n in nodes[1:]:
            n.wait_joined()
        ringlib.wait_consistent(nodes, 20, what="the restarted ring", parts=("predecessor", "successors"))
        time.sleep(1.0)  # hand-overs to the restarted registrars
        dave = phones.raw_phone("dave")
        register(dave, nodes[1])
        got = take_messages(dave, 1)
        check(body_of(got[0]) == "for dave, across a restart", f"dave got {body_of(got[0])!r}")
        bob2 = phones.raw_phone("bob")
        register(bob2, nodes[2])
        check(bob2.recv(2, lambda t: t.startswith("MESSAGE ")) is None,
              "after the restart bob got an already delivered message again")
        log("whole ring restarted: dave's kept message arrived; bob's delivered ones stayed delivered")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
