/*
 * scim_discovery: ServiceProviderConfig, schema and resource type
 * documents, generated from the scim_schema tables.
 *
 * Characteristics (type, multiValued, required, caseExact, mutability,
 * returned, uniqueness, subAttributes) come from the tables only; the
 * tables lack prose and referenceTypes, so those are looked up here by
 * "attr" or "attr.sub" path.  A path missing from the prose table gets
 * no description: the unit test walks the tables and fails on it, so a
 * new attribute cannot slip out undescribed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "scim_discovery.h"
#include "scim_error.h"
#include "scim_schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define PATH_MAX_LEN	128

/* Per schema name ("User", "EnterpriseUser", "Group"); "*" is any. */
struct prose {
	const char	*schema;
	const char	*path;
	const char	*text;
};

struct ref_types {
	const char	*schema;
	const char	*path;
	const char	*types[3];
};

struct res_type {
	enum scim_resource	 type;
	const char		*id;
	const char		*endpoint;
	const char		*description;
};

static const struct res_type res_types[] = {
	{ SCIM_RES_USER, "User", "/Users", "User Account" },
	{ SCIM_RES_GROUP, "Group", "/Groups", "Group" },
};

static const struct prose schema_prose[] = {
	{ "User", NULL, "User Account" },
	{ "EnterpriseUser", NULL, "Enterprise User" },
	{ "Group", NULL, "Group" },
};

static const struct prose attr_prose[] = {
	/* Common attributes (RFC 7643 section 3.1). */
	{ "*", "id", "Identifier the service provider assigned to the "
	    "resource; stable and never reused." },
	{ "*", "externalId", "Identifier of the resource in the "
	    "provisioning client (for Entra ID, map objectId here)." },
	{ "*", "meta", "Metadata the service provider maintains." },
	{ "*", "meta.resourceType", "Name of the resource type." },
	{ "*", "meta.created", "When the resource was created." },
	{ "*", "meta.lastModified", "When the resource last changed." },
	{ "*", "meta.location", "URI of the resource." },
	{ "*", "meta.version", "Weak entity tag of the current version, "
	    "also sent as the ETag header." },

	/* Shape shared by emails, phoneNumbers, ims, roles, ... */
	{ "User", "*.value", "The value itself (address, number, name)." },
	{ "User", "*.display", "Human-readable form, for display only." },
	{ "User", "*.type", "Label of the value, such as work, home or "
	    "other." },
	{ "User", "*.primary", "Whether this is the preferred value of the "
	    "attribute." },

	{ "User", "userName", "Unique sign-in name of the user (Entra ID: "
	    "userPrincipalName); unique per directory, compared "
	    "case-insensitively." },
	{ "User", "name", "Components of the user's name." },
	{ "User", "name.formatted", "Full name, formatted for display." },
	{ "User", "name.familyName", "Family name (last name)." },
	{ "User", "name.givenName", "Given name (first name)." },
	{ "User", "name.middleName", "Middle name(s)." },
	{ "User", "name.honorificPrefix", "Title before the name, e.g. "
	    "Dr." },
	{ "User", "name.honorificSuffix", "Suffix after the name, e.g. "
	    "III." },
	{ "User", "displayName", "Name of the user, suitable for display." },
	{ "User", "nickName", "Casual name of the user." },
	{ "User", "profileUrl", "URL of the user's online profile." },
	{ "User", "title", "Job title." },
	{ "User", "userType", "Relation of the user to the organization, "
	    "e.g. Employee or Contractor." },
	{ "User", "preferredLanguage", "Preferred language, e.g. en-US." },
	{ "User", "locale", "Locale for dates, numbers and currency, e.g. "
	    "en-US." },
	{ "User", "timezone", "Time zone, IANA name, e.g. Europe/Berlin." },
	{ "User", "active", "Administrative status; false disables the "
	    "user, who stays readable." },
	{ "User", "password", "Password; write-only, never returned." },
	{ "User", "emails", "Email addresses of the user." },
	{ "User", "phoneNumbers", "Telephone numbers of the user." },
	{ "User", "ims", "Instant messaging addresses of the user." },
	{ "User", "photos", "URLs of images of the user." },
	{ "User", "photos.value", "URL of the image." },
	{ "User", "addresses", "Physical mailing addresses of the user." },
	{ "User", "addresses.formatted", "Full address, formatted for "
	    "display." },
	{ "User", "addresses.streetAddress", "Street address." },
	{ "User", "addresses.locality", "City or locality." },
	{ "User", "addresses.region", "State or region." },
	{ "User", "addresses.postalCode", "Postal code." },
	{ "User", "addresses.country", "Country, ISO 3166-1 alpha-2 "
	    "code." },
	{ "User", "groups", "Groups the user belongs to; read-only, "
	    "changed through the group's members." },
	{ "User", "groups.value", "id of the group." },
	{ "User", "groups.$ref", "URI of the group." },
	{ "User", "groups.display", "displayName of the group." },
	{ "User", "groups.type", "How the user is a member (direct)." },
	{ "User", "entitlements", "Entitlements of the user." },
	{ "User", "roles", "Roles of the user." },
	{ "User", "x509Certificates", "X.509 certificates of the user." },
	{ "User", "x509Certificates.value", "DER certificate, base64." },

	{ "EnterpriseUser", "employeeNumber", "Number assigned by the "
	    "organization (Entra ID: employeeId)." },
	{ "EnterpriseUser", "costCenter", "Cost center." },
	{ "EnterpriseUser", "organization", "Organization." },
	{ "EnterpriseUser", "division", "Division." },
	{ "EnterpriseUser", "department", "Department." },
	{ "EnterpriseUser", "manager", "The user's manager, another user of "
	    "the same directory." },
	{ "EnterpriseUser", "manager.value", "id of the manager's User "
	    "resource." },
	{ "EnterpriseUser", "manager.$ref", "URI of the manager's User "
	    "resource." },
	{ "EnterpriseUser", "manager.displayName", "displayName of the "
	    "manager." },

	{ "Group", "displayName", "Name of the group, suitable for "
	    "display." },
	{ "Group", "members", "Members of the group." },
	{ "Group", "members.value", "id of the member's resource." },
	{ "Group", "members.$ref", "URI of the member's resource." },
	{ "Group", "members.display", "displayName of the member." },
	{ "Group", "members.type", "Resource type of the member." },
};

static const struct ref_types ref_table[] = {
	{ "*", "meta.location", { "uri", NULL, NULL } },
	{ "User", "profileUrl", { "external", NULL, NULL } },
	{ "User", "photos.value", { "external", NULL, NULL } },
	{ "User", "groups.$ref", { "Group", NULL, NULL } },
	{ "EnterpriseUser", "manager.$ref", { "User", NULL, NULL } },
	{ "Group", "members.$ref", { "User", "Group", NULL } },
};

static const char	*type_name(enum scim_attr_type);
static const char	*mutability_name(enum scim_mutability);
static const char	*returned_name(enum scim_returned);
static const char	*uniqueness_name(enum scim_uniqueness);
static void		 attr_path(const struct scim_attr *,
			    const struct scim_attr *, char *, size_t);
static int		 schema_match(const char *, const struct scim_schema *);
static const char	*prose_find(const struct scim_schema *, const char *);
static const struct ref_types	*ref_find(const struct scim_schema *,
				    const char *);
static json_t		*attr_json(const struct scim_schema *,
			    const struct scim_attr *,
			    const struct scim_attr *);
static int		 set_meta(json_t *, const char *, const char *,
			    const char *, const char *);
static json_t		*list_response(json_t *);
static const struct scim_schema	*schema_by_id(const char *);
static const struct res_type	*res_type_find(enum scim_resource);

static const char *
type_name(enum scim_attr_type t)
{
	switch (t) {
	case SCIM_TYPE_STRING:
		return ("string");
	case SCIM_TYPE_BOOLEAN:
		return ("boolean");
	case SCIM_TYPE_DECIMAL:
		return ("decimal");
	case SCIM_TYPE_INTEGER:
		return ("integer");
	case SCIM_TYPE_DATETIME:
		return ("dateTime");
	case SCIM_TYPE_REFERENCE:
		return ("reference");
	case SCIM_TYPE_BINARY:
		return ("binary");
	case SCIM_TYPE_COMPLEX:
		return ("complex");
	}
	return ("string");
}

static const char *
mutability_name(enum scim_mutability m)
{
	switch (m) {
	case SCIM_MUT_READWRITE:
		return ("readWrite");
	case SCIM_MUT_READONLY:
		return ("readOnly");
	case SCIM_MUT_IMMUTABLE:
		return ("immutable");
	case SCIM_MUT_WRITEONLY:
		return ("writeOnly");
	}
	return ("readWrite");
}

static const char *
returned_name(enum scim_returned r)
{
	switch (r) {
	case SCIM_RET_DEFAULT:
		return ("default");
	case SCIM_RET_ALWAYS:
		return ("always");
	case SCIM_RET_NEVER:
		return ("never");
	case SCIM_RET_REQUEST:
		return ("request");
	}
	return ("default");
}

static const char *
uniqueness_name(enum scim_uniqueness u)
{
	switch (u) {
	case SCIM_UNIQ_NONE:
		return ("none");
	case SCIM_UNIQ_SERVER:
		return ("server");
	case SCIM_UNIQ_GLOBAL:
		return ("global");
	}
	return ("none");
}

/* "attr" or "attr.sub"; names in the tables are short, so no overflow. */
static void
attr_path(const struct scim_attr *attr, const struct scim_attr *sub,
    char *buf, size_t len)
{
	if (sub != NULL)
		(void)snprintf(buf, len, "%s.%s", attr->name, sub->name);
	else
		(void)snprintf(buf, len, "%s", attr->name);
}

static int
schema_match(const char *key, const struct scim_schema *schema)
{
	return (strcmp(key, "*") == 0 || strcmp(key, schema->name) == 0);
}

/*
 * Exact path first; for a sub-attribute, then the "*.sub" entry of the
 * schema (the shared shape of the plural attributes).
 */
static const char *
prose_find(const struct scim_schema *schema, const char *path)
{
	const char	*dot;
	size_t		 i;

	for (i = 0; i < NELEM(attr_prose); i++) {
		if (schema_match(attr_prose[i].schema, schema) &&
		    strcmp(attr_prose[i].path, path) == 0)
			return (attr_prose[i].text);
	}
	if ((dot = strchr(path, '.')) == NULL)
		return (NULL);
	for (i = 0; i < NELEM(attr_prose); i++) {
		if (schema_match(attr_prose[i].schema, schema) &&
		    attr_prose[i].path[0] == '*' &&
		    strcmp(attr_prose[i].path + 1, dot) == 0)
			return (attr_prose[i].text);
	}
	return (NULL);
}

static const struct ref_types *
ref_find(const struct scim_schema *schema, const char *path)
{
	size_t		i;

	for (i = 0; i < NELEM(ref_table); i++) {
		if (schema_match(ref_table[i].schema, schema) &&
		    strcmp(ref_table[i].path, path) == 0)
			return (&ref_table[i]);
	}
	return (NULL);
}

const char *
scim_discovery_describe(const struct scim_schema *schema,
    const struct scim_attr *attr, const struct scim_attr *sub)
{
	char	path[PATH_MAX_LEN];

	if (schema == NULL || attr == NULL)
		return (NULL);
	attr_path(attr, sub, path, sizeof(path));
	return (prose_find(schema, path));
}

/* One attribute definition (RFC 7643 section 7), sub NULL for top. */
static json_t *
attr_json(const struct scim_schema *schema, const struct scim_attr *attr,
    const struct scim_attr *sub)
{
	const struct scim_attr	*a;
	const struct ref_types	*rt;
	const char		*desc;
	json_t			*o, *subs, *s, *types;
	char			 path[PATH_MAX_LEN];
	size_t			 i;

	a = sub != NULL ? sub : attr;
	attr_path(attr, sub, path, sizeof(path));
	o = json_pack("{s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:s}",
	    "name", a->name, "type", type_name(a->type),
	    "multiValued", a->multi_valued, "required", a->required,
	    "caseExact", a->case_exact,
	    "mutability", mutability_name(a->mutability),
	    "returned", returned_name(a->returned),
	    "uniqueness", uniqueness_name(a->uniqueness));
	if (o == NULL)
		return (NULL);

	if ((desc = prose_find(schema, path)) != NULL &&
	    json_object_set_new(o, "description", json_string(desc)) == -1)
		goto fail;

	if (a->type == SCIM_TYPE_REFERENCE) {
		if ((types = json_array()) == NULL)
			goto fail;
		if (json_object_set_new(o, "referenceTypes", types) == -1)
			goto fail;
		rt = ref_find(schema, path);
		for (i = 0; rt != NULL && i < NELEM(rt->types) &&
		    rt->types[i] != NULL; i++) {
			if (json_array_append_new(types,
			    json_string(rt->types[i])) == -1)
				goto fail;
		}
	}

	/* RFC 7643 section 2.4: sub-attributes have no sub-attributes. */
	if (sub == NULL && a->type == SCIM_TYPE_COMPLEX && a->nsubs > 0) {
		if ((subs = json_array()) == NULL)
			goto fail;
		if (json_object_set_new(o, "subAttributes", subs) == -1)
			goto fail;
		for (i = 0; i < a->nsubs; i++) {
			if ((s = attr_json(schema, attr, &a->subs[i])) == NULL)
				goto fail;
			if (json_array_append_new(subs, s) == -1)
				goto fail;
		}
	}

	return (o);
fail:
	json_decref(o);
	return (NULL);
}

/* meta {resourceType, location = base + sep + name}; 0 or -1. */
static int
set_meta(json_t *o, const char *rtype, const char *base, const char *coll,
    const char *name)
{
	json_t	*meta;
	char	*loc;
	size_t	 len;

	if ((meta = json_pack("{s:s}", "resourceType", rtype)) == NULL)
		return (-1);
	if (json_object_set_new(o, "meta", meta) == -1)
		return (-1);
	if (base == NULL || base[0] == '\0')
		return (0);

	len = strlen(base) + strlen(coll) + (name ? strlen(name) : 0) + 3;
	if ((loc = malloc(len)) == NULL)
		return (-1);
	if (name != NULL)
		(void)snprintf(loc, len, "%s%s/%s", base, coll, name);
	else
		(void)snprintf(loc, len, "%s%s", base, coll);
	if (json_object_set_new(meta, "location", json_string(loc)) == -1) {
		free(loc);
		return (-1);
	}
	free(loc);
	return (0);
}

/* Wraps resources (consumed) in a ListResponse with everything on it. */
static json_t *
list_response(json_t *resources)
{
	json_t	*o;
	size_t	 n;

	if (resources == NULL)
		return (NULL);
	n = json_array_size(resources);
	o = json_pack("{s:[s], s:I, s:I, s:I, s:O}",
	    "schemas", SCIM_LIST_RESPONSE,
	    "totalResults", (json_int_t)n, "itemsPerPage", (json_int_t)n,
	    "startIndex", (json_int_t)1, "Resources", resources);
	json_decref(resources);
	return (o);
}

json_t *
scim_discovery_spconfig(const char *base,
    const struct scim_discovery_limits *lim)
{
	json_t	*o;

	if (lim == NULL)
		return (NULL);
	o = json_pack("{s:[s], s:{s:b}, s:{s:b, s:I, s:I}, s:{s:b, s:I},"
	    " s:{s:b}, s:{s:b}, s:{s:b}, s:[{s:s, s:s, s:s, s:s, s:b}]}",
	    "schemas", SCIM_SCHEMA_SPCONFIG,
	    "patch", "supported", 1,
	    "bulk", "supported", 0, "maxOperations", (json_int_t)0,
	    "maxPayloadSize", (json_int_t)lim->body_max,
	    "filter", "supported", 1,
	    "maxResults", (json_int_t)lim->max_results,
	    "changePassword", "supported", 0,
	    "sort", "supported", 1,
	    "etag", "supported", 1,
	    "authenticationSchemes",
	    "type", "oauthbearertoken",
	    "name", "OAuth Bearer Token",
	    "description", "Authorization: Bearer with a token created by "
	    "'rollcallctl token create --scope scim' for one directory",
	    "specUri", "https://www.rfc-editor.org/info/rfc6750",
	    "primary", 1);
	if (o == NULL)
		return (NULL);
	if (set_meta(o, "ServiceProviderConfig", base,
	    "/ServiceProviderConfig", NULL) == -1) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

json_t *
scim_discovery_schema(const char *base, const struct scim_schema *schema)
{
	const char	*desc;
	json_t		*o, *attrs, *a;
	size_t		 i;

	if (schema == NULL)
		return (NULL);
	desc = NULL;
	for (i = 0; i < NELEM(schema_prose); i++) {
		if (strcmp(schema_prose[i].schema, schema->name) == 0)
			desc = schema_prose[i].text;
	}
	o = json_pack("{s:[s], s:s, s:s, s:s, s:[]}",
	    "schemas", SCIM_SCHEMA_SCHEMA, "id", schema->urn,
	    "name", schema->name, "description", desc ? desc : schema->name,
	    "attributes");
	if (o == NULL)
		return (NULL);
	attrs = json_object_get(o, "attributes");
	for (i = 0; i < schema->nattrs; i++) {
		/* The "schemas" attribute frames a resource; not listed. */
		if (strcmp(schema->attrs[i].name, "schemas") == 0)
			continue;
		if ((a = attr_json(schema, &schema->attrs[i], NULL)) == NULL)
			goto fail;
		if (json_array_append_new(attrs, a) == -1)
			goto fail;
	}
	if (set_meta(o, "Schema", base, "/Schemas", schema->urn) == -1)
		goto fail;
	return (o);
fail:
	json_decref(o);
	return (NULL);
}

json_t *
scim_discovery_schemas(const char *base)
{
	const struct scim_schema *const	*exts;
	const struct scim_schema	*list[8];
	json_t				*arr, *s;
	size_t				 i, j, n, nlist;

	/* Each resource's core schema followed by its extensions. */
	nlist = 0;
	for (i = 0; i < NELEM(res_types); i++) {
		list[nlist++] = scim_schema_core(res_types[i].type);
		exts = scim_schema_extensions(res_types[i].type, &n);
		for (j = 0; j < n && nlist < NELEM(list); j++)
			list[nlist++] = exts[j];
	}

	if ((arr = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < nlist; i++) {
		if ((s = scim_discovery_schema(base, list[i])) == NULL ||
		    json_array_append_new(arr, s) == -1) {
			json_decref(arr);
			return (NULL);
		}
	}
	return (list_response(arr));
}

static const struct scim_schema *
schema_by_id(const char *id)
{
	const struct scim_schema	*s;
	size_t				 i;

	for (i = 0; i < NELEM(res_types); i++) {
		if ((s = scim_schema_by_urn(res_types[i].type, id)) != NULL)
			return (s);
	}
	return (NULL);
}

int
scim_discovery_schema_get(const char *base, const char *id, json_t **out,
    struct scim_err *err)
{
	const struct scim_schema	*s;

	*out = NULL;
	if (id == NULL || (s = schema_by_id(id)) == NULL)
		return (scim_err_set(err, 404, NULL, "no schema has the id "
		    "'%.100s'; the schemas served are %s, %s and %s",
		    id ? id : "", SCIM_SCHEMA_USER, SCIM_SCHEMA_ENTERPRISE,
		    SCIM_SCHEMA_GROUP));
	if ((*out = scim_discovery_schema(base, s)) == NULL)
		return (scim_err_set(err, 500, NULL, "out of memory"));
	return (0);
}

static const struct res_type *
res_type_find(enum scim_resource type)
{
	size_t	i;

	for (i = 0; i < NELEM(res_types); i++) {
		if (res_types[i].type == type)
			return (&res_types[i]);
	}
	return (NULL);
}

json_t *
scim_discovery_resource_type(const char *base, enum scim_resource type)
{
	const struct res_type		*rt;
	const struct scim_schema	*core;
	const struct scim_schema *const	*exts;
	json_t				*o, *arr, *e;
	size_t				 i, n;

	if ((rt = res_type_find(type)) == NULL ||
	    (core = scim_schema_core(type)) == NULL)
		return (NULL);
	o = json_pack("{s:[s], s:s, s:s, s:s, s:s, s:s}",
	    "schemas", SCIM_SCHEMA_RESOURCETYPE, "id", rt->id,
	    "name", rt->id, "endpoint", rt->endpoint,
	    "description", rt->description, "schema", core->urn);
	if (o == NULL)
		return (NULL);

	exts = scim_schema_extensions(type, &n);
	if (n > 0) {
		if ((arr = json_array()) == NULL ||
		    json_object_set_new(o, "schemaExtensions", arr) == -1)
			goto fail;
		for (i = 0; i < n; i++) {
			e = json_pack("{s:s, s:b}", "schema", exts[i]->urn,
			    "required", 0);
			if (e == NULL || json_array_append_new(arr, e) == -1)
				goto fail;
		}
	}
	if (set_meta(o, "ResourceType", base, "/ResourceTypes", rt->id) == -1)
		goto fail;
	return (o);
fail:
	json_decref(o);
	return (NULL);
}

json_t *
scim_discovery_resource_types(const char *base)
{
	json_t	*arr, *r;
	size_t	 i;

	if ((arr = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < NELEM(res_types); i++) {
		if ((r = scim_discovery_resource_type(base,
		    res_types[i].type)) == NULL ||
		    json_array_append_new(arr, r) == -1) {
			json_decref(arr);
			return (NULL);
		}
	}
	return (list_response(arr));
}

int
scim_discovery_resource_type_get(const char *base, const char *id,
    json_t **out, struct scim_err *err)
{
	size_t	i;

	*out = NULL;
	for (i = 0; id != NULL && i < NELEM(res_types); i++) {
		if (strcasecmp(res_types[i].id, id) != 0)
			continue;
		if ((*out = scim_discovery_resource_type(base,
		    res_types[i].type)) == NULL)
			return (scim_err_set(err, 500, NULL,
			    "out of memory"));
		return (0);
	}
	return (scim_err_set(err, 404, NULL, "no resource type has the id "
	    "'%.100s'; the resource types served are User and Group",
	    id ? id : ""));
}
