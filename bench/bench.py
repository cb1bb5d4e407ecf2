#!/usr/bin/env python3
"""sippeer beside Kamailio under the same sipp load (issue 7).

Used by bench/register.sh, proxy.sh, memory.sh (and memory.sh --relay),
overload.sh, secret.sh and the loopback half of overlay.sh; run one of those. Everything runs on loopback
addresses 127.0.0.48-127.0.0.59 (never 127.0.0.1, which the integration
tests use), in a temp dir of its own; every process started here is
stopped by PID at the end, and every sipp run is bounded by a count and a
timeout.

  servers   127.0.0.50:5060 Kamailio, 127.0.0.51.. sippeer nodes (:5060,
            admin API on :8060 of the same address; secret's second ring on
            .56, .57, .48, .49)
  sipp      127.0.0.58 (the load), 127.0.0.59 (the registered callee)

A rate passes when fewer than 0.1 % of the calls failed (a 503 counts as a
failure), fewer than 1 % of the requests sent were retransmissions, and
sipp reached at least 90 % of the asked rate. A sweep goes up the rates
until one fails twice in a row; the best rate is the last that passed.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
SCENARIOS = os.path.join(BENCH, "sipp")
KAMAILIO_CFG = os.path.join(BENCH, "kamailio-bench.cfg")
KAMAILIO_AUTH_CFG = os.path.join(BENCH, "kamailio-bench-auth.cfg")
SIPPEER_CFG = os.path.join(BENCH, "sippeer-bench.yaml")
DOMAIN = "bench.test"
KAM_IP = "127.0.0.50"
NODE_IPS = ["127.0.0.51", "127.0.0.52", "127.0.0.53", "127.0.0.54", "127.0.0.55"]
# The second ring of 4 of `secret` (beside NODE_IPS[1:5]).
SECRET_IPS = ["127.0.0.56", "127.0.0.57", "127.0.0.48", "127.0.0.49"]
UAC_IP = "127.0.0.58"
UAS_IP = "127.0.0.59"
RING_IP = "127.0.0.60"  # the 32-process loopback ring
SIP_PORT = 5060
ADMIN_PORT = 8060
USERS = 100_000
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Niceness of everything measured (servers and sipp alike), set by --nice.
# On a machine shared with compilers at nice 5, nice 0 gets ~15 % of a
# core and the figures are noise; both sides get the same priority.
NICE = 0
# sipp processes sharing the load (--uacs): one sipp tops out near 15,000
# calls/s here, below what the servers can take.
UACS = 2


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------- processes


class Run:
    """The run's temp dir and every process it started (stopped by PID)."""

    def __init__(self, keep=False):
        self.dir = tempfile.mkdtemp(prefix="sippeer-bench-")
        self.keep = keep
        self.procs = []

    def spawn(self, name, argv, cwd=None):
        out = open(os.path.join(self.dir, name + ".log"), "wb")
        if NICE:
            argv = ["nice", "-n", str(NICE)] + list(argv)
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=cwd or self.dir, process_group=0)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=10):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                # The session leader's group: Kamailio's children with it.
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def close(self):
        for p in reversed(list(self.procs)):
            self.stop(p)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log(f"kept {self.dir}")


def group_pids(leader):
    """The pids of a process group (a server and the children it forked)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (all threads)
        except (OSError, IndexError, ValueError):
            pass
    return total


def status_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids):
    return sum(status_field(p, "VmRSS") for p in pids)


def threads(pids):
    return sum(status_field(p, "Threads") for p in pids)


def udp_drops(ips):
    """Datagrams the kernel dropped so far (receive queue full) at UDP
    sockets bound to any of these addresses: `ss -uanm` skmem d<N>."""
    out = subprocess.run(["ss", "-uanm"], capture_output=True, text=True).stdout.splitlines()
    total = 0
    for i, line in enumerate(out[:-1]):
        m = re.search(r"\s(\d+\.\d+\.\d+\.\d+):\d+\s", line)
        if m and m.group(1) in ips:
            d = re.search(r",d(\d+)\)", out[i + 1])
            if d:
                total += int(d.group(1))
    return total


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg_at_start": [float(x) for x in load]}


def wait_for(what, fn, timeout=30.0, every=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}" + (f" (last error: {last!r})" if last else ""))


# --------------------------------------------------------------- servers


class Kamailio:
    label = "kamailio"

    def __init__(self, run, workers, cfg_path=KAMAILIO_CFG, db_dir=None):
        self.run = run
        self.workers = workers
        self.auth = db_dir is not None
        self.address = f"{KAM_IP}:{SIP_PORT}"
        self.ips = [KAM_IP]
        self.entry = self.address
        self.ctl = os.path.join(run.dir, "kamailio_ctl")
        cfg = open(cfg_path).read()
        cfg = cfg.replace("@LISTEN@", f"udp:{self.address}").replace("@CTL@", self.ctl).replace("@DB@", db_dir or "")
        path = os.path.join(run.dir, "kamailio.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.proc = run.spawn("kamailio", ["kamailio", "-DD", "-E", "-f", path, "-P",
                                           os.path.join(run.dir, "kamailio.pid"), "-m", "1024", "-M", "32",
                                           "-n", str(workers), "-Y", run.dir])
        wait_for("kamailio's ctl socket", lambda: self.kamcmd("core.uptime"), 20)

    def kamcmd(self, *args):
        r = subprocess.run(["kamcmd", "-s", "unix:" + self.ctl] + list(args), capture_output=True, text=True,
                           timeout=10)
        return r.stdout if r.returncode == 0 else None

    def shm_used(self, field="used"):
        out = self.kamcmd("core.shmmem") or ""
        m = re.search(r"\b" + field + r":\s*(\d+)", out)
        return int(m.group(1)) if m else None

    def pids(self):
        return group_pids(self.proc.pid)

    def describe(self):
        auth = ", auth module over an htable of the users" if self.auth else ""
        return f"Kamailio {kamailio_version()}, {self.workers} UDP workers{auth}"

    def stop(self):
        self.run.stop(self.proc)


def kamailio_version():
    out = subprocess.run(["kamailio", "-v"], capture_output=True, text=True).stdout
    m = re.search(r"kamailio (\S+)", out)
    return m.group(1) if m else "?"


class Ring:
    """n sippeer nodes as shipped (defaults), the first starting the ring."""

    label = "sippeer"

    def __init__(self, run, n, binary, extra=(), first_ip=0, ips=None, batch_reads=True):
        # batch_reads: what each node must report in /status udp_reader.batch_reads.
        self.run = run
        self.n = n
        self.nodes = []
        # One node on .51, a ring of 4 on .52-.55: both can run at once.
        self.ips = ips or NODE_IPS[first_ip:first_ip + n]
        for i in range(n):
            ip = self.ips[i]
            args = [binary, "-p", str(SIP_PORT), "--listen", ip, "--admin", f"{ip}:{ADMIN_PORT}",
                    "--state-dir", os.path.join(run.dir, f"state{ip}"), "--no-multicast"] + list(extra or ["--config", SIPPEER_CFG])
            args += ["-N"] if i == 0 else ["--bootstrap", f"{self.ips[0]}:{SIP_PORT}"]
            os.makedirs(os.path.join(run.dir, f"state{ip}"), exist_ok=True)
            self.nodes.append(run.spawn(f"sippeer{n}_{i}", args))
            wait_for(f"sippeer node {i} to join", lambda ip=ip: self.status(ip).get("joined"), 30)
            reads = self.status(ip).get("udp_reader", {}).get("batch_reads")
            if reads is not None and reads != batch_reads:
                raise RuntimeError(f"sippeer node {i}: udp_reader.batch_reads is {reads}, expected {batch_reads}")
        if n > 1:
            want = set(f"{ip}:{SIP_PORT}" for ip in self.ips)
            def consistent():
                for ip in self.ips:
                    s = self.status(ip)
                    succ = {x["uri"].split("@", 1)[1].split(";", 1)[0] for x in s["successors"]}
                    if not s.get("predecessor") or succ | {f"{ip}:{SIP_PORT}"} != want:
                        return False
                return True
            wait_for("the ring's successor lists", consistent, 60, 0.3)
        self.entry = f"{self.ips[0]}:{SIP_PORT}"

    @staticmethod
    def status(ip):
        with urllib.request.urlopen(f"http://{ip}:{ADMIN_PORT}/status", timeout=5) as r:
            return json.loads(r.read())

    @staticmethod
    def lookup(ip, aor):
        try:
            with urllib.request.urlopen(f"http://{ip}:{ADMIN_PORT}/lookup?aor={aor}", timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # 404: nobody registered, the owner is still named
            return json.loads(e.read())

    def pids(self):
        return [p.pid for p in self.nodes]

    def describe(self):
        cfg = "defaults + bench/sippeer-bench.yaml (bench.test is the ring's domain)"
        return f"sippeer, ring of {self.n}, {cfg}" if self.n > 1 else f"sippeer, one node (ring of 1), {cfg}"

    def stop(self):
        for p in self.nodes:
            self.run.stop(p)


# ------------------------------------------------------------------ sipp


def users_csv(run, n=USERS):
    path = os.path.join(run.dir, f"users{n}.csv")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(n):
                f.write(f"u{i:06d}\n")
    return path


def parse_sipp_time(s):
    # "00:00:03:012000" (h:m:s:usec) or "00:00:03"
    parts = s.split(":")
    h, m, sec = int(parts[0]), int(parts[1]), int(parts[2])
    frac = int(parts[3]) / 10 ** len(parts[3]) if len(parts) > 3 else 0
    return h * 3600 + m * 60 + sec + frac


def read_sipp_csv(path):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    head = lines[0].rstrip(";").split(";")
    last = lines[-1].rstrip(";").split(";")
    return dict(zip(head, last))


def sipp_uac(run, server, scenario, rate, count, tag, keys=(), csv=None, service=None, timeout_s=None,
             watch=None, uacs=None, auth_users=None):
    """One bounded sipp load run, split over `uacs` sipp processes (each
    rate/uacs, own port, own run key so their AORs differ); returns the
    summed figures, the server's CPU and sipp's own CPU."""
    uacs = uacs or UACS
    wd = os.path.join(run.dir, tag)
    timeout_s = timeout_s or int(count / rate) + 40
    procs = []
    spids = server.pids()
    c0, t0 = cpu_ticks(spids), time.monotonic()
    rss0 = rss_kb(spids)
    drops0 = (udp_drops(server.ips), udp_drops([UAS_IP]))
    for j in range(uacs):
        pwd = os.path.join(wd, str(j))
        os.makedirs(pwd, exist_ok=True)
        r_j = rate // uacs + (1 if j < rate % uacs else 0)
        m_j = count // uacs + (1 if j < count % uacs else 0)
        argv = ["sipp", server.entry, "-sf", os.path.join(SCENARIOS, scenario), "-i", UAC_IP, "-m", str(m_j),
                "-r", str(r_j), "-rp", "1000", "-l", str(max(1000, r_j * 40)), "-nostdin", "-trace_stat", "-stf",
                os.path.join(pwd, "stat.csv"), "-fd", "1", "-trace_counts", "-trace_rtt", "-rtt_freq", "1000",
                "-timeout", f"{timeout_s}s", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
                "-buff_size", str(4 << 20),
                "-key", "domain", DOMAIN]
        for k, v in keys:
            argv += ["-key", k, v + (f"p{j}" if k == "run" and uacs > 1 else "")]
        if scenario == "call_uac.xml":
            argv += ["-default_behaviors", "all,-abortunexp"]  # see the scenario's comment
        argv += os.environ.get("BENCH_SIPP_ARGS", "").split()  # e.g. -trace_err, when looking into failures
        if csv:
            argv += ["-inf", csv]
        if service:
            argv += ["-s", service]
        if auth_users:  # one provisioned user per sipp process: -s, and -au/-ap for [authentication]
            user = auth_users[j % len(auth_users)]
            argv += ["-s", user, "-au", user, "-ap", f"pw-{user}"]
        procs.append(run.spawn(f"{tag}_sipp{j}", argv, cwd=pwd))
    peak_rss = rss0
    samples = []
    sipp_ticks = {}
    while any(p.poll() is None for p in procs):
        time.sleep(0.25)
        r = rss_kb(spids)
        peak_rss = max(peak_rss, r)
        for p in procs:
            t = cpu_ticks([p.pid])
            if t:
                sipp_ticks[p.pid] = t
        if watch:
            samples.append((time.monotonic() - t0, r, cpu_ticks(spids)))
        if time.monotonic() - t0 > timeout_s + 20:
            for p in procs:
                run.stop(p)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(spids)
    nthreads = threads(spids)
    for p in procs:
        if p in run.procs:
            run.procs.remove(p)
    res = {"rate": rate, "count": count, "uacs": uacs, "wall_s": round(wall, 2),
           "server_cpu_pct": round(100.0 * (c1 - c0) / CLK / wall, 1),
           "sipp_cpu_pct": round(100.0 * sum(sipp_ticks.values()) / CLK / wall, 1),
           "server_procs": len(spids), "server_threads": nthreads,
           "server_rss_mb_before": round(rss0 / 1024, 1), "server_rss_mb_peak": round(peak_rss / 1024, 1)}
    ok = failed = retrans = created = sent = r503 = 0
    achieved = 0.0
    elapsed = 0.0
    rtts = []
    for j in range(uacs):
        pwd = os.path.join(wd, str(j))
        try:
            st = read_sipp_csv(os.path.join(pwd, "stat.csv"))
        except (OSError, IndexError):
            continue
        ok += int(st.get("SuccessfulCall(C)", 0))
        failed += int(st.get("FailedCall(C)", 0))
        retrans += int(st.get("Retransmissions(C)", 0))
        c = int(st.get("OutgoingCall(C)", 0))
        created += c
        e = parse_sipp_time(st.get("ElapsedTime(C)", "0:0:0"))
        elapsed = max(elapsed, e)
        # CallRate(C) is sipp's own calls-created per second, to the millisecond.
        achieved += float(st.get("CallRate(C)", 0) or 0) or (c / e if e else 0)
        counts = glob.glob(os.path.join(pwd, "*_counts.csv"))
        if counts:
            cc = read_sipp_csv(counts[0])
            r503 += sum(int(v) for k, v in cc.items() if re.match(r"\d+_503_Recv", k))
            sent += sum(int(v) for k, v in cc.items() if k.endswith("_Sent"))
        else:
            sent += c
        for path in glob.glob(os.path.join(pwd, "*_rtt.csv")):
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(";")
                    if len(parts) >= 2:
                        try:
                            rtts.append(float(parts[1]))
                        except ValueError:
                            pass
    res["sipp_elapsed_s"] = round(elapsed, 2)
    # Lost before anyone read them: at the server's sockets (it fell
    # behind) and at the callee's (sipp did).
    res["server_drops"] = udp_drops(server.ips) - drops0[0]
    res["callee_drops"] = udp_drops([UAS_IP]) - drops0[1]
    res["achieved_rate"] = round(achieved)
    res["r503"] = r503
    res["sent"] = sent
    res["retrans"] = retrans
    # A 503 ends the call as "successful" in the scenario; it is a failure
    # here, and so is every call sipp never finished.
    res["ok"] = ok - r503
    res["failed"] = failed + r503 + max(0, count - ok - failed)
    res["server_cpu_us_per_call"] = round((c1 - c0) / CLK * 1e6 / max(1, ok)) if ok else None
    rtts.sort()
    res["median_ms"] = round(statistics.median(rtts), 3) if rtts else None
    res["p99_ms"] = round(rtts[int(len(rtts) * 0.99)], 3) if rtts else None
    if watch:
        res["samples"] = samples
    if not os.environ.get("BENCH_KEEP_SIPP"):
        shutil.rmtree(wd, ignore_errors=True)
    return res


def passes(res):
    total = res["count"]
    return (res["failed"] < 0.001 * total and res["retrans"] < 0.01 * max(1, res["sent"])
            and res["achieved_rate"] >= 0.9 * res["rate"])


def show_step(label, res):
    mark = "ok" if passes(res) else "FAIL"
    log(f"  {label:9s} {res['rate']:>7d}/s  got {res.get('achieved_rate', 0):>6d}/s  "
        f"failed {res['failed']:>6d}  503 {res.get('r503', 0):>6d}  retrans {res['retrans']:>6d}  "
        f"median {res.get('median_ms')} ms  server CPU {res['server_cpu_pct']}%  sipp CPU {res['sipp_cpu_pct']}%  "
        f"RSS {res['server_rss_mb_peak']} MB  drops {res.get('server_drops', 0)}/{res.get('callee_drops', 0)}  {mark}")


def sweep(run, servers, scenario, rates, step_s, make_keys, kw_for=lambda server: {}):
    """Every server started at once; each rate is run against each server in
    turn (so the figures of a rate are taken seconds apart, under the same
    load from the rest of the machine), up the rates until a server fails a
    rate twice; then the median at half of each one's best rate."""
    state = {srv.label: {"best": None, "steps": [], "alive": True} for srv in servers}
    for i, rate in enumerate(rates):
        for srv in servers:
            st = state[srv.label]
            if not st["alive"]:
                continue
            kw = kw_for(srv)
            count = max(200, int(rate * step_s))
            if kw.get("csv"):
                count = min(count, USERS)
            res = None
            for attempt in range(2):
                res = sipp_uac(run, srv, scenario, rate, count, f"{srv.label}_{i}_{attempt}",
                               keys=make_keys(f"s{i}a{attempt}"), **kw)
                show_step(srv.label, res)
                st["steps"].append(res)
                if passes(res):
                    break
                time.sleep(2)
            if passes(res):
                st["best"] = res
            else:
                st["alive"] = False
            time.sleep(1)
        if not any(st["alive"] for st in state.values()):
            break
    out = {}
    for srv in servers:
        st = state[srv.label]
        best = st["best"]
        o = {"server": srv.describe(), "best_rate": best["rate"] if best else 0,
             "best": strip(best) if best else None, "steps": [strip(x) for x in st["steps"]]}
        if best:
            kw = kw_for(srv)
            half = max(100, best["rate"] // 2)
            count = max(200, int(half * step_s))
            if kw.get("csv"):
                count = min(count, USERS)
            res = sipp_uac(run, srv, scenario, half, count, f"{srv.label}_half", keys=make_keys("half"), **kw)
            show_step(srv.label + "/2", res)
            o["half_rate"] = half
            o["median_ms_at_half"] = res["median_ms"]
            o["p99_ms_at_half"] = res["p99_ms"]
            o["half"] = strip(res)
        out[srv.label] = o
    return out


def strip(res):
    return {k: v for k, v in res.items() if k != "samples"} if res else res


# ------------------------------------------------------------ the callee


def register_contact(registrar, user, contact_ip, contact_port, expires=3600):
    """REGISTER user@DOMAIN -> sip:user@contact from the contact's own port
    (so the binding is where the sipp UAS will listen), and wait for 200."""
    host, port = registrar.split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((contact_ip, contact_port))
    s.settimeout(1.0)
    branch = "z9hG4bK" + os.urandom(6).hex()
    msg = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {contact_ip}:{contact_port};branch={branch}\r\n"
           f"From: <sip:{user}@{DOMAIN}>;tag={os.urandom(4).hex()}\r\n"
           f"To: <sip:{user}@{DOMAIN}>\r\n"
           f"Call-ID: {os.urandom(8).hex()}@bench\r\nCSeq: 1 REGISTER\r\n"
           f"Contact: <sip:{user}@{contact_ip}:{contact_port}>\r\nMax-Forwards: 70\r\n"
           f"Expires: {expires}\r\nContent-Length: 0\r\n\r\n")
    try:
        for _ in range(5):
            s.sendto(msg.encode(), (host, int(port)))
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    data = s.recv(65535).decode(errors="replace")
                except socket.timeout:
                    break
                code = int(data.split(" ", 2)[1])
                if code >= 200:
                    if code != 200:
                        raise RuntimeError(f"REGISTER {user}: {data.splitlines()[0]}")
                    return
        raise RuntimeError(f"REGISTER {user}: no answer from {registrar}")
    finally:
        s.close()


def free_udp_port(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_callee(run, server, scenario, user):
    port = free_udp_port(UAS_IP)
    register_contact(server.entry, user, UAS_IP, port)
    wd = os.path.join(run.dir, "uas_" + server.label + str(port))
    os.makedirs(wd, exist_ok=True)
    p = run.spawn(f"uas{port}", ["sipp", "-sf", os.path.join(SCENARIOS, scenario), "-i", UAS_IP, "-p", str(port),
                                 "-nostdin", "-max_recv_loops", "10000", "-buff_size", str(4 << 20), "-timeout", "3600s"] + (["-trace_msg"] if os.environ.get("BENCH_TRACE") else []), cwd=wd)
    time.sleep(0.5)
    if p.poll() is not None:
        raise RuntimeError("the sipp callee did not start")
    return p


def remote_callee_name(ring, prefix):
    """A user whose binding lives on another node than the entry node."""
    entry = ring.ips[0]
    for i in range(200):
        user = f"{prefix}{i}"
        r = Ring.lookup(entry, f"sip:{user}@{DOMAIN}")
        owner = r["node"]["uri"].split("@", 1)[1].split(";", 1)[0]
        if owner != f"{entry}:{SIP_PORT}":
            return user, owner
    raise RuntimeError("no user owned by another node")


# ------------------------------------------------------------ benchmarks


def header(title, args):
    m = machine()
    log(f"== {title} on {m['nproc']} x {m['cpu']}, load average {m['loadavg_at_start']} at start, "
        f"servers and sipp at nice {NICE}")
    m["nice"] = NICE
    m["sipp_processes"] = UACS
    if m["loadavg_at_start"][0] > 0.5:
        log("   (the machine is shared and was busy: absolute figures are noisy; compare the ratios)")
    return m


def table(rows, cols):
    widths = [max(len(c), *(len(str(r.get(c, "-"))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "-")).rjust(w) for c, w in zip(cols, widths)))


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def resources(res):
    return f"{res['server_procs']} proc, {res['server_threads']} threads, {res['server_cpu_pct']}% CPU"


AB_IP = "127.0.0.56"  # --ab-reads: the one node whose UDP socket tport reads
AB_RING_IPS = ["127.0.0.57", "127.0.0.58", "127.0.0.59", "127.0.0.60"]  # and its ring of 4


def tport_reads_config(run, base_text):
    """A sippeer config file: `base_text` plus sip.batch_reads off."""
    path = os.path.join(run.dir, f"tport-reads-{len(os.listdir(run.dir))}.yaml")
    with open(path, "w") as f:
        f.write(base_text + "sip:\n  batch_reads: false\n")
    return path


def ab_reads_node(run, args, base_text, label):
    """--ab-reads: one more single node, the same but for sip.batch_reads
    off, swept step by step beside the others."""
    node = Ring(run, 1, args.sippeer, extra=("--config", tport_reads_config(run, base_text)), ips=[AB_IP],
                batch_reads=False)
    node.label = label
    return node


def cpu_at_common_rates(results, a, b):
    """(rate, CPU us/call of a, of b) at every rate both servers passed."""
    def passed(label):
        return {r["rate"]: r for r in results[label]["steps"] if passes(r)}
    pa, pb = passed(a), passed(b)
    return [(rate, pa[rate]["server_cpu_us_per_call"], pb[rate]["server_cpu_us_per_call"])
            for rate in sorted(set(pa) & set(pb))]


def report_ab_reads(results, batched, tport):
    """CPU per request of two sippeer servers alike but for sip.batch_reads,
    at every rate both passed, taken seconds apart: the A/B of the
    batched reader."""
    if batched not in results or tport not in results:
        return None
    rows = []
    for rate, ta, tb in cpu_at_common_rates(results, tport, batched):
        rows.append({"rate": rate, "tport reads us/call": ta, "batched reads us/call": tb,
                     "batched/tport": ratio(tb, ta)})
    print(f"A/B of the UDP reader ({batched} vs {tport}), steps both passed:")
    table(rows, ["rate", "tport reads us/call", "batched reads us/call", "batched/tport"])
    return rows


def report_cpu_ratio(results, mine, peer):
    """CPU per call of `peer` over `mine` at every rate both passed (the
    same load, seconds apart), and their median. On two cores shared with
    sipp the best rates stop telling servers apart once sipp itself
    needs a core (docs/BENCHMARKS.md); the CPU a call costs still does."""
    if mine not in results or peer not in results:
        return None
    rows = []
    for rate, ta, tb in cpu_at_common_rates(results, peer, mine):
        rows.append({"rate": rate, f"{peer} us/call": ta, f"{mine} us/call": tb, "ratio": ratio(ta, tb)})
    print(f"CPU per call at the rates both passed, {peer}/{mine}:")
    table(rows, ["rate", f"{peer} us/call", f"{mine} us/call", "ratio"])
    ratios = sorted(r["ratio"] for r in rows if r["ratio"])
    med = ratios[len(ratios) // 2] if len(ratios) % 2 else (
        round((ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2, 2) if ratios else None)
    return {"steps": rows, "median": med}


def start_servers(run, args):
    servers = [Kamailio(run, args.workers), Ring(run, 1, args.sippeer)]
    servers[0].label, servers[1].label = "kamailio", "sippeer_1"
    base_text = open(SIPPEER_CFG).read()
    if args.ab_reads:
        servers.append(ab_reads_node(run, args, base_text, "sippeer_1_tport"))
    if not args.no_ring:
        servers.append(Ring(run, 4, args.sippeer, first_ip=1))
        servers[-1].label = "sippeer_4"
        if args.ab_reads:
            servers.append(Ring(run, 4, args.sippeer, extra=("--config", tport_reads_config(run, base_text)),
                                ips=AB_RING_IPS, batch_reads=False))
            servers[-1].label = "sippeer_4_tport"
    return servers


def register_rows(results):
    """One table row per system of a REGISTER sweep (table() picks the columns)."""
    rows = []
    for name, r in results.items():
        b = r["best"] or {}
        rows.append({"system": name, "best REG/s": r["best_rate"], "median ms @half": r.get("median_ms_at_half"),
                     "CPU % @best": b.get("server_cpu_pct"), "CPU us/call": b.get("server_cpu_us_per_call"),
                     "procs": b.get("server_procs"), "threads": b.get("server_threads"),
                     "RSS MB @best": b.get("server_rss_mb_peak")})
    return rows


def bench_register(args):
    m = header("REGISTER for new AORs", args)
    rates = args.rates or ([4000, 10000, 16000, 22000, 28000, 34000] if args.quick else
                           [2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 18000, 20000, 22000, 24000, 26000,
                            28000, 30000, 33000, 36000, 40000])
    step_s = 2.0 if args.quick else 3.0
    results = {}
    run = Run(args.keep)
    try:
        csv = users_csv(run)
        keys = lambda run_id: [("run", run_id)]
        servers = start_servers(run, args)
        results = sweep(run, servers, "register_new.xml", rates, step_s, keys, lambda srv: {"csv": csv})
    finally:
        run.close()
    rows = register_rows(results)
    print(f"REGISTER, new AORs, sipp on the same {m['nproc']} cores; pass = <0.1% failed, <1% retransmitted")
    table(rows, ["system", "best REG/s", "median ms @half", "CPU % @best", "CPU us/call", "procs", "threads", "RSS MB @best"])
    k = results["kamailio"]["best_rate"]
    s1 = results["sippeer_1"]["best_rate"]
    summary = {"bench": "register", "machine": m, "quick": args.quick,
               "kamailio": results["kamailio"]["server"],
               "ratio_sippeer_1_vs_kamailio": ratio(s1, k), "goal": 1.5}
    print(f"ratio sippeer(1 node)/Kamailio: {ratio(s1, k)} (goal >= 1.5)")
    if "sippeer_4" in results:
        s4 = results["sippeer_4"]["best_rate"]
        summary["ratio_sippeer_4_vs_1"] = ratio(s4, s1)
        print(f"replication cost: a 4-node ring (k=3 replicas, 3/4 of REGISTERs one ring hop away) "
              f"sustains {ratio(s4, s1)} x the rate of one node")
    if args.ab_reads:
        summary["ab_reads"] = report_ab_reads(results, "sippeer_1", "sippeer_1_tport")
        if "sippeer_4_tport" in results:
            summary["ab_reads_ring"] = report_ab_reads(results, "sippeer_4", "sippeer_4_tport")
            print(f"best rates: ring of 4 with batched reads {results['sippeer_4']['best_rate']}/s, "
                  f"with tport reads {results['sippeer_4_tport']['best_rate']}/s")
    summary["results"] = {n: {kk: vv for kk, vv in r.items() if kk != "steps"} for n, r in results.items()}
    print(json.dumps(summary))


def bench_secret(args):
    """REGISTER/s through a ring of 4 with and without overlay.secret
    (issue 14: every overlay message signed and checked, goal < 10% lower),
    both rings up at once and swept rate by rate, so both see the same
    machine; Kamailio in the same run as the usual yardstick."""
    m = header("REGISTER through a 4-node ring, with and without overlay.secret", args)
    rates = args.rates or ([2000, 4000, 6000, 8000, 10000, 12000] if args.quick else
                           [2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 14000, 16000])
    step_s = 2.0 if args.quick else 3.0
    run = Run(args.keep)
    try:
        csv = users_csv(run)
        secret_cfg = os.path.join(run.dir, "secret.yaml")
        with open(secret_cfg, "w") as f:
            f.write(open(SIPPEER_CFG).read() + "overlay:\n  secret: bench-" + os.urandom(16).hex() + "\n")
        plain = Ring(run, 4, args.sippeer, first_ip=1)
        plain.label = "ring4"
        signed = Ring(run, 4, args.sippeer, extra=("--config", secret_cfg), ips=SECRET_IPS)
        signed.label = "ring4_secret"
        kam = Kamailio(run, args.workers)
        kam.label = "kamailio"
        results = sweep(run, [kam, plain, signed], "register_new.xml", rates, step_s, lambda rid: [("run", rid)],
                        lambda srv: {"csv": csv})
        signed_status = Ring.status(SECRET_IPS[0])
    finally:
        run.close()
    rows = register_rows(results)
    print(f"REGISTER, new AORs, through a ring of 4 (3/4 one hop away, 3 replicas), {m['nproc']} cores shared with sipp")
    table(rows, ["system", "best REG/s", "median ms @half", "CPU us/call", "RSS MB @best"])
    p, s_ = results["ring4"]["best_rate"], results["ring4_secret"]["best_rate"]
    auth = signed_status.get("overlay_auth", {})
    print(f"with overlay.secret / without: {ratio(s_, p)} (goal >= 0.9); "
          f"first node signed {auth.get('signed')} and accepted {auth.get('accepted')} overlay messages, "
          f"refused {sum((auth.get('refused') or {}).values())}")
    summary = {"bench": "secret", "machine": m, "quick": args.quick, "ratio_secret_vs_plain": ratio(s_, p),
               "ratio_secret_vs_kamailio": ratio(s_, results["kamailio"]["best_rate"]), "goal": 0.9,
               "overlay_auth_first_node": auth,
               "results": {n: {kk: vv for kk, vv in r.items() if kk != "steps"} for n, r in results.items()}}
    print(json.dumps(summary))


AUTH_USERS = 5_000


def auth_users(run, n=AUTH_USERS):
    """n users with passwords: the sipp CSV (name;password), the list for
    `sippeer ctl user import`, and Kamailio's db_text htable table."""
    names = [f"a{i:06d}" for i in range(n)]
    csv = os.path.join(run.dir, "auth_users.csv")
    with open(csv, "w") as f:
        f.write("SEQUENTIAL\n" + "".join(f"{u};pw-{u}\n" for u in names))
    imports = os.path.join(run.dir, "auth_users.txt")
    with open(imports, "w") as f:
        f.write("".join(f"sip:{u}@{DOMAIN} pw-{u}\n" for u in names))
    db = os.path.join(run.dir, "kamailio_db")
    os.makedirs(db, exist_ok=True)
    with open(os.path.join(db, "version"), "w") as f:
        f.write("table_name(str) table_version(int)\nhtable:2\n")
    with open(os.path.join(db, "htable"), "w") as f:
        f.write("id(int,auto) key_name(str) key_type(int) value_type(int) key_value(str) expires(int)\n")
        f.write("".join(f"{i + 1}:{u}:0:0:pw-{u}:0\n" for i, u in enumerate(names)))
    return csv, imports, db


def import_users(binary, ip, state_dir, imports):
    """`sippeer ctl user import` through one node; seconds taken."""
    with open(os.path.join(state_dir, "admin.token")) as f:
        token = f.read().strip()
    t0 = time.monotonic()
    r = subprocess.run([binary, "ctl", "--admin", f"{ip}:{ADMIN_PORT}", "--token", token, "user", "import", imports],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"ctl user import through {ip}: {r.stdout[-500:]}{r.stderr[-500:]}")
    return time.monotonic() - t0


def bench_auth(args):
    """Authenticated REGISTERs (issue 13): each call is a REGISTER, its 401
    and the REGISTER with the MD5 digest answer, by one of 5,000
    provisioned users per sipp process (sipp 3.6 cannot take digest users
    from its CSV). sippeer with auth.mode provisioned (one node; a ring of
    4 unless --no-ring) beside Kamailio's auth module over an htable of the
    same users, swept rate by rate in one run."""
    m = header("authenticated REGISTER (401, then the digest answer)", args)
    # Up to where both servers fail: a sweep both pass to its top says nothing of their ratio.
    rates = args.rates or ([4000, 8000, 16000, 24000, 32000] if args.quick else
                           [2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000, 24000, 28000, 32000, 36000, 40000])
    step_s = 2.0 if args.quick else 3.0
    run = Run(args.keep)
    try:
        csv, imports, db = auth_users(run)
        auth_cfg = os.path.join(run.dir, "auth.yaml")
        with open(auth_cfg, "w") as f:
            f.write(open(SIPPEER_CFG).read() + "auth:\n  mode: provisioned\n")
        kam = Kamailio(run, args.workers, KAMAILIO_AUTH_CFG, db)
        kam.label = "kamailio_auth"
        servers = [kam]
        one = Ring(run, 1, args.sippeer, extra=("--config", auth_cfg))
        one.label = "sippeer_1_auth"
        servers.append(one)
        took = {"sippeer_1_auth": import_users(args.sippeer, one.ips[0], os.path.join(run.dir, f"state{one.ips[0]}"),
                                               imports)}
        if args.ab_reads:
            ab = ab_reads_node(run, args, open(auth_cfg).read(), "sippeer_1_auth_tport")
            servers.append(ab)
            took[ab.label] = import_users(args.sippeer, AB_IP, os.path.join(run.dir, f"state{AB_IP}"), imports)
        if not args.no_ring:
            ring = Ring(run, 4, args.sippeer, extra=("--config", auth_cfg), first_ip=1)
            ring.label = "sippeer_4_auth"
            servers.append(ring)
            took["sippeer_4_auth"] = import_users(args.sippeer, ring.ips[0],
                                                  os.path.join(run.dir, f"state{ring.ips[0]}"), imports)
        log(f"imported {AUTH_USERS} users: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
        users = [f"a{i:06d}" for i in range(UACS)]
        results = sweep(run, servers, "register_auth.xml", rates, step_s, lambda rid: [],
                        lambda srv: {"auth_users": users})
    finally:
        run.close()
    rows = register_rows(results)
    print(f"authenticated REGISTER (REGISTER, 401, REGISTER with MD5 digest, 200), {AUTH_USERS} users provisioned, "
          f"one signing in per sipp process; sipp on the same {m['nproc']} cores; "
          f"pass = <0.1% failed, <1% retransmitted")
    table(rows, ["system", "best REG/s", "median ms @half", "CPU % @best", "CPU us/call", "RSS MB @best"])
    k = results["kamailio_auth"]["best_rate"]
    s1 = results["sippeer_1_auth"]["best_rate"]
    print(f"ratio sippeer(1 node, auth)/Kamailio(auth): {ratio(s1, k)} (goal >= 1.5)")
    cpu = report_cpu_ratio(results, "sippeer_1_auth", "kamailio_auth")
    if cpu:
        print(f"ratio of CPU per sign-in, Kamailio(auth)/sippeer(1 node, auth), median over those rates: "
              f"{cpu['median']} (goal >= 1.5)")
    summary = {"bench": "auth", "machine": m, "quick": args.quick, "users": AUTH_USERS,
               "import_s": {kk: round(v, 1) for kk, v in took.items()},
               "ratio_sippeer_1_vs_kamailio": ratio(s1, k), "goal": 1.5,
               "cpu_ratio_kamailio_vs_sippeer_1": cpu}
    if "sippeer_4_auth" in results:
        summary["ratio_sippeer_4_vs_kamailio"] = ratio(results["sippeer_4_auth"]["best_rate"], k)
    if args.ab_reads:
        summary["ab_reads"] = report_ab_reads(results, "sippeer_1_auth", "sippeer_1_auth_tport")
    summary["results"] = {n: {kk: vv for kk, vv in r.items() if kk != "steps"} for n, r in results.items()}
    print(json.dumps(summary))


def bench_proxy(args):
    m = header("proxied MESSAGE and INVITE calls", args)
    kinds = args.kinds
    rates = {"message": args.rates or ([2000, 4000, 6000, 8000, 10000, 12000] if args.quick else
                                       [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000,
                                        12000, 14000]),
             "invite": args.rates or ([500, 1000, 1500, 2000, 2500, 3000, 3500] if args.quick else
                                      [250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750, 3000,
                                       3500, 4000, 4500, 5000, 5500, 6000])}
    scen = {"message": ("message_uac.xml", "message_uas.xml"), "invite": ("call_uac.xml", "call_uas.xml")}
    step_s = 2.0 if args.quick else 3.0
    results = {}
    run = Run(args.keep)
    try:
        servers = start_servers(run, args)
        for kind in kinds:
            uac, uas = scen[kind]
            callees, users = [], {}
            for srv in servers:
                user, where = f"bob{kind[0]}", "local"
                if isinstance(srv, Ring) and srv.n > 1:
                    user, owner = remote_callee_name(srv, f"bob{kind[0]}")
                    where = f"owned by {owner}, entry {srv.entry}"
                callees.append(start_callee(run, srv, uas, user))
                users[srv.label] = (user, where)
                log(f"   {kind} on {srv.label}: callee {user}@{DOMAIN} ({where})")
            res = sweep(run, servers, uac, rates[kind], step_s, lambda run_id: [],
                        lambda srv: {"service": users[srv.label][0]})
            for label, r in res.items():
                r["callee"] = users[label][1]
                results[f"{label}/{kind}"] = r
            for c in callees:
                run.stop(c)
    finally:
        run.close()
    rows = []
    for name, r in results.items():
        b = r["best"] or {}
        rows.append({"system/kind": name, "best /s": r["best_rate"], "median ms @half": r.get("median_ms_at_half"),
                     "CPU % @best": b.get("server_cpu_pct"), "CPU us/call": b.get("server_cpu_us_per_call"), "procs": b.get("server_procs"),
                     "threads": b.get("server_threads"), "RSS MB @best": b.get("server_rss_mb_peak")})
    print(f"Proxied requests to a registered sipp callee, sipp on the same {m['nproc']} cores "
          f"(INVITE = INVITE/100/180/200/ACK/BYE/200)")
    table(rows, ["system/kind", "best /s", "median ms @half", "CPU % @best", "CPU us/call", "procs", "threads", "RSS MB @best"])
    summary = {"bench": "proxy", "machine": m, "quick": args.quick}
    # Issue 15's goals: one node (median of 3 runs) and the ring of four.
    goals = {"message": 1.5, "invite": 2.0}
    ring_goals = {"message": 1.2, "invite": 1.5}
    for kind in kinds:
        k = results[f"kamailio/{kind}"]["best_rate"]
        s1 = results[f"sippeer_1/{kind}"]["best_rate"]
        summary[f"ratio_{kind}_sippeer_1_vs_kamailio"] = ratio(s1, k)
        summary[f"goal_{kind}"] = goals[kind]
        line = f"{kind}: sippeer(1 node)/Kamailio {ratio(s1, k)} (goal >= {goals[kind]})"
        if f"sippeer_4/{kind}" in results:
            s4 = results[f"sippeer_4/{kind}"]["best_rate"]
            summary[f"ratio_{kind}_sippeer_4_vs_kamailio"] = ratio(s4, k)
            summary[f"goal_{kind}_ring"] = ring_goals[kind]
            line += f"; 4-node ring, callee on another node: {ratio(s4, k)} (goal >= {ring_goals[kind]})"
        print(line)
    summary["results"] = {n: {kk: vv for kk, vv in r.items() if kk != "steps"} for n, r in results.items()}
    print(json.dumps(summary))


def bench_memory(args):
    m = header("memory per registration", args)
    n = args.count
    rate = args.rate
    run = Run(args.keep)
    rows = []
    out = {"bench": "memory", "machine": m, "registrations": n}
    try:
        csv = users_csv(run)
        # Kamailio: shared memory (usrloc lives there) and RSS of all processes.
        kam = Kamailio(run, args.workers)
        time.sleep(1)
        shm0, real0, rss0 = kam.shm_used(), kam.shm_used("real_used"), rss_kb(kam.pids())
        res = sipp_uac(run, kam, "register_new.xml", rate, n, "kam_mem", keys=[("run", "m")], csv=csv)
        show_step("kamailio", res)
        time.sleep(2)
        shm1, real1, rss1 = kam.shm_used(), kam.shm_used("real_used"), rss_kb(kam.pids())
        ok = res["ok"]
        kam_shm = (shm1 - shm0) / ok if ok else None
        rows.append({"system": "kamailio", "registered": ok, "shm B/binding": round(kam_shm) if kam_shm else None,
                     "shm real_used B/binding": round((real1 - real0) / ok) if ok else None,
                     "RSS B/binding": round((rss1 - rss0) * 1024 / ok) if ok else None,
                     "RSS before MB": round(rss0 / 1024, 1), "RSS after MB": round(rss1 / 1024, 1)})
        out["kamailio"] = rows[-1]
        kam.stop()
        # sippeer: RSS of the one node, after the REGISTER transactions are gone.
        node = Ring(run, 1, args.sippeer)
        time.sleep(1)
        rss0 = rss_kb(node.pids())
        res = sipp_uac(run, node, "register_new.xml", rate, n, "sp_mem", keys=[("run", "m")], csv=csv)
        show_step("sippeer", res)
        rss_peak = res["server_rss_mb_peak"]
        time.sleep(2)
        rss1 = rss_kb(node.pids())
        ok = res["ok"]
        stored = Ring.status(node.ips[0])["stored"]["primary"]
        rows.append({"system": "sippeer_1", "registered": ok, "stored": stored,
                     "RSS B/binding": round((rss1 - rss0) * 1024 / ok) if ok else None,
                     "RSS before MB": round(rss0 / 1024, 1), "RSS after MB": round(rss1 / 1024, 1),
                     "RSS peak MB": rss_peak})
        out["sippeer_1"] = rows[-1]
        node.stop()
    finally:
        run.close()
    print(f"Memory after {n} REGISTERs of new AORs at {rate}/s (RSS read 2 s after the last answer)")
    table(rows, ["system", "registered", "shm B/binding", "shm real_used B/binding", "RSS B/binding", "RSS before MB", "RSS after MB",
                 "RSS peak MB"])
    k = out["kamailio"]["shm B/binding"]
    s = out["sippeer_1"]["RSS B/binding"]
    out["ratio_sippeer_rss_vs_kamailio_shm"] = ratio(s, k)
    out["goal"] = 0.5
    kr = out["kamailio"]["shm real_used B/binding"]
    out["ratio_sippeer_rss_vs_kamailio_shm_real_used"] = ratio(s, kr)
    print(f"ratio sippeer RSS per binding / Kamailio shm (used) per binding: {ratio(s, k)} (goal <= 0.5); "
          f"against shm real_used (with allocator overhead): {ratio(s, kr)}")
    print("(Kamailio's RSS sums its 7 processes, so shared pages count more than once: not comparable)")
    print(json.dumps(out))


def bench_relay_memory(args):
    """Memory a relayed MESSAGE holds: bob has --contacts phones (1: sippeer
    relays without a transaction; 2 or more: a fork, which both servers
    relay statefully), MESSAGEs to him at --rate for --seconds, each
    server's memory sampled every 0.5 s during the load and 25 s after.
    Kamailio's is its shared memory in use (its transactions live there),
    sippeer's its RSS. Per message: the growth over the load's first 3 s,
    before anything finished can have been freed (Timer K, 5 s), divided
    by the messages sent in them."""
    m = header(f"memory per relayed MESSAGE, bob with {args.contacts} contact(s)", args)
    rate, seconds = args.rate, args.seconds
    run = Run(args.keep)
    out = {"bench": "relaymemory", "machine": m, "contacts": args.contacts, "rate": rate, "seconds": seconds}
    rows = []
    try:
        for label in ("kamailio", "sippeer_1"):
            server = Kamailio(run, args.workers) if label == "kamailio" else Ring(run, 1, args.sippeer)
            server.label = label
            time.sleep(1)
            callees = [start_callee(run, server, "message_uas.xml", "bob") for _ in range(args.contacts)]
            if label == "kamailio":
                def memory():
                    return server.shm_used()
            else:
                def memory():
                    return rss_kb(server.pids()) * 1024
            base = memory()
            res = {}
            t = threading.Thread(target=lambda: res.update(
                sipp_uac(run, server, "message_uac.xml", rate, int(rate * seconds), f"{label}_relay",
                         service="bob")))
            t0 = time.monotonic()
            t.start()
            samples = []
            while t.is_alive() or time.monotonic() - t0 < seconds + 25:
                samples.append((time.monotonic() - t0, memory() - base))
                time.sleep(0.5)
            t.join()
            show_step(label, res)
            at3 = [g for ts, g in samples if ts <= 3.0][-1]
            peak = max(g for _, g in samples)
            after = [ts for ts, g in samples if ts > seconds and g <= 0.1 * peak]
            rows.append({"system": label, "ok": res.get("ok"), "failed": res.get("failed"),
                         "B/message (first 3 s)": round(at3 / (3.0 * rate)),
                         "peak growth MB": round(peak / 2**20, 1),
                         "back under 10% of peak, s after the load": round(after[0] - seconds, 1) if after else None})
            out[label] = dict(rows[-1], samples=[(round(ts, 1), g) for ts, g in samples])
            for c in callees:
                c.terminate()
            server.stop()
    finally:
        run.close()
    print(f"Memory held by relayed MESSAGEs ({rate}/s for {seconds:.0f} s; bob with {args.contacts} contact(s)); "
          "Kamailio: shared memory used, sippeer: RSS (which glibc does not give back, hence no fall)")
    table(rows, ["system", "ok", "failed", "B/message (first 3 s)", "peak growth MB",
                 "back under 10% of peak, s after the load"])
    out["ratio_sippeer_vs_kamailio_bytes_per_message"] = ratio(rows[1]["B/message (first 3 s)"],
                                                              rows[0]["B/message (first 3 s)"])
    print(f"ratio sippeer/Kamailio bytes per message: {out['ratio_sippeer_vs_kamailio_bytes_per_message']}")
    print(json.dumps(out))


def ring_refusals(ip):
    """503s a node's admission control answered so far (/metrics)."""
    with urllib.request.urlopen(f"http://{ip}:{ADMIN_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(int(float(l.rsplit(" ", 1)[1])) for l in text.splitlines()
               if l.startswith("sippeer_overload_refused_total{"))


def bench_overload(args):
    what = {"register": "REGISTER", "message": "proxied MESSAGE"}[args.kind]
    m = header(f"admission control at 2x the sustainable {what} rate", args)
    run = Run(args.keep)
    out = {"bench": "overload", "machine": m}
    try:
        big = 400_000
        csv = users_csv(run, big)
        rate = args.rate
        rows = []
        off_cfg = os.path.join(run.dir, "admission_off.yaml")
        with open(off_cfg, "w") as f:
            f.write(open(SIPPEER_CFG).read() + "overload:\n  max_backlog_kb: 0\n  max_transactions: 0\n")
        # Each load on a fresh node, so that one's backlog does not spill
        # into the next; the last with admission control off, for contrast.
        for label, r, extra in (("1x", rate, ()), ("2x", 2 * rate, ()),
                                ("2x, admission off", 2 * rate, ("--config", off_cfg))):
            nodes = args.nodes or 1
            node = Ring(run, nodes, args.sippeer, extra=extra, first_ip=1 if nodes > 1 else 0)
            node.label = f"sippeer_{nodes}"
            callee = None
            if args.kind == "message":
                user = remote_callee_name(node, "bobm")[0] if nodes > 1 else "bobm"
                callee = start_callee(run, node, "message_uas.xml", user)
                res = sipp_uac(run, node, "message_uac.xml", r, int(r * args.seconds), f"ovl{label[:2]}{len(rows)}",
                               service=user, watch=True)
            else:
                res = sipp_uac(run, node, "register_new.xml", r, min(big, int(r * args.seconds)),
                               f"ovl{label[:2]}{len(rows)}", keys=[("run", f"o{len(rows)}")], csv=csv, watch=True)
            if callee:
                run.stop(callee)
            show_step(label[:9], res)
            rss = [x[1] for x in res["samples"]]
            if nodes > 1:
                # Who refused: admission control counts at every node.
                res["refused_by_node"] = {ip: ring_refusals(ip) for ip in node.ips}
                log(f"   503s by node: {res['refused_by_node']}")
            rows.append({"load": label, "offered/s": r, "sipp got/s": res["achieved_rate"],
                         "200 OK": res["ok"], "200 OK/s": round(res["ok"] / res["wall_s"]),
                         "503": res["r503"], "other failures": res["failed"] - res["r503"],
                         "retrans": res["retrans"], "CPU %": res["server_cpu_pct"],
                         "median ms": res["median_ms"], "p99 ms": res["p99_ms"],
                         "RSS MB start": round(rss[0] / 1024, 1) if rss else None,
                         "RSS MB max": round(max(rss) / 1024, 1) if rss else None,
                         "RSS MB end": round(rss[-1] / 1024, 1) if rss else None})
            node.stop()
            time.sleep(1)
    finally:
        run.close()
    print(f"sippeer, {args.nodes or 1} node(s), {'REGISTERs for new AORs' if args.kind == 'register' else 'MESSAGEs to a registered sipp callee'}"
          " at the sustainable rate and at twice it")
    table(rows, ["load", "offered/s", "sipp got/s", "200 OK", "200 OK/s", "503", "other failures", "retrans",
                 "CPU %", "median ms", "p99 ms", "RSS MB start", "RSS MB max", "RSS MB end"])
    out["kind"] = args.kind
    out["rows"] = rows
    print(json.dumps(out))


def bench_ring_lookup(args):
    """32 sippeer processes on loopback: join time and GET /lookup latency."""
    n = args.nodes or 32
    run = Run(args.keep)
    out = {"bench": "overlay_loopback", "nodes": n}
    try:
        base = 20000
        procs = []
        first = (RING_IP, base)
        t0 = time.monotonic()
        join_times = []
        for i in range(n):
            ip = RING_IP
            port = base + i
            admin = 21000 + i
            a = [args.sippeer, "-p", str(port), "--listen", ip, "--admin", f"{ip}:{admin}", "--no-multicast",
                 "--state-dir", os.path.join(run.dir, f"s{i}"), "--log-level", "warn"]
            a += ["-N"] if i == 0 else ["--bootstrap", f"{first[0]}:{first[1]}"]
            os.makedirs(os.path.join(run.dir, f"s{i}"), exist_ok=True)
            ts = time.monotonic()
            procs.append((run.spawn(f"ring{i}", a), ip, admin))
            def joined():
                with urllib.request.urlopen(f"http://{ip}:{admin}/status", timeout=2) as r:
                    return json.loads(r.read()).get("joined")
            wait_for(f"node {i} to join", joined, 30, 0.01)
            join_times.append((time.monotonic() - ts) * 1000)
        build_s = time.monotonic() - t0
        # Consistent successor pointers all round, then lookups.
        def consistent():
            addrs = sorted((int.from_bytes(hashlib.sha1(f"{RING_IP}:{base + i}".encode()).digest(), "big"),
                            f"{RING_IP}:{base + i}") for i in range(n))
            want = {addrs[i][1]: addrs[(i + 1) % n][1] for i in range(n)}
            for p, ip, admin in procs:
                with urllib.request.urlopen(f"http://{ip}:{admin}/status", timeout=2) as r:
                    s = json.loads(r.read())
                me = s["node"]["address"]
                succ = s["successors"][0]["uri"].split("@", 1)[1].split(";", 1)[0]
                if succ != want[me]:
                    bad.append((me, succ, want[me]))
                    return False
            return True
        bad = []
        try:
            wait_for("a consistent ring", consistent, 60, 0.2)
        except RuntimeError:
            log(f"not consistent: {bad[-3:]}")
            raise
        consistent_s = time.monotonic() - t0
        lat = []
        hops = []
        for j in range(args.lookups):
            p, ip, admin = procs[j % n]
            ts = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://{ip}:{admin}/lookup?aor=sip:nobody{j}@{DOMAIN}",
                                            timeout=5) as r:
                    body = r.read()
            except urllib.error.HTTPError as e:  # 404: nobody registered that user
                body = e.read()
            lat.append((time.monotonic() - ts) * 1000)
            try:
                hops.append(json.loads(body)["hops"])
            except (ValueError, KeyError):
                pass
    finally:
        run.close()
    lat.sort()
    out.update({"join_ms_median": round(statistics.median(join_times), 1), "join_ms_max": round(max(join_times), 1),
                "ring_built_s": round(build_s, 2), "ring_consistent_s": round(consistent_s, 2),
                "lookups": len(lat), "lookup_ms_p50": round(lat[len(lat) // 2], 2),
                "lookup_ms_p99": round(lat[int(len(lat) * 0.99)], 2),
                "mean_hops": round(statistics.mean(hops), 2) if hops else None})
    print(f"loopback ring of {n} sippeer processes (127.0.0.60, defaults): join {out['join_ms_median']} ms median, "
          f"{out['join_ms_max']} ms max; all {n} joined in {out['ring_built_s']} s, successors all right after "
          f"{out['ring_consistent_s']} s; GET /lookup p50 {out['lookup_ms_p50']} ms, p99 {out['lookup_ms_p99']} ms, "
          f"mean {out['mean_hops']} hops ({len(lat)} lookups)")
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["register", "proxy", "memory", "relaymemory", "overload", "ringlookup", "secret",
                                     "auth"])
    ap.add_argument("--sippeer", default=os.path.join(TOP, "build", "sippeer"))
    ap.add_argument("--quick", action="store_true", help="fewer, shorter steps")
    ap.add_argument("--no-ring", action="store_true", help="skip the 4-node ring")
    ap.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], help="comma-separated rates")
    ap.add_argument("--kinds", type=lambda s: s.split(","), default=["message", "invite"])
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="Kamailio UDP workers (default: cores)")
    ap.add_argument("--count", type=int, default=USERS, help="memory: registrations")
    ap.add_argument("--rate", type=int, default=5000, help="memory: REGISTER rate; relaymemory: MESSAGE rate; overload: the sustainable rate")
    ap.add_argument("--seconds", type=float, default=5.0, help="overload, relaymemory: seconds per load")
    ap.add_argument("--contacts", type=int, default=2,
                    help="relaymemory: bob's phones (1: relayed without a transaction; 2: a fork)")
    ap.add_argument("--kind", choices=["register", "message"], default="message",
                    help="overload: REGISTERs for new AORs, or MESSAGEs relayed statefully (default)")
    ap.add_argument("--nodes", type=int, default=None,
                    help="ringlookup: processes (default 32); overload: a ring of this many, the load "
                         "entering at one node and the callee's AOR owned by another (default 1)")
    ap.add_argument("--lookups", type=int, default=2000, help="ringlookup: GET /lookup calls")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--ab-reads", action="store_true",
                    help="register, auth: one more single sippeer node with sip.batch_reads off (Sofia's "
                         "tport reads its UDP socket), swept beside the others: docs/BENCHMARKS.md, "
                         "\"Batched reads\"")
    ap.add_argument("--uacs", type=int, default=2, help="sipp processes sharing the load (default 2)")
    ap.add_argument("--nice", type=int, default=-15 if os.geteuid() == 0 else 0,
                    help="niceness of the servers and sipp (default -15 as root, else 0)")
    args = ap.parse_args()
    args.sippeer = os.path.abspath(args.sippeer)
    global NICE, UACS
    NICE = args.nice
    UACS = args.uacs
    if NICE:
        # With sched_autogroup a session is scheduled as one group against
        # the other sessions, whatever the niceness inside it. Everything
        # measured stays in this session (own process groups, same
        # session), so the servers and sipp compete with each other as on
        # a machine of their own, and the group's niceness sets its weight
        # against the rest of the machine.
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(NICE))
        except OSError:
            pass
    if not os.access(args.sippeer, os.X_OK):
        sys.exit(f"no sippeer binary at {args.sippeer}: run scripts/build")
    for tool in ("sipp", "kamailio", "kamcmd"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: run scripts/setup --all")
    t0 = time.monotonic()
    {"register": bench_register, "proxy": bench_proxy, "memory": bench_memory, "relaymemory": bench_relay_memory,
     "overload": bench_overload,
     "ringlookup": bench_ring_lookup, "secret": bench_secret, "auth": bench_auth}[args.what](args)
    log(f"(bench {args.what} took {time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
