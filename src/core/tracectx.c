/*
 * tracectx: W3C traceparent parsing (see tracectx.h).
 */
#include <stdio.h>
#include <string.h>

#include "tracectx.h"

/* 1 when the n bytes at s are lowercase hex and not all '0'. */
static int
hex_field(const char *s, size_t n, int *nonzero)
{
	size_t	i;

	*nonzero = 0;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
		if (s[i] != '0')
			*nonzero = 1;
	}
	return (1);
}

static unsigned
hex_byte(const char *s)
{
	unsigned	hi, lo;

	hi = (unsigned)(s[0] <= '9' ? s[0] - '0' : s[0] - 'a' + 10);
	lo = (unsigned)(s[1] <= '9' ? s[1] - '0' : s[1] - 'a' + 10);
	return (hi << 4 | lo);
}

int
tracectx_parse(const char *v, size_t len, struct tracectx *tc)
{
	int	nz;

	memset(tc, 0, sizeof(*tc));
	/* Surrounding optional whitespace is allowed in header values. */
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len < TRACECTX_HEADER_LEN)
		return (-1);
	if (!hex_field(v, 2, &nz) || strncmp(v, "ff", 2) == 0)
		return (-1);
	if (strncmp(v, "00", 2) == 0 ? len != TRACECTX_HEADER_LEN :
	    len != TRACECTX_HEADER_LEN && v[TRACECTX_HEADER_LEN] != '-')
		return (-1);
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return (-1);
	if (!hex_field(v + 3, 32, &nz) || !nz)
		return (-1);
	if (!hex_field(v + 36, 16, &nz) || !nz)
		return (-1);
	if (!hex_field(v + 53, 2, &nz))
		return (-1);
	memcpy(tc->trace_id, v + 3, 32);
	memcpy(tc->parent_id, v + 36, 16);
	tc->flags = hex_byte(v + 53);
	return (0);
}

void
tracectx_format(const struct tracectx *tc, char *out, size_t size)
{
	(void)snprintf(out, size, "00-%s-%s-%02x", tc->trace_id,
	    tc->parent_id, tc->flags & 0xff);
}

void
tracectx_child(const struct tracectx *tc, uint64_t span,
    struct tracectx *out)
{
	*out = *tc;
	(void)snprintf(out->parent_id, sizeof(out->parent_id), "%016llx",
	    (unsigned long long)(span != 0 ? span : 1));
}
