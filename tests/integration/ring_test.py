#!/usr/bin/env python3
"""Ring of 8 real daemons on 127.0.0.1 (160-bit ids from SHA-1 of ip:port).

1. Join: one node starts a ring (-N), seven join through it one after the
   other (--bootstrap). Within 3 stabilization intervals of the last join
   (+ 2 s slack for process start-up and polling) every node's predecessor,
   successor list (min(16, N-1) long) and all 160 fingers equal the values
   computed from the set of ids.
2. Crash: kill -9 two nodes. The survivors repair (same checks) within
   3 intervals + the overlay request timeout (+ the same slack): a dead peer
   is noticed when a request to it times out.
3. Graceful leave: SIGTERM a third node. It exits 0 promptly, and its two
   neighbours repair within 1 interval (they learn it from its unregister,
   report 3.9/3.10, and need no timeout), then the whole ring as in 2.

Records: there is no phone registrar in this build, so the test stores
R records with the overlay's own Store REGISTER (report 3.14: From = To =
the AOR, Contact = the binding, plus P2P-Record-Version), sent by hand to
the nodes in turn. After each phase the `stored` counts of every node's
/status must match the ring: exactly as many primaries as keys it is
responsible for, and at least as many records in all as it must hold
(its own plus a replica of each record of its 3 predecessors:
overlay.replicas = 3); and /lookup of every AOR through some node answers
200 with its binding.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import signal
import time

import ringlib
from ringlib import check, log

N = 8
STABILIZE_MS = 300
REQUEST_TIMEOUT_MS = 600
SLACK_S = 2.0
RECORDS = 24
REPLICAS = 3


def aor(i):
    return f"sip:user{i}@example.com"


def binding(i):
    return f"<sip:user{i}@192.0.2.{i + 1}:5060>"


def store_records(nodes):
    with ringlib.SipClient() as c:
        for i in range(RECORDS):
            node = nodes[i % len(nodes)]
            answer = c.store(node, aor(i), [binding(i)])
            check(ringlib.status_code(answer) == 200,
                  f"storing {aor(i)} through {node.name}: {answer.splitlines()[0]!r}")


def stored_totals(nodes):
    primary = replicas = 0
    for n in nodes:
        st = n.status()["stored"]
        primary += st["primary"]
        replicas += st["replicas"]
    return primary, replicas


def expected_holdings(statuses):
    """Per node: (records it must own, records it must hold at least: its
    own plus those of the nodes whose replica set it is in)."""
    ids = {name: ringlib.id_of(st["node"]) for name, st in statuses.items()}
    model = ringlib.RingModel(list(ids.values()), 160)
    own = {i: 0 for i in ids.values()}
    hold = {i: 0 for i in ids.values()}
    for r in range(RECORDS):
        owner = model.successor(ringlib.key_of(aor(r)))
        own[owner] += 1
        holders = {owner} | set(model.successor_list(owner)[:REPLICAS])
        for h in holders:
            hold[h] += 1
    return {name: (own[ids[name]], hold[ids[name]]) for name in statuses}


def records_diff(nodes):
    statuses = {n.name: n.status() for n in nodes}
    want = expected_holdings(statuses)
    out = []
    for name, st in statuses.items():
        p, r = st["stored"]["primary"], st["stored"]["replicas"]
        own, hold = want[name]
        if p != own or p + r < hold:
            out.append(f"{name}: {p} primaries + {r} replicas, expected {own} primaries and "
                       f">= {hold} records in all ({hold - own} replicas of its {REPLICAS} predecessors)")
    return out


def check_records(nodes, bound, t0, phase):
    """Within `bound` seconds of t0, every node owns exactly the records
    whose keys it is responsible for and holds at least the replicas it
    must (overlay.replicas = 3 successors of each owner); every AOR is
    found by /lookup."""
    diff = ["never checked"]
    deadline = t0 + bound
    while True:
        try:
            diff = records_diff(nodes)
        except Exception as e:  # noqa: BLE001
            diff = [f"/status failed: {e!r}"]
        if not diff or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if diff:
        p, r = stored_totals(nodes)
        raise ringlib.TestFailure(f"{phase}: records misplaced {bound:.1f} s after the event "
                                  f"({p} primaries, {r} replicas in all):\n  " + "\n  ".join(diff))
    for i in range(RECORDS):
        node = nodes[(i + 1) % len(nodes)]
        code, body = ringlib.http_get(node.listen, node.admin_port, f"/lookup?aor={aor(i)}", timeout=5)
        check(code == 200 and isinstance(body, dict) and body.get("bindings") == [binding(i)],
              f"{phase}: /lookup?aor={aor(i)} on {node.name}: {code} {body}")
    p, r = stored_totals(nodes)
    log(f"{phase}: every node holds its records ({p} primaries, {r} replicas), every AOR found by /lookup "
        f"({time.monotonic() - t0:.2f} s after the event)")


def converge(nodes, bound, what, t0):
    """Seconds from t0 until predecessors and successor lists are right, and
    until everything (fingers too) is; both within `bound` of t0."""
    neighbours = ringlib.wait_consistent(nodes, bound, what=what + " (predecessors, successor lists)",
                                         parts=("predecessor", "successors"), start=t0)
    full = ringlib.wait_consistent(nodes, bound, what=what, start=t0)
    return neighbours, full


def body(args):
    interval = STABILIZE_MS / 1000
    config = {"overlay": {"request_timeout_ms": REQUEST_TIMEOUT_MS}}
    with ringlib.Cluster(args.sippeer, "ring", keep=args.keep) as cl:
        first = cl.add("n0", new_ring=True, stabilize_ms=STABILIZE_MS, config=config)
        first.wait_joined()
        nodes = [first]
        for i in range(1, N):
            n = cl.add(f"n{i}", bootstrap=[first], stabilize_ms=STABILIZE_MS, config=config)
            n.wait_joined()
            nodes.append(n)
        for n in nodes:
            st = n.status()
            check(st["discovery"] in ("bootstrap", "none"), f"{n.name}: discovery {st['discovery']!r}")
            check(len(st["node"]["id"]) == 40, f"{n.name}: id {st['node']['id']!r} is not 40 hex digits")
        joined_at = time.monotonic()
        log(f"all {N} nodes joined")

        # 1. Join ------------------------------------------------------
        bound = 3 * interval + SLACK_S
        nb, took = converge(nodes, bound, f"consistent ring of {N}", joined_at)
        log(f"ring of {N}: neighbours right {nb:.2f} s, fingers too {took:.2f} s "
            f"({took / interval:.1f} intervals) after the last join "
            f"(bound {bound:.1f} s = 3 intervals + {SLACK_S} s)")

        for n in nodes:
            st = n.status()
            check(st["stored"] == {"primary": 0, "replicas": 0},
                  f"{n.name}: stored {st['stored']} but nothing was registered")
            check(len(st["successors"]) == min(16, N - 1),
                  f"{n.name}: {len(st['successors'])} successors")
        t_store = time.monotonic()
        store_records(nodes)
        check_records(nodes, 3 * interval + SLACK_S, t_store, f"{RECORDS} records stored")

        # 2. Crash -----------------------------------------------------
        # The victims are the 1st and 4th successors of the node X that
        # owns the most records: when X notices its successor is gone, its
        # replica set becomes successors 2-4, so it must re-replicate to
        # the 4th, find it dead too, and re-replicate to the 5th.
        ids = {n.name: ringlib.id_of(n.status()["node"]) for n in nodes}
        model = ringlib.RingModel(list(ids.values()), 160)
        owned = {i: 0 for i in ids.values()}
        for i in range(RECORDS):
            owned[model.successor(ringlib.key_of(aor(i)))] += 1
        x = max(owned, key=lambda i: owned[i])
        succ = model.successor_list(x)
        by_id = {ids[n.name]: n for n in nodes}
        victims = [by_id[succ[0]], by_id[succ[3]]]
        log(f"{by_id[x].name} owns {owned[x]} records; killing its 1st and 4th successors")
        for v in victims:
            v.kill9()
        crashed_at = time.monotonic()
        survivors = [n for n in nodes if n not in victims]
        log(f"killed -9 {', '.join(v.name for v in victims)}")
        bound = 3 * interval + REQUEST_TIMEOUT_MS / 1000 + SLACK_S
        nb, took = converge(survivors, bound, f"repaired ring of {len(survivors)} after the crash", crashed_at)
        log(f"ring of {len(survivors)}: neighbours right {nb:.2f} s, fingers too {took:.2f} s after the crash "
            f"(bound {bound:.1f} s = 3 intervals + request timeout + {SLACK_S} s)")
        deferred = []  # record failures: reported at the end, after the leave phase has run too
        try:
            check_records(survivors, bound, crashed_at, "after the crash")
        except ringlib.TestFailure as e:
            log(f"FAILED (deferred): {e}")
            deferred.append(str(e))

        # 3. Graceful leave -------------------------------------------
        leaver = survivors[3]
        ids = {n.name: ringlib.id_of(n.status()["node"]) for n in survivors}
        remaining = [n for n in survivors if n is not leaver]
        model = ringlib.RingModel([ids[n.name] for n in remaining], 160)
        succ_id = model.successor((ids[leaver.name] + 1) % (1 << 160))
        pred_id = model.predecessor(succ_id)
        succ = next(n for n in remaining if ids[n.name] == succ_id)
        pred = next(n for n in remaining if ids[n.name] == pred_id)
        t0 = time.monotonic()
        leaver.signal(signal.SIGTERM)
        try:
            code = leaver.proc.wait(timeout=3 * REQUEST_TIMEOUT_MS / 1000 + 2)
        except Exception:
            raise ringlib.TestFailure(f"{leaver.name} did not exit within "
                                      f"{3 * REQUEST_TIMEOUT_MS / 1000 + 2:.1f} s of SIGTERM")
        exited = time.monotonic() - t0
        check(code == 0, f"{leaver.name} exited with {code} after SIGTERM, expected 0")
        log(f"{leaver.name} left gracefully and exited 0 {exited * 1000:.0f} ms after SIGTERM")
        check("left the ring" in leaver.log(), f"{leaver.name} did not log its leave")

        def neighbours_repaired():
            s, p = succ.status(), pred.status()
            ok_s = s["predecessor"] is not None and ringlib.id_of(s["predecessor"]) == pred_id
            ok_p = p["successors"] and ringlib.id_of(p["successors"][0]) == succ_id
            return ok_s and ok_p
        _, took = ringlib.wait_until(neighbours_repaired, interval,
                                     what=f"{pred.name} and {succ.name} to close the gap left by {leaver.name} "
                                          f"within 1 interval")
        log(f"neighbours {pred.name}/{succ.name} repaired {(time.monotonic() - t0) * 1000:.0f} ms after SIGTERM")
        bound = 3 * interval + SLACK_S
        nb, took = converge(remaining, bound, f"ring of {len(remaining)} after the leave", t0)
        log(f"ring of {len(remaining)}: neighbours right {nb:.2f} s, fingers too {took:.2f} s after the leave "
            f"(bound {bound:.1f} s)")
        try:
            check_records(remaining, bound, t0, "after the leave")
        except ringlib.TestFailure as e:
            deferred.append(str(e))
        if deferred:
            raise ringlib.TestFailure("\n".join(deferred))


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
