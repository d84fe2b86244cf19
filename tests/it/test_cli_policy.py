"""rollcallctl's policy commands: effective-policy and explain answer
from the same index code the server uses (they must agree with the
gateway endpoints), and revoke-all reaches running servers by NOTIFY."""
import json
import time

import pytest

from seed import ALICE, RULE_DENY, SENIORS, seed


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(seed=lambda db: seed(db, grants=True),
                              tokens=["gateway"])


def decide(srv, subject, tool, server="github"):
    return srv.post("/v1/authorize", token=srv.tokens["gateway"],
                    body={"subject": subject, "server": server,
                          "tool": tool}).json


def test_effective_policy_agrees_with_gateway(srv):
    rows = json.loads(srv.db.ctl("effective-policy", "alice@contoso.com",
                                 "--json").stdout)
    assert rows
    for r in rows:
        d = decide(srv, ALICE, r["tool"], r["server"])
        assert (d["decision"], d["reason_code"]) == \
            (r["decision"], r["reason_code"]), r
    table = srv.db.ctl("effective-policy", ALICE, "--server", "github").stdout
    assert "create_pull_request" in table and "create_issue" not in table
    assert "allowed_by_rule" in table
    r = srv.db.ctl("effective-policy", "nobody@x", check=False)
    assert r.returncode == 1 and "no principal" in r.stderr
    r = srv.db.ctl("effective-policy", ALICE, "--directory", "nope",
                   check=False)
    assert r.returncode == 1 and "no directory" in r.stderr


def test_explain(srv):
    out = json.loads(srv.db.ctl("explain", "alice@contoso.com", "github",
                                "delete_branch", "--json").stdout)
    assert out["decision"] == "deny" and out["rule_id"] == RULE_DENY
    assert {"rule_id": RULE_DENY, "effect": "deny", "subject_kind": "group",
            "via_group": SENIORS, "path": f"group {SENIORS}"} \
        in out["matching_rules"]
    text = srv.db.ctl("explain", "alice@contoso.com", "github",
                      "delete_branch").stdout
    assert "may not call github/delete_branch: denied_by_rule" in text
    r = srv.db.ctl("explain", "x", check=False)
    assert r.returncode == 1


def test_revoke_all_reaches_the_server(srv):
    assert decide(srv, ALICE, "create_pull_request")["decision"] == "allow"
    out = srv.db.ctl("revoke-all", ALICE).stdout
    assert "revoked everything" in out
    deadline = time.time() + 1.0
    while time.time() < deadline:
        if decide(srv, ALICE, "create_pull_request")["reason_code"] == \
                "principal_revoked":
            break
        time.sleep(0.01)
    assert decide(srv, ALICE, "create_pull_request")["reason_code"] == \
        "principal_revoked"
    assert srv.db.sql("SELECT actor_kind || ':' || action FROM audit_log "
                      "ORDER BY id DESC LIMIT 1").strip() == \
        "cli:principal.revoke_all"
    srv.db.ctl("revoke-all", ALICE, "--restore")
    deadline = time.time() + 1.0
    while time.time() < deadline:
        if decide(srv, ALICE, "create_pull_request")["decision"] == "allow":
            break
        time.sleep(0.01)
    assert decide(srv, ALICE, "create_pull_request")["decision"] == "allow"
    r = srv.db.ctl("revoke-all", "00000000-0000-4000-8000-000000000077",
                   check=False)
    assert r.returncode == 1 and "no principal" in r.stderr
