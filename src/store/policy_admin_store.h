/*
 * policy_admin_store: the SQL behind the admin API's policy model:
 * MCP servers and their tools (global), and, per directory, rules,
 * just-in-time grants and service principals.  Blocking libpq, for the
 * server's task threads.
 *
 * Every write validates its input (400 with a message for the client),
 * runs in one transaction, queues the change records of changes.h in
 * the caller's batch (plus revocation events where access can be lost:
 * rule.changed, grant.revoked, grant.expired, principal.suspended),
 * flushes them, appends its audit entry last, and commits.  Objects
 * come back as JSON built by PostgreSQL, the same shape for one object
 * and for lists.
 */
#ifndef RC_POLICY_ADMIN_STORE_H
#define RC_POLICY_ADMIN_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "changes.h"
#include "store.h"

#define POLICY_ADMIN_IMPORT_MAX	10000	/* tools per tools/list import */
#define POLICY_ADMIN_LIST_MAX	5000	/* rows per list answer */

enum policy_admin_entity {
	PA_SERVER,
	PA_TOOL,
	PA_RULE,
	PA_GRANT,
	PA_SP
};

enum policy_admin_op {
	PA_LIST,
	PA_GET,
	PA_CREATE,
	PA_UPDATE,
	PA_DELETE,
	PA_IMPORT,		/* tools: a tools/list result */
	PA_APPROVE,		/* grants: the state machine */
	PA_DENY,
	PA_ACTIVATE,
	PA_REVOKE
};

/*
 * One admin operation.  key is the server slug, rule/grant/SP id; sub
 * the tool name.  query holds list filters (rules: server, subject;
 * grants: state, principal; may be NULL).  body is the request (may be
 * NULL).  Everything is borrowed.  The caller owns changes (init'd).
 */
struct policy_admin_req {
	enum policy_admin_entity	 entity;
	enum policy_admin_op		 op;
	const struct store_actor	*actor;	/* directory_id 0: global */
	const char			*key;
	const char			*sub;
	const json_t			*query;
	const json_t			*body;
	struct store_changes		*changes;
};

/*
 * Runs rq, in one transaction for a write, run again (store_txn_run)
 * when a serialisation failure or deadlock aborted it; changes holds
 * the records of the run that committed.  0 with *out (a new reference
 * the caller decrefs; NULL for deletes), or -1 with err (400 invalid
 * input, 403 wrong directory or not global, 404, 409 state or name
 * conflict, 503 with outcome STORE_RETRY after the last attempt).
 */
int	policy_admin_run(PGconn *, struct policy_admin_req *rq, json_t **out,
	    struct store_err *err);

/*
 * Marks approved grants whose expires_at has passed as expired (at most
 * a few hundred per call; rows locked by others are skipped), queuing a
 * grant record and a grant.expired event each, and commits (run again
 * after a serialisation failure).  *count is how many expired.  0, or
 * -1 with err.
 */
int	policy_admin_expire_grants(PGconn *, const struct store_actor *,
	    struct store_changes *, int *count, struct store_err *err);

/*
 * The MCP annotations of a tools/list entry as a risk label ("low" when
 * readOnlyHint, "high" when destructiveHint, "consequential" for an
 * explicitly non-destructive open-world tool, else "normal") and
 * labels ("mcp:read-only", "mcp:destructive", "mcp:idempotent",
 * "mcp:open-world" for each hint that is true).  *labels is a new array.
 */
const char	*policy_admin_risk_of(const json_t *annotations,
		    json_t **labels);

#endif
