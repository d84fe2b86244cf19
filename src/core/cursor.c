/*
 * cursor: see cursor.h.  The MAC is truncated to 128 bits: a forger
 * gets one guess per request, and the cursor stays short enough for a
 * query string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cursor.h"
#include "util.h"

#define CURSOR_DOMAIN	"rc-cursor-1"

static int	cursor_mac(const unsigned char *, const char *, const char *,
		    size_t, unsigned char *);
static void	cursor_err_set(struct cursor_err *, const char *);
static void	cursor_err_param(struct cursor_err *, const char *, size_t,
		    const char *);
static int	pct_decode(char *, size_t *);
static int	utf8_valid(const unsigned char *, size_t);

static unsigned char	process_key[CURSOR_KEY_LEN];
static int		process_key_state;	/* 0 none, 1 writing, 2 set */

static void
cursor_err_set(struct cursor_err *err, const char *msg)
{
	if (err != NULL) {
		err->param[0] = '\0';
		rc_strlcpy(err->msg, msg, sizeof(err->msg));
	}
}

static void
cursor_err_param(struct cursor_err *err, const char *param, size_t len,
    const char *msg)
{
	size_t	n;

	n = len < sizeof(err->param) - 1 ? len : sizeof(err->param) - 1;
	memcpy(err->param, param, n);
	err->param[n] = '\0';
	rc_strlcpy(err->msg, msg, sizeof(err->msg));
}

static int
cursor_mac(const unsigned char *key, const char *scope, const char *pos,
    size_t poslen, unsigned char *mac)
{
	EVP_MAC		*m;
	EVP_MAC_CTX	*ctx;
	OSSL_PARAM	 params[2];
	unsigned char	 full[EVP_MAX_MD_SIZE];
	size_t		 len;
	int		 ok;

	if ((m = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (-1);
	if ((ctx = EVP_MAC_CTX_new(m)) == NULL) {
		EVP_MAC_free(m);
		return (-1);
	}
	params[0] = OSSL_PARAM_construct_utf8_string("digest",
	    (char *)(uintptr_t)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, CURSOR_KEY_LEN, params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)CURSOR_DOMAIN,
	    sizeof(CURSOR_DOMAIN)) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)scope,
	    strlen(scope) + 1) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)pos, poslen) == 1 &&
	    EVP_MAC_final(ctx, full, &len, sizeof(full)) == 1 &&
	    len >= CURSOR_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	if (!ok)
		return (-1);
	memcpy(mac, full, CURSOR_MAC_LEN);
	explicit_bzero(full, sizeof(full));

	return (0);
}

int
cursor_encode(const unsigned char key[CURSOR_KEY_LEN], const char *scope,
    const char *pos, char *out, size_t size)
{
	unsigned char	mac[CURSOR_MAC_LEN];
	size_t		poslen, need, off;

	poslen = strlen(pos);
	if (poslen == 0 || poslen > CURSOR_POS_MAX)
		return (-1);
	need = rc_b64url_len(poslen) + 1 + rc_b64url_len(CURSOR_MAC_LEN) + 1;
	if (need > size)
		return (-1);
	if (cursor_mac(key, scope, pos, poslen, mac) == -1)
		return (-1);
	rc_b64url_encode((const unsigned char *)pos, poslen, out);
	off = strlen(out);
	out[off++] = '.';
	rc_b64url_encode(mac, sizeof(mac), out + off);

	return (0);
}

int
cursor_decode(const unsigned char key[CURSOR_KEY_LEN], const char *scope,
    const char *token, char *pos, size_t size, struct cursor_err *err)
{
	unsigned char	 raw[CURSOR_POS_MAX], mac[CURSOR_MAC_LEN];
	unsigned char	 want[CURSOR_MAC_LEN];
	const char	*dot;
	size_t		 len, rawlen, maclen;

	len = strnlen(token, CURSOR_TOKEN_MAX + 1);
	if (len == 0 || len > CURSOR_TOKEN_MAX) {
		cursor_err_set(err, "cursor is empty or too long");
		return (-1);
	}
	if ((dot = strchr(token, '.')) == NULL ||
	    rc_b64url_decode(token, (size_t)(dot - token), raw, sizeof(raw),
	    &rawlen) == -1 || rawlen == 0 ||
	    rc_b64url_decode(dot + 1, strlen(dot + 1), mac, sizeof(mac),
	    &maclen) == -1 || maclen != CURSOR_MAC_LEN ||
	    memchr(raw, '\0', rawlen) != NULL) {
		cursor_err_set(err, "cursor is malformed: pass back the "
		    "next_cursor value unchanged");
		return (-1);
	}
	if (cursor_mac(key, scope, (const char *)raw, rawlen, want) == -1) {
		cursor_err_set(err, "cursor cannot be checked now");
		return (-1);
	}
	if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0) {
		cursor_err_set(err, "cursor was altered or belongs to another "
		    "query (filters, order and sort must stay the same)");
		return (-1);
	}
	if (rawlen >= size) {
		cursor_err_set(err, "cursor position is too long");
		return (-1);
	}
	memcpy(pos, raw, rawlen);
	pos[rawlen] = '\0';

	return (0);
}

/* Decodes s (len bytes) in place; -1 on a bad escape or a NUL byte. */
static int
pct_decode(char *s, size_t *len)
{
	size_t	i, o;
	int	hi, lo;

	for (i = 0, o = 0; i < *len; i++) {
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= *len)
				return (-1);
			if ((hi = rc_hexval((unsigned char)s[i + 1])) == -1 ||
			    (lo = rc_hexval((unsigned char)s[i + 2])) == -1 ||
			    (hi == 0 && lo == 0))
				return (-1);
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	*len = o;

	return (0);
}

static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		i, k, need;
	uint32_t	cp;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x80)
			continue;
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			need = 1;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			need = 2;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			need = 3;
			cp = s[i] & 0x07;
		} else {
			return (0);
		}
		if (i + need >= n)
			return (0);
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (need == 3 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return (0);
		i += need;
	}

	return (1);
}

int
cursor_params_parse(const char *qs, const char *const *allowed,
    struct cursor_params *params, struct cursor_err *err)
{
	char	*p, *end, *amp, *eq, *name, *value;
	size_t	 len, nlen, vlen, i;

	memset(params, 0, sizeof(*params));
	cursor_err_set(err, "");
	if (qs == NULL || *qs == '\0')
		return (0);
	len = strnlen(qs, CURSOR_QS_MAX + 1);
	if (len > CURSOR_QS_MAX) {
		cursor_err_set(err, "query string is too long");
		return (-1);
	}
	if ((params->buf = malloc(len + 1)) == NULL) {
		cursor_err_set(err, "out of memory");
		return (-1);
	}
	memcpy(params->buf, qs, len + 1);

	for (p = params->buf, end = p + len; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		*amp = '\0';
		if (p == amp)
			continue;		/* "a=1&&b=2" */
		name = p;
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			value = eq + 1;
		} else {
			value = amp;
		}
		nlen = strlen(name);
		vlen = strlen(value);
		if (pct_decode(name, &nlen) == -1 ||
		    !utf8_valid((unsigned char *)name, nlen)) {
			cursor_err_param(err, "", 0, "a query parameter name "
			    "is not valid percent-encoded UTF-8");
			return (-1);
		}
		name[nlen] = '\0';
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], name) == 0)
				break;
		if (allowed[i] == NULL) {
			cursor_err_param(err, name, nlen,
			    "unknown query parameter");
			return (-1);
		}
		if (pct_decode(value, &vlen) == -1 ||
		    !utf8_valid((unsigned char *)value, vlen)) {
			cursor_err_param(err, name, nlen, "value is not valid "
			    "percent-encoded UTF-8");
			return (-1);
		}
		value[vlen] = '\0';
		if (vlen == 0) {
			cursor_err_param(err, name, nlen, "value is empty");
			return (-1);
		}
		if (cursor_params_get(params, name) != NULL) {
			cursor_err_param(err, name, nlen,
			    "parameter is repeated");
			return (-1);
		}
		if (params->n == CURSOR_PARAMS_MAX) {
			cursor_err_param(err, name, nlen,
			    "too many parameters");
			return (-1);
		}
		params->p[params->n].name = name;
		params->p[params->n].value = value;
		params->n++;
	}

	return (0);
}

const char *
cursor_params_get(const struct cursor_params *params, const char *name)
{
	size_t	i;

	for (i = 0; i < params->n; i++)
		if (strcmp(params->p[i].name, name) == 0)
			return (params->p[i].value);

	return (NULL);
}

void
cursor_params_free(struct cursor_params *params)
{
	free(params->buf);
	memset(params, 0, sizeof(*params));
}

void
cursor_key_install(const unsigned char *key)
{
	int	expected;

	expected = 0;
	if (!__atomic_compare_exchange_n(&process_key_state, &expected, 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	memcpy(process_key, key, CURSOR_KEY_LEN);
	__atomic_store_n(&process_key_state, 2, __ATOMIC_RELEASE);
}

const unsigned char *
cursor_key_get(void)
{
	if (__atomic_load_n(&process_key_state, __ATOMIC_ACQUIRE) != 2)
		return (NULL);

	return (process_key);
}
