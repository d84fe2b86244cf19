"""What an operator meets first: rollcallctl's --help and --version, the
nouns it accepts, and public_url following listen when it is not set
(the banner, SCIM meta.location, the AuthZEN metadata)."""
import re
import subprocess

import pytest

from conftest import CTL


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_goes_to_stdout_and_exits_0(flag):
    r = ctl(flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: rollcallctl")
    assert "rollcallctl user list" in r.stdout
    assert r.stderr == ""


def test_a_mistake_gets_usage_on_stderr_and_exit_2():
    r = ctl("frobnicate")
    assert r.returncode == 2
    assert r.stdout == "" and "usage: rollcallctl" in r.stderr


def test_version_names_version_and_commit():
    r = ctl("--version")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"rollcallctl (\d+\.\d+\.\d+) \(commit ([0-9a-f]{7,40}"
                     r"|unknown)\)\n", r.stdout)
    assert m, r.stdout
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode == 0:
        assert head.stdout.startswith(m.group(2))


def test_user_list_and_users_list_agree(db):
    a = db.ctl("user", "list", "--json").stdout
    b = db.ctl("users", "list", "--json").stdout
    assert a == b


def test_public_url_follows_listen(make_server):
    srv = make_server(workers=1, env={"ROLLCALL_PUBLIC_URL": None})
    db = srv.db
    base = f"http://127.0.0.1:{srv.port}"
    scim = db.token("scim")
    gw = db.token("gateway")
    r = srv.post("/scim/v2/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "follow@contoso.com"}, token=scim,
        content_type="application/scim+json")
    assert r.status == 201, r
    loc = r.json["meta"]["location"]
    assert loc.startswith(f"{base}/scim/v2/Users/"), loc
    assert r.headers["location"] == loc
    meta = srv.get("/.well-known/authzen-configuration", token=gw).json
    assert meta["policy_decision_point"] == base, meta
    assert f"public url {base}" in srv.logtext()
