/*
 * stream.c: open-ended response bodies; the contract and the choice of
 * framings are in stream.h.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "svc.h"
#include "util.h"

/* The chunk size line: 8 hex digits, so it can be filled in last. */
#define CHUNK_HEAD	"00000000\r\n"
#define CHUNK_HEAD_LEN	10
#define CHUNK_BUF	(64 * 1024)

/* Set while a "sent" callback runs: Kore's send loop flushes then. */
static int	in_send_loop;

static size_t	queued_bytes(struct connection *);
static int	close_write(struct svc_stream *, const void *, size_t);
static int	chunk_sent(struct netbuf *);
static void	chunk_disconnect(struct connection *);
static void	chunk_detach(struct svc_stream *);

int
svc_stream_gone(struct http_request *req)
{
	return (req->owner == NULL ||
	    req->owner->state == CONN_STATE_DISCONNECTING);
}

int
svc_stream_open(struct svc_stream *st, struct http_request *req,
    const char *ctype, const char *const *headers)
{
	struct kore_buf		*head;
	struct connection	*c;
	size_t			 i;
	int			 rc;

	st->req = req;
	if (st->framing == SVC_STREAM_CLOSE) {
		/* The head by hand: the request stays in flight (stream.h). */
		head = kore_buf_alloc(512);
		kore_buf_appendf(head, "HTTP/1.%c 200 OK\r\n"
		    "server: rollcall\r\n"
		    "content-type: %s\r\n"
		    "cache-control: no-store\r\n",
		    (req->flags & HTTP_VERSION_1_0) ? '0' : '1', ctype);
		for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
			kore_buf_appendf(head, "%s: %s\r\n", headers[i],
			    headers[i + 1]);
		kore_buf_appendf(head, "x-request-id: %s\r\n"
		    "connection: close\r\n\r\n", svc_ctx(req)->request_id);
		rc = close_write(st, head->data, head->offset);
		kore_buf_free(head);
		if (rc == -1)
			return (-1);
		return (svc_stream_flush(st));
	}

	/* CHUNKED: Kore writes the head, then we own the connection. */
	c = req->owner;
	st->c = c;
	st->piece = kore_buf_alloc(CHUNK_BUF);
	req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
	http_response_header(req, "transfer-encoding", "chunked");
	for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
		http_response_header(req, headers[i], headers[i + 1]);
	c->flags |= CONN_IS_BUSY;
	c->hdlr_extra = st;
	c->disconnect = chunk_disconnect;
	svc_respond_raw(req, HTTP_STATUS_OK, ctype, NULL, 0);
	st->req = NULL;		/* answered: Kore frees it */
	return (0);
}

static size_t
queued_bytes(struct connection *c)
{
	struct netbuf	*nb;
	size_t		 n;

	n = 0;
	TAILQ_FOREACH(nb, &c->send_queue, list)
		n += nb->b_len - nb->s_off;
	return (n);
}

/* Queues on a CLOSE stream's connection; -1 when gone or dropped. */
static int
close_write(struct svc_stream *st, const void *data, size_t len)
{
	struct connection	*c;

	c = st->req->owner;
	if (svc_stream_gone(st->req))
		return (-1);
	if (st->queue_max != 0 && queued_bytes(c) + len > st->queue_max) {
		svc_log(SVC_LOG_WARN, "stream: client does not read; "
		    "dropping it");
		kore_connection_disconnect(c);
		return (-1);
	}
	net_send_queue(c, data, len);
	return (0);
}

int
svc_stream_write(struct svc_stream *st, const void *data, size_t len)
{
	if (st->framing == SVC_STREAM_CLOSE)
		return (close_write(st, data, len));
	if (st->piece->offset == 0)
		kore_buf_append(st->piece, CHUNK_HEAD, CHUNK_HEAD_LEN);
	kore_buf_append(st->piece, data, len);
	return (0);
}

int
svc_stream_flush(struct svc_stream *st)
{
	struct connection	*c;
	struct netbuf		*nb;

	if (st->framing == SVC_STREAM_CLOSE) {
		if (svc_stream_gone(st->req))
			return (-1);
		c = st->req->owner;
		if (net_send_flush(c) == KORE_RESULT_ERROR) {
			kore_connection_disconnect(c);
			return (-1);
		}
		st->last_write_ms = rc_now_ms();
		return (0);
	}

	if (st->c == NULL)
		return (-1);
	if (st->piece->offset == 0)
		return (1);
	(void)snprintf((char *)st->piece->data, 9, "%08zx",
	    st->piece->offset - CHUNK_HEAD_LEN);
	st->piece->data[8] = '\r';
	kore_buf_append(st->piece, "\r\n", 2);
	c = st->c;
	net_send_stream(c, st->piece->data, st->piece->offset, chunk_sent,
	    &nb);
	nb->extra = st;
	/* The flush may send the chunk, and "sent" may end (free) st. */
	if (!net_send_flush(c))
		kore_connection_disconnect(c);
	return (0);
}

/* A chunk has left (or the connection is being torn down). */
static int
chunk_sent(struct netbuf *nb)
{
	struct svc_stream	*st = nb->extra;

	if (st->c != NULL)
		kore_buf_reset(st->piece);
	/* st may be freed by the callback: not touched again. */
	in_send_loop = 1;
	st->sent(st);
	in_send_loop = 0;
	return (KORE_RESULT_OK);
}

/* Gives the connection back to Kore's HTTP layer. */
static void
chunk_detach(struct svc_stream *st)
{
	struct connection	*c = st->c;

	c->hdlr_extra = NULL;
	c->disconnect = NULL;
	c->flags &= ~CONN_IS_BUSY;
	kore_buf_free(st->piece);
	st->piece = NULL;
}

static void
chunk_disconnect(struct connection *c)
{
	struct svc_stream	*st = c->hdlr_extra;

	/* Kore would kore_free() hdlr_extra; the owner frees the state. */
	c->hdlr_extra = NULL;
	if (st != NULL) {
		st->c = NULL;
		st->gone(st);
	}
}

void
svc_stream_end(struct svc_stream *st, int complete)
{
	struct connection	*c;

	if (st->framing == SVC_STREAM_CLOSE) {
		if ((c = st->req->owner) == NULL)
			return;
		if (!complete) {
			kore_connection_disconnect(c);
			return;
		}
		c->flags |= CONN_CLOSE_EMPTY;
		(void)net_send_flush(c);
		return;
	}

	if ((c = st->c) == NULL) {
		kore_buf_free(st->piece);
		st->piece = NULL;
		return;
	}
	chunk_detach(st);
	if (!complete) {
		kore_connection_disconnect(c);
		return;
	}
	net_send_queue(c, "0\r\n\r\n", 5);
	http_start_recv(c);
	/* Inside Kore's send loop, it flushes on its own. */
	if (!in_send_loop && !net_send_flush(c))
		kore_connection_disconnect(c);
}
