/*
 * Unit tests for ratelimit: burst, refill, cap, and a clock going back.
 */
#include <check.h>
#include <stdlib.h>

#include "check_main.h"
#include "ratelimit.h"

START_TEST(test_burst_then_refill)
{
	struct ratelimit	b;
	int			i, n;

	ratelimit_init(&b, 10, 5, 1000);
	for (n = 0, i = 0; i < 20; i++)
		n += ratelimit_take(&b, 1000);
	ck_assert_int_eq(n, 5);
	/* 10 a second: one more every 100 ms, none before. */
	ck_assert_int_eq(ratelimit_take(&b, 1099), 0);
	ck_assert_int_eq(ratelimit_take(&b, 1100), 1);
	ck_assert_int_eq(ratelimit_take(&b, 1100), 0);
	/* A long pause refills only up to the burst. */
	for (n = 0, i = 0; i < 20; i++)
		n += ratelimit_take(&b, 100000);
	ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_clock_going_back)
{
	struct ratelimit	b;

	ratelimit_init(&b, 1, 1, 5000);
	ck_assert_int_eq(ratelimit_take(&b, 5000), 1);
	ck_assert_int_eq(ratelimit_take(&b, 1000), 0);
	ck_assert_int_eq(ratelimit_take(&b, 5999), 0);
	ck_assert_int_eq(ratelimit_take(&b, 6000), 1);
}
END_TEST

START_TEST(test_zero_rate_refuses_after_burst)
{
	struct ratelimit	b;

	ratelimit_init(&b, 0, 0, 0);
	ck_assert_int_eq(ratelimit_take(&b, 0), 0);
	ck_assert_int_eq(ratelimit_take(&b, 1000000), 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ratelimit");
	tc = tcase_create("ratelimit");
	tcase_add_test(tc, test_burst_then_refill);
	tcase_add_test(tc, test_clock_going_back);
	tcase_add_test(tc, test_zero_rate_refuses_after_burst);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
