"""The harness itself (conftest.py): what a factory creates it tears
down whatever happens, a server that fails to start leaves neither a
process nor a database behind, and a database whose migration fails is
dropped.

The factories are driven here with a stand-in for pytest's request that
collects the finalizers, so the test can run them and look at what is
left: the same calls pytest makes at the end of a test or module."""
import os
import subprocess
import time

import pytest

import conftest
from conftest import Database, Factory, psql_admin


class Finalizers:
    """What Factory needs of pytest's request."""

    def __init__(self):
        self.fns = []

    def addfinalizer(self, fn):
        self.fns.append(fn)

    def run(self):
        """Runs them last first, each whatever the others did (as pytest
        does); returns what they raised."""
        errors = []
        for fn in reversed(self.fns):
            try:
                fn()
            except Exception as e:          # noqa: BLE001 -- collected
                errors.append(e)
        self.fns = []
        return errors


def databases():
    return set(psql_admin("SELECT datname FROM pg_database "
                          "WHERE datname LIKE 'it\\_%'").split())


def children():
    """Processes whose parent is this one (a started server's parent
    process is; the short-lived psql and rollcallctl runs are reaped)."""
    me, out = os.getpid(), set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            out.add(int(pid))
    return out


def test_a_server_that_fails_to_start_leaks_nothing():
    fin = Finalizers()
    make = Factory(fin)
    dbs, kids = databases(), children()
    with pytest.raises(AssertionError, match="server exited"):
        make(tokens=["gateway"], env={"ROLLCALL_LISTEN": "localhost:1"})
    # The process is gone at once; the database was registered before
    # the start, so the fixture's teardown drops it.
    assert children() == kids
    assert len(databases() - dbs) == 1
    assert fin.run() == []
    assert databases() == dbs


def test_teardown_goes_on_after_a_server_crashed():
    fin = Finalizers()
    make = Factory(fin)
    dbs, kids = databases(), children()
    a = make(tokens=["scim"], workers=1)
    b = make(db=a.db, workers=1)
    assert a.tokens is b.tokens is a.db.tokens and list(a.tokens) == ["scim"]
    assert len(children() - kids) == 2
    workers = [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(a.proc.pid)], capture_output=True,
        text=True).stdout.split()]
    assert workers
    a.proc.kill()                   # as if it had crashed
    a.proc.wait()
    # Its workers follow it (PR_SET_PDEATHSIG), not serve on orphaned.
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(alive(w) for w in workers), "workers outlived the parent"
    errors = fin.run()
    # a's check fails; b is still stopped and the database dropped.
    assert len(errors) == 1 and "exit -9" in str(errors[0]), errors
    assert children() == kids
    assert databases() == dbs


def test_a_database_whose_migration_fails_is_dropped(monkeypatch):
    dbs = databases()
    monkeypatch.setattr(conftest, "CTL", "/bin/false")
    with pytest.raises(AssertionError, match="migrate"):
        Database()
    assert databases() == dbs


def test_tokens_and_seed_in_order():
    fin = Finalizers()
    make = Factory(fin)
    try:
        seen = []
        d = make.database(
            seed=["CREATE TABLE t1 (x int)",
                  lambda db: seen.append(db.sql("SELECT 1").strip()),
                  ["INSERT INTO t1 VALUES (2)"]],
            tokens={"gw": "gateway",
                    "mine": {"scopes": "admin", "directory": None,
                             "name": "mine"}})
        assert seen == ["1"]
        assert d.sql("SELECT x FROM t1").strip() == "2"
        assert list(d.tokens) == ["gw", "mine"]
        rows = d.sql("SELECT name, scopes, directory_id IS NULL FROM "
                     "tokens ORDER BY created_at").split()
        assert rows == ["it-gateway|{gateway}|f", "mine|{admin}|t"], rows
    finally:
        assert fin.run() == []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
