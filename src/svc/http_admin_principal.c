/*
 * http_admin_principal.c: what IT asks about one principal, answered
 * from the worker's policy index (the same one gateways get decisions
 * from), and the kill switch.
 *
 *   GET  /admin/v1/principals/{id}/effective-policy[?server=slug]
 *   POST /admin/v1/explain                {subject, server, tool}
 *   POST /admin/v1/principals/{id}:revoke-all
 *   POST /admin/v1/principals/{id}:restore
 *
 * The kill switch denies everything for the principal at once, even if
 * Entra still says it is active, and cancels its just-in-time grants.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "changes.h"
#include "cursor.h"
#include "gateway.h"
#include "policy_glue.h"
#include "policy_store.h"
#include "principal_store.h"
#include "store.h"
#include "util.h"

int	page_admin_effective(struct http_request *);
int	page_admin_explain(struct http_request *);
int	page_admin_killswitch(struct http_request *);
int	page_admin_quarantine(struct http_request *);

#define EFFECTIVE_PREFIX	"/admin/v1/principals/"

struct effective_acc {
	const char	*server;	/* filter, or NULL */
	int		 all;		/* denied tools too */
	json_t		*tools;
	struct policy_index		*idx;
	const struct policy_subject	*subj;
};

struct killswitch_job {
	char			 id[37];
	int			 revoke;	/* 1 revoke-all, 0 restore */
	int64_t			 directory_id;	/* the token's; 0: any */
	char			 actor_name[129];
	char			 request_id[40];
	struct store_changes	 changes;
	struct store_err	 err;
	int			 ngrants;
};

/* "Is id a principal this token may see?" in the index. */
static int
principal_visible(struct policy_index *idx, const char *id, int64_t dir,
    struct policy_principal_info *info, struct policy_subject *subj,
    char *dirbuf, size_t dirsize)
{
	memset(subj, 0, sizeof(*subj));
	subj->by = POLICY_BY_ID;
	subj->value = id;
	subj->directory = NULL;
	if (dir != 0) {
		(void)snprintf(dirbuf, dirsize, "%lld", (long long)dir);
		subj->directory = dirbuf;
	}
	return (policy_principal_lookup(idx, subj, info) == 0);
}

/*
 * How the deciding rule reaches the principal, like explain's path:
 * "principal:<id>", the groups out to the rule's (nested groups) or the
 * role, "rule:<id>".
 */
static json_t *
decision_path(struct effective_acc *acc, const struct policy_result *r)
{
	const char	*ids[POLICY_NEST_DEPTH_MAX + 1];
	json_t		*p;
	size_t		 i, n;

	p = json_array();
	(void)json_array_append_new(p, json_sprintf("principal:%s",
	    acc->subj->value));
	if (r->role != NULL)
		(void)json_array_append_new(p, json_sprintf("role:%s",
		    r->role));
	if (r->group_id != NULL && policy_group_path(acc->idx, acc->subj,
	    r->group_id, ids, sizeof(ids) / sizeof(ids[0]), &n) == 0) {
		for (i = 0; i < n; i++)
			(void)json_array_append_new(p,
			    json_sprintf("group:%s", ids[i]));
	}
	(void)json_array_append_new(p, json_sprintf("rule:%s", r->rule_id));
	return (p);
}

static int
effective_cb(void *arg, const char *server, const char *tool,
    const struct policy_result *r)
{
	struct effective_acc	*acc = arg;
	json_t			*d;

	if (acc->server != NULL && strcmp(acc->server, server) != 0)
		return (0);
	if (!acc->all && r->decision != POLICY_ALLOW)
		return (0);
	d = gw_decision_json(r, 0);
	if (d == NULL)
		return (0);
	(void)json_object_del(d, "ttl_s");
	(void)json_object_del(d, "policy_version");
	(void)json_object_del(d, "subject_epoch");
	(void)json_object_set_new(d, "server", json_string(server));
	(void)json_object_set_new(d, "tool", json_string(tool));
	if (r->rule_id != NULL && acc->subj != NULL)
		(void)json_object_set_new(d, "path",
		    decision_path(acc, r));
	(void)json_array_append_new(acc->tools, d);

	return (0);
}

json_t *
admin_effective_tools(struct policy_index *idx, const char *id,
    const char *directory, const char *server, int all)
{
	struct policy_subject	subj;
	struct effective_acc	acc;

	memset(&subj, 0, sizeof(subj));
	subj.by = POLICY_BY_ID;
	subj.value = id;
	subj.directory = directory;
	acc.server = server;
	acc.all = all;
	acc.idx = idx;
	acc.subj = &subj;
	acc.tools = json_array();
	(void)policy_effective(idx, &subj, (int64_t)rc_now_ms(), effective_cb,
	    &acc);

	return (acc.tools);
}

static json_t *
principal_json(struct policy_index *idx, const struct policy_subject *subj,
    const struct policy_principal_info *info)
{
	const char	*groups[512];
	json_t		*g;
	size_t		 i, total;

	g = json_array();
	total = 0;
	if (policy_principal_groups(idx, subj, groups,
	    sizeof(groups) / sizeof(groups[0]), &total) == 0) {
		for (i = 0; i < total && i < sizeof(groups) /
		    sizeof(groups[0]); i++)
			(void)json_array_append_new(g, json_string(groups[i]));
	}

	return (json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:b, s:b, "
	    "s:s, s:I, s:o}", "id", info->id, "type",
	    info->kind == POLICY_PRINCIPAL_SP ? "service_principal" : "user",
	    "userName", info->user_name, "appId", info->app_id,
	    "owner", info->owner_id, "active", info->active,
	    "deleted", info->deleted, "revoked_all", info->revoked_all,
	    "state", policy_reason_str(info->state),
	    "subject_epoch", (json_int_t)info->subject_epoch, "groups", g));
}

int
page_admin_effective(struct http_request *req)
{
	struct policy_principal_info	 info;
	struct policy_subject		 subj;
	struct policy_index		*idx;
	static const char *const	 allowed[] = { "server", NULL };
	struct cursor_params		 qp;
	struct cursor_err		 cerr;
	struct svc_ctx			*ctx;
	const char			*rest, *server;
	char				 id[64], dirbuf[24];
	size_t				 len;
	json_t				*out;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	ctx = svc_ctx(req);
	rest = req->path + strlen(EFFECTIVE_PREFIX);
	len = strcspn(rest, "/");
	if (len >= sizeof(id)) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such principal");
		return (KORE_RESULT_OK);
	}
	memcpy(id, rest, len);
	id[len] = '\0';

	if (cursor_params_parse(req->query_string, allowed, &qp,
	    &cerr) == -1) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_parameter",
		    "%s%s%s", cerr.param, cerr.param[0] ? ": " : "", cerr.msg);
		return (KORE_RESULT_OK);
	}
	server = cursor_params_get(&qp, "server");
	if ((idx = svc_policy()) == NULL) {
		cursor_params_free(&qp);
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the policy index is being rebuilt; retry");
		return (KORE_RESULT_OK);
	}
	if (!rc_is_uuid(id) || !principal_visible(idx, id,
	    ctx->token.directory_id, &info, &subj, dirbuf, sizeof(dirbuf))) {
		cursor_params_free(&qp);
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no principal with id '%.64s' in this directory", id);
		return (KORE_RESULT_OK);
	}

	out = json_pack("{s:o, s:o, s:I}", "principal",
	    principal_json(idx, &subj, &info), "tools",
	    admin_effective_tools(idx, id, subj.directory, server, 1),
	    "policy_version", (json_int_t)policy_version(idx));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	cursor_params_free(&qp);

	return (KORE_RESULT_OK);
}

struct explain_arg {
	json_t		*rules;
	const char	*principal;	/* id, NULL when unknown */
};

/*
 * One matching rule, with the path it reaches the principal by:
 * "user:<id>" (or service_principal), each group from the direct one
 * to the rule's (nested groups), or the role, then "rule:<id>".
 */
static int
explain_cb(void *arg, const char *rule_id, enum policy_effect effect,
    enum policy_subject_kind kind, const char *via, const char *const *path,
    size_t npath)
{
	static const char	*effects[] = { "deny", "allow", "elevate" };
	static const char	*kinds[] = { "group", "user",
	    "service_principal", "everyone", "role" };
	struct explain_arg	*ea = arg;
	json_t			*p;
	size_t			 i;

	p = json_array();
	if (ea->principal != NULL)
		(void)json_array_append_new(p, json_sprintf("principal:%s",
		    ea->principal));
	if (kind == POLICY_SUBJECT_ROLE && via != NULL)
		(void)json_array_append_new(p, json_sprintf("role:%s", via));
	for (i = 0; i < npath; i++)
		(void)json_array_append_new(p, json_sprintf("group:%s",
		    path[i]));
	if (kind == POLICY_SUBJECT_EVERYONE)
		(void)json_array_append_new(p, json_string("everyone"));
	(void)json_array_append_new(p, json_sprintf("rule:%s", rule_id));
	(void)json_array_append_new(ea->rules, json_pack(
	    "{s:s, s:s, s:s, s:s?, s:s*, s:o}",
	    "rule_id", rule_id, "effect", effects[effect], "subject_kind",
	    kinds[kind], "via_group", kind == POLICY_SUBJECT_GROUP ? via :
	    NULL, "via_role", kind == POLICY_SUBJECT_ROLE ? via : NULL,
	    "path", p));

	return (0);
}

int
page_admin_explain(struct http_request *req)
{
	struct policy_principal_info	 info;
	struct policy_index		*idx;
	struct policy_result		 res;
	struct gw_subject		 s;
	struct explain_arg		 ea;
	json_t				*body, *server, *tool, *rules, *out;
	json_t				*principal;
	const char			*steps;

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if ((body = svc_body_json(req)) == NULL)
		return (KORE_RESULT_OK);
	if ((idx = svc_policy()) == NULL) {
		json_decref(body);
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the policy index is being rebuilt; retry");
		return (KORE_RESULT_OK);
	}
	server = json_object_get(body, "server");
	tool = json_object_get(body, "tool");
	if (!json_is_string(server) || !json_is_string(tool)) {
		json_decref(body);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "'subject', 'server' and 'tool' are required");
		return (KORE_RESULT_OK);
	}
	/* An admin token of a directory explains within it (like a gateway). */
	if (gw_subject_parse(req, idx, json_object_get(body, "subject"),
	    &s) == -1) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	if (svc_ctx(req)->token.directory_id == 0)
		s.subj.directory = NULL;

	rules = json_array();
	principal = json_null();
	ea.rules = rules;
	ea.principal = NULL;
	if (policy_principal_lookup(idx, &s.subj, &info) == 0) {
		json_decref(principal);
		principal = principal_json(idx, &s.subj, &info);
		ea.principal = info.id;
	}
	(void)policy_explain(idx, &s.subj, json_string_value(server),
	    json_string_value(tool), (int64_t)rc_now_ms(), explain_cb, &ea,
	    &res);
	switch (res.reason) {
	case POLICY_R_PRINCIPAL_UNKNOWN:
	case POLICY_R_PRINCIPAL_INACTIVE:
	case POLICY_R_PRINCIPAL_REVOKED:
	case POLICY_R_OWNER_INACTIVE:
		steps = "1. principal state decides: deny";
		break;
	case POLICY_R_PRINCIPAL_UNAVAILABLE:
		steps = "1. the principal is quarantined (its stored state "
		    "cannot be applied; see GET /admin/v1/quarantine): deny";
		break;
	case POLICY_R_TOOL_UNKNOWN:
		steps = "2. the server or tool is unknown: deny";
		break;
	case POLICY_R_DENIED_BY_RULE:
		steps = "3. a matching deny rule overrides everything";
		break;
	case POLICY_R_ALLOWED_BY_RULE:
		steps = "4. no deny rule matched; an allow rule did";
		break;
	case POLICY_R_ALLOWED_BY_GRANT:
		steps = "5. only an elevate rule matched, and an active grant "
		    "covers the tool";
		break;
	case POLICY_R_ELEVATION_REQUIRED:
		steps = "5. only an elevate rule matched; no active grant";
		break;
	case POLICY_R_NO_MATCHING_RULE:
		steps = "6. no rule matched: default deny";
		break;
	default:
		steps = "internal error: fail closed";
		break;
	}
	out = gw_decision_json(&res, 0);
	(void)json_object_del(out, "ttl_s");
	(void)json_object_set_new(out, "principal", principal);
	(void)json_object_set_new(out, "matching_rules", rules);
	(void)json_object_set_new(out, "reasoning", json_string(steps));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	json_decref(body);

	return (KORE_RESULT_OK);
}

static void
killswitch_free(void *arg)
{
	struct killswitch_job	*job = arg;

	store_changes_cleanup(&job->changes);
	kore_free(job);
}

static int
killswitch_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct killswitch_job	*job = arg;
	struct store_actor	 actor;

	(void)dberr;
	memset(&actor, 0, sizeof(actor));
	actor.kind = "token";
	actor.name = job->actor_name;
	actor.directory_id = job->directory_id;
	actor.request_id = job->request_id;

	return (principal_store_revoke_all(conn, &actor, job->id, job->revoke,
	    &job->changes, &job->ngrants, &job->err));
}

int
page_admin_killswitch(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct killswitch_job	*job;
	const char		*rest, *colon;
	size_t			 len;
	json_t			*out;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		/* Every worker denies from now on. */
		svc_changes_publish(&job->changes);
		out = json_pack("{s:s, s:b, s:i, s:I}", "principal", job->id,
		    "revoked_all", job->revoke, "grants_revoked", job->ngrants,
		    "policy_version", (json_int_t)job->changes.version);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	rest = req->path + strlen(EFFECTIVE_PREFIX);
	if ((colon = strchr(rest, ':')) == NULL)
		colon = rest + strlen(rest);
	len = (size_t)(colon - rest);
	job = kore_calloc(1, sizeof(*job));
	store_changes_init(&job->changes, svc.instance);
	ctx->state = job;
	ctx->state_free = killswitch_free;
	if (len != 36) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such principal");
		return (KORE_RESULT_OK);
	}
	memcpy(job->id, rest, len);
	job->id[len] = '\0';
	if (!rc_is_uuid(job->id)) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such principal");
		return (KORE_RESULT_OK);
	}
	for (len = 0; job->id[len] != '\0'; len++)
		if (job->id[len] >= 'A' && job->id[len] <= 'F')
			job->id[len] = (char)(job->id[len] - 'A' + 'a');
	job->revoke = strcmp(colon, ":revoke-all") == 0;
	job->directory_id = ctx->token.directory_id;
	rc_strlcpy(job->actor_name, ctx->token.name, sizeof(job->actor_name));
	rc_strlcpy(job->request_id, ctx->request_id, sizeof(job->request_id));

	return (svc_db_run(req, killswitch_job, job));
}

struct quarantine_acc {
	const char	*directory;	/* NULL: every directory */
	json_t		*rows;
};

static int
quarantine_cb(void *arg, const char *id, const char *dir, const char *why)
{
	struct quarantine_acc	*acc = arg;
	long long		 d;

	if (acc->directory != NULL &&
	    (dir == NULL || strcmp(dir, acc->directory) != 0))
		return (0);
	if (dir == NULL || rc_parse_int(dir, 1, INT64_MAX, &d) == -1)
		d = 0;
	(void)json_array_append_new(acc->rows, json_pack("{s:s, s:o, s:s}",
	    "id", id, "directory_id", d > 0 ? json_integer((json_int_t)d) :
	    json_null(), "reason", why != NULL ? why : ""));
	return (0);
}

/*
 * GET /admin/v1/quarantine[?directory=NAME]: the principals this
 * worker's index denies as principal_unavailable, and why.  A token of
 * one directory sees that directory's only.
 */
int
page_admin_quarantine(struct http_request *req)
{
	static const char *const	 allowed[] = { "directory", NULL };
	struct quarantine_acc		 acc;
	struct policy_index		*idx;
	struct cursor_params		 qp;
	struct cursor_err		 cerr;
	struct svc_ctx			*ctx;
	const char			*name;
	char				 dirbuf[24];
	json_t				*out;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	ctx = svc_ctx(req);
	if (cursor_params_parse(req->query_string, allowed, &qp,
	    &cerr) == -1) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_parameter",
		    "%s%s%s", cerr.param, cerr.param[0] ? ": " : "", cerr.msg);
		return (KORE_RESULT_OK);
	}
	if ((idx = svc_policy()) == NULL) {
		cursor_params_free(&qp);
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the policy index is being rebuilt; retry");
		return (KORE_RESULT_OK);
	}
	acc.directory = NULL;
	if (ctx->token.directory_id != 0) {
		(void)snprintf(dirbuf, sizeof(dirbuf), "%lld",
		    (long long)ctx->token.directory_id);
		acc.directory = dirbuf;
	} else if ((name = cursor_params_get(&qp, "directory")) != NULL &&
	    (acc.directory = policy_dirs_resolve(svc_policy_dirs(),
	    name)) == NULL) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no directory named '%.64s'", name);
		cursor_params_free(&qp);
		return (KORE_RESULT_OK);
	}
	acc.rows = json_array();
	(void)policy_quarantine_each(idx, quarantine_cb, &acc);
	out = json_pack("{s:o, s:I, s:I}", "quarantined", acc.rows,
	    "count", (json_int_t)json_array_size(acc.rows), "policy_version",
	    (json_int_t)policy_version(idx));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	cursor_params_free(&qp);

	return (KORE_RESULT_OK);
}
