/*
 * scim_store_write: create, replace, patch and delete of SCIM resources
 * (scim_store.h), each one transaction under the write protocol of
 * store.h; concurrency in scim_store_impl.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idkey.h"
#include "idkey_store.h"
#include "scim_patch.h"
#include "scim_store.h"
#include "scim_store_impl.h"
#include "util.h"

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
static json_t	*user_record(const char *, int64_t, const json_t *, int);
static const char *role_value(const json_t *);
static void	 roles_revoke(struct scim_store_req *, const char *,
		    const json_t *, const json_t *);
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
	    "FOR UPDATE", ss_tbl(type));
	p[0] = id;
	p[1] = dir;
	if (ss_sx(conn, rq, sql, 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (scim_err_set(err, 404, NULL, "No %s with id '%.64s' "
		    "in this directory.", ss_kind(type), id));
	}
	*version = atoll(PQgetvalue(res, 0, 1));
	*doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (*doc == NULL)
		return (scim_err_set(err, 500, NULL, "Cannot read the stored "
		    "%s.", ss_kind(type)));
	if (rq->if_match != NULL && !etag_match(rq->if_match, *version)) {
		json_decref(*doc);
		*doc = NULL;
		return (scim_err_set(err, 412, NULL, "The %s was changed "
		    "since version %.64s was read (it is now W/\"%lld\"); "
		    "read it again.", ss_kind(type), rq->if_match, *version));
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
		rc = ss_sx(conn, rq, "UPDATE users SET (user_name, "
		    "external_id, display_name, active, emails_lc) = (SELECT "
		    USER_DERIVED
		    "), doc = d, user_name_key = $3, emails_key = "
		    EMAILS_KEY("$4") ", version = version + 1, "
		    "updated_at = now() FROM (SELECT $2::jsonb AS d) s "
		    "WHERE id = $1::uuid", 4, p, NULL, err);
	else
		rc = ss_sx(conn, rq, "UPDATE groups SET display_name = "
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

static int
active_of(const json_t *doc)
{
	return (!json_is_false(json_object_get(doc, "active")));
}

static int
identity_differs(const json_t *a, const json_t *b)
{
	static const char *const	keys[] = { "userName", "externalId",
	    "emails", "roles" };
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

/* A role value of a roles[] element (object or bare string), or NULL. */
static const char *
role_value(const json_t *e)
{
	return (json_string_value(json_is_string(e) ? e :
	    json_object_get(e, "value")));
}

/*
 * A role the user held before and not now can take access away (role
 * rules): one revocation event, so gateways drop cached answers.
 */
static void
roles_revoke(struct scim_store_req *rq, const char *id, const json_t *old,
    const json_t *doc)
{
	const json_t	*e, *f;
	const char	*v, *w;
	size_t		 i, j;
	int		 kept;

	json_array_foreach(json_object_get(old, "roles"), i, e) {
		if ((v = role_value(e)) == NULL)
			continue;
		kept = 0;
		json_array_foreach(json_object_get(doc, "roles"), j, f) {
			if ((w = role_value(f)) != NULL && strcmp(v, w) == 0)
				kept = 1;
		}
		if (!kept) {
			store_changes_revoke(rq->changes, rq->directory_id,
			    "membership.removed", id, json_pack("{s:s}",
			    "role", v));
			return;
		}
	}
}

/* The policy index's view of a user (changes.h). */
static json_t *
user_record(const char *id, int64_t dir, const json_t *doc, int deleted)
{
	json_t		*emails, *roles, *e, *v;
	size_t		 i;

	if ((emails = json_array()) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(doc, "emails"), i, e) {
		if (json_is_string(v = json_object_get(e, "value")))
			(void)json_array_append(emails, v);
	}
	/* App role values (Entra: AppRoleAssignmentsComplex); rules name them. */
	if ((roles = json_array()) == NULL) {
		json_decref(emails);
		return (NULL);
	}
	json_array_foreach(json_object_get(doc, "roles"), i, e) {
		if (role_value(e) != NULL)
			(void)json_array_append_new(roles,
			    json_string(role_value(e)));
	}
	return (json_pack("{s:s, s:s, s:I, s:O?, s:O?, s:o, s:o, s:b, s:b}",
	    "kind", "user", "id", id, "directory_id", (json_int_t)dir,
	    "userName", json_object_get(doc, "userName"), "externalId",
	    json_object_get(doc, "externalId"), "emails", emails,
	    "roles", roles, "active", active_of(doc) && !deleted, "deleted",
	    deleted));
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
	return (ss_sx(conn, rq, "COMMIT", 0, NULL, NULL, err));
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
		if (ss_doc_members(doc, &ids, &nids, err) == -1)
			return (-1);
		arr = ss_uuid_array(ids, nids, 1, err, &n);
		ss_strv_free(ids, nids);
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
		rc = ss_sx(conn, rq, "INSERT INTO users (directory_id, "
		    "user_name, external_id, display_name, active, emails_lc, "
		    "doc, user_name_key, emails_key) SELECT $1, " USER_DERIVED
		    ", d, $3, " EMAILS_KEY("$4") " FROM (SELECT $2::jsonb "
		    "AS d) s RETURNING " COLS, 4, p, &res, err);
	else
		rc = ss_sx(conn, rq, "INSERT INTO groups (directory_id, "
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
	    (*out = ss_row_resource(type, rq->base, res, 0)) == NULL) {
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
		if (n > 0 && (ss_members_check(conn, rq, arr, err) == -1 ||
		    ss_members_add(conn, rq, id, arr, &added, err) == -1))
			goto fail;
	}
	empty = json_object();
	summary = doc_diff(empty, d);
	json_decref(empty);
	if (type == SCIM_RES_GROUP && n > 0)
		(void)json_object_set_new(summary, "members", json_pack("{s:I}",
		    "added", (json_int_t)n));
	rc = type == SCIM_RES_USER ? 0 : ss_load(conn, rq, type, id, 1, out,
	    err);
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
		    "in this directory.", ss_kind(type), id));
	if (type == SCIM_RES_GROUP) {
		if (ss_doc_members(doc, &ids, &nids, err) == -1)
			return (-1);
		arr = ss_uuid_array(ids, nids, 1, err, &n);
		ss_strv_free(ids, nids);
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
		if (n > 0 && ss_members_check(conn, rq, arr, err) == -1)
			goto fail;
		if (ss_members_remove(conn, rq, id, n > 0 ? MEMBERS_EXCEPT :
		    MEMBERS_ALL, arr, &removed, err) == -1 ||
		    (n > 0 && ss_members_add(conn, rq, id, arr, &added,
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
			roles_revoke(rq, id, old, d);
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
		if (ss_load(conn, rq, type, id, 1, out, err) == -1 ||
		    end_write(conn, rq, type, type == SCIM_RES_USER ?
		    "scim.user.replace" : "scim.group.replace", id, summary,
		    err) == -1) {
			json_decref(summary);
			goto fail;
		}
		json_decref(summary);
	} else {
		if (ss_load(conn, rq, type, id, 1, out, err) == -1 ||
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
		    "in this directory.", ss_kind(type), id));
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
		if (pr.members.clear && ss_members_remove(conn, rq, id,
		    MEMBERS_ALL, NULL, &removed, err) == -1)
			goto fail;
		if (pr.members.nremove > 0) {
			if ((arr = ss_uuid_array(pr.members.remove,
			    pr.members.nremove, 0, err, &n)) == NULL)
				goto fail;
			if (n > 0 && ss_members_remove(conn, rq, id,
			    MEMBERS_ONLY, arr, &removed, err) == -1)
				goto fail;
			free(arr);
			arr = NULL;
		}
		if (pr.members.nadd > 0) {
			if ((arr = ss_uuid_array(pr.members.add,
			    pr.members.nadd, 1, err, &n)) == NULL)
				goto fail;
			if (ss_members_check(conn, rq, arr, err) == -1 ||
			    ss_members_add(conn, rq, id, arr, &added,
			    err) == -1)
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
			roles_revoke(rq, id, old, doc);
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
		if ((want_out && ss_load(conn, rq, type, id, 1, out,
		    err) == -1) ||
		    end_write(conn, rq, type, type == SCIM_RES_USER ?
		    "scim.user.patch" : "scim.group.patch", id, summary,
		    err) == -1) {
			json_decref(summary);
			goto fail;
		}
		json_decref(summary);
	} else {
		/* Nothing changed (Entra's periodic "active: True"). */
		if ((want_out && ss_load(conn, rq, type, id, 1, out,
		    err) == -1) ||
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
		    "in this directory.", ss_kind(type), id));
	memset(&serr, 0, sizeof(serr));
	if (store_begin(conn, &serr) == -1)
		return (scim_err_set(err, 503, NULL, "The directory database "
		    "is unavailable; retry later."));
	if (lock_row(conn, rq, type, id, &doc, &version, err) == -1)
		goto fail;
	p[0] = id;
	removed = 0;
	if (type == SCIM_RES_USER) {
		if (ss_sx(conn, rq, "UPDATE users SET deleted_at = now(), "
		    "active = false, version = version + 1, updated_at = now() "
		    "WHERE id = $1::uuid", 1, p, NULL, err) == -1 ||
		    ss_sx(conn, rq, "DELETE FROM memberships WHERE user_id = "
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
		if (ss_sx(conn, rq, "UPDATE groups SET deleted_at = now(), "
		    "version = version + 1, updated_at = now() WHERE "
		    "id = $1::uuid", 1, p, NULL, err) == -1 ||
		    ss_members_remove(conn, rq, id, MEMBERS_ALL, NULL, &removed,
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
