"""P2P-Auth, the overlay's message authentication (docs/PROTOCOL.md 3.1),
written again from the protocol text in Python: the tests sign forged
requests with it (with the wrong key, or the right one to show that the
node checks rather than refusing everything), and check the answers."""

import hashlib
import hmac
import time

COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "c": "content-type"}
REQUEST_HEADERS = {"from", "to", "call-id", "cseq", "reason", "content-type", "contact", "expires"}


def _squeeze(v):
    return "".join(ch for ch in v if ch not in " \t\r\n")


def _parse(text, first_line, response):
    # The body is everything after the first empty line, byte for byte.
    head, body = text, ""
    for sep in ("\r\n\r\n", "\n\n"):
        if sep in text:
            head, body = text.split(sep, 1)
            break
    lines = head.replace("\r\n", "\n").split("\n")
    first = lines.pop(0) if first_line else ""
    headers = []
    for line in lines:
        if line == "":
            continue
        if line[0] in " \t":
            if headers:
                headers[-1][1] += _squeeze(line)
            continue
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        name = name.strip().lower()
        name = COMPACT.get(name, name)
        signed = name != "p2p-auth" and (name.startswith("p2p-") or name in ("contact", "expires") or
                                         (not response and name in REQUEST_HEADERS))
        if signed:
            headers.append([name, _squeeze(value)])
    return first, headers, body


def _headers_text(headers):
    out, last = "", None
    for name, value in sorted(headers, key=lambda h: h[0]):  # sorted() is stable
        if name != last:
            out += ("\n" if last is not None else "") + name + ":"
        else:
            out += ","
        out += value
        last = name
    return out + "\n"


def request_input(text):
    first, headers, body = _parse(text, True, False)
    return _squeeze(first.rsplit(" ", 1)[0]) + "\n" + _headers_text(headers) + body


def response_input(status, call_id, cseq, text, request_nonce):
    first, headers, body = _parse(text, text.startswith("SIP/2.0 "), True)
    # A body (a List answer's records) is signed after the nonce; none adds nothing.
    return f"{status}\n{_squeeze(call_id)}\n{cseq}\n" + _headers_text(headers) + request_nonce + \
        (f"\n{body}" if body else "")


def mac(key, data):
    return hmac.new(key.encode(), data.encode(), hashlib.sha256).hexdigest()


def sign(text, key, ts=None, nonce=None):
    """The request text with a P2P-Auth header before its blank line."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or f"test{time.monotonic_ns()}"
    data = request_input(text) + "\n" + str(ts) + "\n" + nonce
    value = f"ts={ts};nonce={nonce};mac={mac(key, data)}"
    head, sep, body = text.partition("\r\n\r\n")
    return head + f"\r\nP2P-Auth: {value}" + sep + body


def response_signed(text, key, request_nonce):
    """True when an answer's P2P-Auth is right for `key`."""
    import re
    m = re.search(r"^P2P-Auth:\s*mac=([0-9a-f]{64})", text, re.M | re.I)
    if not m:
        return False
    status = int(text.split(" ", 2)[1])
    call_id = re.search(r"^(?:Call-ID|i):\s*(.*?)\s*$", text, re.M | re.I).group(1)
    cseq = int(re.search(r"^CSeq:\s*(\d+)", text, re.M | re.I).group(1))
    return hmac.compare_digest(m.group(1), mac(key, response_input(status, call_id, cseq, text, request_nonce)))
