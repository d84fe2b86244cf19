-- rollcall schema, version 1: the domain model of policy-api.md.
--
-- Conventions: SCIM-owned rows (users, groups, memberships) belong to a
-- directory, and names that Entra matches on are unique per directory,
-- case-insensitively, among live rows.  Deleted users and groups stay as
-- tombstones (deleted_at) so the audit trail can still name them.
-- Every change that can alter a decision takes the next number from
-- policy_state.version; every change that can take access away writes a
-- revocation_events row.  The audit log is append-only, enforced here.

CREATE TABLE directories (
	id		bigserial PRIMARY KEY,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX directories_name_uq ON directories (lower(name));
INSERT INTO directories (name) VALUES ('default');

-- The global policy version.  A transaction that changes anything a
-- decision depends on takes the next number at its end (UPDATE ...
-- RETURNING): the row lock, held until commit, makes versions gapless
-- and committed in order, so a reader of policy_changes or
-- revocation_events never sees version N+1 before N.
CREATE TABLE policy_state (
	id		boolean PRIMARY KEY DEFAULT true CHECK (id),
	version		bigint NOT NULL DEFAULT 0
);
INSERT INTO policy_state DEFAULT VALUES;

CREATE TABLE users (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint NOT NULL REFERENCES directories(id),
	user_name	text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 512),
	external_id	text,
	display_name	text,
	active		boolean NOT NULL DEFAULT true,
	emails_lc	text[] NOT NULL DEFAULT '{}',
	doc		jsonb NOT NULL,
	revoked_all_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz
);
CREATE UNIQUE INDEX users_user_name_uq ON users (directory_id, lower(user_name))
    WHERE deleted_at IS NULL;
CREATE INDEX users_external_id ON users (directory_id, external_id)
    WHERE deleted_at IS NULL;
CREATE INDEX users_display_name ON users (directory_id, lower(display_name))
    WHERE deleted_at IS NULL;
CREATE INDEX users_emails ON users USING gin (emails_lc);
CREATE INDEX users_listing ON users (directory_id, created_at, id)
    WHERE deleted_at IS NULL;

CREATE TABLE groups (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint NOT NULL REFERENCES directories(id),
	display_name	text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 512),
	external_id	text,
	doc		jsonb NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		bigint NOT NULL DEFAULT 1,
	deleted_at	timestamptz
);
CREATE UNIQUE INDEX groups_display_name_uq ON groups (directory_id,
    lower(display_name)) WHERE deleted_at IS NULL;
CREATE INDEX groups_external_id ON groups (directory_id, external_id)
    WHERE deleted_at IS NULL;
CREATE INDEX groups_listing ON groups (directory_id, created_at, id)
    WHERE deleted_at IS NULL;

-- Direct memberships only: Entra does not provision nested groups.
CREATE TABLE memberships (
	group_id	uuid NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	user_id		uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Agent identities.  An owner who is disabled suspends the principal.
CREATE TABLE service_principals (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint NOT NULL REFERENCES directories(id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
	app_id		text NOT NULL CHECK (length(app_id) BETWEEN 1 AND 256),
	owner_user_id	uuid REFERENCES users(id),
	active		boolean NOT NULL DEFAULT true,
	revoked_all_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz
);
CREATE UNIQUE INDEX service_principals_app_uq ON service_principals
    (directory_id, lower(app_id)) WHERE deleted_at IS NULL;

CREATE TABLE mcp_servers (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug		text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	name		text NOT NULL,
	url		text,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mcp_servers_slug_uq ON mcp_servers (slug);

CREATE TABLE tools (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	server_id	uuid NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
	description	text,
	risk		text NOT NULL DEFAULT 'normal'
			    CHECK (risk ~ '^[a-z0-9_-]{1,32}$'),
	labels		text[] NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tools_name_uq ON tools (server_id, name);

-- subject x server x tool selector x effect.  server_slug '*' means any
-- server; tool_selector is an exact name, a glob, or label:value.
CREATE TABLE rules (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint NOT NULL REFERENCES directories(id),
	subject_kind	text NOT NULL CHECK (subject_kind IN
			    ('group', 'user', 'service_principal', 'everyone')),
	subject_id	uuid,
	server_slug	text NOT NULL,
	tool_selector	text NOT NULL CHECK (length(tool_selector) BETWEEN 1 AND 256),
	effect		text NOT NULL CHECK (effect IN ('allow', 'deny', 'elevate')),
	max_grant_s	integer CHECK (max_grant_s > 0),
	description	text,
	created_by	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		bigint NOT NULL DEFAULT 1,
	CHECK ((subject_kind = 'everyone') = (subject_id IS NULL))
);
CREATE INDEX rules_subject ON rules (subject_kind, subject_id);

CREATE TABLE jit_grants (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint NOT NULL REFERENCES directories(id),
	principal_kind	text NOT NULL CHECK (principal_kind IN
			    ('user', 'service_principal')),
	principal_id	uuid NOT NULL,
	server_slug	text NOT NULL,
	tool_selector	text NOT NULL,
	rule_id		uuid REFERENCES rules(id) ON DELETE SET NULL,
	state		text NOT NULL CHECK (state IN ('requested', 'approved',
			    'denied', 'revoked', 'expired')),
	not_before	timestamptz NOT NULL,
	expires_at	timestamptz NOT NULL,
	reason		text,
	ticket		text,
	requested_by	text,
	approved_by	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (expires_at > not_before)
);
CREATE INDEX jit_grants_principal ON jit_grants (principal_id, state);

-- Bearer tokens.  Only the SHA-256 of the secret is kept.  A NULL
-- directory_id is a global token (admin scope only).
CREATE TABLE tokens (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	directory_id	bigint REFERENCES directories(id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
	scopes		text[] NOT NULL CHECK (cardinality(scopes) > 0 AND
			    scopes <@ ARRAY['scim', 'gateway', 'admin']),
	secret_hash	bytea NOT NULL CHECK (length(secret_hash) = 32),
	hint		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	revoked_at	timestamptz,
	last_used_at	timestamptz,
	created_by	text,
	CHECK (directory_id IS NOT NULL OR scopes = ARRAY['admin'])
);
CREATE UNIQUE INDEX tokens_secret_hash_uq ON tokens (secret_hash);

-- Revocation feed: the cursor is (policy_version, idx), both gapless
-- within a version and committed in version order.
CREATE TABLE revocation_events (
	policy_version	bigint NOT NULL,
	idx		integer NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	directory_id	bigint REFERENCES directories(id),
	kind		text NOT NULL CHECK (kind IN ('user.disabled',
			    'user.deleted', 'membership.removed',
			    'grant.expired', 'grant.revoked',
			    'principal.suspended', 'principal.revoked',
			    'rule.changed', 'token.revoked')),
	principal_id	uuid,
	detail		jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (policy_version, idx)
);
CREATE INDEX revocation_events_principal ON revocation_events (principal_id);

-- Ordered policy changes (the records every instance applies to its
-- in-memory index), for /v1/policy/changes and for other instances.
CREATE TABLE policy_changes (
	version		bigint NOT NULL,
	idx		integer NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	origin		text NOT NULL,
	record		jsonb NOT NULL,
	PRIMARY KEY (version, idx)
);

CREATE TABLE audit_log (
	id		bigserial PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	directory_id	bigint REFERENCES directories(id),
	actor_kind	text NOT NULL CHECK (actor_kind IN ('token', 'cli',
			    'system', 'anonymous')),
	actor		text NOT NULL,
	action		text NOT NULL,
	resource_type	text,
	resource_id	text,
	request_id	text,
	summary		jsonb NOT NULL DEFAULT '{}',
	prev_hash	bytea,
	hash		bytea
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_resource ON audit_log (resource_id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
	    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
