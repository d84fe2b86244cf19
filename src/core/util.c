/*
 * util: see util.h.  Kept free of any framework so every other core
 * module, the CLI and the tests can use it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "util.h"

size_t
rc_strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len;

	len = strlen(src);
	if (size > 0) {
		if (len < size) {
			memcpy(dst, src, len + 1);
		} else {
			memcpy(dst, src, size - 1);
			dst[size - 1] = '\0';
		}
	}

	return (len);
}

uint64_t
rc_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
rc_mono_us(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

void
rc_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

size_t
rc_b64url_len(size_t n)
{
	return ((n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0));
}

void
rc_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	static const char	alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			i, o;
	uint32_t		v;

	for (i = 0, o = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[(v >> 18) & 0x3f];
		out[o++] = alphabet[(v >> 12) & 0x3f];
		out[o++] = alphabet[(v >> 6) & 0x3f];
		out[o++] = alphabet[v & 0x3f];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[(v >> 18) & 0x3f];
		out[o++] = alphabet[(v >> 12) & 0x3f];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[(v >> 18) & 0x3f];
		out[o++] = alphabet[(v >> 12) & 0x3f];
		out[o++] = alphabet[(v >> 6) & 0x3f];
	}
	out[o] = '\0';
}

int
rc_random_bytes(void *buf, size_t n)
{
	if (n > 0x7fffffff)
		return (-1);
	return (RAND_bytes(buf, (int)n) == 1 ? 0 : -1);
}

int
rc_uuid_v4(char out[37])
{
	unsigned char	b[16];
	char		hex[33];

	if (rc_random_bytes(b, sizeof(b)) == -1)
		return (-1);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	rc_hex_encode(b, sizeof(b), hex);
	(void)snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s",
	    hex, hex + 8, hex + 12, hex + 16, hex + 20);

	return (0);
}

int
rc_is_uuid(const char *s)
{
	int	i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!isxdigit((unsigned char)s[i])) {
			return (0);
		}
	}

	return (s[36] == '\0');
}

void
rc_time_format(uint64_t ms, char *out, size_t size)
{
	/* Log lines ask for this per line: the date part is per second. */
	static __thread time_t	cached_secs = (time_t)-1;
	static __thread char	cached[24];
	struct tm		tm;
	time_t			secs;
	unsigned		frac;
	size_t			len;
	char			text[32];

	secs = (time_t)(ms / 1000);
	frac = (unsigned)(ms % 1000);
	if (secs != cached_secs) {
		cached_secs = (time_t)-1;
		if (gmtime_r(&secs, &tm) == NULL || strftime(cached,
		    sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
			rc_strlcpy(out, "1970-01-01T00:00:00.000Z", size);
			return;
		}
		cached_secs = secs;
	}
	len = strlen(cached);		/* 19 until the year 9999 */
	memcpy(text, cached, len);
	text[len] = '.';
	text[len + 1] = (char)('0' + frac / 100);
	text[len + 2] = (char)('0' + frac / 10 % 10);
	text[len + 3] = (char)('0' + frac % 10);
	text[len + 4] = 'Z';
	text[len + 5] = '\0';
	rc_strlcpy(out, text, size);
}

size_t
rc_lines_prefix(const char *p, size_t len, size_t max)
{
	const char	*nl;

	if (len <= max)
		return (len);
	if ((nl = memrchr(p, '\n', max)) == NULL)
		nl = memchr(p + max, '\n', len - max);
	return (nl != NULL ? (size_t)(nl - p) + 1 : len);
}

int
rc_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

int
rc_parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;

	return (0);
}

static int
b64url_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

int
rc_b64url_decode(const char *in, size_t n, unsigned char *out, size_t size,
    size_t *outlen)
{
	size_t		 i, o;
	uint32_t	 v;
	int		 d, bits;

	if (n % 4 == 1)
		return (-1);
	v = 0;
	bits = 0;
	o = 0;
	for (i = 0; i < n; i++) {
		if ((d = b64url_val((unsigned char)in[i])) == -1)
			return (-1);
		v = (v << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == size)
				return (-1);
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (v != 0)
		return (-1);
	*outlen = o;

	return (0);
}
