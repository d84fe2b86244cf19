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
	jsonw_raw(w, "{\"time\":");
	jsonw_str(w, ts);
	jsonw_raw(w, ",\"level\":\"info\",\"type\":\"decision\",\"worker\":");
	jsonw_int(w, r->worker);
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

double
decision_log_draw(uint64_t *state)
{
	uint64_t	x;

	x = *state != 0 ? *state : 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	/* The top 53 bits, as a double in [0, 1). */
	return ((double)((x * 0x2545f4914f6cdd1dULL) >> 11) *
	    (1.0 / 9007199254740992.0));
}
