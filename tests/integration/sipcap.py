"""Capturing the SIP datagrams that sippeer nodes exchange on loopback.

Neither tcpdump nor tshark is available, so this sniffs `lo` with an
AF_PACKET raw socket (root only; CI runs the integration tests as root)
and parses IPv4/UDP by hand. On loopback every datagram is seen twice,
once leaving (PACKET_OUTGOING) and once arriving (PACKET_HOST /
PACKET_MULTICAST); only the outgoing copy is kept.

    cap = Capture(ports={5061, 5062})   # UDP ports to keep (None = all)
    cap.start()
    ...
    cap.stop()
    for m in cap.messages(): print(m.summary())
"""

import os
import socket
import struct
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

# RFC 3261 7.3.3 compact forms.
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported", "s": "subject",
           "e": "content-encoding"}


class SipMessage:
    """One SIP message as text, with its headers split (multi-valued
    headers such as Via and Contact are split on top-level commas)."""

    def __init__(self, text, src, dst, when):
        self.text = text
        self.src = src          # "ip:port"
        self.dst = dst
        self.time = when
        head, _, self.body = text.replace("\r\n", "\n").partition("\n\n")
        # The body exactly as sent: what follows the first empty line.
        cut = [i for i in (text.find("\r\n\r\n"), text.find("\n\n")) if i >= 0]
        if not cut:
            self.raw_body = ""
        else:
            i = min(cut)
            self.raw_body = text[i + (4 if text.startswith("\r\n\r\n", i) else 2):]
        lines = head.split("\n")
        self.start_line = lines[0]
        self.headers = []       # [(lowercase name, value)] in order, values split
        self.header_lines = []  # [(name as written, raw value)] in order
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.header_lines:
                n, v = self.header_lines[-1]
                self.header_lines[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            self.header_lines.append((name.strip(), value.strip()))
        for name, value in self.header_lines:
            key = name.lower()
            key = COMPACT.get(key, key)
            if key in ("via", "contact"):
                for v in split_commas(value):
                    self.headers.append((key, v))
            else:
                self.headers.append((key, value))

    @property
    def is_request(self):
        return not self.start_line.startswith("SIP/2.0")

    @property
    def method(self):
        return self.start_line.split(" ", 1)[0] if self.is_request else None

    @property
    def request_uri(self):
        return self.start_line.split(" ")[1] if self.is_request else None

    @property
    def status(self):
        return None if self.is_request else int(self.start_line.split(" ")[1])

    def all(self, name):
        name = COMPACT.get(name.lower(), name.lower())
        return [v for k, v in self.headers if k == name]

    def get(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    def uri_of(self, name):
        """The URI inside <> of a To/From/Contact value."""
        v = self.get(name)
        return bracketed(v) if v else None

    def summary(self):
        to = self.get("to") or ""
        return f"{self.src} -> {self.dst}  {self.start_line}  To: {to}"

    def __str__(self):
        return f"--- {self.time:.3f} {self.src} -> {self.dst}\n{self.text.rstrip()}\n"


def bracketed(value):
    if value is None:
        return None
    lt = value.find("<")
    gt = value.find(">", lt + 1)
    return value[lt + 1:gt] if lt >= 0 and gt > lt else value.split(";", 1)[0].strip()


def header_params(value):
    """Parameters after the <uri> of a header value, as an ordered list of
    (name, raw value or None); quoted values keep their quotes."""
    gt = value.find(">")
    rest = value[gt + 1:] if gt >= 0 else value[value.find(";"):] if ";" in value else ""
    out = []
    for p in split_outside_quotes(rest, ";"):
        p = p.strip()
        if not p:
            continue
        n, eq, v = p.partition("=")
        out.append((n.strip().lower(), v.strip() if eq else None))
    return out


def split_outside_quotes(s, sep):
    parts, cur, q, depth = [], [], False, 0
    for c in s:
        if c == '"':
            q = not q
        elif not q and c == "<":
            depth += 1
        elif not q and c == ">":
            depth -= 1
        if c == sep and not q and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def split_commas(value):
    return [v.strip() for v in split_outside_quotes(value, ",") if v.strip()]


class Capture:
    def __init__(self, ports=None, interface="lo"):
        if os.geteuid() != 0:
            raise PermissionError("capturing packets needs root (AF_PACKET raw socket on lo); "
                                  "CI runs the integration tests as root")
        self.ports = set(ports) if ports is not None else None
        self.interface = interface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        # SO_RCVBUF is capped at net.core.rmem_max (often 208 KB); root may
        # force more. Other traffic on lo (a benchmark, a parallel test's
        # flood) must not push our packets out of the buffer.
        SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 * 1024 * 1024)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._messages = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors = []

    def add_ports(self, *ports):
        with self._lock:
            if self.ports is not None:
                self.ports.update(ports)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(262144)
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[2] != PACKET_OUTGOING:
                continue
            try:
                self._parse(data, time.monotonic())
            except Exception as e:  # noqa: BLE001 - keep capturing
                self.errors.append(repr(e))

    def _parse(self, frame, when):
        # lo frames carry a 14-byte Ethernet header (zero addresses).
        if len(frame) < 14 + 20 + 8 or struct.unpack("!H", frame[12:14])[0] != 0x0800:
            return
        ip = frame[14:]
        ver_ihl = ip[0]
        if ver_ihl >> 4 != 4:
            return
        ihl = (ver_ihl & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        proto = ip[9]
        frag = struct.unpack("!H", ip[6:8])[0]
        if proto != 17 or (frag & 0x3FFF) != 0:  # UDP, unfragmented (MTU 64 KiB on lo)
            return
        src_ip = socket.inet_ntoa(ip[12:16])
        dst_ip = socket.inet_ntoa(ip[16:20])
        udp = ip[ihl:total]
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        with self._lock:
            ports = None if self.ports is None else set(self.ports)
        if ports is not None and sport not in ports and dport not in ports:
            return
        payload = udp[8:ulen]
        text = payload.decode("utf-8", errors="replace")
        if not (text.startswith("SIP/2.0") or " SIP/2.0" in text.split("\n", 1)[0]):
            return
        msg = SipMessage(text, f"{src_ip}:{sport}", f"{dst_ip}:{dport}", when)
        with self._lock:
            self._messages.append(msg)

    def messages(self):
        with self._lock:
            return list(self._messages)

    def find(self, pred):
        return [m for m in self.messages() if pred(m)]

    def dump(self, msgs=None):
        return "\n".join(str(m) for m in (self.messages() if msgs is None else msgs))


# ------------------------------------------------------------ command line
#
#   python3 sipcap.py --ports 5060,5071 --out FILE
#
# captures until SIGTERM/SIGINT, then writes the messages to FILE as JSON
# ([{"time", "src", "dst", "text"}]). It exists so that a test can capture
# inside a network namespace: `ip netns exec NS python3 sipcap.py ...`.


class RemoteCapture:
    """The Capture API, run by a sipcap.py process inside a namespace."""

    def __init__(self, netns, ports, workdir):
        import subprocess
        import sys
        self.out = os.path.join(workdir, f"capture-{netns}.json")
        self.ready = self.out + ".ready"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, os.path.abspath(__file__),
             "--ports", ",".join(str(p) for p in sorted(ports)), "--out", self.out,
             "--ready", self.ready])
        self._messages = []

    def start(self):
        deadline = time.monotonic() + 5
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the capture process in the namespace did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        import json
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        try:
            with open(self.out) as f:
                self._messages = [SipMessage(m["text"], m["src"], m["dst"], m["time"]) for m in json.load(f)]
        except OSError:
            self._messages = []

    def messages(self):
        return list(self._messages)

    def dump(self, msgs=None):
        return "\n".join(str(m) for m in (self.messages() if msgs is None else msgs))


def _main():
    import argparse
    import json
    import signal
    ap = argparse.ArgumentParser(description="capture SIP datagrams on lo")
    ap.add_argument("--ports", default="", help="comma-separated UDP ports (default: all)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready", help="file created once capturing")
    a = ap.parse_args()
    ports = {int(p) for p in a.ports.split(",") if p} or None
    cap = Capture(ports).start()
    if a.ready:
        open(a.ready, "w").close()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(0.1)
    time.sleep(0.1)
    cap.stop()
    with open(a.out, "w") as f:
        json.dump([{"time": m.time, "src": m.src, "dst": m.dst, "text": m.text} for m in cap.messages()], f)


if __name__ == "__main__":
    _main()
