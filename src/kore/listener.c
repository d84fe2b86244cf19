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

#include "store.h"
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

/* Versions fetched from policy_changes, for the ring. */
struct fetch {
	uint64_t	 after;		/* versions > after ... */
	uint64_t	 only;		/* ... or exactly this one (0: all) */
	json_t		*records;
};

struct used_batch {
	size_t	n;
	size_t	cap;
	char	(*ids)[37];
	char	(*when)[32];
};

static struct change_listener	listener;

/*
 * Worker 1 tracks which policy versions it has seen (applied from the
 * ring): everything up to contig, plus the set above it.  Versions are
 * gapless, so after a reconnect it fetches everything past contig.
 */
static uint64_t			contig;
static json_t			*seen_above;

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
static void	mark_seen(uint64_t);
static void	audit_failures(void *, u_int64_t);
static int	audit_failures_job(PGconn *, void *, struct svc_db_err *);
static void	audit_failures_done(void *, int, struct svc_db_err *);
static void	fetch_changes(uint64_t, uint64_t);
static int	fetch_job(PGconn *, void *, struct svc_db_err *);
static void	fetch_done(void *, int, struct svc_db_err *);

void
svc_listener_start(void)
{
	listener.evt.type = 0;
	listener.evt.flags = 0;
	listener.evt.handle = on_readable;
	contig = svc_policy_base_version();
	seen_above = json_object();
	svc_policy_on_seen(mark_seen);
	connect_later(NULL, 0);
	(void)kore_timer_add(flush_used, TOKENS_FLUSH_MS, NULL, 0);
	(void)kore_timer_add(audit_failures,
	    (uint64_t)svc.settings.failure_audit_s * 1000, NULL, 0);
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
	fetch_changes(contig, 0);
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
	json_t		*doc, *records;
	const char	*kind, *origin;
	json_int_t	 version;

	if ((doc = json_loads(payload, 0, &jerr)) == NULL) {
		svc_log(SVC_LOG_WARN, "listener: ignoring malformed payload");
		return;
	}
	kind = json_string_value(json_object_get(doc, "kind"));
	if (kind != NULL && strcmp(kind, "tokens") == 0) {
		reload_tokens();
	} else if (kind != NULL && strcmp(kind, "changes") == 0) {
		origin = json_string_value(json_object_get(doc, "origin"));
		version = json_integer_value(json_object_get(doc, "version"));
		records = json_object_get(doc, "records");
		/* Our own changes are in the ring already. */
		if (origin != NULL && strcmp(origin, svc.instance) == 0)
			;
		else if (json_is_array(records))
			svc_changes_append(records);
		else if (version > 0)
			fetch_changes(0, (uint64_t)version);
	}
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

static void
mark_seen(uint64_t v)
{
	char	key[24];

	if (v <= contig)
		return;
	if (v > contig + 1) {
		(void)snprintf(key, sizeof(key), "%llu", (unsigned long long)v);
		(void)json_object_set_new(seen_above, key, json_true());
		return;
	}
	contig = v;
	for (;;) {
		(void)snprintf(key, sizeof(key), "%llu",
		    (unsigned long long)(contig + 1));
		if (json_object_get(seen_above, key) == NULL)
			break;
		(void)json_object_del(seen_above, key);
		contig++;
	}
}

/* Reads versions past after (or only one) from policy_changes. */
static void
fetch_changes(uint64_t after, uint64_t only)
{
	struct fetch	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->after = after;
	f->only = only;
	(void)svc_db_background(fetch_job, f, fetch_done);
}

static int
fetch_job(PGconn *conn, void *arg, struct svc_db_err *err)
{
	struct fetch	*f = arg;
	PGresult	*res;
	const char	*p[2];
	char		 a[24], o[24];
	json_t		*rec;
	int		 i, rc;

	(void)snprintf(a, sizeof(a), "%llu", (unsigned long long)f->after);
	(void)snprintf(o, sizeof(o), "%llu", (unsigned long long)f->only);
	p[0] = a;
	p[1] = o;
	rc = svc_db_exec(conn, "SELECT record::text FROM policy_changes WHERE "
	    "CASE WHEN $2::bigint > 0 THEN version = $2 ELSE version > $1 END "
	    "ORDER BY version, idx", 2, p, &res, err);
	if (rc == -1)
		return (-1);
	f->records = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((rec = json_loads(PQgetvalue(res, i, 0), 0, NULL)) != NULL)
			(void)json_array_append_new(f->records, rec);
	}
	PQclear(res);

	return (0);
}

static void
fetch_done(void *arg, int result, struct svc_db_err *err)
{
	struct fetch	*f = arg;

	if (result == -1)
		svc_log(SVC_LOG_WARN, "listener: cannot read changes: %s",
		    err->msg);
	else if (json_array_size(f->records) > 0)
		svc_changes_append(f->records);
	json_decref(f->records);
	free(f);
}

/*
 * Failed token uses go to the audit trail as one record a minute with
 * counts by reason, not one row per attempt: a flood of bad tokens must
 * not become a flood of database writes.
 */
static const struct {
	enum metric_counter	 c;
	const char		*name;
} failure_kinds[] = {
	{ METRIC_TOKEN_FAILURES_UNKNOWN, "unknown" },
	{ METRIC_TOKEN_FAILURES_EXPIRED, "expired" },
	{ METRIC_TOKEN_FAILURES_REVOKED, "revoked" },
	{ METRIC_TOKEN_FAILURES_MALFORMED, "malformed" },
	{ METRIC_TOKEN_FAILURES_SCOPE, "wrong_scope" },
};

#define NFAILURE_KINDS	(sizeof(failure_kinds) / sizeof(failure_kinds[0]))

static uint64_t		failures_reported[NFAILURE_KINDS];

static void
audit_failures(void *arg, u_int64_t now)
{
	json_t		*summary;
	uint64_t	 v, total;
	size_t		 i;

	(void)arg;
	(void)now;
	summary = json_object();
	total = 0;
	for (i = 0; i < NFAILURE_KINDS; i++) {
		v = metrics_get(svc.metrics, failure_kinds[i].c);
		if (v > failures_reported[i]) {
			(void)json_object_set_new(summary, failure_kinds[i].name,
			    json_integer((json_int_t)(v - failures_reported[i])));
			total += v - failures_reported[i];
		}
		failures_reported[i] = v;
	}
	if (total == 0) {
		json_decref(summary);
		return;
	}
	(void)json_object_set_new(summary, "window_s",
	    json_integer(svc.settings.failure_audit_s));
	(void)json_object_set_new(summary, "instance",
	    json_string(svc.instance));
	(void)svc_db_background(audit_failures_job, summary,
	    audit_failures_done);
}

static int
audit_failures_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct store_actor	 actor;
	struct store_err	 err;

	memset(&actor, 0, sizeof(actor));
	memset(&err, 0, sizeof(err));
	actor.kind = "system";
	actor.name = "authentication";
	if (store_audit(conn, &actor, 0, "token.use_failed", "token", NULL,
	    arg, &err) == -1) {
		rc_strlcpy(dberr->msg, err.msg, sizeof(dberr->msg));
		return (-1);
	}

	return (0);
}

static void
audit_failures_done(void *arg, int result, struct svc_db_err *err)
{
	if (result == -1)
		svc_log(SVC_LOG_WARN, "cannot audit token failures: %s",
		    err->msg);
	json_decref(arg);
}
