/*
 * check_scim_schema: unit tests for the SCIM schema tables, path lookup,
 * normalisation of Entra-shaped request bodies, value coercion,
 * attributes/excludedAttributes projection, dateTime parsing and the
 * scim_error body.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "check_main.h"
#include "scim_error.h"
#include "scim_schema.h"

#define ENT	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define ADSCIM	"http://schemas.microsoft.com/2006/11/ResourceManagement/" \
		"ADSCIM/2.0/Group"

static json_t *
load(const char *text)
{
	json_error_t	 jerr;
	json_t		*v;

	if ((v = json_loads(text, 0, &jerr)) == NULL)
		ck_abort_msg("bad test JSON: %s", jerr.text);
	return (v);
}

/* Normalise text; on success compare with want (NULL: no compare). */
static json_t *
norm_ok(enum scim_resource type, const char *text)
{
	struct scim_err	 err;
	json_t		*doc;

	doc = load(text);
	scim_err_init(&err);
	if (scim_schema_normalize(type, doc, &err) == -1)
		ck_abort_msg("normalize failed: %s", err.detail);
	return (doc);
}

static void
norm_bad(enum scim_resource type, const char *text, const char *stype,
    const char *want)
{
	struct scim_err	 err;
	json_t		*doc;

	doc = load(text);
	scim_err_init(&err);
	ck_assert_int_eq(scim_schema_normalize(type, doc, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.scim_type, stype);
	if (strstr(err.detail, want) == NULL)
		ck_abort_msg("detail <%s> lacks <%s>", err.detail, want);
	json_decref(doc);
}

static void
json_is(const json_t *got, const char *want)
{
	json_t	*w;
	char	*g;

	w = load(want);
	if (!json_equal(got, w)) {
		g = json_dumps(got, JSON_SORT_KEYS);
		ck_abort_msg("got %s\nwant %s", g, want);
	}
	json_decref(w);
}

START_TEST(t_lookup)
{
	struct scim_attr_ref	ref;

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "USERNAME", &ref),
	    0);
	ck_assert_str_eq(ref.attr->name, "userName");
	ck_assert_ptr_null(ref.sub);
	ck_assert_str_eq(ref.schema->urn, SCIM_SCHEMA_USER);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER,
	    "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", &ref),
	    0);
	ck_assert_str_eq(ref.attr->name, "name");
	ck_assert_str_eq(ref.sub->name, "givenName");

	/* The dots of "2.0" must not split the URN. */
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER,
	    ENT ":manager", &ref), 0);
	ck_assert_str_eq(ref.attr->name, "manager");
	ck_assert(ref.schema->extension);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER,
	    "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:"
	    "Manager.Value", &ref), 0);
	ck_assert_str_eq(ref.sub->name, "value");

	/* Unqualified extension names resolve after the core schema. */
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "department", &ref),
	    0);
	ck_assert_str_eq(ref.schema->urn, ENT);
	/* Core wins for names both could have (displayName). */
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "displayname",
	    &ref), 0);
	ck_assert(!ref.schema->extension);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "meta.Created",
	    &ref), 0);
	ck_assert_int_eq(ref.sub->type, SCIM_TYPE_DATETIME);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "emails.$REF",
	    &ref), -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_GROUP, "members.$ref",
	    &ref), 0);
	ck_assert_str_eq(ref.sub->name, "$ref");

	/* Failures. */
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, ENT ".department",
	    &ref), -1);
	ck_assert_ptr_null(ref.attr);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER,
	    SCIM_SCHEMA_GROUP ":displayName", &ref), -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_GROUP, "userName", &ref),
	    -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "name.bogus", &ref),
	    -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "userName.x", &ref),
	    -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "", &ref), -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, ".x", &ref), -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, ENT ":", &ref), -1);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_NONE, "userName", &ref),
	    -1);
	ck_assert_ptr_nonnull(scim_schema_by_urn(SCIM_RES_USER,
	    "urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User"));
	ck_assert_ptr_null(scim_schema_by_urn(SCIM_RES_GROUP, ENT));
}
END_TEST

START_TEST(t_attr_defs)
{
	struct scim_attr_ref	 ref;
	char			 buf[160];

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "groups", &ref), 0);
	ck_assert(scim_attr_is_readonly(ref.attr));
	ck_assert(scim_attr_is_multi(ref.attr));
	ck_assert(scim_attr_is_complex(ref.attr));
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "active", &ref), 0);
	ck_assert(scim_attr_is_boolean(ref.attr));
	ck_assert(!scim_attr_is_multi(ref.attr));
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "id", &ref), 0);
	ck_assert(ref.attr->case_exact);
	ck_assert_int_eq(ref.attr->returned, SCIM_RET_ALWAYS);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "externalId", &ref),
	    0);
	ck_assert(ref.attr->case_exact);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "userName", &ref),
	    0);
	ck_assert(!ref.attr->case_exact);
	ck_assert(ref.attr->required);
	ck_assert_int_eq(ref.attr->uniqueness, SCIM_UNIQ_SERVER);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_GROUP, "members.value",
	    &ref), 0);
	ck_assert(scim_attr_is_immutable(ref.sub));
	ck_assert_ptr_eq(scim_attr_ref_target(&ref), ref.sub);
	ck_assert_str_eq(scim_attr_ref_name(&ref, buf, sizeof(buf)),
	    "members.value");
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "manager", &ref), 0);
	ck_assert_str_eq(scim_attr_ref_name(&ref, buf, sizeof(buf)),
	    ENT ":manager");
	ck_assert_uint_eq(ref.attr->nsubs, 3);
	ck_assert_ptr_nonnull(scim_attr_sub(ref.attr, "DISPLAYNAME"));
	ck_assert_ptr_null(scim_attr_sub(ref.attr, "display"));
	ck_assert(!scim_attr_is_readonly(NULL));
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "password", &ref),
	    0);
	ck_assert_int_eq(ref.attr->returned, SCIM_RET_NEVER);
}
END_TEST

/* Entra's POST /Users, as S1 shows it (strings, nulls, meta, roles). */
START_TEST(t_normalize_entra_user)
{
	json_t	*doc;

	doc = norm_ok(SCIM_RES_USER,
	    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
	    "\"" ENT "\"],"
	    "\"externalId\":\"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\","
	    "\"UserName\":\"Test_User_ab6490ee@contoso.com\","
	    "\"active\":\"True\",\"displayName\":\"Test User\","
	    "\"title\":null,\"addresses\":null,\"preferredLanguage\":\"en-US\","
	    "\"emails\":[{\"Primary\":\"true\",\"type\":\"work\","
	    "\"value\":\"Test_User@contoso.com\"},null],"
	    "\"name\":{\"givenName\":\"Test\",\"familyName\":\"User\","
	    "\"formatted\":null},"
	    "\"meta\":{\"resourceType\":\"User\"},\"roles\":[],"
	    "\"id\":\"client-invented\",\"groups\":[{\"value\":\"g\"}],"
	    "\"unknownThing\":5,"
	    "\"" ENT "\":{\"Department\":\"Sales\",\"employeeNumber\":\"42\","
	    "\"Manager\":{\"Value\":\"m-1\",\"displayName\":\"Boss\","
	    "\"$ref\":null},\"bogus\":1}}");
	json_is(doc,
	    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
	    "\"" ENT "\"],"
	    "\"externalId\":\"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\","
	    "\"userName\":\"Test_User_ab6490ee@contoso.com\","
	    "\"active\":true,\"displayName\":\"Test User\","
	    "\"preferredLanguage\":\"en-US\","
	    "\"emails\":[{\"primary\":true,\"type\":\"work\","
	    "\"value\":\"Test_User@contoso.com\"}],"
	    "\"name\":{\"givenName\":\"Test\",\"familyName\":\"User\"},"
	    "\"" ENT "\":{\"department\":\"Sales\",\"employeeNumber\":\"42\","
	    "\"manager\":{\"value\":\"m-1\"}}}");
	json_decref(doc);
}
END_TEST

START_TEST(t_normalize_quirks)
{
	json_t	*doc;

	/* Bare-string manager (SCIM-SDK #541), odd cases, "FALSE". */
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\",\"ACTIVE\":\"FALSE\","
	    "\"" ENT "\":{\"manager\":\"26118915-6090\"}}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"userName\":\"u\",\"active\":false,"
	    "\"" ENT "\":{\"manager\":{\"value\":\"26118915-6090\"}}}");
	json_decref(doc);

	/* URN-qualified and dotted top-level keys land where they belong. */
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\","
	    "\"" ENT ":department\":\"Ops\",\"name.givenName\":\"G\","
	    "\"name\":{\"familyName\":\"F\"},\"schemas\":[]}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"userName\":\"u\",\"name\":{\"givenName\":\"G\","
	    "\"familyName\":\"F\"},\"" ENT "\":{\"department\":\"Ops\"}}");
	json_decref(doc);

	/* A single object for a multi-valued attribute becomes a list. */
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\",\"emails\":"
	    "{\"value\":\"a@b\"},\"phoneNumbers\":[],\"name\":{}}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],\"userName\":"
	    "\"u\",\"emails\":[{\"value\":\"a@b\"}]}");
	json_decref(doc);

	/* Empty extension object, schemas null, duplicate URNs. */
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\",\"" ENT "\":{},"
	    "\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" SCIM_SCHEMA_USER "\"]}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],\"userName\":"
	    "\"u\"}");
	json_decref(doc);
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\",\"schemas\":null}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],\"userName\":"
	    "\"u\"}");
	json_decref(doc);

	/* A password is accepted on the way in (writeOnly). */
	doc = norm_ok(SCIM_RES_USER, "{\"userName\":\"u\",\"password\":"
	    "\"s3cret\"}");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "password")),
	    "s3cret");
	json_decref(doc);
}
END_TEST

START_TEST(t_normalize_group)
{
	json_t	*doc;

	/* Entra's POST /Groups with the ADSCIM URN and meta. */
	doc = norm_ok(SCIM_RES_GROUP, "{\"schemas\":["
	    "\"urn:ietf:params:scim:schemas:core:2.0:Group\","
	    "\"" ADSCIM "\"],\"externalId\":\"8aa1a0c0-c4c3-4bc0-b4a5-"
	    "2ef676900159\",\"displayName\":\"displayName\","
	    "\"meta\":{\"resourceType\":\"Group\"},\"members\":[]}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\",\"" ADSCIM "\"],"
	    "\"externalId\":\"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\","
	    "\"displayName\":\"displayName\"}");
	json_decref(doc);

	/* Members with $ref null and bare string values. */
	doc = norm_ok(SCIM_RES_GROUP, "{\"DisplayName\":\"G\",\"Members\":["
	    "{\"$ref\":null,\"Value\":\"u1\"},\"u2\",{\"value\":\"u3\","
	    "\"display\":\"VP\",\"displayName\":\"ignored\"}]}");
	json_is(doc, "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],"
	    "\"displayName\":\"G\",\"members\":[{\"value\":\"u1\"},"
	    "{\"value\":\"u2\"},{\"value\":\"u3\",\"display\":\"VP\"}]}");
	json_decref(doc);
}
END_TEST

START_TEST(t_normalize_errors)
{
	struct scim_err	err;

	norm_bad(SCIM_RES_USER, "{\"active\":true}", "invalidValue",
	    "'userName' is required");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"\"}", "invalidValue",
	    "'userName' is required");
	norm_bad(SCIM_RES_USER, "{\"userName\":null}", "invalidValue",
	    "'userName' is required");
	norm_bad(SCIM_RES_USER, "{\"userName\":42}", "invalidValue",
	    "'userName' must be a string, not a number");
	norm_bad(SCIM_RES_GROUP, "{\"members\":[]}", "invalidValue",
	    "'displayName' is required");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"active\":\"yes\"}",
	    "invalidValue", "'active' must be a boolean");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"active\":1}",
	    "invalidValue", "'active' must be a boolean");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"emails\":[{\"value\":"
	    "\"a\",\"primary\":\"maybe\"}]}", "invalidValue",
	    "'emails.primary' must be a boolean");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"emails\":[true]}",
	    "invalidValue", "'emails' must be a list of an object");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"name\":\"Bob\"}",
	    "invalidValue", "'name' must be an object");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"name\":{\"givenName\":"
	    "[\"x\"]}}", "invalidValue", "'name.givenName' must be a string, "
	    "not an array");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"" ENT "\":\"x\"}",
	    "invalidValue", ENT "' must be an object");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"" ENT "\":{"
	    "\"manager\":true}}", "invalidValue", ENT ":manager' must be an "
	    "object");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"schemas\":\"x\"}",
	    "invalidValue", "'schemas' must be a list");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"schemas\":[1]}",
	    "invalidValue", "'schemas' must be a list");
	norm_bad(SCIM_RES_USER, "[1,2]", "invalidSyntax", "JSON object");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"name.givenName\":5}",
	    "invalidValue", "'name.givenName' must be a string");
	norm_bad(SCIM_RES_USER, "{\"userName\":\"u\",\"emails.value\":\"a\"}",
	    "invalidValue", "multi-valued");

	scim_err_init(&err);
	ck_assert_int_eq(scim_schema_normalize(SCIM_RES_NONE, NULL, &err), -1);
	ck_assert_int_eq(scim_schema_normalize(SCIM_RES_USER, NULL, NULL), -1);
}
END_TEST

START_TEST(t_coerce)
{
	struct scim_attr_ref	 ref;
	struct scim_err		 err;
	json_t			*v, *in;

	scim_err_init(&err);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "active", &ref), 0);
	in = json_string("False");
	v = scim_schema_coerce(&ref, in, &err);
	ck_assert(json_is_false(v));
	json_decref(v);
	json_decref(in);
	in = json_string("nope");
	ck_assert_ptr_null(scim_schema_coerce(&ref, in, &err));
	ck_assert_str_eq(err.scim_type, "invalidValue");
	json_decref(in);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, ENT ":manager",
	    &ref), 0);
	in = json_string("m1");
	v = scim_schema_coerce(&ref, in, &err);
	json_is(v, "{\"value\":\"m1\"}");
	json_decref(v);
	json_decref(in);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_GROUP, "members", &ref),
	    0);
	in = load("[{\"$ref\":null,\"value\":\"u1\"},{\"VALUE\":\"u2\"}]");
	v = scim_schema_coerce(&ref, in, &err);
	json_is(v, "[{\"value\":\"u1\"},{\"value\":\"u2\"}]");
	json_decref(v);
	json_decref(in);
	/* Non-array for a multi-valued attribute: one element. */
	in = load("{\"value\":\"u1\"}");
	v = scim_schema_coerce(&ref, in, &err);
	json_is(v, "{\"value\":\"u1\"}");
	json_decref(v);
	json_decref(in);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "emails.primary",
	    &ref), 0);
	in = json_string("TRUE");
	v = scim_schema_coerce(&ref, in, &err);
	ck_assert(json_is_true(v));
	json_decref(v);
	json_decref(in);
	in = json_null();
	v = scim_schema_coerce(&ref, in, &err);
	ck_assert(json_is_null(v));
	json_decref(v);

	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "meta.created",
	    &ref), 0);
	in = json_string("not a time");
	ck_assert_ptr_null(scim_schema_coerce(&ref, in, &err));
	ck_assert(strstr(err.detail, "dateTime") != NULL);
	json_decref(in);

	ck_assert_ptr_null(scim_schema_coerce(NULL, json_null(), &err));
}
END_TEST

START_TEST(t_container)
{
	struct scim_attr_ref	 ref;
	json_t			*doc, *c;

	doc = load("{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],\"userName\":\"u\"}");
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "title", &ref), 0);
	ck_assert_ptr_eq(scim_schema_container(doc, &ref, 0), doc);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "department", &ref),
	    0);
	ck_assert_ptr_null(scim_schema_container(doc, &ref, 0));
	c = scim_schema_container(doc, &ref, 1);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(json_object_get(doc, ENT), c);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "schemas")), 2);
	/* Idempotent. */
	ck_assert_ptr_eq(scim_schema_container(doc, &ref, 1), c);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "schemas")), 2);
	json_decref(doc);
}
END_TEST

static const char *stored_user =
    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
    "\"id\":\"2819c223\",\"externalId\":\"x1\",\"userName\":\"bjensen\","
    "\"name\":{\"givenName\":\"Barbara\",\"familyName\":\"Jensen\"},"
    "\"emails\":[{\"type\":\"work\",\"value\":\"b@x\",\"primary\":true},"
    "{\"type\":\"home\",\"value\":\"b@h\"}],\"active\":true,"
    "\"password\":\"leak\",\"custom\":1,"
    "\"" ENT "\":{\"department\":\"Tour\",\"manager\":{\"value\":\"m\","
    "\"displayName\":\"Boss\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"created\":"
    "\"2011-08-01T18:29:49.793Z\"}}";

static void
project_is(enum scim_resource type, const char *doc, const char *attrs,
    const char *excl, const char *want)
{
	json_t	*in, *out;

	in = load(doc);
	out = scim_schema_project(type, in, attrs, excl);
	ck_assert_ptr_nonnull(out);
	json_is(out, want);
	json_decref(out);
	json_decref(in);
}

START_TEST(t_project)
{
	const char	*u = stored_user;

	project_is(SCIM_RES_USER, u, "userName,emails", NULL,
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"userName\":\"bjensen\","
	    "\"emails\":[{\"type\":\"work\",\"value\":\"b@x\",\"primary\":true},"
	    "{\"type\":\"home\",\"value\":\"b@h\"}],"
	    "\"meta\":{\"resourceType\":\"User\",\"created\":"
	    "\"2011-08-01T18:29:49.793Z\"}}");
	/* Case, spaces, sub-attributes, URN-qualified names, brackets. */
	project_is(SCIM_RES_USER, u, " USERNAME , name.GivenName,"
	    ENT ":manager.value,emails[type eq \"work\"],bogus,,", NULL,
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"userName\":\"bjensen\","
	    "\"name\":{\"givenName\":\"Barbara\"},"
	    "\"emails\":[{\"type\":\"work\",\"value\":\"b@x\",\"primary\":true},"
	    "{\"type\":\"home\",\"value\":\"b@h\"}],"
	    "\"" ENT "\":{\"manager\":{\"value\":\"m\"}},"
	    "\"meta\":{\"resourceType\":\"User\",\"created\":"
	    "\"2011-08-01T18:29:49.793Z\"}}");
	project_is(SCIM_RES_USER, u, "emails.value", NULL,
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"emails\":[{\"value\":\"b@x\"},"
	    "{\"value\":\"b@h\"}],\"meta\":{\"resourceType\":\"User\","
	    "\"created\":\"2011-08-01T18:29:49.793Z\"}}");
	project_is(SCIM_RES_USER, u, ENT, NULL,
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"" ENT "\":{\"department\":\"Tour\","
	    "\"manager\":{\"value\":\"m\",\"displayName\":\"Boss\"}},"
	    "\"meta\":{\"resourceType\":\"User\",\"created\":"
	    "\"2011-08-01T18:29:49.793Z\"}}");
	/* excludedAttributes; id/schemas/meta cannot be excluded. */
	project_is(SCIM_RES_USER, u, NULL, "emails,name.familyName,id,meta,"
	    "department,custom",
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"externalId\":\"x1\",\"userName\":\"bjensen\","
	    "\"name\":{\"givenName\":\"Barbara\"},\"active\":true,"
	    "\"custom\":1,"
	    "\"" ENT "\":{\"manager\":{\"value\":\"m\","
	    "\"displayName\":\"Boss\"}},"
	    "\"meta\":{\"resourceType\":\"User\",\"created\":"
	    "\"2011-08-01T18:29:49.793Z\"}}");
	/* Neither: everything but password (returned never). */
	project_is(SCIM_RES_USER, "{\"id\":\"1\",\"userName\":\"u\","
	    "\"password\":\"p\"}", NULL, "", "{\"id\":\"1\",\"userName\":"
	    "\"u\"}");
	/* attributes wins over excludedAttributes. */
	project_is(SCIM_RES_USER, "{\"id\":\"1\",\"userName\":\"u\","
	    "\"title\":\"t\"}", "title", "title", "{\"id\":\"1\",\"title\":"
	    "\"t\"}");
	/* Group: excludedAttributes=members (Entra's probe). */
	project_is(SCIM_RES_GROUP, "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],"
	    "\"id\":\"g\",\"displayName\":\"Sales\",\"members\":[{\"value\":"
	    "\"u1\"}],\"meta\":{\"resourceType\":\"Group\"}}", NULL, "members",
	    "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],\"id\":\"g\","
	    "\"displayName\":\"Sales\",\"meta\":{\"resourceType\":"
	    "\"Group\"}}");
	project_is(SCIM_RES_GROUP, "{\"id\":\"g\",\"displayName\":\"S\","
	    "\"members\":[{\"value\":\"u1\",\"display\":\"A\"}]}",
	    "members.value", NULL, "{\"id\":\"g\",\"members\":[{\"value\":"
	    "\"u1\"}]}");
	/* Sub-attribute asked for but absent: attribute left out. */
	project_is(SCIM_RES_USER, u, "name.middleName", NULL,
	    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
	    "\"id\":\"2819c223\",\"meta\":{\"resourceType\":\"User\","
	    "\"created\":\"2011-08-01T18:29:49.793Z\"}}");

	ck_assert_ptr_null(scim_schema_project(SCIM_RES_USER, NULL, "a", NULL));
}
END_TEST

START_TEST(t_datetime)
{
	int64_t		s;
	long		ns;

	ck_assert_int_eq(scim_datetime_parse("1970-01-01T00:00:00Z", &s, &ns),
	    0);
	ck_assert_int_eq(s, 0);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T04:42:34Z", &s, &ns),
	    0);
	ck_assert_int_eq(s, 1305261754);
	ck_assert_int_eq(scim_datetime_parse("2015-10-10T14:38:21.8617979-07:00",
	    &s, &ns), 0);
	ck_assert_int_eq(s, 1444513101);
	ck_assert_int_eq(ns, 861797900);
	ck_assert_int_eq(scim_datetime_parse("2000-02-29", &s, &ns), 0);
	ck_assert_int_eq(s, 951782400);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T04:42:34", &s, &ns),
	    0);
	ck_assert_int_eq(scim_datetime_parse("1969-12-31T23:59:59Z", &s, &ns),
	    0);
	ck_assert_int_eq(s, -1);
	ck_assert_int_eq(scim_datetime_parse("2001-02-29", &s, &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("2011-13-01", &s, &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T25:00:00Z", &s, &ns),
	    -1);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T04:42:34.Z", &s, &ns),
	    -1);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T04:42:34+0200", &s,
	    &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("2011-05-13T04:42:34Zjunk", &s,
	    &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("2011-5-13", &s, &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("", &s, &ns), -1);
	ck_assert_int_eq(scim_datetime_parse("yesterday", &s, &ns), -1);
}
END_TEST

/* What a principal may hold: the write path refuses what the index can't. */
static void
stored_refused(enum scim_resource type, const char *old, const char *doc,
    const char *detail)
{
	struct scim_err	 err;
	json_t		*o, *d;

	o = old != NULL ? json_loads(old, 0, NULL) : NULL;
	ck_assert_ptr_nonnull(d = json_loads(doc, 0, NULL));
	scim_err_init(&err);
	if (detail == NULL) {
		ck_assert_msg(scim_schema_check_stored(type, o, d, &err) == 0,
		    "%s: %s", doc, err.detail);
	} else {
		ck_assert_msg(scim_schema_check_stored(type, o, d, &err) == -1,
		    "%s accepted", doc);
		ck_assert_int_eq(err.status, 400);
		ck_assert_str_eq(err.scim_type, SCIM_ERR_INVALID_VALUE);
		ck_assert_str_eq(err.detail, detail);
	}
	json_decref(o);
	json_decref(d);
}

START_TEST(t_check_stored)
{
	char	*big, *doc;

	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a@x\","
	    "\"externalId\":\"e\",\"emails\":[{\"value\":\"a@x\"},"
	    "{\"type\":\"work\"}]}", NULL);
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\\t@x\"}",
	    "userName contains a control character.");
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\\u007f\"}",
	    "userName contains a control character.");
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\\u0085\"}",
	    "userName contains a control character.");
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\","
	    "\"externalId\":\"\\u0001\"}",
	    "externalId contains a control character.");
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\","
	    "\"emails\":[{\"value\":\"v\\t@contoso.com\"}]}",
	    "emails.value contains a control character.");
	stored_refused(SCIM_RES_USER, NULL, "{\"userName\":\"a\","
	    "\"emails\":[{\"value\":\"\"}]}", "emails.value is required.");
	stored_refused(SCIM_RES_USER, NULL, "{}", "userName is required.");
	/* A stored bad value does not block an unrelated change. */
	stored_refused(SCIM_RES_USER, "{\"userName\":\"a\\t\","
	    "\"active\":true}", "{\"userName\":\"a\\t\",\"active\":false}",
	    NULL);
	stored_refused(SCIM_RES_USER, "{\"userName\":\"a\"}",
	    "{\"userName\":\"b\\u001f\"}",
	    "userName contains a control character.");
	/* 600 characters: over the 512 the database holds. */
	big = malloc(601);
	memset(big, 'a', 600);
	big[600] = '\0';
	ck_assert_int_ne(asprintf(&doc, "{\"userName\":\"%s\"}", big), -1);
	stored_refused(SCIM_RES_USER, NULL, doc,
	    "userName is longer than 512 characters.");
	free(doc);
	ck_assert_int_ne(asprintf(&doc, "{\"displayName\":\"%s\"}", big), -1);
	stored_refused(SCIM_RES_GROUP, NULL, doc,
	    "displayName is longer than 512 characters.");
	free(doc);
	ck_assert_int_ne(asprintf(&doc, "{\"userName\":\"a\","
	    "\"externalId\":\"%s%s\"}", big, big), -1);
	stored_refused(SCIM_RES_USER, NULL, doc,
	    "externalId is longer than 1024 bytes.");
	free(doc);
	free(big);
	/* 300 two-byte characters: fine for both limits. */
	big = malloc(601);
	for (int i = 0; i < 600; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[600] = '\0';
	ck_assert_int_ne(asprintf(&doc, "{\"userName\":\"%s\"}", big), -1);
	stored_refused(SCIM_RES_USER, NULL, doc, NULL);
	free(doc);
	free(big);
}
END_TEST

START_TEST(t_error_json)
{
	struct scim_err	 err;
	json_t		*j;

	scim_err_init(&err);
	ck_assert_int_eq(scim_err_set(&err, 400, SCIM_ERR_INVALID_FILTER,
	    "bad %s at %d", "thing", 7), -1);
	j = scim_error_json(&err);
	json_is(j, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	    "Error\"],\"status\":\"400\",\"scimType\":\"invalidFilter\","
	    "\"detail\":\"bad thing at 7\"}");
	json_decref(j);

	scim_err_set(&err, 404, NULL, "%s", "");
	j = scim_error_json(&err);
	json_is(j, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	    "Error\"],\"status\":\"404\"}");
	json_decref(j);

	/* Client bytes that are not UTF-8 never break the body. */
	scim_err_set(&err, 400, SCIM_ERR_INVALID_VALUE, "x\xff\xc3-y\xe2\x82");
	j = scim_error_json(&err);
	ck_assert_str_eq(json_string_value(json_object_get(j, "detail")),
	    "x?" "?-y?" "?");
	json_decref(j);
	scim_err_set(&err, 400, NULL, "\xc3\xa9\xf0\x9f\x98\x80");
	j = scim_error_json(&err);
	ck_assert_str_eq(json_string_value(json_object_get(j, "detail")),
	    "\xc3\xa9\xf0\x9f\x98\x80");
	json_decref(j);

	/* Truncation to the buffer, possibly mid-sequence. */
	scim_err_set(&err, 409, SCIM_ERR_UNIQUENESS, "%300s", "\xc3\xa9");
	ck_assert_uint_eq(strlen(err.detail), SCIM_ERR_DETAIL_MAX - 1);
	j = scim_error_json(&err);
	ck_assert_ptr_nonnull(json_object_get(j, "detail"));
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
	    "409");
	json_decref(j);

	/* Unset or NULL: a 500. */
	scim_err_init(&err);
	j = scim_error_json(&err);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
	    "500");
	json_decref(j);
	j = scim_error_json(NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
	    "500");
	json_decref(j);
	ck_assert_int_eq(scim_err_set(NULL, 400, NULL, "x"), -1);
}
END_TEST

static Suite *
schema_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("scim_schema");
	tc = tcase_create("core");
	tcase_add_test(tc, t_lookup);
	tcase_add_test(tc, t_attr_defs);
	tcase_add_test(tc, t_normalize_entra_user);
	tcase_add_test(tc, t_normalize_quirks);
	tcase_add_test(tc, t_normalize_group);
	tcase_add_test(tc, t_normalize_errors);
	tcase_add_test(tc, t_coerce);
	tcase_add_test(tc, t_container);
	tcase_add_test(tc, t_project);
	tcase_add_test(tc, t_datetime);
	tcase_add_test(tc, t_error_json);
	tcase_add_test(tc, t_check_stored);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(schema_suite()));
}
