"""The rig test_model.py drives: a private PostgreSQL cluster it may
restart at will, a database in it, a persistent psql that reads the
whole policy state as one JSON document, and one keep-alive connection
pinned to each worker of a rollcall instance."""
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import time

from conftest import ROOT, Database, free_port, localpg

PG_BIN = sorted(
    (os.path.join("/usr/lib/postgresql", v, "bin")
     for v in os.listdir("/usr/lib/postgresql")),
    key=lambda p: [int(x) for x in re.findall(r"\d+", p)])[-1]


class Cluster:
    """A PostgreSQL cluster of our own (scripts/localpg.sh with its own
    RC_PGDIR and port), so restarting it disturbs no other test."""

    def __init__(self):
        self.port = free_port()
        self.dir = str(ROOT / ".run" / f"pg-model-{self.port}")
        self.env = dict(os.environ)
        self.env.update({
            "RC_PGDIR": self.dir, "RC_PGPORT": str(self.port),
            # Commits must survive an immediate restart (the model is
            # what PostgreSQL acknowledged), so synchronous_commit stays
            # on; fsync may go, the machine does not crash.
            "RC_PGEXTRA": "fsync = off\nfull_page_writes = off\n"
                          "max_connections = 100"})
        localpg("start", env=self.env)

    def psql(self, sql, db="postgres"):
        return localpg("psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", db,
                       "-c", sql, env=self.env).stdout

    def dsn(self, db):
        base = localpg("dsn", env=self.env).stdout.strip()
        return re.sub(r"dbname=\S+", f"dbname={db}", base)

    def restart(self, mode):
        """pg_ctl restart -m fast|immediate|smart; returns seconds taken."""
        t0 = time.monotonic()
        args = [f"{PG_BIN}/pg_ctl", "-D", self.dir, "-l",
                f"{self.dir}/log", "-m", mode, "-w", "-t", "60", "restart"]
        if os.getuid() == 0:
            args = ["runuser", "-u", "postgres", "--"] + args
        subprocess.run(args, check=True, capture_output=True, timeout=90,
                       stdin=subprocess.DEVNULL)
        return time.monotonic() - t0

    def destroy(self):
        try:
            localpg("stop", env=self.env)
        except Exception:           # noqa: BLE001 -- tear down regardless
            args = [f"{PG_BIN}/pg_ctl", "-D", self.dir, "-m",
                    "immediate", "stop"]
            if os.getuid() == 0:
                args = ["runuser", "-u", "postgres", "--"] + args
            subprocess.run(args, capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(self.dir + ".password")
        except FileNotFoundError:
            pass


class ClusterDatabase(Database):
    """conftest's Database, in a Cluster of our own."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.name = "model_" + secrets.token_hex(6)
        cluster.psql(f"CREATE DATABASE {self.name} OWNER rollcall")
        self.dsn = cluster.dsn(self.name)
        self.ctl("migrate")

    def sql(self, query):
        return self.cluster.psql(query, db=self.name)

    def drop(self):
        pass                        # the cluster goes as a whole


# Everything a decision rests on, as PostgreSQL holds it, in one
# statement (one snapshot): the shape policy_model.Local reads.
# Emails are the values Entra sent (doc->'emails', string values, in
# order), which policy_model folds itself, not emails_lc: PostgreSQL's
# lower() is no identity key (lower('İ') is 'i', while full case
# folding gives 'i' + U+0307, README "Who is the same user"), so
# emails_lc claims aliases rollcall rightly does not match.  A row with
# no keys yet (written by hand, not by SCIM) is what rollcall loads
# from emails_lc, so the model does the same there.
STATE_SQL = r"""
SELECT json_build_object(
 'version', (SELECT version FROM policy_state),
 'users', (SELECT coalesce(json_agg(json_build_object(
     'id', u.id, 'type', 'user', 'directory', u.directory_id::text,
     'userName', u.user_name, 'externalId', u.external_id,
     'emails', CASE WHEN u.emails_key IS NULL THEN to_json(u.emails_lc)
         ELSE (SELECT coalesce(json_agg(e->>'value' ORDER BY o), '[]')
               FROM jsonb_array_elements(CASE WHEN
                   jsonb_typeof(u.doc->'emails') = 'array'
                   THEN u.doc->'emails' ELSE '[]' END)
                   WITH ORDINALITY AS t(e, o)
               WHERE jsonb_typeof(e->'value') = 'string') END,
     'appId', NULL, 'owner', NULL,
     'active', u.active, 'deleted', u.deleted_at IS NOT NULL,
     'revoked', u.revoked_all_at IS NOT NULL,
     'roles', (SELECT coalesce(json_agg(coalesce(r->>'value', r#>>'{}')),
               '[]') FROM jsonb_array_elements(CASE WHEN
               jsonb_typeof(u.doc->'roles') = 'array' THEN u.doc->'roles'
               ELSE '[]' END) r WHERE coalesce(r->>'value', CASE WHEN
               jsonb_typeof(r) = 'string' THEN r#>>'{}' END) IS NOT NULL),
     'groups', (SELECT coalesce(json_agg(m.group_id ORDER BY m.group_id),
                '[]') FROM memberships m JOIN groups g ON g.id = m.group_id
                AND g.deleted_at IS NULL WHERE m.user_id = u.id))
     ORDER BY u.created_at, u.id), '[]') FROM users u),
 'groups', (SELECT coalesce(json_agg(json_build_object('id', id,
     'displayName', display_name, 'deleted', deleted_at IS NOT NULL)
     ORDER BY created_at, id), '[]') FROM groups),
 'nestings', (SELECT coalesce(json_agg(json_build_array(n.group_id,
     n.member_group_id) ORDER BY n.group_id, n.member_group_id), '[]')
     FROM group_nestings n JOIN groups a ON a.id = n.group_id AND
     a.deleted_at IS NULL JOIN groups b ON b.id = n.member_group_id AND
     b.deleted_at IS NULL),
 'rules', (SELECT coalesce(json_agg(json_build_object('id', id,
     'directory_id', directory_id::text, 'subject_kind', subject_kind,
     'subject_id', coalesce(subject_id::text, subject_role),
     'server', server_slug,
     'selector', tool_selector, 'effect', effect,
     'max_grant_s', max_grant_s)), '[]') FROM rules),
 'tools', (SELECT coalesce(json_agg(json_build_object('server', s.slug,
     'name', t.name, 'risk', t.risk, 'labels', t.labels)), '[]')
     FROM tools t JOIN mcp_servers s ON s.id = t.server_id),
 'grants', (SELECT coalesce(json_agg(json_build_object('id', id,
     'principal', principal_id, 'server', server_slug,
     'selector', tool_selector,
     'not_before_ms', (extract(epoch FROM not_before) * 1000)::bigint,
     'expires_at_ms', (extract(epoch FROM expires_at) * 1000)::bigint)),
     '[]') FROM jit_grants WHERE state = 'approved' AND expires_at > now())
)::text;
"""


class Psql:
    """One psql kept open for the whole run (a fresh one costs more than
    the query); started again when PostgreSQL restarts under it."""

    END = "--model-end--"

    def __init__(self, dsn):
        self.dsn = dsn
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", self.dsn],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)

    def _once(self, sql):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(sql.strip() + "\n\\echo " + self.END + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise OSError("psql ended: " + "".join(lines)[-500:])
            if line.rstrip("\n") == self.END:
                return "".join(lines)
            lines.append(line)

    def query(self, sql, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._once(sql)
            except (OSError, ValueError) as e:
                self.close()
                if time.monotonic() > deadline:
                    raise AssertionError(f"psql kept failing: {e}")
                time.sleep(0.1)

    def state(self):
        return json.loads(self.query(STATE_SQL))

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


def worker_of(resp):
    """The worker that answered: respond.c's request id is 8 hex of
    per-process prefix, 2 hex of worker id, 8 hex of counter."""
    rid = resp.getheader("x-request-id") or ""
    return rid[-10:-8] if len(rid) == 18 else None


class Pinned:
    """One keep-alive connection per worker of one instance, found by
    opening fresh connections until every worker has answered one
    (worker_accept_threshold 1 hands the accept lock on)."""

    def __init__(self, server, token, workers):
        self.server, self.token, self.workers = server, token, workers
        self.conns = {}
        self.fill()

    def _post(self, conn, path, body):
        conn.request("POST", path, body=json.dumps(body), headers={
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        return r, data

    def fill(self, timeout=15):
        deadline = time.monotonic() + timeout
        while len(self.conns) < self.workers:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"reached workers {sorted(self.conns)} only of "
                    f"{self.workers}")
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                              timeout=30)
            try:
                r, _ = self._post(conn, "/v1/authorize", {
                    "subject": "nobody", "server": "x", "tool": "x"})
            except OSError:
                conn.close()
                time.sleep(0.05)
                continue
            w = worker_of(r)
            if w is not None and w not in self.conns:
                self.conns[w] = conn
            else:
                conn.close()

    def ask(self, worker, body, path="/v1/authorize"):
        """The decision of that worker (reconnecting once if the kept
        connection was closed)."""
        for attempt in (0, 1):
            conn = self.conns[worker]
            try:
                r, data = self._post(conn, path, body)
            except (OSError, http.client.HTTPException):
                conn.close()
                del self.conns[worker]
                if attempt:
                    raise
                self.fill()
                continue
            assert r.status == 200, (r.status, data[:300])
            got = worker_of(r)
            assert got == worker, (got, worker)
            return json.loads(data)

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}
