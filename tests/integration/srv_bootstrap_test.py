#!/usr/bin/env python3
"""Bootstrap through DNS SRV (report 3.3.2): a bootstrap entry that is a
bare domain name is looked up as _sip._udp.<domain>, and the node joins
through the SIP server the SRV record names.

Inside a network namespace of the test's own (root only; CI runs as
root), whose /etc/resolv.conf (bind-mounted by `ip netns exec` from
/etc/netns/<name>/resolv.conf) points at a dnsmasq on the namespace's
127.0.0.1:53 serving

    _sip._udp.ring.test  SRV 0 0 <A's port> seed.ring.test
    seed.ring.test       A   127.0.0.1

node A starts a ring (-N); node B is started with `--bootstrap ring.test`
and no multicast. Checked: B joins with discovery "bootstrap", the ring
of two is consistent, and dnsmasq's query log shows B's SRV query.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import shutil
import subprocess

import ringlib
from ringlib import check, log

STABILIZE_MS = 300


def body(args):
    ringlib.require_root("srv_bootstrap_test (creates a network namespace)")
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    check(os.access(dnsmasq, os.X_OK), "dnsmasq is not installed (scripts/setup --all installs dnsmasq-base)")
    with ringlib.Netns("sippeer-srv") as ns, \
            ringlib.Cluster(args.sippeer, "srv-bootstrap", keep=args.keep) as cl:
        etc = f"/etc/netns/{ns.name}"
        os.makedirs(etc, exist_ok=True)
        dns = None
        try:
            with open(os.path.join(etc, "resolv.conf"), "w") as f:
                f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
            a = cl.add("A", new_ring=True, netns=ns.name, stabilize_ms=STABILIZE_MS)
            a.wait_joined()
            query_log = os.path.join(cl.dir, "dnsmasq.log")
            dns = subprocess.Popen(
                ["ip", "netns", "exec", ns.name, dnsmasq, "--no-daemon", "--port=53",
                 "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                 "--log-queries", f"--log-facility={query_log}", "--pid-file=",
                 f"--srv-host=_sip._udp.ring.test,seed.ring.test,{a.sip_port},0,0",
                 "--address=/seed.ring.test/127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            ringlib.wait_until(lambda: os.path.exists(query_log) and "started" in open(query_log).read(),
                               5, what="dnsmasq to start")
            log(f"dnsmasq (pid {dns.pid}) serves _sip._udp.ring.test -> seed.ring.test:{a.sip_port}")

            b = cl.add("B", bootstrap=["ring.test"], netns=ns.name, stabilize_ms=STABILIZE_MS)
            st, took = b.wait_joined(timeout=15)
            check(st["discovery"] == "bootstrap",
                  f"B's discovery is {st['discovery']!r}, expected 'bootstrap' through the SRV record")
            check(st["successors"] and a.address in st["successors"][0]["uri"],
                  f"B's successor is not A: {st['successors']}")
            log(f"B joined through the SRV record in {took:.2f} s")
            ringlib.wait_consistent([a, b], 3 * STABILIZE_MS / 1000 + 2, what="ring of two")
            with open(query_log) as f:
                queries = f.read()
            check("_sip._udp.ring.test" in queries, f"dnsmasq saw no SRV query:\n{queries}")
            log("dnsmasq's log shows B's query for _sip._udp.ring.test")
        finally:
            if dns:
                dns.terminate()
                try:
                    dns.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    dns.kill()
            shutil.rmtree(etc, ignore_errors=True)


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
