-- rollcall schema, version 7: activity counts for the console's
-- overview (GET /admin/v1/activity).
--
-- Every worker counts what it answers in memory (src/core/activity.c)
-- and adds its counts here every few seconds with an upsert
-- (src/store/activity_store.c), so the sums survive restarts and are
-- the same on every instance.
--
--   series 'scim':     hourly buckets; kind 'ok' or the HTTP status of
--                      an error answer ('400', '404', '409', '500', ...)
--   series 'decision': minute buckets; kind 'allow' or the deny's
--                      reason code ('denied_by_rule', 'policy_stale', ...)
--
-- activity_last holds the time of a directory's last SCIM request: a
-- provisioning job that stays quiet for more than two of Entra's
-- 40-minute cycles is what quarantine looks like from outside.
-- Rows older than two days are deleted by the flushes themselves.

CREATE TABLE activity_counts (
	directory_id	bigint NOT NULL REFERENCES directories(id)
			    ON DELETE CASCADE,
	series		text NOT NULL CHECK (series IN ('scim', 'decision')),
	bucket		timestamptz NOT NULL,
	kind		text NOT NULL CHECK (length(kind) BETWEEN 1 AND 39),
	n		bigint NOT NULL CHECK (n >= 0),
	PRIMARY KEY (directory_id, series, bucket, kind)
);
CREATE INDEX activity_counts_bucket ON activity_counts (bucket);

CREATE TABLE activity_last (
	directory_id	bigint NOT NULL REFERENCES directories(id)
			    ON DELETE CASCADE,
	series		text NOT NULL CHECK (series IN ('scim')),
	at		timestamptz NOT NULL,
	PRIMARY KEY (directory_id, series)
);
