"""Leak checks that run (issue 9, finding 5).

Only with the sanitizer build (RC_BUILD=.../build/asan): the server runs
with LeakSanitizer on and the seccomp sandbox off (RC_TEST_SANDBOX=off,
which only that build honours: LeakSanitizer's tracer needs ptrace),
goes through the main flows, and is stopped cleanly; every process
checks itself in its teardown hook (src/svc/leakcheck.c) and the
test fails on any LeakSanitizer report in the log.

tests/lsan.supp names the few allocations of Kore's that LeakSanitizer
cannot see are still owned (they live in Kore's mmap'd pools), each
with its reason.

Client disconnects each get a server of their own, so that a report
names the case that leaked.
"""
import http.client
import json
import os
import socket
import struct
import subprocess
import time

import pytest

from conftest import BUILD, ROOT, Server

asan_only = pytest.mark.skipif(
    os.path.basename(BUILD.rstrip("/")) != "asan",
    reason="leak checks need the sanitizer build (RC_BUILD=build/asan)")

SUPP = ROOT / "tests" / "lsan.supp"
LEAK_ENV = {
    "RC_TEST_SANDBOX": "off",
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
    "LSAN_OPTIONS": f"suppressions={SUPP}:print_suppressions=0",
}
SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def start(db, workers=2):
    return Server(db, workers=workers, env=LEAK_ENV)


def stop_and_check(s):
    """Stops the server cleanly; fails on any leak report."""
    s.stop(check_log=False)
    text = s.logtext()
    assert "LeakSanitizer" not in text, text[-20000:]
    assert "AddressSanitizer" not in text, text[-20000:]
    assert "runtime error:" not in text, text[-20000:]
    assert "futex facility" not in text, text[-20000:]
    assert "leak check:" not in text, text[-20000:]
    assert "sandbox is off" in text     # the variant really ran
    assert s.proc.returncode == 0, text[-5000:]


@pytest.fixture(scope="module")
def ldb(make_module_server):
    return make_module_server.database(tokens={
        "scim": "scim", "gateway": "gateway", "admin": "global_admin"})


def ok(r, *codes):
    assert r.status in (codes or (200,)), r
    return r


def test_release_build_refuses_the_test_switch(ldb):
    """A production build never runs unsandboxed (runs with either
    RC_BUILD, on build/release)."""
    release = ROOT / "build" / "release" / "rollcall"
    if not release.exists():
        pytest.skip("no release build")
    env = ldb.env()
    env["RC_TEST_SANDBOX"] = "off"
    r = subprocess.run([str(release), "-c", str(ROOT / "conf" /
                        "rollcall.conf"), "-f", "-n", "-r"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "RC_TEST_SANDBOX is for the sanitizer test build" in \
        r.stdout + r.stderr


@asan_only
def test_main_flows_leak_nothing(ldb):
    s = start(ldb)
    scim, gw, adm = (ldb.tokens[k] for k in ("scim", "gateway", "admin"))
    try:
        # SCIM users and groups: create, patch, list, get, delete.
        ids = []
        for i in range(6):
            r = ok(s.post("/scim/v2/Users", {
                "schemas": [USER], "userName": f"u{i}@contoso.com",
                "externalId": f"ext-{i}", "emails": [
                    {"value": f"u{i}@contoso.com", "primary": True}],
                "name": {"givenName": "U", "familyName": str(i)}},
                token=scim, content_type=SCIM_JSON), 201)
            ids.append(r.json["id"])
        g = ok(s.post("/scim/v2/Groups", {
            "schemas": [GROUP], "displayName": "Engineers"},
            token=scim, content_type=SCIM_JSON), 201).json["id"]
        ok(s.request("PATCH", f"/scim/v2/Groups/{g}", {
            "schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members",
                 "value": [{"value": u} for u in ids[:4]]}]},
            token=scim, content_type=SCIM_JSON), 200, 204)
        ok(s.request("PATCH", f"/scim/v2/Users/{ids[5]}", {
            "schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "displayName", "value": "x"}]},
            token=scim, content_type=SCIM_JSON))
        ok(s.get("/scim/v2/Users?filter=userName%20sw%20%22u%22&count=3",
                 token=scim))
        ok(s.get(f"/scim/v2/Users/{ids[0]}", token=scim))
        ok(s.get("/scim/v2/Groups?excludedAttributes=members", token=scim))
        ok(s.get(f"/scim/v2/Groups/{g}", token=scim))
        ok(s.get("/scim/v2/Schemas", token=scim))
        ok(s.get("/scim/v2/Users?filter=bad%20filter", token=scim), 400)
        ok(s.post("/scim/v2/Users", "{not json", token=scim,
                  content_type=SCIM_JSON), 400)
        ok(s.request("DELETE", f"/scim/v2/Users/{ids[4]}", token=scim),
           204)

        # Policy through the admin API, then decisions of every shape.
        ok(s.post("/admin/v1/servers", {"slug": "github", "name": "GH"},
                  token=adm), 200, 201)
        for t in ("create_pull_request", "list_repos"):
            ok(s.post("/admin/v1/servers/github/tools", {"name": t},
                      token=adm), 200, 201)
        ok(s.post("/admin/v1/rules", {
            "directory": "default", "subject": {"kind": "group", "id": g},
            "server": "github", "selector": "*", "effect": "allow"},
            token=adm), 200, 201)
        q = {"subject": "u0@contoso.com", "server": "github",
             "tool": "create_pull_request"}
        assert ok(s.post("/v1/authorize", q, token=gw)).json[
            "decision"] == "allow"
        ok(s.post("/v1/authorize/batch", {
            "subject": "u0@contoso.com", "items": [
                {"server": "github", "tool": "list_repos"},
                {"server": "github", "tool": "nope"}]}, token=gw))
        ok(s.post("/v1/tools/filter", {
            "subject": "u1@contoso.com", "server": "github",
            "tools": ["create_pull_request", "list_repos", "x"]}, token=gw))
        ok(s.post("/v1/session/check", {"subject": "u5@contoso.com"},
                  token=gw))
        ok(s.post("/access/v1/evaluation", {
            "subject": {"type": "user", "id": "u0@contoso.com"},
            "action": {"name": "tools/call"},
            "resource": {"type": "mcp_tool", "id": "list_repos",
                         "properties": {"server": "github"}}}, token=gw))
        ok(s.post("/v1/data/mcp/allow", {"input": {
            "subject": "u0@contoso.com", "action": "tools.invoke",
            "resource": {"type": "tool", "id": "list_repos",
                         "server": "github"}}}, token=gw))
        ok(s.post("/ext-authz/github", {
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_repos"}}, token=gw,
            headers={"x-user": "u0@contoso.com"}))

        # Admin reads, audit export, explain, simulate.
        for path in ("/admin/v1/users?limit=2", "/admin/v1/groups",
                     f"/admin/v1/users/{ids[0]}",
                     f"/admin/v1/users/{ids[0]}/groups",
                     f"/admin/v1/groups/{g}/members",
                     "/admin/v1/directories", "/admin/v1/tokens",
                     "/admin/v1/rules", "/admin/v1/servers",
                     "/admin/v1/audit?limit=5", "/admin/v1/audit/export",
                     "/admin/v1/audit/verify",
                     f"/admin/v1/principals/{ids[0]}/effective-policy"):
            ok(s.get(path, token=adm))
        r = ok(s.get("/admin/v1/audit?limit=2", token=adm))
        cur = r.json.get("next_cursor")
        if cur:
            ok(s.get(f"/admin/v1/audit?limit=2&cursor={cur}", token=adm))
        ok(s.post("/admin/v1/explain", dict(q, directory="default"),
                  token=adm), 200, 400)

        # Tokens: create, use, revoke.
        r = ok(s.post("/admin/v1/tokens", {
            "name": "leak-check", "scopes": ["gateway"],
            "directory": "default"}, token=adm), 200, 201)
        tok, tid = r.json["token"], r.json["id"]
        ok(s.post("/v1/authorize", q, token=tok))
        ok(s.request("DELETE", f"/admin/v1/tokens/{tid}", token=adm),
           200, 204)
        ok(s.post("/v1/authorize", q, token=tok), 401)

        # Feeds: snapshot, changes, revocations, a stream read and left.
        ok(s.get("/v1/policy/snapshot", token=gw))
        ok(s.get("/v1/policy/changes?since=0", token=gw))
        ok(s.get("/v1/revocations", token=gw))
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("GET", "/v1/stream?heartbeat=1",
                     headers={"Authorization": f"Bearer {gw}"})
        resp = conn.getresponse()
        assert resp.status == 200
        resp.fp.readline()
        resp.close()    # the response holds the socket open otherwise
        conn.close()
        # The server notices at a heartbeat write; wait until it has, so
        # that no request is live when the workers stop.
        deadline = time.time() + 15
        while "stream closed" not in s.logtext():
            assert time.time() < deadline, "stream never closed"
            time.sleep(0.2)

        # Refusals on the way in.
        ok(s.get("/admin/v1/users", token="bogus"), 401)
        ok(s.get("/admin/v1/users", token=gw), 403)
        ok(s.request("DELETE", f"/scim/v2/Groups/{g}", token=scim), 204)
        time.sleep(1.5)     # let the timers (sweeps, flushes) run once
    finally:
        stop_and_check(s)


@asan_only
def test_more_flows_leak_nothing(ldb):
    """Writes and error paths across the admin API, long-polls that end
    normally, a token minted by rollcallctl (NOTIFY and reload), the
    kill switch.  Any status but a 5xx; leaks fail."""
    s = start(ldb)
    scim, gw, adm = (ldb.tokens[k] for k in ("scim", "gateway", "admin"))
    def call(method, path, body=None, token=adm, **kw):
        r = s.request(method, path, body=body, token=token, **kw)
        assert r.status < 500, (method, path, r)
        return r

    try:
        u = call("POST", "/scim/v2/Users", {
            "schemas": [USER], "userName": "kim@contoso.com"}, token=scim,
            content_type=SCIM_JSON).json["id"]
        etag = call("GET", f"/scim/v2/Users/{u}", token=scim).headers.get(
            "etag", '"x"')
        call("PUT", f"/scim/v2/Users/{u}", {
            "schemas": [USER], "userName": "kim@contoso.com",
            "active": True, "title": "Eng"}, token=scim,
            content_type=SCIM_JSON, headers={"If-Match": etag})
        call("PUT", f"/scim/v2/Users/{u}", {
            "schemas": [USER], "userName": "kim@contoso.com"}, token=scim,
            content_type=SCIM_JSON, headers={"If-Match": '"stale"'})
        g = call("POST", "/scim/v2/Groups", {
            "schemas": [GROUP], "displayName": "Ops",
            "members": [{"value": u}]}, token=scim,
            content_type=SCIM_JSON).json["id"]
        call("PATCH", f"/scim/v2/Groups/{g}", {
            "schemas": [PATCH], "Operations": [
                {"op": "Remove", "path": f'members[value eq "{u}"]'}]},
            token=scim, content_type=SCIM_JSON)
        call("PATCH", f"/scim/v2/Groups/{g}", {
            "schemas": [PATCH], "Operations": [{"op": "Bogus"}]},
            token=scim, content_type=SCIM_JSON)
        call("GET", "/scim/v2/Groups?filter=displayName%20eq%20%22Ops%22",
             token=scim)
        call("GET", "/scim/v2/Users?startIndex=1&count=1&attributes=userName",
             token=scim)

        call("POST", "/admin/v1/directories", {"name": "fabrikam"})
        call("POST", "/admin/v1/servers", {"slug": "jira", "name": "Jira"})
        call("POST", "/admin/v1/servers/jira/tools:import", {"tools": [
            {"name": "create_issue", "description": "d"},
            {"name": "delete_issue"}]})
        call("PATCH", "/admin/v1/servers/jira/tools/delete_issue",
             {"risk": "high"})
        call("GET", "/admin/v1/servers/jira/tools")
        sp = call("POST", "/admin/v1/service-principals", {
            "directory": "default", "name": "bot", "app_id": "app-1",
            "owner": u})
        spid = sp.json.get("id") if sp.status < 300 else None
        rule = call("POST", "/admin/v1/rules", {
            "directory": "default", "subject": {"kind": "user", "id": u},
            "server": "jira", "selector": "create_*", "effect": "allow"})
        rid = rule.json.get("id") if rule.status < 300 else None
        if rid:
            call("PATCH", f"/admin/v1/rules/{rid}", {"selector": "*"})
        assert call("POST", "/admin/v1/rules:simulate", {
            "op": "add", "rule": {
                "directory": "default", "subject": {"kind": "group",
                                                    "id": g},
                "server": "jira", "selector": "*", "effect": "deny"}}
        ).status == 200
        assert call("POST", "/admin/v1/rules", {
            "directory": "default", "subject": {"kind": "user", "id": u},
            "server": "jira", "selector": "delete_*", "effect": "elevate",
            "max_grant_s": 600}).status == 201
        gr = call("POST", "/admin/v1/grants", {
            "directory": "default", "principal": u, "server": "jira", "tool": "delete_issue",
            "duration_s": 60, "reason": "leak check", "ticket": "T-1"})
        assert gr.status == 201, gr
        for step in ("approve", "activate", "revoke"):
            call("POST", f"/admin/v1/grants/{gr.json['id']}:{step}", {})
        call("GET", "/admin/v1/grants")
        call("POST", f"/admin/v1/principals/{u}:revoke-all", {})
        call("POST", "/v1/authorize", {"subject": u, "server": "jira",
                                       "tool": "create_issue"}, token=gw)
        call("POST", f"/admin/v1/principals/{u}:restore", {})
        call("GET", f"/admin/v1/principals/{u}/effective-policy")
        call("GET", "/admin/v1/audit/export?limit=3")
        call("GET", "/admin/v1/users?filter=nonsense")
        call("GET", "/admin/v1/audit?cursor=forged")
        if spid:
            call("PATCH", f"/admin/v1/service-principals/{spid}",
                 {"suspended": True})
            call("DELETE", f"/admin/v1/service-principals/{spid}")
        if rid:
            call("DELETE", f"/admin/v1/rules/{rid}")
        call("DELETE", "/admin/v1/servers/jira/tools/delete_issue")
        call("DELETE", "/admin/v1/servers/jira")

        # Long-polls that end by themselves, and one woken by a change.
        call("GET", "/v1/revocations?wait=1", token=gw)
        snap = call("GET", "/v1/policy/snapshot", token=gw)
        ver = snap.json.get("policy_version", 0)
        call("GET", f"/v1/policy/changes?since={ver}&wait=1", token=gw)

        # A token minted outside the server reaches it by NOTIFY.
        tok = ldb.token("gateway", name="late")
        deadline = time.time() + 10
        while s.post("/v1/session/check", {"subject": u},
                     token=tok).status == 401:
            assert time.time() < deadline, "late token never loaded"
            time.sleep(0.2)
        call("DELETE", f"/scim/v2/Groups/{g}", token=scim)
        call("DELETE", f"/scim/v2/Users/{u}", token=scim)
        time.sleep(1.5)
    finally:
        stop_and_check(s)


def reset_after(s, raw, wait=0.003):
    """Sends raw bytes and resets the connection (RST, no FIN)."""
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    c.sendall(raw)
    time.sleep(wait)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    c.close()


def request_bytes(method, path, token, body=None, ctype="application/json"):
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n" \
           f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


DISCONNECTS = {
    # A SCIM create whose client leaves 3 ms after sending.
    "scim_create": lambda t, i: request_bytes(
        "POST", "/scim/v2/Users", t["scim"],
        {"schemas": [USER], "userName": f"gone{i}@contoso.com"},
        SCIM_JSON),
    # A large list whose client leaves.
    "scim_list": lambda t, i: request_bytes(
        "GET", "/scim/v2/Users?count=1000", t["scim"]),
    # A long-poll left before it answers.
    "long_poll": lambda t, i: request_bytes(
        "GET", "/v1/policy/changes?since=0&wait=5", t["gateway"]),
    # A request cut off in the middle of its body.
    "half_body": lambda t, i: request_bytes(
        "POST", "/v1/authorize", t["gateway"],
        {"subject": "x", "server": "y", "tool": "z"})[:-10],
}


# A client that leaves while its database job runs: the job is skipped
# or cancelled and frees itself and the handler's state once its thread
# is done (db.c svc_db_release), so nothing may leak.


@asan_only
@pytest.mark.parametrize("case", [
    "scim_create",
    "scim_list",
    "long_poll",
    "half_body",
])
def test_disconnect_leaks_nothing(ldb, case):
    s = start(ldb, workers=1)
    try:
        for i in range(20):
            reset_after(s, DISCONNECTS[case](ldb.tokens, i))
        # The server still answers, and the abandoned work drains.
        time.sleep(1.0)
        ok(s.get("/scim/v2/Users?count=1", token=ldb.tokens["scim"]))
        time.sleep(1.0)
    finally:
        stop_and_check(s)
