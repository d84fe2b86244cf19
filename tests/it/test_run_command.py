"""README's first command: scripts/run.sh (what `make run` calls) sets up
a private PostgreSQL, migrates, prints the SCIM URL and first tokens
once, serves, and stops cleanly on Ctrl-C."""
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

from conftest import ROOT, free_port

# What `make run` builds and README's second shell calls.
RUN_CTL = str(ROOT / "build" / "release" / "rollcallctl")


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                    timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def start(tmp, pgport, port):
    env = dict(os.environ)
    env.pop("ROLLCALL_DATABASE_URL", None)
    # Like the default .run/pg, so the CLI's connection file lands in
    # tmp/.run/ (a checkout's own .run/ stays untouched).
    env.update(RC_PGDIR=os.path.join(tmp, ".run", "pg"),
               RC_PGPORT=str(pgport),
               ROLLCALL_LISTEN=f"127.0.0.1:{port}",
               ROLLCALL_PUBLIC_URL=f"http://127.0.0.1:{port}")
    log = open(os.path.join(tmp, f"run-{port}.log"), "w+")
    proc = subprocess.Popen(["sh", "scripts/run.sh"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, log, env


def test_run_script_end_to_end():
    tmp = tempfile.mkdtemp(prefix="rollcall-run-")
    os.chmod(tmp, 0o755)
    pgport, port = free_port(), free_port()
    proc, log, env = start(tmp, pgport, port)
    try:
        assert wait_for(lambda: healthy(port), 90), open(log.name).read()
        text = open(log.name).read()
        assert f"http://127.0.0.1:{port}/scim/v2" in text
        tokens = [l.split()[-1] for l in text.splitlines()
                  if "token: rcl_" in l]
        assert len(tokens) == 3
        # In a second shell, the CLI reaches the private cluster with no
        # extra step (run from a directory laid out like the checkout).
        ctl_env = {k: v for k, v in os.environ.items()
                   if not k.startswith("ROLLCALL_")}
        r = subprocess.run([RUN_CTL, "token", "list"],
                           cwd=tmp, env=ctl_env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "entra-provisioning" in r.stdout
        # A variable still wins over the file.
        ctl_env["ROLLCALL_DATABASE_URL"] = "hostaddr=127.0.0.1 port=1"
        r = subprocess.run([RUN_CTL, "token", "list"],
                           cwd=tmp, env=ctl_env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0 and "port 1" in r.stderr, r.stderr
        # Ctrl-C stops it cleanly.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        # Second start: the cluster is reused, no new tokens printed.
        proc, log, env = start(tmp, pgport, port)
        assert wait_for(lambda: healthy(port), 60), open(log.name).read()
        text = open(log.name).read()
        assert "token: rcl_" not in text
        assert "Tokens exist already" in text
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run(["sh", "scripts/localpg.sh", "stop"], cwd=ROOT,
                       env=env, capture_output=True)
