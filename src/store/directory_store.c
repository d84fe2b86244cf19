/*
 * directory_store: see directory_store.h.  One statement per list and
 * sort, with absent filters as NULL parameters (planned per call with
 * the actual values, so unused conditions fold away).  Member counts
 * count live users only: a tombstoned user is no longer a member of
 * anything that matters to a decision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory_store.h"
#include "idkey.h"
#include "util.h"

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define USER_COLS	"u.id, d.name, u.user_name, u.display_name, " \
	"u.external_id, u.active, array_to_json(u.emails_lc)::text, " \
	TS("u.created_at") ", " TS("u.updated_at") ", " \
	TS("u.revoked_all_at")

#define GROUP_COLS	"g.id, d.name, g.display_name, g.external_id, " \
	"(SELECT count(*) FROM memberships m JOIN users mu ON " \
	"mu.id = m.user_id AND mu.deleted_at IS NULL WHERE " \
	"m.group_id = g.id), " TS("g.created_at") ", " TS("g.updated_at")

static json_t	*user_row_json(PGresult *, int);
static json_t	*group_row_json(PGresult *, int);
static int	 page_fill(PGresult *, int, json_t *(*)(PGresult *, int),
		    struct directory_page *, struct store_err *);
static int	 visible(PGconn *, const char *, int64_t, const char *,
		    const char *, struct store_err *);
static const char *sort_key(enum directory_sort, char);

static const char *
cell(PGresult *res, int i, int c)
{
	return (PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c));
}

static json_t *
user_row_json(PGresult *res, int i)
{
	json_t	*emails;

	if ((emails = json_loads(PQgetvalue(res, i, 6), 0, NULL)) == NULL)
		emails = json_array();
	return (json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b, s:o, s:s, s:s, "
	    "s:s?}", "id", PQgetvalue(res, i, 0),
	    "directory", PQgetvalue(res, i, 1),
	    "userName", PQgetvalue(res, i, 2),
	    "displayName", cell(res, i, 3),
	    "externalId", cell(res, i, 4),
	    "active", strcmp(PQgetvalue(res, i, 5), "t") == 0,
	    "emails", emails,
	    "created_at", PQgetvalue(res, i, 7),
	    "updated_at", PQgetvalue(res, i, 8),
	    "revoked_all_at", cell(res, i, 9)));
}

static json_t *
group_row_json(PGresult *res, int i)
{
	return (json_pack("{s:s, s:s, s:s, s:s?, s:I, s:s, s:s}",
	    "id", PQgetvalue(res, i, 0),
	    "directory", PQgetvalue(res, i, 1),
	    "displayName", PQgetvalue(res, i, 2),
	    "externalId", cell(res, i, 3),
	    "members", (json_int_t)atoll(PQgetvalue(res, i, 4)),
	    "created_at", PQgetvalue(res, i, 5),
	    "updated_at", PQgetvalue(res, i, 6)));
}

/* Turns up to limit rows of res into page; the extra row means "more". */
static int
page_fill(PGresult *res, int limit, json_t *(*row_fn)(PGresult *, int),
    struct directory_page *page, struct store_err *err)
{
	json_t	*row;
	int	 i;

	memset(page, 0, sizeof(*page));
	if ((page->rows = json_array()) == NULL)
		goto oom;
	for (i = 0; i < PQntuples(res); i++) {
		if (i == limit) {
			page->more = 1;
			break;
		}
		if ((row = row_fn(res, i)) == NULL ||
		    json_array_append_new(page->rows, row) == -1)
			goto oom;
		rc_strlcpy(page->last, PQgetvalue(res, i, 0),
		    sizeof(page->last));
	}
	PQclear(res);
	return (0);

oom:
	PQclear(res);
	json_decref(page->rows);
	page->rows = NULL;
	store_err_set(err, 500, "internal", "out of memory");
	return (-1);
}

/* 0 when table row id is live and in directory dir (0: any); else 404. */
static int
visible(PGconn *conn, const char *table, int64_t dir, const char *id,
    const char *what, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 sql[256], d[24];
	int		 n;

	if (!rc_is_uuid(id)) {
		store_err_set(err, 404, "not_found", "no %s with id '%.64s'",
		    what, id);
		return (-1);
	}
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	p[0] = id;
	p[1] = dir ? d : NULL;
	(void)snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = $1 AND "
	    "deleted_at IS NULL AND ($2::bigint IS NULL OR directory_id = $2)",
	    table);
	if (store_exec(conn, sql, 2, p, &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	PQclear(res);
	if (n != 1) {
		store_err_set(err, 404, "not_found", "no %s with id '%.64s'",
		    what, id);
		return (-1);
	}

	return (0);
}

/* The sort expression over alias a ('u', 'g' or 'x'): constant text. */
static const char *
sort_key(enum directory_sort sort, char a)
{
	static const char *const	keys[3][3] = {
		{ "u.created_at", "lower(u.user_name)",
		    "coalesce(lower(u.display_name), '')" },
		{ "g.created_at", "lower(g.user_name)",
		    "coalesce(lower(g.display_name), '')" },
		{ "x.created_at", "lower(x.user_name)",
		    "coalesce(lower(x.display_name), '')" },
	};

	return (keys[a == 'u' ? 0 : a == 'g' ? 1 : 2][sort]);
}

int
directory_store_users(PGconn *conn, const struct directory_query *q,
    struct directory_page *page, struct store_err *err)
{
	PGresult	*res;
	const char	*p[8], *ku, *kx, *dir_sql;
	char		 sql[2048], d[24], lim[16], *nk, *ek;
	int		 rc;

	memset(page, 0, sizeof(*page));
	if (q->sort != DIRECTORY_SORT_CREATED &&
	    q->sort != DIRECTORY_SORT_USERNAME &&
	    q->sort != DIRECTORY_SORT_DISPLAYNAME) {
		store_err_set(err, 400, "invalid_sort", "unknown sort");
		return (-1);
	}
	(void)snprintf(d, sizeof(d), "%lld", (long long)q->directory_id);
	(void)snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	/* Names compare by their identity keys (idkey.h), as SCIM does. */
	nk = ek = NULL;
	if ((q->user_name != NULL && (nk = idkey_dup(q->user_name,
	    &rc)) == NULL) || (q->email != NULL && (ek = idkey_dup(q->email,
	    &rc)) == NULL)) {
		free(nk);
		store_err_set(err, rc == IDKEY_ENOMEM ? 500 : 400, rc ==
		    IDKEY_ENOMEM ? "internal" : "invalid_name", "%s %s",
		    nk == NULL ? "userName" : "email", idkey_strerror(rc));
		return (-1);
	}
	p[0] = q->directory_id ? d : NULL;
	p[1] = nk;
	p[2] = ek;
	p[3] = q->external_id;
	p[4] = q->active == -1 ? NULL : q->active ? "true" : "false";
	p[5] = q->group;
	p[6] = q->after;
	p[7] = lim;
	ku = sort_key(q->sort, 'u');
	kx = sort_key(q->sort, 'x');
	dir_sql = q->descending ? "DESC" : "ASC";
	(void)snprintf(sql, sizeof(sql), "SELECT " USER_COLS " FROM users u "
	    "JOIN directories d ON d.id = u.directory_id "
	    "WHERE u.deleted_at IS NULL "
	    "AND ($1::bigint IS NULL OR u.directory_id = $1) "
	    "AND ($2::text IS NULL OR u.user_name_key = $2) "
	    "AND ($3::text IS NULL OR u.emails_key @> ARRAY[$3::text]) "
	    "AND ($4::text IS NULL OR u.external_id = $4) "
	    "AND ($5::boolean IS NULL OR u.active = $5) "
	    "AND ($6::uuid IS NULL OR EXISTS (SELECT 1 FROM memberships m "
	    "WHERE m.group_id = $6 AND m.user_id = u.id)) "
	    "AND ($7::uuid IS NULL OR (%s, u.id) %s (SELECT %s, x.id "
	    "FROM users x WHERE x.id = $7)) "
	    "ORDER BY %s %s, u.id %s LIMIT $8", ku,
	    q->descending ? "<" : ">", kx, ku, dir_sql, dir_sql);
	rc = store_exec(conn, sql, 8, p, &res, err);
	free(nk);
	free(ek);
	if (rc == -1)
		return (-1);

	return (page_fill(res, q->limit, user_row_json, page, err));
}

int
directory_store_user(PGconn *conn, int64_t directory_id, const char *key,
    json_t **out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 d[24], id[37], *nk;
	json_t		*user, *list, *doc;
	int		 i, rc;

	*out = NULL;
	(void)snprintf(d, sizeof(d), "%lld", (long long)directory_id);
	nk = NULL;
	if (!rc_is_uuid(key) && (nk = idkey_dup(key, &rc)) == NULL) {
		if (rc == IDKEY_ENOMEM)
			store_err_set(err, 500, "internal", "out of memory");
		else
			store_err_set(err, 404, "not_found", "no user '%.64s'",
			    key);
		return (-1);
	}
	p[0] = nk != NULL ? nk : key;
	p[1] = directory_id ? d : NULL;
	if (store_exec(conn, rc_is_uuid(key) ?
	    "SELECT " USER_COLS ", u.doc::text FROM users u JOIN directories d "
	    "ON d.id = u.directory_id WHERE u.id = $1 AND u.deleted_at IS NULL "
	    "AND ($2::bigint IS NULL OR u.directory_id = $2)" :
	    "SELECT " USER_COLS ", u.doc::text FROM users u JOIN directories d "
	    "ON d.id = u.directory_id WHERE u.user_name_key = $1 "
	    "AND u.deleted_at IS NULL "
	    "AND ($2::bigint IS NULL OR u.directory_id = $2) LIMIT 2",
	    2, p, &res, err) == -1) {
		free(nk);
		return (-1);
	}
	free(nk);
	if (PQntuples(res) != 1) {
		i = PQntuples(res);
		PQclear(res);
		if (i > 1)
			store_err_set(err, 409, "ambiguous", "userName '%.64s' "
			    "exists in several directories: use the id", key);
		else
			store_err_set(err, 404, "not_found", "no user '%.64s'",
			    key);
		return (-1);
	}
	if ((user = user_row_json(res, 0)) == NULL) {
		PQclear(res);
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}
	if ((doc = json_loads(PQgetvalue(res, 0, 10), 0, NULL)) != NULL)
		(void)json_object_set_new(user, "scim", doc);
	rc_strlcpy(id, PQgetvalue(res, 0, 0), sizeof(id));
	PQclear(res);

	p[0] = id;
	if (store_exec(conn, "SELECT g.id, g.display_name, count(*) OVER () "
	    "FROM memberships m JOIN groups g ON g.id = m.group_id "
	    "WHERE m.user_id = $1 AND g.deleted_at IS NULL "
	    "ORDER BY lower(g.display_name), g.id LIMIT 100", 1, p, &res,
	    err) == -1)
		goto fail;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		(void)json_array_append_new(list, json_pack("{s:s, s:s}",
		    "id", PQgetvalue(res, i, 0), "displayName",
		    PQgetvalue(res, i, 1)));
	(void)json_object_set_new(user, "group_count", json_integer(
	    PQntuples(res) ? atoll(PQgetvalue(res, 0, 2)) : 0));
	(void)json_object_set_new(user, "groups", list);
	PQclear(res);

	if (store_exec(conn, "SELECT id, name, app_id, active, "
	    TS("revoked_all_at") " FROM service_principals "
	    "WHERE owner_user_id = $1 AND deleted_at IS NULL "
	    "ORDER BY lower(name), id", 1, p, &res, err) == -1)
		goto fail;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		(void)json_array_append_new(list, json_pack("{s:s, s:s, s:s, "
		    "s:b, s:s?}", "id", PQgetvalue(res, i, 0),
		    "name", PQgetvalue(res, i, 1),
		    "app_id", PQgetvalue(res, i, 2),
		    "active", strcmp(PQgetvalue(res, i, 3), "t") == 0,
		    "revoked_all_at", cell(res, i, 4)));
	(void)json_object_set_new(user, "service_principals", list);
	PQclear(res);
	*out = user;

	return (0);

fail:
	json_decref(user);
	return (-1);
}

int
directory_store_user_groups(PGconn *conn, const struct directory_query *q,
    const char *id, struct directory_page *page, struct store_err *err)
{
	PGresult	*res;
	const char	*p[3];
	char		 lim[16];

	memset(page, 0, sizeof(*page));
	if (visible(conn, "users", q->directory_id, id, "user", err) == -1)
		return (-1);
	(void)snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	p[0] = id;
	p[1] = q->after;
	p[2] = lim;
	if (store_exec(conn, "SELECT " GROUP_COLS " FROM memberships um "
	    "JOIN groups g ON g.id = um.group_id "
	    "JOIN directories d ON d.id = g.directory_id "
	    "WHERE um.user_id = $1 AND g.deleted_at IS NULL "
	    "AND ($2::uuid IS NULL OR um.group_id > $2) "
	    "ORDER BY um.group_id LIMIT $3", 3, p, &res, err) == -1)
		return (-1);

	return (page_fill(res, q->limit, group_row_json, page, err));
}

int
directory_store_groups(PGconn *conn, const struct directory_query *q,
    struct directory_page *page, struct store_err *err)
{
	PGresult	*res;
	const char	*p[5], *kg, *kx, *dir_sql;
	char		 sql[2048], d[24], lim[16];

	memset(page, 0, sizeof(*page));
	if (q->sort != DIRECTORY_SORT_CREATED &&
	    q->sort != DIRECTORY_SORT_DISPLAYNAME) {
		store_err_set(err, 400, "invalid_sort", "groups sort by "
		    "created or displayName");
		return (-1);
	}
	(void)snprintf(d, sizeof(d), "%lld", (long long)q->directory_id);
	(void)snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	p[0] = q->directory_id ? d : NULL;
	p[1] = q->display_name;
	p[2] = q->external_id;
	p[3] = q->after;
	p[4] = lim;
	kg = sort_key(q->sort, 'g');
	kx = sort_key(q->sort, 'x');
	dir_sql = q->descending ? "DESC" : "ASC";
	(void)snprintf(sql, sizeof(sql), "SELECT " GROUP_COLS " FROM groups g "
	    "JOIN directories d ON d.id = g.directory_id "
	    "WHERE g.deleted_at IS NULL "
	    "AND ($1::bigint IS NULL OR g.directory_id = $1) "
	    "AND ($2::text IS NULL OR lower(g.display_name) = lower($2)) "
	    "AND ($3::text IS NULL OR g.external_id = $3) "
	    "AND ($4::uuid IS NULL OR (%s, g.id) %s (SELECT %s, x.id "
	    "FROM groups x WHERE x.id = $4)) "
	    "ORDER BY %s %s, g.id %s LIMIT $5", kg,
	    q->descending ? "<" : ">", kx, kg, dir_sql, dir_sql);
	if (store_exec(conn, sql, 5, p, &res, err) == -1)
		return (-1);

	return (page_fill(res, q->limit, group_row_json, page, err));
}

/*
 * Adds the direct nestings of group id to out: member_groups (groups
 * that are members of it) and member_of (groups it is a member of),
 * live groups of its own directory only, by name, at most
 * NESTINGS_MAX of each (a console shows them; the policy index, not
 * this list, decides).
 */
#define NESTINGS_MAX	"500"

static int
group_nestings(PGconn *conn, const char *id, json_t *out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[1];
	json_t		*members, *parents, *g;
	int		 i, n;

	p[0] = id;
	if (store_exec(conn, "(SELECT 'm', g.id, g.display_name "
	    "FROM group_nestings n JOIN groups g ON g.id = n.member_group_id "
	    "JOIN groups me ON me.id = n.group_id "
	    "WHERE n.group_id = $1 AND g.deleted_at IS NULL "
	    "AND g.directory_id = me.directory_id "
	    "ORDER BY g.display_name, g.id LIMIT " NESTINGS_MAX ") "
	    "UNION ALL (SELECT 'p', g.id, g.display_name "
	    "FROM group_nestings n JOIN groups g ON g.id = n.group_id "
	    "JOIN groups me ON me.id = n.member_group_id "
	    "WHERE n.member_group_id = $1 AND g.deleted_at IS NULL "
	    "AND g.directory_id = me.directory_id "
	    "ORDER BY g.display_name, g.id LIMIT " NESTINGS_MAX ")",
	    1, p, &res, err) == -1)
		return (-1);
	members = json_array();
	parents = json_array();
	n = PQntuples(res);
	for (i = 0; i < n && members != NULL && parents != NULL; i++) {
		g = json_pack("{s:s, s:s}", "id", PQgetvalue(res, i, 1),
		    "displayName", PQgetvalue(res, i, 2));
		if (g == NULL ||
		    json_array_append_new(PQgetvalue(res, i, 0)[0] == 'm' ?
		    members : parents, g) == -1)
			break;
	}
	PQclear(res);
	if (i < n || members == NULL || parents == NULL) {
		json_decref(members);
		json_decref(parents);
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}
	/* The _new setters take the arrays, also when they fail. */
	if (json_object_set_new(out, "member_groups", members) == -1) {
		json_decref(parents);
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}
	if (json_object_set_new(out, "member_of", parents) == -1) {
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}

	return (0);
}

int
directory_store_group(PGconn *conn, int64_t directory_id, const char *id,
    json_t **out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 d[24];

	*out = NULL;
	if (!rc_is_uuid(id)) {
		store_err_set(err, 404, "not_found", "no group with id "
		    "'%.64s'", id);
		return (-1);
	}
	(void)snprintf(d, sizeof(d), "%lld", (long long)directory_id);
	p[0] = id;
	p[1] = directory_id ? d : NULL;
	if (store_exec(conn, "SELECT " GROUP_COLS " FROM groups g "
	    "JOIN directories d ON d.id = g.directory_id "
	    "WHERE g.id = $1 AND g.deleted_at IS NULL "
	    "AND ($2::bigint IS NULL OR g.directory_id = $2)", 2, p, &res,
	    err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_err_set(err, 404, "not_found", "no group with id "
		    "'%.64s'", id);
		return (-1);
	}
	*out = group_row_json(res, 0);
	PQclear(res);
	if (*out == NULL) {
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}
	if (group_nestings(conn, id, *out, err) == -1) {
		json_decref(*out);
		*out = NULL;
		return (-1);
	}

	return (0);
}

int
directory_store_group_members(PGconn *conn, const struct directory_query *q,
    const char *id, struct directory_page *page, struct store_err *err)
{
	PGresult	*res;
	const char	*p[4];
	char		 lim[16];

	memset(page, 0, sizeof(*page));
	if (visible(conn, "groups", q->directory_id, id, "group", err) == -1)
		return (-1);
	(void)snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	p[0] = id;
	p[1] = q->active == -1 ? NULL : q->active ? "true" : "false";
	p[2] = q->after;
	p[3] = lim;
	/* The primary key (group_id, user_id) walks a large group in order. */
	if (store_exec(conn, "SELECT " USER_COLS " FROM memberships m "
	    "JOIN users u ON u.id = m.user_id "
	    "JOIN directories d ON d.id = u.directory_id "
	    "WHERE m.group_id = $1 AND u.deleted_at IS NULL "
	    "AND ($2::boolean IS NULL OR u.active = $2) "
	    "AND ($3::uuid IS NULL OR m.user_id > $3) "
	    "ORDER BY m.user_id LIMIT $4", 4, p, &res, err) == -1)
		return (-1);

	return (page_fill(res, q->limit, user_row_json, page, err));
}
