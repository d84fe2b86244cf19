/*
 * scim_patch: apply an RFC 7644 section 3.5.2 PatchOp body to a User or
 * Group document held in memory, in Microsoft Entra's dialects as well as
 * the RFC's (README, "What rollcall supports").
 *
 * The engine is all or nothing: it works on a deep copy and only touches
 * the caller's document once every operation has succeeded.
 *
 * Group members are never part of the document: a group can have far more
 * members than we want to hold in memory, so membership operations are
 * folded into a net change set (struct scim_patch_members) that the
 * caller applies to its member table inside one transaction:
 *
 *	if (clear)  delete every member of the group;
 *	delete the ids in "remove";
 *	insert the ids in "add" (ignoring ones already present).
 *
 * "add" and "remove" are disjoint, so the last two steps commute.  The set
 * is built in operation order: add X then remove X leaves X in "remove"
 * (X may have been a member before the request); remove X then add X
 * leaves X in "add"; remove-all (or replace) sets "clear", empties both
 * lists, and later operations start from an empty group.  Ids appear in
 * the order they were first named.
 */

#ifndef RC_SCIM_PATCH_H
#define RC_SCIM_PATCH_H

#include <stddef.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_schema.h"

/* Bounds on hostile input; exceeding them is a 4xx, never a crash. */
#define SCIM_PATCH_MAX_OPS	10000	/* Operations per request (413) */
#define SCIM_PATCH_MAX_MEMBERS	100000	/* member ids per request (413) */
#define SCIM_PATCH_MAX_MULTI	256	/* values of one multi-valued attr */
#define SCIM_PATCH_MAX_WORK	65536	/* element visits per request (413) */
#define SCIM_PATCH_MAX_PATH	4096	/* bytes in one path */
#define SCIM_PATCH_MAX_STRING	16384	/* bytes in one string value */
#define SCIM_PATCH_MAX_ID	512	/* bytes in one member id */

/* Net membership change; the strings are owned by the result. */
struct scim_patch_members {
	int		  clear;	/* remove every current member first */
	char		**add;
	size_t		  nadd;
	char		**remove;
	size_t		  nremove;
};

/*
 * What a successful PATCH did.  changed: the document differs (when 0
 * the caller can skip the write and keep meta.version).  members_changed:
 * the member change set is not empty (rows may still be no-ops in the
 * table).  identity_changed: userName, externalId or emails (the names
 * the policy index resolves a principal by).  access_changed: any of
 * active, members or identity changed, so cached decisions are stale.
 */
struct scim_patch_result {
	int				changed;
	int				members_changed;
	int				active_changed;
	int				active;		/* 1, 0; -1 unset */
	int				identity_changed;
	int				access_changed;
	struct scim_patch_members	members;
};

/* Zero a result; safe to pass to scim_patch_result_cleanup() afterwards. */
void	scim_patch_result_init(struct scim_patch_result *);

/* Free the member lists of a result and zero it again. */
void	scim_patch_result_cleanup(struct scim_patch_result *);

/*
 * Apply the PatchOp "body" (borrowed) to "resource", a normalised User or
 * Group document (see scim_schema_normalize), modified in place; the
 * "members" key of a Group is never read or written.  "res" is
 * initialised here and, on success, owns the member lists: the caller
 * calls scim_patch_result_cleanup() in every case.  Returns 0, or -1 with
 * "err" filled (400 + scimType, 413 over the limits above), "resource"
 * unchanged and "res" empty.  After a 500 (out of memory) "resource" may
 * be partly updated and must be discarded.
 */
int	scim_patch_apply(enum scim_resource, json_t *resource,
	    const json_t *body, struct scim_patch_result *res,
	    struct scim_err *err);

#endif /* RC_SCIM_PATCH_H */
