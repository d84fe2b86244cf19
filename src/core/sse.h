/*
 * sse: the gateway feeds' positions and the Server-Sent Events wire
 * format.
 *
 * Every revocation event and every policy change has a position
 * (version, idx): revocation events use their row's (policy_version,
 * idx); the policy change event of version v sorts after all of v's
 * revocations, at (v, SSE_IDX_END).  Clients see a position only as an
 * opaque cursor: base64url (no padding) of "<version>.<idx>" in decimal,
 * the same text in /v1/revocations' next_cursor and in an SSE "id:".
 *
 * Events follow the WHATWG HTML "Server-sent events" framing: "id:",
 * "event:" and one "data:" line per line of the payload, ended by an
 * empty line.  Pure C, no Kore.
 */
#ifndef RC_SSE_H
#define RC_SSE_H

#include <stddef.h>
#include <stdint.h>

#define SSE_IDX_END		INT32_MAX	/* after everything of a version */
#define SSE_CURSOR_MAX		48		/* encoded text, with the NUL */

struct sse_cursor {
	int64_t		version;		/* >= 0 */
	int32_t		idx;			/* >= 0 */
};

/* A growable output buffer; malloc'd, released with sse_buf_free(). */
struct sse_buf {
	char		*data;
	size_t		 len;
	size_t		 cap;
};

/* Writes c as an opaque cursor into out (size bytes); 0, or -1 if c is
 * negative or out too small (SSE_CURSOR_MAX always fits). */
int	sse_cursor_encode(const struct sse_cursor *c, char *out, size_t size);

/* Parses a cursor written by sse_cursor_encode(); 0, or -1 when text is
 * malformed, over-long or out of range (c is then unchanged). */
int	sse_cursor_decode(const char *text, struct sse_cursor *c);

/* <0, 0 or >0 as a sorts before, with or after b. */
int	sse_cursor_cmp(const struct sse_cursor *a, const struct sse_cursor *b);

void	sse_buf_init(struct sse_buf *);
void	sse_buf_free(struct sse_buf *);

/*
 * Appends one event.  id and event may be NULL (left out) but must not
 * hold CR, LF or be longer than 256 bytes; data (NULL: empty) is split
 * at CRLF, CR and LF into data lines.  0, or -1 on a bad field or no
 * memory (buf is then unchanged).
 */
int	sse_event(struct sse_buf *, const char *id, const char *event,
	    const char *data);

/* Appends a comment line (": text"), e.g. a heartbeat; text must not
 * hold CR or LF.  0 or -1. */
int	sse_comment(struct sse_buf *, const char *text);

/* Appends a "retry:" field (reconnection delay in ms).  0 or -1. */
int	sse_retry(struct sse_buf *, unsigned int ms);

#endif
