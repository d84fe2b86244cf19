"""Real proxy, Entra tokens: nginx from Debian forwards the caller's
bearer token (minted by the test) to rollcall's ext_authz endpoint in
X-Forwarded-Authorization, as README's nginx snippet does, and strips
any X-User the client sent.  rollcall validates the token and decides;
nginx needs no JWT module."""
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port
from entra_fixture import API, TENANT, Key, claims, jwks, mint
from nginxconf import nginx_main
from seed import seed

KEY = Key("kid-nginx")


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True


def handler(seen):
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            self.rfile.read(n)
            seen.append({"principal": self.headers.get(
                "x-rollcall-principal"), "auth": self.headers.get(
                "authorization")})
            out = b'{"jsonrpc":"2.0","id":1,"result":{}}'
            self.send_response(200)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass
    return H


@pytest.fixture(scope="module")
def gw(make_module_server):
    s = make_module_server(seed=seed, tokens=["gateway", "global_admin"])
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["global_admin"],
                  body={"tenant_id": TENANT, "audiences": [API],
                        "jwks": jwks(KEY)})
    assert r.status == 200, r
    return s


@pytest.fixture(scope="module")
def nginx(gw, tmp_path_factory):
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx_bin):
        pytest.fail("nginx is not installed (scripts/install-deps.sh test)")
    seen = []
    up = Upstream(("127.0.0.1", 0), handler(seen))
    threading.Thread(target=up.serve_forever, daemon=True).start()
    tmp = str(tmp_path_factory.mktemp("nginx-entra"))
    os.chmod(tmp, 0o777)
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_main(tmp, f"""    server {{
        listen 127.0.0.1:{port};
        location /mcp/github {{
            auth_request /_rollcall;
            auth_request_set $rc_principal $upstream_http_x_rollcall_principal;
            proxy_set_header X-Rollcall-Principal $rc_principal;
            proxy_pass http://127.0.0.1:{up.server_address[1]};
        }}
        location = /_rollcall {{
            internal;
            proxy_pass http://127.0.0.1:{gw.port}/ext-authz/github;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization "Bearer {gw.tokens['gateway']}";
            proxy_set_header X-Forwarded-Authorization $http_authorization;
            proxy_set_header X-User "";
            proxy_set_header X-MCP-Tool $http_x_mcp_tool;
            proxy_set_header X-MCP-Method $http_x_mcp_method;
        }}
    }}"""))
    t = subprocess.run([nginx_bin, "-t", "-c", conf], capture_output=True,
                       text=True)
    assert t.returncode == 0, t.stderr
    proc = subprocess.Popen([nginx_bin, "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {"port": port, "seen": seen}
    proc.terminate()
    proc.wait(timeout=10)
    up.shutdown()


def call(nginx, tool, headers):
    c = http.client.HTTPConnection("127.0.0.1", nginx["port"], timeout=10)
    h = {"content-type": "application/json", "x-mcp-tool": tool,
         "x-mcp-method": "tools/call"}
    h.update(headers)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool}})
    try:
        c.request("POST", "/mcp/github", body=body, headers=h)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def wait_bound(nginx, tok, timeout=10):
    deadline = time.time() + timeout
    ok = 0
    while ok < 8 and time.time() < deadline:
        ok = ok + 1 if call(nginx, "create_pull_request", {
            "authorization": f"Bearer {tok}"}) == 200 else 0
        time.sleep(0.02)
    assert ok >= 8


def test_nginx_forwards_the_token(gw, nginx):
    tok = mint(KEY, claims())
    wait_bound(nginx, tok)
    assert nginx["seen"][-1]["principal"], nginx["seen"][-1]
    assert call(nginx, "delete_branch",
                {"authorization": f"Bearer {tok}"}) == 403
    assert call(nginx, "create_pull_request", {
        "authorization": f"Bearer {mint(KEY, claims(life=-3600))}"}) == 403
    assert call(nginx, "create_pull_request", {
        "authorization": "Bearer " + mint(KEY, claims(aud="api://x"))}) \
        == 403


def test_client_cannot_name_itself(gw, nginx):
    # No token, a subject header of the client's: nginx strips it.
    assert call(nginx, "create_pull_request",
                {"x-user": "alice@contoso.com"}) == 403
    # A forged forwarded header is replaced by the real (absent) one.
    forged = mint(KEY, claims())
    assert call(nginx, "create_pull_request",
                {"x-forwarded-authorization": f"Bearer {forged}"}) == 403
    # A valid token with a client x-user naming someone else: nginx
    # strips the header, the token decides.
    tok = mint(KEY, claims())
    assert call(nginx, "create_pull_request",
                {"authorization": f"Bearer {tok}",
                 "x-user": "carol@contoso.com"}) == 200
