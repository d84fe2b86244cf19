"""The OpenAPI document (conf/openapi.json) against the server: every
route in conf/routes.conf is documented and every documented path is
routed (the SCIM routes, which RFC 7644 documents, and /healthz, /readyz,
/metrics and the catch-all excepted), every documented method is
answered, the security matches the route's authentication block,
sampled responses match their documented schemas (a small JSON Schema
subset validator below), and the README's API reference lists exactly
the documented operations.  Written against whatever routes exist, so
it keeps passing as endpoints are added to both places."""
import json
import re

import pytest

import seed as S
from conftest import ROOT

DOC = json.loads((ROOT / "conf" / "openapi.json").read_text())
METHODS = ("get", "post", "put", "patch", "delete")
NIL = "00000000-0000-4000-8000-000000000000"
EXCLUDED = {"/healthz", "/readyz", "/metrics", "^/console(/[^/]*)?$"}
AUTH_SCHEMES = {"admin": "adminToken", "gateway": "gatewayToken"}


# --- a JSON Schema subset: $ref, type, required, properties, items, enum,
# additionalProperties (false or a schema).

def resolve(schema):
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node = DOC
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and
    not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value, schema, where="$"):
    """Returns a list of problems (empty when value conforms)."""
    schema = resolve(schema)
    errs = []
    if "type" in schema:
        types = schema["type"]
        types = [types] if isinstance(types, str) else types
        if not any(TYPES[t](value) for t in types):
            return [f"{where}: {json.dumps(value)[:60]} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errs.append(f"{where}: missing required '{name}'")
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            if name in props:
                errs += validate(v, props[name], f"{where}.{name}")
            elif extra is False:
                errs.append(f"{where}: undocumented property '{name}'")
            elif isinstance(extra, dict):
                errs += validate(v, extra, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errs += validate(v, schema["items"], f"{where}[{i}]")
    return errs


def test_validator_catches_what_it_should():
    s = {"type": "object", "required": ["a"], "additionalProperties": False,
         "properties": {"a": {"type": "integer"},
                        "b": {"type": ["string", "null"],
                              "enum": ["x", None]},
                        "c": {"type": "array",
                              "items": {"$ref": "#/components/schemas/"
                                                "AuditProblem"}}}}
    assert validate({"a": 1, "b": None}, s) == []
    assert validate({"a": 1, "b": "x", "c": []}, s) == []
    assert validate({"b": "x"}, s)                       # required
    assert validate({"a": True}, s)                      # bool is no integer
    assert validate({"a": 1.5}, s)
    assert validate({"a": 1, "b": "y"}, s)               # enum
    assert validate({"a": 1, "z": 1}, s)                 # additional
    assert validate({"a": 1, "c": [{"id": 1}]}, s)       # via $ref
    assert validate([], s)
    ok = {"id": 1, "kind": "altered", "message": "m"}
    assert validate({"a": 1, "c": [ok]}, s) == []
    assert validate({"a": 1, "c": [dict(ok, kind="other")]}, s)


# --- the document itself

def operations():
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_document_is_sound():
    assert DOC["openapi"].startswith("3.1")
    seen = set()

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node)
            for v in node.values():
                refs(v)
        elif isinstance(node, list):
            for v in node:
                refs(v)
    refs(DOC)
    schemes = DOC["components"]["securitySchemes"]
    for path, method, op in operations():
        assert op.get("summary"), (path, method)
        assert op.get("responses"), (path, method)
        for req in op.get("security", DOC.get("security", [])):
            assert set(req) <= set(schemes)
        declared = {resolve(p)["name"] for p in op.get("parameters", [])
                    if resolve(p)["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
        names = [resolve(p)["name"] for p in op.get("parameters", [])]
        assert len(names) == len(set(names)), (path, method)
        assert (path, method) not in seen
        seen.add((path, method))


# --- routes

def routes():
    out = []
    for line in (ROOT / "conf" / "routes.conf").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("route"):
            continue
        parts = line.split()
        out.append({"path": parts[1], "handler": parts[2],
                    "auth": parts[3] if len(parts) > 3 else None})
    return out


def route_matches(route, path):
    if route["path"].startswith("^"):
        return re.search(route["path"], path) is not None
    return route["path"] == path


def sample(path, values=None):
    values = values or {}
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), NIL), path)


def first_route(path):
    for r in routes():
        if route_matches(r, path):
            return r
    return None


def documented(route):
    p = route["path"]
    return not (p in EXCLUDED or p == "^/.*$" or p.startswith("^/scim/") or
                p.startswith("/scim/"))


def test_every_route_is_documented():
    samples = [sample(p) for p in DOC["paths"]]
    missing = []
    for r in filter(documented, routes()):
        if r["path"].startswith("^"):
            if not any(route_matches(r, s) for s in samples):
                missing.append(r["path"])
        elif r["path"] not in DOC["paths"]:
            missing.append(r["path"])
    assert missing == [], f"routes missing from conf/openapi.json: {missing}"


def test_every_documented_path_is_routed():
    unrouted = []
    for path in DOC["paths"]:
        r = first_route(sample(path))
        if r is None or r["path"] == "^/.*$":
            unrouted.append(path)
    assert unrouted == [], f"documented but not routed: {unrouted}"


def test_security_matches_route_authentication():
    wrong = []
    for path, method, op in operations():
        r = first_route(sample(path))
        if r is None or r["auth"] not in AUTH_SCHEMES:
            continue
        security = op.get("security", DOC.get("security", []))
        schemes = {name for req in security for name in req}
        if AUTH_SCHEMES[r["auth"]] not in schemes:
            wrong.append((method.upper(), path, r["auth"], schemes))
    assert wrong == []


# --- against a running server

@pytest.fixture(scope="module")
def db(make_module_server):
    return make_module_server.database(seed=lambda d: S.seed(d, grants=True))


def token_for(server, op):
    security = op.get("security", DOC.get("security", []))
    names = [name for req in security for name in req]
    if "adminToken" in names:
        return server.tokens["global_admin"]
    if "gatewayToken" in names:
        return server.tokens["gateway"]
    return None


def streams(op):
    ok = op["responses"].get("200", {}).get("content", {})
    return "text/event-stream" in ok


def test_served_without_auth_as_in_the_repository(server):
    r = server.get("/openapi.json")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json == DOC
    assert server.post("/openapi.json", body={}).status == 405


def test_every_documented_method_is_answered(server):
    """No 405 and no catch-all 404 for anything documented.  Bodies are
    empty objects and ids unknown, so nothing is changed."""
    bad = []
    for path, method, op in operations():
        if streams(op):
            continue
        body = {} if method in ("post", "put", "patch") else None
        r = server.request(method.upper(), sample(path), body=body,
                           token=token_for(server, op))
        if r.status == 405 or (r.status == 404 and b"no such endpoint" in
                               r.body):
            bad.append((method.upper(), path, r.status))
    assert bad == []


def check(server, method, path, docpath, body=None, token=None):
    op = DOC["paths"][docpath][method]
    r = server.request(method.upper(), path, body=body,
                       token=token or token_for(server, op))
    doc = op["responses"].get(str(r.status))
    assert doc is not None, \
        f"{method.upper()} {path}: status {r.status} undocumented: {r}"
    content = doc.get("content", {})
    if "application/json" not in content:
        return r
    assert r.headers["content-type"].startswith("application/json"), r
    problems = validate(r.json, content["application/json"]["schema"])
    assert problems == [], f"{method.upper()} {path}: {problems}"
    return r


VALUES = {"slug": "github", "name": "list_repos", "path": "x"}
IDS = {"/admin/v1/users/": S.ALICE, "/admin/v1/groups/": S.SENIORS,
       "/admin/v1/rules/": S.RULE_ALLOW, "/admin/v1/grants/": S.GRANT_CAROL,
       "/admin/v1/principals/": S.ALICE}


def real_path(path):
    values = dict(VALUES)
    for prefix, value in IDS.items():
        if path.startswith(prefix):
            values["id"] = value
    return sample(path, values)


def test_every_get_answers_as_documented(server):
    """Every documented GET (streams aside), on real data, matches the
    schema documented for the status it answered."""
    n = 0
    for path, method, op in operations():
        if method != "get" or streams(op):
            continue
        if op["responses"].get("200", {}).get("content", {}).get(
                "application/x-ndjson"):
            continue
        check(server, "get", real_path(path), path)
        n += 1
    assert n >= 20


def test_sampled_responses_match(server, db):
    g = server.tokens["global_admin"]
    # Pages with a cursor, filters, errors and unknown ids.
    r = check(server, "get", "/admin/v1/users?limit=1", "/admin/v1/users")
    assert isinstance(r.json["next_cursor"], str)
    check(server, "get", "/admin/v1/users?limit=0", "/admin/v1/users")
    check(server, "get", "/admin/v1/users?sort=nope", "/admin/v1/users")
    check(server, "get", f"/admin/v1/users/{NIL}", "/admin/v1/users/{id}")
    check(server, "get", f"/admin/v1/groups/{S.SENIORS}/members?limit=1",
          "/admin/v1/groups/{id}/members")
    check(server, "get", "/admin/v1/audit?order=asc&limit=2",
          "/admin/v1/audit")
    check(server, "get", "/admin/v1/audit?cursor=forged.AAAA",
          "/admin/v1/audit")
    check(server, "get", "/admin/v1/audit/verify", "/admin/v1/audit/verify",
          token=server.tokens["admin"])                      # 403
    r = check(server, "post", "/admin/v1/tokens", "/admin/v1/tokens",
              body={"name": "oa", "scopes": "admin", "directory": "default"})
    assert r.status == 201
    check(server, "post", "/admin/v1/tokens", "/admin/v1/tokens",
          body={"name": ""})
    r = check(server, "post", "/admin/v1/directories",
              "/admin/v1/directories", body={"name": "oa-dir"})
    assert r.status == 201
    check(server, "post", "/admin/v1/directories", "/admin/v1/directories",
          body={"name": "oa-dir"})                           # 409
    check(server, "delete", f"/admin/v1/tokens/{NIL}", "/admin/v1/tokens/{id}")
    # Gateway decisions.
    subj = {"userName": "alice@contoso.com"}
    check(server, "post", "/v1/session/check", "/v1/session/check",
          body={"subject": subj})
    for tool in ("create_pull_request", "delete_branch", "merge_pull_request",
                 "no_such_tool"):
        check(server, "post", "/v1/authorize", "/v1/authorize",
              body={"subject": subj, "server": "github", "tool": tool})
    check(server, "post", "/v1/authorize/batch", "/v1/authorize/batch",
          body={"subject": subj, "items": [
              {"server": "github", "tool": "list_repos"},
              {"server": "jira", "tool": "create_issue"}]})
    check(server, "post", "/v1/tools/filter", "/v1/tools/filter",
          body={"subject": subj, "server": "github",
                "tools": ["list_repos", "delete_branch"]})
    check(server, "post", "/access/v1/evaluation", "/access/v1/evaluation",
          body={"subject": {"type": "user", "id": "alice@contoso.com"},
                "action": {"name": "call"},
                "resource": {"type": "mcp_tool", "id": "github/list_repos"}})
    check(server, "post", "/admin/v1/explain", "/admin/v1/explain",
          body={"subject": S.ALICE, "server": "github",
                "tool": "delete_branch"})
    check(server, "post", f"/admin/v1/principals/{S.CAROL}:revoke-all",
          "/admin/v1/principals/{id}:revoke-all")
    check(server, "post", f"/admin/v1/principals/{S.CAROL}:restore",
          "/admin/v1/principals/{id}:restore")
    check(server, "get", "/admin/v1/audit?type=principal.*",
          "/admin/v1/audit", token=g)


# --- the README's API reference

def readme_operations():
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- admin:begin")
    end = text.index("<!-- admin:end -->")
    ops = set()
    for m in re.finditer(r"^\| `(GET|POST|PUT|PATCH|DELETE)` \| `([^`]+)` \|",
                         text[start:end], re.M):
        ops.add((m.group(1).lower(), m.group(2)))
    return ops


def test_readme_reference_matches_the_document():
    doc = {(m, p) for p, m, _ in operations()}
    readme = readme_operations()
    assert sorted(doc - readme) == [], "documented, not in the README"
    assert sorted(readme - doc) == [], "in the README, not documented"
