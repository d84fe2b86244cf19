"""Entra access tokens on the decision path (issue 12): one real rollcall
(release build, 2 workers) on the test cluster, a directory bound to a
tenant with keys made here, and wrk against /v1/authorize in one run:

  - subject: {"subject": "alice@contoso.com", ...}
  - token, cache hits: the same valid token every time (no signature
    check after the first);
  - token, cold: N distinct tokens in turn against a 16-slot cache, so
    nearly every request verifies an RS256 signature: the verify-bound
    rate, divided by the workers, is the cold verifies/s per core.

    RC_PGPORT=... RC_PGDIR=... python3 scripts/bench/entra_bench.py [--seconds N]

Prints a Markdown table.  Needs wrk and python3-cryptography.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "it"))

from conftest import Database, Server  # noqa: E402
from entra_fixture import API, TENANT, Key, claims, jwks, mint  # noqa: E402
from seed import seed  # noqa: E402

STATIC = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(gw)s"
wrk.body = [[%(body)s]]
"""

ROTATE = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(gw)s"
local toks = {%(toks)s}
local i = 0
request = function()
  i = i + 1
  local body = '{"token":"' .. toks[(i %% #toks) + 1] ..
    '","server":"github","tool":"create_pull_request"}'
  return wrk.format(nil, "/v1/authorize", nil, body)
end
"""


def wrk(base, script, seconds, tmp, name):
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w") as f:
        f.write(script)
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", path,
                          "--latency", base + "/v1/authorize"],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, p99, int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--cold-tokens", type=int, default=2000)
    a = ap.parse_args()
    key = Key("bench")
    db = Database()
    tmp = tempfile.mkdtemp(prefix="rc-entra-bench-")
    try:
        seed(db)
        db.mint({"gateway": "gateway", "admin": "global_admin"})
        s = Server(db, workers=2, tokens=db.tokens,
                   env={"ROLLCALL_ENTRA_TOKEN_CACHE": "16",
                        "ROLLCALL_LOG_LEVEL": "warn"})
        try:
            r = s.request("PUT", "/admin/v1/directories/default/entra",
                          token=db.tokens["admin"],
                          body={"tenant_id": TENANT, "audiences": [API],
                                "jwks": jwks(key)})
            assert r.status == 200, r
            tok = mint(key, claims(life=7200))
            time.sleep(1)
            d = s.post("/v1/authorize", token=db.tokens["gateway"],
                       body={"token": tok, "server": "github",
                             "tool": "create_pull_request"}).json
            assert d["decision"] == "allow", d
            gw = db.tokens["gateway"]
            subj = json.dumps({"subject": "alice@contoso.com",
                               "server": "github",
                               "tool": "create_pull_request"})
            hot = json.dumps({"token": tok, "server": "github",
                              "tool": "create_pull_request"})
            cold = [mint(key, claims(life=7200, jti=str(i)))
                    for i in range(a.cold_tokens)]
            rows = []
            for name, script in (
                    ("subject", STATIC % {"gw": gw, "body": subj}),
                    ("token, cache hits", STATIC % {"gw": gw, "body": hot}),
                    ("token, cold (16-slot cache, %d tokens)" %
                     a.cold_tokens, ROTATE % {"gw": gw, "toks": ",".join(
                         '"%s"' % t for t in cold)})):
                rows.append((name,) + wrk(s.base, script, a.seconds, tmp,
                                          name.split(",")[0].replace(" ",
                                                                     "_")))
            m = s.get("/metrics").body.decode()
            hits = re.search(r'rollcall_entra_tokens_total\{result='
                             r'"cache_hit"\} (\d+)', m).group(1)
            verified = re.search(r'rollcall_entra_tokens_total\{result='
                                 r'"verified"\} (\d+)', m).group(1)
        finally:
            s.stop(check_log=False)
    finally:
        db.drop()
    print(f"| /v1/authorize, 2 workers, wrk -t2 -c16 -d{a.seconds}s | "
          "req/s | p99 | non-2xx |")
    print("| --- | --- | --- | --- |")
    for name, rate, p99, bad in rows:
        print(f"| {name} | {rate:.0f} | {p99} | {bad} |")
    print()
    print(f"token (cache hits) / subject: {rows[1][1] / rows[0][1]:.2f}; "
          f"cold verifies/s per core: {rows[2][1] / 2:.0f} "
          f"(metrics: {verified} verified, {hits} cache hits)")


if __name__ == "__main__":
    main()
