/*
 * policy_node: the policy index's nodes and their lifetimes (see
 * policy_local.h): growable vectors, interned directory names, tool
 * selectors, alias keys, and the principals, groups, servers and tools
 * that rules, grants and memberships may create as placeholders and
 * that are freed again when nothing refers to them.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hashmap.h"
#include "idkey.h"
#include "policy.h"
#include "policy_local.h"

static int	pol_vec_remove(struct pol_vec *, const void *);
static int	pol_vec_has(const struct pol_vec *, const void *);
static int	pol_alias_add(struct policy_index *, enum policy_alias,
		    const char *, struct pol_principal *);
static void	pol_alias_del(struct policy_index *, enum policy_alias,
		    const char *, struct pol_principal *);

void
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
int
pol_check_str(const char *s, size_t max, int optional, const char *what,
    struct policy_err *err)
{
	return (policy_check_value(s, max, optional, what, err));
}

int
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

int
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

void
pol_vec_free(struct pol_vec *v)
{
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

int
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

int
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

int
pol_ords_has(const struct pol_ords *o, uint32_t x)
{
	uint32_t	i;

	for (i = 0; i < o->n; i++) {
		if (o->v[i] == x)
			return (1);
	}
	return (0);
}

void
pol_ords_free(struct pol_ords *o)
{
	free(o->v);
	o->v = NULL;
	o->n = o->cap = 0;
}

const char *
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

int
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

/*
 * Alias key: one kind byte, then the value, keyed by idkey (NFC + full
 * case folding, the same function that fills the database's key
 * columns) except externalId, which is exact.  -1 when the value is
 * empty, not UTF-8 or too long: it can then name nobody.
 */
int
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

int
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

void
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
struct pol_principal *
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
void
pol_principal_clear(struct pol_principal *p)
{
	uint32_t	i;

	free(p->user_name);
	free(p->external_id);
	free(p->app_id);
	for (i = 0; i < p->nemails; i++)
		free(p->emails[i]);
	free(p->emails);
	for (i = 0; i < p->nroles; i++)
		free(p->roles[i]);
	free(p->roles);
	p->user_name = p->external_id = p->app_id = NULL;
	p->emails = NULL;
	p->nemails = 0;
	p->roles = NULL;
	p->nroles = 0;
}

void
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

void
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

struct pol_group *
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

void
pol_group_maybe_free(struct policy_index *idx, struct pol_group *g)
{
	if (g == NULL || g->present || g->nmembers != 0 || g->rules.n != 0 ||
	    g->nchildren != 0 || g->parents.n != 0)
		return;
	hashmap_del(&idx->groups, g->id);
	idx->gtab[g->ord] = NULL;
	idx->gnrules[g->ord] = 0;
	/* An ordinal that cannot be recycled is merely never reused. */
	(void)pol_ords_push(&idx->gfree, g->ord);
	pol_vec_free(&g->rules);
	pol_ords_free(&g->parents);
	free(g->id);
	free(g);
}

/* Mirror a group's rule count after its rule list changed. */
void
pol_group_sync(struct policy_index *idx, struct pol_rule *r)
{
	struct pol_group	*g;

	if (r->subject_kind == POLICY_SUBJECT_GROUP && r->subject != NULL) {
		g = r->subject;
		idx->gnrules[g->ord] = g->rules.n;
	}
}

struct pol_role *
pol_role_get(struct policy_index *idx, const char *name)
{
	struct pol_role	*r;
	size_t		 len;

	if ((r = hashmap_get(&idx->roles, name)) != NULL)
		return (r);
	len = strlen(name);
	if ((r = calloc(1, sizeof(*r) + len + 1)) == NULL)
		return (NULL);
	memcpy(r->name, name, len + 1);
	if (hashmap_put(&idx->roles, r->name, r) == -1) {
		free(r);
		return (NULL);
	}
	return (r);
}

void
pol_role_maybe_free(struct policy_index *idx, struct pol_role *r)
{
	if (r == NULL || r->rules.n != 0)
		return;
	hashmap_del(&idx->roles, r->name);
	pol_vec_free(&r->rules);
	free(r);
}

/* Whether ord is in the walk already; walks are short. */
static int
pol_walk_has(const struct pol_walk *w, uint32_t ord)
{
	uint32_t	k;

	for (k = 0; k < w->n; k++)
		if (w->ord[k] == ord)
			return (1);
	return (0);
}

/*
 * Appends the parents of group ord (reached as from) not seen yet.
 * -1 when the walk is full.  *fresh counts the groups appended.
 */
static int
pol_walk_expand(const struct policy_index *idx, const struct pol_principal *p,
    struct pol_walk *w, uint32_t ord, int32_t from, uint32_t *fresh)
{
	const struct pol_group	*g;
	uint32_t		 j, q;

	if ((g = idx->gtab[ord]) == NULL)
		return (0);
	for (j = 0; j < g->parents.n; j++) {
		q = g->parents.v[j];
		if (pol_ords_has(&p->groups, q) || pol_walk_has(w, q))
			continue;
		if (w->n == POLICY_NEST_GROUPS_MAX)
			return (-1);
		w->ord[w->n] = q;
		w->from[w->n] = from;
		w->n++;
		(*fresh)++;
	}
	return (0);
}

int
pol_walk_groups(const struct policy_index *idx, const struct pol_principal *p,
    struct pol_walk *w)
{
	uint32_t	i, lo, hi, k, level, fresh;

	w->n = 0;
	if (idx->nnests == 0)
		return (0);
	/* Level 1 is the direct groups; their parents are level 2. */
	fresh = 0;
	for (i = 0; i < p->groups.n; i++) {
		if (pol_walk_expand(idx, p, w, p->groups.v[i], -1 - (int32_t)i,
		    &fresh) == -1)
			return (-1);
	}
	if (fresh > 0 && idx->nest_depth < 2)
		return (-1);
	lo = 0;
	for (level = 2; lo < w->n; level++) {
		hi = w->n;
		fresh = 0;
		for (k = lo; k < hi; k++) {
			if (pol_walk_expand(idx, p, w, w->ord[k], (int32_t)k,
			    &fresh) == -1)
				return (-1);
		}
		/* A group one level beyond the limit: not followed. */
		if (fresh > 0 && level + 1 > idx->nest_depth)
			return (-1);
		lo = hi;
	}
	return (0);
}

struct pol_server *
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

void
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

void
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

void
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
struct pol_vec *
pol_rule_list(struct policy_index *idx, struct pol_rule *r)
{
	switch (r->subject_kind) {
	case POLICY_SUBJECT_GROUP:
		return (&((struct pol_group *)r->subject)->rules);
	case POLICY_SUBJECT_USER:
	case POLICY_SUBJECT_SP:
		return (&((struct pol_principal *)r->subject)->rules);
	case POLICY_SUBJECT_ROLE:
		return (&((struct pol_role *)r->subject)->rules);
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
void
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
	else if (r->subject_kind == POLICY_SUBJECT_ROLE)
		pol_role_maybe_free(idx, r->subject);
	else if (r->subject_kind != POLICY_SUBJECT_EVERYONE)
		pol_principal_maybe_free(idx, r->subject);
	free(r->sel.text);
	free(r->id);
	free(r);
}

void
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
