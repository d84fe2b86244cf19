"""The container deployment for real: build the images from scripts/docker/,
bring up the shipped docker-compose.yml unchanged with podman-compose, mint
the first tokens the way README tells a container user, then, through HTTPS
on nginx: create a user over SCIM, see an allow, disable the user, see a
deny; restart the rollcall container and see the state kept; wait for every
health check to report healthy.  Everything is torn down whatever happens.

Runs once per `make test` (the release pass): the images do not depend on
which build of the binaries is under test.  Where podman cannot run, the
test says so in one line: skipped on a workstation, failed in CI.
"""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
import yaml

from conftest import BUILD, ROOT, free_port

# What these build machines need: runc with cgroupfs
# (crun refuses hybrid cgroups) and no default ulimits (setrlimit is not
# permitted in this sandbox).  Given to podman through CONTAINERS_CONF,
# so nothing under /etc changes.
CONTAINERS_CONF = """[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def unavailable(reason):
    msg = f"container runtime unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


class Deployment:
    def __init__(self, tmp):
        self.tmp = tmp
        self.project = f"rcit{os.getpid()}"
        self.https_port = free_port()
        self.internal_port = free_port()
        conf = os.path.join(tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        self.env = dict(os.environ)
        self.env.update(
            CONTAINERS_CONF=conf,
            ROLLCALL_HTTPS_PORT=str(self.https_port),
            ROLLCALL_INTERNAL_PORT=str(self.internal_port),
            ROLLCALL_PUBLIC_URL=f"https://localhost:{self.https_port}",
            ROLLCALL_TLS_NAME="localhost")
        for k in list(self.env):
            # The host's own settings must not leak into the compose file.
            if k.startswith("ROLLCALL_") and k not in (
                    "ROLLCALL_HTTPS_PORT", "ROLLCALL_INTERNAL_PORT",
                    "ROLLCALL_PUBLIC_URL", "ROLLCALL_TLS_NAME"):
                del self.env[k]
        self.transcript = []
        self.ca = None

    def run(self, *args, check=True, timeout=600, log=False):
        r = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if log:
            self.transcript.append("$ " + " ".join(args))
            self.transcript.append(r.stdout.rstrip())
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {r.returncode}:"
                                 f"\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def compose(self, *args, **kw):
        return self.run("podman-compose", "-p", self.project, *args, **kw)

    def container(self, service):
        r = self.run("podman", "ps", "-a", "--filter",
                     f"label=com.docker.compose.project={self.project}",
                     "--filter", f"label=com.docker.compose.service={service}",
                     "--format", "{{.Names}}")
        names = r.stdout.split()
        assert len(names) == 1, (service, names)
        return names[0]

    def https(self, port, method, path, body=None, token=None,
              ctype="application/json", tls=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        if tls is not None:
            ctx.minimum_version = ctx.maximum_version = tls
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                           timeout=30)
        # The certificate names "localhost".
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            cipher = conn.sock.cipher()
            return r.status, data, hdrs, cipher
        finally:
            conn.close()

    def public(self, *a, **kw):
        return self.https(self.https_port, *a, **kw)

    def internal(self, *a, **kw):
        return self.https(self.internal_port, *a, **kw)

    def note(self, line):
        self.transcript.append(line)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            last = e
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.fixture(scope="module")
def deployment():
    if "asan" in os.path.basename(os.path.normpath(BUILD)):
        pytest.skip("container test runs once per make test, in the release "
                    "pass (the images do not use the build under test)")
    for tool in ("podman", "podman-compose", "runc"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed "
                        "(scripts/install-deps.sh test)")
    tmp = tempfile.mkdtemp(prefix="rollcall-containers-")
    d = Deployment(tmp)
    probe = d.run("podman", "info", "--format", "{{.Host.OCIRuntime.Name}}",
                  check=False, timeout=60)
    if probe.returncode != 0:
        unavailable("podman info failed: "
                    + (probe.stderr.strip().splitlines() or ["?"])[-1])
    t0 = time.monotonic()
    try:
        yield d
    finally:
        down = d.compose("down", "-v", check=False, timeout=300)
        # Whatever 'down' missed (a half-started project) goes too.
        left = d.run("podman", "ps", "-aq", "--filter",
                     f"label=com.docker.compose.project={d.project}",
                     check=False).stdout.split()
        if left:
            d.run("podman", "rm", "-f", "-t", "5", *left, check=False)
        vols = d.run("podman", "volume", "ls", "-q", "--filter",
                     f"label=com.docker.compose.project={d.project}",
                     check=False).stdout.split()
        if vols:
            d.run("podman", "volume", "rm", "-f", *vols, check=False)
        d.run("podman", "network", "rm", "-f", f"{d.project}_default",
              check=False)
        print(f"\ncontainer test: {time.monotonic() - t0:.0f} s in all; "
              f"down exited {down.returncode}")
        shutil.rmtree(tmp, ignore_errors=True)


def build_images(d):
    """Builds each service's image from its Dockerfile under scripts/docker
    with the tag the compose file names, so 'up' uses them as built."""
    d.run("sh", "scripts/docker/base-image.sh", timeout=900)
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"],
                            cwd=ROOT, capture_output=True, text=True)
    commit = commit.stdout.strip() if commit.returncode == 0 else "unknown"
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    sizes = {}
    for name, svc in doc["services"].items():
        build = svc["build"]
        assert build["dockerfile"].startswith("scripts/docker/"), name
        # --format docker keeps HEALTHCHECK (OCI images drop it);
        # --network host lets apt reach the mirror.
        args = ["podman", "build", "-q", "--format", "docker", "--network",
                "host", "-t", svc["image"], "-f", build["dockerfile"]]
        for k in (build.get("args") or {}):
            args += ["--build-arg", f"{k}={commit}" if k == "RC_COMMIT"
                     else k]
        t0 = time.monotonic()
        d.run(*args, build["context"], timeout=1200)
        size = d.run("podman", "image", "inspect", "--format", "{{.Size}}",
                     svc["image"]).stdout.strip()
        sizes[name] = (int(size), time.monotonic() - t0)
    return sizes


def test_compose_deployment_end_to_end(deployment):
    d = deployment
    t_start = time.monotonic()
    sizes = build_images(d)
    t_built = time.monotonic()

    d.compose("up", "-d", log=False, timeout=600)
    rollcall = d.container("rollcall")
    nginx = d.container("nginx")
    postgres = d.container("postgres")

    # README: the first start prints the SCIM URL and first tokens, once,
    # to the container log.
    def banner():
        text = d.run("podman", "logs", rollcall, check=False).stdout
        return text if "listening on" in text else None
    log = wait_for(banner, 180, "rollcall to start")
    scim_url = f"https://localhost:{d.https_port}/scim/v2"
    assert f"SCIM base URL (Entra 'Tenant URL'): {scim_url}" in log, log
    first = re.findall(r"(?m)^\s+(\w+)\s+token: (rcl_\S+)$", log)
    assert [k for k, _ in first] == ["scim", "gateway", "admin"], log
    d.note("$ docker compose logs rollcall   # first start")
    d.note("\n".join(l for l in log.splitlines()
                     if "SCIM base URL" in l or "token: rcl_" in l))

    # README: mint a token with the CLI inside the container; it reads
    # the same settings as the server.
    def mint(*args):
        r = d.compose("exec", "rollcall", "rollcallctl", "token", "create",
                      *args, log=True)
        return [l for l in r.stdout.splitlines()
                if l.startswith("rcl_")][-1]
    scim = mint("--scope", "scim", "--name", "entra")
    admin = mint("--scope", "admin", "--global", "--name", "it-admin")
    gw = dict(first)["gateway"]
    version = d.compose("exec", "rollcall", "rollcallctl", "--version",
                        log=True).stdout
    assert "rollcallctl 0.1.0 (commit " in version

    # The certificate nginx made on first start, to verify TLS properly.
    d.ca = os.path.join(d.tmp, "tls.crt")
    d.run("podman", "cp", f"{nginx}:/etc/rollcall/tls/tls.crt", d.ca)
    wait_for(lambda: d.internal("GET", "/readyz")[0] == 200, 120,
             "readyz through nginx")

    # The public edge: TLS 1.2 picks Microsoft's first RSA suite, HSTS
    # is on, and only /scim/v2 is served.
    st, _, hdrs, cipher = d.public("GET", "/scim/v2/ServiceProviderConfig",
                                   token=scim, tls=ssl.TLSVersion.TLSv1_2)
    assert st == 200 and cipher[1] == "TLSv1.2", cipher
    assert cipher[0] == "ECDHE-RSA-AES128-GCM-SHA256", cipher
    assert hdrs["strict-transport-security"].startswith("max-age=")
    st, _, _, cipher = d.public("GET", "/scim/v2/Users?count=1", token=scim,
                                tls=ssl.TLSVersion.TLSv1_3)
    assert st == 200 and cipher[1] == "TLSv1.3"
    for path, token in (("/admin/v1/directories", admin),
                        ("/v1/revocations", gw), ("/metrics", None),
                        ("/openapi.json", None), ("/healthz", None)):
        st, body, hdrs, _ = d.public("GET", path, token=token)
        assert st == 404, (path, st, body)
        assert hdrs["strict-transport-security"].startswith("max-age=")

    # Entra creates a user and a group over SCIM (public edge).
    st, body, hdrs, _ = d.public("POST", "/scim/v2/Users", {
        "schemas": [SCIM_USER], "userName": "dana@contoso.com",
        "active": True}, token=scim, ctype="application/scim+json")
    assert st == 201, body
    user = json.loads(body)
    assert user["meta"]["location"] == f"{scim_url}/Users/{user['id']}"
    d.note(f"POST {scim_url}/Users -> {st} id={user['id']}")
    st, body, _, _ = d.public("POST", "/scim/v2/Groups", {
        "schemas": [SCIM_GROUP], "displayName": "Engineers",
        "members": [{"value": user["id"]}]}, token=scim,
        ctype="application/scim+json")
    assert st == 201, body
    group = json.loads(body)

    # IT lets Engineers use GitHub (internal edge, admin API).
    for path, doc in (
            ("/admin/v1/servers", {"slug": "github", "name": "GitHub"}),
            ("/admin/v1/servers/github/tools",
             {"name": "create_pull_request"}),
            ("/admin/v1/rules", {"directory": "default", "subject": {
                "kind": "group", "id": group["id"]}, "server": "github",
                "selector": "*", "effect": "allow"})):
        st, body, _, _ = d.internal("POST", path, doc, token=admin)
        assert st in (200, 201), (path, st, body)

    ask = {"subject": "dana@contoso.com", "server": "github",
           "tool": "create_pull_request"}

    def decide():
        st, body, _, _ = d.internal("POST", "/v1/authorize", ask, token=gw)
        assert st == 200, body
        return json.loads(body)
    dec = decide()
    assert dec["decision"] == "allow", dec
    d.note(f"POST /v1/authorize (internal :8443) -> {dec['decision']} "
           f"{dec.get('reason_code')}")

    # Entra disables her: the very next decision is a deny.
    st, body, _, _ = d.public("PATCH", f"/scim/v2/Users/{user['id']}", {
        "schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}]},
        token=scim, ctype="application/scim+json")
    assert st == 200, body
    d.note(f"PATCH {scim_url}/Users/{user['id']} active=False -> {st}")
    dec = decide()
    assert dec["decision"] == "deny", dec
    assert dec["reason_code"] == "principal_inactive", dec
    d.note(f"POST /v1/authorize -> {dec['decision']} {dec['reason_code']}")

    # Restart rollcall: PostgreSQL kept everything, and nginx finds the
    # restarted container by name again.
    ip_before = d.run("podman", "inspect", "--format",
                      "{{range .NetworkSettings.Networks}}{{.IPAddress}}"
                      "{{end}}", rollcall).stdout.strip()
    d.compose("restart", "rollcall", log=True, timeout=300)
    ip_after = d.run("podman", "inspect", "--format",
                     "{{range .NetworkSettings.Networks}}{{.IPAddress}}"
                     "{{end}}", rollcall).stdout.strip()
    wait_for(lambda: d.internal("GET", "/readyz")[0] == 200, 120,
             "readyz through nginx after the restart")
    log = d.run("podman", "logs", rollcall).stdout
    assert "Tokens exist already" in log
    dec = decide()
    assert dec["decision"] == "deny" and \
        dec["reason_code"] == "principal_inactive", dec
    st, body, _, _ = d.public("GET", f"/scim/v2/Users/{user['id']}",
                              token=scim)
    assert st == 200 and json.loads(body)["active"] is False, body
    d.note(f"after restart (address {ip_before} -> {ip_after}): "
           f"GET Users/{user['id']} active=False; authorize -> "
           f"{dec['decision']} {dec['reason_code']}")
    # The minted tokens survived too.
    assert d.public("GET", "/scim/v2/Users?count=1", token=scim)[0] == 200

    # Every container's health check (podman runs them on demand here:
    # there is no systemd to schedule them).
    def all_healthy():
        for c in (postgres, rollcall, nginx):
            if d.run("podman", "healthcheck", "run", c, check=False,
                     timeout=60).returncode != 0:
                return False
        return True
    wait_for(all_healthy, 120, "every health check to pass")
    states = {}
    for c in (postgres, rollcall, nginx):
        states[c] = d.run("podman", "inspect", "--format",
                          "{{.State.Health.Status}}", c).stdout.strip()
    assert set(states.values()) == {"healthy"}, states
    d.note(f"health: {states}")

    t_end = time.monotonic()
    print("\n" + "\n".join(d.transcript))
    print("image sizes: " + ", ".join(
        f"{k} {v[0] / 1e6:.0f} MB (built in {v[1]:.0f} s)"
        for k, v in sizes.items()))
    print(f"container test: build {t_built - t_start:.0f} s, "
          f"walk-through {t_end - t_built:.0f} s")


def test_compose_file_is_portable():
    """Only syntax both docker compose and podman-compose accept: no
    podman-only keys, every build under scripts/docker, nothing to pull
    from a registry."""
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    allowed = {"image", "build", "environment", "volumes", "healthcheck",
               "restart", "depends_on", "expose", "ports"}
    for name, svc in doc["services"].items():
        assert set(svc) <= allowed, (name, set(svc) - allowed)
        assert svc["image"].startswith("localhost/"), name
        assert svc["build"]["dockerfile"].startswith("scripts/docker/")
        assert "healthcheck" in svc, name
