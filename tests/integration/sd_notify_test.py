#!/usr/bin/env python3
"""systemd's notify protocol (Type=notify), without systemd: the test is
the service manager. It binds an AF_UNIX datagram socket, starts the
daemon with NOTIFY_SOCKET pointing at it and WATCHDOG_USEC=200000, and
reads what the daemon says:

1. A (a ring of its own, -N): READY=1 with a STATUS naming the ring,
   then WATCHDOG=1 about every 100 ms (half the interval; at least 5 in
   one second);
2. B joins through A: its READY=1 comes with "joined the ring through"
   A's address;
3. SIGHUP to A: RELOADING=1, then READY=1 again;
4. SIGTERM to A: STOPPING=1, and A exits 0 (graceful leave).
Without NOTIFY_SOCKET (every other test) the daemon sends nothing.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import signal
import socket
import time

import ringlib
from ringlib import check, log


class Manager:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (monotonic time, {key: value})

    def read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
        self.messages.append((time.monotonic(), fields))
        return fields

    def wait_for(self, key, timeout, value=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.read(max(0.01, deadline - time.monotonic()))
            if m and key in m and (value is None or m[key] == value):
                return m
        seen = [m for _, m in self.messages[-10:]]
        raise ringlib.TestFailure(f"no {key}={value or '*'} on {self.path} in {timeout} s; last: {seen}")

    def close(self):
        self.sock.close()


def start_with_manager(cl, name, manager, **kw):
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    os.environ["NOTIFY_SOCKET"] = manager.path
    os.environ["WATCHDOG_USEC"] = "200000"
    os.environ.pop("WATCHDOG_PID", None)
    try:
        return cl.add(name, **kw)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def body(args):
    with ringlib.Cluster(args.sippeer, "sd-notify", keep=args.keep) as cl:
        ma = Manager(os.path.join(cl.dir, "a.notify"))
        mb = Manager(os.path.join(cl.dir, "b.notify"))
        try:
            a = start_with_manager(cl, "A", ma, new_ring=True)
            ready = ma.wait_for("READY", 10, "1")
            check("ring of our own" in ready.get("STATUS", ""), f"A's READY status: {ready}")
            log(f"A: READY=1, STATUS={ready['STATUS']!r}")

            start = time.monotonic()
            while time.monotonic() - start < 1.0:
                ma.read(0.2)
            pings = [t for t, m in ma.messages if m.get("WATCHDOG") == "1" and t >= start]
            check(len(pings) >= 5, f"A sent {len(pings)} WATCHDOG=1 in one second, expected about 10")
            log(f"A: {len(pings)} watchdog pings in 1 s (WATCHDOG_USEC=200000)")

            b = start_with_manager(cl, "B", mb, bootstrap=[a])
            ready = mb.wait_for("READY", 10, "1")
            check("joined the ring through " + a.address in ready.get("STATUS", ""), f"B's READY status: {ready}")
            log(f"B: READY=1, STATUS={ready['STATUS']!r}")
            b.stop()

            a.signal(signal.SIGHUP)
            ma.wait_for("RELOADING", 5, "1")
            ma.wait_for("READY", 5, "1")
            log("A: SIGHUP -> RELOADING=1, READY=1")

            a.signal(signal.SIGTERM)
            stopping = ma.wait_for("STOPPING", 5, "1")
            code = a.stop(grace=10)
            check(code == 0, f"A exited {code} after SIGTERM, expected 0")
            log(f"A: SIGTERM -> STOPPING=1 ({stopping.get('STATUS')!r}), exit 0")
        finally:
            ma.close()
            mb.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
