#!/usr/bin/env python3
"""Node 7's join into the report's seed ring, captured on the wire.

The 5-bit ring {1, 10, 15, 22} is started as in seed_test.py; then the
datagrams on `lo` are sniffed (AF_PACKET, root only) while node 7 joins
through node 22, and their shapes are checked against the SIPPEER report,
3.3.3-3.3.4 and Appendix A:

 (a) 7 -> 22   REGISTER sip:<22> SIP/2.0, Via branch z9hG4bK..., From
               <sip:7@..;node>;tag=, To <sip:7@..;node> (no tag), no Contact,
               CSeq n REGISTER, Call-ID, Max-Forwards 70, Content-Length 0
 (b) 22 -> 1   the same request proxied: two Vias (22's on top, 7's below,
               unchanged), same Call-ID, From tag and To, Max-Forwards 69
 (c) 1 -> 22   200 OK, both Vias, Contact: <sip:10@..;node>;q=1;
               predecessor="<sip:1@..;node>"
     22 -> 7   200 OK with only 7's Via and the same Contact
 (d) 7 -> 10   queries for the fingers: To <sip:11@sippeer.net> (answer
               15, predecessor 10), then 7 -> 15 To <sip:23@sippeer.net>
               (answer 1, predecessor 22). The report sends both to the
               successor; sippeer sends each to the nearest node it knows
               before the finger's start, here the finger it just found
               (PROTOCOL.md 6.3), a hop or two instead of a lookup
 (e) 7 -> 10   the update: To <sip:10@..;node>, Contact: <sip:7@..;node>;q=1;
               predecessor="<sip:1@..;node>"; its 200 carries 10's view:
               10 (predecessor 7), then the successor list 15, 22, 1 as
               Contacts with q = 1 - i/n strictly decreasing.
Then, on the ring of five, a record is stored through a node that does not
own its key (report 3.14-3.17; the Store REGISTER is sent by the test, as
there is no phone registrar in this build):
 (f) the proxied Store keeps To = From = the AOR, its Contact, Expires and
     P2P-Record-Version and adds P2P-Owner: 1 among its headers; the owner
     sends a Transfer to each of its 3 replicas (From <its node URI>, To the
     AOR, same Contact and version), and the 200 carries the binding.
Every captured message must be well-formed: the header block ends at the
first blank line and the body is exactly Content-Length bytes.

The daemon writes the node parameter on every node URI (sip:7@host:port;node)
where the report writes sip:7@host:port, and quotes the predecessor value
because a URI with ';node' is not a token; both are deliberate (dht/codec.h).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re
import time

import ringlib
import sipcap
from ringlib import check, log

BITS = 5
STABILIZE_MS = 300
Q_RE = re.compile(r"^(1|0(\.\d{1,3})?)$")


def node_uri(i, node):
    return f"sip:{i}@{node.address};node"


def expect_header(m, name, want, label):
    got = m.get(name)
    check(got == want, f"{label}: {name} is {got!r}, expected {want!r}")


def via_key(v):
    """sent-by and branch of a Via value: what identifies the hop. A node
    that receives a request may fill in rport= and add received= (RFC 3261
    18.2.1, RFC 3581), so the rest of a Via can change along the way."""
    m = re.match(r"SIP/2\.0/UDP\s+([^;\s]+)", v)
    b = re.search(r";\s*branch=([^;\s,]+)", v)
    return (m.group(1) if m else v, b.group(1) if b else None)


def same_vias(got, want):
    return [via_key(v) for v in got] == [via_key(v) for v in want]


def check_request_basics(m, label, max_forwards):
    check(m.method == "REGISTER", f"{label}: method {m.method!r}")
    check(m.start_line.endswith(" SIP/2.0"), f"{label}: start line {m.start_line!r}")
    for h in ("via", "from", "to", "call-id", "cseq", "max-forwards", "content-length"):
        check(m.get(h) is not None, f"{label}: no {h} header")
    check(re.fullmatch(r"\d+ REGISTER", m.get("cseq")), f"{label}: CSeq {m.get('cseq')!r}")
    check(m.get("max-forwards") == str(max_forwards),
          f"{label}: Max-Forwards {m.get('max-forwards')!r}, expected {max_forwards}")
    check(m.get("content-length") == "0", f"{label}: Content-Length {m.get('content-length')!r}")
    for v in m.all("via"):
        check(re.match(r"SIP/2\.0/UDP [\d.]+:\d+;.*branch=z9hG4bK\S+", v), f"{label}: Via {v!r}")
        check(via_key(v)[1] and via_key(v)[1].startswith("z9hG4bK"), f"{label}: Via {v!r} branch")


def body(args):
    ringlib.require_root("capture_test (sniffing lo with an AF_PACKET socket)")
    config = {"overlay": {"request_timeout_ms": 600}}
    with ringlib.Cluster(args.sippeer, "capture", keep=args.keep) as cl:
        common = dict(id_bits=BITS, stabilize_ms=STABILIZE_MS, config=config)
        n1 = cl.add("node1", new_ring=True, node_id=1, **common)
        n1.wait_joined()
        seed = {1: n1}
        for i in (10, 15, 22):
            seed[i] = cl.add(f"node{i}", node_id=i, bootstrap=[n1], **common)
            seed[i].wait_joined()
        ringlib.wait_consistent(list(seed.values()), 10, bits=BITS, what="consistent ring {1, 10, 15, 22}")

        p7 = ringlib.free_port()
        a7 = f"127.0.0.1:{p7}"
        a = {i: n.address for i, n in seed.items()}
        a[7] = a7
        cap = sipcap.Capture(ports={n.sip_port for n in seed.values()} | {p7}).start()
        try:
            n7 = cl.add("node7", node_id=7, bootstrap=[seed[22]], sip_port=p7, **common)
            n7.wait_joined()

            def update_answered():
                # (e)'s 200: the last message of the join we check.
                for m in cap.messages():
                    if (not m.is_request and m.src == a[10] and m.dst == a7
                            and m.uri_of("to") == node_uri(10, seed[10])):
                        return True
                return False
            ringlib.wait_until(update_answered, 5, what="the answer to node 7's first update")
            time.sleep(0.1)
            msgs = cap.messages()
            check_join(msgs, seed, n7, a)
            log(f"checked the shapes of node 7's join ({len(msgs)} datagrams captured)")

            ring = dict(seed)
            ring[7] = n7
            ringlib.wait_consistent(list(ring.values()), 3 * STABILIZE_MS / 1000 + 2, bits=BITS,
                                    what="ring {1, 7, 10, 15, 22}")
            with ringlib.SipClient() as client:
                cap.add_ports(int(client.address.rsplit(":", 1)[1]))
                check_store(cap, client, ring, a)
            log("checked the shapes of a proxied Store and its replication")
            check_well_formed(cap.messages())
        except Exception:
            cap.stop()
            print("\n===== captured SIP messages =====", file=sys.stderr)
            print(cap.dump(), file=sys.stderr)
            if cap.errors:
                print("capture errors: " + "; ".join(cap.errors), file=sys.stderr)
            raise
        cap.stop()


AOR = "sip:alice@example.com"
BINDING = "<sip:alice@192.0.2.7:5060>"


def check_store(cap, client, ring, a):
    key = ringlib.key_of(AOR, BITS)
    model = ringlib.RingModel(list(ring), BITS)
    owner = model.successor(key)
    via = next(i for i in sorted(ring) if i not in (owner, model.predecessor(owner)))
    answer = client.store(ring[via], AOR, [BINDING])
    check(ringlib.status_code(answer) == 200, f"(f) Store through node {via}: {answer.splitlines()[0]!r}")
    replicas = model.successor_list(owner)[:3]

    def all_seen():
        ms = cap.messages()
        got = {m.dst for m in ms if m.is_request and m.src == a[owner] and m.get("to") == f"<{AOR}>"}
        return all(a[r] in got for r in replicas)
    ringlib.wait_until(all_seen, 3, what=f"node {owner}'s transfers to {replicas}")
    msgs = cap.messages()
    label = f"(f) Store {via}->{owner}"
    _, orig = first(msgs, lambda m: m.is_request and m.src == client.address, "(f) the client's Store")
    _, fwd = first(msgs, lambda m: m.is_request and m.src == a[via] and m.get("call-id") == orig.get("call-id"),
                   f"{label}: node {via} proxying the Store")
    check(fwd.dst == a[owner], f"{label}: proxied to {fwd.dst}, expected the owner {a[owner]} "
                               f"(its successor list covers key {key})")
    for h in ("from", "to", "contact", "expires", "p2p-record-version", "call-id", "cseq"):
        check(fwd.get(h) == orig.get(h), f"{label}: {h} {fwd.get(h)!r}, the original had {orig.get(h)!r}")
    check(len(fwd.all("via")) == 2 and via_key(fwd.all("via")[1]) == via_key(orig.get("via")),
          f"{label}: Vias {fwd.all('via')}")
    check(fwd.get("p2p-owner") == "1",
          f"{label}: no P2P-Owner: 1 among the headers of the proxied Store (node {via} believes node "
          f"{owner} owns key {key}); header block {[n for n, _ in fwd.header_lines]}, "
          f"body {fwd.raw_body!r}")
    for r in replicas:
        lab = f"(f) Transfer {owner}->{r}"
        _, t = first(msgs, lambda m: m.is_request and m.src == a[owner] and m.dst == a[r]
                     and m.get("to") == f"<{AOR}>", lab)
        check(re.fullmatch(rf"<sip:{owner}@{re.escape(a[owner])};node>;tag=\S+", t.get("from")),
              f"{lab}: From {t.get('from')!r}")
        check(t.all("contact") == [BINDING], f"{lab}: Contact {t.all('contact')}")
        check(t.get("p2p-record-version") == "1", f"{lab}: P2P-Record-Version {t.get('p2p-record-version')!r}")
        check(t.get("expires") is not None and 0 < int(t.get("expires")) <= 3600, f"{lab}: Expires {t.get('expires')!r}")
        check(t.get("reason") is None, f"{lab}: Reason {t.get('reason')!r} on a replica")
    check(BINDING in [c for c in sipcap.split_commas(ringlib.sip_header(answer, "Contact") or "")]
          or BINDING in answer, f"(f) the 200 for the Store does not carry the binding: {answer!r}")


def check_well_formed(msgs):
    for m in msgs:
        cl = m.get("content-length")
        check(cl is not None, f"{m.summary()}: no Content-Length")
        check(len(m.raw_body.encode()) == int(cl),
              f"{m.summary()}: {len(m.raw_body.encode())} bytes after the header block but Content-Length: {cl} "
              f"(body {m.raw_body!r})")


def first(msgs, pred, what, after=-1):
    for idx, m in enumerate(msgs):
        if idx > after and pred(m):
            return idx, m
    raise ringlib.TestFailure(f"not captured: {what}")


def response_to(msgs, req, src, dst, what):
    return first(msgs, lambda m: not m.is_request and m.get("call-id") == req.get("call-id")
                 and m.src == src and m.dst == dst and m.status >= 200, what)


def check_join(msgs, seed, n7, a):
    uri = {i: f"sip:{i}@{a[i]};node" for i in a}

    # (a) 7 -> 22, the join query -------------------------------------
    ia, qa = first(msgs, lambda m: m.is_request and m.src == a[7] and m.dst == a[22],
                   "(a) node 7's REGISTER to node 22")
    label = "(a) 7->22"
    check(qa.start_line == f"REGISTER sip:{a[22]} SIP/2.0", f"{label}: start line {qa.start_line!r}")
    check_request_basics(qa, label, 70)
    check(len(qa.all("via")) == 1, f"{label}: {len(qa.all('via'))} Vias, expected 1")
    check(qa.all("via")[0].startswith(f"SIP/2.0/UDP {a[7]};"), f"{label}: Via {qa.get('via')!r}")
    check(re.fullmatch(rf"<{re.escape(uri[7])}>;tag=[\w.~+\-!%*'`]+", qa.get("from")),
          f"{label}: From {qa.get('from')!r}, expected <{uri[7]}>;tag=...")
    expect_header(qa, "to", f"<{uri[7]}>", label)
    check(not qa.all("contact"), f"{label}: a query must carry no Contact, got {qa.all('contact')}")
    check(qa.get("expires") is None, f"{label}: Expires {qa.get('expires')!r} on a query")

    # (b) 22 -> 1, proxied --------------------------------------------
    ib, qb = first(msgs, lambda m: m.is_request and m.src == a[22] and m.dst == a[1]
                   and m.get("call-id") == qa.get("call-id"),
                   "(b) node 22 proxying node 7's REGISTER to node 1 (same Call-ID)", after=ia)
    label = "(b) 22->1"
    check(qb.start_line == f"REGISTER sip:{a[1]} SIP/2.0", f"{label}: start line {qb.start_line!r}")
    check_request_basics(qb, label, 69)
    vias = qb.all("via")
    check(len(vias) == 2, f"{label}: {len(vias)} Vias, expected 2 (22's on top of 7's)")
    check(vias[0].startswith(f"SIP/2.0/UDP {a[22]};"), f"{label}: top Via {vias[0]!r} is not node 22's")
    check(via_key(vias[1]) == via_key(qa.get("via")),
          f"{label}: second Via {vias[1]!r} is not node 7's {qa.get('via')!r}")
    check(vias[0] != vias[1], f"{label}: the two Vias are the same")
    expect_header(qb, "from", qa.get("from"), label)
    expect_header(qb, "to", qa.get("to"), label)
    check(not qb.all("contact"), f"{label}: Contact {qb.all('contact')}")

    # (c) 1 -> 22 -> 7, the answer -------------------------------------
    want_contact = f'<{uri[10]}>;q=1;predecessor="<{uri[1]}>"'
    ic1, r1 = response_to(msgs, qb, a[1], a[22], "(c) node 1's 200 to node 22")
    label = "(c) 1->22"
    check(r1.status == 200 and r1.start_line.startswith("SIP/2.0 200 "), f"{label}: {r1.start_line!r}")
    check(same_vias(r1.all("via"), vias), f"{label}: Vias {r1.all('via')}, expected {vias}")
    check(r1.all("contact") == [want_contact], f"{label}: Contact {r1.all('contact')}, expected [{want_contact!r}]")
    expect_header(r1, "from", qa.get("from"), label)
    check(r1.uri_of("to") == uri[7] and ";tag=" in r1.get("to"), f"{label}: To {r1.get('to')!r}")
    expect_header(r1, "cseq", qa.get("cseq"), label)
    ic2, r2 = response_to(msgs, qa, a[22], a[7], "(c) node 22's 200 to node 7")
    label = "(c) 22->7"
    check(ic2 > ic1, f"{label}: sent before node 1 answered node 22")
    early = [m for m in msgs if not m.is_request and m.src == a[22] and m.dst == a[7]
             and m.get("call-id") == qa.get("call-id") and m.status < 200]
    check(not early, f"{label}: node 22 sent {[m.start_line for m in early]} for a query answered in "
                     f"milliseconds (a 100 Trying waits for dht::trying_delay)")
    check(r2.status == 200, f"{label}: {r2.start_line!r}")
    check(same_vias(r2.all("via"), [qa.get("via")]), f"{label}: Vias {r2.all('via')}, expected only node 7's")
    check(r2.all("contact") == [want_contact], f"{label}: Contact {r2.all('contact')}, expected [{want_contact!r}]")
    expect_header(r2, "from", qa.get("from"), label)
    check(r2.uri_of("to") == uri[7] and ";tag=" in r2.get("to"), f"{label}: To {r2.get('to')!r}")

    # (d) finger queries for 11 and 23 ---------------------------------
    after = ic2
    for key, owner, pred, asked in ((11, 15, 10, 10), (23, 1, 22, 15)):
        label = f"(d) query {key}"
        iq, q = first(msgs, lambda m: m.is_request and m.src == a[7]
                      and m.get("to") == f"<sip:{key}@sippeer.net>",
                      f"{label}: node 7's REGISTER with To: <sip:{key}@sippeer.net>", after=ic2)
        check(q.dst == a[asked], f"{label}: sent to {q.dst}, expected node {asked} ({a[asked]}), the nearest "
                                 f"node 7 knows before {key}")
        check(q.start_line == f"REGISTER sip:{a[asked]} SIP/2.0", f"{label}: start line {q.start_line!r}")
        check_request_basics(q, label, 70)
        check(re.fullmatch(rf"<{re.escape(uri[7])}>;tag=\S+", q.get("from")), f"{label}: From {q.get('from')!r}")
        check(not q.all("contact"), f"{label}: Contact {q.all('contact')}")
        ir, r = response_to(msgs, q, a[asked], a[7], f"{label}: the answer from node {asked}")
        want = f'<{uri[owner]}>;q=1;predecessor="<{uri[pred]}>"'
        check(r.status == 200 and r.all("contact") == [want],
              f"{label}: answer {r.start_line!r} Contact {r.all('contact')}, expected [{want!r}]")
        check(r.get("to").startswith(f"<sip:{key}@sippeer.net>;tag="), f"{label}: To {r.get('to')!r}")
        after = max(after, ir)

    # (e) the update 7 -> 10 and its successor list ----------------------
    label = "(e) update 7->10"
    iu, u = first(msgs, lambda m: m.is_request and m.src == a[7] and m.dst == a[10]
                  and m.get("to") == f"<{uri[10]}>", f"{label}: node 7's REGISTER To: <{uri[10]}>")
    check(iu > after, f"{label}: sent before the finger queries were answered")
    check_request_basics(u, label, 70)
    want = f'<{uri[7]}>;q=1;predecessor="<{uri[1]}>"'
    check(u.all("contact") == [want], f"{label}: Contact {u.all('contact')}, expected [{want!r}]")
    check(u.get("expires") != "0", f"{label}: Expires: 0 would make it an unregister")
    ir, r = response_to(msgs, u, a[10], a[7], f"{label}: its 200")
    label = "(e) 200 10->7"
    contacts = r.all("contact")
    want_nodes = [10, 15, 22, 1]
    got_uris = [sipcap.bracketed(c) for c in contacts]
    check(got_uris == [uri[i] for i in want_nodes],
          f"{label}: Contacts {got_uris}, expected {[uri[i] for i in want_nodes]}")
    qs = []
    for i, c in enumerate(contacts):
        params = sipcap.header_params(c)
        names = [p[0] for p in params]
        check(names[0] == "q", f"{label}: Contact {c!r}: q is not the first parameter")
        qv = dict(params)["q"]
        check(Q_RE.match(qv), f"{label}: Contact {c!r}: q={qv!r} is not a q-value")
        qs.append(float(qv))
        expect_q = round(1 - i / len(contacts), 3)
        check(abs(float(qv) - expect_q) < 1e-9, f"{label}: Contact {i} q={qv}, expected 1 - {i}/{len(contacts)}")
        if i == 0:
            check(dict(params).get("predecessor") == f'"<{uri[7]}>"',
                  f"{label}: first Contact {c!r}: predecessor should be \"<{uri[7]}>\"")
        else:
            check("predecessor" not in names, f"{label}: Contact {c!r} carries a predecessor")
    check(all(x > y for x, y in zip(qs, qs[1:])), f"{label}: q-values {qs} are not strictly decreasing")
    check(qs[0] == 1.0, f"{label}: first q {qs[0]}")
    check(r.get("p2p-hops") == "1", f"{label}: P2P-Hops {r.get('p2p-hops')!r}")

    # Every message of the join is well-formed overlay SIP.
    for m in msgs:
        if a[7] not in (m.src, m.dst):
            continue
        for h in ("via", "from", "to", "call-id", "cseq", "content-length"):
            check(m.get(h) is not None, f"{m.summary()}: no {h}")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
