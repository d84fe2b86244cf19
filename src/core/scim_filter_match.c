/*
 * scim_filter_match: evaluation of a parsed filter (scim_filter.h)
 * against a normalised JSON resource, or against one element of a
 * multi-valued attribute for PATCH value filters.  Attribute names are
 * looked up exactly first, then case-insensitively; case-exactness and
 * dateTime ordering come from the schema the parser resolved, so the
 * answer is the one the store's SQL (scim_filter_sql.c) gives for the
 * stored document.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "idkey.h"
#include "scim_filter.h"
#include "scim_schema.h"

static const json_t		*get_ci(const json_t *, const char *);
static int			 present(const json_t *);
static int			 cmp_one(enum scim_filter_op,
				    const struct scim_attr *, const json_t *,
				    const json_t *);
static int			 test_values(const struct scim_filter *,
				    const json_t *, const struct scim_attr *);
static int			 match_node(const struct scim_filter *,
				    const json_t *, const json_t *);

/* Object member by name, exact first, then case-insensitively. */
static const json_t *
get_ci(const json_t *obj, const char *name)
{
	const char	*key;
	json_t		*o, *v;

	if (!json_is_object(obj) || name == NULL)
		return (NULL);
	o = (json_t *)(uintptr_t)obj;
	if ((v = json_object_get(o, name)) != NULL)
		return (v);
	json_object_foreach(o, key, v) {
		if (strcasecmp(key, name) == 0)
			return (v);
	}
	return (NULL);
}

static int
present(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return (0);
	if (json_is_string(v))
		return (json_string_length(v) > 0);
	if (json_is_array(v))
		return (json_array_size(v) > 0);
	if (json_is_object(v))
		return (json_object_size(v) > 0);
	return (1);
}

static int
cmp_order(enum scim_filter_op op, int c)
{
	switch (op) {
	case SCIM_FOP_EQ:
		return (c == 0);
	case SCIM_FOP_GT:
		return (c > 0);
	case SCIM_FOP_GE:
		return (c >= 0);
	case SCIM_FOP_LT:
		return (c < 0);
	case SCIM_FOP_LE:
		return (c <= 0);
	default:
		return (0);
	}
}

static int
str_op(enum scim_filter_op op, const char *a, size_t alen, const char *b,
    size_t blen, int exact)
{
	int	(*ncmp)(const char *, const char *, size_t);
	int	 c;

	ncmp = exact ? strncmp : strncasecmp;
	switch (op) {
	case SCIM_FOP_CO:
		if (blen == 0)
			return (1);
		if (exact)
			return (memmem(a, alen, b, blen) != NULL);
		return (strcasestr(a, b) != NULL);
	case SCIM_FOP_SW:
		return (alen >= blen && ncmp(a, b, blen) == 0);
	case SCIM_FOP_EW:
		return (alen >= blen && ncmp(a + alen - blen, b, blen) == 0);
	default:
		c = ncmp(a, b, alen < blen ? alen : blen);
		if (c == 0)
			c = (alen > blen) - (alen < blen);
		return (cmp_order(op, c));
	}
}

/*
 * One candidate value against the literal, for every operator but pr,
 * ne (evaluated as not-eq by the caller) and comparisons with null.
 */
/*
 * Case-insensitive equality is equality of identity keys (idkey.h), as
 * the SQL side compares userName and emails: 1, 0, or -1 when a side
 * cannot be keyed (the caller then compares bytes).
 */
static int
key_eq(const char *a, const char *b)
{
	char	*ka, *kb;
	int	 r;

	ka = idkey_dup(a, NULL);
	kb = idkey_dup(b, NULL);
	r = (ka == NULL || kb == NULL) ? -1 : strcmp(ka, kb) == 0;
	free(ka);
	free(kb);
	return (r);
}

static int
cmp_one(enum scim_filter_op op, const struct scim_attr *t, const json_t *v,
    const json_t *lit)
{
	const char	*s;
	int64_t		 s1, s2;
	long		 n1, n2;
	double		 d1, d2;
	int		 c, exact;

	if (json_is_object(v))
		v = get_ci(v, "value");
	if (v == NULL || json_is_null(v))
		return (0);

	if (json_is_string(v) && json_is_string(lit)) {
		if (t != NULL && t->type == SCIM_TYPE_DATETIME &&
		    op != SCIM_FOP_CO && op != SCIM_FOP_SW &&
		    op != SCIM_FOP_EW &&
		    scim_datetime_parse(json_string_value(v), &s1, &n1) == 0 &&
		    scim_datetime_parse(json_string_value(lit), &s2, &n2) == 0) {
			c = (s1 > s2) - (s1 < s2);
			if (c == 0)
				c = (n1 > n2) - (n1 < n2);
			return (cmp_order(op, c));
		}
		/* Without a schema we know nothing: compare exactly. */
		exact = (t == NULL) ? 1 : t->case_exact;
		if (!exact && op == SCIM_FOP_EQ &&
		    (c = key_eq(json_string_value(v),
		    json_string_value(lit))) != -1)
			return (c);
		return (str_op(op, json_string_value(v), json_string_length(v),
		    json_string_value(lit), json_string_length(lit), exact));
	}
	if (json_is_boolean(v)) {
		if (op != SCIM_FOP_EQ)
			return (0);
		if (json_is_boolean(lit))
			return (json_is_true(v) == json_is_true(lit));
		if (json_is_string(lit)) {
			/* Entra's "True"/"False" strings. */
			s = json_string_value(lit);
			if (strcasecmp(s, "true") == 0)
				return (json_is_true(v));
			if (strcasecmp(s, "false") == 0)
				return (json_is_false(v));
		}
		return (0);
	}
	if (json_is_number(v) && json_is_number(lit)) {
		if (json_is_integer(v) && json_is_integer(lit)) {
			c = (json_integer_value(v) > json_integer_value(lit)) -
			    (json_integer_value(v) < json_integer_value(lit));
			return (cmp_order(op, c));
		}
		d1 = json_number_value(v);
		d2 = json_number_value(lit);
		c = (d1 > d2) - (d1 < d2);
		return (cmp_order(op, c));
	}
	return (0);
}

/*
 * Apply a comparison or pr node to the value v of its attribute (which
 * may be an array: any element matching is enough).  t is the type the
 * literal is compared with.
 */
static int
test_values(const struct scim_filter *f, const json_t *v,
    const struct scim_attr *t)
{
	enum scim_filter_op	 op;
	size_t			 i;
	int			 any;

	if (f->op == SCIM_FOP_PR) {
		if (json_is_array(v)) {
			for (i = 0; i < json_array_size(v); i++) {
				if (present(json_array_get(v, i)))
					return (1);
			}
			return (0);
		}
		return (present(v));
	}

	op = f->op == SCIM_FOP_NE ? SCIM_FOP_EQ : f->op;
	if (json_is_null(f->value)) {
		/* eq null: absent; ne null: present; ordering: nothing. */
		if (op != SCIM_FOP_EQ)
			return (0);
		any = 0;
		if (json_is_array(v)) {
			for (i = 0; i < json_array_size(v) && !any; i++)
				any = present(json_array_get(v, i));
		} else
			any = present(v);
		return (f->op == SCIM_FOP_NE ? any : !any);
	}

	any = 0;
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v) && !any; i++)
			any = cmp_one(op, t, json_array_get(v, i), f->value);
	} else if (v != NULL)
		any = cmp_one(op, t, v, f->value);
	return (f->op == SCIM_FOP_NE ? !any : any);
}

/*
 * Collect the value a path designates: for attr.sub on a multi-valued
 * attribute that is an array of the elements' sub values, built into
 * tmp (caller decrefs).  Borrowed otherwise.
 */
static const json_t *
path_value(const struct scim_filter_path *path, const json_t *resource,
    const json_t *element, json_t **tmp)
{
	const json_t	*base, *v, *e, *sv;
	size_t		 i;

	*tmp = NULL;
	if (path->relative) {
		if (path->name == NULL)
			return (element);
		return (get_ci(element, path->name));
	}

	base = resource;
	if (path->ref.schema != NULL && path->ref.schema->extension)
		base = get_ci(resource, path->ref.schema->urn);
	v = get_ci(base, path->name);
	if (path->sub == NULL || v == NULL)
		return (v);
	if (!json_is_array(v))
		return (get_ci(v, path->sub));

	if ((*tmp = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < json_array_size(v); i++) {
		e = json_array_get(v, i);
		if ((sv = get_ci(e, path->sub)) == NULL)
			continue;
		/* Cast: jansson takes a non-const value to reference it. */
		if (json_array_append(*tmp, (json_t *)(uintptr_t)sv) == -1)
			break;
	}
	return (*tmp);
}

static int
match_node(const struct scim_filter *f, const json_t *resource,
    const json_t *element)
{
	const struct scim_attr	*t;
	const json_t		*v, *e;
	json_t			*tmp;
	size_t			 i, n;
	int			 r;

	switch (f->op) {
	case SCIM_FOP_AND:
		return (match_node(f->left, resource, element) &&
		    match_node(f->right, resource, element));
	case SCIM_FOP_OR:
		return (match_node(f->left, resource, element) ||
		    match_node(f->right, resource, element));
	case SCIM_FOP_NOT:
		return (!match_node(f->left, resource, element));
	case SCIM_FOP_VALUEPATH:
		v = path_value(&f->path, resource, element, &tmp);
		r = 0;
		n = json_is_array(v) ? json_array_size(v) : 1;
		for (i = 0; i < n && !r && v != NULL; i++) {
			e = json_is_array(v) ? json_array_get(v, i) : v;
			if (!json_is_object(e))
				continue;
			r = match_node(f->left, resource, e) &&
			    (f->right == NULL ||
			    match_node(f->right, resource, e));
		}
		json_decref(tmp);
		return (r);
	default:
		v = path_value(&f->path, resource, element, &tmp);
		t = scim_filter_path_target(&f->path);
		if (t != NULL && t->type == SCIM_TYPE_COMPLEX)
			t = scim_attr_sub(t, "value");
		r = test_values(f, v, t);
		json_decref(tmp);
		return (r);
	}
}

int
scim_filter_match(const struct scim_filter *f, const json_t *resource)
{
	if (f == NULL || !json_is_object(resource))
		return (0);
	return (match_node(f, resource, NULL));
}

int
scim_filter_match_element(const struct scim_filter *f, const json_t *element)
{
	if (f == NULL || element == NULL)
		return (0);
	return (match_node(f, NULL, element));
}
