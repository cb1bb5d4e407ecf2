#!/usr/bin/env python3
"""SIP over TLS (issue 14): two baresip phones call each other over TLS
across a ring of three, with certificates the test makes (openssl CLI).

Debian's sipp (sip-tester 3.6.1) is built without TLS ("To use a TLS
transport you must compile SIPp with OpenSSL"), so both phones are baresip.

  certificates  a CA, and one certificate for 127.0.0.1 (subjectAltName)
                that every node uses (tls.certificate, tls.private_key,
                tls.ca); baresip checks the node's against the CA.
  register      bob through node A, alice through node B, each over TLS to
                the node's TLS port (sip.port + 1): baresip reports
                {0/TLS/v4} 200 OK, and /lookup shows transport=tls bindings.
  call          alice dials bob (bob's key owned by the third node):
                both report CALL_ESTABLISHED, then CALL_CLOSED on hangup.
                The nodes' SIP traces show the INVITE received and sent
                over TLS only, never over UDP or TCP.
  overlay       overlay.transport tls: three nodes form a ring over TLS
                (each checks the other's certificate, both ways, on the
                overlay port sip.port + 2); a node whose certificate comes
                from another CA (though it trusts the ring's CA, so only
                the ring's check of its client certificate stops it)
                cannot join and ends alone; an overlay
                REGISTER sent over UDP is refused 403 (overlay over TLS only).
  sips DNS      dnsmasq serves NAPTR and SRV for secure.test -> a node of
                another ring with TLS, where carol is registered. alice's
                MESSAGE to sips:carol@secure.test goes out by the DNS branch
                of the lookup (RFC 3263 for SIPS: the NAPTR SIPS+D2T rule,
                not the SIP+D2U one, then its SRV), over TLS, and carol
                answers 200.
  errors        a node whose tls.certificate does not exist stops at once
                with exit code 78 (EX_CONFIG) and a message naming the key and file.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import shutil
import subprocess
import time

import dnsfixture
import ringlib
import sipplib
from baresip_test import Baresip
from ringlib import check, log


def make_certificates(d):
    """ca.pem and node.pem/node.key for IP 127.0.0.1, signed by the CA."""
    os.makedirs(d, exist_ok=True)

    def run(*cmd):
        subprocess.run(cmd, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sippeer test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "node.key",
        "-out", "node.csr")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:secure.test\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("openssl", "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-out", "node.pem", "-extfile", "san.ext")
    return {k: os.path.join(d, v) for k, v in (("ca", "ca.pem"), ("cert", "node.pem"), ("key", "node.key"))}


def tls_phone(cl, name, node, certs, extra="", contacts=""):
    p = Baresip(cl, name, f'<sip:{name}@example.com;transport=tls>;outbound="sip:127.0.0.1:{node.sip_port + 1};'
                          f'transport=tls";regint=60{extra}', contacts=contacts)
    with open(os.path.join(p.dir, "config"), "a") as f:
        f.write(f"sip_cafile\t\t{certs['ca']}\n")
    return p


def body(args):
    check(shutil.which("baresip") and shutil.which("openssl"), "baresip or openssl missing (scripts/setup --all)")
    phones = []
    with ringlib.Cluster(args.sippeer, "tls", keep=args.keep) as cl:
        certs = make_certificates(cl.dir)
        traces = {}

        def cfg(name):
            traces[name] = os.path.join(cl.dir, f"{name}.trace")
            return {"proxy": {"record_route": True}, "log": {"sip_trace": traces[name]},
                    "tls": {"certificate": certs["cert"], "private_key": certs["key"], "ca": certs["ca"]}}
        first = cl.add("n1", new_ring=True, stabilize_ms=500, config=cfg("n1"))
        first.wait_joined()
        nodes = [first] + [cl.add(f"n{i}", bootstrap=[first], stabilize_ms=500, config=cfg(f"n{i}")) for i in (2, 3)]
        for n in nodes[1:]:
            n.wait_joined()
        ringlib.wait_consistent(nodes, 15, what="a ring of 3", parts=("predecessor", "successors"))
        for n in nodes:
            check(f"listening on tls 127.0.0.1:{n.sip_port + 1}" in n.log(), f"{n.name} does not listen on TLS")
        # tport writes the trace as it reads, so a traced node leaves the
        # UDP socket to it (sip.batch_reads, adaptor/sip/udp_reader.h).
        check(not first.status()["udp_reader"]["batch_reads"], "batched UDP reads on beside log.sip_trace")
        try:
            owner = sipplib.owner_of(nodes, "sip:bob@example.com")
            a, b = [n for n in nodes if n is not owner]
            bob = tls_phone(cl, "bob", a, certs, ";answermode=auto")
            phones.append(bob)
            alice = tls_phone(cl, "alice", b, certs, contacts='"Bob" <sip:bob@example.com>\n')
            phones.append(alice)
            for p in phones:
                p.connect()
            for user, p in (("bob", bob), ("alice", alice)):
                p.wait_registered(user, "TLS", 15)
                code, lk = sipplib.lookup(nodes[0], f"sip:{user}@example.com")
                check(code == 200 and any("transport=tls" in x for x in lk.get("bindings", [])),
                      f"/lookup of {user}: {code} {lk}")
            log(f"bob registered over TLS through {a.name}, alice through {b.name}; bob's key is owned by {owner.name}")

            t0 = time.monotonic()
            r = alice.command("dial", "sip:bob@example.com")
            check(r.get("ok"), f"alice: dial refused: {r}")
            bob.wait_event("CALL_ESTABLISHED", 15, since=t0)
            alice.wait_event("CALL_ESTABLISHED", 15, since=t0)
            log(f"call alice -> bob over TLS established in {time.monotonic() - t0:.2f} s")
            time.sleep(0.5)
            t1 = time.monotonic()
            check(alice.command("hangup").get("ok"), "alice: hangup refused")
            alice.wait_event("CALL_CLOSED", 10, since=t1)
            bob.wait_event("CALL_CLOSED", 10, since=t1)
            log("alice hung up; both saw the call closed")

            # Phone legs in the traces: what came from alice and went to bob.
            with open(traces[b.name], errors="replace") as f:
                tb = f.read()
            with open(traces[a.name], errors="replace") as f:
                ta = f.read()
            got_invite = re.findall(r"recv \d+ bytes from (\w+)/\[127\.0\.0\.1\]:\d+ at [^\n]*\n\s*INVITE sip:bob", tb)
            sent_invite = re.findall(r"sent \d+ bytes to (\w+)/\[127\.0\.0\.1\]:\d+ at [^\n]*\n\s*INVITE sip:bob[^@\s]*@127",
                                     ta)
            check(got_invite and set(got_invite) == {"tls"}, f"alice's INVITE reached {b.name} over {got_invite}")
            check(sent_invite and set(sent_invite) == {"tls"}, f"{a.name} sent the INVITE to bob over {sent_invite}")
            log(f"traces: the INVITE came from alice over {got_invite[0]} and went to bob over {sent_invite[0]}")
        except ringlib.TestFailure:
            for p in phones:
                print(f"--- baresip {p.name} output:\n{p.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            for p in phones:
                p.stop()

        # --- overlay over TLS
        def ocfg(c):
            return {"overlay": {"transport": "tls"},
                    "tls": {"certificate": c["cert"], "private_key": c["key"], "ca": c["ca"]}}
        o1 = cl.add("o1", new_ring=True, stabilize_ms=500, config=ocfg(certs))
        o1.wait_joined()
        ring = [o1] + [cl.add(f"o{i}", bootstrap=[o1], stabilize_ms=500, config=ocfg(certs)) for i in (2, 3)]
        for n in ring[1:]:
            st, _ = n.wait_joined(timeout=15)
            check(st["discovery"] == "bootstrap", f"{n.name} did not join over TLS: {st['discovery']}")
        ringlib.wait_consistent(ring, 15, what="a ring of 3 over TLS", parts=("predecessor", "successors"))
        check(f"overlay over TLS: listening on 127.0.0.1:{o1.sip_port + 2}" in o1.log(), "o1: no overlay TLS port")
        other = make_certificates(os.path.join(cl.dir, "other-ca"))
        # It trusts the ring's CA (so it accepts the ring's certificates):
        # only the ring's check of its client certificate can keep it out.
        stranger = cl.add("stranger", bootstrap=[o1], stabilize_ms=500,
                          config=ocfg({"cert": other["cert"], "key": other["key"], "ca": certs["ca"]}))
        st, _ = stranger.wait_joined(timeout=20)
        check(st["discovery"] == "alone", f"a node with another CA's certificate joined: {st['discovery']}")
        members = {n.address for n in ring}
        for n in ring:
            known = {ringlib.uri_address(x["uri"]) for x in n.status()["successors"]}
            check(stranger.address not in known, f"{n.name} lists the stranger")
        with sipplib.RawPhone() as p:
            o2_uri = ring[1].status()["node"]["uri"]
            text = (f"REGISTER sip:{o1.address} SIP/2.0\r\nVia: SIP/2.0/UDP {p.address};branch={p.new_branch()}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <{o2_uri}>;tag=x1\r\nTo: <{o2_uri}>\r\nCall-ID: forged@x\r\n"
                    f"CSeq: 1 REGISTER\r\nContact: <{o2_uri}>;q=1\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n")
            _, final = p.transact(o1, text, timeout=3)
            check(final and final.startswith("SIP/2.0 403 Forbidden (overlay over TLS only)"),
                  f"an overlay REGISTER over UDP: {final and final.splitlines()[0]!r}")
        check(ring[1].address in {ringlib.uri_address(x["uri"]) for x in o1.status()["successors"]},
              "the forged Unregister over UDP made o1 drop o2")
        log("overlay over TLS: a ring of 3 formed; another CA's node ended alone; "
            "an overlay REGISTER over UDP got 403 (overlay over TLS only)")
        del members

        # --- sips: by DNS (RFC 3263 for SIPS)
        srv = cl.add("secure", new_ring=True, stabilize_ms=500,
                     config={"tls": {"certificate": certs["cert"], "private_key": certs["key"]}})
        srv.wait_joined()
        dns_dir = os.path.join(cl.dir, "dns")
        os.makedirs(dns_dir, exist_ok=True)
        # NAPTR SIPS+D2T names an SRV that only NAPTR leads to; a SIP+D2U
        # rule beside it must be ignored for a sips: target.
        dns = dnsfixture.Dnsmasq(dns_dir, [
            "naptr-record=secure.test,10,10,S,SIPS+D2T,,_sips._tcp.tls-pool.secure.test",
            "naptr-record=secure.test,5,10,S,SIP+D2U,,_sip._udp.secure.test",
            f"srv-host=_sips._tcp.tls-pool.secure.test,127.0.0.1,{srv.sip_port + 1}",
            f"srv-host=_sip._udp.secure.test,127.0.0.1,{srv.sip_port}"])
        try:
            edge = cl.add("edge", new_ring=True, stabilize_ms=500,
                          config={"dns": {"resolv_conf": dnsfixture.resolv_conf(dns_dir)},
                                  "log": {"sip_trace": os.path.join(cl.dir, "edge.trace")},
                                  "tls": {"certificate": certs["cert"], "private_key": certs["key"],
                                          "ca": certs["ca"]}})
            edge.wait_joined()
            with sipplib.RawPhone("carol") as carol, sipplib.RawPhone("alice") as al:
                # Her AOR is the sips: one (sippeer keys sip: and sips: AORs
                # apart, as RFC 3261 19.1.4 compares them).
                reg = carol.request("REGISTER", "sip:secure.test", to="<sips:carol@secure.test>",
                                    frm="<sips:carol@secure.test>", extra="Expires: 600")
                _, final = carol.transact(srv, reg)
                check(final and final.startswith("SIP/2.0 200"), f"carol's REGISTER: {final!r}")
                al.send(edge, al.request("MESSAGE", "sips:carol@secure.test", to="<sips:carol@secure.test>",
                                         body="over TLS, found by SRV _sips._tcp"))
                got = carol.recv(8, lambda m: m.startswith("MESSAGE "))
                check(got is not None, f"carol got no MESSAGE; edge log:\n{edge.log()[-3000:]}")
                carol.send(sipplib.header(got, "Via").split()[1].split(";")[0], carol.answer(got, 200, "OK"))
                check(al.recv(8, lambda m: m.startswith("SIP/2.0 200")), "alice got no 200 for the sips: MESSAGE")
            check(dns.queries("NAPTR", "secure.test") >= 1, f"no NAPTR query:\n{dns.log()}")
            check(dns.queries("SRV", "_sips._tcp.tls-pool.secure.test") >= 1,
                  f"the NAPTR SIPS+D2T rule was not followed:\n{dns.log()}")
            check(dns.queries("SRV", "_sip._udp.secure.test") == 0, "a sips: lookup followed the SIP+D2U rule")
            with open(os.path.join(cl.dir, "edge.trace"), errors="replace") as f:
                et = f.read()
            check(re.search(r"sent \d+ bytes to tls/\[127\.0\.0\.1\]:%d at [^\n]*\n\s*MESSAGE sips:carol" %
                            (srv.sip_port + 1), et), "the edge did not send the MESSAGE over TLS to the SRV target")
            log("sips:carol@secure.test: NAPTR SIPS+D2T -> SRV _sips._tcp.tls-pool -> TLS to the other ring's node "
                "(the SIP+D2U rule ignored); carol answered 200")
        finally:
            dns.stop()

        bad = subprocess.run([args.sippeer, "-N", "-p", "0", "--listen", "127.0.0.1", "--admin", "",
                              "--state-dir", os.path.join(cl.dir, "bad.state"), "--config",
                              cl.write_config("bad", {"tls": {"certificate": "/nonexistent/node.pem",
                                                              "private_key": certs["key"]}})],
                             capture_output=True, text=True, timeout=20)
        check(bad.returncode == 78 and "tls.certificate" in bad.stderr and "/nonexistent/node.pem" in bad.stderr,
              f"a missing certificate: exit {bad.returncode}, {bad.stderr!r}")
        log(f"a missing tls.certificate: exit 78, {bad.stderr.strip().splitlines()[0]!r}")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
