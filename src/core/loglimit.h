/*
 * loglimit: a rate limit for repeated log lines, per kind.
 *
 * When the database is away, a client that retries without backoff
 * makes every request fail the same way, and one error line per
 * failure floods the log (issue 9: 115,000 lines in 12 s).  Each kind
 * of line (its caller chooses the key: a format string, a route and a
 * status) may pass `burst` times per interval; further lines of that
 * kind are counted instead, and reported as one summary ("suppressed N
 * similar") when the kind's next interval begins, either on its next
 * line (loglimit_check) or from a periodic sweep (loglimit_expired).
 * Metrics are not the limiter's business: callers count before asking.
 *
 * Pure and single-threaded: the caller supplies the time and any lock.
 * The table has a fixed number of kinds; kinds beyond it share one
 * overflow slot, so memory stays bounded however many kinds appear.
 */
#ifndef RC_LOGLIMIT_H
#define RC_LOGLIMIT_H

#include <stddef.h>
#include <stdint.h>

#define LOGLIMIT_KINDS		64	/* including the overflow slot */
#define LOGLIMIT_KIND_MAX	96	/* bytes kept of a kind's key */

struct loglimit_slot {
	char		kind[LOGLIMIT_KIND_MAX];
	uint64_t	window_ms;	/* start of the current interval */
	uint64_t	suppressed;	/* not yet reported */
	uint32_t	passed;		/* lines let through this interval */
	int		used;
};

/* Owned by its caller (typically one static per process); no heap. */
struct loglimit {
	uint32_t		burst;
	uint64_t		interval_ms;
	struct loglimit_slot	slot[LOGLIMIT_KINDS];
};

/* burst lines per kind per interval_ms (both at least 1). */
void	loglimit_init(struct loglimit *, uint32_t burst, uint64_t interval_ms);

/*
 * Whether a line of this kind (a NUL-terminated key, compared on its
 * first LOGLIMIT_KIND_MAX - 1 bytes) may be written at now_ms: 1 to
 * write it, 0 when it is suppressed (and counted).  *summary is set to
 * the number of lines of this kind suppressed in earlier intervals and
 * not yet reported (write a summary line for them first), else 0.
 */
int	loglimit_check(struct loglimit *, const char *kind, uint64_t now_ms,
	    uint64_t *summary);

/*
 * For a periodic sweep: finds one kind whose interval has ended with
 * suppressed lines unreported, copies its key into kind (kindsz bytes,
 * truncated, NUL-terminated), sets *n, marks them reported and returns
 * 1; returns 0 when there is none.  Call until it returns 0.
 */
int	loglimit_expired(struct loglimit *, uint64_t now_ms, char *kind,
	    size_t kindsz, uint64_t *n);

/* Lines suppressed and not yet reported, over every kind. */
uint64_t	loglimit_pending(const struct loglimit *);

#endif
