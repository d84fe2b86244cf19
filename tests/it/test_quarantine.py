"""Fail closed on anything the policy index cannot apply (issue 8,
findings 1, 2 and 4).

- One rule for what a principal may hold: SCIM refuses identifiers the
  index cannot hold (control characters, over-long values) with 400
  invalidValue naming the attribute, and writes nothing; so a disable that
  follows is never lost (it used to stay an allow).
- A change record or a stored row the index cannot apply quarantines the
  principal it concerns: denied with principal_unavailable, never its old
  state, also when asked by an old alias.
- One bad row quarantines one principal, not the service: start-up goes on,
  /readyz stays 200 and reports the count, the admin API and rollcallctl
  list it.
- A PATCH that replaces members keeps a kept member in the index (records
  of one commit apply in order), on this instance and on another one.
- PUT without active keeps the current state.
"""
import json
import re
import time

import pytest

from policy_model import Local


SCIM = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


TOKENS = {"scim": "scim", "gateway": "gateway", "admin": "admin",
          "other_admin": {"scopes": "admin", "directory": "other"},
          "other_scim": {"scopes": "scim", "directory": "other"},
          "other_gateway": {"scopes": "gateway", "directory": "other"},
          "global": {"scopes": "admin", "directory": None, "name": "g"}}


def other_directory(db):
    db.ctl("directory", "create", "other")


@pytest.fixture(scope="module")
def db(make_module_server):
    return make_module_server.database(seed=other_directory, tokens=TOKENS)


@pytest.fixture(scope="module")
def srv(db, make_module_server):
    return make_module_server(db=db, workers=2)


def scim(srv, method, path, body=None, token="scim", want=(200, 201, 204)):
    r = srv.request(method, "/scim/v2" + path, body=body,
                    token=srv.tokens[token], content_type=SCIM)
    if want is not None:
        assert r.status in want, r
    return r


def patch(srv, path, ops, **kw):
    return scim(srv, "PATCH", path, {"schemas": [PATCH_URN],
                                     "Operations": ops}, **kw)


def new_user(srv, name, token="scim", **extra):
    body = {"schemas": [USER_URN], "userName": name, "active": True}
    body.update(extra)
    return scim(srv, "POST", "/Users", body, token=token).json


def new_group(srv, name, members=(), token="scim"):
    return scim(srv, "POST", "/Groups", {
        "schemas": [GROUP_URN], "displayName": name,
        "members": [{"value": m} for m in members]}, token=token).json


_n = [0]


def world(srv, effect="allow", token="admin", directory="default"):
    """A server with one tool and a rule for a fresh group; with effect
    deny, everyone is allowed the tool and the group denied it."""
    _n[0] += 1
    slug = f"s{_n[0]}-{effect}"
    admin = srv.tokens["global"]
    assert srv.post("/admin/v1/servers", token=admin, body={
        "slug": slug, "name": slug}).status == 201
    assert srv.post(f"/admin/v1/servers/{slug}/tools", token=admin,
                    body={"name": "t"}).status == 201
    group = new_group(srv, f"g{_n[0]}",
                      token="scim" if directory == "default" else
                      "other_scim")
    r = srv.post("/admin/v1/rules", token=admin, body={
        "subject": {"kind": "group", "id": group["id"]}, "server": slug,
        "selector": "*", "effect": effect, "directory": directory})
    assert r.status == 201, r
    if effect == "deny":
        r = srv.post("/admin/v1/rules", token=admin, body={
            "subject": {"kind": "everyone"}, "server": slug,
            "selector": "*", "effect": "allow", "directory": directory})
        assert r.status == 201, r
    return group, slug


def authorize(srv, subject, slug, token="gateway"):
    r = srv.post("/v1/authorize", token=srv.tokens[token], body={
        "subject": subject, "server": slug, "tool": "t"})
    assert r.status == 200, r
    return r.json["reason_code"]


def add_members(srv, gid, *uids):
    patch(srv, f"/Groups/{gid}", [{"op": "add", "path": "members",
                                   "value": [{"value": u} for u in uids]}])


def stored(db, uid, column):
    return db.sql(f"SELECT {column} FROM users WHERE id = '{uid}'").strip()


# --- 1. one rule for what a principal may hold

BAD_VALUES = [
    ("tab", "v\t@contoso.com"),
    ("soh", "v\u0001@contoso.com"),
    ("us", "v\u001f@contoso.com"),
    ("del", "v\u007f@contoso.com"),
    ("c1", "v\u0085@contoso.com"),
]


@pytest.mark.parametrize("label,value", BAD_VALUES)
def test_patch_with_control_character_refused_and_disable_sticks(
        srv, db, label, value):
    """The reproduction of finding 1: before, the email was stored, the
    index refused the user's records and the disable stayed an allow."""
    group, slug = world(srv)
    u = new_user(srv, f"cc-{label}@contoso.com")
    add_members(srv, group["id"], u["id"])
    assert authorize(srv, u["id"], slug) == "allowed_by_rule"
    r = patch(srv, f"/Users/{u['id']}", [{"op": "add", "path": "emails",
              "value": [{"value": value}]}], want=None)
    assert r.status == 400, r
    assert r.json["scimType"] == "invalidValue"
    assert "emails.value" in r.json["detail"]
    assert "control character" in r.json["detail"]
    assert stored(db, u["id"], "emails_lc") == "{}"
    patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path": "active",
                                      "value": "False"}])
    assert authorize(srv, u["id"], slug) == "principal_inactive"
    assert authorize(srv, {"userName": f"cc-{label}@contoso.com"},
                     slug) == "principal_inactive"


@pytest.mark.parametrize("attr", ["userName", "externalId"])
@pytest.mark.parametrize("label,value", BAD_VALUES)
def test_create_with_control_character_refused(srv, db, attr, label, value):
    body = {"schemas": [USER_URN], "userName": f"ok-{attr}-{label}@x"}
    body[attr] = value
    r = scim(srv, "POST", "/Users", body, want=(400,))
    assert r.json["scimType"] == "invalidValue"
    assert r.json["detail"].startswith(attr), r
    assert db.sql("SELECT count(*) FROM users WHERE user_name = "
                  f"'ok-{attr}-{label}@x'").strip() == "0"


def test_rename_to_control_character_refused(srv):
    group, slug = world(srv)
    u = new_user(srv, "rename-me@contoso.com")
    add_members(srv, group["id"], u["id"])
    r = patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path":
              "userName", "value": "rename\tme@contoso.com"}], want=(400,))
    assert r.json["detail"] == "userName contains a control character."
    r = scim(srv, "PUT", f"/Users/{u['id']}", {
        "schemas": [USER_URN], "userName": "x\u0085y", "active": True},
        want=(400,))
    assert r.json["scimType"] == "invalidValue"
    assert authorize(srv, {"userName": "rename-me@contoso.com"},
                     slug) == "allowed_by_rule"


def test_over_long_values_get_a_clean_400(srv, db):
    r = scim(srv, "POST", "/Users", {"schemas": [USER_URN],
             "userName": "a" * 600}, want=(400,))
    assert r.json["scimType"] == "invalidValue"
    assert r.json["detail"] == "userName is longer than 512 characters."
    r = scim(srv, "POST", "/Users", {
        "schemas": [USER_URN], "userName": "long-mail@x",
        "emails": [{"value": "m" * 5000 + "@contoso.com"}]}, want=(400,))
    assert r.json["detail"] == "emails.value is longer than 1024 bytes."
    r = scim(srv, "POST", "/Users", {
        "schemas": [USER_URN], "userName": "long-ext@x",
        "externalId": "e" * 1025}, want=(400,))
    assert r.json["detail"] == "externalId is longer than 1024 bytes."
    r = scim(srv, "POST", "/Groups", {"schemas": [GROUP_URN],
             "displayName": "g" * 600}, want=(400,))
    assert r.json["detail"] == "displayName is longer than 512 characters."
    u = new_user(srv, "grow@x")
    r = patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path":
              "userName", "value": "é" * 513}], want=(400,))
    assert "userName" in r.json["detail"]
    # 512 characters of two bytes each: both limits hold.
    patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path": "userName",
                                      "value": "é" * 512}])
    assert "constraint" not in r.body.decode()


# --- 5. PUT without active

def test_put_without_active_keeps_a_disabled_user_disabled(srv, db):
    group, slug = world(srv)
    u = new_user(srv, "put-keep@contoso.com")
    add_members(srv, group["id"], u["id"])
    patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path": "active",
                                      "value": False}])
    r = scim(srv, "PUT", f"/Users/{u['id']}", {
        "schemas": [USER_URN], "userName": "put-keep@contoso.com",
        "displayName": "Put Keep"})
    assert r.json["active"] is False
    assert stored(db, u["id"], "active") == "f"
    assert authorize(srv, u["id"], slug) == "principal_inactive"
    # An explicit active still changes it.
    r = scim(srv, "PUT", f"/Users/{u['id']}", {
        "schemas": [USER_URN], "userName": "put-keep@contoso.com",
        "active": True})
    assert r.json["active"] is True
    assert authorize(srv, u["id"], slug) == "allowed_by_rule"
    # And an active user stays active without it.
    r = scim(srv, "PUT", f"/Users/{u['id']}", {
        "schemas": [USER_URN], "userName": "put-keep@contoso.com"})
    assert r.json["active"] is True


# --- 4. replace members in one PATCH

SHAPES = {
    "replace": lambda keep: [{"op": "replace", "path": "members",
                              "value": [{"value": keep}]}],
    "remove_add": lambda keep: [{"op": "remove", "path": "members"},
                                {"op": "add", "path": "members",
                                 "value": [{"value": keep}]}],
}


@pytest.fixture(scope="module")
def second(db, make_module_server):
    """Another instance on the same database: it learns of the PATCH
    through NOTIFY and policy_changes, not through the ring."""
    return make_module_server(db=db, workers=1)


def eventually(fn, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.05)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_replace_members_keeps_the_kept_member(srv, second, db, shape,
                                               effect):
    group, slug = world(srv, effect)
    keep = new_user(srv, f"keep-{shape}-{effect}@contoso.com")
    drop = new_user(srv, f"drop-{shape}-{effect}@contoso.com")
    add_members(srv, group["id"], keep["id"], drop["id"])
    inside = "allowed_by_rule" if effect == "allow" else "denied_by_rule"
    outside = "no_matching_rule" if effect == "allow" else "allowed_by_rule"
    assert authorize(srv, keep["id"], slug) == inside
    patch(srv, f"/Groups/{group['id']}", SHAPES[shape](keep["id"]))
    members = db.sql("SELECT user_id FROM memberships WHERE group_id = "
                     f"'{group['id']}'").split()
    assert members == [keep["id"]]
    assert authorize(srv, keep["id"], slug) == inside
    assert authorize(srv, drop["id"], slug) == outside
    # The other instance applies the same records in the same order.
    assert eventually(lambda: authorize(second, drop["id"], slug),
                      outside) == outside
    assert authorize(second, keep["id"], slug) == inside


# --- 2. change records the index cannot apply (an older rollcall's)

def inject(db, records):
    """Commits records as an older rollcall (without the rule) would:
    next version, policy_changes, NOTIFY."""
    v = int(db.sql("UPDATE policy_state SET version = version + 1 "
                   "RETURNING version").split()[0])
    for r in records:
        r["version"] = v
    rows = ", ".join(
        f"({v}, {i}, 'old-rollcall', "
        f"$j${json.dumps(r)}$j$::jsonb)" for i, r in enumerate(records))
    note = json.dumps({"kind": "changes", "origin": "old-rollcall",
                       "version": v, "records": records})
    db.sql(f"INSERT INTO policy_changes (version, idx, origin, record) "
           f"VALUES {rows}; SELECT pg_notify('rollcall', $n${note}$n$)")
    return v


def default_dir(db):
    return int(db.sql("SELECT id FROM directories WHERE name = "
                      "'default'").strip())


def user_rec(db, uid, name, emails=(), active=True, deleted=False):
    return {"kind": "user", "id": uid, "directory_id": default_dir(db),
            "userName": name, "externalId": None, "emails": list(emails),
            "active": active, "deleted": deleted}


def metric(srv, name):
    text = srv.get("/metrics").body.decode()
    m = re.search(rf"(?m)^{re.escape(name)} (\d+)$", text)
    return int(m.group(1)) if m else None


def test_refused_record_quarantines_instead_of_keeping_old_state(srv, db):
    group, slug = world(srv)
    u = new_user(srv, "legacy@contoso.com")
    add_members(srv, group["id"], u["id"])
    assert authorize(srv, u["id"], slug) == "allowed_by_rule"
    before = metric(srv, "rollcall_policy_refused_total")
    # A disable whose record carries a value the index refuses.
    inject(db, [user_rec(db, u["id"], "legacy@contoso.com",
                         ["v\t@contoso.com"], active=False)])
    assert eventually(lambda: authorize(srv, u["id"], slug),
                      "principal_unavailable") == "principal_unavailable"
    assert authorize(srv, {"userName": "legacy@contoso.com"},
                     slug) == "principal_unavailable"
    assert metric(srv, "rollcall_policy_refused_total") == before + 1
    assert metric(srv, "rollcall_policy_quarantined") >= 1
    assert f"quarantined: {u['id']}" in srv.logtext()
    q = srv.get("/admin/v1/quarantine", token=srv.tokens["admin"]).json
    assert u["id"] in [p["id"] for p in q["quarantined"]]
    r = srv.get("/readyz")
    assert r.status == 200 and r.json["quarantined"] >= 1
    # Deleted after that: still denied (it was a stale allow).
    inject(db, [user_rec(db, u["id"], "legacy@contoso.com",
                         ["v\t@contoso.com"], active=False, deleted=True)])
    time.sleep(0.3)
    assert authorize(srv, {"userName": "legacy@contoso.com"},
                     slug) == "principal_unavailable"
    # A later record that applies cleanly lifts the quarantine.
    inject(db, [user_rec(db, u["id"], "legacy@contoso.com", active=False)])
    assert eventually(lambda: authorize(srv, u["id"], slug),
                      "principal_inactive") == "principal_inactive"
    q = srv.get("/admin/v1/quarantine", token=srv.tokens["admin"]).json
    assert u["id"] not in [p["id"] for p in q["quarantined"]]


def test_rename_to_refused_value_does_not_leave_old_name_allowed(srv, db):
    group, slug = world(srv)
    u = new_user(srv, "oldname@contoso.com")
    add_members(srv, group["id"], u["id"])
    inject(db, [user_rec(db, u["id"], "new\u0001name@contoso.com")])
    assert eventually(
        lambda: authorize(srv, {"userName": "oldname@contoso.com"}, slug),
        "principal_unavailable") == "principal_unavailable"
    # Cleanly renamed back: allowed again.
    patch(srv, f"/Users/{u['id']}", [{"op": "replace", "path": "userName",
                                      "value": "fixed@contoso.com"}])
    assert authorize(srv, {"userName": "fixed@contoso.com"},
                     slug) == "allowed_by_rule"


def test_snapshot_names_quarantined_principals(srv, db):
    """A gateway that decides from /v1/policy/snapshot must deny what
    rollcall denies: the stored row of a quarantined principal may still
    read active, so the snapshot lists it under "unavailable"."""
    group, slug = world(srv)
    u = new_user(srv, "snapq@contoso.com")
    add_members(srv, group["id"], u["id"])
    inject(db, [user_rec(db, u["id"], "snap\u0001q@contoso.com")])
    assert eventually(lambda: authorize(srv, u["id"], slug),
                      "principal_unavailable") == "principal_unavailable"

    def listed():
        r = srv.get("/v1/policy/snapshot", token=srv.tokens["gateway"])
        assert r.status == 200, r
        return r.json if u["id"] in r.json["unavailable"] else None
    deadline = time.time() + 10
    while (snap := listed()) is None:
        assert time.time() < deadline, "never listed as unavailable"
        time.sleep(0.1)
    local = Local(snap)
    stored_row = local.principals[u["id"]]
    assert stored_row["active"] and not stored_row["deleted"]
    got = local.decide(u["id"], slug, "t", int(time.time() * 1000))
    assert got["reason_code"] == "principal_unavailable"
    assert authorize(srv, u["id"], slug) == got["reason_code"]
    # Another directory's snapshot does not carry it.
    r = srv.get("/v1/policy/snapshot", token=srv.tokens["other_gateway"])
    assert r.status == 200 and u["id"] not in r.json["unavailable"]


def test_late_older_record_does_not_lift_a_quarantine(srv, db):
    """Records may arrive out of order (another instance's NOTIFY): an
    older, applicable record of a quarantined principal must not bring
    back a state older than the one the index refused."""
    group, slug = world(srv)
    u = new_user(srv, "late@contoso.com")
    add_members(srv, group["id"], u["id"])
    older = inject(db, [{"kind": "version"}])
    inject(db, [user_rec(db, u["id"], "late@contoso.com",
                         ["v\t@contoso.com"], active=False)])
    assert eventually(lambda: authorize(srv, u["id"], slug),
                      "principal_unavailable") == "principal_unavailable"
    rec = user_rec(db, u["id"], "late@contoso.com", active=True)
    rec["version"] = older
    note = json.dumps({"kind": "changes", "origin": "old-rollcall",
                       "version": older, "records": [rec]})
    db.sql(f"SELECT pg_notify('rollcall', $n${note}$n$)")
    time.sleep(0.5)
    assert authorize(srv, u["id"], slug) == "principal_unavailable"


# --- 3. a bad row quarantines one principal, not the service

def test_bad_row_quarantines_one_principal_not_the_service(make_server):
    # A database of its own: the counts below are of this test's rows.
    db = make_server.database(seed=other_directory, tokens=TOKENS)
    s = make_server(db=db, workers=2)
    try:
        group, slug = world(s)
        ogroup, oslug = world(s, directory="other")
        bad = new_user(s, "bad-row@contoso.com")
        gone = new_user(s, "gone-row@contoso.com")
        good = new_user(s, "good-row@contoso.com")
        other = new_user(s, "other-row@contoso.com", token="other_scim")
        add_members(s, group["id"], bad["id"], good["id"], gone["id"])
        patch(s, f"/Groups/{ogroup['id']}", [{"op": "add", "path":
              "members", "value": [{"value": other["id"]}]}],
              token="other_scim")
        scim(s, "DELETE", f"/Users/{gone['id']}")
    finally:
        s.stop()
    # As an older rollcall, or a hand edit, might have left them.
    db.sql("UPDATE users SET emails_lc = ARRAY[E'v\\t@contoso.com'], "
           "emails_key = ARRAY[E'v\\t@contoso.com'], "
           "doc = jsonb_set(doc, '{emails}', "
           "jsonb_build_array(jsonb_build_object('value', "
           "E'v\\t@contoso.com'))) "
           f"WHERE id = '{bad['id']}'; UPDATE users SET user_name = "
           f"E'gone\\x01row' WHERE id = '{gone['id']}'")

    s = make_server(db=db, workers=2)
    try:
        r = s.get("/readyz")
        assert r.status == 200, r
        assert r.json["quarantined"] == 2
        assert authorize(s, bad["id"], slug) == "principal_unavailable"
        # Its aliases were never loaded: unknown, a deny too.
        assert authorize(s, {"userName": "bad-row@contoso.com"},
                         slug) == "principal_unknown"
        assert authorize(s, gone["id"], slug) == "principal_unavailable"
        assert authorize(s, good["id"], slug) == "allowed_by_rule"
        assert authorize(s, other["id"], oslug,
                         token="other_gateway") == "allowed_by_rule"
        assert metric(s, "rollcall_policy_quarantined") == 2
        assert metric(s, "rollcall_policy_refused_total") == 2
        log = s.logtext()
        assert f"principal {bad['id']} (directory" in log
        assert "email contains a control character" in log

        q = s.get("/admin/v1/quarantine", token=s.tokens["admin"])
        assert q.status == 200, q
        assert sorted(p["id"] for p in q.json["quarantined"]) == \
            sorted([bad["id"], gone["id"]])
        assert q.json["count"] == 2
        row = [p for p in q.json["quarantined"] if p["id"] == bad["id"]][0]
        assert row["directory_id"] == default_dir(db)
        assert "control character" in row["reason"]
        q = s.get("/admin/v1/quarantine", token=s.tokens["other_admin"])
        assert q.json["quarantined"] == []
        q = s.get("/admin/v1/quarantine?directory=other",
                  token=s.tokens["global"])
        assert q.json["count"] == 0
        q = s.get("/admin/v1/quarantine?directory=nope",
                  token=s.tokens["global"])
        assert q.status == 404
        q = s.get("/admin/v1/quarantine?bogus=1", token=s.tokens["global"])
        assert q.status == 400
        r = s.post("/admin/v1/explain", token=s.tokens["admin"], body={
            "subject": bad["id"], "server": slug, "tool": "t"})
        assert r.json["reason_code"] == "principal_unavailable"

        out = db.ctl("quarantine", "--json").stdout
        assert sorted(p["id"] for p in json.loads(out)) == \
            sorted([bad["id"], gone["id"]])
        out = db.ctl("quarantine", "--directory", "other").stdout
        assert out.startswith("0 principal(s) quarantined")
        # The CLI's other commands work for everybody else.
        out = json.loads(db.ctl("effective-policy", good["id"],
                                "--json").stdout)
        assert [d["reason_code"] for d in out
                if d["server"] == slug] == ["allowed_by_rule"]
        out = json.loads(db.ctl("explain", bad["id"], slug, "t",
                                "--json").stdout)
        assert out["reason_code"] == "principal_unavailable"

        # SCIM can still disable the bad row's user (its bad value is
        # not what the PATCH changes); it stays denied.
        patch(s, f"/Users/{bad['id']}", [{"op": "replace", "path":
              "active", "value": False}])
        assert authorize(s, bad["id"], slug) == "principal_unavailable"
    finally:
        s.stop()

    # Repaired by hand: the next start loads it cleanly.
    db.sql("UPDATE users SET emails_lc = '{}', emails_key = '{}', "
           "doc = doc - 'emails' "
           f"WHERE id = '{bad['id']}'")
    s = make_server(db=db, workers=1)
    try:
        assert s.get("/readyz").json["quarantined"] == 1
        assert authorize(s, bad["id"], slug) == "principal_inactive"
    finally:
        s.stop()


def test_bad_rule_row_quarantines_everyone_it_could_concern(make_server):
    """A deny rule the index cannot hold must not turn into an allow: its
    group's members are quarantined; the admin API refuses such a rule."""
    db = make_server.database(seed=other_directory, tokens=TOKENS)
    s = make_server(db=db, workers=1)
    try:
        group, slug = world(s, "deny")
        member = new_user(s, "deny-member@contoso.com")
        outsider = new_user(s, "deny-outsider@contoso.com")
        add_members(s, group["id"], member["id"])
        assert authorize(s, member["id"], slug) == "denied_by_rule"
        r = s.post("/admin/v1/rules", token=s.tokens["global"], body={
            "subject": {"kind": "group", "id": group["id"]}, "server": slug,
            "selector": "t\u0085", "effect": "deny",
            "directory": "default"})
        assert r.status == 400, r
    finally:
        s.stop()
    db.sql("UPDATE rules SET tool_selector = E'\\u0085' WHERE subject_id = "
           f"'{group['id']}'")
    s = make_server(db=db, workers=1)
    try:
        assert s.get("/readyz").status == 200
        assert authorize(s, member["id"], slug) == "principal_unavailable"
        assert authorize(s, outsider["id"], slug) == "allowed_by_rule"
        q = s.get("/admin/v1/quarantine", token=s.tokens["admin"]).json
        row = [p for p in q["quarantined"] if p["id"] == member["id"]][0]
        assert row["reason"].startswith("rule refused: "), row
    finally:
        s.stop()
    db.sql("UPDATE rules SET tool_selector = '*' WHERE subject_id = "
           f"'{group['id']}'")
