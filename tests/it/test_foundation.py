"""Foundation: ops endpoints, errors for bad input, tokens and scopes,
logging, configuration errors, the database's own guarantees."""
import concurrent.futures
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import ROOT, Database, Server


def raw(server, data, read=65536):
    """Sends bytes on a fresh socket, returns what comes back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(read)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and b"content-length: 0" in out.lower():
                    break
        except socket.timeout:
            pass
    return out


def test_healthz_needs_no_token(server):
    r = server.get("/healthz")
    assert r.status == 200
    assert r.json == {"status": "ok"}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"]


def test_readyz_reports_database_and_state(server):
    r = server.get("/readyz")
    assert r.status == 200, r
    assert r.json["status"] == "ready"
    assert r.json["database"] is True and r.json["state_loaded"] is True


def test_readyz_after_a_quiet_spell_is_ready(server):
    # A load balancer probing every 10 s: the last ping is older than the
    # 5 s it is trusted for, and the one the probe starts has not come
    # back yet.  The database is fine, so the answer is 200, every time.
    server.get("/readyz")
    for _ in range(2):
        time.sleep(6)
        r = server.get("/readyz")
        assert r.status == 200, r
        assert r.json["database"] is True


def test_request_id_is_echoed_when_sane(server):
    r = server.get("/healthz", headers={"X-Request-Id": "abc-123_x.y"})
    assert r.headers["x-request-id"] == "abc-123_x.y"
    r = server.get("/healthz", headers={"X-Request-Id": "bad id<script>"})
    assert r.headers["x-request-id"] != "bad id<script>"


def test_metrics_prometheus_text(server):
    server.get("/healthz")
    server.get("/admin/v1/tokens", token="wrong")
    r = server.get("/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    assert 'rollcall_http_requests_total{route="healthz",status="200"}' in text
    assert 'rollcall_http_request_duration_seconds_bucket{route="healthz",le="+Inf"}' in text
    assert 'rollcall_token_failures_total{reason="unknown"}' in text
    assert "rollcall_db_errors_total" in text
    # Every sample line is "name{labels} value" or "name value".
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)


def test_unknown_route_is_json_404(server):
    r = server.get("/no/such/thing")
    assert r.status == 404
    assert r.json["error"] == "not_found"
    r = server.get("/scim/v2/NoSuchResource")
    assert r.status == 404
    assert r.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert r.json["status"] == "404"


def test_wrong_method_is_405_with_allow(server):
    r = server.request("DELETE", "/healthz")
    assert r.status == 405
    assert "GET" in r.headers["allow"]
    assert r.json["error"] == "method_not_allowed"
    r = server.request("PUT", "/admin/v1/tokens", body={},
                       token=server.tokens["admin"])
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD, POST"


def test_missing_content_length_is_411(server):
    out = raw(server, b"POST /admin/v1/tokens HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 411"), out[:100]


def test_body_over_limit_is_413_with_json(server):
    limit = 4 * 1024 * 1024
    body = b'{"name":"' + b"a" * (limit + 10) + b'"}'
    r = server.post("/admin/v1/tokens", body=body,
                    token=server.tokens["admin"])
    assert r.status == 413
    assert r.json["error"] == "body_too_large"
    # Far over the limit Kore refuses before reading: still a 413.
    out = raw(server, b"POST /admin/v1/tokens HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 999999999\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413"), out[:100]
    assert server.get("/healthz").status == 200


@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "not a JSON object"),
    (b"[1,2]", "another JSON type"),
    (b'{"a":1,"a":2}', "duplicate"),
    (b"", "not a JSON object"),
    (b'{"name": "\xff\xfe"}', "not a JSON object"),
])
def test_malformed_json_is_400(server, body, fragment):
    r = server.post("/admin/v1/tokens", body=body,
                    token=server.tokens["admin"])
    assert r.status == 400, r
    assert fragment in r.json["message"]


def test_non_json_content_type_is_415(server):
    r = server.post("/admin/v1/tokens", body="name=x",
                    token=server.tokens["admin"],
                    content_type="application/x-www-form-urlencoded")
    assert r.status == 415


@pytest.mark.parametrize("header", [
    None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer nope",
    "Bearer rcl_" + "A" * 43, "Bearer " + "x" * 5000,
])
def test_bad_tokens_are_401_json(server, header):
    headers = {} if header is None else {"Authorization": header}
    r = server.get("/admin/v1/tokens", headers=headers)
    assert r.status == 401, r
    assert r.json["error"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_empty_authorization_header_is_refused(server):
    # Kore itself rejects a header line with no value (400).
    r = server.get("/admin/v1/tokens", headers={"Authorization": ""})
    assert r.status in (400, 401)
    assert server.get("/healthz").status == 200


def test_scim_path_401_uses_scim_error_schema(server):
    r = server.get("/scim/v2/Users")
    # Whatever the route does later, an unauthenticated call is refused.
    assert r.status in (401, 404)
    assert r.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_wrong_scope_is_403(server):
    for scope in ("scim", "gateway"):
        r = server.get("/admin/v1/tokens", token=server.tokens[scope])
        assert r.status == 403, r
        assert "admin" in r.json["message"]


def test_token_list_never_shows_secrets(server):
    r = server.get("/admin/v1/tokens", token=server.tokens["global_admin"])
    assert r.status == 200
    text = r.body.decode()
    for secret in server.tokens.values():
        assert secret not in text
    assert "secret_hash" not in text
    assert {t["name"] for t in r.json["tokens"]} >= {"it-scim", "global"}
    for t in r.json["tokens"]:
        assert len(t["hint"]) == 12


def test_directory_admin_sees_only_its_directory(server, db):
    g = server.tokens["global_admin"]
    r = server.post("/admin/v1/directories", body={"name": "other-dir"},
                    token=g)
    assert r.status == 201, r
    r = server.post("/admin/v1/tokens", token=g, body={
        "name": "other-admin", "scopes": ["admin"], "directory": "other-dir"})
    assert r.status == 201
    other = r.json["token"]
    r = server.get("/admin/v1/tokens", token=other)
    assert [t["name"] for t in r.json["tokens"]] == ["other-admin"]
    r = server.get("/admin/v1/directories", token=other)
    assert [d["name"] for d in r.json["directories"]] == ["other-dir"]
    # It cannot mint for another directory, nor global tokens.
    r = server.post("/admin/v1/tokens", token=other, body={
        "name": "x", "scopes": "scim", "directory": "default"})
    assert r.status == 403
    r = server.post("/admin/v1/tokens", token=other, body={
        "name": "x", "scopes": "admin"})
    assert r.status == 403
    r = server.post("/admin/v1/directories", token=other, body={"name": "z"})
    assert r.status == 403
    # Duplicate names (case-insensitive) are refused.
    r = server.post("/admin/v1/directories", token=g,
                    body={"name": "OTHER-DIR"})
    assert r.status == 409
    r = server.post("/admin/v1/directories", token=g,
                    body={"name": "bad name!"})
    assert r.status == 400


def fresh_get_all_workers(server, token, n=40):
    """n requests on fresh connections (spread over workers)."""
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(lambda _: server.get("/admin/v1/directories",
                                                  token=token).status,
                           range(n)))


def test_token_created_by_api_works_at_once_everywhere(server):
    r = server.post("/admin/v1/tokens", token=server.tokens["global_admin"],
                    body={"name": "fresh", "scopes": ["admin", "scim"],
                          "directory": "default", "expires_days": 30})
    assert r.status == 201, r
    assert r.json["token"].startswith("rcl_")
    assert r.json["scopes"] == "scim,admin"
    assert r.json["expires_at"] is not None
    assert set(fresh_get_all_workers(server, r.json["token"])) == {200}


def test_token_revoked_by_api_is_refused_at_once_everywhere(server, db):
    g = server.tokens["global_admin"]
    r = server.post("/admin/v1/tokens", token=g, body={
        "name": "to-revoke", "scopes": ["admin"], "directory": "default"})
    secret, tid = r.json["token"], r.json["id"]
    assert set(fresh_get_all_workers(server, secret, 8)) == {200}
    r = server.request("DELETE", f"/admin/v1/tokens/{tid}", token=g)
    assert r.status == 204
    assert set(fresh_get_all_workers(server, secret)) == {401}
    r = server.request("DELETE", f"/admin/v1/tokens/{tid}", token=g)
    assert r.status == 409
    r = server.request("DELETE", "/admin/v1/tokens/not-a-uuid", token=g)
    assert r.status == 404
    r = server.request("DELETE",
                       "/admin/v1/tokens/00000000-0000-4000-8000-000000000000",
                       token=g)
    assert r.status == 404
    # The database keeps the hash only, the revocation and an audit trail.
    row = db.sql(f"SELECT length(secret_hash), revoked_at IS NOT NULL "
                 f"FROM tokens WHERE id = '{tid}'").strip()
    assert row == "32|t"
    assert db.sql(f"SELECT count(*) FROM audit_log WHERE resource_id = "
                  f"'{tid}'").strip() == "2"
    assert db.sql("SELECT count(*) FROM revocation_events WHERE "
                  "kind = 'token.revoked'").strip() != "0"


def test_token_revoked_by_cli_is_refused_within_a_second(server, db):
    secret = db.token("admin", name="cli-revoke")
    deadline = time.time() + 3
    while server.get("/healthz").status == 200 and time.time() < deadline:
        if server.get("/admin/v1/directories", token=secret).status == 200:
            break
        time.sleep(0.02)
    assert server.get("/admin/v1/directories", token=secret).status == 200
    tid = db.sql("SELECT id FROM tokens WHERE name = 'cli-revoke'").strip()
    r = db.ctl("token", "revoke", tid)
    assert "revoked" in r.stdout
    t0 = time.time()
    while time.time() - t0 < 1.0:
        if set(fresh_get_all_workers(server, secret, 8)) == {401}:
            break
        time.sleep(0.02)
    assert set(fresh_get_all_workers(server, secret)) == {401}


def test_expired_token_is_refused(server, db):
    secret = db.token("admin", name="short-lived")
    db.sql("UPDATE tokens SET expires_at = now() + interval '1 second' "
           "WHERE name = 'short-lived'")
    db.sql("NOTIFY rollcall, '{\"kind\":\"tokens\"}'")
    time.sleep(1.5)
    r = server.get("/admin/v1/directories", token=secret)
    assert r.status == 401
    assert "expired" in r.json["message"]


def test_last_used_is_recorded(server, db):
    server.get("/admin/v1/directories", token=server.tokens["admin"])
    deadline = time.time() + 15
    while time.time() < deadline:
        v = db.sql("SELECT last_used_at IS NOT NULL FROM tokens "
                   "WHERE name = 'it-admin'").strip()
        if v == "t":
            return
        time.sleep(0.5)
    pytest.fail("last_used_at never set")


def test_parallel_requests_all_answered(server):
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(
            lambda i: server.get("/admin/v1/tokens",
                                 token=server.tokens["admin"]).status,
            range(200)))
    assert statuses == [200] * 200


def test_log_lines_are_json_and_secret_free(server):
    server.get("/admin/v1/directories", token=server.tokens["admin"])
    time.sleep(0.2)
    lines = [l for l in server.logtext().splitlines() if l.startswith("{")]
    assert len(lines) > 10
    seen_request = False
    for line in lines:
        rec = json.loads(line)
        assert {"time", "level", "worker"} <= rec.keys()
        if "route" in rec:
            seen_request = True
            assert {"request_id", "method", "status", "duration_ms"} <= \
                rec.keys()
    assert seen_request
    text = server.logtext()
    for secret in server.tokens.values():
        assert secret not in text


def test_audit_log_is_append_only(db):
    db.sql("INSERT INTO audit_log (actor_kind, actor, action) "
           "VALUES ('system', 'test', 'test.append')")
    for stmt in ("UPDATE audit_log SET actor = 'x'",
                 "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(subprocess.CalledProcessError) as e:
            db.sql(stmt)
        assert "append-only" in e.value.stderr


def test_schema_constraints(db):
    # Names are unique by their identity key (sql/004), which rollcall
    # computes; a hand-written row carries it explicitly.
    db.sql("INSERT INTO users (directory_id, user_name, user_name_key, doc) "
           "VALUES (1, 'Alice@Contoso.com', 'alice@contoso.com', '{}')")
    with pytest.raises(subprocess.CalledProcessError):
        db.sql("INSERT INTO users (directory_id, user_name, user_name_key, "
               "doc) VALUES (1, 'alice@contoso.com', 'alice@contoso.com', "
               "'{}')")
    # A deleted user's name may be used again.
    db.sql("UPDATE users SET deleted_at = now() "
           "WHERE user_name = 'Alice@Contoso.com'")
    db.sql("INSERT INTO users (directory_id, user_name, user_name_key, doc) "
           "VALUES (1, 'alice@contoso.com', 'alice@contoso.com', '{}')")
    with pytest.raises(subprocess.CalledProcessError):
        db.sql("INSERT INTO tokens (name, scopes, secret_hash, hint) VALUES "
               "('x', '{scim}', decode(repeat('00', 32), 'hex'), 'x')")
    with pytest.raises(subprocess.CalledProcessError):
        db.sql("INSERT INTO rules (directory_id, subject_kind, server_slug, "
               "tool_selector, effect) VALUES (1, 'group', '*', '*', 'allow')")


def test_migrate_is_idempotent(db):
    r = db.ctl("migrate")
    assert "up to date" in r.stdout
    assert db.sql("SELECT count(*) FROM schema_migrations").strip() == \
        str(len(list((ROOT / "sql").glob("[0-9]*.sql"))))
    assert db.sql("SELECT name FROM directories WHERE id = 1").strip() == \
        "default"


def test_cli_token_create_prints_secret_last(db):
    r = db.ctl("token", "create", "--scope", "scim,gateway", "--name",
               "two-scopes", "--expires-days", "7")
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("rcl_") and len(lines[-1]) == 47
    r = db.ctl("token", "create", "--scope", "bogus", check=False)
    assert r.returncode != 0 and "--scope" in r.stderr
    r = db.ctl("token", "create", "--scope", "scim", "--global", check=False)
    assert r.returncode != 0 and "global" in r.stderr
    r = db.ctl("token", "create", "--scope", "scim", "--directory", "nope",
               check=False)
    assert r.returncode != 0 and "no directory" in r.stderr
    r = db.ctl("token", "list", "--json")
    names = [t["name"] for t in json.loads(r.stdout)]
    assert "two-scopes" in names
    r = db.ctl("directory", "create", "cli-dir")
    assert "cli-dir" in db.ctl("directory", "list").stdout


@pytest.mark.parametrize("env,fragment", [
    ({"ROLLCALL_WORKERS": "0"}, "setting workers"),
    ({"ROLLCALL_LISTEN": "nowhere"}, "setting listen"),
    ({"ROLLCALL_BODY_MAX": "lots"}, "setting body_max"),
    ({"ROLLCALL_LOG_LEVEL": "chatty"}, "setting log_level"),
    ({"ROLLCALL_PUBLIC_URL": "ftp://x"}, "setting public_url"),
    ({"ROLLCALL_WROKERS": "2"}, "ROLLCALL_WROKERS"),
    ({"ROLLCALL_SETTINGS": "/nonexistent/settings"}, "/nonexistent/settings"),
    ({"ROLLCALL_DATABASE_URL": "hostaddr=127.0.0.1 port=1 dbname=x "
      "connect_timeout=1", "ROLLCALL_DB_WAIT_S": "1"}, "database_url"),
])
def test_bad_configuration_fails_at_start(db, env, fragment):
    s = Server(db, env=env, wait=False)
    try:
        s.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        pytest.fail("server kept running with a bad setting")
    text = s.logtext()
    assert s.proc.returncode != 0
    assert fragment in text, text
    assert "worker 1 started" not in text


def test_settings_file_is_read(db, tmp_path):
    f = tmp_path / "rollcall.settings"
    f.write_text("# comment\n\nlog_level = warn\nworkers = 1\n")
    s = Server(db, env={"ROLLCALL_SETTINGS": str(f)}, workers=None)
    try:
        assert s.get("/healthz").status == 200
    finally:
        s.stop()
    assert "worker 2 started" not in s.logtext()
    f.write_text("workers = 1\nbogus = 2\n")
    s = Server(db, env={"ROLLCALL_SETTINGS": str(f)}, workers=None,
               wait=False)
    s.proc.wait(timeout=20)
    assert s.proc.returncode != 0
    assert "rollcall.settings:2: unknown setting 'bogus'" in s.logtext()


def test_unmigrated_database_is_refused(tmp_path):
    d = Database.__new__(Database)
    import secrets
    from conftest import psql_admin, localpg
    import re
    d.name = "it_raw_" + secrets.token_hex(4)
    psql_admin(f"CREATE DATABASE {d.name} OWNER rollcall")
    d.dsn = re.sub(r"dbname=\S+", f"dbname={d.name}",
                   localpg("dsn").stdout.strip())
    try:
        d.ctl("migrate")
        d.sql("DELETE FROM schema_migrations")
        s = Server(d, wait=False)
        s.proc.wait(timeout=20)
        assert s.proc.returncode != 0
        assert "rollcallctl migrate" in s.logtext()
    finally:
        d.drop()


def test_readyz_turns_503_when_database_refuses(db):
    s = Server(db, workers=2)
    try:
        assert s.get("/readyz").status == 200
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT 0")
        db.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{db.name}' AND pid <> pg_backend_pid()")
        deadline = time.time() + 10
        status = 200
        while time.time() < deadline:
            status = s.get("/readyz").status
            if status == 503:
                break
            time.sleep(0.3)
        assert status == 503
        assert s.get("/healthz").status == 200
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT -1")
        deadline = time.time() + 10
        while time.time() < deadline:
            status = s.get("/readyz").status
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200
    finally:
        db.sql(f"ALTER DATABASE {db.name} CONNECTION LIMIT -1")
        s.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")
def test_privilege_separated_workers(db):
    """As in production: workers chrooted, running as an unprivileged user,
    seccomp enforcing; a request that uses the database still works."""
    s = Server(db, privsep=True, workers=2)
    try:
        r = s.get("/readyz")
        assert r.status == 200, s.logtext()
        pids = subprocess.run(["pgrep", "-P", str(s.proc.pid)],
                              capture_output=True, text=True).stdout.split()
        assert len(pids) == 2

        def dropped(pid):
            status = open(f"/proc/{pid}/status").read()
            uid = [l for l in status.splitlines() if l.startswith("Uid:")][0]
            return uid.split()[1] != "0" and \
                os.readlink(f"/proc/{pid}/root") != "/"
        # A worker drops privileges as it starts; under the sanitizers
        # the second one may still be starting when the first answers.
        deadline = time.time() + 10
        while time.time() < deadline and not all(map(dropped, pids)):
            time.sleep(0.1)
        for pid in pids:
            assert dropped(pid), f"worker {pid} still root or not chrooted"
        secret = db.token("admin", name="privsep")
        time.sleep(0.5)
        assert s.get("/admin/v1/tokens", token=secret).status == 200
    finally:
        s.stop()


def test_token_failures_reach_the_audit_trail(db):
    s = Server(db, workers=2, env={"ROLLCALL_FAILURE_AUDIT_S": "1"})
    try:
        for _ in range(5):
            s.get("/admin/v1/tokens", token="rcl_not-a-real-token")
        s.get("/admin/v1/tokens")
        deadline = time.time() + 5
        row = ""
        while time.time() < deadline:
            row = db.sql("SELECT summary FROM audit_log WHERE action = "
                         "'token.use_failed' ORDER BY id DESC LIMIT 1")
            if row.strip():
                break
            time.sleep(0.2)
        summary = json.loads(row)
        assert summary["unknown"] == 5 and summary["malformed"] == 1
        assert summary["window_s"] == 1
        assert "rcl_not-a-real-token" not in row
    finally:
        s.stop()
