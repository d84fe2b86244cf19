/*
 * scim_patch: the PATCH engine (see scim_patch.h for the contract).
 *
 * Every operation is resolved against the schema tables first (paths,
 * URN prefixes, sub-attributes, value filters all come from scim_schema
 * and scim_filter) and then applied to a deep copy of the document.  The
 * shapes Entra sends that the RFC does not allow are accepted on purpose;
 * each is marked "Entra" below.
 *
 * Choices the RFC leaves open, fixed here:
 * - an empty string, null, [] or {} as a value means "unassigned": the
 *   attribute (or sub-attribute) is removed, as Entra's null/empty update
 *   test expects; doing that to a required attribute is 400 mutability
 *   (RFC 7644 section 3.5.2.2, "removed or becomes unassigned");
 * - replace on a single-valued complex attribute merges sub-attributes
 *   (RFC 7644 section 3.5.2.3), except for reference-like ones with a
 *   "value" sub-attribute (manager), which are replaced whole;
 * - readOnly attributes inside a no-path value are ignored (as PUT does),
 *   named by an explicit path they are 400 mutability;
 * - a value filter that matches nothing creates the element on add and
 *   replace when the filter is made of "eq" tests joined by "and"
 *   (Entra 7.3) and is a no-op on remove;
 * - value filters are accepted on any complex attribute; single-valued
 *   ones behave as a list of zero or one element (Entra 7.7, manager);
 * - an unknown sub-attribute inside a value is 400 invalidPath (the
 *   schema layer would drop it and the attribute would silently empty);
 *   a value made only of readOnly parts (manager.displayName) is ignored;
 * - a members filter must be "value eq" tests joined by "or"; "and"ed
 *   tests on the sub-attributes we do not store ($ref, display, type)
 *   are taken as true.
 * CPU is bounded by a budget of element visits per request, so ten
 * thousand operations over a full list fail fast with 413.
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

#define PATCH_NAME_MAX		192
#define PATCH_VALUE_DEPTH	8
#define PATCH_SMALL_ADD		4	/* below this, dedup without hashing */

enum patch_op {
	PATCH_ADD,
	PATCH_REPLACE,
	PATCH_REMOVE
};

enum member_state {
	MEMBER_NONE,
	MEMBER_ADD,
	MEMBER_REMOVE
};

struct member_ent {
	char			*id;
	enum member_state	 state;
};

struct patch_ctx {
	enum scim_resource	 type;
	json_t			*doc;		/* the working copy */
	struct scim_err		*err;
	struct hashmap		 mmap;		/* id -> index + 1 */
	struct member_ent	*ments;
	size_t			 nments;
	size_t			 cments;
	int			 clear;
	size_t			 work;		/* element visits so far */
};

static json_t	*obj_get_ci(const json_t *, const char *);
static int	 json_blank(const json_t *);
static int	 same_value(const json_t *, const json_t *);
static int	 patch_one(struct patch_ctx *, const json_t *, size_t);
static int	 patch_nopath(struct patch_ctx *, enum patch_op,
		    const json_t *);
static int	 patch_path(struct patch_ctx *, enum patch_op, const char *,
		    const json_t *, int);
static int	 patch_schema(struct patch_ctx *, enum patch_op,
		    const struct scim_schema *, const json_t *);
static int	 patch_attr(struct patch_ctx *, enum patch_op,
		    const struct scim_path *, const json_t *, int);
static int	 patch_whole(struct patch_ctx *, enum patch_op,
		    const struct scim_attr_ref *, const json_t *);
static int	 patch_sub(struct patch_ctx *, enum patch_op,
		    const struct scim_attr_ref *, const json_t *);
static int	 patch_filtered(struct patch_ctx *, enum patch_op,
		    const struct scim_path *, const json_t *);
static int	 patch_unset(struct patch_ctx *, const struct scim_attr_ref *,
		    json_t *, const json_t *);
static int	 patch_remove_values(struct patch_ctx *,
		    const struct scim_attr_ref *, json_t *, json_t *,
		    const json_t *);
static json_t	*value_prepare(struct patch_ctx *,
		    const struct scim_attr_ref *, const json_t *, int, int *);
static int	 value_keys(struct patch_ctx *, const struct scim_attr_ref *,
		    const json_t *, int *);
static int	 value_check(struct patch_ctx *, const struct scim_attr_ref *,
		    const json_t *, int);
static void	 value_prune(json_t *);
static int	 value_merge(json_t *, const json_t *);
static int	 elem_is_empty(const json_t *);
static int	 elem_subset(const json_t *, const json_t *,
		    const struct scim_attr *);
static int	 elem_seed(struct patch_ctx *, const struct scim_attr_ref *,
		    const struct scim_filter *, json_t *);
static char	*elem_key(const json_t *);
static int	 array_has(const json_t *, const json_t *);
static int	 multi_append(struct patch_ctx *, const struct scim_attr_ref *,
		    json_t *, const json_t *);
static void	 primary_claim(json_t *, const json_t *);
static void	 drop_empty(json_t *);
static int	 patch_members(struct patch_ctx *, enum patch_op,
		    const struct scim_path *, const json_t *);
static int	 member_values(struct patch_ctx *, const json_t *,
		    enum member_state);
static int	 member_set(struct patch_ctx *, const char *,
		    enum member_state);
static void	 member_clear(struct patch_ctx *);
static int	 member_filter(struct patch_ctx *, const struct scim_filter *,
		    enum member_state);
static int	 member_conj(const struct scim_filter *, const char **, int *);
static int	 member_export(struct patch_ctx *,
		    struct scim_patch_members *);
static void	 ctx_cleanup(struct patch_ctx *);
static void	 ext_cleanup(struct patch_ctx *, const json_t *);
static int	 active_state(const json_t *);
static int	 nomem(struct patch_ctx *);
static int	 work_charge(struct patch_ctx *, size_t);

void
scim_patch_result_init(struct scim_patch_result *res)
{
	memset(res, 0, sizeof(*res));
	res->active = -1;
}

void
scim_patch_result_cleanup(struct scim_patch_result *res)
{
	size_t		i;

	if (res == NULL)
		return;
	for (i = 0; i < res->members.nadd; i++)
		free(res->members.add[i]);
	for (i = 0; i < res->members.nremove; i++)
		free(res->members.remove[i]);
	free(res->members.add);
	free(res->members.remove);
	scim_patch_result_init(res);
}

int
scim_patch_apply(enum scim_resource type, json_t *resource,
    const json_t *body, struct scim_patch_result *res, struct scim_err *err)
{
	struct patch_ctx	 ctx;
	const json_t		*ops;
	const char		*key;
	json_t			*val;
	void			*tmp;
	size_t			 i;
	int			 oa, na;

	scim_patch_result_init(res);
	memset(&ctx, 0, sizeof(ctx));
	ctx.type = type;
	ctx.err = err;
	hashmap_init(&ctx.mmap);

	if (!json_is_object(resource) || scim_schema_core(type) == NULL)
		return (scim_err_set(err, 500, NULL,
		    "PATCH target is not a resource document."));
	if (!json_is_object(body))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "The PATCH body must be a JSON object with an "
		    "\"Operations\" list."));

	/* Entra 7.13: a missing or empty Operations list is a no-op. */
	ops = obj_get_ci(body, "Operations");
	if (ops == NULL || json_is_null(ops))
		return (0);
	if (!json_is_array(ops))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "\"Operations\" must be a list of operations."));
	if (json_array_size(ops) > SCIM_PATCH_MAX_OPS)
		return (scim_err_set(err, 413, NULL,
		    "A PATCH may carry at most %d operations; this one has "
		    "%zu.", SCIM_PATCH_MAX_OPS, json_array_size(ops)));
	if (json_array_size(ops) == 0)
		return (0);

	if ((ctx.doc = json_deep_copy(resource)) == NULL)
		return (nomem(&ctx));

	for (i = 0; i < json_array_size(ops); i++) {
		if (patch_one(&ctx, json_array_get(ops, i), i) == -1)
			goto fail;
	}
	ext_cleanup(&ctx, resource);

	res->changed = !json_equal(resource, ctx.doc);
	if (type == SCIM_RES_USER) {
		oa = active_state(json_object_get(resource, "active"));
		na = active_state(json_object_get(ctx.doc, "active"));
		res->active = na;
		res->active_changed = (oa != na);
		/* The names the policy index resolves principals by. */
		res->identity_changed =
		    !same_value(json_object_get(resource, "userName"),
		    json_object_get(ctx.doc, "userName")) ||
		    !same_value(json_object_get(resource, "externalId"),
		    json_object_get(ctx.doc, "externalId")) ||
		    !same_value(json_object_get(resource, "emails"),
		    json_object_get(ctx.doc, "emails"));
	}
	if (member_export(&ctx, &res->members) == -1)
		goto fail;
	res->members_changed = res->members.clear || res->members.nadd > 0 ||
	    res->members.nremove > 0;
	res->access_changed = res->active_changed || res->members_changed ||
	    res->identity_changed;

	if (res->changed) {
		/*
		 * Swap the contents in: deleting never allocates, so only
		 * the final update can fail, and only for lack of memory.
		 */
		json_object_foreach_safe(resource, tmp, key, val) {
			if (json_object_get(ctx.doc, key) == NULL)
				(void)json_object_del(resource, key);
		}
		if (json_object_update(resource, ctx.doc) == -1) {
			(void)nomem(&ctx);
			goto fail;
		}
	}
	ctx_cleanup(&ctx);
	return (0);

fail:
	ctx_cleanup(&ctx);
	scim_patch_result_cleanup(res);
	return (-1);
}

static int
nomem(struct patch_ctx *ctx)
{
	return (scim_err_set(ctx->err, 500, NULL,
	    "Out of memory applying the PATCH."));
}

/*
 * Every operation may visit a stored list; 10,000 operations on a full
 * list must not turn a small body into seconds of CPU.
 */
static int
work_charge(struct patch_ctx *ctx, size_t n)
{
	ctx->work += n;
	if (ctx->work <= SCIM_PATCH_MAX_WORK)
		return (0);
	return (scim_err_set(ctx->err, 413, NULL, "This PATCH touches too "
	    "many values at once; split it into smaller requests."));
}

static void
ctx_cleanup(struct patch_ctx *ctx)
{
	size_t		i;

	for (i = 0; i < ctx->nments; i++)
		free(ctx->ments[i].id);
	free(ctx->ments);
	hashmap_cleanup(&ctx->mmap);
	json_decref(ctx->doc);
	ctx->ments = NULL;
	ctx->nments = ctx->cments = 0;
	ctx->doc = NULL;
}

/* Structural names are case-insensitive (RFC 7643 section 2.1). */
static json_t *
obj_get_ci(const json_t *obj, const char *name)
{
	const char	*key;
	json_t		*val;

	if ((val = json_object_get(obj, name)) != NULL)
		return (val);
	/* Cast: jansson's iteration macros are not const-correct. */
	json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
		if (strcasecmp(key, name) == 0)
			return (val);
	}
	return (NULL);
}

/* null, "", [] and {} all mean "unassigned" (RFC 7643 section 2.5). */
static int
json_blank(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return (1);
	if (json_is_string(v))
		return (json_string_length(v) == 0);
	if (json_is_array(v))
		return (json_array_size(v) == 0);
	if (json_is_object(v))
		return (json_object_size(v) == 0);
	return (0);
}

static int
same_value(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (json_equal(a, b));
}

static int
active_state(const json_t *v)
{
	if (json_is_true(v))
		return (1);
	if (json_is_false(v))
		return (0);
	return (-1);
}

static int
patch_one(struct patch_ctx *ctx, const json_t *opv, size_t idx)
{
	const json_t	*opname, *path, *value;
	const char	*s;
	enum patch_op	 op;

	if (!json_is_object(opv))
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "Operations[%zu] must be an object with \"op\", \"path\" "
		    "and \"value\".", idx));
	opname = obj_get_ci(opv, "op");
	if (!json_is_string(opname))
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "Operations[%zu] has no \"op\" string.", idx));
	/* Entra 7.1: "Add", "Replace", "Remove"; any case is accepted. */
	s = json_string_value(opname);
	if (strcasecmp(s, "add") == 0)
		op = PATCH_ADD;
	else if (strcasecmp(s, "replace") == 0)
		op = PATCH_REPLACE;
	else if (strcasecmp(s, "remove") == 0)
		op = PATCH_REMOVE;
	else
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "Operations[%zu]: unknown op \"%.40s\"; use add, replace "
		    "or remove.", idx, s));

	value = obj_get_ci(opv, "value");
	path = obj_get_ci(opv, "path");
	if (path != NULL && !json_is_null(path) && !json_is_string(path))
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_PATH,
		    "Operations[%zu]: \"path\" must be a string.", idx));

	if (path == NULL || json_is_null(path) ||
	    json_string_length(path) == 0) {
		if (op == PATCH_REMOVE)
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_NO_TARGET, "Operations[%zu]: remove needs "
			    "a \"path\" naming what to remove.", idx));
		return (patch_nopath(ctx, op, value));
	}
	return (patch_path(ctx, op, json_string_value(path), value, 0));
}

/*
 * No path: value is an object of attributes.  Keys are resolved as paths
 * (Entra 7.8: "name.givenName", "urn:...:User:employeeNumber"), and a key
 * that is a schema URN carries that schema's attributes.
 */
static int
patch_nopath(struct patch_ctx *ctx, enum patch_op op, const json_t *value)
{
	const struct scim_schema	*schema;
	const char			*key;
	json_t				*val;

	if (!json_is_object(value))
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "Without a \"path\", the value of %s must be an object "
		    "of attributes.", op == PATCH_ADD ? "add" : "replace"));

	json_object_foreach((json_t *)(uintptr_t)value, key, val) {
		if (strcasecmp(key, "schemas") == 0)
			continue;
		if ((schema = scim_schema_by_urn(ctx->type, key)) != NULL) {
			if (patch_schema(ctx, op, schema, val) == -1)
				return (-1);
			continue;
		}
		if (patch_path(ctx, op, key, val, 1) == -1)
			return (-1);
	}
	return (0);
}

/* The target is a whole schema: "urn:...:enterprise:2.0:User". */
static int
patch_schema(struct patch_ctx *ctx, enum patch_op op,
    const struct scim_schema *schema, const json_t *value)
{
	const char	*key;
	json_t		*val;
	char		*path;
	size_t		 ulen, klen;
	int		 rc;

	if (op == PATCH_REMOVE || json_is_null(value)) {
		if (!schema->extension)
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_PATH, "The core schema %s cannot "
			    "be removed.", schema->urn));
		(void)json_object_del(ctx->doc, schema->urn);
		return (0);
	}
	if (!json_is_object(value))
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "The value for %s must be an object of its attributes.",
		    schema->urn));

	json_object_foreach((json_t *)(uintptr_t)value, key, val) {
		if (strcasecmp(key, "schemas") == 0)
			continue;
		if (strncasecmp(key, "urn:", 4) == 0) {
			rc = patch_path(ctx, op, key, val, 1);
		} else {
			ulen = strlen(schema->urn);
			klen = strlen(key);
			if (klen > SCIM_PATCH_MAX_PATH)
				return (scim_err_set(ctx->err, 400,
				    SCIM_ERR_INVALID_PATH, "Attribute name "
				    "too long in %s.", schema->urn));
			if ((path = malloc(ulen + klen + 2)) == NULL)
				return (nomem(ctx));
			memcpy(path, schema->urn, ulen);
			path[ulen] = ':';
			memcpy(path + ulen + 1, key, klen + 1);
			rc = patch_path(ctx, op, path, val, 1);
			free(path);
		}
		if (rc == -1)
			return (-1);
	}
	return (0);
}

static int
patch_path(struct patch_ctx *ctx, enum patch_op op, const char *text,
    const json_t *value, int nopath)
{
	const struct scim_schema	*schema;
	struct scim_path		 p;
	int				 rc;

	if (strlen(text) > SCIM_PATCH_MAX_PATH)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_PATH,
		    "The path is longer than %d bytes.", SCIM_PATCH_MAX_PATH));
	if ((schema = scim_schema_by_urn(ctx->type, text)) != NULL)
		return (patch_schema(ctx, op, schema, value));

	memset(&p, 0, sizeof(p));
	if (scim_path_parse(ctx->type, text, &p, ctx->err) == -1)
		return (-1);
	if (ctx->type == SCIM_RES_GROUP && !p.ref.schema->extension &&
	    strcmp(p.ref.attr->name, "members") == 0)
		rc = patch_members(ctx, op, &p, value);
	else
		rc = patch_attr(ctx, op, &p, value, nopath);
	scim_path_clear(&p);
	return (rc);
}

static int
patch_attr(struct patch_ctx *ctx, enum patch_op op, const struct scim_path *p,
    const json_t *value, int nopath)
{
	const struct scim_attr	*attr, *sub;
	char			 name[PATCH_NAME_MAX];

	attr = p->ref.attr;
	sub = p->ref.sub;
	if (attr->mutability == SCIM_MUT_READONLY ||
	    (sub != NULL && sub->mutability == SCIM_MUT_READONLY) ||
	    strcmp(attr->name, "schemas") == 0) {
		if (nopath)
			return (0);
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Attribute '%s' is read-only and cannot be changed by "
		    "PATCH.", scim_attr_ref_name(&p->ref, name,
		    sizeof(name))));
	}
	if (op != PATCH_REMOVE && value == NULL)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s of '%s' needs a \"value\".",
		    op == PATCH_ADD ? "add" : "replace",
		    scim_attr_ref_name(&p->ref, name, sizeof(name))));

	if (p->filter != NULL)
		return (patch_filtered(ctx, op, p, value));
	if (sub != NULL)
		return (patch_sub(ctx, op, &p->ref, value));
	return (patch_whole(ctx, op, &p->ref, value));
}

/* Remove ref->attr from its container, honouring required/immutable. */
static int
patch_unset(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    json_t *container, const json_t *cur)
{
	char		name[PATCH_NAME_MAX];

	if (ref->attr->required)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Attribute '%s' is required and cannot be removed or "
		    "emptied.", scim_attr_ref_name(ref, name, sizeof(name))));
	if (cur == NULL)
		return (0);
	if (ref->attr->mutability == SCIM_MUT_IMMUTABLE)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Attribute '%s' is immutable.",
		    scim_attr_ref_name(ref, name, sizeof(name))));
	(void)json_object_del(container, ref->attr->name);
	return (0);
}

/* "path": "attr" (no filter, no sub-attribute). */
static int
patch_whole(struct patch_ctx *ctx, enum patch_op op,
    const struct scim_attr_ref *ref, const json_t *value)
{
	const struct scim_attr	*attr = ref->attr;
	json_t			*container, *cur, *v, *merged, *arr;
	char			 name[PATCH_NAME_MAX];
	int			 rc, ignore;

	container = scim_schema_container(ctx->doc, ref, 0);
	cur = container != NULL ? json_object_get(container, attr->name) :
	    NULL;
	if (json_is_null(cur))
		cur = NULL;

	if (op == PATCH_REMOVE) {
		/* Entra 7.4: remove with a value removes just those values. */
		if (!json_blank(value) && cur != NULL &&
		    attr->type == SCIM_TYPE_COMPLEX && !attr->required)
			return (patch_remove_values(ctx, ref, container, cur,
			    value));
		return (patch_unset(ctx, ref, container, cur));
	}

	if ((v = value_prepare(ctx, ref, value, 0, &ignore)) == NULL)
		return (-1);
	if (ignore) {
		json_decref(v);
		return (0);
	}
	if (attr->type == SCIM_TYPE_COMPLEX && !attr->multi_valued &&
	    scim_attr_sub(attr, "value") != NULL)
		value_prune(v);
	if (json_blank(v)) {
		json_decref(v);
		/* Adding no values to a list changes nothing. */
		if (op == PATCH_ADD && attr->multi_valued)
			return (0);
		return (patch_unset(ctx, ref, container, cur));
	}
	if (attr->mutability == SCIM_MUT_IMMUTABLE && cur != NULL &&
	    !json_equal(cur, v)) {
		json_decref(v);
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Attribute '%s' is immutable.",
		    scim_attr_ref_name(ref, name, sizeof(name))));
	}
	if ((container = scim_schema_container(ctx->doc, ref, 1)) == NULL) {
		json_decref(v);
		return (nomem(ctx));
	}

	if (!attr->multi_valued) {
		if (attr->type == SCIM_TYPE_COMPLEX &&
		    scim_attr_sub(attr, "value") == NULL) {
			/* RFC 7644 3.5.2.1/3.5.2.3: merge sub-attributes. */
			merged = json_is_object(cur) ? json_deep_copy(cur) :
			    json_object();
			if (merged == NULL || value_merge(merged, v) == -1) {
				json_decref(merged);
				json_decref(v);
				return (nomem(ctx));
			}
			json_decref(v);
			if (json_object_size(merged) == 0) {
				json_decref(merged);
				return (patch_unset(ctx, ref, container, cur));
			}
			v = merged;
		}
		rc = json_object_set_new(container, attr->name, v);
		return (rc == -1 ? nomem(ctx) : 0);
	}

	if (op == PATCH_REPLACE || !json_is_array(cur)) {
		if ((arr = json_array()) == NULL) {
			json_decref(v);
			return (nomem(ctx));
		}
	} else
		arr = json_incref(cur);
	rc = multi_append(ctx, ref, arr, v);
	json_decref(v);
	if (rc == -1) {
		json_decref(arr);
		return (-1);
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return (patch_unset(ctx, ref, container, cur));
	}
	if (arr != cur && json_object_set_new(container, attr->name,
	    arr) == -1)
		return (nomem(ctx));
	if (arr == cur)
		json_decref(arr);
	return (0);
}

/*
 * Entra 7.4: remove with a value.  Each given value removes the elements
 * it matches (every sub-attribute it names equal); a single-valued
 * complex attribute (manager) goes only if it matches.
 */
static int
patch_remove_values(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    json_t *container, json_t *cur, const json_t *value)
{
	const struct scim_attr	*attr = ref->attr;
	json_t			*vals, *keep, *elem;
	size_t			 i, j;
	int			 hit;

	if ((vals = value_prepare(ctx, ref, value, 0, &hit)) == NULL)
		return (-1);
	if (!attr->multi_valued) {
		hit = json_is_object(vals) && elem_subset(vals, cur, attr);
		json_decref(vals);
		return (hit ? patch_unset(ctx, ref, container, cur) : 0);
	}
	if (!json_is_array(cur)) {
		json_decref(vals);
		return (0);
	}
	if (work_charge(ctx, json_array_size(cur) *
	    (json_array_size(vals) + 1)) == -1) {
		json_decref(vals);
		return (-1);
	}
	if ((keep = json_array()) == NULL) {
		json_decref(vals);
		return (nomem(ctx));
	}
	for (i = 0; i < json_array_size(cur); i++) {
		elem = json_array_get(cur, i);
		hit = 0;
		for (j = 0; j < json_array_size(vals) && !hit; j++)
			hit = elem_subset(json_array_get(vals, j), elem, attr);
		if (!hit && json_array_append(keep, elem) == -1) {
			json_decref(vals);
			json_decref(keep);
			return (nomem(ctx));
		}
	}
	json_decref(vals);
	if (json_array_size(keep) == json_array_size(cur)) {
		json_decref(keep);
		return (0);
	}
	if (json_array_size(keep) == 0) {
		json_decref(keep);
		return (patch_unset(ctx, ref, container, cur));
	}
	return (json_object_set_new(container, attr->name, keep) == -1 ?
	    nomem(ctx) : 0);
}

/* "path": "attr.sub" without a filter. */
static int
patch_sub(struct patch_ctx *ctx, enum patch_op op,
    const struct scim_attr_ref *ref, const json_t *value)
{
	const struct scim_attr	*attr = ref->attr, *sub = ref->sub;
	json_t			*container, *cur, *v, *elem, *copy;
	size_t			 i;
	char			 name[PATCH_NAME_MAX];
	int			 ignore;

	container = scim_schema_container(ctx->doc, ref, 0);
	cur = container != NULL ? json_object_get(container, attr->name) :
	    NULL;

	v = NULL;
	if (op != PATCH_REMOVE) {
		if ((v = value_prepare(ctx, ref, value, 0, &ignore)) == NULL)
			return (-1);
		if (ignore) {
			json_decref(v);
			return (0);
		}
		if (json_blank(v)) {
			json_decref(v);
			v = NULL;
		}
	}
	if (v == NULL && sub->required)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Sub-attribute '%s' is required and cannot be removed.",
		    scim_attr_ref_name(ref, name, sizeof(name))));

	if (!attr->multi_valued) {
		elem = json_is_object(cur) ? cur : NULL;
		if (sub->mutability == SCIM_MUT_IMMUTABLE && elem != NULL &&
		    json_object_get(elem, sub->name) != NULL &&
		    (v == NULL || !json_equal(v,
		    json_object_get(elem, sub->name)))) {
			json_decref(v);
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_MUTABILITY, "Sub-attribute '%s' is "
			    "immutable.", scim_attr_ref_name(ref, name,
			    sizeof(name))));
		}
		if (v == NULL) {
			if (elem == NULL)
				return (0);
			(void)json_object_del(elem, sub->name);
			if (json_object_size(elem) == 0)
				(void)json_object_del(container, attr->name);
			return (0);
		}
		if (elem == NULL) {
			container = scim_schema_container(ctx->doc, ref, 1);
			if (container == NULL || (elem = json_object()) == NULL ||
			    json_object_set_new(container, attr->name,
			    elem) == -1) {
				json_decref(v);
				return (nomem(ctx));
			}
		}
		return (json_object_set_new(elem, sub->name, v) == -1 ?
		    nomem(ctx) : 0);
	}

	/* "emails.value" with no filter: every element. */
	if (work_charge(ctx, json_array_size(cur)) == -1) {
		json_decref(v);
		return (-1);
	}
	if (!json_is_array(cur) || json_array_size(cur) == 0) {
		if (v == NULL)
			return (0);
		json_decref(v);
		return (scim_err_set(ctx->err, 400, SCIM_ERR_NO_TARGET,
		    "'%s' has no values to set '%s' on; select one with a "
		    "filter such as %s[type eq \"work\"].%s.", attr->name,
		    sub->name, attr->name, sub->name));
	}
	if (v != NULL && json_is_true(v) && strcmp(sub->name, "primary") == 0 &&
	    json_array_size(cur) > 1) {
		json_decref(v);
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "Only one value of '%s' may be primary; select it with a "
		    "filter.", attr->name));
	}
	for (i = 0; i < json_array_size(cur); i++) {
		elem = json_array_get(cur, i);
		if (!json_is_object(elem))
			continue;
		if (v == NULL) {
			(void)json_object_del(elem, sub->name);
			continue;
		}
		if ((copy = json_deep_copy(v)) == NULL ||
		    json_object_set_new(elem, sub->name, copy) == -1) {
			json_decref(v);
			return (nomem(ctx));
		}
	}
	json_decref(v);
	drop_empty(cur);
	if (json_array_size(cur) == 0)
		(void)json_object_del(container, attr->name);
	return (0);
}

/* "path": "attr[filter]" or "attr[filter].sub". */
static int
patch_filtered(struct patch_ctx *ctx, enum patch_op op,
    const struct scim_path *p, const json_t *value)
{
	const struct scim_attr_ref	*ref = &p->ref;
	const struct scim_attr		*attr = ref->attr, *sub = ref->sub;
	json_t				*container, *cur, *v, *elem, *copy;
	json_t				*winner;
	size_t				 i, n, nmatch;
	char				 name[PATCH_NAME_MAX];
	unsigned char			*hit;
	int				 rc, claim, ignore;

	container = scim_schema_container(ctx->doc, ref, 0);
	cur = container != NULL ? json_object_get(container, attr->name) :
	    NULL;
	if (attr->multi_valued)
		n = json_is_array(cur) ? json_array_size(cur) : 0;
	else
		n = json_is_object(cur) ? 1 : 0;

	v = NULL;
	if (op != PATCH_REMOVE) {
		if ((v = value_prepare(ctx, ref, value, 1, &ignore)) == NULL)
			return (-1);
		if (ignore) {
			json_decref(v);
			return (0);
		}
		if (sub == NULL && op == PATCH_REPLACE)
			value_prune(v);
		if (json_blank(v)) {
			/* Setting the selected values to nothing. */
			json_decref(v);
			v = NULL;
			op = PATCH_REMOVE;
		} else if (sub == NULL && !json_is_object(v)) {
			json_decref(v);
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_VALUE, "The value for '%s' must "
			    "be an object.", attr->name));
		}
	}

	if (work_charge(ctx, n) == -1) {
		json_decref(v);
		return (-1);
	}
	if ((hit = calloc(n + 1, 1)) == NULL) {
		json_decref(v);
		return (nomem(ctx));
	}
	nmatch = 0;
	for (i = 0; i < n; i++) {
		elem = attr->multi_valued ? json_array_get(cur, i) : cur;
		if (json_is_object(elem) &&
		    scim_filter_match_element(p->filter, elem)) {
			hit[i] = 1;
			nmatch++;
		}
	}

	rc = 0;
	if (op == PATCH_REMOVE) {
		/* A filter that matches nothing removes nothing. */
		for (i = n; i-- > 0 && nmatch > 0;) {
			if (!hit[i])
				continue;
			elem = attr->multi_valued ? json_array_get(cur, i) :
			    cur;
			if (sub != NULL) {
				if (sub->required) {
					rc = scim_err_set(ctx->err, 400,
					    SCIM_ERR_MUTABILITY, "Sub-attribute "
					    "'%s' is required.",
					    scim_attr_ref_name(ref, name,
					    sizeof(name)));
					break;
				}
				(void)json_object_del(elem, sub->name);
				if (!elem_is_empty(elem))
					continue;
			}
			if (attr->multi_valued)
				(void)json_array_remove(cur, i);
			else
				(void)json_object_del(container, attr->name);
		}
		if (rc == 0 && attr->multi_valued && json_is_array(cur) &&
		    json_array_size(cur) == 0)
			(void)json_object_del(container, attr->name);
		free(hit);
		return (rc);
	}

	if (nmatch == 0) {
		free(hit);
		if (!attr->multi_valued && n > 0) {
			json_decref(v);
			return (scim_err_set(ctx->err, 400, SCIM_ERR_NO_TARGET,
			    "'%s' does not match the filter.",
			    scim_attr_ref_name(ref, name, sizeof(name))));
		}
		/* Entra 7.3: create the element the filter describes. */
		if ((elem = json_object()) == NULL) {
			json_decref(v);
			return (nomem(ctx));
		}
		if ((rc = elem_seed(ctx, ref, p->filter, elem)) == 0) {
			if (sub != NULL)
				rc = json_object_set(elem, sub->name, v);
			else
				rc = value_merge(elem, v);
			if (rc == -1)
				rc = nomem(ctx);
		}
		json_decref(v);
		if (rc == -1) {
			json_decref(elem);
			return (-1);
		}
		value_prune(elem);
		if (elem_is_empty(elem)) {
			json_decref(elem);
			return (0);
		}
		if (!attr->multi_valued) {
			container = scim_schema_container(ctx->doc, ref, 1);
			if (container == NULL || json_object_set_new(container,
			    attr->name, elem) == -1)
				return (nomem(ctx));
			return (0);
		}
		if ((copy = json_array()) == NULL ||
		    json_array_append_new(copy, elem) == -1) {
			json_decref(copy);
			return (nomem(ctx));
		}
		/* multi_append checks the size limit and "primary". */
		if (!json_is_array(cur)) {
			container = scim_schema_container(ctx->doc, ref, 1);
			if (container == NULL || (cur = json_array()) == NULL ||
			    json_object_set_new(container, attr->name,
			    cur) == -1) {
				json_decref(copy);
				return (nomem(ctx));
			}
		}
		rc = multi_append(ctx, ref, cur, copy);
		json_decref(copy);
		return (rc);
	}

	if (sub != NULL && sub->mutability == SCIM_MUT_IMMUTABLE) {
		free(hit);
		json_decref(v);
		return (scim_err_set(ctx->err, 400, SCIM_ERR_MUTABILITY,
		    "Sub-attribute '%s' is immutable.",
		    scim_attr_ref_name(ref, name, sizeof(name))));
	}
	/* Does the new value make the selected element primary? */
	if (sub != NULL)
		claim = strcmp(sub->name, "primary") == 0 && json_is_true(v);
	else
		claim = json_is_true(json_object_get(v, "primary"));
	winner = NULL;
	for (i = 0; i < n && rc == 0; i++) {
		if (!hit[i])
			continue;
		elem = attr->multi_valued ? json_array_get(cur, i) : cur;
		if (sub != NULL) {
			if ((copy = json_deep_copy(v)) == NULL ||
			    json_object_set_new(elem, sub->name, copy) == -1)
				rc = nomem(ctx);
		} else if (op == PATCH_REPLACE) {
			if ((copy = json_deep_copy(v)) == NULL)
				rc = nomem(ctx);
			else if (attr->multi_valued)
				rc = json_array_set_new(cur, i, copy);
			else
				rc = json_object_set_new(container, attr->name,
				    copy);
			if (rc == -1)
				rc = nomem(ctx);
			elem = copy;
		} else if (value_merge(elem, v) == -1)
			rc = nomem(ctx);
		if (rc == 0 && claim)
			winner = elem;
	}
	free(hit);
	json_decref(v);
	if (rc == -1)
		return (-1);
	if (attr->multi_valued) {
		if (winner != NULL && nmatch > 1)
			return (scim_err_set(ctx->err, 400,
			    SCIM_ERR_INVALID_VALUE, "The filter selects %zu "
			    "values of '%s'; only one may be primary.",
			    nmatch, attr->name));
		if (winner != NULL)
			primary_claim(cur, winner);
		drop_empty(cur);
		if (json_array_size(cur) == 0)
			(void)json_object_del(container, attr->name);
	}
	return (0);
}

/*
 * Coerce a client value for ref.  element: the value is one element of a
 * multi-valued attribute (filtered target).  Arrays of one are unwrapped
 * for single-valued targets (Entra 7.6: manager as [{"value": id}]);
 * a multi-valued target always comes back as an array.  Returns a new
 * reference (json null when the client sent nothing usable), or NULL
 * with the error set.
 */
static json_t *
value_prepare(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    const json_t *value, int element, int *ignore)
{
	const struct scim_attr	*target;
	const json_t		*v;
	json_t			*out, *wrap;
	char			 name[PATCH_NAME_MAX];
	int			 single, meaningful;

	*ignore = 0;
	target = scim_attr_ref_target(ref);
	single = !target->multi_valued || ref->sub != NULL || element;
	v = value;
	if (json_is_array(v)) {
		if (single) {
			if (json_array_size(v) == 0)
				return (json_null());
			if (json_array_size(v) > 1) {
				scim_err_set(ctx->err, 400,
				    SCIM_ERR_INVALID_VALUE, "'%s' takes one "
				    "value, not a list of %zu.",
				    scim_attr_ref_name(ref, name, sizeof(name)),
				    json_array_size(v));
				return (NULL);
			}
			v = json_array_get(v, 0);
		} else if (json_array_size(v) > SCIM_PATCH_MAX_MULTI) {
			scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
			    "'%s' may hold at most %d values.",
			    scim_attr_ref_name(ref, name, sizeof(name)),
			    SCIM_PATCH_MAX_MULTI);
			return (NULL);
		}
	}
	if (value_keys(ctx, ref, v, &meaningful) == -1)
		return (NULL);
	if ((out = scim_schema_coerce(ref, v, ctx->err)) == NULL)
		return (NULL);
	/* Only readOnly parts ({"displayName": ...} for manager): ignore. */
	if (json_blank(out) && !json_blank(v) && !meaningful)
		*ignore = 1;
	if (value_check(ctx, ref, out, 0) == -1) {
		json_decref(out);
		return (NULL);
	}
	if (!single && !json_is_array(out) && !json_is_null(out)) {
		if ((wrap = json_array()) == NULL ||
		    json_array_append_new(wrap, out) == -1) {
			json_decref(wrap);
			(void)nomem(ctx);
			return (NULL);
		}
		out = wrap;
	}
	return (out);
}

/*
 * Sub-attribute names in a complex value must exist: the schema layer
 * drops unknown ones, and a typo would then empty the attribute.
 * *meaningful: a writable sub-attribute with a value was seen.
 */
static int
value_keys(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    const json_t *v, int *meaningful)
{
	const struct scim_attr	*target, *sub;
	const json_t		*elem;
	const char		*key;
	json_t			*val;
	size_t			 i, n;
	char			 name[PATCH_NAME_MAX];

	*meaningful = 0;
	target = scim_attr_ref_target(ref);
	if (target->type != SCIM_TYPE_COMPLEX) {
		*meaningful = 1;
		return (0);
	}
	n = json_is_array(v) ? json_array_size(v) : 1;
	for (i = 0; i < n; i++) {
		elem = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_object(elem)) {
			*meaningful = 1;
			continue;
		}
		json_object_foreach((json_t *)(uintptr_t)elem, key, val) {
			if (json_is_null(val))
				continue;
			if ((sub = scim_attr_sub(target, key)) == NULL)
				return (scim_err_set(ctx->err, 400,
				    SCIM_ERR_INVALID_PATH, "'%s' has no "
				    "sub-attribute '%.64s'.",
				    scim_attr_ref_name(ref, name, sizeof(name)),
				    key));
			if (sub->mutability != SCIM_MUT_READONLY)
				*meaningful = 1;
		}
	}
	return (0);
}

/* Bound string sizes in a coerced value. */
static int
value_check(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    const json_t *v, int depth)
{
	const char	*key;
	json_t		*val;
	size_t		 i;
	char		 name[PATCH_NAME_MAX];

	if (depth > PATCH_VALUE_DEPTH)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "The value for '%s' is nested too deeply.",
		    scim_attr_ref_name(ref, name, sizeof(name))));
	if (json_is_string(v) &&
	    json_string_length(v) > SCIM_PATCH_MAX_STRING)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "A value for '%s' is longer than %d bytes.",
		    scim_attr_ref_name(ref, name, sizeof(name)),
		    SCIM_PATCH_MAX_STRING));
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			if (value_check(ctx, ref, json_array_get(v, i),
			    depth + 1) == -1)
				return (-1);
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, key, val) {
			if (value_check(ctx, ref, val, depth + 1) == -1)
				return (-1);
		}
	}
	return (0);
}

/* Drop blank sub-attributes of an object (or of each array element). */
static void
value_prune(json_t *v)
{
	const char	*key;
	json_t		*val;
	void		*tmp;
	size_t		 i;

	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			value_prune(json_array_get(v, i));
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach_safe(v, tmp, key, val) {
		if (json_blank(val))
			(void)json_object_del(v, key);
	}
}

/* Merge the sub-attributes of src into dst; a blank one deletes. */
static int
value_merge(json_t *dst, const json_t *src)
{
	const char	*key;
	json_t		*val;

	json_object_foreach((json_t *)(uintptr_t)src, key, val) {
		if (json_blank(val))
			(void)json_object_del(dst, key);
		else if (json_object_set(dst, key, val) == -1)
			return (-1);
	}
	return (0);
}

/* An element left with nothing but type/primary carries no value. */
static int
elem_is_empty(const json_t *elem)
{
	const char	*key;
	json_t		*val;

	if (!json_is_object(elem))
		return (json_blank(elem));
	json_object_foreach((json_t *)(uintptr_t)elem, key, val) {
		(void)val;
		if (strcmp(key, "type") != 0 && strcmp(key, "primary") != 0)
			return (0);
	}
	return (1);
}

static void
drop_empty(json_t *arr)
{
	size_t		i;

	for (i = json_array_size(arr); i-- > 0;) {
		if (elem_is_empty(json_array_get(arr, i)))
			(void)json_array_remove(arr, i);
	}
}

/*
 * 1 when every sub-attribute named by val has the same value in elem
 * (strings compared with the sub-attribute's caseExact).  An empty
 * pattern matches nothing, so {"$ref": null} cannot empty a list.
 */
static int
elem_subset(const json_t *val, const json_t *elem, const struct scim_attr *attr)
{
	const struct scim_attr	*sub;
	const char		*key;
	json_t			*pv, *ev;

	if (!json_is_object(val))
		return (json_equal(val, elem));
	if (!json_is_object(elem) || json_object_size(val) == 0)
		return (0);
	json_object_foreach((json_t *)(uintptr_t)val, key, pv) {
		if ((ev = json_object_get(elem, key)) == NULL)
			return (0);
		sub = scim_attr_sub(attr, key);
		if (json_is_string(pv) && json_is_string(ev)) {
			if (sub != NULL && sub->case_exact ?
			    strcmp(json_string_value(pv),
			    json_string_value(ev)) != 0 :
			    strcasecmp(json_string_value(pv),
			    json_string_value(ev)) != 0)
				return (0);
		} else if (!json_equal(pv, ev))
			return (0);
	}
	return (1);
}

/*
 * Fill a new element from the "eq" tests of a filter joined by "and"
 * (emails[type eq "work"] -> {"type": "work"}).  Anything else cannot
 * describe a single element: 400 noTarget.
 */
static int
elem_seed(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    const struct scim_filter *f, json_t *elem)
{
	struct scim_attr_ref	 sref;
	json_t			*v;
	char			 name[PATCH_NAME_MAX];

	switch (f->op) {
	case SCIM_FOP_AND:
		if (elem_seed(ctx, ref, f->left, elem) == -1)
			return (-1);
		return (elem_seed(ctx, ref, f->right, elem));
	case SCIM_FOP_EQ:
		if (f->path.name == NULL || f->path.sub != NULL)
			break;
		if (json_is_null(f->value))
			return (0);
		sref = *ref;
		if ((sref.sub = scim_attr_sub(ref->attr, f->path.name)) ==
		    NULL)
			break;
		if ((v = scim_schema_coerce(&sref, f->value, ctx->err)) ==
		    NULL)
			return (-1);
		if (json_object_set_new(elem, sref.sub->name, v) == -1)
			return (nomem(ctx));
		return (0);
	default:
		break;
	}
	return (scim_err_set(ctx->err, 400, SCIM_ERR_NO_TARGET,
	    "No value of '%s' matches the filter, and a new one can only be "
	    "created from \"eq\" tests joined by \"and\".",
	    scim_attr_ref_name(ref, name, sizeof(name))));
}

static int
array_has(const json_t *arr, const json_t *v)
{
	size_t		i;

	for (i = 0; i < json_array_size(arr); i++) {
		if (json_equal(json_array_get(arr, i), v))
			return (1);
	}
	return (0);
}

/* Canonical text of an element, for duplicate detection. */
static char *
elem_key(const json_t *v)
{
	return (json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY));
}

/*
 * Append the values of vals (an array) to arr, skipping exact duplicates
 * (hash set, so large lists stay linear) and values that carry nothing.
 * A new value with "primary": true takes the flag from the others
 * (RFC 7643 section 2.4); two new primaries are 400 invalidValue.
 */
static int
multi_append(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    json_t *arr, const json_t *vals)
{
	struct hashmap	 seen;
	char		**keys, *k;
	json_t		*v, *winner;
	size_t		 i, nkeys;
	int		 rc, nprimary, small;
	char		 name[PATCH_NAME_MAX];

	if (work_charge(ctx, json_array_size(arr) + json_array_size(vals)) ==
	    -1)
		return (-1);
	hashmap_init(&seen);
	nkeys = 0;
	rc = 0;
	keys = calloc(json_array_size(arr) + json_array_size(vals) + 1,
	    sizeof(*keys));
	if (keys == NULL)
		return (nomem(ctx));

	/* Few new values (Entra's case): compare in place, no hashing. */
	small = json_array_size(vals) <= PATCH_SMALL_ADD;
	for (i = 0; i < json_array_size(arr) && rc == 0 && !small; i++) {
		if ((k = elem_key(json_array_get(arr, i))) == NULL)
			rc = nomem(ctx);
		else {
			keys[nkeys++] = k;
			if (hashmap_put(&seen, k, k) == -1)
				rc = nomem(ctx);
		}
	}

	winner = NULL;
	nprimary = 0;
	for (i = 0; i < json_array_size(vals) && rc == 0; i++) {
		v = json_array_get(vals, i);
		value_prune(v);
		if (elem_is_empty(v))
			continue;
		if (small) {
			if (array_has(arr, v))
				continue;
		} else {
			if ((k = elem_key(v)) == NULL) {
				rc = nomem(ctx);
				break;
			}
			keys[nkeys++] = k;
			if (hashmap_get(&seen, k) != NULL)
				continue;
			if (hashmap_put(&seen, k, k) == -1) {
				rc = nomem(ctx);
				break;
			}
		}
		if (json_array_append(arr, v) == -1) {
			rc = nomem(ctx);
			break;
		}
		if (json_array_size(arr) > SCIM_PATCH_MAX_MULTI)
			rc = scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
			    "'%s' may hold at most %d values.",
			    scim_attr_ref_name(ref, name, sizeof(name)),
			    SCIM_PATCH_MAX_MULTI);
		if (json_is_true(json_object_get(v, "primary"))) {
			nprimary++;
			winner = v;
		}
	}
	hashmap_cleanup(&seen);
	for (i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (rc == -1)
		return (-1);

	if (nprimary > 1)
		return (scim_err_set(ctx->err, 400, SCIM_ERR_INVALID_VALUE,
		    "Only one value of '%s' may be primary.",
		    scim_attr_ref_name(ref, name, sizeof(name))));
	if (winner != NULL)
		primary_claim(arr, winner);
	return (0);
}

/* winner keeps "primary": true; every other element loses the flag. */
static void
primary_claim(json_t *arr, const json_t *winner)
{
	json_t		*elem;
	size_t		 i;

	for (i = 0; i < json_array_size(arr); i++) {
		elem = json_array_get(arr, i);
		if (elem != winner && json_is_object(elem))
			(void)json_object_del(elem, "primary");
	}
}

/*
 * Group members: never in the document, folded into the change set.
 * Sub-attributes other than value ($ref, display, type) are not stored,
 * so operations on them are accepted and do nothing.
 */
static int
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
		id = json_is_object(v) ? obj_get_ci(v, "value") : v;
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
			return (nomem(ctx));
		ctx->ments = ents;
		ctx->cments = ncap;
	}
	if ((ctx->ments[ctx->nments].id = strdup(id)) == NULL)
		return (nomem(ctx));
	ctx->ments[ctx->nments].state = st;
	if (hashmap_put(&ctx->mmap, ctx->ments[ctx->nments].id,
	    (void *)(uintptr_t)(ctx->nments + 1)) == -1) {
		free(ctx->ments[ctx->nments].id);
		return (nomem(ctx));
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

static int
member_export(struct patch_ctx *ctx, struct scim_patch_members *out)
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
		return (nomem(ctx));
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

/*
 * An extension object emptied by this request goes away, and so does
 * its URN in "schemas" unless the client had listed it before.
 */
static void
ext_cleanup(struct patch_ctx *ctx, const json_t *orig)
{
	const struct scim_schema *const	*exts;
	json_t				*obj, *schemas;
	const json_t			*oobj, *oschemas;
	const char			*s;
	size_t				 i, j, n;
	int				 listed;

	exts = scim_schema_extensions(ctx->type, &n);
	for (i = 0; i < n; i++) {
		obj = json_object_get(ctx->doc, exts[i]->urn);
		if (obj != NULL && !json_blank(obj))
			continue;
		oobj = json_object_get(orig, exts[i]->urn);
		if (obj != NULL)
			(void)json_object_del(ctx->doc, exts[i]->urn);
		listed = 0;
		oschemas = json_object_get(orig, "schemas");
		for (j = 0; j < json_array_size(oschemas); j++) {
			s = json_string_value(json_array_get(oschemas, j));
			if (s != NULL && strcasecmp(s, exts[i]->urn) == 0)
				listed = 1;
		}
		if (listed && json_blank(oobj))
			continue;
		schemas = json_object_get(ctx->doc, "schemas");
		for (j = json_array_size(schemas); j-- > 0;) {
			s = json_string_value(json_array_get(schemas, j));
			if (s != NULL && strcasecmp(s, exts[i]->urn) == 0)
				(void)json_array_remove(schemas, j);
		}
	}
}
