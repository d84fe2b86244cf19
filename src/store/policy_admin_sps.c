/*
 * policy_admin_sps: service principals, the agent identities of a
 * directory (policy_admin_impl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_admin_impl.h"
#include "util.h"

int
pa_sp_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[9], *name, *app, *owner;
	char		 d[24], fdir[24], okind[24], oid[40];
	json_t		*rec, *v;
	int64_t		 dir = 0;
	long long	 ll;
	int		 has_name, has_app, has_owner, rc, was_active, active;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op != PA_LIST && rq->op != PA_CREATE && !rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no service "
		    "principal '%.64s'", rq->key));
	switch (rq->op) {
	case PA_LIST:
		p[0] = d;
		return (pa_list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.name, x.id), '[]')::text FROM (SELECT p.id, p.name, "
		    SP_JSON "::json AS j FROM service_principals p WHERE "
		    "p.deleted_at IS NULL AND " IN_DIR("p.directory_id", "1")
		    " ORDER BY p.name, p.id LIMIT 5000) x", 1, p, out, err));
	case PA_GET:
		p[0] = d;
		p[1] = rq->key;
		rc = pa_one(conn, "SELECT " SP_JSON " FROM service_principals "
		    "p WHERE p.id = $2::uuid AND p.deleted_at IS NULL AND "
		    IN_DIR("p.directory_id", "1"), 2, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
	case PA_DELETE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on service principals"));
	}

	has_owner = 0;
	owner = NULL;
	active = -1;
	if (rq->op != PA_DELETE) {
		if (pa_opt_text(rq->body, "name", 256, &name, &has_name,
		    err) == -1)
			return (-1);
		if ((v = json_object_get(rq->body, "app_id")) == NULL)
			v = json_object_get(rq->body, "appId");
		has_app = v != NULL;
		app = json_string_value(v);
		if ((has_name && (name == NULL || *name == '\0')) ||
		    (has_app && !pa_token_ok(app, 256)))
			return (store_err_set(err, 400, "invalid_request",
			    "'name' (1-256 characters) and 'app_id' (the Entra "
			    "application id, no spaces) must be strings"));
		if (rq->op == PA_CREATE && (!has_name || !has_app))
			return (store_err_set(err, 400, "invalid_request", "a "
			    "service principal needs 'name' and 'app_id'"));
		if ((v = json_object_get(rq->body, "active")) != NULL) {
			if (!json_is_boolean(v))
				return (store_err_set(err, 400,
				    "invalid_request", "'active' must be true "
				    "or false"));
			active = json_is_true(v);
		}
		if ((v = json_object_get(rq->body, "owner")) != NULL) {
			has_owner = 1;
			if (!json_is_null(v) && !json_is_string(v))
				return (store_err_set(err, 400, "invalid_owner",
				    "'owner' must be a user id, a userName, or "
				    "null"));
			owner = json_string_value(v);
		}
	} else {
		name = app = NULL;
		has_name = has_app = 0;
	}

	if (store_begin(conn, err) == -1)
		return (-1);
	was_active = 1;
	if (rq->op == PA_CREATE) {
		if (pa_write_dir(conn, rq, &dir, err) == -1)
			return (-1);
	} else {
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "SELECT p.directory_id, p.active FROM "
		    "service_principals p WHERE p.id = $2::uuid AND "
		    "p.deleted_at IS NULL AND " IN_DIR("p.directory_id", "1")
		    " FOR UPDATE", 2, p, &res, err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		}
		(void)rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &ll);
		dir = ll;
		was_active = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		PQclear(res);
	}
	if (owner != NULL) {
		if (pa_resolve(conn, dir, "user", owner, okind, oid,
		    err) == -1)
			return (store_err_set(err, 400, "invalid_owner", "no "
			    "user '%.128s' in this directory", owner));
		owner = oid;
	}

	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	p[0] = fdir;
	p[1] = name;
	p[2] = app;
	p[3] = owner;
	p[4] = active == -1 ? NULL : active ? "true" : "false";
	p[5] = has_name ? "1" : "0";
	p[6] = has_app ? "1" : "0";
	p[7] = has_owner ? "1" : "0";
	p[8] = rq->key;
	if (rq->op == PA_CREATE)
		rc = pa_one(conn, "INSERT INTO service_principals AS p "
		    "(directory_id, name, app_id, owner_user_id, active) "
		    "SELECT $1::bigint, $2, $3, $4::uuid, coalesce($5::boolean,"
		    " true) WHERE $6 || $7 || $8 IS NOT NULL AND $9::text IS "
		    "NULL RETURNING " SP_JSON ", " SP_REC, 9, p, out, &rec,
		    err);
	else if (rq->op == PA_UPDATE)
		rc = pa_one(conn, "UPDATE service_principals p SET name = CASE "
		    "WHEN $6 = '1' THEN $2 ELSE p.name END, app_id = CASE WHEN "
		    "$7 = '1' THEN $3 ELSE p.app_id END, owner_user_id = CASE "
		    "WHEN $8 = '1' THEN $4::uuid ELSE p.owner_user_id END, "
		    "active = coalesce($5::boolean, p.active), updated_at = "
		    "now() WHERE p.id = $9::uuid AND p.directory_id = "
		    "$1::bigint RETURNING " SP_JSON ", " SP_REC, 9, p, out,
		    &rec, err);
	else
		rc = pa_one(conn, "UPDATE service_principals p SET deleted_at "
		    "= now(), active = false, updated_at = now() WHERE p.id = "
		    "$9::uuid AND p.directory_id = $1::bigint AND $2::text IS "
		    "NULL AND $3::text IS NULL AND $4::uuid IS NULL AND "
		    "$5::boolean IS NULL AND $6 || $7 || $8 IS NOT NULL "
		    "RETURNING " SP_JSON ", " SP_REC, 9, p, out, &rec, err);
	if (rc != 1) {
		if (rc == 0) {
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		}
		if (err->status == 409) {
			return (store_err_set(err, 409, "conflict", "another "
			    "service principal in this directory has app_id "
			    "'%.128s'", app ? app : ""));
		}
		return (-1);
	}
	pa_queue(rq, rec);
	if (rq->op == PA_DELETE)
		store_changes_revoke(rq->changes, dir, "principal.revoked",
		    rq->key, json_pack("{s:s}", "cause", "deleted"));
	else if (rq->op == PA_UPDATE && ((was_active && active == 0) ||
	    has_owner || has_app))
		store_changes_revoke(rq->changes, dir, "principal.suspended",
		    rq->key, json_pack("{s:s}", "cause", active == 0 ?
		    "disabled" : "changed"));
	if (rq->op == PA_DELETE) {
		json_decref(*out);
		*out = NULL;
	}
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    rq->op == PA_CREATE ? "sp.create" : rq->op == PA_UPDATE ?
	    "sp.update" : "sp.delete", "ServicePrincipal", rq->key ? rq->key :
	    json_string_value(json_object_get(*out, "id")), rq->body ?
	    json_deep_copy(rq->body) : NULL, err) == STORE_OK ? 0 : -1);
}
