/*
 * http_admin_entra.c: a directory's Entra tenant binding (README,
 * "Entra access tokens"):
 *
 *   GET    /admin/v1/directories/{name}/entra   the binding, its keys
 *   PUT    /admin/v1/directories/{name}/entra   bind (create or replace)
 *   DELETE /admin/v1/directories/{name}/entra   unbind
 *
 * A directory-bound admin token manages only its own directory.  A
 * change reaches every worker of this instance at once (entra_changed)
 * and other instances through the NOTIFY the store sends.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "entra_glue.h"
#include "entra_store.h"
#include "entra_token.h"
#include "svc.h"
#include "util.h"

#define ENTRA_ROUTE_PREFIX	"/admin/v1/directories/"

int	page_admin_directory_entra(struct http_request *);

struct entra_job {
	struct store_actor		 actor;
	char				 actor_name[129];
	char				 request_id[40];
	int				 method;
	char				 name[64];
	json_t				*body;		/* PUT */
	struct store_entra_binding	 b;
	char				 url[1100];
	char				*jwks;
	json_t				*result;
	struct store_err		 err;
};

static void
entra_job_free(void *arg)
{
	struct entra_job	*job = arg;

	json_decref(job->body);
	json_decref(job->result);
	free(job->jwks);
	kore_free(job);
}

static int
entra_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct entra_job	*job = arg;
	int64_t			 dir;
	char			 canon[64];

	(void)dberr;
	if (store_directory_id(conn, job->name, &dir, canon, sizeof(canon),
	    &job->err) == -1)
		return (-1);
	if (job->actor.directory_id != 0 && job->actor.directory_id != dir) {
		store_err_set(&job->err, 403, "forbidden", "this token manages "
		    "only its own directory");
		return (-1);
	}
	switch (job->method) {
	case HTTP_METHOD_PUT:
		return (store_entra_bind(conn, &job->actor, dir, &job->b,
		    &job->result, &job->err));
	case HTTP_METHOD_DELETE:
		return (store_entra_unbind(conn, &job->actor, dir, &job->err));
	default:
		return (store_entra_get(conn, dir, &job->result, &job->err));
	}
}

/* The PUT body into job->b; -1 after answering 400. */
static int
parse_binding(struct http_request *req, struct entra_job *job)
{
	struct store_entra_binding	*b = &job->b;
	const json_t			*v, *x;
	size_t				 i;

	if ((job->body = svc_body_json(req)) == NULL)
		return (-1);
	memset(b, 0, sizeof(*b));
	b->tenant_id = json_string_value(json_object_get(job->body,
	    "tenant_id"));
	b->audiences = json_object_get(job->body, "audiences");
	b->accept_v1 = b->accept_v2 = 1;
	if ((v = json_object_get(job->body, "versions")) != NULL) {
		b->accept_v1 = b->accept_v2 = 0;
		if (!json_is_array(v) || json_array_size(v) == 0)
			goto bad_versions;
		json_array_foreach(v, i, x) {
			if ((json_is_integer(x) && json_integer_value(x) == 1) ||
			    (json_is_string(x) && (strcmp(json_string_value(x),
			    "v1") == 0 || strcmp(json_string_value(x),
			    "1.0") == 0)))
				b->accept_v1 = 1;
			else if ((json_is_integer(x) && json_integer_value(x) == 2) ||
			    (json_is_string(x) && (strcmp(json_string_value(x),
			    "v2") == 0 || strcmp(json_string_value(x),
			    "2.0") == 0)))
				b->accept_v2 = 1;
			else
				goto bad_versions;
		}
	}
	b->skew_s = 120;
	if ((v = json_object_get(job->body, "skew_s")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > ENTRA_SKEW_MAX_S) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_binding", "'skew_s' must be 0 to %d "
			    "seconds", ENTRA_SKEW_MAX_S);
			return (-1);
		}
		b->skew_s = (int)json_integer_value(v);
	}
	v = json_object_get(job->body, "openid_configuration");
	x = json_object_get(job->body, "jwks");
	if (v != NULL && !json_is_string(v)) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_binding",
		    "'openid_configuration' must be an https:// URL");
		return (-1);
	}
	if (x != NULL && !json_is_object(x)) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_binding",
		    "'jwks' must be a JSON Web Key Set ({\"keys\": [...]})");
		return (-1);
	}
	b->openid_url = json_string_value(v);
	if (x != NULL)
		b->jwks = job->jwks = json_dumps(x, JSON_COMPACT);
	/* Neither: the tenant's own, as Microsoft publishes it. */
	if (v == NULL && x == NULL && b->tenant_id != NULL &&
	    strlen(b->tenant_id) < 64) {
		(void)snprintf(job->url, sizeof(job->url), "https://login."
		    "microsoftonline.com/%s/v2.0/.well-known/"
		    "openid-configuration", b->tenant_id);
		b->openid_url = job->url;
	}
	return (0);

bad_versions:
	svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_binding",
	    "'versions' must list \"v1\", \"v2\" or both");
	return (-1);
}

int
page_admin_directory_entra(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct entra_job	*job;
	const char		*p;
	size_t			 len;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		if (job->method != HTTP_METHOD_GET)
			entra_changed();
		if (job->method == HTTP_METHOD_DELETE)
			svc_respond_raw(req, HTTP_STATUS_NO_CONTENT, NULL, NULL,
			    0);
		else
			svc_respond_json(req, HTTP_STATUS_OK, job->result);
		return (KORE_RESULT_OK);
	}
	if (!svc_method_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_PUT |
	    HTTP_METHOD_DELETE))
		return (KORE_RESULT_OK);
	p = req->path + strlen(ENTRA_ROUTE_PREFIX);
	len = strcspn(p, "/");
	if (len == 0 || len >= sizeof(job->name)) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such directory");
		return (KORE_RESULT_OK);
	}
	job = kore_calloc(1, sizeof(*job));
	ctx->state = job;
	ctx->state_free = entra_job_free;
	(void)snprintf(job->name, sizeof(job->name), "%.*s", (int)len, p);
	admin_actor(req, &job->actor, job->actor_name, sizeof(job->actor_name),
	    job->request_id, sizeof(job->request_id));
	job->method = req->method;
	if (req->method == HTTP_METHOD_PUT && parse_binding(req, job) == -1)
		return (KORE_RESULT_OK);

	return (svc_db_run(req, entra_job, job));
}
