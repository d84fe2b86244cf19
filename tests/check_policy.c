/*
 * check_policy: unit tests for the policy index and evaluator, and for
 * the hashmap under it.
 *
 * A small hand-built world drives a table of decisions that covers every
 * reason code, precedence, globs, labels, aliases, grant time bounds and
 * owner suspension; further tests apply incremental updates and feed
 * hostile input.  A synthetic tier-M world (25k users, 400k memberships)
 * is checked against a brute-force oracle written independently here;
 * it prints build time and ns/decision but asserts only correctness.
 * POLICY_BENCH_L=1 in the environment also builds tier L.
 */

#include <sys/resource.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check_main.h"
#include "hashmap.h"
#include "policy.h"

#define NOW	1700000000000LL

/*
 * Check records every passing ck_assert with a write(2); in loops of
 * millions that would be what we measure, so hot loops use these.
 */
#define MUST(x)		do {						\
	if (!(x))							\
		ck_abort_msg("%s failed: %s", #x, err.msg);		\
} while (0)
#define MUSTF(x, ...)	do {						\
	if (!(x))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

struct dcase {
	const char		*name;
	enum policy_alias	 by;
	const char		*who;
	const char		*dir;
	const char		*server;
	const char		*tool;
	int64_t			 now;
	enum policy_reason	 reason;
	const char		*rule;
	const char		*group;
	const char		*grant;
};

static struct policy_index	*idx;

static void	add_user(const char *, const char *, const char *,
		    const char *, const char *, const char *, int, int);
static void	add_sp(const char *, const char *, const char *, int);
static void	add_tool(const char *, const char *, const char *,
		    const char *);
static void	add_rule(const char *, enum policy_subject_kind,
		    const char *, const char *, const char *,
		    enum policy_effect, int64_t);
static void	add_grant(const char *, const char *, const char *,
		    const char *, int64_t, int64_t, int, int);
static void	world_setup(void);
static void	world_teardown(void);
static void	expect(const char *, enum policy_alias, const char *,
		    const char *, const char *, const char *, int64_t,
		    enum policy_reason, const char *, const char *,
		    const char *);
static void	expect_id(const char *, const char *, const char *,
		    enum policy_reason, const char *);
static int	streq_null(const char *, const char *);
static double	now_sec(void);
static Suite	*policy_suite(void);

static void
add_user(const char *id, const char *dir, const char *uname, const char *ext,
    const char *mail1, const char *mail2, int active, int deleted)
{
	struct policy_user	 u;
	struct policy_err	 err;
	const char		*mails[2];

	memset(&u, 0, sizeof(u));
	u.id = id;
	u.directory = dir;
	u.user_name = uname;
	u.external_id = ext;
	u.nemails = 0;
	if (mail1 != NULL)
		mails[u.nemails++] = mail1;
	if (mail2 != NULL)
		mails[u.nemails++] = mail2;
	u.emails = mails;
	u.active = active;
	u.deleted = deleted;
	ck_assert_msg(policy_user_upsert(idx, &u, &err) == 0, "%s: %s", id,
	    err.msg);
}

static void
add_sp(const char *id, const char *app, const char *owner, int active)
{
	struct policy_sp	 sp;
	struct policy_err	 err;

	sp.id = id;
	sp.directory = "d1";
	sp.app_id = app;
	sp.owner_id = owner;
	sp.active = active;
	ck_assert_msg(policy_sp_upsert(idx, &sp, &err) == 0, "%s: %s", id,
	    err.msg);
}

static void
add_tool(const char *server, const char *name, const char *risk,
    const char *label)
{
	struct policy_tool	 t;
	struct policy_err	 err;

	t.server = server;
	t.name = name;
	t.risk = risk;
	t.labels = &label;
	t.nlabels = label != NULL ? 1 : 0;
	ck_assert_msg(policy_tool_upsert(idx, &t, &err) == 0, "%s: %s", name,
	    err.msg);
}

static void
add_rule(const char *id, enum policy_subject_kind kind, const char *subj,
    const char *server, const char *tool, enum policy_effect eff,
    int64_t maxms)
{
	struct policy_rule	 r;
	struct policy_err	 err;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.subject_kind = kind;
	r.subject_id = subj;
	r.server = server;
	r.tool = tool;
	r.effect = eff;
	r.max_grant_ms = maxms;
	ck_assert_msg(policy_rule_upsert(idx, &r, &err) == 0, "%s: %s", id,
	    err.msg);
}

static void
add_grant(const char *id, const char *who, const char *server,
    const char *tool, int64_t nb, int64_t exp, int approved, int revoked)
{
	struct policy_grant	 g;
	struct policy_err	 err;

	g.id = id;
	g.principal_id = who;
	g.server = server;
	g.tool = tool;
	g.not_before = nb;
	g.expires_at = exp;
	g.approved = approved;
	g.revoked = revoked;
	ck_assert_msg(policy_grant_upsert(idx, &g, &err) == 0, "%s: %s", id,
	    err.msg);
}

/*
 * The hand-built world.  Loaded deliberately out of order (memberships
 * and rules before the entities they name) to exercise placeholders.
 */
static void
world_setup(void)
{
	struct policy_err	err;

	ck_assert_ptr_nonnull(idx = policy_new());
	policy_set_version(idx, 42);

	ck_assert_int_eq(policy_membership_add(idx, "u-alice", "g-eng",
	    &err), 0);
	add_rule("r-02", POLICY_SUBJECT_GROUP, "g-eng", "github", "*",
	    POLICY_EFFECT_ALLOW, 0);

	add_user("u-alice", "d1", "Alice@Example.com", "ext-alice",
	    "alice@example.com", "Alice.Work@example.com", 1, 0);
	add_user("u-bob", "d1", "bob@example.com", "ext-bob",
	    "bob@example.com", NULL, 1, 0);
	add_user("u-carol", "d1", "carol@example.com", NULL, NULL, NULL, 0, 0);
	add_user("u-dave", "d1", "dave@example.com", NULL, NULL, NULL, 1, 1);
	add_user("u-erin", "d1", "erin@example.com", NULL, NULL, NULL, 1, 0);
	add_user("u-frank", "d1", "frank@example.com", NULL, NULL, NULL, 1, 0);
	add_user("u-gina", "d2", "alice@example.com", "ext-gina", NULL, NULL,
	    1, 0);
	add_user("u-hal", "d1", "hal@example.com", NULL, "team@example.com",
	    NULL, 1, 0);
	add_user("u-ivy", "d1", "ivy@example.com", NULL, "team@example.com",
	    NULL, 1, 0);
	add_user("u-old", "d1", "reuse@example.com", NULL, NULL, NULL, 1, 1);
	add_user("u-new", "d1", "reuse@example.com", NULL, NULL, NULL, 1, 0);

	add_sp("sp-bot", "APP-BOT", "u-alice", 1);
	add_sp("sp-orphan", "app-orphan", "u-carol", 1);
	add_sp("sp-lone", "app-lone", NULL, 1);
	add_sp("sp-ghost", "app-ghost", "u-nobody", 1);
	add_sp("sp-off", "app-off", NULL, 0);
	add_sp("sp-chain", "app-chain", "sp-lone", 1);

	ck_assert_int_eq(policy_group_upsert(idx, "g-eng", "d1", &err), 0);
	ck_assert_int_eq(policy_group_upsert(idx, "g-ops", "d1", &err), 0);
	ck_assert_int_eq(policy_group_upsert(idx, "g-sec", "d1", &err), 0);
	ck_assert_int_eq(policy_membership_add(idx, "u-alice", "g-ops",
	    &err), 0);
	ck_assert_int_eq(policy_membership_add(idx, "u-bob", "g-ops", &err),
	    0);
	ck_assert_int_eq(policy_membership_add(idx, "u-erin", "g-eng", &err),
	    0);
	ck_assert_int_eq(policy_membership_add(idx, "u-hal", "g-eng", &err),
	    0);
	/* Idempotent. */
	ck_assert_int_eq(policy_membership_add(idx, "u-hal", "g-eng", &err),
	    0);

	ck_assert_int_eq(policy_server_upsert(idx, "github", &err), 0);
	ck_assert_int_eq(policy_server_upsert(idx, "jira", &err), 0);
	ck_assert_int_eq(policy_server_upsert(idx, "vault", &err), 0);
	add_tool("github", "list_repos", "low", NULL);
	add_tool("github", "delete_branch", "high", NULL);
	add_tool("github", "delete_repo", "high", NULL);
	add_tool("github", "create_issue", "normal", NULL);
	add_tool("github", "read_file", "low", "PII");
	add_tool("github", "dump_env", "secrets", NULL);
	add_tool("jira", "get_issue", "low", NULL);
	add_tool("jira", "set_issue", "normal", NULL);
	add_tool("jira", "delete_issue", "consequential", "env:prod");
	add_tool("vault", "read_secret", "Secrets", NULL);

	add_rule("r-01", POLICY_SUBJECT_EVERYONE, NULL, "github",
	    "list_repos", POLICY_EFFECT_ALLOW, 0);
	add_rule("r-03", POLICY_SUBJECT_GROUP, "g-eng", "github",
	    "delete_repo", POLICY_EFFECT_DENY, 0);
	add_rule("r-04", POLICY_SUBJECT_GROUP, "g-ops", "github", "delete_*",
	    POLICY_EFFECT_ELEVATE, 3600000);
	add_rule("r-05", POLICY_SUBJECT_EVERYONE, NULL, "*", "risk:secrets",
	    POLICY_EFFECT_DENY, 0);
	add_rule("r-06", POLICY_SUBJECT_USER, "u-bob", "jira", "get_issue",
	    POLICY_EFFECT_ALLOW, 0);
	add_rule("r-07", POLICY_SUBJECT_SP, "sp-bot", "github",
	    "create_issue", POLICY_EFFECT_ALLOW, 0);
	add_rule("r-08", POLICY_SUBJECT_GROUP, "g-ops", "jira", "?et_issue",
	    POLICY_EFFECT_ALLOW, 0);
	add_rule("r-09", POLICY_SUBJECT_EVERYONE, NULL, "*", "label:pii",
	    POLICY_EFFECT_ELEVATE, 600000);
	add_rule("r-10", POLICY_SUBJECT_USER, "u-frank", "jira", "env:prod",
	    POLICY_EFFECT_ELEVATE, 0);
	add_rule("r-11", POLICY_SUBJECT_GROUP, "g-sec", "vault", "*",
	    POLICY_EFFECT_ALLOW, 0);
	add_rule("r-12", POLICY_SUBJECT_USER, "u-alice", "jira",
	    "delete_issue", POLICY_EFFECT_ALLOW, 0);
	add_rule("r-13", POLICY_SUBJECT_GROUP, "g-ops", "jira",
	    "delete_issue", POLICY_EFFECT_DENY, 0);
	/* Misfiled: names a service principal as a user. */
	add_rule("r-14", POLICY_SUBJECT_USER, "sp-lone", "jira", "set_issue",
	    POLICY_EFFECT_ALLOW, 0);
	add_rule("r-15", POLICY_SUBJECT_EVERYONE, NULL, "jira", "get_issue",
	    POLICY_EFFECT_ALLOW, 0);

	add_grant("gr-1", "u-bob", "github", "delete_branch", 1000, 2000,
	    1, 0);
	add_grant("gr-2", "u-bob", "github", "delete_*", 0, 9000, 0, 0);
	add_grant("gr-3", "u-bob", "*", "delete_branch", 0, 9000, 1, 1);
	add_grant("gr-4", "u-bob", "*", "delete_branch", 1500, 3000, 1, 0);
	add_grant("gr-5", "u-bob", "github", "create_issue", 0, NOW * 2, 1, 0);
	add_grant("gr-6", "u-bob", "*", "risk:secrets", 0, NOW * 2, 1, 0);
	add_grant("gr-7", "u-bob", "jira", "*", 0, NOW * 2, 1, 0);
	add_grant("gr-8", "u-frank", "jira", "label:env:prod", 0, NOW * 2,
	    1, 0);

	ck_assert_int_eq(policy_principal_set_revoked(idx, "u-erin", 1), 0);
	ck_assert_int_eq(policy_principal_set_epoch(idx, "u-bob", 7), 0);
}

static void
world_teardown(void)
{
	policy_free(idx);
	idx = NULL;
}

static int
streq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static void
expect(const char *name, enum policy_alias by, const char *who,
    const char *dir, const char *server, const char *tool, int64_t now,
    enum policy_reason reason, const char *rule, const char *group,
    const char *grant)
{
	struct policy_subject	subj;
	struct policy_result	res;
	enum policy_decision	want;

	subj.by = by;
	subj.value = who;
	subj.directory = dir;
	want = (reason == POLICY_R_ALLOWED_BY_RULE ||
	    reason == POLICY_R_ALLOWED_BY_GRANT) ? POLICY_ALLOW : POLICY_DENY;
	ck_assert_msg(policy_evaluate(idx, &subj, server, tool, now, &res) ==
	    want, "%s: decision %d", name, res.decision);
	ck_assert_msg(res.decision == want, "%s: res.decision", name);
	ck_assert_msg(res.reason == reason, "%s: reason %s, want %s", name,
	    policy_reason_str(res.reason), policy_reason_str(reason));
	ck_assert_msg(streq_null(res.rule_id, rule), "%s: rule %s, want %s",
	    name, res.rule_id ? res.rule_id : "-", rule ? rule : "-");
	ck_assert_msg(streq_null(res.group_id, group), "%s: group %s, want %s",
	    name, res.group_id ? res.group_id : "-", group ? group : "-");
	ck_assert_msg(streq_null(res.grant_id, grant), "%s: grant %s, want %s",
	    name, res.grant_id ? res.grant_id : "-", grant ? grant : "-");
	ck_assert_msg(res.policy_version == policy_version(idx),
	    "%s: version", name);
}

static void
expect_id(const char *who, const char *server, const char *tool,
    enum policy_reason reason, const char *rule)
{
	struct policy_subject	subj;
	struct policy_result	res;

	subj.by = POLICY_BY_ID;
	subj.value = who;
	subj.directory = NULL;
	(void)policy_evaluate(idx, &subj, server, tool, NOW, &res);
	ck_assert_msg(res.reason == reason, "%s %s/%s: %s, want %s", who,
	    server, tool, policy_reason_str(res.reason),
	    policy_reason_str(reason));
	ck_assert_msg(streq_null(res.rule_id, rule), "%s %s/%s: rule %s",
	    who, server, tool, res.rule_id ? res.rule_id : "-");
}

#define ID	POLICY_BY_ID
#define A	POLICY_R_ALLOWED_BY_RULE
#define G	POLICY_R_ALLOWED_BY_GRANT

static const struct dcase cases[] = {
	/* Principal state. */
	{ "unknown", ID, "u-nobody", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "inactive", ID, "u-carol", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_INACTIVE, NULL, NULL, NULL },
	{ "tombstone", ID, "u-dave", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_INACTIVE, NULL, NULL, NULL },
	{ "kill switch", ID, "u-erin", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_REVOKED, NULL, NULL, NULL },
	{ "sp owner inactive", ID, "sp-orphan", NULL, "github", "list_repos",
	    NOW, POLICY_R_OWNER_INACTIVE, NULL, NULL, NULL },
	{ "sp owner not loaded", ID, "sp-ghost", NULL, "github",
	    "list_repos", NOW, POLICY_R_OWNER_INACTIVE, NULL, NULL, NULL },
	{ "sp inactive", ID, "sp-off", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_INACTIVE, NULL, NULL, NULL },
	{ "sp owned by sp", ID, "sp-chain", NULL, "github", "list_repos", NOW,
	    POLICY_R_INTERNAL_ERROR, NULL, NULL, NULL },
	{ "placeholder is unknown", ID, "u-nobody", NULL, "jira",
	    "get_issue", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "unknown beats unknown tool", ID, "u-nobody", NULL, "nope", "x",
	    NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "inactive beats unknown tool", ID, "u-carol", NULL, "nope", "x",
	    NOW, POLICY_R_PRINCIPAL_INACTIVE, NULL, NULL, NULL },

	/* Tools. */
	{ "unknown tool", ID, "u-bob", NULL, "github", "nope", NOW,
	    POLICY_R_TOOL_UNKNOWN, NULL, NULL, NULL },
	{ "unknown server", ID, "u-bob", NULL, "gitlab", "list_repos", NOW,
	    POLICY_R_TOOL_UNKNOWN, NULL, NULL, NULL },
	{ "star is no server", ID, "u-bob", NULL, "*", "list_repos", NOW,
	    POLICY_R_TOOL_UNKNOWN, NULL, NULL, NULL },
	{ "tool names are case-sensitive", ID, "u-bob", NULL, "github",
	    "List_Repos", NOW, POLICY_R_TOOL_UNKNOWN, NULL, NULL, NULL },

	/* Rules and precedence. */
	{ "everyone allow", ID, "u-bob", NULL, "github", "list_repos", NOW,
	    A, "r-01", NULL, NULL },
	{ "lowest id among allows", ID, "u-alice", NULL, "github",
	    "list_repos", NOW, A, "r-01", NULL, NULL },
	{ "group allow via star", ID, "u-alice", NULL, "github",
	    "create_issue", NOW, A, "r-02", "g-eng", NULL },
	{ "allow beats elevate", ID, "u-alice", NULL, "github",
	    "delete_branch", NOW, A, "r-02", "g-eng", NULL },
	{ "deny beats allow", ID, "u-alice", NULL, "github", "delete_repo",
	    NOW, POLICY_R_DENIED_BY_RULE, "r-03", "g-eng", NULL },
	{ "group deny beats user allow", ID, "u-alice", NULL, "jira",
	    "delete_issue", NOW, POLICY_R_DENIED_BY_RULE, "r-13", "g-ops",
	    NULL },
	{ "everyone deny on server star", ID, "u-alice", NULL, "github",
	    "dump_env", NOW, POLICY_R_DENIED_BY_RULE, "r-05", NULL, NULL },
	{ "risk label case-insensitive", ID, "u-bob", NULL, "vault",
	    "read_secret", NOW, POLICY_R_DENIED_BY_RULE, "r-05", NULL, NULL },
	{ "grant never beats deny", ID, "u-bob", NULL, "github", "dump_env",
	    NOW, POLICY_R_DENIED_BY_RULE, "r-05", NULL, NULL },
	{ "user allow, lowest id", ID, "u-bob", NULL, "jira", "get_issue",
	    NOW, A, "r-06", NULL, NULL },
	{ "glob ? via group", ID, "u-bob", NULL, "jira", "set_issue", NOW,
	    A, "r-08", "g-ops", NULL },
	{ "everyone only", ID, "u-frank", NULL, "jira", "get_issue", NOW,
	    A, "r-15", NULL, NULL },
	{ "no rule, grant does not help", ID, "u-bob", NULL, "github",
	    "create_issue", NOW, POLICY_R_NO_MATCHING_RULE, NULL, NULL, NULL },
	{ "no rule, no groups", ID, "u-frank", NULL, "github",
	    "create_issue", NOW, POLICY_R_NO_MATCHING_RULE, NULL, NULL, NULL },
	{ "grant never beats group deny", ID, "u-bob", NULL, "jira",
	    "delete_issue", NOW, POLICY_R_DENIED_BY_RULE, "r-13", "g-ops",
	    NULL },
	{ "sp own rule", ID, "sp-bot", NULL, "github", "create_issue", NOW,
	    A, "r-07", NULL, NULL },
	{ "sp everyone rule", ID, "sp-lone", NULL, "github", "list_repos",
	    NOW, A, "r-01", NULL, NULL },
	{ "sp no rule", ID, "sp-bot", NULL, "github", "delete_branch", NOW,
	    POLICY_R_NO_MATCHING_RULE, NULL, NULL, NULL },
	{ "misfiled rule fails closed", ID, "sp-lone", NULL, "jira",
	    "set_issue", NOW, POLICY_R_INTERNAL_ERROR, NULL, NULL, NULL },
	{ "misfiled rule elsewhere harmless", ID, "sp-lone", NULL, "jira",
	    "get_issue", NOW, A, "r-15", NULL, NULL },

	/* Elevation and grants (gr-1 [1000,2000), gr-4 [1500,3000)). */
	{ "label elevate", ID, "u-alice", NULL, "github", "read_file", NOW,
	    A, "r-02", "g-eng", NULL },
	{ "label elevate required", ID, "u-bob", NULL, "github", "read_file",
	    NOW, POLICY_R_ELEVATION_REQUIRED, "r-09", NULL, NULL },
	{ "custom k:v label, grant", ID, "u-frank", NULL, "jira",
	    "delete_issue", NOW, G, "r-10", NULL, "gr-8" },
	{ "before not_before", ID, "u-bob", NULL, "github", "delete_branch",
	    999, POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL },
	{ "at not_before", ID, "u-bob", NULL, "github", "delete_branch",
	    1000, G, "r-04", "g-ops", "gr-1" },
	{ "overlap picks lowest grant", ID, "u-bob", NULL, "github",
	    "delete_branch", 1999, G, "r-04", "g-ops", "gr-1" },
	{ "expires_at exclusive", ID, "u-bob", NULL, "github",
	    "delete_branch", 2000, G, "r-04", "g-ops", "gr-4" },
	{ "server star grant", ID, "u-bob", NULL, "github", "delete_branch",
	    2999, G, "r-04", "g-ops", "gr-4" },
	{ "all expired", ID, "u-bob", NULL, "github", "delete_branch", 3000,
	    POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL },
	{ "unapproved grant", ID, "u-bob", NULL, "github", "delete_repo",
	    500, POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL },
	{ "revoked grant", ID, "u-bob", NULL, "github", "delete_branch", 500,
	    POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL },
	{ "grant for other server", ID, "u-bob", NULL, "github", "read_file",
	    NOW, POLICY_R_ELEVATION_REQUIRED, "r-09", NULL, NULL },

	/* Aliases. */
	{ "userName ci + dir", POLICY_BY_USERNAME, "ALICE@example.COM", "d1",
	    "github", "create_issue", NOW, A, "r-02", "g-eng", NULL },
	{ "userName in two dirs is ambiguous", POLICY_BY_USERNAME,
	    "alice@example.com", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "userName other dir", POLICY_BY_USERNAME, "alice@example.com", "d2",
	    "github", "create_issue", NOW, POLICY_R_NO_MATCHING_RULE, NULL,
	    NULL, NULL },
	{ "unknown dir", POLICY_BY_USERNAME, "alice@example.com", "d9",
	    "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL,
	    NULL, NULL },
	{ "externalId", POLICY_BY_EXTERNAL_ID, "ext-alice", NULL, "github",
	    "create_issue", NOW, A, "r-02", "g-eng", NULL },
	{ "externalId is exact", POLICY_BY_EXTERNAL_ID, "EXT-ALICE", NULL,
	    "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL,
	    NULL, NULL },
	{ "second email ci", POLICY_BY_EMAIL, "alice.WORK@example.com", NULL,
	    "github", "create_issue", NOW, A, "r-02", "g-eng", NULL },
	{ "shared email is ambiguous", POLICY_BY_EMAIL, "team@example.com",
	    "d1", "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN,
	    NULL, NULL, NULL },
	{ "live beats tombstone", POLICY_BY_USERNAME, "reuse@example.com",
	    NULL, "github", "list_repos", NOW, A, "r-01", NULL, NULL },
	{ "alias of tombstone", POLICY_BY_USERNAME, "dave@example.com", NULL,
	    "github", "list_repos", NOW, POLICY_R_PRINCIPAL_INACTIVE, NULL,
	    NULL, NULL },
	{ "app id ci", POLICY_BY_APP_ID, "app-bot", NULL, "github",
	    "create_issue", NOW, A, "r-07", NULL, NULL },
	{ "app id names no user", POLICY_BY_APP_ID, "bob@example.com", NULL,
	    "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL,
	    NULL, NULL },
	{ "id with wrong dir", ID, "u-alice", "d2", "github", "list_repos",
	    NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "id with right dir", ID, "u-alice", "d1", "github", "list_repos",
	    NOW, A, "r-01", NULL, NULL },
	{ "empty subject", ID, "", NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
	{ "bad alias kind", (enum policy_alias)99, "u-bob", NULL, "github",
	    "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL },
};

START_TEST(test_table)
{
	const struct dcase	*c = &cases[_i];

	expect(c->name, c->by, c->who, c->dir, c->server, c->tool, c->now,
	    c->reason, c->rule, c->group, c->grant);
}
END_TEST

START_TEST(test_reason_strings)
{
	const char	*seen[POLICY_R_COUNT];
	int		 i, j;

	ck_assert_str_eq(policy_reason_str(POLICY_R_DENIED_BY_RULE),
	    "denied_by_rule");
	ck_assert_str_eq(policy_reason_str(POLICY_R_OWNER_INACTIVE),
	    "owner_inactive");
	ck_assert_str_eq(policy_reason_str(POLICY_R_ELEVATION_REQUIRED),
	    "elevation_required");
	ck_assert_str_eq(policy_reason_str((enum policy_reason)-1),
	    "internal_error");
	ck_assert_str_eq(policy_reason_str(POLICY_R_COUNT), "internal_error");
	for (i = 0; i < POLICY_R_COUNT; i++) {
		seen[i] = policy_reason_str((enum policy_reason)i);
		ck_assert_ptr_nonnull(seen[i]);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(seen[i], seen[j]);
	}
}
END_TEST

START_TEST(test_result_fields)
{
	struct policy_subject	subj;
	struct policy_result	res;

	subj.by = POLICY_BY_ID;
	subj.value = "u-bob";
	subj.directory = NULL;
	policy_set_version(idx, 1234);
	(void)policy_evaluate(idx, &subj, "github", "delete_branch", 10,
	    &res);
	ck_assert_int_eq(res.reason, POLICY_R_ELEVATION_REQUIRED);
	ck_assert_int_eq(res.max_grant_ms, 3600000);
	ck_assert_uint_eq(res.policy_version, 1234);
	ck_assert_uint_eq(res.subject_epoch, 7);
	ck_assert_int_eq(policy_principal_set_epoch(idx, "u-bob", 8), 0);
	(void)policy_evaluate(idx, &subj, "github", "nope", 10, &res);
	ck_assert_uint_eq(res.subject_epoch, 8);
	ck_assert_int_eq(policy_principal_set_epoch(idx, "u-nobody", 1), -1);
	ck_assert_int_eq(policy_principal_set_revoked(idx, "u-nobody", 1),
	    -1);
	subj.value = "u-nobody";
	(void)policy_evaluate(idx, &subj, "github", "list_repos", 10, &res);
	ck_assert_uint_eq(res.subject_epoch, 0);
	ck_assert_ptr_null(res.rule_id);
}
END_TEST

/* Globs through the public API: one fresh index per pattern/name pair. */
struct gcase {
	const char	*pat;
	const char	*name;
	int		 match;
};

static const struct gcase globs[] = {
	{ "delete_*", "delete_branch", 1 },
	{ "delete_*", "delete_", 1 },
	{ "delete_*", "delete", 0 },
	{ "delete_*", "undelete_x", 0 },
	{ "*", "anything", 1 },
	{ "*_issue", "get_issue", 1 },
	{ "*_issue", "get_issues", 0 },
	{ "?et_issue", "get_issue", 1 },
	{ "?et_issue", "et_issue", 0 },
	{ "??", "ab", 1 },
	{ "??", "abc", 0 },
	{ "a*b*c", "aXXbYYc", 1 },
	{ "a*b*c", "aXXbYY", 0 },
	{ "a*b", "ab", 1 },
	{ "a**b", "aqqb", 1 },
	{ "*x", "xxxxy", 0 },
	{ "*x*", "abxcd", 1 },
	{ "a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	{ "a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1 },
	{ "Delete_*", "delete_x", 0 },
	{ "list_repos", "list_repos", 1 },
	{ "list_repos", "list_repo", 0 },
	{ "risk:high", "x", 1 },
	{ "risk:low", "x", 0 },
	{ "label:pii", "x", 1 },
	{ "team:red", "x", 1 },
	{ "team:blue", "x", 0 },
};

START_TEST(test_globs)
{
	const struct gcase	*c = &globs[_i];
	struct policy_subject	 subj;
	struct policy_result	 res;
	struct policy_err	 err;
	const char		*labels[2] = { "pii", "Team:Red" };
	struct policy_tool	 t;

	ck_assert_ptr_nonnull(idx = policy_new());
	add_user("u", "d", "u@x", NULL, NULL, NULL, 1, 0);
	ck_assert_int_eq(policy_server_upsert(idx, "s", &err), 0);
	t.server = "s";
	t.name = c->name;
	t.risk = "HIGH";
	t.labels = labels;
	t.nlabels = 2;
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), 0);
	add_rule("r", POLICY_SUBJECT_EVERYONE, NULL, "s", c->pat,
	    POLICY_EFFECT_ALLOW, 0);
	subj.by = POLICY_BY_ID;
	subj.value = "u";
	subj.directory = NULL;
	(void)policy_evaluate(idx, &subj, "s", c->name, 0, &res);
	ck_assert_msg(res.reason == (c->match ? POLICY_R_ALLOWED_BY_RULE :
	    POLICY_R_NO_MATCHING_RULE), "%s vs %s: %s", c->pat, c->name,
	    policy_reason_str(res.reason));
	policy_free(idx);
	idx = NULL;
}
END_TEST

/* The one rule of what a principal may hold (policy_check_value). */
START_TEST(test_check_value)
{
	struct policy_err	err;
	char			long_s[POLICY_NAME_MAX + 2];

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(policy_check_value("alice@x", 64, 0, "userName",
	    &err), 0);
	/* Non-ASCII letters and NBSP (C2 A0) are not controls. */
	ck_assert_int_eq(policy_check_value("\xc3\xa9mile \xc2\xa0x", 64, 0,
	    "userName", &err), 0);
	ck_assert_int_eq(policy_check_value(NULL, 64, 1, "externalId", &err),
	    0);
	ck_assert_int_eq(policy_check_value("", 64, 1, "externalId", &err),
	    0);
	ck_assert_int_eq(policy_check_value("", 64, 0, "email", &err), -1);
	ck_assert_str_eq(err.msg, "email is required");
	ck_assert_int_eq(policy_check_value("v\t@x", 64, 0, "email", &err),
	    -1);
	ck_assert_int_eq(err.code, POLICY_E_INVALID);
	ck_assert_str_eq(err.msg, "email contains a control character");
	ck_assert_int_eq(policy_check_value("a\x01", 64, 0, "x", &err), -1);
	ck_assert_int_eq(policy_check_value("a\x1f", 64, 0, "x", &err), -1);
	ck_assert_int_eq(policy_check_value("a\x7f", 64, 0, "x", &err), -1);
	/* C1: U+0080 and U+009F, in UTF-8. */
	ck_assert_int_eq(policy_check_value("a\xc2\x80", 64, 0, "x", &err),
	    -1);
	ck_assert_int_eq(policy_check_value("a\xc2\x9f", 64, 0, "x", &err),
	    -1);
	memset(long_s, 'a', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	ck_assert_int_eq(policy_check_value(long_s, POLICY_NAME_MAX, 0,
	    "userName", &err), -1);
	ck_assert_str_eq(err.msg, "userName is longer than 1024 bytes");
	long_s[POLICY_NAME_MAX] = '\0';
	ck_assert_int_eq(policy_check_value(long_s, POLICY_NAME_MAX, 0,
	    "userName", &err), 0);
	/* The index applies the same rule. */
	{
		struct policy_index	*ix;
		struct policy_user	u;
		const char		*mails[1] = { "v\xc2\x85@x" };

		memset(&u, 0, sizeof(u));
		u.id = "u";
		u.directory = "d";
		u.user_name = "u@x";
		u.emails = mails;
		u.nemails = 1;
		u.active = 1;
		ck_assert_ptr_nonnull(ix = policy_new());
		ck_assert_int_eq(policy_user_upsert(ix, &u, &err), -1);
		ck_assert_str_eq(err.msg, "email contains a control character");
		policy_free(ix);
	}
}
END_TEST

struct qrow {
	char	ids[4][32];
	char	why[4][64];
	int	n;
};

static int
collect_quarantine(void *arg, const char *id, const char *dir,
    const char *why)
{
	struct qrow	*q = arg;

	(void)dir;
	if (q->n < 4) {
		(void)snprintf(q->ids[q->n], sizeof(q->ids[0]), "%s", id);
		(void)snprintf(q->why[q->n], sizeof(q->why[0]), "%s", why);
		q->n++;
	}
	return (0);
}

/* A principal the index cannot apply is denied, never its old state. */
START_TEST(test_quarantine)
{
	struct policy_principal_info	info;
	struct policy_subject		subj;
	struct policy_stats		st;
	struct qrow			q;

	expect_id("u-alice", "github", "list_repos", A, "r-01");
	expect_id("sp-bot", "github", "create_issue", A, "r-07");
	ck_assert_uint_eq(policy_quarantined(idx), 0);
	ck_assert_int_eq(policy_principal_quarantine(idx, "u-alice", "d1",
	    "user record refused: email contains a control character", 0), 0);
	ck_assert_uint_eq(policy_quarantined(idx), 1);
	expect_id("u-alice", "github", "list_repos",
	    POLICY_R_PRINCIPAL_UNAVAILABLE, NULL);
	/* Its agents too: nothing is known of their owner. */
	expect_id("sp-bot", "github", "create_issue",
	    POLICY_R_PRINCIPAL_UNAVAILABLE, NULL);
	/* Old aliases resolve to it (denied), not to a stale allow. */
	expect("by old userName", POLICY_BY_USERNAME, "alice@example.com",
	    "d1", "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNAVAILABLE,
	    NULL, NULL, NULL);
	expect("by old email", POLICY_BY_EMAIL, "alice.work@example.com",
	    NULL, "github", "list_repos", NOW,
	    POLICY_R_PRINCIPAL_UNAVAILABLE, NULL, NULL, NULL);
	subj.by = POLICY_BY_ID;
	subj.value = "u-alice";
	subj.directory = NULL;
	ck_assert_int_eq(policy_principal_lookup(idx, &subj, &info), 0);
	ck_assert_int_eq(info.state, POLICY_R_PRINCIPAL_UNAVAILABLE);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.quarantined, 1);
	ck_assert_str_eq(policy_reason_str(POLICY_R_PRINCIPAL_UNAVAILABLE),
	    "principal_unavailable");

	/* Its own record, applicable again, lifts it. */
	add_user("u-alice", "d1", "alice@example.com", NULL, NULL, NULL, 1, 0);
	ck_assert_uint_eq(policy_quarantined(idx), 0);
	expect_id("u-alice", "github", "list_repos", A, "r-01");

	/* A refused membership: only a rebuild settles it. */
	ck_assert_int_eq(policy_principal_quarantine(idx, "u-bob", "d1",
	    "member record refused", 1), 0);
	add_user("u-bob", "d1", "bob@example.com", NULL, NULL, NULL, 1, 0);
	expect_id("u-bob", "jira", "get_issue", POLICY_R_PRINCIPAL_UNAVAILABLE,
	    NULL);
	/* ...and a weaker quarantine later does not downgrade it. */
	ck_assert_int_eq(policy_principal_quarantine(idx, "u-bob", "d1",
	    "user record refused", 0), 0);
	add_user("u-bob", "d1", "bob@example.com", NULL, NULL, NULL, 1, 0);
	expect_id("u-bob", "jira", "get_issue", POLICY_R_PRINCIPAL_UNAVAILABLE,
	    NULL);
	/* Another live principal may take over a quarantined alias. */
	add_user("u-bob2", "d1", "Bob@example.com", NULL, NULL, NULL, 1, 0);
	subj.by = POLICY_BY_USERNAME;
	subj.value = "bob@example.com";
	subj.directory = "d1";
	ck_assert_int_eq(policy_principal_lookup(idx, &subj, &info), 0);
	ck_assert_str_eq(info.id, "u-bob2");

	/* A principal never loaded (its first record refused). */
	ck_assert_int_eq(policy_principal_quarantine(idx, "u-zed", "d1",
	    NULL, 0), 0);
	expect_id("u-zed", "github", "list_repos",
	    POLICY_R_PRINCIPAL_UNAVAILABLE, NULL);
	expect("other directory", ID, "u-zed", "d2", "github", "list_repos",
	    NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL);
	ck_assert_int_eq(policy_principal_quarantine(idx, "", "d1", "x", 0),
	    -1);

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(policy_quarantine_each(idx, collect_quarantine, &q),
	    0);
	ck_assert_int_eq(q.n, 2);
	ck_assert_str_eq(q.ids[0], "u-bob");
	ck_assert_str_eq(q.why[0], "user record refused");
	ck_assert_str_eq(q.ids[1], "u-zed");
	ck_assert_str_eq(q.why[1], "unavailable");
	/* Removing a principal with a rebuild-only quarantine keeps it. */
	ck_assert_int_eq(policy_principal_remove(idx, "u-bob"), 0);
	expect_id("u-bob", "jira", "get_issue", POLICY_R_PRINCIPAL_UNAVAILABLE,
	    NULL);
	ck_assert_int_eq(policy_principal_remove(idx, "u-zed"), 0);
	expect_id("u-zed", "github", "list_repos", POLICY_R_PRINCIPAL_UNKNOWN,
	    NULL);
	ck_assert_uint_eq(policy_quarantined(idx), 1);

	/* A group's refused rule: its members; everyone's: the directory. */
	ck_assert_int_eq(policy_quarantine_subjects(idx, "g-ops", "d1",
	    "rule refused"), 1);	/* u-alice (u-bob was removed) */
	expect_id("u-alice", "github", "list_repos",
	    POLICY_R_PRINCIPAL_UNAVAILABLE, NULL);
	expect_id("u-hal", "github", "list_repos", A, "r-01");
	ck_assert_int_eq(policy_quarantine_subjects(idx, "g-none", NULL,
	    "x"), 0);
	ck_assert_int_eq(policy_quarantine_subjects(idx, NULL, "d2", "x"), 1);
	expect("everyone in d2", POLICY_BY_USERNAME, "alice@example.com",
	    "d2", "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNAVAILABLE,
	    NULL, NULL, NULL);
	expect_id("u-hal", "github", "list_repos", A, "r-01");
}
END_TEST

START_TEST(test_membership_updates)
{
	struct policy_err	err;

	expect_id("u-bob", "jira", "set_issue", A, "r-08");
	ck_assert_int_eq(policy_membership_remove(idx, "u-bob", "g-ops"), 0);
	expect_id("u-bob", "jira", "set_issue", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	expect_id("u-bob", "github", "delete_branch",
	    POLICY_R_NO_MATCHING_RULE, NULL);
	ck_assert_int_eq(policy_membership_remove(idx, "u-bob", "g-ops"), -1);
	ck_assert_int_eq(policy_membership_remove(idx, "u-bob", "g-none"),
	    -1);
	ck_assert_int_eq(policy_membership_remove(idx, "u-none", "g-ops"),
	    -1);
	ck_assert_int_eq(policy_membership_add(idx, "u-bob", "g-ops", &err),
	    0);
	expect_id("u-bob", "jira", "set_issue", A, "r-08");

	/* Removing a group drops all its memberships and its rules' effect. */
	expect_id("u-alice", "github", "create_issue", A, "r-02");
	ck_assert_int_eq(policy_group_remove(idx, "g-eng"), 0);
	ck_assert_int_eq(policy_group_remove(idx, "g-eng"), -1);
	expect_id("u-alice", "github", "create_issue",
	    POLICY_R_NO_MATCHING_RULE, NULL);
	expect_id("u-hal", "github", "delete_repo", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	/* Re-created group: the rules naming it apply to new members. */
	ck_assert_int_eq(policy_group_upsert(idx, "g-eng", "d1", &err), 0);
	expect_id("u-alice", "github", "create_issue",
	    POLICY_R_NO_MATCHING_RULE, NULL);
	ck_assert_int_eq(policy_membership_add(idx, "u-alice", "g-eng", &err),
	    0);
	expect_id("u-alice", "github", "create_issue", A, "r-02");
}
END_TEST

START_TEST(test_rule_updates)
{
	struct policy_err	err;
	struct policy_stats	st;
	size_t			rules;

	policy_stats(idx, &st);
	rules = st.rules;
	expect_id("u-bob", "jira", "get_issue", A, "r-06");
	ck_assert_int_eq(policy_rule_remove(idx, "r-06"), 0);
	ck_assert_int_eq(policy_rule_remove(idx, "r-06"), -1);
	expect_id("u-bob", "jira", "get_issue", A, "r-08");
	ck_assert_int_eq(policy_rule_remove(idx, "r-08"), 0);
	expect_id("u-bob", "jira", "get_issue", A, "r-15");
	ck_assert_int_eq(policy_rule_remove(idx, "r-15"), 0);
	expect_id("u-bob", "jira", "get_issue", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.rules, rules - 3);

	/* Replace in place: new effect, subject, server and selector. */
	add_rule("r-01", POLICY_SUBJECT_EVERYONE, NULL, "github",
	    "list_repos", POLICY_EFFECT_DENY, 0);
	expect_id("u-bob", "github", "list_repos", POLICY_R_DENIED_BY_RULE,
	    "r-01");
	add_rule("r-01", POLICY_SUBJECT_USER, "u-bob", "*", "get_*",
	    POLICY_EFFECT_ALLOW, 0);
	expect_id("u-bob", "github", "list_repos", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	expect_id("u-bob", "jira", "get_issue", A, "r-01");
	expect_id("u-frank", "jira", "get_issue", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	add_rule("r-01", POLICY_SUBJECT_GROUP, "g-new", "newsrv", "x",
	    POLICY_EFFECT_ALLOW, 0);
	expect_id("u-bob", "jira", "get_issue", POLICY_R_NO_MATCHING_RULE,
	    NULL);
	/* Rule for a server and group loaded later. */
	ck_assert_int_eq(policy_server_upsert(idx, "newsrv", &err), 0);
	add_tool("newsrv", "x", NULL, NULL);
	expect_id("u-bob", "newsrv", "x", POLICY_R_NO_MATCHING_RULE, NULL);
	ck_assert_int_eq(policy_membership_add(idx, "u-bob", "g-new", &err),
	    0);
	expect_id("u-bob", "newsrv", "x", A, "r-01");
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.rules, rules - 3);

	/* Remove: placeholders the rule kept alive go with it. */
	ck_assert_int_eq(policy_membership_remove(idx, "u-bob", "g-new"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 2);	/* g-new, u-nobody */
	ck_assert_int_eq(policy_rule_remove(idx, "r-01"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 1);
}
END_TEST

START_TEST(test_grant_updates)
{
	expect("g", ID, "u-bob", NULL, "github", "delete_branch", 1200, G,
	    "r-04", "g-ops", "gr-1");
	/* Revoke through replace. */
	add_grant("gr-1", "u-bob", "github", "delete_branch", 1000, 2000,
	    1, 1);
	expect("g", ID, "u-bob", NULL, "github", "delete_branch", 1200,
	    POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL);
	/* Approve the pending one. */
	add_grant("gr-2", "u-bob", "github", "delete_*", 0, 9000, 1, 0);
	expect("g", ID, "u-bob", NULL, "github", "delete_repo", 1200, G,
	    "r-04", "g-ops", "gr-2");
	ck_assert_int_eq(policy_grant_remove(idx, "gr-2"), 0);
	ck_assert_int_eq(policy_grant_remove(idx, "gr-2"), -1);
	expect("g", ID, "u-bob", NULL, "github", "delete_repo", 1200,
	    POLICY_R_ELEVATION_REQUIRED, "r-04", "g-ops", NULL);
	/* Move a grant to another principal. */
	add_grant("gr-8", "u-bob", "jira", "label:env:prod", 0, NOW * 2, 1, 0);
	expect("g", ID, "u-frank", NULL, "jira", "delete_issue", NOW,
	    POLICY_R_ELEVATION_REQUIRED, "r-10", NULL, NULL);
	/* Grant for a principal loaded later. */
	add_grant("gr-9", "u-late", "*", "*", 0, NOW * 2, 1, 0);
	add_user("u-late", "d1", "late@example.com", NULL, NULL, NULL, 1, 0);
	expect("g", ID, "u-late", NULL, "github", "read_file", NOW, G, "r-09",
	    NULL, "gr-9");
}
END_TEST

/* An everyone rule holds only in its own directory. */
START_TEST(test_rule_directory_scope)
{
	struct policy_index	*save;
	struct policy_rule	 r;
	struct policy_subject	 subj;
	struct policy_result	 res;
	struct policy_err	 err;

	save = idx;
	idx = policy_new();
	ck_assert_ptr_nonnull(idx);
	add_user("ua", "dA", "a@x", NULL, NULL, NULL, 1, 0);
	add_user("ub", "dB", "b@x", NULL, NULL, NULL, 1, 0);
	ck_assert_int_eq(policy_server_upsert(idx, "srv", &err), 0);
	add_tool("srv", "read", "low", NULL);
	memset(&r, 0, sizeof(r));
	r.id = "everyone-in-a";
	r.directory = "dA";
	r.subject_kind = POLICY_SUBJECT_EVERYONE;
	r.server = "*";
	r.tool = "*";
	r.effect = POLICY_EFFECT_ALLOW;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), 0);

	subj.by = POLICY_BY_ID;
	subj.directory = NULL;
	subj.value = "ua";
	ck_assert_int_eq(policy_evaluate(idx, &subj, "srv", "read", 0, &res),
	    POLICY_ALLOW);
	subj.value = "ub";
	ck_assert_int_eq(policy_evaluate(idx, &subj, "srv", "read", 0, &res),
	    POLICY_DENY);
	ck_assert_int_eq(res.reason, POLICY_R_NO_MATCHING_RULE);

	/* Without a directory the rule holds everywhere (tests, tools). */
	r.directory = NULL;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), 0);
	ck_assert_int_eq(policy_evaluate(idx, &subj, "srv", "read", 0, &res),
	    POLICY_ALLOW);
	policy_free(idx);
	idx = save;
}
END_TEST

START_TEST(test_principal_updates)
{
	struct policy_err	 err;
	const char		*mails[1] = { "new@example.com" };
	struct policy_user	 u;

	/* Owner disabled => its service principal suspended; and back. */
	expect_id("sp-bot", "github", "create_issue", A, "r-07");
	add_user("u-alice", "d1", "Alice@Example.com", "ext-alice", NULL,
	    NULL, 0, 0);
	expect_id("sp-bot", "github", "create_issue",
	    POLICY_R_OWNER_INACTIVE, NULL);
	add_user("u-alice", "d1", "Alice@Example.com", "ext-alice", NULL,
	    NULL, 1, 0);
	expect_id("sp-bot", "github", "create_issue", A, "r-07");
	ck_assert_int_eq(policy_principal_set_revoked(idx, "u-alice", 1), 0);
	expect_id("u-alice", "github", "list_repos",
	    POLICY_R_PRINCIPAL_REVOKED, NULL);
	expect_id("sp-bot", "github", "create_issue",
	    POLICY_R_OWNER_INACTIVE, NULL);
	ck_assert_int_eq(policy_principal_set_revoked(idx, "u-alice", 0), 0);
	add_user("u-alice", "d1", "Alice@Example.com", "ext-alice", NULL,
	    NULL, 1, 1);
	expect_id("sp-bot", "github", "create_issue",
	    POLICY_R_OWNER_INACTIVE, NULL);
	ck_assert_int_eq(policy_principal_remove(idx, "u-alice"), 0);
	ck_assert_int_eq(policy_principal_remove(idx, "u-alice"), -1);
	expect_id("u-alice", "github", "list_repos",
	    POLICY_R_PRINCIPAL_UNKNOWN, NULL);
	expect_id("sp-bot", "github", "create_issue",
	    POLICY_R_OWNER_INACTIVE, NULL);
	/* Re-created: own rule r-12 still there; memberships were not. */
	add_user("u-alice", "d1", "Alice@Example.com", "ext-alice", NULL,
	    NULL, 1, 0);
	expect_id("u-alice", "jira", "delete_issue", A, "r-12");
	expect_id("u-alice", "github", "create_issue",
	    POLICY_R_NO_MATCHING_RULE, NULL);
	expect_id("sp-bot", "github", "create_issue", A, "r-07");

	/* Rename: the old aliases stop resolving. */
	memset(&u, 0, sizeof(u));
	u.id = "u-bob";
	u.directory = "d1";
	u.user_name = "robert@example.com";
	u.emails = mails;
	u.nemails = 1;
	u.active = 1;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), 0);
	expect("rename", POLICY_BY_USERNAME, "bob@example.com", NULL,
	    "github", "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL,
	    NULL, NULL);
	expect("rename", POLICY_BY_EXTERNAL_ID, "ext-bob", NULL, "github",
	    "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL);
	expect("rename", POLICY_BY_USERNAME, "Robert@example.com", NULL,
	    "github", "list_repos", NOW, A, "r-01", NULL, NULL);
	expect("rename", POLICY_BY_EMAIL, "NEW@example.com", NULL, "jira",
	    "set_issue", NOW, A, "r-08", "g-ops", NULL);

	/* A shared alias becomes unique when one holder goes. */
	ck_assert_int_eq(policy_principal_remove(idx, "u-ivy"), 0);
	expect("email", POLICY_BY_EMAIL, "team@example.com", NULL, "github",
	    "create_issue", NOW, A, "r-02", "g-eng", NULL);

	/* SP changes owner and app id. */
	add_sp("sp-orphan", "app-orphan2", "u-frank", 1);
	expect_id("sp-orphan", "github", "list_repos", A, "r-01");
	expect("app", POLICY_BY_APP_ID, "app-orphan", NULL, "github",
	    "list_repos", NOW, POLICY_R_PRINCIPAL_UNKNOWN, NULL, NULL, NULL);
	expect("app", POLICY_BY_APP_ID, "APP-ORPHAN2", NULL, "github",
	    "list_repos", NOW, A, "r-01", NULL, NULL);
	add_sp("sp-orphan", NULL, NULL, 1);
	expect_id("sp-orphan", "github", "list_repos", A, "r-01");

	/* Kinds do not change under a loaded id. */
	u.id = "sp-bot";
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), -1);
	ck_assert_int_eq(err.code, POLICY_E_CONFLICT);
}
END_TEST

/*
 * Aliases compare by idkey (NFC + full case folding), the same key the
 * database stores: a stored "Émile" answers to "émile" and to the
 * decomposed form; ß is ss; the Kelvin sign is k; Turkish İ is neither
 * i nor ı; an invalid or white-space-padded subject names nobody.
 */
START_TEST(test_unicode_aliases)
{
	static const struct {
		const char		*who;
		enum policy_alias	 by;
		int			 known;
	} ucases[] = {
		{ "\xc3\xa9mile@example.com", POLICY_BY_USERNAME, 1 },
		{ "E\xcc\x81MILE@EXAMPLE.COM", POLICY_BY_USERNAME, 1 },
		{ "e\xcc\x81mile@example.com", POLICY_BY_EMAIL, 1 },
		{ "emile@example.com", POLICY_BY_USERNAME, 0 },
		{ "\xc3\xa9mile@example.com ", POLICY_BY_USERNAME, 0 },
		{ "STRASSE@example.com", POLICY_BY_EMAIL, 1 },
		{ "stra\xe1\xba\x9e" "e@example.com", POLICY_BY_EMAIL, 1 },
		{ "kelvin@example.com", POLICY_BY_EMAIL, 1 },
		{ "\xc4\xb0pek@example.com", POLICY_BY_EMAIL, 1 },
		{ "i\xcc\x87PEK@example.com", POLICY_BY_EMAIL, 1 },
		{ "ipek@example.com", POLICY_BY_EMAIL, 0 },
		{ "\xc4\xb1pek@example.com", POLICY_BY_EMAIL, 0 },
		{ "\xc3\xa9mile\xff@example.com", POLICY_BY_USERNAME, 0 },
		{ "\xe2\x84\xaa" "ELVIN@EXAMPLE.COM", POLICY_BY_APP_ID, 1 },
	};
	struct policy_user	 u;
	struct policy_err	 err;
	struct policy_subject	 subj;
	struct policy_result	 res;
	const char		*mails[4];
	size_t			 i;

	memset(&u, 0, sizeof(u));
	u.id = "u-emile";
	u.directory = "d1";
	u.user_name = "\xc3\x89mile@Example.com";
	mails[0] = "\xc3\x89mile@example.com";
	mails[1] = "stra\xc3\x9f" "e@example.com";
	mails[2] = "\xe2\x84\xaa" "elvin@example.com";
	mails[3] = "\xc4\xb0PEK@example.com";
	u.emails = mails;
	u.nemails = 4;
	u.active = 1;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), 0);
	add_sp("sp-kelvin", "kelvin@example.com", NULL, 1);

	for (i = 0; i < sizeof(ucases) / sizeof(ucases[0]); i++) {
		subj.by = ucases[i].by;
		subj.value = ucases[i].who;
		subj.directory = NULL;
		(void)policy_evaluate(idx, &subj, "github", "list_repos", NOW,
		    &res);
		ck_assert_msg((res.reason != POLICY_R_PRINCIPAL_UNKNOWN) ==
		    ucases[i].known, "case %zu (%s): %s", i, ucases[i].who,
		    policy_reason_str(res.reason));
	}
}
END_TEST

START_TEST(test_server_tool_updates)
{
	struct policy_err	err;
	struct policy_stats	st;

	policy_stats(idx, &st);
	ck_assert_uint_eq(st.tools, 10);
	ck_assert_uint_eq(st.servers, 3);
	ck_assert_int_eq(policy_tool_remove(idx, "github", "list_repos"), 0);
	ck_assert_int_eq(policy_tool_remove(idx, "github", "list_repos"), -1);
	expect_id("u-bob", "github", "list_repos", POLICY_R_TOOL_UNKNOWN,
	    NULL);
	add_tool("github", "list_repos", "low", NULL);
	expect_id("u-bob", "github", "list_repos", A, "r-01");
	/* Relabel: risk moves the tool under the deny rule. */
	add_tool("github", "list_repos", "secrets", NULL);
	expect_id("u-bob", "github", "list_repos", POLICY_R_DENIED_BY_RULE,
	    "r-05");
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.tools, 10);
	ck_assert_int_eq(policy_server_remove(idx, "github"), 0);
	ck_assert_int_eq(policy_server_remove(idx, "github"), -1);
	expect_id("u-bob", "github", "create_issue", POLICY_R_TOOL_UNKNOWN,
	    NULL);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.tools, 4);
	ck_assert_uint_eq(st.servers, 2);
	/* Re-added server: rules naming it still apply, tools are gone. */
	ck_assert_int_eq(policy_server_upsert(idx, "github", &err), 0);
	expect_id("u-bob", "github", "list_repos", POLICY_R_TOOL_UNKNOWN,
	    NULL);
	add_tool("github", "list_repos", "low", NULL);
	expect_id("u-bob", "github", "list_repos", A, "r-01");
}
END_TEST

START_TEST(test_stats_placeholders)
{
	struct policy_stats	st;
	struct policy_err	err;

	policy_stats(idx, &st);
	ck_assert_uint_eq(st.principals, 17);
	ck_assert_uint_eq(st.groups, 3);
	ck_assert_uint_eq(st.memberships, 5);
	ck_assert_uint_eq(st.servers, 3);
	ck_assert_uint_eq(st.tools, 10);
	ck_assert_uint_eq(st.rules, 15);
	ck_assert_uint_eq(st.grants, 8);
	ck_assert_uint_eq(st.placeholders, 1);	/* u-nobody, sp-ghost's owner */

	/* A member never loaded, then its group removed: both go. */
	ck_assert_int_eq(policy_membership_add(idx, "u-ghost", "g-tmp", &err),
	    0);
	ck_assert_int_eq(policy_membership_add(idx, "u-ghost", "g-sec", &err),
	    0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 3);
	ck_assert_uint_eq(st.memberships, 7);
	expect_id("u-ghost", "vault", "read_secret",
	    POLICY_R_PRINCIPAL_UNKNOWN, NULL);
	ck_assert_int_eq(policy_group_remove(idx, "g-tmp"), -1);
	ck_assert_int_eq(policy_membership_remove(idx, "u-ghost", "g-tmp"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 2);
	ck_assert_int_eq(policy_group_remove(idx, "g-sec"), 0);
	policy_stats(idx, &st);
	/* g-sec stays as a placeholder: rule r-11 still names it. */
	ck_assert_uint_eq(st.placeholders, 2);
	ck_assert_uint_eq(st.groups, 2);
	ck_assert_uint_eq(st.memberships, 5);
	ck_assert_int_eq(policy_rule_remove(idx, "r-11"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 1);

	/* The hard-removed owner stays a placeholder for its agent. */
	ck_assert_int_eq(policy_principal_remove(idx, "u-carol"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.principals, 16);
	ck_assert_uint_eq(st.placeholders, 2);
	expect_id("sp-orphan", "github", "list_repos",
	    POLICY_R_OWNER_INACTIVE, NULL);
	ck_assert_int_eq(policy_principal_remove(idx, "sp-orphan"), 0);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.placeholders, 1);
}
END_TEST

START_TEST(test_bad_input)
{
	struct policy_err	 err;
	struct policy_rule	 r;
	struct policy_grant	 g;
	struct policy_tool	 t;
	struct policy_user	 u;
	struct policy_sp	 sp;
	struct policy_subject	 subj;
	struct policy_result	 res;
	const char		*many[POLICY_LIST_MAX + 1];
	char			*big;
	size_t			 i;

	big = malloc(100000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 99999);
	big[99999] = '\0';
	for (i = 0; i <= POLICY_LIST_MAX; i++)
		many[i] = "x@example.com";

	memset(&r, 0, sizeof(r));
	r.id = "bad";
	r.subject_kind = POLICY_SUBJECT_EVERYONE;
	r.server = "*";
	r.tool = "";
	r.effect = POLICY_EFFECT_ALLOW;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	ck_assert_int_eq(err.code, POLICY_E_INVALID);
	r.tool = "risk:";
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.tool = "label:";
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.tool = big;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.tool = "a\nb";
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.tool = "x";
	r.effect = (enum policy_effect)7;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.effect = (enum policy_effect)-1;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.effect = POLICY_EFFECT_ELEVATE;
	r.subject_kind = (enum policy_subject_kind)9;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.subject_kind = POLICY_SUBJECT_GROUP;
	r.subject_id = NULL;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.subject_id = big;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.subject_id = "g-ops";
	r.max_grant_ms = -1;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.max_grant_ms = 0;
	r.server = NULL;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);
	r.server = "*";
	r.id = NULL;
	ck_assert_int_eq(policy_rule_upsert(idx, &r, &err), -1);

	memset(&g, 0, sizeof(g));
	g.id = "gbad";
	g.principal_id = "u-bob";
	g.server = "*";
	g.tool = "*";
	g.not_before = 10;
	g.expires_at = 10;
	ck_assert_int_eq(policy_grant_upsert(idx, &g, &err), -1);
	g.expires_at = 11;
	g.tool = "";
	ck_assert_int_eq(policy_grant_upsert(idx, &g, &err), -1);
	g.tool = "*";
	g.principal_id = NULL;
	ck_assert_int_eq(policy_grant_upsert(idx, &g, &err), -1);

	memset(&t, 0, sizeof(t));
	t.server = "gitlab";
	t.name = "x";
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), -1);
	ck_assert_int_eq(err.code, POLICY_E_NOTFOUND);
	t.server = "github";
	t.name = big;
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), -1);
	t.name = "x";
	t.labels = many;
	t.nlabels = POLICY_LIST_MAX + 1;
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), -1);
	t.nlabels = 1;
	t.labels = NULL;
	ck_assert_int_eq(policy_tool_upsert(idx, &t, &err), -1);

	memset(&u, 0, sizeof(u));
	u.id = "u-x";
	u.directory = "d1";
	u.user_name = big;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), -1);
	u.user_name = "x@example.com";
	u.emails = many;
	u.nemails = POLICY_LIST_MAX + 1;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), -1);
	u.nemails = 1;
	u.directory = NULL;
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), -1);
	u.directory = "d1";
	u.id = "u\001x";
	ck_assert_int_eq(policy_user_upsert(idx, &u, &err), -1);

	memset(&sp, 0, sizeof(sp));
	sp.id = "sp-self";
	sp.directory = "d1";
	sp.owner_id = "sp-self";
	ck_assert_int_eq(policy_sp_upsert(idx, &sp, &err), -1);
	sp.id = "u-bob";
	sp.owner_id = NULL;
	ck_assert_int_eq(policy_sp_upsert(idx, &sp, &err), -1);
	ck_assert_int_eq(err.code, POLICY_E_CONFLICT);

	ck_assert_int_eq(policy_server_upsert(idx, "*", &err), -1);
	ck_assert_int_eq(policy_server_upsert(idx, big, &err), -1);
	ck_assert_int_eq(policy_group_upsert(idx, "g", NULL, &err), -1);
	ck_assert_int_eq(policy_membership_add(idx, big, "g-ops", &err), -1);
	ck_assert_int_eq(policy_membership_add(idx, "u-bob", "", &err), -1);

	/* Hostile lookups answer, never crash. */
	subj.by = POLICY_BY_USERNAME;
	subj.value = big;
	subj.directory = NULL;
	ck_assert_int_eq(policy_evaluate(idx, &subj, "github", "list_repos",
	    NOW, &res), POLICY_DENY);
	ck_assert_int_eq(res.reason, POLICY_R_PRINCIPAL_UNKNOWN);
	subj.by = POLICY_BY_ID;
	ck_assert_int_eq(policy_evaluate(idx, &subj, big, big, NOW, &res),
	    POLICY_DENY);
	subj.value = NULL;
	(void)policy_evaluate(idx, &subj, "github", "list_repos", NOW, &res);
	ck_assert_int_eq(res.reason, POLICY_R_PRINCIPAL_UNKNOWN);
	(void)policy_evaluate(idx, NULL, "github", "list_repos", NOW, &res);
	ck_assert_int_eq(res.reason, POLICY_R_PRINCIPAL_UNKNOWN);
	subj.value = "u-bob";
	(void)policy_evaluate(idx, &subj, NULL, "list_repos", NOW, &res);
	ck_assert_int_eq(res.reason, POLICY_R_TOOL_UNKNOWN);
	(void)policy_evaluate(idx, &subj, "github", NULL, NOW, &res);
	ck_assert_int_eq(res.reason, POLICY_R_TOOL_UNKNOWN);
	ck_assert_int_eq(policy_rule_remove(idx, NULL), -1);
	ck_assert_int_eq(policy_principal_remove(idx, NULL), -1);

	/* Nothing half-made stayed behind. */
	expect_id("u-bob", "github", "list_repos", A, "r-01");
	free(big);
}
END_TEST

START_TEST(test_batch_and_effective)
{
	struct policy_subject	 subj;
	struct policy_query	 q[1000];
	struct policy_result	 res[1000], one;
	static const char	*names[] = { "list_repos", "delete_branch",
				    "delete_repo", "create_issue", "read_file",
				    "dump_env", "get_issue", "set_issue",
				    "delete_issue", "read_secret", "nope" };
	static const char	*srv[] = { "github", "jira", "vault", "none" };
	size_t			 i;

	subj.by = POLICY_BY_ID;
	subj.directory = NULL;
	for (i = 0; i < 1000; i++) {
		q[i].server = srv[(i / 11) % 4];
		q[i].tool = names[i % 11];
	}
	q[999].server = NULL;
	subj.value = "u-bob";
	ck_assert_int_eq(policy_evaluate_batch(idx, &subj, q, 1000, 1500,
	    res), 0);
	for (i = 0; i < 1000; i++) {
		(void)policy_evaluate(idx, &subj, q[i].server, q[i].tool, 1500,
		    &one);
		ck_assert_int_eq(res[i].decision, one.decision);
		ck_assert_int_eq(res[i].reason, one.reason);
		ck_assert(streq_null(res[i].rule_id, one.rule_id));
		ck_assert(streq_null(res[i].group_id, one.group_id));
		ck_assert(streq_null(res[i].grant_id, one.grant_id));
		ck_assert_uint_eq(res[i].subject_epoch, 7);
	}
	ck_assert_int_eq(res[999].reason, POLICY_R_TOOL_UNKNOWN);
	subj.value = "u-carol";
	ck_assert_int_eq(policy_evaluate_batch(idx, &subj, q, 1000, 1500,
	    res), 0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(res[i].reason, POLICY_R_PRINCIPAL_INACTIVE);
	ck_assert_int_eq(policy_evaluate_batch(idx, &subj, q, 0, 1500, res),
	    0);
}
END_TEST

struct eff_acc {
	const char	*who;
	int		 n;
	int		 stop_at;
	char		 last[128];
	int		 allowed;
};

static int	eff_cb(void *, const char *, const char *,
		    const struct policy_result *);

static int
eff_cb(void *arg, const char *server, const char *tool,
    const struct policy_result *res)
{
	struct eff_acc		*acc = arg;
	struct policy_subject	 subj;
	struct policy_result	 one;
	char			 key[128];

	(void)snprintf(key, sizeof(key), "%s/%s", server, tool);
	ck_assert_msg(acc->n == 0 || strcmp(acc->last, key) < 0,
	    "order %s after %s", key, acc->last);
	(void)snprintf(acc->last, sizeof(acc->last), "%s", key);
	subj.by = POLICY_BY_ID;
	subj.value = acc->who;
	subj.directory = NULL;
	(void)policy_evaluate(idx, &subj, server, tool, NOW, &one);
	ck_assert_int_eq(one.reason, res->reason);
	ck_assert(streq_null(one.rule_id, res->rule_id));
	if (res->decision == POLICY_ALLOW)
		acc->allowed++;
	acc->n++;
	return (acc->n == acc->stop_at ? 5 : 0);
}

START_TEST(test_effective_groups)
{
	struct policy_subject		 subj;
	struct policy_principal_info	 info;
	struct eff_acc			 acc;
	const char			*ids[4];
	size_t				 total;

	subj.by = POLICY_BY_ID;
	subj.value = "u-alice";
	subj.directory = NULL;
	memset(&acc, 0, sizeof(acc));
	acc.who = "u-alice";
	ck_assert_int_eq(policy_effective(idx, &subj, NOW, eff_cb, &acc), 0);
	ck_assert_int_eq(acc.n, 10);
	/*
	 * github: all but delete_repo and dump_env; jira: get_issue and
	 * set_issue (delete_issue denied by r-13); vault: none.
	 */
	ck_assert_int_eq(acc.allowed, 4 + 2);
	memset(&acc, 0, sizeof(acc));
	acc.who = "u-alice";
	acc.stop_at = 3;
	ck_assert_int_eq(policy_effective(idx, &subj, NOW, eff_cb, &acc), 5);
	ck_assert_int_eq(acc.n, 3);

	ck_assert_int_eq(policy_principal_groups(idx, &subj, ids, 4, &total),
	    0);
	ck_assert_uint_eq(total, 2);
	ck_assert_str_eq(ids[0], "g-eng");
	ck_assert_str_eq(ids[1], "g-ops");
	ck_assert_int_eq(policy_principal_groups(idx, &subj, ids, 1, &total),
	    0);
	ck_assert_uint_eq(total, 2);
	ck_assert_int_eq(policy_principal_lookup(idx, &subj, &info), 0);
	ck_assert_str_eq(info.id, "u-alice");
	ck_assert_str_eq(info.directory, "d1");
	ck_assert_str_eq(info.user_name, "Alice@Example.com");
	ck_assert_int_eq(info.kind, POLICY_PRINCIPAL_USER);
	ck_assert_int_eq(info.state, POLICY_R_ALLOWED_BY_RULE);
	ck_assert_uint_eq(info.ngroups, 2);

	subj.value = "sp-orphan";
	ck_assert_int_eq(policy_principal_lookup(idx, &subj, &info), 0);
	ck_assert_int_eq(info.kind, POLICY_PRINCIPAL_SP);
	ck_assert_str_eq(info.owner_id, "u-carol");
	ck_assert_int_eq(info.state, POLICY_R_OWNER_INACTIVE);
	subj.value = "u-nobody";
	ck_assert_int_eq(policy_principal_lookup(idx, &subj, &info), -1);
	ck_assert_int_eq(policy_principal_groups(idx, &subj, ids, 4, &total),
	    -1);

	/* Denied principal: every tool listed with the principal's reason. */
	subj.value = "u-erin";
	memset(&acc, 0, sizeof(acc));
	acc.who = "u-erin";
	ck_assert_int_eq(policy_effective(idx, &subj, NOW, eff_cb, &acc), 0);
	ck_assert_int_eq(acc.n, 10);
	ck_assert_int_eq(acc.allowed, 0);
}
END_TEST

/* Hashmap against a brute-force mirror, with heavy deletion churn. */
START_TEST(test_hashmap)
{
	struct hashmap	  map;
	char		**keys;
	int		 *in;
	size_t		  i, n, it, count;
	uint32_t	  x;
	const char	 *k;
	void		 *v;

	n = 20000;
	keys = calloc(n, sizeof(*keys));
	in = calloc(n, sizeof(*in));
	ck_assert_ptr_nonnull(keys);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < n; i++) {
		keys[i] = malloc(32);
		ck_assert_ptr_nonnull(keys[i]);
		(void)snprintf(keys[i], 32, "key-%zu", i * 7919);
	}
	hashmap_init(&map);
	ck_assert_ptr_null(hashmap_get(&map, "x"));
	ck_assert_ptr_null(hashmap_del(&map, "x"));
	x = 12345;
	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (x % 3 == 0) {
			v = hashmap_del(&map, keys[x % n]);
			ck_assert(in[x % n] ? v == keys[x % n] : v == NULL);
			in[x % n] = 0;
		} else {
			ck_assert_int_eq(hashmap_put(&map, keys[x % n],
			    keys[x % n]), 0);
			in[x % n] = 1;
		}
	}
	count = 0;
	for (i = 0; i < n; i++) {
		v = hashmap_get(&map, keys[i]);
		ck_assert(in[i] ? v == keys[i] : v == NULL);
		count += in[i];
	}
	ck_assert_uint_eq(map.count, count);
	it = 0;
	i = 0;
	while (hashmap_next(&map, &it, &k, &v)) {
		ck_assert_ptr_eq(k, v);
		i++;
	}
	ck_assert_uint_eq(i, count);
	ck_assert_int_eq(hashmap_reserve(&map, 100000), 0);
	ck_assert_ptr_eq(hashmap_get(&map, keys[0]), in[0] ? keys[0] : NULL);
	hashmap_cleanup(&map);
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(in);
}
END_TEST

/*
 * Synthetic world and an independent oracle.  Generation is
 * deterministic (xorshift) so failures reproduce.
 */
struct synth_rule {
	char	 id[16];
	int	 kind;
	int	 subject;	/* user or group number */
	int	 server;	/* -1: "*" */
	char	 sel[64];
	int	 effect;
	int	 oracle_kind;	/* 0 any, 1 exact, 2 glob, 3 risk, 4 label */
	char	 oracle_val[64];
};

struct synth_grant {
	char	 id[16];
	int	 user;
	int	 server;
	char	 sel[64];
	int	 oracle_kind;
	char	 oracle_val[64];
	int64_t	 nb, exp;
	int	 approved, revoked;
};

struct synth {
	int			 nusers, ngroups, per_user, nservers;
	int			 tools_per_server, nrules, ngrants;
	int			*member;	/* nusers * per_user */
	struct synth_rule	*rules;
	struct synth_grant	*grants;
	uint32_t		 rng;
};

static const char *verbs[] = { "get", "list", "set", "delete", "create",
    "read", "run", "dump" };
static const char *nouns[] = { "issue", "repo", "branch", "file", "secret",
    "job", "user", "env" };
static const char *risks[] = { "low", "normal", "consequential", "high",
    "secrets", "infrastructure" };

struct bench_query {
	char	id[16];
	char	srv[16];
	char	tool[48];
};

static uint32_t	synth_rand(struct synth *);
static void	synth_tool_name(int, char *, size_t);
static const char *synth_tool_risk(int);
static int	synth_tool_has_label(int, const char *);
static int	oracle_glob(const char *, const char *);
static int	oracle_sel(int, const char *, int);
static void	synth_pick_sel(struct synth *, int, char *, size_t, int *,
		    char *, size_t);
static void	synth_build(struct synth *, int, int, int, int, int, int,
		    int);
static void	synth_check(struct synth *, int);
static void	synth_free(struct synth *);

static uint32_t
synth_rand(struct synth *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	return (s->rng);
}

/* Tool t (global number): name, risk and labels derive from t. */
static void
synth_tool_name(int t, char *buf, size_t sz)
{
	(void)snprintf(buf, sz, "%s_%s%d", verbs[t % 8], nouns[(t / 8) % 8],
	    t / 64);
}

static const char *
synth_tool_risk(int t)
{
	return (risks[(t / 3) % 6]);
}

static int
synth_tool_has_label(int t, const char *label)
{
	if (strcasecmp(label, "pii") == 0)
		return (t % 5 == 0);
	if (strcasecmp(label, "env:prod") == 0)
		return (t % 7 == 0);
	return (0);
}

/* Recursive on purpose: a different algorithm from the index's. */
static int
oracle_glob(const char *p, const char *s)
{
	if (*p == '\0')
		return (*s == '\0');
	if (*p == '*')
		return (oracle_glob(p + 1, s) ||
		    (*s != '\0' && oracle_glob(p, s + 1)));
	if (*s != '\0' && (*p == '?' || *p == *s))
		return (oracle_glob(p + 1, s + 1));
	return (0);
}

static int
oracle_sel(int kind, const char *val, int t)
{
	char	name[64];

	synth_tool_name(t, name, sizeof(name));
	switch (kind) {
	case 0:
		return (1);
	case 1:
		return (strcmp(val, name) == 0);
	case 2:
		return (oracle_glob(val, name));
	case 3:
		return (strcasecmp(val, synth_tool_risk(t)) == 0);
	default:
		return (synth_tool_has_label(t, val));
	}
}

static void
synth_pick_sel(struct synth *s, int server, char *sel, size_t sz,
    int *okind, char *oval, size_t osz)
{
	char	name[64];
	int	t;

	switch (synth_rand(s) % 10) {
	case 0:
		*okind = 0;
		(void)snprintf(sel, sz, "*");
		break;
	case 1: case 2: case 3:
		*okind = 1;
		t = (server < 0 ? (int)(synth_rand(s) % s->nservers) : server) *
		    s->tools_per_server + synth_rand(s) % s->tools_per_server;
		synth_tool_name(t, name, sizeof(name));
		(void)snprintf(sel, sz, "%s", name);
		break;
	case 4: case 5:
		*okind = 2;
		if (synth_rand(s) % 2)
			(void)snprintf(sel, sz, "%s_*",
			    verbs[synth_rand(s) % 8]);
		else
			(void)snprintf(sel, sz, "*_%s?",
			    nouns[synth_rand(s) % 8]);
		break;
	case 6: case 7:
		*okind = 3;
		(void)snprintf(sel, sz, "risk:%s", risks[synth_rand(s) % 6]);
		break;
	case 8:
		*okind = 4;
		(void)snprintf(sel, sz, "label:pii");
		break;
	default:
		*okind = 4;
		(void)snprintf(sel, sz, "env:prod");
		break;
	}
	if (*okind == 3)
		(void)snprintf(oval, osz, "%s", sel + 5);
	else if (*okind == 4 && strncmp(sel, "label:", 6) == 0)
		(void)snprintf(oval, osz, "%s", sel + 6);
	else
		(void)snprintf(oval, osz, "%s", sel);
}

static void
synth_build(struct synth *s, int nusers, int ngroups, int per_user,
    int nservers, int tools_per_server, int nrules, int ngrants)
{
	struct policy_err	 err;
	struct policy_user	 u;
	struct policy_tool	 t;
	struct policy_rule	 r;
	struct policy_grant	 g;
	struct synth_rule	*sr;
	const char		*labels[2], *mails[1];
	char			 id[32], id2[32], uname[64], name[64];
	char			 srv[32], mail[64];
	int			 i, j, k, dup, grp;
	double			 t0;
	struct rusage		 ru;

	memset(s, 0, sizeof(*s));
	memset(&err, 0, sizeof(err));
	s->rng = 0x9e3779b9;
	s->nusers = nusers;
	s->ngroups = ngroups;
	s->per_user = per_user;
	s->nservers = nservers;
	s->tools_per_server = tools_per_server;
	s->nrules = nrules;
	s->ngrants = ngrants;
	s->member = calloc((size_t)nusers * per_user, sizeof(int));
	s->rules = calloc(nrules, sizeof(*s->rules));
	s->grants = calloc(ngrants, sizeof(*s->grants));
	ck_assert_ptr_nonnull(s->member);
	ck_assert_ptr_nonnull(s->rules);
	ck_assert_ptr_nonnull(s->grants);

	t0 = now_sec();
	ck_assert_ptr_nonnull(idx = policy_new());
	MUST(policy_reserve(idx, nusers, ngroups) == 0);
	for (i = 0; i < ngroups; i++) {
		(void)snprintf(id, sizeof(id), "g-%06d", i);
		MUST(policy_group_upsert(idx, id, "dir", &err) == 0);
	}
	memset(&u, 0, sizeof(u));
	for (i = 0; i < nusers; i++) {
		(void)snprintf(id, sizeof(id), "u-%07d", i);
		(void)snprintf(uname, sizeof(uname), "User%d@Example.com", i);
		(void)snprintf(id2, sizeof(id2), "ext-%d", i);
		(void)snprintf(mail, sizeof(mail), "user%d@mail.example.com",
		    i);
		mails[0] = mail;
		u.id = id;
		u.directory = "dir";
		u.user_name = uname;
		u.external_id = id2;
		u.emails = mails;
		u.nemails = 1;
		u.active = (i % 50) != 1;
		u.deleted = (i % 97) == 3;
		MUST(policy_user_upsert(idx, &u, &err) == 0);
		/* Group 0 holds everyone: the "largest group" of the tier. */
		for (j = 0; j < per_user; j++) {
			do {
				grp = j == 0 ? 0 :
				    (int)(synth_rand(s) % ngroups);
				dup = 0;
				for (k = 0; k < j; k++)
					dup |= s->member[i * per_user + k] ==
					    grp;
			} while (dup);
			s->member[i * per_user + j] = grp;
			(void)snprintf(id2, sizeof(id2), "g-%06d", grp);
			MUST(policy_membership_add(idx, id, id2,
			    &err) == 0);
		}
	}
	for (i = 0; i < nservers; i++) {
		(void)snprintf(srv, sizeof(srv), "srv-%d", i);
		MUST(policy_server_upsert(idx, srv, &err) == 0);
		for (j = 0; j < tools_per_server; j++) {
			k = i * tools_per_server + j;
			synth_tool_name(k, name, sizeof(name));
			t.server = srv;
			t.name = name;
			t.risk = synth_tool_risk(k);
			t.nlabels = 0;
			if (synth_tool_has_label(k, "pii"))
				labels[t.nlabels++] = "PII";
			if (synth_tool_has_label(k, "env:prod"))
				labels[t.nlabels++] = "env:prod";
			t.labels = labels;
			MUST(policy_tool_upsert(idx, &t, &err) == 0);
		}
	}
	for (i = 0; i < nrules; i++) {
		sr = &s->rules[i];
		(void)snprintf(sr->id, sizeof(sr->id), "r-%05d",
		    (int)(synth_rand(s) % 100000));
		for (k = 0; k < i; k++) {
			if (strcmp(s->rules[k].id, sr->id) == 0) {
				(void)snprintf(sr->id, sizeof(sr->id),
				    "r-x%05d", i);
				break;
			}
		}
		k = synth_rand(s) % 20;
		sr->kind = k < 15 ? POLICY_SUBJECT_GROUP : k < 19 ?
		    POLICY_SUBJECT_USER : POLICY_SUBJECT_EVERYONE;
		sr->subject = sr->kind == POLICY_SUBJECT_GROUP ?
		    (int)(synth_rand(s) % ngroups) :
		    (int)(synth_rand(s) % nusers);
		/* Everyone-rules on "*" would leave no tool unmatched. */
		sr->server = (sr->kind != POLICY_SUBJECT_EVERYONE &&
		    synth_rand(s) % 5 == 0) ? -1 :
		    (int)(synth_rand(s) % nservers);
		synth_pick_sel(s, sr->server, sr->sel, sizeof(sr->sel),
		    &sr->oracle_kind, sr->oracle_val, sizeof(sr->oracle_val));
		k = synth_rand(s) % 10;
		sr->effect = k < 6 ? POLICY_EFFECT_ALLOW : k < 8 ?
		    POLICY_EFFECT_DENY : POLICY_EFFECT_ELEVATE;
		if (sr->kind == POLICY_SUBJECT_GROUP)
			(void)snprintf(id, sizeof(id), "g-%06d", sr->subject);
		else
			(void)snprintf(id, sizeof(id), "u-%07d", sr->subject);
		if (sr->server < 0)
			(void)snprintf(srv, sizeof(srv), "*");
		else
			(void)snprintf(srv, sizeof(srv), "srv-%d", sr->server);
		memset(&r, 0, sizeof(r));
		r.id = sr->id;
		r.subject_kind = sr->kind;
		r.subject_id = sr->kind == POLICY_SUBJECT_EVERYONE ? NULL : id;
		r.server = srv;
		r.tool = sr->sel;
		r.effect = sr->effect;
		r.max_grant_ms = 3600000;
		MUST(policy_rule_upsert(idx, &r, &err) == 0);
	}
	for (i = 0; i < ngrants; i++) {
		struct synth_grant	*sg = &s->grants[i];

		(void)snprintf(sg->id, sizeof(sg->id), "gr-%06d", i);
		sg->user = synth_rand(s) % nusers;
		sg->server = synth_rand(s) % 4 == 0 ? -1 :
		    (int)(synth_rand(s) % nservers);
		synth_pick_sel(s, sg->server, sg->sel, sizeof(sg->sel),
		    &sg->oracle_kind, sg->oracle_val, sizeof(sg->oracle_val));
		/*
		 * Half the grants mirror an elevate rule for a user it
		 * applies to, so covering grants actually occur.
		 */
		sr = &s->rules[synth_rand(s) % nrules];
		if (i % 2 == 0 && sr->effect == POLICY_EFFECT_ELEVATE) {
			sg->server = sr->server;
			memcpy(sg->sel, sr->sel, sizeof(sg->sel));
			sg->oracle_kind = sr->oracle_kind;
			memcpy(sg->oracle_val, sr->oracle_val,
			    sizeof(sg->oracle_val));
			if (sr->kind == POLICY_SUBJECT_USER)
				sg->user = sr->subject;
			for (k = 0; k < 100000 &&
			    sr->kind == POLICY_SUBJECT_GROUP; k++) {
				sg->user = synth_rand(s) % nusers;
				for (j = 0; j < per_user; j++) {
					if (s->member[sg->user * per_user +
					    j] == sr->subject)
						break;
				}
				if (j < per_user)
					break;
			}
		}
		sg->nb = NOW - (int64_t)(synth_rand(s) % 7200000);
		sg->exp = sg->nb + 1 + (int64_t)(synth_rand(s) % 7200000);
		sg->approved = synth_rand(s) % 8 != 0;
		sg->revoked = synth_rand(s) % 8 == 0;
		(void)snprintf(id, sizeof(id), "u-%07d", sg->user);
		if (sg->server < 0)
			(void)snprintf(srv, sizeof(srv), "*");
		else
			(void)snprintf(srv, sizeof(srv), "srv-%d", sg->server);
		g.id = sg->id;
		g.principal_id = id;
		g.server = srv;
		g.tool = sg->sel;
		g.not_before = sg->nb;
		g.expires_at = sg->exp;
		g.approved = sg->approved;
		g.revoked = sg->revoked;
		MUST(policy_grant_upsert(idx, &g, &err) == 0);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("policy: built %d users, %d groups, %d memberships, %d tools, "
	    "%d rules, %d grants in %.3f s (max RSS %ld MB)\n", nusers,
	    ngroups, nusers * per_user, nservers * tools_per_server, nrules,
	    ngrants, now_sec() - t0, ru.ru_maxrss / 1024);
	fflush(stdout);
}

/* Brute force over every rule and grant; compare reason and ids. */
static void
synth_check(struct synth *s, int samples)
{
	struct policy_subject	 subj;
	struct policy_result	 res;
	const struct synth_rule	*best[3], *sr;
	const struct synth_grant *bg, *sg;
	char			 id[32], srv[32], name[64];
	int			 n, i, j, user, tool, server, applies;
	enum policy_reason	 want;
	int			 counts[POLICY_R_COUNT], nq;
	double			 t0, el;
	volatile unsigned	 sink;
	struct bench_query	*bq;
	struct policy_query	*bpairs;
	struct policy_result	*bres;

	memset(counts, 0, sizeof(counts));
	subj.by = POLICY_BY_ID;
	subj.directory = NULL;
	for (n = 0; n < samples; n++) {
		/* Bias toward users with grants so grants get exercised. */
		user = synth_rand(s) % s->nusers;
		server = synth_rand(s) % s->nservers;
		tool = server * s->tools_per_server +
		    synth_rand(s) % s->tools_per_server;
		if (n % 4 == 0 && s->ngrants > 0) {
			sg = &s->grants[synth_rand(s) % s->ngrants];
			user = sg->user;
			if (sg->server >= 0)
				server = sg->server;
			for (i = 0; i < 64; i++) {
				tool = server * s->tools_per_server +
				    synth_rand(s) % s->tools_per_server;
				if (oracle_sel(sg->oracle_kind,
				    sg->oracle_val, tool))
					break;
			}
		}
		memset(best, 0, sizeof(best));
		for (i = 0; i < s->nrules; i++) {
			sr = &s->rules[i];
			if (sr->kind == POLICY_SUBJECT_EVERYONE)
				applies = 1;
			else if (sr->kind == POLICY_SUBJECT_USER)
				applies = sr->subject == user;
			else {
				applies = 0;
				for (j = 0; j < s->per_user; j++)
					applies |= s->member[user *
					    s->per_user + j] == sr->subject;
			}
			if (!applies || (sr->server >= 0 &&
			    sr->server != server) ||
			    !oracle_sel(sr->oracle_kind, sr->oracle_val, tool))
				continue;
			if (best[sr->effect] == NULL ||
			    strcmp(sr->id, best[sr->effect]->id) < 0)
				best[sr->effect] = sr;
		}
		bg = NULL;
		if ((user % 97) == 3 || (user % 50) == 1)
			want = POLICY_R_PRINCIPAL_INACTIVE;
		else if (best[POLICY_EFFECT_DENY] != NULL)
			want = POLICY_R_DENIED_BY_RULE;
		else if (best[POLICY_EFFECT_ALLOW] != NULL)
			want = POLICY_R_ALLOWED_BY_RULE;
		else if (best[POLICY_EFFECT_ELEVATE] != NULL) {
			for (i = 0; i < s->ngrants; i++) {
				sg = &s->grants[i];
				if (sg->user != user || !sg->approved ||
				    sg->revoked || NOW < sg->nb ||
				    NOW >= sg->exp ||
				    (sg->server >= 0 && sg->server != server) ||
				    !oracle_sel(sg->oracle_kind,
				    sg->oracle_val, tool))
					continue;
				if (bg == NULL || strcmp(sg->id, bg->id) < 0)
					bg = sg;
			}
			want = bg != NULL ? POLICY_R_ALLOWED_BY_GRANT :
			    POLICY_R_ELEVATION_REQUIRED;
		} else
			want = POLICY_R_NO_MATCHING_RULE;

		(void)snprintf(id, sizeof(id), "u-%07d", user);
		(void)snprintf(srv, sizeof(srv), "srv-%d", server);
		synth_tool_name(tool, name, sizeof(name));
		subj.value = id;
		(void)policy_evaluate(idx, &subj, srv, name, NOW, &res);
		MUSTF(res.reason == want, "%s %s/%s: %s, want %s", id,
		    srv, name, policy_reason_str(res.reason),
		    policy_reason_str(want));
		counts[want]++;
		sr = NULL;
		if (want == POLICY_R_DENIED_BY_RULE)
			sr = best[POLICY_EFFECT_DENY];
		else if (want == POLICY_R_ALLOWED_BY_RULE)
			sr = best[POLICY_EFFECT_ALLOW];
		else if (want == POLICY_R_ELEVATION_REQUIRED ||
		    want == POLICY_R_ALLOWED_BY_GRANT)
			sr = best[POLICY_EFFECT_ELEVATE];
		MUSTF(streq_null(res.rule_id, sr ? sr->id : NULL),
		    "%s %s/%s: rule %s", id, srv, name,
		    res.rule_id ? res.rule_id : "-");
		MUSTF(streq_null(res.grant_id, bg ? bg->id : NULL),
		    "%s %s/%s: grant %s", id, srv, name,
		    res.grant_id ? res.grant_id : "-");
	}
	printf("policy: %d sampled decisions match the oracle (allow %d, "
	    "grant %d, deny %d, elevate %d, none %d, inactive %d)\n", samples,
	    counts[POLICY_R_ALLOWED_BY_RULE], counts[POLICY_R_ALLOWED_BY_GRANT],
	    counts[POLICY_R_DENIED_BY_RULE],
	    counts[POLICY_R_ELEVATION_REQUIRED],
	    counts[POLICY_R_NO_MATCHING_RULE],
	    counts[POLICY_R_PRINCIPAL_INACTIVE]);
	fflush(stdout);
	/* Each reason the oracle can give must have been seen. */
	ck_assert_int_gt(counts[POLICY_R_ALLOWED_BY_RULE], 0);
	ck_assert_int_gt(counts[POLICY_R_DENIED_BY_RULE], 0);
	ck_assert_int_gt(counts[POLICY_R_NO_MATCHING_RULE], 0);
	ck_assert_int_gt(counts[POLICY_R_PRINCIPAL_INACTIVE], 0);
	ck_assert_int_gt(counts[POLICY_R_ALLOWED_BY_GRANT], 0);
	ck_assert_int_gt(counts[POLICY_R_ELEVATION_REQUIRED], 0);

	/*
	 * Timing, for information only: 64k prebuilt random queries over
	 * the whole population (cold caches, as at a busy gateway), then
	 * batches of 1000 tools for one subject.
	 */
	nq = 65536;
	bq = calloc(nq, sizeof(*bq));
	bres = calloc(1000, sizeof(*bres));
	bpairs = calloc(1000, sizeof(*bpairs));
	ck_assert_ptr_nonnull(bq);
	ck_assert_ptr_nonnull(bres);
	ck_assert_ptr_nonnull(bpairs);
	for (n = 0; n < nq; n++) {
		user = synth_rand(s) % s->nusers;
		server = synth_rand(s) % s->nservers;
		tool = server * s->tools_per_server +
		    synth_rand(s) % s->tools_per_server;
		(void)snprintf(bq[n].id, sizeof(bq[n].id), "u-%07d", user);
		(void)snprintf(bq[n].srv, sizeof(bq[n].srv), "srv-%d", server);
		synth_tool_name(tool, bq[n].tool, sizeof(bq[n].tool));
	}
	sink = 0;
	t0 = now_sec();
	for (n = 0; n < 4 * nq; n++) {
		subj.value = bq[n % nq].id;
		sink += policy_evaluate(idx, &subj, bq[n % nq].srv,
		    bq[n % nq].tool, NOW, &res);
	}
	el = now_sec() - t0;
	for (n = 0; n < 1000; n++) {
		bpairs[n].server = bq[n].srv;
		bpairs[n].tool = bq[n].tool;
	}
	t0 = now_sec();
	for (n = 0; n < 100; n++) {
		subj.value = bq[n].id;
		MUSTF(policy_evaluate_batch(idx, &subj, bpairs, 1000,
		    NOW, bres) == 0, "batch failed");
		sink += bres[n].decision;
	}
	printf("policy: %.0f ns/decision, %.0f ns/pair in batches of 1000\n",
	    el * 1e9 / (4 * nq), (now_sec() - t0) * 1e9 / (100 * 1000));
	fflush(stdout);
	(void)sink;
	free(bq);
	free(bres);
	free(bpairs);
}

static void
synth_free(struct synth *s)
{
	policy_free(idx);
	idx = NULL;
	free(s->member);
	free(s->rules);
	free(s->grants);
}

static double
now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

START_TEST(test_tier_m)
{
	struct synth		s;
	struct policy_stats	st;
	struct policy_err	err;
	char			id[32];
	int			i;

	memset(&err, 0, sizeof(err));
	synth_build(&s, 25000, 2500, 16, 50, 50, 500, 3000);
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.principals, 25000);
	ck_assert_uint_eq(st.groups, 2500);
	ck_assert_uint_eq(st.memberships, 400000);
	ck_assert_uint_eq(st.tools, 2500);
	ck_assert_uint_eq(st.rules, 500);
	synth_check(&s, 20000);

	/* Churn memberships, then the oracle must still agree. */
	for (i = 0; i < 2000; i++) {
		int	u = synth_rand(&s) % s.nusers;
		int	j = 1 + synth_rand(&s) % (s.per_user - 1);
		int	g = synth_rand(&s) % s.ngroups;
		int	k, dup;
		char	gid[32];

		dup = 0;
		for (k = 0; k < s.per_user; k++)
			dup |= s.member[u * s.per_user + k] == g;
		if (dup)
			continue;
		(void)snprintf(id, sizeof(id), "u-%07d", u);
		(void)snprintf(gid, sizeof(gid), "g-%06d",
		    s.member[u * s.per_user + j]);
		MUST(policy_membership_remove(idx, id, gid) == 0);
		(void)snprintf(gid, sizeof(gid), "g-%06d", g);
		MUST(policy_membership_add(idx, id, gid, &err) == 0);
		s.member[u * s.per_user + j] = g;
	}
	policy_stats(idx, &st);
	ck_assert_uint_eq(st.memberships, 400000);
	synth_check(&s, 5000);
	synth_free(&s);
}
END_TEST

START_TEST(test_tier_l)
{
	struct synth	s;

	if (getenv("POLICY_BENCH_L") == NULL)
		return;
	synth_build(&s, 150000, 25000, 20, 200, 50, 5000, 20000);
	synth_check(&s, 2000);
	synth_free(&s);
}
END_TEST

/* An answer never outlives the grant it rests on, nor a grant's start. */
START_TEST(test_valid_until)
{
	struct policy_subject	subj;
	struct policy_result	res, batch[2];
	struct policy_query	q[2];

	subj.by = POLICY_BY_ID;
	subj.value = "u-bob";
	subj.directory = NULL;
	(void)policy_evaluate(idx, &subj, "github", "delete_branch", 999,
	    &res);
	ck_assert_int_eq(res.reason, POLICY_R_ELEVATION_REQUIRED);
	ck_assert_int_eq(res.valid_until_ms, 1000);
	(void)policy_evaluate(idx, &subj, "github", "delete_branch", 1200,
	    &res);
	ck_assert_int_eq(res.reason, POLICY_R_ALLOWED_BY_GRANT);
	ck_assert_str_eq(res.grant_id, "gr-1");
	ck_assert_int_eq(res.valid_until_ms, 2000);
	(void)policy_evaluate(idx, &subj, "github", "delete_branch", 2000,
	    &res);
	ck_assert_str_eq(res.grant_id, "gr-4");
	ck_assert_int_eq(res.valid_until_ms, 3000);
	(void)policy_evaluate(idx, &subj, "github", "delete_branch", 3000,
	    &res);
	ck_assert_int_eq(res.reason, POLICY_R_ELEVATION_REQUIRED);
	ck_assert_int_eq(res.valid_until_ms, 0);
	subj.value = "u-alice";
	(void)policy_evaluate(idx, &subj, "github", "read_file", NOW, &res);
	ck_assert_int_eq(res.decision, POLICY_ALLOW);
	ck_assert_int_eq(res.valid_until_ms, 0);

	/* The batch path decides through the same code. */
	subj.value = "u-bob";
	q[0].server = "github";
	q[0].tool = "delete_branch";
	q[1].server = "github";
	q[1].tool = "read_file";
	ck_assert_int_eq(policy_evaluate_batch(idx, &subj, q, 2, 1200, batch),
	    0);
	ck_assert_int_eq(batch[0].valid_until_ms, 2000);
	ck_assert_int_eq(batch[1].valid_until_ms, 0);
}
END_TEST

START_TEST(test_ttl_bound)
{
	struct policy_result	res;

	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(policy_ttl_s(&res, 5000, 30), 30);
	res.valid_until_ms = 10500;
	ck_assert_int_eq(policy_ttl_s(&res, 5600, 30), 4);
	ck_assert_int_eq(policy_ttl_s(&res, 5600, 2), 2);
	ck_assert_int_eq(policy_ttl_s(&res, 9600, 30), 0);
	ck_assert_int_eq(policy_ttl_s(&res, 10500, 30), 0);
	ck_assert_int_eq(policy_ttl_s(&res, 99999, 30), 0);
	ck_assert_int_eq(policy_ttl_s(&res, 0, -5), 0);
	ck_assert_int_eq(policy_valid_until_min(0, 0), 0);
	ck_assert_int_eq(policy_valid_until_min(0, 7), 7);
	ck_assert_int_eq(policy_valid_until_min(7, 0), 7);
	ck_assert_int_eq(policy_valid_until_min(9, 7), 7);
	ck_assert_int_eq(policy_valid_until_min(-1, 7), 7);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("policy");
	tc = tcase_create("decisions");
	tcase_add_checked_fixture(tc, world_setup, world_teardown);
	tcase_add_loop_test(tc, test_table, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_reason_strings);
	tcase_add_test(tc, test_result_fields);
	tcase_add_test(tc, test_valid_until);
	tcase_add_test(tc, test_ttl_bound);
	tcase_add_test(tc, test_membership_updates);
	tcase_add_test(tc, test_rule_updates);
	tcase_add_test(tc, test_grant_updates);
	tcase_add_test(tc, test_principal_updates);
	tcase_add_test(tc, test_rule_directory_scope);
	tcase_add_test(tc, test_server_tool_updates);
	tcase_add_test(tc, test_unicode_aliases);
	tcase_add_test(tc, test_stats_placeholders);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_batch_and_effective);
	tcase_add_test(tc, test_effective_groups);
	tcase_add_test(tc, test_quarantine);
	tcase_add_test(tc, test_check_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("globs");
	tcase_add_loop_test(tc, test_globs, 0,
	    (int)(sizeof(globs) / sizeof(globs[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("hashmap");
	tcase_add_test(tc, test_hashmap);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_tier_m);
	tcase_add_test(tc, test_tier_l);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(policy_suite()));
}
