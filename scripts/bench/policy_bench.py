"""Decision-path benchmark (issue 4): generates tier data, starts a real
rollcall (release build, 2 workers) on a private PostgreSQL, and measures
in one run, side by side:

  - /v1/authorize throughput and p50/p99 against a trivial route of the
    same server (GET /healthz): the ratio is the figure that survives a
    noisy machine;
  - /v1/authorize/batch with 1,000 tools, /v1/tools/filter with 500;
  - the same decision as one SQL query per request with pgbench (what a
    database-backed gateway does), for comparison;
  - start-up time and memory (RSS and PSS over all processes).

    python3 scripts/bench/policy_bench.py [S|M|L ...] [--seconds N]

Prints a Markdown table.  Needs: make, wrk, pgbench (Debian packages).
"""
import argparse
import json
import os
import random
import subprocess
import tempfile

import common
import tiers

LUA_AUTHORIZE = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local prefixes = {"create_", "delete_", "list_", "get_", "update_"}
request = function()
  local u = math.random(1, %(users)d)
  local s = math.random(1, %(servers)d)
  local t = math.random(1, %(tps)d)
  local body = string.format(
    '{"subject":"user%%d@contoso.com","server":"server%%d","tool":"%%sthing%%d"}',
    u, s, prefixes[(t %% 5) + 1], t)
  return wrk.format(nil, "/v1/authorize", nil, body)
end
"""

LUA_STATIC = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = [[%(body)s]]
"""

PGBENCH_SQL = """
\\set u random(1, %(users)d)
\\set s random(1, %(servers)d)
\\set t random(1, %(tps)d)
WITH p AS (SELECT id, active FROM users WHERE directory_id = 1 AND
    user_name_key = lower('user' || :u || '@contoso.com') AND
    deleted_at IS NULL),
tool AS (SELECT t.name, t.risk, t.labels FROM tools t JOIN mcp_servers s
    ON s.id = t.server_id WHERE s.slug = 'server' || :s AND t.name =
    (ARRAY['create_','delete_','list_','get_','update_'])[1 + :t %% 5]
    || 'thing' || :t),
g AS (SELECT group_id FROM memberships WHERE user_id = (SELECT id FROM p)),
r AS (SELECT effect FROM rules, tool WHERE directory_id = 1 AND
    (subject_kind = 'everyone' OR (subject_kind = 'group' AND subject_id IN
    (SELECT group_id FROM g)) OR (subject_kind = 'user' AND subject_id =
    (SELECT id FROM p))) AND (server_slug = '*' OR server_slug = 'server'
    || :s) AND (tool_selector = '*' OR tool_selector = tool.name OR
    (tool_selector LIKE 'risk:%%' AND substr(tool_selector, 6) = tool.risk)
    OR (position('*' IN tool_selector) > 0 AND tool.name LIKE
    replace(tool_selector, '*', '%%'))))
SELECT CASE WHEN NOT coalesce((SELECT active FROM p), false) THEN 'deny'
    WHEN NOT EXISTS (SELECT 1 FROM tool) THEN 'deny'
    WHEN EXISTS (SELECT 1 FROM r WHERE effect = 'deny') THEN 'deny'
    WHEN EXISTS (SELECT 1 FROM r WHERE effect = 'allow') THEN 'allow'
    ELSE 'deny' END;
"""


def pgbench(db, params, seconds):
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "decision.sql")
        with open(script, "w") as f:
            f.write(PGBENCH_SQL % params)
        out = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-c", "8", "-j", "2",
             "-T", str(seconds), "-f", script, "-l", "--log-prefix",
             os.path.join(tmp, "log"), db.dsn],
            cwd=tmp, capture_output=True, text=True, check=True).stdout
        tps = float([l for l in out.splitlines()
                     if l.startswith("tps")][0].split()[2])
        lat = []
        for name in os.listdir(tmp):
            if name.startswith("log"):
                with open(os.path.join(tmp, name)) as f:
                    lat += [int(l.split()[2]) / 1000 for l in f]
    return tps, common.percentile(lat, 50), common.percentile(lat, 99)


def bench_tier(tier, seconds):
    users, groups, members, servers, tools, rules = tiers.TIERS[tier]
    params = {"users": users, "servers": servers, "tps": tools // servers}
    db = common.BenchDB()
    rows = []
    try:
        r = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", db.dsn],
                           input=tiers.sql_for(tier), text=True,
                           capture_output=True)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        db.ctl("migrate")       # the identity keys of the rows just loaded
        token = db.token("gateway")
        srv = common.BenchServer(db)
        rss, pss = srv.memory_mib()
        rows.append((tier, "start-up to ready (load + fork)",
                     f"{srv.start_s:.2f} s", "< 10 s at L"))
        rows.append((tier, "memory after start, all processes",
                     f"RSS {rss:.0f} MiB, PSS {pss:.0f} MiB", "< 1 GiB at L"))
        with tempfile.TemporaryDirectory() as tmp:
            lua = os.path.join(tmp, "authorize.lua")
            with open(lua, "w") as f:
                f.write(LUA_AUTHORIZE % dict(params, token=token))
            triv = common.wrk(srv.base + "/healthz", seconds)
            auth = common.wrk(srv.base + "/v1/authorize", seconds,
                              script=lua)
            rows.append((tier, "GET /healthz (trivial route)",
                         f"{triv[0]:,.0f} req/s, p50 {triv[1]:.2f} ms, "
                         f"p99 {triv[2]:.2f} ms", ""))
            rows.append((tier, "POST /v1/authorize (random subject, tool)",
                         f"{auth[0]:,.0f} req/s, p50 {auth[1]:.2f} ms, "
                         f"p99 {auth[2]:.2f} ms", "p99 < 2 ms"))
            rows.append((tier, "authorize / trivial throughput",
                         f"{auth[0] / triv[0]:.2f}", ">= 0.5"))
            # At saturation the tail is queueing (the trivial route's too):
            # also measure at a moderate load, 4 connections.
            triv4 = common.wrk(srv.base + "/healthz", seconds, conns=4)
            auth4 = common.wrk(srv.base + "/v1/authorize", seconds, conns=4,
                               script=lua)
            rows.append((tier, "GET /healthz, 4 connections",
                         f"{triv4[0]:,.0f} req/s, p50 {triv4[1]:.2f} ms, "
                         f"p99 {triv4[2]:.2f} ms", ""))
            rows.append((tier, "POST /v1/authorize, 4 connections",
                         f"{auth4[0]:,.0f} req/s, p50 {auth4[1]:.2f} ms, "
                         f"p99 {auth4[2]:.2f} ms", "p99 < 2 ms"))
            rnd = random.Random(7)
            names = ["create_", "delete_", "list_", "get_", "update_"]
            tp = params["tps"]
            batch = {"subject": "user42@contoso.com", "items": [
                {"server": f"server{rnd.randint(1, servers)}",
                 "tool": f"{names[t % 5]}thing{t}"}
                for t in (rnd.randint(1, tp) for _ in range(1000))]}
            flt = {"subject": "user42@contoso.com", "server": "server1",
                   "tools": [{"name": f"{names[t % 5]}thing{t}",
                              "description": "x"}
                             for t in (rnd.randint(1, tp)
                                       for _ in range(500))]}
            for label, path, body, target in (
                    ("POST /v1/authorize/batch, 1,000 tools",
                     "/v1/authorize/batch", batch, "< 5 ms"),
                    ("POST /v1/tools/filter, 500 tools", "/v1/tools/filter",
                     flt, "")):
                script = os.path.join(tmp, "static.lua")
                with open(script, "w") as f:
                    f.write(LUA_STATIC % {"token": token,
                                          "body": json.dumps(body)})
                res = common.wrk(srv.base + path, seconds, conns=1,
                                 script=script)
                rows.append((tier, label, f"{res[0]:,.0f} req/s, p50 "
                             f"{res[1]:.2f} ms, p99 {res[2]:.2f} ms",
                             target))
        srv.stop()
        pg = pgbench(db, params, seconds)
        rows.append((tier, "same decision as SQL per request (pgbench, 8 "
                     "clients)", f"{pg[0]:,.0f} tx/s, p50 {pg[1]:.2f} ms, "
                     f"p99 {pg[2]:.2f} ms", "comparison"))
        rows.append((tier, "authorize / SQL-per-decision throughput",
                     f"{auth[0] / pg[0]:.1f}x", ""))
    finally:
        db.drop()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tiers", nargs="*", default=["S", "M", "L"])
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    subprocess.run(["make", "-s", "all"], cwd=common.ROOT, check=True)
    rows = []
    for t in a.tiers:
        rows += bench_tier(t, a.seconds)
    print(f"\nMachine: {common.machine()}; rollcall release build, "
          "2 workers; wrk -t1 -c32 (batch and filter: one request at a time, -c1, so latency is service time)\n")
    print("| tier | measurement | result | target |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
