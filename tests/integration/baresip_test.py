#!/usr/bin/env python3
"""Two real softphones (baresip 1.0) call each other through the ring.

Ring of 3, proxy.record_route on. Each baresip has a config dir of its own
(`baresip -f DIR`), listens on 127.0.0.1 only (`-n 127.0.0.1`), plays a
sine (aufile, from a WAV the test writes) and records to a WAV file (aufile), so no sound device is
needed, and is driven through its ctrl_tcp module (netstring JSON
commands; it also reports events such as REGISTER_OK, CALL_ESTABLISHED).

  bob    <sip:bob@example.com>;outbound="sip:<node A>";regint=60;answermode=auto
  alice  <sip:alice@example.com>;outbound="sip:<node B>";regint=60
         (A and B are the two nodes that do not own bob's key, so his
         REGISTER and alice's requests to him cross the ring; alice's
         contacts list bob)

1. Both register (each reports the 200; /lookup finds both bindings).
2. alice dials sip:bob@example.com: bob auto-answers;
   both report CALL_ESTABLISHED; the call is up for a second (RTP flows
   phone to phone); alice hangs up: both report CALL_CLOSED.
   Both received RTP ("incoming rtp ... established").
3. alice sends a MESSAGE to her current contact (bob) with the menu's
   `message` command: bob's output (stdio module) shows the text.
4. bob's baresip quits (and unregisters); alice sends another MESSAGE: the
   ring keeps it (issue 17); a new baresip registering as bob shows it.
5. alice watches zed (presence=p2p), who is not registered: baresip shows
   him Offline from the parked subscription's NOTIFY; when zed's baresip
   registers, the subscription is deactivated and alice's new SUBSCRIBE
   reaches zed's phone (issue 17, report 6.1).
As root, the SIP on lo is sniffed too: the INVITE reached bob from a node,
the BYE reached bob, the MESSAGE reached bob with the text as its body and
alice got its 200.
Each step is bounded in time; the processes are stopped by PID.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import math
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import wave

import ringlib
import sipcap
import sipplib
from ringlib import check, log

BARESIP = "baresip"


def free_pair():
    """A port p with p+1 free too: baresip listens for SIP on UDP and TCP
    at p and for TLS at p+1."""
    for _ in range(50):
        p = ringlib.free_port()
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port pair")


def write_tone(path, seconds=3, hz=440, rate=8000):
    """A 16-bit mono WAV sine for aufile to play as the microphone (ausine
    works at 48 kHz only, g711 needs 8 kHz)."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                      for i in range(seconds * rate))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


class Baresip:
    def __init__(self, cl, name, account, contacts=""):
        self.name = name
        self.dir = os.path.join(cl.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sip_port = free_pair()
        self.ctrl_port = ringlib.free_port()
        rtp = 20000 + (self.sip_port % 120) * 100  # below the ephemeral ports
        config = f"""poll_method		epoll
sip_listen		127.0.0.1:{self.sip_port}
call_local_timeout	30
call_max_calls		4
audio_player		aufile,{self.dir}/play.wav
audio_source		aufile,{self.dir}/tone.wav
audio_alert		aufile,{self.dir}/alert.wav
rtp_ports		{rtp}-{rtp + 99}
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			ausine.so
module			ctrl_tcp.so
module			stdio.so
module_app		account.so
module_app		contact.so
module_app		menu.so
module_app		presence.so
ctrl_tcp_listen		127.0.0.1:{self.ctrl_port}
"""
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write(config)
        write_tone(os.path.join(self.dir, "tone.wav"))
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(account + "\n")
        with open(os.path.join(self.dir, "contacts"), "w") as f:
            f.write(contacts)
        self.log_path = os.path.join(self.dir, "baresip.log")
        self.out = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BARESIP, "-f", self.dir, "-n", "127.0.0.1"], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
        self.events = []
        self.responses = {}
        self.lock = threading.Lock()
        self.sock = None
        self.n = 0

    def connect(self, timeout=5):
        def up():
            if self.proc.poll() is not None:
                raise ringlib.TestFailure(f"baresip {self.name} exited with {self.proc.returncode}:\n{self.output()}")
            return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
        self.sock, _ = ringlib.wait_until(up, timeout, what=f"baresip {self.name}'s ctrl_tcp port")
        self.sock.settimeout(None)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            while b":" in buf:
                head, _, rest = buf.partition(b":")
                if not head.isdigit():
                    buf = b""
                    break
                n = int(head)
                if len(rest) < n + 1:
                    break
                try:
                    msg = json.loads(rest[:n].decode(errors="replace"))
                except ValueError:
                    msg = {"raw": rest[:n].decode(errors="replace")}
                buf = rest[n + 1:]
                with self.lock:
                    if msg.get("event"):
                        self.events.append((time.monotonic(), msg))
                    elif msg.get("response"):
                        self.responses[msg.get("token")] = msg

    def command(self, command, params="", timeout=5):
        self.n += 1
        token = f"t{self.n}"
        j = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(j)).encode() + b":" + j + b",")
        got, _ = ringlib.wait_until(lambda: self.responses.get(token), timeout,
                                    what=f"baresip {self.name} to answer '{command} {params}'")
        return got

    def wait_event(self, etype, timeout, since=0.0):
        def seen():
            with self.lock:
                for t, e in self.events:
                    if t >= since and e.get("type") == etype:
                        return e
            return None
        try:
            return ringlib.wait_until(seen, timeout, what=f"{etype} from baresip {self.name}")[0]
        except ringlib.TestFailure:
            with self.lock:
                seen_types = [e.get("type") for _, e in self.events]
            raise ringlib.TestFailure(f"baresip {self.name}: no {etype} within {timeout:.0f} s "
                                      f"(events so far: {seen_types})\n--- its output:\n{self.output()[-3000:]}")

    def wait_registered(self, user, transport, timeout):
        """baresip registers at start-up, usually before ctrl_tcp is
        connected (so REGISTER_OK may never reach us): its output line for
        the 200 tells instead."""
        ringlib.wait_until(lambda: f"{user}@example.com: {{0/{transport}/v4}} 200 OK" in self.output(), timeout,
                           what=f"baresip {user} to report its registration over {transport} (200 OK)")

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if not self.out.closed:
            self.out.close()


def offline_kept(node):
    """sippeer_offline_kept_total on a node."""
    _, text = ringlib.http_get(node.listen, node.admin_port, "/metrics", timeout=5)
    for line in (text if isinstance(text, str) else "").splitlines():
        if line.startswith("sippeer_offline_kept_total "):
            return int(line.split()[1])
    return 0


def presence_metric(node, what):
    """sippeer_presence_<what>_total on a node."""
    _, text = ringlib.http_get(node.listen, node.admin_port, "/metrics", timeout=5)
    for line in (text if isinstance(text, str) else "").splitlines():
        if line.startswith(f"sippeer_presence_{what}_total "):
            return int(line.split()[1])
    return 0


def body(args):
    check(shutil.which(BARESIP), "baresip is not installed (apt-get install baresip-core)")
    # example.com is the ring's domain: a MESSAGE to an offline user of it
    # is kept (issue 17) rather than looked up in DNS too.
    config = {"proxy": {"record_route": True, "p2p_domains": ["example.com"]}}
    phones = []
    with ringlib.Cluster(args.sippeer, "baresip", keep=args.keep) as cl:
        try:
            nodes = sipplib.start_ring(cl, 3, config=config)
            # Both phones use nodes that do not own bob's key, so the call crosses the ring.
            owner = sipplib.owner_of(nodes, "sip:bob@example.com")
            a, b = [n for n in nodes if n is not owner]
            bob = Baresip(cl, "bob", f'<sip:bob@example.com>;outbound="sip:{a.address}";regint=60;answermode=auto')
            phones.append(bob)
            alice = Baresip(cl, "alice", f'<sip:alice@example.com>;outbound="sip:{b.address}";regint=60',
                            contacts='"Bob" <sip:bob@example.com>\n"Zed" <sip:zed@example.com>;presence=p2p\n')
            phones.append(alice)
            for p in phones:
                p.connect()
            for user, p in (("bob", bob), ("alice", alice)):
                p.wait_registered(user, "UDP", 10)
                code, lk = sipplib.lookup(nodes[1], f"sip:{user}@example.com")
                check(code == 200 and any(f"127.0.0.1:{p.sip_port}" in x for x in lk.get("bindings", [])),
                      f"/lookup of {user} after its 200 OK: {code} {lk}")
            log(f"bob registered through {a.name}, alice through {b.name} (200 OK, found by /lookup); "
                f"bob's key is owned by {owner.name}")

            # As root, sniff the SIP between phones and nodes to check the paths.
            cap = sipcap.Capture(ports={n.sip_port for n in nodes} | {bob.sip_port, alice.sip_port}).start() \
                if os.geteuid() == 0 else None
            t0 = time.monotonic()
            r = alice.command("dial", "sip:bob@example.com")
            check(r.get("ok"), f"alice: dial refused: {r}")
            e_bob = bob.wait_event("CALL_ESTABLISHED", 10, since=t0)
            e_alice = alice.wait_event("CALL_ESTABLISHED", 10, since=t0)
            log(f"call alice -> bob established {time.monotonic() - t0:.2f} s after dialing "
                f"(alice: {e_alice.get('param') or e_alice.get('peeruri')}, bob: {e_bob.get('peeruri')})")
            time.sleep(1.0)
            check(alice.proc.poll() is None and bob.proc.poll() is None, "a baresip exited during the call")
            for p in phones:
                check("incoming rtp for 'audio' established" in p.output(),
                      f"baresip {p.name} received no RTP during the call:\n{p.output()[-2000:]}")
            log("RTP flowed both ways")
            t1 = time.monotonic()
            r = alice.command("hangup")
            check(r.get("ok"), f"alice: hangup refused: {r}")
            alice.wait_event("CALL_CLOSED", 10, since=t1)
            e = bob.wait_event("CALL_CLOSED", 10, since=t1)
            log(f"alice hung up; bob saw the call closed ({e.get('param')!r}) {time.monotonic() - t1:.2f} s later")

            t2 = time.monotonic()
            text = f"hello bob through the ring {os.getpid()}"
            r = alice.command("message", text)
            check(r.get("ok"), f"alice: message refused: {r}")

            def delivered():
                return text in bob.output()
            ringlib.wait_until(delivered, 5, what=f"bob's output to show the MESSAGE {text!r}")
            log(f"MESSAGE alice -> bob delivered in {time.monotonic() - t2:.2f} s (bob printed it)")
            if cap:
                time.sleep(0.2)
                cap.stop()
                names = {n.address: n.name for n in nodes}
                names.update({f"127.0.0.1:{bob.sip_port}": "bob", f"127.0.0.1:{alice.sip_port}": "alice"})
                bob_addr = f"127.0.0.1:{bob.sip_port}"

                def path(method):
                    return [f"{names.get(m.src, m.src)}->{names.get(m.dst, m.dst)}" for m in cap.messages()
                            if m.is_request and m.method == method]
                check(any(m.is_request and m.method == "INVITE" and m.dst == bob_addr and m.src in names
                          and names[m.src] != "alice" for m in cap.messages()),
                      f"no INVITE reached bob from a node; INVITEs seen: {path('INVITE')}")
                check(any(m.is_request and m.method == "BYE" and m.dst == bob_addr for m in cap.messages()),
                      f"no BYE reached bob; BYEs seen: {path('BYE')}")
                msgs = [m for m in cap.messages() if m.is_request and m.method == "MESSAGE" and m.dst == bob_addr]
                check(msgs and msgs[0].raw_body.strip() == text,
                      f"the MESSAGE that reached bob: {[m.raw_body for m in msgs]}; MESSAGEs seen: {path('MESSAGE')}")
                oks = [m for m in cap.messages() if not m.is_request and m.status == 200 and
                       "MESSAGE" in (m.get("cseq") or "") and m.dst == f"127.0.0.1:{alice.sip_port}"]
                check(oks, "alice's MESSAGE got no 200")
                log(f"on the wire: INVITE {path('INVITE')}, BYE {path('BYE')}, MESSAGE {path('MESSAGE')} "
                    f"(200 back to alice)")
            # 4. Offline message (issue 17): bob quits (baresip unregisters),
            # alice writes to him, and a new baresip of bob's gets it when
            # it registers.
            bob.stop()
            ringlib.wait_until(lambda: not sipplib.lookup(nodes[0], "sip:bob@example.com")[1].get("bindings"), 5,
                               what="bob's binding to be removed when his baresip quits")
            kept_before = sum(offline_kept(n) for n in nodes)
            later = f"for bob while he is away {os.getpid()}"
            r = alice.command("message", later)
            check(r.get("ok"), f"alice: message refused: {r}")
            ringlib.wait_until(lambda: sum(offline_kept(n) for n in nodes) == kept_before + 1, 5,
                               what="the ring to keep alice's MESSAGE for the offline bob")
            t3 = time.monotonic()
            bob2 = Baresip(cl, "bob2", f'<sip:bob@example.com>;outbound="sip:{a.address}";regint=60')
            phones.append(bob2)
            bob2.connect()
            ringlib.wait_until(lambda: later in bob2.output(), 10,
                               what=f"bob's new baresip to show the kept MESSAGE {later!r}")
            log(f"bob offline: alice's MESSAGE kept (202); bob's new baresip showed it "
                f"{time.monotonic() - t3:.2f} s after starting")
            # 5. Presence (issue 17, report 6.1): alice watches zed
            # (presence=p2p in her contacts), who has never registered. His
            # registrar parks her SUBSCRIBE, and its NOTIFY's PIDF makes
            # baresip show zed Offline. When zed's baresip registers, the
            # parked subscription ends (deactivated): alice subscribes
            # again, and this time the SUBSCRIBE reaches zed's phone.
            def zed_status():
                c = alice.command("contacts").get("data", "")
                line = next((ln for ln in c.splitlines() if "sip:zed@example.com" in ln), "")
                return re.sub(r"\x1b\[[0-9;]*m", "", line)
            ringlib.wait_until(lambda: "Offline" in zed_status(), 10,
                               what="alice's baresip to show zed Offline (the parked subscription's NOTIFY)")
            parked = sum(presence_metric(n, "parked") for n in nodes)
            check(parked == 1, f"{parked} SUBSCRIBEs parked, expected alice's one")
            zed = Baresip(cl, "zed", f'<sip:zed@example.com>;outbound="sip:{b.address}";regint=60')
            phones.append(zed)
            zed.connect()
            ringlib.wait_until(lambda: "subscriber closed <sip:zed@example.com>: deactivated" in alice.output(), 10,
                               what="alice's baresip to see its subscription to zed deactivated")
            zed_owner = sipplib.owner_of(nodes, "sip:zed@example.com")
            ringlib.wait_until(lambda: zed_owner.log().count("SUBSCRIBE sip:zed@example.com: owner") >= 2, 15,
                               what="alice's baresip to subscribe to zed again")
            time.sleep(0.5)
            check(sum(presence_metric(n, "parked") for n in nodes) == 1 and
                  sum(presence_metric(n, "deactivated") for n in nodes) == 1,
                  "alice's second SUBSCRIBE to zed was parked again instead of reaching his phone")
            log(f"presence: zed shown Offline from the parked subscription ({zed_status().strip()}); zed registered: "
                "alice's subscription deactivated, her new SUBSCRIBE went to zed's phone")
            for n in nodes:
                check(n.alive(), f"{n.name} died")
        except ringlib.TestFailure:
            for p in phones:
                print(f"--- baresip {p.name} output:\n{p.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            for p in phones:
                p.stop()


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
