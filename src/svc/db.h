/*
 * db.h: database jobs (db.c).  Included through svc.h.
 *
 * A job's fn runs on a Kore task thread with that thread's own
 * connection (blocking libpq, real transactions); no statement runs
 * longer than statement_timeout_ms.  The event loop owns every job.
 */
#ifndef RC_DB_H
#define RC_DB_H

#include <libpq-fe.h>

#include <kore/kore.h>
#include <kore/http.h>

/* What a failed job says (filled on its thread, read on the loop). */
struct svc_db_err {
	int	transient;		/* connection lost, timeout: 503 */
	char	sqlstate[6];
	char	msg[256];
};

/* 0 ok, -1 failed (err says why).  arg is the caller's, borrowed. */
typedef int (*svc_db_fn)(PGconn *, void *arg, struct svc_db_err *);

struct svc_db_job;

/*
 * Jobs bound to a request.  The request sleeps until its job is done.
 * If the client leaves first, the job is cancelled (skipped, or its
 * statement cancelled with PQcancel) and the handler's state freed
 * once.  svc_db_run returns KORE_RESULT_RETRY to hand back to Kore;
 * when the handler runs again, svc_db_done tells if the job finished
 * and gives its result (0 ok, -1 failed; err holds detail, valid until
 * the request's next job or its end).
 */
int	svc_db_run(struct http_request *, svc_db_fn, void *arg);
int	svc_db_done(struct http_request *, int *result, struct svc_db_err **);
/*
 * The caller is done with the request's finished job (and its err):
 * frees it now rather than with the request, so that another part of
 * the request (the handler after authentication) starts afresh.
 */
void	svc_db_forget(struct http_request *);
/*
 * For ctx.c only: the request that ran job is being freed.  A finished
 * job is freed now and 0 returned.  A job still on its thread (the
 * client left) is cancelled and takes over state: it frees state with
 * state_free, and itself, once the thread is done; returns 1 and the
 * caller must not touch state again.
 */
int	svc_db_release(struct svc_db_job *, void *state,
	    void (*state_free)(void *));

/*
 * Jobs of no request.  svc_db_background runs fn on a task thread and
 * calls done(arg, result) on the event loop; arg stays the caller's.
 * svc_db_start does the same and returns the job, which stays valid
 * until done has been called (forget it there).  svc_db_cancel, for a
 * reader that left: the job is skipped or its statement cancelled, and
 * done is still called (with -1 unless it had finished).
 */
int	svc_db_background(svc_db_fn, void *arg,
	    void (*done)(void *arg, int result, struct svc_db_err *));
struct svc_db_job	*svc_db_start(svc_db_fn, void *arg,
			    void (*done)(void *arg, int result,
			    struct svc_db_err *));
void			 svc_db_cancel(struct svc_db_job *);

/* At worker exit: waits (bounded) until no job runs on a task thread. */
void	svc_db_drain(void);

/*
 * Helpers for job functions (any thread).  svc_db_exec is store_exec
 * (store.h: who owns *res) reporting into the glue's error struct.
 */
int	svc_db_exec(PGconn *, const char *sql, int nparams,
	    const char *const *params, PGresult **res, struct svc_db_err *);

/* Fills tokens from the database (blocking; parent or task thread). */
int	svc_tokens_load(PGconn *, struct svc_db_err *);

#endif
