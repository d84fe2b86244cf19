/*
 * http_admin_audit.c: the audit trail over the admin API.
 *
 *   GET /admin/v1/audit          one page, newest first unless order=asc
 *   GET /admin/v1/audit/export   every matching record as JSON lines,
 *                                oldest first, streamed in chunks
 *   GET /admin/v1/audit/verify   walks the hash chain (sql/003_audit.sql)
 *
 * A directory-bound admin token sees only its directory's records; a
 * global one sees all, or one directory with ?directory=.  The export
 * never holds more than one page in memory: it sends a page as an HTTP
 * chunk (stream.h, SVC_STREAM_CHUNKED), fetches the next on a task
 * thread once that chunk has left, and stops at the newest record that
 * existed when it began.

 */
#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_store.h"
#include "cursor.h"
#include "store.h"
#include "admin.h"
#include "stream.h"
#include "svc.h"
#include "util.h"

#define AUDIT_LIMIT_DEFAULT	100
#define EXPORT_PAGE		1000

int	page_admin_audit(struct http_request *);
int	page_admin_audit_export(struct http_request *);
int	page_admin_audit_verify(struct http_request *);

enum audit_kind {
	AUDIT_LIST,
	AUDIT_EXPORT,
	AUDIT_VERIFY,
};

struct audit_job {
	enum audit_kind		 kind;
	int64_t			 token_dir;
	char			 directory[64];
	char			 from[40];
	char			 to[40];
	char			 actor[129];
	char			 subject[257];
	char			 type[66];
	char			 cursor[CURSOR_TOKEN_MAX];
	int			 ascending;
	int			 limit;
	int64_t			 after_id;
	int64_t			 max_id;
	struct audit_query	 q;
	json_t			*result;
	int			 more;
	char			 next[CURSOR_TOKEN_MAX];
	char			 param[32];	/* the parameter at fault */
	struct store_err	 err;
};

/* An export in flight: outlives its request (the connection owns it). */
struct audit_stream {
	struct svc_stream	 out;		/* out.c NULL: client left */
	struct audit_job	 job;
	uint64_t		 records;
	struct svc_db_job	*page;		/* next page being read */
};

static const char *const	audit_params[] = { "from", "to", "actor",
    "subject", "type", "cursor", "limit", "order", "directory", NULL };
static const char *const	export_params[] = { "from", "to", "actor",
    "subject", "type", "directory", NULL };

static int	 audit_parse(struct http_request *, struct audit_job *,
		    const char *const *);
static int	 time_valid(const char *);
static void	 time_utc(char *, size_t);
static int	 type_valid(const char *);
static void	 audit_bind(struct audit_job *, int64_t);
static void	 audit_scope(const struct audit_job *, int64_t, char *,
		    size_t);
static int	 audit_job_fn(PGconn *, void *, struct svc_db_err *);
static void	 audit_job_free(void *);
static void	 stream_send(struct audit_stream *);
static void	 stream_chunk_sent(struct svc_stream *);
static void	 stream_page_done(void *, int, struct svc_db_err *);
static void	 stream_gone(struct svc_stream *);
static void	 stream_end(struct audit_stream *, int);
static void	 stream_free(struct audit_stream *);

/* RFC 3339: 2026-11-21, or 2026-11-21T20:45:45[.123456](Z|+01:00). */
static int
time_valid(const char *s)
{
	static const int	mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	const char		*p;
	int			 y, mo, d, h, mi, sec, n;

	if (strlen(s) > 35 ||
	    sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
	    s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 ||
	    mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0))))
		return (0);
	if (strspn(s, "0123456789-") != 10)
		return (0);
	p = s + 10;
	if (*p == '\0')
		return (1);
	if ((*p != 'T' && *p != 't') || strspn(p + 1, "0123456789:") != 8 ||
	    sscanf(p + 1, "%2d:%2d:%2d", &h, &mi, &sec) != 3 ||
	    p[3] != ':' || p[6] != ':' || h > 23 || mi > 59 || sec > 60)
		return (0);
	p += 9;
	if (*p == '.') {
		n = (int)strspn(p + 1, "0123456789");
		if (n < 1 || n > 6)
			return (0);
		p += 1 + n;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return (1);
	if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
	    strspn(p + 1, "0123456789:") == 5 && p[3] == ':' &&
	    sscanf(p + 1, "%2d:%2d", &h, &mi) == 2 && h <= 23 && mi <= 59)
		return (1);

	return (0);
}

/* A bare date means midnight UTC, whatever the session's TimeZone. */
static void
time_utc(char *s, size_t size)
{
	if (strlen(s) == 10)
		(void)strncat(s, "T00:00:00Z", size - strlen(s) - 1);
}

/* An action name ("token.create") or a prefix ending in '*' ("token.*"). */
static int
type_valid(const char *s)
{
	size_t	len, n;

	len = strlen(s);
	if (len == 0 || len > 64)
		return (0);
	n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._:-");
	return (n == len || (n == len - 1 && len > 1 && s[len - 1] == '*'));
}

static int
audit_parse(struct http_request *req, struct audit_job *job,
    const char *const *allowed)
{
	struct cursor_params	 qp;
	struct cursor_err	 cerr;
	const char		*v;
	long long		 n;

	if (cursor_params_parse(req->query_string, allowed, &qp, &cerr) == -1) {
		admin_param_error(req, cerr.param, "%s", cerr.msg);
		goto fail;
	}
	if (job->limit == 0)
		job->limit = AUDIT_LIMIT_DEFAULT;
	if ((v = cursor_params_get(&qp, "limit")) != NULL) {
		if (rc_parse_int(v, 1, AUDIT_STORE_LIMIT_MAX, &n) == -1) {
			admin_param_error(req, "limit", "must be a whole "
			    "number from 1 to %d", AUDIT_STORE_LIMIT_MAX);
			goto fail;
		}
		job->limit = (int)n;
	}
	if ((v = cursor_params_get(&qp, "order")) != NULL) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
			admin_param_error(req, "order", "must be asc (oldest "
			    "first) or desc (newest first)");
			goto fail;
		}
		job->ascending = strcmp(v, "asc") == 0;
	}
	if ((v = cursor_params_get(&qp, "from")) != NULL) {
		if (!time_valid(v)) {
			admin_param_error(req, "from", "must be an RFC 3339 "
			    "date or time, e.g. 2026-11-21T20:00:00Z");
			goto fail;
		}
		rc_strlcpy(job->from, v, sizeof(job->from));
		time_utc(job->from, sizeof(job->from));
	}
	if ((v = cursor_params_get(&qp, "to")) != NULL) {
		if (!time_valid(v)) {
			admin_param_error(req, "to", "must be an RFC 3339 "
			    "date or time, e.g. 2026-11-21T20:00:00Z");
			goto fail;
		}
		rc_strlcpy(job->to, v, sizeof(job->to));
		time_utc(job->to, sizeof(job->to));
	}
	if ((v = cursor_params_get(&qp, "actor")) != NULL) {
		if (strlen(v) >= sizeof(job->actor)) {
			admin_param_error(req, "actor", "at most %zu bytes",
			    sizeof(job->actor) - 1);
			goto fail;
		}
		rc_strlcpy(job->actor, v, sizeof(job->actor));
	}
	if ((v = cursor_params_get(&qp, "subject")) != NULL) {
		if (strlen(v) >= sizeof(job->subject)) {
			admin_param_error(req, "subject", "at most %zu bytes",
			    sizeof(job->subject) - 1);
			goto fail;
		}
		rc_strlcpy(job->subject, v, sizeof(job->subject));
	}
	if ((v = cursor_params_get(&qp, "type")) != NULL) {
		if (!type_valid(v)) {
			admin_param_error(req, "type", "an event type such as "
			    "token.create, or a prefix such as token.*");
			goto fail;
		}
		rc_strlcpy(job->type, v, sizeof(job->type));
	}
	if ((v = cursor_params_get(&qp, "directory")) != NULL) {
		if (strlen(v) >= sizeof(job->directory)) {
			admin_param_error(req, "directory",
			    "no such directory");
			goto fail;
		}
		rc_strlcpy(job->directory, v, sizeof(job->directory));
	}
	if ((v = cursor_params_get(&qp, "cursor")) != NULL) {
		if (strlen(v) >= sizeof(job->cursor)) {
			admin_param_error(req, "cursor", "cursor is malformed: "
			    "pass back the next_cursor value unchanged");
			goto fail;
		}
		rc_strlcpy(job->cursor, v, sizeof(job->cursor));
	}
	cursor_params_free(&qp);

	return (0);

fail:
	cursor_params_free(&qp);
	return (-1);
}

/* Points the store query at the job's own strings (after any copy). */
static void
audit_bind(struct audit_job *job, int64_t dir)
{
	memset(&job->q, 0, sizeof(job->q));
	job->q.directory_id = dir;
	job->q.from = job->from[0] ? job->from : NULL;
	job->q.to = job->to[0] ? job->to : NULL;
	job->q.actor = job->actor[0] ? job->actor : NULL;
	job->q.subject = job->subject[0] ? job->subject : NULL;
	job->q.type = job->type[0] ? job->type : NULL;
	job->q.ascending = job->ascending;
	job->q.after_id = job->after_id;
	job->q.max_id = job->max_id;
	job->q.limit = job->limit;
}

/* What a cursor is bound to: the whole query, and who asks. */
static void
audit_scope(const struct audit_job *job, int64_t dir, char *out,
    size_t size)
{
	(void)snprintf(out, size, "audit\x1f%s\x1f%lld\x1f%lld\x1f%s\x1f%s"
	    "\x1f%s\x1f%s\x1f%s", job->ascending ? "asc" : "desc",
	    (long long)job->token_dir, (long long)dir, job->from, job->to,
	    job->actor, job->subject, job->type);
}

static int
audit_job_fn(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct audit_job	*job = arg;
	struct cursor_err	 cerr;
	const unsigned char	*key;
	json_t			*last;
	char			 scope[1024], pos[32];
	long long		 id;
	int64_t			 dir;

	(void)dberr;
	if (job->kind == AUDIT_VERIFY)
		return (audit_store_verify(conn, &job->result, &job->err));

	if (admin_directory_scope(conn, job->token_dir, job->directory, &dir,
	    &job->err, job->param, sizeof(job->param)) == -1)
		return (-1);
	if (job->kind == AUDIT_EXPORT) {
		/* First page: fix the end of the export now. */
		if (job->max_id == 0) {
			if (audit_store_last_id(conn, &job->max_id,
			    &job->err) == -1)
				return (-1);
			if (job->max_id == 0)
				job->max_id = -1;	/* empty log */
		}
		json_decref(job->result);
		job->result = NULL;
		if (job->max_id == -1) {
			job->result = json_array();
			job->more = 0;
			return (0);
		}
		audit_bind(job, dir);
		return (audit_store_list(conn, &job->q, &job->result,
		    &job->more, &job->err));
	}

	if (admin_cursor_key(conn, &key, &job->err) == -1)
		return (-1);
	audit_scope(job, dir, scope, sizeof(scope));
	if (job->cursor[0] != '\0') {
		if (cursor_decode(key, scope, job->cursor, pos, sizeof(pos),
		    &cerr) == -1 ||
		    rc_parse_int(pos, 1, INT64_MAX, &id) == -1) {
			rc_strlcpy(job->param, "cursor", sizeof(job->param));
			rc_strlcpy(job->err.msg, cerr.msg,
			    sizeof(job->err.msg));
			return (-1);
		}
		job->after_id = id;
	}
	audit_bind(job, dir);
	if (audit_store_list(conn, &job->q, &job->result, &job->more,
	    &job->err) == -1)
		return (-1);
	job->next[0] = '\0';
	if (job->more && (last = json_array_get(job->result,
	    json_array_size(job->result) - 1)) != NULL) {
		(void)snprintf(pos, sizeof(pos), "%lld", (long long)
		    json_integer_value(json_object_get(last, "id")));
		if (cursor_encode(key, scope, pos, job->next,
		    sizeof(job->next)) == -1)
			job->next[0] = '\0';
	}

	return (0);
}

static void
audit_job_free(void *arg)
{
	struct audit_job	*job = arg;

	json_decref(job->result);
	kore_free(job);
}

static struct audit_job *
audit_job_new(struct http_request *req, enum audit_kind kind)
{
	struct svc_ctx		*ctx;
	struct audit_job	*job;

	ctx = svc_ctx(req);
	job = kore_calloc(1, sizeof(*job));
	job->kind = kind;
	job->token_dir = ctx->token.directory_id;
	ctx->state = job;
	ctx->state_free = audit_job_free;

	return (job);
}

int
page_admin_audit(struct http_request *req)
{
	struct audit_job	*job;
	json_t			*out;

	if ((job = svc_ctx(req)->state) != NULL) {
		switch (admin_job_finish(req, &job->err, job->param)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		out = json_pack("{s:O, s:s?, s:s}", "records", job->result,
		    "next_cursor", job->next[0] ? job->next : NULL,
		    "order", job->ascending ? "asc" : "desc");
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	job = audit_job_new(req, AUDIT_LIST);
	if (audit_parse(req, job, audit_params) == -1)
		return (KORE_RESULT_OK);

	return (svc_db_run(req, audit_job_fn, job));
}

int
page_admin_audit_verify(struct http_request *req)
{
	struct audit_job	*job;
	struct cursor_params	 qp;
	struct cursor_err	 cerr;
	static const char *const none[] = { NULL };

	if ((job = svc_ctx(req)->state) != NULL) {
		switch (admin_job_finish(req, &job->err, job->param)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		svc_respond_json(req, HTTP_STATUS_OK, job->result);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	/* The chain spans every directory: global admins only. */
	if (svc_ctx(req)->token.directory_id != 0) {
		svc_error(req, HTTP_STATUS_FORBIDDEN, "forbidden", "only a "
		    "global admin token may verify the whole audit chain");
		return (KORE_RESULT_OK);
	}
	if (cursor_params_parse(req->query_string, none, &qp, &cerr) == -1) {
		cursor_params_free(&qp);
		admin_param_error(req, cerr.param, "%s", cerr.msg);
		return (KORE_RESULT_OK);
	}
	cursor_params_free(&qp);
	job = audit_job_new(req, AUDIT_VERIFY);

	return (svc_db_run(req, audit_job_fn, job));
}

/*
 * Export: the first page is fetched as an ordinary job, so a bad
 * directory or a database outage still gets a proper status.  Then the
 * response goes out chunked (stream.h) and the stream takes over the
 * connection.
 */
int
page_admin_audit_export(struct http_request *req)
{
	static const char *const	headers[] = { "content-disposition",
	    "attachment; filename=\"rollcall-audit.jsonl\"", NULL };
	struct audit_job		*job;
	struct audit_stream		*st;

	if ((job = svc_ctx(req)->state) != NULL) {
		switch (admin_job_finish(req, &job->err, job->param)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		/*
		 * A connection can be disconnecting while its request still
		 * runs (Kore marks the request only when it removes the
		 * connection, later in the loop).  Its disconnect hook has
		 * run already: a stream set up now would never be told, and
		 * Kore would kore_free() our calloc'd state as hdlr_extra.
		 */
		if (req->method == HTTP_METHOD_HEAD || svc_stream_gone(req)) {
			svc_respond_raw(req, HTTP_STATUS_OK,
			    "application/x-ndjson", NULL, 0);
			return (KORE_RESULT_OK);
		}
		if ((st = calloc(1, sizeof(*st))) == NULL) {
			svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
			    "out of memory");
			return (KORE_RESULT_OK);
		}
		memcpy(&st->job, job, sizeof(*job));
		job->result = NULL;		/* the stream owns it now */
		st->out.framing = SVC_STREAM_CHUNKED;
		st->out.sent = stream_chunk_sent;
		st->out.gone = stream_gone;
		st->out.arg = st;
		(void)svc_stream_open(&st->out, req, "application/x-ndjson",
		    headers);
		stream_send(st);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	if (req->flags & HTTP_VERSION_1_0) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "http_version",
		    "the export is streamed with chunked encoding: use "
		    "HTTP/1.1");
		return (KORE_RESULT_OK);
	}
	job = audit_job_new(req, AUDIT_EXPORT);
	job->ascending = 1;
	job->limit = EXPORT_PAGE;
	if (audit_parse(req, job, export_params) == -1)
		return (KORE_RESULT_OK);

	return (svc_db_run(req, audit_job_fn, job));
}

/* Sends the current page as one chunk (or ends the stream). */
static void
stream_send(struct audit_stream *st)
{
	json_t			*row;
	size_t			 i;
	char			*line;

	if (json_array_size(st->job.result) == 0) {
		stream_end(st, 1);
		return;
	}
	json_array_foreach(st->job.result, i, row) {
		if ((line = json_dumps(row, JSON_COMPACT)) == NULL)
			continue;
		(void)svc_stream_write(&st->out, line, strlen(line));
		(void)svc_stream_write(&st->out, "\n", 1);
		free(line);
		st->records++;
		st->job.after_id = json_integer_value(json_object_get(row,
		    "id"));
	}
	json_decref(st->job.result);
	st->job.result = NULL;

	/* The flush may send the chunk, and stream_chunk_sent free st. */
	switch (svc_stream_flush(&st->out)) {
	case 1:
		/* No row could be encoded: on to the next page. */
		stream_chunk_sent(&st->out);
		break;
	case -1:
		stream_free(st);
		break;
	default:
		break;
	}
}

/* A chunk has left (or the connection is being torn down). */
static void
stream_chunk_sent(struct svc_stream *out)
{
	struct audit_stream	*st = out->arg;

	if (st->out.c == NULL) {
		stream_free(st);
		return;
	}
	if (!st->job.more) {
		stream_end(st, 1);
		return;
	}
	st->page = svc_db_start(audit_job_fn, &st->job, stream_page_done);
}

static void
stream_page_done(void *arg, int result, struct svc_db_err *dberr)
{
	struct audit_stream	*st;

	st = (struct audit_stream *)(void *)((char *)arg -
	    offsetof(struct audit_stream, job));
	st->page = NULL;
	if (st->out.c == NULL) {
		stream_free(st);
		return;
	}
	if (result == -1) {
		/* Too late for a status: cut the stream so it reads short. */
		svc_log(SVC_LOG_ERROR, "audit export stopped after %llu "
		    "records: %s %s", (unsigned long long)st->records,
		    st->job.err.msg, dberr->msg);
		stream_end(st, 0);
		return;
	}
	stream_send(st);
}

/* Ends the stream: the last chunk when complete, else a hard close. */
static void
stream_end(struct audit_stream *st, int complete)
{
	svc_stream_end(&st->out, complete);
	json_decref(st->job.result);
	free(st);
}

/* The client left: nobody reads the page, so stop it (done frees). */
static void
stream_gone(struct svc_stream *out)
{
	struct audit_stream	*st = out->arg;

	if (st->page != NULL)
		svc_db_cancel(st->page);
}

/* Frees the state of a stream whose client left. */
static void
stream_free(struct audit_stream *st)
{
	svc_stream_end(&st->out, 0);
	json_decref(st->job.result);
	free(st);
}
