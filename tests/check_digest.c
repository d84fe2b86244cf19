/*
 * Unit tests for digest: the canonical text (which the SQL twin in
 * src/store/digest_store.c must reproduce byte for byte), order
 * independence, and that every covered attribute changes the digest.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "digest.h"
#include "policy.h"

#define ALICE	"00000000-0000-0000-0000-00000000000a"
#define BOB	"00000000-0000-0000-0000-00000000000b"
#define BOT	"00000000-0000-0000-0000-0000000000b0"
#define G1	"00000000-0000-0000-0000-0000000000f1"
#define G2	"00000000-0000-0000-0000-0000000000f2"

static void
add_user(struct policy_index *idx, const char *id, const char *dir,
    const char *name, int active)
{
	static const char *const	emails[] = { "Zed@X.example",
	    "amy@x.example" };
	struct policy_user		u;
	struct policy_err		err;

	memset(&u, 0, sizeof(u));
	u.id = id;
	u.directory = dir;
	u.user_name = name;
	u.external_id = strcmp(id, ALICE) == 0 ? "ext-1" : NULL;
	u.emails = emails;
	u.nemails = strcmp(id, ALICE) == 0 ? 2 : 0;
	u.active = active;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), 0);
}

/* Alice and Bob in directory 1 (Alice in two groups), a bot in 2. */
static struct policy_index *
build(int reverse)
{
	struct policy_index	*idx;
	struct policy_sp	 sp;
	struct policy_err	 err;

	idx = policy_new();
	ck_assert_ptr_nonnull(idx);
	memset(&sp, 0, sizeof(sp));
	sp.id = BOT;
	sp.directory = "2";
	sp.app_id = "app-1";
	sp.owner_id = BOB;
	sp.active = 1;
	if (reverse) {
		ck_assert_int_eq(policy_membership_add(idx, ALICE, G2, &err),
		    0);
		ck_assert_int_eq(policy_sp_upsert(idx, &sp, &err), 0);
		add_user(idx, BOB, "1", "bob", 1);
		ck_assert_int_eq(policy_group_upsert(idx, G2, "1", &err), 0);
		ck_assert_int_eq(policy_group_upsert(idx, G1, "1", &err), 0);
		ck_assert_int_eq(policy_membership_add(idx, ALICE, G1, &err),
		    0);
		add_user(idx, ALICE, "1", "alice@x.example", 1);
	} else {
		add_user(idx, ALICE, "1", "alice@x.example", 1);
		add_user(idx, BOB, "1", "bob", 1);
		ck_assert_int_eq(policy_group_upsert(idx, G1, "1", &err), 0);
		ck_assert_int_eq(policy_group_upsert(idx, G2, "1", &err), 0);
		ck_assert_int_eq(policy_membership_add(idx, ALICE, G1, &err),
		    0);
		ck_assert_int_eq(policy_membership_add(idx, ALICE, G2, &err),
		    0);
		ck_assert_int_eq(policy_sp_upsert(idx, &sp, &err), 0);
	}

	return (idx);
}

static int
text_of(void *arg, const struct policy_principal_view *v)
{
	char	**out = arg;

	if (strcmp(v->id, ALICE) == 0)
		out[0] = digest_principal_text(v);
	else if (strcmp(v->id, BOT) == 0)
		out[1] = digest_principal_text(v);
	return (0);
}

START_TEST(test_canonical_text)
{
	struct policy_index	*idx;
	char			*t[2] = { NULL, NULL };

	idx = build(0);
	ck_assert_int_eq(policy_principal_set_epoch(idx, ALICE, 7), 0);
	ck_assert_int_eq(policy_principal_foreach(idx, NULL, text_of, t), 0);
	/* Emails folded and sorted; groups sorted; lengths before bytes. */
	ck_assert_str_eq(t[0], "u36:" ALICE "1:1a1d0r0e7;15:alice@x.example"
	    "5:ext-1[13:amy@x.example13:zed@x.example]"
	    "[36:" G1 "36:" G2 "]");
	ck_assert_str_eq(t[1], "s36:" BOT "1:2a1d0r0e0;5:app-136:" BOB
	    "[][]");
	ck_assert_uint_ne(digest_hash_text(t[0]), 0);
	free(t[0]);
	free(t[1]);
	policy_free(idx);
}
END_TEST

START_TEST(test_buckets)
{
	struct policy_index	*a;
	struct digest		 d;
	int			 b;
	uint64_t		 n;

	ck_assert_int_eq(digest_bucket("0abc"), 0);
	ck_assert_int_eq(digest_bucket("9"), 9);
	ck_assert_int_eq(digest_bucket("f0"), 15);
	ck_assert_int_eq(digest_bucket("A"), -1);
	ck_assert_int_eq(digest_bucket("x"), -1);
	/* The slices add up to the whole. */
	a = build(0);
	n = 0;
	for (b = 0; b < DIGEST_BUCKETS; b++) {
		digest_init(&d);
		ck_assert_int_eq(digest_index(a, b, &d), 0);
		if (digest_get(&d, "1") != NULL)
			n += digest_get(&d, "1")->count;
		if (digest_get(&d, "2") != NULL)
			n += digest_get(&d, "2")->count;
		digest_cleanup(&d);
	}
	ck_assert_uint_eq(n, 3);
	policy_free(a);
}
END_TEST

START_TEST(test_md5_prefix)
{
	/* md5("") = d41d8cd98f00b204e9800998ecf8427e */
	ck_assert(digest_hash_text("") == 0xd41d8cd98f00b204ULL);
}
END_TEST

START_TEST(test_order_independent)
{
	struct policy_index	*a, *b;
	struct digest		 da, db;

	a = build(0);
	b = build(1);
	digest_init(&da);
	digest_init(&db);
	ck_assert_int_eq(digest_index(a, DIGEST_ALL, &da), 0);
	ck_assert_int_eq(digest_index(b, DIGEST_ALL, &db), 0);
	ck_assert_uint_eq(digest_get(&da, "1")->count, 2);
	ck_assert_uint_eq(digest_get(&da, "2")->count, 1);
	ck_assert_uint_eq(digest_compare(&da, &db, NULL, NULL), 0);
	digest_cleanup(&da);
	digest_cleanup(&db);
	policy_free(a);
	policy_free(b);
}
END_TEST

static int	 seen_dir1;

static void
note(void *arg, const char *dir)
{
	(void)arg;
	if (strcmp(dir, "1") == 0)
		seen_dir1++;
}

/* Each change i must be caught, and only in directory 1. */
START_TEST(test_every_attribute_counts)
{
	struct policy_index	*a, *b;
	struct policy_err	 err;
	struct digest		 da, db;

	a = build(0);
	b = build(0);
	switch (_i) {
	case 0:
		add_user(b, ALICE, "1", "alice@x.example", 0);
		break;
	case 1:
		ck_assert_int_eq(policy_principal_set_revoked(b, ALICE, 1), 0);
		break;
	case 2:
		ck_assert_int_eq(policy_principal_set_epoch(b, BOB, 3), 0);
		break;
	case 3:
		ck_assert_int_eq(policy_membership_remove(b, ALICE, G2), 0);
		break;
	case 4:
		add_user(b, ALICE, "1", "alice2@x.example", 1);
		break;
	case 5:
		ck_assert_int_eq(policy_principal_remove(b, BOB), 0);
		break;
	case 6:
		ck_assert_int_eq(policy_group_remove(b, G1), 0);
		break;
	default:
		add_user(b, "00000000-0000-0000-0000-0000000000cc", "1", "c",
		    1);
		(void)err;
		break;
	}
	digest_init(&da);
	digest_init(&db);
	ck_assert_int_eq(digest_index(a, DIGEST_ALL, &da), 0);
	ck_assert_int_eq(digest_index(b, DIGEST_ALL, &db), 0);
	seen_dir1 = 0;
	ck_assert_uint_eq(digest_compare(&da, &db, note, NULL), 1);
	ck_assert_int_eq(seen_dir1, 1);
	digest_cleanup(&da);
	digest_cleanup(&db);
	policy_free(a);
	policy_free(b);
}
END_TEST

START_TEST(test_placeholders_and_missing_dirs)
{
	struct policy_index	*a, *b;
	struct policy_rule	 r;
	struct policy_err	 err;
	struct digest		 da, db;

	a = build(0);
	b = build(0);
	/* A rule naming an unknown user makes a placeholder: not counted. */
	memset(&r, 0, sizeof(r));
	r.id = "r1";
	r.subject_kind = POLICY_SUBJECT_USER;
	r.subject_id = "00000000-0000-0000-0000-0000000000dd";
	r.server = "*";
	r.tool = "*";
	r.effect = POLICY_EFFECT_ALLOW;
	ck_assert_int_eq(policy_rule_upsert(b, &r, &err), 0);
	digest_init(&da);
	digest_init(&db);
	ck_assert_int_eq(digest_index(a, DIGEST_ALL, &da), 0);
	ck_assert_int_eq(digest_index(b, DIGEST_ALL, &db), 0);
	ck_assert_uint_eq(digest_compare(&da, &db, NULL, NULL), 0);
	/* A directory only one side has differs; an empty one does not. */
	ck_assert_int_eq(digest_set(&db, "9", 1, 42), 0);
	ck_assert_int_eq(digest_set(&da, "8", 0, 0), 0);
	ck_assert_uint_eq(digest_compare(&da, &db, NULL, NULL), 1);
	ck_assert_uint_eq(digest_compare(&db, &da, NULL, NULL), 1);
	digest_cleanup(&da);
	digest_cleanup(&db);
	policy_free(a);
	policy_free(b);
}
END_TEST

static Suite *
digest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("digest");
	tc = tcase_create("core");
	tcase_add_test(tc, test_canonical_text);
	tcase_add_test(tc, test_md5_prefix);
	tcase_add_test(tc, test_buckets);
	tcase_add_test(tc, test_order_independent);
	tcase_add_loop_test(tc, test_every_attribute_counts, 0, 8);
	tcase_add_test(tc, test_placeholders_and_missing_dirs);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (check_run(digest_suite()));
}
