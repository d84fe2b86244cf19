"""Admin API: read-only directory views (users, groups, memberships).
The rows are written straight into the database here, so these tests
do not depend on the SCIM endpoints; scoping, filters, sorting, cursor
pagination over a large group, and every parameter error are checked,
and rollcallctl's users list / user show agree with the API."""
import json
import urllib.parse
import uuid

import pytest

NIL = "00000000-0000-4000-8000-000000000000"


def q(**params):
    return "?" + urllib.parse.urlencode(params) if params else ""


def walk(server, token, path, key, **params):
    out, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        r = server.get(path + q(**p), token=token)
        assert r.status == 200, r
        out += r.json[key]
        pages += 1
        cursor = r.json["next_cursor"]
        if cursor is None:
            return out, pages


@pytest.fixture(scope="module")
def data(server, db):
    db.sql("INSERT INTO directories (name) VALUES ('dir-two')")
    two = int(db.sql("SELECT id FROM directories WHERE name = 'dir-two'"))
    users = [
        # userName, displayName, externalId, active, emails, directory
        ("alice@contoso.com", "Alice Archer", "ext-a", True,
         ["alice@contoso.com", "a.archer@contoso.com"], 1),
        ("Bob@contoso.com", "bob builder", "ext-b", False,
         ["bob@contoso.com"], 1),
        ("carol@contoso.com", None, None, True, [], 1),
        ("dave@contoso.com", "Dave", "ext-d", True, ["dave@contoso.com"], 1),
        ("erin@fabrikam.com", "Erin", "ext-e", True, ["erin@fabrikam.com"],
         two),
    ]
    ids = {}
    for name, disp, ext, active, emails, d in users:
        uid = str(uuid.uuid4())
        ids[name.lower()] = uid
        doc = json.dumps({"userName": name, "title": "Engineer"})
        arr = "{" + ",".join(emails) + "}"
        db.sql(f"INSERT INTO users (id, directory_id, user_name, "
               f"display_name, external_id, active, emails_lc, doc) VALUES "
               f"('{uid}', {d}, '{name}', "
               f"{'NULL' if disp is None else repr(disp)}, "
               f"{'NULL' if ext is None else repr(ext)}, {active}, "
               f"'{arr}', '{doc}')")
    # A tombstoned user is invisible everywhere.
    ghost = str(uuid.uuid4())
    db.sql(f"INSERT INTO users (id, directory_id, user_name, doc, "
           f"deleted_at) VALUES ('{ghost}', 1, 'ghost@contoso.com', '{{}}', "
           f"now())")
    groups = {}
    for name, d in (("Engineering", 1), ("sales", 1), ("Empty", 1),
                    ("Big", 1), ("Fabrikam Staff", two)):
        gid = str(uuid.uuid4())
        groups[name] = gid
        db.sql(f"INSERT INTO groups (id, directory_id, display_name, "
               f"external_id, doc) VALUES ('{gid}', {d}, '{name}', "
               f"'gx-{name}', '{{}}')")
    for g, u in (("Engineering", "alice@contoso.com"),
                 ("Engineering", "bob@contoso.com"),
                 ("Engineering", "ghost"), ("sales", "alice@contoso.com"),
                 ("Fabrikam Staff", "erin@fabrikam.com")):
        uid = ghost if u == "ghost" else ids[u]
        db.sql(f"INSERT INTO memberships (group_id, user_id) VALUES "
               f"('{groups[g]}', '{uid}')")
    # A large group: 2,500 generated members (every 10th inactive).
    db.sql(f"WITH u AS (INSERT INTO users (directory_id, user_name, active, "
           f"doc) SELECT 1, 'bulk' || i || '@contoso.com', i % 10 <> 0, "
           f"'{{}}' FROM generate_series(1, 2500) i RETURNING id) "
           f"INSERT INTO memberships (group_id, user_id) "
           f"SELECT '{groups['Big']}', id FROM u")
    sp = str(uuid.uuid4())
    db.sql(f"INSERT INTO service_principals (id, directory_id, name, app_id, "
           f"owner_user_id) VALUES ('{sp}', 1, 'build-agent', 'app-1', "
           f"'{ids['alice@contoso.com']}')")
    # The rows above were written by hand: migrate computes their
    # identity keys (sql/004), as it does for an upgraded database.
    assert "keyed 2506 users" in db.ctl("migrate").stdout
    return {"users": ids, "groups": groups, "ghost": ghost, "sp": sp,
            "two": two}


def test_users_list_is_scoped(server, data):
    admin, g = server.tokens["admin"], server.tokens["global_admin"]
    mine, _ = walk(server, admin, "/admin/v1/users", "users", limit=1000)
    assert {u["directory"] for u in mine} == {"default"}
    assert len(mine) == 4 + 2500
    names = {u["userName"] for u in mine}
    assert "ghost@contoso.com" not in names
    assert "erin@fabrikam.com" not in names
    allu, _ = walk(server, g, "/admin/v1/users", "users", limit=1000)
    assert len(allu) == len(mine) + 1
    r = server.get("/admin/v1/users" + q(directory="dir-two"), token=g)
    assert [u["userName"] for u in r.json["users"]] == ["erin@fabrikam.com"]
    r = server.get("/admin/v1/users" + q(directory="dir-two"), token=admin)
    assert r.status == 403
    r = server.get("/admin/v1/users" + q(directory="nope"), token=g)
    assert r.status == 400 and r.json["parameter"] == "directory"


def test_user_shape(server, data):
    r = server.get("/admin/v1/users" + q(userName="ALICE@contoso.com"),
                   token=server.tokens["admin"])
    (u,) = r.json["users"]
    assert u == {
        "id": data["users"]["alice@contoso.com"], "directory": "default",
        "userName": "alice@contoso.com", "displayName": "Alice Archer",
        "externalId": "ext-a", "active": True,
        "emails": ["alice@contoso.com", "a.archer@contoso.com"],
        "created_at": u["created_at"], "updated_at": u["updated_at"],
        "revoked_all_at": None}
    assert u["created_at"].endswith("Z")


@pytest.mark.parametrize("params,expect", [
    ({"userName": "bob@CONTOSO.com"}, ["Bob@contoso.com"]),
    ({"email": "A.Archer@contoso.com"}, ["alice@contoso.com"]),
    ({"externalId": "ext-d"}, ["dave@contoso.com"]),
    ({"externalId": "EXT-D"}, []),
    ({"active": "false", "userName": "bob@contoso.com"}, ["Bob@contoso.com"]),
    ({"active": "true", "userName": "bob@contoso.com"}, []),
    ({"group": "Engineering"}, ["alice@contoso.com", "Bob@contoso.com"]),
    ({"group": "Empty"}, []),
    ({"group": "Engineering", "active": "true"}, ["alice@contoso.com"]),
    ({"email": "nobody@x.y"}, []),
    ({"userName": "'; DROP TABLE users; --"}, []),
])
def test_user_filters(server, data, params, expect):
    if "group" in params:
        params = dict(params, group=data["groups"][params["group"]])
    r = server.get("/admin/v1/users" + q(sort="userName", **params),
                   token=server.tokens["admin"])
    assert r.status == 200, r
    assert [u["userName"] for u in r.json["users"]] == expect


def test_user_sorting_and_pagination(server, data):
    admin = server.tokens["admin"]
    for sort, key in (("userName", lambda u: u["userName"].lower()),
                      ("displayName",
                       lambda u: (u["displayName"] or "").lower()),
                      ("created", lambda u: u["created_at"])):
        for order in ("asc", "desc"):
            got, pages = walk(server, admin, "/admin/v1/users", "users",
                              sort=sort, order=order, limit=333)
            assert len(got) == 2504 and pages == 8
            assert len({u["id"] for u in got}) == 2504
            keys = [(key(u), u["id"]) for u in got]
            assert keys == sorted(keys, reverse=(order == "desc")), sort


def test_user_detail(server, data):
    admin = server.tokens["admin"]
    uid = data["users"]["alice@contoso.com"]
    r = server.get(f"/admin/v1/users/{uid}", token=admin)
    assert r.status == 200, r
    u = r.json
    assert u["userName"] == "alice@contoso.com"
    assert [x["displayName"] for x in u["groups"]] == ["Engineering",
                                                        "sales"]
    assert u["group_count"] == 2
    assert u["service_principals"] == [{
        "id": data["sp"], "name": "build-agent", "app_id": "app-1",
        "active": True, "revoked_all_at": None}]
    assert u["scim"]["title"] == "Engineer"
    # What gateways are told right now (no rules in this world: none).
    assert u["effective_tools"] == []
    for bad in (NIL, data["ghost"], data["users"]["erin@fabrikam.com"],
                "alice@contoso.com", "not-a-uuid", "x" * 70):
        r = server.get(f"/admin/v1/users/{bad}", token=admin)
        assert r.status == 404, (bad, r)
        assert r.json["error"] == "not_found"
    # A global token sees the other directory's user.
    r = server.get(f"/admin/v1/users/{data['users']['erin@fabrikam.com']}",
                   token=server.tokens["global_admin"])
    assert r.status == 200 and r.json["directory"] == "dir-two"
    r = server.get(f"/admin/v1/users/{uid}?x=1", token=admin)
    assert r.status == 400 and r.json["parameter"] == "x"


def test_user_groups(server, data):
    admin = server.tokens["admin"]
    uid = data["users"]["alice@contoso.com"]
    got, pages = walk(server, admin, f"/admin/v1/users/{uid}/groups",
                      "groups", limit=1)
    assert pages == 2
    assert sorted(g["displayName"] for g in got) == ["Engineering", "sales"]
    eng = [g for g in got if g["displayName"] == "Engineering"][0]
    assert eng["members"] == 2           # the tombstoned member not counted
    r = server.get(f"/admin/v1/users/{NIL}/groups", token=admin)
    assert r.status == 404
    r = server.get(f"/admin/v1/users/{data['users']['erin@fabrikam.com']}"
                   f"/groups", token=admin)
    assert r.status == 404
    r = server.get(f"/admin/v1/users/{uid}/groups?sort=created", token=admin)
    assert r.status == 400 and r.json["parameter"] == "sort"


def test_groups_list(server, data):
    admin, g = server.tokens["admin"], server.tokens["global_admin"]
    r = server.get("/admin/v1/groups" + q(sort="displayName"), token=admin)
    assert r.status == 200
    got = [(x["displayName"], x["members"]) for x in r.json["groups"]]
    assert got == [("Big", 2500), ("Empty", 0), ("Engineering", 2),
                   ("sales", 1)]
    r = server.get("/admin/v1/groups" + q(sort="displayName", order="desc",
                                          limit=3), token=admin)
    assert [x["displayName"] for x in r.json["groups"]] == \
        ["sales", "Engineering", "Empty"]
    r2 = server.get("/admin/v1/groups" + q(
        sort="displayName", order="desc", limit=3,
        cursor=r.json["next_cursor"]), token=admin)
    assert [x["displayName"] for x in r2.json["groups"]] == ["Big"]
    assert r2.json["next_cursor"] is None
    r = server.get("/admin/v1/groups" + q(displayName="ENGINEERING"),
                   token=admin)
    assert [x["id"] for x in r.json["groups"]] == \
        [data["groups"]["Engineering"]]
    r = server.get("/admin/v1/groups" + q(externalId="gx-sales"),
                   token=admin)
    assert [x["displayName"] for x in r.json["groups"]] == ["sales"]
    allg, _ = walk(server, g, "/admin/v1/groups", "groups")
    assert len(allg) == 5
    r = server.get("/admin/v1/groups" + q(sort="userName"), token=admin)
    assert r.status == 400 and r.json["parameter"] == "sort"


def test_group_detail(server, data):
    admin = server.tokens["admin"]
    r = server.get(f"/admin/v1/groups/{data['groups']['Big']}", token=admin)
    assert r.status == 200
    assert r.json["members"] == 2500 and r.json["displayName"] == "Big"
    for bad in (NIL, data["groups"]["Fabrikam Staff"], "Big"):
        assert server.get(f"/admin/v1/groups/{bad}",
                          token=admin).status == 404


def test_group_nestings(server, db, data):
    """A group's detail names its nested groups both ways (the console's
    Groups page): live groups of its own directory only."""
    admin = server.tokens["admin"]
    g = data["groups"]
    gone = str(uuid.uuid4())
    db.sql(f"INSERT INTO groups (id, directory_id, display_name, doc, "
           f"deleted_at) VALUES ('{gone}', 1, 'Gone', '{{}}', now())")
    pairs = ((g["Engineering"], g["Empty"]), (g["sales"], g["Engineering"]),
             (g["Engineering"], gone),
             (g["Engineering"], g["Fabrikam Staff"]))
    for parent, child in pairs:
        db.sql(f"INSERT INTO group_nestings (group_id, member_group_id) "
               f"VALUES ('{parent}', '{child}')")
    try:
        r = server.get(f"/admin/v1/groups/{g['Engineering']}", token=admin)
        assert r.status == 200, r
        assert r.json["member_groups"] == [
            {"id": g["Empty"], "displayName": "Empty"}], r.json
        assert r.json["member_of"] == [
            {"id": g["sales"], "displayName": "sales"}], r.json
        # Nested groups are not user members: the count stays.
        assert r.json["members"] == 2
        r = server.get(f"/admin/v1/groups/{g['Empty']}", token=admin)
        assert r.json["member_groups"] == [] and r.json["member_of"] == [
            {"id": g["Engineering"], "displayName": "Engineering"}], r.json
        # The list stays as it was (the nestings are the detail's).
        r = server.get("/admin/v1/groups", token=admin)
        assert all("member_of" not in x for x in r.json["groups"])
    finally:
        db.sql("DELETE FROM group_nestings")
        db.sql(f"DELETE FROM groups WHERE id = '{gone}'")


def test_large_group_members_paginated(server, data):
    admin = server.tokens["admin"]
    path = f"/admin/v1/groups/{data['groups']['Big']}/members"
    got, pages = walk(server, admin, path, "members", limit=1000)
    assert len(got) == 2500 and pages == 3
    ids = [u["id"] for u in got]
    assert ids == sorted(ids) and len(set(ids)) == 2500
    active, _ = walk(server, admin, path, "members", limit=1000,
                     active="false")
    assert len(active) == 250 and not any(u["active"] for u in active)
    r = server.get(path + q(limit=1000), token=admin)
    cur = r.json["next_cursor"]
    # The cursor is bound to its group and filter.
    other = f"/admin/v1/groups/{data['groups']['Engineering']}/members"
    r = server.get(other + q(cursor=cur), token=admin)
    assert r.status == 400 and r.json["parameter"] == "cursor"
    r = server.get(path + q(cursor=cur, active="true"), token=admin)
    assert r.status == 400 and r.json["parameter"] == "cursor"
    r = server.get(f"/admin/v1/groups/{NIL}/members", token=admin)
    assert r.status == 404


@pytest.mark.parametrize("path,params,param", [
    ("/admin/v1/users", {"limit": "0"}, "limit"),
    ("/admin/v1/users", {"limit": "1001"}, "limit"),
    ("/admin/v1/users", {"limit": "1e3"}, "limit"),
    ("/admin/v1/users", {"sort": "password"}, "sort"),
    ("/admin/v1/users", {"order": "up"}, "order"),
    ("/admin/v1/users", {"active": "yes"}, "active"),
    ("/admin/v1/users", {"group": "Engineering"}, "group"),
    ("/admin/v1/users", {"userName": "u" * 513}, "userName"),
    ("/admin/v1/users", {"email": "a" * 513}, "email"),
    ("/admin/v1/users", {"cursor": "abc"}, "cursor"),
    ("/admin/v1/users", {"cursor": "MTIz.AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
    ("/admin/v1/users", {"filter": "userName eq \"x\""}, "filter"),
    ("/admin/v1/groups", {"active": "true"}, "active"),
    ("/admin/v1/groups", {"displayName": "d" * 1500}, "displayName"),
    ("/admin/v1/groups", {"limit": ""}, "limit"),
])
def test_bad_parameters_are_named(server, path, params, param):
    r = server.get(path + q(**params), token=server.tokens["admin"])
    if r.status == 414:
        assert param == ""      # Kore's own URI limit, before us
        return
    assert r.status == 400, r
    assert r.json["error"] == "invalid_parameter"
    assert r.json["parameter"] == param


def test_cursor_from_another_query_or_sort(server, data):
    admin = server.tokens["admin"]
    r = server.get("/admin/v1/users" + q(limit=2, sort="userName"),
                   token=admin)
    cur = r.json["next_cursor"]
    for other in ({"sort": "created"}, {"sort": "userName", "order": "desc"},
                  {"sort": "userName", "active": "true"}):
        r = server.get("/admin/v1/users" + q(limit=2, cursor=cur, **other),
                       token=admin)
        assert r.status == 400 and r.json["parameter"] == "cursor"
    r = server.get("/admin/v1/groups" + q(cursor=cur), token=admin)
    assert r.status == 400 and r.json["parameter"] == "cursor"
    r = server.get("/admin/v1/users" + q(limit=2, sort="userName",
                                         cursor=cur),
                   token=server.tokens["global_admin"])
    assert r.status == 400


def test_auth_and_methods(server, data):
    uid = data["users"]["alice@contoso.com"]
    gid = data["groups"]["Engineering"]
    for path in ("/admin/v1/users", f"/admin/v1/users/{uid}",
                 f"/admin/v1/users/{uid}/groups", "/admin/v1/groups",
                 f"/admin/v1/groups/{gid}", f"/admin/v1/groups/{gid}/members"):
        assert server.get(path).status == 401
        assert server.get(path, token=server.tokens["scim"]).status == 403
        r = server.request("DELETE", path, token=server.tokens["admin"])
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD"
    r = server.get(f"/admin/v1/users/{uid}/nothing",
                   token=server.tokens["admin"])
    assert r.status == 404


def test_cli_users_and_user(db, data):
    r = db.ctl("users", "list", "--directory", "dir-two", "--json")
    assert [u["userName"] for u in json.loads(r.stdout)] == \
        ["erin@fabrikam.com"]
    r = db.ctl("users", "list", "--json")
    assert len(json.loads(r.stdout)) == 2505
    r = db.ctl("users", "list", "--directory", "dir-two")
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["id", "userName"]
    assert "erin@fabrikam.com" in lines[1] and "yes" in lines[1]
    r = db.ctl("user", "show", "ALICE@contoso.com", "--json")
    u = json.loads(r.stdout)
    assert u["id"] == data["users"]["alice@contoso.com"]
    assert u["group_count"] == 2
    r = db.ctl("user", "show", data["users"]["alice@contoso.com"])
    assert "Engineering" in r.stdout and "build-agent" in r.stdout
    r = db.ctl("user", "show", "nobody@contoso.com", check=False)
    assert r.returncode == 1 and "no user" in r.stderr
    r = db.ctl("user", "show", "erin@fabrikam.com", "--directory", "default",
               check=False)
    assert r.returncode == 1
    assert db.ctl("users", "list", "--directory", "nope",
                  check=False).returncode == 1
