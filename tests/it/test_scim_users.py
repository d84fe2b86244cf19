"""SCIM /Users against the real server, in the shapes Microsoft Entra
sends (README, "SCIM 2.0 for Microsoft Entra ID"), plus the RFC behaviour other
clients rely on: errors, paging, projection, preconditions, isolation
between directories, audit and policy-version bookkeeping."""
import concurrent.futures
import json
import time
import uuid

import pytest

from conftest import Database, Server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LISTR = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CTYPE = "application/scim+json; charset=utf-8"


class Env:
    pass


@pytest.fixture(scope="module")
def env():
    e = Env()
    e.db = Database()
    e.db.ctl("directory", "create", "other")
    e.tok = e.db.token("scim", name="entra")
    e.tok_other = e.db.token("scim", directory="other", name="entra-b")
    e.tok_gateway = e.db.token("gateway")
    try:
        e.s = Server(e.db)
    except BaseException:
        e.db.drop()
        raise
    yield e
    try:
        e.s.stop()
    finally:
        e.db.drop()


def call(e, method, path, body=None, token=None, headers=None):
    return e.s.request(method, path, body=body, token=token or e.tok,
                       headers=headers, content_type=CTYPE)


def ops(*o):
    return {"schemas": [PATCHOP], "Operations": list(o)}


def entra_user(name, **extra):
    """The POST body Entra sends with the default mappings (4.2)."""
    body = {
        "schemas": [USER, ENT],
        "externalId": name.split("@")[0],
        "userName": name,
        "active": True,
        "displayName": "Test " + name,
        "title": None,
        "preferredLanguage": "en-US",
        "emails": [{"primary": True, "type": "work", "value": name}],
        "name": {"formatted": "Test User", "familyName": "User",
                 "givenName": "Test"},
        "addresses": [{"type": "work", "streetAddress": "1 Main St",
                       "locality": "Town", "postalCode": "12345",
                       "country": "US", "primary": False}],
        "phoneNumbers": [{"type": "work", "value": "+1 555 0100"}],
        ENT: {"employeeNumber": "42", "department": "Sales"},
        "meta": {"resourceType": "User"},
        "roles": [],
    }
    body.update(extra)
    return body


def create(e, name=None, token=None, **extra):
    name = name or f"u-{uuid.uuid4().hex[:10]}@contoso.com"
    r = call(e, "POST", "/scim/v2/Users", entra_user(name, **extra), token)
    assert r.status == 201, r
    return r.json


def assert_error(r, status, scim_type=None):
    assert r.status == status, r
    assert r.headers["content-type"] == "application/scim+json", r.headers
    body = r.json
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("detail")
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def q(s):
    """Form-encodes a query value the way Entra does (+ and %22)."""
    from urllib.parse import quote_plus
    return quote_plus(s)


def policy_version(e):
    return int(e.db.sql("SELECT version FROM policy_state").strip())


def audit_count(e):
    return int(e.db.sql("SELECT count(*) FROM audit_log").strip())


# --- 4.1 Test Connection ---------------------------------------------------

def test_connection_probe_without_scim_headers(env):
    guid = str(uuid.uuid4())
    for path in (f"/scim/v2/Users?filter=userName+eq+%22{guid}%22",
                 f"/scim/v2//Users?filter=userName+eq+%22{guid}%22",
                 f"/scim/v2/Users/?filter=userName%20eq%20%22{guid}%22"
                 "&aadOptscim062020",
                 f"/scim/v2/users?filter=username+EQ+%22{guid}%22"):
        r = env.s.request("GET", path, token=env.tok)
        assert r.status == 200, (path, r)
        assert r.headers["content-type"] == "application/scim+json"
        assert r.json == {"schemas": [LISTR], "totalResults": 0,
                          "startIndex": 1, "itemsPerPage": 0,
                          "Resources": []}


def test_wrong_tokens_are_401_scim_errors(env):
    for tok in ("nope", "", None):
        hdrs = {} if tok is None else {"Authorization": f"Bearer {tok}"}
        r = env.s.request("GET", "/scim/v2/Users", headers=hdrs)
        assert_error(r, 401)
    r = call(env, "GET", "/scim/v2/Users", token=env.tok_gateway)
    assert_error(r, 403)


# --- 4.2 Create, match, adopt ------------------------------------------------

def test_create_user_with_entra_body(env):
    name = "Alice.Create@contoso.com"
    r = call(env, "POST", "/scim/v2/Users", entra_user(name))
    assert r.status == 201, r
    u = r.json
    assert r.headers["content-type"] == "application/scim+json"
    assert uuid.UUID(u["id"])
    assert u["userName"] == name and u["active"] is True
    assert u["schemas"][0] == USER and ENT in u["schemas"]
    assert u[ENT] == {"employeeNumber": "42", "department": "Sales"}
    assert "title" not in u and "roles" not in u and "password" not in u
    meta = u["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"{env.s.base}/scim/v2/Users/{u['id']}"
    assert r.headers["location"] == meta["location"]
    assert meta["version"] == 'W/"1"' == r.headers["etag"]
    assert meta["created"] == meta["lastModified"]
    assert meta["created"].endswith("Z")
    # The id Entra caches reads the resource back.
    g = call(env, "GET", f"/scim/v2/Users/{u['id']}")
    assert g.status == 200 and g.json == u
    assert g.headers["etag"] == 'W/"1"'


def test_create_without_username_is_400(env):
    body = entra_user("x@contoso.com")
    del body["userName"]
    assert_error(call(env, "POST", "/scim/v2/Users", body), 400,
                 "invalidValue")
    body["userName"] = ""
    assert_error(call(env, "POST", "/scim/v2/Users", body), 400,
                 "invalidValue")
    body["userName"] = 17
    assert_error(call(env, "POST", "/scim/v2/Users", body), 400,
                 "invalidValue")


def test_duplicate_username_is_409_case_insensitive(env):
    u = create(env, "Dup.User@contoso.com")
    r = call(env, "POST", "/scim/v2/Users",
             entra_user("dup.user@CONTOSO.com"))
    body = assert_error(r, 409, "uniqueness")
    assert "dup.user@CONTOSO.com" in body["detail"]
    assert call(env, "GET", f"/scim/v2/Users/{u['id']}").status == 200


def test_match_then_adopt(env):
    u = create(env, "Match.Me@contoso.com", externalId="match-me-oid")
    for flt in ('userName eq "match.me@contoso.com"',
                'USERNAME EQ "MATCH.ME@CONTOSO.COM"',
                'externalId eq "match-me-oid"',
                'emails[type eq "work"].value eq "Match.Me@contoso.com"',
                'userName eq "Match.Me@contoso.com" and active eq true'):
        r = call(env, "GET", "/scim/v2/Users?filter=" + q(flt))
        assert r.status == 200, (flt, r)
        assert r.json["totalResults"] == 1, (flt, r.json)
        assert r.json["Resources"][0]["id"] == u["id"]
    # externalId is caseExact.
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('externalId eq "MATCH-ME-OID"'))
    assert r.json["totalResults"] == 0
    # Adopted: Entra PATCHes what differs.
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "displayName", "value": "Adopted"}))
    assert r.status == 200, r
    assert r.json["displayName"] == "Adopted"


# --- 4.3 Update ---------------------------------------------------------------

def test_patch_default_dialect(env):
    u = create(env)
    mgr = create(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "displayName", "value": "New Name"},
        {"op": "Replace", "path": "name.givenName", "value": "Given"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value",
         "value": "new@contoso.com"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value",
         "value": "+1 555 0199"},
        {"op": "Replace", "path": f"{ENT}:employeeNumber", "value": "43"},
        {"op": "Add", "path": f"{ENT}:manager", "value": mgr["id"]},
        {"op": "Replace", "path": "addresses[type eq \"work\"].locality",
         "value": "City"}))
    assert r.status == 200, r
    v = r.json
    assert v["displayName"] == "New Name"
    assert v["name"]["givenName"] == "Given"
    assert v["name"]["familyName"] == "User"
    assert [m["value"] for m in v["emails"] if m["type"] == "work"] == \
        ["new@contoso.com"]
    assert v["nickName"] == "Babs"
    assert {"type": "mobile", "value": "+1 555 0199"} in v["phoneNumbers"]
    assert v[ENT]["employeeNumber"] == "43"
    assert v[ENT]["manager"]["value"] == mgr["id"]
    assert v["addresses"][0]["locality"] == "City"
    assert v["meta"]["version"] == 'W/"2"'
    assert r.headers["etag"] == 'W/"2"'
    # The new email is matchable at once (emails_lc follows doc).
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('emails[type eq "work"].value eq "NEW@contoso.com"'))
    assert [x["id"] for x in r.json["Resources"]] == [u["id"]]
    # Manager removal with a filter on a single-valued attribute (7.7).
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Remove",
         "path": f"{ENT}:manager[value eq \"{mgr['id']}\"]"}))
    assert r.status == 200, r
    assert "manager" not in r.json.get(ENT, {})


def test_patch_flagged_dialect_no_path_dotted_keys(env):
    u = create(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "replace", "value": {
            "displayName": "Flagged",
            "name.givenName": "Flag",
            "name.familyName": "Ged",
            f"{ENT}:employeeNumber": "777",
            f"{ENT}:department": "R&D",
            "active": True}},
        {"op": "add", "path": "emails[type eq \"other\"].value",
         "value": "other@contoso.com"}))
    assert r.status == 200, r
    v = r.json
    assert v["displayName"] == "Flagged"
    assert v["name"]["givenName"] == "Flag"
    assert v["name"]["familyName"] == "Ged"
    assert "name.givenName" not in v
    assert v[ENT]["employeeNumber"] == "777"
    assert v[ENT]["department"] == "R&D"
    assert {"type": "other", "value": "other@contoso.com"} in v["emails"]
    # Nested no-path replace works too.
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "value": {"name": {"familyName": "Nested"}}}))
    assert r.status == 200 and r.json["name"]["familyName"] == "Nested"
    assert r.json["name"]["givenName"] == "Flag"


def test_patch_errors_and_atomicity(env):
    u = create(env)
    before = call(env, "GET", f"/scim/v2/Users/{u['id']}").json
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "displayName", "value": "Half"},
        {"op": "Replace", "path": "noSuchAttribute", "value": "x"}))
    assert_error(r, 400, "invalidPath")
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "displayName", "value": "Half"},
        {"op": "Remove", "path": "userName"}))
    assert_error(r, 400, "mutability")
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Frobnicate", "path": "displayName", "value": "x"}))
    assert_error(r, 400)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "emails[type eq ]", "value": "x"}))
    assert_error(r, 400)
    assert call(env, "GET", f"/scim/v2/Users/{u['id']}").json == before


def test_patch_username_to_a_taken_one_is_409(env):
    a = create(env)
    b = create(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{b['id']}", ops(
        {"op": "Replace", "path": "userName",
         "value": a["userName"].upper()}))
    assert_error(r, 409, "uniqueness")


def test_empty_or_missing_operations_is_a_noop(env):
    u = create(env)
    for body in ({"schemas": [PATCHOP], "Operations": []},
                 {"schemas": [PATCHOP]}):
        r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", body)
        assert r.status == 200, r
        assert r.json["meta"]["version"] == 'W/"1"'


# --- 4.4 Disable / re-enable -------------------------------------------------

@pytest.mark.parametrize("off,on", [("False", "True"), ("false", "true"),
                                    (False, True)])
def test_disable_and_reenable(env, off, on):
    u = create(env)
    v0 = policy_version(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "active", "value": off}))
    assert r.status == 200, r
    assert r.json["active"] is False
    assert policy_version(env) > v0
    # Still readable by id and by filter (validator "Disable User").
    assert call(env, "GET", f"/scim/v2/Users/{u['id']}").json["active"] \
        is False
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q(f'userName eq "{u["userName"]}"'))
    assert r.json["totalResults"] == 1
    assert r.json["Resources"][0]["active"] is False
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q(f'active eq false and userName eq "{u["userName"]}"'))
    assert r.json["totalResults"] == 1
    ev = env.db.sql("SELECT kind FROM revocation_events WHERE principal_id "
                    f"= '{u['id']}'").split()
    assert ev == ["user.disabled"]
    rec = env.db.sql("SELECT record FROM policy_changes WHERE record->>'id' "
                     f"= '{u['id']}' ORDER BY version DESC LIMIT 1")
    assert json.loads(rec)["active"] is False
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "active", "value": on}))
    assert r.status == 200 and r.json["active"] is True
    assert env.db.sql("SELECT active FROM users WHERE id = "
                      f"'{u['id']}'").strip() == "t"


def test_periodic_noop_active_true_changes_nothing(env):
    u = create(env)
    v0, a0 = policy_version(env), audit_count(env)
    for value in ("True", True, "true"):
        r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
            {"op": "Replace", "path": "active", "value": value}))
        assert r.status == 200, r
        assert r.json["meta"]["version"] == 'W/"1"'
        assert r.json["meta"]["lastModified"] == u["meta"]["lastModified"]
    assert policy_version(env) == v0
    assert audit_count(env) == a0


def test_non_identity_change_does_not_bump_policy_version(env):
    u = create(env)
    v0 = policy_version(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "title", "value": "Boss"}))
    assert r.status == 200 and r.json["title"] == "Boss"
    assert policy_version(env) == v0
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "externalId", "value": "new-oid"}))
    assert r.status == 200
    assert policy_version(env) == v0 + 1
    rec = json.loads(env.db.sql(
        "SELECT record FROM policy_changes WHERE version = "
        f"{v0 + 1}").strip())
    assert rec["kind"] == "user" and rec["externalId"] == "new-oid"


# --- 4.5 Delete ---------------------------------------------------------------

def test_delete_tombstones_and_allows_recreate(env):
    u = create(env, "Gone.User@contoso.com")
    r = call(env, "DELETE", f"/scim/v2/Users/{u['id']}")
    assert r.status == 204 and r.body == b""
    assert_error(call(env, "GET", f"/scim/v2/Users/{u['id']}"), 404)
    assert_error(call(env, "DELETE", f"/scim/v2/Users/{u['id']}"), 404)
    assert_error(call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": "active", "value": "False"})), 404)
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('userName eq "gone.user@contoso.com"'))
    assert r.json["totalResults"] == 0
    row = env.db.sql("SELECT deleted_at IS NOT NULL FROM users WHERE id = "
                     f"'{u['id']}'").strip()
    assert row == "t"
    ev = env.db.sql("SELECT kind FROM revocation_events WHERE principal_id "
                    f"= '{u['id']}'").split()
    assert ev == ["user.deleted"]
    again = create(env, "gone.user@contoso.com")
    assert again["id"] != u["id"]


# --- errors -------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/scim/v2/Users/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
    "/scim/v2/Users/not-a-uuid",
    "/scim/v2/Users/%27%20OR%201=1",
    "/scim/v2/Users/" + "a" * 300,
])
def test_unknown_or_malformed_ids_are_404(env, path):
    assert_error(call(env, "GET", path), 404)
    assert_error(call(env, "DELETE", path), 404)
    assert_error(call(env, "PATCH", path, ops(
        {"op": "Replace", "path": "active", "value": False})), 404)
    assert_error(call(env, "PUT", path, entra_user("x@y.z")), 404)


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b"",
                                  b'{"userName": "a", "userName": "b"}'])
def test_malformed_json_is_400_invalid_syntax(env, body):
    assert_error(call(env, "POST", "/scim/v2/Users", body), 400,
                 "invalidSyntax")
    u = create(env)
    assert_error(call(env, "PATCH", f"/scim/v2/Users/{u['id']}", body), 400,
                 "invalidSyntax")


@pytest.mark.parametrize("flt", [
    'userName eq "unterminated',
    "userName eq",
    'userName xx "a"',
    'noSuchAttr eq "a"',
    "(" * 200 + 'userName eq "a"' + ")" * 200,
    "not (" * 20 + 'userName eq "a"' + ")" * 20,
    " or ".join(["id pr"] * 70),
    'emails[type eq "work"',
    'active gt true',
    "userName eq \"a\" and",
], ids=lambda f: f[:40])
def test_hostile_filters_are_400_invalid_filter(env, flt):
    r = call(env, "GET", "/scim/v2/Users?filter=" + q(flt))
    assert_error(r, 400, "invalidFilter")


def test_injection_shaped_filter_values_are_just_values(env):
    for v in ("x' OR '1'='1", 'x" OR 1=1 --', "%", "_", "a'; DROP "
              "TABLE users; --"):
        r = call(env, "GET", "/scim/v2/Users?filter=" +
                 q('userName eq "' + v.replace('"', '\\"') + '"'))
        assert r.status == 200, (v, r)
        assert r.json["totalResults"] == 0
    r = call(env, "GET", "/scim/v2/Users?filter=" + q('userName co "%"'))
    assert r.status == 200 and r.json["totalResults"] == 0
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('userName eq "' + "a" * 1500 + '"'))
    assert r.status == 200 and r.json["totalResults"] == 0
    # Longer than Kore's request-line limit: refused before parsing.
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('userName eq "' + "a" * 5000 + '"'))
    assert r.status == 414


def test_bad_query_parameters(env):
    for qs in ("startIndex=abc", "count=1x", "sortBy=noSuch",
               "sortOrder=sideways", "filter=%zz", "filter=a%00b"):
        r = call(env, "GET", "/scim/v2/Users?" + qs)
        assert_error(r, 400)


def test_huge_body_is_413(env):
    body = json.dumps(entra_user("big@contoso.com",
                                 displayName="x" * (5 * 1024 * 1024)))
    r = call(env, "POST", "/scim/v2/Users", body)
    assert_error(r, 413)


def test_wrong_methods_are_405(env):
    assert_error(call(env, "PUT", "/scim/v2/Users", {}), 405)
    u = create(env)
    assert_error(call(env, "POST", f"/scim/v2/Users/{u['id']}", {}), 405)


# --- 4.7 listing --------------------------------------------------------------

def test_pagination_over_12_users_with_count_5(env):
    prefix = "pg" + uuid.uuid4().hex[:6]
    ids = [create(env, f"{prefix}-{i:02d}@contoso.com")["id"]
           for i in range(12)]
    flt = "filter=" + q(f'userName sw "{prefix}"')
    seen = []
    for start, expect in ((1, 5), (6, 5), (11, 2), (16, 0)):
        r = call(env, "GET", f"/scim/v2/Users?{flt}&startIndex={start}"
                 "&count=5")
        assert r.status == 200, r
        b = r.json
        assert b["totalResults"] == 12
        assert b["startIndex"] == start
        assert b["itemsPerPage"] == expect == len(b["Resources"])
        seen += [x["id"] for x in b["Resources"]]
    assert seen == ids          # stable order: creation order
    r = call(env, "GET", f"/scim/v2/Users?{flt}&count=0")
    assert r.json["totalResults"] == 12 and r.json["Resources"] == []
    r = call(env, "GET", f"/scim/v2/Users?{flt}&startIndex=0&count=-3")
    assert r.json["startIndex"] == 1 and r.json["itemsPerPage"] == 0
    r = call(env, "GET", f"/scim/v2/Users?{flt}&count=100000")
    assert r.json["itemsPerPage"] == 12
    r = call(env, "GET", f"/scim/v2/Users?{flt}&sortBy=userName"
             "&sortOrder=descending&count=3")
    assert [x["id"] for x in r.json["Resources"]] == ids[::-1][:3]
    r = call(env, "GET", f"/scim/v2/Users?{flt}&sortBy=meta.created"
             "&sortOrder=Ascending&startIndex=12")
    assert [x["id"] for x in r.json["Resources"]] == ids[11:]


def test_list_count_is_capped_at_1000(env):
    r = call(env, "GET", "/scim/v2/Users?count=5000")
    assert r.status == 200
    assert r.json["itemsPerPage"] <= 1000


def test_attributes_and_excluded_attributes(env):
    u = create(env)
    base = f"/scim/v2/Users/{u['id']}"
    r = call(env, "GET", base + "?attributes=userName,emails")
    assert set(r.json) == {"schemas", "id", "meta", "userName", "emails"}
    r = call(env, "GET", base + "?attributes=" + q('emails[type eq "work"]'))
    assert "emails" in r.json and "userName" not in r.json
    r = call(env, "GET", base + "?excludedAttributes=emails,name," + ENT)
    assert "emails" not in r.json and "name" not in r.json
    assert ENT not in r.json and r.json["userName"] == u["userName"]
    r = call(env, "GET", "/scim/v2/Users?attributes=userName&filter=" +
             q(f'userName eq "{u["userName"]}"'))
    assert set(r.json["Resources"][0]) == {"schemas", "id", "meta",
                                           "userName"}


# --- PUT, ETags ---------------------------------------------------------------

def test_put_replaces_and_keeps_id_and_created(env):
    u = create(env)
    time.sleep(0.01)
    body = {"schemas": [USER], "userName": u["userName"],
            "displayName": "Put Name", "active": False,
            "id": "ignored", "meta": {"created": "1999-01-01T00:00:00Z"}}
    r = call(env, "PUT", f"/scim/v2/Users/{u['id']}", body)
    assert r.status == 200, r
    v = r.json
    assert v["id"] == u["id"]
    assert v["meta"]["created"] == u["meta"]["created"]
    assert v["meta"]["lastModified"] > u["meta"]["lastModified"]
    assert v["displayName"] == "Put Name" and v["active"] is False
    assert "emails" not in v and ENT not in v
    ev = env.db.sql("SELECT kind FROM revocation_events WHERE principal_id "
                    f"= '{u['id']}'").split()
    assert ev == ["user.disabled"]
    body["userName"] = ""
    assert_error(call(env, "PUT", f"/scim/v2/Users/{u['id']}", body), 400,
                 "invalidValue")


def test_if_match_and_if_none_match(env):
    u = create(env)
    path = f"/scim/v2/Users/{u['id']}"
    r = call(env, "PATCH", path, ops(
        {"op": "Replace", "path": "title", "value": "x"}),
        headers={"If-Match": 'W/"7"'})
    assert_error(r, 412)
    r = call(env, "PATCH", path, ops(
        {"op": "Replace", "path": "title", "value": "x"}),
        headers={"If-Match": 'W/"1"'})
    assert r.status == 200 and r.headers["etag"] == 'W/"2"'
    r = call(env, "GET", path, headers={"If-None-Match": 'W/"2"'})
    assert r.status == 304 and r.headers["etag"] == 'W/"2"'
    r = call(env, "GET", path, headers={"If-None-Match": 'W/"1"'})
    assert r.status == 200
    assert_error(call(env, "DELETE", path, headers={"If-Match": '"1"'}), 412)
    assert call(env, "DELETE", path, headers={"If-Match": "*"}).status == 204


# --- isolation, audit, concurrency, outage -------------------------------------

def test_directory_isolation(env):
    u = create(env, "Iso.User@contoso.com")
    path = f"/scim/v2/Users/{u['id']}"
    o = env.tok_other
    assert_error(call(env, "GET", path, token=o), 404)
    assert_error(call(env, "PATCH", path, ops(
        {"op": "Replace", "path": "active", "value": False}), token=o), 404)
    assert_error(call(env, "PUT", path, entra_user("iso.user@contoso.com"),
                      token=o), 404)
    assert_error(call(env, "DELETE", path, token=o), 404)
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('userName eq "iso.user@contoso.com"'), token=o)
    assert r.json["totalResults"] == 0
    r = call(env, "GET", "/scim/v2/Users?count=1000", token=o)
    assert u["id"] not in [x["id"] for x in r.json["Resources"]]
    # The same userName is free in the other directory.
    other = create(env, "Iso.User@contoso.com", token=o)
    assert other["id"] != u["id"]
    assert call(env, "GET", path).json["active"] is True
    r = call(env, "GET", "/scim/v2/Users?filter=" +
             q('userName eq "iso.user@contoso.com"'))
    assert [x["id"] for x in r.json["Resources"]] == [u["id"]]


def test_audit_rows_name_actor_request_and_changes(env):
    rid = "audit-" + uuid.uuid4().hex[:8]
    r = call(env, "POST", "/scim/v2/Users",
             entra_user(f"aud-{rid}@contoso.com", password="S3cret!pw"),
             headers={"X-Request-Id": rid})
    assert r.status == 201
    uid = r.json["id"]
    row = env.db.sql("SELECT actor_kind, actor, action, resource_type, "
                     "resource_id, summary FROM audit_log WHERE request_id "
                     f"= '{rid}'").strip().split("|")
    assert row[:5] == ["token", "entra", "scim.user.create", "User", uid]
    assert "S3cret" not in row[5] and "password" not in row[5]
    assert json.loads(row[5])["userName"]["after"] == f"aud-{rid}@contoso.com"
    assert "S3cret" not in env.db.sql("SELECT doc::text FROM users WHERE "
                                      f"id = '{uid}'")
    rid2 = rid + "-p"
    call(env, "PATCH", f"/scim/v2/Users/{uid}", ops(
        {"op": "Replace", "path": "displayName", "value": "Audited"}),
        headers={"X-Request-Id": rid2})
    s = json.loads(env.db.sql("SELECT summary FROM audit_log WHERE "
                              f"request_id = '{rid2}' AND action = "
                              "'scim.user.patch'"))
    assert s == {"displayName": {"before": f"Test aud-{rid}@contoso.com",
                                 "after": "Audited"}}
    rid3 = rid + "-d"
    call(env, "DELETE", f"/scim/v2/Users/{uid}",
         headers={"X-Request-Id": rid3})
    assert env.db.sql("SELECT action FROM audit_log WHERE request_id = "
                      f"'{rid3}'").strip() == "scim.user.delete"


def test_parallel_creates_of_one_username(env):
    name = f"race-{uuid.uuid4().hex[:8]}@contoso.com"

    def one(i):
        return call(env, "POST", "/scim/v2/Users",
                    entra_user(name.upper() if i % 2 else name)).status

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(one, range(16)))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 15, statuses


def test_parallel_patches_of_one_user_serialise(env):
    u = create(env)

    def one(i):
        return call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
            {"op": "Add", "path": f"emails[type eq \"t{i}\"].value",
             "value": f"e{i}@contoso.com"})).status

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        statuses = list(ex.map(one, range(10)))
    assert statuses == [200] * 10
    v = call(env, "GET", f"/scim/v2/Users/{u['id']}").json
    assert len(v["emails"]) == 11
    assert v["meta"]["version"] == 'W/"11"'


def test_database_outage_is_503_with_retry_after(env):
    db = Database()
    tok = db.token("scim")
    s = Server(db, workers=1)
    try:
        r = s.request("GET", "/scim/v2/Users", token=tok)
        assert r.status == 200
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT 0")
        db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{db.name}' AND pid <> pg_backend_pid()")
        time.sleep(0.3)
        for method, path, body in (
                ("GET", "/scim/v2/Users", None),
                ("POST", "/scim/v2/Users", entra_user("o@contoso.com"))):
            r = s.request(method, path, body=body, token=tok,
                          content_type=CTYPE)
            assert_error(r, 503)
            assert r.headers["retry-after"] == "1"
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT -1")
        deadline = time.time() + 10
        while time.time() < deadline:
            r = s.request("POST", "/scim/v2/Users",
                          body=entra_user("o@contoso.com"), token=tok,
                          content_type=CTYPE)
            if r.status == 201:
                break
            time.sleep(0.3)
        assert r.status == 201, r
    finally:
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT -1")
        s.stop()
        db.drop()


# --- more of section 7 ----------------------------------------------------------

def test_manager_as_bare_string_in_post_and_explicit_nulls(env):
    mgr = create(env)
    body = entra_user(f"m-{uuid.uuid4().hex[:8]}@contoso.com",
                      nickName=None, addresses=None)
    body[ENT] = {"manager": mgr["id"], "department": None}
    r = call(env, "POST", "/scim/v2/Users", body)
    assert r.status == 201, r
    assert r.json[ENT] == {"manager": {"value": mgr["id"]}}
    assert "nickName" not in r.json and "addresses" not in r.json


def test_several_ops_on_one_complex_attribute_and_lowercase_key(env):
    u = create(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", {
        "schemas": [PATCHOP], "operations": [
            {"op": "Replace", "path": "name.givenName", "value": "G"},
            {"op": "Replace", "path": "name.familyName", "value": "F"},
            {"op": "Replace", "path": "name.formatted", "value": "G F"},
            {"op": "Replace", "path": 'emails[type eq "work"].value',
             "value": "w@contoso.com"},
            {"op": "Replace", "path": 'emails[type eq "work"].primary',
             "value": "True"}]})
    assert r.status == 200, r
    assert r.json["name"] == {"formatted": "G F", "familyName": "F",
                              "givenName": "G"}
    assert r.json["emails"] == [{"value": "w@contoso.com", "type": "work",
                                 "primary": True}]


def test_null_and_empty_updates_unassign(env):
    u = create(env)
    for value in ("", None):
        r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
            {"op": "Replace", "path": "displayName", "value": value},
            {"op": "Replace", "path": "preferredLanguage", "value": value},
            {"op": "Replace", "path": f"{ENT}:department", "value": value}))
        assert r.status == 200, r
        assert "displayName" not in r.json
        assert "preferredLanguage" not in r.json
        assert "department" not in r.json.get(ENT, {})


def test_historic_dotted_extension_path_is_a_clear_400(env):
    u = create(env)
    r = call(env, "PATCH", f"/scim/v2/Users/{u['id']}", ops(
        {"op": "Replace", "path": f"{ENT}.department", "value": "x"}))
    body = assert_error(r, 400)
    assert body["scimType"] in ("invalidPath", "invalidFilter")


def test_filters_on_sub_attributes_urns_and_dates(env):
    u = create(env, externalId=f"f-{uuid.uuid4().hex[:8]}")
    ext = u["externalId"]
    for flt, hit in (
            (f'externalId eq "{ext}" and name.familyName eq "user"', True),
            (f'externalId eq "{ext}" and {ENT}:department eq "Sales"',
             True),
            (f'externalId eq "{ext}" and {ENT}:department eq "sales"',
             True),
            (f'externalId eq "{ext}" and not (active eq true)', False),
            (f'externalId eq "{ext}" and meta.created gt '
             '"2000-01-01T00:00:00Z"', True),
            (f'externalId eq "{ext}" and meta.lastModified lt '
             '"2000-01-01T00:00:00Z"', False),
            (f'externalId eq "{ext}" and (title pr or nickName pr)', False),
            (f'externalId eq "{ext}" and phoneNumbers pr', True),
            (f'externalId eq "{ext}" and emails co "@CONTOSO"', True),
            (f'externalId eq "{ext}" and userName ew ".com"', True),
            (f'externalId eq "{ext}" and id eq "{u["id"]}"', True),
            (f'externalId eq "{ext}" and id eq "nope"', False)):
        r = call(env, "GET", "/scim/v2/Users?filter=" + q(flt))
        assert r.status == 200, (flt, r)
        assert r.json["totalResults"] == (1 if hit else 0), flt
