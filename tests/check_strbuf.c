/*
 * Unit tests for strbuf: appends that grow the buffer, and the text
 * they leave.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "strbuf.h"

START_TEST(test_appends)
{
	struct strbuf	b = { 0 };

	strbuf_printf(&b, "%s", "");
	ck_assert_ptr_nonnull(b.s);
	ck_assert_str_eq(b.s, "");
	strbuf_printf(&b, "a=%d", 1);
	strbuf_printf(&b, ",%s", "b");
	ck_assert_str_eq(b.s, "a=1,b");
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(b.oom, 0);
	free(b.s);
}
END_TEST

START_TEST(test_grows_past_its_first_block)
{
	struct strbuf	b = { 0 };
	size_t		i;

	for (i = 0; i < 1000; i++)
		strbuf_printf(&b, "%03zu", i % 1000);
	ck_assert_int_eq(b.oom, 0);
	ck_assert_uint_eq(b.len, 3000);
	ck_assert_uint_eq(strlen(b.s), 3000);
	ck_assert_int_eq(memcmp(b.s, "000001002", 9), 0);
	ck_assert_int_eq(memcmp(b.s + 2997, "999", 3), 0);
	ck_assert_uint_ge(b.cap, b.len + 1);
	free(b.s);
}
END_TEST

START_TEST(test_oom_sticks)
{
	struct strbuf	b = { 0 };

	b.oom = 1;
	strbuf_printf(&b, "%s", "ignored");
	ck_assert_ptr_null(b.s);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("strbuf");
	tc = tcase_create("core");
	tcase_add_test(tc, test_appends);
	tcase_add_test(tc, test_grows_past_its_first_block);
	tcase_add_test(tc, test_oom_sticks);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
