#!/usr/bin/env python3
"""The configuration files shipped in interop/ work as shipped.

One node (-N, loopback). Each file is copied with only the example node
address 192.0.2.10:5060 replaced by the node's, and the phone's own port
moved off 5060 (other tests and nodes may hold it):

  twinkle   interop/twinkle/sippeer.cfg as ~/.twinkle/sippeer.cfg of a
            HOME of the test's (twinkle.sys: sip_port), run as
            `twinkle-console sippeer.cfg`: "registration succeeded",
            /lookup finds sip:alice@example.com at its port; on `quit`
            it de-registers and the binding is gone.
  baresip   interop/baresip/accounts and config (sip_listen moved to
            127.0.0.1:PORT), `baresip -f DIR`: it reports the 200 OK and
            /lookup finds its binding.

linphonec is not run: in this sandbox it opens no SIP socket
(interop/linphone.md says so).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import shutil
import signal
import subprocess
import time

import ringlib
import sipplib
from baresip_test import free_pair
from ringlib import check, log

INTEROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "interop")
EXAMPLE_NODE = "192.0.2.10:5060"


def shipped(rel, node):
    with open(os.path.join(INTEROP, rel)) as f:
        text = f.read()
    check(EXAMPLE_NODE in text, f"interop/{rel} no longer names the example node {EXAMPLE_NODE}")
    return text.replace(EXAMPLE_NODE, node.address)


def bindings(node, aor):
    code, body = sipplib.lookup(node, aor)
    return body.get("bindings", []) if code == 200 and isinstance(body, dict) else []


def stop(proc, out):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    out.close()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def twinkle(cl, node):
    check(shutil.which("twinkle-console"), "twinkle-console is not installed (apt-get install twinkle-console)")
    home = os.path.join(cl.dir, "twinkle-home")
    os.makedirs(os.path.join(home, ".twinkle"))
    with open(os.path.join(home, ".twinkle", "sippeer.cfg"), "w") as f:
        f.write(shipped("twinkle/sippeer.cfg", node))
    port = free_pair()
    with open(os.path.join(home, ".twinkle", "twinkle.sys"), "w") as f:
        f.write(f"sip_port={port}\nrtp_port={port + 2}\n")
    out_path = os.path.join(cl.dir, "twinkle.out")
    out = open(out_path, "wb")
    p = subprocess.Popen(["twinkle-console", "sippeer.cfg"], stdin=subprocess.PIPE, stdout=out,
                         stderr=subprocess.STDOUT, env=dict(os.environ, HOME=home))
    try:
        ringlib.wait_until(lambda: "registration succeeded" in read(out_path) or p.poll() is not None, 15,
                           what="twinkle-console to register")
        check("registration succeeded" in read(out_path), f"twinkle-console did not register:\n{read(out_path)[-3000:]}")
        b, _ = ringlib.wait_until(lambda: bindings(node, "sip:alice@example.com"), 5,
                                  what="the node to find twinkle's binding")
        check(any(f":{port}" in x for x in b), f"twinkle's binding {b} is not at its port {port}")
        log(f"twinkle-console with interop/twinkle/sippeer.cfg registered sip:alice@example.com: {b}")
        p.stdin.write(b"quit\n")
        p.stdin.flush()
        p.wait(timeout=15)
        ringlib.wait_until(lambda: not bindings(node, "sip:alice@example.com"), 5,
                           what="twinkle's binding to go after quit")
        check("de-registration succeeded" in read(out_path), f"no de-registration:\n{read(out_path)[-2000:]}")
        log("on quit it de-registered; the binding is gone")
    finally:
        stop(p, out)


def baresip(cl, node):
    check(shutil.which("baresip"), "baresip is not installed (apt-get install baresip-core)")
    d = os.path.join(cl.dir, "baresip")
    os.makedirs(d)
    port = free_pair()
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write(shipped("baresip/accounts", node))
    config = read(os.path.join(INTEROP, "baresip/config"))
    check("sip_listen\t\t0.0.0.0:5062" in config, "interop/baresip/config: sip_listen changed, update this test")
    with open(os.path.join(d, "config"), "w") as f:
        f.write(config.replace("0.0.0.0:5062", f"127.0.0.1:{port}"))
    out_path = os.path.join(d, "out")
    out = open(out_path, "wb")
    p = subprocess.Popen(["baresip", "-f", d, "-n", "127.0.0.1"], stdin=subprocess.PIPE, stdout=out,
                         stderr=subprocess.STDOUT, env=dict(os.environ, HOME=d))
    try:
        ringlib.wait_until(lambda: "alice@example.com: {0/UDP/v4} 200 OK" in read(out_path) or p.poll() is not None,
                           15, what="baresip to register")
        check("200 OK" in read(out_path), f"baresip did not register:\n{read(out_path)[-3000:]}")
        b, _ = ringlib.wait_until(lambda: bindings(node, "sip:alice@example.com"), 5,
                                  what="the node to find baresip's binding")
        check(any(f"127.0.0.1:{port}" in x for x in b), f"baresip's binding {b} is not at 127.0.0.1:{port}")
        log(f"baresip with interop/baresip/accounts + config registered sip:alice@example.com: {b}")
    finally:
        stop(p, out)


def body(args):
    with ringlib.Cluster(args.sippeer, "interop-files", keep=args.keep) as cl:
        node = cl.add("node", new_ring=True)
        node.wait_joined()
        t0 = time.monotonic()
        twinkle(cl, node)
        baresip(cl, node)
        check(node.alive(), "the node died")
        log(f"both shipped configurations work ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
