/*
 * http_admin_policy.c: the admin API's policy model (README, "Admin
 * API"): MCP servers and tools, rules, just-in-time grants and
 * service principals.  The handlers only unpack paths, methods, query
 * strings and bodies; validation and SQL are in policy_admin_store, run
 * as a database job.  A committed change reaches every worker's index
 * (svc_changes_publish) before the client sees the answer.
 *
 *   /admin/v1/servers[/{slug}]                     GET POST | GET PATCH DELETE
 *   /admin/v1/servers/{slug}/tools[/{name}]        GET POST | GET PATCH DELETE
 *   /admin/v1/servers/{slug}/tools:import          POST (a tools/list result)
 *   /admin/v1/rules[/{id}]                         GET POST | GET PATCH DELETE
 *   /admin/v1/grants[/{id}]                        GET POST | GET
 *   /admin/v1/grants/{id}:approve|deny|activate|revoke   POST
 *   /admin/v1/service-principals[/{id}]            GET POST | GET PATCH DELETE
 *
 * Servers and tools are global (any admin token reads them, only a
 * global one writes); the rest is scoped to the token's directory.
 *
 * Grant expiry: approved grants whose window has ended are marked
 * expired and announced (grant.expired) every few seconds by a timer
 * (decisions already stop honouring them at expires_at, from memory).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "changes.h"
#include "cursor.h"
#include "lifecycle.h"
#include "policy_admin_store.h"
#include "policy_glue.h"
#include "svc.h"
#include "util.h"

#define PA_SEG_MAX		256
#define EXPIRY_MS		2000

int	page_admin_servers(struct http_request *);
int	page_admin_rules(struct http_request *);
int	page_admin_grants(struct http_request *);
int	page_admin_sps(struct http_request *);

struct pa_job {
	struct policy_admin_req	 rq;
	struct store_actor	 actor;
	char			 actor_name[129];
	char			 request_id[40];
	char			 key[PA_SEG_MAX];
	char			 sub[PA_SEG_MAX];
	json_t			*body;
	json_t			*query;
	json_t			*result;
	struct store_changes	 changes;
	struct store_err	 err;
};

struct expiry_run {
	struct store_actor	 actor;
	struct store_changes	 changes;
	struct store_err	 err;
	int			 count;
};

static int	expiry_started;
static int	expiry_running;

static void	expiry_tick(void *, u_int64_t);
static int	expiry_job(PGconn *, void *, struct svc_db_err *);
static void	expiry_done(void *, int, struct svc_db_err *);

static void
pa_job_free(void *arg)
{
	struct pa_job	*job = arg;

	json_decref(job->body);
	json_decref(job->query);
	json_decref(job->result);
	store_changes_cleanup(&job->changes);
	kore_free(job);
}

/* Task thread: no Kore calls here.  Retries: policy_admin_run. */
static int
pa_job_run(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct pa_job	*job = arg;

	(void)dberr;
	job->rq.changes = &job->changes;

	return (policy_admin_run(conn, &job->rq, &job->result, &job->err));
}

/* Copies one percent-decoded path segment; -1 when bad or too long. */
static int
segment(const char *s, size_t len, char *out)
{
	size_t	i, o;
	int	hi, lo;

	for (i = 0, o = 0; i < len; i++) {
		if (o + 1 >= PA_SEG_MAX)
			return (-1);
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return (-1);
		if ((hi = rc_hexval(s[i + 1])) == -1 ||
		    (lo = rc_hexval(s[i + 2])) == -1 || (hi == 0 && lo == 0))
			return (-1);
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';

	return (o == 0 ? -1 : 0);
}

/* List filters from the query string; NULL after answering 400. */
static json_t *
pa_query(struct http_request *req, const char *const *allowed)
{
	struct cursor_params	 qp;
	struct cursor_err	 cerr;
	json_t			*q;
	size_t			 i;

	memset(&qp, 0, sizeof(qp));
	if (cursor_params_parse(req->query_string, allowed, &qp,
	    &cerr) == -1) {
		cursor_params_free(&qp);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "%s", cerr.msg);
		return (NULL);
	}
	q = json_object();
	for (i = 0; i < qp.n; i++)
		(void)json_object_set_new(q, qp.p[i].name,
		    json_string(qp.p[i].value));
	cursor_params_free(&qp);

	return (q);
}

static const char *
list_key(enum policy_admin_entity e)
{
	switch (e) {
	case PA_SERVER:
		return ("servers");
	case PA_TOOL:
		return ("tools");
	case PA_RULE:
		return ("rules");
	case PA_GRANT:
		return ("grants");
	case PA_SP:
		return ("service_principals");
	}
	return ("items");
}

/* The second call: the job is done, answer. */
static int
pa_finish(struct http_request *req, struct pa_job *job)
{
	json_t			*out;

	switch (admin_job_finish(req, &job->err, NULL)) {
	case 0:
		return (KORE_RESULT_RETRY);
	case 1:
		return (KORE_RESULT_OK);
	}

	/* Committed: every worker applies it before the client knows. */
	if (job->changes.version != 0)
		svc_changes_publish(&job->changes);

	switch (job->rq.op) {
	case PA_LIST:
		out = json_pack("{s:O}", list_key(job->rq.entity), job->result);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		break;
	case PA_DELETE:
		svc_respond_raw(req, HTTP_STATUS_NO_CONTENT, NULL, NULL, 0);
		break;
	case PA_CREATE:
		svc_respond_json(req, HTTP_STATUS_CREATED, job->result);
		break;
	default:
		svc_respond_json(req, HTTP_STATUS_OK, job->result);
		break;
	}

	return (KORE_RESULT_OK);
}

/*
 * Common first half: method -> op (given whether the path names an
 * item), body, job.  0 after answering.
 */
static int
pa_start(struct http_request *req, enum policy_admin_entity entity,
    enum policy_admin_op action, int item, const char *key, const char *sub,
    const char *const *filters)
{
	struct svc_ctx	*ctx;
	struct pa_job	*job;
	json_t		*body, *query;
	int		 mask;

	if (action != PA_LIST)
		mask = HTTP_METHOD_POST;
	else if (item)
		mask = entity == PA_GRANT ? HTTP_METHOD_GET : HTTP_METHOD_GET |
		    HTTP_METHOD_PATCH | HTTP_METHOD_PUT | HTTP_METHOD_DELETE;
	else
		mask = HTTP_METHOD_GET | HTTP_METHOD_POST;
	if (!svc_method_allowed(req, mask))
		return (KORE_RESULT_OK);

	body = query = NULL;
	if (action == PA_LIST) {
		switch (req->method) {
		case HTTP_METHOD_GET:
			action = item ? PA_GET : PA_LIST;
			break;
		case HTTP_METHOD_POST:
			action = PA_CREATE;
			break;
		case HTTP_METHOD_DELETE:
			action = PA_DELETE;
			break;
		default:
			action = PA_UPDATE;
			break;
		}
	}
	if (action == PA_LIST && filters != NULL &&
	    (query = pa_query(req, filters)) == NULL)
		return (KORE_RESULT_OK);
	if (req->method == HTTP_METHOD_POST || req->method ==
	    HTTP_METHOD_PATCH || req->method == HTTP_METHOD_PUT) {
		/* Grant transitions may come without a body. */
		if (entity == PA_GRANT && action != PA_CREATE &&
		    req->http_body == NULL)
			body = json_object();
		else if ((body = svc_body_json(req)) == NULL) {
			json_decref(query);
			return (KORE_RESULT_OK);
		}
	}

	ctx = svc_ctx(req);
	job = kore_calloc(1, sizeof(*job));
	admin_actor(req, &job->actor, job->actor_name, sizeof(job->actor_name),
	    job->request_id, sizeof(job->request_id));
	if (key != NULL)
		rc_strlcpy(job->key, key, sizeof(job->key));
	if (sub != NULL)
		rc_strlcpy(job->sub, sub, sizeof(job->sub));
	job->body = body;
	job->query = query;
	store_changes_init(&job->changes, svc.instance);
	job->rq.entity = entity;
	job->rq.op = action;
	job->rq.actor = &job->actor;
	job->rq.key = key != NULL ? job->key : NULL;
	job->rq.sub = sub != NULL ? job->sub : NULL;
	job->rq.body = body;
	job->rq.query = query;
	ctx->state = job;
	ctx->state_free = pa_job_free;

	return (svc_db_run(req, pa_job_run, job));
}

/* Splits "/prefix/<a>[rest]": a up to '/' or ':'; *rest after it. */
static int
pa_split(const char *path, const char *prefix, char *a, const char **rest)
{
	const char	*p, *end;

	p = path + strlen(prefix);
	end = p + strcspn(p, "/:");
	if (segment(p, (size_t)(end - p), a) == -1)
		return (-1);
	*rest = end;

	return (0);
}

static void
pa_not_found(struct http_request *req)
{
	svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
	    "no such resource");
}

int
page_admin_servers(struct http_request *req)
{
	struct svc_ctx	*ctx;
	char		 slug[PA_SEG_MAX], name[PA_SEG_MAX];
	const char	*rest;

	ctx = svc_ctx(req);
	if (ctx->state != NULL)
		return (pa_finish(req, ctx->state));

	if (strcmp(req->path, "/admin/v1/servers") == 0)
		return (pa_start(req, PA_SERVER, PA_LIST, 0, NULL, NULL, NULL));
	if (pa_split(req->path, "/admin/v1/servers/", slug, &rest) == -1) {
		pa_not_found(req);
		return (KORE_RESULT_OK);
	}
	if (*rest == '\0')
		return (pa_start(req, PA_SERVER, PA_LIST, 1, slug, NULL, NULL));
	if (strcmp(rest, "/tools") == 0)
		return (pa_start(req, PA_TOOL, PA_LIST, 0, slug, NULL, NULL));
	if (strcmp(rest, "/tools:import") == 0)
		return (pa_start(req, PA_TOOL, PA_IMPORT, 0, slug, NULL, NULL));
	if (strncmp(rest, "/tools/", 7) == 0 &&
	    segment(rest + 7, strlen(rest + 7), name) == 0)
		return (pa_start(req, PA_TOOL, PA_LIST, 1, slug, name, NULL));
	pa_not_found(req);

	return (KORE_RESULT_OK);
}

int
page_admin_rules(struct http_request *req)
{
	static const char *const	 filters[] = { "server", "subject",
					    NULL };
	struct svc_ctx			*ctx;
	char				 id[PA_SEG_MAX];
	const char			*rest;

	ctx = svc_ctx(req);
	if (ctx->state != NULL)
		return (pa_finish(req, ctx->state));
	if (strcmp(req->path, "/admin/v1/rules") == 0)
		return (pa_start(req, PA_RULE, PA_LIST, 0, NULL, NULL,
		    filters));
	if (pa_split(req->path, "/admin/v1/rules/", id, &rest) == -1 ||
	    *rest != '\0') {
		pa_not_found(req);
		return (KORE_RESULT_OK);
	}

	return (pa_start(req, PA_RULE, PA_LIST, 1, id, NULL, NULL));
}

int
page_admin_grants(struct http_request *req)
{
	static const char *const	 filters[] = { "state", "principal",
					    NULL };
	static const struct {
		const char		*name;
		enum policy_admin_op	 op;
	} actions[] = {
		{ ":approve", PA_APPROVE },
		{ ":deny", PA_DENY },
		{ ":activate", PA_ACTIVATE },
		{ ":revoke", PA_REVOKE },
	};
	struct svc_ctx			*ctx;
	char				 id[PA_SEG_MAX];
	const char			*rest;
	size_t				 i;

	ctx = svc_ctx(req);
	if (ctx->state != NULL)
		return (pa_finish(req, ctx->state));
	if (strcmp(req->path, "/admin/v1/grants") == 0)
		return (pa_start(req, PA_GRANT, PA_LIST, 0, NULL, NULL,
		    filters));
	if (pa_split(req->path, "/admin/v1/grants/", id, &rest) == -1) {
		pa_not_found(req);
		return (KORE_RESULT_OK);
	}
	if (*rest == '\0')
		return (pa_start(req, PA_GRANT, PA_LIST, 1, id, NULL, NULL));
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(rest, actions[i].name) == 0)
			return (pa_start(req, PA_GRANT, actions[i].op, 1, id,
			    NULL, NULL));
	}
	pa_not_found(req);

	return (KORE_RESULT_OK);
}

int
page_admin_sps(struct http_request *req)
{
	struct svc_ctx	*ctx;
	char		 id[PA_SEG_MAX];
	const char	*rest;

	ctx = svc_ctx(req);
	if (ctx->state != NULL)
		return (pa_finish(req, ctx->state));
	if (strcmp(req->path, "/admin/v1/service-principals") == 0)
		return (pa_start(req, PA_SP, PA_LIST, 0, NULL, NULL, NULL));
	if (pa_split(req->path, "/admin/v1/service-principals/", id,
	    &rest) == -1 || *rest != '\0') {
		pa_not_found(req);
		return (KORE_RESULT_OK);
	}

	return (pa_start(req, PA_SP, PA_LIST, 1, id, NULL, NULL));
}

/*
 * Starts this worker's grant-expiry timer (idempotent).  Meant for
 * worker start-up; until the glue calls it there, the first admin or
 * protocol request on a worker starts it.  Several workers or instances
 * running it is harmless (rows are claimed with SKIP LOCKED).
 */
void
admin_policy_worker_init(void)
{
	if (expiry_started)
		return;
	expiry_started = 1;
	(void)kore_timer_add(expiry_tick, EXPIRY_MS, NULL, 0);
}

static void
expiry_tick(void *arg, u_int64_t now)
{
	struct expiry_run	*run;

	(void)arg;
	(void)now;
	if (expiry_running)
		return;
	if ((run = calloc(1, sizeof(*run))) == NULL)
		return;
	expiry_running = 1;
	run->actor.kind = "system";
	run->actor.name = "grant-expiry";
	store_changes_init(&run->changes, svc.instance);
	(void)svc_db_background(expiry_job, run, expiry_done);
}

static int
expiry_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct expiry_run	*run = arg;

	if (policy_admin_expire_grants(conn, &run->actor, &run->changes,
	    &run->count, &run->err) == -1) {
		rc_strlcpy(dberr->msg, run->err.msg, sizeof(dberr->msg));
		return (-1);
	}

	return (0);
}

static void
expiry_done(void *arg, int result, struct svc_db_err *err)
{
	struct expiry_run	*run = arg;

	expiry_running = 0;
	if (result == 0 && run->changes.version != 0) {
		svc_changes_publish(&run->changes);
		svc_log(SVC_LOG_INFO, "grants: %d expired at policy version "
		    "%lld", run->count, (long long)run->changes.version);
	} else if (result == -1) {
		svc_log(SVC_LOG_WARN, "grants: expiry pass failed: %s",
		    err->msg);
	}
	store_changes_cleanup(&run->changes);
	free(run);
}
