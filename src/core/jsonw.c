/*
 * jsonw: see jsonw.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static int	reserve(struct jsonw *, size_t);
static size_t	utf8_len(const unsigned char *);

void
jsonw_init(struct jsonw *w, size_t hint)
{
	w->len = 0;
	w->failed = 0;
	w->cap = hint < 64 ? 64 : hint;
	if ((w->buf = malloc(w->cap)) == NULL) {
		w->cap = 0;
		w->failed = 1;
	}
}

void
jsonw_cleanup(struct jsonw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static int
reserve(struct jsonw *w, size_t more)
{
	size_t	 cap;
	char	*p;

	if (w->failed)
		return (-1);
	if (w->len + more + 1 <= w->cap)
		return (0);
	cap = w->cap ? w->cap : 64;
	while (cap < w->len + more + 1)
		cap *= 2;
	if ((p = realloc(w->buf, cap)) == NULL) {
		w->failed = 1;
		return (-1);
	}
	w->buf = p;
	w->cap = cap;

	return (0);
}

void
jsonw_raw(struct jsonw *w, const char *s)
{
	size_t	n;

	n = strlen(s);
	if (reserve(w, n) == -1)
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t	n, i;
	unsigned int cp;

	if (p[0] < 0x80)
		return (1);
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return (0);
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and out-of-range code points. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return (0);

	return (n);
}

void
jsonw_str(struct jsonw *w, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;
	size_t			 n;

	if (s == NULL) {
		jsonw_raw(w, "null");
		return;
	}
	/* Worst case: every byte becomes a 6-byte escape. */
	if (reserve(w, strlen(s) * 6 + 2) == -1)
		return;
	w->buf[w->len++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; ) {
		/* Plain ASCII, the common case, byte by byte. */
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			w->buf[w->len++] = (char)*p++;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			w->buf[w->len++] = '\\';
			w->buf[w->len++] = (char)*p++;
		} else if (*p < 0x20) {
			w->buf[w->len++] = '\\';
			w->buf[w->len++] = 'u';
			w->buf[w->len++] = '0';
			w->buf[w->len++] = '0';
			w->buf[w->len++] = hex[*p >> 4];
			w->buf[w->len++] = hex[*p & 0x0f];
			p++;
		} else if ((n = utf8_len(p)) == 0) {
			/* U+FFFD for a byte that is not UTF-8. */
			memcpy(w->buf + w->len, "\\ufffd", 6);
			w->len += 6;
			p++;
		} else {
			memcpy(w->buf + w->len, p, n);
			w->len += n;
			p += n;
		}
	}
	w->buf[w->len++] = '"';
	w->buf[w->len] = '\0';
}

void
jsonw_int(struct jsonw *w, int64_t v)
{
	char		 num[24], *e;
	uint64_t	 u;

	/* Per log line and batch item: digits by hand, not printf. */
	e = num + sizeof(num);
	*--e = '\0';
	u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--e = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--e = '-';
	jsonw_raw(w, e);
}

void
jsonw_bool(struct jsonw *w, int v)
{
	jsonw_raw(w, v ? "true" : "false");
}
