/*
 * scim_patch_members: group member operations, folded into the net
 * change set of scim_patch.h (the members never enter the document);
 * scim_patch_local.h.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "hashmap.h"
#include "scim_error.h"
#include "scim_schema.h"
#include "scim_filter.h"
#include "scim_patch.h"
#include "scim_patch_local.h"

static int	 member_values(struct patch_ctx *, const json_t *,
		    enum member_state);
static int	 member_set(struct patch_ctx *, const char *,
		    enum member_state);
static void	 member_clear(struct patch_ctx *);
static int	 member_filter(struct patch_ctx *, const struct scim_filter *,
		    enum member_state);
static int	 member_conj(const struct scim_filter *, const char **, int *);

/*
 * Group members: never in the document, folded into the change set.
 * Sub-attributes other than value ($ref, display, type) are not stored,
 * so operations on them are accepted and do nothing.
 */
int
patch_members(struct patch_ctx *ctx, enum patch_op op,
    const struct scim_path *p, const json_t *value)
{
	enum member_state	 st;

	st = (op == PATCH_REMOVE) ? MEMBER_REMOVE : MEMBER_ADD;
	if (p->ref.sub != NULL) {
		if (strcmp(p->ref.sub->name, "value") == 0)
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_PATH, "A member's value cannot be "
			    "changed; add and remove members instead."));
		return (0);
	}
	if (p->filter != NULL)
		return (member_filter(ctx, p->filter, st));

	switch (op) {
	case PATCH_ADD:
		if (value == NULL)
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_VALUE, "add of 'members' needs a "
			    "\"value\" list."));
		return (member_values(ctx, value, MEMBER_ADD));
	case PATCH_REMOVE:
		/*
		 * Entra 7.4: with a value only those members go; without
		 * one, all of them.  An empty list removes nobody: reading
		 * it as "all" is how other servers wiped whole groups.
		 */
		if (value == NULL || json_is_null(value)) {
			member_clear(ctx);
			return (0);
		}
		return (member_values(ctx, value, MEMBER_REMOVE));
	case PATCH_REPLACE:
		member_clear(ctx);
		if (value == NULL)
			return (0);
		return (member_values(ctx, value, MEMBER_ADD));
	}
	return (0);
}

static int
member_values(struct patch_ctx *ctx, const json_t *value,
    enum member_state st)
{
	const json_t	*v, *id;
	size_t		 i, n;

	if (json_is_null(value))
		return (0);
	n = json_is_array(value) ? json_array_size(value) : 1;
	if (n > SCIM_PATCH_MAX_MEMBERS)
		return (scim_err_set(ctx->err, 413, NULL,
		    "At most %d members may be named in one PATCH.",
		    SCIM_PATCH_MAX_MEMBERS));
	for (i = 0; i < n; i++) {
		v = json_is_array(value) ? json_array_get(value, i) : value;
		/* Microsoft's Postman collection sends bare id strings. */
		id = json_is_object(v) ? patch_obj_get_ci(v, "value") : v;
		if (!json_is_string(id) || json_string_length(id) == 0 ||
		    json_string_length(id) > SCIM_PATCH_MAX_ID ||
		    strlen(json_string_value(id)) != json_string_length(id))
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_VALUE, "members[%zu] needs a "
			    "\"value\" with the member's id (a non-empty "
			    "string of at most %d bytes).", i,
			    SCIM_PATCH_MAX_ID));
		if (member_set(ctx, json_string_value(id), st) == -1)
			return (-1);
	}
	return (0);
}

static int
member_set(struct patch_ctx *ctx, const char *id, enum member_state st)
{
	struct member_ent	*ents;
	uintptr_t		 slot;
	size_t			 ncap;

	slot = (uintptr_t)hashmap_get(&ctx->mmap, id);
	if (slot != 0) {
		/* After a clear, removing an id only cancels its add. */
		if (st == MEMBER_REMOVE && ctx->clear)
			st = MEMBER_NONE;
		ctx->ments[slot - 1].state = st;
		return (0);
	}
	if (st == MEMBER_REMOVE && ctx->clear)
		return (0);
	if (ctx->nments >= SCIM_PATCH_MAX_MEMBERS)
		return (scim_err_set(ctx->err, 413, NULL,
		    "At most %d members may be named in one PATCH.",
		    SCIM_PATCH_MAX_MEMBERS));
	if (ctx->nments == ctx->cments) {
		ncap = ctx->cments == 0 ? 64 : ctx->cments * 2;
		if ((ents = realloc(ctx->ments, ncap * sizeof(*ents))) == NULL)
			return (patch_nomem(ctx));
		ctx->ments = ents;
		ctx->cments = ncap;
	}
	if ((ctx->ments[ctx->nments].id = strdup(id)) == NULL)
		return (patch_nomem(ctx));
	ctx->ments[ctx->nments].state = st;
	if (hashmap_put(&ctx->mmap, ctx->ments[ctx->nments].id,
	    (void *)(uintptr_t)(ctx->nments + 1)) == -1) {
		free(ctx->ments[ctx->nments].id);
		return (patch_nomem(ctx));
	}
	ctx->nments++;
	return (0);
}

static void
member_clear(struct patch_ctx *ctx)
{
	size_t		i;

	for (i = 0; i < ctx->nments; i++)
		free(ctx->ments[i].id);
	ctx->nments = 0;
	hashmap_cleanup(&ctx->mmap);
	hashmap_init(&ctx->mmap);
	ctx->clear = 1;
}

/*
 * members[value eq "id"] (also "or"-joined, and "and"-joined with tests
 * on the sub-attributes we do not store, which are taken as true).
 */
static int
member_filter(struct patch_ctx *ctx, const struct scim_filter *f,
    enum member_state st)
{
	const char	*id;
	int		 conflict;

	if (f->op == SCIM_FOP_OR) {
		if (member_filter(ctx, f->left, st) == -1)
			return (-1);
		return (member_filter(ctx, f->right, st));
	}
	id = NULL;
	conflict = 0;
	if (member_conj(f, &id, &conflict) == -1 || id == NULL)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_FILTER,
		    "A 'members' filter must test value eq \"<id>\" (several "
		    "may be joined with or)."));
	if (conflict)
		return (0);
	if (strlen(id) == 0 || strlen(id) > SCIM_PATCH_MAX_ID)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "A member id must be a non-empty string of at most %d "
		    "bytes.", SCIM_PATCH_MAX_ID));
	return (member_set(ctx, id, st));
}

static int
member_conj(const struct scim_filter *f, const char **id, int *conflict)
{
	int	is_value;

	switch (f->op) {
	case SCIM_FOP_AND:
		if (member_conj(f->left, id, conflict) == -1)
			return (-1);
		return (member_conj(f->right, id, conflict));
	case SCIM_FOP_EQ:
		is_value = f->path.name != NULL &&
		    strcasecmp(f->path.name, "value") == 0;
		if (!is_value)
			return (f->path.name != NULL ? 0 : -1);
		if (f->path.sub != NULL || !json_is_string(f->value))
			return (-1);
		if (*id != NULL && strcmp(*id, json_string_value(f->value)))
			*conflict = 1;
		*id = json_string_value(f->value);
		return (0);
	default:
		return (-1);
	}
}

int
patch_member_export(struct patch_ctx *ctx, struct scim_patch_members *out)
{
	size_t		i, na, nr;

	na = nr = 0;
	for (i = 0; i < ctx->nments; i++) {
		if (ctx->ments[i].state == MEMBER_ADD)
			na++;
		else if (ctx->ments[i].state == MEMBER_REMOVE)
			nr++;
	}
	if ((na > 0 && (out->add = calloc(na, sizeof(char *))) == NULL) ||
	    (nr > 0 && (out->remove = calloc(nr, sizeof(char *))) == NULL))
		return (patch_nomem(ctx));
	for (i = 0; i < ctx->nments; i++) {
		if (ctx->ments[i].state == MEMBER_ADD)
			out->add[out->nadd++] = ctx->ments[i].id;
		else if (ctx->ments[i].state == MEMBER_REMOVE)
			out->remove[out->nremove++] = ctx->ments[i].id;
		else
			continue;
		ctx->ments[i].id = NULL;
	}
	out->clear = ctx->clear;
	return (0);
}
