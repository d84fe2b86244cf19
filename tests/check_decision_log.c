/*
 * Unit tests for decision_log: which decisions are logged, and that a
 * line is one valid JSON object with every field, hostile values
 * escaped, and nothing else on the line.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "decision_log.h"

START_TEST(test_wanted)
{
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_OFF, 1.0, 0, 0.0),
	    0);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_OFF, 1.0, 1, 0.0),
	    0);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_DENIES, 1.0, 0,
	    0.99), 1);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_DENIES, 1.0, 1,
	    0.0), 0);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_ALL, 1.0, 1, 0.999),
	    1);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_ALL, 0.25, 1, 0.24),
	    1);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_ALL, 0.25, 1, 0.25),
	    0);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_ALL, 0.0, 1, 0.0),
	    0);
	ck_assert_int_eq(decision_log_wanted(DECISION_LOG_ALL, 0.0, 0, 0.5),
	    1);
}
END_TEST

START_TEST(test_format)
{
	struct decision_record	 r;
	struct jsonw		 w;
	json_t			*v;
	json_error_t		 err;
	const char		*keys[] = { "time", "level", "type",
	    "worker", "request_id",
	    "trace_id", "endpoint", "gateway", "directory", "subject",
	    "principal_id", "principal_type", "server", "tool", "decision",
	    "reason_code", "rule_id", "grant_id", "policy_version",
	    "subject_epoch", "latency_us" };
	size_t			 i;

	memset(&r, 0, sizeof(r));
	r.time_ms = 1780000000123ULL;
	r.request_id = "req-1";
	r.endpoint = "authorize";
	r.gateway = "gw \"prod\"";
	r.directory = "1";
	r.subject = "eve\n{\"decision\":\"allow\"}\x01";
	r.server = "github";
	r.tool = "delete_branch";
	r.allow = 0;
	r.reason_code = "denied_by_rule";
	r.policy_version = 42;
	r.subject_epoch = UINT64_MAX;
	r.latency_us = 17;
	jsonw_init(&w, 64);
	decision_log_format(&r, &w);
	ck_assert(!w.failed);
	/* One line: the only newline is the last byte. */
	ck_assert_ptr_eq(memchr(w.buf, '\n', w.len), w.buf + w.len - 1);
	v = json_loadb(w.buf, w.len, 0, &err);
	ck_assert_msg(v != NULL, "%s", err.text);
	ck_assert_uint_eq(json_object_size(v), sizeof(keys) / sizeof(keys[0]));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(json_object_get(v, keys[i]) != NULL, "%s",
		    keys[i]);
	ck_assert_str_eq(json_string_value(json_object_get(v, "time")),
	    "2026-05-28T20:26:40.123Z");
	ck_assert_str_eq(json_string_value(json_object_get(v, "subject")),
	    r.subject);
	ck_assert_str_eq(json_string_value(json_object_get(v, "decision")),
	    "deny");
	ck_assert(json_is_null(json_object_get(v, "trace_id")));
	ck_assert(json_is_null(json_object_get(v, "rule_id")));
	ck_assert_int_eq(json_integer_value(json_object_get(v,
	    "policy_version")), 42);
	ck_assert(json_integer_value(json_object_get(v, "subject_epoch")) >
	    0);
	ck_assert_str_eq(json_string_value(json_object_get(v, "level")),
	    "info");
	ck_assert_str_eq(json_string_value(json_object_get(v, "type")),
	    "decision");
	/* "time" first, as in every other log line. */
	ck_assert(strncmp(w.buf, "{\"time\":", 8) == 0);
	json_decref(v);
	jsonw_cleanup(&w);
}
END_TEST

/* Draws are in [0, 1) and spread: a sampler at 0.3 keeps about 30%. */
START_TEST(test_draw)
{
	uint64_t	state, zero;
	double		d;
	size_t		i, kept, bins[10];

	state = 12345;
	kept = 0;
	memset(bins, 0, sizeof(bins));
	for (i = 0; i < 100000; i++) {
		d = decision_log_draw(&state);
		ck_assert(d >= 0.0 && d < 1.0);
		bins[(size_t)(d * 10)]++;
		if (decision_log_wanted(DECISION_LOG_ALL, 0.3, 1, d))
			kept++;
	}
	ck_assert_msg(kept > 29000 && kept < 31000, "kept %zu", kept);
	for (i = 0; i < 10; i++)
		ck_assert_msg(bins[i] > 9500 && bins[i] < 10500, "bin %zu: %zu",
		    i, bins[i]);
	/* A zero state does not stick at zero. */
	zero = 0;
	(void)decision_log_draw(&zero);
	ck_assert(zero != 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("decision_log");
	tc = tcase_create("lines");
	tcase_add_test(tc, test_wanted);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_draw);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
