/*
 * Unit tests for loglimit: per-kind bursts, summaries of what was held
 * back, the periodic sweep, bounded memory with many kinds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "loglimit.h"

static struct loglimit	lim;

START_TEST(test_burst_then_suppress_then_summary)
{
	uint64_t	sum;
	int		i, passed;

	loglimit_init(&lim, 3, 1000);
	passed = 0;
	for (i = 0; i < 100; i++) {
		passed += loglimit_check(&lim, "db down", 5000 + (uint64_t)i,
		    &sum);
		ck_assert_uint_eq(sum, 0);
	}
	ck_assert_int_eq(passed, 3);
	ck_assert_uint_eq(loglimit_pending(&lim), 97);

	/* Same interval (999 ms later): still shut. */
	ck_assert_int_eq(loglimit_check(&lim, "db down", 5999, &sum), 0);
	ck_assert_uint_eq(sum, 0);

	/* The next interval: the line passes with the summary of 98. */
	ck_assert_int_eq(loglimit_check(&lim, "db down", 6000, &sum), 1);
	ck_assert_uint_eq(sum, 98);
	ck_assert_uint_eq(loglimit_pending(&lim), 0);
	ck_assert_int_eq(loglimit_check(&lim, "db down", 6001, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, "db down", 6002, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, "db down", 6003, &sum), 0);
	ck_assert_uint_eq(sum, 0);
}
END_TEST

START_TEST(test_kinds_are_independent)
{
	uint64_t	sum;
	int		i;

	loglimit_init(&lim, 2, 1000);
	for (i = 0; i < 10; i++)
		(void)loglimit_check(&lim, "a", 100, &sum);
	/* Kind a is shut; kind b is not affected. */
	ck_assert_int_eq(loglimit_check(&lim, "a", 100, &sum), 0);
	ck_assert_int_eq(loglimit_check(&lim, "b", 100, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, "b", 100, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, "b", 100, &sum), 0);
	ck_assert_uint_eq(loglimit_pending(&lim), 9 + 1);
}
END_TEST

START_TEST(test_sweep_reports_quiet_kinds)
{
	uint64_t	sum, n;
	char		kind[LOGLIMIT_KIND_MAX];
	int		i;

	loglimit_init(&lim, 1, 1000);
	for (i = 0; i < 5; i++)
		(void)loglimit_check(&lim, "x", 0, &sum);
	(void)loglimit_check(&lim, "y", 500, &sum);	/* passes, none held */
	(void)loglimit_check(&lim, "y", 500, &sum);	/* held */

	/* Before the end of the interval nothing is due. */
	ck_assert_int_eq(loglimit_expired(&lim, 999, kind, sizeof(kind), &n),
	    0);
	ck_assert_int_eq(loglimit_expired(&lim, 1000, kind, sizeof(kind), &n),
	    1);
	ck_assert_str_eq(kind, "x");
	ck_assert_uint_eq(n, 4);
	/* Reported once only; y's interval has not ended yet. */
	ck_assert_int_eq(loglimit_expired(&lim, 1000, kind, sizeof(kind), &n),
	    0);
	ck_assert_int_eq(loglimit_expired(&lim, 1500, kind, sizeof(kind), &n),
	    1);
	ck_assert_str_eq(kind, "y");
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(loglimit_pending(&lim), 0);

	/* After a sweep the next line of x passes with no summary. */
	ck_assert_int_eq(loglimit_check(&lim, "x", 1001, &sum), 1);
	ck_assert_uint_eq(sum, 0);
}
END_TEST

START_TEST(test_many_kinds_share_overflow)
{
	uint64_t	sum, n, total;
	char		key[32], kind[LOGLIMIT_KIND_MAX];
	int		i, passed;

	loglimit_init(&lim, 1, 1000);
	passed = 0;
	for (i = 0; i < 1000; i++) {
		(void)snprintf(key, sizeof(key), "kind %d", i);
		passed += loglimit_check(&lim, key, 0, &sum);
	}
	/* One line per own slot, one for all the overflow kinds together. */
	ck_assert_int_eq(passed, LOGLIMIT_KINDS);
	ck_assert_uint_eq(loglimit_pending(&lim), 1000 - LOGLIMIT_KINDS);
	total = 0;
	while (loglimit_expired(&lim, 1000, kind, sizeof(kind), &n))
		total += n;
	ck_assert_uint_eq(total, 1000 - LOGLIMIT_KINDS);
	ck_assert_str_eq(kind, "(other kinds)");
}
END_TEST

START_TEST(test_long_keys_and_clock_steps)
{
	uint64_t	sum, n;
	char		a[300], b[300], kind[8];

	loglimit_init(&lim, 1, 1000);
	/* Keys that differ only past the kept prefix are one kind. */
	memset(a, 'k', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[250] = 'z';
	ck_assert_int_eq(loglimit_check(&lim, a, 10000, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, b, 10000, &sum), 0);
	/* A clock that steps back does not keep the kind shut. */
	ck_assert_int_eq(loglimit_check(&lim, a, 10, &sum), 1);
	ck_assert_uint_eq(sum, 1);
	/* The sweep truncates into a small buffer. */
	ck_assert_int_eq(loglimit_check(&lim, a, 10, &sum), 0);
	ck_assert_int_eq(loglimit_expired(&lim, 5000, kind, sizeof(kind), &n),
	    1);
	ck_assert_str_eq(kind, "kkkkkkk");
	ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(test_zero_arguments_are_raised)
{
	uint64_t	sum;

	loglimit_init(&lim, 0, 0);
	ck_assert_int_eq(loglimit_check(&lim, "a", 7, &sum), 1);
	ck_assert_int_eq(loglimit_check(&lim, "a", 7, &sum), 0);
	ck_assert_int_eq(loglimit_check(&lim, "a", 8, &sum), 1);
	ck_assert_uint_eq(sum, 1);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("loglimit");
	tc = tcase_create("loglimit");
	tcase_add_test(tc, test_burst_then_suppress_then_summary);
	tcase_add_test(tc, test_kinds_are_independent);
	tcase_add_test(tc, test_sweep_reports_quiet_kinds);
	tcase_add_test(tc, test_many_kinds_share_overflow);
	tcase_add_test(tc, test_long_keys_and_clock_steps);
	tcase_add_test(tc, test_zero_arguments_are_raised);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
