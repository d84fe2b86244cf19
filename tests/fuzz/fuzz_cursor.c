/*
 * Fuzzes pagination cursors and list query strings.
 *
 * Input: byte 0 picks which character of the token to edit; the rest is
 * split at newlines into a scope, a position, a token to decode as the
 * client sent it, and a query string.
 *
 * Properties:
 *   - a position of 1 to CURSOR_POS_MAX bytes encodes, and its cursor
 *     decodes to the same position under the same scope and key;
 *   - that cursor never validates under another scope, another key, or
 *     after any one character is changed, and its MAC never vouches for
 *     another (scope, position) pair: moving the position's first byte
 *     to the end of the scope gives the same bytes, yet must not verify;
 *   - a client's token that validates is exactly the cursor the server
 *     would have minted for its position (no second spelling);
 *   - a parsed query string names only allowed parameters, each once,
 *     each with a value, and cursor_params_get() finds every one.
 */
#include "cursor.h"
#include "fuzz.h"
#include "util.h"

static const char *const	allowed[] = { "limit", "cursor", "userName",
    "email", "active", "from", "to", "order", NULL };

/* Cuts the next newline-terminated part off *p (NULL when none is left). */
static char *
part(char **p)
{
	char	*s, *nl;

	if ((s = *p) == NULL)
		return (NULL);
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else
		*p = NULL;
	return (s);
}

static void
check_params(const char *qs)
{
	struct cursor_params	 params;
	struct cursor_err	 err;
	size_t			 i, j;
	int			 known;

	memset(&params, 0, sizeof(params));
	if (cursor_params_parse(qs, allowed, &params, &err) == 0) {
		for (i = 0; i < params.n; i++) {
			known = 0;
			for (j = 0; allowed[j] != NULL; j++)
				known |= strcmp(allowed[j],
				    params.p[i].name) == 0;
			FUZZ_ASSERT(known, "unknown parameter %s accepted",
			    params.p[i].name);
			FUZZ_ASSERT(params.p[i].value[0] != '\0',
			    "empty %s accepted", params.p[i].name);
			for (j = 0; j < i; j++)
				FUZZ_ASSERT(strcmp(params.p[i].name,
				    params.p[j].name) != 0, "%s twice",
				    params.p[i].name);
			FUZZ_ASSERT(cursor_params_get(&params,
			    params.p[i].name) == params.p[i].value,
			    "get(%s) is not the parsed value",
			    params.p[i].name);
		}
	} else
		FUZZ_ASSERT(err.msg[0] != '\0', "refused without a message");
	cursor_params_free(&params);
}

/*
 * The MAC of tok, with position pos + 1 in scope scope + pos[0]: the
 * scope's terminator in the MAC input is what keeps these apart.
 */
static void
check_shifted(const unsigned char *key, const char *scope, const char *pos,
    const char *tok)
{
	struct cursor_err	 err;
	char			 scope2[600], forged[CURSOR_TOKEN_MAX + 8];
	char			 out[CURSOR_POS_MAX + 1];
	const char		*dot;
	size_t			 len;

	if (pos[1] == '\0' || strlen(scope) + 2 > sizeof(scope2))
		return;
	(void)snprintf(scope2, sizeof(scope2), "%s%c", scope, pos[0]);
	len = strlen(pos + 1);
	rc_b64url_encode((const unsigned char *)pos + 1, len, forged);
	dot = strchr(tok, '.');
	FUZZ_ASSERT(dot != NULL, "no dot in <%s>", tok);
	if (strlen(forged) + strlen(dot) >= sizeof(forged))
		return;
	memcpy(forged + strlen(forged), dot, strlen(dot) + 1);
	FUZZ_ASSERT(cursor_decode(key, scope2, forged, out, sizeof(out),
	    &err) == -1, "the MAC of (<%s>, <%s>) vouches for (<%s>, <%s>)",
	    scope, pos, scope2, pos + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_.";
	unsigned char		 key[CURSOR_KEY_LEN], key2[CURSOR_KEY_LEN];
	struct cursor_err	 err;
	char			 tok[CURSOR_TOKEN_MAX], tok2[CURSOR_TOKEN_MAX];
	char			 out[CURSOR_POS_MAX + 1], other[600];
	char			*text, *rest, *scope, *pos, *client, *qs;
	size_t			 len, at;

	if (size < 1)
		return (0);
	memset(key, 0x5a, sizeof(key));
	memcpy(key2, key, sizeof(key2));
	key2[CURSOR_KEY_LEN - 1] ^= 1;
	text = fuzz_strndup(data + 1, size - 1);
	rest = text;
	scope = part(&rest);
	pos = part(&rest);
	client = part(&rest);
	qs = part(&rest);
	if (pos == NULL)
		pos = "";

	if (cursor_encode(key, scope, pos, tok, sizeof(tok)) == -1) {
		FUZZ_ASSERT(*pos == '\0' || strlen(pos) > CURSOR_POS_MAX,
		    "a %zu-byte position does not encode", strlen(pos));
	} else {
		FUZZ_ASSERT(*pos != '\0' && strlen(pos) <= CURSOR_POS_MAX,
		    "a %zu-byte "
		    "position encoded", strlen(pos));
		FUZZ_ASSERT(cursor_decode(key, scope, tok, out, sizeof(out),
		    &err) == 0, "own cursor refused: %s", err.msg);
		FUZZ_ASSERT(strcmp(out, pos) == 0, "<%s> came back as <%s>",
		    pos, out);
		/* The scope with one more byte (a longer one is cut here). */
		if (strlen(scope) + 2 <= sizeof(other)) {
			(void)snprintf(other, sizeof(other), "%s ", scope);
			FUZZ_ASSERT(cursor_decode(key, other, tok, out,
			    sizeof(out), &err) == -1, "cursor of <%s> valid "
			    "for <%s>", scope, other);
		}
		if (client != NULL && strcmp(client, scope) != 0)
			FUZZ_ASSERT(cursor_decode(key, client, tok, out,
			    sizeof(out), &err) == -1, "cursor of <%s> valid "
			    "for <%s>", scope, client);
		FUZZ_ASSERT(cursor_decode(key2, scope, tok, out, sizeof(out),
		    &err) == -1, "cursor valid under another key");
		check_shifted(key, scope, pos, tok);
		len = strlen(tok);
		at = data[0] % len;
		memcpy(tok2, tok, len + 1);
		tok2[at] = alpha[(strchr(alpha, tok[at]) - alpha + 1 +
		    data[0] / len % (sizeof(alpha) - 2)) % (sizeof(alpha) - 1)];
		if (strcmp(tok2, tok) != 0)
			FUZZ_ASSERT(cursor_decode(key, scope, tok2, out,
			    sizeof(out), &err) == -1, "edited cursor <%s> of "
			    "<%s> valid", tok2, tok);
	}
	if (client != NULL && cursor_decode(key, scope, client, out,
	    sizeof(out), &err) == 0) {
		FUZZ_ASSERT(cursor_encode(key, scope, out, tok2,
		    sizeof(tok2)) == 0 && strcmp(tok2, client) == 0,
		    "<%s> validates but the server mints <%s>", client, tok2);
	}
	check_params(qs);
	free(text);

	return (0);
}
