/*
 * changes: how a committed write reaches every decision.
 *
 * A transaction that changes policy-relevant state (users, groups,
 * memberships, service principals, servers, tools, rules, grants, kill
 * switches) collects change records while it works, then, right before
 * COMMIT, calls store_changes_flush(): that takes the next global policy
 * version (gapless, committed in order: see sql/001_model.sql), writes
 * the records to policy_changes and any revocation events, and NOTIFYs
 * channel "rollcall" so other instances apply them too.  After COMMIT
 * the server hands the same records to every worker's in-memory index
 * before it answers the client (svc_changes_publish in the glue).
 *
 * Records are JSON objects with a "kind" and the entity's full new state,
 * so applying one twice, or after a newer one, is harmless:
 *   {"kind":"user", "id", "directory_id", "userName", "externalId",
 *    "emails":[...], "roles":[app role values], "active", "deleted"}
 *   {"kind":"group", "id", "directory_id", "displayName", "deleted"}
 *   {"kind":"member", "group", "user", "present": true|false}
 *   {"kind":"nest", "group", "member" (a group), "present": true|false}
 *   {"kind":"sp", "id", "directory_id", "name", "appId", "owner",
 *    "active", "deleted"}
 *   {"kind":"server", "slug", "deleted"}
 *   {"kind":"tool", "server", "name", "risk", "labels":[...], "deleted"}
 *   {"kind":"rule", "id", "directory_id", "subject_kind", "subject_id"
 *    (for subject_kind "role": the role value),
 *    "server", "selector", "effect", "max_grant_s", "deleted"}
 *   {"kind":"grant", "id", "principal", "server", "selector",
 *    "not_before_ms", "expires_at_ms", "state"}
 *   {"kind":"revoked_all", "principal", "revoked": true|false}
 *   {"kind":"directory", "directory_id", "name"}
 *   {"kind":"version"}  (a version with nothing else, e.g. a token revoked)
 * store_changes_flush() adds "version" and "seq" (the record's position
 * in the commit; records of one commit apply in seq order, so the last
 * record about an entity wins) to each record, and stamps every
 * principal named in a revocation event with that version as its new
 * subject epoch ({"kind":"epoch", "principal", "epoch"}).
 */
#ifndef RC_STORE_CHANGES_H
#define RC_STORE_CHANGES_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store.h"

struct store_changes {
	int64_t		 version;	/* set by store_changes_flush() */
	json_t		*records;	/* array, owned */
	json_t		*revocations;	/* array, owned */
	char		 origin[64];	/* instance that made the change */
};

/* Prepares an empty batch made by instance origin. */
void	store_changes_init(struct store_changes *, const char *origin);

/* Frees the batch's records. */
void	store_changes_cleanup(struct store_changes *);

/*
 * Drops every record and event queued so far, keeping the origin: for
 * a transaction that rolled back and runs again (store_txn_run).
 */
void	store_changes_reset(struct store_changes *);

/* Appends a change record; consumes rec (may be NULL on OOM: ignored). */
void	store_changes_add(struct store_changes *, json_t *rec);

/*
 * Queues a revocation event (user.disabled, user.deleted,
 * membership.removed, grant.revoked, grant.expired, principal.suspended,
 * principal.revoked, rule.changed).  principal may be NULL.  detail is
 * consumed (may be NULL).
 */
void	store_changes_revoke(struct store_changes *, int64_t directory_id,
	    const char *kind, const char *principal, json_t *detail);

/* 1 when the batch holds anything to flush. */
int	store_changes_pending(const struct store_changes *);

/*
 * Inside the caller's transaction, as its last step before COMMIT:
 * takes the next policy version, writes records and revocation events,
 * and NOTIFYs.  Does nothing when the batch is empty.  0 or -1 with err.
 */
int	store_changes_flush(PGconn *, struct store_changes *,
	    struct store_err *);

#endif
