/*
 * principal_store: the kill switch, shared by the admin API and
 * rollcallctl: deny everything for one principal now, whatever Entra
 * says, and cancel its just-in-time grants; or undo that.
 */
#ifndef RC_PRINCIPAL_STORE_H
#define RC_PRINCIPAL_STORE_H

#include <libpq-fe.h>

#include "changes.h"
#include "store.h"

/*
 * In one transaction: sets (revoke 1) or clears (0) the kill switch of
 * the user or service principal id within actor->directory_id (0: any
 * directory), revokes its requested and approved grants when revoking,
 * queues the change records and revocation events into changes, flushes
 * them, audits, commits (run again after a serialisation failure, with
 * changes emptied first).  *ngrants is the number of grants revoked.
 * 0, or -1 with err (404 when no such principal).
 */
int	principal_store_revoke_all(PGconn *, const struct store_actor *,
	    const char *id, int revoke, struct store_changes *, int *ngrants,
	    struct store_err *);

#endif
