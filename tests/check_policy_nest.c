/*
 * Unit tests for nested groups and app-role rules in the policy index
 * (policy.h): transitive membership, cycles, the depth limit (fail
 * closed), removal and disable deep in a chain, role rules and the
 * explain path.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static struct policy_index	*idx;

static void
user(const char *id, int active, const char *role1, const char *role2)
{
	struct policy_user	 u;
	struct policy_err	 err;
	const char		*roles[2];

	memset(&u, 0, sizeof(u));
	u.id = id;
	u.directory = "d1";
	u.user_name = id;
	u.active = active;
	if (role1 != NULL)
		roles[u.nroles++] = role1;
	if (role2 != NULL)
		roles[u.nroles++] = role2;
	u.roles = roles;
	ck_assert_msg(policy_user_upsert(idx, &u, &err) == 0, "%s", err.msg);
}

static void
rule(const char *id, enum policy_subject_kind kind, const char *subj,
    const char *tool, enum policy_effect eff)
{
	struct policy_rule	 r;
	struct policy_err	 err;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.directory = "d1";
	r.subject_kind = kind;
	r.subject_id = subj;
	r.server = "srv";
	r.tool = tool;
	r.effect = eff;
	ck_assert_msg(policy_rule_upsert(idx, &r, &err) == 0, "%s", err.msg);
}

static void
group(const char *id)
{
	struct policy_err	err;

	ck_assert_int_eq(policy_group_upsert(idx, id, "d1", &err), 0);
}

static void
nest(const char *child, const char *parent)
{
	struct policy_err	err;

	ck_assert_msg(policy_nest_add(idx, child, parent, &err) == 0, "%s",
	    err.msg);
}

static void
member(const char *who, const char *g)
{
	struct policy_err	err;

	ck_assert_int_eq(policy_membership_add(idx, who, g, &err), 0);
}

static enum policy_reason
ask(const char *who, const char *tool, struct policy_result *res)
{
	struct policy_subject	s;

	s.by = POLICY_BY_ID;
	s.value = who;
	s.directory = NULL;
	(void)policy_evaluate(idx, &s, "srv", tool, 1000, res);
	return (res->reason);
}

static void
setup(void)
{
	struct policy_err	err;
	struct policy_tool	t;

	idx = policy_new();
	ck_assert_ptr_nonnull(idx);
	ck_assert_int_eq(policy_server_upsert(idx, "srv", &err), 0);
	memset(&t, 0, sizeof(t));
	t.server = "srv";
	t.name = "read";
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), 0);
	t.name = "write";
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), 0);
}

static void
teardown(void)
{
	policy_free(idx);
	idx = NULL;
}

/* u -> g1 -> g2 -> g3; the rule names g3. */
static void
chain(void)
{
	group("g1");
	group("g2");
	group("g3");
	nest("g1", "g2");
	nest("g2", "g3");
	member("u", "g1");
	rule("r-allow", POLICY_SUBJECT_GROUP, "g3", "read",
	    POLICY_EFFECT_ALLOW);
}

START_TEST(test_transitive)
{
	struct policy_result	res;

	user("u", 1, NULL, NULL);
	chain();
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	ck_assert_str_eq(res.group_id, "g3");
	ck_assert_int_eq(ask("u", "write", &res), POLICY_R_NO_MATCHING_RULE);
	/* A deny on a nested group wins like any deny. */
	rule("r-deny", POLICY_SUBJECT_GROUP, "g2", "read", POLICY_EFFECT_DENY);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_DENIED_BY_RULE);
	ck_assert_str_eq(res.group_id, "g2");
}
END_TEST

START_TEST(test_removal_deep)
{
	struct policy_result	res;

	user("u", 1, NULL, NULL);
	chain();
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	/* The edge farthest from the user goes: denied at once. */
	ck_assert_int_eq(policy_nest_remove(idx, "g2", "g3"), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	ck_assert_int_eq(policy_nest_remove(idx, "g2", "g3"), -1);
	nest("g2", "g3");
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	/* A middle group deleted: its edges go with it. */
	ck_assert_int_eq(policy_group_remove(idx, "g2"), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	group("g2");
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	nest("g1", "g2");
	nest("g2", "g3");
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	/* The user's own membership goes. */
	ck_assert_int_eq(policy_membership_remove(idx, "u", "g1"), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
}
END_TEST

START_TEST(test_disable_deep)
{
	struct policy_result	res;

	user("u", 1, NULL, NULL);
	chain();
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	user("u", 0, NULL, NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_PRINCIPAL_INACTIVE);
	ck_assert_int_eq(res.decision, POLICY_DENY);
	user("u", 1, NULL, NULL);
	ck_assert_int_eq(policy_principal_set_revoked(idx, "u", 1), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_PRINCIPAL_REVOKED);
}
END_TEST

START_TEST(test_cycle)
{
	struct policy_result	res;
	struct policy_stats	st;
	struct policy_err	err;

	user("u", 1, NULL, NULL);
	chain();
	nest("g3", "g1");	/* g1 -> g2 -> g3 -> g1 */
	nest("g3", "g1");	/* idempotent */
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.nestings, 3);
	ck_assert_int_eq(policy_nest_add(idx, "g1", "g1", &err), -1);
	ck_assert_int_eq(err.code, POLICY_E_INVALID);
	/* A cycle not through the user's groups changes nothing. */
	group("x");
	nest("x", "g2");
	nest("g2", "x");
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	/* Groups in a cycle removed: nothing dangles (ASan checks). */
	ck_assert_int_eq(policy_group_remove(idx, "g3"), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	/*
	 * A placeholder nested both ways with a removed group: it is both
	 * the group's parent and its child, and is freed once (ASan).
	 */
	nest("ph", "g1");
	nest("g1", "ph");
	ck_assert_int_eq(policy_group_remove(idx, "g1"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.nestings, 2);	/* x <-> g2 */
}
END_TEST

START_TEST(test_depth_limit)
{
	struct policy_result	 res;
	struct policy_subject	 s;
	struct policy_query	 q[2];
	struct policy_result	 rb[2];
	char			 a[16], b[16];
	int			 i;

	/* u -> n0 -> n1 -> ... -> n9; the rule names n3 (level 4). */
	user("u", 1, NULL, NULL);
	for (i = 0; i < 10; i++) {
		(void)snprintf(a, sizeof(a), "n%d", i);
		group(a);
		if (i > 0) {
			(void)snprintf(b, sizeof(b), "n%d", i - 1);
			nest(b, a);
		}
	}
	member("u", "n0");
	rule("r", POLICY_SUBJECT_GROUP, "n3", "read", POLICY_EFFECT_ALLOW);
	/* Ten levels, limit 10: followed. */
	policy_set_nest_depth(idx, 10);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	ck_assert_int_eq(res.nest_exceeded, 0);
	/* Limit 9: the chain goes further than followed: deny, flagged. */
	policy_set_nest_depth(idx, 9);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_INTERNAL_ERROR);
	ck_assert_int_eq(res.decision, POLICY_DENY);
	ck_assert_int_eq(res.nest_exceeded, 1);
	/* Batches and the default limit (8) deny the same way. */
	policy_set_nest_depth(idx, POLICY_NEST_DEPTH_DEFAULT);
	s.by = POLICY_BY_ID;
	s.value = "u";
	s.directory = NULL;
	q[0].server = q[1].server = "srv";
	q[0].tool = "read";
	q[1].tool = "write";
	ck_assert_int_eq(policy_evaluate_batch(idx, &s, q, 2, 1000, rb), 0);
	ck_assert_int_eq(rb[0].reason, POLICY_R_INTERNAL_ERROR);
	ck_assert_int_eq(rb[1].nest_exceeded, 1);
	/* Cutting the chain below the limit makes it decidable again. */
	ck_assert_int_eq(policy_nest_remove(idx, "n6", "n7"), 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	ck_assert_int_eq(policy_evaluate_batch(idx, &s, q, 2, 1000, rb), 0);
	ck_assert_int_eq(rb[0].reason, POLICY_R_ALLOWED_BY_RULE);
	/* Limit 1: no nesting followed at all. */
	policy_set_nest_depth(idx, 0);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_INTERNAL_ERROR);
}
END_TEST

START_TEST(test_roles)
{
	struct policy_result	 res;
	struct policy_subject	 subj;
	const char		*vals[2];
	size_t			 total;

	user("u", 1, "mcp.admin", NULL);
	user("v", 1, "mcp.reader", NULL);
	rule("r-admin", POLICY_SUBJECT_ROLE, "mcp.admin", "*",
	    POLICY_EFFECT_ALLOW);
	rule("r-noread", POLICY_SUBJECT_ROLE, "mcp.reader", "write",
	    POLICY_EFFECT_DENY);
	rule("r-every", POLICY_SUBJECT_EVERYONE, NULL, "write",
	    POLICY_EFFECT_ALLOW);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	ck_assert_str_eq(res.role, "mcp.admin");
	ck_assert_int_eq(ask("v", "read", &res), POLICY_R_NO_MATCHING_RULE);
	ck_assert_int_eq(ask("v", "write", &res), POLICY_R_DENIED_BY_RULE);
	ck_assert_str_eq(res.role, "mcp.reader");
	/* Roles compare exactly. */
	user("u", 1, "MCP.ADMIN", NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	/* The role taken away (SCIM update): denied at once. */
	user("u", 1, "mcp.admin", NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_ALLOWED_BY_RULE);
	user("u", 1, NULL, NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);
	/* Disabled with the role: denied. */
	user("u", 0, "mcp.admin", NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_PRINCIPAL_INACTIVE);
	/* Rule removed: the role node goes, nothing leaks (ASan). */
	ck_assert_int_eq(policy_rule_remove(idx, "r-admin"), 0);
	user("u", 1, "mcp.admin", NULL);
	ck_assert_int_eq(ask("u", "read", &res), POLICY_R_NO_MATCHING_RULE);

	/* The stored roles, whether or not a rule names them (introspection). */
	memset(&subj, 0, sizeof(subj));
	subj.by = POLICY_BY_ID;
	subj.value = "w";
	user("w", 1, "b.role", "a.role");
	ck_assert_int_eq(policy_principal_roles(idx, &subj, vals, 2, &total),
	    0);
	ck_assert_uint_eq(total, 2);
	ck_assert_str_eq(vals[0], "b.role");
	ck_assert_str_eq(vals[1], "a.role");
	vals[1] = NULL;
	ck_assert_int_eq(policy_principal_roles(idx, &subj, vals, 1, &total),
	    0);
	ck_assert_uint_eq(total, 2);
	ck_assert_ptr_null(vals[1]);
	user("w", 1, NULL, NULL);
	ck_assert_int_eq(policy_principal_roles(idx, &subj, vals, 2, &total),
	    0);
	ck_assert_uint_eq(total, 0);
	subj.value = "nobody";
	ck_assert_int_eq(policy_principal_roles(idx, &subj, vals, 2, &total),
	    -1);
}
END_TEST

struct seen {
	char	text[8][256];
	int	n;
};

static int
explain_cb(void *arg, const char *rule_id, enum policy_effect effect,
    enum policy_subject_kind kind, const char *via, const char *const *path,
    size_t npath)
{
	struct seen	*s = arg;
	size_t		 i, len;
	char		*t;

	(void)effect;
	if (s->n == 8)
		return (0);
	t = s->text[s->n++];
	(void)snprintf(t, 256, "%s:%d:%s:", rule_id, (int)kind,
	    via ? via : "-");
	for (i = 0; i < npath; i++) {
		len = strlen(t);
		(void)snprintf(t + len, 256 - len, "%s%s", i ? ">" : "",
		    path[i]);
	}
	return (0);
}

START_TEST(test_explain_path)
{
	struct policy_result	res;
	struct policy_subject	s;
	struct seen		seen;
	int			i, found;

	user("u", 1, "mcp.admin", NULL);
	chain();
	rule("r-role", POLICY_SUBJECT_ROLE, "mcp.admin", "read",
	    POLICY_EFFECT_ALLOW);
	memset(&seen, 0, sizeof(seen));
	s.by = POLICY_BY_ID;
	s.value = "u";
	s.directory = NULL;
	(void)policy_explain(idx, &s, "srv", "read", 1000, explain_cb, &seen,
	    &res);
	ck_assert_int_eq(res.decision, POLICY_ALLOW);
	ck_assert_int_eq(seen.n, 2);
	found = 0;
	for (i = 0; i < seen.n; i++) {
		if (strcmp(seen.text[i], "r-allow:0:g3:g1>g2>g3") == 0)
			found |= 1;
		if (strcmp(seen.text[i], "r-role:4:mcp.admin:") == 0)
			found |= 2;
	}
	ck_assert_msg(found == 3, "%s | %s", seen.text[0], seen.text[1]);
}
END_TEST

static Suite *
nest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("policy_nest");
	tc = tcase_create("nest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_transitive);
	tcase_add_test(tc, test_removal_deep);
	tcase_add_test(tc, test_disable_deep);
	tcase_add_test(tc, test_cycle);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_roles);
	tcase_add_test(tc, test_explain_path);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(nest_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
