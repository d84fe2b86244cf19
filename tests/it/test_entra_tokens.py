"""Entra access tokens as subjects (issue 12 parts 1 and 2): a directory
bound to a tenant (admin API and rollcallctl), tokens minted here with
keys made here, given wherever a subject is accepted, each refusal with
its reason_code, and the promise: a disabled user's still-valid token is
denied as soon as the SCIM disable is acknowledged."""
import time
import uuid

import pytest

from entra_fixture import (API, API_URI, OTHER_TENANT, TENANT, Key, claims,
                           jwks, mint)
from seed import seed

ROBOT = str(uuid.UUID(int=50))

EXTRA_SQL = f"""
INSERT INTO service_principals (id, directory_id, name, app_id)
  VALUES ('{ROBOT}', 1, 'robot', 'app-robot');
INSERT INTO directories (name) VALUES ('fabrikam'), ('unbound');
"""

KEY_A = Key("kid-a")
KEY_B = Key("kid-b")
KEY_OTHER = Key("kid-other")


def world(db):
    seed(db)
    db.sql(EXTRA_SQL)


@pytest.fixture(scope="module")
def gw(make_module_server):
    s = make_module_server(seed=world, tokens={
        "gateway": "gateway", "admin": "global_admin", "scim": "scim",
        "fab": {"scopes": "gateway", "directory": "fabrikam"},
        "unbound": {"scopes": "gateway", "directory": "unbound"}})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["admin"], body={
                      "tenant_id": TENANT, "audiences": [API, API_URI],
                      "jwks": jwks(KEY_A, KEY_B)})
    assert r.status == 200, r
    # The other tenant, through the CLI, from a static key file.
    path = f"{s.tmp}/other.jwks"
    with open(path, "w") as f:
        import json
        json.dump(jwks(KEY_OTHER), f)
    s.db.ctl("entra", "bind", "fabrikam", "--tenant", OTHER_TENANT,
             "--audience", API, "--versions", "v2", "--jwks-file", path)
    wait_bound(s)
    return s


def wait_bound(s, timeout=10):
    """Every worker has loaded the bindings (fresh connections spread
    over the workers)."""
    tok = mint(KEY_A, claims())
    deadline = time.time() + timeout
    ok = 0
    while ok < 12 and time.time() < deadline:
        r = authorize(s, tok)
        ok = ok + 1 if r.status == 200 and r.json["decision"] == "allow" \
            else 0
        time.sleep(0.02)
    assert ok >= 12, r


def authorize(s, tok, tool="create_pull_request", gwtoken=None):
    return s.post("/v1/authorize", token=gwtoken or s.tokens["gateway"],
                  body={"token": tok, "server": "github", "tool": tool})


def metric(s, name):
    text = s.get("/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_v1_and_v2_tokens_allow(gw):
    for version in (1, 2):
        r = authorize(gw, mint(KEY_A, claims(version=version)))
        assert r.status == 200, r
        assert r.json["decision"] == "allow", r.json
        assert r.json["reason_code"] == "allowed_by_rule"
    # Either accepted audience form, and a key other than the first.
    r = authorize(gw, mint(KEY_B, claims(version=1, aud=API)))
    assert r.json["decision"] == "allow", r.json
    # The same rules as the subject path: denied_by_rule stays.
    r = authorize(gw, mint(KEY_A, claims()), tool="delete_branch")
    assert r.json["reason_code"] == "denied_by_rule"


def hs256_with_public_key():
    return mint(KEY_A, claims(), alg="HS256", secret=KEY_A.public_pem())


@pytest.mark.parametrize("make,reason", [
    (lambda: mint(KEY_A, claims(life=-3600)), "token_expired"),
    (lambda: mint(KEY_A, claims(nbf=int(time.time()) + 3600)),
     "token_not_yet_valid"),
    (lambda: mint(KEY_A, claims(), sign_with=KEY_B), "token_bad_signature"),
    (lambda: mint(KEY_A, claims(), kid="kid-unknown"), "token_unknown_key"),
    (lambda: mint(KEY_A, claims(iss="https://evil.example/v2.0")),
     "token_wrong_issuer"),
    (lambda: mint(KEY_A, claims(version=1, iss=f"https://sts.windows.net/"
                                f"{TENANT}")), "token_wrong_issuer"),
    (lambda: mint(KEY_A, claims(aud="api://someone-else")),
     "token_wrong_audience"),
    (lambda: mint(KEY_A, claims(aud="00000003-0000-0000-c000-"
                                "000000000000")), "token_wrong_audience"),
    (lambda: mint(KEY_OTHER, claims(tenant=OTHER_TENANT)),
     "token_wrong_tenant"),
    (lambda: mint(KEY_A, claims(tid=OTHER_TENANT)), "token_wrong_tenant"),
    (lambda: "not.a-token", "token_malformed"),
    (lambda: mint(KEY_A, claims(exp=None)), "token_malformed"),
    (lambda: mint(KEY_A, claims(), alg="none"), "token_alg_refused"),
    (hs256_with_public_key, "token_alg_refused"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_every_refusal_has_its_reason(gw, make, reason):
    r = authorize(gw, make())
    assert r.status == 200, r
    assert r.json["decision"] == "deny" and r.json["allow"] is False
    assert r.json["reason_code"] == reason, r.json
    assert r.json["ttl_s"] == 0


def test_skew_allows_a_recently_expired_token(gw):
    r = authorize(gw, mint(KEY_A, claims(exp=int(time.time()) - 60)))
    assert r.json["decision"] == "allow", r.json
    r = authorize(gw, mint(KEY_A, claims(exp=int(time.time()) - 200)))
    assert r.json["reason_code"] == "token_expired", r.json


def test_disabled_user_token_denied_at_once(gw):
    """The key test: a token valid for another hour, cached, is denied
    right after the SCIM disable is acknowledged."""
    r = gw.post("/scim/v2/Users", token=gw.tokens["scim"],
                content_type="application/scim+json", body={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "dave@contoso.com", "externalId": "oid-dave",
                    "active": True})
    assert r.status == 201, r
    dave = r.json["id"]
    tok = mint(KEY_A, claims(oid="oid-dave", life=3600))
    for _ in range(8):
        d = authorize(gw, tok, tool="list_repos").json
        assert d["decision"] == "allow", d
    hits = metric(gw, 'rollcall_entra_tokens_total{result="cache_hit"}')
    assert hits > 0
    r = gw.request("PATCH", f"/scim/v2/Users/{dave}",
                   token=gw.tokens["scim"],
                   content_type="application/scim+json", body={
                       "schemas": ["urn:ietf:params:scim:api:messages:2.0:"
                                   "PatchOp"],
                       "Operations": [{"op": "replace", "path": "active",
                                       "value": False}]})
    assert r.status == 200, r
    # Every worker, at once (fresh connections spread over them).
    for _ in range(12):
        d = authorize(gw, tok, tool="list_repos").json
        assert d["decision"] == "deny", d
        assert d["reason_code"] == "principal_inactive", d
    s = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"token": tok}).json
    assert s["active"] is False and s["reason_code"] == "principal_inactive"
    # The token stayed valid in the cache: this was a decision, not it.
    assert metric(gw, 'rollcall_entra_tokens_total{result="cache_hit"}') \
        > hits


def test_app_only_token_names_the_service_principal(gw):
    tok = mint(KEY_A, claims(oid="sp-object-id", scp=None, idtyp="app",
                             azp="app-robot"))
    s = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"token": tok}).json
    assert s["active"] is True, s
    assert s["principal"]["type"] == "service_principal"
    assert s["principal"]["id"] == ROBOT
    # v1 app-only: appid, no scp and no idtyp.
    tok = mint(KEY_A, claims(version=1, oid="sp-object-id", scp=None,
                             appid="app-robot"))
    s = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"token": tok}).json
    assert s["principal"]["id"] == ROBOT, s
    # A user token never names a service principal, nor the reverse.
    tok = mint(KEY_A, claims(oid="oid-alice", scp=None, idtyp="app",
                             azp="no-such-app"))
    s = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                body={"token": tok}).json
    assert s["active"] is False and s["reason_code"] == "principal_unknown"


def test_unprovisioned_and_inactive_users(gw):
    r = authorize(gw, mint(KEY_A, claims(oid="oid-nobody")))
    assert r.json["reason_code"] == "principal_unknown"
    r = authorize(gw, mint(KEY_A, claims(oid="oid-bob")))
    assert r.json["reason_code"] == "principal_inactive"


def test_every_decision_endpoint_takes_a_token(gw):
    tok = mint(KEY_A, claims())
    t = gw.tokens["gateway"]
    r = gw.post("/v1/authorize/batch", token=t, body={"token": tok, "items": [
        {"server": "github", "tool": "create_pull_request"},
        {"server": "github", "tool": "delete_branch"}]})
    assert [x["decision"] for x in r.json["results"]] == ["allow", "deny"], r
    r = gw.post("/v1/tools/filter", token=t, body={
        "token": tok, "server": "github",
        "tools": ["create_pull_request", "delete_branch"]})
    assert r.json["allowed"] == ["create_pull_request"], r
    s = gw.post("/v1/session/check", token=t, body={"token": tok}).json
    assert s["active"] is True and s["principal"]["userName"] == \
        "alice@contoso.com", s
    bad = mint(KEY_A, claims(life=-3600))
    r = gw.post("/v1/authorize/batch", token=t, body={"token": bad, "items": [
        {"server": "github", "tool": "create_pull_request"}]})
    assert r.json["results"][0]["reason_code"] == "token_expired", r
    r = gw.post("/v1/tools/filter", token=t, body={
        "token": bad, "server": "github", "tools": ["create_pull_request"]})
    assert r.json["allowed"] == [] and \
        r.json["denied"][0]["reason_code"] == "token_expired", r
    s = gw.post("/v1/session/check", token=t, body={"token": bad}).json
    assert s["active"] is False and s["reason_code"] == "token_expired"


def test_subject_and_token_together_refused(gw):
    r = gw.post("/v1/authorize", token=gw.tokens["gateway"], body={
        "token": mint(KEY_A, claims()), "subject": "alice@contoso.com",
        "server": "github", "tool": "create_pull_request"})
    assert r.status == 400 and r.json["error"] == "invalid_subject", r


def test_unbound_directory_refuses_tokens(gw):
    r = authorize(gw, mint(KEY_A, claims()), gwtoken=gw.tokens["unbound"])
    assert r.status == 400, r
    assert r.json["error"] == "token_not_bound"
    assert "not bound to an Entra tenant" in r.json["message"]


def test_wrong_tenant_bound_to_another_directory(gw):
    # fabrikam is bound to the other tenant: its tokens never match
    # default's users, and default's tenant's tokens are refused there.
    other = mint(KEY_OTHER, claims(tenant=OTHER_TENANT))
    r = authorize(gw, other)
    assert r.json["reason_code"] == "token_wrong_tenant", r.json
    r = authorize(gw, other, gwtoken=gw.tokens["fab"])
    assert r.json["reason_code"] == "principal_unknown", r.json
    r = authorize(gw, mint(KEY_A, claims()), gwtoken=gw.tokens["fab"])
    assert r.json["reason_code"] == "token_wrong_tenant", r.json
    # fabrikam accepts v2 only.
    r = authorize(gw, mint(KEY_OTHER, claims(version=1, aud=API,
                                             tenant=OTHER_TENANT)),
                  gwtoken=gw.tokens["fab"])
    assert r.json["reason_code"] == "token_wrong_issuer", r.json


def test_binding_admin_api(gw):
    a = gw.tokens["admin"]
    r = gw.get("/admin/v1/directories/default/entra", token=a)
    assert r.status == 200, r
    b = r.json
    assert b["tenant_id"] == TENANT and b["audiences"] == [API, API_URI]
    assert b["accept_v1"] and b["accept_v2"] and b["skew_s"] == 120
    assert b["jwks_source"] == "static" and b["keys"]["count"] == 2
    r = gw.get("/admin/v1/directories/unbound/entra", token=a)
    assert r.status == 404 and r.json["error"] == "not_bound", r
    r = gw.get("/admin/v1/directories/nosuch/entra", token=a)
    assert r.status == 404, r
    for body, what in [
            ({"tenant_id": "Not-A-Guid", "audiences": [API]}, "tenant_id"),
            ({"tenant_id": TENANT, "audiences": []}, "audiences"),
            ({"tenant_id": TENANT, "audiences": [API], "skew_s": 301},
             "skew_s"),
            ({"tenant_id": TENANT, "audiences": [API], "versions": ["v3"]},
             "versions"),
            ({"tenant_id": TENANT, "audiences": [API],
              "openid_configuration": "http://plain.example/"},
             "openid_configuration"),
            ({"tenant_id": TENANT, "audiences": [API],
              "jwks": {"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB",
                                 "e": "AQAB"}]}}, "jwks")]:
        r = gw.request("PUT", "/admin/v1/directories/unbound/entra",
                       token=a, body=body)
        assert r.status == 400 and r.json["error"] == "invalid_binding", r
        assert what in r.json["message"], (what, r.json)
    # Default source: the tenant's own OpenID configuration.
    r = gw.request("PUT", "/admin/v1/directories/unbound/entra", token=a,
                   body={"tenant_id": OTHER_TENANT, "audiences": [API]})
    assert r.status == 200, r
    assert r.json["openid_configuration"] == (
        f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0/"
        ".well-known/openid-configuration")
    r = gw.request("DELETE", "/admin/v1/directories/unbound/entra", token=a)
    assert r.status == 204, r
    r = gw.request("DELETE", "/admin/v1/directories/unbound/entra", token=a)
    assert r.status == 404, r
    # A directory-bound admin token manages only its own directory.
    fab_admin = gw.db.token("admin", directory="fabrikam", name="fab-admin")
    r = gw.get("/admin/v1/directories/default/entra", token=fab_admin)
    assert r.status == 403, r
    # Audited.
    out = gw.db.sql("SELECT action FROM audit_log WHERE action LIKE "
                    "'entra.%' ORDER BY id")
    assert "entra.bind" in out and "entra.unbind" in out


def test_cli_show(gw):
    r = gw.db.ctl("entra", "show", "fabrikam")
    assert OTHER_TENANT in r.stdout and '"accept_v1": false' in r.stdout
    r = gw.db.ctl("entra", "bind", "fabrikam", "--tenant", "nope",
                  "--audience", API, check=False)
    assert r.returncode != 0 and "tenant_id" in r.stderr


def test_authzen_subject_properties_token(gw):
    def ev(tok, tool="create_pull_request"):
        return gw.post("/access/v1/evaluation", token=gw.tokens["gateway"],
                       body={"subject": {"type": "user", "id": "from-token",
                                         "properties": {"token": tok}},
                             "resource": {"type": "mcp_tool",
                                          "id": f"github/{tool}"},
                             "action": {"name": "call"}})
    r = ev(mint(KEY_A, claims()))
    assert r.status == 200 and r.json["decision"] is True, r
    r = ev(mint(KEY_A, claims(aud="api://other")))
    assert r.json["decision"] is False
    assert r.json["context"]["reason_code"] == "token_wrong_audience", r
    r = gw.post("/access/v1/evaluation", token=gw.tokens["unbound"], body={
        "subject": {"type": "user", "id": "x",
                    "properties": {"token": mint(KEY_A, claims())}},
        "resource": {"type": "mcp_tool", "id": "github/list_repos"},
        "action": {"name": "call"}})
    assert r.status == 400 and "not bound" in r.json["message"], r


def ext(gw, headers, tool="create_pull_request"):
    h = {"x-mcp-tool": tool}
    h.update(headers)
    return gw.request("GET", "/ext-authz/github", token=gw.tokens["gateway"],
                      headers=h)


def test_ext_authz_reads_the_forwarded_token(gw):
    tok = mint(KEY_A, claims(version=1))
    r = ext(gw, {"x-forwarded-authorization": f"Bearer {tok}"})
    assert r.status == 200, r
    assert r.headers["x-rollcall-decision"] == "allow"
    assert r.headers["x-rollcall-user"] == "alice@contoso.com"
    r = ext(gw, {"x-forwarded-authorization": tok}, tool="delete_branch")
    assert r.status == 403 and r.headers["x-rollcall-reason"] == \
        "denied_by_rule"
    r = ext(gw, {"x-forwarded-authorization":
                 "Bearer " + mint(KEY_A, claims(life=-3600))})
    assert r.status == 403, r
    assert r.headers["x-rollcall-reason"] == "token_expired"


def test_subject_header_and_body_must_agree(gw):
    before = metric(gw, "rollcall_subject_conflicts_total")
    tok = mint(KEY_A, claims())
    # ext_authz: a token and a subject header (perhaps the client's).
    r = ext(gw, {"x-forwarded-authorization": f"Bearer {tok}",
                 "x-user": "alice@contoso.com"})
    assert r.status == 403 and r.headers["x-rollcall-reason"] == \
        "subject_conflict", r
    # The decision API: header and body naming different subjects.
    r = gw.post("/v1/authorize", token=gw.tokens["gateway"],
                headers={"x-user": "carol@contoso.com"},
                body={"subject": "alice@contoso.com", "server": "github",
                      "tool": "create_pull_request"})
    assert r.status == 400 and r.json["error"] == "subject_conflict", r
    r = gw.post("/v1/session/check", token=gw.tokens["gateway"],
                headers={"x-user": "alice@contoso.com"},
                body={"token": tok})
    assert r.status == 400 and r.json["error"] == "subject_conflict", r
    # The same subject in both is fine.
    r = gw.post("/v1/authorize", token=gw.tokens["gateway"],
                headers={"x-user": "alice@contoso.com"},
                body={"subject": "alice@contoso.com", "server": "github",
                      "tool": "create_pull_request"})
    assert r.status == 200 and r.json["decision"] == "allow", r
    assert metric(gw, "rollcall_subject_conflicts_total") == before + 3


def introspect(gw, tok, form=True, gwtoken=None):
    if form:
        return gw.request("POST", "/v1/introspect",
                          token=gwtoken or gw.tokens["gateway"],
                          body=f"token={tok}",
                          content_type="application/x-www-form-urlencoded")
    return gw.post("/v1/introspect", token=gwtoken or gw.tokens["gateway"],
                   body={"token": tok})


def test_introspection(gw):
    tok = mint(KEY_A, claims(life=1800))
    for form in (True, False):
        r = introspect(gw, tok, form=form)
        assert r.status == 200, r
        j = r.json
        assert j["active"] is True, j
        assert j["principal"]["userName"] == "alice@contoso.com"
        assert j["principal"]["type"] == "user" and j["sub"] == \
            j["principal"]["id"]
        assert j["groups"] and j["exp"] > time.time() + 1700
    # Invalid for any reason, or a principal that may not act now: only
    # active:false.
    for bad in (mint(KEY_A, claims(life=-3600)),
                mint(KEY_A, claims(), sign_with=KEY_B),
                mint(KEY_A, claims(), alg="none"),
                mint(KEY_A, claims(oid="oid-bob")),
                mint(KEY_A, claims(oid="oid-nobody")),
                mint(KEY_OTHER, claims(tenant=OTHER_TENANT))):
        r = introspect(gw, bad)
        assert r.status == 200 and r.json == {"active": False}, r
    r = introspect(gw, tok, gwtoken=gw.tokens["unbound"])
    assert r.json == {"active": False}, r
    r = gw.request("POST", "/v1/introspect", token=gw.tokens["gateway"],
                   body="nothing=here",
                   content_type="application/x-www-form-urlencoded")
    assert r.status == 400, r
    # The gateway scope is required.
    r = introspect(gw, tok, gwtoken=gw.tokens["scim"])
    assert r.status == 403, r
    # Service principal.
    app = mint(KEY_A, claims(oid="sp-object-id", scp=None, idtyp="app",
                             azp="app-robot"))
    j = introspect(gw, app).json
    assert j["active"] and j["principal"]["type"] == "service_principal"
    assert j["principal"]["appId"] == "app-robot"


def test_introspection_returns_the_scim_roles(gw):
    """Introspection names the principal's app roles as SCIM stored
    them (RFC 7662 extension member 'roles'), never the token's own
    'roles' claim; a SCIM change shows at once."""
    r = gw.post("/scim/v2/Users", token=gw.tokens["scim"],
                content_type="application/scim+json", body={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "roles.erin@contoso.com",
                    "externalId": "oid-roles-erin",
                    "active": True,
                    "roles": [{"value": "mcp.admin"}, {"value": "mcp.reader"}]})
    assert r.status == 201, r
    erin = r.json["id"]
    tok = mint(KEY_A, claims(oid="oid-roles-erin", life=1800,
                             roles=["mcp.root"]))
    j = introspect(gw, tok).json
    assert j["active"] is True, j
    assert j["roles"] == ["mcp.admin", "mcp.reader"], j
    r = gw.request("PATCH", f"/scim/v2/Users/{erin}",
                   token=gw.tokens["scim"],
                   content_type="application/scim+json", body={
                       "schemas": ["urn:ietf:params:scim:api:messages:2.0:"
                                   "PatchOp"],
                       "Operations": [{"op": "remove", "path": "roles"}]})
    assert r.status in (200, 204), r
    for _ in range(8):
        assert introspect(gw, tok).json["roles"] == []
    # Alice has no roles; a service principal has none either.
    alice = introspect(gw, mint(KEY_A, claims())).json
    assert alice["active"] and alice["roles"] == [], alice
    app = mint(KEY_A, claims(oid="sp-object-id", scp=None, idtyp="app",
                             azp="app-robot", roles=["mcp.admin"]))
    assert introspect(gw, app).json["roles"] == []


def test_bindings_loaded_before_the_first_request(gw, make_server):
    """A server started on a bound directory decides tokens from its
    first request on every worker (the parent loads the bindings)."""
    s = make_server(db=gw.db, workers=4)
    tok = mint(KEY_A, claims())
    for _ in range(16):
        r = authorize(s, tok)
        assert r.status == 200 and r.json["decision"] == "allow", r


def test_a_binding_change_reaches_another_instance(gw, make_server):
    """Bindings live in PostgreSQL: a change made through one instance
    reaches every worker of another through NOTIFY."""
    other = make_server(db=gw.db, workers=2)
    v1 = mint(KEY_A, claims(version=1))          # audience: the URI form
    assert authorize(other, v1).json["decision"] == "allow"
    body = {"tenant_id": TENANT, "audiences": [API],
            "jwks": jwks(KEY_A, KEY_B)}
    r = gw.request("PUT", "/admin/v1/directories/default/entra",
                   token=gw.tokens["admin"], body=body)
    assert r.status == 200, r
    try:
        deadline = time.time() + 10
        run = 0
        while run < 8 and time.time() < deadline:
            d = authorize(other, v1).json
            run = run + 1 if d["reason_code"] == "token_wrong_audience" \
                else 0
            time.sleep(0.02)
        assert run >= 8, d
    finally:
        body["audiences"] = [API, API_URI]
        r = gw.request("PUT", "/admin/v1/directories/default/entra",
                       token=gw.tokens["admin"], body=body)
        assert r.status == 200, r
        wait_bound(gw)


def test_opa_input_subject_token(gw):
    def opa(tok, tool="create_pull_request"):
        return gw.post("/v1/data/mcpgateway", token=gw.tokens["gateway"],
                       body={"input": {"subject": {"token": tok},
                                       "action": "tools.invoke",
                                       "resource": {"type": "tool",
                                                    "id": tool,
                                                    "server": "github"}}})
    r = opa(mint(KEY_A, claims()))
    assert r.status == 200 and r.json["result"]["allow"] is True, r
    r = opa(mint(KEY_A, claims(life=-3600)))
    assert r.json["result"]["deny"] == ["token_expired"], r
