#!/usr/bin/env python3
"""Two-level rings (issue 17, report 6.4): two domain rings joined by a
global ring, without DNS.

  global ring G: g1, g2, g3   overlay.domain_fallback: true
  ring P (private.com): p1, p2   overlay.next_level: [a G node], proxy.p2p_domains: [private.com]
  ring E (example.com): e1, e2   overlay.next_level: [a G node], proxy.p2p_domains: [example.com]

The tests' resolver refuses every query, so anything that reached DNS
would fail.

1. Every P and E node registers its domain in G: /lookup of
   sip:private.com and sip:example.com in G lists the nodes.
2. alice@private.com (registered at p1) sends a MESSAGE to
   zhou@example.com (registered at e2) through p2: it crosses p2 -> G ->
   an E node -> zhou's registrar -> zhou's phone; alice gets the 200. The
   other way round too (zhou -> alice).
3. An OPTIONS to nobody@example.com reaches E and gets E's 404; one to
   someone@nowhere.org (no such domain in G) gets G's 404.
4. kill -9 of the G node that holds sip:example.com's registration: once
   G has healed, a MESSAGE from alice still reaches zhou (the replica).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

STABILIZE_MS = 300


def ring(cl, prefix, n, config):
    first = cl.add(f"{prefix}1", new_ring=True, stabilize_ms=STABILIZE_MS, config=config)
    first.wait_joined()
    nodes = [first]
    for i in range(2, n + 1):
        nodes.append(cl.add(f"{prefix}{i}", bootstrap=[first], stabilize_ms=STABILIZE_MS, config=config))
    for x in nodes[1:]:
        x.wait_joined()
    ringlib.wait_consistent(nodes, 15, what=f"ring {prefix}", parts=("predecessor", "successors"))
    return nodes


def register(phone, node, aor):
    req = phone.request("REGISTER", f"sip:{aor.split('@')[1]}", to=f"<sip:{aor}>", frm=f"<sip:{aor}>",
                        extra="Expires: 600")
    _, final = phone.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"{aor} registering at {node.name}: {final}")


def send_message(sender, frm, node, to, receiver, text):
    req = sender.request("MESSAGE", f"sip:{to}", to=f"<sip:{to}>", frm=f"<sip:{frm}>", body=text)
    sender.send(node, req)
    got = receiver.recv(8, lambda m: m.startswith("MESSAGE ") and text in m)
    check(got is not None, f"the MESSAGE {frm} -> {to} did not arrive")
    receiver.reply_to(got, None, 200, "OK")
    final = sender.recv(8, lambda m: m.startswith("SIP/2.0 ") and int(m.split()[1]) >= 200 and
                        "MESSAGE" in (header(m, "CSeq") or ""))
    check(final and status_line(final) == "SIP/2.0 200 OK", f"{frm} -> {to}: {final}")


def final_of(sender, frm, node, to):
    # OPTIONS: a MESSAGE to a user of a ring domain with no binding would
    # be kept for later (202, offline messages).
    req = sender.request("OPTIONS", f"sip:{to}", to=f"<sip:{to}>", frm=f"<sip:{frm}>")
    _, final = sender.transact(node, req, timeout=10)
    return final


def not_found(nodes):
    """sippeer_sip_not_found_total summed over live nodes."""
    total = 0
    for n in nodes:
        if not n.alive():
            continue
        _, text = ringlib.http_get(n.listen, n.admin_port, "/metrics", timeout=5)
        for line in (text if isinstance(text, str) else "").splitlines():
            if line.startswith("sippeer_sip_not_found_total "):
                total += int(line.split()[1])
    return total


def bindings(node, aor):
    code, body = sipplib.lookup(node, aor)
    return body.get("bindings", []) if code == 200 and isinstance(body, dict) else []


def body(args):
    with ringlib.Cluster(args.sippeer, "twolevel", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        g = ring(cl, "g", 3, {"overlay": {"domain_fallback": True, "request_timeout_ms": 600}})
        holder = sipplib.owner_of(g, "sip:example.com")
        entries = [x for x in g if x is not holder]
        p = ring(cl, "p", 2, {"proxy": {"p2p_domains": ["private.com"]},
                              "overlay": {"next_level": [entries[0].address], "request_timeout_ms": 600}})
        e = ring(cl, "e", 2, {"proxy": {"p2p_domains": ["example.com"]},
                              "overlay": {"next_level": [entries[1].address], "request_timeout_ms": 600}})

        # ---- 1. domains registered in the global ring
        for domain, nodes in (("private.com", p), ("example.com", e)):
            ringlib.wait_until(lambda: len(bindings(g[0], f"sip:{domain}")) == len(nodes), 10,
                               what=f"{domain}'s nodes to register in the global ring")
        log(f"G holds sip:private.com -> {len(p)} nodes and sip:example.com -> {len(e)} nodes "
            f"(the latter at {holder.name})")

        # ---- 2. across the rings
        alice, zhou, other = phones.raw_phone("alice"), phones.raw_phone("zhou"), phones.raw_phone("x")
        register(alice, p[0], "alice@private.com")
        register(zhou, e[1], "zhou@example.com")
        send_message(alice, "alice@private.com", p[1], "zhou@example.com", zhou, "hello from private.com")
        send_message(zhou, "zhou@example.com", e[0], "alice@private.com", alice, "hello from example.com")
        log("MESSAGEs alice@private.com <-> zhou@example.com crossed P, G and E; 200s came back")

        # ---- 3. nobody
        e_404, g_404 = not_found(e), not_found(g)
        final = final_of(other, "x@private.com", p[1], "nobody@example.com")
        check(final and status_line(final).startswith("SIP/2.0 404"), f"to nobody@example.com: {final}")
        check(not_found(e) == e_404 + 1, "the 404 for nobody@example.com did not come from ring E")
        final = final_of(other, "x@private.com", p[1], "someone@nowhere.org")
        check(final and status_line(final).startswith("SIP/2.0 404"), f"to someone@nowhere.org: {final}")
        check(not_found(g) == g_404 + 1 and not_found(e) == e_404 + 1,
              "the 404 for someone@nowhere.org did not come from ring G")
        log("nobody@example.com: 404 from E; someone@nowhere.org: 404 from G")

        # ---- 4. the global node holding example.com's registration dies
        time.sleep(0.5)
        holder.kill9()
        ringlib.wait_consistent(entries, 10, what="G without " + holder.name, parts=("predecessor", "successors"))
        send_message(alice, "alice@private.com", p[1], "zhou@example.com", zhou, "after the kill")
        log(f"kill -9 of {holder.name}: alice's MESSAGE still reached zhou")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
