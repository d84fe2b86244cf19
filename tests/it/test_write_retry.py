"""The write protocol's retry (store.h: store_txn_run): a write that
PostgreSQL aborts to break a deadlock runs again and succeeds, through
the same path every writer uses.

The deadlock is made on purpose, without timing guesses: a second session
(as the superuser, with a long deadlock_timeout so PostgreSQL picks the
server's transaction as the victim) holds the policy_state row.  The
server's write locks its row, then waits for policy_state in
store_changes_flush().  The session then asks for that same row: a cycle.
Each step waits for the state it needs in pg_stat_activity.  Once the
session's statement has gone through, the server's first attempt is known
to have been aborted (40P01); an answer of success can then only come from
the rerun."""
import subprocess
import threading
import time

from conftest import ROOT

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LOCKER = "rc_it_locker"


def sql(db, query):
    return db.sql(query).strip()


def wait_for(db, query, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sql(db, query) == "1":
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Locker:
    """An interactive psql session on the test database."""

    def __init__(self, db):
        self.db = db
        self.proc = subprocess.Popen(
            ["sh", str(ROOT / "scripts" / "localpg.sh"), "psql", "-qAt",
             "-v", "ON_ERROR_STOP=1", "-d", db.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def idle_after(self, prefix):
        """Waits until the session finished a statement starting so."""
        wait_for(self.db, "SELECT count(*) FROM pg_stat_activity WHERE "
                 f"application_name = '{LOCKER}' AND state = "
                 f"'idle in transaction' AND query LIKE '{prefix}%'",
                 f"the locking session's {prefix!r}")

    def close(self):
        try:
            self.send("ROLLBACK;")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=15)
        return self.proc.stderr.read()


def deadlocked_write(db, request, relock):
    """Runs request() while a deadlock aborts its first attempt.

    relock is the statement that takes the row the write locked."""
    locker = Locker(db)
    try:
        locker.send(f"SET application_name = '{LOCKER}';"
                    "SET deadlock_timeout = '60s';")
        locker.send("BEGIN;")
        locker.send("SELECT version FROM policy_state FOR UPDATE;")
        locker.idle_after("SELECT version FROM policy_state")

        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=request()))
        t.start()
        # The server's write holds its row and waits for policy_state.
        wait_for(db, "SELECT count(*) FROM pg_stat_activity WHERE "
                 "wait_event_type = 'Lock' AND query LIKE "
                 "'UPDATE policy_state%'", "the write to reach the flush")
        locker.send(relock)
        # Only the server's transaction can have been aborted now.
        locker.idle_after(relock[:20])
        err = locker.close()
        t.join(30)
        assert not t.is_alive(), "the write never answered"
        assert "deadlock" not in err, err
        return answer["r"]
    finally:
        if locker.proc.poll() is None:
            locker.proc.kill()
            locker.proc.wait()


def audit_count(db, action, resource):
    return int(sql(db, "SELECT count(*) FROM audit_log WHERE action = "
                   f"'{action}' AND resource_id = '{resource}'"))


def test_admin_write_reruns_after_deadlock(db, server):
    r = server.request("POST", "/admin/v1/servers",
                       token=server.tokens["global_admin"],
                       body={"slug": "contended", "name": "before"})
    assert r.status == 201, r
    version = int(sql(db, "SELECT version FROM policy_state"))

    r = deadlocked_write(
        db,
        lambda: server.request("PATCH", "/admin/v1/servers/contended",
                               token=server.tokens["global_admin"],
                               body={"name": "after"}),
        "UPDATE mcp_servers SET updated_at = now() "
        "WHERE slug = 'contended';")
    assert r.status == 200, r
    assert r.json["name"] == "after"
    # One committed attempt: one audit entry, one policy version.
    assert audit_count(db, "server.update", "contended") == 1
    assert int(sql(db, "SELECT version FROM policy_state")) == version + 1
    r = server.request("GET", "/admin/v1/servers/contended",
                       token=server.tokens["global_admin"])
    assert r.status == 200 and r.json["name"] == "after", r


def test_scim_write_reruns_after_deadlock(db, server):
    r = server.post("/scim/v2/Users", token=server.tokens["scim"],
                    body={"schemas": [USER], "userName": "dl@contoso.com"})
    assert r.status == 201, r
    uid = r.json["id"]

    r = deadlocked_write(
        db,
        lambda: server.request(
            "PATCH", f"/scim/v2/Users/{uid}", token=server.tokens["scim"],
            body={"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "active", "value": False}]}),
        f"UPDATE users SET updated_at = updated_at WHERE id = '{uid}';")
    assert r.status in (200, 204), r
    assert audit_count(db, "scim.user.patch", uid) == 1
    r = server.get(f"/scim/v2/Users/{uid}", token=server.tokens["scim"])
    assert r.status == 200 and r.json["active"] is False, r
