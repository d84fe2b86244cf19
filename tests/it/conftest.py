"""Integration-test harness: a real rollcall server against a real,
private PostgreSQL cluster, driven over HTTP.

scripts/test.sh starts the cluster (scripts/localpg.sh with RC_PGDIR and
RC_PGPORT) and exports those variables; every server fixture gets a fresh
database in that cluster, migrated with the real rollcallctl.  The
binary under test is RC_BINARY (release or sanitizer build).

This module is the one harness every test module uses:

- Database: a fresh, migrated database; its tokens (db.tokens) are
  minted with db.mint(...) from the names in TOKENS or explicit specs.
- Server: one rollcall process on a Database; server.tokens are its
  database's tokens unless given.
- make_server / make_module_server: factory fixtures, the way a test
  gets a server or a database of its own (Server(...) directly only
  where a test drives the process's life itself: a start meant to fail,
  a cluster of its own):

      srv = make_module_server(tokens=("gateway", "admin"),
                               seed=seed.seed, workers=2)
      db = make_server.database(tokens=..., seed=...)

  Whatever a factory created it tears down when its scope ends (test or
  module), whatever happens: servers are stopped before their databases
  are dropped, and a database is registered for dropping before its
  server starts, so a server that fails to start does not leak it.
- db / server: the common module-scoped pair (the TOKENS kinds).

No test may rely on data another test wrote: a test that needs a state
builds it, or gets a database of its own.
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


# Token kinds a test asks for by name (Database.mint): keyword arguments
# of Database.token.
TOKENS = {
    "scim": {"scopes": "scim"},
    "gateway": {"scopes": "gateway"},
    "admin": {"scopes": "admin"},
    "global_admin": {"scopes": "admin", "directory": None, "name": "global"},
}


class Database:
    """A fresh database in the test cluster, migrated."""

    def __init__(self):
        self.name = "it_" + secrets.token_hex(6)
        self.tokens = {}
        psql_admin(f"CREATE DATABASE {self.name} OWNER rollcall")
        try:
            base = localpg("dsn").stdout.strip()
            self.dsn = re.sub(r"dbname=\S+", f"dbname={self.name}", base)
            self.ctl("migrate")
        except BaseException:
            self.drop()
            raise

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

    def mint(self, tokens):
        """Mints tokens into self.tokens (in order) and returns it.

        tokens: names in TOKENS, or a mapping from the key to store each
        under to a name in TOKENS or a dict of token() arguments."""
        if isinstance(tokens, dict):
            items = tokens.items()
        else:
            items = ((k, k) for k in tokens)
        for key, spec in items:
            if isinstance(spec, str):
                spec = TOKENS[spec]
            self.tokens[key] = self.token(**spec)
        return self.tokens

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
    """One rollcall process (parent + workers).

    If it does not become healthy (wait=True), the process is ended and
    the constructor raises: nothing is left running."""

    def __init__(self, db, workers=4, env=None, conf_extra="",
                 privsep=False, wait=True, tokens=None, chroot_setup=None):
        self.db = db
        self.tokens = getattr(db, "tokens", {}) if tokens is None else tokens
        self.stopped = False
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
            # A test may prepare the chroot (e.g. make it unwritable).
            if chroot_setup is not None:
                chroot_setup(empty)
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
            try:
                self.wait_healthy()
            except BaseException:
                self.stop(check_log=False)
                raise

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
        """Ends the process; checks its log unless told not to.  Only the
        first call does anything (a test may stop a server its fixture
        stops again)."""
        if self.stopped:
            return
        self.stopped = True
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


def run_seed(db, seed):
    """seed: SQL text, a callable taking the Database, or a list of
    those, applied in order."""
    if seed is None:
        return
    if isinstance(seed, (list, tuple)):
        for step in seed:
            run_seed(db, step)
    elif callable(seed):
        seed(db)
    else:
        db.sql(seed)


class Factory:
    """What make_server and make_module_server give: a callable that
    starts a Server, and database() for a Database alone.  Everything it
    creates is torn down by the fixture's finalizers, last created first,
    whatever the test did."""

    def __init__(self, request):
        self.finalize = request.addfinalizer

    def database(self, tokens=(), seed=None):
        """A fresh database: seed applied first, then tokens minted."""
        d = Database()
        self.finalize(d.drop)
        run_seed(d, seed)
        d.mint(tokens)
        return d

    def __call__(self, tokens=(), seed=None, db=None, **server_kw):
        """A running Server (keyword arguments as Server's) on db, or on a
        fresh database (database(tokens, seed)).  On a given db, seed is
        applied and tokens are minted into db.tokens before the start (so
        the parent loads them)."""
        if db is None:
            db = self.database(tokens, seed)
        else:
            run_seed(db, seed)
            db.mint(tokens)
        s = Server(db, **server_kw)
        self.finalize(s.stop)
        return s


@pytest.fixture
def make_server(request):
    return Factory(request)


@pytest.fixture(scope="module")
def make_module_server(request):
    return Factory(request)


@pytest.fixture(scope="module")
def db(make_module_server):
    return make_module_server.database()


@pytest.fixture(scope="module")
def server(db, make_module_server):
    return make_module_server(db=db, tokens=TOKENS)
