"""SCIM throughput with a C load generator (wrk), so the client is not
the bottleneck (scim_bench.py's Python client spends more CPU than the
server on this 2-CPU machine).  Measures, against a real rollcall on a
durable private PostgreSQL:

  - POST /scim/v2/Users with unique Entra-shaped bodies, 8 connections;
  - GET /scim/v2/Users?filter=userName eq "..." at 150,000 users (random
    existing users, a fifth in upper case), 8 connections and 1.

    python3 scripts/bench/scim_wrk.py [--seconds N]
"""
import argparse
import os
import subprocess
import tempfile

import common

CREATE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/scim+json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = 0
request = function()
  n = n + 1
  local id = string.format("%%d-%%d", n, math.random(1, 1000000000))
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",' ..
    '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],' ..
    '"userName":"new' .. id .. '@contoso.com","externalId":"' .. id ..
    '","active":true,"displayName":"New User","name":{"givenName":"New",' ..
    '"familyName":"User"},"emails":[{"type":"work","value":"new' .. id ..
    '@contoso.com","primary":true}],"meta":{"resourceType":"User"},' ..
    '"roles":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"' ..
    ':{"department":"Engineering","employeeNumber":"' .. n .. '"}}'
  return wrk.format(nil, "/scim/v2/Users", nil, body)
end
"""

LOOKUP_LUA = """
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  local u = math.random(1, %(users)d)
  local name = "user" .. u .. "@contoso.com"
  if u %% 5 == 0 then name = string.upper(name) end
  return wrk.format("GET", "/scim/v2/Users?filter=userName+eq+%%22" ..
    name .. "%%22")
end
"""

USERS_SQL = """
INSERT INTO users (id, directory_id, user_name, external_id, display_name,
    active, emails_lc, doc)
SELECT md5('user' || i)::uuid, 1, 'user' || i || '@contoso.com',
    md5('oid' || i)::uuid::text, 'User ' || i, true,
    ARRAY['user' || i || '@contoso.com'],
    jsonb_build_object('schemas',
        jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
        'userName', 'user' || i || '@contoso.com',
        'externalId', md5('oid' || i)::uuid::text,
        'displayName', 'User ' || i, 'active', true,
        'emails', jsonb_build_array(jsonb_build_object('type', 'work',
            'value', 'user' || i || '@contoso.com', 'primary', true)))
FROM generate_series(1, %d) AS i;
VACUUM ANALYZE users;
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    subprocess.run(["make", "-s", "all"], cwd=common.ROOT, check=True)
    db = common.BenchDB()
    rows = []
    try:
        token = db.token("scim")
        srv = common.BenchServer(db)
        with tempfile.TemporaryDirectory() as tmp:
            lua = os.path.join(tmp, "create.lua")
            with open(lua, "w") as f:
                f.write(CREATE_LUA % {"token": token})
            r = common.wrk(srv.base + "/scim/v2/Users", a.seconds, conns=8,
                           script=lua)
            rows.append(("POST /scim/v2/Users (durable commits)", 8) + r)
            created = int(db.psql("SELECT count(*) FROM users").strip())
            users = 150000
            subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", db.dsn],
                           input=USERS_SQL % users, text=True, check=True,
                           capture_output=True)
            db.ctl("migrate")   # the identity keys of the rows just loaded
            common.localpg("psql", "-q", "-c", "CHECKPOINT")
            lua = os.path.join(tmp, "lookup.lua")
            with open(lua, "w") as f:
                f.write(LOOKUP_LUA % {"token": token, "users": users})
            common.wrk(srv.base + "/scim/v2/Users", 2, conns=8, script=lua)
            for conns in (8, 1):
                r = common.wrk(srv.base + "/scim/v2/Users", a.seconds,
                               conns=conns, script=lua)
                rows.append((f"GET /Users?filter=userName eq (at "
                             f"{users + created:,} users)", conns) + r)
        srv.stop()
    finally:
        db.drop()
    print(f"\nMachine: {common.machine()}; rollcall release build, "
          "2 workers; PostgreSQL with fsync and synchronous_commit on; "
          "wrk on the same machine\n")
    print("| measurement | connections | req/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, conns, rps, p50, p99 in rows:
        print(f"| {label} | {conns} | {rps:,.0f} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
