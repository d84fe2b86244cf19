"""Harness for rollcall's benchmarks (Debian python3, standard library
only): a private PostgreSQL cluster with its default, durable settings
(fsync and synchronous_commit on; the test cluster runs without them),
a fresh migrated database, a rollcall server started the way
tests/it/conftest.py starts one, and a keep-alive HTTP load generator
with latency percentiles.  Not a test: nothing here asserts."""
import http.client
import json
import os
import pathlib
import platform
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]


def sh(*args, env=None, check=True, timeout=600):
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n"
                           f"{r.stdout}{r.stderr}")
    return r.stdout


class Cluster:
    """scripts/localpg.sh on its own directory and port; left running
    (other benchmarks share it)."""

    def __init__(self, pgdir, port):
        self.env = dict(os.environ, RC_PGDIR=str(pgdir), RC_PGPORT=str(port))
        self.env.pop("RC_PGEXTRA", None)
        sh("sh", "scripts/localpg.sh", "start", env=self.env)

    def psql(self, sql, db="postgres"):
        return sh("sh", "scripts/localpg.sh", "psql", "-v", "ON_ERROR_STOP=1",
                  "-qAt", "-d", db, "-c", sql, env=self.env)

    def dsn(self, db):
        base = sh("sh", "scripts/localpg.sh", "dsn", env=self.env).strip()
        return re.sub(r"dbname=\S+", f"dbname={db}", base)


class Database:
    """A fresh database in the cluster, migrated by rollcallctl."""

    def __init__(self, cluster, ctl):
        self.cluster = cluster
        self.ctl_path = ctl
        self.name = "bench_" + secrets.token_hex(5)
        cluster.psql(f"CREATE DATABASE {self.name} OWNER rollcall")
        self.dsn = cluster.dsn(self.name)
        self.ctl("migrate")

    def env(self):
        env = dict(os.environ, ROLLCALL_DATABASE_URL=self.dsn)
        env.pop("ROLLCALL_SETTINGS", None)
        return env

    def ctl(self, *args):
        return sh(self.ctl_path, *args, env=self.env())

    def sql(self, query):
        return self.cluster.psql(query, db=self.name)

    def drop(self):
        self.cluster.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class DsnDatabase:
    """An existing database (a server started by 'make run'), via psql."""

    def __init__(self, dsn):
        self.dsn = dsn

    def sql(self, query):
        return sh("psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", self.dsn,
                  "-c", query)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One rollcall (parent + workers) on a free port, log in a file."""

    def __init__(self, binary, db, workers=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="rollcall-bench-")
        conf = (ROOT / "conf" / "common.conf").read_text()
        conf = f"pidfile\t{self.tmp}/rollcall.pid\n" + conf
        path = os.path.join(self.tmp, "rollcall.conf")
        with open(path, "w") as f:
            f.write(conf)
        env = db.env()
        env["ROLLCALL_LISTEN"] = f"127.0.0.1:{self.port}"
        env["ROLLCALL_PUBLIC_URL"] = self.base
        if workers:
            env["ROLLCALL_WORKERS"] = str(workers)
        self.log_path = os.path.join(self.tmp, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "-c", path, "-f", "-n", "-r"],
                                     cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log_path}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: see {self.log_path}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Client:
    """One keep-alive connection; reconnects after a dropped one."""

    def __init__(self, base, token, timeout=60):
        u = urllib.parse.urlsplit(base)
        self.netloc = u.netloc
        self.https = u.scheme == "https"
        self.prefix = u.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}",
                        "Content-Type": "application/scim+json"}
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        """(status, parsed JSON or None, seconds)."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            if self.conn is None:
                cls = (http.client.HTTPSConnection if self.https
                       else http.client.HTTPConnection)
                self.conn = cls(self.netloc, timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                self.conn.request(method, self.prefix + path, body=data,
                                  headers=self.headers)
                r = self.conn.getresponse()
                raw = r.read()
                dt = time.perf_counter() - t0
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if r.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = None
            return r.status, doc, dt
        raise RuntimeError("unreachable")


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1,
            max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[i]


class Result:
    def __init__(self, name, latencies, elapsed, errors, count=None):
        self.name = name
        self.lat = sorted(latencies)
        self.elapsed = elapsed
        self.errors = errors
        self.count = len(latencies) if count is None else count

    @property
    def rate(self):
        return self.count / self.elapsed if self.elapsed > 0 else 0.0


def run_load(name, base, token, jobs, conns, make_request, on_result=None):
    """Runs make_request(i) -> (method, path, body) for i in jobs over
    conns keep-alive connections; on_result(i, status, doc) sees every
    answer (from worker threads).  Returns a Result; a status >= 300 is
    an error."""
    jobs = list(jobs)
    lat = [[] for _ in range(conns)]
    errs = [0] * conns
    first_errors = []

    def worker(k):
        c = Client(base, token)
        for i in jobs[k::conns]:
            method, path, body = make_request(i)
            try:
                status, doc, dt = c.request(method, path, body)
            except (http.client.HTTPException, OSError) as e:
                errs[k] += 1
                if len(first_errors) < 3:
                    first_errors.append(f"{method} {path}: {e}")
                continue
            lat[k].append(dt)
            if status >= 300:
                errs[k] += 1
                if len(first_errors) < 3:
                    first_errors.append(f"{method} {path} -> {status} "
                                        f"{json.dumps(doc)[:200]}")
            if on_result is not None:
                on_result(i, status, doc)

    threads = [threading.Thread(target=worker, args=(k,))
               for k in range(conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for e in first_errors:
        print(f"  {name}: error: {e}", flush=True)
    return Result(name, [x for part in lat for x in part], elapsed, sum(errs))


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, {mem} RAM, "
            f"{platform.system()} {platform.release()}")
