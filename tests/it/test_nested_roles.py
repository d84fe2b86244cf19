"""Nested groups and app-role rules, end to end: SCIM accepts a group as
a group member (alongside users, in one PATCH) and shows it as type
Group; the policy index follows the nesting (cycles once, depth
limited, beyond the limit deny); a removal or a disable anywhere in the
chain denies at once; rules may name a SCIM app role; explain, the CLI
and simulate show the path."""
import json
import time
import uuid

import pytest


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim(server, method, path, body=None):
    return server.request(method, "/scim/v2" + path, body=body,
                          token=server.tokens["scim"])


def admin(server, method, path, body=None, token="admin"):
    return server.request(method, "/admin/v1" + path, body=body,
                          token=server.tokens[token])


def new_user(server, roles=None):
    body = {"schemas": [USER], "active": True,
            "userName": f"n-{uuid.uuid4().hex[:10]}@contoso.com"}
    if roles is not None:
        body["roles"] = roles
    r = scim(server, "POST", "/Users", body)
    assert r.status == 201, r
    return r.json["id"]


def new_group(server, members=()):
    r = scim(server, "POST", "/Groups", {
        "schemas": [GROUP], "displayName": f"g-{uuid.uuid4().hex[:10]}",
        "members": [{"value": m} for m in members]})
    assert r.status == 201, r
    return r.json["id"]


def members_op(server, gid, op, ids):
    return scim(server, "PATCH", f"/Groups/{gid}", {
        "schemas": [PATCH], "Operations": [
            {"op": op, "path": "members",
             "value": [{"value": i} for i in ids]}]})


def set_active(server, uid, active):
    r = scim(server, "PATCH", f"/Users/{uid}", {
        "schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": active}]})
    assert r.status in (200, 204), r


def decide(server, uid, tool):
    r = server.post("/v1/authorize", token=server.tokens["gateway"],
                    body={"subject": uid, "server": "nest", "tool": tool})
    assert r.status == 200, r
    return r.json


def revocations(server, uid):
    """membership.removed events naming uid (gateways drop caches)."""
    return int(server.db.sql(
        "SELECT count(*) FROM revocation_events WHERE kind = "
        f"'membership.removed' AND principal_id = '{uid}'"))


def rule(server, subject, tool, effect):
    r = admin(server, "POST", "/rules", {"subject": subject,
              "server": "nest", "selector": tool, "effect": effect})
    assert r.status == 201, r
    return r.json["id"]


@pytest.fixture(scope="module")
def world(server):
    r = admin(server, "POST", "/servers", {"slug": "nest", "name": "Nest"},
              token="global_admin")
    assert r.status == 201, r
    for t in ("read", "write", "deep", "admin_op", "cyc"):
        r = admin(server, "POST", "/servers/nest/tools", {"name": t},
                  token="global_admin")
        assert r.status == 201, r
    return server


def test_patch_adding_user_and_group_keeps_both(world):
    server = world
    u = new_user(server)
    child = new_group(server)
    parent = new_group(server)
    r = members_op(server, parent, "add", [u, child])
    assert r.status in (200, 204), r
    r = scim(server, "GET", f"/Groups/{parent}")
    assert r.status == 200, r
    got = {(m["value"], m["type"]) for m in r.json["members"]}
    assert got == {(u, "User"), (child, "Group")}
    # An unknown id still refuses the whole PATCH, nothing half-applied.
    other = new_user(server)
    r = members_op(server, parent, "add", [other, str(uuid.uuid4())])
    assert r.status == 400, r
    r = scim(server, "GET", f"/Groups/{parent}")
    assert other not in {m["value"] for m in r.json["members"]}
    # A group cannot contain itself.
    r = members_op(server, parent, "add", [parent])
    assert r.status == 400, r
    # Removing the nested group removes only it.
    r = members_op(server, parent, "remove", [child])
    assert r.status in (200, 204), r
    r = scim(server, "GET", f"/Groups/{parent}")
    assert {(m["value"], m["type"]) for m in r.json["members"]} == \
        {(u, "User")}


def test_chain_allow_explain_removal_and_disable(world):
    server = world
    u = new_user(server)
    a = new_group(server, [u])
    b = new_group(server)
    c = new_group(server)
    assert members_op(server, b, "add", [a]).status in (200, 204)
    assert members_op(server, c, "add", [b]).status in (200, 204)
    rid = rule(server, {"kind": "group", "id": c}, "read", "allow")
    d = decide(server, u, "read")
    assert d["decision"] == "allow" and d["group_id"] == c, d
    # Explain: user -> a -> b -> c -> rule.
    r = admin(server, "POST", "/explain", {"subject": u, "server": "nest",
              "tool": "read"})
    assert r.status == 200, r
    m = [x for x in r.json["matching_rules"] if x["rule_id"] == rid]
    assert m and m[0]["path"] == [f"principal:{u}", f"group:{a}",
                                  f"group:{b}", f"group:{c}",
                                  f"rule:{rid}"], r.json
    # The CLI shows the same path.
    out = json.loads(server.db.ctl("explain", u, "nest", "read",
                                   "--json").stdout)
    m = [x for x in out["matching_rules"] if x["rule_id"] == rid]
    assert m and m[0]["path"] == f"group {a} -> group {b} -> group {c}"
    # Effective policy names the group the allow comes through.
    r = admin(server, "GET",
              f"/principals/{u}/effective-policy?server=nest")
    assert r.status == 200, r
    tools = {t["tool"]: t for t in r.json["tools"]}
    assert tools["read"]["decision"] == "allow", tools["read"]
    assert tools["read"]["group_id"] == c, tools["read"]
    assert tools["read"]["path"] == [f"principal:{u}", f"group:{a}",
                                     f"group:{b}", f"group:{c}",
                                     f"rule:{rid}"], tools["read"]
    # The edge farthest from the user goes: denied at once, and the
    # revocation feed names the user so gateways drop cached answers.
    before = revocations(server, u)
    assert members_op(server, c, "remove", [b]).status in (200, 204)
    assert decide(server, u, "read")["reason_code"] == "no_matching_rule"
    assert revocations(server, u) == before + 1
    assert members_op(server, c, "add", [b]).status in (200, 204)
    assert decide(server, u, "read")["decision"] == "allow"
    # The middle group deleted.
    assert scim(server, "DELETE", f"/Groups/{b}").status == 204
    assert decide(server, u, "read")["decision"] == "deny"
    # Disable deep in a (new) chain: denied at once.
    b2 = new_group(server, [a])
    assert members_op(server, c, "add", [b2]).status in (200, 204)
    assert decide(server, u, "read")["decision"] == "allow"
    set_active(server, u, False)
    d = decide(server, u, "read")
    assert d["decision"] == "deny"
    assert d["reason_code"] == "principal_inactive"
    set_active(server, u, True)
    assert decide(server, u, "read")["decision"] == "allow"
    # A deny on a nested group wins over the allow.
    rule(server, {"kind": "group", "id": b2}, "read", "deny")
    d = decide(server, u, "read")
    assert d["reason_code"] == "denied_by_rule" and d["group_id"] == b2


def test_cycle(world):
    server = world
    u = new_user(server)
    a = new_group(server, [u])
    b = new_group(server)
    assert members_op(server, b, "add", [a]).status in (200, 204)
    assert members_op(server, a, "add", [b]).status in (200, 204)
    rule(server, {"kind": "group", "id": b}, "cyc", "allow")
    assert decide(server, u, "cyc")["decision"] == "allow"
    r = admin(server, "POST", "/explain", {"subject": u, "server": "nest",
              "tool": "cyc"})
    assert r.status == 200, r
    assert members_op(server, b, "remove", [a]).status in (200, 204)
    assert decide(server, u, "cyc")["decision"] == "deny"


def test_depth_limit_fails_closed(world):
    server = world
    u = new_user(server)
    chain = [new_group(server, [u])]
    for _ in range(9):          # ten levels; the default limit is 8
        g = new_group(server)
        assert members_op(server, g, "add", [chain[-1]]).status in (200,
                                                                      204)
        chain.append(g)
    rule(server, {"kind": "group", "id": chain[2]}, "deep", "allow")
    d = decide(server, u, "deep")
    assert d["decision"] == "deny" and d["reason_code"] == "internal_error"
    r = server.get("/metrics")
    line = [x for x in r.body.decode().splitlines()
            if x.startswith("rollcall_policy_nesting_denials_total")]
    assert line and int(line[0].split()[-1]) >= 1, line
    assert server.logtext().count("go beyond group_nesting_depth") <= 4
    # Cut the chain within the limit: decidable again, allowed.
    assert members_op(server, chain[7], "remove",
                      [chain[6]]).status in (200, 204)
    assert decide(server, u, "deep")["decision"] == "allow"


def test_role_rules(world):
    server = world
    u = new_user(server, roles=[{"value": "mcp.admin", "primary": False}])
    v = new_user(server, roles=[{"value": "mcp.reader"}])
    rid = rule(server, {"kind": "role", "value": "mcp.admin"}, "admin_op",
               "allow")
    r = admin(server, "GET", f"/rules/{rid}")
    assert r.json["subject"] == {"kind": "role", "value": "mcp.admin"}
    d = decide(server, u, "admin_op")
    assert d["decision"] == "allow" and d["role"] == "mcp.admin", d
    assert decide(server, v, "admin_op")["decision"] == "deny"
    rule(server, {"kind": "role", "value": "mcp.reader"}, "write", "deny")
    rule(server, "everyone", "write", "allow")
    assert decide(server, u, "write")["decision"] == "allow"
    d = decide(server, v, "write")
    assert d["reason_code"] == "denied_by_rule" and d["role"] == "mcp.reader"
    # Explain shows the role path.
    r = admin(server, "POST", "/explain", {"subject": u, "server": "nest",
              "tool": "admin_op"})
    m = [x for x in r.json["matching_rules"] if x["rule_id"] == rid]
    assert m[0]["path"] == [f"principal:{u}", "role:mcp.admin",
                            f"rule:{rid}"]
    # The role taken away by SCIM: denied at once, and announced.
    before = revocations(server, u)
    r = scim(server, "PATCH", f"/Users/{u}", {"schemas": [PATCH],
             "Operations": [{"op": "remove", "path": "roles"}]})
    assert r.status in (200, 204), r
    assert decide(server, u, "admin_op")["decision"] == "deny"
    assert revocations(server, u) == before + 1
    # rollcallctl creates role rules through the same store code.
    r = server.db.ctl("rule", "create", "--set", "directory=default",
                      "--set", "server=nest", "--set",
                      'subject={"kind":"role","value":"mcp.other"}',
                      "--set", "selector=read", "--set", "effect=deny",
                      "--json", check=False)
    assert r.returncode == 0, r.stderr
    assert '"role"' in r.stdout and "mcp.other" in r.stdout, r.stdout
    # Simulate predicts a role rule's reach.
    r = server.post("/admin/v1/rules:simulate",
                    token=server.tokens["admin"], body={
                        "op": "add", "rule": {
                            "subject": {"kind": "role",
                                        "value": "mcp.reader"},
                            "server": "nest", "selector": "read",
                            "effect": "allow"}})
    assert r.status == 200, r
    gains = {g["principal"] for g in r.json["gains"]}
    assert gains == {v}, r.json


@pytest.mark.parametrize("subject", [
    {"kind": "role"}, {"kind": "role", "value": ""},
    {"kind": "role", "value": "a\u0001b"}, {"kind": "role", "value": 7},
    {"kind": "role", "value": "x" * 300}])
def test_role_rule_validation(world, subject):
    r = admin(world, "POST", "/rules", {"subject": subject, "server": "nest",
              "selector": "read", "effect": "allow"})
    assert r.status == 400, r


def test_grants_through_nesting_and_roles(world):
    """An elevate rule reached through a nested group or an app role
    accepts a grant request, and the approved grant allows."""
    server = world
    r = admin(server, "POST", "/servers/nest/tools", {"name": "elev"},
              token="global_admin")
    assert r.status == 201, r
    u = new_user(server)
    a = new_group(server, [u])
    b = new_group(server)
    assert members_op(server, b, "add", [a]).status in (200, 204)
    v = new_user(server, roles=[{"value": "mcp.elevator"}])
    for subject in ({"kind": "group", "id": b},
                    {"kind": "role", "value": "mcp.elevator"}):
        r = admin(server, "POST", "/rules", {"subject": subject,
                  "server": "nest", "selector": "elev",
                  "effect": "elevate", "max_grant_s": 600})
        assert r.status == 201, r
    for who in (u, v):
        assert decide(server, who, "elev")["reason_code"] == \
            "elevation_required"
        r = admin(server, "POST", "/grants", {
            "principal": who, "server": "nest", "tool": "elev",
            "reason": "change 7", "duration_s": 300})
        assert r.status == 201, r
        r = admin(server, "POST", f"/grants/{r.json['id']}:approve")
        assert r.status == 200, r
        assert decide(server, who, "elev")["decision"] == "allow"
    # Without the nesting the rule no longer reaches u: grants refused.
    assert members_op(server, b, "remove", [a]).status in (200, 204)
    assert decide(server, u, "elev")["decision"] == "deny"
    r = admin(server, "POST", "/grants", {
        "principal": u, "server": "nest", "tool": "elev",
        "reason": "change 8", "duration_s": 300})
    assert r.status == 400 and r.json["error"] == "no_elevate_rule", r


def test_snapshot_decides_like_the_server(world):
    """A gateway evaluating GET /v1/policy/snapshot (README's algorithm,
    policy_model.Local) answers like /v1/authorize for principals whose
    rules come through nested groups (within and beyond the limit) and
    app roles."""
    from policy_model import Local
    server = world
    u = new_user(server, roles=[{"value": "mcp.snap"}])
    chain = [new_group(server, [u])]
    for _ in range(3):
        g = new_group(server)
        assert members_op(server, g, "add", [chain[-1]]).status in (200,
                                                                      204)
        chain.append(g)
    deep = new_user(server)
    far = [new_group(server, [deep])]
    for _ in range(9):
        g = new_group(server)
        assert members_op(server, g, "add", [far[-1]]).status in (200, 204)
        far.append(g)
    rule(server, {"kind": "group", "id": chain[3]}, "read", "allow")
    rule(server, {"kind": "group", "id": far[1]}, "read", "allow")
    rule(server, {"kind": "role", "value": "mcp.snap"}, "write", "deny")
    r = server.get("/v1/policy/snapshot", token=server.tokens["gateway"])
    assert r.status == 200, r
    snap = r.json
    mine = {p["id"]: p for p in snap["principals"]}
    assert chain[3] in mine[u]["groups"] and mine[u]["roles"] == ["mcp.snap"]
    assert mine[deep]["nesting_exceeded"] is True
    local = Local(snap)
    for who in (u, deep):
        for tool in ("read", "write", "cyc", "deep"):
            want = local.decide(who, "nest", tool, int(time.time() * 1000))
            got = decide(server, who, tool)
            assert (got["decision"], got["reason_code"]) == \
                (want["decision"], want["reason_code"]), (who, tool, got,
                                                          want)
