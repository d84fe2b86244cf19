/*
 * db.c: PostgreSQL access for the glue.
 *
 * Request-path database work runs as Kore tasks: a task thread owns one
 * libpq connection for its lifetime, so a job can use a real
 * transaction (BEGIN ... COMMIT over several statements), which Kore's
 * async pgsql layer cannot (it hands the connection back after every
 * statement).  The request sleeps while the job runs; the worker's
 * event loop keeps serving everything else.
 *
 * Worker 1 also keeps one non-blocking connection that LISTENs on the
 * "rollcall" channel, so changes made by rollcallctl or by other
 * instances reach this instance's shared tables.
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "svc.h"
#include "util.h"

/*
 * Who may cancel the statement running on a task thread.  One per task
 * thread, never freed (task threads live as long as the worker), so the
 * canceller thread can always lock it.  lock guards cancel and job_id;
 * a cancel is sent only while job_id still names the job it is for, and
 * the task thread cannot move on to another job meanwhile, so a late
 * cancel never hits someone else's statement.
 */
struct db_thread {
	pthread_mutex_t	 lock;
	PGcancel	*cancel;	/* for thread_conn, or NULL */
	uint64_t	 job_id;	/* job on this thread, 0: none */
};

/*
 * A database job.  It is bound to its request by a callback, not by
 * kore_task_bind_request: Kore 4.1's http_request_free cannot free a
 * request whose bound task still runs, so the job must not depend on
 * the request.  The event loop owns the job; the task thread reads fn
 * and arg and writes result and err until it finishes.  When the client
 * leaves first, the job takes over the handler's state and frees both
 * once the thread is done with them (job_task_done), exactly once.
 */
struct svc_db_job {
	struct kore_task	 task;		/* first: the entry casts back */
	svc_db_fn		 fn;
	void			*arg;
	int			 result;
	struct svc_db_err	 err;
	uint64_t		 id;
	/* Event loop only. */
	struct http_request	*req;		/* to wake, NULL once it left */
	int			 finished;	/* task done and destroyed */
	int			 orphaned;	/* request gone: free when done */
	void			*state;		/* taken over when orphaned */
	void			(*state_free)(void *);
	void			(*done)(void *, int, struct svc_db_err *);
	/* Shared with the task thread (atomics). */
	int			 cancelled;
	struct db_thread	*runner;	/* thread that took it */
};

static int	 job_entry(struct kore_task *);
static void	 job_task_done(struct kore_task *);
static void	 job_callback(struct kore_task *);
static void	 job_cancel(struct svc_db_job *);
static PGconn	*thread_conn_get(struct db_thread *, struct svc_db_err *);
static void	 thread_cancel_set(struct db_thread *, PGconn *);
static void	*canceller(void *);

#define DB_IDLE_CHECK_US	2000000
#define CANCEL_QUEUE		256
/*
 * A cancel that reaches the backend before the statement does (the job
 * thread checked its flag, then was descheduled before sending) is
 * dropped by PostgreSQL, and the statement then runs, blocked perhaps,
 * until the statement timeout.  So while the job still runs, the cancel
 * is sent again, CANCEL_RESEND_US apart, at most CANCEL_SENDS times.
 */
#define CANCEL_RESEND_US	100000
#define CANCEL_SENDS		10

/* Jobs handed to task threads and not yet returned (this process). */
static uint32_t			 jobs_running;
static uint64_t			 job_seq;

static __thread PGconn		*thread_conn;
static __thread uint64_t	 thread_conn_used_us;
static __thread struct db_thread *thread_self;

/*
 * The canceller: PQcancel opens a connection to the server and waits
 * for it, so it runs on its own thread, never on the event loop.
 */
static struct {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 started;
	unsigned int		 head, len;
	struct cancel_req {
		struct db_thread	*dt;
		uint64_t		 job_id;
		uint64_t		 due_us;	/* not before (mono) */
		unsigned int		 sent;
	}			 q[CANCEL_QUEUE];
} cq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
    { { NULL, 0, 0, 0 } } };

static void	cancel_enqueue(const struct cancel_req *);

/* Keeps dt's cancel handle in step with conn (NULL: none). */
static void
thread_cancel_set(struct db_thread *dt, PGconn *conn)
{
	pthread_mutex_lock(&dt->lock);
	if (dt->cancel != NULL)
		PQfreeCancel(dt->cancel);
	dt->cancel = conn != NULL ? PQgetCancel(conn) : NULL;
	pthread_mutex_unlock(&dt->lock);
}

/*
 * The database URL plus TCP keepalives and a user timeout: a connection
 * whose network path silently drops packets fails within seconds
 * instead of leaving its thread blocked for the kernel's ~15 minutes.
 * Later keys win over the URL's.
 */
static const char *const conn_keys[] = { "dbname", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", NULL };

static const char *const *
conn_vals(const char **vals)
{
	vals[0] = svc.settings.database_url;
	vals[1] = "1";
	vals[2] = "5";
	vals[3] = "2";
	vals[4] = "3";
	vals[5] = "10000";
	vals[6] = NULL;

	return (vals);
}

/*
 * Closes this thread's connection; the next thread_conn_get opens a new
 * one with the session settings (PQreset would lose them: no statement
 * timeout, no application_name).
 */
static void
thread_conn_drop(struct db_thread *dt)
{
	thread_cancel_set(dt, NULL);
	PQfinish(thread_conn);
	thread_conn = NULL;
}

static PGconn *
thread_conn_get(struct db_thread *dt, struct svc_db_err *err)
{
	PGresult	*res;
	const char	*vals[7];
	char		 sql[160];

	/*
	 * A connection that sat idle may have died with a database restart
	 * without libpq knowing.  Checking before the job (not retrying it
	 * after) means a write is never sent twice.
	 */
	if (thread_conn != NULL && PQstatus(thread_conn) == CONNECTION_OK &&
	    rc_mono_us() - thread_conn_used_us > DB_IDLE_CHECK_US) {
		res = PQexec(thread_conn, "SELECT 1");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			thread_conn_drop(dt);
		PQclear(res);
	}
	/*
	 * A cancel that landed on the last job's ROLLBACK can leave its
	 * transaction open: the next job must not start inside it.
	 */
	if (thread_conn != NULL && PQstatus(thread_conn) == CONNECTION_OK &&
	    PQtransactionStatus(thread_conn) != PQTRANS_IDLE) {
		res = PQexec(thread_conn, "ROLLBACK");
		PQclear(res);
		if (PQtransactionStatus(thread_conn) != PQTRANS_IDLE)
			thread_conn_drop(dt);
	}
	thread_conn_used_us = rc_mono_us();
	if (thread_conn != NULL && PQstatus(thread_conn) == CONNECTION_OK)
		return (thread_conn);
	if (thread_conn != NULL)
		thread_conn_drop(dt);
	thread_conn = PQconnectdbParams(conn_keys, conn_vals(vals), 1);
	if (PQstatus(thread_conn) != CONNECTION_OK) {
		err->transient = 1;
		(void)snprintf(err->msg, sizeof(err->msg), "connect: %s",
		    PQerrorMessage(thread_conn));
		PQfinish(thread_conn);
		thread_conn = NULL;
		return (NULL);
	}
	/*
	 * Short OLTP statements never gain from JIT, and its row estimates
	 * for data-modifying CTEs can make PostgreSQL spend 400 ms compiling
	 * a 1 ms statement (measured on a one-statement change flush).  The
	 * statement timeout bounds how long any job holds this thread.
	 */
	(void)snprintf(sql, sizeof(sql), "SET statement_timeout = %d; "
	    "SET application_name = 'rollcall'; SET jit = off",
	    svc.settings.statement_timeout_ms);
	res = PQexec(thread_conn, sql);
	PQclear(res);
	thread_cancel_set(dt, thread_conn);

	return (thread_conn);
}

/* The store's statement runner, with the glue's error struct. */
int
svc_db_exec(PGconn *conn, const char *sql, int nparams,
    const char *const *params, PGresult **out, struct svc_db_err *err)
{
	struct store_err	serr;

	memset(&serr, 0, sizeof(serr));
	if (store_exec(conn, sql, nparams, params, out, &serr) == -1) {
		err->transient = serr.status == 503;
		rc_strlcpy(err->msg, serr.msg, sizeof(err->msg));
		return (-1);
	}

	return (0);
}

static int
job_entry(struct kore_task *t)
{
	struct svc_db_job	*job = (struct svc_db_job *)(void *)t;
	struct db_thread	*dt;
	PGconn			*conn = NULL;

	if ((dt = thread_self) == NULL) {
		if ((dt = calloc(1, sizeof(*dt))) == NULL)
			fatal("rollcall: out of memory");
		pthread_mutex_init(&dt->lock, NULL);
		thread_self = dt;
	}
	memset(&job->err, 0, sizeof(job->err));

	/*
	 * Publish who runs the job before looking at its cancelled flag;
	 * job_cancel sets the flag before it looks at the runner.  One of
	 * the two sees the other, so a cancel is never lost.
	 */
	pthread_mutex_lock(&dt->lock);
	dt->job_id = job->id;
	pthread_mutex_unlock(&dt->lock);
	__atomic_store_n(&job->runner, dt, __ATOMIC_SEQ_CST);

	if (__atomic_load_n(&job->cancelled, __ATOMIC_SEQ_CST)) {
		job->result = -1;
		job->err.transient = 1;
		rc_strlcpy(job->err.msg, "cancelled before it started",
		    sizeof(job->err.msg));
	} else if ((conn = thread_conn_get(dt, &job->err)) == NULL) {
		job->result = -1;
	} else {
		store_cancel_watch(&job->cancelled);
		job->result = job->fn(conn, job->arg, &job->err);
		store_cancel_watch(NULL);
	}

	/*
	 * Waits for a cancel in flight: it must not reach the next job.
	 * Cleared before the rollback, so no resend aims at that.
	 */
	pthread_mutex_lock(&dt->lock);
	dt->job_id = 0;
	pthread_mutex_unlock(&dt->lock);
	if (conn != NULL) {
		if (job->result == -1)
			store_rollback(conn);
		thread_conn_used_us = rc_mono_us();
	}
	__atomic_sub_fetch(&jobs_running, 1, __ATOMIC_RELEASE);

	return (job->result == 0 ? KORE_RESULT_OK : KORE_RESULT_ERROR);
}

/* Appends to the cancel queue (cq.lock held); a full queue drops it. */
static void
cancel_enqueue(const struct cancel_req *r)
{
	if (cq.len < CANCEL_QUEUE) {
		cq.q[(cq.head + cq.len) % CANCEL_QUEUE] = *r;
		cq.len++;
		pthread_cond_signal(&cq.cond);
	}
}

static void *
canceller(void *arg)
{
	struct cancel_req	 r;
	uint64_t		 now;
	int			 running;
	char			 errbuf[256];

	(void)arg;
	pthread_mutex_lock(&cq.lock);
	for (;;) {
		while (cq.len == 0)
			pthread_cond_wait(&cq.cond, &cq.lock);
		r = cq.q[cq.head];
		cq.head = (cq.head + 1) % CANCEL_QUEUE;
		cq.len--;
		pthread_mutex_unlock(&cq.lock);

		/*
		 * Resends queue behind first sends; a first send waits at
		 * most one resend interval behind them.
		 */
		now = rc_mono_us();
		if (r.due_us > now)
			(void)usleep((useconds_t)(r.due_us - now));

		pthread_mutex_lock(&r.dt->lock);
		running = r.dt->job_id == r.job_id;
		if (running && r.dt->cancel != NULL) {
			(void)PQcancel(r.dt->cancel, errbuf, sizeof(errbuf));
			metrics_add(svc.metrics, METRIC_DB_CANCELS_SENT, 1);
		}
		pthread_mutex_unlock(&r.dt->lock);

		pthread_mutex_lock(&cq.lock);
		if (running && ++r.sent < CANCEL_SENDS) {
			r.due_us = rc_mono_us() + CANCEL_RESEND_US;
			cancel_enqueue(&r);
		}
	}

	return (NULL);
}

/*
 * Stops a job whose client left: not started, it is skipped; between
 * statements, the next one is refused (store_cancel_watch); running, its
 * statement is cancelled.  COMMIT either happened or it did not: a
 * write that committed stays committed.
 */
static void
job_cancel(struct svc_db_job *job)
{
	struct db_thread	*dt;
	struct cancel_req	 r;
	pthread_t		 tid;

	__atomic_store_n(&job->cancelled, 1, __ATOMIC_SEQ_CST);
	if ((dt = __atomic_load_n(&job->runner, __ATOMIC_SEQ_CST)) == NULL)
		return;

	pthread_mutex_lock(&cq.lock);
	if (!cq.started) {
		if (pthread_create(&tid, NULL, canceller, NULL) != 0) {
			pthread_mutex_unlock(&cq.lock);
			/* The statement timeout still bounds the job. */
			svc_log(SVC_LOG_ERROR, "database: cannot start the "
			    "canceller thread");
			return;
		}
		(void)pthread_detach(tid);
		cq.started = 1;
	}
	/* A full queue drops the cancel: the statement timeout bounds it. */
	r.dt = dt;
	r.job_id = job->id;
	r.due_us = 0;
	r.sent = 0;
	cancel_enqueue(&r);
	pthread_mutex_unlock(&cq.lock);
}

/* The task came back (event loop). */
static void
job_task_done(struct kore_task *t)
{
	struct svc_db_job	*job = (struct svc_db_job *)(void *)t;

	if (!kore_task_finished(t))
		return;
	kore_task_destroy(t);
	job->finished = 1;
	if (job->req != NULL) {
		http_request_wakeup(job->req);
		return;
	}
	if (job->orphaned) {
		if (job->state != NULL && job->state_free != NULL)
			job->state_free(job->state);
		free(job);
	}
}

int
svc_db_release(struct svc_db_job *job, void *state,
    void (*state_free)(void *))
{
	job->req = NULL;
	if (job->finished) {
		free(job);
		return (0);
	}
	/* Still on its thread, which may write into state: keep both. */
	metrics_add(svc.metrics, METRIC_DB_JOBS_ABANDONED, 1);
	job->orphaned = 1;
	job->state = state;
	job->state_free = state_free;
	job_cancel(job);

	return (1);
}

int
svc_db_run(struct http_request *req, svc_db_fn fn, void *arg)
{
	struct svc_ctx		*ctx;
	struct svc_db_job	*job;

	ctx = svc_ctx(req);
	if (ctx->job != NULL) {
		/* A handler's earlier job, finished (it is running again). */
		(void)svc_db_release(ctx->job, NULL, NULL);
		ctx->job = NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("rollcall: out of memory");
	job->fn = fn;
	job->arg = arg;
	job->id = ++job_seq;
	job->req = req;
	ctx->job = job;

	kore_task_create(&job->task, job_entry);
	kore_task_bind_callback(&job->task, job_task_done);
	http_request_sleep(req);
	__atomic_add_fetch(&jobs_running, 1, __ATOMIC_RELAXED);
	kore_task_run(&job->task);

	return (KORE_RESULT_RETRY);
}

int
svc_db_done(struct http_request *req, int *result, struct svc_db_err **err)
{
	struct svc_ctx		*ctx;
	struct svc_db_job	*job;

	ctx = svc_ctx(req);
	if ((job = ctx->job) == NULL || !job->finished)
		return (0);
	*result = job->result;
	*err = &job->err;
	if (job->result == -1)
		metrics_add(svc.metrics, METRIC_DB_ERRORS, 1);

	return (1);
}

void
svc_db_forget(struct http_request *req)
{
	struct svc_ctx	*ctx;

	ctx = svc_ctx(req);
	if (ctx->job != NULL && ctx->job->finished) {
		(void)svc_db_release(ctx->job, NULL, NULL);
		ctx->job = NULL;
	}
}

static void
job_callback(struct kore_task *t)
{
	struct svc_db_job	*job = (struct svc_db_job *)(void *)t;

	if (!kore_task_finished(t))
		return;
	/* A cancelled job failed on purpose: not a database error. */
	if (job->result == -1 && !job->cancelled)
		metrics_add(svc.metrics, METRIC_DB_ERRORS, 1);
	if (job->done != NULL)
		job->done(job->arg, job->result, &job->err);
	kore_task_destroy(t);
	free(job);
}

/*
 * Kore frees its memory pools when a worker exits, task threads
 * included.  A thread still running a job then would touch freed
 * memory: wait (bounded) for the jobs to come back first.
 */
void
svc_db_drain(void)
{
	int	waited_ms;

	for (waited_ms = 0; waited_ms < 10000 &&
	    __atomic_load_n(&jobs_running, __ATOMIC_ACQUIRE) > 0;
	    waited_ms += 10)
		(void)usleep(10 * 1000);
	/* Let the threads get back to waiting for work. */
	(void)usleep(20 * 1000);
}

struct svc_db_job *
svc_db_start(svc_db_fn fn, void *arg,
    void (*done)(void *, int, struct svc_db_err *))
{
	struct svc_db_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("rollcall: out of memory");
	job->fn = fn;
	job->arg = arg;
	job->done = done;
	job->id = ++job_seq;
	kore_task_create(&job->task, job_entry);
	kore_task_bind_callback(&job->task, job_callback);
	__atomic_add_fetch(&jobs_running, 1, __ATOMIC_RELAXED);
	kore_task_run(&job->task);

	return (job);
}

int
svc_db_background(svc_db_fn fn, void *arg,
    void (*done)(void *, int, struct svc_db_err *))
{
	(void)svc_db_start(fn, arg, done);

	return (0);
}

void
svc_db_cancel(struct svc_db_job *job)
{
	metrics_add(svc.metrics, METRIC_DB_JOBS_ABANDONED, 1);
	job_cancel(job);
}

/*
 * One read of the tokens table into the shared table, unless the table
 * changed since generation gen (then -2: read again).
 */
static int
tokens_read(PGconn *conn, uint64_t gen, struct svc_db_err *err)
{
	struct tokentab_entry	*entries;
	PGresult		*res;
	const char		*hex;
	int			 i, n, j, rc;
	unsigned int		 scopes;
	long long		 v;

	if (svc_db_exec(conn, "SELECT t.id, t.name, coalesce(d.name, ''), "
	    "coalesce(t.directory_id, 0), array_to_string(t.scopes, ','), "
	    "encode(t.secret_hash, 'hex'), "
	    "coalesce((extract(epoch FROM t.expires_at) * 1000)::bigint, 0), "
	    "coalesce((extract(epoch FROM t.revoked_at) * 1000)::bigint, 0) "
	    "FROM tokens t LEFT JOIN directories d ON d.id = t.directory_id "
	    "WHERE t.revoked_at IS NULL OR t.revoked_at > now()", 0, NULL,
	    &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	if ((entries = calloc((size_t)n + 1, sizeof(*entries))) == NULL) {
		PQclear(res);
		rc_strlcpy(err->msg, "out of memory", sizeof(err->msg));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		rc_strlcpy(entries[i].id, PQgetvalue(res, i, 0),
		    sizeof(entries[i].id));
		rc_strlcpy(entries[i].name, PQgetvalue(res, i, 1),
		    sizeof(entries[i].name));
		rc_strlcpy(entries[i].directory, PQgetvalue(res, i, 2),
		    sizeof(entries[i].directory));
		if (rc_parse_int(PQgetvalue(res, i, 3), 0, INT64_MAX, &v) == 0)
			entries[i].directory_id = v;
		if (token_scopes_parse(PQgetvalue(res, i, 4), &scopes) == 0)
			entries[i].scopes = scopes;
		hex = PQgetvalue(res, i, 5);
		for (j = 0; j < TOKEN_HASH_LEN && hex[2 * j] && hex[2 * j + 1];
		    j++) {
			char	byte[3] = { hex[2 * j], hex[2 * j + 1], 0 };
			entries[i].hash[j] = (unsigned char)strtoul(byte, NULL,
			    16);
		}
		if (rc_parse_int(PQgetvalue(res, i, 6), 0, INT64_MAX, &v) == 0)
			entries[i].expires_ms = (uint64_t)v;
		if (rc_parse_int(PQgetvalue(res, i, 7), 0, INT64_MAX, &v) == 0)
			entries[i].revoked_ms = (uint64_t)v;
	}
	PQclear(res);

	rc = tokentab_replace_all(svc.tokens, entries, (size_t)n, gen);
	free(entries);
	if (rc == -1)
		(void)snprintf(err->msg, sizeof(err->msg), "%d tokens do not "
		    "fit in token_slots=%d (at most half may be used)", n,
		    svc.settings.token_slots);

	return (rc);
}

/*
 * Loads every usable token into the shared table.  Runs in the parent
 * at start and on a task thread when tokens change.  A token created or
 * revoked by a worker while we read must not be undone by what we read,
 * so a read that raced with such a change is done again.
 */
int
svc_tokens_load(PGconn *conn, struct svc_db_err *err)
{
	int	attempt, rc;

	for (attempt = 0; attempt < 5; attempt++) {
		rc = tokens_read(conn, tokentab_generation(svc.tokens), err);
		if (rc != -2)
			return (rc);
	}

	return (tokens_read(conn, TOKENTAB_ANY_GEN, err));
}
