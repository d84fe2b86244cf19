"""The console's "Sign in with Microsoft" in a real browser (issue 14):
authorization code with PKCE, against a local issuer that this test runs
in place of Microsoft.  Its authorize endpoint records the challenge and
redirects back with a code; its token endpoint (CORS, as Entra's is for
a single-page application) checks the client, the redirect URI and the
verifier against the challenge before it mints an access token with the
admin app role, signed with a key the test made.  The console then loads
the overview with that token; an answer with a wrong state is refused.
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import shutil
import subprocess
import threading
import urllib.parse

import pytest

from conftest import ROOT
from entra_fixture import API, TENANT, Key, claims, jwks, mint
from seed import seed
from test_console import CHROMIUM, NODE_DIR, SHOTS, install_puppeteer, need

CLIENT = "0c0c0c0c-1111-4222-8333-444444444444"
ROLE = "rollcall.admin"
KEY = Key("kid-console")


class Issuer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), IssuerHandler)
        self.mode = "normal"
        self.codes = {}       # code -> (challenge, redirect_uri)
        self.redeemed = []    # verified token requests
        self.errors = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class IssuerHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/control":
            srv.mode = q["mode"]
            return self.answer(200, {})
        if u.path != f"/{TENANT}/oauth2/v2.0/authorize":
            return self.answer(404, {"error": "not_found"})
        problems = []
        if q.get("client_id") != CLIENT:
            problems.append("client_id")
        if q.get("response_type") != "code":
            problems.append("response_type")
        if q.get("code_challenge_method") != "S256" or \
                len(q.get("code_challenge", "")) != 43:
            problems.append("code_challenge")
        if not q.get("state") or not q.get("redirect_uri"):
            problems.append("state/redirect_uri")
        if problems:
            srv.errors.append(f"authorize: {problems}")
            return self.answer(400, {"error": "invalid_request"})
        code = secrets.token_urlsafe(24)
        srv.codes[code] = (q["code_challenge"], q["redirect_uri"])
        state = q["state"] if srv.mode == "normal" else "forged-state"
        loc = q["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": state})
        self.answer(302, None, [("Location", loc)])

    def do_POST(self):
        srv = self.server
        origin = self.headers.get("Origin", "")
        cors = [("Access-Control-Allow-Origin", origin)] if origin else []
        if self.path != f"/{TENANT}/oauth2/v2.0/token":
            return self.answer(404, {"error": "not_found"}, cors)
        n = int(self.headers.get("Content-Length", "0"))
        f = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        code = f.get("code", "")
        challenge, redirect = srv.codes.pop(code, (None, None))
        verifier = f.get("code_verifier", "")
        want = base64.urlsafe_b64encode(hashlib.sha256(
            verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge is None or f.get("grant_type") != \
                "authorization_code" or f.get("client_id") != CLIENT or \
                f.get("redirect_uri") != redirect or want != challenge:
            srv.errors.append(f"token: refused {sorted(f)}")
            return self.answer(400, {"error": "invalid_grant",
                                     "error_description": "PKCE"}, cors)
        srv.redeemed.append(code)
        tok = mint(KEY, claims(oid="oid-alice", roles=[ROLE]))
        self.answer(200, {"token_type": "Bearer", "access_token": tok,
                          "expires_in": 3600}, cors)


@pytest.fixture(scope="module")
def world(make_module_server):
    from conftest import BUILD
    if BUILD.rstrip("/").endswith("asan"):
        pytest.skip("the browser test runs once, against the release build")
    need(os.path.exists(CHROMIUM), "no /usr/bin/chromium")
    need(shutil.which("npm") and shutil.which("node"), "no node/npm")
    install_puppeteer()
    iss = Issuer()
    threading.Thread(target=iss.serve_forever, daemon=True).start()
    s = make_module_server(seed=seed, tokens={"admin": "global_admin"},
                           workers=2, env={
                               "ROLLCALL_ENTRA_ADMIN_ROLE": ROLE,
                               "ROLLCALL_CONSOLE_ENTRA_CLIENT_ID": CLIENT,
                               "ROLLCALL_CONSOLE_ENTRA_TENANT": TENANT,
                               "ROLLCALL_CONSOLE_ENTRA_SCOPE":
                                   f"{API}/.default",
                               "ROLLCALL_CONSOLE_ENTRA_AUTHORITY": iss.url})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "jwks": jwks(KEY)})
    assert r.status == 200, r
    yield s, iss
    iss.shutdown()


def test_signin_config_and_csp(world):
    s, iss = world
    r = s.get("/console/signin.json")
    assert r.status == 200, r
    e = r.json["entra"]
    assert e["client_id"] == CLIENT and e["tenant"] == TENANT
    assert e["redirect_uri"] == s.base + "/console/"
    assert e["authority"] == iss.url
    csp = s.get("/console/").headers["content-security-policy"]
    # The token endpoint's origin, and nothing else, beside 'self'.
    assert f"connect-src 'self' {iss.url};" in csp, csp


def test_sign_in_with_microsoft(world, tmp_path):
    s, iss = world
    cfg = {"base": s.base, "issuer": iss.url, "chromium": CHROMIUM,
           "shots": str(SHOTS)}
    path = tmp_path / "entra.json"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, NODE_PATH=str(NODE_DIR / "node_modules"))
    shutil.copy(ROOT / "tests" / "console" / "entra.mjs", NODE_DIR)
    r = subprocess.run(["node", str(NODE_DIR / "entra.mjs"), str(path)],
                       capture_output=True, text=True, timeout=180, env=env)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\nissuer: " \
        f"{iss.errors}\nserver log:\n{s.logtext()[-3000:]}"
    assert not iss.errors, iss.errors
    # One code redeemed, with the right verifier; the forged-state
    # answer's code never was.
    assert len(iss.redeemed) == 1, iss.redeemed
    assert len(iss.codes) == 1


def test_off_by_default(make_server):
    s = make_server(seed=seed)
    assert s.get("/console/signin.json").json == {"entra": None}
    csp = s.get("/console/").headers["content-security-policy"]
    assert "connect-src 'self';" in csp, csp
