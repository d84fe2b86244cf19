/*
 * admin_common.c: what every admin endpoint shares (admin.h): the
 * cursor signing key (loaded by the parent through svc_admin_load(), or
 * by the first job that needs it), the 400 that names a bad query
 * parameter, the answer to a failed job, and the directory a token may
 * see.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "audit_store.h"
#include "cursor.h"
#include "lifecycle.h"
#include "store.h"
#include "svc.h"
#include "util.h"

int
svc_admin_load(PGconn *conn, struct svc_db_err *dberr)
{
	struct store_err	 err;
	const unsigned char	*key;

	if (admin_cursor_key(conn, &key, &err) == -1) {
		rc_strlcpy(dberr->msg, err.msg, sizeof(dberr->msg));
		return (-1);
	}

	return (0);
}

/* The key, loading it once per process if the parent did not. */
int
admin_cursor_key(PGconn *conn, const unsigned char **key,
    struct store_err *err)
{
	unsigned char	fresh[CURSOR_KEY_LEN];

	if ((*key = cursor_key_get()) != NULL)
		return (0);
	if (audit_store_cursor_key(conn, fresh, err) == -1)
		return (-1);
	cursor_key_install(fresh);
	explicit_bzero(fresh, sizeof(fresh));
	*key = cursor_key_get();

	return (0);
}

void
admin_param_error(struct http_request *req, const char *param,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 detail[256], msg[300];
	json_t	*body;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s: %s", param[0] ? param : "query",
	    detail);
	body = json_pack("{s:s, s:s, s:i, s:s}", "error", "invalid_parameter",
	    "message", msg, "status", HTTP_STATUS_BAD_REQUEST, "parameter",
	    param);
	svc_respond_json(req, HTTP_STATUS_BAD_REQUEST, body);
	json_decref(body);
}

/*
 * After a job: 0 while it runs, 1 when an error answer was sent, -1
 * when it succeeded and the caller answers.
 */
int
admin_job_finish(struct http_request *req, struct store_err *err,
    const char *param)
{
	struct svc_db_err	*dberr;
	int			 result;

	if (!svc_db_done(req, &result, &dberr))
		return (0);
	if (result == 0)
		return (-1);
	if (param != NULL && param[0] != '\0') {
		admin_param_error(req, param, "%s", err->msg);
		return (1);
	}
	if (err->status == 0 || err->status >= 500)
		svc_log(SVC_LOG_ERROR, "admin: database: %s",
		    err->status ? err->msg : dberr->msg);
	if (err->status == 0) {
		err->status = 503;
		rc_strlcpy(err->code, "unavailable", sizeof(err->code));
		rc_strlcpy(err->msg, "database unavailable, retry",
		    sizeof(err->msg));
	}
	if (err->status == 503)
		http_response_header(req, "retry-after", "1");
	svc_error(req, err->status, err->code[0] ? err->code : "error", "%s",
	    err->msg);

	return (1);
}

/*
 * The directory a request may see: the token's own, or for a global
 * token all (0) or the one named.  A bound token naming another
 * directory gets 403.  Fills param when the name itself is at fault.
 */
int
admin_directory_scope(PGconn *conn, int64_t token_dir, const char *name,
    int64_t *dir, struct store_err *err, char *param, size_t size)
{
	int64_t	id;

	*dir = token_dir;
	if (name == NULL || name[0] == '\0')
		return (0);
	if (store_directory_id(conn, name, &id, NULL, 0, err) == -1) {
		if (err->status == 404)
			rc_strlcpy(param, "directory", size);
		return (-1);
	}
	if (token_dir != 0 && id != token_dir) {
		err->status = 403;
		rc_strlcpy(err->code, "forbidden", sizeof(err->code));
		rc_strlcpy(err->msg, "this token sees only its own directory",
		    sizeof(err->msg));
		return (-1);
	}
	*dir = id;

	return (0);
}

void
admin_actor(struct http_request *req, struct store_actor *actor,
    char *name, size_t namesz, char *rid, size_t ridsz)
{
	struct svc_ctx	*ctx;

	ctx = svc_ctx(req);
	rc_strlcpy(name, ctx->token.name, namesz);
	rc_strlcpy(rid, ctx->request_id, ridsz);
	actor->kind = "token";
	actor->name = name;
	actor->directory_id = ctx->token.directory_id;
	actor->request_id = rid;
}
