#!/usr/bin/env python3
"""Legacy phones, emulated with sipp from the quirks public traces show
(issue 4), register, call and hang up through a ring of 3 the way each
really does. One client per run (--client NAME; CTest runs each as
interop.legacy.NAME):

  cisco7960       Cisco 7960, SIP firmware 7.x (User-Agent CSCO/7): REGISTER
                  with Request-URI sip:example.com, From/To ;user=phone, NO
                  From tag, no Max-Forwards, Expires after Content-Length.
                  Another phone already has a binding for 1001: the 200
                  must list only the 7960's own contact. proxy.record_route
                  is off, and the 7960 sends its ACK and BYE to its outbound
                  proxy anyway, with the callee's contact as Request-URI
                  (report 4.2): the node must send them there directly.
  cisco7960_2543  the same with the older firmware's RFC 2543 branches (no
                  z9hG4bK cookie): transactions matched per RFC 3261 17.2.3.
  xlite2          X-Lite 2.0: Via ";rport;branch=", Expires: 1800. The 200
                  must carry rport=<port> (it relies on it) and expires=1800;
                  every Via the nodes put in requests to it must have no
                  white space around ";" or "=". Record-Route on.
  messenger5      Windows Messenger 5.1 (RTC/1.3) over UDP: no Via branch,
                  ;epid= in the From tag, Contact <sip:ip:port> (no user
                  part), no Expires (default 3600 applies), Event:
                  registration; a presence SUBSCRIBE with Proxy-Require:
                  ms-benotify reaches the buddy (not 420). Record-Route on.
  messenger5_tcp  the same over TCP (the other phone stays on UDP).

With --auth (CTest interop.legacy_auth.NAME), the ring runs auth.mode
provisioned (issue 13): every phone's user is provisioned with a password,
and each scenario's first request is answered 401/407 and sent again with
sipp's digest answer (sipplib.with_digest), the way these phones do.

Every leg is a sipp run that must exit 0 with its one call successful; on
top, the messages sipp logged are checked (the 200's Contact and Via, the
Request-URI of the BYE, what reached the callee). The peer is an ordinary
phone (numeric extension 2001...) on tests/integration/sipp/ scenarios.
Users and entry nodes are chosen so that REGISTERs and INVITEs cross the
ring; with Record-Route off, the node a callee's sipp heard the INVITE from
is also the one the caller's BYE passes (sipp answers the call's first
peer, not the Via).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import re

import interoplib
from interoplib import check, first, received, scenario, sent
import ringlib
import sipplib
from ringlib import log
from sipplib import header, headers, status_line

CLIENTS = {
    "cisco7960": dict(user="1001", rr=False, transport="udp", keys={"bprefix": "z9hG4bK"}, cid="000e38e1-a5c8%u%p-6bd1b0f4@%s",
                      register="cisco7960_register.xml", call="cisco7960_call.xml", answer="cisco7960_answer.xml"),
    "cisco7960_2543": dict(user="1002", rr=False, transport="udp", keys={"bprefix": "7960"}, cid="000e38e1-a5c8%u%p-6bd1b0f4@%s",
                           register="cisco7960_register.xml", call="cisco7960_call.xml",
                           answer="cisco7960_answer.xml"),
    "xlite2": dict(user="3001", rr=True, transport="udp", keys={}, cid="NzQ1ZjM%u%pMjAxYTk4",
                   register="xlite2_register.xml", call="xlite2_call.xml", answer="xlite2_answer.xml"),
    "messenger5": dict(user="wmuser", rr=True, transport="udp", keys={}, cid="9d3a2c%u%p@%s",
                       register="messenger5_register.xml", call="messenger5_call.xml",
                       answer="messenger5_answer.xml", subscribe="messenger5_subscribe.xml"),
    "messenger5_tcp": dict(user="wmtcp", rr=True, transport="tcp", keys={}, cid="9d3a2c%u%p@%s",
                           register="messenger5_register.xml", call="messenger5_call.xml",
                           answer="messenger5_answer.xml", subscribe="messenger5_subscribe.xml"),
}

WS_IN_VIA = re.compile(r"\s;|;\s|\s=|=\s")


def contacts_of(msg):
    out = []
    for h in headers(msg, "Contact") + headers(msg, "m"):
        out += [c.strip() for c in re.split(r",(?=\s*<)", h)]
    return out


def pick_peer(nodes, owner_l, rr):
    """A numeric extension whose key another node owns (so the two phones'
    calls cross the ring). The nodes' ids come from their random ports, so
    one node may own nearly all of the ring (a CI run had three ids within
    1 % of it, and all of 2001..2099 at one node): look as far as 9999."""
    for n in range(2001, 10000):
        o = interoplib.owner(nodes, str(n))
        if o is not owner_l:
            return str(n), o
    raise ringlib.TestFailure("no extension 2001..9999 owned by another node than the legacy phone's")


def run(args, name, c):
    # Call-IDs shaped like the client's own (sipp maps messages to calls by Call-ID).
    t_extra = ("-cid_str", c["cid"]) + (("-t", "t1") if c["transport"] == "tcp" else ())
    # The buddy is a one-call sipp UAS that takes only the SUBSCRIBE: the
    # registrar's OPTIONS probe (issue 17; integration.presence tests it)
    # is off here, as this test is about the SUBSCRIBE's forwarding.
    config = {"proxy": {"record_route": c["rr"]}, "presence": {"options_probe": False}}
    if args.auth:
        config.update(auth={"mode": "provisioned"}, overlay={"secret": "legacy-test-key"})
    with ringlib.Cluster(args.sippeer, f"legacy-{name}", keep=args.keep) as cl, sipplib.Phones(cl) as ph:
        nodes = sipplib.start_ring(cl, 3, config=config)
        user = c["user"]
        owner_l = interoplib.owner(nodes, user)
        peer, owner_p = pick_peer(nodes, owner_l, c["rr"])

        def uac(path, who):
            """The scenario as is, or answering challenges as `who`."""
            if not args.auth:
                return path
            return sipplib.with_digest(path, who, f"{who}-password", cl.dir)

        if args.auth:
            for u in (user, peer):
                sipplib.add_user(args.sippeer, nodes[0], u, f"{u}-password")
            log(f"{name}: auth.mode provisioned; {user} and {peer} provisioned with passwords")
        if c["rr"]:
            entry_l = interoplib.other_than(nodes, owner_l)             # its REGISTER crosses the ring
            entry_p = interoplib.other_than(nodes, owner_l, entry_l)     # so does the call to it
        else:
            # The callee's sipp answers the node that forked to it, and
            # with no Record-Route the BYE passes only the caller's proxy:
            # make those the same node.
            entry_l, entry_p = owner_p, owner_l
        log(f"{name}: {user} (key at {owner_l.name}) uses {entry_l.name}; peer {peer} (key at {owner_p.name}) "
            f"uses {entry_p.name}; record_route {'on' if c['rr'] else 'off'}, {c['transport'].upper()}")
        pl, pp = ringlib.free_port(), ringlib.free_port()
        if args.auth:
            ph.sipp("peer-register", uac(sipplib.scenario_path("register.xml"), peer), entry_p, port=pp,
                    service=peer, keys={"expires": 3600}).expect_all(1, 15, f"registering {peer} with a password")
        else:
            ph.register("peer", peer, entry_p, pp)

        keys = dict(c["keys"])
        if name.startswith("cisco"):
            # Another phone of 1001's: the 7960 must not see its contact.
            other = ph.sipp("other-register", uac(sipplib.scenario_path("register.xml"), user), entry_p,
                            service=user)
            other.expect_all(1, 15, f"another phone registering {user}")
        reg = ph.sipp("register", uac(scenario(c["register"]), user), entry_l, port=pl, service=user, keys=keys,
                      extra=t_extra)
        reg.expect_all(1, 15, f"{name} registering {user} through {entry_l.name}")
        ok = first(received(reg), "SIP/2.0 200")
        check(ok, f"{name}: no 200 in sipp's log:\n{reg.messages()[-3000:]}")
        listed = contacts_of(ok)
        mine = [x for x in listed if f"127.0.0.1:{pl}" in x]
        check(len(mine) == 1, f"{name}: the 200 lists {listed}, none of them its own contact 127.0.0.1:{pl}")
        code, lk = sipplib.lookup(nodes[0], f"sip:{user}@{sipplib.DOMAIN}")
        check(code == 200 and any(f"127.0.0.1:{pl}" in b for b in lk.get("bindings", [])),
              f"{name}: /lookup after the 200: {code} {lk}")
        if name.startswith("cisco"):
            check(len(listed) == 1, f"{name}: the 200 lists {listed}, expected only the 7960's own contact "
                                    f"(registrar.single_contact_user_agents has CSCO)")
            check(len(lk["bindings"]) == 2, f"{name}: /lookup should still hold both phones: {lk}")
            log(f"{name}: REGISTER without From tag/Max-Forwards -> {status_line(ok)}, lists only {listed[0]}; "
                f"/lookup holds both of {user}'s phones")
            ph.sipp("other-unregister", uac(sipplib.scenario_path("register.xml"), user), entry_p,
                    port=int(other.port), service=user,
                    keys={"expires": 0}).expect_all(1, 15, "the other phone unregistering")
        elif name == "xlite2":
            via = header(ok, "Via", "v") or ""
            check(re.search(rf";rport={pl}\b", via), f"xlite2: the 200's Via {via!r} lacks rport={pl}")
            check(re.search(r"expires=1800\b", mine[0]), f"xlite2: its contact in the 200 is {mine[0]!r}, "
                                                         f"expected expires=1800")
            log(f"xlite2: {status_line(ok)}, Via {via}, Contact {mine[0]}")
        else:
            check(re.search(r"expires=3600\b", mine[0]) and "@" not in mine[0].split(">")[0],
                  f"{name}: its contact in the 200 is {mine[0]!r}, expected <sip:ip:port...>;expires=3600")
            log(f"{name}: REGISTER without Via branch or Expires -> {status_line(ok)}, Contact {mine[0]}")

        if c.get("subscribe"):
            buddy = ph.sipp("peer-presence", scenario("presence_answer.xml"), None, port=pp, service="bob")
            sub = ph.sipp("subscribe", uac(scenario(c["subscribe"]), user), entry_l, service=peer,
                          keys={"caller": user},
                          extra=t_extra)
            sub.expect_all(1, 20, f"{name}: SUBSCRIBE with Proxy-Require: ms-benotify to {peer}")
            buddy.expect_all(1, 20, f"{name}: the buddy {peer} answering the SUBSCRIBE")
            got = first(received(buddy), "SUBSCRIBE ")
            check(got and header(got, "Proxy-Require") == "ms-benotify",
                  f"{name}: the SUBSCRIBE reached the buddy without Proxy-Require: ms-benotify:\n{got}")
            log(f"{name}: presence SUBSCRIBE with Proxy-Require: ms-benotify forwarded to the buddy, 200 back")

        # The legacy phone calls the peer and hangs up.
        callee = ph.sipp("peer-answer", "uas_call.xml", None, port=pp, service="bob")
        call = ph.sipp("call", uac(scenario(c["call"]), user), entry_l, port=pl, service=peer,
                       keys=dict(keys, caller=user),
                       extra=t_extra)
        call.expect_all(1, 30, f"{name} calling {peer} through {entry_l.name}")
        callee.expect_all(1, 30, f"{peer} answering {name}")
        bye = first(sent(call), "BYE ")
        bye_in = first(received(callee), "BYE ")
        check(bye and bye_in, f"{name}: BYE sent {bool(bye)}, received by the peer {bool(bye_in)}")
        if not c["rr"]:
            check(bye.startswith(f"BYE sip:127.0.0.1:{pp}") and not header(bye, "Route"),
                  f"{name}: expected its BYE to name the peer's contact with no Route:\n{bye}")
            log(f"{name}: call to {peer} up and down; its BYE ({bye.splitlines()[0]}) went to its outbound "
                f"proxy {entry_l.name} without Record-Route and reached the peer")
        else:
            log(f"{name}: call to {peer} up and down (BYE {bye.splitlines()[0]}, Route {header(bye, 'Route')})")

        # The peer calls the legacy phone, which answers its own way.
        answer = ph.sipp("answer", scenario(c["answer"]), None, port=pl, service=user, extra=t_extra)
        caller = ph.sipp("peer-call", uac(sipplib.scenario_path("uac_call.xml"), peer), entry_p, port=pp,
                         service=user, keys={"caller": peer})
        caller.expect_all(1, 30, f"{peer} calling {name} through {entry_p.name}")
        answer.expect_all(1, 30, f"{name} answering {peer}")
        inv = first(received(answer), "INVITE ")
        check(inv.startswith(f"INVITE sip:") and f"127.0.0.1:{pl}" in inv.split("\r\n", 1)[0],
              f"{name}: the INVITE's Request-URI is not its contact: {inv.splitlines()[0]}")
        if name == "xlite2":
            for m in received(answer):
                if m.startswith("SIP/2.0"):
                    continue
                for v in headers(m, "Via") + headers(m, "v"):
                    check(not WS_IN_VIA.search(v), f"xlite2: a Via with white space around ; or =: {v!r}")
            log(f"xlite2: the Vias it received have no white space around ';' or '=': "
                f"{headers(inv, 'Via')[0]}")
        log(f"{name}: call from {peer} ({inv.splitlines()[0]}) answered, ACKed and hung up")
        for n in nodes:
            check(n.alive(), f"{n.name} died")


def body(args):
    check(sipplib.have_sipp(), "sipp is not installed (apt-get install sip-tester)")
    names = [args.client] if args.client else list(CLIENTS)
    for n in names:
        check(n in CLIENTS, f"unknown client {n!r}; clients: {', '.join(CLIENTS)}")
    for n in names:
        run(args, n, CLIENTS[n])


def extra_args(ap):
    ap.add_argument("--client", help=f"one of {', '.join(CLIENTS)}")
    ap.add_argument("--auth", action="store_true", help="auth.mode provisioned: every phone signs in")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body, extra_args)
