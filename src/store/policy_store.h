/*
 * policy_store: builds the in-memory policy index from PostgreSQL, and
 * applies change records (see changes.h) to an index.  Used by the
 * server's parent at start (before it forks), by a worker that must
 * rebuild after falling behind, and by tests.
 */
#ifndef RC_POLICY_STORE_H
#define RC_POLICY_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "policy.h"
#include "store.h"

/* Directory names and ids, for subjects that name a directory. */
struct policy_dirs {
	json_t	*by_name;	/* lower(name) -> id (string) */
};

/*
 * Loads everything decisions need, in one consistent snapshot, into a
 * new index (caller frees with policy_free) whose version is the
 * snapshot's policy version.  dirs is filled (caller frees with
 * policy_dirs_cleanup).  A row the index refuses (e.g. written by an
 * older rollcall before the one rule of policy.h) does not fail the
 * load: the principal it concerns is quarantined (list them with
 * policy_quarantine_each).  0, or -1 with err (database, memory).
 */
int	policy_store_load(PGconn *, struct policy_index **,
	    struct policy_dirs *, struct store_err *);

void	policy_dirs_cleanup(struct policy_dirs *);

/* The index's directory string (the id, in decimal) for a directory
 * named by name or by id; NULL if unknown. Borrowed from dirs. */
const char	*policy_dirs_resolve(const struct policy_dirs *, const char *);

/*
 * Last-writer-wins bookkeeping for records newer than the index's base
 * version, so records applied out of order, or twice, change nothing.
 */
struct policy_lww;

struct policy_lww	*policy_lww_new(void);
void			 policy_lww_free(struct policy_lww *);

/* Why policy_store_apply refused a record, for the caller's log. */
struct policy_refusal {
	char	kind[32];			/* the record's kind */
	char	principal[POLICY_ID_MAX + 1];	/* quarantined, or "" */
	char	msg[128];
	int	quarantined;			/* principal was quarantined */
	long	subjects;	/* >0: a group's or everyone's rule quarantined
				 * that many; principal then describes them */
};

/*
 * Applies one change record to idx (and dirs).  Records at or below
 * base (the version the index was loaded at), or not newer in (version,
 * seq) order than what was applied to the same entity, are skipped.
 * Returns 0 when applied or skipped, -1 when the record is malformed or
 * the index refused it: then the principal it concerns (a user's or
 * service principal's own record, a membership's user, a kill switch's
 * or a rule's principal) is quarantined (policy.h), never left in its
 * previous state, and ref (may be NULL) says what happened.
 */
int	policy_store_apply(struct policy_index *, struct policy_dirs *,
	    struct policy_lww *, uint64_t base, const json_t *record,
	    struct policy_refusal *ref);

#endif
