/*
 * listener.c: worker 1's LISTEN connection on channel "rollcall".
 *
 * Other processes (rollcallctl, other rollcall instances sharing the
 * database) NOTIFY rollcall with a small JSON payload naming what
 * changed.  Worker 1 applies it to this instance's shared tables, which
 * every worker reads.  After any (re)connect it reloads everything it
 * mirrors, because notifications sent while it was away are lost.
 *
 * The connection is made on a task thread (blocking libpq is fine
 * there) and then watched from the event loop without blocking.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"
#include "util.h"

#define LISTENER_RETRY_MS	1000
#define TOKENS_FLUSH_MS		10000

struct change_listener {
	struct kore_event	 evt;		/* first: Kore calls evt.handle */
	PGconn			*conn;
	int			 connecting;
	int			 reload_pending;
	int			 reload_running;
};

struct used_batch {
	size_t	n;
	size_t	cap;
	char	(*ids)[37];
	char	(*when)[32];
};

static struct change_listener	listener;

static int	connect_job(PGconn *, void *, struct svc_db_err *);
static void	connect_done(void *, int, struct svc_db_err *);
static void	connect_later(void *, u_int64_t);
static void	on_readable(void *, int);
static void	handle_payload(const char *);
static void	reload_tokens(void);
static int	reload_job(PGconn *, void *, struct svc_db_err *);
static void	reload_done(void *, int, struct svc_db_err *);
static void	flush_used(void *, u_int64_t);
static void	collect_used(const char *, uint64_t, void *);
static int	flush_job(PGconn *, void *, struct svc_db_err *);
static void	flush_done(void *, int, struct svc_db_err *);

void
svc_listener_start(void)
{
	listener.evt.type = 0;
	listener.evt.flags = 0;
	listener.evt.handle = on_readable;
	connect_later(NULL, 0);
	(void)kore_timer_add(flush_used, TOKENS_FLUSH_MS, NULL, 0);
}

static void
connect_later(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;

	if (listener.connecting || listener.conn != NULL)
		return;
	listener.connecting = 1;
	(void)svc_db_background(connect_job, &listener, connect_done);
}

/* Task thread: a dedicated connection, not the thread's pooled one. */
static int
connect_job(PGconn *pooled, void *arg, struct svc_db_err *err)
{
	struct change_listener	*l = arg;
	PGconn		*conn;
	PGresult	*res;

	(void)pooled;
	conn = PQconnectdb(svc.settings.database_url);
	if (PQstatus(conn) != CONNECTION_OK) {
		(void)snprintf(err->msg, sizeof(err->msg), "%s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return (-1);
	}
	res = PQexec(conn, "LISTEN rollcall");
	if (PQresultStatus(res) != PGRES_COMMAND_OK ||
	    PQsetnonblocking(conn, 1) != 0) {
		(void)snprintf(err->msg, sizeof(err->msg), "LISTEN: %s",
		    PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return (-1);
	}
	PQclear(res);
	l->conn = conn;

	return (0);
}

static void
connect_done(void *arg, int result, struct svc_db_err *err)
{
	struct change_listener	*l = arg;

	l->connecting = 0;
	if (result == -1 || l->conn == NULL) {
		svc_log(SVC_LOG_WARN, "listener: cannot connect: %s", err->msg);
		__atomic_store_n(&svc.shared->db_ok, 0, __ATOMIC_RELAXED);
		(void)kore_timer_add(connect_later, LISTENER_RETRY_MS, NULL,
		    KORE_TIMER_ONESHOT);
		return;
	}
	kore_platform_schedule_read(PQsocket(l->conn), &l->evt);
	svc_log(SVC_LOG_INFO, "listener: listening for changes");
	/* Whatever was sent while we were not listening is lost: reload. */
	reload_tokens();
}

static void
on_readable(void *arg, int error)
{
	struct change_listener	*l = arg;
	PGnotify	*n;

	if (l->conn == NULL)
		return;
	if (error || PQconsumeInput(l->conn) == 0 ||
	    PQstatus(l->conn) != CONNECTION_OK) {
		svc_log(SVC_LOG_WARN, "listener: connection lost: %s",
		    PQerrorMessage(l->conn));
		PQfinish(l->conn);
		l->conn = NULL;
		(void)kore_timer_add(connect_later, LISTENER_RETRY_MS, NULL,
		    KORE_TIMER_ONESHOT);
		return;
	}
	while ((n = PQnotifies(l->conn)) != NULL) {
		metrics_add(svc.metrics, METRIC_NOTIFY_RECEIVED, 1);
		handle_payload(n->extra);
		PQfreemem(n);
	}
}

static void
handle_payload(const char *payload)
{
	json_error_t	 jerr;
	json_t		*doc;
	const char	*kind;

	if ((doc = json_loads(payload, 0, &jerr)) == NULL) {
		svc_log(SVC_LOG_WARN, "listener: ignoring malformed payload");
		return;
	}
	kind = json_string_value(json_object_get(doc, "kind"));
	if (kind != NULL && strcmp(kind, "tokens") == 0)
		reload_tokens();
	json_decref(doc);
}

static void
reload_tokens(void)
{
	if (listener.reload_running) {
		listener.reload_pending = 1;
		return;
	}
	listener.reload_running = 1;
	listener.reload_pending = 0;
	(void)svc_db_background(reload_job, NULL, reload_done);
}

static int
reload_job(PGconn *conn, void *arg, struct svc_db_err *err)
{
	(void)arg;
	return (svc_tokens_load(conn, err));
}

static void
reload_done(void *arg, int result, struct svc_db_err *err)
{
	(void)arg;

	listener.reload_running = 0;
	if (result == -1) {
		svc_log(SVC_LOG_WARN, "listener: token reload failed: %s",
		    err->msg);
		listener.reload_pending = 1;
	} else {
		svc_log(SVC_LOG_DEBUG, "listener: %u tokens loaded",
		    tokentab_count(svc.tokens));
	}
	if (listener.reload_pending)
		reload_tokens();
}

static void
collect_used(const char *id, uint64_t ms, void *arg)
{
	struct used_batch	*b = arg;
	void			*p, *q;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		p = realloc(b->ids, b->cap * sizeof(*b->ids));
		if (p != NULL)
			b->ids = p;
		q = realloc(b->when, b->cap * sizeof(*b->when));
		if (q != NULL)
			b->when = q;
		if (p == NULL || q == NULL) {
			b->cap = b->n;
			return;
		}
	}
	rc_strlcpy(b->ids[b->n], id, sizeof(b->ids[b->n]));
	rc_time_format(ms, b->when[b->n], sizeof(b->when[b->n]));
	b->n++;
}

/* Persists last-use times in one batch instead of on every request. */
static void
flush_used(void *arg, u_int64_t now)
{
	struct used_batch	*b;

	(void)arg;
	(void)now;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return;
	tokentab_collect_used(svc.tokens, collect_used, b);
	if (b->n == 0) {
		free(b);
		return;
	}
	(void)svc_db_background(flush_job, b, flush_done);
}

static int
flush_job(PGconn *conn, void *arg, struct svc_db_err *err)
{
	struct used_batch	*b = arg;
	const char		*params[2];
	size_t			 i;

	for (i = 0; i < b->n; i++) {
		params[0] = b->ids[i];
		params[1] = b->when[i];
		if (svc_db_exec(conn, "UPDATE tokens SET last_used_at = $2 "
		    "WHERE id = $1 AND (last_used_at IS NULL OR "
		    "last_used_at < $2)", 2, params, NULL, err) == -1)
			return (-1);
	}

	return (0);
}

static void
flush_done(void *arg, int result, struct svc_db_err *err)
{
	struct used_batch	*b = arg;

	if (result == -1)
		svc_log(SVC_LOG_WARN, "cannot record token use: %s", err->msg);
	free(b->ids);
	free(b->when);
	free(b);
}
