#!/usr/bin/env python3
"""A password cracker against a ring with auth.mode provisioned (issue 13):
sipvicious's svcrack (Debian sipvicious) on loopback, bounded.

The extension 1000 of the node's own domain (sip:1000@127.0.0.1, as
svcrack addresses it) has the password 0042, which svcrack, trying 0001,
0002, ... in order, would reach after 42 tries. With auth.max_failures 10
it gets 403 for every try after the tenth, the right one included: it
finds nothing and the node logs the block once. (Blocked, svcrack never
finishes: each try starts with a REGISTER that expects a 401 and gets
403; the test stops it after 20 s, with Ctrl-C, on which it reports.)
A control run against a node whose failure limit is out of reach
(auth.max_failures 10000) shows svcrack does find 0042 there: the limit,
not luck, is what stopped it.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import shutil
import signal
import subprocess

import ringlib
import sipplib
from ringlib import check, log

PASSWORD = "0042"


def crack(node, seconds=20):
    """svcrack against node for user 1000, passwords 0001..0200, for at most
    `seconds` (then Ctrl-C, on which it prints what it found); its output.
    Blocked, it never finishes: its first REGISTER of each try expects a
    401 and gets 403."""
    cmd = ["svcrack", "-u", "1000", "-r", "1-200", "-z", "4", "-p", str(node.sip_port), "--maximumtime", "5",
           ringlib.LOCALHOST]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
    return out


def body(args):
    check(shutil.which("svcrack"), "svcrack is not installed (scripts/setup --all installs sipvicious)")
    with ringlib.Cluster(args.sippeer, name="sippeer-svcrack") as cl:
        for name, failures in (("guarded", 10), ("control", 10000)):
            cfg = {"auth": {"mode": "provisioned", "max_failures": failures}, "overlay": {"secret": "crack-test"}}
            node = cl.add(name, new_ring=True, config=cfg)
            node.wait_joined()
            sipplib.add_user(args.sippeer, node, "1000", PASSWORD, domain=ringlib.LOCALHOST)
            out = crack(node)
            if name == "guarded":
                check(PASSWORD not in out, f"svcrack found the password despite the limit:\n{out}")
                blocked = node.log().count("failed sign-ins within")
                check(blocked == 1, f"the block was logged {blocked} times, not once:\n{node.log()[-2000:]}")
                refused = node.log().count("Forbidden (bad credentials)")
                log(f"svcrack, passwords 0001..0200 against auth.max_failures 10: nothing found; "
                    f"{refused} wrong passwords logged before the block, the block logged once")
            else:
                check(PASSWORD in out, f"control: svcrack did not find {PASSWORD} without the limit:\n{out}")
                log(f"control (auth.max_failures 10000): svcrack finds {PASSWORD}")
            node.stop()


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
