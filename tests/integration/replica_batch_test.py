#!/usr/bin/env python3
"""Batched replicas and stateless REGISTER relays lose nothing (issue 15).

Replicas travel in batches (overlay.replica_batch_ms, 20 ms by default: a
record waits for others going to the same successor), and a phone's UDP
REGISTER crosses the ring without a transaction at each hop
(adaptor/proxy/stateless_relay.cpp). Neither may cost a registration:

  1. Five nodes. A phone-like client sends 400 REGISTERs for 400 users
     through node n1 in bursts of 50, as fast as it can, and gets 400 x 200.
     Most are owned by other nodes: n1 relays them statelessly
     (sippeer_sip_stateless_relays_total) and their answers come back
     through it.
  2. The replicas went in batches: the node that owns the most of them
     sent fewer Transfers than it owns records times overlay.replicas.
  3. `sippeer ctl regs --ring` on n1 and `--json` on another node (the
     overlay's List, issue 12) name each of the 400 users exactly once,
     each at the node that owns it.
  4. One second after the last 200, that node is killed (-9). Once the
     ring of four is consistent again, every one of the 400 users is found
     with its binding from two nodes (GET /lookup), and the ring-wide
     listing still names each of them once, now all at live nodes.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import re
import signal
import socket
import subprocess
import time

import ringlib
import sipplib
from ringlib import check, log

STABILIZE_MS = 300
REQUEST_TIMEOUT_MS = 600
USERS = 400
BURST = 50
REPLICAS = 3  # the default overlay.replicas


def metric(node, name, labels=""):
    code, text = ringlib.http_get("127.0.0.1", node.admin_port, "/metrics")
    check(code == 200, f"{node.name}: /metrics answered {code}")
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    check(m, f"{node.name}: no {name}{labels} in /metrics")
    return float(m.group(1))


def register_all(entry):
    """REGISTERs for USERS users through entry, in bursts; the phone
    retransmits what is unanswered after 0.5 s, as RFC 3261 says.
    Returns {user: final status}."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    me = f"127.0.0.1:{sock.getsockname()[1]}"
    host, port = entry.address.rsplit(":", 1)

    def text(i):
        return (f"REGISTER sip:example.com SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {me};branch=z9hG4bKbatch{i}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:batch{i}@example.com>;tag=b{i}\r\n"
                f"To: <sip:batch{i}@example.com>\r\nCall-ID: batch{i}@{me}\r\nCSeq: 1 REGISTER\r\n"
                f"Contact: <sip:batch{i}@{me}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n").encode()

    finals = {}
    for start in range(0, USERS, BURST):
        todo = set(range(start, min(start + BURST, USERS)))
        for attempt in range(6):
            for i in sorted(todo - finals.keys()):
                sock.sendto(text(i), (host, int(port)))
            deadline = time.monotonic() + 0.5 * (2 ** attempt)
            while todo - finals.keys() and time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    got = sock.recv(65535).decode(errors="replace")
                except socket.timeout:
                    break
                m = re.search(r"^Call-ID:\s*batch(\d+)@", got, re.M | re.I)
                if m and not got.startswith("SIP/2.0 1"):
                    finals.setdefault(int(m.group(1)), ringlib.status_code(got))
            if not todo - finals.keys():
                break
    sock.close()
    return finals


def ring_listing(sippeer, node, as_json):
    """`sippeer ctl regs --ring` on node: {aor: [owner uri, ...]}, complete."""
    cmd = [sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{node.admin_port}"] + (["--json"] if as_json else [])
    r = subprocess.run(cmd + ["regs", "--ring"], capture_output=True, text=True, timeout=90)
    check(r.returncode == 0, f"ctl regs --ring on {node.name} exited {r.returncode}: {r.stderr.strip()}")
    owners = {}
    if as_json:
        j = json.loads(r.stdout)
        for reg in j["registrations"]:
            check(reg["role"] == "primary" and reg["bindings"], f"listed {reg}")
            owners.setdefault(reg["aor"], []).append(reg["node"])
        return owners, j["complete"], j["nodes"]
    for line in r.stdout.splitlines():
        m = re.match(r"^(sip:\S+)  \(primary at (\S+), version \d+\)$", line)
        if m:
            owners.setdefault(m.group(1), []).append(m.group(2))
    m = re.search(r"^(\d+) registered AORs? on (\d+) nodes?$", r.stdout, re.M)
    check(m, f"ctl regs --ring printed no summary line: {r.stdout[-300:]}")
    return owners, "warning" not in r.stdout, int(m.group(2))


def check_listing(sippeer, node, as_json, nodes):
    owners, complete, walked = ring_listing(sippeer, node, as_json)
    want = {f"sip:batch{i}@example.com" for i in range(USERS)}
    twice = {a: o for a, o in owners.items() if len(o) > 1}
    check(complete and walked == len(nodes), f"{node.name}: listing complete={complete} over {walked} nodes")
    check(set(owners) == want and not twice,
          f"{node.name}: listed {len(owners)} AORs, {len(set(owners) - want)} unexpected, "
          f"{len(want - set(owners))} missing, {len(twice)} twice ({dict(list(twice.items())[:2])})")
    for aor in (f"sip:batch{i}@example.com" for i in range(0, USERS, 37)):
        code, js = sipplib.lookup(node, aor)
        check(code == 200 and ringlib.uri_address(js["node"]["uri"]) == ringlib.uri_address(owners[aor][0]),
              f"{aor} listed at {owners[aor][0]}, but its lookup answers {code} from {js.get('node')}")
    per_node = {}
    for o in owners.values():
        per_node[o[0]] = per_node.get(o[0], 0) + 1
    log(f"ctl regs --ring{' --json' if as_json else ''} on {node.name}: {len(owners)} AORs, each once, "
        f"over {walked} nodes {sorted(per_node.values())}")


def body(args):
    config = {"overlay": {"request_timeout_ms": REQUEST_TIMEOUT_MS}}
    with ringlib.Cluster(args.sippeer, "replica-batch", keep=args.keep) as cl:
        nodes = sipplib.start_ring(cl, 5, config=config, stabilize_ms=STABILIZE_MS, log_level="info")
        entry = nodes[0]

        t0 = time.monotonic()
        finals = register_all(entry)
        last_200 = time.monotonic()
        not_ok = {u: s for u, s in finals.items() if s != 200}
        check(len(finals) == USERS and not not_ok,
              f"{len(finals)} of {USERS} REGISTERs answered; not 200: {dict(list(not_ok.items())[:5])}")
        log(f"{USERS} REGISTERs through {entry.name}: all 200 in {last_200 - t0:.2f} s")

        owned = {n.name: metric(n, "sippeer_sip_registrations_total") for n in nodes}
        relayed = metric(entry, "sippeer_sip_stateless_relays_total")
        log(f"registrations applied per node: {owned}; {entry.name} relayed {relayed:.0f} statelessly")
        check(relayed >= USERS - owned[entry.name],
              f"{entry.name} relayed {relayed:.0f} REGISTERs without a transaction; "
              f"{USERS - owned[entry.name]:.0f} were owned by other nodes")

        victim = max(nodes[1:], key=lambda n: owned[n.name])
        transfers = metric(victim, "sippeer_overlay_sent_total", '{kind="transfer"}')
        unbatched = owned[victim.name] * REPLICAS
        log(f"{victim.name} owns {owned[victim.name]:.0f} of them and sent {transfers:.0f} Transfers "
            f"(one per record and replica would be {unbatched:.0f})")
        check(transfers < unbatched / 2,
              f"{victim.name} sent {transfers:.0f} Transfers for {owned[victim.name]:.0f} records: "
              f"replicas did not travel in batches")

        check_listing(args.sippeer, entry, False, nodes)
        check_listing(args.sippeer, nodes[2], True, nodes)

        time.sleep(max(0.0, last_200 + 1.0 - time.monotonic()))
        victim.signal(signal.SIGKILL)
        victim.exit_code = victim.proc.wait(timeout=5)
        live = [n for n in nodes if n is not victim]
        bound = 3 * STABILIZE_MS / 1000 + REQUEST_TIMEOUT_MS / 1000 + 3
        took = ringlib.wait_consistent(live, bound, what="the ring of four", parts=("predecessor", "successors"))
        log(f"{victim.name} killed 1 s after the last 200; ring of four consistent {took:.2f} s later")

        missing = []
        for i in range(USERS):
            for n in (live[0], live[-1]):
                code, js = sipplib.lookup(n, f"sip:batch{i}@example.com")
                ok = code == 200 and any(f"batch{i}@" in b for b in (js.get("bindings") or []))
                if not ok:
                    missing.append(f"batch{i} at {n.name}: {code}")
        check(not missing, f"{len(missing)} lookups lost a registration answered 200: {missing[:5]}")
        log(f"all {USERS} users found from {live[0].name} and {live[-1].name}")
        check_listing(args.sippeer, live[-1], False, live)


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
