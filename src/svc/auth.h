/*
 * auth.h: who the caller is (http_auth.c).  The bearer-token
 * validators themselves are named in conf/routes.conf, not here.
 */
#ifndef RC_AUTH_H
#define RC_AUTH_H

#include <kore/kore.h>
#include <kore/http.h>

/*
 * 1 if the request carries each header that names its caller or target
 * (Authorization, the ext_authz headers as configured) at most once;
 * otherwise answers 400 naming the header, counts it, and returns 0.
 * Called before any such header is read.
 */
int	svc_identity_unambiguous(struct http_request *);

/*
 * http_auth_entra.c.  1 when the bearer secret (len bytes, not
 * NUL-terminated) is shaped like a JWT, which no rollcall token is.
 */
int	svc_auth_looks_like_jwt(const char *secret, size_t len);

/*
 * Authenticates an Entra access token as a directory-bound admin
 * session (README, "Sign in with Microsoft"): KORE_RESULT_OK with
 * svc_ctx(req)->token filled (admin scope, the user's directory, name
 * "entra:<userName>"), or KORE_RESULT_ERROR after answering 401, 403 or
 * 503 with a reason code.  Only for admin routes.
 */
int	svc_auth_entra_admin(struct http_request *, const char *secret,
	    size_t len);

#endif
