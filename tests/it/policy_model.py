"""The decision algorithm documented in README ("The snapshot and how to
evaluate it"), in Python, evaluated over a snapshot-shaped dict.

Shared by test_snapshot_equivalence.py (a snapshot served by rollcall)
and test_model.py (the same shape built from PostgreSQL's tables alone),
so the suite holds one reading of the documented semantics, not two."""
import re
import unicodedata


def fold(s):
    """The key userName, email and appId are compared by: Unicode NFC
    and full case folding (issue 8).  On ASCII it is lower()."""
    return unicodedata.normalize(
        "NFC", unicodedata.normalize("NFD", s).casefold())


def glob_match(pattern, name):
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                 for c in pattern)
    return re.fullmatch(rx, name, re.S) is not None


def selector_match(sel, tool):
    low = sel.lower()
    labels = [x.lower() for x in tool["labels"]]
    if sel == "*":
        return True
    if low.startswith("risk:"):
        return tool["risk"] is not None and \
            tool["risk"].lower() == low[5:]
    if low.startswith("label:"):
        return low[6:] in labels
    if ":" in sel:
        return low in labels
    if "*" in sel or "?" in sel:
        return glob_match(sel, tool["name"])
    return sel == tool["name"]


DEFAULT_NESTING_DEPTH = 8


def closure(direct, parents, depth):
    """The groups a principal is in: its direct groups and, breadth
    first, every group those are nested in, at most depth levels (a
    direct group is level 1).  (groups, exceeded): exceeded when a group
    not seen yet is one level beyond the limit (then rollcall denies
    internal_error).  Cycles are followed once."""
    seen = list(dict.fromkeys(direct))
    level, frontier = 1, list(seen)
    while frontier:
        fresh = []
        for g in frontier:
            for q in parents.get(g, ()):
                if q not in seen and q not in fresh:
                    fresh.append(q)
        if fresh and level + 1 > depth:
            return seen, True
        seen += fresh
        frontier = fresh
        level += 1
    return seen, False


class Local:
    """A gateway's local copy: the snapshot, indexed.  With "nestings"
    ([[group, member group], ...]) the groups of each principal are
    computed from its direct groups ("direct_groups", else "groups");
    without, "groups" and "nesting_exceeded" are taken as given."""

    def __init__(self, snap):
        self.snap = snap
        self.version = snap["policy_version"]
        self.dir = snap["directory"]["id"]
        self.principals = {p["id"]: p for p in snap["principals"]}
        if "nestings" in snap:
            parents = {}
            for parent, child in snap["nestings"]:
                parents.setdefault(child, []).append(parent)
            depth = snap.get("group_nesting_depth", DEFAULT_NESTING_DEPTH)
            for pid, p in list(self.principals.items()):
                groups, exceeded = closure(
                    p.get("direct_groups", p["groups"]), parents, depth)
                self.principals[pid] = dict(p, groups=groups,
                                            nesting_exceeded=exceeded)
        self.tools = {(s["slug"], t["name"]): t for s in snap["servers"]
                      for t in s["tools"]}
        self.rules = snap["rules"]
        self.grants = snap["grants"]
        self.unavailable = set(snap["unavailable"])

    def live(self, p):
        return p["active"] and not p["deleted"] and \
            p["id"] not in self.unavailable

    def resolve_alias(self, by, value):
        folds = by != "externalId"
        v = fold(value) if folds else value
        cands = []
        for p in self.principals.values():
            if p["directory"] != self.dir:
                continue
            if by == "userName":
                keys = [p.get("userName")]
            elif by == "externalId":
                keys = [p.get("externalId")]
            elif by == "email":
                keys = p.get("emails") or []
            else:
                keys = [p.get("appId")]
            keys = [fold(k) if folds else k for k in keys if k]
            if v in keys:
                cands.append(p)
        live = [p for p in cands if self.live(p)]
        if len(live) == 1:
            return live[0]
        if not live and len(cands) == 1:
            return cands[0]
        return None

    def resolve(self, subject):
        if isinstance(subject, str):
            p = self.principals.get(subject)
            if p is not None and p["directory"] == self.dir:
                return p
            for by in ("userName", "email", "externalId", "appId"):
                p = self.resolve_alias(by, subject)
                if p is not None:
                    return p
            return None
        (key, value), = subject.items()
        if key == "id":
            p = self.principals.get(value)
            return p if p is not None and p["directory"] == self.dir \
                else None
        return self.resolve_alias(key, value)

    def state(self, p):
        if p is not None and p["id"] in self.unavailable:
            return "principal_unavailable"
        if p is None:
            return "principal_unknown"
        if p["deleted"] or not p["active"]:
            return "principal_inactive"
        if p["revoked"]:
            return "principal_revoked"
        if p["type"] == "service_principal" and p.get("owner"):
            if p["owner"] in self.unavailable:
                return "principal_unavailable"
            o = self.principals.get(p["owner"])
            if o is None or o["deleted"] or not o["active"] or \
                    o["revoked"]:
                return "owner_inactive"
        return None

    def decide(self, subject, server, tool_name, now_ms):
        p = self.resolve(subject)
        out = {"decision": "deny", "rule_id": None, "group_id": None,
               "grant_id": None}
        bad = self.state(p)
        if bad:
            out["reason_code"] = bad
            return out
        tool = self.tools.get((server, tool_name))
        if tool is None:
            out["reason_code"] = "tool_unknown"
            return out
        if p.get("nesting_exceeded"):
            out["reason_code"] = "internal_error"
            return out
        best = {}
        internal = False
        for r in self.rules:
            kind = r["subject_kind"]
            if kind == "everyone":
                pass
            elif kind == "group":
                if r["subject_id"] not in p["groups"]:
                    continue
            elif kind == "role":
                if r["subject_id"] not in (p.get("roles") or []):
                    continue
            elif r["subject_id"] != p["id"]:
                continue
            if r["server"] != "*" and r["server"] != server:
                continue
            if not selector_match(r["selector"], tool):
                continue
            if (kind == "user" and p["type"] != "user") or \
                    (kind == "service_principal" and
                     p["type"] != "service_principal"):
                internal = True
                continue
            cur = best.get(r["effect"])
            if cur is None or r["id"] < cur["id"]:
                best[r["effect"]] = r
        if internal:
            out["reason_code"] = "internal_error"
            return out
        if "deny" in best:
            r = best["deny"]
            out["reason_code"] = "denied_by_rule"
        elif "allow" in best:
            r = best["allow"]
            out["decision"] = "allow"
            out["reason_code"] = "allowed_by_rule"
        elif "elevate" in best:
            r = best["elevate"]
            out["reason_code"] = "elevation_required"
            g_best = None
            for g in self.grants:
                if g["principal"] != p["id"]:
                    continue
                if not g["not_before_ms"] <= now_ms < g["expires_at_ms"]:
                    continue
                if g["server"] != "*" and g["server"] != server:
                    continue
                if not selector_match(g["selector"], tool):
                    continue
                if g_best is None or g["id"] < g_best["id"]:
                    g_best = g
            if g_best is not None:
                out["decision"] = "allow"
                out["reason_code"] = "allowed_by_grant"
                out["grant_id"] = g_best["id"]
        else:
            out["reason_code"] = "no_matching_rule"
            return out
        out["rule_id"] = r["id"]
        if r["subject_kind"] == "group":
            out["group_id"] = r["subject_id"]
        return out
