"""Admin write API of the policy model (servers, tools, rules, JIT grants,
service principals): validation, directory scoping, audit, change records
and revocation events, and read-your-writes on the gateway decisions."""
import time
import uuid

import pytest


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_user(server, name, active=True):
    r = server.post("/scim/v2/Users", token=server.tokens["scim"],
                    body={"schemas": [USER], "userName": name,
                          "active": active})
    assert r.status == 201, r
    return r.json["id"]


def scim_disable(server, uid):
    r = server.request("PATCH", f"/scim/v2/Users/{uid}",
                       token=server.tokens["scim"],
                       body={"schemas": [PATCH], "Operations": [
                           {"op": "replace", "path": "active",
                            "value": False}]})
    assert r.status in (200, 204), r


def admin(server, method, path, body=None, token="admin"):
    return server.request(method, "/admin/v1" + path, body=body,
                          token=server.tokens[token])


def decide(server, subject, srv, tool):
    r = server.post("/v1/authorize", token=server.tokens["gateway"],
                    body={"subject": subject, "server": srv, "tool": tool})
    assert r.status == 200, r
    return r.json


@pytest.fixture(scope="module")
def world(server):
    alice = scim_user(server, "alice@contoso.com")
    bob = scim_user(server, "bob@contoso.com")
    owner = scim_user(server, "owner@contoso.com")
    r = server.post("/scim/v2/Groups", token=server.tokens["scim"],
                    body={"schemas": [GROUP], "displayName": "Engineers",
                          "members": [{"value": alice}, {"value": bob}]})
    assert r.status == 201, r
    eng = r.json["id"]
    r = admin(server, "POST", "/servers", {"slug": "github",
              "name": "GitHub", "url": "https://mcp.github.example"},
              token="global_admin")
    assert r.status == 201, r
    for name, risk in (("create_pull_request", "normal"),
                       ("delete_branch", "high"),
                       ("merge_pull_request", "consequential")):
        r = admin(server, "POST", "/servers/github/tools",
                  {"name": name, "risk": risk}, token="global_admin")
        assert r.status == 201, r
    return {"alice": alice, "bob": bob, "owner": owner, "eng": eng}


def events(server, kind):
    return int(server.db.sql(
        f"SELECT count(*) FROM revocation_events WHERE kind = '{kind}'"))


def test_servers_crud_and_scoping(server, world):
    r = admin(server, "POST", "/servers", {"slug": "jira", "name": "Jira"})
    assert r.status == 403 and r.json["error"] == "forbidden"
    for bad in ({"slug": "Bad Slug"}, {"slug": ""}, {"slug": "x" * 64},
                {"slug": "ok", "url": "ftp://x"}, {"slug": "ok", "name": 5},
                {"slug": "-x"}):
        r = admin(server, "POST", "/servers", bad, token="global_admin")
        assert r.status == 400, (bad, r)
    r = admin(server, "POST", "/servers", {"slug": "github"},
              token="global_admin")
    assert r.status == 409
    r = admin(server, "GET", "/servers")
    assert r.status == 200
    gh = [s for s in r.json["servers"] if s["slug"] == "github"][0]
    assert gh["tool_count"] == 3 and gh["name"] == "GitHub"
    r = admin(server, "PATCH", "/servers/github",
              {"description": "code"}, token="global_admin")
    assert r.status == 200 and r.json["description"] == "code"
    assert r.json["url"] == "https://mcp.github.example"
    r = admin(server, "PATCH", "/servers/github", {"slug": "gh"},
              token="global_admin")
    assert r.status == 400
    assert admin(server, "GET", "/servers/nope").status == 404
    assert admin(server, "GET", "/servers/github/tools/nope").status == 404
    r = admin(server, "POST", "/servers", {"slug": "tmp"},
              token="global_admin")
    assert r.status == 201 and r.json["name"] == "tmp"
    assert admin(server, "DELETE", "/servers/tmp").status == 403
    assert admin(server, "DELETE", "/servers/tmp",
                 token="global_admin").status == 204
    assert admin(server, "DELETE", "/servers/tmp",
                 token="global_admin").status == 404
    n = int(server.db.sql("SELECT count(*) FROM audit_log WHERE action "
                          "LIKE 'server.%'"))
    assert n >= 4


def test_tools_validation(server, world):
    for bad in ({"name": "has space"}, {"name": ""}, {"name": "x" * 129},
                {"name": "t", "risk": "HIGH"}, {"name": "t", "labels": "x"},
                {"name": "t", "labels": ["a", "A"]},
                {"name": "t", "labels": ["x"] * 65}):
        r = admin(server, "POST", "/servers/github/tools", bad,
                  token="global_admin")
        assert r.status == 400, (bad, r)
    r = admin(server, "POST", "/servers/nope/tools", {"name": "t"},
              token="global_admin")
    assert r.status == 404
    r = admin(server, "POST", "/servers/github/tools",
              {"name": "delete_branch"}, token="global_admin")
    assert r.status == 409
    r = admin(server, "GET", "/servers/github/tools")
    assert [t["name"] for t in r.json["tools"]] == [
        "create_pull_request", "delete_branch", "merge_pull_request"]


def test_import_tools_list(server, world):
    listing = {"tools": [
        {"name": "get_file", "description": "read",
         "inputSchema": {"type": "object"},
         "annotations": {"readOnlyHint": True}},
        {"name": "force_push", "annotations": {"destructiveHint": True,
                                               "readOnlyHint": False}},
        {"name": "send_mail", "annotations": {"destructiveHint": False,
                                              "openWorldHint": True}},
        {"name": "plain"},
        {"name": "delete_branch", "description": "now described"},
    ]}
    r = admin(server, "POST", "/servers/github/tools:import", listing)
    assert r.status == 403
    r = admin(server, "POST", "/servers/github/tools:import", listing,
              token="global_admin")
    assert r.status == 200, r
    assert r.json["created"] == 4 and r.json["updated"] == 1
    tools = {t["name"]: t for t in admin(
        server, "GET", "/servers/github/tools").json["tools"]}
    assert tools["get_file"]["risk"] == "low"
    assert "mcp:read-only" in tools["get_file"]["labels"]
    assert tools["force_push"]["risk"] == "high"
    assert tools["send_mail"]["risk"] == "consequential"
    assert tools["plain"]["risk"] == "normal"
    # An admin's risk label survives a re-import.
    assert tools["delete_branch"]["risk"] == "high"
    assert tools["delete_branch"]["description"] == "now described"
    r = admin(server, "POST", "/servers/github/tools:import",
              {"tools": [{"name": "a"}, {"name": "a"}]},
              token="global_admin")
    assert r.status == 400
    r = admin(server, "POST", "/servers/github/tools:import",
              {"tools": [{"name": "x"}] * 10001}, token="global_admin")
    assert r.status == 400
    r = admin(server, "POST", "/servers/github/tools:import",
              {"tools": "nope"}, token="global_admin")
    assert r.status == 400
    # prune removes what the server no longer lists.
    keep = [{"name": n} for n in tools if n != "plain"]
    r = admin(server, "POST", "/servers/github/tools:import",
              {"tools": keep, "prune": True}, token="global_admin")
    assert r.status == 200 and r.json["removed"] == 1
    assert admin(server, "GET", "/servers/github/tools/plain").status == 404


def test_rules_read_your_writes(server, world):
    before = decide(server, "alice@contoso.com", "github",
                    "create_pull_request")
    assert before["reason_code"] == "no_matching_rule"
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "group", "name": "Engineers"},
        "server": "github", "selector": "*", "effect": "allow"})
    assert r.status == 201, r
    allow = r.json
    assert allow["subject"] == {"kind": "group", "id": world["eng"]}
    d = decide(server, "alice@contoso.com", "github", "create_pull_request")
    assert d["decision"] == "allow" and d["rule_id"] == allow["id"]
    assert d["policy_version"] > before["policy_version"]

    r = admin(server, "POST", "/rules", {
        "subject": "everyone", "server": "github",
        "selector": "risk:high", "effect": "deny"})
    assert r.status == 201
    deny = r.json
    assert events(server, "rule.changed") >= 1
    d = decide(server, "alice@contoso.com", "github", "delete_branch")
    assert d["reason_code"] == "denied_by_rule" and d["rule_id"] == deny["id"]

    r = admin(server, "PATCH", f"/rules/{deny['id']}",
              {"selector": "force_*"})
    assert r.status == 200 and r.json["version"] == 2
    assert decide(server, "alice@contoso.com", "github",
                  "delete_branch")["decision"] == "allow"
    assert decide(server, "alice@contoso.com", "github",
                  "force_push")["decision"] == "deny"
    r = admin(server, "DELETE", f"/rules/{deny['id']}")
    assert r.status == 204
    assert decide(server, "alice@contoso.com", "github",
                  "force_push")["decision"] == "allow"
    assert admin(server, "GET", f"/rules/{deny['id']}").status == 404
    r = admin(server, "GET", "/rules?server=github")
    assert [x["id"] for x in r.json["rules"]] == [allow["id"]]
    assert admin(server, "GET", "/rules?bogus=1").status == 400


@pytest.mark.parametrize("body", [
    {},
    {"subject": "everyone", "server": "github", "selector": "x",
     "effect": "permit"},
    {"subject": "everyone", "server": "nosuch", "selector": "x",
     "effect": "allow"},
    {"subject": "everyone", "server": "github", "selector": "has space",
     "effect": "allow"},
    {"subject": "everyone", "server": "github", "selector": "risk:",
     "effect": "allow"},
    {"subject": "everyone", "server": "github", "selector": "x",
     "effect": "allow", "max_grant_s": 60},
    {"subject": "everyone", "server": "github", "selector": "x",
     "effect": "elevate", "max_grant_s": -1},
    {"subject": {"kind": "group", "name": "No Such Group"},
     "server": "github", "selector": "x", "effect": "allow"},
    {"subject": {"kind": "user", "id": str(uuid.uuid4())},
     "server": "github", "selector": "x", "effect": "allow"},
    {"subject": {"kind": "robot", "id": "x"}, "server": "github",
     "selector": "x", "effect": "allow"},
    {"subject": "everyone", "server": "github", "selector": "x" * 257,
     "effect": "allow"},
    {"subject": {"kind": "user", "id": "a" * 100000}, "server": "github",
     "selector": "x", "effect": "allow"},
])
def test_rule_validation(server, world, body):
    r = admin(server, "POST", "/rules", body)
    assert r.status == 400, (body, r)


def test_directory_scoping(server, world):
    server.db.ctl("directory", "create", "other")
    other = server.db.token("admin", directory="other", name="other-admin")
    deadline = time.time() + 5
    while time.time() < deadline:
        r = server.request("GET", "/admin/v1/rules", token=other)
        if r.status == 200:
            break
        time.sleep(0.05)
    assert r.status == 200 and r.json["rules"] == []
    mine = admin(server, "GET", "/rules").json["rules"][0]
    r = server.request("GET", f"/admin/v1/rules/{mine['id']}", token=other)
    assert r.status == 404
    r = server.request("DELETE", f"/admin/v1/rules/{mine['id']}",
                       token=other)
    assert r.status == 404
    # alice is not in that directory.
    r = server.request("POST", "/admin/v1/rules", token=other, body={
        "subject": {"kind": "user", "name": "alice@contoso.com"},
        "server": "github", "selector": "*", "effect": "allow"})
    assert r.status == 400 and r.json["error"] == "unknown_subject"
    r = server.request("POST", "/admin/v1/rules", token=other, body={
        "directory": "default", "subject": "everyone",
        "server": "github", "selector": "*", "effect": "allow"})
    assert r.status == 403
    # A global token must say which directory.
    r = admin(server, "POST", "/rules", {"subject": "everyone",
              "server": "github", "selector": "x", "effect": "allow"},
              token="global_admin")
    assert r.status == 400 and r.json["error"] == "invalid_directory"
    # Servers are readable by any admin token.
    assert server.request("GET", "/admin/v1/servers",
                          token=other).status == 200


def test_grants_state_machine(server, world):
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "user", "name": "bob@contoso.com"},
        "server": "github", "selector": "merge_*", "effect": "elevate",
        "max_grant_s": 600})
    assert r.status == 201, r
    elev = r.json
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "user", "id": world["bob"]},
        "server": "github", "selector": "merge_*", "effect": "deny"})
    # (bob is in Engineers, which allows *: the elevate rule must not be
    # shadowed, so use a tool Engineers cannot reach instead.)
    assert r.status == 201
    admin(server, "DELETE", f"/rules/{r.json['id']}")

    d = decide(server, "bob@contoso.com", "github", "merge_pull_request")
    assert d["decision"] == "allow"   # the group allow wins over elevate

    # carol: only the elevate rule applies to her.
    carol = scim_user(server, "carol@contoso.com")
    r = admin(server, "PATCH", f"/rules/{elev['id']}",
              {"subject": {"kind": "user", "id": carol}})
    assert r.status == 200
    d = decide(server, carol, "github", "merge_pull_request")
    assert d["reason_code"] == "elevation_required"
    assert d["obligations"][0]["max_duration_s"] == 600

    base = {"principal": carol, "server": "github",
            "tool": "merge_pull_request", "reason": "release 4.2",
            "ticket": "CHG-1"}
    for bad, code in (({"duration_s": 3600}, "duration_exceeds_max"),
                      ({}, "invalid_duration"),
                      ({"duration_s": 60, "reason": ""}, "invalid_reason"),
                      ({"duration_s": 60, "tool": "create_pull_request"},
                       "no_elevate_rule"),
                      ({"duration_s": 60, "principal": "ghost"},
                       "unknown_subject"),
                      ({"expires_at": "yesterday"}, "invalid_time"),
                      ({"expires_at": "2001-01-01T00:00:00Z"},
                       "invalid_time")):
        r = admin(server, "POST", "/grants", {**base, **bad})
        assert r.status == 400 and r.json["error"] == code, (bad, r)

    r = admin(server, "POST", "/grants", {**base, "duration_s": 300})
    assert r.status == 201, r
    g = r.json
    assert g["state"] == "requested" and g["rule_id"] == elev["id"]
    assert g["principal"] == {"kind": "user", "id": carol}
    assert decide(server, carol, "github",
                  "merge_pull_request")["decision"] == "deny"
    r = admin(server, "POST", f"/grants/{g['id']}:approve")
    assert r.status == 200 and r.json["state"] == "approved"
    assert r.json["active"] is True
    d = decide(server, carol, "github", "merge_pull_request")
    assert d["reason_code"] == "allowed_by_grant" and d["grant_id"] == g["id"]
    assert admin(server, "POST", f"/grants/{g['id']}:approve").status == 409
    assert admin(server, "POST", f"/grants/{g['id']}:deny").status == 409
    assert admin(server, "POST", f"/grants/{g['id']}:activate").status == 409
    n = events(server, "grant.revoked")
    r = admin(server, "POST", f"/grants/{g['id']}:revoke")
    assert r.status == 200 and r.json["state"] == "revoked"
    assert events(server, "grant.revoked") == n + 1
    assert decide(server, carol, "github",
                  "merge_pull_request")["reason_code"] == "elevation_required"
    assert admin(server, "POST", f"/grants/{g['id']}:revoke").status == 409

    # A grant for later, started early with :activate.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                          time.gmtime(time.time() + 3600))
    r = admin(server, "POST", "/grants", {**base, "not_before": later,
                                          "duration_s": 120})
    assert r.status == 201
    g2 = r.json
    assert admin(server, "POST", f"/grants/{g2['id']}:approve").status == 200
    assert decide(server, carol, "github",
                  "merge_pull_request")["decision"] == "deny"
    r = admin(server, "POST", f"/grants/{g2['id']}:activate")
    assert r.status == 200 and r.json["active"] is True
    assert decide(server, carol, "github",
                  "merge_pull_request")["decision"] == "allow"
    admin(server, "POST", f"/grants/{g2['id']}:revoke")

    # Denied requests never become active.
    r = admin(server, "POST", "/grants", {**base, "duration_s": 60})
    assert admin(server, "POST",
                 f"/grants/{r.json['id']}:deny").status == 200
    assert admin(server, "POST",
                 f"/grants/{r.json['id']}:approve").status == 409

    r = admin(server, "GET", "/grants?state=revoked")
    assert {x["id"] for x in r.json["grants"]} >= {g["id"], g2["id"]}
    assert admin(server, "GET", f"/grants/{g['id']}").json["state"] == \
        "revoked"
    assert admin(server, "GET", "/grants/not-a-uuid").status == 404
    assert admin(server, "DELETE", f"/grants/{g['id']}").status == 405


def test_grant_expiry_event(server, world):
    dave = scim_user(server, "dave@contoso.com")
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "user", "id": dave}, "server": "github",
        "selector": "risk:consequential", "effect": "elevate"})
    assert r.status == 201
    r = admin(server, "POST", "/grants", {
        "principal": {"kind": "user", "id": dave}, "server": "github",
        "tool": "merge_pull_request", "reason": "hotfix",
        "duration_s": 2})
    assert r.status == 201, r
    gid = r.json["id"]
    assert admin(server, "POST", f"/grants/{gid}:approve").status == 200
    assert decide(server, dave, "github",
                  "merge_pull_request")["decision"] == "allow"
    deadline = time.time() + 10
    while time.time() < deadline:
        if admin(server, "GET", f"/grants/{gid}").json["state"] == "expired":
            break
        time.sleep(0.2)
    assert admin(server, "GET", f"/grants/{gid}").json["state"] == "expired"
    n = int(server.db.sql("SELECT count(*) FROM revocation_events WHERE "
                          f"kind = 'grant.expired' AND principal_id = "
                          f"'{dave}'"))
    assert n == 1
    assert decide(server, dave, "github",
                  "merge_pull_request")["reason_code"] == \
        "elevation_required"


def test_ttl_never_outlives_a_grant(server, world):
    """A cached answer must not outlive the grant it rests on, nor the
    start of a grant that will change it (ttl_s is cut to the bound)."""
    erin = scim_user(server, "erin-ttl@contoso.com")
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "user", "id": erin}, "server": "github",
        "selector": "risk:consequential", "effect": "elevate"})
    assert r.status == 201
    base = {"principal": {"kind": "user", "id": erin}, "server": "github",
            "tool": "merge_pull_request", "reason": "hotfix"}
    # A grant that starts in 20 s: the deny may be cached until then only.
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                         time.gmtime(time.time() + 20))
    r = admin(server, "POST", "/grants", {**base, "not_before": soon,
                                          "duration_s": 60})
    assert r.status == 201, r
    later = r.json["id"]
    assert admin(server, "POST", f"/grants/{later}:approve").status == 200
    d = decide(server, erin, "github", "merge_pull_request")
    assert d["reason_code"] == "elevation_required"
    assert 0 <= d["ttl_s"] <= 20, d
    admin(server, "POST", f"/grants/{later}:revoke")
    d = decide(server, erin, "github", "merge_pull_request")
    assert d["ttl_s"] == 30, d          # nothing scheduled: the setting

    r = admin(server, "POST", "/grants", {**base, "duration_s": 5})
    assert r.status == 201, r
    gid = r.json["id"]
    assert admin(server, "POST", f"/grants/{gid}:approve").status == 200
    d = decide(server, erin, "github", "merge_pull_request")
    assert d["reason_code"] == "allowed_by_grant", d
    assert 0 <= d["ttl_s"] <= 5, d
    gw = server.tokens["gateway"]
    r = server.post("/v1/authorize/batch", token=gw, body={
        "subject": erin, "items": [
            {"server": "github", "tool": "merge_pull_request"},
            {"server": "github", "tool": "create_pull_request"}]})
    assert r.status == 200 and r.json["results"][0]["allow"], r
    assert 0 <= r.json["ttl_s"] <= 5, r.json
    r = server.post("/v1/tools/filter", token=gw, body={
        "subject": erin, "server": "github",
        "tools": ["merge_pull_request", "delete_branch"]})
    assert r.status == 200 and r.json["allowed"] == ["merge_pull_request"]
    assert 0 <= r.json["ttl_s"] <= 5, r.json
    r = server.post("/v1/session/check", token=gw, body={"subject": erin})
    assert r.status == 200 and r.json["servers"] == ["github"], r
    assert 0 <= r.json["ttl_s"] <= 5, r.json
    # An allow by rule alone carries the full setting.
    d = decide(server, world["alice"], "github", "create_pull_request")
    assert d["decision"] == "allow" and d["ttl_s"] == 30, d


def test_service_principals(server, world):
    body = {"name": "release-bot", "app_id": "11111111-2222-3333-4444-"
            "555555555555", "owner": "owner@contoso.com"}
    for bad in ({"name": "x"}, {"app_id": "a"}, {**body, "owner": "ghost"},
                {**body, "active": "yes"}, {**body, "app_id": "a b"}):
        r = admin(server, "POST", "/service-principals", bad)
        assert r.status == 400, (bad, r)
    r = admin(server, "POST", "/service-principals", body)
    assert r.status == 201, r
    sp = r.json
    assert sp["owner"] == world["owner"] and sp["suspended"] is False
    assert admin(server, "POST", "/service-principals",
                 body).status == 409
    r = admin(server, "POST", "/rules", {
        "subject": {"kind": "service_principal", "name": body["app_id"]},
        "server": "github", "selector": "create_*", "effect": "allow"})
    assert r.status == 201, r
    subj = {"appId": body["app_id"]}
    assert decide(server, subj, "github",
                  "create_pull_request")["decision"] == "allow"

    r = admin(server, "PATCH", f"/service-principals/{sp['id']}",
              {"active": False})
    assert r.status == 200 and r.json["active"] is False
    assert decide(server, subj, "github",
                  "create_pull_request")["reason_code"] == \
        "principal_inactive"
    assert events(server, "principal.suspended") >= 1
    admin(server, "PATCH", f"/service-principals/{sp['id']}",
          {"active": True})
    assert decide(server, subj, "github",
                  "create_pull_request")["decision"] == "allow"

    # Owner disabled in Entra: the agent is suspended at once.
    scim_disable(server, world["owner"])
    assert decide(server, subj, "github",
                  "create_pull_request")["reason_code"] == "owner_inactive"
    assert admin(server, "GET",
                 f"/service-principals/{sp['id']}").json["suspended"]

    r = admin(server, "DELETE", f"/service-principals/{sp['id']}")
    assert r.status == 204
    assert decide(server, subj, "github",
                  "create_pull_request")["reason_code"] == \
        "principal_unknown"
    assert admin(server, "GET",
                 f"/service-principals/{sp['id']}").status == 404
    assert events(server, "principal.revoked") >= 1


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/servers", "not json"),
    ("POST", "/servers", [1, 2]),
    ("POST", "/rules", {"subject": {"kind": "group", "name": {"x": 1}}}),
    ("PATCH", "/rules/" + str(uuid.uuid4()), {"effect": "allow"}),
    ("GET", "/rules/../../etc", None),
    ("PUT", "/servers", {}),
    ("GET", "/servers/%00x", None),
    ("POST", "/grants/" + str(uuid.uuid4()) + ":approve", None),
])
def test_hostile_requests(server, world, method, path, body):
    r = admin(server, method, path, body, token="global_admin")
    assert r.status in (400, 404, 405, 415), r
    assert server.get("/healthz").status == 200


def test_deeply_nested_body(server, world):
    body = "[" * 5000 + "]" * 5000
    r = server.request("POST", "/admin/v1/rules", body=body,
                       token=server.tokens["admin"])
    assert r.status == 400


def test_concurrent_writes_stay_consistent(server, world):
    """Rule writes racing SCIM writes: every one lands, versions stay
    gapless, and the index agrees with the database afterwards."""
    import concurrent.futures
    users = [scim_user(server, f"race{i}@contoso.com") for i in range(8)]
    v0 = int(server.db.sql("SELECT version FROM policy_state"))

    def rule(uid):
        return admin(server, "POST", "/rules", {
            "subject": {"kind": "user", "id": uid}, "server": "github",
            "selector": "create_*", "effect": "allow"}).status

    def patch(uid):
        r = server.request("PATCH", f"/scim/v2/Users/{uid}",
                           token=server.tokens["scim"],
                           body={"schemas": [PATCH], "Operations": [
                               {"op": "replace", "path": "displayName",
                                "value": "x"}]})
        return r.status

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(rule, u) for u in users]
        futs += [ex.submit(patch, u) for u in users]
        statuses = [f.result() for f in futs]
    assert statuses[:8] == [201] * 8 and set(statuses[8:]) <= {200, 204}
    versions = [int(x) for x in server.db.sql(
        "SELECT DISTINCT version FROM policy_changes WHERE version > "
        f"{v0} ORDER BY 1").split()]
    assert versions == list(range(v0 + 1, v0 + 1 + len(versions)))
    for u in users:
        assert decide(server, u, "github",
                      "create_pull_request")["decision"] == "allow"
