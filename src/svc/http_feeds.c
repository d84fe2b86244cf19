/*
 * http_feeds.c: what gateways that keep their own copy of the policy
 * read (scope gateway, scoped to the token's directory):
 *
 *   GET /v1/revocations?cursor=&limit=&wait=   durable revocation feed
 *   GET /v1/policy/changes?since=&limit=&wait=  ordered change records
 *   GET /v1/policy/snapshot?wait=               everything, with an ETag
 *   GET /v1/stream?cursor=&heartbeat=           Server-Sent Events
 *
 * Data comes from PostgreSQL (feed_store) on a task thread; waiting
 * never ties up the worker.  A long-poll or stream that has nothing to
 * send sleeps (http_request_sleep) on this worker's waiter list, and
 * is woken when the worker's policy index passes the version it has
 * read (policy_advanced(), our observer of the policy glue; a kore_msg
 * nudge makes every worker apply new ring entries at once), or by the
 * tick timer when its wait runs out.  A sleeping request costs nothing
 * per event-loop pass.
 *
 * Streams: a stream stays an in-flight request for its whole life and
 * writes its body through stream.h with the connection-delimited
 * framing (SVC_STREAM_CLOSE: why, there).  Kore keeps a connection with
 * a pending request out of its idle timeout, and when the client goes
 * away it wakes the request flagged for deletion and frees it without
 * calling us; the state's free hook then takes it off the waiter list.
 * A client that does not read is dropped once STREAM_QUEUE_MAX bytes
 * wait in its send queue.
 *
 * Database jobs run with svc_db_background, not svc_db_run: the job's
 * state is separate from the request's and survives it, so a client
 * that disconnects mid-read cannot leave a task thread writing into
 * freed memory.  Requests that want the same read while one runs share
 * it, so a commit that wakes hundreds of streams costs one read per
 * worker, not hundreds.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "feed_store.h"
#include "lifecycle.h"
#include "policy.h"
#include "policy_glue.h"
#include "sse.h"
#include "stream.h"
#include "svc.h"
#include "util.h"

#define FEEDS_TICK_MS		200
#define FEEDS_WAIT_MAX_S	60
#define FEEDS_LIMIT_DEFAULT	100
#define FEEDS_LIMIT_MAX		1000
#define FEEDS_WAITERS_MAX	1800	/* per worker, under http_request_limit */
#define STREAM_READ_LIMIT	500	/* revocation events per stream read */
#define STREAM_HEARTBEAT_S	15
#define STREAM_RETRY_MS		2000
#define STREAM_QUEUE_MAX	(4 * 1024 * 1024)
#define NUDGE_COALESCE_MS	2

/* Retention (worker 1): see feed_store_prune(). */
#define RETAIN_VERSIONS		100000
#define RETAIN_DAYS		7
#define PRUNE_FIRST_MS		2000
#define PRUNE_EVERY_MS		(10 * 60 * 1000)

int	page_gw_revocations(struct http_request *);
int	page_gw_policy_changes(struct http_request *);
int	page_gw_policy_snapshot(struct http_request *);
int	page_gw_stream(struct http_request *);

enum feed_kind {
	FEED_REVOCATIONS,
	FEED_CHANGES,
	FEED_SNAPSHOT,
	FEED_STREAM
};

/*
 * A database read.  Requests that want the same read while it runs
 * share it (after a commit, every stream and long-poll at the current
 * position wakes at once): refs counts the requests holding it, readers
 * the ones to wake.  It outlives requests that go away meanwhile.
 */
struct feed_job {
	TAILQ_ENTRY(feed_job)	 link;		/* in flight */
	int			 refs;
	struct feed_req		**readers;
	size_t			 nreaders;
	size_t			 capreaders;
	int			 finished;
	int			 result;
	enum feed_kind		 kind;
	int64_t			 dir;
	struct sse_cursor	 after;
	int			 have_after;
	int64_t			 since;
	int			 limit;
	struct feed_page	 page;
	char			*snapshot;
	int64_t			 version;
	struct store_err	 err;
	struct svc_db_err	 dberr;
	struct svc_db_job	*db;		/* while in flight */
	int			 cancelled;	/* every reader left */
};

struct feed_req {
	TAILQ_ENTRY(feed_req)	 list;
	struct http_request	*req;
	enum feed_kind		 kind;
	int			 waiting;	/* on the waiter list */
	int			 expired;
	int			 streaming;	/* headers sent */
	int64_t			 dir;
	struct sse_cursor	 cursor;
	int			 have_cursor;
	int64_t			 since;
	int64_t			 asked;		/* since, as the client sent */
	int			 limit;
	uint64_t		 deadline_ms;	/* long-poll end; 0: none */
	int64_t			 seen;		/* wake when index > seen */
	char			 inm[32];	/* If-None-Match version */
	int			 inm_any;
	struct svc_stream	 out;		/* FEED_STREAM's body */
	uint64_t		 heartbeat_ms;
	uint64_t		 sent;
	struct feed_job		*job;
};

static TAILQ_HEAD(, feed_req)	waiters;
static TAILQ_HEAD(, feed_job)	inflight;
static int			waiters_ready;
static size_t			nwaiters;
static int			nudge_pending;
static int			prune_running;
static int64_t			seen_version;	/* highest version applied */

static int	feeds_handle(struct http_request *, enum feed_kind);
static struct feed_req *feed_req_new(struct http_request *, enum feed_kind);
static void	feed_req_free(void *);
static int	parse_params(struct http_request *, struct feed_req *);
static int	job_start(struct feed_req *);
static int	job_run(PGconn *, void *, struct svc_db_err *);
static void	job_done(void *, int, struct svc_db_err *);
static void	job_free(struct feed_job *);
static void	job_destroy(struct feed_job *);
static int	job_attach(struct feed_job *, struct feed_req *);
static int	job_same(const struct feed_job *, const struct feed_job *);
static int	job_failed(struct http_request *, struct feed_job *);
static int	wait_start(struct feed_req *, int64_t);
static void	wait_stop(struct feed_req *);
static int	finish_revocations(struct feed_req *, struct feed_job *);
static int	finish_changes(struct feed_req *, struct feed_job *);
static int	finish_snapshot(struct feed_req *, struct feed_job *);
static int	finish_stream(struct feed_req *, struct feed_job *);
static int	stream_open(struct feed_req *);
static int	stream_write(struct feed_req *, const char *, size_t);
static int	stream_end(struct feed_req *);
static int64_t	index_version(void);
static int	inm_matches(const struct feed_req *, int64_t);
static void	tick(void *, u_int64_t);
static void	nudge_send(void *, u_int64_t);
static void	nudge_recv(struct kore_msg *, const void *);
static void	prune_tick(void *, u_int64_t);
static int	prune_job(PGconn *, void *, struct svc_db_err *);
static void	prune_done(void *, int, struct svc_db_err *);
static void	policy_advanced(uint64_t);
static void	open_count(uint32_t *, int);
static void	changes_appended(void);

/* What the feeds follow in this worker's index (policy_glue.h). */
static struct svc_policy_observer	observer = {
	.advanced = policy_advanced,
	.appended = changes_appended,
};

static void
waiters_init(void)
{
	if (!waiters_ready) {
		TAILQ_INIT(&waiters);
		TAILQ_INIT(&inflight);
		waiters_ready = 1;
	}
}

void
feeds_worker_init(void)
{
	waiters_init();
	svc_policy_observe(&observer);
	(void)kore_msg_register(SVC_MSG_FEEDS_NUDGE, nudge_recv);
	(void)kore_timer_add(tick, FEEDS_TICK_MS, NULL, 0);
	if (worker != NULL && worker->id == 1)
		(void)kore_timer_add(prune_tick, PRUNE_FIRST_MS, NULL,
		    KORE_TIMER_ONESHOT);
}

static void
policy_advanced(uint64_t v)
{
	struct feed_req	*fr, *next;

	if ((int64_t)v > seen_version)
		seen_version = (int64_t)v;
	if (!waiters_ready)
		return;
	for (fr = TAILQ_FIRST(&waiters); fr != NULL; fr = next) {
		next = TAILQ_NEXT(fr, list);
		if ((int64_t)v > fr->seen) {
			wait_stop(fr);
			http_request_wakeup(fr->req);
		}
	}
}

/*
 * Change records were appended to the shared ring: make every worker
 * apply them soon (a coalesced kore_msg broadcast), so that sleeping
 * feeds wake in milliseconds, not on the next 100 ms sync tick.
 */
static void
changes_appended(void)
{
	/* Bulk writes append many batches: one broadcast per few ms. */
	if (nudge_pending)
		return;
	nudge_pending = 1;
	(void)kore_timer_add(nudge_send, NUDGE_COALESCE_MS, NULL,
	    KORE_TIMER_ONESHOT);
}

static void
nudge_send(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	nudge_pending = 0;
	kore_msg_send(KORE_MSG_WORKER_ALL, SVC_MSG_FEEDS_NUDGE, NULL, 0);
}

static void
nudge_recv(struct kore_msg *msg, const void *data)
{
	(void)msg;
	(void)data;
	/* Applying the ring calls policy_advanced() if it moved. */
	(void)svc_policy();
}

/* Long-poll deadlines and stream heartbeats. */
static void
tick(void *arg, u_int64_t now_ms)
{
	struct feed_req	*fr, *next;
	struct sse_buf	 b;
	uint64_t	 now;

	(void)arg;
	(void)now_ms;
	if (!waiters_ready)
		return;
	now = rc_now_ms();
	for (fr = TAILQ_FIRST(&waiters); fr != NULL; fr = next) {
		next = TAILQ_NEXT(fr, list);
		if (fr->kind == FEED_STREAM) {
			if (now - fr->out.last_write_ms < fr->heartbeat_ms)
				continue;
			sse_buf_init(&b);
			if (sse_comment(&b, "heartbeat") == 0)
				(void)stream_write(fr, b.data, b.len);
			sse_buf_free(&b);
			continue;
		}
		if (fr->deadline_ms != 0 && now >= fr->deadline_ms) {
			fr->expired = 1;
			wait_stop(fr);
			http_request_wakeup(fr->req);
		}
	}
}

static int64_t
index_version(void)
{
	struct policy_index	*idx;

	if ((idx = svc_policy()) == NULL)
		return (-1);
	/* Records of a bare version move no index state but are seen. */
	if ((int64_t)policy_version(idx) > seen_version)
		seen_version = (int64_t)policy_version(idx);
	return (seen_version);
}

int
page_gw_revocations(struct http_request *req)
{
	return (feeds_handle(req, FEED_REVOCATIONS));
}

int
page_gw_policy_changes(struct http_request *req)
{
	return (feeds_handle(req, FEED_CHANGES));
}

int
page_gw_policy_snapshot(struct http_request *req)
{
	return (feeds_handle(req, FEED_SNAPSHOT));
}

int
page_gw_stream(struct http_request *req)
{
	return (feeds_handle(req, FEED_STREAM));
}

static struct feed_req *
feed_req_new(struct http_request *req, enum feed_kind kind)
{
	struct svc_ctx	*ctx;
	struct feed_req	*fr;

	ctx = svc_ctx(req);
	fr = kore_calloc(1, sizeof(*fr));
	fr->req = req;
	fr->kind = kind;
	fr->dir = ctx->token.directory_id;
	fr->limit = FEEDS_LIMIT_DEFAULT;
	fr->heartbeat_ms = STREAM_HEARTBEAT_S * 1000;
	ctx->state = fr;
	ctx->state_free = feed_req_free;
	return (fr);
}

/* Runs when Kore frees the request, whatever the reason. */
static void
feed_req_free(void *arg)
{
	struct feed_req	*fr = arg;
	size_t		 i;

	wait_stop(fr);
	if (fr->job != NULL) {
		if (!fr->job->finished) {
			/* job_done frees it if nobody else holds it. */
			for (i = 0; i < fr->job->nreaders; i++)
				if (fr->job->readers[i] == fr)
					fr->job->readers[i] = NULL;
			/* The last reader left: stop the read. */
			if (--fr->job->refs == 0 && fr->job->db != NULL) {
				fr->job->cancelled = 1;
				svc_db_cancel(fr->job->db);
			}
		} else {
			job_free(fr->job);
		}
		fr->job = NULL;
	}
	if (fr->streaming) {
		open_count(svc.shared->streams_open, -1);
		svc_log(SVC_LOG_INFO, "stream closed after %llu events",
		    (unsigned long long)fr->sent);
	}
	kore_free(fr);
}

static int
wait_start(struct feed_req *fr, int64_t seen)
{
	if (!fr->waiting) {
		TAILQ_INSERT_TAIL(&waiters, fr, list);
		fr->waiting = 1;
		nwaiters++;
		if (fr->kind != FEED_STREAM)
			open_count(svc.shared->polls_open, 1);
	}
	fr->seen = seen;
	http_request_sleep(fr->req);
	/* Changes that came in while we read wake us at once. */
	if (index_version() > seen) {
		wait_stop(fr);
		http_request_wakeup(fr->req);
	}
	return (KORE_RESULT_RETRY);
}

static void
wait_stop(struct feed_req *fr)
{
	if (fr->waiting) {
		TAILQ_REMOVE(&waiters, fr, list);
		fr->waiting = 0;
		nwaiters--;
		if (fr->kind != FEED_STREAM)
			open_count(svc.shared->polls_open, -1);
	}
}

/* This worker's count in a per-worker gauge (ops_metrics.c). */
static void
open_count(uint32_t *counts, int delta)
{
	if (worker != NULL)
		(void)__atomic_add_fetch(&counts[worker->id % SVC_MAX_PROCS],
		    (uint32_t)delta, __ATOMIC_RELAXED);
}

/* 0, or -1 after answering 400. */
static int
parse_int_param(struct http_request *req, const struct cursor_params *qp,
    const char *name, long long min, long long max, long long *out)
{
	const char	*v;

	if ((v = cursor_params_get(qp, name)) == NULL)
		return (0);
	if (rc_parse_int(v, min, max, out) == -1) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "'%s' must be an integer from %lld to %lld", name, min,
		    max);
		return (-1);
	}
	return (0);
}

/* Reads the query string and headers into fr; -1 after answering 400. */
static int
parse_params(struct http_request *req, struct feed_req *fr)
{
	static const char *const	revs[] = { "cursor", "limit", "wait",
					    NULL };
	static const char *const	chg[] = { "since", "limit", "wait",
					    NULL };
	static const char *const	snap[] = { "wait", NULL };
	static const char *const	strm[] = { "cursor", "heartbeat",
					    NULL };
	const char *const		*allowed;
	struct cursor_params		 qp;
	struct cursor_err		 cerr;
	const char			*v, *hdr;
	long long			 n;
	int				 rc;

	switch (fr->kind) {
	case FEED_REVOCATIONS:
		allowed = revs;
		break;
	case FEED_CHANGES:
		allowed = chg;
		break;
	case FEED_SNAPSHOT:
		allowed = snap;
		break;
	default:
		allowed = strm;
		break;
	}
	memset(&cerr, 0, sizeof(cerr));
	if (cursor_params_parse(req->query_string, allowed, &qp,
	    &cerr) == -1) {
		cursor_params_free(&qp);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "%s", cerr.msg);
		return (-1);
	}
	rc = -1;
	n = 0;
	if (parse_int_param(req, &qp, "wait", 0, FEEDS_WAIT_MAX_S, &n) == -1)
		goto out;
	if (n > 0)
		fr->deadline_ms = rc_now_ms() + (uint64_t)n * 1000;
	n = FEEDS_LIMIT_DEFAULT;
	if (parse_int_param(req, &qp, "limit", 1, FEEDS_LIMIT_MAX, &n) == -1)
		goto out;
	fr->limit = (int)n;
	n = STREAM_HEARTBEAT_S;
	if (parse_int_param(req, &qp, "heartbeat", 1, 60, &n) == -1)
		goto out;
	fr->heartbeat_ms = (uint64_t)n * 1000;

	v = cursor_params_get(&qp, "cursor");
	/* A reconnecting EventSource names its position in a header. */
	if (fr->kind == FEED_STREAM &&
	    http_request_header(req, "last-event-id", &hdr) && *hdr != '\0')
		v = hdr;
	if (v != NULL) {
		if (sse_cursor_decode(v, &fr->cursor) == -1) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_cursor", "the cursor is not one this "
			    "server issued");
			goto out;
		}
		fr->have_cursor = 1;
	}
	if (fr->kind == FEED_CHANGES) {
		if ((v = cursor_params_get(&qp, "since")) == NULL ||
		    rc_parse_int(v, 0, INT64_MAX, &n) == -1) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_since", "'since' (a policy version, a "
			    "non-negative integer) is required");
			goto out;
		}
		fr->since = fr->asked = (int64_t)n;
	}
	if (fr->kind == FEED_SNAPSHOT &&
	    http_request_header(req, "if-none-match", &hdr)) {
		const char	*s, *e;
		size_t		 len;

		/* The first entity-tag of the list decides; W/ is fine. */
		s = hdr;
		while (*s == ' ')
			s++;
		if (*s == '*') {
			fr->inm_any = 1;
		} else {
			if (strncmp(s, "W/", 2) == 0)
				s += 2;
			if (*s == '"')
				s++;
			e = s + strcspn(s, "\", ");
			len = (size_t)(e - s);
			if (len > 0 && len < sizeof(fr->inm)) {
				memcpy(fr->inm, s, len);
				fr->inm[len] = '\0';
			}
		}
	}
	rc = 0;
out:
	cursor_params_free(&qp);
	return (rc);
}

static int
inm_matches(const struct feed_req *fr, int64_t version)
{
	char	v[24];

	if (fr->inm_any)
		return (1);
	(void)snprintf(v, sizeof(v), "%lld", (long long)version);
	return (fr->inm[0] != '\0' && strcmp(fr->inm, v) == 0);
}

static int
feeds_handle(struct http_request *req, enum feed_kind kind)
{
	struct svc_ctx	*ctx;
	struct feed_req	*fr;
	struct feed_job	*job;
	int64_t		 v;

	ctx = svc_ctx(req);
	if ((fr = ctx->state) == NULL) {
		if (!svc_method_allowed(req, HTTP_METHOD_GET))
			return (KORE_RESULT_OK);
		if (kind == FEED_STREAM && req->method == HTTP_METHOD_HEAD) {
			svc_respond_raw(req, HTTP_STATUS_OK,
			    "text/event-stream", NULL, 0);
			return (KORE_RESULT_OK);
		}
		waiters_init();
		fr = feed_req_new(req, kind);
		if (parse_params(req, fr) == -1)
			return (KORE_RESULT_OK);
		if ((fr->deadline_ms != 0 || kind == FEED_STREAM) &&
		    nwaiters >= FEEDS_WAITERS_MAX) {
			http_response_header(req, "retry-after", "5");
			svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "busy", "too many waiting requests on this "
			    "worker; retry");
			return (KORE_RESULT_OK);
		}
		switch (kind) {
		case FEED_SNAPSHOT:
			/* Nothing newer than the client's copy: no read. */
			v = index_version();
			if (v >= 0 && inm_matches(fr, v)) {
				if (fr->deadline_ms != 0)
					return (wait_start(fr, v));
				return (finish_snapshot(fr, NULL));
			}
			break;
		case FEED_STREAM:
			if (!fr->have_cursor) {
				if ((v = index_version()) < 0) {
					http_response_header(req,
					    "retry-after", "1");
					svc_error(req,
					    HTTP_STATUS_SERVICE_UNAVAILABLE,
					    "unavailable", "the policy index "
					    "is being rebuilt; retry");
					return (KORE_RESULT_OK);
				}
				fr->cursor.version = v;
				fr->cursor.idx = SSE_IDX_END;
				fr->have_cursor = 1;
				if (stream_open(fr) == -1)
					return (KORE_RESULT_ERROR);
				return (wait_start(fr, v));
			}
			break;
		default:
			break;
		}
		return (job_start(fr));
	}

	if ((job = fr->job) != NULL) {
		if (!job->finished) {
			/* Not ours to run yet: never spin. */
			http_request_sleep(req);
			return (KORE_RESULT_RETRY);
		}
		fr->job = NULL;
		switch (fr->kind) {
		case FEED_REVOCATIONS:
			return (finish_revocations(fr, job));
		case FEED_CHANGES:
			return (finish_changes(fr, job));
		case FEED_SNAPSHOT:
			return (finish_snapshot(fr, job));
		case FEED_STREAM:
			return (finish_stream(fr, job));
		}
	}

	/* Woken from the waiter list: by a change or by the deadline. */
	if (fr->expired) {
		switch (fr->kind) {
		case FEED_SNAPSHOT:
			return (finish_snapshot(fr, NULL));
		case FEED_REVOCATIONS:
			return (finish_revocations(fr, NULL));
		case FEED_CHANGES:
			return (finish_changes(fr, NULL));
		case FEED_STREAM:
			break;
		}
	}
	return (job_start(fr));
}

static int
job_same(const struct feed_job *a, const struct feed_job *b)
{
	return (a->kind == b->kind && a->dir == b->dir &&
	    a->have_after == b->have_after &&
	    (!a->have_after || sse_cursor_cmp(&a->after, &b->after) == 0) &&
	    a->since == b->since && a->limit == b->limit);
}

/* fr holds job and is woken when it ends; 0 or -1 (no memory). */
static int
job_attach(struct feed_job *job, struct feed_req *fr)
{
	struct feed_req	**p;
	size_t		  cap;

	if (job->nreaders == job->capreaders) {
		cap = job->capreaders ? job->capreaders * 2 : 4;
		if ((p = realloc(job->readers, cap * sizeof(*p))) == NULL)
			return (-1);
		job->readers = p;
		job->capreaders = cap;
	}
	job->readers[job->nreaders++] = fr;
	job->refs++;
	fr->job = job;
	return (0);
}

static int
job_start(struct feed_req *fr)
{
	struct feed_job	 want, *job;

	memset(&want, 0, sizeof(want));
	want.kind = fr->kind;
	want.dir = fr->dir;
	want.after = fr->cursor;
	want.have_after = fr->have_cursor;
	want.since = fr->since;
	want.limit = fr->kind == FEED_STREAM ? STREAM_READ_LIMIT : fr->limit;
	TAILQ_FOREACH(job, &inflight, link) {
		if (!job->cancelled && job_same(job, &want) &&
		    job_attach(job, fr) == 0) {
			http_request_sleep(fr->req);
			return (KORE_RESULT_RETRY);
		}
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		svc_error(fr->req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return (KORE_RESULT_OK);
	}
	job->kind = want.kind;
	job->dir = want.dir;
	job->after = want.after;
	job->have_after = want.have_after;
	job->since = want.since;
	job->limit = want.limit;
	if (job_attach(job, fr) == -1) {
		free(job);
		svc_error(fr->req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return (KORE_RESULT_OK);
	}
	TAILQ_INSERT_TAIL(&inflight, job, link);
	http_request_sleep(fr->req);
	job->db = svc_db_start(job_run, job, job_done);
	return (KORE_RESULT_RETRY);
}

/* Task thread. */
static int
job_run(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct feed_job	*job = arg;
	int		 rc;

	(void)dberr;
	switch (job->kind) {
	case FEED_REVOCATIONS:
		rc = feed_store_revocations(conn, job->dir,
		    job->have_after ? &job->after : NULL, job->limit,
		    &job->page, &job->err);
		break;
	case FEED_CHANGES:
		rc = feed_store_changes(conn, job->dir, job->since, job->limit,
		    &job->page, &job->err);
		break;
	case FEED_SNAPSHOT:
		rc = feed_store_snapshot(conn, job->dir,
		    svc.settings.group_nesting_depth, &job->snapshot,
		    &job->version, &job->err);
		break;
	default:
		rc = feed_store_stream(conn, job->dir, &job->after,
		    job->limit, &job->page, &job->err);
		break;
	}
	return (rc);
}

static void
job_done(void *arg, int result, struct svc_db_err *dberr)
{
	struct feed_job	*job = arg;
	size_t		 i;

	job->db = NULL;
	job->finished = 1;
	job->result = result;
	if (dberr != NULL)
		job->dberr = *dberr;
	TAILQ_REMOVE(&inflight, job, link);
	for (i = 0; i < job->nreaders; i++)
		if (job->readers[i] != NULL)
			http_request_wakeup(job->readers[i]->req);
	job->nreaders = 0;
	if (job->refs == 0)
		job_destroy(job);
}

/* A request is done with the job. */
static void
job_free(struct feed_job *job)
{
	if (--job->refs == 0 && job->finished)
		job_destroy(job);
}

static void
job_destroy(struct feed_job *job)
{
	feed_page_cleanup(&job->page);
	free(job->snapshot);
	free(job->readers);
	free(job);
}

/* Answers a failed read; always KORE_RESULT_OK. */
static int
job_failed(struct http_request *req, struct feed_job *job)
{
	if (job->err.status == 0 || job->err.status >= 500) {
		svc_log(SVC_LOG_WARN, "feeds: database: %s",
		    job->err.msg[0] ? job->err.msg : job->dberr.msg);
		http_response_header(req, "retry-after", "1");
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "database unavailable, retry");
	} else {
		svc_error(req, job->err.status, job->err.code, "%s",
		    job->err.msg);
	}
	job_free(job);
	return (KORE_RESULT_OK);
}

static void
set_cursor(json_t *obj, const char *key, const struct sse_cursor *c)
{
	char	text[SSE_CURSOR_MAX];

	if (sse_cursor_encode(c, text, sizeof(text)) == 0)
		(void)json_object_set_new(obj, key, json_string(text));
}

static int
finish_revocations(struct feed_req *fr, struct feed_job *job)
{
	json_t	*out;

	if (job != NULL && job->result == -1)
		return (job_failed(fr->req, job));
	if (job != NULL) {
		fr->cursor = job->page.next;
		fr->have_cursor = 1;
		if (json_array_size(job->page.items) == 0 &&
		    fr->deadline_ms != 0 && rc_now_ms() < fr->deadline_ms) {
			fr->seen = job->page.db_version;
			job_free(job);
			return (wait_start(fr, fr->seen));
		}
		out = json_pack("{s:O, s:I, s:b}", "events", job->page.items,
		    "policy_version", (json_int_t)job->page.db_version,
		    "more", job->page.more);
	} else {
		/* The wait ran out: nothing new, same position. */
		out = json_pack("{s:[], s:I, s:b}", "events",
		    "policy_version", (json_int_t)fr->seen, "more", 0);
	}
	if (out != NULL)
		set_cursor(out, "next_cursor", &fr->cursor);
	svc_respond_json(fr->req, HTTP_STATUS_OK, out);
	json_decref(out);
	if (job != NULL)
		job_free(job);
	return (KORE_RESULT_OK);
}

static int
finish_changes(struct feed_req *fr, struct feed_job *job)
{
	json_t	*out;
	int64_t	 asked;

	asked = fr->asked;
	if (job != NULL && job->result == -1)
		return (job_failed(fr->req, job));
	if (job != NULL) {
		fr->since = job->page.next.version;
		if (json_array_size(job->page.items) == 0 &&
		    fr->deadline_ms != 0 && rc_now_ms() < fr->deadline_ms) {
			fr->seen = job->page.db_version;
			job_free(job);
			return (wait_start(fr, fr->seen));
		}
		out = json_pack("{s:O, s:I, s:I, s:I, s:b}", "changes",
		    job->page.items, "since", (json_int_t)asked,
		    "next_since", (json_int_t)fr->since, "policy_version",
		    (json_int_t)job->page.db_version, "more",
		    job->page.more);
	} else {
		out = json_pack("{s:[], s:I, s:I, s:I, s:b}", "changes",
		    "since", (json_int_t)asked, "next_since",
		    (json_int_t)fr->since, "policy_version",
		    (json_int_t)fr->seen, "more", 0);
	}
	svc_respond_json(fr->req, HTTP_STATUS_OK, out);
	json_decref(out);
	if (job != NULL)
		job_free(job);
	return (KORE_RESULT_OK);
}

struct unavailable_acc {
	const char	*directory;
	json_t		*ids;
};

static int
unavailable_cb(void *arg, const char *id, const char *dir, const char *why)
{
	struct unavailable_acc	*acc = arg;

	(void)why;
	/* A quarantine of no known directory may be any directory's. */
	if (dir != NULL && strcmp(dir, acc->directory) != 0)
		return (0);
	return (json_array_append_new(acc->ids, json_string(id)) == -1 ?
	    -1 : 0);
}

/*
 * The principals this worker's index denies as principal_unavailable in
 * directory dir, as a JSON array (caller frees), or NULL when that
 * cannot be known.  The database snapshot still carries their stored
 * state, which may read "active": without this list a gateway deciding
 * from the snapshot would allow what rollcall denies.
 */
static char *
snapshot_unavailable(int64_t dir)
{
	struct unavailable_acc	 acc;
	struct policy_index	*idx;
	char			 dirbuf[24], *text;

	if ((idx = svc_policy()) == NULL)
		return (NULL);
	(void)snprintf(dirbuf, sizeof(dirbuf), "%lld", (long long)dir);
	acc.directory = dirbuf;
	if ((acc.ids = json_array()) == NULL)
		return (NULL);
	text = NULL;
	if (policy_quarantine_each(idx, unavailable_cb, &acc) == 0)
		text = json_dumps(acc.ids, JSON_COMPACT);
	json_decref(acc.ids);
	return (text);
}

/* job NULL: answer 304 for the client's version (or the index's). */
static int
finish_snapshot(struct feed_req *fr, struct feed_job *job)
{
	struct sse_cursor	 c;
	const char		*comma;
	char			 etag[32], cur[SSE_CURSOR_MAX], *body, *unavail;
	int64_t			 v;
	size_t			 len;
	int			 n;

	if (job != NULL && job->result == -1)
		return (job_failed(fr->req, job));
	v = job != NULL ? job->version : index_version();
	if (job != NULL && inm_matches(fr, v)) {
		if (fr->deadline_ms != 0 && rc_now_ms() < fr->deadline_ms) {
			job_free(job);
			return (wait_start(fr, v));
		}
	}
	(void)snprintf(etag, sizeof(etag), "\"%lld\"", (long long)v);
	http_response_header(fr->req, "etag", etag);
	if (job == NULL || inm_matches(fr, v)) {
		svc_respond_raw(fr->req, HTTP_STATUS_NOT_MODIFIED, NULL, NULL,
		    0);
		if (job != NULL)
			job_free(job);
		return (KORE_RESULT_OK);
	}
	/* Lead with where the revocation feed continues from. */
	c.version = v;
	c.idx = SSE_IDX_END;
	body = NULL;
	if ((unavail = snapshot_unavailable(fr->dir)) == NULL) {
		/* Fail closed: no snapshot that could read as an allow. */
		svc_error(fr->req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "unavailable", "the policy index is being rebuilt; retry");
		job_free(job);
		return (KORE_RESULT_OK);
	}
	if (sse_cursor_encode(&c, cur, sizeof(cur)) == 0 &&
	    job->snapshot[0] == '{') {
		comma = job->snapshot[1] == '}' ? "" : ",";
		n = asprintf(&body, "{\"revocations_cursor\":\"%s\","
		    "\"unavailable\":%s%s%s", cur, unavail, comma,
		    job->snapshot + 1);
		if (n == -1)
			body = NULL;
	}
	free(unavail);
	if (body == NULL) {
		svc_error(fr->req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "cannot build the snapshot");
		job_free(job);
		return (KORE_RESULT_OK);
	}
	len = strlen(body);
	svc_respond_raw(fr->req, HTTP_STATUS_OK, "application/json", body,
	    len);
	free(body);
	job_free(job);
	return (KORE_RESULT_OK);
}

/* Sends data now; -1 when the client is gone or has been dropped. */
static int
stream_write(struct feed_req *fr, const char *data, size_t len)
{
	if (svc_stream_write(&fr->out, data, len) == -1)
		return (-1);
	return (svc_stream_flush(&fr->out));
}

/* The head (stream.h writes it) and the stream's first lines. */
static int
stream_open(struct feed_req *fr)
{
	static const char *const	headers[] = { "x-accel-buffering",
	    "no", NULL };
	struct sse_buf			b;
	char				pos[SSE_CURSOR_MAX], line[96];
	int				rc;

	if (sse_cursor_encode(&fr->cursor, pos, sizeof(pos)) == -1)
		return (-1);
	sse_buf_init(&b);
	(void)snprintf(line, sizeof(line), "rollcall stream from %s", pos);
	if (sse_retry(&b, STREAM_RETRY_MS) == -1 ||
	    sse_comment(&b, line) == -1) {
		sse_buf_free(&b);
		return (-1);
	}
	fr->out.framing = SVC_STREAM_CLOSE;
	fr->out.queue_max = STREAM_QUEUE_MAX;
	rc = svc_stream_open(&fr->out, fr->req,
	    "text/event-stream; charset=utf-8", headers);
	if (rc == 0)
		rc = stream_write(fr, b.data, b.len);
	sse_buf_free(&b);
	if (rc == 0) {
		fr->streaming = 1;
		open_count(svc.shared->streams_open, 1);
		svc_log(SVC_LOG_INFO, "stream opened at %s (directory %lld)",
		    pos, (long long)fr->dir);
	}
	return (rc);
}

/* Ends the stream cleanly: close once what is queued has been sent. */
static int
stream_end(struct feed_req *fr)
{
	svc_stream_end(&fr->out, 1);
	return (KORE_RESULT_OK);
}

static int
finish_stream(struct feed_req *fr, struct feed_job *job)
{
	struct sse_buf	 b;
	json_t		*item;
	char		*data;
	size_t		 i;
	int		 rc;

	if (job->result == -1) {
		if (!fr->streaming)
			return (job_failed(fr->req, job));
		/* The client resumes from its last id after retry ms. */
		svc_log(SVC_LOG_WARN, "stream: ending after a failed read: %s",
		    job->err.msg[0] ? job->err.msg : job->dberr.msg);
		job_free(job);
		return (stream_end(fr));
	}
	if (!fr->streaming && stream_open(fr) == -1) {
		job_free(job);
		return (KORE_RESULT_ERROR);
	}
	sse_buf_init(&b);
	rc = 0;
	json_array_foreach(job->page.items, i, item) {
		data = json_dumps(json_object_get(item, "data"),
		    JSON_COMPACT);
		if (data == NULL || sse_event(&b, json_string_value(
		    json_object_get(item, "cursor")), json_string_value(
		    json_object_get(item, "type")), data) == -1)
			rc = -1;
		free(data);
		if (rc == -1)
			break;
		fr->sent++;
	}
	if (rc == 0 && b.len > 0)
		rc = stream_write(fr, b.data, b.len);
	sse_buf_free(&b);
	if (rc == -1) {
		job_free(job);
		return (KORE_RESULT_ERROR);
	}
	fr->cursor = job->page.next;
	if (job->page.more) {
		job_free(job);
		return (job_start(fr));
	}
	fr->seen = job->page.next.version;
	job_free(job);
	return (wait_start(fr, fr->seen));
}

struct prune {
	long long		changes;
	long long		events;
	struct store_err	err;
};

static void
prune_tick(void *arg, u_int64_t now)
{
	struct prune	*pr;

	(void)arg;
	(void)now;
	if (!prune_running && (pr = calloc(1, sizeof(*pr))) != NULL) {
		prune_running = 1;
		(void)svc_db_background(prune_job, pr, prune_done);
	}
	(void)kore_timer_add(prune_tick, PRUNE_EVERY_MS, NULL,
	    KORE_TIMER_ONESHOT);
}

static int
prune_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct prune	*pr = arg;

	(void)dberr;
	return (feed_store_prune(conn, RETAIN_VERSIONS, RETAIN_DAYS,
	    &pr->changes, &pr->events, &pr->err));
}

static void
prune_done(void *arg, int result, struct svc_db_err *err)
{
	struct prune	*pr = arg;

	prune_running = 0;
	if (result == -1)
		svc_log(SVC_LOG_WARN, "feeds: retention prune failed: %s",
		    pr->err.msg[0] ? pr->err.msg : err->msg);
	else if (pr->changes > 0 || pr->events > 0)
		svc_log(SVC_LOG_INFO, "feeds: retention pruned %lld change "
		    "records and %lld revocation events", pr->changes,
		    pr->events);
	free(pr);
}
