/*
 * idkey: see idkey.h.
 *
 * The Unicode path is utf8proc_map() taken apart so that a short key
 * needs no allocation: utf8proc_decompose() with CASEFOLD applies full
 * case folding while it decomposes (NFD), utf8proc_reencode() with
 * COMPOSE then recomposes (NFC) and writes UTF-8 over the same buffer.
 * The result is NFC(casefold(NFD(s))): canonical caseless matching, in
 * composed form.  STABLE keeps the composition to what Unicode promises
 * not to change between versions.
 */

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "idkey.h"

#define IDKEY_OPTS	(UTF8PROC_STABLE | UTF8PROC_COMPOSE | \
			 UTF8PROC_CASEFOLD)
#define IDKEY_STACK	256	/* code points handled without malloc */

static ssize_t
idkey_fail(char *buf, size_t sz, ssize_t rc)
{
	if (sz > 0)
		buf[0] = '\0';
	return (rc);
}

ssize_t
idkey_buf(const char *s, size_t len, char *buf, size_t sz)
{
	utf8proc_int32_t	 stack[IDKEY_STACK], *cp;
	utf8proc_ssize_t	 n, m, out;
	size_t			 i;
	int			 ascii;

	if (len > (size_t)(SSIZE_MAX / 16))
		return (idkey_fail(buf, sz, IDKEY_EINVAL));
	ascii = 1;
	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return (idkey_fail(buf, sz, IDKEY_EINVAL));
		if ((unsigned char)s[i] >= 0x80)
			ascii = 0;
	}

	/* ASCII is its own NFC; its case folding is A-Z to a-z. */
	if (ascii) {
		if (len + 1 > sz)
			return (idkey_fail(buf, sz, IDKEY_ESPACE));
		for (i = 0; i < len; i++) {
			buf[i] = s[i];
			if (s[i] >= 'A' && s[i] <= 'Z')
				buf[i] = (char)(s[i] - 'A' + 'a');
		}
		buf[len] = '\0';
		return ((ssize_t)len);
	}

	/* reencode needs one spare element beyond the code points. */
	n = utf8proc_decompose((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)len, stack, IDKEY_STACK - 1, IDKEY_OPTS);
	if (n < 0)
		return (idkey_fail(buf, sz, n == UTF8PROC_ERROR_NOMEM ?
		    IDKEY_ENOMEM : IDKEY_EINVAL));
	cp = stack;
	if (n > IDKEY_STACK - 1) {
		if ((cp = calloc((size_t)n + 1, sizeof(*cp))) == NULL)
			return (idkey_fail(buf, sz, IDKEY_ENOMEM));
		m = utf8proc_decompose((const utf8proc_uint8_t *)s,
		    (utf8proc_ssize_t)len, cp, n, IDKEY_OPTS);
		if (m != n) {
			free(cp);
			return (idkey_fail(buf, sz, IDKEY_EINVAL));
		}
	}
	out = utf8proc_reencode(cp, n, IDKEY_OPTS);
	if (out < 0) {
		if (cp != stack)
			free(cp);
		return (idkey_fail(buf, sz, IDKEY_EINVAL));
	}
	if ((size_t)out + 1 > sz) {
		if (cp != stack)
			free(cp);
		return (idkey_fail(buf, sz, IDKEY_ESPACE));
	}
	memcpy(buf, cp, (size_t)out);
	buf[out] = '\0';
	if (cp != stack)
		free(cp);
	return ((ssize_t)out);
}

char *
idkey_dup(const char *s, int *rc)
{
	utf8proc_uint8_t	*out;
	utf8proc_ssize_t	 n;
	char			*k, tmp[4 * 1024];
	size_t			 len;

	if (rc != NULL)
		*rc = 0;
	len = strlen(s);
	/* Case folding at most triples a code point's UTF-8 length. */
	if (len < 1024) {
		if ((n = idkey_buf(s, len, tmp, sizeof(tmp))) >= 0) {
			if ((k = strdup(tmp)) == NULL && rc != NULL)
				*rc = IDKEY_ENOMEM;
			return (k);
		}
		if (n != IDKEY_ESPACE) {
			if (rc != NULL)
				*rc = (int)n;
			return (NULL);
		}
	}
	if (memchr(s, '\0', len) != NULL) {
		if (rc != NULL)
			*rc = IDKEY_EINVAL;
		return (NULL);
	}
	n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
	    &out, IDKEY_OPTS);
	if (n < 0) {
		if (rc != NULL)
			*rc = n == UTF8PROC_ERROR_NOMEM ? IDKEY_ENOMEM :
			    IDKEY_EINVAL;
		return (NULL);
	}
	return ((char *)out);
}

/* White space, or a character that shows nothing, at a name's edge. */
static int
invisible(utf8proc_int32_t c)
{
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_ZS:
	case UTF8PROC_CATEGORY_ZL:
	case UTF8PROC_CATEGORY_ZP:
	case UTF8PROC_CATEGORY_CF:
		return (1);
	default:
		return ((c >= 0x09 && c <= 0x0d) || c == 0x85);
	}
}

int
idkey_edge_space(const char *s, size_t len)
{
	utf8proc_int32_t	c, last;
	utf8proc_ssize_t	n;
	size_t			i;

	last = -1;
	for (i = 0; i < len; i += (size_t)n) {
		n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
		    (utf8proc_ssize_t)(len - i), &c);
		if (n <= 0)
			return (0);
		if (i == 0 && invisible(c))
			return (1);
		last = c;
	}
	return (last != -1 && invisible(last));
}

const char *
idkey_strerror(ssize_t rc)
{
	switch (rc) {
	case IDKEY_EINVAL:
		return ("is not valid UTF-8");
	case IDKEY_ESPACE:
		return ("is too long");
	case IDKEY_ENOMEM:
		return ("cannot be compared (out of memory)");
	default:
		return ("is fine");
	}
}
