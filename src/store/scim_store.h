/*
 * scim_store: the SQL behind /scim/v2/Users and /scim/v2/Groups, written
 * against blocking libpq (the server's database task threads).
 *
 * A stored resource is the normalised document (scim_schema_normalize)
 * in the "doc" column, without id, meta, password, the users' "groups"
 * and the groups' "members": those come from columns and from the
 * memberships table, so a 10,000-member group never travels as one JSON
 * value.  The columns Entra matches on (user_name, external_id,
 * display_name, emails_lc, active) are derived from doc by the same
 * statement that writes it, so they cannot drift apart.
 *
 * Every function is scoped to one directory, runs its own transaction
 * (BEGIN ... COMMIT), records an audit entry for every write, and puts
 * the change records and revocation events that can alter a decision in
 * the caller's batch, flushed as the last step before COMMIT.  A write
 * that changes nothing commits nothing and flushes nothing.
 */
#ifndef RC_SCIM_STORE_H
#define RC_SCIM_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "changes.h"
#include "scim_error.h"
#include "scim_schema.h"
#include "store.h"

/* What every call needs to know about its caller. */
struct scim_store_req {
	const struct store_actor	*actor;
	int64_t				 directory_id;
	const char			*base;	/* ".../scim/v2" */
	struct store_changes		*changes; /* flushed at COMMIT */
	const char			*if_match; /* NULL: none */
	int				 retry;	/* out: run again */
};

/* A list query; where/params come from scim_filter_to_sql (from $2). */
struct scim_store_query {
	const char			*where;	/* NULL: everything */
	const char *const		*params;
	size_t				 nparams;
	const struct scim_attr_ref	*sort;	/* NULL: created, id */
	int				 descending;
	long				 start;	/* 1-based */
	long				 count;	/* 0: total only */
	int				 with_refs; /* members, groups */
};

/*
 * All calls return 0, or -1 with err filled: 400/404/409/412 for the
 * client, 503 when the database is unreachable, 500 otherwise.  When a
 * serialisation failure or deadlock aborted the transaction, rq->retry
 * is set: reset rq->changes and call again (store_txn_run, store.h).
 * Writes follow the write protocol of store.h.  Resources handed back in
 * *out are new references the caller json_decref()s.
 */

/* One live resource by id, with members/groups when with_refs. */
int	scim_store_get(PGconn *, struct scim_store_req *, enum scim_resource,
	    const char *id, int with_refs, json_t **out, struct scim_err *);

/* A page of resources (*out: array) and the number that match. */
int	scim_store_list(PGconn *, struct scim_store_req *,
	    enum scim_resource, const struct scim_store_query *, json_t **out,
	    long *total, struct scim_err *);

/*
 * Creates a resource from a normalised document (borrowed; a group's
 * "members" become memberships).  409 uniqueness on a taken userName or
 * group displayName, 400 for members naming no user of the directory.
 */
int	scim_store_create(PGconn *, struct scim_store_req *,
	    enum scim_resource, const json_t *doc, json_t **out,
	    struct scim_err *);

/* PUT: replaces the resource (keeps id and created; members replaced). */
int	scim_store_replace(PGconn *, struct scim_store_req *,
	    enum scim_resource, const char *id, const json_t *doc,
	    json_t **out, struct scim_err *);

/*
 * PATCH: applies the PatchOp body (borrowed) with scim_patch_apply on
 * the row locked FOR UPDATE, members set-based, all in one transaction.
 * *out is the resource afterwards when want_out (else NULL).
 */
int	scim_store_patch(PGconn *, struct scim_store_req *,
	    enum scim_resource, const char *id, const json_t *body,
	    int want_out, json_t **out, struct scim_err *);

/* DELETE: tombstones the resource and removes its memberships. */
int	scim_store_delete(PGconn *, struct scim_store_req *,
	    enum scim_resource, const char *id, struct scim_err *);

#endif
