/*
 * principal_store: see principal_store.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "principal_store.h"
#include "util.h"

static int
err_set(struct store_err *err, int status, const char *code, const char *fmt,
    ...)
{
	va_list	ap;

	err->status = status;
	rc_strlcpy(err->code, code, sizeof(err->code));
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);

	return (-1);
}

int
principal_store_revoke_all(PGconn *conn, const struct store_actor *actor,
    const char *id, int revoke, struct store_changes *changes, int *ngrants,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[3];
	char		 dir[24];
	long long	 pdir;
	json_t		*summary;
	int		 i;

	*ngrants = 0;
	(void)snprintf(dir, sizeof(dir), "%lld",
	    (long long)actor->directory_id);
	p[0] = id;
	p[1] = actor->directory_id ? dir : NULL;
	p[2] = revoke ? "t" : "f";

	if (!rc_is_uuid(id)) {
		err_set(err, 404, "not_found", "no principal with id '%.64s' "
		    "in this directory", id);
		return (-1);
	}
	if (store_begin(conn, err) == -1)
		return (-1);
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
		store_rollback(conn);
		err_set(err, 404, "not_found", "no principal with id '%.64s' "
		    "in this directory", id);
		return (-1);
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &pdir);
	PQclear(res);

	store_changes_add(changes, json_pack("{s:s, s:s, s:b}", "kind",
	    "revoked_all", "principal", id, "revoked", revoke));
	if (revoke) {
		store_changes_revoke(changes, pdir, "principal.revoked",
		    id, json_pack("{s:s}", "by", actor->name));
		if (store_exec(conn, "UPDATE jit_grants SET state = 'revoked', "
		    "updated_at = now() WHERE principal_id = $1::uuid AND state "
		    "IN ('requested', 'approved') RETURNING id, server_slug, "
		    "tool_selector", 1, p, &res, err) == -1)
			goto fail;
		*ngrants = PQntuples(res);
		for (i = 0; i < PQntuples(res); i++) {
			store_changes_add(changes, json_pack("{s:s, s:s, "
			    "s:s, s:s, s:s, s:s}", "kind", "grant", "id",
			    PQgetvalue(res, i, 0), "principal", id,
			    "server", PQgetvalue(res, i, 1), "selector",
			    PQgetvalue(res, i, 2), "state", "revoked"));
			store_changes_revoke(changes, pdir,
			    "grant.revoked", id, json_pack("{s:s, s:s}",
			    "grant_id", PQgetvalue(res, i, 0), "reason",
			    "kill switch"));
		}
		PQclear(res);
	}
	summary = json_pack("{s:b, s:i}", "revoked", revoke,
	    "grants_revoked", *ngrants);
	/* Flush, then audit: the audit chain's lock is held to commit. */
	if (store_changes_flush(conn, changes, err) == -1 ||
	    store_audit(conn, actor, pdir, revoke ?
	    "principal.revoke_all" : "principal.restore", "principal", id,
	    summary, err) == -1) {
		json_decref(summary);
		goto fail;
	}
	json_decref(summary);
	if (store_commit(conn, err) == -1)
		goto fail;

	return (0);

fail:
	store_rollback(conn);
	return (-1);
}

