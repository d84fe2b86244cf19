-- rollcall schema, version 6: nested groups and app-role rules.
--
-- A group member may be a group (SCIM members with type Group; Entra
-- itself provisions one level only, other IdPs nest).  Such members are
-- kept apart from user memberships, so every query about users stays as
-- it was; the policy index resolves the groups transitively (cycles are
-- followed once, depth is limited by policy.group_nesting_depth; a
-- chain beyond the limit denies).  A group's tombstone keeps its rows
-- here; readers join on live groups.
CREATE TABLE group_nestings (
	group_id	uuid NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	member_group_id	uuid NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (group_id, member_group_id),
	CHECK (group_id <> member_group_id)
);
CREATE INDEX group_nestings_member ON group_nestings (member_group_id);

-- A rule may name an app role (the SCIM roles[].value of users, as
-- Entra sends app role assignments) as its subject: subject_role holds
-- the exact value, subject_id stays NULL.
ALTER TABLE rules ADD COLUMN subject_role text
    CHECK (length(subject_role) BETWEEN 1 AND 256);
ALTER TABLE rules DROP CONSTRAINT rules_subject_kind_check;
ALTER TABLE rules ADD CONSTRAINT rules_subject_kind_check CHECK
    (subject_kind IN ('group', 'user', 'service_principal', 'everyone',
    'role'));
ALTER TABLE rules DROP CONSTRAINT rules_check;
ALTER TABLE rules ADD CONSTRAINT rules_subject_check CHECK (CASE
    WHEN subject_kind = 'everyone' THEN
	subject_id IS NULL AND subject_role IS NULL
    WHEN subject_kind = 'role' THEN
	subject_id IS NULL AND subject_role IS NOT NULL
    ELSE subject_id IS NOT NULL AND subject_role IS NULL END);
CREATE INDEX rules_subject_role ON rules (subject_role)
    WHERE subject_role IS NOT NULL;
