"""Schema migrations against a real database: 'rollcallctl migrate'
applies sql/NNN_name.sql in the order of src/core/migration.h (1, 3, 4,
...; 2 is retired) and refuses, before anything runs, a gap in the
files, a file numbered 002, a database whose recorded versions have a
gap, and a recorded version whose file now has another name.  The
server refuses to start on a database with a gap as it does on one
that is behind."""
import re
import secrets
import shutil

import pytest

from conftest import ROOT, Database, Server, localpg, psql_admin


SHIPPED = sorted(f.name for f in (ROOT / "sql").glob("[0-9]*.sql"))
LAST = int(SHIPPED[-1][:3])
CUR = ",".join(str(int(f[:3])) for f in SHIPPED)   # "1,3,4,..."
NEXT = LAST + 1                                      # the next free number


def mig(v, name):
    return f"{v:03d}_{name}.sql"


def versions(d):
    return d.sql("SELECT string_agg(version::text, ',' ORDER BY version) "
                 "FROM schema_migrations").strip()


def table_exists(d, name):
    return d.sql(f"SELECT to_regclass('{name}') IS NOT NULL").strip() == "t"


@pytest.fixture
def sqldir(tmp_path):
    """A copy of sql/ that a test may add files to."""
    d = tmp_path / "sql"
    shutil.copytree(ROOT / "sql", d)
    return d


@pytest.fixture
def db():
    """A fresh migrated database per test: these tests change its
    schema_migrations."""
    d = Database()
    yield d
    d.drop()


@pytest.fixture
def empty_db():
    """A database with nothing applied yet."""
    d = Database.__new__(Database)
    d.name = "it_mig_" + secrets.token_hex(5)
    psql_admin(f"CREATE DATABASE {d.name} OWNER rollcall")
    d.dsn = re.sub(r"dbname=\S+", f"dbname={d.name}",
                   localpg("dsn").stdout.strip())
    yield d
    d.drop()


def test_released_versions_are_1_3_4(db):
    files = sorted(f.name for f in (ROOT / "sql").glob("[0-9]*.sql"))
    assert [f[:3] for f in files][:3] == ["001", "003", "004"]
    assert "002" not in [f[:3] for f in files]
    assert versions(db).startswith("1,3,4")


def test_next_version_applies_in_order(db, sqldir):
    (sqldir / mig(NEXT, "next")).write_text("CREATE TABLE mig_next (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir))
    assert r.stdout.splitlines()[0] == f"applied {mig(NEXT, 'next')}"
    assert versions(db) == f"{CUR},{NEXT}"
    assert "up to date" in db.ctl("migrate", "--dir", str(sqldir)).stdout


def test_database_behind_gets_only_what_follows(empty_db, sqldir):
    old = sqldir.parent / "old"
    old.mkdir()
    for f in ("001_model.sql", "003_audit.sql"):
        shutil.copy(sqldir / f, old / f)
    empty_db.ctl("migrate", "--dir", str(old))
    assert versions(empty_db) == "1,3"
    r = empty_db.ctl("migrate", "--dir", str(sqldir))
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("applied")
            ] == [f"applied {f}" for f in SHIPPED if int(f[:3]) > 3]
    assert versions(empty_db) == CUR


def test_gap_in_files_is_refused(db, sqldir):
    (sqldir / mig(NEXT + 1, "skips")).write_text(
        "CREATE TABLE mig_gap (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert f"version {NEXT + 1} follows {LAST}: {NEXT} is missing" in \
        r.stderr, r.stderr
    assert not table_exists(db, "mig_gap")
    assert versions(db) == CUR


def test_retired_002_is_refused(db, sqldir):
    (sqldir / "002_late.sql").write_text("CREATE TABLE mig_late (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert "version 2 is retired" in r.stderr, r.stderr
    assert not table_exists(db, "mig_late")


def test_duplicate_number_is_refused(db, sqldir):
    (sqldir / mig(NEXT, "a")).write_text("CREATE TABLE mig_a (x int);")
    (sqldir / mig(NEXT, "b")).write_text("CREATE TABLE mig_b (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert f"version {NEXT} appears twice" in r.stderr, r.stderr
    assert not table_exists(db, "mig_a") and not table_exists(db, "mig_b")


def test_fresh_database_with_a_gap_gets_nothing(empty_db, sqldir):
    (sqldir / "003_audit.sql").unlink()
    r = empty_db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert "version 4 follows 1: 3 is missing" in r.stderr, r.stderr
    assert not table_exists(empty_db, "users")


def test_same_number_other_name_is_refused(db, sqldir):
    """Two branches each took the next number: the database ran one."""
    (sqldir / mig(NEXT, "mine")).write_text("CREATE TABLE mig_mine (x int);")
    db.ctl("migrate", "--dir", str(sqldir))
    (sqldir / mig(NEXT, "mine")).unlink()
    (sqldir / mig(NEXT, "theirs")).write_text("CREATE TABLE mig_t (x int);")
    (sqldir / mig(NEXT + 1, "after")).write_text(
        "CREATE TABLE mig_after (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert f"version {NEXT} was applied from {mig(NEXT, 'mine')}, but the " \
        f"file is now {mig(NEXT, 'theirs')}" in r.stderr, r.stderr
    assert not table_exists(db, "mig_t")
    assert not table_exists(db, "mig_after")


def test_recorded_gap_is_refused_by_migrate_and_server(db, sqldir):
    """A database that lost track of version 3 (or ran 4 without it):
    neither migrate nor the server may act on it."""
    db.sql("DELETE FROM schema_migrations WHERE version = 3")
    (sqldir / mig(NEXT, "next")).write_text("CREATE TABLE mig_next (x int);")
    r = db.ctl("migrate", "--dir", str(sqldir), check=False)
    assert r.returncode != 0
    assert "schema_migrations: version 4 follows 1: 3 is missing" in \
        r.stderr, r.stderr
    assert not table_exists(db, "mig_next")
    assert versions(db) == CUR.replace("1,3,", "1,")

    s = Server(db, wait=False)
    try:
        s.proc.wait(timeout=20)
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
    text = s.logtext()
    assert s.proc.returncode != 0
    assert "version 4 follows 1: 3 is missing" in text, text
    assert "worker 1 started" not in text


def test_server_starts_on_a_database_ahead(db, sqldir):
    """A newer rollcallctl applied the next version: this server does not
    need it."""
    (sqldir / mig(NEXT, "next")).write_text("CREATE TABLE mig_next (x int);")
    db.ctl("migrate", "--dir", str(sqldir))
    s = Server(db, workers=1)
    try:
        assert s.get("/healthz").status == 200
    finally:
        s.stop()
