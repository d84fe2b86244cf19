"""The change listener is watched (issue 8): every way its connection can
go (PostgreSQL restarts in fast, smart and immediate modes, its backend
terminated, the network cut or silently black-holed) is noticed, logged
once, retried with backoff, and every change made meanwhile by rollcallctl
is applied before the instance calls itself current again.  Beyond
policy_max_staleness_s without proof, /readyz answers 503 and decisions
deny with policy_stale.  Anti-entropy repairs an index corrupted on
purpose (test builds only).

Restarting PostgreSQL would disturb every other test, so this module
runs its own private cluster (scripts/localpg.sh under another RC_PGDIR
and port) and tears it down whatever happens.  The server under test
reaches PostgreSQL through a small TCP proxy the test can cut or
black-hole; rollcallctl connects directly.

Times to notice and to recover are printed (pytest -s), not asserted.
"""
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, TOKENS, Database, Server, free_port

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
STALENESS = 4
BIN = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"),
             key=lambda p: [int(x) for x in re.findall(r"\d+", str(p))])[-1]


class Cluster:
    """A private PostgreSQL cluster for this module only."""

    def __init__(self):
        self.port = free_port()
        self.dir = ROOT / ".run" / f"pg-listener-{self.port}"
        self.env = dict(os.environ)
        self.env.update({"RC_PGDIR": str(self.dir),
                         "RC_PGPORT": str(self.port),
                         "RC_PGEXTRA": "fsync = off\nsynchronous_commit = off"
                                       "\nfull_page_writes = off"})
        self.localpg("start")

    def localpg(self, *args, check=True):
        return subprocess.run(["sh", str(ROOT / "scripts" / "localpg.sh"),
                               *args], env=self.env, check=check,
                              capture_output=True, text=True, timeout=120)

    def pg_ctl(self, *args, check=True, timeout=60):
        cmd = [str(BIN / "pg_ctl"), "-D", str(self.dir), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True,
                              text=True, timeout=timeout)

    def psql(self, sql, db="postgres"):
        return self.localpg("psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d",
                            db, "-c", sql).stdout

    def running(self):
        return self.pg_ctl("status", check=False).returncode == 0

    def destroy(self):
        if self.running():
            self.pg_ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(f"{self.dir}.password")
        except OSError:
            pass


class PrivateDB(Database):
    """conftest's Database, in the private cluster."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.tokens = {}
        self.name = "it_" + secrets.token_hex(6)
        cluster.psql(f"CREATE DATABASE {self.name} OWNER rollcall")
        base = cluster.localpg("dsn").stdout.strip()
        self.dsn = re.sub(r"dbname=\S+", f"dbname={self.name}", base)
        self.ctl("migrate")

    def env(self, dsn=None):
        env = dict(os.environ)
        env["ROLLCALL_DATABASE_URL"] = dsn or self.dsn
        env.pop("ROLLCALL_SETTINGS", None)
        return env

    def sql(self, query):
        return self.cluster.psql(query, db=self.name)

    def drop(self):
        pass                        # the cluster goes as a whole


class ProxiedDB:
    """What the server sees: the same database through the proxy."""

    def __init__(self, db, proxy):
        self.db = db
        self.proxy = proxy

    def env(self):
        return self.db.env(re.sub(r"port=\d+", f"port={self.proxy.port}",
                                  self.db.dsn))


class Proxy:
    """A TCP relay the test can cut (reset every connection) or
    black-hole (stop relaying, keep sockets open, accept and hold new
    connections) and heal."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.held = []
        self.stalled = threading.Event()
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.stalled.is_set():
                with self.lock:
                    self.held.append(c)
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.pairs.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b),
                                 daemon=True).start()

    def pump(self, a, b):
        try:
            while True:
                while self.stalled.is_set():
                    time.sleep(0.02)
                data = a.recv(65536)
                if not data:
                    break
                while self.stalled.is_set():
                    time.sleep(0.02)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _reset_all(self):
        with self.lock:
            socks = [s for p in self.pairs for s in p] + self.held
            self.pairs, self.held = [], []
        for s in socks:
            try:
                # RST, as a router that lost the flow would.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass

    def cut(self):
        self._reset_all()

    def blackhole(self):
        self.stalled.set()

    def heal(self):
        # Flows that were black-holed do not come back: reset them.
        self._reset_all()
        self.stalled.clear()

    def close(self):
        self.stopping = True
        self.stalled.clear()
        self.lsock.close()
        self._reset_all()


@pytest.fixture(scope="module")
def env():
    cluster = Cluster()
    proxy = None
    server = None
    try:
        db = PrivateDB(cluster)
        db.mint(TOKENS)
        proxy = Proxy(cluster.port)
        server = Server(ProxiedDB(db, proxy), workers=2, env={
            "ROLLCALL_INSTANCE": "listener-it",
            "ROLLCALL_POLICY_MAX_STALENESS_S": str(STALENESS),
            "ROLLCALL_ANTIENTROPY_S": "2"}, tokens=db.tokens)
        server.db = db
        server.cluster = cluster
        server.proxy = proxy
        setup_policy(server)
        yield server
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            if proxy is not None:
                proxy.close()
            cluster.destroy()


def setup_policy(s):
    r = s.post("/scim/v2/Users", token=s.tokens["scim"],
               body={"schemas": [USER], "userName": "alice@contoso.com",
                     "active": True})
    assert r.status == 201, r
    s.alice = r.json["id"]
    r = s.post("/admin/v1/servers", token=s.tokens["global_admin"],
               body={"slug": "github"})
    assert r.status == 201, r
    r = s.post("/admin/v1/servers/github/tools",
               token=s.tokens["global_admin"], body={"name": "create_pr"})
    assert r.status == 201, r
    r = s.post("/admin/v1/rules", token=s.tokens["admin"], body={
        "subject": {"kind": "user", "id": s.alice}, "server": "github",
        "selector": "*", "effect": "allow"})
    assert r.status == 201, r
    assert decide(s)["decision"] == "allow"


def decide(s):
    r = s.post("/v1/authorize", token=s.tokens["gateway"],
               body={"subject": s.alice, "server": "github",
                     "tool": "create_pr"}, timeout=10)
    assert r.status == 200, r
    return r.json


def metrics(s):
    text = s.get("/metrics", timeout=5).body.decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("rollcall_") and " " in line:
            k, v = line.rsplit(" ", 1)
            out[re.sub(r"\{.*\}", "", k)] = float(v)
    return out


def wait_until(pred, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Watch:
    """Polls /metrics from the moment of the disruption: when the loss
    is counted (noticed) and when the instance is current again."""

    def __init__(self, s):
        self.s = s
        self.losses0 = metrics(s)["rollcall_listener_connection_losses_total"]
        self.t0 = time.monotonic()

    def noticed(self, timeout=15):
        wait_until(lambda: metrics(self.s)[
            "rollcall_listener_connection_losses_total"] > self.losses0,
            timeout, "the loss to be noticed")
        return self.since()

    def current(self, timeout=30):
        def ok():
            m = metrics(self.s)
            return (m["rollcall_listener_connection_losses_total"] >
                    self.losses0 and m["rollcall_policy_current"] == 1)
        wait_until(ok, timeout, "the instance to be current again")
        return time.monotonic() - self.t0

    def since(self):
        return time.monotonic() - self.t0


FIGURES = []


def revoke_all(s, restore=False):
    args = ["revoke-all", s.alice] + (["--restore"] if restore else [])
    s.db.ctl(*args)


def check_recovery(s, mode, watch, restore):
    """A kill-switch change by rollcallctl made while the listener was
    (or may still be) away must be applied after recovery."""
    revoke_all(s, restore=restore)
    want = "allow" if restore else "deny"
    wait_until(lambda: decide(s)["decision"] == want, 30,
               f"{mode}: the change made meanwhile to arrive")
    recovered = watch.current()
    # A pooled connection that died with the restart may fail one ping.
    wait_until(lambda: s.get("/readyz").status == 200, 10, "readyz 200")
    FIGURES.append((mode, watch.noticed_at, recovered))
    print(f"listener {mode}: noticed {watch.noticed_at * 1000:.0f} ms, "
          f"current again {recovered * 1000:.0f} ms after the disruption")


def lost_lines(s):
    return s.logtext().count("listener: connection to PostgreSQL lost")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart(env, mode):
    s = env
    lines = lost_lines(s)
    w = Watch(s)
    s.cluster.pg_ctl("-m", mode, "-w", "restart", "-l",
                     str(s.cluster.dir / "log"))
    w.noticed_at = w.noticed()
    check_recovery(s, f"restart -m {mode}", w, restore=mode == "immediate")
    # Logged once per loss, not once per retry.
    assert lost_lines(s) == lines + 1, s.logtext()[-3000:]


def test_terminate_backend(env):
    s = env
    w = Watch(s)
    n = s.db.sql("SELECT count(pg_terminate_backend(pid)) FROM "
                 "pg_stat_activity WHERE application_name = "
                 "'rollcall-listener'")
    assert n.strip() == "1", n
    w.noticed_at = w.noticed()
    check_recovery(s, "pg_terminate_backend", w, restore=False)
    revoke_all(s, restore=True)
    wait_until(lambda: decide(s)["decision"] == "allow", 10, "restore")


def test_smart_shutdown_waits_then_fast(env):
    """A smart shutdown waits for every session, rollcall's included: the
    listener stays connected and current meanwhile (other sessions can
    still commit and notify).  The operator then escalates to fast."""
    s = env
    s.cluster.pg_ctl("-m", "smart", "-W", "stop")
    t_end = time.monotonic() + STALENESS + 1
    while time.monotonic() < t_end:
        # (/readyz may say the database refuses new connections.)
        assert metrics(s)["rollcall_policy_current"] == 1
        assert "policy_stale" not in s.get("/readyz").body.decode()
        assert decide(s)["decision"] == "allow"
        time.sleep(0.25)
    assert s.cluster.running()
    w = Watch(s)
    s.cluster.pg_ctl("-m", "fast", "-w", "stop")
    s.cluster.pg_ctl("-w", "start", "-l", str(s.cluster.dir / "log"))
    w.noticed_at = w.noticed()
    check_recovery(s, "smart, then fast", w, restore=False)
    revoke_all(s, restore=True)
    wait_until(lambda: decide(s)["decision"] == "allow", 10, "restore")


def test_network_cut(env):
    s = env
    w = Watch(s)
    s.proxy.cut()
    w.noticed_at = w.noticed()
    check_recovery(s, "network cut (RST)", w, restore=False)
    revoke_all(s, restore=True)
    wait_until(lambda: decide(s)["decision"] == "allow", 10, "restore")


def test_network_blackhole_goes_stale_then_recovers(env):
    s = env
    assert decide(s)["decision"] == "allow"
    w = Watch(s)
    s.proxy.blackhole()
    try:
        w.noticed_at = w.noticed()
        # Within the staleness window: the last known state.
        # Beyond it: not ready, and every decision denies.
        wait_until(lambda: s.get("/readyz").status == 503, STALENESS + 10,
                   "readyz to fail")
        stale_at = w.since()
        r = s.get("/readyz")
        assert r.status == 503 and "policy_stale" in r.json["reason"], r
        assert r.json["policy_current"] is False
        d = decide(s)
        assert d["decision"] == "deny" and d["reason_code"] == \
            "policy_stale", d
        m = metrics(s)
        assert m["rollcall_policy_current"] == 0
        assert m["rollcall_policy_proof_age_seconds"] > STALENESS
        assert m["rollcall_policy_stale_denials_total"] >= 1
        # A fail-closed deny is a decision like any: counted and logged.
        assert re.search(r'(?m)^rollcall_decisions_total\{endpoint='
                         r'"authorize",decision="deny",reason_code='
                         r'"policy_stale"\} [1-9]',
                         s.get("/metrics").body.decode())
        wait_until(lambda: any('"type":"decision"' in line and
                               '"reason_code":"policy_stale"' in line
                               for line in s.logtext().splitlines()), 5,
                   "the decision line of a stale deny")
        # The kill switch, thrown while this instance cannot hear it.
        revoke_all(s)
    finally:
        s.proxy.heal()
    wait_until(lambda: decide(s)["reason_code"] == "principal_revoked", 30,
               "the kill switch to arrive after the network heals")
    recovered = w.current()
    wait_until(lambda: s.get("/readyz").status == 200, 10, "readyz 200")
    FIGURES.append(("network black-hole", w.noticed_at, recovered))
    print(f"listener network black-hole: noticed "
          f"{w.noticed_at * 1000:.0f} ms, readyz 503 after "
          f"{stale_at * 1000:.0f} ms, current again "
          f"{recovered * 1000:.0f} ms after the disruption (healed at "
          f"the end of the window)")
    for line in s.logtext().splitlines()[-400:]:
        if '"listener: ' in line:
            print(line)
    revoke_all(s, restore=True)
    wait_until(lambda: decide(s)["decision"] == "allow", 10, "restore")


def test_tokens_minted_while_away_are_loaded(env):
    s = env
    w = Watch(s)
    s.proxy.cut()
    w.noticed_at = w.noticed()
    tok = s.db.token("gateway", name="minted-while-away")
    wait_until(lambda: s.post("/v1/authorize", token=tok, body={
        "subject": s.alice, "server": "github", "tool": "create_pr"}
    ).status == 200, 30, "a token minted meanwhile to be accepted")


def test_antientropy_repairs_a_corrupted_index(env):
    s = env
    if "test hooks compiled in" not in s.logtext():
        pytest.skip("needs the test hook, compiled into the sanitizer "
                    "build only (make SANITIZE=1): release builds do not "
                    "contain it")
    m0 = metrics(s)["rollcall_antientropy_mismatches_total"]
    revoke_all(s)
    wait_until(lambda: decide(s)["decision"] == "deny", 10, "revoke-all")
    # Behind every version check: every worker's index forgets the
    # kill switch, so it allows what the database says to deny.
    s.db.sql("SELECT pg_notify('rollcall', json_build_object('kind', "
             "'testhook', 'records', json_build_array(json_build_object("
             f"'testhook_flip', '{s.alice}')))::text)")
    wait_until(lambda: decide(s)["decision"] == "allow", 10,
               "the corruption to take effect")
    took = wait_until(lambda: all(decide(s)["decision"] == "deny"
                                  for _ in range(8)), 30,
                      "anti-entropy to repair the index")
    print(f"antientropy repaired in {took * 1000:.0f} ms "
          f"(antientropy_s = 2)")
    assert metrics(s)["rollcall_antientropy_mismatches_total"] > m0
    assert "antientropy: worker" in s.logtext()
    revoke_all(s, restore=True)


def test_antientropy_healthy_system_shows_no_mismatch(env):
    s = env
    time.sleep(5)
    m = metrics(s)
    assert m["rollcall_antientropy_checks_total"] > 0
    if "test hooks compiled in" not in s.logtext():
        assert m["rollcall_antientropy_mismatches_total"] == 0, \
            s.logtext()[-3000:]


def test_report(env):
    for mode, noticed, recovered in FIGURES:
        print(f"{mode:28s} notice {noticed * 1000:6.0f} ms  "
              f"current {recovered * 1000:6.0f} ms")
