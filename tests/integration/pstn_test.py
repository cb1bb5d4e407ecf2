#!/usr/bin/env python3
"""PSTN interworking (issue 17, report 6.2): gateways register telephone
prefixes with costs; a call to a number finds the longest registered
prefix and its cheapest gateway.

Ring of 3, registrar.min_expires 1. Gateways are sipp UAS processes
(uas_call.xml), registered by a raw phone (REGISTER To: <tel:...>,
Contact: <sip:127.0.0.1:PORT;lr>;cost="..."):
  gwA  tel:+1-212   cost USD.06/60s
  gwB  tel:+1212    cost USD.10/120s (0.05/min: cheaper than gwA)
  gwC  tel:+1       cost USD.01/60s  (cheapest, but a shorter prefix)

1. INVITE tel:+1-212-555-1234 (Request-Disposition: redirect): 302 with
   gwB then gwA, q 1.0 and 0.9, their costs; not gwC. The same for
   sip:+12125551234@example.com;user=phone.
2. INVITE tel:+1-310-555-0000: 302 with gwC alone (only +1 covers it).
   INVITE tel:+44-20-7946-0000: 404 (no gateway).
3. Request-Disposition: proxy: the INVITE reaches gwB (sipp answers 180,
   200), its Request-URI still the tel: URI; the caller's ACK and BYE end
   the call and gwB's sipp exits 0.
4. kill -9 of the node owning tel:+1212: once the ring has healed, the 302
   still lists gwB and gwA (the record's replica).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import socket
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, headers, status_line

CONFIG = {"proxy": {"p2p_domains": ["example.com"]}, "overlay": {"request_timeout_ms": 600}}


def udp_bound(port):
    """True once something listens on 127.0.0.1:port/udp."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def register_gateway(phone, node, prefix, port, cost):
    req = phone.request("REGISTER", "sip:example.com", to=f"<tel:{prefix}>", frm=f"<sip:gw{port}@example.com>",
                        contact=f'<sip:127.0.0.1:{port};lr>;cost="{cost}"', extra="Expires: 600")
    _, final = phone.transact(node, req)
    check(final and status_line(final) == "SIP/2.0 200 OK", f"gateway {port} registering {prefix}: {final}")


def invite(phone, node, ruri, disposition):
    req = phone.request("INVITE", ruri, to=f"<{ruri}>", extra=f"Request-Disposition: {disposition}")
    _, final = phone.transact(node, req, timeout=8)
    return req, final


def contact_ports(final):
    values = []
    for h in headers(final, "Contact") + headers(final, "m"):
        values += [v.strip() for v in re.split(r",(?=\s*<)", h)]
    return [(int(re.search(r"127\.0\.0\.1:(\d+)", v).group(1)), v) for v in values]


def check_redirect(phone, node, ruri, expect_ports, what):
    _, final = invite(phone, node, ruri, "redirect")
    check(final and status_line(final).startswith("SIP/2.0 302"), f"{what}: {final}")
    got = contact_ports(final)
    check([p for p, _ in got] == expect_ports, f"{what}: 302 lists ports {[p for p, _ in got]}, expected "
          f"{expect_ports}:\n{final}")
    return got


def body(args):
    with ringlib.Cluster(args.sippeer, "pstn", keep=args.keep) as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 3, config=CONFIG, stabilize_ms=300, log_level="info")
        reg = phones.raw_phone("gw")
        ports = {name: ringlib.free_port() for name in ("A", "B", "C")}
        gw_b = phones.sipp("gwB", "uas_call.xml", None, port=ports["B"], calls=1, timeout=40)
        ringlib.wait_until(lambda: udp_bound(ports["B"]), 10, what="gateway B's sipp to listen")
        register_gateway(reg, nodes[0], "+1-212", ports["A"], "USD.06/60s")
        register_gateway(reg, nodes[1], "+1212", ports["B"], "USD.10/120s")
        register_gateway(reg, nodes[2], "+1", ports["C"], "USD.01/60s")
        log(f"gateways registered: A {ports['A']} (+1212, .06/min), B {ports['B']} (+1212, .05/min), "
            f"C {ports['C']} (+1, .01/min)")
        alice = phones.raw_phone("alice")

        # ---- 1. the longest prefix, cheapest first
        got = check_redirect(alice, nodes[2], "tel:+1-212-555-1234", [ports["B"], ports["A"]], "a call to +1212...")
        check("q=1.0" in got[0][1] and "q=0.9" in got[1][1] and "USD.10/120s" in got[0][1],
              f"the 302's Contacts lack q values or costs: {got}")
        check_redirect(alice, nodes[0], "sip:+12125551234@example.com;user=phone", [ports["B"], ports["A"]],
                       "sip:...;user=phone")
        log("tel:+1-212-555-1234 and sip:+12125551234;user=phone: 302 with B then A (q 1.0, 0.9), not C")

        # ---- 2. a shorter prefix, and no prefix at all
        check_redirect(alice, nodes[1], "tel:+1-310-555-0000", [ports["C"]], "a call to +1310...")
        _, final = invite(alice, nodes[1], "tel:+44-20-7946-0000", "redirect")
        check(final and status_line(final).startswith("SIP/2.0 404"), f"a call to +44...: {final}")
        log("+1310...: C only; +44...: 404 No gateway")

        # ---- 3. proxied to the cheapest
        req, final = invite(alice, nodes[2], "tel:+1-212-555-1234", "proxy")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"the proxied call: {final}")
        contact = re.search(r"<([^>]+)>", header(final, "Contact", "m")).group(1)
        check(f":{ports['B']}" in contact, f"the call was answered by {contact}, not gateway B")
        to = header(final, "To", "t")
        call_id = header(req, "Call-ID")
        frm = header(req, "From")
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            m = (f"{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {alice.address};branch={alice.new_branch()};rport\r\n"
                 f"Max-Forwards: 70\r\nFrom: {frm}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
                 f"Content-Length: 0\r\n\r\n")
            alice.send(f"127.0.0.1:{ports['B']}", m)
        gw_b.expect_all(1, 20, "gateway B answering the proxied call")
        rq = open(gw_b.msg_file, errors="replace").read()
        check(re.search(r"INVITE tel:\+1-212-555-1234 SIP/2\.0", rq), "gateway B got an INVITE whose Request-URI "
              "is not the number dialled")
        log("Request-Disposition: proxy: the INVITE reached gateway B with the tel: Request-URI; call ended")

        # ---- 4. the prefix's registrar dies
        owner = sipplib.owner_of(nodes, "tel:%2B1212")  # + in a query string is a space
        time.sleep(0.5)
        owner.kill9()
        survivors = [n for n in nodes if n is not owner]
        ringlib.wait_consistent(survivors, 10, what="the ring without the prefix's registrar",
                                parts=("predecessor", "successors"))
        check_redirect(alice, survivors[0], "tel:+1-212-555-1234", [ports["B"], ports["A"]], "after the kill")
        log(f"kill -9 of {owner.name} (owner of tel:+1212): the 302 still lists B and A")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
