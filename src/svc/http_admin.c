/*
 * http_admin.c: the admin API's directory and token endpoints
 * (/admin/v1/directories, /admin/v1/tokens).  Same rules as
 * rollcallctl, because both call the store: a directory-bound admin
 * token sees and manages only its directory; a token's secret is shown
 * once, in the reply that creates it.  A created or revoked token takes
 * effect on every worker before the reply is sent.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "store.h"
#include "svc.h"
#include "util.h"

int	page_admin_directories(struct http_request *);
int	page_admin_tokens(struct http_request *);
int	page_admin_token(struct http_request *);

struct admin_job {
	struct store_actor	 actor;
	char			 actor_name[129];
	char			 request_id[40];
	int			 method;
	char			 name[129];
	char			 directory[64];
	int			 has_directory;
	unsigned int		 scopes;
	int			 expires_days;
	char			 id[64];
	struct store_new_token	 created;
	json_t			*result;
	struct store_err	 err;
};

static struct admin_job	*admin_job_new(struct http_request *);
static void		 admin_job_free(void *);
static int		 directories_job(PGconn *, void *, struct svc_db_err *);
static int		 tokens_job(PGconn *, void *, struct svc_db_err *);
static int		 token_job(PGconn *, void *, struct svc_db_err *);
static int		 parse_token_request(struct http_request *,
			    struct admin_job *);

static void
admin_job_free(void *arg)
{
	struct admin_job	*job = arg;

	json_decref(job->result);
	explicit_bzero(job->created.secret, sizeof(job->created.secret));
	kore_free(job);
}

static struct admin_job *
admin_job_new(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct admin_job	*job;

	ctx = svc_ctx(req);
	job = kore_calloc(1, sizeof(*job));
	admin_actor(req, &job->actor, job->actor_name, sizeof(job->actor_name),
	    job->request_id, sizeof(job->request_id));
	job->method = req->method;
	ctx->state = job;
	ctx->state_free = admin_job_free;

	return (job);
}

/* Store failures keep their store_err; the db layer sees -1 either way. */
static int
directories_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct admin_job	*job = arg;

	(void)dberr;
	if (job->method == HTTP_METHOD_POST)
		return (store_directory_create(conn, &job->actor, job->name,
		    &job->result, &job->err));
	return (store_directory_list(conn, job->actor.directory_id,
	    &job->result, &job->err));
}

int
page_admin_directories(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct admin_job	*job;
	json_t			*body, *list;
	const char		*name;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		if (job->method == HTTP_METHOD_POST) {
			svc_respond_json(req, HTTP_STATUS_CREATED, job->result);
		} else {
			list = json_pack("{s:O}", "directories", job->result);
			svc_respond_json(req, HTTP_STATUS_OK, list);
			json_decref(list);
		}
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_POST))
		return (KORE_RESULT_OK);

	if (req->method == HTTP_METHOD_POST) {
		if (ctx->token.directory_id != 0) {
			svc_error(req, HTTP_STATUS_FORBIDDEN, "forbidden",
			    "only a global admin token may create directories");
			return (KORE_RESULT_OK);
		}
		if ((body = svc_body_json(req)) == NULL)
			return (KORE_RESULT_OK);
		name = json_string_value(json_object_get(body, "name"));
		if (name == NULL || strlen(name) >= 64) {
			json_decref(body);
			svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_name",
			    "body must be {\"name\": \"<directory name>\"} "
			    "with at most 63 characters");
			return (KORE_RESULT_OK);
		}
		job = admin_job_new(req);
		rc_strlcpy(job->name, name, sizeof(job->name));
		json_decref(body);
	} else {
		job = admin_job_new(req);
	}

	return (svc_db_run(req, directories_job, job));
}

static int
parse_token_request(struct http_request *req, struct admin_job *job)
{
	json_t		*body, *scopes, *v;
	const char	*s;
	size_t		 i;
	unsigned int	 bit;
	char		 csv[64];
	json_int_t	 days;

	if ((body = svc_body_json(req)) == NULL)
		return (-1);

	s = json_string_value(json_object_get(body, "name"));
	if (s == NULL || *s == '\0' || strlen(s) > 128) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_name",
		    "'name' must be a string of 1-128 characters");
		goto fail;
	}
	rc_strlcpy(job->name, s, sizeof(job->name));

	/* "scopes": ["scim", "gateway"] or "scim,gateway". */
	scopes = json_object_get(body, "scopes");
	if (json_is_string(scopes)) {
		if (token_scopes_parse(json_string_value(scopes),
		    &job->scopes) == -1)
			goto bad_scopes;
	} else if (json_is_array(scopes) && json_array_size(scopes) > 0) {
		job->scopes = 0;
		json_array_foreach(scopes, i, v) {
			if (!json_is_string(v) || token_scopes_parse(
			    json_string_value(v), &bit) == -1 ||
			    (job->scopes & bit))
				goto bad_scopes;
			job->scopes |= bit;
		}
	} else {
		goto bad_scopes;
	}

	v = json_object_get(body, "directory");
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) >= sizeof(job->directory)) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_directory", "'directory' is too long");
			goto fail;
		}
		rc_strlcpy(job->directory, json_string_value(v),
		    sizeof(job->directory));
		job->has_directory = 1;
	} else if (v != NULL && !json_is_null(v)) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_directory",
		    "'directory' must be a directory name or null (global)");
		goto fail;
	}

	v = json_object_get(body, "expires_days");
	days = 0;
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || (days = json_integer_value(v)) < 0 ||
		    days > 3650) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_expiry", "'expires_days' must be a whole "
			    "number from 0 (never) to 3650");
			goto fail;
		}
	}
	job->expires_days = (int)days;
	json_decref(body);

	return (0);

bad_scopes:
	token_scopes_format(TOKEN_SCOPE_ALL, csv, sizeof(csv));
	svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_scope",
	    "'scopes' must list one or more of %s, without repeats", csv);
fail:
	json_decref(body);
	return (-1);
}

static int
tokens_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct admin_job	*job = arg;

	(void)dberr;
	if (job->method == HTTP_METHOD_POST)
		return (store_token_create(conn, &job->actor,
		    job->has_directory ? job->directory : NULL, job->scopes,
		    job->name, job->expires_days, &job->created, &job->result,
		    &job->err));
	return (store_token_list(conn, job->actor.directory_id, &job->result,
	    &job->err));
}

int
page_admin_tokens(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct admin_job	*job;
	struct tokentab_entry	 e;
	json_t			*out;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		if (job->method != HTTP_METHOD_POST) {
			out = json_pack("{s:O}", "tokens", job->result);
			svc_respond_json(req, HTTP_STATUS_OK, out);
			json_decref(out);
			return (KORE_RESULT_OK);
		}

		/* Usable on every worker before the client sees the secret. */
		memset(&e, 0, sizeof(e));
		memcpy(e.hash, job->created.hash, sizeof(e.hash));
		rc_strlcpy(e.id, job->created.id, sizeof(e.id));
		rc_strlcpy(e.name, job->created.name, sizeof(e.name));
		rc_strlcpy(e.directory, job->created.directory,
		    sizeof(e.directory));
		e.directory_id = job->created.directory_id;
		e.scopes = job->created.scopes;
		e.expires_ms = job->created.expires_ms;
		if (tokentab_put(svc.tokens, &e) == -1)
			svc_log(SVC_LOG_WARN, "token table full: token %s "
			    "works after the next reload only", e.id);
		(void)json_object_set_new(job->result, "token",
		    json_string(job->created.secret));
		svc_respond_json(req, HTTP_STATUS_CREATED, job->result);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	job = admin_job_new(req);
	if (req->method == HTTP_METHOD_POST &&
	    parse_token_request(req, job) == -1)
		return (KORE_RESULT_OK);

	return (svc_db_run(req, tokens_job, job));
}

static int
token_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct admin_job	*job = arg;

	(void)dberr;
	return (store_token_revoke(conn, &job->actor, job->actor.directory_id,
	    job->id, &job->err));
}

int
page_admin_token(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct admin_job	*job;
	const char		*id;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, NULL)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		/* Refused by every worker from now on. */
		(void)tokentab_revoke(svc.tokens, job->id, rc_now_ms());
		svc_respond_raw(req, HTTP_STATUS_NO_CONTENT, NULL, NULL, 0);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_DELETE))
		return (KORE_RESULT_OK);
	id = req->path + strlen("/admin/v1/tokens/");
	if (!rc_is_uuid(id)) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no token with id '%.64s'", id);
		return (KORE_RESULT_OK);
	}
	job = admin_job_new(req);
	rc_strlcpy(job->id, id, sizeof(job->id));

	return (svc_db_run(req, token_job, job));
}
