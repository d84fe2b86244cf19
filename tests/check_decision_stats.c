/*
 * Unit tests for decision_stats: counting by endpoint, outcome and
 * reason code with bounded labels, and the exposition's shape.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "decision_stats.h"

START_TEST(test_count_and_render)
{
	struct decision_stats	*st;
	struct strbuf		 sb = { 0 };
	void			*mem;

	mem = malloc(decision_stats_size());
	ck_assert_ptr_nonnull(mem);
	st = decision_stats_init(mem);
	decision_stats_count(st, "authorize", 1, "allowed_by_rule", 40);
	decision_stats_count(st, "authorize", 1, "allowed_by_rule", 4000);
	decision_stats_count(st, "authorize", 0, "denied_by_rule", 5);
	/* Unknown labels cannot grow the series: "other". */
	decision_stats_count(st, "evil\"}\n", 0, "made_up\"", 1);
	decision_stats_count(st, NULL, 0, NULL, 1);
	ck_assert_uint_eq(decision_stats_get(st, "authorize", 1,
	    "allowed_by_rule"), 2);
	ck_assert_uint_eq(decision_stats_get(st, "authorize", 0,
	    "allowed_by_rule"), 0);
	ck_assert_uint_eq(decision_stats_get(st, "other", 0, "other"), 2);

	decision_stats_render(st, &sb);
	ck_assert(!sb.oom);
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decisions_total{endpoint="
	    "\"authorize\",decision=\"allow\",reason_code=\"allowed_by_rule\"}"
	    " 2\n"));
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decisions_total{endpoint="
	    "\"other\",decision=\"deny\",reason_code=\"other\"} 2\n"));
	ck_assert_ptr_null(strstr(sb.s, "evil"));
	ck_assert_ptr_null(strstr(sb.s, "made_up"));
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decision_duration_seconds"
	    "_bucket{endpoint=\"authorize\",le=\"5e-05\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decision_duration_seconds"
	    "_bucket{endpoint=\"authorize\",le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decision_duration_seconds"
	    "_count{endpoint=\"authorize\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(sb.s, "rollcall_decision_duration_seconds"
	    "_sum{endpoint=\"authorize\"} 0.004045\n"));
	/* Endpoints without decisions have no histogram. */
	ck_assert_ptr_null(strstr(sb.s, "endpoint=\"opa\""));
	free(sb.s);
	free(mem);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

	s = suite_create("decision_stats");
	tc = tcase_create("stats");
	tcase_add_test(tc, test_count_and_render);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
