"""SCIM discovery endpoints (RFC 7644 section 4) on a real server:
/ServiceProviderConfig and Microsoft's /serviceConfiguration alias,
/Schemas[/{urn}], /ResourceTypes[/{id}].  Content, read-only methods,
token scopes, hostile paths, and that the advertised limits are the
configured ones."""
import concurrent.futures
import json
import urllib.parse

import pytest


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
BODY_MAX = 65536
CHARACTERISTICS = {
    "type": {"string", "boolean", "decimal", "integer", "dateTime",
             "reference", "binary", "complex"},
    "mutability": {"readOnly", "readWrite", "immutable", "writeOnly"},
    "returned": {"always", "never", "default", "request"},
    "uniqueness": {"none", "server", "global"},
}
DISCOVERY = ["/scim/v2/ServiceProviderConfig", "/scim/v2/serviceConfiguration",
             "/scim/v2/Schemas", f"/scim/v2/Schemas/{USER}",
             "/scim/v2/ResourceTypes", "/scim/v2/ResourceTypes/User"]


@pytest.fixture(scope="module")
def meta(make_module_server):
    return make_module_server(
        seed=lambda db: db.ctl("directory", "create", "other"),
        tokens={"scim": "scim",
                "other": {"scopes": "scim", "directory": "other",
                          "name": "other-scim"},
                "gateway": "gateway", "admin": "admin",
                "global_admin": "global_admin"},
        env={"ROLLCALL_BODY_MAX": str(BODY_MAX)})


def get(meta, path, token="scim", **kw):
    return meta.request("GET", path, token=meta.tokens[token], **kw)


def assert_scim_error(r, status):
    assert r.status == status, r
    assert r.headers["content-type"] == "application/scim+json"
    body = r.json
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    return body


def test_service_provider_config(meta):
    r = get(meta, "/scim/v2/ServiceProviderConfig")
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/scim+json"
    c = r.json
    assert c["schemas"] == [SPC]
    assert c["patch"] == {"supported": True}
    assert c["bulk"]["supported"] is False
    assert c["bulk"]["maxOperations"] == 0
    # The advertised payload limit is the configured body limit.
    assert c["bulk"]["maxPayloadSize"] == BODY_MAX
    assert c["filter"] == {"supported": True, "maxResults": 1000}
    assert c["changePassword"] == {"supported": False}
    assert c["sort"] == {"supported": True}
    assert c["etag"] == {"supported": True}
    scheme = c["authenticationSchemes"][0]
    assert scheme["type"] == "oauthbearertoken"
    assert scheme["name"] and scheme["description"]
    assert c["meta"] == {
        "resourceType": "ServiceProviderConfig",
        "location": meta.base + "/scim/v2/ServiceProviderConfig"}


def test_service_configuration_alias_and_path_forms(meta):
    want = get(meta, "/scim/v2/ServiceProviderConfig").json
    for path in ["/scim/v2/serviceConfiguration",
                 "/scim/v2//ServiceProviderConfig",
                 "/scim/v2/ServiceProviderConfig/",
                 "/scim/v2/ServiceProviderConfig?aadOptscim062020",
                 "/scim/v2/ServiceProviderConfig?attributes=patch&count=1"]:
        r = get(meta, path)
        assert r.status == 200, (path, r)
        assert r.json == want, path


def attr_ok(a, sub=False):
    """Every RFC 7643 section 7 characteristic is present and valid."""
    for key, allowed in CHARACTERISTICS.items():
        assert a[key] in allowed, (a["name"], key, a[key])
    for key in ["multiValued", "required", "caseExact"]:
        assert isinstance(a[key], bool), (a["name"], key)
    assert a["description"], a["name"]
    if a["type"] == "reference":
        assert a["referenceTypes"], a["name"]
    if a["type"] == "complex" and not sub:
        assert a["subAttributes"], a["name"]
        for s in a["subAttributes"]:
            assert "subAttributes" not in s, (a["name"], s["name"])
            attr_ok(s, sub=True)
    else:
        assert "subAttributes" not in a, a["name"]


def test_schemas_list(meta):
    r = get(meta, "/scim/v2/Schemas")
    assert r.status == 200, r
    body = r.json
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 3 == len(body["Resources"])
    assert body["startIndex"] == 1 and body["itemsPerPage"] == 3
    assert [s["id"] for s in body["Resources"]] == [USER, ENTERPRISE, GROUP]
    # Microsoft's collection looks for the RFC's description.
    assert b"User Account" in r.body
    for s in body["Resources"]:
        assert s["meta"] == {"resourceType": "Schema",
                             "location": f"{meta.base}/scim/v2/Schemas/{s['id']}"}
        names = [a["name"] for a in s["attributes"]]
        assert len(names) == len(set(names)), s["id"]
        assert "schemas" not in names
        for a in s["attributes"]:
            attr_ok(a)


def by_name(attrs, name):
    return next(a for a in attrs if a["name"] == name)


def test_schema_content_matches_entra_needs(meta):
    user = get(meta, f"/scim/v2/Schemas/{USER}").json
    attrs = user["attributes"]
    un = by_name(attrs, "userName")
    assert (un["required"], un["caseExact"], un["uniqueness"]) == \
        (True, False, "server")
    # Entra's gallery validator looks up every mapped attribute here.
    for name in ["externalId", "active", "displayName", "title", "emails",
                 "name", "addresses", "phoneNumbers", "preferredLanguage",
                 "roles"]:
        by_name(attrs, name)
    emails = by_name(attrs, "emails")
    assert emails["multiValued"] is True
    assert {s["name"] for s in emails["subAttributes"]} >= {
        "value", "type", "primary"}
    assert by_name(attrs, "id")["mutability"] == "readOnly"
    assert by_name(attrs, "groups")["mutability"] == "readOnly"
    pw = by_name(attrs, "password")
    assert (pw["mutability"], pw["returned"]) == ("writeOnly", "never")

    ent = get(meta, f"/scim/v2/Schemas/{ENTERPRISE}").json
    names = {a["name"] for a in ent["attributes"]}
    assert names == {"employeeNumber", "costCenter", "organization",
                     "division", "department", "manager"}
    mgr = by_name(ent["attributes"], "manager")
    assert {s["name"] for s in mgr["subAttributes"]} >= {"value", "$ref"}

    group = get(meta, f"/scim/v2/Schemas/{GROUP}").json
    members = by_name(group["attributes"], "members")
    assert members["multiValued"] is True
    assert by_name(members["subAttributes"], "value")["mutability"] == \
        "immutable"
    assert by_name(group["attributes"], "displayName")["required"] is True


def test_schema_by_id_forms(meta):
    want = get(meta, f"/scim/v2/Schemas/{ENTERPRISE}").json
    quoted = urllib.parse.quote(ENTERPRISE, safe="")
    for path in [f"/scim/v2/Schemas/{quoted}",
                 f"/scim/v2//Schemas//{ENTERPRISE}/",
                 f"/scim/v2/Schemas/{ENTERPRISE.upper()}"]:
        r = get(meta, path)
        assert r.status == 200, (path, r)
        assert r.json == want


@pytest.mark.parametrize("sid", [
    "urn:ietf:params:scim:schemas:core:2.0:Usr",
    "urn:ietf:params:scim:schemas:core:2.0",
    "User",
    "%00",
    "%zz%",
    "%25s%25n",
    "x" * 300,
    "y" * 1800,
])
def test_schema_unknown_is_404(meta, sid):
    r = get(meta, f"/scim/v2/Schemas/{sid}")
    body = assert_scim_error(r, 404)
    assert len(body["detail"]) < 600


def test_resource_types(meta):
    r = get(meta, "/scim/v2/ResourceTypes")
    assert r.status == 200, r
    body = r.json
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 2
    user, group = body["Resources"]
    assert user["endpoint"] == "/Users" and user["id"] == "User"
    assert user["name"] == "User" and user["schema"] == USER
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE,
                                         "required": False}]
    assert group["endpoint"] == "/Groups" and group["schema"] == GROUP
    assert group["meta"] == {
        "resourceType": "ResourceType",
        "location": meta.base + "/scim/v2/ResourceTypes/Group"}
    # Every schema a resource type names is served by /Schemas.
    served = {s["id"] for s in get(meta, "/scim/v2/Schemas").json["Resources"]}
    for rt in (user, group):
        assert rt["schema"] in served
        for ext in rt.get("schemaExtensions", []):
            assert ext["schema"] in served

    assert get(meta, "/scim/v2/ResourceTypes/User").json == user
    assert get(meta, "/scim/v2/ResourceTypes/group/").json == group
    for bad in ["Users", "Nope", "%00", "z" * 1800]:
        assert_scim_error(get(meta, f"/scim/v2/ResourceTypes/{bad}"), 404)


@pytest.mark.parametrize("path", DISCOVERY + [f"/scim/v2/Schemas/{GROUP}/"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only(meta, path, method):
    # Okta's test sends a non-JSON body: the answer is still 405.
    r = meta.request(method, path, body="test\n\n\n",
                     token=meta.tokens["scim"],
                     content_type="application/scim+json")
    body = assert_scim_error(r, 405)
    assert r.headers["allow"] == "GET, HEAD"
    assert method in body["detail"]


def test_head(meta):
    r = meta.request("HEAD", "/scim/v2/Schemas", token=meta.tokens["scim"])
    assert r.status == 200
    assert r.body == b""


@pytest.mark.parametrize("query", ["filter=id+eq+%22x%22", "FILTER=x",
                                   "count=1&filter=", "a=b&filter"])
def test_filter_is_refused(meta, query):
    for path in ["/scim/v2/Schemas", "/scim/v2/ResourceTypes",
                 "/scim/v2/ServiceProviderConfig"]:
        body = assert_scim_error(get(meta, f"{path}?{query}"), 403)
        assert "filter" in body["detail"]
    # Names that merely contain "filter" are other parameters.
    assert get(meta, "/scim/v2/Schemas?filterx=1&xfilter=2").status == 200


def test_tokens_and_scopes(meta):
    for path in DISCOVERY:
        assert_scim_error(meta.request("GET", path), 401)
        assert_scim_error(meta.request("GET", path, token="nope"), 401)
        for other in ["gateway", "admin", "global_admin"]:
            assert_scim_error(get(meta, path, token=other), 403)
    # The documents describe the server, not a directory.
    for path in DISCOVERY:
        assert get(meta, path, token="other").body == \
            get(meta, path).body


def test_concurrent_reads(meta):
    def one(i):
        path = DISCOVERY[i % len(DISCOVERY)]
        r = get(meta, path)
        return r.status, json.loads(r.body) is not None

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(200)))
    assert all(r == (200, True) for r in results)


def test_schemas_describe_what_users_do(meta):
    """Walks /Schemas and checks the server behaves as advertised:
    readWrite attributes are stored and returned, writeOnly/never ones
    are not returned, readOnly ones are not taken from the client, and
    userName's uniqueness and case rules hold."""
    schema = get(meta, f"/scim/v2/Schemas/{USER}").json
    doc = {"schemas": [USER], "id": "client-chosen-id"}
    written = {}
    for a in schema["attributes"]:
        if a["multiValued"] or a["type"] not in ("string", "boolean"):
            continue
        if a["mutability"] in ("readOnly", "immutable"):
            continue
        value = (False if a["type"] == "boolean" else
                 f"v-{a['name']}@Example.COM")
        doc[a["name"]] = written[a["name"]] = value
    assert "userName" in written and "password" in written
    r = meta.request("POST", "/scim/v2/Users", body=doc,
                     token=meta.tokens["scim"])
    assert r.status == 201, r
    created = r.json
    assert created["id"] != "client-chosen-id"
    got = get(meta, f"/scim/v2/Users/{created['id']}").json
    for a in schema["attributes"]:
        if a["name"] not in written:
            continue
        if a["returned"] == "never":
            assert a["name"] not in got, a["name"]
        else:
            assert got.get(a["name"]) == written[a["name"]], a["name"]

    # uniqueness "server", caseExact false: another case is the same name.
    dup = dict(doc, userName=written["userName"].swapcase())
    r = meta.request("POST", "/scim/v2/Users", body=dup,
                     token=meta.tokens["scim"])
    body = assert_scim_error(r, 409)
    assert body["scimType"] == "uniqueness"
    q = urllib.parse.quote(f'userName eq "{written["userName"].upper()}"')
    found = get(meta, f"/scim/v2/Users?filter={q}").json
    assert [u["id"] for u in found["Resources"]] == [created["id"]]
