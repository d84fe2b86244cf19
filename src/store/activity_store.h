/*
 * activity_store: the activity counts in PostgreSQL (sql/007_activity.sql)
 * that every worker flushes its in-memory table into, and the overview
 * that GET /admin/v1/activity answers from them.
 */
#ifndef RC_ACTIVITY_STORE_H
#define RC_ACTIVITY_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "activity.h"
#include "store.h"

/* Seconds without a SCIM request after which a job is flagged quiet. */
#define ACTIVITY_QUIET_S	(2 * 40 * 60)	/* two Entra cycles */

/*
 * Adds everything in a (borrowed) to the tables in one transaction:
 * counts are summed into existing rows, last-request times only move
 * forward, rows for directories deleted meanwhile are skipped.  With
 * prune set, rows older than two days are deleted too.  0, or -1 with
 * err (nothing was written: the caller may keep a and try again).
 */
int	activity_store_flush(PGconn *, const struct activity *a, int prune,
	    struct store_err *err);

/*
 * The overview of every directory in scope (directory_id 0: all), as
 * a new JSON array the caller owns in *out: per directory its name,
 * SCIM health (last request, quiet flag, 24 hourly buckets, errors by
 * kind), 60 minute buckets of decisions, denies by reason and the
 * kill switches in force.  quiet_s is the threshold for the flag.
 */
int	activity_store_overview(PGconn *, int64_t directory_id, int quiet_s,
	    json_t **out, struct store_err *err);

#endif
