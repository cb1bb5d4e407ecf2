#!/usr/bin/env python3
"""What an operator sees when startup does not go as planned.

1. alone: a node whose only bootstrap peer is a dead port (nothing listens
   there) falls back to a ring of its own, and says so everywhere:
   /status has discovery "alone" and discovery_tried naming the peer,
   `sippeer ctl status` prints a warning line, /metrics labels the method
   "alone", and the log has one warning line naming what was tried.
2. sip_port_in_use: a second node on the first one's SIP port exits
   non-zero, and its error names the port and suggests -p.
3. admin_port_in_use: a node on a free SIP port but the first one's admin
   port exits non-zero, and its error names the port and --admin.
4. wrapper: scripts/sippeer-softphone with the same dead bootstrap peer
   (headless baresip) prints a WARNING that its node is a ring of one.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import select
import signal
import subprocess
import time

import ringlib
from ringlib import check, log

WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "sippeer-softphone")


def exits_with_error(node, timeout=10):
    """The node's exit code and log, once it has exited (fails if it runs on)."""
    try:
        code = node.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ringlib.TestFailure(f"{node.name} still runs {timeout} s after start; expected it to exit")
    return code, node.log()


def case_alone_and_ports(args):
    with ringlib.Cluster(args.sippeer, "startup", keep=args.keep) as cl:
        dead = f"{ringlib.LOCALHOST}:{ringlib.free_port()}"
        a = cl.add("A", bootstrap=[dead], config={"overlay": {"request_timeout_ms": 300}})
        st, took = a.wait_joined(timeout=15)
        check(st["discovery"] == "alone", f"A's discovery is {st['discovery']!r}, expected 'alone'")
        check(f"bootstrap {dead}" in st.get("discovery_tried", ""),
              f"A's discovery_tried does not name the dead peer: {st.get('discovery_tried')!r}")
        log(f"alone: A fell back to a ring of its own in {took:.2f} s (tried {st['discovery_tried']})")

        ctl = subprocess.run([args.sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{a.admin_port}", "status"],
                             capture_output=True, text=True, timeout=10)
        check(ctl.returncode == 0, f"ctl status exited {ctl.returncode}: {ctl.stderr}")
        check("(discovery: alone)" in ctl.stdout and "warning" in ctl.stdout and dead in ctl.stdout,
              f"ctl status does not warn about the ring of one:\n{ctl.stdout}")
        code, metrics = ringlib.http_get(ringlib.LOCALHOST, a.admin_port, "/metrics")
        check(code == 200 and 'sippeer_discovery_method{method="alone"} 1' in metrics,
              "/metrics does not label the discovery method 'alone'")
        check("discovery: nobody answered (tried bootstrap " + dead in a.log(),
              "A's log has no warning naming the peer it tried")

        b = cl.add("B", new_ring=True, sip_port=a.sip_port)
        code, text = exits_with_error(b)
        check(code != 0, f"B on A's SIP port exited {code}, expected non-zero")
        check(f"port {a.sip_port}" in text and "already in use" in text and "-p PORT" in text,
              f"B's error does not name port {a.sip_port} and -p:\n{text}")
        log(f"sip_port_in_use: exit {code}: " + next(l for l in text.splitlines() if "already in use" in l))

        c = cl.add("C", new_ring=True, admin_port=a.admin_port)
        code, text = exits_with_error(c)
        check(code != 0, f"C on A's admin port exited {code}, expected non-zero")
        check(f"port {a.admin_port}" in text and "already in use" in text and "--admin" in text,
              f"C's error does not name admin port {a.admin_port} and --admin:\n{text}")
        log(f"admin_port_in_use: exit {code}: " + next(l for l in text.splitlines() if "already in use" in l))


def case_wrapper(args):
    with ringlib.Cluster(args.sippeer, "startup-wrapper", keep=args.keep) as cl:
        home = os.path.join(cl.dir, "home")
        os.makedirs(home)
        dead = f"{ringlib.LOCALHOST}:{ringlib.free_port()}"
        env = dict(os.environ, HOME=home, SIPPEER=os.path.abspath(args.sippeer))
        cmd = ["bash", WRAPPER, "--listen", ringlib.LOCALHOST, "--no-multicast", "--bootstrap", dead,
               "--headless", "--user", "sip:dave@example.com",
               "--sippeer-arg=--resolv-conf=" + cl.no_dns_resolv_conf(), "baresip"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env)
        out = b""
        deadline = time.monotonic() + 40
        try:
            while b"WARNING: no other sippeer node answered" not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([p.stdout], [], [], 0.5)
                if ready:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                rest, _ = p.communicate(timeout=20)
                out += rest or b""
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        text = out.decode(errors="replace")
        check("WARNING: no other sippeer node answered" in text and dead in text,
              f"the wrapper did not warn that its node runs alone:\n{text[-3000:]}")
        log("wrapper: " + next(l for l in text.splitlines() if "WARNING: no other" in l))


def body(args):
    case_alone_and_ports(args)
    case_wrapper(args)


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
