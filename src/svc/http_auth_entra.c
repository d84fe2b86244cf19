/*
 * http_auth_entra.c: an Entra access token as an admin credential (the
 * console's "Sign in with Microsoft"; README, "Sign in with
 * Microsoft").  http_auth.c hands over a bearer that is shaped like a
 * JWT on an admin route; everything else stays with the token table.
 *
 * The token is accepted only when all of these hold, checked in this
 * order, the first failure being the answer:
 *   - the setting entra_admin_role is set (otherwise the feature is off);
 *   - the token validates against the binding of its tenant
 *     (entra_check: signature, issuer, tenant, audience, lifetime),
 *     and that tenant is bound to exactly one directory;
 *   - it is a user's token (not app-only) carrying the app role
 *     entra_admin_role in "roles";
 *   - its oid is a provisioned user of that directory, active, not
 *     deleted, not killed: read from the in-memory policy index, so a
 *     SCIM disable refuses the next request, and a stale index refuses
 *     every one (fail closed).
 * The session is then bound to that directory exactly like a directory
 * admin token (ctx->token: the admin scope, the directory, never
 * global), and its name, "entra:<userName>", is what audit rows record.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "entra_glue.h"
#include "entra_token.h"
#include "policy.h"
#include "policy_glue.h"
#include "policy_store.h"
#include "svc.h"
#include "token.h"
#include "util.h"

static int	entra_deny(struct http_request *, int status, const char *code,
		    const char *msg);

int
svc_auth_looks_like_jwt(const char *secret, size_t len)
{
	size_t	i, dots;

	/* A JWS header is base64url JSON: it starts with "eyJ" ("{\""). */
	if (len < 3 || strncmp(secret, "eyJ", 3) != 0)
		return (0);
	for (i = 0, dots = 0; i < len; i++)
		if (secret[i] == '.')
			dots++;
	return (dots == 2);
}

static int
entra_deny(struct http_request *req, int status, const char *code,
    const char *msg)
{
	metrics_add(svc.metrics, status == HTTP_STATUS_UNAUTHORIZED ?
	    METRIC_TOKEN_FAILURES_UNKNOWN : METRIC_TOKEN_FAILURES_SCOPE, 1);
	svc_log(SVC_LOG_DEBUG, "entra admin sign-in refused: %s", code);
	svc_error(req, status, code, "%s", msg);
	return (KORE_RESULT_ERROR);
}

/* The directory's name for its id (the index keeps name -> id). */
static void
directory_name(const char *id, char *out, size_t size)
{
	const struct policy_dirs	*dirs;
	const char			*key;
	json_t				*v;

	rc_strlcpy(out, id, size);
	if ((dirs = svc_policy_dirs()) == NULL || dirs->by_name == NULL)
		return;
	json_object_foreach(dirs->by_name, key, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) {
			rc_strlcpy(out, key, size);
			return;
		}
	}
}

int
svc_auth_entra_admin(struct http_request *req, const char *secret,
    size_t len)
{
	struct svc_ctx			*ctx;
	struct policy_index		*idx;
	struct policy_subject		 subj;
	struct policy_principal_info	 info;
	struct entra_who		 who;
	enum entra_check		 r;
	const char			*reason, *detail, *role;
	char				*tok, msg[256], tid[64];
	int				 rc;

	role = svc.settings.entra_admin_role;
	if (role[0] == '\0')
		return (entra_deny(req, HTTP_STATUS_UNAUTHORIZED,
		    "unauthorized", "Entra access tokens are not admin "
		    "credentials on this instance (set entra_admin_role)"));
	if (len > ENTRA_TOKEN_MAX)
		return (entra_deny(req, HTTP_STATUS_UNAUTHORIZED,
		    "token_malformed", "the access token is too long"));
	tok = kore_malloc(len + 1);
	memcpy(tok, secret, len);
	tok[len] = '\0';

	/* The binding is the token's tenant's (a directory per tenant). */
	r = entra_check(0, tok, &who, &reason, &detail);
	if (r != ENTRA_CHECK_OK) {
		kore_free(tok);
		return (entra_deny(req, HTTP_STATUS_UNAUTHORIZED,
		    r == ENTRA_CHECK_UNBOUND ? "token_not_bound" : reason,
		    r == ENTRA_CHECK_UNBOUND ? "no directory is bound "
		    "to this access token's tenant" : detail));
	}
	/* Which directory would be a guess: refuse rather than pick one. */
	if (entra_token_peek_tid(tok, tid, sizeof(tid)) == -1 ||
	    entra_tenant_bindings(tid) != 1) {
		kore_free(tok);
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN,
		    "ambiguous_directory", "this tenant is bound to more than "
		    "one directory, so an Entra sign-in cannot tell which one "
		    "it administers: use an admin token"));
	}
	rc = !who.app_only && entra_token_has_role(tok, role);
	kore_free(tok);
	if (who.app_only)
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "an app-only access token cannot sign in as an "
		    "admin: sign in as a user"));
	if (!rc) {
		(void)snprintf(msg, sizeof(msg), "the access token lacks the "
		    "app role '%s': assign it to the user in Entra", role);
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN,
		    "missing_admin_role", msg));
	}

	if ((idx = svc_policy()) == NULL || svc_policy_stale())
		return (entra_deny(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "policy_stale", "rollcall cannot tell whether this "
		    "user is active right now; try again"));
	memset(&subj, 0, sizeof(subj));
	subj.by = POLICY_BY_EXTERNAL_ID;
	subj.value = who.oid;
	subj.directory = who.directory;
	if (policy_principal_lookup(idx, &subj, &info) == -1 ||
	    info.kind != POLICY_PRINCIPAL_USER || info.deleted)
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN,
		    "principal_unknown", "this Entra user is not a "
		    "provisioned user of the directory bound to its tenant"));
	if (!info.active || info.revoked_all) {
		(void)snprintf(msg, sizeof(msg), "the user '%s' is disabled",
		    info.user_name != NULL ? info.user_name : who.oid);
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN,
		    "principal_disabled", msg));
	}

	ctx = svc_ctx(req);
	memset(&ctx->token, 0, sizeof(ctx->token));
	(void)snprintf(ctx->token.id, sizeof(ctx->token.id), "%s",
	    info.id != NULL ? info.id : "");
	(void)snprintf(ctx->token.name, sizeof(ctx->token.name), "entra:%s",
	    info.user_name != NULL ? info.user_name : who.oid);
	directory_name(who.directory, ctx->token.directory,
	    sizeof(ctx->token.directory));
	ctx->token.directory_id = strtoll(who.directory, NULL, 10);
	ctx->token.scopes = TOKEN_SCOPE_ADMIN;
	if (ctx->token.directory_id <= 0) {
		/* Never a global session, whatever went wrong. */
		return (entra_deny(req, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "the access token names no directory"));
	}
	ctx->authed = 1;

	return (KORE_RESULT_OK);
}
