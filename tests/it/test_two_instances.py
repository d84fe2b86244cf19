"""Two rollcall instances on one database converge through LISTEN/NOTIFY:
a change acknowledged by one is seen by the other within a second."""
import time

import pytest

from conftest import TOKENS


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture(scope="module")
def pair(make_module_server):
    a = make_module_server(tokens=TOKENS,
                           env={"ROLLCALL_INSTANCE": "inst-a"})
    b = make_module_server(db=a.db, env={"ROLLCALL_INSTANCE": "inst-b"})
    return a, b


def decide(s, subject, tool):
    r = s.post("/v1/authorize", token=s.tokens["gateway"],
               body={"subject": subject, "server": "github", "tool": tool})
    assert r.status == 200, r
    return r.json


def wait_for(s, subject, tool, want, limit=1.0):
    """Seconds until s answers want for (subject, tool); fails past limit."""
    t0 = time.monotonic()
    while True:
        d = decide(s, subject, tool)
        elapsed = time.monotonic() - t0
        if d["decision"] == want:
            return elapsed, d
        assert elapsed < limit, (want, d)
        time.sleep(0.01)


def test_changes_cross_instances(pair):
    a, b = pair
    r = a.post("/scim/v2/Users", token=a.tokens["scim"],
               body={"schemas": [USER], "userName": "alice@contoso.com",
                     "active": True})
    assert r.status == 201, r
    alice = r.json["id"]
    r = a.post("/admin/v1/servers", token=a.tokens["global_admin"],
               body={"slug": "github"})
    assert r.status == 201, r
    r = a.post("/admin/v1/servers/github/tools", token=a.tokens[
        "global_admin"], body={"name": "create_pull_request"})
    assert r.status == 201, r
    r = a.post("/admin/v1/rules", token=a.tokens["admin"], body={
        "subject": {"kind": "user", "id": alice}, "server": "github",
        "selector": "*", "effect": "allow"})
    assert r.status == 201, r
    rule = r.json["id"]
    # A answers at once (read-your-writes); B within a second.
    assert decide(a, alice, "create_pull_request")["decision"] == "allow"
    took, d = wait_for(b, alice, "create_pull_request", "allow")
    print(f"rule create A->B: {took * 1000:.1f} ms")

    # A rule deleted through B: A denies within a second.
    r = b.request("DELETE", f"/admin/v1/rules/{rule}",
                  token=b.tokens["admin"])
    assert r.status == 204
    assert decide(b, alice, "create_pull_request")["decision"] == "deny"
    took, _ = wait_for(a, alice, "create_pull_request", "deny")
    print(f"rule delete B->A: {took * 1000:.1f} ms")

    # A SCIM disable through A: B denies within a second.
    r = a.post("/admin/v1/rules", token=a.tokens["admin"], body={
        "subject": "everyone", "server": "github", "selector": "*",
        "effect": "allow"})
    assert r.status == 201
    wait_for(b, alice, "create_pull_request", "allow")
    r = a.request("PATCH", f"/scim/v2/Users/{alice}",
                  token=a.tokens["scim"],
                  body={"schemas": [PATCH], "Operations": [
                      {"op": "replace", "path": "active", "value": False}]})
    assert r.status in (200, 204), r
    assert decide(a, alice, "create_pull_request")["reason_code"] == \
        "principal_inactive"
    took, d = wait_for(b, alice, "create_pull_request", "deny")
    assert d["reason_code"] == "principal_inactive"
    print(f"SCIM disable A->B: {took * 1000:.1f} ms")
    # Both stamp the same policy version.
    assert decide(a, alice, "create_pull_request")["policy_version"] == \
        decide(b, alice, "create_pull_request")["policy_version"]
