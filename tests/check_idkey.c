/*
 * Unit tests for idkey: the spellings that must be one identity (case,
 * composition, full folding, the Kelvin sign), the ones that must stay
 * apart (Turkish dotted and dotless i, compatibility forms), invalid
 * input, the ASCII fast path against utf8proc's own answer, buffer
 * limits, idempotence over every code point, and edge white space.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "check_main.h"
#include "idkey.h"

static char *
key(const char *s)
{
	static char	buf[4096];

	ck_assert_int_ge(idkey_buf(s, strlen(s), buf, sizeof(buf)), 0);
	return (buf);
}

static int
same(const char *a, const char *b)
{
	char	ka[4096];

	strcpy(ka, key(a));
	return (strcmp(ka, key(b)) == 0);
}

START_TEST(test_same_identity)
{
	/* Émile / émile (precomposed). */
	ck_assert(same("\xc3\x89mile@contoso.com", "\xc3\xa9mile@contoso.com"));
	/* NFD e + U+0301 against NFC é, in either case. */
	ck_assert(same("e\xcc\x81mile", "\xc3\xa9mile"));
	ck_assert(same("E\xcc\x81MILE", "\xc3\xa9mile"));
	/* Full folding: ß is ss, so STRASSE is Straße. */
	ck_assert(same("Stra\xc3\x9f" "e", "STRASSE"));
	ck_assert_str_eq(key("\xc3\x9f"), "ss");
	ck_assert(same("\xe1\xba\x9e", "ss"));		/* capital sharp s */
	/* The Kelvin sign U+212A is K. */
	ck_assert(same("\xe2\x84\xaa" "elvin", "kelvin"));
	ck_assert_str_eq(key("\xe2\x84\xaa"), "k");
	/* Greek final sigma folds to sigma. */
	ck_assert(same("\xcf\x82", "\xce\xa3"));
	/* Ångström sign U+212B is Å (canonical singleton). */
	ck_assert(same("\xe2\x84\xab", "\xc3\xa5"));
	ck_assert(same("Alice@Contoso.COM", "alice@contoso.com"));
}
END_TEST

START_TEST(test_distinct_identity)
{
	/* Turkish: İ (U+0130) is i + U+0307; ı (U+0131) stays itself. */
	ck_assert_str_eq(key("\xc4\xb0"), "i\xcc\x87");
	ck_assert(!same("\xc4\xb0", "i"));
	ck_assert(!same("\xc4\xb0", "\xc4\xb1"));
	ck_assert(!same("\xc4\xb1", "i"));
	ck_assert(!same("\xc4\xb1", "I"));
	ck_assert(same("I", "i"));
	ck_assert(same("\xc4\xb0", "i\xcc\x87"));
	/* Compatibility forms are other characters (no NFKC). */
	ck_assert(!same("\xef\xbd\x81", "a"));		/* fullwidth a */
	/* ...except where full case folding itself maps them (U+FB01). */
	ck_assert(same("\xef\xac\x81", "fi"));
	/* White space is part of the name: refused at write, not hidden. */
	ck_assert(!same("alice@x ", "alice@x"));
	/* Look-alike scripts are not folded together. */
	ck_assert(!same("\xd0\xb0lice", "alice"));	/* Cyrillic a */
}
END_TEST

START_TEST(test_invalid_input)
{
	static const char	*bad[] = { "\xff", "a\xc3", "\xc3\x28",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe0\x80\xaf" };
	char			 buf[64];
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(buf, "junk");
		ck_assert_int_eq(idkey_buf(bad[i], strlen(bad[i]), buf,
		    sizeof(buf)), IDKEY_EINVAL);
		ck_assert_str_eq(buf, "");
		ck_assert_ptr_null(idkey_dup(bad[i], &rc));
		ck_assert_int_eq(rc, IDKEY_EINVAL);
	}
	/* A NUL inside the counted bytes is refused, ASCII or not. */
	ck_assert_int_eq(idkey_buf("a\0b", 3, buf, sizeof(buf)), IDKEY_EINVAL);
	ck_assert_int_eq(idkey_buf("\xc3\xa9\0b", 4, buf, sizeof(buf)),
	    IDKEY_EINVAL);
	ck_assert_str_ne(idkey_strerror(IDKEY_EINVAL), "");
}
END_TEST

START_TEST(test_ascii_fast_path_matches_utf8proc)
{
	utf8proc_uint8_t	*ref;
	char			 in[2], out[8];
	int			 c;

	for (c = 1; c < 0x80; c++) {
		in[0] = (char)c;
		in[1] = '\0';
		ck_assert_int_eq(idkey_buf(in, 1, out, sizeof(out)), 1);
		ck_assert_int_ge(utf8proc_map((const utf8proc_uint8_t *)in, 1,
		    &ref, UTF8PROC_STABLE | UTF8PROC_COMPOSE |
		    UTF8PROC_CASEFOLD), 1);
		ck_assert_str_eq(out, (char *)ref);
		free(ref);
	}
}
END_TEST

START_TEST(test_buffers)
{
	char	 small[4], *big, *k, *k2;
	size_t	 i, n;

	ck_assert_int_eq(idkey_buf("abcd", 4, small, sizeof(small)),
	    IDKEY_ESPACE);
	ck_assert_int_eq(idkey_buf("abc", 3, small, sizeof(small)), 3);
	/* ß grows to ss: a key can be longer than its name. */
	ck_assert_int_eq(idkey_buf("\xc3\x9f\xc3\x9f", 4, small,
	    sizeof(small)), IDKEY_ESPACE);
	ck_assert_int_eq(idkey_buf("", 0, small, sizeof(small)), 0);

	/* Longer than the stack buffer: the heap path gives the same. */
	n = 3000;
	ck_assert_ptr_nonnull(big = malloc(n * 2 + 1));
	for (i = 0; i < n; i++)
		memcpy(big + i * 2, "\xc3\x89", 2);		/* É */
	big[n * 2] = '\0';
	ck_assert_ptr_nonnull(k = idkey_dup(big, NULL));
	ck_assert_uint_eq(strlen(k), n * 2);
	for (i = 0; i < n; i++)
		ck_assert(memcmp(k + i * 2, "\xc3\xa9", 2) == 0);
	for (i = 0; i < n; i++)
		memcpy(big + i * 2, "\xc3\x9f", 2);		/* ß */
	ck_assert_ptr_nonnull(k2 = idkey_dup(big, NULL));
	ck_assert_uint_eq(strlen(k2), n * 2);
	ck_assert(strspn(k2, "s") == n * 2);
	free(k2);
	free(k);
	free(big);
}
END_TEST

/* key(key(x)) == key(x) for every code point: stored keys re-key alike. */
START_TEST(test_idempotent_everywhere)
{
	char			 in[8], k1[64], k2[64];
	utf8proc_int32_t	 c;
	ssize_t			 n, m;

	for (c = 1; c <= 0x10ffff; c++) {
		if (!utf8proc_codepoint_valid(c))
			continue;
		n = utf8proc_encode_char(c, (utf8proc_uint8_t *)in);
		in[n] = '\0';
		ck_assert_int_ge(n = idkey_buf(in, (size_t)n, k1, sizeof(k1)),
		    0);
		ck_assert_int_ge(m = idkey_buf(k1, (size_t)n, k2, sizeof(k2)),
		    0);
		if (strcmp(k1, k2) != 0)
			ck_abort_msg("U+%04X: key is not stable", (unsigned)c);
	}
}
END_TEST

START_TEST(test_edge_space)
{
	static const char	*edged[] = { " a", "a ", "\ta", "a\n",
	    "\xc2\xa0" "a", "a\xc2\xa0", "\xe2\x80\x8b" "a", "a\xef\xbb\xbf",
	    "\xe3\x80\x80" "a", "a\xe2\x80\xa8", " " };
	static const char	*clean[] = { "a", "a b", "alice@x",
	    "\xc3\x89mile", "e\xcc\x81", "a\xc2\xa0" "b", "" };
	size_t			 i;

	for (i = 0; i < sizeof(edged) / sizeof(edged[0]); i++)
		ck_assert_msg(idkey_edge_space(edged[i], strlen(edged[i])),
		    "edged[%zu]", i);
	for (i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
		ck_assert_msg(!idkey_edge_space(clean[i], strlen(clean[i])),
		    "clean[%zu]", i);
}
END_TEST

static double
cpu_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * The cost a decision now pays to key the asked subject (measured, not
 * asserted: CPU time of this process, so other load matters less).
 */
START_TEST(test_cost)
{
	static const char	*subjects[] = { "user12345@contoso.com",
	    "\xc3\x89mile.Zola@contoso.com" };
	static const char	*label[] = { "ASCII", "non-ASCII" };
	char			 buf[256];
	volatile ssize_t	 sink;
	double			 t0, el;
	size_t			 i, len;
	int			 n, rounds;

	rounds = 200000;
	for (i = 0; i < 2; i++) {
		len = strlen(subjects[i]);
		sink = 0;
		t0 = cpu_sec();
		for (n = 0; n < rounds; n++)
			sink += idkey_buf(subjects[i], len, buf, sizeof(buf));
		el = cpu_sec() - t0;
		ck_assert_int_gt(sink, 0);
		printf("idkey: %.0f ns per %s subject of %zu bytes\n",
		    el / rounds * 1e9, label[i], len);
	}
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("idkey");
	tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_same_identity);
	tcase_add_test(tc, test_distinct_identity);
	tcase_add_test(tc, test_invalid_input);
	tcase_add_test(tc, test_ascii_fast_path_matches_utf8proc);
	tcase_add_test(tc, test_buffers);
	tcase_add_test(tc, test_idempotent_everywhere);
	tcase_add_test(tc, test_edge_space);
	tcase_add_test(tc, test_cost);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
