"""HTTP/1.1 message framing, replayed over raw sockets (issue 9, finding 2).

Kore 4.1's parser, as Debian ships it, hung 30 s on a body longer than
its Content-Length, dropped pipelined requests silently, took the first
of two Content-Length headers and accepted "+5", and reset the
connection on oversized headers.  rollcall builds Kore with
src/kore-patches/0001-http-strict-framing.patch; these cases pin what
the patched parser does.  Every case checks the whole byte stream that
comes back: how many answers, their order, and that the connection is
closed (never left hanging) when something was not answered.
"""
import json
import re
import socket
import time

import pytest

from conftest import ROOT

# Generous: a hang is what we look for, and it used to last 30 s.
READ_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(tokens=["gateway"], workers=2)


def header_max():
    text = (ROOT / "conf" / "common.conf").read_text()
    return int(re.search(r"(?m)^http_header_max\s+(\d+)", text).group(1))


def exchange(srv, chunks, pause=0.0):
    """Sends each chunk (pause seconds apart), then reads until the server
    closes or READ_TIMEOUT passes.  Returns (responses, closed, elapsed)
    where responses is a list of (status, headers dict, body)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.monotonic()
    for i, c in enumerate(chunks):
        if i and pause:
            time.sleep(pause)
        s.sendall(c)
    data = b""
    closed = False
    s.settimeout(0.5)
    deadline = time.monotonic() + READ_TIMEOUT
    while time.monotonic() < deadline:
        try:
            got = s.recv(65536)
        except socket.timeout:
            # All answers in and nothing more expected: stop early.
            if complete(data) and expect_open(data):
                break
            continue
        except ConnectionResetError:
            closed = True
            break
        if not got:
            closed = True
            break
        data += got
    elapsed = time.monotonic() - t0
    s.close()
    return parse(data), closed, elapsed


def parse(data):
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"truncated response head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            assert k.lower() not in hdrs or k.lower() == "set-cookie"
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def complete(data):
    try:
        parse(data)
        return bool(data)
    except (AssertionError, ValueError, IndexError):
        return False


def expect_open(data):
    """The last answer said keep-alive: the server will not close."""
    r = parse(data)
    return r[-1][1].get("connection") == "keep-alive"


def req(method, path, body=b"", extra=None, cl=True, token=None):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body and cl:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def authz_body():
    return json.dumps({"subject": "nobody", "server": "github",
                       "tool": "list_repos"}).encode()


def test_keepalive_baseline(srv):
    """Requests sent one after the other on one connection are all
    answered (the rules below do not break ordinary keep-alive)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    f = s.makefile("rb")
    for _ in range(3):
        s.sendall(req("GET", "/healthz"))
        status = int(f.readline().split()[1])
        hdrs = {}
        while (line := f.readline()) != b"\r\n":
            k, _, v = line.decode().partition(":")
            hdrs[k.lower()] = v.strip()
        f.read(int(hdrs["content-length"]))
        assert status == 200 and hdrs["connection"] == "keep-alive"
    s.close()


def test_body_longer_than_content_length(srv):
    """The body is the first Content-Length bytes; the request is carried
    out and answered at once (it used to hang 30 s, then 408), and the
    connection is closed because the surplus was not a request we keep."""
    body = authz_body()
    raw = req("POST", "/v1/authorize", body + b"SURPLUS-BYTES",
              token=srv.tokens["gateway"], cl=False)
    raw = raw.replace(b"\r\n\r\n", f"\r\nContent-Type: application/json"
                      f"\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1)
    rs, closed, elapsed = exchange(srv, [raw])
    assert [r[0] for r in rs] == [200], rs
    assert json.loads(rs[0][2])["decision"] == "deny"
    assert rs[0][1]["connection"] == "close" and closed
    assert elapsed < READ_TIMEOUT


@pytest.mark.parametrize("n", [2, 5, 50])
def test_pipelined_in_one_write(srv, n):
    """Of n requests in one write, the first is answered with "connection:
    close" and the connection closed: none is dropped silently (the client
    sees the close and retries the rest) and none is answered out of turn.
    The requests after the first would each be answered differently, so a
    smuggled one would show."""
    raw = req("GET", "/healthz") + b"".join(
        req("GET", f"/metrics?{i}") for i in range(n - 1))
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [200]
    assert rs[0][2] != b"" and b"rollcall_" not in rs[0][2]
    assert rs[0][1]["connection"] == "close" and closed


def test_pipelined_after_body_in_order(srv):
    """A POST whose body comes in a later write, with the next request in
    that same write: both are answered, in order (Kore used to start the
    next request while the first still ran)."""
    body = authz_body()
    head = req("POST", "/v1/authorize", body, token=srv.tokens["gateway"])
    head, body_part = head[:-len(body)], body
    rs, _, _ = exchange(srv, [head, body_part + req("GET", "/healthz")],
                        pause=0.3)
    assert [r[0] for r in rs] == [200, 200], rs
    assert "decision" in json.loads(rs[0][2])
    assert json.loads(rs[1][2]).get("status") is not None or rs[1][2]


def test_get_with_body_is_answered_then_closed(srv):
    """A GET with a body: the body is not taken for the next request."""
    smuggled = req("GET", "/metrics")
    raw = req("GET", "/healthz", extra=[f"Content-Length: {len(smuggled)}"])
    rs, closed, _ = exchange(srv, [raw + smuggled])
    assert [r[0] for r in rs] == [200]
    assert b"rollcall_" not in rs[0][2]
    assert closed


@pytest.mark.parametrize("values", [
    ["5", "6"],          # conflicting
    ["5", "5"],          # repeated, even equal
    ["+5"],
    ["-5"],
    ["5x"],
    ["0x5"],
    ["5, 5"],
    ["99999999999999999999"],
])
def test_bad_content_length_is_400(srv, values):
    """RFC 9112 6.3: one Content-Length of plain digits, or 400."""
    extra = [f"Content-Length: {v}" for v in values]
    raw = req("POST", "/v1/authorize", token=srv.tokens["gateway"],
              extra=extra) + b"hello"
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [400], (values, rs)
    assert closed


def test_content_length_with_trailing_space_is_fine(srv):
    body = authz_body()
    raw = req("POST", "/v1/authorize", token=srv.tokens["gateway"],
              extra=["Content-Type: application/json",
                     f"Content-Length: {len(body)}  "]) + body
    rs, _, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [200], rs


def test_transfer_encoding(srv):
    """chunked with a Content-Length is the smuggling shape: 400.  Alone,
    Kore 4.1 cannot decode it: 501, never a guess at the length."""
    chunked = b"5\r\nhello\r\n0\r\n\r\n"
    raw = req("POST", "/v1/authorize", token=srv.tokens["gateway"],
              extra=["Transfer-Encoding: chunked",
                     f"Content-Length: {len(chunked)}"]) + chunked
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [400] and closed
    raw = req("POST", "/v1/authorize", token=srv.tokens["gateway"],
              extra=["Transfer-Encoding: chunked"]) + chunked
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [501] and closed


def test_header_over_the_limit_is_431(srv):
    """Headers that fill http_header_max without ending: 431, not a reset.
    Exactly the buffer's size is sent, so the answer is never lost to a
    reset for unread bytes."""
    size = header_max()
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    raw = start + b"a" * (size - len(start))
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [431] and closed


def test_too_many_header_lines_is_431(srv):
    """Kore kept the first 24 lines and dropped the rest silently (a
    second Authorization or Content-Length among them would go unseen)."""
    raw = req("GET", "/healthz", extra=[f"X-H{i}: v" for i in range(80)])
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [431] and closed
    # A request with a normal number of headers still works.
    raw = req("GET", "/healthz", extra=[f"X-H{i}: v" for i in range(40)])
    rs, _, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [200]


def test_uri_too_long_is_414(srv):
    """Longer than Kore's URI limit, or than the whole header buffer."""
    raw = req("GET", "/healthz?" + "a" * 3000)
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [414] and closed
    size = header_max()
    raw = b"GET /" + b"a" * (size - 5)
    rs, closed, _ = exchange(srv, [raw])
    assert [r[0] for r in rs] == [414] and closed


def test_server_still_serves(srv):
    assert srv.get("/healthz").status == 200
