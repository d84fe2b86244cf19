/*
 * feeds.h: the hooks by which the policy glue wakes the gateway feeds
 * (http_feeds.c): long-polls and Server-Sent Events streams sleep
 * until this worker's policy index moves past what they have sent.
 */
#ifndef RC_FEEDS_H
#define RC_FEEDS_H

#include <stdint.h>

/* Kore message id of the "changes were appended" nudge (201-255). */
#define FEEDS_MSG_NUDGE		231

/* Per worker, from kore_worker_configure: message id, timers. */
void	feeds_worker_init(void);

/* This worker's index now stands at version v (event loop only). */
void	feeds_policy_advanced(uint64_t v);

/*
 * Change records were appended to the shared ring: make every worker
 * apply them soon (a coalesced kore_msg broadcast), so that sleeping
 * feeds wake in milliseconds, not on the next 100 ms sync tick.
 */
void	feeds_changes_appended(void);

#endif
