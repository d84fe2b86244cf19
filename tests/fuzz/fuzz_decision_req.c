/*
 * Fuzzes the body reader of the decision endpoints (/v1/authorize, the
 * batch, the tools filter): the bytes are decoded as the glue decodes a
 * body (svc_body_json: duplicate keys refused, an object required), then
 * checked by decision_req as each endpoint checks it.
 *
 * Properties:
 *   - a refusal is a 400 (500 only for memory) with a code and a message,
 *     and hands out nothing;
 *   - everything accepted is what the client sent: each server, tool
 *     and subject is a non-empty string shorter than POLICY_NAME_MAX
 *     whose C string is the whole JSON string (what the index is asked
 *     about is exactly what the gateway will call);
 *   - a batch has 1 to DECISION_BATCH_MAX pairs, a tools filter at most
 *     DECISION_BATCH_MAX, and both arrays end with a zeroed entry;
 *   - /v1/authorize and a batch of that one pair agree;
 *   - the body is not modified;
 *   - the text readers (the endpoints' fast paths) agree with the tree:
 *     what they accept, jansson reads as an object that the parsers
 *     accept with the same subject, servers and tools; what they refuse
 *     they leave untouched.
 */
#include <jansson.h>

#include "decision_req.h"
#include "fuzz.h"

static void
check_name(const char *what, const char *s, const json_t *v)
{
	FUZZ_ASSERT(s != NULL && *s != '\0' && strlen(s) < POLICY_NAME_MAX,
	    "%s accepted empty or too long", what);
	FUZZ_ASSERT(json_is_string(v) && json_string_value(v) == s &&
	    strlen(s) == json_string_length(v), "%s <%s> is not the whole "
	    "string the client sent (%zu bytes)", what, s,
	    json_string_length(v));
}

/* The JSON string a parsed subject came from. */
static const json_t *
subject_source(const json_t *body, const struct decision_subject *s)
{
	const json_t	*v, *m;
	const char	*key;

	v = json_object_get(body, "subject");
	if (json_is_string(v))
		return (v);
	json_object_foreach((json_t *)(uintptr_t)v, key, m) {
		if (json_string_value(m) == s->value)
			return (m);
	}
	return (NULL);
}

/* The subject as parsed: a token is the whole "token" string sent. */
static void
check_subject(const json_t *body, const struct decision_subject *s)
{
	const json_t	*t;

	if (s->token == NULL) {
		check_name("subject", s->value, subject_source(body, s));
		return;
	}
	t = json_object_get(body, "token");
	FUZZ_ASSERT(s->value == NULL && json_object_get(body, "subject") ==
	    NULL, "a token and a subject both taken");
	FUZZ_ASSERT(json_is_string(t) && json_string_value(t) == s->token &&
	    json_string_length(t) > 0 &&
	    json_string_length(t) <= DECISION_TOKEN_MAX &&
	    strlen(s->token) == json_string_length(t), "the token is not "
	    "the whole string the client sent");
}

static void
check_refusal(int rc, const struct decision_err *err,
    const struct policy_query *q)
{
	FUZZ_ASSERT(rc == -1, "rc %d", rc);
	FUZZ_ASSERT(err->status == 400 || err->status == 500, "status %d",
	    err->status);
	FUZZ_ASSERT(strcmp(err->code, "invalid_request") == 0 ||
	    strcmp(err->code, "invalid_subject") == 0 ||
	    (err->status == 500 && strcmp(err->code, "internal") == 0),
	    "code %s", err->code);
	FUZZ_ASSERT(err->msg[0] != '\0', "no message");
	FUZZ_ASSERT(q == NULL, "queries handed out with a refusal");
}

static void
check_list(const char *what, const json_t *body,
    const struct decision_subject *s, const struct policy_query *q,
    size_t n, const json_t *arr, int tools)
{
	const json_t	*e;
	size_t		 i;

	check_subject(body, s);
	FUZZ_ASSERT(n == json_array_size(arr) && n <= DECISION_BATCH_MAX &&
	    (tools || n > 0), "%s: %zu of %zu", what, n, json_array_size(arr));
	for (i = 0; i < n; i++) {
		e = json_array_get(arr, i);
		if (tools) {
			check_name("server", q[i].server,
			    json_object_get(body, "server"));
			check_name("tool", q[i].tool, json_is_object(e) ?
			    json_object_get(e, "name") : e);
		} else {
			check_name("server", q[i].server,
			    json_object_get(e, "server"));
			check_name("tool", q[i].tool, json_object_get(e, "tool"));
		}
	}
	FUZZ_ASSERT(q[n].server == NULL && q[n].tool == NULL,
	    "%s: no zeroed entry at the end", what);
}

static char *
copy_of(const uint8_t *data, size_t size)
{
	char	*text;

	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return (text);
}

static void
check_text(const uint8_t *data, size_t size)
{
	struct decision_subject	 ts, s;
	struct decision_err	 err;
	struct policy_query	 tone, one, *tq, *q;
	json_t			*body;
	char			*text;
	size_t			 tn, n, i;
	int			 rc;

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);

	text = copy_of(data, size);
	rc = decision_authorize_parse_text(text, size, &ts, &tone);
	FUZZ_ASSERT(rc == 0 || rc == 1, "authorize text rc %d", rc);
	if (rc == 1) {
		FUZZ_ASSERT(memcmp(text, data, size) == 0, "a refused body "
		    "changed");
	} else {
		FUZZ_ASSERT(json_is_object(body), "the authorize text reader "
		    "accepted what jansson refuses");
		memset(&err, 0, sizeof(err));
		FUZZ_ASSERT(decision_authorize_parse(body, &s, &one, &err) ==
		    0, "accepted as text, refused as a tree: %s", err.msg);
		FUZZ_ASSERT(s.any == ts.any && s.by == ts.by &&
		    (s.token != NULL) == (ts.token != NULL) &&
		    (s.token != NULL ? strcmp(s.token, ts.token) == 0 :
		    strcmp(s.value, ts.value) == 0) &&
		    strcmp(one.server, tone.server) == 0 &&
		    strcmp(one.tool, tone.tool) == 0, "authorize: text and "
		    "tree disagree");
	}
	free(text);

	text = copy_of(data, size);
	rc = decision_batch_parse_text(text, size, &ts, &tq, &tn);
	FUZZ_ASSERT(rc == 0 || rc == 1, "batch text rc %d", rc);
	if (rc == 1) {
		FUZZ_ASSERT(tq == NULL && tn == 0, "refused, but handed out");
		FUZZ_ASSERT(memcmp(text, data, size) == 0, "a refused body "
		    "changed");
	} else {
		FUZZ_ASSERT(json_is_object(body), "the batch text reader "
		    "accepted what jansson refuses");
		memset(&err, 0, sizeof(err));
		FUZZ_ASSERT(decision_batch_parse(body, &s, &q, &n, &err) == 0,
		    "accepted as text, refused as a tree: %s", err.msg);
		FUZZ_ASSERT(s.any == ts.any && s.by == ts.by &&
		    strcmp(s.value, ts.value) == 0 && n == tn, "batch: text "
		    "and tree disagree");
		for (i = 0; i < n; i++)
			FUZZ_ASSERT(strcmp(q[i].server, tq[i].server) == 0 &&
			    strcmp(q[i].tool, tq[i].tool) == 0, "batch item "
			    "%zu: text and tree disagree", i);
		FUZZ_ASSERT(tq[tn].server == NULL && tq[tn].tool == NULL,
		    "batch text: no zeroed entry at the end");
		free(q);
	}
	free(tq);
	free(text);
	json_decref(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decision_subject	 s, bs;
	struct decision_err	 err, berr;
	struct policy_query	 one, *q;
	json_t			*body, *batch;
	char			*before, *after;
	size_t			 n;
	int			 rc, brc;

	check_text(data, size);
	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		return (0);
	}
	if ((before = json_dumps(body, JSON_COMPACT)) == NULL)
		abort();

	/* /v1/authorize, and the batch of that one pair. */
	memset(&err, 0, sizeof(err));
	rc = decision_authorize_parse(body, &s, &one, &err);
	if (rc == 0) {
		check_name("server", one.server, json_object_get(body,
		    "server"));
		check_name("tool", one.tool, json_object_get(body, "tool"));
		check_subject(body, &s);
	} else
		check_refusal(rc, &err, NULL);
	batch = json_object();
	(void)json_object_set(batch, "subject", json_object_get(body,
	    "subject"));
	(void)json_object_set(batch, "token", json_object_get(body, "token"));
	(void)json_object_set_new(batch, "items", json_pack("[{s:O?, s:O?}]",
	    "server", json_object_get(body, "server"), "tool",
	    json_object_get(body, "tool")));
	memset(&berr, 0, sizeof(berr));
	brc = decision_batch_parse(batch, &bs, &q, &n, &berr);
	FUZZ_ASSERT(brc == rc && (rc == -1 || (bs.any == s.any &&
	    bs.by == s.by && (s.token != NULL ? bs.token != NULL &&
	    strcmp(bs.token, s.token) == 0 : strcmp(bs.value, s.value) ==
	    0) && n == 1 &&
	    strcmp(q[0].server, one.server) == 0 &&
	    strcmp(q[0].tool, one.tool) == 0)), "authorize (%d %s) and its "
	    "batch of one (%d %s) disagree", rc, err.code, brc, berr.code);
	free(q);
	json_decref(batch);

	/* The body as a batch and as a tools filter. */
	memset(&err, 0, sizeof(err));
	rc = decision_batch_parse(body, &s, &q, &n, &err);
	if (rc == 0)
		check_list("batch", body, &s, q, n, json_object_get(body,
		    "items"), 0);
	else
		check_refusal(rc, &err, q);
	free(q);
	memset(&err, 0, sizeof(err));
	rc = decision_tools_parse(body, &s, &q, &n, &err);
	if (rc == 0)
		check_list("tools", body, &s, q, n, json_object_get(body,
		    "tools"), 1);
	else
		check_refusal(rc, &err, q);
	free(q);

	if ((after = json_dumps(body, JSON_COMPACT)) == NULL)
		abort();
	FUZZ_ASSERT(strcmp(before, after) == 0, "the body changed");
	free(before);
	free(after);
	json_decref(body);

	return (0);
}
