/*
 * policy: the in-memory policy index (see policy.h): its public
 * mutations, statistics, quarantine and iteration.  The layout is
 * described in policy_local.h; the nodes live in policy_node.c and the
 * evaluator in policy_eval.c.
 */

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "policy.h"
#include "policy_local.h"

static void	pol_group_drop_nests(struct policy_index *,
		    struct pol_group *);
static int	pol_in_group(const struct policy_index *,
		    const struct pol_principal *, const struct pol_group *);
static void	pol_unquarantine(struct policy_index *,
		    struct pol_principal *);

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
	hashmap_init(&idx->roles);
	idx->nest_depth = POLICY_NEST_DEPTH_DEFAULT;
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
		pol_ords_free(&g->parents);
		free(g->id);
		free(g);
	}
	it = 0;
	while (hashmap_next(&idx->roles, &it, NULL, &val)) {
		pol_vec_free(&((struct pol_role *)val)->rules);
		free(val);
	}
	hashmap_cleanup(&idx->roles);
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
	char			*name, *ext, **emails, **roles;
	size_t			 i, n, nr;
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
	if (u->nroles > POLICY_LIST_MAX || (u->nroles && !u->roles)) {
		pol_err(err, POLICY_E_INVALID, "bad role list");
		return (-1);
	}
	for (i = 0; i < u->nroles; i++) {
		if (pol_check_str(u->roles[i], POLICY_ID_MAX, 0, "role",
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
	roles = u->nroles ? calloc(u->nroles, sizeof(*roles)) : NULL;
	nr = 0;
	if (roles != NULL) {
		for (nr = 0; nr < u->nroles; nr++) {
			if ((roles[nr] = strdup(u->roles[nr])) == NULL)
				break;
		}
	}
	dir = pol_dir_intern(idx, u->directory);
	if (dir == NULL || name == NULL ||
	    (u->external_id && *u->external_id && ext == NULL) ||
	    (u->nemails && (emails == NULL || n != u->nemails)) ||
	    (u->nroles && (roles == NULL || nr != u->nroles)) ||
	    (p == NULL && (p = pol_principal_get(idx, u->id)) == NULL)) {
		for (i = 0; i < n; i++)
			free(emails[i]);
		free(emails);
		for (i = 0; i < nr; i++)
			free(roles[i]);
		free(roles);
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
	p->roles = roles;
	p->nroles = (uint32_t)nr;
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
	pol_group_drop_nests(idx, g);
	g->present = 0;
	g->dir = NULL;
	pol_group_maybe_free(idx, g);
	return (0);
}

/*
 * A deleted group leaves every nesting, as child and as parent.  Rare:
 * scanning the groups beats a reverse index of children.
 */
static void
pol_group_drop_nests(struct policy_index *idx, struct pol_group *g)
{
	struct pol_group	*c, *q;
	struct pol_vec		 orphans;
	size_t			 it;
	uint32_t		 i, j;
	void			*val;

	memset(&orphans, 0, sizeof(orphans));
	for (i = 0; i < g->parents.n; i++) {
		if ((q = idx->gtab[g->parents.v[i]]) == NULL)
			continue;
		q->nchildren--;
		idx->nnests--;
		(void)pol_vec_push(&orphans, q);
	}
	g->parents.n = 0;
	it = 0;
	while (g->nchildren > 0 &&
	    hashmap_next(&idx->groups, &it, NULL, &val)) {
		c = val;
		if (pol_ords_remove(&c->parents, g->ord) == 0) {
			g->nchildren--;
			idx->nnests--;
			(void)pol_vec_push(&orphans, c);
		}
	}
	/*
	 * Freeing reshapes the table: only after the scan.  A group both
	 * parent and child of g is listed twice: free it once.
	 */
	for (i = 0; i < orphans.n; i++) {
		for (j = 0; j < i && orphans.v[j] != orphans.v[i]; j++)
			;
		if (orphans.v[i] != g && j == i)
			pol_group_maybe_free(idx, orphans.v[i]);
	}
	pol_vec_free(&orphans);
}

int
policy_nest_add(struct policy_index *idx, const char *child,
    const char *parent, struct policy_err *err)
{
	struct pol_group	*c, *q;

	if (pol_check_str(child, POLICY_ID_MAX, 0, "member group id",
	    err) == -1 ||
	    pol_check_str(parent, POLICY_ID_MAX, 0, "group id", err) == -1)
		return (-1);
	if (strcmp(child, parent) == 0) {
		pol_err(err, POLICY_E_INVALID, "a group cannot contain itself");
		return (-1);
	}
	if ((c = pol_group_get(idx, child)) == NULL) {
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if ((q = pol_group_get(idx, parent)) == NULL) {
		pol_group_maybe_free(idx, c);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	if (pol_ords_has(&c->parents, q->ord))
		return (0);
	if (pol_ords_push(&c->parents, q->ord) == -1) {
		pol_group_maybe_free(idx, c);
		pol_group_maybe_free(idx, q);
		pol_err(err, POLICY_E_NOMEM, "out of memory");
		return (-1);
	}
	q->nchildren++;
	idx->nnests++;
	return (0);
}

int
policy_nest_remove(struct policy_index *idx, const char *child,
    const char *parent)
{
	struct pol_group	*c, *q;

	if (child == NULL || parent == NULL ||
	    (c = hashmap_get(&idx->groups, child)) == NULL ||
	    (q = hashmap_get(&idx->groups, parent)) == NULL ||
	    pol_ords_remove(&c->parents, q->ord) == -1)
		return (-1);
	q->nchildren--;
	idx->nnests--;
	pol_group_maybe_free(idx, c);
	pol_group_maybe_free(idx, q);
	return (0);
}

void
policy_set_nest_depth(struct policy_index *idx, int depth)
{
	if (depth < 1)
		depth = 1;
	if (depth > POLICY_NEST_DEPTH_MAX)
		depth = POLICY_NEST_DEPTH_MAX;
	idx->nest_depth = (uint32_t)depth;
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
	    rd->subject_kind > POLICY_SUBJECT_ROLE) {
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
	case POLICY_SUBJECT_ROLE:
		r->subject = pol_role_get(idx, rd->subject_id);
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
		else if (r->subject_kind == POLICY_SUBJECT_ROLE)
			pol_role_maybe_free(idx, r->subject);
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
	st->nestings = idx->nnests;
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
	    (g->nmembers == 0 && g->nchildren == 0)))
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
		    (g != NULL && !pol_in_group(idx, p, g)))
			continue;
		if (policy_principal_quarantine(idx, p->id, NULL, why, 1) == -1)
			return (-1);
		n++;
	}
	return (n);
}

/*
 * Whether p is in g, directly or through nesting; a chain too long to
 * follow counts as in (the caller quarantines: fail closed).
 */
static int
pol_in_group(const struct policy_index *idx, const struct pol_principal *p,
    const struct pol_group *g)
{
	struct pol_walk	*w;
	uint32_t	 k;
	int		 in;

	if (pol_ords_has(&p->groups, g->ord))
		return (1);
	if (g->nchildren == 0)
		return (0);
	if ((w = malloc(sizeof(*w))) == NULL)
		return (1);
	in = pol_walk_groups(idx, p, w) == -1;
	for (k = 0; !in && k < w->n; k++)
		in = w->ord[k] == g->ord;
	free(w);
	return (in);
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
