/*
 * check_scim_discovery: the discovery documents against the scim_schema
 * tables they are generated from (every attribute, every
 * characteristic, both ways), against the RFC 7643 facts clients rely
 * on, and against what Okta's and Microsoft's suites read from them;
 * plus lookups with hostile ids.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>
#include <jansson.h>

#include "check_main.h"
#include "scim_discovery.h"
#include "scim_error.h"
#include "scim_schema.h"

#define BASE	"https://rc.example.com/scim/v2"

static const char *
str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static const char *
type_word(enum scim_attr_type t)
{
	static const char	*w[] = { "string", "boolean", "decimal",
	    "integer", "dateTime", "reference", "binary", "complex" };

	return (w[t]);
}

static const char *
mut_word(enum scim_mutability m)
{
	static const char	*w[] = { "readWrite", "readOnly", "immutable",
	    "writeOnly" };

	return (w[m]);
}

static const char *
ret_word(enum scim_returned r)
{
	static const char	*w[] = { "default", "always", "never",
	    "request" };

	return (w[r]);
}

static const char *
uniq_word(enum scim_uniqueness u)
{
	static const char	*w[] = { "none", "server", "global" };

	return (w[u]);
}

/* The element of an array of objects whose "name" is name, or NULL. */
static json_t *
by_name(const json_t *arr, const char *name)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(arr, i, e) {
		if (str(e, "name") != NULL && strcmp(str(e, "name"), name) == 0)
			return (e);
	}
	return (NULL);
}

/* One definition against its table entry; sub set: no nesting allowed. */
static void
check_attr(const json_t *def, const struct scim_attr *a, int sub)
{
	const json_t	*subs, *types;
	const char	*desc;
	size_t		 i;

	ck_assert_ptr_nonnull(def);
	ck_assert_str_eq(str(def, "name"), a->name);
	ck_assert_str_eq(str(def, "type"), type_word(a->type));
	ck_assert(json_is_boolean(json_object_get(def, "multiValued")));
	ck_assert_int_eq(json_is_true(json_object_get(def, "multiValued")),
	    a->multi_valued != 0);
	ck_assert(json_is_boolean(json_object_get(def, "required")));
	ck_assert_int_eq(json_is_true(json_object_get(def, "required")),
	    a->required != 0);
	ck_assert(json_is_boolean(json_object_get(def, "caseExact")));
	ck_assert_int_eq(json_is_true(json_object_get(def, "caseExact")),
	    a->case_exact != 0);
	ck_assert_str_eq(str(def, "mutability"), mut_word(a->mutability));
	ck_assert_str_eq(str(def, "returned"), ret_word(a->returned));
	ck_assert_str_eq(str(def, "uniqueness"), uniq_word(a->uniqueness));

	desc = str(def, "description");
	ck_assert_msg(desc != NULL && desc[0] != '\0',
	    "attribute %s has no description", a->name);

	types = json_object_get(def, "referenceTypes");
	if (a->type == SCIM_TYPE_REFERENCE)
		ck_assert_msg(json_array_size(types) > 0,
		    "reference %s has no referenceTypes", a->name);
	else
		ck_assert_ptr_null(types);

	subs = json_object_get(def, "subAttributes");
	if (sub || a->nsubs == 0) {
		ck_assert_ptr_null(subs);
		return;
	}
	ck_assert_uint_eq(json_array_size(subs), a->nsubs);
	for (i = 0; i < a->nsubs; i++) {
		ck_assert_msg(by_name(subs, a->subs[i].name) != NULL,
		    "%s.%s missing", a->name, a->subs[i].name);
		check_attr(by_name(subs, a->subs[i].name), &a->subs[i], 1);
	}
}

/* A generated schema against its table, attribute by attribute. */
static void
check_schema(const json_t *doc, const struct scim_schema *s)
{
	const json_t	*attrs;
	size_t		 i, listed;

	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(str(doc, "id"), s->urn);
	ck_assert_str_eq(str(doc, "name"), s->name);
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(doc, "schemas"), 0)), SCIM_SCHEMA_SCHEMA);
	attrs = json_object_get(doc, "attributes");
	ck_assert(json_is_array(attrs));
	listed = 0;
	for (i = 0; i < s->nattrs; i++) {
		if (strcmp(s->attrs[i].name, "schemas") == 0) {
			ck_assert_ptr_null(by_name(attrs, "schemas"));
			continue;
		}
		check_attr(by_name(attrs, s->attrs[i].name), &s->attrs[i], 0);
		listed++;
	}
	/* Nothing listed that the table does not have. */
	ck_assert_uint_eq(json_array_size(attrs), listed);
}

START_TEST(test_spconfig_features)
{
	struct scim_discovery_limits	 lim;
	json_t				*o, *auth;

	lim.max_results = 1000;
	lim.body_max = 4194304;
	o = scim_discovery_spconfig(BASE, &lim);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(o, "schemas"), 0)), SCIM_SCHEMA_SPCONFIG);
	ck_assert(json_is_true(json_object_get(json_object_get(o, "patch"),
	    "supported")));
	ck_assert(json_is_false(json_object_get(json_object_get(o, "bulk"),
	    "supported")));
	/* Okta asserts both even when bulk is unsupported. */
	ck_assert(json_is_integer(json_object_get(json_object_get(o, "bulk"),
	    "maxOperations")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "bulk"), "maxPayloadSize")), 4194304);
	ck_assert(json_is_true(json_object_get(json_object_get(o, "filter"),
	    "supported")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "filter"), "maxResults")), 1000);
	ck_assert(json_is_false(json_object_get(json_object_get(o,
	    "changePassword"), "supported")));
	ck_assert(json_is_true(json_object_get(json_object_get(o, "sort"),
	    "supported")));
	ck_assert(json_is_true(json_object_get(json_object_get(o, "etag"),
	    "supported")));
	auth = json_array_get(json_object_get(o, "authenticationSchemes"), 0);
	ck_assert_str_eq(str(auth, "type"), "oauthbearertoken");
	ck_assert(str(auth, "name")[0] != '\0');
	ck_assert(str(auth, "description")[0] != '\0');
	ck_assert_str_eq(str(json_object_get(o, "meta"), "location"),
	    BASE "/ServiceProviderConfig");
	ck_assert_str_eq(str(json_object_get(o, "meta"), "resourceType"),
	    "ServiceProviderConfig");
	json_decref(o);

	/* The limits are the caller's, not constants. */
	lim.max_results = 7;
	lim.body_max = 1024;
	o = scim_discovery_spconfig(NULL, &lim);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "filter"), "maxResults")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "bulk"), "maxPayloadSize")), 1024);
	ck_assert_ptr_null(json_object_get(json_object_get(o, "meta"),
	    "location"));
	json_decref(o);

	ck_assert_ptr_null(scim_discovery_spconfig(BASE, NULL));
}
END_TEST

START_TEST(test_schemas_match_tables)
{
	static const enum scim_resource	 types[] = { SCIM_RES_USER,
					    SCIM_RES_GROUP };
	const struct scim_schema *const	*exts;
	json_t				*list, *res;
	size_t				 i, j, n, k;

	list = scim_discovery_schemas(BASE);
	ck_assert_ptr_nonnull(list);
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(list, "schemas"), 0)), SCIM_LIST_RESPONSE);
	res = json_object_get(list, "Resources");
	ck_assert_uint_eq(json_array_size(res), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(list,
	    "totalResults")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(list,
	    "itemsPerPage")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(list,
	    "startIndex")), 1);

	k = 0;
	for (i = 0; i < 2; i++) {
		check_schema(json_array_get(res, k++),
		    scim_schema_core(types[i]));
		exts = scim_schema_extensions(types[i], &n);
		for (j = 0; j < n; j++)
			check_schema(json_array_get(res, k++), exts[j]);
	}
	ck_assert_uint_eq(k, 3);
	json_decref(list);
}
END_TEST

/* RFC 7643 section 8.7.1 facts that Entra and Okta depend on. */
START_TEST(test_schema_rfc_facts)
{
	json_t		*u, *g, *e, *a, *s;

	u = scim_discovery_schema(BASE, scim_schema_core(SCIM_RES_USER));
	g = scim_discovery_schema(BASE, scim_schema_core(SCIM_RES_GROUP));
	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_nonnull(g);
	/* Microsoft's collection greps the body for this text. */
	ck_assert_str_eq(str(u, "description"), "User Account");

	a = by_name(json_object_get(u, "attributes"), "userName");
	ck_assert(json_is_true(json_object_get(a, "required")));
	ck_assert(json_is_false(json_object_get(a, "caseExact")));
	ck_assert_str_eq(str(a, "uniqueness"), "server");

	a = by_name(json_object_get(u, "attributes"), "id");
	ck_assert_str_eq(str(a, "mutability"), "readOnly");
	ck_assert_str_eq(str(a, "returned"), "always");
	ck_assert(json_is_true(json_object_get(a, "caseExact")));

	a = by_name(json_object_get(u, "attributes"), "externalId");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(str(a, "mutability"), "readWrite");

	a = by_name(json_object_get(u, "attributes"), "password");
	ck_assert_str_eq(str(a, "mutability"), "writeOnly");
	ck_assert_str_eq(str(a, "returned"), "never");

	a = by_name(json_object_get(u, "attributes"), "groups");
	ck_assert_str_eq(str(a, "mutability"), "readOnly");
	ck_assert(json_is_true(json_object_get(a, "multiValued")));

	a = by_name(json_object_get(u, "attributes"), "emails");
	s = by_name(json_object_get(a, "subAttributes"), "primary");
	ck_assert_str_eq(str(s, "type"), "boolean");

	a = by_name(json_object_get(g, "attributes"), "members");
	s = by_name(json_object_get(a, "subAttributes"), "value");
	ck_assert_str_eq(str(s, "mutability"), "immutable");
	s = by_name(json_object_get(a, "subAttributes"), "$ref");
	ck_assert_str_eq(str(s, "type"), "reference");
	ck_assert_ptr_null(by_name(json_object_get(g, "attributes"),
	    "userName"));

	e = scim_discovery_schema(NULL, scim_schema_by_urn(SCIM_RES_USER,
	    SCIM_SCHEMA_ENTERPRISE));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(json_object_get(json_object_get(e, "meta"),
	    "location"));
	a = by_name(json_object_get(e, "attributes"), "manager");
	ck_assert_str_eq(str(a, "type"), "complex");
	s = by_name(json_object_get(a, "subAttributes"), "$ref");
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(s, "referenceTypes"), 0)), "User");
	/* Extension schemas carry no common attributes. */
	ck_assert_ptr_null(by_name(json_object_get(e, "attributes"), "id"));

	ck_assert_ptr_null(scim_discovery_schema(BASE, NULL));
	json_decref(u);
	json_decref(g);
	json_decref(e);
}
END_TEST

START_TEST(test_schema_get)
{
	struct scim_err	 err;
	json_t		*o;
	const char	*loc;

	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE, SCIM_SCHEMA_GROUP,
	    &o, &err), 0);
	ck_assert_str_eq(str(o, "id"), SCIM_SCHEMA_GROUP);
	loc = str(json_object_get(o, "meta"), "location");
	ck_assert_str_eq(loc, BASE "/Schemas/" SCIM_SCHEMA_GROUP);
	ck_assert_str_eq(str(json_object_get(o, "meta"), "resourceType"),
	    "Schema");
	json_decref(o);

	/* URNs compare case-insensitively. */
	ck_assert_int_eq(scim_discovery_schema_get(BASE,
	    "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER", &o,
	    &err), 0);
	ck_assert_str_eq(str(o, "id"), SCIM_SCHEMA_ENTERPRISE);
	json_decref(o);

	ck_assert_int_eq(scim_discovery_schema_get(BASE,
	    "urn:ietf:params:scim:schemas:core:2.0:Usr", &o, &err), -1);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(err.status, 404);
	ck_assert_ptr_nonnull(strstr(err.detail, "core:2.0:Usr"));

	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE, NULL, &o, &err), -1);
	ck_assert_int_eq(err.status, 404);
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE, "", &o, &err), -1);
	ck_assert_int_eq(err.status, 404);
	/* A prefix of a real URN is not that URN. */
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE,
	    "urn:ietf:params:scim:schemas:core:2.0", &o, &err), -1);
	ck_assert_int_eq(err.status, 404);
	/* The detail quotes, never interprets. */
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE, "%s%n%x", &o, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err.detail, "'%s%n%x'"));
}
END_TEST

START_TEST(test_schema_get_hostile_length)
{
	struct scim_err	 err;
	json_t		*o;
	char		*id;
	size_t		 len;

	len = 100000;
	id = malloc(len + 1);
	ck_assert_ptr_nonnull(id);
	memset(id, 'A', len);
	id[len] = '\0';
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_schema_get(BASE, id, &o, &err), -1);
	ck_assert_int_eq(err.status, 404);
	ck_assert_uint_lt(strlen(err.detail), SCIM_ERR_DETAIL_MAX);
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_resource_type_get(BASE, id, &o, &err),
	    -1);
	ck_assert_int_eq(err.status, 404);
	free(id);
}
END_TEST

START_TEST(test_resource_types)
{
	struct scim_err	 err;
	json_t		*list, *u, *g, *o, *ext;

	list = scim_discovery_resource_types(BASE);
	ck_assert_ptr_nonnull(list);
	ck_assert_int_eq(json_integer_value(json_object_get(list,
	    "totalResults")), 2);
	u = json_array_get(json_object_get(list, "Resources"), 0);
	g = json_array_get(json_object_get(list, "Resources"), 1);
	/* Microsoft's collection reads Resources[0].endpoint. */
	ck_assert_str_eq(str(u, "endpoint"), "/Users");
	ck_assert_str_eq(str(u, "id"), "User");
	ck_assert_str_eq(str(u, "name"), "User");
	ck_assert_str_eq(str(u, "schema"), SCIM_SCHEMA_USER);
	ck_assert_str_eq(json_string_value(json_array_get(
	    json_object_get(u, "schemas"), 0)), SCIM_SCHEMA_RESOURCETYPE);
	ext = json_array_get(json_object_get(u, "schemaExtensions"), 0);
	ck_assert_str_eq(str(ext, "schema"), SCIM_SCHEMA_ENTERPRISE);
	ck_assert(json_is_false(json_object_get(ext, "required")));
	ck_assert_str_eq(str(json_object_get(u, "meta"), "location"),
	    BASE "/ResourceTypes/User");
	ck_assert_str_eq(str(g, "endpoint"), "/Groups");
	ck_assert_str_eq(str(g, "schema"), SCIM_SCHEMA_GROUP);
	ck_assert_ptr_null(json_object_get(g, "schemaExtensions"));
	json_decref(list);

	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_resource_type_get(BASE, "group", &o,
	    &err), 0);
	ck_assert_str_eq(str(o, "id"), "Group");
	json_decref(o);
	ck_assert_int_eq(scim_discovery_resource_type_get(NULL, "USER", &o,
	    &err), 0);
	ck_assert_str_eq(str(o, "id"), "User");
	ck_assert_ptr_null(json_object_get(json_object_get(o, "meta"),
	    "location"));
	json_decref(o);
	ck_assert_int_eq(scim_discovery_resource_type_get(BASE, "Users", &o,
	    &err), -1);
	ck_assert_int_eq(err.status, 404);
	ck_assert_ptr_null(o);
	scim_err_init(&err);
	ck_assert_int_eq(scim_discovery_resource_type_get(BASE, NULL, &o,
	    &err), -1);
	ck_assert_int_eq(err.status, 404);

	ck_assert_ptr_null(scim_discovery_resource_type(BASE, SCIM_RES_NONE));
}
END_TEST

START_TEST(test_describe)
{
	const struct scim_schema	*u;
	struct scim_attr_ref		 ref;

	u = scim_schema_core(SCIM_RES_USER);
	ck_assert_int_eq(scim_schema_lookup(SCIM_RES_USER, "emails.type",
	    &ref), 0);
	ck_assert_ptr_nonnull(scim_discovery_describe(u, ref.attr, ref.sub));
	ck_assert_ptr_nonnull(scim_discovery_describe(u, ref.attr, NULL));
	ck_assert_ptr_null(scim_discovery_describe(NULL, ref.attr, NULL));
	ck_assert_ptr_null(scim_discovery_describe(u, NULL, NULL));
}
END_TEST

/* Everything must serialise: the glue sends it as it is. */
START_TEST(test_documents_serialise)
{
	struct scim_discovery_limits	 lim;
	json_t				*docs[3];
	char				*text;
	size_t				 i;

	lim.max_results = 1000;
	lim.body_max = 1 << 20;
	docs[0] = scim_discovery_spconfig(BASE, &lim);
	docs[1] = scim_discovery_schemas(BASE);
	docs[2] = scim_discovery_resource_types(BASE);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(docs[i]);
		text = json_dumps(docs[i], JSON_COMPACT);
		ck_assert_ptr_nonnull(text);
		ck_assert_uint_gt(strlen(text), 100);
		free(text);
		json_decref(docs[i]);
	}
}
END_TEST

static Suite *
discovery_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("scim_discovery");
	tc = tcase_create("core");
	tcase_add_test(tc, test_spconfig_features);
	tcase_add_test(tc, test_schemas_match_tables);
	tcase_add_test(tc, test_schema_rfc_facts);
	tcase_add_test(tc, test_schema_get);
	tcase_add_test(tc, test_schema_get_hostile_length);
	tcase_add_test(tc, test_resource_types);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_documents_serialise);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(discovery_suite()));
}
