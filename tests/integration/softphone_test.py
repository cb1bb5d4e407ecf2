#!/usr/bin/env python3
"""scripts/sippeer-softphone: two wrappers, each a sippeer node plus a
headless baresip, call each other through the ring they form.

  alice   sippeer-softphone -N --node-port PA (a ring of its own), her
          configuration in a directory the test gives (--config-dir)
  bob     sippeer-softphone --bootstrap 127.0.0.1:PA, node on a free port
          (-p 0), --auto-answer, his configuration in the wrapper's own
          temporary directory
  both    --listen 127.0.0.1 --no-multicast --headless --ctrl-port C,
          HOME pointed at an empty directory of the test's

0. --help prints the usage (exit 0); a bad option value exits 1 saying why.
1. Each wrapper reports its node joined; both phones register (baresip
   prints the 200 OK) and alice's node finds bob's binding (/lookup).
2. alice dials sip:bob@example.com over ctrl_tcp: bob auto-answers, both
   report CALL_ESTABLISHED and receive RTP (the headless sine tone); alice
   hangs up, both report CALL_CLOSED.
   carol: a third wrapper in linphone mode (linphonec), typed commands
   on its stdin, joins through alice's node; her binding is found;
   `quit` typed ends linphonec and the wrapper, whose node leaves the
   ring (exit 0). (No call: without a sound card linphonec answers 503.)
3. bob's wrapper gets SIGINT (Ctrl-C), alice's SIGTERM: each stops its
   phone, SIGTERMs its node and waits; each says the node left the ring
   gracefully (exit 0) and exits 0; alice's node log says "left the ring";
   both sippeer processes are gone; bob's temporary directory is removed;
   nothing was written to HOME (no ~/.baresip).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import ringlib
from baresip_test import Baresip, free_pair
from ringlib import check, log

WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "sippeer-softphone")


class Wrapper(Baresip):
    """A sippeer-softphone process; its baresip is driven over ctrl_tcp
    with the methods of baresip_test.Baresip (connect, command,
    wait_event), and its output (the wrapper's lines and baresip's) is
    read like a baresip log."""

    def __init__(self, cl, name, args, env):
        self.name = name
        self.ctrl_port = ringlib.free_port()
        self.sip_port = free_pair()
        self.log_path = os.path.join(cl.dir, name + ".out")
        self.out = open(self.log_path, "wb")
        cmd = ["bash", WRAPPER, "--sippeer", cl.sippeer, "--listen", "127.0.0.1", "--no-multicast",
               "--headless", "--ctrl-port", str(self.ctrl_port), "--sip-port", str(self.sip_port)] + args
        self.out.write(("### " + " ".join(cmd) + "\n").encode())
        self.out.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        self.events = []
        self.responses = {}
        self.lock = threading.Lock()
        self.sock = None
        self.n = 0

    def joined(self, timeout=30):
        """The wrapper's line saying its node joined: (pid, node address, admin port)."""
        pat = re.compile(r"sippeer \(pid (\d+)\) joined the ring as (\S+); admin API 127\.0\.0\.1:(\d+); log (\S+)")

        def seen():
            if self.proc.poll() is not None:
                raise ringlib.TestFailure(f"wrapper {self.name} exited with {self.proc.returncode}:\n{self.output()}")
            return pat.search(self.output())
        m, _ = ringlib.wait_until(seen, timeout, what=f"wrapper {self.name} to report its node joined")
        self.node_pid, self.node_address, self.admin_port, self.node_log = \
            int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        return self

    def lookup(self, aor):
        return ringlib.http_get(ringlib.LOCALHOST, self.admin_port, "/lookup?aor=" + urllib.parse.quote(aor))

    def finish(self, sig, timeout=45):
        """Sends sig to the wrapper and waits for it to exit."""
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # ends the reader thread
            except OSError:
                pass
            self.sock.close()
        os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ringlib.TestFailure(f"wrapper {self.name} still running {timeout} s after "
                                      f"{signal.Signals(sig).name}:\n{self.output()[-3000:]}")
        self.out.close()
        return rc

    def kill_all(self):
        """Last resort on failure: the wrapper and the node it started."""
        for pid in (self.proc.pid, getattr(self, "node_pid", None)):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if not self.out.closed:
            self.out.close()


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def body(args):
    check(shutil.which("baresip"), "baresip is not installed (apt-get install baresip-core)")
    check(shutil.which("linphonec"), "linphonec is not installed (apt-get install linphone-cli)")
    check(os.access(WRAPPER, os.X_OK), f"{WRAPPER} is not executable")
    h = subprocess.run(["bash", WRAPPER, "--help"], capture_output=True, text=True, timeout=10)
    check(h.returncode == 0 and h.stdout.startswith("usage: sippeer-softphone"), f"--help: {h.returncode} {h.stdout[:200]}")
    bad = subprocess.run(["bash", WRAPPER, "--sip-port", "x"], capture_output=True, text=True, timeout=10)
    check(bad.returncode == 1 and "--sip-port wants a number" in bad.stderr, f"--sip-port x: {bad.returncode} {bad.stderr}")
    log("--help exits 0 with the usage; a bad option exits 1 and says why")
    wrappers = []
    carol_procs = []
    with ringlib.Cluster(args.sippeer, "softphone", keep=args.keep) as cl:
        home = os.path.join(cl.dir, "home")
        os.makedirs(home)
        env = dict(os.environ, HOME=home, TMPDIR=cl.dir)
        try:
            alice_dir = os.path.join(cl.dir, "alice")
            alice_port = ringlib.free_port()
            alice = Wrapper(cl, "alice", ["-N", "--node-port", str(alice_port), "--config-dir", alice_dir,
                                          "--user", "sip:alice@example.com"], env)
            wrappers.append(alice)
            t0 = time.monotonic()
            alice.joined()
            check(alice.node_address == f"127.0.0.1:{alice_port}", f"alice's node is at {alice.node_address}")
            bob = Wrapper(cl, "bob", ["--bootstrap", alice.node_address, "--auto-answer",
                                      "--sippeer-arg=--stabilize-ms=500", "--user", "sip:bob@example.com"], env)
            wrappers.append(bob)
            bob.joined()
            log(f"both nodes joined {time.monotonic() - t0:.2f} s after alice's wrapper started: "
                f"alice {alice.node_address}, bob {bob.node_address} (a port sippeer picked)")

            for w in wrappers:
                w.connect(timeout=15)
            for user, w in (("alice", alice), ("bob", bob)):
                ringlib.wait_until(lambda: f"{user}@example.com: {{0/UDP/v4}} 200 OK" in w.output(), 15,
                                   what=f"{user}'s baresip to report its registration (200 OK)")
            code, lk = ringlib.wait_until(
                lambda: (lambda r: r if r[0] == 200 and any(f"127.0.0.1:{bob.sip_port}" in b
                                                            for b in r[1].get("bindings", [])) else None)(
                    alice.lookup("sip:bob@example.com")), 10,
                what="alice's node to find bob's binding")[0]
            log(f"both phones registered through their own nodes; alice's node finds bob: {lk.get('bindings')}")

            t1 = time.monotonic()
            r = alice.command("dial", "sip:bob@example.com")
            check(r.get("ok"), f"alice: dial refused: {r}")
            bob.wait_event("CALL_ESTABLISHED", 15, since=t1)
            alice.wait_event("CALL_ESTABLISHED", 15, since=t1)
            log(f"call alice -> bob established {time.monotonic() - t1:.2f} s after dialing (bob auto-answered)")
            ringlib.wait_until(lambda: all("incoming rtp for 'audio' established" in w.output() for w in wrappers),
                               5, what="RTP to flow both ways")
            log("RTP flowed both ways (sine tone, opus)")
            t2 = time.monotonic()
            r = alice.command("hangup")
            check(r.get("ok"), f"alice: hangup refused: {r}")
            alice.wait_event("CALL_CLOSED", 10, since=t2)
            bob.wait_event("CALL_CLOSED", 10, since=t2)
            log(f"alice hung up; both saw the call closed {time.monotonic() - t2:.2f} s later")

            # linphonec in a wrapper of its own, joining the same ring;
            # it gets typed commands through the wrapper's stdin.
            carol_out_path = os.path.join(cl.dir, "carol.out")
            carol_out = open(carol_out_path, "wb")
            carol = subprocess.Popen(["bash", WRAPPER, "--sippeer", cl.sippeer, "--listen", "127.0.0.1",
                                      "--no-multicast", "--bootstrap", alice.node_address,
                                      "--user", "sip:carol@example.com", "linphone"],
                                     stdin=subprocess.PIPE, stdout=carol_out, stderr=subprocess.STDOUT, env=env)
            carol_procs.append((carol, carol_out))

            def carol_text():
                with open(carol_out_path, errors="replace") as f:
                    return f.read()
            ringlib.wait_until(lambda: "joined the ring as" in carol_text() or carol.poll() is not None, 30,
                               what="carol's wrapper to report its node joined")
            check(carol.poll() is None, f"carol's wrapper exited {carol.returncode}:\n{carol_text()}")
            lk, _ = ringlib.wait_until(lambda: (lambda r: r[1]["bindings"] if r[0] == 200 and r[1].get("bindings")
                                                else None)(alice.lookup("sip:carol@example.com")), 15,
                                       what="alice's node to find carol's linphonec binding")
            log(f"linphonec (wrapper, linphone mode) registered carol through its own node: {lk}")
            # No call to carol: linphonec without a sound card (this
            # sandbox) answers every INVITE 503 itself (interop/linphone.md).
            ringlib.wait_until(lambda: "ports sip" in carol_text() and "register sip:carol@example.com" in carol_text(),
                               5, what="linphonec to echo the wrapper's ports/register commands")
            carol.stdin.write(b"quit\n")
            carol.stdin.flush()
            rc = carol.wait(timeout=45)
            check(rc == 0 and "left the ring gracefully (exit 0)" in carol_text(),
                  f"carol's wrapper after quit: exit {rc}:\n{carol_text()[-3000:]}")
            log("carol typed quit: linphonec exited, her node left the ring (exit 0), wrapper exited 0")

            bob_log_dir = os.path.dirname(bob.node_log)
            check(bob_log_dir.startswith(cl.dir), f"bob's private dir {bob_log_dir} is not under TMPDIR")
            for w, sig in ((bob, signal.SIGINT), (alice, signal.SIGTERM)):
                t3 = time.monotonic()
                rc = w.finish(sig)
                out = w.output()
                check(rc == 0, f"wrapper {w.name} exited {rc} after {sig.name}:\n{out[-3000:]}")
                check(f"sippeer (pid {w.node_pid}) left the ring gracefully (exit 0)" in out,
                      f"wrapper {w.name} did not report a graceful leave:\n{out[-3000:]}")
                check(gone(w.node_pid), f"{w.name}'s sippeer (pid {w.node_pid}) still runs")
                log(f"{sig.name} to {w.name}'s wrapper: phone stopped, node left the ring (exit 0), "
                    f"wrapper exited 0 in {time.monotonic() - t3:.2f} s")
            with open(os.path.join(alice_dir, "sippeer.log")) as f:
                node_log = f.read()
            check("left the ring" in node_log, f"alice's node log has no 'left the ring':\n{node_log[-2000:]}")
            check(os.path.isfile(os.path.join(alice_dir, "accounts")), "alice's --config-dir was not kept")
            check(not os.path.exists(bob_log_dir), f"bob's temporary dir {bob_log_dir} was left behind")
            check(os.listdir(home) == [], f"something was written to HOME: {os.listdir(home)}")
            log("alice's --config-dir kept, bob's temporary dir removed, HOME untouched")
        except ringlib.TestFailure:
            cl.failed = True
            for w in wrappers:
                print(f"--- wrapper {w.name} output:\n{w.output()[-5000:]}", file=sys.stderr)
            raise
        finally:
            for w in wrappers:
                if w.proc.poll() is None:
                    w.kill_all()
            for p, out in carol_procs:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGTERM)
                    try:
                        p.wait(timeout=40)
                    except subprocess.TimeoutExpired:
                        os.kill(p.pid, signal.SIGKILL)
                        p.wait(timeout=5)
                out.close()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
