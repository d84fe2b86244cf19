"""The admin console in a real browser: Debian's headless Chromium,
driven by puppeteer-core (pinned in tests/console/package.json, installed
from npm into build/), against a real server with seeded data.  The
scenario itself is tests/console/drive.mjs; screenshots of every page go
to build/console-shots/."""
import json
import os
import shutil
import subprocess

import pytest

import seed
from conftest import ROOT, BUILD

NODE_DIR = ROOT / "build" / "console-node"
SHOTS = ROOT / "build" / "console-shots"
CHROMIUM = "/usr/bin/chromium"


def need(ok, what):
    """Missing tools fail in CI and skip (saying why) elsewhere."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}: the console test cannot run")
    pytest.skip(what)


def install_puppeteer():
    src = ROOT / "tests" / "console"
    lock = (src / "package-lock.json").read_bytes()
    stamp = NODE_DIR / ".lock"
    if stamp.exists() and stamp.read_bytes() == lock and \
            (NODE_DIR / "node_modules" / "puppeteer-core").exists():
        return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "package.json", NODE_DIR)
    shutil.copy(src / "package-lock.json", NODE_DIR)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                       cwd=NODE_DIR, capture_output=True, text=True,
                       timeout=300)
    need(r.returncode == 0, f"npm ci failed: {r.stderr[-500:]}")
    stamp.write_bytes(lock)


@pytest.fixture(scope="module")
def world(make_module_server):
    if BUILD.rstrip("/").endswith("asan"):
        pytest.skip("the browser test runs once, against the release build")
    need(os.path.exists(CHROMIUM), "no /usr/bin/chromium (apt-get install "
         "chromium)")
    need(shutil.which("npm") and shutil.which("node"), "no node/npm")
    install_puppeteer()
    return make_module_server(seed=world_seed, tokens=[
        "admin", "scim", "global_admin", "gateway"], workers=2)


def world_seed(db):
    db.sql(seed.SEED_SQL)
    # The seed writes rows only; SCIM PATCHes start from the document.
    db.sql("UPDATE users SET doc = jsonb_build_object('schemas', "
           "jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),"
           " 'userName', user_name, 'active', active)")
    db.sql("INSERT INTO directories (name) VALUES ('fabrikam');"
           "INSERT INTO users (id, directory_id, user_name, active, "
           "emails_lc, doc) SELECT '00000000-0000-0000-0000-0000000000ff', "
           "id, 'eve@fabrikam.com', true, '{}', '{}' FROM directories "
           "WHERE name = 'fabrikam'")
    db.ctl("migrate")   # identity keys for the hand-written rows
    # Entra last called fabrikam 81 minutes ago: two cycles missed, the
    # overview flags the job (no 80-minute wait in a test).
    db.sql("INSERT INTO activity_last (directory_id, series, at) SELECT "
           "id, 'scim', now() - interval '81 minutes' FROM directories "
           "WHERE name = 'fabrikam'")


def test_console_in_chromium(world, tmp_path):
    cfg = {"base": world.base, "admin": world.tokens["admin"],
           "global_admin": world.tokens["global_admin"],
           "scim": world.tokens["scim"], "gateway": world.tokens["gateway"],
           "shots": str(SHOTS),
           "alice": seed.ALICE, "carol": seed.CAROL,
           "other_user": "eve@fabrikam.com", "chromium": CHROMIUM}
    path = tmp_path / "console.json"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, NODE_PATH=str(NODE_DIR / "node_modules"))
    # ES modules resolve packages from the script's folder upwards, so
    # the driver runs from a copy beside node_modules.
    shutil.copy(ROOT / "tests" / "console" / "drive.mjs", NODE_DIR)
    r = subprocess.run(["node", str(NODE_DIR / "drive.mjs"), str(path)],
                       capture_output=True, text=True, timeout=300, env=env)
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n" \
        f"server log:\n{world.logtext()[-3000:]}"
    for name in ("overview", "overview-activity", "overview-kill-switch",
                 "overview-global", "users", "user", "rules", "simulate",
                 "user-disabled", "user-nested", "group-nested", "simulate-role", "rules-role",
                 "user-role", "tokens", "audit", "audit-verified", "groups",
                 "servers"):
        assert (SHOTS / f"{name}.png").stat().st_size > 5000, name


def test_console_headers_and_files(world):
    r = world.get("/console/")
    assert r.status == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert b"<script src=\"/console/console.js\"" in r.body
    assert b"<script>" not in r.body and b"style=" not in r.body
    for f, ctype in (("console.js", "text/javascript"),
                     ("console.css", "text/css")):
        r = world.get(f"/console/{f}")
        assert r.status == 200 and r.headers["content-type"].startswith(
            ctype), (f, r)
        # The SVG namespace is a name, never fetched; nothing else may
        # look like an address.
        body = r.body.replace(b'"http://www.w3.org/2000/svg"', b"")
        assert b"http://" not in body and b"https://" not in body, f
    assert world.get("/console").status == 200
    for bad in ("/console/nope.js", "/console/..%2fopenapi.json",
                "/console/index.html/x"):
        assert world.get(bad).status == 404, bad
    assert world.post("/console/", body={}).status == 405
