#!/usr/bin/env python3
"""Bad input over UDP and on the command line.

A node (5-bit ring, id 1, started with -N) gets malformed datagrams and
REGISTERs that are valid SIP but not meaningful overlay requests:

  garbage bytes, non-SIP text, a 60 KB datagram, a stray response
                                                         -> no answer
  a request cut off before Call-ID                       -> 400 or no answer
  To: <sip:x@sippeer.net>   (ring key that is no number) -> 400 (bad-id)
  To: <sip:99@...;node>      (id outside a 5-bit ring)   -> 400 (bad-id)
  To: <sip:zz@...;node>                                  -> 400 (bad-id)
  update whose Contact is not a node URI                 -> 400 (bad-uri)
  update whose Contact has q=abc                         -> 400
  query whose From is a user, not a node                 -> 400 (bad-uri)
  query with Max-Forwards: 0                             -> 483
  update-shaped REGISTER without Contact: by the report's own definition
  (3.4: "M is a query, i.e., M.Contact is empty") it is a query   -> 200
  answered from the node's state, which it leaves unchanged

Afterwards the node still answers /status, its ring state is untouched and
counters.bad_messages grew by at least the number of overlay 400s. All of
it twice: with the batched UDP reader (sip.batch_reads, the default; its
counters show what it delivered and what it dropped unparsed: runts,
SigComp and STUN first bytes) and with Sofia's tport reading the socket.

Command line: --check-config on broken YAML prints file:line:col[: key]:
message (with a did-you-mean hint for a misspelt key) and exits 78
(EX_CONFIG); so does starting the daemon with it; an unknown flag exits 78
with a hint, and a setting that has no flag says to use the config file.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import subprocess

import ringlib
from ringlib import check, log


def status_line(text):
    return text.split("\r\n", 1)[0]


header = ringlib.sip_header


def check_udp(cl, batch_reads):
    """The same datagrams and the same answers whether the node reads its
    UDP socket in batches (sip.batch_reads, adaptor/sip/udp_reader.h) or
    leaves the reading to Sofia's tport."""
    name = "batched" if batch_reads else "tport"
    log(f"--- UDP input, read by {'the batched reader' if batch_reads else 'tport'}")
    node = cl.add(name, new_ring=True, id_bits=5, node_id=1, stabilize_ms=300,
                  config={"sip": {"batch_reads": batch_reads}})
    node.wait_joined()
    before = node.status()
    check(before["udp_reader"]["batch_reads"] == batch_reads,
          f"udp_reader.batch_reads is {before['udp_reader']['batch_reads']}, configured {batch_reads}")
    c = ringlib.SipClient()
    me = f"<sip:3@{{me}};node>"
    self_uri = f"<sip:1@{node.address};node>"
    overlay_400s = 0
    try:
        silent = {
            "garbage bytes": b"\x00\xff\xfe\x80 garbage \x01\x02\r\n\r\n",
            "a one-byte datagram": b"R",
            "a SigComp-looking datagram": b"\xf8 REGISTER sip:x SIP/2.0\r\n\r\n",
            "non-SIP text": "hello world\n\n",
            "a 60 KB datagram": b"REGISTER " + b"A" * 60000 + b"\r\n\r\n",
            "a stray response": ("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {me};branch=z9hG4bKstray\n"
                                 f"From: {me};tag=x\nTo: {self_uri};tag=y\nCall-ID: stray@x\n"
                                 "CSeq: 1 REGISTER\nContent-Length: 0\n\n"),
        }
        for what, payload in silent.items():
            got = c.exchange(node, payload)
            check(not got, f"{what}: answered {[status_line(g) for g in got]}, expected silence")
            check(node.alive(), f"{what}: the node died")
            log(f"{what}: no answer, node alive")

        # A phone's REGISTER with a second Max-Forwards (and a second
        # Call-ID): Sofia puts the duplicates on its error list as they are,
        # and the registrar read them as error headers and crashed (found
        # by tests/fuzz/fuzz_sip). Answered now, and the node lives.
        dup = ("REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bKdup1\nMax-Forwards: 70\n"
               "From: <sip:dup@example.com>;tag=1\nTo: <sip:dup@example.com>\nCall-ID: dup1@x\nCSeq: 1 REGISTER\n"
               "Max-Forwards: 7\nCall-ID: dup2@x\nContact: <sip:dup@{me}>\nContent-Length: 0\n\n")
        got = c.exchange(node, dup, until_final=True)
        check(node.alive(), "a REGISTER with two Max-Forwards killed the node")
        check(len(got) == 1, f"a REGISTER with two Max-Forwards: answered {[status_line(g) for g in got]}")
        log(f"a phone's REGISTER with two Max-Forwards and two Call-IDs: {status_line(got[0])}, node alive")

        # Cut off before Call-ID: Sofia's parser refuses it (400) or drops it.
        got = c.exchange(node, c.register(node, self_uri, me).split("Call-ID")[0])
        check(all(status_line(g).startswith("SIP/2.0 400 ") for g in got),
              f"a cut-off request: answered {[status_line(g) for g in got]}, expected 400 or silence")
        check(node.alive(), "a cut-off request: the node died")
        log(f"a cut-off request: {[status_line(g) for g in got] or 'no answer'}, node alive")

        refused = [
            ("To: <sip:x@sippeer.net>", c.register(node, "<sip:x@sippeer.net>", me), 400, "bad-id"),
            ("To: node id 99 on a 5-bit ring", c.register(node, f"<sip:99@{node.address};node>", me), 400, "bad-id"),
            ("To: node id zz", c.register(node, f"<sip:zz@{node.address};node>", me), 400, "bad-id"),
            ("update with a non-node Contact",
             c.register(node, self_uri, me, "Contact: <sip:foo@192.0.2.1>\n"), 400, "bad-uri"),
            ("update with q=abc",
             c.register(node, self_uri, me, "Contact: <sip:3@{me};node>;q=abc\n"), 400, None),
            ("query from a user", c.register(node, "<sip:5@sippeer.net>", "<sip:alice@example.com>"), 400, "bad-uri"),
        ]
        for what, payload, code, why in refused:
            got = c.exchange(node, payload, until_final=True)
            check(len(got) == 1, f"{what}: {len(got)} answers {[status_line(g) for g in got]}, expected one {code}")
            check(status_line(got[0]).startswith(f"SIP/2.0 {code} "),
                  f"{what}: answered {status_line(got[0])!r}, expected {code}")
            if why:
                check(why in (header(got[0], "Warning") or ""),
                      f"{what}: Warning {header(got[0], 'Warning')!r} does not say {why!r}")
            check(header(got[0], "Call-ID") is not None, f"{what}: the {code} has no Call-ID")
            overlay_400s += 1
            log(f"{what}: {status_line(got[0])} ({header(got[0], 'Warning')})")

        got = c.exchange(node, c.register(node, "<sip:5@sippeer.net>", me, max_forwards=0), until_final=True)
        check(len(got) == 1 and status_line(got[0]).startswith("SIP/2.0 483 "),
              f"query with Max-Forwards 0: answered {[status_line(g) for g in got]}, expected 483")
        log(f"query with Max-Forwards 0: {status_line(got[0])}")

        got = c.exchange(node, c.register(node, self_uri, me), until_final=True)
        check(len(got) == 1 and status_line(got[0]).startswith("SIP/2.0 200 "),
              f"update without Contact (a query): answered {[status_line(g) for g in got]}, expected 200")
        contact = header(got[0], "Contact")
        check(contact == f'{self_uri};q=1;predecessor="{self_uri}"',
              f"update without Contact (a query): Contact {contact!r}")
        log(f"update-shaped REGISTER without Contact: {status_line(got[0])}, answered as a query")
    finally:
        c.close()

    after = node.status()
    check(after["state"] == "joined", f"state {after['state']!r} after bad input")
    for k in ("predecessor", "successors", "fingers"):
        check(after[k] == before[k], f"{k} changed after bad input: {before[k]} -> {after[k]}")
    grew = after["counters"]["bad_messages"] - before["counters"]["bad_messages"]
    check(grew >= overlay_400s, f"counters.bad_messages grew by {grew}, expected at least {overlay_400s}")
    log(f"node alive, ring state unchanged, bad_messages +{grew}")
    r0, r1 = before["udp_reader"], after["udp_reader"]
    if batch_reads:
        # Garbage (first byte 0), the runt and the SigComp byte are dropped
        # before parsing; everything else reached the stack through it.
        check(r1["dropped"] - r0["dropped"] >= 3, f"udp_reader.dropped grew {r0['dropped']} -> {r1['dropped']}")
        check(r1["datagrams"] - r0["datagrams"] >= overlay_400s + 4,
              f"udp_reader.datagrams grew {r0['datagrams']} -> {r1['datagrams']}")
        check(r1["wakeups"] > r0["wakeups"], "udp_reader.wakeups did not grow")
        log(f"batched reader: +{r1['datagrams'] - r0['datagrams']} datagrams delivered, "
            f"+{r1['dropped'] - r0['dropped']} dropped, +{r1['wakeups'] - r0['wakeups']} wake-ups")
    else:
        check(r1 == r0, f"udp_reader counters moved with batch_reads off: {r0} -> {r1}")
    check(node.stop() == 0, "the node did not exit 0 on SIGTERM after bad input")


def run(cl, *args):
    r = subprocess.run([cl.sippeer] + list(args), capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout, r.stderr


def check_cli(cl):
    d = cl.dir

    def write(name, text):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    misspelt = write("misspelt.yaml", "sip:\n  prot: 5060\n")
    code, out, err = run(cl, "--check-config", misspelt)
    check(code == ringlib.EX_CONFIG, f"--check-config {misspelt}: exit {code}, expected 78")
    want = f"{misspelt}:2:3: sip.prot: unknown key; did you mean 'sip.port'?"
    check(want in err.splitlines(), f"--check-config on a misspelt key printed {err!r}, expected a line {want!r}")
    log(f"misspelt key: exit 78, {err.strip()!r}")

    syntax = write("syntax.yaml", "sip:\n  port: [1\n")
    code, out, err = run(cl, "--check-config", syntax)
    check(code == ringlib.EX_CONFIG, f"--check-config {syntax}: exit {code}, expected 78")
    check(re.match(re.escape(syntax) + r":\d+:\d+: .+", err), f"YAML syntax error printed {err!r}")
    log(f"YAML syntax error: exit 78, {err.strip()!r}")

    ranges = write("ranges.yaml", "sip:\n  port: 70000\noverlay:\n  stabilize_ms: abc\n")
    code, out, err = run(cl, "--check-config", ranges)
    check(code == ringlib.EX_CONFIG, f"--check-config {ranges}: exit {code}, expected 78")
    lines = err.strip().splitlines()
    check(len(lines) == 2 and lines[0].startswith(f"{ranges}:2:9: sip.port: ")
          and lines[1].startswith(f"{ranges}:4:17: overlay.stabilize_ms: "),
          f"two bad values printed {err!r}, expected one line per error with file:line:col: key:")
    log(f"two bad values: exit 78, {len(lines)} errors")

    code, out, err = run(cl, "--config", misspelt, "-p", "0", "--no-multicast", "-N", "--admin", "")
    check(code == ringlib.EX_CONFIG, f"starting with {misspelt}: exit {code}, expected 78")
    check("sip.prot: unknown key" in err, f"starting with {misspelt} printed {err!r}")

    code, out, err = run(cl, "--stabilise-ms", "5")
    check(code == ringlib.EX_CONFIG, f"--stabilise-ms: exit {code}, expected 78")
    check("did you mean '--stabilize-ms'?" in err and "--help" in err, f"--stabilise-ms printed {err!r}")
    log(f"unknown flag: exit 78, {err.splitlines()[0]!r}")

    code, out, err = run(cl, "--request-timeout-ms", "5")
    check(code == ringlib.EX_CONFIG, f"--request-timeout-ms: exit {code}, expected 78")
    check("has no flag" in err and "config" in err, f"--request-timeout-ms printed {err!r}")

    good = write("good.yaml", "sip:\n  port: 0\n")
    code, out, err = run(cl, "--check-config", good)
    check(code == 0, f"--check-config on a valid file: exit {code} ({err!r})")


def body(args):
    with ringlib.Cluster(args.sippeer, "bad-input", keep=args.keep) as cl:
        check_udp(cl, batch_reads=True)
        check_udp(cl, batch_reads=False)
        check_cli(cl)


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
