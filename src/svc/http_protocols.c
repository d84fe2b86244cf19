/*
 * http_protocols.c: the standard shapes gateways already speak, answered
 * from the same in-memory index and with the same semantics as
 * /v1/authorize (README, "Decision semantics"):
 *
 *   POST /access/v1/evaluation           OpenID AuthZEN 1.0, one decision
 *   POST /access/v1/evaluations          AuthZEN batch, with defaults and
 *                                        options.evaluations_semantic
 *   GET  /.well-known/authzen-configuration   AuthZEN PDP metadata
 *   POST /v1/data/{path}                 OPA Data API, as ContextForge's
 *                                        Unified PDP plugin calls it
 *   ANY  /ext-authz/...                  Envoy ext_authz HTTP service (also
 *                                        nginx auth_request, agentgateway)
 *
 * A tool call is decided by policy_evaluate().  Requests that are not a
 * tool call (MCP initialize, tools/list, notifications, an SSE GET, an
 * AuthZEN mcp_server resource, an OPA resources.fetch) need only an
 * active principal: reason_code "principal_active", or the principal's
 * state when it is not.  Subjects are resolved in the gateway token's
 * directory by rollcall id, userName, email, externalId or application
 * id, in that order.  Everything unexpected denies.
 *
 * The OPA route authenticates itself: ContextForge's OPA client sends
 * no headers of its own, but its URL may carry credentials, which its
 * HTTP client turns into Basic auth; the password is a gateway token.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "policy_glue.h"
#include "token.h"
#include "util.h"

#define EXT_AUTHZ_PREFIX	"/ext-authz"
#define OPA_PREFIX		"/v1/data"
#define AUTHZEN_ITEMS_MAX	GW_BATCH_MAX

int	page_authzen_evaluation(struct http_request *);
int	page_authzen_evaluations(struct http_request *);
int	page_authzen_config(struct http_request *);
int	page_opa_data(struct http_request *);
int	page_ext_authz(struct http_request *);

/* One decision, tool-level or session-level. */
struct proto_decision {
	struct policy_result		 res;
	const char			*reason;	/* reason_code */
	struct policy_principal_info	 info;
	int				 found;
};

enum semantic {
	SEM_EXECUTE_ALL,
	SEM_DENY_ON_FIRST_DENY,
	SEM_PERMIT_ON_FIRST_PERMIT
};

/*
 * Resolves value in the token's directory (dir) to a principal of kind
 * want (POLICY_PRINCIPAL_NONE: either).  1 and subj/info filled, or 0.
 */
static int
proto_resolve(struct policy_index *idx, const char *dir, const char *value,
    enum policy_principal_kind want, struct policy_subject *subj,
    struct policy_principal_info *info)
{
	static const enum policy_alias	order[] = { POLICY_BY_ID,
	    POLICY_BY_USERNAME, POLICY_BY_EMAIL, POLICY_BY_EXTERNAL_ID,
	    POLICY_BY_APP_ID };
	size_t				i;

	memset(subj, 0, sizeof(*subj));
	if (value == NULL || *value == '\0' || strlen(value) >= POLICY_NAME_MAX)
		return (0);
	subj->value = value;
	subj->directory = dir;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (want == POLICY_PRINCIPAL_USER && order[i] == POLICY_BY_APP_ID)
			continue;
		subj->by = order[i];
		if (policy_principal_lookup(idx, subj, info) == 0 &&
		    (want == POLICY_PRINCIPAL_NONE || info->kind == want))
			return (1);
	}

	return (0);
}

/*
 * Decides for a resolved (or not) subject: a tool call when tool is
 * not NULL, else whether the principal may hold a session at all.
 */
static void
proto_decide(struct policy_index *idx, const struct policy_subject *subj,
    int found, const struct policy_principal_info *info, const char *server,
    const char *tool, struct proto_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->found = found;
	if (found)
		d->info = *info;
	d->res.decision = POLICY_DENY;
	d->res.policy_version = policy_version(idx);
	if (!found) {
		d->res.reason = POLICY_R_PRINCIPAL_UNKNOWN;
		d->reason = policy_reason_str(d->res.reason);
		return;
	}
	d->res.subject_epoch = info->subject_epoch;
	if (tool != NULL) {
		if (server == NULL || *server == '\0' ||
		    strlen(server) >= POLICY_NAME_MAX ||
		    strlen(tool) >= POLICY_NAME_MAX || *tool == '\0') {
			d->res.reason = POLICY_R_TOOL_UNKNOWN;
			d->reason = policy_reason_str(d->res.reason);
			return;
		}
		(void)policy_evaluate(idx, subj, server, tool,
		    (int64_t)rc_now_ms(), &d->res);
		d->reason = policy_reason_str(d->res.reason);
		return;
	}
	d->res.reason = info->state;
	if (info->state == POLICY_R_ALLOWED_BY_RULE) {
		d->res.decision = POLICY_ALLOW;
		d->reason = "principal_active";
	} else {
		d->reason = policy_reason_str(info->state);
	}
}

/* The decision JSON of /v1/authorize, with this reason_code. */
static json_t *
proto_json(const struct proto_decision *d)
{
	json_t	*out;

	if ((out = gw_decision_json(&d->res, gw_ttl_s(&d->res, 1))) == NULL)
		return (NULL);
	(void)json_object_set_new(out, "reason_code", json_string(d->reason));
	if (d->found) {
		(void)json_object_set_new(out, "principal_id",
		    json_string(d->info.id));
		(void)json_object_set_new(out, "principal_type",
		    json_string(d->info.kind == POLICY_PRINCIPAL_SP ?
		    "service_principal" : "user"));
	}

	return (out);
}

/* Observes one protocol decision (decisions.h). */
static void
proto_observe(struct http_request *req, const char *endpoint,
    const char *subject, const char *server, const char *tool,
    const struct proto_decision *pd)
{
	struct svc_decision	d;

	memset(&d, 0, sizeof(d));
	d.endpoint = endpoint;
	d.subject = subject;
	d.principal = pd->found ? &pd->info : NULL;
	d.server = server;
	d.tool = tool;
	svc_decision_result(&d, &pd->res);
	d.reason_code = pd->reason;
	svc_decision(req, &d);
}

static void
token_dir(struct http_request *req, char *dir, size_t size)
{
	(void)snprintf(dir, size, "%lld",
	    (long long)svc_ctx(req)->token.directory_id);
}

/* ------------------------------------------------------------------ */
/* AuthZEN */

static const char *
str_member(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static int
one_of(const char *s, const char *const *list)
{
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return (1);
	return (0);
}

/*
 * One AuthZEN evaluation.  0 with *out ({"decision", "context"}), or -1
 * with msg (a 400 for a single evaluation, an error item in a batch).
 */
static int
authzen_one(struct http_request *req, struct policy_index *idx,
    const char *dir, const json_t *subject, const json_t *resource,
    const json_t *action, json_t **out, char *msg, size_t msgsize)
{
	static const char *const	 tool_actions[] = { "call",
	    "tools/call", "invoke", "execute", NULL };
	static const char *const	 server_actions[] = { "connect",
	    "access", "initialize", "list", "tools/list", NULL };
	struct proto_decision		 d;
	struct policy_subject		 subj;
	struct policy_principal_info	 info;
	struct gw_subject		 gs;
	enum policy_principal_kind	 want;
	const json_t			*props;
	const char			*type, *id, *rtype, *rid, *aname;
	const char			*tok, *refused;
	long long			 dirid;
	const char			*server, *tool, *slash;
	char				 srv[POLICY_ID_MAX];
	json_t				*ctx;
	int				 found;

	*out = NULL;
	type = str_member(subject, "type");
	id = str_member(subject, "id");
	if (!json_is_object(subject) || type == NULL || id == NULL) {
		(void)snprintf(msg, msgsize, "'subject' must be an object with "
		    "string 'type' and 'id'");
		return (-1);
	}
	rtype = str_member(resource, "type");
	rid = str_member(resource, "id");
	if (!json_is_object(resource) || rtype == NULL || rid == NULL) {
		(void)snprintf(msg, msgsize, "'resource' must be an object with "
		    "string 'type' and 'id'");
		return (-1);
	}
	aname = str_member(action, "name");
	if (!json_is_object(action) || aname == NULL) {
		(void)snprintf(msg, msgsize, "'action' must be an object with a "
		    "string 'name'");
		return (-1);
	}

	want = POLICY_PRINCIPAL_NONE;
	if (strcmp(type, "user") == 0)
		want = POLICY_PRINCIPAL_USER;
	else if (strcmp(type, "service_principal") == 0 ||
	    strcmp(type, "agent") == 0)
		want = POLICY_PRINCIPAL_SP;
	/* An Entra access token, when given, names the subject. */
	refused = NULL;
	if ((tok = str_member(json_object_get(subject, "properties"),
	    "token")) != NULL) {
		if (rc_parse_int(dir, 0, INT64_MAX, &dirid) == -1)
			dirid = -1;
		gw_token_subject((int64_t)dirid, idx, tok, &gs);
		if (gs.unbound) {
			(void)snprintf(msg, msgsize, "%s", gs.detail);
			return (-1);
		}
		refused = gs.refused;
		subj = gs.subj;
		found = gs.found &&
		    policy_principal_lookup(idx, &subj, &info) == 0;
	} else
		found = proto_resolve(idx, dir, id, want, &subj, &info);

	server = tool = NULL;
	props = json_object_get(resource, "properties");
	if (strcmp(rtype, "mcp_tool") == 0 || strcmp(rtype, "tool") == 0) {
		if (!one_of(aname, tool_actions))
			goto unsupported;
		server = str_member(props, "server");
		tool = str_member(props, "tool");
		if (tool == NULL)
			tool = str_member(props, "name");
		if (server == NULL && (slash = strchr(rid, '/')) != NULL &&
		    (size_t)(slash - rid) < sizeof(srv)) {
			(void)snprintf(srv, sizeof(srv), "%.*s",
			    (int)(slash - rid), rid);
			server = srv;
			if (tool == NULL)
				tool = slash + 1;
		}
		if (tool == NULL)
			tool = rid;
		if (server == NULL) {
			(void)snprintf(msg, msgsize, "an mcp_tool resource id is "
			    "\"<server>/<tool>\" (or give properties.server)");
			return (-1);
		}
	} else if (strcmp(rtype, "mcp_server") == 0) {
		if (!one_of(aname, server_actions))
			goto unsupported;
	} else {
		goto unsupported;
	}

	proto_decide(idx, &subj, found, &info, server, tool, &d);
	if (refused != NULL)
		d.reason = refused;
	proto_observe(req, "authzen", id, server, tool, &d);
	if ((ctx = proto_json(&d)) == NULL)
		return (-1);
	(void)json_object_del(ctx, "decision");
	(void)json_object_del(ctx, "allow");
	(void)json_object_set_new(ctx, "reason_admin", json_pack("{s:s}",
	    "en", d.reason));
	*out = json_pack("{s:b, s:o}", "decision",
	    d.res.decision == POLICY_ALLOW, "context", ctx);

	return (*out == NULL ? -1 : 0);

unsupported:
	memset(&d, 0, sizeof(d));
	d.res.decision = POLICY_DENY;
	d.res.reason = POLICY_R_INTERNAL_ERROR;
	d.res.policy_version = policy_version(idx);
	d.reason = "unsupported_request";
	proto_observe(req, "authzen", id, NULL, NULL, &d);
	*out = json_pack("{s:b, s:{s:s, s:I}}", "decision", 0, "context",
	    "reason_code", "unsupported_request", "policy_version",
	    (json_int_t)policy_version(idx));
	return (0);
}

static struct policy_index *
proto_index(struct http_request *req, const char *endpoint)
{
	struct policy_index	*idx;
	struct svc_decision	 d;
	json_t			*out;
	const char		*reason;

	if ((idx = svc_policy()) != NULL && !svc_policy_stale())
		return (idx);
	/* Fail closed while the index is rebuilt or cannot be proven. */
	if (strcmp(endpoint, "ext_authz") == 0) {
		if ((reason = gw_untrusted()) == NULL)
			reason = "internal_error";
		memset(&d, 0, sizeof(d));
		d.endpoint = endpoint;
		d.reason_code = reason;
		svc_decision(req, &d);
		out = json_pack("{s:s, s:s}", "decision", "deny", "reason_code",
		    reason);
		http_response_header(req, "x-rollcall-decision", "deny");
		svc_respond_json(req, HTTP_STATUS_FORBIDDEN, out);
		json_decref(out);
	} else {
		gw_unavailable(req, endpoint);
	}
	return (NULL);
}

int
page_authzen_evaluation(struct http_request *req)
{
	struct policy_index	*idx;
	json_t			*body, *out;
	char			 dir[24], msg[160];

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if ((body = svc_body_json(req)) == NULL)
		return (KORE_RESULT_OK);
	if ((idx = proto_index(req, "authzen")) == NULL) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	token_dir(req, dir, sizeof(dir));
	if (authzen_one(req, idx, dir, json_object_get(body, "subject"),
	    json_object_get(body, "resource"), json_object_get(body, "action"),
	    &out, msg, sizeof(msg)) == -1) {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request", "%s",
		    msg);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	json_decref(body);

	return (KORE_RESULT_OK);
}

int
page_authzen_evaluations(struct http_request *req)
{
	struct policy_index	*idx;
	struct proto_decision	 d;
	enum semantic		 sem;
	json_t			*body, *items, *item, *list, *res, *out, *v;
	const json_t		*subject, *resource, *action;
	const char		*s;
	char			 dir[24], msg[160];
	size_t			 i, n;
	int			 allow;

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if ((body = svc_body_json(req)) == NULL)
		return (KORE_RESULT_OK);
	items = json_object_get(body, "evaluations");
	n = json_is_array(items) ? json_array_size(items) : 0;
	sem = SEM_EXECUTE_ALL;
	s = json_string_value(json_object_get(json_object_get(body, "options"),
	    "evaluations_semantic"));
	if (s != NULL && strcmp(s, "deny_on_first_deny") == 0)
		sem = SEM_DENY_ON_FIRST_DENY;
	else if (s != NULL && strcmp(s, "permit_on_first_permit") == 0)
		sem = SEM_PERMIT_ON_FIRST_PERMIT;
	else if (s != NULL && strcmp(s, "execute_all") != 0)
		goto bad;
	if ((items != NULL && !json_is_array(items)) ||
	    n > AUTHZEN_ITEMS_MAX)
		goto bad;
	if ((idx = proto_index(req, "authzen")) == NULL) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	token_dir(req, dir, sizeof(dir));

	/* No evaluations: the request is one evaluation (AuthZEN 7.1). */
	if (n == 0) {
		if (authzen_one(req, idx, dir, json_object_get(body, "subject"),
		    json_object_get(body, "resource"), json_object_get(body,
		    "action"), &out, msg, sizeof(msg)) == -1) {
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalid_request", "%s", msg);
			json_decref(body);
			return (KORE_RESULT_OK);
		}
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		json_decref(body);
		return (KORE_RESULT_OK);
	}

	list = json_array();
	json_array_foreach(items, i, item) {
		/* An item's member replaces the request's default. */
		subject = (v = json_object_get(item, "subject")) ? v :
		    json_object_get(body, "subject");
		resource = (v = json_object_get(item, "resource")) ? v :
		    json_object_get(body, "resource");
		action = (v = json_object_get(item, "action")) ? v :
		    json_object_get(body, "action");
		if (!json_is_object(item) || authzen_one(req, idx, dir,
		    subject, resource, action, &res, msg, sizeof(msg)) == -1) {
			if (!json_is_object(item))
				(void)snprintf(msg, sizeof(msg),
				    "evaluations[%zu] is not an object", i);
			/* An item that cannot be read is a deny too. */
			memset(&d, 0, sizeof(d));
			d.res.decision = POLICY_DENY;
			d.res.reason = POLICY_R_INTERNAL_ERROR;
			d.res.policy_version = policy_version(idx);
			d.reason = "invalid_request";
			proto_observe(req, "authzen", NULL, NULL, NULL, &d);
			res = json_pack("{s:b, s:{s:{s:i, s:s}}}", "decision",
			    0, "context", "error", "status", 400, "message",
			    msg);
		}
		allow = json_is_true(json_object_get(res, "decision"));
		(void)json_array_append_new(list, res);
		if ((sem == SEM_DENY_ON_FIRST_DENY && !allow) ||
		    (sem == SEM_PERMIT_ON_FIRST_PERMIT && allow))
			break;
	}
	out = json_pack("{s:o}", "evaluations", list);
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	json_decref(body);

	return (KORE_RESULT_OK);

bad:
	svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
	    "'evaluations' must be an array of up to %d objects and "
	    "options.evaluations_semantic one of execute_all, "
	    "deny_on_first_deny, permit_on_first_permit", AUTHZEN_ITEMS_MAX);
	json_decref(body);
	return (KORE_RESULT_OK);
}

int
page_authzen_config(struct http_request *req)
{
	const char	*base;
	char		 a[SETTINGS_STR_MAX + 32], b[SETTINGS_STR_MAX + 32];
	json_t		*out;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	base = svc.settings.public_url;
	(void)snprintf(a, sizeof(a), "%s/access/v1/evaluation", base);
	(void)snprintf(b, sizeof(b), "%s/access/v1/evaluations", base);
	out = json_pack("{s:s, s:s, s:s}", "policy_decision_point", base,
	    "access_evaluation_endpoint", a, "access_evaluations_endpoint", b);
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);

	return (KORE_RESULT_OK);
}

/* ------------------------------------------------------------------ */
/* OPA Data API */

/*
 * Bearer <token>, or Basic with the token as password (any user name).
 * 1 when the request carries a usable gateway token; else answers 401
 * or 403 and returns 0.
 */
static int
opa_authenticate(struct http_request *req)
{
	struct svc_ctx		*ctx;
	enum tokentab_verdict	 v;
	const char		*header, *secret;
	unsigned char		 hash[TOKEN_HASH_LEN];
	u_int8_t		*raw;
	size_t			 len, rawlen;
	char			*colon;

	ctx = svc_ctx(req);
	raw = NULL;
	/* The route's 'public' validator refused a repeated header. */
	if (!http_request_header(req, "authorization", &header))
		goto unauth;
	if (strncasecmp(header, "basic ", 6) == 0) {
		if (strlen(header + 6) > 2048 ||
		    kore_base64_decode(header + 6, &raw, &rawlen) !=
		    KORE_RESULT_OK || rawlen == 0 ||
		    memchr(raw, '\0', rawlen) != NULL)
			goto unauth;
		/* kore_base64_decode leaves room for a terminator. */
		raw = kore_realloc(raw, rawlen + 1);
		raw[rawlen] = '\0';
		if ((colon = strchr((char *)raw, ':')) == NULL)
			goto unauth;
		secret = colon + 1;
		len = strlen(secret);
	} else if (token_bearer_parse(header, &secret, &len) == -1) {
		goto unauth;
	}
	if (len == 0)
		goto unauth;
	token_hash(secret, len, hash);
	kore_free(raw);
	raw = NULL;
	v = tokentab_check(svc.tokens, hash, rc_now_ms(), &ctx->token);
	if (v != TOKENTAB_OK)
		goto unauth;
	ctx->authed = 1;
	if (!(ctx->token.scopes & TOKEN_SCOPE_GATEWAY)) {
		svc_error(req, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "this token lacks the 'gateway' scope");
		return (0);
	}
	return (1);

unauth:
	kore_free(raw);
	metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_UNKNOWN, 1);
	http_response_header(req, "www-authenticate", "Bearer");
	svc_error(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized", "a gateway "
	    "token is required (Authorization: Bearer, or Basic with the "
	    "token as password)");
	return (0);
}

int
page_opa_data(struct http_request *req)
{
	static const char *const	 subject_keys[] = { "id", "userName",
	    "upn", "email", "externalId", "oid", "appId", "client_id", NULL };
	struct policy_index		*idx;
	struct policy_subject		 subj;
	struct policy_principal_info	 info;
	struct proto_decision		 d;
	struct gw_subject		 gs;
	json_t				*body, *input, *sv, *res, *deny, *out;
	const json_t			*resource;
	const char			*value, *action, *server, *tool, *rtype;
	const char			*tok, *refused;
	char				 dir[24];
	size_t				 i, plen;
	int				 found, boolean;

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if (!opa_authenticate(req))
		return (KORE_RESULT_OK);
	if ((body = svc_body_json(req)) == NULL)
		return (KORE_RESULT_OK);
	if ((idx = proto_index(req, "opa")) == NULL) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	token_dir(req, dir, sizeof(dir));
	plen = strlen(req->path);
	boolean = plen >= 6 && strcmp(req->path + plen - 6, "/allow") == 0;

	input = json_object_get(body, "input");
	sv = json_object_get(input, "subject");
	refused = NULL;
	value = NULL;		/* a token is never logged */
	if ((tok = str_member(sv, "token")) != NULL) {
		/* An Entra access token names the subject (a deny says why). */
		gw_token_subject(svc_ctx(req)->token.directory_id, idx, tok,
		    &gs);
		refused = gs.unbound ? "token_not_bound" : gs.refused;
		subj = gs.subj;
		found = gs.found &&
		    policy_principal_lookup(idx, &subj, &info) == 0;
	} else {
		value = json_string_value(sv);
		for (i = 0; value == NULL && subject_keys[i] != NULL; i++)
			value = str_member(sv, subject_keys[i]);
		found = proto_resolve(idx, dir, value, POLICY_PRINCIPAL_NONE,
		    &subj, &info);
	}

	/* ContextForge: action "tools.invoke.<tool>", resource type "tool". */
	action = str_member(input, "action");
	resource = json_object_get(input, "resource");
	rtype = str_member(resource, "type");
	server = str_member(resource, "server");
	tool = NULL;
	if ((rtype != NULL && strcmp(rtype, "tool") == 0) ||
	    (action != NULL && strncmp(action, "tools.invoke", 12) == 0)) {
		tool = str_member(resource, "id");
		if (tool == NULL && action != NULL &&
		    strncmp(action, "tools.invoke.", 13) == 0)
			tool = action + 13;
		if (tool == NULL)
			tool = "";
	}
	proto_decide(idx, &subj, found, &info, server, tool, &d);
	if (refused != NULL)
		d.reason = refused;
	proto_observe(req, "opa", value, server, tool, &d);
	if ((res = proto_json(&d)) == NULL) {
		json_decref(body);
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return (KORE_RESULT_OK);
	}
	if (d.res.decision != POLICY_ALLOW) {
		deny = json_pack("[s]", d.reason);
		(void)json_object_set_new(res, "deny", deny);
	}
	if (boolean) {
		out = json_pack("{s:b}", "result",
		    d.res.decision == POLICY_ALLOW);
		json_decref(res);
	} else {
		out = json_pack("{s:o}", "result", res);
	}
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	json_decref(body);

	return (KORE_RESULT_OK);
}

/* ------------------------------------------------------------------ */
/* Envoy ext_authz (HTTP service) */

static const char *
header_of(struct http_request *req, const char *name)
{
	const char	*v;

	if (name[0] == '\0' || !http_request_header(req, name, &v) ||
	    *v == '\0')
		return (NULL);
	return (v);
}

/* The body as JSON, or NULL when there is none or it is not JSON. */
static json_t *
ext_body(struct http_request *req, int *present)
{
	struct kore_buf	*buf;
	json_t		*doc;
	ssize_t		 n;
	char		 chunk[8192];

	*present = 0;
	buf = kore_buf_alloc(1024);
	for (;;) {
		n = http_body_read(req, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		kore_buf_append(buf, chunk, (size_t)n);
		if (buf->offset > (size_t)svc.settings.body_max)
			break;
	}
	*present = buf->offset > 0;
	doc = *present ? json_loadb((const char *)buf->data, buf->offset,
	    JSON_REJECT_DUPLICATES, NULL) : NULL;
	kore_buf_free(buf);

	return (doc);
}

/* A value that cannot split or smuggle a response header. */
static int
header_safe(const char *v)
{
	size_t	i;

	if (v == NULL || *v == '\0' || strlen(v) > 512)
		return (0);
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return (0);
	return (1);
}

static void
ext_answer(struct http_request *req, const struct proto_decision *d,
    const char *who, const char *server, const char *tool)
{
	json_t	*out;
	char	 num[32];

	proto_observe(req, "ext_authz", who, server, tool, d);
	out = proto_json(d);
	if (out != NULL) {
		if (server != NULL)
			(void)json_object_set_new(out, "server",
			    json_string(server));
		if (tool != NULL)
			(void)json_object_set_new(out, "tool",
			    json_string(tool));
	}
	http_response_header(req, "x-rollcall-decision",
	    d->res.decision == POLICY_ALLOW ? "allow" : "deny");
	http_response_header(req, "x-rollcall-reason", d->reason);
	if (d->found) {
		http_response_header(req, "x-rollcall-principal", d->info.id);
		http_response_header(req, "x-rollcall-principal-type",
		    d->info.kind == POLICY_PRINCIPAL_SP ? "service_principal" :
		    "user");
		if (header_safe(d->info.user_name))
			http_response_header(req, "x-rollcall-user",
			    d->info.user_name);
	}
	(void)snprintf(num, sizeof(num), "%llu",
	    (unsigned long long)d->res.policy_version);
	http_response_header(req, "x-rollcall-policy-version", num);
	(void)snprintf(num, sizeof(num), "%llu",
	    (unsigned long long)d->res.subject_epoch);
	http_response_header(req, "x-rollcall-subject-epoch", num);
	if (d->res.rule_id != NULL)
		http_response_header(req, "x-rollcall-rule", d->res.rule_id);
	if (d->res.grant_id != NULL)
		http_response_header(req, "x-rollcall-grant", d->res.grant_id);
	svc_respond_json(req, d->res.decision == POLICY_ALLOW ?
	    HTTP_STATUS_OK : HTTP_STATUS_FORBIDDEN, out);
	json_decref(out);
}

/* A plain deny that names what was wrong with the request. */
static void
ext_refuse(struct http_request *req, struct policy_index *idx,
    const char *who, const char *reason)
{
	struct proto_decision	d;

	memset(&d, 0, sizeof(d));
	d.res.decision = POLICY_DENY;
	d.res.reason = POLICY_R_INTERNAL_ERROR;
	d.res.policy_version = policy_version(idx);
	d.reason = reason;
	ext_answer(req, &d, who, NULL, NULL);
}

int
page_ext_authz(struct http_request *req)
{
	struct policy_index		*idx;
	struct policy_subject		 subj;
	struct policy_principal_info	 info;
	struct proto_decision		 d, first;
	json_t				*body, *msg;
	const char			*who, *server, *tool, *method, *p;
	const char			*first_tool, *htool, *hmethod, *bearer;
	struct gw_subject		 gs;
	char				 srv[POLICY_ID_MAX], dir[24];
	size_t				 i, n, len;
	int				 found, present, calls;

	if ((idx = proto_index(req, "ext_authz")) == NULL)
		return (KORE_RESULT_OK);
	who = header_of(req, svc.settings.extauthz_subject_header);
	/*
	 * The caller's Entra access token, forwarded by the gateway, names
	 * the subject.  A subject header next to it could name someone
	 * else: refused (fail closed), never one of them chosen.
	 */
	if ((bearer = header_of(req, svc.settings.extauthz_token_header)) !=
	    NULL) {
		if (who != NULL) {
			metrics_add(svc.metrics, METRIC_SUBJECT_CONFLICTS, 1);
			ext_refuse(req, idx, who, "subject_conflict");
			return (KORE_RESULT_OK);
		}
		if (strncasecmp(bearer, "bearer ", 7) == 0)
			bearer += 7;
		while (*bearer == ' ')
			bearer++;
		gw_token_subject(svc_ctx(req)->token.directory_id, idx, bearer,
		    &gs);
		if (gs.unbound || gs.refused != NULL) {
			ext_refuse(req, idx, NULL, gs.unbound ? "token_not_bound" :
			    gs.refused);
			return (KORE_RESULT_OK);
		}
		subj = gs.subj;
		found = gs.found &&
		    policy_principal_lookup(idx, &subj, &info) == 0;
	} else if (who == NULL) {
		ext_refuse(req, idx, NULL, "subject_missing");
		return (KORE_RESULT_OK);
	} else {
		token_dir(req, dir, sizeof(dir));
		found = proto_resolve(idx, dir, who, POLICY_PRINCIPAL_NONE,
		    &subj, &info);
	}

	/*
	 * The server: a header, else the first path segment after us.
	 * When both name one, they must agree: the path is the gateway's
	 * configuration, the header may come from the client.
	 */
	srv[0] = '\0';
	p = req->path + strlen(EXT_AUTHZ_PREFIX);
	while (*p == '/')
		p++;
	len = strcspn(p, "/?");
	if (len > 0 && len < sizeof(srv))
		(void)snprintf(srv, sizeof(srv), "%.*s", (int)len, p);
	server = header_of(req, svc.settings.extauthz_server_header);
	if (server != NULL && srv[0] != '\0' && strcmp(server, srv) != 0) {
		ext_refuse(req, idx, who, "server_mismatch");
		return (KORE_RESULT_OK);
	}
	if (server == NULL && srv[0] != '\0')
		server = srv;
	htool = header_of(req, svc.settings.extauthz_tool_header);
	hmethod = header_of(req, svc.settings.extauthz_method_header);

	/*
	 * The MCP JSON-RPC body, when the gateway forwards it, decides
	 * first (one that is not JSON is refused); a tool header naming
	 * another tool is refused too (the header may come from the
	 * client).
	 */
	body = ext_body(req, &present);
	if (present && body == NULL) {
		ext_refuse(req, idx, who, "body_unreadable");
		return (KORE_RESULT_OK);
	}
	n = json_is_array(body) ? json_array_size(body) : 1;
	calls = 0;
	first_tool = NULL;
	memset(&first, 0, sizeof(first));
	for (i = 0; body != NULL && i < n; i++) {
		msg = json_is_array(body) ? json_array_get(body, i) : body;
		method = str_member(msg, "method");
		if (method == NULL || strcmp(method, "tools/call") != 0)
			continue;
		tool = str_member(json_object_get(msg, "params"), "name");
		if (tool == NULL || (htool != NULL && strcmp(tool, htool) != 0)) {
			json_decref(body);
			ext_refuse(req, idx, who, tool == NULL ?
			    "tool_missing" : "tool_mismatch");
			return (KORE_RESULT_OK);
		}
		proto_decide(idx, &subj, found, &info, server, tool, &d);
		/* The first deny decides; else the first allow. */
		if (calls++ == 0 || (first.res.decision == POLICY_ALLOW &&
		    d.res.decision != POLICY_ALLOW)) {
			first = d;
			first_tool = tool;
		}
		if (first.res.decision != POLICY_ALLOW)
			break;
	}
	if (calls > 0) {
		ext_answer(req, &first, who, server, first_tool);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	json_decref(body);

	/* No body to read it from (nginx): the headers name the call. */
	if (htool != NULL || (hmethod != NULL &&
	    strcmp(hmethod, "tools/call") == 0)) {
		if (htool == NULL) {
			ext_refuse(req, idx, who, "tool_missing");
			return (KORE_RESULT_OK);
		}
		proto_decide(idx, &subj, found, &info, server, htool, &d);
		ext_answer(req, &d, who, server, htool);
		return (KORE_RESULT_OK);
	}

	/* initialize, tools/list, notifications, a stream: a session. */
	proto_decide(idx, &subj, found, &info, server, NULL, &d);
	ext_answer(req, &d, who, server, NULL);

	return (KORE_RESULT_OK);
}
