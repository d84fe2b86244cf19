/*
 * feed_store: the SQL behind the gateway feeds (GET /v1/revocations,
 * /v1/policy/changes, /v1/policy/snapshot, /v1/stream) and their
 * retention.
 *
 * Reads run in one REPEATABLE READ, READ ONLY transaction, so the
 * policy version they report and the rows they return are one
 * snapshot.  Versions are gapless and committed in order (see
 * sql/001_model.sql), so "every row up to the version read" is exact.
 * What is retained: every version after the floor, where the floor is
 * the version just below the oldest policy_changes row (or the current
 * version when there is none); older cursors get 410.
 *
 * Scoping: directory_id 0 means every directory; otherwise rows that
 * belong to another directory are left out (rows without a directory,
 * such as MCP servers and tools, are everyone's).
 */
#ifndef RC_FEED_STORE_H
#define RC_FEED_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "sse.h"
#include "store.h"

/* One page of a feed. */
struct feed_page {
	int64_t			 db_version;	/* policy_state in the snapshot */
	int64_t			 floor;		/* oldest resumable version */
	json_t			*items;		/* array, owned */
	struct sse_cursor	 next;		/* resume after this page */
	int			 more;		/* more is already there */
};

/* Releases page->items. */
void	feed_page_cleanup(struct feed_page *);

/*
 * Revocation events after cursor (NULL: from the oldest retained),
 * at most limit, in (policy_version, idx) order.  Items are
 * {"cursor", "policy_version", "idx", "at", "kind", "directory_id",
 * "principal", "detail"}.  0, or -1 with err: 400 cursor_ahead when the
 * cursor is past the database, 410 gone when it is below the floor.
 */
int	feed_store_revocations(PGconn *, int64_t directory_id,
	    const struct sse_cursor *after, int limit, struct feed_page *,
	    struct store_err *);

/*
 * Policy changes of versions since+1 .. since+limit (and at most the
 * current version).  Items are {"version", "at", "records": [...]},
 * one per version that has records visible to directory_id; next is
 * (last version covered, SSE_IDX_END).  Errors as for revocations.
 */
int	feed_store_changes(PGconn *, int64_t directory_id, int64_t since,
	    int limit, struct feed_page *, struct store_err *);

/*
 * What /v1/stream sends after position after: revocation events (at
 * most limit) and the policy change events they interleave with, in
 * position order; items are {"type": "revocation"|"policy", "cursor",
 * "data": {...}}.  Errors as for revocations.
 */
int	feed_store_stream(PGconn *, int64_t directory_id,
	    const struct sse_cursor *after, int limit, struct feed_page *,
	    struct store_err *);

/*
 * Everything a gateway needs to decide like this server, as one JSON
 * document (the text is malloc'd: caller frees), read in one snapshot;
 * *version is its policy version.  nest_depth is the index's nesting
 * limit (group_nesting_depth): principals' groups are followed as far.
 * 0, or -1 with err.
 */
int	feed_store_snapshot(PGconn *, int64_t directory_id, int nest_depth,
	    char **text, int64_t *version, struct store_err *);

/*
 * Retention: deletes policy changes of versions that are both more than
 * keep_versions behind the current one and older than keep_days, and
 * the revocation events of those versions except each principal's
 * latest (decisions report it as the subject epoch).  Fills the counts.
 * 0, or -1 with err.
 */
int	feed_store_prune(PGconn *, int64_t keep_versions, int keep_days,
	    long long *changes_deleted, long long *events_deleted,
	    struct store_err *);

#endif
