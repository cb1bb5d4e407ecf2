#!/usr/bin/env python3
"""Admin API: GET /registrations lists stored records with their role, and
GET /metrics serves Prometheus text whose figures match what happened: one
REGISTER applied at the owner, one primary copy and two replicas."""

import subprocess
import sys
sys.dont_write_bytecode = True

import ringlib
from ringlib import check, log
from duplicate_test import register


def metrics(node):
    code, text = ringlib.http_get("127.0.0.1", node.admin_port, "/metrics")
    check(code == 200, f"{node.name}: /metrics answered {code}")
    out = {}
    for line in str(text).splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def body(args):
    with ringlib.Cluster(args.sippeer, "admin", keep=args.keep) as cl:
        a = cl.add("a", new_ring=True, stabilize_ms=300)
        a.wait_joined()
        nodes = [a]
        for name in ("b", "c"):
            n = cl.add(name, bootstrap=[a], stabilize_ms=300)
            n.wait_joined()
            nodes.append(n)
        ringlib.wait_consistent(nodes, 10)
        line = register(nodes[1], "dora", 6399)
        check(line == "SIP/2.0 200 OK", f"REGISTER: {line!r}")

        def copies():
            roles = []
            for n in nodes:
                code, regs = ringlib.http_get("127.0.0.1", n.admin_port, "/registrations")
                check(code == 200, f"{n.name}: /registrations answered {code}")
                roles += [(n.name, r["role"], r["bindings"]) for r in regs if r["aor"] == "sip:dora@example.com"]
            return roles if len(roles) == 3 else None
        roles, _ = ringlib.wait_until(copies, 5, what="three copies of dora's record")
        check(sorted(r[1] for r in roles) == ["primary", "replica", "replica"], f"roles {roles}")
        check(all(b and b[0].startswith("<sip:dora@127.0.0.1:6399>;expires=") for _, _, b in roles),
              f"bindings {roles}")

        ms = [metrics(n) for n in nodes]
        total = lambda key: sum(m.get(key, 0) for m in ms)
        check(total('sippeer_records{role="primary"}') == 1, "metrics: one primary record in the ring")
        check(total('sippeer_records{role="replica"}') == 2, "metrics: two replicas in the ring")
        check(total("sippeer_sip_registrations_total") == 1, "metrics: one REGISTER applied at the owner")
        check(all(m.get("sippeer_joined") == 1 for m in ms), "metrics: every node joined")
        check(all(m.get('sippeer_overlay_sent_total{kind="update"}', 0) > 0 for m in ms), "metrics: updates counted")
        log("/registrations and /metrics agree with the ring: 1 primary, 2 replicas, 1 registration")

        # sippeer ctl, the operator's view of the same API.
        def ctl(node_admin, *words):
            r = subprocess.run([args.sippeer, "ctl", "--admin", node_admin, *words],
                               capture_output=True, text=True, timeout=40)
            return r.returncode, r.stdout, r.stderr
        admin = f"127.0.0.1:{nodes[0].admin_port}"
        rc, out, err = ctl(admin, "ring")
        check(rc == 0, f"ctl ring: exit {rc}: {err}")
        uris = [line.split()[1] for line in out.splitlines() if line.strip()]
        check(sorted(uris) == sorted(n.status()["node"]["uri"] for n in nodes), f"ctl ring listed {uris}")
        rc, out, _ = ctl(admin, "status")
        check(rc == 0 and "state        joined" in out, f"ctl status: {rc} {out!r}")
        rc, out, _ = ctl(admin, "lookup", "sip:dora@example.com")
        check(rc == 0 and "sip:dora@127.0.0.1:6399" in out, f"ctl lookup dora: {rc} {out!r}")
        rc, _, err = ctl(admin, "lookup", "sip:nobody@example.com")
        check(rc == 1 and "no registration" in err, f"ctl lookup nobody: {rc} {err!r}")
        rc, _, err = ctl(f"127.0.0.1:{ringlib.free_port()}", "status")
        check(rc == 69 and "cannot reach the admin API" in err, f"ctl to a closed port: {rc} {err!r}")
        rc, out, _ = ctl(f"127.0.0.1:{nodes[2].admin_port}", "leave")
        check(rc == 0, f"ctl leave: exit {rc}")
        code = nodes[2].proc.wait(timeout=10)
        check(code == 0, f"the node asked to leave exited {code}")
        log("sippeer ctl: ring, status, lookup, errors and leave work")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
