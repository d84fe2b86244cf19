/*
 * feed_store: see feed_store.h.
 *
 * The directory filter of policy change records follows what each
 * record names: its own directory_id (users, groups, service
 * principals, rules, directories), the group of a membership, or the
 * principal of a grant, kill switch or epoch; servers, tools and bare
 * version records belong to everyone.  Ids in records are cast to uuid
 * only when they look like one, so one malformed record cannot fail
 * the whole read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_store.h"
#include "util.h"

#define STREAM_VERSIONS	100	/* versions per stream read */

#define SQL_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define SQL_UUID(expr)							\
	"(CASE WHEN (" expr ") ~ '^[0-9a-fA-F-]{36}$' THEN (" expr ")::uuid END)"

/* $3: the directory id as text ("0": all). */
#define SQL_RECORD_VISIBLE						\
	"($3::bigint = 0 OR CASE "					\
	"WHEN c.record ? 'directory_id' THEN "				\
	"  c.record->>'directory_id' = $3::text "				\
	"WHEN c.record->>'kind' = 'member' THEN EXISTS (SELECT 1 "	\
	"  FROM groups g WHERE g.id = " SQL_UUID("c.record->>'group'")	\
	"  AND g.directory_id = $3::bigint) "				\
	"WHEN c.record ? 'principal' THEN EXISTS (SELECT 1 FROM users u " \
	"  WHERE u.id = " SQL_UUID("c.record->>'principal'")		\
	"  AND u.directory_id = $3::bigint) OR EXISTS (SELECT 1 FROM "	\
	"  service_principals s WHERE s.id = "				\
	SQL_UUID("c.record->>'principal'")				\
	"  AND s.directory_id = $3::bigint) "				\
	"ELSE true END)"

static int	read_begin(PGconn *, int64_t *, int64_t *, int *,
		    struct store_err *);
static int	check_after(const struct sse_cursor *, int64_t, int64_t, int,
		    struct store_err *);
static int	revocation_rows(PGconn *, int64_t, const struct sse_cursor *,
		    int64_t, int, json_t *, struct store_err *);
static int	change_rows(PGconn *, int64_t, int64_t, int64_t, json_t *,
		    struct store_err *);
static json_t	*item_cursor(int64_t, int32_t);
static long long num(PGresult *, int, int);

static long long
num(PGresult *res, int row, int col)
{
	long long	v;

	if (PQgetisnull(res, row, col) ||
	    rc_parse_int(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX,
	    &v) == -1)
		return (0);
	return (v);
}

void
feed_page_cleanup(struct feed_page *p)
{
	json_decref(p->items);
	p->items = NULL;
}

static json_t *
item_cursor(int64_t version, int32_t idx)
{
	struct sse_cursor	c;
	char			text[SSE_CURSOR_MAX];

	c.version = version;
	c.idx = idx;
	if (sse_cursor_encode(&c, text, sizeof(text)) == -1)
		return (NULL);
	return (json_string(text));
}

/*
 * Opens the read transaction; fills the current version, the floor,
 * and whether any change was ever pruned-or-kept (rows exist).
 */
static int
read_begin(PGconn *conn, int64_t *db, int64_t *floor, int *rows,
    struct store_err *err)
{
	PGresult	*res;

	if (store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL, NULL, err) == -1)
		return (-1);
	if (store_exec(conn, "SELECT s.version, m.v FROM policy_state s, "
	    "(SELECT min(version) AS v FROM policy_changes) m", 0, NULL, &res,
	    err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_err_set(err, 500, "internal", "policy_state has no row");
		return (-1);
	}
	*db = num(res, 0, 0);
	*rows = !PQgetisnull(res, 0, 1);
	*floor = *rows ? num(res, 0, 1) - 1 : *db;
	if (*floor > *db)
		*floor = *db;
	PQclear(res);
	return (0);
}

static int
check_after(const struct sse_cursor *after, int64_t db, int64_t floor,
    int rows, struct store_err *err)
{
	if (after == NULL)
		return (0);
	if (after->version > db) {
		store_err_set(err, 400, "cursor_ahead", "the position is ahead "
		    "of this server's policy version: start again without it");
		return (-1);
	}
	/* Inside the floor version itself, its rest may be pruned too. */
	if (after->version < floor || (after->version == floor && rows &&
	    floor > 0 && after->idx != SSE_IDX_END)) {
		store_err_set(err, 410, "gone", "the position is older than "
		    "what is retained: fetch /v1/policy/snapshot and continue "
		    "from its revocations_cursor");
		return (-1);
	}
	return (0);
}

/* Appends up to limit revocation events after after (<= upper) to out. */
static int
revocation_rows(PGconn *conn, int64_t dir, const struct sse_cursor *after,
    int64_t upper, int limit, json_t *out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[5];
	char		 v[24], i[16], d[24], u[24], l[16];
	json_t		*ev, *detail;
	int		 r, n;

	(void)snprintf(v, sizeof(v), "%lld",
	    (long long)(after ? after->version : -1));
	(void)snprintf(i, sizeof(i), "%ld",
	    (long)(after ? after->idx : SSE_IDX_END));
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	(void)snprintf(u, sizeof(u), "%lld", (long long)upper);
	(void)snprintf(l, sizeof(l), "%d", limit);
	p[0] = v;
	p[1] = i;
	p[2] = d;
	p[3] = u;
	p[4] = l;
	if (store_exec(conn, "SELECT policy_version, idx, " SQL_TS("at") ", "
	    "directory_id, kind, principal_id, detail::text "
	    "FROM revocation_events WHERE (policy_version, idx) > "
	    "($1::bigint, $2::integer) AND policy_version <= $4::bigint AND "
	    "($3::bigint = 0 OR directory_id = $3::bigint OR "
	    "directory_id IS NULL) ORDER BY policy_version, idx "
	    "LIMIT $5::integer", 5, p, &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	for (r = 0; r < n; r++) {
		detail = json_loads(PQgetvalue(res, r, 6), 0, NULL);
		ev = json_pack("{s:o, s:I, s:I, s:s, s:o, s:s, s:o, s:o}",
		    "cursor", item_cursor((int64_t)num(res, r, 0),
		    (int32_t)num(res, r, 1)),
		    "policy_version", (json_int_t)num(res, r, 0),
		    "idx", (json_int_t)num(res, r, 1),
		    "at", PQgetvalue(res, r, 2),
		    "directory_id", PQgetisnull(res, r, 3) ? json_null() :
		    json_integer(num(res, r, 3)),
		    "kind", PQgetvalue(res, r, 4),
		    "principal", PQgetisnull(res, r, 5) ? json_null() :
		    json_string(PQgetvalue(res, r, 5)),
		    "detail", detail ? detail : json_object());
		if (ev == NULL || json_array_append_new(out, ev) == -1) {
			PQclear(res);
			store_err_set(err, 500, "internal", "out of memory");
			return (-1);
		}
	}
	PQclear(res);
	return (n);
}

/* Appends {"version", "at", "records"} for versions from..upper to out. */
static int
change_rows(PGconn *conn, int64_t dir, int64_t from, int64_t upper,
    json_t *out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[3];
	char		 f[24], u[24], d[24];
	json_t		*cur, *rec;
	long long	 v, last;
	int		 r, n;

	(void)snprintf(f, sizeof(f), "%lld", (long long)from);
	(void)snprintf(u, sizeof(u), "%lld", (long long)upper);
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	p[0] = f;
	p[1] = u;
	p[2] = d;
	if (store_exec(conn, "SELECT c.version, " SQL_TS("c.at") ", "
	    "c.record::text FROM policy_changes c WHERE c.version >= "
	    "$1::bigint AND c.version <= $2::bigint AND " SQL_RECORD_VISIBLE
	    " ORDER BY c.version, c.idx", 3, p, &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	cur = NULL;
	last = -1;
	for (r = 0; r < n; r++) {
		v = num(res, r, 0);
		if (cur == NULL || v != last) {
			cur = json_pack("{s:I, s:s, s:[]}", "version",
			    (json_int_t)v, "at", PQgetvalue(res, r, 1),
			    "records");
			if (cur == NULL || json_array_append_new(out, cur)) {
				PQclear(res);
				store_err_set(err, 500, "internal", "out of "
				    "memory");
				return (-1);
			}
			last = v;
		}
		if ((rec = json_loads(PQgetvalue(res, r, 2), 0, NULL)) != NULL)
			(void)json_array_append_new(json_object_get(cur,
			    "records"), rec);
	}
	PQclear(res);
	return (0);
}

int
feed_store_revocations(PGconn *conn, int64_t dir,
    const struct sse_cursor *after, int limit, struct feed_page *page,
    struct store_err *err)
{
	json_t	*last;
	int	 n, rows;

	memset(page, 0, sizeof(*page));
	if (read_begin(conn, &page->db_version, &page->floor, &rows,
	    err) == -1)
		goto fail;
	if (check_after(after, page->db_version, page->floor, rows, err) == -1)
		goto fail;
	page->items = json_array();
	/* One more than asked tells whether there is more. */
	if ((n = revocation_rows(conn, dir, after, page->db_version, limit + 1,
	    page->items, err)) == -1)
		goto fail;
	if (store_commit(conn, err) == -1)
		goto fail;
	if (n > limit) {
		(void)json_array_remove(page->items, (size_t)limit);
		last = json_array_get(page->items, (size_t)limit - 1);
		page->next.version = (int64_t)json_integer_value(
		    json_object_get(last, "policy_version"));
		page->next.idx = (int32_t)json_integer_value(
		    json_object_get(last, "idx"));
		page->more = 1;
	} else {
		/* Everything up to the snapshot's version has been seen. */
		page->next.version = page->db_version;
		page->next.idx = SSE_IDX_END;
	}
	return (0);

fail:
	store_rollback(conn);
	feed_page_cleanup(page);
	return (-1);
}

int
feed_store_changes(PGconn *conn, int64_t dir, int64_t since, int limit,
    struct feed_page *page, struct store_err *err)
{
	struct sse_cursor	after;
	int64_t			upper;
	int			rows;

	memset(page, 0, sizeof(*page));
	if (read_begin(conn, &page->db_version, &page->floor, &rows,
	    err) == -1)
		goto fail;
	after.version = since;
	after.idx = SSE_IDX_END;
	if (check_after(&after, page->db_version, page->floor, rows,
	    err) == -1)
		goto fail;
	upper = since + limit < page->db_version ? since + limit :
	    page->db_version;
	page->items = json_array();
	if (change_rows(conn, dir, since + 1, upper, page->items, err) == -1)
		goto fail;
	if (store_commit(conn, err) == -1)
		goto fail;
	page->next.version = upper;
	page->next.idx = SSE_IDX_END;
	page->more = upper < page->db_version;
	return (0);

fail:
	store_rollback(conn);
	feed_page_cleanup(page);
	return (-1);
}

static int64_t
item_version(json_t *item, int32_t *idx)
{
	json_t	*d;

	d = json_object_get(item, "data");
	if (json_object_get(d, "idx") != NULL) {
		*idx = (int32_t)json_integer_value(json_object_get(d, "idx"));
		return ((int64_t)json_integer_value(json_object_get(d,
		    "policy_version")));
	}
	*idx = SSE_IDX_END;
	return ((int64_t)json_integer_value(json_object_get(d, "version")));
}

int
feed_store_stream(PGconn *conn, int64_t dir, const struct sse_cursor *after,
    int limit, struct feed_page *page, struct store_err *err)
{
	struct sse_cursor	 cut, key;
	json_t			*revs, *chg, *ev, *item;
	int64_t			 upper, from;
	size_t			 ri, ci;
	int			 n, rows, truncated;

	memset(page, 0, sizeof(*page));
	revs = json_array();
	chg = json_array();
	if (read_begin(conn, &page->db_version, &page->floor, &rows,
	    err) == -1)
		goto fail;
	if (check_after(after, page->db_version, page->floor, rows, err) == -1)
		goto fail;
	upper = after->version + STREAM_VERSIONS < page->db_version ?
	    after->version + STREAM_VERSIONS : page->db_version;
	if ((n = revocation_rows(conn, dir, after, upper, limit + 1, revs,
	    err)) == -1)
		goto fail;
	/* The policy event of after's version follows its revocations. */
	from = after->idx == SSE_IDX_END ? after->version + 1 : after->version;
	if (change_rows(conn, dir, from, upper, chg, err) == -1)
		goto fail;
	if (store_commit(conn, err) == -1)
		goto fail;

	truncated = n > limit;
	if (truncated) {
		(void)json_array_remove(revs, (size_t)limit);
		ev = json_array_get(revs, (size_t)limit - 1);
		cut.version = (int64_t)json_integer_value(json_object_get(ev,
		    "policy_version"));
		cut.idx = (int32_t)json_integer_value(json_object_get(ev,
		    "idx"));
	} else {
		cut.version = upper;
		cut.idx = SSE_IDX_END;
	}

	/* Merge both lists in position order, up to cut. */
	page->items = json_array();
	ri = ci = 0;
	for (;;) {
		item = NULL;
		if (ri < json_array_size(revs) && ci < json_array_size(chg)) {
			ev = json_array_get(revs, ri);
			if (json_integer_value(json_object_get(ev,
			    "policy_version")) <= json_integer_value(
			    json_object_get(json_array_get(chg, ci),
			    "version")))
				item = json_pack("{s:s, s:O}", "type",
				    "revocation", "data", json_array_get(revs,
				    ri++));
			else
				item = json_pack("{s:s, s:O}", "type",
				    "policy", "data", json_array_get(chg,
				    ci++));
		} else if (ri < json_array_size(revs)) {
			item = json_pack("{s:s, s:O}", "type", "revocation",
			    "data", json_array_get(revs, ri++));
		} else if (ci < json_array_size(chg)) {
			item = json_pack("{s:s, s:O}", "type", "policy",
			    "data", json_array_get(chg, ci++));
		} else {
			break;
		}
		if (item == NULL) {
			store_err_set(err, 500, "internal", "out of memory");
			goto fail;
		}
		key.version = item_version(item, &key.idx);
		if (sse_cursor_cmp(&key, &cut) > 0) {
			json_decref(item);
			break;
		}
		(void)json_object_set_new(item, "cursor",
		    item_cursor(key.version, key.idx));
		(void)json_array_append_new(page->items, item);
	}
	page->next = cut;
	page->more = truncated || upper < page->db_version;
	json_decref(revs);
	json_decref(chg);
	return (0);

fail:
	store_rollback(conn);
	json_decref(revs);
	json_decref(chg);
	feed_page_cleanup(page);
	return (-1);
}

/*
 * The snapshot as PostgreSQL builds it: one statement, so one
 * snapshot even without the transaction; the transaction makes the
 * policy version and the document agree.  Mirrors policy_store_load():
 * the same rows, so a gateway evaluating it decides like the index.
 */
static const char	snapshot_sql[] =
"WITH RECURSIVE d AS (SELECT $1::bigint AS id), "
"su AS (SELECT u.* FROM users u, d WHERE d.id = 0 OR u.directory_id = d.id "
"  OR u.id IN (SELECT s.owner_user_id FROM service_principals s "
"  WHERE s.deleted_at IS NULL AND s.directory_id = d.id)), "
"ss AS (SELECT s.* FROM service_principals s, d WHERE s.deleted_at IS NULL "
"  AND (d.id = 0 OR s.directory_id = d.id)), "
"lg AS (SELECT g.id, g.directory_id, g.display_name FROM groups g "
"  WHERE g.deleted_at IS NULL), "
"mem AS (SELECT m.user_id, m.group_id FROM memberships m "
"  JOIN lg ON lg.id = m.group_id WHERE m.user_id IN (SELECT id FROM su)), "
"ug AS (SELECT user_id, json_agg(group_id ORDER BY group_id) AS groups "
"  FROM mem GROUP BY user_id), "
/*
 * Nested groups, as the index follows them (policy.h): breadth first
 * from the direct groups, at most $2 levels; a group first reached one
 * level beyond is not followed and the principal is denied
 * (nesting_exceeded).  UNION stops cycles (depth is bounded too).
 */
"nest AS (SELECT n.group_id AS parent, n.member_group_id AS child "
"  FROM group_nestings n JOIN lg a ON a.id = n.group_id "
"  JOIN lg b ON b.id = n.member_group_id), "
"clo(user_id, group_id, depth) AS (SELECT user_id, group_id, 1 FROM mem "
"  UNION SELECT c.user_id, nest.parent, c.depth + 1 FROM clo c "
"  JOIN nest ON nest.child = c.group_id WHERE c.depth <= $2::int), "
"cmin AS (SELECT user_id, group_id, min(depth) AS depth FROM clo "
"  GROUP BY user_id, group_id), "
"tg AS (SELECT user_id, coalesce(json_agg(group_id ORDER BY group_id) "
"  FILTER (WHERE depth <= $2::int), '[]'::json) AS groups, "
"  bool_or(depth > $2::int) AS exceeded FROM cmin GROUP BY user_id), "
"sg AS (SELECT lg.* FROM lg, d WHERE d.id = 0 OR lg.directory_id = d.id "
"  OR lg.id IN (SELECT group_id FROM mem)), "
"ep AS (SELECT principal_id, max(policy_version) AS epoch "
"  FROM revocation_events WHERE principal_id IS NOT NULL "
"  GROUP BY principal_id), "
"pr AS ("
"  SELECT u.id, json_build_object('id', u.id, 'type', 'user', "
"    'directory', u.directory_id::text, 'userName', u.user_name, "
"    'externalId', u.external_id, 'emails', to_json(CASE WHEN "
"    u.emails_key IS NULL THEN u.emails_lc ELSE "
"    array_remove(u.emails_key, NULL) END), "
"    'active', u.active, 'deleted', u.deleted_at IS NOT NULL, "
"    'revoked', u.revoked_all_at IS NOT NULL, "
"    'subject_epoch', coalesce(ep.epoch, 0), "
"    'groups', coalesce(tg.groups, '[]'::json), "
"    'direct_groups', coalesce(ug.groups, '[]'::json), "
"    'nesting_exceeded', coalesce(tg.exceeded, false), "
"    'roles', (SELECT coalesce(json_agg(coalesce(r->>'value', r#>>'{}')), "
"    '[]'::json) FROM jsonb_array_elements(CASE WHEN "
"    jsonb_typeof(u.doc->'roles') = 'array' THEN u.doc->'roles' ELSE "
"    '[]' END) r WHERE coalesce(r->>'value', CASE WHEN jsonb_typeof(r) "
"    = 'string' THEN r#>>'{}' END) IS NOT NULL)) AS doc "
"  FROM su u LEFT JOIN ep ON ep.principal_id = u.id "
"  LEFT JOIN ug ON ug.user_id = u.id LEFT JOIN tg ON tg.user_id = u.id "
"  UNION ALL "
"  SELECT s.id, json_build_object('id', s.id, 'type', "
"    'service_principal', 'directory', s.directory_id::text, "
"    'appId', s.app_id, 'owner', s.owner_user_id, 'active', s.active, "
"    'deleted', false, 'revoked', s.revoked_all_at IS NOT NULL, "
"    'subject_epoch', coalesce(ep.epoch, 0), 'groups', '[]'::json, "
"    'direct_groups', '[]'::json, 'nesting_exceeded', false, "
"    'roles', '[]'::json) "
"  FROM ss s LEFT JOIN ep ON ep.principal_id = s.id), "
"tl AS (SELECT server_id, json_agg(json_build_object('name', name, "
"  'risk', risk, 'labels', to_json(labels)) ORDER BY name) AS tools "
"  FROM tools GROUP BY server_id) "
"SELECT (SELECT version FROM policy_state), json_build_object("
" 'policy_version', (SELECT version FROM policy_state), "
" 'directory', (SELECT json_build_object('id', dd.id::text, 'name', "
"   dd.name) FROM directories dd, d WHERE dd.id = d.id), "
" 'generated_at', " SQL_TS("now()") ", "
" 'principals', coalesce((SELECT json_agg(doc ORDER BY id) FROM pr), "
"   '[]'::json), "
" 'groups', coalesce((SELECT json_agg(json_build_object('id', g.id, "
"   'directory', g.directory_id::text, 'displayName', g.display_name) "
"   ORDER BY g.id) FROM sg g), '[]'::json), "
" 'group_nesting_depth', $2::int, "
" 'nestings', coalesce((SELECT json_agg(json_build_array(parent, child) "
"   ORDER BY parent, child) FROM nest, d WHERE d.id = 0 OR parent IN "
"   (SELECT id FROM sg)), '[]'::json), "
" 'servers', coalesce((SELECT json_agg(json_build_object('slug', s.slug, "
"   'tools', coalesce(tl.tools, '[]'::json)) ORDER BY s.slug) "
"   FROM mcp_servers s LEFT JOIN tl ON tl.server_id = s.id), '[]'::json), "
" 'rules', coalesce((SELECT json_agg(json_build_object('id', r.id, "
"   'directory_id', r.directory_id, 'subject_kind', r.subject_kind, "
"   'subject_id', coalesce(r.subject_id::text, r.subject_role), "
"   'server', r.server_slug, "
"   'selector', r.tool_selector, 'effect', r.effect, "
"   'max_grant_s', r.max_grant_s) ORDER BY r.id) FROM rules r, d "
"   WHERE d.id = 0 OR (r.subject_kind IN ('everyone', 'role') AND "
"   r.directory_id = d.id) OR r.subject_id IN "
"   (SELECT id FROM su UNION ALL SELECT id FROM ss UNION ALL "
"   SELECT id FROM sg)), '[]'::json), "
" 'grants', coalesce((SELECT json_agg(json_build_object('id', g.id, "
"   'principal', g.principal_id, 'server', g.server_slug, "
"   'selector', g.tool_selector, 'not_before_ms', "
"   (extract(epoch FROM g.not_before) * 1000)::bigint, 'expires_at_ms', "
"   (extract(epoch FROM g.expires_at) * 1000)::bigint) ORDER BY g.id) "
"   FROM jit_grants g WHERE g.state = 'approved' AND g.expires_at > now() "
"   AND g.principal_id IN (SELECT id FROM su UNION ALL "
"   SELECT id FROM ss)), '[]'::json))::text";

int
feed_store_snapshot(PGconn *conn, int64_t dir, int nest_depth, char **text,
    int64_t *version, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 d[24], nd[16];

	*text = NULL;
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	(void)snprintf(nd, sizeof(nd), "%d", nest_depth);
	p[0] = d;
	p[1] = nd;
	if (store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL, NULL, err) == -1)
		return (-1);
	if (store_exec(conn, snapshot_sql, 2, p, &res, err) == -1) {
		store_rollback(conn);
		return (-1);
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_rollback(conn);
		store_err_set(err, 500, "internal", "snapshot query returned "
		    "no row");
		return (-1);
	}
	*version = (int64_t)num(res, 0, 0);
	*text = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (store_commit(conn, err) == -1 || *text == NULL) {
		store_rollback(conn);
		free(*text);
		*text = NULL;
		if (err->status == 0)
			store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}
	return (0);
}

int
feed_store_prune(PGconn *conn, int64_t keep_versions, int keep_days,
    long long *changes_deleted, long long *events_deleted,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 kv[24], kd[16], through[24];
	long long	 x;

	*changes_deleted = *events_deleted = 0;
	(void)snprintf(kv, sizeof(kv), "%lld", (long long)keep_versions);
	(void)snprintf(kd, sizeof(kd), "%d", keep_days);
	p[0] = kv;
	p[1] = kd;
	if (store_begin(conn, err) == -1)
		return (-1);
	/* Versions are in time order: the newest version old enough. */
	if (store_exec(conn, "SELECT max(c.version) FROM policy_changes c, "
	    "policy_state s WHERE c.version <= s.version - $1::bigint AND "
	    "c.at < now() - make_interval(days => $2::integer)", 2, p, &res,
	    err) == -1)
		goto fail;
	x = num(res, 0, 0);
	PQclear(res);
	if (x <= 0) {
		store_rollback(conn);
		return (0);
	}
	(void)snprintf(through, sizeof(through), "%lld", x);
	p[0] = through;
	if (store_exec(conn, "DELETE FROM policy_changes WHERE version <= "
	    "$1::bigint", 1, p, &res, err) == -1)
		goto fail;
	(void)rc_parse_int(PQcmdTuples(res), 0, INT64_MAX, changes_deleted);
	PQclear(res);
	if (store_exec(conn, "DELETE FROM revocation_events e WHERE "
	    "e.policy_version <= $1::bigint AND (e.principal_id IS NULL OR "
	    "EXISTS (SELECT 1 FROM revocation_events n WHERE n.principal_id = "
	    "e.principal_id AND (n.policy_version, n.idx) > "
	    "(e.policy_version, e.idx)))", 1, p, &res, err) == -1)
		goto fail;
	(void)rc_parse_int(PQcmdTuples(res), 0, INT64_MAX, events_deleted);
	PQclear(res);
	return (store_commit(conn, err));

fail:
	store_rollback(conn);
	return (-1);
}
