"""Snapshot equivalence: a gateway that evaluates GET /v1/policy/snapshot
locally, with the algorithm documented in the README, decides exactly
like /v1/authorize and /v1/authorize/batch.

A random policy (fixed seed) with globs, risk and custom labels, deny /
allow / elevate rules on groups, users, service principals and
everyone, JIT grants inside and outside their windows, inactive,
deleted and kill-switched users, suspended agents, a deleted group and
ambiguous aliases is loaded before the server starts; then some of it
changes through the change path (index updated incrementally) and the
comparison runs again.  Thousands of (subject, server, tool) triples
each time."""
import json
import random
import time
import uuid

import pytest

from policy_model import Local
from test_feeds import commit_change

SEED = 20261121
NOW_MS = int(time.time() * 1000)


# --- a seeded random policy ---------------------------------------------

TOOL_NAMES = ["create_issue", "delete_issue", "list_issues", "get_secret",
              "put_secret", "delete_branch", "create_pull_request",
              "merge_pull_request", "list_repos", "deploy", "rollback",
              "scale", "get_logs", "exec_shell", "read_file", "write_file"]
RISKS = ["low", "normal", "consequential", "high", "secrets",
         "infrastructure", "Normal"]
LABELS = ["pii", "env:prod", "env:dev", "team:core", "PII"]
SELECTORS = ["*", "delete_*", "*_issue*", "get_?ecret", "create_*",
             "list_repos", "deploy", "risk:high", "risk:secrets",
             "RISK:Low", "label:pii", "env:prod", "team:core", "??ploy",
             "*secret", "no_such_tool", "label:missing"]


def u(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seed_policy(db, rng):
    db.ctl("directory", "create", "other")
    sql = []
    users, sps, groups, rules = [], [], [], []
    for i in range(70):
        uid = u(rng)
        d = 2 if i >= 64 else 1
        name = f"user{i}@contoso.com" if d == 1 else f"user{i}@fabrikam.com"
        active = rng.random() > 0.15
        deleted = rng.random() < 0.06
        revoked = rng.random() < 0.05
        ext = f"oid-{i}" if rng.random() > 0.2 else None
        if i in (5, 6):
            ext = "oid-shared"          # ambiguous unless one is live
        emails = [name.upper() if i % 7 == 0 else name]
        if i % 5 == 0:
            emails.append(f"alias{i}@contoso.com")
        if i == 9:
            emails.append("alias10@contoso.com")   # shared with user 10
        users.append((uid, d, name, active, deleted))
        sql.append(
            "INSERT INTO users (id, directory_id, user_name, external_id, "
            "active, emails_lc, doc, deleted_at, revoked_all_at) VALUES "
            f"('{uid}', {d}, '{name}', "
            f"{'NULL' if ext is None else repr(ext)}, {active}, "
            f"ARRAY[{','.join(repr(e.lower()) for e in emails)}]::text[], "
            f"'{{}}', {'now()' if deleted else 'NULL'}, "
            f"{'now()' if revoked else 'NULL'});")
    # A tombstone sharing a live user's userName.
    tomb = u(rng)
    sql.append("INSERT INTO users (id, directory_id, user_name, active, doc,"
               f" deleted_at) VALUES ('{tomb}', 1, 'user3@contoso.com', "
               "false, '{}', now());")
    dir1_users = [x for x in users if x[1] == 1]
    for i in range(12):
        sid = u(rng)
        owner = rng.choice(dir1_users)[0] if rng.random() > 0.3 else None
        active = rng.random() > 0.2
        revoked = rng.random() < 0.1
        sps.append(sid)
        sql.append(
            "INSERT INTO service_principals (id, directory_id, name, app_id,"
            " owner_user_id, active, revoked_all_at) VALUES "
            f"('{sid}', 1, 'agent{i}', 'App-{i:04d}', "
            f"{'NULL' if owner is None else repr(owner)}, {active}, "
            f"{'now()' if revoked else 'NULL'});")
    for i in range(9):
        gid = u(rng)
        deleted = i == 8
        groups.append(gid)
        sql.append("INSERT INTO groups (id, directory_id, display_name, doc,"
                   f" deleted_at) VALUES ('{gid}', 1, 'group{i}', '{{}}', "
                   f"{'now()' if deleted else 'NULL'});")
        for x in rng.sample(dir1_users, 12):
            sql.append(f"INSERT INTO memberships (group_id, user_id) VALUES "
                       f"('{gid}', '{x[0]}');")
    servers = ["github", "jira", "k8s", "vault"]
    for s in servers:
        sql.append(f"INSERT INTO mcp_servers (slug, name) VALUES "
                   f"('{s}', '{s}');")
        for t in rng.sample(TOOL_NAMES, rng.randint(6, 11)):
            labels = rng.sample(LABELS, rng.randint(0, 2))
            risk = rng.choice(RISKS).lower() if t != "deploy" else "high"
            sql.append(
                "INSERT INTO tools (server_id, name, risk, labels) SELECT id, "
                f"'{t}', '{risk}', ARRAY[{','.join(map(repr, labels))}]"
                f"::text[] FROM mcp_servers WHERE slug = '{s}';")
    for i in range(60):
        rid = u(rng)
        kind = rng.choice(["group"] * 4 + ["user"] * 2 +
                          ["service_principal", "everyone"])
        if kind == "group":
            subj = rng.choice(groups)
        elif kind == "user":
            subj = rng.choice(dir1_users)[0]
        elif kind == "service_principal":
            subj = rng.choice(sps)
        else:
            subj = None
        effect = rng.choice(["allow"] * 5 + ["deny"] * 2 + ["elevate"] * 2)
        rules.append(rid)
        sql.append(
            "INSERT INTO rules (id, directory_id, subject_kind, subject_id, "
            "server_slug, tool_selector, effect, max_grant_s) VALUES "
            f"('{rid}', 1, '{kind}', "
            f"{'NULL' if subj is None else repr(subj)}, "
            f"'{rng.choice(servers + ['*'])}', '{rng.choice(SELECTORS)}', "
            f"'{effect}', {3600 if effect == 'elevate' else 'NULL'});")
    # Another directory's rule for everyone (what the index does with
    # such a rule is what the snapshot must say).
    sql.append("INSERT INTO rules (id, directory_id, subject_kind, "
               "server_slug, tool_selector, effect) VALUES "
               f"('{u(rng)}', 2, 'everyone', 'jira', 'list_*', 'allow');")
    hour = "interval '1 hour'"
    for i in range(30):
        who = rng.choice([x[0] for x in dir1_users] + sps)
        when = rng.choice([
            f"now() - {hour}, now() + {hour}",
            f"now() - 2 * {hour}, now() - {hour}",
            f"now() + {hour}, now() + 2 * {hour}"])
        state = rng.choice(["approved"] * 4 + ["requested", "revoked",
                                               "denied"])
        sql.append(
            "INSERT INTO jit_grants (id, directory_id, principal_kind, "
            "principal_id, server_slug, tool_selector, state, not_before, "
            f"expires_at) VALUES ('{u(rng)}', 1, "
            f"'{'service_principal' if who in sps else 'user'}', '{who}', "
            f"'{rng.choice(servers + ['*'])}', '{rng.choice(SELECTORS)}', "
            f"'{state}', {when});")
    # Elevation on one server for everyone, and grants that cover it.
    sql.append("INSERT INTO rules (id, directory_id, subject_kind, "
               "server_slug, tool_selector, effect, max_grant_s) VALUES "
               f"('{u(rng)}', 1, 'everyone', 'vault', '*', 'elevate', 900);")
    for x in rng.sample(dir1_users, 15):
        sql.append(
            "INSERT INTO jit_grants (id, directory_id, principal_kind, "
            "principal_id, server_slug, tool_selector, state, not_before, "
            f"expires_at) VALUES ('{u(rng)}', 1, 'user', '{x[0]}', "
            f"'{rng.choice(['vault', '*'])}', "
            f"'{rng.choice(['*', 'risk:secrets', '*_secret', 'get_*'])}', "
            f"'approved', now() - {hour}, now() + {hour});")
    sql.append("UPDATE policy_state SET version = 41;")
    db.sql("\n".join(sql))
    return {"users": users, "sps": sps, "groups": groups, "rules": rules,
            "servers": servers}


@pytest.fixture(scope="module")
def eq(make_module_server):
    rng = random.Random(SEED)
    seeded = {}
    s = make_module_server(
        seed=lambda db: seeded.update(seed_policy(db, rng)),
        tokens=["gateway"])
    s.tok = s.tokens["gateway"]
    s.seeded = seeded
    s.rng = rng
    return s


def subjects_of(local, rng):
    """Every way a gateway may name each principal, plus strangers."""
    out = []
    for p in local.snap["principals"]:
        out.append(p["id"])
        out.append({"id": p["id"]})
        for key in ("userName", "externalId", "appId"):
            if p.get(key):
                out.append(p[key])
                out.append({key: p[key]})
                if key != "externalId":
                    out.append({key: p[key].upper()})
        for e in p.get("emails") or []:
            out.append({"email": e.upper()})
    out += ["nobody@contoso.com", "oid-shared", {"externalId": "oid-shared"},
            "user66@fabrikam.com", {"email": "alias10@contoso.com"},
            str(uuid.UUID(int=rng.getrandbits(128)))]
    return out


class Moved(Exception):
    """The policy changed under the comparison (e.g. the grant-expiry
    timer committed a version): start again."""


def stable_snapshot(s, timeout=10):
    """A snapshot whose version the decisions report too."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = s.get("/v1/policy/snapshot", token=s.tok)
        assert r.status == 200, r
        v = s.post("/v1/authorize", token=s.tok,
                   body={"subject": "x", "server": "x", "tool": "x"}
                   ).json["policy_version"]
        if v == r.json["policy_version"]:
            return Local(r.json)
        time.sleep(0.2)
    raise AssertionError("policy version never settled")


def compare(s):
    for _ in range(5):
        try:
            return compare_once(s)
        except Moved:
            time.sleep(0.5)
    raise AssertionError("the policy kept changing during the comparison")


def compare_once(s):
    local = stable_snapshot(s)
    pairs = sorted(local.tools) + [("github", "nope"), ("nosuch", "deploy")]
    subjects = subjects_of(local, s.rng)
    mismatches, n, allows = [], 0, 0
    for subj in subjects:
        items = [{"server": a, "tool": b} for a, b in pairs]
        body = s.post("/v1/authorize/batch", token=s.tok,
                      body={"subject": subj, "items": items}).json
        if body["policy_version"] != local.version:
            raise Moved()
        now = int(time.time() * 1000)
        for item, got in zip(items, body["results"]):
            want = local.decide(subj, item["server"], item["tool"], now)
            have = {k: got.get(k) for k in want}
            n += 1
            allows += want["decision"] == "allow"
            if have != want:
                mismatches.append((subj, item, want, have))
    # Single calls too, on a random sample.
    for _ in range(400):
        subj = s.rng.choice(subjects)
        a, b = s.rng.choice(pairs)
        got = s.post("/v1/authorize", token=s.tok,
                     body={"subject": subj, "server": a, "tool": b}).json
        if got["policy_version"] != local.version:
            raise Moved()
        want = local.decide(subj, a, b, int(time.time() * 1000))
        have = {k: got.get(k) for k in want}
        n += 1
        if have != want:
            mismatches.append((subj, (a, b), want, have))
    reasons = {}
    for p in local.snap["principals"]:
        for a, b in pairs:
            rc = local.decide(p["id"], a, b, NOW_MS)["reason_code"]
            reasons[rc] = reasons.get(rc, 0) + 1
    print(f"\n{n} decisions compared, {allows} allows, "
          f"{len(mismatches)} mismatches; reasons covered: "
          f"{json.dumps(reasons, sort_keys=True)}")
    assert not mismatches, mismatches[:5]
    return local, reasons, n


def test_snapshot_decides_like_authorize(eq):
    local, reasons, n = compare(eq)
    assert n >= 5000
    # The seed must exercise every branch of the algorithm.
    for rc in ("allowed_by_rule", "allowed_by_grant", "denied_by_rule",
               "elevation_required", "no_matching_rule", "tool_unknown",
               "principal_inactive", "principal_revoked", "owner_inactive"):
        assert reasons.get(rc, 0) > 0, (rc, reasons)


def test_still_equivalent_after_incremental_changes(eq):
    """Change the database and tell the index through change records, as
    the server's writes do; the fresh snapshot and the index agree."""
    db = eq.db
    rng = random.Random(SEED + 1)
    live = [x for x in eq.seeded["users"] if x[1] == 1 and x[3] and
            not x[4]]
    records = []
    for uid, d, name, _, _ in rng.sample(live, 4):
        row = db.sql("SELECT external_id, array_to_json(emails_lc) FROM "
                     f"users WHERE id = '{uid}'").strip().split("|")
        db.sql(f"UPDATE users SET active = false WHERE id = '{uid}'")
        records.append({"kind": "user", "id": uid, "directory_id": d,
                        "userName": name, "externalId": row[0] or None,
                        "emails": json.loads(row[1]), "active": False,
                        "deleted": False})
    gone = rng.choice(eq.seeded["rules"])
    db.sql(f"DELETE FROM rules WHERE id = '{gone}'")
    records.append({"kind": "rule", "id": gone, "deleted": True})
    g = eq.seeded["groups"][0]
    for uid, *_ in rng.sample(live, 5):
        db.sql(f"INSERT INTO memberships VALUES ('{g}', '{uid}') "
               "ON CONFLICT DO NOTHING")
        records.append({"kind": "member", "group": g, "user": uid,
                        "present": True})
    v = commit_change(db, records)
    deadline = time.time() + 5
    while time.time() < deadline:
        r = eq.post("/v1/authorize", token=eq.tok,
                    body={"subject": "x", "server": "github", "tool": "x"})
        if r.json["policy_version"] >= v:
            break
        time.sleep(0.05)
    local, _, _ = compare(eq)
    assert local.version >= v
