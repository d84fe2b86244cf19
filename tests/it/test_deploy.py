"""Deployment files: the compose file parses and references only files
that exist; the real nginx from Debian, with the shipped configuration
and a self-signed certificate, terminates TLS 1.2/1.3 in front of a real
rollcall: the public listener serves only /scim/v2, the internal one the
rest, both with HSTS and Microsoft's TLS 1.2 suites in Microsoft's order.
(tests/it/test_containers.py runs the same files in real containers.)"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import http.client

import pytest
import yaml

from conftest import ROOT, free_port
from nginxconf import nginx_main


def test_compose_file_parses_and_references_exist():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"postgres", "rollcall", "nginx"}
    # Built here (scripts/docker), never pulled; no password ships.
    assert "postgres.Dockerfile" in services["postgres"]["build"]["dockerfile"]
    assert "${ROLLCALL_HTTPS_PORT:-443}:443" in services["nginx"]["ports"]
    # The internal listener is on the host's loopback unless opted in.
    assert ("${ROLLCALL_INTERNAL_BIND:-127.0.0.1}:"
            "${ROLLCALL_INTERNAL_PORT:-8443}:8443") in \
        services["nginx"]["ports"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "PASSWORD:" not in text
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            ctx = ROOT / build["context"]
            dockerfile = ctx / build["dockerfile"]
            assert dockerfile.is_file(), dockerfile
            text = dockerfile.read_text()
            assert re.search(r"(?m)^FROM debian:bookworm", text)
            # Every COPY source must exist in the build context.
            for line in re.findall(r"(?m)^COPY (?!--from)(.+)$", text):
                for src in line.split()[:-1]:
                    assert (ctx / src).exists(), f"{dockerfile}: {src}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            assert not src.startswith("/"), vol
            if src.startswith("."):
                assert (ROOT / src).exists(), src
            else:
                assert src in doc["volumes"], src
    # The image uses the same install script as 'make run'.
    df = (ROOT / "scripts/docker/Dockerfile").read_text()
    assert "scripts/install-deps.sh" in df


def test_production_conf_separates_privileges():
    prod = (ROOT / "conf/production.conf").read_text()
    assert re.search(r"(?m)^runas\s+rollcall$", prod)
    assert re.search(r"(?m)^root\s+/var/lib/rollcall/empty$", prod)
    common = (ROOT / "conf/common.conf").read_text()
    assert re.search(r"(?m)^\s*tls\s+no$", common)
    assert re.search(r"(?m)^seccomp_tracing\s+no$", common)


def make_cert(tmp):
    key, crt = os.path.join(tmp, "tls.key"), os.path.join(tmp, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-sha256", "-days", "2", "-nodes", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


@pytest.fixture(scope="module")
def nginx(server, tmp_path_factory):
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        pytest.fail("nginx is not installed (scripts/install-deps.sh test)")
    tmp = str(tmp_path_factory.mktemp("nginx"))
    os.chmod(tmp, 0o777)
    crt, key = make_cert(tmp)
    port, internal = free_port(), free_port()
    site = (ROOT / "conf/nginx/rollcall.conf").read_text()
    assert site.count("rollcall:8080;") == 2
    site = site.replace("rollcall:8080;", f"127.0.0.1:{server.port};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = site.replace("listen 8443 ssl;",
                        f"listen 127.0.0.1:{internal} ssl;")
    site = site.replace("/etc/rollcall/tls/tls.crt", crt)
    site = site.replace("/etc/rollcall/tls/tls.key", key)
    main = nginx_main(tmp, site)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(main)
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
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
    yield {"port": port, "internal": internal, "ca": crt}
    proc.terminate()
    proc.wait(timeout=10)


def https(nginx, path, version, token=None, listener="port", full=False):
    ctx = ssl.create_default_context(cafile=nginx["ca"])
    ctx.minimum_version = version
    ctx.maximum_version = version
    conn = http.client.HTTPSConnection("127.0.0.1", nginx[listener],
                                       context=ctx, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        out = (r.status, r.read(), conn.sock.version())
        if full:
            out += ({k.lower(): v for k, v in r.getheaders()},
                    conn.sock.cipher()[0])
        return out
    finally:
        conn.close()


@pytest.mark.parametrize("version,name", [
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
    (ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
])
def test_https_through_nginx(server, nginx, version, name):
    # The public edge: SCIM, and nothing else.
    status, body, negotiated, hdrs, _ = https(
        nginx, "/scim/v2/Users?count=1", version,
        token=server.tokens["scim"], full=True)
    assert status == 200 and negotiated == name, body
    assert hdrs["strict-transport-security"] == "max-age=63072000"
    # Entra may double the slash after the tenant URL.
    status, body, _ = https(nginx, "/scim/v2//Users?count=1", version,
                            token=server.tokens["scim"])
    assert status == 200, body
    for path, token in (("/admin/v1/directories", server.tokens["admin"]),
                        ("/v1/revocations", server.tokens["gateway"]),
                        ("/ext-authz/github", server.tokens["gateway"]),
                        ("/metrics", None), ("/healthz", None),
                        ("/openapi.json", None), ("/scim/v2x", None)):
        status, body, _, hdrs, _ = https(nginx, path, version, token=token,
                                         full=True)
        assert status == 404, (path, body)
        assert "strict-transport-security" in hdrs
    # The internal edge: the admin and gateway APIs.
    status, body, _, hdrs, _ = https(
        nginx, "/admin/v1/directories", version,
        token=server.tokens["admin"], listener="internal", full=True)
    assert status == 200, body
    assert hdrs["strict-transport-security"] == "max-age=63072000"
    status, body, _ = https(nginx, "/v1/revocations", version,
                            token=server.tokens["gateway"],
                            listener="internal")
    assert status == 200, body
    status, body, _ = https(nginx, "/admin/v1/directories", version,
                            token="wrong", listener="internal")
    assert status == 401


# Microsoft's TLS 1.2 suites for Entra provisioning, in Microsoft's order.
MICROSOFT_TLS12 = [
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384",
]


def test_cipher_order_is_microsofts():
    site = (ROOT / "conf/nginx/rollcall.conf").read_text()
    lists = re.findall(r"(?m)^\s*ssl_ciphers\s+([^;]+);", site)
    assert len(lists) == 2 and lists[0] == lists[1]
    suites = lists[0].split(":")
    assert suites[:len(MICROSOFT_TLS12)] == MICROSOFT_TLS12
    # The rest: Mozilla intermediate's ChaCha20 suites, nothing weaker.
    assert all("CHACHA20" in c for c in suites[len(MICROSOFT_TLS12):])
    assert re.findall(r"(?m)^\s*ssl_protocols\s+([^;]+);", site) == \
        ["TLSv1.2 TLSv1.3"] * 2
    assert len(re.findall(r"(?m)^\s*ssl_prefer_server_ciphers on;",
                          site)) == 2


def test_server_picks_in_microsofts_order(nginx):
    # A client offering every RSA suite gets the first in Microsoft's list
    # (the certificate is RSA, so the ECDSA ones cannot be chosen).
    ctx = ssl.create_default_context(cafile=nginx["ca"])
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(":".join(reversed(MICROSOFT_TLS12)))
    with socket.create_connection(("127.0.0.1", nginx["port"])) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"


def test_nginx_resolves_rollcall_again():
    # A variable upstream plus a resolver: a restarted rollcall container
    # with a new address is found (the container entrypoint writes the
    # resolver from /etc/resolv.conf).
    site = (ROOT / "conf/nginx/rollcall.conf").read_text()
    assert "upstream rollcall" not in site
    assert site.count("proxy_pass\t\thttp://$rollcall_upstream;") == 2
    entry = (ROOT / "scripts/docker/nginx-entrypoint.sh").read_text()
    assert "resolver $ns valid=" in entry


def test_tls_1_1_is_refused(nginx):
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", nginx["port"])) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s).do_handshake()
