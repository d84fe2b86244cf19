/*
 * audit_store: reading the hash-chained audit trail (sql/003_audit.sql
 * writes the chain; store_audit() appends), verifying the chain, and
 * the shared key that signs the admin API's cursors.  Blocking libpq,
 * for the server's task threads and rollcallctl alike.
 */
#ifndef RC_AUDIT_STORE_H
#define RC_AUDIT_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store.h"

#define AUDIT_STORE_LIMIT_MAX	1000

/* Filters of one page; NULL strings and 0 numbers mean "any". */
struct audit_query {
	int64_t		 directory_id;	/* 0: every directory (global) */
	const char	*from;		/* RFC 3339, inclusive */
	const char	*to;		/* RFC 3339, exclusive */
	const char	*actor;		/* exact */
	const char	*subject;	/* resource id, exact */
	const char	*type;		/* action, exact; "x.*" for a prefix */
	int		 ascending;	/* oldest first */
	int64_t		 after_id;	/* keyset: past this id in the order */
	int64_t		 max_id;	/* only ids up to this (export) */
	int		 limit;		/* 1..AUDIT_STORE_LIMIT_MAX */
};

/*
 * One page of records matching q, in id (chain) order.  *rows is a new
 * array the caller decrefs; *more is 1 when records follow the page.
 */
int	audit_store_list(PGconn *, const struct audit_query *q, json_t **rows,
	    int *more, struct store_err *);

/* The id of the newest record (0 when the log is empty). */
int	audit_store_last_id(PGconn *, int64_t *id, struct store_err *);

/*
 * Walks the whole chain in one snapshot.  *report (caller decrefs):
 * {"ok", "records", "head": {"id", "hash"}, "problem_count",
 *  "problems": [{"id", "kind", "message"}, ...first 20]}.  kind is
 * "altered" (content does not match its hash), "broken_link" (records
 * before it are missing or rewritten), "head_mismatch" (records after
 * the last one are missing).  Returns 0 whether or not the chain holds.
 */
int	audit_store_verify(PGconn *, json_t **report, struct store_err *);

/*
 * The cursor-signing key shared by every instance (table server_keys),
 * created on first use.  Copies CURSOR_KEY_LEN (32) bytes into key.
 */
int	audit_store_cursor_key(PGconn *, unsigned char *key,
	    struct store_err *);

#endif
