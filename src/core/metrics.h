/*
 * metrics: Prometheus counters and latency histograms in memory shared
 * by every worker, so /metrics on any worker reports the whole
 * instance.  Updates are single atomic adds; rendering reads without
 * locks (counters are monotonic, a scrape may see one in-flight
 * request half counted, which Prometheus tolerates).
 *
 * Routes are a fixed list of labels given at init (the route table of
 * the server), statuses a fixed list of codes plus "other".
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

/* Plain counters; later subsystems append theirs before METRIC_COUNT. */
enum metric_counter {
	METRIC_DB_ERRORS,
	METRIC_TOKEN_FAILURES_UNKNOWN,
	METRIC_TOKEN_FAILURES_EXPIRED,
	METRIC_TOKEN_FAILURES_REVOKED,
	METRIC_TOKEN_FAILURES_MALFORMED,
	METRIC_TOKEN_FAILURES_SCOPE,
	METRIC_WORKER_STARTS,
	METRIC_NOTIFY_RECEIVED,
	METRIC_DB_JOBS_ABANDONED,	/* client left before its job ended */
	METRIC_DB_CANCELS_SENT,		/* PQcancel for such a job */
	METRIC_REFUSED_DUPLICATE_HEADER,
	METRIC_LOG_SUPPRESSED,
	METRIC_POLICY_REFUSED,		/* records/rows the index refused */
	METRIC_TOKEN_LOOKUPS_FOUND,
	METRIC_TOKEN_LOOKUPS_UNKNOWN,
	METRIC_TOKEN_LOOKUPS_LIMITED,
	METRIC_LISTENER_LOSSES,
	METRIC_POLICY_STALE_DENIALS,
	METRIC_ANTIENTROPY_CHECKS,
	METRIC_ANTIENTROPY_SKIPPED,
	METRIC_ANTIENTROPY_MISMATCHES,
	METRIC_LOG_REOPEN_FAILURES,	/* decision_log_path after SIGHUP */
	METRIC_LOG_WRITE_FAILURES,	/* log writes that failed, dropped */
	METRIC_POLICY_NEST_EXCEEDED,	/* denied: group chain too deep */
	METRIC_ENTRA_VERIFIED,		/* signature checked, valid */
	METRIC_ENTRA_CACHE_HITS,	/* valid from the cache, no check */
	METRIC_ENTRA_REFUSED,		/* invalid tokens, any reason */
	METRIC_ENTRA_UNBOUND,		/* tokens for an unbound directory */
	METRIC_ENTRA_KID_REFRESHES,	/* key refreshes asked by a kid */
	METRIC_ENTRA_KID_LIMITED,	/* ... refused by the rate limit */
	METRIC_ENTRA_FETCH_OK,
	METRIC_ENTRA_FETCH_FAILED,
	METRIC_SUBJECT_CONFLICTS,	/* header and body name others */
	METRIC_COUNT
};

#define METRICS_ROUTES_MAX	96

/* Bytes of shared memory for nroutes routes. */
size_t		 metrics_size(size_t nroutes);

/*
 * Formats mem (metrics_size() bytes).  routes is a static list of route
 * labels that must stay valid and identical in every process (it is
 * not copied into the shared region).
 */
struct metrics	*metrics_init(void *mem, const char *const *routes,
		    size_t nroutes);

/* Re-attaches the route labels in a process that inherited mem. */
void		 metrics_attach(struct metrics *, const char *const *routes);

/* Index of a route label, or the last route ("other") if unknown. */
size_t		 metrics_route_index(const struct metrics *, const char *);

/* Counts one request on route index r with status and duration. */
void		 metrics_observe(struct metrics *, size_t r, int status,
		    uint64_t duration_us);

void		 metrics_add(struct metrics *, enum metric_counter, uint64_t);

/* The current value of a counter. */
uint64_t	 metrics_get(const struct metrics *, enum metric_counter);


/*
 * Renders the Prometheus text exposition into a malloc'd string the
 * caller frees; extra (may be NULL) is appended verbatim.  NULL on
 * allocation failure.
 */
char		*metrics_render(const struct metrics *, const char *extra);

#endif
