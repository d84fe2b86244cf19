/*
 * decision_req: see decision_req.h.  The messages are the ones clients
 * have always seen from these endpoints; tests/it match on them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision_req.h"
#include "util.h"

static const struct {
	const char		*key;
	enum policy_alias	 by;
} subject_keys[] = {
	{ "id", POLICY_BY_ID },
	{ "userName", POLICY_BY_USERNAME },
	{ "user_name", POLICY_BY_USERNAME },
	{ "upn", POLICY_BY_USERNAME },
	{ "externalId", POLICY_BY_EXTERNAL_ID },
	{ "external_id", POLICY_BY_EXTERNAL_ID },
	{ "oid", POLICY_BY_EXTERNAL_ID },
	{ "email", POLICY_BY_EMAIL },
	{ "appId", POLICY_BY_APP_ID },
	{ "app_id", POLICY_BY_APP_ID },
	{ "client_id", POLICY_BY_APP_ID },
};

static int	fail(struct decision_err *, int, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct decision_err *err, int status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	err->status = status;
	rc_strlcpy(err->code, code, sizeof(err->code));
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);

	return (-1);
}

/* A string member that names a server or a tool. */
static int
name_ok(const json_t *v)
{
	return (json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) < POLICY_NAME_MAX);
}

int
decision_subject_parse(const json_t *v, struct decision_subject *out,
    struct decision_err *err)
{
	const char	*value;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	if (json_is_string(v)) {
		value = json_string_value(v);
		if (*value == '\0' || strlen(value) >= POLICY_NAME_MAX)
			goto bad;
		out->any = 1;
		out->by = POLICY_BY_ID;
		out->value = value;
		return (0);
	}
	if (json_is_object(v)) {
		for (i = 0; i < sizeof(subject_keys) / sizeof(subject_keys[0]);
		    i++) {
			value = json_string_value(json_object_get(v,
			    subject_keys[i].key));
			if (value == NULL)
				continue;
			if (*value == '\0' || strlen(value) >= POLICY_NAME_MAX)
				goto bad;
			out->by = subject_keys[i].by;
			out->value = value;
			return (0);
		}
	}

bad:
	memset(out, 0, sizeof(*out));
	return (fail(err, 400, "invalid_subject", "'subject' must be a "
	    "non-empty string (id, userName, email, externalId or "
	    "application id) or an object with one of id, userName, "
	    "externalId, email, appId"));
}

int
decision_body_subject_parse(const json_t *body, struct decision_subject *out,
    struct decision_err *err)
{
	const json_t	*tok;

	memset(out, 0, sizeof(*out));
	if ((tok = json_object_get(body, "token")) == NULL)
		return (decision_subject_parse(json_object_get(body,
		    "subject"), out, err));
	if (json_object_get(body, "subject") != NULL)
		return (fail(err, 400, "invalid_subject", "give either "
		    "'subject' or 'token', not both"));
	/* A NUL inside would cut the token short: refused, not truncated. */
	if (!json_is_string(tok) || json_string_length(tok) == 0 ||
	    json_string_length(tok) > DECISION_TOKEN_MAX ||
	    strlen(json_string_value(tok)) != json_string_length(tok))
		return (fail(err, 400, "invalid_subject", "'token' must be an "
		    "Entra access token (a compact JWT of at most %d bytes)",
		    DECISION_TOKEN_MAX));
	out->token = json_string_value(tok);
	return (0);
}

int
decision_authorize_parse(const json_t *body, struct decision_subject *subj,
    struct policy_query *q, struct decision_err *err)
{
	const json_t	*server, *tool;

	memset(q, 0, sizeof(*q));
	memset(subj, 0, sizeof(*subj));
	server = json_object_get(body, "server");
	tool = json_object_get(body, "tool");
	if (!name_ok(server) || !name_ok(tool))
		return (fail(err, 400, "invalid_request", "'server' (an MCP "
		    "server slug) and 'tool' (a tool name) are required "
		    "strings"));
	if (decision_body_subject_parse(body, subj, err) == -1)
		return (-1);
	q->server = json_string_value(server);
	q->tool = json_string_value(tool);

	return (0);
}

int
decision_batch_parse(const json_t *body, struct decision_subject *subj,
    struct policy_query **q, size_t *n, struct decision_err *err)
{
	const json_t	*items, *item;
	size_t		 i;

	*q = NULL;
	*n = 0;
	memset(subj, 0, sizeof(*subj));
	items = json_object_get(body, "items");
	if (!json_is_array(items) || json_array_size(items) == 0 ||
	    json_array_size(items) > DECISION_BATCH_MAX)
		return (fail(err, 400, "invalid_request", "'items' must be an "
		    "array of 1 to %d {\"server\", \"tool\"} objects",
		    DECISION_BATCH_MAX));
	if (decision_body_subject_parse(body, subj, err) == -1)
		return (-1);
	if ((*q = calloc(json_array_size(items) + 1, sizeof(**q))) == NULL)
		return (fail(err, 500, "internal", "out of memory"));
	for (i = 0; i < json_array_size(items); i++) {
		item = json_array_get(items, i);
		if (!name_ok(json_object_get(item, "server")) ||
		    !name_ok(json_object_get(item, "tool"))) {
			free(*q);
			*q = NULL;
			memset(subj, 0, sizeof(*subj));
			return (fail(err, 400, "invalid_request", "items[%zu] "
			    "needs string 'server' and 'tool'", i));
		}
		(*q)[i].server = json_string_value(json_object_get(item,
		    "server"));
		(*q)[i].tool = json_string_value(json_object_get(item, "tool"));
	}
	*n = i;

	return (0);
}

/* The batch text scanner: a cursor over the body's bytes. */
struct btext {
	const char	*p;
	const char	*end;
};

static void
bt_ws(struct btext *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' ||
	    *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

static int
bt_char(struct btext *t, char c)
{
	bt_ws(t);
	if (t->p >= t->end || *t->p != c)
		return (0);
	t->p++;
	return (1);
}

/*
 * A string of printable ASCII without escapes: *s points at its first
 * byte, *len its length.  0 when the next value is anything else.
 */
static int
bt_str(struct btext *t, const char **s, size_t *len)
{
	const char	*q;

	if (!bt_char(t, '"'))
		return (0);
	for (q = t->p; q < t->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e ||
		    *q == '\\')
			return (0);
	}
	if (q >= t->end)
		return (0);
	*s = t->p;
	*len = (size_t)(q - t->p);
	t->p = q + 1;
	return (1);
}

/* A name as name_ok() accepts it. */
static int
bt_name(struct btext *t, const char **s)
{
	size_t	len;

	return (bt_str(t, s, &len) && len > 0 && len < POLICY_NAME_MAX);
}

/* {"server": name, "tool": name} in either order, nothing else. */
static int
bt_item(struct btext *t, struct policy_query *q)
{
	const char	*key, *v;
	size_t		 klen, i;

	q->server = q->tool = NULL;
	if (!bt_char(t, '{'))
		return (0);
	for (i = 0; i < 2; i++) {
		if ((i > 0 && !bt_char(t, ',')) || !bt_str(t, &key, &klen) ||
		    !bt_char(t, ':') || !bt_name(t, &v))
			return (0);
		if (klen == 6 && memcmp(key, "server", 6) == 0 &&
		    q->server == NULL)
			q->server = v;
		else if (klen == 4 && memcmp(key, "tool", 4) == 0 &&
		    q->tool == NULL)
			q->tool = v;
		else
			return (0);
	}
	return (bt_char(t, '}'));
}

/* The items array into *q (grown as needed), its length into *n. */
static int
bt_items(struct btext *t, struct policy_query **q, size_t *n)
{
	struct policy_query	*nq;
	size_t			 cap;

	if (!bt_char(t, '['))
		return (0);
	cap = 0;
	for (*n = 0; ; (*n)++) {
		if (*n >= DECISION_BATCH_MAX)
			return (0);
		if (*n + 2 > cap) {
			cap = cap ? cap * 4 : 64;
			if (cap > DECISION_BATCH_MAX + 1)
				cap = DECISION_BATCH_MAX + 1;
			if ((nq = realloc(*q, cap * sizeof(**q))) == NULL)
				return (-1);
			*q = nq;
		}
		if (!bt_item(t, &(*q)[*n]))
			return (0);
		if (bt_char(t, ']'))
			break;
		if (!bt_char(t, ','))
			return (0);
	}
	(*n)++;
	memset(&(*q)[*n], 0, sizeof(**q));
	return (1);
}

/* Ends the string of text that starts at s where its closing quote is. */
static void
bt_terminate(char *text, const char *s)
{
	text[strchr(s, '"') - text] = '\0';
}

int
decision_batch_parse_text(char *text, size_t len,
    struct decision_subject *subj, struct policy_query **q, size_t *n)
{
	struct btext	 t;
	const char	*key, *subject;
	size_t		 klen, i, k;
	int		 rc, items;

	memset(subj, 0, sizeof(*subj));
	*q = NULL;
	*n = 0;
	/* No NUL inside: the second pass looks for quotes with strchr. */
	if (memchr(text, '\0', len) != NULL)
		return (1);
	t.p = text;
	t.end = text + len;
	subject = NULL;
	items = 0;
	if (!bt_char(&t, '{'))
		return (1);
	for (k = 0; k < 2; k++) {
		if ((k > 0 && !bt_char(&t, ',')) || !bt_str(&t, &key, &klen) ||
		    !bt_char(&t, ':'))
			goto other;
		if (klen == 7 && memcmp(key, "subject", 7) == 0 &&
		    subject == NULL) {
			if (!bt_name(&t, &subject))
				goto other;
		} else if (klen == 5 && memcmp(key, "items", 5) == 0 &&
		    !items) {
			if ((rc = bt_items(&t, q, n)) != 1) {
				free(*q);
				*q = NULL;
				*n = 0;
				return (rc == -1 ? -1 : 1);
			}
			items = 1;
		} else
			goto other;
	}
	if (!bt_char(&t, '}'))
		goto other;
	bt_ws(&t);
	if (t.p != t.end)
		goto other;

	/* Accepted: only now end each string in place. */
	bt_terminate(text, subject);
	for (i = 0; i < *n; i++) {
		bt_terminate(text, (*q)[i].server);
		bt_terminate(text, (*q)[i].tool);
	}
	subj->any = 1;
	subj->by = POLICY_BY_ID;
	subj->value = subject;
	return (0);

other:
	free(*q);
	*q = NULL;
	*n = 0;
	return (1);
}

int
decision_authorize_parse_text(char *text, size_t len,
    struct decision_subject *subj, struct policy_query *q)
{
	struct btext	 t;
	const char	*key, *v, *subject, *token;
	size_t		 klen, vlen, k;

	memset(subj, 0, sizeof(*subj));
	memset(q, 0, sizeof(*q));
	if (memchr(text, '\0', len) != NULL)
		return (1);
	t.p = text;
	t.end = text + len;
	subject = token = NULL;
	if (!bt_char(&t, '{'))
		return (1);
	for (k = 0; k < 3; k++) {
		if ((k > 0 && !bt_char(&t, ',')) || !bt_str(&t, &key, &klen) ||
		    !bt_char(&t, ':'))
			goto other;
		/* An access token instead of a subject: one plain string. */
		if (klen == 5 && memcmp(key, "token", 5) == 0) {
			if (subject != NULL || token != NULL ||
			    !bt_str(&t, &token, &vlen) || vlen == 0 ||
			    vlen > DECISION_TOKEN_MAX)
				goto other;
			continue;
		}
		if (!bt_name(&t, &v))
			goto other;
		if (klen == 7 && memcmp(key, "subject", 7) == 0 &&
		    subject == NULL && token == NULL)
			subject = v;
		else if (klen == 6 && memcmp(key, "server", 6) == 0 &&
		    q->server == NULL)
			q->server = v;
		else if (klen == 4 && memcmp(key, "tool", 4) == 0 &&
		    q->tool == NULL)
			q->tool = v;
		else
			goto other;
	}
	if (!bt_char(&t, '}'))
		goto other;
	bt_ws(&t);
	if (t.p != t.end)
		goto other;

	bt_terminate(text, q->server);
	bt_terminate(text, q->tool);
	if (token != NULL) {
		bt_terminate(text, token);
		subj->token = token;
		return (0);
	}
	bt_terminate(text, subject);
	subj->any = 1;
	subj->by = POLICY_BY_ID;
	subj->value = subject;
	return (0);

other:
	memset(q, 0, sizeof(*q));
	return (1);
}

int
decision_tools_parse(const json_t *body, struct decision_subject *subj,
    struct policy_query **q, size_t *n, struct decision_err *err)
{
	const json_t	*server, *tools, *t;
	const char	*name;
	size_t		 i;

	*q = NULL;
	*n = 0;
	memset(subj, 0, sizeof(*subj));
	server = json_object_get(body, "server");
	tools = json_object_get(body, "tools");
	if (!name_ok(server) || !json_is_array(tools) ||
	    json_array_size(tools) > DECISION_BATCH_MAX)
		return (fail(err, 400, "invalid_request", "'server' (string) "
		    "and 'tools' (array of up to %d tool names or {\"name\"} "
		    "objects) are required", DECISION_BATCH_MAX));
	if (decision_body_subject_parse(body, subj, err) == -1)
		return (-1);
	if ((*q = calloc(json_array_size(tools) + 1, sizeof(**q))) == NULL)
		return (fail(err, 500, "internal", "out of memory"));
	for (i = 0; i < json_array_size(tools); i++) {
		t = json_array_get(tools, i);
		/* A tools/list result's entries are objects with a name. */
		name = json_is_object(t) ? json_string_value(
		    json_object_get(t, "name")) : json_string_value(t);
		if (name == NULL || *name == '\0' ||
		    strlen(name) >= POLICY_NAME_MAX) {
			free(*q);
			*q = NULL;
			memset(subj, 0, sizeof(*subj));
			return (fail(err, 400, "invalid_request", "tools[%zu] "
			    "is not a tool name or an object with a 'name'",
			    i));
		}
		(*q)[i].server = json_string_value(server);
		(*q)[i].tool = name;
	}
	*n = i;

	return (0);
}

void
decision_result_write(struct jsonw *w, const struct policy_result *r,
    int ttl_s)
{
	jsonw_raw(w, r->decision == POLICY_ALLOW ?
	    "{\"decision\":\"allow\",\"allow\":true,\"reason_code\":" :
	    "{\"decision\":\"deny\",\"allow\":false,\"reason_code\":");
	jsonw_str(w, policy_reason_str(r->reason));
	jsonw_raw(w, ",\"policy_version\":");
	jsonw_int(w, (int64_t)r->policy_version);
	jsonw_raw(w, ",\"subject_epoch\":");
	jsonw_int(w, (int64_t)r->subject_epoch);
	jsonw_raw(w, ",\"ttl_s\":");
	jsonw_int(w, ttl_s);
	if (r->rule_id != NULL) {
		jsonw_raw(w, ",\"rule_id\":");
		jsonw_str(w, r->rule_id);
	}
	if (r->group_id != NULL) {
		jsonw_raw(w, ",\"group_id\":");
		jsonw_str(w, r->group_id);
	}
	if (r->grant_id != NULL) {
		jsonw_raw(w, ",\"grant_id\":");
		jsonw_str(w, r->grant_id);
	}
	if (r->role != NULL) {
		jsonw_raw(w, ",\"role\":");
		jsonw_str(w, r->role);
	}
	if (r->reason == POLICY_R_ELEVATION_REQUIRED) {
		jsonw_raw(w, ",\"obligations\":[{\"type\":\"request_grant\"");
		if (r->rule_id != NULL) {
			jsonw_raw(w, ",\"rule_id\":");
			jsonw_str(w, r->rule_id);
		}
		jsonw_raw(w, ",\"max_duration_s\":");
		jsonw_int(w, r->max_grant_ms / 1000);
		jsonw_raw(w, "}]");
	}
	jsonw_raw(w, "}");
}
