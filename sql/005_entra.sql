-- rollcall schema, version 5: Entra ID access tokens at the decision point.
--
-- A directory may be bound to one Entra tenant (README, "Entra access
-- tokens").  A gateway may then name its subject with the user's (or the
-- app's) access token instead of an identifier: rollcall validates the
-- token against the binding and the tenant's signing keys, and joins its
-- oid to the provisioned user (externalId) or service principal.  A
-- directory without a row here refuses tokens.
--
-- The keys are per tenant, in the database, so every worker of every
-- instance validates against the same set: a change NOTIFYs rollcall
-- with {"kind": "entra"}, and each worker reloads bindings and keys.

CREATE TABLE entra_bindings (
	directory_id	bigint PRIMARY KEY REFERENCES directories(id)
			    ON DELETE CASCADE,
	tenant_id	text NOT NULL CHECK (tenant_id ~
			    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
	audiences	text[] NOT NULL CHECK (cardinality(audiences)
			    BETWEEN 1 AND 8),
	accept_v1	boolean NOT NULL DEFAULT true,
	accept_v2	boolean NOT NULL DEFAULT true,
	skew_s		integer NOT NULL DEFAULT 120 CHECK (skew_s
			    BETWEEN 0 AND 300),
	-- 'openid': fetched from openid_url's jwks_uri; 'static': the keys
	-- were given by an administrator (air-gapped installs).
	jwks_source	text NOT NULL CHECK (jwks_source IN ('openid',
			    'static')),
	openid_url	text CHECK (openid_url IS NULL OR openid_url ~
			    '^https://'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (accept_v1 OR accept_v2),
	CHECK (jwks_source = 'static' OR openid_url IS NOT NULL)
);

-- The tenant's current key set (a JWKS document, as published), the
-- last good one: a failed fetch leaves it in place.
CREATE TABLE entra_keys (
	tenant_id	text PRIMARY KEY,
	jwks		text NOT NULL CHECK (length(jwks) <= 262144),
	source		text NOT NULL,
	fetched_at	timestamptz NOT NULL DEFAULT now()
);
