#!/usr/bin/python3
"""count.py THIRDPARTY_DIR OUT_DIR "SUITES": counts the assertions of the
suites scripts/run-suites.sh ran into OUT_DIR, accepting only failures
its allow-list (OUT_DIR/allow.txt) names.  Prints one line per suite and
"suites: N passed, N failed"; exits 1 when anything failed.  A suite
that did not run to the end counts every assertion it did not pass as
failed (totals come from the suite files)."""
import json
import os
import re
import sys

tp, out, suites = sys.argv[1], sys.argv[2], sys.argv[3].split()
allow = []
with open(os.path.join(out, "allow.txt")) as f:
    for line in f:
        if line.strip():
            suite, req, name, must, reason = line.rstrip("\n").split("|", 4)
            allow.append({"suite": suite, "req": req, "name": name.strip(),
                          "must": must, "reason": reason, "used": 0})


def allowed(suite, req, k, name, message):
    for a in allow:
        r = a["req"]
        if a["suite"] != suite or a["name"] != name:
            continue
        if r != req and r != f"{req} #{k}":
            continue
        if a["must"] in message:
            a["used"] += 1
            return a
    return None


def postman():
    coll = json.load(open(os.path.join(
        tp, "azuread-scimreferencecode", "PostmanCollection.json")))
    total = 0

    def count(items):
        n = 0
        for it in items:
            if "item" in it:
                n += count(it["item"])
                continue
            for ev in it.get("event", []):
                if ev.get("listen") == "test":
                    n += sum(len(re.findall(r"pm\.test\(", l))
                             for l in ev["script"]["exec"])
        return n
    # run_postman.sh runs every folder but the reference server's token one.
    total = sum(count(f["item"]) for f in coll["item"]
                if "item" in f and f["name"] != "Get Token")
    path = os.path.join(out, "postman", "newman-report.json")
    if not os.path.exists(path):
        return 0, total, 0, ["newman produced no report (see postman.log)"]
    run = json.load(open(path))["run"]
    passed, accepted, lines, seen = 0, 0, [], {}
    for ex in run.get("executions", []):
        req = ex["item"]["name"]
        seen[req] = k = seen.get(req, 0) + 1
        for a in ex.get("assertions", []):
            if a.get("skipped"):
                continue
            err = a.get("error")
            if err is None:
                passed += 1
                continue
            msg = err.get("message", "")
            if allowed("postman", req, k, a["assertion"], msg):
                accepted += 1
                lines.append(f"ALLOWED {req} #{k} / {a['assertion']}: {msg}")
            else:
                lines.append(f"FAIL    {req} #{k} / {a['assertion']}: {msg}")
    for fl in run.get("failures", []):
        e = fl.get("error", {})
        if e.get("name") != "AssertionError":
            lines.append(f"ERROR   {fl.get('source', {}).get('name')}: "
                         f"{e.get('name')}: {e.get('message')}")
    return passed, total - passed - accepted, accepted, lines


def okta():
    spec = json.load(open(os.path.join(tp, "okta",
                                       "Okta-SCIM-20-SPEC-Test.json")))
    steps = [s for s in spec["steps"] if s.get("step_type") == "request"]
    total = sum(len(s.get("assertions", [])) for s in steps)
    path = os.path.join(out, "okta.log")
    text = open(path).read().splitlines() if os.path.exists(path) else []
    passed, accepted, lines, i = 0, 0, [], -1
    problems, timing = {}, []
    for line in text:
        if line.startswith(("PASS   ", "FAIL   ", "ERROR  ")):
            i += 1
            problems[i] = [] if not line.startswith("ERROR") else None
            if line.startswith("ERROR"):
                lines.append(f"FAIL    {line}")
        elif line.startswith("       - ") and problems.get(i) is not None:
            problems[i].append(line[9:])
    for j, step in problems.items():
        if j >= len(steps):
            break
        n = len(steps[j].get("assertions", []))
        if step is None:
            continue
        bad = 0
        for p in step:
            name = p.split(" (got ")[0].strip()
            if name.startswith("response_time "):
                # Okta's latency bounds measure the machine, not the
                # protocol: on a shared 2-core runner under ASan they
                # fail at random.  Printed, never counted (benchmarks
                # measure speed).
                timing.append(f"{steps[j]['note']} / {p}")
                continue
            if allowed("okta", steps[j]["note"], 1, name, p):
                accepted += 1
                lines.append(f"ALLOWED {steps[j]['note']} / {p}")
            else:
                bad += 1
                lines.append(f"FAIL    {steps[j]['note']} / {p}")
        passed += n - len(step)
    for t in timing:
        lines.append(f"SLOW    {t} (a latency bound: neither passed "
                     "nor failed)")
    return passed, total - passed - accepted - len(timing), accepted, lines


tp_ok, tf, ta = 0, 0, 0
for s in suites:
    p, f, a, lines = {"postman": postman, "okta": okta}[s]()
    for line in lines:
        print("  " + line)
    print(f"{s}: {p} passed, {f} failed, {a} allowed")
    tp_ok, tf, ta = tp_ok + p, tf + f, ta + a
for a in allow:
    if a["suite"] in suites and not a["used"]:
        print(f"  note: allow-list entry not needed in this run: "
              f"{a['suite']} / {a['req']} / {a['name']}")
if ta:
    print(f"suites: {ta} failing assertions accepted by the allow-list")
print(f"suites: {tp_ok} passed, {tf} failed")
sys.exit(1 if tf else 0)
