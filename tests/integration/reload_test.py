#!/usr/bin/env python3
"""SIGHUP reloads what can change at run time and says what needs a
restart; a broken file is refused and the node keeps running on the old
settings."""

import os
import signal
import subprocess
import sys
import tempfile
import time
sys.dont_write_bytecode = True

import ringlib
from ringlib import check, log


def body(args):
    with tempfile.TemporaryDirectory(prefix="reload-") as d:
        cfg = os.path.join(d, "sippeer.yaml")
        logf = os.path.join(d, "node.log")
        with open(cfg, "w") as f:
            f.write("log:\n  level: info\nregistrar:\n  min_expires: 60\n")
        sip, admin = ringlib.free_port(), ringlib.free_port()
        with open(logf, "w") as out:
            p = subprocess.Popen([args.sippeer, "--config", cfg, "-N", "-p", str(sip), "--listen", "127.0.0.1",
                                  "--admin", f"127.0.0.1:{admin}", "--no-multicast", "--state-dir", d],
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            ringlib.wait_until(lambda: ringlib.status(admin)["joined"], 5, what="the node to start")
            text = lambda: open(logf).read()
            with open(cfg, "w") as f:
                f.write("log:\n  level: debug\nregistrar:\n  min_expires: 30\noverlay:\n  stabilize_ms: 700\n")
            p.send_signal(signal.SIGHUP)
            ringlib.wait_until(lambda: "SIGHUP: reloaded" in text(), 5, what="the reload to be logged")
            check("applied: log.level, registrar.min_expires" in text(), f"applied keys: {text()}")
            check("needs a restart: overlay.stabilize_ms" in text(), f"restart keys: {text()}")
            with open(cfg, "w") as f:
                f.write("sip:\n  prot: 1\n")
            p.send_signal(signal.SIGHUP)
            ringlib.wait_until(lambda: "configuration not reloaded" in text(), 5, what="the refusal to be logged")
            check("sip.prot: unknown key; did you mean 'sip.port'?" in text(), f"error: {text()}")
            check(p.poll() is None and ringlib.status(admin)["joined"], "the node must keep running")
            log("SIGHUP applied two live settings, named one that needs a restart, and refused a broken file")
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
