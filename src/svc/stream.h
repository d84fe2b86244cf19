/*
 * stream.h: the one writer of open-ended response bodies (stream.c):
 * the Server-Sent Events of GET /v1/stream (http_feeds.c) and the JSON
 * lines of GET /admin/v1/audit/export (http_admin_audit.c).  Kore 4.1
 * answers a request with one http_response() of known length; a body
 * that is written piece by piece, for as long as it lasts, goes through
 * here: open, write pieces, flush, end.  Nothing else in the service
 * layer calls net_send_* for a response.
 *
 * Two framings, one API.  Each user keeps the framing it had, because
 * the two bodies end differently:
 *
 *   SVC_STREAM_CLOSE    the body ends when the connection closes.  For
 *                       SSE: a stream has no natural end (it ends on
 *                       shutdown, on a failed read, or when the client
 *                       leaves), so keep-alive would buy nothing, and an
 *                       HTTP/1.0 client or a buffering proxy understands
 *                       it.  The request stays in flight for the
 *                       stream's life (it sleeps on the feeds' waiter
 *                       list and is woken like any other request), so
 *                       Kore cannot write the head: svc_stream_open
 *                       writes the status line and headers itself, with
 *                       "connection: close".  Back-pressure: a client
 *                       whose send queue would pass queue_max bytes does
 *                       not read; it is logged once and dropped.
 *   SVC_STREAM_CHUNKED  HTTP/1.1 chunked.  For the export: it does end,
 *                       and the terminating chunk tells a complete export
 *                       from a cut one (a failure closes the connection
 *                       without it); the connection is then kept.  The
 *                       request is answered at open (Kore writes the
 *                       head) and the stream takes the connection over.
 *                       Back-pressure: one chunk in flight at a time;
 *                       "sent" is called once it has left the socket,
 *                       and only then may the next be written, so the
 *                       writer never holds more than one piece.
 *
 * Client gone: svc_stream_gone() is true once the connection is closing
 * or closed.  A CLOSE stream learns it from a failed write (Kore frees
 * the request itself; the request's state hooks clean up).  A CHUNKED
 * stream is told through "gone" (the connection's disconnect hook; the
 * stream's c is then NULL); the chunk in flight is still released
 * through "sent", so the owner frees its state in "sent" (or wherever
 * it is next called) when svc_stream_gone() says so.
 *
 * Ownership: the owner allocates struct svc_stream (usually inside its
 * own state) and keeps it alive until svc_stream_end() returned, or,
 * for a CHUNKED stream whose client left, until "sent" was called for
 * the last chunk.  The stream owns its piece buffer; svc_stream_end()
 * frees it.  All calls are on the worker's event loop.
 */
#ifndef RC_STREAM_H
#define RC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

enum svc_stream_framing {
	SVC_STREAM_CLOSE,
	SVC_STREAM_CHUNKED
};

struct svc_stream {
	enum svc_stream_framing	 framing;
	struct http_request	*req;		/* CLOSE: the live request */
	struct connection	*c;		/* CHUNKED: NULL once gone */
	size_t			 queue_max;	/* CLOSE: 0 is unbounded */
	struct kore_buf		*piece;		/* CHUNKED: the chunk */
	uint64_t		 last_write_ms;	/* CLOSE: last flush */
	/* CHUNKED: the chunk left (or was dropped with the connection). */
	void			(*sent)(struct svc_stream *);
	/* CHUNKED: the client left; the owner stops producing. */
	void			(*gone)(struct svc_stream *);
	void			*arg;		/* the owner's, for callbacks */
};

/*
 * Starts a 200 response with content type ctype and the extra headers
 * (name, value pairs ending with NULL; may be NULL).  The caller has
 * set framing, and for CLOSE queue_max, for CHUNKED sent, gone and arg
 * (other fields zero).  CHUNKED needs an HTTP/1.1 request whose
 * connection is not going away (the caller checks svc_stream_gone()
 * and answers otherwise).  0, or -1 when the head could not be built
 * or written (CLOSE; the connection is then dropped).
 */
int	svc_stream_open(struct svc_stream *, struct http_request *,
	    const char *ctype, const char *const *headers);

/* 1 when the request's connection is closing or closed. */
int	svc_stream_gone(struct http_request *);

/*
 * Appends len bytes to the body.  CLOSE queues them on the connection
 * (-1: the client is gone, or does not read and has been dropped);
 * CHUNKED adds them to the chunk being built (never fails: Kore's
 * buffers abort on exhaustion).  Nothing leaves before svc_stream_flush.
 */
int	svc_stream_write(struct svc_stream *, const void *, size_t);

/*
 * Sends what was written.  CLOSE: 0, or -1 when the connection failed
 * (it is dropped).  CHUNKED: sends the pieces as one chunk and returns
 * 0; "sent" follows once it has left.  "sent" is not called when it
 * returns 1 (nothing was written, nothing sent) or -1 (the client is
 * gone).
 */
int	svc_stream_flush(struct svc_stream *);

/*
 * Ends the body.  complete: CLOSE closes once the queue has drained,
 * CHUNKED sends the terminating chunk and goes back to reading the next
 * request.  Not complete: the connection is dropped now, so the client
 * sees a cut body.  The stream is done with (its piece freed); the
 * owner may free it when this returns.
 */
void	svc_stream_end(struct svc_stream *, int complete);

#endif
