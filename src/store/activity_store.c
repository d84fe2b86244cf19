/*
 * activity_store.c: flushing the workers' activity counts into
 * PostgreSQL, and reading the overview back (activity_store.h).
 *
 * A flush is two statements in one transaction, each taking the whole
 * table as arrays (one round trip however many cells).  Rows go in key
 * order, so two workers flushing overlapping keys lock them in the same
 * order and cannot deadlock each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activity_store.h"
#include "strbuf.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Appends s as one quoted element of a PostgreSQL array literal. */
static void
array_str(struct strbuf *b, const char *s)
{
	strbuf_printf(b, "%s\"", b->len > 1 ? "," : "");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_printf(b, "\\%c", *s);
		else
			strbuf_printf(b, "%c", *s);
	}
	strbuf_printf(b, "\"");
}

static void
array_int(struct strbuf *b, long long v)
{
	strbuf_printf(b, "%s%lld", b->len > 1 ? "," : "", v);
}

int
activity_store_flush(PGconn *conn, const struct activity *a, int prune,
    struct store_err *err)
{
	struct strbuf			 dir = { 0 }, ser = { 0 }, bkt = { 0 };
	struct strbuf			 kind = { 0 }, n = { 0 };
	struct strbuf			 ldir = { 0 }, lat = { 0 };
	const struct activity_cell	*c;
	const char			*p[5];
	size_t				 i;
	int				 rc;

	rc = -1;
	strbuf_printf(&dir, "{");
	strbuf_printf(&ser, "{");
	strbuf_printf(&bkt, "{");
	strbuf_printf(&kind, "{");
	strbuf_printf(&n, "{");
	strbuf_printf(&ldir, "{");
	strbuf_printf(&lat, "{");
	for (i = 0; i < ACTIVITY_CELLS; i++) {
		c = &a->cell[i];
		if (c->directory_id == 0)
			continue;
		array_int(&dir, (long long)c->directory_id);
		array_str(&ser, activity_series_str(c->series));
		array_int(&bkt, (long long)c->bucket_s);
		array_str(&kind, c->kind);
		array_int(&n, (long long)c->n);
	}
	for (i = 0; i < ACTIVITY_DIRS; i++) {
		if (a->last[i].directory_id == 0)
			continue;
		array_int(&ldir, (long long)a->last[i].directory_id);
		array_int(&lat, (long long)a->last[i].at_ms);
	}
	strbuf_printf(&dir, "}");
	strbuf_printf(&ser, "}");
	strbuf_printf(&bkt, "}");
	strbuf_printf(&kind, "}");
	strbuf_printf(&n, "}");
	strbuf_printf(&ldir, "}");
	strbuf_printf(&lat, "}");
	if (dir.oom || ser.oom || bkt.oom || kind.oom || n.oom || ldir.oom ||
	    lat.oom) {
		(void)store_err_set(err, 500, "internal", "out of memory");
		goto out;
	}

	if (store_begin(conn, err) == -1)
		goto out;
	p[0] = dir.s;
	p[1] = ser.s;
	p[2] = bkt.s;
	p[3] = kind.s;
	p[4] = n.s;
	if (a->used > 0 && store_exec(conn,
	    "INSERT INTO activity_counts (directory_id, series, bucket, "
	    "kind, n) SELECT u.d, u.s, to_timestamp(u.b), u.k, u.n "
	    "FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], "
	    "$5::bigint[]) AS u(d, s, b, k, n) "
	    "WHERE EXISTS (SELECT 1 FROM directories x WHERE x.id = u.d) "
	    "ORDER BY u.d, u.s, u.b, u.k "
	    "ON CONFLICT (directory_id, series, bucket, kind) DO UPDATE "
	    "SET n = activity_counts.n + EXCLUDED.n", 5, p, NULL, err) == -1)
		goto fail;
	p[0] = ldir.s;
	p[1] = lat.s;
	if (ldir.len > 2 && store_exec(conn,
	    "INSERT INTO activity_last (directory_id, series, at) "
	    "SELECT u.d, 'scim', to_timestamp(u.t / 1000.0) "
	    "FROM unnest($1::bigint[], $2::bigint[]) AS u(d, t) "
	    "WHERE EXISTS (SELECT 1 FROM directories x WHERE x.id = u.d) "
	    "ORDER BY u.d ON CONFLICT (directory_id, series) DO UPDATE "
	    "SET at = greatest(activity_last.at, EXCLUDED.at)", 2, p, NULL,
	    err) == -1)
		goto fail;
	if (prune && store_exec(conn, "DELETE FROM activity_counts WHERE "
	    "bucket < now() - interval '2 days'", 0, NULL, NULL, err) == -1)
		goto fail;
	if (store_commit(conn, err) == -1)
		goto out;
	rc = 0;
	goto out;
fail:
	store_rollback(conn);
out:
	free(dir.s);
	free(ser.s);
	free(bkt.s);
	free(kind.s);
	free(n.s);
	free(ldir.s);
	free(lat.s);
	return (rc);
}

/*
 * One row per directory, its whole overview built as JSON by
 * PostgreSQL: empty buckets are listed with zeros, so a chart needs no
 * gap logic.
 */
static const char	overview_sql[] =
"WITH d AS (SELECT id, name FROM directories "
"    WHERE $1::bigint IS NULL OR id = $1), "
"h AS (SELECT generate_series(date_trunc('hour', now()) - "
"    interval '23 hours', date_trunc('hour', now()), interval '1 hour') "
"    AS b), "
"m AS (SELECT generate_series(date_trunc('minute', now()) - "
"    interval '59 minutes', date_trunc('minute', now()), "
"    interval '1 minute') AS b) "
"SELECT json_build_object('directory', d.name, "
"  'scim', json_build_object("
"    'last_request_at', (SELECT " TS("l.at") " FROM activity_last l "
"        WHERE l.directory_id = d.id AND l.series = 'scim'), "
"    'quiet_for_s', (SELECT greatest(0, extract(epoch FROM now() - l.at))"
"        ::bigint FROM activity_last l WHERE l.directory_id = d.id AND "
"        l.series = 'scim'), "
"    'quiet', coalesce((SELECT now() - l.at > make_interval(secs => $2) "
"        FROM activity_last l WHERE l.directory_id = d.id AND "
"        l.series = 'scim'), false), "
"    'hours', (SELECT json_agg(json_build_object('hour', " TS("x.b") ", "
"        'requests', x.r, 'errors', x.e) ORDER BY x.b) FROM (SELECT h.b, "
"        coalesce(sum(c.n), 0) AS r, coalesce(sum(c.n) FILTER (WHERE "
"        c.kind <> 'ok'), 0) AS e FROM h LEFT JOIN activity_counts c ON "
"        c.directory_id = d.id AND c.series = 'scim' AND c.bucket = h.b "
"        GROUP BY h.b) x), "
"    'errors', (SELECT coalesce(json_object_agg(e.kind, e.s ORDER BY "
"        e.kind), '{}') FROM (SELECT c.kind, sum(c.n) AS s FROM "
"        activity_counts c WHERE c.directory_id = d.id AND c.series = "
"        'scim' AND c.kind <> 'ok' AND c.bucket >= (SELECT min(b) FROM h)"
"        GROUP BY c.kind) e)), "
"  'decisions', json_build_object("
"    'minutes', (SELECT json_agg(json_build_object('minute', "
"        " TS("x.b") ", 'allow', x.a, 'deny', x.n) ORDER BY x.b) "
"        FROM (SELECT m.b, "
"        coalesce(sum(c.n) FILTER (WHERE c.kind = 'allow'), 0) AS a, "
"        coalesce(sum(c.n) FILTER (WHERE c.kind <> 'allow'), 0) AS n "
"        FROM m LEFT JOIN activity_counts c ON c.directory_id = d.id AND "
"        c.series = 'decision' AND c.bucket = m.b GROUP BY m.b) x), "
"    'denies', (SELECT coalesce(json_object_agg(e.kind, e.s ORDER BY "
"        e.kind), '{}') FROM (SELECT c.kind, sum(c.n) AS s FROM "
"        activity_counts c WHERE c.directory_id = d.id AND c.series = "
"        'decision' AND c.kind <> 'allow' AND c.bucket >= (SELECT min(b) "
"        FROM m) GROUP BY c.kind) e)), "
"  'kill_switches', (SELECT coalesce(json_agg(json_build_object("
"    'id', k.id, 'kind', k.kind, 'name', k.name, "
"    'since', " TS("k.at") ", 'by', (SELECT a.actor FROM audit_log a "
"        WHERE a.resource_id = k.id::text AND a.action = "
"        'principal.revoke_all' ORDER BY a.id DESC LIMIT 1)) "
"    ORDER BY k.at), '[]') FROM ("
"      SELECT u.id, 'user' AS kind, u.user_name AS name, "
"          u.revoked_all_at AS at FROM users u WHERE u.directory_id = d.id "
"          AND u.revoked_all_at IS NOT NULL AND u.deleted_at IS NULL "
"      UNION ALL SELECT s.id, 'service_principal', s.name, "
"          s.revoked_all_at FROM service_principals s WHERE "
"          s.directory_id = d.id AND s.revoked_all_at IS NOT NULL AND "
"          s.deleted_at IS NULL) k))::text "
"FROM d ORDER BY d.id";

int
activity_store_overview(PGconn *conn, int64_t directory_id, int quiet_s,
    json_t **out, struct store_err *err)
{
	PGresult	*res;
	json_t		*row;
	const char	*p[2];
	char		 dir[24], quiet[16];
	int		 i;

	*out = NULL;
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)directory_id);
	(void)snprintf(quiet, sizeof(quiet), "%d", quiet_s);
	p[0] = directory_id ? dir : NULL;
	p[1] = quiet;
	if (store_exec(conn, overview_sql, 2, p, &res, err) == -1)
		return (-1);
	*out = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		if (row == NULL || json_array_append_new(*out, row) == -1) {
			PQclear(res);
			json_decref(*out);
			*out = NULL;
			return (store_err_set(err, 500, "internal",
			    "cannot read the activity overview"));
		}
	}
	PQclear(res);

	return (0);
}
