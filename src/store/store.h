/*
 * store: the SQL that rollcallctl and the server share, written against
 * blocking libpq (the CLI, and the server's database task threads).
 * Results come back as jansson values the caller owns; failures fill
 * struct store_err with an HTTP-like status so both callers can report
 * them (the CLI prints, the server answers).
 *
 * Every write records an audit entry in the same transaction.
 */
#ifndef RC_STORE_H
#define RC_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "token.h"

/*
 * What a failed statement or transaction means to whoever runs it.
 * Only STORE_RETRY is worth running again: PostgreSQL aborted the
 * transaction to break a serialisation failure or deadlock (SQLSTATE
 * class 40) and the same work may well succeed now.
 */
enum store_outcome {
	STORE_OK = 0,
	STORE_RETRY,		/* 503: run the whole transaction again */
	STORE_CONFLICT,		/* 409: a name, key or state is taken */
	STORE_INVALID,		/* 400: the input was refused */
	STORE_INTERNAL		/* anything else: 403, 404, 5xx */
};

struct store_err {
	int			status;	/* 400, 404, 409, 500, 503 */
	char			code[32]; /* machine-readable: "not_found" */
	char			msg[256];
	enum store_outcome	outcome; /* set with status, never by hand */
};

/* Who is acting, for the audit trail. */
struct store_actor {
	const char	*kind;		/* token, cli, system */
	const char	*name;		/* token name or OS user */
	int64_t		 directory_id;	/* 0: global */
	const char	*request_id;	/* may be NULL */
};

/* A token just created: the secret exists only here and in the reply. */
struct store_new_token {
	char		secret[TOKEN_SECRET_LEN + 1];
	char		id[37];
	unsigned char	hash[TOKEN_HASH_LEN];
	char		directory[64];
	int64_t		directory_id;
	unsigned int	scopes;
	uint64_t	expires_ms;
	char		name[129];
};

/*
 * Fills err (status, code, a printf message) and derives its outcome
 * from status: 409 conflict, 400 invalid, anything else internal.
 * Returns -1, so a failing path can end "return (store_err_set(...))".
 */
int	store_err_set(struct store_err *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Runs the statement; 0, or -1 with err (status 503 when transient;
 * outcome STORE_RETRY for a serialisation failure or deadlock).
 */
int	store_exec(PGconn *, const char *sql, int n, const char *const *p,
	    PGresult **res, struct store_err *err);

/*
 * Makes store_exec on this thread fail (503 "cancelled") without
 * sending anything while *flag is non-zero; NULL stops watching.  The
 * flag is read atomically and may be set by another thread; it must
 * stay valid until the watch is stopped.
 */
void	store_cancel_watch(const int *flag);

int	store_begin(PGconn *, struct store_err *);
int	store_commit(PGconn *, struct store_err *);
void	store_rollback(PGconn *);

/*
 * The write protocol.  Every transaction that writes follows it, so the
 * lock order is the same everywhere (writers cannot deadlock on each
 * other's bookkeeping) and a serialisation failure is recognised and
 * retried in one place:
 *
 *  1. store_begin();
 *  2. lock and change rows, queueing a change record (changes.h) for
 *     everything the policy index holds, and a revocation event where
 *     access can be lost; on a failure here, store_rollback() and
 *     return err->outcome;
 *  3. return store_finish(): it flushes the records (takes the
 *     policy_state row), appends the audit entry (takes the audit chain
 *     head, sql/003_audit.sql: always in this order, and as late as
 *     possible, since both serialise every writer), and COMMITs; on any
 *     failure it rolls back.  A NOTIFY the write needs (store_notify)
 *     goes before it: notifications are delivered at COMMIT anyway.
 *
 * The whole transaction runs through store_txn_run(), which runs it
 * again, a bounded number of times after a short jittered sleep, while
 * it ends with STORE_RETRY.  So each attempt starts from scratch: it
 * drops what an earlier attempt queued or built.  A writer, in short:
 *
 *	static enum store_outcome
 *	rename_txn(PGconn *conn, void *arg)
 *	{
 *		struct rename_job	*job = arg;
 *		const char		*p[2] = { job->id, job->name };
 *
 *		store_changes_cleanup(&job->changes);
 *		store_changes_init(&job->changes, job->origin);
 *		if (store_begin(conn, &job->err) == -1)
 *			return (job->err.outcome);
 *		if (store_exec(conn, "UPDATE things SET name = $2 WHERE "
 *		    "id = $1", 2, p, NULL, &job->err) == -1) {
 *			store_rollback(conn);
 *			return (job->err.outcome);
 *		}
 *		store_changes_add(&job->changes, json_pack("{s:s, s:s, "
 *		    "s:s}", "kind", "thing", "id", job->id, "name",
 *		    job->name));
 *		return (store_finish(conn, &job->changes, job->actor,
 *		    job->actor->directory_id, "thing.rename", "Thing",
 *		    job->id, json_pack("{s:s}", "name", job->name),
 *		    &job->err));
 *	}
 *
 *	if (store_txn_run(conn, rename_txn, job) != STORE_OK)
 *		... job->err says why ...
 */
struct store_changes;

/*
 * Step 3 above, inside a transaction store_begin() opened: flushes
 * changes (NULL or empty: nothing to flush), audits action on
 * resource_type/resource_id in directory_id (0: global) with summary
 * (consumed; may be NULL), COMMITs.  STORE_OK, or, rolled back, the
 * outcome of what failed with err filled.
 */
enum store_outcome store_finish(PGconn *, struct store_changes *changes,
	    const struct store_actor *, int64_t directory_id,
	    const char *action, const char *resource_type,
	    const char *resource_id, json_t *summary, struct store_err *);

#define STORE_TXN_ATTEMPTS	3	/* runs of one transaction at most */

/*
 * Runs txn(conn, arg), a whole transaction (store_begin to store_finish
 * or store_rollback) that returns STORE_OK or the outcome of its
 * failure, again while it returns STORE_RETRY, up to STORE_TXN_ATTEMPTS
 * runs, sleeping a few jittered milliseconds (more after each attempt)
 * before each rerun so two colliding writers do not meet again.  The
 * error itself is txn's to keep (in arg).  Returns txn's last outcome.
 * Blocks: for the CLI and the server's database task threads only.
 */
enum store_outcome store_txn_run(PGconn *,
	    enum store_outcome (*txn)(PGconn *, void *), void *arg);

/* Appends an audit record (inside the caller's transaction). */
int	store_audit(PGconn *, const struct store_actor *, int64_t directory_id,
	    const char *action, const char *resource_type,
	    const char *resource_id, json_t *summary, struct store_err *);

/* NOTIFY rollcall with {"kind": kind} (delivered at commit). */
int	store_notify(PGconn *, const char *kind, struct store_err *);

/* Directory id by name (case-insensitive); -1 with 404 if unknown. */
int	store_directory_id(PGconn *, const char *name, int64_t *id,
	    char *canonical, size_t size, struct store_err *);

/* Creates a directory; *out is its JSON (caller decrefs). 409 if taken. */
int	store_directory_create(PGconn *, const struct store_actor *,
	    const char *name, json_t **out, struct store_err *);

/* All directories, or only directory_id when it is not 0. */
int	store_directory_list(PGconn *, int64_t directory_id, json_t **out,
	    struct store_err *);

/*
 * Creates a token for directory (NULL: global, admin scope only) with
 * scopes, label, and expiry in days (0: never).  Fills out, including
 * the secret; *json describes it without the secret.
 */
int	store_token_create(PGconn *, const struct store_actor *,
	    const char *directory, unsigned int scopes, const char *name,
	    int expires_days, struct store_new_token *out, json_t **json,
	    struct store_err *);

/* Tokens (never secrets nor hashes); only directory_id's when not 0. */
int	store_token_list(PGconn *, int64_t directory_id, json_t **out,
	    struct store_err *);

/*
 * Revokes a token now.  Only within directory_id when it is not 0.
 * 404 when unknown (or in another directory), 409 when already revoked.
 */
int	store_token_revoke(PGconn *, const struct store_actor *,
	    int64_t directory_id, const char *id, struct store_err *);

/* Number of tokens that are not revoked. */
int	store_token_count(PGconn *, long long *n, struct store_err *);

#endif
