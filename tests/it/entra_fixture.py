"""Entra-shaped access tokens for the tests: RSA keys made here, a JWKS
of them, and tokens minted as Entra's v1 and v2 access tokens look
(../shared/docs/entra-tokens.md).  Also a local HTTPS issuer that serves
an OpenID configuration and a JWKS, with a CA and certificate made by
the test with OpenSSL."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-4333-8444-555555555555"
API = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
API_URI = "api://rollcall-gateway"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Key:
    def __init__(self, kid):
        self.kid = kid
        self.priv = rsa.generate_private_key(public_exponent=65537,
                                             key_size=2048)

    def jwk(self):
        pub = self.priv.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid,
                "x5t": self.kid, "n": b64int(pub.n), "e": b64int(pub.e)}

    def public_pem(self):
        return self.priv.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)


def jwks(*keys):
    return {"keys": [k.jwk() for k in keys]}


def claims(version=2, tenant=TENANT, oid="oid-alice", life=3600, **extra):
    now = int(time.time())
    c = {"iat": now - 30, "nbf": now - 30, "exp": now + life, "oid": oid,
         "tid": tenant, "sub": "pairwise-" + oid}
    if version == 1:
        c.update(aud=API_URI, iss=f"https://sts.windows.net/{tenant}/",
                 appid="client-app", scp="tools.call", ver="1.0")
    else:
        c.update(aud=API, azp="client-app", scp="tools.call", ver="2.0",
                 iss=f"https://login.microsoftonline.com/{tenant}/v2.0")
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def mint(key, payload, kid=None, alg="RS256", sign_with=None, secret=None):
    """A compact JWT: RS256 with key (or sign_with), HS256 with secret,
    or alg "none" unsigned."""
    header = {"typ": "JWT", "alg": alg, "kid": kid or key.kid}
    signing = (b64(json.dumps(header).encode()) + "." +
               b64(json.dumps(payload).encode())).encode()
    if alg == "none":
        return signing.decode() + "."
    if alg == "HS256":
        sig = hmac.new(secret, signing, hashlib.sha256).digest()
    else:
        sig = (sign_with or key).priv.sign(signing, padding.PKCS1v15(),
                                           hashes.SHA256())
    return signing.decode() + "." + b64(sig)


class Issuer:
    """An HTTPS server on 127.0.0.1 serving /openid-configuration and
    /keys; the key set, and whether it fails, can change while it runs.
    Counts the key fetches it answers.  Its URLs name host: 127.0.0.1,
    or 'localhost' so that rollcall must resolve a name (its certificate
    names both)."""

    def __init__(self, tmpdir, host="127.0.0.1"):
        self.dir = tmpdir
        self.host = host
        self.jwks = {"keys": []}
        self.fail = False
        self.fetches = 0
        self._make_certs()
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/openid-configuration":
                    body = {"issuer": "local", "jwks_uri":
                            f"https://{issuer.host}:{issuer.port}/keys"}
                elif self.path == "/keys":
                    issuer.fetches += 1
                    if issuer.fail:
                        self.send_error(503)
                        return
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.port = self.httpd.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.keyfile)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        self.url = f"https://{host}:{self.port}/openid-configuration"

    def _make_certs(self):
        d = self.dir
        self.ca = os.path.join(d, "ca.pem")
        self.cert = os.path.join(d, "server.pem")
        self.keyfile = os.path.join(d, "server.key")

        def run(*args):
            subprocess.run(["openssl", *args], check=True,
                           capture_output=True, cwd=d)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=rollcall test CA", "-keyout", "ca.key",
            "-out", "ca.pem")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj",
            "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "ext.cnf", "-out", "server.pem")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
