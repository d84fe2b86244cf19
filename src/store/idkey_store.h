/*
 * idkey_store: the stored identity keys of users (sql/004): computing
 * them from a user document for a write, and filling the rows that have
 * none (rollcallctl migrate).  The key itself is idkey.h's.
 */
#ifndef RC_IDKEY_STORE_H
#define RC_IDKEY_STORE_H

#include <jansson.h>
#include <libpq-fe.h>

#include "store.h"

/*
 * The keys of a user document: *name_key gets the userName's key (NULL
 * when the document has no string userName) and *emails_key a JSON
 * array text with one entry per element of doc.emails, in order: the
 * key of its string "value", or null.  Both are the caller's to free.
 * 0, or -1 with *what naming the attribute ("userName",
 * "emails[2].value") and *why (idkey_strerror) when a value cannot be
 * keyed; nothing is allocated then.
 */
int	idkey_store_user_keys(const json_t *doc, char **name_key,
	    char **emails_key, char *what, size_t whatsz, const char **why);

/*
 * Computes and stores the keys of every user row whose user_name_key or
 * emails_key is NULL, inside the caller's transaction (rows are locked
 * as they are updated).  *n gets the number of rows keyed.  0, or -1
 * with err: 409 when two live users of one directory now share a key
 * (err->msg names them), 400 when a stored value cannot be keyed.
 */
int	idkey_store_backfill(PGconn *, long *n, struct store_err *);

#endif
