/*
 * sse: see sse.h.  Positions travel base64url-encoded so that clients
 * treat them as opaque (and we may change what they hold); decoding is
 * strict, because a cursor a client made up must be a 400, not a
 * position somewhere in the feed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "util.h"

#define SSE_FIELD_MAX	256
#define SSE_POS_MAX	32	/* "<int64>.<int32>" fits in 31 bytes */

static int	parse_dec(const char *, size_t, int64_t, int64_t *);
static int	buf_put(struct sse_buf *, const char *, size_t);
static int	field_ok(const char *);
static int	buf_line(struct sse_buf *, const char *, const char *,
		    size_t);

/* Strict decimal in [0, max]: digits only, no leading zeros. */
static int
parse_dec(const char *s, size_t n, int64_t max, int64_t *out)
{
	int64_t	v;
	size_t	i;

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return (-1);
	v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		if (v > (max - (s[i] - '0')) / 10)
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return (0);
}

int
sse_cursor_encode(const struct sse_cursor *c, char *out, size_t size)
{
	char	pos[SSE_POS_MAX];
	size_t	n;
	int	len;

	if (c->version < 0 || c->idx < 0)
		return (-1);
	len = snprintf(pos, sizeof(pos), "%lld.%ld", (long long)c->version,
	    (long)c->idx);
	if (len < 0 || (size_t)len >= sizeof(pos))
		return (-1);
	n = (size_t)len;
	if (size < rc_b64url_len(n) + 1)
		return (-1);
	rc_b64url_encode((const unsigned char *)pos, n, out);
	return (0);
}

int
sse_cursor_decode(const char *text, struct sse_cursor *c)
{
	char		 pos[SSE_POS_MAX];
	const char	*dot;
	size_t		 n, len;
	int64_t		 v, i;

	if (text == NULL || (n = strlen(text)) == 0 || n >= SSE_CURSOR_MAX)
		return (-1);
	if (rc_b64url_decode(text, n, (unsigned char *)pos, sizeof(pos) - 1,
	    &len) == -1)
		return (-1);
	pos[len] = '\0';
	if (memchr(pos, '\0', len) != NULL ||
	    (dot = strchr(pos, '.')) == NULL)
		return (-1);
	if (parse_dec(pos, (size_t)(dot - pos), INT64_MAX, &v) == -1 ||
	    parse_dec(dot + 1, len - (size_t)(dot - pos) - 1, INT32_MAX,
	    &i) == -1)
		return (-1);
	c->version = v;
	c->idx = (int32_t)i;
	return (0);
}

int
sse_cursor_cmp(const struct sse_cursor *a, const struct sse_cursor *b)
{
	if (a->version != b->version)
		return (a->version < b->version ? -1 : 1);
	if (a->idx != b->idx)
		return (a->idx < b->idx ? -1 : 1);
	return (0);
}

void
sse_buf_init(struct sse_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
sse_buf_free(struct sse_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int
buf_put(struct sse_buf *b, const char *s, size_t n)
{
	size_t	 cap;
	char	*p;

	if (n > SIZE_MAX / 2 - b->len - 1)
		return (-1);
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL)
			return (-1);
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return (0);
}

static int
field_ok(const char *s)
{
	return (s == NULL || (strlen(s) <= SSE_FIELD_MAX &&
	    strpbrk(s, "\r\n") == NULL));
}

/* Appends "name: value\n"; name NULL appends only the value. */
static int
buf_line(struct sse_buf *b, const char *name, const char *val, size_t n)
{
	if (name != NULL && (buf_put(b, name, strlen(name)) == -1 ||
	    buf_put(b, ": ", 2) == -1))
		return (-1);
	if (buf_put(b, val, n) == -1 || buf_put(b, "\n", 1) == -1)
		return (-1);
	return (0);
}

int
sse_event(struct sse_buf *b, const char *id, const char *event,
    const char *data)
{
	const char	*p, *eol;
	size_t		 mark, n;

	if (!field_ok(id) || !field_ok(event))
		return (-1);
	mark = b->len;
	if (id != NULL && buf_line(b, "id", id, strlen(id)) == -1)
		goto fail;
	if (event != NULL && buf_line(b, "event", event, strlen(event)) == -1)
		goto fail;
	p = data ? data : "";
	for (;;) {
		n = strcspn(p, "\r\n");
		eol = p + n;
		if (buf_line(b, "data", p, n) == -1)
			goto fail;
		if (*eol == '\0')
			break;
		p = eol + ((eol[0] == '\r' && eol[1] == '\n') ? 2 : 1);
	}
	if (buf_put(b, "\n", 1) == -1)
		goto fail;
	return (0);

fail:
	b->len = mark;
	if (b->data != NULL)
		b->data[mark] = '\0';
	return (-1);
}

int
sse_comment(struct sse_buf *b, const char *text)
{
	size_t	mark;

	if (text == NULL || strpbrk(text, "\r\n") != NULL)
		return (-1);
	mark = b->len;
	if (buf_put(b, ": ", 2) == -1 ||
	    buf_put(b, text, strlen(text)) == -1 ||
	    buf_put(b, "\n\n", 2) == -1) {
		b->len = mark;
		if (b->data != NULL)
			b->data[mark] = '\0';
		return (-1);
	}
	return (0);
}

int
sse_retry(struct sse_buf *b, unsigned int ms)
{
	char	line[32];
	int	n;

	n = snprintf(line, sizeof(line), "retry: %u\n\n", ms);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (-1);
	return (buf_put(b, line, (size_t)n));
}
