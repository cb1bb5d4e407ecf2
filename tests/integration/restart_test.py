#!/usr/bin/env python3
"""Restart safety under load (issue 16): nothing acknowledged is lost.

  rolling   A ring of four; a phone thread registers new users (and
            refreshes old ones) through whichever nodes are up, four threads, about 60
            REGISTERs a second, the whole time. Each node in turn gets
            SIGTERM (graceful leave: its records go to its successor), must
            exit 0, and is started again with the same state dir; the ring
            must be consistent again before the next one goes. Afterwards
            every user whose REGISTER was answered 200 is looked up through
            the ring: not one binding may be missing.
  power     A ring of four with auth.mode provisioned. Two writer threads
            add users through the admin API (POST /users: lookup, then a
            Store the owner writes through to SQLite with synchronous=FULL
            before it answers). Mid-stream every node is killed with -9 at
            once, as in a power cut, and the ring is started again from its
            state dirs: every user whose POST was answered 200 must still
            sign in (401, then 200 with the password). A write in flight
            when the power went may be lost; none that was acknowledged.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import itertools
import random
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import ringlib
import sipplib
from auth_test import Phone
from ringlib import check, log
from sipplib import status_line

DOMAIN = sipplib.DOMAIN
STABILIZE_MS = 500
SECRET = "restart-test-ring-key"


def restart_args(node, live):
    """node's command line, joining through a live node instead of making
    a ring of its own (-N) or joining through one that is down."""
    args, out, skip = list(node.args), [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--bootstrap":
            skip = True
            continue
        if a != "-N":
            out.append(a)
    return out + ["--bootstrap", live.address]


class Registrar(threading.Thread):
    """Registers users u<n> (n from a counter shared by several of these)
    through random live nodes, and refreshes one earlier user for every
    four new ones; remembers the 200s in `acked` (shared)."""

    def __init__(self, phone, nodes, counter, acked, rate=15.0):
        super().__init__(daemon=True)
        self.phone, self.nodes, self.counter, self.acked = phone, nodes, counter, acked
        self.gap = 1.0 / rate
        self.failed = self.sent = 0
        self.stop = threading.Event()

    def register(self, node, user):
        aor = f"sip:{user}@{DOMAIN}"
        contact = f"<sip:{user}@{self.phone.address}>"
        text = self.phone.request("REGISTER", f"sip:{DOMAIN}", to=f"<{aor}>", frm=f"<{aor}>",
                                  contact=contact, extra="Expires: 600")
        _, final = self.phone.transact(node, text, timeout=1.0)
        self.sent += 1
        if final and status_line(final) == "SIP/2.0 200 OK":
            self.acked[aor] = contact
        else:
            self.failed += 1

    def run(self):
        mine = []
        while not self.stop.is_set():
            live = [n for n in self.nodes if n.alive()]
            if live:
                i = next(self.counter)
                self.register(random.choice(live), f"u{i}")
                mine.append(f"u{i}")
                if i % 4 == 0:
                    self.register(random.choice(live), random.choice(mine))
            time.sleep(self.gap)


def rolling(args):
    with ringlib.Cluster(args.sippeer, name="sippeer-restart") as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 4, stabilize_ms=STABILIZE_MS, log_level="info")
        acked, counter = {}, itertools.count(1)
        loaders = [Registrar(phones.raw_phone(), nodes, counter, acked) for _ in range(4)]
        for t in loaders:
            t.start()
        time.sleep(2)
        for node in nodes:
            before = len(acked)
            code = node.stop(grace=10)
            check(code == 0, f"{node.name} exited with {code} on SIGTERM (expected 0 after leaving)")
            time.sleep(0.5)
            live = next(n for n in nodes if n.alive())
            cl.restart(node, restart_args(node, live))
            node.wait_joined(15)
            took = ringlib.wait_consistent(nodes, 20, what=f"the ring after {node.name} came back",
                                           parts=("predecessor", "successors"))
            log(f"{node.name}: SIGTERM, exit 0, back and the ring consistent {took:.1f} s later; "
                f"{len(acked) - before} users registered meanwhile")
            time.sleep(2)
        for t in loaders:
            t.stop.set()
        for t in loaders:
            t.join()
        sent, failed = sum(t.sent for t in loaders), sum(t.failed for t in loaders)
        log(f"load: {sent} REGISTERs, {len(acked)} users answered 200, "
            f"{failed} not answered 200 (sent to a node as it left or started)")
        check(len(acked) >= 500, f"only {len(acked)} users registered: the load was too light")
        time.sleep(1)  # the last Transfers to replicas

        lost = []
        for i, (aor, contact) in enumerate(sorted(acked.items())):
            code, j = sipplib.lookup(nodes[i % len(nodes)], aor)
            found = j.get("bindings", []) if isinstance(j, dict) else []
            if code != 200 or not any(contact.strip("<>") in b for b in found):
                lost.append((aor, code, found))
        check(not lost, f"{len(lost)} of {len(acked)} acknowledged bindings lost, e.g. {lost[:5]}")
        log(f"all {len(acked)} acknowledged bindings found after every node restarted in turn")


class Writer(threading.Thread):
    """Adds w<k>, w<k+2>, ... through the admin API of node k % 4, until its
    node stops answering; remembers the 200s."""

    def __init__(self, nodes, first, step, acked):
        super().__init__(daemon=True)
        self.nodes, self.first, self.step, self.acked = nodes, first, step, acked
        self.tokens = {n.name: open(f"{n.state_dir}/admin.token").read().strip() for n in nodes}

    def run(self):
        i = self.first
        while True:
            node = self.nodes[i % len(self.nodes)]
            user = f"w{i}"
            form = urllib.parse.urlencode({"op": "add", "aor": f"sip:{user}@{DOMAIN}", "password": f"pw-{user}"})
            req = urllib.request.Request(f"http://{node.listen}:{node.admin_port}/users", data=form.encode(),
                                         headers={"Authorization": "Bearer " + self.tokens[node.name]})
            try:
                with urllib.request.urlopen(req, timeout=3) as r:
                    if r.status == 200:
                        self.acked.append(user)
            except (urllib.error.URLError, OSError):
                if not node.alive():
                    return
            i += self.step


def power(args):
    cfg = {"auth": {"mode": "provisioned", "domains": [DOMAIN]}, "overlay": {"secret": SECRET},
           "limits": {"per_source_rate": 0}}
    with ringlib.Cluster(args.sippeer, name="sippeer-power") as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 4, config=cfg, stabilize_ms=STABILIZE_MS, log_level="info")
        acked = []
        writers = [Writer(nodes, k, 2, acked) for k in (0, 1)]
        for w in writers:
            w.start()
        time.sleep(3 + random.random())
        for n in nodes:
            n.signal(signal.SIGKILL)
        for n in nodes:
            n.exit_code = n.proc.wait(timeout=5)
        for w in writers:
            w.join(10)
        log(f"power cut (kill -9 of all four) after {len(acked)} users were acknowledged")
        check(len(acked) >= 50, f"only {len(acked)} users added before the power cut: too few to tell")

        first = nodes[0]
        cl.restart(first)  # -N: a ring of its own again, from its state dir
        first.wait_joined(15)
        for n in nodes[1:]:
            cl.restart(n, restart_args(n, first))
        for n in nodes[1:]:
            n.wait_joined(15)
        ringlib.wait_consistent(nodes, 20, what="the ring after the power came back",
                                parts=("predecessor", "successors"))
        time.sleep(1)

        refused = []
        raw = phones.raw_phone()
        for i, user in enumerate(acked):
            raw.user = user
            _, final, _ = Phone(raw, user, f"pw-{user}").register(nodes[i % 4])
            if not final or status_line(final) != "SIP/2.0 200 OK":
                refused.append((user, final and status_line(final)))
        check(not refused, f"{len(refused)} of {len(acked)} acknowledged users cannot sign in after the "
                           f"power cut, e.g. {refused[:5]}")
        log(f"all {len(acked)} acknowledged users sign in after the whole ring was killed and restarted")


def body(args):
    rolling(args)
    power(args)


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
