"""Shared helpers for the interop suite (python3 stdlib only).

The suite reuses the integration tests' harness: ringlib (nodes, Cluster,
Netns, polling) and sipplib (sipp processes, raw UDP phones) from
tests/integration/, imported through sys.path. What is here is only what
the interop tests add: scenario paths, sipp message logs over UDP and TCP,
and the choice of users and entry nodes so that requests cross the ring.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)

import ringlib  # noqa: E402
import sipplib  # noqa: E402
from ringlib import check  # noqa: E402


def scenario(name):
    """Absolute path of a scenario: ours (tests/interop/sipp/) first, else
    the integration suite's."""
    mine = os.path.join(HERE, "sipp", name)
    return mine if os.path.exists(mine) else os.path.join(INTEGRATION, "sipp", name)


def _messages(sipp, verb):
    out = []
    for block in re.split(r"\n-{10,} [^\n]*\n", "\n" + sipp.messages()):
        m = re.match(r"(?:UDP|TCP) message " + verb + r" (?:\[\d+\] bytes :|\(\d+ bytes\):)\n\n(.*)", block, re.S)
        if m:
            out.append(m.group(1).strip("\n").replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n")
    return out


def received(sipp):
    """The SIP messages a sipp received (UDP or TCP), from its message log."""
    return _messages(sipp, "received")


def sent(sipp):
    """The SIP messages a sipp sent (UDP or TCP), from its message log."""
    return _messages(sipp, "sent")


def first(messages, start):
    """The first message whose start line begins with `start`."""
    return next((m for m in messages if m.startswith(start)), None)


def owner(nodes, user):
    return sipplib.owner_of(nodes, f"sip:{user}@{sipplib.DOMAIN}")


def other_than(nodes, *avoid):
    return next(n for n in nodes if n not in avoid)
