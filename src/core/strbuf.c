/*
 * Growable text buffer: printf-style appends, doubling capacity.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "strbuf.h"

void
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list		 ap;
	int		 n;
	size_t		 need, ncap;
	char		*ns;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	need = b->len + (size_t)n + 1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 128;
		while (ncap < need)
			ncap *= 2;
		if ((ns = realloc(b->s, ncap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	va_start(ap, fmt);
	(void)vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
