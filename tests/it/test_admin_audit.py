"""Admin API: the audit trail.  Query, pagination, filters and their
errors, directory scoping, the streamed JSON-lines export, and the hash
chain: linear under concurrent writers, and broken by any edit or
deletion made behind the server's back (rollcallctl agrees)."""
import concurrent.futures
import http.client
import json
import urllib.parse

import pytest


def q(**params):
    return "?" + urllib.parse.urlencode(params) if params else ""


def audit(server, token, **params):
    return server.get("/admin/v1/audit" + q(**params), token=token)


def walk(server, token, **params):
    """Every record of a query, following next_cursor."""
    out, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        r = audit(server, token, **p)
        assert r.status == 200, r
        out += r.json["records"]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            return out, pages


@pytest.fixture(scope="module")
def seeded(server, db):
    """A second directory with its own admin token and some records."""
    g = server.tokens["global_admin"]
    r = server.post("/admin/v1/directories", body={"name": "audit-other"},
                    token=g)
    assert r.status == 201, r
    r = server.post("/admin/v1/tokens", token=g, body={
        "name": "other-admin", "scopes": ["admin"],
        "directory": "audit-other"})
    assert r.status == 201, r
    other = r.json["token"]
    ids = []
    for i in range(7):
        r = server.post("/admin/v1/tokens", token=g, body={
            "name": f"seed-{i}", "scopes": "scim", "directory": "default"})
        assert r.status == 201
        ids.append(r.json["id"])
    return {"other": other, "token_ids": ids}


def test_records_newest_first_with_chain_fields(server, seeded):
    r = audit(server, server.tokens["global_admin"])
    assert r.status == 200, r
    recs = r.json["records"]
    assert r.json["order"] == "desc"
    ids = [x["id"] for x in recs]
    assert ids == sorted(ids, reverse=True)
    top = recs[0]
    for field in ("id", "at", "directory", "actor_kind", "actor", "type",
                  "subject_type", "subject", "request_id", "summary",
                  "prev_hash", "hash"):
        assert field in top
    assert len(top["hash"]) == 64 and len(top["prev_hash"]) == 64
    # Linked: each record's prev_hash is the hash of the one before it.
    for newer, older in zip(recs, recs[1:]):
        assert newer["prev_hash"] == older["hash"]
    # No secrets or hashes of secrets in the trail.
    text = r.body.decode()
    for secret in server.tokens.values():
        assert secret not in text
    assert "secret_hash" not in text


def test_pagination_visits_every_record_once(server, db, seeded):
    g = server.tokens["global_admin"]
    total = int(db.sql("SELECT count(*) FROM audit_log").strip())
    recs, pages = walk(server, g, limit=3)
    assert len(recs) == total and pages == (total + 2) // 3
    assert len({x["id"] for x in recs}) == total
    asc, _ = walk(server, g, limit=4, order="asc")
    assert [x["id"] for x in asc] == sorted(x["id"] for x in recs)


def test_filters(server, seeded):
    g = server.tokens["global_admin"]
    tid = seeded["token_ids"][3]
    r = audit(server, g, subject=tid)
    assert [x["subject"] for x in r.json["records"]] == [tid]
    assert r.json["records"][0]["type"] == "token.create"
    r = audit(server, g, type="token.create", limit=1000)
    assert r.json["records"] and \
        {x["type"] for x in r.json["records"]} == {"token.create"}
    r = audit(server, g, type="directory.*")
    assert {x["type"] for x in r.json["records"]} == {"directory.create"}
    # '_' in a prefix is literal, not a LIKE wildcard.
    assert audit(server, g, type="token_*").json["records"] == []
    r = audit(server, g, actor="global")
    assert r.json["records"] and \
        {x["actor"] for x in r.json["records"]} == {"global"}
    assert audit(server, g, actor="nobody").json["records"] == []
    # Time window: everything is after 2000 and before 9999.
    n = len(walk(server, g)[0])
    assert len(walk(server, g, **{"from": "2000-01-01"})[0]) == n
    assert walk(server, g, to="2000-01-01T00:00:00Z")[0] == []
    assert walk(server, g, **{"from": "9999-12-31T23:59:59.999999+00:00"}
                )[0] == []
    newest = audit(server, g, limit=1).json["records"][0]
    r = audit(server, g, **{"from": newest["at"]})
    assert newest["id"] in [x["id"] for x in r.json["records"]]


@pytest.mark.parametrize("params,param", [
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"order": "sideways"}, "order"),
    ({"from": "yesterday"}, "from"),
    ({"from": "now"}, "from"),
    ({"to": "2026-02-30"}, "to"),
    ({"to": "2025-02-29T00:00:00Z"}, "to"),
    ({"to": "2026-01-01T25:00:00Z"}, "to"),
    ({"to": "2026-01-01T00:00:00.1234567Z"}, "to"),
    ({"to": "2026-01-01 00:00:00"}, "to"),
    ({"type": "DROP TABLE"}, "type"),
    ({"type": "x" * 65}, "type"),
    ({"type": "*"}, "type"),
    ({"actor": "a" * 129}, "actor"),
    ({"subject": "s" * 257}, "subject"),
    ({"directory": "no-such-dir"}, "directory"),
    ({"bogus": "1"}, "bogus"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "W10.AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
    ({"cursor": "x" * 1800}, "cursor"),
])
def test_bad_parameters_are_named(server, params, param):
    r = audit(server, server.tokens["global_admin"], **params)
    assert r.status == 400, r
    assert r.json["error"] == "invalid_parameter"
    assert r.json["parameter"] == param
    if param:
        assert param in r.json["message"]


def test_bad_query_strings(server):
    g = server.tokens["global_admin"]
    for qs in ("limit=1&limit=2", "actor=%zz", "actor=%00", "actor=%FF",
               "actor="):
        r = server.get("/admin/v1/audit?" + qs, token=g)
        assert r.status == 400, (qs, r)
        assert r.json["parameter"] in ("limit", "actor")


def test_tampered_cursor_is_refused(server, seeded):
    g = server.tokens["global_admin"]
    r = audit(server, g, limit=2)
    cur = r.json["next_cursor"]
    assert cur
    pos, mac = cur.split(".")
    for bad in (cur[:-1], cur + "A", pos + "." + mac[::-1],
                "MQ." + mac,  # "1" with the original MAC
                cur.replace(".", "")):
        r = audit(server, g, limit=2, cursor=bad)
        assert r.status == 400 and r.json["parameter"] == "cursor", r
    # A cursor belongs to its query: other filters or order refuse it.
    for other in ({"limit": 2, "order": "asc"},
                  {"limit": 2, "type": "token.*"},
                  {"limit": 2, "directory": "default"}):
        r = audit(server, g, cursor=cur, **other)
        assert r.status == 400 and r.json["parameter"] == "cursor", r
    # ... but the page size may change.
    assert audit(server, g, limit=5, cursor=cur).status == 200
    # And another token's cursor is refused as well.
    r = audit(server, server.tokens["admin"], limit=2, cursor=cur)
    assert r.status == 400


def test_directory_scoping(server, seeded):
    g, admin, other = (server.tokens["global_admin"], server.tokens["admin"],
                       seeded["other"])
    everything, _ = walk(server, g, limit=1000)
    mine, _ = walk(server, admin, limit=1000)
    theirs, _ = walk(server, other, limit=1000)
    assert {x["directory"] for x in mine} == {"default"}
    assert {x["directory"] for x in theirs} == {"audit-other"}
    assert len(mine) + len(theirs) < len(everything)
    # Global records (no directory) are for global admins only.
    assert None in {x["directory"] for x in everything}
    # A global token can narrow to one directory; a bound one cannot widen.
    r = audit(server, g, directory="AUDIT-OTHER", limit=1000)
    assert [x["id"] for x in r.json["records"]] == [x["id"] for x in theirs]
    r = audit(server, admin, directory="audit-other")
    assert r.status == 403
    r = audit(server, admin, directory="default")
    assert r.status == 200
    # The export follows the same rules.
    lines = export(server, other)
    assert [x["id"] for x in lines] == sorted(x["id"] for x in theirs)
    r = server.get("/admin/v1/audit/export?directory=default", token=other)
    assert r.status == 403


def test_auth_and_methods(server):
    for path in ("/admin/v1/audit", "/admin/v1/audit/export",
                 "/admin/v1/audit/verify"):
        assert server.get(path).status == 401
        assert server.get(path, token=server.tokens["scim"]).status == 403
        r = server.post(path, body={}, token=server.tokens["global_admin"])
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD"


def export(server, token, path="/admin/v1/audit/export"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        assert r.status == 200, r.read()
        assert r.getheader("transfer-encoding") == "chunked"
        assert r.getheader("content-length") is None
        assert r.getheader("content-type") == "application/x-ndjson"
        body = r.read()
        # The connection stays usable after the stream (keep-alive).
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    text = body.decode()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_export_streams_every_record_in_pages(server, db, seeded):
    g = server.tokens["global_admin"]
    # 2,600 more records (written by the database's own chain trigger),
    # so the export spans several chunks.
    db.sql("INSERT INTO audit_log (directory_id, actor_kind, actor, action, "
           "resource_type, resource_id, summary) SELECT 1, 'system', "
           "'bulk', 'test.bulk', 'thing', 'thing-' || i, "
           "jsonb_build_object('i', i, 'note', 'é \"quoted\" \\') "
           "FROM generate_series(1, 2600) i")
    lines = export(server, g)
    total = int(db.sql("SELECT count(*) FROM audit_log").strip())
    assert len(lines) == total
    ids = [x["id"] for x in lines]
    assert ids == sorted(ids) and len(set(ids)) == total
    for prev, cur in zip(lines, lines[1:]):
        assert cur["prev_hash"] == prev["hash"]
    bulk = [x for x in lines if x["type"] == "test.bulk"]
    assert len(bulk) == 2600
    assert bulk[0]["summary"]["note"] == 'é "quoted" \\'
    # Filters apply to the export too.
    only = export(server, g, "/admin/v1/audit/export?type=test.bulk&"
                  "subject=thing-77")
    assert [x["subject"] for x in only] == ["thing-77"]
    assert export(server, g, "/admin/v1/audit/export?actor=nobody") == []
    # Export parameters are validated like the query's.
    for qs, param in (("limit=5", "limit"), ("cursor=x", "cursor"),
                      ("from=soon", "from")):
        r = server.get("/admin/v1/audit/export?" + qs, token=g)
        assert r.status == 400 and r.json["parameter"] == param


def test_export_survives_a_client_that_leaves(server, seeded):
    g = server.tokens["global_admin"]
    for _ in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                          timeout=10)
        conn.request("GET", "/admin/v1/audit/export",
                     headers={"Authorization": f"Bearer {g}"})
        r = conn.getresponse()
        r.read(100)
        conn.close()
    assert server.get("/healthz").status == 200
    assert len(export(server, g)) > 0


def test_verify_good_chain_under_concurrent_writers(server, db, seeded):
    g = server.tokens["global_admin"]

    def mint(i):
        return server.post("/admin/v1/tokens", token=g, body={
            "name": f"par-{i}", "scopes": "gateway",
            "directory": "default"}).status

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        assert set(ex.map(mint, range(64))) == {201}
    r = server.get("/admin/v1/audit/verify", token=g)
    assert r.status == 200, r
    v = r.json
    total = int(db.sql("SELECT count(*) FROM audit_log").strip())
    assert v["ok"] is True and v["problems"] == [] and \
        v["problem_count"] == 0
    assert v["records"] == total
    head = db.sql("SELECT last_id, encode(last_hash, 'hex') FROM "
                  "audit_chain").strip().split("|")
    assert v["head"] == {"id": int(head[0]), "hash": head[1]}
    # Only a global admin sees the whole chain.
    assert server.get("/admin/v1/audit/verify",
                      token=server.tokens["admin"]).status == 403
    r = server.get("/admin/v1/audit/verify?x=1", token=g)
    assert r.status == 400 and r.json["parameter"] == "x"
    r = db.ctl("audit", "verify")
    assert r.returncode == 0 and "intact" in r.stdout


def test_audit_first_and_flush_first_writers_do_not_deadlock(db):
    """One writer appends its audit row before bumping the policy
    version, the other after: both must commit."""
    audit = ("INSERT INTO audit_log (actor_kind, actor, action) VALUES "
             "('system', 'order-test', 'test.order');")
    bump = "UPDATE policy_state SET version = version + 1;"
    first = f"BEGIN; {audit} SELECT pg_sleep(0.5); {bump} COMMIT;"
    last = f"BEGIN; {bump} SELECT pg_sleep(0.5); {audit} COMMIT;"
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(db.sql, sql) for sql in (first, last, first, last)]
        for f in futs:
            f.result()          # raises on "deadlock detected"
    assert db.sql("SELECT count(*) FROM audit_log WHERE actor = "
                  "'order-test'").strip() == "4"
    assert db.ctl("audit", "verify").returncode == 0


def test_writers_cannot_choose_ids_or_hashes(db):
    db.sql("INSERT INTO audit_log (id, actor_kind, actor, action, prev_hash, "
           "hash) VALUES (999999, 'system', 'forger', 'test.forge', "
           "'\\x00', '\\x00')")
    row = db.sql("SELECT id, length(hash), length(prev_hash) FROM audit_log "
                 "WHERE actor = 'forger'").strip().split("|")
    assert row[0] != "999999" and row[1:] == ["32", "32"]


@pytest.fixture
def tamper_db(make_server):
    def directories(d):
        for name in ("a", "b", "c", "d", "e", "f"):
            d.ctl("directory", "create", f"dir-{name}")
    return make_server.database(seed=directories)


def rows(db):
    out = db.sql("SELECT id FROM audit_log ORDER BY id").split()
    return [int(x) for x in out]


def verify_cli(db):
    r = db.ctl("audit", "verify", "--json", check=False)
    return r.returncode, json.loads(r.stdout)


def test_verify_detects_edits_and_deletions(tamper_db, make_server):
    db = tamper_db
    code, v = verify_cli(db)
    assert code == 0 and v["ok"] and v["records"] == 6
    ids = rows(db)

    # 1. An edit made behind the server's back.
    db.sql("ALTER TABLE audit_log DISABLE TRIGGER USER; "
           f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[2]}; "
           "ALTER TABLE audit_log ENABLE TRIGGER USER")
    code, v = verify_cli(db)
    assert code == 1 and not v["ok"]
    assert v["problems"][0] == {"id": ids[2], "kind": "altered",
                                "message": v["problems"][0]["message"]}
    assert v["problem_count"] == 1

    # 2. The forger recomputes the edited row's hash: the next link breaks.
    db.sql("ALTER TABLE audit_log DISABLE TRIGGER USER; "
           "UPDATE audit_log a SET hash = audit_log_digest(a.prev_hash, a) "
           f"WHERE id = {ids[2]}; "
           "ALTER TABLE audit_log ENABLE TRIGGER USER")
    code, v = verify_cli(db)
    assert code == 1
    assert [(p["id"], p["kind"]) for p in v["problems"]] == \
        [(ids[3], "broken_link")]

    # 3. A deletion in the middle (ids are not relied upon).
    db.sql("ALTER TABLE audit_log DISABLE TRIGGER USER; "
           f"DELETE FROM audit_log WHERE id = {ids[4]}; "
           "ALTER TABLE audit_log ENABLE TRIGGER USER")
    code, v = verify_cli(db)
    kinds = [(p["id"], p["kind"]) for p in v["problems"]]
    assert (ids[5], "broken_link") in kinds and code == 1

    # 4. The server reports the same as the CLI.
    # (minting a token appends a record: the chain stays broken before it)
    g = db.token("admin", directory=None, name="verifier")
    s = make_server(db=db)
    r = s.get("/admin/v1/audit/verify", token=g)
    assert r.status == 200 and r.json["ok"] is False
    assert [(p["id"], p["kind"]) for p in r.json["problems"]][:2] == kinds[:2]


def test_verify_detects_a_deleted_first_and_last_record(tamper_db):
    db = tamper_db
    ids = rows(db)
    db.sql("ALTER TABLE audit_log DISABLE TRIGGER USER; "
           f"DELETE FROM audit_log WHERE id = {ids[-1]}; "
           "ALTER TABLE audit_log ENABLE TRIGGER USER")
    code, v = verify_cli(db)
    assert code == 1
    assert [(p["id"], p["kind"]) for p in v["problems"]] == \
        [(ids[-2], "head_mismatch")]
    db.sql("ALTER TABLE audit_log DISABLE TRIGGER USER; "
           f"DELETE FROM audit_log WHERE id = {ids[0]}; "
           "ALTER TABLE audit_log ENABLE TRIGGER USER")
    code, v = verify_cli(db)
    assert (ids[1], "broken_link") in \
        [(p["id"], p["kind"]) for p in v["problems"]]
    r = db.ctl("audit", "verify", check=False)
    assert r.returncode == 1 and "BROKEN" in r.stdout


def test_cli_audit_tail(db, seeded):
    r = db.ctl("audit", "tail", "-n", "3", "--json")
    recs = json.loads(r.stdout)
    assert len(recs) == 3
    ids = [x["id"] for x in recs]
    assert ids == sorted(ids)          # oldest of the three first
    r = db.ctl("audit", "tail", "-n", "5")
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "at", "directory"]
    assert len(lines) == 6
    for bad in (["-n", "0"], ["-n", "x"], ["-n", "100001"]):
        assert db.ctl("audit", "tail", *bad, check=False).returncode != 0


def test_bare_dates_are_utc_whatever_the_database_time_zone(make_server):
    def world(db):
        db.sql(f"ALTER DATABASE {db.name} SET timezone = "
               f"'Pacific/Kiritimati'")          # UTC+14
        db.sql("INSERT INTO audit_log (at, actor_kind, actor, action) "
               "VALUES ('2026-01-01T12:00:00Z', 'system', 'tz', 'test.tz')")
    s = make_server(seed=world, tokens={
        "g": {"scopes": "admin", "directory": None, "name": "tz"}})
    g = s.tokens["g"]
    after = audit(s, g, actor="tz", **{"from": "2026-01-02"})
    before = audit(s, g, actor="tz", to="2026-01-02")
    at = audit(s, g, actor="tz").json["records"][0]["at"]
    assert after.json["records"] == []
    assert len(before.json["records"]) == 1
    assert at == "2026-01-01T12:00:00.000000Z"
