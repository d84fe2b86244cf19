/*
 * digest_store: see digest_store.h.  The text built here for each
 * principal must be byte for byte what digest_principal_text() builds
 * from the index (src/core/digest.c): change both together.
 */
#include <stdio.h>
#include <string.h>

#include "digest_store.h"
#include "util.h"

/*
 * The slice of ids a check covers: $1 <= id < $2 (either NULL: open),
 * as uuid ranges so the primary key and memberships_user indexes serve.
 */
#define IN_BUCKET(x)	" ($1::uuid IS NULL OR " x " >= $1::uuid) AND " \
	"($2::uuid IS NULL OR " x " < $2::uuid) "

/* <byte length>:<bytes>, or '-' when NULL. */
#define F(x)	"coalesce(octet_length(" x ")::text || ':' || " x ", '-')"

static const char digest_sql[] =
"WITH m AS (SELECT m.user_id, string_agg(" F("m.group_id::text") ", '' "
"    ORDER BY m.group_id::text COLLATE \"C\") AS g "
"  FROM memberships m JOIN groups g ON g.id = m.group_id "
"  AND g.deleted_at IS NULL WHERE " IN_BUCKET("m.user_id")
"  GROUP BY m.user_id), "
"e AS (SELECT principal_id, max(policy_version) AS ep "
"  FROM revocation_events WHERE principal_id IS NOT NULL AND "
	IN_BUCKET("principal_id") " GROUP BY principal_id), "
"p AS (SELECT u.directory_id::text AS dir, 'u' || " F("u.id::text")
"    || " F("u.directory_id::text") " || 'a' || "
"    CASE WHEN u.active AND u.deleted_at IS NULL THEN '1' ELSE '0' END "
"    || 'd' || CASE WHEN u.deleted_at IS NULL THEN '0' ELSE '1' END "
"    || 'r' || CASE WHEN u.revoked_all_at IS NULL THEN '0' ELSE '1' END "
"    || 'e' || coalesce(e.ep, 0)::text || ';' || " F("u.user_name")
"    || " F("u.external_id") " || '[' || coalesce((SELECT string_agg("
	F("x") ", '' ORDER BY x COLLATE \"C\") FROM unnest(CASE WHEN "
"    u.emails_key IS NULL THEN u.emails_lc ELSE "
"    array_remove(u.emails_key, NULL) END) x), "
"    '') || '][' || coalesce(m.g, '') || ']' AS s "
"  FROM users u LEFT JOIN m ON m.user_id = u.id "
"  LEFT JOIN e ON e.principal_id = u.id WHERE " IN_BUCKET("u.id")
"  UNION ALL "
"  SELECT s.directory_id::text, 's' || " F("s.id::text") " || "
	F("s.directory_id::text") " || 'a' || CASE WHEN s.active THEN '1' "
"    ELSE '0' END || 'd0r' || CASE WHEN s.revoked_all_at IS NULL THEN '0' "
"    ELSE '1' END || 'e' || coalesce(e.ep, 0)::text || ';' || "
	F("s.app_id") " || " F("s.owner_user_id::text") " || '[][]' "
"  FROM service_principals s LEFT JOIN e ON e.principal_id = s.id "
"  WHERE s.deleted_at IS NULL AND " IN_BUCKET("s.id") ") "
"SELECT dir, count(*), bit_xor(('x' || substr(md5(s), 1, 16))::bit(64)"
"  ::bigint) FROM p GROUP BY dir";

int
digest_store_compute(PGconn *conn, int bucket, uint64_t *version,
    struct digest *d, struct store_err *err)
{
	static const char	 hex[] = "0123456789abcdef";
	PGresult		*res;
	const char		*p[2];
	char			 lo[40], hi[40];
	long long		 v, n, h;
	int			 i;

	p[0] = p[1] = NULL;
	if (bucket >= 0 && bucket < DIGEST_BUCKETS) {
		(void)snprintf(lo, sizeof(lo), "%c0000000-0000-0000-0000-"
		    "000000000000", hex[bucket]);
		p[0] = lo;
		if (bucket + 1 < DIGEST_BUCKETS) {
			(void)snprintf(hi, sizeof(hi), "%c0000000-0000-0000-"
			    "0000-000000000000", hex[bucket + 1]);
			p[1] = hi;
		}
	}
	if (store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL, NULL, err) == -1)
		return (-1);
	if (store_exec(conn, "SELECT version FROM policy_state", 0, NULL, &res,
	    err) == -1)
		goto fail;
	if (PQntuples(res) != 1 || rc_parse_int(PQgetvalue(res, 0, 0), 0,
	    INT64_MAX, &v) == -1) {
		PQclear(res);
		err->status = 500;
		rc_strlcpy(err->msg, "no policy version", sizeof(err->msg));
		goto fail;
	}
	PQclear(res);
	*version = (uint64_t)v;
	if (store_exec(conn, digest_sql, 2, p, &res, err) == -1)
		goto fail;
	for (i = 0; i < PQntuples(res); i++) {
		if (rc_parse_int(PQgetvalue(res, i, 1), 0, INT64_MAX,
		    &n) == -1 || rc_parse_int(PQgetvalue(res, i, 2), INT64_MIN,
		    INT64_MAX, &h) == -1 || digest_set(d, PQgetvalue(res, i, 0),
		    (uint64_t)n, (uint64_t)h) == -1) {
			PQclear(res);
			err->status = 500;
			rc_strlcpy(err->msg, "bad digest row", sizeof(err->msg));
			goto fail;
		}
	}
	PQclear(res);

	return (store_commit(conn, err));

fail:
	store_rollback(conn);
	return (-1);
}
