"""The policy and feed gauges of /metrics (issue 13): each worker's
policy version and change-ring lag, open SSE streams and waiting
long-polls.  A scrape lands on any worker and reports the whole
instance; the gauges follow commits, streams opening and closing, and
long-polls answering, timing out or losing their client; promtool
accepts the page with all of them in it."""
import re
import socket
import threading
import time

import pytest

from test_feeds import Stream, drain_revocations, revoke, world, ALICE
from test_metrics import check_exposition


@pytest.fixture(scope="module")
def gx(make_module_server):
    return make_module_server(seed=world, workers=2,
                              tokens={"gateway": "gateway"})


def scrape(s):
    r = s.get("/metrics")
    assert r.status == 200, r
    return r.body.decode()


def values(text, name):
    """{labels: value} of one family's samples ("" when unlabelled)."""
    return {m.group(1) or "": float(m.group(2)) for m in re.finditer(
        rf"(?m)^{name}(\{{[^}}]*\}})? (\S+)$", text)}


def gauge(s, name):
    return values(scrape(s), name)[""]


def until(what, fn, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def test_policy_version_and_ring_lag_per_worker(gx):
    text = scrape(gx)
    versions = values(text, "rollcall_policy_version")
    lags = values(text, "rollcall_policy_ring_lag_bytes")
    assert sorted(versions) == ['{worker="1"}', '{worker="2"}'], text
    assert sorted(lags) == sorted(versions)
    before = max(versions.values())

    v = revoke(gx.db, ALICE)
    assert v > before
    # Every worker applies the change from the ring (its timer does
    # when no request comes), and then has nothing left to read.
    until(f"every worker at version {v}", lambda: all(
        x >= v for x in values(scrape(gx),
                               "rollcall_policy_version").values()))
    until("no ring lag", lambda: all(
        x == 0 for x in values(scrape(gx),
                               "rollcall_policy_ring_lag_bytes").values()))


def test_open_streams_gauge(gx):
    assert gauge(gx, "rollcall_sse_streams_open") == 0
    streams = []
    for n in (1, 2):
        st = Stream(gx, gx.tokens["gateway"], "/v1/stream?heartbeat=30")
        streams.append(st)
        assert st.pump(lambda x: x.head is not None)
        assert st.status == 200
        until(f"{n} open streams",
              lambda: gauge(gx, "rollcall_sse_streams_open") == n)
    # The page stays valid with streams open.
    check_exposition(scrape(gx))
    streams.pop().close()
    until("1 open stream",
          lambda: gauge(gx, "rollcall_sse_streams_open") == 1)
    streams.pop().close()
    until("no open stream",
          lambda: gauge(gx, "rollcall_sse_streams_open") == 0)


def test_long_polls_gauge(gx):
    assert gauge(gx, "rollcall_long_polls_open") == 0
    _, cur = drain_revocations(gx)
    result = {}

    def poll():
        result["r"] = gx.get(f"/v1/revocations?cursor={cur}&wait=30",
                             token=gx.tokens["gateway"])

    t = threading.Thread(target=poll)
    t.start()
    until("1 long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 1)
    # A stream waits too, but is not a long-poll.
    st = Stream(gx, gx.tokens["gateway"], "/v1/stream?heartbeat=30")
    assert st.pump(lambda x: x.head is not None)
    until("1 stream", lambda: gauge(gx, "rollcall_sse_streams_open") == 1)
    assert gauge(gx, "rollcall_long_polls_open") == 1
    st.close()

    # A commit answers the long-poll.
    revoke(gx.db, ALICE)
    t.join(20)
    assert not t.is_alive() and result["r"].status == 200
    assert result["r"].json["events"], result["r"]
    until("no long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 0)

    # One that times out empty.
    _, cur = drain_revocations(gx)
    t = threading.Thread(target=lambda: gx.get(
        f"/v1/revocations?cursor={cur}&wait=2", token=gx.tokens["gateway"]))
    t.start()
    until("1 long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 1)
    t.join(20)
    until("no long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 0)

    # One whose client goes away.
    _, cur = drain_revocations(gx)
    sock = socket.create_connection(("127.0.0.1", gx.port))
    sock.sendall(f"GET /v1/revocations?cursor={cur}&wait=30 HTTP/1.1"
                 f"\r\nHost: t\r\nAuthorization: Bearer "
                 f"{gx.tokens['gateway']}\r\n\r\n".encode())
    until("1 long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 1)
    sock.close()
    until("no long-poll", lambda: gauge(gx, "rollcall_long_polls_open") == 0)
