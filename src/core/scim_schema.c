/*
 * scim_schema: static RFC 7643 attribute tables (sections 4.1, 4.2, 4.3
 * and 8.7) and the operations built on them: lookup, coercion,
 * normalisation of client documents and projection of stored ones.
 *
 * Values the RFC leaves to the provider were chosen for Entra: id and
 * externalId are caseExact (they are opaque identifiers), userName and
 * displayName are not (Entra matches them case-insensitively), and id,
 * schemas and meta are always returned.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "policy.h"
#include "scim_error.h"
#include "scim_schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define RW	SCIM_MUT_READWRITE
#define RO	SCIM_MUT_READONLY
#define IM	SCIM_MUT_IMMUTABLE
#define WO	SCIM_MUT_WRITEONLY

#define DEF	SCIM_RET_DEFAULT
#define ALW	SCIM_RET_ALWAYS
#define NEV	SCIM_RET_NEVER

/* name, type, multi, caseExact, mutability, returned, uniqueness, req */
#define ATTR(n, t, ce, mu, re)	\
	{ n, t, 0, ce, mu, re, SCIM_UNIQ_NONE, 0, NULL, 0 }
#define STR(n)		ATTR(n, SCIM_TYPE_STRING, 0, RW, DEF)
#define CPLX(n, mv, mu, re, s)	\
	{ n, SCIM_TYPE_COMPLEX, mv, 0, mu, re, SCIM_UNIQ_NONE, 0, s, NELEM(s) }

/* Projection selection marks (see scim_schema_project). */
#define SEL_NONE	0
#define SEL_ALL		1
#define SEL_SUBS	2
#define SEL_MAX_ATTRS	32

static const struct scim_attr meta_subs[] = {
	ATTR("resourceType", SCIM_TYPE_STRING, 1, RO, DEF),
	ATTR("created", SCIM_TYPE_DATETIME, 0, RO, DEF),
	ATTR("lastModified", SCIM_TYPE_DATETIME, 0, RO, DEF),
	ATTR("location", SCIM_TYPE_REFERENCE, 1, RO, DEF),
	ATTR("version", SCIM_TYPE_STRING, 1, RO, DEF),
};

static const struct scim_attr name_subs[] = {
	STR("formatted"),
	STR("familyName"),
	STR("givenName"),
	STR("middleName"),
	STR("honorificPrefix"),
	STR("honorificSuffix"),
};

/* emails, phoneNumbers, ims, entitlements, roles share this shape. */
static const struct scim_attr plural_subs[] = {
	STR("value"),
	STR("display"),
	STR("type"),
	ATTR("primary", SCIM_TYPE_BOOLEAN, 0, RW, DEF),
};

static const struct scim_attr photo_subs[] = {
	ATTR("value", SCIM_TYPE_REFERENCE, 0, RW, DEF),
	STR("display"),
	STR("type"),
	ATTR("primary", SCIM_TYPE_BOOLEAN, 0, RW, DEF),
};

static const struct scim_attr cert_subs[] = {
	ATTR("value", SCIM_TYPE_BINARY, 1, RW, DEF),
	STR("display"),
	STR("type"),
	ATTR("primary", SCIM_TYPE_BOOLEAN, 0, RW, DEF),
};

static const struct scim_attr address_subs[] = {
	STR("formatted"),
	STR("streetAddress"),
	STR("locality"),
	STR("region"),
	STR("postalCode"),
	STR("country"),
	STR("type"),
	ATTR("primary", SCIM_TYPE_BOOLEAN, 0, RW, DEF),
};

static const struct scim_attr user_group_subs[] = {
	ATTR("value", SCIM_TYPE_STRING, 0, RO, DEF),
	ATTR("$ref", SCIM_TYPE_REFERENCE, 0, RO, DEF),
	ATTR("display", SCIM_TYPE_STRING, 0, RO, DEF),
	ATTR("type", SCIM_TYPE_STRING, 0, RO, DEF),
};

static const struct scim_attr member_subs[] = {
	ATTR("value", SCIM_TYPE_STRING, 0, IM, DEF),
	ATTR("$ref", SCIM_TYPE_REFERENCE, 0, IM, DEF),
	STR("display"),
	ATTR("type", SCIM_TYPE_STRING, 0, IM, DEF),
};

static const struct scim_attr manager_subs[] = {
	STR("value"),
	ATTR("$ref", SCIM_TYPE_REFERENCE, 0, RW, DEF),
	ATTR("displayName", SCIM_TYPE_STRING, 0, RO, DEF),
};

/* RFC 7643 section 3.1 common attributes, first in both core tables. */
#define COMMON_ATTRS							\
	{ "id", SCIM_TYPE_STRING, 0, 1, RO, ALW, SCIM_UNIQ_SERVER, 0,	\
	    NULL, 0 },							\
	{ "schemas", SCIM_TYPE_REFERENCE, 1, 1, RW, ALW,		\
	    SCIM_UNIQ_NONE, 0, NULL, 0 },				\
	ATTR("externalId", SCIM_TYPE_STRING, 1, RW, DEF),		\
	CPLX("meta", 0, RO, ALW, meta_subs)

static const struct scim_attr user_attrs[] = {
	COMMON_ATTRS,
	{ "userName", SCIM_TYPE_STRING, 0, 0, RW, DEF, SCIM_UNIQ_SERVER, 1,
	    NULL, 0 },
	CPLX("name", 0, RW, DEF, name_subs),
	STR("displayName"),
	STR("nickName"),
	ATTR("profileUrl", SCIM_TYPE_REFERENCE, 0, RW, DEF),
	STR("title"),
	STR("userType"),
	STR("preferredLanguage"),
	STR("locale"),
	STR("timezone"),
	ATTR("active", SCIM_TYPE_BOOLEAN, 0, RW, DEF),
	ATTR("password", SCIM_TYPE_STRING, 0, WO, NEV),
	CPLX("emails", 1, RW, DEF, plural_subs),
	CPLX("phoneNumbers", 1, RW, DEF, plural_subs),
	CPLX("ims", 1, RW, DEF, plural_subs),
	CPLX("photos", 1, RW, DEF, photo_subs),
	CPLX("addresses", 1, RW, DEF, address_subs),
	CPLX("groups", 1, RO, DEF, user_group_subs),
	CPLX("entitlements", 1, RW, DEF, plural_subs),
	CPLX("roles", 1, RW, DEF, plural_subs),
	CPLX("x509Certificates", 1, RW, DEF, cert_subs),
};

static const struct scim_attr enterprise_attrs[] = {
	STR("employeeNumber"),
	STR("costCenter"),
	STR("organization"),
	STR("division"),
	STR("department"),
	CPLX("manager", 0, RW, DEF, manager_subs),
};

static const struct scim_attr group_attrs[] = {
	COMMON_ATTRS,
	/* Unique per directory: Entra matches groups on it. */
	{ "displayName", SCIM_TYPE_STRING, 0, 0, RW, DEF, SCIM_UNIQ_SERVER, 1,
	    NULL, 0 },
	CPLX("members", 1, RW, DEF, member_subs),
};

static const struct scim_schema user_schema = {
	SCIM_SCHEMA_USER, "User", 0, user_attrs, NELEM(user_attrs)
};

static const struct scim_schema enterprise_schema = {
	SCIM_SCHEMA_ENTERPRISE, "EnterpriseUser", 1, enterprise_attrs,
	NELEM(enterprise_attrs)
};

static const struct scim_schema group_schema = {
	SCIM_SCHEMA_GROUP, "Group", 0, group_attrs, NELEM(group_attrs)
};

static const struct scim_schema *const user_exts[] = { &enterprise_schema };

struct sel {
	const struct scim_schema	*schema;
	unsigned char			 mark[SEL_MAX_ATTRS];
	uint32_t			 subs[SEL_MAX_ATTRS];
};

static const struct scim_attr	*schema_attr(const struct scim_schema *,
				    const char *, size_t);
static const char		*type_word(enum scim_attr_type);
static json_t			*coerce_one(const struct scim_attr *,
				    const json_t *, const char *,
				    struct scim_err *);
static int			 json_nonempty(const json_t *);
static int			 schemas_has(const json_t *, const char *);
static int			 normalize_attr(enum scim_resource, json_t *,
				    const struct scim_attr_ref *,
				    const json_t *, struct scim_err *);
static int			 sel_parse(enum scim_resource, const char *,
				    struct sel *, size_t);
static struct sel		*sel_find(struct sel *, size_t,
				    const struct scim_schema *);
static json_t			*project_value(const struct scim_attr *,
				    const json_t *, uint32_t, int);
static int			 project_schema(json_t *,
				    const struct scim_schema *, const json_t *,
				    struct sel *, int, int);

const struct scim_schema *
scim_schema_core(enum scim_resource type)
{
	switch (type) {
	case SCIM_RES_USER:
		return (&user_schema);
	case SCIM_RES_GROUP:
		return (&group_schema);
	default:
		return (NULL);
	}
}

const struct scim_schema *const *
scim_schema_extensions(enum scim_resource type, size_t *n)
{
	if (type == SCIM_RES_USER) {
		*n = NELEM(user_exts);
		return (user_exts);
	}
	*n = 0;
	return (NULL);
}

const struct scim_schema *
scim_schema_by_urn(enum scim_resource type, const char *urn)
{
	const struct scim_schema		*core;
	const struct scim_schema *const		*exts;
	size_t					 i, n;

	if ((core = scim_schema_core(type)) == NULL || urn == NULL)
		return (NULL);
	if (strcasecmp(core->urn, urn) == 0)
		return (core);
	exts = scim_schema_extensions(type, &n);
	for (i = 0; i < n; i++) {
		if (strcasecmp(exts[i]->urn, urn) == 0)
			return (exts[i]);
	}
	return (NULL);
}

static const struct scim_attr *
schema_attr(const struct scim_schema *schema, const char *name, size_t len)
{
	size_t		i;

	for (i = 0; i < schema->nattrs; i++) {
		if (strlen(schema->attrs[i].name) == len &&
		    strncasecmp(schema->attrs[i].name, name, len) == 0)
			return (&schema->attrs[i]);
	}
	return (NULL);
}

const struct scim_attr *
scim_attr_sub(const struct scim_attr *attr, const char *name)
{
	size_t		i;

	if (attr == NULL || name == NULL)
		return (NULL);
	for (i = 0; i < attr->nsubs; i++) {
		if (strcasecmp(attr->subs[i].name, name) == 0)
			return (&attr->subs[i]);
	}
	return (NULL);
}

int
scim_schema_lookup(enum scim_resource type, const char *path,
    struct scim_attr_ref *out)
{
	const struct scim_schema		*core, *schema, *cand[4];
	const struct scim_schema *const		*exts;
	const struct scim_attr			*attr;
	const char				*rest, *dot;
	size_t					 i, n, ncand, ulen, best;

	memset(out, 0, sizeof(*out));
	if ((core = scim_schema_core(type)) == NULL || path == NULL)
		return (-1);

	exts = scim_schema_extensions(type, &n);
	ncand = 0;
	cand[ncand++] = core;
	for (i = 0; i < n && ncand < NELEM(cand); i++)
		cand[ncand++] = exts[i];

	/*
	 * "urn:...:2.0:User:name.givenName": the schema is the longest
	 * known URN followed by ':'; splitting on '.' first would cut the
	 * URN at "2.0".
	 */
	schema = NULL;
	best = 0;
	for (i = 0; i < ncand; i++) {
		ulen = strlen(cand[i]->urn);
		if (ulen > best && strncasecmp(path, cand[i]->urn, ulen) == 0 &&
		    path[ulen] == ':') {
			schema = cand[i];
			best = ulen;
		}
	}

	if (schema != NULL) {
		rest = path + best + 1;
	} else {
		if (strncasecmp(path, "urn:", 4) == 0)
			return (-1);
		rest = path;
	}

	dot = strchr(rest, '.');
	n = (dot != NULL) ? (size_t)(dot - rest) : strlen(rest);
	if (n == 0)
		return (-1);

	attr = NULL;
	if (schema != NULL) {
		attr = schema_attr(schema, rest, n);
	} else {
		for (i = 0; i < ncand && attr == NULL; i++) {
			if ((attr = schema_attr(cand[i], rest, n)) != NULL)
				schema = cand[i];
		}
	}
	if (attr == NULL)
		return (-1);

	out->schema = schema;
	out->attr = attr;
	if (dot != NULL) {
		if (attr->type != SCIM_TYPE_COMPLEX ||
		    (out->sub = scim_attr_sub(attr, dot + 1)) == NULL) {
			memset(out, 0, sizeof(*out));
			return (-1);
		}
	}
	return (0);
}

int
scim_attr_is_multi(const struct scim_attr *a)
{
	return (a != NULL && a->multi_valued);
}

int
scim_attr_is_complex(const struct scim_attr *a)
{
	return (a != NULL && a->type == SCIM_TYPE_COMPLEX);
}

int
scim_attr_is_boolean(const struct scim_attr *a)
{
	return (a != NULL && a->type == SCIM_TYPE_BOOLEAN);
}

int
scim_attr_is_readonly(const struct scim_attr *a)
{
	return (a != NULL && a->mutability == SCIM_MUT_READONLY);
}

int
scim_attr_is_immutable(const struct scim_attr *a)
{
	return (a != NULL && a->mutability == SCIM_MUT_IMMUTABLE);
}

const struct scim_attr *
scim_attr_ref_target(const struct scim_attr_ref *ref)
{
	if (ref == NULL)
		return (NULL);
	return (ref->sub != NULL ? ref->sub : ref->attr);
}

const char *
scim_attr_ref_name(const struct scim_attr_ref *ref, char *buf, size_t len)
{
	if (len == 0)
		return (buf);
	if (ref == NULL || ref->attr == NULL) {
		buf[0] = '\0';
		return (buf);
	}
	(void)snprintf(buf, len, "%s%s%s%s%s",
	    (ref->schema != NULL && ref->schema->extension) ?
	    ref->schema->urn : "",
	    (ref->schema != NULL && ref->schema->extension) ? ":" : "",
	    ref->attr->name, ref->sub != NULL ? "." : "",
	    ref->sub != NULL ? ref->sub->name : "");
	return (buf);
}

json_t *
scim_schema_container(json_t *doc, const struct scim_attr_ref *ref,
    int create)
{
	json_t		*ext, *schemas;

	if (!json_is_object(doc) || ref == NULL || ref->schema == NULL)
		return (NULL);
	if (!ref->schema->extension)
		return (doc);

	if ((ext = json_object_get(doc, ref->schema->urn)) != NULL)
		return (json_is_object(ext) ? ext : NULL);
	if (!create)
		return (NULL);

	if ((ext = json_object()) == NULL)
		return (NULL);
	if (json_object_set_new(doc, ref->schema->urn, ext) == -1)
		return (NULL);

	schemas = json_object_get(doc, "schemas");
	if (schemas == NULL) {
		if ((schemas = json_array()) == NULL ||
		    json_object_set_new(doc, "schemas", schemas) == -1)
			return (NULL);
	}
	if (json_is_array(schemas) && !schemas_has(schemas, ref->schema->urn)) {
		if (json_array_append_new(schemas,
		    json_string(ref->schema->urn)) == -1)
			return (NULL);
	}
	return (ext);
}

static const char *
type_word(enum scim_attr_type t)
{
	switch (t) {
	case SCIM_TYPE_STRING:
		return ("a string");
	case SCIM_TYPE_BOOLEAN:
		return ("a boolean (true or false)");
	case SCIM_TYPE_DECIMAL:
		return ("a number");
	case SCIM_TYPE_INTEGER:
		return ("an integer");
	case SCIM_TYPE_DATETIME:
		return ("a dateTime string such as \"2024-05-13T04:42:34Z\"");
	case SCIM_TYPE_REFERENCE:
		return ("a reference (URI string)");
	case SCIM_TYPE_BINARY:
		return ("a base64 string");
	case SCIM_TYPE_COMPLEX:
		return ("an object");
	}
	return ("a value");
}

static const char *
json_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	default:
		return ("null");
	}
}

/*
 * Coerce one value (never an array of a multi-valued attribute: the
 * caller iterates) to attr's type.  label names it in errors.
 */
static json_t *
coerce_one(const struct scim_attr *attr, const json_t *v, const char *label,
    struct scim_err *err)
{
	const struct scim_attr	*sub;
	const char		*key, *s;
	json_t			*out, *cv;
	const json_t		*val;
	void			*iter;
	char			 sublabel[160];
	int64_t			 secs;
	long			 nsec;

	if (json_is_null(v))
		return (json_null());

	switch (attr->type) {
	case SCIM_TYPE_COMPLEX:
		if (!json_is_object(v)) {
			/* Entra sends manager and members as a bare id. */
			if ((json_is_string(v) || json_is_integer(v)) &&
			    (sub = scim_attr_sub(attr, "value")) != NULL) {
				if ((cv = coerce_one(sub, v, label, err)) == NULL)
					return (NULL);
				if ((out = json_object()) == NULL) {
					json_decref(cv);
					goto nomem;
				}
				if (json_object_set_new(out, "value", cv) == -1) {
					json_decref(out);
					goto nomem;
				}
				return (out);
			}
			break;
		}
		if ((out = json_object()) == NULL)
			goto nomem;
		/* Cast: jansson's iterator API is not const-correct. */
		iter = json_object_iter((json_t *)(uintptr_t)v);
		while (iter != NULL) {
			key = json_object_iter_key(iter);
			val = json_object_iter_value(iter);
			iter = json_object_iter_next((json_t *)(uintptr_t)v,
			    iter);
			if ((sub = scim_attr_sub(attr, key)) == NULL ||
			    sub->mutability == SCIM_MUT_READONLY ||
			    json_is_null(val))
				continue;
			(void)snprintf(sublabel, sizeof(sublabel), "%s.%s",
			    label, sub->name);
			if ((cv = coerce_one(sub, val, sublabel, err)) == NULL) {
				json_decref(out);
				return (NULL);
			}
			if (json_object_set_new(out, sub->name, cv) == -1) {
				json_decref(out);
				goto nomem;
			}
		}
		return (out);
	case SCIM_TYPE_BOOLEAN:
		if (json_is_boolean(v))
			return (json_deep_copy(v));
		if (json_is_string(v)) {
			s = json_string_value(v);
			if (strcasecmp(s, "true") == 0)
				return (json_true());
			if (strcasecmp(s, "false") == 0)
				return (json_false());
		}
		break;
	case SCIM_TYPE_INTEGER:
		if (json_is_integer(v))
			return (json_deep_copy(v));
		break;
	case SCIM_TYPE_DECIMAL:
		if (json_is_number(v))
			return (json_deep_copy(v));
		break;
	case SCIM_TYPE_DATETIME:
		if (json_is_string(v)) {
			if (scim_datetime_parse(json_string_value(v), &secs,
			    &nsec) == 0)
				return (json_deep_copy(v));
			scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "Attribute '%s' must be %s; \"%.60s\" is not.",
			    label, type_word(attr->type), json_string_value(v));
			return (NULL);
		}
		break;
	case SCIM_TYPE_STRING:
	case SCIM_TYPE_REFERENCE:
	case SCIM_TYPE_BINARY:
		if (json_is_string(v))
			return (json_deep_copy(v));
		break;
	}

	scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
	    "Attribute '%s' must be %s%s, not %s; fix the attribute mapping "
	    "for it.", label, attr->multi_valued ? "a list of " : "",
	    type_word(attr->type), json_word(v));
	return (NULL);

nomem:
	scim_err_set(err, 500, NULL, "Out of memory coercing '%s'.", label);
	return (NULL);
}

static int
json_nonempty(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return (0);
	if (json_is_array(v))
		return (json_array_size(v) > 0);
	if (json_is_object(v))
		return (json_object_size(v) > 0);
	return (1);
}

json_t *
scim_schema_coerce(const struct scim_attr_ref *ref, const json_t *value,
    struct scim_err *err)
{
	const struct scim_attr	*attr;
	json_t			*out, *cv;
	size_t			 i;
	char			 label[160];

	if ((attr = scim_attr_ref_target(ref)) == NULL || value == NULL) {
		scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "No attribute to coerce the value for.");
		return (NULL);
	}
	(void)scim_attr_ref_name(ref, label, sizeof(label));

	if (!attr->multi_valued || !json_is_array(value))
		return (coerce_one(attr, value, label, err));

	if ((out = json_array()) == NULL) {
		scim_err_set(err, 500, NULL, "Out of memory.");
		return (NULL);
	}
	for (i = 0; i < json_array_size(value); i++) {
		cv = coerce_one(attr, json_array_get(value, i), label, err);
		if (cv == NULL) {
			json_decref(out);
			return (NULL);
		}
		if (!json_nonempty(cv)) {
			json_decref(cv);
			continue;
		}
		if (json_array_append_new(out, cv) == -1) {
			json_decref(out);
			scim_err_set(err, 500, NULL, "Out of memory.");
			return (NULL);
		}
	}
	return (out);
}

static int
schemas_has(const json_t *schemas, const char *urn)
{
	size_t		i;
	const char	*s;

	for (i = 0; i < json_array_size(schemas); i++) {
		s = json_string_value(json_array_get(schemas, i));
		if (s != NULL && strcasecmp(s, urn) == 0)
			return (1);
	}
	return (0);
}

/*
 * Coerce value for ref and store it in the new document out (merging
 * into an existing complex value when a dotted key supplied part of it).
 */
static int
normalize_attr(enum scim_resource type, json_t *out,
    const struct scim_attr_ref *ref, const json_t *value,
    struct scim_err *err)
{
	json_t		*container, *cv, *wrap, *cur;

	(void)type;
	if (json_is_null(value) || ref->attr->mutability == SCIM_MUT_READONLY)
		return (0);
	if (ref->sub != NULL && ref->sub->mutability == SCIM_MUT_READONLY)
		return (0);

	if ((cv = scim_schema_coerce(ref, value, err)) == NULL)
		return (-1);
	if (!json_nonempty(cv)) {
		json_decref(cv);
		return (0);
	}
	if (ref->attr->multi_valued && ref->sub == NULL && !json_is_array(cv)) {
		if ((wrap = json_array()) == NULL ||
		    json_array_append_new(wrap, cv) == -1) {
			json_decref(wrap);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		cv = wrap;
	}

	if ((container = scim_schema_container(out, ref, 1)) == NULL) {
		json_decref(cv);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}

	if (ref->sub == NULL) {
		cur = json_object_get(container, ref->attr->name);
		if (json_is_object(cur) && json_is_object(cv)) {
			/* "name" after "name.givenName": merge, last wins. */
			if (json_object_update(cur, cv) == -1) {
				json_decref(cv);
				return (scim_err_set(err, 500, NULL,
				    "Out of memory."));
			}
			json_decref(cv);
			return (0);
		}
		if (json_object_set_new(container, ref->attr->name, cv) == -1)
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		return (0);
	}

	/* Dotted key such as "name.givenName" (Entra's flagged dialect). */
	if (ref->attr->multi_valued) {
		json_decref(cv);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute '%s.%s' addresses a multi-valued attribute; "
		    "send '%s' as a list of objects instead.", ref->attr->name,
		    ref->sub->name, ref->attr->name));
	}
	cur = json_object_get(container, ref->attr->name);
	if (!json_is_object(cur)) {
		if ((cur = json_object()) == NULL ||
		    json_object_set_new(container, ref->attr->name, cur) == -1) {
			json_decref(cv);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
	}
	if (json_object_set_new(cur, ref->sub->name, cv) == -1)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	return (0);
}

int
scim_schema_normalize(enum scim_resource type, json_t *doc,
    struct scim_err *err)
{
	const struct scim_schema	*core, *ext;
	const struct scim_attr		*attr;
	struct scim_attr_ref		 ref;
	json_t				*out, *schemas, *val, *sv;
	const char			*key, *subkey, *req;
	void				*siter;
	size_t				 i;

	if ((core = scim_schema_core(type)) == NULL)
		return (scim_err_set(err, 500, NULL, "No schema for resource."));
	if (!json_is_object(doc))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "The request body must be a JSON object (a SCIM %s "
		    "resource).", core->name));

	if ((out = json_object()) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	if ((schemas = json_array()) == NULL ||
	    json_object_set_new(out, "schemas", schemas) == -1)
		goto nomem;

	json_object_foreach(doc, key, val) {
		if (strcasecmp(key, "schemas") != 0)
			continue;
		if (json_is_null(val))
			continue;
		if (!json_is_array(val))
			goto badschemas;
		for (i = 0; i < json_array_size(val); i++) {
			sv = json_array_get(val, i);
			if (!json_is_string(sv))
				goto badschemas;
			/* Unknown URNs (Microsoft's ADSCIM one) are kept. */
			if (schemas_has(schemas, json_string_value(sv)))
				continue;
			if (json_array_append(schemas, sv) == -1)
				goto nomem;
		}
	}
	if (!schemas_has(schemas, core->urn)) {
		if (json_array_insert_new(schemas, 0,
		    json_string(core->urn)) == -1)
			goto nomem;
	}

	json_object_foreach(doc, key, val) {
		if (strcasecmp(key, "schemas") == 0 || json_is_null(val))
			continue;

		if ((ext = scim_schema_by_urn(type, key)) != NULL) {
			if (ext == core)
				continue;
			if (!json_is_object(val)) {
				json_decref(out);
				return (scim_err_set(err, 400,
				    SCIM_ERR_INVALID_VALUE, "'%s' must be an "
				    "object holding the extension's "
				    "attributes, not %s.", ext->urn,
				    json_word(val)));
			}
			siter = json_object_iter(val);
			while (siter != NULL) {
				subkey = json_object_iter_key(siter);
				sv = json_object_iter_value(siter);
				siter = json_object_iter_next(val, siter);
				memset(&ref, 0, sizeof(ref));
				ref.schema = ext;
				if ((attr = schema_attr(ext, subkey,
				    strlen(subkey))) == NULL)
					continue;
				ref.attr = attr;
				if (normalize_attr(type, out, &ref, sv,
				    err) == -1) {
					json_decref(out);
					return (-1);
				}
			}
			continue;
		}

		if (scim_schema_lookup(type, key, &ref) == -1)
			continue;
		if (ref.attr->mutability == SCIM_MUT_READONLY)
			continue;
		if (normalize_attr(type, out, &ref, val, err) == -1) {
			json_decref(out);
			return (-1);
		}
	}

	req = (type == SCIM_RES_USER) ? "userName" : "displayName";
	val = json_object_get(out, req);
	if (!json_is_string(val) || json_string_length(val) == 0) {
		json_decref(out);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute '%s' is required and must be a non-empty "
		    "string; map a source attribute to %s.", req, req));
	}

	json_object_clear(doc);
	if (json_object_update(doc, out) == -1)
		goto nomem;
	json_decref(out);
	return (0);

badschemas:
	json_decref(out);
	return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
	    "Attribute 'schemas' must be a list of schema URN strings, e.g. "
	    "[\"%s\"].", core->urn));
nomem:
	json_decref(out);
	return (scim_err_set(err, 500, NULL, "Out of memory."));
}

static struct sel *
sel_find(struct sel *sels, size_t n, const struct scim_schema *schema)
{
	size_t		i;

	for (i = 0; i < n; i++) {
		if (sels[i].schema == schema)
			return (&sels[i]);
	}
	return (NULL);
}

/*
 * Mark the names of a comma-separated attributes list in sels.  A whole
 * extension URN marks every attribute of that extension.
 */
static int
sel_parse(enum scim_resource type, const char *list, struct sel *sels,
    size_t nsels)
{
	const struct scim_schema	*schema;
	struct scim_attr_ref		 ref;
	struct sel			*s;
	const char			*p, *end;
	char				 name[256], *br;
	size_t				 len, idx, sidx, i;

	for (p = list; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(name))
			continue;
		memcpy(name, p, len);
		name[len] = '\0';

		/* Microsoft's suite sends attributes=emails[type eq "work"]. */
		if ((br = strchr(name, '[')) != NULL)
			*br = '\0';

		if ((schema = scim_schema_by_urn(type, name)) != NULL) {
			if ((s = sel_find(sels, nsels, schema)) == NULL)
				continue;
			for (i = 0; i < schema->nattrs; i++)
				s->mark[i] = SEL_ALL;
			continue;
		}
		if (scim_schema_lookup(type, name, &ref) == -1)
			continue;
		if ((s = sel_find(sels, nsels, ref.schema)) == NULL)
			continue;
		idx = (size_t)(ref.attr - ref.schema->attrs);
		if (idx >= SEL_MAX_ATTRS)
			continue;
		if (ref.sub == NULL) {
			s->mark[idx] = SEL_ALL;
		} else if (s->mark[idx] != SEL_ALL) {
			sidx = (size_t)(ref.sub - ref.attr->subs);
			if (sidx < 32) {
				s->mark[idx] = SEL_SUBS;
				s->subs[idx] |= (uint32_t)1 << sidx;
			}
		}
	}
	return (0);
}

/*
 * Copy a complex value (object, or array of objects) keeping (include)
 * or dropping (!include) the sub-attributes in mask.  NULL when nothing
 * is left (or on allocation failure, which projection treats alike).
 */
static json_t *
project_value(const struct scim_attr *attr, const json_t *v, uint32_t mask,
    int include)
{
	const struct scim_attr	*sub;
	const char		*key;
	json_t			*out, *e, *obj;
	void			*iter;
	size_t			 i, sidx;
	int			 in;

	if (json_is_array(v)) {
		if ((out = json_array()) == NULL)
			return (NULL);
		for (i = 0; i < json_array_size(v); i++) {
			e = project_value(attr, json_array_get(v, i), mask,
			    include);
			if (e != NULL && json_array_append_new(out, e) == -1) {
				json_decref(out);
				return (NULL);
			}
		}
		if (json_array_size(out) == 0) {
			json_decref(out);
			return (NULL);
		}
		return (out);
	}
	if (!json_is_object(v))
		return (include ? NULL : json_deep_copy(v));

	obj = (json_t *)(uintptr_t)v;
	if ((out = json_object()) == NULL)
		return (NULL);
	for (iter = json_object_iter(obj); iter != NULL;
	    iter = json_object_iter_next(obj, iter)) {
		key = json_object_iter_key(iter);
		if ((sub = scim_attr_sub(attr, key)) == NULL) {
			in = !include;
		} else {
			sidx = (size_t)(sub - attr->subs);
			in = (sidx < 32 && (mask & ((uint32_t)1 << sidx))) ?
			    include : !include;
			if (sub->returned == SCIM_RET_ALWAYS)
				in = 1;
			if (sub->returned == SCIM_RET_NEVER)
				in = 0;
		}
		if (!in)
			continue;
		if (json_object_set_new(out, key,
		    json_deep_copy(json_object_iter_value(iter))) == -1) {
			json_decref(out);
			return (NULL);
		}
	}
	if (json_object_size(out) == 0) {
		json_decref(out);
		return (NULL);
	}
	return (out);
}

/*
 * Copy the attributes of one schema from src (the resource or its
 * extension object) into dst.  mode: 0 none given, 1 attributes,
 * 2 excludedAttributes.
 */
static int
project_schema(json_t *dst, const struct scim_schema *schema,
    const json_t *src, struct sel *s, int mode, int core)
{
	const struct scim_attr	*attr;
	const char		*key;
	json_t			*obj, *cv;
	void			*iter;
	size_t			 idx;
	int			 mark;

	obj = (json_t *)(uintptr_t)src;
	for (iter = json_object_iter(obj); iter != NULL;
	    iter = json_object_iter_next(obj, iter)) {
		key = json_object_iter_key(iter);
		if (core && strncasecmp(key, "urn:", 4) == 0)
			continue;	/* extension objects: caller */
		attr = schema_attr(schema, key, strlen(key));
		if (attr == NULL) {
			/* Not ours to judge; only a positive list drops it. */
			if (mode == 1)
				continue;
			cv = json_deep_copy(json_object_iter_value(iter));
		} else {
			idx = (size_t)(attr - schema->attrs);
			mark = (idx < SEL_MAX_ATTRS && s != NULL) ?
			    s->mark[idx] : SEL_NONE;
			if (attr->returned == SCIM_RET_NEVER)
				continue;
			if (attr->returned == SCIM_RET_ALWAYS)
				mark = (mode == 1) ? SEL_ALL : SEL_NONE;
			if (mode == 1) {
				if (mark == SEL_NONE)
					continue;
				if (mark == SEL_ALL)
					cv = json_deep_copy(
					    json_object_iter_value(iter));
				else
					cv = project_value(attr,
					    json_object_iter_value(iter),
					    s->subs[idx], 1);
			} else {
				if (attr->returned == SCIM_RET_REQUEST &&
				    mark == SEL_NONE)
					continue;
				if (mode == 2 && mark == SEL_ALL)
					continue;
				if (mode == 2 && mark == SEL_SUBS)
					cv = project_value(attr,
					    json_object_iter_value(iter),
					    s->subs[idx], 0);
				else
					cv = json_deep_copy(
					    json_object_iter_value(iter));
			}
		}
		if (cv == NULL)
			continue;
		if (json_object_set_new(dst, attr != NULL ? attr->name : key,
		    cv) == -1)
			return (-1);
	}
	return (0);
}

json_t *
scim_schema_project(enum scim_resource type, const json_t *resource,
    const char *attributes, const char *excluded)
{
	const struct scim_schema		*core, *schema;
	const struct scim_schema *const		*exts;
	struct sel				 sels[4];
	json_t					*out, *ext_out;
	const json_t				*ext_src;
	const char				*key;
	void					*iter;
	size_t					 i, n, nsels;
	int					 mode;

	if (!json_is_object(resource))
		return (NULL);
	if ((core = scim_schema_core(type)) == NULL)
		return (json_deep_copy(resource));

	mode = 0;
	if (attributes != NULL && attributes[0] != '\0')
		mode = 1;
	else if (excluded != NULL && excluded[0] != '\0')
		mode = 2;

	memset(sels, 0, sizeof(sels));
	nsels = 0;
	sels[nsels++].schema = core;
	exts = scim_schema_extensions(type, &n);
	for (i = 0; i < n && nsels < NELEM(sels); i++)
		sels[nsels++].schema = exts[i];
	if (mode != 0)
		(void)sel_parse(type, mode == 1 ? attributes : excluded, sels,
		    nsels);

	if ((out = json_object()) == NULL)
		return (NULL);
	if (project_schema(out, core, resource, &sels[0], mode, 1) == -1)
		goto fail;

	iter = json_object_iter((json_t *)(uintptr_t)resource);
	for (; iter != NULL; iter = json_object_iter_next(
	    (json_t *)(uintptr_t)resource, iter)) {
		key = json_object_iter_key(iter);
		if (strncasecmp(key, "urn:", 4) != 0)
			continue;
		ext_src = json_object_iter_value(iter);
		schema = scim_schema_by_urn(type, key);
		if (schema == NULL || schema == core ||
		    !json_is_object(ext_src)) {
			if (mode != 1 && json_object_set_new(out, key,
			    json_deep_copy(ext_src)) == -1)
				goto fail;
			continue;
		}
		if ((ext_out = json_object()) == NULL)
			goto fail;
		if (project_schema(ext_out, schema, ext_src,
		    sel_find(sels, nsels, schema), mode, 0) == -1) {
			json_decref(ext_out);
			goto fail;
		}
		if (json_object_size(ext_out) == 0) {
			json_decref(ext_out);
			continue;
		}
		if (json_object_set_new(out, schema->urn, ext_out) == -1)
			goto fail;
	}
	return (out);

fail:
	json_decref(out);
	return (NULL);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

static int
digits(const char **pp, int n, int *out)
{
	const char	*p = *pp;
	int		 i, v;

	for (i = 0, v = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return (-1);
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return (0);
}

int
scim_datetime_parse(const char *s, int64_t *secs, long *nsec)
{
	const char	*p = s;
	int		 y, mo, d, h, mi, sec, oh, om, ndig, sign;
	long		 frac;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	h = mi = sec = 0;
	frac = 0;
	if (digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    digits(&p, 2, &mo) == -1 || *p++ != '-' ||
	    digits(&p, 2, &d) == -1)
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return (-1);
	if (mo == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (-1);

	oh = om = 0;
	sign = 1;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't')
		return (-1);
	p++;
	if (digits(&p, 2, &h) == -1 || *p++ != ':' ||
	    digits(&p, 2, &mi) == -1 || *p++ != ':' ||
	    digits(&p, 2, &sec) == -1)
		return (-1);
	if (h > 23 || mi > 59 || sec > 60)
		return (-1);
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return (-1);
		for (ndig = 0; isdigit((unsigned char)*p); p++, ndig++) {
			if (ndig < 9)
				frac = frac * 10 + (*p - '0');
		}
		for (; ndig < 9; ndig++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = (*p == '-') ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) == -1 || *p++ != ':' ||
		    digits(&p, 2, &om) == -1 || oh > 23 || om > 59)
			return (-1);
	}
	/* No offset at all: xsd:dateTime allows it; we read it as UTC. */
	if (*p != '\0')
		return (-1);

done:
	*secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	*nsec = frac;
	return (0);
}

/* Code points in a UTF-8 string (continuation bytes not counted). */
static size_t
utf8_chars(const char *s)
{
	size_t	n;

	for (n = 0; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

/* One string attribute under the rule; what names it in the error. */
static int
check_string(const json_t *v, size_t max_chars, int optional,
    const char *what, struct scim_err *err)
{
	struct policy_err	perr;

	if (v == NULL || json_is_null(v)) {
		if (optional)
			return (0);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s is required.", what));
	}
	if (!json_is_string(v))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s must be a string.", what));
	if (max_chars > 0 && utf8_chars(json_string_value(v)) > max_chars)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s is longer than %zu characters.", what, max_chars));
	memset(&perr, 0, sizeof(perr));
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    policy_check_value(json_string_value(v), POLICY_NAME_MAX, 0, what,
	    &perr) == -1)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "%s.",
		    perr.msg[0] != '\0' ? perr.msg :
		    "a value contains a control character"));
	return (0);
}

/* 1 when attribute key differs between old (may be NULL) and doc. */
static int
changed(const json_t *old, const json_t *doc, const char *key)
{
	const json_t	*a, *b;

	if (old == NULL)
		return (1);
	a = json_object_get(old, key);
	b = json_object_get(doc, key);
	if (a == NULL || b == NULL)
		return (a != b);
	return (!json_equal(a, b));
}

int
scim_schema_check_stored(enum scim_resource type, const json_t *old,
    const json_t *doc, struct scim_err *err)
{
	const json_t	*emails, *e;
	size_t		 i;

	if (type == SCIM_RES_GROUP) {
		if (changed(old, doc, "displayName"))
			return (check_string(json_object_get(doc,
			    "displayName"), SCIM_NAME_CHARS, 0, "displayName",
			    err) == -1 ? -1 : 0);
		return (0);
	}
	if (changed(old, doc, "userName") &&
	    check_string(json_object_get(doc, "userName"), SCIM_NAME_CHARS, 0,
	    "userName", err) == -1)
		return (-1);
	if (changed(old, doc, "externalId") &&
	    check_string(json_object_get(doc, "externalId"), 0, 1,
	    "externalId", err) == -1)
		return (-1);
	if (!changed(old, doc, "emails"))
		return (0);
	emails = json_object_get(doc, "emails");
	if (json_array_size(emails) > POLICY_LIST_MAX)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "emails holds more than %d values.", POLICY_LIST_MAX));
	json_array_foreach(emails, i, e) {
		/* Entries without a value hold no alias (see scim_store). */
		if (json_object_get(e, "value") == NULL ||
		    json_is_null(json_object_get(e, "value")))
			continue;
		if (check_string(json_object_get(e, "value"), 0, 0,
		    "emails.value", err) == -1)
			return (-1);
	}
	return (0);
}
