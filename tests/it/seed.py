"""A small policy world seeded straight into a test database, before the
server starts (so the parent loads it): used by several test modules."""
import uuid

ALICE = str(uuid.UUID(int=1))
BOB = str(uuid.UUID(int=2))
CAROL = str(uuid.UUID(int=3))
SENIORS = str(uuid.UUID(int=10))
RULE_ALLOW = str(uuid.UUID(int=100))
RULE_DENY = str(uuid.UUID(int=101))
RULE_ELEV = str(uuid.UUID(int=102))
RULE_ALL = str(uuid.UUID(int=103))
GRANT_CAROL = str(uuid.UUID(int=200))

SEED_SQL = f"""
INSERT INTO users (id, directory_id, user_name, external_id, active,
    emails_lc, doc) VALUES
 ('{ALICE}', 1, 'alice@contoso.com', 'oid-alice', true,
  '{{alice@contoso.com,a.l@contoso.com}}', '{{}}'),
 ('{BOB}', 1, 'bob@contoso.com', 'oid-bob', false, '{{}}', '{{}}'),
 ('{CAROL}', 1, 'carol@contoso.com', NULL, true, '{{}}', '{{}}');
INSERT INTO groups (id, directory_id, display_name, doc)
  VALUES ('{SENIORS}', 1, 'Senior Engineers', '{{}}');
INSERT INTO memberships (group_id, user_id) VALUES ('{SENIORS}', '{ALICE}'),
  ('{SENIORS}', '{BOB}');
INSERT INTO mcp_servers (slug, name) VALUES ('github', 'GitHub'),
  ('jira', 'Jira');
INSERT INTO tools (server_id, name, risk) SELECT id, t.name, t.risk
  FROM mcp_servers, (VALUES ('create_pull_request', 'normal'),
  ('delete_branch', 'high'), ('list_repos', 'low'),
  ('merge_pull_request', 'consequential')) AS t(name, risk)
  WHERE slug = 'github';
INSERT INTO tools (server_id, name) SELECT id, 'create_issue'
  FROM mcp_servers WHERE slug = 'jira';
INSERT INTO rules (id, directory_id, subject_kind, subject_id, server_slug,
    tool_selector, effect, max_grant_s) VALUES
 ('{RULE_ALLOW}', 1, 'group', '{SENIORS}', 'github', '*', 'allow', NULL),
 ('{RULE_DENY}', 1, 'group', '{SENIORS}', 'github', 'delete_*', 'deny', NULL),
 ('{RULE_ELEV}', 1, 'everyone', NULL, 'github', 'merge_*', 'elevate', 3600),
 ('{RULE_ALL}', 1, 'everyone', NULL, 'github', 'risk:low', 'allow', NULL);
UPDATE policy_state SET version = 7;
"""

GRANT_SQL = f"""
INSERT INTO jit_grants (id, directory_id, principal_kind, principal_id,
    server_slug, tool_selector, rule_id, state, not_before, expires_at)
VALUES ('{GRANT_CAROL}', 1, 'user', '{CAROL}', 'github', 'merge_*',
    '{RULE_ELEV}', 'approved', now() - interval '1 minute',
    now() + interval '1 hour');
"""


def seed(db, grants=False):
    db.sql(SEED_SQL + (GRANT_SQL if grants else ""))
