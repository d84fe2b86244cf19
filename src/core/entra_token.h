/*
 * entra_token: validates Microsoft Entra ID access tokens (JWTs) against
 * a directory's binding (tenant, audiences, token versions) and a set of
 * the tenant's signing keys (a JWKS document).  Pure C on OpenSSL and
 * jansson: no I/O, no clock of its own, so every rule is unit-tested.
 *
 * What it accepts (README, "Entra access tokens"):
 *   - RS256 only: "none", HS256 (the public key used as an HMAC secret)
 *     and every other alg are refused before any key is looked at;
 *   - a signature by the key named by the header's "kid";
 *   - "iss" equal to the bound tenant's v1 issuer
 *     (https://sts.windows.net/{tid}/) or v2 issuer
 *     (https://login.microsoftonline.com/{tid}/v2.0), each only when
 *     that version is accepted, and "tid" equal to the tenant;
 *   - "aud" (a string or an array) naming one accepted audience;
 *   - "exp" required, "nbf" optional, both with the binding's skew.
 * Checks run in that order, and the first failure is the answer, so a
 * token that is not signed by the tenant says nothing about its claims.
 *
 * Who the token names is left to the caller: "oid" (user or service
 * principal object id, the SCIM externalId), "appid"/"azp", and whether
 * it is app-only ("idtyp" = "app", or no "scp").  A valid token is only
 * the token's validity, never a decision: the caller still asks the
 * policy index, so a disabled user's valid token is denied.
 */
#ifndef RC_ENTRA_TOKEN_H
#define RC_ENTRA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ENTRA_TOKEN_MAX		16384	/* bytes of a compact JWT */
#define ENTRA_JWKS_KEYS_MAX	64
#define ENTRA_AUDIENCES_MAX	8
#define ENTRA_SKEW_MAX_S	300

enum entra_token_status {
	ENTRA_TOKEN_OK = 0,
	ENTRA_TOKEN_MALFORMED,
	ENTRA_TOKEN_ALG_REFUSED,
	ENTRA_TOKEN_UNKNOWN_KEY,
	ENTRA_TOKEN_BAD_SIGNATURE,
	ENTRA_TOKEN_WRONG_ISSUER,
	ENTRA_TOKEN_WRONG_TENANT,
	ENTRA_TOKEN_WRONG_AUDIENCE,
	ENTRA_TOKEN_EXPIRED,
	ENTRA_TOKEN_NOT_YET_VALID,
	ENTRA_TOKEN_STATUS_COUNT
};

/* What a directory accepts.  Strings are borrowed for the call. */
struct entra_binding {
	const char		*tenant_id;	/* lowercase GUID */
	const char *const	*audiences;
	size_t			 naudiences;
	int			 accept_v1;
	int			 accept_v2;
	int			 skew_s;	/* 0 .. ENTRA_SKEW_MAX_S */
};

/*
 * A valid token's claims.  payload is owned (entra_claims_clear frees
 * it); the string pointers are borrowed from it and NULL when absent.
 */
struct entra_claims {
	json_t		*payload;
	int		 version;	/* 1 or 2, from the issuer */
	const char	*oid;
	const char	*tid;
	const char	*app_id;	/* "appid" (v1) or "azp" (v2) */
	const char	*scp;
	int		 app_only;
	int64_t		 exp;		/* seconds since the epoch */
};

/* A parsed key set; opaque, owned by whoever parsed it. */
struct entra_jwks;

/*
 * Stable snake_case reason code ("token_expired", ...); "token_malformed"
 * for anything out of range.
 */
const char	*entra_token_status_str(enum entra_token_status);

/*
 * Parses a JWKS document ({"keys": [...]}): RSA signing keys with a
 * "kid" and at least 2048 bits.  Keys of other types or uses are
 * skipped; a malformed RSA key fails the whole document, since a key set
 * that is half understood is not one to trust.  Returns the set (free
 * with entra_jwks_free), or NULL with a sentence in err.  A document
 * with no usable key is an error too.
 */
struct entra_jwks	*entra_jwks_parse(const char *json, size_t len,
			    char *err, size_t errsize);
void			 entra_jwks_free(struct entra_jwks *);
size_t			 entra_jwks_count(const struct entra_jwks *);
int			 entra_jwks_has(const struct entra_jwks *,
			    const char *kid);

/*
 * Reads the "kid" of a token's header without verifying anything, so a
 * caller can tell an unknown key (refresh the set, rate-limited) from a
 * bad token.  Copies it into kid (size bytes).  0, or -1 when there is
 * no readable kid.
 */
int		entra_token_kid(const char *token, char *kid, size_t size);

/*
 * Reads the "tid" claim of a token's payload without verifying
 * anything, so a caller can refuse another tenant's token
 * (token_wrong_tenant) before it looks for, or fetches, keys: a foreign
 * kid then never costs a key refresh.  The answer is only ever used to
 * refuse.  Copies it into tid (size bytes).  0, or -1 when there is no
 * readable tid.
 */
int		entra_token_peek_tid(const char *token, char *tid, size_t size);

/*
 * 1 when the token's payload has a "roles" array naming role exactly
 * (case-sensitive, as Entra's app role values are), else 0.  Verifies
 * nothing: only for a token that entra_token_verify (or entra_check)
 * has just accepted, so the payload read is the one that was signed.
 */
int		entra_token_has_role(const char *token, const char *role);

/*
 * Validates token against binding and keys at now_s (seconds since the
 * epoch).  ENTRA_TOKEN_OK with claims filled (clear them), or another
 * status with claims empty.  keys may be NULL (every kid is unknown).
 */
enum entra_token_status	entra_token_verify(const char *token,
			    const struct entra_binding *binding,
			    const struct entra_jwks *keys, int64_t now_s,
			    struct entra_claims *claims);

/* Frees what a successful verify left in claims; safe to call twice. */
void		entra_claims_clear(struct entra_claims *);

#endif
