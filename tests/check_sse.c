/*
 * check_sse: feed cursors (round trips, ordering, hostile input) and
 * Server-Sent Events framing (multi-line data, refused fields).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "sse.h"

START_TEST(test_cursor_round_trip)
{
	static const struct sse_cursor	cases[] = {
		{ 0, 0 }, { 1, 0 }, { 7, 3 }, { 12345678901LL, SSE_IDX_END },
		{ INT64_MAX, INT32_MAX }, { 9, 999 },
	};
	struct sse_cursor	got;
	char			text[SSE_CURSOR_MAX];
	size_t			i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(sse_cursor_encode(&cases[i], text,
		    sizeof(text)), 0);
		/* Opaque: base64url characters only, no padding. */
		for (k = 0; text[k] != '\0'; k++)
			ck_assert_ptr_nonnull(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_", text[k]));
		memset(&got, 0xff, sizeof(got));
		ck_assert_int_eq(sse_cursor_decode(text, &got), 0);
		ck_assert(got.version == cases[i].version);
		ck_assert_int_eq(got.idx, cases[i].idx);
	}
}
END_TEST

START_TEST(test_cursor_known_text)
{
	struct sse_cursor	c = { 12, 0 }, got;
	char			text[SSE_CURSOR_MAX];

	/* base64url("12.0") */
	ck_assert_int_eq(sse_cursor_encode(&c, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "MTIuMA");
	ck_assert_int_eq(sse_cursor_decode("MTIuMA", &got), 0);
	ck_assert(got.version == 12 && got.idx == 0);
}
END_TEST

START_TEST(test_cursor_encode_limits)
{
	struct sse_cursor	c = { -1, 0 };
	char			small[4];

	ck_assert_int_eq(sse_cursor_encode(&c, small, sizeof(small)), -1);
	c.version = 1;
	c.idx = -5;
	ck_assert_int_eq(sse_cursor_encode(&c, small, sizeof(small)), -1);
	c.idx = 0;
	/* "1.0" needs 4 characters and the NUL. */
	ck_assert_int_eq(sse_cursor_encode(&c, small, sizeof(small)), -1);
}
END_TEST

static void
must_refuse(const char *text)
{
	struct sse_cursor	c = { 42, 42 };

	ck_assert_msg(sse_cursor_decode(text, &c) == -1, "accepted '%s'",
	    text ? text : "(null)");
	ck_assert(c.version == 42 && c.idx == 42);
}

/* base64url of raw bytes, for building hostile cursors. */
static void
enc(const char *raw, char *out, size_t size)
{
	static const char	tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned int		acc;
	size_t			i, o, n;
	int			bits;

	n = strlen(raw);
	acc = 0;
	bits = 0;
	o = 0;
	for (i = 0; i < n && o + 2 < size; i++) {
		acc = (acc << 8) | (unsigned char)raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = tab[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[o++] = tab[(acc << (6 - bits)) & 0x3f];
	out[o] = '\0';
}

START_TEST(test_cursor_hostile)
{
	static const char	*raw[] = {
		"12", "12.", ".0", "a.b", "-1.0", "1.-1", "+1.0", "01.0",
		"1.00", "1.0.0", "1 .0", "1.2147483648",
		"9223372036854775808.0", "99999999999999999999.0", "1.0x",
		"0x10.0", "",
	};
	char	 text[256], big[4096];
	size_t	 i;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		enc(raw[i], text, sizeof(text));
		must_refuse(text);
	}
	must_refuse(NULL);
	must_refuse("");
	must_refuse("MTIuMA==");	/* padding */
	must_refuse("MTIuMA.");
	must_refuse("MTIu MA");
	must_refuse("MTIuMB");		/* non-canonical trailing bits */
	must_refuse("M");		/* impossible length */
	must_refuse("MTIuMA\n");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	must_refuse(big);
	/* An embedded NUL byte: "1\0.0". */
	must_refuse("MQAuMA");
}
END_TEST

START_TEST(test_cursor_order)
{
	struct sse_cursor	a = { 5, 3 }, b = { 5, SSE_IDX_END },
				c = { 6, 0 };

	ck_assert_int_lt(sse_cursor_cmp(&a, &b), 0);
	ck_assert_int_lt(sse_cursor_cmp(&b, &c), 0);
	ck_assert_int_gt(sse_cursor_cmp(&c, &a), 0);
	ck_assert_int_eq(sse_cursor_cmp(&a, &a), 0);
}
END_TEST

START_TEST(test_event_framing)
{
	struct sse_buf	b;

	sse_buf_init(&b);
	ck_assert_int_eq(sse_event(&b, "MTIuMA", "revocation",
	    "{\"kind\":\"user.disabled\"}"), 0);
	ck_assert_str_eq(b.data, "id: MTIuMA\nevent: revocation\n"
	    "data: {\"kind\":\"user.disabled\"}\n\n");
	sse_buf_free(&b);

	sse_buf_init(&b);
	ck_assert_int_eq(sse_event(&b, NULL, NULL, "a\nb\r\nc\rd"), 0);
	ck_assert_str_eq(b.data, "data: a\ndata: b\ndata: c\ndata: d\n\n");
	sse_buf_free(&b);

	sse_buf_init(&b);
	ck_assert_int_eq(sse_event(&b, "1", "x", NULL), 0);
	ck_assert_int_eq(sse_event(&b, "2", NULL, "tail\n"), 0);
	ck_assert_str_eq(b.data, "id: 1\nevent: x\ndata: \n\n"
	    "id: 2\ndata: tail\ndata: \n\n");
	ck_assert_uint_eq(b.len, strlen(b.data));
	sse_buf_free(&b);
}
END_TEST

START_TEST(test_event_refuses_injection)
{
	struct sse_buf	b;
	char		long_id[300];

	sse_buf_init(&b);
	ck_assert_int_eq(sse_comment(&b, "hb"), 0);
	ck_assert_int_eq(sse_event(&b, "1\nevent: evil", "x", "d"), -1);
	ck_assert_int_eq(sse_event(&b, "1", "x\r", "d"), -1);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	ck_assert_int_eq(sse_event(&b, long_id, NULL, "d"), -1);
	ck_assert_int_eq(sse_comment(&b, "a\nb"), -1);
	ck_assert_int_eq(sse_comment(&b, NULL), -1);
	/* Refused calls leave the buffer as it was. */
	ck_assert_str_eq(b.data, ": hb\n\n");
	ck_assert_int_eq(sse_retry(&b, 1500), 0);
	ck_assert_str_eq(b.data, ": hb\n\nretry: 1500\n\n");
	sse_buf_free(&b);
}
END_TEST

START_TEST(test_event_large_payload)
{
	struct sse_buf	 b;
	char		*data;
	size_t		 i, n = 1 << 20, lines;

	data = malloc(n + 1);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < n; i++)
		data[i] = (i % 1000 == 999) ? '\n' : 'x';
	data[n] = '\0';
	sse_buf_init(&b);
	ck_assert_int_eq(sse_event(&b, "9", "policy", data), 0);
	lines = 0;
	for (i = 0; i < b.len; i++)
		if (strncmp(b.data + i, "data: ", 6) == 0 &&
		    (i == 0 || b.data[i - 1] == '\n'))
			lines++;
	ck_assert_uint_eq(lines, n / 1000 + 1);
	ck_assert(b.data[b.len - 1] == '\n' && b.data[b.len - 2] == '\n');
	sse_buf_free(&b);
	free(data);
}
END_TEST

static Suite *
sse_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("sse");
	tc = tcase_create("cursor");
	tcase_add_test(tc, test_cursor_round_trip);
	tcase_add_test(tc, test_cursor_known_text);
	tcase_add_test(tc, test_cursor_encode_limits);
	tcase_add_test(tc, test_cursor_hostile);
	tcase_add_test(tc, test_cursor_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("events");
	tcase_add_test(tc, test_event_framing);
	tcase_add_test(tc, test_event_refuses_injection);
	tcase_add_test(tc, test_event_large_payload);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(sse_suite()));
}
