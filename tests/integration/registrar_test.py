#!/usr/bin/env python3
"""The registrar (RFC 3261 10.3) as phones see it, through a ring of 3.

Each case runs on a ring of its own (--case NAME runs one; CTest runs each
as integration.registrar.NAME). REGISTERs are sent by hand over UDP to a
node that does not own the AOR's key, so each one crosses the ring; the
bindings are then read with GET /lookup from every node.

  wildcard       two contacts, then `Contact: *` + `Expires: 0` (same
                 Call-ID, higher CSeq) -> 200, and /lookup is 404 everywhere
  wildcard_bad   `Contact: *` + `Expires: 3600` -> 400 (step 5), and the
                 stored binding is untouched
  min_expires    Expires: 30 with registrar.min_expires 60 (default) -> 423
                 with Min-Expires: 60; an expires=10 contact param too;
                 nothing is stored
  multi_contact  three contacts in one REGISTER (two in one header, one with
                 ;expires=120, one with ;q=0.5) -> 200 listing all three,
                 each with its own expires
  expiry         registrar.min_expires 1; Expires: 3 -> 200 with
                 expires=3; 5 s later /lookup is 404 at every node
  out_of_order   same Call-ID, CSeq 5 then CSeq 4 (a refresh, then a
                 removal) -> 500 each time, bindings unchanged; CSeq 6 -> 200
  cisco          a Cisco 7960-style REGISTER: Request-URI sip:example.com,
                 From/To <sip:1001@example.com;user=phone> with NO From tag
                 (invalid per RFC 3261 8.1.1.3, which the 7960 firmware does
                 anyway), no Max-Forwards, Expires after Content-Length,
                 User-Agent CSCO/7, Contact <sip:1001@127.0.0.1:P;user=phone>.
                 Another phone has registered sip:1001@example.com first.
                 -> 200 whose Contact lists only the 7960's own contact
                 (the 7960 breaks on foreign contacts), and an INVITE to
                 sip:1001@example.com through another node reaches the 7960
                 (and the other phone): both answer 486, the caller gets 486.
  single_contact registrar.single_contact_user_agents: ["Acme/"]. With two
                 bindings for sip:1002@example.com, a REGISTER with
                 User-Agent Acme/2.1 gets a 200 listing only its own
                 contact, one with User-Agent CSCO/7 (no longer listed) gets
                 both. The owner's file is rewritten to [CSCO] and SIGHUPed:
                 the reload names the key as applied, and now the CSCO
                 phone gets only its own contact and the Acme phone both.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import signal
import time
import traceback

import ringlib
import sipcap
import sipplib
from ringlib import check, log
from sipplib import header, headers, status_line

CASES = {}


def case(name, config=None):
    def wrap(fn):
        CASES[name] = (fn, config)
        return fn
    return wrap


def reply_contacts(text):
    out = []
    for h in headers(text, "Contact") + headers(text, "m"):
        out += sipcap.split_commas(h)
    return out


def expires_of(value):
    m = re.search(r";\s*expires=(\d+)", value)
    return int(m.group(1)) if m else None


def uri_in(value):
    return sipcap.bracketed(value)


def register(phone, node, user, contacts, *, expires=None, call_id=None, cseq=1, extra="", timeout=5):
    """REGISTER sip:user@example.com through node; contacts: list of
    Contact header values (each its own header) or None. Returns the final."""
    lines = [f"Contact: {c}" for c in contacts or []]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    text = phone.request("REGISTER", "sip:example.com", to=f"<sip:{user}@example.com>",
                         frm=f"<sip:{user}@example.com>", call_id=call_id, cseq=cseq,
                         extra="\n".join(lines + ([extra] if extra else [])), contact=False)
    _, final = phone.transact(node, text, timeout=timeout)
    check(final is not None, f"REGISTER {user} ({contacts}, Expires {expires}, CSeq {cseq}) through "
                             f"{node.name}: no final answer in {timeout} s")
    return final


def bindings_everywhere(nodes, user):
    """{node name: (status, [binding values])} of /lookup on every node."""
    out = {}
    for n in nodes:
        code, body = sipplib.lookup(n, f"sip:{user}@example.com")
        out[n.name] = (code, body.get("bindings", []) if isinstance(body, dict) else body)
    return out


def expect_lookup(nodes, user, want_uris, what):
    """/lookup on every node: 404 when want_uris is empty, else 200 with
    exactly those URIs bound. Returns one node's bindings."""
    got = bindings_everywhere(nodes, user)
    bad = []
    for name, (code, b) in got.items():
        uris = sorted(uri_in(v) for v in b) if isinstance(b, list) else b
        if want_uris:
            if code != 200 or uris != sorted(want_uris):
                bad.append(f"{name}: {code} {b}")
        elif code != 404:
            bad.append(f"{name}: {code} {b}")
    check(not bad, f"{what}: /lookup of sip:{user}@example.com should be "
                   f"{'200 with ' + str(sorted(want_uris)) if want_uris else '404'}, got:\n    " + "\n    ".join(bad))
    return next(iter(got.values()))[1]


def non_owner(nodes, user):
    owner = sipplib.owner_of(nodes, f"sip:{user}@example.com")
    return next(n for n in nodes if n is not owner), owner


# ----------------------------------------------------------------- cases


@case("wildcard")
def wildcard(cl, ph, nodes):
    p = ph.raw_phone("wc")
    entry, owner = non_owner(nodes, "wc")
    cid = f"wild-{os.getpid()}@127.0.0.1"
    a, b = f"sip:wc@127.0.0.1:{p.port}", "sip:wc@127.0.0.1:5999"
    final = register(p, entry, "wc", [f"<{a}>", f"<{b}>"], expires=3600, call_id=cid, cseq=1)
    check(ringlib.status_code(final) == 200, f"registering two contacts: {status_line(final)!r}")
    expect_lookup(nodes, "wc", [a, b], "after registering two contacts")
    final = register(p, entry, "wc", ["*"], expires=0, call_id=cid, cseq=2)
    check(ringlib.status_code(final) == 200, f"Contact: * with Expires: 0: {status_line(final)!r}, expected 200")
    left = reply_contacts(final)
    check(not left, f"Contact: * with Expires: 0: the 200 still lists {left}")
    log(f"Contact: * / Expires: 0 through {entry.name} (owner {owner.name}): {status_line(final)}, no contacts listed")
    expect_lookup(nodes, "wc", [], "after Contact: * with Expires: 0")
    log("/lookup is 404 at every node")
    # The registrar (the owner) logs each stored change at info, one line each.
    text = owner.log()
    check(re.search(r" info  \[reg\] sip:wc@example\.com: 2 bindings \(version \d+\) from 127\.0\.0\.1:\d+$", text, re.M)
          and re.search(r" info  \[reg\] sip:wc@example\.com: 0 bindings .*, unregistered$", text, re.M),
          f"{owner.name} did not log the registration and its removal at info:\n{text[-2000:]}")


@case("wildcard_bad")
def wildcard_bad(cl, ph, nodes):
    p = ph.raw_phone("wb")
    entry, _ = non_owner(nodes, "wb")
    a = f"sip:wb@127.0.0.1:{p.port}"
    cid = f"wb-{os.getpid()}@127.0.0.1"
    final = register(p, entry, "wb", [f"<{a}>"], expires=3600, call_id=cid, cseq=1)
    check(ringlib.status_code(final) == 200, f"registering: {status_line(final)!r}")
    problems = []
    for what, contacts, exp in (("Contact: * with Expires: 3600", ["*"], 3600),
                                ("Contact: * without Expires", ["*"], None),
                                ("Contact: * next to another contact, Expires: 0", ["*", "<sip:wb@127.0.0.1:5998>"], 0)):
        final = register(p, entry, "wb", contacts, expires=exp, call_id=cid, cseq=2 + len(problems) + 10)
        if ringlib.status_code(final) != 400:
            problems.append(f"{what}: {status_line(final)!r}, expected 400")
        else:
            log(f"{what}: {status_line(final)}")
    expect_lookup(nodes, "wb", [a], "after the refused wildcards")
    check(not problems, "\n".join(problems))
    log("the binding is unchanged")


@case("min_expires")
def min_expires(cl, ph, nodes):
    p = ph.raw_phone("me")
    entry, _ = non_owner(nodes, "me")
    for what, contacts, exp in (("Expires: 30", [p.contact], 30),
                                ("contact param expires=10", [p.contact + ";expires=10"], 3600)):
        final = register(p, entry, "me", contacts, expires=exp)
        check(ringlib.status_code(final) == 423, f"{what} (min_expires 60): {status_line(final)!r}, expected 423")
        check(header(final, "Min-Expires") == "60",
              f"{what}: 423 with Min-Expires {header(final, 'Min-Expires')!r}, expected '60'")
        log(f"{what}: {status_line(final)}, Min-Expires: {header(final, 'Min-Expires')}")
    expect_lookup(nodes, "me", [], "after the 423s")


@case("multi_contact")
def multi_contact(cl, ph, nodes):
    p = ph.raw_phone("mc")
    entry, _ = non_owner(nodes, "mc")
    u1, u2, u3 = "sip:mc@127.0.0.1:5001", "sip:mc@127.0.0.1:5002", "sip:mc@127.0.0.1:5003"
    final = register(p, entry, "mc", [f"<{u1}>, <{u2}>;expires=120", f"<{u3}>;q=0.5"], expires=3600)
    check(ringlib.status_code(final) == 200, f"three contacts: {status_line(final)!r}")
    listed = {uri_in(v): v for v in reply_contacts(final)}
    check(sorted(listed) == sorted([u1, u2, u3]), f"the 200 lists {reply_contacts(final)}, expected {u1}, {u2}, {u3}")
    want = {u1: 3600, u2: 120, u3: 3600}
    for u, e in want.items():
        got = expires_of(listed[u])
        check(got is not None and e - 3 <= got <= e, f"the 200 lists {listed[u]!r}: expires {got}, expected {e}")
    check(re.search(r";\s*q=0\.5\b", listed[u3]), f"the 200 lists {listed[u3]!r} without its q=0.5")
    log(f"the 200 lists all three: {reply_contacts(final)}")
    expect_lookup(nodes, "mc", [u1, u2, u3], "after registering three contacts")


@case("expiry", config={"registrar": {"min_expires": 1}})
def expiry(cl, ph, nodes):
    p = ph.raw_phone("ex")
    entry, owner = non_owner(nodes, "ex")
    a = f"sip:ex@127.0.0.1:{p.port}"
    final = register(p, entry, "ex", [f"<{a}>"], expires=3)
    check(ringlib.status_code(final) == 200, f"Expires: 3 with min_expires 1: {status_line(final)!r}")
    listed = reply_contacts(final)
    check(len(listed) == 1 and expires_of(listed[0]) in (2, 3), f"the 200 lists {listed}, expected expires=3")
    t0 = time.monotonic()
    expect_lookup(nodes, "ex", [a], "right after registering for 3 s")
    log(f"registered for 3 s through {entry.name} (owner {owner.name}); found at every node")
    time.sleep(max(0.0, 5 - (time.monotonic() - t0)))
    expect_lookup(nodes, "ex", [], "5 s after registering with Expires: 3")
    log("5 s later: /lookup 404 at every node")


@case("out_of_order")
def out_of_order(cl, ph, nodes):
    p = ph.raw_phone("oo")
    entry, _ = non_owner(nodes, "oo")
    a = f"sip:oo@127.0.0.1:{p.port}"
    cid = f"ooo-{os.getpid()}@127.0.0.1"
    final = register(p, entry, "oo", [f"<{a}>"], expires=3600, call_id=cid, cseq=5)
    check(ringlib.status_code(final) == 200, f"CSeq 5: {status_line(final)!r}")
    problems = []
    for what, exp in (("CSeq 4 refreshing to Expires: 1800", 1800), ("CSeq 4 removing (Expires: 0)", 0)):
        final = register(p, entry, "oo", [f"<{a}>"], expires=exp, call_id=cid, cseq=4)
        if ringlib.status_code(final) != 500:
            problems.append(f"{what} after CSeq 5 (same Call-ID): {status_line(final)!r}, expected 500")
        else:
            log(f"{what} after CSeq 5: {status_line(final)}")
        b = expect_lookup(nodes, "oo", [a], f"after {what}")
        e = expires_of(b[0])
        if e is None or e < 3590:
            problems.append(f"after {what}: the binding is {b[0]!r}, expected its expires to stay ~3600")
    check(not problems, "\n".join(problems))
    final = register(p, entry, "oo", [f"<{a}>"], expires=1800, call_id=cid, cseq=6)
    check(ringlib.status_code(final) == 200, f"CSeq 6 after CSeq 5: {status_line(final)!r}, expected 200")
    b = expect_lookup(nodes, "oo", [a], "after CSeq 6")
    check(1790 <= (expires_of(b[0]) or 0) <= 1800, f"after CSeq 6 (Expires 1800) the binding is {b[0]!r}")
    log("bindings unchanged by the out-of-order requests; CSeq 6 then refreshed to 1800 s")


@case("cisco")
def cisco(cl, ph, nodes):
    phone = ph.raw_phone("1001")
    other = ph.raw_phone("1001")
    entry, owner = non_owner(nodes, "1001")
    caller_node = next(n for n in nodes if n is not entry)
    final = register(other, entry, "1001", [other.contact], expires=3600)
    check(ringlib.status_code(final) == 200, f"the other phone's REGISTER: {status_line(final)!r}")
    mine = f"sip:1001@127.0.0.1:{phone.port};user=phone"
    text = (f"REGISTER sip:example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {phone.address};branch=z9hG4bK7960{os.getpid()}\r\n"
            f"From: <sip:1001@example.com;user=phone>\r\n"
            f"To: <sip:1001@example.com;user=phone>\r\n"
            f"Call-ID: 000e38e1-a5c80003-{os.getpid():08x}-6bd1b0f4@127.0.0.1\r\n"
            f"Date: Sat, 22 Nov 2026 04:00:00 GMT\r\n"
            f"CSeq: 101 REGISTER\r\n"
            f"User-Agent: CSCO/7\r\n"
            f"Contact: <{mine}>\r\n"
            f"Content-Length: 0\r\n"
            f"Expires: 3600\r\n\r\n")
    _, final = phone.transact(entry, text, timeout=5)
    check(final is not None, "the 7960-style REGISTER (no From tag): no answer in 5 s")
    log(f"7960-style REGISTER (no From tag, no Max-Forwards, Expires after Content-Length) through "
        f"{entry.name} (owner {owner.name}): {status_line(final)}")
    check(ringlib.status_code(final) == 200,
          f"the 7960-style REGISTER without From tag: {status_line(final)!r}, expected 200 "
          f"(RFC 2543 phones send no From tag; RFC 4475 3.4.1 says to accept such requests)")
    listed = reply_contacts(final)
    check([uri_in(v) for v in listed] == [mine],
          f"the 200 to the 7960 lists {listed}, expected only its own contact <{mine}>")
    log(f"its 200 lists only its own contact: {listed}")
    expect_lookup(nodes, "1001", [mine, f"sip:1001@{other.address}"], "after the 7960 registered")

    caller = ph.raw_phone("alice")
    inv = caller.request("INVITE", "sip:1001@example.com", to="<sip:1001@example.com>",
                         body="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                              "m=audio 9 RTP/AVP 0\r\n", content_type="application/sdp")
    caller.send(caller_node, inv)
    reached = {}
    for name, p in (("the 7960", phone), ("the other phone", other)):
        got = p.recv(5, lambda m: m.startswith("INVITE "))
        check(got is not None, f"INVITE sip:1001@example.com through {caller_node.name}: {name} got no INVITE in 5 s")
        reached[name] = got.split("\r\n", 1)[0]
        p.reply_to(got, None, 486, "Busy Here", to_tag=f"busy{p.port}")
    check(reached["the 7960"] == f"INVITE {mine} SIP/2.0",
          f"the 7960 got {reached['the 7960']!r}, expected its contact as Request-URI")
    log(f"INVITE sip:1001@example.com through {caller_node.name} reached the 7960: {reached['the 7960']}")
    final = None
    deadline = time.monotonic() + 5
    while final is None and time.monotonic() < deadline:
        m = caller.recv(deadline - time.monotonic(), lambda m: m.startswith("SIP/2.0 "))
        if m is not None and sipplib.is_final(m):
            final = m
    check(final is not None and ringlib.status_code(final) == 486,
          f"the caller got {status_line(final) if final else 'no final answer'}, expected 486 (both forks busy)")
    caller.send(caller_node, caller.ack_for(inv, final))
    log(f"both forks answered 486; the caller got {status_line(final)}")


@case("single_contact", config={"registrar": {"single_contact_user_agents": ["Acme/"]}})
def single_contact(cl, ph, nodes):
    entry, owner = non_owner(nodes, "1002")
    acme, csco, other = ph.raw_phone("1002"), ph.raw_phone("1002"), ph.raw_phone("1002")
    final = register(other, entry, "1002", [other.contact], expires=3600)
    check(ringlib.status_code(final) == 200, f"the other phone's REGISTER: {status_line(final)!r}")

    def listed(phone, agent, cseq):
        final = register(phone, entry, "1002", [phone.contact], expires=3600, call_id=f"{agent}-{phone.port}",
                         cseq=cseq, extra=f"User-Agent: {agent}")
        check(ringlib.status_code(final) == 200, f"REGISTER with User-Agent {agent}: {status_line(final)!r}")
        return sorted(uri_in(v) for v in reply_contacts(final))

    own = {p: f"sip:1002@{p.address}" for p in (acme, csco, other)}
    got = listed(acme, "Acme/2.1", 1)
    check(got == [own[acme]], f"[Acme/]: the 200 to Acme/2.1 lists {got}, expected only {own[acme]}")
    got = listed(csco, "CSCO/7", 1)
    check(got == sorted(own.values()), f"[Acme/]: the 200 to CSCO/7 lists {got}, expected all three bindings")
    log(f"single_contact_user_agents [Acme/]: Acme/2.1 listed only its own contact, CSCO/7 all {len(got)}")

    with open(os.path.join(cl.dir, f"{owner.name}.yaml"), "w") as f:
        f.write(ringlib.yaml_text({"registrar": {"single_contact_user_agents": ["CSCO"]}}))
    owner.signal(signal.SIGHUP)
    ringlib.wait_until(lambda: "SIGHUP: reloaded" in owner.log(), 10, what=f"{owner.name} to log the reload")
    check("registrar.single_contact_user_agents" in owner.log().split("SIGHUP: reloaded", 1)[1].split("\n", 1)[0],
          f"the reload does not name registrar.single_contact_user_agents as applied:\n{owner.log()[-2000:]}")
    got = listed(csco, "CSCO/7", 2)
    check(got == [own[csco]], f"after SIGHUP [CSCO]: the 200 to CSCO/7 lists {got}, expected only {own[csco]}")
    got = listed(acme, "Acme/2.1", 2)
    check(got == sorted(own.values()), f"after SIGHUP [CSCO]: the 200 to Acme/2.1 lists {got}, expected all three")
    log("after SIGHUP with [CSCO]: CSCO/7 listed only its own contact, Acme/2.1 all three")


# ----------------------------------------------------------------- driver


def run_case(args, name):
    fn, config = CASES[name]
    with ringlib.Cluster(args.sippeer, f"registrar-{name}", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        nodes = sipplib.start_ring(cl, 3, config=config)
        fn(cl, ph, nodes)
        for n in nodes:
            check(n.alive(), f"{n.name} died")


def body(args):
    names = [args.case] if args.case else list(CASES)
    for n in names:
        check(n in CASES, f"unknown case {n!r}; cases: {', '.join(CASES)}")
    results = []
    for name in names:
        log(f"--- {name}")
        t0 = time.monotonic()
        try:
            run_case(args, name)
            results.append((name, None, time.monotonic() - t0))
        except ringlib.TestFailure as e:
            results.append((name, str(e), time.monotonic() - t0))
        except Exception:  # noqa: BLE001
            results.append((name, traceback.format_exc(), time.monotonic() - t0))
    if len(names) > 1 or results[0][1]:
        log("")
        for name, err, took in results:
            log(f"{'PASS' if not err else 'FAIL'} {name} ({took:.1f} s)" + (f": {err}" if err else ""))
    failed = [r for r in results if r[1]]
    if failed:
        raise ringlib.TestFailure(f"{len(failed)} of {len(results)} registrar case(s) failed: "
                                  f"{', '.join(r[0] for r in failed)}")


def extra_args(ap):
    ap.add_argument("--case", help=f"run one case: {', '.join(CASES)}")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args)
