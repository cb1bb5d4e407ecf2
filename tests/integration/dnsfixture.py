"""The conventional SIP world for the DNS fork tests (python3 stdlib only).

  Dnsmasq   dnsmasq on 127.0.0.1:5353 serving test domains (NAPTR, SRV,
            A records given by the test), every query logged to a file so
            a test can count lookups. Names under .test that it was not
            given answer NXDOMAIN at once (--local=/test/).
  Kamailio  Kamailio 5.6 on 127.0.0.1:5090 as registrar and proxy for
            example.test (tests/integration/kamailio/example_test.cfg).
  resolv_conf(dir)  a resolv.conf for sippeer's dns.resolv_conf naming that
            server (Sofia's resolver reads the `port` line).

Both listen on fixed ports: every test that uses them takes the ctest
RESOURCE_LOCK `dns_fixture`. Both run in the foreground as children of the
test and are stopped by PID (SIGTERM, then SIGKILL).
"""

import os
import re
import signal
import socket
import subprocess
import time

import ringlib
from ringlib import TestFailure

HERE = os.path.dirname(os.path.abspath(__file__))
DNS_PORT = 5353
KAMAILIO_PORT = 5090
KAMAILIO_CFG = os.path.join(HERE, "kamailio", "example_test.cfg")


def resolv_conf(directory):
    path = os.path.join(directory, "resolv.conf")
    with open(path, "w") as f:
        f.write(f"nameserver 127.0.0.1\nport {DNS_PORT}\noptions timeout:1 attempts:1\n")
    return path


def _port_busy(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ringlib.LOCALHOST, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies
    (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class _Proc:
    def __init__(self, name, cmd, directory):
        self.name = name
        self.out_path = os.path.join(directory, f"{name}.out")
        self.out = open(self.out_path, "wb")
        self.out.write(("### " + " ".join(cmd) + "\n").encode())
        self.out.flush()
        # A process group of its own (Kamailio forks workers), killed whole
        # in stop(); and the kernel kills its leader if this test dies
        # without stopping it (a ctest timeout, an interrupted run), so no
        # fixture outlives its test and holds 5090/5353 against the next.
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers the leader left behind
        except (ProcessLookupError, PermissionError):
            pass
        if not self.out.closed:
            self.out.close()

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Dnsmasq(_Proc):
    """records: dnsmasq options without the leading --, e.g.
    "srv-host=_sip._udp.example.test,sip.example.test,5090"."""

    def __init__(self, directory, records):
        if _port_busy(DNS_PORT):
            raise TestFailure(f"udp 127.0.0.1:{DNS_PORT} is taken: another DNS fixture running "
                              f"outside the ctest lock 'dns_fixture'?")
        self.log_path = os.path.join(directory, "dnsmasq.queries.log")
        cmd = ["dnsmasq", "--no-daemon", f"--port={DNS_PORT}", "--listen-address=127.0.0.1",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-negcache", "--local=/test/",
               "--local-ttl=0", "--user=root", "--log-queries", f"--log-facility={self.log_path}",
               f"--pid-file={os.path.join(directory, 'dnsmasq.pid')}"]
        cmd += ["--" + r for r in records]
        super().__init__("dnsmasq", cmd, directory)
        ringlib.wait_until(lambda: self._answers(), 10, what="dnsmasq to answer on 127.0.0.1:5353")

    def _answers(self):
        if not self.alive():
            raise TestFailure(f"dnsmasq exited with {self.proc.returncode}:\n{self.output()}")
        return "query[" in self.log() or self._probe()

    def _probe(self):
        # A minimal DNS query for "probe.test" A; any reply means it is up.
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x05probe\x04test\x00" + b"\x00\x01\x00\x01"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(q, (ringlib.LOCALHOST, DNS_PORT))
            return bool(s.recv(512))
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def queries(self, qtype, name):
        """How many queries of qtype (NAPTR, SRV, A) for name it has logged."""
        return len(re.findall(rf"query\[{qtype}\] {re.escape(name)} from ", self.log()))


def _reap_leftover_kamailio():
    """Kamailio workers outlive a test that was killed (the kernel kills
    only the leader, PR_SET_PDEATHSIG is not inherited). Any Kamailio
    running this checkout's test config is such a leftover: within a ctest
    run the dns_fixture lock allows one fixture at a time."""
    subprocess.run(["pkill", "-KILL", "-f", f"kamailio -DD -E -f {KAMAILIO_CFG}"], check=False)
    try:
        ringlib.wait_until(lambda: not _port_busy(KAMAILIO_PORT), 3, what="a leftover Kamailio to release 5090")
    except TestFailure:
        pass  # not ours, then: the caller says the port is taken


class Kamailio(_Proc):
    def __init__(self, directory):
        if _port_busy(KAMAILIO_PORT):
            _reap_leftover_kamailio()
        if _port_busy(KAMAILIO_PORT):
            raise TestFailure(f"udp 127.0.0.1:{KAMAILIO_PORT} is taken: another Kamailio running "
                              f"outside the ctest lock 'dns_fixture'?")
        run = os.path.join(directory, "kamailio.run")
        os.makedirs(run, exist_ok=True)
        cmd = ["kamailio", "-DD", "-E", "-f", KAMAILIO_CFG, "-m", "64", "-M", "8",
               "-P", os.path.join(run, "kamailio.pid"), "-Y", run, "-w", run]
        super().__init__("kamailio", cmd, directory)
        self.address = f"{ringlib.LOCALHOST}:{KAMAILIO_PORT}"
        ringlib.wait_until(self._answers, 15, what="Kamailio to answer on 127.0.0.1:5090")

    def _answers(self):
        if not self.alive():
            raise TestFailure(f"kamailio exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ringlib.LOCALHOST, 0))
        s.settimeout(0.3)
        me = f"{ringlib.LOCALHOST}:{s.getsockname()[1]}"
        msg = (f"OPTIONS sip:probe@example.test SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKprobe{time.time_ns()}\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p\r\nTo: <sip:probe@example.test>\r\n"
               f"Call-ID: probe{time.time_ns()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), (ringlib.LOCALHOST, KAMAILIO_PORT))
            return s.recv(65535).startswith(b"SIP/2.0 ")
        except OSError:
            return False
        finally:
            s.close()
