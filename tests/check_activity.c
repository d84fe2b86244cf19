/*
 * Unit tests for activity: buckets, keys, the last-seen time, a full
 * table that drops and counts, take and merge (a failed flush).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activity.h"

static struct activity	a, b;

#define T0	1764770400000LL		/* 2025-12-03 14:00:00 UTC, in ms */

static uint64_t
count(const struct activity *x, enum activity_series s, int64_t dir,
    int64_t bucket, const char *kind)
{
	size_t	i;

	for (i = 0; i < ACTIVITY_CELLS; i++)
		if (x->cell[i].directory_id == dir &&
		    x->cell[i].series == s && x->cell[i].bucket_s == bucket &&
		    strcmp(x->cell[i].kind, kind) == 0)
			return (x->cell[i].n);
	return (0);
}

START_TEST(test_buckets)
{
	ck_assert_int_eq(activity_bucket(ACTIVITY_SCIM, T0 + 3599999),
	    T0 / 1000);
	ck_assert_int_eq(activity_bucket(ACTIVITY_SCIM, T0 + 3600000),
	    T0 / 1000 + 3600);
	ck_assert_int_eq(activity_bucket(ACTIVITY_DECISION, T0 + 119999),
	    T0 / 1000 + 60);
}
END_TEST

START_TEST(test_scim_counts_and_last_seen)
{
	char	buf[16];

	activity_init(&a);
	ck_assert(activity_empty(&a));
	ck_assert_int_eq(activity_scim(&a, 1, T0 + 10, 200), 0);
	ck_assert_int_eq(activity_scim(&a, 1, T0 + 5, 201), 0);
	ck_assert_int_eq(activity_scim(&a, 1, T0 + 7, 404), 0);
	ck_assert_int_eq(activity_scim(&a, 2, T0 + 3600000, 500), 0);
	ck_assert(!activity_empty(&a));
	ck_assert_uint_eq(count(&a, ACTIVITY_SCIM, 1, T0 / 1000, "ok"), 2);
	ck_assert_uint_eq(count(&a, ACTIVITY_SCIM, 1, T0 / 1000, "404"), 1);
	ck_assert_uint_eq(count(&a, ACTIVITY_SCIM, 2, T0 / 1000 + 3600,
	    "500"), 1);
	ck_assert_uint_eq(a.used, 3);
	/* The latest time wins, whatever the order of arrival. */
	ck_assert_int_eq(a.last[0].directory_id, 1);
	ck_assert_int_eq(a.last[0].at_ms, T0 + 10);
	ck_assert_str_eq(activity_scim_kind(304, buf, sizeof(buf)), "ok");
	ck_assert_str_eq(activity_scim_kind(429, buf, sizeof(buf)), "429");
}
END_TEST

START_TEST(test_decisions_and_bad_input)
{
	char	longkind[100];

	activity_init(&a);
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0, "allow",
	    5), 0);
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0 + 1000,
	    "denied_by_rule", 1), 0);
	ck_assert_uint_eq(count(&a, ACTIVITY_DECISION, 3, T0 / 1000,
	    "allow"), 5);
	/* The same kind in the SCIM series is another cell. */
	ck_assert_uint_eq(count(&a, ACTIVITY_SCIM, 3, T0 / 1000, "allow"), 0);
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 0, T0, "allow",
	    1), -1);
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0, "", 1),
	    -1);
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0, NULL, 1),
	    -1);
	ck_assert_uint_eq(a.dropped, 3);
	/* Long kinds are cut, and the cut key is one cell. */
	memset(longkind, 'x', sizeof(longkind) - 1);
	longkind[sizeof(longkind) - 1] = '\0';
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0, longkind,
	    1), 0);
	longkind[60] = 'y';
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 3, T0, longkind,
	    1), 0);
	ck_assert_uint_eq(a.used, 3);
}
END_TEST

START_TEST(test_full_table_drops_and_counts)
{
	char	k[16];
	int	i, ok;

	activity_init(&a);
	ok = 0;
	for (i = 0; i < ACTIVITY_CELLS * 2; i++) {
		(void)snprintf(k, sizeof(k), "r%d", i);
		if (activity_add(&a, ACTIVITY_DECISION, 1, T0, k, 2) == 0)
			ok++;
	}
	ck_assert_int_eq(ok, ACTIVITY_CELLS - ACTIVITY_CELLS / 8);
	ck_assert_uint_eq(a.dropped, 2 * (uint64_t)(ACTIVITY_CELLS * 2 - ok));
	/* Existing keys still count when the table is full. */
	ck_assert_int_eq(activity_add(&a, ACTIVITY_DECISION, 1, T0, "r0", 1),
	    0);
	ck_assert_uint_eq(count(&a, ACTIVITY_DECISION, 1, T0 / 1000, "r0"),
	    3);
	/* More directories than last-seen slots: refused, not crashed. */
	for (i = 1; i <= ACTIVITY_DIRS; i++)
		ck_assert_int_eq(activity_seen(&a, i, T0), 0);
	ck_assert_int_eq(activity_seen(&a, ACTIVITY_DIRS + 1, T0), -1);
}
END_TEST

START_TEST(test_take_and_merge)
{
	activity_init(&a);
	(void)activity_scim(&a, 1, T0 + 50, 200);
	(void)activity_add(&a, ACTIVITY_DECISION, 1, T0, "allow", 4);
	(void)activity_add(&a, ACTIVITY_DECISION, 0, T0, "allow", 1);
	activity_take(&a, &b);
	ck_assert(activity_empty(&a));
	ck_assert_uint_eq(a.dropped, 1);
	ck_assert_uint_eq(b.dropped, 0);
	ck_assert_uint_eq(count(&b, ACTIVITY_DECISION, 1, T0 / 1000, "allow"),
	    4);
	/* Meanwhile more arrives; then the flush fails and b comes back. */
	(void)activity_add(&a, ACTIVITY_DECISION, 1, T0, "allow", 1);
	(void)activity_scim(&a, 1, T0 + 20, 200);
	activity_merge(&a, &b);
	ck_assert_uint_eq(count(&a, ACTIVITY_DECISION, 1, T0 / 1000, "allow"),
	    5);
	ck_assert_uint_eq(count(&a, ACTIVITY_SCIM, 1, T0 / 1000, "ok"), 2);
	ck_assert_int_eq(a.last[0].at_ms, T0 + 50);
	ck_assert_uint_eq(a.used, 2);
}
END_TEST

int
main(void)
{
	Suite	*s;
	SRunner	*sr;
	TCase	*tc;
	int	 failed;

	s = suite_create("activity");
	tc = tcase_create("activity");
	tcase_add_test(tc, test_buckets);
	tcase_add_test(tc, test_scim_counts_and_last_seen);
	tcase_add_test(tc, test_decisions_and_bad_input);
	tcase_add_test(tc, test_full_table_drops_and_counts);
	tcase_add_test(tc, test_take_and_merge);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
