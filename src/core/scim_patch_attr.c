/*
 * scim_patch_attr: one PATCH operation applied to one attribute of the
 * working copy: the whole attribute, one sub-attribute, or the elements
 * a value filter selects (scim_patch_local.h; the choices the RFC leaves
 * open are listed in scim_patch.c).
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

static int	 patch_unset(struct patch_ctx *, const struct scim_attr_ref *,
		    json_t *, const json_t *);
static int	 patch_remove_values(struct patch_ctx *,
		    const struct scim_attr_ref *, json_t *, json_t *,
		    const json_t *);

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
int
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
		if (!patch_json_blank(value) && cur != NULL &&
		    attr->type == SCIM_TYPE_COMPLEX && !attr->required)
			return (patch_remove_values(ctx, ref, container, cur,
			    value));
		return (patch_unset(ctx, ref, container, cur));
	}

	if ((v = patch_value_prepare(ctx, ref, value, 0, &ignore)) == NULL)
		return (-1);
	if (ignore) {
		json_decref(v);
		return (0);
	}
	if (attr->type == SCIM_TYPE_COMPLEX && !attr->multi_valued &&
	    scim_attr_sub(attr, "value") != NULL)
		patch_value_prune(v);
	if (patch_json_blank(v)) {
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
		return (patch_nomem(ctx));
	}

	if (!attr->multi_valued) {
		if (attr->type == SCIM_TYPE_COMPLEX &&
		    scim_attr_sub(attr, "value") == NULL) {
			/* RFC 7644 3.5.2.1/3.5.2.3: merge sub-attributes. */
			merged = json_is_object(cur) ? json_deep_copy(cur) :
			    json_object();
			if (merged == NULL ||
			    patch_value_merge(merged, v) == -1) {
				json_decref(merged);
				json_decref(v);
				return (patch_nomem(ctx));
			}
			json_decref(v);
			if (json_object_size(merged) == 0) {
				json_decref(merged);
				return (patch_unset(ctx, ref, container, cur));
			}
			v = merged;
		}
		rc = json_object_set_new(container, attr->name, v);
		return (rc == -1 ? patch_nomem(ctx) : 0);
	}

	if (op == PATCH_REPLACE || !json_is_array(cur)) {
		if ((arr = json_array()) == NULL) {
			json_decref(v);
			return (patch_nomem(ctx));
		}
	} else
		arr = json_incref(cur);
	rc = patch_multi_append(ctx, ref, arr, v);
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
		return (patch_nomem(ctx));
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

	if ((vals = patch_value_prepare(ctx, ref, value, 0, &hit)) == NULL)
		return (-1);
	if (!attr->multi_valued) {
		hit = json_is_object(vals) &&
		    patch_elem_subset(vals, cur, attr);
		json_decref(vals);
		return (hit ? patch_unset(ctx, ref, container, cur) : 0);
	}
	if (!json_is_array(cur)) {
		json_decref(vals);
		return (0);
	}
	if (patch_work_charge(ctx, json_array_size(cur) *
	    (json_array_size(vals) + 1)) == -1) {
		json_decref(vals);
		return (-1);
	}
	if ((keep = json_array()) == NULL) {
		json_decref(vals);
		return (patch_nomem(ctx));
	}
	for (i = 0; i < json_array_size(cur); i++) {
		elem = json_array_get(cur, i);
		hit = 0;
		for (j = 0; j < json_array_size(vals) && !hit; j++)
			hit = patch_elem_subset(json_array_get(vals, j), elem,
			    attr);
		if (!hit && json_array_append(keep, elem) == -1) {
			json_decref(vals);
			json_decref(keep);
			return (patch_nomem(ctx));
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
	    patch_nomem(ctx) : 0);
}

/* "path": "attr.sub" without a filter. */
int
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
		if ((v = patch_value_prepare(ctx, ref, value, 0,
		    &ignore)) == NULL)
			return (-1);
		if (ignore) {
			json_decref(v);
			return (0);
		}
		if (patch_json_blank(v)) {
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
				return (patch_nomem(ctx));
			}
		}
		return (json_object_set_new(elem, sub->name, v) == -1 ?
		    patch_nomem(ctx) : 0);
	}

	/* "emails.value" with no filter: every element. */
	if (patch_work_charge(ctx, json_array_size(cur)) == -1) {
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
			return (patch_nomem(ctx));
		}
	}
	json_decref(v);
	patch_drop_empty(cur);
	if (json_array_size(cur) == 0)
		(void)json_object_del(container, attr->name);
	return (0);
}

/* "path": "attr[filter]" or "attr[filter].sub". */
int
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
		if ((v = patch_value_prepare(ctx, ref, value, 1,
		    &ignore)) == NULL)
			return (-1);
		if (ignore) {
			json_decref(v);
			return (0);
		}
		if (sub == NULL && op == PATCH_REPLACE)
			patch_value_prune(v);
		if (patch_json_blank(v)) {
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

	if (patch_work_charge(ctx, n) == -1) {
		json_decref(v);
		return (-1);
	}
	if ((hit = calloc(n + 1, 1)) == NULL) {
		json_decref(v);
		return (patch_nomem(ctx));
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
				if (!patch_elem_is_empty(elem))
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
			return (patch_nomem(ctx));
		}
		if ((rc = patch_elem_seed(ctx, ref, p->filter, elem)) == 0) {
			if (sub != NULL)
				rc = json_object_set(elem, sub->name, v);
			else
				rc = patch_value_merge(elem, v);
			if (rc == -1)
				rc = patch_nomem(ctx);
		}
		json_decref(v);
		if (rc == -1) {
			json_decref(elem);
			return (-1);
		}
		patch_value_prune(elem);
		if (patch_elem_is_empty(elem)) {
			json_decref(elem);
			return (0);
		}
		if (!attr->multi_valued) {
			container = scim_schema_container(ctx->doc, ref, 1);
			if (container == NULL || json_object_set_new(container,
			    attr->name, elem) == -1)
				return (patch_nomem(ctx));
			return (0);
		}
		if ((copy = json_array()) == NULL ||
		    json_array_append_new(copy, elem) == -1) {
			json_decref(copy);
			return (patch_nomem(ctx));
		}
		/* multi_append checks the size limit and "primary". */
		if (!json_is_array(cur)) {
			container = scim_schema_container(ctx->doc, ref, 1);
			if (container == NULL || (cur = json_array()) == NULL ||
			    json_object_set_new(container, attr->name,
			    cur) == -1) {
				json_decref(copy);
				return (patch_nomem(ctx));
			}
		}
		rc = patch_multi_append(ctx, ref, cur, copy);
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
				rc = patch_nomem(ctx);
		} else if (op == PATCH_REPLACE) {
			if ((copy = json_deep_copy(v)) == NULL)
				rc = patch_nomem(ctx);
			else if (attr->multi_valued)
				rc = json_array_set_new(cur, i, copy);
			else
				rc = json_object_set_new(container, attr->name,
				    copy);
			if (rc == -1)
				rc = patch_nomem(ctx);
			elem = copy;
		} else if (patch_value_merge(elem, v) == -1)
			rc = patch_nomem(ctx);
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
			patch_primary_claim(cur, winner);
		patch_drop_empty(cur);
		if (json_array_size(cur) == 0)
			(void)json_object_del(container, attr->name);
	}
	return (0);
}
