/*
 * policy_eval: the decision evaluator over the policy index (see
 * policy.h for the contract, policy_local.h for the layout).  A
 * decision resolves the subject, scans the principal's rules, its
 * groups' rules and the everyone lists for the server, then its
 * grants.  Nothing here changes what the index answers: the batch and
 * effective calls reuse its scratch vector, and listing a principal's
 * groups sorts its member list in place.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hashmap.h"
#include "policy.h"
#include "policy_local.h"

/* Best matching rule per effect while scanning. */
struct pol_best {
	const struct pol_rule	*r[3];
	int			 bad;
};

static int	pol_glob_match(const char *, const char *);
static int	pol_sel_match(const struct pol_sel *, const struct pol_tool *);
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

enum policy_subject_kind
policy_subject_kind_parse(const char *s)
{
	if (s == NULL)
		return (POLICY_SUBJECT_EVERYONE);
	if (strcmp(s, "group") == 0)
		return (POLICY_SUBJECT_GROUP);
	if (strcmp(s, "user") == 0)
		return (POLICY_SUBJECT_USER);
	if (strcmp(s, "service_principal") == 0)
		return (POLICY_SUBJECT_SP);
	if (strcmp(s, "role") == 0)
		return (POLICY_SUBJECT_ROLE);
	return (POLICY_SUBJECT_EVERYONE);
}

enum policy_effect
policy_effect_parse(const char *s)
{
	if (s != NULL && strcmp(s, "allow") == 0)
		return (POLICY_EFFECT_ALLOW);
	if (s != NULL && strcmp(s, "elevate") == 0)
		return (POLICY_EFFECT_ELEVATE);
	/* Anything unexpected denies. */
	return (POLICY_EFFECT_DENY);
}

const char *
policy_reason_str(enum policy_reason reason)
{
	if ((int)reason < 0 || reason >= POLICY_R_COUNT)
		return ("internal_error");
	return (pol_reason_names[reason]);
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
	res->role = NULL;
	res->nest_exceeded = 0;
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
	else if (r->subject_kind == POLICY_SUBJECT_ROLE)
		res->role = ((const struct pol_role *)r->subject)->name;
}

/* The rules of p's app roles (only roles some rule names have a node). */
static void
pol_scan_roles(const struct policy_index *idx, const struct pol_principal *p,
    const struct pol_server *s, const struct pol_tool *t, struct pol_best *b)
{
	const struct pol_role	*r;
	uint32_t		 i;

	if (idx->roles.count == 0)
		return;
	for (i = 0; i < p->nroles; i++) {
		if ((r = hashmap_get(&idx->roles, p->roles[i])) != NULL)
			pol_scan(&r->rules, s, t, p, b);
	}
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
	struct pol_walk		 w;
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
	/* Groups through nesting; a chain too long to follow denies. */
	if (pol_walk_groups(idx, p, &w) == -1) {
		res->reason = POLICY_R_INTERNAL_ERROR;
		res->nest_exceeded = 1;
		return (res->decision);
	}
	for (i = 0; i < w.n; i++) {
		if (idx->gnrules[w.ord[i]] != 0)
			pol_scan(&idx->gtab[w.ord[i]]->rules, s, t, p, &b);
	}
	pol_scan_roles(idx, p, s, t, &b);
	pol_scan(&idx->everyone_any, s, t, p, &b);
	pol_scan(&s->everyone, s, t, p, &b);
	pol_finish(p, s, t, now_ms, &b, res);
	return (res->decision);
}

/*
 * Collect every rule that can apply to p (any server) into scratch.
 * 0, -1 on no memory, -2 when p's group chain is beyond the limit.
 */
static int
pol_gather(struct policy_index *idx, struct pol_principal *p)
{
	struct pol_group	*g;
	struct pol_role		*ro;
	struct pol_walk		*w;
	uint64_t		 total;
	uint32_t		 i, j;

	if ((w = malloc(sizeof(*w))) == NULL)
		return (-1);
	if (pol_walk_groups(idx, p, w) == -1) {
		free(w);
		return (-2);
	}
	total = (uint64_t)p->rules.n + idx->everyone_any.n;
	for (i = 0; i < p->groups.n; i++)
		total += idx->gnrules[p->groups.v[i]];
	for (i = 0; i < w->n; i++)
		total += idx->gnrules[w->ord[i]];
	for (i = 0; idx->roles.count > 0 && i < p->nroles; i++) {
		if ((ro = hashmap_get(&idx->roles, p->roles[i])) != NULL)
			total += ro->rules.n;
	}
	if (total >= UINT32_MAX ||
	    pol_vec_reserve(&idx->scratch, (uint32_t)total) == -1) {
		free(w);
		return (-1);
	}
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
	for (i = 0; i < w->n; i++) {
		g = idx->gtab[w->ord[i]];
		for (j = 0; j < g->rules.n; j++)
			idx->scratch.v[idx->scratch.n++] = g->rules.v[j];
	}
	free(w);
	for (i = 0; idx->roles.count > 0 && i < p->nroles; i++) {
		if ((ro = hashmap_get(&idx->roles, p->roles[i])) == NULL)
			continue;
		for (j = 0; j < ro->rules.n; j++)
			idx->scratch.v[idx->scratch.n++] = ro->rules.v[j];
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
    const char *group, const char *const *path, size_t npath,
    policy_explain_cb cb, void *arg)
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
		    (enum policy_subject_kind)r->subject_kind, group, path,
		    npath) != 0)
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
	struct pol_role		*ro;
	struct pol_walk		 w;
	const char		*path[POLICY_NEST_DEPTH_MAX + 1];
	size_t			 np, a;
	uint32_t		 i;
	int32_t			 k;

	p = pol_resolve(idx, subj);
	if (p != NULL && server != NULL && tool != NULL &&
	    (s = hashmap_get(&idx->servers, server)) != NULL && s->present &&
	    (t = hashmap_get(&s->tools, tool)) != NULL) {
		pol_explain_scan(&p->rules, s, t, p, NULL, NULL, 0, cb, arg);
		for (i = 0; i < p->groups.n; i++) {
			g = idx->gtab[p->groups.v[i]];
			path[0] = g->id;
			pol_explain_scan(&g->rules, s, t, p, g->id, path, 1,
			    cb, arg);
		}
		/* Nested groups, each with its chain back to the principal. */
		if (pol_walk_groups(idx, p, &w) == 0) {
			for (i = 0; i < w.n; i++) {
				np = 0;
				for (k = (int32_t)i; k >= 0 &&
				    np < POLICY_NEST_DEPTH_MAX; k = w.from[k])
					path[np++] = idx->gtab[w.ord[k]]->id;
				/* The walk is no deeper than the limit. */
				if (k < 0)
					path[np++] =
					    idx->gtab[p->groups.v[-1 - k]]->id;
				for (a = 0; a < np / 2; a++) {
					const char *x = path[a];

					path[a] = path[np - 1 - a];
					path[np - 1 - a] = x;
				}
				g = idx->gtab[w.ord[i]];
				pol_explain_scan(&g->rules, s, t, p, g->id,
				    path, np, cb, arg);
			}
		}
		for (i = 0; idx->roles.count > 0 && i < p->nroles; i++) {
			if ((ro = hashmap_get(&idx->roles, p->roles[i])) !=
			    NULL)
				pol_explain_scan(&ro->rules, s, t, p,
				    ro->name, NULL, 0, cb, arg);
		}
		pol_explain_scan(&idx->everyone_any, s, t, p, NULL, NULL, 0,
		    cb, arg);
		pol_explain_scan(&s->everyone, s, t, p, NULL, NULL, 0, cb,
		    arg);
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
	int			 rc, g, nest;

	p = pol_resolve(idx, subj);
	state = pol_principal_state(p);
	rc = 0;
	nest = 0;
	if (state == POLICY_R_ALLOWED_BY_RULE &&
	    (g = pol_gather(idx, p)) != 0) {
		state = POLICY_R_INTERNAL_ERROR;
		if (g == -2)
			nest = 1;
		else
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
			res[i].nest_exceeded = nest;
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
	int			  rc, nest;

	p = pol_resolve(idx, subj);
	state = pol_principal_state(p);
	nest = 0;
	if (state == POLICY_R_ALLOWED_BY_RULE) {
		if ((rc = pol_gather(idx, p)) == -1)
			return (-1);
		if (rc == -2) {
			state = POLICY_R_INTERNAL_ERROR;
			nest = 1;
		}
	}
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
			if (state != POLICY_R_ALLOWED_BY_RULE) {
				res.reason = state;
				res.nest_exceeded = nest;
			} else
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
policy_group_path(const struct policy_index *idx,
    const struct policy_subject *subj, const char *group_id,
    const char **ids, size_t max, size_t *n)
{
	struct pol_principal	*p;
	struct pol_group	*g;
	struct pol_walk		*w;
	const char		*tmp[POLICY_NEST_DEPTH_MAX + 1];
	size_t			 np, i;
	uint32_t		 k;
	int32_t			 at;
	int			 rc;

	*n = 0;
	if ((p = pol_resolve(idx, subj)) == NULL || group_id == NULL ||
	    (g = hashmap_get(&idx->groups, group_id)) == NULL)
		return (-1);
	if (pol_ords_has(&p->groups, g->ord)) {
		if (max > 0)
			ids[0] = g->id;
		*n = 1;
		return (0);
	}
	if ((w = malloc(sizeof(*w))) == NULL)
		return (-1);
	rc = -1;
	if (pol_walk_groups(idx, p, w) == 0) {
		for (k = 0; k < w->n && w->ord[k] != g->ord; k++)
			;
		if (k < w->n) {
			np = 0;
			for (at = (int32_t)k; at >= 0 &&
			    np < POLICY_NEST_DEPTH_MAX; at = w->from[at])
				tmp[np++] = idx->gtab[w->ord[at]]->id;
			if (at < 0)
				tmp[np++] =
				    idx->gtab[p->groups.v[-1 - at]]->id;
			for (i = 0; i < np && i < max; i++)
				ids[i] = tmp[np - 1 - i];
			*n = np < max ? np : max;
			rc = 0;
		}
	}
	free(w);
	return (rc);
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

int
policy_principal_roles(const struct policy_index *idx,
    const struct policy_subject *subj, const char **values, size_t max,
    size_t *total)
{
	const struct pol_principal	*p;
	size_t				 i;

	if ((p = pol_resolve(idx, subj)) == NULL)
		return (-1);
	for (i = 0; i < p->nroles && i < max; i++)
		values[i] = p->roles[i];
	if (total != NULL)
		*total = p->nroles;
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
