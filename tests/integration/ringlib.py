"""Shared helpers for the sippeer integration tests (python3 stdlib only).

Every test starts real `sippeer` daemons on 127.0.0.1 with ports chosen
here, talks to their admin API (GET /status), and compares what they report
with the ring computed from the set of node ids:

    successor(k)      the first node id >= k, clockwise (wrapping)
    predecessor(n)    the node just before n
    successor list    the next min(r, N-1) nodes after n (r = 16)
    finger i          successor(n + 2^(i-1) mod 2^m), i = 1..m

A `Cluster` owns every process, state dir and log of one test: it lives in
a temp dir, stops each process it started by PID (SIGTERM, then SIGKILL
after 5 s) and prints the node logs when the test fails.
"""

import argparse
import ctypes
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

LOCALHOST = "127.0.0.1"
OVERLAY_DOMAIN = "sippeer.net"
EX_CONFIG = 78


class TestFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


# ----------------------------------------------------------------- ports

_handed_out = set()


def _bindable(host, port, kind):
    """Whether a socket of `kind` (SOCK_DGRAM, SOCK_STREAM) can bind port
    now; a TCP one with SO_REUSEADDR, as the daemons bind theirs."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _port_range():
    """Ports for the tests' daemons: the 12,000 below the kernel's ephemeral
    range (ip_local_port_range, 32768-60999 on Debian), which the kernel
    never hands out by itself. A port picked inside that range could be
    taken by any socket of any process (a resolver's, an HTTP client's)
    between the pick and the daemon's bind: CI saw baresip fail with
    "Address already in use" that way."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low < 14000:
        return None  # no room below: fall back to the kernel's choice
    return low - 12000, low - 3  # p + 2 stays below the range


_rng = random.Random(os.getpid() ^ time.time_ns())

# Ports this process has claimed from every other test process on the
# machine: a lock file per port, held (flock) until the process exits.
# Why: ctest runs two tests at once, and a port one test's killed node
# gave up could be handed to the other test's node while the first
# test's ring still remembered the address. The ring then found a live
# sippeer there and the two tests' rings merged (CI, 2026-12-06:
# integration.churn and integration.proxy_calls failed together, each
# with the other's nodes in its successor lists).
# The files stay: unlinking one while another process is about to flock
# it would let two processes hold "the" lock on one port. They are empty
# and at most one per port of _port_range() (12,000).
_PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "sippeer-test-ports")
_port_locks = []


def _claim(ports):
    """Locks every port in `ports` for this process, or none of them."""
    os.makedirs(_PORT_LOCK_DIR, exist_ok=True)
    held = []
    for p in ports:
        f = open(os.path.join(_PORT_LOCK_DIR, str(p)), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            for h in held:
                h.close()  # closing releases the lock
            return False
        held.append(f)
    _port_locks.extend(held)
    return True


def free_port(host=LOCALHOST):
    """A port free for both UDP and TCP on host (sip.tcp is on by default),
    never the same one twice in this process. The two ports above it are
    free for TCP too: a node with TLS listens on sip.port + 1, and one with
    the overlay over TLS on sip.port + 2."""
    span_range = _port_range()
    for _ in range(500):
        if span_range:
            port = _rng.randint(*span_range)
        else:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind((host, 0))
                port = u.getsockname()[1]
            except OSError:
                continue
            finally:
                u.close()
        span = (port, port + 1, port + 2)
        if port == 5060 or port + 2 > 65535 or any(p in _handed_out for p in span):
            continue
        if not _bindable(host, port, socket.SOCK_DGRAM) or \
                not all(_bindable(host, p, socket.SOCK_STREAM) for p in span):
            continue
        if not _claim(span):
            continue  # another test process's, even if nothing listens there now
        _handed_out.update(span)
        return port
    raise RuntimeError("no free port")


# ----------------------------------------------------------------- config


def yaml_text(cfg):
    """A nested dict of scalars/lists as YAML (enough for sippeer's config)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = []

    def walk(d, indent):
        for k, v in d.items():
            if isinstance(v, dict):
                lines.append(" " * indent + f"{k}:")
                walk(v, indent + 2)
            else:
                lines.append(" " * indent + f"{k}: {scalar(v)}")

    walk(cfg, 0)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- polling


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; returns (value, seconds).
    Raises TestFailure after `timeout` seconds. pred may raise: that counts
    as not yet (the last error is reported)."""
    start = time.monotonic()
    deadline = start + timeout
    last_err = None
    while True:
        try:
            v = pred()
            if v:
                return v, time.monotonic() - start
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last_err = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_err!r})" if last_err else ""
            raise TestFailure(f"timed out after {timeout:.1f} s waiting for {what}{extra}")
        time.sleep(interval)


# ----------------------------------------------------------------- HTTP


def http_get(host, port, path, timeout=3.0, netns=None):
    """(status, parsed JSON body or text). In a network namespace the
    request is made from a thread that entered it (in_netns)."""
    if netns:
        return in_netns(netns, lambda: http_get(host, port, path, timeout))
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def status(port, host=LOCALHOST, netns=None):
    """GET /status of the admin API on host:port, as a dict."""
    code, body = http_get(host, port, "/status", netns=netns)
    if code != 200 or not isinstance(body, dict):
        raise OSError(f"GET /status on {host}:{port}: {code} {body!r}")
    return body


def metric(node, name):
    """The value of an unlabelled metric in a node's GET /metrics."""
    code, text = http_get(node.listen, node.admin_port, "/metrics", netns=node.netns)
    check(code == 200, f"{node.name}: /metrics answered {code}")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise TestFailure(f"{node.name}: no {name} in /metrics")


# ----------------------------------------------------------------- ids


def id_of(node_json):
    """The integer id of a {"id": hex, ...} object from /status."""
    return int(node_json["id"], 16)


def uri_address(uri):
    """host:port of sip:<id>@host:port;node."""
    rest = uri.split(":", 1)[1]
    rest = rest.split("@", 1)[1] if "@" in rest else rest
    return rest.split(";", 1)[0].split(">", 1)[0]


def fmt_id(i, bits):
    """How the daemon writes an id in a URI: decimal when bits <= 64."""
    return str(i) if bits <= 64 else format(i, "0%dx" % ((bits + 3) // 4))


# ----------------------------------------------------------------- the model


def key_of(text, bits=160):
    """The ring key of a canonical user AOR: SHA-1, low `bits` bits."""
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) & ((1 << bits) - 1)


class RingModel:
    """The correct Chord state of every node, from the set of ids alone."""

    def __init__(self, ids, bits, successors=16):
        self.ids = sorted(set(ids))
        check(len(self.ids) == len(ids), f"duplicate ids in {ids}")
        self.bits = bits
        self.r = successors
        self.size = 1 << bits

    def successor(self, k):
        k %= self.size
        for i in self.ids:
            if i >= k:
                return i
        return self.ids[0]

    def predecessor(self, n):
        pos = self.ids.index(n)
        return self.ids[pos - 1]

    def successor_list(self, n):
        if len(self.ids) == 1:
            return [n]
        pos = self.ids.index(n)
        count = min(self.r, len(self.ids) - 1)
        return [self.ids[(pos + j) % len(self.ids)] for j in range(1, count + 1)]

    def finger_start(self, n, i):
        return (n + (1 << (i - 1))) % self.size

    def fingers(self, n):
        return [(i, self.finger_start(n, i), self.successor(self.finger_start(n, i)))
                for i in range(1, self.bits + 1)]

    def expected(self, n):
        return {
            "predecessor": self.predecessor(n),
            "successors": self.successor_list(n),
            "fingers": self.fingers(n),
        }


ALL_PARTS = ("predecessor", "successors", "fingers")


def diff_node(name, st, model, addresses, parts=ALL_PARTS):
    """Readable differences between one node's /status and the model.
    `addresses` maps id -> host:port, to check the URIs name the right node.
    `parts` limits the comparison to some of predecessor/successors/fingers."""
    out = []
    me = id_of(st["node"])
    bits = model.bits
    f = lambda i: fmt_id(i, bits)  # noqa: E731
    exp = model.expected(me)

    def ref(j):
        if j is None:
            return "null"
        return f"{f(id_of(j))}@{uri_address(j['uri'])}"

    def ok_ref(j, want):
        return j is not None and id_of(j) == want and (
            want not in addresses or uri_address(j["uri"]) == addresses[want])

    if st.get("state") != "joined":
        out.append(f"{name} ({f(me)}): state {st.get('state')!r}, expected 'joined'")
    if "predecessor" in parts and not ok_ref(st.get("predecessor"), exp["predecessor"]):
        out.append(f"{name} ({f(me)}): predecessor {ref(st.get('predecessor'))}, "
                   f"expected {f(exp['predecessor'])}@{addresses.get(exp['predecessor'], '?')}")
    got = st.get("successors") or []
    if "successors" in parts and (len(got) != len(exp["successors"]) or not all(
            ok_ref(g, w) for g, w in zip(got, exp["successors"]))):
        out.append(f"{name} ({f(me)}): successors [{', '.join(ref(g) for g in got)}], "
                   f"expected [{', '.join(f(w) for w in exp['successors'])}]")
    fingers = {x["index"]: x for x in st.get("fingers") or []}
    for i, start, want in exp["fingers"] if "fingers" in parts else []:
        x = fingers.get(i)
        if x is None:
            out.append(f"{name} ({f(me)}): finger {i} missing")
            continue
        if int(x["start"], 16) != start:
            out.append(f"{name} ({f(me)}): finger {i} start {x['start']}, expected {start:x}")
        if not ok_ref(x.get("node"), want):
            out.append(f"{name} ({f(me)}): finger {i} (start {f(start)}) -> {ref(x.get('node'))}, "
                       f"expected {f(want)}")
    return out


def ring_diff(nodes, bits=None, successors=16, parts=ALL_PARTS):
    """Diff of every node's /status against the ring computed from all their
    ids. Returns (diff lines, statuses); an unreachable node is a diff."""
    statuses, out = {}, []
    for n in nodes:
        try:
            statuses[n.name] = n.status()
        except Exception as e:  # noqa: BLE001
            out.append(f"{n.name}: /status failed: {e!r}")
    if out:
        return out, statuses
    ids = [id_of(s["node"]) for s in statuses.values()]
    if bits is None:
        bits = len(next(iter(statuses.values()))["fingers"])
    model = RingModel(ids, bits, successors)
    addresses = {id_of(s["node"]): s["node"]["address"] for s in statuses.values()}
    for n in nodes:
        out.extend(diff_node(n.name, statuses[n.name], model, addresses, parts))
    return out, statuses


def check_nobody_marked_dead(nodes, cause):
    """No node counted a failure (sippeer_failures_detected_total 0), and
    every successor list still holds every node: `cause` did not make the
    ring drop a live member."""
    failed = {n.name: metric(n, "sippeer_failures_detected_total") for n in nodes}
    check(not any(failed.values()), f"a live node was marked dead {cause}: {failed}")
    for n in nodes:
        st = n.status()
        check(len({uri_address(s["uri"]) for s in st["successors"]} | {n.address}) == len(nodes),
              f"{n.name} no longer has all {len(nodes)} nodes in its successor list: {st['successors']}")


def wait_consistent(nodes, timeout, bits=None, what="a consistent ring", interval=0.05,
                    parts=ALL_PARTS, start=None):
    """Polls until ring_diff is empty; returns the seconds it took, counted
    from `start` (a time.monotonic() value; default now), and the timeout
    counts from there too. On timeout the failure lists the last diff."""
    start = time.monotonic() if start is None else start
    deadline = start + timeout
    diff = ["never checked"]
    while True:
        diff, _ = ring_diff(nodes, bits, parts=parts)
        if not diff:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise TestFailure(f"no {what} after {timeout:.2f} s; still wrong:\n  " + "\n  ".join(diff))
        time.sleep(interval)


# ----------------------------------------------------------------- processes


class Node:
    def __init__(self, cluster, name, args, sip_port, admin_port, state_dir, log_path,
                 listen=LOCALHOST, netns=None):
        self.cluster = cluster
        self.name = name
        self.args = args
        self.sip_port = sip_port
        self.admin_port = admin_port
        self.state_dir = state_dir
        self.log_path = log_path
        self.listen = listen
        self.netns = netns
        self.proc = None
        self.exit_code = None

    @property
    def address(self):
        return f"{self.listen}:{self.sip_port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        cmd = list(self.args)
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.log_file = open(self.log_path, "ab")
        self.log_file.write(("### " + " ".join(cmd) + "\n").encode())
        self.log_file.flush()
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.exit_code = None
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        return status(self.admin_port, self.listen, netns=self.netns)

    def wait_up(self, timeout=10):
        """Until the admin API answers; fails at once if the process died."""
        def up():
            if not self.alive():
                raise TestFailure(f"{self.name} exited with {self.proc.returncode} during startup")
            return self.status()
        try:
            return wait_until(up, timeout, what=f"{self.name}'s admin API")[0]
        except TestFailure:
            if not self.alive():
                raise TestFailure(f"{self.name} exited with {self.proc.returncode} during startup")
            raise

    def wait_joined(self, timeout=10):
        def joined():
            if not self.alive():
                raise TestFailure(f"{self.name} exited with {self.proc.returncode}")
            s = self.status()
            return s if s.get("joined") else None
        try:
            return wait_until(joined, timeout, what=f"{self.name} to join")
        except TestFailure:
            if not self.alive():
                raise TestFailure(f"{self.name} exited with {self.proc.returncode}")
            raise

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.exit_code = self.proc.wait(timeout=5)

    def stop(self, grace=5.0):
        """SIGTERM (graceful leave), then SIGKILL after `grace` seconds.
        Returns the exit code (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def close_log(self):
        f = getattr(self, "log_file", None)
        if f and not f.closed:
            f.close()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """Every process, state dir and log of one test. Use as a context
    manager: on exit every process still running is stopped by PID, and
    the temp dir is removed unless the test failed (or keep=True)."""

    def __init__(self, sippeer, name="sippeer-it", keep=False):
        self.sippeer = os.path.abspath(sippeer)
        self.dir = tempfile.mkdtemp(prefix=name + "-")
        self.nodes = []
        self.keep = keep
        self.failed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.stop_all()
        if self.failed:
            # The failure first, then the logs newest node first: CI keeps
            # only the head and the tail of a long output, and the middle
            # is where run_test's closing FAIL line would otherwise sit.
            if exc is not None:
                print(f"\nFAIL (logs follow): {str(exc)[:4000]}", file=sys.stderr, flush=True)
            self.dump_logs()
        if not self.failed and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"(logs and state kept in {self.dir})", file=sys.stderr)
        return False

    def no_dns_resolv_conf(self):
        path = os.path.join(self.dir, "no-dns.resolv.conf")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("nameserver 127.0.0.1\nport 9\noptions timeout:1 attempts:1\n")
        return path

    def write_config(self, name, cfg):
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(yaml_text(cfg))
        return path

    def add(self, name, *, new_ring=False, bootstrap=(), id_bits=None, node_id=None,
            stabilize_ms=None, multicast=False, config=None, state_dir=None, sip_port=None,
            admin_port=None, log_level="info", listen=LOCALHOST, netns=None, extra=(),
            start=True):
        """Starts a node. `bootstrap` entries are Nodes or "host:port"
        strings. Multicast discovery is off unless multicast=True."""
        sip_port = sip_port if sip_port is not None else free_port()
        admin_port = admin_port if admin_port is not None else free_port()
        state_dir = state_dir or os.path.join(self.dir, name + ".state")
        os.makedirs(state_dir, exist_ok=True)
        args = [self.sippeer]
        if not listen.startswith("127."):
            # An admin API beyond loopback needs a token (admin_guard.h);
            # the tests' GETs need none.
            config = dict(config or {})
            config["admin"] = dict(config.get("admin", {}), token="test-admin-token")
        if config:
            args += ["--config", self.write_config(name, config)]
        args += ["-p", str(sip_port), "--listen", listen, "--admin", f"{listen}:{admin_port}",
                 "--state-dir", state_dir, "--log-level", log_level]
        if new_ring:
            args.append("-N")
        if not multicast:
            args.append("--no-multicast")
        for b in bootstrap:
            args += ["--bootstrap", b.address if isinstance(b, Node) else str(b)]
        if id_bits is not None:
            args += ["--id-bits", str(id_bits)]
        if node_id is not None:
            args += ["--node-id", str(node_id)]
        if stabilize_ms is not None:
            args += ["--stabilize-ms", str(stabilize_ms)]
        if not (config and "resolv_conf" in config.get("dns", {})) and "--resolv-conf" not in extra:
            # Phones' calls also go to DNS (proxy.lookup parallel): keep the
            # tests off the host's resolver and off real servers for
            # example.com. Port 9 on loopback refuses at once, so the DNS
            # branch ends in milliseconds. The DNS fork tests set their own.
            args += ["--resolv-conf", self.no_dns_resolv_conf()]
        args += list(extra)
        node = Node(self, name, args, sip_port, admin_port, state_dir,
                    os.path.join(self.dir, name + ".log"), listen=listen, netns=netns)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def restart(self, node, args=None):
        """Starts a stopped node again with the same (or new) arguments."""
        check(not node.alive(), f"{node.name} is still running")
        if args is not None:
            node.args = args
        node.close_log()
        return node.start()

    def stop_all(self):
        for n in reversed(self.nodes):
            try:
                n.stop()
            except Exception as e:  # noqa: BLE001
                print(f"stopping {n.name} (pid {n.pid}): {e!r}", file=sys.stderr)
            n.close_log()

    def dump_logs(self):
        for n in reversed(self.nodes):
            print(f"\n===== log of {n.name} ({n.address}, pid {n.pid}) =====", file=sys.stderr)
            print(n.log(), file=sys.stderr)


# ----------------------------------------------------------------- test driver


def run_test(description, body, extra_args=None):
    """Parses --sippeer (and --keep), runs body(args) and exits 0/1 with a
    readable message. body gets the parsed args."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--sippeer", required=True, help="path to the sippeer binary")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    if extra_args:
        extra_args(ap)
    args = ap.parse_args()
    check_binary = os.path.isfile(args.sippeer) and os.access(args.sippeer, os.X_OK)
    if not check_binary:
        print(f"FAIL: {args.sippeer} is not an executable", file=sys.stderr)
        sys.exit(1)
    t0 = time.monotonic()
    try:
        body(args)
    except TestFailure as e:
        print(f"\nFAIL: {e}", file=sys.stderr)
        print(f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)
        sys.exit(1)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print(f"\nFAIL: unexpected error ({time.monotonic() - t0:.1f} s)", file=sys.stderr)
        sys.exit(1)
    print(f"PASS ({time.monotonic() - t0:.1f} s)")
    sys.exit(0)


def log(msg):
    print(msg, flush=True)


def require_root(what):
    if os.geteuid() != 0:
        raise TestFailure(f"{what} needs root (CI runs the integration tests as root); "
                          f"run it as root, e.g. sudo ctest -L integration")


# ----------------------------------------------------------------- netns


_CLONE_NEWNET = 0x40000000


def in_netns(name, fn):
    """Runs fn() on a thread that has entered network namespace `name`
    (setns(2) changes only the calling thread's namespace) and returns its
    result. Sockets made there stay in that namespace for good, so a test
    can keep using them from any thread (RawPhone, a UDP socket, ...)."""
    result = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into {name}: {os.strerror(err)}")
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            result["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


class Netns:
    """A network namespace of our own with loopback up, multicast on and a
    route for 224.0.0.0/4 via lo, so that multicast discovery works between
    processes inside it. Deleted on exit whatever happens (root only)."""

    def __init__(self, prefix="sippeer"):
        self.name = f"{prefix}-{os.getpid()}"
        self.created = False

    def ip(self, *args, inside=True):
        cmd = ["ip", "netns", "exec", self.name, "ip"] + list(args) if inside else ["ip"] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise TestFailure(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        return r.stdout

    def __enter__(self):
        require_root("a test in a network namespace")
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)  # a leftover
        self.ip("netns", "add", self.name, inside=False)
        self.created = True
        self.ip("link", "set", "lo", "up")
        self.ip("link", "set", "lo", "multicast", "on")
        self.ip("route", "add", "224.0.0.0/4", "dev", "lo")
        return self

    def __exit__(self, *exc):
        if self.created:
            r = subprocess.run(["ip", "netns", "del", self.name], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"could not delete netns {self.name}: {r.stderr.strip()}", file=sys.stderr)
        return False


# ----------------------------------------------------------------- raw SIP


class SipClient:
    """A UDP socket that sends hand-written SIP to a node and collects the
    answers. "{me}" in a text payload becomes the client's own host:port
    and LF line ends become CRLF."""

    def __init__(self, host=LOCALHOST):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.n = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def exchange(self, node, payload, wait=0.4, until_final=False):
        """Sends one datagram to the node; returns the texts received within
        `wait` seconds (or, with until_final, up to the first final answer
        within `wait`)."""
        if isinstance(payload, str):
            payload = payload.replace("{me}", self.address).replace("\n", "\r\n").encode()
        address = node.address if isinstance(node, Node) else node
        host, port = address.rsplit(":", 1)
        self.sock.sendto(payload, (host, int(port)))
        deadline = time.monotonic() + wait
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                text = self.sock.recv(65535).decode(errors="replace")
            except socket.timeout:
                break
            got.append(text)
            if until_final and text.startswith("SIP/2.0 ") and not text.startswith("SIP/2.0 1"):
                break
        return got

    def register(self, node, to, frm, extra="", max_forwards=70):
        """A REGISTER to `node` (a Node or host:port) with the given To/From
        values and extra header lines."""
        self.n += 1
        address = node.address if isinstance(node, Node) else node
        return (f"REGISTER sip:{address} SIP/2.0\n"
                f"Via: SIP/2.0/UDP {{me}};branch=z9hG4bKtest{os.getpid()}x{self.n}\n"
                f"Max-Forwards: {max_forwards}\n"
                f"From: {frm};tag=t{self.n}\n"
                f"To: {to}\n"
                f"Call-ID: test{self.n}x{os.getpid()}@{{me}}\n"
                f"CSeq: {self.n} REGISTER\n"
                f"{extra}"
                f"Content-Length: 0\n\n")

    def store(self, node, aor, bindings, expires=3600, version=1, wait=3.0):
        """Stores a record through `node` with the overlay's Store REGISTER
        (report 3.14: From = To = the AOR, Contact = the bindings) plus
        P2P-Record-Version, which marks it as overlay traffic: there is no
        phone registrar in this build. Returns the final answer's text."""
        extra = "".join(f"Contact: {b}\n" for b in bindings)
        extra += f"Expires: {expires}\nP2P-Record-Version: {version}\n"
        got = self.exchange(node, self.register(node, f"<{aor}>", f"<{aor}>", extra), wait=wait,
                            until_final=True)
        finals = [g for g in got if g.startswith("SIP/2.0 ") and not g.startswith("SIP/2.0 1")]
        if not finals:
            raise TestFailure(f"storing {aor} through {address_of(node)}: no final answer in {wait} s")
        return finals[0]


def address_of(node):
    return node.address if isinstance(node, Node) else str(node)


def status_code(text):
    """The status code of a SIP response text."""
    return int(text.split(" ", 2)[1])


def sip_header(text, name):
    """First value of a header in a SIP message text (case-insensitive)."""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            break
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None
