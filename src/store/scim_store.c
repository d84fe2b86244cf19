/*
 * scim_store: see scim_store.h; the files' split and concurrency are in
 * scim_store_impl.h.  This file: reads (one resource, a list page) and
 * the helpers every scim_store file uses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scim_store.h"
#include "scim_store_impl.h"
#include "util.h"

/* A user's groups / a group's members, as JSON (the refs column). */
#define USER_GROUPS							\
	"(SELECT coalesce(json_agg(json_build_object('value', g.id, "	\
	"'display', g.display_name, 'type', 'direct') ORDER BY "	\
	"g.display_name, g.id), '[]') FROM memberships m JOIN groups g "\
	"ON g.id = m.group_id WHERE m.user_id = users.id AND "		\
	"g.deleted_at IS NULL)"
/* Users first, then nested groups (type Group), each in the order added. */
#define GROUP_MEMBERS							\
	"(SELECT coalesce(json_agg(x.j ORDER BY x.k, x.c, x.i), '[]') "	\
	"FROM (SELECT json_build_object('value', m.user_id, 'display', "\
	"coalesce(u.display_name, u.user_name), 'type', 'User') AS j, "	\
	"0 AS k, m.created_at AS c, m.user_id AS i FROM memberships m "	\
	"JOIN users u ON u.id = m.user_id WHERE m.group_id = groups.id "\
	"UNION ALL SELECT json_build_object('value', n.member_group_id, "\
	"'display', c.display_name, 'type', 'Group'), 1, n.created_at, "\
	"n.member_group_id FROM group_nestings n JOIN groups c ON c.id "\
	"= n.member_group_id AND c.deleted_at IS NULL WHERE "		\
	"n.group_id = groups.id) x)"

const char *
ss_tbl(enum scim_resource type)
{
	return (type == SCIM_RES_USER ? "users" : "groups");
}

const char *
ss_kind(enum scim_resource type)
{
	return (type == SCIM_RES_USER ? "user" : "group");
}

/* store_exec with the outcome in SCIM terms. */
int
ss_sx(PGconn *conn, struct scim_store_req *rq, const char *sql, int n,
    const char *const *p, PGresult **res, struct scim_err *err)
{
	struct store_err	serr;

	memset(&serr, 0, sizeof(serr));
	if (store_exec(conn, sql, n, p, res, &serr) == 0)
		return (0);
	if (serr.outcome == STORE_RETRY) {
		rq->retry = 1;
		return (scim_err_set(err, 503, NULL, "The request collided "
		    "with a concurrent change; retry it."));
	}
	if (serr.status == 503)
		return (scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later."));
	if (serr.status == 409)
		return (scim_err_set(err, 409, SCIM_ERR_UNIQUENESS, "%s",
		    serr.msg));
	if (serr.status == 400)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "%s",
		    serr.msg));
	return (scim_err_set(err, 500, NULL, "%s", serr.msg));
}

/* The resource in row i (COLS, then optionally the refs column). */
json_t *
ss_row_resource(enum scim_resource type, const char *base, PGresult *res,
    int i)
{
	json_t		*doc, *out, *refs, *r;
	const char	*id, *coll, *rcoll;
	char		 loc[2048], ver[32], ref[2048];
	size_t		 j;

	if ((doc = json_loads(PQgetvalue(res, i, 1), 0, NULL)) == NULL)
		return (NULL);
	id = PQgetvalue(res, i, 0);
	coll = type == SCIM_RES_USER ? "Users" : "Groups";
	rcoll = type == SCIM_RES_USER ? "Groups" : "Users";
	(void)snprintf(loc, sizeof(loc), "%s/%s/%s", base, coll, id);
	(void)snprintf(ver, sizeof(ver), "W/\"%s\"", PQgetvalue(res, i, 4));

	if ((out = json_object()) == NULL)
		goto fail;
	if (json_object_set(out, "schemas", json_object_get(doc,
	    "schemas")) == -1 ||
	    json_object_set_new(out, "id", json_string(id)) == -1 ||
	    json_object_update(out, doc) == -1 ||
	    json_object_set_new(out, "meta", json_pack("{s:s, s:s, s:s, "
	    "s:s, s:s}", "resourceType", type == SCIM_RES_USER ? "User" :
	    "Group", "created", PQgetvalue(res, i, 2), "lastModified",
	    PQgetvalue(res, i, 3), "location", loc, "version", ver)) == -1)
		goto fail;

	if (PQnfields(res) > 5 && !PQgetisnull(res, i, 5)) {
		if ((refs = json_loads(PQgetvalue(res, i, 5), 0, NULL)) == NULL)
			goto fail;
		json_array_foreach(refs, j, r) {
			(void)snprintf(ref, sizeof(ref), "%s/%s/%s", base,
			    rcoll, json_string_value(json_object_get(r,
			    "value")));
			(void)json_object_set_new(r, "$ref", json_string(ref));
		}
		if (type == SCIM_RES_GROUP || json_array_size(refs) > 0) {
			if (json_object_set_new(out, type == SCIM_RES_USER ?
			    "groups" : "members", refs) == -1)
				goto fail;
		} else {
			json_decref(refs);
		}
	}
	json_decref(doc);
	return (out);

fail:
	json_decref(doc);
	json_decref(out);
	return (NULL);
}

int
ss_load(PGconn *conn, struct scim_store_req *rq, enum scim_resource type,
    const char *id, int with_refs, json_t **out, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 dir[24], sql[1024];

	*out = NULL;
	if (!rc_is_uuid(id))
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", ss_kind(type), id));
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	(void)snprintf(sql, sizeof(sql), "SELECT " COLS ", %s FROM %s WHERE "
	    "id = $1::uuid AND directory_id = $2 AND deleted_at IS NULL",
	    !with_refs ? "NULL" : type == SCIM_RES_USER ? USER_GROUPS :
	    GROUP_MEMBERS, ss_tbl(type));
	p[0] = id;
	p[1] = dir;
	if (ss_sx(conn, rq, sql, 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", ss_kind(type), id));
	}
	*out = ss_row_resource(type, rq->base, res, 0);
	PQclear(res);
	if (*out == NULL)
		return (scim_err_set(err, 500, NULL, "Cannot read the stored "
		    "%s.", ss_kind(type)));
	return (0);
}

int
scim_store_get(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const char *id, int with_refs, json_t **out,
    struct scim_err *err)
{
	return (ss_load(conn, rq, type, id, with_refs, out, err));
}

/*
 * ORDER BY expression for sortBy.  Only names from the schema tables
 * reach the SQL text, never client input.
 */
static void
sort_expr(enum scim_resource type, const struct scim_attr_ref *ref,
    char *buf, size_t len)
{
	const char	*a, *s;
	char		 base[256];

	a = ref->attr->name;
	s = ref->sub ? ref->sub->name : NULL;
	if (!ref->schema->extension && s == NULL) {
		if (strcmp(a, "id") == 0) {
			(void)snprintf(buf, len, "id::text");
			return;
		}
		if (strcmp(a, "userName") == 0 && type == SCIM_RES_USER) {
			(void)snprintf(buf, len, "lower(user_name)");
			return;
		}
		if (strcmp(a, "displayName") == 0) {
			(void)snprintf(buf, len, "lower(display_name)");
			return;
		}
		if (strcmp(a, "externalId") == 0) {
			(void)snprintf(buf, len, "external_id");
			return;
		}
	}
	if (strcmp(a, "meta") == 0 && s != NULL) {
		(void)snprintf(buf, len, "%s", strcmp(s, "lastModified") == 0 ?
		    "updated_at" : "created_at");
		return;
	}
	if (ref->schema->extension)
		(void)snprintf(base, sizeof(base), "doc->'%s'->'%s'",
		    ref->schema->urn, a);
	else
		(void)snprintf(base, sizeof(base), "doc->'%s'", a);
	if (ref->attr->multi_valued) {
		/* RFC 7644 3.4.2.3: the primary (else first) value. */
		(void)snprintf(buf, len, "(SELECT lower(e->>'%s') FROM "
		    "jsonb_array_elements(CASE WHEN jsonb_typeof(%s) = 'array' "
		    "THEN %s ELSE '[]'::jsonb END) WITH ORDINALITY AS x(e, o) "
		    "ORDER BY coalesce((e->>'primary')::boolean, false) DESC, "
		    "o LIMIT 1)", s ? s : "value", base, base);
		return;
	}
	if (s != NULL)
		(void)snprintf(buf, len, "lower(%s->>'%s')", base, s);
	else
		(void)snprintf(buf, len, "lower(%s #>> '{}')", base);
}

int
scim_store_list(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const struct scim_store_query *q, json_t **out,
    long *total, struct scim_err *err)
{
	PGresult	*res, *cres;
	const char	**p;
	char		 dir[24], lim[24], off[24], order[1024], *sql;
	json_t		*r;
	size_t		 i, np;
	int		 rows, n;

	*out = NULL;
	*total = 0;
	np = q->nparams + 3;
	if ((p = calloc(np, sizeof(*p))) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	(void)snprintf(lim, sizeof(lim), "%ld", q->count);
	(void)snprintf(off, sizeof(off), "%ld", q->start - 1);
	p[0] = dir;
	for (i = 0; i < q->nparams; i++)
		p[i + 1] = q->params[i];
	p[q->nparams + 1] = lim;
	p[q->nparams + 2] = off;

	order[0] = '\0';
	if (q->sort != NULL)
		sort_expr(type, q->sort, order, sizeof(order));

	n = asprintf(&sql, "SELECT " COLS ", %s FROM %s "
	    "WHERE directory_id = $1 AND deleted_at IS NULL AND (%s) "
	    "ORDER BY %s%s%s created_at %s, id %s LIMIT $%zu OFFSET $%zu",
	    !q->with_refs ? "NULL" : type == SCIM_RES_USER ? USER_GROUPS :
	    GROUP_MEMBERS, ss_tbl(type), q->where ? q->where : "TRUE",
	    order, order[0] ? (q->descending ? " DESC" : " ASC") : "",
	    order[0] ? "," : "", q->descending ? "DESC" : "ASC",
	    q->descending ? "DESC" : "ASC", q->nparams + 2, q->nparams + 3);
	if (n == -1) {
		free(p);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	if (ss_sx(conn, rq, sql, (int)np, p, &res, err) == -1) {
		free(sql);
		free(p);
		return (-1);
	}
	free(sql);

	/*
	 * A page that is not full ends the list, so the total is known
	 * (Entra's "filter=userName eq" lookups: one round trip).  Else
	 * count apart: an index-only scan, where count(*) OVER () would
	 * read every matching row.
	 */
	rows = PQntuples(res);
	if (rows < q->count && (rows > 0 || q->start == 1)) {
		*total = q->start - 1 + rows;
	} else {
		n = asprintf(&sql, "SELECT count(*) FROM %s WHERE "
		    "directory_id = $1 AND deleted_at IS NULL AND (%s)",
		    ss_tbl(type), q->where ? q->where : "TRUE");
		if (n == -1) {
			free(p);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		if (ss_sx(conn, rq, sql, (int)q->nparams + 1, p, &cres, err) ==
		    -1) {
			free(sql);
			free(p);
			PQclear(res);
			return (-1);
		}
		free(sql);
		*total = atol(PQgetvalue(cres, 0, 0));
		PQclear(cres);
	}
	free(p);

	if ((*out = json_array()) == NULL) {
		PQclear(res);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	for (n = 0; n < rows; n++) {
		if ((r = ss_row_resource(type, rq->base, res, n)) == NULL ||
		    json_array_append_new(*out, r) == -1) {
			PQclear(res);
			json_decref(*out);
			*out = NULL;
			return (scim_err_set(err, 500, NULL, "Cannot read the "
			    "stored %ss.", ss_kind(type)));
		}
	}
	PQclear(res);
	return (0);
}
