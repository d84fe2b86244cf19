"""GET /admin/v1/activity: Entra provisioning health and decision counts
per directory, as the console's overview shows them.  Workers count in
memory and flush to PostgreSQL every 2 s, so every answer here is
polled for until the flush has happened (generous timeouts, no timing
assertions)."""
import http.client
import json
import time

import pytest

import seed

NOBODY = "00000000-0000-0000-0000-00000000dead"


def two_directories(db):
    seed.seed(db)
    # The seed writes rows only; SCIM answers from the document.
    db.sql("UPDATE users SET doc = jsonb_build_object('schemas', "
           "jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),"
           " 'userName', user_name, 'active', active)")
    db.sql("INSERT INTO directories (name) VALUES ('fabrikam')")
    db.ctl("migrate")   # identity keys for the hand-written rows


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(seed=two_directories, tokens={
        "scim": "scim", "gateway": "gateway", "admin": "admin",
        "global_admin": "global_admin",
        "fab_admin": {"scopes": "admin", "directory": "fabrikam",
                      "name": "fab-admin"},
        "fab_scim": {"scopes": "scim", "directory": "fabrikam",
                     "name": "fab-scim"},
    }, workers=2)


def activity(srv, token="admin", query=""):
    r = srv.get("/admin/v1/activity" + query, token=srv.tokens[token])
    assert r.status == 200, r
    return r.json


def directory(doc, name):
    (d,) = [d for d in doc["directories"] if d["directory"] == name]
    return d


def wait_for(srv, pred, token="global_admin", timeout=20):
    """Polls the endpoint until pred(doc) holds; returns that doc."""
    deadline = time.monotonic() + timeout
    while True:
        doc = activity(srv, token)
        if pred(doc):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError("never true: " + json.dumps(doc)[:3000])
        time.sleep(0.3)


def scim_total(d):
    return sum(h["requests"] for h in d["scim"]["hours"])


def decision_totals(d):
    return (sum(m["allow"] for m in d["decisions"]["minutes"]),
            sum(m["deny"] for m in d["decisions"]["minutes"]))


def test_shape_before_any_traffic(srv):
    doc = activity(srv, "global_admin")
    assert doc["quiet_after_s"] == 4800
    assert doc["flush_interval_ms"] > 0
    assert doc["generated_at"].endswith("Z")
    names = [d["directory"] for d in doc["directories"]]
    assert names == ["default", "fabrikam"]
    d = directory(doc, "fabrikam")
    # A directory Entra never called is not "quiet": it was never on.
    assert d["scim"]["last_request_at"] is None
    assert d["scim"]["quiet"] is False
    assert len(d["scim"]["hours"]) == 24
    assert len(d["decisions"]["minutes"]) == 60
    assert d["scim"]["errors"] == {} and d["decisions"]["denies"] == {}
    assert d["kill_switches"] == []
    hours = [h["hour"] for h in d["scim"]["hours"]]
    assert hours == sorted(hours) and hours[-1].endswith(":00:00Z")


def scim_get(conn, token, path):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    r.read()
    return r


def test_scim_requests_counted_across_workers(srv):
    """Keep-alive connections pinned to each of the two workers, so both
    count some of the requests; the sum must still be exact."""
    tok = srv.tokens["scim"]
    before = scim_total(directory(activity(srv, "global_admin"), "default"))
    sent, conns = 0, {}
    deadline = time.monotonic() + 15
    while len(conns) < 2:
        assert time.monotonic() < deadline, f"workers {sorted(conns)} only"
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        r = scim_get(conn, tok, "/scim/v2/Users?count=1")
        assert r.status == 200
        sent += 1
        w = r.getheader("x-request-id")[-10:-8]
        if w in conns:
            conn.close()
        else:
            conns[w] = conn
    ok, missing = 0, 0
    for conn in conns.values():
        for _ in range(10):
            assert scim_get(conn, tok, "/scim/v2/Users?count=1").status == 200
            ok += 1
        for _ in range(3):
            assert scim_get(conn, tok,
                            f"/scim/v2/Users/{NOBODY}").status == 404
            missing += 1
        conn.close()
    total = sent + ok + missing
    # Refused at the door: no directory to count it in, not counted.
    assert srv.get("/scim/v2/Users", token="rcl_wrong").status == 401
    doc = wait_for(srv, lambda doc: scim_total(
        directory(doc, "default")) >= before + total)
    d = directory(doc, "default")
    assert scim_total(d) == before + total
    assert sum(h["errors"] for h in d["scim"]["hours"]) == missing
    assert d["scim"]["errors"] == {"404": missing}
    assert d["scim"]["last_request_at"].endswith("Z")
    assert d["scim"]["quiet"] is False and d["scim"]["quiet_for_s"] < 600
    # Nothing leaked into the other directory.
    assert scim_total(directory(doc, "fabrikam")) == 0
    # Still exact a few flushes later (nothing counted twice).
    time.sleep(2.5)
    assert scim_total(directory(activity(srv, "global_admin"),
                                "default")) == before + total


def test_decisions_per_minute_and_denies_by_reason(srv):
    gw = srv.tokens["gateway"]
    base = directory(activity(srv, "global_admin"), "default")
    a0, d0 = decision_totals(base)
    calls = [("alice@contoso.com", "create_pull_request")] * 3 + \
        [("alice@contoso.com", "delete_branch")] * 2 + \
        [("nobody@contoso.com", "list_repos")]
    for subject, tool in calls:
        r = srv.post("/v1/authorize", token=gw, body={
            "subject": subject, "server": "github", "tool": tool})
        assert r.status == 200, r
    r = srv.post("/v1/authorize/batch", token=gw, body={
        "subject": "alice@contoso.com", "items": [
            {"server": "github", "tool": "list_repos"},
            {"server": "github", "tool": "delete_branch"}]})
    assert r.status == 200, r
    r = srv.post("/v1/tools/filter", token=gw, body={
        "subject": "alice@contoso.com", "server": "github",
        "tools": ["list_repos", "delete_branch"]})
    assert r.status == 200, r
    # Other protocols count the same way.
    r = srv.post("/access/v1/evaluation", token=gw, body={
        "subject": {"type": "user", "id": "alice@contoso.com"},
        "action": {"name": "call"},
        "resource": {"type": "mcp_tool", "id": "github/list_repos"}})
    assert r.status == 200 and r.json["decision"] is True, r
    doc = wait_for(srv, lambda doc: sum(decision_totals(
        directory(doc, "default"))) >= a0 + d0 + 11)
    d = directory(doc, "default")
    assert decision_totals(d) == (a0 + 6, d0 + 5)
    denies = d["decisions"]["denies"]
    assert denies.get("denied_by_rule", 0) - base["decisions"][
        "denies"].get("denied_by_rule", 0) == 4
    assert denies.get("principal_unknown", 0) - base["decisions"][
        "denies"].get("principal_unknown", 0) == 1
    assert "allow" not in denies
    assert decision_totals(directory(doc, "fabrikam")) == (0, 0)


def test_quiet_job_is_flagged(srv):
    # Entra last called fabrikam 81 minutes ago: two cycles missed.
    srv.db.sql("INSERT INTO activity_last (directory_id, series, at) "
               "SELECT id, 'scim', now() - interval '81 minutes' FROM "
               "directories WHERE name = 'fabrikam' ON CONFLICT "
               "(directory_id, series) DO UPDATE SET at = EXCLUDED.at")
    d = directory(activity(srv, "global_admin"), "fabrikam")
    assert d["scim"]["quiet"] is True
    assert d["scim"]["quiet_for_s"] >= 81 * 60
    # One request from Entra and the flag goes (last time moves forward).
    assert srv.get("/scim/v2/Users?count=1",
                   token=srv.tokens["fab_scim"]).status == 200
    wait_for(srv, lambda doc: directory(doc, "fabrikam")["scim"][
        "quiet"] is False)


def test_kill_switches_in_force(srv):
    adm = srv.tokens["admin"]
    r = srv.post(f"/admin/v1/principals/{seed.CAROL}:revoke-all",
                 token=adm, body={"reason": "test"})
    assert r.status == 200, r
    ks = directory(activity(srv), "default")["kill_switches"]
    assert [(k["id"], k["kind"], k["name"], k["by"]) for k in ks] == [
        (seed.CAROL, "user", "carol@contoso.com", "it-admin")]
    assert ks[0]["since"].endswith("Z")
    r = srv.post(f"/admin/v1/principals/{seed.CAROL}:restore", token=adm,
                 body={})
    assert r.status == 200, r
    assert directory(activity(srv), "default")["kill_switches"] == []


def test_directory_binding(srv):
    doc = activity(srv, "fab_admin")
    assert [d["directory"] for d in doc["directories"]] == ["fabrikam"]
    doc = activity(srv, "admin")
    assert [d["directory"] for d in doc["directories"]] == ["default"]
    r = srv.get("/admin/v1/activity?directory=default",
                token=srv.tokens["fab_admin"])
    assert r.status == 403, r
    assert activity(srv, "fab_admin", "?directory=fabrikam")[
        "directories"][0]["directory"] == "fabrikam"
    doc = activity(srv, "global_admin", "?directory=fabrikam")
    assert [d["directory"] for d in doc["directories"]] == ["fabrikam"]
    r = srv.get("/admin/v1/activity?directory=nope",
                token=srv.tokens["global_admin"])
    assert r.status in (400, 404) and b"directory" in r.body, r
    r = srv.get("/admin/v1/activity?bogus=1", token=srv.tokens["admin"])
    assert r.status == 400, r
    assert srv.get("/admin/v1/activity").status == 401
    assert srv.get("/admin/v1/activity",
                   token=srv.tokens["scim"]).status in (401, 403)
    assert srv.post("/admin/v1/activity", body={},
                    token=srv.tokens["admin"]).status == 405


def test_two_instances_see_the_same_sums(srv, make_server):
    other = make_server(db=srv.db, workers=1)
    g = srv.tokens["global_admin"]
    before = scim_total(directory(activity(srv, "global_admin"), "default"))
    for s in (srv, other, other):
        for _ in range(4):
            assert s.get("/scim/v2/Users?count=1",
                         token=srv.tokens["scim"]).status == 200
    want = before + 12
    wait_for(srv, lambda doc: scim_total(directory(doc, "default")) >= want)
    for s in (srv, other):
        doc = s.get("/admin/v1/activity", token=g).json
        assert scim_total(directory(doc, "default")) == want
    other.stop()


def test_counts_survive_a_restart(srv, make_server):
    before = directory(activity(srv, "global_admin"), "default")
    srv.stop()
    again = make_server(db=srv.db, workers=1)
    doc = again.get("/admin/v1/activity",
                    token=srv.tokens["global_admin"]).json
    d = directory(doc, "default")
    assert scim_total(d) == scim_total(before) > 0
    assert decision_totals(d) == decision_totals(before)
