/*
 * http_introspect.c: OAuth 2.0 token introspection (RFC 7662) for
 * Entra access tokens, so a gateway filter (Kong, agentgateway, Envoy)
 * can ask rollcall alone whether a caller may act at all:
 *
 *   POST /v1/introspect    token=<jwt> (form) or {"token": "<jwt>"}
 *
 * {"active": false} when the token is not valid for the gateway
 * token's directory (any reason: RFC 7662 says nothing more to an
 * invalid token) or its principal is not active now (unknown,
 * disabled, deleted, revoked); else the principal, its groups and its
 * app roles (the SCIM roles as stored, never the token's "roles"
 * claim: SCIM is the truth) from the live index; "roles" is an
 * extension member, as RFC 7662 section 2.2 allows.  Like every decision it is answered from memory and
 * fails closed: a stale index answers inactive.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "policy_glue.h"
#include "util.h"

#define INTROSPECT_BODY_MAX	32768

int	page_gw_introspect(struct http_request *);

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/*
 * The "token" field of a form body (application/x-www-form-urlencoded),
 * decoded in place into buf.  NULL when absent or malformed.
 */
static const char *
form_token(char *buf)
{
	char	*field, *next, *val, *w;
	int	 hi, lo;

	for (field = buf; field != NULL && *field != '\0'; field = next) {
		if ((next = strchr(field, '&')) != NULL)
			*next++ = '\0';
		if (strncmp(field, "token=", 6) != 0)
			continue;
		val = w = field + 6;
		for (; *val != '\0'; val++) {
			if (*val == '+') {
				*w++ = ' ';
			} else if (*val == '%') {
				if ((hi = hexval(val[1])) == -1 ||
				    (lo = hexval(val[2])) == -1)
					return (NULL);
				*w++ = (char)(hi << 4 | lo);
				val += 2;
			} else {
				*w++ = *val;
			}
		}
		*w = '\0';
		return (field + 6);
	}
	return (NULL);
}

static void
inactive(struct http_request *req)
{
	static const char	no[] = "{\"active\":false}";

	svc_respond_raw(req, HTTP_STATUS_OK, "application/json", no,
	    sizeof(no) - 1);
}

int
page_gw_introspect(struct http_request *req)
{
	struct policy_index		*idx;
	struct policy_principal_info	 info;
	struct gw_subject		 s;
	struct kore_buf			*buf;
	const char			*ctype, *token, *groups[256];
	const char			*roles[POLICY_LIST_MAX];
	json_t				*body, *out, *garr, *rarr;
	char				*form;
	ssize_t				 n;
	size_t				 i, total, nroles;
	char				 chunk[4096];

	if (!svc_method_allowed(req, HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	body = NULL;
	form = NULL;
	if (http_request_header(req, "content-type", &ctype) &&
	    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
		buf = kore_buf_alloc(1024);
		while ((n = http_body_read(req, chunk, sizeof(chunk))) > 0 &&
		    buf->offset <= INTROSPECT_BODY_MAX)
			kore_buf_append(buf, chunk, (size_t)n);
		if (buf->offset > INTROSPECT_BODY_MAX) {
			kore_buf_free(buf);
			svc_error(req, HTTP_STATUS_REQUEST_ENTITY_TOO_LARGE,
			    "body_too_large", "the form is over %d bytes",
			    INTROSPECT_BODY_MAX);
			return (KORE_RESULT_OK);
		}
		form = kore_buf_stringify(buf, NULL);
		form = strdup(form);
		kore_buf_free(buf);
		token = form != NULL ? form_token(form) : NULL;
	} else {
		if ((body = svc_body_json(req)) == NULL)
			return (KORE_RESULT_OK);
		token = json_string_value(json_object_get(body, "token"));
	}
	if (token == NULL || *token == '\0') {
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "invalid_request",
		    "give the access token as 'token' (a form field, or a JSON "
		    "member)");
		goto done;
	}
	if ((idx = svc_policy()) == NULL || svc_policy_stale()) {
		(void)gw_untrusted();
		inactive(req);
		goto done;
	}
	gw_token_subject(svc_ctx(req)->token.directory_id, idx, token, &s);
	if (!s.found || s.refused != NULL || s.unbound ||
	    policy_principal_lookup(idx, &s.subj, &info) == -1 ||
	    info.state != POLICY_R_ALLOWED_BY_RULE) {
		inactive(req);
		goto done;
	}
	garr = json_array();
	total = 0;
	if (policy_principal_groups(idx, &s.subj, groups,
	    sizeof(groups) / sizeof(groups[0]), &total) == 0) {
		for (i = 0; i < total && i < sizeof(groups) /
		    sizeof(groups[0]); i++)
			(void)json_array_append_new(garr,
			    json_string(groups[i]));
	}
	/* The index holds at most POLICY_LIST_MAX roles per user. */
	rarr = json_array();
	nroles = 0;
	if (policy_principal_roles(idx, &s.subj, roles, POLICY_LIST_MAX,
	    &nroles) == 0) {
		for (i = 0; i < nroles && i < POLICY_LIST_MAX; i++)
			(void)json_array_append_new(rarr,
			    json_string(roles[i]));
	}
	out = json_pack("{s:b, s:s, s:s, s:I, s:{s:s, s:s, s:s?, s:s?, s:s}, "
	    "s:o, s:b, s:o, s:I, s:I}",
	    "active", 1, "token_type", "access_token", "sub", info.id,
	    "exp", (json_int_t)s.exp,
	    "principal", "id", info.id, "type", info.kind ==
	    POLICY_PRINCIPAL_SP ? "service_principal" : "user",
	    "userName", info.user_name, "appId", info.app_id,
	    "directory", info.directory,
	    "groups", garr, "groups_truncated", total > sizeof(groups) /
	    sizeof(groups[0]),
	    "roles", rarr,
	    "policy_version", (json_int_t)policy_version(idx),
	    "subject_epoch", (json_int_t)info.subject_epoch);
	svc_respond_json(req, HTTP_STATUS_OK, out);
	json_decref(out);
done:
	json_decref(body);
	free(form);
	return (KORE_RESULT_OK);
}
