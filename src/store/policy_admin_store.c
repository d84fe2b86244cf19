/*
 * policy_admin_store: see policy_admin_store.h; the layout of the
 * policy_admin_*.c files is in policy_admin_impl.h.
 *
 * Order inside a write transaction: lock and change rows, queue
 * records, store_changes_flush() (takes policy_state), then the audit
 * entry (takes audit_chain), then COMMIT: the lock order every writer
 * follows (store.h, the write protocol).  An operation that fails
 * returns -1 and leaves its transaction to policy_admin_run, which rolls
 * it back and runs it again when PostgreSQL aborted it to break a
 * serialisation failure or deadlock (store_txn_run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idkey.h"
#include "policy.h"
#include "policy_admin_impl.h"
#include "util.h"


json_t *
pa_col_json(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (NULL);
	return (json_loads(PQgetvalue(res, row, col), 0, NULL));
}

/*
 * Runs a statement that yields at most one row of JSON text columns:
 * 1 with *a (and *b when not NULL) loaded, 0 when no row, -1 on error.
 */
int
pa_one(PGconn *conn, const char *sql, int n, const char *const *p, json_t **a,
    json_t **b, struct store_err *err)
{
	PGresult	*res;

	*a = NULL;
	if (b != NULL)
		*b = NULL;
	if (store_exec(conn, sql, n, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return (0);
	}
	*a = pa_col_json(res, 0, 0);
	if (b != NULL && PQnfields(res) > 1)
		*b = pa_col_json(res, 0, 1);
	PQclear(res);
	if (*a == NULL)
		return (store_err_set(err, 500, "internal", "unreadable row"));

	return (1);
}

/* A statement that yields one JSON array as text. */
int
pa_list(PGconn *conn, const char *sql, int n, const char *const *p,
    json_t **out, struct store_err *err)
{
	json_t	*b;

	if (pa_one(conn, sql, n, p, out, &b, err) != 1)
		return (-1);
	json_decref(b);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return (store_err_set(err, 500, "internal", "unreadable list"));
	}

	return (0);
}

/* Queues the record text returned by a statement. */
void
pa_queue(struct policy_admin_req *rq, json_t *rec)
{
	if (rec != NULL)
		store_changes_add(rq->changes, rec);
}

/* The directory a write lands in: the token's, or (global) the body's. */
int
pa_write_dir(PGconn *conn, const struct policy_admin_req *rq, int64_t *dir,
    struct store_err *err)
{
	const char	*name;
	int64_t		 id;

	name = json_string_value(json_object_get(rq->body, "directory"));
	if (name == NULL && json_object_get(rq->body, "directory") != NULL &&
	    !json_is_null(json_object_get(rq->body, "directory")))
		return (store_err_set(err, 400, "invalid_directory",
		    "'directory' must be a directory name"));
	if (rq->actor->directory_id != 0) {
		*dir = rq->actor->directory_id;
		if (name == NULL)
			return (0);
		if (store_directory_id(conn, name, &id, NULL, 0, err) == -1 ||
		    id != *dir)
			return (store_err_set(err, 403, "forbidden", "this "
			    "token manages only its own directory"));
		return (0);
	}
	if (name == NULL)
		return (store_err_set(err, 400, "invalid_directory", "a global "
		    "admin token must name the 'directory' this belongs to"));

	return (store_directory_id(conn, name, dir, NULL, 0, err));
}

/*
 * Resolves a principal or group named by id or name within dir.  kind
 * is "user", "service_principal", "group" or "" (a user or service
 * principal).  Fills kind_out and id_out.  0, or -1 with 400.
 */
int
pa_resolve(PGconn *conn, int64_t dir, const char *kind, const char *name,
    char *kind_out, char *id_out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[4];
	char		 d[24], *nk;
	int		 rc;

	if (name == NULL || *name == '\0' || strlen(name) > 512)
		return (store_err_set(err, 400, "unknown_subject", "a %s must "
		    "be named by id or name", *kind ? kind : "principal"));
	/* A userName compares by its identity key (idkey.h). */
	if ((nk = idkey_dup(name, &rc)) == NULL)
		return (store_err_set(err, rc == IDKEY_ENOMEM ? 500 : 400,
		    rc == IDKEY_ENOMEM ? "internal" : "unknown_subject",
		    "the name %s", idkey_strerror(rc)));
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	p[0] = d;
	p[1] = kind;
	p[2] = name;
	p[3] = nk;
	rc = store_exec(conn, "SELECT k, id FROM ("
	    "SELECT 'user' AS k, id::text AS id, 1 AS o FROM users WHERE "
	    "directory_id = $1::bigint AND deleted_at IS NULL AND $2 IN "
	    "('user', '') AND (id::text = lower($3) OR user_name_key = "
	    "$4) UNION ALL "
	    "SELECT 'service_principal', id::text, 2 FROM service_principals "
	    "WHERE directory_id = $1::bigint AND deleted_at IS NULL AND $2 IN "
	    "('service_principal', '') AND (id::text = lower($3) OR "
	    "lower(app_id) = lower($3)) UNION ALL "
	    "SELECT 'group', id::text, 3 FROM groups WHERE directory_id = "
	    "$1::bigint AND deleted_at IS NULL AND $2 = 'group' AND "
	    "(id::text = lower($3) OR lower(display_name) = lower($3))"
	    ") s ORDER BY o LIMIT 1", 4, p, &res, err);
	free(nk);
	if (rc == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (store_err_set(err, 400, "unknown_subject", "no %s "
		    "'%.128s' in this directory", *kind ? kind : "user or "
		    "service principal", name));
	}
	rc_strlcpy(kind_out, PQgetvalue(res, 0, 0), 24);
	rc_strlcpy(id_out, PQgetvalue(res, 0, 1), 40);
	PQclear(res);

	return (0);
}

/*
 * An optional string member: absent leaves *set 0; null or a string of
 * at most max bytes sets *set (and *v, NULL for null).
 */
int
pa_opt_text(const json_t *body, const char *key, size_t max, const char **v,
    int *set, struct store_err *err)
{
	json_t	*j;

	*set = 0;
	*v = NULL;
	if ((j = json_object_get(body, key)) == NULL)
		return (0);
	if (json_is_null(j)) {
		*v = NULL;
		*set = 1;
		return (0);
	}
	if (!json_is_string(j) || json_string_length(j) > max ||
	    strlen(json_string_value(j)) != json_string_length(j))
		return (store_err_set(err, 400, "invalid_request", "'%s' must "
		    "be a string of at most %zu bytes", key, max));
	*v = json_string_value(j);
	*set = 1;

	return (0);
}

int
pa_slug_ok(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 63)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '_' || s[i] == '-'))
			continue;
		return (0);
	}

	return (1);
}

/*
 * Printable, no spaces, and within the one rule of policy.h (no C0, DEL
 * or C1 controls): names, labels, selectors.  What is written here the
 * index can load, so a deny rule is never refused by the index.
 */
int
pa_token_ok(const char *s, size_t max)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > max ||
	    policy_check_value(s, max, 0, "value", NULL) == -1)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ')
			return (0);

	return (1);
}

const char *
policy_admin_risk_of(const json_t *ann, json_t **labels)
{
	const char	*risk;

	*labels = json_array();
	risk = "normal";
	if (!json_is_object(ann))
		return (risk);
	if (json_is_true(json_object_get(ann, "readOnlyHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:read-only"));
	if (json_is_true(json_object_get(ann, "destructiveHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:destructive"));
	if (json_is_true(json_object_get(ann, "idempotentHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:idempotent"));
	if (json_is_true(json_object_get(ann, "openWorldHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:open-world"));

	/* Hints are the server's claims: the more cautious one wins. */
	if (json_is_true(json_object_get(ann, "destructiveHint")))
		risk = "high";
	else if (json_is_true(json_object_get(ann, "readOnlyHint")))
		risk = "low";
	else if (json_is_false(json_object_get(ann, "destructiveHint")) &&
	    json_is_true(json_object_get(ann, "openWorldHint")))
		risk = "consequential";

	return (risk);
}

/* The operation itself: one attempt, which may leave a transaction open. */
static int
dispatch(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	if (rq->body != NULL && !json_is_object(rq->body))
		return (store_err_set(err, 400, "invalid_request",
		    "the body must be a JSON object"));
	switch (rq->entity) {
	case PA_SERVER:
		return (pa_server_op(conn, rq, out, err));
	case PA_TOOL:
		return (rq->op == PA_IMPORT ? pa_tools_import(conn, rq, out,
		    err) : pa_tool_op(conn, rq, out, err));
	case PA_RULE:
		return (pa_rule_op(conn, rq, out, err));
	case PA_GRANT:
		return (pa_grant_op(conn, rq, out, err));
	case PA_SP:
		return (pa_sp_op(conn, rq, out, err));
	}

	return (store_err_set(err, 500, "internal", "unknown operation"));
}

/* One run of policy_admin_run (store_txn_run). */
struct attempt {
	struct policy_admin_req	*rq;
	json_t			**out;
	struct store_err	*err;
};

static enum store_outcome
attempt_run(PGconn *conn, void *arg)
{
	struct attempt	*a = arg;

	/* A rerun starts from nothing: the last attempt rolled back. */
	store_changes_reset(a->rq->changes);
	memset(a->err, 0, sizeof(*a->err));
	if (dispatch(conn, a->rq, a->out, a->err) == 0)
		return (STORE_OK);
	/* Whatever failed, nothing of it stays open or is answered. */
	store_rollback(conn);
	json_decref(*a->out);
	*a->out = NULL;

	return (a->err->outcome != STORE_OK ? a->err->outcome :
	    STORE_INTERNAL);
}

int
policy_admin_run(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	struct attempt	a;

	*out = NULL;
	a.rq = rq;
	a.out = out;
	a.err = err;

	return (store_txn_run(conn, attempt_run, &a) == STORE_OK ? 0 : -1);
}
