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
	if (!json_is_string(tok) || json_string_length(tok) == 0 ||
	    json_string_length(tok) > DECISION_TOKEN_MAX)
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
