/*
 * Unit tests for migration: the version sequence skips the retired 2,
 * and only an exact prefix of it passes (no gap, duplicate, retired
 * number or order other than ascending).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "migration.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))

static int
check(const long long *v, size_t n, const char *want)
{
	char	err[128];
	int	rc;

	rc = migration_check_prefix(v, n, err, sizeof(err));
	if (want == NULL)
		ck_assert_str_eq(err, "");
	else
		ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'",
		    err, want);
	return (rc);
}

START_TEST(test_sequence)
{
	ck_assert_int_eq(migration_next(0), 1);
	ck_assert_int_eq(migration_next(1), 3);
	ck_assert_int_eq(migration_next(3), 4);
	ck_assert_int_eq(migration_next(4), 5);
	ck_assert_int_eq(migration_version_ok(0), 0);
	ck_assert_int_eq(migration_version_ok(-1), 0);
	ck_assert_int_eq(migration_version_ok(1), 1);
	ck_assert_int_eq(migration_version_ok(2), 0);
	ck_assert_int_eq(migration_version_ok(3), 1);
}
END_TEST

START_TEST(test_prefixes_pass)
{
	static const long long	released[] = { 1, 3, 4 };
	static const long long	later[] = { 1, 3, 4, 5, 6 };

	ck_assert_int_eq(check(NULL, 0, NULL), 0);
	ck_assert_int_eq(check(released, 1, NULL), 0);
	ck_assert_int_eq(check(released, 2, NULL), 0);
	ck_assert_int_eq(check(released, N(released), NULL), 0);
	ck_assert_int_eq(check(later, N(later), NULL), 0);
}
END_TEST

START_TEST(test_refused)
{
	static const long long	two[] = { 1, 2, 3 };
	static const long long	gap[] = { 1, 3, 5 };
	static const long long	nofirst[] = { 3, 4 };
	static const long long	twice[] = { 1, 3, 3, 4 };
	static const long long	skip[] = { 1, 4, 3 };
	static const long long	back[] = { 1, 3, 4, 3 };
	static const long long	zero[] = { 0, 1 };

	ck_assert_int_eq(check(two, N(two), "version 2 is retired"), -1);
	ck_assert_int_eq(check(gap, N(gap), "5 follows 3: 4 is missing"), -1);
	ck_assert_int_eq(check(nofirst, N(nofirst), "1 is missing"), -1);
	ck_assert_int_eq(check(twice, N(twice), "3 appears twice"), -1);
	ck_assert_int_eq(check(skip, N(skip), "4 follows 1: 3 is missing"),
	    -1);
	ck_assert_int_eq(check(back, N(back), "3 comes after 4: out of order"),
	    -1);
	ck_assert_int_eq(check(zero, N(zero), "0 is no version"), -1);
}
END_TEST

START_TEST(test_small_buffer)
{
	static const long long	gap[] = { 1, 4 };
	char			err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(migration_check_prefix(gap, N(gap), err,
	    sizeof(err)), -1);
	ck_assert_int_eq(err[sizeof(err) - 1], '\0');
	ck_assert_int_eq(migration_check_prefix(gap, N(gap), NULL, 0), -1);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("migration");
	tc = tcase_create("migration");
	tcase_add_test(tc, test_sequence);
	tcase_add_test(tc, test_prefixes_pass);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_small_buffer);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
