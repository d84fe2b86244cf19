/*
 * check_main.h: the runner every tests/check_*.c program's main() ends
 * with.  scripts/run-unit.sh reads the summary line Check prints
 * ("N%: Checks: ...") and the "SKIP N: reason" lines a program prints
 * before it runs its suite.
 */
#ifndef RC_TESTS_CHECK_MAIN_H
#define RC_TESTS_CHECK_MAIN_H

#include <stdlib.h>

#include <check.h>

/*
 * Runs suite s (the runner takes it over and frees it) in Check's
 * normal mode; the program's exit status: 0 when every test passed.
 */
static int
check_run(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

#endif
