"""Real proxy: nginx from Debian with auth_request in front of a small MCP
upstream, asking rollcall's ext_authz endpoint on every request.  nginx
authenticates the user itself (auth_basic here; oauth2-proxy or a JWT
module in real life) and passes the result as X-User; the tool comes
from a header because auth_request subrequests carry no body.  An
allowed tool reaches the upstream, a denied one gets 403, and after a
SCIM disable the very next request gets 403."""
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import free_port
from nginxconf import nginx_main

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True


def upstream_handler(seen):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n)
            seen.append({"path": self.path, "body": body,
                         "principal": self.headers.get(
                             "x-rollcall-principal"),
                         "version": self.headers.get(
                             "x-rollcall-policy-version")})
            out = json.dumps({"jsonrpc": "2.0", "id": 1,
                              "result": {"content": []}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass
    return Handler


@pytest.fixture(scope="module")
def proxy(server, tmp_path_factory):
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx_bin):
        pytest.fail("nginx is not installed (scripts/install-deps.sh test)")
    seen = []
    up = Upstream(("127.0.0.1", 0), upstream_handler(seen))
    threading.Thread(target=up.serve_forever, daemon=True).start()

    tmp = str(tmp_path_factory.mktemp("nginx-authz"))
    os.chmod(tmp, 0o777)
    # Read by nginx's unprivileged worker: outside pytest's 0700 tree.
    pub = tempfile.mkdtemp(prefix="rc-nginx-")
    os.chmod(pub, 0o755)
    users = os.path.join(pub, "users")
    with open(users, "w") as f:
        f.write("alice@contoso.com:{PLAIN}alice-pw\n"
                "mallory@contoso.com:{PLAIN}mallory-pw\n")
    os.chmod(users, 0o644)
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_main(tmp, f"""    server {{
        listen 127.0.0.1:{port};
        location /mcp/github {{
            auth_basic "mcp";
            auth_basic_user_file {users};
            auth_request /_rollcall;
            auth_request_set $rc_principal $upstream_http_x_rollcall_principal;
            auth_request_set $rc_version $upstream_http_x_rollcall_policy_version;
            proxy_set_header X-Rollcall-Principal $rc_principal;
            proxy_set_header X-Rollcall-Policy-Version $rc_version;
            proxy_set_header Authorization "";
            proxy_pass http://127.0.0.1:{up.server_address[1]};
        }}
        location = /_rollcall {{
            internal;
            proxy_pass http://127.0.0.1:{server.port}/ext-authz/github;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization "Bearer {server.tokens['gateway']}";
            proxy_set_header X-User $remote_user;
            proxy_set_header X-MCP-Tool $http_x_mcp_tool;
            proxy_set_header X-MCP-Method $http_x_mcp_method;
        }}
    }}"""))
    test = subprocess.run([nginx_bin, "-t", "-c", conf],
                          capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen([nginx_bin, "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {"port": port, "seen": seen, "tmp": tmp}
    proc.terminate()
    proc.wait(timeout=10)
    up.shutdown()
    shutil.rmtree(pub, ignore_errors=True)


@pytest.fixture(scope="module")
def world(server, proxy):
    r = server.post("/scim/v2/Users", token=server.tokens["scim"],
                    body={"schemas": [USER], "userName": "alice@contoso.com",
                          "active": True})
    assert r.status == 201, r
    alice = r.json["id"]
    ga = server.tokens["global_admin"]
    r = server.post("/admin/v1/servers", token=ga,
                    body={"slug": "github", "name": "GitHub"})
    assert r.status == 201, r
    r = server.post("/admin/v1/servers/github/tools:import", token=ga,
                    body={"tools": [
                        {"name": "create_pull_request"},
                        {"name": "delete_branch",
                         "annotations": {"destructiveHint": True}}]})
    assert r.status == 200, r
    r = server.post("/admin/v1/rules", token=server.tokens["admin"],
                    body={"subject": {"kind": "user",
                                      "name": "alice@contoso.com"},
                          "server": "github", "selector": "*",
                          "effect": "allow"})
    assert r.status == 201, r
    r = server.post("/admin/v1/rules", token=server.tokens["admin"],
                    body={"subject": "everyone", "server": "github",
                          "selector": "risk:high", "effect": "deny"})
    assert r.status == 201, r
    return {"alice": alice}


def mcp(proxy, tool, user="alice@contoso.com", pw="alice-pw"):
    import base64
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool, "arguments": {}}})
    hdrs = {"content-type": "application/json", "x-mcp-tool": tool}
    if user is not None:
        hdrs["authorization"] = "Basic " + base64.b64encode(
            f"{user}:{pw}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", proxy["port"],
                                      timeout=10)
    try:
        conn.request("POST", "/mcp/github", body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_allowed_tool_reaches_upstream(server, proxy, world):
    n = len(proxy["seen"])
    status, body = mcp(proxy, "create_pull_request")
    assert status == 200, body
    assert json.loads(body)["result"] == {"content": []}
    assert len(proxy["seen"]) == n + 1
    last = proxy["seen"][-1]
    assert json.loads(last["body"])["params"]["name"] == \
        "create_pull_request"
    assert last["principal"] == world["alice"]
    assert int(last["version"]) > 0


def test_denied_tool_gets_403(server, proxy, world):
    n = len(proxy["seen"])
    status, _ = mcp(proxy, "delete_branch")
    assert status == 403
    status, _ = mcp(proxy, "no_such_tool")
    assert status == 403
    # Authenticated by nginx, unknown to rollcall.
    status, _ = mcp(proxy, "create_pull_request",
                    user="mallory@contoso.com", pw="mallory-pw")
    assert status == 403
    # Not authenticated at all: nginx's own 401.
    status, _ = mcp(proxy, "create_pull_request", user=None)
    assert status == 401
    assert len(proxy["seen"]) == n


def test_scim_disable_denies_next_request(server, proxy, world):
    status, _ = mcp(proxy, "create_pull_request")
    assert status == 200
    r = server.request("PATCH", f"/scim/v2/Users/{world['alice']}",
                       token=server.tokens["scim"],
                       body={"schemas": [PATCH], "Operations": [
                           {"op": "replace", "path": "active",
                            "value": False}]})
    assert r.status in (200, 204), r
    n = len(proxy["seen"])
    for _ in range(20):
        status, _ = mcp(proxy, "create_pull_request")
        assert status == 403
    assert len(proxy["seen"]) == n
