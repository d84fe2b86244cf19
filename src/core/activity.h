/*
 * activity: counts of what a worker answered, per directory and time
 * bucket, for the console's overview (GET /admin/v1/activity): SCIM
 * requests per hour by outcome, the time of the last SCIM request, and
 * policy decisions per minute by outcome and reason.
 *
 * Each worker keeps one table in its own memory and adds to it on the
 * request path: one hash probe in a fixed array, no allocation, no
 * lock, no failure the caller must handle (a full table drops the
 * observation and counts it in `dropped`).  Every few seconds the glue
 * takes the table (activity_take) and adds it to PostgreSQL with an
 * upsert, so the counts survive restarts and every instance sees the
 * same sums; a flush that fails is put back (activity_merge).
 *
 * Pure and single-threaded: the caller supplies the time.
 */
#ifndef RC_ACTIVITY_H
#define RC_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#define ACTIVITY_CELLS		512	/* distinct (dir, series, bucket, kind) */
#define ACTIVITY_DIRS		64	/* directories with a last-seen time */
#define ACTIVITY_KIND_MAX	40	/* bytes of a kind, with NUL */

enum activity_series {
	ACTIVITY_SCIM = 0,		/* hourly buckets */
	ACTIVITY_DECISION		/* minute buckets */
};

struct activity_cell {
	int64_t		directory_id;	/* 0: free slot */
	int64_t		bucket_s;	/* start of the bucket, Unix seconds */
	uint64_t	n;
	uint8_t		series;
	char		kind[ACTIVITY_KIND_MAX];
};

struct activity_mark {
	int64_t		directory_id;	/* 0: free slot */
	int64_t		at_ms;
};

/* Owned by its caller (one static per worker); no heap. */
struct activity {
	struct activity_cell	cell[ACTIVITY_CELLS];
	struct activity_mark	last[ACTIVITY_DIRS];
	size_t			used;		/* cells in use */
	uint64_t		dropped;	/* observations lost to a full table */
};

void	activity_init(struct activity *);

/* 1 when nothing is waiting to be flushed. */
int	activity_empty(const struct activity *);

/*
 * Adds n to (directory_id, series, the bucket holding now_ms, kind).
 * kind is a short label (an HTTP status, "ok", "allow", a reason code),
 * kept on its first ACTIVITY_KIND_MAX - 1 bytes.  directory_id must be
 * positive.  Returns 0, or -1 when the observation was dropped
 * (invalid input, or the table is full: counted in dropped).
 */
int	activity_add(struct activity *, enum activity_series,
	    int64_t directory_id, int64_t now_ms, const char *kind, uint64_t n);

/* A SCIM request for directory_id at at_ms: counted as "ok" or kind. */
int	activity_scim(struct activity *, int64_t directory_id, int64_t at_ms,
	    int status);

/* Records at_ms as the directory's last SCIM request if it is later. */
int	activity_seen(struct activity *, int64_t directory_id, int64_t at_ms);

/* The bucket start (Unix seconds) of series for now_ms. */
int64_t	activity_bucket(enum activity_series, int64_t now_ms);

/* The label activity_scim counts a status under ("ok", "404", "5xx"). */
const char *activity_scim_kind(int status, char *buf, size_t size);

/* Moves everything in a into out (which it overwrites) and empties a. */
void	activity_take(struct activity *a, struct activity *out);

/*
 * Adds everything in from back into a (a flush that failed); what no
 * longer fits is counted in a->dropped.
 */
void	activity_merge(struct activity *a, const struct activity *from);

/* "scim" or "decision". */
const char *activity_series_str(enum activity_series);

#endif
