/*
 * scim_patch_value: a client's value checked and shaped against the
 * schema before it touches the working copy, and the elements of
 * multi-valued attributes: matching, seeding from a filter, appending
 * without duplicates, one primary (scim_patch_local.h).
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

static int	 value_keys(struct patch_ctx *, const struct scim_attr_ref *,
		    const json_t *, int *);
static int	 value_check(struct patch_ctx *, const struct scim_attr_ref *,
		    const json_t *, int);
static char	*elem_key(const json_t *);
static int	 array_has(const json_t *, const json_t *);

/*
 * Coerce a client value for ref.  element: the value is one element of a
 * multi-valued attribute (filtered target).  Arrays of one are unwrapped
 * for single-valued targets (Entra 7.6: manager as [{"value": id}]);
 * a multi-valued target always comes back as an array.  Returns a new
 * reference (json null when the client sent nothing usable), or NULL
 * with the error set.
 */
json_t *
patch_value_prepare(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
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
	if (patch_json_blank(out) && !patch_json_blank(v) && !meaningful)
		*ignore = 1;
	if (value_check(ctx, ref, out, 0) == -1) {
		json_decref(out);
		return (NULL);
	}
	if (!single && !json_is_array(out) && !json_is_null(out)) {
		if ((wrap = json_array()) == NULL ||
		    json_array_append_new(wrap, out) == -1) {
			json_decref(wrap);
			(void)patch_nomem(ctx);
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
void
patch_value_prune(json_t *v)
{
	const char	*key;
	json_t		*val;
	void		*tmp;
	size_t		 i;

	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			patch_value_prune(json_array_get(v, i));
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach_safe(v, tmp, key, val) {
		if (patch_json_blank(val))
			(void)json_object_del(v, key);
	}
}

/* Merge the sub-attributes of src into dst; a blank one deletes. */
int
patch_value_merge(json_t *dst, const json_t *src)
{
	const char	*key;
	json_t		*val;

	json_object_foreach((json_t *)(uintptr_t)src, key, val) {
		if (patch_json_blank(val))
			(void)json_object_del(dst, key);
		else if (json_object_set(dst, key, val) == -1)
			return (-1);
	}
	return (0);
}

/* An element left with nothing but type/primary carries no value. */
int
patch_elem_is_empty(const json_t *elem)
{
	const char	*key;
	json_t		*val;

	if (!json_is_object(elem))
		return (patch_json_blank(elem));
	json_object_foreach((json_t *)(uintptr_t)elem, key, val) {
		(void)val;
		if (strcmp(key, "type") != 0 && strcmp(key, "primary") != 0)
			return (0);
	}
	return (1);
}

void
patch_drop_empty(json_t *arr)
{
	size_t		i;

	for (i = json_array_size(arr); i-- > 0;) {
		if (patch_elem_is_empty(json_array_get(arr, i)))
			(void)json_array_remove(arr, i);
	}
}

/*
 * 1 when every sub-attribute named by val has the same value in elem
 * (strings compared with the sub-attribute's caseExact).  An empty
 * pattern matches nothing, so {"$ref": null} cannot empty a list.
 */
int
patch_elem_subset(const json_t *val, const json_t *elem,
    const struct scim_attr *attr)
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
int
patch_elem_seed(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    const struct scim_filter *f, json_t *elem)
{
	struct scim_attr_ref	 sref;
	json_t			*v;
	char			 name[PATCH_NAME_MAX];

	switch (f->op) {
	case SCIM_FOP_AND:
		if (patch_elem_seed(ctx, ref, f->left, elem) == -1)
			return (-1);
		return (patch_elem_seed(ctx, ref, f->right, elem));
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
			return (patch_nomem(ctx));
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
int
patch_multi_append(struct patch_ctx *ctx, const struct scim_attr_ref *ref,
    json_t *arr, const json_t *vals)
{
	struct hashmap	 seen;
	char		**keys, *k;
	json_t		*v, *winner;
	size_t		 i, nkeys;
	int		 rc, nprimary, small;
	char		 name[PATCH_NAME_MAX];

	if (patch_work_charge(ctx, json_array_size(arr) +
	    json_array_size(vals)) == -1)
		return (-1);
	hashmap_init(&seen);
	nkeys = 0;
	rc = 0;
	keys = calloc(json_array_size(arr) + json_array_size(vals) + 1,
	    sizeof(*keys));
	if (keys == NULL)
		return (patch_nomem(ctx));

	/* Few new values (Entra's case): compare in place, no hashing. */
	small = json_array_size(vals) <= PATCH_SMALL_ADD;
	for (i = 0; i < json_array_size(arr) && rc == 0 && !small; i++) {
		if ((k = elem_key(json_array_get(arr, i))) == NULL)
			rc = patch_nomem(ctx);
		else {
			keys[nkeys++] = k;
			if (hashmap_put(&seen, k, k) == -1)
				rc = patch_nomem(ctx);
		}
	}

	winner = NULL;
	nprimary = 0;
	for (i = 0; i < json_array_size(vals) && rc == 0; i++) {
		v = json_array_get(vals, i);
		patch_value_prune(v);
		if (patch_elem_is_empty(v))
			continue;
		if (small) {
			if (array_has(arr, v))
				continue;
		} else {
			if ((k = elem_key(v)) == NULL) {
				rc = patch_nomem(ctx);
				break;
			}
			keys[nkeys++] = k;
			if (hashmap_get(&seen, k) != NULL)
				continue;
			if (hashmap_put(&seen, k, k) == -1) {
				rc = patch_nomem(ctx);
				break;
			}
		}
		if (json_array_append(arr, v) == -1) {
			rc = patch_nomem(ctx);
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
		patch_primary_claim(arr, winner);
	return (0);
}

/* winner keeps "primary": true; every other element loses the flag. */
void
patch_primary_claim(json_t *arr, const json_t *winner)
{
	json_t		*elem;
	size_t		 i;

	for (i = 0; i < json_array_size(arr); i++) {
		elem = json_array_get(arr, i);
		if (elem != winner && json_is_object(elem))
			(void)json_object_del(elem, "primary");
	}
}
