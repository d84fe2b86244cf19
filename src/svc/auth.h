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

#endif
