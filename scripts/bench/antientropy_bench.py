"""Anti-entropy cost at the tiers of tiers.py: a real server on a
private PostgreSQL, tier data from tiers.py, anti-entropy every 3 s, and
the time of each check read from the server's debug log (the database
query on a task thread, and the digest of the worker's own index on its
event loop).  Any mismatch at a tier is also a failure of the digest's
two halves (SQL and C) to agree on realistic data.

    /usr/bin/python3 scripts/bench/antientropy_bench.py [S M L] [--checks N]
    /usr/bin/python3 scripts/bench/antientropy_bench.py L --dsn DSN
        (a database already migrated and filled by tiers.py: kept)

RC_PGDIR and RC_PGPORT, when both set, choose the PostgreSQL cluster
(default .run/pg-bench, port 54349).
"""
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import tiers  # noqa: E402

INTERVAL_S = 3
DEFAULT_INTERVAL_S = 60
WORKERS = 2


class GivenDB:
    """A database the caller filled already (tiers.py); not dropped."""

    def __init__(self, dsn):
        self.dsn = dsn

    def env(self):
        return {"ROLLCALL_DATABASE_URL": self.dsn}

    def psql(self, sql):
        return common.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1",
                           self.dsn, "-c", sql]).stdout

    def drop(self):
        pass


def one_tier(tier, checks, dsn=None):
    db = GivenDB(dsn) if dsn else common.BenchDB()
    server = None
    try:
        if not dsn:
            common.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", db.dsn],
                       input=tiers.sql_for(tier))
        principals = int(db.psql("SELECT count(*) FROM users").strip())
        server = common.BenchServer(db, workers=WORKERS, env={
            "ROLLCALL_ANTIENTROPY_S": str(INTERVAL_S),
            "ROLLCALL_LOG_LEVEL": "debug"})
        deadline = time.monotonic() + 60 + checks * INTERVAL_S * 2
        agreed = []
        while time.monotonic() < deadline:
            text = open(server.log.name, errors="replace").read()
            agreed = re.findall(r"antientropy: worker \d+ agrees at version "
                                r"\d+, slice -?\d+ \(database (\d+) us, "
                                r"index (\d+) us\)",
                                text)
            if "antientropy: worker" in text and "differs" in text:
                raise SystemExit(f"tier {tier}: mismatch on a healthy "
                                 f"system:\n{text[-3000:]}")
            if len(agreed) >= checks:
                break
            time.sleep(0.5)
        if len(agreed) < checks:
            raise SystemExit(f"tier {tier}: only {len(agreed)} checks")
        db_ms = [int(a) / 1000 for a, _ in agreed]
        idx_ms = [int(b) / 1000 for _, b in agreed]
        return {"tier": tier, "principals": principals,
                "checks": len(agreed),
                "db_ms_p50": statistics.median(db_ms),
                "db_ms_max": max(db_ms),
                "index_ms_p50": statistics.median(idx_ms),
                "index_ms_max": max(idx_ms)}
    finally:
        if server is not None:
            server.stop()
        db.drop()


def main():
    args = sys.argv[1:]
    checks = 6
    if "--checks" in args:
        i = args.index("--checks")
        checks = int(args[i + 1])
        del args[i:i + 2]
    dsn = None
    if "--dsn" in args:
        i = args.index("--dsn")
        dsn = args[i + 1]
        del args[i:i + 2]
    want = args or ["L"]
    if os.environ.get("RC_PGDIR") and os.environ.get("RC_PGPORT"):
        common.PGENV.update(RC_PGDIR=os.environ["RC_PGDIR"],
                            RC_PGPORT=os.environ["RC_PGPORT"])
    rows = [one_tier(t, checks, dsn) for t in want]
    print(f"Anti-entropy, {WORKERS} workers, {checks} checks per tier "
          f"(host: {os.uname().nodename}, {os.cpu_count()} CPUs)\n")
    print("Above 16,384 principals each check covers one sixteenth of "
          "them (all of them every 16 checks).\n")
    print("| tier | users | database query p50 / max | index digest p50 / max "
          "| database load at the default 60 s |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        load = WORKERS * r["db_ms_p50"] / (DEFAULT_INTERVAL_S * 1000) * 100
        print(f"| {r['tier']} | {r['principals']:,} | "
              f"{r['db_ms_p50']:.0f} / {r['db_ms_max']:.0f} ms | "
              f"{r['index_ms_p50']:.0f} / {r['index_ms_max']:.0f} ms | "
              f"{load:.2f} % of one core |")
    print()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
