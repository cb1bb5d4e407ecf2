#!/usr/bin/env python3
"""Random phone behaviour through a ring: no node may die, leak or stop serving.

The unit and integration tests each play one flow. This one plays many at
once, in random orders no one wrote down, because that is how the crash
of forked MESSAGEs (forking_message_test.py) hid: each flow on its own was
right. Ring of 3 (10 s transactions, 1 s overlay timeout). Users u0..u5
have one to three contacts each, some of which are dead (their socket is
closed after registering, so the host answers ICMP port unreachable).
u4's two phones and one caller are on TCP: the node each connected to
keeps a flow and relays to it with a transaction (this found the lost
487 of tcp_cancel_test.py).

For --seconds, callers send through random nodes random INVITE, MESSAGE,
OPTIONS, SUBSCRIBE, INFO and NOTIFY requests to random users and to one
nobody knows, while a third party keeps changing the users' bindings
(refreshes, one contact removed and added back, Contact: * and all back;
a removal may leave u1 with only its dead contact). A caller on UDP
retransmits (Timers A and E) and at times sends a copy at random; any
caller may CANCEL an INVITE while it rings (and always after 3 s
unanswered), ACK and BYE an answered call. Each contact answers each
request at random: 200 at once, 180 then 200, 486, 603, 200 twice, 200
after a second, or never. After the last request the phones go on
answering until every call has ended. All seeded (--seed), so a failure
can be run again.

Checks:
  - no node dies (each is watched during the run and after it);
  - no node is marked dead: a silent phone behind a live ring hop is not a
    dead hop (silent_hop_test.py);
  - after the run, a MESSAGE through every node to a user with one live
    contact gets its 200;
  - once every transaction has ended (transaction lifetime + T4), every
    node's sippeer_proxy_transactions gauge is back to 0;
  - every live phone is still bound to its user after the churn;
  - every INVITE got a final answer, every REGISTER a 200, and every
    request to the unknown user the answer its method calls for.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import heapq
import random
import re
import select
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, is_final

METHODS = ["INVITE", "INVITE", "MESSAGE", "MESSAGE", "OPTIONS", "SUBSCRIBE", "INFO", "NOTIFY"]
BEHAVIOURS = ["ok", "ok", "ring_ok", "busy", "decline", "double", "late", "silent"]
USERS = 6
NOBODY = "nobody"
TCP_USER = 4  # u4's phones and one caller are on TCP (flows at their edge node)
RING_TIMEOUT = 3.0  # a caller hangs up an unanswered call (CANCEL) after this long
DRAIN_SECONDS = 5.0  # after the last timer, how long phones still answer while calls are open


def code_of(text):
    return int(text.split(" ", 2)[1])


def branch_of(text):
    m = re.search(r"branch=([^;,\s]+)", header(text, "Via", "v") or "")
    return m.group(1) if m else None


class Chaos:
    """One event loop over every phone's socket, with a timer heap."""

    def __init__(self, ring, rng):
        self.ring, self.rng = ring, rng
        self.timers = []  # (when, seq, fn)
        self.seq = 0
        self.callees = {}  # socket -> RawPhone
        self.sent = {}  # (caller port, branch) -> request record
        self.counts = {"requests": 0, "finals": 0, "cancels": 0, "resends": 0, "retransmissions": 0, "byes": 0}
        self.unanswered = {}  # branch -> request text, for INVITEs
        self.registers = []  # (client port, branch) of the REGISTERs sent

    def at(self, delay, fn):
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.seq, fn))

    # ------------------------------------------------------------ callees

    def on_callee(self, phone, text, source):
        if text.startswith("SIP/2.0"):
            return  # answers to our own requests (none here)
        method = text.split(" ", 1)[0]
        if method == "ACK":
            return
        if method in ("CANCEL", "BYE"):
            phone.reply_to(text, source, 200, "OK", to_tag=f"t{phone.port}")
            if method == "CANCEL" and branch_of(text) in phone.ringing:
                invite = phone.ringing.pop(branch_of(text))
                phone.reply_to(invite, source, 487, "Request Terminated", to_tag=f"t{phone.port}")
            return
        b = branch_of(text)
        if b in phone.seen:
            return  # a retransmission: the first answer is on its way (or not, on purpose)
        phone.seen.add(b)
        behaviour = self.rng.choice(BEHAVIOURS)
        tag = f"t{phone.port}x{len(phone.seen)}"
        invite = method == "INVITE"

        def final(code, reason):
            if invite and b not in phone.ringing:
                return  # canceled meanwhile: it got its 487
            phone.ringing.pop(b, None)
            phone.reply_to(text, source, code, reason, to_tag=tag)

        if invite:
            phone.ringing[b] = text
        if behaviour == "ok":
            final(200, "OK")
        elif behaviour == "ring_ok":
            if invite:
                phone.reply_to(text, source, 180, "Ringing", to_tag=tag)
            self.at(self.rng.uniform(0.05, 0.4), lambda: final(200, "OK"))
        elif behaviour == "busy":
            final(486, "Busy Here")
        elif behaviour == "decline":
            final(603, "Decline")
        elif behaviour == "double":
            final(200, "OK")
            phone.reply_to(text, source, 200, "OK", to_tag=tag)
        elif behaviour == "late":
            if invite:
                phone.reply_to(text, source, 180, "Ringing", to_tag=tag)
            self.at(self.rng.uniform(0.8, 1.5), lambda: final(200, "OK"))
        elif behaviour == "silent" and invite:
            phone.reply_to(text, source, 180, "Ringing", to_tag=tag)  # rings until canceled

    # ------------------------------------------------------------ callers

    def send_request(self, caller):
        method = self.rng.choice(METHODS)
        user = NOBODY if self.rng.random() < 0.1 else f"u{self.rng.randrange(USERS)}"
        node = self.rng.choice(self.ring)
        ruri = f"sip:{user}@{sipplib.DOMAIN}"
        extra = "Event: presence\nExpires: 60" if method in ("SUBSCRIBE", "NOTIFY") else ""
        if method == "NOTIFY":
            extra = "Event: presence\nSubscription-State: active;expires=60"
        body = "chaos" if method in ("MESSAGE", "INFO") else ""
        text = caller.request(method, ruri, to=f"<{ruri}>", extra=extra, body=body)
        text = text if "\r\n" in text else text.replace("\n", "\r\n")
        b = branch_of(text)
        self.sent[(caller.port, b)] = {"text": text, "node": node, "user": user, "final": None}
        if method == "INVITE":
            self.unanswered[b] = text
        caller.send(node, text)
        self.counts["requests"] += 1
        # Over UDP the caller retransmits as RFC 3261's Timers A and E do
        # (0.5, 1.5 and 3.5 s after the first copy, not more here), until an
        # INVITE hears anything or another request its final answer; and at
        # times once more at random, a copy that crosses the answer. Never
        # over TCP, where a client does not retransmit: the server
        # transaction of a call over TCP ends with its ACK, so a late copy
        # would be a new call (RFC 3261 17.2.1), ringing a phone nobody
        # hangs up.
        if not isinstance(caller, sipplib.TcpPhone):
            rec = self.sent[(caller.port, b)]
            for delay in (0.5, 1.5, 3.5):
                self.at(delay, lambda: self.retransmit(caller, node, rec))
            if self.rng.random() < 0.2:
                self.counts["resends"] += 1
                self.at(self.rng.uniform(0.1, 0.6), lambda: caller.send(node, text))
        if method == "INVITE":
            if self.rng.random() < 0.35:
                self.at(self.rng.uniform(0.05, 1.2), lambda: self.cancel(caller, b))
            self.at(RING_TIMEOUT, lambda: self.cancel(caller, b))  # nobody picked up: hang up

    def retransmit(self, caller, node, rec):
        if rec["final"] is not None or (rec.get("heard") and rec["text"].startswith("INVITE ")):
            return
        self.counts["retransmissions"] += 1
        caller.send(node, rec["text"])

    def cancel(self, caller, b):
        rec = self.sent[(caller.port, b)]
        if rec["final"] is not None or rec.get("canceled"):
            return
        rec["canceled"] = True
        inv = rec["text"]
        first = inv.split("\r\n", 1)[0]
        lines = [f"CANCEL {first.split(' ')[1]} SIP/2.0", f"Via: {header(inv, 'Via')}", "Max-Forwards: 70",
                 f"From: {header(inv, 'From')}", f"To: {header(inv, 'To')}", f"Call-ID: {header(inv, 'Call-ID')}",
                 f"CSeq: {header(inv, 'CSeq').split()[0]} CANCEL", "Content-Length: 0"]
        caller.send(rec["node"], "\r\n".join(lines) + "\r\n\r\n")
        self.counts["cancels"] += 1

    def on_caller(self, caller, text):
        if not text.startswith("SIP/2.0 "):
            if text.split(" ", 1)[0] not in ("ACK",):  # a NOTIFY of an accepted SUBSCRIBE, a BYE
                caller.reply_to(text, None, 200, "OK")
            return
        b = branch_of(text)
        rec = self.sent.get((caller.port, b))
        method = (header(text, "CSeq") or " ").split()[-1]
        if rec is None or method == "CANCEL":
            return
        rec["heard"] = True  # an INVITE's retransmissions stop (Timer A)
        if not is_final(text):
            return
        code = code_of(text)
        first = rec["final"] is None
        rec["final"] = rec["final"] or code
        if first:
            self.counts["finals"] += 1
            self.unanswered.pop(b, None)
        if method != "INVITE":
            return
        inv = rec["text"]
        if code >= 300:
            caller.send(rec["node"], caller.ack_for(inv, text))
            return
        # A 2xx: ACK end to end (its own branch), through the node, then BYE at times.
        to = header(text, "To", "t")
        contact = header(text, "Contact", "m") or f"<sip:{rec['user']}@{sipplib.DOMAIN}>"
        target = re.sub(r"^.*<|>.*$", "", contact)
        for m2 in ("ACK", "BYE") if self.rng.random() < 0.5 else ("ACK",):
            cseq = header(inv, "CSeq").split()[0] if m2 == "ACK" else str(int(header(inv, "CSeq").split()[0]) + 1)
            req = caller.request(m2, target, to=to, frm=header(inv, "From"), from_tag="",
                                 call_id=header(inv, "Call-ID"), cseq=cseq, contact=False)
            req = req if "\r\n" in req else req.replace("\n", "\r\n")
            caller.send(rec["node"], req)
            if m2 == "BYE":
                self.counts["byes"] += 1
                self.sent[(caller.port, branch_of(req))] = {"text": req, "node": rec["node"], "user": rec["user"],
                                                            "final": None}

    # ------------------------------------------------------ registrations

    def reregister(self, client):
        """Churns one user's bindings from a third party's socket: a refresh,
        one contact removed and added back a second later, or all of them
        removed (Contact: *) and added back. u0 is left alone (the checks
        after the run reach it), and so is the TCP user: a binding made by a
        third party has no flow to reach a phone on TCP."""
        user = f"u{self.rng.choice([u for u in range(1, USERS) if u != TCP_USER])}"
        phones = [p for p in self.callees.values() if p.user == user]
        if not phones:
            return
        # remove_one may take a user's last live phone: u1 is then left with
        # only its dead contact, whose host answers ICMP, and a call to u1
        # must still end (dead_contact_test.py).
        action = self.rng.choice(["refresh", "refresh", "remove_one", "remove_all"])
        if action == "refresh":
            self.register(client, user, [(p, 600) for p in phones])
        elif action == "remove_one":
            p = self.rng.choice(phones)
            self.register(client, user, [(p, 0)])
            self.at(self.rng.uniform(0.5, 1.5), lambda: self.register(client, user, [(p, 600)]))
        else:
            self.register(client, user, None)
            self.at(self.rng.uniform(0.5, 1.5), lambda: self.register(client, user, [(q, 600) for q in phones]))

    def register(self, client, user, contacts):
        aor = f"sip:{user}@{sipplib.DOMAIN}"
        if contacts is None:
            contact, extra = "*", "Expires: 0"
        else:
            contact = ", ".join(f"{p.contact};expires={e}" for p, e in contacts)
            extra = ""
        text = client.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<{aor}>", frm=f"<{aor}>",
                              contact=contact, extra=extra)
        text = text if "\r\n" in text else text.replace("\n", "\r\n")
        node = self.rng.choice(self.ring)
        self.sent[(client.port, branch_of(text))] = {"text": text, "node": node, "user": user, "final": None}
        self.registers.append((client.port, branch_of(text)))
        client.send(node, text)

    # ------------------------------------------------------------ the loop

    def run(self, seconds, callers, rate, reg_client):
        socks = {p.sock: ("callee", p) for p in self.callees.values()}
        socks.update({p.sock: ("caller", p) for p in callers + [reg_client]})
        end = time.monotonic() + seconds
        next_send = time.monotonic()
        next_register = time.monotonic() + 0.5
        last_watch = 0.0
        drain_until = None
        while True:
            now = time.monotonic()
            if now >= end and not self.timers:
                # The last timer may have been a CANCEL: keep answering as
                # the phones do until every call has ended, or for
                # DRAIN_SECONDS. (Stopping at once left a canceled call's
                # CANCEL unanswered by a phone nobody read any more, and the
                # check below failed on a call the ring had handled right.)
                drain_until = drain_until or now + DRAIN_SECONDS
                if not self.unanswered or now >= drain_until:
                    break
            if now < end and now >= next_send:
                self.send_request(self.rng.choice(callers))
                next_send = now + self.rng.expovariate(rate)
            if now < end - 2 and now >= next_register:  # the last re-adds land before the end
                self.reregister(reg_client)
                next_register = now + self.rng.uniform(0.3, 1.0)
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            if now - last_watch > 0.25:
                last_watch = now
                for n in self.ring:
                    check(n.alive(), f"{n.name} died during the chaos run\n{n.log()[-4000:]}")
            wait = min([next_send - now if now < end else 0.25] + [self.timers[0][0] - now if self.timers else 0.25])
            ready, _, _ = select.select(list(socks), [], [], max(0.0, min(wait, 0.25)))
            for s in ready:
                if isinstance(socks[s][1], sipplib.TcpPhone):
                    texts, src = socks[s][1].read_messages(), None
                else:
                    try:
                        data, source = s.recvfrom(65535)
                    except OSError:
                        continue
                    texts, src = [data.decode(errors="replace")], f"{source[0]}:{source[1]}"
                kind, phone = socks[s]
                for text in texts:
                    if kind == "callee":
                        self.on_callee(phone, text, src)
                    else:
                        self.on_caller(phone, text)



def body(args):
    rng = random.Random(args.seed)
    log(f"seed {args.seed}, {args.seconds} s at {args.rate} requests/s")
    config = {"sip": {"transaction_lifetime_ms": 10000}, "overlay": {"request_timeout_ms": 1000},
              "proxy": {"p2p_domains": [sipplib.DOMAIN]}}  # the ring's own domain, as deployed
    with ringlib.Cluster(args.sippeer, "chaos", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        ring = sipplib.start_ring(cl, 3, config=config, log_level=args.log_level)
        chaos = Chaos(ring, rng)
        dead = []
        for u in range(USERS):
            for c in range(1 + u % 3):  # u0: 1 contact, u1: 2, u2: 3, u3: 1, ...
                if u == TCP_USER:
                    phone = sipplib.TcpPhone(f"u{u}", rng.choice(ring))
                    ph.raw.append(phone)
                else:
                    phone = ph.raw_phone(f"u{u}")
                phone.seen, phone.ringing = set(), {}
                reg = phone.request("REGISTER", f"sip:{sipplib.DOMAIN}", to=f"<sip:u{u}@{sipplib.DOMAIN}>",
                                    call_id=f"reg{u}x{c}x{phone.port}", extra="Expires: 600")
                _, final = phone.transact(rng.choice(ring), reg)
                check(final is not None and final.startswith("SIP/2.0 200"),
                      f"registering u{u} contact {c}: {final!r}")
                if u >= 1 and c == 1 and u % 2 == 1:
                    dead.append(phone)  # closed below: its host answers ICMP port unreachable
                else:
                    chaos.callees[phone.sock] = phone
        for phone in dead:
            phone.close()
        log(f"{USERS} users, {len(chaos.callees)} live contacts and {len(dead)} dead ones")
        callers = [ph.raw_phone(f"caller{i}") for i in range(3)] + [sipplib.TcpPhone("caller3", rng.choice(ring))]
        ph.raw.append(callers[-1])
        reg_client = ph.raw_phone("registrar-client")

        chaos.run(args.seconds, callers, args.rate, reg_client)
        c = chaos.counts
        log(f"sent {c['requests']} requests ({c['retransmissions']} retransmissions, {c['resends']} extra copies, "
            f"{c['cancels']} CANCELs, "
            f"{c['byes']} BYEs); {c['finals']} final answers came back")
        regs = [chaos.sent[k]["final"] for k in chaos.registers]
        bad_regs = [f for f in regs if f != 200]
        check(regs and not bad_regs, f"of {len(regs)} REGISTERs changing bindings during the run, "
                                     f"{len(bad_regs)} did not get 200: {bad_regs[:10]}")
        log(f"{len(regs)} REGISTERs (refreshes, removals, Contact: *, re-adds) all answered 200")
        # Every removal was followed by its re-add: each live phone is bound.
        for u in range(USERS):
            aor = f"sip:u{u}@{sipplib.DOMAIN}"
            code, lk = sipplib.lookup(rng.choice(ring), aor)
            bound = " ".join(lk.get("bindings", [])) if isinstance(lk, dict) else ""
            missing = [p.address for p in chaos.callees.values() if p.user == f"u{u}" and f"@{p.address}" not in bound]
            check(not missing, f"after the run, /lookup of {aor} ({code}) lacks live contacts {missing}: {lk}")
        log("after the run every live phone is still bound to its user")

        for n in ring:
            check(n.alive(), f"{n.name} died after the chaos run\n{n.log()[-4000:]}")
        failed = {n.name: ringlib.metric(n, "sippeer_failures_detected_total") for n in ring}
        checks = sum(ringlib.metric(n, "sippeer_peer_checks_total") for n in ring)
        check(not any(failed.values()), f"live nodes were marked dead during the run: {failed}")
        log(f"no node was marked dead; ring hops silent past the request timeout were probed {checks:.0f} times")
        nobody = [r for r in chaos.sent.values() if r["user"] == NOBODY and r["final"] is not None]
        # A user of the ring's domain with no phone: a MESSAGE is kept for
        # later delivery and a SUBSCRIBE parked (202, offline_flow.cpp and
        # presence_flow.cpp) until the mailbox is full (480); anything else
        # is 404 (or 480).
        def expected(r):
            return (202, 480) if r["text"].split(" ", 1)[0] in ("MESSAGE", "SUBSCRIBE") else (404, 480)
        wrong = [(r["text"].split(" ", 1)[0], r["final"]) for r in nobody if r["final"] not in expected(r)]
        check(not wrong, f"requests to a user with no phone answered {wrong[:10]} "
                         "(expected 202 or 480 for MESSAGE and SUBSCRIBE, else 404 or 480)")
        left = list(chaos.unanswered.values())
        check(not left, f"{len(left)} INVITEs never got a final answer, e.g.\n{left[0] if left else ''}")

        probe = ph.raw_phone("probe")
        for n in ring:
            live = [p for p in chaos.callees.values() if p.user == "u0"][0]
            text = probe.request("MESSAGE", f"sip:u0@{sipplib.DOMAIN}", to=f"<sip:u0@{sipplib.DOMAIN}>",
                                 body="after the chaos")
            probe.send(n, text if "\r\n" in text else text.replace("\n", "\r\n"))
            got = live.recv(5, lambda m: m.startswith("MESSAGE ") and "after the chaos" in m)
            check(got is not None, f"a MESSAGE to u0 through {n.name} after the chaos never reached u0")
            live.reply_to(got, None, 200, "OK", to_tag="probe")
            final = probe.recv(5, lambda m: m.startswith("SIP/2.0 ") and is_final(m))
            check(final is not None and final.startswith("SIP/2.0 200"),
                  f"a MESSAGE to u0 through {n.name} after the chaos: {final!r}")
        log("after the run every node relays a MESSAGE to u0 and its 200")

        # Transactions end: 10 s lifetime (Timers F, J) + T4 (5 s, Timer K) + slack.
        def open_transactions():
            return {n.name: ringlib.metric(n, "sippeer_proxy_transactions") for n in ring}
        t0 = time.monotonic()
        try:
            ringlib.wait_until(lambda: not any(open_transactions().values()), 20, interval=0.5,
                               what="every node's proxy transactions back to 0")
        except ringlib.TestFailure as e:
            raise ringlib.TestFailure(f"{e}: {open_transactions()}") from None
        log(f"proxy transactions back to 0 on every node {time.monotonic() - t0:.1f} s after the probes")
        for n in ring:
            check(n.alive(), f"{n.name} died after the chaos run\n{n.log()[-4000:]}")
        log("every node alive, with no proxy transaction left")


if __name__ == "__main__":
    def options(ap):
        ap.add_argument("--seconds", type=float, default=30.0, help="how long requests are sent")
        ap.add_argument("--rate", type=float, default=20.0, help="requests per second, all callers")
        ap.add_argument("--seed", type=int, default=1, help="the random generator's seed")
        ap.add_argument("--log-level", default="info", help="the nodes' log.level")
    ringlib.run_test(__doc__, body, extra_args=options)
