/*
 * policy: the in-memory policy index and decision evaluator.
 *
 * Gateways ask "may principal P call tool T on MCP server S?" on every
 * tool call, so the answer comes from memory: each worker builds one
 * index from PostgreSQL at start and applies change events to it.  The
 * index keeps principals (users and service principals) with their
 * aliases, groups and direct memberships, servers with their tools,
 * rules filed under their subject (principal, group, or everyone per
 * server), and JIT grants filed under their principal.  A decision looks
 * up the principal, server and tool by hash and scans only the rules
 * that can apply to that principal: no allocation, no database.
 *
 * Decision order (README, "Decision semantics"): principal state, unknown tool,
 * deny rule, allow rule, elevate rule + active grant, no rule.  When
 * several rules of one effect match, the lowest rule id (strcmp) wins,
 * and among covering grants the lowest grant id, so answers do not
 * depend on load order.  Anything inconsistent denies (internal_error).
 *
 * Tool selectors (rules and grants): "*" any tool; a name with '*' or
 * '?' is a glob (case-sensitive, '*' any run, '?' one byte); "risk:X"
 * matches the tool's risk label X; "label:X" matches custom label X;
 * any other "k:v" matches the custom label "k:v"; anything else is an
 * exact, case-sensitive tool name.  Labels compare case-insensitively.
 *
 * Ids (principals, groups, rules, grants) are exact strings: callers
 * pass them as stored (lowercase UUIDs).  userName, email and app id
 * aliases compare by their idkey (Unicode NFC + full case folding, see
 * idkey.h), the asked subject's too; externalId is exact.
 * An alias claimed by several loaded principals resolves only when
 * exactly one of them (in the given directory) is live: the subject is
 * then unknown rather than guessed.  A service principal is suspended
 * (owner_inactive) when its owner is not loaded, inactive, deleted or
 * under the kill switch.
 *
 * Memory: every input string is copied; the index owns its data and
 * policy_free() releases all of it.  Strings returned (result ids, info)
 * are borrowed from the index and valid until its next mutation.
 * Entities may be loaded in any order: a rule, grant or membership that
 * names an absent principal, group or server keeps a placeholder that
 * decides nothing until the real entity arrives.
 * Single-threaded: one index per worker, no locking.
 */

#ifndef RC_POLICY_H
#define RC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_ID_MAX		256	/* ids, slugs, directory, names */
#define POLICY_NAME_MAX		1024	/* userName, emails, tool names */
#define POLICY_SELECTOR_MAX	256
#define POLICY_LIST_MAX		64	/* emails per user, labels per tool */
#define POLICY_WHY_MAX		128	/* quarantine reason, with NUL */
/*
 * Nested groups: a principal is a member of its direct groups and of
 * every group those are (transitively) members of, following at most
 * depth levels (a direct group is level 1) and at most
 * POLICY_NEST_GROUPS_MAX distinct groups beyond the direct ones.  A
 * principal whose chain reaches further cannot be decided for sure: it
 * is denied (internal_error, res->nest_exceeded set), whatever the
 * tool; the caller counts and logs that.  Cycles are followed once.
 */
#define POLICY_NEST_DEPTH_DEFAULT	8
#define POLICY_NEST_DEPTH_MAX		64
#define POLICY_NEST_GROUPS_MAX		256

struct policy_index;

/* err->code values; msg is a sentence for the client. */
enum policy_errcode {
	POLICY_E_NONE = 0,
	POLICY_E_INVALID,		/* malformed or over-long input */
	POLICY_E_CONFLICT,		/* id taken by another kind */
	POLICY_E_NOTFOUND,		/* depends on something not loaded */
	POLICY_E_NOMEM
};

struct policy_err {
	int		code;
	char		msg[128];
};

enum policy_decision {
	POLICY_DENY = 0,
	POLICY_ALLOW = 1
};

enum policy_reason {
	POLICY_R_ALLOWED_BY_RULE = 0,
	POLICY_R_ALLOWED_BY_GRANT,
	POLICY_R_PRINCIPAL_UNKNOWN,
	POLICY_R_PRINCIPAL_INACTIVE,
	POLICY_R_PRINCIPAL_REVOKED,
	POLICY_R_OWNER_INACTIVE,
	POLICY_R_TOOL_UNKNOWN,
	POLICY_R_DENIED_BY_RULE,
	POLICY_R_ELEVATION_REQUIRED,
	POLICY_R_NO_MATCHING_RULE,
	POLICY_R_INTERNAL_ERROR,
	POLICY_R_PRINCIPAL_UNAVAILABLE,	/* quarantined: see below */
	POLICY_R_POLICY_STALE,		/* instance cannot prove it is current */
	POLICY_R_COUNT
};

enum policy_effect {
	POLICY_EFFECT_DENY = 0,
	POLICY_EFFECT_ALLOW = 1,
	POLICY_EFFECT_ELEVATE = 2
};

enum policy_subject_kind {
	POLICY_SUBJECT_GROUP = 0,
	POLICY_SUBJECT_USER,
	POLICY_SUBJECT_SP,
	POLICY_SUBJECT_EVERYONE,
	POLICY_SUBJECT_ROLE		/* an app role value (SCIM roles) */
};

enum policy_principal_kind {
	POLICY_PRINCIPAL_NONE = 0,	/* placeholder, not loaded */
	POLICY_PRINCIPAL_USER,
	POLICY_PRINCIPAL_SP
};

/* How a gateway names the subject of a request. */
enum policy_alias {
	POLICY_BY_ID = 0,
	POLICY_BY_USERNAME,		/* case-insensitive */
	POLICY_BY_EXTERNAL_ID,		/* exact */
	POLICY_BY_EMAIL,		/* case-insensitive */
	POLICY_BY_APP_ID		/* service principal; ci */
};

struct policy_subject {
	enum policy_alias	 by;
	const char		*value;
	const char		*directory;	/* NULL: any directory */
};

/*
 * A decision.  Ids are NULL when they do not apply, else borrowed from
 * the index (valid until its next mutation).  rule_id is the deciding
 * rule (for allowed_by_grant and elevation_required: the elevate rule);
 * group_id the group that rule names, if any (a direct or nested group
 * of the principal); role the app role it names, if any; max_grant_ms
 * the elevate rule's maximum grant duration (0: none set).
 * nest_exceeded is set when the principal's group chain goes beyond
 * the nesting limit (see POLICY_NEST_DEPTH_DEFAULT): denied.
 *
 * valid_until_ms is the first known moment (ms since epoch) at which
 * the same question may get another answer without any further write:
 * the expiry of the grant an allow rests on, or the start of an
 * approved grant that would turn elevation_required into an allow.  0
 * when nothing of the kind is scheduled.  Callers bound any cache
 * lifetime they hand out by it (policy_ttl_s), so no cached answer
 * outlives what it rests on.
 */
struct policy_result {
	enum policy_decision	 decision;
	enum policy_reason	 reason;
	const char		*rule_id;
	const char		*group_id;
	const char		*grant_id;
	const char		*role;
	int64_t			 max_grant_ms;
	uint64_t		 policy_version;
	uint64_t		 subject_epoch;
	int64_t			 valid_until_ms;
	int			 nest_exceeded;
};

/* Inputs to the upsert functions; all strings are copied. */
struct policy_user {
	const char		*id;
	const char		*directory;
	const char		*user_name;
	const char		*external_id;	/* may be NULL */
	const char *const	*emails;
	size_t			 nemails;
	int			 active;
	int			 deleted;	/* tombstone: kept, denied */
	const char *const	*roles;		/* app role values (SCIM) */
	size_t			 nroles;
};

struct policy_sp {
	const char		*id;
	const char		*directory;
	const char		*app_id;	/* may be NULL */
	const char		*owner_id;	/* user id, or NULL */
	int			 active;
};

struct policy_tool {
	const char		*server;	/* slug of a loaded server */
	const char		*name;
	const char		*risk;		/* may be NULL */
	const char *const	*labels;	/* "pii", "env:prod", ... */
	size_t			 nlabels;
};

struct policy_rule {
	const char		*id;
	const char		*directory;	/* NULL: every directory */
	enum policy_subject_kind subject_kind;
	const char		*subject_id;	/* NULL for everyone; role:
						   the role value (exact) */
	const char		*server;	/* slug or "*" */
	const char		*tool;		/* selector, see above */
	enum policy_effect	 effect;
	int64_t			 max_grant_ms;	/* elevate only; 0: unset */
};

struct policy_grant {
	const char		*id;
	const char		*principal_id;
	const char		*server;	/* slug or "*" */
	const char		*tool;		/* selector */
	int64_t			 not_before;	/* ms since epoch, inclusive */
	int64_t			 expires_at;	/* ms since epoch, exclusive */
	int			 approved;
	int			 revoked;
};

/* One (server, tool) pair of a batch. */
struct policy_query {
	const char		*server;
	const char		*tool;
};

/* What a subject resolves to; strings borrowed from the index. */
struct policy_principal_info {
	const char		*id;
	const char		*directory;
	enum policy_principal_kind kind;
	const char		*user_name;	/* users */
	const char		*app_id;	/* service principals */
	const char		*owner_id;	/* service principals */
	int			 active;
	int			 deleted;
	int			 revoked_all;
	/* POLICY_R_ALLOWED_BY_RULE when the principal itself may act. */
	enum policy_reason	 state;
	uint64_t		 subject_epoch;
	size_t			 ngroups;
};

struct policy_stats {
	size_t		principals;	/* loaded users + service principals */
	size_t		quarantined;	/* principals denied as unavailable */
	size_t		groups;		/* loaded groups */
	size_t		memberships;
	size_t		nestings;	/* group-in-group edges */
	size_t		servers;
	size_t		tools;
	size_t		rules;
	size_t		grants;
	size_t		placeholders;	/* referenced, not loaded */
};

/* Effective-policy callback: non-zero return stops the enumeration. */
/*
 * For policy_explain: one rule that matches (server, tool) for the
 * subject, whatever its effect, and what it applies through: via is the
 * rule's group (group rules) or role value (role rules), else NULL;
 * path lists, for a group rule, the group ids from the principal's
 * direct group to the rule's group (npath 1 for a direct group).
 * Return 0 to go on.
 */
typedef int	(*policy_explain_cb)(void *arg, const char *rule_id,
		    enum policy_effect effect,
		    enum policy_subject_kind subject_kind,
		    const char *via, const char *const *path, size_t npath);

typedef int	(*policy_effective_cb)(void *arg, const char *server,
		    const char *tool, const struct policy_result *res);

/*
 * The one rule for what a principal may hold (README "What a principal
 * may hold"): every string the index keeps (ids, userName, externalId,
 * emails, app ids, names) is non-empty (unless optional), at most max
 * bytes long, and free of control characters: C0 (U+0000-U+001F), DEL
 * (U+007F) and C1 (U+0080-U+009F, i.e. the UTF-8 pairs C2 80-C2 9F).
 * The index checks every input with it, and the SCIM write path checks
 * the same attributes with it before anything is written, so the two
 * cannot drift: what SCIM accepts, the index can hold.  0, or -1 with
 * err (POLICY_E_INVALID, msg naming what).
 */
int		policy_check_value(const char *s, size_t max, int optional,
		    const char *what, struct policy_err *err);

/*
 * Quarantine.  When a change record or a loaded row that concerns a
 * principal cannot be applied, the principal must not keep its previous
 * state (a disable the index refused would otherwise stay an allow).
 * A quarantined principal is denied with principal_unavailable (so are
 * service principals it owns); its id and its old aliases resolve to it,
 * so an old userName cannot answer for a still-allowed user, and it is
 * never "live" for an alias another principal claims.  why is copied
 * (truncated to POLICY_WHY_MAX - 1 bytes).  directory may be NULL.
 * With until_rebuild == 0 the next successful upsert of that principal
 * (its own record, now applicable) lifts the quarantine; with 1 only a
 * fresh index does (e.g. a refused membership, which a later user
 * record does not repair).  0, or -1 on a bad id or no memory.
 */
int		policy_principal_quarantine(struct policy_index *idx,
		    const char *id, const char *directory, const char *why,
		    int until_rebuild);

/*
 * For a refused rule that names a group (group_id) or everyone
 * (group_id NULL) in directory (NULL: every directory): quarantines,
 * until a rebuild, every loaded principal the rule could concern (the
 * group's members; every principal of the directory), since a rule the
 * index lacks may be a deny.  O(principals); for rare events only.
 * The number quarantined, or -1 on no memory.
 */
long		policy_quarantine_subjects(struct policy_index *idx,
		    const char *group_id, const char *directory,
		    const char *why);

/* How many principals are quarantined; O(1). */
size_t		policy_quarantined(const struct policy_index *idx);

/* Callback for policy_quarantine_each; non-zero return stops. */
typedef int	(*policy_quarantine_cb)(void *arg, const char *id,
		    const char *directory, const char *why);

/*
 * Every quarantined principal, sorted by id; directory may be NULL (not
 * known).  Strings are borrowed.  0, -1 on no memory, or cb's value.
 */
int		policy_quarantine_each(const struct policy_index *idx,
		    policy_quarantine_cb cb, void *arg);

/* New empty index, or NULL; caller frees it with policy_free(). */
struct policy_index	*policy_new(void);

/* Free the index and everything it owns; NULL is fine. */
void		policy_free(struct policy_index *idx);

/* Stable snake_case name of a reason ("denied_by_rule"). */
const char	*policy_reason_str(enum policy_reason reason);

/*
 * A rule's stored subject kind ("group", "user", "service_principal",
 * "role"; anything else, NULL included, is everyone) and effect
 * ("allow", "elevate"; anything else denies), as the database's check
 * constraints name them.
 */
enum policy_subject_kind	policy_subject_kind_parse(const char *s);
enum policy_effect		policy_effect_parse(const char *s);

/* Pre-size the tables for a bulk load; 0, or -1 on no memory. */
int		policy_reserve(struct policy_index *idx, size_t principals,
		    size_t groups);

/* Global version stamped on every result; the caller maintains it. */
void		policy_set_version(struct policy_index *idx, uint64_t v);
uint64_t	policy_version(const struct policy_index *idx);

/*
 * Insert or replace a user; keeps its epoch, kill switch, memberships,
 * rules and grants.  0, or -1 with err (an id held by a service
 * principal is POLICY_E_CONFLICT).
 */
int		policy_user_upsert(struct policy_index *idx,
		    const struct policy_user *u, struct policy_err *err);

/* Insert or replace a service principal (same rules as users). */
int		policy_sp_upsert(struct policy_index *idx,
		    const struct policy_sp *sp, struct policy_err *err);

/*
 * Forget a user or service principal (hard delete; a SCIM DELETE should
 * rather upsert a tombstone) and its memberships.  Rules and grants that
 * name it stay until removed; its epoch and kill switch survive only
 * while something still names it.  0, or -1 when it was not loaded.
 */
int		policy_principal_remove(struct policy_index *idx,
		    const char *id);

/* Kill switch: revoked != 0 denies everything.  0, or -1 if unknown. */
int		policy_principal_set_revoked(struct policy_index *idx,
		    const char *id, int revoked);

/* Set the subject epoch reported with decisions.  0, or -1 if unknown. */
int		policy_principal_set_epoch(struct policy_index *idx,
		    const char *id, uint64_t epoch);

/* Insert a group (or change its directory).  0, or -1 with err. */
int		policy_group_upsert(struct policy_index *idx, const char *id,
		    const char *directory, struct policy_err *err);

/* Remove a group and all its memberships.  0, or -1 if not loaded. */
int		policy_group_remove(struct policy_index *idx, const char *id);

/* Add principal to group (idempotent); either may be loaded later. */
int		policy_membership_add(struct policy_index *idx,
		    const char *principal_id, const char *group_id,
		    struct policy_err *err);

/* Remove a membership.  0, or -1 when there was none. */
int		policy_membership_remove(struct policy_index *idx,
		    const char *principal_id, const char *group_id);

/*
 * Nest group child in group parent (idempotent); either may be loaded
 * later.  A group nested in itself is POLICY_E_INVALID.  0, or -1.
 */
int		policy_nest_add(struct policy_index *idx, const char *child,
		    const char *parent, struct policy_err *err);

/* Remove a nesting.  0, or -1 when there was none. */
int		policy_nest_remove(struct policy_index *idx, const char *child,
		    const char *parent);

/* The nesting depth limit (1..POLICY_NEST_DEPTH_MAX, clamped). */
void		policy_set_nest_depth(struct policy_index *idx, int depth);

/* Insert an MCP server; its tools are kept on re-upsert. */
int		policy_server_upsert(struct policy_index *idx,
		    const char *slug, struct policy_err *err);

/* Remove a server and its tools.  0, or -1 if not loaded. */
int		policy_server_remove(struct policy_index *idx,
		    const char *slug);

/* Insert or replace a tool of a loaded server.  0, or -1 with err. */
int		policy_tool_upsert(struct policy_index *idx,
		    const struct policy_tool *t, struct policy_err *err);

/* Remove one tool.  0, or -1 if not loaded. */
int		policy_tool_remove(struct policy_index *idx,
		    const char *server, const char *name);

/* Insert or replace a rule (selector compiled here).  0, or -1 w/ err. */
int		policy_rule_upsert(struct policy_index *idx,
		    const struct policy_rule *r, struct policy_err *err);

/* Remove a rule.  0, or -1 if unknown. */
int		policy_rule_remove(struct policy_index *idx, const char *id);

/* Insert or replace a JIT grant.  0, or -1 with err. */
int		policy_grant_upsert(struct policy_index *idx,
		    const struct policy_grant *g, struct policy_err *err);

/* Remove a grant.  0, or -1 if unknown. */
int		policy_grant_remove(struct policy_index *idx, const char *id);

/*
 * Decide one call at time now_ms.  Always fills res; returns its
 * decision.  Allocates nothing.
 */
enum policy_decision	policy_evaluate(const struct policy_index *idx,
			    const struct policy_subject *subj,
			    const char *server, const char *tool,
			    int64_t now_ms, struct policy_result *res);

/*
 * Decide n pairs for one subject, resolving it and its rules once.
 * Fills res[0..n-1].  0, or -1 when scratch memory ran out (every
 * result is then internal_error).
 */
/*
 * Like policy_evaluate, and first calls cb for every matching rule
 * (direct, through each group, everyone), for "why" answers.  Strings
 * passed to cb are borrowed from the index.
 */
enum policy_decision	policy_explain(const struct policy_index *idx,
			    const struct policy_subject *subj,
			    const char *server, const char *tool,
			    int64_t now_ms, policy_explain_cb cb, void *arg,
			    struct policy_result *res);
int		policy_evaluate_batch(struct policy_index *idx,
		    const struct policy_subject *subj,
		    const struct policy_query *q, size_t n, int64_t now_ms,
		    struct policy_result *res);

/*
 * Every loaded server and tool (sorted by slug, then name) with the
 * subject's decision.  0, -1 on no memory, or cb's non-zero value.
 * cb may call policy_evaluate(), nothing that changes or batches.
 */
int		policy_effective(struct policy_index *idx,
		    const struct policy_subject *subj, int64_t now_ms,
		    policy_effective_cb cb, void *arg);

/*
 * Resolve a subject.  0 and info filled, or -1 when no loaded principal
 * matches (or an alias is ambiguous within the given directory).
 */
int		policy_principal_lookup(const struct policy_index *idx,
		    const struct policy_subject *subj,
		    struct policy_principal_info *info);

/*
 * How a subject belongs to group_id: the group ids from one of its
 * direct groups out to group_id (shortest chain; just group_id when
 * direct), up to max into ids (borrowed), the count into *n.  0, or -1
 * when the subject is unknown or not in the group.
 */
int		policy_group_path(const struct policy_index *idx,
		    const struct policy_subject *subj, const char *group_id,
		    const char **ids, size_t max, size_t *n);

/*
 * Group ids of a subject (direct memberships), sorted; up to max into
 * ids (borrowed), the full count into *total.  0, or -1 when the
 * subject is unknown.
 */
int		policy_principal_groups(struct policy_index *idx,
		    const struct policy_subject *subj, const char **ids,
		    size_t max, size_t *total);

/*
 * App role values of a subject (SCIM roles, as stored: the order the
 * directory sent, exact strings); up to max into values (borrowed from
 * the index, valid until it changes), the full count into *total.  0,
 * or -1 when the subject is unknown.  Service principals have none.
 */
int		policy_principal_roles(const struct policy_index *idx,
		    const struct policy_subject *subj, const char **values,
		    size_t max, size_t *total);

/*
 * Seconds a gateway may cache res, asked at now_ms: max_ttl_s, cut so
 * that it never reaches past res->valid_until_ms (rounded down, never
 * below 0).  Only allows are bounded by the setting alone; denies obey
 * the same bound so a cached deny also ends when a grant starts.
 */
int		policy_ttl_s(const struct policy_result *res, int64_t now_ms,
		    int max_ttl_s);

/*
 * The earlier of two valid_until_ms values, 0 meaning "none": for one
 * ttl_s covering several results (batches, filters, session checks).
 */
int64_t		policy_valid_until_min(int64_t a, int64_t b);

/*
 * What the index holds about one loaded principal, for comparing the
 * index with the database (digest.h).  Strings are borrowed from the
 * index; groups lists only loaded groups, unsorted.
 */
struct policy_principal_view {
	const char		*id;
	const char		*directory;
	enum policy_principal_kind kind;
	const char		*user_name;	/* users */
	const char		*external_id;	/* users; may be NULL */
	const char *const	*emails;	/* users, as stored */
	size_t			 nemails;
	const char		*app_id;	/* service principals */
	const char		*owner_id;	/* service principals; NULL */
	const char *const	*groups;
	size_t			 ngroups;
	int			 active;
	int			 deleted;
	int			 revoked_all;
	uint64_t		 epoch;
};

/*
 * Calls cb for every loaded principal (placeholders skipped) for which
 * want (NULL: every one) returns non-zero, in no particular order; want
 * sees only the id and is cheap.  0, -1 on no memory, or cb's non-zero
 * value.
 */
int		policy_principal_foreach(struct policy_index *idx,
		    int (*want)(void *arg, const char *id),
		    int (*cb)(void *arg, const struct policy_principal_view *),
		    void *arg);

#ifdef RC_TESTHOOKS
/* Test builds only: flips a principal's kill switch behind the back of
 * every version check, so a test can see anti-entropy repair it. */
int		policy_testhook_flip_revoked(struct policy_index *idx,
		    const char *id);
#endif

/* Counts of what the index holds. */
void		policy_stats(const struct policy_index *idx,
		    struct policy_stats *st);

#endif
