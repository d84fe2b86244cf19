/*
 * auth.c: bearer-token validators for the conf's authentication blocks
 * (authentication_type request, so a failure gets our own 401/403 with
 * a JSON body instead of Kore's bare 403).  The check is in memory: the
 * secret's SHA-256 is looked up in the shared token table.
 *
 *   missing, malformed, unknown, expired, revoked token -> 401
 *   valid token without the route's scope               -> 403
 *
 * Before any of that, svc_identity_unambiguous() refuses a request that
 * names its caller or its target twice (400).  Every route in
 * conf/routes.conf has one of these validators, so every request
 * passes through it first; routes without a token (health, metrics,
 * OPA, which authenticates itself) use v_auth_public for that alone.
 *
 * A token the table does not know may be one rollcallctl created a
 * moment ago, its NOTIFY still on the way.  So that it works on its
 * first use, an unknown token is looked up in the database (the request
 * sleeps meanwhile) and, when it exists, the table is reloaded.  The
 * look-ups share one rate limit per instance: beyond it an unknown
 * token is refused at once, as before, so a flood of made-up tokens
 * costs PostgreSQL a bounded number of indexed reads.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "svc.h"
#include "token.h"
#include "util.h"

int	v_auth_scim(struct http_request *, const void *);
int	v_auth_gateway(struct http_request *, const void *);
int	v_auth_admin(struct http_request *, const void *);
int	v_auth_public(struct http_request *, const void *);

static int	authenticate(struct http_request *, unsigned int scope);
static void	deny(struct http_request *, int status, const char *code,
		    const char *msg);
static int	lookup_start(struct http_request *,
		    const unsigned char *hash);
static int	lookup_finish(struct http_request *);
static int	lookup_job(PGconn *, void *, struct svc_db_err *);
static void	lookup_free(void *);

/* A look-up's state, in the request context until it is finished. */
struct token_lookup {
	char	hex[2 * TOKEN_HASH_LEN + 1];
	int	found;
};

static void
lookup_free(void *arg)
{
	kore_free(arg);
}

/* Task thread: does the token exist?  Then bring the table up to date. */
static int
lookup_job(PGconn *conn, void *arg, struct svc_db_err *err)
{
	struct token_lookup	*l = arg;
	PGresult		*res;
	const char		*p[1];

	p[0] = l->hex;
	/* Only a usable token is worth a reload: not revoked, not expired. */
	if (svc_db_exec(conn, "SELECT 1 FROM tokens "
	    "WHERE secret_hash = decode($1, 'hex') AND revoked_at IS NULL "
	    "AND (expires_at IS NULL OR expires_at > now())", 1, p, &res,
	    err) == -1)
		return (-1);
	l->found = PQntuples(res) > 0;
	PQclear(res);
	if (!l->found)
		return (0);

	return (svc_tokens_load(conn, err));
}

/*
 * Starts a look-up when the rate limit allows: KORE_RESULT_RETRY (the
 * request sleeps until it is done), or KORE_RESULT_ERROR when refused.
 */
static int
lookup_start(struct http_request *req, const unsigned char *hash)
{
	struct svc_ctx		*ctx;
	struct token_lookup	*l;
	size_t			 i;

	if (!ratelimit_take(&svc.shared->token_lookups, rc_now_ms())) {
		metrics_add(svc.metrics, METRIC_TOKEN_LOOKUPS_LIMITED, 1);
		return (KORE_RESULT_ERROR);
	}
	ctx = svc_ctx(req);
	l = kore_calloc(1, sizeof(*l));
	for (i = 0; i < TOKEN_HASH_LEN; i++)
		(void)snprintf(l->hex + 2 * i, 3, "%02x", hash[i]);
	ctx->auth_lookup = 1;
	ctx->state = l;
	ctx->state_free = lookup_free;

	return (svc_db_run(req, lookup_job, l));
}

/*
 * After the look-up: clears it from the context (the handler owns the
 * context's job and state from here on).  KORE_RESULT_RETRY while it
 * still runs, else KORE_RESULT_OK.
 */
static int
lookup_finish(struct http_request *req)
{
	struct svc_ctx		*ctx;
	struct token_lookup	*l;
	struct svc_db_err	*err;
	int			 result;

	ctx = svc_ctx(req);
	if (!svc_db_done(req, &result, &err))
		return (KORE_RESULT_RETRY);
	l = ctx->state;
	if (result == -1)
		svc_log(SVC_LOG_WARN, "token look-up failed: %s", err->msg);
	else
		metrics_add(svc.metrics, l->found ?
		    METRIC_TOKEN_LOOKUPS_FOUND : METRIC_TOKEN_LOOKUPS_UNKNOWN,
		    1);
	svc_db_forget(req);
	lookup_free(l);
	ctx->auth_lookup = 0;
	ctx->state = NULL;
	ctx->state_free = NULL;

	return (KORE_RESULT_OK);
}

static void
deny(struct http_request *req, int status, const char *code, const char *msg)
{
	if (strncmp(req->path, "/scim/", 6) == 0)
		svc_scim_error(req, status, NULL, "%s", msg);
	else
		svc_error(req, status, code, "%s", msg);
}

/*
 * Kore's http_request_header() returns the first of several headers of
 * one name, while a proxy in front may act on the last: with two
 * Authorization or x-user headers, rollcall and the proxy could each
 * believe a different caller.  So a header that names who asks or what
 * for (the credentials, and the ext_authz headers as configured) must
 * come at most once, on every route.
 */
int
svc_identity_unambiguous(struct http_request *req)
{
	const char		*names[6];
	struct http_header	*hdr;
	size_t			 i, n, count;

	n = 0;
	names[n++] = "authorization";
	if (svc.settings.extauthz_subject_header[0] != '\0')
		names[n++] = svc.settings.extauthz_subject_header;
	if (svc.settings.extauthz_server_header[0] != '\0')
		names[n++] = svc.settings.extauthz_server_header;
	if (svc.settings.extauthz_tool_header[0] != '\0')
		names[n++] = svc.settings.extauthz_tool_header;
	if (svc.settings.extauthz_method_header[0] != '\0')
		names[n++] = svc.settings.extauthz_method_header;
	if (svc.settings.extauthz_token_header[0] != '\0')
		names[n++] = svc.settings.extauthz_token_header;

	for (i = 0; i < n; i++) {
		count = 0;
		TAILQ_FOREACH(hdr, &req->req_headers, list) {
			if (strcasecmp(hdr->header, names[i]) == 0)
				count++;
		}
		if (count < 2)
			continue;
		metrics_add(svc.metrics, METRIC_REFUSED_DUPLICATE_HEADER, 1);
		svc_log(SVC_LOG_WARN, "refused a request with %zu '%s' "
		    "headers", count, names[i]);
		if (strncmp(req->path, "/scim/", 6) == 0)
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalidSyntax", "the request carries the '%s' "
			    "header %zu times; a header naming the caller or "
			    "the target must come once", names[i], count);
		else
			svc_error(req, HTTP_STATUS_BAD_REQUEST,
			    "duplicate_header", "the request carries the '%s' "
			    "header %zu times; a header naming the caller or "
			    "the target must come once", names[i], count);
		return (0);
	}

	return (1);
}

static int
authenticate(struct http_request *req, unsigned int scope)
{
	struct svc_ctx		*ctx;
	enum tokentab_verdict	 v;
	const char		*header, *secret;
	unsigned char		 hash[TOKEN_HASH_LEN];
	size_t			 len;
	int			 looked_up;

	ctx = svc_ctx(req);
	if (!svc_identity_unambiguous(req))
		return (KORE_RESULT_ERROR);
	/* Back from a database look-up (below): finish it first. */
	looked_up = 0;
	if (ctx->auth_lookup) {
		if (lookup_finish(req) == KORE_RESULT_RETRY)
			return (KORE_RESULT_RETRY);
		looked_up = 1;
	}
	if (!http_request_header(req, "authorization", &header)) {
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_MALFORMED, 1);
		deny(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "missing Authorization: Bearer token");
		return (KORE_RESULT_ERROR);
	}
	if (token_bearer_parse(header, &secret, &len) == -1) {
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_MALFORMED, 1);
		deny(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "the Authorization header is not 'Bearer <token>'");
		return (KORE_RESULT_ERROR);
	}

	/* An Entra access token: only as an admin, in its own module. */
	if (scope == TOKEN_SCOPE_ADMIN && svc_auth_looks_like_jwt(secret, len))
		return (svc_auth_entra_admin(req, secret, len));

	token_hash(secret, len, hash);
	v = tokentab_check(svc.tokens, hash, rc_now_ms(), &ctx->token);
	if (v == TOKENTAB_UNKNOWN && !looked_up &&
	    lookup_start(req, hash) == KORE_RESULT_RETRY)
		return (KORE_RESULT_RETRY);
	switch (v) {
	case TOKENTAB_OK:
		break;
	case TOKENTAB_EXPIRED:
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_EXPIRED, 1);
		deny(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "the token has expired; create a new one");
		return (KORE_RESULT_ERROR);
	case TOKENTAB_REVOKED:
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_REVOKED, 1);
		deny(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "the token has been revoked");
		return (KORE_RESULT_ERROR);
	default:
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_UNKNOWN, 1);
		deny(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "the token is not valid");
		return (KORE_RESULT_ERROR);
	}
	ctx->authed = 1;

	if (!(ctx->token.scopes & scope)) {
		metrics_add(svc.metrics, METRIC_TOKEN_FAILURES_SCOPE, 1);
		if (strncmp(req->path, "/scim/", 6) == 0)
			svc_scim_error(req, HTTP_STATUS_FORBIDDEN, NULL,
			    "this token lacks the '%s' scope",
			    token_scope_name(scope));
		else
			svc_error(req, HTTP_STATUS_FORBIDDEN, "forbidden",
			    "this token lacks the '%s' scope",
			    token_scope_name(scope));
		return (KORE_RESULT_ERROR);
	}

	return (KORE_RESULT_OK);
}

int
v_auth_scim(struct http_request *req, const void *data)
{
	(void)data;
	return (authenticate(req, TOKEN_SCOPE_SCIM));
}

int
v_auth_gateway(struct http_request *req, const void *data)
{
	(void)data;
	return (authenticate(req, TOKEN_SCOPE_GATEWAY));
}

int
v_auth_admin(struct http_request *req, const void *data)
{
	(void)data;
	return (authenticate(req, TOKEN_SCOPE_ADMIN));
}

int
v_auth_public(struct http_request *req, const void *data)
{
	(void)data;
	return (svc_identity_unambiguous(req) ? KORE_RESULT_OK :
	    KORE_RESULT_ERROR);
}
