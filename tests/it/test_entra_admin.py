"""Entra access tokens as admin credentials (issue 14, "Sign in with
Microsoft"): a user's token carrying the app role entra_admin_role is a
directory-bound admin session on the admin API, for its own directory
only; without the role, for another audience, for a disabled or unknown
user, or as an app, it is refused with a reason; audit rows name the
user.  Tokens are minted here with keys made here."""
import json
import time

import pytest

from entra_fixture import API, OTHER_TENANT, TENANT, Key, claims, jwks, mint
from seed import ALICE, CAROL, seed

ROLE = "rollcall.admin"
KEY = Key("kid-admin")
KEY_OTHER = Key("kid-other")

EXTRA_SQL = """
INSERT INTO directories (name) VALUES ('fabrikam');
INSERT INTO users (id, directory_id, user_name, external_id, active,
                   emails_lc, doc)
  VALUES ('00000000-0000-0000-0000-0000000000f1',
          (SELECT id FROM directories WHERE name = 'fabrikam'),
          'frank@fabrikam.com', 'oid-frank', true, '{}', '{}');
"""


def world(db):
    seed(db)
    db.sql(EXTRA_SQL)


@pytest.fixture(scope="module")
def srv(make_module_server):
    s = make_module_server(seed=world, tokens={
        "admin": "global_admin", "scim": "scim"},
        env={"ROLLCALL_ENTRA_ADMIN_ROLE": ROLE})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "jwks": jwks(KEY)})
    assert r.status == 200, r
    r = s.request("PUT", "/admin/v1/directories/fabrikam/entra",
                  token=s.tokens["admin"], body={
                      "tenant_id": OTHER_TENANT, "audiences": [API],
                      "jwks": jwks(KEY_OTHER)})
    assert r.status == 200, r
    wait_loaded(s)
    return s


def admin_token(oid="oid-alice", roles=(ROLE,), key=KEY, **kw):
    return mint(key, claims(oid=oid, roles=list(roles), **kw))


def wait_loaded(s, timeout=10):
    """Every worker has the bindings (fresh connections spread over
    the workers)."""
    tok = admin_token()
    deadline = time.time() + timeout
    ok = 0
    while ok < 12 and time.time() < deadline:
        r = s.get("/admin/v1/users", token=tok)
        ok = ok + 1 if r.status == 200 else 0
        time.sleep(0.02)
    assert ok >= 12, r


def test_admin_role_opens_its_directory_only(srv):
    tok = admin_token()
    r = srv.get("/admin/v1/users", token=tok)
    assert r.status == 200, r
    names = [u["userName"] for u in r.json["users"]]
    assert "alice@contoso.com" in names
    assert "frank@fabrikam.com" not in names
    # Never global: another directory's objects are out of reach.
    r = srv.get("/admin/v1/users/00000000-0000-0000-0000-0000000000f1",
                token=tok)
    assert r.status in (403, 404), r
    r = srv.get("/admin/v1/directories/fabrikam/entra", token=tok)
    assert r.status == 403, r
    r = srv.get("/admin/v1/directories/default/entra", token=tok)
    assert r.status == 200, r
    # The other tenant's admin sees its own directory and not ours.
    ftok = admin_token(oid="oid-frank", key=KEY_OTHER, tenant=OTHER_TENANT)
    r = srv.get("/admin/v1/users", token=ftok)
    assert r.status == 200, r
    names = [u["userName"] for u in r.json["users"]]
    assert names == ["frank@fabrikam.com"], names


def refusal(srv, tok, status, code):
    r = srv.get("/admin/v1/users", token=tok)
    assert r.status == status, r
    assert r.json["error"] == code, r.json
    assert r.json["message"], r.json
    return r.json["message"]


def test_refusals_say_why(srv):
    msg = refusal(srv, admin_token(roles=()), 403, "missing_admin_role")
    assert ROLE in msg
    refusal(srv, admin_token(roles=("Tools.Call", "rollcall.Admin")), 403,
            "missing_admin_role")
    refusal(srv, admin_token(aud="api://somebody-else"), 401,
            "token_wrong_audience")
    refusal(srv, admin_token(exp=int(time.time()) - 3600), 401,
            "token_expired")
    # Signed by a key of another tenant, claiming ours.
    refusal(srv, admin_token(key=KEY_OTHER), 401, "token_unknown_key")
    # A provisioned user of no directory bound to the token's tenant.
    refusal(srv, admin_token(oid="oid-nobody"), 403, "principal_unknown")
    # Bob is provisioned but inactive.
    msg = refusal(srv, admin_token(oid="oid-bob"), 403, "principal_disabled")
    assert "bob@contoso.com" in msg
    # An app with the role as an application permission is no admin.
    refusal(srv, admin_token(scp=None, idtyp="app"), 403, "forbidden")
    # A tenant no directory is bound to.
    refusal(srv, admin_token(tenant="99999999-2222-4333-8444-555555555555"),
            401, "token_wrong_tenant")
    # Not a JWT, not a rollcall token: refused as before.
    r = srv.get("/admin/v1/users", token="eyJnope")
    assert r.status == 401, r


def test_rollcall_tokens_unchanged(srv):
    r = srv.get("/admin/v1/users", token=srv.tokens["admin"])
    assert r.status == 200, r
    names = [u["userName"] for u in r.json["users"]]
    assert "frank@fabrikam.com" in names


def test_audit_names_the_user(srv):
    tok = admin_token()
    # Like a directory admin token: shared servers are not its to change.
    r = srv.post("/admin/v1/servers", token=tok,
                 body={"slug": "entra-made", "name": "Made by Alice"})
    assert r.status == 403, r
    # Its directory's users are: the kill switch on Carol, and restore.
    r = srv.post(f"/admin/v1/principals/{CAROL}:revoke-all", token=tok,
                 body={})
    assert r.status in (200, 204), r
    r = srv.post(f"/admin/v1/principals/{CAROL}:restore", token=tok,
                 body={})
    assert r.status in (200, 204), r
    out = srv.db.sql("SELECT actor_kind || ' ' || actor || ' ' || action "
                     f"FROM audit_log WHERE resource_id = '{CAROL}'")
    lines = [ln for ln in out.splitlines() if "entra:" in ln]
    assert len(lines) == 2, out
    assert all("entra:alice@contoso.com" in ln for ln in lines), out
    # And the audit API finds them under that actor.
    r = srv.get("/admin/v1/audit?actor=entra:alice@contoso.com",
                token=srv.tokens["admin"])
    assert r.status == 200, r
    assert len(r.json["records"]) >= 2, r.json


def test_disabled_admin_refused_at_once(srv):
    """Dave, an admin with a token valid for an hour, is disabled over
    SCIM: his next request, on every worker, is refused."""
    r = srv.post("/scim/v2/Users", token=srv.tokens["scim"],
                 content_type="application/scim+json", body={
                     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:"
                                 "User"],
                     "userName": "dave@contoso.com", "externalId": "oid-dave",
                     "active": True})
    assert r.status == 201, r
    dave = r.json["id"]
    tok = admin_token(oid="oid-dave")
    for _ in range(8):
        assert srv.get("/admin/v1/users", token=tok).status == 200
    r = srv.request("PATCH", f"/scim/v2/Users/{dave}",
                    token=srv.tokens["scim"],
                    content_type="application/scim+json", body={
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:"
                                    "PatchOp"],
                        "Operations": [{"op": "replace", "path": "active",
                                        "value": False}]})
    assert r.status == 200, r
    for _ in range(12):
        refusal(srv, tok, 403, "principal_disabled")
    # The kill switch refuses as well.
    atok = admin_token()
    r = srv.post(f"/admin/v1/principals/{ALICE}:revoke-all",
                 token=srv.tokens["admin"], body={})
    assert r.status in (200, 204), r
    refusal(srv, atok, 403, "principal_disabled")


def test_off_without_the_setting(make_server):
    s = make_server(seed=seed, tokens={"admin": "global_admin"})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "jwks": jwks(KEY)})
    assert r.status == 200, r
    time.sleep(0.5)
    r = s.get("/admin/v1/users", token=admin_token())
    assert r.status == 401, r
    assert "entra_admin_role" in json.dumps(r.json), r.json


def test_tenant_bound_twice_is_refused(make_server):
    """Two directories bound to one tenant: which one the sign-in would
    administer is a guess, so it is refused, not picked."""
    def two(db):
        seed(db)
        db.sql("INSERT INTO directories (name) VALUES ('twin')")
    s = make_server(seed=two, tokens={"admin": "global_admin"},
                    env={"ROLLCALL_ENTRA_ADMIN_ROLE": ROLE})
    for d in ("default", "twin"):
        r = s.request("PUT", f"/admin/v1/directories/{d}/entra",
                      token=s.tokens["admin"], body={
                          "tenant_id": TENANT, "audiences": [API],
                          "jwks": jwks(KEY)})
        assert r.status == 200, r
    tok = admin_token()
    # Every worker, once it has loaded both bindings, refuses (fresh
    # connections spread over the workers).
    deadline = time.time() + 10
    ok = 0
    while ok < 12 and time.time() < deadline:
        r = s.get("/admin/v1/users", token=tok)
        ok = ok + 1 if r.status == 403 and \
            r.json["error"] == "ambiguous_directory" else 0
        assert r.status in (200, 401, 403), r  # 401: not loaded yet
        time.sleep(0.02)
    assert ok >= 12, r
    # Unbinding the twin makes it unambiguous again.
    r = s.request("DELETE", "/admin/v1/directories/twin/entra",
                  token=s.tokens["admin"])
    assert r.status == 204, r
    deadline = time.time() + 10
    while s.get("/admin/v1/users", token=tok).status != 200:
        assert time.time() < deadline, "still refused after the unbind"
        time.sleep(0.05)
