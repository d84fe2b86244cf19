/*
 * decision_stats: Prometheus counts of decisions by endpoint, outcome
 * and reason code, and a decision latency histogram by endpoint, in
 * memory shared by every worker (like metrics.h: single atomic adds,
 * lock-free reads).  Pure C.
 *
 *   rollcall_decisions_total{endpoint,decision,reason_code}
 *   rollcall_decision_duration_seconds{endpoint} (histogram)
 *
 * Labels come from fixed lists so the series stay bounded whatever a
 * caller sends: an endpoint or reason code not listed is counted as
 * "other".
 */
#ifndef RC_DECISION_STATS_H
#define RC_DECISION_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct decision_stats;

/* Bytes of shared memory the tables need. */
size_t	decision_stats_size(void);

/* Formats mem (decision_stats_size() bytes, zeroed or not). */
struct decision_stats	*decision_stats_init(void *mem);

/*
 * Counts one decision.  endpoint and reason_code are matched against
 * the fixed lists (anything else: "other"); latency_us is from the
 * request's start to the decision.
 */
void	decision_stats_count(struct decision_stats *, const char *endpoint,
	    int allow, const char *reason_code, uint64_t latency_us);

/* The count of one series (tests; "other" names the catch-all). */
uint64_t	decision_stats_get(const struct decision_stats *,
		    const char *endpoint, int allow, const char *reason_code);

/*
 * Appends both families (HELP and TYPE before their samples; series
 * never counted are left out) to sb.
 */
void	decision_stats_render(const struct decision_stats *,
	    struct strbuf *sb);

#endif
