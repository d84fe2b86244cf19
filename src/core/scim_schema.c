/*
 * scim_schema: static RFC 7643 attribute tables (sections 4.1, 4.2, 4.3
 * and 8.7) and the operations built on them: lookup, coercion,
 * normalisation of client documents and projection of stored ones
 * (those two in their own files: scim_schema_local.h).
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
#include "scim_schema_local.h"

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

const struct scim_attr *
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
	if (json_is_array(schemas) &&
	    !schema_schemas_has(schemas, ref->schema->urn)) {
		if (json_array_append_new(schemas,
		    json_string(ref->schema->urn)) == -1)
			return (NULL);
	}
	return (ext);
}

int
schema_schemas_has(const json_t *schemas, const char *urn)
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
