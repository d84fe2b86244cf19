-- rollcall schema, version 4: one comparison key for identity names.
--
-- userName and email addresses are compared by their key: Unicode NFC
-- after full case folding, computed by rollcall in C (src/core/idkey.c,
-- libutf8proc) and stored here, so uniqueness, SCIM filters, the admin
-- search and the policy index (which keys its aliases with the same
-- function) all agree.  PostgreSQL's lower() folds differently (no
-- ss for sharp s, locale-dependent for Turkish dotted I) and no longer
-- decides who is who.
--
-- emails_key holds one entry per element of doc->'emails', in order
-- (NULL where an element has no string value), so a filter such as
-- emails[type eq "work" and value eq "x"] can test the key of the same
-- element it tests the type of.
--
-- The keys are written by rollcall for every SCIM write.  This
-- migration only adds the columns: 'rollcallctl migrate' fills the key
-- of every row that has none in the same transaction (and again on
-- every run, for rows written by hand); two live users of a directory
-- whose names now share a key stop that transaction with a uniqueness
-- error naming the key, and nothing of it is applied.

ALTER TABLE users ADD COLUMN user_name_key text,
    ADD COLUMN emails_key text[];

DROP INDEX users_user_name_uq;
CREATE UNIQUE INDEX users_user_name_key_uq ON users (directory_id,
    user_name_key) WHERE deleted_at IS NULL;
CREATE INDEX users_emails_key ON users USING gin (emails_key);
DROP INDEX users_emails;	-- emails_lc is no longer searched

-- The rows still to key (what 'rollcallctl migrate' looks for on every run):
-- every row while this migration runs, none once keyed, so it costs
-- nothing afterwards.
CREATE INDEX users_unkeyed ON users (id)
    WHERE user_name_key IS NULL OR emails_key IS NULL;
