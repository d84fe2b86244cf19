/*
 * policy: in-memory policy index and decision evaluator (see policy.h).
 *
 * Layout, chosen so a decision touches little memory and updates stay
 * local:
 *   - principals by id; aliases (userName, externalId, email, app id)
 *     in one table keyed by a kind byte + value, each entry listing the
 *     principals that claim it, so one email shared by two users is
 *     ambiguous instead of silently answering for the wrong one, and
 *     the directory is filtered at lookup without a second table;
 *   - each principal holds its groups (direct memberships), its own
 *     rules and its grants; each group holds its rules; everyone-rules
 *     are filed per server, plus one list for server "*";
 *   - servers by slug, each with its tools by name.
 * A decision scans the principal's rules, its groups' rules and the
 * everyone lists for the server; rules carry a resolved server pointer
 * and a compiled selector, so the scan is pointer compares plus, for
 * globs and labels, a short string match.  A membership change is one
 * vector edit; a rule change edits one list.  Rules, grants and
 * memberships may name entities that are not loaded (yet): those get a
 * placeholder node, freed again when nothing refers to it.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hashmap.h"
#include "idkey.h"
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
	struct pol_vec	 rules;
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
	void			*subject;	/* principal, group, NULL */
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

/* Best matching rule per effect while scanning. */
struct pol_best {
	const struct pol_rule	*r[3];
	int			 bad;
};

struct policy_index {
	struct hashmap		 principals;
	struct hashmap		 aliases;
	struct hashmap		 groups;
	struct hashmap		 servers;
	struct hashmap		 rules;
	struct hashmap		 grants;
	struct hashmap		 dirs;
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
	size_t			 ntools;
	size_t			 nquarantined;
};

static void	pol_err(struct policy_err *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	pol_check_str(const char *, size_t, int, const char *,
		    struct policy_err *);
static void	pol_unquarantine(struct policy_index *,
		    struct pol_principal *);
static int	pol_vec_push(struct pol_vec *, void *);
static int	pol_vec_reserve(struct pol_vec *, uint32_t);
static int	pol_vec_remove(struct pol_vec *, const void *);
static int	pol_vec_has(const struct pol_vec *, const void *);
static void	pol_vec_free(struct pol_vec *);
static int	pol_ords_push(struct pol_ords *, uint32_t);
static int	pol_ords_remove(struct pol_ords *, uint32_t);
static int	pol_ords_has(const struct pol_ords *, uint32_t);
static void	pol_ords_free(struct pol_ords *);
static void	pol_group_sync(struct policy_index *, struct pol_rule *);
static const char *pol_dir_intern(struct policy_index *, const char *);
static int	pol_glob_match(const char *, const char *);
static int	pol_sel_compile(const char *, struct pol_sel *,
		    struct policy_err *);
static int	pol_sel_match(const struct pol_sel *, const struct pol_tool *);
static int	pol_alias_key(char *, size_t, enum policy_alias,
		    const char *);
static int	pol_alias_add(struct policy_index *, enum policy_alias,
		    const char *, struct pol_principal *);
static void	pol_alias_del(struct policy_index *, enum policy_alias,
		    const char *, struct pol_principal *);
static int	pol_aliases_link(struct policy_index *,
		    struct pol_principal *);
static void	pol_aliases_unlink(struct policy_index *,
		    struct pol_principal *);
static struct pol_principal *pol_principal_get(struct policy_index *,
		    const char *);
static void	pol_principal_clear(struct pol_principal *);
static void	pol_principal_maybe_free(struct policy_index *,
		    struct pol_principal *);
static void	pol_principal_drop_groups(struct policy_index *,
		    struct pol_principal *);
static struct pol_group *pol_group_get(struct policy_index *,
		    const char *);
static void	pol_group_maybe_free(struct policy_index *,
		    struct pol_group *);
static struct pol_server *pol_server_get(struct policy_index *,
		    const char *);
static void	pol_server_maybe_free(struct policy_index *,
		    struct pol_server *);
static void	pol_server_drop_tools(struct policy_index *,
		    struct pol_server *);
static void	pol_tool_free(struct pol_tool *);
static struct pol_vec *pol_rule_list(struct policy_index *,
		    struct pol_rule *);
static void	pol_rule_release(struct policy_index *, struct pol_rule *);
static void	pol_grant_release(struct policy_index *, struct pol_grant *);
static struct pol_principal *pol_resolve(const struct policy_index *,
		    const struct policy_subject *);
static enum policy_reason pol_principal_state(const struct pol_principal *);
static void	pol_result_init(const struct policy_index *,
		    struct policy_result *);
static void	pol_scan(const struct pol_vec *, const struct pol_server *,
		    const struct pol_tool *, const struct pol_principal *,
		    struct pol_best *);
static void	pol_finish(const struct pol_principal *,
		    const struct pol_server *, const struct pol_tool *,
		    int64_t, const struct pol_best *, struct policy_result *);
static int	pol_gather(struct policy_index *, struct pol_principal *);
static void	pol_decide_scratch(struct policy_index *,
		    struct pol_principal *, struct pol_server *,
		    struct pol_tool *, int64_t, struct policy_result *);
static int	pol_cmp_server(const void *, const void *);
static int	pol_cmp_tool(const void *, const void *);
static int	pol_cmp_group(const void *, const void *, void *);

static const char *pol_reason_names[POLICY_R_COUNT] = {
	"allowed_by_rule",
	"allowed_by_grant",
	"principal_unknown",
	"principal_inactive",
	"principal_revoked",
	"owner_inactive",
	"tool_unknown",
	"denied_by_rule",
	"elevation_required",
	"no_matching_rule",
	"internal_error",
	"principal_unavailable",
	"policy_stale",
};

static void
pol_err(struct policy_err *err, int code, const char *fmt, ...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Bounded, free of C0, DEL and C1 controls; empty counts as absent. */
int
policy_check_value(const char *s, size_t max, int optional, const char *what,
    struct policy_err *err)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i;

	if (s == NULL || *s == '\0') {
		if (optional)
			return (0);
		pol_err(err, POLICY_E_INVALID, "%s is required", what);
		return (-1);
	}
	for (i = 0; u[i] != '\0'; i++) {
		if (i >= max) {
			pol_err(err, POLICY_E_INVALID,
			    "%s is longer than %zu bytes", what, max);
			return (-1);
		}
		/* C1 controls are U+0080-U+009F: C2 80 .. C2 9F in UTF-8. */
		if (u[i] < 0x20 || u[i] == 0x7f ||
		    (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)) {
			pol_err(err, POLICY_E_INVALID,
			    "%s contains a control character", what);
			return (-1);
		}
	}
	return (0);
}

/* The index's own checks: the one rule, under a short name. */
static int
pol_check_str(const char *s, size_t max, int optional, const char *what,
    struct policy_err *err)
{
	return (policy_check_value(s, max, optional, what, err));
}

static int
pol_vec_reserve(struct pol_vec *v, uint32_t n)
{
	void		**nv;
	uint32_t	  cap;

	if (n <= v->cap)
		return (0);
	cap = v->cap ? v->cap : 4;
	while (cap < n) {
		if (cap > UINT32_MAX / 2)
			return (-1);
		cap *= 2;
	}
	if ((nv = realloc(v->v, (size_t)cap * sizeof(*nv))) == NULL)
		return (-1);
	v->v = nv;
	v->cap = cap;
	return (0);
}

static int
pol_vec_push(struct pol_vec *v, void *p)
{
	if (v->n == UINT32_MAX || pol_vec_reserve(v, v->n + 1) == -1)
		return (-1);
	v->v[v->n++] = p;
	return (0);
}

/* Order inside every list is irrelevant (decisions take minima). */
static int
pol_vec_remove(struct pol_vec *v, const void *p)
{
	uint32_t	i;

	for (i = 0; i < v->n; i++) {
		if (v->v[i] == p) {
			v->v[i] = v->v[--v->n];
			return (0);
		}
	}
	return (-1);
}

static int
pol_vec_has(const struct pol_vec *v, const void *p)
{
	uint32_t	i;

	for (i = 0; i < v->n; i++) {
		if (v->v[i] == p)
			return (1);
	}
	return (0);
}

static void
pol_vec_free(struct pol_vec *v)
{
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

static int
pol_ords_push(struct pol_ords *o, uint32_t x)
{
	uint32_t	*nv, cap;

	if (o->n == o->cap) {
		if (o->cap > UINT32_MAX / 2)
			return (-1);
		cap = o->cap ? o->cap * 2 : 4;
		if ((nv = realloc(o->v, (size_t)cap * sizeof(*nv))) == NULL)
			return (-1);
		o->v = nv;
		o->cap = cap;
	}
	o->v[o->n++] = x;
	return (0);
}

static int
pol_ords_remove(struct pol_ords *o, uint32_t x)
{
	uint32_t	i;

	for (i = 0; i < o->n; i++) {
		if (o->v[i] == x) {
			o->v[i] = o->v[--o->n];
			return (0);
		}
	}
	return (-1);
}

static int
pol_ords_has(const struct pol_ords *o, uint32_t x)
{
	uint32_t	i;

	for (i = 0; i < o->n; i++) {
		if (o->v[i] == x)
			return (1);
	}
	return (0);
}

static void
pol_ords_free(struct pol_ords *o)
{
	free(o->v);
	o->v = NULL;
	o->n = o->cap = 0;
}

static const char *
pol_dir_intern(struct policy_index *idx, const char *dir)
{
	char		*d;

	if ((d = hashmap_get(&idx->dirs, dir)) != NULL)
		return (d);
	if ((d = strdup(dir)) == NULL)
		return (NULL);
	if (hashmap_put(&idx->dirs, d, d) == -1) {
		free(d);
		return (NULL);
	}
	return (d);
}

/* '*' matches any run, '?' one byte; greedy with one backtrack point. */
static int
pol_glob_match(const char *p, const char *s)
{
	const char	*star, *mark;

	star = mark = NULL;
	while (*s != '\0') {
		if (*p == '*') {
			star = ++p;
			mark = s;
		} else if (*p != '\0' && (*p == '?' || *p == *s)) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++mark;
		} else
			return (0);
	}
	while (*p == '*')
		p++;
	return (*p == '\0');
}

static int
pol_sel_compile(const char *text, struct pol_sel *sel,
    struct policy_err *err)
{
	const char	*val;

	memset(sel, 0, sizeof(*sel));
	if (pol_check_str(text, POLICY_SELECTOR_MAX, 0, "tool selector",
	    err) == -1)
		return (-1);
	val = text;
	if (strcmp(text, "*") == 0) {
		sel->kind = SEL_ANY;
	} else if (strncasecmp(text, "risk:", 5) == 0) {
		sel->kind = SEL_RISK;
		val = text + 5;
	} else if (strncasecmp(text, "label:", 6) == 0) {
		sel->kind = SEL_LABEL;
		val = text + 6;
	} else if (strchr(text, ':') != NULL) {
		sel->kind = SEL_LABEL;
	} else if (strpbrk(text, "*?") != NULL) {
		sel->kind = SEL_GLOB;
	} else {
		sel->kind = SEL_EXACT;
	}
	if (*val == '\0') {
		pol_err(err, POLICY_E_INVALID,
		    "tool selector \"%s\" has no value", text);
		return (-1);
	}
	if ((sel->text = strdup(val)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if (sel->kind == SEL_EXACT)
		sel->hash = hashmap_hash(sel->text);
	return (0);
}

static int
pol_sel_match(const struct pol_sel *sel, const struct pol_tool *t)
{
	uint32_t	i;

	switch (sel->kind) {
	case SEL_ANY:
		return (1);
	case SEL_EXACT:
		return (sel->hash == t->hash &&
		    strcmp(sel->text, t->name) == 0);
	case SEL_GLOB:
		return (pol_glob_match(sel->text, t->name));
	case SEL_RISK:
		return (t->risk != NULL &&
		    strcasecmp(sel->text, t->risk) == 0);
	case SEL_LABEL:
		for (i = 0; i < t->nlabels; i++) {
			if (strcasecmp(sel->text, t->labels[i]) == 0)
				return (1);
		}
		return (0);
	}
	return (0);
}

/*
 * Alias key: one kind byte, then the value, keyed by idkey (NFC + full
 * case folding, the same function that fills the database's key
 * columns) except externalId, which is exact.  -1 when the value is
 * empty, not UTF-8 or too long: it can then name nobody.
 */
static int
pol_alias_key(char *buf, size_t sz, enum policy_alias by, const char *val)
{
	size_t		len;

	len = strlen(val);
	if (len == 0 || sz < 2)
		return (-1);
	switch (by) {
	case POLICY_BY_USERNAME:
		buf[0] = 'u';
		break;
	case POLICY_BY_EXTERNAL_ID:
		if (len + 2 > sz)
			return (-1);
		buf[0] = 'x';
		memcpy(buf + 1, val, len + 1);
		return (0);
	case POLICY_BY_EMAIL:
		buf[0] = 'e';
		break;
	case POLICY_BY_APP_ID:
		buf[0] = 'a';
		break;
	default:
		return (-1);
	}
	return (idkey_buf(val, len, buf + 1, sz - 1) < 0 ? -1 : 0);
}

static int
pol_alias_add(struct policy_index *idx, enum policy_alias by,
    const char *val, struct pol_principal *p)
{
	char			 key[POLICY_KEY_MAX];
	struct pol_alias	*a;
	size_t			 len;

	if (pol_alias_key(key, sizeof(key), by, val) == -1)
		return (-1);
	if ((a = hashmap_get(&idx->aliases, key)) == NULL) {
		len = strlen(key);
		if ((a = calloc(1, sizeof(*a) + len + 1)) == NULL)
			return (-1);
		memcpy(a->key, key, len + 1);
		if (hashmap_put(&idx->aliases, a->key, a) == -1) {
			free(a);
			return (-1);
		}
	}
	if (pol_vec_has(&a->who, p))
		return (0);
	if (pol_vec_push(&a->who, p) == -1) {
		if (a->who.n == 0) {
			hashmap_del(&idx->aliases, a->key);
			free(a);
		}
		return (-1);
	}
	return (0);
}

static void
pol_alias_del(struct policy_index *idx, enum policy_alias by,
    const char *val, struct pol_principal *p)
{
	char			 key[POLICY_KEY_MAX];
	struct pol_alias	*a;

	if (val == NULL || pol_alias_key(key, sizeof(key), by, val) == -1)
		return;
	if ((a = hashmap_get(&idx->aliases, key)) == NULL)
		return;
	(void)pol_vec_remove(&a->who, p);
	if (a->who.n == 0) {
		hashmap_del(&idx->aliases, a->key);
		pol_vec_free(&a->who);
		free(a);
	}
}

static int
pol_aliases_link(struct policy_index *idx, struct pol_principal *p)
{
	uint32_t	i;
	int		rc;

	rc = 0;
	if (p->user_name != NULL &&
	    pol_alias_add(idx, POLICY_BY_USERNAME, p->user_name, p) == -1)
		rc = -1;
	if (p->external_id != NULL &&
	    pol_alias_add(idx, POLICY_BY_EXTERNAL_ID, p->external_id, p) == -1)
		rc = -1;
	if (p->app_id != NULL &&
	    pol_alias_add(idx, POLICY_BY_APP_ID, p->app_id, p) == -1)
		rc = -1;
	for (i = 0; i < p->nemails; i++) {
		if (pol_alias_add(idx, POLICY_BY_EMAIL, p->emails[i], p) == -1)
			rc = -1;
	}
	return (rc);
}

static void
pol_aliases_unlink(struct policy_index *idx, struct pol_principal *p)
{
	uint32_t	i;

	pol_alias_del(idx, POLICY_BY_USERNAME, p->user_name, p);
	pol_alias_del(idx, POLICY_BY_EXTERNAL_ID, p->external_id, p);
	pol_alias_del(idx, POLICY_BY_APP_ID, p->app_id, p);
	for (i = 0; i < p->nemails; i++)
		pol_alias_del(idx, POLICY_BY_EMAIL, p->emails[i], p);
}

/* Find or create (as placeholder) the principal node for id. */
static struct pol_principal *
pol_principal_get(struct policy_index *idx, const char *id)
{
	struct pol_principal	*p;
	size_t			 len;

	if ((p = hashmap_get(&idx->principals, id)) != NULL)
		return (p);
	/* The id lives inside the node: one cache line less per lookup. */
	len = strlen(id);
	if ((p = calloc(1, sizeof(*p) + len + 1)) == NULL)
		return (NULL);
	memcpy(p->idbuf, id, len + 1);
	p->id = p->idbuf;
	if (hashmap_put(&idx->principals, p->id, p) == -1) {
		free(p);
		return (NULL);
	}
	return (p);
}

/* Free the loaded attributes (aliases must be unlinked already). */
static void
pol_principal_clear(struct pol_principal *p)
{
	uint32_t	i;

	free(p->user_name);
	free(p->external_id);
	free(p->app_id);
	for (i = 0; i < p->nemails; i++)
		free(p->emails[i]);
	free(p->emails);
	p->user_name = p->external_id = p->app_id = NULL;
	p->emails = NULL;
	p->nemails = 0;
}

static void
pol_principal_maybe_free(struct policy_index *idx, struct pol_principal *p)
{
	if (p == NULL || p->present || p->quarantined || p->rules.n != 0 ||
	    p->grants.n != 0 || p->nowned != 0 || p->groups.n != 0)
		return;
	hashmap_del(&idx->principals, p->id);
	pol_principal_clear(p);
	pol_ords_free(&p->groups);
	pol_vec_free(&p->rules);
	pol_vec_free(&p->grants);
	free(p);
}

static void
pol_principal_drop_groups(struct policy_index *idx, struct pol_principal *p)
{
	struct pol_group	*g;
	uint32_t		 i, n;

	n = p->groups.n;
	p->groups.n = 0;
	for (i = 0; i < n; i++) {
		g = idx->gtab[p->groups.v[i]];
		g->nmembers--;
		idx->nmemberships--;
		pol_group_maybe_free(idx, g);
	}
}

static struct pol_group *
pol_group_get(struct policy_index *idx, const char *id)
{
	struct pol_group	*g;

	struct pol_group	**gtab;
	uint32_t		 *gnrules, cap;

	if ((g = hashmap_get(&idx->groups, id)) != NULL)
		return (g);
	if (idx->gfree.n == 0 && idx->gused == idx->gcap) {
		if (idx->gcap > UINT32_MAX / 2)
			return (NULL);
		cap = idx->gcap ? idx->gcap * 2 : 64;
		if ((gtab = realloc(idx->gtab, cap * sizeof(*gtab))) == NULL)
			return (NULL);
		idx->gtab = gtab;
		if ((gnrules = realloc(idx->gnrules,
		    cap * sizeof(*gnrules))) == NULL)
			return (NULL);
		idx->gnrules = gnrules;
		idx->gcap = cap;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return (NULL);
	if ((g->id = strdup(id)) == NULL) {
		free(g);
		return (NULL);
	}
	if (hashmap_put(&idx->groups, g->id, g) == -1) {
		free(g->id);
		free(g);
		return (NULL);
	}
	g->ord = idx->gfree.n > 0 ? idx->gfree.v[--idx->gfree.n] :
	    idx->gused++;
	idx->gtab[g->ord] = g;
	idx->gnrules[g->ord] = 0;
	return (g);
}

static void
pol_group_maybe_free(struct policy_index *idx, struct pol_group *g)
{
	if (g == NULL || g->present || g->nmembers != 0 || g->rules.n != 0)
		return;
	hashmap_del(&idx->groups, g->id);
	idx->gtab[g->ord] = NULL;
	idx->gnrules[g->ord] = 0;
	/* An ordinal that cannot be recycled is merely never reused. */
	(void)pol_ords_push(&idx->gfree, g->ord);
	pol_vec_free(&g->rules);
	free(g->id);
	free(g);
}

/* Mirror a group's rule count after its rule list changed. */
static void
pol_group_sync(struct policy_index *idx, struct pol_rule *r)
{
	struct pol_group	*g;

	if (r->subject_kind == POLICY_SUBJECT_GROUP && r->subject != NULL) {
		g = r->subject;
		idx->gnrules[g->ord] = g->rules.n;
	}
}

static struct pol_server *
pol_server_get(struct policy_index *idx, const char *slug)
{
	struct pol_server	*s;

	if ((s = hashmap_get(&idx->servers, slug)) != NULL)
		return (s);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	if ((s->slug = strdup(slug)) == NULL) {
		free(s);
		return (NULL);
	}
	hashmap_init(&s->tools);
	if (hashmap_put(&idx->servers, s->slug, s) == -1) {
		free(s->slug);
		free(s);
		return (NULL);
	}
	return (s);
}

static void
pol_server_maybe_free(struct policy_index *idx, struct pol_server *s)
{
	if (s == NULL || s->present || s->nrefs != 0 || s->tools.count != 0 ||
	    s->everyone.n != 0)
		return;
	hashmap_del(&idx->servers, s->slug);
	hashmap_cleanup(&s->tools);
	pol_vec_free(&s->everyone);
	free(s->slug);
	free(s);
}

static void
pol_tool_free(struct pol_tool *t)
{
	uint32_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nlabels; i++)
		free(t->labels[i]);
	free(t->labels);
	free(t->risk);
	free(t);
}

static void
pol_server_drop_tools(struct policy_index *idx, struct pol_server *s)
{
	size_t		 it;
	void		*val;

	it = 0;
	while (hashmap_next(&s->tools, &it, NULL, &val)) {
		pol_tool_free(val);
		idx->ntools--;
	}
	hashmap_cleanup(&s->tools);
}

/* The list a rule is filed in, chosen by its subject. */
static struct pol_vec *
pol_rule_list(struct policy_index *idx, struct pol_rule *r)
{
	switch (r->subject_kind) {
	case POLICY_SUBJECT_GROUP:
		return (&((struct pol_group *)r->subject)->rules);
	case POLICY_SUBJECT_USER:
	case POLICY_SUBJECT_SP:
		return (&((struct pol_principal *)r->subject)->rules);
	default:
		if (r->server != NULL)
			return (&r->server->everyone);
		return (&idx->everyone_any);
	}
}

/*
 * Unfile a rule (if filed) and drop the references it holds, then free
 * it.  Placeholders left without references go too.
 */
static void
pol_rule_release(struct policy_index *idx, struct pol_rule *r)
{
	if (r->subject != NULL || r->subject_kind == POLICY_SUBJECT_EVERYONE)
		(void)pol_vec_remove(pol_rule_list(idx, r), r);
	pol_group_sync(idx, r);
	if (r->server != NULL) {
		r->server->nrefs--;
		pol_server_maybe_free(idx, r->server);
	}
	if (r->subject_kind == POLICY_SUBJECT_GROUP)
		pol_group_maybe_free(idx, r->subject);
	else if (r->subject_kind != POLICY_SUBJECT_EVERYONE)
		pol_principal_maybe_free(idx, r->subject);
	free(r->sel.text);
	free(r->id);
	free(r);
}

static void
pol_grant_release(struct policy_index *idx, struct pol_grant *g)
{
	if (g->principal != NULL) {
		(void)pol_vec_remove(&g->principal->grants, g);
		pol_principal_maybe_free(idx, g->principal);
	}
	if (g->server != NULL) {
		g->server->nrefs--;
		pol_server_maybe_free(idx, g->server);
	}
	free(g->sel.text);
	free(g->id);
	free(g);
}

struct policy_index *
policy_new(void)
{
	struct policy_index	*idx;

	if ((idx = calloc(1, sizeof(*idx))) == NULL)
		return (NULL);
	hashmap_init(&idx->principals);
	hashmap_init(&idx->aliases);
	hashmap_init(&idx->groups);
	hashmap_init(&idx->servers);
	hashmap_init(&idx->rules);
	hashmap_init(&idx->grants);
	hashmap_init(&idx->dirs);
	return (idx);
}

void
policy_free(struct policy_index *idx)
{
	struct pol_principal	*p;
	struct pol_group	*g;
	struct pol_server	*s;
	struct pol_rule		*r;
	struct pol_grant	*gr;
	struct pol_alias	*a;
	size_t			 it;
	void			*val;

	if (idx == NULL)
		return;
	it = 0;
	while (hashmap_next(&idx->rules, &it, NULL, &val)) {
		r = val;
		free(r->sel.text);
		free(r->id);
		free(r);
	}
	it = 0;
	while (hashmap_next(&idx->grants, &it, NULL, &val)) {
		gr = val;
		free(gr->sel.text);
		free(gr->id);
		free(gr);
	}
	it = 0;
	while (hashmap_next(&idx->aliases, &it, NULL, &val)) {
		a = val;
		pol_vec_free(&a->who);
		free(a);
	}
	it = 0;
	while (hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		pol_principal_clear(p);
		pol_ords_free(&p->groups);
		pol_vec_free(&p->rules);
		pol_vec_free(&p->grants);
		free(p->why);
		free(p);
	}
	it = 0;
	while (hashmap_next(&idx->groups, &it, NULL, &val)) {
		g = val;
		pol_vec_free(&g->rules);
		free(g->id);
		free(g);
	}
	it = 0;
	while (hashmap_next(&idx->servers, &it, NULL, &val)) {
		s = val;
		pol_server_drop_tools(idx, s);
		pol_vec_free(&s->everyone);
		free(s->slug);
		free(s);
	}
	it = 0;
	while (hashmap_next(&idx->dirs, &it, NULL, &val))
		free(val);
	hashmap_cleanup(&idx->principals);
	hashmap_cleanup(&idx->aliases);
	hashmap_cleanup(&idx->groups);
	hashmap_cleanup(&idx->servers);
	hashmap_cleanup(&idx->rules);
	hashmap_cleanup(&idx->grants);
	hashmap_cleanup(&idx->dirs);
	pol_vec_free(&idx->everyone_any);
	pol_vec_free(&idx->scratch);
	pol_ords_free(&idx->gfree);
	free(idx->gtab);
	free(idx->gnrules);
	free(idx);
}

const char *
policy_reason_str(enum policy_reason reason)
{
	if ((int)reason < 0 || reason >= POLICY_R_COUNT)
		return ("internal_error");
	return (pol_reason_names[reason]);
}

int
policy_reserve(struct policy_index *idx, size_t principals, size_t groups)
{
	if (hashmap_reserve(&idx->principals, principals) == -1 ||
	    hashmap_reserve(&idx->aliases, principals * 3) == -1 ||
	    hashmap_reserve(&idx->groups, groups) == -1)
		return (-1);
	return (0);
}

void
policy_set_version(struct policy_index *idx, uint64_t v)
{
	idx->version = v;
}

uint64_t
policy_version(const struct policy_index *idx)
{
	return (idx->version);
}

int
policy_user_upsert(struct policy_index *idx, const struct policy_user *u,
    struct policy_err *err)
{
	struct pol_principal	*p;
	const char		*dir;
	char			*name, *ext, **emails;
	size_t			 i, n;
	int			 rc;

	if (pol_check_str(u->id, POLICY_ID_MAX, 0, "user id", err) == -1 ||
	    pol_check_str(u->directory, POLICY_ID_MAX, 0, "directory",
	    err) == -1 ||
	    pol_check_str(u->user_name, POLICY_NAME_MAX, 0, "userName",
	    err) == -1 ||
	    pol_check_str(u->external_id, POLICY_NAME_MAX, 1, "externalId",
	    err) == -1)
		return (-1);
	if (u->nemails > POLICY_LIST_MAX || (u->nemails && !u->emails)) {
		pol_err(err, POLICY_E_INVALID, "bad email list");
		return (-1);
	}
	for (i = 0; i < u->nemails; i++) {
		if (pol_check_str(u->emails[i], POLICY_NAME_MAX, 0, "email",
		    err) == -1)
			return (-1);
	}
	if ((p = hashmap_get(&idx->principals, u->id)) != NULL &&
	    p->present && p->kind != POLICY_PRINCIPAL_USER) {
		pol_err(err, POLICY_E_CONFLICT,
		    "id is a service principal's");
		return (-1);
	}

	/* Copy everything first so a failure leaves the old state. */
	name = strdup(u->user_name);
	ext = (u->external_id && *u->external_id) ? strdup(u->external_id) :
	    NULL;
	emails = u->nemails ? calloc(u->nemails, sizeof(*emails)) : NULL;
	n = 0;
	if (emails != NULL) {
		for (n = 0; n < u->nemails; n++) {
			if ((emails[n] = strdup(u->emails[n])) == NULL)
				break;
		}
	}
	dir = pol_dir_intern(idx, u->directory);
	if (dir == NULL || name == NULL ||
	    (u->external_id && *u->external_id && ext == NULL) ||
	    (u->nemails && (emails == NULL || n != u->nemails)) ||
	    (p == NULL && (p = pol_principal_get(idx, u->id)) == NULL)) {
		for (i = 0; i < n; i++)
			free(emails[i]);
		free(emails);
		free(name);
		free(ext);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}

	pol_aliases_unlink(idx, p);
	pol_principal_clear(p);
	if (p->owner != NULL) {
		p->owner->nowned--;
		pol_principal_maybe_free(idx, p->owner);
		p->owner = NULL;
	}
	p->kind = POLICY_PRINCIPAL_USER;
	p->dir = dir;
	p->user_name = name;
	p->external_id = ext;
	p->emails = emails;
	p->nemails = (uint32_t)n;
	p->active = u->active != 0;
	p->deleted = u->deleted != 0;
	p->present = 1;
	rc = pol_aliases_link(idx, p);
	if (rc == -1)
		pol_err(err, POLICY_E_NOMEM, "out of memory (aliases)");
	else if (p->quarantined == 1)
		pol_unquarantine(idx, p);
	return (rc);
}

int
policy_sp_upsert(struct policy_index *idx, const struct policy_sp *sp,
    struct policy_err *err)
{
	struct pol_principal	*p, *owner;
	const char		*dir;
	char			*app;

	if (pol_check_str(sp->id, POLICY_ID_MAX, 0, "service principal id",
	    err) == -1 ||
	    pol_check_str(sp->directory, POLICY_ID_MAX, 0, "directory",
	    err) == -1 ||
	    pol_check_str(sp->app_id, POLICY_NAME_MAX, 1, "app id",
	    err) == -1 ||
	    pol_check_str(sp->owner_id, POLICY_ID_MAX, 1, "owner id",
	    err) == -1)
		return (-1);
	if (sp->owner_id != NULL && strcmp(sp->owner_id, sp->id) == 0) {
		pol_err(err, POLICY_E_INVALID,
		    "a service principal cannot own itself");
		return (-1);
	}
	if ((p = hashmap_get(&idx->principals, sp->id)) != NULL &&
	    p->present && p->kind != POLICY_PRINCIPAL_SP) {
		pol_err(err, POLICY_E_CONFLICT, "id is a user's");
		return (-1);
	}
	app = (sp->app_id && *sp->app_id) ? strdup(sp->app_id) : NULL;
	dir = pol_dir_intern(idx, sp->directory);
	owner = NULL;
	if (dir == NULL || (sp->app_id && *sp->app_id && app == NULL) ||
	    (p == NULL && (p = pol_principal_get(idx, sp->id)) == NULL) ||
	    (sp->owner_id && *sp->owner_id &&
	    (owner = pol_principal_get(idx, sp->owner_id)) == NULL)) {
		free(app);
		if (p != NULL)
			pol_principal_maybe_free(idx, p);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}

	/* Take the new owner reference before dropping the old one. */
	if (owner != NULL)
		owner->nowned++;
	if (p->owner != NULL) {
		p->owner->nowned--;
		pol_principal_maybe_free(idx, p->owner);
	}
	p->owner = owner;
	pol_aliases_unlink(idx, p);
	pol_principal_clear(p);
	p->kind = POLICY_PRINCIPAL_SP;
	p->dir = dir;
	p->app_id = app;
	p->active = sp->active != 0;
	p->deleted = 0;
	p->present = 1;
	if (pol_aliases_link(idx, p) == -1) {
		pol_err(err, POLICY_E_NOMEM, "out of memory (aliases)");
		return (-1);
	}
	if (p->quarantined == 1)
		pol_unquarantine(idx, p);
	return (0);
}

int
policy_principal_remove(struct policy_index *idx, const char *id)
{
	struct pol_principal	*p;

	if (id == NULL || (p = hashmap_get(&idx->principals, id)) == NULL ||
	    (!p->present && !p->quarantined))
		return (-1);
	pol_aliases_unlink(idx, p);
	pol_principal_clear(p);
	pol_principal_drop_groups(idx, p);
	if (p->owner != NULL) {
		p->owner->nowned--;
		pol_principal_maybe_free(idx, p->owner);
		p->owner = NULL;
	}
	p->present = 0;
	p->kind = POLICY_PRINCIPAL_NONE;
	p->active = p->deleted = 0;
	if (p->quarantined == 1)
		pol_unquarantine(idx, p);
	pol_principal_maybe_free(idx, p);
	return (0);
}

int
policy_principal_set_revoked(struct policy_index *idx, const char *id,
    int revoked)
{
	struct pol_principal	*p;

	if (id == NULL || (p = hashmap_get(&idx->principals, id)) == NULL ||
	    !p->present)
		return (-1);
	p->revoked = revoked != 0;
	return (0);
}

int
policy_principal_set_epoch(struct policy_index *idx, const char *id,
    uint64_t epoch)
{
	struct pol_principal	*p;

	if (id == NULL || (p = hashmap_get(&idx->principals, id)) == NULL ||
	    !p->present)
		return (-1);
	p->epoch = epoch;
	return (0);
}

int
policy_group_upsert(struct policy_index *idx, const char *id,
    const char *directory, struct policy_err *err)
{
	struct pol_group	*g;
	const char		*dir;

	if (pol_check_str(id, POLICY_ID_MAX, 0, "group id", err) == -1 ||
	    pol_check_str(directory, POLICY_ID_MAX, 0, "directory",
	    err) == -1)
		return (-1);
	if ((dir = pol_dir_intern(idx, directory)) == NULL ||
	    (g = pol_group_get(idx, id)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	g->dir = dir;
	g->present = 1;
	return (0);
}

int
policy_group_remove(struct policy_index *idx, const char *id)
{
	struct pol_group	*g;
	struct pol_principal	*p;
	struct pol_vec		 orphans;
	size_t			 it;
	uint32_t		 i;
	void			*val;

	if (id == NULL || (g = hashmap_get(&idx->groups, id)) == NULL ||
	    !g->present)
		return (-1);

	/*
	 * Rare (group deleted in Entra): a scan beats keeping a reverse
	 * index of 3M memberships.  Placeholder members emptied by the scan
	 * are freed after it, since freeing reshapes the table.
	 */
	memset(&orphans, 0, sizeof(orphans));
	it = 0;
	while (g->nmembers > 0 &&
	    hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		if (pol_ords_remove(&p->groups, g->ord) == 0) {
			g->nmembers--;
			idx->nmemberships--;
			if (!p->present)
				(void)pol_vec_push(&orphans, p);
		}
	}
	for (i = 0; i < orphans.n; i++)
		pol_principal_maybe_free(idx, orphans.v[i]);
	pol_vec_free(&orphans);
	g->present = 0;
	g->dir = NULL;
	pol_group_maybe_free(idx, g);
	return (0);
}

int
policy_membership_add(struct policy_index *idx, const char *principal_id,
    const char *group_id, struct policy_err *err)
{
	struct pol_principal	*p;
	struct pol_group	*g;

	if (pol_check_str(principal_id, POLICY_ID_MAX, 0, "member id",
	    err) == -1 ||
	    pol_check_str(group_id, POLICY_ID_MAX, 0, "group id", err) == -1)
		return (-1);
	if ((p = pol_principal_get(idx, principal_id)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if ((g = pol_group_get(idx, group_id)) == NULL) {
		pol_principal_maybe_free(idx, p);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if (pol_ords_has(&p->groups, g->ord))
		return (0);
	if (pol_ords_push(&p->groups, g->ord) == -1) {
		pol_principal_maybe_free(idx, p);
		pol_group_maybe_free(idx, g);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	g->nmembers++;
	idx->nmemberships++;
	return (0);
}

int
policy_membership_remove(struct policy_index *idx, const char *principal_id,
    const char *group_id)
{
	struct pol_principal	*p;
	struct pol_group	*g;

	if (principal_id == NULL || group_id == NULL ||
	    (p = hashmap_get(&idx->principals, principal_id)) == NULL ||
	    (g = hashmap_get(&idx->groups, group_id)) == NULL ||
	    pol_ords_remove(&p->groups, g->ord) == -1)
		return (-1);
	g->nmembers--;
	idx->nmemberships--;
	pol_principal_maybe_free(idx, p);
	pol_group_maybe_free(idx, g);
	return (0);
}

int
policy_server_upsert(struct policy_index *idx, const char *slug,
    struct policy_err *err)
{
	struct pol_server	*s;

	if (pol_check_str(slug, POLICY_ID_MAX, 0, "server slug", err) == -1)
		return (-1);
	if (strcmp(slug, "*") == 0) {
		pol_err(err, POLICY_E_INVALID, "\"*\" is not a server slug");
		return (-1);
	}
	if ((s = pol_server_get(idx, slug)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	s->present = 1;
	return (0);
}

int
policy_server_remove(struct policy_index *idx, const char *slug)
{
	struct pol_server	*s;

	if (slug == NULL || (s = hashmap_get(&idx->servers, slug)) == NULL ||
	    !s->present)
		return (-1);
	pol_server_drop_tools(idx, s);
	s->present = 0;
	pol_server_maybe_free(idx, s);
	return (0);
}

int
policy_tool_upsert(struct policy_index *idx, const struct policy_tool *td,
    struct policy_err *err)
{
	struct pol_server	*s;
	struct pol_tool		*t, *old;
	size_t			 i, len;

	if (pol_check_str(td->server, POLICY_ID_MAX, 0, "server slug",
	    err) == -1 ||
	    pol_check_str(td->name, POLICY_NAME_MAX, 0, "tool name",
	    err) == -1 ||
	    pol_check_str(td->risk, POLICY_ID_MAX, 1, "risk", err) == -1)
		return (-1);
	if (td->nlabels > POLICY_LIST_MAX || (td->nlabels && !td->labels)) {
		pol_err(err, POLICY_E_INVALID, "bad label list");
		return (-1);
	}
	for (i = 0; i < td->nlabels; i++) {
		if (pol_check_str(td->labels[i], POLICY_ID_MAX, 0, "label",
		    err) == -1)
			return (-1);
	}
	if ((s = hashmap_get(&idx->servers, td->server)) == NULL ||
	    !s->present) {
		pol_err(err, POLICY_E_NOTFOUND, "unknown server");
		return (-1);
	}
	len = strlen(td->name);
	if (hashmap_reserve(&s->tools, s->tools.count + 1) == -1 ||
	    (t = calloc(1, sizeof(*t) + len + 1)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	t->server = s;
	memcpy(t->namebuf, td->name, len + 1);
	t->name = t->namebuf;
	t->risk = (td->risk && *td->risk) ? strdup(td->risk) : NULL;
	if (td->nlabels)
		t->labels = calloc(td->nlabels, sizeof(*t->labels));
	if ((td->risk && *td->risk && t->risk == NULL) ||
	    (td->nlabels && t->labels == NULL)) {
		pol_tool_free(t);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	for (i = 0; i < td->nlabels; i++) {
		if ((t->labels[i] = strdup(td->labels[i])) == NULL) {
			pol_tool_free(t);
			pol_err(err, POLICY_E_NOMEM, "out of memory");
			return (-1);
		}
		t->nlabels++;
	}
	t->hash = hashmap_hash(t->name);
	old = hashmap_get(&s->tools, t->name);
	if (hashmap_put(&s->tools, t->name, t) == -1) {
		pol_tool_free(t);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if (old != NULL)
		pol_tool_free(old);
	else
		idx->ntools++;
	return (0);
}

int
policy_tool_remove(struct policy_index *idx, const char *server,
    const char *name)
{
	struct pol_server	*s;
	struct pol_tool		*t;

	if (server == NULL || name == NULL ||
	    (s = hashmap_get(&idx->servers, server)) == NULL ||
	    (t = hashmap_del(&s->tools, name)) == NULL)
		return (-1);
	pol_tool_free(t);
	idx->ntools--;
	return (0);
}

int
policy_rule_upsert(struct policy_index *idx, const struct policy_rule *rd,
    struct policy_err *err)
{
	struct pol_rule		*r, *old;

	if (pol_check_str(rd->id, POLICY_ID_MAX, 0, "rule id", err) == -1 ||
	    pol_check_str(rd->server, POLICY_ID_MAX, 0, "server", err) == -1)
		return (-1);
	if ((int)rd->effect < POLICY_EFFECT_DENY ||
	    rd->effect > POLICY_EFFECT_ELEVATE) {
		pol_err(err, POLICY_E_INVALID, "unknown effect");
		return (-1);
	}
	if ((int)rd->subject_kind < POLICY_SUBJECT_GROUP ||
	    rd->subject_kind > POLICY_SUBJECT_EVERYONE) {
		pol_err(err, POLICY_E_INVALID, "unknown subject kind");
		return (-1);
	}
	if (rd->subject_kind != POLICY_SUBJECT_EVERYONE &&
	    pol_check_str(rd->subject_id, POLICY_ID_MAX, 0, "subject id",
	    err) == -1)
		return (-1);
	if (rd->max_grant_ms < 0) {
		pol_err(err, POLICY_E_INVALID, "negative max grant duration");
		return (-1);
	}
	if (hashmap_reserve(&idx->rules, idx->rules.count + 1) == -1 ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	r->subject_kind = rd->subject_kind;
	r->effect = rd->effect;
	r->max_grant_ms = rd->max_grant_ms;
	if (rd->directory != NULL &&
	    (r->dir = pol_dir_intern(idx, rd->directory)) == NULL) {
		free(r);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if (pol_sel_compile(rd->tool, &r->sel, err) == -1) {
		free(r);
		return (-1);
	}
	if ((r->id = strdup(rd->id)) == NULL)
		goto nomem;
	if (strcmp(rd->server, "*") != 0) {
		if ((r->server = pol_server_get(idx, rd->server)) == NULL)
			goto nomem;
		r->server->nrefs++;
	}
	switch (rd->subject_kind) {
	case POLICY_SUBJECT_GROUP:
		r->subject = pol_group_get(idx, rd->subject_id);
		break;
	case POLICY_SUBJECT_USER:
	case POLICY_SUBJECT_SP:
		r->subject = pol_principal_get(idx, rd->subject_id);
		break;
	default:
		break;
	}
	if (rd->subject_kind != POLICY_SUBJECT_EVERYONE && r->subject == NULL)
		goto nomem;
	if (pol_vec_push(pol_rule_list(idx, r), r) == -1)
		goto nomem;
	pol_group_sync(idx, r);

	/*
	 * The new rule is filed and holds its references, so releasing the
	 * old one cannot free a node both use.  Reserved above: put cannot
	 * fail, and it must drop the old key before the old rule is freed.
	 */
	old = hashmap_get(&idx->rules, rd->id);
	(void)hashmap_put(&idx->rules, r->id, r);
	if (old != NULL)
		pol_rule_release(idx, old);
	return (0);

nomem:
	/* Not filed yet: drop only the references taken. */
	if (r->subject != NULL) {
		if (r->subject_kind == POLICY_SUBJECT_GROUP)
			pol_group_maybe_free(idx, r->subject);
		else
			pol_principal_maybe_free(idx, r->subject);
		r->subject = NULL;
	}
	if (r->server != NULL) {
		r->server->nrefs--;
		pol_server_maybe_free(idx, r->server);
	}
	free(r->sel.text);
	free(r->id);
	free(r);
	pol_err(err, POLICY_E_NOMEM, "out of memory");
	return (-1);
}

int
policy_rule_remove(struct policy_index *idx, const char *id)
{
	struct pol_rule		*r;

	if (id == NULL || (r = hashmap_del(&idx->rules, id)) == NULL)
		return (-1);
	pol_rule_release(idx, r);
	return (0);
}

int
policy_grant_upsert(struct policy_index *idx, const struct policy_grant *gd,
    struct policy_err *err)
{
	struct pol_grant	*g, *old;

	if (pol_check_str(gd->id, POLICY_ID_MAX, 0, "grant id", err) == -1 ||
	    pol_check_str(gd->principal_id, POLICY_ID_MAX, 0,
	    "principal id", err) == -1 ||
	    pol_check_str(gd->server, POLICY_ID_MAX, 0, "server", err) == -1)
		return (-1);
	if (gd->expires_at <= gd->not_before) {
		pol_err(err, POLICY_E_INVALID,
		    "grant expires before it starts");
		return (-1);
	}
	if (hashmap_reserve(&idx->grants, idx->grants.count + 1) == -1 ||
	    (g = calloc(1, sizeof(*g))) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	g->not_before = gd->not_before;
	g->expires_at = gd->expires_at;
	g->approved = gd->approved != 0;
	g->revoked = gd->revoked != 0;
	if (pol_sel_compile(gd->tool, &g->sel, err) == -1) {
		free(g);
		return (-1);
	}
	if ((g->id = strdup(gd->id)) == NULL)
		goto nomem;
	if (strcmp(gd->server, "*") != 0) {
		if ((g->server = pol_server_get(idx, gd->server)) == NULL)
			goto nomem;
		g->server->nrefs++;
	}
	if ((g->principal = pol_principal_get(idx, gd->principal_id)) == NULL)
		goto nomem;
	if (pol_vec_push(&g->principal->grants, g) == -1)
		goto nomem;
	old = hashmap_get(&idx->grants, gd->id);
	(void)hashmap_put(&idx->grants, g->id, g);
	if (old != NULL)
		pol_grant_release(idx, old);
	return (0);

nomem:
	if (g->principal != NULL)
		pol_principal_maybe_free(idx, g->principal);
	if (g->server != NULL) {
		g->server->nrefs--;
		pol_server_maybe_free(idx, g->server);
	}
	free(g->sel.text);
	free(g->id);
	free(g);
	pol_err(err, POLICY_E_NOMEM, "out of memory");
	return (-1);
}

int
policy_grant_remove(struct policy_index *idx, const char *id)
{
	struct pol_grant	*g;

	if (id == NULL || (g = hashmap_del(&idx->grants, id)) == NULL)
		return (-1);
	pol_grant_release(idx, g);
	return (0);
}

/*
 * The loaded principal a subject names, or NULL.  An alias claimed by
 * several principals resolves only if exactly one of them (within the
 * directory, if given) is live; else it is ambiguous and we refuse.
 */
static struct pol_principal *
pol_resolve(const struct policy_index *idx,
    const struct policy_subject *subj)
{
	char			 key[POLICY_KEY_MAX];
	struct pol_principal	*p, *live, *any;
	struct pol_alias	*a;
	const char		*dir;
	uint32_t		 i, nlive, nany;

	if (subj == NULL || subj->value == NULL || *subj->value == '\0')
		return (NULL);
	dir = NULL;
	if (subj->directory != NULL &&
	    (dir = hashmap_get(&idx->dirs, subj->directory)) == NULL)
		return (NULL);
	if (subj->by == POLICY_BY_ID) {
		p = hashmap_get(&idx->principals, subj->value);
		if (p == NULL || (!p->present && !p->quarantined) ||
		    (dir && p->dir != dir))
			return (NULL);
		return (p);
	}
	if (pol_alias_key(key, sizeof(key), subj->by, subj->value) == -1 ||
	    (a = hashmap_get(&idx->aliases, key)) == NULL)
		return (NULL);
	live = any = NULL;
	nlive = nany = 0;
	for (i = 0; i < a->who.n; i++) {
		p = a->who.v[i];
		if ((!p->present && !p->quarantined) ||
		    (dir && p->dir != dir))
			continue;
		any = p;
		nany++;
		if (p->active && !p->deleted && !p->quarantined) {
			live = p;
			nlive++;
		}
	}
	if (nlive == 1)
		return (live);
	if (nlive == 0 && nany == 1)
		return (any);
	return (NULL);
}

/* ALLOWED_BY_RULE when the principal may act at all, else why not. */
static enum policy_reason
pol_principal_state(const struct pol_principal *p)
{
	const struct pol_principal	*o;

	if (p != NULL && p->quarantined)
		return (POLICY_R_PRINCIPAL_UNAVAILABLE);
	if (p == NULL || !p->present)
		return (POLICY_R_PRINCIPAL_UNKNOWN);
	if (p->deleted || !p->active)
		return (POLICY_R_PRINCIPAL_INACTIVE);
	if (p->revoked)
		return (POLICY_R_PRINCIPAL_REVOKED);
	if (p->kind == POLICY_PRINCIPAL_SP && (o = p->owner) != NULL) {
		/* Nothing is known of a quarantined owner: deny. */
		if (o->quarantined)
			return (POLICY_R_PRINCIPAL_UNAVAILABLE);
		/* An owner under the kill switch suspends its agents too. */
		if (!o->present || o->deleted || !o->active || o->revoked)
			return (POLICY_R_OWNER_INACTIVE);
		if (o->kind != POLICY_PRINCIPAL_USER)
			return (POLICY_R_INTERNAL_ERROR);
	}
	if (p->kind != POLICY_PRINCIPAL_USER && p->kind != POLICY_PRINCIPAL_SP)
		return (POLICY_R_INTERNAL_ERROR);
	return (POLICY_R_ALLOWED_BY_RULE);
}

static void
pol_result_init(const struct policy_index *idx, struct policy_result *res)
{
	res->decision = POLICY_DENY;
	res->reason = POLICY_R_INTERNAL_ERROR;
	res->rule_id = NULL;
	res->group_id = NULL;
	res->grant_id = NULL;
	res->max_grant_ms = 0;
	res->policy_version = idx->version;
	res->subject_epoch = 0;
	res->valid_until_ms = 0;
}

static void
pol_scan(const struct pol_vec *v, const struct pol_server *s,
    const struct pol_tool *t, const struct pol_principal *p,
    struct pol_best *b)
{
	const struct pol_rule	*r, *cur;
	uint32_t		 i;
	int			 pkind;

	pkind = p->kind;
	for (i = 0; i < v->n; i++) {
		r = v->v[i];
		if (r->server != NULL && r->server != s)
			continue;
		/* A rule (everyone's above all) holds in its own directory. */
		if (r->dir != NULL && r->dir != p->dir)
			continue;
		if (!pol_sel_match(&r->sel, t))
			continue;
		if ((r->subject_kind == POLICY_SUBJECT_USER &&
		    pkind != POLICY_PRINCIPAL_USER) ||
		    (r->subject_kind == POLICY_SUBJECT_SP &&
		    pkind != POLICY_PRINCIPAL_SP) ||
		    r->effect < POLICY_EFFECT_DENY ||
		    r->effect > POLICY_EFFECT_ELEVATE) {
			b->bad = 1;
			continue;
		}
		cur = b->r[r->effect];
		if (cur == NULL || strcmp(r->id, cur->id) < 0)
			b->r[r->effect] = r;
	}
}

static void
pol_finish(const struct pol_principal *p, const struct pol_server *s,
    const struct pol_tool *t, int64_t now, const struct pol_best *b,
    struct policy_result *res)
{
	const struct pol_rule	*r;
	const struct pol_grant	*g, *best;
	int64_t			 starts;
	uint32_t		 i;

	if (b->bad) {
		res->reason = POLICY_R_INTERNAL_ERROR;
		return;
	}
	if ((r = b->r[POLICY_EFFECT_DENY]) != NULL) {
		res->reason = POLICY_R_DENIED_BY_RULE;
	} else if ((r = b->r[POLICY_EFFECT_ALLOW]) != NULL) {
		res->decision = POLICY_ALLOW;
		res->reason = POLICY_R_ALLOWED_BY_RULE;
	} else if ((r = b->r[POLICY_EFFECT_ELEVATE]) != NULL) {
		res->reason = POLICY_R_ELEVATION_REQUIRED;
		res->max_grant_ms = r->max_grant_ms;
		best = NULL;
		starts = 0;
		for (i = 0; i < p->grants.n; i++) {
			g = p->grants.v[i];
			if (!g->approved || g->revoked ||
			    now >= g->expires_at)
				continue;
			if ((g->server != NULL && g->server != s) ||
			    !pol_sel_match(&g->sel, t))
				continue;
			if (now < g->not_before) {
				/* Not yet: but the answer changes then. */
				starts = policy_valid_until_min(starts,
				    g->not_before);
				continue;
			}
			if (best == NULL || strcmp(g->id, best->id) < 0)
				best = g;
		}
		if (best != NULL) {
			res->decision = POLICY_ALLOW;
			res->reason = POLICY_R_ALLOWED_BY_GRANT;
			res->grant_id = best->id;
			res->valid_until_ms = best->expires_at;
		} else {
			res->valid_until_ms = starts;
		}
	} else {
		res->reason = POLICY_R_NO_MATCHING_RULE;
		return;
	}
	res->rule_id = r->id;
	if (r->subject_kind == POLICY_SUBJECT_GROUP)
		res->group_id = ((const struct pol_group *)r->subject)->id;
}

enum policy_decision
policy_evaluate(const struct policy_index *idx,
    const struct policy_subject *subj,
    const char *server, const char *tool, int64_t now_ms,
    struct policy_result *res)
{
	struct pol_principal	*p;
	struct pol_server	*s;
	struct pol_tool		*t;
	struct pol_group	*g;
	struct pol_best		 b;
	uint32_t		 i;

	pol_result_init(idx, res);
	p = pol_resolve(idx, subj);
	if (p != NULL)
		res->subject_epoch = p->epoch;
	if ((res->reason = pol_principal_state(p)) != POLICY_R_ALLOWED_BY_RULE)
		return (res->decision);
	if (server == NULL || tool == NULL ||
	    (s = hashmap_get(&idx->servers, server)) == NULL || !s->present ||
	    (t = hashmap_get(&s->tools, tool)) == NULL) {
		res->reason = POLICY_R_TOOL_UNKNOWN;
		return (res->decision);
	}
	memset(&b, 0, sizeof(b));
	pol_scan(&p->rules, s, t, p, &b);
	for (i = 0; i < p->groups.n; i++) {
		if (idx->gnrules[p->groups.v[i]] == 0)
			continue;
		g = idx->gtab[p->groups.v[i]];
		pol_scan(&g->rules, s, t, p, &b);
	}
	pol_scan(&idx->everyone_any, s, t, p, &b);
	pol_scan(&s->everyone, s, t, p, &b);
	pol_finish(p, s, t, now_ms, &b, res);
	return (res->decision);
}

/* Collect every rule that can apply to p (any server) into scratch. */
static int
pol_gather(struct policy_index *idx, struct pol_principal *p)
{
	struct pol_group	*g;
	uint64_t		 total;
	uint32_t		 i, j;

	total = (uint64_t)p->rules.n + idx->everyone_any.n;
	for (i = 0; i < p->groups.n; i++)
		total += idx->gnrules[p->groups.v[i]];
	if (total >= UINT32_MAX ||
	    pol_vec_reserve(&idx->scratch, (uint32_t)total) == -1)
		return (-1);
	idx->scratch.n = 0;
	for (j = 0; j < p->rules.n; j++)
		idx->scratch.v[idx->scratch.n++] = p->rules.v[j];
	for (i = 0; i < p->groups.n; i++) {
		if (idx->gnrules[p->groups.v[i]] == 0)
			continue;
		g = idx->gtab[p->groups.v[i]];
		for (j = 0; j < g->rules.n; j++)
			idx->scratch.v[idx->scratch.n++] = g->rules.v[j];
	}
	for (j = 0; j < idx->everyone_any.n; j++)
		idx->scratch.v[idx->scratch.n++] = idx->everyone_any.v[j];
	return (0);
}

static void
pol_decide_scratch(struct policy_index *idx, struct pol_principal *p,
    struct pol_server *s, struct pol_tool *t, int64_t now,
    struct policy_result *res)
{
	struct pol_best		b;

	memset(&b, 0, sizeof(b));
	pol_scan(&idx->scratch, s, t, p, &b);
	pol_scan(&s->everyone, s, t, p, &b);
	pol_finish(p, s, t, now, &b, res);
}

static void
pol_explain_scan(const struct pol_vec *v, const struct pol_server *s,
    const struct pol_tool *t, const struct pol_principal *p,
    const char *group, policy_explain_cb cb, void *arg)
{
	const struct pol_rule	*r;
	uint32_t		 i;

	for (i = 0; i < v->n; i++) {
		r = v->v[i];
		if (r->server != NULL && r->server != s)
			continue;
		if (r->dir != NULL && r->dir != p->dir)
			continue;
		if (!pol_sel_match(&r->sel, t))
			continue;
		if (cb(arg, r->id, (enum policy_effect)r->effect,
		    (enum policy_subject_kind)r->subject_kind, group) != 0)
			return;
	}
}

enum policy_decision
policy_explain(const struct policy_index *idx,
    const struct policy_subject *subj, const char *server, const char *tool,
    int64_t now_ms, policy_explain_cb cb, void *arg,
    struct policy_result *res)
{
	struct pol_principal	*p;
	struct pol_server	*s;
	struct pol_tool		*t;
	struct pol_group	*g;
	uint32_t		 i;

	p = pol_resolve(idx, subj);
	if (p != NULL && server != NULL && tool != NULL &&
	    (s = hashmap_get(&idx->servers, server)) != NULL && s->present &&
	    (t = hashmap_get(&s->tools, tool)) != NULL) {
		pol_explain_scan(&p->rules, s, t, p, NULL, cb, arg);
		for (i = 0; i < p->groups.n; i++) {
			g = idx->gtab[p->groups.v[i]];
			pol_explain_scan(&g->rules, s, t, p, g->id, cb, arg);
		}
		pol_explain_scan(&idx->everyone_any, s, t, p, NULL, cb, arg);
		pol_explain_scan(&s->everyone, s, t, p, NULL, cb, arg);
	}

	return (policy_evaluate(idx, subj, server, tool, now_ms, res));
}

int
policy_evaluate_batch(struct policy_index *idx,
    const struct policy_subject *subj, const struct policy_query *q,
    size_t n, int64_t now_ms, struct policy_result *res)
{
	struct pol_principal	*p;
	struct pol_server	*s;
	struct pol_tool		*t;
	enum policy_reason	 state;
	const char		*last;
	size_t			 i;
	int			 rc;

	p = pol_resolve(idx, subj);
	state = pol_principal_state(p);
	rc = 0;
	if (state == POLICY_R_ALLOWED_BY_RULE && pol_gather(idx, p) == -1) {
		state = POLICY_R_INTERNAL_ERROR;
		rc = -1;
	}
	last = NULL;
	s = NULL;
	for (i = 0; i < n; i++) {
		pol_result_init(idx, &res[i]);
		if (p != NULL)
			res[i].subject_epoch = p->epoch;
		if (state != POLICY_R_ALLOWED_BY_RULE) {
			res[i].reason = state;
			continue;
		}
		if (q[i].server == NULL || q[i].tool == NULL) {
			res[i].reason = POLICY_R_TOOL_UNKNOWN;
			continue;
		}
		/* Batches usually list many tools of one server. */
		if (last == NULL || strcmp(last, q[i].server) != 0) {
			s = hashmap_get(&idx->servers, q[i].server);
			last = q[i].server;
		}
		if (s == NULL || !s->present ||
		    (t = hashmap_get(&s->tools, q[i].tool)) == NULL) {
			res[i].reason = POLICY_R_TOOL_UNKNOWN;
			continue;
		}
		pol_decide_scratch(idx, p, s, t, now_ms, &res[i]);
	}
	return (rc);
}

static int
pol_cmp_server(const void *a, const void *b)
{
	const struct pol_server	*x = *(struct pol_server *const *)a;
	const struct pol_server	*y = *(struct pol_server *const *)b;

	return (strcmp(x->slug, y->slug));
}

static int
pol_cmp_tool(const void *a, const void *b)
{
	const struct pol_tool	*x = *(struct pol_tool *const *)a;
	const struct pol_tool	*y = *(struct pol_tool *const *)b;

	return (strcmp(x->name, y->name));
}

static int
pol_cmp_group(const void *a, const void *b, void *arg)
{
	const struct policy_index	*idx = arg;
	const struct pol_group		*x, *y;

	x = idx->gtab[*(const uint32_t *)a];
	y = idx->gtab[*(const uint32_t *)b];
	return (strcmp(x->id, y->id));
}

int
policy_effective(struct policy_index *idx, const struct policy_subject *subj,
    int64_t now_ms, policy_effective_cb cb, void *arg)
{
	struct pol_principal	 *p;
	struct pol_server	**servers, *s;
	struct pol_tool		**tools;
	struct policy_result	  res;
	enum policy_reason	  state;
	size_t			  it, ns, nt, i, j;
	void			 *val;
	int			  rc;

	p = pol_resolve(idx, subj);
	state = pol_principal_state(p);
	if (state == POLICY_R_ALLOWED_BY_RULE && pol_gather(idx, p) == -1)
		return (-1);
	if ((servers = calloc(idx->servers.count + 1, sizeof(*servers))) ==
	    NULL)
		return (-1);
	ns = 0;
	it = 0;
	while (hashmap_next(&idx->servers, &it, NULL, &val)) {
		s = val;
		if (s->present)
			servers[ns++] = s;
	}
	qsort(servers, ns, sizeof(*servers), pol_cmp_server);
	rc = 0;
	for (i = 0; i < ns && rc == 0; i++) {
		s = servers[i];
		if ((tools = calloc(s->tools.count + 1, sizeof(*tools))) ==
		    NULL) {
			rc = -1;
			break;
		}
		nt = 0;
		it = 0;
		while (hashmap_next(&s->tools, &it, NULL, &val))
			tools[nt++] = val;
		qsort(tools, nt, sizeof(*tools), pol_cmp_tool);
		for (j = 0; j < nt && rc == 0; j++) {
			pol_result_init(idx, &res);
			if (p != NULL)
				res.subject_epoch = p->epoch;
			if (state != POLICY_R_ALLOWED_BY_RULE)
				res.reason = state;
			else
				pol_decide_scratch(idx, p, s, tools[j],
				    now_ms, &res);
			rc = cb(arg, s->slug, tools[j]->name, &res);
		}
		free(tools);
	}
	free(servers);
	return (rc);
}

int
policy_principal_lookup(const struct policy_index *idx,
    const struct policy_subject *subj, struct policy_principal_info *info)
{
	struct pol_principal	*p;

	if ((p = pol_resolve(idx, subj)) == NULL)
		return (-1);
	memset(info, 0, sizeof(*info));
	info->id = p->id;
	info->directory = p->dir;
	info->kind = p->kind;
	info->user_name = p->user_name;
	info->app_id = p->app_id;
	info->owner_id = p->owner != NULL ? p->owner->id : NULL;
	info->active = p->active;
	info->deleted = p->deleted;
	info->revoked_all = p->revoked;
	info->state = pol_principal_state(p);
	info->subject_epoch = p->epoch;
	info->ngroups = p->groups.n;
	return (0);
}

int
policy_principal_groups(struct policy_index *idx,
    const struct policy_subject *subj, const char **ids, size_t max,
    size_t *total)
{
	struct pol_principal	*p;
	size_t			 i;

	if ((p = pol_resolve(idx, subj)) == NULL)
		return (-1);
	/* Member lists are unordered; sorting in place costs nothing later. */
	if (p->groups.n > 1)
		qsort_r(p->groups.v, p->groups.n, sizeof(*p->groups.v),
		    pol_cmp_group, idx);
	for (i = 0; i < p->groups.n && i < max; i++)
		ids[i] = idx->gtab[p->groups.v[i]]->id;
	if (total != NULL)
		*total = p->groups.n;
	return (0);
}

int64_t
policy_valid_until_min(int64_t a, int64_t b)
{
	if (a <= 0)
		return (b > 0 ? b : 0);
	if (b <= 0)
		return (a);
	return (a < b ? a : b);
}

int
policy_ttl_s(const struct policy_result *res, int64_t now_ms, int max_ttl_s)
{
	int64_t	left;

	if (max_ttl_s < 0)
		max_ttl_s = 0;
	if (res->valid_until_ms <= 0)
		return (max_ttl_s);
	if (res->valid_until_ms <= now_ms)
		return (0);
	left = (res->valid_until_ms - now_ms) / 1000;
	return (left < max_ttl_s ? (int)left : max_ttl_s);
}

void
policy_stats(const struct policy_index *idx, struct policy_stats *st)
{
	const struct pol_principal	*p;
	const struct pol_group		*g;
	const struct pol_server		*s;
	size_t				 it;
	void				*val;

	memset(st, 0, sizeof(*st));
	it = 0;
	while (hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		if (p->present)
			st->principals++;
		else
			st->placeholders++;
	}
	it = 0;
	while (hashmap_next(&idx->groups, &it, NULL, &val)) {
		g = val;
		if (g->present)
			st->groups++;
		else
			st->placeholders++;
	}
	it = 0;
	while (hashmap_next(&idx->servers, &it, NULL, &val)) {
		s = val;
		if (s->present)
			st->servers++;
		else
			st->placeholders++;
	}
	st->quarantined = idx->nquarantined;
	st->memberships = idx->nmemberships;
	st->tools = idx->ntools;
	st->rules = idx->rules.count;
	st->grants = idx->grants.count;
}

static void
pol_unquarantine(struct policy_index *idx, struct pol_principal *p)
{
	if (!p->quarantined)
		return;
	p->quarantined = 0;
	free(p->why);
	p->why = NULL;
	idx->nquarantined--;
}

int
policy_principal_quarantine(struct policy_index *idx, const char *id,
    const char *directory, const char *why, int until_rebuild)
{
	struct pol_principal	*p;
	const char		*dir;
	char			*w;
	size_t			 len;

	if (pol_check_str(id, POLICY_ID_MAX, 0, "id", NULL) == -1)
		return (-1);
	dir = NULL;
	if (directory != NULL && pol_check_str(directory, POLICY_ID_MAX,
	    0, "directory", NULL) == 0 &&
	    (dir = pol_dir_intern(idx, directory)) == NULL)
		return (-1);
	if (why == NULL || *why == '\0')
		why = "unavailable";
	len = strnlen(why, POLICY_WHY_MAX - 1);
	if ((w = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(w, why, len);
	w[len] = '\0';
	if ((p = pol_principal_get(idx, id)) == NULL) {
		free(w);
		return (-1);
	}
	if (!p->quarantined)
		idx->nquarantined++;
	free(p->why);
	p->why = w;
	/* The stronger of the two holds: a rebuild-only one stays so. */
	if (until_rebuild || p->quarantined == 2)
		p->quarantined = 2;
	else
		p->quarantined = 1;
	if (dir != NULL)
		p->dir = dir;
	return (0);
}

long
policy_quarantine_subjects(struct policy_index *idx, const char *group_id,
    const char *directory, const char *why)
{
	struct pol_principal	*p;
	struct pol_group	*g;
	const char		*dir;
	size_t			 it;
	void			*val;
	long			 n;

	g = NULL;
	if (group_id != NULL &&
	    ((g = hashmap_get(&idx->groups, group_id)) == NULL ||
	    g->nmembers == 0))
		return (0);
	dir = directory != NULL ? hashmap_get(&idx->dirs, directory) : NULL;
	if (directory != NULL && dir == NULL)
		return (0);
	n = 0;
	it = 0;
	/* Only existing nodes are touched: the table does not change. */
	while (hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		if (!p->present || (dir != NULL && p->dir != dir) ||
		    (g != NULL && !pol_ords_has(&p->groups, g->ord)))
			continue;
		if (policy_principal_quarantine(idx, p->id, NULL, why, 1) == -1)
			return (-1);
		n++;
	}
	return (n);
}

size_t
policy_quarantined(const struct policy_index *idx)
{
	return (idx->nquarantined);
}

static int
pol_cmp_principal(const void *a, const void *b)
{
	const struct pol_principal *const *x = a, *const *y = b;

	return (strcmp((*x)->id, (*y)->id));
}

int
policy_quarantine_each(const struct policy_index *idx,
    policy_quarantine_cb cb, void *arg)
{
	struct pol_principal	**v, *p;
	size_t			  it, n, i;
	void			 *val;
	int			  rc;

	if (idx->nquarantined == 0)
		return (0);
	if ((v = calloc(idx->nquarantined, sizeof(*v))) == NULL)
		return (-1);
	n = 0;
	it = 0;
	while (hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		if (p->quarantined && n < idx->nquarantined)
			v[n++] = p;
	}
	qsort(v, n, sizeof(*v), pol_cmp_principal);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		rc = cb(arg, v[i]->id, v[i]->dir, v[i]->why);
	free(v);
	return (rc);
}
int
policy_principal_foreach(struct policy_index *idx,
    int (*want)(void *, const char *),
    int (*cb)(void *, const struct policy_principal_view *), void *arg)
{
	struct policy_principal_view	 v;
	const struct pol_principal	*p;
	const struct pol_group		*g;
	const char			**groups, **tmp;
	size_t				 it, cap;
	uint32_t			 i;
	void				*val;
	int				 rc;

	groups = NULL;
	cap = 0;
	rc = 0;
	it = 0;
	while (rc == 0 && hashmap_next(&idx->principals, &it, NULL, &val)) {
		p = val;
		if (!p->present || (want != NULL && !want(arg, p->id)))
			continue;
		if (p->groups.n > cap) {
			if ((tmp = realloc(groups, p->groups.n *
			    sizeof(*groups))) == NULL) {
				rc = -1;
				break;
			}
			groups = tmp;
			cap = p->groups.n;
		}
		memset(&v, 0, sizeof(v));
		for (i = 0; i < p->groups.n; i++) {
			g = idx->gtab[p->groups.v[i]];
			if (g != NULL && g->present)
				groups[v.ngroups++] = g->id;
		}
		v.id = p->id;
		v.directory = p->dir;
		v.kind = (enum policy_principal_kind)p->kind;
		v.user_name = p->user_name;
		v.external_id = p->external_id;
		v.emails = (const char *const *)p->emails;
		v.nemails = p->nemails;
		v.app_id = p->app_id;
		v.owner_id = p->owner != NULL ? p->owner->id : NULL;
		v.groups = groups;
		v.active = p->active;
		v.deleted = p->deleted;
		v.revoked_all = p->revoked;
		v.epoch = p->epoch;
		rc = cb(arg, &v);
	}
	free(groups);

	return (rc);
}

#ifdef RC_TESTHOOKS
int
policy_testhook_flip_revoked(struct policy_index *idx, const char *id)
{
	struct pol_principal	*p;

	if ((p = hashmap_get(&idx->principals, id)) == NULL || !p->present)
		return (-1);
	p->revoked = !p->revoked;
	return (0);
}
#endif
