/*
 * http_gateway.c: the decision endpoints MCP gateways call on every
 * session and tool call.  Everything here is answered from the worker's
 * in-memory index (svc_policy()), brought up to date with the shared
 * change ring first; the database is never on this path.  Anything
 * unexpected denies.
 *
 *   POST /v1/session/check    is the principal active; groups; servers
 *   POST /v1/authorize        one (server, tool)
 *   POST /v1/authorize/batch  up to GW_BATCH_MAX (server, tool) pairs
 *   POST /v1/tools/filter     the tools/list twin of authorize
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision_req.h"
#include "entra_glue.h"
#include "gateway.h"
#include "jsonw.h"
#include "policy_glue.h"
#include "util.h"

int	page_gw_session_check(struct http_request *);
int	page_gw_authorize(struct http_request *);
int	page_gw_authorize_batch(struct http_request *);
int	page_gw_tools_filter(struct http_request *);

static void	gw_token_resolve(int64_t, struct policy_index *, const char *,
		    struct gw_subject *);

int
gw_subject_parse(struct http_request *req, struct policy_index *idx,
    const json_t *v, struct gw_subject *out)
{
	struct decision_subject	ds;
	struct decision_err	err;

	if (decision_subject_parse(v, &ds, &err) == -1) {
		memset(out, 0, sizeof(*out));
		svc_error(req, err.status, err.code, "%s", err.msg);
		return (-1);
	}
	gw_subject_resolve(req, idx, &ds, out);

	return (0);
}

/*
 * An access token names a principal of its binding's directory: a user
 * by oid (externalId, Entra's SCIM mapping); an app-only token a
 * service principal by its application id, else by oid.
 */
void
gw_token_subject(int64_t directory_id, struct policy_index *idx,
    const char *token, struct gw_subject *out)
{
	memset(out, 0, sizeof(*out));
	(void)snprintf(out->directory, sizeof(out->directory), "%lld",
	    (long long)directory_id);
	out->subj.directory = out->directory;
	gw_token_resolve(directory_id, idx, token, out);
}

static void
gw_token_resolve(int64_t directory_id, struct policy_index *idx,
    const char *token, struct gw_subject *out)
{
	struct policy_principal_info	info;
	struct entra_who		who;
	enum entra_check		r;

	out->subj.by = POLICY_BY_EXTERNAL_ID;
	out->subj.value = out->value;
	r = entra_check(directory_id, token, &who, &out->refused,
	    &out->detail);
	if (r != ENTRA_CHECK_OK) {
		out->unbound = r == ENTRA_CHECK_UNBOUND;
		if (out->unbound)
			out->refused = NULL;
		return;
	}
	rc_strlcpy(out->directory, who.directory, sizeof(out->directory));
	out->exp = who.exp;
	if (who.app_only && who.app_id[0] != '\0') {
		rc_strlcpy(out->value, who.app_id, sizeof(out->value));
		out->subj.by = POLICY_BY_APP_ID;
		if (policy_principal_lookup(idx, &out->subj, &info) == 0 &&
		    info.kind == POLICY_PRINCIPAL_SP) {
			out->found = 1;
			return;
		}
	}
	rc_strlcpy(out->value, who.oid, sizeof(out->value));
	out->subj.by = POLICY_BY_EXTERNAL_ID;
	out->found = policy_principal_lookup(idx, &out->subj, &info) == 0 &&
	    (info.kind == POLICY_PRINCIPAL_SP) == (who.app_only != 0);
	if (!out->found) {
		/* principal_unknown: nothing of this name may match. */
		out->value[0] = '\0';
		out->subj.by = POLICY_BY_ID;
	}
}

int
gw_subject_refused(struct http_request *req, const struct gw_subject *s)
{
	if (s->conflict) {
		metrics_add(svc.metrics, METRIC_SUBJECT_CONFLICTS, 1);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "subject_conflict",
		    "the '%s' header and the body name different subjects",
		    svc.settings.extauthz_subject_header);
		return (1);
	}
	if (!s->unbound)
		return (0);
	svc_error(req, HTTP_STATUS_BAD_REQUEST, "token_not_bound", "%s",
	    s->detail);
	return (1);
}

void
gw_subject_resolve(struct http_request *req, struct policy_index *idx,
    const struct decision_subject *ds, struct gw_subject *out)
{
	static const enum policy_alias	 order[] = { POLICY_BY_ID,
	    POLICY_BY_USERNAME, POLICY_BY_EMAIL, POLICY_BY_EXTERNAL_ID,
	    POLICY_BY_APP_ID };
	struct svc_ctx			*ctx;
	const char			*hdr;
	size_t				 i;

	ctx = svc_ctx(req);
	memset(out, 0, sizeof(*out));
	(void)snprintf(out->directory, sizeof(out->directory), "%lld",
	    (long long)ctx->token.directory_id);
	out->subj.directory = out->directory;
	out->subj.value = ds->value;
	/*
	 * A subject header (set by a gateway, or by its client) that names
	 * someone other than the body is refused: rollcall must not answer
	 * for one while the gateway acts for the other.
	 */
	if (svc.settings.extauthz_subject_header[0] != '\0' &&
	    http_request_header(req, svc.settings.extauthz_subject_header,
	    &hdr) && (ds->token != NULL || ds->value == NULL ||
	    strcmp(hdr, ds->value) != 0)) {
		out->conflict = 1;
		return;
	}
	if (ds->token != NULL) {
		gw_token_resolve(ctx->token.directory_id, idx, ds->token, out);
		return;
	}
	if (!ds->any) {
		out->subj.by = ds->by;
		out->found = policy_principal_lookup(idx, &out->subj,
		    &out->info) == 0;
		return;
	}
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		out->subj.by = order[i];
		if (policy_principal_lookup(idx, &out->subj, &out->info) == 0) {
			out->found = 1;
			return;
		}
	}
	/* Unknown: evaluation says principal_unknown. */
	out->subj.by = POLICY_BY_ID;
}

int
gw_ttl_s(const struct policy_result *res, size_t n)
{
	struct policy_result	bound;
	size_t			i;

	memset(&bound, 0, sizeof(bound));
	for (i = 0; i < n; i++)
		bound.valid_until_ms = policy_valid_until_min(
		    bound.valid_until_ms, res[i].valid_until_ms);
	return (policy_ttl_s(&bound, (int64_t)rc_now_ms(),
	    svc.settings.decision_ttl_s));
}

json_t *
gw_decision_json(const struct policy_result *r, int ttl_s)
{
	json_t		*out, *ob;

	out = json_pack("{s:s, s:b, s:s, s:I, s:I, s:i}",
	    "decision", r->decision == POLICY_ALLOW ? "allow" : "deny",
	    "allow", r->decision == POLICY_ALLOW,
	    "reason_code", policy_reason_str(r->reason),
	    "policy_version", (json_int_t)r->policy_version,
	    "subject_epoch", (json_int_t)r->subject_epoch,
	    "ttl_s", ttl_s);
	if (out == NULL)
		return (NULL);
	if (r->rule_id != NULL)
		(void)json_object_set_new(out, "rule_id",
		    json_string(r->rule_id));
	if (r->group_id != NULL)
		(void)json_object_set_new(out, "group_id",
		    json_string(r->group_id));
	if (r->grant_id != NULL)
		(void)json_object_set_new(out, "grant_id",
		    json_string(r->grant_id));
	if (r->role != NULL)
		(void)json_object_set_new(out, "role", json_string(r->role));
	if (r->reason == POLICY_R_ELEVATION_REQUIRED) {
		ob = json_pack("{s:s, s:s*, s:I}", "type", "request_grant",
		    "rule_id", r->rule_id, "max_duration_s",
		    (json_int_t)(r->max_grant_ms / 1000));
		(void)json_object_set_new(out, "obligations",
		    json_pack("[o]", ob));
	}

	return (out);
}

const char *
gw_untrusted(void)
{
	if (svc_policy_stale()) {
		metrics_add(svc.metrics, METRIC_POLICY_STALE_DENIALS, 1);
		return ("policy_stale");
	}
	return (NULL);
}

void
gw_observe(struct http_request *req, const char *endpoint,
    const struct gw_subject *s, const char *server, const char *tool,
    const struct policy_result *res)
{
	struct svc_decision	d;

	memset(&d, 0, sizeof(d));
	d.endpoint = endpoint;
	d.subject = s->subj.value;
	d.principal = s->found ? &s->info : NULL;
	d.server = server;
	d.tool = tool;
	svc_decision_result(&d, res);
	if (s->refused != NULL) {
		/* An invalid token denies with its own reason. */
		d.allow = 0;
		d.reason_code = s->refused;
	}
	svc_decision(req, &d);
}

void
gw_unavailable(struct http_request *req, const char *endpoint)
{
	struct svc_decision	 d;
	json_t			*out;
	const char		*reason;

	/* Fail closed: stale, or the index is being rebuilt. */
	if ((reason = gw_untrusted()) == NULL)
		reason = "internal_error";
	memset(&d, 0, sizeof(d));
	d.endpoint = endpoint;
	d.reason_code = reason;
	svc_decision(req, &d);
	out = json_pack("{s:s, s:b, s:s, s:i}", "decision", "deny", "allow", 0,
	    "reason_code", reason, "ttl_s", 0);
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
}

/* Common start: POST, a JSON body, an index.  NULL when answered. */
static json_t *
gw_begin(struct http_request *req, struct policy_index **idx,
    const char *endpoint)
{
	json_t	*body;

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (NULL);
	if ((body = svc_body_json(req)) == NULL)
		return (NULL);
	if ((*idx = svc_policy()) == NULL || svc_policy_stale()) {
		json_decref(body);
		gw_unavailable(req, endpoint);
		return (NULL);
	}

	return (body);
}

/* Answers 200 with the JSON text w holds (500 if writing it failed). */
static void
gw_respond_text(struct http_request *req, const struct jsonw *w)
{
	if (w->failed)
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
	else
		svc_respond_raw(req, HTTP_STATUS_OK, "application/json",
		    w->buf, w->len);
}

/* Answers a body that decision_req refused. */
static void
gw_refuse(struct http_request *req, const struct decision_err *err)
{
	svc_error(req, err->status, err->code, "%s", err->msg);
}

/*
 * gw_begin() for /v1/authorize, with its body parsed into *ds and *q:
 * the common form straight from the text, anything else as a tree (the
 * same errors, in the same order).  On 0 the caller frees *text and
 * *body (NULL when not needed), which *ds and *q borrow from; -1 when
 * answered.
 */
static int
gw_begin_authorize(struct http_request *req, struct policy_index **idx,
    struct kore_buf **text, json_t **body, struct decision_subject *ds,
    struct policy_query *q)
{
	struct decision_err	err;
	int			rc;

	*body = NULL;
	if (!svc_method_allowed(req, HTTP_METHOD_POST) ||
	    (*text = svc_body_read(req)) == NULL)
		return (-1);
	rc = decision_authorize_parse_text((char *)(*text)->data,
	    (*text)->offset, ds, q);
	if (rc == 1 && (*body = svc_body_parse(req, *text)) == NULL)
		goto answered;
	if ((*idx = svc_policy()) == NULL || svc_policy_stale()) {
		gw_unavailable(req, "authorize");
		goto answered;
	}
	if (rc == 1 && decision_authorize_parse(*body, ds, q, &err) == -1) {
		gw_refuse(req, &err);
		goto answered;
	}
	return (0);

answered:
	json_decref(*body);
	kore_buf_free(*text);
	return (-1);
}

int
page_gw_authorize(struct http_request *req)
{
	struct policy_index	*idx;
	struct policy_result	 res;
	struct policy_query	 q;
	struct decision_subject	 ds;
	struct gw_subject	 s;
	struct jsonw		 w;
	struct kore_buf		*text;
	json_t			*body, *out;

	if (gw_begin_authorize(req, &idx, &text, &body, &ds, &q) == -1)
		return (KORE_RESULT_OK);
	gw_subject_resolve(req, idx, &ds, &s);
	if (gw_subject_refused(req, &s)) {
		json_decref(body);
		kore_buf_free(text);
		return (KORE_RESULT_OK);
	}
	(void)policy_evaluate(idx, &s.subj, q.server, q.tool,
	    (int64_t)rc_now_ms(), &res);
	gw_observe(req, "authorize", &s, q.server, q.tool, &res);
	if (s.refused != NULL) {
		/* An invalid token: a deny with its own reason, not cached. */
		out = gw_decision_json(&res, 0);
		if (out != NULL)
			(void)json_object_set_new(out, "reason_code",
			    json_string(s.refused));
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
	} else {
		jsonw_init(&w, 256);
		decision_result_write(&w, &res, gw_ttl_s(&res, 1));
		gw_respond_text(req, &w);
		jsonw_cleanup(&w);
	}
	json_decref(body);
	kore_buf_free(text);

	return (KORE_RESULT_OK);
}

/* Room for n results besides the queries q; -1 after answering 500. */
static int
gw_alloc(struct http_request *req, size_t n, struct policy_query *q,
    struct policy_result **res)
{
	if ((*res = calloc(n + 1, sizeof(**res))) == NULL) {
		free(q);
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return (-1);
	}

	return (0);
}

/* Evaluates n queries for one subject; anything wrong denies them all. */
static void
gw_evaluate_all(struct policy_index *idx, const struct policy_subject *subj,
    const struct policy_query *q, size_t n, struct policy_result *res)
{
	size_t	i;

	if (n == 0 || policy_evaluate_batch(idx, subj, q, n,
	    (int64_t)rc_now_ms(), res) == 0)
		return;
	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		res[i].decision = POLICY_DENY;
		res[i].reason = POLICY_R_INTERNAL_ERROR;
		res[i].policy_version = policy_version(idx);
	}
}

int
page_gw_authorize_batch(struct http_request *req)
{
	struct policy_index	*idx;
	struct policy_result	*res;
	struct policy_query	*q;
	struct gw_subject	 s;
	struct jsonw		 w;
	struct decision_subject	 ds;
	struct decision_err	 err;
	struct kore_buf		*text;
	json_t			*body;
	size_t			 i, n;
	int			 rc;

	/* The common form is read from the text; anything else as a tree. */
	if (!svc_method_allowed(req, HTTP_METHOD_POST) ||
	    (text = svc_body_read(req)) == NULL)
		return (KORE_RESULT_OK);
	body = NULL;
	if ((rc = decision_batch_parse_text((char *)text->data, text->offset,
	    &ds, &q, &n)) == -1) {
		kore_buf_free(text);
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "out of memory");
		return (KORE_RESULT_OK);
	}
	if (rc == 1 && (body = svc_body_parse(req, text)) == NULL) {
		kore_buf_free(text);
		return (KORE_RESULT_OK);
	}
	if ((idx = svc_policy()) == NULL || svc_policy_stale()) {
		free(q);
		json_decref(body);
		kore_buf_free(text);
		gw_unavailable(req, "authorize_batch");
		return (KORE_RESULT_OK);
	}
	if (rc == 1 && decision_batch_parse(body, &ds, &q, &n, &err) == -1) {
		gw_refuse(req, &err);
		json_decref(body);
		kore_buf_free(text);
		return (KORE_RESULT_OK);
	}
	gw_subject_resolve(req, idx, &ds, &s);
	if (gw_subject_refused(req, &s)) {
		free(q);
		json_decref(body);
		kore_buf_free(text);
		return (KORE_RESULT_OK);
	}
	if (gw_alloc(req, n, q, &res) == -1) {
		json_decref(body);
		kore_buf_free(text);
		return (KORE_RESULT_OK);
	}
	gw_evaluate_all(idx, &s.subj, q, n, res);
	/* One decision, one line: the log says so per item. */
	for (i = 0; i < n; i++)
		gw_observe(req, "authorize_batch", &s, q[i].server, q[i].tool,
		    &res[i]);
	/* A fixed shape, 1,000 times: written directly, not as a tree. */
	jsonw_init(&w, n * 96 + 128);
	jsonw_raw(&w, "{\"results\":[");
	for (i = 0; i < n; i++) {
		jsonw_raw(&w, i ? ",{\"server\":" : "{\"server\":");
		jsonw_str(&w, q[i].server);
		jsonw_raw(&w, ",\"tool\":");
		jsonw_str(&w, q[i].tool);
		jsonw_raw(&w, res[i].decision == POLICY_ALLOW ?
		    ",\"decision\":\"allow\",\"allow\":true,\"reason_code\":\"" :
		    ",\"decision\":\"deny\",\"allow\":false,\"reason_code\":\"");
		jsonw_raw(&w, s.refused != NULL ? s.refused :
		    policy_reason_str(res[i].reason));
		jsonw_raw(&w, "\"");
		if (res[i].rule_id != NULL) {
			jsonw_raw(&w, ",\"rule_id\":");
			jsonw_str(&w, res[i].rule_id);
		}
		if (res[i].group_id != NULL) {
			jsonw_raw(&w, ",\"group_id\":");
			jsonw_str(&w, res[i].group_id);
		}
		if (res[i].grant_id != NULL) {
			jsonw_raw(&w, ",\"grant_id\":");
			jsonw_str(&w, res[i].grant_id);
		}
		if (res[i].role != NULL) {
			jsonw_raw(&w, ",\"role\":");
			jsonw_str(&w, res[i].role);
		}
		if (res[i].reason == POLICY_R_ELEVATION_REQUIRED) {
			jsonw_raw(&w, ",\"obligations\":[{\"type\":"
			    "\"request_grant\",\"rule_id\":");
			jsonw_str(&w, res[i].rule_id);
			jsonw_raw(&w, ",\"max_duration_s\":");
			jsonw_int(&w, res[i].max_grant_ms / 1000);
			jsonw_raw(&w, "}]");
		}
		jsonw_raw(&w, "}");
	}
	jsonw_raw(&w, "],\"policy_version\":");
	jsonw_int(&w, (int64_t)res[0].policy_version);
	jsonw_raw(&w, ",\"subject_epoch\":");
	jsonw_int(&w, (int64_t)res[0].subject_epoch);
	jsonw_raw(&w, ",\"ttl_s\":");
	jsonw_int(&w, s.refused != NULL ? 0 : gw_ttl_s(res, n));
	jsonw_raw(&w, "}");
	gw_respond_text(req, &w);
	jsonw_cleanup(&w);
	free(q);
	free(res);
	json_decref(body);
	kore_buf_free(text);

	return (KORE_RESULT_OK);
}

int
page_gw_tools_filter(struct http_request *req)
{
	struct policy_index	*idx;
	struct policy_result	*res;
	struct policy_query	*q;
	struct gw_subject	 s;
	struct decision_subject	 ds;
	struct decision_err	 err;
	json_t			*body, *tools, *t, *allowed, *denied;
	json_t			*out, *d;
	size_t			 i, n;

	if ((body = gw_begin(req, &idx, "tools_filter")) == NULL)
		return (KORE_RESULT_OK);
	if (decision_tools_parse(body, &ds, &q, &n, &err) == -1) {
		gw_refuse(req, &err);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	gw_subject_resolve(req, idx, &ds, &s);
	if (gw_subject_refused(req, &s)) {
		free(q);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	if (gw_alloc(req, n, q, &res) == -1) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	tools = json_object_get(body, "tools");
	gw_evaluate_all(idx, &s.subj, q, n, res);
	allowed = json_array();
	denied = json_array();
	for (i = 0; i < n; i++) {
		gw_observe(req, "tools_filter", &s, q[i].server, q[i].tool,
		    &res[i]);
		t = json_array_get(tools, i);
		if (res[i].decision == POLICY_ALLOW) {
			/* Echo what came in, so a tools/list can be rebuilt. */
			(void)json_array_append(allowed, t);
			continue;
		}
		d = json_pack("{s:s, s:s}", "name", q[i].tool, "reason_code",
		    s.refused != NULL ? s.refused :
		    policy_reason_str(res[i].reason));
		if (d != NULL && res[i].rule_id != NULL)
			(void)json_object_set_new(d, "rule_id",
			    json_string(res[i].rule_id));
		(void)json_array_append_new(denied, d);
	}
	if (n == 0)
		res[0].policy_version = policy_version(idx);
	out = json_pack("{s:o, s:o, s:I, s:I, s:i}", "allowed", allowed,
	    "denied", denied, "policy_version",
	    (json_int_t)res[0].policy_version, "subject_epoch",
	    (json_int_t)res[0].subject_epoch, "ttl_s", s.refused != NULL ? 0 :
	    gw_ttl_s(res, n));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	free(q);
	free(res);
	json_decref(body);

	return (KORE_RESULT_OK);
}

struct servers_acc {
	json_t			*servers;	/* slug -> true, any allowed */
	struct policy_result	 bound;		/* earliest valid_until_ms */
};

static int
collect_servers(void *arg, const char *server, const char *tool,
    const struct policy_result *r)
{
	struct servers_acc	*acc = arg;

	(void)tool;
	acc->bound.valid_until_ms = policy_valid_until_min(
	    acc->bound.valid_until_ms, r->valid_until_ms);
	if (r->decision == POLICY_ALLOW)
		(void)json_object_set_new(acc->servers, server, json_true());
	return (0);
}

int
page_gw_session_check(struct http_request *req)
{
	struct policy_index		*idx;
	struct policy_principal_info	 info;
	struct decision_subject		 ds;
	struct decision_err		 err;
	struct policy_result		 res;
	struct gw_subject		 s;
	struct servers_acc		 acc;
	const char			*groups[256], *key;
	json_t				*body, *out, *garr, *sarr, *v;
	size_t				 i, total;
	int				 active;

	if ((body = gw_begin(req, &idx, "session_check")) == NULL)
		return (KORE_RESULT_OK);
	if (decision_body_subject_parse(body, &ds, &err) == -1) {
		gw_refuse(req, &err);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	gw_subject_resolve(req, idx, &ds, &s);
	if (gw_subject_refused(req, &s)) {
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	memset(&res, 0, sizeof(res));
	res.policy_version = policy_version(idx);
	if (!s.found || policy_principal_lookup(idx, &s.subj, &info) == -1) {
		s.found = 0;
		res.decision = POLICY_DENY;
		res.reason = POLICY_R_PRINCIPAL_UNKNOWN;
		gw_observe(req, "session_check", &s, NULL, NULL, &res);
		out = json_pack("{s:b, s:s, s:I, s:i}", "active", 0,
		    "reason_code", s.refused != NULL ? s.refused :
		    policy_reason_str(POLICY_R_PRINCIPAL_UNKNOWN),
		    "policy_version", (json_int_t)policy_version(idx), "ttl_s",
		    s.refused != NULL ? 0 : svc.settings.decision_ttl_s);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		json_decref(body);
		return (KORE_RESULT_OK);
	}
	active = info.state == POLICY_R_ALLOWED_BY_RULE;
	res.decision = active ? POLICY_ALLOW : POLICY_DENY;
	res.reason = info.state;
	res.subject_epoch = info.subject_epoch;
	s.info = info;
	gw_observe(req, "session_check", &s, NULL, NULL, &res);
	garr = json_array();
	total = 0;
	if (policy_principal_groups(idx, &s.subj, groups,
	    sizeof(groups) / sizeof(groups[0]), &total) == 0) {
		for (i = 0; i < total && i < sizeof(groups) /
		    sizeof(groups[0]); i++)
			(void)json_array_append_new(garr,
			    json_string(groups[i]));
	}
	sarr = json_array();
	memset(&acc, 0, sizeof(acc));
	if (active) {
		acc.servers = json_object();
		(void)policy_effective(idx, &s.subj, (int64_t)rc_now_ms(),
		    collect_servers, &acc);
		json_object_foreach(acc.servers, key, v)
			(void)json_array_append_new(sarr, json_string(key));
		json_decref(acc.servers);
	}
	out = json_pack("{s:b, s:s, s:{s:s, s:s, s:s?, s:s?, s:s}, s:o, "
	    "s:b, s:o, s:I, s:I, s:i}",
	    "active", active,
	    "reason_code", policy_reason_str(info.state),
	    "principal", "id", info.id,
	    "type", info.kind == POLICY_PRINCIPAL_SP ? "service_principal" :
	    "user", "userName", info.user_name, "appId", info.app_id,
	    "directory", info.directory,
	    "groups", garr, "groups_truncated", total > sizeof(groups) /
	    sizeof(groups[0]),
	    "servers", sarr,
	    "policy_version", (json_int_t)policy_version(idx),
	    "subject_epoch", (json_int_t)info.subject_epoch,
	    "ttl_s", gw_ttl_s(&acc.bound, 1));
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
	json_decref(body);

	return (KORE_RESULT_OK);
}
