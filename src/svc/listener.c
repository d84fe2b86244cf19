/*
 * listener.c: worker 1's LISTEN connection on channel "rollcall".
 *
 * Other processes (rollcallctl, other rollcall instances sharing the
 * database) NOTIFY rollcall with a small JSON payload naming what
 * changed.  Worker 1 applies it to this instance's shared tables, which
 * every worker reads.  Notifications sent while it was away are lost,
 * so after any (re)connect it reloads the tokens and reads every policy
 * version it has not seen before it calls itself current again.
 *
 * The connection is watched, not trusted: a heartbeat query on it
 * every HB_INTERVAL_MS must answer within HB_TIMEOUT_MS, which catches a
 * PostgreSQL restart in any mode, a terminated backend and a network
 * path that silently drops packets (TCP keepalives back this up for
 * the kernel).  The heartbeat also proves currency: it reads the
 * committed policy version V at time T; once this instance has applied
 * every version up to V, it was current at T (svc_policy_proved).
 * Decisions everywhere check the age of that proof (svc_policy_stale).
 *
 * Losing the connection is logged once; reconnects back off
 * exponentially up to RETRY_MAX_MS and are logged at debug level; the
 * recovery is logged once with how long it took.
 *
 * The connection is made on a task thread (blocking libpq is fine
 * there) and then watched from the event loop without blocking.
 */
#include <sys/types.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_glue.h"
#include "lifecycle.h"
#include "policy_glue.h"
#include "store.h"
#include "svc.h"
#include "util.h"

#define RETRY_MIN_MS		100
#define RETRY_MAX_MS		2000
#define WATCH_MS		250
#define HB_INTERVAL_MS		500
#define HB_TIMEOUT_MS		1200
#define DRAIN_MAX		64
#define TOKENS_FLUSH_MS		10000

struct change_listener {
	struct kore_event	 evt;		/* first: Kore calls evt.handle */
	PGconn			*conn;
	int			 connecting;
	int			 reload_pending;
	int			 reload_running;

	uint64_t		 gen;		/* bumped on every connect */
	int			 catchup;	/* parts of the catch-up left */
	int			 fetching;	/* a fetch of missed versions */
	uint64_t		 hb_sent_ms;	/* 0: no heartbeat in flight */
	uint64_t		 hb_last_ms;
	uint64_t		 want_version;	/* heartbeat saw this ... */
	uint64_t		 want_at_ms;	/* ... at this time */
	int			 behind_beats;
	uint64_t		 down_since_ms;	/* 0: not down */
	uint32_t		 attempts;
	uint32_t		 retry_ms;
};

/* Versions fetched from policy_changes, for the ring. */
struct fetch {
	uint64_t	 after;		/* versions > after ... */
	uint64_t	 only;		/* ... or exactly this one (0: all) */
	uint64_t	 gen;		/* catch-up of this connection; 0: none */
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
static void	watch(void *, u_int64_t);
static void	lost(const char *);
static void	heartbeat_send(void);
static void	heartbeat_result(PGresult *);
static void	check_proof(void);
static void	catchup_part_done(uint64_t);
static void	handle_payload(const char *);
static void	reload_tokens(void);
static int	reload_job(PGconn *, void *, struct svc_db_err *);
static void	reload_done(void *, int, struct svc_db_err *);
static void	flush_used(void *, u_int64_t);
static void	collect_used(const char *, uint64_t, void *);
static int	flush_job(PGconn *, void *, struct svc_db_err *);
static void	flush_done(void *, int, struct svc_db_err *);
static void	mark_seen(uint64_t);
static void	mark_rebuilt(uint64_t);
static void	audit_failures(void *, u_int64_t);
static int	audit_failures_job(PGconn *, void *, struct svc_db_err *);
static void	audit_failures_done(void *, int, struct svc_db_err *);
static void	fetch_changes(uint64_t, uint64_t, uint64_t);
static int	fetch_job(PGconn *, void *, struct svc_db_err *);
static void	fetch_done(void *, int, struct svc_db_err *);

/* What the listener follows in this worker's index (policy_glue.h). */
static struct svc_policy_observer	observer = {
	.seen = mark_seen,
	.rebuilt = mark_rebuilt,
};

static uint64_t
mono_ms(void)
{
	return (rc_mono_us() / 1000);
}

void
svc_listener_start(void)
{
	listener.evt.type = 0;
	listener.evt.flags = 0;
	listener.evt.handle = on_readable;
	listener.retry_ms = RETRY_MIN_MS;
	contig = svc_policy_base_version();
	seen_above = json_object();
	svc_policy_observe(&observer);
	connect_later(NULL, 0);
	(void)kore_timer_add(watch, WATCH_MS, NULL, 0);
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
	listener.attempts++;
	if (svc_db_background(connect_job, &listener, connect_done) == -1) {
		listener.connecting = 0;
		(void)kore_timer_add(connect_later, listener.retry_ms, NULL,
		    KORE_TIMER_ONESHOT);
	}
}

static void
retry_later(void)
{
	(void)kore_timer_add(connect_later, listener.retry_ms, NULL,
	    KORE_TIMER_ONESHOT);
	listener.retry_ms *= 2;
	if (listener.retry_ms > RETRY_MAX_MS)
		listener.retry_ms = RETRY_MAX_MS;
}

/*
 * Task thread: a dedicated connection, not the thread's pooled one,
 * with TCP keepalives and a user timeout short enough that the kernel
 * also gives up on a dead path within seconds.
 */
static int
connect_job(PGconn *pooled, void *arg, struct svc_db_err *err)
{
	static const char *const keys[] = { "dbname", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "application_name", NULL };
	const char		*vals[8];
	struct change_listener	*l = arg;
	PGconn		*conn;
	PGresult	*res;

	(void)pooled;
	vals[0] = svc.settings.database_url;
	vals[1] = "1";
	vals[2] = "2";
	vals[3] = "1";
	vals[4] = "2";
	vals[5] = "3000";
	vals[6] = "rollcall-listener";
	vals[7] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
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
	char			*nl;

	l->connecting = 0;
	if (result == -1 || l->conn == NULL) {
		if ((nl = strchr(err->msg, '\n')) != NULL)
			*nl = '\0';
		/* Said once when the connection was lost; quiet retries. */
		svc_log(l->down_since_ms != 0 ? SVC_LOG_DEBUG : SVC_LOG_WARN,
		    "listener: cannot connect (attempt %u): %s", l->attempts,
		    err->msg);
		if (l->down_since_ms == 0)
			l->down_since_ms = mono_ms();
		__atomic_store_n(&svc.shared->db_ok, 0, __ATOMIC_RELAXED);
		retry_later();
		return;
	}
	l->gen++;
	l->hb_sent_ms = 0;
	l->hb_last_ms = 0;
	l->want_version = 0;
	l->want_at_ms = 0;		/* only this connection's heartbeats */
	l->behind_beats = 0;
	kore_platform_schedule_read(PQsocket(l->conn), &l->evt);
	svc_log(l->gen == 1 ? SVC_LOG_INFO : SVC_LOG_DEBUG, "listener: "
	    "listening for changes; catching up from version %llu",
	    (unsigned long long)contig);
	/*
	 * Whatever was sent while we were not listening is lost: reload
	 * the tokens and read every version past contig.  Only when both
	 * are done may a heartbeat prove this instance current.
	 */
	l->catchup = 2;
	reload_tokens();
	entra_changed();	/* bindings and keys: reloaded, not awaited */
	fetch_changes(contig, 0, l->gen);
}

/* The connection is gone (or must be): drop it, say so once, retry. */
static void
lost(const char *why)
{
	char	msg[256], *nl;

	if (listener.conn == NULL)
		return;
	rc_strlcpy(msg, why, sizeof(msg));
	if ((nl = strchr(msg, '\n')) != NULL)
		*nl = '\0';
	/* Closing the socket takes it out of epoll (libpq may have closed
	 * it already: no epoll_ctl on it, which would be fatal in Kore). */
	PQfinish(listener.conn);
	listener.conn = NULL;
	listener.catchup = 0;
	listener.hb_sent_ms = 0;
	__atomic_store_n(&svc.shared->policy_current, 0, __ATOMIC_RELEASE);
	metrics_add(svc.metrics, METRIC_LISTENER_LOSSES, 1);
	if (listener.down_since_ms == 0) {
		listener.down_since_ms = mono_ms();
		listener.attempts = 0;
		svc_log(SVC_LOG_WARN, "listener: connection to PostgreSQL lost "
		    "(%s); decisions use the last known state for up to %d s, "
		    "then deny (policy_stale); reconnecting", msg,
		    svc.settings.policy_max_staleness_s);
	}
	listener.retry_ms = RETRY_MIN_MS;
	retry_later();
}

/*
 * Reads everything the socket holds.  The event is edge-triggered, so
 * this keeps reading until the socket has nothing more: one
 * PQconsumeInput per event could leave a server's goodbye (or the end
 * of the stream) unread with no further event to come.
 */
static void
drain(void)
{
	struct pollfd	 pfd;
	PGnotify	*n;
	PGresult	*res;
	int		 round;

	for (round = 0; round < DRAIN_MAX && listener.conn != NULL; round++) {
		if (PQconsumeInput(listener.conn) == 0 ||
		    PQstatus(listener.conn) != CONNECTION_OK) {
			lost(PQerrorMessage(listener.conn));
			return;
		}
		while ((n = PQnotifies(listener.conn)) != NULL) {
			metrics_add(svc.metrics, METRIC_NOTIFY_RECEIVED, 1);
			handle_payload(n->extra);
			PQfreemem(n);
		}
		while (listener.conn != NULL && listener.hb_sent_ms != 0 &&
		    !PQisBusy(listener.conn)) {
			if ((res = PQgetResult(listener.conn)) == NULL) {
				/* The heartbeat's results are all in. */
				listener.hb_sent_ms = 0;
				break;
			}
			heartbeat_result(res);
			PQclear(res);
		}
		if (listener.conn == NULL)
			return;
		pfd.fd = PQsocket(listener.conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			return;
	}
}

static void
on_readable(void *arg, int error)
{
	struct change_listener	*l = arg;

	if (l->conn == NULL)
		return;
	/* Read what is there first: it may say why the peer closed. */
	drain();
	if (error && l->conn != NULL)
		lost("connection closed by the server");
}

/* Every WATCH_MS: heartbeat due or overdue, and a read for safety. */
static void
watch(void *arg, u_int64_t unused)
{
	uint64_t	now;

	(void)arg;
	(void)unused;
	if (listener.conn == NULL)
		return;
	drain();
	if (listener.conn == NULL)
		return;
	now = mono_ms();
	if (listener.hb_sent_ms != 0) {
		if (now - listener.hb_sent_ms > HB_TIMEOUT_MS)
			lost("no answer to the heartbeat");
		return;
	}
	if (now - listener.hb_last_ms >= HB_INTERVAL_MS)
		heartbeat_send();
}

static void
heartbeat_send(void)
{
	if (listener.catchup > 0)
		return;
	listener.hb_last_ms = mono_ms();
	if (PQsendQuery(listener.conn,
	    "SELECT version FROM policy_state") == 0 ||
	    PQflush(listener.conn) == -1) {
		lost(PQerrorMessage(listener.conn));
		return;
	}
	listener.hb_sent_ms = listener.hb_last_ms;
}

static void
heartbeat_result(PGresult *res)
{
	long long	v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    rc_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &v) == -1) {
		svc_log(SVC_LOG_DEBUG, "listener: heartbeat failed: %s",
		    PQresultErrorMessage(res));
		return;
	}
	/* Version v was committed before the query was sent. */
	listener.want_version = (uint64_t)v;
	listener.want_at_ms = listener.hb_last_ms;
	if (contig >= listener.want_version) {
		listener.behind_beats = 0;
	} else if (++listener.behind_beats >= 2 && !listener.fetching) {
		/* A notification went missing: read the versions instead. */
		svc_log(SVC_LOG_DEBUG, "listener: at version %llu, database "
		    "at %llu; fetching", (unsigned long long)contig,
		    (unsigned long long)listener.want_version);
		fetch_changes(contig, 0, 0);
	}
	check_proof();
}

/* Proven current when connected, caught up, and holding want_version. */
static void
check_proof(void)
{
	uint64_t	took;

	if (listener.conn == NULL || listener.catchup > 0 ||
	    listener.want_at_ms == 0 || contig < listener.want_version)
		return;
	svc_policy_proved(listener.want_at_ms);
	__atomic_store_n(&svc.shared->policy_current, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&svc.shared->db_ok, 1, __ATOMIC_RELAXED);
	listener.retry_ms = RETRY_MIN_MS;
	if (listener.down_since_ms != 0) {
		took = mono_ms() - listener.down_since_ms;
		svc_log(SVC_LOG_INFO, "listener: reconnected and current at "
		    "version %llu, %llu ms after the loss (%u attempts)",
		    (unsigned long long)contig, (unsigned long long)took,
		    listener.attempts);
		listener.down_since_ms = 0;
		listener.attempts = 0;
	}
}

/* One part of a connection's catch-up (tokens, versions) finished. */
static void
catchup_part_done(uint64_t gen)
{
	if (gen != listener.gen || listener.catchup == 0)
		return;
	if (--listener.catchup == 0) {
		svc_log(SVC_LOG_DEBUG, "listener: caught up to version %llu",
		    (unsigned long long)contig);
		if (listener.conn != NULL)
			heartbeat_send();
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
	} else if (kind != NULL && strcmp(kind, "entra") == 0) {
		entra_changed();
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
			fetch_changes(0, (uint64_t)version, 0);
	}
#ifdef RC_TESTHOOKS
	else if (kind != NULL && strcmp(kind, "testhook") == 0)
		svc_changes_append(json_object_get(doc, "records"));
#endif
	json_decref(doc);
}

static uint64_t	reload_gen;	/* connection a running reload serves */

static void
reload_later(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	reload_tokens();
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
	reload_gen = listener.gen;
	if (svc_db_background(reload_job, NULL, reload_done) == -1) {
		listener.reload_running = 0;
		(void)kore_timer_add(reload_later, RETRY_MAX_MS, NULL,
		    KORE_TIMER_ONESHOT);
	}
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
		svc_log(SVC_LOG_DEBUG, "listener: token reload failed: %s",
		    err->msg);
		/* Not in a tight loop while the database is away. */
		(void)kore_timer_add(reload_later, RETRY_MIN_MS * 5, NULL,
		    KORE_TIMER_ONESHOT);
		return;
	}
	svc_log(SVC_LOG_DEBUG, "listener: %u tokens loaded",
	    tokentab_count(svc.tokens));
	catchup_part_done(reload_gen);
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
	check_proof();
}

/* The worker's index was rebuilt: it holds every version up to base. */
static void
mark_rebuilt(uint64_t base)
{
	const char	*key;
	json_t		*v;
	void		*tmp;
	long long	 n;
	char		 buf[24];

	if (base > contig)
		contig = base;
	json_object_foreach_safe(seen_above, tmp, key, v) {
		if (rc_parse_int(key, 0, INT64_MAX, &n) == 0 &&
		    (uint64_t)n <= contig)
			(void)json_object_del(seen_above, key);
	}
	for (;;) {
		(void)snprintf(buf, sizeof(buf), "%llu",
		    (unsigned long long)(contig + 1));
		if (json_object_get(seen_above, buf) == NULL)
			break;
		(void)json_object_del(seen_above, buf);
		contig++;
	}
	check_proof();
}

/*
 * Reads versions past after (or only one) from policy_changes; gen
 * names the connection whose catch-up this is (0: none).
 */
static void
fetch_changes(uint64_t after, uint64_t only, uint64_t gen)
{
	struct fetch	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->after = after;
	f->only = only;
	f->gen = gen;
	if (only == 0)
		listener.fetching++;
	if (svc_db_background(fetch_job, f, fetch_done) == -1) {
		if (only == 0)
			listener.fetching--;
		free(f);
	}
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
	json_int_t	 first;

	if (f->only == 0 && listener.fetching > 0)
		listener.fetching--;
	if (result == -1) {
		svc_log(SVC_LOG_DEBUG, "listener: cannot read changes: %s",
		    err->msg);
		/* A catch-up must finish: the connection is retried. */
		if (f->gen != 0 && f->gen == listener.gen)
			lost("cannot read the missed changes");
		free(f);
		return;
	}
	first = json_integer_value(json_object_get(json_array_get(f->records,
	    0), "version"));
	if (f->only == 0 && first > 0 && (uint64_t)first > f->after + 1) {
		/*
		 * The versions right after ours were pruned: they cannot be
		 * replayed, so every worker rebuilds from the database.
		 */
		svc_log(SVC_LOG_WARN, "listener: versions after %llu are no "
		    "longer kept; rebuilding the index",
		    (unsigned long long)f->after);
		svc_policy_invalidate_all();
	} else if (json_array_size(f->records) > 0) {
		svc_changes_append(f->records);
	}
	/* Apply now, so contig moves before the catch-up counts as done. */
	(void)svc_policy();
	catchup_part_done(f->gen);
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
