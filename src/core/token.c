/*
 * token: see token.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>

#include "token.h"
#include "util.h"

static const struct {
	unsigned int	 bit;
	const char	*name;
} scope_names[] = {
	{ TOKEN_SCOPE_SCIM,	"scim" },
	{ TOKEN_SCOPE_GATEWAY,	"gateway" },
	{ TOKEN_SCOPE_ADMIN,	"admin" },
};

#define NSCOPES	(sizeof(scope_names) / sizeof(scope_names[0]))

int
token_generate(char *out, size_t size)
{
	unsigned char	raw[32];

	if (size < TOKEN_SECRET_LEN + 1 ||
	    rc_random_bytes(raw, sizeof(raw)) == -1)
		return (-1);
	memcpy(out, TOKEN_PREFIX, 4);
	rc_b64url_encode(raw, sizeof(raw), out + 4);

	return (0);
}

/*
 * OpenSSL 3's one-shot SHA256() looks the algorithm up (locks, a
 * property query) on every call: that was 6% of a worker's time under
 * /v1/authorize load, where every request hashes its bearer token.
 * The algorithm is fetched once per process and kept for its lifetime.
 */
static EVP_MD		*sha256_md;
static pthread_once_t	 sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
token_hash(const char *secret, size_t len, unsigned char out[TOKEN_HASH_LEN])
{
	(void)pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL || EVP_Digest(secret, len, out, NULL,
	    sha256_md, NULL) != 1)
		(void)SHA256((const unsigned char *)secret, len, out);
}

void
token_hint(const char *secret, char *out, size_t size)
{
	size_t	len;

	len = strlen(secret);
	if (len > TOKEN_HINT_LEN)
		len = TOKEN_HINT_LEN;
	if (len >= size)
		len = size - 1;
	memcpy(out, secret, len);
	out[len] = '\0';
}

const char *
token_scope_name(unsigned int bit)
{
	size_t	i;

	for (i = 0; i < NSCOPES; i++) {
		if (scope_names[i].bit == bit)
			return (scope_names[i].name);
	}

	return (NULL);
}

int
token_scopes_parse(const char *csv, unsigned int *mask)
{
	const char	*p, *end;
	size_t		 i, len;
	unsigned int	 m;

	m = 0;
	p = csv;
	for (;;) {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < NSCOPES; i++) {
			if (strlen(scope_names[i].name) == len &&
			    strncmp(scope_names[i].name, p, len) == 0)
				break;
		}
		if (i == NSCOPES || (m & scope_names[i].bit))
			return (-1);
		m |= scope_names[i].bit;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*mask = m;

	return (0);
}

void
token_scopes_format(unsigned int mask, char *out, size_t size)
{
	size_t	i;

	if (size == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < NSCOPES; i++) {
		if (!(mask & scope_names[i].bit))
			continue;
		if (out[0] != '\0')
			(void)strncat(out, ",", size - strlen(out) - 1);
		(void)strncat(out, scope_names[i].name,
		    size - strlen(out) - 1);
	}
}

int
token_bearer_parse(const char *value, const char **secret, size_t *len)
{
	const char	*p;
	size_t		 n;

	if (value == NULL || strncasecmp(value, "bearer", 6) != 0 ||
	    (value[6] != ' ' && value[6] != '\t'))
		return (-1);
	p = value + 7;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	/* Bound the work an attacker can make us do per request. */
	if (n == 0 || n > 4096)
		return (-1);
	*secret = p;
	*len = n;

	return (0);
}
