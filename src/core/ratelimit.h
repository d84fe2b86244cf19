/*
 * ratelimit: a token bucket that several processes share (it lives in
 * MAP_SHARED memory the caller provides; it holds no pointers).  Used
 * to bound work an unauthenticated client can cause, e.g. database
 * look-ups for bearer tokens the in-memory table does not know yet.
 *
 * Concurrency: a spinlock inside the bucket; the critical section is a
 * few arithmetic operations, so contention costs nothing measurable.
 */
#ifndef RC_RATELIMIT_H
#define RC_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint32_t	lock;
	uint32_t	rate_per_s;	/* refill */
	uint32_t	burst;		/* capacity */
	uint64_t	milli_tokens;	/* tokens x 1000 */
	uint64_t	last_ms;	/* time of the last refill */
};

/* Sets up b full, refilling rate_per_s tokens a second up to burst. */
void	ratelimit_init(struct ratelimit *b, uint32_t rate_per_s,
	    uint32_t burst, uint64_t now_ms);

/* Takes one token at time now_ms: 1 if there was one, 0 if refused. */
int	ratelimit_take(struct ratelimit *b, uint64_t now_ms);

#endif
