"""Shared by the benchmarks: a private PostgreSQL (scripts/localpg.sh),
a fresh database, a real rollcall server, and small statistics helpers.
The benchmarks are measurements, not tests: they print tables."""
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RC_BUILD", os.path.join(ROOT, "build", "release"))
# The benchmark cluster; RC_PGPORT/RC_PGDIR choose another (a shared
# machine where several checkouts bench at once).
PGENV = {"RC_PGDIR": os.environ.get("RC_PGDIR",
                                    os.path.join(ROOT, ".run", "pg-bench")),
         "RC_PGPORT": os.environ.get("RC_PGPORT", "54349")}


def run(args, **kw):
    env = dict(os.environ)
    env.update(PGENV)
    env.update(kw.pop("env", {}))
    return subprocess.run(args, cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, **kw)


def localpg(*args):
    return run(["sh", "scripts/localpg.sh", *args]).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchDB:
    def __init__(self):
        localpg("start")
        self.name = "bench_" + secrets.token_hex(4)
        localpg("psql", "-q", "-c",
                f"CREATE DATABASE {self.name} OWNER rollcall")
        self.dsn = re.sub(r"dbname=\S+", f"dbname={self.name}",
                          localpg("dsn").strip())
        self.ctl("migrate")

    def env(self):
        return {"ROLLCALL_DATABASE_URL": self.dsn}

    def ctl(self, *args):
        return run([os.path.join(BUILD, "rollcallctl"), *args],
                   env=self.env()).stdout

    def token(self, scope, directory="default"):
        args = ["token", "create", "--scope", scope, "--name", "bench-" + scope]
        args += ["--global"] if directory is None else ["--directory",
                                                        directory]
        return self.ctl(*args).strip().splitlines()[-1]

    def psql(self, sql):
        return run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", self.dsn,
                    "-c", sql]).stdout

    def drop(self):
        localpg("psql", "-q", "-c",
                f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class BenchServer:
    def __init__(self, db, workers=2, env=None, root=None):
        """root: another checkout, built, to run instead of this one (its
        build/release/rollcall with its own conf/)."""
        root = root or ROOT
        build = BUILD if root == ROOT else os.path.join(root, "build",
                                                        "release")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = os.path.join(ROOT, ".run", f"bench-{self.port}")
        os.makedirs(self.tmp, exist_ok=True)
        conf = open(os.path.join(root, "conf", "common.conf")).read()
        conf = f"pidfile {self.tmp}/rollcall.pid\n" + conf
        path = os.path.join(self.tmp, "rollcall.conf")
        with open(path, "w") as f:
            f.write(conf)
        e = dict(os.environ)
        e.update(db.env())
        e.update({"ROLLCALL_LISTEN": f"127.0.0.1:{self.port}",
                  "ROLLCALL_WORKERS": str(workers),
                  "ROLLCALL_LOG_LEVEL": "warn",
                  "ROLLCALL_PUBLIC_URL": self.base})
        e.update(env or {})
        self.log = open(os.path.join(self.tmp, "server.log"), "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(build, "rollcall"), "-c", path, "-f", "-n", "-r"],
            cwd=root, env=e, stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                with urllib.request.urlopen(self.base + "/readyz",
                                            timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(open(self.log.name).read())
            time.sleep(0.02)
        self.start_s = time.monotonic() - t0

    def memory_mib(self):
        """(RSS, PSS) summed over the parent and its workers, in MiB."""
        pids = [self.proc.pid] + subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True,
            text=True).stdout.split()
        rss = pss = 0
        for pid in pids:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        return rss / 1024, pss / 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def wrk(url, seconds=10, conns=32, threads=1, script=None):
    """Runs wrk; returns (requests/s, p50 ms, p99 ms)."""
    args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
            "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} errors on {url}:\n{out}")
    return rps, pct(50), pct(99)


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {mem} GiB RAM"
