"""How close the decision path is to a bare Kore handler (issue 13).

Builds a trivial Kore 4.1 handler from the same Kore objects, flags and
modules as rollcall (`make bench-bare`, scripts/bench/bare/), starts it
beside rollcall (release build, 2 workers each, default settings:
log_level = info) on one tier's data, and measures in one run, in
alternating rounds, the throughput of:

  - the bare handler, returning {"ok":true};
  - rollcall GET /healthz;
  - POST /v1/authorize with the decision log on (every decision) and off;

each as a ratio to the bare handler; then the p99 of /v1/authorize at 4
connections, and (--batch) the 1,000-item batch one request at a time.

    python3 scripts/bench/speed_bench.py [--tier M] [--seconds 8]
        [--rounds 2] [--batch] [--before DIR]

--before DIR also runs the rollcall of another checkout, built with
make (say `git archive <commit> | tar -x -C DIR && make -C DIR`), in the
same rounds: a before/after comparison on the same data and machine.

wrk runs on the same CPUs as the servers (the ratio is the figure that
survives a noisy machine).  Needs wrk and make; the benchmark cluster
(scripts/localpg.sh, RC_PGPORT/RC_PGDIR or .run/pg-bench on 54349).
Prints Markdown.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import common
import policy_bench
import tiers

# The decision log's setting, if this build has it: on = every decision.
DLOG_ON = {"ROLLCALL_DECISION_LOG": "all"}
DLOG_OFF = {"ROLLCALL_DECISION_LOG": "off"}


class BareServer:
    """The trivial handler, with conf/common.conf's Kore knobs."""

    def __init__(self):
        self.port = common.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = os.path.join(common.ROOT, ".run", f"bare-{self.port}")
        os.makedirs(self.tmp, exist_ok=True)
        src = os.path.join(common.ROOT, "scripts", "bench", "bare",
                           "bare.conf")
        path = os.path.join(self.tmp, "bare.conf")
        with open(path, "w") as f:
            f.write(f"pidfile {self.tmp}/bare.pid\n"
                    f"server main {{\n\tbind 127.0.0.1 {self.port}\n"
                    "\ttls no\n}\n" + open(src).read())
        self.log = open(os.path.join(self.tmp, "bare.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(common.BUILD, "bench", "bare"), "-c", path, "-f",
             "-n", "-r"], cwd=common.ROOT, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.base + "/", timeout=1) as r:
                    if r.read() == b'{"ok":true}':
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bare handler did not start:\n" +
                                 open(self.log.name).read())
            time.sleep(0.02)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def rollcall(db, env, root=None):
    """A rollcall server at default settings (log_level = info), or None
    when this build refuses env (a setting it does not have)."""
    e = {"ROLLCALL_LOG_LEVEL": "info"}
    e.update(env)
    try:
        return common.BenchServer(db, env=e, root=root)
    except SystemExit:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", default="M", choices=sorted(tiers.TIERS))
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", action="store_true",
                    help="also the 1,000-item batch, one request at a time")
    ap.add_argument("--before", metavar="DIR",
                    help="another built checkout to compare, same rounds")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("speed_bench: wrk is missing (Debian package wrk; "
                         "sh scripts/install-deps.sh test installs it)")
    subprocess.run(["make", "-s", "-j2", "all", "bench-bare"],
                   cwd=common.ROOT, check=True)

    users, groups, members, servers, ntools, rules = tiers.TIERS[a.tier]
    params = {"users": users, "servers": servers, "tps": ntools // servers}
    db = common.BenchDB()
    procs = []
    try:
        r = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", db.dsn],
                           input=tiers.sql_for(a.tier), text=True,
                           capture_output=True)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        db.ctl("migrate")
        token = db.token("gateway")
        bare = BareServer()
        procs.append(bare)
        on = rollcall(db, DLOG_ON)
        off = rollcall(db, DLOG_OFF)
        if on is None or off is None:
            # No decision log setting in this build: one server, defaults.
            for s in (on, off):
                if s is not None:
                    s.stop()
            on = off = common.BenchServer(db, env={"ROLLCALL_LOG_LEVEL":
                                                   "info"})
            dlog = False
        else:
            dlog = True
        procs += [on] if on is off else [on, off]
        before = None
        if a.before:
            before = rollcall(db, {}, root=os.path.abspath(a.before))
            if before is None:
                raise SystemExit(f"{a.before}: its rollcall did not start")
            procs.append(before)

        tmp = tempfile.mkdtemp()
        lua = os.path.join(tmp, "authorize.lua")
        with open(lua, "w") as f:
            f.write(policy_bench.LUA_AUTHORIZE % dict(params, token=token))
        targets = [("bare Kore handler, GET /", bare.base + "/", None),
                   ("rollcall GET /healthz", on.base + "/healthz", None)]
        if dlog:
            targets += [
                ("POST /v1/authorize, decision log on (every decision)",
                 on.base + "/v1/authorize", lua),
                ("POST /v1/authorize, decision log off",
                 off.base + "/v1/authorize", lua)]
        else:
            targets += [("POST /v1/authorize (this build has no decision "
                         "log setting: defaults)", on.base + "/v1/authorize",
                         lua)]
        if before is not None:
            targets += [
                (f"before ({a.before}): rollcall GET /healthz",
                 before.base + "/healthz", None),
                (f"before ({a.before}): POST /v1/authorize, defaults",
                 before.base + "/v1/authorize", lua)]
        rps = {t[0]: [] for t in targets}
        p99_4 = {"bare": [], "authorize": [], "before": []}
        for _ in range(a.rounds):
            for label, url, script in targets:
                rps[label].append(common.wrk(url, a.seconds, conns=32,
                                             threads=2, script=script)[0])
            p99_4["bare"].append(common.wrk(bare.base + "/", a.seconds,
                                            conns=4)[2])
            p99_4["authorize"].append(common.wrk(
                off.base + "/v1/authorize", a.seconds, conns=4,
                script=lua)[2])
            if before is not None:
                p99_4["before"].append(common.wrk(
                    before.base + "/v1/authorize", a.seconds, conns=4,
                    script=lua)[2])

        batch_row = None
        if a.batch:
            rnd = random.Random(7)
            names = ["create_", "delete_", "list_", "get_", "update_"]
            tp = params["tps"]
            body = {"subject": "user42@contoso.com", "items": [
                {"server": f"server{rnd.randint(1, servers)}",
                 "tool": f"{names[t % 5]}thing{t}"}
                for t in (rnd.randint(1, tp) for _ in range(1000))]}
            static = os.path.join(tmp, "batch.lua")
            with open(static, "w") as f:
                f.write(policy_bench.LUA_STATIC % {"token": token,
                                                   "body": json.dumps(body)})
            batch_row = []
            for _ in range(a.rounds):
                for label, srv in (("", off), ("before: ", before)):
                    if srv is None:
                        continue
                    batch_row.append((label, common.wrk(
                        srv.base + "/v1/authorize/batch", a.seconds,
                        conns=1, script=static)))
        shutil.rmtree(tmp)
    finally:
        for p in procs:
            p.stop()
        db.drop()

    base = sum(rps[targets[0][0]]) / len(rps[targets[0][0]])
    print(f"\nMachine: {common.machine()}; tier {a.tier}; rollcall release "
          "build and the bare handler, 2 workers each; wrk -t2 -c32 "
          f"-d{a.seconds}s on the same CPUs, {a.rounds} alternating rounds "
          "(mean); log_level = info\n")
    print("| measurement | req/s (each round) | ratio to bare |")
    print("| --- | --- | ---: |")
    for label, _, _ in targets:
        v = rps[label]
        print(f"| {label} | " + ", ".join(f"{x:,.0f}" for x in v) +
              f" | {sum(v) / len(v) / base:.2f} |")
    print("\n| at 4 connections (wrk -t1 -c4) | p99 ms (each round) |")
    print("| --- | --- |")
    print("| bare handler | " + ", ".join(f"{x:.2f}" for x in p99_4["bare"])
          + " |")
    print(f"| POST /v1/authorize, tier {a.tier} | " +
          ", ".join(f"{x:.2f}" for x in p99_4["authorize"]) + " |")
    if p99_4["before"]:
        print(f"| before: POST /v1/authorize, tier {a.tier} | " +
              ", ".join(f"{x:.2f}" for x in p99_4["before"]) + " |")
    if batch_row:
        print("\n| one request at a time (wrk -t1 -c1) | req/s | p50 ms | "
              "p99 ms |")
        print("| --- | --- | --- | --- |")
        for label, r in batch_row:
            print(f"| {label}POST /v1/authorize/batch, 1,000 items, tier "
                  f"{a.tier} | {r[0]:,.0f} | {r[1]:.2f} | {r[2]:.2f} |")


if __name__ == "__main__":
    main()
