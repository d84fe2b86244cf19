"""Clients that leave mid-request (issue 9, finding 1).

Before: a client that reset its connection while the request's database
job ran leaked the job and the handler's state (~13 KiB per SCIM create,
~15 MiB per abandoned 1000-user list), and the job ran on to the end,
holding a database thread.  Now the job is skipped if it has not started,
its statement is cancelled (PQcancel) if it runs, and the state is freed
once, when the thread is done with it (src/svc/db.c).

Each case resets connections (SO_LINGER 0) a few milliseconds after
sending, in a bounded loop, after a warm-up of the same kind.  Measured
and printed: the workers' RSS before and after (VmRSS from /proc), the
number of rollcall statements running in PostgreSQL, and how long an
unrelated request then takes.  Asserted: RSS growth under a stated bound
per 10,000 requests, no statement left running, the unrelated request
answered.  Figures print with pytest -s.

RC_DISCONNECT_N sets the loop size of the small cases (default 2000).
Under the sanitizer build RSS is not asserted (ASan's quarantine holds
freed memory by design); a use after free would abort the worker there.
"""
import json
import os
import random
import socket
import struct
import subprocess
import time
import uuid

import pytest

from conftest import BUILD, ROOT

N = int(os.environ.get("RC_DISCONNECT_N", "2000"))
ASAN = "asan" in BUILD
# Per 10,000 abandoned requests, after warm-up.  Before the fix a SCIM
# create leaked ~13 KiB: 127 MiB per 10,000.
BOUND_MIB_PER_10K = 16
# The big list answers (~5 MiB each) leaked whole: 200 leaked ~1 GiB.
LIST_N = 200
LIST_BOUND_MIB = 64
USERS = 1200
PAD = "x" * 4000


@pytest.fixture(scope="module")
def srv(make_module_server):
    # Users with ~4 KiB documents, so a 1000-user list is a big answer.
    s = make_module_server(
        seed="INSERT INTO users (directory_id, user_name, doc) "
             "SELECT 1, 'seed-' || g, jsonb_build_object('schemas', "
             "jsonb_build_array("
             "'urn:ietf:params:scim:schemas:core:2.0:User'),"
             " 'userName', 'seed-' || g, 'active', true, 'title', "
             f"'{PAD}', 'displayName', 'Seed ' || g) "
             f"FROM generate_series(1, {USERS}) g",
        tokens=["scim", "admin", "gateway"],
        workers=2, env={"ROLLCALL_DB_THREADS": "4"})
    r = s.post("/scim/v2/Users", token=s.tokens["scim"], body={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "patch-target@contoso.com"})
    assert r.status == 201, r
    s.patch_id = r.json["id"]
    return s


def worker_rss_mib(s):
    pids = subprocess.run(["pgrep", "-P", str(s.proc.pid)],
                          capture_output=True, text=True).stdout.split()
    kib = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
    return kib / 1024


def active_statements(s):
    """rollcall statements running in PostgreSQL for this database."""
    out = s.db.sql("SELECT count(*) FROM pg_stat_activity WHERE "
                   f"datname = '{s.db.name}' AND application_name = "
                   "'rollcall' AND state = 'active'")
    return int(out.strip())


def counter(s, name):
    for line in s.get("/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def raw(method, path, token, body=None):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
             f"Authorization: Bearer {token}"]
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        lines += ["Content-Type: application/scim+json",
                  f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def abandon(s, data, delay):
    """Sends a request and resets the connection delay seconds later."""
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.sendall(data)
    if delay:
        time.sleep(delay)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    c.close()


def burst(s, make, n, rng, max_delay):
    for i in range(n):
        abandon(s, make(i), rng.uniform(0, max_delay))


def quiesce(s, timeout=120):
    """Waits until no rollcall statement runs (three polls in a row);
    returns the seconds it took."""
    t0 = time.monotonic()
    zeros = 0
    while time.monotonic() - t0 < timeout:
        zeros = zeros + 1 if active_statements(s) == 0 else 0
        if zeros >= 3:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError(f"statements still running after {timeout} s")


def run_case(s, name, make, n, max_delay, bound_mib, warm):
    rng = random.Random(name)
    burst(s, make, warm, rng, max_delay)
    quiesce(s)
    time.sleep(0.5)
    before = worker_rss_mib(s)
    abandoned0 = counter(s, "rollcall_db_jobs_abandoned_total")
    cancels0 = counter(s, "rollcall_db_cancels_sent_total")
    t0 = time.monotonic()
    burst(s, make, n, rng, max_delay)
    fired = time.monotonic() - t0
    running_after_burst = active_statements(s)
    # An unrelated request, right after the burst.
    t1 = time.monotonic()
    r = s.get("/scim/v2/Users?count=1&filter=userName%20eq%20%22seed-1%22",
              token=s.tokens["scim"], timeout=30)
    unrelated_s = time.monotonic() - t1
    assert r.status == 200, r
    settle = quiesce(s)
    time.sleep(0.5)
    after = worker_rss_mib(s)
    abandoned = counter(s, "rollcall_db_jobs_abandoned_total") - abandoned0
    cancels = counter(s, "rollcall_db_cancels_sent_total") - cancels0
    growth = after - before
    print(f"\n[disconnect] {name}: n={n} fired in {fired:.1f}s; worker RSS "
          f"{before:.1f} -> {after:.1f} MiB (growth {growth:+.1f} MiB, "
          f"{growth * 10000 / n:+.1f} MiB per 10k); statements running "
          f"after burst {running_after_burst}, idle {settle:.1f}s later; "
          f"unrelated request {unrelated_s * 1000:.0f} ms; jobs abandoned "
          f"{abandoned}, cancels sent {cancels}")
    assert s.proc.poll() is None, "server died"
    if not ASAN and growth >= bound_mib:
        # The allocator's arenas can still be growing after the warm-up
        # (one run here grew 3.4 MiB for 2000 where the bound was 3.2).
        # A leak grows again by as much on a second burst; an arena that
        # has found its size does not.
        before = worker_rss_mib(s)
        burst(s, make, n, rng, max_delay)
        quiesce(s)
        time.sleep(0.5)
        again = worker_rss_mib(s) - before
        print(f"[disconnect] {name}: over the bound; a second burst grew "
              f"{again:+.1f} MiB")
        assert again < bound_mib, \
            f"{name}: RSS grew {growth:.1f} then {again:.1f} MiB for " \
            f"{n} each (bound {bound_mib})"
    return abandoned, cancels


def user_body(i):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"dc-{i}-{uuid.uuid4().hex[:8]}@contoso.com",
            "displayName": PAD[:500]}


def test_scim_create(srv):
    tok = srv.tokens["scim"]
    run_case(srv, "scim create", lambda i: raw(
        "POST", "/scim/v2/Users", tok, user_body(i)), N, 0.004,
        BOUND_MIB_PER_10K * N / 10000, N // 4)
    # A create either committed whole (user and its audit record) or
    # not at all: none is half there.
    out = srv.db.sql(
        "SELECT count(*) FROM users u WHERE user_name LIKE 'dc-%' AND "
        "NOT EXISTS (SELECT 1 FROM audit_log a WHERE "
        "a.resource_id = u.id::text)")
    assert int(out) == 0
    made = int(srv.db.sql("SELECT count(*) FROM users "
                          "WHERE user_name LIKE 'dc-%'"))
    print(f"[disconnect] scim create: {made} of {N + N // 4} abandoned "
          "creates committed (and stay)")
    # Those that committed are served like any other user.
    name = srv.db.sql("SELECT user_name FROM users WHERE user_name LIKE "
                      "'dc-%' LIMIT 1").strip()
    if name:
        r = srv.get(f"/scim/v2/Users?filter=userName%20eq%20%22{name}%22",
                    token=srv.tokens["scim"])
        assert r.status == 200 and r.json["totalResults"] == 1


def test_scim_patch(srv):
    tok = srv.tokens["scim"]
    path = f"/scim/v2/Users/{srv.patch_id}"
    run_case(srv, "scim patch", lambda i: raw("PATCH", path, tok, {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName",
                        "value": f"name {i}"}]}), N, 0.004,
        BOUND_MIB_PER_10K * N / 10000, N // 4)
    assert srv.get(path, token=tok).status == 200


def test_scim_list(srv):
    tok = srv.tokens["scim"]
    abandoned, _ = run_case(
        srv, "scim list count=1000", lambda i: raw(
            "GET", "/scim/v2/Users?count=1000", tok), LIST_N, 0.005,
        LIST_BOUND_MIB, 50)
    assert abandoned > 0, "no list was abandoned mid-job: test too slow?"


@pytest.mark.parametrize("name,path", [
    ("admin users", "/admin/v1/users?limit=1000"),
    ("admin audit", "/admin/v1/audit?limit=1000"),
    ("audit export", "/admin/v1/audit/export"),
])
def test_admin_lists(srv, name, path):
    tok = srv.tokens["admin"]
    # Answers of up to 1000 records: the allocator's high-water mark
    # moves by up to ~3 MiB before it settles (measured: 0.0-3.0 MiB for
    # 2000, 0.9 for 4000), hence the 8 MiB floor.  Before the fix 2000
    # abandoned user lists grew the workers by ~1.8 GiB.
    run_case(srv, name, lambda i: raw("GET", path, tok), N, 0.004,
             max(BOUND_MIB_PER_10K * N / 10000, 8), N // 2)


def test_long_polls(srv):
    tok = srv.tokens["gateway"]
    r = srv.get("/v1/revocations?limit=1000", token=tok)
    assert r.status == 200, r
    cur = r.json["next_cursor"]
    r = srv.get("/v1/policy/changes?since=0&limit=1000", token=tok)
    assert r.status == 200, r
    since = r.json["next_since"]
    paths = [f"/v1/revocations?cursor={cur}&wait=30",
             f"/v1/policy/changes?since={since}&wait=30",
             "/v1/stream"]
    # More than a worker's waiter limit (1800): leaked waiters would
    # make the last ones fail.
    n = max(N, 2000)
    run_case(srv, "long-polls and streams", lambda i: raw(
        "GET", paths[i % 3], tok), n, 0.005,
        BOUND_MIB_PER_10K * n / 10000, n // 4)
    r = srv.get(f"/v1/revocations?cursor={cur}&wait=1", token=tok)
    assert r.status == 200, r


def hold_lock(db, seconds):
    """A psql session that holds an exclusive lock on users."""
    return subprocess.Popen(
        ["sh", str(ROOT / "scripts" / "localpg.sh"), "psql", "-d", db.name,
         "-qAt", "-c", "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; "
         f"SELECT pg_sleep({seconds}); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def release(db, locker):
    """Ends the lock holder for good: its psql, and its backend, which
    sleeping in pg_sleep would not notice its client leave and would
    hold the lock on into the next test."""
    locker.terminate()
    locker.wait()
    db.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
           "AND query LIKE '%pg_sleep%'")


def wait_locked(db):
    for _ in range(100):
        if db.sql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
                  "c.oid = l.relation WHERE c.relname = 'users' AND "
                  "l.mode = 'AccessExclusiveLock' AND l.granted").strip() \
                == "1":
            return
        time.sleep(0.05)
    raise AssertionError("lock not taken")


def test_blocked_jobs_are_cancelled(srv):
    """Statements blocked on a lock stand for long ones.  Clients that
    leave while theirs wait get them cancelled at once (not when the lock
    goes), and the threads serve others meanwhile."""
    tok = srv.tokens["scim"]
    cancels0 = counter(srv, "rollcall_db_cancels_sent_total")
    locker = hold_lock(srv.db, 12)
    try:
        wait_locked(srv.db)
        # Twice the database threads: half run (blocked), half queue.
        for i in range(16):
            abandon(srv, raw("GET", "/scim/v2/Users?count=5", tok), 0.05)
        deadline = time.monotonic() + 6
        while active_statements(srv) > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        left = active_statements(srv)
        assert locker.poll() is None, "lock released too early"
        assert left == 0, f"{left} abandoned statements still wait"
        # A request that needs no lock on users gets a thread at once.
        t0 = time.monotonic()
        r = srv.get("/admin/v1/audit?limit=1", token=srv.tokens["admin"],
                    timeout=5)
        assert r.status == 200, r
        print(f"\n[disconnect] blocked: cancels sent "
              f"{counter(srv, 'rollcall_db_cancels_sent_total') - cancels0}"
              f"; unrelated request {1000 * (time.monotonic() - t0):.0f} ms"
              " while the lock was still held")
        assert counter(srv, "rollcall_db_cancels_sent_total") > cancels0
    finally:
        release(srv.db, locker)


def test_statement_timeout(srv, make_server):
    """No statement holds a thread longer than statement_timeout_ms."""
    db = srv.db
    s = make_server(db=db, workers=1,
                    env={"ROLLCALL_STATEMENT_TIMEOUT_MS": "500"})
    locker = hold_lock(db, 10)
    try:
        wait_locked(db)
        t0 = time.monotonic()
        r = s.get(f"/scim/v2/Users/{srv.patch_id}",
                  token=srv.tokens["scim"], timeout=8)
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert locker.poll() is None, "lock released before the timeout"
        print(f"\n[disconnect] statement_timeout_ms=500: 503 after "
              f"{took * 1000:.0f} ms")
    finally:
        release(srv.db, locker)


def test_statement_timeout_survives_a_reconnect(srv, make_server):
    """A task thread whose connection died opens a new one with the same
    session settings: still statement_timeout_ms, still application_name.
    (The idle check used PQreset, which keeps neither; here a background
    job usually meets the dead connection first and takes the full
    reconnect path, so this guards the reconnect in general.)"""
    db = srv.db
    s = make_server(db=db, workers=1,
                    env={"ROLLCALL_STATEMENT_TIMEOUT_MS": "500",
                         "ROLLCALL_DB_THREADS": "1"})
    locker = None
    try:
        path = f"/scim/v2/Users/{srv.patch_id}"
        assert s.get(path, token=srv.tokens["scim"]).status == 200
        db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{db.name}' AND application_name = "
               "'rollcall'")
        # Past the idle check, which finds the connection dead.
        time.sleep(2.5)
        locker = hold_lock(db, 10)
        wait_locked(db)
        t0 = time.monotonic()
        r = s.get(path, token=srv.tokens["scim"], timeout=8)
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert locker.poll() is None, "lock released before the timeout"
        print(f"\n[disconnect] after a reconnect: 503 after "
              f"{took * 1000:.0f} ms")
    finally:
        if locker is not None:
            release(db, locker)
