/*
 * cursor: opaque, tamper-proof pagination cursors for list endpoints.
 *
 * A cursor is base64url(position) "." base64url(MAC), where MAC is the
 * first 16 bytes of HMAC-SHA256(key, "rc-cursor-1" NUL scope NUL
 * position).  The position is the caller's own text (a keyset position,
 * e.g. a JSON array); the scope names the query it belongs to (endpoint,
 * order, filters, caller's directory) and is not carried in the cursor,
 * so a cursor edited by a client, minted with another key, or replayed
 * against another query fails to verify.
 *
 * The module also parses a list request's query string (strictly: a
 * bad parameter is named in the error) and holds the process's cursor
 * key, installed once (by the parent before fork, or lazily by the
 * first database job) and read by every thread.  Pure C + libcrypto.
 */
#ifndef RC_CURSOR_H
#define RC_CURSOR_H

#include <stddef.h>

#define CURSOR_KEY_LEN		32
#define CURSOR_POS_MAX		512	/* position bytes, without the NUL */
#define CURSOR_MAC_LEN		16
#define CURSOR_TOKEN_MAX	(((CURSOR_POS_MAX + 2) / 3) * 4 + 1 + \
				    ((CURSOR_MAC_LEN + 2) / 3) * 4 + 1)

#define CURSOR_PARAMS_MAX	24
#define CURSOR_QS_MAX		4096	/* raw query string bytes */

struct cursor_err {
	char	param[32];		/* the offending parameter, or "" */
	char	msg[160];
};

struct cursor_param {
	const char	*name;		/* percent-decoded, NUL-terminated */
	const char	*value;
};

struct cursor_params {
	size_t			 n;
	struct cursor_param	 p[CURSOR_PARAMS_MAX];
	char			*buf;		/* owns the strings above */
};

/*
 * Writes the cursor for position pos (NUL-terminated, 1 to
 * CURSOR_POS_MAX bytes) in query scope into out (size bytes, at least
 * CURSOR_TOKEN_MAX is always enough).  0, or -1 when pos is empty or
 * too long, or out too small.
 */
int	cursor_encode(const unsigned char key[CURSOR_KEY_LEN],
	    const char *scope, const char *pos, char *out, size_t size);

/*
 * Verifies cursor token for scope and copies its position, NUL-
 * terminated, into pos (size bytes).  -1 with a message for the client
 * when the token is malformed, over-long, forged, or from another query.
 */
int	cursor_decode(const unsigned char key[CURSOR_KEY_LEN],
	    const char *scope, const char *token, char *pos, size_t size,
	    struct cursor_err *err);

/*
 * Parses the raw query string qs (NULL or "" is no parameters) into
 * params: '+' is a space, %XX is decoded, NUL bytes and invalid UTF-8
 * are refused, as are repeated names, unknown names (allowed is a
 * NULL-terminated list), and empty values.  0, or -1 with err naming
 * the parameter.  Release with cursor_params_free() either way.
 */
int	cursor_params_parse(const char *qs, const char *const *allowed,
	    struct cursor_params *params, struct cursor_err *err);

/* The value of parameter name, or NULL; borrowed from params. */
const char	*cursor_params_get(const struct cursor_params *,
		    const char *name);

/* Frees what cursor_params_parse() allocated (the struct is the caller's). */
void	cursor_params_free(struct cursor_params *);

/*
 * The process's cursor key.  cursor_key_install() copies key in; the
 * first call wins and later ones are ignored (every instance reads the
 * same key from the database).  cursor_key_get() returns NULL until a
 * key is installed; safe from any thread.
 */
void			 cursor_key_install(const unsigned char *key);
const unsigned char	*cursor_key_get(void);

#endif
