"""Decision logs, buffered log output, W3C trace context and decision
metrics, on a real server over the small policy world of seed.py:

- one decision line per decision from every decision endpoint (one per
  item of a batch), with the documented keys, and never a secret;
- decision_log = denies, and decision_log_allow_sample (statistical,
  with a generous bound);
- decision_log_path reopened on SIGHUP (logrotate): nothing lost, nothing
  twice, and a reopen that fails keeps the old file and is counted;
- a clean stop writes everything buffered;
- traceparent: echoed as traceresponse, logged, never invented, an
  invalid one ignored and not echoed;
- rollcall_decisions_total and the latency histogram, through promtool.
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from seed import ALICE, RULE_ALLOW, RULE_DENY, seed

KEYS = ["time", "level", "type", "worker", "request_id", "trace_id",
        "endpoint", "gateway", "directory", "subject", "principal_id",
        "principal_type", "server", "tool", "decision", "reason_code",
        "rule_id", "grant_id", "policy_version", "subject_epoch",
        "latency_us"]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def rid():
    return "t-" + uuid.uuid4().hex[:20]


def lines_of(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_lines(source, request_id, count, kind="decision", timeout=10):
    """The JSON lines of request_id in source() once there are count
    lines of it of that type (the buffer is flushed within 50 ms)."""
    deadline = time.time() + timeout
    while True:
        found = [r for r in lines_of(source())
                 if r.get("request_id") == request_id]
        if len([r for r in found if r.get("type") == kind]) >= count \
                or time.time() > deadline:
            return found
        time.sleep(0.05)


def access_line(s, request_id):
    (acc,) = wait_lines(s.logtext, request_id, 1, kind="access")
    return acc


def decisions(found):
    return [r for r in found if r.get("type") == "decision"]


def post(s, path, body, request_id, token="gateway", headers=None):
    h = {"x-request-id": request_id}
    h.update(headers or {})
    return s.post(path, body, token=s.tokens[token] if token else None,
                  headers=h)


@pytest.fixture(scope="module")
def logdir():
    d = tempfile.mkdtemp(prefix="rollcall-declog-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def gw(make_module_server, logdir):
    """Decision lines to a file; access lines on stdout."""
    path = os.path.join(logdir, "decisions.log")
    s = make_module_server(seed=seed, tokens=["gateway", "admin"],
                           workers=2,
                           env={"ROLLCALL_DECISION_LOG_PATH": path})
    s.decision_path = path
    return s


def file_of(s):
    return lambda: read(s.decision_path)


def workers_started(s, n):
    """Waits until n workers run (a SIGHUP before a worker's start
    reaches only its parent)."""
    deadline = time.time() + 15
    while not all(f"worker {i} started" in s.logtext()
                  for i in range(1, n + 1)):
        assert time.time() < deadline, s.logtext()
        time.sleep(0.05)


def check_line(rec, endpoint, request_id):
    assert list(rec.keys()) == KEYS, rec
    assert rec["type"] == "decision" and rec["level"] == "info"
    assert rec["endpoint"] == endpoint
    assert rec["request_id"] == request_id
    assert rec["gateway"] == "it-gateway"
    assert rec["directory"] == "default"
    assert rec["policy_version"] == 7
    assert isinstance(rec["latency_us"], int) and rec["latency_us"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                        rec["time"])
    assert rec["decision"] in ("allow", "deny")


def test_authorize_line(gw):
    r_id = rid()
    r = post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                                   "server": "github",
                                   "tool": "delete_branch"}, r_id)
    assert r.status == 200 and r.json["decision"] == "deny"
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "authorize", r_id)
    assert rec["subject"] == "alice@contoso.com"
    assert rec["principal_id"] == ALICE
    assert rec["principal_type"] == "user"
    assert (rec["server"], rec["tool"]) == ("github", "delete_branch")
    assert rec["decision"] == "deny"
    assert rec["reason_code"] == "denied_by_rule"
    assert rec["rule_id"] == RULE_DENY and rec["grant_id"] is None
    assert rec["trace_id"] is None
    # The access line stays on stdout, with no decision line there.
    found = wait_lines(gw.logtext, r_id, 1, kind="access")
    assert [x["type"] for x in found] == ["access"], found


def test_unknown_subject_line(gw):
    r_id = rid()
    r = post(gw, "/v1/authorize", {"subject": "nobody@contoso.com",
                                   "server": "github", "tool": "list_repos"},
             r_id)
    assert r.json["reason_code"] == "principal_unknown"
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "authorize", r_id)
    assert rec["subject"] == "nobody@contoso.com"
    assert rec["principal_id"] is None and rec["principal_type"] is None


def test_batch_one_line_per_item(gw):
    r_id = rid()
    items = [{"server": "github", "tool": t} for t in
             ("create_pull_request", "delete_branch", "list_repos")]
    r = post(gw, "/v1/authorize/batch",
             {"subject": "alice@contoso.com", "items": items}, r_id)
    assert r.status == 200, r
    recs = decisions(wait_lines(file_of(gw), r_id, 3))
    assert len(recs) == 3
    for rec in recs:
        check_line(rec, "authorize_batch", r_id)
        assert rec["principal_id"] == ALICE
    assert [(x["tool"], x["decision"], x["rule_id"]) for x in recs] == [
        ("create_pull_request", "allow", RULE_ALLOW),
        ("delete_branch", "deny", RULE_DENY),
        ("list_repos", "allow", RULE_ALLOW)]


def test_tools_filter_and_session_lines(gw):
    r_id = rid()
    r = post(gw, "/v1/tools/filter",
             {"subject": "alice@contoso.com", "server": "github",
              "tools": [{"name": "list_repos"}, {"name": "delete_branch"}]},
             r_id)
    assert r.status == 200, r
    recs = decisions(wait_lines(file_of(gw), r_id, 2))
    assert [(x["endpoint"], x["tool"], x["decision"]) for x in recs] == [
        ("tools_filter", "list_repos", "allow"),
        ("tools_filter", "delete_branch", "deny")]
    for rec in recs:
        check_line(rec, "tools_filter", r_id)

    r_id = rid()
    r = post(gw, "/v1/session/check", {"subject": "bob@contoso.com"}, r_id)
    assert r.status == 200 and r.json["active"] is False
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "session_check", r_id)
    assert rec["server"] is None and rec["tool"] is None
    assert (rec["decision"], rec["reason_code"]) == ("deny",
                                                     "principal_inactive")


def test_protocol_lines(gw):
    r_id = rid()
    ev = {"subject": {"type": "user", "id": "alice@contoso.com"},
          "action": {"name": "call"},
          "resource": {"type": "mcp_tool", "id": "github/list_repos"}}
    assert post(gw, "/access/v1/evaluation", ev, r_id).json["decision"]
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "authzen", r_id)
    assert (rec["server"], rec["tool"], rec["decision"]) == (
        "github", "list_repos", "allow")

    r_id = rid()
    body = {"evaluations": [ev, {**ev, "resource": {
        "type": "mcp_tool", "id": "github/delete_branch"}}, {
        **ev, "resource": {"type": "printer", "id": "p"}}]}
    assert post(gw, "/access/v1/evaluations", body, r_id).status == 200
    recs = decisions(wait_lines(file_of(gw), r_id, 3))
    assert [(x["tool"], x["reason_code"]) for x in recs] == [
        ("list_repos", "allowed_by_rule"), ("delete_branch", "denied_by_rule"),
        (None, "unsupported_request")]

    # OPA, authenticated with the token as a Basic password.
    r_id = rid()
    raw = f"cf:{gw.tokens['gateway']}".encode()
    r = post(gw, "/v1/data/mcpgateway", {"input": {
        "subject": {"email": "alice@contoso.com"},
        "action": "tools.invoke.create_pull_request",
        "resource": {"type": "tool", "id": "create_pull_request",
                     "server": "github"}}}, r_id, token=None,
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert r.json["result"]["allow"] is True, r
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "opa", r_id)
    assert rec["tool"] == "create_pull_request"

    # ext_authz: what it answers, refusals included.
    r_id = rid()
    r = gw.request("POST", "/ext-authz/", token=gw.tokens["gateway"],
                   headers={"x-request-id": r_id, "x-user": "alice@contoso.com",
                            "x-mcp-server": "github",
                            "x-mcp-tool": "delete_branch"})
    assert r.status == 403
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    check_line(rec, "ext_authz", r_id)
    assert (rec["subject"], rec["tool"], rec["reason_code"]) == (
        "alice@contoso.com", "delete_branch", "denied_by_rule")
    r_id = rid()
    r = gw.request("POST", "/ext-authz/github", token=gw.tokens["gateway"],
                   headers={"x-request-id": r_id})
    assert r.status == 403
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    assert (rec["subject"], rec["reason_code"]) == (None, "subject_missing")


def test_traceparent(gw):
    # Valid: logged in both lines, answered with our span in that trace.
    r_id = rid()
    r = post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                                   "server": "github", "tool": "list_repos"},
             r_id, headers={"traceparent": TRACEPARENT})
    resp = r.headers.get("traceresponse")
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", resp or "")
    assert m and m.group(1) == TRACE, r.headers
    assert m.group(2) not in ("00f067aa0ba902b7", "0" * 16)
    assert "traceparent" not in r.headers
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    assert rec["trace_id"] == TRACE
    acc = access_line(gw, r_id)
    assert acc["trace_id"] == TRACE and acc["span_id"] == m.group(2)

    # Every route: /healthz too.
    r = gw.get("/healthz", headers={"traceparent": TRACEPARENT})
    assert r.headers["traceresponse"].split("-")[1] == TRACE

    # None: none invented.
    r_id = rid()
    r = post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                                   "server": "github", "tool": "list_repos"},
             r_id)
    assert "traceresponse" not in r.headers
    assert "traceparent" not in r.headers
    (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
    assert rec["trace_id"] is None
    acc = access_line(gw, r_id)
    assert "trace_id" not in acc and "span_id" not in acc

    # Invalid ones, and a repeated one: ignored, not echoed, not logged.
    bad = [TRACEPARENT.upper(), "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
           "ff" + TRACEPARENT[2:], TRACEPARENT + "-extra", "garbage",
           "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab-00f067aa0ba902b7-01\r\nx: y"]
    for value in bad:
        r_id = rid()
        try:
            r = post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                                           "server": "github",
                                           "tool": "list_repos"},
                     r_id, headers={"traceparent": value})
        except ValueError:
            continue        # http.client refuses to send a CR LF
        assert r.status == 200
        assert "traceresponse" not in r.headers, value
        (rec,) = decisions(wait_lines(file_of(gw), r_id, 1))
        assert rec["trace_id"] is None, value
    r_id = rid()
    conn_headers = [("traceparent", TRACEPARENT),
                    ("traceparent", f"00-{'1' * 32}-{'2' * 16}-01")]
    status, headers = raw_request(gw, "/healthz", conn_headers, r_id)
    assert status == 200
    assert "traceresponse" not in headers
    acc = access_line(gw, r_id)
    assert "trace_id" not in acc


def raw_request(s, path, extra, request_id):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    try:
        conn.putrequest("GET", path)
        conn.putheader("x-request-id", request_id)
        for k, v in extra:
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def test_no_secrets_in_logs(gw):
    token = gw.tokens["gateway"]
    r_id = rid()
    post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                               "server": "github", "tool": "list_repos"},
         r_id)
    # A wrong token too: refused, and still never written.
    wrong = token[:-4] + "abcd"
    assert gw.post("/v1/authorize", {"subject": "x", "server": "s",
                                     "tool": "t"}, token=wrong).status == 401
    wait_lines(file_of(gw), r_id, 1)
    time.sleep(0.2)
    text = gw.logtext() + read(gw.decision_path)
    for secret in list(gw.tokens.values()) + [wrong]:
        assert secret not in text
        assert base64.b64encode(f"cf:{secret}".encode()).decode() not in text
    # Every line whole: one JSON object per line (or Kore's own text).
    for line in read(gw.decision_path).splitlines():
        json.loads(line)


def promtool(text):
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool not installed: rollcall's /metrics not "
                    "checked with it (apt-get install prometheus)")
    return subprocess.run([exe, "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60)


def series(text, name, **labels):
    want = re.escape(",".join(f'{k}="{v}"' for k, v in labels.items()))
    if labels:
        want = r"\{" + want + r"\}"
    m = re.search(rf"(?m)^{name}{want} (\S+)$", text)
    return float(m.group(1)) if m else 0.0


def test_decision_metrics(gw):
    labels = dict(endpoint="authorize", decision="deny",
                  reason_code="denied_by_rule")
    before = gw.get("/metrics").body.decode()
    for _ in range(5):
        post(gw, "/v1/authorize", {"subject": "alice@contoso.com",
                                   "server": "github",
                                   "tool": "delete_branch"}, rid())
    text = gw.get("/metrics").body.decode()
    assert series(text, "rollcall_decisions_total", **labels) == \
        series(before, "rollcall_decisions_total", **labels) + 5
    assert series(text, "rollcall_decision_duration_seconds_count",
                  endpoint="authorize") >= 5
    assert series(text, "rollcall_decision_duration_seconds_bucket",
                  endpoint="authorize", le="+Inf") == \
        series(text, "rollcall_decision_duration_seconds_count",
               endpoint="authorize")
    r = promtool(text)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sighup_reopens_the_file(gw):
    path = gw.decision_path
    sent = []

    def send(n):
        for _ in range(n):
            r_id = rid()
            assert post(gw, "/v1/authorize",
                        {"subject": "alice@contoso.com", "server": "github",
                         "tool": "delete_branch"}, r_id).status == 200
            sent.append(r_id)

    send(20)
    wait_lines(file_of(gw), sent[-1], 1)
    workers_started(gw, 2)
    rotated = path + ".1"
    os.rename(path, rotated)
    send(20)                    # still the old file (now rotated)
    gw.proc.send_signal(signal.SIGHUP)
    # Workers reopen from their flush timer: wait until probes land in
    # the new file, then every later line must.
    deadline = time.time() + 10
    landed = 0
    while landed < 10 and time.time() < deadline:
        before = len(sent)
        send(1)
        found = wait_lines(lambda: read(path) + read(rotated), sent[before],
                           1)
        assert decisions(found), "a probe's line was lost"
        in_new = any(r.get("request_id") == sent[before]
                     for r in lines_of(read(path)))
        landed = landed + 1 if in_new else 0
    assert landed == 10, "the workers did not reopen the file"
    later = len(sent)
    send(20)
    # Every worker lived through it (a sandbox kill leaves a worker
    # dead and the server unable to stop), and the stop writes all.
    gw.stop()
    new = [r["request_id"] for r in lines_of(read(path))]
    old = [r["request_id"] for r in lines_of(read(rotated))]
    ours = set(sent)
    got = [x for x in old + new if x in ours]
    # None lost, none twice.
    assert sorted(got) == sorted(sent)
    assert set(sent[later:]) <= set(new)
    assert set(sent[:20]) <= set(old)
    assert "cannot reopen" not in gw.logtext()


def test_reopen_failure_keeps_the_old_file(make_server):
    d = tempfile.mkdtemp(prefix="rollcall-declog-")
    try:
        path = os.path.join(d, "logs", "decisions.log")
        os.mkdir(os.path.dirname(path))
        s = make_server(seed=seed, tokens=["gateway"], workers=2,
                        env={"ROLLCALL_DECISION_LOG_PATH": path})
        workers_started(s, 2)
        os.rename(os.path.dirname(path), os.path.join(d, "gone"))
        moved = os.path.join(d, "gone", "decisions.log")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and \
                s.logtext().count("cannot reopen") < 2:
            time.sleep(0.05)
        # One warning per worker, not one per attempt.
        assert s.logtext().count("cannot reopen") == 2, s.logtext()
        s.proc.send_signal(signal.SIGHUP)
        r_id = rid()
        assert post(s, "/v1/authorize", {"subject": "alice@contoso.com",
                                         "server": "github",
                                         "tool": "delete_branch"},
                    r_id).status == 200
        assert decisions(wait_lines(lambda: read(moved), r_id, 1))
        text = s.get("/metrics").body.decode()
        assert series(text, "rollcall_log_reopen_failures_total") >= 2
        assert s.logtext().count("cannot reopen") == 2
        s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_denies_only_on_stdout(make_server):
    s = make_server(seed=seed, tokens=["gateway"], workers=2,
                    env={"ROLLCALL_DECISION_LOG": "denies"})
    ids = {}
    for tool in ("list_repos", "delete_branch", "create_pull_request"):
        ids[tool] = rid()
        post(s, "/v1/authorize", {"subject": "alice@contoso.com",
                                  "server": "github", "tool": tool},
             ids[tool])
    s.stop()                    # a clean stop writes what is buffered
    recs = [r for r in lines_of(s.logtext()) if r.get("type") == "decision"]
    assert [r["tool"] for r in recs] == ["delete_branch"]
    assert recs[0]["request_id"] == ids["delete_branch"]


def test_allow_sampling(make_server):
    s = make_server(seed=seed, tokens=["gateway"], workers=2,
                    env={"ROLLCALL_DECISION_LOG_ALLOW_SAMPLE": "0.3"})
    r_id = rid()
    allows, denies = 400, 50
    items = [{"server": "github", "tool": "list_repos"}] * allows + \
        [{"server": "github", "tool": "delete_branch"}] * denies
    r = post(s, "/v1/authorize/batch",
             {"subject": "alice@contoso.com", "items": items}, r_id)
    assert r.status == 200, r
    s.stop()
    recs = [r for r in lines_of(s.logtext())
            if r.get("type") == "decision" and r["request_id"] == r_id]
    kept = sum(1 for r in recs if r["decision"] == "allow")
    # Every deny; about 30% of 400 allows (mean 120, sd 9.2): a bound
    # of more than six standard deviations each way.
    assert sum(1 for r in recs if r["decision"] == "deny") == denies
    assert 60 <= kept <= 180, kept
    # The counters count every decision, sampled or not.


def test_clean_stop_writes_everything(make_server):
    s = make_server(seed=seed, tokens=["gateway"], workers=2)
    ids = [rid() for _ in range(150)]
    for r_id in ids:
        assert post(s, "/v1/authorize", {"subject": "alice@contoso.com",
                                         "server": "github",
                                         "tool": "list_repos"},
                    r_id).status == 200
    s.stop()                    # at once: lines still in the buffers
    recs = lines_of(s.logtext())
    for kind in ("access", "decision"):
        got = [r["request_id"] for r in recs if r.get("type") == kind
               and r.get("request_id") in set(ids)]
        assert sorted(got) == sorted(ids), kind


def test_decision_log_off(make_server):
    s = make_server(seed=seed, tokens=["gateway"], workers=1,
                    env={"ROLLCALL_DECISION_LOG": "off"})
    post(s, "/v1/authorize", {"subject": "alice@contoso.com",
                              "server": "github", "tool": "delete_branch"},
         rid())
    text = s.get("/metrics").body.decode()
    # Counted, not logged.
    assert series(text, "rollcall_decisions_total", endpoint="authorize",
                  decision="deny", reason_code="denied_by_rule") == 1
    s.stop()
    assert not [r for r in lines_of(s.logtext())
                if r.get("type") == "decision"]


def test_unwritable_path_stops_the_start(make_server):
    s = make_server(seed=seed, tokens=["gateway"], wait=False,
                    env={"ROLLCALL_DECISION_LOG_PATH":
                         "/nonexistent/dir/decisions.log"})
    s.proc.wait(timeout=20)
    assert s.proc.returncode != 0
    assert "decision_log_path" in s.logtext()
    s.stopped = True
    for bad in ("ROLLCALL_DECISION_LOG", "ROLLCALL_DECISION_LOG_ALLOW_SAMPLE"):
        s = make_server(seed=seed, tokens=["gateway"], wait=False,
                        env={bad: "1.5"})
        s.proc.wait(timeout=20)
        assert s.proc.returncode != 0
        assert bad[9:].lower() in s.logtext(), s.logtext()
        s.stopped = True
