#!/usr/bin/env python3
"""Logs: subsystem tags, one rate-limited line per rejected request, and
the SIP message trace (log.sip_trace).

One node (-N) with log.sip_trace set to a file of the test's.

1. A phone REGISTERs (200). The trace file holds the REGISTER as received
   ("recv N bytes from udp/[127.0.0.1]:PORT at HH:MM:SS.us:" then the text)
   and the 200 as sent.
2. A burst of 300 MESSAGEs with Max-Forwards: 0 from one socket, and 100
   malformed overlay REGISTERs (a ring key that is no number) from another.
   Most are answered (483 / 400). The log has the first rejections, each
   with the source address, status and reason, tagged [proxy] / [dht], but
   no more than the limiter's burst (5) plus what refills meanwhile, and,
   within 15 s, one "similar rejections suppressed" line per reason that
   counts the rest; not hundreds of lines.
   50 requests cut off before Call-ID, which Sofia's parser refuses before
   our code sees them: one "[sip] 50 malformed request(s) refused by the
   SIP parser" count (split over two lines at most).
3. The node's own lines carry tags: "[dht]" on its ring lines.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import socket
import time

import ringlib
from ringlib import check, log

BURST = 300
BAD_OVERLAY = 100
CUT_OFF = 50
LIMIT_BURST = 5  # RejectLimiter::Params::burst


def blast(node, payloads):
    """Sends the datagrams as fast as the socket takes them, then collects
    the answers for a second; returns (source address, status lines)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    me = f"127.0.0.1:{s.getsockname()[1]}"
    host, port = node.address.rsplit(":", 1)
    for p in payloads:
        s.sendto(p.replace("{me}", me).replace("\n", "\r\n").encode(), (host, int(port)))
    got = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(s.recv(65535).decode(errors="replace").split("\r\n", 1)[0])
        except socket.timeout:
            break
    s.close()
    return me, got


def message(n, mf=0):
    return (f"MESSAGE sip:bob@example.com SIP/2.0\n"
            f"Via: SIP/2.0/UDP {{me}};branch=z9hG4bKmf{os.getpid()}x{n}\n"
            f"Max-Forwards: {mf}\nFrom: <sip:alice@example.com>;tag=a{n}\nTo: <sip:bob@example.com>\n"
            f"Call-ID: mf{n}x{os.getpid()}\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n")


def bad_overlay(node, n):
    return (f"REGISTER sip:{node.address} SIP/2.0\n"
            f"Via: SIP/2.0/UDP {{me}};branch=z9hG4bKbad{os.getpid()}x{n}\n"
            f"Max-Forwards: 70\nFrom: <sip:3@{{me}};node>;tag=b{n}\nTo: <sip:x@sippeer.net>\n"
            f"Call-ID: bad{n}x{os.getpid()}\nCSeq: 1 REGISTER\nContent-Length: 0\n\n")


def body(args):
    with ringlib.Cluster(args.sippeer, "rejectlog", keep=args.keep) as cl:
        trace = os.path.join(cl.dir, "sip-trace.txt")
        node = cl.add("node", new_ring=True, config={"log": {"sip_trace": trace}})
        node.wait_joined()

        # 1. A registration, and the trace of it.
        with ringlib.SipClient() as phone:
            got = phone.exchange(node, phone.register(node, "<sip:carol@example.com>", "<sip:carol@example.com>",
                                                      "Contact: <sip:carol@{me}>\nExpires: 600\n"),
                                 wait=3, until_final=True)
            check(got and got[-1].startswith("SIP/2.0 200"), f"REGISTER: {[g.splitlines()[0] for g in got]}")
            phone_addr = phone.address

        def traced():
            with open(trace, errors="replace") as f:
                t = f.read()
            host, port = phone_addr.rsplit(":", 1)
            recv = re.search(rf"recv \d+ bytes from udp/\[{re.escape(host)}\]:{port} at [\d:.]+:\r?\nREGISTER sip:", t)
            sent = re.search(rf"sent \d+ bytes to udp/\[{re.escape(host)}\]:{port} at [\d:.]+:\r?\nSIP/2.0 200 ", t)
            return (recv, sent) if recv and sent else None
        ringlib.wait_until(traced, 5, what=f"the trace file to show the REGISTER from {phone_addr} and its 200")
        log(f"trace file {os.path.getsize(trace)} bytes: REGISTER received from {phone_addr}, 200 sent back")

        # 2. Bursts of requests the node refuses.
        mark = len(node.log().splitlines())
        t0 = time.monotonic()
        src_mf, answers_mf = blast(node, [message(i) for i in range(BURST)])
        src_ov, answers_ov = blast(node, [bad_overlay(node, i) for i in range(BAD_OVERLAY)])
        blast(node, [message(i, mf=70).split("Call-ID")[0] for i in range(CUT_OFF)])
        n483 = sum(a.startswith("SIP/2.0 483") for a in answers_mf)
        n400 = sum(a.startswith("SIP/2.0 400") for a in answers_ov)
        check(n483 > BURST // 2 and n400 > BAD_OVERLAY // 2,
              f"answers: {n483} of {BURST} MESSAGEs got 483, {n400} of {BAD_OVERLAY} REGISTERs got 400")
        log(f"sent {BURST} MESSAGEs with Max-Forwards: 0 from {src_mf} ({n483} answered 483) and "
            f"{BAD_OVERLAY} malformed overlay REGISTERs from {src_ov} ({n400} answered 400)")

        def summaries():
            lines = node.log().splitlines()[mark:]
            s = [l for l in lines if "similar rejections suppressed" in l]
            parser = sum(int(m.group(1)) for m in
                         (re.search(r"\[sip\] (\d+) malformed request\(s\) refused by the SIP parser", l) for l in lines) if m)
            return lines if len(s) >= 2 and parser >= CUT_OFF else None
        lines, waited = ringlib.wait_until(summaries, 20, interval=0.2,
                                           what="a 'similar rejections suppressed' line for each burst")
        mf_lines = [l for l in lines if "rejected MESSAGE" in l]
        ov_lines = [l for l in lines if "rejected REGISTER" in l]
        check(mf_lines and f"[proxy] rejected MESSAGE sip:bob@example.com from {src_mf}: 483 Too Many Hops" in mf_lines[0],
              f"the first MESSAGE rejection line: {mf_lines[:1]}")
        check(ov_lines and f"[dht] rejected REGISTER sip:{node.address} from {src_ov}: 400 Bad Request "
                           f"(malformed overlay REGISTER: bad-id)" in ov_lines[0],
              f"the first overlay rejection line: {ov_lines[:1]}")
        # The burst, plus a token per 10 s that may have come back meanwhile.
        allowed = LIMIT_BURST + 3
        check(len(mf_lines) <= allowed and len(ov_lines) <= allowed,
              f"{len(mf_lines)} MESSAGE and {len(ov_lines)} REGISTER rejection lines (at most {allowed} each)")
        counted = {}
        for l in lines:
            m = re.search(r"(\d+) similar rejections suppressed in the last \d+ s: \[(\w+)\] (\w+) -> (\d+) .*"
                          r"; the last from (\S+)", l)
            if m:
                counted[(m.group(3), m.group(4))] = int(m.group(1))
                check(m.group(5) in (src_mf, src_ov), f"summary names an unknown source: {l}")
        check(counted.get(("MESSAGE", "483"), 0) >= n483 - len(mf_lines),
              f"the MESSAGE summary counts {counted.get(('MESSAGE', '483'))}, "
              f"but {n483} were answered and {len(mf_lines)} logged")
        check(counted.get(("REGISTER", "400"), 0) >= n400 - len(ov_lines),
              f"the REGISTER summary counts {counted.get(('REGISTER', '400'))}")
        parser_lines = [l for l in lines if "refused by the SIP parser" in l]
        check(1 <= len(parser_lines) <= 2, f"parser refusals reported in {len(parser_lines)} lines: {parser_lines}")
        check(len(lines) < 40, f"{len(lines)} log lines for {BURST + BAD_OVERLAY} rejections:\n" + "\n".join(lines[:60]))
        log(f"log: {len(mf_lines)} + {len(ov_lines)} rejection lines, then summaries {counted} "
            f"{time.monotonic() - t0:.1f} s after the bursts; {len(lines)} lines in all")
        log("first lines:\n  " + mf_lines[0] + "\n  " + ov_lines[0] + "\n  " + "\n  ".join(parser_lines))

        # 3. Tags on the node's own lines.
        text = node.log()
        check(re.search(r"^\s*[\d.]+ info  \[dht\] ring: started a ring of our own", text, re.M),
              f"no tagged ring line in the log:\n{text[:1500]}")
        check(node.alive(), "the node died")
        log("ring lines carry [dht]; the node is alive")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
