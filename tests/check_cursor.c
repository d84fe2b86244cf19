/*
 * Unit tests for cursor: round trips, and every way a client could try
 * to bend a cursor (edit, truncate, re-encode, swap queries or keys,
 * oversize, garbage), query-string parsing, and the process key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cursor.h"
#include "util.h"

static unsigned char	key[CURSOR_KEY_LEN];
static unsigned char	key2[CURSOR_KEY_LEN];

static void
keys_setup(void)
{
	memset(key, 0x11, sizeof(key));
	memset(key2, 0x11, sizeof(key2));
	key2[31] = 0x12;
}

START_TEST(test_round_trip)
{
	static const char	*positions[] = { "[123]",
	    "[\"alice@example.com\",\"0b6d8a1e-8d4c-4e8a-9a55-0f2d3c4b5a69\"]",
	    "x", "ab", "abc", "abcd", "\xc3\xa9t\xc3\xa9" };
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX], pos[CURSOR_POS_MAX + 1];
	size_t			 i;

	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		ck_assert_int_eq(cursor_encode(key, "users:asc", positions[i],
		    tok, sizeof(tok)), 0);
		ck_assert(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
		    "opqrstuvwxyz0123456789-_.") == strlen(tok));
		/* Opaque: the position is not readable as is. */
		ck_assert_ptr_null(strstr(tok, positions[i]));
		ck_assert_int_eq(cursor_decode(key, "users:asc", tok, pos,
		    sizeof(pos), &err), 0);
		ck_assert_str_eq(pos, positions[i]);
	}
}
END_TEST

START_TEST(test_every_edit_is_refused)
{
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX];
	char			 bad[CURSOR_TOKEN_MAX + 2];
	char			 pos[64];
	const char		*alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			 i, j, len;

	ck_assert_int_eq(cursor_encode(key, "audit:desc", "[4242]", tok,
	    sizeof(tok)), 0);
	len = strlen(tok);
	/* Change every character to every other one: none verifies. */
	for (i = 0; i < len; i++) {
		for (j = 0; alpha[j] != '\0'; j++) {
			if (alpha[j] == tok[i] || tok[i] == '.')
				continue;
			memcpy(bad, tok, len + 1);
			bad[i] = alpha[j];
			ck_assert_int_eq(cursor_decode(key, "audit:desc", bad,
			    pos, sizeof(pos), &err), -1);
			ck_assert(err.msg[0] != '\0');
		}
	}
	/* Truncated anywhere, or extended. */
	for (i = 0; i < len; i++) {
		memcpy(bad, tok, i);
		bad[i] = '\0';
		ck_assert_int_eq(cursor_decode(key, "audit:desc", bad, pos,
		    sizeof(pos), &err), -1);
	}
	(void)snprintf(bad, sizeof(bad), "%sA", tok);
	ck_assert_int_eq(cursor_decode(key, "audit:desc", bad, pos,
	    sizeof(pos), &err), -1);
}
END_TEST

START_TEST(test_forged_position_is_refused)
{
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX];
	char			 forged[CURSOR_TOKEN_MAX];
	char			 b64[64], pos[64];
	const char		*dot;

	/* Keep the MAC, swap in a position of the client's choosing. */
	ck_assert_int_eq(cursor_encode(key, "audit:desc", "[100]", tok,
	    sizeof(tok)), 0);
	dot = strchr(tok, '.');
	rc_b64url_encode((const unsigned char *)"[1]", 3, b64);
	(void)snprintf(forged, sizeof(forged), "%s%s", b64, dot);
	ck_assert_int_eq(cursor_decode(key, "audit:desc", forged, pos,
	    sizeof(pos), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "altered"));
}
END_TEST

START_TEST(test_other_query_or_key_is_refused)
{
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX], pos[64];

	ck_assert_int_eq(cursor_encode(key, "audit:desc:dir=1", "[7]", tok,
	    sizeof(tok)), 0);
	ck_assert_int_eq(cursor_decode(key, "audit:asc:dir=1", tok, pos,
	    sizeof(pos), &err), -1);
	ck_assert_int_eq(cursor_decode(key, "audit:desc:dir=2", tok, pos,
	    sizeof(pos), &err), -1);
	ck_assert_int_eq(cursor_decode(key2, "audit:desc:dir=1", tok, pos,
	    sizeof(pos), &err), -1);
	/* The scope is NUL-delimited in the MAC: no ambiguity games. */
	ck_assert_int_eq(cursor_decode(key, "audit:desc:dir=1\n", tok, pos,
	    sizeof(pos), &err), -1);
	ck_assert_int_eq(cursor_decode(key, "audit:desc:dir=1", tok, pos,
	    sizeof(pos), &err), 0);
}
END_TEST

START_TEST(test_garbage_and_limits)
{
	static const char	*garbage[] = { "", ".", "..", "abc", "abc.",
	    ".abc", "!!!.AAAA", "AAAA.!!!", "A.AAAAAAAAAAAAAAAAAAAAAA",
	    "AAAA.AAAA.AAAA", "W3hd.AAAAAAAAAAAAAAAAAAAAAA",
	    "W3hd\n.AAAAAAAAAAAAAAAAAAAAAA", "%5B1%5D.AAAAAAAAAAAAAAAAAAAAAA" };
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX], pos[CURSOR_POS_MAX + 2];
	char			*big;
	size_t			 i;

	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		ck_assert_int_eq(cursor_decode(key, "s", garbage[i], pos,
		    sizeof(pos), &err), -1);

	/* Positions: empty and over-long refused; exactly the max works. */
	ck_assert_int_eq(cursor_encode(key, "s", "", tok, sizeof(tok)), -1);
	memset(pos, 'p', CURSOR_POS_MAX + 1);
	pos[CURSOR_POS_MAX + 1] = '\0';
	ck_assert_int_eq(cursor_encode(key, "s", pos, tok, sizeof(tok)), -1);
	pos[CURSOR_POS_MAX] = '\0';
	ck_assert_int_eq(cursor_encode(key, "s", pos, tok, sizeof(tok)), 0);
	ck_assert_uint_le(strlen(tok) + 1, CURSOR_TOKEN_MAX);
	ck_assert_int_eq(cursor_decode(key, "s", tok, pos, sizeof(pos),
	    &err), 0);
	ck_assert_uint_eq(strlen(pos), CURSOR_POS_MAX);
	/* A caller buffer too small for the position is refused. */
	ck_assert_int_eq(cursor_decode(key, "s", tok, pos, 16, &err), -1);
	/* An output buffer too small is refused, not overrun. */
	ck_assert_int_eq(cursor_encode(key, "s", "[1]", tok, 8), -1);

	/* A megabyte of cursor is refused without work. */
	big = malloc(1 << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 'A', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	ck_assert_int_eq(cursor_decode(key, "s", big, pos, sizeof(pos),
	    &err), -1);
	free(big);
}
END_TEST

START_TEST(test_position_with_nul_is_refused)
{
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX], b64[16], pos[64];
	const unsigned char	 raw[] = { '[', '1', 0, ']' };

	rc_b64url_encode(raw, sizeof(raw), b64);
	(void)snprintf(tok, sizeof(tok), "%s.AAAAAAAAAAAAAAAAAAAAAA", b64);
	ck_assert_int_eq(cursor_decode(key, "s", tok, pos, sizeof(pos),
	    &err), -1);
}
END_TEST


static const char *const	allowed[] = { "limit", "cursor", "userName",
    "email", NULL };

START_TEST(test_params_parse)
{
	struct cursor_params	 qp;
	struct cursor_err	 err;

	ck_assert_int_eq(cursor_params_parse(NULL, allowed, &qp, &err), 0);
	ck_assert_uint_eq(qp.n, 0);
	cursor_params_free(&qp);
	ck_assert_int_eq(cursor_params_parse("limit=5&&userName=a%40b.c+d&"
	    "email=%C3%A9%3D", allowed, &qp, &err), 0);
	ck_assert_uint_eq(qp.n, 3);
	ck_assert_str_eq(cursor_params_get(&qp, "limit"), "5");
	ck_assert_str_eq(cursor_params_get(&qp, "userName"), "a@b.c d");
	ck_assert_str_eq(cursor_params_get(&qp, "email"), "\xc3\xa9=");
	ck_assert_ptr_null(cursor_params_get(&qp, "cursor"));
	cursor_params_free(&qp);
}
END_TEST

START_TEST(test_params_refused)
{
	static const struct {
		const char	*qs;
		const char	*param;
	} bad[] = {
		{ "limit=1&limit=2", "limit" },
		{ "sort=x", "sort" },
		{ "limit=", "limit" },
		{ "limit", "limit" },
		{ "userName=%", "userName" },
		{ "userName=%4", "userName" },
		{ "userName=%zz", "userName" },
		{ "userName=a%00b", "userName" },
		{ "userName=%C3", "userName" },
		{ "userName=%C0%AF", "userName" },
		{ "userName=%ED%A0%80", "userName" },
		{ "userName=%F4%90%80%80", "userName" },
		{ "email=%FF", "email" },
		{ "%ZZ=1", "" },
	};
	struct cursor_params	 qp;
	struct cursor_err	 err;
	char			*big;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cursor_params_parse(bad[i].qs, allowed, &qp,
		    &err) == -1, "accepted %s", bad[i].qs);
		ck_assert_str_eq(err.param, bad[i].param);
		ck_assert(err.msg[0] != '\0');
		cursor_params_free(&qp);
	}

	/* Over-long and too many parameters. */
	big = malloc(CURSOR_QS_MAX + 16);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "email=", 6);
	memset(big + 6, 'a', CURSOR_QS_MAX + 4);
	big[CURSOR_QS_MAX + 10] = '\0';
	ck_assert_int_eq(cursor_params_parse(big, allowed, &qp, &err), -1);
	cursor_params_free(&qp);
	free(big);
}
END_TEST

START_TEST(test_key_install_once)
{
	unsigned char	a[CURSOR_KEY_LEN], b[CURSOR_KEY_LEN];

	ck_assert_ptr_null(cursor_key_get());
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	cursor_key_install(a);
	cursor_key_install(b);
	ck_assert_ptr_nonnull(cursor_key_get());
	ck_assert_int_eq(memcmp(cursor_key_get(), a, sizeof(a)), 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("cursor");
	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_every_edit_is_refused);
	tcase_add_test(tc, test_forged_position_is_refused);
	tcase_add_test(tc, test_other_query_or_key_is_refused);
	tcase_add_test(tc, test_garbage_and_limits);
	tcase_add_test(tc, test_position_with_nul_is_refused);
	tcase_add_test(tc, test_params_parse);
	tcase_add_test(tc, test_params_refused);
	tcase_add_test(tc, test_key_install_once);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
