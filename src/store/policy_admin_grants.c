/*
 * policy_admin_grants: just-in-time grants (request, approve, deny,
 * activate, revoke) and their expiry (policy_admin_impl.h).
 *
 * Which elevate rule a grant falls under is decided with the policy
 * core itself (a one-rule index), so a grant request and a decision can
 * never disagree on what a selector covers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_admin_impl.h"
#include "util.h"

static int	grant_request(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);

/* Locks a grant of the actor's directory; fills its state and directory. */
static int
grant_lock(PGconn *conn, struct policy_admin_req *rq, char *state,
    int64_t *dir, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 d[24];
	long long	 ll;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	p[0] = d;
	p[1] = rq->key;
	if (store_exec(conn, "SELECT g.state, g.directory_id FROM jit_grants "
	    "g WHERE g.id = $2::uuid AND " IN_DIR("g.directory_id", "1")
	    " FOR UPDATE", 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (store_err_set(err, 404, "not_found", "no grant '%.64s'",
		    rq->key));
	}
	rc_strlcpy(state, PQgetvalue(res, 0, 0), 16);
	(void)rc_parse_int(PQgetvalue(res, 0, 1), 1, INT64_MAX, &ll);
	*dir = ll;
	PQclear(res);

	return (0);
}

int
pa_grant_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	const char	*p[3], *action, *sql, *principal;
	char		 d[24], state[16];
	json_t		*rec;
	int64_t		 dir = 0;
	int		 rc;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op == PA_CREATE)
		return (grant_request(conn, rq, out, err));
	if (rq->op == PA_LIST) {
		p[0] = d;
		p[1] = json_string_value(json_object_get(rq->query, "state"));
		p[2] = json_string_value(json_object_get(rq->query,
		    "principal"));
		if (p[2] != NULL && !rc_is_uuid(p[2]))
			return (store_err_set(err, 400, "invalid_request",
			    "'principal' must be a principal id"));
		return (pa_list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.created_at DESC, x.id), '[]')::text FROM (SELECT g.id, "
		    "g.created_at, " GRANT_JSON "::json AS j FROM jit_grants g "
		    "WHERE " IN_DIR("g.directory_id", "1") " AND ($2::text IS "
		    "NULL OR g.state = $2 OR ($2 = 'active' AND g.state = "
		    "'approved' AND now() >= g.not_before AND now() < "
		    "g.expires_at)) AND ($3::uuid IS NULL OR g.principal_id = "
		    "$3::uuid) ORDER BY g.created_at DESC, g.id LIMIT 5000) x",
		    3, p, out, err));
	}
	if (!rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no grant '%.64s'",
		    rq->key));
	if (rq->op == PA_GET) {
		p[0] = d;
		p[1] = rq->key;
		rc = pa_one(conn, "SELECT " GRANT_JSON " FROM jit_grants g "
		    "WHERE g.id = $2::uuid AND " IN_DIR("g.directory_id", "1"),
		    2, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no grant "
			    "'%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	}

	if (store_begin(conn, err) == -1)
		return (-1);
	if (grant_lock(conn, rq, state, &dir, err) == -1)
		return (-1);
	switch (rq->op) {
	case PA_APPROVE:
		if (strcmp(state, "requested") != 0)
			goto badstate;
		action = "grant.approve";
		sql = "UPDATE jit_grants g SET state = 'approved', approved_by "
		    "= $2, updated_at = now() WHERE g.id = $1::uuid AND "
		    "g.expires_at > now() RETURNING " GRANT_JSON ", " GRANT_REC;
		break;
	case PA_DENY:
		if (strcmp(state, "requested") != 0)
			goto badstate;
		action = "grant.deny";
		sql = "UPDATE jit_grants g SET state = 'denied', approved_by = "
		    "$2, updated_at = now() WHERE g.id = $1::uuid RETURNING "
		    GRANT_JSON ", NULL";
		break;
	case PA_ACTIVATE:
		if (strcmp(state, "approved") != 0)
			goto badstate;
		action = "grant.activate";
		/* Starts now; keeps its length (validated at request). */
		sql = "UPDATE jit_grants g SET expires_at = now() + "
		    "(g.expires_at - g.not_before), not_before = now(), "
		    "updated_at = now() WHERE g.id = $1::uuid AND g.not_before "
		    "> now() RETURNING " GRANT_JSON ", " GRANT_REC;
		break;
	case PA_REVOKE:
		if (strcmp(state, "requested") != 0 &&
		    strcmp(state, "approved") != 0)
			goto badstate;
		action = "grant.revoke";
		sql = "UPDATE jit_grants g SET state = 'revoked', updated_at = "
		    "now() WHERE g.id = $1::uuid RETURNING " GRANT_JSON ", "
		    GRANT_REC;
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on grants"));
	}
	p[0] = rq->key;
	p[1] = rq->actor->name;
	rc = pa_one(conn, sql, rq->op == PA_APPROVE ||
	    rq->op == PA_DENY ? 2 : 1, p, out, &rec, err);
	if (rc != 1) {
		if (rc == -1)
			return (-1);
		return (store_err_set(err, 409, "invalid_state",
		    rq->op == PA_APPROVE ? "the grant's window has already "
		    "ended" : "the grant has already started"));
	}
	principal = json_string_value(json_object_get(json_object_get(*out,
	    "principal"), "id"));
	if (rq->op != PA_DENY && !(rq->op == PA_REVOKE &&
	    strcmp(state, "requested") == 0))
		pa_queue(rq, rec);
	else
		json_decref(rec);
	if (rq->op == PA_REVOKE && strcmp(state, "approved") == 0)
		store_changes_revoke(rq->changes, dir, "grant.revoked",
		    principal, json_pack("{s:s, s:O, s:O}", "grant_id", rq->key,
		    "server", json_object_get(*out, "server"), "selector",
		    json_object_get(*out, "selector")));
	return (store_finish(conn, rq->changes, rq->actor, dir, action,
	    "Grant", rq->key, json_pack("{s:s, s:O}", "from", state, "to",
	    json_object_get(*out, "state")), err) == STORE_OK ? 0 : -1);

badstate:
	return (store_err_set(err, 409, "invalid_state", "a %s grant cannot be "
	    "%s", state, rq->op == PA_APPROVE ? "approved" : rq->op ==
	    PA_DENY ? "denied" : rq->op == PA_ACTIVATE ? "activated" :
	    "revoked"));
}

/*
 * 1 when the elevate rule (server rsrv, selector rsel) covers a grant of
 * gsel on gsrv: the same selector, "*", or, for a grant of one tool,
 * what the policy core says about that tool.
 */
static int
rule_covers(PGconn *conn, const char *rsrv, const char *rsel,
    const char *gsrv, const char *gsel, struct store_err *err)
{
	struct policy_index	*idx;
	struct policy_user	 u;
	struct policy_tool	 t;
	struct policy_rule	 r;
	struct policy_result	 res;
	struct policy_subject	 subj;
	struct policy_err	 perr;
	PGresult		*pg;
	const char		*p[2], *labels[POLICY_LIST_MAX];
	json_t			*lv, *l;
	size_t			 i;
	int			 covers;

	if (strcmp(rsrv, "*") != 0 && strcmp(rsrv, gsrv) != 0)
		return (0);
	if (strcmp(rsel, gsel) == 0 || strcmp(rsel, "*") == 0)
		return (1);
	if (strcmp(gsrv, "*") == 0 || strpbrk(gsel, "*?:") != NULL)
		return (0);

	p[0] = gsrv;
	p[1] = gsel;
	if (store_exec(conn, "SELECT t.risk, array_to_json(t.labels)::text "
	    "FROM tools t JOIN mcp_servers s ON s.id = t.server_id WHERE "
	    "s.slug = $1 AND t.name = $2", 2, p, &pg, err) == -1)
		return (-1);
	if (PQntuples(pg) != 1) {
		PQclear(pg);
		return (0);
	}
	lv = json_loads(PQgetvalue(pg, 0, 1), 0, NULL);
	memset(&t, 0, sizeof(t));
	t.server = gsrv;
	t.name = gsel;
	t.risk = PQgetvalue(pg, 0, 0);
	json_array_foreach(lv, i, l) {
		if (t.nlabels < POLICY_LIST_MAX && json_is_string(l))
			labels[t.nlabels++] = json_string_value(l);
	}
	t.labels = labels;

	covers = 0;
	memset(&perr, 0, sizeof(perr));
	memset(&u, 0, sizeof(u));
	u.id = "probe";
	u.directory = "0";
	u.user_name = "probe";
	u.active = 1;
	memset(&r, 0, sizeof(r));
	r.id = "probe-rule";
	r.subject_kind = POLICY_SUBJECT_EVERYONE;
	r.server = rsrv;
	r.tool = rsel;
	r.effect = POLICY_EFFECT_ELEVATE;
	memset(&subj, 0, sizeof(subj));
	subj.by = POLICY_BY_ID;
	subj.value = "probe";
	if ((idx = policy_new()) != NULL &&
	    policy_user_upsert(idx, &u, &perr) == 0 &&
	    policy_server_upsert(idx, gsrv, &perr) == 0 &&
	    policy_tool_upsert(idx, &t, &perr) == 0 &&
	    policy_rule_upsert(idx, &r, &perr) == 0) {
		(void)policy_evaluate(idx, &subj, gsrv, gsel, 0, &res);
		covers = res.reason == POLICY_R_ELEVATION_REQUIRED;
	}
	policy_free(idx);
	json_decref(lv);
	PQclear(pg);

	return (covers);
}

static int
grant_request(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	json_t		*pv, *v;
	const char	*p[12], *server, *sel, *reason, *ticket, *nb, *ex;
	const char	*kind, *name, *rule_id;
	char		 pkind[24], pid[40], fdir[24], dur[24], nbms[24];
	char		 exms[24], rid[40];
	long long	 nb_ms, ex_ms, now_ms, max_s, dur_s;
	int64_t		 dir = 0;
	int		 i, n, c, set;

	server = json_string_value(json_object_get(rq->body, "server"));
	if ((sel = json_string_value(json_object_get(rq->body,
	    "selector"))) == NULL)
		sel = json_string_value(json_object_get(rq->body, "tool"));
	if (server == NULL || (strcmp(server, "*") != 0 && !pa_slug_ok(server)))
		return (store_err_set(err, 400, "invalid_server", "'server' "
		    "must be an MCP server slug"));
	if (!pa_token_ok(sel, POLICY_SELECTOR_MAX))
		return (store_err_set(err, 400, "invalid_selector", "'tool' "
		    "(or 'selector') must name the tool(s) the grant covers"));
	reason = NULL;
	if (pa_opt_text(rq->body, "reason", 1024, &reason, &set, err) == -1)
		return (-1);
	if (!set || reason == NULL || *reason == '\0')
		return (store_err_set(err, 400, "invalid_reason",
		    "'reason' is required (why the elevation is needed)"));
	ticket = NULL;
	if (pa_opt_text(rq->body, "ticket", 256, &ticket, &set, err) == -1 ||
	    pa_opt_text(rq->body, "not_before", 64, &nb, &set, err) == -1)
		return (-1);
	if (!set)
		nb = NULL;
	if (pa_opt_text(rq->body, "expires_at", 64, &ex, &set, err) == -1)
		return (-1);
	if (!set)
		ex = NULL;
	dur[0] = '\0';
	if ((v = json_object_get(rq->body, "duration_s")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 366LL * 86400 || ex != NULL)
			return (store_err_set(err, 400, "invalid_duration",
			    "give either 'expires_at' or 'duration_s' (1 to "
			    "31622400 seconds)"));
		(void)snprintf(dur, sizeof(dur), "%lld",
		    (long long)json_integer_value(v));
	}
	if (ex == NULL && dur[0] == '\0')
		return (store_err_set(err, 400, "invalid_duration", "a grant "
		    "needs 'expires_at' or 'duration_s'"));
	rule_id = json_string_value(json_object_get(rq->body, "rule_id"));
	if (rule_id != NULL && !rc_is_uuid(rule_id))
		return (store_err_set(err, 400, "invalid_rule", "'rule_id' "
		    "must be a rule id"));

	if (store_begin(conn, err) == -1)
		return (-1);
	if (pa_write_dir(conn, rq, &dir, err) == -1)
		return (-1);
	pv = json_object_get(rq->body, "principal");
	kind = "";
	name = json_string_value(pv);
	if (json_is_object(pv)) {
		kind = json_string_value(json_object_get(pv, "kind"));
		if (kind == NULL)
			kind = json_string_value(json_object_get(pv, "type"));
		name = json_string_value(json_object_get(pv, "id"));
		if (kind == NULL || (strcmp(kind, "user") != 0 &&
		    strcmp(kind, "service_principal") != 0)) {
			return (store_err_set(err, 400, "invalid_principal",
			    "'principal' kind must be user or "
			    "service_principal"));
		}
	}
	if (pa_resolve(conn, dir, kind, name, pkind, pid, err) == -1)
		return (-1);

	/* The window, computed by the database (it parses RFC 3339). */
	p[0] = nb;
	p[1] = ex;
	p[2] = dur[0] ? dur : NULL;
	if (store_exec(conn, "SELECT " MS("a.nb") ", " MS("coalesce($2::"
	    "timestamptz, a.nb + make_interval(secs => $3::double precision))")
	    ", " MS("now()") " FROM (SELECT coalesce($1::timestamptz, now()) "
	    "AS nb) a", 3, p, &res, err) == -1) {
		if (err->status == 400)
			return (store_err_set(err, 400, "invalid_time",
			    "'not_before' and 'expires_at' must be RFC 3339 "
			    "times"));
		return (-1);
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, &nb_ms);
	(void)rc_parse_int(PQgetvalue(res, 0, 1), INT64_MIN, INT64_MAX, &ex_ms);
	(void)rc_parse_int(PQgetvalue(res, 0, 2), INT64_MIN, INT64_MAX,
	    &now_ms);
	PQclear(res);
	if (ex_ms <= nb_ms || ex_ms <= now_ms) {
		return (store_err_set(err, 400, "invalid_time", "the grant "
		    "must end after it starts, and in the future"));
	}
	dur_s = (ex_ms - nb_ms + 999) / 1000;

	/*
	 * The elevate rules that apply to this principal, lowest id first:
	 * its own, its groups' (nested ones too, as far as any chain the
	 * index could follow), its app roles' and everyone's.
	 */
	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	p[0] = fdir;
	p[1] = pid;
	p[2] = rule_id;
	if (store_exec(conn, "WITH RECURSIVE ug(g, d) AS (SELECT m.group_id, "
	    "1 FROM memberships m JOIN groups g ON g.id = m.group_id AND "
	    "g.deleted_at IS NULL WHERE m.user_id = $2::uuid UNION SELECT "
	    "n.group_id, ug.d + 1 FROM group_nestings n JOIN ug ON "
	    "n.member_group_id = ug.g JOIN groups g ON g.id = n.group_id AND "
	    "g.deleted_at IS NULL WHERE ug.d < 64) "
	    "SELECT r.id, r.server_slug, r.tool_selector, "
	    "coalesce(r.max_grant_s, 0) FROM rules r WHERE r.directory_id = "
	    "$1::bigint AND r.effect = 'elevate' AND ($3::uuid IS NULL OR "
	    "r.id = $3::uuid) AND (r.subject_kind = 'everyone' OR "
	    "r.subject_id = $2::uuid OR (r.subject_kind = 'group' AND "
	    "r.subject_id IN (SELECT g FROM ug)) OR (r.subject_kind = 'role' "
	    "AND EXISTS (SELECT 1 FROM users u, jsonb_array_elements(CASE "
	    "WHEN jsonb_typeof(u.doc->'roles') = 'array' THEN u.doc->'roles' "
	    "ELSE '[]' END) e WHERE u.id = $2::uuid AND coalesce(e->>'value', "
	    "CASE WHEN jsonb_typeof(e) = 'string' THEN e#>>'{}' END) = "
	    "r.subject_role))) ORDER BY r.id::text", 3, p, &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	rid[0] = '\0';
	max_s = 0;
	for (i = 0; i < n; i++) {
		c = rule_covers(conn, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), server, sel, err);
		if (c == -1) {
			PQclear(res);
			return (-1);
		}
		if (c == 1) {
			rc_strlcpy(rid, PQgetvalue(res, i, 0), sizeof(rid));
			(void)rc_parse_int(PQgetvalue(res, i, 3), 0, INT32_MAX,
			    &max_s);
			break;
		}
	}
	PQclear(res);
	if (rid[0] == '\0') {
		return (store_err_set(err, 400, "no_elevate_rule", "no elevate "
		    "rule for this principal covers '%.64s' on '%.64s'", sel,
		    server));
	}
	if (max_s > 0 && dur_s > max_s) {
		return (store_err_set(err, 400, "duration_exceeds_max", "the "
		    "grant lasts %lld s; its elevate rule allows at most %lld "
		    "s", dur_s, max_s));
	}

	(void)snprintf(nbms, sizeof(nbms), "%lld", nb_ms);
	(void)snprintf(exms, sizeof(exms), "%lld", ex_ms);
	p[0] = fdir;
	p[1] = pkind;
	p[2] = pid;
	p[3] = server;
	p[4] = sel;
	p[5] = rid;
	p[6] = nbms;
	p[7] = exms;
	p[8] = reason;
	p[9] = ticket;
	p[10] = rq->actor->name;
	if (pa_one(conn, "INSERT INTO jit_grants AS g (directory_id, "
	    "principal_kind, principal_id, server_slug, tool_selector, "
	    "rule_id, state, not_before, expires_at, reason, ticket, "
	    "requested_by) VALUES ($1::bigint, $2, $3::uuid, $4, $5, "
	    "$6::uuid, 'requested', to_timestamp($7::bigint / 1000.0), "
	    "to_timestamp($8::bigint / 1000.0), $9, $10, $11) RETURNING "
	    GRANT_JSON, 11, p, out, NULL, err) != 1)
		return (-1);
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    "grant.request", "Grant", json_string_value(json_object_get(*out,
	    "id")), json_incref(*out), err) == STORE_OK ? 0 : -1);
}

/* One run of policy_admin_expire_grants (store_txn_run). */
struct expiry {
	const struct store_actor	*actor;
	struct store_changes		*changes;
	int				*count;
	struct store_err		*err;
};

static enum store_outcome
expiry_run(PGconn *conn, void *arg)
{
	struct expiry	*a = arg;
	PGresult	*res;
	json_t		*ids;
	long long	 dir;
	int		 i, n;

	store_changes_reset(a->changes);
	*a->count = 0;
	if (store_begin(conn, a->err) == -1)
		return (a->err->outcome);
	/* SKIP LOCKED: other instances run this too. */
	if (store_exec(conn, "WITH due AS (SELECT id FROM jit_grants WHERE "
	    "state = 'approved' AND expires_at <= now() ORDER BY expires_at "
	    "LIMIT 500 FOR UPDATE SKIP LOCKED) UPDATE jit_grants g SET state "
	    "= 'expired', updated_at = now() FROM due WHERE g.id = due.id "
	    "RETURNING " GRANT_REC ", g.directory_id, g.principal_id, g.id, "
	    "g.server_slug, g.tool_selector", 0, NULL, &res, a->err) == -1) {
		store_rollback(conn);
		return (a->err->outcome);
	}
	n = PQntuples(res);
	if (n == 0) {
		/* Nothing due: no version, no audit entry. */
		PQclear(res);
		store_rollback(conn);
		return (STORE_OK);
	}
	ids = json_array();
	for (i = 0; i < n; i++) {
		store_changes_add(a->changes, pa_col_json(res, i, 0));
		(void)rc_parse_int(PQgetvalue(res, i, 1), 1, INT64_MAX, &dir);
		store_changes_revoke(a->changes, dir, "grant.expired",
		    PQgetvalue(res, i, 2), json_pack("{s:s, s:s, s:s}",
		    "grant_id", PQgetvalue(res, i, 3), "server",
		    PQgetvalue(res, i, 4), "selector", PQgetvalue(res, i, 5)));
		(void)json_array_append_new(ids,
		    json_string(PQgetvalue(res, i, 3)));
	}
	PQclear(res);
	*a->count = n;

	return (store_finish(conn, a->changes, a->actor, 0, "grant.expire",
	    "Grant", NULL, json_pack("{s:i, s:o}", "count", n, "grants", ids),
	    a->err));
}

int
policy_admin_expire_grants(PGconn *conn, const struct store_actor *actor,
    struct store_changes *changes, int *count, struct store_err *err)
{
	struct expiry	a;

	a.actor = actor;
	a.changes = changes;
	a.count = count;
	a.err = err;

	return (store_txn_run(conn, expiry_run, &a) == STORE_OK ? 0 : -1);
}
