/*
 * decisions.h: the one observation point of a decision (decisions.c).
 * Every endpoint that decides calls svc_decision() once per decision
 * (once per item of a batch); it counts the decision in
 * rollcall_decisions_total and the latency histogram, and writes the
 * decision log line when the settings want it (decision_log.h has the
 * line's shape).  A deny beyond the group nesting limit is counted in
 * rollcall_policy_nesting_denials_total and logged once per worker.
 * A new kind of decision adds one call, nothing else.
 */
#ifndef RC_DECISIONS_H
#define RC_DECISIONS_H

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "policy.h"
#include "strbuf.h"

/* Every string is borrowed for the call; NULL when unknown. */
struct svc_decision {
	const char	*endpoint;	/* decision_stats.h's labels */
	const char	*subject;	/* as the caller gave it */
	/* What the subject resolved to, or NULL. */
	const struct policy_principal_info *principal;
	const char	*server;
	const char	*tool;
	int		 allow;
	const char	*reason_code;
	const char	*rule_id;
	const char	*grant_id;
	uint64_t	 policy_version;
	uint64_t	 subject_epoch;
	int		 nest_exceeded;	/* denied beyond group_nesting_depth */
};

/* Parent, before the fork: the shared counters. */
void	svc_decisions_parent_init(void);

/* Counts and logs one decision made for req. */
void	svc_decision(struct http_request *, const struct svc_decision *);

/* Shorthand: d's outcome fields from a policy result. */
void	svc_decision_result(struct svc_decision *,
	    const struct policy_result *);

/* Appends the decision metrics to the /metrics text. */
void	svc_decisions_metrics(struct strbuf *);

#endif
