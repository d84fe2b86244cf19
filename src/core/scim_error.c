/*
 * scim_error: filling struct scim_err and turning it into the RFC 7644
 * section 3.12 Error resource.  Kept tiny so every core module can use it
 * without pulling anything else in.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "scim_error.h"

static size_t	scim_err_utf8_clean(const char *, char *, size_t);

void
scim_err_init(struct scim_err *err)
{
	if (err == NULL)
		return;
	err->status = 0;
	err->scim_type = NULL;
	err->detail[0] = '\0';
}

int
scim_err_set(struct scim_err *err, int status, const char *scim_type,
    const char *fmt, ...)
{
	va_list		ap;

	if (err == NULL)
		return (-1);

	err->status = status;
	err->scim_type = scim_type;
	va_start(ap, fmt);
	(void)vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);

	return (-1);
}

json_t *
scim_error_json(const struct scim_err *err)
{
	json_t		*body, *schemas;
	char		 status[16], clean[SCIM_ERR_DETAIL_MAX];
	size_t		 len;
	int		 code;

	code = (err != NULL && err->status >= 100 && err->status <= 599) ?
	    err->status : 500;
	(void)snprintf(status, sizeof(status), "%d", code);

	if ((body = json_object()) == NULL)
		return (NULL);
	if ((schemas = json_array()) == NULL)
		goto fail;
	if (json_object_set_new(body, "schemas", schemas) == -1)
		goto fail;
	if (json_array_append_new(schemas, json_string(SCIM_ERROR_URN)) == -1)
		goto fail;
	if (json_object_set_new(body, "status", json_string(status)) == -1)
		goto fail;

	if (err != NULL && err->scim_type != NULL) {
		if (json_object_set_new(body, "scimType",
		    json_string(err->scim_type)) == -1)
			goto fail;
	}
	if (err != NULL && err->detail[0] != '\0') {
		/*
		 * The detail may quote client bytes or be cut mid-sequence
		 * by vsnprintf(); json_string() would refuse either.
		 */
		len = scim_err_utf8_clean(err->detail, clean, sizeof(clean));
		if (json_object_set_new(body, "detail",
		    json_stringn(clean, len)) == -1)
			goto fail;
	}

	return (body);

fail:
	json_decref(body);
	return (NULL);
}

/* Copy src, replacing every byte that is not valid UTF-8 with '?'. */
static size_t
scim_err_utf8_clean(const char *src, char *dst, size_t dlen)
{
	const unsigned char	*s = (const unsigned char *)src;
	size_t			 i, o, n, k, slen;
	unsigned int		 cp;

	slen = strnlen(src, dlen - 1);
	for (i = 0, o = 0; i < slen;) {
		if (s[i] < 0x80) {
			dst[o++] = (char)s[i++];
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
		} else {
			dst[o++] = '?';
			i++;
			continue;
		}
		for (k = 1; k <= n; k++) {
			if (i + k >= slen || (s[i + k] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (k <= n || (n == 1 && cp < 0x80) ||
		    (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, s + i, n + 1);
		o += n + 1;
		i += n + 1;
	}
	dst[o] = '\0';
	return (o);
}
