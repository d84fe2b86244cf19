"""Realistic policy data at the sizes README's "Benchmarks" names (tiers
S, M, L), generated inside PostgreSQL (generate_series) so
tier L loads in seconds.  Used by the benchmarks; not a test.

    python3 scripts/bench/tiers.py S|M|L DSN     # into a migrated, empty database
"""
import subprocess
import sys

TIERS = {
    #      users   groups  memberships  servers tools  rules
    "S": (1000, 100, 10000, 10, 300, 50),
    "M": (25000, 2500, 400000, 50, 2500, 500),
    "L": (150000, 25000, 3000000, 200, 10000, 5000),
}


def sql_for(tier):
    users, groups, members, servers, tools, rules = TIERS[tier]
    per_user = max(members // users - 1, 0)   # besides the all-hands group
    tools_per_server = tools // servers
    return f"""
SET synchronous_commit = off;
BEGIN;
INSERT INTO users (id, directory_id, user_name, external_id, display_name,
    active, emails_lc, doc)
SELECT md5('user' || i)::uuid, 1, 'user' || i || '@contoso.com',
    md5('oid' || i)::uuid::text, 'User ' || i, i % 50 <> 0,
    ARRAY['user' || i || '@contoso.com'],
    jsonb_build_object('schemas',
        jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
        'userName', 'user' || i || '@contoso.com',
        'externalId', md5('oid' || i)::uuid::text,
        'displayName', 'User ' || i,
        'active', i % 50 <> 0,
        'name', jsonb_build_object('givenName', 'User', 'familyName', i::text),
        'emails', jsonb_build_array(jsonb_build_object('type', 'work',
            'value', 'user' || i || '@contoso.com', 'primary', true)),
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
        jsonb_build_object('department', 'Dept ' || (i % 40)))
FROM generate_series(1, {users}) AS i;

INSERT INTO groups (id, directory_id, display_name, external_id, doc)
SELECT md5('group' || g)::uuid, 1, 'Group ' || g, md5('goid' || g)::uuid::text,
    jsonb_build_object('schemas',
        jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:Group'),
        'displayName', 'Group ' || g)
FROM generate_series(1, {groups}) AS g;

-- Group 1 holds everyone (the largest group); each user is also in
-- {per_user} more groups spread over the rest.
INSERT INTO memberships (group_id, user_id)
SELECT md5('group1')::uuid, md5('user' || i)::uuid
FROM generate_series(1, {users}) AS i;
INSERT INTO memberships (group_id, user_id)
SELECT DISTINCT md5('group' || (2 + (i * 7 + j * 131) % ({groups} - 1)))::uuid,
    md5('user' || i)::uuid
FROM generate_series(1, {users}) AS i, generate_series(1, {per_user}) AS j
ON CONFLICT DO NOTHING;

INSERT INTO mcp_servers (id, slug, name)
SELECT md5('server' || s)::uuid, 'server' || s, 'Server ' || s
FROM generate_series(1, {servers}) AS s;
INSERT INTO tools (server_id, name, risk, labels)
SELECT md5('server' || s)::uuid,
    (ARRAY['create_', 'delete_', 'list_', 'get_', 'update_'])[1 + t % 5]
        || 'thing' || t,
    (ARRAY['low', 'normal', 'consequential', 'high', 'secrets'])[1 + t % 5],
    CASE WHEN t % 7 = 0 THEN ARRAY['pii'] ELSE '{{}}' END
FROM generate_series(1, {servers}) AS s,
    generate_series(1, {tools_per_server}) AS t;

-- Rules: mostly group allows of whole servers, deny globs, risk labels,
-- a few elevate rules, and one everyone rule for low-risk tools.
INSERT INTO rules (id, directory_id, subject_kind, subject_id, server_slug,
    tool_selector, effect, max_grant_s)
SELECT md5('rule' || r)::uuid, 1, 'group',
    md5('group' || (1 + r % {groups}))::uuid,
    'server' || (1 + (r * 13) % {servers}),
    CASE r % 4 WHEN 0 THEN '*' WHEN 1 THEN 'delete_*'
        WHEN 2 THEN 'risk:high' ELSE 'list_*' END,
    CASE r % 10 WHEN 0 THEN 'deny' WHEN 1 THEN 'deny'
        WHEN 2 THEN 'elevate' ELSE 'allow' END,
    CASE r % 10 WHEN 2 THEN 3600 ELSE NULL END
FROM generate_series(1, {rules} - 1) AS r;
INSERT INTO rules (directory_id, subject_kind, server_slug, tool_selector,
    effect) VALUES (1, 'everyone', '*', 'risk:low', 'allow');
UPDATE policy_state SET version = version + 1;
COMMIT;
ANALYZE;
"""


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in TIERS:
        sys.exit(__doc__)
    env_dsn = sys.argv[2]
    r = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", env_dsn],
                       input=sql_for(sys.argv[1]), text=True,
                       capture_output=True)
    if r.returncode != 0:
        sys.exit(r.stderr)


if __name__ == "__main__":
    main()
