/*
 * decisions.c: counting and logging decisions (decisions.h).
 *
 * The counters live in their own shared mapping, made by the parent
 * before the fork, so /metrics on any worker shows the instance's.
 * The log line is formatted into a reused per-process buffer and goes
 * out through logout.h (stdout, or decision_log_path).
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <errno.h>
#include <string.h>

#include "activity_glue.h"
#include "decision_log.h"
#include "decision_stats.h"
#include "decisions.h"
#include "jsonw.h"
#include "svc.h"
#include "util.h"

static struct decision_stats	*stats;
static uint64_t			 draw_state;

void
svc_decisions_parent_init(void)
{
	void	*mem;

	mem = mmap(NULL, decision_stats_size(), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fatal("rollcall: cannot map the decision counters: %s",
		    strerror(errno));
	stats = decision_stats_init(mem);
}

void
svc_decision_result(struct svc_decision *d, const struct policy_result *r)
{
	d->allow = r->decision == POLICY_ALLOW;
	d->reason_code = policy_reason_str(r->reason);
	d->rule_id = r->rule_id;
	d->grant_id = r->grant_id;
	d->policy_version = r->policy_version;
	d->subject_epoch = r->subject_epoch;
	d->nest_exceeded = r->nest_exceeded;
}

void
svc_decision(struct http_request *req, const struct svc_decision *d)
{
	static struct jsonw	 w;
	static int		 nest_logged;
	struct decision_record	 r;
	struct svc_ctx		*ctx;
	uint64_t		 latency;
	double			 draw;

	ctx = svc_ctx(req);
	latency = rc_mono_us() - ctx->start_us;
	/* Fail closed beyond the nesting limit: counted, logged once. */
	if (d->nest_exceeded) {
		metrics_add(svc.metrics, METRIC_POLICY_NEST_EXCEEDED, 1);
		if (!nest_logged) {
			nest_logged = 1;
			svc_log(SVC_LOG_WARN, "policy: a principal's nested "
			    "groups go beyond group_nesting_depth (%d): its "
			    "decisions deny (internal_error); see "
			    "rollcall_policy_nesting_denials_total",
			    svc.settings.group_nesting_depth);
		}
	}
	if (stats != NULL)
		decision_stats_count(stats, d->endpoint, d->allow,
		    d->reason_code, latency);
	/* The console's counts per minute; a session check is no tool call. */
	if (strcmp(d->endpoint, "session_check") != 0)
		svc_activity_decision(req, d->allow, d->reason_code);

	draw = 0.0;
	if (d->allow && svc.settings.decision_log_mode == DECISION_LOG_ALL &&
	    svc.settings.decision_log_allow_sample < 1.0) {
		if (draw_state == 0 && (rc_random_bytes(&draw_state,
		    sizeof(draw_state)) == -1 || draw_state == 0))
			draw_state = rc_mono_us() | 1;
		draw = decision_log_draw(&draw_state);
	}
	if (!decision_log_wanted(svc.settings.decision_log_mode,
	    svc.settings.decision_log_allow_sample, d->allow, draw))
		return;

	memset(&r, 0, sizeof(r));
	r.time_ms = rc_now_ms();
	r.worker = worker != NULL ? worker->id : 0;
	r.request_id = ctx->request_id;
	r.trace_id = ctx->traced ? ctx->trace.trace_id : NULL;
	r.endpoint = d->endpoint;
	/* The gateway by its token's name: never the token. */
	r.gateway = ctx->authed ? ctx->token.name : NULL;
	r.directory = ctx->authed && ctx->token.directory[0] != '\0' ?
	    ctx->token.directory : NULL;
	r.subject = d->subject;
	if (d->principal != NULL) {
		r.principal_id = d->principal->id;
		r.principal_type = d->principal->kind == POLICY_PRINCIPAL_SP ?
		    "service_principal" : "user";
	}
	r.server = d->server;
	r.tool = d->tool;
	r.allow = d->allow;
	r.reason_code = d->reason_code;
	r.rule_id = d->rule_id;
	r.grant_id = d->grant_id;
	r.policy_version = d->policy_version;
	r.subject_epoch = d->subject_epoch;
	r.latency_us = latency;

	if (w.buf == NULL || w.failed) {
		jsonw_cleanup(&w);
		jsonw_init(&w, 1024);
	}
	w.len = 0;
	decision_log_format(&r, &w);
	if (!w.failed)
		svc_out_line(SVC_OUT_DECISIONS, w.buf, w.len, 0);
}

void
svc_decisions_metrics(struct strbuf *sb)
{
	if (stats != NULL)
		decision_stats_render(stats, sb);
}
