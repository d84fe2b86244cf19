"""/metrics as Prometheus tooling reads it: `promtool check metrics`
passes on a live server (HELP for every metric, TYPE right before its
samples), with rollcall_build_info, the standard process_* metrics (also
when workers are chrooted and unprivileged), and the expiry time of every
expiring token; the server warns about SCIM tokens expiring within 14
days."""
import re
import shutil
import subprocess
import time

import pytest


def promtool(text):
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is not installed (Debian package prometheus; "
                    "scripts/install-deps.sh test)")
    return subprocess.run([exe, "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60)


def samples(text, name):
    return [l for l in text.splitlines()
            if l.startswith(name + " ") or l.startswith(name + "{")]


def check_exposition(text):
    r = promtool(text)
    assert r.returncode == 0, r.stdout + r.stderr
    # promtool accepts a TYPE anywhere; the format wants HELP and TYPE
    # first, then all the family's samples together.
    types = dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)$", text))
    order = []
    for line in text.splitlines():
        if line.startswith("#"):
            fam = line.split()[2]
        else:
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            fam = base if types.get(base) == "histogram" else name
            assert fam in types, f"sample without TYPE: {line}"
            assert order and order[-1] == fam, f"TYPE not right before {line}"
        if not order or order[-1] != fam:
            order.append(fam)
    assert len(order) == len(set(order)), "a family is split"
    return r


def token_expiring(db, scope, days, name):
    out = db.ctl("token", "create", "--scope", scope, "--name", name,
                 "--expires-days", str(days)).stdout
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def expiring(db):
    # Before the server starts, so the parent loads them.
    return {"soon": token_expiring(db, "scim", 3, 'entra "prod"'),
            "later": token_expiring(db, "gateway", 30, "gw-later")}


def test_promtool_accepts_live_metrics(expiring, server):
    server.get("/healthz")
    server.get("/admin/v1/tokens", token="wrong")
    text = server.get("/metrics").body.decode()
    r = check_exposition(text)
    print(f"promtool check metrics: exit {r.returncode}, "
          f"output {r.stdout + r.stderr!r}")
    # Every family has HELP.
    helps = set(re.findall(r"(?m)^# HELP (\S+) ", text))
    types = set(re.findall(r"(?m)^# TYPE (\S+) ", text))
    assert helps == types
    build = samples(text, "rollcall_build_info")
    assert len(build) == 1
    assert re.fullmatch(r'rollcall_build_info\{version="\d+\.\d+\.\d+",'
                        r'commit="([0-9a-f]{7,40}|unknown)"\} 1', build[0])
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds",
                 "process_max_fds", "process_virtual_memory_bytes"):
        (line,) = samples(text, name)
        assert float(line.split()[-1]) > 0, line
    start = float(samples(text, "process_start_time_seconds")[0].split()[1])
    assert abs(start - time.time()) < 3600
    exp = samples(text, "rollcall_token_expiry_timestamp_seconds")
    soon = [l for l in exp if 'name="entra \\"prod\\""' in l]
    assert len(soon) == 1, exp
    assert 'scope="scim",directory="default"' in soon[0]
    assert abs(float(soon[0].split()[-1]) - (time.time() + 3 * 86400)) < 600
    assert any('name="gw-later",scope="gateway"' in l for l in exp)
    # Tokens that never expire have no line.
    assert len(exp) == 2, exp


def test_scim_token_expiring_within_14_days_is_logged(expiring, server):
    deadline = time.time() + 15
    while time.time() < deadline:
        warned = [l for l in server.logtext().splitlines()
                  if "within 14 days" in l]
        if warned:
            break
        time.sleep(0.2)
    assert len(warned) == 1, warned
    assert 'entra \\"prod\\"' in warned[0] and '"level":"warn"' in warned[0]
    # The gateway token (30 days, and not SCIM) gets no warning.
    assert "gw-later" not in server.logtext()


def test_process_metrics_with_privilege_separation(make_server):
    srv = make_server(privsep=True, workers=2)
    text = srv.get("/metrics").body.decode()
    check_exposition(text)
    for name in ("process_cpu_seconds_total",
                 "process_resident_memory_bytes", "process_open_fds"):
        (line,) = samples(text, name)
        assert float(line.split()[-1]) > 0, line
