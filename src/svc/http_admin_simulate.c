/*
 * http_admin_simulate.c: POST /admin/v1/rules:simulate answers "who
 * would gain and who would lose which tools" for a proposed rule change
 * (add, edit, delete) without changing anything.
 *
 * A database job reads the rule as it is (for edit and delete), the
 * principals either version of the rule can reach, and the tools of the
 * servers it names.  Back on the event loop the worker evaluates those
 * (principal, tool) pairs with its own index, applies the change to the
 * index, evaluates again, and puts the index back exactly as it was,
 * all within one handler call: nothing else runs on this worker in
 * between, so no decision ever sees the simulated rule.  Answers are
 * therefore the decisions the gateways would get after the change.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "policy.h"
#include "policy_glue.h"
#include "store.h"
#include "svc.h"
#include "util.h"

int	page_admin_simulate(struct http_request *);

#define SIM_EVALS_MAX	2000000		/* about a second of CPU */

struct sim_rule {
	int	present;
	char	id[37];
	char	subject_kind[24];
	char	subject_id[257];	/* uuid, or a role value */
	char	server[128];
	char	selector[257];
	char	effect[12];
	long	max_grant_s;
};

struct sim_job {
	char			 op[8];
	int64_t			 directory_id;
	struct sim_rule		 before;	/* as stored (edit, delete) */
	struct sim_rule		 after;		/* proposed (add, edit) */
	json_t			*proposal;	/* the request's "rule" */
	json_t			*principals;	/* array of ids */
	json_t			*tools;		/* array of [server, tool] */
	struct store_err	 err;
};

static void
sim_free(void *arg)
{
	struct sim_job	*job = arg;

	json_decref(job->proposal);
	json_decref(job->principals);
	json_decref(job->tools);
	kore_free(job);
}

/*
 * Reads a proposed rule in the shape the rules API takes ("subject":
 * "everyone" or {"kind", "id"}, "server", "selector", "effect",
 * "max_grant_s") over r (for an edit, r holds the rule as stored, so
 * absent fields keep their value).  0, or -1 with a message.
 */
static int
rule_from_json(const json_t *v, struct sim_rule *r, char *msg, size_t size)
{
	const json_t	*subj, *mg;
	const char	*kind, *sid, *server, *sel, *eff;

	if (!json_is_object(v)) {
		(void)snprintf(msg, size, "'rule' must be an object");
		return (-1);
	}
	kind = r->present ? r->subject_kind : NULL;
	sid = r->present && r->subject_id[0] ? r->subject_id : NULL;
	if ((subj = json_object_get(v, "subject")) != NULL) {
		if (json_is_string(subj) &&
		    strcmp(json_string_value(subj), "everyone") == 0) {
			kind = "everyone";
			sid = NULL;
		} else {
			kind = json_string_value(json_object_get(subj, "kind"));
			if (kind == NULL)
				kind = json_string_value(json_object_get(subj,
				    "type"));
			sid = json_string_value(json_object_get(subj, "id"));
			if (kind != NULL && strcmp(kind, "role") == 0)
				sid = json_string_value(json_object_get(subj,
				    "value"));
			if (kind != NULL && strcmp(kind, "everyone") == 0)
				sid = NULL;
		}
	}
	server = json_string_value(json_object_get(v, "server"));
	if (server == NULL && r->present)
		server = r->server;
	if ((sel = json_string_value(json_object_get(v, "selector"))) == NULL)
		sel = json_string_value(json_object_get(v, "tool"));
	if (sel == NULL && r->present)
		sel = r->selector;
	eff = json_string_value(json_object_get(v, "effect"));
	if (eff == NULL && r->present)
		eff = r->effect;
	mg = json_object_get(v, "max_grant_s");

	if (kind == NULL || (strcmp(kind, "group") && strcmp(kind, "user") &&
	    strcmp(kind, "service_principal") && strcmp(kind, "everyone") &&
	    strcmp(kind, "role"))) {
		(void)snprintf(msg, size, "rule.subject must be \"everyone\", "
		    "{\"kind\": group|user|service_principal, \"id\"} or "
		    "{\"kind\": \"role\", \"value\"}");
		return (-1);
	}
	if (strcmp(kind, "role") == 0) {
		if (policy_check_value(sid, 256, 0, "role", NULL) == -1) {
			(void)snprintf(msg, size, "rule.subject.value must be "
			    "the app role value (1-256 characters)");
			return (-1);
		}
	} else if ((strcmp(kind, "everyone") == 0) != (sid == NULL) ||
	    (sid != NULL && !rc_is_uuid(sid))) {
		(void)snprintf(msg, size, "rule.subject.id must be the "
		    "subject's id");
		return (-1);
	}
	if (server == NULL || *server == '\0' || strlen(server) >= 128 ||
	    sel == NULL || *sel == '\0' || strlen(sel) > 256) {
		(void)snprintf(msg, size, "rule.server (slug or *) and "
		    "rule.selector (1-256 characters) are required");
		return (-1);
	}
	if (eff == NULL || (strcmp(eff, "allow") && strcmp(eff, "deny") &&
	    strcmp(eff, "elevate"))) {
		(void)snprintf(msg, size, "rule.effect must be allow, deny or "
		    "elevate");
		return (-1);
	}
	{
		struct sim_rule	n;

		memset(&n, 0, sizeof(n));
		n.present = 1;
		rc_strlcpy(n.subject_kind, kind, sizeof(n.subject_kind));
		if (sid != NULL)
			rc_strlcpy(n.subject_id, sid, sizeof(n.subject_id));
		rc_strlcpy(n.server, server, sizeof(n.server));
		rc_strlcpy(n.selector, sel, sizeof(n.selector));
		rc_strlcpy(n.effect, eff, sizeof(n.effect));
		n.max_grant_s = json_is_integer(mg) ?
		    (long)json_integer_value(mg) : r->max_grant_s;
		*r = n;
	}

	return (0);
}

/* Principals (ids) a rule reaches, appended to out. */
static int
reach(PGconn *conn, const struct sim_job *job, const struct sim_rule *r,
    json_t *out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[3];
	char		 dir[24];
	int		 i;

	if (!r->present)
		return (0);
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)job->directory_id);
	p[0] = r->subject_kind;
	p[1] = r->subject_id[0] ? r->subject_id : NULL;
	p[2] = dir;
	if (strcmp(r->subject_kind, "role") == 0) {
		/* Users holding the app role (SCIM roles[].value). */
		if (store_exec(conn, "SELECT id FROM users WHERE $1 = 'role' "
		    "AND directory_id = $3 AND deleted_at IS NULL AND "
		    "jsonb_typeof(doc->'roles') = 'array' AND EXISTS (SELECT 1 "
		    "FROM jsonb_array_elements(doc->'roles') e WHERE "
		    "coalesce(e->>'value', CASE WHEN jsonb_typeof(e) = 'string' "
		    "THEN e#>>'{}' END) = $2)", 3, p, &res, err) == -1)
			return (-1);
		goto collect;
	}
	/* A group reaches the members of the groups nested in it too. */
	if (store_exec(conn, "WITH RECURSIVE sub(g, d) AS (SELECT $2::uuid, 1 "
	    "WHERE $1 = 'group' UNION SELECT n.member_group_id, sub.d + 1 "
	    "FROM group_nestings n JOIN sub ON n.group_id = sub.g JOIN groups "
	    "c ON c.id = n.member_group_id AND c.deleted_at IS NULL WHERE "
	    "sub.d < 64) SELECT m.user_id FROM memberships m JOIN users u "
	    "ON u.id = m.user_id JOIN sub ON m.group_id = sub.g "
	    "WHERE u.directory_id = $3 AND u.deleted_at IS NULL "
	    "UNION SELECT id FROM users WHERE $1 = 'user' AND id = $2::uuid "
	    "AND directory_id = $3 "
	    "UNION SELECT id FROM service_principals WHERE $1 = "
	    "'service_principal' AND id = $2::uuid AND directory_id = $3 "
	    "UNION SELECT id FROM users WHERE $1 = 'everyone' AND "
	    "directory_id = $3 AND deleted_at IS NULL "
	    "UNION SELECT id FROM service_principals WHERE $1 = 'everyone' "
	    "AND directory_id = $3 AND deleted_at IS NULL", 3, p, &res,
	    err) == -1)
		return (-1);
collect:
	for (i = 0; i < PQntuples(res); i++)
		(void)json_array_append_new(out,
		    json_string(PQgetvalue(res, i, 0)));
	PQclear(res);

	return (0);
}

static int
sim_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct sim_job	*job = arg;
	PGresult	*res;
	const char	*p[3];
	char		 dir[24];
	json_t		*seen, *all, *v;
	size_t		 i;
	int		 k;

	(void)dberr;
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)job->directory_id);
	if (strcmp(job->op, "add") != 0) {
		p[0] = job->before.id;
		p[1] = job->directory_id ? dir : NULL;
		if (store_exec(conn, "SELECT subject_kind, "
		    "coalesce(subject_id::text, subject_role), server_slug, tool_selector, effect, coalesce(max_grant_s, "
		    "0), directory_id FROM rules WHERE id = $1::uuid AND "
		    "($2::bigint IS NULL OR directory_id = $2)", 2, p, &res,
		    &job->err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			job->err.status = 404;
			rc_strlcpy(job->err.code, "not_found",
			    sizeof(job->err.code));
			(void)snprintf(job->err.msg, sizeof(job->err.msg),
			    "no rule with id '%s' in this directory",
			    job->before.id);
			return (-1);
		}
		job->before.present = 1;
		rc_strlcpy(job->before.subject_kind, PQgetvalue(res, 0, 0),
		    sizeof(job->before.subject_kind));
		rc_strlcpy(job->before.subject_id, PQgetvalue(res, 0, 1),
		    sizeof(job->before.subject_id));
		rc_strlcpy(job->before.server, PQgetvalue(res, 0, 2),
		    sizeof(job->before.server));
		rc_strlcpy(job->before.selector, PQgetvalue(res, 0, 3),
		    sizeof(job->before.selector));
		rc_strlcpy(job->before.effect, PQgetvalue(res, 0, 4),
		    sizeof(job->before.effect));
		job->before.max_grant_s = atol(PQgetvalue(res, 0, 5));
		/* A global token simulates in the rule's own directory. */
		job->directory_id = atoll(PQgetvalue(res, 0, 6));
		PQclear(res);
	}
	if (job->directory_id == 0)
		job->directory_id = 1;
	if (strcmp(job->op, "delete") != 0) {
		char	msg[200];

		if (strcmp(job->op, "edit") == 0)
			job->after = job->before;
		if (rule_from_json(job->proposal, &job->after, msg,
		    sizeof(msg)) == -1) {
			job->err.status = 400;
			rc_strlcpy(job->err.code, "invalid_rule",
			    sizeof(job->err.code));
			rc_strlcpy(job->err.msg, msg, sizeof(job->err.msg));
			return (-1);
		}
	}

	all = json_array();
	if (reach(conn, job, &job->before, all, &job->err) == -1 ||
	    reach(conn, job, &job->after, all, &job->err) == -1) {
		json_decref(all);
		return (-1);
	}
	seen = json_object();
	job->principals = json_array();
	json_array_foreach(all, i, v) {
		if (json_object_get(seen, json_string_value(v)) != NULL)
			continue;
		(void)json_object_set_new(seen, json_string_value(v),
		    json_true());
		(void)json_array_append(job->principals, v);
	}
	json_decref(seen);
	json_decref(all);

	p[0] = job->before.present ? job->before.server : "";
	p[1] = job->after.present ? job->after.server : "";
	if (store_exec(conn, "SELECT s.slug, t.name FROM tools t JOIN "
	    "mcp_servers s ON s.id = t.server_id WHERE $1 = '*' OR $2 = '*' "
	    "OR s.slug = $1 OR s.slug = $2 ORDER BY 1, 2", 2, p, &res,
	    &job->err) == -1)
		return (-1);
	job->tools = json_array();
	for (k = 0; k < PQntuples(res); k++)
		(void)json_array_append_new(job->tools, json_pack("[s, s]",
		    PQgetvalue(res, k, 0), PQgetvalue(res, k, 1)));
	PQclear(res);

	return (0);
}

static int
rule_apply(struct policy_index *idx, const char *id, const char *dir,
    const struct sim_rule *r)
{
	struct policy_rule	pr;
	struct policy_err	err;

	memset(&pr, 0, sizeof(pr));
	pr.id = id;
	pr.directory = dir;
	pr.subject_kind = policy_subject_kind_parse(r->subject_kind);
	pr.subject_id = r->subject_id[0] ? r->subject_id : NULL;
	pr.server = r->server;
	pr.tool = r->selector;
	pr.effect = policy_effect_parse(r->effect);
	pr.max_grant_ms = (int64_t)r->max_grant_s * 1000;

	return (policy_rule_upsert(idx, &pr, &err));
}

/* Evaluates every pair into bits (1 = allow). */
static void
evaluate_all(struct policy_index *idx, struct sim_job *job, const char *dir,
    unsigned char *bits)
{
	struct policy_subject	 subj;
	struct policy_result	 res;
	json_t			*p, *t;
	size_t			 i, j, n;
	int64_t			 now;

	now = (int64_t)rc_now_ms();
	n = json_array_size(job->tools);
	json_array_foreach(job->principals, i, p) {
		subj.by = POLICY_BY_ID;
		subj.value = json_string_value(p);
		subj.directory = dir;
		json_array_foreach(job->tools, j, t) {
			bits[i * n + j] = policy_evaluate(idx, &subj,
			    json_string_value(json_array_get(t, 0)),
			    json_string_value(json_array_get(t, 1)), now, &res)
			    == POLICY_ALLOW;
		}
	}
}

static void
sim_answer(struct http_request *req, struct sim_job *job)
{
	struct policy_index	*idx;
	unsigned char		*before, *after;
	const char		*sim_id;
	char			 dir[24];
	size_t			 np, nt, i, j;
	json_t			*gains, *losses, *g, *l, *t, *out;

	if ((idx = svc_policy()) == NULL) {
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the policy index is being rebuilt; retry");
		return;
	}
	np = json_array_size(job->principals);
	nt = json_array_size(job->tools);
	if (np * nt > SIM_EVALS_MAX) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "too_broad",
		    "this change reaches %zu principals x %zu tools; rollcall "
		    "simulates at most %d decisions: narrow the rule", np, nt,
		    SIM_EVALS_MAX);
		return;
	}
	before = calloc(np * nt + 1, 1);
	after = calloc(np * nt + 1, 1);
	if (before == NULL || after == NULL) {
		free(before);
		free(after);
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return;
	}
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)job->directory_id);

	evaluate_all(idx, job, dir, before);
	/* Change, measure, and put back: one handler call, no yield. */
	sim_id = strcmp(job->op, "add") == 0 ?
	    "00000000-0000-0000-0000-00000000516d" : job->before.id;
	if (strcmp(job->op, "delete") == 0)
		(void)policy_rule_remove(idx, sim_id);
	else
		(void)rule_apply(idx, sim_id, dir, &job->after);
	evaluate_all(idx, job, dir, after);
	if (strcmp(job->op, "add") == 0)
		(void)policy_rule_remove(idx, sim_id);
	else
		(void)rule_apply(idx, sim_id, dir, &job->before);

	gains = json_array();
	losses = json_array();
	for (i = 0; i < np; i++) {
		g = l = NULL;
		for (j = 0; j < nt; j++) {
			if (before[i * nt + j] == after[i * nt + j])
				continue;
			t = json_pack("{s:O, s:O}", "server",
			    json_array_get(json_array_get(job->tools, j), 0),
			    "tool", json_array_get(json_array_get(job->tools,
			    j), 1));
			if (after[i * nt + j]) {
				if (g == NULL)
					g = json_array();
				(void)json_array_append_new(g, t);
			} else {
				if (l == NULL)
					l = json_array();
				(void)json_array_append_new(l, t);
			}
		}
		if (g != NULL)
			(void)json_array_append_new(gains, json_pack("{s:O, "
			    "s:o}", "principal", json_array_get(
			    job->principals, i), "tools", g));
		if (l != NULL)
			(void)json_array_append_new(losses, json_pack("{s:O, "
			    "s:o}", "principal", json_array_get(
			    job->principals, i), "tools", l));
	}
	free(before);
	free(after);
	out = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I}", "op", job->op,
	    "gains", gains, "losses", losses, "principals_considered",
	    (json_int_t)np, "tools_considered", (json_int_t)nt,
	    "policy_version", (json_int_t)policy_version(idx));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
}

int
page_admin_simulate(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct sim_job		*job;
	json_t			*body;
	const char		*op, *rid;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		sim_answer(req, job);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if ((body = svc_body_json(req)) == NULL)
		return (KORE_RESULT_OK);
	job = kore_calloc(1, sizeof(*job));
	ctx->state = job;
	ctx->state_free = sim_free;
	job->directory_id = ctx->token.directory_id;

	op = json_string_value(json_object_get(body, "op"));
	if (op == NULL || (strcmp(op, "add") && strcmp(op, "edit") &&
	    strcmp(op, "delete"))) {
		json_decref(body);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "'op' must be add, edit or delete");
		return (KORE_RESULT_OK);
	}
	rc_strlcpy(job->op, op, sizeof(job->op));
	if (strcmp(op, "add") != 0) {
		rid = json_string_value(json_object_get(body, "rule_id"));
		if (rid == NULL || !rc_is_uuid(rid)) {
			json_decref(body);
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_request", "'rule_id' (the rule's id) is "
			    "required for %s", job->op);
			return (KORE_RESULT_OK);
		}
		rc_strlcpy(job->before.id, rid, sizeof(job->before.id));
	}
	if (strcmp(op, "delete") != 0) {
		if (!json_is_object(json_object_get(body, "rule"))) {
			json_decref(body);
			svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_rule",
			    "'rule' (an object like the rules API takes) is "
			    "required for %s", job->op);
			return (KORE_RESULT_OK);
		}
		job->proposal = json_incref(json_object_get(body, "rule"));
	}
	json_decref(body);

	return (svc_db_run(req, sim_job, job));
}
