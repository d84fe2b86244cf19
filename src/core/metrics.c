/*
 * metrics: see metrics.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "strbuf.h"

static const int	status_codes[] = {
	200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 410, 411, 412,
	413, 415, 429, 500, 502, 503,
};
#define NSTATUS		(sizeof(status_codes) / sizeof(status_codes[0]) + 1)

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t	bucket_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000,
};
#define NBUCKETS	(sizeof(bucket_us) / sizeof(bucket_us[0]) + 1)

static const char *const	counter_names[METRIC_COUNT] = {
	"rollcall_db_errors_total",
	"rollcall_token_failures_total{reason=\"unknown\"}",
	"rollcall_token_failures_total{reason=\"expired\"}",
	"rollcall_token_failures_total{reason=\"revoked\"}",
	"rollcall_token_failures_total{reason=\"malformed\"}",
	"rollcall_token_failures_total{reason=\"scope\"}",
	"rollcall_worker_starts_total",
	"rollcall_notify_received_total",
	"rollcall_db_jobs_abandoned_total",
	"rollcall_db_cancels_sent_total",
	"rollcall_requests_refused_total{reason=\"duplicate_header\"}",
	"rollcall_log_lines_suppressed_total",
	"rollcall_policy_refused_total",
	"rollcall_token_db_lookups_total{result=\"found\"}",
	"rollcall_token_db_lookups_total{result=\"unknown\"}",
	"rollcall_token_db_lookups_total{result=\"limited\"}",
	"rollcall_listener_connection_losses_total",
	"rollcall_policy_stale_denials_total",
	"rollcall_antientropy_checks_total",
	"rollcall_antientropy_skipped_total",
	"rollcall_antientropy_mismatches_total",
	"rollcall_log_reopen_failures_total",
	"rollcall_log_write_failures_total",
	"rollcall_policy_nesting_denials_total",
	"rollcall_entra_tokens_total{result=\"verified\"}",
	"rollcall_entra_tokens_total{result=\"cache_hit\"}",
	"rollcall_entra_tokens_total{result=\"refused\"}",
	"rollcall_entra_tokens_total{result=\"unbound\"}",
	"rollcall_entra_kid_refreshes_total{result=\"requested\"}",
	"rollcall_entra_kid_refreshes_total{result=\"limited\"}",
	"rollcall_entra_key_fetches_total{result=\"ok\"}",
	"rollcall_entra_key_fetches_total{result=\"failed\"}",
	"rollcall_subject_conflicts_total",
};

/*
 * HELP text by metric family (the name before any '{').  A counter added
 * without an entry here still gets a HELP line (a generic one), so the
 * exposition stays valid for promtool; add its text here.
 */
static const struct {
	const char	*family;
	const char	*help;
} counter_help[] = {
	{ "rollcall_db_errors_total", "Database jobs that failed." },
	{ "rollcall_token_failures_total",
	    "Requests refused for their bearer token, by reason." },
	{ "rollcall_worker_starts_total",
	    "Worker processes started, restarts included." },
	{ "rollcall_notify_received_total",
	    "NOTIFY messages received from other processes." },
	{ "rollcall_db_jobs_abandoned_total", "Requests whose client left "
	    "while their database job was queued or running (skipped or "
	    "cancelled)." },
	{ "rollcall_db_cancels_sent_total",
	    "Statements of abandoned jobs cancelled with PQcancel." },
	{ "rollcall_requests_refused_total",
	    "Requests refused before any handler, by reason." },
	{ "rollcall_log_lines_suppressed_total",
	    "Log lines held back by the per-kind rate limit." },
	{ "rollcall_policy_refused_total", "Change records and rows the "
	    "policy index refused (their principals are quarantined)." },
	{ "rollcall_token_db_lookups_total", "Database look-ups of bearer "
	    "tokens the table did not know, by result (limited: refused by "
	    "the rate limit without a look-up)." },
	{ "rollcall_listener_connection_losses_total", "Times the LISTEN "
	    "connection was lost (it reconnects and catches up)." },
	{ "rollcall_policy_stale_denials_total", "Decisions denied as "
	    "policy_stale: the instance could not prove it was current." },
	{ "rollcall_antientropy_checks_total",
	    "Index digests compared with PostgreSQL's." },
	{ "rollcall_antientropy_skipped_total", "Digest comparisons skipped "
	    "because the index and the database were at other versions." },
	{ "rollcall_antientropy_mismatches_total", "Digest mismatches "
	    "confirmed and repaired by a rebuild (0 on a healthy system)." },
	{ "rollcall_log_reopen_failures_total", "Reopens of "
	    "decision_log_path after SIGHUP that failed (the old file goes "
	    "on being written)." },
	{ "rollcall_log_write_failures_total", "Log writes that failed; "
	    "their lines were dropped." },
	{ "rollcall_policy_nesting_denials_total", "Decisions denied "
	    "because the principal's nested groups go beyond "
	    "group_nesting_depth (internal_error, fail closed)." },
	{ "rollcall_entra_tokens_total", "Entra access tokens given as a "
	    "subject, by result (verified: signature checked; cache_hit: "
	    "valid from the worker's cache; refused: invalid; unbound: the "
	    "directory has no Entra binding)." },
	{ "rollcall_entra_kid_refreshes_total", "Key refreshes asked for by "
	    "a token with an unknown kid (limited: refused by the rate "
	    "limit)." },
	{ "rollcall_entra_key_fetches_total", "Fetches of a tenant's "
	    "signing keys from its OpenID configuration, by result." },
	{ "rollcall_subject_conflicts_total", "Requests refused because a "
	    "header and the body named different subjects." },
};

struct route_stats {
	uint64_t	status[NSTATUS];
	uint64_t	bucket[NBUCKETS];
	uint64_t	sum_us;
	uint64_t	count;
};

struct metrics {
	size_t			 nroutes;
	const char *const	*routes;	/* process-local pointer */
	uint64_t		 counters[METRIC_COUNT];
	struct route_stats	 stats[];
};

size_t
metrics_size(size_t nroutes)
{
	return (sizeof(struct metrics) + nroutes * sizeof(struct route_stats));
}

struct metrics *
metrics_init(void *mem, const char *const *routes, size_t nroutes)
{
	struct metrics	*m;

	if (nroutes == 0 || nroutes > METRICS_ROUTES_MAX)
		return (NULL);
	m = mem;
	memset(m, 0, metrics_size(nroutes));
	m->nroutes = nroutes;
	m->routes = routes;

	return (m);
}

void
metrics_attach(struct metrics *m, const char *const *routes)
{
	m->routes = routes;
}

size_t
metrics_route_index(const struct metrics *m, const char *route)
{
	size_t	i;

	for (i = 0; i < m->nroutes; i++) {
		if (strcmp(m->routes[i], route) == 0)
			return (i);
	}

	return (m->nroutes - 1);
}

void
metrics_observe(struct metrics *m, size_t r, int status, uint64_t duration_us)
{
	struct route_stats	*rs;
	size_t			 i;

	if (r >= m->nroutes)
		r = m->nroutes - 1;
	rs = &m->stats[r];

	for (i = 0; i < NSTATUS - 1; i++) {
		if (status_codes[i] == status)
			break;
	}
	__atomic_add_fetch(&rs->status[i], 1, __ATOMIC_RELAXED);

	for (i = 0; i < NBUCKETS - 1; i++) {
		if (duration_us <= bucket_us[i])
			break;
	}
	__atomic_add_fetch(&rs->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rs->sum_us, duration_us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rs->count, 1, __ATOMIC_RELAXED);
}

void
metrics_add(struct metrics *m, enum metric_counter c, uint64_t n)
{
	if ((int)c >= 0 && c < METRIC_COUNT)
		__atomic_add_fetch(&m->counters[c], n, __ATOMIC_RELAXED);
}

uint64_t
metrics_get(const struct metrics *m, enum metric_counter c)
{
	if ((int)c < 0 || c >= METRIC_COUNT)
		return (0);
	return (__atomic_load_n(&m->counters[c], __ATOMIC_RELAXED));
}

char *
metrics_render(const struct metrics *m, const char *extra)
{
	const struct route_stats	*rs;
	struct strbuf			 sb = { 0 };
	const char			*help;
	uint64_t			 v, cum;
	size_t				 r, i, j, flen;


	strbuf_printf(&sb, "# HELP rollcall_http_requests_total HTTP requests "
	    "answered, by route and status.\n"
	    "# TYPE rollcall_http_requests_total counter\n");
	for (r = 0; r < m->nroutes; r++) {
		rs = &m->stats[r];
		for (i = 0; i < NSTATUS; i++) {
			v = __atomic_load_n(&rs->status[i], __ATOMIC_RELAXED);
			if (v == 0)
				continue;
			if (i < NSTATUS - 1)
				strbuf_printf(&sb, "rollcall_http_requests_total"
				    "{route=\"%s\",status=\"%d\"} %llu\n",
				    m->routes[r], status_codes[i],
				    (unsigned long long)v);
			else
				strbuf_printf(&sb, "rollcall_http_requests_total"
				    "{route=\"%s\",status=\"other\"} %llu\n",
				    m->routes[r], (unsigned long long)v);
		}
	}

	strbuf_printf(&sb, "# HELP rollcall_http_request_duration_seconds Time "
	    "from routing to response, by route.\n"
	    "# TYPE rollcall_http_request_duration_seconds histogram\n");
	for (r = 0; r < m->nroutes; r++) {
		rs = &m->stats[r];
		if (__atomic_load_n(&rs->count, __ATOMIC_RELAXED) == 0)
			continue;
		cum = 0;
		for (i = 0; i < NBUCKETS; i++) {
			cum += __atomic_load_n(&rs->bucket[i], __ATOMIC_RELAXED);
			if (i < NBUCKETS - 1)
				strbuf_printf(&sb, "rollcall_http_request_duration"
				    "_seconds_bucket{route=\"%s\",le=\"%g\"} "
				    "%llu\n", m->routes[r],
				    (double)bucket_us[i] / 1e6,
				    (unsigned long long)cum);
			else
				strbuf_printf(&sb, "rollcall_http_request_duration"
				    "_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
				    "%llu\n", m->routes[r],
				    (unsigned long long)cum);
		}
		strbuf_printf(&sb, "rollcall_http_request_duration_seconds_sum"
		    "{route=\"%s\"} %.6f\n", m->routes[r],
		    (double)__atomic_load_n(&rs->sum_us, __ATOMIC_RELAXED) /
		    1e6);
		strbuf_printf(&sb, "rollcall_http_request_duration_seconds_count"
		    "{route=\"%s\"} %llu\n", m->routes[r],
		    (unsigned long long)cum);
	}

	/* Each family once: HELP and TYPE right before all its samples. */
	for (i = 0; i < METRIC_COUNT; i++) {
		flen = strcspn(counter_names[i], "{");
		for (j = 0; j < i; j++) {
			if (strcspn(counter_names[j], "{") == flen &&
			    strncmp(counter_names[j], counter_names[i],
			    flen) == 0)
				break;
		}
		if (j < i)
			continue;
		help = "A rollcall counter.";
		for (j = 0; j < sizeof(counter_help) / sizeof(counter_help[0]);
		    j++) {
			if (strlen(counter_help[j].family) == flen &&
			    strncmp(counter_help[j].family, counter_names[i],
			    flen) == 0)
				help = counter_help[j].help;
		}
		strbuf_printf(&sb, "# HELP %.*s %s\n# TYPE %.*s counter\n",
		    (int)flen, counter_names[i], help, (int)flen,
		    counter_names[i]);
		for (j = i; j < METRIC_COUNT; j++) {
			if (strcspn(counter_names[j], "{") != flen ||
			    strncmp(counter_names[j], counter_names[i],
			    flen) != 0)
				continue;
			strbuf_printf(&sb, "%s %llu\n", counter_names[j],
			    (unsigned long long)__atomic_load_n(
			    &m->counters[j], __ATOMIC_RELAXED));
		}
	}

	if (extra != NULL)
		strbuf_printf(&sb, "%s", extra);

	if (sb.oom) {
		free(sb.s);
		return (NULL);
	}

	return (sb.s);
}
