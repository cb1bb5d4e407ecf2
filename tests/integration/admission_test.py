#!/usr/bin/env python3
"""Admission control (issue 7): past a configured limit a node answers new
requests from phones at once with 503 and Retry-After, and serves again as
soon as the load is gone.

  transactions  overload.max_transactions 2, retry_after_s 7. A callee
                registered from two phones (so the node forks: one binding
                is relayed statelessly and holds no transaction) that does
                not answer holds two proxied MESSAGEs open; the
                third MESSAGE -> 503 with Retry-After: 7 (the callee never
                sees it). The callee answers the two -> the caller gets
                both 200s; the node's live transactions drop to 0 and a
                fourth MESSAGE goes through -> 200.
  backlog       overload.max_backlog_kb 1, retry_after_s 3. A burst of
                20,000 REGISTERs for distinct users, sent from one socket as
                fast as python can -> some are answered 503 with
                Retry-After: 3 (and none is lost without an answer beyond
                what UDP drops); afterwards a REGISTER -> 200 and the node's
                /status still answers; /metrics counts the refusals.
  inner hop     (issue 15) a ring of two: the entry node E without limits,
                the callee's owner O with overload.max_transactions 1, the
                callee again on two phones, one registered with a TCP
                contact (a fork to UDP phones alone holds no transaction). A
                caller sends MESSAGEs to E; E relays them statelessly to O.
                One held open at the callee fills O; the next -> 503 with
                Retry-After from O, relayed back through E to the caller
                (which never talked to O); E itself refused nothing.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import socket
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

DOMAIN = sipplib.DOMAIN


def metric(node, name):
    _, body = ringlib.http_get(ringlib.LOCALHOST, node.admin_port, "/metrics")
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def register(phone, node, user):
    text = phone.request("REGISTER", f"sip:{DOMAIN}", to=f"<sip:{user}@{DOMAIN}>", frm=f"<sip:{user}@{DOMAIN}>",
                         extra="Expires: 600")
    _, final = phone.transact(node, text)
    check(final is not None and final.startswith("SIP/2.0 200"), f"REGISTER {user}: {status_line(final)!r}")


def transactions_case(cl):
    node = cl.add("tx", new_ring=True, log_level="info",
                  config={"overload": {"max_transactions": 2, "retry_after_s": 7}})
    node.wait_joined()
    # Two phones share the callee's AOR: the node forks, and a fork is a
    # transaction (one binding is relayed statelessly and holds nothing).
    with sipplib.RawPhone("callee") as callee, sipplib.RawPhone("callee") as twin, \
            sipplib.RawPhone("caller") as caller:
        register(callee, node, "callee")
        register(twin, node, "callee")
        sent = []
        for i in (1, 2):
            text = caller.request("MESSAGE", f"sip:callee@{DOMAIN}", to=f"<sip:callee@{DOMAIN}>", body=f"m{i}")
            caller.send(node, text)
            sent.append(text)
        held = []
        for _ in (1, 2):
            m = callee.recv(5, lambda t: t.startswith("MESSAGE "))
            check(m is not None, "the callee did not get the first two MESSAGEs")
            held.append(m)
        log("two MESSAGEs held open at the callee (no answer yet)")
        third = caller.request("MESSAGE", f"sip:callee@{DOMAIN}", to=f"<sip:callee@{DOMAIN}>", body="m3")
        _, final = caller.transact(node, third)
        check(final is not None and final.startswith("SIP/2.0 503"),
              f"third MESSAGE with 2 transactions live: {status_line(final)!r}, expected 503")
        check(header(final, "Retry-After") == "7", f"503 without Retry-After: 7:\n{final}")
        log(f"third MESSAGE: {status_line(final)}, Retry-After: {header(final, 'Retry-After')}")
        # (nta retransmits the two held ones meanwhile; only m3 must not come)
        check(callee.recv(0.5, lambda t: t.startswith("MESSAGE ") and t.endswith("m3")) is None,
              "the refused MESSAGE reached the callee")
        for m in held:
            callee.send(node, callee.answer(m, 200, "OK", to_tag="cal"))
        for _ in (1, 2):
            m = twin.recv(5, lambda t: t.startswith("MESSAGE "))
            if m is not None:
                twin.send(node, twin.answer(m, 200, "OK", to_tag="twin"))
        for text in sent:
            cid = header(text, "Call-ID")
            r = caller.recv(5, lambda t, cid=cid: t.startswith("SIP/2.0 ") and header(t, "Call-ID", "i") == cid
                            and sipplib.is_final(t))
            check(r is not None and r.startswith("SIP/2.0 200"), f"held MESSAGE {cid}: {status_line(r)!r}")
        ringlib.wait_until(lambda: metric(node, "sippeer_proxy_transactions") == 0, 10,
                           what="the node's live transactions to drop to 0")
        fourth = caller.request("MESSAGE", f"sip:callee@{DOMAIN}", to=f"<sip:callee@{DOMAIN}>", body="m4")
        caller.send(node, fourth)
        m = callee.recv(5, lambda t: t.startswith("MESSAGE ") and t.endswith("m4"))
        check(m is not None, "the fourth MESSAGE did not reach the callee after the load was gone")
        callee.send(node, callee.answer(m, 200, "OK", to_tag="cal4"))
        m = twin.recv(5, lambda t: t.startswith("MESSAGE ") and t.endswith("m4"))
        if m is not None:
            twin.send(node, twin.answer(m, 200, "OK", to_tag="twin4"))
        cid = header(fourth, "Call-ID")
        r = caller.recv(5, lambda t: t.startswith("SIP/2.0 ") and header(t, "Call-ID", "i") == cid
                        and sipplib.is_final(t))
        check(r is not None and r.startswith("SIP/2.0 200"), f"fourth MESSAGE: {status_line(r)!r}")
        refused, _ = ringlib.wait_until(
            lambda: metric(node, 'sippeer_overload_refused_total{cause="transactions"}'), 5,
            what="the refusal to be counted")
        log(f"fourth MESSAGE after the callee answered: 200; refused by transactions: {refused}")


def backlog_case(cl):
    node = cl.add("bl", new_ring=True, log_level="info",
                  config={"overload": {"max_backlog_kb": 1, "retry_after_s": 3},
                          # the burst comes from one address: this test is about
                          # the node's own backlog, not the per-source limit
                          "limits": {"per_source_rate": 0}})
    node.wait_joined()
    host, port = node.address.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((ringlib.LOCALHOST, 0))
    me = f"{ringlib.LOCALHOST}:{s.getsockname()[1]}"
    n = 20000
    t0 = time.monotonic()
    for i in range(n):
        msg = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKfl{i}x{os.getpid()};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:f{i}@{DOMAIN}>;tag=t{i}\r\nTo: <sip:f{i}@{DOMAIN}>\r\n"
               f"Call-ID: fl{i}x{os.getpid()}@{ringlib.LOCALHOST}\r\nCSeq: 1 REGISTER\r\n"
               f"Contact: <sip:f{i}@{me}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (host, int(port)))
    log(f"sent {n} REGISTERs in {time.monotonic() - t0:.2f} s")
    codes = {}
    retry_after = set()
    s.settimeout(2.0)
    while True:
        try:
            data = s.recv(65535).decode(errors="replace")
        except socket.timeout:
            break
        code = data.split(" ", 2)[1]
        codes[code] = codes.get(code, 0) + 1
        if code == "503":
            retry_after.add(header(data, "Retry-After"))
    s.close()
    log(f"answers: {codes}, Retry-After values on 503: {sorted(x or '-' for x in retry_after)}")
    check(codes.get("503", 0) > 0, f"no 503 in a burst of {n} REGISTERs with max_backlog_kb 1: {codes}")
    check(retry_after == {"3"}, f"503 without Retry-After: 3: {retry_after}")
    refused = metric(node, 'sippeer_overload_refused_total{cause="backlog"}')
    check(refused is not None and refused >= codes["503"],
          f"/metrics counts {refused} refusals, the phone got {codes['503']} 503s")
    with sipplib.RawPhone("after") as p:
        register(p, node, "after")
    check(node.status().get("joined"), "the node is not in its ring any more")
    log(f"after the burst: REGISTER -> 200; /metrics: {refused} refused for backlog")


def inner_hop_case(cl):
    # example.com is the ring's own domain here: the MESSAGE takes the ring
    # hop (stateless at E), not the parallel DNS + P2P lookup.
    ring_domain = {"proxy": {"p2p_domains": [DOMAIN]}}
    owner_cfg = {"overload": {"max_transactions": 1, "retry_after_s": 5}, **ring_domain}
    o = cl.add("O", new_ring=True, log_level="info", stabilize_ms=300, config=owner_cfg)
    o.wait_joined()
    e = cl.add("E", bootstrap=[o], log_level="info", stabilize_ms=300, config=ring_domain)
    e.wait_joined()
    ringlib.wait_consistent([o, e], 10, what="the ring {O, E}", parts=("predecessor", "successors"))
    # A callee whose AOR the owner O holds, not E.
    user = next(u for u in (f"inner{i}" for i in range(200))
                if sipplib.owner_of([o, e], f"sip:{u}@{DOMAIN}") is o)
    with sipplib.RawPhone(user) as callee, sipplib.RawPhone(user) as twin, sipplib.RawPhone("caller") as caller:
        register(callee, e, user)
        # Two bindings, the twin's over TCP: O forks with a transaction,
        # which fills it. (A fork to UDP phones alone holds none:
        # light_fork.cpp.) No TCP listens at the twin's port, so that
        # branch ends at once; the callee's keeps the transaction open.
        reg = twin.request("REGISTER", f"sip:{DOMAIN}", to=f"<sip:{user}@{DOMAIN}>", frm=f"<sip:{user}@{DOMAIN}>",
                           extra="Expires: 600", contact=f"<sip:{user}@{twin.address};transport=tcp>")
        _, final = twin.transact(e, reg)
        check(final is not None and final.startswith("SIP/2.0 200"), f"REGISTER {user} (TCP): {status_line(final)!r}")
        first = caller.request("MESSAGE", f"sip:{user}@{DOMAIN}", to=f"<sip:{user}@{DOMAIN}>", body="i1")
        caller.send(e, first)
        held = callee.recv(5, lambda t: t.startswith("MESSAGE "))
        check(held is not None, "the callee did not get the first MESSAGE")
        second = caller.request("MESSAGE", f"sip:{user}@{DOMAIN}", to=f"<sip:{user}@{DOMAIN}>", body="i2")
        _, final = caller.transact(e, second)
        check(final is not None and final.startswith("SIP/2.0 503"),
              f"second MESSAGE with O's one transaction live: {status_line(final)!r}, expected 503 from O")
        check(header(final, "Retry-After") == "5", f"503 without O's Retry-After: 5:\n{final}")
        check(metric(o, 'sippeer_overload_refused_total{cause="transactions"}') == 1,
              "O did not count the refusal")
        check(not metric(e, 'sippeer_overload_refused_total{cause="transactions"}'), "E refused it itself")
        relays = metric(e, "sippeer_sip_stateless_relays_total")
        check((relays or 0) >= 2, f"E relayed {relays} requests statelessly, expected both MESSAGEs")
        log(f"MESSAGE through E to O's full callee: {status_line(final)} from O (Retry-After: 5), relayed by E")
        callee.send(e, callee.answer(held, 200, "OK", to_tag="in1"))
        m = twin.recv(5, lambda t: t.startswith("MESSAGE "))
        if m is not None:
            twin.send(e, twin.answer(m, 200, "OK", to_tag="in1t"))


def main(args):
    with ringlib.Cluster(args.sippeer, name="sippeer-admission", keep=args.keep) as cl:
        transactions_case(cl)
        backlog_case(cl)
        inner_hop_case(cl)


if __name__ == "__main__":
    ringlib.run_test(__doc__, main)
