#!/usr/bin/env python3
"""Digest authentication with credentials stored in the ring (issue 13).

A ring of four nodes with auth.mode provisioned, overlay.secret set and
auth.domains [example.com]; phones are hand-made UDP requests (sipplib's
RawPhone) that compute digest responses here, from RFC 2617 / RFC 7616.

  provision   `sippeer ctl user add` on n1 stores alice's and bob's
              credentials; `user list` on their owners shows them, never a
              hash; `user add` again is refused (409).
  register    alice's REGISTER through n2 gets 401 offering MD5 and SHA-256;
              answered with MD5 -> 200 and the binding is stored; bob uses
              SHA-256 through n3.
  refused     a wrong password, a replayed nonce count (new Call-ID) and a
              forged `Contact: *` (no or wrong credentials) are refused and
              change no binding; a retransmission of an accepted REGISTER
              (same Call-ID, CSeq and nc) is answered 200 again.
  calls       alice's MESSAGE to bob gets 407 from her edge node; answered,
              it reaches bob without her Proxy-Authorization and without
              P2P-Identity; a MESSAGE from mallory@example.com (no
              credential, an auth.domains domain) gets 403; one from
              carol@foreign.example (not ours) reaches bob unchallenged.
  cracker     ten wrong passwords from 127.0.0.4 for dave: the eleventh try,
              with the right password, still gets 403 (too many failed
              attempts), logged once; alice from 127.0.0.1 is not affected.
  passwd/del  `user passwd` (password on stdin) changes erin's password: the
              old one is refused, the new one registers and sends; `user
              del` removes her; `user import` adds two users from a file.
  kill -9     the node that owns alice's credential is killed; after the ring
              repaired, alice registers and calls with her password.
  restart     every node is stopped and started again (same ports and state
              dirs): every provisioned user still authenticates.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import os
import re
import subprocess
import threading
import time

import ringlib
import sipplib
from ringlib import check, log
from sipplib import header, headers, status_line

DOMAIN = sipplib.DOMAIN
SECRET = "auth-test-ring-key"


def hash_hex(alg, text):
    h = hashlib.sha256 if alg == "SHA-256" else hashlib.md5
    return h(text.encode()).hexdigest()


def challenge_params(value):
    return dict(re.findall(r'(\w+)="?([^",]*)"?', value))


def authorization(challenge, method, uri, user, password, *, nc=1, cnonce="0a4f113b"):
    """The Authorization value a phone that knows the password sends."""
    p = challenge_params(challenge)
    alg = p.get("algorithm", "MD5")
    ha1 = hash_hex(alg, f"{user}:{p['realm']}:{password}")
    ha2 = hash_hex(alg, f"{method}:{uri}")
    ncs = f"{nc:08x}"
    resp = hash_hex(alg, f"{ha1}:{p['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", uri="{uri}", '
            f'response="{resp}", algorithm={alg}, qop=auth, nc={ncs}, cnonce="{cnonce}"')


def pick(challenges, alg):
    for c in challenges:
        if challenge_params(c).get("algorithm") == alg:
            return c
    raise ringlib.TestFailure(f"no {alg} challenge among {challenges}")


class Ctl:
    def __init__(self, sippeer):
        self.sippeer = sippeer

    def run(self, node, *words, stdin=None):
        with open(os.path.join(node.state_dir, "admin.token")) as f:
            token = f.read().strip()
        cmd = [self.sippeer, "ctl", "--admin", f"{ringlib.LOCALHOST}:{node.admin_port}", "--token", token, *words]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout + r.stderr


class Phone:
    """A RawPhone that registers and sends MESSAGEs as `user`, answering
    challenges with `password`."""

    def __init__(self, raw, user, password):
        self.raw, self.user, self.password = raw, user, password
        self.aor = f"sip:{user}@{DOMAIN}"
        self.cseq = 0

    def register(self, node, *, password=None, alg="MD5", contact=True, expires=600, answer=True):
        """(first final, final after answering the challenge, the request sent)."""
        self.cseq += 1
        call_id = f"reg-{self.user}-{self.raw.port}-{self.cseq}@{ringlib.LOCALHOST}"
        base = dict(to=f"<{self.aor}>", frm=f"<{self.aor}>", call_id=call_id, contact=contact)
        extra = f"Expires: {expires}"
        text = self.raw.request("REGISTER", f"sip:{DOMAIN}", cseq=self.cseq, extra=extra, **base)
        _, first = self.raw.transact(node, text)
        if not answer or first is None or not first.startswith("SIP/2.0 401"):
            return first, None, text
        self.cseq += 1
        ch = pick(headers(first, "WWW-Authenticate"), alg)
        auth = authorization(ch, "REGISTER", f"sip:{DOMAIN}", self.user, password or self.password)
        text = self.raw.request("REGISTER", f"sip:{DOMAIN}", cseq=self.cseq,
                                extra=f"{extra}\nAuthorization: {auth}", **base)
        _, final = self.raw.transact(node, text)
        return first, final, text

    def message(self, node, to_user, *, frm=None, password=None, alg="MD5", answer=True):
        """(first final, final after answering a 407)."""
        frm = frm or f"<{self.aor}>"
        ruri = f"sip:{to_user}@{DOMAIN}"
        call_id = f"msg-{self.user}-{time.monotonic_ns()}@{ringlib.LOCALHOST}"
        text = self.raw.request("MESSAGE", ruri, to=f"<{ruri}>", frm=frm, call_id=call_id, cseq=1,
                                body="hello", contact=False)
        _, first = self.raw.transact(node, text)
        if not answer or first is None or not first.startswith("SIP/2.0 407"):
            return first, None
        ch = pick(headers(first, "Proxy-Authenticate"), alg)
        auth = authorization(ch, "MESSAGE", ruri, self.user, password or self.password)
        text = self.raw.request("MESSAGE", ruri, to=f"<{ruri}>", frm=frm, call_id=call_id, cseq=2,
                                body="hello", contact=False, extra=f"Proxy-Authorization: {auth}")
        _, final = self.raw.transact(node, text)
        return first, final


def bindings(node, aor):
    code, j = sipplib.lookup(node, aor)
    return code, sorted(j.get("bindings", [])) if isinstance(j, dict) else []


class Answerer:
    """Answers 200 to every MESSAGE a phone receives, on a thread of its
    own, so that a sender's transaction can finish meanwhile."""

    def __init__(self, phone):
        self.phone, self.got, self.stop = phone, [], False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            m = self.phone.recv(0.1, lambda t: t.startswith("MESSAGE "))
            if m is not None:
                self.got.append(m)
                self.phone.reply_to(m, None, 200, "OK")

    def take(self):
        got, self.got = self.got, []
        return got

    def close(self):
        self.stop = True
        self.thread.join()


def body(args):
    cfg = {"auth": {"mode": "provisioned", "domains": [DOMAIN], "algorithms": ["MD5", "SHA-256"]}, "overlay": {"secret": SECRET},
           "limits": {"per_source_rate": 0}}
    ctl = Ctl(args.sippeer)
    with ringlib.Cluster(args.sippeer, name="sippeer-auth") as cl, sipplib.Phones(cl) as phones:
        nodes = sipplib.start_ring(cl, 4, config=cfg, log_level="info")
        n1, n2, n3, n4 = nodes

        # ---- provision
        for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw"), ("dave", "dave-pw"), ("erin", "erin-pw")):
            code, out = ctl.run(n1, "user", "add", f"sip:{user}@{DOMAIN}", pw)
            check(code == 0, f"ctl user add {user}: {out}")
        code, out = ctl.run(n2, "user", "add", f"sip:alice@{DOMAIN}", "other")
        check(code != 0 and "exists" in out, f"adding alice twice: {code} {out}")
        owner = sipplib.owner_of(nodes, f"sip:alice@{DOMAIN}")
        code, out = ctl.run(owner, "user", "list")
        check(code == 0 and f"sip:alice@{DOMAIN}  (primary, realm {DOMAIN}" in out, f"user list on alice's owner: {out}")
        check(not re.search(r"[0-9a-f]{32}", out), f"user list shows a hash: {out}")
        log(f"provisioned alice, bob, dave, erin through {n1.name}; alice's owner is {owner.name}")

        # ---- register
        alice = Phone(phones.raw_phone("alice"), "alice", "alice-pw")
        first, final, accepted = alice.register(n2)
        check(first and status_line(first).startswith("SIP/2.0 401"), f"first REGISTER: {first}")
        algs = [challenge_params(c).get("algorithm") for c in headers(first, "WWW-Authenticate")]
        check(algs == ["MD5", "SHA-256"], f"challenges offered: {algs}")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice's answered REGISTER: {final}")
        code, alice_bindings = bindings(n4, f"sip:alice@{DOMAIN}")
        check(code == 200 and len(alice_bindings) == 1, f"alice's binding in the ring: {code} {alice_bindings}")
        bob = Phone(phones.raw_phone("bob"), "bob", "bob-pw")
        _, final, _ = bob.register(n3, alg="SHA-256")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"bob's REGISTER with SHA-256: {final}")
        log("alice registered with MD5 through n2, bob with SHA-256 through n3; 401 offered MD5 then SHA-256")
        inbox = Answerer(bob.raw)

        # ---- retransmission of the accepted REGISTER: same nc, same request
        _, again = alice.raw.transact(n2, accepted.replace(re.search(r"branch=([^;\r\n]+)", accepted).group(1),
                                                           alice.raw.new_branch()))
        check(again and status_line(again) == "SIP/2.0 200 OK", f"the accepted REGISTER sent again: {again}")

        # ---- refused: wrong password, replayed nonce count, forged Contact: *
        mallet = Phone(phones.raw_phone("alice"), "alice", "guess")
        _, final, _ = mallet.register(n1)
        check(final and status_line(final).startswith("SIP/2.0 403"), f"wrong password: {final}")
        replay = re.sub(r"Call-ID: [^\r\n]+", "Call-ID: replayed@evil", accepted)
        replay = re.sub(r"Contact: [^\r\n]+", f"Contact: <sip:alice@{mallet.raw.address}>", replay)
        _, final = mallet.raw.transact(n2, replay)
        check(final and status_line(final).startswith("SIP/2.0 403"), f"replayed nonce count: {final}")
        first, _, _ = mallet.register(n1, contact="*", expires=0, answer=False)
        check(first and status_line(first).startswith("SIP/2.0 401"), f"Contact: * without credentials: {first}")
        _, final, _ = mallet.register(n1, contact="*", expires=0)
        check(final and status_line(final).startswith("SIP/2.0 403"), f"Contact: * with a wrong password: {final}")
        check(bindings(n3, f"sip:alice@{DOMAIN}") == (200, alice_bindings),
              f"alice's binding changed: {bindings(n3, f'sip:alice@{DOMAIN}')}")
        log("wrong password, replayed nonce count, forged Contact: * -> 401/403, binding unchanged")

        # ---- calls: 407 at the edge, then delivered
        first, final = alice.message(n2, "bob")
        check(first and status_line(first).startswith("SIP/2.0 407"), f"alice's MESSAGE unauthenticated: {first}")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice's MESSAGE answered: {final}")
        got = inbox.take()
        check(len(got) == 1, f"bob got {len(got)} MESSAGEs")
        check(header(got[0], "Proxy-Authorization") is None, "bob's MESSAGE still carries alice's credentials")
        check(header(got[0], "P2P-Identity") is None, "bob's MESSAGE carries P2P-Identity")
        m = sipplib.RawPhone("mallory")
        phones.raw.append(m)
        first, _ = Phone(m, "mallory", "x").message(n1, "bob", answer=False)
        check(first and status_line(first) == "SIP/2.0 403 Forbidden (unknown user)", f"mallory: {first}")
        carol = Phone(phones.raw_phone("carol"), "carol", "x")
        first, _ = carol.message(n1, "bob", frm="<sip:carol@foreign.example>", answer=False)
        got = inbox.take()
        check(first and status_line(first) == "SIP/2.0 200 OK" and len(got) == 1,
              f"carol@foreign.example to bob: {first and status_line(first)}, bob got {len(got)}")
        log("MESSAGE: 407 at alice's edge, delivered once answered (no credentials passed on); "
            "mallory@example.com 403; carol@foreign.example delivered unchallenged")

        # ---- cracker: per-source and per-AOR failure limit
        cracker = Phone(sipplib.RawPhone("dave", host="127.0.0.4"), "dave", "dave-pw")
        phones.raw.append(cracker.raw)
        for i in range(10):
            _, final, _ = cracker.register(n1, password=f"guess{i}")
            check(final and status_line(final).startswith("SIP/2.0 403"), f"guess {i}: {final}")
        first, final, _ = cracker.register(n1)
        refused = final or first
        check(refused and status_line(refused) == "SIP/2.0 403 Forbidden (too many failed attempts)",
              f"the right password after ten failures: {refused}")
        owner_dave = sipplib.owner_of(nodes, f"sip:dave@{DOMAIN}")
        check(owner_dave.log().count("failed sign-ins within") == 1, "the block was not logged once")
        _, final, _ = alice.register(n2)
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice after dave was blocked: {final}")
        st = owner_dave.status().get("auth", {})
        check(st.get("blocked", 0) >= 1 and st.get("forbidden", 0) >= 10 and st.get("credentials_stored", 0) >= 1,
              f"/status auth on dave's owner: {st}")
        _, metrics = ringlib.http_get(ringlib.LOCALHOST, owner_dave.admin_port, "/metrics")
        check(re.search(r'^sippeer_auth_total\{verdict="blocked"\} [1-9]', metrics, re.M),
              "/metrics does not count the blocked attempt")
        log("ten wrong passwords for dave from 127.0.0.4: the eleventh (right) try got 403, logged once")

        # ---- passwd, del, import
        code, out = ctl.run(n3, "user", "passwd", f"sip:erin@{DOMAIN}", stdin="erin-new\n")
        check(code == 0, f"ctl user passwd (password on stdin): {out}")
        erin = Phone(phones.raw_phone("erin"), "erin", "erin-pw")
        _, final, _ = erin.register(n1)
        check(final and status_line(final).startswith("SIP/2.0 403"), f"erin's old password: {final}")
        _, final, _ = erin.register(n1, password="erin-new")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"erin's new password: {final}")
        first, final = erin.message(n4, "bob", password="erin-new")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"erin's MESSAGE with the new password: {final}")
        code, out = ctl.run(n4, "user", "del", f"sip:erin@{DOMAIN}")
        check(code == 0, f"ctl user del: {out}")
        _, final, _ = erin.register(n2, password="erin-new")
        check(final and status_line(final).startswith("SIP/2.0 403"), f"deleted erin: {final}")
        code, out = ctl.run(n4, "user", "del", f"sip:nobody@{DOMAIN}")
        check(code != 0 and "no such user" in out, f"deleting nobody: {out}")
        users = os.path.join(cl.dir, "users.txt")
        with open(users, "w") as f:
            f.write(f"# bulk import\nsip:frank@{DOMAIN} frank-pw\n\nsip:gina@{DOMAIN}  gina-pw\n")
        code, out = ctl.run(n2, "user", "import", users)
        check(code == 0 and "2 users imported" in out, f"ctl user import: {out}")
        _, final, _ = Phone(phones.raw_phone("gina"), "gina", "gina-pw").register(n3)
        check(final and status_line(final) == "SIP/2.0 200 OK", f"imported gina: {final}")
        log("user passwd (stdin), del, import: old password refused, new accepted, deleted user refused")

        # ---- kill -9 the owner of alice's credential
        owner = sipplib.owner_of(nodes, f"sip:alice@{DOMAIN}")
        owner.kill9()
        alive = [n for n in nodes if n is not owner]
        ringlib.wait_consistent(alive, 20, what="the ring without alice's owner", parts=("predecessor", "successors"))
        entry = alive[0]
        _, final, _ = alice.register(entry)
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice after kill -9 of {owner.name}: {final}")
        first, final = alice.message(entry, "bob")
        check(final and status_line(final) == "SIP/2.0 200 OK", f"alice's MESSAGE after the kill: {final}")
        log(f"kill -9 of {owner.name} (alice's owner): alice registers and sends through {entry.name}")

        inbox.close()

        # ---- whole-ring restart
        for n in alive:
            n.stop()
        # In the order they first came up: n1 starts the ring (-N), the
        # others join through it, each with its state dir as it was.
        cl.restart(n1)
        n1.wait_joined()
        for n in nodes[1:]:
            cl.restart(n)
        for n in nodes[1:]:
            n.wait_joined()
        ringlib.wait_consistent(nodes, 20, what="the restarted ring", parts=("predecessor", "successors"))
        for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw"), ("frank", "frank-pw"), ("gina", "gina-pw")):
            for n in (nodes[1], nodes[3]):
                _, final, _ = Phone(phones.raw_phone(user), user, pw).register(n)
                check(final and status_line(final) == "SIP/2.0 200 OK",
                      f"{user} through {n.name} after the whole ring restarted: {final}")
        log("every node stopped and started again: alice, bob, frank, gina still authenticate")


if __name__ == "__main__":
    ringlib.run_test(__doc__.splitlines()[0], body)
