/*
 * decision_log: decision log lines (see decision_log.h).
 */
#include <string.h>

#include "decision_log.h"
#include "util.h"

int
decision_log_wanted(enum decision_log_mode mode, double allow_sample,
    int allow, double draw)
{
	if (mode == DECISION_LOG_OFF)
		return (0);
	if (!allow)
		return (1);
	return (mode == DECISION_LOG_ALL && draw < allow_sample);
}

static void
field(struct jsonw *w, const char *key, const char *value)
{
	jsonw_raw(w, ",\"");
	jsonw_raw(w, key);
	jsonw_raw(w, "\":");
	jsonw_str(w, value);
}

static void
number(struct jsonw *w, const char *key, uint64_t value)
{
	jsonw_raw(w, ",\"");
	jsonw_raw(w, key);
	jsonw_raw(w, "\":");
	jsonw_int(w, value > INT64_MAX ? INT64_MAX : (int64_t)value);
}

void
decision_log_format(const struct decision_record *r, struct jsonw *w)
{
	char	ts[32];

	rc_time_format(r->time_ms, ts, sizeof(ts));
	jsonw_raw(w, "{\"ts\":");
	jsonw_str(w, ts);
	jsonw_raw(w, ",\"type\":\"decision\"");
	field(w, "request_id", r->request_id);
	field(w, "trace_id", r->trace_id);
	field(w, "endpoint", r->endpoint);
	field(w, "gateway", r->gateway);
	field(w, "directory", r->directory);
	field(w, "subject", r->subject);
	field(w, "principal_id", r->principal_id);
	field(w, "principal_type", r->principal_type);
	field(w, "server", r->server);
	field(w, "tool", r->tool);
	field(w, "decision", r->allow ? "allow" : "deny");
	field(w, "reason_code", r->reason_code);
	field(w, "rule_id", r->rule_id);
	field(w, "grant_id", r->grant_id);
	number(w, "policy_version", r->policy_version);
	number(w, "subject_epoch", r->subject_epoch);
	number(w, "latency_us", r->latency_us);
	jsonw_raw(w, "}\n");
}
