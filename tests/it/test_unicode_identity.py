"""Identity names compare by one key everywhere (issue 8): Unicode NFC
after full case folding, computed by rollcall (src/core/idkey.c) and
stored in users.user_name_key / users.emails_key.  SCIM uniqueness, SCIM
filters, the gateway's alias lookup and the admin search must agree on
who "Émile", "émile" and "E\u0301mile" are, on "Straße" and "STRASSE",
on the Kelvin sign and "k", and keep Turkish dotted and dotless i
apart.  Names with white space at either end are refused.  A database
migrated from schema 3 gets its keys from 'rollcallctl migrate'."""
import json
import pathlib
import re
import shutil
import secrets
import tempfile
import time
import urllib.parse

import pytest

from conftest import ROOT, Database, Server, localpg, psql_admin
from model_rig import STATE_SQL
from policy_model import Local

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CTYPE = "application/scim+json; charset=utf-8"

NFC_E = "\u00e9"            # é
NFD_E = "e\u0301"           # e + combining acute
KELVIN = "\u212a"
DOTTED_I = "\u0130"         # İ
DOTLESS_I = "\u0131"        # ı


class Env:
    pass


@pytest.fixture(scope="module")
def env(make_module_server):
    e = Env()
    e.s = make_module_server(tokens={
        "entra": {"scopes": "scim", "name": "entra"},
        "gateway": "gateway", "admin": "admin"})
    e.db = e.s.db
    e.tok, e.gw, e.admin = (e.s.tokens[k]
                            for k in ("entra", "gateway", "admin"))
    return e


def scim(e, method, path, body=None):
    return e.s.request(method, path, body=body, token=e.tok,
                       content_type=CTYPE)


def user_body(name, emails=None):
    return {"schemas": [USER], "userName": name, "active": True,
            "emails": [{"type": "work", "primary": True, "value": v}
                       for v in (emails if emails is not None else [name])]}


def create(e, name, emails=None):
    r = scim(e, "POST", "/scim/v2/Users", user_body(name, emails))
    assert r.status == 201, r
    return r.json["id"]


def conflict(e, name):
    r = scim(e, "POST", "/scim/v2/Users", user_body(name))
    assert r.status == 409, r
    assert r.json["scimType"] == "uniqueness"
    return r


def filtered(e, flt):
    r = scim(e, "GET", "/scim/v2/Users?filter=" + urllib.parse.quote(flt))
    assert r.status == 200, r
    return sorted(u["id"] for u in r.json["Resources"])


def resolves(e, subject, want, timeout=5.0):
    """The principal id the gateway resolves subject to, on every worker
    (None: principal_unknown).  Polls: other workers apply the SCIM
    write from the change ring."""
    deadline = time.time() + timeout
    while True:
        got = set()
        for _ in range(8):
            r = e.s.post("/v1/session/check", token=e.gw,
                         body={"subject": subject})
            assert r.status == 200, r
            p = r.json.get("principal")
            got.add(p["id"] if p and r.json.get("reason_code") !=
                    "principal_unknown" else None)
        if got == {want} or time.time() > deadline:
            assert got == {want}, (subject, got, want)
            return
        time.sleep(0.05)


def authorize_reason(e, subject):
    r = e.s.post("/v1/authorize", token=e.gw,
                 body={"subject": subject, "server": "none", "tool": "x"})
    assert r.status == 200, r
    return r.json["reason_code"]


def admin_users(e, **params):
    r = e.s.get("/admin/v1/users?" + urllib.parse.urlencode(params),
                token=e.admin)
    assert r.status == 200, r
    return sorted(u["id"] for u in r.json["users"])


def test_accent_case_and_composition_are_one_user(env):
    e = env
    name = "\u00c9mile.Zola@Contoso.com"             # É, precomposed
    uid = create(e, name)
    for other in (f"{NFC_E}mile.zola@contoso.com",
                  "E\u0301MILE.ZOLA@CONTOSO.COM",      # NFD, upper
                  f"{NFD_E}mile.zola@contoso.com"):
        body = conflict(e, other).json
        assert "Unicode" in body["detail"]
    # Without the accent it is another name.
    assert filtered(e, 'userName eq "emile.zola@contoso.com"') == []
    for spelling in (f"{NFC_E}mile.zola@contoso.com",
                     f"{NFD_E}MILE.ZOLA@contoso.com", name):
        assert filtered(e, f'userName eq "{spelling}"') == [uid]
        assert filtered(e, f'emails.value eq "{spelling}"') == [uid]
        assert filtered(
            e, f'emails[type eq "work"].value eq "{spelling}"') == [uid]
        assert filtered(e, f'emails[value eq "{spelling}"]') == [uid]
        resolves(e, spelling, uid)
        resolves(e, {"userName": spelling}, uid)
        resolves(e, {"email": spelling}, uid)
        assert authorize_reason(e, spelling) != "principal_unknown"
        assert admin_users(e, userName=spelling) == [uid]
        assert admin_users(e, email=spelling) == [uid]
    assert filtered(e, f'userName sw "{NFD_E}MILE.Z"') == [uid]
    # rollcallctl user show finds a user by name through the key too.
    r = e.db.ctl("user", "show", f"{NFD_E}MILE.zola@contoso.com", "--json")
    assert json.loads(r.stdout)["id"] == uid
    resolves(e, "emile.zola@contoso.com", None)


def test_sharp_s_folds_to_ss(env):
    e = env
    uid = create(e, "Strasse@contoso.com")
    conflict(e, "STRA\u00dfE@contoso.com")
    conflict(e, "stra\u1e9ee@contoso.com")          # capital sharp s
    assert filtered(e, 'userName eq "Stra\u00dfe@contoso.com"') == [uid]
    resolves(e, "stra\u00dfe@CONTOSO.com", uid)
    resolves(e, {"email": "STRA\u00dfE@contoso.com"}, uid)
    assert admin_users(e, userName="stra\u00dfe@contoso.com") == [uid]


def test_kelvin_sign_is_k(env):
    e = env
    uid = create(e, f"{KELVIN}elvin@contoso.com")
    conflict(e, "kelvin@contoso.com")
    conflict(e, "KELVIN@contoso.com")
    assert filtered(e, 'userName eq "KELVIN@contoso.com"') == [uid]
    assert filtered(e, 'emails.value eq "kelvin@contoso.com"') == [uid]
    resolves(e, "kelvin@contoso.com", uid)
    resolves(e, {"email": "Kelvin@contoso.com"}, uid)
    assert admin_users(e, email="kelvin@CONTOSO.com") == [uid]


def test_turkish_dotted_and_dotless_i_stay_apart(env):
    e = env
    dotted = create(e, f"{DOTTED_I}pek@contoso.com")
    # İ folds to i + U+0307: plain i and dotless ı are other names.
    plain = create(e, "ipek@contoso.com")
    dotless = create(e, f"{DOTLESS_I}pek@contoso.com")
    assert len({dotted, plain, dotless}) == 3
    conflict(e, "i\u0307pek@contoso.com")
    conflict(e, "IPEK@contoso.com")                  # I folds to i
    assert filtered(e, f'userName eq "{DOTTED_I}PEK@contoso.com"') == \
        [dotted]
    assert filtered(e, 'userName eq "IPEK@contoso.com"') == [plain]
    assert filtered(e, f'userName eq "{DOTLESS_I}PEK@contoso.com"') == \
        [dotless]
    resolves(e, f"{DOTTED_I}PEK@contoso.com", dotted)
    resolves(e, "i\u0307pek@contoso.com", dotted)
    resolves(e, "IPEK@contoso.com", plain)
    resolves(e, f"{DOTLESS_I}pek@CONTOSO.com", dotless)
    assert admin_users(e, userName=f"{DOTTED_I}pek@contoso.com") == [dotted]


def test_model_reads_emails_as_sent(env):
    """test_model's oracle (model_rig.STATE_SQL + policy_model) must key
    an email the way rollcall does.  It read emails_lc, PostgreSQL's
    lower(), which turns İ into plain i: the model then resolved
    "irem.m@..." to the holder of "İrem.m@..." where rollcall rightly
    answers principal_unknown (seed 20261203, step 297)."""
    e = env
    sent = f"{DOTTED_I}rem.m@contoso.com"
    uid = create(e, "irem-model@contoso.com", [sent])
    st = json.loads(e.db.sql(STATE_SQL))
    row, = [u for u in st["users"] if u["id"] == uid]
    assert row["emails"] == [sent]
    local = Local({"policy_version": st["version"],
                   "directory": {"id": row["directory"]},
                   "principals": st["users"], "rules": [], "grants": [],
                   "servers": [], "unavailable": []})
    for asked, want in (("irem.m@contoso.com", None),
                        (f"{DOTLESS_I}rem.m@contoso.com", None),
                        (sent, uid), ("i\u0307REM.M@contoso.com", uid)):
        resolves(e, {"email": asked}, want)
        got = local.resolve({"email": asked})
        assert (got["id"] if got else None) == want, (asked, got)


@pytest.mark.parametrize("body,attr", [
    (user_body("trail@contoso.com "), "userName"),
    (user_body(" lead@contoso.com"), "userName"),
    (user_body("tab@contoso.com\t"), "userName"),
    (user_body("nbsp@contoso.com\u00a0"), "userName"),
    (user_body("\u200bzwsp@contoso.com"), "userName"),
    (user_body("mail@contoso.com", ["mail@contoso.com "]), "emails[0].value"),
    (user_body("mail2@contoso.com", ["ok@contoso.com", "\u3000x@y"]),
     "emails[1].value"),
])
def test_edge_white_space_is_refused(env, body, attr):
    e = env
    r = scim(e, "POST", "/scim/v2/Users", body)
    assert r.status == 400, r
    assert r.json["scimType"] == "invalidValue"
    assert attr in r.json["detail"], r.json
    name = body["userName"]
    assert filtered(e, 'userName eq "' + name.strip() + '"') == []


def test_lookalike_with_space_is_not_a_second_user(env):
    e = env
    uid = create(e, "alice@x.example")
    r = scim(e, "POST", "/scim/v2/Users", user_body("alice@x.example "))
    assert r.status == 400 and "userName" in r.json["detail"], r
    # PATCH and PUT are held to the same rule; nothing is written.
    r = scim(e, "PATCH", f"/scim/v2/Users/{uid}", {
        "schemas": [PATCHOP], "Operations": [
            {"op": "replace", "path": "userName", "value": "alice@x.example "}]})
    assert r.status == 400 and "userName" in r.json["detail"], r
    r = scim(e, "PATCH", f"/scim/v2/Users/{uid}", {
        "schemas": [PATCHOP], "Operations": [
            {"op": "add", "path": "emails",
             "value": [{"type": "home", "value": " a@x.example"}]}]})
    assert r.status == 400 and "emails[1].value" in r.json["detail"], r
    r = scim(e, "PUT", f"/scim/v2/Users/{uid}",
             user_body("alice@x.example", ["alice@x.example\u2028"]))
    assert r.status == 400 and "emails[0].value" in r.json["detail"], r
    r = scim(e, "GET", f"/scim/v2/Users/{uid}")
    assert r.json["userName"] == "alice@x.example"
    assert [m["value"] for m in r.json["emails"]] == ["alice@x.example"]


def test_patch_value_filter_and_rename_follow_the_key(env):
    e = env
    uid = create(e, "renee@contoso.com",
                 ["Ren\u00e9e@contoso.com", "other@contoso.com"])
    resolves(e, {"email": f"REN{NFD_E}E@contoso.com"}, uid)
    # A PATCH value filter matches the stored email by its key too.
    r = scim(e, "PATCH", f"/scim/v2/Users/{uid}", {
        "schemas": [PATCHOP], "Operations": [
            {"op": "remove",
             "path": f'emails[value eq "REN{NFD_E}E@CONTOSO.COM"]'}]})
    assert r.status in (200, 204), r
    r = scim(e, "GET", f"/scim/v2/Users/{uid}")
    assert [m["value"] for m in r.json["emails"]] == ["other@contoso.com"]
    assert filtered(e, f'emails.value eq "ren{NFC_E}e@contoso.com"') == []
    resolves(e, {"email": f"ren{NFC_E}e@contoso.com"}, None)
    # A rename moves every alias: the old name resolves to nobody.
    r = scim(e, "PATCH", f"/scim/v2/Users/{uid}", {
        "schemas": [PATCHOP], "Operations": [
            {"op": "replace", "path": "userName",
             "value": f"R{NFD_E}NEE.B@contoso.com"}]})
    assert r.status in (200, 204), r
    assert e.db.sql(f"SELECT user_name_key FROM users WHERE id = '{uid}'"
                    ).strip() == f"r{NFC_E}nee.b@contoso.com"
    resolves(e, f"r{NFC_E}nee.b@contoso.com", uid)
    resolves(e, "renee@contoso.com", None)
    assert filtered(e, f'userName eq "R{NFC_E}NEE.B@CONTOSO.COM"') == [uid]


def raw_database():
    """A database migrated only up to schema 3 (before identity keys)."""
    d = Database.__new__(Database)
    d.name = "it_" + secrets.token_hex(6)
    psql_admin(f"CREATE DATABASE {d.name} OWNER rollcall")
    base = localpg("dsn").stdout.strip()
    d.dsn = re.sub(r"dbname=\S+", f"dbname={d.name}", base)
    old = pathlib.Path(tempfile.mkdtemp(prefix="rollcall-sql3-"))
    for f in sorted((ROOT / "sql").glob("[0-9]*.sql")):
        if int(f.name[:3]) < 4:
            shutil.copy(f, old / f.name)
    d.ctl("migrate", "--dir", str(old))
    shutil.rmtree(old)
    return d


def legacy_user(d, name, emails, deleted=False):
    """A row as the schema-3 server wrote it (lower() in emails_lc)."""
    doc = json.dumps({"schemas": [USER], "userName": name, "active": True,
                      "emails": [{"value": v} for v in emails]})
    arr = "ARRAY[" + ",".join("lower('" + v + "')" for v in emails) + \
        "]::text[]"
    return d.sql(
        "INSERT INTO users (directory_id, user_name, emails_lc, doc, "
        f"deleted_at) VALUES (1, '{name}', {arr}, '{doc}', "
        f"{'now()' if deleted else 'NULL'}) RETURNING id").split()[0]


def test_migration_backfills_keys_of_existing_rows():
    d = raw_database()
    try:
        assert d.sql("SELECT max(version) FROM schema_migrations"
                     ).strip() == "3"
        emile = legacy_user(d, "\u00c9mile@contoso.com",
                            [f"{NFD_E}mile@Contoso.com"])
        kelvin = legacy_user(d, f"{KELVIN}elvin@contoso.com", [])
        legacy_user(d, "strasse@contoso.com", [], deleted=True)
        strasse = legacy_user(d, "stra\u00dfe@contoso.com", [])
        r = d.ctl("migrate")
        assert "applied 004_" in r.stdout, r.stdout
        rows = d.sql("SELECT id, user_name_key, "
                     "array_to_json(emails_key) FROM users "
                     "WHERE deleted_at IS NULL ORDER BY user_name_key")
        keys = {ln.split("|")[0]: ln.split("|")[1:]
                for ln in rows.splitlines()}
        assert keys[emile] == [f"{NFC_E}mile@contoso.com",
                               json.dumps([f"{NFC_E}mile@contoso.com"],
                                          ensure_ascii=False)
                               .replace(", ", ",")]
        assert keys[kelvin][0] == "kelvin@contoso.com"
        assert keys[strasse][0] == "strasse@contoso.com"
        assert d.sql("SELECT count(*) FROM users WHERE user_name_key IS "
                     "NULL").strip() == "0"
        # The keyed rows answer SCIM, the gateway and the admin API.
        tok = d.token("scim")
        gw = d.token("gateway")
        s = Server(d, workers=2)
        try:
            e = Env()
            e.s, e.tok, e.gw, e.db = s, tok, gw, d
            e.admin = d.token("admin")
            assert filtered(e, 'userName eq "EMILE@contoso.com"') == []
            assert filtered(e, f'userName eq "{NFD_E}MILE@contoso.com"') \
                == [emile]
            assert filtered(e, f'emails.value eq "{NFC_E}mile@CONTOSO.com"'
                            ) == [emile]
            conflict(e, "STRASSE@contoso.com")
            conflict(e, "kelvin@contoso.com")
            resolves(e, {"email": f"{NFC_E}MILE@contoso.com"}, emile)
            resolves(e, "KELVIN@contoso.com", kelvin)
            assert admin_users(e, userName="STRASSE@contoso.com") == [strasse]
        finally:
            s.stop()
    finally:
        d.drop()


def test_migration_stops_on_names_that_now_collide():
    d = raw_database()
    try:
        legacy_user(d, "strasse@contoso.com", [])
        legacy_user(d, "stra\u00dfe@contoso.com", [])  # lower() kept both
        r = d.ctl("migrate", check=False)
        assert r.returncode != 0
        assert "strasse@contoso.com" in r.stderr, r.stderr
        assert "004_" in r.stderr
        # Nothing of 004 was applied: the schema is still version 3.
        assert d.sql("SELECT max(version) FROM schema_migrations"
                     ).strip() == "3"
        assert d.sql("SELECT count(*) FROM information_schema.columns "
                     "WHERE table_name = 'users' AND column_name = "
                     "'user_name_key'").strip() == "0"
        # The operator resolves it (here: deletes one); migrate succeeds.
        d.sql("UPDATE users SET deleted_at = now() "
              "WHERE user_name = 'strasse@contoso.com'")
        assert "applied 004_" in d.ctl("migrate").stdout
    finally:
        d.drop()


def test_filter_literal_that_is_not_utf8_is_refused(env):
    e = env
    r = scim(e, "GET", "/scim/v2/Users?filter=userName%20eq%20%22%FF%22")
    assert r.status == 400, r
    assert r.json["scimType"] == "invalidFilter"


def test_snapshot_lists_email_keys(env):
    """A gateway that evaluates the snapshot itself compares the same
    keys: the snapshot's emails are keys, as the index holds them."""
    e = env
    uid = create(e, "snap@contoso.com", [f"J{NFD_E}R\u00d4ME@Contoso.com"])
    deadline = time.time() + 5
    while True:
        r = e.s.get("/v1/policy/snapshot", token=e.gw)
        assert r.status == 200, r
        p = [x for x in r.json["principals"] if x["id"] == uid]
        if p or time.time() > deadline:
            break
        time.sleep(0.05)
    assert p and p[0]["emails"] == [f"j{NFC_E}r\u00f4me@contoso.com"], p
