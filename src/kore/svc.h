/*
 * svc.h: what rollcall's Kore glue modules share: the per-process
 * service state (settings, shared-memory tables), the per-request
 * context, responses and errors, logging, and database jobs.  The only
 * header that glue files include besides Kore's and core's.
 */
#ifndef RC_SVC_H
#define RC_SVC_H

#include <sys/types.h>

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "metrics.h"
#include "ratelimit.h"
#include "settings.h"
#include "tokentab.h"

#define SVC_SCHEMA_VERSION	4	/* highest sql/NNN_*.sql we need */

/*
 * A bearer token the shared table does not know may have been created a
 * moment ago by rollcallctl (its NOTIFY still on the way): it is looked
 * up in the database, at most this many times a second per instance
 * (with this burst), so unknown tokens cannot flood PostgreSQL.
 */
#define SVC_TOKEN_LOOKUPS_S	20
#define SVC_TOKEN_LOOKUPS_BURST	40

#define SVC_MAX_PROCS		65	/* parent + the most workers */

enum svc_log_level {
	SVC_LOG_DEBUG,
	SVC_LOG_INFO,
	SVC_LOG_WARN,
	SVC_LOG_ERROR,
};

/* Shared by all processes; mapped by the parent before fork. */
struct svc_shared {
	uint64_t	started_ms;
	uint32_t	ready;			/* initial state loaded */
	uint32_t	db_ok;			/* last database contact worked */
	uint64_t	db_checked_ms;
	/* Database look-ups for tokens not (yet) in the table (http_auth.c). */
	struct ratelimit token_lookups;
	/* For process_* metrics (ops_metrics.c): [0] parent, [id] worker. */
	uint32_t	parent_pid;
	uint32_t	open_fds[SVC_MAX_PROCS];
	/*
	 * Currency (listener.c): the monotonic time (ms) at which this
	 * instance last proved its index held every committed change, and
	 * whether the listener is connected and caught up now.
	 */
	uint64_t	policy_proof_ms;
	uint32_t	policy_current;
};

struct changering;

struct svc {
	struct settings		 settings;
	struct svc_shared	*shared;
	struct tokentab		*tokens;
	struct metrics		*metrics;
	struct changering	*ring;
	size_t			 ring_capacity;
	char			 instance[64];
};

extern struct svc	svc;

/* What a request carries from authentication to the handler. */
struct svc_ctx {
	uint64_t		 start_us;
	char			 request_id[40];
	int			 authed;
	struct tokentab_entry	 token;
	int			 status;
	void			*job;		/* database job (db.c) */
	void			*state;		/* handler's own, kore_malloc'd */
	void			(*state_free)(void *);
};

/* The request's context, created on first use (kore_malloc'd, Kore frees). */
struct svc_ctx	*svc_ctx(struct http_request *);

/*
 * Responses.  Each one records the status for the access log line and
 * the metrics, and sets x-request-id.  Bodies are copied by Kore.
 */
void	svc_respond_json(struct http_request *, int status, json_t *body);
void	svc_respond_raw(struct http_request *, int status, const char *ctype,
	    const void *body, size_t len);
/*
 * A JSON error: {"error": code, "message": ...} on admin/gateway paths,
 * the SCIM error schema on /scim paths (scim_type may be NULL).
 */
void	svc_error(struct http_request *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	svc_scim_error(struct http_request *, int status,
	    const char *scim_type, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * 1 if req->method is in the mask of HTTP_METHOD_* bits; otherwise
 * answers 405 with an Allow header and returns 0.
 */
int	svc_method_allowed(struct http_request *, int mask);

/*
 * 1 if the request carries each header that names its caller or target
 * (Authorization, the ext_authz headers as configured) at most once;
 * otherwise answers 400 naming the header, counts it, and returns 0.
 * Called before any such header is read.
 */
int	svc_identity_unambiguous(struct http_request *);

/* Parses the request body as a JSON object or answers 400 and returns NULL. */
json_t	*svc_body_json(struct http_request *);

/*
 * One JSON log line (never secrets).  Warnings and errors are limited
 * per call site (fmt): a few per second, then one "suppressed N similar"
 * summary line (respond.c).
 */
void	svc_log(enum svc_log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Worker start: a timer that writes the summaries of quiet kinds. */
void	svc_log_worker_init(void);
/* Exit: writes the summaries of every line still held back. */
void	svc_log_flush(void);

/*
 * Database jobs: fn runs on a Kore task thread with that thread's own
 * connection (blocking libpq, real transactions).  The request sleeps
 * until it is done.  If the client leaves first, the job is cancelled
 * (skipped, or its statement cancelled with PQcancel) and its state
 * freed once; no statement runs longer than statement_timeout_ms.  svc_db_run returns KORE_RESULT_RETRY to hand back
 * to Kore; when the handler runs again, svc_db_done tells if the job
 * finished and gives its result (0 ok, -1 failed; err holds detail).
 */
struct svc_db_err {
	int	transient;		/* connection lost, timeout: 503 */
	char	sqlstate[6];
	char	msg[256];
};

typedef int (*svc_db_fn)(PGconn *, void *arg, struct svc_db_err *);

struct svc_db_job;

int	svc_db_run(struct http_request *, svc_db_fn, void *arg);
/*
 * The request that ran job is being freed (the ctx's onfree).  A
 * finished job is freed now and 0 returned.  A job still on its thread
 * (the client left) is cancelled and takes over state: it frees state
 * with state_free, and itself, once the thread is done; returns 1 and
 * the caller must not touch state again.
 */
int	svc_db_release(void *job, void *state, void (*state_free)(void *));
int	svc_db_done(struct http_request *, int *result, struct svc_db_err **);

/* Runs fn on a task thread and calls done(arg, result) on the event loop. */
int	svc_db_background(svc_db_fn, void *arg,
	    void (*done)(void *arg, int result, struct svc_db_err *));
/*
 * The same, returning the job, which stays valid until done has been
 * called (forget it there).  svc_db_cancel, for a reader that left:
 * the job is skipped or its statement cancelled, and done is still
 * called (with -1 unless it had finished).
 */
struct svc_db_job	*svc_db_start(svc_db_fn, void *arg,
			    void (*done)(void *arg, int result,
			    struct svc_db_err *));
void			 svc_db_cancel(struct svc_db_job *);

/* At worker exit: waits (bounded) until no job runs on a task thread. */
void	svc_db_drain(void);

/* Helpers for job functions (any thread). */
int	svc_db_exec(PGconn *, const char *sql, int nparams,
	    const char *const *params, PGresult **res, struct svc_db_err *);

/* Fills tokens from the database (blocking; parent or task thread). */
int	svc_tokens_load(PGconn *, struct svc_db_err *);

/*
 * After COMMIT of a transaction that flushed a store_changes batch (see
 * src/store/changes.h): hands its records to every worker's policy index
 * (through shared memory) before the caller answers its client.  Call it
 * on the event loop (in the handler), never on a task thread.
 */
struct store_changes;
void	svc_changes_publish(const struct store_changes *);

/* Appends change records (a JSON array; borrowed) to the shared ring. */
void	svc_changes_append(json_t *records);

/*
 * The policy index (policy_glue.c).  The parent loads it before the
 * fork; svc_policy() returns the worker's index brought up to date, or
 * NULL while it is being rebuilt (deny).
 */
struct policy_index;
struct policy_dirs;
int				 svc_policy_parent_load(PGconn *,
				    struct svc_db_err *);
void				 svc_policy_worker_init(void);
struct policy_index		*svc_policy(void);
const struct policy_dirs	*svc_policy_dirs(void);
uint64_t			 svc_policy_base_version(void);
void				 svc_policy_invalidate_all(void);
/* Called with the version of every record this worker applies. */
void				 svc_policy_on_seen(void (*)(uint64_t));
/* Called with the base version after this worker rebuilt its index. */
void				 svc_policy_on_rebuilt(void (*)(uint64_t));
/* Rebuild this worker's index from the database (denies meanwhile). */
void				 svc_policy_rebuild(void);

/*
 * Currency, readable in every worker.  svc_policy_proof_age_ms: how
 * long ago the instance last proved it is current.  svc_policy_stale:
 * 1 when that is longer than policy_max_staleness_s, and decisions must
 * deny (policy_stale) rather than trust the index.  svc_policy_proved:
 * the listener records a proof taken at monotonic time at_ms.
 */
uint64_t			 svc_policy_proof_age_ms(void);
int				 svc_policy_stale(void);
void				 svc_policy_proved(uint64_t at_ms);

/*
 * Loaded by the parent before the fork (workers may be chrooted): the
 * cursor signing key (http_admin_audit.c) and the OpenAPI document
 * (http_openapi.c; NULL: conf/openapi.json).  0, or -1 with the reason.
 */
int	svc_admin_load(PGconn *, struct svc_db_err *);
int	svc_openapi_load(const char *path);

/*
 * Reads the admin console's files (http_console.c, conf/console/) in
 * the parent before the fork; a missing file only disables /console/.
 */
void	svc_console_load(void);

/* Grant expiry timer (http_admin_policy.c). */
void	admin_policy_worker_init(void);

/*
 * Sanitizer builds (leakcheck.c): LeakSanitizer checks the process now,
 * from a teardown hook, and not at exit(): after these hooks Kore's
 * cleanup unmaps its pools under task threads still waiting on
 * condition variables inside them (LeakSanitizer's stop-the-world then
 * wakes them into a futex error that aborts the worker before any
 * report).  A no-op unless ASAN_OPTIONS has detect_leaks=1 (which needs
 * RC_TEST_SANDBOX=off in a worker); a leak makes the process exit 23.
 * worker_exit: also report HTTP requests Kore still holds.
 */
void	svc_leak_check(int worker_exit);
/* 1 in the leak-checked test variant (RC_TEST_SANDBOX=off). */
int	svc_leak_checking(void);

/*
 * ops_metrics.c: the parent's part before the fork (opens /proc), each
 * worker's at configure (descriptor counts; worker 1 warns daily about
 * SCIM tokens expiring within 14 days), and the /metrics lines beyond
 * core's counters (malloc'd; NULL when out of memory).
 */
void	 svc_ops_parent_init(void);
void	 svc_ops_worker_init(void);
char	*svc_ops_metrics(void);

/* Listener on worker 1: LISTEN for changes from other processes. */
void	svc_listener_start(void);

/* Anti-entropy (antientropy.c): every worker compares index digests. */
void	svc_antientropy_start(void);

/* Route labels for metrics (handler names without "page_"). */
extern const char *const	svc_routes[];
extern const size_t		svc_nroutes;

#endif
