"""Integration-test harness: a real rollcall server against a real,
private PostgreSQL cluster, driven over HTTP.

scripts/test.sh starts the cluster (scripts/localpg.sh with RC_PGDIR and
RC_PGPORT) and exports those variables; every server fixture gets a fresh
database in that cluster, migrated with the real rollcallctl.  The
binary under test is RC_BINARY (release or sanitizer build).
"""
import http.client
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = os.environ.get("RC_BUILD", str(ROOT / "build" / "release"))
BINARY = os.path.join(BUILD, "rollcall")
CTL = os.path.join(BUILD, "rollcallctl")
BAD_LOG = [
    "died from sandbox violation",
    "restarting worker",
    'ignoring "',
    "AddressSanitizer",
    "runtime error:",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def localpg(*args, **kw):
    return subprocess.run(["sh", str(ROOT / "scripts" / "localpg.sh"), *args],
                          check=True, capture_output=True, text=True, **kw)


def psql_admin(sql, db="postgres"):
    """Runs SQL as the cluster's superuser (for test set-up only)."""
    return localpg("psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", db,
                   "-c", sql).stdout


class Database:
    """A fresh database in the test cluster, migrated."""

    def __init__(self):
        self.name = "it_" + secrets.token_hex(6)
        psql_admin(f"CREATE DATABASE {self.name} OWNER rollcall")
        base = localpg("dsn").stdout.strip()
        self.dsn = re.sub(r"dbname=\S+", f"dbname={self.name}", base)
        self.ctl("migrate")

    def env(self):
        env = dict(os.environ)
        env["ROLLCALL_DATABASE_URL"] = self.dsn
        env.pop("ROLLCALL_SETTINGS", None)
        return env

    def ctl(self, *args, check=True):
        r = subprocess.run([CTL, *args], cwd=ROOT, env=self.env(),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"rollcallctl {args} failed: {r.stderr}")
        return r

    def token(self, scopes, directory="default", name=None):
        args = ["token", "create", "--scope", scopes,
                "--name", name or f"it-{scopes}"]
        args += ["--global"] if directory is None else ["--directory",
                                                        directory]
        out = self.ctl(*args).stdout.strip().splitlines()
        return out[-1]

    def sql(self, query):
        return psql_admin(query, db=self.name)

    def drop(self):
        psql_admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    """One rollcall process (parent + workers)."""

    def __init__(self, db, workers=4, env=None, conf_extra="",
                 privsep=False, wait=True):
        self.db = db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="rollcall-it-")
        self.log_path = os.path.join(self.tmp, "server.log")
        # The shared Kore settings, as production uses them.
        conf = (ROOT / "conf" / "common.conf").read_text()
        conf = f"pidfile\t{self.tmp}/rollcall.pid\n" + conf
        # Spread fresh connections over workers (conf/common.conf).
        conf = re.sub(r"(?m)^worker_accept_threshold.*$",
                      "worker_accept_threshold\t1", conf)
        if privsep:
            empty = os.path.join(self.tmp, "empty")
            os.mkdir(empty, 0o755)
            os.chmod(self.tmp, 0o755)
            conf = f"root\t{empty}\nrunas\tnobody\n" + conf
        conf += "\n" + conf_extra + "\n"
        self.conf_path = os.path.join(self.tmp, "rollcall.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        self.env = db.env()
        self.env["ROLLCALL_LISTEN"] = f"127.0.0.1:{self.port}"
        self.env["ROLLCALL_PUBLIC_URL"] = self.base
        if workers is not None:
            self.env["ROLLCALL_WORKERS"] = str(workers)
        self.env["ROLLCALL_DB_WAIT_S"] = "5"
        # LeakSanitizer cannot ptrace inside the seccomp sandbox.
        self.env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.env.update(env or {})
        # None removes a variable (e.g. to see a setting's default).
        self.env = {k: v for k, v in self.env.items() if v is not None}
        args = [BINARY, "-c", self.conf_path, "-f"]
        if not privsep:
            args += ["-n", "-r"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited {self.proc.returncode}:\n{self.logtext()}")
            try:
                if self.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy:\n{self.logtext()}")

    def logtext(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, token=None, headers=None,
                timeout=30, content_type="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            if content_type:
                hdrs.setdefault("Content-Type", content_type)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def stop(self, check_log=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop on SIGTERM")
        self.log.close()
        if check_log:
            text = self.logtext()
            for bad in BAD_LOG:
                assert bad not in text, f"server log has {bad!r}:\n{text}"
            assert self.proc.returncode == 0, \
                f"exit {self.proc.returncode}:\n{text}"


@pytest.fixture(scope="module")
def db():
    d = Database()
    yield d
    d.drop()


@pytest.fixture(scope="module")
def server(db):
    # Minted before start, so they are in the table the parent loads.
    tokens = {
        "scim": db.token("scim"),
        "gateway": db.token("gateway"),
        "admin": db.token("admin"),
        "global_admin": db.token("admin", directory=None, name="global"),
    }
    s = Server(db)
    s.tokens = tokens
    yield s
    s.stop()
