"""Gateway decision endpoints over a policy seeded in the database before
the server starts (loaded by the parent), then changed through the
change ring."""
import concurrent.futures
import pytest

from seed import ALICE, RULE_DENY, RULE_ELEV, SENIORS, seed


@pytest.fixture(scope="module")
def gw(make_module_server):
    return make_module_server(seed=seed, tokens=["gateway", "admin", "scim"])


def authorize(gw, subject, server, tool, token=None):
    return gw.post("/v1/authorize", token=token or gw.tokens["gateway"],
                   body={"subject": subject, "server": server, "tool": tool})


@pytest.mark.parametrize("subject,server,tool,decision,reason", [
    ("alice@contoso.com", "github", "create_pull_request", "allow",
     "allowed_by_rule"),
    ("alice@contoso.com", "github", "delete_branch", "deny",
     "denied_by_rule"),
    ("alice@contoso.com", "github", "merge_pull_request", "allow",
     "allowed_by_rule"),
    ("carol@contoso.com", "github", "merge_pull_request", "deny",
     "elevation_required"),
    ("carol@contoso.com", "github", "list_repos", "allow", "allowed_by_rule"),
    ("carol@contoso.com", "github", "create_pull_request", "deny",
     "no_matching_rule"),
    ("bob@contoso.com", "github", "create_pull_request", "deny",
     "principal_inactive"),
    ("nobody@contoso.com", "github", "list_repos", "deny",
     "principal_unknown"),
    ("alice@contoso.com", "github", "no_such_tool", "deny", "tool_unknown"),
    ("alice@contoso.com", "nosuchserver", "x", "deny", "tool_unknown"),
    (ALICE, "github", "create_pull_request", "allow", "allowed_by_rule"),
    ("oid-alice", "github", "create_pull_request", "allow",
     "allowed_by_rule"),
    ("A.L@CONTOSO.COM", "github", "create_pull_request", "allow",
     "allowed_by_rule"),
    ({"externalId": "oid-alice"}, "github", "create_pull_request", "allow",
     "allowed_by_rule"),
    ({"email": "a.l@contoso.com"}, "github", "create_pull_request", "allow",
     "allowed_by_rule"),
    ({"externalId": "OID-ALICE"}, "github", "create_pull_request", "deny",
     "principal_unknown"),
])
def test_authorize_semantics(gw, subject, server, tool, decision, reason):
    r = authorize(gw, subject, server, tool)
    assert r.status == 200, r
    d = r.json
    assert d["decision"] == decision and d["reason_code"] == reason, d
    assert d["allow"] is (decision == "allow")
    assert d["policy_version"] == 7
    assert d["ttl_s"] == 30
    if reason == "denied_by_rule":
        assert d["rule_id"] == RULE_DENY and d["group_id"] == SENIORS
    if reason == "elevation_required":
        assert d["rule_id"] == RULE_ELEV
        assert d["obligations"][0]["type"] == "request_grant"
        assert d["obligations"][0]["max_duration_s"] == 3600


@pytest.mark.parametrize("body", [
    {}, {"subject": "alice@contoso.com"},
    {"subject": "alice@contoso.com", "server": "github"},
    {"subject": "", "server": "github", "tool": "x"},
    {"subject": 5, "server": "github", "tool": "x"},
    {"subject": {"nothing": 1}, "server": "github", "tool": "x"},
    {"subject": "alice@contoso.com", "server": ["github"], "tool": "x"},
    {"subject": "x" * 5000, "server": "github", "tool": "x"},
])
def test_authorize_bad_requests(gw, body):
    r = gw.post("/v1/authorize", token=gw.tokens["gateway"], body=body)
    assert r.status == 400, r
    assert r.json["error"] in ("invalid_request", "invalid_subject")


def test_authorize_needs_gateway_scope(gw):
    assert authorize(gw, "alice@contoso.com", "github", "x",
                     token=gw.tokens["admin"]).status == 403
    assert authorize(gw, "alice@contoso.com", "github", "x",
                     token="nope").status == 401
    r = gw.request("GET", "/v1/authorize", token=gw.tokens["gateway"])
    assert r.status == 405


def test_batch_matches_single_answers(gw):
    tools = ["create_pull_request", "delete_branch", "list_repos",
             "merge_pull_request", "nope"]
    items = [{"server": "github", "tool": t} for t in tools]
    items.append({"server": "jira", "tool": "create_issue"})
    r = gw.post("/v1/authorize/batch", token=gw.tokens["gateway"],
                body={"subject": "alice@contoso.com", "items": items})
    assert r.status == 200, r
    results = r.json["results"]
    assert len(results) == len(items)
    for item, res in zip(items, results):
        single = authorize(gw, "alice@contoso.com", item["server"],
                           item["tool"]).json
        assert (res["decision"], res["reason_code"]) == \
            (single["decision"], single["reason_code"])
        assert res["server"] == item["server"] and res["tool"] == item["tool"]


def test_batch_limits(gw):
    big = [{"server": "github", "tool": "list_repos"}] * 10000
    r = gw.post("/v1/authorize/batch", token=gw.tokens["gateway"],
                body={"subject": "carol@contoso.com", "items": big})
    assert r.status == 200
    assert all(x["decision"] == "allow" for x in r.json["results"])
    r = gw.post("/v1/authorize/batch", token=gw.tokens["gateway"],
                body={"subject": "carol@contoso.com", "items": big + big[:1]})
    assert r.status == 400
    r = gw.post("/v1/authorize/batch", token=gw.tokens["gateway"],
                body={"subject": "carol@contoso.com", "items": []})
    assert r.status == 400
    r = gw.post("/v1/authorize/batch", token=gw.tokens["gateway"],
                body={"subject": "carol@contoso.com", "items": [{"tool": 1}]})
    assert r.status == 400


def test_tools_filter(gw):
    listing = [{"name": "create_pull_request", "description": "PR"},
               {"name": "delete_branch"}, {"name": "list_repos"},
               "merge_pull_request"]
    r = gw.post("/v1/tools/filter", token=gw.tokens["gateway"],
                body={"subject": "alice@contoso.com", "server": "github",
                      "tools": listing})
    assert r.status == 200, r
    allowed = r.json["allowed"]
    assert {"name": "create_pull_request", "description": "PR"} in allowed
    assert "merge_pull_request" in allowed
    assert [d["name"] for d in r.json["denied"]] == ["delete_branch"]
    assert r.json["denied"][0]["reason_code"] == "denied_by_rule"
    r = gw.post("/v1/tools/filter", token=gw.tokens["gateway"],
                body={"subject": "alice@contoso.com", "server": "github",
                      "tools": []})
    assert r.status == 200 and r.json["allowed"] == []
    r = gw.post("/v1/tools/filter", token=gw.tokens["gateway"],
                body={"subject": "alice@contoso.com", "server": "github",
                      "tools": [{"no": "name"}]})
    assert r.status == 400


def test_session_check(gw):
    r = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"subject": "alice@contoso.com"})
    assert r.status == 200, r
    d = r.json
    assert d["active"] is True and d["principal"]["id"] == ALICE
    assert d["principal"]["userName"] == "alice@contoso.com"
    assert d["groups"] == [SENIORS]
    assert d["servers"] == ["github"]
    r = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"subject": "bob@contoso.com"})
    assert r.json["active"] is False
    assert r.json["reason_code"] == "principal_inactive"
    assert r.json["servers"] == []
    r = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"subject": "ghost@contoso.com"})
    assert r.json["active"] is False
    assert r.json["reason_code"] == "principal_unknown"


def test_other_directory_token_sees_nothing(make_server):
    # A server of its own: a new directory moves the policy version the
    # other tests assert.
    gw = make_server(seed=seed, tokens=["gateway", "admin", "scim"])
    gw.db.ctl("directory", "create", "elsewhere")
    tok = gw.db.token("gateway", directory="elsewhere", name="gw-else")
    import time
    deadline = time.time() + 3
    while time.time() < deadline:
        r = authorize(gw, "alice@contoso.com", "github",
                      "create_pull_request", token=tok)
        if r.status == 200:
            break
        time.sleep(0.05)
    assert r.status == 200
    assert r.json["reason_code"] == "principal_unknown"


def test_parallel_decisions_all_workers(gw):
    def one(_):
        return authorize(gw, "alice@contoso.com", "github",
                         "create_pull_request").json["decision"]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        assert set(ex.map(one, range(300))) == {"allow"}
