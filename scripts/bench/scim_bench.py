#!/usr/bin/python3
"""SCIM benchmark (issue 3): Entra-shaped load against a real rollcall and
PostgreSQL, printed as a table.  Not a test.

    /usr/bin/python3 scripts/bench/scim_bench.py            # full run
    /usr/bin/python3 scripts/bench/scim_bench.py --quick    # smoke run

By default it builds (make -s), starts its own PostgreSQL cluster in
.run/pg-bench (port 54349) with the stock durable settings (fsync and
synchronous_commit on; the fsync / synchronous_commit line printed first
shows what was in force), a fresh database, and a rollcall the way
tests/it/conftest.py does; it drops the database when done.  The cluster
is shared with the other benchmarks and keeps running (stop it with
RC_PGDIR=.run/pg-bench RC_PGPORT=54349 sh scripts/localpg.sh stop).  To measure a server you run yourself (make run),
pass --url http://127.0.0.1:8080/scim/v2 --token SCIM_TOKEN and, for the
bulk load, --dsn "$(sh scripts/localpg.sh dsn)"; the directory must be
empty or at least hold no bench users.

Phases:
  1. POST /Users, tier M (25,000), 8 keep-alive connections
  2. POST /Groups (2,500), 8 connections, members empty as Entra sends
  3. PATCH one group adding 10,000 members in one request (3 groups)
  4. bulk-load users by SQL up to tier L (150,000) with documents copied
     from one user created through the API (so they have the stored shape)
  5. GET /Users?filter=userName eq "..." over 8 connections and over one
     (latency without client-side queueing), after VACUUM ANALYZE, a
     CHECKPOINT (own cluster) and 1,000 unrecorded warm-up lookups; names
     are a mix of API- and SQL-created users, some in other letter case;
     each must find exactly 1 user
The load generator is Python (GIL): on a small machine it can be the
limit for the request rate, so the table notes the client's CPU time.
"""
import argparse
import os
import random
import resource
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user_doc(i, tag):
    given, family = f"Given{i}", f"Family{tag}{i}"
    name = f"{given.lower()}.{family.lower()}@contoso.example"
    return {
        "schemas": [CORE, ENT],
        "externalId": str(uuid.uuid4()),
        "userName": name,
        "active": True,
        "displayName": f"{given} {family}",
        "title": "Engineer",
        "preferredLanguage": "en-US",
        "name": {"formatted": f"{given} {family}", "familyName": family,
                 "givenName": given},
        "emails": [{"primary": True, "type": "work", "value": name}],
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0100"},
                         {"type": "mobile", "value": "+1 425 555 0199"}],
        "addresses": [{"type": "work", "formatted": "1 Microsoft Way",
                       "streetAddress": "1 Microsoft Way",
                       "locality": "Redmond", "region": "WA",
                       "postalCode": "98052", "country": "US",
                       "primary": False}],
        "roles": [],
        ENT: {"employeeNumber": str(100000 + i),
              "department": f"Department {i % 40}"},
        "meta": {"resourceType": "User"},
    }


def group_doc(i, tag):
    return {"schemas": [GROUP, ADSCIM], "externalId": str(uuid.uuid4()),
            "displayName": f"Group {tag} {i:05d}", "members": [],
            "meta": {"resourceType": "Group"}}


def ms(x):
    return f"{x * 1000:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=25000)
    ap.add_argument("--groups", type=int, default=2500)
    ap.add_argument("--members", type=int, default=10000)
    ap.add_argument("--patches", type=int, default=3)
    ap.add_argument("--total", type=int, default=150000)
    ap.add_argument("--lookups", type=int, default=10000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0,
                    help="server workers (own server only; default: "
                    "rollcall's default)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, for checking the harness")
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--dsn")
    ap.add_argument("--keep", action="store_true",
                    help="keep the database")
    a = ap.parse_args()
    if a.quick:
        a.users, a.groups, a.members, a.total, a.lookups = \
            2000, 200, 1000, 10000, 1000
    a.members = min(a.members, a.users)
    if a.url and not a.token:
        ap.error("--url needs --token")

    cluster = db = server = None
    tag = os.urandom(3).hex()
    try:
        if a.url:
            base, token = a.url.rstrip("/"), a.token
            db = benchlib.DsnDatabase(a.dsn) if a.dsn else None
            settings = db.sql("SELECT current_setting('fsync') || ' / ' || "
                              "current_setting('synchronous_commit')"
                              ).strip() if db else "unknown"
        else:
            benchlib.sh("make", "-s", "all")
            build = benchlib.ROOT / "build" / "release"
            cluster = benchlib.Cluster(benchlib.ROOT / ".run" / "pg-bench",
                                       54349)
            db = benchlib.Database(cluster, str(build / "rollcallctl"))
            db.ctl("directory", "create", "bench")
            token = db.ctl("token", "create", "--scope", "scim",
                           "--directory", "bench", "--name",
                           "bench").strip().splitlines()[-1]
            server = benchlib.Server(str(build / "rollcall"), db,
                                     a.workers or None)
            base = server.base + "/scim/v2"
            settings = cluster.psql("SELECT current_setting('fsync') || "
                                    "' / ' || current_setting("
                                    "'synchronous_commit')").strip()
        pgver = db.sql("SHOW server_version").strip() if db else "?"
        print(f"machine: {benchlib.machine()}")
        print(f"postgres {pgver}, fsync / synchronous_commit: {settings}")
        print(f"target: {base}", flush=True)
        rows = []
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)

        # 1. users through the API
        ids = [None] * a.users

        def keep_id(i, status, doc):
            if status == 201 and doc:
                ids[i] = doc.get("id")

        print(f"creating {a.users} users ...", flush=True)
        r = benchlib.run_load(
            "POST /Users", base, token, range(a.users), a.conns,
            lambda i: ("POST", "/Users", user_doc(i, tag)), keep_id)
        rows.append((f"POST /Users (tier M, {a.users})", r, a.conns))

        # 2. groups
        gids = [None] * a.groups
        print(f"creating {a.groups} groups ...", flush=True)

        def keep_gid(i, status, doc):
            if status == 201 and doc:
                gids[i] = doc.get("id")

        r = benchlib.run_load(
            "POST /Groups", base, token, range(a.groups), a.conns,
            lambda i: ("POST", "/Groups", group_doc(i, tag)), keep_gid)
        rows.append((f"POST /Groups ({a.groups})", r, a.conns))

        # 3. one PATCH adding many members, on a few groups
        made = [x for x in ids if x]
        times, perrs = [], 0
        c = benchlib.Client(base, token, timeout=300)
        for k in range(min(a.patches, len([g for g in gids if g]))):
            start = (k * a.members // 2) % max(1, len(made) - a.members + 1)
            members = made[start:start + a.members]
            body = {"schemas": [PATCHOP], "Operations": [
                {"op": "add", "path": "members",
                 "value": [{"value": m} for m in members]}]}
            print(f"PATCH group {k + 1}: +{len(members)} members ...",
                  flush=True)
            status, doc, dt = c.request("PATCH", f"/Groups/{gids[k]}", body)
            if status >= 300:
                perrs += 1
                print(f"  PATCH -> {status} {str(doc)[:200]}")
            times.append(dt)
        if times:
            rows.append((f"PATCH /Groups +{a.members} members",
                         benchlib.Result("patch", times, sum(times), perrs),
                         1))

        # 4. bulk load to tier L by SQL, documents shaped by the API
        have = len(made)
        if db is not None and made:
            count = int(db.sql(
                "SELECT count(*) FROM users WHERE deleted_at IS NULL AND "
                "directory_id = (SELECT directory_id FROM users WHERE "
                f"id = '{made[0]}')").strip())
            extra = a.total - count
            if extra > 0:
                print(f"bulk-loading {extra} users by SQL ...", flush=True)
                t0 = time.perf_counter()
                db.sql(f"""
INSERT INTO users (directory_id, user_name, external_id, display_name,
    active, emails_lc, user_name_key, emails_key, doc)
SELECT t.directory_id, s.un, s.ext, s.dn, true, ARRAY[lower(s.un)],
    s.un, ARRAY[s.un],  -- lower-case ASCII: each name is its own key
    jsonb_set(t.doc || jsonb_build_object('userName', s.un,
        'externalId', s.ext, 'displayName', s.dn,
        'name', jsonb_build_object('formatted', s.dn, 'givenName', s.gn,
            'familyName', s.fn),
        'emails', jsonb_build_array(jsonb_build_object('primary', true,
            'type', 'work', 'value', s.un))),
        '{{{ENT},employeeNumber}}', to_jsonb((500000 + s.i)::text))
FROM (SELECT directory_id, doc FROM users WHERE id = '{made[0]}') t,
    (SELECT i, format('bulk%s.{tag}@contoso.example', i) AS un,
        gen_random_uuid()::text AS ext, format('Bulk%s', i) AS gn,
        format('User{tag}%s', i) AS fn,
        format('Bulk%s User{tag}%s', i, i) AS dn
     FROM generate_series(1, {extra}) i) s;""")
                db.sql("VACUUM ANALYZE users")
                print(f"  {extra} rows in {time.perf_counter() - t0:.1f} s",
                      flush=True)
                have = extra
            total_now = a.total if extra > 0 else count
        else:
            total_now = len(made)
            extra = 0

        # 5. filtered GET by userName
        rnd = random.Random(7)
        names = []
        for j in range(a.lookups):
            if extra > 0 and j % 2:
                n = f"bulk{rnd.randint(1, have)}.{tag}@contoso.example"
            else:
                i = rnd.randrange(a.users)
                n = user_doc(i, tag)["userName"]
            names.append(n.upper() if j % 5 == 0 else n)
        wrong = [0]

        def req(j):
            f = urllib.parse.quote(f'userName eq "{names[j]}"')
            return ("GET", f"/Users?filter={f}", None)

        def check(j, status, doc):
            if status == 200 and (doc or {}).get("totalResults") != 1:
                wrong[0] += 1

        # Steady state, not the bulk load's aftermath: flush its dirty
        # pages now (own cluster only: needs a superuser) and warm up.
        if cluster is not None:
            cluster.psql("CHECKPOINT")
        benchlib.run_load("warm-up", base, token,
                          range(min(1000, a.lookups)), a.conns, req, None)
        print(f"{a.lookups} filtered GETs at {total_now} users ...",
              flush=True)
        r = benchlib.run_load("GET filter", base, token, range(a.lookups),
                              a.conns, req, check)
        r.errors += wrong[0]
        rows.append((f"GET /Users?filter=userName eq ({total_now} users)",
                     r, a.conns))
        n1 = max(1, a.lookups // 5)
        r = benchlib.run_load("GET filter x1", base, token, range(n1), 1,
                              req, check)
        rows.append((f"GET /Users?filter=userName eq ({total_now} users)",
                     r, 1))
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)

        print()
        print("| measure | requests | conns | req/s | p50 ms | p99 ms "
              "| errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, res, conns in rows:
            p99 = benchlib.percentile(res.lat, 99)
            rate = "-" if label.startswith("PATCH") else f"{res.rate:.0f}"
            print(f"| {label} | {res.count} | {conns} | {rate} "
                  f"| {ms(benchlib.percentile(res.lat, 50))} | {ms(p99)} "
                  f"| {res.errors} |")
        client_cpu = (cpu1.ru_utime - cpu0.ru_utime +
                      cpu1.ru_stime - cpu0.ru_stime)
        print(f"\nload generator CPU: {client_cpu:.1f} s "
              "(Python; same machine as the server)")
        if any(res.errors for _, res, _ in rows):
            return 1
        return 0
    finally:
        if server is not None:
            server.stop()
        if isinstance(db, benchlib.Database) and not a.keep:
            db.drop()


if __name__ == "__main__":
    sys.exit(main())
