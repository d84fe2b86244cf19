"""Logs that cannot flood (issue 9, finding 4).

PostgreSQL goes away while clients retry a database-backed route with no
backoff.  Every request still gets its 503 and is counted in the request
metrics, but the log gets a few lines per kind and second plus one
"suppressed N similar" summary, not one or two lines per request.  When
the database is back, requests succeed again.

The test stops a PostgreSQL cluster, so it starts its own (another
directory and port, scripts/localpg.sh) and leaves the shared test
cluster alone.
"""
import http.client
import json
import os
import re
import shutil
import tempfile
import threading
import time

import pytest

from conftest import Database, Server, free_port, localpg

FLOOD_S = 4.0
MIN_REQUESTS = 1500
THREADS = 4
WORKERS = 2


@pytest.fixture
def private_pg(monkeypatch):
    pgdir = os.path.join(tempfile.mkdtemp(prefix="rollcall-pg-"), "pg")
    # The cluster's directory must be reachable by 'postgres' as root.
    os.chmod(os.path.dirname(pgdir), 0o755)
    monkeypatch.setenv("RC_PGDIR", pgdir)
    monkeypatch.setenv("RC_PGPORT", str(free_port()))
    localpg("start")
    yield pgdir
    localpg("stop")
    shutil.rmtree(os.path.dirname(pgdir), ignore_errors=True)


def hammer(port, path, token, stop, counts):
    """Requests back to back on fresh connections until stop is set."""
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path,
                         headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            r.read()
            counts[r.status] = counts.get(r.status, 0) + 1
        except OSError:
            counts["error"] = counts.get("error", 0) + 1
        finally:
            conn.close()


def metric(server, name):
    text = server.get("/metrics").body.decode()
    m = re.search(r"(?m)^" + re.escape(name) + r" (\d+)$", text)
    return int(m.group(1)) if m else 0


def test_database_outage_does_not_flood_the_log(private_pg):
    db = Database()
    token = db.token("scim")
    s = Server(db, workers=WORKERS)
    try:
        path = "/scim/v2/Users?count=1"
        assert s.get(path, token=token).status == 200
        served = 'rollcall_http_requests_total{route="scim_users",' \
                 'status="503"}'
        localpg("stop")

        lines_before = len(s.logtext().splitlines())
        counts = {}
        stop = threading.Event()
        threads = [threading.Thread(target=hammer,
                                    args=(s.port, path, token, stop, counts))
                   for _ in range(THREADS)]
        t0 = time.time()
        for t in threads:
            t.start()
        # At least FLOOD_S seconds and MIN_REQUESTS requests (a slow
        # machine gets longer), at most 30 s.
        while time.time() - t0 < FLOOD_S or \
                (sum(counts.values()) < MIN_REQUESTS and
                 time.time() - t0 < 30):
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        # Let the sweep write the summaries of the quiet kinds.
        time.sleep(2.5)
        lines = s.logtext().splitlines()[lines_before:]
        failed = counts.get(503, 0)
        print(f"outage: {sum(counts.values())} requests {counts}, "
              f"{len(lines)} log lines in {elapsed:.1f} s + 2.5 s")
        assert failed >= MIN_REQUESTS, counts
        assert set(counts) == {503}, counts

        # Bounded: per worker and kind at most 5 lines a second and a
        # summary, a handful of kinds (here 3: the database error, the
        # SCIM error, the access line); fewer lines than requests, where
        # unlimited it was 3 per request.
        seconds = elapsed + 3.5
        assert len(lines) <= WORKERS * 4 * 6 * seconds, len(lines)
        assert len(lines) < failed, (len(lines), failed)
        summaries = [json.loads(x) for x in lines if "suppressed" in x]
        assert summaries, "\n".join(lines[-20:])
        held = sum(x["suppressed"] for x in summaries)
        assert all(re.match(r"suppressed \d+ similar", x["msg"])
                   for x in summaries)

        # Nothing lost from the metrics: every 503 counted, and every
        # line held back too.
        assert metric(s, served) == failed
        assert metric(s, "rollcall_log_lines_suppressed_total") >= held > 0

        localpg("start")
        deadline = time.time() + 30
        while True:
            r = s.get(path, token=token)
            if r.status == 200 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert r.status == 200, r
        for _ in range(10):
            assert s.get(path, token=token).status == 200
    finally:
        s.stop()
        localpg("start")  # if an assertion left it stopped
        db.drop()
