"""A token minted with rollcallctl works on its very first use (before
the server's NOTIFY arrives, the server looks an unknown token up in the
database), and made-up tokens cannot turn that look-up into a flood:
beyond a per-instance rate limit they are refused without one."""
import hashlib
import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

# The server's limit (src/svc/svc.h): look-ups a second, and burst.
LOOKUPS_S, BURST = 20, 40


def metric(server, name):
    text = server.get("/metrics").body.decode()
    m = re.search(rf"(?m)^{re.escape(name)} (\d+)$", text)
    return int(m.group(1)) if m else 0


def lookups(server):
    return {r: metric(server, f'rollcall_token_db_lookups_total'
                              f'{{result="{r}"}}')
            for r in ("found", "unknown", "limited")}


def test_cli_token_accepted_on_first_use(server, db):
    refused = []
    for i in range(40):
        scope = ("admin", "scim", "gateway")[i % 3]
        token = db.token(scope, name=f"first-use-{i}")
        path = {"admin": "/admin/v1/directories",
                "scim": "/scim/v2/Users?count=1",
                "gateway": "/v1/revocations"}[scope]
        r = server.get(path, token=token)
        if r.status != 200:
            refused.append((i, scope, r.status, r.body[:200]))
        # Used again at once: from the table now.
        assert server.get(path, token=token).status == 200
    assert refused == []


def test_token_unknown_to_the_server_is_looked_up(server, db):
    # A row written without NOTIFY (as by a peer whose NOTIFY is still on
    # its way): the server can only know it by the look-up.  Checked
    # apart from the rollcallctl case above, where the NOTIFY may well
    # win the race and the look-up is never needed.
    wait_for_refill()
    before = lookups(server)
    token = "rcl_" + secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    db.sql("INSERT INTO tokens (directory_id, name, scopes, secret_hash, "
           "hint) SELECT id, 'no-notify', ARRAY['admin'], "
           f"decode('{digest}', 'hex'), 'rcl_x' FROM directories "
           "WHERE name = 'default'")
    assert server.get("/admin/v1/directories", token=token).status == 200
    assert server.get("/admin/v1/directories", token=token).status == 200
    after = lookups(server)
    assert after["found"] - before["found"] == 1, (before, after)


def wait_for_refill():
    # A test before this one may have spent the look-up budget on
    # made-up tokens; a full bucket takes BURST / LOOKUPS_S seconds.
    time.sleep(BURST / LOOKUPS_S + 0.2)


def test_unknown_tokens_cannot_flood_the_database(server):
    before = lookups(server)
    n = 400
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(
            lambda _: server.get("/admin/v1/directories",
                                 token="rcl_" + secrets.token_urlsafe(32)
                                 ).status, range(n)))
    elapsed = time.monotonic() - t0
    after = lookups(server)
    assert statuses == [401] * n
    done = (after["found"] - before["found"]) + \
        (after["unknown"] - before["unknown"])
    limited = after["limited"] - before["limited"]
    assert done + limited == n
    # However slow this machine is, the database saw at most the burst
    # plus the refill over the time it took.
    assert done <= BURST + LOOKUPS_S * (elapsed + 1), (done, elapsed)
    assert limited > 0
    print(f"{n} made-up tokens in {elapsed:.2f} s: {done} looked up, "
          f"{limited} refused without a look-up")


def test_revoked_token_stays_refused(server, db):
    wait_for_refill()
    token = db.token("admin", name="to-revoke")
    assert server.get("/admin/v1/directories", token=token).status == 200
    rows = json.loads(db.ctl("token", "list", "--json").stdout)
    row = next(r for r in rows if r["name"] == "to-revoke")
    db.ctl("token", "revoke", row["id"])
    deadline = time.time() + 10
    while time.time() < deadline:
        if server.get("/admin/v1/directories", token=token).status == 401:
            break
        time.sleep(0.05)
    # Refused for good, look-up or not.
    for _ in range(20):
        assert server.get("/admin/v1/directories", token=token).status == 401
