/*
 * http_activity.c: what the console's overview shows of Entra
 * provisioning and of decisions (activity_glue.h), and
 *
 *   GET /admin/v1/activity[?directory=NAME]
 *
 * Each worker counts in its own table (no lock: one event loop) and,
 * every ACTIVITY_FLUSH_MS when there is something to add, hands the
 * table to a background database job and starts a new one.  A flush
 * that fails is merged back and tried again with the next, so a
 * database away for a while loses nothing until the table fills (then
 * observations are dropped and counted, never the request failed).
 * At most ACTIVITY_FLUSH_MS of counts is lost when a worker stops.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "activity.h"
#include "activity_glue.h"
#include "activity_store.h"
#include "admin.h"
#include "cursor.h"
#include "svc.h"
#include "util.h"

/* Prune old rows about once an hour per worker. */
#define PRUNE_EVERY	(3600 * 1000 / ACTIVITY_FLUSH_MS)

int	page_admin_activity(struct http_request *);

static struct activity	live;		/* counting now */
static struct activity	pending;	/* being flushed */
static int		flushing;
static unsigned int	flushes;
static int		prune_now;
static uint64_t		dropped_logged;
static struct store_err	flush_err;

static void	activity_response(struct http_request *, int);
static void	flush_timer(void *, u_int64_t);
static int	flush_job(PGconn *, void *, struct svc_db_err *);
static void	flush_done(void *, int, struct svc_db_err *);

void
svc_activity_worker_init(void)
{
	activity_init(&live);
	svc_respond_observe(activity_response);
	(void)kore_timer_add(flush_timer, ACTIVITY_FLUSH_MS, NULL, 0);
}

/* The response hook: a SCIM request of a directory-bound token. */
static void
activity_response(struct http_request *req, int status)
{
	struct svc_ctx	*ctx;
	const char	*route;

	if (req->hdlr == NULL)
		return;
	route = req->hdlr->func;
	if (strncmp(route, "page_scim_", 10) != 0)
		return;
	ctx = svc_ctx(req);
	if (!ctx->authed || ctx->token.directory_id <= 0)
		return;
	(void)activity_scim(&live, ctx->token.directory_id,
	    (int64_t)rc_now_ms(), status);
}

void
svc_activity_decision(struct http_request *req, int allow,
    const char *reason)
{
	struct svc_ctx	*ctx;

	ctx = svc_ctx(req);
	if (!ctx->authed || ctx->token.directory_id <= 0)
		return;
	(void)activity_add(&live, ACTIVITY_DECISION, ctx->token.directory_id,
	    (int64_t)rc_now_ms(), allow ? "allow" :
	    (reason != NULL && *reason != '\0' ? reason : "deny"), 1);
}

static void
flush_timer(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	if (live.dropped > dropped_logged) {
		svc_log(SVC_LOG_WARN, "activity: %llu observations dropped "
		    "(table full; the database may be away)",
		    (unsigned long long)(live.dropped - dropped_logged));
		dropped_logged = live.dropped;
	}
	if (flushing || activity_empty(&live))
		return;
	activity_take(&live, &pending);
	prune_now = (++flushes % PRUNE_EVERY) == 0;
	flushing = 1;
	if (svc_db_background(flush_job, &pending, flush_done) == -1)
		flush_done(&pending, -1, NULL);
}

/* On a task thread: pending is not touched by the loop meanwhile. */
static int
flush_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	memset(&flush_err, 0, sizeof(flush_err));
	if (activity_store_flush(conn, arg, prune_now, &flush_err) == -1) {
		rc_strlcpy(dberr->msg, flush_err.msg, sizeof(dberr->msg));
		return (-1);
	}
	return (0);
}

static void
flush_done(void *arg, int result, struct svc_db_err *dberr)
{
	(void)arg;
	flushing = 0;
	if (result == 0)
		return;
	/* Put it back; the next flush tries again. */
	activity_merge(&live, &pending);
	svc_log(SVC_LOG_WARN, "activity: flush failed, kept for the next "
	    "one: %s", dberr != NULL && dberr->msg[0] ? dberr->msg :
	    "not started");
}

/* ---- GET /admin/v1/activity ---- */

struct activity_job {
	int64_t			 token_dir;
	char			 directory[64];
	char			 param[32];
	json_t			*result;
	struct store_err	 err;
};

static void
activity_job_free(void *arg)
{
	struct activity_job	*job = arg;

	json_decref(job->result);
	kore_free(job);
}

static int
activity_job_fn(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct activity_job	*job = arg;
	int64_t			 dir;

	(void)dberr;
	if (admin_directory_scope(conn, job->token_dir, job->directory, &dir,
	    &job->err, job->param, sizeof(job->param)) == -1)
		return (-1);
	return (activity_store_overview(conn, dir, ACTIVITY_QUIET_S,
	    &job->result, &job->err));
}

int
page_admin_activity(struct http_request *req)
{
	static const char *const	 allowed[] = { "directory", NULL };
	struct svc_ctx			*ctx;
	struct activity_job		*job;
	struct cursor_params		 qp;
	struct cursor_err		 cerr;
	const char			*name;
	char				 when[32];
	json_t				*out;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL) {
		switch (admin_job_finish(req, &job->err, job->param)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		rc_time_format(rc_now_ms(), when, sizeof(when));
		out = json_pack("{s:O, s:i, s:i, s:s}", "directories",
		    job->result, "quiet_after_s", ACTIVITY_QUIET_S,
		    "flush_interval_ms", ACTIVITY_FLUSH_MS, "generated_at",
		    when);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	if (cursor_params_parse(req->query_string, allowed, &qp,
	    &cerr) == -1) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_parameter",
		    "%s%s%s", cerr.param, cerr.param[0] ? ": " : "", cerr.msg);
		return (KORE_RESULT_OK);
	}
	name = cursor_params_get(&qp, "directory");
	if (name != NULL && strlen(name) >= 64) {
		cursor_params_free(&qp);
		admin_param_error(req, "directory", "at most 63 characters");
		return (KORE_RESULT_OK);
	}
	job = kore_calloc(1, sizeof(*job));
	job->token_dir = ctx->token.directory_id;
	if (name != NULL)
		rc_strlcpy(job->directory, name, sizeof(job->directory));
	cursor_params_free(&qp);
	ctx->state = job;
	ctx->state_free = activity_job_free;

	return (svc_db_run(req, activity_job_fn, job));
}
