#!/usr/bin/env python3
"""The 49 RFC 4475 torture messages against a node of a ring of 3.

The messages are the byte-exact files of /work/shared/torture/rfc4475
(their README.md and MANIFEST.tsv say where they come from and what each
should get; --torture-dir points elsewhere). Each is sent, unchanged, to
one node E, chosen as a node that does NOT own sip:user@example.com (the
Request-URI of most of them), so that a request it accepts is proxied
across the ring and a request it must not forward would be seen leaving it.

Transport: over UDP, except the messages whose top Via names TCP, which
are sent over a TCP connection of their own (Sofia nta, like RFC 3261
18.2.1 suggests, drops a request whose Via transport is not the one it
came on). Answers over UDP go where the Via says (received=127.0.0.1, the
Via's port), so they are sniffed on `lo` (root only, sipcap.py); answers
over TCP are read from the connection. An answer belongs to a message by
its Call-ID (insuf, which has none, by its Via branch).

The REGISTERs are sent last: they store bindings (e.g. regescrt binds
sip:user@example.com) that would otherwise change what later requests to
the same users get.

Per message, EXPECT says what is right (from the manifest / RFC 4475):
  a set of codes      the first final answer must be one of them
  ACCEPT              "parse/accept": a final answer that is not a rejection
                      of the message itself (anything but 400, 500, 505)
  DROP                a response (or bad response): no answer, and nothing
                      with its Call-ID leaves any node
plus per-message checks (CHECKS): what a liberal element accepted must not
be forwarded malformed; registrar results are read back with /lookup.

Afterwards every node is alive, E answers GET /status and an OPTIONS to
its own address (200). Every message whose answer differs from EXPECT is
listed, with expected and actual; the test fails unless the only
differences are those in KNOWN_DIVERGENT (cases where the RFC or the
element's role allows the other answer; each entry says why).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import socket
import time
import urllib.parse

import ringlib
import sipcap
import sipplib
from ringlib import check, log

# ../shared beside the checkout, as in CI and on developers' machines.
DEFAULT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", "..", "..", "shared", "torture", "rfc4475"))
ACCEPT = "accept"
DROP = "drop"
REJECTIONS = {400, 500, 505}

# Sent over TCP: their top Via names TCP.
TCP = {"esc02", "intmeth", "longreq", "novelsc", "regaut01", "scalar02", "scalarlg", "trws", "unkscm"}

EXPECT = {
    # 3.1.1 valid: must be accepted
    "wsinv": {ACCEPT},
    "intmeth": {ACCEPT, 501},
    "esc01": {ACCEPT},
    "escnull": {200},
    "esc02": {ACCEPT, 501},
    "lwsdisp": {ACCEPT},
    "longreq": {ACCEPT},
    "dblreq": {200},
    "semiuri": {ACCEPT},
    "transports": {ACCEPT},
    "mpart01": {ACCEPT},
    "unreason": {DROP},
    "noreason": {DROP},
    # 3.1.2 invalid
    "badinv01": {400},
    "clerr": {400},
    "ncl": {400},
    "scalar02": {400},
    "scalarlg": {DROP},
    "quotbal": {400, ACCEPT},
    "ltgtruri": {400},
    "lwsruri": {400},
    "lwsstart": {400, ACCEPT},
    "trws": {400, ACCEPT},
    "escruri": {400, ACCEPT},
    "baddate": {400, ACCEPT},
    "regbadct": {400, 200},
    "badaspec": {400, ACCEPT},
    "baddn": {400},
    "badvers": {505},
    "mismatch01": {400},
    "mismatch02": {501, 400},
    "bigcode": {DROP},
    # 3.2 transaction
    "badbranch": {400, ACCEPT},
    # 3.3 application
    "insuf": {400},
    "unkscm": {416},
    "novelsc": {416, 404},
    "unksm2": {400},
    "bext01": {420},
    "invut": {ACCEPT, 415},
    "regaut01": {200, 401},
    "multi01": {400},
    "mcl01": {400},
    "bcast": {DROP},
    "zeromf": {483, 200},
    "cparam01": {200},
    "cparam02": {200},
    "regescrt": {200},
    "sdp01": {406, 400},
    # 3.4 backward compatibility
    "inv2543": {ACCEPT},
}

# The only differences from EXPECT this test tolerates, with the reason the
# other answer is also right. Each must really occur (a stale entry fails).
KNOWN_DIVERGENT = {
    # RFC 4475 3.3.15 describes what the UAS does with Accept:
    # text/nobodyKnowsThis (406). A proxy does not look at Accept (RFC 3261
    # 16.6: it forwards what it does not understand), so the node routes the
    # INVITE to the owner of sip:user@example.com, who has no binding: 404.
    "sdp01": ({404}, "a proxy forwards; 406 is the UAS's answer (RFC 3261 16.6)"),
    # The message's Via names TLS; sippeer offers UDP and TCP only, and nta
    # drops a request whose Via transport differs from the one it came on
    # (there is no TLS connection to answer on). What RFC 4475 3.3.5 tests,
    # the 420 listing the unsupported Proxy-Require tags, is checked on the
    # same message with only the Via transport changed to UDP (bext01/udp-via).
    "bext01": ({None}, "its Via names TLS, which no sippeer transport offers; see bext01/udp-via"),
}


def manifest(d):
    out = {}
    with open(os.path.join(d, "MANIFEST.tsv"), encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                row = dict(zip(head, line.rstrip("\n").split("\t")))
                out[row["file"][:-4]] = row
    return out


def call_ids(data):
    return [m.decode(errors="replace").strip()
            for m in re.findall(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(.*?)\r?$", data)]


def is_register(data):
    return data.startswith(b"REGISTER ")


class Outcome:
    def __init__(self, name):
        self.name = name
        self.finals = []         # status codes of final answers, in order
        self.lines = []          # their status lines
        self.provisional = []
        self.forwarded = []      # SipMessages: requests with this Call-ID that left E (or any node)
        self.responses = []      # SipMessages (UDP) / texts (TCP)
        self.closed = False

    @property
    def first(self):
        return self.finals[0] if self.finals else None


def classify(code, allowed):
    """Whether a first final answer `code` (None = none) meets `allowed`."""
    if DROP in allowed:
        return code is None
    if code is None:
        return False
    if code in allowed:
        return True
    return ACCEPT in allowed and code >= 200 and code not in REJECTIONS


def fmt_expected(allowed):
    parts = []
    for a in sorted(allowed, key=str):
        parts.append({ACCEPT: "accept (any final but 400/500/505)", DROP: "no answer, not forwarded"}.get(a, str(a)))
    return " or ".join(parts)


# ----------------------------------------------------------------- sending


def send_udp(sock, node, data):
    sock.sendto(data, ("127.0.0.1", node.sip_port))


def read_tcp(conn, until):
    """Reads SIP responses from a TCP connection until `until` (monotonic)
    or a final answer or EOF. Returns (texts, closed)."""
    buf, texts, closed = b"", [], False
    while time.monotonic() < until:
        conn.settimeout(max(0.01, until - time.monotonic()))
        try:
            d = conn.recv(65535)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not d:
            closed = True
            break
        buf += d
        while b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(rest) < n:
                break
            texts.append((head + b"\r\n\r\n" + rest[:n]).decode(errors="replace"))
            buf = rest[n:]
        if any(sipplib.is_final(t) for t in texts):
            break
    return texts, closed


def run_message(name, data, entry, nodes, cap, usock, tcp, wait):
    """Sends one message; returns its Outcome once a final answer came from
    the entry node (or `wait` s passed)."""
    out = Outcome(name)
    cids = set(call_ids(data))
    if name == "dblreq":
        cids = set(call_ids(data)[:1])  # the trailing INVITE must never get anything
    branch = None
    if not cids:
        m = re.search(rb"branch=([^;\s,]+)", data)
        branch = m.group(1).decode() if m else None
    addresses = {n.address for n in nodes}

    def mine(m):
        if cids:
            return (m.get("call-id") or "").strip() in cids
        return branch is not None and any(branch in v for v in m.all("via"))

    t0 = time.monotonic()
    mark = len(cap.messages())
    conn = None
    if tcp:
        conn = socket.create_connection(("127.0.0.1", entry.sip_port), timeout=2)
        conn.sendall(data)
    else:
        send_udp(usock, entry, data)
    deadline = t0 + wait
    texts = []
    while True:
        if conn is not None:
            t, closed = read_tcp(conn, min(deadline, time.monotonic() + 0.1))
            texts += t
            out.closed = out.closed or closed
            if closed:
                conn.close()
                conn = None
        else:
            time.sleep(0.02)
        msgs = [m for m in cap.messages()[mark:] if m.src in addresses and mine(m)]
        finals_udp = [m for m in msgs if not m.is_request and m.src == entry.address and m.status >= 200]
        if any(sipplib.is_final(t) for t in texts) or finals_udp or time.monotonic() >= deadline:
            break
    if conn is not None:
        conn.close()
    time.sleep(0.05)  # what else this message makes the nodes send
    msgs = [m for m in cap.messages()[mark:] if m.src in addresses and mine(m)]
    out.forwarded = [m for m in msgs if m.is_request]
    for m in msgs:
        if not m.is_request and m.src == entry.address:
            out.responses.append(m)
            (out.finals if m.status >= 200 else out.provisional).append(m.status)
            if m.status >= 200:
                out.lines.append(m.start_line)
    for t in texts:
        out.responses.append(t)
        code = ringlib.status_code(t)
        (out.finals if code >= 200 else out.provisional).append(code)
        if code >= 200:
            out.lines.append(sipplib.status_line(t))
    # a response text per answer, whatever the transport
    out.texts = [r.text if hasattr(r, "text") else r for r in out.responses]
    return out


# ----------------------------------------------------------------- checks


def lookup_uris(nodes, aor):
    code, body = sipplib.lookup(nodes[-1], urllib.parse.quote(aor, safe=":@"))
    if code != 200 or not isinstance(body, dict):
        return code, []
    return code, [sipcap.bracketed(b) for b in body.get("bindings", [])]


def start_lines_forwarded(out):
    return [m.text.split("\r\n", 1)[0] for m in out.forwarded]


def extra_checks(name, out, nodes):
    """Problems beyond the status code (a list of strings)."""
    p = []
    if name in ("lwsstart", "trws") and out.first is not None and out.first != 400:
        for line in start_lines_forwarded(out):
            if "  " in line or line.endswith(" "):
                p.append(f"accepted, but forwarded with the extra SP kept: {line!r}")
    if name == "escruri" and out.first != 400:
        for m in out.forwarded:
            if m.get("route"):
                p.append(f"forwarded with a Route header made from the escaped one: {m.get('route')!r}")
    if name == "zeromf" and out.forwarded:
        mf = [m.get("max-forwards") for m in out.forwarded]
        p.append(f"Max-Forwards: 0 but forwarded to {[m.dst for m in out.forwarded]} with Max-Forwards {mf} "
                 f"(RFC 3261 16.3 step 3: MUST NOT forward)")
    if name == "dblreq":
        if any(m.method == "INVITE" for m in out.forwarded):
            p.append("the trailing INVITE of the datagram was forwarded")
    if name == "escnull" and out.first == 200:
        text = out.texts[[sipplib.is_final(t) for t in out.texts].index(True)]
        contacts = []
        for h in sipplib.headers(text, "Contact") + sipplib.headers(text, "m"):
            contacts += sipcap.split_commas(h)
        uris = sorted(sipcap.bracketed(c) for c in contacts)
        if uris != ["sip:%00%00@host5.example.com", "sip:%00@host5.example.com"]:
            p.append(f"the 200 lists {contacts}, expected the two distinct contacts %00 and %00%00")
        code, got = lookup_uris(nodes, "sip:null-%00-null@example.com")
        if code != 200 or len(got) != 2:
            p.append(f"/lookup of sip:null-%00-null@example.com (AOR not truncated at %00): {code} {got}")
    if name in ("cparam01", "cparam02") and out.first == 200:
        code, got = lookup_uris(nodes, "sip:watson@example.com")
        want = "sip:+19725552222@gw1.example.net" + (";unknownparam" if name == "cparam02" else "")
        if want not in got:
            p.append(f"/lookup of sip:watson@example.com: {code} {got}; expected the binding URI {want!r} "
                     f"({'url-param kept' if name == 'cparam02' else 'contact-param, not part of the URI'})")
        if name == "cparam01" and any("unknownparam" in (u or "") for u in got):
            p.append(f"cparam01: 'unknownparam' became a url-param: {got}")
    if name == "regescrt" and out.first == 200:
        code, got = lookup_uris(nodes, "sip:user@example.com")
        want = "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
        if want not in got:
            p.append(f"/lookup of sip:user@example.com: {code} {got}; expected the URI with its escaped header {want!r}")
    if DROP in EXPECT.get(name, ()) and out.forwarded:
        p.append(f"a response was forwarded: {start_lines_forwarded(out)}")
    return p


def bext01_variant(data, entry, nodes, cap, usock):
    """bext01 with only its Via transport changed from TLS to UDP: the
    node must answer 420 listing the Proxy-Require tags it does not support."""
    variant = data.replace(b"SIP/2.0/TLS fold-and-staple.example.com", b"SIP/2.0/UDP fold-and-staple.example.com")
    check(variant != data, "bext01 has no TLS Via to change")
    out = run_message("bext01/udp-via", variant, entry, nodes, cap, usock, False, 2.0)
    problems = []
    if out.first != 420:
        problems.append(f"bext01/udp-via: {out.lines[:1] or 'no answer'}, expected 420")
    else:
        text = out.texts[[sipplib.is_final(t) for t in out.texts].index(True)]
        tags = {t.strip() for h in sipplib.headers(text, "Unsupported") for t in h.split(",")}
        want = {"noProxiesSupportThis", "norDoAnyProxiesSupportThis"}
        if tags != want:
            problems.append(f"bext01/udp-via: 420 with Unsupported {sorted(tags)}, expected {sorted(want)} "
                            f"(the Proxy-Require tags; Require is for the UAS)")
    if out.forwarded:
        problems.append(f"bext01/udp-via: forwarded although refused: {start_lines_forwarded(out)}")
    return out, problems


# ----------------------------------------------------------------- test


def body(args):
    ringlib.require_root("the torture test (it sniffs the answers sent to the messages' Via addresses on lo)")
    d = args.torture_dir
    rows = manifest(d)
    files = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".dat"))
    check(len(files) == 49 and set(files) == set(rows) == set(EXPECT),
          f"{d}: {len(files)} messages; manifest {len(rows)}; files without EXPECT: {set(files) - set(EXPECT)}; "
          f"EXPECT without files: {set(EXPECT) - set(files)}")
    # REGISTERs last (they bind users the other messages call), otherwise file order.
    data = {n: open(os.path.join(d, n + ".dat"), "rb").read() for n in files}
    order = [n for n in files if not is_register(data[n])] + [n for n in files if is_register(data[n])]

    config = {"overlay": {"request_timeout_ms": 1000}}
    with ringlib.Cluster(args.sippeer, "torture", keep=args.keep) as cl:
        nodes = sipplib.start_ring(cl, 3, config=config)
        owner = sipplib.owner_of(nodes, "sip:user@example.com")
        entry = next(n for n in nodes if n is not owner)
        log(f"ring of 3 up; messages go to {entry.name}; sip:user@example.com is owned by {owner.name}")
        cap = sipcap.Capture(ports={n.sip_port for n in nodes}).start()
        usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        usock.bind(("127.0.0.1", 0))
        outcomes, crashed = {}, []
        t_all = time.monotonic()
        try:
            for name in order:
                tcp = name in TCP
                wait = 0.6 if DROP in EXPECT[name] else 2.0
                out = run_message(name, data[name], entry, nodes, cap, usock, tcp, wait)
                out.tcp = tcp
                out.problems = extra_checks(name, out, nodes)  # now: later REGISTERs change /lookup
                outcomes[name] = out
                dead = [n.name for n in nodes if not n.alive()]
                if dead:
                    crashed.append(f"{name}: {', '.join(dead)} died (exit {[n.proc.returncode for n in nodes if not n.alive()]})")
                    break
            variant, variant_problems = bext01_variant(data["bext01"], entry, nodes, cap, usock)
        finally:
            usock.close()
            cap.stop()
        log(f"sent {len(outcomes)} messages in {time.monotonic() - t_all:.1f} s")
        check(not crashed, "a torture message crashed a node: " + "; ".join(crashed))

        # The node is still serving.
        st = entry.status()
        check(st.get("joined"), f"{entry.name} /status after the torture: {st.get('state')}")
        with sipplib.RawPhone() as p:
            opt = p.request("OPTIONS", f"sip:{entry.address}", to=f"<sip:{entry.address}>",
                            frm="<sip:tester@example.com>")
            _, final = p.transact(entry, opt, timeout=3)
        check(final is not None and ringlib.status_code(final) == 200,
              f"OPTIONS to {entry.name} after the torture: {sipplib.status_line(final) if final else 'no answer'}")
        for n in nodes:
            check(n.alive(), f"{n.name} died")
        log(f"{entry.name} still answers /status and OPTIONS (200); all nodes alive")

        # The verdicts.
        rows_out, diverging, tolerated = [], [], []
        for name in order:
            out = outcomes[name]
            allowed = EXPECT[name]
            ok = classify(out.first, allowed)
            problems = out.problems
            actual = out.lines[0] if out.lines else "no answer"
            if out.tcp and out.closed:
                actual += " (connection closed)"
            verdict = "ok" if ok and not problems else "DIFFERS"
            if verdict != "ok" and name in KNOWN_DIVERGENT and out.first in KNOWN_DIVERGENT[name][0] and not problems:
                verdict = "known"
                tolerated.append(name)
            elif verdict != "ok":
                diverging.append((name, allowed, actual, problems))
            rows_out.append((name, rows[name]["class"], "TCP" if out.tcp else "UDP", fmt_expected(allowed),
                             actual, verdict))
        log("")
        log(f"{'message':<11} {'class':<15} {'tr':<3} {'expected':<45} {'actual':<45} verdict")
        for r in rows_out:
            log(f"{r[0]:<11} {r[1]:<15} {r[2]:<3} {r[3][:45]:<45} {r[4][:45]:<45} {r[5]}")
        log(f"bext01/udp-via (bext01 with a UDP Via): {variant.lines[:1] or 'no answer'}"
            + ("" if not variant_problems else " - " + "; ".join(variant_problems)))
        stale = [n for n in KNOWN_DIVERGENT if n not in tolerated]
        if tolerated:
            log("tolerated (KNOWN_DIVERGENT): " + "; ".join(f"{n}: {KNOWN_DIVERGENT[n][1]}" for n in tolerated))
        report = []
        for name, allowed, actual, problems in diverging:
            line = f"{name} ({rows[name]['rfc4475_section']} {rows[name]['title']}): expected {fmt_expected(allowed)}, got {actual}"
            if problems:
                line += "; " + "; ".join(problems)
            report.append(line)
        report += variant_problems
        report += [f"KNOWN_DIVERGENT entry {n} did not occur (got {outcomes[n].lines[:1] or 'no answer'}): remove it"
                   for n in stale]
        if report:
            raise ringlib.TestFailure(f"{len(report)} torture message(s) not answered as RFC 4475 says:\n  "
                                      + "\n  ".join(report))


def extra_args(ap):
    ap.add_argument("--torture-dir", default=os.environ.get("SIPPEER_TORTURE_DIR", DEFAULT_DIR),
                    help="folder with the RFC 4475 messages and MANIFEST.tsv")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args)
