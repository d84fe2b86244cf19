#!/bin/sh
# run-suites.sh BASE_URL TOKEN: runs the third-party SCIM conformance
# suites against a running rollcall and counts their assertions:
#   postman  Microsoft's SCIMReferenceCode Postman collection (newman)
#   okta     Okta's "SCIM 2.0 SPEC Test" (run_okta_spec.mjs)
# BASE_URL is the SCIM base (http://127.0.0.1:PORT/scim/v2), TOKEN a
# scim token of a directory that is empty: the Postman collection counts
# totals.  Okta's test needs one existing user, so one realistic user is
# created through the API before it runs.  Run both in one directory in
# this order (Postman deletes what it creates), or one per directory with
# SUITES=postman / SUITES=okta (tests/it/test_scim_suites.py does that,
# each against a freshly started server).
#
# An assertion that encodes behaviour wrong for Entra or the RFC is
# accepted only when it is named in the allow-list below, fails the way
# the entry says, and has its reason written down (README repeats them).
#
# Environment: SUITES (default "postman okta"), SUITES_OUT (reports;
# default a new temporary directory), NEWMAN_DIR (newman install, default
# ~/.cache/newman-6.2.2), RC_SHARED_DIR (default: shared/ beside the
# repository).  Needs node and npm (newman comes from the npm registry
# on first use).  Ends with "suites: N passed, N failed" (assertions);
# exits 0 only when nothing failed, 2 when a suite could not be run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
shared=${RC_SHARED_DIR:-$(dirname "$top")/shared}
tp=$shared/thirdparty
base=${1:-}
token=${2:-}
suites=${SUITES:-postman okta}
NEWMAN_DIR=${NEWMAN_DIR:-$HOME/.cache/newman-6.2.2}
export NEWMAN_DIR

die() {
	echo "run-suites: $*" >&2
	echo "suites: 0 passed, 1 failed"
	exit 2
}

if [ -z "$base" ] || [ -z "$token" ]; then
	die "usage: run-suites.sh BASE_URL TOKEN (BASE_URL like http://127.0.0.1:8080/scim/v2)"
fi
base=${base%/}
[ -d "$tp" ] || die "third-party suites not found in $tp (set RC_SHARED_DIR)"
command -v node >/dev/null 2>&1 || die "node is not installed (apt-get install nodejs npm)"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
out=${SUITES_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/rollcall-suites.XXXXXX")}
mkdir -p "$out" || die "cannot create $out"

# suite|request[ #occurrence]|assertion|text its failure must contain|reason
cat > "$out/allow.txt" <<'EOF'
postman|Patch user omalley new username|Status code is 204|but got 200|rollcall answers a User PATCH with 200 and the resource; RFC 7644 section 3.5.2 allows 200 or 204, and Microsoft's SCIM Validator expects 200 with the body for users
postman|patch user omalley active with boolean|Status code is 204|but got 200|same as above: a User PATCH answers 200 with the resource
postman|Group patch add member|Status code is 204|but got 400|the value "string id 1" names no user of the directory; rollcall refuses members it cannot resolve (400 invalidValue, nothing applied) instead of storing a dangling reference
postman|Group patch add member2|Status code is 204|but got 400|same as above, for "string id 2"
postman|Get group by id #1|Body contians user|to include 'new User'|the member was added as {"displayName": "new User", "value": id}; displayName is no sub-attribute of Group members in RFC 7643 (section 4.2), so rollcall drops it and fills members.display from the user's own displayName
okta|Required Test: Test Users endpoint|response_json.Resources[0].emails.value has_value|(got undefined)|emails is multi-valued, a JSON array (RFC 7643 section 4.1.2); the replayer reads .value of the array itself, which is undefined for every RFC-shaped response (the user's emails[0].value is checked by "Get Users/{{id}}")
EOF

status=0
for s in $suites; do
	case $s in
	postman)
		if [ ! -x "$NEWMAN_DIR/node_modules/.bin/newman" ]; then
			command -v npm >/dev/null 2>&1 ||
			    die "npm is not installed: cannot install newman"
			echo "installing newman 6.2.2 from npm into $NEWMAN_DIR"
			(mkdir -p "$NEWMAN_DIR" && cd "$NEWMAN_DIR" &&
			    npm init -y && npm install --no-audit --no-fund \
			    newman@6.2.2) > "$out/npm-install.log" 2>&1
			if [ ! -x "$NEWMAN_DIR/node_modules/.bin/newman" ]; then
				tail -n 20 "$out/npm-install.log" >&2
				die "newman could not be installed from npm into $NEWMAN_DIR (log: $out/npm-install.log)"
			fi
		fi
		echo "== postman: Microsoft SCIMReferenceCode collection"
		bash "$tp/run_postman.sh" "$base" "$token" "$out/postman" \
		    > "$out/postman.log" 2>&1
		[ -f "$out/postman/newman-report.json" ] || {
			tail -n 30 "$out/postman.log" >&2
			status=2
		}
		;;
	okta)
		echo "== okta: SCIM 2.0 SPEC Test"
		# Okta's "Test Users endpoint" reads the first existing user.
		python3 - "$base" "$token" > "$out/okta-seed.log" 2>&1 <<'EOF'
import http.client, json, secrets, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
conn = (http.client.HTTPSConnection if u.scheme == "https"
        else http.client.HTTPConnection)(u.netloc, timeout=30)
tag = secrets.token_hex(3)
doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
       "userName": f"ada.seed{tag}@example.com", "active": True,
       "name": {"givenName": "Ada", "familyName": f"Seed{tag}"},
       "displayName": f"Ada Seed{tag}",
       "emails": [{"value": f"ada.seed{tag}@example.com", "type": "work",
                   "primary": True}]}
conn.request("POST", u.path + "/Users", body=json.dumps(doc),
             headers={"Authorization": "Bearer " + sys.argv[2],
                      "Content-Type": "application/scim+json"})
r = conn.getresponse()
print("seed user:", r.status, r.read()[:300])
EOF
		node "$tp/run_okta_spec.mjs" "$tp/okta/Okta-SCIM-20-SPEC-Test.json" \
		    "$base" "$token" > "$out/okta.log" 2>&1
		;;
	*)
		die "unknown suite '$s' (postman, okta)"
		;;
	esac
done

python3 - "$tp" "$out" "$suites" <<'EOF' || status=$((status > 0 ? status : 1))
# Counts assertions.  A suite that did not run to the end counts every
# assertion it did not pass as failed (totals come from the suite files).
import json, os, re, sys

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
EOF
echo "reports in $out"
exit "$status"
