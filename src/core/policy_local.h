/*
 * policy_local: the policy index's private layout, shared by its three
 * files and by nothing else (policy.h is the interface):
 *   policy_node.c   the nodes and their lifetimes: vectors, interned
 *                   directories, selectors, aliases, principals, groups,
 *                   servers, tools, rule lists, placeholders;
 *   policy.c        the index's public mutations, statistics,
 *                   quarantine and iteration;
 *   policy_eval.c   the evaluator: resolving a subject, scanning rules
 *                   and grants, explain, effective permissions, TTLs.
 *
 * Layout, chosen so a decision touches little memory and updates stay
 * local:
 *   - principals by id; aliases (userName, externalId, email, app id)
 *     in one table keyed by a kind byte + value, each entry listing the
 *     principals that claim it, so one email shared by two users is
 *     ambiguous instead of silently answering for the wrong one, and
 *     the directory is filtered at lookup without a second table;
 *   - each principal holds its groups (direct memberships), its app
 *     role values, its own rules and its grants; each group holds its
 *     rules and the groups it is nested in (parents); role rules are
 *     filed per role value; everyone-rules are filed per server, plus
 *     one list for server "*";
 *   - servers by slug, each with its tools by name.
 * A decision scans the principal's rules, its groups' rules and the
 * everyone lists for the server; rules carry a resolved server pointer
 * and a compiled selector, so the scan is pointer compares plus, for
 * globs and labels, a short string match.  A membership change is one
 * vector edit; a rule change edits one list.  Rules, grants and
 * memberships may name entities that are not loaded (yet): those get a
 * placeholder node, freed again when nothing refers to it.
 */
#ifndef RC_POLICY_LOCAL_H
#define RC_POLICY_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "policy.h"

/* An alias key: kind byte, the keyed value (folding can grow a name:
 * "\xc3\x9f" becomes "ss"), NUL. */
#define POLICY_KEY_MAX		(4 * POLICY_NAME_MAX + 2)

enum pol_sel_kind {
	SEL_ANY = 0,
	SEL_EXACT,
	SEL_GLOB,
	SEL_RISK,
	SEL_LABEL
};

struct pol_vec {
	void		**v;
	uint32_t	  n;
	uint32_t	  cap;
};

struct pol_ords {
	uint32_t	*v;
	uint32_t	 n;
	uint32_t	 cap;
};

struct pol_sel {
	int		 kind;
	char		*text;		/* name, glob, or label value */
	uint64_t	 hash;		/* SEL_EXACT: hash of text */
};

struct pol_server {
	char		*slug;
	int		 present;
	uint32_t	 nrefs;		/* rules and grants naming it */
	struct hashmap	 tools;		/* name -> struct pol_tool */
	struct pol_vec	 everyone;	/* everyone-rules for this server */
};

struct pol_tool {
	char			*name;		/* points into namebuf */
	uint64_t		 hash;
	struct pol_server	*server;
	char			*risk;
	char			**labels;
	uint32_t		 nlabels;
	char			 namebuf[];
};

struct pol_group {
	char		*id;
	const char	*dir;		/* interned */
	uint32_t	 ord;		/* slot in idx->gtab and gnrules */
	int		 present;
	uint32_t	 nmembers;
	uint32_t	 nchildren;	/* groups nested in this one */
	struct pol_ords	 parents;	/* groups this one is nested in */
	struct pol_vec	 rules;
};

/* An app role some rule names; freed with its last rule. */
struct pol_role {
	struct pol_vec	 rules;
	char		 name[];
};

struct pol_principal {
	char			*id;
	const char		*dir;	/* interned */
	int			 kind;
	int			 present;
	int			 active;
	int			 deleted;
	int			 revoked;
	char			*user_name;
	char			*external_id;
	char			*app_id;
	char			**emails;
	uint32_t		 nemails;
	char			**roles;	/* SCIM app role values */
	uint32_t		 nroles;
	struct pol_principal	*owner;
	uint32_t		 nowned;	/* SPs naming it as owner */
	struct pol_ords		 groups;	/* group ordinals */
	struct pol_vec		 rules;		/* rules naming it */
	struct pol_vec		 grants;
	uint64_t		 epoch;
	int			 quarantined;	/* 0, 1: own record, 2: rebuild */
	char			*why;		/* set while quarantined */
	char			 idbuf[];	/* id points here */
};

struct pol_rule {
	char			*id;
	const char		*dir;		/* interned; NULL: any */
	int			 subject_kind;
	int			 effect;
	void			*subject;	/* principal, group, role,
						   NULL */
	struct pol_server	*server;	/* NULL: "*" */
	struct pol_sel		 sel;
	int64_t			 max_grant_ms;
};

struct pol_grant {
	char			*id;
	struct pol_principal	*principal;
	struct pol_server	*server;	/* NULL: "*" */
	struct pol_sel		 sel;
	int64_t			 not_before;
	int64_t			 expires_at;
	int			 approved;
	int			 revoked;
};

struct pol_alias {
	struct pol_vec	 who;
	char		 key[];
};

struct policy_index {
	struct hashmap		 principals;
	struct hashmap		 aliases;
	struct hashmap		 groups;
	struct hashmap		 servers;
	struct hashmap		 rules;
	struct hashmap		 grants;
	struct hashmap		 dirs;
	struct hashmap		 roles;		/* value -> struct pol_role */
	struct pol_vec		 everyone_any;
	struct pol_vec		 scratch;

	/*
	 * Groups by ordinal, and each group's rule count in a dense array:
	 * most groups carry no rules, and reading a count from this small,
	 * cache-resident array is far cheaper than touching every group
	 * struct of a principal on each decision.
	 */
	struct pol_group	**gtab;
	uint32_t		 *gnrules;
	uint32_t		  gcap;
	uint32_t		  gused;
	struct pol_ords		  gfree;
	uint64_t		 version;
	size_t			 nmemberships;
	size_t			 nnests;	/* group-in-group edges */
	uint32_t		 nest_depth;
	size_t			 ntools;
	size_t			 nquarantined;
};

/*
 * policy_node.c.  A function that allocates returns 0 (or the node),
 * or -1 (or NULL) when memory runs out.
 */

/* Fill err (NULL-safe) with code and a message. */
void	pol_err(struct policy_err *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* policy_check_value() under the index's short name. */
int	pol_check_str(const char *, size_t, int, const char *,
	    struct policy_err *);

/* Unordered vectors of pointers and of group ordinals. */
int	pol_vec_reserve(struct pol_vec *, uint32_t);
int	pol_vec_push(struct pol_vec *, void *);
void	pol_vec_free(struct pol_vec *);
int	pol_ords_push(struct pol_ords *, uint32_t);
int	pol_ords_remove(struct pol_ords *, uint32_t);
int	pol_ords_has(const struct pol_ords *, uint32_t);
void	pol_ords_free(struct pol_ords *);

/* The index's one copy of a directory name (owned by idx->dirs). */
const char *pol_dir_intern(struct policy_index *, const char *);

/* Compile a tool selector ("*", exact, glob, risk:, label:) into sel. */
int	pol_sel_compile(const char *, struct pol_sel *,
	    struct policy_err *);

/*
 * The alias key of a value into buf (POLICY_KEY_MAX); -1 when the value
 * can name nobody.  link/unlink file and unfile all of a principal's
 * aliases.
 */
int	pol_alias_key(char *, size_t, enum policy_alias, const char *);
int	pol_aliases_link(struct policy_index *, struct pol_principal *);
void	pol_aliases_unlink(struct policy_index *, struct pol_principal *);

/*
 * Nodes.  _get finds or creates (as a placeholder) the node for an id
 * or slug; _maybe_free frees a placeholder nothing refers to any more
 * and does nothing otherwise.  The index owns every node.
 */
struct pol_principal *pol_principal_get(struct policy_index *,
	    const char *);
void	pol_principal_clear(struct pol_principal *);
void	pol_principal_maybe_free(struct policy_index *,
	    struct pol_principal *);
void	pol_principal_drop_groups(struct policy_index *,
	    struct pol_principal *);
struct pol_group *pol_group_get(struct policy_index *, const char *);
void	pol_group_maybe_free(struct policy_index *, struct pol_group *);
void	pol_group_sync(struct policy_index *, struct pol_rule *);
struct pol_role *pol_role_get(struct policy_index *, const char *);
void	pol_role_maybe_free(struct policy_index *, struct pol_role *);

/*
 * The groups a principal belongs to through nesting (its direct groups
 * excluded), breadth first: ord[k] is a group ordinal, from[k] the walk
 * index of the group it was reached from, or -1 - i for the direct
 * group p->groups.v[i].  0, or -1 when the chain goes beyond the depth
 * limit or POLICY_NEST_GROUPS_MAX groups (the caller fails closed).
 */
struct pol_walk {
	uint32_t	n;
	uint32_t	ord[POLICY_NEST_GROUPS_MAX];
	int32_t		from[POLICY_NEST_GROUPS_MAX];
};
int	pol_walk_groups(const struct policy_index *,
	    const struct pol_principal *, struct pol_walk *);
struct pol_server *pol_server_get(struct policy_index *, const char *);
void	pol_server_maybe_free(struct policy_index *, struct pol_server *);
void	pol_tool_free(struct pol_tool *);
void	pol_server_drop_tools(struct policy_index *, struct pol_server *);

/*
 * Rules and grants.  _list is the list a rule is filed in; _release
 * unfiles one, drops the references it holds and frees it, with any
 * placeholder left unreferenced.
 */
struct pol_vec *pol_rule_list(struct policy_index *, struct pol_rule *);
void	pol_rule_release(struct policy_index *, struct pol_rule *);
void	pol_grant_release(struct policy_index *, struct pol_grant *);

#endif /* RC_POLICY_LOCAL_H */
