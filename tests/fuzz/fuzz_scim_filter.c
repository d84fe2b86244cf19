/*
 * Fuzzes the SCIM filter: parse, canonical text, in-memory evaluation
 * (src/core) and SQL compilation (src/store/scim_filter_sql.c), plus
 * PATCH paths and value filters.
 *
 * Input: byte 0 picks the resource type (User, Group, schema-less) and
 * the first SQL placeholder number; the rest is the filter text.
 *
 * Properties:
 *   - compiling a parsed filter succeeds, or fails with 400 and leaves
 *     nothing behind;
 *   - the SQL uses exactly the placeholders $first .. $first+n-1, each
 *     at least once, one per parameter, and no quoted literal in it can
 *     come from the client (values only ever travel as parameters);
 *   - the canonical text of a filter parses again to the same canonical
 *     text and matches the same documents;
 *   - evaluation answers 0 or 1.
 */
#include <ctype.h>
#include <jansson.h>

#include "fuzz.h"
#include "scim_filter.h"
#include "scim_filter_sql.h"

static const char	*alice_json =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"6f1e8a2e-4b7c-4d55-9a0e-2f3c4d5e6f70\",\"externalId\":"
    "\"alice\",\"userName\":\"alice@contoso.com\",\"displayName\":"
    "\"Alice Smith\",\"active\":false,\"name\":{\"givenName\":\"Alice\","
    "\"familyName\":\"Employee\"},\"emails\":[{\"type\":\"work\",\"value\":"
    "\"Alice@Contoso.com\",\"primary\":true},{\"type\":\"other\","
    "\"value\":\"alice@example.org\"}],\"urn:ietf:params:scim:schemas:"
    "extension:enterprise:2.0:User\":{\"employeeNumber\":\"1001\","
    "\"department\":\"Sales\",\"manager\":{\"value\":"
    "\"0b8f5a3c-1d2e-4f60-8a7b-9c0d1e2f3a4b\"}},\"meta\":{\"resourceType\":"
    "\"User\",\"created\":\"2024-03-01T10:00:00Z\",\"lastModified\":"
    "\"2024-03-02T10:00:00Z\"}}";

static const char	*sales_json =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
    "\"id\":\"c2b8f0a4-7d1e-4c3b-9a2f-5e6d7c8b9a01\",\"externalId\":"
    "\"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\",\"displayName\":\"Sales\","
    "\"members\":[{\"value\":\"6f1e8a2e-4b7c-4d55-9a0e-2f3c4d5e6f70\"}],"
    "\"meta\":{\"resourceType\":\"Group\",\"created\":"
    "\"2024-03-01T10:00:00Z\"}}";

static json_t	*alice, *sales;

static void
load_docs(void)
{
	if (alice != NULL)
		return;
	alice = json_loads(alice_json, 0, NULL);
	sales = json_loads(sales_json, 0, NULL);
	if (alice == NULL || sales == NULL)
		abort();
}

/* Characters a fixed SQL literal of the compiler may hold. */
static int
literal_char(int c)
{
	return (isalnum(c) || strchr("_.:-\\\"{}[]", c) != NULL);
}

static void
check_sql(const struct scim_sql *sql, int first, const char *filter)
{
	const char	*p;
	char		*end;
	long		 n;
	size_t		 i;
	unsigned char	 used[SCIM_FILTER_MAX_TERMS * 4];

	FUZZ_ASSERT(sql->text != NULL, "no SQL for <%s>", filter);
	FUZZ_ASSERT(sql->nparams < sizeof(used), "%zu parameters for <%s>",
	    sql->nparams, filter);
	for (i = 0; i < sql->nparams; i++)
		FUZZ_ASSERT(sql->params[i] != NULL, "parameter %zu is NULL", i);
	memset(used, 0, sizeof(used));
	for (p = sql->text; *p != '\0'; p++) {
		if (*p == '\'') {
			/* A literal: only fixed words, never client text. */
			for (p++; *p != '\0' && *p != '\''; p++)
				FUZZ_ASSERT(literal_char((unsigned char)*p),
				    "client text in a SQL literal: <%s> from "
				    "<%s>", sql->text, filter);
			FUZZ_ASSERT(*p == '\'', "unterminated literal in <%s>",
			    sql->text);
			continue;
		}
		if (*p != '$')
			continue;
		FUZZ_ASSERT(isdigit((unsigned char)p[1]), "stray $ in <%s>",
		    sql->text);
		n = strtol(p + 1, &end, 10);
		FUZZ_ASSERT(n >= first && n < first + (long)sql->nparams,
		    "placeholder $%ld outside $%d..$%zu in <%s>", n, first,
		    first + sql->nparams - 1, sql->text);
		used[n - first] = 1;
		p = end - 1;
	}
	for (i = 0; i < sql->nparams; i++)
		FUZZ_ASSERT(used[i], "parameter $%zu never used in <%s>",
		    first + i, sql->text);
}

/* Deepest ( ) nesting of a text, to skip round trips over the limits. */
static int
paren_depth(const char *s)
{
	int	d, max;

	for (d = max = 0; *s != '\0'; s++) {
		if (*s == '(' || *s == '[')
			d++;
		else if (*s == ')' || *s == ']')
			d--;
		if (d > max)
			max = d;
	}
	return (max);
}

static void
check_round_trip(enum scim_resource type, const struct scim_filter *f,
    const char *filter)
{
	struct scim_filter	*g;
	struct scim_err		 err;
	char			*t1, *t2;

	if ((t1 = scim_filter_to_string(f)) == NULL)
		abort();
	/* Full parentheses may push a legal filter over the limits. */
	if (strlen(t1) > SCIM_FILTER_MAX_LEN ||
	    paren_depth(t1) > SCIM_FILTER_MAX_DEPTH / 2) {
		free(t1);
		return;
	}
	scim_err_init(&err);
	FUZZ_ASSERT(scim_filter_parse(type, t1, &g, &err) == 0,
	    "canonical <%s> of <%s> does not parse: %s", t1, filter,
	    err.detail);
	if ((t2 = scim_filter_to_string(g)) == NULL)
		abort();
	FUZZ_ASSERT(strcmp(t1, t2) == 0, "<%s> -> <%s> -> <%s>", filter, t1,
	    t2);
	FUZZ_ASSERT(scim_filter_match(f, alice) == scim_filter_match(g, alice) &&
	    scim_filter_match(f, sales) == scim_filter_match(g, sales),
	    "<%s> and its canonical <%s> match differently", filter, t1);
	free(t2);
	free(t1);
	scim_filter_free(g);
}

static void
fuzz_value_filter(enum scim_resource type, const char *text)
{
	struct scim_attr_ref	 ref;
	struct scim_filter	*f;
	struct scim_err		 err;
	json_t			*emails, *e;
	size_t			 i;

	if (type != SCIM_RES_USER || scim_schema_lookup(type, "emails",
	    &ref) == -1)
		return;
	scim_err_init(&err);
	if (scim_filter_parse_value(type, &ref, text, &f, &err) == -1) {
		FUZZ_ASSERT(f == NULL && err.status == 400, "value filter "
		    "failed with %d", err.status);
		return;
	}
	emails = json_object_get(alice, "emails");
	json_array_foreach(emails, i, e) {
		FUZZ_ASSERT(scim_filter_match_element(f, e) == 0 ||
		    scim_filter_match_element(f, e) == 1, "element match");
	}
	scim_filter_free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum scim_resource	 types[] = { SCIM_RES_USER,
	    SCIM_RES_GROUP, SCIM_RES_NONE };
	enum scim_resource		 type;
	struct scim_filter		*f;
	struct scim_path		 path;
	struct scim_sql			 sql;
	struct scim_err			 err;
	char				*text;
	int				 first, m;

	if (size < 1)
		return (0);
	load_docs();
	type = types[data[0] % 3];
	first = 1 + (data[0] >> 4) % 4;
	text = fuzz_strndup(data + 1, size - 1);

	scim_err_init(&err);
	if (scim_filter_parse(type, text, &f, &err) == -1) {
		FUZZ_ASSERT(f == NULL && err.status == 400 &&
		    err.detail[0] != '\0', "parse failed without a 400");
	} else {
		m = scim_filter_match(f, type == SCIM_RES_GROUP ? sales :
		    alice);
		FUZZ_ASSERT(m == 0 || m == 1, "match answered %d", m);
		check_round_trip(type, f, text);
		if (type != SCIM_RES_NONE) {
			memset(&sql, 0, sizeof(sql));
			scim_err_init(&err);
			if (scim_filter_to_sql(f, type, &sql, first,
			    &err) == 0) {
				check_sql(&sql, first, text);
			} else {
				FUZZ_ASSERT(err.status == 400 &&
				    sql.text == NULL && sql.params == NULL &&
				    sql.nparams == 0, "compile failed with %d "
				    "and left SQL behind", err.status);
			}
			scim_sql_clear(&sql);
		}
		scim_filter_free(f);
	}

	/* The same text as a PATCH path and as a value filter. */
	scim_err_init(&err);
	if (scim_path_parse(type, text, &path, &err) == 0)
		scim_path_clear(&path);
	else
		FUZZ_ASSERT(err.status == 400, "path failed with %d",
		    err.status);
	fuzz_value_filter(type, text);
	free(text);

	return (0);
}
