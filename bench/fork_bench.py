#!/usr/bin/env python3
"""What the DNS + P2P parallel fork adds to call setup (INVITE -> 180).

One run on loopback: a ring of 3 sippeer nodes, dnsmasq (127.0.0.1:5353)
serving example.test -> Kamailio (127.0.0.1:5090), sipp phones. bob is
registered in the ring, carol at Kamailio; both answer 180 at once. The
caller's node n1 is switched between lookup modes by SIGHUP (proxy.lookup
is live), so the ring path, the node and the callee stay the same:

  ring user  (bob):   p2p-only  vs  parallel   (the DNS branch reaches Kamailio, which says 404)
  DNS user   (carol): dns-first vs  parallel   (DNS alone finds carol; the ring says 404)

dns-first is "DNS only" here: DNS finds carol, so the ring is never asked.
Each measurement is one whole call by a Python UAC (INVITE, 180, 200,
ACK, BYE), timed INVITE -> 180 with perf_counter; calls run one after
another; the callees are sipp (bench/sipp/uas_fast.xml).
Prints one table and, last, one JSON line. Uses the fixed ports of the
dns_fixture tests: do not run it beside them.
"""

import argparse
import json
import re
import os
import signal
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import dnsfixture  # noqa: E402
import ringlib  # noqa: E402
import sipplib  # noqa: E402

RECORDS = [
    "naptr-record=example.test,10,100,S,SIP+D2U,,_sip._udp.example.test",
    f"srv-host=_sip._udp.example.test,sip.example.test,{dnsfixture.KAMAILIO_PORT},0,0",
    "host-record=sip.example.test,127.0.0.1",
]
UAS = os.path.join(HERE, "sipp", "uas_fast.xml")


def percentile(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def set_mode(cl, node, config, mode):
    cfg = json.loads(json.dumps(config))
    cfg["proxy"]["lookup"] = mode
    cl.write_config(node.name, cfg)
    before = node.log().count("SIGHUP: reloaded")
    node.signal(signal.SIGHUP)
    ringlib.wait_until(lambda: node.log().count("SIGHUP: reloaded") > before, 10, what=f"{node.name} to reload")


def route_set(final):
    """The UAC's route set from a 2xx: its Record-Route URIs, reversed (RFC 3261 12.1.2)."""
    uris = []
    for value in sipplib.headers(final, "Record-Route"):
        uris += re.findall(r"<[^>]*>", value)
    return list(reversed(uris))


def one_call(phone, node, callee, n):
    """A whole call (INVITE, 180, 200, ACK, BYE, 200); returns INVITE -> 180 in ms."""
    uri = f"sip:{callee}@example.test"
    call_id = f"fb{n}x{phone.port}x{os.getpid()}"
    tag = f"a{n}"
    frm = "<sip:alice@example.test>"
    inv = phone.request("INVITE", uri, to=f"<{uri}>", frm=frm, from_tag=tag, call_id=call_id)

    def answer_to_invite(m):
        return m.startswith("SIP/2.0 ") and sipplib.header(m, "Call-ID", "i") == call_id and \
            (sipplib.header(m, "CSeq") or "").endswith("INVITE")

    t0 = time.perf_counter()
    phone.send(node, inv)
    t180, final = None, None
    while final is None:
        m = phone.recv(max(0.0, t0 + 10 - time.perf_counter()), answer_to_invite)
        ringlib.check(m is not None, f"call {n} to {callee}: no final answer in 10 s")
        code = ringlib.status_code(m)
        if code == 180 and t180 is None:
            t180 = time.perf_counter()
        if code >= 200:
            final = m
    ringlib.check(ringlib.status_code(final) == 200, f"call {n} to {callee}: {sipplib.status_line(final)}")
    ringlib.check(t180 is not None, f"call {n} to {callee}: 200 without a 180")
    to = sipplib.header(final, "To", "t")
    target = re.search(r"<([^>]*)>", sipplib.header(final, "Contact", "m")).group(1)
    routes = "".join(f"Route: {r}\n" for r in route_set(final))
    phone.send(node, phone.request("ACK", target, to=to, frm=frm, from_tag=tag, call_id=call_id, cseq=1,
                                   extra=routes, contact=False))
    bye = phone.request("BYE", target, to=to, frm=frm, from_tag=tag, call_id=call_id, cseq=2, extra=routes)
    _, bye_final = phone.transact(node, bye, timeout=5)
    ringlib.check(bye_final is not None and ringlib.status_code(bye_final) == 200,
                  f"call {n} to {callee}: BYE answered {bye_final and sipplib.status_line(bye_final)!r}")
    phone.pending = [m for m in phone.pending if call_id not in m]  # late retransmissions of this call
    return (t180 - t0) * 1000


def run_calls(phone, node, callee, calls, first):
    return [one_call(phone, node, callee, first + i) for i in range(calls)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sippeer", required=True)
    ap.add_argument("--calls", type=int, default=300, help="calls per mode (default 300)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    with ringlib.Cluster(args.sippeer, "forkbench", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        resolv = dnsfixture.resolv_conf(cl.dir)
        config = {"dns": {"resolv_conf": resolv, "timeout_ms": 3000},
                  "proxy": {"record_route": True, "lookup": "parallel"}}
        procs = []
        try:
            ring = sipplib.start_ring(cl, 3, config=config, log_level="info")
            procs.append(dnsfixture.Dnsmasq(cl.dir, RECORDS))
            procs.append(dnsfixture.Kamailio(cl.dir))
            n1, n2 = ring[0], ring[1]
            bob_port, carol_port = ringlib.free_port(), ringlib.free_port()
            for user, target, port in (("bob", n2.address, bob_port),
                                       ("carol", f"127.0.0.1:{dnsfixture.KAMAILIO_PORT}", carol_port)):
                r = ph.sipp(f"{user}-register", "register.xml", target, port=port, service=user,
                            keys={"expires": 3600, "domain": "example.test"}, timeout=10)
                r.expect_all(1, 15, f"registering {user}")
            warm = 20
            total = warm + 2 * args.calls
            ph.sipp("bob-uas", UAS, None, port=bob_port, calls=total, timeout=300)
            ph.sipp("carol-uas", UAS, None, port=carol_port, calls=total, timeout=300)
            time.sleep(0.3)
            phone = ph.raw_phone("alice")
            first = 0

            runs = [("ring user", "bob", "p2p-only"), ("ring user", "bob", "parallel"),
                    ("DNS user", "carol", "dns-first"), ("DNS user", "carol", "parallel")]
            results = {}
            for what, callee, mode in runs:
                set_mode(cl, n1, config, mode)
                if (callee, "warm") not in results:
                    run_calls(phone, n1, callee, warm // 2, first)
                    first += warm // 2
                    results[(callee, "warm")] = True
                results[(callee, mode)] = run_calls(phone, n1, callee, args.calls, first)
                first += args.calls
        finally:
            for p in procs:
                p.stop()

    rows = []
    print(f"INVITE -> 180 through n1, {args.calls} calls per mode one after another, "
          f"ring of 3 + dnsmasq + Kamailio on loopback")
    print(f"{'callee':<18} {'mode':<10} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for what, callee, mode in runs:
        t = results[(callee, mode)]
        row = {"callee": f"{callee} ({what})", "mode": mode, "calls": len(t), "p50_ms": round(percentile(t, 50), 3),
               "p99_ms": round(percentile(t, 99), 3), "mean_ms": round(statistics.mean(t), 3)}
        rows.append(row)
        print(f"{row['callee']:<18} {mode:<10} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['mean_ms']:>8.3f}")
    added = {}
    for callee, base in (("bob", "p2p-only"), ("carol", "dns-first")):
        a, b = results[(callee, "parallel")], results[(callee, base)]
        added[f"parallel_vs_{base}"] = {"p50_ms": round(percentile(a, 50) - percentile(b, 50), 3),
                                        "p99_ms": round(percentile(a, 99) - percentile(b, 99), 3)}
        print(f"added by the parallel fork vs {base:<9} (callee {callee}): "
              f"p50 {added[f'parallel_vs_{base}']['p50_ms']:+.3f} ms, p99 {added[f'parallel_vs_{base}']['p99_ms']:+.3f} ms")
    print(json.dumps({"rows": rows, "added": added}))


if __name__ == "__main__":
    main()
