#!/usr/bin/env python3
"""The SIPPEER report's example ring (3.3.2, Fig. 5 and 6) over real SIP.

Nodes 1, 10, 15 and 22 on a 5-bit ring (node 1 starts it with -N, the
others join through node 1). Once the ring is consistent, node 7 joins
through node 22. Then, as in Fig. 6 and Appendix A:
  node 7:  fingers {10, 10, 15, 15, 1}, predecessor 1,
           successor list {10, 15, 22, 1}
  node 10: predecessor 7
and the whole ring of five is consistent.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import ringlib
from ringlib import check, log

BITS = 5
STABILIZE_MS = 300


def ids_of(nodes_json):
    return [ringlib.id_of(n) for n in nodes_json]


def body(args):
    config = {"overlay": {"request_timeout_ms": 600}}
    with ringlib.Cluster(args.sippeer, "seed", keep=args.keep) as cl:
        common = dict(id_bits=BITS, stabilize_ms=STABILIZE_MS, config=config)
        n1 = cl.add("node1", new_ring=True, node_id=1, **common)
        n1.wait_joined()
        ring = [n1]
        for i in (10, 15, 22):
            n = cl.add(f"node{i}", node_id=i, bootstrap=[n1], **common)
            n.wait_joined()
            ring.append(n)
        took = ringlib.wait_consistent(ring, 10, bits=BITS, what="consistent ring {1, 10, 15, 22}")
        log(f"ring {{1, 10, 15, 22}} consistent after {took:.2f} s")
        for n in ring:
            st = n.status()
            check(st["node"]["uri"] == f"sip:{n.name[4:]}@{n.address};node",
                  f"{n.name}: uri {st['node']['uri']!r}")
            check(st["node"]["id"] == format(int(n.name[4:]), "02x"),
                  f"{n.name}: JSON id {st['node']['id']!r}, expected 2 hex digits")

        n22 = ring[3]
        n7 = cl.add("node7", node_id=7, bootstrap=[n22], **common)
        _, took = n7.wait_joined()
        log(f"node 7 joined through node 22 in {took:.2f} s")

        st = n7.status()
        check(st["discovery"] == "bootstrap", f"node 7: discovery {st['discovery']!r}")
        fingers = [ringlib.id_of(f["node"]) for f in st["fingers"]]
        starts = [int(f["start"], 16) for f in st["fingers"]]
        check(starts == [8, 9, 11, 15, 23], f"node 7: finger starts {starts}, expected [8, 9, 11, 15, 23]")
        check(fingers == [10, 10, 15, 15, 1], f"node 7: fingers {fingers}, expected [10, 10, 15, 15, 1]")
        check(st["predecessor"] is not None and ringlib.id_of(st["predecessor"]) == 1,
              f"node 7: predecessor {st['predecessor']}, expected 1")
        check(st["predecessor"]["uri"] == f"sip:1@{n1.address};node",
              f"node 7: predecessor uri {st['predecessor']['uri']!r}")

        # The successor list arrives with the answer to node 7's first
        # update (3.3.4), right after the join.
        def succ_list():
            s = ids_of(n7.status()["successors"])
            return s if s[:4] == [10, 15, 22, 1] else None
        try:
            ringlib.wait_until(succ_list, 3 * STABILIZE_MS / 1000 + 1, what="node 7's successor list")
        except ringlib.TestFailure:
            raise ringlib.TestFailure(f"node 7: successors {ids_of(n7.status()['successors'])}, "
                                      f"expected to start with [10, 15, 22, 1]")

        def pred10():
            p = ring[1].status()["predecessor"]
            return p is not None and ringlib.id_of(p) == 7
        try:
            ringlib.wait_until(pred10, 3 * STABILIZE_MS / 1000 + 1, what="node 10's predecessor to be 7")
        except ringlib.TestFailure:
            raise ringlib.TestFailure(f"node 10: predecessor {ring[1].status()['predecessor']}, expected 7")

        took = ringlib.wait_consistent(ring + [n7], 3 * STABILIZE_MS / 1000 + 2, bits=BITS,
                                       what="consistent ring {1, 7, 10, 15, 22}")
        log(f"ring {{1, 7, 10, 15, 22}} consistent {took:.2f} s later")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
