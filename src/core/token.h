/*
 * token: bearer secrets for the scim, gateway and admin scopes.
 * A secret is "rcl_" followed by 43 base64url characters (256 random
 * bits).  Only its SHA-256 is ever stored; with that much entropy a
 * fast unsalted hash is the right tool, and lookups stay O(1).
 */
#ifndef RC_TOKEN_H
#define RC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_SCOPE_SCIM	0x01
#define TOKEN_SCOPE_GATEWAY	0x02
#define TOKEN_SCOPE_ADMIN	0x04
#define TOKEN_SCOPE_ALL		0x07

#define TOKEN_PREFIX		"rcl_"
#define TOKEN_SECRET_LEN	47	/* prefix + 43 */
#define TOKEN_HASH_LEN		32
#define TOKEN_HINT_LEN		12	/* "rcl_" + 8 characters */

/* Writes a new secret and its NUL into out (TOKEN_SECRET_LEN + 1); -1 on failure. */
int		 token_generate(char *out, size_t size);

/* SHA-256 of the secret's bytes into out. */
void		 token_hash(const char *secret, size_t len,
		    unsigned char out[TOKEN_HASH_LEN]);

/*
 * The non-secret prefix shown in listings so an operator can tell
 * tokens apart ("rcl_AbCdEfGh"); writes TOKEN_HINT_LEN + 1 bytes.
 */
void		 token_hint(const char *secret, char *out, size_t size);

/*
 * Parses "scim,gateway" (any order, no repeats, no blanks) into a
 * TOKEN_SCOPE_* mask; 0 on success, -1 for anything else.
 */
int		 token_scopes_parse(const char *csv, unsigned int *mask);

/* Writes the mask as "scim,gateway,admin" (canonical order). */
void		 token_scopes_format(unsigned int mask, char *out, size_t size);

/* The scope's name for one TOKEN_SCOPE_* bit, or NULL. */
const char	*token_scope_name(unsigned int bit);

/*
 * Finds the secret in an Authorization header value ("Bearer <secret>",
 * scheme case-insensitive).  Returns 0 and points *secret and *len into
 * value (borrowed), or -1 when the header is not a well-formed bearer.
 */
int		 token_bearer_parse(const char *value, const char **secret,
		    size_t *len);

#endif
