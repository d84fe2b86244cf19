/*
 * util: small helpers every module needs: bounded string copy, clocks,
 * hex and base64url encoding (the only base64url codec), random bytes.
 * Pure C (libcrypto for randomness), no Kore.  Constant-time comparison
 * is OpenSSL's CRYPTO_memcmp.
 */
#ifndef RC_UTIL_H
#define RC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Copies src into dst (size bytes), always NUL-terminates; returns strlen(src). */
size_t		 rc_strlcpy(char *dst, const char *src, size_t size);

/* Wall clock in milliseconds since the epoch. */
uint64_t	 rc_now_ms(void);

/* Monotonic clock in microseconds, for durations. */
uint64_t	 rc_mono_us(void);

/* Writes 2 * n hex digits and a NUL into out (2 * n + 1 bytes). */
void		 rc_hex_encode(const unsigned char *in, size_t n, char *out);

/*
 * Base64url without padding.  out must hold rc_b64url_len(n) + 1 bytes.
 */
size_t		 rc_b64url_len(size_t n);
void		 rc_b64url_encode(const unsigned char *in, size_t n, char *out);

/*
 * Strict base64url without padding: decodes the n characters at in into
 * out (size bytes) and sets *outlen.  Only the canonical encoding of a
 * byte string is accepted (no '=', no stray bits in the last character).
 * 0, or -1 on any other input or when out is too small.
 */
int		 rc_b64url_decode(const char *in, size_t n, unsigned char *out,
		    size_t size, size_t *outlen);

/* Fills buf with n cryptographically random bytes; -1 on failure. */
int		 rc_random_bytes(void *buf, size_t n);

/* Writes a random RFC 4122 version 4 UUID (37 bytes with NUL); -1 on failure. */
int		 rc_uuid_v4(char out[37]);

/* 1 when s is a UUID in canonical 8-4-4-4-12 hex form (any case). */
int		 rc_is_uuid(const char *s);

/*
 * Formats ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-21T20:45:45.123Z") into out (at least 25 bytes).
 */
void		 rc_time_format(uint64_t ms, char *out, size_t size);

/*
 * How many of the len bytes at p to write in one piece of at most max
 * bytes (max > 0): the longest run of whole lines that fits, or the
 * first line alone when it is longer than max (it cannot be split
 * without breaking it), or all of it when there is no newline.
 */
size_t		 rc_lines_prefix(const char *p, size_t len, size_t max);

/* The value of one hex digit, or -1. */
int		 rc_hexval(int c);

/* Parses a decimal integer in [min, max]; 0 on success, -1 otherwise. */
int		 rc_parse_int(const char *s, long long min, long long max,
		    long long *out);

#endif
