/*
 * Unit tests for jsonw: output parses back with jansson to the same
 * values, for hostile strings too.
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "jsonw.h"

/* Integers written by hand: the edges print as printf would. */
START_TEST(test_ints)
{
	static const int64_t	 v[] = { 0, 7, -7, 10, -10, 1234567890123LL,
	    INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	struct jsonw		 w;
	char			 want[32];
	size_t			 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		jsonw_init(&w, 1);
		jsonw_int(&w, v[i]);
		(void)snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		ck_assert(!w.failed);
		ck_assert_str_eq(w.buf, want);
		jsonw_cleanup(&w);
	}
}
END_TEST

START_TEST(test_shapes_round_trip)
{
	struct jsonw	 w;
	json_t		*doc;

	jsonw_init(&w, 1);
	jsonw_raw(&w, "{\"a\":");
	jsonw_str(&w, "quote\" back\\slash \n tab\t \x01 é ✓ 😀");
	jsonw_raw(&w, ",\"n\":");
	jsonw_int(&w, -9007199254740993LL);
	jsonw_raw(&w, ",\"b\":");
	jsonw_bool(&w, 1);
	jsonw_raw(&w, ",\"z\":");
	jsonw_str(&w, NULL);
	jsonw_raw(&w, "}");
	ck_assert(!w.failed);
	doc = json_loads(w.buf, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "a")),
	    "quote\" back\\slash \n tab\t \x01 é ✓ 😀");
	ck_assert(json_integer_value(json_object_get(doc, "n")) ==
	    -9007199254740993LL);
	ck_assert(json_is_true(json_object_get(doc, "b")));
	ck_assert(json_is_null(json_object_get(doc, "z")));
	json_decref(doc);
	jsonw_cleanup(&w);
}
END_TEST

START_TEST(test_invalid_utf8_is_replaced)
{
	static const char	*bad[] = { "\xff", "a\xc3", "\xc0\xaf",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "x\x80y" };
	struct jsonw		 w;
	json_t			*doc;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jsonw_init(&w, 8);
		jsonw_str(&w, bad[i]);
		doc = json_loads(w.buf, JSON_DECODE_ANY, NULL);
		ck_assert_msg(doc != NULL, "case %zu: %s", i, w.buf);
		ck_assert(strstr(json_string_value(doc), "\xef\xbf\xbd") !=
		    NULL);
		json_decref(doc);
		jsonw_cleanup(&w);
	}
}
END_TEST

START_TEST(test_large_output_grows)
{
	struct jsonw	 w;
	json_t		*doc;
	int		 i;

	jsonw_init(&w, 0);
	jsonw_raw(&w, "[");
	for (i = 0; i < 100000; i++) {
		if (i)
			jsonw_raw(&w, ",");
		jsonw_int(&w, i);
	}
	jsonw_raw(&w, "]");
	doc = json_loads(w.buf, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_uint_eq(json_array_size(doc), 100000);
	json_decref(doc);
	jsonw_cleanup(&w);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("jsonw");
	tc = tcase_create("jsonw");
	tcase_add_test(tc, test_shapes_round_trip);
	tcase_add_test(tc, test_ints);
	tcase_add_test(tc, test_invalid_utf8_is_replaced);
	tcase_add_test(tc, test_large_output_grows);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
