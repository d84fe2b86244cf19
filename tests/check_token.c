/*
 * Unit tests for token (secrets, hashing, scopes, bearer parsing) and
 * tokentab (the shared token table, across processes).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "token.h"
#include "tokentab.h"
#include "util.h"

START_TEST(test_generate_shape_and_uniqueness)
{
	char	a[TOKEN_SECRET_LEN + 1], b[TOKEN_SECRET_LEN + 1];
	size_t	i;

	ck_assert_int_eq(token_generate(a, sizeof(a)), 0);
	ck_assert_int_eq(token_generate(b, sizeof(b)), 0);
	ck_assert_uint_eq(strlen(a), TOKEN_SECRET_LEN);
	ck_assert(strncmp(a, TOKEN_PREFIX, 4) == 0);
	ck_assert_str_ne(a, b);
	for (i = 4; i < strlen(a); i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
		    "vwxyz0123456789-_", a[i]) != NULL);
	/* Too small a buffer is refused, not overrun. */
	ck_assert_int_eq(token_generate(a, TOKEN_SECRET_LEN), -1);
}
END_TEST

START_TEST(test_hash_known_vector)
{
	unsigned char	h[TOKEN_HASH_LEN];
	char		hex[2 * TOKEN_HASH_LEN + 1];

	/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
	token_hash("abc", 3, h);
	rc_hex_encode(h, sizeof(h), hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_scopes)
{
	unsigned int	m;
	char		out[64];

	ck_assert_int_eq(token_scopes_parse("scim", &m), 0);
	ck_assert_uint_eq(m, TOKEN_SCOPE_SCIM);
	ck_assert_int_eq(token_scopes_parse("admin,scim,gateway", &m), 0);
	ck_assert_uint_eq(m, TOKEN_SCOPE_ALL);
	token_scopes_format(m, out, sizeof(out));
	ck_assert_str_eq(out, "scim,gateway,admin");
	ck_assert_int_eq(token_scopes_parse("", &m), -1);
	ck_assert_int_eq(token_scopes_parse("scim,", &m), -1);
	ck_assert_int_eq(token_scopes_parse("scim,scim", &m), -1);
	ck_assert_int_eq(token_scopes_parse("SCIM", &m), -1);
	ck_assert_int_eq(token_scopes_parse("scim ,gateway", &m), -1);
	ck_assert_int_eq(token_scopes_parse("root", &m), -1);
	token_scopes_format(TOKEN_SCOPE_GATEWAY, out, 4);
	ck_assert_str_eq(out, "gat");
}
END_TEST

START_TEST(test_bearer_parse)
{
	const char	*s;
	size_t		 n;

	ck_assert_int_eq(token_bearer_parse("Bearer abc", &s, &n), 0);
	ck_assert(n == 3 && strncmp(s, "abc", 3) == 0);
	ck_assert_int_eq(token_bearer_parse("bEaReR   abc  ", &s, &n), 0);
	ck_assert(n == 3 && strncmp(s, "abc", 3) == 0);
	ck_assert_int_eq(token_bearer_parse(NULL, &s, &n), -1);
	ck_assert_int_eq(token_bearer_parse("Bearer", &s, &n), -1);
	ck_assert_int_eq(token_bearer_parse("Bearer ", &s, &n), -1);
	ck_assert_int_eq(token_bearer_parse("Bearerabc", &s, &n), -1);
	ck_assert_int_eq(token_bearer_parse("Basic abc", &s, &n), -1);
}
END_TEST

static struct tokentab	*tt;
static void		*tt_mem;
#define SLOTS	64

static void
tab_setup(void)
{
	tt_mem = mmap(NULL, tokentab_size(SLOTS), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(tt_mem, MAP_FAILED);
	tt = tokentab_init(tt_mem, SLOTS);
	ck_assert_ptr_nonnull(tt);
}

static void
tab_teardown(void)
{
	munmap(tt_mem, tokentab_size(SLOTS));
}

static void
entry(struct tokentab_entry *e, const char *secret, const char *id,
    unsigned int scopes)
{
	memset(e, 0, sizeof(*e));
	token_hash(secret, strlen(secret), e->hash);
	rc_strlcpy(e->id, id, sizeof(e->id));
	rc_strlcpy(e->name, "n", sizeof(e->name));
	e->scopes = scopes;
}

START_TEST(test_tab_lookup_expiry_revoke)
{
	struct tokentab_entry	e, out, all[2];
	unsigned char		h[TOKEN_HASH_LEN];

	ck_assert_ptr_null(tokentab_init(tt_mem, 3));
	entry(&e, "secret-one", "id-1", TOKEN_SCOPE_SCIM);
	e.expires_ms = 5000;
	ck_assert_int_eq(tokentab_put(tt, &e), 0);
	token_hash("secret-one", 10, h);
	ck_assert_int_eq(tokentab_check(tt, h, 4999, &out), TOKENTAB_OK);
	ck_assert_str_eq(out.id, "id-1");
	ck_assert_int_eq(tokentab_check(tt, h, 5000, &out), TOKENTAB_EXPIRED);
	token_hash("secret-two", 10, h);
	ck_assert_int_eq(tokentab_check(tt, h, 1, &out), TOKENTAB_UNKNOWN);

	entry(&all[0], "a", "id-a", TOKEN_SCOPE_ADMIN);
	entry(&all[1], "b", "id-b", TOKEN_SCOPE_GATEWAY);
	ck_assert_int_eq(tokentab_replace_all(tt, all, 2, TOKENTAB_ANY_GEN), 0);
	ck_assert_uint_eq(tokentab_count(tt), 2);
	token_hash("secret-one", 10, h);
	ck_assert_int_eq(tokentab_check(tt, h, 1, &out), TOKENTAB_UNKNOWN);
	token_hash("b", 1, h);
	ck_assert_int_eq(tokentab_check(tt, h, 1, &out), TOKENTAB_OK);
	ck_assert_uint_eq(out.scopes, TOKEN_SCOPE_GATEWAY);
	ck_assert_int_eq(tokentab_revoke(tt, "id-b", 10), 0);
	ck_assert_int_eq(tokentab_check(tt, h, 9, &out), TOKENTAB_OK);
	ck_assert_int_eq(tokentab_check(tt, h, 10, &out), TOKENTAB_REVOKED);
	ck_assert_int_eq(tokentab_revoke(tt, "id-zzz", 10), -1);
}
END_TEST

static void
collect_expiring(const struct tokentab_entry *e, void *arg)
{
	char	*seen = arg;

	(void)strncat(seen, e->id, 64);
	(void)strncat(seen, ";", 2);
}

START_TEST(test_tab_foreach_expiring)
{
	struct tokentab_entry	all[3];
	char			seen[256] = "";

	entry(&all[0], "a", "id-a", TOKEN_SCOPE_SCIM);
	all[0].expires_ms = 1000;
	entry(&all[1], "b", "id-b", TOKEN_SCOPE_SCIM);
	entry(&all[2], "c", "id-c", TOKEN_SCOPE_SCIM);
	all[2].expires_ms = 2000;
	ck_assert_int_eq(tokentab_replace_all(tt, all, 3, TOKENTAB_ANY_GEN), 0);
	ck_assert_int_eq(tokentab_revoke(tt, "id-c", 10), 0);
	/* Only what expires and is not revoked. */
	tokentab_foreach_expiring(tt, collect_expiring, seen);
	ck_assert_str_eq(seen, "id-a;");
}
END_TEST

START_TEST(test_tab_capacity)
{
	struct tokentab_entry	*many;
	char			 s[32];
	int			 i;

	many = calloc(SLOTS, sizeof(*many));
	for (i = 0; i < SLOTS; i++) {
		(void)snprintf(s, sizeof(s), "s%d", i);
		entry(&many[i], s, s, TOKEN_SCOPE_SCIM);
	}
	/* At most half the slots may hold tokens (short probe chains). */
	ck_assert_int_eq(tokentab_replace_all(tt, many, SLOTS / 2 + 1, TOKENTAB_ANY_GEN), -1);
	ck_assert_int_eq(tokentab_replace_all(tt, many, SLOTS / 2, TOKENTAB_ANY_GEN), 0);
	ck_assert_int_eq(tokentab_put(tt, &many[SLOTS / 2]), -1);
	/* Replacing an existing entry still works when full. */
	ck_assert_int_eq(tokentab_put(tt, &many[0]), 0);
	free(many);
}
END_TEST

START_TEST(test_tab_visible_across_processes)
{
	struct tokentab_entry	e, out;
	unsigned char		h[TOKEN_HASH_LEN];
	pid_t			pid;
	int			status;

	entry(&e, "shared", "id-s", TOKEN_SCOPE_ADMIN);
	ck_assert_int_eq(tokentab_put(tt, &e), 0);
	/* A child revokes; the parent must see it at once. */
	if ((pid = fork()) == 0)
		_exit(tokentab_revoke(tt, "id-s", 1) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	token_hash("shared", 6, h);
	ck_assert_int_eq(tokentab_check(tt, h, 2, &out), TOKENTAB_REVOKED);
}
END_TEST

static void
count_used(const char *id, uint64_t ms, void *arg)
{
	int	*n = arg;

	ck_assert_str_eq(id, "id-u");
	ck_assert_uint_eq(ms, 77);
	(*n)++;
}

START_TEST(test_tab_last_used_survives_reload)
{
	struct tokentab_entry	e, out;
	unsigned char		h[TOKEN_HASH_LEN];
	int			n;

	entry(&e, "used", "id-u", TOKEN_SCOPE_ADMIN);
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, TOKENTAB_ANY_GEN), 0);
	token_hash("used", 4, h);
	ck_assert_int_eq(tokentab_check(tt, h, 77, &out), TOKENTAB_OK);
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, TOKENTAB_ANY_GEN), 0);
	n = 0;
	tokentab_collect_used(tt, count_used, &n);
	ck_assert_int_eq(n, 1);
	n = 0;
	tokentab_collect_used(tt, count_used, &n);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* Readers in children while the parent rewrites the table. */
START_TEST(test_tab_concurrent_readers_never_see_torn_entries)
{
	struct tokentab_entry	e[2], out;
	unsigned char		h[TOKEN_HASH_LEN];
	pid_t			pid[2];
	int			i, k, status, bad;

	entry(&e[0], "stable", "id-stable", TOKEN_SCOPE_SCIM);
	entry(&e[1], "other", "id-other", TOKEN_SCOPE_GATEWAY);
	ck_assert_int_eq(tokentab_replace_all(tt, e, 2, TOKENTAB_ANY_GEN), 0);
	for (k = 0; k < 2; k++) {
		if ((pid[k] = fork()) == 0) {
			token_hash("stable", 6, h);
			bad = 0;
			for (i = 0; i < 200000; i++) {
				if (tokentab_check(tt, h, 1, &out) !=
				    TOKENTAB_OK || strcmp(out.id, "id-stable") ||
				    out.scopes != TOKEN_SCOPE_SCIM)
					bad++;
			}
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0; i < 2000; i++)
		ck_assert_int_eq(tokentab_replace_all(tt, e, 2, TOKENTAB_ANY_GEN), 0);
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(waitpid(pid[k], &status, 0), pid[k]);
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
}
END_TEST

/* A reload read before a revocation must not bring the token back. */
START_TEST(test_tab_reload_race)
{
	struct tokentab_entry	e, out;
	unsigned char		h[TOKEN_HASH_LEN];
	uint64_t		gen;

	entry(&e, "raced", "id-r", TOKEN_SCOPE_ADMIN);
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, TOKENTAB_ANY_GEN), 0);
	gen = tokentab_generation(tt);
	/* ... a reload reads the database here, then a revoke lands ... */
	ck_assert_int_eq(tokentab_revoke(tt, "id-r", 5), 0);
	/* The stale reload is refused; the caller reads again. */
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, gen), -2);
	token_hash("raced", 5, h);
	ck_assert_int_eq(tokentab_check(tt, h, 6, &out), TOKENTAB_REVOKED);
	/* Even an unconditional stale reload keeps the revocation. */
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, TOKENTAB_ANY_GEN), 0);
	ck_assert_int_eq(tokentab_check(tt, h, 6, &out), TOKENTAB_REVOKED);
	/* An up-to-date reload works. */
	gen = tokentab_generation(tt);
	ck_assert_int_eq(tokentab_replace_all(tt, &e, 1, gen), 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc, *tab;

	s = suite_create("token");
	tc = tcase_create("token");
	tcase_add_test(tc, test_generate_shape_and_uniqueness);
	tcase_add_test(tc, test_hash_known_vector);
	tcase_add_test(tc, test_scopes);
	tcase_add_test(tc, test_bearer_parse);
	suite_add_tcase(s, tc);
	tab = tcase_create("tokentab");
	tcase_add_checked_fixture(tab, tab_setup, tab_teardown);
	tcase_set_timeout(tab, 60);
	tcase_add_test(tab, test_tab_lookup_expiry_revoke);
	tcase_add_test(tab, test_tab_capacity);
	tcase_add_test(tab, test_tab_foreach_expiring);
	tcase_add_test(tab, test_tab_visible_across_processes);
	tcase_add_test(tab, test_tab_last_used_survives_reload);
	tcase_add_test(tab, test_tab_concurrent_readers_never_see_torn_entries);
	tcase_add_test(tab, test_tab_reload_race);
	suite_add_tcase(s, tab);
	return (check_run(s));
}
