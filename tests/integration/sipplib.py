"""Phones for the proxy/registrar integration tests (python3 stdlib only).

Three kinds of phone, all on 127.0.0.1:

  Sipp      one sipp process running a scenario from tests/integration/sipp/
            (its own local port, -nostdin, statistics and message logs in
            the test's temp dir); read its result with stats()/succeeded().
  RawPhone  a UDP socket that sends hand-written requests and answers
            requests itself (RFC 3261 at the level the test needs).
  start_ring()  a ring of N nodes with a given config, waited until its
            predecessors and successor lists are right.

A `Phones` context (inside a ringlib.Cluster) owns every sipp process:
on exit they are stopped by PID (never by name: `pkill sipp` would also
match sippeer), and when the test failed their error and message logs are
printed with the node logs.
"""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import ringlib
from ringlib import check

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "sipp")
DOMAIN = "example.com"
SIPP = "sipp"


def have_sipp():
    from shutil import which
    return which(SIPP) is not None


# ----------------------------------------------------------------- the ring


def start_ring(cl, n, *, config=None, stabilize_ms=500, log_level="debug", timeout=15):
    """N nodes: the first starts the ring, the others join through it.
    Returns them once every predecessor and successor list is right."""
    first = cl.add("n1", new_ring=True, stabilize_ms=stabilize_ms, config=config, log_level=log_level)
    first.wait_joined()
    nodes = [first]
    for i in range(2, n + 1):
        nodes.append(cl.add(f"n{i}", bootstrap=[first], stabilize_ms=stabilize_ms, config=config,
                            log_level=log_level))
    for node in nodes[1:]:
        node.wait_joined()
    ringlib.wait_consistent(nodes, timeout, what=f"a ring of {n}", parts=("predecessor", "successors"))
    return nodes


def lookup(node, aor):
    """(HTTP status, JSON) of GET /lookup?aor= on a node."""
    return ringlib.http_get(node.listen, node.admin_port, f"/lookup?aor={aor}", timeout=5)


def owner_of(nodes, aor):
    """The Node whose id /lookup names as the owner of aor."""
    code, body = lookup(nodes[0], aor)
    check(isinstance(body, dict) and body.get("node"), f"/lookup?aor={aor}: {code} {body}")
    owner_id = body["node"]["id"]
    for n in nodes:
        if n.alive() and n.status()["node"]["id"] == owner_id:
            return n
    raise ringlib.TestFailure(f"/lookup?aor={aor} names owner {body['node']} which is none of the nodes")


# ----------------------------------------------------------------- sipp


class Sipp:
    """One sipp process. `target` is a Node or host:port; `port` its own
    local port. The call count (-m) bounds it; `timeout` (-timeout) too."""

    def __init__(self, phones, name, scenario, target, port, *, service, calls=1, rate=None,
                 keys=None, timeout=30, extra=(), local_ip=ringlib.LOCALHOST, netns=None):
        self.name = name
        self.port = port
        self.dir = phones.cl.dir
        self.stf = os.path.join(self.dir, f"{name}.stats.csv")
        self.msg_file = os.path.join(self.dir, f"{name}.messages.log")
        self.err_file = os.path.join(self.dir, f"{name}.errors.log")
        self.out_file = os.path.join(self.dir, f"{name}.out")
        target = ringlib.address_of(target) if target is not None else None
        keys = dict({"domain": DOMAIN, "expires": 3600, "caller": "alice"}, **(keys or {}))
        cmd = [SIPP, "-sf", os.path.join(SCENARIOS, scenario), "-i", local_ip, "-p", str(port),
               "-s", service, "-m", str(calls), "-nostdin",
               "-trace_stat", "-stf", self.stf, "-fd", "1",
               "-trace_msg", "-message_file", self.msg_file,
               "-trace_err", "-error_file", self.err_file,
               "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "10000",
               "-max_recv_loops", "10000"]
        if rate is not None:
            cmd += ["-r", str(rate)]
        for k, v in keys.items():
            cmd += ["-key", k, str(v)]
        cmd += list(extra)
        if target:
            cmd.append(target)
        if netns:  # run inside a network namespace the test made
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.cmd = cmd
        self.out = open(self.out_file, "wb")
        self.out.write(("### " + " ".join(cmd) + "\n").encode())
        self.out.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir)
        self.started = time.monotonic()
        phones.procs.append(self)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """The exit code; a sipp still running after `timeout` s fails the test."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ringlib.TestFailure(f"sipp {self.name} still running after {timeout:.0f} s\n{self.tail()}")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if not self.out.closed:
            self.out.close()

    def stats(self):
        """The last line of the statistics file as a dict (cumulative
        counters end in '(C)')."""
        try:
            with open(self.stf, errors="replace") as f:
                lines = [ln.rstrip("\n") for ln in f if ln.strip()]
        except OSError:
            return {}
        if len(lines) < 2:
            return {}
        head = lines[0].split(";")
        last = lines[-1].split(";")
        return dict(zip(head, last))

    def counts(self):
        """(successful calls, failed calls), cumulative."""
        s = self.stats()
        return int(s.get("SuccessfulCall(C)", 0) or 0), int(s.get("FailedCall(C)", 0) or 0)

    def messages(self):
        try:
            with open(self.msg_file, errors="replace", newline="") as f:
                return f.read()
        except OSError:
            return ""

    def received(self):
        """The SIP messages sipp received, as texts (from its message log)."""
        out = []
        for block in re.split(r"\n-{10,} [^\n]*\n", "\n" + self.messages()):
            m = re.match(r"UDP message received \[\d+\] bytes :\n\n(.*)", block, re.S)
            if m:
                out.append(m.group(1))
        return out

    def tail(self, n=3000):
        parts = []
        for label, path in (("output", self.out_file), ("errors", self.err_file)):
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            if text.strip():
                parts.append(f"--- sipp {self.name} {label} ({path}):\n{text[-n:]}")
        return "\n".join(parts)

    def expect_all(self, calls, timeout, what):
        """Waits for the process; it must exit 0 and all `calls` calls must
        have succeeded."""
        rc = self.wait(timeout)
        ok, failed = self.counts()
        check(rc == 0 and ok == calls and failed == 0,
              f"{what}: sipp {self.name} exited {rc} with {ok} successful and {failed} failed calls "
              f"of {calls}\n{self.tail()}")
        return time.monotonic() - self.started


class Phones:
    """Owns the sipp processes (and raw phones) of one test."""

    def __init__(self, cl):
        self.cl = cl
        self.procs = []
        self.raw = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for p in self.procs:
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001
                print(f"stopping sipp {p.name} (pid {p.proc.pid}): {e!r}", file=sys.stderr)
        for r in self.raw:
            r.close()
        if exc_type is not None:
            for p in self.procs:
                if p.proc.returncode == 0:
                    continue  # its calls all succeeded: nothing to show
                t = p.tail()
                if t:
                    print(t, file=sys.stderr)
        return False

    def sipp(self, name, scenario, target, *, port=None, service="bob", **kw):
        return Sipp(self, name, scenario, target, port or ringlib.free_port(), service=service, **kw)

    def register(self, name, user, node, port, expires=3600, timeout=10):
        """Registers sip:user@example.com with Contact sip:user@127.0.0.1:port
        through `node` (a sipp run of register.xml from that port); waits for
        the 200 listing the contact."""
        s = self.sipp(f"{name}-register", "register.xml", node, port=port, service=user,
                      keys={"expires": expires}, timeout=timeout)
        s.expect_all(1, timeout + 5, f"registering {user} from port {port} through {node.name}")
        return s

    def raw_phone(self, user=None):
        p = RawPhone(user)
        self.raw.append(p)
        return p


# ----------------------------------------------------------------- raw SIP


def users_csv(path, prefix, n, order="SEQUENTIAL"):
    """A sipp -inf file of n users <prefix>00000...; order SEQUENTIAL
    (one per call, e.g. to register each) or RANDOM (traffic to any)."""
    with open(path, "w") as f:
        f.write(order + "\n" + "".join(f"{prefix}{i:05d}\n" for i in range(n)))
    return path


def scenario_path(name):
    """The absolute path of one of tests/integration/sipp/'s scenarios."""
    return os.path.join(SCENARIOS, name)


def add_user(sippeer, node, user, password, domain=None):
    """`sippeer ctl user add sip:USER@DOMAIN PASSWORD` on node (auth.mode
    provisioned), with the node's own admin token."""
    with open(os.path.join(node.state_dir, "admin.token")) as f:
        token = f.read().strip()
    r = subprocess.run([sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{node.admin_port}", "--token", token,
                        "user", "add", f"sip:{user}@{domain or DOMAIN}", password],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 0, f"ctl user add {user}: {r.stdout}{r.stderr}")


def with_digest(scenario_path, user, password, out_dir):
    """An auth.mode provisioned variant of a UAC scenario (issue 13): its
    first request is sent as written, the 401/407 is taken with
    auth="true" (an INVITE's is ACKed), and the request goes again with
    sipp's [authentication] and the next CSeq; every later CSeq is one more
    too, so the ACK still matches its INVITE. Returns the new file's path."""
    with open(scenario_path, encoding="iso-8859-1") as f:
        xml = f.read()
    m = re.search(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>\s*</send>", xml, re.S)
    check(m, f"{scenario_path}: no <send> to authenticate")
    request = m.group(1)
    method = request.strip().split()[0]
    code = "401" if method == "REGISTER" else "407"
    bump = lambda text: re.sub(r"(CSeq:\s*)(\d+)", lambda c: f"{c.group(1)}{int(c.group(2)) + 1}", text)
    authed = re.sub(r"(\n(\s*)CSeq:[^\n]*)", lambda c: bump(c.group(1)) + f"\n{c.group(2)}[authentication "
                    f"username={user} password={password}]", request, count=1)
    ack = ""
    if method == "INVITE":
        ack = """
  <send>
    <![CDATA[
      ACK """ + re.search(r"INVITE\s+(\S+)", request).group(1) + """ SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: """ + re.search(r"CSeq:\s*(\d+)", request).group(1) + """ ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>"""
    head = xml[:m.end()]
    tail = xml[m.end():]
    inserted = (f'\n  <recv response="100" optional="true"/>\n  <recv response="{code}" auth="true"/>{ack}\n'
                f'  <send retrans="500">\n    <![CDATA[{authed}]]>\n  </send>')
    out = os.path.join(out_dir, os.path.basename(scenario_path).replace(".xml", f"-auth-{user}.xml"))
    with open(out, "w", encoding="iso-8859-1") as f:
        f.write(head + inserted + bump(tail))
    return out


def status_line(text):
    return text.split("\r\n", 1)[0].split("\n", 1)[0]


def is_final(text):
    return text.startswith("SIP/2.0 ") and not text.startswith("SIP/2.0 1")


def header(text, name, compact=None):
    """First value of a header (case-insensitive; also its compact form)."""
    names = {name.lower()} | ({compact.lower()} if compact else set())
    for line in text.replace("\r\n", "\n").split("\n")[1:]:
        if not line:
            break
        n, sep, v = line.partition(":")
        if sep and n.strip().lower() in names:
            return v.strip()
    return None


def headers(text, name):
    out = []
    for line in text.replace("\r\n", "\n").split("\n")[1:]:
        if not line:
            break
        n, sep, v = line.partition(":")
        if sep and n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def body_of(text):
    i = text.find("\r\n\r\n")
    return text[i + 4:] if i >= 0 else ""


class RawPhone:
    """A UDP socket on 127.0.0.1 that speaks SIP by hand. Requests it builds
    carry its own Via/Contact; `recv()` returns the next message (request or
    response) within a timeout; `answer()` builds a response to a request."""

    def __init__(self, user=None, host=ringlib.LOCALHOST):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"{host}:{self.port}"
        self.user = user
        self.n = 0
        self.pending = []

    @property
    def contact(self):
        return f"<sip:{self.user}@{self.address}>" if self.user else f"<sip:{self.address}>"

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, to, text):
        """Sends text (LF line ends become CRLF unless already CRLF)."""
        if isinstance(text, str):
            if "\r\n" not in text:
                text = text.replace("\n", "\r\n")
            text = text.encode()
        host, port = ringlib.address_of(to).rsplit(":", 1)
        self.sock.sendto(text, (host, int(port)))

    def recv(self, timeout, pred=None):
        """The next message (text) matching pred within timeout, else None.
        Messages that do not match are kept for later calls."""
        for i, m in enumerate(self.pending):
            if pred is None or pred(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            text = data.decode(errors="replace")
            if pred is None or pred(text):
                return text
            self.pending.append(text)

    def new_branch(self):
        self.n += 1
        return f"z9hG4bK{os.getpid()}x{self.port}x{self.n}x{int(time.monotonic() * 1000) % 100000}"

    def request(self, method, ruri, *, to, frm=None, call_id=None, cseq=1, branch=None, from_tag=None,
                extra="", body="", content_type=None, max_forwards=70, contact=True):
        """The text of a request from this phone. contact: True = its own
        Contact, False = none, a string = that Contact value."""
        self.n += 1
        branch = branch or self.new_branch()
        frm = frm or self.contact.replace(f"@{self.address}", f"@{DOMAIN}")
        from_tag = from_tag if from_tag is not None else f"ft{self.port}x{self.n}"
        call_id = call_id or f"c{self.n}x{self.port}x{os.getpid()}@{ringlib.LOCALHOST}"
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.address};branch={branch};rport"]
        if max_forwards is not None:
            lines.append(f"Max-Forwards: {max_forwards}")
        lines += [f"From: {frm}" + (f";tag={from_tag}" if from_tag else ""),
                  f"To: {to}",
                  f"Call-ID: {call_id}",
                  f"CSeq: {cseq} {method}"]
        if contact:
            lines.append(f"Contact: {self.contact if contact is True else contact}")
        lines += [ln for ln in extra.replace("\r\n", "\n").split("\n") if ln]
        if body:
            lines.append(f"Content-Type: {content_type or 'text/plain'}")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def transact(self, node, text, timeout=5.0):
        """Sends a request to node; returns (provisionals, final or None).
        A final non-2xx to an INVITE is ACKed (same branch, hop by hop)."""
        if "\r\n" not in text:
            text = text.replace("\n", "\r\n")
        branch = re.search(r"branch=([^;\r\n]+)", text).group(1)
        call_id = header(text, "Call-ID")
        self.send(node, text)

        def mine(m):
            return m.startswith("SIP/2.0 ") and branch in (header(m, "Via", "v") or "") and \
                header(m, "Call-ID", "i") == call_id

        prov, final = [], None
        deadline = time.monotonic() + timeout
        while final is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            m = self.recv(left, mine)
            if m is None:
                break
            if is_final(m):
                final = m
            else:
                prov.append(m)
        if final is not None and text.startswith("INVITE ") and not final.startswith("SIP/2.0 2"):
            self.send(node, self.ack_for(text, final))
        return prov, final

    @staticmethod
    def ack_for(invite, final):
        """The hop-by-hop ACK for a non-2xx final answer (RFC 3261 17.1.1.3)."""
        first = invite.split("\r\n", 1)[0]
        ruri = first.split(" ")[1]
        lines = [f"ACK {ruri} SIP/2.0",
                 f"Via: {header(invite, 'Via')}",
                 "Max-Forwards: 70",
                 f"From: {header(invite, 'From')}",
                 f"To: {header(final, 'To', 't')}",
                 f"Call-ID: {header(invite, 'Call-ID')}",
                 f"CSeq: {header(invite, 'CSeq').split()[0]} ACK",
                 "Content-Length: 0"]
        return "\r\n".join(lines) + "\r\n\r\n"

    def answer(self, request, code, reason, *, to_tag=None, extra="", body="", content_type=None):
        """A response to a received request text, per RFC 3261 8.2.6."""
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in headers(request, "Via") + headers(request, "v")]
        for rr in headers(request, "Record-Route"):
            lines.append(f"Record-Route: {rr}")
        lines.append(f"From: {header(request, 'From', 'f')}")
        to = header(request, "To", "t")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines += [f"To: {to}", f"Call-ID: {header(request, 'Call-ID', 'i')}",
                  f"CSeq: {header(request, 'CSeq')}"]
        if code < 300 and request.startswith("INVITE "):
            lines.append(f"Contact: {self.contact}")
        lines += [ln for ln in extra.replace("\r\n", "\n").split("\n") if ln]
        if body:
            lines.append(f"Content-Type: {content_type or 'application/sdp'}")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def reply_to(self, request, source, code, reason, **kw):
        """Answers a received request: to the top Via's received/rport, else
        its sent-by (what nta expects), else `source`."""
        via = (headers(request, "Via") + headers(request, "v"))[0]
        m = re.match(r"SIP/2\.0/UDP\s+([^;\s]+)", via)
        addr = m.group(1) if m else source
        if ":" not in addr:
            addr += ":5060"
        rp = re.search(r";rport=(\d+)", via)
        rc = re.search(r";received=([^;\s]+)", via)
        if rp or rc:
            host, port = addr.rsplit(":", 1)
            addr = f"{rc.group(1) if rc else host}:{rp.group(1) if rp else port}"
        self.send(addr, self.answer(request, code, reason, **kw))
        return addr


class TcpPhone(RawPhone):
    """A phone on one TCP connection to one node: it registers over it (the
    node keeps a flow, RFC 5626, and reaches the phone through it) and
    sends, receives and answers everything on it, framed by
    Content-Length. `to` and `source` arguments are ignored."""

    def __init__(self, user, node):
        super().__init__(user)
        self.sock.close()
        host, port = ringlib.address_of(node).rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.address = f"{ringlib.LOCALHOST}:{self.port}"
        self.buf = b""

    @property
    def contact(self):
        return f"<sip:{self.user}@{self.address};transport=tcp>"

    def request(self, *a, **kw):
        return super().request(*a, **kw).replace("SIP/2.0/UDP", "SIP/2.0/TCP", 1)

    def send(self, to, text):
        if isinstance(text, str):
            if "\r\n" not in text:
                text = text.replace("\n", "\r\n")
            text = text.encode()
        self.sock.setblocking(True)
        self.sock.sendall(text)
        self.sock.setblocking(False)

    def reply_to(self, request, source, code, reason, **kw):
        self.send(None, self.answer(request, code, reason, **kw))

    def read_messages(self):
        """Whatever whole messages have arrived, without waiting."""
        try:
            data = self.sock.recv(65535)
        except BlockingIOError:
            data = b""
        self.buf += data
        out = []
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = self.buf[:head_end].decode(errors="replace")
            m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            end = head_end + 4 + (int(m.group(1)) if m else 0)
            if len(self.buf) < end:
                break
            out.append(self.buf[:end].decode(errors="replace").lstrip("\r\n"))
            self.buf = self.buf[end:]
        return out

    def recv(self, timeout, pred=None):
        """The next message (text) matching pred within timeout, else None;
        others are kept for later calls, as RawPhone.recv does."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.pending):
                if pred is None or pred(m):
                    return self.pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self.sock], [], [], left)
            self.pending.extend(self.read_messages())

    def transact(self, node, text, timeout=5.0):
        self.send(node, text)
        final = self.recv(timeout, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
        return [], final
