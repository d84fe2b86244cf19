"""rollcallctl covers what the admin API manages: MCP servers, tools
(including a tools/list import), rules, grants and service principals,
with tables and --json.  Its changes reach a running server (the admin
API sees them, decisions follow them)."""
import json
import time

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def scim(server, path, body):
    r = server.post("/scim/v2" + path, body, token=server.tokens["scim"],
                    content_type="application/scim+json")
    assert r.status == 201, r
    return r.json


def decide(server, subject, srv, tool):
    r = server.post("/v1/authorize", token=server.tokens["gateway"],
                    body={"subject": subject, "server": srv, "tool": tool})
    assert r.status == 200, r
    return r.json


def ctl_json(db, *args):
    return json.loads(db.ctl(*args, "--json").stdout)


def test_servers_tools_rules_through_the_cli(server, db, tmp_path):
    user = scim(server, "/Users", {"schemas": [SCIM_USER],
                                   "userName": "cli-admin@contoso.com"})
    group = scim(server, "/Groups", {"schemas": [SCIM_GROUP],
                                     "displayName": "CLI Engineers",
                                     "members": [{"value": user["id"]}]})
    out = json.loads(db.ctl("server", "create", "--set", "slug=jira",
                            "--set", "name=Jira").stdout)
    assert out["slug"] == "jira"
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"result": {"tools": [
        {"name": "search", "annotations": {"readOnlyHint": True}},
        {"name": "delete_project",
         "annotations": {"destructiveHint": True}}]}}))
    out = json.loads(db.ctl("tool", "import", "jira", str(tools)).stdout)
    assert out["created"] == 2, out
    table = db.ctl("tool", "list", "jira").stdout.splitlines()
    assert table[0].split() == ["server", "name", "risk", "description"]
    assert any(l.split()[:3] == ["jira", "search", "low"] for l in table)
    assert any(l.split()[:3] == ["jira", "delete_project", "high"]
               for l in table)
    # The admin API of the running server sees the CLI's server.
    r = server.get("/admin/v1/servers/jira/tools",
                   token=server.tokens["global_admin"])
    assert r.status == 200 and len(r.json["tools"]) == 2, r

    rule = json.loads(db.ctl(
        "rule", "create", "--set", "directory=default", "--set",
        'subject={"kind": "group", "id": "%s"}' % group["id"],
        "--set", "server=jira", "--set", "selector=search",
        "--set", "effect=allow").stdout)
    rows = ctl_json(db, "rule", "list", "--server", "jira")
    assert [r["id"] for r in rows] == [rule["id"]]
    table = db.ctl("rules", "list").stdout
    # (Cells are cut at 40 characters.)
    assert f"group:{group['id']}"[:40] in table and rule["id"] in table
    # The running server decides by it (its NOTIFY arrives within moments).
    deadline = time.time() + 10
    while decide(server, "cli-admin@contoso.com", "jira",
                 "search")["decision"] != "allow":
        assert time.time() < deadline, "the CLI's rule never arrived"
        time.sleep(0.05)
    assert decide(server, "cli-admin@contoso.com", "jira",
                  "delete_project")["decision"] == "deny"

    assert db.ctl("rule", "delete", rule["id"]).stdout.strip() == "deleted"
    deadline = time.time() + 10
    while decide(server, "cli-admin@contoso.com", "jira",
                 "search")["decision"] != "deny":
        assert time.time() < deadline, "the CLI's delete never arrived"
        time.sleep(0.05)


def test_service_principals_and_grants_through_the_cli(server, db):
    owner = scim(server, "/Users", {"schemas": [SCIM_USER],
                                    "userName": "sp-owner@contoso.com"})
    sp = json.loads(db.ctl(
        "sp", "create", "--set", "directory=default", "--set",
        "name=deploy-bot", "--set",
        "app_id=22222222-3333-4444-5555-666666666666", "--set",
        "owner=sp-owner@contoso.com").stdout)
    assert sp["owner"] == owner["id"], sp
    assert [s["id"] for s in ctl_json(db, "sp", "list")] == [sp["id"]]
    table = db.ctl("sps", "list").stdout
    assert "deploy-bot" in table and "yes" in table
    assert ctl_json(db, "grant", "list") == []
    r = db.ctl("grant", "approve", "00000000-0000-4000-8000-000000000000",
               check=False)
    assert r.returncode == 1 and "grant approve" in r.stderr
    assert db.ctl("sp", "delete", sp["id"]).stdout.strip() == "deleted"
    assert ctl_json(db, "sp", "list") == []


def test_mistakes_get_clear_errors(db):
    for args, msg in ((("server", "frob"), "no command 'frob'"),
                      (("rule", "import", "x", "y"), "no command 'import'"),
                      (("tool", "list"), "needs 1 argument"),
                      (("server", "create", "--set", "novalue"),
                       "--set wants key=value"),
                      (("server", "create", "--body", "/nonexistent"),
                       "cannot read"),
                      (("server", "show", "nope"), "no MCP server 'nope'")):
        r = db.ctl(*args, check=False)
        assert r.returncode != 0, args
        assert msg in r.stderr, (args, r.stderr)
