"""What logging costs: /healthz and /v1/authorize throughput with wrk at
log_level = info, for two builds in one run, alternating rounds (so
drift on this shared machine hits both alike).  Made for the buffered
log writer (issue 13): run it with the build before and after a change.

    python3 scripts/bench/log_wrk.py --before DIR --after DIR \\
        [--seconds N] [--rounds N] [--conns N]

DIR holds rollcall (and rollcallctl, for the first).  "after" is also
measured with decision_log = off (authorize only).
"""
import argparse
import os
import sys
import tempfile

import common

sys.path.insert(0, os.path.join(common.ROOT, "tests", "it"))
from seed import SEED_SQL  # noqa: E402

AUTHORIZE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = '{"subject":"alice@contoso.com","server":"github",' ..
  '"tool":"create_pull_request"}'
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--conns", type=int, default=32)
    a = ap.parse_args()
    # Your own test cluster when given (RC_PGDIR, RC_PGPORT), so two
    # people benchmarking on one machine do not share one.
    for k in ("RC_PGDIR", "RC_PGPORT"):
        if os.environ.get(k):
            common.PGENV[k] = os.environ[k]
    common.BUILD = a.before
    db = common.BenchDB()
    try:
        db.psql(SEED_SQL)
        token = db.token("gateway")
        with tempfile.NamedTemporaryFile("w", suffix=".lua",
                                         delete=False) as f:
            f.write(AUTHORIZE_LUA % {"token": token})
            lua = f.name
        configs = [("before", a.before, {}), ("after", a.after, {}),
                   ("after, decision_log=off", a.after,
                    {"ROLLCALL_DECISION_LOG": "off"})]
        results = {}
        print(f"# {common.machine()}; wrk -t2 -c{a.conns} -d{a.seconds}s, "
              f"{a.rounds} rounds, log_level=info, 2 workers")
        for rnd in range(a.rounds):
            for name, build, env in configs:
                common.BUILD = build
                # No settings file: the two builds know other settings.
                env = dict(env, ROLLCALL_LOG_LEVEL="info",
                           ROLLCALL_SETTINGS="/dev/null")
                s = common.BenchServer(db, workers=2, env=env)
                try:
                    routes = [("authorize", s.base + "/v1/authorize", lua)]
                    if "off" not in name:
                        routes.insert(0, ("healthz", s.base + "/healthz",
                                          None))
                    for route, url, script in routes:
                        rps, p50, p99 = common.wrk(url, a.seconds,
                                                   a.conns, 2, script)
                        results.setdefault((name, route), []).append(rps)
                        print(f"round {rnd + 1} {name:26} {route:10} "
                              f"{rps:9.0f} req/s  p50 {p50:.3f} ms  "
                              f"p99 {p99:.3f} ms", flush=True)
                finally:
                    s.stop()
        print("\n| build | route | req/s median | min | max |\n"
              "|---|---|---|---|---|")
        for (name, route), v in results.items():
            print(f"| {name} | {route} | {common.percentile(v, 50):.0f} | "
                  f"{min(v):.0f} | {max(v):.0f} |")
        os.unlink(lua)
    finally:
        db.drop()


if __name__ == "__main__":
    main()
