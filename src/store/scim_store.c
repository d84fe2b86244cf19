/*
 * scim_store: see scim_store.h.
 *
 * Concurrency: a write locks the resource's row (SELECT ... FOR UPDATE)
 * before it reads the document it changes, so two PATCHes of one group
 * apply one after the other and neither loses the other's members.
 * Users named as new members are locked FOR SHARE, so a concurrent
 * DELETE of one of them either happens first (and the PATCH answers
 * 400) or waits until the membership exists (and then removes it).
 * Member changes are set-based (one statement per kind of change with
 * the ids as a uuid[] parameter) so ten thousand members cost a few
 * statements, not ten thousand.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idkey.h"
#include "idkey_store.h"
#include "scim_patch.h"
#include "scim_store.h"
#include "util.h"

#define TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define COLS	"id, doc, " TS("created_at") ", " TS("updated_at") \
		", version"

/* A user's groups / a group's members, as JSON (the refs column). */
#define USER_GROUPS							\
	"(SELECT coalesce(json_agg(json_build_object('value', g.id, "	\
	"'display', g.display_name, 'type', 'direct') ORDER BY "	\
	"g.display_name, g.id), '[]') FROM memberships m JOIN groups g "\
	"ON g.id = m.group_id WHERE m.user_id = users.id AND "		\
	"g.deleted_at IS NULL)"
#define GROUP_MEMBERS							\
	"(SELECT coalesce(json_agg(json_build_object('value', m.user_id, "\
	"'display', coalesce(u.display_name, u.user_name), 'type', "	\
	"'User') ORDER BY m.created_at, m.user_id), '[]') FROM "	\
	"memberships m JOIN users u ON u.id = m.user_id WHERE "		\
	"m.group_id = groups.id)"

/* The columns Entra matches on, derived from the document d. */
#define USER_DERIVED							\
	"d->>'userName', d->>'externalId', d->>'displayName', "		\
	"coalesce((d->>'active')::boolean, true), ARRAY(SELECT "	\
	"lower(e->>'value') FROM jsonb_array_elements(CASE WHEN "	\
	"jsonb_typeof(d->'emails') = 'array' THEN d->'emails' ELSE "	\
	"'[]'::jsonb END) e WHERE e->>'value' IS NOT NULL)"

/* The stored emails keys: one per emails element, from a JSON array $n. */
#define EMAILS_KEY(n)							\
	"ARRAY(SELECT t.v FROM jsonb_array_elements_text(" n "::jsonb) "\
	"WITH ORDINALITY AS t(v, o) ORDER BY t.o)"

enum member_mode {
	MEMBERS_ONLY,		/* delete the listed ids */
	MEMBERS_ALL,		/* delete every member */
	MEMBERS_EXCEPT		/* delete every member not listed */
};

static int	 sx(PGconn *, struct scim_store_req *, const char *, int,
		    const char *const *, PGresult **, struct scim_err *);
static const char *tbl(enum scim_resource);
static const char *kind(enum scim_resource);
static json_t	*row_resource(enum scim_resource, const char *, PGresult *,
		    int);
static int	 load(PGconn *, struct scim_store_req *, enum scim_resource,
		    const char *, int, json_t **, struct scim_err *);
static int	 lock_row(PGconn *, struct scim_store_req *,
		    enum scim_resource, const char *, json_t **, long long *,
		    struct scim_err *);
static int	 etag_match(const char *, long long);
static int	 write_doc(PGconn *, struct scim_store_req *,
		    enum scim_resource, const char *, const json_t *,
		    const json_t *, struct scim_err *);
static int	 taken(enum scim_resource, const json_t *, struct scim_err *);
static int	 user_keys(const json_t *, const json_t *, char **, char **,
		    struct scim_err *);
static char	*uuid_array(char *const *, size_t, int, struct scim_err *,
		    size_t *);
static int	 uuid_cmp(const void *, const void *);
static int	 members_check(PGconn *, struct scim_store_req *,
		    const char *, struct scim_err *);
static int	 members_add(PGconn *, struct scim_store_req *, const char *,
		    const char *, long *, struct scim_err *);
static int	 members_remove(PGconn *, struct scim_store_req *,
		    const char *, enum member_mode, const char *, long *,
		    struct scim_err *);
static int	 doc_members(const json_t *, char ***, size_t *,
		    struct scim_err *);
static void	 strv_free(char **, size_t);
static json_t	*user_record(const char *, int64_t, const json_t *, int);
static json_t	*group_record(const char *, int64_t, const json_t *, int);
static int	 active_of(const json_t *);
static int	 identity_differs(const json_t *, const json_t *);
static json_t	*doc_diff(const json_t *, const json_t *);
static json_t	*doc_stored(enum scim_resource, const json_t *,
		    struct scim_err *);
static int	 commit_unchanged(PGconn *, struct scim_store_req *,
		    struct scim_err *);
static int	 end_write(PGconn *, struct scim_store_req *,
		    enum scim_resource, const char *, const char *, json_t *,
		    struct scim_err *);

static const char *
tbl(enum scim_resource type)
{
	return (type == SCIM_RES_USER ? "users" : "groups");
}

static const char *
kind(enum scim_resource type)
{
	return (type == SCIM_RES_USER ? "user" : "group");
}

/* store_exec with the outcome in SCIM terms. */
static int
sx(PGconn *conn, struct scim_store_req *rq, const char *sql, int n,
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
static json_t *
row_resource(enum scim_resource type, const char *base, PGresult *res, int i)
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

static int
load(PGconn *conn, struct scim_store_req *rq, enum scim_resource type,
    const char *id, int with_refs, json_t **out, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 dir[24], sql[1024];

	*out = NULL;
	if (!rc_is_uuid(id))
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	(void)snprintf(sql, sizeof(sql), "SELECT " COLS ", %s FROM %s WHERE "
	    "id = $1::uuid AND directory_id = $2 AND deleted_at IS NULL",
	    !with_refs ? "NULL" : type == SCIM_RES_USER ? USER_GROUPS :
	    GROUP_MEMBERS, tbl(type));
	p[0] = id;
	p[1] = dir;
	if (sx(conn, rq, sql, 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	}
	*out = row_resource(type, rq->base, res, 0);
	PQclear(res);
	if (*out == NULL)
		return (scim_err_set(err, 500, NULL, "Cannot read the stored "
		    "%s.", kind(type)));
	return (0);
}

int
scim_store_get(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const char *id, int with_refs, json_t **out,
    struct scim_err *err)
{
	return (load(conn, rq, type, id, with_refs, out, err));
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
	    GROUP_MEMBERS, tbl(type), q->where ? q->where : "TRUE",
	    order, order[0] ? (q->descending ? " DESC" : " ASC") : "",
	    order[0] ? "," : "", q->descending ? "DESC" : "ASC",
	    q->descending ? "DESC" : "ASC", q->nparams + 2, q->nparams + 3);
	if (n == -1) {
		free(p);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	if (sx(conn, rq, sql, (int)np, p, &res, err) == -1) {
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
		    tbl(type), q->where ? q->where : "TRUE");
		if (n == -1) {
			free(p);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		if (sx(conn, rq, sql, (int)q->nparams + 1, p, &cres, err) ==
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
		if ((r = row_resource(type, rq->base, res, n)) == NULL ||
		    json_array_append_new(*out, r) == -1) {
			PQclear(res);
			json_decref(*out);
			*out = NULL;
			return (scim_err_set(err, 500, NULL, "Cannot read the "
			    "stored %ss.", kind(type)));
		}
	}
	PQclear(res);
	return (0);
}

/* 1 when an If-Match header value names version (or is "*"). */
static int
etag_match(const char *h, long long version)
{
	const char	*s;
	char		*end;
	long long	 v;

	for (s = h; *s != '\0';) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		if (*s == '*')
			return (1);
		if (strncasecmp(s, "W/", 2) == 0)
			s += 2;
		if (*s == '"')
			s++;
		v = strtoll(s, &end, 10);
		if (end != s && (*end == '"' || *end == ',' || *end == ' ' ||
		    *end == '\0') && v == version)
			return (1);
		while (*s != '\0' && *s != ',')
			s++;
	}
	return (0);
}

/* Locks the live row; *doc is its stored document. */
static int
lock_row(PGconn *conn, struct scim_store_req *rq, enum scim_resource type,
    const char *id, json_t **doc, long long *version, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 dir[24], sql[256];

	*doc = NULL;
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	(void)snprintf(sql, sizeof(sql), "SELECT doc, version FROM %s WHERE "
	    "id = $1::uuid AND directory_id = $2 AND deleted_at IS NULL "
	    "FOR UPDATE", tbl(type));
	p[0] = id;
	p[1] = dir;
	if (sx(conn, rq, sql, 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	}
	*version = atoll(PQgetvalue(res, 0, 1));
	*doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (*doc == NULL)
		return (scim_err_set(err, 500, NULL, "Cannot read the stored "
		    "%s.", kind(type)));
	if (rq->if_match != NULL && !etag_match(rq->if_match, *version)) {
		json_decref(*doc);
		*doc = NULL;
		return (scim_err_set(err, 412, NULL, "The %s was changed "
		    "since version %.64s was read (it is now W/\"%lld\"); "
		    "read it again.", kind(type), rq->if_match, *version));
	}
	return (0);
}

/* The 409 detail for a unique-index violation on doc. */
static int
taken(enum scim_resource type, const json_t *doc, struct scim_err *err)
{
	if (type == SCIM_RES_USER)
		return (scim_err_set(err, 409, SCIM_ERR_UNIQUENESS, "userName "
		    "'%.100s' is already used by another user in this "
		    "directory (compared after Unicode NFC normalisation and "
		    "case folding).",
		    json_string_value(json_object_get(doc, "userName"))));
	return (scim_err_set(err, 409, SCIM_ERR_UNIQUENESS, "displayName "
	    "'%.100s' is already used by another group in this directory "
	    "(compared case-insensitively).",
	    json_string_value(json_object_get(doc, "displayName"))));
}

/* 1 when the string s is one of the "value"s of the emails array. */
static int
email_in(const json_t *emails, const char *s)
{
	const json_t	*e, *v;
	size_t		 i;

	json_array_foreach(emails, i, e) {
		v = json_object_get(e, "value");
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return (1);
	}
	return (0);
}

/*
 * The identity keys of user document doc (idkey_store.h), refusing a
 * new userName or email that begins or ends with white space: "alice@x "
 * would be a second user that looks like "alice@x".  A value already
 * stored that way (old, NULL on create) is kept, so a disable of such a
 * user still goes through.
 */
static int
user_keys(const json_t *doc, const json_t *old, char **nk, char **ek,
    struct scim_err *err)
{
	const json_t	*v, *e, *ov;
	const char	*why;
	char		 what[64];
	size_t		 i;

	*nk = *ek = NULL;
	v = json_object_get(doc, "userName");
	ov = old != NULL ? json_object_get(old, "userName") : NULL;
	if (json_is_string(v) && idkey_edge_space(json_string_value(v),
	    json_string_length(v)) && !json_equal(v, ov))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute 'userName' must not begin or end with white "
		    "space; send it trimmed."));
	json_array_foreach(json_object_get(doc, "emails"), i, e) {
		v = json_object_get(e, "value");
		if (json_is_string(v) && idkey_edge_space(json_string_value(v),
		    json_string_length(v)) && (old == NULL ||
		    !email_in(json_object_get(old, "emails"),
		    json_string_value(v))))
			return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "Attribute 'emails[%zu].value' must not begin or "
			    "end with white space; send it trimmed.", i));
	}
	if (idkey_store_user_keys(doc, nk, ek, what, sizeof(what), &why) == -1)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute '%s' %s.", what, why));
	return (0);
}

/* UPDATE the row's document and the columns derived from it. */
static int
write_doc(PGconn *conn, struct scim_store_req *rq, enum scim_resource type,
    const char *id, const json_t *old, const json_t *doc,
    struct scim_err *err)
{
	const char	*p[4];
	char		*text, *nk, *ek;
	int		 rc;

	nk = ek = NULL;
	if (type == SCIM_RES_USER && user_keys(doc, old, &nk, &ek, err) == -1)
		return (-1);
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		free(nk);
		free(ek);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	p[0] = id;
	p[1] = text;
	p[2] = nk;
	p[3] = ek;
	if (type == SCIM_RES_USER)
		rc = sx(conn, rq, "UPDATE users SET (user_name, external_id, "
		    "display_name, active, emails_lc) = (SELECT " USER_DERIVED
		    "), doc = d, user_name_key = $3, emails_key = "
		    EMAILS_KEY("$4") ", version = version + 1, "
		    "updated_at = now() FROM (SELECT $2::jsonb AS d) s "
		    "WHERE id = $1::uuid", 4, p, NULL, err);
	else
		rc = sx(conn, rq, "UPDATE groups SET display_name = "
		    "d->>'displayName', external_id = d->>'externalId', "
		    "doc = d, version = version + 1, updated_at = now() "
		    "FROM (SELECT $2::jsonb AS d) s WHERE id = $1::uuid",
		    2, p, NULL, err);
	free(text);
	free(nk);
	free(ek);
	if (rc == -1 && err->status == 409)
		return (taken(type, doc, err));
	return (rc);
}

static void
strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * A PostgreSQL uuid[] literal of ids.  With strict, an id that is not a
 * UUID is 400 (it cannot name a user); otherwise it is skipped (it
 * cannot be a member either).  *n gets the number of ids kept.
 */
static char *
uuid_array(char *const *ids, size_t nids, int strict, struct scim_err *err,
    size_t *n)
{
	char	*out, *o;
	size_t	 i, j;

	*n = 0;
	if ((out = malloc(nids * 37 + 3)) == NULL) {
		(void)scim_err_set(err, 500, NULL, "Out of memory.");
		return (NULL);
	}
	o = out;
	*o++ = '{';
	for (i = 0; i < nids; i++) {
		if (!rc_is_uuid(ids[i])) {
			if (!strict)
				continue;
			free(out);
			(void)scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "Member '%.64s' is not a user id of this "
			    "directory; members are added by the id the user "
			    "got when it was created.", ids[i]);
			return (NULL);
		}
		if (*n > 0)
			*o++ = ',';
		/* Lower case, as PostgreSQL prints uuids. */
		for (j = 0; j < 36; j++)
			*o++ = (char)tolower((unsigned char)ids[i][j]);
		(*n)++;
	}
	*o++ = '}';
	*o = '\0';
	return (out);
}

static int
uuid_cmp(const void *a, const void *b)
{
	return (strncmp(*(const char *const *)a, *(const char *const *)b, 36));
}

/*
 * 400 unless every id in arr (n ids, lower case) is a live user of the
 * directory; those users stay locked FOR SHARE until COMMIT.  The ids
 * found come back and the first missing one is found here by a sorted
 * merge: no anti-join whose plan depends on fresh statistics.
 */
static int
members_check(PGconn *conn, struct scim_store_req *rq, const char *arr,
    struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2], **want, **have, *missing;
	char		 dir[24];
	size_t		 nwant, nhave, i, j, k, unknown;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	p[0] = arr;
	p[1] = dir;
	if (sx(conn, rq, "SELECT id::text FROM users WHERE id = "
	    "ANY($1::uuid[]) AND directory_id = $2 AND deleted_at IS NULL "
	    "FOR SHARE", 2, p, &res, err) == -1)
		return (-1);

	/* arr is "{id,id,...}" with 36-byte ids. */
	nwant = (strlen(arr) - 1) / 37;
	nhave = (size_t)PQntuples(res);
	want = calloc(nwant + 1, sizeof(*want));
	have = calloc(nhave + 1, sizeof(*have));
	if (want == NULL || have == NULL) {
		free(want);
		free(have);
		PQclear(res);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	for (i = 0; i < nwant; i++)
		want[i] = arr + 1 + i * 37;
	for (i = 0; i < nhave; i++)
		have[i] = PQgetvalue(res, (int)i, 0);
	qsort(want, nwant, sizeof(*want), uuid_cmp);
	qsort(have, nhave, sizeof(*have), uuid_cmp);

	missing = NULL;
	unknown = 0;
	for (i = j = 0; i < nwant; i = k) {
		/* Skip repeats of want[i]. */
		for (k = i + 1; k < nwant && strncmp(want[k], want[i], 36) == 0;
		    k++)
			;
		while (j < nhave && strncmp(have[j], want[i], 36) < 0)
			j++;
		if (j < nhave && strncmp(have[j], want[i], 36) == 0)
			continue;
		if (missing == NULL)
			missing = want[i];
		unknown++;
	}
	if (missing != NULL)
		(void)scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "No user "
		    "with id '%.36s' in this directory (%zu unknown id%s in "
		    "all); nothing was changed.  Provision the users before "
		    "adding them to the group.", missing, unknown,
		    unknown == 1 ? "" : "s");
	free(want);
	free(have);
	PQclear(res);
	return (missing != NULL ? -1 : 0);
}

static int
members_add(PGconn *conn, struct scim_store_req *rq, const char *gid,
    const char *arr, long *added, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2];
	int		 i;

	p[0] = gid;
	p[1] = arr;
	if (sx(conn, rq, "INSERT INTO memberships (group_id, user_id) "
	    "SELECT $1::uuid, u FROM unnest($2::uuid[]) u "
	    "ON CONFLICT DO NOTHING RETURNING user_id::text", 2, p, &res,
	    err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++)
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "member", "group", gid, "user",
		    PQgetvalue(res, i, 0), "present", 1));
	*added += PQntuples(res);
	PQclear(res);
	return (0);
}

static int
members_remove(PGconn *conn, struct scim_store_req *rq, const char *gid,
    enum member_mode mode, const char *arr, long *removed,
    struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2], *sql, *uid;
	int		 i;

	p[0] = gid;
	p[1] = arr;
	switch (mode) {
	case MEMBERS_ALL:
		sql = "DELETE FROM memberships WHERE group_id = $1::uuid "
		    "RETURNING user_id::text";
		break;
	case MEMBERS_EXCEPT:
		sql = "DELETE FROM memberships m WHERE m.group_id = $1::uuid "
		    "AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[]) u WHERE "
		    "u = m.user_id) RETURNING m.user_id::text";
		break;
	default:
		/* A join, not "= ANY": that scans the array per row. */
		sql = "DELETE FROM memberships m USING unnest($2::uuid[]) u "
		    "WHERE m.group_id = $1::uuid AND m.user_id = u "
		    "RETURNING m.user_id::text";
		break;
	}
	if (sx(conn, rq, sql, mode == MEMBERS_ALL ? 1 : 2, p, &res, err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++) {
		uid = PQgetvalue(res, i, 0);
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "member", "group", gid, "user", uid,
		    "present", 0));
		store_changes_revoke(rq->changes, rq->directory_id,
		    "membership.removed", uid, json_pack("{s:s}", "group",
		    gid));
	}
	*removed += PQntuples(res);
	PQclear(res);
	return (0);
}

/* The member ids of a normalised group document (PUT, POST). */
static int
doc_members(const json_t *doc, char ***ids, size_t *n, struct scim_err *err)
{
	const json_t	*members, *m, *v;
	size_t		 i;

	*ids = NULL;
	*n = 0;
	members = json_object_get(doc, "members");
	if (!json_is_array(members) || json_array_size(members) == 0)
		return (0);
	if (json_array_size(members) > SCIM_PATCH_MAX_MEMBERS)
		return (scim_err_set(err, 413, SCIM_ERR_TOO_MANY, "At most %d "
		    "members may be sent in one request.",
		    SCIM_PATCH_MAX_MEMBERS));
	if ((*ids = calloc(json_array_size(members), sizeof(**ids))) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	json_array_foreach(members, i, m) {
		v = json_object_get(m, "value");
		if (!json_is_string(v)) {
			strv_free(*ids, *n);
			*ids = NULL;
			*n = 0;
			return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "members[%zu] needs a \"value\" with the user's "
			    "id.", i));
		}
		if (((*ids)[*n] = strdup(json_string_value(v))) == NULL) {
			strv_free(*ids, *n);
			*ids = NULL;
			*n = 0;
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		(*n)++;
	}
	return (0);
}

static int
active_of(const json_t *doc)
{
	return (!json_is_false(json_object_get(doc, "active")));
}

static int
identity_differs(const json_t *a, const json_t *b)
{
	static const char *const	keys[] = { "userName", "externalId",
	    "emails" };
	const json_t			*x, *y;
	size_t				 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		x = json_object_get(a, keys[i]);
		y = json_object_get(b, keys[i]);
		if ((x == NULL) != (y == NULL) ||
		    (x != NULL && !json_equal(x, y)))
			return (1);
	}
	return (active_of(a) != active_of(b));
}

/* The policy index's view of a user (changes.h). */
static json_t *
user_record(const char *id, int64_t dir, const json_t *doc, int deleted)
{
	json_t		*emails, *e, *v;
	size_t		 i;

	if ((emails = json_array()) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(doc, "emails"), i, e) {
		if (json_is_string(v = json_object_get(e, "value")))
			(void)json_array_append(emails, v);
	}
	return (json_pack("{s:s, s:s, s:I, s:O?, s:O?, s:o, s:b, s:b}",
	    "kind", "user", "id", id, "directory_id", (json_int_t)dir,
	    "userName", json_object_get(doc, "userName"), "externalId",
	    json_object_get(doc, "externalId"), "emails", emails,
	    "active", active_of(doc) && !deleted, "deleted", deleted));
}

static json_t *
group_record(const char *id, int64_t dir, const json_t *doc, int deleted)
{
	return (json_pack("{s:s, s:s, s:I, s:O?, s:b}", "kind", "group",
	    "id", id, "directory_id", (json_int_t)dir, "displayName",
	    json_object_get(doc, "displayName"), "deleted", deleted));
}

/* {"attr": {"before": x, "after": y}} for every top-level difference. */
static json_t *
doc_diff(const json_t *before, const json_t *after)
{
	json_t		*out, *b, *a;
	const char	*key;

	if ((out = json_object()) == NULL)
		return (NULL);
	json_object_foreach((json_t *)(uintptr_t)before, key, b) {
		a = json_object_get(after, key);
		if (a == NULL || !json_equal(a, b))
			(void)json_object_set_new(out, key, json_pack("{s:O, "
			    "s:O?}", "before", b, "after", a));
	}
	json_object_foreach((json_t *)(uintptr_t)after, key, a) {
		if (json_object_get(before, key) == NULL)
			(void)json_object_set_new(out, key, json_pack("{s:n, "
			    "s:O}", "before", "after", a));
	}
	return (out);
}

/*
 * What is stored of a normalised client document: no members (table),
 * no password (we authenticate nobody, so we keep no secret), and
 * active spelled out so Entra's periodic "active: True" is a no-op.
 */
static json_t *
doc_stored(enum scim_resource type, const json_t *doc, struct scim_err *err)
{
	json_t	*d;

	if ((d = json_deep_copy(doc)) == NULL) {
		(void)scim_err_set(err, 500, NULL, "Out of memory.");
		return (NULL);
	}
	(void)json_object_del(d, "id");
	(void)json_object_del(d, "meta");
	if (type == SCIM_RES_GROUP) {
		(void)json_object_del(d, "members");
	} else {
		(void)json_object_del(d, "password");
		(void)json_object_del(d, "groups");
		if (json_object_get(d, "active") == NULL)
			(void)json_object_set_new(d, "active", json_true());
	}
	return (d);
}

/* COMMIT of a transaction that wrote nothing. */
static int
commit_unchanged(PGconn *conn, struct scim_store_req *rq,
    struct scim_err *err)
{
	return (sx(conn, rq, "COMMIT", 0, NULL, NULL, err));
}

/*
 * The write protocol's last step (store.h: flush, audit, COMMIT, rolled
 * back on failure), its outcome in SCIM terms.  summary is borrowed.
 */
static int
end_write(PGconn *conn, struct scim_store_req *rq, enum scim_resource type,
    const char *action, const char *id, json_t *summary, struct scim_err *err)
{
	struct store_err	serr;

	memset(&serr, 0, sizeof(serr));
	switch (store_finish(conn, rq->changes, rq->actor, rq->directory_id,
	    action, type == SCIM_RES_USER ? "User" : "Group", id,
	    json_incref(summary), &serr)) {
	case STORE_OK:
		return (0);
	case STORE_RETRY:
		rq->retry = 1;
		break;
	default:
		break;
	}

	return (scim_err_set(err, serr.status == 503 ? 503 : 500, NULL,
	    "Cannot record the change: %s", serr.msg));
}

int
scim_store_create(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const json_t *doc, json_t **out,
    struct scim_err *err)
{
	struct store_err	 serr;
	PGresult		*res;
	json_t			*d, *summary, *empty;
	const char		*p[4];
	char			 dir[24], id[40], *text, **ids, *arr, *nk, *ek;
	size_t			 nids, n;
	long			 added;
	int			 rc;

	*out = NULL;
	arr = NULL;
	ids = NULL;
	nids = 0;
	n = 0;
	if (type == SCIM_RES_GROUP) {
		if (doc_members(doc, &ids, &nids, err) == -1)
			return (-1);
		arr = uuid_array(ids, nids, 1, err, &n);
		strv_free(ids, nids);
		if (arr == NULL)
			return (-1);
	}
	if ((d = doc_stored(type, doc, err)) == NULL) {
		free(arr);
		return (-1);
	}
	/* Nothing the policy index could not hold is ever written. */
	if (scim_schema_check_stored(type, NULL, d, err) == -1) {
		json_decref(d);
		free(arr);
		return (-1);
	}
	nk = ek = NULL;
	if (type == SCIM_RES_USER && user_keys(d, NULL, &nk, &ek, err) == -1) {
		json_decref(d);
		free(arr);
		return (-1);
	}
	if ((text = json_dumps(d, JSON_COMPACT)) == NULL) {
		json_decref(d);
		free(arr);
		free(nk);
		free(ek);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}

	memset(&serr, 0, sizeof(serr));
	if (store_begin(conn, &serr) == -1) {
		free(text);
		json_decref(d);
		free(arr);
		free(nk);
		free(ek);
		return (scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later."));
	}
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	p[0] = dir;
	p[1] = text;
	p[2] = nk;
	p[3] = ek;
	if (type == SCIM_RES_USER)
		rc = sx(conn, rq, "INSERT INTO users (directory_id, user_name, "
		    "external_id, display_name, active, emails_lc, doc, "
		    "user_name_key, emails_key) SELECT $1, " USER_DERIVED ", d, "
		    "$3, " EMAILS_KEY("$4") " FROM (SELECT $2::jsonb AS d) s "
		    "RETURNING " COLS, 4, p, &res, err);
	else
		rc = sx(conn, rq, "INSERT INTO groups (directory_id, "
		    "display_name, external_id, doc) SELECT $1, "
		    "d->>'displayName', d->>'externalId', d FROM (SELECT "
		    "$2::jsonb AS d) s RETURNING id::text", 2, p, &res, err);
	free(text);
	free(nk);
	free(ek);
	if (rc == -1) {
		if (err->status == 409)
			(void)taken(type, d, err);
		goto fail;
	}
	rc_strlcpy(id, PQgetvalue(res, 0, 0), sizeof(id));
	/* A new user is in no group: the row is the whole resource. */
	if (type == SCIM_RES_USER &&
	    (*out = row_resource(type, rq->base, res, 0)) == NULL) {
		PQclear(res);
		(void)scim_err_set(err, 500, NULL, "Out of memory.");
		goto fail;
	}
	PQclear(res);

	if (type == SCIM_RES_USER) {
		store_changes_add(rq->changes, user_record(id,
		    rq->directory_id, d, 0));
	} else {
		store_changes_add(rq->changes, group_record(id,
		    rq->directory_id, d, 0));
		added = 0;
		if (n > 0 && (members_check(conn, rq, arr, err) == -1 ||
		    members_add(conn, rq, id, arr, &added, err) == -1))
			goto fail;
	}
	empty = json_object();
	summary = doc_diff(empty, d);
	json_decref(empty);
	if (type == SCIM_RES_GROUP && n > 0)
		(void)json_object_set_new(summary, "members", json_pack("{s:I}",
		    "added", (json_int_t)n));
	rc = type == SCIM_RES_USER ? 0 : load(conn, rq, type, id, 1, out, err);
	if (rc == -1 || end_write(conn, rq, type, type == SCIM_RES_USER ?
	    "scim.user.create" : "scim.group.create", id, summary,
	    err) == -1) {
		json_decref(summary);
		json_decref(*out);
		*out = NULL;
		goto fail;
	}
	json_decref(summary);
	json_decref(d);
	free(arr);
	return (0);

fail:
	store_rollback(conn);
	json_decref(*out);
	*out = NULL;
	json_decref(d);
	free(arr);
	return (-1);
}

int
scim_store_replace(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const char *id, const json_t *doc,
    json_t **out, struct scim_err *err)
{
	struct store_err	 serr;
	json_t			*old, *d, *summary;
	char			**ids, *arr;
	size_t			 nids, n;
	long long		 version;
	long			 added, removed;

	*out = NULL;
	old = NULL;
	arr = NULL;
	n = 0;
	if (!rc_is_uuid(id))
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	if (type == SCIM_RES_GROUP) {
		if (doc_members(doc, &ids, &nids, err) == -1)
			return (-1);
		arr = uuid_array(ids, nids, 1, err, &n);
		strv_free(ids, nids);
		if (arr == NULL)
			return (-1);
	}
	if ((d = doc_stored(type, doc, err)) == NULL) {
		free(arr);
		return (-1);
	}
	memset(&serr, 0, sizeof(serr));
	if (store_begin(conn, &serr) == -1) {
		(void)scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later.");
		goto fail;
	}
	if (lock_row(conn, rq, type, id, &old, &version, err) == -1)
		goto fail;
	/*
	 * A replace that leaves active out keeps the current state: reading
	 * "missing" as true would let a PUT re-enable a disabled user.
	 */
	if (type == SCIM_RES_USER && json_object_get(doc, "active") == NULL)
		(void)json_object_set_new(d, "active",
		    json_boolean(active_of(old)));
	if (scim_schema_check_stored(type, old, d, err) == -1)
		goto fail;

	added = removed = 0;
	if (type == SCIM_RES_GROUP) {
		if (n > 0 && members_check(conn, rq, arr, err) == -1)
			goto fail;
		if (members_remove(conn, rq, id, n > 0 ? MEMBERS_EXCEPT :
		    MEMBERS_ALL, arr, &removed, err) == -1 ||
		    (n > 0 && members_add(conn, rq, id, arr, &added,
		    err) == -1))
			goto fail;
	}
	if (!json_equal(old, d) || added > 0 || removed > 0) {
		if (write_doc(conn, rq, type, id, old, d, err) == -1)
			goto fail;
		if (type == SCIM_RES_USER) {
			if (identity_differs(old, d))
				store_changes_add(rq->changes, user_record(id,
				    rq->directory_id, d, 0));
			if (active_of(old) && !active_of(d))
				store_changes_revoke(rq->changes,
				    rq->directory_id, "user.disabled", id,
				    json_pack("{s:s}", "via", "scim.put"));
		} else if (!json_equal(json_object_get(old, "displayName"),
		    json_object_get(d, "displayName"))) {
			store_changes_add(rq->changes, group_record(id,
			    rq->directory_id, d, 0));
		}
		summary = doc_diff(old, d);
		if (added > 0 || removed > 0)
			(void)json_object_set_new(summary, "members",
			    json_pack("{s:I, s:I}", "added", (json_int_t)added,
			    "removed", (json_int_t)removed));
		if (load(conn, rq, type, id, 1, out, err) == -1 ||
		    end_write(conn, rq, type, type == SCIM_RES_USER ?
		    "scim.user.replace" : "scim.group.replace", id, summary,
		    err) == -1) {
			json_decref(summary);
			goto fail;
		}
		json_decref(summary);
	} else {
		if (load(conn, rq, type, id, 1, out, err) == -1 ||
		    commit_unchanged(conn, rq, err) == -1)
			goto fail;
	}
	json_decref(old);
	json_decref(d);
	free(arr);
	return (0);

fail:
	store_rollback(conn);
	json_decref(*out);
	*out = NULL;
	json_decref(old);
	json_decref(d);
	free(arr);
	return (-1);
}

int
scim_store_patch(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const char *id, const json_t *body,
    int want_out, json_t **out, struct scim_err *err)
{
	struct store_err		 serr;
	struct scim_patch_result	 pr;
	json_t				*doc, *old, *summary;
	char				*arr;
	size_t				 n;
	long long			 version;
	long				 added, removed;

	*out = NULL;
	doc = old = NULL;
	arr = NULL;
	scim_patch_result_init(&pr);
	if (!rc_is_uuid(id))
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	memset(&serr, 0, sizeof(serr));
	if (store_begin(conn, &serr) == -1)
		return (scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later."));
	if (lock_row(conn, rq, type, id, &doc, &version, err) == -1)
		goto fail;
	if ((old = json_deep_copy(doc)) == NULL) {
		(void)scim_err_set(err, 500, NULL, "Out of memory.");
		goto fail;
	}
	if (scim_patch_apply(type, doc, body, &pr, err) == -1) {
		if (err->status == 413 && err->scim_type == NULL)
			err->scim_type = SCIM_ERR_TOO_MANY;
		goto fail;
	}
	if (pr.changed && scim_schema_check_stored(type, old, doc, err) == -1)
		goto fail;

	added = removed = 0;
	if (type == SCIM_RES_GROUP && pr.members_changed) {
		if (pr.members.clear && members_remove(conn, rq, id,
		    MEMBERS_ALL, NULL, &removed, err) == -1)
			goto fail;
		if (pr.members.nremove > 0) {
			if ((arr = uuid_array(pr.members.remove,
			    pr.members.nremove, 0, err, &n)) == NULL)
				goto fail;
			if (n > 0 && members_remove(conn, rq, id, MEMBERS_ONLY,
			    arr, &removed, err) == -1)
				goto fail;
			free(arr);
			arr = NULL;
		}
		if (pr.members.nadd > 0) {
			if ((arr = uuid_array(pr.members.add, pr.members.nadd,
			    1, err, &n)) == NULL)
				goto fail;
			if (members_check(conn, rq, arr, err) == -1 ||
			    members_add(conn, rq, id, arr, &added, err) == -1)
				goto fail;
		}
	}

	if (pr.changed || added > 0 || removed > 0) {
		if (write_doc(conn, rq, type, id, old, doc, err) == -1)
			goto fail;
		if (type == SCIM_RES_USER) {
			if (identity_differs(old, doc))
				store_changes_add(rq->changes, user_record(id,
				    rq->directory_id, doc, 0));
			if (active_of(old) && !active_of(doc))
				store_changes_revoke(rq->changes,
				    rq->directory_id, "user.disabled", id,
				    json_pack("{s:s}", "via", "scim.patch"));
		} else if (!json_equal(json_object_get(old, "displayName"),
		    json_object_get(doc, "displayName"))) {
			store_changes_add(rq->changes, group_record(id,
			    rq->directory_id, doc, 0));
		}
		summary = doc_diff(old, doc);
		if (added > 0 || removed > 0 || pr.members.clear)
			(void)json_object_set_new(summary, "members",
			    json_pack("{s:I, s:I, s:b}", "added",
			    (json_int_t)added, "removed", (json_int_t)removed,
			    "cleared", pr.members.clear));
		if ((want_out && load(conn, rq, type, id, 1, out, err) == -1) ||
		    end_write(conn, rq, type, type == SCIM_RES_USER ?
		    "scim.user.patch" : "scim.group.patch", id, summary,
		    err) == -1) {
			json_decref(summary);
			goto fail;
		}
		json_decref(summary);
	} else {
		/* Nothing changed (Entra's periodic "active: True"). */
		if ((want_out && load(conn, rq, type, id, 1, out, err) == -1) ||
		    commit_unchanged(conn, rq, err) == -1)
			goto fail;
	}
	scim_patch_result_cleanup(&pr);
	json_decref(doc);
	json_decref(old);
	free(arr);
	return (0);

fail:
	store_rollback(conn);
	scim_patch_result_cleanup(&pr);
	json_decref(*out);
	*out = NULL;
	json_decref(doc);
	json_decref(old);
	free(arr);
	return (-1);
}

int
scim_store_delete(PGconn *conn, struct scim_store_req *rq,
    enum scim_resource type, const char *id, struct scim_err *err)
{
	struct store_err	 serr;
	PGresult		*res;
	json_t			*doc, *summary;
	const char		*p[1];
	const char		*name;
	long long		 version;
	long			 removed;
	int			 i;

	if (!rc_is_uuid(id))
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", kind(type), id));
	memset(&serr, 0, sizeof(serr));
	if (store_begin(conn, &serr) == -1)
		return (scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later."));
	if (lock_row(conn, rq, type, id, &doc, &version, err) == -1)
		goto fail;
	p[0] = id;
	removed = 0;
	if (type == SCIM_RES_USER) {
		if (sx(conn, rq, "UPDATE users SET deleted_at = now(), "
		    "active = false, version = version + 1, updated_at = now() "
		    "WHERE id = $1::uuid", 1, p, NULL, err) == -1 ||
		    sx(conn, rq, "DELETE FROM memberships WHERE user_id = "
		    "$1::uuid RETURNING group_id::text", 1, p, &res,
		    err) == -1)
			goto fail;
		store_changes_add(rq->changes, user_record(id,
		    rq->directory_id, doc, 1));
		for (i = 0; i < PQntuples(res); i++)
			store_changes_add(rq->changes, json_pack("{s:s, s:s, "
			    "s:s, s:b}", "kind", "member", "group",
			    PQgetvalue(res, i, 0), "user", id, "present", 0));
		removed = PQntuples(res);
		PQclear(res);
		store_changes_revoke(rq->changes, rq->directory_id,
		    "user.deleted", id, json_pack("{s:s}", "via",
		    "scim.delete"));
		name = json_string_value(json_object_get(doc, "userName"));
	} else {
		if (sx(conn, rq, "UPDATE groups SET deleted_at = now(), "
		    "version = version + 1, updated_at = now() WHERE "
		    "id = $1::uuid", 1, p, NULL, err) == -1 ||
		    members_remove(conn, rq, id, MEMBERS_ALL, NULL, &removed,
		    err) == -1)
			goto fail;
		store_changes_add(rq->changes, group_record(id,
		    rq->directory_id, doc, 1));
		name = json_string_value(json_object_get(doc, "displayName"));
	}
	summary = json_pack("{s:s?, s:I}", type == SCIM_RES_USER ? "userName" :
	    "displayName", name, type == SCIM_RES_USER ? "groups_left" :
	    "members_removed", (json_int_t)removed);
	if (end_write(conn, rq, type, type == SCIM_RES_USER ?
	    "scim.user.delete" : "scim.group.delete", id, summary,
	    err) == -1) {
		json_decref(summary);
		goto fail;
	}
	json_decref(summary);
	json_decref(doc);
	return (0);

fail:
	store_rollback(conn);
	json_decref(doc);
	return (-1);
}
