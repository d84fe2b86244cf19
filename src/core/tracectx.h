/*
 * tracectx: W3C Trace Context (https://www.w3.org/TR/trace-context/)
 * "traceparent" header parsing, so request logs and decision logs carry
 * the caller's trace id.  Pure C.
 *
 * A header that does not parse is ignored as if absent, as the
 * recommendation asks: a request without a valid traceparent gets none
 * invented.  Version 00 must be exactly 55 characters; a later version
 * is read by its version 00 prefix when what follows is "-" (forward
 * compatibility), and version ff is invalid.  Hex must be lowercase;
 * an all-zero trace id or parent id is invalid.
 */
#ifndef RC_TRACECTX_H
#define RC_TRACECTX_H

#include <stddef.h>
#include <stdint.h>

#define TRACECTX_HEADER_LEN	55

struct tracectx {
	char	trace_id[33];		/* 32 lowercase hex digits */
	char	parent_id[17];		/* 16 lowercase hex digits */
	unsigned flags;			/* bit 0: sampled */
};

/*
 * Parses the header value v (len bytes, not NUL-terminated).  0 and tc
 * filled, or -1 (tc zeroed) when the value is not a valid traceparent.
 */
int	tracectx_parse(const char *v, size_t len, struct tracectx *tc);

/*
 * Writes the version 00 header for tc into out (at least
 * TRACECTX_HEADER_LEN + 1 bytes).
 */
void	tracectx_format(const struct tracectx *tc, char *out, size_t size);

/*
 * The context of our own operation inside the caller's trace: tc with
 * its parent id replaced by span (16 hex digits of it; 0 is not a valid
 * id and becomes 1).  Trace id and flags are kept.  Its format is the
 * value of a "traceresponse" header (Trace Context Level 2).
 */
void	tracectx_child(const struct tracectx *tc, uint64_t span,
	    struct tracectx *out);

#endif
