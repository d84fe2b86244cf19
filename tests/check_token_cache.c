/*
 * Unit tests for token_cache: hits, expiry, binding changes, bounded
 * size with eviction of what expires first.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "check_main.h"
#include "token_cache.h"

static void
hash_of(const char *token, unsigned char out[TOKEN_CACHE_HASH_LEN])
{
	SHA256((const unsigned char *)token, strlen(token), out);
}

static struct token_cache_entry
entry(const char *oid, int64_t exp, uint64_t gen)
{
	struct token_cache_entry	e;

	memset(&e, 0, sizeof(e));
	e.binding_gen = gen;
	e.exp_s = exp;
	(void)snprintf(e.oid, sizeof(e.oid), "%s", oid);
	(void)snprintf(e.directory, sizeof(e.directory), "1");
	e.version = 2;
	return (e);
}

START_TEST(test_hit_expiry_binding)
{
	struct token_cache		*c;
	struct token_cache_entry	 e, out;
	struct token_cache_stats	 st;
	unsigned char			 h[TOKEN_CACHE_HASH_LEN];

	c = token_cache_new(100);
	ck_assert_ptr_nonnull(c);
	hash_of("token-a", h);
	ck_assert_int_eq(token_cache_get(c, h, 1000, 1, &out), 0);
	e = entry("oid-a", 2000, 1);
	token_cache_put(c, h, &e);
	ck_assert_int_eq(token_cache_get(c, h, 1999, 1, &out), 1);
	ck_assert_str_eq(out.oid, "oid-a");
	/* Another binding generation: validated under rules that changed. */
	ck_assert_int_eq(token_cache_get(c, h, 1000, 2, &out), 0);
	token_cache_put(c, h, &e);
	/* exp is exclusive, as in the verifier. */
	ck_assert_int_eq(token_cache_get(c, h, 2000, 1, &out), 0);
	ck_assert_int_eq(token_cache_get(c, h, 1000, 1, &out), 0);
	token_cache_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.slots, 128);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.misses, 4);
	/* Put twice keeps one entry, with the newer content. */
	token_cache_put(c, h, &e);
	e = entry("oid-b", 3000, 1);
	token_cache_put(c, h, &e);
	token_cache_stats(c, &st);
	ck_assert_uint_eq(st.used, 1);
	ck_assert_int_eq(token_cache_get(c, h, 2500, 1, &out), 1);
	ck_assert_str_eq(out.oid, "oid-b");
	token_cache_free(c);
	token_cache_free(NULL);
}
END_TEST

START_TEST(test_bounded)
{
	struct token_cache		*c;
	struct token_cache_entry	 e, out;
	struct token_cache_stats	 st;
	unsigned char			 h[TOKEN_CACHE_HASH_LEN];
	char				 tok[32];
	int				 i, hits;

	c = token_cache_new(64);
	for (i = 0; i < 10000; i++) {
		(void)snprintf(tok, sizeof(tok), "t%d", i);
		hash_of(tok, h);
		e = entry(tok, 100000 + i, 7);
		token_cache_put(c, h, &e);
	}
	token_cache_stats(c, &st);
	ck_assert_uint_eq(st.slots, 64);
	ck_assert_uint_le(st.used, 64);
	ck_assert_uint_ge(st.evictions, 10000 - 64);
	/* Recent tokens, which expire last, are the ones kept. */
	hits = 0;
	for (i = 9936; i < 10000; i++) {
		(void)snprintf(tok, sizeof(tok), "t%d", i);
		hash_of(tok, h);
		if (token_cache_get(c, h, 1, 7, &out)) {
			ck_assert_str_eq(out.oid, tok);
			hits++;
		}
	}
	ck_assert_int_gt(hits, 32);
	/* Nothing collides into another token's claims. */
	hash_of("t1", h);
	if (token_cache_get(c, h, 1, 7, &out))
		ck_assert_str_eq(out.oid, "t1");
	token_cache_free(c);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("token_cache");
	tc = tcase_create("cache");
	tcase_add_test(tc, test_hit_expiry_binding);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
