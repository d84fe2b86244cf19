"""Gateway feeds against a real server and database: /v1/revocations,
/v1/policy/changes, /v1/policy/snapshot and /v1/stream (Server-Sent
Events): errors, paging, directory scoping, long-polls that return as
soon as a change commits, SSE resume, retention (410), and hundreds of
streams and long-polls open while decisions keep answering fast.

Changes are committed the way the server's own writes commit them (next
policy version, change records, revocation events, NOTIFY), in direct
SQL, so these tests do not depend on any write API; the SCIM path is
used for the latency figure when it is there."""
import base64
import json
import selectors
import socket
import statistics
import threading
import time
import uuid

import pytest


ALICE = str(uuid.UUID(int=0xA1))
BOB = str(uuid.UUID(int=0xB0))
EVE = str(uuid.UUID(int=0xE0))     # in directory "other"
STAFF = str(uuid.UUID(int=0x51))
RULE = str(uuid.UUID(int=0x100))
END = 2147483647


def q(s):
    return s.replace("'", "''")


def commit_change(db, records=None, revocations=()):
    """One policy version, as store_changes_flush writes it; returns it."""
    recs = q(json.dumps(records or [{"kind": "version"}]))
    revs = q(json.dumps(list(revocations)))
    out = db.sql(f"""
BEGIN;
UPDATE policy_state SET version = version + 1;
INSERT INTO policy_changes (version, idx, origin, record)
  SELECT s.version, r.ord - 1, 'it-test',
         r.value || jsonb_build_object('version', s.version)
  FROM policy_state s,
       jsonb_array_elements('{recs}'::jsonb) WITH ORDINALITY AS r(value, ord);
INSERT INTO revocation_events (policy_version, idx, directory_id, kind,
    principal_id, detail)
  SELECT s.version, r.ord - 1, (r.value->>'directory_id')::bigint,
         r.value->>'kind', (r.value->>'principal')::uuid,
         coalesce(r.value->'detail', '{{}}'::jsonb)
  FROM policy_state s,
       jsonb_array_elements('{revs}'::jsonb) WITH ORDINALITY AS r(value, ord);
SELECT pg_notify('rollcall', json_build_object('kind', 'changes',
    'origin', 'it-test', 'version', version)::text) FROM policy_state;
COMMIT;
SELECT version FROM policy_state;
""")
    return int(out.split()[-1])


def revoke(db, principal, kind="user.disabled", directory=1, **detail):
    rec = {"kind": "epoch", "principal": principal}
    return commit_change(db, [rec], [{"directory_id": directory,
                                      "kind": kind, "principal": principal,
                                      "detail": detail}])


def cursor_of(version, idx):
    raw = f"{version}.{idx}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(c):
    raw = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode()
    v, i = raw.split(".")
    return int(v), int(i)


WORLD = f"""
INSERT INTO users (id, directory_id, user_name, active, doc) VALUES
 ('{ALICE}', 1, 'alice@contoso.com', true, '{{}}'),
 ('{BOB}', 1, 'bob@contoso.com', true, '{{}}'),
 ('{EVE}', 2, 'eve@fabrikam.com', true, '{{}}');
INSERT INTO groups (id, directory_id, display_name, doc)
  VALUES ('{STAFF}', 1, 'Staff', '{{}}');
INSERT INTO memberships (group_id, user_id) VALUES ('{STAFF}', '{ALICE}');
INSERT INTO mcp_servers (slug, name) VALUES ('github', 'GitHub');
INSERT INTO tools (server_id, name, risk) SELECT id, 'list_repos', 'low'
  FROM mcp_servers WHERE slug = 'github';
INSERT INTO rules (id, directory_id, subject_kind, subject_id, server_slug,
    tool_selector, effect) VALUES
 ('{RULE}', 1, 'group', '{STAFF}', 'github', '*', 'allow');
"""


def world(db):
    db.ctl("directory", "create", "other")
    db.sql(WORLD)


@pytest.fixture(scope="module")
def fx(make_module_server):
    return make_module_server(seed=world, tokens={
        "gateway": "gateway", "admin": "admin", "scim": "scim",
        "other": {"scopes": "gateway", "directory": "other",
                  "name": "gw-other"}})


def get(s, path, token="gateway", **kw):
    tok = s.tokens[token] if token in s.tokens else token
    return s.get(path, token=tok, **kw)


def drain_revocations(s, token="gateway"):
    """Reads the feed to its end; returns (events, cursor)."""
    events, cur = [], None
    for _ in range(100):
        path = "/v1/revocations?limit=1000" + (f"&cursor={cur}" if cur
                                                else "")
        r = get(s, path, token)
        assert r.status == 200, r
        events += r.json["events"]
        cur = r.json["next_cursor"]
        if not r.json["more"]:
            return events, cur
    raise AssertionError("feed did not end")


def wait_index(s, version, timeout=5):
    """Until a decision on some worker reports version (index caught up)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = s.post("/v1/authorize", token=s.tokens["gateway"],
                   body={"subject": "alice@contoso.com", "server": "github",
                         "tool": "list_repos"})
        if r.json.get("policy_version", 0) >= version:
            return
        time.sleep(0.02)
    raise AssertionError(f"index never reached {version}")


# --- errors ---------------------------------------------------------------

ENDPOINTS = ["/v1/revocations", "/v1/policy/changes?since=0",
             "/v1/policy/snapshot", "/v1/stream"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_auth_and_scope(fx, path):
    assert fx.get(path).status == 401
    assert fx.get(path, token="not-a-token").status == 401
    for wrong in ("admin", "scim"):
        r = get(fx, path, wrong)
        assert r.status == 403, (wrong, r)
    r = fx.post(path.split("?")[0], body={}, token=fx.tokens["gateway"])
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD", r


@pytest.mark.parametrize("path,code", [
    ("/v1/revocations?cursor=zz", "invalid_cursor"),
    ("/v1/revocations?cursor=" + "A" * 1500, "invalid_cursor"),
    ("/v1/revocations?cursor=" + cursor_of("-1", 0), "invalid_cursor"),
    ("/v1/revocations?cursor=" + cursor_of(1, "x"), "invalid_cursor"),
    ("/v1/revocations?cursor=MC4w%3D%3D", "invalid_cursor"),
    ("/v1/revocations?limit=0", "invalid_request"),
    ("/v1/revocations?limit=1001", "invalid_request"),
    ("/v1/revocations?limit=ten", "invalid_request"),
    ("/v1/revocations?wait=61", "invalid_request"),
    ("/v1/revocations?wait=-1", "invalid_request"),
    ("/v1/revocations?bogus=1", "invalid_request"),
    ("/v1/revocations?limit=5&limit=6", "invalid_request"),
    ("/v1/policy/changes", "invalid_since"),
    ("/v1/policy/changes?since=", "invalid_request"),
    ("/v1/policy/changes?since=-1", "invalid_since"),
    ("/v1/policy/changes?since=1e3", "invalid_since"),
    ("/v1/policy/changes?since=99999999999999999999", "invalid_since"),
    ("/v1/policy/changes?since=0&cursor=x", "invalid_request"),
    ("/v1/policy/snapshot?wait=100", "invalid_request"),
    ("/v1/stream?cursor=%00", "invalid_request"),
    ("/v1/stream?heartbeat=0", "invalid_request"),
    ("/v1/stream?wait=5", "invalid_request"),
])
def test_bad_parameters(fx, path, code):
    r = get(fx, path)
    assert r.status == 400, r
    assert r.json["error"] == code, r
    assert r.headers["content-type"] == "application/json"


def test_cursor_and_since_ahead_are_400(fx):
    v = int(fx.db.sql("SELECT version FROM policy_state").strip())
    r = get(fx, "/v1/revocations?cursor=" + cursor_of(v + 5, 0))
    assert r.status == 400 and r.json["error"] == "cursor_ahead", r
    r = get(fx, f"/v1/policy/changes?since={v + 5}")
    assert r.status == 400 and r.json["error"] == "cursor_ahead", r
    r = get(fx, "/v1/stream", headers={"Last-Event-ID":
                                       cursor_of(v + 5, 0)})
    assert r.status == 400 and r.json["error"] == "cursor_ahead", r
    r = get(fx, "/v1/stream", headers={"Last-Event-ID": "garbage!"})
    assert r.status == 400 and r.json["error"] == "invalid_cursor", r


# --- revocations ------------------------------------------------------------

def test_revocations_order_paging_and_directory(fx):
    _, start = drain_revocations(fx)
    v1 = revoke(fx.db, ALICE, "user.disabled", reason="test")
    v2 = commit_change(fx.db, [{"kind": "epoch", "principal": BOB}], [
        {"directory_id": 1, "kind": "membership.removed",
         "principal": BOB, "detail": {"group": STAFF}},
        {"directory_id": 1, "kind": "grant.revoked", "principal": BOB},
        {"directory_id": None, "kind": "rule.changed"}])
    v3 = revoke(fx.db, EVE, "user.deleted", directory=2)
    seen = []
    cur = start
    while True:
        r = get(fx, f"/v1/revocations?cursor={cur}&limit=2")
        assert r.status == 200, r
        body = r.json
        assert len(body["events"]) <= 2
        seen += body["events"]
        assert body["policy_version"] >= v3
        cur = body["next_cursor"]
        if not body["more"]:
            break
    kinds = [(e["policy_version"], e["idx"], e["kind"]) for e in seen]
    assert kinds == [(v1, 0, "user.disabled"), (v2, 0, "membership.removed"),
                     (v2, 1, "grant.revoked"), (v2, 2, "rule.changed")]
    assert seen[0]["principal"] == ALICE
    assert seen[0]["detail"] == {"reason": "test"}
    assert seen[1]["detail"] == {"group": STAFF}
    assert seen[3]["directory_id"] is None and seen[3]["principal"] is None
    for e in seen:
        assert decode_cursor(e["cursor"]) == (e["policy_version"], e["idx"])
        assert e["at"].endswith("Z")
    # The last cursor is past everything read, so nothing repeats.
    assert decode_cursor(cur) == (v3, END)
    r = get(fx, f"/v1/revocations?cursor={cur}")
    assert r.json["events"] == [] and r.json["next_cursor"] == cur
    # Directory "other" sees its own event and the global one only.
    r = get(fx, f"/v1/revocations?cursor={start}", "other")
    assert [(e["kind"], e["principal"]) for e in r.json["events"]] == [
        ("rule.changed", None), ("user.deleted", EVE)]


def test_revocations_without_cursor_start_at_the_oldest(fx):
    # Events of its own, whatever ran before (or did not).
    v1 = revoke(fx.db, ALICE, "user.disabled")
    v2 = revoke(fx.db, BOB, "principal.revoked")
    events, cur = drain_revocations(fx)
    assert events
    keys = [(e["policy_version"], e["idx"]) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert keys[-2:] == [(v1, 0), (v2, 0)]
    assert decode_cursor(cur) == (v2, END)


def test_revocations_long_poll_returns_on_commit(fx):
    _, cur = drain_revocations(fx)
    result = {}

    def poll():
        t0 = time.time()
        result["r"] = get(fx, f"/v1/revocations?cursor={cur}&wait=20")
        result["t"] = time.time()
        result["elapsed"] = time.time() - t0

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    t_commit = time.time()
    v = revoke(fx.db, BOB, "principal.revoked")
    th.join(25)
    r = result["r"]
    assert r.status == 200, r
    assert [e["kind"] for e in r.json["events"]] == ["principal.revoked"]
    assert r.json["events"][0]["policy_version"] == v
    # psql's own exit is in t_commit; well under the 20 s wait.
    assert result["t"] - t_commit < 1.5, result
    assert result["elapsed"] >= 0.5


def test_revocations_long_poll_times_out_empty(fx):
    _, cur = drain_revocations(fx)
    t0 = time.time()
    r = get(fx, f"/v1/revocations?cursor={cur}&wait=1")
    took = time.time() - t0
    assert r.status == 200 and r.json["events"] == [], r
    assert r.json["next_cursor"] == cur
    assert 0.9 <= took < 2.5, took


def test_long_poll_ignores_other_directories(fx):
    _, cur = drain_revocations(fx, "other")
    result = {}

    def poll():
        t0 = time.time()
        result["r"] = get(fx, f"/v1/revocations?cursor={cur}&wait=2",
                          "other")
        result["took"] = time.time() - t0

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.3)
    v = revoke(fx.db, ALICE, "user.disabled")      # directory 1
    th.join(10)
    assert result["r"].json["events"] == []
    # Woken by the change, found nothing, slept again until the deadline.
    assert result["took"] >= 1.9, result
    # Its cursor moved past the version it read, so it does not repeat.
    assert decode_cursor(result["r"].json["next_cursor"])[0] >= v


# --- policy changes ---------------------------------------------------------

def test_changes_in_order_and_scoped(fx):
    base = int(fx.db.sql("SELECT version FROM policy_state").strip())
    v1 = commit_change(fx.db, [{"kind": "tool", "server": "github",
                                "name": "t1", "risk": "low", "labels": []}])
    v2 = commit_change(fx.db, [
        {"kind": "user", "id": EVE, "directory_id": 2,
         "userName": "eve@fabrikam.com", "active": False},
        {"kind": "member", "group": STAFF, "user": BOB, "present": True},
        {"kind": "rule", "id": RULE, "directory_id": 1,
         "subject_kind": "group", "subject_id": STAFF, "server": "github",
         "selector": "*", "effect": "allow"}])
    v3 = commit_change(fx.db, [{"kind": "epoch", "principal": EVE}])
    r = get(fx, f"/v1/policy/changes?since={base}")
    assert r.status == 200, r
    body = r.json
    assert body["since"] == base and body["next_since"] == v3
    assert body["policy_version"] == v3 and body["more"] is False
    got = [(c["version"], [x["kind"] for x in c["records"]])
           for c in body["changes"]]
    # Directory 1 sees neither Eve's user record nor her epoch.
    assert got == [(v1, ["tool"]), (v2, ["member", "rule"])]
    for c in body["changes"]:
        assert all(x["version"] == c["version"] for x in c["records"])
    r = get(fx, f"/v1/policy/changes?since={base}", "other")
    got = [(c["version"], [x["kind"] for x in c["records"]])
           for c in r.json["changes"]]
    assert got == [(v1, ["tool"]), (v2, ["user"]), (v3, ["epoch"])]
    # limit counts versions; next_since continues.
    r = get(fx, f"/v1/policy/changes?since={base}&limit=1")
    assert [c["version"] for c in r.json["changes"]] == [v1]
    assert r.json["next_since"] == v1 and r.json["more"] is True
    r = get(fx, f"/v1/policy/changes?since={v3}")
    assert r.json["changes"] == [] and r.json["next_since"] == v3


def test_changes_long_poll(fx):
    v = int(fx.db.sql("SELECT version FROM policy_state").strip())
    wait_index(fx, v)
    result = {}

    def poll():
        result["r"] = get(fx, f"/v1/policy/changes?since={v}&wait=20")
        result["t"] = time.time()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.4)
    t_commit = time.time()
    v2 = commit_change(fx.db, [{"kind": "server", "slug": "jira"}])
    th.join(25)
    assert [c["version"] for c in result["r"].json["changes"]] == [v2]
    assert result["r"].json["since"] == v
    assert result["r"].json["next_since"] == v2
    assert result["t"] - t_commit < 1.5
    t0 = time.time()
    r = get(fx, f"/v1/policy/changes?since={v2}&wait=1")
    assert r.json["changes"] == [] and time.time() - t0 >= 0.9


# --- snapshot ---------------------------------------------------------------

def test_snapshot_etag_and_304(fx):
    v = int(fx.db.sql("SELECT version FROM policy_state").strip())
    wait_index(fx, v)
    r = get(fx, "/v1/policy/snapshot")
    assert r.status == 200, r
    assert r.headers["etag"] == f'"{v}"'
    assert r.headers["content-type"] == "application/json"
    snap = r.json
    assert snap["policy_version"] == v
    assert decode_cursor(snap["revocations_cursor"]) == (v, END)
    assert snap["directory"] == {"id": "1", "name": "default"}
    ids = {p["id"] for p in snap["principals"]}
    assert ALICE in ids and BOB in ids and EVE not in ids
    alice = next(p for p in snap["principals"] if p["id"] == ALICE)
    assert alice["groups"] == [STAFF] and alice["type"] == "user"
    assert [g["id"] for g in snap["groups"]] == [STAFF]
    assert [x["id"] for x in snap["rules"]] == [RULE]
    assert snap["servers"][0]["slug"] == "github"
    for inm in (f'"{v}"', f'W/"{v}"', "*", f'"{v}", "{v + 1}"'):
        r = get(fx, "/v1/policy/snapshot", headers={"If-None-Match": inm})
        assert r.status == 304, (inm, r)
        assert r.headers["etag"] == f'"{v}"' and r.body == b""
    # Another version's tag (not "1": alone, this test runs at version 1).
    r = get(fx, "/v1/policy/snapshot",
            headers={"If-None-Match": f'"{v + 1}"'})
    assert r.status == 200 and r.json["policy_version"] == v
    other = get(fx, "/v1/policy/snapshot", "other").json
    assert {p["id"] for p in other["principals"]} == {EVE}
    assert other["groups"] == [] and other["rules"] == []


def test_snapshot_long_poll(fx):
    v = int(fx.db.sql("SELECT version FROM policy_state").strip())
    wait_index(fx, v)
    t0 = time.time()
    r = get(fx, "/v1/policy/snapshot?wait=1",
            headers={"If-None-Match": f'"{v}"'})
    assert r.status == 304 and time.time() - t0 >= 0.9
    result = {}

    def poll():
        result["r"] = get(fx, "/v1/policy/snapshot?wait=20",
                          headers={"If-None-Match": f'"{v}"'})
        result["t"] = time.time()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.4)
    t_commit = time.time()
    v2 = commit_change(fx.db)
    th.join(25)
    r = result["r"]
    assert r.status == 200 and r.headers["etag"] == f'"{v2}"', r
    assert result["t"] - t_commit < 1.5


# --- Server-Sent Events -----------------------------------------------------

class Stream:
    """A raw SSE client: parses events and comments as they arrive."""

    def __init__(self, s, token, path="/v1/stream", last_id=None):
        self.sock = socket.create_connection(("127.0.0.1", s.port))
        hdrs = f"Authorization: Bearer {token}\r\n"
        if last_id:
            hdrs += f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{hdrs}\r\n"
                          .encode())
        self.buf = b""
        self.head = None
        self.events = []
        self.comments = []
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def feed(self, data):
        if not data:
            self.closed = True
            return
        self.buf += data
        if self.head is None:
            if b"\r\n\r\n" not in self.buf:
                return
            self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        while b"\n\n" in self.buf:
            block, self.buf = self.buf.split(b"\n\n", 1)
            ev = {"data": [], "t": time.time()}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                k, _, val = line.partition(":")
                val = val[1:] if val.startswith(" ") else val
                if k == "data":
                    ev["data"].append(val)
                elif k in ("id", "event", "retry"):
                    ev[k] = val
            if "event" in ev:
                ev["data"] = json.loads("\n".join(ev["data"]))
                self.events.append(ev)

    def pump(self, until, timeout=10):
        self.sock.settimeout(0.2)
        deadline = time.time() + timeout
        while not until(self) and time.time() < deadline and \
                not self.closed:
            try:
                self.feed(self.sock.recv(65536))
            except socket.timeout:
                pass
        return until(self)

    @property
    def status(self):
        return int(self.head.split()[1]) if self.head else None

    def close(self):
        self.sock.close()


def test_stream_events_heartbeat_and_resume(fx):
    st = Stream(fx, fx.tokens["gateway"], "/v1/stream?heartbeat=1")
    assert st.pump(lambda x: x.comments), "no greeting"
    assert st.status == 200
    head = st.head.decode().lower()
    assert "content-type: text/event-stream" in head
    assert "connection: close" in head and "content-length" not in head
    v1 = revoke(fx.db, ALICE, "user.disabled")
    v2 = commit_change(fx.db, [{"kind": "epoch", "principal": BOB}], [
        {"directory_id": 1, "kind": "grant.expired", "principal": BOB},
        {"directory_id": 1, "kind": "grant.revoked", "principal": BOB}])
    revoke(fx.db, EVE, directory=2)
    assert st.pump(lambda x: len(x.events) >= 5), st.events
    got = [(e["event"], decode_cursor(e["id"])) for e in st.events[:5]]
    assert got == [("revocation", (v1, 0)), ("policy", (v1, END)),
                   ("revocation", (v2, 0)), ("revocation", (v2, 1)),
                   ("policy", (v2, END))], got
    assert st.events[0]["data"]["principal"] == ALICE
    assert st.events[0]["data"]["cursor"] == st.events[0]["id"]
    assert st.events[1]["data"]["version"] == v1
    assert [r["kind"] for r in st.events[4]["data"]["records"]] == ["epoch"]
    # Eve's version has nothing for this directory: no events for it.
    time.sleep(0.5)
    st.pump(lambda x: False, timeout=0.5)
    assert len(st.events) == 5, st.events
    n = len(st.comments)
    assert st.pump(lambda x: len(x.comments) >= n + 2, timeout=4), \
        "no heartbeats"
    assert "heartbeat" in st.comments[-1]
    st.close()

    # Resume after the first revocation of v2: the rest is replayed.
    again = Stream(fx, fx.tokens["gateway"], last_id=st.events[2]["id"])
    assert again.pump(lambda x: len(x.events) >= 2)
    assert [(e["event"], decode_cursor(e["id"])) for e in
            again.events[:2]] == [("revocation", (v2, 1)),
                                  ("policy", (v2, END))]
    # ... and it carries on live.
    v4 = revoke(fx.db, BOB, "principal.suspended")
    assert again.pump(lambda x: any(e["data"].get("policy_version") == v4
                                    for e in x.events))
    again.close()
    # ?cursor= works like Last-Event-ID.
    third = Stream(fx, fx.tokens["gateway"],
                   f"/v1/stream?cursor={st.events[3]['id']}")
    assert third.pump(lambda x: len(x.events) >= 1)
    assert third.events[0]["event"] == "policy"
    third.close()


def test_stream_clients_that_leave_are_cleaned_up(fx):
    before = fx.logtext().count("stream closed")
    streams = [Stream(fx, fx.tokens["gateway"]) for _ in range(40)]
    for st in streams:
        assert st.pump(lambda x: x.comments)
    for st in streams:
        st.close()
    deadline = time.time() + 5
    while time.time() < deadline and \
            fx.logtext().count("stream closed") < before + 40:
        time.sleep(0.1)
    assert fx.logtext().count("stream closed") >= before + 40
    r = fx.post("/v1/authorize", token=fx.tokens["gateway"],
                body={"subject": "alice@contoso.com", "server": "github",
                      "tool": "list_repos"})
    assert r.status == 200


def test_clients_leaving_mid_read(fx):
    """Requests whose database read is still running when the client goes
    (the read outlives them; shared reads lose a reader)."""
    tok = fx.tokens["gateway"]
    paths = ["/v1/policy/snapshot", "/v1/revocations",
             "/v1/policy/changes?since=" + str(int(fx.db.sql(
                 "SELECT version FROM policy_state").strip()) - 3)]
    for _ in range(3):
        socks = []
        for i in range(60):
            sk = socket.create_connection(("127.0.0.1", fx.port))
            path = paths[i % 3]
            hdr = ""
            if i % 4 == 0:
                path, hdr = "/v1/stream", "Last-Event-ID: " + \
                    cursor_of(1, 0) + "\r\n"
            sk.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{hdr}"
                       f"Authorization: Bearer {tok}\r\n\r\n".encode())
            socks.append(sk)
        for sk in socks:
            sk.close()
    r = get(fx, "/v1/policy/snapshot")
    assert r.status == 200
    r = fx.request("HEAD", "/v1/stream", token=tok)
    assert r.status == 200 and r.body == b""
    assert r.headers["content-type"] == "text/event-stream"


# --- load: hundreds of sleepers, decisions stay fast -----------------------

def test_many_streams_and_long_polls_with_decisions(fx):
    _, cur = drain_revocations(fx)
    v0 = decode_cursor(cur)[0]
    wait_index(fx, v0)
    sel = selectors.DefaultSelector()
    streams = [Stream(fx, fx.tokens["gateway"]) for _ in range(300)]
    polls = []
    for _ in range(300):
        sk = socket.create_connection(("127.0.0.1", fx.port))
        sk.sendall(f"GET /v1/revocations?cursor={cur}&wait=30 HTTP/1.1\r\n"
                   f"Host: t\r\nAuthorization: Bearer "
                   f"{fx.tokens['gateway']}\r\n\r\n".encode())
        polls.append([sk, b""])
    for st in streams:
        st.sock.setblocking(False)
        sel.register(st.sock, selectors.EVENT_READ, st)
    for p in polls:
        p[0].setblocking(False)
        sel.register(p[0], selectors.EVENT_READ, p)

    def pump(until, timeout):
        deadline = time.time() + timeout
        while not until() and time.time() < deadline:
            for key, _ in sel.select(0.1):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if isinstance(key.data, Stream):
                    key.data.feed(data)
                    if not data:
                        sel.unregister(key.fileobj)
                else:
                    key.data[1] += data
                    if not data:
                        sel.unregister(key.fileobj)
        return until()

    assert pump(lambda: all(s.comments for s in streams), 15), \
        sum(1 for s in streams if s.comments)
    # 600 requests asleep: decisions must not notice.
    lat = []
    for _ in range(400):
        t0 = time.perf_counter()
        r = fx.post("/v1/authorize", token=fx.tokens["gateway"],
                    body={"subject": "alice@contoso.com", "server": "github",
                          "tool": "list_repos"})
        lat.append(time.perf_counter() - t0)
        assert r.status == 200
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    print(f"\n/v1/authorize with 300 streams + 300 long-polls open: "
          f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms "
          f"(client-side, new connection each)")
    assert p99 < 0.05, (p50, p99)
    assert not any(p[1] for p in polls), "a long-poll answered early"

    t_commit = time.time()
    v = revoke(fx.db, ALICE, "user.disabled")

    def done():
        return all(any(e["data"].get("policy_version") == v
                       for e in s.events) for s in streams) and \
            all(b"\r\n\r\n" in p[1] and p[1].rstrip().endswith(b"}")
                for p in polls)
    assert pump(done, 15), (
        sum(1 for s in streams if s.events),
        sum(1 for p in polls if p[1]))
    took = time.time() - t_commit
    print(f"one commit reached 300 streams and 300 long-polls in "
          f"{took * 1000:.0f} ms (including psql)")
    for p in polls:
        body = json.loads(p[1].split(b"\r\n\r\n", 1)[1])
        assert [e["policy_version"] for e in body["events"]] == [v]
    for s in streams:
        s.close()
    for p in polls:
        p[0].close()
    sel.close()


# --- SCIM disable -> SSE latency (the benchmark figure) --------------------

def test_scim_disable_to_sse_latency(fx):
    probe = fx.get("/scim/v2/Users?count=1", token=fx.tokens["scim"])
    if probe.status == 404:
        pytest.skip("SCIM /Users is not in this tree yet")
    n = 200
    ids = []
    for i in range(n):
        r = fx.request("POST", "/scim/v2/Users", token=fx.tokens["scim"],
                       content_type="application/scim+json",
                       body={"schemas": ["urn:ietf:params:scim:schemas:"
                                         "core:2.0:User"],
                             "userName": f"lat{i}-{uuid.uuid4().hex[:6]}"
                                         "@contoso.com", "active": True})
        assert r.status == 201, r
        ids.append(r.json["id"])
    st = Stream(fx, fx.tokens["gateway"])
    assert st.pump(lambda x: x.comments)
    arrived = {}
    stop = threading.Event()

    def reader():
        st.sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data = st.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            st.feed(data)
            for e in st.events:
                d = e["data"]
                if e["event"] == "revocation" and \
                        d.get("kind") == "user.disabled":
                    arrived.setdefault(d["principal"], e["t"])
            if not data:
                return

    th = threading.Thread(target=reader)
    th.start()
    sent, acked = {}, {}
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "active",
                             "value": False}]}
    for uid in ids:
        sent[uid] = time.time()
        r = fx.request("PATCH", f"/scim/v2/Users/{uid}",
                       token=fx.tokens["scim"], body=patch,
                       content_type="application/scim+json")
        acked[uid] = time.time()
        assert r.status in (200, 204), r
    deadline = time.time() + 10
    while len(arrived) < n and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    th.join(5)
    st.close()
    assert len(arrived) == n, f"{len(arrived)} of {n} disables streamed"
    from_send = sorted(arrived[u] - sent[u] for u in ids)
    from_ack = sorted(arrived[u] - acked[u] for u in ids)

    def pct(xs, p):
        return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000
    print(f"\nSCIM PATCH active=false -> SSE user.disabled, {n} events: "
          f"from request sent p50 {pct(from_send, .5):.1f} ms, "
          f"p99 {pct(from_send, .99):.1f} ms; from 2xx received "
          f"p50 {pct(from_ack, .5):.1f} ms, p99 {pct(from_ack, .99):.1f} ms,"
          f" max {from_ack[-1] * 1000:.1f} ms; "
          f"mean {statistics.mean(from_send) * 1000:.1f} ms")
    # The 100 ms p99 target is measured and reported (README), not
    # asserted: timing on a shared machine is not a test.  What is
    # asserted is that delivery is pushed, not left for a heartbeat
    # (15 s) or a reconnect.
    assert from_ack[-1] < 5.0, "an event waited for something else to wake it"


# --- retention ----------------------------------------------------------------

@pytest.fixture(scope="module")
def old(make_module_server):
    """A database with change history older than the retention window."""
    return make_module_server(seed=f"""
INSERT INTO users (id, directory_id, user_name, active, doc) VALUES
 ('{ALICE}', 1, 'alice@contoso.com', true, '{{}}');
UPDATE policy_state SET version = 200003;
INSERT INTO policy_changes (version, idx, origin, record, at)
  SELECT v, 0, 'old', jsonb_build_object('kind', 'version', 'version', v),
         now() - interval '30 days'
  FROM generate_series(1, 3) v;
INSERT INTO policy_changes (version, idx, origin, record)
  SELECT v, 0, 'new', jsonb_build_object('kind', 'version', 'version', v)
  FROM generate_series(200001, 200003) v;
INSERT INTO revocation_events (policy_version, idx, directory_id, kind,
    principal_id, at) VALUES
 (1, 0, 1, 'user.disabled', '{ALICE}', now() - interval '30 days'),
 (2, 0, 1, 'user.disabled', '{ALICE}', now() - interval '30 days'),
 (3, 0, 1, 'rule.changed', NULL, now() - interval '30 days'),
 (200002, 0, 1, 'rule.changed', NULL, now());
""", tokens=["gateway"])


def test_retention_prunes_and_old_positions_are_410(old):
    deadline = time.time() + 10
    while time.time() < deadline and int(old.db.sql(
            "SELECT count(*) FROM policy_changes WHERE version < 10")):
        time.sleep(0.2)
    assert old.db.sql("SELECT min(version) FROM policy_changes").strip() \
        == "200001"
    # Alice's latest revocation stays: it is her subject epoch.
    assert old.db.sql("SELECT policy_version, kind FROM revocation_events "
                      "ORDER BY 1").split() == \
        ["2|user.disabled", "200002|rule.changed"]
    assert "retention pruned 3 change records and 2 revocation events" in \
        old.logtext()
    for path in ("/v1/policy/changes?since=0", "/v1/policy/changes?since=3",
                 "/v1/revocations?cursor=" + cursor_of(1, 0),
                 "/v1/revocations?cursor=" + cursor_of(200000, 0)):
        r = get(old, path)
        assert r.status == 410, (path, r)
        assert r.json["error"] == "gone" and "snapshot" in r.json["message"]
    r = get(old, "/v1/stream", headers={"Last-Event-ID": cursor_of(2, 0)})
    assert r.status == 410 and r.json["error"] == "gone"
    r = get(old, "/v1/policy/changes?since=200000")
    assert [c["version"] for c in r.json["changes"]] == \
        [200001, 200002, 200003]
    r = get(old, "/v1/revocations?cursor=" + cursor_of(200000, END))
    assert [e["policy_version"] for e in r.json["events"]] == [200002]
    # The snapshot's cursor is where a re-synced client continues.
    snap = get(old, "/v1/policy/snapshot").json
    r = get(old, "/v1/revocations?cursor=" + snap["revocations_cursor"])
    assert r.status == 200 and r.json["events"] == []
