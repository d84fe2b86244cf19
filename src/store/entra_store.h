/*
 * entra_store: a directory's Entra tenant binding and the tenant's
 * signing keys (sql/005_entra.sql), shared by the admin API,
 * rollcallctl and the workers that validate tokens.
 *
 * Every write NOTIFYs rollcall with {"kind": "entra"} in its
 * transaction, so every worker of every instance reloads bindings and
 * keys (store_entra_load) once it commits.
 */
#ifndef RC_ENTRA_STORE_H
#define RC_ENTRA_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store.h"

/*
 * A binding as given (borrowed strings).  audiences is a JSON array of
 * 1..ENTRA_AUDIENCES_MAX non-empty strings.  Exactly one key source:
 * openid_url (an https:// URL of the tenant's OpenID configuration), or
 * jwks (a JWKS document, checked with entra_jwks_parse, stored as the
 * tenant's keys: the static source for air-gapped installs).
 */
struct store_entra_binding {
	const char	*tenant_id;
	const json_t	*audiences;
	int		 accept_v1;
	int		 accept_v2;
	int		 skew_s;
	const char	*openid_url;
	const char	*jwks;
};

/*
 * Checks b (400 invalid_binding with a sentence naming the field), then
 * creates or replaces directory_id's binding.  *out: the binding as
 * store_entra_get shows it (caller decrefs).
 */
int	store_entra_bind(PGconn *, const struct store_actor *,
	    int64_t directory_id, const struct store_entra_binding *b,
	    json_t **out, struct store_err *);

/* directory_id's binding with its keys' summary; 404 when unbound. */
int	store_entra_get(PGconn *, int64_t directory_id, json_t **out,
	    struct store_err *);

/* Removes directory_id's binding; 404 when unbound. */
int	store_entra_unbind(PGconn *, const struct store_actor *,
	    int64_t directory_id, struct store_err *);

/*
 * Everything a worker validates with: an array of {directory_id,
 * tenant_id, audiences, accept_v1, accept_v2, skew_s, jwks_source,
 * openid_url, jwks (text or null)} (caller decrefs).
 */
int	store_entra_load(PGconn *, json_t **out, struct store_err *);

/*
 * Stores jwks (already parsed and found usable by the caller) as
 * tenant_id's key set from source, and NOTIFYs, unless the stored set
 * is the same text (*changed says which).  Not audited: a key fetch is
 * no administrator's act.
 */
int	store_entra_keys_put(PGconn *, const char *tenant_id,
	    const char *jwks, const char *source, int *changed,
	    struct store_err *);

#endif
