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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "svc.h"
#include "util.h"

struct svc_db_job {
	struct kore_task	 task;		/* first: the entry casts back */
	svc_db_fn		 fn;
	void			*arg;
	int			 result;
	int			 destroyed;
	struct svc_db_err	 err;
	void			(*done)(void *, int, struct svc_db_err *);
};

static int	 job_entry(struct kore_task *);
static void	 job_callback(struct kore_task *);
static void	 job_free(void *);
static PGconn	*thread_conn_get(struct svc_db_err *);

#define DB_IDLE_CHECK_US	2000000

/* Jobs handed to task threads and not yet returned (this process). */
static uint32_t			 jobs_running;

static __thread PGconn		*thread_conn;
static __thread uint64_t	 thread_conn_used_us;

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

static PGconn *
thread_conn_get(struct svc_db_err *err)
{
	PGresult	*res;
	const char	*vals[7];

	/*
	 * A connection that sat idle may have died with a database restart
	 * without libpq knowing.  Checking before the job (not retrying it
	 * after) means a write is never sent twice.
	 */
	if (thread_conn != NULL && PQstatus(thread_conn) == CONNECTION_OK &&
	    rc_mono_us() - thread_conn_used_us > DB_IDLE_CHECK_US) {
		res = PQexec(thread_conn, "SELECT 1");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			PQreset(thread_conn);
		PQclear(res);
	}
	thread_conn_used_us = rc_mono_us();
	if (thread_conn != NULL && PQstatus(thread_conn) == CONNECTION_OK)
		return (thread_conn);
	if (thread_conn != NULL)
		PQfinish(thread_conn);
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
	 * a 1 ms statement (measured on a one-statement change flush).
	 */
	res = PQexec(thread_conn, "SET statement_timeout = '15s'; "
	    "SET application_name = 'rollcall'; SET jit = off");
	PQclear(res);

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
	PGconn			*conn;

	memset(&job->err, 0, sizeof(job->err));
	if ((conn = thread_conn_get(&job->err)) == NULL) {
		job->result = -1;
	} else {
		job->result = job->fn(conn, job->arg, &job->err);
		if (job->result == -1)
			store_rollback(conn);
		thread_conn_used_us = rc_mono_us();
	}
	__atomic_sub_fetch(&jobs_running, 1, __ATOMIC_RELEASE);

	return (job->result == 0 ? KORE_RESULT_OK : KORE_RESULT_ERROR);
}

int
svc_db_running(void *arg)
{
	struct svc_db_job	*job = arg;

	return (!job->destroyed && !kore_task_finished(&job->task));
}

static void
job_free(void *arg)
{
	struct svc_db_job	*job = arg;

	if (!job->destroyed) {
		/* Still running on its thread: leaving it is the safe choice. */
		if (!kore_task_finished(&job->task))
			return;
		kore_task_destroy(&job->task);
	}
	free(job);
}

int
svc_db_run(struct http_request *req, svc_db_fn fn, void *arg)
{
	struct svc_ctx		*ctx;
	struct svc_db_job	*job;

	ctx = svc_ctx(req);
	if (ctx->job != NULL && ctx->job_free != NULL) {
		ctx->job_free(ctx->job);
		ctx->job = NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("rollcall: out of memory");
	job->fn = fn;
	job->arg = arg;
	ctx->job = job;
	ctx->job_free = job_free;

	kore_task_create(&job->task, job_entry);
	kore_task_bind_request(&job->task, req);
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
	if ((job = ctx->job) == NULL || ctx->job_free != job_free)
		return (0);
	if (!job->destroyed) {
		if (kore_task_state(&job->task) != KORE_TASK_STATE_FINISHED)
			return (0);
		kore_task_destroy(&job->task);
		job->destroyed = 1;
	}
	*result = job->result;
	*err = &job->err;
	if (job->result == -1)
		metrics_add(svc.metrics, METRIC_DB_ERRORS, 1);

	return (1);
}

static void
job_callback(struct kore_task *t)
{
	struct svc_db_job	*job = (struct svc_db_job *)(void *)t;

	if (!kore_task_finished(t))
		return;
	if (job->result == -1)
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

int
svc_db_background(svc_db_fn fn, void *arg,
    void (*done)(void *, int, struct svc_db_err *))
{
	struct svc_db_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("rollcall: out of memory");
	job->fn = fn;
	job->arg = arg;
	job->done = done;
	kore_task_create(&job->task, job_entry);
	kore_task_bind_callback(&job->task, job_callback);
	__atomic_add_fetch(&jobs_running, 1, __ATOMIC_RELAXED);
	kore_task_run(&job->task);

	return (0);
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
