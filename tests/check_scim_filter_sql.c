/*
 * check_scim_filter_sql: unit tests for the filter->SQL compiler of the
 * store (scim_filter_sql.h): the exact text for columns, the document
 * and memberships, values only as parameters (hostile literals), errors
 * leaving nothing behind, and every Entra filter of the fixture
 * compiling.  Pure text: no database is needed.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "check_main.h"
#include "scim_error.h"
#include "scim_filter.h"
#include "scim_filter_sql.h"
#include "scim_schema.h"

#define ENT_URN	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static struct scim_filter *
parse_ok(enum scim_resource type, const char *text)
{
	struct scim_filter	*f;
	struct scim_err		 err;

	scim_err_init(&err);
	if (scim_filter_parse(type, text, &f, &err) == -1)
		ck_abort_msg("parse of <%s> failed: %s", text, err.detail);
	ck_assert_ptr_nonnull(f);
	return (f);
}

static void
sql_of(enum scim_resource type, const char *filter, int first,
    struct scim_sql *sql)
{
	struct scim_filter	*f;
	struct scim_err		 err;

	f = parse_ok(type, filter);
	scim_err_init(&err);
	if (scim_filter_to_sql(f, type, sql, first, &err) == -1)
		ck_abort_msg("sql of <%s>: %s", filter, err.detail);
	scim_filter_free(f);
}

static void
sql_is(enum scim_resource type, const char *filter, const char *want,
    size_t nparams, ...)
{
	struct scim_sql	 sql;
	va_list		 ap;
	size_t		 i;

	sql_of(type, filter, 2, &sql);
	if (strcmp(sql.text, want) != 0)
		ck_abort_msg("<%s> compiled to\n%s\nwant\n%s", filter,
		    sql.text, want);
	ck_assert_uint_eq(sql.nparams, nparams);
	va_start(ap, nparams);
	for (i = 0; i < nparams; i++)
		ck_assert_str_eq(sql.params[i], va_arg(ap, const char *));
	va_end(ap);
	scim_sql_clear(&sql);
	ck_assert_ptr_null(sql.text);
}

START_TEST(t_sql_columns)
{
	/* userName compares by the stored key with the literal's key. */
	sql_is(SCIM_RES_USER, "userName eq \"Alice@Contoso.com\"",
	    "(user_name_key = $2::text)", 1, "alice@contoso.com");
	sql_is(SCIM_RES_USER, "userName eq \"\u00c9MILE@x\"",
	    "(user_name_key = $2::text)", 1, "\xc3\xa9mile@x");
	sql_is(SCIM_RES_USER, "userName eq \"E\u0301mile@x\"",
	    "(user_name_key = $2::text)", 1, "\xc3\xa9mile@x");
	sql_is(SCIM_RES_USER, "userName eq \"STRASSE\"",
	    "(user_name_key = $2::text)", 1, "strasse");
	sql_is(SCIM_RES_USER, "userName eq \"Stra\u00dfe\"",
	    "(user_name_key = $2::text)", 1, "strasse");
	sql_is(SCIM_RES_USER, "userName eq \"\u212aelvin\"",
	    "(user_name_key = $2::text)", 1, "kelvin");
	sql_is(SCIM_RES_USER, "externalId eq \"AliceW\"",
	    "(external_id = $2::text)", 1, "AliceW");
	sql_is(SCIM_RES_GROUP, "displayName eq \"Sales\"",
	    "(lower(display_name) = lower($2::text))", 1, "Sales");
	sql_is(SCIM_RES_USER, "id eq \"2819c223-7f76-453a-919d-413861904646\"",
	    "(id = $2::uuid)", 1, "2819c223-7f76-453a-919d-413861904646");
	sql_is(SCIM_RES_USER, "id eq \"not-a-uuid\"", "FALSE", 0);
	sql_is(SCIM_RES_USER, "active eq \"False\"",
	    "(active = $2::boolean)", 1, "false");
	sql_is(SCIM_RES_USER, "meta.Created gt \"2011-05-13T04:42:34Z\"",
	    "(created_at > $2::timestamptz)", 1,
	    "2011-05-13T04:42:34.000000000Z");
	/* Bare dates and offsets become UTC: PostgreSQL would use its
	 * session time zone. */
	sql_is(SCIM_RES_USER, "meta.lastModified le \"2011-05-13\"",
	    "(updated_at <= $2::timestamptz)", 1,
	    "2011-05-13T00:00:00.000000000Z");
	sql_is(SCIM_RES_USER, "meta.created lt "
	    "\"2015-10-10T14:38:21.8617979-07:00\"",
	    "(created_at < $2::timestamptz)", 1,
	    "2015-10-10T21:38:21.861797900Z");
	sql_is(SCIM_RES_USER, "meta.created lt \"1969-12-31T23:59:59.5Z\"",
	    "(created_at < $2::timestamptz)", 1,
	    "1969-12-31T23:59:59.500000000Z");
	sql_is(SCIM_RES_USER, "meta.created eq \"2000-02-29T23:59:60+01:00\"",
	    "(created_at = $2::timestamptz)", 1,
	    "2000-02-29T23:00:00.000000000Z");
	sql_is(SCIM_RES_USER, "userName sw \"O\"",
	    "(user_name_key LIKE $2::text ESCAPE '\\')", 1, "o%");
	sql_is(SCIM_RES_USER, "externalId pr",
	    "(external_id IS NOT NULL AND external_id <> '')", 0);
	sql_is(SCIM_RES_USER, "externalId eq null", "(external_id IS NULL)", 0);
	sql_is(SCIM_RES_USER, "userName ne \"A\"",
	    "(NOT COALESCE((user_name_key = $2::text), false))", 1,
	    "a");
	sql_is(SCIM_RES_USER, "userName gt \"M\"",
	    "(user_name_key COLLATE \"C\" > $2::text)", 1, "m");
	sql_is(SCIM_RES_USER, "userName pr", "(user_name_key IS NOT NULL)", 0);
}
END_TEST

START_TEST(t_sql_json)
{
	/* Emails: the GIN-indexed keys; with a value filter, the key of
	 * the element the filter matched (by its ordinal). */
	sql_is(SCIM_RES_USER, "emails[type eq \"work\"].value eq \"A@b.c\"",
	    "(emails_key @> ARRAY[$2::text] AND EXISTS (SELECT 1 FROM "
	    "jsonb_array_elements(CASE WHEN jsonb_typeof(doc->'emails') = "
	    "'array' THEN doc->'emails' ELSE '[]'::jsonb END) WITH ORDINALITY "
	    "AS e(v, o) WHERE ((lower(e.v->>'type') = lower($3::text))) AND "
	    "emails_key[e.o::int] = $2::text))", 2, "a@b.c", "work");
	sql_is(SCIM_RES_USER, "emails.value eq \"\u00c9mile@B.c\"",
	    "(emails_key @> ARRAY[$2::text])", 1, "\xc3\xa9mile@b.c");
	sql_is(SCIM_RES_USER, "emails[value eq \"A@b.c\"]",
	    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
	    "jsonb_typeof(doc->'emails') = 'array' THEN doc->'emails' ELSE "
	    "'[]'::jsonb END) WITH ORDINALITY AS e(v, o) WHERE "
	    "((emails_key[e.o::int] = $2::text)))", 1, "a@b.c");
	sql_is(SCIM_RES_USER, "emails.value sw \"A\"",
	    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
	    "jsonb_typeof(doc->'emails') = 'array' THEN doc->'emails' ELSE "
	    "'[]'::jsonb END) WITH ORDINALITY AS e(v, o) WHERE "
	    "(emails_key[e.o::int] LIKE $2::text ESCAPE '\\'))", 1, "a%");
	sql_is(SCIM_RES_USER, "name.familyName co \"x\"",
	    "(lower(doc->'name'->>'familyName') LIKE lower($2::text) "
	    "ESCAPE '\\')", 1, "%x%");
	sql_is(SCIM_RES_USER, "urn:ietf:params:scim:schemas:extension:"
	    "enterprise:2.0:User:department eq \"Sales\"",
	    "(lower((doc->'" ENT_URN "'->'department' #>> '{}')) = "
	    "lower($2::text))", 1, "Sales");
	sql_is(SCIM_RES_USER, "manager eq \"m1\"",
	    "(lower(doc->'" ENT_URN "'->'manager'->>'value') = "
	    "lower($2::text))", 1, "m1");
	sql_is(SCIM_RES_USER, "title pr",
	    "COALESCE(doc->'title' NOT IN ('null'::jsonb, '\"\"'::jsonb, "
	    "'[]'::jsonb, '{}'::jsonb), false)", 0);
	sql_is(SCIM_RES_USER, "phoneNumbers.type ne \"fax\"",
	    "(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
	    "jsonb_typeof(doc->'phoneNumbers') = 'array' THEN "
	    "doc->'phoneNumbers' ELSE '[]'::jsonb END) WITH ORDINALITY AS "
	    "e(v, o) WHERE "
	    "(lower(e.v->>'type') = lower($2::text))))", 1, "fax");
	sql_is(SCIM_RES_USER, "emails[primary eq true]",
	    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
	    "jsonb_typeof(doc->'emails') = 'array' THEN doc->'emails' ELSE "
	    "'[]'::jsonb END) WITH ORDINALITY AS e(v, o) WHERE "
	    "((e.v->>'primary' = $2::text)))",
	    1, "true");
	sql_is(SCIM_RES_GROUP, "members[value eq "
	    "\"2819c223-7f76-453a-919d-413861904646\"]",
	    "EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = groups.id "
	    "AND m.user_id = $2::uuid)", 1,
	    "2819c223-7f76-453a-919d-413861904646");
	sql_is(SCIM_RES_GROUP, "members.value eq \"junk\"", "FALSE", 0);
	sql_is(SCIM_RES_GROUP, "members pr", "EXISTS (SELECT 1 FROM "
	    "memberships m WHERE m.group_id = groups.id)", 0);
	sql_is(SCIM_RES_USER, "userName eq \"a\" and (title pr or not "
	    "(nickName eq \"b\"))", "((user_name_key = $2::text) "
	    "AND (COALESCE(doc->'title' NOT IN ('null'::jsonb, '\"\"'::jsonb, "
	    "'[]'::jsonb, '{}'::jsonb), false) OR (NOT COALESCE((lower("
	    "(doc->'nickName' #>> '{}')) = lower($3::text)), false))))", 2,
	    "a", "b");
}
END_TEST

START_TEST(t_sql_injection)
{
	static const char *const hostile[] = {
	    "userName eq \"x' OR '1'='1\"",
	    "userName co \"50%_off\\\\'; DROP TABLE users; --\"",
	    "emails[type eq \"w'\"].value eq \"a'@b\"",
	    "name.givenName sw \"$1 \\\" ) OR TRUE --\"",
	    "externalId ew \"\\\\\"",
	};
	struct scim_sql	 sql;
	size_t		 i;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		sql_of(SCIM_RES_USER, hostile[i], 7, &sql);
		ck_assert_ptr_null(strstr(sql.text, "DROP"));
		ck_assert_ptr_null(strstr(sql.text, "OR TRUE"));
		ck_assert_ptr_null(strstr(sql.text, "'1'"));
		ck_assert_ptr_null(strstr(sql.text, "50"));
		ck_assert_ptr_null(strstr(sql.text, "$1 "));
		ck_assert_ptr_nonnull(strstr(sql.text, "$7::text"));
		ck_assert_uint_ge(sql.nparams, 1);
		scim_sql_clear(&sql);
	}

	/* LIKE metacharacters are escaped in the parameter. */
	sql_of(SCIM_RES_USER, "userName co \"50%_off\\\\\"", 3, &sql);
	ck_assert_str_eq(sql.params[0], "%50\\%\\_off\\\\%");
	scim_sql_clear(&sql);
	sql_of(SCIM_RES_USER, "userName ew \"x\"", 3, &sql);
	ck_assert_str_eq(sql.params[0], "%x");
	scim_sql_clear(&sql);
	/* eq is not a LIKE: nothing escaped. */
	sql_of(SCIM_RES_USER, "userName eq \"50%_\"", 3, &sql);
	ck_assert_str_eq(sql.params[0], "50%_");
	ck_assert_ptr_nonnull(strstr(sql.text, "$3"));
	scim_sql_clear(&sql);
}
END_TEST

START_TEST(t_sql_errors)
{
	struct scim_filter	*f;
	struct scim_sql		 sql;
	struct scim_err		 err;

	scim_err_init(&err);
	f = parse_ok(SCIM_RES_GROUP, "members.display eq \"x\"");
	ck_assert_int_eq(scim_filter_to_sql(f, SCIM_RES_GROUP, &sql, 1, &err),
	    -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.scim_type, "invalidFilter");
	ck_assert_ptr_null(sql.text);
	ck_assert_uint_eq(sql.nparams, 0);
	scim_filter_free(f);

	f = parse_ok(SCIM_RES_USER, "meta.version eq \"W/1\"");
	ck_assert_int_eq(scim_filter_to_sql(f, SCIM_RES_USER, &sql, 1, &err),
	    -1);
	ck_assert(strstr(err.detail, "meta.version") != NULL);
	scim_filter_free(f);

	/* An error after parameters were added leaves nothing behind. */
	f = parse_ok(SCIM_RES_GROUP, "displayName eq \"a\" and members.type "
	    "eq \"User\"");
	ck_assert_int_eq(scim_filter_to_sql(f, SCIM_RES_GROUP, &sql, 1, &err),
	    -1);
	ck_assert_ptr_null(sql.params);
	scim_filter_free(f);

	f = parse_ok(SCIM_RES_NONE, "x eq 1");
	ck_assert_int_eq(scim_filter_to_sql(f, SCIM_RES_NONE, &sql, 1, &err),
	    -1);
	scim_filter_free(f);
}
END_TEST

/* Everything Entra sends (tests/fixtures/filters-entra.json) compiles. */
START_TEST(t_sql_entra_fixture)
{
	json_t			*fx, *cases, *c;
	json_error_t		 jerr;
	struct scim_filter	*f;
	struct scim_sql		 sql;
	struct scim_err		 err;
	enum scim_resource	 type;
	const char		*text;
	size_t			 i, n;

	fx = json_load_file(TESTS_DIR "/fixtures/filters-entra.json", 0,
	    &jerr);
	if (fx == NULL)
		ck_abort_msg("fixture: %s", jerr.text);
	cases = json_object_get(fx, "cases");
	n = 0;
	json_array_foreach(cases, i, c) {
		if (json_object_get(c, "error") != NULL)
			continue;
		text = json_string_value(json_object_get(c, "filter"));
		type = strcmp(json_string_value(json_object_get(c, "type")),
		    "Group") == 0 ? SCIM_RES_GROUP : SCIM_RES_USER;
		f = parse_ok(type, text);
		scim_err_init(&err);
		if (scim_filter_to_sql(f, type, &sql, 2, &err) == -1)
			ck_abort_msg("case %zu <%s>: %s", i, text, err.detail);
		ck_assert_ptr_nonnull(sql.text);
		scim_sql_clear(&sql);
		scim_filter_free(f);
		n++;
	}
	ck_assert_uint_ge(n, 20);
	json_decref(fx);
}
END_TEST

static Suite *
filter_sql_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("scim_filter_sql");
	tc = tcase_create("store");
	tcase_add_test(tc, t_sql_columns);
	tcase_add_test(tc, t_sql_json);
	tcase_add_test(tc, t_sql_injection);
	tcase_add_test(tc, t_sql_errors);
	tcase_add_test(tc, t_sql_entra_fixture);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(filter_sql_suite()));
}
