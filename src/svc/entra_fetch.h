/*
 * entra_fetch.h: fetches a tenant's signing keys over HTTPS
 * (entra_fetch.c): its OpenID configuration, then the key set its
 * jwks_uri names.  Blocking: for task threads only.
 *
 * OpenSSL directly (already linked), not libcurl: two GETs of small
 * JSON documents need no new dependency.  The CA certificates are
 * loaded into the client context by the parent before the fork, since
 * a chrooted worker cannot read them.  Names are resolved with
 * getaddrinfo on the task thread: inside the chroot through the
 * resolver files the parent puts there (chroot_resolver.h).
 */
#ifndef RC_ENTRA_FETCH_H
#define RC_ENTRA_FETCH_H

#include <stddef.h>

/*
 * Loads ca_file ("" : the system's bundle) into the client context.
 * Called once, in the parent; failures are logged, not fatal.
 */
void	entra_fetch_init(const char *ca_file);

/*
 * GETs openid_url (https://), reads its "jwks_uri" (https://), GETs
 * that and checks it parses as a usable key set.  0 with *jwks (the
 * document, NUL-terminated, caller frees), or -1 with a sentence in why.
 */
int	entra_fetch_jwks(const char *openid_url, char **jwks, char *why,
	    size_t whysize);

#endif
