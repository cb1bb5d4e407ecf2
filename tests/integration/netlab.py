"""Hosts in network namespaces of the test's own, on bridged segments that
a test can cut apart and join again, with optional loss and delay.

    switch namespace   br0 ──trunk0── br1 ──trunk1── br2 ...
                        │  │            │  │
    host namespaces    h0  h1          h2  h3        (eth0 10.77.0.<i+1>/24)

Every host is a namespace with one interface, eth0, plugged into the
bridge of its segment; neighbouring segments are joined by a veth pair
(the trunk). cut(j) sets trunk j down, which splits the network between
segment j and j+1; heal(j) sets it up again. Nothing outside the
namespaces is touched, and every namespace is deleted on exit (its veth
pairs go with it). Root only.

Loss and delay (impair): the kernel here has no sch_netem (tc netem is
"unknown qdisc"), so loss is iptables' statistic match (random DROP on
eth0's input: silent, as on a wire) and delay is an NFQUEUE on the same output that a thread
of this process holds each packet in for the delay before accepting it:
the same effect as `tc qdisc add dev eth0 root netem loss L% delay D ms`,
applied on every host, so each packet is delayed once (by its sender)
and may be dropped once (by its receiver).
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time

import ringlib
from ringlib import TestFailure, in_netns


def sh(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise TestFailure(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


class Lab:
    def __init__(self, hosts, segments=None, prefix="sippeer-lab"):
        """hosts: how many; segments: the segment of each host (default: all
        on segment 0)."""
        tag = f"{prefix}-{os.getpid()}"
        self.switch = f"{tag}-sw"
        self.hosts = [f"{tag}-h{i}" for i in range(hosts)]
        self.ips = [f"10.77.0.{i + 1}" for i in range(hosts)]
        self.segments = list(segments) if segments else [0] * hosts
        self.made = []
        self.delayers = []

    def __enter__(self):
        ringlib.require_root("a test in network namespaces")
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self):
        for ns in [self.switch] + self.hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # a leftover
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        nseg = max(self.segments) + 1
        for s in range(nseg):
            sh("ip", "-n", self.switch, "link", "add", f"br{s}", "type", "bridge")
            sh("ip", "-n", self.switch, "link", "set", f"br{s}", "up")
        for j in range(nseg - 1):
            sh("ip", "-n", self.switch, "link", "add", f"t{j}a", "type", "veth", "peer", "name", f"t{j}b")
            sh("ip", "-n", self.switch, "link", "set", f"t{j}a", "master", f"br{j}", "up")
            sh("ip", "-n", self.switch, "link", "set", f"t{j}b", "master", f"br{j + 1}", "up")
        for i, ns in enumerate(self.hosts):
            sh("ip", "-n", self.switch, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.switch, "link", "set", f"p{i}", "master", f"br{self.segments[i]}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ips[i]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def __exit__(self, *exc):
        for d in self.delayers:
            d.close()
        for ns in reversed(self.made):
            r = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"could not delete netns {ns}: {r.stderr.strip()}", file=sys.stderr)
        self.made = []
        return False

    def start_ring(self, cl, **common):
        """A sippeer on every host (port 5060, admin 8080, like separate
        machines): h1 starts the ring, the others join through it. Returns
        the nodes once the ring is consistent."""
        nodes = [cl.add("h1", new_ring=True, listen=self.ips[0], netns=self.hosts[0], sip_port=5060,
                        admin_port=8080, **common)]
        nodes[0].wait_joined()
        for i in range(1, len(self.hosts)):
            nodes.append(cl.add(f"h{i + 1}", bootstrap=[nodes[0].address], listen=self.ips[i],
                                netns=self.hosts[i], sip_port=5060, admin_port=8080, **common))
        for n in nodes[1:]:
            n.wait_joined(15)
        ringlib.wait_consistent(nodes, 20, what=f"a ring of {len(nodes)} hosts", parts=("predecessor", "successors"),
                                interval=0.2)
        return nodes

    def cut(self, trunk=0):
        sh("ip", "-n", self.switch, "link", "set", f"t{trunk}a", "down")

    def heal(self, trunk=0):
        sh("ip", "-n", self.switch, "link", "set", f"t{trunk}a", "up")

    def impair(self, loss_percent, delay_ms):
        """loss_percent % of the packets every host receives on eth0 are
        dropped, and every packet it sends leaves delay_ms later."""
        for ns in self.hosts:
            if loss_percent:
                # On input: a DROP in OUTPUT fails the sender's sendto()
                # with EPERM, which a SIP stack takes for a dead transport;
                # a packet lost on the wire fails nothing.
                sh("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", "eth0", "-m", "statistic",
                   "--mode", "random", "--probability", str(loss_percent / 100), "-j", "DROP")
            if delay_ms:
                self.delayers.append(Delayer(ns, delay_ms / 1000))
                sh("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-o", "eth0", "-j", "NFQUEUE",
                   "--queue-num", "0")


# ------------------------------------------------------------ NFQUEUE delay
#
# The nfnetlink_queue protocol over a netlink socket (linux/netfilter/
# nfnetlink_queue.h): bind queue 0 in copy-meta mode; each packet arrives
# as NFQNL_MSG_PACKET with its id in NFQA_PACKET_HDR; we answer
# NFQNL_MSG_VERDICT NF_ACCEPT for it `delay` seconds later. Verdicts may
# come in any order, so a packet's hold never blocks another's.

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2


def nlattr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def nfmsg(msg_type, queue, attrs, seq=0):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST, seq, 0) + body


class Delayer:
    def __init__(self, netns, delay, queue=0):
        self.delay, self.queue = delay, queue
        self.sock = in_netns(netns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER))
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.send(nfmsg(NFQNL_MSG_CONFIG, queue, [nlattr(NFQA_CFG_CMD, struct.pack("=BxH", NFQNL_CFG_CMD_BIND, 0))]))
        self.sock.send(nfmsg(NFQNL_MSG_CONFIG, queue, [nlattr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META))]))
        self.held = []  # (release time, packet id), in arrival order = release order
        self.cond = threading.Condition()
        self.closed = False
        self.readers = [threading.Thread(target=self.read, daemon=True), threading.Thread(target=self.release, daemon=True)]
        for t in self.readers:
            t.start()

    def read(self):
        while not self.closed:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            now = time.monotonic()
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    a = off + 20  # nlmsghdr + nfgenmsg
                    while a + 4 <= off + length:
                        alen, atype = struct.unpack_from("=HH", data, a)
                        if alen < 4:
                            break
                        if atype & 0x7fff == NFQA_PACKET_HDR:
                            (pid,) = struct.unpack_from(">I", data, a + 4)
                            with self.cond:
                                self.held.append((now + self.delay, pid))
                                self.cond.notify()
                        a += (alen + 3) & ~3
                off += (length + 3) & ~3

    def release(self):
        while True:
            with self.cond:
                while not self.held and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                due, pid = self.held[0]
                left = due - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                self.held.pop(0)
            try:
                self.sock.send(nfmsg(NFQNL_MSG_VERDICT, self.queue, [nlattr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, pid))]))
            except OSError:
                return

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.sock.close()
