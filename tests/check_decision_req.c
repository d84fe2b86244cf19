/*
 * Unit tests for decision_req: the body shapes of /v1/authorize, the
 * batch and the tools filter, which member an error names first, and the
 * subject forms gateways send.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "decision_req.h"

static json_t *
body(const char *text)
{
	json_error_t	 jerr;
	json_t		*doc;

	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(doc != NULL, "fixture: %s", jerr.text);
	return (doc);
}

START_TEST(test_authorize_ok)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	 q;
	json_t			*b;

	b = body("{\"subject\":\"alice@contoso.com\",\"server\":\"github\","
	    "\"tool\":\"create_issue\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), 0);
	ck_assert_int_eq(s.any, 1);
	ck_assert_str_eq(s.value, "alice@contoso.com");
	ck_assert_str_eq(q.server, "github");
	ck_assert_str_eq(q.tool, "create_issue");
	json_decref(b);
}
END_TEST

START_TEST(test_token_subject)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	 q;
	json_t			*b;
	char			*big, *text;

	b = body("{\"token\":\"aaa.bbb.ccc\",\"server\":\"github\","
	    "\"tool\":\"create_issue\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), 0);
	ck_assert_str_eq(s.token, "aaa.bbb.ccc");
	ck_assert_ptr_null(s.value);
	json_decref(b);

	/* Named twice, even the same way: refused. */
	b = body("{\"token\":\"aaa.bbb.ccc\",\"subject\":\"alice\","
	    "\"server\":\"github\",\"tool\":\"t\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	ck_assert_ptr_nonnull(strstr(err.msg, "not both"));
	json_decref(b);

	b = body("{\"token\":42,\"server\":\"github\",\"tool\":\"t\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	json_decref(b);

	/* A NUL inside: refused, never cut short at it. */
	b = json_pack("{s:s#, s:s, s:s}", "token", "aaa.bbb\0.ccc",
	    (int)sizeof("aaa.bbb\0.ccc") - 1, "server", "github", "tool", "t");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	json_decref(b);
	b = body("{\"token\":\"\",\"items\":[{\"server\":\"a\","
	    "\"tool\":\"b\"}]}");
	ck_assert_int_eq(decision_body_subject_parse(b, &s, &err), -1);
	json_decref(b);

	/* Longer than any access token. */
	big = malloc(DECISION_TOKEN_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', DECISION_TOKEN_MAX + 1);
	big[DECISION_TOKEN_MAX + 1] = '\0';
	text = malloc(DECISION_TOKEN_MAX + 64);
	ck_assert_ptr_nonnull(text);
	(void)snprintf(text, DECISION_TOKEN_MAX + 64, "{\"token\":\"%s\"}",
	    big);
	b = body(text);
	ck_assert_int_eq(decision_body_subject_parse(b, &s, &err), -1);
	json_decref(b);
	big[DECISION_TOKEN_MAX] = '\0';
	(void)snprintf(text, DECISION_TOKEN_MAX + 64, "{\"token\":\"%s\"}",
	    big);
	b = body(text);
	ck_assert_int_eq(decision_body_subject_parse(b, &s, &err), 0);
	json_decref(b);
	free(big);
	free(text);
}
END_TEST

START_TEST(test_authorize_errors_in_order)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	 q;
	json_t			*b;

	/* Server and tool are checked before the subject. */
	b = body("{\"subject\":7,\"server\":\"github\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.code, "invalid_request");
	ck_assert_ptr_nonnull(strstr(err.msg, "'server'"));
	json_decref(b);

	b = body("{\"subject\":7,\"server\":\"github\",\"tool\":\"t\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	ck_assert_ptr_null(s.value);
	json_decref(b);

	b = body("{\"subject\":\"a\",\"server\":\"\",\"tool\":\"t\"}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_request");
	json_decref(b);

	b = body("{\"subject\":\"a\",\"server\":\"s\",\"tool\":[\"t\"]}");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	json_decref(b);
}
END_TEST

START_TEST(test_name_limits)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	 q;
	json_t			*b;
	char			 name[POLICY_NAME_MAX + 1];

	memset(name, 'x', sizeof(name));
	name[POLICY_NAME_MAX - 1] = '\0';
	b = json_pack("{s:s, s:s, s:s}", "subject", name, "server", name,
	    "tool", name);
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), 0);
	json_decref(b);

	name[POLICY_NAME_MAX - 1] = 'x';
	name[POLICY_NAME_MAX] = '\0';
	b = json_pack("{s:s, s:s, s:s}", "subject", "a", "server", "s",
	    "tool", name);
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_request");
	json_decref(b);

	b = json_pack("{s:s, s:s, s:s}", "subject", name, "server", "s",
	    "tool", "t");
	ck_assert_int_eq(decision_authorize_parse(b, &s, &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	json_decref(b);
}
END_TEST

START_TEST(test_subject_forms)
{
	static const struct {
		const char		*json;
		int			 rc;
		enum policy_alias	 by;
		const char		*value;
	} cases[] = {
		{ "{\"id\":\"u1\"}", 0, POLICY_BY_ID, "u1" },
		{ "{\"upn\":\"a@b\"}", 0, POLICY_BY_USERNAME, "a@b" },
		{ "{\"user_name\":\"a@b\"}", 0, POLICY_BY_USERNAME, "a@b" },
		{ "{\"oid\":\"x\"}", 0, POLICY_BY_EXTERNAL_ID, "x" },
		{ "{\"email\":\"a@b\"}", 0, POLICY_BY_EMAIL, "a@b" },
		{ "{\"client_id\":\"c\"}", 0, POLICY_BY_APP_ID, "c" },
		/* The first known key with a string value decides. */
		{ "{\"email\":\"e\",\"id\":\"i\"}", 0, POLICY_BY_ID, "i" },
		{ "{\"id\":5,\"email\":\"e\"}", 0, POLICY_BY_EMAIL, "e" },
		{ "{\"id\":\"\",\"email\":\"e\"}", -1, 0, NULL },
		{ "{\"name\":\"alice\"}", -1, 0, NULL },
		{ "{}", -1, 0, NULL },
		{ "[\"alice\"]", -1, 0, NULL },
		{ "\"\"", -1, 0, NULL },
		{ "null", -1, 0, NULL },
	};
	struct decision_subject	 s;
	struct decision_err	 err;
	json_t			*v;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		ck_assert_int_eq(decision_subject_parse(v, &s, &err),
		    cases[i].rc);
		if (cases[i].rc == 0) {
			ck_assert_int_eq(s.any, 0);
			ck_assert_int_eq(s.by, cases[i].by);
			ck_assert_str_eq(s.value, cases[i].value);
		} else {
			ck_assert_str_eq(err.code, "invalid_subject");
			ck_assert_int_eq(err.status, 400);
		}
		json_decref(v);
	}
	ck_assert_int_eq(decision_subject_parse(NULL, &s, &err), -1);
}
END_TEST

START_TEST(test_batch)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	*q;
	json_t			*b;
	size_t			 n;

	b = body("{\"subject\":{\"id\":\"u1\"},\"items\":[{\"server\":\"a\","
	    "\"tool\":\"x\"},{\"server\":\"b\",\"tool\":\"y\"}]}");
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(q[1].server, "b");
	ck_assert_str_eq(q[1].tool, "y");
	ck_assert_ptr_null(q[2].server);
	free(q);
	json_decref(b);

	/* The shape of items comes before the subject ... */
	b = body("{\"subject\":1,\"items\":[]}");
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.code, "invalid_request");
	ck_assert_ptr_nonnull(strstr(err.msg, "1 to 10000"));
	ck_assert_ptr_null(q);
	json_decref(b);

	/* ... and the subject before the items themselves. */
	b = body("{\"subject\":1,\"items\":[{}]}");
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.code, "invalid_subject");
	json_decref(b);

	b = body("{\"subject\":\"u\",\"items\":[{\"server\":\"a\","
	    "\"tool\":\"x\"},{\"server\":\"b\"}]}");
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.msg, "items[1] needs string 'server' and 'tool'");
	ck_assert_ptr_null(q);
	ck_assert_uint_eq(n, 0);
	json_decref(b);
}
END_TEST

START_TEST(test_batch_limit)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	*q;
	json_t			*b, *items;
	size_t			 i, n;

	items = json_array();
	for (i = 0; i < DECISION_BATCH_MAX; i++)
		json_array_append_new(items, json_pack("{s:s, s:s}", "server",
		    "s", "tool", "t"));
	b = json_pack("{s:s, s:O}", "subject", "u", "items", items);
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), 0);
	ck_assert_uint_eq(n, DECISION_BATCH_MAX);
	free(q);
	json_decref(b);

	json_array_append_new(items, json_pack("{s:s, s:s}", "server", "s",
	    "tool", "t"));
	b = json_pack("{s:s, s:o}", "subject", "u", "items", items);
	ck_assert_int_eq(decision_batch_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.code, "invalid_request");
	json_decref(b);
}
END_TEST

START_TEST(test_tools)
{
	struct decision_subject	 s;
	struct decision_err	 err;
	struct policy_query	*q;
	json_t			*b;
	size_t			 n;

	b = body("{\"subject\":\"u\",\"server\":\"gh\",\"tools\":[\"a\","
	    "{\"name\":\"b\",\"description\":\"d\"}]}");
	ck_assert_int_eq(decision_tools_parse(b, &s, &q, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(q[0].tool, "a");
	ck_assert_str_eq(q[1].tool, "b");
	ck_assert_str_eq(q[1].server, "gh");
	free(q);
	json_decref(b);

	/* An empty tools/list is fine. */
	b = body("{\"subject\":\"u\",\"server\":\"gh\",\"tools\":[]}");
	ck_assert_int_eq(decision_tools_parse(b, &s, &q, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	free(q);
	json_decref(b);

	b = body("{\"subject\":\"u\",\"server\":\"gh\",\"tools\":[\"a\","
	    "{\"title\":\"b\"}]}");
	ck_assert_int_eq(decision_tools_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.msg, "tools[1] is not a tool name or an object "
	    "with a 'name'");
	json_decref(b);

	b = body("{\"subject\":\"u\",\"tools\":[]}");
	ck_assert_int_eq(decision_tools_parse(b, &s, &q, &n, &err), -1);
	ck_assert_str_eq(err.code, "invalid_request");
	json_decref(b);
}
END_TEST

/*
 * The answer written as text is byte for byte what the jansson tree
 * /v1/authorize used to build and serialise (gw_decision_json).
 */
static char *
tree_text(const struct policy_result *r, int ttl_s)
{
	json_t	*out, *ob;
	char	*text;

	out = json_pack("{s:s, s:b, s:s, s:I, s:I, s:i}",
	    "decision", r->decision == POLICY_ALLOW ? "allow" : "deny",
	    "allow", r->decision == POLICY_ALLOW,
	    "reason_code", policy_reason_str(r->reason),
	    "policy_version", (json_int_t)r->policy_version,
	    "subject_epoch", (json_int_t)r->subject_epoch,
	    "ttl_s", ttl_s);
	ck_assert_ptr_nonnull(out);
	if (r->rule_id != NULL)
		json_object_set_new(out, "rule_id", json_string(r->rule_id));
	if (r->group_id != NULL)
		json_object_set_new(out, "group_id", json_string(r->group_id));
	if (r->grant_id != NULL)
		json_object_set_new(out, "grant_id", json_string(r->grant_id));
	if (r->role != NULL)
		json_object_set_new(out, "role", json_string(r->role));
	if (r->reason == POLICY_R_ELEVATION_REQUIRED) {
		ob = json_pack("{s:s, s:s*, s:I}", "type", "request_grant",
		    "rule_id", r->rule_id, "max_duration_s",
		    (json_int_t)(r->max_grant_ms / 1000));
		json_object_set_new(out, "obligations", json_pack("[o]", ob));
	}
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return (text);
}

START_TEST(test_result_write)
{
	struct policy_result	r[5];
	struct jsonw		w;
	char			*want;
	size_t			i;

	memset(r, 0, sizeof(r));
	r[0].decision = POLICY_ALLOW;
	r[0].reason = POLICY_R_ALLOWED_BY_RULE;
	r[0].rule_id = "9b2c5c1e-0000-4000-8000-000000000001";
	r[0].group_id = "g\"1\\";
	r[0].policy_version = 18446744073709551ULL;
	r[0].subject_epoch = 7;
	r[1].decision = POLICY_DENY;
	r[1].reason = POLICY_R_PRINCIPAL_UNKNOWN;
	r[2].decision = POLICY_ALLOW;
	r[2].reason = POLICY_R_ALLOWED_BY_GRANT;
	r[2].rule_id = "r";
	r[2].grant_id = "gr\xc3\xa9";
	r[2].role = "mcp.admin";
	r[3].decision = POLICY_DENY;
	r[3].reason = POLICY_R_ELEVATION_REQUIRED;
	r[3].rule_id = "elev";
	r[3].max_grant_ms = 3600500;
	r[4].decision = POLICY_DENY;
	r[4].reason = POLICY_R_ELEVATION_REQUIRED;	/* no rule id: left out */
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		jsonw_init(&w, 16);
		decision_result_write(&w, &r[i], (int)i * 10);
		ck_assert_int_eq(w.failed, 0);
		want = tree_text(&r[i], (int)i * 10);
		ck_assert_str_eq(w.buf, want);
		ck_assert_uint_eq(w.len, strlen(want));
		free(want);
		jsonw_cleanup(&w);
	}
}
END_TEST

/*
 * The text reader agrees with the tree parser on every body it accepts,
 * and leaves every other body untouched for the tree parser.
 */
START_TEST(test_batch_text)
{
	static const char	*accepted[] = {
		"{\"subject\":\"u@x.com\",\"items\":[{\"server\":\"gh\","
		    "\"tool\":\"list\"}]}",
		" {\n\t\"items\" : [ {\"tool\":\"t1\" , \"server\":\"s\"},"
		    "{\"server\":\"s2\",\"tool\":\"t 2\"} ] ,\r\n"
		    "\"subject\":\"id-1\" } \n",
	};
	static const char	*refused[] = {
		"",
		"[]",
		"{}",
		"{\"subject\":\"u\"}",
		"{\"items\":[{\"server\":\"s\",\"tool\":\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[]}",
		"{\"subject\":{\"id\":\"u\"},\"items\":[{\"server\":\"s\","
		    "\"tool\":\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\","
		    "\"tool\":\"t\"}],\"extra\":1}",
		"{\"subject\":\"u\",\"subject\":\"v\",\"items\":[{\"server\":"
		    "\"s\",\"tool\":\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"server\":"
		    "\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"tool\":"
		    "\"t\",\"x\":1}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"\",\"tool\":"
		    "\"t\"}]}",
		"{\"subject\":\"\\u0075\",\"items\":[{\"server\":\"s\","
		    "\"tool\":\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\\\"\","
		    "\"tool\":\"t\"}]}",
		"{\"subject\":\"caf\xc3\xa9\",\"items\":[{\"server\":\"s\","
		    "\"tool\":\"t\"}]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"tool\":"
		    "\"t\"}]} x",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"tool\":"
		    "\"t\"},]}",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"tool\":"
		    "\"t\"}]",
		"{\"subject\":\"u\",\"items\":[{\"server\":\"s\",\"tool\":"
		    "\"t\"}]}\n{}",
	};
	struct decision_subject	 s1, s2;
	struct policy_query	*q1, *q2;
	struct decision_err	 err;
	json_t			*b;
	char			*text, *big, *p;
	size_t			 i, j, n1, n2, len;

	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		text = strdup(accepted[i]);
		ck_assert_int_eq(decision_batch_parse_text(text, strlen(text),
		    &s1, &q1, &n1), 0);
		b = body(accepted[i]);
		ck_assert_int_eq(decision_batch_parse(b, &s2, &q2, &n2, &err),
		    0);
		ck_assert_int_eq(s1.any, s2.any);
		ck_assert_int_eq(s1.by, s2.by);
		ck_assert_str_eq(s1.value, s2.value);
		ck_assert_uint_eq(n1, n2);
		for (j = 0; j < n1; j++) {
			ck_assert_str_eq(q1[j].server, q2[j].server);
			ck_assert_str_eq(q1[j].tool, q2[j].tool);
		}
		ck_assert_ptr_null(q1[n1].server);
		ck_assert_ptr_null(q1[n1].tool);
		free(q1);
		free(q2);
		json_decref(b);
		free(text);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		text = strdup(refused[i]);
		ck_assert_msg(decision_batch_parse_text(text, strlen(text),
		    &s1, &q1, &n1) == 1, "accepted: %s", refused[i]);
		ck_assert_str_eq(text, refused[i]);
		ck_assert_ptr_null(q1);
		ck_assert_uint_eq(n1, 0);
		free(text);
	}

	/* A NUL inside (jansson refuses it), and the item limit. */
	text = strdup("{\"subject\":\"u\",\"items\":[{\"server\":\"s\","
	    "\"tool\":\"t\"}]}");
	len = strlen(text);
	text[13] = '\0';
	ck_assert_int_eq(decision_batch_parse_text(text, len, &s1, &q1, &n1),
	    1);
	free(text);
	for (n2 = DECISION_BATCH_MAX; n2 <= DECISION_BATCH_MAX + 1; n2++) {
		big = malloc(64 + n2 * 32);
		p = big + sprintf(big, "{\"subject\":\"u\",\"items\":[");
		for (j = 0; j < n2; j++)
			p += sprintf(p, "%s{\"server\":\"s\",\"tool\":\"t%zu\"}",
			    j ? "," : "", j);
		p += sprintf(p, "]}");
		ck_assert_int_eq(decision_batch_parse_text(big,
		    (size_t)(p - big), &s1, &q1, &n1),
		    n2 == DECISION_BATCH_MAX ? 0 : 1);
		if (n2 == DECISION_BATCH_MAX) {
			ck_assert_uint_eq(n1, DECISION_BATCH_MAX);
			ck_assert_str_eq(q1[n1 - 1].tool, "t9999");
		}
		free(q1);
		free(big);
	}
}
END_TEST

START_TEST(test_authorize_text)
{
	static const char	*accepted[] = {
		"{\"subject\":\"user5@contoso.com\",\"server\":\"server1\","
		    "\"tool\":\"list_thing1\"}",
		"\n{ \"tool\" : \"t\",\"subject\":\"id\" ,\t\"server\":\"s\"}\r\n",
		"{\"token\":\"eyJh.eyJi.c2ln\",\"server\":\"s\",\"tool\":\"t\"}",
	};
	static const char	*refused[] = {
		"",
		"{}",
		"{\"subject\":\"u\",\"server\":\"s\"}",
		"{\"subject\":\"u\",\"server\":\"s\",\"tool\":\"t\",\"x\":1}",
		"{\"subject\":\"u\",\"server\":\"s\",\"server\":\"t\"}",
		"{\"subject\":{\"id\":\"u\"},\"server\":\"s\",\"tool\":\"t\"}",
		"{\"subject\":\"u\",\"server\":\"\",\"tool\":\"t\"}",
		"{\"subject\":\"u\",\"server\":\"s\",\"tool\":\"t\\n\"}",
		"{\"subject\":\"u\",\"server\":\"s\",\"tool\":\"caf\xc3\xa9\"}",
		"{\"subject\":\"u\",\"server\":\"s\",\"tool\":\"t\"}}",
		"{\"subject\":\"u\",\"server\":\"s\",\"tool\":7}",
		"{\"token\":\"\",\"server\":\"s\",\"tool\":\"t\"}",
		"{\"token\":\"a\",\"subject\":\"u\",\"tool\":\"t\"}",
		"{\"token\":\"a\",\"token\":\"b\",\"tool\":\"t\"}",
		"{\"token\":7,\"server\":\"s\",\"tool\":\"t\"}",
	};
	struct decision_subject	 s1, s2;
	struct policy_query	 q1, q2;
	struct decision_err	 err;
	json_t			*b;
	char			*text;
	size_t			 i;

	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		text = strdup(accepted[i]);
		ck_assert_int_eq(decision_authorize_parse_text(text,
		    strlen(text), &s1, &q1), 0);
		b = body(accepted[i]);
		ck_assert_int_eq(decision_authorize_parse(b, &s2, &q2, &err),
		    0);
		ck_assert_int_eq(s1.any, s2.any);
		ck_assert_int_eq(s1.by, s2.by);
		if (s2.token != NULL) {
			ck_assert_str_eq(s1.token, s2.token);
			ck_assert_ptr_null(s1.value);
		} else {
			ck_assert_ptr_null(s1.token);
			ck_assert_str_eq(s1.value, s2.value);
		}
		ck_assert_str_eq(q1.server, q2.server);
		ck_assert_str_eq(q1.tool, q2.tool);
		json_decref(b);
		free(text);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		text = strdup(refused[i]);
		ck_assert_msg(decision_authorize_parse_text(text, strlen(text),
		    &s1, &q1) == 1, "accepted: %s", refused[i]);
		ck_assert_str_eq(text, refused[i]);
		ck_assert_ptr_null(q1.server);
		free(text);
	}
}
END_TEST

static Suite *
decision_req_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("decision_req");
	tc = tcase_create("core");
	tcase_add_test(tc, test_authorize_ok);
	tcase_add_test(tc, test_token_subject);
	tcase_add_test(tc, test_authorize_errors_in_order);
	tcase_add_test(tc, test_name_limits);
	tcase_add_test(tc, test_subject_forms);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_limit);
	tcase_add_test(tc, test_tools);
	tcase_add_test(tc, test_result_write);
	tcase_add_test(tc, test_batch_text);
	tcase_add_test(tc, test_authorize_text);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (check_run(decision_req_suite()));
}
