"""Entra signing keys fetched over HTTPS (issue 12, keys): a local
issuer made by the test (its own CA and certificate, made with OpenSSL)
serves an OpenID configuration and a JWKS under the host NAME
'localhost'; rollcall runs with the production sandbox (chroot, another
user, seccomp) and the fetch on, so the worker resolves the name inside
its chroot, through the resolver files the parent puts there.
Keys rotate while serving, a flood of forged kids costs a bounded number
of fetches (counted), and a failing issuer leaves the last good set."""
import os
import stat
import time
import uuid

import pytest

from entra_fixture import API, TENANT, Issuer, Key, claims, jwks, mint
from seed import seed

KEY_A = Key("kid-a")
KEY_B = Key("kid-b")
KID_WINDOW_S = 2


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    d = tmp_path_factory.mktemp("issuer")
    d.chmod(0o755)
    i = Issuer(str(d), host="localhost")
    i.jwks = jwks(KEY_A)
    yield i
    i.stop()


@pytest.fixture(scope="module")
def gw(make_module_server, issuer):
    s = make_module_server(
        seed=seed, tokens=["gateway", "global_admin"], privsep=True,
        env={"ROLLCALL_ENTRA_CA_BUNDLE": issuer.ca,
             "ROLLCALL_ENTRA_REFRESH_S": "3600",
             "ROLLCALL_ENTRA_UNKNOWN_KID_S": str(KID_WINDOW_S)})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["global_admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "openid_configuration": issuer.url})
    assert r.status == 200, r
    return s


def authorize(s, tok):
    return s.post("/v1/authorize", token=s.tokens["gateway"],
                  body={"token": tok, "server": "github",
                        "tool": "create_pull_request"}).json


def metric(s, name):
    for line in s.get("/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_for(s, tok, reason, timeout=20):
    """Asks until every worker answers reason 10 times running; a kid
    unknown to the worker asks for a refresh (rate-limited) meanwhile."""
    deadline = time.time() + timeout
    run = 0
    d = None
    while time.time() < deadline:
        d = authorize(s, tok)
        run = run + 1 if d.get("reason_code", d.get("error")) == reason \
            else 0
        if run >= 10:
            return d
        time.sleep(0.05)
    raise AssertionError(f"waited for {reason}, last {d}\n{s.logtext()}")


def test_keys_fetched_over_https_in_the_sandbox(gw, issuer):
    wait_for(gw, mint(KEY_A, claims()), "allowed_by_rule")
    assert issuer.fetches >= 1
    assert metric(gw, 'rollcall_entra_key_fetches_total{result="ok"}') >= 1
    b = gw.get("/admin/v1/directories/default/entra",
               token=gw.tokens["global_admin"]).json
    assert b["jwks_source"] == "openid" and b["keys"]["count"] == 1
    assert b["keys"]["source"] == "openid"


def test_rotation_while_serving(gw, issuer):
    old = mint(KEY_A, claims())
    assert authorize(gw, old)["decision"] == "allow"
    # A new key appears: the first token signed with it asks for a
    # refresh; it is accepted without a restart.
    issuer.jwks = jwks(KEY_A, KEY_B)
    new = mint(KEY_B, claims())
    wait_for(gw, new, "allowed_by_rule")
    assert authorize(gw, old)["decision"] == "allow"
    # The old key leaves: once refreshed (an unknown kid asks for it),
    # its tokens are refused, cached or not.
    issuer.jwks = jwks(KEY_B)
    time.sleep(KID_WINDOW_S)
    authorize(gw, mint(KEY_B, claims(), kid="kid-next"))
    wait_for(gw, old, "token_unknown_key")
    assert authorize(gw, new)["decision"] == "allow"


def test_forged_kid_flood_is_rate_limited(gw, issuer):
    time.sleep(KID_WINDOW_S)
    before = issuer.fetches
    limited = metric(gw, 'rollcall_entra_kid_refreshes_total'
                     '{result="limited"}')
    start = time.time()
    for i in range(60):
        d = authorize(gw, mint(KEY_B, claims(), kid=f"forged-{uuid.uuid4()}"))
        assert d["reason_code"] == "token_unknown_key"
    elapsed = time.time() - start
    time.sleep(1)
    fetched = issuer.fetches - before
    # At most one fetch per window (and one for the window in progress).
    assert 1 <= fetched <= int(elapsed / KID_WINDOW_S) + 2, (fetched,
                                                             elapsed)
    assert metric(gw, 'rollcall_entra_kid_refreshes_total'
                  '{result="limited"}') >= limited + 50


def test_fetch_failure_keeps_the_last_good_set(gw, issuer):
    good = mint(KEY_B, claims())
    assert authorize(gw, good)["decision"] == "allow"
    failed = metric(gw, 'rollcall_entra_key_fetches_total{result="failed"}')
    issuer.fail = True
    try:
        time.sleep(KID_WINDOW_S)
        authorize(gw, mint(KEY_B, claims(), kid="kid-unseen"))
        deadline = time.time() + 10
        while time.time() < deadline and metric(
                gw, 'rollcall_entra_key_fetches_total{result="failed"}') \
                == failed:
            time.sleep(0.1)
        assert metric(gw, 'rollcall_entra_key_fetches_total'
                      '{result="failed"}') > failed
        for _ in range(10):
            assert authorize(gw, good)["decision"] == "allow"
        assert "not fetched (the last good set stays)" in gw.logtext()
    finally:
        issuer.fail = False


def test_chroot_resolver_files_are_read_only(gw):
    """What the parent put into the workers' chroot: the three resolver
    files, root-owned and read-only, the host's copies."""
    etc = os.path.join(gw.tmp, "empty", "etc")
    # resolv.conf only if the host has one; no temporary file is left.
    want = {"hosts", "nsswitch.conf"} | (
        {"resolv.conf"} if os.path.exists("/etc/resolv.conf") else set())
    assert set(os.listdir(etc)) == want
    for name in os.listdir(etc):
        st = os.stat(os.path.join(etc, name))
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o444, name
    with open(os.path.join(etc, "hosts")) as a, open("/etc/hosts") as b:
        assert a.read() == b.read()
    with open(os.path.join(etc, "nsswitch.conf")) as f:
        assert "hosts: files dns" in f.read()


def test_unwritable_chroot_fails_closed(make_server, issuer):
    """When the parent cannot give the chroot its resolver files (here
    'etc' is a file; a read-only root filesystem refuses the same way),
    the server still starts with a warning and the fetch fails closed:
    no keys, tokens refused, the failure counted and logged."""
    def block(root):
        with open(os.path.join(root, "etc"), "w"):
            pass
    s = make_server(seed=seed, tokens=["gateway", "global_admin"],
                    workers=1, privsep=True, chroot_setup=block,
                    env={"ROLLCALL_ENTRA_CA_BUNDLE": issuer.ca})
    assert "workers cannot resolve host names" in s.logtext()
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["global_admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "openid_configuration": issuer.url})
    assert r.status == 200, r
    # Generous: with no resolv.conf glibc asks 127.0.0.1:53, and where
    # nothing answers (no ICMP) a lookup waits out its retries.
    deadline = time.time() + 45
    while time.time() < deadline and metric(
            s, 'rollcall_entra_key_fetches_total{result="failed"}') == 0:
        time.sleep(0.1)
    assert metric(s, 'rollcall_entra_key_fetches_total'
                  '{result="failed"}') >= 1, s.logtext()
    assert "cannot resolve localhost" in s.logtext()
    d = authorize(s, mint(KEY_A, claims()))
    assert d["decision"] == "deny" and \
        d["reason_code"] == "token_unknown_key", d


def test_keys_fetched_by_name_under_seccomp_without_chroot(make_server,
                                                           issuer):
    """The fetch resolves 'localhost' with getaddrinfo on a task thread
    under seccomp, not chrooted (the host's own /etc): a syscall missing
    from the filter would kill that thread silently and stop every later
    fetch."""
    s = make_server(seed=seed, tokens=["gateway", "global_admin"],
                    workers=1, env={"ROLLCALL_ENTRA_CA_BUNDLE": issuer.ca})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["global_admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "openid_configuration": issuer.url})
    assert r.status == 200, r
    issuer.jwks = jwks(KEY_A)
    wait_for(s, mint(KEY_A, claims()), "allowed_by_rule")
    assert metric(s, 'rollcall_entra_key_fetches_total{result="ok"}') >= 1


def test_dns_lookup_under_the_sandbox_kills_nothing(make_server, issuer):
    """A name that is not in /etc/hosts goes to the DNS servers of
    resolv.conf (in the chroot, the host's copy): whatever they answer
    (NXDOMAIN for .invalid, or nothing), the lookup's syscalls pass the
    seccomp filter; the fetch fails cleanly, logged, and no worker dies
    (the fixture fails the test on a sandbox violation)."""
    s = make_server(seed=seed, tokens=["global_admin"], workers=1,
                    privsep=True,
                    env={"ROLLCALL_ENTRA_CA_BUNDLE": issuer.ca})
    r = s.request("PUT", "/admin/v1/directories/default/entra",
                  token=s.tokens["global_admin"], body={
                      "tenant_id": TENANT, "audiences": [API],
                      "openid_configuration":
                      "https://rollcall-test.invalid/openid-configuration"})
    assert r.status == 200, r
    deadline = time.time() + 45
    while time.time() < deadline and \
            "cannot resolve rollcall-test.invalid" not in s.logtext():
        time.sleep(0.2)
    assert "cannot resolve rollcall-test.invalid" in s.logtext(), \
        s.logtext()
    assert metric(s, 'rollcall_entra_key_fetches_total'
                  '{result="failed"}') >= 1
    assert s.get("/readyz").status == 200
