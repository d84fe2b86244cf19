/*
 * jsonw: a small append-only JSON text writer for hot paths whose
 * answers have a fixed shape (a batch of 1,000 decisions), where
 * building a jansson tree only to serialise it costs more than the
 * decisions themselves.  Strings are escaped per RFC 8259; anything
 * that is not valid UTF-8 is replaced, so output is always valid JSON.
 */
#ifndef RC_JSONW_H
#define RC_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int	 failed;		/* an allocation failed */
};

/* Starts an empty writer with room for hint bytes. */
void	jsonw_init(struct jsonw *, size_t hint);

/* Frees the buffer. */
void	jsonw_cleanup(struct jsonw *);

/* Appends bytes as they are (punctuation, keys known to be safe). */
void	jsonw_raw(struct jsonw *, const char *s);

/* Appends s as a quoted, escaped JSON string (NULL: null). */
void	jsonw_str(struct jsonw *, const char *s);

/* Appends a decimal integer. */
void	jsonw_int(struct jsonw *, int64_t v);

/* Appends "true" or "false". */
void	jsonw_bool(struct jsonw *, int v);

#endif
