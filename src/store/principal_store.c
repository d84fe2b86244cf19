/*
 * principal_store: see principal_store.h.
 */
#include <stdio.h>
#include <string.h>

#include "principal_store.h"
#include "util.h"

/* One run of principal_store_revoke_all (store_txn_run). */
struct revoke_all {
	const struct store_actor	*actor;
	const char			*id;
	int				 revoke;
	struct store_changes		*changes;
	int				*ngrants;
	struct store_err		*err;
};

static enum store_outcome
revoke_all_run(PGconn *conn, void *arg)
{
	struct revoke_all	*a = arg;
	struct store_err	*err = a->err;
	PGresult		*res;
	const char		*p[3];
	char			 dir[24];
	long long		 pdir;
	int			 i;

	store_changes_reset(a->changes);
	*a->ngrants = 0;
	(void)snprintf(dir, sizeof(dir), "%lld",
	    (long long)a->actor->directory_id);
	p[0] = a->id;
	p[1] = a->actor->directory_id ? dir : NULL;
	p[2] = a->revoke ? "t" : "f";

	if (store_begin(conn, err) == -1)
		return (err->outcome);
	/* Users first, then agent identities: the id is one or the other. */
	if (store_exec(conn, "WITH u AS (UPDATE users SET revoked_all_at = "
	    "CASE WHEN $3::boolean THEN coalesce(revoked_all_at, now()) END, "
	    "updated_at = now() WHERE id = $1::uuid AND deleted_at IS NULL "
	    "AND ($2::bigint IS NULL OR directory_id = $2) "
	    "RETURNING directory_id), s AS (UPDATE service_principals SET "
	    "revoked_all_at = CASE WHEN $3::boolean THEN "
	    "coalesce(revoked_all_at, now()) END, updated_at = now() "
	    "WHERE id = $1::uuid AND deleted_at IS NULL AND ($2::bigint IS "
	    "NULL OR directory_id = $2) AND NOT EXISTS (SELECT 1 FROM u) "
	    "RETURNING directory_id) SELECT directory_id FROM u UNION ALL "
	    "SELECT directory_id FROM s", 3, p, &res, err) == -1)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_err_set(err, 404, "not_found", "no principal with id "
		    "'%.64s' in this directory", a->id);
		goto fail;
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &pdir);
	PQclear(res);

	store_changes_add(a->changes, json_pack("{s:s, s:s, s:b}", "kind",
	    "revoked_all", "principal", a->id, "revoked", a->revoke));
	if (a->revoke) {
		store_changes_revoke(a->changes, pdir, "principal.revoked",
		    a->id, json_pack("{s:s}", "by", a->actor->name));
		if (store_exec(conn, "UPDATE jit_grants SET state = 'revoked', "
		    "updated_at = now() WHERE principal_id = $1::uuid AND "
		    "state IN ('requested', 'approved') RETURNING id, "
		    "server_slug, tool_selector", 1, p, &res, err) == -1)
			goto fail;
		*a->ngrants = PQntuples(res);
		for (i = 0; i < PQntuples(res); i++) {
			store_changes_add(a->changes, json_pack("{s:s, s:s, "
			    "s:s, s:s, s:s, s:s}", "kind", "grant", "id",
			    PQgetvalue(res, i, 0), "principal", a->id,
			    "server", PQgetvalue(res, i, 1), "selector",
			    PQgetvalue(res, i, 2), "state", "revoked"));
			store_changes_revoke(a->changes, pdir,
			    "grant.revoked", a->id, json_pack("{s:s, s:s}",
			    "grant_id", PQgetvalue(res, i, 0), "reason",
			    "kill switch"));
		}
		PQclear(res);
	}

	return (store_finish(conn, a->changes, a->actor, pdir, a->revoke ?
	    "principal.revoke_all" : "principal.restore", "principal", a->id,
	    json_pack("{s:b, s:i}", "revoked", a->revoke, "grants_revoked",
	    *a->ngrants), err));

fail:
	store_rollback(conn);
	return (err->outcome);
}

int
principal_store_revoke_all(PGconn *conn, const struct store_actor *actor,
    const char *id, int revoke, struct store_changes *changes, int *ngrants,
    struct store_err *err)
{
	struct revoke_all	a;

	*ngrants = 0;
	if (!rc_is_uuid(id))
		return (store_err_set(err, 404, "not_found", "no principal "
		    "with id '%.64s' in this directory", id));
	a.actor = actor;
	a.id = id;
	a.revoke = revoke;
	a.changes = changes;
	a.ngrants = ngrants;
	a.err = err;

	return (store_txn_run(conn, revoke_all_run, &a) == STORE_OK ? 0 : -1);
}
