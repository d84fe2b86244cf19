/*
 * decision_stats: decision counters and latency (see decision_stats.h).
 */
#include <string.h>

#include "decision_stats.h"

/* The decision endpoints; the last is the catch-all. */
static const char *const	endpoints[] = {
	"authorize", "authorize_batch", "tools_filter", "session_check",
	"authzen", "opa", "ext_authz", "other",
};
#define NENDPOINTS	(sizeof(endpoints) / sizeof(endpoints[0]))

/*
 * Every reason_code an endpoint answers with (policy.h's, and the
 * protocol glue's own); the last is the catch-all.
 */
static const char *const	reasons[] = {
	"allowed_by_rule", "allowed_by_grant", "principal_active",
	"principal_unknown", "principal_inactive", "principal_revoked",
	"owner_inactive", "tool_unknown", "denied_by_rule",
	"elevation_required", "no_matching_rule", "internal_error",
	"principal_unavailable", "policy_stale", "unsupported_request",
	"subject_missing", "server_mismatch", "tool_missing",
	"tool_mismatch", "body_unreadable", "invalid_request", "other",
};
#define NREASONS	(sizeof(reasons) / sizeof(reasons[0]))

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t	bucket_us[] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000,
};
#define NBUCKETS	(sizeof(bucket_us) / sizeof(bucket_us[0]) + 1)

struct latency {
	uint64_t	bucket[NBUCKETS];
	uint64_t	sum_us;
	uint64_t	count;
};

struct decision_stats {
	uint64_t	count[NENDPOINTS][2][NREASONS];
	struct latency	latency[NENDPOINTS];
};

static size_t	lookup(const char *const *, size_t, const char *);

static size_t
lookup(const char *const *list, size_t n, const char *s)
{
	size_t	i;

	if (s == NULL)
		return (n - 1);
	for (i = 0; i < n - 1; i++) {
		if (strcmp(list[i], s) == 0)
			return (i);
	}
	return (n - 1);
}

size_t
decision_stats_size(void)
{
	return (sizeof(struct decision_stats));
}

struct decision_stats *
decision_stats_init(void *mem)
{
	memset(mem, 0, sizeof(struct decision_stats));
	return (mem);
}

void
decision_stats_count(struct decision_stats *st, const char *endpoint,
    int allow, const char *reason_code, uint64_t latency_us)
{
	struct latency	*l;
	size_t		 e, i;

	e = lookup(endpoints, NENDPOINTS, endpoint);
	__atomic_add_fetch(&st->count[e][allow ? 1 : 0][lookup(reasons,
	    NREASONS, reason_code)], 1, __ATOMIC_RELAXED);
	l = &st->latency[e];
	for (i = 0; i < NBUCKETS - 1; i++) {
		if (latency_us <= bucket_us[i])
			break;
	}
	__atomic_add_fetch(&l->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&l->sum_us, latency_us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&l->count, 1, __ATOMIC_RELAXED);
}

uint64_t
decision_stats_get(const struct decision_stats *st, const char *endpoint,
    int allow, const char *reason_code)
{
	return (__atomic_load_n(&st->count[lookup(endpoints, NENDPOINTS,
	    endpoint)][allow ? 1 : 0][lookup(reasons, NREASONS, reason_code)],
	    __ATOMIC_RELAXED));
}

void
decision_stats_render(const struct decision_stats *st, struct strbuf *sb)
{
	const struct latency	*l;
	uint64_t		 v, cum;
	size_t			 e, a, r, i;

	strbuf_printf(sb, "# HELP rollcall_decisions_total Decisions made, "
	    "by endpoint, outcome and reason code (a batch counts each "
	    "item).\n# TYPE rollcall_decisions_total counter\n");
	for (e = 0; e < NENDPOINTS; e++) {
		for (a = 0; a < 2; a++) {
			for (r = 0; r < NREASONS; r++) {
				v = __atomic_load_n(&st->count[e][a][r],
				    __ATOMIC_RELAXED);
				if (v == 0)
					continue;
				strbuf_printf(sb, "rollcall_decisions_total"
				    "{endpoint=\"%s\",decision=\"%s\","
				    "reason_code=\"%s\"} %llu\n", endpoints[e],
				    a ? "allow" : "deny", reasons[r],
				    (unsigned long long)v);
			}
		}
	}
	strbuf_printf(sb, "# HELP rollcall_decision_duration_seconds Time "
	    "from the request's arrival to its decision, by endpoint.\n"
	    "# TYPE rollcall_decision_duration_seconds histogram\n");
	for (e = 0; e < NENDPOINTS; e++) {
		l = &st->latency[e];
		if (__atomic_load_n(&l->count, __ATOMIC_RELAXED) == 0)
			continue;
		cum = 0;
		for (i = 0; i < NBUCKETS; i++) {
			cum += __atomic_load_n(&l->bucket[i], __ATOMIC_RELAXED);
			if (i < NBUCKETS - 1)
				strbuf_printf(sb, "rollcall_decision_duration_"
				    "seconds_bucket{endpoint=\"%s\",le=\"%g\"} "
				    "%llu\n", endpoints[e],
				    (double)bucket_us[i] / 1e6,
				    (unsigned long long)cum);
			else
				strbuf_printf(sb, "rollcall_decision_duration_"
				    "seconds_bucket{endpoint=\"%s\","
				    "le=\"+Inf\"} %llu\n", endpoints[e],
				    (unsigned long long)cum);
		}
		/* The count is the buckets' total, so the two agree. */
		strbuf_printf(sb, "rollcall_decision_duration_seconds_sum"
		    "{endpoint=\"%s\"} %.6f\n", endpoints[e],
		    (double)__atomic_load_n(&l->sum_us, __ATOMIC_RELAXED) /
		    1e6);
		strbuf_printf(sb, "rollcall_decision_duration_seconds_count"
		    "{endpoint=\"%s\"} %llu\n", endpoints[e],
		    (unsigned long long)cum);
	}
}
