#!/usr/bin/env python3
"""Soak: a 3-node ring under steady sipp load for a long time (issue 16).

    bench/soak.sh [--minutes 30] [--share 0.8] [--rate R] [--sippeer PATH]

1. A ring of three sippeer nodes on loopback (Record-Route on, the
   per-source limit off: every phone here is one sipp on 127.0.0.1).
   500 users register through n1; one sipp UAS answers for all of them.
2. The maximum: the mix of step 3 at doubling rates from 100/s, 10 s
   each, then 1.5x the last good one: the highest where >= 99% succeeded
   and sipp kept up (unless --rate gives the soak rate directly).
3. The soak: for --minutes, --share of that maximum as a mix of REGISTER
   refreshes (40%), MESSAGEs (40%) and calls (20% of the rate, counted as
   transactions: a call is INVITE, ACK and BYE, so a third as many calls).
   Traffic enters at all three nodes in turn.
4. Every minute, per node: RSS, open fds, proxied transactions in flight
   (sippeer_proxy_transactions) and what nta holds (sippeer_sip_stack_held:
   server and client transactions, dialogs), and sipp's cumulative successes and
   failures. At the end it checks: 0 failed requests, and after the first
   minute (warm-up) RSS grew at most 10% + 4 MB and fds at most 8, per
   node. Exit status 0 when all hold, else 1.

Uses the integration tests' helpers (tests/integration/ringlib.py and
sipplib.py) and sipp scenarios; run as root or not, loopback only.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.dont_write_bytecode = True

import ringlib  # noqa: E402
import sipplib  # noqa: E402

USERS = 500


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def in_flight(node):
    """Proxied transactions waiting for an answer, and what nta holds:
    "tx irq/orq/dlg" (server, client transactions, dialogs)."""
    code, text = ringlib.http_get(node.listen, node.admin_port, "/metrics")
    tx, held = -1, {}
    for line in str(text).splitlines():
        if line.startswith("sippeer_proxy_transactions "):
            tx = int(float(line.split()[1]))
        elif line.startswith("sippeer_sip_stack_held{"):
            held[line.split('"')[1]] = int(float(line.split()[1]))
    return f"{tx} {held.get('server_transactions', -1)}/{held.get('client_transactions', -1)}/{held.get('dialogs', -1)}"


def sipp(ph, name, scenario, node, rate, seconds, csv, keys=None, scen_dir=None):
    path = os.path.join(scen_dir, scenario) if scen_dir else scenario
    return ph.sipp(name, path, node, calls=max(1, int(rate * seconds)), rate=rate, timeout=int(seconds) + 60,
                   extra=("-inf", csv), keys=keys)


def start_mix(ph, nodes, csv, port, rate, seconds, tag, scen, only=None):
    """The traffic mix at `rate` transactions/s for `seconds`, entering at
    every node: REGISTER refreshes 40%, MESSAGEs 40%, calls 20% (a call is
    three transactions, so rate * 0.2 / 3 calls/s). Returns the UACs."""
    mix = []
    for i, node in enumerate(nodes):
        k = len(nodes)
        if only in (None, "register"):
            mix.append(sipp(ph, f"{tag}-reg{i}", "soak_register.xml", node, rate * 0.4 / k, seconds, csv,
                            keys={"cport": port}, scen_dir=os.path.join(HERE, "sipp")))
        if only in (None, "message"):
            mix.append(sipp(ph, f"{tag}-msg{i}", "churn_message.xml", node, rate * 0.4 / k, seconds, csv,
                            scen_dir=scen))
        if only in (None, "call"):
            mix.append(sipp(ph, f"{tag}-call{i}", "churn_call.xml", node, rate * 0.2 / 3 / k, seconds, csv,
                            scen_dir=scen))
    return mix


def measure_max(ph, nodes, csv, port, scen, log, seconds=10):
    """The highest rate of the mix at which >= 99% of the requests succeed
    and sipp keeps up: doubling from 100/s, then one step of 1.5x the last
    good rate."""
    def good(rate):
        t0 = time.monotonic()
        mix = start_mix(ph, nodes, csv, port, rate, seconds, f"max{rate:.0f}", scen)
        for m in mix:
            m.wait(seconds + 120)
        took = time.monotonic() - t0
        ok = sum(m.counts()[0] for m in mix)
        failed = sum(m.counts()[1] for m in mix)
        fine = failed <= 0.01 * (ok + failed) and took <= seconds + 6
        log(f"max: mix at {rate:.0f}/s for {seconds} s: {ok} ok, {failed} failed, done in {took:.1f} s"
            f" -> {'sustained' if fine else 'not sustained'}")
        return fine

    best, rate = 0, 100
    while rate <= 6400 and good(rate):
        best, rate = rate, rate * 2
    if best and good(best * 1.5):
        best *= 1.5
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sippeer", default=os.path.join(TOP, "build", "sippeer"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--share", type=float, default=0.8)
    ap.add_argument("--rate", type=float, default=None, help="soak rate (requests/s); skips the measurement")
    ap.add_argument("--only", choices=("register", "message", "call"), default=None,
                    help="run one part of the mix alone, at its share of --rate (to see what each holds)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    log = ringlib.log
    scen = os.path.join(TOP, "tests", "integration", "sipp")
    failures = []
    cfg = {"limits": {"per_source_rate": 0}, "proxy": {"record_route": True}}
    with ringlib.Cluster(args.sippeer, name="sippeer-soak", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        nodes = sipplib.start_ring(cl, 3, config=cfg, stabilize_ms=1000, log_level="info")
        csv = sipplib.users_csv(os.path.join(cl.dir, "users.csv"), "s", USERS, "RANDOM")
        seq = sipplib.users_csv(os.path.join(cl.dir, "users-seq.csv"), "s", USERS)
        port = ringlib.free_port()
        reg = ph.sipp("register", os.path.join(scen, "churn_register.xml"), nodes[0], port=port, calls=USERS,
                      rate=250, timeout=60, extra=("-inf", seq))
        reg.expect_all(USERS, 70, f"registering {USERS} users")
        total_s = args.minutes * 60
        uas = ph.sipp("uas", os.path.join(scen, "churn_uas.xml"), None, port=port, calls=10 ** 8,
                      timeout=int(total_s) + 900)
        time.sleep(0.5)
        log(f"ring of 3 up; {USERS} users registered (contact port {port})")

        if args.rate:
            rate = args.rate
            log(f"soak rate {rate:.0f} requests/s (given)")
        else:
            best = measure_max(ph, nodes, csv, port, scen, log)
            rate = args.share * best
            log(f"maximum of the mix: {best:.0f}/s; soak at {args.share:.0%}: {rate:.0f} requests/s")
            # The rates past the maximum left transactions to time out
            # (sip.transaction_lifetime_ms, 18 s): let them go first.
            time.sleep(20)
        if rate <= 0:
            log("no sustainable rate found")
            return 1

        mix = start_mix(ph, nodes, csv, port, rate, total_s, "soak", scen, args.only)
        log(f"{'min':>4} " + " ".join(f"{n.name + ' RSS MB':>11} {'fds':>4} {'tx irq/orq/dlg':>20}" for n in nodes)
            + f" {'ok':>8} {'failed':>6}")
        samples = []
        t0 = time.monotonic()
        minute = 0
        while True:
            minute += 1
            end = t0 + minute * 60
            if end > t0 + total_s + 1:
                end = t0 + total_s
            time.sleep(max(0, end - time.monotonic()))
            row = [(rss_kb(n.pid) / 1024, fds(n.pid), in_flight(n)) for n in nodes]
            ok = sum(s.counts()[0] for s in mix)
            failed = sum(s.counts()[1] for s in mix)
            samples.append(row)
            log(f"{minute:>4} " + " ".join(f"{r:>11.1f} {f:>4} {t:>20}" for r, f, t in row) + f" {ok:>8} {failed:>6}")
            if time.monotonic() - t0 >= total_s - 0.5:
                break
        for s in mix:
            s.wait(120)
        ok = sum(s.counts()[0] for s in mix)
        failed = sum(s.counts()[1] for s in mix)
        uas.stop()
        log(f"done: {ok} requests ok, {failed} failed over {args.minutes:g} min at {rate:.0f}/s")
        if failed:
            failures.append(f"{failed} failed requests")
        if len(samples) >= 2:
            for i, n in enumerate(nodes):
                (r1, f1, _), (r2, f2, _) = samples[0][i], samples[-1][i]
                log(f"{n.name}: RSS {r1:.1f} -> {r2:.1f} MB, fds {f1} -> {f2} (minute 1 -> {len(samples)})")
                if r2 > r1 * 1.10 + 4:
                    failures.append(f"{n.name}'s RSS grew from {r1:.1f} to {r2:.1f} MB")
                if f2 > f1 + 8:
                    failures.append(f"{n.name}'s open fds grew from {f1} to {f2}")
        if failures:
            cl.failed = True
            print("FAIL: " + "; ".join(failures), file=sys.stderr)
            return 1
        print("PASS: flat after warm-up, 0 failed requests")
        return 0


if __name__ == "__main__":
    sys.exit(main())
