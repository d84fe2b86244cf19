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

struct store_err {
	int	status;			/* 400, 404, 409, 500, 503 */
	char	code[32];		/* machine-readable: "not_found" */
	char	msg[256];
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

/* Runs the statement; 0, or -1 with err (status 503 when transient). */
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
