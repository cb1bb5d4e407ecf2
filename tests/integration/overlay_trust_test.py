#!/usr/bin/env python3
"""Overlay admission (issue 14): with overlay.secret set, only nodes that
hold the key take part in the ring.

  ring         three nodes with the key form a ring; alice registers.
  outsiders    a node without the key, and one with another key, bootstrap
               to the ring: both are refused (403, logged) and end in
               rings of their own; no member lists them.
  forgeries    hand-made overlay REGISTERs from a socket without the key:
               a Transfer overwriting alice, a tombstone deleting her, a
               Store, an Unregister making n1 believe n2 left, an Update
               (notify) of a made-up node. Each gets 403; alice's binding
               and every successor list are the same afterwards.
  listing      `ctl regs --ring` (the overlay's List, whose answers carry
               records in a signed body) lists alice once, complete; a
               List without the key is refused 403, one signed with it is
               answered with alice in a body its P2P-Auth covers.
  signing      a Query signed by the test with the right key is answered
               200 with a valid P2P-Auth (so the nodes check, they do not
               refuse everything); the same request with another Via branch
               (a replay) and one 5 minutes old are refused 403; an exact
               copy (a retransmission) is answered again.
  discovery    REGISTER sip:224.0.1.75 without the key, or signed with
               another key, gets no answer; signed with the key, a 302
               whose P2P-Auth is right.
  rotation     a node with secret=old, previous_secret=new and one with
               secret=new, previous_secret=old form a ring.
  still works  after all that, a MESSAGE from bob reaches alice.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import re
import subprocess
import time

import overlay_mac
import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, status_line

KEY = "5c1f0e-test-ring-key"
DOMAIN = sipplib.DOMAIN


def secret_config(secret, previous=""):
    overlay = {"secret": secret}
    if previous:
        overlay["previous_secret"] = previous
    return {"overlay": overlay}


def views(nodes):
    """Each node's predecessor and successor addresses."""
    out = {}
    for n in nodes:
        st = n.status()
        out[n.name] = (st["predecessor"] and st["predecessor"]["uri"], [s["uri"] for s in st["successors"]])
    return out


def binding_of(node, aor):
    """The /lookup answer, bindings without their remaining lifetime."""
    code, body = sipplib.lookup(node, aor)
    check(code == 200, f"/lookup?aor={aor}: {code} {body}")
    body["bindings"] = [re.sub(r";expires=\d+", "", b) for b in body.get("bindings", [])]
    return body


def overlay_request(phone, ruri, *, frm, to, contacts=(), extra=(), branch=None, call_id=None):
    """An overlay REGISTER as a node's codec writes it (docs/PROTOCOL.md)."""
    branch = branch or phone.new_branch()
    call_id = call_id or f"forged{time.monotonic_ns()}@{phone.address}"
    lines = [f"REGISTER {ruri} SIP/2.0",
             f"Via: SIP/2.0/UDP {phone.address};branch={branch};rport",
             "Max-Forwards: 70",
             f"From: {frm};tag=f{time.monotonic_ns() % 10**9}",
             f"To: {to}",
             f"Call-ID: {call_id}",
             "CSeq: 1 REGISTER"]
    lines += [f"Contact: {c}" for c in contacts]
    lines += list(extra)
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def expect_forbidden(phone, node, text, what):
    _, final = phone.transact(node, text, timeout=3)
    check(final is not None and status_line(final).startswith("SIP/2.0 403"),
          f"{what}: expected 403 from {node.name}, got {final and status_line(final)!r}")


def body(args):
    with ringlib.Cluster(args.sippeer, name="sippeer-trust") as cl:
        cfg = secret_config(KEY)
        nodes = sipplib.start_ring(cl, 3, config=cfg, log_level="info")
        n1, n2, n3 = nodes
        log("ring of 3 with overlay.secret formed")
        for n in nodes:
            check("admission on" in n.log(), f"{n.name} does not say admission is on")

        alice = sipplib.RawPhone("alice")
        reg = alice.request("REGISTER", f"sip:{DOMAIN}", to=f"<sip:alice@{DOMAIN}>",
                            extra="Expires: 600")
        _, final = alice.transact(n1, reg)
        check(final and status_line(final).startswith("SIP/2.0 200"), f"alice REGISTER: {final!r}")
        before = binding_of(n3, f"sip:alice@{DOMAIN}")["bindings"]
        check(len(before) == 1 and f"alice@{alice.address}" in before[0], f"alice's binding: {before}")
        log(f"alice registered: {before}")

        # --- outsiders
        out1 = cl.add("nokey", bootstrap=[n1], stabilize_ms=500, log_level="info")
        out2 = cl.add("otherkey", bootstrap=[n2], stabilize_ms=500, config=secret_config("another-key"),
                      log_level="info")
        for o in (out1, out2):
            o.wait_joined(timeout=20)
        time.sleep(2.0)  # a few stabilization rounds for anything to leak in
        members = {n.address for n in nodes}
        for o in (out1, out2):
            st = o.status()
            check(st["discovery"] in ("alone",), f"{o.name} should have ended alone, is {st['discovery']}")
            succ = {ringlib.uri_address(s["uri"]) for s in st["successors"]}
            check(not (succ & members), f"{o.name} lists members {succ & members}")
        for n in nodes:
            v = views([n])[n.name]
            addrs = {ringlib.uri_address(u) for u in v[1]} | ({ringlib.uri_address(v[0])} if v[0] else set())
            check(not (addrs & {out1.address, out2.address}), f"{n.name} lists an outsider: {addrs}")
        check(re.search(r"refused REGISTER from .* 403: no P2P-Auth", n1.log()), "n1 did not log the keyless join")
        check(re.search(r"refused REGISTER from .* 403: wrong MAC", n2.log()), "n2 did not log the wrong-key join")
        log("a node without the key and one with another key were refused and stayed out")

        ring_before = views(nodes)
        n1_uri, n2_uri = (n.status()["node"]["uri"] for n in (n1, n2))
        owner = sipplib.owner_of(nodes, f"sip:alice@{DOMAIN}")

        # --- forgeries, each to every node (the owner and its replicas)
        with sipplib.RawPhone() as evil:
            for n in nodes:
                expect_forbidden(evil, n, overlay_request(
                    evil, f"sip:{n.address}", frm=f"<{n2_uri}>", to=f"<sip:alice@{DOMAIN}>",
                    contacts=["<sip:alice@198.51.100.66:5060>"],
                    extra=["Expires: 3600", "P2P-Record-Version: 99999"]), "forged Transfer")
                expect_forbidden(evil, n, overlay_request(
                    evil, f"sip:{n.address}", frm=f"<{n2_uri}>", to=f"<sip:alice@{DOMAIN}>",
                    extra=["Expires: 3600", "P2P-Record-Version: 100000"]), "forged tombstone")
                expect_forbidden(evil, n, overlay_request(
                    evil, f"sip:{n.address}", frm=f"<sip:alice@{DOMAIN}>", to=f"<sip:alice@{DOMAIN}>",
                    contacts=["<sip:alice@198.51.100.66:5060>"],
                    extra=["Expires: 3600", "P2P-Record-Version: 100001"]), "forged Store")
            expect_forbidden(evil, n1, overlay_request(
                evil, f"sip:{n1.address}", frm=f"<{n2_uri}>", to=f"<{n2_uri}>",
                contacts=[f"<{n2_uri}>;q=1"], extra=["Expires: 0"]), "forged Unregister of n2")
            fake = n1_uri.replace(n1.address, "127.0.0.1:9").split("@", 1)[1]
            fake_uri = f"sip:{'1' * 40}@{fake}"
            expect_forbidden(evil, n1, overlay_request(
                evil, f"sip:{n1.address}", frm=f"<{fake_uri}>", to=f"<{n1_uri}>",
                contacts=[f"<{fake_uri}>;q=1"]), "forged Update")
            expect_forbidden(evil, owner, overlay_request(
                evil, f"sip:{owner.address}", frm=f"<{n2_uri}>", to=f"<{owner.status()['node']['uri']}>",
                extra=["P2P-List: *"]), "List without the key")
        time.sleep(1.5)
        after = binding_of(n3, f"sip:alice@{DOMAIN}")["bindings"]
        check(after == before, f"alice changed: {before} -> {after}")
        check(views(nodes) == ring_before, f"ring views changed:\n{ring_before}\n{views(nodes)}")
        auth = n1.status()["overlay_auth"]
        check(auth["enabled"] and auth["refused"]["no P2P-Auth"] >= 5, f"n1 /status overlay_auth: {auth}")
        _, metrics = ringlib.http_get(ringlib.LOCALHOST, n1.admin_port, "/metrics")
        check(re.search(r'^sippeer_overlay_auth_refused_total\{reason="no P2P-Auth"\} [1-9]', metrics, re.M),
              "n1 /metrics does not count the refusals")
        log(f"forged Transfer/tombstone/Store/Unregister/Update: 403 everywhere; "
            f"alice unchanged at owner {owner.name}; ring unchanged")

        # --- listing the ring: every answer's body is signed and checked
        r = subprocess.run([args.sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{n2.admin_port}", "--json",
                            "regs", "--ring"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"ctl regs --ring: {r.returncode} {r.stderr}")
        listing = json.loads(r.stdout)
        aors = [x["aor"] for x in listing["registrations"]]
        check(listing["complete"] and listing["nodes"] == 3 and aors == [f"sip:alice@{DOMAIN}"],
              f"ctl regs --ring with overlay.secret: {listing}")
        with sipplib.RawPhone() as p:
            nonce = f"l{time.monotonic_ns()}"
            owner_uri = owner.status()["node"]["uri"]
            q = overlay_mac.sign(overlay_request(p, f"sip:{owner.address}", frm=f"<{n1_uri}>", to=f"<{owner_uri}>",
                                                 extra=["P2P-List: *"]), KEY, nonce=nonce)
            _, final = p.transact(owner, q)
            check(final and status_line(final).startswith("SIP/2.0 200"), f"signed List: {final!r}")
            check("application/p2p-records" in final and f"To: <sip:alice@{DOMAIN}>" in final,
                  f"the List answer carries no records:\n{final}")
            check(overlay_mac.response_signed(final, KEY, nonce), f"List answer's P2P-Auth is not right:\n{final}")
            tampered = final.replace(f"alice@{alice.address}", "alice@198.51.100.66:5060")
            check(tampered != final and not overlay_mac.response_signed(tampered, KEY, nonce),
                  "a List answer with a changed record still checks: its body is not signed")
        log(f"ctl regs --ring with the key: alice once, complete; List without the key: 403; "
            f"signed List: alice in a body the answer's MAC covers")

        # --- the right key is accepted; replays and stale times are not
        with sipplib.RawPhone() as p:
            nonce = f"t{time.monotonic_ns()}"
            q = overlay_mac.sign(overlay_request(p, f"sip:{n1.address}", frm=f"<{n1_uri}>",
                                                 to=f"<sip:alice@{DOMAIN}>"), KEY, nonce=nonce)
            _, final = p.transact(n1, q)
            check(final and status_line(final).startswith("SIP/2.0 200"), f"signed Query: {final!r}")
            check(overlay_mac.response_signed(final, KEY, nonce), f"answer's P2P-Auth is not right:\n{final}")
            check("alice@127.0.0.1" in final, f"the signed Query did not return alice's binding:\n{final}")
            _, again = p.transact(n1, q)
            check(again and status_line(again).startswith("SIP/2.0 200"), f"retransmission: {again!r}")
            replay = re.sub(r"branch=[^;\r\n]+", f"branch={p.new_branch()}", q, count=1)
            expect_forbidden(p, n1, replay, "replayed nonce")
            old = overlay_mac.sign(overlay_request(p, f"sip:{n1.address}", frm=f"<{n1_uri}>",
                                                   to=f"<sip:alice@{DOMAIN}>"), KEY, ts=int(time.time()) - 300)
            expect_forbidden(p, n1, old, "5-minute-old request")
            check(re.search(r"refused REGISTER from .* 403: replayed nonce", n1.log()), "n1 did not log the replay")
            log("signed Query: 200 with a right P2P-Auth; retransmission answered; replay and stale: 403")

            # --- discovery
            probe_to = f"<sip:{'2' * 40}@{p.address};node>"

            def probe(signed_with):
                text = overlay_request(p, "sip:224.0.1.75", frm=probe_to, to=probe_to)
                n = f"d{time.monotonic_ns()}"
                if signed_with:
                    text = overlay_mac.sign(text, signed_with, nonce=n)
                _, final = p.transact(n1, text, timeout=2)
                return final, n

            final, _ = probe(None)
            check(final is None, f"unsigned discovery was answered: {final!r}")
            final, _ = probe("another-key")
            check(final is None, f"discovery signed with another key was answered: {final!r}")
            final, n = probe(KEY)
            check(final and status_line(final).startswith("SIP/2.0 302"), f"signed discovery: {final!r}")
            check(overlay_mac.response_signed(final, KEY, n), f"302 P2P-Auth is not right:\n{final}")
            log("discovery: unsigned or wrong key -> silence; signed -> 302 with a right P2P-Auth")

        # --- key rotation
        r1 = cl.add("rot1", new_ring=True, stabilize_ms=500, config=secret_config("old-key", "new-key"))
        r1.wait_joined()
        r2 = cl.add("rot2", bootstrap=[r1], stabilize_ms=500, config=secret_config("new-key", "old-key"))
        r2.wait_joined()
        ringlib.wait_consistent([r1, r2], 15, what="a ring mid-rotation", parts=("predecessor", "successors"))
        log("rotation: old-key (accepting new) and new-key (accepting old) nodes form a ring")

        # --- calls still go through
        with sipplib.RawPhone("bob") as bob:
            msg = bob.request("MESSAGE", f"sip:alice@{DOMAIN}", to=f"<sip:alice@{DOMAIN}>", body="hi")
            bob.send(n3, msg)
            got = alice.recv(5, lambda m: m.startswith("MESSAGE "))
            check(got is not None, "alice did not get bob's MESSAGE")
            alice.send(header(got, "Via").split()[1].split(";")[0], alice.answer(got, 200, "OK"))
            final = bob.recv(5, lambda m: m.startswith("SIP/2.0 200"))
            check(final is not None, "bob got no 200 for his MESSAGE")
        alice.close()
        log("bob's MESSAGE reached alice through the ring")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
