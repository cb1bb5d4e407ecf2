#!/usr/bin/env python3
"""Prints one real example of every overlay message, captured on the wire
from running daemons (root only: AF_PACKET on lo, and a network namespace
for multicast discovery). docs/PROTOCOL.md quotes its output.

    sudo python3 tests/integration/capture_examples.py --sippeer build/sippeer > examples.md

Scenarios, all on the report's 5-bit ring {1, 10, 15, 22}:
  - node 7 joins through node 22: query, proxied query, 200, finger
    queries, update and the 200 with the successor list;
  - a record is stored through a node that does not own it: Store (user
    REGISTER), proxied Store, Transfer to the replicas, 200 with the record;
    the first Store is sent by this script, as a registrar would (an
    overlay Store, so the example does not depend on the phone registrar);
  - two records stored at one owner within the batch window: one batched
    Transfer (application/p2p-records body) to each replica;
  - a MESSAGE and a SUBSCRIBE to users with no binding, a gateway's
    telephone prefix, and a domain ring's domain registered here as in
    its next level: the mailbox, subscriptions, tel: and domain records'
    Transfers to the replicas (issue 17);
  - `sippeer ctl regs --ring`: a List to the owner and its page of records;
  - /lookup of an unknown AOR: user query answered 404;
  - a query sent with Max-Forwards: 1: 483 from the next hop;
  - a node started with --node-id 10 while 10 is in the ring: 600;
  - the owner of the record leaves (SIGTERM): unregister to both
    neighbours and Transfer with Reason: leaving;
and on the ring {1, 5, 9, 13, 17, 21}, with 5, 9, 13 and 17 killed, a
query that finds no live next hop: 408. Multicast discovery (REGISTER
sip:224.0.1.75 and the 302) runs in a network namespace.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import os
import subprocess
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringlib  # noqa: E402
import sipcap  # noqa: E402
import sipplib  # noqa: E402

BITS = 5
examples = []  # (title, [SipMessage], note)


def show(title, *msgs, note=None):
    examples.append((title, [m for m in msgs if m is not None], note))


def find(cap, pred, what, after=None, quiet=False):
    for m in cap.messages():
        if after is not None and m.time < after.time:
            continue
        if pred(m):
            return m
    if not quiet:
        print(f"warning: not captured: {what}", file=sys.stderr)
    return None


def answer_to(cap, req, src=None, status=None):
    if req is None:
        return None
    return find(cap, lambda m: not m.is_request and m.get("call-id") == req.get("call-id")
                and (src is None or m.src == src) and (status is None or m.status == status)
                and m.status >= 200, f"answer to {req.summary()}")


def seed_scenarios(args):
    cfg = {"overlay": {"request_timeout_ms": 600}, "proxy": {"p2p_domains": ["example.com"]}}
    with ringlib.Cluster(args.sippeer, "examples", keep=args.keep) as cl:
        common = dict(id_bits=BITS, stabilize_ms=1000, config=cfg)
        n = {1: cl.add("node1", new_ring=True, node_id=1, **common)}
        n[1].wait_joined()
        for i in (10, 15, 22):
            n[i] = cl.add(f"node{i}", node_id=i, bootstrap=[n[1]], **common)
            n[i].wait_joined()
        ringlib.wait_consistent(list(n.values()), 15, bits=BITS)
        client = ringlib.SipClient()
        p7, pdup = ringlib.free_port(), ringlib.free_port()
        ports = {x.sip_port for x in n.values()} | {p7, pdup, int(client.address.rsplit(":", 1)[1])}
        cap = sipcap.Capture(ports).start()
        a = {i: x.address for i, x in n.items()}
        a[7] = f"127.0.0.1:{p7}"

        # Join of node 7 through node 22.
        n[7] = cl.add("node7", node_id=7, bootstrap=[n[22]], sip_port=p7, **common)
        n[7].wait_joined()
        time.sleep(0.3)
        q = find(cap, lambda m: m.is_request and m.src == a[7] and m.dst == a[22], "join query")
        show("Query (join): node 7 asks node 22 for its own id", q)
        fwd = find(cap, lambda m: m.is_request and q and m.get("call-id") == q.get("call-id") and m.src == a[22],
                   "proxied join query")
        show("Query proxied: node 22 forwards it to node 1 (closest preceding finger)", fwd)
        show("200 for a query: node 1 answers (7 is in (1, 10]: 10 is 7's successor, 1 its predecessor), "
             "node 22 relays the answer", answer_to(cap, fwd, a[1]), answer_to(cap, q, a[22]))
        fq = find(cap, lambda m: m.is_request and m.src == a[7] and m.get("to") == "<sip:11@sippeer.net>",
                  "finger query 11")
        show("Query (finger): node 7 looks up key 11 = 7 + 2^2", fq, answer_to(cap, fq, a[10]))
        up = find(cap, lambda m: m.is_request and m.src == a[7] and m.dst == a[10]
                  and m.get("to") == f"<sip:10@{a[10]};node>", "update 7->10")
        show("Update and 200 with the successor list: node 7 stabilizes with its successor 10",
             up, answer_to(cap, up, a[10]))
        ringlib.wait_consistent(list(n.values()), 15, bits=BITS)

        # Store through a node that does not own the key.
        aor = "sip:alice@example.com"
        key = ringlib.key_of(aor, BITS)
        model = ringlib.RingModel(list(n), BITS)
        owner = model.successor(key)
        # A node whose route to the key takes a hop: not the owner, not its predecessor.
        via = next(i for i in (1, 7, 10, 15, 22) if i not in (owner, model.predecessor(owner)))
        t_store = time.monotonic()
        answer = client.store(n[via], aor, ["<sip:alice@192.0.2.7:5060>"])
        print(f"# {aor}: key {key}, owner node {owner}, stored through node {via}: "
              f"{answer.splitlines()[0]}", file=sys.stderr)
        time.sleep(0.3)
        st = find(cap, lambda m: m.is_request and m.src == client.address and m.get("to") == f"<{aor}>",
                  "store from the client")
        relayed = find(cap, lambda m: m.is_request and st and m.get("call-id") == st.get("call-id")
                       and m.src == a[via], "relayed store")
        show(f"Store (user REGISTER): a registrar at node {via} stores {aor} (key {key}) "
             f"[sent by capture_examples.py]", st)
        show(f"Store proxied: node {via} forwards it towards the owner, node {owner} "
             f"(P2P-Owner: 1 = the sender believes the receiver owns the key)", relayed)
        tr = find(cap, lambda m: m.is_request and m.src == a[owner] and m.get("to") == f"<{aor}>"
                  and m.get("from", ) and m.get("from").startswith(f"<sip:{owner}@"), "replica transfer")
        show(f"Transfer (replica): node {owner} copies the record to its successors", tr,
             answer_to(cap, tr))
        show(f"200 for a Store: the record as stored, relayed back by node {via}",
             answer_to(cap, relayed, a[owner]) if relayed else None, answer_to(cap, st, a[via]))
        del t_store

        # Two records stored at one owner within overlay.replica_batch_ms
        # (20 ms) reach each replica in one batched Transfer (issue 15).
        pair = [u for u in (f"sip:user{i}@example.com" for i in range(200))
                if model.successor(ringlib.key_of(u, BITS)) == owner][:2]
        for u in pair:
            client.store(n[owner], u, [f"<sip:{u[4:u.index('@')]}@192.0.2.8:5060>"])
        time.sleep(0.3)
        batch = find(cap, lambda m: m.is_request and m.src == a[owner]
                     and (m.get("content-type") or "").startswith("application/p2p-records"), "batched transfer")
        show(f"Transfer (a batch): node {owner} replicates {' and '.join(pair)}, stored within "
             f"20 ms of each other, in one message to each successor", batch, answer_to(cap, batch))

        # A MESSAGE to a user with no binding is kept in a mailbox record,
        # which the owner replicates like any other (issue 17).
        away = "sip:carol@example.com"
        aowner = model.successor(ringlib.key_of(away, BITS))
        phone = sipplib.RawPhone("dave")
        _, kept = phone.transact(n[aowner], phone.request("MESSAGE", away, to=f"<{away}>",
                                                          body="Lunch at noon?"))
        print(f"# MESSAGE to {away} (offline) at node {aowner}: {kept.splitlines()[0] if kept else None}",
              file=sys.stderr)
        # A gateway's telephone prefix is a record under the key of
        # "tel:+1212" (report 6.2.1), stored and replicated like bindings.
        gw = sipplib.RawPhone("gw")
        tel_owner = model.successor(ringlib.key_of("tel:+1212", BITS))
        _, reg = gw.transact(n[via if via != tel_owner else aowner], gw.request(
            "REGISTER", "sip:example.com", to="<tel:+1-212>", frm="<sip:gw@example.com>",
            contact='<sip:192.0.2.20:5060;lr>;cost="USD.05/60s"', extra="Expires: 3600"))
        print(f"# REGISTER tel:+1-212 (owner node {tel_owner}): {reg.splitlines()[0] if reg else None}",
              file=sys.stderr)
        gw.close()
        time.sleep(0.3)
        tel = find(cap, lambda m: m.is_request and m.src == a[tel_owner] and m.get("to") == "<tel:+1212>",
                   "telephone prefix transfer")
        show(f"Transfer (a telephone prefix): node {tel_owner} stores gateway 192.0.2.20's registration of "
             f"tel:+1-212 under the key of tel:+1212 and replicates it", tel, answer_to(cap, tel))

        # A node of a domain ring registers its domain in this ring, its
        # next level (report 6.4.1): a record under the key of sip:<domain>.
        rep_port = ringlib.free_port()
        rep = cl.add("rep", new_ring=True, sip_port=rep_port, config={
            "overlay": {"next_level": [n[via].address]}, "proxy": {"p2p_domains": ["private.test"]}})
        rep.wait_joined()
        dom_owner = model.successor(ringlib.key_of("sip:private.test", BITS))
        ringlib.wait_until(lambda: find(cap, lambda m: m.is_request and m.src == a[dom_owner] and
                                        m.get("to") == "<sip:private.test>", "domain transfer", quiet=True),
                           5, what="the domain registration's replica")
        dom = find(cap, lambda m: m.is_request and m.src == a[dom_owner] and m.get("to") == "<sip:private.test>",
                   "domain transfer")
        show(f"Transfer (a domain of a domain ring): a node of the private.test ring registers sip:private.test "
             f"in this ring, its next level, through node {via}; node {dom_owner} stores it and replicates it",
             dom, answer_to(cap, dom))
        rep.stop()

        # ... and a SUBSCRIBE for a user with no binding is parked in a
        # subscriptions record (report 6.1).
        watched = next(u for u in (f"sip:erin{i}@example.com" for i in range(200))
                       if model.successor(ringlib.key_of(u, BITS)) == aowner)
        _, parked = phone.transact(n[aowner], phone.request(
            "SUBSCRIBE", watched, to=f"<{watched}>", extra="Event: presence\nExpires: 600"))
        notify = phone.recv(3, lambda t: t.startswith("NOTIFY "))
        if notify:
            phone.reply_to(notify, None, 200, "OK")
        print(f"# SUBSCRIBE to {watched} (offline) at node {aowner}:\n{parked}\n# and the NOTIFY:\n{notify}",
              file=sys.stderr)
        phone.close()
        time.sleep(0.3)
        subs = find(cap, lambda m: m.is_request and m.src == a[aowner] and
                    (m.get("p2p-record-kind") or "") == "subscriptions", "subscriptions transfer")
        show(f"Transfer (parked subscriptions): node {aowner} parks a SUBSCRIBE for {watched}, who has no "
             f"binding, and replicates the user's subscriptions record", subs, answer_to(cap, subs))
        box = find(cap, lambda m: m.is_request and m.src == a[aowner] and
                   (m.get("p2p-record-kind") or "") == "mailbox", "mailbox transfer")
        show(f"Transfer (a mailbox): node {aowner} keeps a MESSAGE for {away}, who has no binding, and "
             f"replicates the user's mailbox record", box, answer_to(cap, box))

        # 404: an AOR nobody registered, looked up by a node that does not own it.
        nobody = "sip:nobody@example.com"
        nkey = ringlib.key_of(nobody, BITS)
        nowner = model.successor(nkey)
        asker = next(i for i in (1, 7, 10, 15, 22) if i != nowner)
        code, body = ringlib.http_get("127.0.0.1", n[asker].admin_port, f"/lookup?aor={nobody}", timeout=5)
        print(f"# /lookup?aor={nobody} on node {asker}: {code} {body}", file=sys.stderr)
        time.sleep(0.2)
        lq = find(cap, lambda m: m.is_request and m.get("to") == f"<{nobody}>", "user query")
        show(f"Query for a user and 404: node {asker} looks up {nobody} (key {nkey}, owner {nowner})",
             lq, answer_to(cap, lq))

        # 483: a query with one hop left that needs two.
        q483 = client.register(n[1], "<sip:20@sippeer.net>", "<sip:30@{me};node>", max_forwards=1)
        got = client.exchange(n[1], q483, wait=2, until_final=True)
        print(f"# query key 20 with Max-Forwards 1 via node 1: {[g.splitlines()[0] for g in got]}",
              file=sys.stderr)
        time.sleep(0.2)
        m0 = find(cap, lambda m: m.is_request and m.src == a[1] and m.get("max-forwards") == "0",
                  "query forwarded with Max-Forwards 0")
        show("483 Too Many Hops: node 1 forwards a query that arrived with Max-Forwards: 1; "
             "the next hop refuses it and node 1 relays the 483", m0, answer_to(cap, m0),
             find(cap, lambda m: not m.is_request and m.status == 483 and m.src == a[1], "483 relayed"))

        # 400: a ring key that is not a number.
        bad = client.register(n[1], "<sip:x@sippeer.net>", "<sip:30@{me};node>")
        client.exchange(n[1], bad, wait=1, until_final=True)
        time.sleep(0.2)
        bq = find(cap, lambda m: m.is_request and m.src == client.address and m.get("to") == "<sip:x@sippeer.net>",
                  "bad request")
        show("400 Bad Request: a query whose To names ring key \"x\", which is not an id", bq,
             answer_to(cap, bq, a[1]))

        # 600: a second node claims id 10.
        dup = cl.add("dup10", node_id=10, bootstrap=[n[1]], sip_port=pdup, **common)
        ringlib.wait_until(lambda: dup.status()["state"] == "duplicate", 5, what="duplicate state")
        time.sleep(0.2)
        dq = find(cap, lambda m: m.is_request and m.src == f"127.0.0.1:{pdup}", "duplicate's join")
        chain = [m for m in cap.messages() if dq and m.get("call-id") == dq.get("call-id")]
        show("600 Duplicate Node Identifier: a second node started with --node-id 10 joins through "
             "node 1; the query is routed to node 10 (via node 7, whose successor is 10), which "
             "refuses it; the 600 comes back the same way", *chain)
        dup.stop()

        # The whole ring's registrations (sippeer ctl regs --ring, issue 12):
        # a List to each node in turn, each answered with the records it owns.
        subprocess.run([args.sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{n[via].admin_port}", "regs",
                        "--ring"], capture_output=True, timeout=30)
        time.sleep(0.3)
        lq = find(cap, lambda m: m.is_request and m.src == a[via] and m.dst == a[owner]
                  and m.get("p2p-list") is not None, "list")
        show(f"List and its 200: `sippeer ctl regs --ring` at node {via} asks node {owner} for the records "
             f"it owns; they come in one page (no P2P-List in the answer: the last page)", lq,
             answer_to(cap, lq, a[owner]))

        # Graceful leave of the record's owner.
        t_leave = time.monotonic()
        leaver = n[owner]
        code = leaver.stop()
        print(f"# node {owner} left with exit code {code}", file=sys.stderr)
        time.sleep(0.3)
        after = [m for m in cap.messages() if m.time >= t_leave - 0.01]
        unregs = [m for m in after if m.is_request and m.src == a[owner] and m.get("expires") == "0"]
        show(f"Unregister: node {owner} leaves (SIGTERM) and tells its predecessor and successor",
             *[x for u in unregs for x in (u, answer_to(cap, u))])
        hand = [m for m in after if m.is_request and m.src == a[owner] and m.get("reason")]
        show(f"Transfer (hand-over on leave): node {owner} gives its records to its successor",
             *[x for h in hand for x in (h, answer_to(cap, h))])
        cap.stop()
        client.close()


def timeout_scenario(args):
    cfg = {"overlay": {"request_timeout_ms": 600}}
    with ringlib.Cluster(args.sippeer, "examples408", keep=args.keep) as cl:
        common = dict(id_bits=BITS, stabilize_ms=1000, config=cfg)
        ids = (1, 5, 9, 13, 17, 21)
        n = {1: cl.add("node1", new_ring=True, node_id=1, **common)}
        n[1].wait_joined()
        for i in ids[1:]:
            n[i] = cl.add(f"node{i}", node_id=i, bootstrap=[n[1]], **common)
            n[i].wait_joined()
        ringlib.wait_consistent(list(n.values()), 20, bits=BITS)
        client = ringlib.SipClient()
        cap = sipcap.Capture({x.sip_port for x in n.values()} |
                             {int(client.address.rsplit(":", 1)[1])}).start()
        for i in (5, 9, 13, 17):
            n[i].kill9()
        q = client.register(n[1], "<sip:20@sippeer.net>", "<sip:30@{me};node>")
        got = client.exchange(n[1], q, wait=5, until_final=True)
        print(f"# query key 20 via node 1 with 5, 9, 13, 17 dead: {[g.splitlines()[0] for g in got]}",
              file=sys.stderr)
        time.sleep(0.2)
        cap.stop()
        client.close()
        sent = find(cap, lambda m: m.is_request and m.dst == n[1].address, "query to node 1")
        tries = [m for m in cap.messages() if m.is_request and sent and m.src == n[1].address
                 and m.get("call-id") == sent.get("call-id")]
        answer = answer_to(cap, sent, n[1].address)
        show("408 Request Timeout: node 1 proxies a query for key 20 while nodes 5, 9, 13 and 17 are "
             f"dead; it tries {len(tries)} next hops ({', '.join(t.dst for t in tries)}) and gives up",
             sent, *tries[:1], answer,
             note=None if answer else "No answer reached the sender: node 1 gave up after "
                  f"{len(tries)} tries, but its 408 was never sent.")


def multicast_scenario(args):
    with ringlib.Netns("sippeer-ex") as ns, \
            ringlib.Cluster(args.sippeer, "examples-mc", keep=args.keep) as cl:
        cfg = {"discovery": {"multicast_timeout_ms": 300}}
        pa, pb = ringlib.free_port(), ringlib.free_port()
        cap = sipcap.RemoteCapture(ns.name, {pa, pb, 5060}, cl.dir).start()
        try:
            # Without -N: a node started with -N does not answer discovery
            # (see the integration test multicast_test.py).
            a = cl.add("A", multicast=True, netns=ns.name, sip_port=pa, config=cfg, id_bits=BITS, node_id=22)
            a.wait_joined(timeout=10)
            b = cl.add("B", multicast=True, netns=ns.name, sip_port=pb, config={"discovery": {"multicast_timeout_ms": 2000}},
                       id_bits=BITS, node_id=7)
            b.wait_joined(timeout=10)
            time.sleep(0.3)
        finally:
            cap.stop()
        probe = find(cap, lambda m: m.is_request and m.src == b.address and m.request_uri.startswith("sip:224.0.1.75"),
                     "multicast REGISTER")
        show("Discovery: node 7 multicasts REGISTER sip:224.0.1.75; node 22, a ring member, answers 302 "
             "with its unicast address", probe, answer_to(cap, probe, status=302))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sippeer", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-netns", action="store_true", help="skip multicast discovery")
    args = ap.parse_args()
    ringlib.require_root("capture_examples.py")
    seed_scenarios(args)
    timeout_scenario(args)
    if not args.no_netns:
        multicast_scenario(args)
    for title, msgs, note in examples:
        print(f"#### {title}\n")
        if not msgs:
            print("(not captured)\n")
        for m in msgs:
            print(f"{m.src} -> {m.dst}\n")
            print("```")
            print(m.text.replace("\r\n", "\n").rstrip("\n"))
            print("```\n")
        if note:
            print(f"*{note}*\n")


if __name__ == "__main__":
    main()
