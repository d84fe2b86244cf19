/*
 * Unit tests for decision_req: the body shapes of /v1/authorize, the
 * batch and the tools filter, which member an error names first, and the
 * subject forms gateways send.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(decision_req_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
