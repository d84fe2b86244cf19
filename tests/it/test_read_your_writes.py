"""The consistency promise (README, "How a disable reaches every
decision at once"): once rollcall answers 2xx to
the SCIM request that disables a user or removes a membership, no
decision from any worker may reflect the old state.  Many connections
keep asking, spread over all workers, while the write happens; every
request sent after the write's response must be a deny."""
import http.client
import json
import threading
import time

import pytest

from conftest import Database, Server

SCIM = "application/scim+json"


@pytest.fixture(scope="module")
def srv():
    db = Database()
    tokens = {"gateway": db.token("gateway"), "scim": db.token("scim"),
              "admin": db.token("admin", directory=None, name="global")}
    s = Server(db, workers=4)
    s.tokens = tokens
    yield s
    s.stop()
    db.drop()


def scim(srv, method, path, body=None):
    r = srv.request(method, "/scim/v2" + path, body=body,
                    token=srv.tokens["scim"], content_type=SCIM)
    assert r.status in (200, 201, 204), r
    return r


def setup_world(srv, name):
    user = scim(srv, "POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@contoso.com", "active": True}).json
    group = scim(srv, "POST", "/Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": f"{name} engineers"}).json
    scim(srv, "PATCH", f"/Groups/{group['id']}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members",
                        "value": [{"value": user["id"]}]}]})
    admin = srv.tokens["admin"]
    slug = f"gh-{name}"
    assert srv.post("/admin/v1/servers", token=admin, body={
        "slug": slug, "name": "GitHub"}).status == 201
    assert srv.post(f"/admin/v1/servers/{slug}/tools", token=admin, body={
        "name": "create_pull_request"}).status == 201
    r = srv.post("/admin/v1/rules", token=admin, body={
        "subject": {"kind": "group", "id": group["id"]}, "server": slug,
        "selector": "*", "effect": "allow", "directory": "default"})
    assert r.status == 201, r
    return user, group, slug


class Hammer:
    """Threads asking on fresh connections until stopped; each result is
    (sent_at, decision)."""

    def __init__(self, srv, subject, server, n=16):
        self.srv, self.stop_flag = srv, False
        self.body = json.dumps({"subject": subject, "server": server,
                                "tool": "create_pull_request"})
        self.results, self.lock = [], threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]

    def run(self):
        while not self.stop_flag:
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                              timeout=10)
            sent = time.monotonic()
            conn.request("POST", "/v1/authorize", body=self.body, headers={
                "Authorization": f"Bearer {self.srv.tokens['gateway']}",
                "Content-Type": "application/json"})
            d = json.loads(conn.getresponse().read())
            conn.close()
            with self.lock:
                self.results.append((sent, d["decision"]))

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.stop_flag = True
        for t in self.threads:
            t.join()


def assert_no_allow_after(h, acked):
    before = [d for s, d in h.results if s < acked]
    after = [d for s, d in h.results if s > acked]
    assert "allow" in before, "the test never saw the allowed state"
    assert len(after) > 50, f"too few requests after the write: {len(after)}"
    assert after.count("allow") == 0, \
        f"{after.count('allow')} of {len(after)} decisions after the write " \
        f"still allowed"


def test_disable_denies_everywhere_at_once(srv):
    user, _, slug = setup_world(srv, "dana")
    with Hammer(srv, user["userName"], slug) as h:
        scim(srv, "PATCH", f"/Users/{user['id']}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active",
                            "value": "False"}]})
        acked = time.monotonic()
    assert_no_allow_after(h, acked)


def test_membership_removal_denies_everywhere_at_once(srv):
    user, group, slug = setup_world(srv, "erin")
    with Hammer(srv, user["userName"], slug) as h:
        scim(srv, "PATCH", f"/Groups/{group['id']}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "members",
                            "value": [{"value": user["id"]}]}]})
        acked = time.monotonic()
    assert_no_allow_after(h, acked)


def test_delete_denies_everywhere_at_once(srv):
    user, _, slug = setup_world(srv, "fred")
    with Hammer(srv, user["id"], slug) as h:
        scim(srv, "DELETE", f"/Users/{user['id']}")
        acked = time.monotonic()
    assert_no_allow_after(h, acked)
