"""Per-principal admin views answered from the policy index (effective
policy, explain) and the kill switch, which must take effect on the very
next decision on every worker."""
import concurrent.futures

import pytest

from seed import (ALICE, BOB, CAROL, GRANT_CAROL, RULE_ALLOW, RULE_DENY,
                  RULE_ELEV, SENIORS, seed)


TOKENS = {"gateway": "gateway", "admin": "admin",
          "other_admin": {"scopes": "admin", "directory": "other"},
          "global": {"scopes": "admin", "directory": None, "name": "g"}}


def world(db):
    seed(db, grants=True)
    db.ctl("directory", "create", "other")


@pytest.fixture(scope="module")
def srv(make_module_server):
    """For the tests that leave the policy as they found it."""
    return make_module_server(seed=world, tokens=TOKENS)


@pytest.fixture
def own(make_server):
    """A server of its own, for a test that revokes or cancels."""
    return make_server(seed=world, tokens=TOKENS)


def decide(srv, subject, tool, server="github"):
    return srv.post("/v1/authorize", token=srv.tokens["gateway"],
                    body={"subject": subject, "server": server,
                          "tool": tool}).json


def everywhere(srv, subject, tool, n=40):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return set(ex.map(lambda _: decide(srv, subject, tool)["reason_code"],
                          range(n)))


def test_effective_policy(srv):
    r = srv.get(f"/admin/v1/principals/{ALICE}/effective-policy",
                token=srv.tokens["admin"])
    assert r.status == 200, r
    tools = {(t["server"], t["tool"]): t for t in r.json["tools"]}
    assert tools[("github", "create_pull_request")]["decision"] == "allow"
    assert tools[("github", "create_pull_request")]["group_id"] == SENIORS
    assert tools[("github", "delete_branch")]["reason_code"] == \
        "denied_by_rule"
    assert ("jira", "create_issue") in tools
    assert r.json["principal"]["groups"] == [SENIORS]
    r = srv.get(f"/admin/v1/principals/{ALICE}/effective-policy?server=jira",
                token=srv.tokens["admin"])
    assert {t["server"] for t in r.json["tools"]} == {"jira"}
    # Every answer equals what a gateway gets.
    for (server, tool), t in tools.items():
        d = decide(srv, ALICE, tool, server)
        assert (d["decision"], d["reason_code"]) == \
            (t["decision"], t["reason_code"])


@pytest.mark.parametrize("path,status", [
    (f"/admin/v1/principals/{ALICE}/effective-policy?bogus=1", 400),
    ("/admin/v1/principals/not-a-uuid/effective-policy", 404),
    ("/admin/v1/principals/00000000-0000-4000-8000-000000000099/"
     "effective-policy", 404),
])
def test_effective_policy_errors(srv, path, status):
    assert srv.get(path, token=srv.tokens["admin"]).status == status


def test_other_directory_cannot_see(srv):
    r = srv.get(f"/admin/v1/principals/{ALICE}/effective-policy",
                token=srv.tokens["other_admin"])
    assert r.status == 404
    r = srv.get(f"/admin/v1/principals/{ALICE}/effective-policy",
                token=srv.tokens["global"])
    assert r.status == 200
    r = srv.post(f"/admin/v1/principals/{ALICE}:revoke-all",
                 token=srv.tokens["other_admin"])
    assert r.status == 404
    assert decide(srv, ALICE, "create_pull_request")["decision"] == "allow"


def test_explain(srv):
    r = srv.post("/admin/v1/explain", token=srv.tokens["admin"],
                 body={"subject": "alice@contoso.com", "server": "github",
                       "tool": "delete_branch"})
    assert r.status == 200, r
    d = r.json
    assert d["decision"] == "deny" and d["reason_code"] == "denied_by_rule"
    assert d["rule_id"] == RULE_DENY
    matched = {(m["rule_id"], m["effect"], m["via_group"])
               for m in d["matching_rules"]}
    assert (RULE_DENY, "deny", SENIORS) in matched
    assert (RULE_ALLOW, "allow", SENIORS) in matched
    assert "deny rule" in d["reasoning"]
    assert d["principal"]["id"] == ALICE
    r = srv.post("/admin/v1/explain", token=srv.tokens["admin"],
                 body={"subject": "carol@contoso.com", "server": "github",
                       "tool": "merge_pull_request"})
    assert r.json["reason_code"] == "allowed_by_grant"
    assert r.json["grant_id"] == GRANT_CAROL
    assert (RULE_ELEV, "elevate", None) in {
        (m["rule_id"], m["effect"], m["via_group"])
        for m in r.json["matching_rules"]}
    r = srv.post("/admin/v1/explain", token=srv.tokens["admin"],
                 body={"subject": "ghost", "server": "github", "tool": "x"})
    assert r.json["reason_code"] == "principal_unknown"
    assert r.json["principal"] is None
    r = srv.post("/admin/v1/explain", token=srv.tokens["admin"],
                 body={"subject": "alice@contoso.com"})
    assert r.status == 400


def test_kill_switch_takes_effect_everywhere_at_once(own):
    srv = own
    assert everywhere(srv, "alice@contoso.com", "create_pull_request") == \
        {"allowed_by_rule"}
    r = srv.post(f"/admin/v1/principals/{ALICE}:revoke-all",
                 token=srv.tokens["admin"])
    assert r.status == 200, r
    assert r.json["revoked_all"] is True
    # The very next decisions, on fresh connections over all workers.
    assert everywhere(srv, "alice@contoso.com", "create_pull_request") == \
        {"principal_revoked"}
    assert srv.db.sql(f"SELECT count(*) FROM revocation_events WHERE "
                      f"principal_id = '{ALICE}' AND kind = "
                      f"'principal.revoked'").strip() == "1"
    assert srv.db.sql("SELECT count(*) FROM audit_log WHERE action = "
                      "'principal.revoke_all'").strip() == "1"
    r = srv.post("/v1/session/check", token=srv.tokens["gateway"],
                 body={"subject": ALICE})
    assert r.json["active"] is False
    r = srv.post(f"/admin/v1/principals/{ALICE}:restore",
                 token=srv.tokens["admin"])
    assert r.status == 200 and r.json["revoked_all"] is False
    assert everywhere(srv, "alice@contoso.com", "create_pull_request") == \
        {"allowed_by_rule"}


def test_kill_switch_cancels_grants(own):
    srv = own
    assert decide(srv, CAROL, "merge_pull_request")["reason_code"] == \
        "allowed_by_grant"
    r = srv.post(f"/admin/v1/principals/{CAROL}:revoke-all",
                 token=srv.tokens["admin"])
    assert r.json["grants_revoked"] == 1
    assert srv.db.sql(f"SELECT state FROM jit_grants WHERE id = "
                      f"'{GRANT_CAROL}'").strip() == "revoked"
    srv.post(f"/admin/v1/principals/{CAROL}:restore",
             token=srv.tokens["admin"])
    # Restoring does not bring the grant back.
    assert decide(srv, CAROL, "merge_pull_request")["reason_code"] == \
        "elevation_required"


def test_kill_switch_errors(srv):
    r = srv.post("/admin/v1/principals/nope:revoke-all",
                 token=srv.tokens["admin"])
    assert r.status == 404
    r = srv.post("/admin/v1/principals/"
                 "00000000-0000-4000-8000-000000000099:revoke-all",
                 token=srv.tokens["admin"])
    assert r.status == 404
    r = srv.get(f"/admin/v1/principals/{BOB}:revoke-all",
                token=srv.tokens["admin"])
    assert r.status == 405
    r = srv.post(f"/admin/v1/principals/{BOB}:revoke-all",
                 token=srv.tokens["gateway"])
    assert r.status == 403


def test_kill_switch_survives_restart(own, make_server):
    srv = own
    srv.post(f"/admin/v1/principals/{BOB}:revoke-all",
             token=srv.tokens["admin"])
    s2 = make_server(db=srv.db)
    try:
        r = s2.post("/v1/session/check", token=srv.tokens["gateway"],
                    body={"subject": BOB})
        assert r.json["principal"]["id"] == BOB
        r = s2.post(f"/admin/v1/principals/{BOB}/effective-policy",
                    token=srv.tokens["admin"])
        assert r.status == 405
        r = s2.get(f"/admin/v1/principals/{BOB}/effective-policy",
                   token=srv.tokens["admin"])
        assert r.json["principal"]["revoked_all"] is True
    finally:
        s2.stop()
