/*
 * scim_patch: the PATCH engine (see scim_patch.h for the contract; its
 * files are listed in scim_patch_local.h).
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
#include "scim_patch_local.h"

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
static void	 ctx_cleanup(struct patch_ctx *);
static void	 ext_cleanup(struct patch_ctx *, const json_t *);
static int	 active_state(const json_t *);

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
	ops = patch_obj_get_ci(body, "Operations");
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
		return (patch_nomem(&ctx));

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
	if (patch_member_export(&ctx, &res->members) == -1)
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
			(void)patch_nomem(&ctx);
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

int
patch_nomem(struct patch_ctx *ctx)
{
	return (scim_err_set(ctx->err, 500, NULL,
	    "Out of memory applying the PATCH."));
}

/*
 * Every operation may visit a stored list; 10,000 operations on a full
 * list must not turn a small body into seconds of CPU.
 */
int
patch_work_charge(struct patch_ctx *ctx, size_t n)
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
json_t *
patch_obj_get_ci(const json_t *obj, const char *name)
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
int
patch_json_blank(const json_t *v)
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
	opname = patch_obj_get_ci(opv, "op");
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

	value = patch_obj_get_ci(opv, "value");
	path = patch_obj_get_ci(opv, "path");
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
				return (patch_nomem(ctx));
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
		if (obj != NULL && !patch_json_blank(obj))
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
		if (listed && patch_json_blank(oobj))
			continue;
		schemas = json_object_get(ctx->doc, "schemas");
		for (j = json_array_size(schemas); j-- > 0;) {
			s = json_string_value(json_array_get(schemas, j));
			if (s != NULL && strcasecmp(s, exts[i]->urn) == 0)
				(void)json_array_remove(schemas, j);
		}
	}
}
