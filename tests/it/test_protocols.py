"""Standard gateway protocols over the same index as /v1/authorize:
OpenID AuthZEN 1.0, the OPA Data API shape ContextForge's Unified PDP
plugin sends, and the Envoy ext_authz HTTP service contract."""
import base64
import random
import uuid

import pytest

ALICE = str(uuid.UUID(int=1))
BOB = str(uuid.UUID(int=2))
OWNER = str(uuid.UUID(int=3))
ENG = str(uuid.UUID(int=10))
BOT = str(uuid.UUID(int=20))
BOT_APP = "aaaaaaaa-0000-0000-0000-000000000001"
R_ALLOW = str(uuid.UUID(int=100))
R_DENY = str(uuid.UUID(int=101))
R_BOT = str(uuid.UUID(int=102))
R_ELEV = str(uuid.UUID(int=103))
TOOLS = ["create_pull_request", "delete_branch", "list_repos",
         "merge_pull_request", "nope"]


TOKENS = ["gateway", "admin", "global_admin"]
WORLD = f"""
INSERT INTO users (id, directory_id, user_name, external_id, active,
    emails_lc, doc) VALUES
 ('{ALICE}', 1, 'alice@contoso.com', 'oid-alice', true,
  '{{alice@contoso.com,al@contoso.com}}', '{{}}'),
 ('{BOB}', 1, 'bob@contoso.com', 'oid-bob', false, '{{}}', '{{}}'),
 ('{OWNER}', 1, 'owner@contoso.com', NULL, true, '{{}}', '{{}}');
INSERT INTO groups (id, directory_id, display_name, doc)
  VALUES ('{ENG}', 1, 'Eng', '{{}}');
INSERT INTO memberships (group_id, user_id) VALUES ('{ENG}', '{ALICE}'),
  ('{ENG}', '{BOB}');
INSERT INTO service_principals (id, directory_id, name, app_id,
  owner_user_id) VALUES ('{BOT}', 1, 'bot', '{BOT_APP}', '{OWNER}');
INSERT INTO mcp_servers (slug, name) VALUES ('github', 'GitHub');
INSERT INTO tools (server_id, name, risk) SELECT id, t.name, t.risk
  FROM mcp_servers, (VALUES ('create_pull_request', 'normal'),
  ('delete_branch', 'high'), ('list_repos', 'low'),
  ('merge_pull_request', 'consequential')) AS t(name, risk);
INSERT INTO rules (id, directory_id, subject_kind, subject_id, server_slug,
    tool_selector, effect, max_grant_s) VALUES
 ('{R_ALLOW}', 1, 'group', '{ENG}', 'github', '*', 'allow', NULL),
 ('{R_DENY}', 1, 'group', '{ENG}', 'github', 'delete_*', 'deny', NULL),
 ('{R_BOT}', 1, 'service_principal', '{BOT}', 'github', 'list_*', 'allow',
  NULL),
 ('{R_ELEV}', 1, 'service_principal', '{BOT}', 'github', 'merge_*',
  'elevate', 900);
UPDATE policy_state SET version = 5;
"""


@pytest.fixture(scope="module")
def gw(make_module_server):
    return make_module_server(seed=WORLD, tokens=TOKENS)


def post(gw, path, body, token="gateway", headers=None):
    return gw.request("POST", path, body=body, headers=headers,
                      token=gw.tokens[token] if token else None)


def authorize(gw, subject, server, tool):
    r = post(gw, "/v1/authorize", {"subject": subject, "server": server,
                                   "tool": tool})
    assert r.status == 200, r
    return r.json


def evaluation(subject, tool, stype="user", server="github"):
    return {"subject": {"type": stype, "id": subject},
            "resource": {"type": "mcp_tool", "id": f"{server}/{tool}"},
            "action": {"name": "call"}}


# --------------------------------------------------------------- AuthZEN

def test_authzen_single(gw):
    r = post(gw, "/access/v1/evaluation",
             evaluation("alice@contoso.com", "create_pull_request"))
    assert r.status == 200, r
    assert r.json["decision"] is True
    ctx = r.json["context"]
    assert ctx["reason_code"] == "allowed_by_rule"
    assert ctx["rule_id"] == R_ALLOW and ctx["group_id"] == ENG
    assert ctx["policy_version"] == 5 and ctx["ttl_s"] == 30
    r = post(gw, "/access/v1/evaluation",
             evaluation("oid-alice", "delete_branch"))
    assert r.json["decision"] is False
    assert r.json["context"]["reason_code"] == "denied_by_rule"
    # properties name the server and tool.
    r = post(gw, "/access/v1/evaluation", {
        "subject": {"type": "user", "id": ALICE},
        "resource": {"type": "mcp_tool", "id": "pr",
                     "properties": {"server": "github",
                                    "tool": "create_pull_request"}},
        "action": {"name": "call"}, "context": {"time": "now"}})
    assert r.json["decision"] is True


@pytest.mark.parametrize("subject,stype,tool,decision,reason", [
    (BOT_APP, "service_principal", "list_repos", True, "allowed_by_rule"),
    (BOT_APP, "agent", "list_repos", True, "allowed_by_rule"),
    (BOT_APP, "user", "list_repos", False, "principal_unknown"),
    (BOT_APP, "service_principal", "merge_pull_request", False,
     "elevation_required"),
    ("alice@contoso.com", "service_principal", "list_repos", False,
     "principal_unknown"),
    ("bob@contoso.com", "user", "list_repos", False, "principal_inactive"),
    ("ghost@contoso.com", "user", "list_repos", False, "principal_unknown"),
    ("alice@contoso.com", "user", "nope", False, "tool_unknown"),
    ("AL@contoso.com", "identity", "list_repos", True, "allowed_by_rule"),
])
def test_authzen_subjects(gw, subject, stype, tool, decision, reason):
    r = post(gw, "/access/v1/evaluation",
             evaluation(subject, tool, stype=stype))
    assert r.status == 200, r
    assert r.json["decision"] is decision
    assert r.json["context"]["reason_code"] == reason
    if reason == "elevation_required":
        assert r.json["context"]["obligations"][0]["max_duration_s"] == 900


def test_authzen_server_resource_and_unsupported(gw):
    body = {"subject": {"type": "user", "id": "alice@contoso.com"},
            "resource": {"type": "mcp_server", "id": "github"},
            "action": {"name": "connect"}}
    r = post(gw, "/access/v1/evaluation", body)
    assert r.json["decision"] is True
    assert r.json["context"]["reason_code"] == "principal_active"
    body["subject"]["id"] = "bob@contoso.com"
    r = post(gw, "/access/v1/evaluation", body)
    assert r.json["decision"] is False
    assert r.json["context"]["reason_code"] == "principal_inactive"
    for resource, action in (({"type": "document", "id": "x"}, "call"),
                             ({"type": "mcp_tool", "id": "github/x"},
                              "delete")):
        r = post(gw, "/access/v1/evaluation", {
            "subject": {"type": "user", "id": "alice@contoso.com"},
            "resource": resource, "action": {"name": action}})
        assert r.status == 200
        assert r.json["decision"] is False
        assert r.json["context"]["reason_code"] == "unsupported_request"


@pytest.mark.parametrize("body", [
    {},
    {"subject": {"type": "user"}, "resource": {"type": "mcp_tool",
     "id": "github/x"}, "action": {"name": "call"}},
    {"subject": "alice", "resource": {"type": "mcp_tool", "id": "github/x"},
     "action": {"name": "call"}},
    {"subject": {"type": "user", "id": "a"}, "resource": [],
     "action": {"name": "call"}},
    {"subject": {"type": "user", "id": "a"},
     "resource": {"type": "mcp_tool", "id": "noslash"},
     "action": {"name": "call"}},
    {"subject": {"type": "user", "id": "a"},
     "resource": {"type": "mcp_tool", "id": "github/x"}, "action": "call"},
])
def test_authzen_bad_requests(gw, body):
    r = post(gw, "/access/v1/evaluation", body)
    assert r.status == 400, r


def test_authzen_auth(gw):
    body = evaluation("alice@contoso.com", "list_repos")
    assert post(gw, "/access/v1/evaluation", body, token=None).status == 401
    assert post(gw, "/access/v1/evaluation", body,
                token="admin").status == 403
    r = gw.request("GET", "/access/v1/evaluation",
                   token=gw.tokens["gateway"])
    assert r.status == 405


def test_authzen_evaluations_semantics(gw):
    base = {"subject": {"type": "user", "id": "alice@contoso.com"},
            "action": {"name": "call"},
            "evaluations": [
                {"resource": {"type": "mcp_tool",
                              "id": "github/create_pull_request"}},
                {"resource": {"type": "mcp_tool",
                              "id": "github/delete_branch"}},
                {"resource": {"type": "mcp_tool", "id": "github/list_repos"},
                 "subject": {"type": "user", "id": "bob@contoso.com"}},
                {"resource": {"type": "mcp_tool", "id": "github/list_repos"}},
                {"resource": "bad"},
            ]}
    r = post(gw, "/access/v1/evaluations", base)
    assert r.status == 200, r
    ev = r.json["evaluations"]
    assert [e["decision"] for e in ev] == [True, False, False, True, False]
    assert ev[2]["context"]["reason_code"] == "principal_inactive"
    assert ev[4]["context"]["error"]["status"] == 400
    r = post(gw, "/access/v1/evaluations",
             {**base, "options": {"evaluations_semantic":
                                  "deny_on_first_deny"}})
    assert [e["decision"] for e in r.json["evaluations"]] == [True, False]
    r = post(gw, "/access/v1/evaluations",
             {**base, "options": {"evaluations_semantic":
                                  "permit_on_first_permit"}})
    assert [e["decision"] for e in r.json["evaluations"]] == [True]
    r = post(gw, "/access/v1/evaluations",
             {**base, "options": {"evaluations_semantic": "random"}})
    assert r.status == 400
    # No evaluations: one evaluation, answered in its own shape.
    r = post(gw, "/access/v1/evaluations",
             evaluation("alice@contoso.com", "list_repos"))
    assert r.status == 200 and r.json["decision"] is True
    r = post(gw, "/access/v1/evaluations",
             {**base, "evaluations": [{}] * 10001})
    assert r.status == 400
    r = post(gw, "/access/v1/evaluations", {**base, "evaluations": 7})
    assert r.status == 400


def test_authzen_matches_authorize(gw):
    rng = random.Random(4)
    subjects = ["alice@contoso.com", ALICE, "bob@contoso.com", "ghost",
                BOT_APP, "owner@contoso.com"]
    triples = [(rng.choice(subjects), rng.choice(["github", "jira"]),
                rng.choice(TOOLS)) for _ in range(60)]
    items = [{"resource": {"type": "mcp_tool", "id": f"{s}/{t}"},
              "subject": {"type": "identity", "id": u}}
             for u, s, t in triples]
    r = post(gw, "/access/v1/evaluations",
             {"action": {"name": "call"}, "evaluations": items})
    assert r.status == 200
    for (u, s, t), e in zip(triples, r.json["evaluations"]):
        a = authorize(gw, u, s, t)
        assert e["decision"] == a["allow"], (u, s, t)
        assert e["context"]["reason_code"] == a["reason_code"], (u, s, t)


def test_authzen_metadata(gw):
    r = gw.get("/.well-known/authzen-configuration")
    assert r.status == 200, r
    m = r.json
    assert m["policy_decision_point"] == gw.base
    assert m["access_evaluation_endpoint"] == gw.base + \
        "/access/v1/evaluation"
    assert m["access_evaluations_endpoint"] == gw.base + \
        "/access/v1/evaluations"


# ------------------------------------------------------------------- OPA

def contextforge_input(email, tool, server="github"):
    """The input document of ContextForge's OPA engine adapter."""
    return {"input": {
        "subject": {"email": email, "roles": ["developer"], "team_id": None,
                    "mfa_verified": False, "clearance_level": None},
        "action": f"tools.invoke.{tool}",
        "resource": {"type": "tool", "id": tool, "server": server,
                     "classification_level": None, "args_keys": ["repo"]},
        "context": {"ip": "10.0.0.1", "timestamp": "2026-01-01T00:00:00",
                    "user_agent": "x", "session_id": "s",
                    "tool_args": {"repo": "r"}}}}


def basic(token, user="contextforge"):
    raw = f"{user}:{token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_opa_contextforge_shape(gw):
    r = post(gw, "/v1/data/mcpgateway",
             contextforge_input("alice@contoso.com", "create_pull_request"))
    assert r.status == 200, r
    res = r.json["result"]
    assert res["allow"] is True and "deny" not in res
    assert res["reason_code"] == "allowed_by_rule"
    r = post(gw, "/v1/data/mcpgateway",
             contextforge_input("al@contoso.com", "delete_branch"))
    res = r.json["result"]
    assert res["allow"] is False and res["deny"] == ["denied_by_rule"]
    r = post(gw, "/v1/data/mcpgateway/allow",
             contextforge_input("alice@contoso.com", "list_repos"))
    assert r.json == {"result": True}
    r = post(gw, "/v1/data/mcpgateway/allow",
             contextforge_input("bob@contoso.com", "list_repos"))
    assert r.json == {"result": False}
    r = post(gw, "/v1/data/mcpgateway",
             contextforge_input("alice@contoso.com", "list_repos",
                                server=None))
    assert r.json["result"]["allow"] is False
    # Resource reads need only an active principal.
    fetch = {"input": {"subject": {"email": "alice@contoso.com"},
                       "action": "resources.fetch",
                       "resource": {"type": "resource", "id": "file:///x",
                                    "server": "github"}}}
    assert post(gw, "/v1/data/x", fetch).json["result"]["allow"] is True
    fetch["input"]["subject"]["email"] = "bob@contoso.com"
    assert post(gw, "/v1/data/x", fetch).json["result"]["allow"] is False
    # No input at all: nothing to allow.
    assert post(gw, "/v1/data/x", {}).json["result"]["allow"] is False


def test_opa_auth(gw):
    body = contextforge_input("alice@contoso.com", "list_repos")
    r = post(gw, "/v1/data/mcpgateway", body, token=None,
             headers=basic(gw.tokens["gateway"]))
    assert r.status == 200 and r.json["result"]["allow"] is True
    assert post(gw, "/v1/data/mcpgateway", body, token=None).status == 401
    assert post(gw, "/v1/data/mcpgateway", body, token=None,
                headers=basic("rcl_wrong")).status == 401
    assert post(gw, "/v1/data/mcpgateway", body, token=None,
                headers={"Authorization": "Basic !!!"}).status == 401
    assert post(gw, "/v1/data/mcpgateway", body, token=None,
                headers={"Authorization": "Basic " + "QUFB" * 2000}
                ).status == 401
    assert post(gw, "/v1/data/mcpgateway", body, token=None,
                headers=basic(gw.tokens["admin"])).status == 403
    assert post(gw, "/v1/data/mcpgateway", body,
                token="admin").status == 403
    r = gw.request("POST", "/v1/data/x", body="{nope",
                   token=gw.tokens["gateway"])
    assert r.status == 400


# -------------------------------------------------------------- ext_authz

def ext(gw, path="/ext-authz/", method="POST", body=None, headers=None,
        token="gateway"):
    hdrs = dict(headers or {})
    return gw.request(method, path, body=body, headers=hdrs,
                      token=gw.tokens[token] if token else None)


def call(tool, rid=1):
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}}


def test_ext_authz_headers(gw):
    r = ext(gw, headers={"x-user": "alice@contoso.com",
                         "x-mcp-server": "github",
                         "x-mcp-tool": "create_pull_request"})
    assert r.status == 200, r
    h = r.headers
    assert h["x-rollcall-decision"] == "allow"
    assert h["x-rollcall-principal"] == ALICE
    assert h["x-rollcall-principal-type"] == "user"
    assert h["x-rollcall-user"] == "alice@contoso.com"
    assert h["x-rollcall-policy-version"] == "5"
    assert h["x-rollcall-rule"] == R_ALLOW
    r = ext(gw, headers={"x-user": "alice@contoso.com",
                         "x-mcp-server": "github",
                         "x-mcp-tool": "delete_branch"})
    assert r.status == 403
    assert r.json["reason_code"] == "denied_by_rule"
    assert r.json["tool"] == "delete_branch"
    assert r.headers["x-rollcall-decision"] == "deny"


def test_ext_authz_body_and_path(gw):
    who = {"x-user": "alice@contoso.com"}
    r = ext(gw, "/ext-authz/github/mcp", body=call("create_pull_request"),
            headers=who)
    assert r.status == 200, r
    r = ext(gw, "/ext-authz/github/mcp", body=call("delete_branch"),
            headers=who)
    assert r.status == 403 and r.json["reason_code"] == "denied_by_rule"
    # A batch is denied when any call in it is.
    r = ext(gw, "/ext-authz/github", body=[call("list_repos"),
                                           call("delete_branch", 2)],
            headers=who)
    assert r.status == 403 and r.json["tool"] == "delete_branch"
    # Session-level requests need an active principal only.
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18"}}
    assert ext(gw, "/ext-authz/github", body=init,
               headers=who).status == 200
    r = ext(gw, "/ext-authz/github", body=init,
            headers={"x-user": "bob@contoso.com"})
    assert r.status == 403 and r.json["reason_code"] == "principal_inactive"
    r = ext(gw, "/ext-authz/github/mcp", method="GET", headers=who)
    assert r.status == 200
    assert r.headers["x-rollcall-reason"] == "principal_active"
    r = ext(gw, "/ext-authz/github/mcp", method="DELETE",
            headers={"x-user": "ghost"})
    assert r.status == 403 and r.json["reason_code"] == "principal_unknown"
    # A service principal by application id.
    r = ext(gw, "/ext-authz/github", body=call("list_repos"),
            headers={"x-user": BOT_APP})
    assert r.status == 200
    assert r.headers["x-rollcall-principal-type"] == "service_principal"


@pytest.mark.parametrize("path,body,headers,reason", [
    ("/ext-authz/github", call("x"), {}, "subject_missing"),
    ("/ext-authz/github", "{not json", {"x-user": "alice@contoso.com"},
     "body_unreadable"),
    ("/ext-authz/github", {"jsonrpc": "2.0", "method": "tools/call",
                           "params": {}}, {"x-user": "alice@contoso.com"},
     "tool_missing"),
    ("/ext-authz/github", None, {"x-user": "alice@contoso.com",
                                 "x-mcp-method": "tools/call"},
     "tool_missing"),
    ("/ext-authz", call("list_repos"), {"x-user": "alice@contoso.com"},
     "tool_unknown"),
    ("/ext-authz/github", "[" * 3000 + "]" * 3000,
     {"x-user": "alice@contoso.com"}, "body_unreadable"),
    ("/ext-authz/github", call("list_repos"), {"x-user": "a" * 5000},
     "principal_unknown"),
    # A client-set tool header that disagrees with the body.
    ("/ext-authz/github", call("delete_branch"),
     {"x-user": "alice@contoso.com", "x-mcp-tool": "list_repos"},
     "tool_mismatch"),
])
def test_ext_authz_refusals(gw, path, body, headers, reason):
    r = ext(gw, path, body=body, headers=headers)
    assert r.status == 403, r
    assert r.json["reason_code"] == reason
    assert r.headers["x-rollcall-decision"] == "deny"


def test_ext_authz_needs_gateway_token(gw):
    who = {"x-user": "alice@contoso.com", "x-mcp-server": "github",
           "x-mcp-tool": "list_repos"}
    assert ext(gw, headers=who, token=None).status == 401
    assert ext(gw, headers=who, token="admin").status == 403


def test_ext_authz_rule_delete_next_request(make_server):
    # A server of its own: the other tests decide on the rule it deletes.
    gw = make_server(seed=WORLD, tokens=TOKENS)
    who = {"x-user": BOT_APP, "x-mcp-server": "github",
           "x-mcp-tool": "list_repos"}
    assert ext(gw, headers=who).status == 200
    r = gw.request("DELETE", f"/admin/v1/rules/{R_BOT}",
                   token=gw.tokens["admin"])
    assert r.status == 204
    r = ext(gw, headers=who)
    assert r.status == 403 and r.json["reason_code"] == "no_matching_rule"
    assert int(r.headers["x-rollcall-policy-version"]) > 5


def test_ext_authz_configured_headers(gw, make_server):
    s = make_server(db=gw.db, workers=1, env={
        "ROLLCALL_EXTAUTHZ_SUBJECT_HEADER": "x-forwarded-user",
        "ROLLCALL_EXTAUTHZ_TOOL_HEADER": "x-tool",
        "ROLLCALL_EXTAUTHZ_SERVER_HEADER": ""})
    try:
        tok = gw.tokens["gateway"]
        r = s.request("POST", "/ext-authz/github", token=tok,
                      headers={"x-forwarded-user": "alice@contoso.com",
                               "x-tool": "create_pull_request"})
        assert r.status == 200, r
        r = s.request("POST", "/ext-authz/github", token=tok,
                      headers={"x-user": "alice@contoso.com",
                               "x-tool": "create_pull_request"})
        assert r.status == 403 and r.json["reason_code"] == \
            "subject_missing"
        # The server header is off: the path names the server.
        r = s.request("POST", "/ext-authz/nosuch", token=tok,
                      headers={"x-forwarded-user": "alice@contoso.com",
                               "x-mcp-server": "github",
                               "x-tool": "create_pull_request"})
        assert r.status == 403 and r.json["reason_code"] == "tool_unknown"
    finally:
        s.stop()
