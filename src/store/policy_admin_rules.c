/*
 * policy_admin_rules: allow, deny and elevate rules of a directory
 * (policy_admin_impl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_admin_impl.h"
#include "util.h"

struct rule_in {
	char		 kind[24];
	char		 subject[40];
	char		 role[POLICY_ID_MAX + 1];	/* kind "role" */
	char		 server[64];
	char		 selector[POLICY_SELECTOR_MAX + 1];
	char		 effect[8];
	long long	 max_grant_s;		/* 0: none */
	const char	*description;
	int		 has_description;
};

/* Reads the rule fields the body sets over r, validating each. */
static int
rule_parse(PGconn *conn, int64_t dir, const json_t *body, struct rule_in *r,
    struct store_err *err)
{
	struct policy_err	 perr;
	json_t		*subj, *v;
	const char	*kind, *name, *s;
	int		 set;

	if ((subj = json_object_get(body, "subject")) != NULL) {
		r->role[0] = '\0';
		kind = json_string_value(json_object_get(subj, "kind"));
		if (json_is_string(subj) && strcmp(json_string_value(subj),
		    "everyone") == 0) {
			rc_strlcpy(r->kind, "everyone", sizeof(r->kind));
			r->subject[0] = '\0';
		} else if (kind != NULL && strcmp(kind, "role") == 0) {
			/*
			 * An app role value, as SCIM stores it (Entra's
			 * AppRoleAssignmentsComplex): exact, not resolved,
			 * so a rule may name a role no user holds yet.
			 */
			name = json_string_value(json_object_get(subj,
			    "value"));
			memset(&perr, 0, sizeof(perr));
			if (policy_check_value(name, POLICY_SELECTOR_MAX, 0,
			    "role", &perr) == -1)
				return (store_err_set(err, 400,
				    "invalid_subject", "a role subject is "
				    "{\"kind\": \"role\", \"value\": "
				    "\"<app role value>\"}: %s", perr.msg));
			rc_strlcpy(r->kind, "role", sizeof(r->kind));
			rc_strlcpy(r->role, name, sizeof(r->role));
			r->subject[0] = '\0';
		} else {
			kind = json_string_value(json_object_get(subj, "kind"));
			if (kind == NULL)
				kind = json_string_value(json_object_get(subj,
				    "type"));
			if (kind == NULL || (strcmp(kind, "group") != 0 &&
			    strcmp(kind, "user") != 0 && strcmp(kind,
			    "service_principal") != 0 && strcmp(kind,
			    "everyone") != 0))
				return (store_err_set(err, 400,
				    "invalid_subject", "'subject' must be "
				    "\"everyone\", {\"kind\": "
				    "\"group\"|\"user\"|\"service_principal\"|"
				    "\"everyone\", \"id\" or \"name\"} or "
				    "{\"kind\": \"role\", \"value\"}"));
			if (strcmp(kind, "everyone") == 0) {
				rc_strlcpy(r->kind, kind, sizeof(r->kind));
				r->subject[0] = '\0';
			} else {
				name = json_string_value(json_object_get(subj,
				    "id"));
				if (name == NULL)
					name = json_string_value(
					    json_object_get(subj, "name"));
				if (pa_resolve(conn, dir, kind, name, r->kind,
				    r->subject, err) == -1)
					return (-1);
			}
		}
	}
	if ((v = json_object_get(body, "server")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || (strcmp(s, "*") != 0 && !pa_slug_ok(s)))
			return (store_err_set(err, 400, "invalid_server",
			    "'server' must be an MCP server slug or \"*\""));
		rc_strlcpy(r->server, s, sizeof(r->server));
	}
	if ((v = json_object_get(body, "selector")) == NULL)
		v = json_object_get(body, "tool");
	if (v != NULL) {
		s = json_string_value(v);
		if (!pa_token_ok(s, POLICY_SELECTOR_MAX) ||
		    strcmp(s, "risk:") == 0 || strcmp(s, "label:") == 0 ||
		    s[strlen(s) - 1] == ':')
			return (store_err_set(err, 400, "invalid_selector",
			    "'selector' must be a tool name, a glob "
			    "(delete_*), risk:X or label:X, up to %d "
			    "characters without spaces", POLICY_SELECTOR_MAX));
		rc_strlcpy(r->selector, s, sizeof(r->selector));
	}
	if ((v = json_object_get(body, "effect")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || (strcmp(s, "allow") != 0 &&
		    strcmp(s, "deny") != 0 && strcmp(s, "elevate") != 0))
			return (store_err_set(err, 400, "invalid_effect",
			    "'effect' must be allow, deny or elevate"));
		rc_strlcpy(r->effect, s, sizeof(r->effect));
	}
	if ((v = json_object_get(body, "max_grant_s")) != NULL) {
		if (json_is_null(v))
			r->max_grant_s = 0;
		else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 366LL * 86400)
			return (store_err_set(err, 400, "invalid_max_grant",
			    "'max_grant_s' must be 1 to 31622400 seconds, or "
			    "null"));
		else
			r->max_grant_s = json_integer_value(v);
	}
	if (pa_opt_text(body, "description", 4096, &s, &set, err) == -1)
		return (-1);
	if (set) {
		r->description = s;
		r->has_description = 1;
	}

	if (r->kind[0] == '\0' || r->server[0] == '\0' ||
	    r->selector[0] == '\0' || r->effect[0] == '\0')
		return (store_err_set(err, 400, "invalid_request", "a rule "
		    "needs 'subject', 'server', 'selector' and 'effect'"));
	if (r->max_grant_s != 0 && strcmp(r->effect, "elevate") != 0)
		return (store_err_set(err, 400, "invalid_max_grant",
		    "'max_grant_s' applies to elevate rules only"));

	return (0);
}

int
pa_rule_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	struct rule_in	 r;
	PGresult	*res;
	const char	*p[11];
	char		 d[24], maxg[24], fdir[24];
	const char	*server, *subject;
	json_t		*rec;
	int64_t		 dir = 0;
	long long	 ll;
	int		 rc;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op != PA_LIST && rq->op != PA_CREATE && !rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no rule '%.64s'",
		    rq->key));
	switch (rq->op) {
	case PA_LIST:
		server = json_string_value(json_object_get(rq->query,
		    "server"));
		subject = json_string_value(json_object_get(rq->query,
		    "subject"));
		if (subject != NULL && !rc_is_uuid(subject))
			return (store_err_set(err, 400, "invalid_request",
			    "'subject' must be a subject id"));
		p[0] = d;
		p[1] = server;
		p[2] = subject;
		return (pa_list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.id), '[]')::text FROM (SELECT r.id, " RULE_JSON
		    "::json AS j FROM rules r WHERE " IN_DIR("r.directory_id",
		    "1") " AND ($2::text IS NULL OR r.server_slug = $2) AND "
		    "($3::uuid IS NULL OR r.subject_id = $3::uuid) ORDER BY "
		    "r.id LIMIT 5000) x", 3, p, out, err));
	case PA_GET:
		p[0] = d;
		p[1] = rq->key;
		rc = pa_one(conn, "SELECT " RULE_JSON " FROM rules r WHERE "
		    "r.id = $2::uuid AND " IN_DIR("r.directory_id", "1"), 2, p,
		    out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_DELETE:
		if (store_begin(conn, err) == -1)
			return (-1);
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "DELETE FROM rules r WHERE r.id = "
		    "$2::uuid AND " IN_DIR("r.directory_id", "1") " RETURNING "
		    "json_build_object('kind', 'rule', 'id', r.id, "
		    "'directory_id', r.directory_id, 'deleted', true)::text, "
		    "r.directory_id, r.subject_kind, r.subject_id", 2, p, &res,
		    err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		pa_queue(rq, pa_col_json(res, 0, 0));
		(void)rc_parse_int(PQgetvalue(res, 0, 1), 1, INT64_MAX, &ll);
		dir = ll;
		store_changes_revoke(rq->changes, dir, "rule.changed",
		    strcmp(PQgetvalue(res, 0, 2), "user") == 0 ||
		    strcmp(PQgetvalue(res, 0, 2), "service_principal") == 0 ?
		    PQgetvalue(res, 0, 3) : NULL, json_pack("{s:s, s:s}",
		    "cause", "rule_deleted", "rule_id", rq->key));
		PQclear(res);
		return (store_finish(conn, rq->changes, rq->actor, dir,
		    "rule.delete", "Rule", rq->key, NULL, err) == STORE_OK ?
		    0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on rules"));
	}

	memset(&r, 0, sizeof(r));
	if (store_begin(conn, err) == -1)
		return (-1);
	if (rq->op == PA_CREATE) {
		if (pa_write_dir(conn, rq, &dir, err) == -1)
			return (-1);
	} else {
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "SELECT r.directory_id, r.subject_kind, "
		    "r.subject_id, r.server_slug, r.tool_selector, r.effect, "
		    "r.max_grant_s, r.description, r.subject_role FROM rules r "
		    "WHERE r.id = $2::uuid AND " IN_DIR("r.directory_id", "1")
		    " FOR UPDATE", 2, p, &res, err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		(void)rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &ll);
		dir = ll;
		rc_strlcpy(r.kind, PQgetvalue(res, 0, 1), sizeof(r.kind));
		rc_strlcpy(r.subject, PQgetvalue(res, 0, 2), sizeof(r.subject));
		rc_strlcpy(r.role, PQgetvalue(res, 0, 8), sizeof(r.role));
		rc_strlcpy(r.server, PQgetvalue(res, 0, 3), sizeof(r.server));
		rc_strlcpy(r.selector, PQgetvalue(res, 0, 4),
		    sizeof(r.selector));
		rc_strlcpy(r.effect, PQgetvalue(res, 0, 5), sizeof(r.effect));
		if (!PQgetisnull(res, 0, 6))
			(void)rc_parse_int(PQgetvalue(res, 0, 6), 1, INT32_MAX,
			    &r.max_grant_s);
		PQclear(res);
		/* Description kept unless the body sets it (below). */
	}
	if (rule_parse(conn, dir, rq->body, &r, err) == -1)
		return (-1);
	if (strcmp(r.server, "*") != 0) {
		p[0] = r.server;
		if (store_exec(conn, "SELECT 1 FROM mcp_servers WHERE slug = "
		    "$1", 1, p, &res, err) == -1)
			return (-1);
		rc = PQntuples(res);
		PQclear(res);
		if (rc != 1) {
			return (store_err_set(err, 400, "invalid_server", "no "
			    "MCP server '%.64s' (use \"*\" for any server)",
			    r.server));
		}
	}

	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	(void)snprintf(maxg, sizeof(maxg), "%lld", r.max_grant_s);
	p[0] = fdir;
	p[1] = r.kind;
	p[2] = r.subject[0] ? r.subject : NULL;
	p[3] = r.server;
	p[4] = r.selector;
	p[5] = r.effect;
	p[6] = r.max_grant_s ? maxg : NULL;
	p[7] = r.description;
	p[8] = r.has_description ? "1" : "0";
	p[9] = rq->op == PA_CREATE ? rq->actor->name : rq->key;
	p[10] = r.role[0] ? r.role : NULL;
	if (rq->op == PA_CREATE)
		rc = pa_one(conn, "INSERT INTO rules AS r (directory_id, "
		    "subject_kind, subject_id, server_slug, tool_selector, "
		    "effect, max_grant_s, description, created_by, "
		    "subject_role) VALUES ($1::bigint, $2, $3::uuid, $4, $5, "
		    "$6, $7::integer, $8, $10, $11) RETURNING " RULE_JSON ", "
		    RULE_REC ", $9::text", 11, p, out, &rec, err);
	else
		rc = pa_one(conn, "UPDATE rules r SET subject_kind = $2, "
		    "subject_id = $3::uuid, subject_role = $11, server_slug = "
		    "$4, tool_selector = $5, effect = $6, max_grant_s = "
		    "$7::integer, description = CASE WHEN $9 = '1' THEN $8 "
		    "ELSE r.description END, version = r.version + 1, "
		    "updated_at = now() WHERE r.id = $10::uuid AND "
		    "r.directory_id = $1::bigint RETURNING " RULE_JSON ", "
		    RULE_REC, 11, p, out, &rec, err);
	if (rc != 1) {
		if (rc == 0) {
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		return (-1);
	}
	pa_queue(rq, rec);
	/* A deny, or any edit, can take access away. */
	if (rq->op == PA_UPDATE || strcmp(r.effect, "deny") == 0)
		store_changes_revoke(rq->changes, dir, "rule.changed",
		    strcmp(r.kind, "user") == 0 || strcmp(r.kind,
		    "service_principal") == 0 ? r.subject : NULL,
		    json_pack("{s:s, s:s}", "cause", rq->op == PA_CREATE ?
		    "rule_created" : "rule_updated", "rule_id",
		    json_string_value(json_object_get(*out, "id"))));
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    rq->op == PA_CREATE ? "rule.create" : "rule.update", "Rule",
	    json_string_value(json_object_get(*out, "id")), json_incref(*out),
	    err) == STORE_OK ? 0 : -1);
}
