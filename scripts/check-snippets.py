#!/usr/bin/python3
"""Checks README's gateway snippets ("Connect your gateway") against the
field paths each gateway's schema defines.

Only the nginx snippet is run for real (tests/it/test_nginx_entra.py);
the others would rot silently when someone edits them or the gateway
renames a field.  So each snippet is pulled out of README, parsed
(YAML, or JSON for the AuthZEN request), and every key it uses must be
in the small per-gateway table below, with the right type or enum
value, required fields present and oneofs set exactly once.  The tables
were written by hand from the upstream files named above each one (the
commit is the one read); a field not listed there is refused, so a new
field means reading the schema and adding it here.

The nginx snippet has no schema: its directives must be known ones and
it must be, statement for statement (hosts and tokens aside), the
configuration tests/it/test_nginx_entra.py runs against a real nginx.

Then a self-test: an unknown key is slipped into every mapping of every
snippet in turn, and each of those must be refused, so this check cannot
pass by checking nothing.

usage: scripts/check-snippets.py [README.md]     (exit 1 on any finding)
"""
import copy
import json
import re
import sys

import yaml

MAP, LIST, STR, INT, BOOL = "map", "list", "str", "int", "bool"
DUR = "duration"          # protobuf Duration in YAML: "0.25s"


def enum(*values):
    return frozenset(values)


# agentgateway: schema/config.json of agentgateway/agentgateway at
# 75b4e6ce6e0e1ac7959d5548ebe8dbeaede4f180 ($defs LocalSimpleMcpConfig,
# FilterOrPolicy, ExtAuthz, ExtAuthzProtocol, BodyOptions,
# ExtAuthzFailureMode, LocalMcpTarget).  The snippet also validated
# against that JSON schema itself (jsonschema, Draft 2020-12).
XA = "mcp.policies.extAuthz"
AGENTGATEWAY = {
    "paths": {
        "mcp": MAP,
        "mcp.port": INT,
        "mcp.policies": MAP,
        XA: MAP,
        XA + ".host": STR,
        XA + ".backend": STR,
        XA + ".failureMode": enum("allow", "deny"),
        XA + ".includeRequestHeaders": LIST,
        XA + ".includeRequestHeaders[]": STR,
        XA + ".includeRequestBody": MAP,
        XA + ".includeRequestBody.maxRequestBytes": INT,
        XA + ".includeRequestBody.allowPartialMessage": BOOL,
        XA + ".includeRequestBody.packAsBytes": BOOL,
        XA + ".protocol": MAP,
        XA + ".protocol.http": MAP,
        XA + ".protocol.http.path": STR,
        XA + ".protocol.http.addRequestHeaders": MAP,
        XA + ".protocol.http.addRequestHeaders.*": STR,
        XA + ".protocol.http.includeResponseHeaders": LIST,
        XA + ".protocol.http.includeResponseHeaders[]": STR,
        "mcp.targets": LIST,
        "mcp.targets[]": MAP,
        "mcp.targets[].name": STR,
        "mcp.targets[].mcp": MAP,
        "mcp.targets[].mcp.host": STR,
        "mcp.targets[].mcp.port": INT,
        "mcp.targets[].mcp.path": STR,
    },
    "required": {
        "mcp": ["targets"],
        "mcp.targets[]": ["name"],
    },
    "oneof": {
        XA: ["host", "backend", "service"],
        XA + ".protocol": ["http", "grpc"],
        "mcp.targets[]": ["mcp", "sse", "stdio"],
    },
}

# Envoy, envoyproxy/envoy, messages by their typed_config "@type":
#   api/envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto
#     at a620da237a0a3967e1cbef92bf744911c88f678d,
#   api/envoy/config/common/mutation_rules/v3/mutation_rules.proto
#     (HeaderMutation: oneof remove | append) at ee2107ff308b8465fbea7daf12d1fbdd5e483885,
#   api/envoy/config/core/v3/base.proto (HeaderValueOption, HeaderValue)
#     at d65a4a5d0f6b63d76208164752d1d82ba8b3d5f5,
#   api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto
#     at dddd8c1be61a3da2b045db40a07f3e15a3bbcdd1 (allowed_headers is
#     ExtAuthz's; AuthorizationRequest.allowed_headers is deprecated and
#     deliberately not listed),
#   api/envoy/config/core/v3/http_uri.proto (uri, cluster, timeout all
#     required) at 6d502a6b7357b87867529bbefe7a3eb9af255e0a,
#   api/envoy/type/matcher/v3/string.proto (ListStringMatcher,
#     StringMatcher) at 516b71b10eed56f2596e35d24a8a16292bba5be6.
APPEND_ACTIONS = enum("APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT",
    "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS")


def string_matchers(prefix):
    return {
        prefix: MAP,
        prefix + ".patterns": LIST,
        prefix + ".patterns[]": MAP,
        prefix + ".patterns[].exact": STR,
        prefix + ".patterns[].prefix": STR,
        prefix + ".patterns[].suffix": STR,
    }


def mutations(prefix):
    m = prefix + "[]"
    return {
        prefix: LIST,
        m: MAP,
        m + ".remove": STR,
        m + ".append": MAP,
        m + ".append.header": MAP,
        m + ".append.header.key": STR,
        m + ".append.header.value": STR,
        m + ".append.append_action": APPEND_ACTIONS,
        m + ".append.keep_empty_value": BOOL,
    }


HM = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
EA = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
RT = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
ENVOY_FILTERS = {
    HM: ("envoy.filters.http.header_mutation", {
        "paths": {"@type": STR, "mutations": MAP,
            **mutations("mutations.request_mutations"),
            **mutations("mutations.response_mutations")},
        "required": {
            "mutations.request_mutations[].append": ["header"],
            "mutations.request_mutations[].append.header": ["key"],
        },
        "oneof": {"mutations.request_mutations[]": ["remove", "append"],
            "mutations.response_mutations[]": ["remove", "append"]},
    }),
    EA: ("envoy.filters.http.ext_authz", {
        "paths": {
            "@type": STR,
            "transport_api_version": enum("AUTO", "V3"),
            "failure_mode_allow": BOOL,
            "stat_prefix": STR,
            "with_request_body": MAP,
            "with_request_body.max_request_bytes": INT,
            "with_request_body.allow_partial_message": BOOL,
            "with_request_body.pack_as_bytes": BOOL,
            **string_matchers("allowed_headers"),
            **string_matchers("disallowed_headers"),
            "http_service": MAP,
            "http_service.server_uri": MAP,
            "http_service.server_uri.uri": STR,
            "http_service.server_uri.cluster": STR,
            "http_service.server_uri.timeout": DUR,
            "http_service.path_prefix": STR,
            "http_service.authorization_request": MAP,
            "http_service.authorization_request.headers_to_add": LIST,
            "http_service.authorization_request.headers_to_add[]": MAP,
            "http_service.authorization_request.headers_to_add[].key": STR,
            "http_service.authorization_request.headers_to_add[].value": STR,
            "http_service.authorization_response": MAP,
            **string_matchers("http_service.authorization_response.allowed_upstream_headers"),
            **string_matchers("http_service.authorization_response.allowed_upstream_headers_to_append"),
            **string_matchers("http_service.authorization_response.allowed_client_headers"),
            **string_matchers("http_service.authorization_response.allowed_client_headers_on_success"),
        },
        "required": {
            "http_service.server_uri": ["uri", "cluster", "timeout"],
            "with_request_body": ["max_request_bytes"],
            "http_service.authorization_request.headers_to_add[]": ["key"],
        },
        "oneof": {"": ["http_service", "grpc_service"],
            **{p: ["exact", "prefix", "suffix", "safe_regex"]
                for p in ("allowed_headers.patterns[]",
                    "http_service.authorization_response.allowed_upstream_headers.patterns[]")}},
    }),
    RT: ("envoy.filters.http.router", {"paths": {"@type": STR}}),
}
ENVOY = {
    "paths": {"http_filters": LIST, "http_filters[]": MAP,
        "http_filters[].name": enum(*(n for n, _ in ENVOY_FILTERS.values())),
        "http_filters[].typed_config": "typed"},
    "required": {"http_filters[]": ["name", "typed_config"]},
}

# ContextForge, IBM/mcp-context-forge at ecba50e4828ae0c83f8ef7b1d6d485b3cf39ce66:
# plugins/config.yaml (plugin_settings, plugins[] entries),
# plugins/unified_pdp/unified_pdp.py (hooks it implements, how config is read),
# plugins/unified_pdp/pdp_models.py (EngineConfig, CacheConfig,
# PerformanceConfig, PDPConfig, CombinationMode, EngineType, Decision),
# plugins/unified_pdp/engines/opa_engine.py (settings keys),
# mcpgateway/schemas.py PluginModeUpdateRequest (the classic modes).
P = "plugins[]"
PC = P + ".config"
CONTEXTFORGE = {
    "paths": {
        "plugin_settings": MAP,
        "plugin_settings.include_user_info": BOOL,
        "plugins": LIST,
        P: MAP,
        P + ".name": STR,
        P + ".kind": enum("plugins.unified_pdp.unified_pdp.UnifiedPDPPlugin"),
        P + ".description": STR,
        P + ".hooks": LIST,
        P + ".hooks[]": enum("tool_pre_invoke", "resource_pre_fetch"),
        P + ".mode": enum("enforce", "enforce_ignore_error", "permissive",
            "disabled"),
        P + ".priority": INT,
        PC: MAP,
        PC + ".engines": LIST,
        PC + ".engines[]": MAP,
        PC + ".engines[].name": enum("opa", "cedar", "native", "mac"),
        PC + ".engines[].enabled": BOOL,
        PC + ".engines[].priority": INT,
        PC + ".engines[].settings": MAP,
        PC + ".engines[].settings.opa_url": STR,
        PC + ".engines[].settings.policy_path": STR,
        PC + ".engines[].settings.timeout_ms": INT,
        PC + ".engines[].settings.max_retries": INT,
        PC + ".combination_mode": enum("all_must_allow", "any_allow",
            "first_match"),
        PC + ".default_decision": enum("allow", "deny"),
        PC + ".cache": MAP,
        PC + ".cache.enabled": BOOL,
        PC + ".cache.ttl_seconds": INT,
        PC + ".cache.max_entries": INT,
        PC + ".performance": MAP,
        PC + ".performance.timeout_ms": INT,
        PC + ".performance.parallel_evaluation": BOOL,
    },
    "required": {P: ["name", "kind", "hooks", "mode", "config"],
        PC + ".engines[]": ["name"]},
}

# nginx has no schema; its snippet runs for real in
# tests/it/test_nginx_entra.py.  Directives and their argument counts are
# from nginx's module docs (ngx_http_core_module, ngx_http_auth_request_module,
# ngx_http_proxy_module); anything else is refused.
NGINX_TEST = "tests/it/test_nginx_entra.py"
NGINX = {"location": (1, 2), "internal": (0, 0), "auth_request": (1, 1),
    "auth_request_set": (2, 2), "proxy_pass": (1, 1),
    "proxy_pass_request_body": (1, 1), "proxy_set_header": (2, 2)}


def type_ok(want, v):
    if isinstance(want, frozenset):
        return isinstance(v, str) and v in want
    if want == MAP:
        return isinstance(v, dict)
    if want == LIST:
        return isinstance(v, list)
    if want == STR:
        return isinstance(v, str)
    if want == BOOL:
        return isinstance(v, bool)
    if want == INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if want == DUR:
        return isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)?s", v)
    raise AssertionError(want)


def walk(node, path, table, errs, where):
    """Checks node (at path) and everything under it against table."""
    if isinstance(node, dict):
        for k in table.get("required", {}).get(path, []):
            if k not in node:
                errs.append(f"{where}: {path or '(root)'}: missing {k}")
        one = table.get("oneof", {}).get(path)
        if one is not None and sum(k in node for k in one) != 1:
            errs.append(f"{where}: {path or '(root)'}: exactly one of "
                f"{', '.join(one)}")
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            want = table["paths"].get(p)
            if want is None:
                want = table["paths"].get(f"{path}.*" if path else "*")
                p = f"{path}.*" if path else "*"
            if want is None:
                errs.append(f"{where}: unknown field {path + '.' if path else ''}{k}")
                continue
            if want == "typed":
                typed(v, errs, where, node.get("name"))
                continue
            if not type_ok(want, v):
                errs.append(f"{where}: {p}: {v!r} is not "
                    f"{sorted(want) if isinstance(want, frozenset) else want}")
                continue
            walk(v, p, table, errs, where)
    elif isinstance(node, list):
        want = table["paths"].get(path + "[]")
        if want is None:
            errs.append(f"{where}: {path}: no list items allowed")
            return
        for i, v in enumerate(node):
            if not type_ok(want, v):
                errs.append(f"{where}: {path}[{i}]: {v!r} is not {want}")
            else:
                walk(v, path + "[]", table, errs, where)


def typed(cfg, errs, where, name):
    t = cfg.get("@type") if isinstance(cfg, dict) else None
    if t not in ENVOY_FILTERS:
        errs.append(f"{where}: typed_config @type {t!r} not in the table")
        return
    fname, table = ENVOY_FILTERS[t]
    if name != fname:
        errs.append(f"{where}: filter {name!r} carries a {fname} config")
    walk(cfg, "", table, errs, f"{where} {fname}")


def sole(xs, what):
    if len(xs) != 1:
        raise AssertionError(f"expected one {what}, found {len(xs)}")
    return xs[0]


def invariants(kind, doc, errs):
    """What makes each snippet spoof-proof (README's ext_authz contract)."""
    if kind == "agentgateway":
        xa = doc["mcp"]["policies"]["extAuthz"]
        hdr = xa["protocol"]["http"].get("addRequestHeaders", {})
        if set(hdr) != {"authorization", "x-forwarded-authorization"}:
            errs.append("agentgateway: addRequestHeaders must set exactly "
                "authorization (gateway token) and x-forwarded-authorization")
        if "includeRequestHeaders" in xa:
            errs.append("agentgateway: includeRequestHeaders would pass "
                "client headers to rollcall")
        if xa.get("failureMode", "deny") != "deny":
            errs.append("agentgateway: failureMode must be deny")
    elif kind == "envoy":
        filters = doc["http_filters"]
        names = [f["name"] for f in filters]
        if names != [ENVOY_FILTERS[t][0] for t in (HM, EA, RT)]:
            errs.append(f"envoy: filter order {names}")
            return
        muts = filters[0]["typed_config"]["mutations"]["request_mutations"]
        xfa = "x-forwarded-authorization"
        if (len(muts) != 2 or muts[0].get("remove") != xfa or
            muts[1]["append"]["header"]["key"] != xfa or
            muts[1]["append"]["header"]["value"] != "%REQ(authorization)%"):
            errs.append("envoy: header_mutation must remove the client's "
                "x-forwarded-authorization, then set it from authorization")
        ea = filters[1]["typed_config"]
        if ea.get("failure_mode_allow", False):
            errs.append("envoy: failure_mode_allow must be false")
        allowed = {p.get("exact") or p.get("prefix")
            for p in ea.get("allowed_headers", {}).get("patterns", [])}
        if not allowed <= {xfa, "mcp-session-id"}:
            errs.append(f"envoy: allowed_headers passes {sorted(allowed)}")
    elif kind == "contextforge":
        pl = sole(doc["plugins"], "plugin")
        if pl["mode"] != "enforce" or pl["config"].get("default_decision") != "deny":
            errs.append("contextforge: mode enforce and default_decision deny")


def nginx_statements(text):
    body = re.sub(r"#[^\n]*", "", text)
    for stmt in re.split(r"[;{}]", body):
        words = re.findall(r'"[^"]*"|\S+', stmt)
        if words:
            yield words[0], words[1:]


def nginx_shape(text):
    """The snippet's statements with hosts and tokens left out."""
    return [(d, a[0].lower() if d == "proxy_set_header" else
        " ".join(a) if d != "proxy_pass" else "",
        a[1] if d == "proxy_set_header" and a[0].lower() != "authorization"
        else "") for d, a in nginx_statements(text)]


def check_nginx(text, errs, test=NGINX_TEST):
    sets = {}
    for d, args in nginx_statements(text):
        if d not in NGINX:
            errs.append(f"nginx: unknown directive {d}")
            continue
        lo, hi = NGINX[d]
        if not lo <= len(args) <= hi:
            errs.append(f"nginx: {d} takes {lo}..{hi} arguments, not {len(args)}")
        if d == "proxy_set_header":
            sets[args[0].lower()] = args[1]
    if sets.get("x-forwarded-authorization") != "$http_authorization":
        errs.append("nginx: X-Forwarded-Authorization must be $http_authorization")
    if sets.get("x-user") != '""':
        errs.append('nginx: proxy_set_header X-User "" (never the client\'s)')
    # The snippet is the one the real-nginx test runs (its Python format
    # string doubles the braces), hosts, ports and tokens aside.
    with open(test, encoding="utf-8") as f:
        src = re.sub(r"(?<!\{)\{[^{}]+\}(?!\})", "X", f.read())
    src = src.replace("{{", "{").replace("}}", "}")
    m = re.search(r"^\s*location /mcp/github \{.*?^\s*location = /_rollcall \{.*?\}",
        src, re.S | re.M)
    if not m or nginx_shape(m.group(0)) != nginx_shape(text):
        errs.append(f"nginx: the snippet differs from the one {test} runs")


def snippets(readme):
    m = re.search(r"^### Connect your gateway\n(.*?)^### ", readme, re.S | re.M)
    if not m:
        raise AssertionError("README has no 'Connect your gateway' section")
    found = {}
    for lang, text in re.findall(r"^```(\w*)\n(.*?)^```", m.group(1), re.S | re.M):
        if lang == "nginx":
            kind, doc = "nginx", text
        elif lang == "yaml":
            doc = yaml.safe_load(text)
            keys = set(doc) if isinstance(doc, dict) else set()
            kind = ("agentgateway" if "mcp" in keys else "envoy"
                if "http_filters" in keys else "contextforge"
                if "plugins" in keys else None)
            if kind is None:
                raise AssertionError(f"a yaml snippet of no known gateway: "
                    f"{sorted(keys)}")
        elif lang == "json":
            # An HTTP exchange: "POST path", the JSON body, "-> answer".
            lines = text.split("\n")
            req = "\n".join(lines[1:]).split("\n->")[0]
            json.loads(req)
            continue
        else:
            continue
        if kind in found:
            raise AssertionError(f"two {kind} snippets")
        found[kind] = doc
    missing = {"agentgateway", "envoy", "nginx", "contextforge"} - set(found)
    if missing:
        raise AssertionError(f"snippets not found: {sorted(missing)}")
    return found


TABLES = {"agentgateway": AGENTGATEWAY, "envoy": ENVOY,
    "contextforge": CONTEXTFORGE}


def check(found):
    errs = []
    for kind, doc in found.items():
        if kind == "nginx":
            check_nginx(doc, errs)
            continue
        walk(doc, "", TABLES[kind], errs, kind)
        if not errs:
            invariants(kind, doc, errs)
    return errs


def mappings(node, path, out):
    """Every mapping under node, with its path (as walk names it)."""
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            mappings(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(node, list):
        for v in node:
            mappings(v, path + "[]", out)
    return out


def self_test(found):
    """Every mapping of every YAML snippet refuses an unknown key (but
    those whose keys are free, like agentgateway's header map)."""
    errs = []
    n = 0
    for kind, doc in found.items():
        n += 1
        if kind == "nginx":
            bad = dict(found)
            bad["nginx"] = doc.replace("internal;", "internal;\n    bogus_directive on;")
            if not check(bad):
                errs.append("self-test: nginx accepted an unknown directive")
            continue
        for i, (path, _) in enumerate(mappings(doc, "", [])):
            if TABLES[kind]["paths"].get(path + ".*"):
                continue
            n += 1
            mutant = copy.deepcopy(doc)
            mappings(mutant, "", [])[i][1]["bogusField"] = "x"
            bad = dict(found)
            bad[kind] = mutant
            if not any("unknown field" in e and "bogusField" in e
                       for e in check(bad)):
                errs.append(f"self-test: {kind} mapping #{i} accepted an "
                    "unknown field")
    return errs, n


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    try:
        with open(path, encoding="utf-8") as f:
            found = snippets(f.read())
    except (AssertionError, ValueError, yaml.YAMLError) as e:
        print(f"snippets: {e}")
        return 1
    errs = check(found)
    mutants = 0
    if not errs:
        errs, mutants = self_test(found)
    for e in errs:
        print(e)
    print(f"snippets: {len(found)} checked, {mutants} mutants refused, "
        f"{len(errs)} findings")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
