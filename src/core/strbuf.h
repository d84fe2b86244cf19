/*
 * A growable text buffer for building strings with printf-style
 * appends (filter text, SQL text).
 *
 * Contract: zero-initialise a struct strbuf (= { 0 }) before use.  An
 * allocation failure sets oom; later appends do nothing, so a caller
 * checks oom once, at the end.  s is NUL-terminated whenever it is not
 * NULL.  The caller owns s: it frees it, or takes it and frees it later.
 */
#ifndef RC_STRBUF_H
#define RC_STRBUF_H

#include <stddef.h>

struct strbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

void	strbuf_printf(struct strbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
