/*
 * ratelimit: see ratelimit.h.
 */
#include "ratelimit.h"

static void
lock(struct ratelimit *b)
{
	while (__atomic_exchange_n(&b->lock, 1, __ATOMIC_ACQUIRE) != 0)
		;
}

static void
unlock(struct ratelimit *b)
{
	__atomic_store_n(&b->lock, 0, __ATOMIC_RELEASE);
}

void
ratelimit_init(struct ratelimit *b, uint32_t rate_per_s, uint32_t burst,
    uint64_t now_ms)
{
	b->lock = 0;
	b->rate_per_s = rate_per_s;
	b->burst = burst;
	b->milli_tokens = (uint64_t)burst * 1000;
	b->last_ms = now_ms;
}

int
ratelimit_take(struct ratelimit *b, uint64_t now_ms)
{
	uint64_t	cap;
	int		ok;

	lock(b);
	cap = (uint64_t)b->burst * 1000;
	/* A clock that went back refills nothing. */
	if (now_ms > b->last_ms) {
		b->milli_tokens += (now_ms - b->last_ms) * b->rate_per_s;
		if (b->milli_tokens > cap)
			b->milli_tokens = cap;
		b->last_ms = now_ms;
	}
	ok = b->milli_tokens >= 1000;
	if (ok)
		b->milli_tokens -= 1000;
	unlock(b);

	return (ok);
}
