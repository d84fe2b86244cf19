"""rules:simulate predicts exactly what really applying the change does:
for add, edit and delete, the gains and losses it reports equal the
decisions that change when the rule is then changed through the rules
API, and simulating changes nothing by itself."""
import pytest

from seed import ALICE, BOB, CAROL, RULE_ALLOW, RULE_DENY, SENIORS, seed

PRINCIPALS = [ALICE, BOB, CAROL]
TOOLS = [("github", t) for t in ("create_pull_request", "delete_branch",
                                 "list_repos", "merge_pull_request")] + \
    [("jira", "create_issue")]


def world(db):
    seed(db, grants=True)


@pytest.fixture(scope="module")
def srv(make_module_server):
    """For the tests that change no rule."""
    return make_module_server(seed=world, tokens=["gateway", "admin"])


@pytest.fixture
def own(make_server):
    """A server of its own for a test that applies its change: each
    starts from the seeded rules."""
    return make_server(seed=world, tokens=["gateway", "admin"])


def decisions(srv):
    out = {}
    for p in PRINCIPALS:
        r = srv.post("/v1/authorize/batch", token=srv.tokens["gateway"],
                     body={"subject": p, "items": [
                         {"server": s, "tool": t} for s, t in TOOLS]})
        for (s, t), d in zip(TOOLS, r.json["results"]):
            out[(p, s, t)] = d["decision"] == "allow"
    return out


def predicted(sim):
    gains = {(g["principal"], t["server"], t["tool"])
             for g in sim["gains"] for t in g["tools"]}
    losses = {(l["principal"], t["server"], t["tool"])
              for l in sim["losses"] for t in l["tools"]}
    return gains, losses


def observed(before, after):
    gains = {k for k in before if not before[k] and after[k]}
    losses = {k for k in before if before[k] and not after[k]}
    return gains, losses


def check(srv, body, apply):
    before = decisions(srv)
    r = srv.post("/admin/v1/rules:simulate", token=srv.tokens["admin"],
                 body=body)
    assert r.status == 200, r
    sim = r.json
    assert decisions(srv) == before, "simulating changed decisions"
    r = apply()
    assert r.status in (200, 201, 204), r
    after = decisions(srv)
    assert predicted(sim) == observed(before, after)
    return sim


def test_simulate_add(own):
    srv = own
    rule = {"subject": {"kind": "group", "id": SENIORS}, "server": "github",
            "selector": "create_*", "effect": "deny"}
    sim = check(srv, {"op": "add", "rule": rule},
                lambda: srv.post("/admin/v1/rules",
                                 token=srv.tokens["admin"], body=rule))
    assert predicted(sim)[1] == {(ALICE, "github", "create_pull_request")}


def test_simulate_edit(own):
    srv = own
    change = {"effect": "allow"}
    sim = check(srv, {"op": "edit", "rule_id": RULE_DENY, "rule": change},
                lambda: srv.request("PATCH", f"/admin/v1/rules/{RULE_DENY}",
                                    token=srv.tokens["admin"], body=change))
    assert (ALICE, "github", "delete_branch") in predicted(sim)[0]


def test_simulate_delete(own):
    srv = own
    sim = check(srv, {"op": "delete", "rule_id": RULE_ALLOW},
                lambda: srv.request("DELETE", f"/admin/v1/rules/{RULE_ALLOW}",
                                    token=srv.tokens["admin"]))
    assert predicted(sim)[1]


def test_simulate_everyone_rule(own):
    srv = own
    rule = {"subject": "everyone", "server": "jira", "selector": "*",
            "effect": "allow"}
    sim = check(srv, {"op": "add", "rule": rule},
                lambda: srv.post("/admin/v1/rules",
                                 token=srv.tokens["admin"], body=rule))
    gains = predicted(sim)[0]
    assert (CAROL, "jira", "create_issue") in gains
    assert (BOB, "jira", "create_issue") not in gains   # inactive


@pytest.mark.parametrize("body,status", [
    ({}, 400), ({"op": "rename"}, 400), ({"op": "edit"}, 400),
    ({"op": "delete", "rule_id": "00000000-0000-4000-8000-000000000999"},
     404),
    ({"op": "add", "rule": {"subject": "everyone", "server": "github",
                            "selector": "*", "effect": "maybe"}}, 400),
    ({"op": "add", "rule": {"subject": {"kind": "group", "id": "x"},
                            "server": "github", "selector": "*",
                            "effect": "allow"}}, 400),
    ({"op": "add"}, 400),
])
def test_simulate_errors(srv, body, status):
    r = srv.post("/admin/v1/rules:simulate", token=srv.tokens["admin"],
                 body=body)
    assert r.status == status, r
