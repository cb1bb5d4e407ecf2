#!/usr/bin/env python3
"""Two real softphones from Debian, baresip and linphone (linphonec, the
console client of liblinphone), through a ring of 3, over UDP or TCP
(--transport; CTest runs both as interop.softphones.udp / .tcp).

  bob    baresip 1.0, <sip:bob@example.com>, outbound proxy node A,
         auto-answer; driven over its ctrl_tcp module (as
         tests/integration/baresip_test.py does), output on stdio.
  carol  linphonec, identity sip:carol@example.com, proxy (and route)
         node B, HOME and rc file of its own, no sound card ("soundcard
         use files"), auto-answer (-a); driven by commands on its stdin,
         its console output read back.
  A and B are the two nodes that do not own bob's key, and carol's key
  is owned by another node than B, so REGISTERs and calls cross the ring.
  UDP runs with proxy.record_route on, TCP with it off (in-dialog
  requests then go phone to phone over TCP).

1. both register: baresip prints its 200, linphonec "Registration on ...
   successful"; /lookup finds both bindings (with ;transport=tcp on TCP).
2. bob calls carol: carol auto-answers; bob reports CALL_ESTABLISHED,
   linphonec prints "Call N with ... connected"; bob hangs up: bob reports
   CALL_CLOSED, linphonec prints "... ended".
3. carol calls bob ("call sip:bob@example.com"): bob auto-answers, both
   report the call connected; carol hangs up ("terminate"): both report
   it closed.
4. carol sends bob a MESSAGE ("chat sip:bob@example.com ..."): bob's
   output shows the text. bob sends carol one (menu "message" to his
   current contact, carol): linphonec shows it received.
5. carol's linphonec quits (and unregisters); bob writes to her: the ring
   keeps the MESSAGE (issue 17); a new linphonec registering as carol
   shows it.
With --auth (CTest interop.softphones_auth.udp / .tcp) the ring runs
auth.mode provisioned (issue 13): bob and carol are provisioned with
passwords, baresip has auth_pass in its account, linphonec an
[auth_info_0] section; every step above must work through the
challenges (401 on REGISTER, 407 on INVITE and MESSAGE).
Every step is bounded in time; the phones are stopped by PID and must
exit cleanly (exit code 0 on quit/SIGTERM).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import os
import re
import shutil
import signal
import subprocess
import time

import interoplib  # noqa: F401  (sets sys.path for the integration helpers)
import baresip_test
import ringlib
import sipplib
from ringlib import check, log

LINPHONEC = "linphonec"


class Linphonec:
    """linphonec with a private HOME and rc file, fed commands on stdin."""

    def __init__(self, cl, name, identity, proxy, transport, password=None):
        self.name = name
        self.dir = os.path.join(cl.dir, name)
        home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(home, ".local", "share", "linphone"), exist_ok=True)
        self.sip_port = baresip_test.free_pair()
        rtp = 30000 + (self.sip_port % 120) * 100
        udp, tcp = (self.sip_port, 0) if transport == "udp" else (0, self.sip_port)
        rc = f"""[sip]
sip_port={udp}
sip_tcp_port={tcp}
sip_tls_port=0
use_ipv6=0
default_proxy=0
register_only_when_network_is_up=0
[rtp]
audio_rtp_port={rtp}-{rtp + 49}
video_rtp_port={rtp + 50}-{rtp + 99}
[sound]
echocancellation=0
[video]
capture=0
display=0
automatically_initiate=0
automatically_accept=0
[net]
firewall_policy=0
[misc]
enable_basic_to_client_group_chat_room_migration=0
[proxy_0]
reg_proxy=<sip:{proxy};transport={transport}>
reg_route=<sip:{proxy};transport={transport};lr>
reg_identity={identity}
reg_expires=120
reg_sendregister=1
publish=0
dial_escape_plus=0
"""
        if password:
            user = identity.split(":", 1)[1].split("@")[0]
            domain = identity.split("@", 1)[1]
            rc += (f"[auth_info_0]\nusername={user}\nuserid={user}\npasswd={password}\n"
                   f"realm={domain}\ndomain={domain}\n")
        self.rc = os.path.join(self.dir, "linphonerc")
        with open(self.rc, "w") as f:
            f.write(rc)
        self.log_path = os.path.join(self.dir, "linphonec.out")
        self.debug_path = os.path.join(self.dir, "linphonec.log")
        self.out = open(self.log_path, "wb")
        env = dict(os.environ, HOME=home)
        self.proc = subprocess.Popen(["stdbuf", "-oL", LINPHONEC, "-c", self.rc, "-a", "-S", "-d", "6", "-l", self.debug_path],
                                     stdin=subprocess.PIPE, stdout=self.out, stderr=subprocess.STDOUT, env=env)
        self.command("soundcard use files")

    def command(self, line):
        check(self.proc.poll() is None, f"linphonec {self.name} exited with {self.proc.returncode}:\n"
                                        f"{self.output()[-3000:]}")
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(ln for ln in f if not re.match(r"\d{4}-\d\d-\d\d \d", ln))
        except OSError:
            return ""

    def wait_output(self, pattern, timeout, after=0, what=None):
        """Until the console output (from offset `after`) matches; returns
        (match, offset after it)."""
        rx = re.compile(pattern)

        def seen():
            if self.proc.poll() is not None:
                raise ringlib.TestFailure(f"linphonec {self.name} exited with {self.proc.returncode}")
            return rx.search(self.output(), after)
        try:
            m, _ = ringlib.wait_until(seen, timeout, what=what or f"linphonec {self.name} to print /{pattern}/")
        except ringlib.TestFailure as e:
            raise ringlib.TestFailure(f"{e}\n--- linphonec {self.name} console:\n{self.output()[-3000:]}")
        return m, m.end()

    def wait_registered(self, timeout):
        """linphonec prints no event for a successful REGISTER: ask with
        'status register' until it says registered."""
        def registered():
            pos = len(self.output())
            self.command("status register")
            time.sleep(0.3)
            m = re.search(r"^registered, identity=.*$", self.output()[pos:], re.M)
            return m.group(0) if m else None
        try:
            return ringlib.wait_until(registered, timeout, interval=0.2,
                                      what=f"linphonec {self.name} to say 'registered'")[0]
        except ringlib.TestFailure as e:
            raise ringlib.TestFailure(f"{e}\n--- linphonec {self.name} console:\n{self.output()[-3000:]}")

    def stop(self):
        """quit on stdin; the exit code (0 is a clean exit)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if not self.out.closed:
            self.out.close()
        return self.proc.returncode


def body(args):
    transport = args.transport
    check(shutil.which(baresip_test.BARESIP), "baresip is not installed (apt-get install baresip-core)")
    check(shutil.which(LINPHONEC), "linphonec is not installed (apt-get install linphone-cli)")
    rr = transport == "udp"
    with ringlib.Cluster(args.sippeer, f"softphones-{transport}", keep=args.keep) as cl:
        bob = carol = None
        codes_seen = {}
        try:
            # example.com is the ring's domain: a MESSAGE to an offline
            # user of it is kept (issue 17) rather than looked up in DNS too.
            config = {"proxy": {"record_route": rr, "p2p_domains": ["example.com"]}}
            if args.auth:
                config.update(auth={"mode": "provisioned"}, overlay={"secret": "softphones-test-key"})
            nodes = sipplib.start_ring(cl, 3, config=config)
            if args.auth:
                for user in ("bob", "carol"):
                    sipplib.add_user(args.sippeer, nodes[0], user, f"{user}-password")
            auth_pass = ";auth_pass=bob-password" if args.auth else ""
            owner_bob = interoplib.owner(nodes, "bob")
            a, b = [n for n in nodes if n is not owner_bob]
            if interoplib.owner(nodes, "carol") is b:
                a, b = b, a
            tp = f";transport={transport}" if transport == "tcp" else ""
            bob = baresip_test.Baresip(
                cl, "bob", f'<sip:bob@example.com{tp}>;outbound="sip:{a.address}{tp}";regint=60;answermode=auto' + auth_pass,
                contacts='"Carol" <sip:carol@example.com>\n')
            carol = Linphonec(cl, "carol", "sip:carol@example.com", b.address, transport,
                              password="carol-password" if args.auth else None)
            bob.connect()
            ringlib.wait_until(lambda: f"bob@example.com: {{0/{transport.upper()}/v4}} 200 OK" in bob.output(), 15,
                               what=f"baresip bob to report its registration (200 OK) over {transport.upper()}")
            carol.wait_registered(15)
            # Over TCP both phones name their connection's port (linphone
            # with Via ;alias), not their listening port: only that
            # connection reaches them.
            for user, port in (("bob", bob.sip_port), ("carol", carol.sip_port)):
                code, lk = sipplib.lookup(nodes[0], f"sip:{user}@example.com")
                where = f"@127.0.0.1:{port}" if transport == "udp" else "@127.0.0.1:"
                check(code == 200 and any(where in x for x in lk.get("bindings", [])),
                      f"/lookup of {user} after its 200 OK: {code} {lk}")
                if transport == "tcp":
                    check(all("transport=tcp" in x.lower() for x in lk["bindings"]),
                          f"{user} registered over TCP but its binding is {lk['bindings']}")
            log(f"bob (baresip) registered through {a.name}, carol (linphonec) through {b.name}; "
                f"bob's key at {owner_bob.name}, carol's at {interoplib.owner(nodes, 'carol').name}; "
                f"{transport.upper()}, record_route {'on' if rr else 'off'}")

            # bob (baresip) calls carol (linphonec).
            t0 = time.monotonic()
            pos = len(carol.output())
            r = bob.command("dial", "sip:carol@example.com")
            check(r.get("ok"), f"bob: dial refused: {r}")
            bob.wait_event("CALL_ESTABLISHED", 15, since=t0)
            _, pos = carol.wait_output(r"Call (\d+) with \S+ connected", 15, pos)
            log(f"call bob -> carol established in {time.monotonic() - t0:.2f} s (baresip CALL_ESTABLISHED, "
                f"linphonec connected)")
            time.sleep(0.5)
            t1 = time.monotonic()
            check(bob.command("hangup").get("ok"), "bob: hangup refused")
            bob.wait_event("CALL_CLOSED", 10, since=t1)
            _, pos = carol.wait_output(r"Call \d+ with \S+ ended", 10, pos)
            log(f"bob hung up; carol saw the call end {time.monotonic() - t1:.2f} s later")

            # carol (linphonec) calls bob (baresip).
            t2 = time.monotonic()
            carol.command("call sip:bob@example.com")
            bob.wait_event("CALL_ESTABLISHED", 15, since=t2)
            _, pos = carol.wait_output(r"Call (\d+) with \S+ connected", 15, pos)
            log(f"call carol -> bob established in {time.monotonic() - t2:.2f} s")
            time.sleep(0.5)
            t3 = time.monotonic()
            carol.command("terminate")
            _, pos = carol.wait_output(r"Call \d+ with \S+ ended", 10, pos)
            bob.wait_event("CALL_CLOSED", 10, since=t3)
            log(f"carol hung up; bob saw the call closed {time.monotonic() - t3:.2f} s later")

            # MESSAGE both ways.
            t4 = time.monotonic()
            text = f"hello bob from linphone {os.getpid()}"
            carol.command(f'chat sip:bob@example.com "{text}"')
            ringlib.wait_until(lambda: text in bob.output(), 10, what=f"bob's output to show {text!r}")
            log(f"MESSAGE carol -> bob delivered in {time.monotonic() - t4:.2f} s")
            t5 = time.monotonic()
            text = f"hello carol from baresip {os.getpid()}"
            r = bob.command("message", text)
            check(r.get("ok"), f"bob: message refused: {r}")
            carol.wait_output("Message received from sip:bob@example.com: " + re.escape(text), 10, pos, what=f"linphonec carol to show {text!r}")
            log(f"MESSAGE bob -> carol delivered in {time.monotonic() - t5:.2f} s")
            # 5. Offline message (issue 17): carol quits (linphonec
            # unregisters), bob writes to her, and a new linphonec of
            # carol's shows the message once it registers.
            code = carol.stop()
            check(code == 0, f"linphonec carol exited with {code}")
            codes_seen["linphonec"] = code
            ringlib.wait_until(lambda: not sipplib.lookup(nodes[0], "sip:carol@example.com")[1].get("bindings"), 10,
                               what="carol's binding to be removed when linphonec quits")
            text = f"for carol while she is away {os.getpid()}"
            r = bob.command("message", text)
            check(r.get("ok"), f"bob: message refused: {r}")
            ringlib.wait_until(lambda: kept(nodes) == 1, 10, what="the ring to keep bob's MESSAGE for carol")
            t6 = time.monotonic()
            carol = Linphonec(cl, "carol2", "sip:carol@example.com", b.address, transport,
                              password="carol-password" if args.auth else None)
            carol.wait_output("Message received from sip:bob@example.com: " + re.escape(text), 15, 0,
                              what="carol's new linphonec to show the MESSAGE kept while she was away")
            log(f"carol offline: bob's MESSAGE kept (202); her new linphonec showed it "
                f"{time.monotonic() - t6:.2f} s after starting")
            for n in nodes:
                check(n.alive(), f"{n.name} died")
        except ringlib.TestFailure:
            for p in (bob,):
                if p:
                    print(f"--- baresip {p.name} output:\n{p.output()[-4000:]}", file=sys.stderr)
            if carol:
                print(f"--- linphonec carol console:\n{carol.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            codes = {}
            if carol:
                codes["linphonec"] = carol.stop()
            if bob:
                bob.stop()
                codes["baresip"] = bob.proc.returncode
        codes.update({f"first {k}": v for k, v in codes_seen.items()})
        check(all(c == 0 for c in codes.values()), f"the phones' exit codes: {codes} (expected 0)")
        log(f"both phones exited cleanly: {codes}")


def kept(nodes):
    """sippeer_offline_kept_total summed over the nodes."""
    total = 0
    for n in nodes:
        _, text = ringlib.http_get(n.listen, n.admin_port, "/metrics", timeout=5)
        for line in (text if isinstance(text, str) else "").splitlines():
            if line.startswith("sippeer_offline_kept_total "):
                total += int(line.split()[1])
    return total


def extra_args(ap):
    ap.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    ap.add_argument("--auth", action="store_true", help="auth.mode provisioned: both phones sign in")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args)
