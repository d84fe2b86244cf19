/*
 * store: see store.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes.h"
#include "store.h"
#include "util.h"

static void	err_from_result(PGconn *, PGresult *, struct store_err *);
static json_t	*token_row_json(PGresult *, int);

/* This thread's "stop now" flag (store_cancel_watch), or NULL. */
static __thread const int	*cancel_flag;

void
store_cancel_watch(const int *flag)
{
	cancel_flag = flag;
}

int
store_err_set(struct store_err *err, int status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	err->status = status;
	err->outcome = status == 409 ? STORE_CONFLICT : status == 400 ?
	    STORE_INVALID : STORE_INTERNAL;
	rc_strlcpy(err->code, code, sizeof(err->code));
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);

	return (-1);
}

static void
err_from_result(PGconn *conn, PGresult *res, struct store_err *err)
{
	const char	*state, *msg;

	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = PQerrorMessage(conn);
	if (state == NULL)
		state = "";

	if (PQstatus(conn) != CONNECTION_OK || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57", 2) == 0 || strcmp(state, "53300") == 0) {
		store_err_set(err, 503, "unavailable", "database unavailable: "
		    "%s", msg);
	} else if (strncmp(state, "40", 2) == 0) {
		store_err_set(err, 503, "conflict_retry", "concurrent update, "
		    "retry: %s", msg);
		err->outcome = STORE_RETRY;
	} else if (strcmp(state, "23505") == 0) {
		store_err_set(err, 409, "conflict", "already exists: %s", msg);
	} else if (strncmp(state, "23", 2) == 0 ||
	    strncmp(state, "22", 2) == 0) {
		store_err_set(err, 400, "invalid", "rejected by the database: "
		    "%s", msg);
	} else {
		store_err_set(err, 500, "internal", "database error %s: %s",
		    state, msg);
	}
}

int
store_exec(PGconn *conn, const char *sql, int n, const char *const *p,
    PGresult **out, struct store_err *err)
{
	PGresult	*res;
	ExecStatusType	 st;

	/*
	 * Whoever asked for this work has gone: send nothing more, so a
	 * transaction of several statements stops between them too (a
	 * statement already running is cancelled by the caller).
	 */
	if (cancel_flag != NULL &&
	    __atomic_load_n(cancel_flag, __ATOMIC_ACQUIRE)) {
		store_err_set(err, 503, "cancelled", "cancelled: the client "
		    "left");
		if (out != NULL)
			*out = NULL;
		return (-1);
	}
	res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err_from_result(conn, res, err);
		PQclear(res);
		if (out != NULL)
			*out = NULL;
		return (-1);
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);

	return (0);
}

int
store_begin(PGconn *conn, struct store_err *err)
{
	return (store_exec(conn, "BEGIN", 0, NULL, NULL, err));
}

int
store_commit(PGconn *conn, struct store_err *err)
{
	return (store_exec(conn, "COMMIT", 0, NULL, NULL, err));
}

void
store_rollback(PGconn *conn)
{
	PGresult	*res;

	if (PQtransactionStatus(conn) == PQTRANS_IDLE)
		return;
	res = PQexec(conn, "ROLLBACK");
	PQclear(res);
}

enum store_outcome
store_finish(PGconn *conn, struct store_changes *changes,
    const struct store_actor *actor, int64_t directory_id, const char *action,
    const char *resource_type, const char *resource_id, json_t *summary,
    struct store_err *err)
{
	int	rc;

	/* policy_state, then the audit chain head: the one lock order. */
	rc = changes != NULL ? store_changes_flush(conn, changes, err) : 0;
	if (rc == 0)
		rc = store_audit(conn, actor, directory_id, action,
		    resource_type, resource_id, summary, err);
	json_decref(summary);
	if (rc == 0)
		rc = store_commit(conn, err);
	if (rc == -1) {
		store_rollback(conn);
		return (err->outcome != STORE_OK ? err->outcome :
		    STORE_INTERNAL);
	}

	return (STORE_OK);
}

enum store_outcome
store_txn_run(PGconn *conn, enum store_outcome (*txn)(PGconn *, void *),
    void *arg)
{
	enum store_outcome	 o;
	uint32_t		 jitter;
	int			 attempt;

	o = STORE_INTERNAL;
	for (attempt = 0; attempt < STORE_TXN_ATTEMPTS; attempt++) {
		if (attempt > 0) {
			/* Jittered, so two colliders do not meet again. */
			if (rc_random_bytes(&jitter, sizeof(jitter)) == -1)
				jitter = (uint32_t)rc_now_ms();
			(void)usleep((useconds_t)(2000 * attempt +
			    (jitter % 7) * 1000));
		}
		if ((o = txn(conn, arg)) != STORE_RETRY)
			break;
	}

	return (o);
}

int
store_audit(PGconn *conn, const struct store_actor *actor,
    int64_t directory_id, const char *action, const char *resource_type,
    const char *resource_id, json_t *summary, struct store_err *err)
{
	const char	*p[8];
	char		 dir[24], *text;
	int		 rc;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)directory_id);
	text = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
	p[0] = directory_id ? dir : NULL;
	p[1] = actor->kind;
	p[2] = actor->name;
	p[3] = action;
	p[4] = resource_type;
	p[5] = resource_id;
	p[6] = actor->request_id;
	p[7] = text ? text : "{}";
	rc = store_exec(conn, "INSERT INTO audit_log (directory_id, "
	    "actor_kind, actor, action, resource_type, resource_id, "
	    "request_id, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	    8, p, NULL, err);
	free(text);

	return (rc);
}

int
store_notify(PGconn *conn, const char *kind, struct store_err *err)
{
	const char	*p[1];
	char		 payload[128];

	(void)snprintf(payload, sizeof(payload), "{\"kind\":\"%s\"}", kind);
	p[0] = payload;

	return (store_exec(conn, "SELECT pg_notify('rollcall', $1)", 1, p,
	    NULL, err));
}

int
store_directory_id(PGconn *conn, const char *name, int64_t *id,
    char *canonical, size_t size, struct store_err *err)
{
	PGresult	*res;
	const char	*p[1];
	long long	 v;

	p[0] = name;
	if (store_exec(conn, "SELECT id, name FROM directories "
	    "WHERE lower(name) = lower($1)", 1, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1 ||
	    rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &v) == -1) {
		PQclear(res);
		store_err_set(err, 404, "not_found", "no directory named "
		    "'%.64s'", name);
		return (-1);
	}
	*id = v;
	if (canonical != NULL)
		rc_strlcpy(canonical, PQgetvalue(res, 0, 1), size);
	PQclear(res);

	return (0);
}

/* One attempt of store_directory_create (store_txn_run). */
struct directory_create {
	const struct store_actor	*actor;
	const char			*name;
	json_t				**out;
	struct store_err		*err;
};

static enum store_outcome
directory_create_txn(PGconn *conn, void *arg)
{
	struct directory_create	*a = arg;
	struct store_err	*err = a->err;
	struct store_changes	 changes;
	enum store_outcome	 o;
	PGresult		*res;
	const char		*p[1];
	long long		 id;

	if (store_begin(conn, err) == -1)
		return (err->outcome);
	p[0] = a->name;
	if (store_exec(conn, "INSERT INTO directories (name) VALUES ($1) "
	    "RETURNING id, name, created_at", 1, p, &res, err) == -1) {
		store_rollback(conn);
		if (err->status == 409)
			store_err_set(err, 409, "conflict", "a directory named "
			    "'%.64s' already exists", a->name);
		else if (err->status == 400)
			store_err_set(err, 400, "invalid_name", "directory "
			    "names are 1-63 letters, digits, '.', '_' or '-', "
			    "starting with a letter or digit");
		return (err->outcome);
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &id);
	*a->out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
	    "name", PQgetvalue(res, 0, 1), "created_at",
	    PQgetvalue(res, 0, 2));
	PQclear(res);

	store_changes_init(&changes, a->actor->name);
	store_changes_add(&changes, json_pack("{s:s, s:I, s:s}", "kind",
	    "directory", "directory_id", (json_int_t)id, "name", a->name));
	o = store_finish(conn, &changes, a->actor, id, "directory.create",
	    "directory", a->name, json_pack("{s:s}", "name", a->name), err);
	store_changes_cleanup(&changes);
	if (o != STORE_OK) {
		json_decref(*a->out);
		*a->out = NULL;
	}

	return (o);
}

int
store_directory_create(PGconn *conn, const struct store_actor *actor,
    const char *name, json_t **out, struct store_err *err)
{
	struct directory_create	a;

	*out = NULL;
	a.actor = actor;
	a.name = name;
	a.out = out;
	a.err = err;

	return (store_txn_run(conn, directory_create_txn, &a) == STORE_OK ?
	    0 : -1);
}

int
store_directory_list(PGconn *conn, int64_t directory_id, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[1];
	char		 dir[24];
	long long	 id;
	int		 i;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)directory_id);
	p[0] = directory_id ? dir : NULL;
	if (store_exec(conn, "SELECT d.id, d.name, d.created_at, "
	    "(SELECT count(*) FROM users u WHERE u.directory_id = d.id AND "
	    "u.deleted_at IS NULL), (SELECT count(*) FROM groups g WHERE "
	    "g.directory_id = d.id AND g.deleted_at IS NULL) "
	    "FROM directories d WHERE $1::bigint IS NULL OR d.id = $1 "
	    "ORDER BY d.id", 1, p, &res, err) == -1)
		return (-1);
	*out = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		(void)rc_parse_int(PQgetvalue(res, i, 0), 1, INT64_MAX, &id);
		(void)json_array_append_new(*out, json_pack("{s:I, s:s, s:s, "
		    "s:I, s:I}", "id", (json_int_t)id, "name",
		    PQgetvalue(res, i, 1), "created_at", PQgetvalue(res, i, 2),
		    "users", (json_int_t)atoll(PQgetvalue(res, i, 3)),
		    "groups", (json_int_t)atoll(PQgetvalue(res, i, 4))));
	}
	PQclear(res);

	return (0);
}

/* One attempt of store_token_create (store_txn_run). */
struct token_create {
	const struct store_actor	*actor;
	const char			*directory;
	const char			*name;
	const char			*scopes_txt;
	const char			*scopes_arr;
	const char			*hashhex;
	const char			*hint;
	int				 expires_days;
	struct store_new_token		*out;
	json_t				**json;
	struct store_err		*err;
};

static enum store_outcome
token_create_txn(PGconn *conn, void *arg)
{
	struct token_create	*a = arg;
	struct store_new_token	*out = a->out;
	struct store_err	*err = a->err;
	enum store_outcome	 o;
	PGresult		*res;
	const char		*p[6];
	char			 dir[24], days[16];
	long long		 v;

	if (store_begin(conn, err) == -1)
		return (err->outcome);
	if (a->directory != NULL) {
		if (store_directory_id(conn, a->directory, &out->directory_id,
		    out->directory, sizeof(out->directory), err) == -1)
			goto fail;
		/* A directory-bound actor cannot mint for another directory. */
		if (a->actor->directory_id != 0 &&
		    a->actor->directory_id != out->directory_id) {
			store_err_set(err, 403, "forbidden", "this token may "
			    "only manage its own directory");
			goto fail;
		}
	} else if (a->actor->directory_id != 0) {
		store_err_set(err, 403, "forbidden", "only a global admin "
		    "token may create global tokens");
		goto fail;
	}

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)out->directory_id);
	(void)snprintf(days, sizeof(days), "%d", a->expires_days);
	p[0] = a->directory ? dir : NULL;
	p[1] = a->name;
	p[2] = a->scopes_arr;
	p[3] = a->hashhex;
	p[4] = a->hint;
	p[5] = a->expires_days ? days : NULL;
	if (store_exec(conn, "INSERT INTO tokens (directory_id, name, scopes, "
	    "secret_hash, hint, expires_at, created_by) VALUES ($1, $2, $3, "
	    "decode($4, 'hex'), $5, now() + make_interval(days => $6::int), "
	    "NULL) RETURNING id, created_at, expires_at, "
	    "coalesce((extract(epoch FROM expires_at) * 1000)::bigint, 0)",
	    6, p, &res, err) == -1)
		goto fail;
	rc_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
	if (rc_parse_int(PQgetvalue(res, 0, 3), 0, INT64_MAX, &v) == 0)
		out->expires_ms = (uint64_t)v;
	*a->json = json_pack("{s:s, s:s, s:s*, s:s, s:s, s:s, s:s*, s:n}",
	    "id", out->id, "name", a->name, "directory",
	    a->directory ? out->directory : NULL, "scopes", a->scopes_txt,
	    "hint", a->hint, "created_at", PQgetvalue(res, 0, 1),
	    "expires_at", PQgetisnull(res, 0, 2) ? NULL :
	    PQgetvalue(res, 0, 2), "last_used_at");
	PQclear(res);

	if (store_notify(conn, "tokens", err) == -1)
		goto fail;
	o = store_finish(conn, NULL, a->actor, out->directory_id,
	    "token.create", "token", out->id, json_pack("{s:s, s:s, s:i}",
	    "name", a->name, "scopes", a->scopes_txt, "expires_days",
	    a->expires_days), err);
	if (o != STORE_OK) {
		json_decref(*a->json);
		*a->json = NULL;
	}

	return (o);

fail:
	store_rollback(conn);
	json_decref(*a->json);
	*a->json = NULL;
	return (err->outcome);
}

int
store_token_create(PGconn *conn, const struct store_actor *actor,
    const char *directory, unsigned int scopes, const char *name,
    int expires_days, struct store_new_token *out, json_t **json,
    struct store_err *err)
{
	struct token_create	 a;
	char			 hashhex[2 * TOKEN_HASH_LEN + 1];
	char			 scopes_txt[64], scopes_arr[80];
	char			 hint[TOKEN_HINT_LEN + 1];

	*json = NULL;
	memset(out, 0, sizeof(*out));
	if (scopes == 0 || (scopes & ~TOKEN_SCOPE_ALL) != 0)
		return (store_err_set(err, 400, "invalid_scope", "scopes must "
		    "be one or more of scim, gateway, admin"));
	if (directory == NULL && scopes != TOKEN_SCOPE_ADMIN)
		return (store_err_set(err, 400, "invalid_scope", "a token "
		    "without a directory is a global admin token: only the "
		    "admin scope is allowed"));
	if (name == NULL || *name == '\0' || strlen(name) > 128)
		return (store_err_set(err, 400, "invalid_name", "a token needs "
		    "a name of 1-128 characters"));
	if (expires_days < 0 || expires_days > 3650)
		return (store_err_set(err, 400, "invalid_expiry", "expiry must "
		    "be 0 (never) to 3650 days"));

	if (token_generate(out->secret, sizeof(out->secret)) == -1)
		return (store_err_set(err, 500, "internal", "no randomness "
		    "available"));
	token_hash(out->secret, strlen(out->secret), out->hash);
	rc_hex_encode(out->hash, TOKEN_HASH_LEN, hashhex);
	token_hint(out->secret, hint, sizeof(hint));
	token_scopes_format(scopes, scopes_txt, sizeof(scopes_txt));
	(void)snprintf(scopes_arr, sizeof(scopes_arr), "{%s}", scopes_txt);
	out->scopes = scopes;
	rc_strlcpy(out->name, name, sizeof(out->name));

	a.actor = actor;
	a.directory = directory;
	a.name = name;
	a.scopes_txt = scopes_txt;
	a.scopes_arr = scopes_arr;
	a.hashhex = hashhex;
	a.hint = hint;
	a.expires_days = expires_days;
	a.out = out;
	a.json = json;
	a.err = err;
	if (store_txn_run(conn, token_create_txn, &a) != STORE_OK) {
		explicit_bzero(out->secret, sizeof(out->secret));
		return (-1);
	}

	return (0);
}

static json_t *
token_row_json(PGresult *res, int i)
{
	return (json_pack("{s:s, s:s, s:s*, s:s, s:s, s:s, s:s*, s:s*, s:s*, "
	    "s:s}", "id", PQgetvalue(res, i, 0), "name", PQgetvalue(res, i, 1),
	    "directory", PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
	    "scopes", PQgetvalue(res, i, 3), "hint", PQgetvalue(res, i, 4),
	    "created_at", PQgetvalue(res, i, 5),
	    "expires_at", PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6),
	    "revoked_at", PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
	    "last_used_at", PQgetisnull(res, i, 8) ? NULL :
	    PQgetvalue(res, i, 8), "status", PQgetvalue(res, i, 9)));
}

int
store_token_list(PGconn *conn, int64_t directory_id, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[1];
	char		 dir[24];
	int		 i;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)directory_id);
	p[0] = directory_id ? dir : NULL;
	if (store_exec(conn, "SELECT t.id, t.name, d.name, "
	    "array_to_string(t.scopes, ','), t.hint, t.created_at, "
	    "t.expires_at, t.revoked_at, t.last_used_at, "
	    "CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' "
	    "WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END "
	    "FROM tokens t LEFT JOIN directories d ON d.id = t.directory_id "
	    "WHERE $1::bigint IS NULL OR t.directory_id = $1 "
	    "ORDER BY t.created_at, t.id", 1, p, &res, err) == -1)
		return (-1);
	*out = json_array();
	for (i = 0; i < PQntuples(res); i++)
		(void)json_array_append_new(*out, token_row_json(res, i));
	PQclear(res);

	return (0);
}

/* One attempt of store_token_revoke (store_txn_run). */
struct token_revoke {
	const struct store_actor	*actor;
	int64_t				 directory_id;
	const char			*id;
	struct store_err		*err;
};

static enum store_outcome
token_revoke_txn(PGconn *conn, void *arg)
{
	struct token_revoke	*a = arg;
	struct store_err	*err = a->err;
	struct store_changes	 changes;
	enum store_outcome	 o;
	PGresult		*res;
	const char		*p[2];
	char			 dir[24];
	long long		 tokdir;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)a->directory_id);
	p[0] = a->id;
	p[1] = a->directory_id ? dir : NULL;
	if (store_begin(conn, err) == -1)
		return (err->outcome);
	if (store_exec(conn, "SELECT revoked_at IS NOT NULL, "
	    "coalesce(directory_id, 0) FROM tokens WHERE id = $1 AND "
	    "($2::bigint IS NULL OR directory_id = $2) FOR UPDATE", 2, p,
	    &res, err) == -1)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_err_set(err, 404, "not_found", "no token with id "
		    "'%.64s'", a->id);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		store_err_set(err, 409, "already_revoked", "token %.64s is "
		    "already revoked", a->id);
		goto fail;
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 1), 0, INT64_MAX, &tokdir);
	PQclear(res);

	if (store_exec(conn, "UPDATE tokens SET revoked_at = now() "
	    "WHERE id = $1", 1, p, NULL, err) == -1 ||
	    store_notify(conn, "tokens", err) == -1)
		goto fail;
	store_changes_init(&changes, a->actor->name);
	store_changes_revoke(&changes, tokdir, "token.revoked", NULL,
	    json_pack("{s:s}", "token_id", a->id));
	o = store_finish(conn, &changes, a->actor, tokdir, "token.revoke",
	    "token", a->id, NULL, err);
	store_changes_cleanup(&changes);

	return (o);

fail:
	store_rollback(conn);
	return (err->outcome);
}

int
store_token_revoke(PGconn *conn, const struct store_actor *actor,
    int64_t directory_id, const char *id, struct store_err *err)
{
	struct token_revoke	a;

	if (!rc_is_uuid(id))
		return (store_err_set(err, 404, "not_found", "no token with "
		    "id '%.64s'", id));
	a.actor = actor;
	a.directory_id = directory_id;
	a.id = id;
	a.err = err;

	return (store_txn_run(conn, token_revoke_txn, &a) == STORE_OK ?
	    0 : -1);
}

int
store_token_count(PGconn *conn, long long *n, struct store_err *err)
{
	PGresult	*res;

	if (store_exec(conn, "SELECT count(*) FROM tokens WHERE "
	    "revoked_at IS NULL", 0, NULL, &res, err) == -1)
		return (-1);
	*n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);

	return (0);
}
