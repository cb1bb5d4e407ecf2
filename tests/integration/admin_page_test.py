#!/usr/bin/env python3
"""Admin status page and ring picture: GET / rendered by headless Chromium
(Debian's chromium) shows the status table and an SVG ring with exactly one
node element per ring member, this node highlighted; GET /ring.svg alone is
well-formed XML with the same nodes, and chords to this node's fingers."""

import os
import shutil
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
sys.dont_write_bytecode = True

import ringlib
from ringlib import check, log
from duplicate_test import register

SVG = "{http://www.w3.org/2000/svg}"


class DomSummary(HTMLParser):
    """What the test needs from the DOM Chromium dumps: the node groups
    inside <svg>, the finger chords, and the status table's row names."""

    def __init__(self):
        super().__init__()
        self.in_svg = 0
        self.svgs = 0
        self.nodes = []      # attribute dicts of <g class="node ...">
        self.fingers = 0
        self.tables = set()  # ids of tables
        self.th = []         # header cells of table#status
        self.table = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            self.in_svg += 1
            self.svgs += 1
        elif self.in_svg and tag == "g" and "node" in classes:
            self.nodes.append(a)
        elif self.in_svg and tag == "line" and "finger" in classes:
            self.fingers += 1
        elif tag == "table":
            self.table = a.get("id")
            self.tables.add(self.table)
        elif tag == "th" and self.table == "status":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_svg -= 1
        elif tag == "th" and self.cell is not None:
            self.th.append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def chromium_dom(url, workdir):
    """The DOM of `url` after Chromium has loaded it (no sandbox: CI runs as
    root), with a profile dir of its own, bounded in time."""
    exe = shutil.which("chromium")
    check(exe, "chromium is not installed (scripts/setup --all installs Debian's chromium package)")
    profile = os.path.join(workdir, f"chromium-profile-{os.getpid()}")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", url]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise ringlib.TestFailure(f"chromium did not finish rendering {url} in 90 s")
    check(r.returncode == 0 and "<html" in r.stdout,
          f"chromium --dump-dom {url}: exit {r.returncode}, stderr:\n{r.stderr[-2000:]}")
    return r.stdout


def finger_nodes(st):
    """Distinct nodes in a /status finger table, other than the node itself."""
    me = st["node"]["uri"]
    return {f["node"]["uri"] for f in st["fingers"] if f.get("node") and f["node"]["uri"] != me}


def body(args):
    with ringlib.Cluster(args.sippeer, "admin-page", keep=args.keep) as cl:
        a = cl.add("a", new_ring=True, stabilize_ms=300)
        a.wait_joined()
        nodes = [a]
        for name in ("b", "c", "d", "e"):
            n = cl.add(name, bootstrap=[a], stabilize_ms=300)
            n.wait_joined()
            nodes.append(n)
        ringlib.wait_consistent(nodes, 20)
        for i, user in enumerate(("ada", "bob", "cy")):
            line = register(nodes[i], user, 7100 + i)
            check(line == "SIP/2.0 200 OK", f"REGISTER {user}: {line!r}")

        seen = {}

        def stored_everywhere():
            sts = [n.status() for n in nodes]
            seen["stored"] = [s["stored"] for s in sts]
            total = sum(s["stored"]["primary"] for s in sts)
            return sts if total == 3 and sum(s["stored"]["replicas"] for s in sts) == 9 else None
        try:
            # overlay.replicas is 3 by default.
            statuses, _ = ringlib.wait_until(stored_everywhere, 10, what="3 records and 9 replicas stored")
        except ringlib.TestFailure as e:
            raise ringlib.TestFailure(f"{e}; last seen {seen.get('stored')}")
        ring_ids = {s["node"]["id"] for s in statuses}
        check(len(ring_ids) == 5, f"ids {ring_ids}")

        for n, st in ((nodes[0], statuses[0]), (nodes[3], statuses[3])):
            # The status page, as a browser renders it.
            dom = chromium_dom(f"http://127.0.0.1:{n.admin_port}/", cl.dir)
            page = DomSummary()
            page.feed(dom)
            check("status" in page.tables, f"{n.name}: no table#status in the rendered page")
            for row in ("id", "uri", "joined", "predecessor", "successors", "fingers", "stored"):
                check(row in page.th, f"{n.name}: status table has no {row!r} row (rows: {page.th})")
            check(st["node"]["id"] in dom and st["node"]["uri"] in dom, f"{n.name}: page lacks its id or uri")
            check(page.svgs == 1, f"{n.name}: {page.svgs} <svg> elements in the page")
            ids = [g.get("data-id") for g in page.nodes]
            check(len(ids) == 5 and set(ids) == ring_ids,
                  f"{n.name}: SVG node elements {ids}, ring members {sorted(ring_ids)}")
            selves = [g for g in page.nodes if "self" in g.get("class", "").split()]
            check(len(selves) == 1 and selves[0].get("data-id") == st["node"]["id"],
                  f"{n.name}: highlighted nodes {[g.get('data-id') for g in selves]}, expected {st['node']['id']}")
            stored = st["stored"]["primary"] + st["stored"]["replicas"]
            check(selves[0].get("data-stored") == str(stored),
                  f"{n.name}: self shows {selves[0].get('data-stored')} keys, /status says {stored}")
            check(all(g.get("data-stored") == "unknown" for g in page.nodes if g is not selves[0]),
                  f"{n.name}: a count was shown for another node: {page.nodes}")
            check(page.fingers == len(finger_nodes(st)),
                  f"{n.name}: {page.fingers} finger chords, {len(finger_nodes(st))} distinct finger nodes")
            log(f"{n.name}: page rendered by chromium: status table, 5 ring nodes, self highlighted "
                f"with {stored} keys, {page.fingers} finger chords")

            # The picture alone: well-formed XML, served as SVG.
            with urllib.request.urlopen(f"http://127.0.0.1:{n.admin_port}/ring.svg", timeout=35) as r:
                ctype = r.headers.get("Content-Type", "")
                text = r.read().decode()
            check(ctype.startswith("image/svg+xml"), f"{n.name}: /ring.svg served as {ctype!r}")
            try:
                root = ET.fromstring(text)
            except ET.ParseError as e:
                raise ringlib.TestFailure(f"{n.name}: /ring.svg is not well-formed XML: {e}\n{text[:2000]}")
            check(root.tag == SVG + "svg", f"{n.name}: /ring.svg root is {root.tag}")
            groups = [g for g in root.iter(SVG + "g") if "node" in g.get("class", "").split()]
            check(sorted(g.get("data-id") for g in groups) == sorted(ring_ids),
                  f"{n.name}: /ring.svg nodes {[g.get('data-id') for g in groups]}")
            check(root.get("data-walk-complete") == "true", f"{n.name}: ring walk incomplete")
            check(all(g.find(SVG + "title") is not None for g in groups), f"{n.name}: a node has no tooltip")
        log("/ring.svg is well-formed SVG with one node element per ring member")


if __name__ == "__main__":
    ringlib.run_test(__doc__, body)
