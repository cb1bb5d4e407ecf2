#!/usr/bin/env python3
"""A network split and its healing (issue 16), between six hosts in
network namespaces of the test's own (netlab.py; root only).

Six sippeer nodes, one per host (10.77.0.1-6, port 5060 each, like six
machines), on two bridged segments joined by one link: hosts 1-3 on one,
4-6 on the other. Each host also has a phone (a UDP socket in its
namespace) registered through its own node.

  split   the link is set down. Each half must repair into a ring of its
          own (predecessors and successor lists exact for its three nodes)
          and serve its users: every phone's MESSAGE to the other phones
          of its half is delivered (within 3 s of the half being a ring:
          right after the split a first try may still meet a stale
          finger, 482 or 408; the log counts those). During the split, phone 4 registers
          again from a new port (a newer version of its binding) and a new
          user, erin, registers in the second half.
  heal    the link is set up again. Within 3 stabilization intervals
          (plus the admin API's polling) one ring of six forms again, and
          every binding is found from every node with its newest contact
          (phone 4's new one, erin's); MESSAGEs cross the former split.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import threading
import time

import netlab
import ringlib
import sipplib
from ringlib import check, in_netns, log
from sipplib import status_line

DOMAIN = sipplib.DOMAIN
STABILIZE_MS = 1000
SIDES = [0, 0, 0, 1, 1, 1]


class Phone:
    """A RawPhone inside a host's namespace that answers 200 to every
    MESSAGE it gets, on a thread of its own."""

    def __init__(self, lab, i, user):
        self.user, self.host = user, i
        self.raw = in_netns(lab.hosts[i], lambda: sipplib.RawPhone(user, host=lab.ips[i]))
        self.got, self.stop = [], False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.answer, daemon=True)
        self.thread.start()

    def answer(self):
        while not self.stop:
            with self.lock:
                m = self.raw.recv(0.05, lambda t: t.startswith("MESSAGE "))
            if m is not None:
                self.got.append(m)
                self.raw.reply_to(m, None, 200, "OK")
            time.sleep(0.01)

    def transact(self, node, text):
        with self.lock:
            return self.raw.transact(node, text, timeout=4.0)

    def register(self, node):
        aor = f"sip:{self.user}@{DOMAIN}"
        text = self.raw.request("REGISTER", f"sip:{DOMAIN}", to=f"<{aor}>", frm=f"<{aor}>", extra="Expires: 600")
        _, final = self.transact(node, text)
        check(final and status_line(final) == "SIP/2.0 200 OK",
              f"{self.user} registering through {node.name}: {final and status_line(final)}")

    def message(self, node, to_user):
        ruri = f"sip:{to_user}@{DOMAIN}"
        text = self.raw.request("MESSAGE", ruri, to=f"<{ruri}>", frm=f"<sip:{self.user}@{DOMAIN}>",
                                body=f"from {self.user}", contact=False)
        _, final = self.transact(node, text)
        return final and status_line(final)

    def close(self):
        self.stop = True
        self.thread.join()
        self.raw.close()


def messages_within(phones, nodes, group, what, settle=3.0):
    """Every phone of `group` sends a MESSAGE to every other one; each must
    be answered 200 (the callee's phone answers) within `settle` seconds:
    right after a split the failure detection of each side still has
    stale fingers to drop (a first try may meet 482 or 408)."""
    pairs = [(a, b) for a in group for b in group if a != b]
    first_fail, deadline = None, time.monotonic() + settle
    while True:
        bad = []
        for a, b in pairs:
            got = phones[a].message(nodes[a], phones[b].user)
            if got != "SIP/2.0 200 OK":
                bad.append((a, b, got))
        if first_fail is None:
            first_fail = len(bad)
        if not bad or time.monotonic() >= deadline:
            break
        pairs = [(a, b) for a, b, _ in bad]
        time.sleep(0.5)
    check(not bad, f"{what}: {len(bad)} MESSAGEs still not delivered after {settle:.0f} s: "
                   f"{[f'{phones[a].user}->{phones[b].user}: {g}' for a, b, g in bad]}")
    n = len(group) * (len(group) - 1)
    log(f"{what}: {n} MESSAGEs delivered" + (f" ({first_fail} only on a second try)" if first_fail else ""))


def bindings_everywhere(nodes, want, what):
    bad = []
    for aor, contact in want.items():
        for n in nodes:
            code, j = sipplib.lookup(n, aor) if not n.netns else ringlib.http_get(
                n.listen, n.admin_port, f"/lookup?aor={aor}", netns=n.netns)
            found = j.get("bindings", []) if isinstance(j, dict) else []
            if code != 200 or not any(contact in b for b in found):
                bad.append(f"{aor} at {n.name}: {code} {found}")
    check(not bad, f"{what}: {len(bad)} lookups without the newest binding: {bad[:6]}")


def body(args):
    with netlab.Lab(6, segments=SIDES) as lab, ringlib.Cluster(args.sippeer, "partition") as cl:
        nodes = lab.start_ring(cl, stabilize_ms=STABILIZE_MS, config={"overlay": {"request_timeout_ms": 1000}})
        log("a ring of six hosts, 10.77.0.1-6, consistent")

        phones = [Phone(lab, i, f"user{i + 1}") for i in range(6)]
        try:
            for i, p in enumerate(phones):
                p.register(nodes[i])
            half = [[i for i in range(6) if SIDES[i] == s] for s in (0, 1)]
            messages_within(phones, nodes, range(6), "before the split")

            # ---- split
            lab.cut()
            t0 = time.monotonic()
            for s in (0, 1):
                took = ringlib.wait_consistent([nodes[i] for i in half[s]], 30, what=f"a ring of half {s + 1}",
                                               parts=("predecessor", "successors"), interval=0.2, start=t0)
                log(f"split: half {s + 1} ({', '.join(nodes[i].name for i in half[s])}) is a ring of three "
                    f"{took:.1f} s after the cut")
            for s in (0, 1):
                messages_within(phones, nodes, half[s], f"split, half {s + 1}")
            # A newer binding for user4 and a new user, on the second side.
            phones[3].close()
            phones[3] = Phone(lab, 3, "user4")
            phones[3].register(nodes[4])
            erin = Phone(lab, 5, "erin")
            phones.append(erin)
            erin.register(nodes[5])
            log("split: user4 registered again from a new port, erin registered, both in half 2")

            # ---- heal
            lab.heal()
            t0 = time.monotonic()
            bound = 3 * STABILIZE_MS / 1000
            took = ringlib.wait_consistent(nodes, bound + 2, what="one ring of six after the heal",
                                           parts=("predecessor", "successors"), interval=0.2, start=t0)
            log(f"heal: one ring of six {took:.1f} s after the link came back "
                f"(3 stabilization intervals = {bound:.0f} s, + 2 s for polling six admin APIs)")
            time.sleep(1)  # records move to their owners after the ring is whole
            want = {f"sip:{p.user}@{DOMAIN}": p.raw.address for p in phones}
            bindings_everywhere(nodes, want, "after the heal")
            log(f"heal: all {len(want)} bindings found from all six nodes with their newest contacts")
            messages_within(phones[:6], nodes, range(6), "after the heal")
            messages_within([phones[0], erin], [nodes[0], nodes[5]], range(2), "after the heal, to erin")
        finally:
            for p in phones:
                p.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
