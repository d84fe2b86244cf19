/*
 * entra_store: see entra_store.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_store.h"
#include "entra_token.h"
#include "util.h"

#define ENTRA_JWKS_TEXT_MAX	262144	/* as in sql/005_entra.sql */

static int
guid_ok(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

static int
binding_check(const struct store_entra_binding *b, struct store_err *err)
{
	struct entra_jwks	*keys;
	const json_t		*v;
	char			 why[160];
	size_t			 i, n;

	if (!guid_ok(b->tenant_id))
		return (store_err_set(err, 400, "invalid_binding", "'tenant_id' "
		    "must be the tenant's id, a lowercase GUID"));
	n = json_is_array(b->audiences) ? json_array_size(b->audiences) : 0;
	if (n == 0 || n > ENTRA_AUDIENCES_MAX)
		return (store_err_set(err, 400, "invalid_binding", "'audiences' "
		    "must list 1 to %d audiences (the API's client id and/or "
		    "its App ID URI)", ENTRA_AUDIENCES_MAX));
	json_array_foreach(b->audiences, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 512)
			return (store_err_set(err, 400, "invalid_binding",
			    "'audiences' must be non-empty strings"));
	}
	if (!b->accept_v1 && !b->accept_v2)
		return (store_err_set(err, 400, "invalid_binding", "'versions' "
		    "must accept v1, v2 or both"));
	if (b->skew_s < 0 || b->skew_s > ENTRA_SKEW_MAX_S)
		return (store_err_set(err, 400, "invalid_binding", "'skew_s' "
		    "must be 0 to %d seconds", ENTRA_SKEW_MAX_S));
	if ((b->openid_url == NULL) == (b->jwks == NULL))
		return (store_err_set(err, 400, "invalid_binding", "give "
		    "exactly one key source: 'openid_configuration' (an "
		    "https:// URL) or 'jwks' (a key set, for air-gapped "
		    "installs)"));
	if (b->openid_url != NULL && (strncmp(b->openid_url, "https://",
	    8) != 0 || strlen(b->openid_url) > 1024 ||
	    strpbrk(b->openid_url, " \t\r\n") != NULL))
		return (store_err_set(err, 400, "invalid_binding",
		    "'openid_configuration' must be an https:// URL"));
	if (b->jwks != NULL) {
		if (strlen(b->jwks) > ENTRA_JWKS_TEXT_MAX)
			return (store_err_set(err, 400, "invalid_binding",
			    "'jwks' is larger than %d bytes",
			    ENTRA_JWKS_TEXT_MAX));
		if ((keys = entra_jwks_parse(b->jwks, strlen(b->jwks), why,
		    sizeof(why))) == NULL)
			return (store_err_set(err, 400, "invalid_binding",
			    "'jwks': %s", why));
		entra_jwks_free(keys);
	}
	return (0);
}

/* One attempt of store_entra_bind (store_txn_run). */
struct entra_bind {
	const struct store_actor		*actor;
	int64_t					 dir;
	const struct store_entra_binding	*b;
	struct store_err			*err;
};

static enum store_outcome
bind_txn(PGconn *conn, void *arg)
{
	struct entra_bind	*a = arg;
	const char		*p[8];
	char			 dir[24], skew[16], *auds;
	int			 changed;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)a->dir);
	(void)snprintf(skew, sizeof(skew), "%d", a->b->skew_s);
	if ((auds = json_dumps(a->b->audiences, JSON_COMPACT)) == NULL) {
		store_err_set(a->err, 500, "internal", "out of memory");
		return (a->err->outcome);
	}
	if (store_begin(conn, a->err) == -1) {
		free(auds);
		return (a->err->outcome);
	}
	p[0] = dir;
	p[1] = a->b->tenant_id;
	p[2] = auds;
	p[3] = a->b->accept_v1 ? "t" : "f";
	p[4] = a->b->accept_v2 ? "t" : "f";
	p[5] = skew;
	p[6] = a->b->openid_url != NULL ? "openid" : "static";
	p[7] = a->b->openid_url;
	if (store_exec(conn, "INSERT INTO entra_bindings (directory_id, "
	    "tenant_id, audiences, accept_v1, accept_v2, skew_s, jwks_source, "
	    "openid_url) SELECT $1, $2, array(SELECT json_array_elements_text("
	    "$3::json)), $4, $5, $6, $7, $8 ON CONFLICT (directory_id) DO "
	    "UPDATE SET tenant_id = EXCLUDED.tenant_id, audiences = "
	    "EXCLUDED.audiences, accept_v1 = EXCLUDED.accept_v1, accept_v2 = "
	    "EXCLUDED.accept_v2, skew_s = EXCLUDED.skew_s, jwks_source = "
	    "EXCLUDED.jwks_source, openid_url = EXCLUDED.openid_url, "
	    "updated_at = now()", 8, p, NULL, a->err) == -1)
		goto fail;
	if (a->b->jwks != NULL && store_entra_keys_put(conn,
	    a->b->tenant_id, a->b->jwks, "static", &changed, a->err) == -1)
		goto fail;
	if (store_notify(conn, "entra", a->err) == -1)
		goto fail;
	free(auds);
	return (store_finish(conn, NULL, a->actor, a->dir, "entra.bind",
	    "directory", dir, json_pack("{s:s, s:O, s:b, s:b, s:i, s:s}",
	    "tenant_id", a->b->tenant_id, "audiences", a->b->audiences,
	    "accept_v1", a->b->accept_v1, "accept_v2", a->b->accept_v2,
	    "skew_s", a->b->skew_s, "jwks_source", p[6]), a->err));
fail:
	free(auds);
	store_rollback(conn);
	return (a->err->outcome);
}

int
store_entra_bind(PGconn *conn, const struct store_actor *actor,
    int64_t directory_id, const struct store_entra_binding *b, json_t **out,
    struct store_err *err)
{
	struct entra_bind	a;

	*out = NULL;
	if (binding_check(b, err) == -1)
		return (-1);
	a.actor = actor;
	a.dir = directory_id;
	a.b = b;
	a.err = err;
	if (store_txn_run(conn, bind_txn, &a) != STORE_OK)
		return (-1);
	return (store_entra_get(conn, directory_id, out, err));
}

/* The columns store_entra_load and store_entra_get read, in order. */
#define BINDING_COLS	"b.directory_id, b.tenant_id, " \
	"array_to_json(b.audiences), b.accept_v1, b.accept_v2, b.skew_s, " \
	"b.jwks_source, b.openid_url, k.jwks, k.source, k.fetched_at, " \
	"b.updated_at"

static json_t *
binding_row(PGresult *res, int i, int with_keys)
{
	struct entra_jwks	*keys;
	json_t			*o, *auds;
	long long		 dir, skew;
	char			 why[160];

	(void)rc_parse_int(PQgetvalue(res, i, 0), 0, INT64_MAX, &dir);
	(void)rc_parse_int(PQgetvalue(res, i, 5), 0, 3600, &skew);
	auds = json_loads(PQgetvalue(res, i, 2), 0, NULL);
	o = json_pack("{s:I, s:s, s:o, s:b, s:b, s:I, s:s, s:s?}",
	    "directory_id", (json_int_t)dir, "tenant_id", PQgetvalue(res, i, 1),
	    "audiences", auds != NULL ? auds : json_array(),
	    "accept_v1", PQgetvalue(res, i, 3)[0] == 't',
	    "accept_v2", PQgetvalue(res, i, 4)[0] == 't',
	    "skew_s", (json_int_t)skew, "jwks_source", PQgetvalue(res, i, 6),
	    "openid_configuration", PQgetisnull(res, i, 7) ? NULL :
	    PQgetvalue(res, i, 7));
	if (o == NULL)
		return (NULL);
	if (!with_keys) {
		(void)json_object_set_new(o, "jwks", PQgetisnull(res, i, 8) ?
		    json_null() : json_string(PQgetvalue(res, i, 8)));
		return (o);
	}
	(void)json_object_set_new(o, "updated_at",
	    json_string(PQgetvalue(res, i, 11)));
	if (PQgetisnull(res, i, 8)) {
		(void)json_object_set_new(o, "keys", json_null());
		return (o);
	}
	keys = entra_jwks_parse(PQgetvalue(res, i, 8),
	    (size_t)PQgetlength(res, i, 8), why, sizeof(why));
	(void)json_object_set_new(o, "keys", json_pack("{s:I, s:s, s:s}",
	    "count", (json_int_t)(keys != NULL ? entra_jwks_count(keys) : 0),
	    "source", PQgetvalue(res, i, 9), "fetched_at",
	    PQgetvalue(res, i, 10)));
	entra_jwks_free(keys);
	return (o);
}

int
store_entra_get(PGconn *conn, int64_t directory_id, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[1];
	char		 dir[24];

	*out = NULL;
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)directory_id);
	p[0] = dir;
	if (store_exec(conn, "SELECT " BINDING_COLS " FROM entra_bindings b "
	    "LEFT JOIN entra_keys k USING (tenant_id) WHERE b.directory_id = "
	    "$1", 1, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return (store_err_set(err, 404, "not_bound", "the directory is "
		    "not bound to an Entra tenant"));
	}
	*out = binding_row(res, 0, 1);
	PQclear(res);
	if (*out == NULL)
		return (store_err_set(err, 500, "internal", "out of memory"));
	return (0);
}

struct entra_unbind {
	const struct store_actor	*actor;
	int64_t				 dir;
	struct store_err		*err;
};

static enum store_outcome
unbind_txn(PGconn *conn, void *arg)
{
	struct entra_unbind	*a = arg;
	PGresult		*res;
	const char		*p[1];
	char			 dir[24];

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)a->dir);
	p[0] = dir;
	if (store_begin(conn, a->err) == -1)
		return (a->err->outcome);
	if (store_exec(conn, "DELETE FROM entra_bindings WHERE directory_id = "
	    "$1 RETURNING tenant_id", 1, p, &res, a->err) == -1) {
		store_rollback(conn);
		return (a->err->outcome);
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		store_rollback(conn);
		store_err_set(a->err, 404, "not_bound", "the directory is not "
		    "bound to an Entra tenant");
		return (a->err->outcome);
	}
	PQclear(res);
	if (store_notify(conn, "entra", a->err) == -1) {
		store_rollback(conn);
		return (a->err->outcome);
	}
	return (store_finish(conn, NULL, a->actor, a->dir, "entra.unbind",
	    "directory", dir, NULL, a->err));
}

int
store_entra_unbind(PGconn *conn, const struct store_actor *actor,
    int64_t directory_id, struct store_err *err)
{
	struct entra_unbind	a;

	a.actor = actor;
	a.dir = directory_id;
	a.err = err;
	return (store_txn_run(conn, unbind_txn, &a) == STORE_OK ? 0 : -1);
}

int
store_entra_load(PGconn *conn, json_t **out, struct store_err *err)
{
	PGresult	*res;
	json_t		*o;
	int		 i;

	*out = NULL;
	if (store_exec(conn, "SELECT " BINDING_COLS " FROM entra_bindings b "
	    "LEFT JOIN entra_keys k USING (tenant_id) ORDER BY "
	    "b.directory_id", 0, NULL, &res, err) == -1)
		return (-1);
	*out = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((o = binding_row(res, i, 0)) == NULL) {
			PQclear(res);
			json_decref(*out);
			*out = NULL;
			return (store_err_set(err, 500, "internal",
			    "out of memory"));
		}
		(void)json_array_append_new(*out, o);
	}
	PQclear(res);
	return (0);
}

int
store_entra_keys_put(PGconn *conn, const char *tenant_id, const char *jwks,
    const char *source, int *changed, struct store_err *err)
{
	PGresult	*res;
	const char	*p[3];

	*changed = 0;
	p[0] = tenant_id;
	p[1] = jwks;
	p[2] = source;
	if (store_exec(conn, "INSERT INTO entra_keys (tenant_id, jwks, "
	    "source) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE "
	    "SET jwks = EXCLUDED.jwks, source = EXCLUDED.source, fetched_at "
	    "= now() WHERE entra_keys.jwks IS DISTINCT FROM EXCLUDED.jwks "
	    "OR entra_keys.source IS DISTINCT FROM EXCLUDED.source "
	    "RETURNING 1", 3, p, &res, err) == -1)
		return (-1);
	*changed = PQntuples(res) > 0;
	PQclear(res);
	if (*changed && store_notify(conn, "entra", err) == -1)
		return (-1);
	return (0);
}
