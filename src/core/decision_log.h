/*
 * decision_log: one JSON line per decision, for SIEMs ("who called which
 * tool when, and why was it allowed").  This module only decides whether
 * a decision is logged and formats the line; the glue owns the buffer
 * and where it goes.  Pure C.
 *
 * Line shape (keys always present, null when unknown; in this order):
 *   {"time":"2026-12-03T09:00:00.123Z","level":"info","type":"decision",
 *    "worker":N,"request_id":…,
 *    "trace_id":…,"endpoint":"authorize","gateway":<token name>,
 *    "directory":…,"subject":<as given>,"principal_id":…,
 *    "principal_type":"user"|"service_principal"|null,"server":…,
 *    "tool":…,"decision":"allow"|"deny","reason_code":…,"rule_id":…,
 *    "grant_id":…,"policy_version":N,"subject_epoch":N,"latency_us":N}
 * Never a bearer token or any secret: the gateway is named by its
 * token's name, never by the token.  "time", "level" and "worker" are
 * the keys every other log line starts with, so one pipeline reads
 * both; "type" tells them apart.
 */
#ifndef RC_DECISION_LOG_H
#define RC_DECISION_LOG_H

#include <stdint.h>

#include "jsonw.h"

enum decision_log_mode {
	DECISION_LOG_OFF = 0,
	DECISION_LOG_DENIES,		/* denies only */
	DECISION_LOG_ALL		/* denies, and allows sampled */
};

/* Every string is borrowed for the call; NULL is written as null. */
struct decision_record {
	uint64_t	 time_ms;
	int		 worker;
	const char	*request_id;
	const char	*trace_id;
	const char	*endpoint;
	const char	*gateway;
	const char	*directory;
	const char	*subject;
	const char	*principal_id;
	const char	*principal_type;
	const char	*server;
	const char	*tool;
	int		 allow;
	const char	*reason_code;
	const char	*rule_id;
	const char	*grant_id;
	uint64_t	 policy_version;
	uint64_t	 subject_epoch;
	uint64_t	 latency_us;
};

/*
 * Whether to log a decision: never when off; every deny unless off;
 * an allow in DECISION_LOG_ALL when draw (uniform in [0, 1)) is below
 * allow_sample (0 to 1).
 */
int	decision_log_wanted(enum decision_log_mode mode, double allow_sample,
	    int allow, double draw);

/* Appends the line for r, with its trailing newline, to w. */
void	decision_log_format(const struct decision_record *r, struct jsonw *w);

/*
 * The sampler's draws: a small per-process generator (xorshift64*), not
 * for secrets.  *state must be seeded non-zero; the result is uniform in
 * [0, 1).
 */
double	decision_log_draw(uint64_t *state);

#endif
