"""One identity per request (issue 9, finding 3).

A request that carries Authorization, or a header naming the caller or
the target (the ext_authz headers, as configured), more than once is
refused with 400 on every route family, before either copy is used:
Kore's lookup returns the first, a proxy in front may act on the last.
Sent over http.client with putheader twice, as an attacker would.
"""
import base64
import http.client
import json
import re

import pytest

from conftest import Response

REFUSED = 'rollcall_requests_refused_total{reason="duplicate_header"}'


def raw(server, method, path, headers, body=None):
    """Sends headers exactly as listed (repeats included)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def refused_count(server):
    text = server.get("/metrics").body.decode()
    m = re.search(r"(?m)^" + re.escape(REFUSED) + r" (\d+)$", text)
    assert m, text
    return int(m.group(1))


def bearer(server, kind):
    return ("Authorization", f"Bearer {server.tokens[kind]}")


def assert_refused(r, header, scim=False):
    assert r.status == 400, r
    if scim:
        assert r.headers["content-type"].startswith("application/scim+json")
        assert r.json["schemas"] == [
            "urn:ietf:params:scim:api:messages:2.0:Error"]
        assert r.json["status"] == "400"
        assert r.json["scimType"] == "invalidSyntax"
        assert f"'{header}'" in r.json["detail"]
    else:
        assert r.json["error"] == "duplicate_header"
        assert f"'{header}'" in r.json["message"]


AUTHZ = {"subject": "alice@contoso.com", "server": "github",
         "tool": "list_repos"}
AUTHZEN = {"subject": {"type": "user", "id": "alice@contoso.com"},
           "action": {"name": "tools/call"},
           "resource": {"type": "mcp_tool", "id": "list_repos",
                        "properties": {"server": "github"}}}
OPA = {"input": {"subject": "alice@contoso.com", "action": "tools.invoke",
                 "resource": {"type": "tool", "id": "list_repos",
                              "server": "github"}}}

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize"}

# (family, method, path, token kind, body)
ROUTES = [
    ("scim", "GET", "/scim/v2/Users", "scim", None),
    ("scim", "POST", "/scim/v2/Groups", "scim", {"displayName": "x"}),
    ("admin", "GET", "/admin/v1/tokens", "admin", None),
    ("gateway", "POST", "/v1/authorize", "gateway", AUTHZ),
    ("authzen", "POST", "/access/v1/evaluation", "gateway", AUTHZEN),
    ("opa", "POST", "/v1/data/mcp/allow", "gateway", OPA),
    ("ext_authz", "POST", "/ext-authz/github", "gateway", INIT),
]


@pytest.mark.parametrize("family,method,path,kind,body", ROUTES,
                         ids=[r[0] + ":" + r[2] for r in ROUTES])
def test_two_authorization_headers(server, family, method, path, kind,
                                   body):
    scim = family == "scim"
    extra = [("x-user", "alice@contoso.com")] if family == "ext_authz" \
        else []
    # One header: the request is read (whatever the decision).
    r = raw(server, method, path, [bearer(server, kind)] + extra, body)
    assert r.status != 400, r
    before = refused_count(server)
    # The same valid token twice, and a valid one then a bogus one:
    # both ambiguous, neither is used.
    for second in (bearer(server, kind)[1], "Bearer not-a-token"):
        r = raw(server, method, path, [bearer(server, kind),
                ("Authorization", second)] + extra, body)
        assert_refused(r, "authorization", scim)
    # Names compare without regard to case.
    r = raw(server, method, path, [bearer(server, kind),
            ("AUTHORIZATION", "Bearer x")] + extra, body)
    assert_refused(r, "authorization", scim)
    assert refused_count(server) == before + 3


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json",
                                  "/.well-known/authzen-configuration",
                                  "/no/such/route"])
def test_routes_without_a_token_keep_the_rule(server, path):
    """Every route passes the check, not only those that read a token."""
    assert raw(server, "GET", path, [("x-user", "a")]).status != 400
    r = raw(server, "GET", path, [("x-user", "a"), ("x-user", "b")])
    assert_refused(r, "x-user")
    r = raw(server, "GET", path, [("Authorization", "Bearer a"),
                                  ("authorization", "Bearer a")])
    assert_refused(r, "authorization")


def test_opa_basic_and_bearer(server):
    basic = base64.b64encode(
        f"cf:{server.tokens['gateway']}".encode()).decode()
    r = raw(server, "POST", "/v1/data/mcp/allow",
            [("Authorization", f"Basic {basic}"),
             bearer(server, "gateway")], OPA)
    assert_refused(r, "authorization")


@pytest.mark.parametrize("header", ["x-user", "x-mcp-tool", "x-mcp-server",
                                    "x-mcp-method"])
def test_ext_authz_repeated_identity_header(server, header):
    base = {"x-user": "alice@contoso.com", "x-mcp-server": "github",
            "x-mcp-tool": "list_repos", "x-mcp-method": "tools/call"}
    hdrs = [bearer(server, "gateway")] + list(base.items())
    r = raw(server, "POST", "/ext-authz/github", hdrs, INIT)
    assert r.status in (200, 403), r
    assert r.headers["x-rollcall-reason"] != ""
    before = refused_count(server)
    # A second copy that agrees, and one that disagrees (upper case).
    for name, value in ((header, base[header]),
                        (header.upper(), "someone-else")):
        r = raw(server, "POST", "/ext-authz/github", hdrs + [(name, value)],
                INIT)
        assert_refused(r, header)
        assert "x-rollcall-decision" not in r.headers
    assert refused_count(server) == before + 2


def test_identity_header_repeated_on_other_routes(server):
    """The rule holds on every authenticated route, not only ext_authz."""
    r = raw(server, "GET", "/scim/v2/Users",
            [bearer(server, "scim"), ("x-user", "a"), ("x-user", "b")])
    assert_refused(r, "x-user", scim=True)
    r = raw(server, "POST", "/v1/authorize",
            [bearer(server, "gateway"), ("x-mcp-tool", "a"),
             ("X-Mcp-Tool", "b")], AUTHZ)
    assert_refused(r, "x-mcp-tool")


def test_configured_header_names(server, make_server):
    s = make_server(db=server.db, workers=1, env={
        "ROLLCALL_EXTAUTHZ_SUBJECT_HEADER": "x-forwarded-user",
        "ROLLCALL_EXTAUTHZ_SERVER_HEADER": ""})
    try:
        tok = ("Authorization", f"Bearer {server.tokens['gateway']}")
        r = raw(s, "POST", "/ext-authz/github",
                [tok, ("x-forwarded-user", "alice@contoso.com"),
                 ("x-forwarded-user", "mallory@contoso.com")], INIT)
        assert_refused(r, "x-forwarded-user")
        # No longer an identity header here: x-user may repeat, and an
        # unused server header is not looked at.
        r = raw(s, "POST", "/ext-authz/github",
                [tok, ("x-forwarded-user", "alice@contoso.com"),
                 ("x-user", "a"), ("x-user", "b"),
                 ("x-mcp-server", "a"), ("x-mcp-server", "b")], INIT)
        assert r.status in (200, 403), r
        assert r.headers["x-rollcall-reason"] != ""
    finally:
        s.stop()


def test_tool_in_header_and_body_must_agree(server):
    """Where both a header and the body name the target, they agree or
    the request is refused (ext_authz is the route that reads both)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "delete_repo", "arguments": {}}}
    r = raw(server, "POST", "/ext-authz/github",
            [bearer(server, "gateway"), ("x-user", "alice@contoso.com"),
             ("x-mcp-tool", "list_repos")], body)
    assert r.status == 403, r
    assert r.json["reason_code"] == "tool_mismatch"


def test_server_in_header_and_path_must_agree(server):
    """The path names the server in the gateway's configuration; a
    server header (perhaps the client's) naming another is refused."""
    hdrs = [bearer(server, "gateway"), ("x-user", "alice@contoso.com")]
    r = raw(server, "POST", "/ext-authz/github",
            hdrs + [("x-mcp-server", "other")], INIT)
    assert r.status == 403, r
    assert r.json["reason_code"] == "server_mismatch"
    assert r.headers["x-rollcall-decision"] == "deny"
    # Agreeing, or only one of the two: decided as before.
    for path, extra in (("/ext-authz/github", [("x-mcp-server", "github")]),
                        ("/ext-authz/", [("x-mcp-server", "github")]),
                        ("/ext-authz/github", [])):
        r = raw(server, "POST", path, hdrs + extra, INIT)
        assert r.json["reason_code"] != "server_mismatch", (path, r)
