/*
 * Unit tests for tracectx: W3C traceparent parsing and formatting.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "tracectx.h"

#define GOOD	"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int
parse(const char *s, struct tracectx *tc)
{
	return (tracectx_parse(s, strlen(s), tc));
}

START_TEST(test_valid)
{
	struct tracectx	tc;
	char		out[TRACECTX_HEADER_LEN + 1];

	ck_assert_int_eq(parse(GOOD, &tc), 0);
	ck_assert_str_eq(tc.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	ck_assert_str_eq(tc.parent_id, "00f067aa0ba902b7");
	ck_assert_uint_eq(tc.flags, 1);
	tracectx_format(&tc, out, sizeof(out));
	ck_assert_str_eq(out, GOOD);
	/* Optional whitespace around a header value. */
	ck_assert_int_eq(parse(" \t" GOOD " ", &tc), 0);
	/* A later version: read by its 00 prefix, extra fields ignored. */
	ck_assert_int_eq(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "00f067aa0ba902b7-09-what-the-future-holds", &tc), 0);
	ck_assert_uint_eq(tc.flags, 9);
	ck_assert_int_eq(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "00f067aa0ba902b7-09", &tc), 0);
	/* Not NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(tracectx_parse(GOOD "garbage", strlen(GOOD), &tc), 0);
}
END_TEST

START_TEST(test_invalid)
{
	struct tracectx	tc;
	static const char *bad[] = {
		"",
		"00",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
		"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\x01\x02",
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], &tc) == -1, "accepted %s", bad[i]);
		ck_assert_str_eq(tc.trace_id, "");
	}
}
END_TEST

/* Our span in the caller's trace: same trace id and flags. */
START_TEST(test_child)
{
	struct tracectx	tc, child;
	char		out[TRACECTX_HEADER_LEN + 1];

	ck_assert_int_eq(parse(GOOD, &tc), 0);
	tracectx_child(&tc, 0xabcdef0123456789ULL, &child);
	tracectx_format(&child, out, sizeof(out));
	ck_assert_str_eq(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-"
	    "abcdef0123456789-01");
	/* What we send parses again. */
	ck_assert_int_eq(parse(out, &tc), 0);
	tracectx_child(&tc, 0, &child);
	ck_assert_str_eq(child.parent_id, "0000000000000001");
	tracectx_format(&child, out, sizeof(out));
	ck_assert_int_eq(parse(out, &tc), 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("tracectx");
	tc = tcase_create("traceparent");
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_child);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
